//! Text into tokens, a property of the model: the sort task's letters (A, B, C) for a letter
//! vocabulary, GPT-2's byte-level BPE for GPT-2's 50,257 tokens.
//!
//! The BPE is `tiktoken-rs`'s: natively its `r50k_base`, GPT-2's own ranks, embedded in the binary,
//! so it runs offline. The page leaves the ranks out (a tenth of its download for a model most
//! readers never open) and builds the same BPE from the `vocab.json` of the GPT-2 folder it opens
//! (`install_gpt2_vocab`).

use super::config::GptConfig;

/// GPT-2's vocabulary: 50,000 merges, 256 bytes and `<|endoftext|>`.
pub const GPT2_VOCAB_SIZE: usize = 50257;

#[derive(Clone, Debug)]
pub enum Tokenizer {
    /// One letter a token: A = 0, B = 1, ...
    Letters(Vec<char>),
    /// GPT-2's byte-level BPE.
    Gpt2,
    /// A `tokenizer.json` (Llama 3, Qwen, SmolLM2, TinyLlama), read by Hugging Face's `tokenizers`.
    Json(std::sync::Arc<tokenizers::Tokenizer>),
}

impl PartialEq for Tokenizer {
    fn eq(&self, other: &Tokenizer) -> bool {
        match (self, other) {
            (Tokenizer::Letters(a), Tokenizer::Letters(b)) => a == b,
            (Tokenizer::Gpt2, Tokenizer::Gpt2) => true,
            (Tokenizer::Json(a), Tokenizer::Json(b)) => std::sync::Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

impl Tokenizer {
    /// The tokenizer of a model's vocabulary, or None for a vocabulary llmviz cannot spell.
    pub fn of(config: &GptConfig) -> Option<Tokenizer> {
        if let Some(key) = &config.tokenizer {
            return json::installed(key).map(Tokenizer::Json);
        }
        match letters(config) {
            Some(letters) => Some(Tokenizer::Letters(letters)),
            None => (config.vocab_size == GPT2_VOCAB_SIZE && bpe::available()).then_some(Tokenizer::Gpt2),
        }
    }

    /// True when any text can be typed (not only the vocabulary's letters).
    pub fn takes_free_text(&self) -> bool {
        matches!(self, Tokenizer::Gpt2 | Tokenizer::Json(_))
    }

    /// Every token of `text`, however many: the caller decides how many to keep.
    /// `<|endoftext|>` in the text is spelled out, not read as the special token.
    pub fn encode(&self, text: &str) -> Result<Vec<usize>, InputError> {
        match self {
            Tokenizer::Gpt2 => Ok(bpe::encode(text)),
            Tokenizer::Json(tokenizer) => json::encode(tokenizer, text),
            Tokenizer::Letters(letters) => {
                let vocab = letters.iter().map(char::to_string).collect::<Vec<_>>().join(", ");
                text.trim()
                    .chars()
                    .enumerate()
                    .map(|(position, letter)| {
                        letters.iter().position(|&l| l == letter.to_ascii_uppercase()).ok_or(InputError::Unknown {
                            letter,
                            position,
                            vocab: vocab.clone(),
                        })
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
            Tokenizer::Json(tokenizer) => json::piece(tokenizer, token),
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
            Tokenizer::Json(tokenizer) => {
                let ids: Vec<u32> = tokens.iter().map(|&t| t as u32).collect();
                tokenizer.decode(&ids, false).unwrap_or_default()
            }
        }
    }
}

/// Installs a `tokenizer.json` for the models that name it, and returns the key their config
/// keeps (`GptConfig::tokenizer`): the same file gives the same key, so opening a model twice
/// reads its tokenizer once. The error says what is wrong with the file.
pub fn install_json(json_text: &str) -> Result<String, String> {
    json::install(json_text)
}

/// The `tokenizer.json`s installed in this process, by key. A registry rather than a field of the
/// config, because the config is plain data that is compared, cloned and serialised everywhere.
mod json {
    use std::collections::HashMap;
    use std::hash::{Hash, Hasher};
    use std::str::FromStr;
    use std::sync::{Arc, Mutex, OnceLock};

    use super::InputError;

    fn registry() -> &'static Mutex<HashMap<String, Arc<tokenizers::Tokenizer>>> {
        static REGISTRY: OnceLock<Mutex<HashMap<String, Arc<tokenizers::Tokenizer>>>> = OnceLock::new();
        REGISTRY.get_or_init(Default::default)
    }

    pub fn install(text: &str) -> Result<String, String> {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        text.hash(&mut hasher);
        let key = format!("tokenizer.json#{:016x}", hasher.finish());
        let mut installed = registry().lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if !installed.contains_key(&key) {
            let tokenizer = tokenizers::Tokenizer::from_str(text).map_err(|e| format!("not a tokenizer.json: {e}"))?;
            installed.insert(key.clone(), Arc::new(tokenizer));
        }
        Ok(key)
    }

    pub fn installed(key: &str) -> Option<Arc<tokenizers::Tokenizer>> {
        registry().lock().unwrap_or_else(|poisoned| poisoned.into_inner()).get(key).cloned()
    }

    /// The text's ids without the special tokens a post-processor would add (a BOS): what was typed.
    pub fn encode(tokenizer: &tokenizers::Tokenizer, text: &str) -> Result<Vec<usize>, InputError> {
        let encoding = tokenizer.encode(text, false).map_err(|e| InputError::Tokenizer { message: e.to_string() })?;
        Ok(encoding.get_ids().iter().map(|&id| id as usize).collect())
    }

    /// What a token stands for, spelt as GPT-2's pieces are: the bytes of a byte-level token as
    /// text (`Ġworld` is " world"), a byte-fallback token as `\xE4`, SentencePiece's `▁` as a space.
    pub fn piece(tokenizer: &tokenizers::Tokenizer, token: usize) -> String {
        let Some(raw) = tokenizer.id_to_token(token as u32) else { return format!("<{token}>") };
        if let Some(hex) = raw.strip_prefix("<0x").and_then(|rest| rest.strip_suffix('>')) {
            return format!("\\x{hex}");
        }
        if tokenizer.get_added_vocabulary().is_special_token(&raw) {
            return raw;
        }
        let byte_level = matches!(tokenizer.get_decoder(), Some(tokenizers::decoders::DecoderWrapper::ByteLevel(_)));
        if !byte_level {
            return raw.replace('\u{2581}', " ");
        }
        // Built once: the token strip and the next-token panel spell pieces every frame.
        static ALPHABET: OnceLock<HashMap<char, u8>> = OnceLock::new();
        let alphabet = ALPHABET.get_or_init(super::byte_alphabet);
        match raw.chars().map(|c| alphabet.get(&c).copied()).collect::<Option<Vec<u8>>>() {
            Some(bytes) => match String::from_utf8(bytes) {
                Ok(text) => text,
                Err(partial) => partial.into_bytes().iter().map(|b| format!("\\x{b:02X}")).collect(),
            },
            None => raw,
        }
    }
}

/// GPT-2's BPE through tiktoken, natively with its embedded ranks.
#[cfg(not(target_arch = "wasm32"))]
mod bpe {
    pub fn available() -> bool {
        true
    }

    pub fn encode(text: &str) -> Vec<usize> {
        tiktoken_rs::r50k_base_singleton().encode_ordinary(text).into_iter().map(|id| id as usize).collect()
    }

    pub fn decode_bytes(ids: &[u32]) -> Option<Vec<u8>> {
        tiktoken_rs::r50k_base_singleton().decode_bytes(ids).ok()
    }
}

/// The page's BPE, once a GPT-2 folder's `vocab.json` has given it (`install_gpt2_vocab`): until
/// then `Tokenizer::of` gives no tokenizer for GPT-2's vocabulary, so these are not reached.
#[cfg(target_arch = "wasm32")]
mod bpe {
    pub static INSTALLED: std::sync::OnceLock<tiktoken_rs::CoreBPE> = std::sync::OnceLock::new();

    pub fn available() -> bool {
        INSTALLED.get().is_some()
    }

    pub fn encode(text: &str) -> Vec<usize> {
        INSTALLED
            .get()
            .map(|bpe| bpe.encode_ordinary(text).into_iter().map(|id| id as usize).collect())
            .unwrap_or_default()
    }

    pub fn decode_bytes(ids: &[u32]) -> Option<Vec<u8>> {
        INSTALLED.get()?.decode_bytes(ids).ok()
    }
}

/// Makes GPT-2's BPE from a `vocab.json` in the page, where the ranks are not built in.
#[cfg(target_arch = "wasm32")]
pub fn install_gpt2_vocab(json: &str) -> Result<(), String> {
    let bpe = gpt2_bpe_from_vocab_json(json)?;
    // A second GPT-2 keeps the first BPE: GPT-2's vocabulary is one.
    let _ = bpe::INSTALLED.set(bpe);
    Ok(())
}

/// GPT-2's split of text into words, numbers and punctuation before the merges (tiktoken's r50k).
const GPT2_PATTERN: &str = "'(?:[sdmt]|ll|ve|re)| ?\\p{L}++| ?\\p{N}++| ?[^\\s\\p{L}\\p{N}]++|\\s++$|\\s+(?!\\S)|\\s";

/// GPT-2's byte-level BPE from Hugging Face's `vocab.json`: each token spelt in GPT-2's alphabet of
/// 256 printable characters (one per byte) mapped to its id, which for GPT-2 is its merge rank.
pub fn gpt2_bpe_from_vocab_json(json: &str) -> Result<tiktoken_rs::CoreBPE, String> {
    let vocab: std::collections::HashMap<String, u32> =
        serde_json::from_str(json).map_err(|error| format!("vocab.json: not a map of tokens to ids ({error})"))?;
    let alphabet = byte_alphabet();
    let mut encoder: rustc_hash::FxHashMap<Vec<u8>, u32> = Default::default();
    let mut special: rustc_hash::FxHashMap<String, u32> = Default::default();
    let mut ids = std::collections::HashSet::new();
    for (token, &id) in &vocab {
        if !ids.insert(id) {
            return Err(format!("vocab.json: id {id} is given to two tokens"));
        }
        if token == "<|endoftext|>" {
            special.insert(token.clone(), id);
            continue;
        }
        let bytes: Option<Vec<u8>> = token.chars().map(|c| alphabet.get(&c).copied()).collect();
        let bytes = bytes.ok_or_else(|| {
            format!("vocab.json: token {token:?} (id {id}) has a character outside GPT-2's byte alphabet")
        })?;
        encoder.insert(bytes, id);
    }
    if vocab.len() != GPT2_VOCAB_SIZE {
        return Err(format!("vocab.json: {} tokens, GPT-2 has {GPT2_VOCAB_SIZE}", vocab.len()));
    }
    tiktoken_rs::CoreBPE::new(encoder, special, GPT2_PATTERN).map_err(|error| format!("vocab.json: {error}"))
}

/// GPT-2's alphabet for bytes (its encoder.py's `bytes_to_unicode`), as character → byte: printable
/// bytes stand for themselves, the other 68 for the characters from U+0100 on, in byte order.
fn byte_alphabet() -> std::collections::HashMap<char, u8> {
    let printable = |b: u8| matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF);
    let mut next = 256u32;
    (0..=255u8)
        .map(|b| {
            if printable(b) {
                (char::from(b), b)
            } else {
                next += 1;
                (char::from_u32(next - 1).expect("below U+0200"), b)
            }
        })
        .collect()
}

/// The tokens of `text` for `config`'s model, at least one.
pub fn tokenize(config: &GptConfig, text: &str) -> Result<Vec<usize>, InputError> {
    let tokenizer = Tokenizer::of(config)
        .ok_or_else(|| InputError::NoTokenizer { model: config.name.clone(), vocab_size: config.vocab_size })?;
    let tokens = tokenizer.encode(text)?;
    if tokens.is_empty() {
        return Err(match tokenizer {
            Tokenizer::Letters(_) => InputError::Empty { max: config.tokens(), vocab: vocab_list(config) },
            Tokenizer::Gpt2 | Tokenizer::Json(_) => InputError::EmptyText,
        });
    }
    Ok(tokens)
}

/// The first `config.tokens()` tokens, and a warning when some were dropped: never a silent cut.
pub fn keep_tokens(config: &GptConfig, tokens: Vec<usize>) -> (Vec<usize>, Option<String>) {
    let (tokens, dropped) = truncate_tokens(config, tokens);
    (tokens, dropped.map(|dropped| dropped.to_string()))
}

/// The first `config.tokens()` tokens, and what was dropped and why, when anything was.
pub fn truncate_tokens(config: &GptConfig, mut tokens: Vec<usize>) -> (Vec<usize>, Option<Dropped>) {
    let (kept, total) = (config.tokens(), tokens.len());
    if total <= kept {
        return (tokens, None);
    }
    tokens.truncate(kept);
    let limit = if kept == config.block_size {
        TokenLimit::Context { model: config.name.clone() }
    } else {
        TokenLimit::DrawingCap
    };
    (tokens, Some(Dropped { kept, total, limit }))
}

/// Tokens cut from the end of a text longer than the model reads or draws: a warning, worded
/// "kept 64 of 80 tokens: the drawing cap holds 64".
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dropped {
    pub kept: usize,
    pub total: usize,
    pub limit: TokenLimit,
}

/// What holds a text's tokens back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenLimit {
    /// The model's context: it reads no more.
    Context { model: String },
    /// Fewer tokens than the context, as many as the scene was asked to draw at most.
    DrawingCap,
}

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Dropped { kept, total, limit } = self;
        write!(f, "kept {kept} of {total} tokens: {limit} holds {kept}")
    }
}

impl std::fmt::Display for TokenLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TokenLimit::Context { model } => write!(f, "the context of model '{model}'"),
            TokenLimit::DrawingCap => write!(f, "the drawing cap"),
        }
    }
}

