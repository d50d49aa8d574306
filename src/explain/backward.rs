//! How a cell's gradient was calculated, in gradient mode: the chain rule from the gradients of
//! what the cell feeds, with their numbers, for every operation of GPT-2's forward pass.
//!
//! ∂L/∂x_j = Σ_i ∂L/∂y_i · ∂y_i/∂x_j over every y that x feeds. Each rule below writes that sum for
//! one kind of operation as terms (the largest lit in their blocks, as the forward explanation
//! does) and, where a residual connection adds a gradient unchanged, one constant part. The
//! gradients come from burn's autodiff (`train::step`); these sums are computed again here from
//! the pass's values, in f64, and equal them (tests/all/grad.rs).

use std::collections::BTreeMap;

use serde::Serialize;

use super::{ExplainError, Explanation, Operand, Sources, kept_terms};
use crate::model::names;

/// The chain rule of one gradient cell: its rule, the product of each term shown, and the whole.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Backward {
    /// The operation the gradient flows back through, in words.
    pub rule: &'static str,
    /// Each kept term's product, in the order of `Explanation::terms`.
    pub products: Vec<f64>,
    /// A part added unchanged (the gradient a residual connection carries straight back), else 0.
    pub constant: f64,
    /// The constant plus every term's product, kept or not.
    pub sum: f64,
    /// For a weight: AdamW's step on it, with its numbers.
    pub step: Option<WeightStep>,
}

/// AdamW's update of one weight, as `train` takes it: the gradient clipped (burn scales each
/// tensor's gradient to norm 1 at most), the moments' running averages, their bias corrections,
/// the decay, and the weight after.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WeightStep {
    pub before: f32,
    pub clip: f32,
    pub m_before: f32,
    pub v_before: f32,
    /// The step's number, from 1: the bias corrections' exponent.
    pub t: usize,
    pub m: f32,
    pub v: f32,
    pub m_hat: f64,
    pub v_hat: f64,
    pub learning_rate: f64,
    /// The weight after, by the formula from the numbers above.
    pub formula_after: f64,
    /// The weight after, as the optimizer left it.
    pub after: f32,
}

/// burn's AdamW constants (its defaults, held as f32) and training's weight decay.
const BETA_1: f32 = 0.9;
const BETA_2: f32 = 0.999;
const EPSILON: f32 = 1e-5;

/// The weight `name`'s step at `index`, when the pass took a training step.
fn weight_step(sources: &Sources, name: &str, index: &[usize]) -> Option<WeightStep> {
    let training = sources.activations.training.as_ref()?;
    let update = &training.update;
    let at = |tensor: Option<&crate::model::NamedTensor>| tensor.and_then(|t| t.get(index));
    let before = at(sources.weights.tensors.get(name))?;
    let after = at(update.weights.tensors.get(name))?;
    let mut rows = 0;
    let clip = update.clip.get(name)?.iter().find_map(|&(block_rows, factor)| {
        rows += block_rows;
        (index.len() == 1 || index[0] < rows).then_some(factor)
    })?;
    let (m_before, v_before) =
        (at(update.before.m.get(name)).unwrap_or(0.0), at(update.before.v.get(name)).unwrap_or(0.0));
    let (m, v) = (at(update.after.m.get(name))?, at(update.after.v.get(name))?);
    let t = update.after.step;
    let (beta_1, beta_2) = (f64::from(BETA_1), f64::from(BETA_2));
    let m_hat = f64::from(m) / (1.0 - beta_1.powi(t as i32));
    let v_hat = f64::from(v) / (1.0 - beta_2.powi(t as i32));
    let lr = update.learning_rate;
    let decay = lr * f64::from(crate::train::WEIGHT_DECAY);
    let formula_after = f64::from(before) * (1.0 - decay) - lr * m_hat / (v_hat.sqrt() + f64::from(EPSILON));
    Some(WeightStep {
        before,
        clip,
        m_before,
        v_before,
        t,
        m,
        v,
        m_hat,
        v_hat,
        learning_rate: lr,
        formula_after,
        after,
    })
}

