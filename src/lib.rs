//! llmviz: every tensor of a GPT drawn as a block of cells in 3D, with real activations from real weights.
//!
//! Data flows one way: weights → `model` (burn) → activations → `layout` + scene → render;
//! tour → player → camera, tweens, highlights; pointer → pick → explain.

pub mod cli;
pub mod explain;
pub mod layout;
pub mod model;
pub mod render;
pub mod tour;
pub mod train;
pub mod web;

use bevy as _;
use bevy_egui as _;
use bevy_tweening as _;
