//! A tour's `Compute` and `Fly` actions in the scene: the cells a computation has filled, the
//! operands it lights, its formula panel beside the cell, and the copies of cells in flight.
//!
//! The tour frame says which computation is where (`tour::ComputeFrame`), as a pure function of
//! the tour time; what its operands are comes from `explain`, through the same `Explanations`
//! the hover card reads. `derive_compute_view` turns both into `ComputeView` whenever either
//! changes; the tour player applies its windows and focus to the blocks, and the egui pass draws
//! its panel. A flight's copy is a box drawn like a block, whose descriptor points at the values
//! of the cells it carries: no new geometry, and the scene's own material (no extra draw).

use crate::render::scene::material::FLY_SLOTS;
use std::collections::BTreeMap;

use bevy::camera::visibility::NoCpuCulling;
use bevy::ecs::system::SystemParam;
use bevy::math::UVec4;
use bevy::mesh::MeshTag;
use bevy::prelude::*;
use bevy::render::storage::ShaderBuffer;
use bevy_egui::egui::{self, Color32, Pos2, Stroke};
use bevy_egui::{EguiContexts, EguiPrimaryContextPass};

use crate::explain::walk;
use crate::layout::{CELL, Layout};
use crate::render::overlay::hover::{CARD_FILL, CardBody, Explanations, card_position, source_focus};
use crate::render::scene::blocks::{BlockMesh, BlockScene, RevealWindow, SceneEntity, SceneValues, block_descriptor};
use crate::render::scene::frame::FrameStep;
use crate::render::scene::material::{BlockDescriptor, BlockMaterial, write_descriptor};
use crate::render::scene::pages::PackedValues;
use crate::render::tour::player::CurrentTourFrame;
use crate::render::view::pick::{CellRef, cell_center_world};
use crate::tour::timeline::{cells_region, region_cell, sweep_position, walk_shown};
use crate::tour::{ComputeFrame, ComputeStyle, FlightFrame, TourFrame};

