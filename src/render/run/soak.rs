//! Hours of touring in minutes: the app offscreen, driven as a restless reader would drive it, to
//! see whether memory stays put (`llmviz soak`).
//!
//! A cycle plays every chapter of the tour at high speed (Space at each pause), then switches to
//! each model of the plan in turn and, on each, hovers and pins random cells, changes the input
//! and moves the training slider. Everything goes through the resources the UI writes:
//! `TourState` (as Space does), `SceneSource` (the model switcher, the input box, "random", "next
//! token" and the slider), `Hovered` and `Pinned` (the pointer). `run_soak` runs it and reports
//! the process's resident memory and the GPU memory llmviz made (`FrameStats::gpu_bytes`) at the
//! start, every minute and at the end.

use std::time::{Duration, Instant};

use bevy::ecs::system::SystemParam;
use bevy::prelude::*;

use crate::render::RenderError;
use crate::render::overlay::OverlayPlugins;
use crate::render::overlay::live_input::{
    TrainingCheckpoints, append_prediction, input_text_of, random_letters, read_input,
};
use crate::render::overlay::ui::UiState;
use crate::render::scene::blocks::{BlockScene, SceneSource, SceneValues, ValuesState};
use crate::render::scene::stats::RenderStats;
use crate::render::tour::player::{TourPlugin, TourState};
use crate::render::view::camera::CameraPlugin;
use crate::render::view::free_region::FreeRegionPlugin;
use crate::render::view::pick::{CellRef, Hovered, Pinned};
use crate::tour::TourLink;

/// One scene the soak switches to.
#[derive(Clone, Debug)]
pub enum SoakModel {
    /// A preset, built afresh at each switch as the model switcher builds it (nano with its weights).
    Preset(String),
    /// Weights loaded once (`--weights`), on their input.
    Checkpoint(Box<SceneSource>),
}

impl SoakModel {
    fn source(&self) -> Result<SceneSource, RenderError> {
        match self {
            SoakModel::Preset(name) => crate::render::scene_source(name, None),
            SoakModel::Checkpoint(source) => Ok(source.as_ref().clone()),
        }
    }
}

/// What each cycle does.
#[derive(Resource, Clone, Debug)]
pub struct SoakPlan {
    /// The scenes switched to after the tour, in order.
    pub models: Vec<SoakModel>,
    /// Tour seconds per real second while a chapter plays.
    pub tour_speed: f32,
    /// Rounds of actions on each model: an input, a hover, a slider move, a hover.
    pub rounds: usize,
    /// Seeds the random cells, letters and checkpoints, so that a soak can be repeated.
    pub seed: u64,
}

impl Default for SoakPlan {
    fn default() -> SoakPlan {
        let models = ["nano", "gpt2", "gpt2-xl"].into_iter().map(|name| SoakModel::Preset(name.into())).collect();
        SoakPlan { models, tour_speed: 40.0, rounds: 3, seed: 0x5eed }
    }
}

