// The browser build in a real browser: Debian's Chromium, headed (run under Xvfb: headless Chromium
// loses its WebGPU device at start), WebGPU on the CPU through SwiftShader. It serves web/dist
// (built by web/build.sh) on localhost and checks what a reader sees.
//
//   xvfb-run -a node --test web/test/browser.test.mjs        # after ./web/build.sh
//
// Screenshots go to web/test-output/ to be looked at.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { serve } from '../serve.mjs';
import { CHROMIUM, QUIET, WEBGPU, frameCounter, framesDrawn, idleFrames, line, measure } from '../bench.mjs';

const web = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(web, 'dist');
const output = join(web, 'test-output');
const chromiumPath = CHROMIUM;
// SwiftShader compiles every pipeline on the CPU: the first frame takes a while.
const READY_MS = 240_000;
// Where the model card's text box is in a 1280×720 page showing a GPT-2 checkpoint.
const TEXT_BOX = { x: 200, y: 594 };

// QUIET keeps Chromium off the network; WEBGPU are the flags known to work under Xvfb (web/bench.mjs).

let server;
let origin;
let browser;
let models;
let modelRequests;

const fixture = join(web, '..', 'tests', 'fixtures', 'tiny-gpt2');
const qwen3Fixture = join(web, '..', 'tests', 'fixtures', 'tiny-llama', 'qwen3');

/** Serves the tiny GPT-2 fixture (config.json, model.safetensors, vocab.json) from another origin,
 * as Hugging Face serves GPT-2 to the page: /tiny-gpt2/ with CORS; /no-cors/ without it;
 * /truncated/ with the weights cut in half; /huge/ announcing 900 MB of weights; /tiny-qwen3/ the tiny
 * Qwen3 fixture (config.json, model.safetensors, tokenizer.json); anything else 404.
 * Counts the requests for each path. */
function modelServer() {
  const requests = new Map();
  const server = createServer((request, response) => {
    const path = new URL(request.url, 'http://localhost').pathname;
    requests.set(path, (requests.get(path) ?? 0) + 1);
    const [, folder, file] = path.split('/');
    const cors = folder === 'no-cors' ? {} : { 'Access-Control-Allow-Origin': '*' };
    if (folder === 'huge' && file === 'model.safetensors') {
      response.writeHead(200, { ...cors, 'Content-Length': 900_000_000 });
      response.write(Buffer.alloc(1024));
      return;
    }
    let body;
    try {
      const from = folder === 'tiny-qwen3' ? qwen3Fixture : fixture;
      body = ['tiny-gpt2', 'no-cors', 'truncated', 'huge', 'tiny-qwen3'].includes(folder) ? readFileSync(join(from, file)) : null;
    } catch {
      body = null;
    }
    if (!body) {
      response.writeHead(404, cors).end('not found');
      return;
    }
    if (folder === 'truncated' && file === 'model.safetensors') body = body.subarray(0, body.length >> 1);
    response.writeHead(200, { ...cors, 'Content-Length': body.length }).end(body);
  });
  return new Promise((done) => server.listen(0, '127.0.0.1', () => done({ server, requests })));
}

before(async () => {
  assert.ok(existsSync(join(dist, 'index.html')), `${dist}/index.html is missing: run ./web/build.sh first`);
  assert.ok(existsSync(chromiumPath), `${chromiumPath} is missing: apt-get install chromium`);
  assert.ok(process.env.DISPLAY, 'no DISPLAY: run under Xvfb (xvfb-run -a node --test web/test/browser.test.mjs)');
  mkdirSync(output, { recursive: true });
  server = await serve(dist);
  origin = `http://127.0.0.1:${server.address().port}`;
  const served = await modelServer();
  models = served.server;
  modelRequests = served.requests;
  browser = await chromium.launch({
    executablePath: chromiumPath,
    headless: false,
    args: [...QUIET, ...WEBGPU, '--window-size=1280,800'],
  });
});

after(async () => {
  await browser?.close();
  server?.close();
  models?.close();
});

/** A page whose console errors and uncaught exceptions are collected, at `path`; its frames are
 * counted (web/bench.mjs's `frameCounter`). */
