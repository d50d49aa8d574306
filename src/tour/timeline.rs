//! A chapter compiled into tracks and events, and the scene at any tour time as a pure function of it.
//!
//! Tour time is seconds on the chapter's timeline. Every step is laid out end to end: its paragraphs
//! fade in for `TEXT_IN_SECONDS`, then its actions run. Breaks take no time; they are times at
//! which playback stops (the end of every step, and each `Break`). Every animated property is a
//! track of segments; each segment's start value was worked out once, at compile time, from the
//! segments before it, so `evaluate(t)` reads the scene at `t` without any history: scrubbing
//! back, replaying or jumping to a step gives the picture that playing to it gives.
//!
//! The renderer plays these tracks as tween sequences seeked to the tour time; this is what they
//! must agree with.

use std::collections::BTreeMap;

use super::easing::Easing;
use super::format::{Cells, ComputeStyle, Figure};
use crate::model::ablation::Ablation;
use crate::model::sampling::Sampling;

/// How long a step's paragraphs take to fade in before its actions start.
pub const TEXT_IN_SECONDS: f32 = 0.5;

/// A camera viewpoint in world units: the eye looks at the target, y up.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CameraPose {
    pub eye: [f32; 3],
    pub target: [f32; 3],
}

/// How a block is drawn at some tour time. Blocks absent from `TourFrame::blocks` are drawn as `default()`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BlockState {
    /// 1 solid, 0 invisible.
    pub opacity: f32,
    /// 0 none, 1 full glow.
    pub highlight: f32,
    /// Displacement in world units.
    pub offset: [f32; 3],
    /// Size factor about the block's centre.
    pub scale: f32,
    /// Fraction of the block's cells computed, in `reveal_rank` order; the others show no value.
    pub reveal: f32,
}

impl Default for BlockState {
    fn default() -> BlockState {
        BlockState { opacity: 1.0, highlight: 0.0, offset: [0.0; 3], scale: 1.0, reveal: 1.0 }
    }
}

/// Cells of a block pointed at, with the note to show beside them.
#[derive(Clone, Debug, PartialEq)]
pub struct FocusFrame {
    /// Index into the active model's `Layout::blocks`.
    pub block: usize,
    pub cells: Cells,
    pub note: Option<String>,
}

/// Everything the scene and the sidebar show at one tour time.
#[derive(Clone, Debug, PartialEq)]
pub struct TourFrame {
    /// The time evaluated, clamped to the chapter.
    pub time: f32,
    /// The model preset on screen.
    pub model: String,
    /// Its index in `ChapterTimeline::models` (and `blocks`).
    pub model_index: usize,
    pub camera: CameraPose,
    /// Whether a camera move is under way (the reader's own orbiting should wait for it).
    pub camera_moving: bool,
    /// State of the blocks of `model` that differ from `BlockState::default()` at some time in the chapter.
    pub blocks: BTreeMap<usize, BlockState>,
    pub focus: Vec<FocusFrame>,
    /// Whether section and dimension labels show.
    pub labels: bool,
    /// The current step, from 0: paragraphs of steps 0..=step are shown, this one's marked current.
    pub step: usize,
    /// How far the current step's paragraphs have faded in, 0 to 1.
    pub text_in: f32,
    /// Cells of the model on screen computed by `Compute` actions: running, or done and still shown.
    pub computes: Vec<ComputeFrame>,
    /// Copies of cells in flight.
    pub flights: Vec<FlightFrame>,
    /// Figures shown, each under the paragraphs of its step (from 0).
    pub figures: Vec<(usize, Figure)>,
    /// How the output distribution is reshaped.
    pub sampling: Sampling,
    /// Predictions appended to the tour's input by `AppendPrediction`, each computed by the model
    /// on the input with those before it.
    pub appended: u32,
    /// The parts of the model switched off.
    pub switched_off: Ablation,
    /// Gradient mode: a training step on the input, every block drawn as its gradient.
    pub gradients: bool,
}

/// A `Compute` at some tour time.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ComputeFrame {
    /// Index into the active model's `Layout::blocks`.
    pub block: usize,
    pub cells: Cells,
    pub style: ComputeStyle,
    /// 0 when it starts, 1 once done: its cells then all show their values.
    pub progress: f32,
    /// The step it belongs to, from 0.
    pub step: usize,
}

impl ComputeFrame {
    pub fn running(&self) -> bool {
        self.progress < 1.0
    }
}

