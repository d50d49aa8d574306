//! The cell under the pointer: a ray from the camera through the cursor, tested against the boxes of
//! the blocks as they are drawn now (tours move and scale them), the nearest hit mapped to its cell.
//!
//! The hit is computed in each block's own unit-cube space in f64: GPT-3's world coordinates reach
//! millions, where an f32 ulp is a sizeable part of a 1.5-unit cell. The cell is the one on the face
//! the ray enters, so it is exact at grazing angles too. A click pins the hovered cell's card (after
//! the double-click time, since a double click flies the camera and pins nothing); Esc clears the pins.
//! `hover` turns `Hovered` and `Pinned` into highlights and cards.

use std::time::Duration;

use bevy::math::{Affine3A, DAffine3, DVec3};
use bevy::prelude::*;
use bevy::window::{PrimaryWindow, RequestRedraw};
use bevy_egui::input::EguiWantsInput;

use crate::layout::{Block, Layout};
use crate::render::scene::blocks::{BlockScene, BlockStyle, LodProxy, SceneBlock};
use crate::render::scene::frame::FrameStep;
use crate::render::view::camera::{Click, DOUBLE_CLICK};
use crate::render::view::viewpoint::UnknownBlock;

/// One cell of one block: the block's index in `Layout::blocks` and the cell along x, y, z.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CellRef {
    pub block: usize,
    pub cell: [u32; 3],
}

/// The cell under the pointer, and where the pointer is (window coordinates), if it is over the scene.
#[derive(Resource, Clone, Copy, Debug, Default, PartialEq)]
pub struct Hovered {
    pub cell: Option<CellRef>,
    pub pointer: Option<Vec2>,
}

/// Cells whose cards stay open, anchored to their cells, in the order they were pinned.
#[derive(Resource, Clone, Debug, Default, PartialEq)]
pub struct Pinned {
    pub cells: Vec<CellRef>,
}

impl Pinned {
    /// Pins a cell, or unpins it when it is pinned already.
    pub fn toggle(&mut self, cell: CellRef) {
        match self.cells.iter().position(|pinned| *pinned == cell) {
            Some(index) => {
                self.cells.remove(index);
            }
            None => self.cells.push(cell),
        }
    }
}

/// Blocks fainter than this (a tour fading them out) are looked through, not picked.
const MIN_PICKED_OPACITY: f32 = 0.2;

/// Pointer → `Hovered`, clicks → `Pinned`, Esc clears the pins. Windowed app only; see `hover` for the rest.
pub struct PickPlugin;

impl Plugin for PickPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<Hovered>()
            .init_resource::<Pinned>()
            .add_systems(Update, (track_pointer, pin_on_click, clear_pins_on_escape).chain().in_set(FrameStep::Input));
    }
}

/// Something a ray can hit: a block (by layout index) or a level-of-detail box (`None`), which hides
/// the blocks it stands for, as the unit cube placed by `world_from_unit`.
#[derive(Clone, Copy, Debug)]
pub struct PickTarget {
    pub block: Option<usize>,
    pub world_from_unit: Affine3A,
}

/// The nearest cell the ray hits, or None when it hits nothing or a level-of-detail box first.
pub fn pick(layout: &Layout, ray: Ray3d, targets: impl IntoIterator<Item = PickTarget>) -> Option<CellRef> {
    let origin = ray.origin.as_dvec3();
    let direction = ray.direction.as_vec3().as_dvec3();
    // A cheap f32 test of each world box first; only the few boxes along the ray get the exact test.
    let mut candidates: Vec<(f32, PickTarget)> = targets
        .into_iter()
        .filter_map(|target| {
            let (min, max) = world_box(&target.world_from_unit);
            // Padded, so that rounding never loses a box the exact test would hit.
            let pad = (max - min).max_element() * 1e-4 + 1e-3;
            crate::render::view::camera::ray_box(ray, min - pad, max + pad).map(|distance| (distance, target))
        })
        .collect();
    candidates.sort_by(|a, b| a.0.total_cmp(&b.0));

    let mut nearest: Option<(f64, Option<CellRef>)> = None;
    for (box_distance, target) in candidates {
        // A padded box is never further than what it contains: past the nearest exact hit, stop.
        if nearest.is_some_and(|(distance, _)| (box_distance as f64) > distance + 1e-3 * distance.abs().max(1.0)) {
            break;
        }
        let unit_from_world = DAffine3::from_mat4(Mat4::from(target.world_from_unit).as_dmat4()).inverse();
        let local_origin = unit_from_world.transform_point3(origin);
        // Not normalized: the distance along the ray stays the world distance.
        let local_direction = unit_from_world.transform_vector3(direction);
        let Some((distance, point)) = enter_unit_cube(local_origin, local_direction) else { continue };
        if nearest.is_some_and(|(nearest, _)| distance >= nearest) {
            continue;
        }
        let cell = match target.block {
            Some(block) => match unit_point_cell(point, &layout.blocks[block]) {
                Some(cell) => Some(CellRef { block, cell }),
                // Between a folded block's strips the ray goes on to what lies behind.
                None => continue,
            },
            None => None,
        };
        nearest = Some((distance, cell));
    }
    nearest.and_then(|(_, cell)| cell)
}

