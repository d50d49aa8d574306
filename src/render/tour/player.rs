//! Playing a guided tour in the scene: the open tour file (reloaded when it changes), the reader's
//! place in it, and each frame the `TourFrame` at that place applied to the camera and the blocks.
//!
//! The pure core (`crate::tour`) says what the scene is at a tour time. Here the chapter's tracks
//! become bevy_tweening sequences on entities of their own (`tour_tweens`), seeked to the tour
//! time whenever it moves; what they write, with the chapter's instant events, is the frame
//! (`CurrentTourFrame`), written once, and small systems apply it where it changed: the model on
//! screen, each block's `BlockStyle` and `Transform`, the focus, the camera's `ViewPoint` and
//! whether labels show. So the scene at tour time t is the same however the reader got to t. The
//! sidebar is `tour_panel`.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bevy::prelude::*;
use bevy::window::RequestRedraw;
use bevy_tweening::TweenAnim;

use crate::layout::Layout;
use crate::model::tokenizer::parse_letters;
use crate::render::RenderError;
use crate::render::overlay::language::Language;
use crate::render::overlay::live_input::append_prediction;
use crate::render::overlay::panels::SceneLabels;
use crate::render::scene::blocks::{
    BlockScene, BlockStyle, Focus, RevealWindow, SceneSource, SceneValues, box_transform,
};
use crate::render::scene::frame::FrameStep;
use crate::render::tour::compute::ComputeView;
use crate::render::tour::tweens::{TourTweens, TweenedBlock, TweenedCamera, chapter_tweens, seek};
use crate::render::view::viewpoint::ViewPoint;
use crate::tour::timeline::revealed_cells;
use crate::tour::{
    BlockState, CameraPose, Cells, ChapterTimeline, Polled, SessionError, TourFrame, TourLink, TourSession,
};

/// How often the open tour file is read for changes, off the app's thread.
#[cfg(not(target_arch = "wasm32"))]
const RELOAD_POLL: std::time::Duration = std::time::Duration::from_millis(500);

/// The open tour and the reader's place in it (`crate::tour::session`), shared by the systems.
#[derive(Resource, Deref, DerefMut)]
pub struct TourState(pub TourSession);

impl TourState {
    /// Opens what a `TourLink` names (see `TourSession::open`).
    pub fn open(link: &TourLink) -> Result<TourState, RenderError> {
        Ok(TourState(TourSession::open(link)?))
    }

    /// The scene the tour shows a model on: nano runs on the tour's input, the larger presets
    /// show their structure.
    pub fn scene_for(&self, model: &str) -> Result<SceneSource, RenderError> {
        let input = if crate::model::Weights::ships_for(model) { self.compiled.tour.input.as_deref() } else { None };
        crate::render::scene_source(model, input)
    }

    /// Where the tour opens: the scene of its frame's model, and its camera. The window, the
    /// page, offscreen rendering and the soak all open a tour here.
    pub fn opening_scene(&self) -> Result<(SceneSource, ViewPoint), RenderError> {
        let frame = self.frame();
        let source =
            self.scene_for(&frame.model).map_err(|e| RenderError::Setup(format!("{}: {e}", self.compiled.file)))?;
        Ok((source, ViewPoint::from(frame.camera)))
    }
}

/// A tour that does not open, in the renderer's terms: the command line and the page word a step
/// without a chapter and a bad time with their own names for them.
impl From<SessionError> for RenderError {
    fn from(error: SessionError) -> RenderError {
        match error {
            SessionError::StepWithoutChapter => RenderError::StepWithoutChapter,
            SessionError::Time(time) => RenderError::Time(time),
            error => RenderError::Setup(error.to_string()),
        }
    }
}

/// Blocks lit up because the reader hovers a link in the commentary.
#[derive(Resource, Clone, Debug, Default, PartialEq, Eq)]
pub struct TourHover {
    pub blocks: Vec<usize>,
}

/// How bright hovered links make their blocks.
const HOVER_HIGHLIGHT: f32 = 0.8;

/// The tour's frame at the player's time, as the tweens make it: written once a frame, and only
/// when it differs, then applied to the world by the small systems after `make_tour_frame`. The
/// sidebar's focus notes read it too.
#[derive(Resource, Default)]
pub struct CurrentTourFrame {
    pub frame: Option<TourFrame>,
}

