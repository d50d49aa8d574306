//! The `llmviz` command line: the app when no subcommand is given, and the headless tools.
//!
//! Every command lives here, a file per family: its clap arguments, what it prints and its exit
//! code. The library modules it calls (`model`, `layout`, `explain`, `tour`, `render`, `train`)
//! return values and errors and print nothing, so nothing flows back from them into the command line.

mod fetch_command;
mod grad_command;
mod layout_command;
mod lens_command;
mod model_commands;
mod render_commands;
mod soak_command;
mod tour_command;
mod train_commands;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use bevy_math::UVec2;
use clap::{Parser, Subcommand, ValueEnum};

use crate::layout::Layout;
use crate::model::tokenizer::parse_letters;
use crate::model::tokenizer::{Dropped, TokenLimit, Tokenizer, tokenize, truncate_tokens};
use crate::model::{BackendKind, GptConfig, ModelError, NonFinite, Weights};
use crate::render::RenderError;
use crate::render::run::app::WindowOptions;
use crate::render::scene::blocks::SceneSource;
use crate::render::scene::compute::ComputeChoice;
use crate::render::view::pick::{CellRef, parse_cell_ref};
use crate::render::view::viewpoint::{CameraChoice, CameraError};
use crate::tour::TourLink;

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
    /// The language of the tour and the app's own words: en, es or zh-CN (the system's language
    /// where llmviz speaks it, else en).
    #[arg(long, value_parser = parse_language)]
    pub lang: Option<&'static str>,
    /// Where the forward pass computes: auto (the GPU the scene is drawn with when it is a real
    /// one; the CPU on a software adapter such as lavapipe, where the CPU is faster), cpu or gpu.
    #[arg(long, value_enum, default_value_t = ComputeArg::Auto)]
    pub compute: ComputeArg,
    /// Open in gradient mode: a training step on the input, every block drawn as the gradient of
    /// the loss (the model card's switch).
    #[arg(long)]
    pub gradients: bool,
    /// Open these weights on this text instead of the tour (see `llmviz inspect --help`).
    #[command(flatten)]
    pub model: ModelInput,
}

/// The model and what it reads, shared by every command that runs one: `--weights`, then
/// `--text` (any model) or `--input` (nano's letters).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ModelInput {
    /// Weights: a Hugging Face GPT-2 folder (config.json + model.safetensors), a Hugging Face Llama,
    /// Qwen2 or Qwen3 folder (config.json, tokenizer.json and the weights, one file or shards), a
    /// .safetensors file or a minGPT .json; the built-in nano-sort model when omitted.
    #[arg(long)]
    pub weights: Option<PathBuf>,
    /// Text for the model to read, tokenized as the model's vocabulary spells it (GPT-2's BPE, the
    /// folder's tokenizer.json, or nano's letters).
    #[arg(long, conflicts_with = "input")]
    pub text: Option<String>,
    /// Letters of the sort task, e.g. CBABBC (models with a letter vocabulary).
    #[arg(long)]
    pub input: Option<String>,
    /// The most tokens drawn and run: attention grows with the square of the length. Longer text
    /// keeps its first tokens, with a warning.
    #[arg(long, default_value_t = DEFAULT_MAX_TOKENS, value_parser = parse_max_tokens)]
    pub max_tokens: usize,
    /// Load weights holding NaN or infinite values instead of refusing them: their cells, and the
    /// activations they spoil, are drawn magenta.
    #[arg(long)]
    pub allow_nonfinite: bool,
}

/// What a model that reads text reads when no `--text` is given.
pub use crate::render::DEFAULT_TEXT;

/// T of a checkpoint's layout when `--max-tokens` is not given.
pub use crate::render::DEFAULT_MAX_TOKENS;

/// `--max-tokens`: 1 to 2048 (GPT-3's context; attention of more would not be drawn in any useful time).
fn parse_max_tokens(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n) if (1..=2048).contains(&n) => Ok(n),
        _ => Err(format!("'{text}': expected a number of tokens from 1 to 2048")),
    }
}

