//! The GPT whose numbers everything else draws: config, weights, a burn forward pass and its activations.
//! Nothing here knows about Bevy.

pub mod ablation;
pub mod activations;
pub mod checkpoint;
pub mod config;
pub mod decode;
pub mod gpt;
pub mod hf_llama;
pub mod huggingface;
pub mod lens;
pub mod llama;
pub mod names;
pub mod record;
pub mod sampling;
pub mod tokenizer;
pub mod training;
pub mod transfer;
pub mod weights;

use burn::backend::NdArray;
#[cfg(not(target_arch = "wasm32"))]
use burn::backend::Wgpu;
use burn::backend::ndarray::NdArrayDevice;
#[cfg(not(target_arch = "wasm32"))]
use burn::backend::wgpu::WgpuDevice;
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};

pub use activations::{Activations, NamedTensor};
pub use config::GptConfig;
pub use gpt::Gpt;
pub use llama::Llama;
pub use record::Recorder;
pub use weights::{NonFinite, WeightError, Weights, unravel};

pub type CpuBackend = NdArray<f32>;
/// Native only: the page runs nano on the CPU, which is quicker there than compiling compute
/// pipelines, and leaves burn's wgpu backend out of the .wasm (a third of its size).
#[cfg(not(target_arch = "wasm32"))]
pub type GpuBackend = Wgpu;

/// Where the forward pass runs: the CPU (ndarray) or the GPU through wgpu (lavapipe where there is
/// no GPU; native only).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackendKind {
    Ndarray,
    #[cfg(not(target_arch = "wasm32"))]
    Wgpu,
}

/// A network of either kind of blocks, as its config's `arch` says: what training and the
/// forward pass take, so that neither cares which.
#[derive(burn::module::Module, Debug)]
#[allow(clippy::large_enum_variant, reason = "one network is held at a time, boxed by LoadedModel")]
pub enum Network<B: Backend> {
    Gpt(Gpt<B>),
    Llama(Llama<B>),
}

impl<B: Backend> Network<B> {
    /// Builds the model `weights.config` describes from checked weights.
    pub fn from_weights(weights: &Weights, device: &B::Device) -> Network<B> {
        if weights.config.arch.is_gpt2() {
            Network::Gpt(Gpt::from_weights(weights, device))
        } else {
            Network::Llama(Llama::from_weights(weights, device))
        }
    }

    /// `from_weights`, the values moved rather than copied (for a model whose weights are needed
    /// for nothing else: the page's forward worker holds one copy of GPT-2's 500 MB, not two).
    pub fn from_owned(weights: Weights, device: &B::Device) -> Network<B> {
        if weights.config.arch.is_gpt2() {
            Network::Gpt(Gpt::from_owned(weights, device))
        } else {
            Network::Llama(Llama::from_owned(weights, device))
        }
    }

    /// Token ids [B, T] -> logits [B, T, V], the intermediates kept in `rec` when it records.
    pub fn forward(&self, idx: Tensor<B, 2, Int>, rec: &mut Recorder<B>) -> Tensor<B, 3> {
        match self {
            Network::Gpt(model) => model.forward(idx, rec),
            Network::Llama(model) => model.forward(idx, rec),
        }
    }

    /// The final norm and the unembedding on a residual stream [B, T, C]: logits [B, T, V].
    pub fn readout(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        match self {
            Network::Gpt(model) => model.readout(x),
            Network::Llama(model) => model.readout(x),
        }
    }

    pub fn to_weights(&self) -> Weights {
        match self {
            Network::Gpt(model) => model.to_weights(),
            Network::Llama(model) => model.to_weights(),
        }
    }

    /// Every learned tensor, in the order of `names::parameter_shapes`.
    pub(crate) fn params_mut(&mut self) -> Vec<gpt::ParamSlot<'_, B>> {
        match self {
            Network::Gpt(model) => model.params_mut(),
            Network::Llama(model) => model.params_mut(),
        }
    }

    pub fn config(&self) -> &GptConfig {
        match self {
            Network::Gpt(model) => &model.config,
            Network::Llama(model) => &model.config,
        }
    }

    pub fn device(&self) -> B::Device {
        match self {
            Network::Gpt(model) => model.wte.device(),
            Network::Llama(model) => model.device(),
        }
    }
}

