//! Text into tokens, a property of the model: the sort task's letters (A, B, C) for a letter
//! vocabulary, GPT-2's byte-level BPE for GPT-2's 50,257 tokens.
//!
//! The BPE is `tiktoken-rs`'s `r50k_base`, GPT-2's own merges, embedded in the binary: it runs
//! offline. Native only for now: the page has no GPT-2 weights to run, and tiktoken with its ranks
//! and regex engines would be a tenth of the page's download (see `bpe`).

use super::config::GptConfig;
use super::vocab::{InputError, letters, vocab_list};

/// GPT-2's vocabulary: 50,000 merges, 256 bytes and `<|endoftext|>`.
pub const GPT2_VOCAB_SIZE: usize = 50257;

#[derive(Clone, Debug, PartialEq)]
pub enum Tokenizer {
    /// One letter a token: A = 0, B = 1, ...
    Letters(Vec<char>),
    /// GPT-2's byte-level BPE.
    Gpt2,
}

impl Tokenizer {
    /// The tokenizer of a model's vocabulary, or None for a vocabulary llmviz cannot spell.
    pub fn of(config: &GptConfig) -> Option<Tokenizer> {
        match letters(config) {
            Some(letters) => Some(Tokenizer::Letters(letters)),
            None => (config.vocab_size == GPT2_VOCAB_SIZE && bpe::AVAILABLE).then_some(Tokenizer::Gpt2),
        }
    }

    /// True when any text can be typed (not only the vocabulary's letters).
    pub fn takes_free_text(&self) -> bool {
        matches!(self, Tokenizer::Gpt2)
    }

    /// Every token of `text`, however many: the caller decides how many to keep.
    /// `<|endoftext|>` in the text is spelled out, not read as the special token.
    pub fn encode(&self, text: &str) -> Result<Vec<usize>, InputError> {
        match self {
            Tokenizer::Gpt2 => Ok(bpe::encode(text)),
            Tokenizer::Letters(letters) => {
                let vocab = letters.iter().map(char::to_string).collect::<Vec<_>>().join(", ");
                text.trim()
                    .chars()
                    .enumerate()
                    .map(|(position, letter)| {
                        letters
                            .iter()
                            .position(|&l| l == letter.to_ascii_uppercase())
                            .ok_or(InputError::Unknown { letter, position, vocab: vocab.clone() })
                    })
                    .collect()
            }
        }
    }

    /// The bytes a token stands for, as text. A token that holds part of a character (a piece of
    /// an emoji) shows its bytes as `\xF0`.
    pub fn piece(&self, token: usize) -> String {
        match self {
            Tokenizer::Letters(letters) => letters.get(token).map_or_else(|| format!("<{token}>"), char::to_string),
            Tokenizer::Gpt2 => match bpe::decode_bytes(&[token as u32]) {
                Some(bytes) => match String::from_utf8(bytes) {
                    Ok(text) => text,
                    Err(partial) => partial.into_bytes().iter().map(|b| format!("\\x{b:02X}")).collect(),
                },
                None => format!("<{token}>"),
            },
        }
    }

    /// Tokens back into text; the bytes of characters split over tokens are joined first.
    pub fn decode(&self, tokens: &[usize]) -> String {
        match self {
            Tokenizer::Letters(_) => tokens.iter().map(|&t| self.piece(t)).collect(),
            Tokenizer::Gpt2 => {
                let ids: Vec<u32> = tokens.iter().map(|&t| t as u32).collect();
                bpe::decode_bytes(&ids).map(|bytes| String::from_utf8_lossy(&bytes).into_owned()).unwrap_or_default()
            }
        }
    }
}

/// GPT-2's BPE through tiktoken (natively).
#[cfg(not(target_arch = "wasm32"))]
mod bpe {
    pub const AVAILABLE: bool = true;

    pub fn encode(text: &str) -> Vec<usize> {
        tiktoken_rs::r50k_base_singleton().encode_ordinary(text).into_iter().map(|id| id as usize).collect()
    }

    pub fn decode_bytes(ids: &[u32]) -> Option<Vec<u8>> {
        tiktoken_rs::r50k_base_singleton().decode_bytes(ids).ok()
    }
}

/// The page has no BPE: `Tokenizer::of` gives no tokenizer for GPT-2's vocabulary there, so these
/// are never reached.
#[cfg(target_arch = "wasm32")]
mod bpe {
    pub const AVAILABLE: bool = false;

    pub fn encode(_text: &str) -> Vec<usize> {
        Vec::new()
    }

    pub fn decode_bytes(_ids: &[u32]) -> Option<Vec<u8>> {
        None
    }
}

/// The tokens of `text` for `config`'s model, at least one.
pub fn tokenize(config: &GptConfig, text: &str) -> Result<Vec<usize>, InputError> {
    let tokenizer = Tokenizer::of(config)
        .ok_or_else(|| InputError::NoTokenizer { model: config.name.clone(), vocab_size: config.vocab_size })?;
    let tokens = tokenizer.encode(text)?;
    if tokens.is_empty() {
        return Err(match tokenizer {
            Tokenizer::Letters(_) => InputError::Empty { max: config.tokens(), vocab: vocab_list(config) },
            Tokenizer::Gpt2 => InputError::EmptyText,
        });
    }
    Ok(tokens)
}

/// The first `config.tokens()` tokens, and a warning when some were dropped: never a silent cut.
pub fn keep_tokens(config: &GptConfig, mut tokens: Vec<usize>) -> (Vec<usize>, Option<String>) {
    let (kept, total) = (config.tokens(), tokens.len());
    if total <= kept {
        return (tokens, None);
    }
    tokens.truncate(kept);
    let why = if kept == config.block_size {
        format!("the context of model '{}'", config.name)
    } else {
        "the drawing cap (--max-tokens)".to_string()
    };
    (tokens, Some(format!("kept {kept} of {total} tokens: {why} holds {kept}")))
}
