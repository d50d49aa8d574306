//! GPT-2 checkpoints in the Hugging Face layout, and GPT-2's tokenizer.
//!
//! `tests/fixtures/tiny-gpt2/` is a random two-layer GPT-2 with the full vocabulary, made with its
//! reference intermediates by an independent numpy forward (`make_fixture.py`). Its weights are
//! bf16-exact, so the F16 and BF16 files written here from it must give the same numbers.
//! `tests/fixtures/gpt2-tokens/tokens.json` holds GPT-2's ids of tricky strings from two other
//! implementations (`make_tokens.mjs`, `check_tokens.py`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use llmviz::model::tokenizer::{Dropped, TokenLimit, Tokenizer, keep_tokens, tokenize, truncate_tokens};
use llmviz::model::{BackendKind, GptConfig, LoadedModel, NamedTensor, Weights};
use safetensors::{Dtype, SafeTensors};

use crate::cli::{assert_clean_failure, llmviz, stderr, stdout};
use crate::scratch::Scratch;

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny-gpt2")
}

/// One stored tensor of the fixture checkpoint, widened to f32.
#[derive(Clone)]
struct Stored {
    name: String,
    shape: Vec<usize>,
    data: Vec<f32>,
    dtype: Dtype,
}

fn read_stored(path: &Path) -> (Vec<Stored>, BTreeMap<String, String>) {
    let bytes = std::fs::read(path).unwrap();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let (_, metadata) = SafeTensors::read_metadata(&bytes).unwrap();
    let tensors = file
        .tensors()
        .into_iter()
        .map(|(name, view)| {
            assert_eq!(view.dtype(), Dtype::F32, "the fixture is F32");
            let data = view.data().chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect();
            Stored { name, shape: view.shape().to_vec(), data, dtype: Dtype::F32 }
        })
        .collect();
    (tensors, metadata.metadata().clone().unwrap_or_default().into_iter().collect())
}

/// How the causal-mask buffers are written: as the fixture has them (F32), as U8 or BOOL, or left out.
#[derive(Clone, Copy, Debug)]
enum Masks {
    F32,
    U8,
    Bool,
    Absent,
}

/// A variant of the fixture checkpoint written into its own folder with `config.json`.
struct Variant {
    dtype: Dtype,
    prefix: bool,
    masks: Masks,
}

fn encode(data: &[f32], dtype: Dtype) -> Vec<u8> {
    match dtype {
        Dtype::F32 => data.iter().flat_map(|v| v.to_le_bytes()).collect(),
        Dtype::F16 => data.iter().flat_map(|&v| half::f16::from_f32(v).to_le_bytes()).collect(),
        Dtype::BF16 => data.iter().flat_map(|&v| half::bf16::from_f32(v).to_le_bytes()).collect(),
        Dtype::F64 => data.iter().flat_map(|&v| (v as f64).to_le_bytes()).collect(),
        Dtype::U8 | Dtype::BOOL => data.iter().map(|&v| (v != 0.0) as u8).collect(),
        other => panic!("no encoder for {other:?}"),
    }
}

fn write_safetensors(path: &Path, tensors: &[Stored]) {
    let encoded: Vec<(String, Vec<u8>, Vec<usize>, Dtype)> =
        tensors.iter().map(|t| (t.name.clone(), encode(&t.data, t.dtype), t.shape.clone(), t.dtype)).collect();
    let views: Vec<(String, safetensors::tensor::TensorView)> = encoded
        .iter()
        .map(|(name, bytes, shape, dtype)| {
            (name.clone(), safetensors::tensor::TensorView::new(*dtype, shape.clone(), bytes).unwrap())
        })
        .collect();
    let metadata = std::collections::HashMap::from([("format".to_string(), "pt".to_string())]);
    safetensors::serialize_to_file(views, Some(metadata), path).unwrap();
}

fn temp_dir(name: &str) -> Scratch {
    Scratch::dir(&format!("gpt2-{name}"))
}

