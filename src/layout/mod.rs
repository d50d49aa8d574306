//! The 3D scene as a pure function of the model configuration: `build(config)` gives every drawn
//! tensor as a box of cells, with what it shows, where it sits and what feeds it.
//!
//! No Bevy here, so that the renderer, picking, the tour, `explain` and the web build all read one
//! tested arrangement. Coordinates are Bevy's: world units, y up, x to the right, z towards the
//! default viewer. The model starts at the top (tokens just below y = 0) and grows downwards.
//!
//! Only blocks are stored, never cells: GPT-3 has some 3·10^11 cells in about 76,000 blocks.

pub(crate) mod anchor;
mod arrange;
pub mod connectors;
pub mod map;
mod marks;
mod report;

pub use marks::StepMark;

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::model::config::GptConfig;

pub use anchor::{ANCHOR_ASPECT, ANCHOR_FOV_Y_DEGREES};
pub use arrange::{build, layers_per_column};
pub use report::{byte_size, group_digits};

/// Edge length of one cell in world units, the same along x, y and z.
pub const CELL: f32 = 1.5;

/// What a block shows, which also picks its colour family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BlockKind {
    /// A learned parameter (biases, γ and β included).
    Weight,
    /// An intermediate tensor of the forward pass.
    Activation,
    /// A per-row statistic: layer-norm mean and std, softmax max and Σexp.
    Aggregate,
    /// A parameter shown a second time, such as GPT-2's LM head, which is the token embedding.
    Tied,
}

impl BlockKind {
    pub const ALL: [BlockKind; 4] = [BlockKind::Weight, BlockKind::Tied, BlockKind::Activation, BlockKind::Aggregate];

    pub fn as_str(self) -> &'static str {
        match self {
            BlockKind::Weight => "weight",
            BlockKind::Activation => "activation",
            BlockKind::Aggregate => "aggregate",
            BlockKind::Tied => "tied",
        }
    }

    /// A tied block is the same parameter as its original, so it is coloured as one.
    pub fn family(self) -> Family {
        match self {
            BlockKind::Weight | BlockKind::Tied => Family::Weight,
            BlockKind::Activation => Family::Activation,
            BlockKind::Aggregate => Family::Aggregate,
        }
    }
}

/// The colour family of a block, as in the reference: weights blue, activations green, aggregates yellow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    Weight,
    Activation,
    Aggregate,
}

impl Family {
    /// Linear RGB of the block body; values are drawn as shades of it.
    pub fn rgb(self) -> [f32; 3] {
        match self {
            Family::Weight => [0.3, 0.3, 1.0],
            Family::Activation => [0.4, 0.8, 0.4],
            Family::Aggregate => [1.0, 0.8, 0.3],
        }
    }
}

/// How a block is computed from its inputs, shared with `explain`, which turns each into a formula.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    /// The token ids: given, not computed.
    Input,
    /// wte[token] + wpe[t]
    Embedding,
    /// bias + dot(row, column)
    Matmul,
    ResidualAdd,
    /// mean and std of a row, for a layer norm
    LnStats,
    LayerNorm,
    /// dot(q, k) / √A, causal
    AttnScore,
    /// max and Σexp of a row, for a softmax
    SoftmaxStats,
    Softmax,
    Gelu,
    /// Σ softmax · v
    AttnValue,
    /// The heads' outputs side by side, as the input of the attention projection.
    Concat,
    /// A learned parameter: no inputs.
    Param,
    /// √(mean(x²) + ε) of a row, for an RMSNorm (Llama family)
    RmsStats,
    /// x / rms · γ
    RmsNorm,
    /// A rotary position embedding: channel i turned with channel i ± D/2 by the angle t·θ_i
    Rope,
    /// silu(gate) · up
    SwiGlu,
    /// The logit lens: the final norm and the unembedding read a residual stream's row as if the
    /// model stopped there; the likeliest token's probability.
    Lens,
}

