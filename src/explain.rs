//! How a cell's value was calculated: the operation, the numbers that went in, and a formula to show.
//!
//! Pure: a layout, the activations of one input and the weights in, an `Explanation` out. The hover card,
//! `llmviz explain` and the tests all read the same one, so what the card says is what was checked.

pub mod backward;
pub mod walk;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::layout::{Block, BlockKind, Layout, Op};
use crate::model::GptConfig;
use crate::model::config::LlamaShape;
use crate::model::sampling::{Sampling, reshape};
use crate::model::tokenizer::Tokenizer;
use crate::model::{Activations, Weights, names};

/// One number that went into a cell: where it is drawn and which tensor element it is.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Operand {
    /// The block that draws this element, if one does (`tok_emb` has none of its own).
    pub block: Option<String>,
    /// The cell of that block.
    pub cell: Option<[u32; 3]>,
    pub tensor: String,
    pub index: Vec<usize>,
    pub value: f32,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Explanation {
    pub block: String,
    pub cell: [u32; 3],
    pub tensor: String,
    pub index: Vec<usize>,
    /// What each index means, e.g. ["t", "c"] or ["h", "t", "t2"].
    pub index_names: Vec<&'static str>,
    pub value: f32,
    pub op: Op,
    /// The repeated part of a sum or statistic, each a map from role (`a`, `w`, `q`, `k`, `p`, `v`, `x`) to its operand.
    /// Up to `MAX_TERMS` in index order; a longer row (GPT-2's 768-term dot products, its 50,257
    /// logits) keeps its `SUMMARY_TERMS` largest, largest first: the largest products of a dot product,
    /// the largest scores of a softmax, the values farthest from zero of a layer norm.
    pub terms: Vec<BTreeMap<&'static str, Operand>>,
    /// How many terms the sum or statistic has, all of which went into the value.
    pub terms_total: usize,
    /// The single inputs, by role (`bias`, `x`, `mean`, `std`, `rms`, `gamma`, `beta`, `max`, `sumexp`, `a`,
    /// `b`, `pair`, `gate`, `up`, ...).
    pub operands: BTreeMap<&'static str, Operand>,
    /// The calculation with its actual numbers, for people.
    pub formula: String,
    /// In gradient mode: the cell's gradient by the chain rule (`value` is then the gradient).
    pub backward: Option<backward::Backward>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ExplainError {
    #[error("unknown block '{0}'")]
    UnknownBlock(String),
    #[error("cell {cell:?} is outside block '{block}' of {cells:?} cells")]
    OutsideBlock { block: String, cell: [u32; 3], cells: [u32; 3] },
    #[error("masked: {0}")]
    Masked(String),
}

/// "3,4" or "3,4,1" -> [3, 4, 0] / [3, 4, 1]: a cell as `llmviz explain --cell` and `--hover` take it.
pub fn parse_cell(text: &str) -> Result<[u32; 3], String> {
    let parts: Vec<&str> = text.split(',').map(str::trim).collect();
    if !(2..=3).contains(&parts.len()) {
        return Err("expected the cell as I,J or I,J,K".into());
    }
    let mut cell = [0u32; 3];
    for (axis, part) in parts.iter().enumerate() {
        cell[axis] = part.parse().map_err(|_| format!("'{part}' is not a cell index"))?;
    }
    Ok(cell)
}

/// Where the numbers come from: one input's activations and the weights that produced them.
pub struct Sources<'a> {
    pub layout: &'a Layout,
    pub activations: &'a Activations,
    pub weights: &'a Weights,
}

impl Sources<'_> {
    fn value(&self, tensor: &str, index: &[usize]) -> Option<f32> {
        self.activations.get(tensor).or_else(|| self.weights.tensors.get(tensor)).and_then(|t| t.get(index))
    }

    /// The operand for a tensor element, with the block and cell that draw it.
    fn operand(&self, tensor: &str, index: Vec<usize>) -> Operand {
        let value = self.value(tensor, &index).unwrap_or(f32::NAN);
        let drawn =
            self.layout.blocks.iter().filter(|b| b.tensor == tensor).find_map(|b| cell_of(b, &index).map(|c| (b, c)));
        Operand {
            block: drawn.map(|(b, _)| b.name.clone()),
            cell: drawn.map(|(_, c)| c),
            tensor: tensor.to_string(),
            index,
            value,
        }
    }

    /// The elements `prefix + [i]` of a tensor for i < len, as a `Row`.
    fn row(&self, role: &'static str, tensor: &str, prefix: &[usize], len: usize) -> Row {
        Row { role, tensor: tensor.to_string(), indices: (0..len).map(|i| [prefix, &[i]].concat()).collect() }
    }

    fn values(&self, row: &Row) -> Vec<f32> {
        let tensor = self.activations.get(&row.tensor).or_else(|| self.weights.tensors.get(&row.tensor));
        row.indices.iter().map(|index| tensor.and_then(|t| t.get(index)).unwrap_or(f32::NAN)).collect()
    }

    /// A dot product of two rows: its sum over every term, in f64 and term order, and its terms,
    /// each pairing the rows' elements under their roles (summarised for long rows).
    fn products(&self, left: &Row, right: &Row) -> (Vec<BTreeMap<&'static str, Operand>>, f64, usize) {
        let (l, r) = (self.values(left), self.values(right));
        let sum = l.iter().zip(&r).map(|(&a, &b)| a as f64 * b as f64).sum();
        let kept = kept_terms(&l.iter().zip(&r).map(|(&a, &b)| (a * b).abs()).collect::<Vec<_>>());
        let terms = kept
            .into_iter()
            .map(|i| {
                BTreeMap::from([
                    (left.role, self.operand(&left.tensor, left.indices[i].clone())),
                    (right.role, self.operand(&right.tensor, right.indices[i].clone())),
                ])
            })
            .collect();
        (terms, sum, l.len())
    }

    /// The terms of a statistic over one row (a mean, a max, a Σexp), kept by how far they reach.
    fn row_terms(&self, row: &Row, reach: impl Fn(f32) -> f32) -> (Vec<BTreeMap<&'static str, Operand>>, usize) {
        let values = self.values(row);
        let kept = kept_terms(&values.iter().map(|&v| reach(v)).collect::<Vec<_>>());
        let terms = kept
            .into_iter()
            .map(|i| BTreeMap::from([(row.role, self.operand(&row.tensor, row.indices[i].clone()))]))
            .collect();
        (terms, values.len())
    }
}

