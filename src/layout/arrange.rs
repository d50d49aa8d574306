//! Where each tensor goes.
//!
//! Every activation has its tokens along x, so token t sits at the same x in every activation of a
//! column and one token's path through the model is a vertical line. Feature dimensions (C, A, 4C,
//! V) run down y. The residual stream is the column of width T centred on the column's origin; a
//! matmul's output sits in it with its weight to the left on the same rows, so output row r is the
//! dot product of weight row r with an input column, as a drawn matrix product reads. Heads stand
//! behind one another in depth, head 0 in front. GELU sits right of the fc output rather than under
//! it, which saves 4C of height per layer. A model of a few layers gives each layer a column; a deeper
//! one sets its layers in a grid of columns (`layers_per_column`), each starting at the height of
//! the first layer. A Llama-family model follows the same plan with its own blocks (`llama`).
//! Vocabulary-long blocks (the token embedding, the LM head, logits and probabilities of a real
//! tokenizer) are drawn folded into strips (`Fold`).

mod llama;

use std::ops::Range;

use super::anchor::{Framing, OVERVIEW_VIEW};
use super::{Axis, Block, BlockKind, CELL, Dep, DimMap, Fold, Label, LabelKind, Layout, Op, TensorMap};
use crate::model::config::GptConfig;
use crate::model::names;

/// A model of a few layers gives each layer a column of its own: one column of them would be ten
/// times taller than wide, too thin to read on a wide screen, while side by side the whole model
/// fits one view with its cells legible. A deeper model's layers are set in a grid about
/// `GRID_ASPECT` times as wide as it is tall, a column of layers read top to bottom, the columns
/// left to right: one column of GPT-2's twelve was a hairline in a wide frame.
pub fn layers_per_column(config: &GptConfig) -> usize {
    let layers = config.n_layer;
    if layers <= 4 {
        return 1;
    }
    let (width, height) = layer_extent(config);
    let aspect_error = |per_column: usize| {
        let columns = layers.div_ceil(per_column) as f64;
        (columns * width / (per_column as f64 * height) / GRID_ASPECT).ln().abs()
    };
    (1..=layers).min_by(|&a, &b| aspect_error(a).total_cmp(&aspect_error(b))).unwrap_or(layers)
}

/// Width over height of the grid of layers: the overview's frame is 16:9, less its panels, and
/// the embedding and output add a little on every side.
const GRID_ASPECT: f64 = 1.5;

/// One layer's width and height with the space between layers, in cells: the first layer laid
/// out on its own.
fn layer_extent(config: &GptConfig) -> (f64, f64) {
    let mut arranger = Arranger::new(config);
    let llama = config.llama_shape().is_some();
    let (residual, embedding_bottom) = if llama { arranger.llama_embedding() } else { arranger.embedding() };
    let top = embedding_bottom - 2.0 * arranger.margin;
    let (_, bottom) =
        if llama { arranger.llama_layer(0, 0.0, top, residual) } else { arranger.layer(0, 0.0, top, residual) };
    (arranger.column_pitch, top - bottom + 2.0 * arranger.margin)
}

/// Vocabulary blocks this long or longer are folded into strips (`Fold`): GPT-2's 50,257 cells in
/// one line were half of the model's height, its layers a hairline beside them. The sort models'
/// letters stay whole.
const FOLD_FROM: usize = 4096;

/// The reference merges each head's q, k and v blocks in models of more than 12 layers, where the
/// heads are too small on screen to tell apart.
const MAX_LAYERS_WITH_SEPARATE_QKV: usize = 12;

const ALONG_X: [usize; 3] = [1, 0, 0];
const ALONG_Y: [usize; 3] = [0, 1, 0];
const FIXED: [usize; 3] = [0, 0, 0];

/// Blocks and sections of a model laid out for drawing.
pub fn build(config: &GptConfig) -> Layout {
    let mut arranger = Arranger::new(config);
    let llama = config.llama_shape().is_some();
    let (mut residual, embedding_bottom) = if llama { arranger.llama_embedding() } else { arranger.embedding() };
    let layers_top = embedding_bottom - 2.0 * arranger.margin;
    let mut y = layers_top;
    // The output goes under the lowest column, so that its strips clear the columns beside the last.
    let mut lowest = layers_top;
    let mut origin = 0.0;
    let per_column = layers_per_column(config);
    for layer in 0..config.n_layer {
        if layer % per_column == 0 {
            origin = (layer / per_column) as f64 * arranger.column_pitch;
            y = layers_top;
        }
        let (layer_output, layer_bottom) = if llama {
            arranger.llama_layer(layer, origin, y, residual)
        } else {
            arranger.layer(layer, origin, y, residual)
        };
        residual = layer_output;
        y = layer_bottom - 2.0 * arranger.margin;
        lowest = lowest.min(y);
    }
    if llama {
        arranger.llama_output(origin, lowest, residual);
    } else {
        arranger.output(origin, lowest, residual);
    }
    arranger.finish()
}