/// The tour played in the scene, needing no window: reloading, playing, seeking the tweens and
/// applying their frame. `TourPlugin` adds the keyboard and the sidebar; offscreen pictures and
/// films use this alone. Its systems need the `TourState` resource.
pub struct TourPlayerPlugin;

impl Plugin for TourPlayerPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<SceneLabels>()
            .init_resource::<TourHover>()
            .init_resource::<CurrentTourFrame>()
            .init_resource::<TweenedChapter>()
            .init_resource::<TourAppending>()
            .init_resource::<crate::render::overlay::hover::Explanations>()
            .add_message::<RequestRedraw>()
            .add_systems(
                Update,
                (
                    follow_language,
                    (reload_tour_file, advance_tour, spawn_chapter_tweens, seek_tour_tweens, make_tour_frame).chain(),
                    switch_tour_model,
                    apply_tour_appends,
                    apply_tour_sampling,
                    apply_tour_switch_off,
                    apply_tour_gradients,
                )
                    .chain()
                    .in_set(FrameStep::Play),
            )
            .add_systems(
                Update,
                (apply_tour_blocks, apply_tour_focus, apply_tour_camera, apply_tour_labels)
                    .chain()
                    .in_set(FrameStep::Style),
            )
            .add_plugins((crate::render::tour::compute::ComputePlugin, crate::render::tour::panel::FocusNotesPlugin));
    }
}

/// The chapter whose tweens are spawned, and how many times tweens were spawned.
#[derive(Resource, Default)]
struct TweenedChapter {
    timeline: Option<ChapterTimeline>,
    spawns: u64,
}

/// Spawns the open chapter's sequences (despawning the last chapter's) when another chapter
/// opens or the file reloads.
fn spawn_chapter_tweens(
    mut commands: Commands,
    tour: Res<TourState>,
    mut spawned: ResMut<TweenedChapter>,
    old: Query<Entity, With<TourTweens>>,
) {
    let timeline = tour.timeline();
    if spawned.timeline.as_ref() == Some(timeline) {
        return;
    }
    for entity in &old {
        commands.entity(entity).despawn();
    }
    spawned.timeline = Some(timeline.clone());
    spawned.spawns += 1;
    let (camera, camera_tweens, blocks) = chapter_tweens(timeline);
    commands.spawn((Name::new("tour camera"), camera, camera_tweens));
    commands.spawn_batch(blocks);
}

/// Seeks every sequence of the chapter to the player's time whenever it moved (or the sequences
/// are new): the values they write are those at that time, whatever time they were seeked to before.
fn seek_tour_tweens(
    tour: Res<TourState>,
    spawned: Res<TweenedChapter>,
    mut seeked: Local<Option<(f32, u64)>>,
    mut camera: Query<(&mut TourTweens, &mut TweenedCamera)>,
    mut blocks: Query<(&mut TourTweens, &mut TweenedBlock), Without<TweenedCamera>>,
) {
    let time = tour.player.time;
    if *seeked == Some((time, spawned.spawns)) {
        return;
    }
    *seeked = Some((time, spawned.spawns));
    for (mut tweens, mut target) in &mut camera {
        for sequence in &mut tweens.0 {
            seek(sequence, time, target.reborrow());
        }
    }
    for (mut tweens, mut target) in &mut blocks {
        for sequence in &mut tweens.0 {
            seek(sequence, time, target.reborrow());
        }
    }
}

/// The frame the tweens make: the camera and the blocks as they wrote them, the rest (focus,
/// labels, the model, the step) from the chapter's events. None until the tweens are spawned.
fn tweened_frame(
    tour: &TourState,
    camera: Option<&TweenedCamera>,
    blocks: impl Iterator<Item = TweenedBlock>,
) -> Option<TourFrame> {
    let mut frame = tour.frame();
    frame.camera = camera?.0;
    frame.blocks = blocks.filter(|tweened| tweened.model == frame.model_index).map(|b| (b.block, b.state)).collect();
    Some(frame)
}

/// Raised by the thread watching the open tour file (`watch_tour_file`) when its text changed.
#[derive(Resource, Clone, Default)]
pub struct TourFileChanged(Arc<AtomicBool>);

