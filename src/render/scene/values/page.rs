//! The page's forward passes, off its main thread. The page's one thread draws and answers input;
//! a forward pass of GPT-2 on it froze the page for seconds per keystroke. So the passes run in a
//! Web Worker (web/worker.js) holding a second instance of the same wasm (compiled once, by the
//! page): `PageWorker` is that instance's side, `PageForward` the app's.
//!
//! A worker rather than asynchronous WebGPU work: the pass runs on burn's CPU backend in the page
//! too (`model::GpuBackend` says why), and a worker cannot share the page's WebGPU device. Wasm
//! threads would need SharedArrayBuffer and a rebuilt std, which this build does not have.
//!
//! The two instances share no memory: weights go to the worker once per set (the checkpoint the
//! page downloaded as its bytes, handed over; the small built-in models serialized as
//! safetensors), and each result comes back as one JSON header and one `Float32Array`
//! (`transfer`). The rule of the native thread holds: only the newest input is computed, and a
//! lens gives up for a newer input between its streams (web/worker.js looks for one there).

use std::cell::RefCell;
use std::path::Path;
use std::sync::{Arc, Mutex, Weak};

use js_sys::{Float32Array, Object, Reflect};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;

use super::{ForwardRequest, ForwardResult, Runner, Waker, lens_result, pack_result, unpack_result};
use crate::model::ablation::Ablation;
use crate::model::checkpoint::Downloaded;
use crate::model::lens::{LensLayer, lens_streams};
use crate::model::transfer::Reader;
use crate::model::{LoadedModel, Weights};

#[wasm_bindgen]
extern "C" {
    /// `llmviz.forward(generation, tokens, ablation)`: web/index.html posts the request to the
    /// forward worker.
    #[wasm_bindgen(js_namespace = llmviz, js_name = forward)]
    fn page_forward(generation: f64, tokens: &[u32], ablation: &str);

    /// `llmviz.workerWeights(bytes)`: weights for the worker, as a safetensors file's bytes.
    #[wasm_bindgen(js_namespace = llmviz, js_name = workerWeights)]
    fn page_worker_weights(bytes: &[u8]);

    /// `llmviz.workerPageWeights()`: the worker opens the checkpoint the page downloaded, from the
    /// page's bytes the first time (they are handed over, not copied), from its own copy after.
    #[wasm_bindgen(js_namespace = llmviz, js_name = workerPageWeights)]
    fn page_worker_page_weights();

    /// `llmviz.forwardResults()`: the worker's answers since the last call, each `{header, data}`.
    #[wasm_bindgen(js_namespace = llmviz, js_name = forwardResults)]
    fn page_forward_results() -> js_sys::Array;
}

thread_local! {
    /// The weights decoded from the checkpoint the page downloaded, which the worker opens from
    /// the same bytes rather than from a copy of these (500 MB for GPT-2).
    static PAGE_WEIGHTS: RefCell<Weak<Weights>> = const { RefCell::new(Weak::new()) };
    /// The app's event loop, for the page to wake when an answer arrives (`wake`).
    static WAKER: RefCell<Option<Waker>> = const { RefCell::new(None) };
}

/// Marks `weights` as those of the checkpoint the page downloaded.
pub fn set_page_weights(weights: &Arc<Weights>) {
    PAGE_WEIGHTS.with(|page| *page.borrow_mut() = Arc::downgrade(weights));
}

/// Wakes the app: the page calls it when the worker has answered.
pub fn wake() {
    WAKER.with(|waker| waker.borrow().as_ref().map(Waker::wake));
}

/// The app's side: requests posted to the worker, answers read back.
pub struct PageForward {
    /// The weights the worker holds.
    sent: Weak<Weights>,
    /// The last pass read back, which its lens joins.
    pass: Mutex<Option<ForwardResult>>,
}

impl PageForward {
    pub fn new(waker: Waker) -> PageForward {
        WAKER.with(|slot| *slot.borrow_mut() = Some(waker));
        PageForward { sent: Weak::new(), pass: Mutex::new(None) }
    }

    pub fn request(&mut self, request: &ForwardRequest) {
        if !self.sent.upgrade().is_some_and(|sent| Arc::ptr_eq(&sent, &request.weights)) {
            let page = PAGE_WEIGHTS.with(|page| page.borrow().upgrade());
            if page.is_some_and(|page| Arc::ptr_eq(&page, &request.weights)) {
                page_worker_page_weights();
            } else {
                page_worker_weights(&request.weights.to_safetensors());
            }
            self.sent = Arc::downgrade(&request.weights);
        }
        let tokens: Vec<u32> = request.tokens.iter().map(|&token| token as u32).collect();
        let ablation = serde_json::to_string(&request.ablation).expect("an ablation serializes");
        page_forward(request.generation as f64, &tokens, &ablation);
    }

    /// The answers that arrived since the last call, each tensor copied once out of the page's
    /// array; `newest` is the generation last asked for.
    pub fn poll(&self, newest: u64) -> Vec<ForwardResult> {
        let mut finished = Vec::new();
        for answer in page_forward_results().iter() {
            let field = |name: &str| Reflect::get(&answer, &JsValue::from_str(name)).unwrap_or(JsValue::UNDEFINED);
            let header = field("header").as_string().unwrap_or_default();
            let data: Float32Array = field("data").dyn_into().unwrap_or_else(|_| Float32Array::new_with_length(0));
            let numbers = Reader {
                len: data.length() as usize,
                read: |offset: usize, count: usize| data.subarray(offset as u32, (offset + count) as u32).to_vec(),
            };
            let mut pass = self.pass.lock().expect("last pass lock");
            if let Some(result) = unpack_result(&header, numbers, pass.as_ref(), newest) {
                if !result.lens {
                    *pass = Some(result.clone());
                }
                finished.push(result);
            }
        }
        finished
    }
}