/// A `Fly` copy at some tour time.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FlightFrame {
    pub from_block: usize,
    pub from: Cells,
    pub to_block: usize,
    pub to: Cells,
    /// Added to the landing place, in world units.
    pub offset: [f32; 3],
    /// How far along its path, eased: 0 where it took off, 1 landed.
    pub progress: f32,
}

/// A `Compute` placed on the timeline.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ComputeSpan {
    /// An index into `ChapterTimeline::models`.
    pub model: usize,
    pub block: usize,
    pub cells: Cells,
    pub style: ComputeStyle,
    /// The step it belongs to, from 0.
    pub step: usize,
    pub start: f32,
    pub duration: f32,
    /// When its cells stop showing: the next `Compute` of the same block, or a `Hide` of it.
    pub until: f32,
}

impl ComputeSpan {
    fn frame(&self, time: f32) -> ComputeFrame {
        let progress = if time >= self.start + self.duration {
            1.0
        } else {
            ((time - self.start) / self.duration).clamp(0.0, 1.0)
        };
        ComputeFrame { block: self.block, cells: self.cells, style: self.style, progress, step: self.step }
    }
}

/// A `Fly` placed on the timeline.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FlightSpan {
    pub model: usize,
    pub from_block: usize,
    pub from: Cells,
    pub to_block: usize,
    pub to: Cells,
    /// Added to the landing place, in world units.
    pub offset: [f32; 3],
    pub start: f32,
    pub duration: f32,
    pub easing: Easing,
    /// For a copy that stays where it landed: its chapter's end, until which it stays.
    pub stays_until: Option<f32>,
}

impl FlightSpan {
    /// Whether the copy is in the scene at `time`: from take-off until it lands, or until its
    /// chapter's end inclusive for one that stays (it is there while the tour waits).
    fn shown(&self, time: f32) -> bool {
        self.start <= time && (time < self.start + self.duration || self.stays_until.is_some_and(|end| time <= end))
    }
}

impl TourFrame {
    pub fn block(&self, block: usize) -> BlockState {
        self.blocks.get(&block).copied().unwrap_or_default()
    }
}

/// Where a step lies on the chapter timeline.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepTimes {
    /// Its paragraphs start fading in.
    pub start: f32,
    /// Its actions start: where a deep link to the step lands.
    pub actions_start: f32,
    /// Its last action ends; the tour waits here for the reader.
    pub end: f32,
}

/// Values a track can move between.
pub trait Interpolate: Copy {
    /// The value a fraction `s` of the way from `self` to `to`; `self` at 0 and `to` at 1 exactly.
    fn interpolate(&self, to: &Self, s: f32) -> Self;
}

impl Interpolate for f32 {
    fn interpolate(&self, to: &f32, s: f32) -> f32 {
        if s <= 0.0 {
            *self
        } else if s >= 1.0 {
            *to
        } else {
            self + (to - self) * s
        }
    }
}

impl Interpolate for [f32; 3] {
    fn interpolate(&self, to: &[f32; 3], s: f32) -> [f32; 3] {
        [0, 1, 2].map(|axis| self[axis].interpolate(&to[axis], s))
    }
}

impl Interpolate for CameraPose {
    /// Zooms at a steady rate (the distance changes geometrically) and pans at a steady speed on
    /// screen (the target moves faster while the camera is far), turning the view direction
    /// evenly: a flight from GPT-3's overview to one of its cells keeps the destination in view.
    fn interpolate(&self, to: &CameraPose, s: f32) -> CameraPose {
        if s <= 0.0 {
            return *self;
        }
        if s >= 1.0 {
            return *to;
        }
        let s = s as f64;
        let (from_target, to_target) = (self.target.map(f64::from), to.target.map(f64::from));
        let from_offset = sub(self.eye.map(f64::from), from_target);
        let to_offset = sub(to.eye.map(f64::from), to_target);
        let (from_distance, to_distance) = (length(from_offset).max(1e-6), length(to_offset).max(1e-6));
        let ratio = to_distance / from_distance;
        let distance = from_distance * ratio.powf(s);
        let pan = if ratio.ln().abs() < 1e-6 { s } else { (ratio.powf(s) - 1.0) / (ratio - 1.0) };
        let target = [0, 1, 2].map(|axis| from_target[axis] + (to_target[axis] - from_target[axis]) * pan);
        let (from_direction, to_direction) =
            (scale(from_offset, 1.0 / from_distance), scale(to_offset, 1.0 / to_distance));
        let blended = [0, 1, 2].map(|axis| from_direction[axis] + (to_direction[axis] - from_direction[axis]) * s);
        // Opposite directions blend to nothing halfway: keep the starting one until past it.
        let direction = if length(blended) < 1e-6 {
            if s < 0.5 { from_direction } else { to_direction }
        } else {
            scale(blended, 1.0 / length(blended))
        };
        let eye = [0, 1, 2].map(|axis| target[axis] + direction[axis] * distance);
        CameraPose { eye: eye.map(|v| v as f32), target: target.map(|v| v as f32) }
    }
}