/// What the soak has done so far. A hover, input or slider move counts when it was made; an input
/// or slider move that a model cannot take (no weights, no checkpoints of its shape) is not made.
#[derive(Resource, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SoakCounts {
    pub cycles: u64,
    pub chapters: u64,
    pub model_switches: u64,
    pub inputs: u64,
    pub slider_moves: u64,
    pub hovers: u64,
    pub frames: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Action {
    Input,
    Hover,
    Slider,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Stage {
    /// The tour is to be opened at its first chapter.
    StartTour,
    /// A chapter plays.
    Touring,
    /// The model `index` of the plan is to be switched to.
    Switch(usize),
    /// On model `index`: the actions left, done one per frame once the scene is ready.
    Acting(usize, Vec<Action>),
}

/// Where the soak is in its cycle, and its random numbers.
#[derive(Resource, Debug)]
struct SoakProgress {
    stage: Stage,
    /// The config the current stage waits to see drawn, if any.
    wanted: Option<String>,
    random: u64,
}

impl SoakProgress {
    /// xorshift64*: cells and letters need no better randomness.
    fn next(&mut self) -> u64 {
        self.random ^= self.random >> 12;
        self.random ^= self.random << 25;
        self.random ^= self.random >> 27;
        self.random.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Drives the app through `SoakPlan` once the plan is inserted; counts in `SoakCounts`.
pub struct SoakPlugin;

impl Plugin for SoakPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<SoakCounts>().add_systems(
            Update,
            (start_soak, (drive_tour, drive_models).chain().run_if(resource_exists::<SoakProgress>))
                .chain()
                .run_if(resource_exists::<SoakPlan>)
                .in_set(crate::render::scene::frame::FrameStep::Input),
        );
    }
}

fn start_soak(
    mut commands: Commands,
    plan: Res<SoakPlan>,
    progress: Option<Res<SoakProgress>>,
    mut counts: ResMut<SoakCounts>,
) {
    if progress.is_none() {
        commands.insert_resource(SoakProgress { stage: Stage::StartTour, wanted: None, random: plan.seed | 1 });
    } else {
        counts.frames += 1;
    }
}

/// The scene as the soak sees and changes it.
#[derive(SystemParam)]
struct SceneNow<'w> {
    source: ResMut<'w, SceneSource>,
    scene: Option<Res<'w, BlockScene>>,
    values: Res<'w, SceneValues>,
    stats: Res<'w, RenderStats>,
    ui: Option<ResMut<'w, UiState>>,
    checkpoints: Option<Res<'w, TrainingCheckpoints>>,
}

impl SceneNow<'_> {
    /// The scene of `config` is drawn with its values.
    fn ready(&self, config: &str) -> bool {
        let scene = self.scene.as_deref().filter(|scene| scene.layout.config.name == config);
        crate::render::view::idle::scene_ready(scene, &self.values, &self.stats.get())
    }

    /// A new input, as the input box takes it: the box's text follows.
    fn set_tokens(&mut self, tokens: Vec<usize>) {
        if let Some(ui) = &mut self.ui {
            ui.input_text = input_text_of(&self.source.config, &tokens);
            ui.input_error = None;
        }
        self.source.tokens = tokens;
    }
}

/// The pointer as the soak moves it.
#[derive(SystemParam)]
struct Pointer<'w> {
    hovered: ResMut<'w, Hovered>,
    pinned: ResMut<'w, Pinned>,
}

/// Opens the tour's first chapter playing, and presses Space at every pause; after the last
/// chapter, the models.
fn drive_tour(
    plan: Res<SoakPlan>,
    mut progress: ResMut<SoakProgress>,
    mut counts: ResMut<SoakCounts>,
    tour: Option<ResMut<TourState>>,
    mut pointer: Pointer,
) {
    let Some(mut tour) = tour else {
        if matches!(progress.stage, Stage::StartTour | Stage::Touring) {
            progress.stage = Stage::Switch(0);
        }
        return;
    };
    match progress.stage {
        Stage::StartTour => {
            // The pointer leaves the scene, so the tour's own focus shows.
            *pointer.hovered = Hovered::default();
            pointer.pinned.cells.clear();
            tour.player.speed = plan.tour_speed;
            tour.open_chapter(0, true);
            progress.stage = Stage::Touring;
        }
        Stage::Touring if !tour.player.playing => {
            if !tour.player.at_end(tour.timeline()) {
                tour.continue_playing();
                return;
            }
            counts.chapters += 1;
            if tour.chapter + 1 < tour.compiled.chapters.len() {
                tour.continue_playing();
            } else {
                progress.stage = Stage::Switch(0);
            }
        }
        _ => {}
    }
}

