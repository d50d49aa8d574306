//! The numbers in the cells: the burn forward pass of the loaded weights on the current input, packed
//! with the weights into the one value buffer the block shader reads.
//!
//! The forward pass runs on the CPU (burn's ndarray backend) on its own thread, or in the browser
//! as an async task, so the app stays responsive while it runs; it reruns whenever the input or
//! the weights change.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_channel::{Receiver, Sender, TryRecvError};

use bevy::prelude::*;

use crate::layout::Layout;
use crate::model::{Activations, NamedTensor, Weights, is_masked_score, unravel};
#[cfg(not(target_arch = "wasm32"))]
use crate::model::{BackendKind, LoadedModel};

/// Every value the blocks show, in one flat buffer, and where each tensor starts in it: what the
/// value buffer holds.
#[derive(Resource, Clone, Debug, Default)]
pub struct PackedValues {
    pub values: Vec<f32>,
    pub tensors: HashMap<String, PackedTensor>,
    /// Values left out because they would not fit the buffer (their blocks show no values):
    /// GPT-2's weights, and the largest activations of a long text.
    pub left_out: u64,
}

/// The most values one buffer holds: WebGPU's default `maxStorageBufferBindingSize`, 128 MiB of
/// f32. GPT-2's 124M weights do not fit; its activations (at 64 tokens, some 20M) do.
pub const MAX_PACKED_VALUES: usize = (128 << 20) / 4;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PackedTensor {
    /// Index of the tensor's first element in `PackedValues::values`.
    pub base: usize,
    /// Multiplies a value so that ±1 is full colour.
    pub scale: f32,
    /// False while an activation waits for its forward pass (its room is NaN).
    pub computed: bool,
}

/// Packs the tensor of every block that has one: parameters from `weights`, activations from
/// `activations`. Each tensor is stored in the layout's shape (row-major), which for activations is
/// the full context (T = block_size); positions the input does not reach are NaN, which the shader
/// draws as empty cells. With weights, room for every activation is kept even before the forward
/// pass has run, so the buffer keeps its size (and its GPU buffer) when the activations arrive.
/// Weights are left out when they would take the buffer past `MAX_PACKED_VALUES`.
pub fn pack_values(layout: &Layout, weights: Option<&Weights>, activations: Option<&Activations>) -> PackedValues {
    let mut packed = PackedValues::default();
    let Some(weights) = weights else { return packed };
    let mut seen = std::collections::HashSet::new();
    let tensors: Vec<(&str, Vec<usize>)> = layout
        .blocks
        .iter()
        .filter(|block| seen.insert(block.tensor.as_str()))
        .map(|block| (block.tensor.as_str(), block.tensor_shape()))
        .collect();
    // Activations first: they are what a forward pass shows. Weights follow while they fit, all
    // or none, so that a model's weights are either all drawn or visibly not.
    let (params, activation_tensors): (Vec<_>, Vec<_>) = tensors.into_iter().partition(|(name, _)| weights.tensors.contains_key(*name));
    for (name, shape) in &activation_tensors {
        let size = shape.iter().product::<usize>();
        if packed.values.len() + size > MAX_PACKED_VALUES {
            packed.left_out += size as u64;
            continue;
        }
        pack_tensor(&mut packed, name, shape, activations.and_then(|a| a.get(name)));
    }
    let param_values: usize = params.iter().map(|(_, shape)| shape.iter().product::<usize>()).sum();
    if packed.values.len() + param_values > MAX_PACKED_VALUES {
        packed.left_out += param_values as u64;
        return packed;
    }
    for (name, shape) in &params {
        pack_tensor(&mut packed, name, shape, weights.tensors.get(*name));
    }
    packed
}

/// Writes a tensor's new values where `pack_values` put it (an output reshaped by sampling), with
/// its colour scale; a tensor not packed (or of another shape) is left as it is.
pub fn repack(packed: &mut PackedValues, layout: &Layout, name: &str, tensor: &NamedTensor) {
    let Some(entry) = packed.tensors.get(name).copied() else { return };
    let Some(shape) = layout.blocks.iter().find(|block| block.tensor == name).map(|block| block.tensor_shape()) else { return };
    let marked = mark_non_finite(name, tensor);
    let Some(data) = pad_to(&marked, &shape) else { return };
    let Some(room) = packed.values.get_mut(entry.base..entry.base + data.len()) else { return };
    room.copy_from_slice(&data);
    packed.tensors.insert(name.to_string(), PackedTensor { scale: colour_scale(&marked.data), computed: true, ..entry });
}

