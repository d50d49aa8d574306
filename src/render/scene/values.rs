//! The numbers in the cells: the burn forward pass of the loaded weights on the current input, whose
//! activations `pages` packs with the weights into the value pages the block shader reads.
//!
//! The forward pass runs on its own thread natively, on the GPU Bevy renders with or on the CPU
//! (`compute` decides), and in the page on the CPU in a Web Worker (`page`), so the app stays
//! responsive while it runs; it reruns whenever the input or the weights change.

use std::sync::{Arc, Mutex};

#[cfg(not(target_arch = "wasm32"))]
use async_channel::{Receiver, Sender, TryRecvError};
use bevy::prelude::*;
use bevy::winit::{EventLoopProxy, EventLoopProxyWrapper, WinitUserEvent};
use serde::{Deserialize, Serialize};

use crate::model::ablation::Ablation;
use crate::model::lens::{LensLayer, with_lens};
use crate::model::training::Moments;
use crate::model::transfer::{LensHeader, Numbers, PassHeader, Reader};
use crate::model::{Activations, BackendKind, LoadedModel, RecordedPass, Weights};
#[cfg(not(target_arch = "wasm32"))]
use crate::render::scene::compute::Compute;

#[cfg(target_arch = "wasm32")]
pub mod page;

/// A forward pass to run: the weights (compared by identity, so the model is loaded once per set of
/// weights), the input tokens and the parts switched off.
pub struct ForwardRequest {
    pub generation: u64,
    pub weights: Arc<Weights>,
    pub tokens: Vec<usize>,
    pub ablation: Ablation,
    /// A training step from these moments instead of a pass (gradient mode).
    pub training: Option<Arc<Moments>>,
}

/// What a pass runs on: the input, the parts switched off, and in gradient mode the moments a
/// training step starts from.
pub struct PassInput {
    pub tokens: Vec<usize>,
    pub ablation: Ablation,
    pub training: Option<Arc<Moments>>,
}

#[derive(Clone)]
pub struct ForwardResult {
    pub generation: u64,
    /// The same pass again with its logit lens read, sent after it: only its lens is new.
    pub lens: bool,
    /// A pass whose lens the worker reads next and sends after it, unless a newer input comes first.
    pub lens_follows: bool,
    pub activations: Result<Arc<Activations>, String>,
    /// What is not a number in the weights or in this pass, first of each, for the user to read
    /// (found here, off the app's thread: GPT-2 has 124M weights and 20M activations to look through).
    pub non_finite: Vec<String>,
}

/// The non-finite weights (loaded with `--allow-nonfinite`) of the weights last run, in words:
/// looked for once per set of weights, not once per input.
#[derive(Default)]
struct WeightsNote(Option<(Arc<Weights>, Option<String>)>);

impl WeightsNote {
    /// The first non-finite weight of `weights` and the first non-finite activation of this pass.
    fn report(&mut self, weights: &Arc<Weights>, activations: &Result<Arc<Activations>, String>) -> Vec<String> {
        if !self.0.as_ref().is_some_and(|(noted, _)| Arc::ptr_eq(noted, weights)) {
            self.0 = Some((weights.clone(), weights.non_finite_summary()));
        }
        let mut report: Vec<String> = self.0.as_ref().and_then(|(_, note)| note.clone()).into_iter().collect();
        if let Ok(activations) = activations
            && let Some(first) = activations.first_non_finite(&weights.config)
        {
            report.push(first.to_string());
        }
        report
    }
}

/// The worker that runs forward passes, keeping the last loaded model: a thread natively, a Web
/// Worker running a second instance of llmviz's wasm in the page (`page`). It waits for work;
/// the app only looks for results, and is woken when one arrives.
#[derive(Resource)]
pub struct ForwardWorker {
    #[cfg(not(target_arch = "wasm32"))]
    requests: Sender<ForwardRequest>,
    #[cfg(not(target_arch = "wasm32"))]
    results: Receiver<ForwardResult>,
    /// A result taken by `wait` and not yet by `poll`.
    #[cfg(not(target_arch = "wasm32"))]
    waited: Mutex<Option<ForwardResult>>,
    #[cfg(target_arch = "wasm32")]
    page: page::PageForward,
    /// A training step asked of the page, refused: its worker has no autodiff.
    #[cfg(target_arch = "wasm32")]
    refused: Mutex<Option<ForwardResult>>,
    /// Wakes the app's event loop when a result arrives: the app draws no frame while idle, and
    /// a pass (or its lens) may finish long after the last input.
    waker: Waker,
    generation: u64,
}

