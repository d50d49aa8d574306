//! Checks a tour against the layouts of its models and compiles each chapter into a timeline.
//!
//! One pass does both, so whatever `tour check` accepts is exactly what the player runs. Every
//! problem found is kept (not just the first), named by file, chapter, step and field.

use std::collections::{BTreeMap, HashSet};

use super::easing::Easing;
use super::format::{Action, CameraTarget, Cells, CellsOf, Chapter, ComputeStyle, Tour};
use super::markup::{self, Span};
use super::timeline::{
    BlockTracks, CameraPose, ChapterTimeline, ComputeSpan, Event, FlightSpan, Move, StepTimes, TEXT_IN_SECONDS, Track,
    cells_region, reveal_rank,
};
use super::{Layouts, Pattern, TourError, is_computed};
use crate::layout::anchor::Framing;
use crate::layout::{Anchor, CELL, Layout};

/// Where errors are reported from: the file, and the chapter and step being read.
struct Report<'a> {
    file: &'a str,
    /// Which chapter is being read, from 1 (0 for the tour's own fields), so errors can be listed in file order.
    chapter_index: usize,
    chapter: Option<String>,
    step: Option<usize>,
    /// Each with its chapter index, for sorting.
    errors: Vec<(usize, TourError)>,
}

impl Report<'_> {
    fn error(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.errors.push((
            self.chapter_index,
            TourError::Semantic {
                file: self.file.to_string(),
                chapter: self.chapter.clone(),
                step: self.step,
                field: field.into(),
                message: message.into(),
            },
        ));
    }

    /// The errors in file order: tour fields, then chapter by chapter, each chapter's own fields
    /// before its steps, step by step; in the order found within a step.
    fn finish(mut self) -> Vec<TourError> {
        let step = |error: &TourError| match error {
            TourError::Semantic { step, .. } => step.unwrap_or(0),
            _ => 0,
        };
        self.errors.sort_by_key(|(chapter, error)| (*chapter, step(error)));
        self.errors.into_iter().map(|(_, error)| error).collect()
    }
}

/// Checks `tour` (read from `file`) and compiles its chapters, building the layouts it needs into `layouts`.
pub fn compile(tour: &Tour, file: &str, layouts: &mut Layouts) -> Result<Vec<ChapterTimeline>, Vec<TourError>> {
    let mut report = Report { file, chapter_index: 0, chapter: None, step: None, errors: Vec::new() };
    for model in models_named(tour) {
        // An unknown name is reported where it is used, below.
        let _ = layouts.build(&model);
    }
    if layouts.get(&tour.model).is_none() {
        report.error("model", format!("unknown model '{}': expected one of {}", tour.model, preset_list()));
    }
    if tour.title.trim().is_empty() {
        report.error("title", "a tour needs a title");
    }
    if tour.chapters.is_empty() {
        report.error("chapters", "a tour needs at least one chapter");
    }
    if let (Some(input), Some(layout)) = (&tour.input, layouts.get(&tour.model))
        && let Err(error) = crate::model::tokenizer::parse_letters(input, &layout.config)
    {
        report.error("input", error.to_string());
    }
    let chapter_ids: HashSet<&str> = tour.chapters.iter().map(|chapter| chapter.id.as_str()).collect();
    let mut seen = HashSet::new();
    let mut timelines = Vec::with_capacity(tour.chapters.len());
    for (chapter_index, chapter) in tour.chapters.iter().enumerate() {
        report.chapter =
            Some(if chapter.id.is_empty() { format!("#{}", chapter_index + 1) } else { chapter.id.clone() });
        report.chapter_index = chapter_index + 1;
        report.step = None;
        if !is_slug(&chapter.id) {
            report.error(
                "id",
                format!("'{}' should be lower-case letters, digits and '-', as in self-attention", chapter.id),
            );
        }
        if !seen.insert(chapter.id.as_str()) {
            report.error("id", format!("chapter id '{}' is used twice", chapter.id));
        }
        if chapter.title.trim().is_empty() {
            report.error("title", "a chapter needs a title");
        }
        if let Some(timeline) = compile_chapter(tour, chapter, &chapter_ids, layouts, &mut report) {
            timelines.push(timeline);
        }
    }
    if report.errors.is_empty() { Ok(timelines) } else { Err(report.finish()) }
}

/// Every model name the tour mentions, so their layouts are built before the chapters are read.
fn models_named(tour: &Tour) -> Vec<String> {
    let mut names = vec![tour.model.clone()];
    for chapter in &tour.chapters {
        names.extend(chapter.model.clone());
        for step in &chapter.steps {
            for action in &step.actions {
                if let Action::Model { name, .. } = action {
                    names.push(name.clone());
                }
            }
        }
    }
    names.sort();
    names.dedup();
    names
}

fn preset_list() -> String {
    crate::model::config::preset_names().join(", ")
}

