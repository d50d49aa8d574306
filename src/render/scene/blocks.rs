//! The Bevy world of one model: an entity per layout block, all sharing one cube mesh and one
//! material, with per-block data in a storage buffer of descriptors indexed by `MeshTag`.
//!
//! `SceneSource` says what to show. Changing its model despawns the scene and spawns the new one;
//! changing its input or weights reruns the forward pass and refills `PackedValues`, whose pages
//! that changed are uploaded. Each block's look is its `BlockStyle` component, and the page its
//! values start in its `ValuePage`; the descriptor buffer is written from the styles and the packed
//! values whenever either changes, in place, so that Bevy's asset change detection uploads it.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bevy::camera::visibility::NoCpuCulling;
use bevy::math::{IVec4, UVec4, Vec4};
use bevy::mesh::MeshTag;
use bevy::prelude::*;
use bevy::render::storage::ShaderBuffer;
use bevy::window::RequestRedraw;
use bevy::winit::EventLoopProxyWrapper;

use crate::layout::{self, Layout};
use crate::model::ablation::Ablation;
use crate::model::training::Moments;
use crate::model::{Activations, GptConfig, Weights};
use crate::render::scene::frame::FrameStep;
use crate::render::scene::lod::{self, LodPlan};
use crate::render::scene::material::{
    BlockDescriptor, BlockMaterial, BlockMaterialPlugin, block_mesh, descriptors_buffer, page_buffer, page_bytes,
    write_descriptor,
};
use crate::render::scene::pages::{
    PackedValues, Paging, cell_strides, fill_activations, fill_gradients, fill_weights, pack_values, repack,
};
use crate::render::scene::values::{ForwardResult, ForwardWorker, PassInput, give_waker};

/// What the scene shows: a model's shape, its weights (None for a preset shown as structure only),
/// the input tokens and the parts switched off.
#[derive(Resource, Clone, Debug)]
pub struct SceneSource {
    pub config: GptConfig,
    pub weights: Option<Arc<Weights>>,
    pub tokens: Vec<usize>,
    pub ablation: Ablation,
    /// Gradient mode: a training step is taken on the input, from these AdamW moments, and every
    /// block draws its gradient. None draws the values.
    pub training: Option<Arc<Moments>>,
}

impl SceneSource {
    /// A model with weights, run on `tokens`.
    pub fn with_weights(weights: Weights, tokens: Vec<usize>) -> SceneSource {
        SceneSource {
            config: weights.config.clone(),
            weights: Some(Arc::new(weights)),
            tokens,
            ablation: Ablation::default(),
            training: None,
        }
    }

    /// A preset without weights: blocks, no values.
    pub fn structure_only(config: GptConfig) -> SceneSource {
        SceneSource { config, weights: None, tokens: Vec::new(), ablation: Ablation::default(), training: None }
    }
}

/// A drawn layout block: its index in `Layout::blocks`, which is also its `MeshTag`.
#[derive(Component, Clone, Copy, Debug, PartialEq, Eq)]
pub struct SceneBlock {
    pub index: u32,
}

/// A level-of-detail box standing for several blocks; see `lod`.
#[derive(Component, Clone, Copy, Debug, PartialEq, Eq)]
pub struct LodProxy {
    pub index: u32,
}

/// The page a block's values start in: it is drawn with that page's material.
#[derive(Component, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ValuePage(pub u32);

/// Everything spawned for the current model, despawned together when the model changes.
#[derive(Component, Clone, Copy, Debug, Default)]
pub struct SceneEntity;

/// How a block is drawn beyond its values; tours and picking change it.
#[derive(Component, Clone, Copy, Debug, PartialEq)]
pub struct BlockStyle {
    /// Below 1 the block is drawn with the blended material.
    pub opacity: f32,
    /// 0..1, towards the pure family colour.
    pub highlight: f32,
    /// False shows the block as "not computed yet": structure without values.
    pub show_values: bool,
    /// How many cells are computed so far, in `tour::timeline::reveal_rank` order; None for all.
    pub revealed_cells: Option<u32>,
    /// Cells to light up. One single cell also lights its row and column, at a third (the hovered cell).
    pub focus: Option<Focus>,
    /// Cells a tour's `Compute` shows computed besides the first `revealed_cells`.
    pub window: Option<RevealWindow>,
}

