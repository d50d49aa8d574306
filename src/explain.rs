//! How a cell's value was calculated: the operation, the numbers that went in, and a formula to show.
//!
//! Pure: a layout, the activations of one input and the weights in, an `Explanation` out. The hover card,
//! `llmviz explain` and the tests all read the same one, so what the card says is what was checked.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::layout::{Block, BlockKind, Layout, Op};
use crate::model::vocab::token_letter;
use crate::model::{Activations, Weights};

/// Only shown in formulas: the model's own LayerNorm computes with it.
const LN_EPS: f32 = 1e-5;

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
    pub terms: Vec<BTreeMap<&'static str, Operand>>,
    /// The single inputs, by role (`bias`, `x`, `mean`, `std`, `gamma`, `beta`, `max`, `sumexp`, `a`, `b`, ...).
    pub operands: BTreeMap<&'static str, Operand>,
    /// The calculation with its actual numbers, for people.
    pub formula: String,
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
        self.activations
            .get(tensor)
            .or_else(|| self.weights.tensors.get(tensor))
            .and_then(|t| t.get(index))
    }

    /// The operand for a tensor element, with the block and cell that draw it.
    fn operand(&self, tensor: &str, index: Vec<usize>) -> Operand {
        let value = self.value(tensor, &index).unwrap_or(f32::NAN);
        let drawn = self.layout.blocks.iter().filter(|b| b.tensor == tensor).find_map(|b| cell_of(b, &index).map(|c| (b, c)));
        Operand {
            block: drawn.map(|(b, _)| b.name.clone()),
            cell: drawn.map(|(_, c)| c),
            tensor: tensor.to_string(),
            index,
            value,
        }
    }

    fn row(&self, tensor: &str, prefix: &[usize], len: usize) -> Vec<Operand> {
        (0..len).map(|i| self.operand(tensor, [prefix, &[i]].concat())).collect()
    }
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

/// "block1.q" -> (Some(1), "q"); "ln_f" -> (None, "ln_f").
fn split_layer(tensor: &str) -> (Option<usize>, &str) {
    tensor
        .strip_prefix("block")
        .and_then(|rest| rest.split_once('.'))
        .and_then(|(layer, name)| layer.parse().ok().map(|layer| (Some(layer), name)))
        .unwrap_or((None, tensor))
}

