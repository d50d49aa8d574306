//! `llmviz inspect` and `llmviz explain`: the model run on an input, and one cell's calculation.

use std::path::PathBuf;

use serde_json::{Map, Value, json};

use super::{BackendArg, CliResult, load_weights, print_stdout};
use crate::model::vocab::{parse_letters, token_letter};
use crate::model::{Activations, BackendKind, LoadedModel};

#[derive(clap::Args, Debug)]
pub struct InspectArgs {
    /// Weights (minGPT .json or .safetensors); the built-in nano-sort model when omitted.
    #[arg(long)]
    pub weights: Option<PathBuf>,
    /// Input letters of the sort task, e.g. CBABBC.
    #[arg(long)]
    pub input: String,
    #[arg(long, value_enum, default_value = "ndarray")]
    pub backend: BackendArg,
    /// Print every tensor as JSON instead of a summary.
    #[arg(long)]
    pub json: bool,
    /// Continue the input greedily, feeding each prediction back, for as many tokens as the input has.
    #[arg(long)]
    pub generate: bool,
}

#[derive(clap::Args, Debug)]
pub struct ExplainArgs {
    #[arg(long, default_value = "CBABBC")]
    pub input: String,
    /// A block name from `llmviz layout --json`, e.g. block0.head1.att.
    #[arg(long)]
    pub block: String,
    /// I,J[,K]: 0-based cell coordinates along the block's x, y and z axes.
    #[arg(long)]
    pub cell: String,
    #[arg(long)]
    pub weights: Option<PathBuf>,
    #[arg(long)]
    pub json: bool,
}

pub fn inspect(args: InspectArgs) -> CliResult {
    let weights = load_weights(args.weights.as_deref())?;
    let tokens = parse_letters(&args.input, &weights.config).map_err(|e| format!("--input: {e}"))?;
    let model = LoadedModel::new(&weights, args.backend.into());
    let activations = model.activations(&tokens).map_err(|e| format!("--input: {e}"))?;
    if args.json {
        print_stdout(&activations_json(&activations).to_string());
        return Ok(());
    }
    let letters: String = tokens.iter().map(|&t| token_letter(t)).collect();
    println!("model   {} ({} parameters)", weights.config.name, weights.config.param_count());
    println!("input   {letters}  tokens {tokens:?}");
    for (position, (next, probability)) in activations.predictions().iter().enumerate() {
        println!("  t={position:<2} {} -> {}  p={probability:.4}", token_letter(tokens[position]), token_letter(*next));
    }
    if args.generate {
        let generated = model.generate(&tokens, tokens.len()).map_err(|e| format!("--generate: {e}"))?;
        let generated: String = generated.into_iter().map(token_letter).collect();
        println!("generated {generated}");
    }
    Ok(())
}

/// `{"tokens": [...], "tensors": {NAME: {"shape", "data"}}}`; future attention scores are null.
pub fn activations_json(activations: &Activations) -> Value {
    let mut tensors = Map::new();
    for (name, tensor) in &activations.tensors {
        let masked_scores = name.ends_with(".att");
        let data: Vec<Value> = if masked_scores {
            let t = tensor.shape[2];
            tensor
                .data
                .iter()
                .enumerate()
                .map(|(i, &v)| if (i % t) > (i / t) % t { Value::Null } else { json!(v) })
                .collect()
        } else {
            tensor.data.iter().map(|&v| json!(v)).collect()
        };
        tensors.insert(name.clone(), json!({ "shape": tensor.shape, "data": data }));
    }
    json!({ "tokens": activations.tokens, "tensors": tensors })
}

pub fn explain_command(args: ExplainArgs) -> CliResult {
    let weights = load_weights(args.weights.as_deref())?;
    let tokens = parse_letters(&args.input, &weights.config).map_err(|e| format!("--input: {e}"))?;
    let cell = crate::explain::parse_cell(&args.cell).map_err(|e| format!("--cell '{}': {e}", args.cell))?;
    let layout = crate::layout::build(&weights.config);
    let activations = LoadedModel::new(&weights, BackendKind::Ndarray).activations(&tokens).map_err(|e| format!("--input: {e}"))?;
    let sources = crate::explain::Sources { layout: &layout, activations: &activations, weights: &weights };
    let explanation = crate::explain::explain(&sources, &args.block, cell).map_err(|e| e.to_string())?;
    if args.json {
        print_stdout(&serde_json::to_string(&explanation).expect("explanations serialize"));
    } else {
        let index: Vec<String> =
            explanation.index_names.iter().zip(&explanation.index).map(|(n, i)| format!("{n} = {i}")).collect();
        print_stdout(&format!(
            "{} {} = {}\n{}: {}",
            explanation.block,
            index.join(", "),
            explanation.value,
            explanation.op.as_str(),
            explanation.formula
        ));
    }
    Ok(())
}