impl Default for BlockStyle {
    fn default() -> BlockStyle {
        BlockStyle { opacity: 1.0, highlight: 0.0, show_values: true, revealed_cells: None, focus: None, window: None }
    }
}

/// Cells of a block lit up, and how strongly.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Focus {
    /// The first cell lit, None along an axis for all of it (a row, a column).
    pub cell: [Option<u32>; 3],
    /// How many columns from the cell's x are lit: 1 but for a tour's `Columns`.
    pub columns: u32,
    /// 0..1.
    pub strength: f32,
}

impl Focus {
    pub fn cells(cell: [Option<u32>; 3], strength: f32) -> Focus {
        Focus { cell, columns: 1, strength }
    }

    /// The one cell lit, when that is what the focus is (the hovered cell, a walk's operand).
    pub fn single_cell(&self) -> Option<[u32; 3]> {
        let [Some(x), Some(y), Some(z)] = self.cell else { return None };
        (self.columns == 1).then_some([x, y, z])
    }
}

/// A box of a block's cells, the first `revealed` of which (in `reveal_rank` order within the box)
/// are computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RevealWindow {
    pub min: [u32; 3],
    pub size: [u32; 3],
    pub revealed: u32,
}

/// Where the values of the current scene stand.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum ValuesState {
    /// No weights: the scene shows structure only.
    #[default]
    StructureOnly,
    /// The forward pass of this generation is running; weights already show.
    Computing(u64),
    /// Weights and activations are in the value buffer.
    Ready,
    Failed(String),
}

/// The numbers the scene shows: the weights, the activations of the current input computed with
/// them, and how far the forward pass is. `PackedValues` holds them as the shader reads them.
#[derive(Resource, Clone, Debug, Default)]
pub struct SceneValues {
    pub weights: Option<Arc<Weights>>,
    /// The activations shown: the forward pass's, with its output reshaped by the sampling
    /// controls (`render::overlay::sampling`) when they are not the model's own softmax.
    pub activations: Option<Arc<Activations>>,
    /// The forward pass's own activations.
    pub forward: Option<Arc<Activations>>,
    pub state: ValuesState,
    /// The forward pass whose activations are shown, as `ForwardWorker::request` numbered it.
    pub generation: u64,
    /// Whether the worker is reading the logit lens of the pass shown, to send after it.
    pub lens_coming: bool,
    /// Values drawn only as the averages of their tiles: too many for the pages (GPT-2 XL's weights).
    pub values_left_out: u64,
    /// Where the weights or the last forward pass hold NaN or infinite values (drawn magenta), in words.
    pub non_finite: Vec<String>,
}

/// The spawned scene: its layout, the entity of each block and box, and the GPU buffers and
/// materials they share. What each block looks like is in its components (`BlockStyle`).
#[derive(Resource)]
pub struct BlockScene {
    pub layout: Arc<Layout>,
    /// Entity of each layout block, by block index.
    pub blocks: Vec<Entity>,
    pub proxies: Vec<Entity>,
    pub lod: LodPlan,
    /// One `BlockDescriptor` per block, then one per proxy, then one per flying copy, by `MeshTag`.
    pub descriptor_buffer: Handle<ShaderBuffer>,
    /// The GPU's copies of `PackedValues::pages` (one empty page before there are values).
    pub pages: Vec<UploadedPage>,
    /// Pages whose values changed and wait for their turn to be uploaded (see `upload_values`).
    pub pages_waiting: usize,
    /// By page: the opaque and the blended material of the blocks whose values start in it.
    pub materials: Vec<[Handle<BlockMaterial>; 2]>,
    /// Which scene this is, counted from 1 in the order scenes are spawned (see `id`).
    generation: usize,
}

/// The last scene's `generation`.
static SCENES_SPAWNED: AtomicUsize = AtomicUsize::new(0);

/// A page on the GPU: its buffer, its size, and the `PackedValues::versions` entry it holds.
#[derive(Clone, Debug)]
pub struct UploadedPage {
    pub buffer: Handle<ShaderBuffer>,
    pub bytes: usize,
    pub version: Option<u64>,
}

