//! One training step as data, for drawing how a model learns: the loss on one example, the gradient
//! of every activation and every weight, and AdamW's update of every weight with its moments, taken
//! exactly as `train` takes a step.

use std::collections::BTreeMap;
use std::sync::Arc;

use burn::module::{AutodiffModule, ParamId};
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::record::AdaptorRecord;
use burn::optim::{AdamW, AdamWState, AdaptiveMomentumState, GradientsParams, Optimizer};
use burn::tensor::ElementConversion;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{Tensor, TensorData};

use super::{answer_loss, optimizer_config};
use crate::model::gpt::ParamSlot;
use crate::model::names::parameter_shapes;
pub use crate::model::training::{Example, Moments, Training, Update};
use crate::model::{Activations, NamedTensor, Network, Recorder, Weights, token_tensor};

/// One step of training on one example, every number of it.
#[derive(Clone, Debug)]
pub struct TrainingStep {
    pub example: Example,
    pub loss: f32,
    /// The forward pass, as `Recorder::finish` gives it.
    pub activations: Activations,
    /// `<activation>.grad` for every tensor the pass goes on with, and `<weight>.grad` for every weight.
    pub gradients: BTreeMap<String, NamedTensor>,
    pub update: Update,
}

/// A step of `train` on `example` alone, from `weights` and the optimizer's `moments`.
pub fn training_step<B: AutodiffBackend>(
    weights: &Weights,
    moments: &Moments,
    example: &Example,
    learning_rate: f64,
    device: &B::Device,
) -> TrainingStep {
    let mut model = Network::<B>::from_weights(weights, device);
    let mut rec = Recorder::on().with_gradients();
    let logits = model.forward(token_tensor::<B>(&example.tokens, device), &mut rec);
    let loss = answer_loss(logits, example.first, &example.targets, 1);
    let probes = rec.take_probes();
    let activations = rec.finish(&weights.config, &example.tokens);
    let grads = loss.backward();
    let mut gradients = activation_gradients::<B>(&activations, probes, &grads);
    let weight_grads = weight_gradients(&mut model, &grads);
    let clip = clip_factors(&weight_grads);
    gradients.extend(weight_grads.into_iter().map(|(name, (grad, _))| (format!("{name}.grad"), grad)));

    let ids = param_ids(&mut model);
    let mut optimizer =
        optimizer_config().init::<B, Network<B>>().load_record(moment_record::<B>(moments, &ids, device));
    let grads = GradientsParams::from_grads(grads, &model);
    let model = optimizer.step(learning_rate, model, grads);
    let after = moments_of::<B>(optimizer.to_record(), &ids, moments.step + 1);
    let weights = Arc::new(model.valid().to_weights());
    let update = Update { learning_rate, before: moments.clone(), after, clip, weights };
    TrainingStep { example: example.clone(), loss: loss.into_scalar().elem(), activations, gradients, update }
}

/// Each probe's gradient under its tensor's name and shape with `.grad`; zero where the loss does
/// not depend on it (no gradient reached it).
fn activation_gradients<B: AutodiffBackend>(
    activations: &Activations,
    probes: Vec<(String, Tensor<B, 1>)>,
    grads: &B::Gradients,
) -> BTreeMap<String, NamedTensor> {
    probes
        .into_iter()
        .map(|(name, probe)| {
            let shape = activations.tensors[&name].shape.clone();
            let data = match probe.grad(grads) {
                Some(grad) => values(grad.into_data()),
                None => vec![0.0; shape.iter().product()],
            };
            (format!("{name}.grad"), NamedTensor::new(shape, data))
        })
        .collect()
}

fn values(data: TensorData) -> Vec<f32> {
    data.convert::<f32>().to_vec().expect("float tensor data")
}

/// Every weight's gradient by name, with the rows of each block burn holds it in.
fn weight_gradients<B: AutodiffBackend>(
    model: &mut Network<B>,
    grads: &B::Gradients,
) -> BTreeMap<String, (NamedTensor, Vec<usize>)> {
    let config = model.config().clone();
    let mut out = BTreeMap::new();
    for ((name, shape), slot) in parameter_shapes(&config).into_iter().zip(model.params_mut()) {
        let (data, blocks) = match slot {
            ParamSlot::Vector(param) => (values_or_zero(param.val().grad(grads), shape[0]), vec![1]),
            ParamSlot::Matrix(param) => (values_or_zero(param.val().grad(grads), shape[0] * shape[1]), vec![shape[0]]),
            ParamSlot::Vocab(rows) => {
                let blocks: Vec<usize> = rows.blocks.iter().map(|b| b.dims()[0]).collect();
                let data = rows.blocks.iter().flat_map(|b| values_or_zero(b.val().grad(grads), b.dims()[0] * shape[1]));
                (data.collect(), blocks)
            }
        };
        out.insert(name, (NamedTensor::new(shape, data), blocks));
    }
    out
}

/// A gradient's values, or `len` zeros where none reached the tensor.
fn values_or_zero<B: burn::tensor::backend::Backend, const D: usize>(
    grad: Option<Tensor<B, D>>,
    len: usize,
) -> Vec<f32> {
    grad.map_or_else(|| vec![0.0; len], |grad| values(grad.into_data()))
}