/// The app's event loop, once it exists, for the worker to wake.
#[derive(Clone, Default)]
pub struct Waker(Arc<Mutex<Option<EventLoopProxy<WinitUserEvent>>>>);

impl Waker {
    pub fn wake(&self) {
        if let Some(proxy) = self.0.lock().expect("waker lock").as_ref() {
            // Fails only once the event loop has ended, when there is nothing left to wake.
            let _ = proxy.send_event(WinitUserEvent::WakeUp);
        }
    }
}

/// Hands the worker the event loop to wake (offscreen rendering has none, and needs none).
pub fn give_waker(worker: Res<ForwardWorker>, proxy: Option<Res<EventLoopProxyWrapper>>) {
    if let Some(proxy) = proxy {
        *worker.waker.0.lock().expect("waker lock") = Some((**proxy).clone());
    }
}

impl ForwardWorker {
    /// The thread, running each pass where `compute` says when it starts.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn spawn(compute: Compute) -> ForwardWorker {
        let (requests, request_receiver) = async_channel::unbounded::<ForwardRequest>();
        let (result_sender, results) = async_channel::unbounded();
        let waker = Waker::default();
        let woken = waker.clone();
        let runner = Runner { compute, ..Runner::default() };
        std::thread::Builder::new()
            .name("llmviz-forward".into())
            .spawn(move || forward_thread(runner, request_receiver, result_sender, woken))
            .expect("the forward-pass thread starts");
        ForwardWorker { requests, results, waited: Mutex::new(None), waker, generation: 0 }
    }

    #[cfg(target_arch = "wasm32")]
    pub fn spawn() -> ForwardWorker {
        let waker = Waker::default();
        ForwardWorker { page: page::PageForward::new(waker.clone()), refused: Mutex::new(None), waker, generation: 0 }
    }

    /// Queues a forward pass and returns its generation; results of older generations are stale.
    pub fn request(&mut self, weights: Arc<Weights>, input: PassInput) -> u64 {
        self.generation += 1;
        let PassInput { tokens, ablation, training } = input;
        let request = ForwardRequest { generation: self.generation, weights, tokens, ablation, training };
        #[cfg(not(target_arch = "wasm32"))]
        // A send fails only when the worker has stopped, which `poll` then reports.
        let _ = self.requests.try_send(request);
        #[cfg(target_arch = "wasm32")]
        if request.training.is_some() {
            let refusal = "gradient mode needs the native app: the page's build leaves burn's autodiff out";
            *self.refused.lock().expect("refused lock") = Some(ForwardResult::failed(self.generation, refusal.into()));
            self.waker.wake();
        } else {
            self.page.request(&request);
        }
        self.generation
    }

    /// Blocks until a pass has finished (or the worker has stopped), leaving its result to `poll`:
    /// for offscreen rendering, which has nothing to draw until then. Natively only: the browser
    /// cannot block.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn wait(&self) {
        let mut waited = self.waited.lock().expect("forward results lock");
        if waited.is_none() {
            *waited = self.results.recv_blocking().ok();
        }
    }

    /// The passes (and lenses) finished since the last call, in the order they finished: a lens
    /// follows its own pass, so none may be dropped for a newer message.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn poll(&self) -> Vec<ForwardResult> {
        let mut finished: Vec<ForwardResult> =
            self.waited.lock().expect("forward results lock").take().into_iter().collect();
        loop {
            match self.results.try_recv() {
                Ok(result) => finished.push(result),
                Err(TryRecvError::Empty) => return finished,
                Err(TryRecvError::Closed) => {
                    if finished.is_empty() {
                        finished.push(ForwardResult::failed(self.generation, "the forward-pass thread stopped".into()));
                    }
                    return finished;
                }
            }
        }
    }

    #[cfg(target_arch = "wasm32")]
    pub fn poll(&self) -> Vec<ForwardResult> {
        let mut finished = self.page.poll(self.generation);
        finished.extend(self.refused.lock().expect("refused lock").take());
        finished
    }
}