fn sub(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}
fn length(v: [f64; 3]) -> f64 {
    (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt()
}
fn scale(v: [f64; 3], factor: f64) -> [f64; 3] {
    v.map(|c| c * factor)
}

/// One move of a track: from `from` at `start` to `to` at `start + duration` (instant when 0).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Segment<T> {
    pub start: f32,
    pub duration: f32,
    pub from: T,
    pub to: T,
    pub easing: Easing,
}

impl<T: Interpolate> Segment<T> {
    pub fn end(&self) -> f32 {
        self.start + self.duration
    }

    fn value(&self, time: f32) -> T {
        if self.duration <= 0.0 || time >= self.end() {
            return self.to;
        }
        self.from.interpolate(&self.to, self.easing.sample((time - self.start) / self.duration))
    }
}

/// One animated value: where it starts and its moves in time order. A move that starts while an
/// earlier one runs takes over from the value the earlier one had reached.
#[derive(Clone, Debug, PartialEq)]
pub struct Track<T> {
    pub initial: T,
    segments: Vec<Segment<T>>,
}

/// A move as declared, before its start value is known.
#[derive(Clone, Copy, Debug)]
pub(super) struct Move<T> {
    pub start: f32,
    pub duration: f32,
    pub to: T,
    pub easing: Easing,
}

impl<T: Interpolate> Track<T> {
    /// Orders the moves by start time (declaration order among equal starts, the later winning)
    /// and works out where each one starts from.
    pub(super) fn new(initial: T, mut moves: Vec<Move<T>>) -> Track<T> {
        moves.sort_by(|a, b| a.start.total_cmp(&b.start));
        let mut segments: Vec<Segment<T>> = Vec::with_capacity(moves.len());
        for step in moves {
            let from = segments.last().map_or(initial, |previous| previous.value(step.start));
            segments.push(Segment {
                start: step.start,
                duration: step.duration,
                from,
                to: step.to,
                easing: step.easing,
            });
        }
        Track { initial, segments }
    }

    pub fn segments(&self) -> &[Segment<T>] {
        &self.segments
    }

    /// The value at tour time `time`: the last move started by then, eased to `time`.
    pub fn value(&self, time: f32) -> T {
        let started = self.segments.partition_point(|segment| segment.start <= time);
        match started {
            0 => self.initial,
            n => self.segments[n - 1].value(time),
        }
    }

    /// Whether a move with a duration is under way at `time`.
    pub fn moving(&self, time: f32) -> bool {
        let started = self.segments.partition_point(|segment| segment.start <= time);
        started > 0 && {
            let segment = &self.segments[started - 1];
            segment.duration > 0.0 && time < segment.end()
        }
    }
}

/// The animated properties of one block.
#[derive(Clone, Debug, PartialEq)]
pub struct BlockTracks {
    pub opacity: Track<f32>,
    pub highlight: Track<f32>,
    pub offset: Track<[f32; 3]>,
    pub scale: Track<f32>,
    pub reveal: Track<f32>,
}

impl BlockTracks {
    fn state(&self, time: f32) -> BlockState {
        BlockState {
            opacity: self.opacity.value(time),
            highlight: self.highlight.value(time),
            offset: self.offset.value(time),
            scale: self.scale.value(time),
            reveal: self.reveal.value(time),
        }
    }
}

/// An instant change that is not a value to ease: applied, in order, once its time has come.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    Focus {
        model: usize,
        block: usize,
        cells: Cells,
        note: Option<String>,
    },
    Unfocus,
    Labels(bool),
    /// Switch to `ChapterTimeline::models[model]`; clears focus.
    Model(usize),
    /// Show a figure under the paragraphs of step `step` (from 0).
    Figure {
        step: usize,
        figure: Figure,
    },
    Sampling(Sampling),
    /// The model's prediction appended to the input of `ChapterTimeline::models[model]`.
    Append(usize),
    /// The parts of the model switched off from now on.
    SwitchOff(Ablation),
    /// Gradient mode on or off from now on.
    Gradients(bool),
}