/// Switches to each model of the plan, as the model switcher does, then acts on it once it is
/// drawn; after the last model the cycle is done.
fn drive_models(
    plan: Res<SoakPlan>,
    mut progress: ResMut<SoakProgress>,
    mut counts: ResMut<SoakCounts>,
    mut now: SceneNow,
    mut pointer: Pointer,
) {
    match progress.stage.clone() {
        Stage::Switch(index) if index >= plan.models.len() => {
            counts.cycles += 1;
            progress.stage = Stage::StartTour;
        }
        Stage::Switch(index) => {
            let Ok(source) = plan.models[index].source() else {
                progress.stage = Stage::Switch(index + 1);
                return;
            };
            // The switcher does nothing for the model already shown.
            if source.config != now.source.config || matches!(plan.models[index], SoakModel::Checkpoint(_)) {
                if let Some(ui) = &mut now.ui {
                    ui.input_text = input_text_of(&source.config, &source.tokens);
                }
                *now.source = source;
                counts.model_switches += 1;
            }
            progress.wanted = Some(now.source.config.name.clone());
            let round = [Action::Input, Action::Hover, Action::Slider, Action::Hover];
            progress.stage = Stage::Acting(index, round.repeat(plan.rounds));
        }
        Stage::Acting(index, mut actions) => {
            let wanted = progress.wanted.clone().unwrap_or_default();
            if !now.ready(&wanted) {
                return;
            }
            let Some(action) = actions.pop() else {
                pointer.pinned.cells.clear();
                progress.stage = Stage::Switch(index + 1);
                return;
            };
            act(action, &mut progress, &mut counts, &mut now, &mut pointer);
            progress.stage = Stage::Acting(index, actions);
        }
        _ => {}
    }
}

fn act(
    action: Action,
    progress: &mut SoakProgress,
    counts: &mut SoakCounts,
    now: &mut SceneNow,
    pointer: &mut Pointer,
) {
    match action {
        Action::Hover => {
            let Some(scene) = now.scene.as_deref() else { return };
            let block = progress.below(scene.layout.blocks.len());
            let cells = scene.layout.blocks[block].cells;
            let cell = CellRef { block, cell: cells.map(|n| progress.below(n as usize) as u32) };
            *pointer.hovered = Hovered { cell: Some(cell), pointer: None };
            // A click every third hover pins the card; the pins are cleared with each model.
            if counts.hovers.is_multiple_of(3) {
                pointer.pinned.toggle(cell);
            }
            counts.hovers += 1;
        }
        Action::Input => {
            if let Some(tokens) = new_input(progress, now) {
                now.set_tokens(tokens);
                counts.inputs += 1;
            }
        }
        Action::Slider => {
            let Some(checkpoints) = now.checkpoints.as_deref() else { return };
            let fits = checkpoints.points.first().is_some_and(|point| point.weights.config == now.source.config);
            if !fits || now.source.weights.is_none() {
                return;
            }
            let weights = checkpoints.points[progress.below(checkpoints.points.len())].weights.clone();
            now.source.weights = Some(weights);
            counts.slider_moves += 1;
        }
    }
}

/// A new input for the model shown, as its buttons and box make one: the model's next token fed
/// back, every other time while the context has room, else "random" (letters) or typed words.
fn new_input(progress: &mut SoakProgress, now: &SceneNow) -> Option<Vec<usize>> {
    now.source.weights.as_ref()?;
    let config = &now.source.config;
    let ready = now.values.activations.as_deref().filter(|_| now.values.state == ValuesState::Ready);
    if progress.next().is_multiple_of(2)
        && let Some(Ok(tokens)) = ready.map(|activations| append_prediction(&now.source.tokens, activations, config))
    {
        return Some(tokens);
    }
    let letters = random_letters(config, progress.next());
    if !letters.is_empty() {
        return crate::model::tokenizer::parse_letters(&letters, config).ok();
    }
    const WORDS: [&str; 8] = ["the", "model", "reads", "a", "long", "quiet", "river", "of"];
    let text: Vec<&str> = (0..4 + progress.below(8)).map(|_| WORDS[progress.below(WORDS.len())]).collect();
    read_input(config, &text.join(" ")).ok().map(|(tokens, _)| tokens)
}

/// A soak to run: the plan, the tour it plays, the size it renders at, and when it stops.
#[derive(Clone, Debug)]
pub struct SoakRun {
    pub plan: SoakPlan,
    pub tour: TourLink,
    pub size: UVec2,
    /// Stop after this long (checked between frames)...
    pub duration: Option<Duration>,
    /// ...or after this many cycles, whichever comes first.
    pub cycles: Option<u64>,
}

