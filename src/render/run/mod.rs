//! The run room: the app in a window, rendering without one, and the soak that drives it for hours.

pub mod app;
// Offscreen rendering drives the app loop itself, with threads: native only.
#[cfg(not(target_arch = "wasm32"))]
pub mod offscreen;
// The soak drives the offscreen app: native only.
#[cfg(not(target_arch = "wasm32"))]
pub mod soak;

use bevy::app::{PluginGroup, PluginGroupBuilder};
use bevy::prelude::DefaultPlugins;

use crate::render::scene::ScenePlugins;
use crate::render::view::viewpoint::ViewPointPlugin;

/// Bevy's own plugins as every app of the renderer sets them up (its GPU backends and limits, and
/// the physically based renderer without what the scene never uses); each app then sets its window.
pub fn bevy_plugins() -> PluginGroupBuilder {
    DefaultPlugins.set(crate::render::scene::gpu::render_plugin()).set(crate::render::scene::material::lean_pbr())
}

/// What the window, the page, offscreen rendering and the soak all run: the scene with its values
/// and the frame's order (`ScenePlugins`), and the camera placed by its view point. The window and
/// the page add the reader's controls and the overlays; offscreen rendering adds what it is asked to show.
pub struct RendererPlugins;

impl PluginGroup for RendererPlugins {
    fn build(self) -> PluginGroupBuilder {
        PluginGroupBuilder::start::<Self>().add_group(ScenePlugins).add(ViewPointPlugin)
    }
}
