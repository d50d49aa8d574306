//! Reading and writing weights: minGPT's JSON dump and safetensors, both under PyTorch state_dict names.
//!
//! Every failure names the file and the tensor (or the JSON line and field), so a bad file is one clear error.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine;
use serde_json::Value;

use super::activations::NamedTensor;
use super::config::{Arch, GptConfig, preset_names};
use super::names::each_parameter_shape;

/// A checkpoint as read from disk: the model's shape and its parameters by state_dict name.
#[derive(Clone, Debug)]
pub struct Weights {
    pub config: GptConfig,
    pub tensors: BTreeMap<String, NamedTensor>,
    pub source: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum WeightError {
    #[error("{path}: cannot read: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}:{line}:{column}: not valid JSON: {message}")]
    Json { path: PathBuf, line: usize, column: usize, message: String },
    #[error("{path}: {message}")]
    Format { path: PathBuf, message: String },
    #[error("{path}: tensor '{tensor}': {message}")]
    Tensor { path: PathBuf, tensor: String, message: String },
    #[error("{path}: missing tensor '{tensor}' (expected shape {expected:?})")]
    Missing { path: PathBuf, tensor: String, expected: Vec<usize> },
    #[error("{path}: tensor '{tensor}' has shape {found:?}, expected {expected:?}")]
    Shape { path: PathBuf, tensor: String, expected: Vec<usize>, found: Vec<usize> },
    /// A NaN or an infinity: the forward pass would spread it and print `p=-inf` or NaN probabilities.
    #[error("{path}: tensor '{tensor}' holds {value} at index {index:?}: weights must be finite numbers")]
    NonFinite { path: PathBuf, tensor: String, index: Vec<usize>, value: f32 },
}

/// What a load does with a NaN or an infinity in a parameter.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum NonFinite {
    /// Refused, naming the tensor and the value's index: such a model prints `p=NaN` and draws nonsense.
    #[default]
    Refuse,
    /// Loaded as it is (`--allow-nonfinite`), to look at a broken checkpoint: its non-finite cells
    /// are drawn in their own colour, and the forward pass says where its first one arose.
    Allow,
}

impl Weights {
    /// Every parameter the config calls for is present with its exact shape. Extra tensors
    /// (minGPT's `attn.bias` causal masks) are allowed and ignored.
    pub fn check_shapes(&self) -> Result<(), WeightError> {
        for (name, expected) in each_parameter_shape(&self.config) {
            let tensor = self.tensors.get(&name).ok_or_else(|| WeightError::Missing {
                path: self.source.clone(),
                tensor: name.clone(),
                expected: expected.clone(),
            })?;
            if tensor.shape != expected {
                return Err(WeightError::Shape {
                    path: self.source.clone(),
                    tensor: name,
                    expected,
                    found: tensor.shape.clone(),
                });
            }
        }
        Ok(())
    }

    /// Every parameter holds finite numbers; the first that does not is named with its index,
    /// parameters in state_dict order.
    pub fn check_finite(&self) -> Result<(), WeightError> {
        for (name, _) in each_parameter_shape(&self.config) {
            first_non_finite(&self.source, &name, &self.tensors[&name])?;
        }
        Ok(())
    }

    /// How many parameter values are NaN or infinite: 0 unless loaded with `NonFinite::Allow`.
    pub fn non_finite_count(&self) -> usize {
        each_parameter_shape(&self.config)
            .map(|(name, _)| self.tensors[&name].data.iter().filter(|v| !v.is_finite()).count())
            .sum()
    }

    /// Weights let in with non-finite values, in words: how many, and the first (None when all are finite).
    pub fn non_finite_summary(&self) -> Option<String> {
        match self.check_finite() {
            Err(WeightError::NonFinite { tensor, index, value, .. }) => Some(format!(
                "the weights hold {} NaN or infinite values, the first {value} in '{tensor}' at index {index:?}",
                self.non_finite_count()
            )),
            _ => None,
        }
    }

    pub fn get(&self, name: &str) -> &NamedTensor {
        &self.tensors[name]
    }

    /// Writes the parameters as safetensors, with the config in the metadata so the file describes itself.
    pub fn save_safetensors(&self, path: &Path) -> Result<(), WeightError> {
        self.save_safetensors_with(path, BTreeMap::new())
    }