/// The world AABB of a unit cube placed by `world_from_unit`.
fn world_box(world_from_unit: &Affine3A) -> (Vec3, Vec3) {
    let center = Vec3::from(world_from_unit.translation);
    let matrix = world_from_unit.matrix3;
    let half = 0.5 * (matrix.x_axis.abs() + matrix.y_axis.abs() + matrix.z_axis.abs());
    (center - Vec3::from(half), center + Vec3::from(half))
}

/// Where a ray enters the cube −0.5..0.5 (or starts, when it starts inside): the distance along the
/// ray and the point, which lies exactly on the entered face, so the cell is the one on that face.
fn enter_unit_cube(origin: DVec3, direction: DVec3) -> Option<(f64, DVec3)> {
    let mut near = f64::NEG_INFINITY;
    let mut far = f64::INFINITY;
    let mut entry_axis = None;
    for axis in 0..3 {
        let (o, d) = (origin[axis], direction[axis]);
        if d == 0.0 {
            if !(-0.5..=0.5).contains(&o) {
                return None;
            }
            continue;
        }
        let (t1, t2) = ((-0.5 - o) / d, (0.5 - o) / d);
        let (t_enter, t_exit) = (t1.min(t2), t1.max(t2));
        if t_enter > near {
            near = t_enter;
            entry_axis = Some(axis);
        }
        far = far.min(t_exit);
    }
    if far < near.max(0.0) {
        return None;
    }
    let distance = near.max(0.0);
    let mut point = (origin + direction * distance).clamp(DVec3::splat(-0.5), DVec3::splat(0.5));
    if near >= 0.0
        && let Some(axis) = entry_axis
    {
        // On the entered face exactly: the face facing the ray's origin.
        point[axis] = if direction[axis] > 0.0 { -0.5 } else { 0.5 };
    }
    Some((distance, point))
}

/// The cell holding a point of the unit cube, as `layout::Block::cell_at` maps a point of the block:
/// x counts from the left face, y from the top, z from the front. None between folded strips.
fn unit_point_cell(point: DVec3, block: &Block) -> Option<[u32; 3]> {
    let from_start = [point.x + 0.5, 0.5 - point.y, 0.5 - point.z];
    let drawn = block.drawn_cells();
    let cell = std::array::from_fn(|axis| {
        let index = (from_start[axis] * drawn[axis] as f64).floor().max(0.0) as u64;
        index.min(drawn[axis].saturating_sub(1) as u64) as u32
    });
    match block.fold {
        Some(fold) => fold.logical(cell, block.cells),
        None => Some(cell),
    }
}

/// Where a cell's centre is drawn now: its block's unit cube placed by the block's transform.
pub fn cell_center_world(layout: &Layout, cell: CellRef, world_from_unit: &GlobalTransform) -> Vec3 {
    let block = &layout.blocks[cell.block];
    let cells = block.drawn_cells();
    let drawn = block.fold.map_or(cell.cell, |fold| fold.drawn(cell.cell));
    let fraction = |axis: usize| (drawn[axis] as f32 + 0.5) / cells[axis].max(1) as f32;
    world_from_unit.transform_point(Vec3::new(fraction(0) - 0.5, 0.5 - fraction(1), 0.5 - fraction(2)))
}

/// `NAME:I,J` or `NAME:I,J,K` → the cell, checked against the layout.
pub fn parse_cell_ref(text: &str, layout: &Layout) -> Result<CellRef, CellRefError> {
    let Some((name, cell_text)) = text.rsplit_once(':') else {
        return Err(CellRefError::Form);
    };
    let Some(block) = layout.find(name) else {
        return Err(CellRefError::UnknownBlock(UnknownBlock::in_layout(layout, name)));
    };
    let cell = crate::explain::parse_cell(cell_text).map_err(CellRefError::Cell)?;
    let cells = layout.blocks[block].cells;
    if (0..3).any(|axis| cell[axis] >= cells[axis]) {
        return Err(CellRefError::Outside { cell, block: name.to_string(), cells });
    }
    Ok(CellRef { block, cell })
}

