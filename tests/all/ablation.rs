//! Switching parts off (`model::ablation`, `inspect --ablate`): a head, an MLP or a neuron set to
//! zero gives what an independent numpy forward gives with that output zeroed
//! (`tests/fixtures/tiny-gpt2/make_ablation.py`); switching nothing off changes nothing, bit for
//! bit; the Llama family's heads, MLPs and SwiGLU neurons are switched off where they should be.

use std::path::Path;

use llmviz::model::ablation::Ablation;
use llmviz::model::{BackendKind, LoadedModel, Weights};
use serde_json::Value;

use crate::cli::{assert_clean_failure, llmviz, stderr, stdout};

fn fixture(path: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(path)
}

fn numbers(value: &Value) -> Vec<f64> {
    value.as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect()
}

#[test]
fn switching_parts_off_gives_numpys_probabilities() {
    let weights = Weights::load(&fixture("tiny-gpt2")).unwrap();
    let reference: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("tiny-gpt2/ablation.json")).unwrap()).unwrap();
    let tokens: Vec<usize> =
        reference["tokens"].as_array().unwrap().iter().map(|t| t.as_u64().unwrap() as usize).collect();
    let every = reference["every"].as_u64().unwrap() as usize;
    let model = LoadedModel::new(&weights, BackendKind::Ndarray);
    let own = model.activations(&tokens).unwrap();
    let vocab = weights.config.vocab_size;
    for case in reference["cases"].as_array().unwrap() {
        let parts = case["ablate"].as_str().unwrap();
        let ablation = Ablation::parse(parts, &weights.config).unwrap();
        let probs = model.activations_without(&tokens, &ablation).unwrap().tensors["probs"].clone();
        for (position, row) in probs.data.chunks(vocab).enumerate() {
            let spread: Vec<f64> = row.iter().step_by(every).map(|&p| p as f64).collect();
            let want = numbers(&case["spread_probs"][position]);
            let worst = spread.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
            assert!(worst < 1e-4, "{parts} t={position}: off by {worst}");
            for (rank, id) in case["top_ids"][position].as_array().unwrap().iter().enumerate() {
                let p = numbers(&case["top_probs"][position])[rank];
                assert!((row[id.as_u64().unwrap() as usize] as f64 - p).abs() < 1e-4, "{parts} t={position} #{rank}");
            }
        }
        // The check would catch a part left on: the ablated pass is far from the model's own.
        let changed = probs.data.iter().zip(&own.tensors["probs"].data).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
        let numpy_changed = case["changed"].as_f64().unwrap();
        assert!(
            changed > 3e-4 && (changed as f64 - numpy_changed).abs() < 1e-4,
            "{parts}: {changed} vs {numpy_changed}"
        );
    }
    let nothing = model.activations_without(&tokens, &Ablation::default()).unwrap();
    assert_eq!(nothing.tensors, own.tensors, "switching nothing off is the model's own pass, bit for bit");
}

#[test]
fn the_llama_familys_heads_mlps_and_swiglu_neurons_are_switched_off_where_they_should_be() {
    let weights = Weights::load(&fixture("tiny-llama/qwen3")).unwrap();
    let config = weights.config.clone();
    let head_dim = config.llama_shape().unwrap().head_dim;
    let model = LoadedModel::new(&weights, BackendKind::Ndarray);
    let tokens = [3, 1, 4, 1, 5];
    let own = model.activations(&tokens).unwrap();
    let ablation = Ablation::parse("block1.head2, block0.mlp, block1.swiglu.7", &config).unwrap();
    let off = model.activations_without(&tokens, &ablation).unwrap();
    let y = &off.tensors["block1.y"];
    let width = y.shape[1];
    for (index, (&ablated, &before)) in y.data.iter().zip(&own.tensors["block1.y"].data).enumerate() {
        let in_head = (2 * head_dim..3 * head_dim).contains(&(index % width));
        // Layer 1 reads a stream that layer 0's MLP no longer adds to, so the other heads differ too.
        assert!(if in_head { ablated == 0.0 } else { ablated != 0.0 && before != 0.0 }, "block1.y[{index}]");
    }
    assert!(off.tensors["block0.mlp"].data.iter().all(|&v| v == 0.0), "layer 0's MLP is off");
    assert_eq!(off.tensors["block0.attn_resid"], own.tensors["block0.attn_resid"], "before the MLP, nothing changed");
    let swiglu = &off.tensors["block1.swiglu"];
    let hidden = swiglu.shape[1];
    assert_eq!(hidden, config.mlp_width());
    for (index, &value) in swiglu.data.iter().enumerate() {
        assert_eq!(value == 0.0, index % hidden == 7, "block1.swiglu[{index}]");
    }
    assert_ne!(off.tensors["probs"], own.tensors["probs"]);
}

