//! Where each tensor of a Llama-family model goes: the parent module's plan, GPT-2's, with the
//! blocks that differ drawn where a reader who knows GPT-2 compares them.
//!
//! RMSNorm keeps one statistic row and a γ: no mean row and no β. There is no position table:
//! position enters as the rotation of q and k, drawn right of what it rotates, as GELU stands right
//! of fc, so that a channel reads before and after side by side. A k/v head serves a group of
//! query heads, so it is drawn once, in the group's first head; the group's other heads keep its
//! rows empty, their scores level with the first's, and read it through their dependencies, which
//! the connectors draw. SwiGLU's gate and up are two row bands with their product right of them.

use super::{ALONG_X, ALONG_Y, Arranger, FIXED, Rows, Shows, Spot, dim};
use crate::layout::{Axis, BlockKind, Op};
use crate::model::names;

/// A Linear layer's rows for `Arranger::projection`: what GPT-2's `linear` takes, with the bias
/// optional, as only Qwen2's q, k and v have one.
struct Projection {
    /// The block-name prefix: `block0.head1.q_proj` names `block0.head1.q_proj.weight`.
    block: String,
    /// The module's parameter prefix: `model.layers.0.self_attn.q_proj`.
    parameter: String,
    rows: Rows,
    input_len: usize,
    input_axis: Axis,
    bias: bool,
}

/// Which head of q, k or v a block shows, and in whose section it stands.
#[derive(Clone, Copy)]
struct HeadSlice {
    layer: usize,
    /// The query head whose section draws it: k and v stand in their group's first head.
    head: usize,
    /// `q`, `k` or `v`.
    part: &'static str,
    /// Its head within the tensor: the query head for q, the k/v head for k and v.
    index: usize,
    /// The tensor's heads: H for q, KV for k and v.
    heads: usize,
}

impl HeadSlice {
    /// A block name: `block0.head2.q` with `_rot` → `block0.head2.q_rot`.
    fn name(self, suffix: &str) -> String {
        names::head(self.layer, self.head, &format!("{}{suffix}", self.part))
    }

    /// An activation name: `block0.k` with `_norm_rms` → `block0.k_norm_rms`.
    fn tensor(self, suffix: &str) -> String {
        names::layer(self.layer, &format!("{}{suffix}", self.part))
    }

    fn projection_module(self) -> &'static str {
        match self.part {
            "q" => names::Q_PROJ,
            "k" => names::K_PROJ,
            _ => names::V_PROJ,
        }
    }

    fn norm_module(self) -> &'static str {
        if self.part == "q" { names::Q_NORM } else { names::K_NORM }
    }
}

