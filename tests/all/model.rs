//! The burn GPT against PyTorch: the minGPT nano-sort weights and the intermediates PyTorch produced from them.

use std::collections::BTreeMap;
use std::path::Path;

use llmviz::model::names::activation_shapes;
use llmviz::model::weights::load_json_tensors;
use llmviz::model::{BackendKind, GptConfig, LoadedModel, NamedTensor, WeightError, Weights};

use crate::scratch::Scratch;

const TOLERANCE: f32 = 1e-4;

fn fixture(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(name)
}

fn reference_weights() -> Weights {
    Weights::load(&fixture("models/gpt-nano-sort-model.json")).expect("reference weights load")
}

/// Our activation name for each partial (block 0's intermediates, then each block's output).
fn our_name(partial: &str) -> Option<String> {
    let block0 = |name: &str| Some(format!("block0.{name}"));
    match partial {
        "idx" => None,
        "tok_emb" | "pos_emb" | "x" | "ln_f" | "probs" => Some(partial.to_string()),
        "lm_head" => Some("logits".into()),
        "attSm" => block0("att_sm"),
        "yProj" => block0("attn_proj"),
        "attnResid" => block0("attn_resid"),
        "mlpResid" => block0("mlp_resid"),
        "ln1" | "ln2" | "q" | "k" | "v" | "qkv" | "att" | "y" | "fc" | "gelu" | "mlp" => block0(partial),
        block => Some(format!("{block}.mlp_resid")), // block0, block1, block2: each block's output
    }
}

/// Row `b` of a batched partial ([B, ...] -> [...]); pos_emb has a batch of one shared by all rows.
fn batch_row(tensor: &NamedTensor, b: usize) -> Vec<f32> {
    let row = tensor.data.len() / tensor.shape[0];
    let b = if tensor.shape[0] == 1 { 0 } else { b };
    tensor.data[b * row..(b + 1) * row].to_vec()
}

/// Compares every partial with our activations for each of the three sequences; returns how many were compared.
fn assert_matches_pytorch(backend: BackendKind) -> usize {
    let weights = reference_weights();
    let partials: BTreeMap<String, NamedTensor> =
        load_json_tensors(&fixture("tests/fixtures/gpt-nano-sort-t0-partials.json")).expect("partials load");
    let model = LoadedModel::new(&weights, backend);
    let idx = &partials["idx"];
    let mut compared = 0;
    for b in 0..idx.shape[0] {
        let tokens: Vec<usize> = batch_row(idx, b).iter().map(|&t| t as usize).collect();
        let ours = model.activations(&tokens).unwrap();
        for (partial, theirs) in &partials {
            let Some(name) = our_name(partial) else { continue };
            let mine = ours.get(&name).unwrap_or_else(|| panic!("no activation '{name}' for partial '{partial}'"));
            let expected = batch_row(theirs, b);
            assert_eq!(mine.data.len(), expected.len(), "{name}: size");
            for (i, (&m, &e)) in mine.data.iter().zip(&expected).enumerate() {
                if e == f32::NEG_INFINITY {
                    // PyTorch's masked score; ours must be masked too, and the softmax shows 0 there.
                    assert_eq!(m, f32::NEG_INFINITY, "{name}[{i}] (sequence {b}) should be masked");
                    continue;
                }
                assert!((m - e).abs() <= TOLERANCE, "{name}[{i}] (sequence {b}, {backend:?}): ours {m}, PyTorch {e}");
                compared += 1;
            }
        }
    }
    compared
}

#[test]
fn nano_matches_pytorch_within_1e_4_on_ndarray() {
    let compared = assert_matches_pytorch(BackendKind::Ndarray);
    assert!(compared > 30_000, "compared only {compared} values");
}

#[test]
fn nano_matches_pytorch_within_1e_4_on_wgpu() {
    let compared = assert_matches_pytorch(BackendKind::Wgpu);
    assert!(compared > 30_000, "compared only {compared} values");
}