impl ForwardResult {
    pub fn failed(generation: u64, message: String) -> ForwardResult {
        ForwardResult {
            generation,
            lens: false,
            lens_follows: false,
            activations: Err(message),
            non_finite: Vec::new(),
        }
    }
}

/// Everything of a result but its numbers, as the page's forward worker sends it (`transfer`).
#[derive(Serialize, Deserialize)]
pub struct ResultHeader {
    pub generation: u64,
    pub lens: bool,
    pub lens_follows: bool,
    pub error: Option<String>,
    pub non_finite: Vec<String>,
    /// A pass's activations; none for a lens, whose layers alone are new.
    pub pass: Option<PassHeader>,
    pub layers: Vec<LensHeader>,
}

/// A result as one JSON header and one array of numbers: a lens as its layers only, since the
/// receiver has its pass.
pub fn pack_result(result: &ForwardResult) -> (String, Vec<f32>) {
    let mut numbers = Numbers::default();
    let (pass, layers) = match &result.activations {
        Ok(activations) if result.lens => (None, numbers.lens(&activations.lens)),
        Ok(activations) => (Some(numbers.pass(activations)), Vec::new()),
        Err(_) => (None, Vec::new()),
    };
    let header = ResultHeader {
        generation: result.generation,
        lens: result.lens,
        lens_follows: result.lens_follows,
        error: result.activations.as_ref().err().cloned(),
        non_finite: result.non_finite.clone(),
        pass,
        layers,
    };
    (serde_json::to_string(&header).expect("a result header serializes"), numbers.0)
}

/// A result `pack_result` packed; a lens joins `pass`, the pass of its generation, and is None
/// without it. What cannot be read is a failed pass, in words: a header that does not parse names
/// no generation, and fails the `newest` pass asked for, which the app waits on.
pub fn unpack_result<F: FnMut(usize, usize) -> Vec<f32>>(
    header: &str,
    mut numbers: Reader<F>,
    pass: Option<&ForwardResult>,
    newest: u64,
) -> Option<ForwardResult> {
    let header: ResultHeader = match serde_json::from_str(header) {
        Ok(header) => header,
        Err(error) => return Some(ForwardResult::failed(newest, format!("the forward worker's answer: {error}"))),
    };
    let activations = match (header.error, header.pass) {
        (Some(error), _) => Err(error),
        (None, _) if header.lens => {
            let pass = pass.filter(|pass| pass.generation == header.generation)?;
            let layers = numbers.lens(header.layers);
            let layers = layers.map_err(|error| error!("the forward worker's lens: {error}")).ok()?;
            return lens_result(pass, layers);
        }
        (None, Some(pass)) => numbers.pass(pass).map(Arc::new),
        (None, None) => Err("the forward worker's answer holds no activations".into()),
    };
    let activations = activations.map_err(|error| format!("the forward worker's answer: {error}"));
    Some(ForwardResult {
        generation: header.generation,
        lens: false,
        lens_follows: header.lens_follows,
        activations,
        non_finite: header.non_finite,
    })
}

/// The newest request waiting, skipping those overtaken while the last pass ran: only the newest
/// input matters.
#[cfg(not(target_arch = "wasm32"))]
fn newest(mut request: ForwardRequest, requests: &Receiver<ForwardRequest>) -> ForwardRequest {
    while let Ok(newer) = requests.try_recv() {
        request = newer;
    }
    request
}

