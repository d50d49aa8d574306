// The page's figures in a real browser: Debian's Chromium, headed under Xvfb, WebGPU on SwiftShader
// (the flags web/test/browser.test.mjs uses), 1280x720 at DPR 1, a fresh profile per model. For nano
// and GPT-3 it prints one line:
//
//   nano: first frame 2.1 s, ready 4.3 s, idle 0 frames in 10 s, orbit median 55 ms, p95 80 ms, memory 53 MB
//
// - first frame: from navigation to the first frame with the model's blocks in it (the app says so
//   with `data-drawn`);
// - ready: to the scene drawn with its values and the loading panel gone (`data-state=ready`);
// - idle: frames drawn in the next 10 s with no input (counted once no frame has come for 1.5 s);
// - orbit: the interval between frames while a right-button drag turns the view, real input events;
// - memory: the JS heap in use plus the wasm's memory, after the orbit.
// A frame is a call to `GPUCanvasContext.getCurrentTexture`, which the app makes once per frame it draws.
//
//   ./web/build.sh && xvfb-run -a node web/bench.mjs          # the full figures (docs/benchmarks.md)
//   xvfb-run -a node web/bench.mjs --quick                    # a short run (web/test.sh)
//
// It serves web/dist itself (web/serve.mjs, precompressed files as a static host would send them).
import { chromium } from 'playwright-core';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serve } from './serve.mjs';

export const CHROMIUM = process.env.LLMVIZ_CHROMIUM ?? '/usr/bin/chromium';
export const QUIET = ['--no-sandbox', '--no-first-run', '--disable-background-networking', '--disable-component-update',
  '--disable-sync', '--disable-quic', '--disable-default-apps'];
export const WEBGPU = ['--enable-unsafe-webgpu', '--enable-features=Vulkan', '--use-vulkan=swiftshader',
  '--use-webgpu-adapter=swiftshader'];
const READY_MS = 240_000;

/**
 * Runs in the page before its own scripts: counts the frames the app draws (each asks the canvas
 * for its texture once) with the time of each, and notes when the page says the blocks are drawn
 * and when it is ready.
 */
export function frameCounter() {
  const frames = [];
  window.llmvizFrames = frames;
  const original = GPUCanvasContext.prototype.getCurrentTexture;
  GPUCanvasContext.prototype.getCurrentTexture = function getCurrentTexture(...args) {
    frames.push(performance.now());
    return original.apply(this, args);
  };
  new MutationObserver(() => {
    if (document.body?.dataset.drawn && window.llmvizDrawnAt === undefined) window.llmvizDrawnAt = performance.now();
    if (document.body?.dataset.state === 'ready' && window.llmvizReadyAt === undefined) window.llmvizReadyAt = performance.now();
  }).observe(document, { subtree: true, attributes: true, attributeFilter: ['data-state', 'data-drawn'] });
}

/** The number of frames drawn so far. */
export const framesDrawn = (page) => page.evaluate(() => window.llmvizFrames.length);

/** Waits until the page says it is ready, failing with what it shows instead. */
export async function waitReady(page) {
  await page.waitForFunction(() => ['ready', 'failed', 'no-webgpu'].includes(document.body.dataset.state), null,
    { timeout: READY_MS, polling: 100 });
  const state = await page.evaluate(() => `${document.body.dataset.state}: ${document.getElementById('stage').textContent}`);
  if (!state.startsWith('ready')) throw new Error(`the page ended in ${state}`);
}

/**
 * Frames drawn in `seconds` with no input, once the frames of the last input have landed: after a
 * pointer move egui draws a few more as the pointer comes to rest, the last some 0.8 s later on
 * this machine's SwiftShader, later still when the machine is busy. So the count starts after a
 * quiet second and a half with no frame (looked for over at most 20 s).
 */
export async function idleFrames(page, seconds) {
  let [count, quietSince] = [await framesDrawn(page), Date.now()];
  for (const giveUp = Date.now() + 20_000; Date.now() - quietSince < 1500 && Date.now() < giveUp;) {
    await page.waitForTimeout(100);
    const now = await framesDrawn(page);
    if (now !== count) [count, quietSince] = [now, Date.now()];
  }
  const before = await framesDrawn(page);
  await page.waitForTimeout(seconds * 1000);
  return (await framesDrawn(page)) - before;
}

const median = (sorted) => sorted[Math.floor(sorted.length / 2)];
const p95 = (sorted) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.95))];

/** Frame intervals while the right button drags `steps` steps across the middle of the view. */
async function orbit(page, steps) {
  const { width, height } = page.viewportSize();
  const [x, y] = [width * 0.6, height * 0.5];
  await page.mouse.move(x, y);
  await page.waitForTimeout(300);
  const start = await framesDrawn(page);
  await page.mouse.down({ button: 'right' });
  for (let step = 1; step <= steps; step++) {
    // Real input, as a hand gives it: one move per frame at most, each waiting for the browser.
    await page.mouse.move(x + 200 * Math.sin(step / 15), y + 40 * Math.sin(step / 23));
    await page.evaluate(() => new Promise((done) => requestAnimationFrame(() => done())));
  }
  await page.mouse.up({ button: 'right' });
  const times = await page.evaluate((from) => window.llmvizFrames.slice(from), start);
  const intervals = times.slice(1).map((time, i) => time - times[i]).sort((a, b) => a - b);
  return { frames: times.length, median: median(intervals), p95: p95(intervals) };
}

/** One model's figures, in a fresh browser (a fresh profile). */
export async function measure(origin, model, { idleSeconds = 10, orbitSteps = 200 } = {}) {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: false,
    args: [...QUIET, ...WEBGPU, '--window-size=1280,800', '--force-device-scale-factor=1'],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
    await page.addInitScript(frameCounter);
    await page.goto(`${origin}/?model=${model}`);
    await waitReady(page);
    const [first, ready] = await page.evaluate(() => [window.llmvizDrawnAt, window.llmvizReadyAt]);
    await page.mouse.move(1279, 719);
    const idle = await idleFrames(page, idleSeconds);
    const orbited = await orbit(page, orbitSteps);
    const memory = await page.evaluate(() => performance.memory.usedJSHeapSize + (window.llmviz.wasmBytes?.() ?? NaN));
    return { model, first: first / 1000, ready: ready / 1000, idle, idleSeconds, orbit: orbited, memory: memory / 1e6 };
  } finally {
    await browser.close();
  }
}

/** The line for one model's figures. */
export function line({ model, first, ready, idle, idleSeconds, orbit: { median: m, p95: p }, memory }) {
  return `${model}: first frame ${first.toFixed(1)} s, ready ${ready.toFixed(1)} s, idle ${idle} frames in ${idleSeconds} s, ` +
    `orbit median ${Math.round(m)} ms, p95 ${Math.round(p)} ms, memory ${Math.round(memory)} MB`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const quick = process.argv.includes('--quick');
  const dist = join(dirname(fileURLToPath(import.meta.url)), 'dist');
  const server = await serve(dist);
  const origin = `http://127.0.0.1:${server.address().port}`;
  const options = quick ? { idleSeconds: 2, orbitSteps: 20 } : {};
  try {
    for (const model of ['nano', 'gpt3']) {
      console.log(line(await measure(origin, model, options)));
    }
  } finally {
    server.close();
  }
}
