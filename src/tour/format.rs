//! The tour file format: what a `tours/*.ron` file holds, as serde types.
//!
//! A tour is data, not code: chapters of steps, each step some paragraphs of commentary and the
//! timed actions that animate what they say. `docs/tour-format.md` is the annotated example.

use std::path::Path;

use ron::extensions::Extensions;
use ron::ser::PrettyConfig;
use serde::{Deserialize, Serialize};

use super::TourError;
use super::easing::Easing;

/// A guided tour of one model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tour {
    pub title: String,
    /// The model preset the tour opens on: `nano`, `gpt2`, `gpt2-xl` or `gpt3`.
    pub model: String,
    /// The letters fed to the model, e.g. "CBABBC"; the app's default input when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<String>,
    /// Whether each step waits for Space after its paragraphs appear, before its actions play, so
    /// the reader reads, then watches. Chapters may say otherwise.
    #[serde(default, skip_serializing_if = "is_false")]
    pub wait_after_text: bool,
    pub chapters: Vec<Chapter>,
}

/// One chapter: a timeline of its own that starts from a known scene, so any chapter can be opened directly.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Chapter {
    /// Short, stable name used by deep links (`--chapter self-attention`) and `[text](chapter:ID)`.
    pub id: String,
    pub title: String,
    /// The model this chapter starts on; the tour's model when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Where the camera is when the chapter opens.
    pub camera: CameraTarget,
    /// Computed blocks (a pattern, see `Action::Tween`) whose values start hidden, not computed yet,
    /// for `Reveal` to compute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hidden: Option<String>,
    /// Whether section and dimension labels show when the chapter opens.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub labels: bool,
    /// The tour's `wait_after_text` for this chapter alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait_after_text: Option<bool>,
    pub steps: Vec<Step>,
}

/// Commentary and the animations that go with it. The reader sees a step's paragraphs appear,
/// watches its actions, and the tour waits at the end of the step for Space.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// Paragraphs, in the markup of `markup::parse`: `*emphasis*`, `[text](block:NAME)`,
    /// `[text](dim:C)`, `[text](chapter:ID)`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub text: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<Action>,
}

/// Where the camera looks.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum CameraTarget {
    /// The view of the whole model.
    Overview,
    /// One block, framed by its own anchor.
    Block(String),
    /// Every block a pattern matches, framed together.
    Blocks(String),
    /// A section label ("Self-attention", "Head 1", "MLP", "Transformer 2", ...); `layer` picks the
    /// layer for those that repeat in every layer.
    Section {
        text: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        layer: Option<usize>,
    },
    /// Some cells of one block: a column (one token of an activation), a row or a cell.
    Cells { block: String, cells: Cells },
    /// An explicit viewpoint in world units.
    Pose { eye: [f32; 3], target: [f32; 3] },
}

/// Cells of a block, by the layout's cell coordinates: x counts columns from the left, y rows
/// from the top. In an activation, column t is token t's vector.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Cells {
    All,
    Column(u32),
    /// Columns first to last, inclusive: some tokens' vectors.
    Columns(u32, u32),
    Row(u32),
    /// Column, row (the front layer of a deep block).
    Cell(u32, u32),
}

/// Some cells of one block, as `Fly` moves them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CellsOf {
    pub block: String,
    pub cells: Cells,
}

/// How `Compute` shows a calculation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ComputeStyle {
    /// One cell, term by term: each term's operand cells light up in turn while a panel beside the
    /// cell fills in the running sum; the cell takes its value at the end.
    #[default]
    Walk,
    /// Many cells, one after another in the order `Reveal` computes them, each one's operands lit
    /// while it is computed.
    Sweep,
}

/// A figure the side panel shows under a step's paragraphs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Figure {
    /// GELU and ReLU over −4..4, on the same axes.
    GeluVsRelu,
}