/// A model loaded onto one backend, ready to run inputs. Boxed: the two backends' models differ
/// in size, and only one is ever held.
#[derive(Clone)]
pub enum LoadedModel {
    Ndarray(Box<Network<CpuBackend>>),
    #[cfg(not(target_arch = "wasm32"))]
    Wgpu(Box<Network<GpuBackend>>),
}

impl LoadedModel {
    pub fn new(weights: &Weights, backend: BackendKind) -> LoadedModel {
        match backend {
            BackendKind::Ndarray => LoadedModel::Ndarray(Box::new(Network::from_weights(weights, &NdArrayDevice::Cpu))),
            #[cfg(not(target_arch = "wasm32"))]
            BackendKind::Wgpu => LoadedModel::Wgpu(Box::new(Network::from_weights(weights, &WgpuDevice::default()))),
        }
    }

    /// `new` on the CPU, moving the weights' values into the model (`Network::from_owned`).
    pub fn from_owned(weights: Weights) -> LoadedModel {
        LoadedModel::Ndarray(Box::new(Network::from_owned(weights, &NdArrayDevice::Cpu)))
    }

    pub fn config(&self) -> &GptConfig {
        match self {
            LoadedModel::Ndarray(model) => model.config(),
            #[cfg(not(target_arch = "wasm32"))]
            LoadedModel::Wgpu(model) => model.config(),
        }
    }

