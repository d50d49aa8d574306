//! The one material every block is drawn with, and the per-block data its shader reads.
//!
//! All blocks share one cube mesh and the descriptor buffer; each entity's `MeshTag` indexes it.
//! The values lie in pages (`pages`): a `BlockMaterial` binds two neighbouring pages, and there are
//! two per page (opaque, and blended for blocks a tour fades), so Bevy batches the blocks into an
//! instanced draw per page and blending, not per block.

use bevy::asset::{load_internal_asset, uuid_handle};
use bevy::light::cluster::GlobalClusterSettings;
use bevy::math::{IVec4, UVec4, Vec4};
use bevy::pbr::PbrPlugin;
use bevy::prelude::*;
use bevy::render::render_resource::{AsBindGroup, ShaderType, encase};
use bevy::render::storage::ShaderBuffer;
use bevy::shader::ShaderRef;

pub const BLOCKS_SHADER: Handle<Shader> = uuid_handle!("6f1d2a8e-3c4b-4f6a-9e1d-b7c2a5d0e913");

/// One block as the shader sees it. Mirrors `BlockDescriptor` in shaders/blocks.wgsl.
#[derive(ShaderType, Clone, Copy, Debug, PartialEq)]
pub struct BlockDescriptor {
    /// x, y, z: cell counts; w: flags (`PROXY`).
    pub cells: UVec4,
    /// x, y, z: step in the values per cell along each axis; w: index of cell (0, 0, 0)'s 16-bit
    /// value counted from the start of the material's first page, or `NO_VALUES`.
    pub strides: IVec4,
    /// rgb: the colour family (linear); a: opacity.
    pub colour: Vec4,
    /// x: value scale (value × scale = ±1 is full colour); y: highlight 0..1; z: how many columns
    /// from `focus.x` the focus lights (1 but for a tour's `Columns`); w: how
    /// many cells are computed, in `tour::timeline::reveal_rank` order (a tour's reveal), or −1 for all.
    pub style: Vec4,
    /// x, y, z: the focused cell, −1 along an axis for all of it (a row, a column); w: the focus
    /// strength in percent, 0 for none. The pointer's cell and the cells it was computed from.
    pub focus: IVec4,
    /// x, y, z: the first cell of a box of cells a tour's `Compute` shows computed, whatever
    /// `style.w` says; w: how many of them, in `reveal_rank` order within the box.
    pub window: IVec4,
    /// x, y, z: the size of that box in cells (0 for none).
    pub window_size: UVec4,
    /// x: the block's pyramid's first word, counted from the start of the material's first page, or
    /// −1 for none; y: its first level stored; z: its top level; w: words in a page.
    pub pyramid: IVec4,
    /// A block drawn folded into strips (`layout::Fold`): x: 1 + the axis cut (0 for a block drawn
    /// whole); y: the axis the strips follow one another on; z: cells per strip; w: the pitch.
    pub fold: UVec4,
}

impl BlockDescriptor {
    /// `cells.w` flag: a level-of-detail box standing for many blocks, drawn flat.
    pub const PROXY: u32 = 1;
    /// `strides.w` when a block shows no values.
    pub const NO_VALUES: i32 = -1;
    /// `focus` when nothing is focused.
    pub const NO_FOCUS: IVec4 = IVec4::new(-1, -1, -1, 0);
    /// `window` when no extra cells are computed.
    pub const NO_WINDOW: IVec4 = IVec4::new(0, 0, 0, 0);
    /// `pyramid` for a block drawn without values.
    pub const NO_PYRAMID: IVec4 = IVec4::new(-1, 0, 0, 1);
    /// `fold` for a block drawn whole.
    pub const NO_FOLD: UVec4 = UVec4::ZERO;
}

/// The material of the blocks whose values start in `page_a`. Two exist per page, differing only in
/// `blend`.
#[derive(Asset, TypePath, AsBindGroup, Debug, Clone)]
pub struct BlockMaterial {
    #[storage(0, read_only)]
    pub descriptors: Handle<ShaderBuffer>,
    /// A page of values and pyramids, and the next (or the same page again, for the last one): a
    /// block's words start in the first and may run on into the second.
    #[storage(1, read_only, visibility(fragment))]
    pub page_a: Handle<ShaderBuffer>,
    #[storage(2, read_only, visibility(fragment))]
    pub page_b: Handle<ShaderBuffer>,
    /// Blended (drawn after the opaque blocks, no depth writes) for blocks that are faded.
    pub blend: bool,
}