/// One timed thing a step does. Actions run one after another: each starts when everything listed
/// before it in the step has ended, unless `at` gives its start in seconds from the start of the
/// step's actions (after its paragraphs have faded in). Durations are in seconds of tour time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum Action {
    /// Fly the camera to a target; `zoom` scales the distance from it (0.5 is twice as close).
    Camera {
        to: CameraTarget,
        duration: f32,
        #[serde(default = "one", skip_serializing_if = "is_one")]
        zoom: f32,
        #[serde(default = "smooth", skip_serializing_if = "is_smooth")]
        easing: Easing,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        at: Option<f32>,
    },
    /// Animate display properties of the blocks a pattern matches, from whatever they are to the
    /// values given. A pattern is a block name, `*` matching any run of characters, `|`
    /// separating alternatives and `!` excluding: `"wte|wpe"`, `"block0.head*"`, `"*|!x"`.
    Tween {
        blocks: String,
        duration: f32,
        /// 1 is solid, 0 invisible.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        opacity: Option<f32>,
        /// 0 is none, 1 full glow.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        highlight: Option<f32>,
        /// Displacement in cells (x right, y up, z towards the viewer), to lift or explode blocks apart.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        offset: Option<[f32; 3]>,
        /// Size factor about the block's centre.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        scale: Option<f32>,
        #[serde(default = "smooth", skip_serializing_if = "is_smooth")]
        easing: Easing,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        at: Option<f32>,
    },
    /// Compute the blocks' cells in order, token by token, so their values appear. Only computed
    /// blocks (activations and aggregates) take part; weights are known from the start. `until`
    /// stops after a column or cell (`Column(3)`: tokens 0 to 3); `sequential` computes the blocks
    /// one after another in the model's order, each taking a share of the duration that grows with
    /// the square root of its cell count, instead of all at once.
    Reveal {
        blocks: String,
        duration: f32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        until: Option<Cells>,
        #[serde(default, skip_serializing_if = "is_false")]
        sequential: bool,
        #[serde(default = "linear", skip_serializing_if = "is_linear")]
        easing: Easing,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        at: Option<f32>,
    },
    /// Hide the blocks' values at once, as if not computed yet.
    Hide {
        blocks: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        at: Option<f32>,
    },
    /// Point at cells of a block, with a note beside them; stays until `Unfocus` or a new focus on the same block.
    Focus {
        block: String,
        cells: Cells,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        at: Option<f32>,
    },
    /// Clear every focus.
    Unfocus,
    /// Animate how cells of a computed block get their values, from what `explain` says of them
    /// (the operation, its operands and terms): `Walk` one cell term by term with a formula panel,
    /// or `Sweep` many cells one by one. The cells keep their values afterwards, until the block is
    /// hidden or computed again.
    Compute {
        block: String,
        cells: Cells,
        duration: f32,
        #[serde(default, skip_serializing_if = "is_walk")]
        style: ComputeStyle,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        at: Option<f32>,
    },
    /// Move a copy of some cells from where they are to another block: it lifts off, flies and
    /// lands with its first cell (top left, front) on the first cell of `to`, then vanishes.
    Fly {
        from: CellsOf,
        to: CellsOf,
        duration: f32,
        /// Cells to move the landing place by (x right, y up, z towards the viewer), to land
        /// beside `to` rather than on it: the heads' outputs stacked under the first, say.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        offset: Option<[f32; 3]>,
        /// Keep the copy where it landed until the chapter ends, for the steps that work with it.
        #[serde(default, skip_serializing_if = "is_false")]
        stay: bool,
        #[serde(default = "smooth", skip_serializing_if = "is_smooth")]
        easing: Easing,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        at: Option<f32>,
    },
    /// Show a figure in the side panel under this step's paragraphs.
    Figure(Figure),
    /// Reshape the output distribution as the model card's sampling controls do: the `probs`
    /// block recolours (the forward pass is not rerun). Each chapter starts at temperature 1.
    Sampling {
        temperature: f32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        top_k: Option<usize>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        top_p: Option<f32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        at: Option<f32>,
    },
    /// Show or hide section and dimension labels.
    Labels(bool),
    /// Switch the scene to another model and cut the camera to `camera` in it (its overview when absent).
    Model {
        name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        camera: Option<CameraTarget>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        at: Option<f32>,
    },
    /// Append the model's most probable next token (at the input's last position) to its input
    /// and run the model again on the longer input: how a GPT writes, one token per pass. Needs a
    /// model with weights and the tour's `input`; each chapter starts from that input again.
    AppendPrediction,
    /// Switch parts of the model off, as an Alt-click does, and run it again: heads, MLPs or
    /// neurons by name, comma-separated (`"block0.head1"`, `"block1.mlp,block0.gelu.17"`); `""`
    /// switches everything back on. Needs a model with weights; each chapter starts with all on.
    SwitchOff(String),
    /// Gradient mode on (`true`) or off: a training step on the tour's input, every block drawn as
    /// the gradient of the loss, as the model card's switch does. Needs a model with weights; each
    /// chapter starts with it off.
    Gradients(bool),
    /// Let this many seconds pass before the next action.
    Wait(f32),
    /// Wait for the reader to press Space. Takes no time on the timeline.
    Break,
}

