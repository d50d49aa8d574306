// The page's forward passes, off its main thread (src/render/scene/values/page.rs says why): a
// second instance of llmviz's wasm, compiled once by the page and posted here.
//
// Messages from the page, in order:
//   {kind: 'init', module}               the compiled WebAssembly.Module
//   {kind: 'weights', bytes}             weights as a safetensors file's bytes
//   {kind: 'page-weights', bytes, files} the checkpoint the page downloaded (bytes null after the first)
//   {kind: 'forward', generation, tokens, ablation}
// Answers: {kind, header, data, memory}: `kind` 'pass' or 'lens', `data` a Float32Array handed over
// with its buffer, `memory` this instance's wasm memory in bytes (the page counts both instances).
//
// Only the newest request is computed: requests that arrive while a pass runs wait in the event
// queue, and between a pass and each stream of its lens this yields to that queue, so a newer
// request replaces the older one and stops the lens.
import init, { ForwardWorker } from './llmviz.js';

let wasm = null;
let worker = null;
// Messages that arrived before the wasm was ready.
const early = [];
let latest = null;
let running = false;

const tick = () => new Promise((resolve) => setTimeout(resolve, 0));

function post(answer, kind) {
  answer.kind = kind;
  answer.memory = wasm.memory.buffer.byteLength;
  self.postMessage(answer, [answer.data.buffer]);
}

// A pass that trapped (a panic aborts in wasm) leaves this instance unusable: every request from
// then on is answered with the same failure, which the app shows.
let broken = null;

function failed(generation, why) {
  const header = JSON.stringify({ generation, lens: false, lens_follows: false, error: why, non_finite: [], pass: null, layers: [] });
  self.postMessage({ kind: 'pass', header, data: new Float32Array(0), memory: wasm?.memory.buffer.byteLength ?? 0 });
}

async function run() {
  if (running || !worker) return;
  running = true;
  while (latest) {
    const request = latest;
    latest = null;
    if (broken) {
      failed(request.generation, broken);
      continue;
    }
    try {
      post(worker.forward(request.generation, request.tokens, request.ablation), 'pass');
      // Lets requests that came during the pass in before the lens starts.
      await tick();
      while (!latest && worker.lens_pending()) {
        const lens = worker.lens_step();
        if (lens) post(lens, 'lens');
        await tick();
      }
    } catch (error) {
      broken = `the forward pass stopped: ${error}`;
      failed(request.generation, broken);
    }
  }
  running = false;
}

function receive(message) {
  try {
    if (message.kind === 'weights') {
      worker.load(message.bytes);
    } else if (message.kind === 'page-weights') {
      const { name, config, tokenizer } = message.files;
      worker.load_page(message.bytes, name, config, tokenizer);
    } else if (message.kind === 'forward') {
      latest = message;
      run();
    }
  } catch (error) {
    broken = `the forward worker stopped: ${error}`;
  }
}

self.onmessage = async (event) => {
  const message = event.data;
  if (message.kind !== 'init') {
    if (worker) receive(message);
    else early.push(message);
    return;
  }
  try {
    wasm = await init({ module_or_path: message.module });
    worker = new ForwardWorker();
  } catch (error) {
    broken = `the forward worker did not start: ${error}`;
    worker = { forward: () => { throw new Error(broken); } };
  }
  early.splice(0).forEach(receive);
};
