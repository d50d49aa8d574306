//! The logit lens: what the residual stream would predict if the model stopped early. The
//! model's own final norm and unembedding read the stream after the embedding and after each
//! layer, giving a distribution over the vocabulary per position; at the last layer it is the
//! model's output.

use burn::tensor::activation::softmax;
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};

use super::{Activations, GptConfig, NamedTensor, Network};

/// One stream read through the lens.
#[derive(Clone, Debug, PartialEq)]
pub struct LensLayer {
    /// The activation read: `x` (after the embedding) or `block{i}.mlp_resid` (after layer i).
    pub stream: String,
    /// Per position, the likeliest tokens, most probable first: (id, probability).
    pub top: Vec<Vec<(usize, f32)>>,
    /// The whole distribution [T, V], when asked for.
    pub probs: Option<NamedTensor>,
}

/// The streams the lens reads, from the embedding's to the last layer's.
pub fn lens_streams(config: &GptConfig) -> Vec<String> {
    std::iter::once("x".to_string()).chain((0..config.n_layer).map(|i| format!("block{i}.mlp_resid"))).collect()
}

/// The `k` likeliest entries of a distribution, most probable first; a tie goes to the lower id.
pub fn top_k(probs: &[f32], k: usize) -> Vec<(usize, f32)> {
    let mut ranked: Vec<(usize, f32)> = probs.iter().copied().enumerate().collect();
    let k = k.min(ranked.len());
    let by_probability = |a: &(usize, f32), b: &(usize, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
    if k < ranked.len() {
        ranked.select_nth_unstable_by(k, by_probability);
        ranked.truncate(k);
    }
    ranked.sort_by(by_probability);
    ranked
}

/// Every stream of a recorded pass read through `network`'s final norm and unembedding, one
/// stream at a time (GPT-2's distribution over 50,257 tokens is 13 MB for 64 positions).
pub fn read_lens<B: Backend>(
    network: &Network<B>,
    activations: &Activations,
    top: usize,
    full: bool,
) -> Vec<LensLayer> {
    let device = network.device();
    lens_streams(network.config())
        .into_iter()
        .filter_map(|stream| {
            let recorded = activations.get(&stream)?;
            let [t, c] = [recorded.shape[0], recorded.shape[1]];
            let x = Tensor::<B, 3>::from_data(TensorData::new(recorded.data.clone(), [1, t, c]), &device);
            let probs = softmax(network.readout(x), 2);
            let vocab = probs.dims()[2];
            let data: Vec<f32> = probs.into_data().into_vec().expect("f32 probabilities");
            let top = data.chunks(vocab).map(|row| top_k(row, top)).collect();
            let probs = full.then(|| NamedTensor::new(vec![t, vocab], data));
            Some(LensLayer { stream, top, probs })
        })
        .collect()
}