impl Action {
    /// The variant's name, as written in the file.
    pub fn kind(&self) -> &'static str {
        match self {
            Action::Camera { .. } => "Camera",
            Action::Tween { .. } => "Tween",
            Action::Reveal { .. } => "Reveal",
            Action::Hide { .. } => "Hide",
            Action::Focus { .. } => "Focus",
            Action::Unfocus => "Unfocus",
            Action::Compute { .. } => "Compute",
            Action::Fly { .. } => "Fly",
            Action::Figure(_) => "Figure",
            Action::Sampling { .. } => "Sampling",
            Action::Labels(_) => "Labels",
            Action::Model { .. } => "Model",
            Action::AppendPrediction => "AppendPrediction",
            Action::SwitchOff(_) => "SwitchOff",
            Action::Gradients(_) => "Gradients",
            Action::Wait(_) => "Wait",
            Action::Break => "Break",
        }
    }

    /// The explicit start offset, if the action has one.
    pub fn at(&self) -> Option<f32> {
        match self {
            Action::Camera { at, .. }
            | Action::Tween { at, .. }
            | Action::Reveal { at, .. }
            | Action::Hide { at, .. }
            | Action::Focus { at, .. }
            | Action::Compute { at, .. }
            | Action::Fly { at, .. }
            | Action::Sampling { at, .. }
            | Action::Model { at, .. } => *at,
            Action::Unfocus
            | Action::Labels(_)
            | Action::Wait(_)
            | Action::Break
            | Action::Figure(_)
            | Action::AppendPrediction
            | Action::SwitchOff(_)
            | Action::Gradients(_) => None,
        }
    }

    /// How long the action takes on the timeline; 0 for the instant ones.
    pub fn duration(&self) -> f32 {
        match self {
            Action::Camera { duration, .. }
            | Action::Tween { duration, .. }
            | Action::Reveal { duration, .. }
            | Action::Compute { duration, .. }
            | Action::Fly { duration, .. } => *duration,
            Action::Wait(seconds) => *seconds,
            _ => 0.0,
        }
    }

    /// Whether the action changes what the reader sees (Wait and Break only pace the others).
    pub fn shows_something(&self) -> bool {
        !matches!(self, Action::Wait(_) | Action::Break)
    }
}

fn yes() -> bool {
    true
}
fn is_true(value: &bool) -> bool {
    *value
}
fn is_false(value: &bool) -> bool {
    !*value
}
fn one() -> f32 {
    1.0
}
fn is_one(value: &f32) -> bool {
    *value == 1.0
}
/// Camera moves and tweens start and end gently unless told otherwise.
fn smooth() -> Easing {
    Easing::CubicInOut
}
fn is_smooth(easing: &Easing) -> bool {
    *easing == Easing::CubicInOut
}
/// Cells are computed at a steady rate.
fn linear() -> Easing {
    Easing::Linear
}
fn is_linear(easing: &Easing) -> bool {
    *easing == Easing::Linear
}
fn is_walk(style: &ComputeStyle) -> bool {
    *style == ComputeStyle::Walk
}

/// A tour file's RON (a tour, or a translation of one) read into `T`; a mistake is a `Syntax`
/// error with the file, line and column.
pub(super) fn parse_ron<T: serde::de::DeserializeOwned>(text: &str, file: &str) -> Result<T, TourError> {
    ron_options().from_str(text).map_err(|error| TourError::Syntax {
        file: file.to_string(),
        line: error.span.start.line,
        col: error.span.start.col,
        message: error.code.to_string(),
    })
}

/// Optional values are written bare (`at: 1.5`, not `at: Some(1.5)`), in reading and in writing.
fn ron_options() -> ron::Options {
    ron::Options::default().with_default_extension(Extensions::IMPLICIT_SOME)
}

impl Tour {
    /// Parses a tour from RON text; `file` names it in errors, which carry line and column.
    pub fn parse(text: &str, file: &str) -> Result<Tour, TourError> {
        parse_ron(text, file)
    }

    /// Reads and parses a tour file (syntax only; `compile` checks it against the model).
    pub fn load(path: &Path) -> Result<Tour, TourError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|error| TourError::Io { file: file.clone(), message: error.to_string() })?;
        Tour::parse(&text, &file)
    }

    /// The tour as RON, in the form `parse` reads back to an equal tour.
    pub fn to_ron(&self) -> String {
        let pretty = PrettyConfig::new().struct_names(true).indentor("    ").extensions(Extensions::IMPLICIT_SOME);
        ron_options().to_string_pretty(self, pretty).expect("a tour always serializes")
    }

    pub fn chapter(&self, id: &str) -> Option<usize> {
        self.chapters.iter().position(|chapter| chapter.id == id)
    }

    /// The model a chapter opens on.
    pub fn chapter_model<'a>(&'a self, chapter: &'a Chapter) -> &'a str {
        chapter.model.as_deref().unwrap_or(&self.model)
    }
}