impl BlockScene {
    /// The scene's identity, the one every system that remembers a scene compares: a new scene has
    /// new entities, and what was applied to the old one is gone. A count, never reused (an address
    /// or an asset id can be, once the old scene is dropped).
    pub fn id(&self) -> usize {
        self.generation
    }

    /// The material of blocks whose values start in `page`, blended for a faded block.
    pub fn material(&self, page: u32, faded: bool) -> Handle<BlockMaterial> {
        let pair = self
            .materials
            .get(page as usize)
            .or(self.materials.first())
            .expect("a scene has a material from its start");
        pair[faded as usize].clone()
    }
}

/// The cube every block and proxy is a scaled copy of.
#[derive(Resource)]
pub struct BlockMesh(pub Handle<Mesh>);

/// Spawns the layout of `SceneSource`, keeps its values current, and uploads per-block styles.
pub struct ScenePlugin;

impl Plugin for ScenePlugin {
    fn build(&self, app: &mut App) {
        #[cfg(not(target_arch = "wasm32"))]
        let worker = ForwardWorker::spawn(app.world_mut().get_resource_or_init::<super::compute::Compute>().clone());
        #[cfg(target_arch = "wasm32")]
        let worker = ForwardWorker::spawn();
        app.add_plugins(BlockMaterialPlugin)
            .insert_resource(worker)
            .init_resource::<SceneValues>()
            .init_resource::<PackedValues>()
            .init_resource::<Paging>()
            .add_systems(Startup, create_block_mesh)
            .add_systems(
                Update,
                (
                    give_waker.run_if(resource_added::<EventLoopProxyWrapper>),
                    (respawn_scene, start_forward_pass).chain().run_if(resource_changed::<SceneSource>),
                    receive_values,
                )
                    .chain()
                    .in_set(FrameStep::Values),
            )
            // After everything that styles blocks in `Update` (the tour, hovering), so each frame
            // draws the styles it set.
            .add_systems(
                PostUpdate,
                (upload_values, assign_pages, write_all_descriptors, write_changed_descriptors, choose_materials)
                    .chain()
                    .in_set(FrameStep::Upload),
            );
    }
}

fn create_block_mesh(mut commands: Commands, mut meshes: ResMut<Assets<Mesh>>) {
    commands.insert_resource(BlockMesh(meshes.add(block_mesh())));
}

/// A new model despawns the old scene and spawns the new one, with no values yet. Exclusive, so
/// that the blocks are spawned in one batch: as 75,854 commands, GPT-3's blocks were a 28 MB queue
/// and their tables grew by doubling, and the page's memory never shrinks below its highest mark.
fn respawn_scene(world: &mut World) {
    let config = world.resource::<SceneSource>().config.clone();
    if world.get_resource::<BlockScene>().is_some_and(|scene| scene.layout.config == config) {
        return;
    }
    let spawned: Vec<Entity> = world.query_filtered::<Entity, With<SceneEntity>>().iter(world).collect();
    for entity in spawned {
        world.despawn(entity);
    }
    let start = bevy::platform::time::Instant::now();
    let scene = spawn_scene(world, Arc::new(layout::build(&config)));
    info!(
        "spawned {}: {} blocks and {} level-of-detail boxes in {:.2} s",
        config.name,
        scene.blocks.len(),
        scene.proxies.len(),
        start.elapsed().as_secs_f32()
    );
    world.insert_resource(scene);
    world.insert_resource(SceneValues::default());
    world.insert_resource(PackedValues::default());
}

