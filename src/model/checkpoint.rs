//! Which reader a checkpoint needs: llmviz's own safetensors (its config in the metadata), Hugging
//! Face's GPT-2 layout (a folder, or a safetensors file with the `config.json` beside it) or a
//! minGPT JSON dump. It dispatches to `weights` and `huggingface`, which know nothing of each other's
//! formats: `huggingface` reads into the `Weights` that `weights` defines, never the other way.

use std::collections::BTreeMap;
use std::path::Path;

use super::weights::{NonFinite, WeightError, Weights, is_safetensors, read_file, read_mingpt_json, read_safetensors};
use super::{hf_llama, huggingface};

/// The preset whose weights the app opens on.
const SHIPPED_PRESET: &str = "nano";

/// Where the default model lives in the repository, and the name it is served under beside the web page.
pub const DEFAULT_MODEL_PATH: &str = "models/nano-sort.safetensors";

/// nano-llama's weights (`llmviz train --model nano-llama`), the other preset that ships trained.
pub const NANO_LLAMA_PATH: &str = "models/nano-llama.safetensors";

#[cfg(not(target_arch = "wasm32"))]
fn nano_llama_bytes() -> Option<&'static [u8]> {
    Some(include_bytes!("../../models/nano-llama.safetensors"))
}

/// The page downloads nano-llama beside the default model and hands it over before the app starts.
#[cfg(target_arch = "wasm32")]
pub static WEB_NANO_LLAMA: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();

#[cfg(target_arch = "wasm32")]
fn nano_llama_bytes() -> Option<&'static [u8]> {
    WEB_NANO_LLAMA.get().map(Vec::as_slice)
}

/// Natively the default model is built into the binary, so the app runs from anywhere.
#[cfg(not(target_arch = "wasm32"))]
fn default_model_bytes() -> &'static [u8] {
    include_bytes!("../../models/nano-sort.safetensors")
}

/// The page downloads the default model beside the .wasm (web/index.html) and hands it over before
/// the app starts: random floats don't compress, so they cost a third of a megabyte in the .wasm
/// on top of the download they are anyway.
#[cfg(target_arch = "wasm32")]
pub static WEB_DEFAULT_MODEL: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();

#[cfg(target_arch = "wasm32")]
fn default_model_bytes() -> &'static [u8] {
    WEB_DEFAULT_MODEL.get().map(Vec::as_slice).unwrap_or_default()
}

impl Weights {
    /// Reads a Hugging Face GPT-2 folder (`config.json` + `model.safetensors`), a `.safetensors`
    /// file (ours, or Hugging Face's with the `config.json` beside it if there is one) or a minGPT
    /// `.json` dump, and checks every parameter's shape and value.
    pub fn load(path: &Path) -> Result<Weights, WeightError> {
        Weights::load_with(path, NonFinite::Refuse)
    }

    /// `load`, refusing or allowing non-finite values.
    pub fn load_with(path: &Path, non_finite: NonFinite) -> Result<Weights, WeightError> {
        let (config_path, file) = if path.is_dir() {
            huggingface::folder_paths(path)
        } else {
            (path.with_file_name("config.json"), path.to_owned())
        };
        let config_text = match std::fs::read_to_string(&config_path) {
            Ok(text) => Some(text),
            Err(source) if path.is_dir() => return Err(WeightError::Io { path: config_path, source }),
            Err(_) => None,
        };
        #[cfg(not(target_arch = "wasm32"))]
        if let Some(text) = config_text.as_deref().filter(|text| hf_llama::is_llama_family(text)) {
            let dir = config_path.parent().unwrap_or(Path::new("."));
            return hf_llama::load_folder(dir, text, non_finite);
        }
        if let Some(kind) = config_text.as_deref().and_then(hf_llama::model_type).filter(|kind| kind != "gpt2") {
            return Err(WeightError::Format {
                path: config_path,
                message: format!(
                    "field 'model_type': '{kind}' is not supported: llmviz runs gpt2, {}",
                    hf_llama::FAMILIES.join(", ")
                ),
            });
        }
        let bytes = read_file(&file)?;
        let hf_config = config_text.as_deref().map(|text| (config_path.as_path(), text));
        Weights::parse_checked(&file, &bytes, hf_config, non_finite)
    }

    /// Reads a `.safetensors` file and the string metadata stored with it (the config among it).
    pub fn load_with_metadata(path: &Path) -> Result<(Weights, BTreeMap<String, String>), WeightError> {
        let bytes = read_file(path)?;
        let weights = Weights::parse(path, &bytes)?;
        let (_, metadata) = safetensors::SafeTensors::read_metadata(&bytes).map_err(|e| WeightError::Format {
            path: path.to_owned(),
            message: format!("not a safetensors file: {e}"),
        })?;
        let metadata = metadata.metadata().clone().unwrap_or_default().into_iter().collect();
        Ok((weights, metadata))
    }