async function open(path, viewport = { width: 1200, height: 700 }) {
  const page = await browser.newPage({ viewport });
  await page.addInitScript(frameCounter);
  const errors = [];
  const log = [];
  page.on('console', (message) => {
    log.push(`${message.type()}: ${message.text()}`);
    if (message.type() === 'error') errors.push(message.text());
  });
  page.on('pageerror', (error) => errors.push(`uncaught: ${error.message}`));
  page.on('requestfailed', (request) => errors.push(`request failed: ${request.url()} ${request.failure()?.errorText}`));
  await page.goto(`${origin}${path}`);
  return { page, errors, log };
}

/** `open`, then `waitReady`. */
async function openReady(path, viewport) {
  const opened = await open(path, viewport);
  await waitReady(opened);
  return opened;
}

/** Waits until the app says it is drawn, failing with what the page showed instead. */
async function waitReady({ page, errors, log }) {
  try {
    await page.waitForFunction(() => ['ready', 'failed', 'no-webgpu'].includes(document.body.dataset.state), null,
      { timeout: READY_MS, polling: 250 });
  } catch (error) {
    const state = await page.evaluate(() => `${document.body.dataset.state}: ${document.getElementById('stage').textContent}`);
    throw new Error(`not ready after ${READY_MS / 1000} s (${state})\n${log.slice(-30).join('\n')}`, { cause: error });
  }
  const state = await page.evaluate(() => document.body.dataset.state);
  assert.equal(state, 'ready', `the page ended in '${state}'; console:\n${log.slice(-30).join('\n')}\nerrors: ${errors.join('\n')}`);
}

/** Saves a screenshot of the page and measures it in the browser: how much of it is not the background. */
async function screenshot(page, name) {
  const png = await page.screenshot();
  writeFileSync(join(output, `${name}.png`), png);
  return page.evaluate(async (dataUrl) => {
    const image = new Image();
    image.src = dataUrl;
    await image.decode();
    const canvas = new OffscreenCanvas(image.width, image.height);
    const context = canvas.getContext('2d');
    context.drawImage(image, 0, 0);
    const { data } = context.getImageData(0, 0, image.width, image.height);
    const [r0, g0, b0] = [data[0], data[1], data[2]];
    let differing = 0;
    const colours = new Set();
    for (let i = 0; i < data.length; i += 4) {
      if (Math.abs(data[i] - r0) + Math.abs(data[i + 1] - g0) + Math.abs(data[i + 2] - b0) > 24) differing++;
      colours.add((data[i] >> 3) << 10 | (data[i + 1] >> 3) << 5 | (data[i + 2] >> 3));
    }
    return { width: image.width, height: image.height, drawn: differing / (data.length / 4), colours: colours.size };
  }, `data:image/png;base64,${png.toString('base64')}`);
}

/** Fraction of pixels that differ between two screenshots of the same size. */
async function difference(page, before, after) {
  return page.evaluate(async ([a, b]) => {
    const pixels = async (dataUrl) => {
      const image = new Image();
      image.src = dataUrl;
      await image.decode();
      const context = new OffscreenCanvas(image.width, image.height).getContext('2d');
      context.drawImage(image, 0, 0);
      return context.getImageData(0, 0, image.width, image.height).data;
    };
    const [first, second] = [await pixels(a), await pixels(b)];
    let differing = 0;
    for (let i = 0; i < first.length; i += 4) {
      if (Math.abs(first[i] - second[i]) + Math.abs(first[i + 1] - second[i + 1]) + Math.abs(first[i + 2] - second[i + 2]) > 24) differing++;
    }
    return differing / (first.length / 4);
  }, [before, after].map((png) => `data:image/png;base64,${png.toString('base64')}`));
}

/** The query string the address bar shows now. */
const query = (page) => new URL(page.url()).search;

/** Finds a cell under the mouse: sweeps a grid over the middle of the view until the app reports one. */
async function hoverSomeCell(page) {
  const { width, height } = page.viewportSize();
  for (let y = 0.3; y <= 0.8; y += 0.05) {
    for (let x = 0.3; x <= 0.75; x += 0.025) {
      await page.mouse.move(width * x, height * y);
      const hovered = await page.waitForFunction(() => document.body.dataset.hovered, null, { timeout: 400 }).catch(() => null);
      if (hovered) return { x: width * x, y: height * y, cell: await hovered.jsonValue() };
    }
  }
  return null;
}