/// Writes the fixture as `variant` into a folder of its own, after `edit` has changed its tensors.
fn write_variant(name: &str, variant: &Variant, edit: impl FnOnce(&mut Vec<Stored>)) -> Scratch {
    let (mut tensors, _) = read_stored(&fixture_dir().join("model.safetensors"));
    for tensor in &mut tensors {
        let mask = tensor.name.ends_with(".attn.bias") || tensor.name.ends_with(".attn.masked_bias");
        tensor.dtype = match (mask, variant.masks) {
            (true, Masks::U8) => Dtype::U8,
            (true, Masks::Bool) => Dtype::BOOL,
            (true, _) => Dtype::F32,
            (false, _) => variant.dtype,
        };
        if variant.prefix {
            tensor.name = format!("transformer.{}", tensor.name);
        }
    }
    if matches!(variant.masks, Masks::Absent) {
        tensors.retain(|t| !t.name.contains(".attn.bias") && !t.name.contains(".attn.masked_bias"));
    }
    edit(&mut tensors);
    let dir = temp_dir(name);
    std::fs::copy(fixture_dir().join("config.json"), dir.join("config.json")).unwrap();
    write_safetensors(&dir.join("model.safetensors"), &tensors);
    dir
}

/// The numpy forward's intermediates and the tokens they were computed on.
fn reference() -> (Vec<usize>, BTreeMap<String, NamedTensor>) {
    let (tensors, metadata) = read_stored(&fixture_dir().join("reference.safetensors"));
    let tokens: Vec<usize> = serde_json::from_str(&metadata["tokens"]).unwrap();
    (tokens, tensors.into_iter().map(|t| (t.name, NamedTensor::new(t.shape, t.data))).collect())
}

fn assert_matches_numpy(weights: &Weights, backend: BackendKind) {
    let (tokens, expected) = reference();
    let activations = LoadedModel::new(weights, backend).activations(&tokens).unwrap();
    assert!(expected.len() >= 38, "the reference has every intermediate");
    for (name, theirs) in &expected {
        let ours = activations.get(name).unwrap_or_else(|| panic!("no activation '{name}'"));
        assert_eq!(ours.shape, theirs.shape, "{name}: shape");
        let worst = ours.data.iter().zip(&theirs.data).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        assert!(worst <= 1e-4, "{name} on {backend:?}: differs from numpy by {worst}");
    }
}

#[test]
fn hugging_face_checkpoints_in_every_dtype_match_numpy_on_ndarray() {
    let variants = [
        ("f32", Variant { dtype: Dtype::F32, prefix: false, masks: Masks::F32 }),
        ("f16-prefixed-u8-masks", Variant { dtype: Dtype::F16, prefix: true, masks: Masks::U8 }),
        ("bf16-bool-masks", Variant { dtype: Dtype::BF16, prefix: false, masks: Masks::Bool }),
        ("bf16-prefixed-no-masks", Variant { dtype: Dtype::BF16, prefix: true, masks: Masks::Absent }),
        ("f16-no-masks", Variant { dtype: Dtype::F16, prefix: false, masks: Masks::Absent }),
    ];
    for (name, variant) in variants {
        let dir = write_variant(name, &variant, |_| {});
        let weights = Weights::load(&dir).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(weights.config.n_layer, 2, "{name}");
        assert!(weights.config.tied_lm_head, "{name}: GPT-2's head is wte");
        assert_matches_numpy(&weights, BackendKind::Ndarray);
    }
    // The shipped folder itself, and its file alone (which finds the config.json beside it).
    assert_matches_numpy(&Weights::load(&fixture_dir()).unwrap(), BackendKind::Ndarray);
    assert_matches_numpy(&Weights::load(&fixture_dir().join("model.safetensors")).unwrap(), BackendKind::Ndarray);
}

#[test]
fn hugging_face_checkpoints_match_numpy_on_wgpu() {
    let _gpu = crate::gpu::gpu();
    assert_matches_numpy(&Weights::load(&fixture_dir()).unwrap(), BackendKind::Wgpu);
    let dir = write_variant("wgpu-bf16", &Variant { dtype: Dtype::BF16, prefix: true, masks: Masks::U8 }, |_| {});
    assert_matches_numpy(&Weights::load(&dir).unwrap(), BackendKind::Wgpu);
}