fn is_slug(id: &str) -> bool {
    !id.is_empty()
        && id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !id.starts_with('-')
        && !id.ends_with('-')
}

/// An action placed on the chapter timeline.
struct Placed<'a> {
    action: &'a Action,
    step: usize,
    /// Its index in the step, for field names.
    index: usize,
    start: f32,
}

fn compile_chapter(
    tour: &Tour,
    chapter: &Chapter,
    chapter_ids: &HashSet<&str>,
    layouts: &Layouts,
    report: &mut Report,
) -> Option<ChapterTimeline> {
    let opening_model = tour.chapter_model(chapter).to_string();
    let Some(opening_layout) = layouts.get(&opening_model) else {
        if chapter.model.is_some() {
            report.error("model", format!("unknown model '{opening_model}': expected one of {}", preset_list()));
        }
        return None;
    };
    if chapter.steps.is_empty() {
        report.error("steps", "a chapter needs at least one step");
        return None;
    }
    let opening_camera = resolve_camera(&chapter.camera, opening_layout, "camera", report);
    let hidden = chapter.hidden.as_ref().map(|pattern| resolve_computed(pattern, opening_layout, "hidden", report));

    // Times first: they depend on nothing but the durations, and tell which model each action sees.
    let wait_after_text = chapter.wait_after_text.unwrap_or(tour.wait_after_text);
    let schedule = schedule(chapter, wait_after_text, report);
    let models = ModelSwitches::find(&opening_model, &schedule.placed, layouts, report);
    let input_tokens = tour.input.as_ref().and_then(|input| {
        crate::model::tokenizer::parse_letters(input, &opening_layout.config).ok().map(|tokens| tokens.len())
    });
    let mut built = Built::new(models.names.len(), input_tokens);
    let chapter_end = schedule.steps.last().map_or(0.0, |step| step.end);
    for (order, item) in schedule.placed.iter().enumerate() {
        report.step = Some(item.step + 1);
        let model = models.at(item.start, order);
        let layout = layouts.get(&models.names[model]).expect("built above");
        let action = PlacedAction { item, order, model, layout, chapter_end };
        built.add(&action, &models.names, layouts, report);
    }
    check_texts(chapter, &schedule, &models, layouts, chapter_ids, report);

    let hidden: HashSet<usize> = hidden.unwrap_or_default().into_iter().collect();
    let opening_camera = opening_camera.unwrap_or_else(|| pose_of(opening_layout.overview));
    Some(built.into_timeline(chapter, schedule, models.names, &hidden, opening_camera))
}

/// Where a chapter's steps and actions fall on its timeline, and where playback stops.
struct Schedule<'a> {
    steps: Vec<StepTimes>,
    breaks: Vec<f32>,
    placed: Vec<Placed<'a>>,
}

/// Lays the steps end to end: each step's text, then its actions, each at its `at` or after the
/// one before it. Checks starts and durations. With `wait_after_text`, a step with something to
/// watch waits for Space once its paragraphs are in.
fn schedule<'a>(chapter: &'a Chapter, wait_after_text: bool, report: &mut Report) -> Schedule<'a> {
    let mut schedule =
        Schedule { steps: Vec::with_capacity(chapter.steps.len()), breaks: Vec::new(), placed: Vec::new() };
    let mut time = 0.0_f32;
    for (step_index, step) in chapter.steps.iter().enumerate() {
        report.step = Some(step_index + 1);
        if step.text.is_empty() && !step.actions.iter().any(Action::shows_something) {
            report.error("text", "the step has nothing to show: no paragraphs and no actions that change the scene");
        }
        let start = time;
        let actions_start = start + TEXT_IN_SECONDS;
        let mut cursor = 0.0_f32;
        for (index, action) in step.actions.iter().enumerate() {
            let offset = action_offset(action, index, cursor, report);
            let duration = action_duration(action, index, report);
            if matches!(action, Action::Break) {
                schedule.breaks.push(actions_start + offset);
            }
            schedule.placed.push(Placed { action, step: step_index, index, start: actions_start + offset });
            cursor = cursor.max(offset + duration);
        }
        let end = actions_start + cursor;
        if wait_after_text && cursor > 0.0 {
            schedule.breaks.push(actions_start);
        }
        schedule.breaks.push(end);
        schedule.steps.push(StepTimes { start, actions_start, end });
        time = end;
    }
    schedule.breaks.sort_by(f32::total_cmp);
    schedule.breaks.dedup();
    schedule
}

/// Seconds after the step's actions start: the action's `at`, else where the actions before it end.
fn action_offset(action: &Action, index: usize, cursor: f32, report: &mut Report) -> f32 {
    match action.at() {
        Some(at) if at.is_finite() && at >= 0.0 => at,
        Some(at) => {
            report.error(
                format!("actions[{index}].at"),
                format!("{} at {at}: a start must be 0 or more seconds", action.kind()),
            );
            cursor
        }
        None => cursor,
    }
}

