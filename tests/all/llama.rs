//! Llama-family checkpoints (Llama, Qwen2, Qwen3) in the Hugging Face layout, and their tokenizers.
//!
//! `tests/fixtures/tiny-llama/` holds four random two-layer checkpoints made, with every
//! intermediate of an independent float64 numpy forward pass, by `make_fixture.py`; their
//! `tokenizer.json` files and the ids of 50 tricky strings come from Python's `tokenizers`.
//! `tests/fixtures/hf-configs/` are the five real models' configs, typed from their model cards.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use llmviz::model::hf_llama::llama_config;
use llmviz::model::tokenizer::{Tokenizer, tokenize};
use llmviz::model::{BackendKind, LoadedModel, NamedTensor, Weights};
use safetensors::SafeTensors;

use crate::cli::{assert_clean_failure, llmviz, stderr, stdout};
use crate::scratch::Scratch;

const FOLDERS: [&str; 4] = ["llama-tied", "llama-untied", "qwen2", "qwen3"];

fn fixture(folder: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny-llama").join(folder)
}

/// The reference's tokens and every intermediate numpy computed.
fn reference(folder: &str) -> (Vec<usize>, BTreeMap<String, NamedTensor>) {
    let bytes = std::fs::read(fixture(folder).join("reference.safetensors")).unwrap();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let tensors: BTreeMap<String, NamedTensor> = file
        .tensors()
        .into_iter()
        .map(|(name, view)| {
            let data = view.data().chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect();
            (name, NamedTensor::new(view.shape().to_vec(), data))
        })
        .collect();
    let tokens = tensors["tokens"].data.iter().map(|&t| t as usize).collect();
    (tokens, tensors)
}

fn assert_matches_numpy(folder: &str, backend: BackendKind) {
    let weights = Weights::load(&fixture(folder)).unwrap_or_else(|e| panic!("{folder}: {e}"));
    let (tokens, expected) = reference(folder);
    let activations = LoadedModel::new(&weights, backend).activations(&tokens).unwrap();
    let mut compared = 0;
    for (name, theirs) in expected.iter().filter(|(name, _)| !["tokens", "inv_freq"].contains(&name.as_str())) {
        let ours = activations.get(name).unwrap_or_else(|| panic!("{folder}: no activation '{name}'"));
        assert_eq!(ours.shape, theirs.shape, "{folder} {name}: shape");
        for (i, (a, b)) in ours.data.iter().zip(&theirs.data).enumerate() {
            let close = (a == b) || (a - b).abs() <= 1e-4 * (1.0 + b.abs());
            assert!(close, "{folder} {name}[{i}] on {backend:?}: ours {a}, numpy {b}");
        }
        compared += 1;
    }
    let expected_count = llmviz::model::names::activation_shapes(&weights.config, tokens.len()).len();
    assert_eq!(compared, expected_count, "{folder}: numpy gives every activation the pass records");
}

#[test]
fn every_fixture_matches_an_independent_numpy_forward_pass_on_the_cpu() {
    for folder in FOLDERS {
        assert_matches_numpy(folder, BackendKind::Ndarray);
    }
}

#[test]
fn every_fixture_matches_an_independent_numpy_forward_pass_on_wgpu() {
    let _gpu = crate::gpu::gpu();
    for folder in FOLDERS {
        assert_matches_numpy(folder, BackendKind::Wgpu);
    }
}

#[test]
fn the_configs_say_what_each_checkpoint_is() {
    let config = |folder: &str| Weights::load(&fixture(folder)).unwrap().config;
    let tied = config("llama-tied");
    let llama = tied.llama_shape().unwrap();
    assert_eq!((tied.n_head, llama.n_kv_head, llama.head_dim, tied.tied_lm_head), (4, 2, 8, true));
    assert!(llama.rope_scaling.is_some() && !llama.qkv_bias && !llama.qk_norm);
    // The llama3 rescaling keeps the fastest frequency, blends one and slows the other two.
    let (_, expected) = reference("llama-tied");
    for (ours, theirs) in llama.inv_freq().iter().zip(&expected["inv_freq"].data) {
        assert!((ours - *theirs as f64).abs() <= 1e-6 * theirs.abs() as f64, "inv_freq {ours} against {theirs}");
    }
    let untied = config("llama-untied");
    assert_eq!((untied.kv_heads(), untied.tied_lm_head), (1, false));
    assert!(config("qwen2").llama_shape().unwrap().qkv_bias);
    let qwen3 = config("qwen3");
    assert!(qwen3.llama_shape().unwrap().qk_norm);
    assert_eq!((qwen3.head_size(), qwen3.attention_width(), qwen3.n_embd), (16, 64, 32));
}

/// The five real models' configs give their published parameter counts exactly.
#[test]
fn the_real_configs_give_the_published_parameter_counts() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hf-configs");
    let expected = [
        ("smollm2-135m", 134_515_008),
        ("qwen2.5-0.5b", 494_032_768),
        ("qwen3-0.6b", 596_049_920),
        ("llama-3.2-1b", 1_235_814_400),
        ("tinyllama-1.1b", 1_100_048_384),
    ];
    for (name, count) in expected {
        let path = dir.join(format!("{name}.json"));
        let config = llama_config(&path, &std::fs::read_to_string(&path).unwrap(), name).unwrap();
        assert_eq!(config.param_count(), count, "{name}");
    }
}

