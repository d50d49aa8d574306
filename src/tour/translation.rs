//! Tours in other languages: `tours/NAME.LANG.ron` holds the texts of `tours/NAME.ron` (its title,
//! chapter titles, paragraphs and focus notes) in another language, keyed by chapter id and step
//! number; the actions stay in the one source tour.
//!
//! `check` compares a translation with its tour: the same chapters and steps, the same links in
//! each paragraph, balanced markup. `apply` makes the translated tour the player runs, falling
//! back to the source's text (with a warning) wherever the translation has none.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::format::{Action, Tour};
use super::markup::{self, Span};
use super::{TourError, format};

/// The texts of one tour in one language.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Translation {
    /// A BCP 47 tag: `es`, `zh-CN`.
    pub language: String,
    pub title: String,
    /// By chapter id.
    pub chapters: BTreeMap<String, Chapter>,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Chapter {
    pub title: String,
    /// By step number, from 1.
    pub steps: BTreeMap<usize, Step>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    #[serde(default)]
    pub text: Vec<String>,
    /// The notes of the step's `Focus` actions that have one, in order.
    #[serde(default)]
    pub notes: Vec<String>,
}

/// `tours/nano-gpt.es.ron` → (`tours/nano-gpt.ron`, `es`): the tour a translation file translates
/// and its language; None for a file named as a tour.
pub fn source_of(path: &Path) -> Option<(PathBuf, String)> {
    let stem = path.file_stem()?.to_str()?;
    let (name, language) = stem.rsplit_once('.')?;
    if name.is_empty() || language.is_empty() {
        return None;
    }
    Some((path.with_file_name(format!("{name}.ron")), language.to_string()))
}

/// Where a tour's translation into `language` is: beside it, `NAME.LANG.ron`.
pub fn translation_path(tour: &Path, language: &str) -> PathBuf {
    let stem = tour.file_stem().and_then(|stem| stem.to_str()).unwrap_or("tour");
    tour.with_file_name(format!("{stem}.{language}.ron"))
}

impl Translation {
    /// Parses a translation from RON text; `file` names it in errors, with line and column.
    pub fn parse(text: &str, file: &str) -> Result<Translation, TourError> {
        format::parse_ron(text, file)
    }

    pub fn load(path: &Path) -> Result<Translation, TourError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|error| TourError::Io { file: file.clone(), message: error.to_string() })?;
        Translation::parse(&text, &file)
    }
}

/// What `check` found: errors fail the check; warnings (texts missing, which fall back to the
/// source's) do not.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Checked {
    pub errors: Vec<TourError>,
    pub warnings: Vec<TourError>,
}

/// The notes of a step's `Focus` actions, in order.
fn focus_notes(step: &format::Step) -> Vec<&str> {
    step.actions
        .iter()
        .filter_map(|action| match action {
            Action::Focus { note: Some(note), .. } => Some(note.as_str()),
            _ => None,
        })
        .collect()
}

/// Checks a translation (read from `file`) against its tour.
pub fn check(tour: &Tour, translation: &Translation, file: &str) -> Checked {
    let mut checked = Checked::default();
    let problem = |chapter: Option<&str>, step: Option<usize>, field: &str, message: String| TourError::Semantic {
        file: file.to_string(),
        chapter: chapter.map(str::to_string),
        step,
        field: field.to_string(),
        message,
    };
    if translation.title.trim().is_empty() {
        checked.warnings.push(problem(None, None, "title", "no title: the source's is shown".into()));
    }
    for id in translation.chapters.keys().filter(|id| tour.chapter(id).is_none()) {
        checked.errors.push(problem(Some(id), None, "chapters", format!("chapter '{id}' is not in the tour")));
    }
    for chapter in &tour.chapters {
        let id = chapter.id.as_str();
        let Some(translated) = translation.chapters.get(id) else {
            checked.errors.push(problem(Some(id), None, "chapters", format!("chapter '{id}' is missing")));
            continue;
        };
        for &number in translated.steps.keys().filter(|&&number| number == 0 || number > chapter.steps.len()) {
            let message = format!("step {number} is not in the chapter, which has steps 1 to {}", chapter.steps.len());
            checked.errors.push(problem(Some(id), None, "steps", message));
        }
        for (index, step) in chapter.steps.iter().enumerate() {
            let number = index + 1;
            let Some(text) = translated.steps.get(&number) else {
                checked.errors.push(problem(Some(id), Some(number), "steps", format!("step {number} is missing")));
                continue;
            };
            check_step(step, text, &mut |field, message, warning| {
                let found = problem(Some(id), Some(number), field, message);
                if warning { checked.warnings.push(found) } else { checked.errors.push(found) }
            });
        }
    }
    checked
}

