//! Today's open models as Hugging Face stores them: a folder with `config.json`, the weights in
//! `model.safetensors` or in shards listed by `model.safetensors.index.json`, and `tokenizer.json`
//! (as `huggingface-cli download HuggingFaceTB/SmolLM2-135M` leaves it). Llama, Qwen2 and Qwen3
//! are one architecture here (`LlamaShape` says what differs); their tensors keep the names the
//! file gives them, so errors name them as stored.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::config::{GptConfig, Llama3Scaling, LlamaShape};
use super::huggingface::{model_name, read_tensor};
use super::names::{self, each_parameter_shape};
use super::weights::{NonFinite, WeightError, Weights};

/// The `model_type`s read as a Llama-family model.
pub const FAMILIES: [&str; 3] = ["llama", "qwen2", "qwen3"];

/// The index of a sharded checkpoint.
pub const INDEX: &str = "model.safetensors.index.json";

/// `model_type` of a `config.json`, when it parses and says one.
pub fn model_type(text: &str) -> Option<String> {
    let config: Value = serde_json::from_str(text).ok()?;
    config.get("model_type").and_then(Value::as_str).map(str::to_string)
}

/// True for a `config.json` of a Llama-family model.
pub fn is_llama_family(text: &str) -> bool {
    model_type(text).is_some_and(|kind| FAMILIES.contains(&kind.as_str()))
}

/// Reads one `config.json` field after another, each error naming the file and the field.
struct Fields<'a> {
    path: &'a Path,
    config: &'a Value,
}

impl Fields<'_> {
    fn error(&self, message: String) -> WeightError {
        WeightError::Format { path: self.path.to_owned(), message }
    }

    fn size(&self, key: &str) -> Result<usize, WeightError> {
        self.optional_size(key)?.ok_or_else(|| self.error(format!("field '{key}': missing")))
    }

    fn optional_size(&self, key: &str) -> Result<Option<usize>, WeightError> {
        match self.config.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(value) => value
                .as_u64()
                .map(|v| Some(v as usize))
                .ok_or_else(|| self.error(format!("field '{key}': not a non-negative integer"))),
        }
    }

    fn number(&self, key: &str, default: f64) -> Result<f64, WeightError> {
        match self.config.get(key) {
            None | Some(Value::Null) => Ok(default),
            Some(value) => value
                .as_f64()
                .filter(|v| v.is_finite() && *v > 0.0)
                .ok_or_else(|| self.error(format!("field '{key}': not a positive number"))),
        }
    }

    fn flag(&self, key: &str, default: bool) -> Result<bool, WeightError> {
        match self.config.get(key) {
            None | Some(Value::Null) => Ok(default),
            Some(value) => value.as_bool().ok_or_else(|| self.error(format!("field '{key}': not true or false"))),
        }
    }
}

/// A Llama-family `config.json` as a config named `name`. What llmviz does not run (another
/// activation, another kind of RoPE scaling, sliding-window attention, biased MLPs) is refused
/// naming the field, rather than drawn wrong.
pub fn llama_config(path: &Path, text: &str, name: &str) -> Result<GptConfig, WeightError> {
    let config: Value = serde_json::from_str(text).map_err(|e| WeightError::json(path, &e))?;
    let fields = Fields { path, config: &config };
    let family = model_type(text).unwrap_or_default();
    refuse_unsupported(&fields, &family)?;
    let (n_embd, n_head) = (fields.size("hidden_size")?, fields.size("num_attention_heads")?);
    let head_dim = match fields.optional_size("head_dim")? {
        Some(head_dim) => head_dim,
        None if n_head > 0 && n_embd % n_head == 0 => n_embd / n_head,
        None => {
            return Err(fields.error(format!(
                "field 'head_dim': missing, and hidden_size {n_embd} is not a multiple of num_attention_heads {n_head}"
            )));
        }
    };
    let shape = LlamaShape {
        family: family.clone(),
        n_kv_head: fields.optional_size("num_key_value_heads")?.unwrap_or(n_head),
        head_dim,
        intermediate_size: fields.size("intermediate_size")?,
        rope_theta: fields.number("rope_theta", 10_000.0)?,
        rope_scaling: rope_scaling(&fields)?,
        // Qwen2's attention always has q, k and v biases (and o_proj none).
        qkv_bias: family == "qwen2",
        qk_norm: family == "qwen3",
    };
    let sizes = [
        fields.size("num_hidden_layers")?,
        n_head,
        n_embd,
        fields.size("vocab_size")?,
        fields.size("max_position_embeddings")?,
    ];
    let tied = fields.flag("tie_word_embeddings", false)?;
    let eps = fields.number("rms_norm_eps", 1e-6)?;
    GptConfig::llama(name, sizes, shape, tied, eps).map_err(|e| fields.error(e.to_string()))
}