/// Why a text names no cell of the model. The caller has the text, and says where it came from.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CellRefError {
    /// Not `NAME:I,J` or `NAME:I,J,K`.
    #[error("expected NAME:I,J or NAME:I,J,K, e.g. block0.head0.q:2,3")]
    Form,
    #[error(transparent)]
    UnknownBlock(#[from] UnknownBlock),
    /// The cell's indices do not read, as `explain::parse_cell` says.
    #[error("{0}")]
    Cell(String),
    #[error("cell {cell:?} is outside block '{block}' of {cells:?} cells")]
    Outside { cell: [u32; 3], block: String, cells: [u32; 3] },
}

/// A drawn block (with its style) or level-of-detail box (without), where it is and whether it shows.
type Shown<'a> = (Option<&'a SceneBlock>, Option<&'a BlockStyle>, &'a GlobalTransform, &'a InheritedVisibility);
/// Blocks and level-of-detail boxes that have a mesh: those `lod` has not parked.
type Drawn = (Or<(With<SceneBlock>, With<LodProxy>)>, With<Mesh3d>);

/// Picks the cell under the cursor each frame (the camera, the pointer or a tour may have moved),
/// unless egui has the pointer.
fn track_pointer(
    window: Single<&Window, With<PrimaryWindow>>,
    touches: Res<Touches>,
    egui: Option<Res<EguiWantsInput>>,
    camera: Single<(&Camera, &GlobalTransform), With<Camera3d>>,
    scene: Option<Res<BlockScene>>,
    shown: Query<Shown, Drawn>,
    mut hovered: ResMut<Hovered>,
) {
    // A finger is the pointer while it touches and in the frame it lifts (a tap picks there), before
    // the mouse, whose last position lingers on devices with both.
    let touch =
        touches.first_pressed_position().or_else(|| touches.iter_just_released().next().map(|touch| touch.position()));
    let cursor = touch.or(window.cursor_position()).filter(|_| egui.is_none_or(|egui| !egui.wants_any_pointer_input()));
    let (camera, camera_transform) = *camera;
    let found = match (cursor, &scene) {
        (Some(cursor), Some(scene)) => camera.viewport_to_world(camera_transform, cursor).ok().and_then(|ray| {
            let targets = shown
                .iter()
                .filter(|(_, style, _, visible)| {
                    visible.get() && style.is_none_or(|style| style.opacity >= MIN_PICKED_OPACITY)
                })
                .map(|(block, _, transform, _)| PickTarget {
                    block: block.map(|block| block.index as usize),
                    world_from_unit: transform.affine(),
                });
            pick(&scene.layout, ray, targets)
        }),
        _ => None,
    };
    let now = Hovered { cell: found, pointer: cursor.filter(|_| found.is_some()) };
    // Only a real change marks the resource changed.
    hovered.set_if_neq(now);
}

/// A single click pins the hovered cell's card once no second click has followed (a double click
/// flies the camera instead); a click on a pinned cell unpins it.
fn pin_on_click(
    mut clicks: MessageReader<Click>,
    keys: Res<ButtonInput<KeyCode>>,
    hovered: Res<Hovered>,
    time: Res<Time<Real>>,
    mut waiting: Local<Option<(CellRef, Duration)>>,
    mut pinned: ResMut<Pinned>,
    mut redraw: MessageWriter<RequestRedraw>,
) {
    // Alt and a click switches a part off instead (`overlay::switch_off`).
    let switching = switching_off(&keys);
    for click in clicks.read().filter(|click| click.button == MouseButton::Left && !switching) {
        *waiting = if click.double { None } else { hovered.cell.map(|cell| (cell, time.elapsed())) };
    }
    if let Some((cell, clicked_at)) = *waiting {
        if time.elapsed() - clicked_at > DOUBLE_CLICK {
            pinned.toggle(cell);
            *waiting = None;
        } else {
            // The app sleeps without input: keep frames coming until the wait is over.
            redraw.write(RequestRedraw);
        }
    }
}

/// Whether a click now is one that switches parts off (with Alt) rather than pinning a card.
pub fn switching_off(keys: &ButtonInput<KeyCode>) -> bool {
    keys.any_pressed([KeyCode::AltLeft, KeyCode::AltRight])
}

fn clear_pins_on_escape(
    keys: Res<ButtonInput<KeyCode>>,
    egui: Option<Res<EguiWantsInput>>,
    mut pinned: ResMut<Pinned>,
) {
    if keys.just_pressed(KeyCode::Escape)
        && egui.is_none_or(|egui| !egui.wants_keyboard_input())
        && !pinned.cells.is_empty()
    {
        pinned.cells.clear();
    }
}