impl Arranger<'_> {
    fn qk_norm(&self) -> bool {
        self.config.llama_shape().is_some_and(|llama| llama.qk_norm)
    }

    fn qkv_bias(&self) -> bool {
        self.config.llama_shape().is_some_and(|llama| llama.qkv_bias)
    }

    /// tokens, embed_tokens and x, which is the token's embedding alone: no position is added.
    /// Returns x and the y below the embedding.
    pub(super) fn llama_embedding(&mut self) -> (usize, f64) {
        let (t, c, v) = (self.t, self.c, self.v);
        let left = -(t as f64) / 2.0;
        let tokens = self.place(self.token_ids(), left, 0.0, 0.5, &[]);
        let top = -1.0 - self.margin;
        // As GPT-2's wte: column v is token v's embedding, which is x's column at each t of token v.
        let embed_tokens = Shows {
            name: "embed_tokens".into(),
            kind: BlockKind::Weight,
            op: Op::Param,
            tensor: names::EMBED_TOKENS.into(),
            dims: vec![dim(v, 0, ALONG_X), dim(c, 0, ALONG_Y)],
            axes: [Some(Axis::V), Some(Axis::C), None],
            cells: [v as u32, c as u32, 1],
        };
        let embed_tokens = self.token_embedding(embed_tokens, left, top);
        let deps = [tokens, embed_tokens].map(|block| (block, Op::Embedding));
        let x = self.place(self.whole("x", Op::Embedding, c, Axis::C), left, top, 0.5, &deps);
        let lens = self.lens_strip(x, left, top - c as f64);
        self.embedding_sections(tokens, embed_tokens, lens);
        self.dim_mark_above(format!("T = {t}"), x);
        self.dim_mark_right(format!("C = {c}"), x);
        (x, top - c as f64)
    }

    /// The root-mean-square row, then the normalised block with γ left of it; returns it and the
    /// y below it. One statistic where LayerNorm has two, and no β. `name` prefixes the block and
    /// activation names (`block0.rms1`, `rms_f`); `gamma` is γ's parameter.
    fn rms_norm(&mut self, name: &str, gamma: &str, input: usize, left: f64, top: f64) -> (usize, f64) {
        let c = self.c;
        let rms = self.stat_row(format!("{name}.rms"), format!("{name}_rms"), Op::RmsStats, None);
        let rms = self.place(rms, left, top, 0.5, &[(input, Op::RmsStats)]);
        let normalised_top = top - 1.0 - self.gap;
        let gamma = Shows {
            name: format!("{name}.gamma"),
            kind: BlockKind::Weight,
            op: Op::Param,
            tensor: gamma.to_string(),
            dims: vec![dim(c, 0, ALONG_Y)],
            axes: [None, Some(Axis::C), None],
            cells: [1, c as u32, 1],
        };
        let gamma = self.place(gamma, left - self.gap - 1.0, normalised_top, 0.5, &[]);
        let deps = [input, rms, gamma].map(|block| (block, Op::RmsNorm));
        let normalised = self.place(self.whole(name, Op::RmsNorm, c, Axis::C), left, normalised_top, 0.5, &deps);
        (normalised, normalised_top - c as f64)
    }

    /// Layer i from `top` down, its residual column centred on `origin`; returns its output and the y below it.
    pub(super) fn llama_layer(&mut self, i: usize, origin: f64, top: f64, input: usize) -> (usize, f64) {
        self.layer = Some(i);
        let first = self.blocks.len();
        let left = origin - self.t as f64 / 2.0;
        let gamma = |module: &str| names::llama_param(i, &format!("{module}.weight"));

        let (rms1, y) = self.rms_norm(&names::layer(i, "rms1"), &gamma(names::INPUT_NORM), input, left, top);
        let (head_outputs, y) = self.llama_attention(i, left, y - self.margin, rms1);
        let (attn_resid, y) = self.output_projection(i, Spot::front(left, y - self.margin), &head_outputs, input);
        let rms2_top = y - self.margin;
        let (rms2, y) = self.rms_norm(&names::layer(i, "rms2"), &gamma(names::POST_NORM), attn_resid, left, rms2_top);
        let (mlp_resid, bottom) = self.swiglu_mlp(i, Spot::front(left, y - self.margin), rms2, attn_resid);

        self.section(format!("Transformer {i}"), first..self.blocks.len());
        self.layer = None;
        (mlp_resid, bottom)
    }

    /// All query heads of layer i, head h's front face `h · head_pitch` behind the residual
    /// column's. Every head keeps rows for k and v, so that all heads' scores stand level, but
    /// only the first head of a group fills them. Returns each head's output and the y below the heads.
    fn llama_attention(&mut self, i: usize, left: f64, top: f64, rms1: usize) -> (Vec<usize>, f64) {
        let first = self.blocks.len();
        let (group, band) = (self.config.group_size(), self.qk_band_height());
        let mut head_outputs = Vec::with_capacity(self.config.n_head);
        let mut key_value = [0; 2];
        let mut bottom = top;
        for h in 0..self.config.n_head {
            self.head = Some(h);
            let head_first = self.blocks.len();
            let spot = Spot { left, top, front: 0.5 - h as f64 * self.head_pitch };
            let query = self.rotated(self.slice(i, h, "q"), spot, rms1);
            let key_spot = Spot { top: top - band - self.gap, ..spot };
            if h % group == 0 {
                key_value = self.key_value(i, h, key_spot, rms1);
            }
            // Under k's band and v's D rows.
            let scores_top = key_spot.top - band - self.gap - self.a as f64 - self.gap;
            let [key, value] = key_value;
            let (output, output_bottom) =
                self.head_attention(i, h, Spot { top: scores_top, ..spot }, [query, key, value]);
            head_outputs.push(output);
            bottom = output_bottom;
            if h == 0 {
                self.dim_mark_right(format!("D = {}", self.a), query);
            }
            self.section(format!("Head {h}"), head_first..self.blocks.len());
        }
        self.head = None;
        self.section("Self-attention".into(), first..self.blocks.len());
        (head_outputs, bottom)
    }

    /// Query head h's q, or the k or v of its group, to stand in h's section.
    fn slice(&self, i: usize, h: usize, part: &'static str) -> HeadSlice {
        let (index, heads) = match part {
            "q" => (h, self.config.n_head),
            _ => (h / self.config.group_size(), self.config.kv_heads()),
        };
        HeadSlice { layer: i, head: h, part, index, heads }
    }

    /// The rows of a head's q or k band: its D channels, and with Qwen3's norm the statistic's
    /// row and the normalised D channels under them.
    fn qk_band_height(&self) -> f64 {
        let a = self.a as f64;
        if self.qk_norm() { a + self.gap + 1.0 + self.gap + a } else { a }
    }

    /// The k/v head that query head h's group reads, drawn in h's section (h is the group's first):
    /// k and its rotation, then v. Returns k's rotation and v.
    fn key_value(&mut self, i: usize, h: usize, spot: Spot, rms1: usize) -> [usize; 2] {
        let first = self.blocks.len();
        let key = self.rotated(self.slice(i, h, "k"), spot, rms1);
        let value_spot = Spot { top: spot.top - self.qk_band_height() - self.gap, ..spot };
        let value = self.head_projection(self.slice(i, h, "v"), value_spot, rms1);
        let group = self.config.group_size();
        if group > 1 {
            let heads: Vec<String> = (h..h + group).map(|head| head.to_string()).collect();
            self.section(format!("KV head {} serves heads {}", h / group, heads.join(", ")), first..value + 1);
        }
        [key, value]
    }

    /// A head's q or k from `spot.top` down: the projection, Qwen3's norm under it, and the
    /// rotation right of what it turns. Returns the rotation.
    fn rotated(&mut self, slice: HeadSlice, spot: Spot, rms1: usize) -> usize {
        let projected = self.head_projection(slice, spot, rms1);
        let (turned, turned_top) = if self.qk_norm() {
            let norm_spot = Spot { top: spot.top - self.a as f64 - self.gap, ..spot };
            (self.head_norm(slice, norm_spot, projected), norm_spot.top - 1.0 - self.gap)
        } else {
            (projected, spot.top)
        };
        let rotation = self.head_slice(slice, "_rot", Op::Rope);
        self.place(rotation, spot.left + self.t as f64 + self.gap, turned_top, spot.front, &[(turned, Op::Rope)])
    }

    /// A head's q, k or v from rms1, with its rows of the projection (and Qwen2's bias) left of it.
    fn head_projection(&mut self, slice: HeadSlice, spot: Spot, rms1: usize) -> usize {
        let (c, a) = (self.c, self.a);
        let projection = Projection {
            block: slice.name("_proj"),
            parameter: names::llama_param(slice.layer, slice.projection_module()),
            rows: Rows::flat(slice.heads * a, slice.index * a, a, Axis::A),
            input_len: c,
            input_axis: Axis::C,
            bias: self.qkv_bias(),
        };
        let weights = self.projection(projection, spot);
        let deps: Vec<(usize, Op)> = std::iter::once((rms1, Op::Matmul)).chain(weights).collect();
        self.place(self.head_slice(slice, "", Op::Matmul), spot.left, spot.top, spot.front, &deps)
    }

    /// One head of a [heads, T, D] activation: tokens along x, its D channels down y.
    fn head_slice(&self, slice: HeadSlice, suffix: &str, op: Op) -> Shows {
        let (t, a) = (self.t, self.a);
        Shows {
            name: slice.name(suffix),
            kind: BlockKind::Activation,
            op,
            tensor: slice.tensor(suffix),
            dims: vec![dim(slice.heads, slice.index, FIXED), dim(t, 0, ALONG_X), dim(a, 0, ALONG_Y)],
            axes: [Some(Axis::T), Some(Axis::A), None],
            cells: [t as u32, a as u32, 1],
        }
    }

    /// Qwen3's RMSNorm of a head's q or k over its D channels, from `spot.top` down: the head's
    /// row of the statistic, then the normalised slice with γ left of it. γ is one parameter for
    /// every head: drawn as such in head 0, and as a tied copy beside each other head's norm.
    fn head_norm(&mut self, slice: HeadSlice, spot: Spot, input: usize) -> usize {
        let (t, a) = (self.t, self.a);
        let rms = Shows {
            name: slice.name("_norm.rms"),
            kind: BlockKind::Aggregate,
            op: Op::RmsStats,
            tensor: slice.tensor("_norm_rms"),
            dims: vec![dim(slice.heads, slice.index, FIXED), dim(t, 0, ALONG_X)],
            axes: [Some(Axis::T), None, None],
            cells: [t as u32, 1, 1],
        };
        let rms = self.place(rms, spot.left, spot.top, spot.front, &[(input, Op::RmsStats)]);
        let normalised_top = spot.top - 1.0 - self.gap;
        let gamma = Shows {
            name: slice.name("_norm.gamma"),
            kind: if slice.head == 0 { BlockKind::Weight } else { BlockKind::Tied },
            op: Op::Param,
            tensor: names::llama_param(slice.layer, &format!("{}.weight", slice.norm_module())),
            dims: vec![dim(a, 0, ALONG_Y)],
            axes: [None, Some(Axis::A), None],
            cells: [1, a as u32, 1],
        };
        let gamma = self.place(gamma, spot.left - self.gap - 1.0, normalised_top, spot.front, &[]);
        let deps = [input, rms, gamma].map(|block| (block, Op::RmsNorm));
        self.place(self.head_slice(slice, "_norm", Op::RmsNorm), spot.left, normalised_top, spot.front, &deps)
    }

    /// A Linear layer's rows left of the output they make: with a bias as `linear` places them;
    /// without one, the weight stands where the bias would, as the LM head does.
    fn projection(&mut self, projection: Projection, output: Spot) -> Vec<(usize, Op)> {
        let Projection { block, parameter, rows, input_len, input_axis, bias } = projection;
        if bias {
            return self.linear(&block, &parameter, rows, input_len, input_axis, output).to_vec();
        }
        let weight = Shows {
            name: format!("{block}.weight"),
            kind: BlockKind::Weight,
            op: Op::Param,
            tensor: format!("{parameter}.weight"),
            dims: vec![dim(rows.len, rows.offset, rows.strides), dim(input_len, 0, ALONG_X)],
            axes: [Some(input_axis), Some(rows.axis), rows.depth_axis],
            cells: [input_len as u32, rows.cells as u32, rows.depth],
        };
        let weight = self.place(weight, output.left - self.gap - input_len as f64, output.top, output.front, &[]);
        vec![(weight, Op::Matmul)]
    }

    /// The heads' outputs side by side through o_proj, which has no bias, then the residual;
    /// returns the residual and the y below it.
    fn output_projection(&mut self, i: usize, spot: Spot, head_outputs: &[usize], input: usize) -> (usize, f64) {
        let c = self.c;
        let first = self.blocks.len();
        let projection = Projection {
            block: names::layer(i, "o_proj"),
            parameter: names::llama_param(i, names::O_PROJ),
            rows: Rows::flat(c, 0, c, Axis::C),
            // H·D, the heads side by side: C in Llama and Qwen2 (Qwen3's is wider), read as GPT-2's
            // projection reads its input, as channels.
            input_len: self.config.attention_width(),
            input_axis: Axis::C,
            bias: false,
        };
        let weights = self.projection(projection, spot);
        let deps: Vec<(usize, Op)> = head_outputs.iter().map(|&y| (y, Op::Concat)).chain(weights).collect();
        let attn_proj = self.whole(&names::layer(i, "attn_proj"), Op::Matmul, c, Axis::C);
        let attn_proj = self.place(attn_proj, spot.left, spot.top, 0.5, &deps);
        let resid_top = spot.top - c as f64 - self.gap;
        let deps = [(input, Op::ResidualAdd), (attn_proj, Op::ResidualAdd)];
        let attn_resid = self.whole(&names::layer(i, "attn_resid"), Op::ResidualAdd, c, Axis::C);
        let attn_resid = self.place(attn_resid, spot.left, resid_top, 0.5, &deps);
        self.section("Projection".into(), first..attn_resid + 1);
        self.dim_mark_right(format!("C = {c}"), attn_resid);
        (attn_resid, resid_top - c as f64)
    }

    /// gate and up from rms2, their SwiGLU right of them, the down projection and the residual;
    /// returns the residual and the y below it.
    fn swiglu_mlp(&mut self, i: usize, spot: Spot, rms2: usize, attn_resid: usize) -> (usize, f64) {
        let (t, c, f) = (self.t, self.c, self.config.mlp_width());
        let (left, top) = (spot.left, spot.top);
        let first = self.blocks.len();
        let gate = self.mlp_band(i, "gate", names::GATE_PROJ, spot, rms2);
        let up_top = top - f as f64 - self.gap;
        let up = self.mlp_band(i, "up", names::UP_PROJ, Spot::front(left, up_top), rms2);
        // Level with the gap between the two bands it multiplies, so gate, up and their product read together.
        let swiglu_top = top - (f as f64 + self.gap) / 2.0;
        let swiglu = self.whole(&names::layer(i, "swiglu"), Op::SwiGlu, f, Axis::C4);
        let deps = [(gate, Op::SwiGlu), (up, Op::SwiGlu)];
        let swiglu = self.place(swiglu, left + t as f64 + self.gap, swiglu_top, 0.5, &deps);
        self.dim_mark_right(format!("F = {f}"), swiglu);

        let down_top = up_top - f as f64 - self.gap;
        let projection = Projection {
            block: names::layer(i, "down_proj"),
            parameter: names::llama_param(i, names::DOWN_PROJ),
            rows: Rows::flat(c, 0, c, Axis::C),
            input_len: f,
            input_axis: Axis::C4,
            bias: false,
        };
        let weights = self.projection(projection, Spot::front(left, down_top));
        let deps: Vec<(usize, Op)> = std::iter::once((swiglu, Op::Matmul)).chain(weights).collect();
        let mlp = self.place(self.whole(&names::layer(i, "mlp"), Op::Matmul, c, Axis::C), left, down_top, 0.5, &deps);
        let resid_top = down_top - c as f64 - self.gap;
        let deps = [(attn_resid, Op::ResidualAdd), (mlp, Op::ResidualAdd)];
        let mlp_resid = self.whole(&names::layer(i, "mlp_resid"), Op::ResidualAdd, c, Axis::C);
        let mlp_resid = self.place(mlp_resid, left, resid_top, 0.5, &deps);
        let lens = self.lens_strip(mlp_resid, left, resid_top - c as f64);
        self.section("SwiGLU MLP".into(), first..lens + 1);
        self.dim_mark_right(format!("C = {c}"), mlp_resid);
        (mlp_resid, resid_top - c as f64)
    }

    /// gate or up: F rows from rms2, with their projection's rows left of them.
    fn mlp_band(&mut self, i: usize, part: &str, module: &str, spot: Spot, rms2: usize) -> usize {
        let (c, f) = (self.c, self.config.mlp_width());
        let projection = Projection {
            block: names::layer(i, &format!("{part}_proj")),
            parameter: names::llama_param(i, module),
            rows: Rows::flat(f, 0, f, Axis::C4),
            input_len: c,
            input_axis: Axis::C,
            bias: false,
        };
        let weights = self.projection(projection, spot);
        let deps: Vec<(usize, Op)> = std::iter::once((rms2, Op::Matmul)).chain(weights).collect();
        self.place(self.whole(&names::layer(i, part), Op::Matmul, f, Axis::C4), spot.left, spot.top, spot.front, &deps)
    }

    /// The final RMSNorm, the LM head, logits and their softmax, under the last layer's column.
    pub(super) fn llama_output(&mut self, origin: f64, top: f64, residual: usize) {
        let first = self.blocks.len();
        let left = origin - self.t as f64 / 2.0;
        let (rms_f, y) = self.rms_norm("rms_f", names::FINAL_NORM, residual, left, top);
        self.logits_and_probs(left, y - self.margin, rms_f);
        self.section("Output".into(), first..self.blocks.len());
    }
}