/// Spawns one entity per block and per level-of-detail proxy, every one hidden (and without mesh and
/// material) until `lod` decides what is shown.
fn spawn_scene(world: &mut World, layout: Arc<Layout>) -> BlockScene {
    let lod = lod::plan(&layout);
    // Buffers of their final sizes from the start: a GPU buffer that grows would need new bind groups.
    let descriptors = all_descriptors(&layout, &lod, &PackedValues::default(), |_| BlockStyle::default());
    let mut buffers = world.resource_mut::<Assets<ShaderBuffer>>();
    let descriptor_buffer = buffers.add(descriptors_buffer(&descriptors));
    let empty = UploadedPage { buffer: buffers.add(page_buffer(&[])), bytes: page_bytes(0), version: None };
    let material = |blend: bool| BlockMaterial {
        descriptors: descriptor_buffer.clone(),
        page_a: empty.buffer.clone(),
        page_b: empty.buffer.clone(),
        blend,
    };
    let mut materials = world.resource_mut::<Assets<BlockMaterial>>();
    let pair = [materials.add(material(false)), materials.add(material(true))];

    // Parked: `lod` gives a block its mesh and material when it is shown.
    let parked = || (Visibility::Hidden, NoCpuCulling, SceneEntity);
    let blocks = world
        .spawn_batch(layout.blocks.iter().enumerate().map(|(index, block)| {
            let min = Vec3::from(block.position);
            let placed = (MeshTag(index as u32), box_transform(min, Vec3::from(block.max())));
            (placed, parked(), SceneBlock { index: index as u32 }, BlockStyle::default(), ValuePage::default())
        }))
        .collect();
    let first_proxy_tag = layout.blocks.len() as u32;
    let proxies = world
        .spawn_batch(lod.proxies.iter().enumerate().map(|(index, proxy)| {
            let tag = MeshTag(first_proxy_tag + index as u32);
            (tag, box_transform(proxy.min, proxy.max), parked(), LodProxy { index: index as u32 })
        }))
        .collect();
    let generation = SCENES_SPAWNED.fetch_add(1, Ordering::Relaxed) + 1;
    BlockScene {
        layout,
        blocks,
        proxies,
        lod,
        descriptor_buffer,
        pages: vec![empty],
        pages_waiting: 0,
        materials: vec![pair],
        generation,
    }
}

/// The unit cube's transform that makes it the box min..max.
pub fn box_transform(min: Vec3, max: Vec3) -> Transform {
    Transform::from_translation((min + max) / 2.0).with_scale((max - min).max(Vec3::splat(1e-3)))
}

/// Starts the forward pass whose activations follow. New weights show at once; with the same
/// weights, the previous input's activations stay until the new ones arrive.
fn start_forward_pass(
    source: Res<SceneSource>,
    scene: Option<Res<BlockScene>>,
    mut values: ResMut<SceneValues>,
    mut packed: ResMut<PackedValues>,
    paging: Res<Paging>,
    mut worker: ResMut<ForwardWorker>,
) {
    values.state = match &source.weights {
        None => ValuesState::StructureOnly,
        Some(weights) => {
            let input = PassInput {
                tokens: source.tokens.clone(),
                ablation: source.ablation.clone(),
                training: source.training.clone(),
            };
            ValuesState::Computing(worker.request(weights.clone(), input))
        }
    };
    let same_weights = match (&values.weights, &source.weights) {
        (Some(shown), Some(new)) => Arc::ptr_eq(shown, new),
        (None, None) => true,
        _ => false,
    };
    if !same_weights && let Some(scene) = scene {
        values.weights = source.weights.clone();
        values.activations = None;
        values.forward = None;
        values.non_finite.clear();
        *packed = pack_values(&scene.layout, source.weights.as_deref(), None, *paging);
        values.values_left_out = packed.left_out;
    }
}

/// Takes the finished forward passes, writing the newest one's activations where
/// `start_forward_pass` kept room for them beside the weights, and its lens once read.
fn receive_values(
    scene: Option<Res<BlockScene>>,
    worker: Res<ForwardWorker>,
    mut values: ResMut<SceneValues>,
    mut packed: ResMut<PackedValues>,
) {
    let Some(scene) = scene else { return };
    for result in worker.poll() {
        if result.lens {
            take_lens(&scene, result, &mut values, &mut packed);
        } else {
            take_pass(&scene, result, &mut values, &mut packed);
        }
    }
}

/// A pass, unless a newer one was asked for since.
fn take_pass(scene: &BlockScene, result: ForwardResult, values: &mut SceneValues, packed: &mut PackedValues) {
    if values.state != ValuesState::Computing(result.generation) {
        return;
    }
    values.generation = result.generation;
    values.lens_coming = result.lens_follows;
    match result.activations {
        Ok(activations) => {
            if activations.training.is_some() {
                fill_gradients(packed, &scene.layout, &activations);
            } else {
                if packed.gradients
                    && let Some(weights) = &values.weights
                {
                    fill_weights(packed, &scene.layout, weights);
                }
                fill_activations(packed, &scene.layout, &activations);
            }
            values.forward = Some(activations.clone());
            values.activations = Some(activations);
            values.state = ValuesState::Ready;
            values.non_finite = result.non_finite;
            for problem in &values.non_finite {
                warn!("{problem}");
            }
        }
        Err(message) => {
            error!("{message}");
            values.lens_coming = false;
            values.state = ValuesState::Failed(message);
        }
    }
}