#[derive(serde::Deserialize)]
struct Case {
    text: String,
    ids: Vec<usize>,
}

/// Every tokenizer gives Python's `tokenizers` ids for the 50 tricky strings, and reads them back.
#[test]
fn each_tokenizer_gives_the_python_librarys_ids() {
    for folder in FOLDERS {
        let weights = Weights::load(&fixture(folder)).unwrap();
        let tokenizer = Tokenizer::of(&weights.config).unwrap_or_else(|| panic!("{folder}: no tokenizer"));
        assert!(tokenizer.takes_free_text());
        let cases: Vec<Case> =
            serde_json::from_str(&std::fs::read_to_string(fixture(folder).join("tokens.json")).unwrap()).unwrap();
        assert_eq!(cases.len(), 50);
        for case in &cases {
            assert_eq!(tokenizer.encode(&case.text).unwrap(), case.ids, "{folder}: {:?}", case.text);
            if !case.ids.is_empty() {
                assert_eq!(tokenize(&weights.config, &case.text).unwrap(), case.ids);
            }
        }
    }
}

#[test]
fn pieces_are_spelt_as_text() {
    let tied = Weights::load(&fixture("llama-tied")).unwrap().config;
    let tokenizer = Tokenizer::of(&tied).unwrap();
    let ids = tokenizer.encode("Hello world").unwrap();
    let pieces: Vec<String> = ids.iter().map(|&id| tokenizer.piece(id)).collect();
    assert_eq!(pieces, ["Hello", " world"]);
    let untied = Weights::load(&fixture("llama-untied")).unwrap().config;
    let tokenizer = Tokenizer::of(&untied).unwrap();
    let ids = tokenizer.encode("Hello 你").unwrap();
    let pieces: Vec<String> = ids.iter().map(|&id| tokenizer.piece(id)).collect();
    assert_eq!(pieces[0], " Hello");
    // "你" is not in the vocabulary: its three bytes fall back to byte tokens.
    assert!(pieces.iter().any(|piece| piece == "\\xE4"), "{pieces:?}");
    assert_eq!(tokenizer.decode(&ids), "Hello 你");
}

#[test]
fn inspect_prints_the_llama_activations() {
    let out = llmviz(&["inspect", "--weights", fixture("qwen3").to_str().unwrap(), "--text", "Hello world", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    for name in ["x", "block0.rms1", "block0.q_norm", "block0.q_rot", "block1.k_rot", "block1.swiglu", "probs"] {
        assert!(json["tensors"][name].is_object(), "no {name}");
    }
    assert_eq!(json["pieces"][1], " world");
}

/// A copy of a fixture folder, changed by `edit`, in its own temporary folder.
fn broken_copy(folder: &str, name: &str, edit: impl FnOnce(&Path)) -> Scratch {
    let dir = Scratch::dir(&format!("llama-{name}"));
    for entry in std::fs::read_dir(fixture(folder)).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.join(entry.file_name())).unwrap();
    }
    edit(dir.path());
    dir
}

fn edit_config(dir: &Path, change: impl FnOnce(&mut serde_json::Value)) {
    let path = dir.join("config.json");
    let mut config: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    change(&mut config);
    std::fs::write(&path, serde_json::to_string_pretty(&config).unwrap()).unwrap();
}

/// Every unsupported or broken checkpoint: one line naming the file and the field, a non-zero
/// exit, no panic.
#[test]
fn bad_checkpoints_get_one_line_naming_the_file_and_field() {
    let cases: Vec<(&str, Scratch, &str)> = vec![
        (
            "model_type",
            broken_copy("llama-tied", "type", |d| edit_config(d, |c| c["model_type"] = "mamba".into())),
            "field 'model_type': 'mamba' is not supported",
        ),
        (
            "hidden_act",
            broken_copy("llama-tied", "act", |d| edit_config(d, |c| c["hidden_act"] = "gelu".into())),
            "field 'hidden_act': 'gelu' is not supported",
        ),
        (
            "rope type",
            broken_copy("llama-tied", "rope", |d| edit_config(d, |c| c["rope_scaling"]["rope_type"] = "yarn".into())),
            "field 'rope_scaling.rope_type': 'yarn' is not supported",
        ),
        (
            "heads",
            broken_copy("qwen2", "heads", |d| edit_config(d, |c| c["num_key_value_heads"] = 3.into())),
            "num_attention_heads 4 is not a multiple of num_key_value_heads 3",
        ),
        (
            "shard",
            broken_copy("llama-untied", "shard", |d| {
                std::fs::remove_file(d.join("model-00002-of-00002.safetensors")).unwrap()
            }),
            "model-00002-of-00002.safetensors",
        ),
    ];
    for (what, dir, message) in cases {
        let out = llmviz(&["inspect", "--weights", dir.to_str().unwrap(), "--text", "Hello"]);
        assert_clean_failure(&out, message);
        assert!(stderr(&out).contains(dir.to_str().unwrap()), "{what}: names the file: {}", stderr(&out));
    }
}
