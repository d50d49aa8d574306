//! One training step's numbers beside its forward pass, for the scene's gradient mode: the example
//! the loss is taken on, the loss, and AdamW's update with its moments (`train::step` computes them;
//! the gradients themselves are tensors of the pass, named `<tensor>.grad`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{NamedTensor, Weights};

/// Letters of a sort problem: the sort task's loss scores the six answer letters that follow them.
pub const SORT_LENGTH: usize = 6;

/// What a loss is taken on: the tokens read, and the tokens the positions from `first` on should
/// predict.
#[derive(Clone, Debug, PartialEq)]
pub struct Example {
    pub tokens: Vec<usize>,
    pub first: usize,
    pub targets: Vec<usize>,
}

impl Example {
    /// nano's: the problem, then the first five letters of its sorted answer; the positions from
    /// the problem's last letter on predict the answer, as `sort_loss` scores a batch.
    pub fn sort(problem: &[usize]) -> Result<Example, String> {
        if problem.len() != SORT_LENGTH {
            return Err(format!("the sort task's loss reads {SORT_LENGTH} letters, not {}", problem.len()));
        }
        let mut answer = problem.to_vec();
        answer.sort_unstable();
        let tokens = [problem, &answer[..SORT_LENGTH - 1]].concat();
        Ok(Example { tokens, first: SORT_LENGTH - 1, targets: answer })
    }

    /// A text's: every position predicts the token after it.
    pub fn next_tokens(tokens: &[usize]) -> Result<Example, String> {
        if tokens.len() < 2 {
            return Err("the loss of a text needs two tokens at least: each predicts the next".into());
        }
        Ok(Example { tokens: tokens.to_vec(), first: 0, targets: tokens[1..].to_vec() })
    }

    /// `sort` for a model that reads letters (the sort task's), `next_tokens` for one that reads text.
    pub fn for_model(reads_text: bool, tokens: &[usize]) -> Result<Example, String> {
        if reads_text { Example::next_tokens(tokens) } else { Example::sort(tokens) }
    }
}

/// AdamW's running averages of each weight's gradient (`m`) and squared gradient (`v`), by weight
/// name, after `step` steps. Empty at step 0: a first step starts them at zero.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Moments {
    pub step: usize,
    pub m: BTreeMap<String, NamedTensor>,
    pub v: BTreeMap<String, NamedTensor>,
}

/// The optimizer's step on one example: the moments before and after, the factor each weight's
/// gradient was clipped by, and the weights it leaves.
#[derive(Clone, Debug)]
pub struct Update {
    pub learning_rate: f64,
    pub before: Moments,
    pub after: Moments,
    /// Per weight, its gradient's scale factor for each block of rows burn keeps it in (one block
    /// but for a vocabulary split to fit GPU bindings): (rows, factor).
    pub clip: BTreeMap<String, Vec<(usize, f32)>>,
    pub weights: Arc<Weights>,
}

/// A training step on the pass it came with: its example, loss and update.
#[derive(Clone, Debug)]
pub struct Training {
    pub example: Example,
    pub loss: f32,
    pub update: Update,
}

impl PartialEq for Training {
    /// The same step: the weights it leaves are compared by identity, not value by value.
    fn eq(&self, other: &Training) -> bool {
        let (a, b) = (&self.update, &other.update);
        self.example == other.example
            && self.loss == other.loss
            && (a.learning_rate, &a.before, &a.after, &a.clip) == (b.learning_rate, &b.before, &b.after, &b.clip)
            && Arc::ptr_eq(&a.weights, &b.weights)
    }
}

impl Moments {
    /// Where AdamW's moments lie beside a training checkpoint: `step-00200.safetensors` →
    /// `step-00200.adamw.safetensors`.
    pub fn file_beside(checkpoint: &Path) -> PathBuf {
        let stem = checkpoint.file_stem().map_or_else(String::new, |stem| stem.to_string_lossy().into_owned());
        checkpoint.with_file_name(format!("{stem}.{MOMENTS_SUFFIX}"))
    }

    /// Saves the moments as `m.<weight>` and `v.<weight>` tensors, the step in the metadata.
    pub fn save(&self, path: &Path) -> Result<(), String> {
        let mut tensors = BTreeMap::new();
        for (prefix, moments) in [("m", &self.m), ("v", &self.v)] {
            tensors.extend(moments.iter().map(|(name, tensor)| (format!("{prefix}.{name}"), tensor.clone())));
        }
        let metadata = std::collections::HashMap::from([("step".to_string(), self.step.to_string())]);
        let bytes = super::weights::serialize_tensors(&tensors, metadata)?;
        std::fs::write(path, bytes).map_err(|e| format!("{}: cannot write: {e}", path.display()))
    }

    /// The moments saved beside a checkpoint of `weights`, None when the checkpoint has none; an
    /// error names the file and, for a tensor that does not fit the weights, the tensor.
    pub fn load_beside(checkpoint: &Path, weights: &Weights) -> Result<Option<Moments>, String> {
        let path = Moments::file_beside(checkpoint);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(format!("{}: cannot read: {error}", path.display())),
        };
        let file_error = |message: String| format!("{}: {message}", path.display());
        let file = safetensors::SafeTensors::deserialize(&bytes).map_err(|e| file_error(e.to_string()))?;
        let (_, metadata) = safetensors::SafeTensors::read_metadata(&bytes).map_err(|e| file_error(e.to_string()))?;
        let step = metadata.metadata().as_ref().and_then(|m| m.get("step")).and_then(|step| step.parse().ok());
        let mut moments = Moments {
            step: step.ok_or_else(|| file_error("metadata has no 'step' count".into()))?,
            ..Default::default()
        };
        for (name, view) in file.tensors() {
            let tensor = super::weights::decode_tensor(&path, &name, &view).map_err(|e| e.to_string())?;
            let (kind, weight) = name
                .split_once('.')
                .ok_or_else(|| file_error(format!("tensor '{name}': not m.<weight> or v.<weight>")))?;
            let expected = weights.tensors.get(weight).map(|w| &w.shape);
            if expected != Some(&tensor.shape) {
                return Err(file_error(format!(
                    "tensor '{name}': shape {:?} does not fit the weights' {expected:?}",
                    tensor.shape
                )));
            }
            match kind {
                "m" => moments.m.insert(weight.to_string(), tensor),
                "v" => moments.v.insert(weight.to_string(), tensor),
                _ => return Err(file_error(format!("tensor '{name}': not m.<weight> or v.<weight>"))),
            };
        }
        Ok(Some(moments))
    }
}

/// The end of a moments file's name, which checkpoint listings skip.
pub const MOMENTS_SUFFIX: &str = "adamw.safetensors";