/// Elements of one tensor that take part in a calculation under one role.
struct Row {
    role: &'static str,
    tensor: String,
    indices: Vec<Vec<usize>>,
}

/// The single operands in the order the formulas read them, for whoever lists them.
pub const OPERAND_ORDER: [&str; 16] = [
    "token_embedding",
    "position_embedding",
    "a",
    "b",
    "x",
    "pair",
    "mean",
    "std",
    "rms",
    "gamma",
    "beta",
    "max",
    "sumexp",
    "bias",
    "gate",
    "up",
];

/// Rows up to this long show every term (all of nano's, whose longest is the MLP's 4C = 192).
pub const MAX_TERMS: usize = 256;
/// How many terms a longer row shows: its largest.
pub const SUMMARY_TERMS: usize = 16;

/// Which terms to show of a row whose terms weigh `sizes`: all in order when few, else the
/// `SUMMARY_TERMS` largest, largest first.
fn kept_terms(sizes: &[f32]) -> Vec<usize> {
    if sizes.len() <= MAX_TERMS {
        return (0..sizes.len()).collect();
    }
    let mut order: Vec<usize> = (0..sizes.len()).collect();
    let magnitude = |i: usize| if sizes[i].is_nan() { f32::NEG_INFINITY } else { sizes[i] };
    order.select_nth_unstable_by(SUMMARY_TERMS - 1, |&a, &b| magnitude(b).total_cmp(&magnitude(a)));
    order.truncate(SUMMARY_TERMS);
    order.sort_by(|&a, &b| magnitude(b).total_cmp(&magnitude(a)).then(a.cmp(&b)));
    order
}

/// The cell of `block` that shows `index`, if any: the block's linear map inverted.
fn cell_of(block: &Block, index: &[usize]) -> Option<[u32; 3]> {
    if index.len() != block.map.dims.len() {
        return None;
    }
    let mut cell = [0u32; 3];
    for (dim, &i) in block.map.dims.iter().zip(index) {
        let mut rest = i.checked_sub(dim.offset)?;
        let mut axes: Vec<usize> = (0..3).filter(|&a| dim.strides[a] > 0).collect();
        axes.sort_by_key(|&a| std::cmp::Reverse(dim.strides[a]));
        for axis in axes {
            cell[axis] = (rest / dim.strides[axis]) as u32;
            rest %= dim.strides[axis];
        }
        if rest != 0 {
            return None;
        }
    }
    let inside = (0..3).all(|a| cell[a] < block.cells[a]);
    (inside && block.map.index(cell) == index).then_some(cell)
}

/// The cell being explained: its block, tensor element and value, and its layer.
struct Target<'a> {
    block: &'a Block,
    index: Vec<usize>,
    value: f32,
    /// The layer of the block's tensor (None outside the layers), and the tensor's name within it.
    layer: Option<usize>,
    name: &'a str,
}

impl Target<'_> {
    /// A tensor of the same layer: `ln1` → `block2.ln1`; outside the layers, the name itself.
    fn layer_tensor(&self, suffix: &str) -> String {
        match self.layer {
            Some(i) => names::layer(i, suffix),
            None => suffix.to_string(),
        }
    }

    /// A parameter of the same layer, by its state_dict name within the layer.
    fn parameter(&self, suffix: &str) -> String {
        names::layer_param(self.layer.unwrap_or(0), suffix)
    }

    /// A Llama-family parameter of the same layer, by its Hugging Face name within the layer.
    fn llama_parameter(&self, suffix: &str) -> String {
        names::llama_param(self.layer.unwrap_or(0), suffix)
    }
}

/// What one operation kind says of a cell: its repeated terms, single operands and formula.
#[derive(Default)]
struct Worked {
    terms: Vec<BTreeMap<&'static str, Operand>>,
    terms_total: usize,
    operands: BTreeMap<&'static str, Operand>,
    formula: String,
}

