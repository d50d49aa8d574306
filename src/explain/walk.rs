//! A calculation walked through step by step, as a tour's `Compute(style: Walk)` shows it: which
//! operands are lit at each step, and the text of the formula panel beside the cell.
//!
//! Everything is read from one `Explanation`, the one the hover card and `llmviz explain` show, so
//! the panel never says a number the explanation does not. A step is one term of a sum or
//! statistic (a dot product's pair, a mean's value, an RMSNorm's square), or, for an operation
//! without terms (a layer norm, an embedding sum, a rotation, a SwiGLU), one of its single operands.

use std::fmt::Write;

use super::{Explanation, OPERAND_ORDER, Operand, fmt};
use crate::layout::Op;

/// How the terms of an operation add up.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Fold {
    Sum,
    Max,
}

/// How many steps a walk through this calculation has.
pub fn steps(explanation: &Explanation) -> usize {
    if explanation.terms.is_empty() { explanation.operands.len() } else { explanation.terms.len() }
}

/// The single operands of an operation without terms, in reading order.
fn ordered_operands(explanation: &Explanation) -> Vec<(&'static str, &Operand)> {
    let mut ordered: Vec<(&'static str, &Operand)> = OPERAND_ORDER
        .iter()
        .filter_map(|role| explanation.operands.get_key_value(role).map(|(role, operand)| (*role, operand)))
        .collect();
    for (role, operand) in &explanation.operands {
        if !OPERAND_ORDER.contains(role) {
            ordered.push((role, operand));
        }
    }
    ordered
}

/// The operands lit once `shown` steps are shown: the latest term's operands and every single
/// operand (a bias, μ) for a sum; for an operation without terms, the operands shown so far.
pub fn lit_operands(explanation: &Explanation, shown: usize) -> Vec<&Operand> {
    if explanation.terms.is_empty() {
        return ordered_operands(explanation).into_iter().take(shown).map(|(_, operand)| operand).collect();
    }
    let latest = shown.clamp(1, explanation.terms.len()) - 1;
    explanation.terms[latest].values().chain(explanation.operands.values()).collect()
}

/// One term as the panel writes it, and what it adds to the running sum (or its candidate for the maximum).
fn term(explanation: &Explanation, index: usize) -> (String, f64, Fold) {
    let term = &explanation.terms[index];
    let value = |role: &str| term.get(role).map_or(f64::NAN, |operand| operand.value as f64);
    let single = |role: &str| explanation.operands.get(role).map_or(0.0, |operand| operand.value as f64);
    let pair = |left: &str, right: &str| {
        (format!("{}·{}", fmt(value(left) as f32), fmt(value(right) as f32)), value(left) * value(right), Fold::Sum)
    };
    match explanation.op {
        Op::Matmul => pair("a", "w"),
        Op::AttnScore => pair("q", "k"),
        Op::AttnValue | Op::Concat => pair("p", "v"),
        Op::LnStats if explanation.tensor.ends_with("_std") => {
            let (x, mean) = (value("x"), single("mean"));
            (format!("({} − {})²", fmt(x as f32), fmt(mean as f32)), (x - mean) * (x - mean), Fold::Sum)
        }
        Op::SoftmaxStats if explanation.tensor.ends_with("_sumexp") => {
            let (x, max) = (value("x"), single("max"));
            (format!("exp({} − {})", fmt(x as f32), fmt(max as f32)), (x - max).exp(), Fold::Sum)
        }
        Op::SoftmaxStats => (fmt(value("x") as f32), value("x"), Fold::Max),
        Op::RmsStats => {
            let x = value("x");
            (format!("({})²", fmt(x as f32)), x * x, Fold::Sum)
        }
        _ => (fmt(value("x") as f32), value("x"), Fold::Sum),
    }
}

/// What the terms add up to, in words: the symbolic form of the sum.
fn symbolic(explanation: &Explanation) -> String {
    let total = explanation.terms_total;
    match explanation.op {
        Op::Matmul if explanation.operands.contains_key("bias") => format!("bias + Σ a_i·w_i over {total} terms"),
        Op::Matmul => format!("Σ a_i·w_i over {total} terms"),
        Op::AttnScore => format!("Σ q_i·k_i over {total} terms, then ÷ √A"),
        Op::AttnValue | Op::Concat => format!("Σ p(t2)·v(t2) over {total} earlier positions"),
        Op::LnStats if explanation.tensor.ends_with("_std") => {
            format!("Σ (x_i − μ)² over {total} values, then ÷ {total}, + ε, √")
        }
        Op::LnStats => format!("Σ x_i over {total} values, then ÷ {total}"),
        Op::RmsStats => format!("Σ x_i² over {total} values, then ÷ {total}, + ε, √"),
        Op::SoftmaxStats if explanation.tensor.ends_with("_sumexp") => format!("Σ exp(x_i − max) over {total} scores"),
        _ => format!("the largest of {total} scores"),
    }
}

/// The running total once the first `shown` terms are in: the bias (if any) plus their sum, or
/// their maximum. In f64 and term order, as `explain` sums.
pub fn running_total(explanation: &Explanation, shown: usize) -> f64 {
    let shown = shown.min(explanation.terms.len());
    let start = match explanation.op {
        Op::Matmul => explanation.operands.get("bias").map_or(0.0, |bias| bias.value as f64),
        _ => 0.0,
    };
    let mut total: Option<f64> = None;
    for index in 0..shown {
        let (_, value, fold) = term(explanation, index);
        total = Some(match (total, fold) {
            (None, _) => value,
            (Some(sum), Fold::Sum) => sum + value,
            (Some(max), Fold::Max) => max.max(value),
        });
    }
    match (total, explanation.op) {
        (Some(total), Op::SoftmaxStats) if !explanation.tensor.ends_with("_sumexp") => total,
        (total, _) => start + total.unwrap_or(0.0),
    }
}

/// The cell being calculated: `q[t = 3, a = 0]`.
fn heading(explanation: &Explanation) -> String {
    let index: Vec<String> =
        explanation.index.iter().zip(&explanation.index_names).map(|(i, name)| format!("{name} = {i}")).collect();
    format!("{}[{}]", explanation.tensor, index.join(", "))
}

/// How many terms the panel writes out: the first few, then the latest.
const FIRST_TERMS: usize = 3;

/// The formula panel once `shown` steps are shown, and the result when `finished`: for a sum,
/// the terms so far (the first ones and the latest) and the running total; for an operation
/// without terms, each operand shown so far with its value. Once finished, explain's formula with
/// its result.
pub fn panel_text(explanation: &Explanation, shown: usize, finished: bool) -> String {
    let mut text = heading(explanation);
    if explanation.terms.is_empty() {
        for (role, operand) in ordered_operands(explanation).into_iter().take(shown) {
            let _ = write!(text, "\n{role} = {}   ({}{:?})", fmt(operand.value), operand.tensor, operand.index);
        }
    } else {
        let shown = shown.clamp(1, explanation.terms.len());
        let _ = write!(text, "\n= {}", symbolic(explanation));
        let mut parts: Vec<String> = Vec::new();
        if let (Op::Matmul, Some(bias)) = (explanation.op, explanation.operands.get("bias")) {
            parts.push(fmt(bias.value));
        }
        parts.extend((0..shown.min(FIRST_TERMS)).map(|index| term(explanation, index).0));
        if shown > FIRST_TERMS + 1 {
            parts.push("…".into());
        }
        if shown > FIRST_TERMS {
            parts.push(term(explanation, shown - 1).0);
        }
        let separator = if matches!(term(explanation, 0).2, Fold::Max) { ", " } else { " + " };
        let _ = write!(text, "\n= {}", parts.join(separator));
        let summarised = explanation.terms.len() < explanation.terms_total;
        if summarised {
            let _ = write!(
                text,
                "\n(its {} largest of {} terms, all of which count)",
                explanation.terms.len(),
                explanation.terms_total
            );
        } else if !finished {
            let word = if matches!(term(explanation, 0).2, Fold::Max) { "largest" } else { "sum" };
            let total = running_total(explanation, shown);
            let _ =
                write!(text, "\n{word} so far: {} ({shown} of {} terms)", fmt(total as f32), explanation.terms_total);
        }
    }
    if finished {
        let _ = write!(text, "\n{}", explanation.formula);
    }
    text
}