/// The worker's side: the model of the weights it was given, its last pass and that pass's lens,
/// read one stream per call so that web/worker.js can look for a newer input in between.
#[derive(Default)]
pub struct PageWorker {
    runner: Runner,
    current: Option<Result<Loaded, String>>,
    /// The checkpoint the page downloaded, kept while a built-in model is shown instead.
    page: Option<Result<Loaded, String>>,
    pass: Option<ForwardResult>,
    /// The streams whose lens is still to read, and those read.
    streams: Vec<String>,
    layers: Vec<LensLayer>,
}

/// A model the worker was given. The weights' values were moved into it, so that the worker holds
/// them once: `weights` keeps their config alone, and stands for them in requests.
#[derive(Clone)]
struct Loaded {
    weights: Arc<Weights>,
    model: LoadedModel,
    /// Their non-finite values in words, found before the values moved.
    note: Option<String>,
}

impl Loaded {
    fn new(weights: Result<Weights, String>) -> Result<Loaded, String> {
        let weights = weights?;
        let note = weights.non_finite_summary();
        let config_only =
            Weights { config: weights.config.clone(), tensors: Default::default(), source: weights.source.clone() };
        Ok(Loaded { weights: Arc::new(config_only), model: LoadedModel::from_owned(weights), note })
    }
}

impl PageWorker {
    /// Weights as the bytes of a safetensors file with its config (`Weights::to_safetensors`).
    pub fn load(&mut self, bytes: &[u8]) {
        let weights = Weights::from_safetensors(Path::new("weights.safetensors"), bytes);
        self.current = Some(Loaded::new(weights.map_err(|error| error.to_string())));
    }

    /// The checkpoint the page downloaded: from its bytes and the files beside it the first time,
    /// as the app read them; from the model kept since when `bytes` is None.
    pub fn load_page(&mut self, bytes: Option<Vec<u8>>, files: &Downloaded) {
        if let Some(bytes) = bytes {
            // The last model goes first: GPT-2's would otherwise share the memory with this one.
            self.current = None;
            self.runner = Runner::default();
            self.page = Some(Loaded::new(files.weights(bytes, crate::render::DEFAULT_MAX_TOKENS)));
        }
        let none = || Err("the page's checkpoint was not handed to the forward worker".to_string());
        self.current = Some(self.page.clone().unwrap_or_else(none));
    }

    /// Runs the pass of `tokens` with the parts `ablation` (JSON) names switched off: its answer.
    pub fn forward(&mut self, generation: u64, tokens: Vec<usize>, ablation: &str) -> Object {
        self.streams.clear();
        self.layers.clear();
        let loaded = self.current.clone().unwrap_or_else(|| Err("the forward worker was given no weights".into()));
        let ablation =
            serde_json::from_str::<Ablation>(ablation).map_err(|error| format!("the ablation sent: {error}"));
        let (loaded, ablation) = match (loaded, ablation) {
            (Ok(loaded), Ok(ablation)) => (loaded, ablation),
            (Err(error), _) | (_, Err(error)) => return answer(&ForwardResult::failed(generation, error)),
        };
        self.runner.install(loaded.weights.clone(), loaded.model, loaded.note);
        // The page computes no training step (gradient mode is native): passes only.
        let request = ForwardRequest { generation, weights: loaded.weights, tokens, ablation, training: None };
        let activations = self.runner.run(&request);
        let mut pass = self.runner.answer(&request, activations);
        pass.lens_follows = pass.activations.is_ok();
        if pass.lens_follows {
            self.streams = lens_streams(&request.weights.config);
            self.streams.reverse();
        }
        let packed = answer(&pass);
        self.pass = Some(pass);
        packed
    }

    /// Whether the last pass's lens has streams left to read.
    pub fn lens_pending(&self) -> bool {
        !self.streams.is_empty()
    }

    /// Reads the next stream of the lens: the lens's answer once the last is read.
    pub fn lens_step(&mut self) -> Option<Object> {
        let stream = self.streams.pop()?;
        let pass = self.pass.as_ref()?;
        let Some(layer) = self.runner.lens_stream(pass, stream) else {
            self.streams.clear();
            return None;
        };
        self.layers.push(layer);
        if !self.streams.is_empty() {
            return None;
        }
        lens_result(pass, std::mem::take(&mut self.layers)).map(|lens| answer(&lens))
    }
}

/// An answer as web/worker.js posts it: `{header, data}`, the numbers a `Float32Array` of their own.
fn answer(result: &ForwardResult) -> Object {
    let (header, numbers) = pack_result(result);
    let object = Object::new();
    let data = Float32Array::new_with_length(numbers.len() as u32);
    data.copy_from(&numbers);
    // Setting a property of a plain object cannot fail.
    let _ = Reflect::set(&object, &"header".into(), &header.into());
    let _ = Reflect::set(&object, &"data".into(), &data.into());
    object
}