/// What a chapter's events have set by some time.
#[derive(Default)]
struct EventState {
    model: usize,
    labels: bool,
    focus: Vec<FocusFrame>,
    figures: Vec<(usize, Figure)>,
    sampling: Sampling,
    appended: u32,
    switched_off: Ablation,
    gradients: bool,
}

/// One chapter, ready to evaluate at any time.
#[derive(Clone, Debug, PartialEq)]
pub struct ChapterTimeline {
    pub id: String,
    pub title: String,
    /// The models the chapter shows, the one it opens on first.
    pub models: Vec<String>,
    pub steps: Vec<StepTimes>,
    /// Where playback stops, ascending: every step's end and every `Break`.
    pub breaks: Vec<f32>,
    pub length: f32,
    pub labels: bool,
    pub camera: Track<CameraPose>,
    /// Per model (an index into `models`), the tracks of each block that animates, by block index.
    pub blocks: Vec<BTreeMap<usize, BlockTracks>>,
    /// Sorted by time; equal times in declaration order.
    pub events: Vec<(f32, Event)>,
    /// In start order.
    pub computes: Vec<ComputeSpan>,
    pub flights: Vec<FlightSpan>,
}

impl ChapterTimeline {
    /// The scene and sidebar at tour time `time` (clamped to the chapter), from `time` alone.
    pub fn evaluate(&self, time: f32) -> TourFrame {
        let time = if time.is_nan() { 0.0 } else { time.clamp(0.0, self.length) };
        let state = self.events_until(time);
        let model = state.model;
        let computes = self
            .computes
            .iter()
            .filter(|span| span.model == model && span.start <= time && time < span.until)
            .map(|span| span.frame(time))
            .collect();
        let flights = self.flights_at(model, time);
        let blocks = self.blocks[model].iter().map(|(&block, tracks)| (block, tracks.state(time))).collect();
        let step = self.step_at(time);
        let text_in = ((time - self.steps[step].start) / TEXT_IN_SECONDS).clamp(0.0, 1.0);
        TourFrame {
            time,
            model: self.models[model].clone(),
            model_index: model,
            camera: self.camera.value(time),
            camera_moving: self.camera.moving(time),
            blocks,
            focus: state.focus,
            labels: state.labels,
            step,
            text_in,
            computes,
            flights,
            figures: state.figures,
            sampling: state.sampling,
            appended: state.appended,
            switched_off: state.switched_off,
            gradients: state.gradients,
        }
    }

    /// What the events up to `time` leave: the model on screen and what they set on it.
    fn events_until(&self, time: f32) -> EventState {
        let mut state = EventState { labels: self.labels, ..EventState::default() };
        for (_, event) in self.events.iter().take_while(|(event_time, _)| *event_time <= time) {
            match event {
                Event::Focus { model: focus_model, block, cells, note } => {
                    if *focus_model == state.model {
                        state.focus.retain(|existing| existing.block != *block);
                        state.focus.push(FocusFrame { block: *block, cells: *cells, note: note.clone() });
                    }
                }
                Event::Unfocus => state.focus.clear(),
                Event::Labels(show) => state.labels = *show,
                // Another model starts with no focus, appends, parts switched off or gradients; the
                // labels, figures and sampling stay.
                Event::Model(switched) => {
                    state = EventState {
                        model: *switched,
                        labels: state.labels,
                        figures: state.figures,
                        sampling: state.sampling,
                        ..EventState::default()
                    }
                }
                Event::Append(append_model) => state.appended += u32::from(*append_model == state.model),
                Event::Figure { step, figure } => state.figures.push((*step, *figure)),
                Event::Sampling(set) => state.sampling = *set,
                Event::SwitchOff(parts) => state.switched_off = parts.clone(),
                Event::Gradients(on) => state.gradients = *on,
            }
        }
        state
    }

    /// The flights of `model` in the air (or staying) at `time`.
    fn flights_at(&self, model: usize, time: f32) -> Vec<FlightFrame> {
        self.flights
            .iter()
            .filter(|span| span.model == model && span.shown(time))
            .map(|span| FlightFrame {
                from_block: span.from_block,
                from: span.from,
                to_block: span.to_block,
                to: span.to,
                offset: span.offset,
                progress: span.easing.sample((time - span.start) / span.duration),
            })
            .collect()
    }

    /// The step shown at `time`: a step runs from just after its start to its end inclusive, so at
    /// a step's end (where the tour waits) that step is still the current one.
    pub fn step_at(&self, time: f32) -> usize {
        let step = self.steps.partition_point(|step| step.end < time);
        step.min(self.steps.len() - 1)
    }