/// What the tour's computations show now: cells filled, cells lit and the formula panel.
#[derive(Resource, Clone, Debug, Default, PartialEq)]
pub struct ComputeView {
    /// Cells shown computed beyond each block's reveal.
    pub windows: BTreeMap<usize, RevealWindow>,
    /// Cells lit per block: the cell being computed and the operands it reads now.
    pub focus: BTreeMap<usize, [Option<u32>; 3]>,
    /// A walk's formula panel, beside its cell.
    pub panel: Option<FormulaPanel>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct FormulaPanel {
    pub cell: CellRef,
    pub text: String,
}

/// Works out `ComputeView` when the tour frame, the scene or its values changed.
fn derive_compute_view(
    applied: Res<CurrentTourFrame>,
    scene: Res<BlockScene>,
    values: Res<SceneValues>,
    mut explanations: ResMut<Explanations>,
    mut view: ResMut<ComputeView>,
    mut shown: Local<Option<usize>>,
) {
    let scene = Some(&*scene)
        .filter(|scene| applied.frame.as_ref().is_some_and(|frame| frame.model == scene.layout.config.name));
    let scene_id = scene.as_ref().map(|scene| scene.id());
    if !applied.is_changed() && !values.is_changed() && *shown == scene_id {
        return;
    }
    *shown = scene_id;
    explanations.use_values(values.weights.as_ref(), values.activations.as_ref());
    let wanted = match (&applied.frame, scene) {
        (Some(frame), Some(scene)) => compute_view(frame, &scene.layout, &mut explanations),
        _ => ComputeView::default(),
    };
    view.set_if_neq(wanted);
}

/// The view of every computation in `frame`, read against the explanations of its cells.
pub fn compute_view(frame: &TourFrame, layout: &Layout, explanations: &mut Explanations) -> ComputeView {
    let mut view = ComputeView::default();
    for compute in &frame.computes {
        let Some(block) = layout.blocks.get(compute.block) else { continue };
        let (min, size) = cells_region(compute.cells, block.cells);
        let revealed = match compute.style {
            ComputeStyle::Sweep => sweep(compute, layout, min, size, explanations, &mut view),
            ComputeStyle::Walk => walk(compute, frame.step, layout, min, explanations, &mut view),
        };
        view.windows.insert(compute.block, RevealWindow { min, size, revealed: revealed.min(u32::MAX as u64) as u32 });
    }
    view
}

/// A sweep's cells done so far (of the `size` cells from `min`), with the one being computed and
/// its operands lit.
fn sweep(
    compute: &ComputeFrame,
    layout: &Layout,
    min: [u32; 3],
    size: [u32; 3],
    explanations: &mut Explanations,
    view: &mut ComputeView,
) -> u64 {
    let count: u64 = size.iter().map(|&n| n as u64).product();
    let (done, current) = sweep_position(compute.progress, count);
    if let Some(rank) = current {
        let cell = CellRef { block: compute.block, cell: region_cell(min, size, rank) };
        view.focus.insert(compute.block, cell.cell.map(Some));
        if let CardBody::Explained(explanation) = &*explanations.card(layout, cell) {
            for (block, cells) in source_focus(layout, explanation) {
                view.focus.entry(block).or_insert(cells);
            }
        }
    }
    done
}

/// A walk through one cell's calculation: the operands of the step it is at lit, the panel
/// written up to that step while the walk's step is on screen; 1 once the cell has its value.
fn walk(
    compute: &ComputeFrame,
    step: usize,
    layout: &Layout,
    cell: [u32; 3],
    explanations: &mut Explanations,
    view: &mut ComputeView,
) -> u64 {
    let cell = CellRef { block: compute.block, cell };
    let card = explanations.card(layout, cell);
    let CardBody::Explained(explanation) = &*card else {
        // No values yet (or a masked cell): the cell alone, filled when the walk ends.
        return u64::from(!compute.running());
    };
    let (shown, finished) = walk_shown(compute.progress, walk::steps(explanation));
    if compute.running() {
        view.focus.insert(compute.block, cell.cell.map(Some));
        for operand in walk::lit_operands(explanation, shown) {
            if let (Some(name), Some(operand_cell)) = (&operand.block, operand.cell)
                && let Some(block) = layout.find(name)
            {
                view.focus.insert(block, operand_cell.map(Some));
            }
        }
    }
    if compute.step == step {
        view.panel = Some(FormulaPanel { cell, text: walk::panel_text(explanation, shown, finished) });
    }
    u64::from(finished)
}

/// The formula panel: beside its cell, with a leader to it, in the cards' warm white.
fn draw_formula_panel(
    mut contexts: EguiContexts,
    view: Res<ComputeView>,
    scene: Res<BlockScene>,
    camera: Query<(&Camera, &GlobalTransform), With<Camera3d>>,
    transforms: Query<&GlobalTransform>,
) -> Result {
    let Some(panel) = &view.panel else { return Ok(()) };
    let Some((camera, camera_transform)) = camera.iter().find(|(camera, _)| camera.is_active) else { return Ok(()) };
    let Some(&entity) = scene.blocks.get(panel.cell.block) else { return Ok(()) };
    let Ok(transform) = transforms.get(entity) else { return Ok(()) };
    let world = cell_center_world(&scene.layout, panel.cell, transform);
    let Ok(point) = camera.world_to_viewport(camera_transform, world) else { return Ok(()) };
    let ctx = contexts.ctx_mut()?;
    let screen = ctx.content_rect();
    let anchor = Pos2::new(point.x, point.y);
    let id = egui::Id::new("formula panel");
    let size = ctx.memory(|memory| memory.area_rect(id)).map_or(egui::vec2(360.0, 120.0), |rect| rect.size());
    let response = egui::Area::new(id)
        .order(egui::Order::Foreground)
        .interactable(false)
        .fixed_pos(card_position(anchor, size, screen))
        .show(ctx, |ui| {
            egui::Frame::new()
                .fill(CARD_FILL)
                .stroke(Stroke::new(1.0, Color32::from_gray(150)))
                .corner_radius(4.0)
                .inner_margin(8.0)
                .show(ui, |ui| {
                    ui.set_max_width(420.0);
                    ui.label(egui::RichText::new(&panel.text).monospace().size(13.0).color(Color32::from_gray(25)));
                });
        });
    let card = response.response.rect;
    ctx.layer_painter(egui::LayerId::new(egui::Order::Middle, egui::Id::new("formula leader")))
        .line_segment([anchor, card.clamp(anchor)], Stroke::new(1.5, Color32::from_gray(70)));
    Ok(())
}

/// One flying copy, by its slot among the scene's `FLY_SLOTS`.
#[derive(Component, Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlyCopy {
    pub slot: usize,
}