/// The model of the last weights and its last pass, which a longer input extends with a decode
/// step (only the new positions computed, the earlier keys and values read from its KV cache).
#[derive(Default)]
struct Runner {
    loaded: Option<(Arc<Weights>, LoadedModel)>,
    last: Option<RecordedPass>,
    /// With parts switched off, the model's own pass on the same tokens, whose lens the pass's
    /// lens is compared with.
    own: Option<Activations>,
    note: WeightsNote,
    /// Where passes run: the model moves to the renderer's GPU once that is chosen.
    #[cfg(not(target_arch = "wasm32"))]
    compute: Compute,
}

impl Runner {
    /// Runs `model` for `weights` from now on, whose non-finite values `note` tells (the page's
    /// worker builds its models itself, moving the values in: see `page::Loaded`).
    #[cfg(target_arch = "wasm32")]
    fn install(&mut self, weights: Arc<Weights>, model: LoadedModel, note: Option<String>) {
        if self.loaded.as_ref().is_some_and(|(loaded, _)| Arc::ptr_eq(loaded, &weights)) {
            return;
        }
        self.last = None;
        self.note.0 = Some((weights.clone(), note));
        self.loaded = Some((weights, model));
    }

    fn run(&mut self, request: &ForwardRequest) -> Result<Arc<Activations>, String> {
        if let Some(moments) = &request.training {
            return training_pass(request, moments);
        }
        if !self
            .loaded
            .as_ref()
            .is_some_and(|(weights, model)| Arc::ptr_eq(weights, &request.weights) && self.placed(model))
        {
            self.last = None;
            self.loaded = Some((request.weights.clone(), self.load(&request.weights)));
        }
        let (_, model) = self.loaded.as_ref().expect("loaded above");
        let started = bevy::platform::time::Instant::now();
        let recorded = model.record_after(&request.tokens, &request.ablation, self.last.take());
        let recorded = recorded.map_err(|error| error.to_string())?;
        #[cfg(not(target_arch = "wasm32"))]
        if model.gpu_device().is_some() {
            self.compute.ran_on_gpu();
        }
        let mut activations = recorded.activations().clone();
        self.own = None;
        if !request.ablation.is_empty() {
            // The model's own pass beside the ablated one, for the difference the scene shows
            // (its output here, its streams for the lens).
            let own = model.activations(&request.tokens).map_err(|error| error.to_string())?;
            let mut compared = (*activations).clone();
            compared.unablated_probs = own.tensors.get("probs").cloned();
            activations = Arc::new(compared);
            self.own = Some(own);
        }
        bevy::log::info!(
            "forward pass of {} tokens ({} from the KV cache): {:.1} ms",
            request.tokens.len(),
            activations.cached,
            started.elapsed().as_secs_f32() * 1000.0
        );
        self.last = Some(recorded);
        Ok(activations)
    }

    /// The request's result, with what is not a number in it.
    fn answer(&mut self, request: &ForwardRequest, activations: Result<Arc<Activations>, String>) -> ForwardResult {
        let activations = activations.map_err(|message| format!("the forward pass failed: {message}"));
        let non_finite = self.note.report(&request.weights, &activations);
        ForwardResult { generation: request.generation, lens: false, lens_follows: false, activations, non_finite }
    }

    /// The pass again with its logit lens, read stream by stream after the pass was sent (GPT-2's
    /// is 13 unembeddings of every position, seconds on a CPU); None when `newer` says a newer
    /// input is waiting, which matters more, or when the pass failed.
    #[cfg(not(target_arch = "wasm32"))]
    fn lens(&self, pass: &ForwardResult, newer: impl Fn() -> bool) -> Option<ForwardResult> {
        let (_, model) = self.loaded.as_ref()?;
        let started = bevy::platform::time::Instant::now();
        let mut layers = Vec::new();
        for stream in crate::model::lens::lens_streams(model.config()) {
            if newer() {
                return None;
            }
            layers.push(self.lens_stream(pass, stream)?);
        }
        bevy::log::info!("logit lens of {} streams: {:.1} ms", layers.len(), started.elapsed().as_secs_f32() * 1000.0);
        lens_result(pass, layers)
    }

