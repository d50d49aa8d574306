//! The data flow drawn in the scene: thin rods along the routes of `layout::connectors`, from each
//! block to each block computed from it. All rods are unit cubes stretched along a segment, drawn
//! with the blocks' shader as flat boxes through a material of their own: one instanced draw for
//! every connector. They are dim, and lit where they lead into a block in focus (the one under the
//! pointer and the cells it was computed from, or the tour's) or lit up.
//!
//! Only models small enough to read as a whole get them (nano); the reference draws its arrows for
//! nano alone too.

use bevy::camera::visibility::NoCpuCulling;
use bevy::math::{IVec4, UVec4, Vec4};
use bevy::mesh::MeshTag;
use bevy::prelude::*;
use bevy::render::storage::ShaderBuffer;

use crate::layout::CELL;
use crate::layout::connectors::{Connector, route_connectors};
use crate::render::scene::blocks::{BlockMesh, BlockScene, BlockStyle, SceneBlock, SceneEntity};
use crate::render::scene::frame::FrameStep;
use crate::render::scene::material::{
    BlockDescriptor, BlockMaterial, descriptors_buffer, page_buffer, write_descriptor,
};

/// The most blocks a model may have for its connectors to be drawn: nano has 206, GPT-2 2,294.
pub const MAX_CONNECTED_BLOCKS: usize = 1000;

/// A rod's thickness, in cells: thin beside a one-cell row, still seen from afar (the shader grows
/// any box to a pixel and a half).
const THICKNESS: f32 = 0.25;

/// Dim slate; lit, the same colour at full strength.
const COLOUR: [f32; 3] = [0.16, 0.2, 0.3];

/// The most rods that carry lit connectors on, across the faces of a block in focus, to its one
/// focused cell: up to three per connector, for up to eight inputs.
const TAIL_RODS: usize = 24;

/// A rod that carries a lit connector from where it meets its block to the focused cell: hidden
/// unless a block with its inputs lit has one cell in focus (the hovered cell).
#[derive(Component, Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectorTail {
    pub slot: u32,
}

/// One rod: a straight segment of a connector.
#[derive(Component, Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectorSegment {
    /// Index into `Connectors::connectors`.
    pub connector: u32,
}

/// The connectors of the current scene, their rods' shared buffers, and which are lit.
#[derive(Resource)]
pub struct Connectors {
    /// The `BlockScene::id` they were routed for.
    pub scene: usize,
    pub connectors: Vec<Connector>,
    /// Per connector: lit because it leads into a block in focus or lit up.
    pub lit: Vec<bool>,
    /// Per rod (by `MeshTag`), its connector.
    pub segments: Vec<u32>,
    descriptors: Handle<ShaderBuffer>,
}

pub struct ConnectorPlugin;

impl Plugin for ConnectorPlugin {
    fn build(&self, app: &mut App) {
        app.add_systems(Update, spawn_connectors.in_set(FrameStep::Derive))
            .add_systems(PostUpdate, light_connectors.in_set(FrameStep::Upload));
    }
}

