//! Guided tours: RON files of chapters, steps, commentary and timed actions, and the player that
//! turns a chapter and a tour time into the scene to draw.
//!
//! Data and functions, no Bevy: the renderer's tour player keeps a `Player`, advances it by the
//! frame time, seeks the chapter's tween sequences (built from the tracks here) to `player.time`
//! and applies what they write, with the rest of `ChapterTimeline::evaluate`, to the camera, the
//! blocks and the sidebar. The scene at tour time t depends on t alone.
//!
//! - `format`: the serde types of a tour file, and reading and writing RON;
//! - `markup`: the commentary's `*emphasis*` and `[text](block:NAME)` links;
//! - `compile`: checking a tour against its models' layouts and building the timelines;
//! - `timeline`: tracks, segments and `evaluate`;
//! - `player`: playing, breaks, Space and Backspace, scrubbing, speed;
//! - `live`: the open tour file, reloaded when it changes;
//! - `translation`: a tour's texts in another language, checked against it and applied to it;
//! - `shipped`: the tours of `tours/` and their translations, built in;
//! - `session`: a tour open for reading: opening, translating, reloading, the reader's place.

pub mod compile;
pub mod easing;
pub mod format;
pub mod live;
pub mod markup;
pub mod player;
pub mod session;
pub mod shipped;
pub mod timeline;
pub mod translation;

use std::collections::HashMap;
use std::path::Path;

use crate::layout::{self, Layout};
use crate::model::config::{GptConfig, UnknownModel};

pub use easing::Easing;
pub use format::{Action, CameraTarget, Cells, CellsOf, Chapter, ComputeStyle, Figure, Step, Tour};
pub use live::{LiveTour, Polled};
pub use markup::Span;
pub use player::Player;
pub use session::{SessionError, TourLink, TourSession};
pub use timeline::{
    BlockState, CameraPose, ChapterTimeline, ComputeFrame, FlightFrame, FocusFrame, StepTimes, TEXT_IN_SECONDS,
    TourFrame,
};

/// A problem with a tour file, as one line: where it is, then what is wrong.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum TourError {
    #[error("{file}: {message}")]
    Io { file: String, message: String },
    /// Not valid RON, or not the tour format.
    #[error("{file}:{line}:{col}: {message}")]
    Syntax { file: String, line: usize, col: usize, message: String },
    /// Valid RON that does not fit the model: `step` counts from 1, `field` is the path inside
    /// the chapter or step, such as `actions[2].duration`.
    #[error("{file}: {}field {field}: {message}", context(chapter, step))]
    Semantic { file: String, chapter: Option<String>, step: Option<usize>, field: String, message: String },
}

fn context(chapter: &Option<String>, step: &Option<usize>) -> String {
    let mut context = String::new();
    if let Some(chapter) = chapter {
        context += &format!("chapter '{chapter}', ");
    }
    if let Some(step) = step {
        context += &format!("step {step}, ");
    }
    context
}

/// The layouts of the models tours run on, built once each.
#[derive(Default)]
pub struct Layouts {
    built: HashMap<String, Layout>,
}

impl Layouts {
    /// The layout of a model preset, building it the first time.
    pub fn build(&mut self, model: &str) -> Result<&Layout, UnknownModel> {
        if !self.built.contains_key(model) {
            let config = GptConfig::preset(model)?;
            self.built.insert(model.to_string(), layout::build(&config));
        }
        Ok(&self.built[model])
    }

    /// A layout built before.
    pub fn get(&self, model: &str) -> Option<&Layout> {
        self.built.get(model)
    }
}

/// Block names with `*` matching any run of characters, `|` separating alternatives, and `!`
/// before an alternative excluding what it matches: `"*|!x|!block0.ln1*"` is everything but x and
/// the first layer norm.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pattern {
    /// Each alternative split at its `*`s.
    include: Vec<Vec<String>>,
    exclude: Vec<Vec<String>>,
}

impl Pattern {
    pub fn new(pattern: &str) -> Pattern {
        let (mut include, mut exclude) = (Vec::new(), Vec::new());
        for alternative in pattern.split('|').map(str::trim) {
            match alternative.strip_prefix('!') {
                Some(excluded) => exclude.push(excluded.trim().split('*').map(str::to_string).collect()),
                None => include.push(alternative.split('*').map(str::to_string).collect()),
            }
        }
        Pattern { include, exclude }
    }

