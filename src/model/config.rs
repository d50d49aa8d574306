//! The shape of a GPT, and the presets llmviz knows: a small table, as in nanoGPT.

use serde::{Deserialize, Serialize};

/// Hyper-parameters of a minGPT/GPT-2 style model. Names follow the checkpoints' `config`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GptConfig {
    pub name: String,
    pub n_layer: usize,
    pub n_head: usize,
    pub n_embd: usize,
    pub vocab_size: usize,
    pub block_size: usize,
    /// GPT-2 and GPT-3 reuse the token embedding as the LM head; minGPT's nano model does not.
    pub tied_lm_head: bool,
    /// LayerNorm's ε, added to the biased variance inside the square root (`layer_norm_epsilon`).
    #[serde(default = "default_ln_eps")]
    pub layer_norm_epsilon: f64,
    /// The most tokens drawn and run, when fewer than the context: attention grows with the square
    /// of the length, so a checkpoint with a context of 1024 is drawn with `--max-tokens` columns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<usize>,
}

/// LayerNorm's ε in GPT-2 and minGPT, and for files that do not say.
pub const LN_EPS: f64 = 1e-5;

fn default_ln_eps() -> f64 {
    LN_EPS
}

/// (name, n_layer, n_head, n_embd, vocab_size, block_size, tied_lm_head)
const PRESETS: [(&str, usize, usize, usize, usize, usize, bool); 4] = [
    ("nano", 3, 3, 48, 3, 11, false),
    ("gpt2", 12, 12, 768, 50257, 1024, true),
    ("gpt2-xl", 48, 25, 1600, 50257, 1024, true),
    ("gpt3", 96, 96, 12288, 50257, 2048, true),
];

/// The names `preset` accepts, in the order the app lists them.
pub fn preset_names() -> Vec<&'static str> {
    PRESETS.iter().map(|p| p.0).collect()
}

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("unknown model '{name}': expected one of {}", preset_names().join(", "))]
pub struct UnknownModel {
    pub name: String,
}

/// A shape no GPT can have, found when the config is built, as nanoGPT's model asserts.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ConfigError {
    #[error("n_embd {n_embd} is not a multiple of n_head {n_head}")]
    HeadsDoNotDivide { n_embd: usize, n_head: usize },
    #[error("{field} must be at least 1")]
    Zero { field: &'static str },
}

impl GptConfig {
    /// A config with its shape checked: every size at least 1, and the width split evenly over the heads.
    pub fn new(
        name: &str,
        [n_layer, n_head, n_embd, vocab_size, block_size]: [usize; 5],
        tied_lm_head: bool,
    ) -> Result<GptConfig, ConfigError> {
        let sizes = [
            ("n_layer", n_layer),
            ("n_head", n_head),
            ("n_embd", n_embd),
            ("vocab_size", vocab_size),
            ("block_size", block_size),
        ];
        if let Some(&(field, _)) = sizes.iter().find(|(_, size)| *size == 0) {
            return Err(ConfigError::Zero { field });
        }
        if n_embd % n_head != 0 {
            return Err(ConfigError::HeadsDoNotDivide { n_embd, n_head });
        }
        Ok(GptConfig {
            name: name.to_string(),
            n_layer,
            n_head,
            n_embd,
            vocab_size,
            block_size,
            tied_lm_head,
            layer_norm_epsilon: LN_EPS,
            max_tokens: None,
        })
    }

    pub fn preset(name: &str) -> Result<GptConfig, UnknownModel> {
        PRESETS
            .iter()
            .find(|p| p.0 == name)
            .map(|&(name, n_layer, n_head, n_embd, vocab_size, block_size, tied_lm_head)| {
                GptConfig::new(name, [n_layer, n_head, n_embd, vocab_size, block_size], tied_lm_head)
                    .expect("the presets are valid shapes")
            })
            .ok_or_else(|| UnknownModel { name: name.to_string() })
    }

    pub fn nano() -> GptConfig {
        GptConfig::preset("nano").expect("nano is a preset")
    }

    /// T of the layout and the most tokens a forward pass takes: the context, or `max_tokens` when smaller.
    pub fn tokens(&self) -> usize {
        self.max_tokens.map_or(self.block_size, |cap| cap.min(self.block_size))
    }

    /// The same model drawn and run with at most `cap` tokens.
    pub fn with_max_tokens(mut self, cap: usize) -> GptConfig {
        self.max_tokens = Some(cap.max(1));
        self
    }

    /// A: the size of one attention head.
    pub fn head_size(&self) -> usize {
        self.n_embd / self.n_head
    }

    /// The MLP's hidden width, 4C.
    pub fn mlp_width(&self) -> usize {
        4 * self.n_embd
    }

    /// Learned parameters, the LM head included once (a tied head adds nothing), causal masks excluded.
    pub fn param_count(&self) -> u64 {
        let c = self.n_embd as u64;
        let per_layer = 2 * c          // ln_1
            + 3 * c * c + 3 * c        // attn.c_attn
            + c * c + c                // attn.c_proj
            + 2 * c                    // ln_2
            + 4 * c * c + 4 * c        // mlp.c_fc
            + 4 * c * c + c; // mlp.c_proj
        let embeddings = (self.vocab_size as u64 + self.block_size as u64) * c;
        let lm_head = if self.tied_lm_head { 0 } else { self.vocab_size as u64 * c };
        embeddings + self.n_layer as u64 * per_layer + 2 * c + lm_head
    }
}
