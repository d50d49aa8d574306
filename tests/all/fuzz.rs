//! Nothing breaks the readers of outside input: checkpoints (minGPT's JSON, our safetensors, Hugging
//! Face's safetensors and its `config.json`), tours, the page's URL query, the command line's
//! `--size`, `--cell`, `--hover` and `--camera`, and text through the tokenizers.
//!
//! Each reader is fed valid seeds built here, then mutated: bytes flipped, inserted, deleted and
//! duplicated, files truncated at every byte, safetensors headers rewritten with lying offsets,
//! overlapping ranges, huge shapes and wrong dtypes, configs with absurd sizes, tours with tokens
//! deleted, duplicated and swapped. The property: a valid result or a clean error that names its
//! file or flag, never a panic, never a hang, and memory bounded by the input's size (a header that
//! claims a 10^12-element tensor is refused before anything is allocated for it).
//!
//! `LLMVIZ_FUZZ_CASES=N ./test.sh fuzz` runs N random cases per reader (CI runs `DEFAULT_CASES`;
//! tours a `TOUR_SHARE`-th of them), plus every truncation of the checkpoints; `--nocapture`
//! shows how many each reader survived and the most memory a case took. Translations of tours are
//! not fuzzed.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::path::Path;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::Duration;

use base64::Engine;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{Value, json};

use llmviz::explain::parse_cell;
use llmviz::layout::{self, Layout};
use llmviz::model::config::{GptConfig, preset_names};
use llmviz::model::huggingface::{config_from_hf_json, folder_config};
use llmviz::model::names::parameter_shapes;
use llmviz::model::tokenizer::{Tokenizer, tokenize};
use llmviz::model::{NamedTensor, WeightError, Weights};
use llmviz::tour::{CompiledTour, Layouts, Tour};
use llmviz::web::{DeepLink, open_tour};

use crate::memory::peak_during;
use crate::scratch::Scratch;

/// Random cases per reader when `LLMVIZ_FUZZ_CASES` is not set: all readers together take well
/// under a minute in the debug test build on two cores.
const DEFAULT_CASES: u32 = 2000;

/// How long one case may run before the reader is taken to hang. A guard, not a speed test: the
/// slowest case takes milliseconds, and a machine a hundred times slower still passes.
const HANG_GUARD: Duration = Duration::from_secs(120);

/// The most memory a case may take: a reader holds its input a few times over (the bytes, their
/// parsed form, the f32 tensors widened from F16), and a little more, never what a header claims.
fn memory_bound(input_len: usize) -> usize {
    64 * input_len + (4 << 20)
}

/// A tour's case compiles it against GPT-3's layout, a hundred times the work of another reader's
/// case: tours run this share of the cases.
const TOUR_SHARE: u32 = 4;

fn cases() -> u32 {
    match std::env::var("LLMVIZ_FUZZ_CASES") {
        Ok(text) => text.parse().unwrap_or_else(|_| panic!("LLMVIZ_FUZZ_CASES={text}: expected a number of cases")),
        Err(_) => DEFAULT_CASES,
    }
}

// ---------------------------------------------------------------------------------------------
// The hang guard and the runner

/// The worker's side of the hang guard: each case is reported before it runs, with its input,
/// so that a case that never returns can be named.
struct Beat {
    sender: mpsc::Sender<()>,
    current: Arc<Mutex<Vec<u8>>>,
}

impl Beat {
    fn case(&self, input: &[u8]) {
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        current.clear();
        current.extend_from_slice(input);
        drop(current);
        let _ = self.sender.send(());
    }
}

thread_local! {
    /// The most memory a case of this worker's reader took, for its report.
    static LARGEST_PEAK: Cell<usize> = const { Cell::new(0) };
}