/// A new scene gets its connectors: routed, and a rod spawned per segment (despawned with the scene).
fn spawn_connectors(
    mut commands: Commands,
    scene: Res<BlockScene>,
    connectors: Option<Res<Connectors>>,
    mesh: Option<Res<BlockMesh>>,
    mut buffers: ResMut<Assets<ShaderBuffer>>,
    mut materials: ResMut<Assets<BlockMaterial>>,
) {
    let Some(mesh) = mesh else { return };
    if connectors.is_some_and(|connectors| connectors.scene == scene.id()) {
        return;
    }
    let routed =
        if scene.layout.blocks.len() <= MAX_CONNECTED_BLOCKS { route_connectors(&scene.layout) } else { Vec::new() };
    let rods: Vec<(u32, Vec3, Vec3)> = routed
        .iter()
        .enumerate()
        .flat_map(|(index, connector)| {
            connector.points.windows(2).map(move |pair| (index as u32, Vec3::from(pair[0]), Vec3::from(pair[1])))
        })
        .collect();
    let mut descriptors: Vec<BlockDescriptor> = rods.iter().map(|_| rod_descriptor(false)).collect();
    // A model without connectors needs no rods to carry them to a cell either.
    let tail_rods = if routed.is_empty() { 0 } else { TAIL_RODS };
    descriptors.extend((0..tail_rods).map(|_| rod_descriptor(true)));
    let descriptors = buffers.add(descriptors_buffer(&descriptors));
    let no_values = buffers.add(page_buffer(&[]));
    let material = materials.add(BlockMaterial {
        descriptors: descriptors.clone(),
        page_a: no_values.clone(),
        page_b: no_values,
        blend: false,
    });
    for (tag, &(connector, a, b)) in rods.iter().enumerate() {
        let half = Vec3::splat(THICKNESS * CELL / 2.0);
        commands.spawn((
            Mesh3d(mesh.0.clone()),
            MeshMaterial3d(material.clone()),
            MeshTag(tag as u32),
            crate::render::scene::blocks::box_transform(a.min(b) - half, a.max(b) + half),
            NoCpuCulling,
            SceneEntity,
            ConnectorSegment { connector },
        ));
    }
    for slot in 0..tail_rods {
        let parked = (Visibility::Hidden, NoCpuCulling, SceneEntity, ConnectorTail { slot: slot as u32 });
        commands.spawn((
            Mesh3d(mesh.0.clone()),
            MeshMaterial3d(material.clone()),
            MeshTag((rods.len() + slot) as u32),
            Transform::default(),
            parked,
        ));
    }
    let lit = vec![false; routed.len()];
    let segments = rods.iter().map(|&(connector, _, _)| connector).collect();
    commands.insert_resource(Connectors { scene: scene.id(), connectors: routed, lit, segments, descriptors });
}

/// Whether a block's look asks for its inputs to be shown: it is in focus or lit up.
fn wants_inputs(style: &BlockStyle) -> bool {
    style.focus.is_some() || style.highlight > 0.3
}

/// When block styles change, the connectors into blocks in focus light up and the others dim;
/// a connector to or from a block a tour has faded is hidden with it.
fn light_connectors(
    connectors: Option<ResMut<Connectors>>,
    scene: Res<BlockScene>,
    changed: Query<(), Changed<BlockStyle>>,
    styles: Query<(&SceneBlock, &BlockStyle)>,
    mut rods: Query<(&ConnectorSegment, &mut Visibility), Without<ConnectorTail>>,
    mut tails: Query<(&ConnectorTail, &mut Transform, &mut Visibility), Without<ConnectorSegment>>,
    mut buffers: ResMut<Assets<ShaderBuffer>>,
) {
    let Some(mut connectors) = connectors else { return };
    // Connectors spawned after the styles changed (their scene appeared later in the frame) are lit
    // from the styles as they are: the change itself was seen, and passed over, a frame before.
    if (changed.is_empty() && !connectors.is_added()) || connectors.scene != scene.id() {
        return;
    }
    let mut by_block = vec![BlockStyle::default(); scene.layout.blocks.len()];
    for (block, style) in &styles {
        if let Some(slot) = by_block.get_mut(block.index as usize) {
            *slot = *style;
        }
    }
    let lit: Vec<bool> = connectors.connectors.iter().map(|c| wants_inputs(&by_block[c.to])).collect();
    if lit != connectors.lit {
        let Some(mut buffer) = buffers.get_mut(&connectors.descriptors) else { return };
        let Some(bytes) = buffer.data.as_mut() else { return };
        for (tag, &connector) in connectors.segments.iter().enumerate() {
            write_descriptor(bytes, tag, &rod_descriptor(lit[connector as usize]));
        }
        connectors.lit = lit;
    }
    for (rod, mut visibility) in &mut rods {
        let connector = &connectors.connectors[rod.connector as usize];
        let shown = by_block[connector.from].opacity >= 0.99 && by_block[connector.to].opacity >= 0.99;
        let wanted = if shown { Visibility::Inherited } else { Visibility::Hidden };
        visibility.set_if_neq(wanted);
    }
    let segments = tail_segments(&scene.layout, &connectors, &by_block);
    for (tail, mut transform, mut visibility) in &mut tails {
        match segments.get(tail.slot as usize) {
            Some(&(a, b)) => {
                let half = Vec3::splat(THICKNESS * CELL / 2.0);
                transform.set_if_neq(crate::render::scene::blocks::box_transform(a.min(b) - half, a.max(b) + half));
                visibility.set_if_neq(Visibility::Inherited);
            }
            None => {
                visibility.set_if_neq(Visibility::Hidden);
            }
        }
    }
}