/// AdamW's step in words and numbers, for the card.
fn step_text(step: &WeightStep, g: f32) -> String {
    let clipped = f64::from(g) * f64::from(step.clip);
    format!(
        "AdamW, step {t}: g' = g · clip = {} · {:.4} = {}\n\
         m = 0.9·m + 0.1·g' = 0.9·{} + 0.1·{} = {}\n\
         v = 0.999·v + 0.001·g'² = 0.999·{} + 0.001·{} = {}\n\
         bias-corrected: m_c = m / (1 − 0.9^{t}) = {}, v_c = v / (1 − 0.999^{t}) = {}\n\
         w ← w·(1 − lr·0.1) − lr·m_c / (√v_c + 1e-5), lr = {}\n\
         = {}·(1 − {}) − {}·{} / ({} + 1e-5) = {} (the optimizer: {})",
        small(g as f64),
        step.clip,
        small(clipped),
        small(f64::from(step.m_before)),
        small(clipped),
        small(f64::from(step.m)),
        small(f64::from(step.v_before)),
        small(clipped * clipped),
        small(f64::from(step.v)),
        small(step.m_hat),
        small(step.v_hat),
        step.learning_rate,
        small(f64::from(step.before)),
        small(step.learning_rate * f64::from(crate::train::WEIGHT_DECAY)),
        step.learning_rate,
        small(step.m_hat),
        small(step.v_hat.sqrt()),
        small(step.formula_after),
        small(f64::from(step.after)),
        t = step.t,
    )
}

/// A number for the card: four decimals, or three significant digits when smaller.
pub fn small(value: f64) -> String {
    if value == 0.0 || value.abs() >= 1e-3 { format!("{value:.4}") } else { format!("{value:.3e}") }
}