/// What a block shows, before it is placed.
struct Shows {
    name: String,
    kind: BlockKind,
    op: Op,
    tensor: String,
    dims: Vec<DimMap>,
    axes: [Option<Axis>; 3],
    cells: [u32; 3],
}

fn dim(len: usize, offset: usize, strides: [usize; 3]) -> DimMap {
    DimMap { len, offset, strides }
}

/// Which output rows of a Linear layer a block shows, and how they run down y (and in depth).
#[derive(Clone, Copy)]
struct Rows {
    /// The layer's output width.
    len: usize,
    /// The first row shown.
    offset: usize,
    /// How the cell walks the rows: down y, and for merged q/k/v also C rows per step in depth.
    strides: [usize; 3],
    axis: Axis,
    cells: usize,
    depth: u32,
    depth_axis: Option<Axis>,
}

impl Rows {
    /// `cells` rows from `offset`, one cell thick.
    fn flat(len: usize, offset: usize, cells: usize, axis: Axis) -> Rows {
        Rows { len, offset, strides: ALONG_Y, axis, cells, depth: 1, depth_axis: None }
    }
}

/// Positions are kept in cells while arranging (f64, so GPT-3's millions stay exact) and turned
/// into world units when a block is placed.
struct Arranger<'a> {
    config: &'a GptConfig,
    t: usize,
    c: usize,
    a: usize,
    v: usize,
    merged_qkv: bool,
    /// Between a block and the next one it feeds, and between an activation and its weights.
    gap: f64,
    /// Between blocks that belong together: mean and std rows, γ and β, a weight and its bias.
    pair_gap: f64,
    /// Between sections; twice this between layers.
    margin: f64,
    /// Depth from one head's front face to the next one's.
    head_pitch: f64,
    /// From a layer column's centre to its leftmost block (a weight's left face).
    left_reach: f64,
    column_pitch: f64,
    framing: Framing,
    blocks: Vec<Block>,
    labels: Vec<Label>,
    layer: Option<usize>,
    head: Option<usize>,
}