#[test]
fn an_lm_head_equal_to_wte_is_the_tie_and_a_different_one_is_used() {
    let plain = Variant { dtype: Dtype::F32, prefix: false, masks: Masks::F32 };
    let add_head = |scale: f32| {
        move |tensors: &mut Vec<Stored>| {
            let wte = tensors.iter().find(|t| t.name == "wte.weight").unwrap().clone();
            let data = wte.data.iter().map(|v| v * scale).collect();
            tensors.push(Stored { name: "lm_head.weight".into(), data, ..wte });
        }
    };
    let tied_dir = write_variant("head-tied", &plain, add_head(1.0));
    let tied = Weights::load(&tied_dir).unwrap();
    assert!(tied.config.tied_lm_head);
    assert_eq!(tied.config.param_count(), Weights::load(&fixture_dir()).unwrap().config.param_count());

    let untied_dir = write_variant("head-untied", &plain, add_head(2.0));
    let untied = Weights::load(&untied_dir).unwrap();
    assert!(!untied.config.tied_lm_head);
    let (tokens, expected) = reference();
    let logits = &LoadedModel::new(&untied, BackendKind::Ndarray).activations(&tokens).unwrap().tensors["logits"];
    // The head doubled: every logit doubles.
    for (ours, theirs) in logits.data.iter().zip(&expected["logits"].data).take(1000) {
        assert!((ours - 2.0 * theirs).abs() < 2e-4, "{ours} vs 2 × {theirs}");
    }
}