// The sort task's tokens: one letter each, A=0, B=1, C=2 (for a vocabulary of V, the first V letters).

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum InputError {
    #[error("input is empty: give up to {max} letters from {vocab}")]
    Empty { max: usize, vocab: String },
    #[error("input has {len} letters, but the context holds {max}")]
    TooLong { len: usize, max: usize },
    #[error("'{letter}' at position {position} is not in the vocabulary {vocab}")]
    Unknown { letter: char, position: usize, vocab: String },
    #[error("the text is empty: type something for the model to read")]
    EmptyText,
    #[error("model '{model}' has a vocabulary of {vocab_size} tokens and no letter tokenizer")]
    NoTokenizer { model: String, vocab_size: usize },
    #[error("the tokenizer cannot read this text: {message}")]
    Tokenizer { message: String },
}

/// The letters of a letter vocabulary, or None for models with a real tokenizer's vocabulary.
pub fn letters(config: &GptConfig) -> Option<Vec<char>> {
    (config.vocab_size <= 26).then(|| (0..config.vocab_size as u8).map(|i| (b'A' + i) as char).collect())
}

pub fn vocab_list(config: &GptConfig) -> String {
    letters(config).map(|l| l.iter().map(|c| c.to_string()).collect::<Vec<_>>().join(", ")).unwrap_or_default()
}

pub fn token_letter(token: usize) -> char {
    (b'A' + token as u8) as char
}

/// "CBABBC" -> [2, 1, 0, 1, 1, 2]. Lower case is accepted; anything outside the vocabulary is an error naming it.
pub fn parse_letters(input: &str, config: &GptConfig) -> Result<Vec<usize>, InputError> {
    let letters = letters(config)
        .ok_or_else(|| InputError::NoTokenizer { model: config.name.clone(), vocab_size: config.vocab_size })?;
    let input = input.trim();
    if input.is_empty() {
        return Err(InputError::Empty { max: config.block_size, vocab: vocab_list(config) });
    }
    let tokens = Tokenizer::Letters(letters).encode(input)?;
    if tokens.len() > config.block_size {
        return Err(InputError::TooLong { len: tokens.len(), max: config.block_size });
    }
    Ok(tokens)
}