/// The lens of the pass shown: only its strips are new.
fn take_lens(scene: &BlockScene, result: ForwardResult, values: &mut SceneValues, packed: &mut PackedValues) {
    let shown = values.state == ValuesState::Ready && values.generation == result.generation;
    let Ok(activations) = result.activations else { return };
    if !shown {
        return;
    }
    for stream in crate::model::lens::lens_streams(&scene.layout.config) {
        let name = crate::model::lens::lens_tensor(&stream);
        if let Some(tensor) = activations.get(&name) {
            repack(packed, &scene.layout, &name, tensor);
        }
    }
    values.lens_coming = false;
    values.forward = Some(activations.clone());
    values.activations = Some(activations);
}

/// The pages that changed reach the GPU, one a frame: written into their buffers when the size is
/// the same, else into new buffers that the materials then bind. A material exists per page.
/// One a frame, because each upload holds a page's bytes up to three times over until the frame
/// is drawn (the asset's copy, the driver's staging, and on a software GPU the buffer itself):
/// a model with 370 MB of pages would otherwise peak over a gigabyte above what it keeps.
fn upload_values(
    packed: Res<PackedValues>,
    mut scene: ResMut<BlockScene>,
    mut buffers: ResMut<Assets<ShaderBuffer>>,
    mut materials: ResMut<Assets<BlockMaterial>>,
    mut redraw: MessageWriter<RequestRedraw>,
) {
    if !packed.is_changed() && scene.pages_waiting == 0 {
        return;
    }
    let mut waiting: usize = 0;
    for (index, words) in packed.pages.iter().enumerate() {
        let version = Some(packed.versions[index]);
        let bytes = page_bytes(words.len());
        let page = scene.pages.get(index);
        if page.is_some_and(|page| page.version == version && page.bytes == bytes) {
            continue;
        }
        waiting += 1;
        if waiting > 1 {
            // Its turn comes in a later frame; until then a new page reads as empty, a changed one as it was.
            if page.is_none() {
                let empty = UploadedPage { buffer: buffers.add(page_buffer(&[])), bytes: page_bytes(0), version: None };
                scene.pages.push(empty);
            }
            continue;
        }
        match scene.pages.get_mut(index) {
            // Same size: Bevy writes into the existing GPU buffer, the bind groups stay valid.
            Some(page) if page.bytes == bytes => {
                if let Some(mut buffer) = buffers.get_mut(&page.buffer) {
                    *buffer = page_buffer(words);
                }
                page.version = version;
            }
            Some(page) => *page = UploadedPage { buffer: buffers.add(page_buffer(words)), bytes, version },
            None => scene.pages.push(UploadedPage { buffer: buffers.add(page_buffer(words)), bytes, version }),
        }
    }
    scene.pages_waiting = waiting.saturating_sub(1);
    if scene.pages_waiting > 0 {
        redraw.write(RequestRedraw);
    }
    bind_pages(&mut scene, packed.pages.len().max(1), &mut materials);
}

/// A pair of materials per page, each bound to its page and the next.
fn bind_pages(scene: &mut BlockScene, pages: usize, materials: &mut Assets<BlockMaterial>) {
    scene.pages.truncate(pages);
    while scene.materials.len() < pages {
        let descriptors = scene.descriptor_buffer.clone();
        let empty = scene.pages[0].buffer.clone();
        let material = |blend| BlockMaterial {
            descriptors: descriptors.clone(),
            page_a: empty.clone(),
            page_b: empty.clone(),
            blend,
        };
        let pair = [materials.add(material(false)), materials.add(material(true))];
        scene.materials.push(pair);
    }
    for (index, pair) in scene.materials.iter().enumerate().take(pages) {
        let page_a = &scene.pages[index].buffer;
        let page_b = &scene.pages[(index + 1).min(pages - 1)].buffer;
        for handle in pair {
            let stale = materials.get(handle).is_some_and(|m| m.page_a != *page_a || m.page_b != *page_b);
            if stale && let Some(mut material) = materials.get_mut(handle) {
                material.page_a = page_a.clone();
                material.page_b = page_b.clone();
            }
        }
    }
}

