//! GPT-2 checkpoints as Hugging Face stores them: a folder with `config.json` and `model.safetensors`
//! (as `huggingface-cli download openai-community/gpt2 config.json model.safetensors` leaves it), or
//! the lone safetensors file.
//!
//! Hugging Face's GPT-2 differs from our state_dict in three ways, undone here so that the rest of
//! llmviz sees one model: names have no `transformer.` prefix (some files have it), the four
//! projections are `Conv1D`s stored [in, out] (the transpose of a Linear's [out, in]), and
//! `h.N.attn.bias` / `h.N.attn.masked_bias` are causal-mask buffers, not parameters.
//! Errors name tensors as the file stores them, and their indices in the stored layout.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use super::activations::NamedTensor;
use super::config::{GptConfig, LN_EPS};
use super::names::{self, LM_HEAD, each_parameter_shape};
use super::weights::{NonFinite, WeightError, Weights, decode_tensor, first_non_finite};

/// The number of heads of GPT-2's sizes, by width: the only hyper-parameter a checkpoint's shapes do not give.
const HEADS_BY_WIDTH: [(usize, usize); 4] = [(768, 12), (1024, 16), (1280, 20), (1600, 25)];

/// The projections stored as `Conv1D`, [in, out].
const CONV1D: [&str; 4] = [names::C_ATTN, names::ATTN_PROJ, names::C_FC, names::MLP_PROJ];

/// A checkpoint's name in `transformer.`-less form: `h.0.ln_1.weight`, `wte.weight`, `lm_head.weight`.
fn stored_form(name: &str) -> &str {
    name.strip_prefix("transformer.").unwrap_or(name)
}

/// How the file `weights` came from names and lays out each of our parameters (or a tensor of its
/// shape, such as its gradient): a Hugging Face GPT-2's own names and [in, out] projections, or ours.
pub fn names_of_file(weights: &Weights) -> impl Fn(&str, &NamedTensor) -> (String, NamedTensor) + use<> {
    let hugging_face = weights.config.arch.is_gpt2() && is_hugging_face_file(&weights.source);
    move |ours, tensor| match hugging_face {
        true if is_conv1d_weight(ours) => (stored_form(ours).to_string(), transpose(tensor)),
        true => (stored_form(ours).to_string(), tensor.clone()),
        false => (ours.to_string(), tensor.clone()),
    }
}

/// A safetensors file whose metadata carries no llmviz config: read as Hugging Face's.
fn is_hugging_face_file(path: &Path) -> bool {
    use std::io::Read;
    let header = || -> Option<Value> {
        let mut file = std::fs::File::open(path).ok()?;
        let mut length = [0u8; 8];
        file.read_exact(&mut length).ok()?;
        let mut text = vec![0u8; usize::try_from(u64::from_le_bytes(length)).ok()?.min(100 << 20)];
        file.read_exact(&mut text).ok()?;
        serde_json::from_slice(&text).ok()
    };
    path.extension().is_some_and(|ext| ext == "safetensors")
        && header().is_some_and(|header| header.get("__metadata__").and_then(|m| m.get("config")).is_none())
}

/// The causal masks GPT-2's attention keeps as buffers: skipped by name, whatever their dtype.
fn is_mask_buffer(stored: &str) -> bool {
    stored.ends_with(".attn.bias") || stored.ends_with(".attn.masked_bias")
}

/// Our state_dict name of a stored tensor.
fn our_name(stored: &str) -> String {
    if stored == LM_HEAD { stored.to_string() } else { format!("transformer.{stored}") }
}

/// True for the weights stored transposed: `transformer.h.0.attn.c_attn.weight` and its three kin.
fn is_conv1d_weight(ours: &str) -> bool {
    ours.strip_suffix(".weight").is_some_and(|module| CONV1D.iter().any(|conv| module.ends_with(&format!(".{conv}"))))
}