impl Worked {
    fn with(mut self, operands: impl IntoIterator<Item = (&'static str, Operand)>) -> Worked {
        self.operands.extend(operands);
        self
    }
}

/// The block of that name, with the tensor index of its cell and what each index means; an error
/// names a block that is not there, or a cell outside it.
fn find_cell<'a>(
    sources: &Sources<'a>,
    block_name: &str,
    cell: [u32; 3],
) -> Result<(&'a Block, Vec<usize>, Vec<&'static str>), ExplainError> {
    let block = sources.layout.block(block_name).ok_or_else(|| ExplainError::UnknownBlock(block_name.to_string()))?;
    if (0..3).any(|a| cell[a] >= block.cells[a]) {
        return Err(ExplainError::OutsideBlock { block: block.name.clone(), cell, cells: block.cells });
    }
    let index = block.tensor_index(cell);
    let index_names = index_names(&block.tensor, index.len());
    Ok((block, index, index_names))
}

pub fn explain(sources: &Sources, block_name: &str, cell: [u32; 3]) -> Result<Explanation, ExplainError> {
    let (block, index, index_names) = find_cell(sources, block_name, cell)?;
    check_computed(block, &index, &index_names, sources.activations.tokens.len())?;
    let value = sources.value(&block.tensor, &index).unwrap_or(f32::NAN);
    let (layer, name) = names::split_layer(&block.tensor);
    let target = Target { block, index, value, layer, name };
    let worked = match block.op {
        Op::Param => param(&target),
        Op::Input => Worked { formula: input(&sources.layout.config, &target), ..Worked::default() },
        Op::Embedding => embedding(sources, &target),
        Op::Matmul => matmul(sources, &target),
        Op::ResidualAdd => residual_add(sources, &target),
        Op::LnStats => ln_stats(sources, &target),
        Op::LayerNorm => layer_norm(sources, &target),
        Op::AttnScore => attn_score(sources, &target)?,
        Op::SoftmaxStats => softmax_stats(sources, &target),
        Op::Softmax => softmax(sources, &target)?,
        Op::Gelu => gelu_worked(sources, &target),
        Op::AttnValue | Op::Concat => attn_value(sources, &target),
        Op::RmsStats => rms_stats(sources, &target),
        Op::RmsNorm => rms_norm(sources, &target),
        Op::Rope => rope(sources, &target),
        Op::SwiGlu => swiglu(sources, &target),
        Op::Lens => lens(sources, &target),
    };
    Ok(Explanation {
        block: block.name.clone(),
        cell,
        tensor: block.tensor.clone(),
        index: target.index,
        index_names,
        value,
        op: block.op,
        terms_total: worked.terms_total.max(worked.terms.len()),
        terms: worked.terms,
        operands: worked.operands,
        formula: worked.formula,
        backward: None,
    })
}

/// Positions past the input are drawn (the layout spans the whole context) but never computed.
fn check_computed(block: &Block, index: &[usize], index_names: &[&str], t_len: usize) -> Result<(), ExplainError> {
    if block.kind == BlockKind::Weight || block.kind == BlockKind::Tied {
        return Ok(());
    }
    for (&i, &name) in index.iter().zip(index_names) {
        if (name == "t" || name == "t2") && i >= t_len {
            return Err(ExplainError::Masked(format!(
                "{name} = {i} is beyond the input of {t_len} tokens: nothing is computed there"
            )));
        }
    }
    Ok(())
}

fn param(target: &Target) -> Worked {
    let formula = format!(
        "a learned parameter: {}{:?} = {}, set by training, the same for every input",
        target.block.tensor,
        target.index,
        fmt(target.value)
    );
    Worked { formula, ..Worked::default() }
}

fn input(config: &GptConfig, target: &Target) -> String {
    let token = target.value as usize;
    format!("input token {} at t = {}: index {token}", token_name(config, token), target.index[0])
}

/// A token as its vocabulary spells it: `B`, or GPT-2's `" world"` in quotes to show its spaces.
pub fn token_name(config: &GptConfig, token: usize) -> String {
    match Tokenizer::of(config) {
        Some(tokenizer @ Tokenizer::Letters(_)) => tokenizer.piece(token),
        Some(tokenizer) => format!("{:?}", tokenizer.piece(token)),
        None => format!("#{token}"),
    }
}

fn embedding(sources: &Sources, target: &Target) -> Worked {
    let config = &sources.layout.config;
    let (t, ch) = (target.index[0], target.index[1]);
    let token = sources.activations.tokens[t];
    let tok = sources.operand(names::token_embedding(config), vec![token, ch]);
    if !config.arch.is_gpt2() {
        let formula = format!(
            "x[t = {t}, c = {ch}] = embed_tokens[{} = {token}, c = {ch}] = {} (no position is added here: it enters attention as the rotation of q and k)",
            token_name(config, token),
            fmt(target.value)
        );
        return Worked { formula, ..Worked::default() }.with([("token_embedding", tok)]);
    }
    let pos = sources.operand(names::WPE, vec![t, ch]);
    let formula = format!(
        "token_embedding[{} = {token}, c = {ch}] + position_embedding[t = {t}, c = {ch}] = {} + {} = {}",
        token_name(&sources.layout.config, token),
        fmt(tok.value),
        fmt(pos.value),
        fmt(target.value)
    );
    Worked { formula, ..Worked::default() }.with([("token_embedding", tok), ("position_embedding", pos)])
}