fn reload_tour_file(
    mut tour: ResMut<TourState>,
    changed: Option<Res<TourFileChanged>>,
    mut redraw: MessageWriter<RequestRedraw>,
) {
    let Some(changed) = changed else { return };
    if !changed.0.swap(false, Ordering::Relaxed) {
        return;
    }
    match tour.poll_file() {
        Polled::Reloaded => info!("reloaded {}", tour.compiled.file),
        Polled::Broken => warn!("{} does not load; the last good version stays in use", tour.compiled.file),
        Polled::Unchanged => return,
    }
    redraw.write(RequestRedraw);
}

/// The app sleeps while nothing moves, so it cannot poll the tour file itself: a thread reads it
/// every `RELOAD_POLL` and, when the text changed, raises `TourFileChanged` and wakes the app.
/// Reading a small file twice a second costs nothing measurable.
#[cfg(not(target_arch = "wasm32"))]
fn watch_tour_file(
    mut commands: Commands,
    tour: Res<TourState>,
    proxy: Option<Res<bevy::winit::EventLoopProxyWrapper>>,
) {
    let Some(path) = tour.live.as_ref().map(|live| live.path().to_path_buf()) else {
        return;
    };
    let changed = TourFileChanged::default();
    commands.insert_resource(changed.clone());
    let proxy = proxy.map(|proxy| (*proxy).clone());
    let mut last = std::fs::read(&path).ok();
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(RELOAD_POLL);
            // A file removed counts as a change too: the panel says it is gone.
            let now = std::fs::read(&path).ok();
            if now != last {
                last = now;
                changed.0.store(true, Ordering::Relaxed);
                if let Some(proxy) = &proxy
                    && proxy.send_event(bevy::winit::WinitUserEvent::WakeUp).is_err()
                {
                    // The app has ended.
                    return;
                }
            }
        }
    });
}

fn advance_tour(mut tour: ResMut<TourState>, time: Res<Time<Real>>, mut redraw: MessageWriter<RequestRedraw>) {
    if !tour.player.playing {
        return;
    }
    // Real time: a tour plays at its own pace whatever the frame rate; capped so that a stall
    // (a pipeline compiling) doesn't skip an animation.
    let seconds = time.delta_secs().min(0.1);
    tour.advance(seconds);
    redraw.write(RequestRedraw);
}

/// The style a block has in a tour frame; `hovered` adds the link highlight, `window` the cells
/// a `Compute` shows.
pub fn block_style(state: BlockState, cells: [u32; 3], hovered: bool, window: Option<RevealWindow>) -> BlockStyle {
    let revealed = revealed_cells(cells, state.reveal);
    let total: u64 = cells.iter().map(|&n| n as u64).product();
    let window = window.filter(|window| window.revealed > 0 && revealed < total);
    BlockStyle {
        opacity: state.opacity.clamp(0.0, 1.0),
        highlight: if hovered { state.highlight.max(HOVER_HIGHLIGHT) } else { state.highlight.clamp(0.0, 1.0) },
        show_values: revealed > 0 || window.is_some(),
        revealed_cells: (revealed < total).then(|| revealed.min(u32::MAX as u64) as u32),
        focus: None,
        window,
    }
}

/// A tour's `Focus` on some cells, as the shader takes it.
pub fn focus_cells(cells: Cells, strength: f32) -> Focus {
    match cells {
        Cells::All => Focus::cells([None, None, None], strength),
        Cells::Column(x) => Focus::cells([Some(x), None, None], strength),
        Cells::Columns(first, last) => Focus { cell: [Some(first), None, None], columns: last + 1 - first, strength },
        Cells::Row(y) => Focus::cells([None, Some(y), None], strength),
        Cells::Cell(x, y) => Focus::cells([Some(x), Some(y), None], strength),
    }
}

/// A block's transform, moved by `offset` and scaled by `scale` about its centre.
pub fn block_transform(layout: &Layout, block: usize, state: BlockState) -> Transform {
    let block = &layout.blocks[block];
    let min = Vec3::from(block.position);
    let mut transform = box_transform(min, Vec3::from(block.max()));
    transform.translation += Vec3::from(state.offset);
    transform.scale *= state.scale.max(0.0);
    transform
}

/// Writes the frame the tweens make into `CurrentTourFrame` when it changed.
fn make_tour_frame(
    tour: Res<TourState>,
    tweened_camera: Query<&TweenedCamera>,
    tweened_blocks: Query<&TweenedBlock>,
    mut applied: ResMut<CurrentTourFrame>,
) {
    let frame = tweened_frame(&tour, tweened_camera.iter().next(), tweened_blocks.iter().copied());
    if frame.is_some() && applied.frame != frame {
        applied.frame = frame;
    }
}

