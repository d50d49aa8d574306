//! The Bevy world of one model: an entity per layout block, all sharing one cube mesh and one
//! material, with per-block data in a storage buffer of descriptors indexed by `MeshTag`.
//!
//! `SceneSource` says what to show. Changing its model despawns the scene and spawns the new one;
//! changing its input or weights reruns the forward pass and refills the value buffer.

use std::sync::Arc;

use bevy::camera::visibility::NoCpuCulling;
use bevy::math::{IVec4, UVec4, Vec4};
use bevy::mesh::MeshTag;
use bevy::prelude::*;
use bevy::render::storage::ShaderBuffer;

use super::lod::{self, LodPlan};
use super::material::{BlockDescriptor, BlockMaterial, BlockMaterialPlugin, block_mesh, descriptors_buffer, values_buffer};
use super::values::{ForwardWorker, PackedValues, pack_values};
use crate::layout::{self, Layout};
use crate::model::{Activations, GptConfig, Weights};

/// What the scene shows: a model's shape, its weights (None for a preset shown as structure only)
/// and the input tokens.
#[derive(Resource, Clone, Debug)]
pub struct SceneSource {
    pub config: GptConfig,
    pub weights: Option<Arc<Weights>>,
    pub tokens: Vec<usize>,
}

impl SceneSource {
    /// A model with weights, run on `tokens`.
    pub fn with_weights(weights: Weights, tokens: Vec<usize>) -> SceneSource {
        SceneSource { config: weights.config.clone(), weights: Some(Arc::new(weights)), tokens }
    }

    /// A preset without weights: blocks, no values.
    pub fn structure_only(config: GptConfig) -> SceneSource {
        SceneSource { config, weights: None, tokens: Vec::new() }
    }
}

/// A drawn layout block: its index in `Layout::blocks`, which is also its `MeshTag`.
#[derive(Component, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Block {
    pub index: u32,
}

/// A level-of-detail box standing for several blocks; see `lod`.
#[derive(Component, Clone, Copy, Debug, PartialEq, Eq)]
pub struct LodProxy {
    pub index: u32,
}

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
    /// A cell to light up, None along an axis for all of it (a row or a column), with a strength 0..1.
    /// One single cell (every axis Some) also lights its row and column, at a third (the hovered cell).
    pub focus: Option<([Option<u32>; 3], f32)>,
}

impl Default for BlockStyle {
    fn default() -> BlockStyle {
        BlockStyle { opacity: 1.0, highlight: 0.0, show_values: true, revealed_cells: None, focus: None }
    }
}

/// Where the values of the current scene stand.
#[derive(Clone, Debug, PartialEq)]
pub enum ValuesState {
    /// No weights: the scene shows structure only.
    StructureOnly,
    /// The forward pass of this generation is running; weights already show.
    Computing(u64),
    /// Weights and activations are in the value buffer.
    Ready,
    Failed(String),
}

/// The spawned scene: its layout, entities, GPU buffers and values.
#[derive(Resource)]
pub struct BlockScene {
    pub layout: Arc<Layout>,
    /// Entity of each layout block, by block index.
    pub blocks: Vec<Entity>,
    pub proxies: Vec<Entity>,
    pub lod: LodPlan,
    /// One per block, then one per proxy: the CPU copy of the descriptor buffer.
    pub descriptors: Vec<BlockDescriptor>,
    pub packed: PackedValues,
    /// The weights whose values are in the buffer, and the activations shown with them.
    pub weights: Option<Arc<Weights>>,
    pub activations: Option<Arc<Activations>>,
    pub values: ValuesState,
    pub descriptor_buffer: Handle<ShaderBuffer>,
    pub value_buffer: Handle<ShaderBuffer>,
    pub opaque: Handle<BlockMaterial>,
    pub blended: Handle<BlockMaterial>,
    /// Set when `descriptors` changed and must be uploaded.
    pub descriptors_dirty: bool,
    /// Bumped whenever a buffer is replaced, so that waiters know an upload is under way.
    pub buffer_version: u64,
}

/// The cube every block and proxy is a scaled copy of.
#[derive(Resource)]
pub struct BlockMesh(pub Handle<Mesh>);

