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
    /// With parts switched off, per position: the model's own likeliest token at this stream (in
    /// its pass with every part on), its probability there, and its probability in this pass.
    pub change: Option<Vec<(usize, f32, f32)>>,
}

/// The activation that holds the lens of `stream` once it is read: per position, the likeliest
/// token's probability (`x_lens`, `block3.mlp_resid_lens`).
pub fn lens_tensor(stream: &str) -> String {
    format!("{stream}_lens")
}

/// The name and shape of each stream's lens, over `t` positions: what the lens adds to a pass.
pub fn lens_shapes(config: &GptConfig, t: usize) -> Vec<(String, Vec<usize>)> {
    lens_streams(config).iter().map(|stream| (lens_tensor(stream), vec![t])).collect()
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
    let streams = lens_streams(network.config()).into_iter();
    streams.filter_map(|stream| read_stream(network, activations, stream, top, full)).collect()
}

/// One stream of a recorded pass through the lens; None when the pass did not record it.
pub fn read_stream<B: Backend>(
    network: &Network<B>,
    activations: &Activations,
    stream: String,
    top: usize,
    full: bool,
) -> Option<LensLayer> {
    let (data, [t, vocab]) = stream_probs(network, activations.get(&stream)?);
    let top = data.chunks(vocab).map(|row| top_k(row, top)).collect();
    let probs = full.then(|| NamedTensor::new(vec![t, vocab], data));
    Some(LensLayer { stream, top, probs, change: None })
}

/// `read_stream` of a pass with parts switched off, with its change against `own`, the model's
/// own pass on the same tokens: the lens of both streams.
pub fn read_stream_against<B: Backend>(
    network: &Network<B>,
    activations: &Activations,
    own: &Activations,
    stream: String,
    top: usize,
) -> Option<LensLayer> {
    let (data, [_, vocab]) = stream_probs(network, activations.get(&stream)?);
    let (own_data, _) = stream_probs(network, own.get(&stream)?);
    let change = own_data
        .chunks(vocab)
        .zip(data.chunks(vocab))
        .map(|(own, now)| {
            let (token, p) = top_k(own, 1)[0];
            (token, p, now[token])
        })
        .collect();
    let top = data.chunks(vocab).map(|row| top_k(row, top)).collect();
    Some(LensLayer { stream, top, probs: None, change: Some(change) })
}

/// The distribution of each position of a stream [T, C] through the final norm and the
/// unembedding, row-major [T, V].
fn stream_probs<B: Backend>(network: &Network<B>, recorded: &NamedTensor) -> (Vec<f32>, [usize; 2]) {
    let [t, c] = [recorded.shape[0], recorded.shape[1]];
    let x = Tensor::<B, 3>::from_data(TensorData::new(recorded.data.clone(), [1, t, c]), &network.device());
    let probs = softmax(network.readout(x), 2);
    let vocab = probs.dims()[2];
    (probs.into_data().into_vec().expect("f32 probabilities"), [t, vocab])
}

/// A pass's activations with the lens of its streams added: per stream, its `lens_tensor` and
/// the likeliest tokens per position in `Activations::lens`.
pub fn with_lens(activations: &Activations, layers: Vec<LensLayer>) -> Activations {
    let mut joined = activations.clone();
    for layer in &layers {
        let best: Vec<f32> = layer.top.iter().map(|row| row.first().map_or(0.0, |&(_, p)| p)).collect();
        joined.tensors.insert(lens_tensor(&layer.stream), NamedTensor::new(vec![best.len()], best));
    }
    joined.lens = layers;
    joined
}