/// The scene when it shows the frame's model; None while another model is shown or being spawned.
fn scene_of<'a>(frame: &TourFrame, scene: &'a BlockScene) -> Option<&'a BlockScene> {
    (scene.layout.config.name == frame.model).then_some(scene)
}

/// The tour moved to another model: the scene is respawned with it. A model the reader picked in
/// the switcher stays until the tour's frame changes.
fn switch_tour_model(
    applied: Res<CurrentTourFrame>,
    tour: Res<TourState>,
    mut source: ResMut<SceneSource>,
    mut redraw: MessageWriter<RequestRedraw>,
) {
    let Some(frame) = &applied.frame else { return };
    if !applied.is_changed() || source.config.name == frame.model {
        return;
    }
    match tour.scene_for(&frame.model) {
        Ok(new_source) => {
            *source = new_source;
            redraw.write(RequestRedraw);
        }
        Err(message) => error!("tour model '{}': {message}", frame.model),
    }
}

/// Each block's style and transform as the frame (and the links hovered in the sidebar) says,
/// when either changed or a new scene appeared; blocks the tour no longer touches go back to
/// their defaults. The focus is left to `apply_tour_focus` and the pointer.
fn apply_tour_blocks(
    applied: Res<CurrentTourFrame>,
    computed: Res<ComputeView>,
    scene: Res<BlockScene>,
    hover: Res<TourHover>,
    mut blocks: Query<(&mut BlockStyle, &mut Transform), Without<Camera3d>>,
    mut touched: Local<(usize, HashSet<usize>)>,
    mut redraw: MessageWriter<RequestRedraw>,
) {
    let Some(frame) = &applied.frame else { return };
    let Some(scene) = scene_of(frame, &scene) else { return };
    let new_scene = touched.0 != scene.id();
    if !new_scene && !applied.is_changed() && !hover.is_changed() && !computed.is_changed() {
        return;
    }
    if new_scene {
        *touched = (scene.id(), HashSet::new());
    }
    let count = scene.blocks.len();
    let hovered: HashSet<usize> = hover.blocks.iter().copied().filter(|&b| b < count).collect();
    let in_frame = frame.blocks.keys().chain(computed.windows.keys()).copied().filter(|&b| b < count);
    let all: HashSet<usize> = in_frame.chain(hovered.iter().copied()).chain(touched.1.iter().copied()).collect();
    let mut now_touched = HashSet::new();
    for block in all {
        let state = frame.block(block);
        let Ok((mut style, mut transform)) = blocks.get_mut(scene.blocks[block]) else { continue };
        let window = computed.windows.get(&block).copied();
        let wanted = BlockStyle {
            focus: style.focus,
            ..block_style(state, scene.layout.blocks[block].cells, hovered.contains(&block), window)
        };
        if *style != wanted {
            *style = wanted;
        }
        let wanted_transform = block_transform(&scene.layout, block, state);
        if *transform != wanted_transform {
            *transform = wanted_transform;
        }
        if state != BlockState::default() || hovered.contains(&block) || window.is_some() {
            now_touched.insert(block);
        }
    }
    touched.1 = now_touched;
    // The styles reach the GPU in the scene's systems; the app sleeps without a frame.
    redraw.write(RequestRedraw);
}

/// The tour's focus on its blocks: set when the frame changes, cleared from blocks it left. The
/// pointer's focus wins while it hovers; when it lets go of a block the tour points at, the
/// tour's focus comes back.
fn apply_tour_focus(
    applied: Res<CurrentTourFrame>,
    computed: Res<ComputeView>,
    scene: Res<BlockScene>,
    mut styles: Query<&mut BlockStyle>,
    mut focused: Local<(usize, HashSet<usize>)>,
    mut redraw: MessageWriter<RequestRedraw>,
) {
    let Some(frame) = &applied.frame else { return };
    let Some(scene) = scene_of(frame, &scene) else { return };
    let new_scene = focused.0 != scene.id();
    // A computation's lit operands win over a `Focus` on the same block: they are more precise.
    let wanted: BTreeMap<usize, Focus> = frame
        .focus
        .iter()
        .map(|focus| (focus.block, focus_cells(focus.cells, 1.0)))
        .chain(computed.focus.iter().map(|(&block, &cells)| (block, Focus::cells(cells, COMPUTE_FOCUS))))
        .filter(|&(block, _)| block < scene.blocks.len())
        .collect();
    let renew = new_scene || applied.is_changed() || computed.is_changed();
    for (&block, &focus) in &wanted {
        if let Ok(mut style) = styles.get_mut(scene.blocks[block])
            && (renew || style.focus.is_none())
            && style.focus != Some(focus)
        {
            style.focus = Some(focus);
            redraw.write(RequestRedraw);
        }
    }
    if !renew {
        return;
    }
    let left = if new_scene { HashSet::new() } else { std::mem::take(&mut focused.1) };
    for block in left.into_iter().filter(|block| !wanted.contains_key(block)) {
        if let Ok(mut style) = styles.get_mut(scene.blocks[block]) {
            style.focus = None;
        }
    }
    *focused = (scene.id(), wanted.into_keys().collect());
}

