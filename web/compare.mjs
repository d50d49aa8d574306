// nano orbiting in llmviz's tour page beside the reference (Brendan Bycroft's llm-viz, `/llm`), in
// the same headed Chromium, both on SwiftShader (WebGPU for llmviz, WebGL2 through ANGLE for the
// reference), alternating, a fresh browser each: the interval between the frames each app draws
// while a right-button drag turns its view (real input events, as web/bench.mjs orbits).
//
//   xvfb-run -a node web/compare.mjs REFERENCE_URL [RUNS]
//
// REFERENCE_URL is the reference's `/llm` page served from its static export (`npx next build` in
// its checkout makes `out/`; `python3 -m http.server` there serves it with the right types), such as
// http://127.0.0.1:8091/llm.html.
// A frame of llmviz is a `getCurrentTexture` call (bench.mjs's counter); a frame of the reference
// is an animation frame in which it made a WebGL draw call (the time of its first).
import { chromium } from 'playwright-core';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serve } from './serve.mjs';
import { CHROMIUM, QUIET, WEBGPU, frameCounter, orbit, waitReady } from './bench.mjs';

function glFrameCounter() {
  const frames = [];
  window.llmvizFrames = frames;
  // The first WebGL draw call of each animation frame marks a frame drawn.
  let drawn = false;
  for (const name of ['drawArrays', 'drawElements', 'drawArraysInstanced', 'drawElementsInstanced']) {
    const original = WebGL2RenderingContext.prototype[name];
    WebGL2RenderingContext.prototype[name] = function draw(...args) {
      if (!drawn) {
        drawn = true;
        frames.push(performance.now());
      }
      return original.apply(this, args);
    };
  }
  const tick = () => {
    drawn = false;
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
}

async function run(url, counter, ready, at, extra = []) {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: false,
    args: [...QUIET, ...WEBGPU, ...extra, '--window-size=1280,800', '--force-device-scale-factor=1'],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
    await page.addInitScript(counter);
    await page.goto(url);
    await ready(page);
    return await orbit(page, 200, at);
  } finally {
    await browser.close();
  }
}

const here = dirname(fileURLToPath(import.meta.url));
const [reference, runs = '3'] = process.argv.slice(2);
const ours = await serve(join(here, 'dist'));
const fmt = ({ median: m, p95: p, frames, perStep }) =>
  `median ${m.toFixed(0)} ms, p95 ${p.toFixed(0)} ms (${frames} frames), ${perStep.toFixed(0)} ms a drag step`;
try {
  for (let i = 0; i < Number(runs); i++) {
    // llmviz as a reader first meets it: the tour page, nano in the room right of the side panel.
    const llmviz = await run(`http://127.0.0.1:${ours.address().port}/`, frameCounter, waitReady, [840, 360]);
    console.log(`llmviz:  ${fmt(llmviz)}`);
    // The reference's 3D canvas is right of its walkthrough; it is ready once it has drawn a while.
    const settle = async (page) => {
      await page.waitForFunction(() => window.llmvizFrames.length > 3, null, { timeout: 120000, polling: 200 });
      await page.waitForTimeout(3000);
    };
    const llmViz = await run(reference, glFrameCounter, settle, [896, 360], ['--use-angle=swiftshader']);
    console.log(`llm-viz: ${fmt(llmViz)}`);
  }
} finally {
  ours.close();
}