impl Material for BlockMaterial {
    fn vertex_shader() -> ShaderRef {
        BLOCKS_SHADER.into()
    }

    fn fragment_shader() -> ShaderRef {
        BLOCKS_SHADER.into()
    }

    fn alpha_mode(&self) -> AlphaMode {
        if self.blend { AlphaMode::Blend } else { AlphaMode::Opaque }
    }

    // Unlit and procedural: no depth prepass and no shadow pipelines to compile.
    fn enable_prepass() -> bool {
        false
    }

    fn enable_shadows() -> bool {
        false
    }
}

/// Registers the material and embeds its shader, so the binary draws without an assets folder.
pub struct BlockMaterialPlugin;

impl Plugin for BlockMaterialPlugin {
    fn build(&self, app: &mut App) {
        load_internal_asset!(app, BLOCKS_SHADER, "../../../shaders/blocks.wgsl", Shader::from_wgsl);
        app.add_plugins(MaterialPlugin::<BlockMaterial>::default());
    }

    /// The scene has no lights to cluster: no clustering pipelines either (five of them, seconds
    /// on a software GPU such as the page's SwiftShader). Runs after `PbrPlugin::finish`, which
    /// turns GPU clustering on where the device allows it.
    fn finish(&self, app: &mut App) {
        if let Some(mut clusters) = app.world_mut().get_resource_mut::<GlobalClusterSettings>() {
            clusters.gpu_clustering = None;
        }
    }
}

/// Bevy's PBR as the blocks need it: no deferred lighting (a pipeline compiled for nothing) and no
/// prepass for its standard material.
pub fn lean_pbr() -> PbrPlugin {
    PbrPlugin { prepass_enabled: false, add_default_deferred_lighting_plugin: false, ..default() }
}

/// The unit cube every block is a scaled copy of: positions and normals only (the shader needs no UVs).
pub fn block_mesh() -> Mesh {
    let mut mesh = Mesh::from(Cuboid::new(1.0, 1.0, 1.0));
    mesh.remove_attribute(Mesh::ATTRIBUTE_UV_0);
    mesh
}

/// A storage buffer holding a page's words (at least one, as a binding cannot be empty). Its bytes
/// go to the render world and leave the main world's asset: the pages are kept once, in
/// `PackedValues`, not in three copies of up to 128 MiB each.
pub fn page_buffer(words: &[u32]) -> ShaderBuffer {
    let bytes: Vec<u8> =
        if words.is_empty() { vec![0; 4] } else { words.iter().flat_map(|w| w.to_le_bytes()).collect() };
    let mut buffer =
        ShaderBuffer { asset_usage: bevy::asset::RenderAssetUsages::RENDER_WORLD, ..ShaderBuffer::default() };
    // Its size stays readable in the main world once the bytes have gone (`stats` counts it).
    buffer.buffer_description.size = bytes.len() as u64;
    // Moved in, not copied as `ShaderBuffer::new` would: a page is up to 128 MiB.
    buffer.data = Some(bytes);
    buffer
}

/// The bytes `page_buffer` makes of a page of `words` words.
pub fn page_bytes(words: usize) -> usize {
    4 * words.max(1)
}

/// Descriptors kept at the end of the buffer for copies of cells in flight (a tour's `Fly`): how
/// many can fly at once.
pub const FLY_SLOTS: usize = 4;

/// Overwrites descriptor `index` in the bytes of a descriptor buffer, where the shader reads it.
pub fn write_descriptor(buffer: &mut [u8], index: usize, descriptor: &BlockDescriptor) {
    let size = BlockDescriptor::min_size().get() as usize;
    let Some(bytes) = buffer.get_mut(index * size..(index + 1) * size) else { return };
    let mut writer = encase::StorageBuffer::new(bytes);
    writer.write(descriptor).expect("a descriptor fits its own size");
}

pub fn descriptors_buffer(descriptors: &[BlockDescriptor]) -> ShaderBuffer {
    if descriptors.is_empty() {
        ShaderBuffer::from(vec![BlockDescriptor {
            cells: UVec4::ONE,
            strides: IVec4::NEG_ONE,
            colour: Vec4::ONE,
            style: Vec4::new(0.0, 0.0, 0.0, -1.0),
            focus: BlockDescriptor::NO_FOCUS,
            window: BlockDescriptor::NO_WINDOW,
            window_size: UVec4::ZERO,
            pyramid: BlockDescriptor::NO_PYRAMID,
            fold: BlockDescriptor::NO_FOLD,
        }])
    } else {
        ShaderBuffer::from(descriptors.to_vec())
    }
}