/// The descriptors of the copies in flight, by slot, to write after the scene's own.
#[derive(Resource, Clone, Debug, Default, PartialEq)]
struct FlightDescriptors {
    scene: usize,
    slots: Vec<Option<BlockDescriptor>>,
}

/// The tour's calculations: the cells they fill and light, the formula panel beside a walked
/// cell, and the copies that fly from operands to results.
pub struct ComputePlugin;

impl Plugin for ComputePlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<ComputeView>()
            .init_resource::<FlightDescriptors>()
            .add_systems(Update, derive_compute_view.in_set(FrameStep::Derive))
            .add_systems(Update, place_flights.in_set(FrameStep::Style))
            .add_systems(PostUpdate, write_flight_descriptors.in_set(FrameStep::Copies))
            .add_systems(EguiPrimaryContextPass, draw_formula_panel.in_set(FrameStep::Notes));
    }
}

/// The box a flight's copy fills at its progress: lifted towards the viewer on the way, landing
/// with its first cell on the first cell of its target. Min and max corners, in world units.
pub fn flight_box(layout: &Layout, frame: &TourFrame, flight: &FlightFrame) -> (Vec3, Vec3) {
    let from_block = &layout.blocks[flight.from_block];
    let (from_min, size) = cells_region(flight.from, from_block.cells);
    let (to_min, _) = cells_region(flight.to, layout.blocks[flight.to_block].cells);
    let region = |block: usize, min: [u32; 3]| {
        let layout_block = &layout.blocks[block];
        let last = [0, 1, 2].map(|axis| min[axis] + size[axis] - 1);
        let (a, b) = (Vec3::from(layout_block.cell_center(min)), Vec3::from(layout_block.cell_center(last)));
        let offset = Vec3::from(frame.block(block).offset);
        (a.min(b) - Vec3::splat(CELL / 2.0) + offset, a.max(b) + Vec3::splat(CELL / 2.0) + offset)
    };
    let start = region(flight.from_block, from_min);
    let landing = region(flight.to_block, to_min);
    let shift = Vec3::from(flight.offset);
    let end = (landing.0 + shift, landing.1 + shift);
    let s = flight.progress.clamp(0.0, 1.0);
    // Up and towards the viewer, so the arc shows from the front as well as from the side.
    let travel = (end.0 - start.0).length();
    let lift = Vec3::new(0.0, 0.6, 0.8) * (8.0 * CELL).max(0.3 * travel) * 4.0 * s * (1.0 - s);
    (start.0.lerp(end.0, s) + lift, start.1.lerp(end.1, s) + lift)
}

/// A copy's descriptor: the source block's, cut down to the cells it carries, a little lit.
fn copy_descriptor(layout: &Layout, packed: &PackedValues, flight: &FlightFrame) -> BlockDescriptor {
    let block = &layout.blocks[flight.from_block];
    let (min, size) = cells_region(flight.from, block.cells);
    let mut descriptor = block_descriptor(layout, flight.from_block, packed, Default::default());
    descriptor.cells = UVec4::new(size[0], size[1], size[2], 0);
    // A copy is a small box of its own, never folded.
    descriptor.fold = BlockDescriptor::NO_FOLD;
    // The pyramid's tiles are the whole block's; a copy of a few cells is drawn from its values.
    descriptor.pyramid.x = -1;
    if descriptor.strides.w >= 0 {
        let step = descriptor.strides;
        descriptor.strides.w += min[0] as i32 * step.x + min[1] as i32 * step.y + min[2] as i32 * step.z;
    }
    descriptor.style.y = 0.25;
    descriptor
}