/// The memory figures at one moment, and what had been done by then.
#[derive(Clone, Copy, Debug)]
pub struct SoakSample {
    pub elapsed: Duration,
    /// The process's resident memory; None where it cannot be read (not Linux).
    pub resident_bytes: Option<u64>,
    /// GPU buffers and textures llmviz made (`FrameStats::gpu_bytes`).
    pub gpu_bytes: u64,
    pub counts: SoakCounts,
}

/// When a sample was taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SoakMoment {
    /// The first scene ready, before the soak starts.
    Start,
    /// Whole minutes since the start.
    Minute(u64),
    End,
}

/// Runs a soak offscreen, handing `report` a sample at the start, every minute and at the end;
/// returns the last. A forward pass that fails stops it with that error.
///
/// Every sample after the start is taken between two cycles, where the scene is always the same
/// (the plan's last model, just before the tour opens again): the minute's sample waits for the
/// end of the cycle under way, and so does the end of a run with a duration. Memory then differs
/// between samples by what was kept, not by which model happened to be on screen.
pub fn run_soak(run: SoakRun, mut report: impl FnMut(SoakMoment, &SoakSample)) -> Result<SoakSample, RenderError> {
    let mut offscreen = soak_app(&run)?;
    offscreen.wait_until_ready()?;
    let start = Instant::now();
    let sample = |offscreen: &crate::render::run::offscreen::Offscreen| SoakSample {
        elapsed: start.elapsed(),
        resident_bytes: resident_bytes(),
        gpu_bytes: offscreen.stats().gpu_bytes,
        counts: *offscreen.world().resource::<SoakCounts>(),
    };
    report(SoakMoment::Start, &sample(&offscreen));
    offscreen.world_mut().insert_resource(run.plan);
    let (mut minutes_reported, mut cycles_seen) = (0, 0);
    loop {
        offscreen.update();
        if let ValuesState::Failed(message) = &offscreen.world().resource::<SceneValues>().state {
            return Err(RenderError::Values(message.clone()));
        }
        let cycles = offscreen.world().resource::<SoakCounts>().cycles;
        if cycles == cycles_seen {
            continue;
        }
        cycles_seen = cycles;
        let elapsed = start.elapsed();
        let minutes = elapsed.as_secs() / 60;
        let cycles_done = run.cycles.is_some_and(|wanted| cycles >= wanted);
        let time_up = run.duration.is_some_and(|duration| elapsed >= duration);
        if minutes > minutes_reported && !(cycles_done || time_up) {
            minutes_reported = minutes;
            report(SoakMoment::Minute(minutes), &sample(&offscreen));
        }
        if cycles_done || time_up {
            let end = sample(&offscreen);
            report(SoakMoment::End, &end);
            return Ok(end);
        }
    }
}

/// The offscreen app as the window's, less what needs a window (picking and idling): the scene,
/// the UI, the camera, hover cards and the tour with its sidebar, opened on the tour's first scene.
fn soak_app(run: &SoakRun) -> Result<crate::render::run::offscreen::Offscreen, RenderError> {
    let tour = TourState::open(&run.tour)?;
    let (source, view) = tour.opening_scene()?;
    let offscreen = crate::render::run::offscreen::Offscreen::with_plugins(source, run.size, view, |app| {
        app.add_plugins((OverlayPlugins, CameraPlugin, FreeRegionPlugin, TourPlugin, SoakPlugin)).insert_resource(tour);
    });
    // The soak moves the training slider: without checkpoints it would soak less than it says.
    if let Some(why) = &offscreen.world().resource::<TrainingCheckpoints>().unavailable {
        return Err(RenderError::Setup(why.clone()));
    }
    Ok(offscreen)
}

/// The process's resident set (VmRSS of /proc/self/status, in kB there), Linux only.
pub fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kilobytes: u64 = line.trim_start_matches("VmRSS:").trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kilobytes * 1024)
}