#[test]
fn forward_captures_every_named_activation_with_its_shape() {
    let weights = reference_weights();
    let tokens = [2, 1, 0, 1, 1, 2];
    let activations = LoadedModel::new(&weights, BackendKind::Ndarray).activations(&tokens).unwrap();
    for (name, shape) in activation_shapes(&weights.config, tokens.len()) {
        let tensor = activations.get(&name).unwrap_or_else(|| panic!("missing '{name}'"));
        assert_eq!(tensor.shape, shape, "{name}");
    }
    // The statistics are those of the tensors they summarize.
    let ln1 = &activations.tensors["x"];
    let mean0: f32 = ln1.data[..48].iter().sum::<f32>() / 48.0;
    assert!((activations.tensors["block0.ln1_mean"].data[0] - mean0).abs() < 1e-5);
    let probs = &activations.tensors["probs"];
    for row in probs.data.chunks(3) {
        assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-5);
    }
}

#[test]
fn sorts_cbabbc_into_abbbcc() {
    let weights = reference_weights();
    let model = LoadedModel::new(&weights, BackendKind::Ndarray);
    let generated = model.generate(&[2, 1, 0, 1, 1, 2], 6).unwrap();
    assert_eq!(generated, vec![0, 1, 1, 1, 2, 2]);
}

#[test]
fn parameter_count_of_nano_is_85728() {
    assert_eq!(GptConfig::nano().param_count(), 85_728);
    assert_eq!(GptConfig::preset("gpt2").unwrap().param_count(), 124_439_808);
    let weights = reference_weights();
    let stored: usize = llmviz::model::names::parameter_shapes(&weights.config)
        .iter()
        .map(|(name, _)| weights.tensors[name].data.len())
        .sum();
    assert_eq!(stored, 85_728);
}

#[test]
fn unknown_model_names_the_presets() {
    let error = GptConfig::preset("gpt5").unwrap_err().to_string();
    assert!(error.contains("gpt5") && error.contains("nano") && error.contains("gpt3"), "{error}");
}

/// `contents` written to `name` in `dir`, a scratch folder of the test's own: in the shared temporary
/// folder a stray config.json could lie beside the file, and the loader would take it up.
fn write_temp(dir: &Path, name: &str, contents: &[u8]) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

#[test]
fn safetensors_round_trip_gives_the_same_activations() {
    let weights = reference_weights();
    let dir = Scratch::dir("model-roundtrip");
    let path = write_temp(&dir, "roundtrip.safetensors", b"");
    weights.save_safetensors(&path).unwrap();
    let reloaded = Weights::load(&path).unwrap();
    assert_eq!(reloaded.config, weights.config);
    let tokens = [0, 2, 1];
    let a = LoadedModel::new(&weights, BackendKind::Ndarray).activations(&tokens).unwrap();
    let b = LoadedModel::new(&reloaded, BackendKind::Ndarray).activations(&tokens).unwrap();
    assert_eq!(a, b);
}

#[test]
fn wrong_shape_names_the_tensor_and_both_shapes() {
    let mut weights = reference_weights();
    let t = weights.tensors.get_mut("transformer.h.1.mlp.c_fc.weight").unwrap();
    t.shape = vec![48, 192];
    let dir = Scratch::dir("model-wrong-shape");
    let path = write_temp(&dir, "wrong-shape.safetensors", b"");
    weights.save_safetensors(&path).unwrap();
    let error = Weights::load(&path).unwrap_err();
    assert!(matches!(error, WeightError::Shape { .. }), "{error:?}");
    let message = error.to_string();
    assert!(
        message.contains("transformer.h.1.mlp.c_fc.weight")
            && message.contains("[192, 48]")
            && message.contains("[48, 192]"),
        "{message}"
    );
}

#[test]
fn missing_tensor_and_bad_json_are_clear_errors() {
    let text = std::fs::read_to_string(fixture("models/gpt-nano-sort-model.json")).unwrap();
    let mut root: serde_json::Value = serde_json::from_str(&text).unwrap();
    root.as_object_mut().unwrap().remove("transformer.ln_f.bias");
    let dir = Scratch::dir("model-json");
    let path = write_temp(&dir, "missing.json", root.to_string().as_bytes());
    let message = Weights::load(&path).unwrap_err().to_string();
    assert!(message.contains("missing tensor 'transformer.ln_f.bias'") && message.contains("[48]"), "{message}");

    let path = write_temp(&dir, "broken.json", b"{\n  \"config\": {\n    \"n_layer\": 3,,\n");
    let message = Weights::load(&path).unwrap_err().to_string();
    assert!(message.contains("broken.json:3:"), "{message}");

    root["transformer.wte.weight"]["dtype"] = "torch.float16".into();
    let path = write_temp(&dir, "dtype.json", root.to_string().as_bytes());
    let message = Weights::load(&path).unwrap_err().to_string();
    assert!(message.contains("transformer.wte.weight") && message.contains("torch.float16"), "{message}");
}