pub fn explain(sources: &Sources, block_name: &str, cell: [u32; 3]) -> Result<Explanation, ExplainError> {
    let block = sources.layout.block(block_name).ok_or_else(|| ExplainError::UnknownBlock(block_name.to_string()))?;
    if (0..3).any(|a| cell[a] >= block.cells[a]) {
        return Err(ExplainError::OutsideBlock { block: block.name.clone(), cell, cells: block.cells });
    }
    let index = block.tensor_index(cell);
    let t_len = sources.activations.tokens.len();
    let index_names = index_names(&block.tensor, index.len());
    // Positions past the input are drawn (the layout spans the whole context) but never computed.
    if block.kind != BlockKind::Weight && block.kind != BlockKind::Tied {
        for (&i, &name) in index.iter().zip(&index_names) {
            if (name == "t" || name == "t2") && i >= t_len {
                return Err(ExplainError::Masked(format!(
                    "{name} = {i} is beyond the input of {t_len} tokens: nothing is computed there"
                )));
            }
        }
    }
    let value = sources.value(&block.tensor, &index).unwrap_or(f32::NAN);
    let mut explanation = Explanation {
        block: block.name.clone(),
        cell,
        tensor: block.tensor.clone(),
        index: index.clone(),
        index_names,
        value,
        op: block.op,
        terms: Vec::new(),
        operands: BTreeMap::new(),
        formula: String::new(),
    };
    let (layer, name) = split_layer(&block.tensor);
    let c = sources.layout.config.n_embd;
    let a_size = sources.layout.config.head_size();
    let layer_tensor = |suffix: &str| match layer {
        Some(i) => format!("block{i}.{suffix}"),
        None => suffix.to_string(),
    };
    let parameter = |suffix: &str| format!("transformer.h.{}.{suffix}", layer.unwrap_or(0));

    match block.op {
        Op::Param => {
            explanation.formula = format!(
                "a learned parameter: {}{:?} = {}, set by training, the same for every input",
                block.tensor,
                index,
                fmt(value)
            );
        }
        Op::Input => {
            let token = value as usize;
            explanation.formula = format!("input token {} at t = {}: index {token}", token_letter(token), index[0]);
        }
        Op::Embedding => {
            let (t, ch) = (index[0], index[1]);
            let token = sources.activations.tokens[t];
            let tok = sources.operand("transformer.wte.weight", vec![token, ch]);
            let pos = sources.operand("transformer.wpe.weight", vec![t, ch]);
            explanation.formula = format!(
                "token_embedding[{} = {token}, c = {ch}] + position_embedding[t = {t}, c = {ch}] = {} + {} = {}",
                token_letter(token),
                fmt(tok.value),
                fmt(pos.value),
                fmt(value)
            );
            explanation.operands.insert("token_embedding", tok);
            explanation.operands.insert("position_embedding", pos);
        }
        Op::Matmul => {
            let t = index[0];
            let (input, weight, bias, row) = match name {
                "q" | "k" | "v" => {
                    let part = ["q", "k", "v"].iter().position(|p| *p == name).expect("q, k or v");
                    let row = part * c + index[0] * a_size + index[2];
                    (layer_tensor("ln1"), parameter("attn.c_attn.weight"), Some(parameter("attn.c_attn.bias")), row)
                }
                "qkv" => (layer_tensor("ln1"), parameter("attn.c_attn.weight"), Some(parameter("attn.c_attn.bias")), index[1]),
                "attn_proj" => (layer_tensor("y"), parameter("attn.c_proj.weight"), Some(parameter("attn.c_proj.bias")), index[1]),
                "fc" => (layer_tensor("ln2"), parameter("mlp.c_fc.weight"), Some(parameter("mlp.c_fc.bias")), index[1]),
                "mlp" => (layer_tensor("gelu"), parameter("mlp.c_proj.weight"), Some(parameter("mlp.c_proj.bias")), index[1]),
                _ => {
                    // logits: the final norm times the LM head, which has no bias (and may be wte itself).
                    let head = if sources.layout.config.tied_lm_head { "transformer.wte.weight" } else { "lm_head.weight" };
                    ("ln_f".to_string(), head.to_string(), None, index[1])
                }
            };
            // q, k, v are [H, T, A]: their token is the middle index.
            let t = if matches!(name, "q" | "k" | "v") { index[1] } else { t };
            let width = sources.weights.tensors[&weight].shape[1];
            let inputs = sources.row(&input, &[t], width);
            let weights = sources.row(&weight, &[row], width);
            let mut sum = 0.0f64;
            for (a, w) in inputs.into_iter().zip(weights) {
                sum += a.value as f64 * w.value as f64;
                explanation.terms.push(BTreeMap::from([("a", a), ("w", w)]));
            }
            let bias_text = match bias {
                Some(bias) => {
                    let operand = sources.operand(&bias, vec![row]);
                    let text = format!("{} + ", fmt(operand.value));
                    explanation.operands.insert("bias", operand);
                    text
                }
                None => String::new(),
            };
            explanation.formula = format!(
                "{}Σ a_i·w_i over {width} terms = {bias_text}({}) = {}",
                if bias_text.is_empty() { "" } else { "bias + " },
                dot_preview(&explanation.terms, "a", "w", sum),
                fmt(value)
            );
        }
        Op::ResidualAdd => {
            let residual = match (name, layer) {
                ("attn_resid", Some(0)) => "x".to_string(),
                ("attn_resid", Some(i)) => format!("block{}.mlp_resid", i - 1),
                _ => layer_tensor("attn_resid"),
            };
            let branch = if name == "attn_resid" { layer_tensor("attn_proj") } else { layer_tensor("mlp") };
            let a = sources.operand(&residual, index.clone());
            let b = sources.operand(&branch, index.clone());
            explanation.formula = format!("{} + {} = {} (the residual stream plus {})", fmt(a.value), fmt(b.value), fmt(value), b.tensor);
            explanation.operands.insert("a", a);
            explanation.operands.insert("b", b);
        }
        Op::LnStats => {
            let (norm_input, prefix) = ln_input(name, layer, sources.layout.config.n_layer);
            let row = sources.row(&norm_input, &[index[0]], c);
            let mean: f64 = row.iter().map(|o| o.value as f64).sum::<f64>() / c as f64;
            if name.ends_with("_mean") {
                explanation.formula = format!("E[x] = Σ x_i / {c} = {}", fmt(mean as f32));
            } else {
                let mean_operand = sources.operand(&format!("{prefix}_mean"), vec![index[0]]);
                explanation.formula = format!(
                    "sqrt(Var[x] + ε) = sqrt(Σ (x_i − {})² / {c} + {LN_EPS:e}) = {}",
                    fmt(mean_operand.value),
                    fmt(value)
                );
                explanation.operands.insert("mean", mean_operand);
            }
            explanation.terms = row.into_iter().map(|x| BTreeMap::from([("x", x)])).collect();
        }
        Op::LayerNorm => {
            let (norm_input, prefix) = ln_input(name, layer, sources.layout.config.n_layer);
            let (t, ch) = (index[0], index[1]);
            let param_prefix = match layer {
                Some(_) => parameter(if name == "ln1" { "ln_1" } else { "ln_2" }),
                None => "transformer.ln_f".to_string(),
            };
            let x = sources.operand(&norm_input, vec![t, ch]);
            let mean = sources.operand(&format!("{prefix}_mean"), vec![t]);
            let std = sources.operand(&format!("{prefix}_std"), vec![t]);
            let gamma = sources.operand(&format!("{param_prefix}.weight"), vec![ch]);
            let beta = sources.operand(&format!("{param_prefix}.bias"), vec![ch]);
            explanation.formula = format!(
                "(x − μ) / σ · γ + β = ({} − {}) / {} · {} + {} = {}",
                fmt(x.value),
                fmt(mean.value),
                fmt(std.value),
                fmt(gamma.value),
                fmt(beta.value),
                fmt(value)
            );
            for (role, operand) in [("x", x), ("mean", mean), ("std", std), ("gamma", gamma), ("beta", beta)] {
                explanation.operands.insert(role, operand);
            }
        }
        Op::AttnScore => {
            let (h, t, t2) = (index[0], index[1], index[2]);
            if t2 > t {
                return Err(ExplainError::Masked(format!(
                    "the query at t = {t} may not look at the later key t2 = {t2}; the causal mask sets the score to −∞ so its softmax weight is 0"
                )));
            }
            let q = sources.row(&layer_tensor("q"), &[h, t], a_size);
            let k = sources.row(&layer_tensor("k"), &[h, t2], a_size);
            let mut sum = 0.0f64;
            for (q, k) in q.into_iter().zip(k) {
                sum += q.value as f64 * k.value as f64;
                explanation.terms.push(BTreeMap::from([("q", q), ("k", k)]));
            }
            explanation.formula = format!(
                "q·k / sqrt(A) = ({}) / sqrt({a_size}) = {}",
                dot_preview(&explanation.terms, "q", "k", sum),
                fmt(value)
            );
        }
        Op::SoftmaxStats => {
            let (scores, prefix) = softmax_input(name, layer);
            let row_index: Vec<usize> = index.clone();
            let row = softmax_row(sources, &scores, &row_index);
            if name.ends_with("max") {
                explanation.formula = format!("max over the row's {} unmasked scores = {}", row.len(), fmt(value));
            } else {
                let max = sources.operand(&format!("{prefix}_max"), row_index.clone());
                explanation.formula = format!("Σ exp(x − max) = Σ exp(x − {}) = {}", fmt(max.value), fmt(value));
                explanation.operands.insert("max", max);
            }
            explanation.terms = row.into_iter().map(|x| BTreeMap::from([("x", x)])).collect();
        }
        Op::Softmax => {
            let (scores, prefix) = softmax_input(name, layer);
            let (row_index, last) = index.split_at(index.len() - 1);
            if name == "att_sm" && last[0] > row_index[1] {
                return Err(ExplainError::Masked(format!(
                    "the query at t = {} gives the later key t2 = {} no weight: its score is masked to −∞, so exp(−∞) = 0",
                    row_index[1], last[0]
                )));
            }
            let x = sources.operand(&scores, index.clone());
            let max = sources.operand(&format!("{prefix}_max"), row_index.to_vec());
            let sumexp = sources.operand(&format!("{prefix}_sumexp"), row_index.to_vec());
            explanation.formula = format!(
                "exp(x − max) / Σ exp(x − max) = exp({} − {}) / {} = {}",
                fmt(x.value),
                fmt(max.value),
                fmt(sumexp.value),
                fmt(value)
            );
            for (role, operand) in [("x", x), ("max", max), ("sumexp", sumexp)] {
                explanation.operands.insert(role, operand);
            }
        }
        Op::Gelu => {
            let x = sources.operand(&layer_tensor("fc"), index.clone());
            explanation.formula = format!(
                "GELU(x) = 0.5·x·(1 + tanh(sqrt(2/π)·(x + 0.044715·x³))) with x = {} gives {}",
                fmt(x.value),
                fmt(value)
            );
            explanation.operands.insert("x", x);
        }
        Op::AttnValue | Op::Concat => {
            // The head's slice of y: channel c of y is channel c mod A of head c / A.
            let (t, ch) = (index[0], index[1]);
            let (h, a) = (ch / a_size, ch % a_size);
            let weights = sources.row(&layer_tensor("att_sm"), &[h, t], t + 1);
            let values: Vec<Operand> = (0..=t).map(|t2| sources.operand(&layer_tensor("v"), vec![h, t2, a])).collect();
            let mut sum = 0.0f64;
            for (p, v) in weights.into_iter().zip(values) {
                sum += p.value as f64 * v.value as f64;
                explanation.terms.push(BTreeMap::from([("p", p), ("v", v)]));
            }
            explanation.formula = format!(
                "Σ softmax(t, t2)·v(t2) over t2 ≤ {t} = {} (head {h}, channel {a})",
                dot_preview(&explanation.terms, "p", "v", sum)
            );
        }
    }
    Ok(explanation)
}

