//! Keeping a forward pass's intermediates without cluttering it: `keep` is free when not recording,
//! and everything kept comes back from the device in one read.

use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

use super::ablation::Ablation;
use super::activations::{Activations, NamedTensor};
use super::config::GptConfig;
use super::names::{activation_shapes, step_shapes};

/// Keys and values of the positions already computed, per layer ([B, k/v heads, T, D], after
/// RoPE in the Llama family), so that a decode step computes only its new positions.
pub struct KvCache<B: Backend> {
    layers: Vec<Option<(Tensor<B, 4>, Tensor<B, 4>)>>,
    /// Positions held.
    pub length: usize,
}

impl<B: Backend> KvCache<B> {
    pub fn new(n_layer: usize) -> KvCache<B> {
        KvCache { layers: (0..n_layer).map(|_| None).collect(), length: 0 }
    }

    /// A layer's cached keys and values.
    pub fn layer(&self, layer: usize) -> Option<&(Tensor<B, 4>, Tensor<B, 4>)> {
        self.layers.get(layer)?.as_ref()
    }
}

/// What a forward pass keeps, the parts it switches off, and the cache it reads and extends.
pub struct Recorder<B: Backend> {
    kept: Option<Vec<(String, Tensor<B, 1>)>>,
    /// When gradients are wanted: a zero added to each tensor the pass goes on with, tracked by
    /// autodiff, so that its gradient is that tensor's (burn keeps gradients of leaves only).
    probes: Option<Vec<(String, Tensor<B, 1>)>>,
    ablation: Ablation,
    cache: Option<KvCache<B>>,
}

impl<B: Backend> Recorder<B> {
    /// Keeps nothing: the forward pass of training.
    pub fn off() -> Self {
        Recorder { kept: None, probes: None, ablation: Ablation::default(), cache: None }
    }

    /// Keeps every named intermediate of a batch of one sequence.
    pub fn on() -> Self {
        Recorder { kept: Some(Vec::new()), probes: None, ablation: Ablation::default(), cache: None }
    }

    /// The same, and ready to give each kept tensor's gradient after the loss's backward pass
    /// (on an autodiff backend; `Recorder::gradients`).
    pub fn with_gradients(mut self) -> Self {
        self.probes = Some(Vec::new());
        self
    }

    /// The probes added by `flow`, by the name of the tensor each stands for.
    pub fn take_probes(&mut self) -> Vec<(String, Tensor<B, 1>)> {
        self.probes.take().unwrap_or_default()
    }

    /// The same, with `ablation`'s parts switched off.
    pub fn switching_off(mut self, ablation: Ablation) -> Self {
        self.ablation = ablation;
        self
    }

    /// The same, reading earlier positions' keys and values from `cache` and adding this pass's.
    pub fn caching(mut self, cache: KvCache<B>) -> Self {
        self.cache = Some(cache);
        self
    }

    /// The cache, once the pass is done.
    pub fn into_cache(self) -> Option<KvCache<B>> {
        self.cache
    }

    /// Positions computed before this pass: where its own positions start.
    pub fn past(&self) -> usize {
        self.cache.as_ref().map_or(0, |cache| cache.length)
    }

    /// A layer's keys and values of this pass's positions [B, heads, T, D], with the cached ones of
    /// earlier positions before them; the cache keeps the whole.
    pub fn remember(&mut self, layer: usize, k: Tensor<B, 4>, v: Tensor<B, 4>) -> (Tensor<B, 4>, Tensor<B, 4>) {
        let Some(cache) = &mut self.cache else { return (k, v) };
        let (k, v) = match cache.layers[layer].take() {
            Some((past_k, past_v)) => (Tensor::cat(vec![past_k, k], 2), Tensor::cat(vec![past_v, v], 2)),
            None => (k, v),
        };
        cache.layers[layer] = Some((k.clone(), v.clone()));
        (k, v)
    }

    /// The pass's `positions` are in the cache now.
    pub fn advance(&mut self, positions: usize) {
        if let Some(cache) = &mut self.cache {
            cache.length += positions;
        }
    }

    /// `y` [B, T, heads·size] of `layer` with the heads switched off set to zero.
    pub fn heads_off(&self, layer: usize, head_size: usize, y: Tensor<B, 3>) -> Tensor<B, 3> {
        zero_channels(y, &self.ablation.head_channels(layer, head_size))
    }

    /// The MLP's hidden activations [B, T, W] of `layer` with the neurons switched off set to zero.
    pub fn neurons_off(&self, layer: usize, hidden: Tensor<B, 3>) -> Tensor<B, 3> {
        zero_channels(hidden, &self.ablation.neuron_channels(layer))
    }

    /// The MLP's output of `layer`, zero when it is switched off.
    pub fn mlp_off(&self, layer: usize, mlp: Tensor<B, 3>) -> Tensor<B, 3> {
        if self.ablation.mlps.contains(&layer) { mlp.zeros_like() } else { mlp }
    }

    pub fn is_recording(&self) -> bool {
        self.kept.is_some()
    }

    /// The name is built only when recording, so training pays nothing for it.
    pub fn keep<const D: usize>(&mut self, name: impl FnOnce() -> String, tensor: &Tensor<B, D>) {
        if let Some(kept) = &mut self.kept {
            let numel = tensor.shape().num_elements();
            kept.push((name(), tensor.clone().reshape([numel])));
        }
    }