    /// The model on a given GPU device (the renderer's: see `render::scene::compute`).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn on_gpu(weights: &Weights, device: &WgpuDevice) -> LoadedModel {
        LoadedModel::Wgpu(Box::new(Network::from_weights(weights, device)))
    }

    /// The GPU device the model is on; None on the CPU.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn gpu_device(&self) -> Option<WgpuDevice> {
        match self {
            LoadedModel::Ndarray(_) => None,
            LoadedModel::Wgpu(model) => Some(model.device()),
        }
    }

    /// One sequence through the model, every intermediate kept.
    pub fn activations(&self, tokens: &[usize]) -> Result<Activations, ModelError> {
        self.activations_without(tokens, &ablation::Ablation::default())
    }

    /// The same with `ablation`'s parts switched off: the intermediates are the ablated pass's.
    pub fn activations_without(
        &self,
        tokens: &[usize],
        ablation: &ablation::Ablation,
    ) -> Result<Activations, ModelError> {
        check_tokens(self.config(), tokens)?;
        Ok(match self {
            LoadedModel::Ndarray(model) => record_forward(model.as_ref(), tokens, ablation),
            #[cfg(not(target_arch = "wasm32"))]
            LoadedModel::Wgpu(model) => {
                check_gpu_tokens(self.config(), tokens)?;
                record_forward(model.as_ref(), tokens, ablation)
            }
        })
    }

    /// The pass over `tokens` with `ablation`'s parts off, as a decode step after `previous` when
    /// that ran a prefix of them on this model with the same parts off (see `decode::record_after`).
    pub fn record_after(
        &self,
        tokens: &[usize],
        ablation: &ablation::Ablation,
        previous: Option<RecordedPass>,
    ) -> Result<RecordedPass, ModelError> {
        check_tokens(self.config(), tokens)?;
        Ok(match (self, previous) {
            (LoadedModel::Ndarray(model), previous) => {
                let previous = previous.and_then(RecordedPass::into_ndarray);
                RecordedPass::Ndarray(decode::record_after(model.as_ref(), tokens, ablation, previous))
            }
            #[cfg(not(target_arch = "wasm32"))]
            (LoadedModel::Wgpu(model), previous) => {
                check_gpu_tokens(self.config(), tokens)?;
                let previous = previous.and_then(RecordedPass::into_wgpu);
                RecordedPass::Wgpu(decode::record_after(model.as_ref(), tokens, ablation, previous))
            }
        })
    }

    /// The logit lens of a pass of this model: its final norm and unembedding on the residual
    /// stream after the embedding and after each layer, the `top` likeliest tokens per position,
    /// and each whole distribution when `full`.
    pub fn lens(&self, activations: &Activations, top: usize, full: bool) -> Vec<lens::LensLayer> {
        match self {
            LoadedModel::Ndarray(model) => lens::read_lens(model.as_ref(), activations, top, full),
            #[cfg(not(target_arch = "wasm32"))]
            LoadedModel::Wgpu(model) => lens::read_lens(model.as_ref(), activations, top, full),
        }
    }

    /// One stream of a pass through the lens (see `lens`); None when the pass did not record it.
    pub fn lens_stream(&self, activations: &Activations, stream: String, top: usize) -> Option<lens::LensLayer> {
        match self {
            LoadedModel::Ndarray(model) => lens::read_stream(model.as_ref(), activations, stream, top, false),
            #[cfg(not(target_arch = "wasm32"))]
            LoadedModel::Wgpu(model) => lens::read_stream(model.as_ref(), activations, stream, top, false),
        }
    }

    /// `lens_stream` of a pass with parts switched off, with its change against `own`, the
    /// model's own pass on the same tokens (see `lens::read_stream_against`).
    pub fn lens_stream_against(
        &self,
        activations: &Activations,
        own: &Activations,
        stream: String,
        top: usize,
    ) -> Option<lens::LensLayer> {
        match self {
            LoadedModel::Ndarray(model) => lens::read_stream_against(model.as_ref(), activations, own, stream, top),
            #[cfg(not(target_arch = "wasm32"))]
            LoadedModel::Wgpu(model) => lens::read_stream_against(model.as_ref(), activations, own, stream, top),
        }
    }

    /// Greedy continuation: each prediction is fed back, up to `count` tokens.
    /// The sort task's answer; the last prediction is not fed back once the context is full.
    pub fn generate(&self, tokens: &[usize], count: usize) -> Result<Vec<usize>, ModelError> {
        let steps = self.generate_without(tokens, count, &ablation::Ablation::default())?;
        Ok(steps.into_iter().map(|step| step.token).collect())
    }

    /// Greedy continuation with `ablation`'s parts switched off in every pass.
    pub fn generate_without(
        &self,
        tokens: &[usize],
        count: usize,
        ablation: &ablation::Ablation,
    ) -> Result<Vec<decode::DecodeStep>, ModelError> {
        self.continue_with(tokens, count, ablation, |logits| {
            // The likeliest token: the largest logit (the first of equals).
            let best =
                |best: (usize, f32), (id, &logit): (usize, &f32)| if logit > best.1 { (id, logit) } else { best };
            logits.iter().enumerate().fold((0, f32::NEG_INFINITY), best).0
        })
    }

    /// Sampled continuation: each next token drawn from the last position's distribution as
    /// `sampling` reshapes it, with `rng`, then fed back.
    pub fn generate_sampled(
        &self,
        tokens: &[usize],
        count: usize,
        sampling: &sampling::Sampling,
        rng: &mut sampling::SplitMix64,
        ablation: &ablation::Ablation,
    ) -> Result<Vec<decode::DecodeStep>, ModelError> {
        self.continue_with(tokens, count, ablation, |logits| {
            sampling::sample(&sampling::reshape(logits, sampling).probs, rng)
        })
    }

    /// The prompt once (the prefill), then a decode step per token fed back, its keys and values
    /// added to a cache of the earlier ones'.
    fn continue_with(
        &self,
        tokens: &[usize],
        count: usize,
        ablation: &ablation::Ablation,
        next_of: impl FnMut(&[f32]) -> usize,
    ) -> Result<Vec<decode::DecodeStep>, ModelError> {
        check_tokens(self.config(), tokens)?;
        Ok(match self {
            LoadedModel::Ndarray(model) => decode::decode(model.as_ref(), tokens, count, ablation, next_of),
            #[cfg(not(target_arch = "wasm32"))]
            LoadedModel::Wgpu(model) => {
                check_gpu_tokens(self.config(), tokens)?;
                decode::decode(model.as_ref(), tokens, count, ablation, next_of)
            }
        })
    }
}

