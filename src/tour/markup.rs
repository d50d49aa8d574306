//! The commentary markup: plain text with three marks, small enough to read and write in RON.
//!
//! - `*words*` is emphasis;
//! - `[text](block:NAME)` links text to blocks (NAME is a pattern, as in `Tween`), which light up
//!   when the text is hovered; `[text](dim:C)` links to a dimension (t, t2, c, a, 4c, v, qkv);
//!   `[text](chapter:ID)` links to another chapter;
//! - a backslash makes the next character plain: `\*`, `\[`. (Inside a RON string it is written `\\`.)

use crate::layout::Axis;

/// A run of a paragraph.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Span {
    Text(String),
    Emphasis(String),
    Block { text: String, pattern: String },
    Dim { text: String, axis: Axis },
    Chapter { text: String, id: String },
}

impl Span {
    /// What the reader sees.
    pub fn text(&self) -> &str {
        match self {
            Span::Text(text) | Span::Emphasis(text) => text,
            Span::Block { text, .. } | Span::Dim { text, .. } | Span::Chapter { text, .. } => text,
        }
    }
}

/// A markup mistake, at a character column (from 1) of the paragraph.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("column {column}: {message}")]
pub struct MarkupError {
    pub column: usize,
    pub message: String,
}

/// Dimension names as written after `dim:`, matched without regard to case.
pub fn parse_axis(name: &str) -> Option<Axis> {
    [Axis::T, Axis::T2, Axis::C, Axis::A, Axis::C4, Axis::V, Axis::Qkv]
        .into_iter()
        .find(|axis| axis.as_str().eq_ignore_ascii_case(name))
}

/// Splits a paragraph into spans; adjacent plain text is one span.
pub fn parse(paragraph: &str) -> Result<Vec<Span>, MarkupError> {
    let chars: Vec<char> = paragraph.chars().collect();
    let mut spans = Vec::new();
    let mut plain = String::new();
    let mut position = 0;
    let error = |column: usize, message: String| MarkupError { column: column + 1, message };
    while position < chars.len() {
        match chars[position] {
            '\\' => {
                let Some(&next) = chars.get(position + 1) else {
                    return Err(error(position, "a backslash ends the paragraph; write \\\\ for one".into()));
                };
                plain.push(next);
                position += 2;
            }
            '*' => {
                let (text, end) = read_until(&chars, position + 1, '*')
                    .ok_or_else(|| error(position, "'*' opens emphasis that is never closed".into()))?;
                if text.trim().is_empty() {
                    return Err(error(position, "empty emphasis '**'".into()));
                }
                flush(&mut spans, &mut plain);
                spans.push(Span::Emphasis(text));
                position = end + 1;
            }
            '[' => {
                let (text, close) = read_until(&chars, position + 1, ']').ok_or_else(|| {
                    error(position, "'[' opens a link that is never closed; write \\[ for a bracket".into())
                })?;
                if chars.get(close + 1) != Some(&'(') {
                    return Err(error(close + 1, "expected '(' and a target after ']', as in [text](block:x)".into()));
                }
                let (target, end) = read_until(&chars, close + 2, ')')
                    .ok_or_else(|| error(close + 1, "'(' opens a link target that is never closed".into()))?;
                let span = link(text, &target).map_err(|message| error(close + 2, message))?;
                flush(&mut spans, &mut plain);
                spans.push(span);
                position = end + 1;
            }
            ']' => return Err(error(position, "']' without '['; write \\] for a bracket".into())),
            other => {
                plain.push(other);
                position += 1;
            }
        }
    }
    flush(&mut spans, &mut plain);
    Ok(spans)
}

/// The paragraph as the reader sees it, marks removed.
pub fn plain_text(spans: &[Span]) -> String {
    spans.iter().map(Span::text).collect()
}

fn flush(spans: &mut Vec<Span>, plain: &mut String) {
    if !plain.is_empty() {
        spans.push(Span::Text(std::mem::take(plain)));
    }
}

/// The text from `start` up to the first unescaped `end`, and where that `end` is.
fn read_until(chars: &[char], start: usize, end: char) -> Option<(String, usize)> {
    let mut text = String::new();
    let mut position = start;
    while position < chars.len() {
        match chars[position] {
            '\\' if position + 1 < chars.len() => {
                text.push(chars[position + 1]);
                position += 2;
            }
            c if c == end => return Some((text, position)),
            c => {
                text.push(c);
                position += 1;
            }
        }
    }
    None
}

fn link(text: String, target: &str) -> Result<Span, String> {
    if text.trim().is_empty() {
        return Err("a link needs text between '[' and ']'".into());
    }
    let Some((kind, name)) = target.split_once(':') else {
        return Err(format!("link target '{target}' should be block:NAME, dim:NAME or chapter:ID"));
    };
    let name = name.trim();
    if name.is_empty() {
        return Err(format!("link target '{target}' names nothing after ':'"));
    }
    match kind.trim() {
        "block" => Ok(Span::Block { text, pattern: name.to_string() }),
        "dim" => match parse_axis(name) {
            Some(axis) => Ok(Span::Dim { text, axis }),
            None => Err(format!("unknown dimension '{name}': expected one of t, t2, c, a, 4c, v, qkv")),
        },
        "chapter" => Ok(Span::Chapter { text, id: name.to_string() }),
        other => Err(format!("unknown link kind '{other}': expected block, dim or chapter")),
    }
}