/// One term of a chain-rule sum: its operands by role, and its product.
struct Term {
    operands: Vec<(&'static str, Operand)>,
    product: f64,
}

/// A rule's result before it becomes an `Explanation`.
struct Chain {
    rule: &'static str,
    terms: Vec<Term>,
    constant: Option<(&'static str, Operand)>,
    operands: Vec<(&'static str, Operand)>,
    /// The formula's words before the numbers, e.g. "Σ_v ∂L/∂logits[t, v] · W[v, c]".
    formula: String,
}

impl Sources<'_> {
    /// The gradient of a tensor's element as an operand, drawn in the cell that draws the tensor
    /// (gradient mode draws each block's gradient in its values' place).
    fn grad(&self, tensor: &str, index: Vec<usize>) -> Operand {
        let value = self.activations.get(&format!("{tensor}.grad")).and_then(|t| t.get(&index)).unwrap_or(f32::NAN);
        Operand { value, tensor: format!("{tensor}.grad"), ..self.operand(tensor, index) }
    }

    fn val(&self, tensor: &str, index: &[usize]) -> f64 {
        f64::from(self.value(tensor, index).unwrap_or(f32::NAN))
    }
}

/// Explains the gradient of the cell `cell` of `block_name` in a pass that took a training step.
pub fn explain_gradient(sources: &Sources, block_name: &str, cell: [u32; 3]) -> Result<Explanation, ExplainError> {
    let (block, index, index_names) = super::find_cell(sources, block_name, cell)?;
    let no_gradient = || {
        ExplainError::Masked(format!(
            "{} has no gradient: the pass does not go on with it (a statistic, a distribution shown, or the input)",
            block.tensor
        ))
    };
    let gradient = sources.activations.get(&format!("{}.grad", block.tensor)).ok_or_else(no_gradient)?;
    let t_len = sources.activations.tokens.len();
    for (&i, &name) in index.iter().zip(&index_names) {
        let beyond = (name == "t" || name == "t2") && i >= t_len && sources.activations.get(&block.tensor).is_some();
        if beyond {
            return Err(ExplainError::Masked(format!("{name} = {i} is beyond the input of {t_len} tokens")));
        }
    }
    let value = gradient.get(&index).unwrap_or(f32::NAN);
    if !sources.layout.config.arch.is_gpt2() {
        return Err(ExplainError::Masked(format!(
            "∂L/∂cell = {}: the card writes out GPT-2's chain rules; a Llama's are not written yet",
            small(f64::from(value))
        )));
    }
    let chain = chain(sources, &block.tensor, &index).ok_or_else(no_gradient)?;
    let step = weight_step(sources, &block.tensor, &index);
    let mut explanation = finish(block, cell, index, index_names, value, chain);
    if let (Some(step), Some(backward)) = (step, explanation.backward.as_mut()) {
        explanation.formula += &format!("\n{}", step_text(&step, value));
        backward.step = Some(step);
    }
    Ok(explanation)
}

fn finish(
    block: &crate::layout::Block,
    cell: [u32; 3],
    index: Vec<usize>,
    index_names: Vec<&'static str>,
    value: f32,
    chain: Chain,
) -> Explanation {
    let constant = chain.constant.as_ref().map_or(0.0, |(_, operand)| f64::from(operand.value));
    let sum = constant + chain.terms.iter().map(|term| term.product).sum::<f64>();
    let kept = kept_terms(&chain.terms.iter().map(|term| term.product.abs() as f32).collect::<Vec<_>>());
    let products: Vec<f64> = kept.iter().map(|&i| chain.terms[i].product).collect();
    let terms_total = chain.terms.len();
    let mut terms = chain.terms;
    let shown: Vec<BTreeMap<&'static str, Operand>> =
        kept.iter().map(|&i| std::mem::take(&mut terms[i].operands).into_iter().collect()).collect();
    let preview = preview(&products, terms_total);
    let constant_text = chain
        .constant
        .as_ref()
        .map_or(String::new(), |(role, operand)| format!("{role} {} + ", small(f64::from(operand.value))));
    let formula = format!(
        "∂L/∂{}{index:?} = {}\n= {constant_text}{preview} = {} (burn's autodiff, in f32: {})",
        block.tensor,
        chain.formula,
        small(sum),
        small(f64::from(value))
    );
    let mut operands: BTreeMap<&'static str, Operand> = chain.operands.into_iter().collect();
    operands.extend(chain.constant);
    Explanation {
        block: block.name.clone(),
        cell,
        tensor: block.tensor.clone(),
        index,
        index_names,
        value,
        op: block.op,
        terms: shown,
        terms_total,
        operands,
        formula,
        backward: Some(Backward { rule: chain.rule, products, constant, sum, step: None }),
    }
}

/// "0.0123 + -0.0040 + … (48 terms)": the first products shown.
fn preview(products: &[f64], total: usize) -> String {
    const SHOWN: usize = 3;
    if total == 0 {
        return "0".into();
    }
    let mut parts: Vec<String> = products.iter().take(SHOWN).map(|&p| small(p)).collect();
    if total > SHOWN {
        parts.push(format!("… ({total} terms)"));
    }
    parts.join(" + ")
}

/// The chain rule for one tensor of GPT-2's pass (None for a tensor without a gradient).
fn chain(sources: &Sources, tensor: &str, index: &[usize]) -> Option<Chain> {
    if let Some(parameter) = tensor.strip_prefix("transformer.h.") {
        let (layer, name) = parameter.split_once('.')?;
        return layer_weight(sources, layer.parse().ok()?, name, index);
    }
    match names::split_layer(tensor) {
        (Some(layer), name) => layer_activation(sources, layer, name, index),
        (None, _) => outer(sources, tensor, index),
    }
}

/// The tensors outside the layers: embeddings, the final norm and the output.
fn outer(sources: &Sources, tensor: &str, index: &[usize]) -> Option<Chain> {
    let config = &sources.layout.config;
    match tensor {
        "logits" => Some(cross_entropy(sources, index)),
        "ln_f" => Some(matmul_input(sources, "logits", names::lm_head(config), index[0], index[1])),
        "x" => Some(stream(sources, index, Some("block0.attn_resid"), "block0.ln1", &names::layer_param(0, "ln_1"))),
        t if t == names::WTE => Some(token_embedding(sources, index)),
        t if t == names::WPE => Some(position_embedding(sources, index)),
        t if t == names::LM_HEAD => Some(matmul_weight(sources, "logits", "ln_f", index)),
        t if t == format!("{}.weight", names::LN_F) => Some(norm_gamma(sources, "ln_f", index[0])),
        t if t == format!("{}.bias", names::LN_F) => Some(norm_beta(sources, "ln_f", index[0])),
        _ => None,
    }
}

/// A layer's activations.
fn layer_activation(sources: &Sources, layer: usize, name: &str, index: &[usize]) -> Option<Chain> {
    let n_layer = sources.layout.config.n_layer;
    let l = |name: &str| names::layer(layer, name);
    let p = |name: &str| names::layer_param(layer, name);
    Some(match name {
        "ln1" => matmul_input(sources, &l("qkv"), &p("attn.c_attn.weight"), index[0], index[1]),
        "q" | "k" => score_input(sources, layer, name, index),
        "v" => value_input(sources, layer, index),
        "att" => softmax_input(sources, layer, index),
        "att_sm" => attention_weights(sources, layer, index),
        "y" => matmul_input(sources, &l("attn_proj"), &p("attn.c_proj.weight"), index[0], index[1]),
        "attn_proj" => passes(sources, &l("attn_resid"), index, "residual add: the branch's output joins the stream"),
        "attn_resid" => stream(sources, index, Some(&l("mlp_resid")), &l("ln2"), &p("ln_2")),
        "ln2" => matmul_input(sources, &l("fc"), &p("mlp.c_fc.weight"), index[0], index[1]),
        "fc" => gelu_input(sources, layer, index),
        "gelu" => matmul_input(sources, &l("mlp"), &p("mlp.c_proj.weight"), index[0], index[1]),
        "mlp" => passes(sources, &l("mlp_resid"), index, "residual add: the branch's output joins the stream"),
        "mlp_resid" if layer + 1 == n_layer => stream(sources, index, None, "ln_f", names::LN_F),
        "mlp_resid" => {
            let next = |name: &str| names::layer(layer + 1, name);
            stream(sources, index, Some(&next("attn_resid")), &next("ln1"), &names::layer_param(layer + 1, "ln_1"))
        }
        _ => return None,
    })
}

/// A layer's weights: each Linear's weight and bias, each LayerNorm's γ and β.
fn layer_weight(sources: &Sources, layer: usize, name: &str, index: &[usize]) -> Option<Chain> {
    let l = |name: &str| names::layer(layer, name);
    let (module, part) = name.rsplit_once('.')?;
    let linear = match module {
        "attn.c_attn" => Some(("qkv", "ln1")),
        "attn.c_proj" => Some(("attn_proj", "y")),
        "mlp.c_fc" => Some(("fc", "ln2")),
        "mlp.c_proj" => Some(("mlp", "gelu")),
        _ => None,
    };
    if let Some((output, input)) = linear {
        return Some(match part {
            "weight" => matmul_weight(sources, &l(output), &l(input), index),
            _ => bias(sources, &l(output), index[0]),
        });
    }
    let norm = match module {
        "ln_1" => l("ln1"),
        "ln_2" => l("ln2"),
        _ => return None,
    };
    Some(if part == "weight" { norm_gamma(sources, &norm, index[0]) } else { norm_beta(sources, &norm, index[0]) })
}

/// Positions whose logits the loss scores, and the token each should predict.
fn scored(sources: &Sources) -> (usize, Vec<usize>) {
    match &sources.activations.training {
        Some(training) => (training.example.first, training.example.targets.clone()),
        None => (0, Vec::new()),
    }
}

/// The loss's own: softmax with cross-entropy, ∂L/∂logits[t, v] = (p_v − [v = target]) / n.
fn cross_entropy(sources: &Sources, index: &[usize]) -> Chain {
    let (t, v) = (index[0], index[1]);
    let (first, targets) = scored(sources);
    let logits = sources.activations.get("logits");
    let row: Vec<f64> = logits.map_or(Vec::new(), |logits| {
        let width = logits.shape[1];
        logits.data[t * width..(t + 1) * width].iter().map(|&x| f64::from(x)).collect()
    });
    let max = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let total: f64 = row.iter().map(|x| (x - max).exp()).sum();
    let p = ((row[v] - max).exp()) / total;
    let n = targets.len() as f64;
    let logit = sources.operand("logits", index.to_vec());
    let mut chain = Chain {
        rule: "softmax with cross-entropy",
        terms: Vec::new(),
        constant: None,
        operands: vec![("logit", logit)],
        formula: String::new(),
    };
    match t.checked_sub(first).and_then(|k| targets.get(k)) {
        Some(&target) => {
            let hit = if v == target { 1.0 } else { 0.0 };
            chain.formula = format!(
                "(p[v] − [v = target]) / n, p = softmax(logits[t]) = {p:.4}, target {target}, n = {}",
                targets.len()
            );
            chain.terms.push(Term { operands: Vec::new(), product: (p - hit) / n });
        }
        None => chain.formula = "0: the loss does not score this position's prediction".into(),
    }
    chain
}

/// An input of a Linear layer: ∂L/∂x[t, i] = Σ_o ∂L/∂y[t, o] · W[o, i].
fn matmul_input(sources: &Sources, output: &str, weight: &str, t: usize, i: usize) -> Chain {
    let outputs = sources.weights.tensors.get(weight).map_or(0, |w| w.shape[0]);
    let terms = (0..outputs)
        .map(|o| {
            let g = sources.grad(output, vec![t, o]);
            let w = sources.operand(weight, vec![o, i]);
            let product = f64::from(g.value) * f64::from(w.value);
            Term { operands: vec![("g", g), ("w", w)], product }
        })
        .collect();
    let formula = format!("Σ_o ∂L/∂{output}[t, o] · W[o, i] over {outputs} outputs (W: {weight})");
    Chain { rule: "matrix multiply, back to its input", terms, constant: None, operands: Vec::new(), formula }
}

/// A Linear layer's weight: ∂L/∂W[o, i] = Σ_t ∂L/∂y[t, o] · x[t, i].
fn matmul_weight(sources: &Sources, output: &str, input: &str, index: &[usize]) -> Chain {
    let (o, i) = (index[0], index[1]);
    let terms = (0..sources.activations.tokens.len())
        .map(|t| {
            let g = sources.grad(output, vec![t, o]);
            let x = sources.operand(input, vec![t, i]);
            let product = f64::from(g.value) * f64::from(x.value);
            Term { operands: vec![("g", g), ("x", x)], product }
        })
        .collect();
    let formula = format!("Σ_t ∂L/∂{output}[t, o] · {input}[t, i] over every position");
    Chain { rule: "matrix multiply, back to its weight", terms, constant: None, operands: Vec::new(), formula }
}

/// A bias: ∂L/∂b[o] = Σ_t ∂L/∂y[t, o].
fn bias(sources: &Sources, output: &str, o: usize) -> Chain {
    let terms = (0..sources.activations.tokens.len())
        .map(|t| {
            let g = sources.grad(output, vec![t, o]);
            Term { product: f64::from(g.value), operands: vec![("g", g)] }
        })
        .collect();
    let formula = format!("Σ_t ∂L/∂{output}[t, o]: the bias is added at every position");
    Chain { rule: "bias", terms, constant: None, operands: Vec::new(), formula }
}

/// A tensor added unchanged into `sum`: its gradient is the sum's.
fn passes(sources: &Sources, sum: &str, index: &[usize], rule: &'static str) -> Chain {
    let g = sources.grad(sum, index.to_vec());
    let formula = format!("∂L/∂{sum} at the same place: an addition passes its gradient on unchanged");
    Chain {
        rule,
        terms: vec![Term { product: f64::from(g.value), operands: vec![("g", g)] }],
        constant: None,
        operands: Vec::new(),
        formula,
    }
}

/// The residual stream: the gradient of the stream after the next block (carried straight back by
/// the residual connection), plus the layer norm's that reads it.
fn stream(sources: &Sources, index: &[usize], next: Option<&str>, norm_out: &str, norm: &str) -> Chain {
    let mut chain = norm_input(sources, index, norm_out, norm);
    if let Some(next) = next {
        chain.rule = "residual stream: straight back, plus through the layer norm";
        chain.constant = Some(("residual", sources.grad(next, index.to_vec())));
        chain.formula = format!("∂L/∂{next}[t, c] (the residual connection) + {}", chain.formula);
    }
    chain
}

/// A layer norm's input: Σ_k ∂L/∂y[t, k] · γ_k / σ · ([k = c] − 1/C − x̂_k · x̂_c / C).
fn norm_input(sources: &Sources, index: &[usize], norm_out: &str, norm: &str) -> Chain {
    let (t, c) = (index[0], index[1]);
    let width = sources.layout.config.n_embd;
    let stats = |stat: &str| format!("{norm_out}_{stat}");
    let (mean, std) = (sources.val(&stats("mean"), &[t]), sources.val(&stats("std"), &[t]));
    let input = norm_source(norm_out, sources.layout.config.n_layer);
    let normalised = |k: usize| (sources.val(&input, &[t, k]) - mean) / std;
    let terms = (0..width)
        .map(|k| {
            let g = sources.grad(norm_out, vec![t, k]);
            let gamma = sources.operand(&format!("{norm}.weight"), vec![k]);
            let delta = if k == c { 1.0 } else { 0.0 };
            let local = f64::from(gamma.value) / std
                * (delta - 1.0 / width as f64 - normalised(k) * normalised(c) / width as f64);
            Term { product: f64::from(g.value) * local, operands: vec![("g", g), ("gamma", gamma)] }
        })
        .collect();
    let formula = format!(
        "Σ_k ∂L/∂{norm_out}[t, k] · γ_k / σ · ([k = c] − 1/C − x̂_k·x̂_c / C), σ = {std:.4}, x̂_c = {:.4}",
        normalised(c)
    );
    let operands = vec![("std", sources.operand(&stats("std"), vec![t]))];
    Chain { rule: "layer norm, back to its input", terms, constant: None, operands, formula }
}

/// The stream a layer norm reads: `block2.ln1` reads the stream after layer 1, `ln_f` the last.
fn norm_source(norm_out: &str, n_layer: usize) -> String {
    match names::split_layer(norm_out) {
        (Some(0), "ln1") => "x".into(),
        (Some(layer), "ln1") => names::layer(layer - 1, "mlp_resid"),
        (Some(layer), _) => names::layer(layer, "attn_resid"),
        (None, _) => names::layer(n_layer - 1, "mlp_resid"),
    }
}

/// A layer norm's scale: ∂L/∂γ_c = Σ_t ∂L/∂y[t, c] · x̂[t, c].
fn norm_gamma(sources: &Sources, norm_out: &str, c: usize) -> Chain {
    let input = norm_source(norm_out, sources.layout.config.n_layer);
    let stat = |stat: &str, t: usize| sources.val(&format!("{norm_out}_{stat}"), &[t]);
    let terms = (0..sources.activations.tokens.len())
        .map(|t| {
            let g = sources.grad(norm_out, vec![t, c]);
            let x = sources.operand(&input, vec![t, c]);
            let normalised = (f64::from(x.value) - stat("mean", t)) / stat("std", t);
            Term { product: f64::from(g.value) * normalised, operands: vec![("g", g), ("x", x)] }
        })
        .collect();
    let formula = format!("Σ_t ∂L/∂{norm_out}[t, c] · x̂[t, c], x̂ = (x − μ) / σ of {input}");
    Chain { rule: "layer norm, back to its scale γ", terms, constant: None, operands: Vec::new(), formula }
}

/// A layer norm's shift: ∂L/∂β_c = Σ_t ∂L/∂y[t, c].
fn norm_beta(sources: &Sources, norm_out: &str, c: usize) -> Chain {
    Chain { rule: "layer norm, back to its shift β", ..bias(sources, norm_out, c) }
}

/// q or k of an attention score: ∂L/∂q[h, t, a] = Σ_{s ≤ t} ∂L/∂att[h, t, s] · k[h, s, a] / √A, and
/// ∂L/∂k[h, s, a] = Σ_{t ≥ s} ∂L/∂att[h, t, s] · q[h, t, a] / √A; a masked score passes nothing.
fn score_input(sources: &Sources, layer: usize, name: &str, index: &[usize]) -> Chain {
    let (h, own, a) = (index[0], index[1], index[2]);
    let scale = 1.0 / (sources.layout.config.head_size() as f64).sqrt();
    let (att, other) = (names::layer(layer, "att"), names::layer(layer, if name == "q" { "k" } else { "q" }));
    let positions: Vec<usize> =
        if name == "q" { (0..=own).collect() } else { (own..sources.activations.tokens.len()).collect() };
    let terms = positions
        .into_iter()
        .map(|other_t| {
            let (t, s) = if name == "q" { (own, other_t) } else { (other_t, own) };
            let g = sources.grad(&att, vec![h, t, s]);
            let x = sources.operand(&other, vec![h, other_t, a]);
            Term { product: f64::from(g.value) * f64::from(x.value) * scale, operands: vec![("g", g), ("x", x)] }
        })
        .collect();
    let formula = if name == "q" {
        format!(
            "Σ_(s ≤ t) ∂L/∂att[h, t, s] · k[h, s, a] / √A, 1/√A = {scale:.4}; future scores are masked and pass nothing"
        )
    } else {
        format!("Σ_(t ≥ s) ∂L/∂att[h, t, s] · q[h, t, a] / √A, 1/√A = {scale:.4}; earlier queries cannot see this key")
    };
    Chain { rule: "attention score q·k / √A, back to q or k", terms, constant: None, operands: Vec::new(), formula }
}

/// v: ∂L/∂v[h, s, a] = Σ_t ∂L/∂y[t, h·A + a] · att_sm[h, t, s].
fn value_input(sources: &Sources, layer: usize, index: &[usize]) -> Chain {
    let (h, s, a) = (index[0], index[1], index[2]);
    let width = sources.layout.config.head_size();
    let (y, att_sm) = (names::layer(layer, "y"), names::layer(layer, "att_sm"));
    let terms = (s..sources.activations.tokens.len())
        .map(|t| {
            let g = sources.grad(&y, vec![t, h * width + a]);
            let p = sources.operand(&att_sm, vec![h, t, s]);
            Term { product: f64::from(g.value) * f64::from(p.value), operands: vec![("g", g), ("p", p)] }
        })
        .collect();
    let formula = "Σ_t ∂L/∂y[t, h·A + a] · att_sm[h, t, s]: every query that attends to this position".to_string();
    Chain { rule: "weighted sum of V, back to v", terms, constant: None, operands: Vec::new(), formula }
}

/// The attention weights: ∂L/∂att_sm[h, t, s] = Σ_a ∂L/∂y[t, h·A + a] · v[h, s, a].
fn attention_weights(sources: &Sources, layer: usize, index: &[usize]) -> Chain {
    let (h, t, s) = (index[0], index[1], index[2]);
    let width = sources.layout.config.head_size();
    let (y, v) = (names::layer(layer, "y"), names::layer(layer, "v"));
    let terms = (0..width)
        .map(|a| {
            let g = sources.grad(&y, vec![t, h * width + a]);
            let value = sources.operand(&v, vec![h, s, a]);
            Term { product: f64::from(g.value) * f64::from(value.value), operands: vec![("g", g), ("v", value)] }
        })
        .collect();
    let formula = "Σ_a ∂L/∂y[t, h·A + a] · v[h, s, a]".to_string();
    Chain { rule: "weighted sum of V, back to the weights", terms, constant: None, operands: Vec::new(), formula }
}

/// The scores under the softmax: ∂L/∂att[h, t, s] = p_s · (∂L/∂p_s − Σ_r p_r · ∂L/∂p_r).
fn softmax_input(sources: &Sources, layer: usize, index: &[usize]) -> Chain {
    let (h, t, s) = (index[0], index[1], index[2]);
    let att_sm = names::layer(layer, "att_sm");
    let own = sources.operand(&att_sm, vec![h, t, s]);
    let p_s = f64::from(own.value);
    let mut terms = vec![{
        let g = sources.grad(&att_sm, vec![h, t, s]);
        Term { product: p_s * f64::from(g.value), operands: vec![("g", g), ("p", own.clone())] }
    }];
    if s <= t {
        terms.extend((0..=t).map(|r| {
            let g = sources.grad(&att_sm, vec![h, t, r]);
            let p = sources.operand(&att_sm, vec![h, t, r]);
            Term { product: -p_s * f64::from(p.value) * f64::from(g.value), operands: vec![("g", g), ("p", p)] }
        }));
    }
    let formula = format!(
        "p_s · (∂L/∂att_sm[h, t, s] − Σ_r p_r · ∂L/∂att_sm[h, t, r]), p_s = {p_s:.4}{}",
        if s > t { ": a masked score has p = 0 and passes nothing" } else { "" }
    );
    Chain { rule: "softmax, back to the scores", terms, constant: None, operands: Vec::new(), formula }
}

/// GELU's input: ∂L/∂fc = ∂L/∂gelu · GELU′(fc), the tanh form's derivative.
fn gelu_input(sources: &Sources, layer: usize, index: &[usize]) -> Chain {
    let g = sources.grad(&names::layer(layer, "gelu"), index.to_vec());
    let x = sources.operand(&names::layer(layer, "fc"), index.to_vec());
    let slope = gelu_slope(f64::from(x.value));
    let formula = format!("∂L/∂gelu · GELU′(x), x = {:.4}, GELU′(x) = {slope:.4}", x.value);
    Chain {
        rule: "GELU, back to its input",
        terms: vec![Term { product: f64::from(g.value) * slope, operands: vec![("g", g), ("x", x)] }],
        constant: None,
        operands: Vec::new(),
        formula,
    }
}

/// The derivative of GELU's tanh form, 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).
pub fn gelu_slope(x: f64) -> f64 {
    let k = (2.0 / std::f64::consts::PI).sqrt();
    let u = k * (x + 0.044715 * x.powi(3));
    let tanh = u.tanh();
    0.5 * (1.0 + tanh) + 0.5 * x * (1.0 - tanh * tanh) * k * (1.0 + 3.0 * 0.044715 * x * x)
}

/// The token embedding's row v: the gradients of every position that read it, added (a
/// scatter-add), and when the head is tied the head's own Σ_t ∂L/∂logits[t, v] · ln_f[t, c].
fn token_embedding(sources: &Sources, index: &[usize]) -> Chain {
    let (v, c) = (index[0], index[1]);
    let mut terms: Vec<Term> = sources
        .activations
        .tokens
        .iter()
        .enumerate()
        .filter(|&(_, &token)| token == v)
        .map(|(t, _)| {
            let g = sources.grad("tok_emb", vec![t, c]);
            Term { product: f64::from(g.value), operands: vec![("g", g)] }
        })
        .collect();
    let mut formula = "Σ ∂L/∂tok_emb[t, c] over the positions t that read this token's row".to_string();
    if sources.layout.config.tied_lm_head {
        terms.extend(matmul_weight(sources, "logits", "ln_f", &[v, c]).terms);
        formula += ", plus Σ_t ∂L/∂logits[t, v] · ln_f[t, c] (the tied head)";
    }
    Chain {
        rule: "embedding lookup, back to the table (a scatter-add)",
        terms,
        constant: None,
        operands: Vec::new(),
        formula,
    }
}

/// The position embedding's row p: read by position p alone.
fn position_embedding(sources: &Sources, index: &[usize]) -> Chain {
    let (p, c) = (index[0], index[1]);
    let terms: Vec<Term> = (p < sources.activations.tokens.len())
        .then(|| {
            let g = sources.grad("pos_emb", vec![p, c]);
            Term { product: f64::from(g.value), operands: vec![("g", g)] }
        })
        .into_iter()
        .collect();
    let formula = if terms.is_empty() {
        "0: no position of this input reads this row".to_string()
    } else {
        "∂L/∂pos_emb[p, c]: position p alone reads this row".to_string()
    };
    Chain { rule: "position embedding, back to the table", terms, constant: None, operands: Vec::new(), formula }
}