/// The tensor a norm reads and the prefix of its statistics: `block0.ln1_mean` -> (`x`, `block0.ln1`).
fn ln_input(name: &str, layer: Option<usize>, n_layer: usize) -> (String, String) {
    let norm = name.trim_end_matches("_mean").trim_end_matches("_std");
    match (norm, layer) {
        ("ln1", Some(0)) => ("x".into(), "block0.ln1".into()),
        ("ln1", Some(i)) => (format!("block{}.mlp_resid", i - 1), format!("block{i}.ln1")),
        ("ln2", Some(i)) => (format!("block{i}.attn_resid"), format!("block{i}.ln2")),
        // ln_f reads the last layer's output; its layer is not in its name.
        _ => (format!("block{}.mlp_resid", n_layer - 1), "ln_f".into()),
    }
}

/// The scores a softmax reads and the prefix of its statistics.
fn softmax_input(name: &str, layer: Option<usize>) -> (String, String) {
    match layer {
        Some(i) if name.starts_with("att") => (format!("block{i}.att"), format!("block{i}.att")),
        _ => ("logits".into(), "logits".into()),
    }
}

/// The unmasked scores of one softmax row: keys up to the query for attention, every token for logits.
fn softmax_row(sources: &Sources, scores: &str, row_index: &[usize]) -> Vec<Operand> {
    let len = match row_index.len() {
        2 => row_index[1] + 1,
        _ => sources.layout.config.vocab_size,
    };
    sources.row(scores, row_index, len)
}