/// burn's clipping of each parameter tensor to norm 1 (`GradientClipping::clip_by_norm`): the
/// factor min(1, 1 / (‖g‖ + the smallest positive f32)), per block of rows.
fn clip_factors(grads: &BTreeMap<String, (NamedTensor, Vec<usize>)>) -> BTreeMap<String, Vec<(usize, f32)>> {
    grads
        .iter()
        .map(|(name, (grad, blocks))| {
            let cols = grad.data.len() / grad.shape[0].max(1);
            let row_width = if grad.shape.len() == 1 { grad.data.len() } else { cols };
            let mut start = 0;
            let factors = blocks
                .iter()
                .map(|&rows| {
                    let block = &grad.data[start..start + rows * row_width];
                    start += rows * row_width;
                    let norm = block.iter().map(|&g| f64::from(g) * f64::from(g)).sum::<f64>().sqrt() as f32;
                    (rows, (super::CLIP_NORM / (norm + f32::MIN_POSITIVE)).min(1.0))
                })
                .collect();
            (name.clone(), factors)
        })
        .collect()
}

/// Each weight's name, shape and parameter ids, one per block of rows burn holds it in, with the
/// block's rows.
pub(super) type ParamIds = Vec<(String, Vec<usize>, Vec<(ParamId, usize)>)>;

pub(super) fn param_ids<B: AutodiffBackend>(model: &mut Network<B>) -> ParamIds {
    let config = model.config().clone();
    parameter_shapes(&config)
        .into_iter()
        .zip(model.params_mut())
        .map(|((name, shape), slot)| {
            let ids = match slot {
                ParamSlot::Vector(param) => vec![(param.id, 1)],
                ParamSlot::Matrix(param) => vec![(param.id, shape[0])],
                ParamSlot::Vocab(rows) => rows.blocks.iter().map(|b| (b.id, b.dims()[0])).collect(),
            };
            (name, shape, ids)
        })
        .collect()
}

/// burn's optimizer state, by parameter id.
pub(super) type Record<B> = <OptimizerAdaptor<AdamW, Network<B>, B> as Optimizer<Network<B>, B>>::Record;

/// `moments` as burn's optimizer keeps them, by parameter id; nothing at step 0.
fn moment_record<B: AutodiffBackend>(moments: &Moments, ids: &ParamIds, device: &B::Device) -> Record<B> {
    let mut record = Record::<B>::default();
    if moments.step == 0 {
        return record;
    }
    for (name, shape, blocks) in ids {
        let (Some(m), Some(v)) = (moments.m.get(name), moments.v.get(name)) else { continue };
        if let [len] = shape[..] {
            let state = adamw_state::<B, 1>(moments.step, &m.data, &v.data, [len], device);
            record.insert(blocks[0].0, AdaptorRecord::from_state::<1>(state));
            continue;
        }
        let mut start = 0;
        for &(id, rows) in blocks {
            let range = start..start + rows * shape[1];
            start = range.end;
            let state =
                adamw_state::<B, 2>(moments.step, &m.data[range.clone()], &v.data[range], [rows, shape[1]], device);
            record.insert(id, AdaptorRecord::from_state::<2>(state));
        }
    }
    record
}

fn adamw_state<B: AutodiffBackend, const D: usize>(
    step: usize,
    m: &[f32],
    v: &[f32],
    dims: [usize; D],
    device: &B::Device,
) -> AdamWState<B::InnerBackend, D> {
    let tensor = |data: &[f32]| Tensor::<B::InnerBackend, D>::from_data(TensorData::new(data.to_vec(), dims), device);
    AdamWState::new(AdaptiveMomentumState::new(step, tensor(m), tensor(v)))
}

/// The optimizer's moments after its step, by weight name and in the weight's shape.
pub(super) fn moments_of<B: AutodiffBackend>(record: Record<B>, ids: &ParamIds, step: usize) -> Moments {
    let mut record = record;
    let mut moments = Moments { step, ..Default::default() };
    for (name, shape, blocks) in ids {
        let (mut m, mut v) = (Vec::new(), Vec::new());
        for &(id, _) in blocks {
            let entry = record.remove(&id).expect("the optimizer keeps a state for every parameter it stepped");
            let (block_m, block_v) = if shape.len() == 1 {
                let state = entry.into_state::<1>().momentum;
                (state.moment_1.into_data(), state.moment_2.into_data())
            } else {
                let state = entry.into_state::<2>().momentum;
                (state.moment_1.into_data(), state.moment_2.into_data())
            };
            m.extend(values(block_m));
            v.extend(values(block_v));
        }
        moments.m.insert(name.clone(), NamedTensor::new(shape.clone(), m));
        moments.v.insert(name.clone(), NamedTensor::new(shape.clone(), v));
    }
    moments
}

impl TrainingStep {
    /// The pass with its gradients among its tensors and the step beside it: what the scene draws
    /// in gradient mode.
    pub fn into_activations(self) -> Activations {
        let mut activations = self.activations;
        activations.tensors.extend(self.gradients);
        let training = Training { example: self.example, loss: self.loss, update: self.update };
        activations.training = Some(Arc::new(training));
        activations
    }
}

/// The example the scene's input gives: for a letters model the sort problem of its first six
/// letters (a longer input is the problem with an answer written after it), else its text.
pub fn scene_example(reads_text: bool, tokens: &[usize]) -> Result<Example, String> {
    if reads_text {
        return Example::next_tokens(tokens);
    }
    Example::sort(&tokens[..tokens.len().min(crate::model::training::SORT_LENGTH)])
}