/// Spawns the layout of `SceneSource`, keeps its values current, and uploads per-block styles.
pub struct ScenePlugin;

impl Plugin for ScenePlugin {
    fn build(&self, app: &mut App) {
        app.add_plugins(BlockMaterialPlugin)
            .insert_resource(ForwardWorker::spawn())
            .add_systems(Startup, create_block_mesh)
            .add_systems(
                Update,
                (
                    rebuild_scene.run_if(resource_changed::<SceneSource>),
                    receive_values,
                    sync_block_styles,
                    upload_descriptors,
                )
                    .chain(),
            );
    }
}

fn create_block_mesh(mut commands: Commands, mut meshes: ResMut<Assets<Mesh>>) {
    commands.insert_resource(BlockMesh(meshes.add(block_mesh())));
}

/// A new model respawns everything; a new input or new weights only reruns the forward pass.
fn rebuild_scene(world: &mut World) {
    let source = world.resource::<SceneSource>().clone();
    let same_model = world.get_resource::<BlockScene>().is_some_and(|scene| scene.layout.config == source.config);
    if !same_model {
        let spawned: Vec<Entity> = world.query_filtered::<Entity, With<SceneEntity>>().iter(world).collect();
        for entity in spawned {
            world.despawn(entity);
        }
        let start = bevy::platform::time::Instant::now();
        let scene = spawn_scene(world, Arc::new(layout::build(&source.config)));
        info!(
            "spawned {}: {} blocks and {} level-of-detail boxes in {:.2} s",
            source.config.name,
            scene.blocks.len(),
            scene.proxies.len(),
            start.elapsed().as_secs_f32()
        );
        world.insert_resource(scene);
    }
    world.resource_scope(|world, mut scene: Mut<BlockScene>| {
        world.resource_scope(|world, mut worker: Mut<ForwardWorker>| {
            world.resource_scope(|world, mut materials: Mut<Assets<BlockMaterial>>| {
                let mut buffers = world.resource_mut::<Assets<ShaderBuffer>>();
                start_values(&mut scene, &source, &mut worker, &mut buffers, &mut materials);
            });
        });
    });
}

/// Spawns one entity per block and per level-of-detail proxy, every one hidden (and without mesh and
/// material) until `lod` decides what is shown.
pub fn spawn_scene(world: &mut World, layout: Arc<Layout>) -> BlockScene {
    let lod = lod::plan(&layout);
    let packed = PackedValues::default();
    let mut descriptors: Vec<BlockDescriptor> =
        layout.blocks.iter().map(|block| block_descriptor(block, &packed, BlockStyle::default())).collect();
    descriptors.extend(lod.proxies.iter().map(|proxy| proxy_descriptor(proxy.family)));
    let mut buffers = world.resource_mut::<Assets<ShaderBuffer>>();
    let descriptor_buffer = buffers.add(descriptors_buffer(&descriptors));
    let value_buffer = buffers.add(values_buffer(&[]));
    let mut materials = world.resource_mut::<Assets<BlockMaterial>>();
    let opaque = materials.add(BlockMaterial { descriptors: descriptor_buffer.clone(), values: value_buffer.clone(), blend: false });
    let blended = materials.add(BlockMaterial { descriptors: descriptor_buffer.clone(), values: value_buffer.clone(), blend: true });

    let block_bundles = layout.blocks.iter().enumerate().map(|(index, block)| {
        let min = Vec3::from(block.position);
        // Parked: `lod` gives a block its mesh and material when it is shown.
        (
            MeshTag(index as u32),
            box_transform(min, min + Vec3::from(block.size())),
            Visibility::Hidden,
            NoCpuCulling,
            Name::new(block.name.clone()),
            Block { index: index as u32 },
            BlockStyle::default(),
            SceneEntity,
        )
    });
    let blocks: Vec<Entity> = world.spawn_batch(block_bundles).collect();
    let first_proxy_tag = layout.blocks.len() as u32;
    let proxy_bundles = lod.proxies.iter().enumerate().map(|(index, proxy)| {
        (
            MeshTag(first_proxy_tag + index as u32),
            box_transform(proxy.min, proxy.max),
            Visibility::Hidden,
            NoCpuCulling,
            LodProxy { index: index as u32 },
            SceneEntity,
        )
    });
    let proxies: Vec<Entity> = world.spawn_batch(proxy_bundles).collect();

    BlockScene {
        layout,
        blocks,
        proxies,
        lod,
        descriptors,
        packed,
        weights: None,
        activations: None,
        values: ValuesState::StructureOnly,
        descriptor_buffer,
        value_buffer,
        opaque,
        blended,
        descriptors_dirty: false,
        buffer_version: 1,
    }
}