/// How long an action takes; a timed action must take some time.
fn action_duration(action: &Action, index: usize, report: &mut Report) -> f32 {
    let duration = action.duration();
    let timed = matches!(
        action,
        Action::Camera { .. }
            | Action::Tween { .. }
            | Action::Reveal { .. }
            | Action::Compute { .. }
            | Action::Fly { .. }
            | Action::Wait(_)
    );
    if timed && !(duration.is_finite() && duration > 0.0) {
        let field = if matches!(action, Action::Wait(_)) {
            format!("actions[{index}]")
        } else {
            format!("actions[{index}].duration")
        };
        report.error(field, format!("{} duration {duration}: must be more than 0 seconds", action.kind()));
        return 0.0;
    }
    duration
}

/// The models a chapter shows, the opening one first, and when it switches between them.
struct ModelSwitches {
    names: Vec<String>,
    /// (time, declaration order, index into `names`), in time order.
    switches: Vec<(f32, usize, usize)>,
}

impl ModelSwitches {
    fn find(opening_model: &str, placed: &[Placed], layouts: &Layouts, report: &mut Report) -> ModelSwitches {
        let mut models = ModelSwitches { names: vec![opening_model.to_string()], switches: Vec::new() };
        for (order, item) in placed.iter().enumerate() {
            let Action::Model { name, .. } = item.action else { continue };
            report.step = Some(item.step + 1);
            if layouts.get(name).is_none() {
                report.error(
                    format!("actions[{}].name", item.index),
                    format!("unknown model '{name}': expected one of {}", preset_list()),
                );
                continue;
            }
            let slot = models.names.iter().position(|model| model == name).unwrap_or_else(|| {
                models.names.push(name.clone());
                models.names.len() - 1
            });
            models.switches.push((item.start, order, slot));
        }
        models.switches.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        models
    }

    /// The model an action sees: the one switched to last at or before it, a switch declared
    /// before it at the same time included.
    fn at(&self, time: f32, order: usize) -> usize {
        self.switches
            .iter()
            .rev()
            .find(|&&(at, switch_order, _)| at < time || (at == time && switch_order <= order))
            .map_or(0, |s| s.2)
    }
}

/// An action with where it falls and the model it acts on.
struct PlacedAction<'a> {
    item: &'a Placed<'a>,
    /// Declaration order in the chapter, which breaks ties between actions at the same time.
    order: usize,
    /// An index into the chapter's models.
    model: usize,
    layout: &'a Layout,
    /// Where its chapter ends.
    chapter_end: f32,
}

impl PlacedAction<'_> {
    fn field(&self, name: &str) -> String {
        format!("actions[{}].{name}", self.item.index)
    }

    fn move_to<T>(&self, duration: f32, to: T, easing: Easing) -> Move<T> {
        Move { start: self.item.start, duration, to, easing }
    }
}

/// What a chapter's actions add up to: camera moves, per-model block moves, instant events,
/// computations and flights.
struct Built {
    camera_moves: Vec<Move<CameraPose>>,
    block_moves: Vec<BTreeMap<usize, BlockMoves>>,
    events: Vec<(f32, usize, Event)>,
    /// With their declaration order; `until` is set once all are known.
    computes: Vec<(usize, ComputeSpan)>,
    /// (model, block, time) of each `Hide`, which ends the cells a `Compute` showed.
    hides: Vec<(usize, usize, f32)>,
    flights: Vec<FlightSpan>,
    /// Tokens in the tour's input, for the model it names; what `AppendPrediction` appends to.
    input_tokens: Option<usize>,
    /// Predictions appended so far in the chapter, per model.
    appends: BTreeMap<usize, usize>,
}

impl Built {
    fn new(models: usize, input_tokens: Option<usize>) -> Built {
        Built {
            camera_moves: Vec::new(),
            block_moves: vec![BTreeMap::new(); models],
            events: Vec::new(),
            computes: Vec::new(),
            hides: Vec::new(),
            flights: Vec::new(),
            input_tokens,
            appends: BTreeMap::new(),
        }
    }