impl Op {
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Input => "input",
            Op::Embedding => "embedding",
            Op::Matmul => "matmul",
            Op::ResidualAdd => "residual_add",
            Op::LnStats => "ln_stats",
            Op::LayerNorm => "layer_norm",
            Op::AttnScore => "attn_score",
            Op::SoftmaxStats => "softmax_stats",
            Op::Softmax => "softmax",
            Op::Gelu => "gelu",
            Op::AttnValue => "attn_value",
            Op::Concat => "concat",
            Op::Param => "param",
            Op::RmsStats => "rms_stats",
            Op::RmsNorm => "rms_norm",
            Op::Rope => "rope",
            Op::SwiGlu => "swiglu",
            Op::Lens => "lens",
        }
    }
}

/// The meaning of a block axis: which tensor dimension runs along it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Axis {
    /// Token position; for attention, the query's.
    #[serde(rename = "t")]
    T,
    /// The key's token position in an attention matrix.
    #[serde(rename = "t2")]
    T2,
    /// Channel of the residual stream.
    #[serde(rename = "c")]
    C,
    /// Channel within one attention head.
    #[serde(rename = "a")]
    A,
    /// Channel of the MLP's hidden layer.
    #[serde(rename = "4c")]
    C4,
    /// Vocabulary entry.
    #[serde(rename = "v")]
    V,
    /// Which of q, k, v: the depth of a merged head block.
    #[serde(rename = "qkv")]
    Qkv,
}

impl Axis {
    pub fn as_str(self) -> &'static str {
        match self {
            Axis::T => "t",
            Axis::T2 => "t2",
            Axis::C => "c",
            Axis::A => "a",
            Axis::C4 => "4c",
            Axis::V => "v",
            Axis::Qkv => "qkv",
        }
    }
}

/// One tensor dimension as a linear function of the cell:
/// `index = offset + strides[0]·cell[0] + strides[1]·cell[1] + strides[2]·cell[2]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DimMap {
    /// The tensor's full length along this dimension, so the map also carries the tensor's shape.
    pub len: usize,
    pub offset: usize,
    pub strides: [usize; 3],
}

/// Cell → tensor element, one `DimMap` per tensor dimension, the tensor's own order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TensorMap {
    pub dims: Vec<DimMap>,
}

impl TensorMap {
    pub fn index(&self, cell: [u32; 3]) -> Vec<usize> {
        self.dims.iter().map(|dim| dim_index(dim, cell)).collect()
    }

    /// Row-major offset of the cell's element, for reading a flat value buffer without allocating.
    pub fn offset(&self, cell: [u32; 3]) -> usize {
        self.dims.iter().fold(0, |offset, dim| offset * dim.len + dim_index(dim, cell))
    }

    pub fn shape(&self) -> Vec<usize> {
        self.dims.iter().map(|dim| dim.len).collect()
    }
}

fn dim_index(dim: &DimMap, cell: [u32; 3]) -> usize {
    dim.offset + (0..3).map(|axis| dim.strides[axis] * cell[axis] as usize).sum::<usize>()
}

/// An input of a block and the operation through which it feeds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dep {
    /// Index into `Layout::blocks`.
    pub block: usize,
    pub op: Op,
}

/// A camera viewpoint: the eye looks at the target, y up.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Anchor {
    pub target: [f32; 3],
    pub eye: [f32; 3],
}

/// One drawn tensor, or one head's slice of it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Block {
    /// Stable name (`block1.head2.q`): tours, explain and tests refer to blocks by it.
    pub name: String,
    pub kind: BlockKind,
    /// How this block is computed; `Param` for weights.
    pub op: Op,
    /// The activation or parameter (state_dict) name of the tensor shown.
    pub tensor: String,
    pub map: TensorMap,
    /// What runs along x, y and z; None where the block is one cell thick and nothing runs.
    pub axes: [Option<Axis>; 3],
    pub cells: [u32; 3],
    /// The minimum corner of the box it is drawn in, in world units.
    pub position: [f32; 3],
    pub layer: Option<usize>,
    pub head: Option<usize>,
    pub deps: Vec<Dep>,
    pub anchor: Anchor,
    /// How a vocabulary-long block is drawn folded into strips; None for a block drawn whole.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fold: Option<Fold>,
}

