//! Level of detail, so that a frame costs about the same for nano's 200 blocks and GPT-3's 90,000.
//!
//! Instancing alone is not enough on a software rasterizer: every cube still costs its triangles
//! and overdraw. So a layer far from the camera is drawn as a few proxy boxes (one per band of the
//! layer and colour family), and a layer whose heads are too thin to tell apart draws its heads as
//! proxies while its other blocks stay. Hidden entities cost nothing to draw.
//!
//! The plan is a pure function of the layout; the system only re-decides when the camera moves.

use bevy::camera::Projection;
use bevy::prelude::*;
use bevy::window::PrimaryWindow;

use std::collections::HashSet;

use crate::layout::{Family, Layout};
use crate::render::scene::blocks::{BlockMesh, BlockScene, BlockStyle, ValuePage};
use crate::render::scene::frame::FrameStep;
use crate::render::scene::material::BlockMaterial;

/// A layer whose bounding sphere is smaller than this on screen (radius, pixels) is drawn as proxies.
pub const LAYER_RADIUS_PX: f32 = 48.0;
/// Heads whose bounding sphere is smaller than this (radius, pixels) are drawn as proxies.
pub const HEAD_RADIUS_PX: f32 = 16.0;

/// One box standing for the blocks of one family in one band of a layer.
#[derive(Clone, Debug, PartialEq)]
pub struct ProxyBox {
    pub min: Vec3,
    pub max: Vec3,
    pub family: Family,
    pub layer: usize,
    /// Stands for head blocks only (shown while the heads are collapsed but the layer is not);
    /// otherwise for all blocks of its band in the layer (shown while the layer is collapsed).
    pub heads: bool,
}