    /// Where a jump to step `step` (from 0) lands: its paragraphs shown, its actions about to start.
    pub fn step_time(&self, step: usize) -> f32 {
        self.steps[step.min(self.steps.len() - 1)].actions_start
    }

    /// The first break after `time`, where playing from `time` stops; the chapter's end if none.
    pub fn next_break_after(&self, time: f32) -> f32 {
        let next = self.breaks.partition_point(|&at| at <= time);
        self.breaks.get(next).copied().unwrap_or(self.length)
    }

    /// The last break before `time`, where Backspace goes; the chapter's start if none.
    pub fn previous_break_before(&self, time: f32) -> f32 {
        let previous = self.breaks.partition_point(|&at| at < time);
        if previous == 0 { 0.0 } else { self.breaks[previous - 1] }
    }
}

/// Cells a block shows computed when a fraction `reveal` of them is.
pub fn revealed_cells(cells: [u32; 3], reveal: f32) -> u64 {
    let total = cells.iter().map(|&n| n as u64).product::<u64>();
    if reveal >= 1.0 {
        total
    } else if reveal <= 0.0 || reveal.is_nan() {
        0
    } else {
        // A fraction made from a whole number of cells (a reveal `until` a column) must give that
        // number back, though f32 can't hold it exactly: allow a millionth of a cell per cell.
        let exact = total as f64 * reveal as f64;
        ((exact + exact * 1e-6).floor() as u64).min(total)
    }
}

/// The order in which a block's cells are computed: token by token (x), and within a token front
/// to back, then top to bottom. A cell shows its value when its rank is below `revealed_cells`.
pub fn reveal_rank(cells: [u32; 3], cell: [u32; 3]) -> u64 {
    let (depth, height) = (cells[2] as u64, cells[1] as u64);
    (cell[0] as u64 * depth + cell[2] as u64) * height + cell[1] as u64
}

/// The cells a selection covers in a block of `size` cells: its first cell and its size. A `Cell`
/// is one cell of the front layer; a row or column goes through every layer.
pub fn cells_region(cells: Cells, size: [u32; 3]) -> ([u32; 3], [u32; 3]) {
    match cells {
        Cells::All => ([0, 0, 0], size),
        Cells::Column(x) => ([x, 0, 0], [1, size[1], size[2]]),
        Cells::Columns(first, last) => ([first, 0, 0], [last + 1 - first, size[1], size[2]]),
        Cells::Row(y) => ([0, y, 0], [size[0], 1, size[2]]),
        Cells::Cell(x, y) => ([x, y, 0], [1, 1, 1]),
    }
}

/// The cell of rank `rank` within a region, in `reveal_rank` order (the region's own).
pub fn region_cell(min: [u32; 3], size: [u32; 3], rank: u64) -> [u32; 3] {
    let (height, depth) = (size[1].max(1) as u64, size[2].max(1) as u64);
    let y = rank % height;
    let z = (rank / height) % depth;
    let x = rank / (height * depth);
    [min[0] + x as u32, min[1] + y as u32, min[2] + z as u32]
}

/// How many of a `Sweep`'s `count` cells are done at `progress`, and the one being computed then
/// (None once all are done).
pub fn sweep_position(progress: f32, count: u64) -> (u64, Option<u64>) {
    if progress >= 1.0 || count == 0 {
        return (count, None);
    }
    let done = ((progress.max(0.0) as f64 * count as f64).floor() as u64).min(count - 1);
    (done, Some(done))
}

/// Steps a `Walk` shows one at a time before it speeds up.
pub const WALK_SLOW_STEPS: usize = 3;

/// How many of a `Walk`'s `steps` (its terms, or for an operation without terms its operands)
/// show at `progress`, and whether the result does. The first `WALK_SLOW_STEPS` take one beat
/// each, the rest share three beats between them (they speed up), and the result takes the last
/// beat. The first step shows as the walk starts.
pub fn walk_shown(progress: f32, steps: usize) -> (usize, bool) {
    let slow = steps.min(WALK_SLOW_STEPS);
    let fast_beats = if steps > slow { 3.0 } else { 0.0 };
    let beats = slow as f64 + fast_beats + 1.0;
    let at = progress.clamp(0.0, 1.0) as f64 * beats;
    if at >= slow as f64 + fast_beats {
        return (steps, true);
    }
    if at < slow as f64 {
        return ((at.floor() as usize + 1).min(steps), false);
    }
    let fast = steps - slow;
    let fast_shown = ((at - slow as f64) / fast_beats * fast as f64).floor() as usize + 1;
    (slow + fast_shown.min(fast), false)
}