/// A Linear layer's output: which input row, weight, bias and weight row make it.
fn matmul_operands(sources: &Sources, target: &Target) -> (String, String, Option<String>, usize) {
    let config = &sources.layout.config;
    if let Some(llama) = config.llama_shape() {
        return llama_matmul_operands(config, llama, target);
    }
    let (c, a_size, index) = (config.n_embd, config.head_size(), &target.index);
    let linear = |input: &str, parameter: &str, row: usize| {
        let input = target.layer_tensor(input);
        (
            input,
            target.parameter(&format!("{parameter}.weight")),
            Some(target.parameter(&format!("{parameter}.bias"))),
            row,
        )
    };
    match target.name {
        "q" | "k" | "v" => {
            let part = ["q", "k", "v"].iter().position(|p| *p == target.name).expect("q, k or v");
            linear("ln1", names::C_ATTN, part * c + index[0] * a_size + index[2])
        }
        "qkv" => linear("ln1", names::C_ATTN, index[1]),
        "attn_proj" => linear("y", names::ATTN_PROJ, index[1]),
        "fc" => linear("ln2", names::C_FC, index[1]),
        "mlp" => linear("gelu", names::MLP_PROJ, index[1]),
        // logits: the final norm times the LM head, which has no bias (and may be wte itself).
        _ => ("ln_f".to_string(), names::lm_head(config).to_string(), None, index[1]),
    }
}

/// A Llama-family Linear layer's output. q, k and v are [heads, T, D] and their weights
/// [heads·D, C], so head h's channel d is weight row h·D + d; only Qwen2's q, k and v have a bias.
fn llama_matmul_operands(
    config: &GptConfig,
    llama: &LlamaShape,
    target: &Target,
) -> (String, String, Option<String>, usize) {
    let index = &target.index;
    let weight = |module: &str| target.llama_parameter(&format!("{module}.weight"));
    let linear = |input: &str, module: &str| (target.layer_tensor(input), weight(module), None::<String>, index[1]);
    match target.name {
        "q" | "k" | "v" => {
            let module = match target.name {
                "q" => names::Q_PROJ,
                "k" => names::K_PROJ,
                _ => names::V_PROJ,
            };
            let bias = llama.qkv_bias.then(|| target.llama_parameter(&format!("{module}.bias")));
            (target.layer_tensor("rms1"), weight(module), bias, index[0] * llama.head_dim + index[2])
        }
        "attn_proj" => linear("y", names::O_PROJ),
        "gate" => linear("rms2", names::GATE_PROJ),
        "up" => linear("rms2", names::UP_PROJ),
        "mlp" => linear("swiglu", names::DOWN_PROJ),
        // logits: the final norm times the LM head, which has no bias (and may be embed_tokens itself).
        _ => ("rms_f".to_string(), names::lm_head(config).to_string(), None, index[1]),
    }
}

fn matmul(sources: &Sources, target: &Target) -> Worked {
    let (input, weight, bias, row) = matmul_operands(sources, target);
    // q, k, v are [H, T, A]: their token is the middle index.
    let t = if matches!(target.name, "q" | "k" | "v") { target.index[1] } else { target.index[0] };
    let width = sources.weights.tensors[&weight].shape[1];
    let (terms, sum, total) =
        sources.products(&sources.row("a", &input, &[t], width), &sources.row("w", &weight, &[row], width));
    let mut worked = Worked { terms, terms_total: total, ..Worked::default() };
    let bias_text = match bias {
        Some(bias) => {
            let operand = sources.operand(&bias, vec![row]);
            let text = format!("{} + ", fmt(operand.value));
            worked.operands.insert("bias", operand);
            text
        }
        None => String::new(),
    };
    let config = &sources.layout.config;
    let tied = if config.tied_lm_head && weight == names::lm_head(config) {
        " (the head is tied: row v of the token embedding)"
    } else {
        ""
    };
    worked.formula = format!(
        "{}Σ a_i·w_i over {width} terms = {bias_text}({}) = {}{tied}",
        if bias_text.is_empty() { "" } else { "bias + " },
        dot_preview(&worked.terms, total, "a", "w", sum),
        fmt(target.value)
    );
    worked
}

fn residual_add(sources: &Sources, target: &Target) -> Worked {
    let residual = match (target.name, target.layer) {
        ("attn_resid", Some(0)) => "x".to_string(),
        ("attn_resid", Some(i)) => names::layer(i - 1, "mlp_resid"),
        _ => target.layer_tensor("attn_resid"),
    };
    let branch = target.layer_tensor(if target.name == "attn_resid" { "attn_proj" } else { "mlp" });
    let a = sources.operand(&residual, target.index.clone());
    let b = sources.operand(&branch, target.index.clone());
    let formula =
        format!("{} + {} = {} (the residual stream plus {})", fmt(a.value), fmt(b.value), fmt(target.value), b.tensor);
    Worked { formula, ..Worked::default() }.with([("a", a), ("b", b)])
}

