//! `llmviz train` and `llmviz eval`: nano-gpt trained on the sort task, and its accuracy.

use std::path::{Path, PathBuf};

use super::{BackendArg, CliResult, load_weights};
use crate::model::{BackendKind, CpuBackend, GptConfig, GpuBackend, LoadedModel, Weights};
use crate::train::{TrainOptions, sort_accuracy};

#[derive(clap::Args, Debug)]
pub struct TrainArgs {
    #[arg(long, default_value = "models/nano-sort.safetensors")]
    pub out: PathBuf,
    /// The shape to train: nano-gpt (GPT-2's blocks) or nano-llama (RMSNorm, RoPE, SwiGLU,
    /// grouped-query attention), both nano's size.
    #[arg(long, default_value = "nano", value_parser = ["nano", "nano-llama"])]
    pub model: String,
    #[arg(long, default_value_t = TrainOptions::default().seed)]
    pub seed: u64,
    #[arg(long, default_value_t = TrainOptions::default().steps)]
    pub steps: usize,
    #[arg(long, value_enum, default_value = "ndarray")]
    pub backend: BackendArg,
    /// Also save the weights after these steps (0: the random start), comma-separated, into
    /// OUT's stem + `.checkpoints/`, for the app's training-step slider.
    #[arg(long, value_delimiter = ',')]
    pub checkpoints: Vec<usize>,
}

#[derive(clap::Args, Debug)]
pub struct EvalArgs {
    /// Weights to evaluate; the built-in model when omitted.
    #[arg(long)]
    pub weights: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "ndarray")]
    pub backend: BackendArg,
}

pub fn train(args: TrainArgs) -> CliResult {
    use burn::backend::Autodiff;
    let options = TrainOptions { seed: args.seed, steps: args.steps, ..TrainOptions::default() };
    if options.steps == 0 {
        return Err("--steps must be at least 1".into());
    }
    let config = GptConfig::preset(&args.model).map_err(|e| e.to_string())?;
    let bar = progress_bar(options.steps);
    let on_progress = |p: crate::train::Progress| {
        bar.set_position(p.step as u64);
        bar.set_message(format!("{:.4}", p.loss));
    };
    if let Some(&past) = args.checkpoints.iter().find(|&&step| step > options.steps) {
        return Err(format!("--checkpoints {past}: past the last step, {}", options.steps));
    }
    let checkpoint_dir = crate::train::checkpoint_dir(&args.out);
    let mut saved = Vec::new();
    let mut save_error = None;
    let on_checkpoint = |step: usize, weights: Weights, moments: crate::model::training::Moments| {
        let (correct, _) = accuracy(&LoadedModel::new(&weights, BackendKind::Ndarray));
        let moments = Some(moments.into());
        let checkpoint = crate::train::Checkpoint { step, weights: weights.into(), correct, moments };
        match crate::train::save_checkpoint(&checkpoint_dir, &checkpoint) {
            Ok(path) => saved.push(format!("{} ({correct}/729)", path.display())),
            Err(error) => save_error = save_error.take().or(Some(error)),
        }
    };
    let started = std::time::Instant::now();
    let checkpoints = &args.checkpoints;
    let weights = match BackendKind::from(args.backend) {
        BackendKind::Ndarray => crate::train::train_with_checkpoints::<Autodiff<CpuBackend>>(
            &config,
            &options,
            &Default::default(),
            checkpoints,
            on_progress,
            on_checkpoint,
        ),
        BackendKind::Wgpu => crate::train::train_with_checkpoints::<Autodiff<GpuBackend>>(
            &config,
            &options,
            &Default::default(),
            checkpoints,
            on_progress,
            on_checkpoint,
        ),
    };
    bar.finish();
    if let Some(error) = save_error {
        return Err(error);
    }
    for line in &saved {
        println!("checkpoint {line}");
    }
    save_trained(&weights, &args.out, &options, started)
}

/// The bar `train` shows while it runs, `steps` long.
fn progress_bar(steps: usize) -> indicatif::ProgressBar {
    indicatif::ProgressBar::new(steps as u64).with_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} steps  loss {msg}  {elapsed} (eta {eta})")
            .expect("valid template"),
    )
}

/// Saves the trained weights to `out`, then says how well they sort and how long training took
/// (since `started`, saving included).
fn save_trained(weights: &Weights, out: &Path, options: &TrainOptions, started: std::time::Instant) -> CliResult {
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: cannot create: {e}", dir.display()))?;
    }
    weights.save_safetensors(out).map_err(|e| e.to_string())?;
    let model = LoadedModel::new(weights, BackendKind::Ndarray);
    let (correct, total) = accuracy(&model);
    println!(
        "trained {} steps (seed {}) in {:.1} s: accuracy {correct}/{total} = {:.2}%; saved {}",
        options.steps,
        options.seed,
        started.elapsed().as_secs_f64(),
        100.0 * correct as f64 / total as f64,
        out.display()
    );
    Ok(())
}

fn accuracy(model: &LoadedModel) -> (usize, usize) {
    match model {
        LoadedModel::Ndarray(gpt) => sort_accuracy(gpt.as_ref()),
        LoadedModel::Wgpu(gpt) => sort_accuracy(gpt.as_ref()),
    }
}

pub fn eval(args: EvalArgs) -> CliResult {
    let weights = load_weights(args.weights.as_deref(), crate::model::NonFinite::Refuse)?;
    if weights.config.vocab_size != 3 || weights.config.block_size < 11 {
        return Err(format!("{}: not a sort-task model (needs vocab 3, context 11)", weights.source.display()));
    }
    let model = LoadedModel::new(&weights, args.backend.into());
    let (correct, total) = accuracy(&model);
    println!("{}: sorted {correct}/{total} = {:.2}%", weights.source.display(), 100.0 * correct as f64 / total as f64);
    Ok(())
}