#[test]
fn ablate_names_parts_as_the_layout_does_and_refuses_unknown_ones_in_one_line() {
    let output = llmviz(&["inspect", "--input", "CBABBC", "--generate", "--ablate", "block1.mlp"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(text.contains("(own pass: "), "each position beside the model's own: {text}");
    assert!(text.ends_with("generated AACCCC\n"), "without layer 1's MLP nano no longer sorts: {text}");
    let output = llmviz(&["inspect", "--input", "CBABBC", "--json", "--ablate", "block0.head1,block2.gelu.100"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let json: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(json["unablated_probs"]["shape"], serde_json::json!([6, 3]));
    let gelu = numbers(&json["tensors"]["block2.gelu"]["data"]);
    assert!(gelu.iter().skip(100).step_by(192).all(|&v| v == 0.0), "neuron 100 of every position is off");
    for (parts, message) in [
        ("block3.head0", "'block3.head0': layer 3 is outside the model's 3 layers"),
        ("block0.head3", "'block0.head3': head 3 is outside the model's 3 heads"),
        ("block0.gelu.192", "'block0.gelu.192': neuron 192 is outside the model's 192 neurons"),
        ("block0.swiglu.1", "'block0.swiglu.1': expected blockL.headH, blockL.mlp or blockL.gelu.N"),
        ("attention", "'attention': expected"),
    ] {
        assert_clean_failure(&llmviz(&["inspect", "--input", "CBABBC", "--ablate", parts]), message);
    }
}

#[test]
fn an_ablation_reads_its_parts_once_each() {
    let config = Weights::default_model().config;
    let ablation = Ablation::parse("block0.head1,block0.head1, block2.mlp,,block1.gelu.3", &config).unwrap();
    assert_eq!(ablation.heads.len(), 1);
    assert_eq!(ablation.head_channels(0, 16), (16..32).collect::<Vec<_>>());
    assert_eq!(ablation.neuron_channels(1), vec![3]);
    assert!(ablation.head_channels(1, 16).is_empty() && !ablation.is_empty());
    assert!(Ablation::parse("", &config).unwrap().is_empty());
}

/// With parts off, each lens position says how the model's own likeliest token there fared: its
/// probability in the model's own lens, and in this pass's whole distribution at that stream.
#[test]
fn with_parts_off_the_lens_tells_the_change_against_the_model_s_own_lens() {
    use llmviz::explain::{Sources, explain};
    use llmviz::model::lens::{lens_streams, with_lens};

    let weights = Weights::default_model();
    let model = LoadedModel::new(&weights, BackendKind::Ndarray);
    let tokens = [2, 1, 0, 1, 1, 2];
    let ablation = Ablation::parse("block0.head0,block1.mlp", &weights.config).unwrap();
    let off = model.activations_without(&tokens, &ablation).unwrap();
    let own = model.activations(&tokens).unwrap();
    let own_lens = model.lens(&own, 1, false);
    let off_lens = model.lens(&off, 5, true);
    let vocab = weights.config.vocab_size;
    let mut layers = Vec::new();
    for (i, stream) in lens_streams(&weights.config).into_iter().enumerate() {
        let layer = model.lens_stream_against(&off, &own, stream.clone(), 5).unwrap();
        assert_eq!(layer.top, off_lens[i].top, "{stream}: this pass's own lens");
        let change = layer.change.clone().expect("parts are off");
        assert_eq!(change.len(), tokens.len());
        let probs = &off_lens[i].probs.as_ref().unwrap().data;
        for (t, &(token, before, now)) in change.iter().enumerate() {
            assert_eq!((token, before), own_lens[i].top[t][0], "{stream}[{t}]: the model's own likeliest");
            assert_eq!(now, probs[t * vocab + token], "{stream}[{t}]: its probability in this pass");
        }
        layers.push(layer);
    }
    // Before the first layer nothing is off yet; after the last, the MLP and the head are missed.
    let unchanged = |layer: &llmviz::model::lens::LensLayer| layer.change.as_ref().unwrap().iter().all(|c| c.1 == c.2);
    assert!(unchanged(&layers[0]), "the embedding's stream is the same pass");
    assert!(!unchanged(layers.last().unwrap()), "the last layer's stream changed");

    // The hover card of a lens cell gives the change with its numbers.
    let shown = with_lens(&off, layers);
    let layout = llmviz::layout::build(&weights.config);
    let sources = Sources { layout: &layout, activations: &shown, weights: &weights };
    let last = format!("block{}.mlp_resid.lens", weights.config.n_layer - 1);
    let card = explain(&sources, &last, [5, 0, 0]).unwrap();
    let (token, before, now) = shown.lens.last().unwrap().change.as_ref().unwrap()[5];
    let name = llmviz::explain::token_name(&weights.config, token);
    let expected = format!("with every part on, '{name}' {:.1}%, now {:.1}%", before * 100.0, now * 100.0);
    assert!(card.formula.contains(&expected), "{}", card.formula);
}