fn ln_stats(sources: &Sources, target: &Target) -> Worked {
    let c = sources.layout.config.n_embd;
    let (norm_input, prefix) = ln_input(target.name, target.layer, sources.layout.config.n_layer);
    let row = sources.row("x", &norm_input, &[target.index[0]], c);
    let mut worked = Worked::default();
    if target.name.ends_with("_mean") {
        let mean: f64 = sources.values(&row).iter().map(|&x| x as f64).sum::<f64>() / c as f64;
        worked.formula = format!("E[x] = Σ x_i / {c} = {}", fmt(mean as f32));
    } else {
        let mean_operand = sources.operand(&format!("{prefix}_mean"), vec![target.index[0]]);
        worked.formula = format!(
            "sqrt(Var[x] + ε) = sqrt(Σ (x_i − {})² / {c} + {:e}) = {}",
            fmt(mean_operand.value),
            sources.layout.config.layer_norm_epsilon as f32,
            fmt(target.value)
        );
        worked.operands.insert("mean", mean_operand);
    }
    (worked.terms, worked.terms_total) = sources.row_terms(&row, f32::abs);
    worked
}

fn layer_norm(sources: &Sources, target: &Target) -> Worked {
    let (norm_input, prefix) = ln_input(target.name, target.layer, sources.layout.config.n_layer);
    let (t, ch) = (target.index[0], target.index[1]);
    let param_prefix = match target.layer {
        Some(_) => target.parameter(if target.name == "ln1" { names::LN_1 } else { names::LN_2 }),
        None => names::LN_F.to_string(),
    };
    let x = sources.operand(&norm_input, vec![t, ch]);
    let mean = sources.operand(&format!("{prefix}_mean"), vec![t]);
    let std = sources.operand(&format!("{prefix}_std"), vec![t]);
    let gamma = sources.operand(&format!("{param_prefix}.weight"), vec![ch]);
    let beta = sources.operand(&format!("{param_prefix}.bias"), vec![ch]);
    let formula = format!(
        "(x − μ) / σ · γ + β = ({} − {}) / {} · {} + {} = {}",
        fmt(x.value),
        fmt(mean.value),
        fmt(std.value),
        fmt(gamma.value),
        fmt(beta.value),
        fmt(target.value)
    );
    Worked { formula, ..Worked::default() }.with([
        ("x", x),
        ("mean", mean),
        ("std", std),
        ("gamma", gamma),
        ("beta", beta),
    ])
}

fn attn_score(sources: &Sources, target: &Target) -> Result<Worked, ExplainError> {
    let config = &sources.layout.config;
    let a_size = config.head_size();
    let (h, t, t2) = (target.index[0], target.index[1], target.index[2]);
    if t2 > t {
        return Err(ExplainError::Masked(format!(
            "the query at t = {t} may not look at the later key t2 = {t2}; the causal mask sets the score to −∞ so its softmax weight is 0"
        )));
    }
    // A Llama's q and k are rotated first, and its query heads share a k/v head by groups.
    let (query, key) = if config.arch.is_gpt2() { ("q", "k") } else { ("q_rot", "k_rot") };
    let kv = h / config.group_size();
    let q = sources.row("q", &target.layer_tensor(query), &[h, t], a_size);
    let k = sources.row("k", &target.layer_tensor(key), &[kv, t2], a_size);
    let (terms, sum, total) = sources.products(&q, &k);
    let shared = if config.group_size() > 1 { format!(" (k of k/v head {kv})") } else { String::new() };
    let formula = format!(
        "q·k / sqrt(A) = ({}) / sqrt({a_size}) = {}{shared}",
        dot_preview(&terms, total, "q", "k", sum),
        fmt(target.value)
    );
    Ok(Worked { terms, terms_total: total, formula, ..Worked::default() })
}

fn softmax_stats(sources: &Sources, target: &Target) -> Worked {
    let (scores, prefix) = softmax_input(target.name, target.layer);
    let row = softmax_row(sources, &scores, &target.index);
    let mut worked = Worked::default();
    if target.name.ends_with("max") {
        worked.formula = format!("max over the row's {} unmasked scores = {}", row.indices.len(), fmt(target.value));
    } else {
        let max = sources.operand(&format!("{prefix}_max"), target.index.clone());
        worked.formula = match sources.activations.sampling.filter(|_| prefix == "logits") {
            Some(sampling) => format!(
                "Σ exp((x − max) / T) over the tokens kept = Σ exp((x − {}) / {}) = {} ({sampling})",
                fmt(max.value),
                sampling.temperature,
                fmt(target.value)
            ),
            None => format!("Σ exp(x − max) = Σ exp(x − {}) = {}", fmt(max.value), fmt(target.value)),
        };
        worked.operands.insert("max", max);
    }
    // The largest scores are the ones that decide a softmax.
    (worked.terms, worked.terms_total) = sources.row_terms(&row, |x| x);
    worked
}