test('the page opens the nano-gpt tour without console errors, the model drawn, the canvas filling the window', async () => {
  const opened = await openReady('/');
  const { page, errors } = opened;
  const shot = await screenshot(page, 'tour-start');
  assert.deepEqual(errors, [], 'console errors');
  // The model's blocks and the tour's panel cover a good part of the view, in many shades.
  assert.ok(shot.drawn > 0.05, `only ${(shot.drawn * 100).toFixed(1)} % of the page is drawn`);
  assert.ok(shot.colours > 50, `only ${shot.colours} colours on the page`);
  const size = await page.evaluate(() => {
    const canvas = document.getElementById('llmviz');
    return { css: [canvas.clientWidth, canvas.clientHeight], pixels: [canvas.width, canvas.height], ratio: devicePixelRatio };
  });
  assert.deepEqual(size.css, [1200, 700]);
  assert.deepEqual(size.pixels, [1200 * size.ratio, 700 * size.ratio]);
  // The address says where the reader is, to be shared.
  assert.equal(query(page), '?tour=nano-gpt&chapter=overview&step=1');
  await page.close();
});

test('once ready, the page draws no frame while nothing moves, and draws again for the pointer', async () => {
  for (const path of ['/', '/?model=gpt3']) {
    const opened = await openReady(path);
    const { page, errors } = opened;
    await page.mouse.move(1195, 695);
    const idle = await idleFrames(page, 4);
    assert.equal(idle, 0, `${path}: ${idle} frames drawn in 4 s without input`);
    const before = await framesDrawn(page);
    await page.mouse.move(700, 350);
    await page.mouse.move(720, 360);
    await page.waitForFunction((count) => window.llmvizFrames.length > count, before, { timeout: 10_000 })
      .catch(() => assert.fail(`${path}: the pointer moved over the scene and no frame followed`));
    assert.deepEqual(errors, [], 'console errors');
    await page.close();
  }
});

test('a drag over the scene draws one frame per pointer move', async () => {
  // egui repaints after any input it is given; moves that are the scene's are kept from it, so the
  // frame the move asked for is the only one (twice as many halved the page's drag speed).
  const { page, errors } = await openReady('/');
  const settle = () => idleFrames(page, 0);
  await page.mouse.move(840, 360);
  await settle();
  await page.mouse.down({ button: 'right' });
  await settle();
  const [start, steps] = [await framesDrawn(page), 6];
  for (let step = 1; step <= steps; step++) {
    await page.mouse.move(840 - 12 * step, 360 + 3 * step);
    await settle();
  }
  const drawn = (await framesDrawn(page)) - start;
  await page.mouse.up({ button: 'right' });
  assert.ok(drawn >= steps, `the view turned with ${drawn} frames for ${steps} drag steps`);
  assert.ok(drawn <= steps + 1, `${drawn} frames for ${steps} drag steps`);
  assert.deepEqual(errors, [], 'console errors');
  await page.close();
});

test('calls from the page into the app do not run the constructors each time', async () => {
  // wasm-ld wraps every export of a binary in a call to `__wasm_call_ctors` unless the module
  // exports that itself (web/build.sh says why it must): the export is the sign, and the glue
  // must never call it, since no one in the page reads what the constructors register.
  const module = await WebAssembly.compile(readFileSync(join(dist, 'llmviz_bg.wasm')));
  const exports = WebAssembly.Module.exports(module).map(({ name }) => name);
  assert.ok(exports.includes('__wasm_call_ctors'), `the exports: ${exports.join(', ')}`);
  assert.ok(!readFileSync(join(dist, 'llmviz.js'), 'utf8').includes('__wasm_call_ctors'), 'llmviz.js runs the constructors');
});

