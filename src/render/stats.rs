//! What the render world did last frame: draw calls (batches) of the 3D phases and pipelines still
//! compiling, and the pipelines compiled (logged as they come). The offscreen tools wait on the
//! second and report the first.

use std::sync::{Arc, Mutex};

use bevy::core_pipeline::core_3d::{AlphaMask3d, Opaque3d, Transparent3d};
use bevy::prelude::*;
use bevy::render::render_phase::{BinnedPhaseItem, PhaseItem, ViewBinnedRenderPhases, ViewSortedRenderPhases};
use bevy::render::render_resource::{CachedPipeline, CachedPipelineState, PipelineCache, PipelineDescriptor};
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
}

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
            render_app.insert_resource(stats).add_systems(Render, count_batches.in_set(RenderSystems::PrepareBindGroups));
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
        let labels: Vec<String> = pipelines.pipelines().filter(compiled).map(|pipeline| pipeline_label(&pipeline.descriptor)).collect();
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