    fn add(&mut self, action: &PlacedAction, models: &[String], layouts: &Layouts, report: &mut Report) {
        let (start, order) = (action.item.start, action.order);
        match action.item.action {
            Action::Camera { .. } => self.camera(action, report),
            Action::Tween { .. } => self.tween(action, report),
            Action::Reveal { .. } => self.reveal(action, report),
            Action::Hide { blocks, .. } => {
                for block in resolve_computed(blocks, action.layout, &action.field("blocks"), report) {
                    let moves = self.block_moves[action.model].entry(block).or_default();
                    moves.reveal.push(action.move_to(0.0, 0.0, Easing::Linear));
                    self.hides.push((action.model, block, start));
                }
            }
            Action::Focus { block, cells, note, .. } => self.focus(action, block, *cells, note, report),
            Action::Unfocus => self.events.push((start, order, Event::Unfocus)),
            Action::Compute { .. } => self.compute(action, report),
            Action::Fly { .. } => self.fly(action, report),
            Action::Figure(figure) => {
                self.events.push((start, order, Event::Figure { step: action.item.step, figure: *figure }))
            }
            Action::Sampling { temperature, top_k, top_p, .. } => {
                let sampling =
                    crate::model::sampling::Sampling { temperature: *temperature, top_k: *top_k, top_p: *top_p };
                match sampling.checked() {
                    Ok(sampling) => self.events.push((start, order, Event::Sampling(sampling))),
                    Err(error) => {
                        let field = sampling_field(error);
                        report.error(action.field(field), format!("{field} {}: {}", error.value(), error.rule()));
                    }
                }
            }
            Action::Labels(show) => self.events.push((start, order, Event::Labels(*show))),
            Action::Model { name, camera, .. } => {
                let Some(slot) = models.iter().position(|model| model == name) else { return };
                let layout = layouts.get(name).expect("built above");
                let pose = match camera {
                    Some(target) => resolve_camera(target, layout, &action.field("camera"), report),
                    None => Some(pose_of(layout.overview)),
                };
                if let Some(pose) = pose {
                    self.camera_moves.push(action.move_to(0.0, pose, Easing::Linear));
                }
                self.events.push((start, order, Event::Model(slot)));
            }
            Action::AppendPrediction => self.append(action, models, report),
            Action::SwitchOff(_) | Action::Gradients(_) => self.weights_event(action, models, report),
            Action::Wait(_) | Action::Break => {}
        }
    }

    /// An action that runs the model on screen again (`SwitchOff`, `Gradients`): one with weights.
    fn weights_event(&mut self, action: &PlacedAction, models: &[String], report: &mut Report) {
        let (start, order) = (action.item.start, action.order);
        let field = format!("actions[{}]", action.item.index);
        let name = &models[action.model];
        if !crate::model::Weights::ships_for(name) {
            let what = if matches!(action.item.action, Action::Gradients(_)) {
                "take a training step with"
            } else {
                "switch parts of"
            };
            report.error(field, format!("model '{name}' has no weights to {what}"));
            return;
        }
        match action.item.action {
            Action::SwitchOff(parts) => match crate::model::ablation::Ablation::parse(parts, &action.layout.config) {
                Ok(ablation) => self.events.push((start, order, Event::SwitchOff(ablation))),
                Err(error) => report.error(field, format!("SwitchOff {error}")),
            },
            Action::Gradients(on) => self.events.push((start, order, Event::Gradients(*on))),
            _ => {}
        }
    }

    /// A prediction appended to the input of the model on screen, if it has weights to predict
    /// with and its context has room for one more token after the tour's input and the appends
    /// before it in the chapter.
    fn append(&mut self, action: &PlacedAction, models: &[String], report: &mut Report) {
        let name = &models[action.model];
        let field = format!("actions[{}]", action.item.index);
        if !crate::model::Weights::ships_for(name) {
            report.error(field, format!("model '{name}' has no weights to predict with"));
            return;
        }
        let Some(input) = self.input_tokens else {
            report.error(field, "AppendPrediction needs the tour's input, to append to");
            return;
        };
        let appended = self.appends.entry(action.model).or_default();
        *appended += 1;
        let context = action.layout.config.tokens();
        if input + *appended > context {
            report.error(
                field,
                format!("the context is full: {input} input tokens and {appended} appended, {context} at most"),
            );
            return;
        }
        self.events.push((action.item.start, action.order, Event::Append(action.model)));
    }

    fn camera(&mut self, action: &PlacedAction, report: &mut Report) {
        let Action::Camera { to, duration, zoom, easing, .. } = action.item.action else { return };
        if !(zoom.is_finite() && *zoom > 0.0) {
            report.error(action.field("zoom"), format!("zoom {zoom}: must be more than 0"));
        }
        if let Some(pose) = resolve_camera(to, action.layout, &action.field("to"), report) {
            self.camera_moves.push(action.move_to(*duration, zoomed(pose, *zoom), *easing));
        }
    }