/// A block too long to read beside the layers, drawn as strips: its cells along `along` cut every
/// `length` cells, the pieces set side by side along `across`, `pitch` cells apart. Cells keep their
/// logical coordinates (what `explain`, the tours and the values name); only where they are drawn
/// changes. Drawn coordinates count like logical ones: x from the left, y from the top, z from the front.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fold {
    /// The axis cut into pieces (0 for x, 1 for y).
    pub along: usize,
    /// The axis the pieces follow one another on.
    pub across: usize,
    /// Cells per piece along `along`.
    pub length: u32,
    /// From one piece's start to the next one's along `across`, in cells: the block's own width there and a gap.
    pub pitch: u32,
}

impl Fold {
    /// How many pieces a block of `cells` is cut into.
    pub fn pieces(&self, cells: [u32; 3]) -> u32 {
        cells[self.along].div_ceil(self.length.max(1))
    }

    /// The cells of the box the pieces are drawn in.
    pub fn drawn_cells(&self, cells: [u32; 3]) -> [u32; 3] {
        let mut drawn = cells;
        drawn[self.along] = self.length.min(cells[self.along]);
        drawn[self.across] = (self.pieces(cells).max(1) - 1) * self.pitch + cells[self.across];
        drawn
    }

    /// Where a logical cell is drawn, in the drawn box's cells.
    pub fn drawn(&self, cell: [u32; 3]) -> [u32; 3] {
        let piece = cell[self.along] / self.length.max(1);
        let mut drawn = cell;
        drawn[self.along] = cell[self.along] - piece * self.length;
        drawn[self.across] = cell[self.across] + piece * self.pitch;
        drawn
    }

    /// The logical cell drawn at a cell of the drawn box, or None in the gaps between pieces and
    /// past the last cell.
    pub fn logical(&self, drawn: [u32; 3], cells: [u32; 3]) -> Option<[u32; 3]> {
        let piece = drawn[self.across] / self.pitch.max(1);
        let mut cell = drawn;
        cell[self.across] = drawn[self.across] - piece * self.pitch;
        cell[self.along] = drawn[self.along].checked_add(piece.checked_mul(self.length)?)?;
        (0..3).all(|axis| cell[axis] < cells[axis]).then_some(cell)
    }
}

impl Block {
    /// The cells of the box the block is drawn in: its own, or its folded strips'.
    pub fn drawn_cells(&self) -> [u32; 3] {
        self.fold.map_or(self.cells, |fold| fold.drawn_cells(self.cells))
    }

    /// The size of the box the block is drawn in, in world units.
    pub fn size(&self) -> [f32; 3] {
        self.drawn_cells().map(|n| n as f32 * CELL)
    }

    pub fn max(&self) -> [f32; 3] {
        let size = self.size();
        [0, 1, 2].map(|axis| self.position[axis] + size[axis])
    }

    pub fn cell_count(&self) -> u64 {
        self.cells.iter().map(|&n| n as u64).product()
    }

    pub fn family(&self) -> Family {
        self.kind.family()
    }

    /// The centre of a cell. Cell i along x runs left to right from min x, cell j along y top to
    /// bottom from max y (a [T, C] tensor reads like a table), cell k along z front to back from max z.
    pub fn cell_center(&self, cell: [u32; 3]) -> [f32; 3] {
        let cell = self.fold.map_or(cell, |fold| fold.drawn(cell));
        let cell_size = CELL as f64;
        let max = self.max();
        let x = self.position[0] as f64 + (cell[0] as f64 + 0.5) * cell_size;
        let y = max[1] as f64 - (cell[1] as f64 + 0.5) * cell_size;
        let z = max[2] as f64 - (cell[2] as f64 + 0.5) * cell_size;
        [x as f32, y as f32, z as f32]
    }