/// For each lit connector into a block with one cell in full focus, the rods from where the connector
/// meets the block to that cell on the front face (where cells are read): along the face it meets
/// to the front edge, then across the front face, so each input's line ends at the cell it feeds.
/// Each rod lies on its face, lifted off it by half its thickness.
pub fn tail_segments(
    layout: &crate::layout::Layout,
    connectors: &Connectors,
    styles: &[BlockStyle],
) -> Vec<(Vec3, Vec3)> {
    let mut segments = Vec::new();
    let lift = THICKNESS * CELL / 2.0;
    for (connector, _) in connectors.connectors.iter().zip(&connectors.lit).filter(|(_, lit)| **lit) {
        let Some(focus) = styles[connector.to].focus else { continue };
        let Some([x, y, z]) = focus.single_cell() else { continue };
        // A tour's computation lights cells a little less: its cell changes as it goes, and the
        // rods would cover the cells it has filled.
        if focus.strength < 1.0 {
            continue;
        }
        let block = &layout.blocks[connector.to];
        let (min, max) = (Vec3::from(block.position), Vec3::from(block.max()));
        let end = Vec3::from(*connector.points.last().expect("a connector has two ends"));
        let eps = 1e-3 * CELL;
        // The face the connector meets: the axis along which its end lies on the box's surface.
        let Some(normal) = (0..3).find_map(|axis| {
            let mut normal = Vec3::ZERO;
            normal[axis] = if (end[axis] - max[axis]).abs() < eps {
                1.0
            } else if (end[axis] - min[axis]).abs() < eps {
                -1.0
            } else {
                return None;
            };
            Some(normal)
        }) else {
            continue;
        };
        let front = Vec3::Z;
        let mut on_front = end;
        if normal != front {
            // Along the face it meets, to the front edge.
            on_front.z = max.z;
            segments.push((end + normal * lift, on_front + normal * lift));
        }
        let mut cell = Vec3::from(block.cell_center([x, y, z]));
        cell.z = max.z;
        let corner = Vec3::new(cell.x, on_front.y, max.z);
        segments.push((on_front + front * lift, corner + front * lift));
        segments.push((corner + front * lift, cell + front * lift));
    }
    segments.retain(|(a, b)| a != b);
    segments.truncate(TAIL_RODS);
    segments
}

/// A rod as the block shader draws it: one flat box (the level-of-detail flag), dim or lit.
fn rod_descriptor(lit: bool) -> BlockDescriptor {
    let [r, g, b] = COLOUR;
    BlockDescriptor {
        cells: UVec4::new(1, 1, 1, BlockDescriptor::PROXY),
        strides: IVec4::new(0, 0, 0, BlockDescriptor::NO_VALUES),
        colour: Vec4::new(r, g, b, 1.0),
        style: Vec4::new(0.0, if lit { 1.0 } else { 0.0 }, 0.0, -1.0),
        focus: BlockDescriptor::NO_FOCUS,
        window: BlockDescriptor::NO_WINDOW,
        window_size: UVec4::ZERO,
        pyramid: BlockDescriptor::NO_PYRAMID,
        fold: BlockDescriptor::NO_FOLD,
    }
}
