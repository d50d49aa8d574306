//! The numbers in the cells: the burn forward pass of the loaded weights on the current input, whose
//! activations `pages` packs with the weights into the value pages the block shader reads.
//!
//! The forward pass runs on the CPU (burn's ndarray backend) on its own thread, or in the browser
//! as an async task, so the app stays responsive while it runs; it reruns whenever the input or
//! the weights change.

use std::sync::{Arc, Mutex};

use async_channel::{Receiver, Sender, TryRecvError};

use bevy::prelude::*;

use crate::model::ablation::Ablation;
use crate::model::lens::{lens_streams, with_lens};
use crate::model::{Activations, BackendKind, LoadedModel, RecordedPass, Weights};

/// A forward pass to run: the weights (compared by identity, so the model is loaded once per set of
/// weights), the input tokens and the parts switched off.
pub struct ForwardRequest {
    pub generation: u64,
    pub weights: Arc<Weights>,
    pub tokens: Vec<usize>,
    pub ablation: Ablation,
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

/// The worker that runs forward passes, keeping the last loaded model: a thread natively, an async
/// task in the browser. It waits on its channel for work; the app only looks for results.
#[derive(Resource)]
pub struct ForwardWorker {
    requests: Sender<ForwardRequest>,
    results: Receiver<ForwardResult>,
    /// A result taken by `wait` and not yet by `poll`.
    waited: Mutex<Option<ForwardResult>>,
    generation: u64,
}

impl ForwardWorker {
    pub fn spawn() -> ForwardWorker {
        let (requests, request_receiver) = async_channel::unbounded::<ForwardRequest>();
        let (result_sender, results) = async_channel::unbounded();
        #[cfg(not(target_arch = "wasm32"))]
        std::thread::Builder::new()
            .name("llmviz-forward".into())
            .spawn(move || forward_thread(request_receiver, result_sender))
            .expect("the forward-pass thread starts");
        // The browser has no threads: an async task on the page's event loop runs the passes.
        #[cfg(target_arch = "wasm32")]
        bevy::tasks::AsyncComputeTaskPool::get_or_init(bevy::tasks::TaskPool::default)
            .spawn(browser::forward_task(request_receiver, result_sender))
            .detach();
        ForwardWorker { requests, results, waited: Mutex::new(None), generation: 0 }
    }