/// Appends one tensor in the layout's shape; one that has not been computed yet keeps NaN room.
/// A tensor whose shape cannot sit in the layout's is left out: its blocks show no values.
fn pack_tensor(packed: &mut PackedValues, name: &str, shape: &[usize], source: Option<&NamedTensor>) {
    let marked = source.map(|source| mark_non_finite(name, source));
    let (data, computed, scale) = match marked.as_deref() {
        Some(source) => match pad_to(source, shape) {
            Some(padded) => (padded, true, colour_scale(&source.data)),
            None => return,
        },
        None => (vec![f32::NAN; shape.iter().product()], false, 1.0),
    };
    let base = packed.values.len();
    packed.values.extend_from_slice(&data);
    packed.tensors.insert(name.to_string(), PackedTensor { base, scale, computed });
}

/// What the shader draws as a non-finite value (in its own colour): +inf. NaN stays for cells with
/// no value (past the input) and −inf for the scores the causal mask hides, both drawn empty, so
/// every NaN and infinity of the data itself becomes +inf.
pub const NON_FINITE_MARK: f32 = f32::INFINITY;

/// `tensor` with its non-finite values (the mask's −inf scores apart) set to `NON_FINITE_MARK`;
/// borrowed as it is when it has none, as it almost always has.
fn mark_non_finite<'a>(name: &str, tensor: &'a NamedTensor) -> std::borrow::Cow<'a, NamedTensor> {
    if tensor.data.iter().all(|v| v.is_finite()) {
        return std::borrow::Cow::Borrowed(tensor);
    }
    let mut marked = tensor.clone();
    for (offset, value) in marked.data.iter_mut().enumerate() {
        let meant = *value == f32::NEG_INFINITY && is_masked_score(name, &unravel(offset, &tensor.shape));
        if !value.is_finite() && !meant {
            *value = NON_FINITE_MARK;
        }
    }
    std::borrow::Cow::Owned(marked)
}

/// `tensor` placed in a row-major array of `shape` (same rank): NaN where the tensor is shorter,
/// cut where it is longer (a checkpoint's position embedding beyond the drawn tokens).
fn pad_to(tensor: &NamedTensor, shape: &[usize]) -> Option<Vec<f32>> {
    if tensor.shape == shape {
        return Some(tensor.data.clone());
    }
    if tensor.shape.len() != shape.len() {
        return None;
    }
    let mut padded = vec![f32::NAN; shape.iter().product()];
    let mut index = vec![0usize; shape.len()];
    for &value in &tensor.data {
        if index.iter().zip(shape).all(|(&i, &n)| i < n) {
            let offset = index.iter().zip(shape).fold(0, |offset, (&i, &n)| offset * n + i);
            padded[offset] = value;
        }
        // Next multi-index of the source tensor, last dimension fastest.
        for axis in (0..index.len()).rev() {
            index[axis] += 1;
            if index[axis] < tensor.shape[axis] {
                break;
            }
            index[axis] = 0;
        }
    }
    Some(padded)
}

/// The scale that makes a tensor's typical large values full colour: 1 / (2.5 × RMS of its finite values).
/// A per-tensor scale keeps weights (about 0.02) and logits (about 10) equally readable.
fn colour_scale(data: &[f32]) -> f32 {
    let (sum, count) = data
        .iter()
        .filter(|v| v.is_finite())
        .fold((0.0f64, 0usize), |(sum, count), &v| (sum + (v as f64) * (v as f64), count + 1));
    if count == 0 || sum == 0.0 {
        return 1.0;
    }
    let rms = (sum / count as f64).sqrt();
    (1.0 / (2.5 * rms)) as f32
}

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
            model.activations(&request.tokens).map_err(|error| error.to_string())
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
            let activations = model.activations(&request.tokens).map_err(|error| format!("the forward pass failed: {error}"));
            info!("forward pass of {} tokens: {:.1} ms", request.tokens.len(), started.elapsed().as_secs_f32() * 1000.0);
            let non_finite = note.report(&request.weights, &activations);
            if results.send(ForwardResult { generation: request.generation, activations, non_finite }).await.is_err() {
                return;
            }
        }
    }
}