impl<'a> Arranger<'a> {
    fn new(config: &'a GptConfig) -> Arranger<'a> {
        let (t, c, a, v) = (config.tokens(), config.n_embd, config.head_size(), config.vocab_size);
        // Spacing grows with C so that the gaps of a large model stay visible from where its blocks are.
        let gap = (c as f64 / 16.0).ceil().max(4.0);
        let pair_gap = (gap / 4.0).floor().max(1.0);
        let margin = (c as f64 / 8.0).ceil().max(12.0);
        // Far enough apart that, seen from the anchors' angle, each head shows beside the one in front.
        let head_pitch = ((2 * a) as f64).max(t as f64) + gap;
        // Left of the residual column: the widest weight after its bias, GPT-2's MLP projection
        // (4C), or a Llama's down or attention projection (F or H·D wide); right of it: GELU, the
        // position embedding or a rotation (T wide) and a dimension mark.
        let widest_input = config.mlp_width().max(config.attention_width()).max(c);
        let left_reach = t as f64 / 2.0 + gap + 1.0 + pair_gap + widest_input as f64;
        let right_reach = t as f64 / 2.0 + gap + t as f64 + pair_gap + 1.0;
        let column_pitch = left_reach + right_reach + 2.0 * margin;
        let blocks_estimate = 14 + config.n_layer * (22 + config.n_head * 14);
        Arranger {
            config,
            t,
            c,
            a,
            v,
            // A Llama's k and v heads are fewer than its query heads, so no one block holds a head's q, k and v.
            merged_qkv: config.arch.is_gpt2() && config.n_layer > MAX_LAYERS_WITH_SEPARATE_QKV,
            gap,
            pair_gap,
            margin,
            head_pitch,
            left_reach,
            column_pitch,
            framing: Framing::blocks(),
            blocks: Vec::with_capacity(blocks_estimate),
            labels: Vec::new(),
            layer: None,
            head: None,
        }
    }

    fn finish(self) -> Layout {
        let (min, max) = self.bounds(0..self.blocks.len());
        let overview = Framing::new(OVERVIEW_VIEW).frame(min, max);
        Layout::new(self.config.clone(), self.blocks, self.labels, overview)
    }

    /// Places a block with its left face at `left`, top face at `top` and front face at `front` (cells).
    fn place(&mut self, shows: Shows, left: f64, top: f64, front: f64, deps: &[(usize, Op)]) -> usize {
        self.place_folded(shows, None, Spot { left, top, front }, deps)
    }

    /// Places a block, folded into strips when `fold` says so, its drawn box's left, top and front
    /// faces at `spot`.
    fn place_folded(&mut self, shows: Shows, fold: Option<Fold>, spot: Spot, deps: &[(usize, Op)]) -> usize {
        let drawn = fold.map_or(shows.cells, |fold| fold.drawn_cells(shows.cells));
        let cells = drawn.map(|n| n as f64);
        let min = [spot.left, spot.top - cells[1], spot.front - cells[2]].map(world);
        let max = [spot.left + cells[0], spot.top, spot.front].map(world);
        self.blocks.push(Block {
            name: shows.name,
            kind: shows.kind,
            op: shows.op,
            tensor: shows.tensor,
            map: TensorMap { dims: shows.dims },
            axes: shows.axes,
            cells: shows.cells,
            position: min.map(|v| v as f32),
            layer: self.layer,
            head: self.head,
            deps: deps.iter().map(|&(block, op)| Dep { block, op }).collect(),
            anchor: self.framing.frame(min, max),
            fold,
        });
        self.blocks.len() - 1
    }

    /// How a vocabulary-long block `width` cells across is folded: None for a short vocabulary;
    /// else its `v` cells along `along` cut into strips about as long as the strips are wide in all,
    /// so that the block is drawn about square.
    fn vocab_fold(&self, width: usize, along: usize) -> Option<Fold> {
        if self.v < FOLD_FROM {
            return None;
        }
        let pitch = width as f64 + self.gap;
        let length = (self.v as f64 * pitch).sqrt().ceil() as u32;
        Some(Fold { along, across: 1 - along, length, pitch: pitch as u32 })
    }

    /// World AABB of a run of blocks.
    fn bounds(&self, blocks: Range<usize>) -> ([f64; 3], [f64; 3]) {
        let mut min = [f64::INFINITY; 3];
        let mut max = [f64::NEG_INFINITY; 3];
        for block in &self.blocks[blocks] {
            let block_max = block.max();
            for axis in 0..3 {
                min[axis] = min[axis].min(block.position[axis] as f64);
                max[axis] = max[axis].max(block_max[axis] as f64);
            }
        }
        (min, max)
    }

    fn section(&mut self, text: String, blocks: Range<usize>) {
        let (min, max) = self.bounds(blocks);
        self.push_label(text, LabelKind::Section, min, max);
    }

    fn push_label(&mut self, text: String, kind: LabelKind, min: [f64; 3], max: [f64; 3]) {
        self.labels.push(Label {
            text,
            kind,
            min: min.map(|v| v as f32),
            max: max.map(|v| v as f32),
            anchor: self.framing.frame(min, max),
            layer: self.layer,
            head: self.head,
        });
    }

    /// A one-cell strip right of a block, along its height: where "C = 48" goes.
    fn dim_mark_right(&mut self, text: String, block: usize) {
        let (min, max) = self.bounds(block..block + 1);
        let left = max[0] + world(self.pair_gap);
        self.push_label(text, LabelKind::Dim, [left, min[1], min[2]], [left + world(1.0), max[1], max[2]]);
    }

    /// A one-cell strip above a block, along its width: where "T = 11" goes.
    fn dim_mark_above(&mut self, text: String, block: usize) {
        let (min, max) = self.bounds(block..block + 1);
        let bottom = max[1] + world(self.pair_gap);
        self.push_label(text, LabelKind::Dim, [min[0], bottom, min[2]], [max[0], bottom + world(1.0), max[2]]);
    }

    /// A per-token statistic [T], or head h's row of one [H, T]: one row of T cells.
    fn stat_row(&self, name: String, tensor: String, op: Op, head: Option<usize>) -> Shows {
        let mut dims = Vec::with_capacity(2);
        if let Some(head) = head {
            dims.push(dim(self.config.n_head, head, FIXED));
        }
        dims.push(dim(self.t, 0, ALONG_X));
        Shows {
            name,
            kind: BlockKind::Aggregate,
            op,
            tensor,
            dims,
            axes: [Some(Axis::T), None, None],
            cells: [self.t as u32, 1, 1],
        }
    }

    /// A [T, width] activation shown whole under its own name (x, ln1, fc, logits, ...): tokens
    /// along x, its columns down y.
    fn whole(&self, name: &str, op: Op, width: usize, axis: Axis) -> Shows {
        Shows {
            name: name.to_string(),
            kind: BlockKind::Activation,
            op,
            tensor: name.to_string(),
            dims: vec![dim(self.t, 0, ALONG_X), dim(width, 0, ALONG_Y)],
            axes: [Some(Axis::T), Some(axis), None],
            cells: [self.t as u32, width as u32, 1],
        }
    }

    /// Places the `rows` of a Linear layer's weight [out, in] and bias [out] left of the residual
    /// column, level with the output rows they make (`output` is where the output's left, top and
    /// front faces are): its `input_len` inputs (along `input_axis`) along x, outputs down y, as the
    /// matrix reads. `block` and `parameter` name them: `block0.fc` → `block0.fc.weight`, `.bias`.
    fn linear(
        &mut self,
        block: &str,
        parameter: &str,
        rows: Rows,
        input_len: usize,
        input_axis: Axis,
        output: Spot,
    ) -> [(usize, Op); 2] {
        let out = dim(rows.len, rows.offset, rows.strides);
        let weight = Shows {
            name: format!("{block}.weight"),
            kind: BlockKind::Weight,
            op: Op::Param,
            tensor: format!("{parameter}.weight"),
            dims: vec![out, dim(input_len, 0, ALONG_X)],
            axes: [Some(input_axis), Some(rows.axis), rows.depth_axis],
            cells: [input_len as u32, rows.cells as u32, rows.depth],
        };
        let bias = Shows {
            name: format!("{block}.bias"),
            kind: BlockKind::Weight,
            op: Op::Param,
            tensor: format!("{parameter}.bias"),
            dims: vec![out],
            axes: [None, Some(rows.axis), rows.depth_axis],
            cells: [1, rows.cells as u32, rows.depth],
        };
        let bias_left = output.left - self.gap - 1.0;
        let weight_left = bias_left - self.pair_gap - input_len as f64;
        let weight = self.place(weight, weight_left, output.top, output.front, &[]);
        let bias = self.place(bias, bias_left, output.top, output.front, &[]);
        [(weight, Op::Matmul), (bias, Op::Matmul)]
    }

    /// The input's token ids, one row of T cells.
    fn token_ids(&self) -> Shows {
        Shows {
            name: "tokens".into(),
            kind: BlockKind::Activation,
            op: Op::Input,
            tensor: "tokens".into(),
            dims: vec![dim(self.t, 0, ALONG_X)],
            axes: [Some(Axis::T), None, None],
            cells: [self.t as u32, 1, 1],
        }
    }

    /// tokens, wte, wpe and x; returns x and the y below the embedding.
    fn embedding(&mut self) -> (usize, f64) {
        let (t, c, v) = (self.t, self.c, self.v);
        let left = -(t as f64) / 2.0;
        let tokens = self.place(self.token_ids(), left, 0.0, 0.5, &[]);
        let top = -1.0 - self.margin;
        // Column v of wte is token v's embedding and column t of wpe is position t's, so the two
        // columns that add up to column t of x read side by side with it.
        let wte = Shows {
            name: "wte".into(),
            kind: BlockKind::Weight,
            op: Op::Param,
            tensor: names::WTE.into(),
            dims: vec![dim(v, 0, ALONG_X), dim(c, 0, ALONG_Y)],
            axes: [Some(Axis::V), Some(Axis::C), None],
            cells: [v as u32, c as u32, 1],
        };
        let wte = self.token_embedding(wte, left, top);
        let wpe = Shows {
            name: "wpe".into(),
            kind: BlockKind::Weight,
            op: Op::Param,
            tensor: names::WPE.into(),
            dims: vec![dim(t, 0, ALONG_X), dim(c, 0, ALONG_Y)],
            axes: [Some(Axis::T), Some(Axis::C), None],
            cells: [t as u32, c as u32, 1],
        };
        let wpe = self.place(wpe, -left + self.gap, top, 0.5, &[]);
        let deps = [tokens, wte, wpe].map(|block| (block, Op::Embedding));
        let x = self.place(self.whole("x", Op::Embedding, c, Axis::C), left, top, 0.5, &deps);
        let lens = self.lens_strip(x, left, top - c as f64);
        self.embedding_sections(tokens, wte, lens);
        self.dim_mark_above(format!("T = {t}"), x);
        self.dim_mark_right(format!("C = {c}"), x);
        (x, top - c as f64)
    }

    /// "Embedding" round the blocks from `tokens` to `last`. A folded token embedding stands
    /// beside the first layer, so it is named on its own ("Token embed"), and the embedding's
    /// section does not reach over that layer.
    pub(super) fn embedding_sections(&mut self, tokens: usize, token_embedding: usize, last: usize) {
        if self.blocks[token_embedding].fold.is_none() {
            self.section("Embedding".into(), tokens..last + 1);
            return;
        }
        let (before_min, before_max) = self.bounds(tokens..token_embedding);
        let (after_min, after_max) = self.bounds(token_embedding + 1..last + 1);
        let min = std::array::from_fn(|axis| before_min[axis].min(after_min[axis]));
        let max = std::array::from_fn(|axis| before_max[axis].max(after_max[axis]));
        self.push_label("Embedding".into(), LabelKind::Section, min, max);
        self.section("Token embed".into(), token_embedding..token_embedding + 1);
    }

    /// The logit lens of a residual stream whose bottom is at `bottom`: under it, in the margin
    /// before what follows, one cell per position, the probability of the token the model would
    /// predict if it stopped there (`x.lens`, `block3.mlp_resid.lens`). It belongs to its stream's
    /// section and part of the map.
    pub(super) fn lens_strip(&mut self, stream: usize, left: f64, bottom: f64) -> usize {
        let name = self.blocks[stream].name.clone();
        let lens = self.stat_row(format!("{name}.lens"), crate::model::lens::lens_tensor(&name), Op::Lens, None);
        self.place(lens, left, bottom - self.pair_gap, 0.5, &[(stream, Op::Lens)])
    }

    /// The token embedding [C, V] left of the tokens, its columns along x. Folded, its strips stack
    /// downwards beside the first layer, so it stands left of that layer's weights rather than
    /// right of the tokens.
    pub(super) fn token_embedding(&mut self, shows: Shows, left: f64, top: f64) -> usize {
        let fold = self.vocab_fold(self.c, 0);
        let width = fold.map_or(self.v, |fold| fold.drawn_cells(shows.cells)[0] as usize) as f64;
        let right = match fold {
            Some(_) => -self.left_reach - self.margin,
            None => left - self.gap,
        };
        self.place_folded(shows, fold, Spot::front(right - width, top), &[])
    }

    /// Mean and std rows, γ and β beside the normalised block; returns it and the y below it.
    /// `name` is both the block-name prefix and the activation-name prefix (`block0.ln1`, `ln_f`).
    fn layer_norm(&mut self, name: &str, parameter: &str, input: usize, left: f64, top: f64) -> (usize, f64) {
        let c = self.c;
        let mean = self.stat_row(format!("{name}.mean"), format!("{name}_mean"), Op::LnStats, None);
        let mean = self.place(mean, left, top, 0.5, &[(input, Op::LnStats)]);
        let std_top = top - 1.0 - self.pair_gap;
        let std = self.stat_row(format!("{name}.std"), format!("{name}_std"), Op::LnStats, None);
        let std = self.place(std, left, std_top, 0.5, &[(input, Op::LnStats), (mean, Op::LnStats)]);

        let normalised_top = std_top - 1.0 - self.gap;
        let channel_column = |block: &str, tensor: &str| Shows {
            name: format!("{name}.{block}"),
            kind: BlockKind::Weight,
            op: Op::Param,
            tensor: format!("{parameter}.{tensor}"),
            dims: vec![dim(c, 0, ALONG_Y)],
            axes: [None, Some(Axis::C), None],
            cells: [1, c as u32, 1],
        };
        let beta_left = left - self.gap - 1.0;
        let gamma =
            self.place(channel_column("gamma", "weight"), beta_left - self.pair_gap - 1.0, normalised_top, 0.5, &[]);
        let beta = self.place(channel_column("beta", "bias"), beta_left, normalised_top, 0.5, &[]);

        let deps = [input, mean, std, gamma, beta].map(|block| (block, Op::LayerNorm));
        let normalised = self.place(self.whole(name, Op::LayerNorm, c, Axis::C), left, normalised_top, 0.5, &deps);
        (normalised, normalised_top - c as f64)
    }

    /// Layer i from `top` down, its residual column centred on `origin`; returns its output and the y below it.
    fn layer(&mut self, i: usize, origin: f64, top: f64, input: usize) -> (usize, f64) {
        let c = self.c;
        self.layer = Some(i);
        let first = self.blocks.len();
        let left = origin - self.t as f64 / 2.0;
        let block = |name: &str| names::layer(i, name);
        let parameter = |name: &str| names::layer_param(i, name);

        let (ln1, y) = self.layer_norm(&block("ln1"), &parameter(names::LN_1), input, left, top);
        let (head_outputs, y) = self.attention(i, left, y - self.margin, ln1);

        let projection_first = self.blocks.len();
        let projection_top = y - self.margin;
        let rows = Rows::flat(c, 0, c, Axis::C);
        let weights = self.linear(
            &block("proj"),
            &parameter(names::ATTN_PROJ),
            rows,
            c,
            Axis::C,
            Spot::front(left, projection_top),
        );
        let deps: Vec<(usize, Op)> = head_outputs.iter().map(|&y| (y, Op::Concat)).chain(weights).collect();
        let attn_proj =
            self.place(self.whole(&block("attn_proj"), Op::Matmul, c, Axis::C), left, projection_top, 0.5, &deps);
        let resid_top = projection_top - c as f64 - self.gap;
        let deps = [(input, Op::ResidualAdd), (attn_proj, Op::ResidualAdd)];
        let attn_resid =
            self.place(self.whole(&block("attn_resid"), Op::ResidualAdd, c, Axis::C), left, resid_top, 0.5, &deps);
        self.section("Projection".into(), projection_first..attn_resid + 1);
        self.dim_mark_right(format!("C = {c}"), attn_resid);

        let ln2_top = resid_top - c as f64 - self.margin;
        let (ln2, y) = self.layer_norm(&block("ln2"), &parameter(names::LN_2), attn_resid, left, ln2_top);
        let (mlp_resid, bottom) = self.mlp(i, left, y - self.margin, ln2, attn_resid);

        self.section(format!("Transformer {i}"), first..self.blocks.len());
        self.layer = None;
        (mlp_resid, bottom)
    }

    /// All heads of layer i, head h's front face `h · head_pitch` behind the residual column's.
    /// Returns each head's output block and the y below the heads.
    fn attention(&mut self, i: usize, left: f64, top: f64, ln1: usize) -> (Vec<usize>, f64) {
        let first = self.blocks.len();
        let mut head_outputs = Vec::with_capacity(self.config.n_head);
        let mut bottom = top;
        for h in 0..self.config.n_head {
            self.head = Some(h);
            let head_first = self.blocks.len();
            let spot = Spot { left, top, front: 0.5 - h as f64 * self.head_pitch };
            let ([query, key, value], y) = self.head_qkv(i, h, spot, ln1);
            let (output, output_bottom) =
                self.head_attention(i, h, Spot { top: y - self.gap, ..spot }, [query, key, value]);
            head_outputs.push(output);
            bottom = output_bottom;
            if h == 0 {
                self.dim_mark_right(format!("A = {}", self.a), query);
            }
            self.section(format!("Head {h}"), head_first..self.blocks.len());
        }
        self.head = None;
        self.section("Self-attention".into(), first..self.blocks.len());
        (head_outputs, bottom)
    }

    /// Head h's query, key and value with their slices of c_attn: three row bands, or one band
    /// three cells deep when merged. Returns the q, k and v blocks (one block thrice when merged)
    /// and the y below them.
    fn head_qkv(&mut self, i: usize, h: usize, spot: Spot, ln1: usize) -> ([usize; 3], f64) {
        let (t, c, a, n_head) = (self.t, self.c, self.a, self.config.n_head);
        let c_attn = names::layer_param(i, names::C_ATTN);
        if self.merged_qkv {
            // Depth k picks q, k or v: C rows further down c_attn, or C columns further along qkv.
            let strides = [0, 1, c];
            let rows = Rows {
                len: 3 * c,
                offset: h * a,
                strides,
                axis: Axis::A,
                cells: a,
                depth: 3,
                depth_axis: Some(Axis::Qkv),
            };
            let weights = self.linear(&names::head(i, h, "qkv"), &c_attn, rows, c, Axis::C, spot);
            let qkv = Shows {
                name: names::head(i, h, "qkv"),
                kind: BlockKind::Activation,
                op: Op::Matmul,
                tensor: names::layer(i, "qkv"),
                dims: vec![dim(t, 0, ALONG_X), dim(3 * c, h * a, strides)],
                axes: [Some(Axis::T), Some(Axis::A), Some(Axis::Qkv)],
                cells: [t as u32, a as u32, 3],
            };
            let qkv = self.place(qkv, spot.left, spot.top, spot.front, &[(ln1, Op::Matmul), weights[0], weights[1]]);
            return ([qkv; 3], spot.top - a as f64);
        }
        let mut placed = [0; 3];
        let mut band_top = spot.top;
        for (third, part) in ["q", "k", "v"].into_iter().enumerate() {
            let rows = Rows::flat(3 * c, third * c + h * a, a, Axis::A);
            let weights =
                self.linear(&names::head(i, h, part), &c_attn, rows, c, Axis::C, Spot { top: band_top, ..spot });
            let activation = Shows {
                name: names::head(i, h, part),
                kind: BlockKind::Activation,
                op: Op::Matmul,
                tensor: names::layer(i, part),
                dims: vec![dim(n_head, h, FIXED), dim(t, 0, ALONG_X), dim(a, 0, ALONG_Y)],
                axes: [Some(Axis::T), Some(Axis::A), None],
                cells: [t as u32, a as u32, 1],
            };
            let deps = [(ln1, Op::Matmul), weights[0], weights[1]];
            placed[third] = self.place(activation, spot.left, band_top, spot.front, &deps);
            band_top -= a as f64 + self.gap;
        }
        (placed, band_top + self.gap)
    }

    /// Head h's scores, their softmax statistics and softmax, and its output, from `spot.top`
    /// down. Returns the output block and the y below it.
    fn head_attention(&mut self, i: usize, h: usize, spot: Spot, [query, key, value]: [usize; 3]) -> (usize, f64) {
        let (t, a, n_head) = (self.t, self.a, self.config.n_head);
        let (left, front) = (spot.left, spot.front);
        // Scores: the query's token along x like every activation, the key's down y.
        let scores = |part: &str, op: Op| Shows {
            name: names::head(i, h, part),
            kind: BlockKind::Activation,
            op,
            tensor: names::layer(i, part),
            dims: vec![dim(n_head, h, FIXED), dim(t, 0, ALONG_X), dim(t, 0, ALONG_Y)],
            axes: [Some(Axis::T), Some(Axis::T2), None],
            cells: [t as u32, t as u32, 1],
        };
        let att_top = spot.top;
        let att = self.place(
            scores("att", Op::AttnScore),
            left,
            att_top,
            front,
            &[(query, Op::AttnScore), (key, Op::AttnScore)],
        );
        let max_top = att_top - t as f64 - self.gap;
        let att_max =
            self.stat_row(names::head(i, h, "att.max"), names::layer(i, "att_max"), Op::SoftmaxStats, Some(h));
        let att_max = self.place(att_max, left, max_top, front, &[(att, Op::SoftmaxStats)]);
        let sumexp_top = max_top - 1.0 - self.pair_gap;
        let att_sumexp =
            self.stat_row(names::head(i, h, "att.sumexp"), names::layer(i, "att_sumexp"), Op::SoftmaxStats, Some(h));
        let deps = [(att, Op::SoftmaxStats), (att_max, Op::SoftmaxStats)];
        let att_sumexp = self.place(att_sumexp, left, sumexp_top, front, &deps);
        let softmax_top = sumexp_top - 1.0 - self.gap;
        let deps = [att, att_max, att_sumexp].map(|block| (block, Op::Softmax));
        let att_sm = self.place(scores("att_sm", Op::Softmax), left, softmax_top, front, &deps);
        let output_top = softmax_top - t as f64 - self.gap;
        // The head's slice of y [T, H·A] (H·A = C in GPT-2): its A columns, which the projection
        // reads side by side.
        let output = Shows {
            name: names::head(i, h, "y"),
            kind: BlockKind::Activation,
            op: Op::AttnValue,
            tensor: names::layer(i, "y"),
            dims: vec![dim(t, 0, ALONG_X), dim(self.config.attention_width(), h * a, ALONG_Y)],
            axes: [Some(Axis::T), Some(Axis::A), None],
            cells: [t as u32, a as u32, 1],
        };
        let output = self.place(output, left, output_top, front, &[(att_sm, Op::AttnValue), (value, Op::AttnValue)]);
        (output, output_top - a as f64)
    }

    /// fc, GELU, the MLP projection and the residual; returns the residual and the y below it.
    fn mlp(&mut self, i: usize, left: f64, top: f64, ln2: usize, attn_resid: usize) -> (usize, f64) {
        let (t, c) = (self.t, self.c);
        let first = self.blocks.len();
        let block = |name: &str| names::layer(i, name);
        let parameter = |name: &str| names::layer_param(i, name);

        let rows = Rows::flat(4 * c, 0, 4 * c, Axis::C4);
        let weights = self.linear(&block("fc"), &parameter(names::C_FC), rows, c, Axis::C, Spot::front(left, top));
        let fc = self.place(
            self.whole(&block("fc"), Op::Matmul, 4 * c, Axis::C4),
            left,
            top,
            0.5,
            &[(ln2, Op::Matmul), weights[0], weights[1]],
        );
        let gelu = self.whole(&block("gelu"), Op::Gelu, 4 * c, Axis::C4);
        let gelu = self.place(gelu, left + t as f64 + self.gap, top, 0.5, &[(fc, Op::Gelu)]);
        self.dim_mark_right(format!("4C = {}", 4 * c), gelu);

        let projection_top = top - (4 * c) as f64 - self.gap;
        let rows = Rows::flat(c, 0, c, Axis::C);
        let weights = self.linear(
            &block("mlp_proj"),
            &parameter(names::MLP_PROJ),
            rows,
            4 * c,
            Axis::C4,
            Spot::front(left, projection_top),
        );
        let deps = [(gelu, Op::Matmul), weights[0], weights[1]];
        let mlp = self.place(self.whole(&block("mlp"), Op::Matmul, c, Axis::C), left, projection_top, 0.5, &deps);
        let resid_top = projection_top - c as f64 - self.gap;
        let deps = [(attn_resid, Op::ResidualAdd), (mlp, Op::ResidualAdd)];
        let mlp_resid =
            self.place(self.whole(&block("mlp_resid"), Op::ResidualAdd, c, Axis::C), left, resid_top, 0.5, &deps);
        let lens = self.lens_strip(mlp_resid, left, resid_top - c as f64);
        self.section("MLP".into(), first..lens + 1);
        self.dim_mark_right(format!("C = {c}"), mlp_resid);
        (mlp_resid, resid_top - c as f64)
    }

    /// ln_f, the LM head, logits and their softmax, under the last layer's column.
    fn output(&mut self, origin: f64, top: f64, residual: usize) {
        let first = self.blocks.len();
        let left = origin - self.t as f64 / 2.0;
        let (ln_f, y) = self.layer_norm("ln_f", names::LN_F, residual, left, top);
        self.logits_and_probs(left, y - self.margin, ln_f);
        self.section("Output".into(), first..self.blocks.len());
    }

    /// The LM head, logits and their softmax from `logits_top` down, reading the final norm's output.
    fn logits_and_probs(&mut self, left: f64, logits_top: f64, normalised: usize) {
        let (c, v) = (self.c, self.v);
        // A tied head is the token embedding read a second way: row v of wte scores token v.
        let kind = if self.config.tied_lm_head { BlockKind::Tied } else { BlockKind::Weight };
        let tensor = names::lm_head(self.config);
        let lm_head = Shows {
            name: "lm_head".into(),
            kind,
            op: Op::Param,
            tensor: tensor.into(),
            dims: vec![dim(v, 0, ALONG_Y), dim(c, 0, ALONG_X)],
            axes: [Some(Axis::C), Some(Axis::V), None],
            cells: [c as u32, v as u32, 1],
        };
        // No bias, so the weight stands where a bias would. Folded, the head's strips are as long
        // as the logits', so row r of each strip of the head is level with row r of the logits'.
        let logits_fold = self.vocab_fold(self.t, 1);
        let head_fold = logits_fold.map(|fold| Fold { pitch: (c as f64 + self.gap) as u32, ..fold });
        let head_width = head_fold.map_or(c as u32, |fold| fold.drawn_cells(lm_head.cells)[0]) as f64;
        let lm_head = self.place_folded(lm_head, head_fold, Spot::front(left - self.gap - head_width, logits_top), &[]);
        let deps = [(normalised, Op::Matmul), (lm_head, Op::Matmul)];
        let logits = self.whole("logits", Op::Matmul, v, Axis::V);
        let logits = self.place_folded(logits, logits_fold, Spot::front(left, logits_top), &deps);
        let strips = logits_fold
            .map_or(String::new(), |fold| format!(" ({} × {})", fold.pieces(self.blocks[logits].cells), fold.length));
        self.dim_mark_right(format!("V = {v}{strips}"), logits);

        let logits_height = self.blocks[logits].drawn_cells()[1] as f64;
        let max_top = logits_top - logits_height - self.gap;
        let logits_max = self.stat_row("logits.max".into(), "logits_max".into(), Op::SoftmaxStats, None);
        let logits_max = self.place(logits_max, left, max_top, 0.5, &[(logits, Op::SoftmaxStats)]);
        let sumexp_top = max_top - 1.0 - self.pair_gap;
        let logits_sumexp = self.stat_row("logits.sumexp".into(), "logits_sumexp".into(), Op::SoftmaxStats, None);
        let deps = [(logits, Op::SoftmaxStats), (logits_max, Op::SoftmaxStats)];
        let logits_sumexp = self.place(logits_sumexp, left, sumexp_top, 0.5, &deps);
        // Folded, the probabilities stand right of the logits rather than under them: the two
        // blocks' strips one above the other would be most of the model's height.
        let probs_spot = match logits_fold {
            Some(_) => Spot::front(left + self.blocks[logits].drawn_cells()[0] as f64 + self.margin, logits_top),
            None => Spot::front(left, sumexp_top - 1.0 - self.gap),
        };
        let deps = [logits, logits_max, logits_sumexp].map(|block| (block, Op::Softmax));
        self.place_folded(self.whole("probs", Op::Softmax, v, Axis::V), logits_fold, probs_spot, &deps);
    }
}

/// Where a block's left, top and front faces go (cells).
#[derive(Clone, Copy)]
struct Spot {
    left: f64,
    top: f64,
    front: f64,
}

impl Spot {
    /// In the front plane, where every block but the heads behind head 0 stands.
    fn front(left: f64, top: f64) -> Spot {
        Spot { left, top, front: 0.5 }
    }
}

fn world(cells: f64) -> f64 {
    cells * CELL as f64
}