    /// `save_safetensors` with more metadata (a checkpoint's step and accuracy).
    pub fn save_safetensors_with(&self, path: &Path, extra: BTreeMap<String, String>) -> Result<(), WeightError> {
        let bytes = self.to_safetensors_with(extra).map_err(|message| WeightError::Format {
            path: path.to_owned(),
            message: format!("cannot write safetensors: {message}"),
        })?;
        std::fs::write(path, bytes).map_err(|source| WeightError::Io { path: path.to_owned(), source })
    }

    /// The parameters as the bytes of a safetensors file, the config in its metadata: what
    /// `save_safetensors` writes, and how the page hands small weights to its forward worker.
    pub fn to_safetensors(&self) -> Vec<u8> {
        self.to_safetensors_with(BTreeMap::new()).expect("every tensor's length matches its shape")
    }

    /// Reads back what `to_safetensors` wrote, the config exactly as it was (reading a file,
    /// `Weights::parse` takes the shape from the config and the rest from the presets), and any
    /// non-finite values as they were: the app has let them in or refused them already.
    pub fn from_safetensors(path: &Path, bytes: &[u8]) -> Result<Weights, WeightError> {
        let mut weights = Weights::parse_checked(path, bytes, None, super::NonFinite::Allow)?;
        let (_, metadata) = safetensors::SafeTensors::read_metadata(bytes).map_err(|e| WeightError::Format {
            path: path.to_owned(),
            message: format!("not a safetensors file: {e}"),
        })?;
        let config = metadata.metadata().as_ref().and_then(|metadata| metadata.get("config"));
        let config = config.ok_or_else(|| WeightError::Format {
            path: path.to_owned(),
            message: "metadata 'config': missing".into(),
        })?;
        weights.config = serde_json::from_str(config).map_err(|error| WeightError::json(path, &error))?;
        Ok(weights)
    }

    fn to_safetensors_with(&self, extra: BTreeMap<String, String>) -> Result<Vec<u8>, String> {
        let mut metadata: std::collections::HashMap<String, String> = extra.into_iter().collect();
        metadata.insert("config".to_string(), serde_json::to_string(&self.config).expect("config serializes"));
        serialize_tensors(&self.tensors, metadata)
    }
}

/// Named f32 tensors and string metadata as a safetensors file's bytes.
pub(crate) fn serialize_tensors(
    tensors: &BTreeMap<String, NamedTensor>,
    metadata: std::collections::HashMap<String, String>,
) -> Result<Vec<u8>, String> {
    let bytes: Vec<(String, Vec<u8>, Vec<usize>)> = tensors
        .iter()
        .map(|(name, t)| (name.clone(), t.data.iter().flat_map(|v| v.to_le_bytes()).collect(), t.shape.clone()))
        .collect();
    let views: Vec<(String, safetensors::tensor::TensorView)> = bytes
        .iter()
        .map(|(name, data, shape)| {
            let view = safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), data)
                .expect("byte length matches shape");
            (name.clone(), view)
        })
        .collect();
    safetensors::serialize(views, Some(metadata)).map_err(|e| e.to_string())
}

pub(super) fn is_safetensors(path: &Path) -> bool {
    path.extension().and_then(|e| e.to_str()) == Some("safetensors")
}

/// A file's bytes: natively through a memory map, so that a 500 MB checkpoint is not copied
/// before it is decoded; the browser has no files to map.
#[cfg(not(target_arch = "wasm32"))]
pub(super) fn read_file(path: &Path) -> Result<FileBytes, WeightError> {
    let io = |source| WeightError::Io { path: path.to_owned(), source };
    let file = std::fs::File::open(path).map_err(io)?;
    if file.metadata().map_err(io)?.is_dir() {
        return Err(io(std::io::Error::other("is a folder without model.safetensors")));
    }
    // SAFETY: the map is only read, and dropped once the tensors are decoded into owned vectors;
    // a file truncated meanwhile by another process is outside what any reader can defend against.
    unsafe { memmap2::Mmap::map(&file) }.map_err(io)
}

#[cfg(not(target_arch = "wasm32"))]
pub(super) type FileBytes = memmap2::Mmap;

#[cfg(target_arch = "wasm32")]
pub(super) fn read_file(path: &Path) -> Result<Vec<u8>, WeightError> {
    std::fs::read(path).map_err(|source| WeightError::Io { path: path.to_owned(), source })
}