/// Each block is drawn with the material of the page its values start in.
fn assign_pages(scene: Res<BlockScene>, packed: Res<PackedValues>, mut blocks: Query<(&SceneBlock, &mut ValuePage)>) {
    if !packed.is_changed() {
        return;
    }
    for (block, mut page) in &mut blocks {
        let Some(layout_block) = scene.layout.blocks.get(block.index as usize) else { continue };
        let wanted = packed.tensors.get(&layout_block.tensor).map_or(0, |tensor| tensor.page);
        page.set_if_neq(ValuePage(wanted));
    }
}

/// Every descriptor, by `MeshTag`: the blocks with their styles, then the proxies, then room for
/// the copies in flight (`FLY_SLOTS`).
fn all_descriptors(
    layout: &Layout,
    lod: &LodPlan,
    packed: &PackedValues,
    style: impl Fn(usize) -> BlockStyle,
) -> Vec<BlockDescriptor> {
    let blocks = (0..layout.blocks.len()).map(|index| block_descriptor(layout, index, packed, style(index)));
    let copies = (0..super::material::FLY_SLOTS).map(|_| proxy_descriptor(layout::Family::Activation));
    blocks.chain(lod.proxies.iter().map(|proxy| proxy_descriptor(proxy.family))).chain(copies).collect()
}

/// When the values change (or a new scene appears), every block's descriptor is written again.
fn write_all_descriptors(
    scene: Res<BlockScene>,
    packed: Res<PackedValues>,
    blocks: Query<(&SceneBlock, &BlockStyle)>,
    mut buffers: ResMut<Assets<ShaderBuffer>>,
) {
    if !packed.is_changed() && !scene.is_added() {
        return;
    }
    let mut styles = vec![BlockStyle::default(); scene.layout.blocks.len()];
    for (block, style) in &blocks {
        if let Some(slot) = styles.get_mut(block.index as usize) {
            *slot = *style;
        }
    }
    let descriptors = all_descriptors(&scene.layout, &scene.lod, &packed, |index| styles[index]);
    if let Some(mut buffer) = buffers.get_mut(&scene.descriptor_buffer) {
        *buffer = descriptors_buffer(&descriptors);
    }
}

/// Blocks whose style changed get their descriptors rewritten in place, in the buffer asset's
/// bytes; changing the asset is what uploads it.
fn write_changed_descriptors(
    scene: Res<BlockScene>,
    packed: Res<PackedValues>,
    changed: Query<(&SceneBlock, &BlockStyle), Changed<BlockStyle>>,
    mut buffers: ResMut<Assets<ShaderBuffer>>,
) {
    // Spawning marks every style as changed; `write_all_descriptors` wrote them all then.
    if changed.is_empty() || packed.is_changed() || scene.is_added() {
        return;
    }
    let Some(mut buffer) = buffers.get_mut(&scene.descriptor_buffer) else { return };
    let Some(bytes) = buffer.data.as_mut() else { return };
    for (block, style) in &changed {
        if block.index as usize >= scene.layout.blocks.len() {
            continue;
        }
        write_descriptor(
            bytes,
            block.index as usize,
            &block_descriptor(&scene.layout, block.index as usize, &packed, *style),
        );
    }
}

/// Blocks whose style or page changed.
type RestyledOrRepaged = Or<(Changed<BlockStyle>, Changed<ValuePage>)>;

/// Faded blocks move to the blended material and back, and blocks whose values moved to another
/// page to its material. A parked block (no material) gets the right one when `lod` shows it.
fn choose_materials(
    scene: Res<BlockScene>,
    mut changed: Query<(&BlockStyle, &ValuePage, &mut MeshMaterial3d<BlockMaterial>), RestyledOrRepaged>,
) {
    for (style, page, mut material) in &mut changed {
        let wanted = scene.material(page.0, style.opacity < 1.0);
        if material.0 != wanted {
            material.0 = wanted;
        }
    }
}

