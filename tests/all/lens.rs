//! The logit lens (`model::lens`, `llmviz lens`): every layer's stream read through the final
//! norm and the unembedding equals an independent numpy computation from the recorded streams
//! (`tests/fixtures/tiny-gpt2/make_lens.py`), on both backends, and at the last layer the model's
//! own output, for GPT-2 and the Llama family.

use std::path::Path;

use llmviz::model::lens::{lens_streams, top_k};
use llmviz::model::{BackendKind, LoadedModel, Weights};
use serde_json::Value;

use crate::cli::{assert_clean_failure, llmviz, stderr, stdout};
use crate::gpu::gpu;

fn fixture(path: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(path)
}

const TINY_GPT2_TOKENS: [usize; 8] = [15496, 995, 11, 340, 338, 257, 1332, 13];

fn numbers(value: &Value) -> Vec<f64> {
    value.as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect()
}

#[test]
fn every_layer_of_the_lens_equals_numpys_on_both_backends() {
    let weights = Weights::load(&fixture("tiny-gpt2")).expect("the fixture loads");
    let reference: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("tiny-gpt2/lens.json")).unwrap()).unwrap();
    let every = reference["every"].as_u64().unwrap() as usize;
    let _gpu = gpu();
    for backend in [BackendKind::Ndarray, BackendKind::Wgpu] {
        let model = LoadedModel::new(&weights, backend);
        let activations = model.activations(&TINY_GPT2_TOKENS).unwrap();
        let layers = model.lens(&activations, 10, true);
        let expected = reference["layers"].as_array().unwrap();
        assert_eq!(layers.len(), expected.len(), "{backend:?}: the embedding's stream and one per layer");
        for (layer, numpy) in layers.iter().zip(expected) {
            assert_eq!(layer.stream, numpy["stream"].as_str().unwrap());
            let probs = layer.probs.as_ref().expect("asked for in full");
            assert_eq!(probs.shape, [8, 50257]);
            for position in 0..8 {
                let row = &probs.data[position * 50257..(position + 1) * 50257];
                let spread: Vec<f64> = row.iter().step_by(every).map(|&p| p as f64).collect();
                let want = numbers(&numpy["spread_probs"][position]);
                let worst = spread.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
                assert!(worst < 1e-4, "{backend:?} {} t={position}: off by {worst}", layer.stream);
                let ids = numpy["top_ids"][position].as_array().unwrap();
                let top_probs = numbers(&numpy["top_probs"][position]);
                for (rank, &(id, p)) in layer.top[position].iter().enumerate() {
                    assert!((p as f64 - top_probs[rank]).abs() < 1e-4, "{} t={position} rank {rank}", layer.stream);
                    // Ids agree unless two of numpy's probabilities are too close to order.
                    let close = |other: usize| (top_probs[rank] - top_probs[other]).abs() < 1e-5;
                    let tied = (rank > 0 && close(rank - 1)) || (rank + 1 < top_probs.len() && close(rank + 1));
                    assert!(
                        tied || id as u64 == ids[rank].as_u64().unwrap(),
                        "{} t={position} rank {rank}",
                        layer.stream
                    );
                }
            }
        }
    }
}

/// At the last layer the lens is the model's output, for GPT-2, nano and the Llama family.
#[test]
fn the_last_layer_of_the_lens_is_the_models_own_output() {
    let models = [
        (Weights::default_model(), vec![2, 1, 0, 1, 1, 2]),
        (Weights::load(&fixture("tiny-gpt2")).unwrap(), TINY_GPT2_TOKENS.to_vec()),
        (Weights::load(&fixture("tiny-llama/qwen3")).unwrap(), vec![1, 5, 9, 3]),
        (Weights::load(&fixture("tiny-llama/llama-untied")).unwrap(), vec![4, 2, 7]),
    ];
    for (weights, tokens) in models {
        let model = LoadedModel::new(&weights, BackendKind::Ndarray);
        let activations = model.activations(&tokens).unwrap();
        let layers = model.lens(&activations, 3, true);
        assert_eq!(layers.len(), weights.config.n_layer + 1);
        assert_eq!(layers.iter().map(|l| l.stream.clone()).collect::<Vec<_>>(), lens_streams(&weights.config));
        let last = layers.last().unwrap().probs.as_ref().unwrap();
        let probs = activations.get("probs").unwrap();
        assert_eq!(last.shape, probs.shape);
        let worst = last.data.iter().zip(&probs.data).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
        assert!(worst < 1e-6, "{}: the last layer's lens differs from probs by {worst}", weights.config.name);
        let predictions = activations.predictions();
        for (position, ranked) in layers.last().unwrap().top.iter().enumerate() {
            assert_eq!(ranked.len(), 3);
            assert_eq!(ranked[0].0, predictions[position].0, "{} t={position}", weights.config.name);
        }
    }
}

#[test]
fn top_k_ranks_by_probability_then_id() {
    assert_eq!(top_k(&[0.1, 0.4, 0.1, 0.4], 3), vec![(1, 0.4), (3, 0.4), (0, 0.1)]);
    assert_eq!(top_k(&[0.5, 0.5], 5), vec![(0, 0.5), (1, 0.5)], "k beyond the vocabulary gives it all");
}

#[test]
fn lens_prints_each_layer_and_its_json_holds_the_top_and_the_whole_distribution() {
    let output = llmviz(&["lens", "--input", "CBABBC", "--top", "2"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    for title in ["after the embedding (x)", "after layer 0 (block0.mlp_resid)", "after layer 2 (block2.mlp_resid)"] {
        assert!(text.contains(title), "{title} in {text}");
    }
    let output = llmviz(&["lens", "--input", "CBABBC", "--top", "2", "--json", "--full"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let json: Value = serde_json::from_str(&stdout(&output)).unwrap();
    let layers = json["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 4);
    assert_eq!(json["pieces"], serde_json::json!(["C", "B", "A", "B", "B", "C"]));
    for layer in layers {
        assert_eq!(layer["top"].as_array().unwrap().len(), 6);
        assert_eq!(layer["top"][5].as_array().unwrap().len(), 2);
        assert_eq!(layer["probs"]["shape"], serde_json::json!([6, 3]));
        let sum: f64 = numbers(&layer["probs"]["data"])[15..18].iter().sum();
        assert!((sum - 1.0).abs() < 1e-5, "position 5's distribution sums to {sum}");
    }
    // Column 5 of nano predicts the first answer, A, at the last layer.
    assert_eq!(layers[3]["top"][5][0]["id"], 0);
    let refused = llmviz(&["lens", "--top", "0"]);
    assert!(!refused.status.success() && stderr(&refused).contains("'--top <TOP>': 0 is not in 1..=1000"));
    assert_clean_failure(&llmviz(&["lens", "--input", "CBXBBC"]), "X");
    assert!(!llmviz(&["lens", "--full"]).status.success(), "--full needs --json");
}
