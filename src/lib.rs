//! llmviz: every tensor of a GPT drawn as a block of cells in 3D, with real activations from real weights.
//!
//! Data flows one way: weights → `model` (burn) → activations → `layout` + scene → render;
//! tour → player → camera, tweens, highlights; pointer → pick → explain. `model`, `layout`, `tour`
//! and `explain` know nothing of Bevy or egui. `render` draws and knows nothing of the command
//! line or the page; `cli` (native) and `web` (the browser) start it and are never called back.

#[cfg(not(target_arch = "wasm32"))]
pub mod cli;
pub mod explain;
pub mod i18n;
pub mod layout;
pub mod model;
pub mod render;
pub mod tour;
pub mod train;
pub mod web;

use bevy as _;
use bevy_egui as _;
use bevy_tweening as _;
