//! Training nano-gpt on the sort task with burn's autodiff, and measuring how well it sorts.
//!
//! The task, as minGPT's demo poses it: six letters from {A, B, C} are followed by their sorted order;
//! the model reads the sequence left to right and is scored only where it writes the answer.

pub mod step;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use burn::module::AutodiffModule;
use burn::optim::grad_clipping::GradientClippingConfig;
use burn::optim::{AdamWConfig, GradientsParams, Optimizer};
use burn::tensor::activation::log_softmax;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Int, Tensor, TensorData};

use crate::model::names::parameter_shapes;
use crate::model::training::{MOMENTS_SUFFIX, Moments};
use crate::model::{GptConfig, NamedTensor, Network, Recorder, Weights, token_tensor};

/// Letters per problem; the context holds the problem and all but the last answer letter (6 + 5 = 11).
pub use crate::model::training::SORT_LENGTH;

#[derive(Clone, Debug)]
pub struct TrainOptions {
    pub seed: u64,
    pub steps: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
}

impl Default for TrainOptions {
    fn default() -> Self {
        // minGPT's sort demo: AdamW at 5e-4, batches of 64, weight decay 0.1, gradients clipped at norm 1.
        TrainOptions { seed: 3407, steps: 2000, batch_size: 64, learning_rate: 5e-4 }
    }
}

/// The training's generator is the one sampling draws with: the same numbers for a seed everywhere.
pub use crate::model::sampling::SplitMix64;

/// GPT-2's initialisation, which Llama's follows: N(0, 0.02) weights, the residual projections
/// scaled by 1/sqrt(2·n_layer), zero biases, norms at identity.
pub fn initial_weights(config: &GptConfig, seed: u64) -> Weights {
    let mut rng = SplitMix64::new(seed);
    let residual_std = 0.02 / (2.0 * config.n_layer as f64).sqrt();
    let tensors: BTreeMap<String, NamedTensor> = parameter_shapes(config)
        .into_iter()
        .map(|(name, shape)| {
            let len: usize = shape.iter().product();
            let data: Vec<f32> = if is_norm(&name) {
                vec![if name.ends_with(".weight") { 1.0 } else { 0.0 }; len]
            } else if name.ends_with(".bias") {
                vec![0.0; len]
            } else {
                let residual = ["c_proj.weight", "o_proj.weight", "down_proj.weight"];
                let std = if residual.iter().any(|r| name.ends_with(r)) { residual_std } else { 0.02 };
                (0..len).map(|_| (rng.normal() * std) as f32).collect()
            };
            (name, NamedTensor::new(shape, data))
        })
        .collect();
    Weights { config: config.clone(), tensors, source: PathBuf::from(format!("<initialised, seed {seed}>")) }
}

/// GPT-2's LayerNorms (`ln_1`, `ln_f`) and a Llama's RMSNorms (`input_layernorm`, `q_norm`, `model.norm`).
fn is_norm(name: &str) -> bool {
    name.contains(".ln_") || name.contains("ln_f") || name.ends_with("norm.weight")
}

/// The generator of a run's batches. The data stream has its own seed, so changing the
/// initialisation does not change the batches.
pub fn data_rng(seed: u64) -> SplitMix64 {
    SplitMix64::new(seed ^ 0x5EED_DA7A)
}

/// A batch of problems: inputs [B, 11] (problem, then the answer shifted right) and targets [B, 6] (the answer).
pub fn sort_batch(rng: &mut SplitMix64, batch_size: usize) -> (Vec<usize>, Vec<usize>) {
    let mut inputs = Vec::with_capacity(batch_size * (2 * SORT_LENGTH - 1));
    let mut targets = Vec::with_capacity(batch_size * SORT_LENGTH);
    for _ in 0..batch_size {
        let problem: Vec<usize> = (0..SORT_LENGTH).map(|_| rng.below(3)).collect();
        let mut answer = problem.clone();
        answer.sort_unstable();
        inputs.extend(&problem);
        inputs.extend(&answer[..SORT_LENGTH - 1]);
        targets.extend(&answer);
    }
    (inputs, targets)
}

