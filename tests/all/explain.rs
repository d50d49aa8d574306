//! explain: every operation's operands recompute the cell's value, and the value is the one inspect reports.

use std::collections::HashSet;

use llmviz::explain::{ExplainError, Explanation, Sources, explain};
use llmviz::layout::{self, Op};
use llmviz::model::{BackendKind, LoadedModel, Weights};

use super::cli::{assert_clean_failure, llmviz, stderr};

const TOLERANCE: f64 = 1e-4;

fn sum_of_products(e: &Explanation, left: &str, right: &str) -> f64 {
    e.terms.iter().map(|term| term[left].value as f64 * term[right].value as f64).sum()
}

/// The value recomputed from the explanation, by the formula of its operation, from the weights
/// and the input tokens where the explanation has no operands.
fn recompute(e: &Explanation, weights: &Weights, tokens: &[usize]) -> f64 {
    let operand = |role: &str| e.operands[role].value as f64;
    let xs = || e.terms.iter().map(|term| term["x"].value as f64);
    match e.op {
        Op::Param => weights.tensors[&e.tensor].get(&e.index).unwrap() as f64,
        Op::Input => tokens[e.index[0]] as f64,
        Op::Embedding => operand("token_embedding") + operand("position_embedding"),
        Op::Matmul => e.operands.get("bias").map_or(0.0, |b| b.value as f64) + sum_of_products(e, "a", "w"),
        Op::ResidualAdd => operand("a") + operand("b"),
        Op::LnStats if e.operands.contains_key("mean") => {
            let n = e.terms.len() as f64;
            (xs().map(|x| (x - operand("mean")).powi(2)).sum::<f64>() / n + 1e-5).sqrt()
        }
        Op::LnStats => xs().sum::<f64>() / e.terms.len() as f64,
        Op::LayerNorm => (operand("x") - operand("mean")) / operand("std") * operand("gamma") + operand("beta"),
        Op::AttnScore => sum_of_products(e, "q", "k") / (e.terms.len() as f64).sqrt(),
        Op::SoftmaxStats if e.operands.contains_key("max") => xs().map(|x| (x - operand("max")).exp()).sum(),
        Op::SoftmaxStats => xs().fold(f64::NEG_INFINITY, f64::max),
        Op::Softmax => (operand("x") - operand("max")).exp() / operand("sumexp"),
        Op::Gelu => {
            let x = operand("x");
            0.5 * x * (1.0 + ((2.0 / std::f64::consts::PI).sqrt() * (x + 0.044715 * x.powi(3))).tanh())
        }
        Op::AttnValue | Op::Concat => sum_of_products(e, "p", "v"),
        Op::RmsStats | Op::RmsNorm | Op::Rope | Op::SwiGlu => todo!("the Llama family's operations"),
    }
}

/// An explanation recomputes from its operands, its value is the forward pass's, and each operand
/// is drawn where it says: its block's cell shows that very element.
fn check_explanation(e: &Explanation, sources: &Sources, tokens: &[usize], cell: [u32; 3]) {
    let (weights, activations, layout) = (sources.weights, sources.activations, sources.layout);
    let recomputed = recompute(e, weights, tokens);
    assert!(
        (recomputed - e.value as f64).abs() <= TOLERANCE,
        "{} {cell:?} ({:?}): explained {} but operands give {recomputed}",
        e.block,
        e.op,
        e.value
    );
    let expected =
        activations.get(&e.tensor).or_else(|| weights.tensors.get(&e.tensor)).unwrap().get(&e.index).unwrap();
    assert_eq!(e.value, expected, "{} {cell:?}: value is not the forward pass's", e.block);
    for operand in e.operands.values().chain(e.terms.iter().flat_map(|t| t.values())) {
        if let (Some(name), Some(cell)) = (&operand.block, operand.cell) {
            let shown = layout.block(name).unwrap();
            assert_eq!(shown.tensor, operand.tensor);
            assert_eq!(shown.tensor_index(cell), operand.index, "{name} {cell:?}");
        }
    }
}