    /// Queues a forward pass and returns its generation; results of older generations are stale.
    pub fn request(&mut self, weights: Arc<Weights>, tokens: Vec<usize>, ablation: Ablation) -> u64 {
        self.generation += 1;
        let request = ForwardRequest { generation: self.generation, weights, tokens, ablation };
        // A send fails only when the worker has stopped, which `poll` then reports.
        let _ = self.requests.try_send(request);
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
    pub fn poll(&self) -> Vec<ForwardResult> {
        let mut finished: Vec<ForwardResult> =
            self.waited.lock().expect("forward results lock").take().into_iter().collect();
        loop {
            match self.results.try_recv() {
                Ok(result) => finished.push(result),
                Err(TryRecvError::Empty) => return finished,
                Err(TryRecvError::Closed) => {
                    if finished.is_empty() {
                        finished.push(ForwardResult {
                            generation: self.generation,
                            lens: false,
                            lens_follows: false,
                            activations: Err("the forward-pass thread stopped".into()),
                            non_finite: Vec::new(),
                        });
                    }
                    return finished;
                }
            }
        }
    }
}

/// The newest request waiting, skipping those overtaken while the last pass ran: only the newest
/// input matters.
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
    note: WeightsNote,
}

impl Runner {
    fn run(&mut self, request: &ForwardRequest) -> Result<Arc<Activations>, String> {
        if !self.loaded.as_ref().is_some_and(|(weights, _)| Arc::ptr_eq(weights, &request.weights)) {
            self.last = None;
            self.loaded = Some((request.weights.clone(), LoadedModel::new(&request.weights, BackendKind::Ndarray)));
        }
        let (_, model) = self.loaded.as_ref().expect("loaded above");
        let started = bevy::platform::time::Instant::now();
        let recorded = model.record_after(&request.tokens, &request.ablation, self.last.take());
        let recorded = recorded.map_err(|error| error.to_string())?;
        let mut activations = recorded.activations().clone();
        if !request.ablation.is_empty() {
            // The model's own output beside the ablated one, for the difference the scene shows.
            let own = model.activations(&request.tokens).map_err(|error| error.to_string())?;
            let mut compared = (*activations).clone();
            compared.unablated_probs = own.tensors.get("probs").cloned();
            activations = Arc::new(compared);
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
    fn lens(&self, pass: &ForwardResult, newer: impl Fn() -> bool) -> Option<ForwardResult> {
        let (_, model) = self.loaded.as_ref()?;
        let activations = pass.activations.as_ref().ok()?;
        let started = bevy::platform::time::Instant::now();
        let mut layers = Vec::new();
        for stream in lens_streams(model.config()) {
            if newer() {
                return None;
            }
            layers.push(model.lens_stream(activations, stream, LENS_TOP)?);
        }
        bevy::log::info!("logit lens of {} streams: {:.1} ms", layers.len(), started.elapsed().as_secs_f32() * 1000.0);
        let activations = Ok(Arc::new(with_lens(activations, layers)));
        Some(ForwardResult {
            generation: pass.generation,
            lens: true,
            lens_follows: false,
            activations,
            non_finite: pass.non_finite.clone(),
        })
    }
}

/// The likeliest tokens the lens keeps per position: the hover card shows them.
const LENS_TOP: usize = 5;

/// Natively the passes run on the CPU (burn's ndarray backend). burn's wgpu backend keeps a device
/// thread that wakes every 150 µs for as long as the process lives (cubecl's device channel):
/// 13 % of a core while the app has nothing to do. On the CPU nano's pass takes milliseconds, and
/// GPT-2's a few seconds, once per input.
#[cfg(not(target_arch = "wasm32"))]
fn forward_thread(requests: Receiver<ForwardRequest>, results: Sender<ForwardResult>) {
    let mut runner = Runner::default();
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
        pass.lens_follows = pass.activations.is_ok();
        if results.send_blocking(pass.clone()).is_err() {
            return;
        }
        // A panic in the lens loses the lens only; the pass was sent.
        let lens = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            runner.lens(&pass, || !requests.is_empty() || results.is_closed())
        }));
        if let Ok(Some(lens)) = lens
            && results.send_blocking(lens).is_err()
        {
            return;
        }
    }
}

/// The browser's forward passes, on the CPU as natively (see `forward_thread`): an async task on
/// the page's event loop, which a pass of nano holds for a few milliseconds.
#[cfg(target_arch = "wasm32")]
mod browser {
    use async_channel::{Receiver, Sender};

    use super::{ForwardRequest, ForwardResult, Runner, newest};
    use crate::model::Activations;

    /// The most multiply-adds the page's lens may take on its one thread, about 0.1 s.
    const PAGE_LENS_WORK: usize = 1 << 27;

    /// The multiply-adds of a pass's lens: every stream's positions times the unembedding.
    fn lens_work(pass: &Activations) -> usize {
        let streams = pass.tensors.keys().filter(|name| name.as_str() == "x" || name.ends_with(".mlp_resid")).count();
        let logits = pass.get("logits").map_or(0, |logits| logits.data.len());
        let width = pass.get("x").map_or(0, |x| x.shape.get(1).copied().unwrap_or(0));
        streams * logits * width
    }

    pub async fn forward_task(requests: Receiver<ForwardRequest>, results: Sender<ForwardResult>) {
        let mut runner = Runner::default();
        while let Ok(request) = requests.recv().await {
            let request = newest(request, &requests);
            let activations = runner.run(&request);
            let mut pass = runner.answer(&request, activations);
            // The page has one thread, which draws too: the lens runs here only where it is
            // quick (nano's is 4 unembeddings of 3 tokens; GPT-2's of 64 tokens are seconds).
            let cheap = pass.activations.as_ref().is_ok_and(|pass| lens_work(pass) <= PAGE_LENS_WORK);
            pass.lens_follows = cheap;
            if results.send(pass.clone()).await.is_err() {
                return;
            }
            if cheap
                && let Some(lens) = runner.lens(&pass, || !requests.is_empty())
                && results.send(lens).await.is_err()
            {
                return;
            }
        }
    }
}