/// `config.json` of a Hugging Face GPT-2, as a config named `name`.
pub fn config_from_hf_json(path: &Path, text: &str, name: &str) -> Result<GptConfig, WeightError> {
    let format_error = |message: String| WeightError::Format { path: path.to_owned(), message };
    let config: Value = serde_json::from_str(text).map_err(|e| WeightError::json(path, &e))?;
    let field = |key: &str| -> Result<usize, WeightError> {
        config
            .get(key)
            .and_then(Value::as_u64)
            .map(|v| v as usize)
            .ok_or_else(|| format_error(format!("field '{key}': missing or not a non-negative integer")))
    };
    let activation = config.get("activation_function").and_then(Value::as_str).unwrap_or("gelu_new");
    if activation != "gelu_new" {
        return Err(format_error(format!(
            "field 'activation_function': '{activation}' is not supported: llmviz runs GPT-2's gelu_new (the tanh approximation)"
        )));
    }
    let n_positions = field("n_positions").or_else(|_| field("n_ctx"))?;
    let shape = [field("n_layer")?, field("n_head")?, field("n_embd")?, field("vocab_size")?, n_positions];
    let mut config_out = GptConfig::new(name, shape, true).map_err(|e| format_error(e.to_string()))?;
    config_out.layer_norm_epsilon = match config.get("layer_norm_epsilon") {
        None => LN_EPS,
        Some(eps) => eps
            .as_f64()
            .filter(|eps| eps.is_finite() && *eps > 0.0)
            .ok_or_else(|| format_error("field 'layer_norm_epsilon': not a positive number".into()))?,
    };
    Ok(config_out)
}

/// The shape of a checkpoint without a config, read from its tensors. The heads come from GPT-2's widths.
fn config_from_tensors(path: &Path, file: &safetensors::SafeTensors, name: &str) -> Result<GptConfig, WeightError> {
    let shape_of = |stored: &str| {
        file.names()
            .into_iter()
            .find(|n| stored_form(n) == stored)
            .and_then(|n| file.tensor(n).ok())
            .map(|view| view.shape().to_vec())
            .ok_or_else(|| WeightError::Missing { path: path.to_owned(), tensor: stored.to_string(), expected: vec![] })
    };
    let (wte, wpe) = (shape_of("wte.weight")?, shape_of("wpe.weight")?);
    let format_error = |message: String| WeightError::Format { path: path.to_owned(), message };
    let (&[vocab_size, n_embd], &[n_positions, _]) = (&wte[..], &wpe[..]) else {
        return Err(format_error(format!("wte.weight {wte:?} and wpe.weight {wpe:?} must be matrices")));
    };
    let n_layer = file
        .names()
        .iter()
        .filter_map(|n| stored_form(n).strip_prefix("h.")?.split_once('.')?.0.parse::<usize>().ok())
        .max()
        .map_or(0, |last| last.saturating_add(1));
    let n_head = HEADS_BY_WIDTH.iter().find(|(width, _)| *width == n_embd).map(|&(_, heads)| heads).ok_or_else(|| {
        format_error(format!(
            "cannot tell the number of heads of a model {n_embd} wide (GPT-2's widths are 768, 1024, 1280 and 1600): put its config.json beside it"
        ))
    })?;
    GptConfig::new(name, [n_layer, n_head, n_embd, vocab_size, n_positions], true)
        .map_err(|e| format_error(e.to_string()))
}

/// Reads a Hugging Face GPT-2 safetensors file, with its `config.json` when there is one.
pub fn read_hf_safetensors(
    path: &Path,
    bytes: &[u8],
    config: Option<GptConfig>,
    non_finite: NonFinite,
) -> Result<Weights, WeightError> {
    let file = safetensors::SafeTensors::deserialize(bytes)
        .map_err(|e| WeightError::Format { path: path.to_owned(), message: format!("not a safetensors file: {e}") })?;
    let mut config = match config {
        Some(config) => config,
        None => config_from_tensors(path, &file, &model_name(path, None))?,
    };
    let stored: BTreeMap<String, String> = file
        .names()
        .into_iter()
        .filter(|n| !is_mask_buffer(stored_form(n)))
        .map(|n| (our_name(stored_form(n)), n.to_string()))
        .collect();
    let mut tensors = BTreeMap::new();
    // One at a time: the first tensor missing or misshapen ends the read, whatever the config claims.
    for (ours, expected) in each_parameter_shape(&config) {
        let stored_name = stored.get(&ours).ok_or_else(|| WeightError::Missing {
            path: path.to_owned(),
            tensor: stored_form(&ours).to_string(),
            expected: stored_shape(&ours, &expected),
        })?;
        let tensor = read_tensor(path, &file, stored_name, &stored_shape(&ours, &expected), non_finite)?;
        let tensor = if is_conv1d_weight(&ours) { transpose(&tensor) } else { tensor };
        tensors.insert(ours, tensor);
    }
    // An `lm_head.weight` is used when present; one equal to `wte` is the tie written out, drawn once.
    if let Some(stored_name) = stored.get(LM_HEAD) {
        let head = read_tensor(path, &file, stored_name, &[config.vocab_size, config.n_embd], non_finite)?;
        if head != tensors[names::WTE] {
            config.tied_lm_head = false;
            tensors.insert(LM_HEAD.to_string(), head);
        }
    }
    Ok(Weights { config, tensors, source: path.to_owned() })
}

