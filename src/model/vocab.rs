//! The sort task's tokens: one letter each, A=0, B=1, C=2 (for a vocabulary of V, the first V letters).

use super::config::GptConfig;

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
    let tokens = super::tokenizer::Tokenizer::Letters(letters).encode(input)?;
    if tokens.len() > config.block_size {
        return Err(InputError::TooLong { len: tokens.len(), max: config.block_size });
    }
    Ok(tokens)
}