/// How strongly a computation lights its cells: a little under a `Focus`, so that only the
/// pointer's cell and the tour's own focus draw the connectors on to the cell (which would cover
/// a column as it is computed).
pub const COMPUTE_FOCUS: f32 = 0.9;

/// Frames in which a new scene's camera is set again: the model switcher's flight to a new
/// model's overview starts a frame later and must not win over the tour's camera.
const SETTLE_FRAMES: u32 = 2;

/// The camera follows the tour when the tour moved it (or a new scene appeared), not when only
/// the hovered links changed, so the reader's own view survives hovering links. The tour's pose
/// stops a flight under way.
fn apply_tour_camera(
    mut commands: Commands,
    applied: Res<CurrentTourFrame>,
    scene: Res<BlockScene>,
    mut camera: Query<(Entity, &mut ViewPoint), With<Camera3d>>,
    mut shown: Local<Option<(usize, f32, CameraPose)>>,
    mut settle: Local<u32>,
) {
    let Some(frame) = &applied.frame else { return };
    let Some(scene) = scene_of(frame, &scene) else { return };
    let now = (scene.id(), frame.time, frame.camera);
    if shown.is_none_or(|(id, ..)| id != now.0) {
        *settle = SETTLE_FRAMES;
    }
    if *shown == Some(now) && *settle == 0 {
        return;
    }
    *shown = Some(now);
    *settle = settle.saturating_sub(1);
    let Ok((entity, mut view)) = camera.single_mut() else { return };
    let pose = ViewPoint::from(frame.camera);
    if *view != pose {
        *view = pose;
    }
    commands.entity(entity).remove::<TweenAnim>();
}

/// Whether the tour is still appending predictions to its input: each waits for the model's pass
/// on the input before it, so a picture of the tour waits for this too.
#[derive(Resource, Clone, Copy, Debug, Default, PartialEq)]
pub struct TourAppending(pub bool);

/// The tour's input with as many of the model's predictions appended as the frame says, one
/// forward pass at a time. Going back in the tour drops the predictions made after that point; an
/// input the reader typed stands until the tour appends or goes back again.
fn apply_tour_appends(
    applied: Res<CurrentTourFrame>,
    tour: Res<TourState>,
    values: Res<SceneValues>,
    mut source: ResMut<SceneSource>,
    mut appending: ResMut<TourAppending>,
    mut done: Local<u32>,
) {
    let Some(frame) = &applied.frame else { return };
    if frame.model != source.config.name || (!appending.0 && frame.appended == *done) {
        return;
    }
    let input = tour.compiled.tour.input.as_deref();
    let Some(base) = input.and_then(|input| parse_letters(input, &source.config).ok()) else { return };
    let wanted = base.len() + frame.appended as usize;
    if let Some(next) = next_input(&base, &source.tokens, wanted, values.forward.as_deref(), &source.config) {
        source.tokens = next;
    }
    let pending = source.tokens.len() != wanted;
    appending.set_if_neq(TourAppending(pending));
    if !pending {
        *done = frame.appended;
    }
}

