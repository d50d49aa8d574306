//! The `llmviz` command line: the app when no subcommand is given, and the headless tools.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use serde_json::{json, Map, Value};

use crate::model::vocab::{parse_letters, token_letter};
use crate::model::{Activations, BackendKind, GptConfig, LoadedModel, Weights};

#[derive(Parser, Debug)]
#[command(name = "llmviz", version, about = "A 3D visualization of how a GPT works")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the model on an input and print its tokens, predictions or every intermediate tensor.
    Inspect(InspectArgs),
    /// Render one view to a PNG without a window or display server.
    Screenshot(crate::render::offscreen::ScreenshotArgs),
    /// Render frames offscreen from the overview camera and print their median and p95 times.
    Bench(crate::render::offscreen::BenchArgs),
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum BackendArg {
    Ndarray,
    Wgpu,
}

impl From<BackendArg> for BackendKind {
    fn from(arg: BackendArg) -> BackendKind {
        match arg {
            BackendArg::Ndarray => BackendKind::Ndarray,
            BackendArg::Wgpu => BackendKind::Wgpu,
        }
    }
}

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

/// One line for the user, never a panic: every command's failure comes back as this.
pub type CliResult = Result<(), String>;

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Inspect(args)) => inspect(args),
        Some(Command::Screenshot(args)) => crate::render::offscreen::screenshot(args),
        Some(Command::Bench(args)) => crate::render::offscreen::bench(args),
        None => crate::render::app::main(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Prints a command's result. A reader that stops early (`| head`) is not an error worth a panic.
pub fn print_stdout(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}").and_then(|()| out.flush());
}

pub fn load_weights(path: Option<&Path>) -> Result<Weights, String> {
    match path {
        Some(path) => Weights::load(path).map_err(|e| e.to_string()),
        None => Ok(Weights::default_model()),
    }
}

fn inspect(args: InspectArgs) -> CliResult {
    let weights = load_weights(args.weights.as_deref())?;
    let tokens = parse_letters(&args.input, &weights.config).map_err(|e| format!("--input: {e}"))?;
    let model = LoadedModel::new(&weights, args.backend.into());
    let activations = model.activations(&tokens);
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
        let generated: String = model.generate(&tokens, tokens.len()).into_iter().map(token_letter).collect();
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

pub fn preset(name: &str) -> Result<GptConfig, String> {
    GptConfig::preset(name).map_err(|e| e.to_string())
}