    /// Parses a file's bytes; `path` names it in errors and chooses the format by its extension.
    pub fn parse(path: &Path, bytes: &[u8]) -> Result<Weights, WeightError> {
        Weights::parse_with(path, bytes, None)
    }

    /// `parse`, with the path and text of the `config.json` found beside the file. A safetensors
    /// file that carries no llmviz config in its metadata is read as Hugging Face's GPT-2, shaped
    /// by that `config.json` or, without one, by its tensors.
    pub fn parse_with(path: &Path, bytes: &[u8], hf_config: Option<(&Path, &str)>) -> Result<Weights, WeightError> {
        Weights::parse_checked(path, bytes, hf_config, NonFinite::Refuse)
    }

    /// `parse_with`, refusing or allowing non-finite values.
    pub fn parse_checked(
        path: &Path,
        bytes: &[u8],
        hf_config: Option<(&Path, &str)>,
        non_finite: NonFinite,
    ) -> Result<Weights, WeightError> {
        let weights = if is_safetensors(path) {
            let (_, metadata) = safetensors::SafeTensors::read_metadata(bytes).map_err(|e| WeightError::Format {
                path: path.to_owned(),
                message: format!("not a safetensors file: {e}"),
            })?;
            match metadata.metadata().as_ref().and_then(|m| m.get("config")) {
                Some(config) => read_safetensors(path, bytes, config)?,
                None => {
                    // Checks each tensor's shape and values as it reads it, naming it as stored.
                    let config = hf_config
                        .map(|(config_path, text)| huggingface::folder_config(config_path, text, path))
                        .transpose()?;
                    return huggingface::read_hf_safetensors(path, bytes, config, non_finite);
                }
            }
        } else {
            read_mingpt_json(path, bytes)?
        };
        weights.check_shapes()?;
        if non_finite == NonFinite::Refuse {
            weights.check_finite()?;
        }
        Ok(weights)
    }

    /// The weights that ship with llmviz for a preset: nano-gpt's own (`default_model`) and
    /// nano-llama's. The larger presets ship none and are drawn as their structure only.
    pub fn shipped(preset: &str) -> Option<Weights> {
        match preset {
            SHIPPED_PRESET => Some(Weights::default_model()),
            crate::model::config::NANO_LLAMA => {
                let bytes = nano_llama_bytes()?;
                Some(Weights::parse(Path::new(NANO_LLAMA_PATH), bytes).expect("the built-in nano-llama is valid"))
            }
            _ => None,
        }
    }

    /// Whether weights ship for a preset, without decoding them.
    pub fn ships_for(preset: &str) -> bool {
        preset == SHIPPED_PRESET || (preset == crate::model::config::NANO_LLAMA && nano_llama_bytes().is_some())
    }

    /// The model the app opens on: our own nano-sort weights (`llmviz train`, seed 3407). minGPT's
    /// reference weights stay as the conformance fixture.
    pub fn default_model() -> Weights {
        Weights::parse(Path::new(DEFAULT_MODEL_PATH), default_model_bytes()).expect("the built-in model is valid")
    }
}

/// A checkpoint the page downloaded: the weights' file name and the texts of the folder beside it.
#[derive(Clone, Debug, Default)]
pub struct Downloaded {
    /// The weights' file name (its address), which errors name.
    pub name: String,
    pub config: Option<String>,
    pub tokenizer: Option<String>,
}

impl Downloaded {
    /// Its weights, read as the page and its forward worker both read them: Hugging Face's
    /// `config.json` shapes GPT-2, or makes it a Llama-family model; at most `max_tokens` positions.
    pub fn weights(&self, bytes: Vec<u8>, max_tokens: usize) -> Result<Weights, String> {
        let name = Path::new(&self.name);
        let config_path = name.with_file_name("config.json");
        let hf_config = self.config.as_deref().map(|text| (config_path.as_path(), text));
        let llama = self.config.as_deref().filter(|text| super::hf_llama::is_llama_family(text));
        let mut weights = match llama {
            Some(text) => super::hf_llama::from_bytes(name, &bytes, text, self.tokenizer.as_deref(), NonFinite::Refuse),
            None => Weights::parse_with(name, &bytes, hf_config),
        }
        .map_err(|error| error.to_string())?;
        drop(bytes);
        weights.config = weights.config.with_max_tokens(max_tokens);
        Ok(weights)
    }
}
