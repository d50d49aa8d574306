//! The `llmviz` command line: the app when no subcommand is given, and the headless tools.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use serde_json::{json, Map, Value};

use crate::model::vocab::{parse_letters, token_letter};
use crate::model::{Activations, BackendKind, CpuBackend, GpuBackend, GptConfig, LoadedModel, Weights};
use crate::train::{sort_accuracy, TrainOptions};

#[derive(Parser, Debug)]
#[command(name = "llmviz", version, about = "A 3D visualization of how a GPT works")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// The app opens this tour (tours/nano-gpt.ron when omitted).
    #[arg(long)]
    pub tour: Option<PathBuf>,
    /// The tour chapter to open, by id (e.g. self-attention).
    #[arg(long)]
    pub chapter: Option<String>,
    /// The step of --chapter to open, from 1.
    #[arg(long)]
    pub step: Option<usize>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the model on an input and print its tokens, predictions or every intermediate tensor.
    Inspect(InspectArgs),
    /// Render one view to a PNG without a window or display server.
    #[cfg(not(target_arch = "wasm32"))]
    Screenshot(crate::render::offscreen::ScreenshotArgs),
    /// Render frames offscreen from the overview camera and print their median and p95 times.
    #[cfg(not(target_arch = "wasm32"))]
    Bench(crate::render::offscreen::BenchArgs),
    /// Print the 3D layout of a model: a summary, or every block as JSON.
    Layout(LayoutArgs),
    /// How one cell's value was calculated, with the numbers that went in.
    Explain(ExplainArgs),
    /// Work with tour files.
    #[command(subcommand)]
    Tour(TourCommand),
    /// Train nano-gpt on the sort task and save safetensors weights.
    Train(TrainArgs),
    /// Greedy sorting accuracy over all 729 possible inputs.
    Eval(EvalArgs),
}

#[derive(clap::Args, Debug)]
pub struct LayoutArgs {
    /// nano, gpt2, gpt2-xl or gpt3.
    #[arg(long, default_value = "nano")]
    pub model: String,
    #[arg(long)]
    pub json: bool,
    /// Time building the layout (median of repeated builds) instead of printing it.
    #[arg(long)]
    pub bench: bool,
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

#[derive(Subcommand, Debug)]
pub enum TourCommand {
    /// Validate tour files against the layout of their model.
    Check { files: Vec<PathBuf> },
}

#[derive(clap::Args, Debug)]
pub struct TrainArgs {
    #[arg(long, default_value = "models/nano-sort.safetensors")]
    pub out: PathBuf,
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
        Some(Command::Layout(args)) => layout(args),
        Some(Command::Explain(args)) => explain(args),
        Some(Command::Tour(TourCommand::Check { files })) => crate::tour::check_command(&files),
        Some(Command::Train(args)) => train(args),
        Some(Command::Eval(args)) => eval(args),
        #[cfg(not(target_arch = "wasm32"))]
        Some(Command::Screenshot(args)) => crate::render::offscreen::screenshot(args),
        #[cfg(not(target_arch = "wasm32"))]
        Some(Command::Bench(args)) => crate::render::offscreen::bench(args),
        None => crate::render::app::main(crate::render::tour_player::TourLink {
            file: cli.tour,
            chapter: cli.chapter,
            step: cli.step,
        }),
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

fn train(args: TrainArgs) -> CliResult {
    use burn::backend::Autodiff;
    let options = TrainOptions { seed: args.seed, steps: args.steps, ..TrainOptions::default() };
    if options.steps == 0 {
        return Err("--steps must be at least 1".into());
    }
    let config = GptConfig::nano();
    let bar = indicatif::ProgressBar::new(options.steps as u64).with_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} steps  loss {msg}  {elapsed} (eta {eta})")
            .expect("valid template"),
    );
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
    let on_checkpoint = |step: usize, weights: Weights| {
        let (correct, _) = accuracy(&LoadedModel::new(&weights, BackendKind::Ndarray));
        let checkpoint = crate::train::Checkpoint { step, weights: weights.into(), correct };
        match crate::train::save_checkpoint(&checkpoint_dir, &checkpoint) {
            Ok(path) => saved.push(format!("{} ({correct}/729)", path.display())),
            Err(error) => save_error = save_error.take().or(Some(error)),
        }
    };
    let started = std::time::Instant::now();
    let checkpoints = &args.checkpoints;
    let weights = match BackendKind::from(args.backend) {
        BackendKind::Ndarray => crate::train::train_with_checkpoints::<Autodiff<CpuBackend>>(
            &config, &options, &Default::default(), checkpoints, on_progress, on_checkpoint,
        ),
        BackendKind::Wgpu => crate::train::train_with_checkpoints::<Autodiff<GpuBackend>>(
            &config, &options, &Default::default(), checkpoints, on_progress, on_checkpoint,
        ),
    };
    bar.finish();
    if let Some(error) = save_error {
        return Err(error);
    }
    for line in &saved {
        println!("checkpoint {line}");
    }
    if let Some(dir) = args.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: cannot create: {e}", dir.display()))?;
    }
    weights.save_safetensors(&args.out).map_err(|e| e.to_string())?;
    let model = LoadedModel::new(&weights, BackendKind::Ndarray);
    let (correct, total) = accuracy(&model);
    println!(
        "trained {} steps (seed {}) in {:.1} s: accuracy {correct}/{total} = {:.2}%; saved {}",
        options.steps,
        options.seed,
        started.elapsed().as_secs_f64(),
        100.0 * correct as f64 / total as f64,
        args.out.display()
    );
    Ok(())
}