test('web/bench.mjs measures both models in a short run', async () => {
  for (const model of ['nano', 'gpt3']) {
    const figures = await measure(origin, model, { idleSeconds: 2, orbitSteps: 20 });
    console.log(line(figures));
    assert.ok(figures.first > 0 && figures.first <= figures.ready, `first frame ${figures.first} s, ready ${figures.ready} s`);
    assert.equal(figures.idle, 0, `${model}: frames drawn while idle`);
    assert.ok(figures.orbit.frames >= 10, `${model}: only ${figures.orbit.frames} frames while orbiting 20 steps`);
  }
});

test('a deep link opens the tour at its chapter and step, and Space advances the tour', async () => {
  const link = '?tour=nano-gpt&chapter=self-attention&step=2';
  const opened = await openReady(`/${link}`);
  const { page, errors } = opened;
  assert.equal(query(page), link);
  const before = await page.screenshot();
  writeFileSync(join(output, 'tour-self-attention-2.png'), before);
  const time = async () => page.evaluate(() => document.body.dataset.tourTime);
  const start = await time();
  assert.match(start, /^\d+\.\d$/, `a deep link waits for the reader (tour time '${start}')`);
  await page.focus('#llmviz');
  // Each Space plays on to the next stop (a step has one or more); past a step's last stop the
  // next step begins.
  for (let press = 0; press < 12 && query(page) === link; press++) {
    const stopped = await time();
    await page.keyboard.press('Space');
    await page.waitForFunction((t) => document.body.dataset.tourTime !== t, stopped, { timeout: 10_000 })
      .catch(() => assert.fail(`Space (press ${press + 1}) did not move the tour on from ${stopped} s`));
    await page.waitForFunction(() => !document.body.dataset.tourTime.endsWith('playing'), null, { timeout: 60_000 });
  }
  assert.equal(query(page), '?tour=nano-gpt&chapter=self-attention&step=3', 'Space moved the tour on to the next step');
  assert.ok(Number.parseFloat(await time()) > Number.parseFloat(start));
  const after = await page.screenshot();
  writeFileSync(join(output, 'tour-self-attention-3.png'), after);
  const changed = await difference(page, before, after);
  assert.ok(changed > 0.01, `the next step changed only ${(changed * 100).toFixed(2)} % of the page`);
  assert.deepEqual(errors, [], 'console errors');
  await page.close();
});

test('?lang= shows the tour and the panel in Chinese or Spanish, and the address keeps it', async () => {
  const shots = {};
  let last = null;
  for (const lang of ['', 'zh-CN', 'es']) {
    const link = `?tour=nano-gpt&chapter=embedding&step=2${lang ? `&lang=${lang}` : ''}`;
    const { page, errors } = await openReady(`/${link}`);
    assert.equal(query(page), link, 'the address keeps the language');
    shots[lang || 'en'] = await page.screenshot({ clip: { x: 0, y: 0, width: 400, height: 720 } });
    writeFileSync(join(output, `panel-${lang || 'en'}.png`), shots[lang || 'en']);
    assert.deepEqual(errors, [], `console errors with ?lang=${lang}`);
    if (last) await last.close();
    last = page;
  }
  for (const lang of ['zh-CN', 'es']) {
    const changed = await difference(last, shots.en, shots[lang]);
    assert.ok(changed > 0.02, `the panel in ${lang} differs from English in only ${(changed * 100).toFixed(2)} % of its pixels`);
  }
  await last.close();
});

test('hovering a cell shows its card', async () => {
  const opened = await openReady('/?model=nano');
  const { page, errors } = opened;
  await page.mouse.move(5, 690);
  const before = await page.screenshot();
  const found = await hoverSomeCell(page);
  assert.ok(found, 'no cell under the mouse anywhere in the middle of the view');
  await page.waitForTimeout(500);
  const after = await page.screenshot();
  writeFileSync(join(output, 'hover.png'), after);
  const changed = await difference(page, before, after);
  assert.ok(changed > 0.01, `hovering ${found.cell} changed only ${(changed * 100).toFixed(2)} % of the page: no card`);
  assert.deepEqual(errors, [], 'console errors');
  await page.close();
});

