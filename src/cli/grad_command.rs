//! `llmviz grad`: the loss on an input and the gradient of every activation and weight, as one
//! training step computes them.

use burn::backend::Autodiff;
use serde_json::{Map, Value, json};

use super::{CliResult, ModelInput, print_stdout};
use crate::model::tokenizer::Tokenizer;
use crate::model::{CpuBackend, NamedTensor, Weights, huggingface};
use crate::train::TrainOptions;
use crate::train::step::{Example, Moments, TrainingStep, training_step};

#[derive(clap::Args, Debug)]
pub struct GradArgs {
    /// Weights and what they read. nano's loss is the sort task's: six letters (CBABBC when none
    /// are given) and their sorted answer; a text's loss is each next token's.
    #[command(flatten)]
    pub model: ModelInput,
    /// Print {"loss", "tokens", "first", "targets", "tensors"} instead of a summary, every gradient
    /// under its tensor's name with ".grad" as {"shape", "data"}; weights under the names their
    /// file gives them.
    #[arg(long)]
    pub json: bool,
}

pub fn grad(args: GradArgs) -> CliResult {
    let weights = args.model.weights()?;
    let tokens = args.model.tokens(&weights.config, true)?;
    let reads_text = Tokenizer::of(&weights.config).is_some_and(|t| t.takes_free_text());
    let example = Example::for_model(reads_text, &tokens)
        .map_err(|e| format!("{}: {e}", if reads_text { "--text" } else { "--input" }))?;
    if example.tokens.len() > weights.config.block_size {
        return Err(format!(
            "--input: the example is {} tokens, more than the model's {}",
            example.tokens.len(),
            weights.config.block_size
        ));
    }
    let learning_rate = TrainOptions::default().learning_rate;
    // A training checkpoint's moments, saved beside it, continue its run.
    let moments = match &args.model.weights {
        Some(path) if path.is_file() => Moments::load_beside(path, &weights)?.unwrap_or_default(),
        _ => Moments::default(),
    };
    let step = training_step::<Autodiff<CpuBackend>>(&weights, &moments, &example, learning_rate, &Default::default());
    let stored = huggingface::names_of_file(&weights);
    let named = |name: &str, tensor: &NamedTensor| match name.strip_suffix(".grad") {
        Some(weight) if weights.tensors.contains_key(weight) => {
            let (name, tensor) = stored(weight, tensor);
            (format!("{name}.grad"), tensor)
        }
        _ => (name.to_string(), tensor.clone()),
    };
    if args.json {
        print_stdout(&step_json(&step, &named).to_string());
    } else {
        print_stdout(&summary(&step, &weights, &named));
    }
    Ok(())
}

fn step_json(step: &TrainingStep, named: &dyn Fn(&str, &NamedTensor) -> (String, NamedTensor)) -> Value {
    let mut tensors = Map::new();
    for (name, tensor) in &step.gradients {
        let (name, tensor) = named(name, tensor);
        tensors.insert(name, json!({ "shape": tensor.shape, "data": tensor.data }));
    }
    let example = &step.example;
    json!({
        "loss": step.loss,
        "tokens": example.tokens,
        "first": example.first,
        "targets": example.targets,
        "tensors": tensors,
    })
}

/// The loss, then one line per gradient: its shape, norm and largest magnitude.
fn summary(
    step: &TrainingStep,
    weights: &Weights,
    named: &dyn Fn(&str, &NamedTensor) -> (String, NamedTensor),
) -> String {
    let example = &step.example;
    let mut lines = vec![
        format!("tokens {:?}; positions {}.. predict {:?}", example.tokens, example.first, example.targets),
        format!("loss {:.6} (mean cross-entropy of {} predictions)", step.loss, example.targets.len()),
        format!("{:<40} {:>14} {:>12} {:>12}", "gradient", "shape", "norm", "max |g|"),
    ];
    let (activations, parameters): (Vec<_>, Vec<_>) = step
        .gradients
        .iter()
        .partition(|(name, _)| !name.strip_suffix(".grad").is_some_and(|w| weights.tensors.contains_key(w)));
    for (name, tensor) in activations.into_iter().chain(parameters) {
        let (name, tensor) = named(name, tensor);
        let norm = tensor.data.iter().map(|&g| f64::from(g).powi(2)).sum::<f64>().sqrt();
        let max = tensor.data.iter().fold(0.0_f32, |max, &g| max.max(g.abs()));
        lines.push(format!("{name:<40} {:>14} {norm:>12.4e} {max:>12.4e}", format!("{:?}", tensor.shape)));
    }
    lines.join("\n")
}