    fn tween(&mut self, action: &PlacedAction, report: &mut Report) {
        let Action::Tween { blocks, duration, opacity, highlight, offset, scale, easing, .. } = action.item.action
        else {
            return;
        };
        if opacity.is_none() && highlight.is_none() && offset.is_none() && scale.is_none() {
            report.error(action.field("blocks"), "Tween changes nothing: give opacity, highlight, offset or scale");
        }
        check_unit(*opacity, &action.field("opacity"), report);
        check_unit(*highlight, &action.field("highlight"), report);
        if let Some(scale) = scale
            && !(scale.is_finite() && *scale > 0.0)
        {
            report.error(action.field("scale"), format!("scale {scale}: must be more than 0"));
        }
        if let Some(offset) = offset
            && !offset.iter().all(|v| v.is_finite())
        {
            report.error(action.field("offset"), format!("offset {offset:?}: must be finite"));
        }
        let offset = offset.map(|cells| cells.map(|v| v * CELL));
        for block in resolve_blocks(blocks, action.layout, &action.field("blocks"), report) {
            let moves = self.block_moves[action.model].entry(block).or_default();
            let at = |to| action.move_to(*duration, to, *easing);
            moves.opacity.extend(opacity.map(at));
            moves.highlight.extend(highlight.map(at));
            moves.scale.extend(scale.map(at));
            moves.offset.extend(offset.map(|to| action.move_to(*duration, to, *easing)));
        }
    }

    fn reveal(&mut self, action: &PlacedAction, report: &mut Report) {
        let Action::Reveal { blocks, duration, until, sequential, easing, .. } = action.item.action else { return };
        let layout = action.layout;
        let revealed = resolve_computed(blocks, layout, &action.field("blocks"), report);
        let targets: Vec<(usize, f32)> = revealed
            .iter()
            .filter_map(|&block| match reveal_target(*until, layout.blocks[block].cells) {
                Ok(to) => Some((block, to)),
                Err(message) => {
                    report.error(action.field("until"), format!("block '{}': {message}", layout.blocks[block].name));
                    None
                }
            })
            .collect();
        // All at once, or one after another with time shares growing as √cells.
        let weights: Vec<f64> = targets
            .iter()
            .map(|&(block, _)| if *sequential { (layout.blocks[block].cell_count() as f64).sqrt() } else { 1.0 })
            .collect();
        let total_weight: f64 = if *sequential { weights.iter().sum() } else { 1.0 };
        let mut start = action.item.start as f64;
        for ((block, to), weight) in targets.into_iter().zip(weights) {
            let share = (*duration as f64 * weight / total_weight) as f32;
            let moves = self.block_moves[action.model].entry(block).or_default();
            moves.reveal.push(Move { start: start as f32, duration: share, to, easing: *easing });
            if *sequential {
                start += share as f64;
            }
        }
    }

    fn focus(&mut self, action: &PlacedAction, block: &str, cells: Cells, note: &Option<String>, report: &mut Report) {
        let Some(block_index) = action.layout.find(block) else {
            report.error(action.field("block"), unknown_block(block, action.layout));
            return;
        };
        if let Err(message) = check_cells(cells, action.layout.blocks[block_index].cells) {
            report.error(action.field("cells"), format!("block '{block}': {message}"));
            return;
        }
        let event = Event::Focus { model: action.model, block: block_index, cells, note: note.clone() };
        self.events.push((action.item.start, action.order, event));
    }

    fn compute(&mut self, action: &PlacedAction, report: &mut Report) {
        let Action::Compute { block, cells, duration, style, .. } = action.item.action else { return };
        let (cells, duration, style) = (*cells, *duration, *style);
        let Some(index) = action.layout.find(block) else {
            report.error(action.field("block"), unknown_block(block, action.layout));
            return;
        };
        let found = &action.layout.blocks[index];
        if !is_computed(found) {
            report.error(action.field("block"), format!("'{block}' is a weight or the input, which is never computed"));
            return;
        }
        if let Err(message) = check_cells(cells, found.cells) {
            report.error(action.field("cells"), format!("block '{block}': {message}"));
            return;
        }
        if style == ComputeStyle::Walk && !matches!(cells, Cells::Cell(..)) {
            report.error(action.field("cells"), "a Walk follows one cell: give Cell(x, y), or use style: Sweep");
            return;
        }
        let span = ComputeSpan {
            model: action.model,
            block: index,
            cells,
            style,
            step: action.item.step,
            start: action.item.start,
            duration,
            until: f32::INFINITY,
        };
        self.computes.push((action.order, span));
    }