fn index_names(tensor: &str, rank: usize) -> Vec<&'static str> {
    let (_, name) = split_layer(tensor);
    let names: &[&'static str] = match name {
        "q" | "k" | "v" => &["h", "t", "a"],
        "att" | "att_sm" => &["h", "t", "t2"],
        "att_max" | "att_sumexp" => &["h", "t"],
        "tokens" => &["t"],
        "logits" | "probs" => &["t", "v"],
        n if n.ends_with("_mean") || n.ends_with("_std") || n == "logits_max" || n == "logits_sumexp" => &["t"],
        "transformer.wte.weight" | "lm_head.weight" => &["v", "c"],
        "transformer.wpe.weight" => &["t", "c"],
        n if n.ends_with(".weight") && rank == 2 => &["out", "in"],
        n if n.contains("transformer.") => &["c"],
        "fc" | "gelu" => &["t", "4c"],
        _ => &["t", "c"],
    };
    names.iter().copied().take(rank).collect()
}

fn fmt(value: f32) -> String {
    format!("{value:.4}")
}

/// "0.12·-0.30 + 0.05·0.91 + … = 1.2345": the first terms of a dot product and its sum.
fn dot_preview(terms: &[BTreeMap<&'static str, Operand>], left: &str, right: &str, sum: f64) -> String {
    const SHOWN: usize = 3;
    let mut parts: Vec<String> =
        terms.iter().take(SHOWN).map(|term| format!("{}·{}", fmt(term[left].value), fmt(term[right].value))).collect();
    if terms.len() > SHOWN {
        parts.push("…".into());
    }
    format!("{} = {}", parts.join(" + "), fmt(sum as f32))
}