/// What the copies in flight are made from: the tour frame, the values they read, the scene and
/// its block mesh.
#[derive(SystemParam)]
struct FlightSources<'w> {
    applied: Res<'w, CurrentTourFrame>,
    packed: Res<'w, PackedValues>,
    scene: Res<'w, BlockScene>,
    mesh: Option<Res<'w, BlockMesh>>,
}

/// Spawns the scene's copies the first time something flies in it, and moves, shows and hides
/// them as the frame says.
fn place_flights(
    mut commands: Commands,
    sources: FlightSources,
    mut copies: Query<(&FlyCopy, &mut Transform, &mut Visibility, &mut MeshMaterial3d<BlockMaterial>)>,
    mut descriptors: ResMut<FlightDescriptors>,
) {
    let FlightSources { applied, packed, scene, mesh } = sources;
    let (Some(frame), Some(mesh)) = (&applied.frame, mesh) else { return };
    if frame.model != scene.layout.config.name || !(applied.is_changed() || packed.is_changed() || scene.is_changed()) {
        return;
    }
    let first_tag = (scene.layout.blocks.len() + scene.proxies.len()) as u32;
    if copies.is_empty() && !frame.flights.is_empty() {
        for slot in 0..FLY_SLOTS {
            let parked = (Visibility::Hidden, NoCpuCulling, SceneEntity, FlyCopy { slot });
            let drawn =
                (Mesh3d(mesh.0.clone()), MeshMaterial3d(scene.material(0, false)), MeshTag(first_tag + slot as u32));
            commands.spawn((drawn, Transform::default(), parked));
        }
    }
    let mut slots: Vec<Option<BlockDescriptor>> = vec![None; FLY_SLOTS];
    for (slot, flight) in frame.flights.iter().take(FLY_SLOTS).enumerate() {
        slots[slot] = Some(copy_descriptor(&scene.layout, &packed, flight));
    }
    for (copy, mut transform, mut visibility, mut material) in &mut copies {
        let wanted = match frame.flights.get(copy.slot) {
            Some(flight) => {
                let (min, max) = flight_box(&scene.layout, frame, flight);
                transform.set_if_neq(crate::render::scene::blocks::box_transform(min, max));
                // A copy reads its source's values, so it is drawn with the material of their page.
                let tensor = &scene.layout.blocks[flight.from_block].tensor;
                let page = packed.tensors.get(tensor).map_or(0, |tensor| tensor.page);
                let source_material = scene.material(page, false);
                if material.0 != source_material {
                    material.0 = source_material;
                }
                Visibility::Inherited
            }
            None => Visibility::Hidden,
        };
        visibility.set_if_neq(wanted);
    }
    descriptors.set_if_neq(FlightDescriptors { scene: scene.id(), slots });
}

/// Writes the copies' descriptors into the scene's buffer, after the scene wrote its own (which
/// rewrites the whole buffer when the values change).
fn write_flight_descriptors(
    scene: Res<BlockScene>,
    descriptors: Res<FlightDescriptors>,
    packed: Res<PackedValues>,
    mut buffers: ResMut<Assets<ShaderBuffer>>,
) {
    if descriptors.scene != scene.id() || !(descriptors.is_changed() || packed.is_changed() || scene.is_added()) {
        return;
    }
    let first_tag = scene.layout.blocks.len() + scene.proxies.len();
    let Some(mut buffer) = buffers.get_mut(&scene.descriptor_buffer) else { return };
    let Some(bytes) = buffer.data.as_mut() else { return };
    for (slot, descriptor) in descriptors.slots.iter().enumerate() {
        if let Some(descriptor) = descriptor {
            write_descriptor(bytes, first_tag + slot, descriptor);
        }
    }
}
