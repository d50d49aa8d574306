//! Writing token after token with a KV cache: the prompt is run once, all positions at once (the
//! prefill), and each token after it alone (a decode step), its keys and values added to the cache
//! that holds every earlier position's, so that no position is computed twice.

use std::ops::Range;

use burn::tensor::backend::Backend;

use super::ablation::Ablation;
use super::record::{KvCache, Recorder};
use super::{Network, token_tensor};

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
