//! Drawing the layout with Bevy, with the model's real numbers in the cells.
//!
//! One plugin per concern: `ScenePlugin` spawns the blocks and keeps their values current,
//! `LodPlugin` swaps distant layers for proxy boxes, `RenderStatsPlugin` counts draw calls,
//! `CameraPlugin` moves the camera (`TouchCameraPlugin` by touch), `UiPlugin` draws the egui
//! overlays, `PickPlugin` finds the cell under the pointer, `HoverPlugin` lights it and its sources
//! and shows its card, and `TourPlugin` plays a tour (`tour_player`, `tour_tweens`, `tour_panel`,
//! and `compute` for its animated calculations and flying cells).
//! `GpuPlugin` (`gpu`) ends the app with the reason when the GPU device is lost or wgpu reports an
//! error. `offscreen` renders without a window (for `llmviz screenshot` and `llmviz bench`), `soak`
//! drives it through hours of use (`llmviz soak`); `app` is the windowed app.
//!
//! The renderer knows nothing of the command line or the page: it offers functions that return
//! values or a `RenderError`, and prints nothing.

pub mod app;
pub mod camera;
pub mod caption;
pub mod compute;
pub mod connectors;
pub mod figures;
pub mod gpu;
pub mod hover;
pub mod idle;
pub mod language;
pub mod live_input;
pub mod lod;
pub mod material;
pub mod model_map;
// Offscreen rendering drives the app loop itself, with threads: native only.
#[cfg(not(target_arch = "wasm32"))]
pub mod offscreen;
pub mod pages;
pub mod pick;
pub mod sampling;
pub mod scene;
// The soak drives the offscreen app: native only.
#[cfg(not(target_arch = "wasm32"))]
pub mod soak;
pub mod stats;
pub mod token_strip;
pub mod tour_panel;
pub mod tour_player;
pub mod tour_tweens;
pub mod ui;
pub mod values;
pub mod view;

use crate::model::vocab::parse_letters;
use crate::model::{GptConfig, Weights};
use scene::SceneSource;

/// The input the app opens on, as in the reference.
pub const DEFAULT_INPUT: &str = "CBABBC";

/// What a model that reads text reads when given no text: nanoGPT's sampling prompt.
pub const DEFAULT_TEXT: &str = "Hello, I'm a language model,";

/// T of a checkpoint's layout unless told otherwise (`--max-tokens`): attention grows with its square.
pub const DEFAULT_MAX_TOKENS: usize = 64;

/// What to show for a model name: nano with its built-in weights on `input` (CBABBC by default);
/// the larger presets as structure only, since no weights ship for them.
pub fn scene_source(model: &str, input: Option<&str>) -> Result<SceneSource, RenderError> {
    let config = GptConfig::preset(model).map_err(|e| RenderError::Setup(e.to_string()))?;
    if config.name != "nano" {
        if let Some(input) = input {
            let message =
                format!("--input '{input}': model '{model}' has no weights to run, only its structure is shown");
            return Err(RenderError::Setup(message));
        }
        return Ok(SceneSource::structure_only(config));
    }
    let weights = Weights::default_model();
    let input = input.unwrap_or(DEFAULT_INPUT);
    let tokens = parse_letters(input, &weights.config).map_err(|e| RenderError::Setup(format!("--input: {e}")))?;
    Ok(SceneSource::with_weights(weights, tokens))
}

/// Why the renderer could not show or capture what it was asked to, as one line for the user.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// What to show cannot be set up: an unknown model, block or cell, input outside the
    /// vocabulary, a tour that does not open.
    #[error("{0}")]
    Setup(String),
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