/// Mean cross-entropy of the answer positions: where position 5 predicts the first sorted letter, and so on.
pub fn sort_loss<B: Backend>(
    model: &Network<B>,
    inputs: &[usize],
    targets: &[usize],
    batch_size: usize,
) -> Tensor<B, 1> {
    let device = model.device();
    let t = 2 * SORT_LENGTH - 1;
    let idx = Tensor::<B, 2, Int>::from_data(
        TensorData::new(inputs.iter().map(|&x| x as i64).collect::<Vec<_>>(), [batch_size, t]),
        &device,
    );
    let logits = model.forward(idx, &mut Recorder::off()); // [B, T, V]
    answer_loss(logits, SORT_LENGTH - 1, targets, batch_size)
}

/// Mean cross-entropy of `targets` [B, n], predicted by the positions from `first` on of `logits` [B, T, V].
pub fn answer_loss<B: Backend>(
    logits: Tensor<B, 3>,
    first: usize,
    targets: &[usize],
    batch_size: usize,
) -> Tensor<B, 1> {
    let n = targets.len() / batch_size;
    let answer_logits = logits.narrow(1, first, n); // [B, n, V]
    let targets = Tensor::<B, 2, Int>::from_data(
        TensorData::new(targets.iter().map(|&x| x as i64).collect::<Vec<_>>(), [batch_size, n]),
        &answer_logits.device(),
    )
    .unsqueeze_dim::<3>(2); // [B, n, 1]
    let log_probs = log_softmax(answer_logits, 2).gather(2, targets); // [B, n, 1]
    log_probs.mean().neg()
}

/// minGPT's optimizer for the sort demo: AdamW with weight decay 0.1, each gradient clipped at norm 1
/// (burn clips each parameter tensor's gradient on its own, not all of them together).
pub fn optimizer_config() -> AdamWConfig {
    AdamWConfig::new().with_weight_decay(WEIGHT_DECAY).with_grad_clipping(Some(GradientClippingConfig::Norm(CLIP_NORM)))
}

/// AdamW's weight decay, and the norm each parameter's gradient is clipped to.
pub const WEIGHT_DECAY: f32 = 0.1;
pub const CLIP_NORM: f32 = 1.0;

/// One report per `every` steps while training, for the progress bar.
pub struct Progress {
    pub step: usize,
    pub loss: f32,
}

/// Trains from `initial_weights(config, seed)` and returns the trained weights.
pub fn train<B: AutodiffBackend>(
    config: &GptConfig,
    options: &TrainOptions,
    device: &B::Device,
    on_progress: impl FnMut(Progress),
) -> Weights {
    train_with_checkpoints::<B>(config, options, device, &[], on_progress, |_, _, _| {})
}

/// `train`, handing the weights as they are after each step listed in `checkpoints` (0: before
/// the first) to `on_checkpoint`, with AdamW's moments then. Taking them changes nothing in the
/// run: the weights at step k are those a run of k steps ends with.
pub fn train_with_checkpoints<B: AutodiffBackend>(
    config: &GptConfig,
    options: &TrainOptions,
    device: &B::Device,
    checkpoints: &[usize],
    mut on_progress: impl FnMut(Progress),
    mut on_checkpoint: impl FnMut(usize, Weights, Moments),
) -> Weights {
    B::seed(device, options.seed);
    let mut model: Network<B> = Network::from_weights(&initial_weights(config, options.seed), device);
    let ids = step::param_ids(&mut model);
    if checkpoints.contains(&0) {
        on_checkpoint(0, model.valid().to_weights(), Moments::default());
    }
    let mut optimizer = optimizer_config().init();
    let mut data_rng = data_rng(options.seed);
    for step in 1..=options.steps {
        let (inputs, targets) = sort_batch(&mut data_rng, options.batch_size);
        let loss = sort_loss(&model, &inputs, &targets, options.batch_size);
        let loss_value = loss.clone().into_scalar().elem_f32();
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optimizer.step(options.learning_rate, model, grads);
        on_progress(Progress { step, loss: loss_value });
        if checkpoints.contains(&step) {
            let moments = step::moments_of::<B>(optimizer.to_record(), &ids, step);
            on_checkpoint(step, model.valid().to_weights(), moments);
        }
    }
    model.valid().to_weights()
}

trait ElemF32 {
    fn elem_f32(self) -> f32;
}

impl<E: burn::tensor::ElementConversion> ElemF32 for E {
    fn elem_f32(self) -> f32 {
        self.elem()
    }
}