fn softmax(sources: &Sources, target: &Target) -> Result<Worked, ExplainError> {
    if let Some(sampling) = sources.activations.sampling.filter(|_| target.name == "probs") {
        return Ok(sampled_probability(sources, target, &sampling));
    }
    let (scores, prefix) = softmax_input(target.name, target.layer);
    let (row_index, last) = target.index.split_at(target.index.len() - 1);
    if target.name == "att_sm" && last[0] > row_index[1] {
        return Err(ExplainError::Masked(format!(
            "the query at t = {} gives the later key t2 = {} no weight: its score is masked to −∞, so exp(−∞) = 0",
            row_index[1], last[0]
        )));
    }
    let x = sources.operand(&scores, target.index.clone());
    let max = sources.operand(&format!("{prefix}_max"), row_index.to_vec());
    let sumexp = sources.operand(&format!("{prefix}_sumexp"), row_index.to_vec());
    let formula = format!(
        "exp(x − max) / Σ exp(x − max) = exp({} − {}) / {} = {}",
        fmt(x.value),
        fmt(max.value),
        fmt(sumexp.value),
        fmt(target.value)
    );
    Ok(Worked { formula, ..Worked::default() }.with([("x", x), ("max", max), ("sumexp", sumexp)]))
}

/// An output probability as sampling reshapes it: the temperature in the softmax, and tokens
/// cut off by top-k or top-p shown as such.
fn sampled_probability(sources: &Sources, target: &Target, sampling: &Sampling) -> Worked {
    let (t, v) = (target.index[0], target.index[1]);
    let x = sources.operand("logits", vec![t, v]);
    let max = sources.operand("logits_max", vec![t]);
    let sumexp = sources.operand("logits_sumexp", vec![t]);
    let row = sources.values(&sources.row("x", "logits", &[t], sources.layout.config.vocab_size));
    let reshaped = reshape(&row, sampling);
    let kept = reshaped.kept.iter().filter(|&&kept| kept).count();
    let temperature = sampling.temperature;
    let formula = if reshaped.kept.get(v).copied().unwrap_or(false) {
        format!(
            "exp((x − max) / T) / Σ exp((x − max) / T) over the {kept} tokens kept = exp(({} − {}) / {temperature}) / {} = {} ({sampling})",
            fmt(x.value),
            fmt(max.value),
            fmt(sumexp.value),
            fmt(target.value)
        )
    } else {
        let why = match (sampling.top_k, sampling.top_p) {
            (Some(k), None) => format!("top-k {k} keeps the {k} likeliest"),
            (None, Some(p)) => format!("top-p {p} keeps the likeliest whose probabilities reach {p}"),
            _ => format!("{sampling} keeps {kept}"),
        };
        format!("cut off: {why}, not this one, so its probability is 0")
    };
    Worked { formula, ..Worked::default() }.with([("x", x), ("max", max), ("sumexp", sumexp)])
}

/// A cell of the logit lens: the stream's row at this position read through the model's final
/// norm and unembedding, as if no layer followed; the value is the likeliest token's probability.
/// The row's channels farthest from zero are the terms, as for a norm's statistics.
fn lens(sources: &Sources, target: &Target) -> Worked {
    let config = &sources.layout.config;
    let t = target.index[0];
    let stream = target.block.tensor.strip_suffix("_lens").unwrap_or(&target.block.tensor);
    let row = sources.row("x", stream, &[t], config.n_embd);
    let mut worked = Worked::default();
    (worked.terms, worked.terms_total) = sources.row_terms(&row, f32::abs);
    let norm = if config.arch.is_gpt2() { "ln_f" } else { "RMSNorm" };
    let head = match (config.tied_lm_head, config.arch.is_gpt2()) {
        (false, _) => "lm_head",
        (true, true) => "wte",
        (true, false) => "embed_tokens",
    };
    let read = sources.activations.lens.iter().find(|layer| layer.stream == stream);
    worked.formula = match read.and_then(|layer| layer.top.get(t)) {
        Some(top) => {
            let best: Vec<String> = top
                .iter()
                .take(5)
                .map(|&(token, p)| format!("{} {:.1}%", quoted_token(config, token), p * 100.0))
                .collect();
            let formula = format!("softmax({norm}({stream}[{t}]) · {head}), likeliest first: {}", best.join(", "));
            match read.and_then(|layer| layer.change.as_ref()?.get(t)) {
                Some(&(token, own, now)) => format!(
                    "{formula}; with every part on, {} {:.1}%, now {:.1}% ({:+.1} points)",
                    quoted_token(config, token),
                    own * 100.0,
                    now * 100.0,
                    (now - own) * 100.0
                ),
                None => formula,
            }
        }
        None => format!("softmax({norm}({stream}[{t}]) · {head}): still being read, after the forward pass"),
    };
    worked
}

fn quoted_token(config: &GptConfig, token: usize) -> String {
    format!("'{}'", token_name(config, token))
}

/// GELU as the model computes it: the tanh form, as minGPT's `NewGELU` and burn's `gelu_approximate`.
pub fn gelu(x: f32) -> f32 {
    0.5 * x * (1.0 + ((2.0 / std::f32::consts::PI).sqrt() * (x + 0.044715 * x * x * x)).tanh())
}

fn gelu_worked(sources: &Sources, target: &Target) -> Worked {
    let x = sources.operand(&target.layer_tensor("fc"), target.index.clone());
    let formula = format!(
        "GELU(x) = 0.5·x·(1 + tanh(sqrt(2/π)·(x + 0.044715·x³))) with x = {} gives {}",
        fmt(x.value),
        fmt(target.value)
    );
    Worked { formula, ..Worked::default() }.with([("x", x)])
}