/// Which blocks and proxies make up one layer at each level of detail (indices into the layout's
/// blocks and the plan's proxies).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LayerLod {
    pub center: Vec3,
    pub radius: f32,
    /// The bounding radius of the largest head.
    pub head_radius: f32,
    /// The head's centre nearest the front, where the heads' screen size is measured.
    pub head_center: Vec3,
    pub blocks: Vec<u32>,
    pub head_blocks: Vec<u32>,
    pub proxies: Vec<u32>,
    pub head_proxies: Vec<u32>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LayerDetail {
    /// Proxies only.
    Collapsed,
    /// The layer's blocks, its heads as proxies.
    HeadsCollapsed,
    /// Every block.
    Full,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct LodPlan {
    pub layers: Vec<LayerLod>,
    pub proxies: Vec<ProxyBox>,
    /// Blocks outside the layers (embedding, output): always drawn.
    pub always: Vec<u32>,
}

impl LodPlan {
    /// The blocks and proxies shown for a layer at a level of detail.
    pub fn shown(&self, layer: usize, detail: LayerDetail) -> (Vec<u32>, Vec<u32>) {
        let lod = &self.layers[layer];
        match detail {
            LayerDetail::Collapsed => (Vec::new(), lod.proxies.clone()),
            LayerDetail::HeadsCollapsed => (lod.blocks.clone(), lod.head_proxies.clone()),
            LayerDetail::Full => ([lod.blocks.clone(), lod.head_blocks.clone()].concat(), Vec::new()),
        }
    }
}

/// Groups each layer's blocks into bands (runs of blocks that overlap in height, a section of the
/// layer) and makes one proxy box per band and colour family, heads apart from the rest.
pub fn plan(layout: &Layout) -> LodPlan {
    let mut plan = LodPlan { layers: vec![LayerLod::default(); layout.config.n_layer], ..Default::default() };
    // Blocks closer than this in height belong to one band. It lies between the layout's spacing
    // inside a section and between sections (about C/16 and C/8 cells), so bands are sections.
    let band_gap = (layout.config.n_embd as f32 / 12.0).max(8.0) * crate::layout::CELL;
    let mut by_layer: Vec<Vec<usize>> = vec![Vec::new(); layout.config.n_layer];
    for (index, block) in layout.blocks.iter().enumerate() {
        if let Some(layer) = block.layer {
            by_layer[layer].push(index);
        }
    }
    for (layer_index, (lod, members)) in plan.layers.iter_mut().zip(by_layer).enumerate() {
        // The layer's size on screen is that of its non-head blocks: the heads stand one behind
        // the other, so their depth says little about how large the layer looks.
        let body: Vec<usize> = members.iter().copied().filter(|&i| layout.blocks[i].head.is_none()).collect();
        let (min, max) = bounds(layout, if body.is_empty() { &members } else { &body });
        lod.center = (min + max) / 2.0;
        lod.radius = (max - min).length() / 2.0;
        for &index in &members {
            let block = &layout.blocks[index];
            if block.head.is_some() {
                lod.head_blocks.push(index as u32);
            } else {
                lod.blocks.push(index as u32);
            }
        }
        // Head 0 stands in front; measuring it is enough, as all heads have the same shape.
        let first_head: Vec<usize> = members.iter().copied().filter(|&i| layout.blocks[i].head == Some(0)).collect();
        if !first_head.is_empty() {
            let (head_min, head_max) = bounds(layout, &first_head);
            lod.head_center = (head_min + head_max) / 2.0;
            lod.head_radius = (head_max - head_min).length() / 2.0;
        }
        // Collapsed, the whole layer is one box per band and family; with only the heads collapsed,
        // the heads are. Aggregates (one-cell rows) are left out of proxies: a box around them
        // would cover the activations they sit between.
        for heads in [false, true] {
            let group: Vec<usize> =
                members.iter().copied().filter(|&i| !heads || layout.blocks[i].head.is_some()).collect();
            for band in bands(layout, &group, band_gap) {
                for family in [Family::Weight, Family::Activation] {
                    let of_family: Vec<usize> =
                        band.iter().copied().filter(|&i| layout.blocks[i].family() == family).collect();
                    if of_family.is_empty() {
                        continue;
                    }
                    let (min, max) = bounds(layout, &of_family);
                    let proxy_index = plan.proxies.len() as u32;
                    plan.proxies.push(ProxyBox { min, max, family, layer: layer_index, heads });
                    if heads { lod.head_proxies.push(proxy_index) } else { lod.proxies.push(proxy_index) }
                }
            }
        }
    }
    plan.always = (0..layout.blocks.len() as u32).filter(|&i| layout.blocks[i as usize].layer.is_none()).collect();
    plan
}

/// Splits blocks into runs that overlap in y (with `gap` of slack), top to bottom.
fn bands(layout: &Layout, blocks: &[usize], gap: f32) -> Vec<Vec<usize>> {
    let mut sorted = blocks.to_vec();
    sorted.sort_by(|&a, &b| layout.blocks[b].max()[1].total_cmp(&layout.blocks[a].max()[1]));
    let mut bands: Vec<Vec<usize>> = Vec::new();
    let mut band_bottom = f32::INFINITY;
    for index in sorted {
        let block = &layout.blocks[index];
        let top = block.max()[1];
        match bands.last_mut() {
            Some(band) if top >= band_bottom - gap => band.push(index),
            _ => {
                bands.push(vec![index]);
                band_bottom = f32::INFINITY;
            }
        }
        band_bottom = band_bottom.min(block.position[1]);
    }
    bands
}

fn bounds(layout: &Layout, blocks: &[usize]) -> (Vec3, Vec3) {
    let mut min = Vec3::INFINITY;
    let mut max = Vec3::NEG_INFINITY;
    for &index in blocks {
        let block = &layout.blocks[index];
        min = min.min(Vec3::from(block.position));
        max = max.max(Vec3::from(block.max()));
    }
    (min, max)
}

/// Where the camera is and how many pixels one world unit at distance 1 covers.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LodView {
    pub eye: Vec3,
    pub pixels_per_radian: f32,
}

impl LodView {
    pub fn new(eye: Vec3, fov_y: f32, viewport_height: f32) -> LodView {
        LodView { eye, pixels_per_radian: viewport_height / (2.0 * (fov_y / 2.0).tan()) }
    }

    /// The on-screen radius, in pixels, of a sphere; huge when the eye is inside it.
    pub fn radius_px(&self, center: Vec3, radius: f32) -> f32 {
        let distance = (center - self.eye).length() - radius;
        if distance <= 0.0 { f32::INFINITY } else { radius / distance * self.pixels_per_radian }
    }

    pub fn detail(&self, layer: &LayerLod) -> LayerDetail {
        if self.radius_px(layer.center, layer.radius) < LAYER_RADIUS_PX {
            LayerDetail::Collapsed
        } else if layer.head_radius > 0.0 && self.radius_px(layer.head_center, layer.head_radius) < HEAD_RADIUS_PX {
            LayerDetail::HeadsCollapsed
        } else {
            LayerDetail::Full
        }
    }
}

/// The detail each layer is drawn at now, so that only the layers that change are touched.
#[derive(Resource, Default)]
pub struct LodState {
    details: Vec<Option<LayerDetail>>,
    /// The scene the details belong to (its descriptor handle).
    scene: Option<usize>,
}

pub struct LodPlugin;

impl Plugin for LodPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<LodState>().add_systems(PostUpdate, apply_level_of_detail.in_set(FrameStep::Detail));
    }
}