/// A recorded pass with the keys and values it computed, on the backend that ran it.
pub enum RecordedPass {
    Ndarray(decode::Recorded<CpuBackend>),
    #[cfg(not(target_arch = "wasm32"))]
    Wgpu(decode::Recorded<GpuBackend>),
}

impl RecordedPass {
    /// The pass, when the CPU ran it (a pass of the other backend is not extended).
    fn into_ndarray(self) -> Option<decode::Recorded<CpuBackend>> {
        match self {
            RecordedPass::Ndarray(recorded) => Some(recorded),
            #[cfg(not(target_arch = "wasm32"))]
            RecordedPass::Wgpu(_) => None,
        }
    }

    #[cfg(not(target_arch = "wasm32"))]
    fn into_wgpu(self) -> Option<decode::Recorded<GpuBackend>> {
        match self {
            RecordedPass::Wgpu(recorded) => Some(recorded),
            RecordedPass::Ndarray(_) => None,
        }
    }

    pub fn activations(&self) -> &std::sync::Arc<Activations> {
        match self {
            RecordedPass::Ndarray(recorded) => &recorded.activations,
            #[cfg(not(target_arch = "wasm32"))]
            RecordedPass::Wgpu(recorded) => &recorded.activations,
        }
    }
}

/// Input the model cannot run, caught before it reaches burn (which would panic deep inside).
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ModelError {
    #[error("no tokens to run: give at least one")]
    Empty,
    #[error("{len} tokens, but model '{model}' has a context of {block_size}")]
    TooLong { len: usize, block_size: usize, model: String },
    /// Fewer tokens, or the CPU, would run: each caller says how to ask for either.
    #[error(
        "{len} tokens: on the GPU at most {most} fit, since the logits of every position over {vocab_size} tokens must fit one 128 MiB buffer"
    )]
    TooLongForGpu { len: usize, most: usize, vocab_size: usize },
    #[error("token {token} at position {position} is outside model '{model}''s vocabulary of {vocab_size}")]
    UnknownToken { token: usize, position: usize, vocab_size: usize, model: String },
}

/// On the GPU, the logits of every position, [T, V], must fit one buffer binding (1024 tokens of
/// GPT-2 would take 205 MB): longer inputs are refused before burn would fail inside its server.
pub fn check_gpu_tokens(config: &GptConfig, tokens: &[usize]) -> Result<(), ModelError> {
    let most = gpt::MAX_BINDING_BYTES / 4 / config.vocab_size;
    if tokens.len() > most {
        return Err(ModelError::TooLongForGpu { len: tokens.len(), most, vocab_size: config.vocab_size });
    }
    Ok(())
}

/// The checks of a forward pass's input: at least one token, no more than the context, each in the vocabulary.
pub fn check_tokens(config: &GptConfig, tokens: &[usize]) -> Result<(), ModelError> {
    if tokens.is_empty() {
        return Err(ModelError::Empty);
    }
    if tokens.len() > config.tokens() {
        return Err(ModelError::TooLong { len: tokens.len(), block_size: config.tokens(), model: config.name.clone() });
    }
    match tokens.iter().position(|&token| token >= config.vocab_size) {
        Some(position) => Err(ModelError::UnknownToken {
            token: tokens[position],
            position,
            vocab_size: config.vocab_size,
            model: config.name.clone(),
        }),
        None => Ok(()),
    }
}

pub fn token_tensor<B: Backend>(tokens: &[usize], device: &B::Device) -> Tensor<B, 2, Int> {
    let ids: Vec<i64> = tokens.iter().map(|&t| t as i64).collect();
    Tensor::from_data(TensorData::new(ids, [1, tokens.len()]), device)
}