    pub fn matches(&self, name: &str) -> bool {
        self.include.iter().any(|pieces| glob_matches(pieces, name))
            && !self.exclude.iter().any(|pieces| glob_matches(pieces, name))
    }

    /// Indices of the blocks it matches, in layout order.
    pub fn resolve(&self, layout: &Layout) -> Vec<usize> {
        // Plain names are looked up, so they cost nothing even in GPT-3's layout.
        if self.exclude.is_empty() && self.include.iter().all(|pieces| pieces.len() == 1) {
            let mut found: Vec<usize> = self.include.iter().filter_map(|pieces| layout.find(&pieces[0])).collect();
            found.sort_unstable();
            found.dedup();
            return found;
        }
        layout
            .blocks
            .iter()
            .enumerate()
            .filter(|(_, block)| self.matches(&block.name))
            .map(|(index, _)| index)
            .collect()
    }
}

/// Whether the model computes a block's values (so that they can be hidden and revealed): the
/// activations and aggregates, not the weights nor the input tokens.
pub fn is_computed(block: &layout::Block) -> bool {
    block.kind.family() != layout::Family::Weight && block.op != layout::Op::Input
}

fn glob_matches(pieces: &[String], name: &str) -> bool {
    let [first, middle @ .., last] = pieces else {
        return pieces.first().is_some_and(|only| only == name);
    };
    if !(name.starts_with(first.as_str()) && name.len() >= first.len() + last.len() && name.ends_with(last.as_str())) {
        return false;
    }
    let mut rest = &name[first.len()..name.len() - last.len()];
    for piece in middle {
        match rest.find(piece.as_str()) {
            Some(found) => rest = &rest[found + piece.len()..],
            None => return false,
        }
    }
    true
}

/// The blocks a commentary link lights up when hovered: those its pattern names, or those with
/// the dimension along one of their axes; none for a chapter link or plain text.
pub fn link_targets(span: &Span, layout: &Layout) -> Vec<usize> {
    match span {
        Span::Block { pattern, .. } => Pattern::new(pattern).resolve(layout),
        Span::Dim { axis, .. } => layout
            .blocks
            .iter()
            .enumerate()
            .filter(|(_, block)| block.axes.contains(&Some(*axis)))
            .map(|(index, _)| index)
            .collect(),
        _ => Vec::new(),
    }
}

/// A tour checked against its models and compiled: what the player runs.
#[derive(Clone, Debug)]
pub struct CompiledTour {
    /// The file it was read from, for messages and reloading.
    pub file: String,
    pub tour: Tour,
    /// One per chapter, in order.
    pub chapters: Vec<ChapterTimeline>,
}

impl CompiledTour {
    /// Reads, checks and compiles a tour file, with every error found.
    pub fn load(path: &Path, layouts: &mut Layouts) -> Result<CompiledTour, Vec<TourError>> {
        let tour = Tour::load(path).map_err(|error| vec![error])?;
        CompiledTour::compile(tour, &path.display().to_string(), layouts)
    }

    /// Checks and compiles a parsed tour; `file` names it in errors.
    pub fn compile(tour: Tour, file: &str, layouts: &mut Layouts) -> Result<CompiledTour, Vec<TourError>> {
        let chapters = compile::compile(&tour, file, layouts)?;
        Ok(CompiledTour { file: file.to_string(), tour, chapters })
    }

    pub fn step_count(&self) -> usize {
        self.tour.chapters.iter().map(|chapter| chapter.steps.len()).sum()
    }

    /// Where `--chapter ID --step N` starts: the chapter's index and the tour time of step N
    /// (from 1; the chapter's start when absent).
    pub fn deep_link(&self, chapter: &str, step: Option<usize>) -> Result<(usize, f32), String> {
        let Some(index) = self.tour.chapter(chapter) else {
            let ids: Vec<&str> = self.tour.chapters.iter().map(|chapter| chapter.id.as_str()).collect();
            return Err(format!("{}: no chapter '{chapter}': expected one of {}", self.file, ids.join(", ")));
        };
        let timeline = &self.chapters[index];
        match step {
            None => Ok((index, 0.0)),
            Some(step) if (1..=timeline.steps.len()).contains(&step) => Ok((index, timeline.step_time(step - 1))),
            Some(step) => {
                Err(format!("{}: chapter '{chapter}' has steps 1 to {}, not {step}", self.file, timeline.steps.len()))
            }
        }
    }
}
