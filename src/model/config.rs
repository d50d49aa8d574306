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
    /// GPT-2's blocks, or a Llama-family model's (RMSNorm, RoPE, SwiGLU, grouped-query attention).
    /// For a Llama, `n_embd` is the hidden size, `n_head` the query heads and `layer_norm_epsilon`
    /// RMSNorm's ε.
    #[serde(default, skip_serializing_if = "Arch::is_gpt2")]
    pub arch: Arch,
    /// Which installed `tokenizer.json` spells this model's tokens (`tokenizer::install`), when its
    /// vocabulary is neither letters nor GPT-2's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokenizer: Option<String>,
}

/// The kind of blocks a model is built of.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Arch {
    /// LayerNorm, a learned position table, GELU, one k and v per head (GPT-2, GPT-3, nano-gpt).
    #[default]
    Gpt2,
    Llama(LlamaShape),
}

impl Arch {
    pub fn is_gpt2(&self) -> bool {
        matches!(self, Arch::Gpt2)
    }
}

/// What a Llama-family model adds to a GPT's shape (Hugging Face's `config.json` names in comments).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LlamaShape {
    /// `model_type`: `llama`, `qwen2` or `qwen3`.
    pub family: String,
    /// `num_key_value_heads`: each k/v head serves `n_head / n_kv_head` query heads.
    pub n_kv_head: usize,
    /// `head_dim`: not always hidden / heads (Qwen3-0.6B: 128, against 1024 / 16).
    pub head_dim: usize,
    /// `intermediate_size`: the SwiGLU's width.
    pub intermediate_size: usize,
    /// `rope_theta`: the base of the rotary angles' frequencies.
    pub rope_theta: f64,
    /// `rope_scaling` of type `llama3` (Llama 3.1 and 3.2), which slows the low frequencies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rope_scaling: Option<Llama3Scaling>,
    /// Qwen2's q, k and v projections have biases.
    pub qkv_bias: bool,
    /// Qwen3 normalises each head's q and k (RMSNorm over `head_dim`) before rotating them.
    pub qk_norm: bool,
}

/// `rope_scaling` with `rope_type` `llama3`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Llama3Scaling {
    pub factor: f64,
    pub low_freq_factor: f64,
    pub high_freq_factor: f64,
    pub original_max_position_embeddings: usize,
}

impl LlamaShape {
    /// θ_i of the rotary embedding for i < head_dim / 2: `rope_theta^(−2i/d)`, rescaled as
    /// Hugging Face's `_compute_llama3_parameters` does for `llama3` scaling.
    pub fn inv_freq(&self) -> Vec<f64> {
        let d = self.head_dim as f64;
        (0..self.head_dim / 2)
            .map(|i| {
                let base = self.rope_theta.powf(-2.0 * i as f64 / d);
                match self.rope_scaling {
                    None => base,
                    Some(scaling) => scaling.rescale(base),
                }
            })
            .collect()
    }
}

impl Llama3Scaling {
    /// Wavelengths longer than the original context / `low_freq_factor` are slowed by `factor`,
    /// shorter than it / `high_freq_factor` kept, and those between blended.
    pub fn rescale(&self, inv_freq: f64) -> f64 {
        let old = self.original_max_position_embeddings as f64;
        let wavelen = 2.0 * std::f64::consts::PI / inv_freq;
        if wavelen > old / self.low_freq_factor {
            inv_freq / self.factor
        } else if wavelen < old / self.high_freq_factor {
            inv_freq
        } else {
            let smooth = (old / wavelen - self.low_freq_factor) / (self.high_freq_factor - self.low_freq_factor);
            (1.0 - smooth) * inv_freq / self.factor + smooth * inv_freq
        }
    }
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

/// nano-llama: nano-gpt's size and task in today's architecture (3 layers, C = 48, 4 query heads
/// sharing 2 k/v heads of 12, a SwiGLU of 128, tied embedding), trained by `llmviz train`.
pub const NANO_LLAMA: &str = "nano-llama";

fn nano_llama() -> GptConfig {
    let shape = LlamaShape {
        family: "llama".into(),
        n_kv_head: 2,
        head_dim: 12,
        intermediate_size: 128,
        rope_theta: 10_000.0,
        rope_scaling: None,
        qkv_bias: false,
        qk_norm: false,
    };
    GptConfig::llama(NANO_LLAMA, [3, 4, 48, 3, 11], shape, true, LN_EPS).expect("nano-llama is a valid shape")
}

/// The names `preset` accepts, in the order the app lists them.
pub fn preset_names() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = PRESETS.iter().map(|p| p.0).collect();
    names.insert(1, NANO_LLAMA);
    names
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
    #[error("num_attention_heads {n_head} is not a multiple of num_key_value_heads {n_kv_head}")]
    KvHeadsDoNotDivide { n_head: usize, n_kv_head: usize },
    #[error("head_dim {head_dim} is odd: the rotary embedding turns its channels in pairs")]
    OddHeadDim { head_dim: usize },
}