test('the canvas follows the window and its device pixel ratio', async () => {
  // A real ratio of 2, as on a high-density screen (the page emulation of Playwright's
  // deviceScaleFactor does not reach the canvas's resize observer); the window resized as a user would.
  const dense = await chromium.launch({
    executablePath: chromiumPath,
    headless: false,
    args: [...QUIET, ...WEBGPU, '--force-device-scale-factor=2', '--window-size=700,500'],
  });
  try {
    const page = await dense.newPage({ viewport: null });
    const errors = [];
    const log = [];
    page.on('console', (message) => {
      log.push(`${message.type()}: ${message.text()}`);
      if (message.type() === 'error') errors.push(message.text());
    });
    page.on('pageerror', (error) => errors.push(`uncaught: ${error.message}`));
    await page.goto(`${origin}/?model=nano`);
    await waitReady({ page, errors, log });
    const size = () => page.evaluate(() => {
      const canvas = document.getElementById('llmviz');
      return { ratio: devicePixelRatio, css: [canvas.clientWidth, canvas.clientHeight], pixels: [canvas.width, canvas.height],
        window: [innerWidth, innerHeight] };
    });
    const first = await size();
    assert.equal(first.ratio, 2);
    assert.deepEqual(first.css, first.window, 'the canvas fills the window');
    assert.deepEqual(first.pixels, first.css.map((n) => 2 * n), 'the canvas has a pixel per device pixel');
    const cdp = await page.context().newCDPSession(page);
    const { windowId } = await cdp.send('Browser.getWindowForTarget');
    await cdp.send('Browser.setWindowBounds', { windowId, bounds: { width: 560, height: 640 } });
    await page.waitForFunction((before) => innerWidth !== before, first.window[0], { timeout: 10_000 });
    await page.waitForFunction(() => {
      const canvas = document.getElementById('llmviz');
      return canvas.clientWidth === innerWidth && canvas.width === 2 * innerWidth && canvas.height === 2 * innerHeight;
    }, null, { timeout: 20_000 }).catch(async () => assert.fail(`after a resize: ${JSON.stringify(await size())}`));
    await page.waitForTimeout(1500);
    const shot = await screenshot(page, 'resized-ratio-2');
    assert.ok(shot.drawn > 0.05, `only ${(shot.drawn * 100).toFixed(1)} % of the resized page is drawn`);
    assert.deepEqual(errors, [], 'console errors');
  } finally {
    await dense.close();
  }
});

test('?model=gpt3 opens GPT-3 without a tour and the address keeps it', async () => {
  const opened = await openReady('/?model=gpt3');
  const { page, errors } = opened;
  const shot = await screenshot(page, 'gpt3');
  assert.deepEqual(errors, [], 'console errors');
  assert.ok(shot.drawn > 0.02, `only ${(shot.drawn * 100).toFixed(1)} % of the page is drawn`);
  assert.equal(query(page), '?model=gpt3');
  assert.equal(await page.evaluate(() => document.body.dataset.tourTime), '', 'no tour');
  await page.close();
});

