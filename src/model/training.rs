//! One training step's numbers beside its forward pass, for the scene's gradient mode: the example
//! the loss is taken on, the loss, and AdamW's update with its moments (`train::step` computes them;
//! the gradients themselves are tensors of the pass, named `<tensor>.grad`).

use std::collections::BTreeMap;
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