    fn fly(&mut self, action: &PlacedAction, report: &mut Report) {
        let Action::Fly { from, to, duration, easing, offset, stay, .. } = action.item.action else { return };
        let (duration, easing, offset, stay) = (*duration, *easing, *offset, *stay);
        let layout = action.layout;
        let mut find = |cells: &CellsOf, field: &str| -> Option<usize> {
            let Some(index) = layout.find(&cells.block) else {
                report.error(action.field(&format!("{field}.block")), unknown_block(&cells.block, layout));
                return None;
            };
            if let Err(message) = check_cells(cells.cells, layout.blocks[index].cells) {
                report.error(action.field(&format!("{field}.cells")), format!("block '{}': {message}", cells.block));
                return None;
            }
            Some(index)
        };
        let (Some(from_block), Some(to_block)) = (find(from, "from"), find(to, "to")) else { return };
        let (_, size) = cells_region(from.cells, layout.blocks[from_block].cells);
        let (landing, _) = cells_region(to.cells, layout.blocks[to_block].cells);
        let room = layout.blocks[to_block].cells;
        if let Some(offset) = offset
            && !offset.iter().all(|v| v.is_finite())
        {
            report.error(action.field("offset"), format!("offset {offset:?}: must be finite"));
            return;
        }
        // Landing beside the block, a copy may reach past it; landing on it, it must fit.
        if offset.is_none() && (0..3).any(|axis| landing[axis] + size[axis] > room[axis]) {
            report.error(
                action.field("to"),
                format!(
                    "{:?} cells of '{}' landing at cell {landing:?} of '{}' would overhang its {room:?} cells",
                    size, from.block, to.block
                ),
            );
            return;
        }
        self.flights.push(FlightSpan {
            model: action.model,
            from_block,
            from: from.cells,
            to_block,
            to: to.cells,
            offset: offset.unwrap_or_default().map(|cells| cells * CELL),
            start: action.item.start,
            duration,
            easing,
            stays_until: stay.then_some(action.chapter_end),
        });
    }

    /// Each computation's cells show until the same block is computed again or hidden.
    fn compute_spans(&mut self) -> Vec<ComputeSpan> {
        self.computes.sort_by(|a, b| a.1.start.total_cmp(&b.1.start).then(a.0.cmp(&b.0)));
        let spans: Vec<ComputeSpan> = self.computes.iter().map(|(_, span)| *span).collect();
        spans
            .iter()
            .enumerate()
            .map(|(index, span)| {
                let same_block = |model: usize, block: usize| model == span.model && block == span.block;
                let next_compute = spans[index + 1..]
                    .iter()
                    .find(|later| same_block(later.model, later.block))
                    .map(|later| later.start);
                let hidden = self
                    .hides
                    .iter()
                    .filter(|&&(model, block, at)| same_block(model, block) && at > span.start)
                    .map(|h| h.2);
                let until = next_compute.into_iter().chain(hidden).fold(f32::INFINITY, f32::min);
                ComputeSpan { until, ..*span }
            })
            .collect()
    }

    /// The timeline: every animated block's moves as tracks (the chapter's hidden blocks of its
    /// opening model start with no values), and the events in time order.
    fn into_timeline(
        mut self,
        chapter: &Chapter,
        schedule: Schedule,
        models: Vec<String>,
        hidden: &HashSet<usize>,
        opening_camera: CameraPose,
    ) -> ChapterTimeline {
        let computes = self.compute_spans();
        for &block in hidden {
            self.block_moves[0].entry(block).or_default();
        }
        let blocks = self
            .block_moves
            .into_iter()
            .enumerate()
            .map(|(model, moves)| {
                let reveal_initial = |block: &usize| if model == 0 && hidden.contains(block) { 0.0 } else { 1.0 };
                moves.into_iter().map(|(block, moves)| (block, moves.into_tracks(reveal_initial(&block)))).collect()
            })
            .collect();
        self.events.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        self.flights.sort_by(|a, b| a.start.total_cmp(&b.start));
        ChapterTimeline {
            id: chapter.id.clone(),
            title: chapter.title.clone(),
            models,
            length: schedule.steps.last().map_or(0.0, |step| step.end),
            steps: schedule.steps,
            breaks: schedule.breaks,
            labels: chapter.labels,
            camera: Track::new(opening_camera, self.camera_moves),
            blocks,
            events: self.events.into_iter().map(|(time, _, event)| (time, event)).collect(),
            computes,
            flights: self.flights,
        }
    }
}

/// Each step's paragraphs, read against the model shown once the step's actions are done (the
/// paragraphs stay on screen after them).
fn check_texts(
    chapter: &Chapter,
    schedule: &Schedule,
    models: &ModelSwitches,
    layouts: &Layouts,
    chapter_ids: &HashSet<&str>,
    report: &mut Report,
) {
    for (step_index, step) in chapter.steps.iter().enumerate() {
        report.step = Some(step_index + 1);
        let after_step = schedule.placed.iter().filter(|item| item.step <= step_index).count();
        let model = models.at(schedule.steps[step_index].end, after_step);
        let layout = layouts.get(&models.names[model]).expect("built above");
        for (paragraph_index, paragraph) in step.text.iter().enumerate() {
            check_paragraph(paragraph, &format!("text[{paragraph_index}]"), layout, chapter_ids, report);
        }
    }
    report.step = None;
}

/// The moves of one block's properties, collected before they become tracks.
#[derive(Clone, Default)]
struct BlockMoves {
    opacity: Vec<Move<f32>>,
    highlight: Vec<Move<f32>>,
    offset: Vec<Move<[f32; 3]>>,
    scale: Vec<Move<f32>>,
    reveal: Vec<Move<f32>>,
}