/// What llmviz does not run, refused naming its field rather than drawn wrong.
fn refuse_unsupported(fields: &Fields, family: &str) -> Result<(), WeightError> {
    if !FAMILIES.contains(&family) {
        return Err(fields.error(format!(
            "field 'model_type': '{family}' is not supported: llmviz runs gpt2, {}",
            FAMILIES.join(", ")
        )));
    }
    let activation = fields.config.get("hidden_act").and_then(Value::as_str).unwrap_or("silu");
    if activation != "silu" {
        return Err(
            fields.error(format!("field 'hidden_act': '{activation}' is not supported: llmviz runs SwiGLU's silu"))
        );
    }
    // Llama's and Qwen3's `attention_bias` gives o_proj a bias too, which none of today's models has.
    let refused = [
        ("use_sliding_window", "sliding-window attention"),
        ("mlp_bias", "an MLP with biases"),
        ("attention_bias", "attention with biases"),
    ];
    for (key, what) in refused.into_iter().filter(|(key, _)| family != "qwen2" || *key != "attention_bias") {
        if fields.flag(key, false)? {
            return Err(fields.error(format!("field '{key}': {what} is not supported")));
        }
    }
    Ok(())
}

/// `rope_scaling`: none, `default`, or `llama3` with its four numbers.
fn rope_scaling(fields: &Fields) -> Result<Option<Llama3Scaling>, WeightError> {
    let Some(scaling) = fields.config.get("rope_scaling").filter(|v| !v.is_null()) else { return Ok(None) };
    let kind = scaling.get("rope_type").or_else(|| scaling.get("type")).and_then(Value::as_str).unwrap_or("");
    match kind {
        "default" => Ok(None),
        "llama3" => {
            let inner = Fields { path: fields.path, config: scaling };
            let number = |key: &str| {
                inner.number(key, f64::NAN).and_then(|v| {
                    if v.is_nan() { Err(fields.error(format!("field 'rope_scaling.{key}': missing"))) } else { Ok(v) }
                })
            };
            Ok(Some(Llama3Scaling {
                factor: number("factor")?,
                low_freq_factor: number("low_freq_factor")?,
                high_freq_factor: number("high_freq_factor")?,
                original_max_position_embeddings: inner.size("original_max_position_embeddings").map_err(|_| {
                    fields.error("field 'rope_scaling.original_max_position_embeddings': missing".into())
                })?,
            }))
        }
        other => Err(fields.error(format!(
            "field 'rope_scaling.rope_type': '{other}' is not supported: llmviz runs plain RoPE and llama3 scaling"
        ))),
    }
}

/// The weight files of a folder: `model.safetensors`, or the shards its index names, each with
/// the tensors the index says it holds.
pub fn weight_files(dir: &Path) -> Result<Vec<PathBuf>, WeightError> {
    let index_path = dir.join(INDEX);
    let Ok(text) = std::fs::read_to_string(&index_path) else { return Ok(vec![dir.join("model.safetensors")]) };
    shard_names(&index_path, &text).map(|names| names.into_iter().map(|name| dir.join(name)).collect())
}

/// The shard files an index's `weight_map` names, each once, in order of first mention.
pub fn shard_names(index_path: &Path, text: &str) -> Result<Vec<String>, WeightError> {
    let index: Value = serde_json::from_str(text).map_err(|e| WeightError::json(index_path, &e))?;
    let map = index.get("weight_map").and_then(Value::as_object).ok_or_else(|| WeightError::Format {
        path: index_path.to_owned(),
        message: "field 'weight_map': missing or not a map of tensor names to files".into(),
    })?;
    let mut files: Vec<String> = Vec::new();
    for (tensor, file) in map {
        let file =
            file.as_str().filter(|f| !f.contains('/') && !f.contains('\\') && !f.is_empty()).ok_or_else(|| {
                WeightError::Format {
                    path: index_path.to_owned(),
                    message: format!("field 'weight_map.{tensor}': not the name of a file beside the index"),
                }
            })?;
        if !files.iter().any(|f| f == file) {
            files.push(file.to_string());
        }
    }
    Ok(files)
}

