//! explain: every operation's operands recompute the cell's value, and the value is the one inspect reports.

use std::collections::HashSet;

use llmviz::explain::{ExplainError, Explanation, Sources, explain};
use llmviz::layout::{self, Op};
use llmviz::model::config::GptConfig;
use llmviz::model::lens::with_lens;
use llmviz::model::{BackendKind, LoadedModel, Weights, names};
use llmviz::train::initial_weights;

use super::cli::{assert_clean_failure, llmviz, stderr};
use super::layout::tiny_qwen3;

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
        // A Llama adds no position embedding.
        Op::Embedding => {
            operand("token_embedding") + e.operands.get("position_embedding").map_or(0.0, |p| p.value as f64)
        }
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
        Op::RmsStats => {
            let n = e.terms.len() as f64;
            (xs().map(|x| x * x).sum::<f64>() / n + weights.config.layer_norm_epsilon).sqrt()
        }
        Op::RmsNorm => operand("x") / operand("rms") * operand("gamma"),
        Op::Rope => rotated(e, weights),
        Op::SwiGlu => {
            let gate = operand("gate");
            gate / (1.0 + (-gate).exp()) * operand("up")
        }
        Op::Lens => lens_top(e, weights),
    }
}

/// A lens cell from its terms, the whole row of its stream: the final norm, the unembedding and a
/// softmax, in f64; the likeliest token's probability.
fn lens_top(e: &Explanation, weights: &Weights) -> f64 {
    let config = &weights.config;
    let c = config.n_embd;
    assert_eq!(e.terms.len(), c, "{}: every channel of the row is a term", e.block);
    let mut x = vec![0.0; c];
    for term in &e.terms {
        x[term["x"].index[1]] = term["x"].value as f64;
    }
    let param = |name: &str| weights.tensors[name].data.iter().map(|&v| v as f64).collect::<Vec<f64>>();
    let eps = config.layer_norm_epsilon;
    let (normed, head): (Vec<f64>, &str) = if config.arch.is_gpt2() {
        let mean = x.iter().sum::<f64>() / c as f64;
        let std = (x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / c as f64 + eps).sqrt();
        let (gamma, beta) = (param(&format!("{}.weight", names::LN_F)), param(&format!("{}.bias", names::LN_F)));
        let normed = (0..c).map(|i| (x[i] - mean) / std * gamma[i] + beta[i]).collect();
        (normed, if config.tied_lm_head { names::WTE } else { names::LM_HEAD })
    } else {
        let rms = (x.iter().map(|v| v * v).sum::<f64>() / c as f64 + eps).sqrt();
        let gamma = param(names::FINAL_NORM);
        let normed = (0..c).map(|i| x[i] / rms * gamma[i]).collect();
        (normed, if config.tied_lm_head { names::EMBED_TOKENS } else { names::LM_HEAD })
    };
    let unembedding = param(head);
    let logits: Vec<f64> = unembedding.chunks(c).map(|row| row.iter().zip(&normed).map(|(w, v)| w * v).sum()).collect();
    let max = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    1.0 / logits.iter().map(|l| (l - max).exp()).sum::<f64>()
}

/// A rotated channel from its operands and the angle t·θ_i, θ from the config: channel i < D/2
/// turns with i + D/2 forwards, channel i ≥ D/2 with i − D/2 back.
fn rotated(e: &Explanation, weights: &Weights) -> f64 {
    let llama = weights.config.llama_shape().expect("only a Llama rotates q and k");
    let (head, t, i) = (e.index[0], e.index[1], e.index[2]);
    let half = llama.head_dim / 2;
    let partner = if i < half { i + half } else { i - half };
    assert_eq!(e.operands["x"].index, e.index, "{}: x is the same channel before rotation", e.block);
    assert_eq!(e.operands["pair"].index, vec![head, t, partner], "{}: the pair is channel i ± D/2", e.block);
    let angle = t as f64 * llama.inv_freq()[i % half];
    let (x, pair) = (e.operands["x"].value as f64, e.operands["pair"].value as f64);
    if i < half { x * angle.cos() - pair * angle.sin() } else { x * angle.cos() + pair * angle.sin() }
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

/// What explaining every block found: the operations seen, and the operands no block draws.
struct Checked {
    ops: HashSet<Op>,
    undrawn: Vec<String>,
}

/// Explains the corners and the middle of every block of the model the weights make, over
/// `tokens`, and checks each explanation.
fn check_every_block(weights: &Weights, tokens: &[usize]) -> Checked {
    let model = LoadedModel::new(weights, BackendKind::Ndarray);
    let activations = model.activations(tokens).unwrap();
    let activations = with_lens(&activations, model.lens(&activations, 5, false));
    let layout = layout::build(&weights.config);
    let sources = Sources { layout: &layout, activations: &activations, weights };
    let mut checked = Checked { ops: HashSet::new(), undrawn: Vec::new() };
    let mut masked = 0;
    let len = tokens.len() as u32;
    for block in &layout.blocks {
        // Corners and the middle of each block, within the input's positions.
        let [nx, ny, nz] = block.cells;
        let cells = [
            [0, 0, 0],
            [nx - 1, ny - 1, nz - 1],
            [nx / 2, ny / 2, nz / 2],
            [nx.min(len) - 1, 0, 0],
            [0, ny.min(len) - 1, 0],
        ];
        for cell in cells {
            let e = match explain(&sources, &block.name, cell) {
                Ok(e) => e,
                Err(ExplainError::Masked(_)) => {
                    masked += 1;
                    continue;
                }
                Err(other) => panic!("{}: {} {cell:?}: {other}", weights.config.name, block.name),
            };
            check_explanation(&e, &sources, tokens, cell);
            let operands = e.operands.values().chain(e.terms.iter().flat_map(|term| term.values()));
            let undrawn = operands.filter(|operand| operand.block.is_none() || operand.cell.is_none());
            checked.undrawn.extend(undrawn.map(|operand| format!("{} {cell:?}: {}", e.block, operand.tensor)));
            checked.ops.insert(e.op);
        }
    }
    assert!(masked > 0, "future scores and positions past the input should be masked");
    checked
}

#[test]
fn every_operation_recomputes_from_its_operands_and_agrees_with_the_forward_pass() {
    let ops_seen = check_every_block(&Weights::default_model(), &[2, 1, 0, 1, 1, 2]).ops; // CBABBC
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
        Op::Lens,
    ];
    for op in all {
        assert!(ops_seen.contains(&op), "no cell explained by {op:?}");
    }
}