/// The unit cube's transform that makes it the box min..max.
pub fn box_transform(min: Vec3, max: Vec3) -> Transform {
    Transform::from_translation((min + max) / 2.0).with_scale((max - min).max(Vec3::splat(1e-3)))
}

/// Starts the forward pass whose activations follow. New weights show at once; with the same
/// weights, the previous input's activations stay until the new ones arrive.
fn start_values(
    scene: &mut BlockScene,
    source: &SceneSource,
    worker: &mut ForwardWorker,
    buffers: &mut Assets<ShaderBuffer>,
    materials: &mut Assets<BlockMaterial>,
) {
    match &source.weights {
        None => scene.values = ValuesState::StructureOnly,
        Some(weights) => {
            let generation = worker.request(weights.clone(), source.tokens.clone());
            scene.values = ValuesState::Computing(generation);
        }
    }
    let same_weights = match (&scene.weights, &source.weights) {
        (Some(shown), Some(new)) => Arc::ptr_eq(shown, new),
        (None, None) => true,
        _ => false,
    };
    if !same_weights {
        scene.weights = source.weights.clone();
        scene.activations = None;
        set_values(scene, pack_values(&scene.layout, source.weights.as_deref(), None), buffers, materials);
    }
}

/// Takes the newest forward pass, packs its activations with the weights and uploads them.
fn receive_values(
    scene: Option<ResMut<BlockScene>>,
    worker: Res<ForwardWorker>,
    mut buffers: ResMut<Assets<ShaderBuffer>>,
    mut materials: ResMut<Assets<BlockMaterial>>,
) {
    let Some(mut scene) = scene else { return };
    let Some(result) = worker.poll() else { return };
    if scene.values != ValuesState::Computing(result.generation) {
        return;
    }
    match result.activations {
        Ok(activations) => {
            let packed = pack_values(&scene.layout, scene.weights.as_deref(), Some(&activations));
            scene.activations = Some(Arc::new(activations));
            scene.values = ValuesState::Ready;
            set_values(&mut scene, packed, &mut buffers, &mut materials);
        }
        Err(message) => {
            error!("{message}");
            scene.values = ValuesState::Failed(message);
        }
    }
}

fn set_values(scene: &mut BlockScene, packed: PackedValues, buffers: &mut Assets<ShaderBuffer>, materials: &mut Assets<BlockMaterial>) {
    let same_size = scene.packed.values.len().max(1) == packed.values.len().max(1);
    if same_size {
        // Same handle, same size: Bevy writes into the existing GPU buffer, the bind groups stay valid.
        let _ = buffers.insert(&scene.value_buffer, values_buffer(&packed.values));
    } else {
        // A new GPU buffer needs new bind groups: point both materials at a new buffer asset.
        scene.value_buffer = buffers.add(values_buffer(&packed.values));
        for material in [&scene.opaque, &scene.blended] {
            if let Some(mut material) = materials.get_mut(material) {
                material.values = scene.value_buffer.clone();
            }
        }
    }
    scene.packed = packed;
    scene.buffer_version += 1;
    refresh_block_descriptors(scene, None);
}

/// Rewrites the descriptors of every block (or of those given) from the packed values and their styles.
fn refresh_block_descriptors(scene: &mut BlockScene, styles: Option<&[(u32, BlockStyle)]>) {
    let BlockScene { layout, descriptors, packed, .. } = scene;
    match styles {
        Some(styles) => {
            for &(index, style) in styles {
                descriptors[index as usize] = block_descriptor(&layout.blocks[index as usize], packed, style);
            }
        }
        None => {
            for (index, block) in layout.blocks.iter().enumerate() {
                let style = style_of(&descriptors[index]);
                descriptors[index] = block_descriptor(block, packed, style);
            }
        }
    }
    scene.descriptors_dirty = true;
}