/// Reads a Llama-family checkpoint from its weight files' bytes (each named by its path for
/// errors) under `config`, every tensor checked against the shape the config gives it.
pub fn read_llama(
    mut config: GptConfig,
    files: &[(PathBuf, &[u8])],
    non_finite: NonFinite,
) -> Result<Weights, WeightError> {
    let mut parsed = Vec::with_capacity(files.len());
    for (path, bytes) in files {
        let file = safetensors::SafeTensors::deserialize(bytes)
            .map_err(|e| WeightError::Format { path: path.clone(), message: format!("not a safetensors file: {e}") })?;
        parsed.push((path.as_path(), file));
    }
    let find = |name: &str| parsed.iter().find(|(_, file)| file.names().contains(&name));
    let first_path = files.first().map_or_else(PathBuf::new, |(path, _)| path.clone());
    let mut tensors = BTreeMap::new();
    for (name, expected) in each_parameter_shape(&config) {
        let Some((path, file)) = find(&name) else {
            return Err(WeightError::Missing { path: first_path, tensor: name, expected });
        };
        tensors.insert(name.clone(), read_tensor(path, file, &name, &expected, non_finite)?);
    }
    // An `lm_head.weight` equal to the embedding is the tie written out, drawn once.
    if let Some((path, file)) = find(names::LM_HEAD).filter(|_| config.tied_lm_head) {
        let head = read_tensor(path, file, names::LM_HEAD, &[config.vocab_size, config.n_embd], non_finite)?;
        if head != tensors[names::EMBED_TOKENS] {
            config.tied_lm_head = false;
            tensors.insert(names::LM_HEAD.to_string(), head);
        }
    }
    Ok(Weights { config, tensors, source: first_path })
}

/// A Llama-family folder on disk: its config, weights (one file or shards) and, when it has one,
/// its `tokenizer.json`, installed for `Tokenizer::of`.
#[cfg(not(target_arch = "wasm32"))]
pub fn load_folder(dir: &Path, config_text: &str, non_finite: NonFinite) -> Result<Weights, WeightError> {
    let config_path = dir.join("config.json");
    let paths = weight_files(dir)?;
    let parsed: Option<Value> = serde_json::from_str(config_text).ok();
    let mut config = llama_config(&config_path, config_text, &model_name(&paths[0], parsed.as_ref()))?;
    let maps = paths.iter().map(|path| super::weights::read_file(path)).collect::<Result<Vec<_>, _>>()?;
    let files: Vec<(PathBuf, &[u8])> = paths.iter().cloned().zip(maps.iter().map(|m| &m[..])).collect();
    let tokenizer_path = dir.join("tokenizer.json");
    if let Ok(json) = std::fs::read_to_string(&tokenizer_path) {
        install_tokenizer(&mut config, &tokenizer_path, &json)?;
    }
    let mut weights = read_llama(config, &files, non_finite)?;
    weights.source = dir.to_owned();
    weights.check_shapes()?;
    Ok(weights)
}

/// A Llama-family checkpoint from bytes already in memory (the page's download): its one weight
/// file named `name`, its `config.json` text and, when the folder has one, its `tokenizer.json`.
pub fn from_bytes(
    name: &Path,
    bytes: &[u8],
    config_text: &str,
    tokenizer_json: Option<&str>,
    non_finite: NonFinite,
) -> Result<Weights, WeightError> {
    let config_path = name.with_file_name("config.json");
    let parsed: Option<Value> = serde_json::from_str(config_text).ok();
    let mut config = llama_config(&config_path, config_text, &model_name(name, parsed.as_ref()))?;
    if let Some(json) = tokenizer_json {
        install_tokenizer(&mut config, &name.with_file_name("tokenizer.json"), json)?;
    }
    let weights = read_llama(config, &[(name.to_owned(), bytes)], non_finite)?;
    weights.check_shapes()?;
    Ok(weights)
}

/// Installs a folder's `tokenizer.json` (at `path`, for errors) and points the config at it.
fn install_tokenizer(config: &mut GptConfig, path: &Path, json: &str) -> Result<(), WeightError> {
    let key = super::tokenizer::install_json(json)
        .map_err(|message| WeightError::Format { path: path.to_owned(), message })?;
    config.tokenizer = Some(key);
    Ok(())
}
