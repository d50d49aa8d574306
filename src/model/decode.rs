//! Writing token after token with a KV cache: the prompt is run once, all positions at once (the
//! prefill), and each token after it alone (a decode step), its keys and values added to the cache
//! that holds every earlier position's, so that no position is computed twice.

use std::ops::Range;
use std::sync::Arc;

use burn::tensor::backend::Backend;

use super::ablation::Ablation;
use super::names::{activation_shapes, split_layer};
use super::record::{KvCache, Recorder};
use super::{Activations, GptConfig, NamedTensor, Network, token_tensor};

/// One token written: the positions the pass that chose it computed, and the positions in the
/// cache after it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeStep {
    pub token: usize,
    pub positions_computed: Range<usize>,
    pub cache_length: usize,
}

/// A pass over `new` tokens after the cached ones: the last position's logits, and the cache
/// with the new positions added.
pub fn cached_pass<B: Backend>(
    network: &Network<B>,
    new: &[usize],
    cache: KvCache<B>,
    ablation: &Ablation,
) -> (Vec<f32>, KvCache<B>) {
    let mut rec = Recorder::off().switching_off(ablation.clone()).caching(cache);
    let logits = network.forward(token_tensor::<B>(new, &network.device()), &mut rec); // [1, T, V]
    let [_, t, _] = logits.dims();
    let last = logits.narrow(1, t - 1, 1).into_data().convert::<f32>().to_vec().expect("f32 logits");
    (last, rec.into_cache().expect("the pass kept its cache"))
}

/// Up to `count` tokens after `tokens` (checked by the caller), each chosen by `next_of` from the
/// last position's logits: a prefill, then one decode step per token while the context has room
/// (the last token chosen is not fed back once it is full).
pub fn decode<B: Backend>(
    network: &Network<B>,
    tokens: &[usize],
    count: usize,
    ablation: &Ablation,
    mut next_of: impl FnMut(&[f32]) -> usize,
) -> Vec<DecodeStep> {
    let block_size = network.config().tokens();
    let mut cache = KvCache::new(network.config().n_layer);
    let mut steps: Vec<DecodeStep> = Vec::with_capacity(count);
    let mut new = tokens.to_vec();
    while steps.len() < count && !new.is_empty() {
        let first = cache.length;
        let (logits, extended) = cached_pass(network, &new, cache, ablation);
        cache = extended;
        let token = next_of(&logits);
        steps.push(DecodeStep { token, positions_computed: first..cache.length, cache_length: cache.length });
        new = if cache.length < block_size { vec![token] } else { Vec::new() };
    }
    steps
}

/// A recorded pass and the keys and values it computed: what a longer input extends.
pub struct Recorded<B: Backend> {
    pub activations: Arc<Activations>,
    cache: KvCache<B>,
}

/// Records the pass over `tokens` (checked by the caller). When `previous` ran a prefix of them with
/// the same parts switched off, only the new positions are computed, a decode step reading the
/// earlier keys and values from its cache, and the earlier positions' activations are
/// `previous`'s (a causal model's earlier positions never see later ones); else every position
/// is (a prefill).
pub fn record_after<B: Backend>(
    network: &Network<B>,
    tokens: &[usize],
    ablation: &Ablation,
    previous: Option<Recorded<B>>,
) -> Recorded<B> {
    let config = network.config();
    let extends = |previous: &Recorded<B>| {
        let before = &previous.activations;
        before.ablation == *ablation && before.tokens.len() < tokens.len() && tokens.starts_with(&before.tokens)
    };
    let (before, cache) = match previous.filter(extends) {
        Some(previous) => (Some(previous.activations), previous.cache),
        None => (None, KvCache::new(config.n_layer)),
    };
    let past = cache.length;
    let new = &tokens[past..];
    let mut rec = Recorder::on().switching_off(ablation.clone()).caching(cache);
    network.forward(token_tensor::<B>(new, &network.device()), &mut rec);
    let (step, cache) = rec.finish_cached(config, new);
    let mut activations = match before {
        Some(before) => extended(config, &before, step),
        None => step,
    };
    activations.tokens = tokens.to_vec();
    activations.ablation = ablation.clone();
    Recorded { activations: Arc::new(activations), cache }
}

/// `before`'s activations with a decode step's positions after them: the whole input's, as a
/// pass over all of it would give them (the scores of earlier queries for the new keys are
/// masked: −∞ before the softmax, 0 after).
pub fn extended(config: &GptConfig, before: &Activations, step: Activations) -> Activations {
    let tokens: Vec<usize> = before.tokens.iter().chain(&step.tokens).copied().collect();
    let mut joined = Activations { cached: before.tokens.len(), ..Default::default() };
    for (name, shape) in activation_shapes(config, tokens.len()) {
        let (Some(old), Some(new)) = (before.tensors.get(&name), step.tensors.get(&name)) else { continue };
        let masked = if split_layer(&name).1 == "att" { f32::NEG_INFINITY } else { 0.0 };
        joined.tensors.insert(name, join_positions(old, new, &shape, masked));
    }
    let ids = tokens.iter().map(|&t| t as f32).collect();
    joined.tensors.insert("tokens".into(), NamedTensor::new(vec![tokens.len()], ids));
    joined.tokens = tokens;
    joined
}

/// Rows of `old` (the earlier positions) then rows of `new` along the first axis where `old` is
/// shorter than `full`, the position axis. A second such axis, the keys of attention scores, is
/// the last: `old`'s rows are padded there with `masked`, and `new`'s rows already span it.
fn join_positions(old: &NamedTensor, new: &NamedTensor, full: &[usize], masked: f32) -> NamedTensor {
    let Some(axis) = (0..full.len()).find(|&i| old.shape[i] != full[i]) else { return new.clone() };
    let outer: usize = full[..axis].iter().product();
    let inner: usize = full[axis + 1..].iter().product();
    let old_inner: usize = old.shape[axis + 1..].iter().product();
    let (past, total) = (old.shape[axis], full[axis]);
    let mut data = Vec::with_capacity(full.iter().product());
    for o in 0..outer {
        for row in 0..total {
            if row < past {
                let start = (o * past + row) * old_inner;
                data.extend_from_slice(&old.data[start..start + old_inner]);
                data.resize(data.len() + inner - old_inner, masked);
            } else {
                let start = (o * (total - past) + row - past) * inner;
                data.extend_from_slice(&new.data[start..start + inner]);
            }
        }
    }
    NamedTensor::new(full.to_vec(), data)
}
