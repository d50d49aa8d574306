//! Drawing the layout with Bevy, with the model's real numbers in the cells.
//!
//! The renderer is five rooms, bottom to top; each imports only from the rooms below it:
//! - `scene`: the blocks and their values. `ScenePlugins` holds `FramePlugin` (the order of a
//!   frame's steps, `FrameStep`, in `Update`, `PostUpdate` and egui's pass, which every room's
//!   systems join), `GpuPlugin` (the app ends with the
//!   reason when the GPU device is lost), `ScenePlugin` (blocks, material, value pages, the
//!   forward-pass worker), `ConnectorPlugin` (rods from a focused cell to its sources), `LodPlugin`
//!   (distant layers as proxy boxes) and `RenderStatsPlugin` (draw calls and GPU bytes).
//! - `view`: `ViewPointPlugin` places the camera by its view point; `ViewPlugins` holds
//!   `CameraPlugin` (orbit, pan, zoom, fly; `TouchCameraPlugin` by touch in the page), `PickPlugin`
//!   (the cell under the pointer) and `IdlePlugin` (no frame while nothing moves).
//! - `overlay`: `OverlayPlugins` holds `UiPlugin` (model switcher, model card, help, labels),
//!   `HoverPlugin` (the hovered cell's sources lit, and its card), `LanguagePlugin` and
//!   `SamplingPlugin`, and natively `CheckpointsPlugin` (the training checkpoints, read once);
//!   `panels` says where the panels sit.
//! - `tour`: `TourPlayerPlugin` plays a tour in the scene (the player, its tweens,
//!   `ComputePlugin`'s calculations and flights, `FocusNotesPlugin`); `TourPlugin` adds the keys
//!   and `PanelPlugin`'s sidebar; `CaptionPlugin` draws the text under offscreen pictures; `map`
//!   is the map of the model.
//! - `run`: `RendererPlugins` (the scene and the view point: what every app runs) over
//!   `bevy_plugins()`; the windowed app, offscreen rendering (`llmviz screenshot`, `bench`,
//!   `render-tour`) and the soak (`SoakPlugin`).
//!
//! The renderer knows nothing of the command line or the page: it offers functions that return
//! values or a `RenderError`, and prints nothing.

// The rooms, bottom to top: a room imports from the rooms below it, never from one above
// (tests/all/house.rs keeps this order).
pub mod overlay;
pub mod run;
pub mod scene;
pub mod tour;
pub mod view;

use crate::model::tokenizer::parse_letters;
use crate::model::{GptConfig, Weights};
use scene::blocks::SceneSource;

/// The input the app opens on, as in the reference.
pub const DEFAULT_INPUT: &str = "CBABBC";

/// What a model that reads text reads when given no text: nanoGPT's sampling prompt.
pub const DEFAULT_TEXT: &str = "Hello, I'm a language model,";

/// T of a checkpoint's layout unless told otherwise (`--max-tokens`): attention grows with its square.
pub const DEFAULT_MAX_TOKENS: usize = 64;

/// What to show for a preset: its shipped weights (nano's) on `input` (CBABBC by default); the
/// presets no weights ship for as structure only.
pub fn scene_source(model: &str, input: Option<&str>) -> Result<SceneSource, RenderError> {
    let config = GptConfig::preset(model).map_err(|e| RenderError::Setup(e.to_string()))?;
    let Some(weights) = Weights::shipped(&config.name) else {
        if let Some(input) = input {
            return Err(RenderError::NoWeights { model: model.to_string(), input: input.to_string() });
        }
        return Ok(SceneSource::structure_only(config));
    };
    let input = input.unwrap_or(DEFAULT_INPUT);
    let tokens = parse_letters(input, &weights.config)
        .map_err(|error| RenderError::Input { input: input.to_string(), error })?;
    Ok(SceneSource::with_weights(weights, tokens))
}

/// Why the renderer could not show or capture what it was asked to, as one line for the user.
/// Where the user gave what is refused (a model's input, a camera, a tour's step, time or frame
/// rate), the variant carries it, so that the command line and the page can name their own flag
/// or parameter.
#[derive(Debug, PartialEq, thiserror::Error)]
pub enum RenderError {
    /// What to show cannot be set up: an unknown model, a tour that does not open.
    #[error("{0}")]
    Setup(String),
    /// An input for a model shown without weights, which has nothing to run it.
    #[error("input '{input}': model '{model}' has no weights to run, only its structure is shown")]
    NoWeights { model: String, input: String },
    /// An input the model cannot read: letters outside its vocabulary, more than its context.
    #[error("input '{input}': {error}")]
    Input { input: String, error: crate::model::tokenizer::InputError },
    /// A view the model's layout does not have.
    #[error(transparent)]
    Camera(#[from] view::viewpoint::CameraError),
    /// A tour's step asked for without the chapter to count it in.
    #[error("a step needs a chapter to count in")]
    StepWithoutChapter,
    /// A time into a tour's chapter that is not a number of seconds.
    #[error("time {0}: expected seconds into the chapter")]
    Time(f32),
    /// A film's frame rate that is not more than 0.
    #[error("{0} frames per second: must be more than 0")]
    Fps(f32),
    /// The forward pass whose values the scene shows failed.
    #[error("{0}")]
    Values(String),
    #[error("the scene was not ready after {seconds} s ({pipelines} pipelines compiling, {batches} batches drawn)")]
    NotReady { seconds: u64, pipelines: usize, batches: usize },
    #[error("{0}")]
    Capture(String),
    #[error("{path}: cannot write: {message}")]
    Write { path: String, message: String },
    #[error("the app stopped with code {0}")]
    Stopped(u8),
    /// wgpu offers no adapter for the backends the renderer asks for (no driver installed).
    #[error("no GPU adapter: {0} (install a Vulkan driver, e.g. mesa-vulkan-drivers)")]
    NoAdapter(String),
    /// The GPU device was lost, or wgpu reported an error, while the app ran.
    #[error("{0}")]
    Gpu(String),
}