    /// `keep` for a tensor the pass goes on with, returning the one to go on with: when gradients
    /// are wanted, the same values plus a tracked zero (see `probes`). By-products the pass does
    /// not use further (a norm's statistics, the probabilities) are `keep`'s and have no gradient.
    pub fn flow<const D: usize>(&mut self, name: impl FnOnce() -> String, tensor: Tensor<B, D>) -> Tensor<B, D> {
        if self.kept.is_none() && self.probes.is_none() {
            return tensor;
        }
        let name = name();
        self.keep(|| name.clone(), &tensor);
        let Some(probes) = &mut self.probes else { return tensor };
        let dims = tensor.dims();
        let probe = Tensor::<B, 1>::zeros([dims.iter().product::<usize>()], &tensor.device()).require_grad();
        probes.push((name, probe.clone()));
        tensor + probe.reshape(dims)
    }

    /// Reads everything kept back, a few transfers of at most `READ_BACK_VALUES` each, and gives
    /// each tensor its canonical shape (see `activation_shapes`), dropping the batch axis of one.
    pub fn finish(self, config: &GptConfig, tokens: &[usize]) -> Activations {
        let (names, lengths, groups) = self.into_groups();
        let values = groups.into_iter().flat_map(|group| read(group.into_data())).collect();
        assemble(&activation_shapes(config, tokens.len()), tokens, &names, &lengths, values)
    }

    /// `finish` for a pass that read and extended a cache: the activations of its `new` positions
    /// alone (whose attention scores span the cached keys too, `step_shapes`), and the cache.
    pub fn finish_cached(mut self, config: &GptConfig, new: &[usize]) -> (Activations, KvCache<B>) {
        let cache = self.cache.take().expect("finish_cached is only called on a caching Recorder");
        let past = cache.length - new.len();
        let (names, lengths, groups) = self.into_groups();
        let values = groups.into_iter().flat_map(|group| read(group.into_data())).collect();
        (assemble(&step_shapes(config, past, new.len()), new, &names, &lengths, values), cache)
    }

    /// The kept tensors' names and lengths, and the tensors joined into groups small enough for
    /// one GPU buffer each (GPT-2's activations over 64 tokens are some 80 MB).
    fn into_groups(self) -> (Vec<String>, Vec<usize>, Vec<Tensor<B, 1>>) {
        let kept = self.kept.expect("finish is only called on a recording Recorder");
        let lengths: Vec<usize> = kept.iter().map(|(_, t)| t.dims()[0]).collect();
        let names: Vec<String> = kept.iter().map(|(name, _)| name.clone()).collect();
        let mut groups: Vec<Vec<Tensor<B, 1>>> = vec![Vec::new()];
        let mut group_len = 0;
        for (_, tensor) in kept {
            let len = tensor.dims()[0];
            if group_len + len > READ_BACK_VALUES && group_len > 0 {
                groups.push(Vec::new());
                group_len = 0;
            }
            group_len += len;
            groups.last_mut().expect("one group at least").push(tensor);
        }
        let joined = groups.into_iter().filter(|g| !g.is_empty()).map(|g| Tensor::cat(g, 0)).collect();
        (names, lengths, joined)
    }
}

/// `x` [B, T, W] times a mask of ones with zeros at `channels`; untouched when there are none, so
/// that a pass switching nothing off is the model's own bit for bit.
fn zero_channels<B: Backend>(x: Tensor<B, 3>, channels: &[usize]) -> Tensor<B, 3> {
    if channels.is_empty() {
        return x;
    }
    let width = x.dims()[2];
    let mut mask = vec![1.0_f32; width];
    for &channel in channels {
        mask[channel] = 0.0;
    }
    let mask = Tensor::<B, 1>::from_data(burn::tensor::TensorData::new(mask, [width]), &x.device());
    x * mask.reshape([1, 1, width])
}

/// The most values read back in one transfer: 64 MB of f32, half of WebGPU's default binding.
const READ_BACK_VALUES: usize = 16 << 20;

fn read(data: burn::tensor::TensorData) -> Vec<f32> {
    data.convert::<f32>().to_vec().expect("float tensor data")
}

fn assemble(
    shapes: &[(String, Vec<usize>)],
    tokens: &[usize],
    names: &[String],
    lengths: &[usize],
    values: Vec<f32>,
) -> Activations {
    let shapes: std::collections::HashMap<&str, &Vec<usize>> =
        shapes.iter().map(|(name, shape)| (name.as_str(), shape)).collect();
    let mut activations = Activations { tokens: tokens.to_vec(), ..Default::default() };
    let mut offset = 0;
    for (name, &len) in names.iter().zip(lengths) {
        let shape = shapes.get(name.as_str()).unwrap_or_else(|| panic!("'{name}' is not in activation_shapes"));
        assert_eq!(shape.iter().product::<usize>(), len, "'{name}' has {len} values, not the shape {shape:?}");
        activations
            .tensors
            .insert(name.clone(), NamedTensor::new(shape.to_vec(), values[offset..offset + len].to_vec()));
        offset += len;
    }
    activations
        .tensors
        .insert("tokens".into(), NamedTensor::new(vec![tokens.len()], tokens.iter().map(|&t| t as f32).collect()));
    activations
}