/// The style a descriptor was built with (values shown or not is kept in the descriptor's own fields).
fn style_of(descriptor: &BlockDescriptor) -> BlockStyle {
    BlockStyle {
        opacity: descriptor.colour.w,
        highlight: descriptor.style.y,
        show_values: descriptor.style.z == 0.0,
        revealed_cells: (descriptor.style.w >= 0.0).then_some(descriptor.style.w as u32),
        focus: (descriptor.focus.w > 0).then(|| {
            let axis = |v: i32| (v >= 0).then_some(v as u32);
            ([axis(descriptor.focus.x), axis(descriptor.focus.y), axis(descriptor.focus.z)], descriptor.focus.w as f32 / 100.0)
        }),
    }
}

/// What the shader needs of one block: cells, where its values are, colour family and style.
pub fn block_descriptor(block: &layout::Block, packed: &PackedValues, style: BlockStyle) -> BlockDescriptor {
    let [r, g, b] = family_colour(block.family());
    let tensor = packed.tensors.get(&block.tensor).filter(|tensor| tensor.computed && style.show_values);
    let (strides, scale) = match tensor {
        Some(tensor) => {
            // The cell → element map is linear, so three steps and a base describe it.
            let origin = block.tensor_offset([0, 0, 0]) as i64;
            let step = |axis: usize| {
                let mut cell = [0u32; 3];
                cell[axis] = 1;
                (block.tensor_offset(cell) as i64 - origin) as i32
            };
            (IVec4::new(step(0), step(1), step(2), (tensor.base as i64 + origin) as i32), tensor.scale)
        }
        None => (IVec4::new(0, 0, 0, BlockDescriptor::NO_VALUES), 1.0),
    };
    BlockDescriptor {
        cells: UVec4::new(block.cells[0], block.cells[1], block.cells[2], 0),
        strides,
        colour: Vec4::new(r, g, b, style.opacity),
        // z remembers that values were hidden on purpose, so a refill of values keeps them hidden.
        style: Vec4::new(
            scale,
            style.highlight,
            if style.show_values { 0.0 } else { 1.0 },
            style.revealed_cells.map_or(-1.0, |n| n as f32),
        ),
        focus: match style.focus {
            Some((cell, strength)) => {
                let axis = |i: usize| cell[i].map_or(-1, |c| c as i32);
                IVec4::new(axis(0), axis(1), axis(2), (strength.clamp(0.0, 1.0) * 100.0).round() as i32)
            }
            None => BlockDescriptor::NO_FOCUS,
        },
    }
}

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
    }
}

/// A block's style and, unless it is parked by `lod`, its material.
type StyledBlock<'a> = (&'a Block, &'a BlockStyle, Option<&'a mut MeshMaterial3d<BlockMaterial>>);

/// Changed styles reach the descriptors; faded blocks move to the blended material and back.
fn sync_block_styles(
    scene: Option<ResMut<BlockScene>>,
    mut changed: Query<StyledBlock, Changed<BlockStyle>>,
) {
    let Some(mut scene) = scene else { return };
    let mut styles = Vec::new();
    for (block, style, material) in &mut changed {
        styles.push((block.index, *style));
        // A parked block (no material) gets the right one when `lod` shows it.
        let wanted = if style.opacity < 1.0 { &scene.blended } else { &scene.opaque };
        if let Some(mut material) = material
            && material.0 != *wanted
        {
            material.0 = wanted.clone();
        }
    }
    // Spawning marks every style as changed; the descriptors already match then.
    let differs = styles.iter().any(|&(index, style)| style_of(&scene.descriptors[index as usize]) != style);
    if differs {
        refresh_block_descriptors(&mut scene, Some(&styles));
    }
}

fn upload_descriptors(scene: Option<ResMut<BlockScene>>, mut buffers: ResMut<Assets<ShaderBuffer>>) {
    let Some(mut scene) = scene else { return };
    if !scene.descriptors_dirty {
        return;
    }
    let _ = buffers.insert(&scene.descriptor_buffer, descriptors_buffer(&scene.descriptors));
    scene.descriptors_dirty = false;
    scene.buffer_version += 1;
}