/// Every one of the 3^6 = 729 problems, solved greedily; returns (correct, total).
pub fn sort_accuracy<B: Backend>(model: &Network<B>) -> (usize, usize) {
    let device = model.device();
    let problems: Vec<Vec<usize>> = (0..3usize.pow(SORT_LENGTH as u32))
        .map(|n| (0..SORT_LENGTH).map(|i| (n / 3usize.pow(i as u32)) % 3).collect())
        .collect();
    let mut contexts = problems.clone();
    for _ in 0..SORT_LENGTH {
        let t = contexts[0].len();
        let flat: Vec<usize> = contexts.iter().flatten().copied().collect();
        let idx = token_tensor::<B>(&flat, &device).reshape([problems.len(), t]);
        let logits = model.forward(idx, &mut Recorder::off()); // [N, t, V]
        let next = logits.narrow(1, t - 1, 1).argmax(2); // [N, 1, 1]
        let next: Vec<i64> = next.into_data().convert::<i64>().to_vec().expect("int data");
        for (context, token) in contexts.iter_mut().zip(next) {
            context.push(token as usize);
        }
    }
    let correct = problems
        .iter()
        .zip(&contexts)
        .filter(|(problem, context)| {
            let mut sorted = problem.to_vec();
            sorted.sort_unstable();
            context[SORT_LENGTH..] == sorted[..]
        })
        .count();
    (correct, problems.len())
}

/// Weights saved during training, for watching the model learn.
#[derive(Clone, Debug)]
pub struct Checkpoint {
    /// Training steps taken; 0 is the random initialisation.
    pub step: usize,
    /// Shared: the app swaps them into the scene without copying.
    pub weights: Arc<Weights>,
    /// Problems of the 729 sorted correctly, as `eval` counts them.
    pub correct: usize,
    /// AdamW's moments at this step, for a training step taken from here to continue the run;
    /// None where the file beside the checkpoint is missing (checkpoints saved before they were kept).
    pub moments: Option<Arc<Moments>>,
}

/// Where `train --checkpoints` keeps the checkpoints of a model saved at `out`:
/// `models/nano-sort.safetensors` → `models/nano-sort.checkpoints/`.
pub fn checkpoint_dir(out: &Path) -> PathBuf {
    let stem = out.file_stem().map(|stem| stem.to_string_lossy().into_owned()).unwrap_or_else(|| "model".into());
    out.with_file_name(format!("{stem}.checkpoints"))
}

/// `step-00200.safetensors`: names that sort in training order.
pub fn checkpoint_file(dir: &Path, step: usize) -> PathBuf {
    dir.join(format!("step-{step:05}.safetensors"))
}

/// Saves a checkpoint with its step and accuracy in the safetensors metadata.
pub fn save_checkpoint(dir: &Path, checkpoint: &Checkpoint) -> Result<PathBuf, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: cannot create: {e}", dir.display()))?;
    let path = checkpoint_file(dir, checkpoint.step);
    let extra = BTreeMap::from([
        ("step".to_string(), checkpoint.step.to_string()),
        ("correct".to_string(), checkpoint.correct.to_string()),
    ]);
    checkpoint.weights.save_safetensors_with(&path, extra).map_err(|e| e.to_string())?;
    if let Some(moments) = &checkpoint.moments {
        moments.save(&Moments::file_beside(&path))?;
    }
    Ok(path)
}

/// Every checkpoint in `dir`, by step. A file that does not read, or lacks its step, is an error
/// that names it.
pub fn load_checkpoints(dir: &Path) -> Result<Vec<Checkpoint>, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: cannot read: {e}", dir.display()))?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "safetensors"))
        .filter(|path| !path.to_string_lossy().ends_with(MOMENTS_SUFFIX))
        .collect();
    paths.sort();
    let mut checkpoints = Vec::with_capacity(paths.len());
    for path in paths {
        let (weights, metadata) = Weights::load_with_metadata(&path).map_err(|e| e.to_string())?;
        let number = |key: &str| -> Result<usize, String> {
            let text = metadata.get(key).ok_or_else(|| format!("{}: metadata has no '{key}'", path.display()))?;
            text.parse().map_err(|_| format!("{}: metadata '{key}' is '{text}', not a count", path.display()))
        };
        let moments = Moments::load_beside(&path, &weights)?.map(Arc::new);
        let (step, correct) = (number("step")?, number("correct")?);
        checkpoints.push(Checkpoint { step, correct, weights: Arc::new(weights), moments });
    }
    checkpoints.sort_by_key(|checkpoint| checkpoint.step);
    Ok(checkpoints)
}