/// Runs `work` on a worker thread and waits for each of its cases in turn, failing with the case's
/// input when one runs past `HANG_GUARD`. Returns how many cases `work` ran, and prints it.
fn guarded(reader: &'static str, work: impl FnOnce(&Beat) -> u64 + Send + 'static) -> u64 {
    let (sender, beats) = mpsc::channel();
    let current = Arc::new(Mutex::new(Vec::new()));
    let beat = Beat { sender, current: Arc::clone(&current) };
    let worker = thread::Builder::new()
        .name(format!("fuzz {reader}"))
        .spawn(move || (work(&beat), LARGEST_PEAK.with(Cell::get)))
        .expect("a worker thread starts");
    loop {
        match beats.recv_timeout(HANG_GUARD) {
            Ok(()) => {}
            Err(RecvTimeoutError::Disconnected) => break,
            Err(RecvTimeoutError::Timeout) => {
                let input = current.lock().unwrap_or_else(PoisonError::into_inner);
                panic!("{reader}: a case ran for over {HANG_GUARD:?}, a hang: {:?}", String::from_utf8_lossy(&input));
            }
        }
    }
    match worker.join() {
        Ok((count, largest_peak)) => {
            println!("fuzz {reader}: {count} cases survived, the largest took {} KiB", largest_peak.div_ceil(1024));
            count
        }
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

/// `cases()` random values of `strategy` through `check`; a failure (a panic included) is shrunk to
/// the smallest input proptest finds and reported with it.
fn run_cases<S: Strategy>(
    beat: &Beat,
    strategy: S,
    check: impl Fn(&Beat, S::Value) -> Result<(), TestCaseError>,
) -> u64 {
    run_share(beat, 1, strategy, check)
}

/// `run_cases` over a `share`-th of the cases.
fn run_share<S: Strategy>(
    beat: &Beat,
    share: u32,
    strategy: S,
    check: impl Fn(&Beat, S::Value) -> Result<(), TestCaseError>,
) -> u64 {
    let config = Config { cases: cases().div_ceil(share), failure_persistence: None, ..Config::default() };
    let count = Cell::new(0);
    let result = TestRunner::new(config).run(&strategy, |value| {
        count.set(count.get() + 1);
        check(beat, value)
    });
    if let Err(failure) = result {
        panic!("{failure}");
    }
    count.get()
}

/// Runs `read` on `input`, failing the case when it took more memory than the input allows.
fn bounded<R>(input_len: usize, read: impl FnOnce() -> R) -> Result<R, TestCaseError> {
    bounded_by(input_len, memory_bound(input_len), read)
}

fn bounded_by<R>(input_len: usize, bound: usize, read: impl FnOnce() -> R) -> Result<R, TestCaseError> {
    let (result, peak) = peak_during(read);
    LARGEST_PEAK.with(|largest| largest.set(largest.get().max(peak)));
    prop_assert!(peak <= bound, "took {peak} bytes for {input_len} bytes of input (at most {bound})");
    Ok(result)
}

/// An error must say something, after naming where it comes from.
fn check_message(message: &str, names: &[&str]) -> Result<(), TestCaseError> {
    let named = names.iter().find(|name| message.starts_with(*name));
    prop_assert!(named.is_some(), "error does not start with any of {names:?}: {message}");
    prop_assert!(message.len() > named.map_or(0, |name| name.len()) + 2, "error says nothing: {message}");
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Byte edits, for every file format

#[derive(Clone, Debug)]
enum ByteEdit {
    Set(usize, u8),
    Flip(usize, u8),
    Insert(usize, u8),
    Delete(usize),
    /// Copies `len` bytes from one place to another: duplicated fields, nested brackets.
    Duplicate(usize, usize, usize),
    Truncate(usize),
}

/// Bytes that mean something in the formats read: JSON's and RON's punctuation, digits, and the
/// ends of the range.
fn telling_byte() -> impl Strategy<Value = u8> {
    prop_oneof![any::<u8>(), proptest::sample::select(b"\0\xff9-e.\"{}[],:\\ ".to_vec())]
}

fn byte_edit() -> impl Strategy<Value = ByteEdit> {
    prop_oneof![
        (any::<usize>(), telling_byte()).prop_map(|(at, byte)| ByteEdit::Set(at, byte)),
        (any::<usize>(), 1..=255u8).prop_map(|(at, bits)| ByteEdit::Flip(at, bits)),
        (any::<usize>(), telling_byte()).prop_map(|(at, byte)| ByteEdit::Insert(at, byte)),
        any::<usize>().prop_map(ByteEdit::Delete),
        (any::<usize>(), any::<usize>(), 1..64usize).prop_map(|(from, to, len)| ByteEdit::Duplicate(from, to, len)),
        any::<usize>().prop_map(ByteEdit::Truncate),
    ]
}

fn byte_edits() -> impl Strategy<Value = Vec<ByteEdit>> {
    proptest::collection::vec(byte_edit(), 1..6)
}

fn apply_byte_edits(seed: &[u8], edits: &[ByteEdit]) -> Vec<u8> {
    let mut bytes = seed.to_vec();
    for edit in edits {
        let len = bytes.len();
        let at = |position: usize| position % len.max(1);
        match *edit {
            ByteEdit::Set(position, byte) if len > 0 => bytes[at(position)] = byte,
            ByteEdit::Flip(position, bits) if len > 0 => bytes[at(position)] ^= bits,
            ByteEdit::Insert(position, byte) => bytes.insert(position % (len + 1), byte),
            ByteEdit::Delete(position) if len > 0 => {
                bytes.remove(at(position));
            }
            ByteEdit::Duplicate(from, to, count) if len > 0 => {
                let from = at(from);
                let copied = bytes[from..(from + count).min(len)].to_vec();
                let to = to % (len + 1);
                bytes.splice(to..to, copied);
            }
            ByteEdit::Truncate(position) => bytes.truncate(position % (len + 1)),
            _ => {}
        }
    }
    bytes
}

// ---------------------------------------------------------------------------------------------
// Structured edits: JSON values, sizes, shapes and dtypes

/// A value for a config field: sizes from nothing to absurd, and values of the wrong type.
fn config_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        proptest::sample::select(vec![
            0u64,
            1,
            2,
            3,
            4,
            5,
            8,
            12,
            48,
            768,
            50257,
            1_000_000,
            1_000_000_000_000,
            u64::MAX
        ])
        .prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        Just(json!(-1)),
        Just(json!(1.5)),
        Just(json!(1e-5)),
        Just(json!(0.0)),
        Just(json!(1e308)),
        Just(json!("gelu_new")),
        Just(json!("relu")),
        Just(json!("x")),
        Just(json!(true)),
        Just(Value::Null),
        Just(json!([4])),
        Just(json!({})),
    ]
}

const CONFIG_FIELDS: [&str; 12] = [
    "n_layer",
    "n_head",
    "n_embd",
    "vocab_size",
    "block_size",
    "n_positions",
    "n_ctx",
    "tied_lm_head",
    "model_type",
    "layer_norm_epsilon",
    "activation_function",
    "_name_or_path",
];

/// Sets (or, for None, removes) fields of a JSON object.
fn config_edits() -> impl Strategy<Value = Vec<(&'static str, Option<Value>)>> {
    proptest::collection::vec(
        (proptest::sample::select(CONFIG_FIELDS.to_vec()), proptest::option::weighted(0.9, config_value())),
        1..4,
    )
}

fn apply_config_edits(config: &mut Value, edits: &[(&'static str, Option<Value>)]) {
    let Some(object) = config.as_object_mut() else { return };
    for (field, value) in edits {
        match value {
            Some(value) => object.insert(field.to_string(), value.clone()),
            None => object.remove(*field),
        };
    }
}

/// A tensor's size along one axis: small, absurd, or past what any product holds.
fn dimension() -> impl Strategy<Value = u64> {
    prop_oneof![
        0..16u64,
        proptest::sample::select(vec![1_000_000u64, 1 << 32, 1 << 62, u64::MAX / 2 + 1, u64::MAX]),
        any::<u64>(),
    ]
}

fn shape() -> impl Strategy<Value = Vec<u64>> {
    prop_oneof![
        proptest::collection::vec(dimension(), 0..5),
        Just(vec![1_000_000, 1_000_000]),
        Just(vec![1 << 32, 1 << 32, 1 << 32]),
    ]
}

/// An edit of one tensor's entry (chosen by index, modulo the count): in a safetensors header or
/// in minGPT's JSON.
#[derive(Clone, Debug)]
enum TensorEdit {
    Shape(usize, Vec<u64>),
    Dtype(usize, &'static str),
    /// Byte offsets, lying ones among them.
    Offsets(usize, u64, u64),
    /// The offsets of another tensor: two tensors over one range.
    SameRange(usize, usize),
    /// minGPT's data: `len` bytes of base64, or text that is not base64.
    Data(usize, Option<usize>),
    Remove(usize),
    Rename(usize, String),
    Config(Vec<(&'static str, Option<Value>)>),
    /// Bytes added to (or, negative, cut from) the data after the header.
    DataLength(i64),
}

const DTYPES: [&str; 14] = [
    "F32",
    "F16",
    "BF16",
    "F64",
    "I64",
    "I32",
    "I8",
    "U8",
    "BOOL",
    "F8_E4M3",
    "F4",
    "torch.float32",
    "float32",
    "torch.float16",
];

fn offset() -> impl Strategy<Value = u64> {
    prop_oneof![0..4096u64, proptest::sample::select(vec![u64::MAX, u64::MAX - 3, 1 << 40, 1 << 32]), any::<u64>()]
}

fn tensor_name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("transformer.h.0.ln_1.weight".to_string()),
        Just("h.0.ln_1.weight".to_string()),
        Just("h.18446744073709551615.ln_1.weight".to_string()),
        Just("h.99999.attn.c_attn.weight".to_string()),
        Just("lm_head.weight".to_string()),
        Just("wte.weight".to_string()),
        Just("__metadata__".to_string()),
        Just("config".to_string()),
        "\\PC{0,12}",
    ]
}

fn tensor_edit() -> impl Strategy<Value = TensorEdit> {
    prop_oneof![
        (any::<usize>(), shape()).prop_map(|(tensor, shape)| TensorEdit::Shape(tensor, shape)),
        (any::<usize>(), proptest::sample::select(DTYPES.to_vec()))
            .prop_map(|(tensor, dtype)| TensorEdit::Dtype(tensor, dtype)),
        (any::<usize>(), offset(), offset()).prop_map(|(tensor, start, end)| TensorEdit::Offsets(tensor, start, end)),
        (any::<usize>(), any::<usize>()).prop_map(|(tensor, other)| TensorEdit::SameRange(tensor, other)),
        (any::<usize>(), proptest::option::weighted(0.8, 0..256usize))
            .prop_map(|(tensor, len)| TensorEdit::Data(tensor, len)),
        any::<usize>().prop_map(TensorEdit::Remove),
        (any::<usize>(), tensor_name()).prop_map(|(tensor, name)| TensorEdit::Rename(tensor, name)),
        config_edits().prop_map(TensorEdit::Config),
        (-64..64i64).prop_map(TensorEdit::DataLength),
    ]
}

fn tensor_edits() -> impl Strategy<Value = Vec<TensorEdit>> {
    proptest::collection::vec(tensor_edit(), 1..5)
}

/// The name of the `index`-th tensor entry of an object (the metadata and minGPT's config skipped).
fn nth_tensor(object: &serde_json::Map<String, Value>, index: usize) -> Option<String> {
    let names: Vec<&String> = object.keys().filter(|name| *name != "__metadata__" && *name != "config").collect();
    (!names.is_empty()).then(|| names[index % names.len()].clone())
}

/// Applies the edits that both formats share to a JSON object of tensors; true when it did.
fn edit_tensor_entry(object: &mut serde_json::Map<String, Value>, edit: &TensorEdit) -> bool {
    let index = match edit {
        TensorEdit::Shape(index, _)
        | TensorEdit::Dtype(index, _)
        | TensorEdit::Remove(index)
        | TensorEdit::Rename(index, _) => *index,
        _ => return false,
    };
    let Some(name) = nth_tensor(object, index) else { return true };
    match edit {
        TensorEdit::Shape(_, shape) => object[&name]["shape"] = json!(shape),
        TensorEdit::Dtype(_, dtype) => object[&name]["dtype"] = json!(dtype),
        TensorEdit::Remove(_) => {
            object.remove(&name);
        }
        TensorEdit::Rename(_, new_name) => {
            let entry = object.remove(&name).expect("the name was listed");
            object.insert(new_name.clone(), entry);
        }
        _ => unreachable!("only the shared edits get here"),
    }
    true
}

// ---------------------------------------------------------------------------------------------
// Seeds: small valid checkpoints of every format

/// A model small enough that every byte of its file can be a truncation point.
fn tiny_config() -> GptConfig {
    GptConfig::new("tiny", [1, 2, 4, 3, 4], false).expect("a valid shape")
}

/// Parameters with distinct, finite values, as the config calls for.
fn tiny_tensors(config: &GptConfig) -> BTreeMap<String, NamedTensor> {
    parameter_shapes(config)
        .into_iter()
        .enumerate()
        .map(|(i, (name, shape))| {
            let len = shape.iter().product::<usize>();
            let data = (0..len).map(|j| ((i * 31 + j) as f32 * 0.37).sin()).collect();
            (name, NamedTensor { shape, data })
        })
        .collect()
}

fn tiny_weights() -> Weights {
    let config = tiny_config();
    let tensors = tiny_tensors(&config);
    Weights { config, tensors, source: "tiny".into() }
}

/// Our safetensors: `save_safetensors`, the config in the metadata. Written to a file named for
/// `test`: the tests that call this run at once, and each removes its file when done with it.
fn ours_seed(test: &str) -> Vec<u8> {
    let path = Scratch::file(&format!("fuzz-{test}.safetensors"));
    tiny_weights().save_safetensors(&path).expect("the seed saves");
    std::fs::read(&path).expect("the seed reads back")
}

fn base64_of(data: &[f32]) -> String {
    let bytes: Vec<u8> = data.iter().flat_map(|v| v.to_le_bytes()).collect();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// minGPT's JSON dump, with the causal mask it carries and a config.
fn mingpt_seed() -> Vec<u8> {
    let weights = tiny_weights();
    let mut root = serde_json::Map::new();
    root.insert("config".into(), serde_json::to_value(&weights.config).expect("configs serialize"));
    for (name, tensor) in &weights.tensors {
        root.insert(
            name.clone(),
            json!({ "shape": tensor.shape, "dtype": "torch.float32", "data": base64_of(&tensor.data) }),
        );
    }
    root.insert(
        "transformer.h.0.attn.bias".into(),
        json!({ "shape": [1, 1, 1], "dtype": "torch.float32", "data": base64_of(&[1.0]) }),
    );
    serde_json::to_vec(&root).expect("JSON serializes")
}

/// Hugging Face's layout: no `transformer.` prefix (or, with `prefixed`, with it and the tie
/// written out as `lm_head.weight`), Conv1D weights [in, out], mask buffers, F16 and BF16 tensors.
fn hf_seed(prefixed: bool) -> Vec<u8> {
    let mut config = tiny_config();
    config.tied_lm_head = true;
    let mut stored: Vec<(String, safetensors::Dtype, Vec<usize>, Vec<u8>)> = Vec::new();
    for (i, (name, tensor)) in tiny_tensors(&config).into_iter().enumerate() {
        let short = name.strip_prefix("transformer.").unwrap_or(&name).to_string();
        let conv1d = ["attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight"]
            .iter()
            .any(|s| short.ends_with(s));
        let (shape, data) = if conv1d { transposed(&tensor) } else { (tensor.shape.clone(), tensor.data.clone()) };
        let (dtype, bytes): (safetensors::Dtype, Vec<u8>) = match i % 3 {
            0 => (safetensors::Dtype::F32, data.iter().flat_map(|v| v.to_le_bytes()).collect()),
            1 => (safetensors::Dtype::F16, data.iter().flat_map(|v| half::f16::from_f32(*v).to_le_bytes()).collect()),
            _ => (safetensors::Dtype::BF16, data.iter().flat_map(|v| half::bf16::from_f32(*v).to_le_bytes()).collect()),
        };
        let stored_name = if prefixed { name.clone() } else { short };
        if name == "transformer.wte.weight" && prefixed {
            stored.push(("lm_head.weight".into(), dtype, shape.clone(), bytes.clone()));
        }
        stored.push((stored_name, dtype, shape, bytes));
    }
    stored.push(("h.0.attn.bias".into(), safetensors::Dtype::U8, vec![1, 1, 4, 4], vec![1; 16]));
    let views: Vec<(String, safetensors::tensor::TensorView)> = stored
        .iter()
        .map(|(name, dtype, shape, bytes)| {
            (name.clone(), safetensors::tensor::TensorView::new(*dtype, shape.clone(), bytes).expect("sizes match"))
        })
        .collect();
    safetensors::serialize(views, None).expect("the seed serializes")
}

fn transposed(tensor: &NamedTensor) -> (Vec<usize>, Vec<f32>) {
    let (rows, cols) = (tensor.shape[0], tensor.shape[1]);
    let data = (0..rows * cols).map(|k| tensor.data[(k % rows) * cols + k / rows]).collect();
    (vec![cols, rows], data)
}

fn hf_config_seed() -> String {
    json!({
        "_name_or_path": "openai-community/tiny",
        "activation_function": "gelu_new",
        "model_type": "gpt2",
        "n_ctx": 4,
        "n_embd": 4,
        "n_head": 2,
        "n_layer": 1,
        "n_positions": 4,
        "vocab_size": 3,
        "layer_norm_epsilon": 1e-5,
    })
    .to_string()
}

/// A safetensors file as its header (a JSON object) and the bytes after it.
fn split_safetensors(bytes: &[u8]) -> (serde_json::Map<String, Value>, Vec<u8>) {
    let len = u64::from_le_bytes(bytes[..8].try_into().expect("eight bytes")) as usize;
    let header = serde_json::from_slice(&bytes[8..8 + len]).expect("the seed's header is JSON");
    (header, bytes[8 + len..].to_vec())
}

fn join_safetensors(header: &serde_json::Map<String, Value>, data: &[u8]) -> Vec<u8> {
    let header = serde_json::to_vec(header).expect("JSON serializes");
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(&header);
    bytes.extend_from_slice(data);
    bytes
}

/// A safetensors file with its header rewritten, still well framed, so that the reader gets past
/// the frame to the lies inside it.
fn edit_safetensors(seed: &[u8], edits: &[TensorEdit]) -> Vec<u8> {
    let (mut header, mut data) = split_safetensors(seed);
    for edit in edits {
        if edit_tensor_entry(&mut header, edit) {
            continue;
        }
        match edit {
            TensorEdit::Offsets(index, start, end) => {
                if let Some(name) = nth_tensor(&header, *index) {
                    header[&name]["data_offsets"] = json!([start, end]);
                }
            }
            TensorEdit::SameRange(index, other) => {
                if let (Some(name), Some(other)) = (nth_tensor(&header, *index), nth_tensor(&header, *other)) {
                    header[&name]["data_offsets"] = header[&other]["data_offsets"].clone();
                }
            }
            TensorEdit::Config(config_edits) => {
                let metadata = header.entry("__metadata__").or_insert_with(|| json!({}));
                let mut config: Value = metadata
                    .get("config")
                    .and_then(Value::as_str)
                    .and_then(|c| serde_json::from_str(c).ok())
                    .unwrap_or(json!({}));
                apply_config_edits(&mut config, config_edits);
                metadata["config"] = json!(config.to_string());
            }
            TensorEdit::DataLength(change) => {
                let len = (data.len() as i64 + change).max(0) as usize;
                data.resize(len, 0x3f);
            }
            _ => {}
        }
    }
    join_safetensors(&header, &data)
}

/// minGPT's JSON with its entries rewritten.
fn edit_mingpt(seed: &[u8], edits: &[TensorEdit]) -> Vec<u8> {
    let mut root: serde_json::Map<String, Value> = serde_json::from_slice(seed).expect("the seed is JSON");
    for edit in edits {
        if edit_tensor_entry(&mut root, edit) {
            continue;
        }
        match edit {
            TensorEdit::Data(index, len) => {
                if let Some(name) = nth_tensor(&root, *index) {
                    root[&name]["data"] = match len {
                        Some(len) => json!(base64::engine::general_purpose::STANDARD.encode(vec![0x3f; *len])),
                        None => json!("not base64!"),
                    };
                }
            }
            TensorEdit::Config(config_edits) => {
                apply_config_edits(root.entry("config").or_insert_with(|| json!({})), config_edits)
            }
            _ => {}
        }
    }
    serde_json::to_vec(&root).expect("JSON serializes")
}

// ---------------------------------------------------------------------------------------------
// Checking a checkpoint reader's answer

/// A valid result: every parameter present with its shape, finite, with as many values as its shape holds.
fn check_weights(result: Result<Weights, WeightError>, paths: &[&str]) -> Result<(), TestCaseError> {
    match result {
        Ok(weights) => {
            prop_assert!(weights.check_shapes().is_ok(), "{:?}", weights.check_shapes());
            prop_assert!(weights.check_finite().is_ok(), "{:?}", weights.check_finite());
            for (name, tensor) in &weights.tensors {
                prop_assert_eq!(tensor.data.len(), tensor.shape.iter().product::<usize>(), "tensor {}", name);
            }
            Ok(())
        }
        Err(error) => check_message(&error.to_string(), paths),
    }
}

const OURS: &str = "fuzz/tiny.safetensors";
const MINGPT: &str = "fuzz/tiny.json";
const HF: &str = "fuzz/model.safetensors";
const HF_CONFIG: &str = "fuzz/config.json";

fn read_file(path: &str, bytes: &[u8]) -> Result<(), TestCaseError> {
    let result = bounded(bytes.len(), || Weights::parse(Path::new(path), bytes))?;
    check_weights(result, &[path])
}

fn read_hf(bytes: &[u8], config: Option<&str>) -> Result<(), TestCaseError> {
    let input_len = bytes.len() + config.map_or(0, str::len);
    let result = bounded(input_len, || {
        Weights::parse_with(Path::new(HF), bytes, config.map(|text| (Path::new(HF_CONFIG), text)))
    })?;
    check_weights(result, &[HF, HF_CONFIG])
}

/// Every prefix of a file, the empty one and the whole file included.
fn truncations(beat: &Beat, seed: &[u8], read: impl Fn(&[u8]) -> Result<(), TestCaseError>) -> u64 {
    for end in 0..=seed.len() {
        beat.case(&seed[..end]);
        if let Err(failure) = read(&seed[..end]) {
            panic!("the file cut to its first {end} bytes: {failure}");
        }
    }
    seed.len() as u64 + 1
}

#[test]
fn fuzz_seeds_are_valid_checkpoints() {
    // The mutations start from files the readers accept: otherwise they would test only the first check.
    for (path, bytes) in [(OURS, ours_seed("seeds")), (MINGPT, mingpt_seed())] {
        Weights::parse(Path::new(path), &bytes).unwrap_or_else(|e| panic!("{e}"));
    }
    for prefixed in [false, true] {
        let weights =
            Weights::parse_with(Path::new(HF), &hf_seed(prefixed), Some((Path::new(HF_CONFIG), &hf_config_seed())))
                .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            weights.tensors,
            tiny_tensors(&weights.config).into_iter().map(|(n, t)| (n, rounded(&weights, t))).collect()
        );
    }
}

/// The seed's tensor as read back from F16 or BF16: the reader's value, when it is within that precision.
fn rounded(weights: &Weights, expected: NamedTensor) -> NamedTensor {
    let name = weights.tensors.iter().find(|(_, t)| t.shape == expected.shape && close(&t.data, &expected.data));
    name.map_or(expected, |(_, t)| t.clone())
}

fn close(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() <= 1e-2)
}

#[test]
fn fuzz_our_safetensors() {
    guarded("our safetensors", |beat| {
        let seed = ours_seed("safetensors");
        let truncated = truncations(beat, &seed, |bytes| read_file(OURS, bytes));
        let strategy = prop_oneof![byte_edits().prop_map(Ok), tensor_edits().prop_map(Err)];
        truncated
            + run_cases(beat, strategy, |beat, edits| {
                let bytes = match edits {
                    Ok(edits) => apply_byte_edits(&seed, &edits),
                    Err(edits) => edit_safetensors(&seed, &edits),
                };
                beat.case(&bytes);
                read_file(OURS, &bytes)
            })
    });
}

#[test]
fn fuzz_mingpt_json() {
    guarded("minGPT JSON", |beat| {
        let seed = mingpt_seed();
        let truncated = truncations(beat, &seed, |bytes| read_file(MINGPT, bytes));
        let strategy = prop_oneof![byte_edits().prop_map(Ok), tensor_edits().prop_map(Err)];
        truncated
            + run_cases(beat, strategy, |beat, edits| {
                let bytes = match edits {
                    Ok(edits) => apply_byte_edits(&seed, &edits),
                    Err(edits) => edit_mingpt(&seed, &edits),
                };
                beat.case(&bytes);
                read_file(MINGPT, &bytes)
            })
    });
}

#[test]
fn fuzz_hugging_face_safetensors() {
    guarded("Hugging Face safetensors", |beat| {
        let seeds = [hf_seed(false), hf_seed(true)];
        let config = hf_config_seed();
        let truncated = truncations(beat, &seeds[0], |bytes| read_hf(bytes, Some(&config)));
        let edits = prop_oneof![byte_edits().prop_map(Ok), tensor_edits().prop_map(Err)];
        // Without a config.json the shape comes from the tensors themselves.
        let strategy = (0..seeds.len(), any::<bool>(), edits);
        truncated
            + run_cases(beat, strategy, |beat, (seed, with_config, edits)| {
                let bytes = match edits {
                    Ok(edits) => apply_byte_edits(&seeds[seed], &edits),
                    Err(edits) => edit_safetensors(&seeds[seed], &edits),
                };
                beat.case(&bytes);
                read_hf(&bytes, with_config.then_some(config.as_str()))
            })
    });
}

#[test]
fn fuzz_hugging_face_config_json() {
    guarded("config.json", |beat| {
        let seed = hf_config_seed();
        let weights = hf_seed(false);
        let truncated =
            truncations(beat, seed.as_bytes(), |text| read_hf_config(&String::from_utf8_lossy(text), &weights));
        let strategy = prop_oneof![byte_edits().prop_map(Ok), config_edits().prop_map(Err)];
        truncated
            + run_cases(beat, strategy, |beat, edits| {
                let text = match edits {
                    Ok(edits) => String::from_utf8_lossy(&apply_byte_edits(seed.as_bytes(), &edits)).into_owned(),
                    Err(edits) => {
                        let mut config: Value = serde_json::from_str(&seed).expect("the seed is JSON");
                        apply_config_edits(&mut config, &edits);
                        config.to_string()
                    }
                };
                beat.case(text.as_bytes());
                read_hf_config(&text, &weights)
            })
    });
}

/// A `config.json` alone, then with the checkpoint it shapes.
fn read_hf_config(text: &str, weights: &[u8]) -> Result<(), TestCaseError> {
    let config = bounded(text.len(), || config_from_hf_json(Path::new(HF_CONFIG), text, "tiny"))?;
    match config {
        Ok(config) => prop_assert!(
            GptConfig::new(
                "check",
                [config.n_layer, config.n_head, config.n_embd, config.vocab_size, config.block_size],
                true
            )
            .is_ok()
        ),
        Err(error) => check_message(&error.to_string(), &[HF_CONFIG])?,
    }
    let folder = bounded(text.len(), || folder_config(Path::new(HF_CONFIG), text, Path::new(HF)))?;
    if let Err(error) = folder {
        check_message(&error.to_string(), &[HF_CONFIG])?;
    }
    read_hf(weights, Some(text))
}

// ---------------------------------------------------------------------------------------------
// Tours

const SHIPPED_TOURS: [&str; 3] = ["tours/nano-gpt.ron", "tours/scale.ron", "tours/modern.ron"];

/// RON text as tokens, whitespace and comments kept as their own tokens so that the text joins back.
fn ron_tokens(text: &str) -> Vec<&str> {
    let bytes = text.as_bytes();
    let mut tokens = Vec::new();
    let mut start = 0;
    while start < bytes.len() {
        let rest = &text[start..];
        let first = rest.chars().next().expect("not at the end");
        let len = if first.is_whitespace() {
            rest.find(|c: char| !c.is_whitespace()).unwrap_or(rest.len())
        } else if rest.starts_with("//") {
            rest.find('\n').unwrap_or(rest.len())
        } else if first == '"' {
            string_token_len(rest)
        } else if first.is_alphanumeric() || "_.+-".contains(first) {
            rest.find(|c: char| !(c.is_alphanumeric() || "_.+-".contains(c))).unwrap_or(rest.len())
        } else {
            first.len_utf8()
        };
        tokens.push(&text[start..start + len]);
        start += len;
    }
    tokens
}

/// The length of the string literal `text` starts with, its quotes included.
fn string_token_len(text: &str) -> usize {
    let mut escaped = false;
    for (at, c) in text.char_indices().skip(1) {
        match c {
            '\\' if !escaped => escaped = true,
            '"' if !escaped => return at + 1,
            _ => escaped = false,
        }
    }
    text.len()
}

#[derive(Clone, Debug)]
enum TokenEdit {
    Delete(usize),
    Duplicate(usize),
    Swap(usize, usize),
    /// A number where a token was: times, counts and sizes from nothing to absurd.
    Number(usize, &'static str),
    /// The same, where a number was: the text still parses, and the compiler must judge it.
    Value(usize, &'static str),
    /// One string literal where another was: block patterns, chapter ids and text moved about.
    Text(usize, usize),
}

const NUMBERS: [&str; 16] = [
    "0",
    "-1",
    "0.0",
    "-0.5",
    "1e30",
    "-1e30",
    "1e-30",
    "NaN",
    "inf",
    "-inf",
    "4294967296",
    "18446744073709551616",
    "99999999",
    "3",
    "2.5",
    "1000000",
];

fn token_edit() -> impl Strategy<Value = TokenEdit> {
    let number = || proptest::sample::select(NUMBERS.to_vec());
    prop_oneof![
        1 => any::<usize>().prop_map(TokenEdit::Delete),
        1 => any::<usize>().prop_map(TokenEdit::Duplicate),
        1 => (any::<usize>(), any::<usize>()).prop_map(|(a, b)| TokenEdit::Swap(a, b)),
        1 => (any::<usize>(), number()).prop_map(|(at, number)| TokenEdit::Number(at, number)),
        2 => (any::<usize>(), number()).prop_map(|(at, number)| TokenEdit::Value(at, number)),
        2 => (any::<usize>(), any::<usize>()).prop_map(|(at, from)| TokenEdit::Text(at, from)),
    ]
}

/// The text with its tokens (not its whitespace) deleted, duplicated, swapped or replaced.
fn edit_tokens(text: &str, edits: &[TokenEdit]) -> String {
    let mut tokens: Vec<&str> = ron_tokens(text);
    for edit in edits {
        let words: Vec<usize> =
            (0..tokens.len()).filter(|&i| !tokens[i].trim().is_empty() && !tokens[i].starts_with("//")).collect();
        if words.is_empty() {
            break;
        }
        let word = |i: usize| words[i % words.len()];
        let numbers: Vec<usize> = words.iter().copied().filter(|&i| tokens[i].parse::<f64>().is_ok()).collect();
        let strings: Vec<usize> = words.iter().copied().filter(|&i| tokens[i].starts_with('"')).collect();
        match *edit {
            TokenEdit::Value(i, number) if !numbers.is_empty() => tokens[numbers[i % numbers.len()]] = number,
            TokenEdit::Text(i, from) if !strings.is_empty() => {
                tokens[strings[i % strings.len()]] = tokens[strings[from % strings.len()]]
            }
            TokenEdit::Value(..) | TokenEdit::Text(..) => {}
            TokenEdit::Delete(i) => {
                tokens.remove(word(i));
            }
            TokenEdit::Duplicate(i) => tokens.insert(word(i), tokens[word(i)]),
            TokenEdit::Swap(a, b) => tokens.swap(word(a), word(b)),
            TokenEdit::Number(i, number) => tokens[word(i)] = number,
        }
    }
    tokens.concat()
}

/// Every preset's layout, built once: tours build the layouts of the models they name.
fn all_layouts() -> Layouts {
    let mut layouts = Layouts::default();
    for name in preset_names() {
        layouts.build(name).expect("presets build");
    }
    layouts
}

/// The most memory a tour may take to compile. Besides its text, an action holds a few moves for
/// each block it matches, and a pattern such as `block*` matches every block of its model: the
/// bound grows with the actions times the blocks of the largest model (GPT-3's), not with any
/// number the text claims.
fn tour_memory_bound(text: &str, largest_layout: usize) -> usize {
    let actions = ["Tween(", "Reveal(", "Hide("].iter().map(|action| text.matches(action).count()).sum::<usize>();
    memory_bound(text.len()) + actions * largest_layout * 1024
}

fn read_tour(text: &str, file: &str, layouts: &RefCell<Layouts>) -> Result<(), TestCaseError> {
    let largest_layout = preset_names()
        .iter()
        .map(|name| layouts.borrow().get(name).map_or(0, |layout| layout.blocks.len()))
        .max()
        .unwrap_or(0);
    let result = bounded_by(text.len(), tour_memory_bound(text, largest_layout), || {
        let tour = Tour::parse(text, file).map_err(|error| vec![error])?;
        CompiledTour::compile(tour, file, &mut layouts.borrow_mut())
    })?;
    match result {
        Ok(compiled) => {
            prop_assert_eq!(compiled.chapters.len(), compiled.tour.chapters.len());
            Ok(())
        }
        Err(errors) => {
            prop_assert!(!errors.is_empty(), "a tour refused without a reason");
            errors.iter().try_for_each(|error| check_message(&error.to_string(), &[file]))
        }
    }
}

#[test]
fn fuzz_tours() {
    guarded("tours", |beat| {
        let texts: Vec<String> = SHIPPED_TOURS
            .iter()
            .map(|file| {
                std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(file)).expect("shipped tours read")
            })
            .collect();
        let layouts = RefCell::new(all_layouts());
        let edits = prop_oneof![
            3 => proptest::collection::vec(token_edit(), 1..5).prop_map(Ok),
            1 => byte_edits().prop_map(Err),
        ];
        run_share(beat, TOUR_SHARE, (0..texts.len(), edits), |beat, (tour, edits)| {
            let text = match edits {
                Ok(edits) => edit_tokens(&texts[tour], &edits),
                Err(edits) => String::from_utf8_lossy(&apply_byte_edits(texts[tour].as_bytes(), &edits)).into_owned(),
            };
            beat.case(text.as_bytes());
            read_tour(&text, SHIPPED_TOURS[tour], &layouts)
        })
    });
}

#[test]
fn fuzz_ron_tokens_join_back() {
    // The token edits above are only as good as this split: it must lose nothing.
    for file in SHIPPED_TOURS {
        let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(file)).unwrap();
        let tokens = ron_tokens(&text);
        assert_eq!(tokens.concat(), text);
        assert!(tokens.contains(&"chapters") && tokens.contains(&"Chapter"), "{file} splits into RON's words");
    }
}

// ---------------------------------------------------------------------------------------------
// The page's URL query

fn query_pair() -> impl Strategy<Value = (String, String)> {
    let keys = proptest::sample::select(vec![
        "model",
        "input",
        "tour",
        "chapter",
        "step",
        "utm_source",
        "",
        "model%20",
        "st%65p",
    ]);
    let values = prop_oneof![
        proptest::sample::select(vec![
            "nano",
            "gpt2",
            "gpt3",
            "gpt2-xl",
            "nano-gpt",
            "scale",
            "self-attention",
            "intro",
            "0",
            "1",
            "2",
            "3",
            "40",
            "99999999999999999999",
            "-1",
            "1.5",
            "",
            "CBABBC",
            "%",
            "%zz",
            "%F0%9F%A6%80",
            "+",
        ])
        .prop_map(String::from),
        "\\PC{0,16}",
    ];
    (keys.prop_map(String::from), values)
}

fn query() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        (any::<bool>(), proptest::collection::vec(query_pair(), 0..6)).prop_map(|(mark, pairs)| {
            let joined: Vec<String> = pairs.iter().map(|(key, value)| format!("{key}={value}")).collect();
            format!("{}{}", if mark { "?" } else { "" }, joined.join("&"))
        }),
    ]
}

/// How a query opens: a link that reads back to itself, and a tour that opens or says why not.
fn read_query(query: &str) -> Result<(), TestCaseError> {
    let link = bounded(query.len(), || DeepLink::parse(query))?;
    match link {
        Ok(link) => {
            prop_assert_eq!(DeepLink::parse(&link.to_query()), Ok(link.clone()), "the query written reads back");
            if let Some(Err(message)) = open_tour(&link) {
                check_message(&message, &["?", "tours/"])?;
            }
            Ok(())
        }
        Err(message) => check_message(&message, &["?"]),
    }
}

#[test]
fn fuzz_url_query() {
    guarded("URL query", |beat| {
        run_cases(beat, query(), |beat, query| {
            beat.case(query.as_bytes());
            read_query(&query)
        })
    });
}

// ---------------------------------------------------------------------------------------------
// The command line's arguments

fn number_text() -> impl Strategy<Value = String> {
    prop_oneof![
        (0..10_000u64).prop_map(|n| n.to_string()),
        proptest::sample::select(vec![
            "16",
            "8192",
            "8193",
            "15",
            "-1",
            "4294967296",
            "99999999999999999999999",
            " 7",
            "0x10",
            "1e3",
            "",
            "+3"
        ])
        .prop_map(String::from),
        any::<u64>().prop_map(|n| n.to_string()),
    ]
}

fn size_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        (number_text(), proptest::sample::select(vec!["x", "X", "×", "*", "", "xx", " x "]), number_text())
            .prop_map(|(w, x, h)| format!("{w}{x}{h}")),
    ]
}