/// The shape a parameter has in the file: Conv1D weights transposed.
fn stored_shape(ours: &str, shape: &[usize]) -> Vec<usize> {
    if is_conv1d_weight(ours) { shape.iter().rev().copied().collect() } else { shape.to_vec() }
}

pub(super) fn read_tensor(
    path: &Path,
    file: &safetensors::SafeTensors,
    stored_name: &str,
    expected: &[usize],
    non_finite: NonFinite,
) -> Result<NamedTensor, WeightError> {
    let view = file.tensor(stored_name).map_err(|e| WeightError::Tensor {
        path: path.to_owned(),
        tensor: stored_name.to_string(),
        message: e.to_string(),
    })?;
    if view.shape() != expected {
        return Err(WeightError::Shape {
            path: path.to_owned(),
            tensor: stored_name.to_string(),
            expected: expected.to_vec(),
            found: view.shape().to_vec(),
        });
    }
    let tensor = decode_tensor(path, stored_name, &view)?;
    if non_finite == NonFinite::Refuse {
        first_non_finite(path, stored_name, &tensor)?;
    }
    Ok(tensor)
}

/// [rows, cols] → [cols, rows].
fn transpose(tensor: &NamedTensor) -> NamedTensor {
    let (rows, cols) = (tensor.shape[0], tensor.shape[1]);
    let mut data = vec![0.0; rows * cols];
    for (r, row) in tensor.data.chunks_exact(cols).enumerate() {
        for (c, &value) in row.iter().enumerate() {
            data[c * rows + r] = value;
        }
    }
    NamedTensor { shape: vec![cols, rows], data }
}

/// The name a checkpoint is shown by: `_name_or_path` from its config, else its folder's name.
pub fn model_name(weights_path: &Path, config: Option<&Value>) -> String {
    let from_config = config
        .and_then(|c| c.get("_name_or_path"))
        .and_then(Value::as_str)
        .and_then(|n| n.rsplit('/').find(|part| !part.is_empty()))
        .map(str::to_string);
    // The page has no file system to canonicalise against: its path is the folder's address.
    let folder = weights_path
        .canonicalize()
        .unwrap_or_else(|_| weights_path.to_owned())
        .parent()
        .and_then(Path::file_name)
        .map(|n| n.to_string_lossy().into_owned())
        // Files picked in the page are kept under picked/, which names nothing.
        .filter(|n| n != "picked");
    let kind = config.and_then(|c| c.get("model_type")).and_then(Value::as_str).map(str::to_string);
    from_config.or(folder).or(kind).unwrap_or_else(|| "gpt2".to_string())
}

/// A Hugging Face folder: `config.json` and `model.safetensors`, read through `read_file`.
pub fn folder_paths(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    (dir.join("config.json"), dir.join("model.safetensors"))
}

/// The config of a Hugging Face checkpoint from its `config.json` text, named as `model_name` says.
pub fn folder_config(config_path: &Path, text: &str, weights_path: &Path) -> Result<GptConfig, WeightError> {
    let parsed: Option<Value> = serde_json::from_str(text).ok();
    config_from_hf_json(config_path, text, &model_name(weights_path, parsed.as_ref()))
}