/// nano-llama (4 query heads sharing 2 k/v heads, a tied head) and a Qwen3-shaped model (q and
/// k norms, Qwen2's q, k and v biases, head_dim ≠ C / H, an untied head), from random weights.
#[test]
fn every_llama_operation_recomputes_from_its_operands_and_agrees_with_the_forward_pass() {
    let nano_llama = GptConfig::preset("nano-llama").unwrap();
    let qwen3 = tiny_qwen3();
    let llama = qwen3.llama_shape().unwrap();
    assert!(llama.qk_norm && llama.qkv_bias && llama.head_dim != qwen3.n_embd / qwen3.n_head);
    let all = [
        Op::Input,
        Op::Embedding,
        Op::Matmul,
        Op::ResidualAdd,
        Op::RmsStats,
        Op::RmsNorm,
        Op::Rope,
        Op::AttnScore,
        Op::SoftmaxStats,
        Op::Softmax,
        Op::SwiGlu,
        Op::AttnValue,
        Op::Param,
        Op::Lens,
    ];
    for (config, tokens) in [(nano_llama, vec![2, 1, 0, 1, 1, 2]), (qwen3, vec![4, 1, 0, 3, 2])] {
        let checked = check_every_block(&initial_weights(&config, 7), &tokens);
        for op in all {
            assert!(checked.ops.contains(&op), "{}: no cell explained by {op:?}", config.name);
        }
        // k and v of a group's later heads are drawn in its first head, but drawn all the same.
        assert!(checked.undrawn.is_empty(), "{}: operands no block draws: {:?}", config.name, checked.undrawn);
    }
}

#[test]
fn a_grouped_head_reads_the_k_and_v_of_its_group_drawn_in_the_groups_first_head() {
    let weights = initial_weights(&GptConfig::preset("nano-llama").unwrap(), 7);
    let tokens = [2, 1, 0, 1, 1, 2];
    let activations = LoadedModel::new(&weights, BackendKind::Ndarray).activations(&tokens).unwrap();
    let layout = layout::build(&weights.config);
    let sources = Sources { layout: &layout, activations: &activations, weights: &weights };
    // Head 3 of nano-llama is the second of k/v head 1's group, which head 2 draws.
    let score = explain(&sources, "block1.head3.att", [4, 2, 0]).unwrap();
    for term in &score.terms {
        assert_eq!((term["q"].tensor.as_str(), term["q"].index[0]), ("block1.q_rot", 3));
        assert_eq!((term["k"].tensor.as_str(), term["k"].index[..2].to_vec()), ("block1.k_rot", vec![1, 2]));
        assert_eq!(term["k"].block.as_deref(), Some("block1.head2.k_rot"));
    }
    let output = explain(&sources, "block1.head3.y", [4, 5, 0]).unwrap();
    for term in &output.terms {
        assert_eq!((term["v"].tensor.as_str(), term["v"].index[0]), ("block1.v", 1));
        assert_eq!(term["v"].block.as_deref(), Some("block1.head2.v"));
    }
    let x = explain(&sources, "x", [3, 7, 0]).unwrap();
    assert_eq!(x.operands.keys().copied().collect::<Vec<_>>(), ["token_embedding"], "no position embedding");
    assert_eq!(x.operands["token_embedding"].block.as_deref(), Some("embed_tokens"));
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