/// An RMSNorm's statistic, √(Σ x_i² / n + ε), over the row it normalises: C channels of the
/// residual stream, or one head's D channels for Qwen3's q and k norms.
fn rms_stats(sources: &Sources, target: &Target) -> Worked {
    let config = &sources.layout.config;
    let (norm_input, _) = ln_input(target.name, target.layer, config.n_layer);
    let per_head = target.name.starts_with("q_norm") || target.name.starts_with("k_norm");
    let n = if per_head { config.head_size() } else { config.n_embd };
    let row = sources.row("x", &norm_input, &target.index, n);
    let squares: f64 = sources.values(&row).iter().map(|&x| x as f64 * x as f64).sum();
    let formula = format!(
        "√(Σ x_i² / n + ε) = √({} / {n} + {:e}) = {} (no mean is taken away, unlike a layer norm)",
        fmt(squares as f32),
        config.layer_norm_epsilon as f32,
        fmt(target.value)
    );
    // The values farthest from zero weigh most in a sum of squares.
    let (terms, terms_total) = sources.row_terms(&row, f32::abs);
    Worked { terms, terms_total, formula, ..Worked::default() }
}

/// γ of the RMSNorm that makes `target`: `block0.rms1` → `model.layers.0.input_layernorm.weight`.
fn rms_gamma(target: &Target) -> String {
    let module = match target.name {
        "rms1" => names::INPUT_NORM,
        "rms2" => names::POST_NORM,
        "q_norm" => names::Q_NORM,
        "k_norm" => names::K_NORM,
        _ => return names::FINAL_NORM.to_string(),
    };
    target.llama_parameter(&format!("{module}.weight"))
}

fn rms_norm(sources: &Sources, target: &Target) -> Worked {
    let (norm_input, prefix) = ln_input(target.name, target.layer, sources.layout.config.n_layer);
    let (row, channel) = target.index.split_at(target.index.len() - 1);
    let x = sources.operand(&norm_input, target.index.clone());
    let rms = sources.operand(&format!("{prefix}_rms"), row.to_vec());
    let gamma = sources.operand(&rms_gamma(target), channel.to_vec());
    let formula =
        format!("x / rms · γ = {} / {} · {} = {}", fmt(x.value), fmt(rms.value), fmt(gamma.value), fmt(target.value));
    Worked { formula, ..Worked::default() }.with([("x", x), ("rms", rms), ("gamma", gamma)])
}

/// A rotary frequency or angle: small ones in scientific notation, as θ of the slow channels
/// of a long context reaches 10⁻⁶.
fn fmt_angle(value: f64) -> String {
    if value == 0.0 || value.abs() >= 1e-3 { format!("{value:.4}") } else { format!("{value:.3e}") }
}

/// A channel of q or k turned with its partner i ± D/2 by the angle t·θ, as Hugging Face's
/// rotate-half does. cos and sin are no tensor of the model, so the angle is in the formula.
fn rope(sources: &Sources, target: &Target) -> Worked {
    let Some(llama) = sources.layout.config.llama_shape() else { return Worked::default() };
    let part = target.name.trim_end_matches("_rot");
    let input_name = if llama.qk_norm { format!("{part}_norm") } else { part.to_string() };
    let input = target.layer_tensor(&input_name);
    let (head, t, i) = (target.index[0], target.index[1], target.index[2]);
    let half = llama.head_dim / 2;
    let (partner, frequency) = if i < half { (i + half, i) } else { (i - half, i - half) };
    let theta = llama.inv_freq()[frequency];
    let angle = t as f64 * theta;
    let x = sources.operand(&input, target.index.clone());
    let pair = sources.operand(&input, vec![head, t, partner]);
    // The first half turns forwards (x·cos − pair·sin), the second back (x·cos + pair·sin).
    let sign = if i < half { '−' } else { '+' };
    let formula = format!(
        "{}[{i}] = {input_name}[{i}]·cos(tθ_{frequency}) {sign} {input_name}[{partner}]·sin(tθ_{frequency}), \
         t = {t}, θ_{frequency} = {}, tθ = {} rad: {}·{} {sign} {}·{} = {}",
        target.name,
        fmt_angle(theta),
        fmt_angle(angle),
        fmt(x.value),
        fmt(angle.cos() as f32),
        fmt(pair.value),
        fmt(angle.sin() as f32),
        fmt(target.value)
    );
    Worked { formula, ..Worked::default() }.with([("x", x), ("pair", pair)])
}

/// SwiGLU: the gate, through SiLU, scales up channel by channel.
fn swiglu(sources: &Sources, target: &Target) -> Worked {
    let gate = sources.operand(&target.layer_tensor("gate"), target.index.clone());
    let up = sources.operand(&target.layer_tensor("up"), target.index.clone());
    let g = gate.value as f64;
    let silu = g / (1.0 + (-g).exp());
    let formula = format!(
        "silu(g)·u = g / (1 + exp(−g)) · u = {} / (1 + exp({})) · {} = {}·{} = {}",
        fmt(gate.value),
        fmt(-gate.value),
        fmt(up.value),
        fmt(silu as f32),
        fmt(up.value),
        fmt(target.value)
    );
    Worked { formula, ..Worked::default() }.with([("gate", gate), ("up", up)])
}

