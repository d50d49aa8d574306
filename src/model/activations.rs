//! The intermediate tensors of one forward pass, by name: what the visualization draws.
//!
//! Plain `Vec<f32>` data, so that layout, explain and the renderer read them without burn.

use std::collections::BTreeMap;

/// One captured tensor, row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct NamedTensor {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

impl NamedTensor {
    pub fn new(shape: Vec<usize>, data: Vec<f32>) -> NamedTensor {
        assert_eq!(shape.iter().product::<usize>(), data.len(), "shape {shape:?} does not hold {} values", data.len());
        NamedTensor { shape, data }
    }

    /// Row-major offset of `index`, or None when it lies outside the shape.
    pub fn offset(&self, index: &[usize]) -> Option<usize> {
        if index.len() != self.shape.len() {
            return None;
        }
        let mut offset = 0;
        for (&i, &n) in index.iter().zip(&self.shape) {
            if i >= n {
                return None;
            }
            offset = offset * n + i;
        }
        Some(offset)
    }

    pub fn get(&self, index: &[usize]) -> Option<f32> {
        self.offset(index).map(|o| self.data[o])
    }
}

/// Everything one forward pass produced, keyed by the names of `names::activation_shapes`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Activations {
    pub tokens: Vec<usize>,
    pub tensors: BTreeMap<String, NamedTensor>,
    /// When the output was reshaped after the pass (`resampled`): how. `probs` and
    /// `logits_sumexp` are then the reshaped distribution's.
    pub sampling: Option<super::sampling::Sampling>,
    /// Positions computed by an earlier pass, whose keys and values this one read from a KV cache
    /// (a decode step); 0 when every position was computed (a prefill).
    pub cached: usize,
    /// The parts switched off in this pass, and the model's own `probs` beside it when any were.
    pub ablation: super::ablation::Ablation,
    pub unablated_probs: Option<NamedTensor>,
    /// The logit lens of the residual streams, once read (after the pass: see `lens::with_lens`).
    pub lens: Vec<super::lens::LensLayer>,
    /// In gradient mode, the training step taken on this pass (its gradients are tensors here,
    /// `<tensor>.grad`).
    pub training: Option<std::sync::Arc<super::training::Training>>,
}

impl Activations {
    pub fn get(&self, name: &str) -> Option<&NamedTensor> {
        self.tensors.get(name)
    }

    /// With parts switched off: per position, the model's own likeliest next token, its
    /// probability in the model's own pass and in this one (the model's softmax in both).
    pub fn top_token_change(&self) -> Option<Vec<(usize, f32, f32)>> {
        let own = self.unablated_probs.as_ref()?;
        let now = self.tensors.get("logits")?;
        let vocab = own.shape[1];
        let rows = own.data.chunks(vocab).zip(now.data.chunks(vocab));
        Some(
            rows.map(|(own, logits)| {
                let best = |best: (usize, f32), (i, &p): (usize, &f32)| if p > best.1 { (i, p) } else { best };
                let (token, p) = own.iter().enumerate().fold((0, f32::NEG_INFINITY), best);
                // This pass's probability of it, from its logits: `probs` may be reshaped by sampling.
                let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let sum: f32 = logits.iter().map(|&l| (l - max).exp()).sum();
                (token, p, (logits[token] - max).exp() / sum)
            })
            .collect(),
        )
    }

    /// The same pass with its output distribution reshaped by `sampling`, every position's row:
    /// the pass itself is not run again. The model's own softmax gives back the pass as it was.
    pub fn resampled(&self, sampling: &super::sampling::Sampling) -> Activations {
        let mut shown = self.clone();
        shown.sampling = (!sampling.is_plain()).then_some(*sampling);
        let Some(logits) = self.tensors.get("logits") else { return shown };
        if sampling.is_plain() {
            return shown;
        }
        let vocab = logits.shape[1];
        let rows: Vec<super::sampling::Reshaped> =
            logits.data.chunks(vocab).map(|row| super::sampling::reshape(row, sampling)).collect();
        let probs = rows.iter().flat_map(|row| row.probs.iter().copied()).collect();
        shown.tensors.insert("probs".into(), NamedTensor::new(logits.shape.clone(), probs));
        let sums = rows.iter().map(|row| row.sumexp).collect();
        shown.tensors.insert("logits_sumexp".into(), NamedTensor::new(vec![rows.len()], sums));
        shown
    }
}