impl ModelInput {
    /// True when neither weights nor text nor letters were given.
    pub fn is_empty(&self) -> bool {
        self.weights.is_none() && self.text.is_none() && self.input.is_none()
    }

    /// The weights, drawn and run with at most `--max-tokens` tokens.
    pub fn weights(&self) -> Result<Weights, String> {
        let mut weights = load_weights(self.weights.as_deref(), self.non_finite())?;
        weights.config = weights.config.with_max_tokens(self.max_tokens);
        Ok(weights)
    }

    pub fn non_finite(&self) -> NonFinite {
        if self.allow_nonfinite { NonFinite::Allow } else { NonFinite::Refuse }
    }

    /// The tokens of `--text` or `--input` for `config`'s model; with `defaults`, when neither was
    /// given, nano's CBABBC or, for a model that reads text, `DEFAULT_TEXT`. Text longer than the
    /// model takes keeps its first tokens and warns on stderr.
    pub fn tokens(&self, config: &GptConfig, defaults: bool) -> Result<Vec<usize>, String> {
        let free_text = Tokenizer::of(config).is_some_and(|t| t.takes_free_text());
        let default_text = (defaults && free_text && self.input.is_none()).then(|| DEFAULT_TEXT.to_string());
        let default_letters = (defaults && !free_text).then_some(crate::render::DEFAULT_INPUT);
        match (self.text.clone().or(default_text), self.input.as_deref().or(default_letters)) {
            (Some(text), _) => {
                let tokens = tokenize(config, &text).map_err(|e| format!("--text: {e}"))?;
                let (tokens, dropped) = truncate_tokens(config, tokens);
                if let Some(dropped) = dropped {
                    eprintln!("warning: --text: {}", dropped_words(&dropped));
                }
                Ok(tokens)
            }
            (None, Some(input)) => parse_letters(input, config).map_err(|e| format!("--input: {e}")),
            (None, None) => Err("give --text TEXT (any model) or --input LETTERS (nano's letters)".into()),
        }
    }