impl BlockMoves {
    fn into_tracks(self, reveal_initial: f32) -> BlockTracks {
        BlockTracks {
            opacity: Track::new(1.0, self.opacity),
            highlight: Track::new(0.0, self.highlight),
            offset: Track::new([0.0; 3], self.offset),
            scale: Track::new(1.0, self.scale),
            reveal: Track::new(reveal_initial, self.reveal),
        }
    }
}

/// The field of a `Sampling` action that holds the setting `error` refuses.
fn sampling_field(error: crate::model::sampling::SamplingError) -> &'static str {
    use crate::model::sampling::SamplingError;
    match error {
        SamplingError::Temperature(_) => "temperature",
        SamplingError::TopK => "top_k",
        SamplingError::TopP(_) => "top_p",
    }
}

fn check_unit(value: Option<f32>, field: &str, report: &mut Report) {
    if let Some(value) = value
        && !(0.0..=1.0).contains(&value)
    {
        report.error(field, format!("{value}: must be between 0 and 1"));
    }
}

fn check_cells(cells: Cells, size: [u32; 3]) -> Result<(), String> {
    let (columns, rows) = (size[0], size[1]);
    match cells {
        Cells::All => Ok(()),
        Cells::Column(x) if x >= columns => Err(format!("Column({x}) is outside its {columns} columns")),
        Cells::Columns(first, last) if first > last => Err(format!("Columns({first}, {last}) ends before it starts")),
        Cells::Columns(first, last) if last >= columns => {
            Err(format!("Columns({first}, {last}) is outside its {columns} columns"))
        }
        Cells::Row(y) if y >= rows => Err(format!("Row({y}) is outside its {rows} rows")),
        Cells::Cell(x, y) if x >= columns || y >= rows => {
            Err(format!("Cell({x}, {y}) is outside its {columns} columns × {rows} rows"))
        }
        _ => Ok(()),
    }
}

fn check_paragraph(paragraph: &str, field: &str, layout: &Layout, chapter_ids: &HashSet<&str>, report: &mut Report) {
    let spans = match markup::parse(paragraph) {
        Ok(spans) => spans,
        Err(error) => {
            report.error(field, error.to_string());
            return;
        }
    };
    for span in spans {
        match span {
            Span::Block { pattern, .. } => {
                resolve_blocks(&pattern, layout, field, report);
            }
            Span::Chapter { id, .. } if !chapter_ids.contains(id.as_str()) => {
                report.error(field, format!("link to unknown chapter '{id}'"));
            }
            _ => {}
        }
    }
}

/// The computed blocks a pattern names (weights and tokens left out); an error when it names none.
fn resolve_computed(pattern: &str, layout: &Layout, field: &str, report: &mut Report) -> Vec<usize> {
    let blocks = Pattern::new(pattern).resolve(layout);
    let computed: Vec<usize> = blocks.iter().copied().filter(|&block| is_computed(&layout.blocks[block])).collect();
    if blocks.is_empty() {
        resolve_blocks(pattern, layout, field, report);
    } else if computed.is_empty() {
        report.error(field, format!("'{pattern}' names only weights or the input, which are never computed"));
    }
    computed
}

/// The fraction of a block's cells computed once `until` has been (all of them when None).
fn reveal_target(until: Option<Cells>, size: [u32; 3]) -> Result<f32, String> {
    let Some(cells) = until else { return Ok(1.0) };
    check_cells(cells, size)?;
    let total = size.iter().map(|&n| n as u64).product::<u64>() as f64;
    let last = match cells {
        Cells::Column(x) | Cells::Columns(_, x) => [x, size[1] - 1, size[2] - 1],
        Cells::Cell(x, y) => [x, y, 0],
        Cells::All => size.map(|n| n - 1),
        Cells::Row(_) => {
            return Err(
                "cells are computed token by token, so a reveal stops after a Column or a Cell, not a Row".into()
            );
        }
    };
    Ok(((reveal_rank(size, last) + 1) as f64 / total) as f32)
}

/// The blocks a pattern names; an error when it names none.
fn resolve_blocks(pattern: &str, layout: &Layout, field: &str, report: &mut Report) -> Vec<usize> {
    let blocks = Pattern::new(pattern).resolve(layout);
    if blocks.is_empty() {
        report.error(
            field,
            if pattern.contains(['*', '|']) {
                format!("pattern '{pattern}' matches no block of model '{}'", layout.config.name)
            } else {
                unknown_block(pattern, layout)
            },
        );
    }
    blocks
}