/// What the shader needs of layout block `index`: cells, where its values and its pyramid are
/// (counted from the start of its page), colour family and style.
pub fn block_descriptor(layout: &Layout, index: usize, packed: &PackedValues, style: BlockStyle) -> BlockDescriptor {
    let block = &layout.blocks[index];
    // Gradient mode draws every block on one colour scale of its own.
    let [r, g, b] = if packed.gradients { GRADIENT_COLOUR } else { family_colour(block.family()) };
    let tensor = packed.tensors.get(&block.tensor).filter(|tensor| tensor.computed && style.show_values);
    let (strides, scale, pyramid) = match tensor {
        Some(tensor) => {
            let page_start = packed.page_start(tensor.page) as i64;
            // The cell → element map is linear, so three steps and a base describe it.
            let (origin, [x, y, z]) = cell_strides(block);
            let base = if tensor.finest == 0 {
                (tensor.base as i64 - 2 * page_start + origin) as i32
            } else {
                BlockDescriptor::NO_VALUES
            };
            let none = IVec4::new(-1, 0, 0, packed.page_words as i32);
            let pyramid = packed.pyramids.get(index).copied().flatten().map_or(none, |pyramid| {
                let at = (pyramid.base as i64 - page_start) as i32;
                IVec4::new(at, pyramid.first as i32, pyramid.top as i32, packed.page_words as i32)
            });
            (IVec4::new(x as i32, y as i32, z as i32, base), tensor.scale, pyramid)
        }
        None => (IVec4::new(0, 0, 0, BlockDescriptor::NO_VALUES), 1.0, BlockDescriptor::NO_PYRAMID),
    };
    BlockDescriptor {
        cells: UVec4::new(block.cells[0], block.cells[1], block.cells[2], 0),
        strides,
        colour: Vec4::new(r, g, b, style.opacity),
        style: Vec4::new(
            scale,
            style.highlight,
            style.focus.map_or(1.0, |focus| focus.columns as f32),
            style.revealed_cells.map_or(-1.0, |n| n as f32),
        ),
        focus: match style.focus {
            Some(Focus { cell, strength, .. }) => {
                let axis = |i: usize| cell[i].map_or(-1, |c| c as i32);
                IVec4::new(axis(0), axis(1), axis(2), (strength.clamp(0.0, 1.0) * 100.0).round() as i32)
            }
            None => BlockDescriptor::NO_FOCUS,
        },
        window: style.window.map_or(BlockDescriptor::NO_WINDOW, |window| {
            let [x, y, z] = window.min.map(|c| c as i32);
            IVec4::new(x, y, z, window.revealed.min(i32::MAX as u32) as i32)
        }),
        window_size: style
            .window
            .map_or(UVec4::ZERO, |window| UVec4::new(window.size[0], window.size[1], window.size[2], 0)),
        pyramid,
        fold: block.fold.map_or(BlockDescriptor::NO_FOLD, |fold| {
            UVec4::new(fold.along as u32 + 1, fold.across as u32, fold.length, fold.pitch)
        }),
    }
}

/// Gradient mode's one colour, linear RGB: a positive gradient (the loss rises with the cell) goes
/// from grey towards it, a negative one towards black. An orange no family uses.
pub const GRADIENT_COLOUR: [f32; 3] = [0.95, 0.32, 0.02];

/// The family's colour in linear RGB. The layout gives the reference's colours, which are sRGB
/// values (WebGL writes them to the canvas unconverted), so they are converted here.
pub fn family_colour(family: layout::Family) -> [f32; 3] {
    let [r, g, b] = family.rgb();
    Color::srgb(r, g, b).to_linear().to_f32_array_no_alpha()
}

pub fn proxy_descriptor(family: layout::Family) -> BlockDescriptor {
    let [r, g, b] = family_colour(family);
    BlockDescriptor {
        cells: UVec4::new(1, 1, 1, BlockDescriptor::PROXY),
        strides: IVec4::new(0, 0, 0, BlockDescriptor::NO_VALUES),
        colour: Vec4::new(r, g, b, 1.0),
        style: Vec4::new(0.0, 0.0, 0.0, -1.0),
        focus: BlockDescriptor::NO_FOCUS,
        window: BlockDescriptor::NO_WINDOW,
        window_size: UVec4::ZERO,
        pyramid: BlockDescriptor::NO_PYRAMID,
        fold: BlockDescriptor::NO_FOLD,
    }
}