/// A safetensors tensor widened to f32: F32, F16 and BF16 are read, other dtypes are an error naming it.
pub(crate) fn decode_tensor(
    path: &Path,
    name: &str,
    view: &safetensors::tensor::TensorView,
) -> Result<NamedTensor, WeightError> {
    use safetensors::Dtype;
    let bytes = view.data();
    let halves =
        |widen: fn(u16) -> f32| bytes.chunks_exact(2).map(|b| widen(u16::from_le_bytes([b[0], b[1]]))).collect();
    let data: Vec<f32> = match view.dtype() {
        Dtype::F32 => bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect(),
        Dtype::F16 => halves(|bits| half::f16::from_bits(bits).to_f32()),
        Dtype::BF16 => halves(|bits| half::bf16::from_bits(bits).to_f32()),
        other => {
            return Err(WeightError::Tensor {
                path: path.to_owned(),
                tensor: name.to_owned(),
                message: format!("unknown dtype {other:?}, expected F32, F16 or BF16"),
            });
        }
    };
    Ok(NamedTensor { shape: view.shape().to_vec(), data })
}

/// The first NaN or infinity of a tensor, as an error naming the tensor and the value's index.
pub(crate) fn first_non_finite(path: &Path, name: &str, tensor: &NamedTensor) -> Result<(), WeightError> {
    match tensor.data.iter().position(|value| !value.is_finite()) {
        Some(offset) => Err(WeightError::NonFinite {
            path: path.to_owned(),
            tensor: name.to_owned(),
            index: unravel(offset, &tensor.shape),
            value: tensor.data[offset],
        }),
        None => Ok(()),
    }
}

/// The multi-index of a row-major offset.
pub fn unravel(mut offset: usize, shape: &[usize]) -> Vec<usize> {
    let mut index = vec![0; shape.len()];
    for (axis, &size) in shape.iter().enumerate().rev() {
        index[axis] = offset % size.max(1);
        offset /= size.max(1);
    }
    index
}

/// The checkpoint's `model_type` or our own preset name, mapped to a preset; the shape fields must then agree.
fn config_from_json(path: &Path, config: &Value) -> Result<GptConfig, WeightError> {
    let format_error = |message: String| WeightError::Format { path: path.to_owned(), message };
    let field = |name: &str| -> Result<usize, WeightError> {
        config
            .get(name)
            .and_then(Value::as_u64)
            .map(|v| v as usize)
            .ok_or_else(|| format_error(format!("config.{name}: missing or not a non-negative integer")))
    };
    let (n_layer, n_head, n_embd, vocab_size, block_size) =
        (field("n_layer")?, field("n_head")?, field("n_embd")?, field("vocab_size")?, field("block_size")?);
    let shape = [n_layer, n_head, n_embd, vocab_size, block_size];
    if let Some(arch) = config.get("arch") {
        return llama_config_from_json(path, config, arch, shape);
    }
    let preset = preset_names()
        .into_iter()
        .map(|name| GptConfig::preset(name).expect("listed presets exist"))
        .filter(|p| p.arch.is_gpt2())
        .find(|p| [p.n_layer, p.n_head, p.n_embd, p.vocab_size, p.block_size] == shape);
    if let Some(preset) = preset {
        return Ok(preset);
    }
    // A shape of no preset still runs: untied unless the file says otherwise.
    let name = config.get("model_type").and_then(Value::as_str).unwrap_or("custom");
    let tied = config.get("tied_lm_head").and_then(Value::as_bool).unwrap_or(false);
    GptConfig::new(name, shape, tied).map_err(|e| format_error(format!("config: {e}")))
}

/// Our own file of a Llama-family model (nano-llama): its `arch` as `GptConfig` serialises it,
/// checked as a config from Hugging Face's `config.json` is.
fn llama_config_from_json(
    path: &Path,
    config: &Value,
    arch: &Value,
    shape: [usize; 5],
) -> Result<GptConfig, WeightError> {
    let format_error = |message: String| WeightError::Format { path: path.to_owned(), message };
    let arch: Arch = serde_json::from_value(arch.clone()).map_err(|e| format_error(format!("config.arch: {e}")))?;
    let Arch::Llama(llama) = arch else { return Err(format_error("config.arch: expected a llama shape".into())) };
    let name = config.get("name").and_then(Value::as_str).unwrap_or("custom");
    let tied = config.get("tied_lm_head").and_then(Value::as_bool).unwrap_or(false);
    let eps = config.get("layer_norm_epsilon").and_then(Value::as_f64).unwrap_or(crate::model::config::LN_EPS);
    GptConfig::llama(name, shape, llama, tied, eps).map_err(|e| format_error(format!("config: {e}")))
}