fn unknown_block(name: &str, layout: &Layout) -> String {
    // The nearest names by edit distance, to catch a typo.
    let mut scored: Vec<(usize, &str)> =
        layout.blocks.iter().map(|block| (strsim::levenshtein(&block.name, name), block.name.as_str())).collect();
    scored.sort();
    let near: Vec<&str> = scored.iter().take(3).map(|&(_, candidate)| candidate).collect();
    format!("unknown block '{name}' in model '{}' (nearest: {})", layout.config.name, near.join(", "))
}

fn pose_of(anchor: Anchor) -> CameraPose {
    CameraPose { eye: anchor.eye, target: anchor.target }
}

fn zoomed(pose: CameraPose, zoom: f32) -> CameraPose {
    if !(zoom.is_finite() && zoom > 0.0) || zoom == 1.0 {
        return pose;
    }
    let eye = [0, 1, 2].map(|axis| pose.target[axis] + (pose.eye[axis] - pose.target[axis]) * zoom);
    CameraPose { eye, target: pose.target }
}

fn resolve_camera(target: &CameraTarget, layout: &Layout, field: &str, report: &mut Report) -> Option<CameraPose> {
    match target {
        CameraTarget::Overview => Some(pose_of(layout.overview)),
        CameraTarget::Block(name) => match layout.block(name) {
            Some(block) => Some(pose_of(block.anchor)),
            None => {
                report.error(field, unknown_block(name, layout));
                None
            }
        },
        CameraTarget::Blocks(pattern) => {
            let blocks = resolve_blocks(pattern, layout, field, report);
            let (min, max) =
                union(blocks.iter().map(|&block| (layout.blocks[block].position, layout.blocks[block].max())))?;
            Some(frame(min, max))
        }
        CameraTarget::Section { text, layer } => section_pose(text, *layer, layout, field, report),
        CameraTarget::Cells { block, cells } => cells_pose(block, *cells, layout, field, report),
        CameraTarget::Pose { eye, target } => {
            if eye.iter().chain(target).all(|v| v.is_finite()) && eye != target {
                Some(CameraPose { eye: *eye, target: *target })
            } else {
                report.error(field, "a pose needs finite coordinates and an eye apart from its target");
                None
            }
        }
    }
}

/// The one section label named `text` (in `layer`, for those that repeat in every layer).
fn section_pose(
    text: &str,
    layer: Option<usize>,
    layout: &Layout,
    field: &str,
    report: &mut Report,
) -> Option<CameraPose> {
    let matching: Vec<_> = layout
        .labels
        .iter()
        .filter(|label| label.kind == crate::layout::LabelKind::Section && label.text == text)
        .filter(|label| layer.is_none() || label.layer == layer)
        .collect();
    match matching.as_slice() {
        [label] => Some(pose_of(label.anchor)),
        [] => {
            report.error(
                field,
                format!(
                    "no section '{text}'{} in model '{}'",
                    layer.map(|l| format!(" in layer {l}")).unwrap_or_default(),
                    layout.config.name
                ),
            );
            None
        }
        _ => {
            report.error(field, format!("section '{text}' is in every layer: give its layer, e.g. layer: 0"));
            None
        }
    }
}

/// The box of some cells of a block, framed as the layout frames whole blocks.
fn cells_pose(block: &str, cells: Cells, layout: &Layout, field: &str, report: &mut Report) -> Option<CameraPose> {
    let Some(block_index) = layout.find(block) else {
        report.error(field, unknown_block(block, layout));
        return None;
    };
    let block = &layout.blocks[block_index];
    if let Err(message) = check_cells(cells, block.cells) {
        report.error(field, format!("block '{}': {message}", block.name));
        return None;
    }
    let (first, last) = cell_range(cells, block.cells);
    let corners = [first, last].map(|cell| {
        let center = block.cell_center(cell);
        (center.map(|c| c - CELL / 2.0), center.map(|c| c + CELL / 2.0))
    });
    let (min, max) = union(corners.into_iter())?;
    Some(frame(min, max))
}

/// The first and last cell of a selection (x, y, z), which span its box.
fn cell_range(cells: Cells, size: [u32; 3]) -> ([u32; 3], [u32; 3]) {
    let (first, extent) = cells_region(cells, size);
    (first, [0, 1, 2].map(|axis| first[axis] + extent[axis].saturating_sub(1)))
}

fn union(boxes: impl Iterator<Item = ([f32; 3], [f32; 3])>) -> Option<([f32; 3], [f32; 3])> {
    boxes.reduce(|(min_a, max_a), (min_b, max_b)| {
        ([0, 1, 2].map(|axis| min_a[axis].min(min_b[axis])), [0, 1, 2].map(|axis| max_a[axis].max(max_b[axis])))
    })
}

/// A view of a box as the layout frames its blocks: from the same direction, at the distance where
/// the box just fits, thin boxes framed as if 8 cells wide.
fn frame(min: [f32; 3], max: [f32; 3]) -> CameraPose {
    pose_of(Framing::blocks().frame(min.map(f64::from), max.map(f64::from)))
}