/// The first size of 0, named: every size of a model is at least 1.
fn no_zero(sizes: &[(&'static str, usize)]) -> Result<(), ConfigError> {
    match sizes.iter().find(|(_, size)| *size == 0) {
        Some(&(field, _)) => Err(ConfigError::Zero { field }),
        None => Ok(()),
    }
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
        no_zero(&sizes)?;
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
            arch: Arch::Gpt2,
            tokenizer: None,
        })
    }

    /// A Llama-family config with its shape checked. `[n_layer, n_head, n_embd, vocab_size,
    /// block_size]` as for `new`, but the width need not split over the heads (`head_dim` says).
    pub fn llama(
        name: &str,
        shape: [usize; 5],
        llama: LlamaShape,
        tied_lm_head: bool,
        rms_norm_eps: f64,
    ) -> Result<GptConfig, ConfigError> {
        let [n_layer, n_head, n_embd, vocab_size, block_size] = shape;
        let sizes = [
            ("num_hidden_layers", n_layer),
            ("num_attention_heads", n_head),
            ("hidden_size", n_embd),
            ("vocab_size", vocab_size),
            ("max_position_embeddings", block_size),
            ("num_key_value_heads", llama.n_kv_head),
            ("head_dim", llama.head_dim),
            ("intermediate_size", llama.intermediate_size),
        ];
        no_zero(&sizes)?;
        if n_head % llama.n_kv_head != 0 {
            return Err(ConfigError::KvHeadsDoNotDivide { n_head, n_kv_head: llama.n_kv_head });
        }
        if !llama.head_dim.is_multiple_of(2) {
            return Err(ConfigError::OddHeadDim { head_dim: llama.head_dim });
        }
        Ok(GptConfig {
            name: name.to_string(),
            n_layer,
            n_head,
            n_embd,
            vocab_size,
            block_size,
            tied_lm_head,
            layer_norm_epsilon: rms_norm_eps,
            max_tokens: None,
            arch: Arch::Llama(llama),
            tokenizer: None,
        })
    }

    /// The Llama-family shape, None for a GPT-2.
    pub fn llama_shape(&self) -> Option<&LlamaShape> {
        match &self.arch {
            Arch::Llama(shape) => Some(shape),
            Arch::Gpt2 => None,
        }
    }

    /// Key and value heads: one per query head in GPT-2, fewer with grouped-query attention.
    pub fn kv_heads(&self) -> usize {
        self.llama_shape().map_or(self.n_head, |l| l.n_kv_head)
    }

    /// Bytes of f32 keys and values a KV cache holds for `positions` tokens: every layer's k/v heads.
    pub fn kv_cache_bytes(&self, positions: usize) -> u64 {
        (2 * self.n_layer * self.kv_heads() * self.head_size() * positions * 4) as u64
    }

    /// Query heads reading each k/v head.
    pub fn group_size(&self) -> usize {
        self.n_head / self.kv_heads()
    }

    /// The width of the heads' outputs side by side, H·A: C in GPT-2, not always in a Llama.
    pub fn attention_width(&self) -> usize {
        self.n_head * self.head_size()
    }

    pub fn preset(name: &str) -> Result<GptConfig, UnknownModel> {
        if name == NANO_LLAMA {
            return Ok(nano_llama());
        }
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
        self.llama_shape().map_or(self.n_embd / self.n_head, |l| l.head_dim)
    }

    /// The MLP's hidden width: 4C in GPT-2, `intermediate_size` in a Llama.
    pub fn mlp_width(&self) -> usize {
        self.llama_shape().map_or(4 * self.n_embd, |l| l.intermediate_size)
    }

    /// Learned parameters, the LM head included once (a tied head adds nothing), causal masks excluded.
    pub fn param_count(&self) -> u64 {
        if let Some(llama) = self.llama_shape() {
            return self.llama_param_count(llama);
        }
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

impl GptConfig {
    fn llama_param_count(&self, llama: &LlamaShape) -> u64 {
        let c = self.n_embd as u64;
        let (q, kv) = ((self.n_head * llama.head_dim) as u64, (llama.n_kv_head * llama.head_dim) as u64);
        let f = llama.intermediate_size as u64;
        let biases = if llama.qkv_bias { q + 2 * kv } else { 0 };
        let qk_norm = if llama.qk_norm { 2 * llama.head_dim as u64 } else { 0 };
        let per_layer = 2 * c            // input_layernorm, post_attention_layernorm
            + c * q + 2 * c * kv + q * c // q, k, v and o projections
            + biases + qk_norm
            + 3 * c * f; // gate, up and down
        let embeddings = self.vocab_size as u64 * c;
        let lm_head = if self.tied_lm_head { 0 } else { self.vocab_size as u64 * c };
        embeddings + self.n_layer as u64 * per_layer + c + lm_head
    }
}