#[test]
fn every_operation_recomputes_from_its_operands_and_agrees_with_the_forward_pass() {
    let weights = Weights::default_model();
    let tokens = [2, 1, 0, 1, 1, 2]; // CBABBC
    let activations = LoadedModel::new(&weights, BackendKind::Ndarray).activations(&tokens).unwrap();
    let layout = layout::build(&weights.config);
    let sources = Sources { layout: &layout, activations: &activations, weights: &weights };
    let mut ops_seen = HashSet::new();
    let mut masked = 0;
    for block in &layout.blocks {
        // Corners and the middle of each block, within the six input positions.
        let [nx, ny, nz] = block.cells;
        let cells = [
            [0, 0, 0],
            [nx - 1, ny - 1, nz - 1],
            [nx / 2, ny / 2, nz / 2],
            [nx.min(6) - 1, 0, 0],
            [0, ny.min(6) - 1, 0],
        ];
        for cell in cells {
            let e = match explain(&sources, &block.name, cell) {
                Ok(e) => e,
                Err(ExplainError::Masked(_)) => {
                    masked += 1;
                    continue;
                }
                Err(other) => panic!("{} {cell:?}: {other}", block.name),
            };
            check_explanation(&e, &sources, &tokens, cell);
            ops_seen.insert(e.op);
        }
    }
    assert!(masked > 0, "future scores and positions past the input should be masked");
    let all = [
        Op::Input,
        Op::Embedding,
        Op::Matmul,
        Op::ResidualAdd,
        Op::LnStats,
        Op::LayerNorm,
        Op::AttnScore,
        Op::SoftmaxStats,
        Op::Softmax,
        Op::Gelu,
        Op::AttnValue,
        Op::Param,
    ];
    for op in all {
        assert!(ops_seen.contains(&op), "no cell explained by {op:?}");
    }
}

#[test]
fn explain_json_value_equals_inspect_json() {
    let inspect = llmviz(&["inspect", "--input", "CBABBC", "--json"]);
    let inspect: serde_json::Value = serde_json::from_slice(&inspect.stdout).unwrap();
    for (block, cell) in [
        ("block1.head2.q", "3,5"),
        ("block0.head1.att", "4,2"),
        ("block2.mlp_resid", "5,47"),
        ("probs", "5,0"),
        ("block0.ln2.std", "2,0"),
    ] {
        let output = llmviz(&["explain", "--input", "CBABBC", "--block", block, "--cell", cell, "--json"]);
        assert!(output.status.success(), "{}", stderr(&output));
        let e: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        let shape: Vec<usize> =
            serde_json::from_value(inspect["tensors"][e["tensor"].as_str().unwrap()]["shape"].clone()).unwrap();
        let index: Vec<usize> = serde_json::from_value(e["index"].clone()).unwrap();
        let offset = index.iter().zip(&shape).fold(0, |o, (i, n)| o * n + i);
        let reported = inspect["tensors"][e["tensor"].as_str().unwrap()]["data"][offset].as_f64().unwrap();
        assert!((e["value"].as_f64().unwrap() - reported).abs() < 1e-6, "{block} {cell}");
        for key in ["block", "cell", "tensor", "index", "value", "op", "terms", "operands"] {
            assert!(e.get(key).is_some(), "missing {key}");
        }
    }
    // The issue's own example: block1.head2.q at token t, channel a is block1.q [2, t, a].
    let output = llmviz(&["explain", "--block", "block1.head2.q", "--cell", "4,7", "--json"]);
    let e: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!((e["tensor"].as_str(), e["index"].clone()), (Some("block1.q"), serde_json::json!([2, 4, 7])));
}

#[test]
fn masked_and_unknown_cells_are_one_clear_error() {
    let output = llmviz(&["explain", "--block", "block0.head0.att", "--cell", "1,3"]);
    assert_clean_failure(&output, "masked: the query at t = 1 may not look at the later key t2 = 3");
    let output = llmviz(&["explain", "--input", "CBA", "--block", "x", "--cell", "5,0"]);
    assert_clean_failure(&output, "masked: t = 5 is beyond the input of 3 tokens");
    let output = llmviz(&["explain", "--block", "block9.ln1", "--cell", "0,0"]);
    assert_clean_failure(&output, "unknown block 'block9.ln1'");
    let output = llmviz(&["explain", "--block", "x", "--cell", "0,99"]);
    assert_clean_failure(&output, "outside block 'x'");
    let output = llmviz(&["explain", "--block", "x", "--cell", "0;1"]);
    assert_clean_failure(&output, "--cell '0;1'");
}