/// The camera drawing the scene: its transform, projection and the height of what it renders to.
pub fn lod_view(transform: &GlobalTransform, projection: &Projection, viewport_height: f32) -> LodView {
    let fov = match projection {
        Projection::Perspective(perspective) => perspective.fov,
        _ => std::f32::consts::FRAC_PI_4,
    };
    LodView::new(transform.translation(), fov, viewport_height)
}

/// Shows what each layer's detail calls for. A hidden block or box is parked: it loses its mesh and
/// material as well as its visibility, so that Bevy's per-frame mesh and material systems do not
/// even look at it, and GPT-3's 76,000 blocks cost no more per frame than nano's 200.
fn apply_level_of_detail(
    mut commands: Commands,
    scene: Res<BlockScene>,
    mesh: Option<Res<BlockMesh>>,
    state: ResMut<LodState>,
    cameras: Query<(&GlobalTransform, &Projection, &Camera)>,
    window: Query<&Window, With<PrimaryWindow>>,
    styles: Query<(&BlockStyle, &ValuePage)>,
) {
    let Some(mesh) = mesh else { return };
    let Some((transform, projection, camera)) = cameras.iter().find(|(.., camera)| camera.is_active) else { return };
    let height = camera
        .physical_viewport_size()
        .map(|size| size.y as f32)
        .or_else(|| window.single().ok().map(|w| w.physical_height() as f32))
        .unwrap_or(720.0);
    // Drawn into a smaller frame (`view::free_region`), a layer is smaller on screen by as much.
    let frame_share = camera.sub_camera_view.map_or(1.0, |sub| sub.full_size.y as f32 / sub.size.y.max(1) as f32);
    let view = lod_view(transform, projection, height * frame_share);
    let LodChanges { shown_blocks, hidden_blocks, shown_proxies, hidden_proxies } =
        detail_changes(state, &scene, &view);

    for index in shown_blocks {
        let entity = scene.blocks[index as usize];
        let (faded, page) = styles.get(entity).map_or((false, 0), |(style, page)| (style.opacity < 1.0, page.0));
        let material = scene.material(page, faded);
        commands.entity(entity).insert((Mesh3d(mesh.0.clone()), MeshMaterial3d(material), Visibility::Inherited));
    }
    for index in shown_proxies {
        let entity = scene.proxies[index as usize];
        commands.entity(entity).insert((
            Mesh3d(mesh.0.clone()),
            MeshMaterial3d(scene.material(0, false)),
            Visibility::Inherited,
        ));
    }
    let parked = hidden_blocks
        .iter()
        .map(|&i| scene.blocks[i as usize])
        .chain(hidden_proxies.iter().map(|&i| scene.proxies[i as usize]));
    for entity in parked {
        commands.entity(entity).remove::<(Mesh3d, MeshMaterial3d<BlockMaterial>)>().insert(Visibility::Hidden);
    }
}

/// The blocks and proxy boxes, by index, to show and to park this frame.
#[derive(Default)]
struct LodChanges {
    shown_blocks: Vec<u32>,
    hidden_blocks: Vec<u32>,
    shown_proxies: Vec<u32>,
    hidden_proxies: Vec<u32>,
}

/// What changes from the details `state` holds to those `view` calls for, which `state` then
/// holds; a scene new to `state` starts with nothing shown but its always-shown blocks.
fn detail_changes(mut state: ResMut<LodState>, scene: &BlockScene, view: &LodView) -> LodChanges {
    let mut changed = LodChanges::default();
    let scene_id = scene.id();
    if state.scene != Some(scene_id) {
        state.scene = Some(scene_id);
        state.details = vec![None; scene.lod.layers.len()];
        changed.shown_blocks.extend(&scene.lod.always);
    }
    for (layer, lod) in scene.lod.layers.iter().enumerate() {
        let detail = view.detail(lod);
        let previous = state.details[layer];
        if previous == Some(detail) {
            continue;
        }
        let (old_blocks, old_proxies) = previous.map(|previous| scene.lod.shown(layer, previous)).unwrap_or_default();
        let (new_blocks, new_proxies) = scene.lod.shown(layer, detail);
        changes(&old_blocks, &new_blocks, &mut changed.shown_blocks, &mut changed.hidden_blocks);
        changes(&old_proxies, &new_proxies, &mut changed.shown_proxies, &mut changed.hidden_proxies);
        state.details[layer] = Some(detail);
    }
    changed
}

/// What to show and hide to go from showing `old` to showing `new`.
fn changes(old: &[u32], new: &[u32], shown: &mut Vec<u32>, hidden: &mut Vec<u32>) {
    let old_set: HashSet<u32> = old.iter().copied().collect();
    let new_set: HashSet<u32> = new.iter().copied().collect();
    shown.extend(new.iter().filter(|index| !old_set.contains(index)));
    hidden.extend(old.iter().filter(|index| !new_set.contains(index)));
}