    /// Weights and tokens together, as the scene shows them (with the default input when none is given).
    pub fn scene(&self) -> Result<SceneSource, String> {
        let weights = self.weights()?;
        let tokens = self.tokens(&weights.config, true)?;
        Ok(SceneSource::with_weights(weights, tokens))
    }
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the model on an input and print its tokens, predictions or every intermediate tensor.
    Inspect(model_commands::InspectArgs),
    /// The logit lens: what the residual stream after the embedding and after each layer would
    /// predict, read through the model's final norm and unembedding.
    Lens(lens_command::LensArgs),
    /// Render one view to a PNG without a window or display server.
    Screenshot(render_commands::ScreenshotArgs),
    /// Render a tour, or one chapter, frame by frame offscreen with its text as a caption band:
    /// numbered PNGs, or an MP4 (H.264) through ffmpeg.
    RenderTour(render_commands::RenderTourArgs),
    /// Render frames offscreen from the overview camera and print their median and p95 times.
    Bench(render_commands::BenchArgs),
    /// Run the app offscreen for minutes of touring, model switches, inputs, slider moves and
    /// hovers, printing its memory every minute.
    Soak(soak_command::SoakArgs),
    /// Print the 3D layout of a model: a summary, or every block as JSON.
    Layout(layout_command::LayoutArgs),
    /// How one cell's value was calculated, with the numbers that went in.
    Explain(model_commands::ExplainArgs),
    /// The loss on an input and the gradient of every activation and weight, as a training step
    /// takes them (nano: the sort task's loss; a text model: each next token's).
    Grad(grad_command::GradArgs),
    /// Split text into a model's tokens (GPT-2's BPE by default) and print their ids and pieces.
    Tokenize(model_commands::TokenizeArgs),
    /// Download a GPT-2 or Llama-family checkpoint (SmolLM2, Qwen2.5, Qwen3, TinyLlama, Llama 3.2)
    /// from Hugging Face into a folder that --weights opens.
    Fetch(fetch_command::FetchArgs),
    /// Work with tour files.
    #[command(subcommand)]
    Tour(tour_command::TourCommand),
    /// Train nano-gpt or nano-llama on the sort task and save safetensors weights.
    Train(train_commands::TrainArgs),
    /// Greedy sorting accuracy over all 729 possible inputs.
    Eval(train_commands::EvalArgs),
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ComputeArg {
    Auto,
    Cpu,
    Gpu,
}

impl From<ComputeArg> for ComputeChoice {
    fn from(arg: ComputeArg) -> ComputeChoice {
        match arg {
            ComputeArg::Auto => ComputeChoice::Auto,
            ComputeArg::Cpu => ComputeChoice::Cpu,
            ComputeArg::Gpu => ComputeChoice::Gpu,
        }
    }
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

/// One line for the user, never a panic: every command's failure comes back as this.
pub type CliResult = Result<(), String>;

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Inspect(args)) => model_commands::inspect(args),
        Some(Command::Layout(args)) => layout_command::layout_command(args),
        Some(Command::Lens(args)) => lens_command::lens(args),
        Some(Command::Explain(args)) => model_commands::explain_command(args),
        Some(Command::Tokenize(args)) => model_commands::tokenize(args),
        Some(Command::Grad(args)) => grad_command::grad(args),
        Some(Command::Tour(command)) => tour_command::tour_command(command),
        Some(Command::Fetch(args)) => fetch_command::fetch(args),
        Some(Command::Train(args)) => train_commands::train(args),
        Some(Command::Eval(args)) => train_commands::eval(args),
        Some(Command::Screenshot(args)) => render_commands::screenshot(args),
        Some(Command::RenderTour(args)) => render_commands::render_tour(args),
        Some(Command::Bench(args)) => render_commands::bench(args),
        Some(Command::Soak(args)) => soak_command::soak(args),
        None => run_app(cli),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The windowed app: on `--weights`/`--text`/`--input` when given, else on the tour.
fn run_app(cli: Cli) -> CliResult {
    let options = WindowOptions { compute: cli.compute.into(), ..window_options()? };
    let result = if cli.model.is_empty() && !cli.gradients {
        let link = TourLink { file: cli.tour, chapter: cli.chapter, step: cli.step, language: cli.lang };
        crate::render::run::app::run_tour_app(link, options)
    } else {
        let mut scene = cli.model.scene()?;
        if cli.gradients {
            scene.training = Some(Default::default());
        }
        crate::render::run::app::run_scene_app(scene, options)
    };
    result.map_err(|error| match error {
        RenderError::Camera(error) => format!("{CAMERA_ENV}: {error}"),
        error => render_error(error),
    })
}

/// `LLMVIZ_WINDOW_SCREENSHOT=FILE.png llmviz`: once the scene is drawn, the app saves its window
/// (3D and overlays) and exits. For checking the windowed app where no one looks at it (CI, Xvfb).
pub const SCREENSHOT_ENV: &str = "LLMVIZ_WINDOW_SCREENSHOT";
/// `LLMVIZ_WINDOW_CAMERA=block:NAME llmviz`: the app opens on a block (without the tour, unless
/// one is named), to look at the overlays from there with `LLMVIZ_WINDOW_SCREENSHOT`.
pub const CAMERA_ENV: &str = "LLMVIZ_WINDOW_CAMERA";

/// The window's options, from the environment.
fn window_options() -> Result<WindowOptions, String> {
    let camera = match std::env::var(CAMERA_ENV) {
        Ok(text) => Some(CameraChoice::parse(&text).map_err(|error| format!("{CAMERA_ENV} '{text}': {error}"))?),
        Err(_) => None,
    };
    let screenshot = std::env::var_os(SCREENSHOT_ENV).map(PathBuf::from);
    Ok(WindowOptions { camera, screenshot, ..WindowOptions::default() })
}

/// A renderer's error in the command line's words: what the user gave, by its flag.
pub fn render_error(error: RenderError) -> String {
    match error {
        RenderError::NoWeights { model, input } => {
            format!("--input '{input}': model '{model}' has no weights to run, only its structure is shown")
        }
        RenderError::Input { error, .. } => format!("--input: {error}"),
        RenderError::Camera(error) => camera_error(error),
        RenderError::StepWithoutChapter => "--step needs a --chapter to count in".into(),
        RenderError::Time(time) => format!("--time {time}: expected seconds into the chapter"),
        RenderError::Fps(fps) => format!("--fps {fps}: must be more than 0"),
        error => error.to_string(),
    }
}

/// A model's error in the command line's words, with the flags that avoid it.
pub fn model_error(error: &ModelError) -> String {
    match error {
        ModelError::TooLongForGpu { .. } => format!("{error}; use fewer (--max-tokens) or --backend ndarray"),
        error => error.to_string(),
    }
}

/// The warning for tokens dropped from `--text`, naming `--max-tokens` where that dropped them.
fn dropped_words(dropped: &Dropped) -> String {
    let Dropped { kept, total, limit } = dropped;
    match limit {
        TokenLimit::DrawingCap => format!("kept {kept} of {total} tokens: the drawing cap (--max-tokens) holds {kept}"),
        TokenLimit::Context { .. } => dropped.to_string(),
    }
}

/// `--hover NAME:I,J[,K]`: a cell of `layout`.
pub fn parse_hover(text: &str, layout: &Layout) -> Result<CellRef, String> {
    parse_cell_ref(text, layout).map_err(|error| format!("--hover '{text}': {error}"))
}

/// `--camera overview|block:NAME`: a view that `layout` has.
pub fn parse_camera(text: &str, layout: &Layout) -> Result<CameraChoice, String> {
    let choice = CameraChoice::parse(text).map_err(|error| format!("--camera '{text}': {error}"))?;
    choice.view_point(layout).map_err(camera_error)?;
    Ok(choice)
}

fn camera_error(error: CameraError) -> String {
    format!("--camera: {error}")
}

/// `--lang`: a language llmviz speaks, as its tag (`es-ES` and `zh` are `es` and `zh-CN`).
pub fn parse_language(text: &str) -> Result<&'static str, String> {
    crate::i18n::known_language(text).ok_or_else(|| {
        let known: Vec<&str> = crate::i18n::LANGUAGES.iter().map(|(tag, _)| *tag).collect();
        format!("'{text}' is not a language llmviz speaks: expected one of {}", known.join(", "))
    })
}