fn cell_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        (proptest::collection::vec(number_text(), 0..5), proptest::sample::select(vec![",", ", ", ";", ",,"]))
            .prop_map(|(parts, comma)| parts.join(comma)),
    ]
}

fn block_name(layout: &Layout) -> impl Strategy<Value = String> + use<> {
    let names: Vec<String> = layout.blocks.iter().map(|block| block.name.clone()).collect();
    prop_oneof![proptest::sample::select(names), "\\PC{0,12}"]
}

#[derive(Clone, Debug)]
enum Argument {
    Size(String),
    Cell(String),
    Hover(String),
    Camera(String),
}

fn argument(layout: &Layout) -> impl Strategy<Value = Argument> + use<> {
    prop_oneof![
        size_text().prop_map(Argument::Size),
        cell_text().prop_map(Argument::Cell),
        (block_name(layout), proptest::sample::select(vec![":", "::", ""]), cell_text())
            .prop_map(|(n, colon, c)| Argument::Hover(format!("{n}{colon}{c}"))),
        prop_oneof![
            any::<String>(),
            Just("overview".to_string()),
            block_name(layout).prop_map(|name| format!("block:{name}")),
        ]
        .prop_map(Argument::Camera),
    ]
}

/// Each argument's answer: a value within what the flag allows, or an error naming the flag.
fn read_argument(argument: &Argument, layout: &Layout) -> Result<(), TestCaseError> {
    match argument {
        Argument::Size(text) => match bounded(text.len(), || llmviz::cli::parse_size(text))? {
            Ok(size) => prop_assert!((16..=8192).contains(&size.x) && (16..=8192).contains(&size.y), "{size}"),
            Err(message) => check_message(&message, &["--size"])?,
        },
        Argument::Cell(text) => match bounded(text.len(), || parse_cell(text))? {
            Ok(cell) => {
                let parts: Vec<&str> = text.split(',').map(str::trim).collect();
                prop_assert!((2..=3).contains(&parts.len()));
                prop_assert!(
                    parts.iter().zip(cell).all(|(part, index)| part.parse() == Ok(index)),
                    "{text:?} read as {cell:?}"
                );
            }
            Err(message) => prop_assert!(!message.is_empty()),
        },
        Argument::Hover(text) => match bounded(text.len(), || llmviz::cli::parse_hover(text, layout))? {
            Ok(found) => {
                let cells = layout.blocks[found.block].cells;
                prop_assert!((0..3).all(|axis| found.cell[axis] < cells[axis]), "{found:?} outside {cells:?}");
            }
            Err(message) => check_message(&message, &["--hover"])?,
        },
        Argument::Camera(text) => match bounded(text.len(), || llmviz::cli::parse_camera(text, layout))? {
            Ok(choice) => prop_assert!(choice.view_point(layout).is_ok(), "{choice:?}"),
            Err(message) => check_message(&message, &["--camera"])?,
        },
    }
    Ok(())
}

