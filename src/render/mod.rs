//! Drawing the layout with Bevy, with the model's real numbers in the cells.
//!
//! One plugin per concern: `ScenePlugin` spawns the blocks and keeps their values current,
//! `LodPlugin` swaps distant layers for proxy boxes, `RenderStatsPlugin` counts draw calls,
//! `CameraPlugin` moves the camera, `UiPlugin` draws the egui overlays, `PickPlugin` finds the cell
//! under the pointer and `HoverPlugin` lights it and its sources and shows its card. `offscreen` renders without
//! a window (`llmviz screenshot`, `llmviz bench`); `app` is the windowed app.

pub mod app;
pub mod camera;
pub mod hover;
pub mod live_input;
pub mod lod;
pub mod material;
// Offscreen rendering drives the app loop itself, with threads: native only.
#[cfg(not(target_arch = "wasm32"))]
pub mod offscreen;
pub mod pick;
pub mod scene;
pub mod stats;
pub mod tour_panel;
pub mod tour_player;
pub mod ui;
pub mod values;
pub mod view;

use bevy::math::UVec2;

use crate::model::vocab::parse_letters;
use crate::model::{GptConfig, Weights};
use scene::SceneSource;

/// The input the app opens on, as in the reference.
pub const DEFAULT_INPUT: &str = "CBABBC";

/// What to show for a model name: nano with its built-in weights on `input` (CBABBC by default);
/// the larger presets as structure only, since no weights ship for them.
pub fn scene_source(model: &str, input: Option<&str>) -> Result<SceneSource, String> {
    let config = GptConfig::preset(model).map_err(|e| e.to_string())?;
    if config.name != "nano" {
        if let Some(input) = input {
            return Err(format!("--input '{input}': model '{model}' has no weights to run, only its structure is shown"));
        }
        return Ok(SceneSource::structure_only(config));
    }
    let weights = Weights::default_model();
    let input = input.unwrap_or(DEFAULT_INPUT);
    let tokens = parse_letters(input, &weights.config).map_err(|e| format!("--input: {e}"))?;
    Ok(SceneSource::with_weights(weights, tokens))
}

/// `1920x1080` → (1920, 1080); each side 16..=8192 pixels.
pub fn parse_size(text: &str) -> Result<UVec2, String> {
    let parsed = text.split_once(['x', 'X']).and_then(|(w, h)| Some((w.trim().parse::<u32>().ok()?, h.trim().parse::<u32>().ok()?)));
    match parsed {
        Some((width, height)) if (16..=8192).contains(&width) && (16..=8192).contains(&height) => Ok(UVec2::new(width, height)),
        _ => Err(format!("--size '{text}': expected WIDTHxHEIGHT, each 16 to 8192 pixels, e.g. 1920x1080")),
    }
}