/// One step's paragraphs and notes against the source's: `report(field, message, is_warning)`.
fn check_step(source: &format::Step, translated: &Step, report: &mut impl FnMut(&str, String, bool)) {
    let (have, want) = (translated.text.len(), source.text.len());
    if have > want {
        report("text", format!("{have} paragraphs where the tour has {want}"), false);
    } else if have < want {
        report("text", format!("{have} paragraphs where the tour has {want}: the rest are shown untranslated"), true);
    }
    for (index, (paragraph, original)) in translated.text.iter().zip(&source.text).enumerate() {
        let field = format!("text[{index}]");
        match (markup::parse(paragraph), markup::parse(original)) {
            (Err(error), _) => report(&field, error.to_string(), false),
            (Ok(spans), Ok(original_spans)) => {
                let (mut links, mut wanted) = (links(&spans), links(&original_spans));
                links.sort();
                wanted.sort();
                if links != wanted {
                    let message = format!("links to {} where the tour links to {}", list(&links), list(&wanted));
                    report(&field, message, false);
                }
            }
            // The source's own markup is `tour check`'s to report.
            (Ok(_), Err(_)) => {}
        }
    }
    let (notes, wanted) = (translated.notes.len(), focus_notes(source).len());
    if notes > wanted {
        report("notes", format!("{notes} notes where the step's focus actions have {wanted}"), false);
    } else if notes < wanted {
        report(
            "notes",
            format!("{notes} notes where the step's focus actions have {wanted}: the rest are shown untranslated"),
            true,
        );
    }
}

/// A paragraph's link targets, as written after the parenthesis: `block:x`, `dim:c`, `chapter:mlp`.
fn links(spans: &[Span]) -> Vec<String> {
    spans
        .iter()
        .filter_map(|span| match span {
            Span::Block { pattern, .. } => Some(format!("block:{pattern}")),
            Span::Dim { axis, .. } => Some(format!("dim:{}", axis.as_str())),
            Span::Chapter { id, .. } => Some(format!("chapter:{id}")),
            _ => None,
        })
        .collect()
}

fn list(links: &[String]) -> String {
    if links.is_empty() { "nothing".into() } else { links.join(", ") }
}

/// The tour with the translation's texts wherever it has them, and the source's elsewhere.
pub fn apply(tour: &Tour, translation: &Translation) -> Tour {
    let mut translated = tour.clone();
    if !translation.title.trim().is_empty() {
        translated.title = translation.title.clone();
    }
    for chapter in &mut translated.chapters {
        let Some(texts) = translation.chapters.get(&chapter.id) else { continue };
        if !texts.title.trim().is_empty() {
            chapter.title = texts.title.clone();
        }
        for (index, step) in chapter.steps.iter_mut().enumerate() {
            let Some(text) = texts.steps.get(&(index + 1)) else { continue };
            for (paragraph, replacement) in step.text.iter_mut().zip(&text.text) {
                // A paragraph whose markup does not parse is the source's (`check` says why).
                if markup::parse(replacement).is_ok() {
                    *paragraph = replacement.clone();
                }
            }
            let mut notes = text.notes.iter();
            for action in &mut step.actions {
                if let Action::Focus { note: Some(note), .. } = action
                    && let Some(replacement) = notes.next()
                {
                    *note = replacement.clone();
                }
            }
        }
    }
    translated
}