#[test]
fn fuzz_command_line_arguments() {
    guarded("--size, --cell, --hover, --camera", |beat| {
        let layout = layout::build(&GptConfig::nano());
        run_cases(beat, argument(&layout), |beat, argument| {
            beat.case(format!("{argument:?}").as_bytes());
            read_argument(&argument, &layout)
        })
    });
}

// ---------------------------------------------------------------------------------------------
// Text through the tokenizers

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "\\PC{0,64}",
        "[ABCabc \\t\\n]{0,16}",
        // Long runs of one character: the slowest input for a byte-pair merge.
        (any::<char>(), 0..2000usize).prop_map(|(c, n)| std::iter::repeat_n(c, n).collect()),
        proptest::collection::vec(any::<char>(), 0..400).prop_map(|chars| chars.into_iter().collect()),
    ]
}

/// GPT-2's BPE reads any text back to itself; the letters take only their letters.
fn read_text(text: &str, gpt2: &GptConfig, nano: &GptConfig) -> Result<(), TestCaseError> {
    match bounded(text.len(), || tokenize(gpt2, text))? {
        Ok(tokens) => {
            prop_assert!(tokens.iter().all(|&token| token < gpt2.vocab_size));
            prop_assert_eq!(Tokenizer::Gpt2.decode(&tokens), text);
        }
        Err(error) => {
            prop_assert!(text.is_empty(), "GPT-2 refused {text:?}: {error}");
            prop_assert!(!error.to_string().is_empty());
        }
    }
    match bounded(text.len(), || tokenize(nano, text))? {
        Ok(tokens) => {
            prop_assert!(tokens.iter().all(|&token| token < nano.vocab_size));
            prop_assert_eq!(tokens.len(), text.trim().chars().count());
        }
        Err(error) => prop_assert!(!error.to_string().is_empty()),
    }
    Ok(())
}

