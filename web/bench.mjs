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
// With --gpt2 FOLDER (a folder made by bench/gpt2-shaped.py, served from another port as a model
// host would serve it) it measures that checkpoint instead, in one line:
//
//   gpt2: ready 16.2 s, from the cache 15.3 s; longest task loading 6358 ms; typing 20 characters:
//   last key to values 2.0 s, longest task 808 ms, 1 pass(es); wasm 1544 + 1079 MB
//
// - ready: from navigation with `?weights=` and `text=Hello`, downloading; then on a reload, from
//   Cache Storage;
// - longest task: the longest main-thread task (Chromium's `longtask` entries) while it loads, and
//   while " world, how are you?" is typed into the model card at one key every 100 ms;
// - last key to values: until the values of the whole typed text are drawn;
// - wasm: the memory of the page's instance and of the forward worker's, at the end.
// With --switch it opens nano, switches the same page to GPT-3 with the model bar, and gives the JS
// heap and wasm memory (both instances) after each.
//
//   ./web/build.sh && xvfb-run -a node web/bench.mjs          # the full figures (docs/benchmarks.md)
//   xvfb-run -a node web/bench.mjs --quick                    # a short run (web/test.sh)
//   xvfb-run -a node web/bench.mjs --gpt2 /tmp/gpt2-shaped    # GPT-2 small's shapes
//   xvfb-run -a node web/bench.mjs --switch                   # nano, then GPT-3 in the same page
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

/**
 * Frame intervals while the right button drags `steps` steps from `at` (by default a little right
 * of the view's middle), and the time a drag step took (from the first frame to the last).
 */
export async function orbit(page, steps, at = undefined) {
  const { width, height } = page.viewportSize();
  const [x, y] = at ?? [width * 0.6, height * 0.5];
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
  const perStep = (times[times.length - 1] - times[0]) / steps;
  return { frames: times.length, median: median(intervals), p95: p95(intervals), perStep };
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

/** Collects Chromium's long tasks (over 50 ms) of the main thread, from the start of the page. */
function longTasks() {
  window.llmvizLongTasks = [];
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) window.llmvizLongTasks.push(entry.duration);
  }).observe({ type: 'longtask', buffered: true });
}

const longest = (page) => page.evaluate(() => Math.max(0, ...window.llmvizLongTasks.splice(0)));

/** A checkpoint folder served from another origin, with CORS, as Hugging Face serves one. */
async function modelHost(folder) {
  const { createServer } = await import('node:http');
  const { readFileSync } = await import('node:fs');
  const server = createServer((request, response) => {
    const name = new URL(request.url, 'http://localhost').pathname.split('/').pop();
    try {
      const body = readFileSync(join(folder, name));
      response.writeHead(200, { 'Access-Control-Allow-Origin': '*', 'Content-Length': body.length }).end(body);
    } catch {
      response.writeHead(404, { 'Access-Control-Allow-Origin': '*' }).end();
    }
  });
  await new Promise((listening) => server.listen(0, '127.0.0.1', listening));
  return server;
}

/** GPT-2 small's shapes (`folder`) opened, reloaded from the cache, and typed into. */
export async function measureGpt2(origin, folder) {
  const host = await modelHost(folder);
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: false, args: [...QUIET, ...WEBGPU] });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
    await page.addInitScript(frameCounter);
    await page.addInitScript(longTasks);
    const weights = encodeURIComponent(`http://127.0.0.1:${host.address().port}/gpt2/`);
    await page.goto(`${origin}/?weights=${weights}&text=Hello`);
    await waitReady(page);
    const ready = await page.evaluate(() => window.llmvizReadyAt / 1000);
    const loading = await longest(page);
    await page.reload();
    await waitReady(page);
    const cached = await page.evaluate(() => window.llmvizReadyAt / 1000);
    await page.waitForFunction(() => document.body.dataset.shown?.startsWith(`${document.body.dataset.tokens} ->`), null,
      { timeout: READY_MS });
    await longest(page);
    const passes = await page.evaluate(() => Number(document.body.dataset.passes));
    const before = await page.evaluate(() => document.body.dataset.tokens);
    // The model card's text box (web/test/browser.test.mjs types into it too).
    await page.mouse.click(200, 594);
    await page.keyboard.press('End');
    await page.keyboard.type(' world, how are you?', { delay: 100 });
    const lastKey = Date.now();
    await page.waitForFunction((old) => document.body.dataset.tokens !== old
      && document.body.dataset.shown?.startsWith(`${document.body.dataset.tokens} ->`), before, { timeout: READY_MS });
    const typed = (Date.now() - lastKey) / 1000;
    const typing = await longest(page);
    const typedPasses = await page.evaluate(() => Number(document.body.dataset.passes)) - passes;
    const memory = await page.evaluate(() => window.llmviz.wasmInstances());
    return { ready, cached, loading, typed, typing, typedPasses, memory };
  } finally {
    await browser.close();
    host.close();
  }
}

/**
 * Memory as a reader uses the page: opened on nano, then switched to GPT-3 with the model bar (its
 * "GPT-3" at the top left), each once its frames have settled. JS heap plus both wasm instances.
 */
export async function measureSwitch(origin) {
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: false, args: [...QUIET, ...WEBGPU] });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
    await page.addInitScript(frameCounter);
    const memory = () => page.evaluate(() => (performance.memory.usedJSHeapSize + window.llmviz.wasmBytes()) / 1e6);
    await page.goto(`${origin}/?model=nano`);
    await waitReady(page);
    await page.mouse.move(1279, 719);
    await idleFrames(page, 1);
    const nano = await memory();
    await page.mouse.click(347, 21);
    await page.waitForFunction(() => document.body.dataset.model === 'gpt3', null, { timeout: READY_MS });
    await page.mouse.move(1279, 719);
    await idleFrames(page, 1);
    return { nano, gpt3: await memory() };
  } finally {
    await browser.close();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv.includes('--switch')) {
  const server = await serve(join(dirname(fileURLToPath(import.meta.url)), 'dist'));
  try {
    const m = await measureSwitch(`http://127.0.0.1:${server.address().port}`);
    console.log(`switch: nano ${Math.round(m.nano)} MB, then GPT-3 in the same page ${Math.round(m.gpt3)} MB`);
  } finally {
    server.close();
  }
} else if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv.includes('--gpt2')) {
  const dist = join(dirname(fileURLToPath(import.meta.url)), 'dist');
  const server = await serve(dist);
  try {
    const folder = process.argv[process.argv.indexOf('--gpt2') + 1];
    const m = await measureGpt2(`http://127.0.0.1:${server.address().port}`, folder);
    console.log(`gpt2: ready ${m.ready.toFixed(1)} s, from the cache ${m.cached.toFixed(1)} s; longest task loading ` +
      `${Math.round(m.loading)} ms; typing 20 characters: last key to values ${m.typed.toFixed(1)} s, longest task ` +
      `${Math.round(m.typing)} ms, ${m.typedPasses} pass(es); wasm ${Math.round(m.memory.page / 1e6)} + ` +
      `${Math.round(m.memory.worker / 1e6)} MB`);
  } finally {
    server.close();
  }
} else if (process.argv[1] === fileURLToPath(import.meta.url)) {
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