/// Prints a command's result. A reader that stops early (`| head`) is not an error worth a panic.
fn print_stdout(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}").and_then(|()| out.flush());
}

/// `1920x1080` → (1920, 1080); each side 16..=8192 pixels.
pub fn parse_size(text: &str) -> Result<UVec2, String> {
    let parsed = text
        .split_once(['x', 'X'])
        .and_then(|(w, h)| Some((w.trim().parse::<u32>().ok()?, h.trim().parse::<u32>().ok()?)));
    match parsed {
        Some((width, height)) if (16..=8192).contains(&width) && (16..=8192).contains(&height) => {
            Ok(UVec2::new(width, height))
        }
        _ => Err(format!("--size '{text}': expected WIDTHxHEIGHT, each 16 to 8192 pixels, e.g. 1920x1080")),
    }
}

/// `--weights PATH`, or the built-in nano-sort model when it is not given. Non-finite values that
/// are let in are said once, on stderr.
fn load_weights(path: Option<&Path>, non_finite: NonFinite) -> Result<Weights, String> {
    let weights = match path {
        Some(path) => Weights::load_with(path, non_finite).map_err(|e| e.to_string())?,
        None => Weights::default_model(),
    };
    if let Some(summary) = weights.non_finite_summary() {
        eprintln!("warning: --allow-nonfinite: {summary}");
    }
    Ok(weights)
}