#[test]
fn fuzz_tokenizers() {
    guarded("tokenizers", |beat| {
        let (gpt2, nano) = (GptConfig::preset("gpt2").expect("a preset"), GptConfig::nano());
        // The BPE's ranks and this thread's regex caches are built once, before any case is measured.
        tokenize(&gpt2, "warm up").expect("GPT-2 reads text");
        run_cases(beat, text(), |beat, text| {
            beat.case(text.as_bytes());
            read_text(&text, &gpt2, &nano)
        })
    });
}

// ---------------------------------------------------------------------------------------------
// What the fuzzing found, kept as plain cases

#[test]
fn fuzz_found_a_json_shape_whose_size_overflows() {
    let edited = edit_mingpt(&mingpt_seed(), &[TensorEdit::Shape(0, vec![1 << 32, 1 << 32, 1 << 32])]);
    let message = Weights::parse(Path::new(MINGPT), &edited).unwrap_err().to_string();
    assert!(message.contains("needs more than can be addressed"), "{message}");
}

#[test]
fn fuzz_found_configs_larger_than_their_file() {
    // 10^12 layers, or a width whose triple overflows: the check stops at the first tensor the file
    // lacks, without listing (or multiplying) what the config claims.
    let cases = [
        ("n_layer", 1_000_000_000_000u64, "missing tensor '"),
        ("n_embd", 5_006_616_298_445_142_258, "wte.weight' has shape [3, 4]"),
    ];
    for (field, size, expected) in cases {
        let ours = edit_safetensors(&ours_seed("configs"), &[TensorEdit::Config(vec![(field, Some(json!(size)))])]);
        let seed_value = if field == "n_layer" { 1 } else { 4 };
        let config = hf_config_seed().replace(&format!("\"{field}\":{seed_value}"), &format!("\"{field}\":{size}"));
        let hf = hf_seed(false);
        let (ours_result, ours_peak) = peak_during(|| Weights::parse(Path::new(OURS), &ours));
        let (hf_result, hf_peak) =
            peak_during(|| Weights::parse_with(Path::new(HF), &hf, Some((Path::new(HF_CONFIG), &config))));
        for message in [ours_result.unwrap_err().to_string(), hf_result.unwrap_err().to_string()] {
            assert!(message.contains(expected), "{field} {size}: {message}");
        }
        assert!(ours_peak.max(hf_peak) < memory_bound(ours.len().max(hf.len())), "{ours_peak} and {hf_peak} bytes");
    }
}

#[test]
fn fuzz_found_a_layer_number_past_the_last() {
    // Without a config.json the layers are counted from the names: `h.<usize::MAX>.` has no successor.
    let renamed =
        edit_safetensors(&hf_seed(false), &[TensorEdit::Rename(0, "h.18446744073709551615.ln_1.weight".into())]);
    let message = Weights::parse(Path::new(HF), &renamed).unwrap_err().to_string();
    assert!(message.starts_with(HF), "{message}");
}