test('touch: a tap pins the card of the cell under it, one finger pans, two fingers zoom and turn', async () => {
  const opened = await openReady('/?model=nano');
  const { page, errors } = opened;
  const cdp = await page.context().newCDPSession(page);
  const touch = (type, points) => cdp.send('Input.dispatchTouchEvent', { type, touchPoints: points.map(([x, y], id) => ({ x, y, id })) });
  // Fingers put down at `from`, moved to `to` in ten steps and lifted; then the page settles and
  // is captured as NAME.png.
  const gesture = async (name, from, to) => {
    await touch('touchStart', from);
    for (let step = 1; step <= 10; step++) {
      await touch('touchMove', from.map(([x, y], finger) => [x + (to[finger][0] - x) * step / 10, y + (to[finger][1] - y) * step / 10]));
      await page.waitForTimeout(30);
    }
    await touch('touchEnd', []);
    await page.waitForTimeout(1000);
    const shot = await page.screenshot();
    writeFileSync(join(output, `${name}.png`), shot);
    return shot;
  };
  const pinned = () => page.evaluate(() => document.body.dataset.pinned);
  // Where a cell is, found with the mouse, which then leaves.
  const found = await hoverSomeCell(page);
  assert.ok(found, 'no cell under the mouse anywhere in the middle of the view');
  await page.mouse.move(5, 690);
  await page.waitForFunction(() => !document.body.dataset.hovered, null, { timeout: 5_000 });
  await touch('touchStart', [[found.x, found.y]]);
  await touch('touchEnd', []);
  await page.waitForFunction(() => document.body.dataset.pinned === '1', null, { timeout: 5_000 })
    .catch(() => assert.fail(`a tap on ${found.cell} pinned no card`));
  const before = await page.screenshot();

  const panned = await gesture('touch-panned', [[600, 350]], [[750, 410]]);
  const changed = await difference(page, before, panned);
  assert.ok(changed > 0.02, `a one-finger drag changed only ${(changed * 100).toFixed(2)} % of the page`);
  assert.equal(await pinned(), '1', 'a drag is not a tap');
  // Esc lets the card go, so that it covers nothing the fingers do next.
  await page.keyboard.press('Escape');
  await page.waitForFunction(() => document.body.dataset.pinned === '0', null, { timeout: 5_000 })
    .catch(() => assert.fail('Esc left the card pinned'));

  // Two fingers spreading apart over a cell zoom in about it: twice as close, and the block under
  // the fingers stays under them.
  const target = await hoverSomeCell(page);
  assert.ok(target, 'no cell under the mouse after the pan');
  await page.mouse.move(5, 690);
  await page.waitForFunction(() => !document.body.dataset.hovered, null, { timeout: 5_000 });
  const [cx, cy] = [target.x, target.y];
  const pinched = await gesture('touch-pinched', [[cx - 40, cy], [cx + 40, cy]], [[cx - 80, cy], [cx + 80, cy]]);
  const zoomed = await difference(page, panned, pinched);
  assert.ok(zoomed > 0.02, `spreading two fingers changed only ${(zoomed * 100).toFixed(2)} % of the page`);
  assert.equal(await pinned(), '0', 'a pinch is not a tap');
  await page.mouse.move(cx, cy);
  const under = await page.waitForFunction(() => document.body.dataset.hovered, null, { timeout: 5_000 })
    .then((hovered) => hovered.jsonValue()).catch(() => null);
  const block = (cell) => cell.replace(/\[.*$/, '');
  assert.equal(under && block(under), block(target.cell), `after the pinch ${under} is between the fingers, not ${target.cell}'s block`);

  // Two fingers moving together turn the view about its target.
  await page.mouse.move(5, 690);
  const turned = await gesture('touch-turned', [[cx - 60, cy], [cx + 60, cy]], [[cx + 60, cy], [cx + 180, cy]]);
  const rotated = await difference(page, pinched, turned);
  assert.ok(rotated > 0.02, `moving two fingers together changed only ${(rotated * 100).toFixed(2)} % of the page`);
  assert.equal(await pinned(), '0', 'a two-finger turn is not a tap');
  assert.deepEqual(errors, [], 'console errors');
  await page.close();
});

test('a default model that does not download or does not read is one clear message', async () => {
  for (const [reply, expected] of [
    [{ status: 404, body: 'gone' }, /nano-sort\.safetensors: 404/],
    [{ status: 200, body: 'not a model' }, /models\/nano-sort\.safetensors: not a safetensors file/],
  ]) {
    const page = await browser.newPage({ viewport: { width: 1200, height: 700 } });
    await page.route('**/nano-sort.safetensors', (route) => route.fulfill(reply));
    await page.goto(`${origin}/`);
    await page.waitForFunction(() => document.body.dataset.state === 'failed', null, { timeout: 60_000 })
      .catch(() => assert.fail(`with the model answered by ${JSON.stringify(reply)} the page did not fail`));
    const text = await page.locator('#failed').innerText();
    assert.match(text, expected);
    await page.close();
  }
});

test('without WebGPU the page says so and what to do', async () => {
  // The same Chromium without the WebGPU flags: on Linux it offers no adapter.
  const plain = await chromium.launch({ executablePath: chromiumPath, headless: true, args: [...QUIET, '--disable-gpu'] });
  try {
    const page = await plain.newPage();
    await page.goto(`${origin}/`);
    await page.waitForFunction(() => document.body.dataset.state === 'no-webgpu', null, { timeout: 30_000 });
    const text = await page.locator('#no-webgpu').innerText();
    assert.match(text, /has no WebGPU/);
    assert.match(text, /chrome:\/\/flags\/#enable-unsafe-webgpu/);
    assert.match(text, /Chrome or Edge 113/);
    writeFileSync(join(output, 'no-webgpu.png'), await page.screenshot());
  } finally {
    await plain.close();
  }
});

test('?weights= opens a GPT-2 folder from another origin on ?text=, and a reload opens it from the cache', async () => {
  const folder = `http://127.0.0.1:${models.address().port}/tiny-gpt2/`;
  const path = `/?weights=${encodeURIComponent(folder)}&text=${encodeURIComponent('Hello world')}`;
  const { page, errors } = await openReady(path);
  const shown = () => page.evaluate(() => [document.body.dataset.model, document.body.dataset.tokens]);
  const [model, tokens] = await shown();
  assert.notEqual(model, 'nano', 'the checkpoint, not the default model');
  assert.equal(tokens, '15496,995', "GPT-2's BPE from the folder's vocab.json: 'Hello' and ' world'");
  // The fixture is 8 channels wide beside its 50,257-token vocabulary: from its overview, its
  // blocks are thin lines. The app says when its first batch of blocks is drawn.
  await screenshot(page, 'weights-tiny-gpt2');
  assert.equal(await page.evaluate(() => document.body.dataset.drawn), 'blocks', 'its blocks are drawn');
  assert.equal(new URLSearchParams(query(page)).get('weights'), folder, 'the address keeps the folder');
  assert.equal(modelRequests.get('/tiny-gpt2/model.safetensors'), 1);
  await page.reload();
  await waitReady({ page, errors, log: [] });
  assert.deepEqual(await shown(), [model, tokens]);
  assert.equal(modelRequests.get('/tiny-gpt2/model.safetensors'), 1, 'the reload read the cache, not the server');
  assert.deepEqual(errors, [], 'console errors');
  await page.close();
});

test('?weights= opens a Qwen3 folder, its text read by its tokenizer.json; ?model=nano-llama opens with its weights', async () => {
  const folder = `http://127.0.0.1:${models.address().port}/tiny-qwen3/`;
  const { page, errors } = await openReady(`/?weights=${encodeURIComponent(folder)}&text=${encodeURIComponent('Hello world')}`);
  const [model, tokens] = await page.evaluate(() => [document.body.dataset.model, document.body.dataset.tokens]);
  assert.equal(model, 'tiny-qwen3');
  assert.equal(tokens, '303,339', "Python tokenizers' ids of 'Hello world' with the folder's tokenizer.json");
  await screenshot(page, 'weights-tiny-qwen3');
  assert.equal(await page.evaluate(() => document.body.dataset.drawn), 'blocks', 'its blocks are drawn');
  assert.equal(modelRequests.get('/tiny-qwen3/tokenizer.json'), 1);
  await page.close();
  const nano = await openReady('/?model=nano-llama');
  const shown = await nano.page.evaluate(() => [document.body.dataset.model, document.body.dataset.tokens]);
  assert.deepEqual(shown, ['nano-llama', '2,1,0,1,1,2'], 'nano-llama with its shipped weights on CBABBC');
  await screenshot(nano.page, 'nano-llama');
  assert.deepEqual([...errors, ...nano.errors], [], 'console errors');
  await nano.page.close();
});

test('a checkpoint that is missing, truncated, refused across origins, too large or no address is one clear message', async () => {
  const base = `http://127.0.0.1:${models.address().port}`;
  for (const [folder, expected] of [
    ['missing', /missing\/model\.safetensors: 404/],
    ['truncated', /truncated\/model\.safetensors/],
    ['no-cors', /no-cors\/model\.safetensors: no answer, or a cross-origin request the server refused/],
    ['huge', /huge\/model\.safetensors: 0\.90 GB, more than the page can hold/],
    ['not-an-address', /\?weights=http:\/\/\[: not an address the page can open/],
  ]) {
    const page = await browser.newPage({ viewport: { width: 1200, height: 700 } });
    const address = folder === 'not-an-address' ? 'http://[' : `${base}/${folder}/`;
    await page.goto(`${origin}/?weights=${encodeURIComponent(address)}`);
    await page.waitForFunction(() => document.body.dataset.state === 'failed', null, { timeout: READY_MS })
      .catch(() => assert.fail(`the page did not fail for /${folder}/`));
    const text = await page.locator('#failed').innerText();
    assert.match(text, expected);
    if (folder === 'truncated') writeFileSync(join(output, 'weights-truncated.png'), await page.screenshot());
    await page.close();
  }
});

test('files picked in the page open the same way', async () => {
  const { page, errors } = await openReady('/?model=gpt2');
  await page.setInputFiles('#open-files', ['model.safetensors', 'config.json', 'vocab.json'].map((name) => join(fixture, name)));
  await page.waitForURL(/weights=picked/);
  await waitReady({ page, errors, log: [] });
  // GPT-2's preset has no weights and so no tokens; the picked checkpoint reads nanoGPT's prompt.
  const tokens = await page.evaluate(() => document.body.dataset.tokens);
  assert.equal(tokens, '15496,11,314,1101,257,3303,2746,11', "nanoGPT's prompt through GPT-2's BPE");
  assert.deepEqual(errors, [], 'console errors');
  await page.close();
});

test('typing into a checkpoint: the model runs in the forward worker when typing pauses, and the values shown are the final text\'s', async () => {
  const folder = `http://127.0.0.1:${models.address().port}/tiny-gpt2/`;
  const { page, errors } = await openReady(`/?weights=${encodeURIComponent(folder)}&text=${encodeURIComponent('Hello')}`,
    { width: 1280, height: 720 });
  const data = () => page.evaluate(() => ({ ...document.body.dataset }));
  // The pass and then its lens come from the worker; the page's own instance computed neither.
  await page.waitForFunction(() => document.body.dataset.shown?.endsWith(' lens'), null, { timeout: 60_000 });
  const before = await data();
  assert.equal(before.tokens, '15496');
  assert.match(before.shown, /^15496 -> \d+ lens$/);
  assert.equal(before.passes, '1', 'one pass, answered by the worker');
  // The model card's text box, below its title (src/render/overlay/live_input.rs).
  await page.mouse.click(TEXT_BOX.x, TEXT_BOX.y);
  // The app's frames for the click, in which egui gives the box the focus, before the keys.
  await page.evaluate(() => new Promise((drawn) => requestAnimationFrame(() => requestAnimationFrame(drawn))));
  await page.keyboard.press('End');
  const typed = ' world, how are you?';
  await page.keyboard.type(typed, { delay: 40 });
  const final = '15496,995,11,703,389,345,30';
  await page.waitForFunction((tokens) => document.body.dataset.tokens === tokens && document.body.dataset.shown?.endsWith(' lens'),
    final, { timeout: 60_000 }).catch(async () => assert.fail(`after typing: ${JSON.stringify(await data())}`));
  const after = await data();
  assert.ok(after.shown.startsWith(`${final} -> `), after.shown);
  // 40 ms between keys is well inside the 300 ms pause that starts a pass: the typing started one
  // pass (the final text's), two where the machine was slow enough to see a pause.
  const passes = Number(after.passes) - Number(before.passes);
  assert.ok(passes >= 1 && passes <= 2, `${passes} passes for ${typed.length} keystrokes`);
  // The same text opened afresh (a prefill of every position) predicts the same next token as the
  // typed one, whose last pass read the earlier positions from the cache where it could.
  const fresh = await openReady(`/?weights=${encodeURIComponent(folder)}&text=${encodeURIComponent(`Hello${typed}`)}`);
  await fresh.page.waitForFunction(() => document.body.dataset.shown?.endsWith(' lens'), null, { timeout: 60_000 });
  assert.equal(await fresh.page.evaluate(() => document.body.dataset.shown), after.shown);
  assert.deepEqual([...errors, ...fresh.errors], [], 'console errors');
  await Promise.all([page.close(), fresh.page.close()]);
});