#[test]
fn a_config_whose_width_does_not_divide_by_its_heads_is_refused_when_built() {
    use llmviz::model::config::ConfigError;
    assert_eq!(
        GptConfig::new("odd", [2, 5, 48, 3, 11], false),
        Err(ConfigError::HeadsDoNotDivide { n_embd: 48, n_head: 5 })
    );
    assert_eq!(GptConfig::new("headless", [2, 0, 48, 3, 11], false), Err(ConfigError::Zero { field: "n_head" }));
    let even = GptConfig::new("even", [2, 4, 48, 3, 11], false).expect("48 channels split over 4 heads");
    assert_eq!(even.head_size(), 12);
}

#[test]
fn the_model_refuses_more_tokens_than_its_context_and_tokens_outside_its_vocabulary() {
    use llmviz::model::ModelError;
    let model = LoadedModel::new(&Weights::default_model(), BackendKind::Ndarray);
    let too_long = model.activations(&[0; 12]).unwrap_err();
    assert_eq!(too_long, ModelError::TooLong { len: 12, block_size: 11, model: "nano".into() });
    assert_eq!(too_long.to_string(), "12 tokens, but model 'nano' has a context of 11");
    assert_eq!(model.activations(&[]).unwrap_err(), ModelError::Empty);
    let unknown = model.activations(&[0, 3]).unwrap_err();
    assert_eq!(unknown, ModelError::UnknownToken { token: 3, position: 1, vocab_size: 3, model: "nano".into() });
    assert!(model.activations(&[0; 11]).is_ok(), "a full context runs");
}

#[test]
fn a_nan_or_an_infinity_in_a_weight_is_refused_with_its_tensor_and_index() {
    let mut weights = reference_weights();
    let tensor = weights.tensors.get_mut("transformer.h.1.mlp.c_fc.weight").unwrap();
    let offset = tensor.offset(&[3, 7]).unwrap();
    tensor.data[offset] = f32::NAN;
    let dir = Scratch::dir("model-non-finite");
    let path = write_temp(&dir, "nan.safetensors", b"");
    weights.save_safetensors(&path).unwrap();
    let error = Weights::load(&path).unwrap_err();
    assert!(
        matches!(&error, WeightError::NonFinite { tensor, index, .. } if tensor == "transformer.h.1.mlp.c_fc.weight" && index == &[3, 7]),
        "{error:?}"
    );
    let output = crate::cli::llmviz(&["inspect", "--weights", path.to_str().unwrap(), "--input", "CBA"]);
    crate::cli::assert_clean_failure(&output, "tensor 'transformer.h.1.mlp.c_fc.weight' holds NaN at index [3, 7]");

    // minGPT's JSON too: an infinity in the last element of wte.
    use base64::Engine;
    let text = std::fs::read_to_string(fixture("models/gpt-nano-sort-model.json")).unwrap();
    let mut root: serde_json::Value = serde_json::from_str(&text).unwrap();
    let encoded = root["transformer.wte.weight"]["data"].as_str().unwrap();
    let mut bytes = base64::engine::general_purpose::STANDARD.decode(encoded).unwrap();
    let last = bytes.len() - 4;
    bytes[last..].copy_from_slice(&f32::INFINITY.to_le_bytes());
    root["transformer.wte.weight"]["data"] = base64::engine::general_purpose::STANDARD.encode(&bytes).into();
    let path = write_temp(&dir, "inf.json", root.to_string().as_bytes());
    let message = Weights::load(&path).unwrap_err().to_string();
    assert!(message.contains("tensor 'transformer.wte.weight' holds inf at index [2, 47]"), "{message}");
}