/// The path of a variant's folder, for the command line.
fn arg(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn bad_checkpoints_are_one_named_error_each() {
    let plain = Variant { dtype: Dtype::F32, prefix: false, masks: Masks::F32 };
    let inspect = |dir: &Path| llmviz(&["inspect", "--weights", arg(dir), "--text", "Hello"]);

    let dir = write_variant("missing", &plain, |t| t.retain(|t| t.name != "h.1.mlp.c_fc.bias"));
    assert_clean_failure(&inspect(&dir), "missing tensor 'h.1.mlp.c_fc.bias' (expected shape [32])");

    let dir = write_variant("nan", &Variant { prefix: true, ..plain }, |tensors| {
        let tensor = tensors.iter_mut().find(|t| t.name == "transformer.h.0.attn.c_attn.weight").unwrap();
        tensor.data[2 * 24 + 5] = f32::NAN;
    });
    assert_clean_failure(&inspect(&dir), "tensor 'transformer.h.0.attn.c_attn.weight' holds NaN at index [2, 5]");
    // Let in, the NaN is stored [in, out]: it reaches output channel 5 of the first projection.
    let allowed = llmviz(&["inspect", "--weights", arg(&dir), "--text", "Hello", "--allow-nonfinite"]);
    assert!(allowed.status.success(), "{}", stderr(&allowed));
    assert!(
        stderr(&allowed).contains("the forward pass produced NaN first in 'block0.qkv' at index [0, 5]"),
        "{}",
        stderr(&allowed)
    );

    let dir = write_variant("inf-bf16", &Variant { dtype: Dtype::BF16, ..plain }, |tensors| {
        tensors.iter_mut().find(|t| t.name == "ln_f.bias").unwrap().data[7] = f32::NEG_INFINITY;
    });
    assert_clean_failure(&inspect(&dir), "tensor 'ln_f.bias' holds -inf at index [7]");

    let dir = write_variant("f64", &plain, |tensors| {
        tensors.iter_mut().find(|t| t.name == "h.0.ln_2.weight").unwrap().dtype = Dtype::F64
    });
    assert_clean_failure(&inspect(&dir), "tensor 'h.0.ln_2.weight': unknown dtype F64, expected F32, F16 or BF16");

    let dir = write_variant("wrong-config", &plain, |_| {});
    let config = std::fs::read_to_string(dir.join("config.json")).unwrap().replace("\"n_embd\": 8", "\"n_embd\": 16");
    std::fs::write(dir.join("config.json"), config).unwrap();
    assert_clean_failure(&inspect(&dir), "tensor 'wte.weight' has shape [50257, 8], expected [50257, 16]");

    let dir = write_variant("relu", &plain, |_| {});
    let config = std::fs::read_to_string(dir.join("config.json")).unwrap().replace("gelu_new", "relu");
    std::fs::write(dir.join("config.json"), config).unwrap();
    assert_clean_failure(&inspect(&dir), "config.json: field 'activation_function': 'relu' is not supported");

    let dir = write_variant("no-config", &plain, |_| {});
    std::fs::remove_file(dir.join("config.json")).unwrap();
    assert_clean_failure(&inspect(&dir), "config.json: cannot read");
    let output = inspect(&dir.join("model.safetensors"));
    assert_clean_failure(&output, "cannot tell the number of heads of a model 8 wide");
    assert!(stderr(&output).contains("put its config.json beside it"));
}

#[test]
fn a_lone_gpt2_small_file_takes_its_heads_from_its_width() {
    // GPT-2 small's shapes with one layer and zero weights: its 12 heads are read off its width of 768.
    let c = 768;
    let zeros = |name: &str, shape: Vec<usize>| Stored {
        name: name.into(),
        data: vec![0.0; shape.iter().product()],
        shape,
        dtype: Dtype::F16,
    };
    let mut tensors = vec![zeros("wte.weight", vec![50257, c]), zeros("wpe.weight", vec![1024, c])];
    for (module, shape) in [
        ("ln_1.weight", vec![c]),
        ("ln_1.bias", vec![c]),
        ("attn.c_attn.weight", vec![c, 3 * c]),
        ("attn.c_attn.bias", vec![3 * c]),
        ("attn.c_proj.weight", vec![c, c]),
        ("attn.c_proj.bias", vec![c]),
        ("ln_2.weight", vec![c]),
        ("ln_2.bias", vec![c]),
        ("mlp.c_fc.weight", vec![c, 4 * c]),
        ("mlp.c_fc.bias", vec![4 * c]),
        ("mlp.c_proj.weight", vec![4 * c, c]),
        ("mlp.c_proj.bias", vec![c]),
    ] {
        tensors.push(zeros(&format!("h.0.{module}"), shape));
    }
    tensors.extend([zeros("ln_f.weight", vec![c]), zeros("ln_f.bias", vec![c])]);
    let dir = temp_dir("lone-small");
    let path = dir.join("model.safetensors");
    write_safetensors(&path, &tensors);
    let config = Weights::load(&path).unwrap().config;
    assert_eq!(
        (config.n_layer, config.n_head, config.n_embd, config.vocab_size, config.block_size),
        (1, 12, 768, 50257, 1024)
    );
}

#[test]
fn text_beyond_the_cap_or_the_context_keeps_the_first_tokens_and_warns() {
    let dir = fixture_dir();
    let output =
        llmviz(&["inspect", "--weights", arg(&dir), "--text", "Hello world, it's a test.", "--max-tokens", "4"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("warning: --text: kept 4 of 8 tokens: the drawing cap (--max-tokens) holds 4"),
        "{}",
        stderr(&output)
    );
    assert_eq!(stdout(&output).lines().filter(|line| line.trim_start().starts_with("t=")).count(), 4);

    // The fixture's context is 16 tokens: 20 words keep 16, whatever --max-tokens says.
    let long = "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen twenty";
    let output = llmviz(&["inspect", "--weights", arg(&dir), "--text", long]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stderr(&output).contains("kept 16 of 20 tokens: the context of model"), "{}", stderr(&output));

    let output = llmviz(&["inspect", "--weights", arg(&dir), "--text", "Hello", "--input", "ABC"]);
    assert!(!output.status.success() && stderr(&output).contains("cannot be used with"), "{}", stderr(&output));
    let output = llmviz(&["inspect", "--weights", arg(&dir), "--text", ""]);
    assert_clean_failure(&output, "--text: the text is empty");
}

#[test]
fn inspect_json_of_a_checkpoint_has_its_tokens_pieces_and_nanos_tensor_names() {
    let output = llmviz(&["inspect", "--weights", arg(&fixture_dir()), "--text", "Hello world, it's", "--json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["tokens"], serde_json::json!([15496, 995, 11, 340, 338]));
    assert_eq!(json["pieces"], serde_json::json!(["Hello", " world", ",", " it", "'s"]));
    let nano = llmviz(&["inspect", "--input", "CBA", "--json"]);
    let nano: serde_json::Value = serde_json::from_slice(&nano.stdout).unwrap();
    let names = |json: &serde_json::Value| json["tensors"].as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    // Three layers for nano, two here: the names of the first two layers and outside them agree.
    let nano_names: Vec<String> = names(&nano).into_iter().filter(|n| !n.starts_with("block2.")).collect();
    assert_eq!(names(&json), nano_names);
    assert_eq!(json["tensors"]["probs"]["shape"], serde_json::json!([5, 50257]));
    assert_eq!(json["tensors"]["block1.att"]["data"][1], serde_json::Value::Null, "a future score is masked");
}

#[test]
fn inspect_generates_text_and_layout_counts_the_stored_parameters() {
    let dir = fixture_dir();
    let output = llmviz(&["inspect", "--weights", arg(&dir), "--text", "Hello world", "--generate", "3"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let last = stdout(&output).lines().last().unwrap().to_string();
    let generated = last.strip_prefix("generated ").expect("the last line is the generation");
    let model = LoadedModel::new(&Weights::load(&dir).unwrap(), BackendKind::Ndarray);
    let ids = model.generate(&[15496, 995], 3).unwrap();
    assert_eq!(ids.len(), 3);
    assert_eq!(generated, Tokenizer::Gpt2.decode(&ids));

    // The parameters are the stored tensors less the mask buffers, counted in the file itself.
    let (tensors, _) = read_stored(&dir.join("model.safetensors"));
    let stored: usize = tensors
        .iter()
        .filter(|t| !t.name.contains(".attn.bias") && !t.name.contains("masked_bias"))
        .map(|t| t.data.len())
        .sum();
    let output = llmviz(&["layout", "--weights", arg(&dir), "--max-tokens", "4"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(
        text.contains(&format!("parameters (the checkpoint's): {}", llmviz::layout::group_digits(stored as u64))),
        "{text}"
    );
    assert!(text.contains("C = 8, T = 4, V = 50257"), "{text}");
}

#[test]
fn explain_works_on_a_checkpoint_and_summarises_long_rows() {
    let weights = Weights::load(&fixture_dir()).unwrap();
    let layout = llmviz::layout::build(&weights.config);
    let tokens = [15496, 995, 11, 340, 338];
    let activations = LoadedModel::new(&weights, BackendKind::Ndarray).activations(&tokens).unwrap();
    let sources = llmviz::explain::Sources { layout: &layout, activations: &activations, weights: &weights };
    let cell_of = |tensor: &str, index: &[usize]| {
        let block = layout.blocks.iter().find(|b| b.tensor == tensor).unwrap();
        let cells = block.cells;
        let cell = (0..cells[0])
            .flat_map(|x| (0..cells[1].min(64)).flat_map(move |y| (0..cells[2]).map(move |z| [x, y, z])))
            .find(|&cell| block.tensor_index(cell) == index)
            .unwrap_or_else(|| panic!("no cell of {tensor} shows {index:?}"));
        (block.name.clone(), cell)
    };
    let (_, expected) = reference();

    // The logits' softmax statistics read 50,257 logits: the card keeps the 16 largest, largest first.
    let (block, cell) = cell_of("logits_max", &[2]);
    let max = llmviz::explain::explain(&sources, &block, cell).unwrap();
    assert_eq!((max.terms_total, max.terms.len()), (50257, 16));
    let row = &expected["logits"].data[2 * 50257..3 * 50257];
    let largest = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    assert!((max.terms[0]["x"].value - largest).abs() < 1e-4 && (max.value - largest).abs() < 1e-4);
    assert!(max.terms.windows(2).all(|pair| pair[0]["x"].value >= pair[1]["x"].value), "largest first");

    // A logit is a dot product with a row of wte, the tied head.
    let (block, cell) = cell_of("logits", &[1, 0]);
    let logit = llmviz::explain::explain(&sources, &block, cell).unwrap();
    assert!(logit.formula.contains("tied"), "{}", logit.formula);
    assert_eq!(logit.terms[0]["w"].tensor, "transformer.wte.weight");
    assert!((logit.value - expected["logits"].data[50257]).abs() < 1e-4);

    // The embedding names GPT-2's token by its piece; columns past the text are not computed.
    let (block, cell) = cell_of("x", &[1, 0]);
    let x = llmviz::explain::explain(&sources, &block, cell).unwrap();
    assert!(x.formula.contains("\" world\" = 995"), "{}", x.formula);
    let (block, cell) = cell_of("x", &[9, 0]);
    let masked = llmviz::explain::explain(&sources, &block, cell).unwrap_err();
    assert!(masked.to_string().starts_with("masked: t = 9 is beyond the input of 5 tokens"), "{masked}");

    // The command line agrees, on the same cell.
    let output = llmviz(&[
        "explain",
        "--weights",
        arg(&fixture_dir()),
        "--text",
        "Hello world, it's",
        "--block",
        &block,
        "--cell",
        &format!("{},{},{}", cell[0], cell[1], cell[2]),
    ]);
    assert_clean_failure(&output, "masked: t = 9");
}

#[test]
fn gpt2_tokens_match_two_other_implementations_and_round_trip() {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gpt2-tokens/tokens.json"))
            .unwrap();
    let cases: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
    assert!(cases.len() >= 20);
    let tokenizer = Tokenizer::Gpt2;
    for case in &cases {
        let text = case["text"].as_str().unwrap();
        let ids: Vec<usize> = serde_json::from_value(case["ids"].clone()).unwrap();
        assert_eq!(tokenizer.encode(text).unwrap(), ids, "{text:?}");
        assert_eq!(tokenizer.decode(&ids), text, "{text:?} round trip");
    }
    assert_eq!(tokenizer.encode("Hello world").unwrap(), [15496, 995]);
    assert_eq!(tokenizer.piece(995), " world");
    // A piece of an emoji is shown as its bytes; the whole emoji decodes.
    let emoji = tokenizer.encode("🙂").unwrap();
    assert!(emoji.len() > 1 && tokenizer.piece(emoji[0]).starts_with("\\x"), "{emoji:?}");
}

#[test]
fn the_tokenizer_is_a_property_of_the_model() {
    let nano = GptConfig::nano();
    assert_eq!(tokenize(&nano, "cbabbc").unwrap(), [2, 1, 0, 1, 1, 2]);
    assert!(tokenize(&nano, "Hello").unwrap_err().to_string().contains("'H' at position 0"));
    let gpt2 = GptConfig::preset("gpt2").unwrap().with_max_tokens(3);
    let tokens = tokenize(&gpt2, "Hello world, it's").unwrap();
    assert_eq!(tokens.len(), 5);
    let (kept, dropped) = truncate_tokens(&gpt2, tokens.clone());
    assert_eq!(kept, [15496, 995, 11]);
    assert_eq!(dropped, Some(Dropped { kept: 3, total: 5, limit: TokenLimit::DrawingCap }));
    assert_eq!(keep_tokens(&gpt2, tokens).1.unwrap(), "kept 3 of 5 tokens: the drawing cap holds 3");
    let custom = GptConfig::new("custom", [1, 1, 4, 100, 8], false).unwrap();
    assert!(Tokenizer::of(&custom).is_none());
}

#[test]
fn gpt2s_bpe_made_from_a_hugging_face_vocab_json_tokenizes_as_the_built_in_ranks() {
    use llmviz::model::tokenizer::gpt2_bpe_from_vocab_json;
    // vocab.json was written from tiktoken's ranks file by the fixture's make_vocab.py, through
    // GPT-2's own byte alphabet in Python: reading it back checks ours.
    let json = std::fs::read_to_string(fixture_dir().join("vocab.json")).unwrap();
    let bpe = gpt2_bpe_from_vocab_json(&json).unwrap();
    let texts = [
        "Hello, I'm a language model,",
        "  two spaces,\ta tab\nand lines",
        "café, naïve, 🦀 and 中文",
        "don't 1234567 3.14 $$$",
    ];
    for text in texts {
        let ours: Vec<usize> = bpe.encode_ordinary(text).into_iter().map(|id| id as usize).collect();
        assert_eq!(ours, Tokenizer::Gpt2.encode(text).unwrap(), "{text:?}");
        assert_eq!(String::from_utf8(bpe.decode_bytes(&bpe.encode_ordinary(text)).unwrap()).unwrap(), text);
    }
    // One clear error for a file that is not GPT-2's vocabulary.
    for (bad, expected) in [
        ("[1, 2]".to_string(), "not a map of tokens to ids"),
        (json.replacen("\"!\":0", "\"!\":1", 1), "id 1 is given to two tokens"),
        (json.replacen("\"!\":0", "\"\\u0007\":0", 1), "outside GPT-2's byte alphabet"),
        (json.replacen("\"!\":0,", "", 1), "50256 tokens, GPT-2 has 50257"),
    ] {
        let error = gpt2_bpe_from_vocab_json(&bad).err().expect(expected);
        assert!(error.starts_with("vocab.json: ") && error.contains(expected), "{error}");
    }
}

#[test]
fn tokenize_prints_every_token_of_a_text_or_a_file() {
    let output = llmviz(&["tokenize", "--text", "Hello world, it's", "--json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["tokens"], serde_json::json!([15496, 995, 11, 340, 338]));
    assert!(stderr(&output).starts_with("5 tokens (3 words, 17 bytes) in "), "{}", stderr(&output));
    let dir = temp_dir("tokenize");
    let file = dir.join("text.txt");
    std::fs::write(&file, "we'll\n").unwrap();
    let output = llmviz(&["tokenize", "--file", arg(&file)]);
    assert_eq!(stdout(&output), "   732 \"we\"\n  1183 \"'ll\"\n   198 \"\\n\"\n");
    let output = llmviz(&["tokenize", "--model", "nano", "--text", "CAB"]);
    assert_eq!(stdout(&output), "     2 \"C\"\n     0 \"A\"\n     1 \"B\"\n");
}

#[test]
fn a_checkpoints_scene_packs_its_activations_and_the_drawn_positions_of_wpe() {
    use bevy_math::UVec2;
    use llmviz::render::run::offscreen::Offscreen;
    use llmviz::render::scene::blocks::{SceneSource, SceneValues};
    use llmviz::render::scene::pages::PackedValues;
    use llmviz::render::view::viewpoint::CameraChoice;
    let _gpu = crate::gpu::gpu();
    let mut weights = Weights::load(&fixture_dir()).unwrap();
    weights.config = weights.config.with_max_tokens(8);
    let wpe = weights.tensors["transformer.wpe.weight"].data[..8 * 8].to_vec();
    let source = SceneSource::with_weights(weights, vec![15496, 995, 11]);
    let view = CameraChoice::Overview.view_point(&llmviz::layout::build(&source.config)).unwrap();
    let mut offscreen = Offscreen::new(source, UVec2::new(160, 90), view);
    offscreen.wait_until_ready().unwrap();
    let world = offscreen.world_mut();
    assert_eq!(world.resource::<SceneValues>().values_left_out, 0, "the tiny model's weights fit");
    let packed = world.resource::<PackedValues>();
    // x is [T = 8, C = 8]: the three tokens' rows as numpy has them, NaN past the text.
    let x = packed.tensors["x"];
    let (_, expected) = reference();
    // The pages hold 16-bit floats: within half of f16's step (2^-11 relative) of numpy's.
    let near = |ours: f32, theirs: f32| (ours - theirs).abs() <= theirs.abs() / 2048.0 + 1e-7;
    for (ours, theirs) in packed.values(x.base, 24).into_iter().zip(&expected["x"].data[..24]) {
        assert!(near(ours, *theirs), "{ours} vs {theirs}");
    }
    assert!(packed.values(x.base + 24, 40).iter().all(|v| v.is_nan()));
    // The position embedding has 16 rows; the 8 drawn are its first.
    let drawn = packed.tensors["transformer.wpe.weight"];
    for (ours, theirs) in packed.values(drawn.base, 64).into_iter().zip(&wpe) {
        assert!(near(ours, *theirs), "{ours} vs {theirs}");
    }
}

#[test]
fn a_vocabulary_split_over_gpu_sized_blocks_gives_the_same_numbers() {
    use llmviz::model::Network;
    use llmviz::model::gpt::VocabRows;
    use llmviz::model::names::WTE;
    let weights = Weights::load(&fixture_dir()).unwrap();
    // GPT-2's 154 MB token embedding is two blocks; here 50,257 rows in blocks of 10,000 make six.
    let split = |model: LoadedModel| match model {
        LoadedModel::Ndarray(mut network) => {
            let Network::Gpt(gpt) = network.as_mut() else { panic!("GPT-2 is a GPT") };
            gpt.wte = VocabRows::from_tensor_in(&weights.tensors[WTE], &Default::default(), 10_000);
            assert_eq!(gpt.wte.blocks.len(), 6);
            LoadedModel::Ndarray(network)
        }
        LoadedModel::Wgpu(mut network) => {
            let Network::Gpt(gpt) = network.as_mut() else { panic!("GPT-2 is a GPT") };
            gpt.wte = VocabRows::from_tensor_in(&weights.tensors[WTE], &Default::default(), 10_000);
            LoadedModel::Wgpu(network)
        }
    };
    let (tokens, expected) = reference();
    let _gpu = crate::gpu::gpu();
    for backend in [BackendKind::Ndarray, BackendKind::Wgpu] {
        let activations = split(LoadedModel::new(&weights, backend)).activations(&tokens).unwrap();
        for name in ["tok_emb", "x", "logits", "probs"] {
            let worst = activations.tensors[name]
                .data
                .iter()
                .zip(&expected[name].data)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f32::max);
            assert!(worst <= 1e-4, "{name} on {backend:?}: {worst}");
        }
    }
}

#[test]
fn without_text_a_checkpoint_reads_nanogpts_prompt() {
    let output = llmviz(&["explain", "--weights", arg(&fixture_dir()), "--block", "x", "--cell", "3,0", "--json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let explanation: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(explanation["index"], serde_json::json!([3, 0]));
    // "Hello, I'm a language model,": Hello | , | ␣I | 'm | ...
    assert!(explanation["formula"].as_str().unwrap().contains("\"'m\" = 1101"), "{}", explanation["formula"]);
    let output = llmviz(&["inspect", "--weights", arg(&fixture_dir())]);
    assert_clean_failure(&output, "give --text TEXT (any model) or --input LETTERS");
}

#[test]
fn logits_too_large_for_one_gpu_buffer_are_refused_before_burn_sees_them() {
    let gpt2 = GptConfig::preset("gpt2").unwrap();
    // 667 positions × 50,257 logits × 4 bytes fit WebGPU's 128 MiB binding; 668 do not.
    assert!(llmviz::model::check_gpu_tokens(&gpt2, &[0; 667]).is_ok());
    let error = llmviz::model::check_gpu_tokens(&gpt2, &[0; 668]).unwrap_err().to_string();
    assert!(error.starts_with("668 tokens: on the GPU at most 667 fit"), "{error}");
}