    /// The model of `weights` where passes run now: natively on the renderer's GPU once `compute`
    /// has chosen it, else on the CPU.
    fn load(&self, weights: &Weights) -> LoadedModel {
        #[cfg(not(target_arch = "wasm32"))]
        if let Some(device) = self.compute.gpu() {
            return LoadedModel::on_gpu(weights, &device);
        }
        LoadedModel::new(weights, BackendKind::Ndarray)
    }

    /// Whether `model` is where passes run now (a model loaded before the GPU was chosen moves).
    fn placed(&self, model: &LoadedModel) -> bool {
        #[cfg(not(target_arch = "wasm32"))]
        return model.gpu_device() == self.compute.gpu();
        #[cfg(target_arch = "wasm32")]
        return matches!(model, LoadedModel::Ndarray(_));
    }

    /// One stream of a pass's lens, with parts switched off its change against the model's own.
    fn lens_stream(&self, pass: &ForwardResult, stream: String) -> Option<LensLayer> {
        let (_, model) = self.loaded.as_ref()?;
        let activations = pass.activations.as_ref().ok()?;
        match &self.own {
            Some(own) => model.lens_stream_against(activations, own, stream, LENS_TOP),
            None => model.lens_stream(activations, stream, LENS_TOP),
        }
    }
}

/// Gradient mode: a training step on the request's input, on the CPU through burn's autodiff
/// (natively; the page's worker has no autodiff).
fn training_pass(request: &ForwardRequest, moments: &Moments) -> Result<Arc<Activations>, String> {
    #[cfg(not(target_arch = "wasm32"))]
    {
        use crate::train::step::{scene_example, training_step};
        let reads_text =
            crate::model::tokenizer::Tokenizer::of(&request.weights.config).is_some_and(|t| t.takes_free_text());
        let example = scene_example(reads_text, &request.tokens)?;
        let started = bevy::platform::time::Instant::now();
        let step = training_step::<burn::backend::Autodiff<crate::model::CpuBackend>>(
            &request.weights,
            moments,
            &example,
            crate::train::TrainOptions::default().learning_rate,
            &Default::default(),
        );
        bevy::log::info!(
            "training step on {} tokens: {:.1} ms",
            example.tokens.len(),
            started.elapsed().as_secs_f32() * 1000.0
        );
        Ok(Arc::new(step.into_activations()))
    }
    #[cfg(target_arch = "wasm32")]
    {
        let _ = (request, moments);
        Err("gradients are computed in the native app only".into())
    }
}

/// A pass's result again, with its lens.
fn lens_result(pass: &ForwardResult, layers: Vec<LensLayer>) -> Option<ForwardResult> {
    let activations = Ok(Arc::new(with_lens(pass.activations.as_ref().ok()?, layers)));
    Some(ForwardResult {
        generation: pass.generation,
        lens: true,
        lens_follows: false,
        activations,
        non_finite: pass.non_finite.clone(),
    })
}

/// The likeliest tokens the lens keeps per position: the hover card shows them.
const LENS_TOP: usize = 5;

/// The native worker: each newest request in turn, then its lens unless a newer request came.
#[cfg(not(target_arch = "wasm32"))]
fn forward_thread(
    mut runner: Runner,
    requests: Receiver<ForwardRequest>,
    results: Sender<ForwardResult>,
    waker: Waker,
) {
    while let Ok(request) = requests.recv_blocking() {
        let request = newest(request, &requests);
        let activations = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| runner.run(&request)))
            .unwrap_or_else(|panic| {
                runner.loaded = None;
                runner.last = None;
                let message = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "unknown error".into());
                Err(message)
            });
        let mut pass = runner.answer(&request, activations);
        // A training step's pass is drawn as gradients, which have no lens.
        pass.lens_follows = pass.activations.is_ok() && request.training.is_none();
        if results.send_blocking(pass.clone()).is_err() {
            return;
        }
        waker.wake();
        // A panic in the lens loses the lens only; the pass was sent.
        let lens = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            runner.lens(&pass, || !requests.is_empty() || results.is_closed())
        }));
        if let Ok(Some(lens)) = lens {
            if results.send_blocking(lens).is_err() {
                return;
            }
            waker.wake();
        }
    }
}