/// The input one pass closer to `base` with `wanted` tokens: `base` again if `current` is no
/// longer its continuation, cut back if longer, one prediction longer once the model has run on
/// `current` (`forward`); None while it runs, or when there is nothing to do.
pub fn next_input(
    base: &[usize],
    current: &[usize],
    wanted: usize,
    forward: Option<&crate::model::Activations>,
    config: &crate::model::GptConfig,
) -> Option<Vec<usize>> {
    if !current.starts_with(base) {
        return Some(base.to_vec());
    }
    match current.len().cmp(&wanted) {
        std::cmp::Ordering::Greater => Some(current[..wanted].to_vec()),
        std::cmp::Ordering::Equal => None,
        std::cmp::Ordering::Less => append_prediction(current, forward?, config).ok(),
    }
}

/// The tour's sampling reaches the model card's controls when the tour changes it; the reader's
/// own settings stand until then.
fn apply_tour_sampling(
    applied: Res<CurrentTourFrame>,
    controls: Option<ResMut<crate::render::overlay::sampling::SamplingControls>>,
    mut shown: Local<Option<crate::model::sampling::Sampling>>,
) {
    let (Some(frame), Some(mut controls)) = (&applied.frame, controls) else { return };
    if *shown != Some(frame.sampling) {
        *shown = Some(frame.sampling);
        if controls.sampling != frame.sampling {
            controls.sampling = frame.sampling;
        }
    }
}

/// The tour's parts switched off reach the model when the tour changes them; the reader's own
/// Alt-clicks stand until then.
fn apply_tour_switch_off(
    applied: Res<CurrentTourFrame>,
    mut source: ResMut<SceneSource>,
    mut shown: Local<Option<crate::model::ablation::Ablation>>,
) {
    let Some(frame) = &applied.frame else { return };
    if frame.model != source.config.name || shown.as_ref() == Some(&frame.switched_off) {
        return;
    }
    *shown = Some(frame.switched_off.clone());
    if source.ablation != frame.switched_off {
        source.ablation = frame.switched_off.clone();
    }
}

/// The tour's gradient mode reaches the model when the tour changes it; the reader's own switch on
/// the model card stands until then.
fn apply_tour_gradients(
    applied: Res<CurrentTourFrame>,
    mut source: ResMut<SceneSource>,
    mut shown: Local<Option<bool>>,
) {
    let Some(frame) = &applied.frame else { return };
    if frame.model != source.config.name || *shown == Some(frame.gradients) {
        return;
    }
    *shown = Some(frame.gradients);
    if source.training.is_some() != frame.gradients {
        source.training = frame.gradients.then(Default::default);
    }
}

fn apply_tour_labels(applied: Res<CurrentTourFrame>, mut labels: ResMut<SceneLabels>) {
    if let Some(frame) = &applied.frame
        && labels.0 != frame.labels
    {
        labels.0 = frame.labels;
    }
}

/// The tour in the window: the systems above, Space and Backspace, and the sidebar.
pub struct TourPlugin;

impl Plugin for TourPlugin {
    fn build(&self, app: &mut App) {
        app.add_plugins((TourPlayerPlugin, crate::render::tour::panel::PanelPlugin))
            .add_systems(Update, tour_keys.in_set(FrameStep::Input));
        #[cfg(not(target_arch = "wasm32"))]
        app.add_systems(Startup, watch_tour_file);
    }
}

/// The app's `Language` is the one choice of language: here, and only here, the tour is told it,
/// and translates at the same chapter and time.
fn follow_language(language: Res<Language>, mut tour: ResMut<TourState>, mut redraw: MessageWriter<RequestRedraw>) {
    if tour.language() != language.0 {
        tour.set_language(language.0);
        redraw.write(RequestRedraw);
    }
}

/// Space continues, Backspace goes back to the previous break, when egui is not taking the keys.
fn tour_keys(
    keys: Res<ButtonInput<KeyCode>>,
    mut tour: ResMut<TourState>,
    egui: Option<Res<bevy_egui::input::EguiWantsInput>>,
    mut redraw: MessageWriter<RequestRedraw>,
) {
    if egui.is_some_and(|egui| egui.wants_keyboard_input()) {
        return;
    }
    if keys.just_pressed(KeyCode::Space) {
        tour.continue_playing();
        redraw.write(RequestRedraw);
    }
    if keys.just_pressed(KeyCode::Backspace) {
        tour.back();
        redraw.write(RequestRedraw);
    }
}

/// Where a tour is at a chapter (by id) and a time (seconds into it): opened there, paused.
pub fn tour_at(file: &Path, chapter: Option<&str>, time: Option<f32>) -> Result<TourState, RenderError> {
    Ok(TourState(TourSession::open_at(file, chapter, time)?))
}
