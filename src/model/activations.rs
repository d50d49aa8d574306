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
}

impl Activations {
    pub fn get(&self, name: &str) -> Option<&NamedTensor> {
        self.tensors.get(name)
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