fn accuracy(model: &LoadedModel) -> (usize, usize) {
    match model {
        LoadedModel::Ndarray(gpt) => sort_accuracy(gpt),
        LoadedModel::Wgpu(gpt) => sort_accuracy(gpt),
    }
}

fn eval(args: EvalArgs) -> CliResult {
    let weights = load_weights(args.weights.as_deref())?;
    if weights.config.vocab_size != 3 || weights.config.block_size < 11 {
        return Err(format!("{}: not a sort-task model (needs vocab 3, context 11)", weights.source.display()));
    }
    let model = LoadedModel::new(&weights, args.backend.into());
    let (correct, total) = accuracy(&model);
    println!("{}: sorted {correct}/{total} = {:.2}%", weights.source.display(), 100.0 * correct as f64 / total as f64);
    Ok(())
}

fn layout(args: LayoutArgs) -> CliResult {
    let config = preset(&args.model)?;
    if args.bench {
        let mut times: Vec<f64> = (0..11)
            .map(|_| {
                let started = std::time::Instant::now();
                let layout = crate::layout::build(&config);
                let elapsed = started.elapsed().as_secs_f64() * 1e3;
                drop(layout);
                elapsed
            })
            .collect();
        times.sort_by(f64::total_cmp);
        let blocks = crate::layout::build(&config).blocks.len();
        println!("layout {}: {blocks} blocks, median build {:.1} ms over {} builds", config.name, times[times.len() / 2], times.len());
        return Ok(());
    }
    let layout = crate::layout::build(&config);
    if args.json {
        use std::io::Write;
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        // A reader that stops early (`| head`) is fine; anything else is worth reporting.
        match layout.write_json(&mut out).map_err(std::io::Error::from).and_then(|()| writeln!(out)) {
            Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => return Err(format!("writing JSON: {e}")),
            _ => {}
        }
        return Ok(());
    }
    print_stdout(layout.summary().trim_end());
    Ok(())
}


fn explain(args: ExplainArgs) -> CliResult {
    let weights = load_weights(args.weights.as_deref())?;
    let tokens = parse_letters(&args.input, &weights.config).map_err(|e| format!("--input: {e}"))?;
    let cell = crate::explain::parse_cell(&args.cell).map_err(|e| format!("--cell '{}': {e}", args.cell))?;
    let layout = crate::layout::build(&weights.config);
    let activations = LoadedModel::new(&weights, BackendKind::Ndarray).activations(&tokens);
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
