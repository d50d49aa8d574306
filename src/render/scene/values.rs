//! The numbers in the cells: the burn forward pass of the loaded weights on the current input, whose
//! activations `pages` packs with the weights into the value pages the block shader reads.
//!
//! The forward pass runs on the CPU (burn's ndarray backend) on its own thread, or in the browser
//! as an async task, so the app stays responsive while it runs; it reruns whenever the input or
//! the weights change.

use std::sync::{Arc, Mutex};

use async_channel::{Receiver, Sender, TryRecvError};

use bevy::prelude::*;

use crate::model::{Activations, Weights};
#[cfg(not(target_arch = "wasm32"))]
use crate::model::{BackendKind, LoadedModel};

/// A forward pass to run: the weights (compared by identity, so the model is loaded once per set of
/// weights) and the input tokens.
pub struct ForwardRequest {
    pub generation: u64,
    pub weights: Arc<Weights>,
    pub tokens: Vec<usize>,
}

pub struct ForwardResult {
    pub generation: u64,
    pub activations: Result<Activations, String>,
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
    fn report(&mut self, weights: &Arc<Weights>, activations: &Result<Activations, String>) -> Vec<String> {
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
    pub fn request(&mut self, weights: Arc<Weights>, tokens: Vec<usize>) -> u64 {
        self.generation += 1;
        let request = ForwardRequest { generation: self.generation, weights, tokens };
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

    /// The newest finished pass, if any finished since the last call.
    pub fn poll(&self) -> Option<ForwardResult> {
        let mut newest = self.waited.lock().expect("forward results lock").take();
        loop {
            match self.results.try_recv() {
                Ok(result) => newest = Some(result),
                Err(TryRecvError::Empty) => return newest,
                Err(TryRecvError::Closed) => {
                    return newest.or(Some(ForwardResult {
                        generation: self.generation,
                        activations: Err("the forward-pass thread stopped".into()),
                        non_finite: Vec::new(),
                    }));
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

/// Natively the passes run on the CPU (burn's ndarray backend). burn's wgpu backend keeps a device
/// thread that wakes every 150 µs for as long as the process lives (cubecl's device channel):
/// 13 % of a core while the app has nothing to do. On the CPU nano's pass takes milliseconds, and
/// GPT-2's a few seconds, once per input.
#[cfg(not(target_arch = "wasm32"))]
fn forward_thread(requests: Receiver<ForwardRequest>, results: Sender<ForwardResult>) {
    let mut loaded: Option<(Arc<Weights>, LoadedModel)> = None;
    let mut note = WeightsNote::default();
    while let Ok(request) = requests.recv_blocking() {
        let request = newest(request, &requests);
        let activations = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let same_weights = loaded.as_ref().is_some_and(|(weights, _)| Arc::ptr_eq(weights, &request.weights));
            if !same_weights {
                loaded = Some((request.weights.clone(), LoadedModel::new(&request.weights, BackendKind::Ndarray)));
            }
            let (_, model) = loaded.as_ref().expect("loaded above");
            let started = std::time::Instant::now();
            let activations = model.activations(&request.tokens).map_err(|error| error.to_string());
            bevy::log::info!(
                "forward pass of {} tokens: {:.1} ms",
                request.tokens.len(),
                started.elapsed().as_secs_f32() * 1000.0
            );
            activations
        }))
        .unwrap_or_else(|panic| {
            loaded = None;
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "unknown error".into());
            Err(message)
        })
        .map_err(|message| format!("the forward pass failed: {message}"));
        let non_finite = note.report(&request.weights, &activations);
        if results.send_blocking(ForwardResult { generation: request.generation, activations, non_finite }).is_err() {
            return;
        }
    }
}

/// The browser's forward passes, on the CPU as natively (see `forward_thread`): an async task on
/// the page's event loop, which a pass of nano holds for a few milliseconds.
#[cfg(target_arch = "wasm32")]
mod browser {
    use std::sync::Arc;

    use async_channel::{Receiver, Sender};
    use bevy::log::info;

    use super::{ForwardRequest, ForwardResult, WeightsNote, newest};
    use crate::model::{BackendKind, LoadedModel, Weights};

    pub async fn forward_task(requests: Receiver<ForwardRequest>, results: Sender<ForwardResult>) {
        let mut loaded: Option<(Arc<Weights>, LoadedModel)> = None;
        let mut note = WeightsNote::default();
        while let Ok(request) = requests.recv().await {
            let request = newest(request, &requests);
            if !loaded.as_ref().is_some_and(|(weights, _)| Arc::ptr_eq(weights, &request.weights)) {
                loaded = Some((request.weights.clone(), LoadedModel::new(&request.weights, BackendKind::Ndarray)));
            }
            let (_, model) = loaded.as_ref().expect("loaded above");
            let started = bevy::platform::time::Instant::now();
            let activations =
                model.activations(&request.tokens).map_err(|error| format!("the forward pass failed: {error}"));
            info!(
                "forward pass of {} tokens: {:.1} ms",
                request.tokens.len(),
                started.elapsed().as_secs_f32() * 1000.0
            );
            let non_finite = note.report(&request.weights, &activations);
            if results.send(ForwardResult { generation: request.generation, activations, non_finite }).await.is_err() {
                return;
            }
        }
    }
}