/// The tensors of a minGPT-style JSON dump (weights, or the PyTorch intermediates used as test fixtures),
/// without checking them against a model.
pub fn load_json_tensors(path: &Path) -> Result<BTreeMap<String, NamedTensor>, WeightError> {
    let bytes = std::fs::read(path).map_err(|source| WeightError::Io { path: path.to_owned(), source })?;
    let root = parse_json_root(path, &bytes)?;
    decode_json_tensors(path, &root)
}

fn decode_json_tensors(
    path: &Path,
    root: &serde_json::Map<String, Value>,
) -> Result<BTreeMap<String, NamedTensor>, WeightError> {
    root.iter()
        .filter(|(name, _)| name.as_str() != "config")
        .map(|(name, entry)| Ok((name.clone(), decode_json_tensor(path, name, entry)?)))
        .collect()
}

fn parse_json_root(path: &Path, bytes: &[u8]) -> Result<serde_json::Map<String, Value>, WeightError> {
    let root: Value = serde_json::from_slice(bytes).map_err(|e| WeightError::json(path, &e))?;
    match root {
        Value::Object(object) => Ok(object),
        _ => Err(WeightError::Format {
            path: path.to_owned(),
            message: "expected a JSON object of {\"config\": ..., NAME: {shape, dtype, data}}".into(),
        }),
    }
}

pub(super) fn read_mingpt_json(path: &Path, bytes: &[u8]) -> Result<Weights, WeightError> {
    let object = parse_json_root(path, bytes)?;
    let config = match object.get("config") {
        Some(config) => config_from_json(path, config)?,
        None => GptConfig::nano(),
    };
    let tensors = decode_json_tensors(path, &object)?;
    Ok(Weights { config, tensors, source: path.to_owned() })
}

fn decode_json_tensor(path: &Path, name: &str, entry: &Value) -> Result<NamedTensor, WeightError> {
    let tensor_error =
        |message: String| WeightError::Tensor { path: path.to_owned(), tensor: name.to_owned(), message };
    let shape: Vec<usize> = entry
        .get("shape")
        .and_then(Value::as_array)
        .and_then(|dims| dims.iter().map(|d| d.as_u64().map(|d| d as usize)).collect())
        .ok_or_else(|| tensor_error("field 'shape': missing or not a list of sizes".into()))?;
    let dtype = entry.get("dtype").and_then(Value::as_str).unwrap_or("torch.float32");
    if dtype != "torch.float32" && dtype != "float32" {
        return Err(tensor_error(format!("field 'dtype': unknown dtype '{dtype}', expected torch.float32")));
    }
    let encoded = entry
        .get("data")
        .and_then(Value::as_str)
        .ok_or_else(|| tensor_error("field 'data': missing or not a base64 string".into()))?;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(|e| tensor_error(format!("field 'data': not valid base64: {e}")))?;
    // Checked: a shape such as [2^32, 2^32, 2^32] overflows any product.
    let expected_len = shape.iter().try_fold(4usize, |len, &size| len.checked_mul(size));
    if expected_len != Some(raw.len()) {
        let needs = expected_len.map_or_else(|| "more than can be addressed".to_string(), |len| len.to_string());
        return Err(tensor_error(format!(
            "field 'data': {} bytes, but shape {shape:?} of float32 needs {needs}",
            raw.len()
        )));
    }
    let data = raw.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    Ok(NamedTensor { shape, data })
}

/// Our own safetensors: state_dict names, Linear weights [out, in], the config in the metadata.
pub(super) fn read_safetensors(path: &Path, bytes: &[u8], config: &str) -> Result<Weights, WeightError> {
    let format_error = |message: String| WeightError::Format { path: path.to_owned(), message };
    let value: Value =
        serde_json::from_str(config).map_err(|e| format_error(format!("metadata 'config' is not JSON: {e}")))?;
    let config = config_from_json(path, &value)?;
    let file = safetensors::SafeTensors::deserialize(bytes)
        .map_err(|e| format_error(format!("not a safetensors file: {e}")))?;
    let mut tensors = BTreeMap::new();
    for (name, view) in file.tensors() {
        if name.ends_with(".attn.bias") || name.ends_with(".attn.masked_bias") {
            continue;
        }
        let tensor = decode_tensor(path, &name, &view)?;
        tensors.insert(name, tensor);
    }
    Ok(Weights { config, tensors, source: path.to_owned() })
}

impl WeightError {
    /// A JSON file that does not parse, with the line and column serde found the fault at.
    pub(crate) fn json(path: &Path, error: &serde_json::Error) -> WeightError {
        WeightError::Json {
            path: path.to_owned(),
            line: error.line(),
            column: error.column(),
            message: error.to_string(),
        }
    }
}