/// The head's slice of y: channel c of y is channel c mod A of head c / A.
fn attn_value(sources: &Sources, target: &Target) -> Worked {
    let config = &sources.layout.config;
    let a_size = config.head_size();
    let (t, ch) = (target.index[0], target.index[1]);
    let (h, a) = (ch / a_size, ch % a_size);
    // Head h reads the v of its group's k/v head (its own in GPT-2).
    let kv = h / config.group_size();
    let weights = sources.row("p", &target.layer_tensor("att_sm"), &[h, t], t + 1);
    let values =
        Row { role: "v", tensor: target.layer_tensor("v"), indices: (0..=t).map(|t2| vec![kv, t2, a]).collect() };
    let (terms, sum, total) = sources.products(&weights, &values);
    let formula = format!(
        "Σ softmax(t, t2)·v(t2) over t2 ≤ {t} = {} (head {h}, channel {a})",
        dot_preview(&terms, total, "p", "v", sum)
    );
    Worked { terms, terms_total: total, formula, ..Worked::default() }
}

/// The tensor a norm reads and the prefix of its statistics: `block0.ln1_mean` -> (`x`, `block0.ln1`),
/// `block1.rms2_rms` -> (`block1.attn_resid`, `block1.rms2`), `block0.k_norm` -> (`block0.k`, `block0.k_norm`).
fn ln_input(name: &str, layer: Option<usize>, n_layer: usize) -> (String, String) {
    let norm = name.trim_end_matches("_mean").trim_end_matches("_std").trim_end_matches("_rms");
    match (norm, layer) {
        ("ln1" | "rms1", Some(0)) => ("x".into(), names::layer(0, norm)),
        ("ln1" | "rms1", Some(i)) => (names::layer(i - 1, "mlp_resid"), names::layer(i, norm)),
        ("ln2" | "rms2", Some(i)) => (names::layer(i, "attn_resid"), names::layer(i, norm)),
        // Qwen3 normalises each head's q and k before rotating them.
        ("q_norm", Some(i)) => (names::layer(i, "q"), names::layer(i, norm)),
        ("k_norm", Some(i)) => (names::layer(i, "k"), names::layer(i, norm)),
        // The final norm reads the last layer's output; its layer is not in its name.
        ("rms_f", _) => (names::layer(n_layer - 1, "mlp_resid"), "rms_f".into()),
        _ => (names::layer(n_layer - 1, "mlp_resid"), "ln_f".into()),
    }
}

/// The scores a softmax reads and the prefix of its statistics.
fn softmax_input(name: &str, layer: Option<usize>) -> (String, String) {
    match layer {
        Some(i) if name.starts_with("att") => (names::layer(i, "att"), names::layer(i, "att")),
        _ => ("logits".into(), "logits".into()),
    }
}

/// The unmasked scores of one softmax row: keys up to the query for attention, every token for logits.
fn softmax_row(sources: &Sources, scores: &str, row_index: &[usize]) -> Row {
    let len = match row_index.len() {
        2 => row_index[1] + 1,
        _ => sources.layout.config.vocab_size,
    };
    sources.row("x", scores, row_index, len)
}

fn index_names(tensor: &str, rank: usize) -> Vec<&'static str> {
    let (_, name) = names::split_layer(tensor);
    let names: &[&'static str] = match name {
        "q" | "k" | "v" | "q_norm" | "k_norm" | "q_rot" | "k_rot" => &["h", "t", "a"],
        "att" | "att_sm" => &["h", "t", "t2"],
        "att_max" | "att_sumexp" | "q_norm_rms" | "k_norm_rms" => &["h", "t"],
        "tokens" => &["t"],
        "logits" | "probs" => &["t", "v"],
        n if n.ends_with("_mean") || n.ends_with("_std") || n.ends_with("_rms") || n.ends_with("_lens") => &["t"],
        "logits_max" | "logits_sumexp" => &["t"],
        names::WTE | names::LM_HEAD | names::EMBED_TOKENS => &["v", "c"],
        names::WPE => &["t", "c"],
        n if n.ends_with(".weight") && rank == 2 => &["out", "in"],
        // Qwen3's q and k norms scale a head's channels.
        n if n.ends_with("q_norm.weight") || n.ends_with("k_norm.weight") => &["a"],
        n if n.contains("transformer.") || n.starts_with("model.") => &["c"],
        "fc" | "gelu" | "gate" | "up" | "swiglu" => &["t", "4c"],
        _ => &["t", "c"],
    };
    names.iter().copied().take(rank).collect()
}

fn fmt(value: f32) -> String {
    format!("{value:.4}")
}

/// "0.12·-0.30 + 0.05·0.91 + … = 1.2345": the first terms of a dot product (its largest, for a
/// summarised one) and its sum over all of them.
fn dot_preview(terms: &[BTreeMap<&'static str, Operand>], total: usize, left: &str, right: &str, sum: f64) -> String {
    const SHOWN: usize = 3;
    let mut parts: Vec<String> =
        terms.iter().take(SHOWN).map(|term| format!("{}·{}", fmt(term[left].value), fmt(term[right].value))).collect();
    if total > SHOWN {
        parts.push("…".into());
    }
    let largest = if total > terms.len() { format!("largest of {total}: ") } else { String::new() };
    format!("{largest}{} = {}", parts.join(" + "), fmt(sum as f32))
}
