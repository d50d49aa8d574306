//! The scene room: the blocks and their material, the values in GPU pages, the forward-pass
//! worker that computes them, level of detail, the connectors, render statistics and GPU failure.

pub mod blocks;
// Natively only: the page's pass runs in a Web Worker, which the page's GPU device cannot reach.
#[cfg(not(target_arch = "wasm32"))]
pub mod compute;
pub mod connectors;
pub mod frame;
pub mod gpu;
pub mod lod;
pub mod material;
pub mod pages;
pub mod stats;
pub mod values;

use bevy::app::{PluginGroup, PluginGroupBuilder};

/// The scene with its values, drawn: what every way of running the renderer shares (the window,
/// the page, offscreen rendering and the soak).
pub struct ScenePlugins;

impl PluginGroup for ScenePlugins {
    fn build(self) -> PluginGroupBuilder {
        let group = PluginGroupBuilder::start::<Self>().add(frame::FramePlugin).add(gpu::GpuPlugin);
        #[cfg(not(target_arch = "wasm32"))]
        let group = group.add(compute::ComputePlugin);
        group
            .add(blocks::ScenePlugin)
            .add(connectors::ConnectorPlugin)
            .add(lod::LodPlugin)
            .add(stats::RenderStatsPlugin)
    }
}
