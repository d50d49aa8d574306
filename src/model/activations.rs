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
}

impl Activations {
    pub fn get(&self, name: &str) -> Option<&NamedTensor> {
        self.tensors.get(name)
    }
}
