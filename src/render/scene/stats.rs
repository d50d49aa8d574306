//! What the render world did last frame: draw calls (batches) of the 3D phases and pipelines still
//! compiling, the pipelines compiled (logged as they come), and the GPU memory of what llmviz
//! created. The offscreen tools wait on the second and report the first; the soak reports the last.

use std::sync::{Arc, Mutex};

use bevy::core_pipeline::core_3d::{AlphaMask3d, Opaque3d, Transparent3d};
use bevy::prelude::*;
use bevy::render::render_asset::RenderAssets;
use bevy::render::render_phase::{BinnedPhaseItem, PhaseItem, ViewBinnedRenderPhases, ViewSortedRenderPhases};
use bevy::render::render_resource::{CachedPipeline, CachedPipelineState, PipelineCache, PipelineDescriptor};
use bevy::render::storage::GpuShaderBuffer;
use bevy::render::texture::GpuImage;
use bevy::render::{Render, RenderApp, RenderSystems};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FrameStats {
    /// Draw calls of the opaque, alpha-mask and transparent 3D phases, summed over views.
    pub batches: usize,
    /// Render pipelines queued or compiling.
    pub waiting_pipelines: usize,
    /// Pipelines compiled so far (each costs seconds on a software GPU such as SwiftShader).
    pub compiled_pipelines: usize,
    /// Render-world frames counted so far.
    pub frames: u64,
    /// Bytes of the GPU buffers and textures llmviz made: every `ShaderBuffer` (the blocks'
    /// descriptors and values; Bevy's own renderer makes none) and the `OwnedTextures`.
    pub gpu_bytes: u64,
}

/// Images llmviz renders into (the offscreen target), whose textures count in `gpu_bytes`. Set in
/// the render world by whoever creates them.
#[derive(Resource, Clone, Debug, Default)]
pub struct OwnedTextures(pub Vec<AssetId<Image>>);

/// Shared between the main and the render world (the render world writes, the main world reads).
#[derive(Resource, Clone, Default)]
pub struct RenderStats(pub Arc<Mutex<FrameStats>>);

impl RenderStats {
    pub fn get(&self) -> FrameStats {
        *self.0.lock().expect("render stats lock")
    }
}

pub struct RenderStatsPlugin;

impl Plugin for RenderStatsPlugin {
    fn build(&self, app: &mut App) {
        let stats = RenderStats::default();
        app.insert_resource(stats.clone());
        if let Some(render_app) = app.get_sub_app_mut(RenderApp) {
            // After the phases are batched, before they are drawn.
            render_app
                .insert_resource(stats)
                .init_resource::<OwnedTextures>()
                .add_systems(Render, (count_batches, count_gpu_bytes).in_set(RenderSystems::PrepareBindGroups));
        }
    }
}

fn count_batches(
    stats: Res<RenderStats>,
    opaque: Option<Res<ViewBinnedRenderPhases<Opaque3d>>>,
    alpha_mask: Option<Res<ViewBinnedRenderPhases<AlphaMask3d>>>,
    transparent: Option<Res<ViewSortedRenderPhases<Transparent3d>>>,
    pipelines: Res<PipelineCache>,
) {
    let mut batches = 0;
    if let Some(opaque) = opaque {
        batches += opaque.0.values().map(binned_draws).sum::<usize>();
    }
    if let Some(alpha_mask) = alpha_mask {
        batches += alpha_mask.0.values().map(binned_draws).sum::<usize>();
    }
    if let Some(transparent) = transparent {
        for phase in transparent.0.values() {
            // As `SortedRenderPhase::render_range` walks them: one draw per non-empty batch range.
            let mut index = 0;
            let items: Vec<_> = phase.items.values().collect();
            while index < items.len() {
                let range = items[index].batch_range().len();
                if range == 0 {
                    index += 1;
                } else {
                    batches += 1;
                    index += range;
                }
            }
        }
    }
    let mut shared = stats.0.lock().expect("render stats lock");
    shared.batches = batches;
    shared.waiting_pipelines = pipelines.waiting_pipelines().count();
    let compiled = |pipeline: &&CachedPipeline| matches!(pipeline.state, CachedPipelineState::Ok(_));
    let count = pipelines.pipelines().filter(compiled).count();
    // Labels only when the count changed: this runs every frame.
    if count != shared.compiled_pipelines {
        shared.compiled_pipelines = count;
        let labels: Vec<String> =
            pipelines.pipelines().filter(compiled).map(|pipeline| pipeline_label(&pipeline.descriptor)).collect();
        info!("{count} pipelines compiled: {}", labels.join(", "));
    }
    shared.frames += 1;
}

fn pipeline_label(descriptor: &PipelineDescriptor) -> String {
    let label = match descriptor {
        PipelineDescriptor::RenderPipelineDescriptor(render) => render.label.clone(),
        PipelineDescriptor::ComputePipelineDescriptor(compute) => compute.label.clone(),
    };
    label.map_or_else(|| "unlabelled".into(), |label| label.into_owned())
}

/// Draw calls of a binned phase: one per multidraw batch set and per batchable bin, one per
/// unbatchable entity.
fn binned_draws<BPI: BinnedPhaseItem>(phase: &bevy::render::render_phase::BinnedRenderPhase<BPI>) -> usize {
    phase.multidrawable_meshes.len()
        + phase.batchable_meshes.len()
        + phase.unbatchable_meshes.values().map(|bin| bin.entities.len()).sum::<usize>()
        + phase.non_mesh_items.len()
}

/// Recomputed every frame from the GPU assets alive in the render world, after they are prepared:
/// a buffer or texture that was freed is gone from them, and one that leaked stays. Counting what
/// is there, rather than adding and subtracting at each creation, cannot drift.
fn count_gpu_bytes(
    stats: Res<RenderStats>,
    buffers: Res<RenderAssets<GpuShaderBuffer>>,
    images: Res<RenderAssets<GpuImage>>,
    owned: Res<OwnedTextures>,
) {
    let buffer_bytes: u64 = buffers.iter().map(|(_, buffer)| buffer.buffer.size()).sum();
    let texture_bytes: u64 =
        owned.0.iter().filter_map(|id| images.get(*id)).map(|image| texture_bytes(&image.texture)).sum();
    stats.0.lock().expect("render stats lock").gpu_bytes = buffer_bytes + texture_bytes;
}

/// A texture's bytes: every mip level of every layer and sample, at its format's block size.
fn texture_bytes(texture: &bevy::render::render_resource::Texture) -> u64 {
    let size = texture.size();
    let format = texture.format();
    let block_bytes = u64::from(format.block_copy_size(None).unwrap_or(4));
    let (block_width, block_height) = format.block_dimensions();
    (0..texture.mip_level_count())
        .map(|level| {
            let width = u64::from((size.width >> level).max(1).div_ceil(block_width));
            let height = u64::from((size.height >> level).max(1).div_ceil(block_height));
            width * height * block_bytes
        })
        .sum::<u64>()
        * u64::from(size.depth_or_array_layers)
        * u64::from(texture.sample_count())
}