    /// The cell holding a point of the box. A point a rounding error outside a face still maps to
    /// the cell on that face, so a ray hit on the surface finds its cell; anything further, or in
    /// the gap between folded strips, is None.
    pub fn cell_at(&self, point: [f32; 3]) -> Option<[u32; 3]> {
        let max = self.max();
        let drawn = self.drawn_cells();
        let mut cell = [0u32; 3];
        for axis in 0..3 {
            let (low, high, p) = (self.position[axis] as f64, max[axis] as f64, point[axis] as f64);
            // f32 world coordinates of GPT-3 reach millions, where one ulp is a sizeable part of a cell.
            let tolerance = 1e-3 * CELL as f64 + 4.0 * f32::EPSILON as f64 * p.abs().max(high.abs()).max(low.abs());
            if p < low - tolerance || p > high + tolerance {
                return None;
            }
            // x counts from the left face, y from the top, z from the front.
            let from_start = if axis == 0 { p - low } else { high - p };
            let index = (from_start / CELL as f64).floor().max(0.0) as u64;
            cell[axis] = index.min(drawn[axis] as u64 - 1) as u32;
        }
        match self.fold {
            Some(fold) => fold.logical(cell, self.cells),
            None => Some(cell),
        }
    }

    pub fn tensor_index(&self, cell: [u32; 3]) -> Vec<usize> {
        self.map.index(cell)
    }

    /// Row-major offset into the tensor's data of the element a cell shows.
    pub fn tensor_offset(&self, cell: [u32; 3]) -> usize {
        self.map.offset(cell)
    }

    /// The shape of the whole tensor the block shows (of which it may show a head's slice).
    pub fn tensor_shape(&self) -> Vec<usize> {
        self.map.shape()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LabelKind {
    /// A named part of the model, drawn as a bracket around its extent.
    Section,
    /// A dimension mark such as "C = 48": the extent is a thin strip along the dimension, beside its block.
    Dim,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Label {
    pub text: String,
    pub kind: LabelKind,
    /// World AABB.
    pub min: [f32; 3],
    pub max: [f32; 3],
    pub anchor: Anchor,
    /// Which layer and head a section belongs to: "Self-attention" and "Head h" repeat in every layer.
    pub layer: Option<usize>,
    pub head: Option<usize>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Layout {
    pub config: GptConfig,
    pub blocks: Vec<Block>,
    pub labels: Vec<Label>,
    /// A front-ish view of the whole model, the opening view.
    pub overview: Anchor,
    index: HashMap<String, usize>,
}

impl Layout {
    fn new(config: GptConfig, blocks: Vec<Block>, labels: Vec<Label>, overview: Anchor) -> Layout {
        let mut index = HashMap::with_capacity(blocks.len());
        for (block_index, block) in blocks.iter().enumerate() {
            let earlier = index.insert(block.name.clone(), block_index);
            assert!(earlier.is_none(), "two blocks are named {}", block.name);
        }
        Layout { config, blocks, labels, overview, index }
    }

    pub fn find(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }

    pub fn block(&self, name: &str) -> Option<&Block> {
        self.find(name).map(|block_index| &self.blocks[block_index])
    }

    /// A section label by its text and layer ("Self-attention", Some(2)).
    pub fn section(&self, text: &str, layer: Option<usize>) -> Option<&Label> {
        self.labels.iter().find(|label| label.kind == LabelKind::Section && label.text == text && label.layer == layer)
    }

    /// The world AABB of all blocks (labels stick out a little beyond it).
    pub fn bounds(&self) -> ([f32; 3], [f32; 3]) {
        let mut min = [f32::INFINITY; 3];
        let mut max = [f32::NEG_INFINITY; 3];
        for block in &self.blocks {
            let block_max = block.max();
            for axis in 0..3 {
                min[axis] = min[axis].min(block.position[axis]);
                max[axis] = max[axis].max(block_max[axis]);
            }
        }
        (min, max)
    }

    /// Cells of the `weight` blocks: the model's parameter count, a tied head counted once.
    pub fn weight_cells(&self) -> u64 {
        self.blocks.iter().filter(|block| block.kind == BlockKind::Weight).map(Block::cell_count).sum()
    }
}
