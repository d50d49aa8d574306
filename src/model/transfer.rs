//! A pass's activations (or its lens) as one JSON header and one array of numbers: the form in
//! which the page's forward worker, a second wasm instance with its own memory, hands them to the
//! page's main thread. The numbers cross as one `Float32Array` (transferred, not copied); each
//! tensor is read out of it by offset, so the receiver copies every value once.

use serde::{Deserialize, Serialize};

use super::ablation::Ablation;
use super::activations::{Activations, NamedTensor};
use super::lens::LensLayer;
use super::sampling::Sampling;

/// Where one tensor's values lie in the array of numbers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TensorEntry {
    pub name: String,
    pub shape: Vec<usize>,
    pub offset: usize,
}

/// Everything of `Activations` but the numbers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PassHeader {
    pub tokens: Vec<usize>,
    pub tensors: Vec<TensorEntry>,
    pub sampling: Option<Sampling>,
    pub cached: usize,
    pub ablation: Ablation,
    pub unablated_probs: Option<TensorEntry>,
    pub lens: Vec<LensHeader>,
}

/// A `LensLayer` but its full distribution's numbers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LensHeader {
    pub stream: String,
    pub top: Vec<Vec<(usize, f32)>>,
    pub probs: Option<TensorEntry>,
    pub change: Option<Vec<(usize, f32, f32)>>,
}

/// The numbers of a header, appended tensor after tensor.
#[derive(Default)]
pub struct Numbers(pub Vec<f32>);

impl Numbers {
    fn put(&mut self, name: &str, tensor: &NamedTensor) -> TensorEntry {
        let offset = self.0.len();
        self.0.extend_from_slice(&tensor.data);
        TensorEntry { name: name.to_string(), shape: tensor.shape.clone(), offset }
    }

    pub fn lens(&mut self, layers: &[LensLayer]) -> Vec<LensHeader> {
        let header = |layer: &LensLayer| LensHeader {
            stream: layer.stream.clone(),
            top: layer.top.clone(),
            probs: layer.probs.as_ref().map(|probs| self.put(&format!("{}.lens.probs", layer.stream), probs)),
            change: layer.change.clone(),
        };
        layers.iter().map(header).collect()
    }

    pub fn pass(&mut self, pass: &Activations) -> PassHeader {
        PassHeader {
            tokens: pass.tokens.clone(),
            tensors: pass.tensors.iter().map(|(name, tensor)| self.put(name, tensor)).collect(),
            sampling: pass.sampling,
            cached: pass.cached,
            ablation: pass.ablation.clone(),
            unablated_probs: pass.unablated_probs.as_ref().map(|probs| self.put("unablated_probs", probs)),
            lens: self.lens(&pass.lens),
        }
    }
}

/// Reads tensors back out of an array of `len` numbers that `read(offset, count)` copies from.
pub struct Reader<F: FnMut(usize, usize) -> Vec<f32>> {
    pub len: usize,
    pub read: F,
}

impl<F: FnMut(usize, usize) -> Vec<f32>> Reader<F> {
    /// The tensor an entry names, or an error naming it when its values lie outside the array.
    fn get(&mut self, entry: &TensorEntry) -> Result<NamedTensor, String> {
        let count = entry.shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
        match count.and_then(|count| Some((count, entry.offset.checked_add(count)?))) {
            Some((count, end)) if end <= self.len => {
                Ok(NamedTensor::new(entry.shape.clone(), (self.read)(entry.offset, count)))
            }
            _ => Err(format!(
                "tensor '{}': shape {:?} at offset {} lies outside the {} numbers sent",
                entry.name, entry.shape, entry.offset, self.len
            )),
        }
    }

    pub fn lens(&mut self, headers: Vec<LensHeader>) -> Result<Vec<LensLayer>, String> {
        let layer = |header: LensHeader| {
            let probs = header.probs.as_ref().map(|entry| self.get(entry)).transpose()?;
            Ok(LensLayer { stream: header.stream, top: header.top, probs, change: header.change })
        };
        headers.into_iter().map(layer).collect()
    }

    pub fn pass(&mut self, header: PassHeader) -> Result<Activations, String> {
        let mut tensors = std::collections::BTreeMap::new();
        for entry in &header.tensors {
            tensors.insert(entry.name.clone(), self.get(entry)?);
        }
        Ok(Activations {
            tokens: header.tokens,
            tensors,
            sampling: header.sampling,
            cached: header.cached,
            ablation: header.ablation,
            unablated_probs: header.unablated_probs.as_ref().map(|entry| self.get(entry)).transpose()?,
            lens: self.lens(header.lens)?,
            // The page computes no training step: gradient mode is native (see `train::step`).
            training: None,
        })
    }
}

/// A reader of numbers already in memory.
pub fn read_slice(numbers: &[f32]) -> Reader<impl FnMut(usize, usize) -> Vec<f32> + '_> {
    Reader { len: numbers.len(), read: |offset, count| numbers[offset..offset + count].to_vec() }
}