fn record_forward<B: Backend>(model: &Network<B>, tokens: &[usize], ablation: &ablation::Ablation) -> Activations {
    let device = model.device();
    let mut rec = Recorder::on().switching_off(ablation.clone());
    model.forward(token_tensor::<B>(tokens, &device), &mut rec);
    Activations { ablation: ablation.clone(), ..rec.finish(model.config(), tokens) }
}

/// Where a forward pass first produced a NaN or an infinity: extreme weights (finite, but large
/// enough to overflow) or non-finite ones loaded with `NonFinite::Allow`.
#[derive(Clone, Debug, PartialEq)]
pub struct NonFiniteActivation {
    /// The activation, as the layout names its block (`block0.fc`).
    pub tensor: String,
    pub index: Vec<usize>,
    pub value: f32,
    /// Every non-finite activation value of the pass, the first included.
    pub count: usize,
}

impl std::fmt::Display for NonFiniteActivation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let others = match self.count {
            1 => String::new(),
            n => format!(" ({n} non-finite values in all)"),
        };
        write!(
            f,
            "the forward pass produced {} first in '{}' at index {:?}{others}",
            self.value, self.tensor, self.index
        )
    }
}

/// True for the entries a forward pass sets to −inf on purpose: attention scores of a query
/// (`index[1]`) for keys after it (`index[2]`), masked before the softmax (`block0.att`, [H, T, T]).
pub fn is_masked_score(tensor: &str, index: &[usize]) -> bool {
    names::split_layer(tensor).1 == "att" && index.len() == 3 && index[2] > index[1]
}

impl Activations {
    /// The first NaN or infinity of the pass in the order its tensors arose (`names::activation_shapes`),
    /// the causal mask's −inf scores apart; None when every value is finite.
    pub fn first_non_finite(&self, config: &GptConfig) -> Option<NonFiniteActivation> {
        let mut first: Option<NonFiniteActivation> = None;
        let mut count = 0;
        for (name, _) in names::activation_shapes(config, self.tokens.len()) {
            let Some(tensor) = self.tensors.get(&name) else { continue };
            for (offset, &value) in tensor.data.iter().enumerate() {
                if value.is_finite() {
                    continue;
                }
                let index = unravel(offset, &tensor.shape);
                if is_masked_score(&name, &index) {
                    continue;
                }
                count += 1;
                first.get_or_insert(NonFiniteActivation { tensor: name.clone(), index, value, count: 0 });
            }
        }
        first.map(|first| NonFiniteActivation { count, ..first })
    }

    /// Per position, the `k` most likely next tokens with their probabilities, most likely first.
    pub fn top_predictions(&self, k: usize) -> Vec<Vec<(usize, f32)>> {
        let probs = &self.tensors["probs"];
        probs
            .data
            .chunks(probs.shape[1])
            .map(|row| {
                let mut order: Vec<usize> = (0..row.len()).collect();
                let k = k.min(row.len());
                if k == 0 {
                    return Vec::new();
                }
                order.select_nth_unstable_by(k - 1, |&a, &b| row[b].total_cmp(&row[a]));
                order.truncate(k);
                order.sort_by(|&a, &b| row[b].total_cmp(&row[a]).then(a.cmp(&b)));
                order.into_iter().map(|token| (token, row[token])).collect()
            })
            .collect()
    }

    /// The last position's logits: what the next token is chosen from.
    pub fn last_logits(&self) -> &[f32] {
        let logits = &self.tensors["logits"];
        let vocab = logits.shape[1];
        &logits.data[logits.data.len() - vocab..]
    }

    /// Per position, the most likely next token and its probability.
    pub fn predictions(&self) -> Vec<(usize, f32)> {
        let probs = &self.tensors["probs"];
        let vocab = probs.shape[1];
        probs
            .data
            .chunks(vocab)
            .map(|row| {
                row.iter()
                    .enumerate()
                    .fold((0, f32::NEG_INFINITY), |best, (i, &p)| if p > best.1 { (i, p) } else { best })
            })
            .collect()
    }
}
