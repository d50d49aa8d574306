//! The browser build: the same app in a `<canvas>` of `web/index.html`, its URL in place of a
//! command line.
//!
//! - `DeepLink`: `?model=gpt3`, `?input=CBABBC`, `?tour=nano-gpt&chapter=self-attention&step=2`,
//!   read at start and rewritten as the reader moves, so the address can be shared;
//! - `TouchCameraPlugin`: one finger pans, two fingers orbit and pinch-zoom, a tap clicks;
//! - in the browser only (`browser`): the page's entry point, the loading progress it reports to
//!   the page, and the forward pass, which there runs as an async Bevy task, since WebGPU gives out
//!   its device and reads buffers back only asynchronously.
//!
//! The page itself (`web/index.html`) checks for WebGPU before loading any of this, and says what
//! to do when the browser has none.

use bevy::input::InputSystems;
use bevy::prelude::*;
use bevy::window::{PrimaryWindow, RequestRedraw};
use bevy_egui::input::EguiWantsInput;
use bevy_tweening::TweenAnim;

use crate::layout::ANCHOR_FOV_Y_DEGREES;
use crate::render::camera::Click;
use crate::render::tour_player::TourState;
use crate::render::view::ViewPoint;
use crate::tour::{CompiledTour, Layouts, Tour};

/// Where the reader is, as the page's query string says it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeepLink {
    /// A model preset without a tour: `nano`, `gpt2`, `gpt2-xl`, `gpt3`.
    pub model: Option<String>,
    /// nano's input letters, such as `CBABBC`.
    pub input: Option<String>,
    pub tour: Option<String>,
    pub chapter: Option<String>,
    /// Counted from 1, as in the tour's sidebar.
    pub step: Option<usize>,
}

impl DeepLink {
    /// Reads `?tour=nano-gpt&chapter=self-attention&step=2` (the `?` is optional). Parameters it
    /// does not know are ignored, so links carrying other parameters still open.
    pub fn parse(query: &str) -> Result<DeepLink, String> {
        let mut link = DeepLink::default();
        for pair in query.trim_start_matches('?').split('&').filter(|pair| !pair.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = percent_decode(value);
            let value = || (!value.is_empty()).then(|| value.clone());
            match key {
                "model" => link.model = value(),
                "input" => link.input = value(),
                "tour" => link.tour = value(),
                "chapter" => link.chapter = value(),
                "step" => {
                    let text = value().unwrap_or_default();
                    match text.parse::<usize>() {
                        Ok(step) if step >= 1 => link.step = Some(step),
                        _ => return Err(format!("?step={text}: expected a step number, counting from 1")),
                    }
                }
                _ => {}
            }
        }
        if link.step.is_some() && link.chapter.is_none() {
            return Err("?step needs a ?chapter to count in".into());
        }
        Ok(link)
    }

    /// The query string for this link, `?` included, or empty when everything is at its default.
    pub fn to_query(&self) -> String {
        let step = self.step.map(|step| step.to_string());
        let pairs: Vec<String> = [
            ("tour", self.tour.as_ref()),
            ("chapter", self.chapter.as_ref()),
            ("step", step.as_ref()),
            ("model", self.model.as_ref()),
            ("input", self.input.as_ref()),
        ]
        .into_iter()
        .filter_map(|(key, value)| value.map(|value| format!("{key}={}", percent_encode(value))))
        .collect();
        if pairs.is_empty() { String::new() } else { format!("?{}", pairs.join("&")) }
    }
}

/// The tours a page can open by `?tour=ID`: every file of tours/, built in (the browser has no files).
pub const TOURS: [(&str, &str); 2] =
    [("nano-gpt", include_str!("../tours/nano-gpt.ron")), ("scale", include_str!("../tours/scale.ron"))];

/// The tour a link opens, paused at its chapter's step (the chapter's start without a step, the
/// first chapter without a chapter): `?tour=ID`, or the nano-gpt tour when the link names no
/// model either. None for `?model=NAME` alone, which opens a model without a tour.
pub fn open_tour(link: &DeepLink) -> Option<Result<TourState, String>> {
    if link.tour.is_none() && link.model.is_some() {
        return None;
    }
    let id = link.tour.as_deref().unwrap_or("nano-gpt");
    let Some((_, text)) = TOURS.iter().find(|(known, _)| *known == id) else {
        let known: Vec<&str> = TOURS.iter().map(|(known, _)| *known).collect();
        return Some(Err(format!("?tour={id}: there is no such tour; there are {}", known.join(", "))));
    };
    let file = format!("tours/{id}.ron");
    let mut layouts = Layouts::default();
    let opened = Tour::parse(text, &file)
        .map_err(|error| vec![error])
        .and_then(|tour| CompiledTour::compile(tour, &file, &mut layouts))
        .map_err(|errors| errors.iter().map(|error| error.to_string()).collect::<Vec<_>>().join("; "))
        .and_then(|compiled| {
            let (chapter, time) = match &link.chapter {
                Some(chapter) => compiled.deep_link(chapter, link.step)?,
                None => (0, 0.0),
            };
            Ok(TourState::new(compiled, None, layouts, chapter, time))
        });
    Some(opened)
}

/// Where the reader is in a tour, as a link: its id (the file's name), the chapter and the step
/// shown (from 1).
pub fn tour_link(tour: &TourState) -> DeepLink {
    let id = std::path::Path::new(&tour.compiled.file).file_stem().map(|stem| stem.to_string_lossy().into_owned());
    let timeline = tour.timeline();
    DeepLink {
        tour: id,
        chapter: Some(timeline.id.clone()),
        step: Some(timeline.step_at(tour.player.time) + 1),
        ..DeepLink::default()
    }
}

/// `%41` → `A` and `+` → space; a malformed escape is kept as it is.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let hex = |at: usize| bytes.get(at).and_then(|&b| (b as char).to_digit(16));
        match bytes[index] {
            b'%' if hex(index + 1).is_some() && hex(index + 2).is_some() => {
                decoded.push((hex(index + 1).unwrap() * 16 + hex(index + 2).unwrap()) as u8);
                index += 3;
            }
            b'+' => {
                decoded.push(b' ');
                index += 1;
            }
            byte => {
                decoded.push(byte);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (byte as char).to_string(),
            _ => format!("%{byte:02X}"),
        })
        .collect()
}

/// A touch that ends within this many pixels of where it started is a tap.
pub const TAP_SLOP_PX: f32 = 10.0;
/// Two taps this close in time and place are a double tap (which, as a double click, flies to a block).
pub const DOUBLE_TAP: std::time::Duration = std::time::Duration::from_millis(400);

/// Touch controls for the camera, the same moves as the mouse's: one finger pans (left drag), two
/// fingers orbit with their midpoint (right drag) and zoom as they spread or pinch (wheel), and a
/// tap is a left click, which picks.
pub struct TouchCameraPlugin;

impl Plugin for TouchCameraPlugin {
    fn build(&self, app: &mut App) {
        // Before `Update`, so that a tap's click and the picking of the cell under the finger (see
        // `render::pick`) meet in the same frame.
        app.init_resource::<TouchGesture>().add_systems(PreUpdate, touch_camera.after(InputSystems));
    }
}

/// The gesture in progress: whether a second finger took part (then lifting is not a tap), where
/// each finger was when the camera last followed it, and the last tap, for double taps.
#[derive(Resource, Default)]
struct TouchGesture {
    multi_touch: bool,
    /// Bevy's `Touch::previous_position` moves on only in frames that bring touch events, so a
    /// frame without one would repeat the last move: the camera follows these instead.
    followed: std::collections::HashMap<u64, Vec2>,
    last_tap: Option<(Vec2, std::time::Duration)>,
}

impl TouchGesture {
    /// Where `touch` was when the camera last followed it; where it is now for a new finger.
    fn previous(&self, touch: &bevy::input::touch::Touch) -> Vec2 {
        self.followed.get(&touch.id()).copied().unwrap_or(touch.position())
    }
}

/// What two fingers did between two frames: how far their midpoint moved (pixels), and how much
/// closer the camera should get (their previous spacing over their current: below 1 as they spread).
pub fn two_finger_motion(previous: [Vec2; 2], current: [Vec2; 2]) -> (Vec2, f32) {
    let midpoint = |[a, b]: [Vec2; 2]| (a + b) / 2.0;
    let spacing = |[a, b]: [Vec2; 2]| a.distance(b).max(1.0);
    (midpoint(current) - midpoint(previous), spacing(previous) / spacing(current))
}

/// The view moved sideways so that what is under a finger stays under it, `window_height` pixels tall.
pub fn pan(view: ViewPoint, delta_px: Vec2, window_height: f32) -> ViewPoint {
    let (right, up, _) = view_axes(&view);
    let world_per_px = 2.0 * view.distance() * (ANCHOR_FOV_Y_DEGREES.to_radians() / 2.0).tan() / window_height.max(1.0);
    let shift = (-delta_px.x * right + delta_px.y * up) * world_per_px;
    ViewPoint { eye: view.eye + shift, target: view.target + shift }
}

/// The eye moved around the target: 0.3° per pixel, as the right mouse button, elevation within ±87°.
pub fn orbit(view: ViewPoint, delta_px: Vec2) -> ViewPoint {
    let offset = view.eye - view.target;
    let radius = offset.length();
    let yaw = offset.x.atan2(offset.z) - delta_px.x * 0.3_f32.to_radians();
    let elevation = ((offset.y / radius).asin() + delta_px.y * 0.3_f32.to_radians()).clamp(-87f32.to_radians(), 87f32.to_radians());
    ViewPoint {
        eye: view.target + radius * Vec3::new(elevation.cos() * yaw.sin(), elevation.sin(), elevation.cos() * yaw.cos()),
        target: view.target,
    }
}

/// Eye and target moved `factor` of their way towards `focus` (below 1 is closer), so that `focus`
/// stays where it is on screen, as the wheel zooms about the cursor; never nearer than 0.5.
pub fn zoom(view: ViewPoint, focus: Vec3, factor: f32) -> ViewPoint {
    let eye = focus + (view.eye - focus) * factor;
    let target = focus + (view.target - focus) * factor;
    if (eye - target).length() > 0.5 { ViewPoint { eye, target } } else { view }
}

fn view_axes(view: &ViewPoint) -> (Vec3, Vec3, Vec3) {
    let forward = (view.target - view.eye).normalize_or(Vec3::NEG_Z);
    let right = forward.cross(Vec3::Y).normalize_or(Vec3::X);
    (right, right.cross(forward), forward)
}

#[allow(clippy::too_many_arguments)]
fn touch_camera(
    mut commands: Commands,
    touches: Res<Touches>,
    time: Res<Time<Real>>,
    egui: Option<Res<EguiWantsInput>>,
    window: Single<&Window, With<PrimaryWindow>>,
    camera: Single<(Entity, &Camera, &GlobalTransform, &mut ViewPoint), With<Camera3d>>,
    mut gesture: ResMut<TouchGesture>,
    mut clicks: MessageWriter<Click>,
    mut redraw: MessageWriter<RequestRedraw>,
) {
    let down: Vec<_> = touches.iter().collect();
    if egui.is_some_and(|egui| egui.wants_any_pointer_input()) {
        // A finger on the panel moves nothing, and moves nothing when it comes back to the scene.
        gesture.followed = down.iter().map(|touch| (touch.id(), touch.position())).collect();
        return;
    }
    if down.len() >= 2 {
        gesture.multi_touch = true;
    }
    let (entity, camera, camera_transform, mut view) = camera.into_inner();
    let moved = match down.as_slice() {
        [finger] if !gesture.multi_touch => {
            let delta = finger.position() - gesture.previous(finger);
            (delta != Vec2::ZERO).then(|| pan(*view, delta, window.height()))
        }
        [a, b, ..] => {
            let (midpoint_delta, factor) =
                two_finger_motion([gesture.previous(a), gesture.previous(b)], [a.position(), b.position()]);
            // Zoom about what is between the fingers, at the target's depth.
            let (_, _, forward) = view_axes(&view);
            let focus = camera
                .viewport_to_world(camera_transform, (a.position() + b.position()) / 2.0)
                .ok()
                .and_then(|ray| Some(ray.get_point(ray.intersect_plane(view.target, InfinitePlane3d::new(forward))?)))
                .unwrap_or(view.target);
            (midpoint_delta != Vec2::ZERO || factor != 1.0).then(|| zoom(orbit(*view, midpoint_delta), focus, factor))
        }
        _ => None,
    };
    gesture.followed = down.iter().map(|touch| (touch.id(), touch.position())).collect();
    if let Some(moved) = moved {
        // A finger on the scene takes over from a flight, as the mouse does.
        commands.entity(entity).remove::<TweenAnim>();
        *view = moved;
        redraw.write(RequestRedraw);
    }
    for touch in touches.iter_just_released() {
        let tap = !gesture.multi_touch && touch.distance().length() <= TAP_SLOP_PX;
        if tap {
            let now = time.elapsed();
            let position = touch.position();
            let double = gesture
                .last_tap
                .is_some_and(|(at, when)| at.distance(position) <= 2.0 * TAP_SLOP_PX && now - when <= DOUBLE_TAP);
            gesture.last_tap = if double { None } else { Some((position, now)) };
            clicks.write(Click { position, button: MouseButton::Left, double });
        }
    }
    if touches.iter().next().is_none() {
        gesture.multi_touch = false;
    }
}

#[cfg(target_arch = "wasm32")]
pub use browser::{main, spawn_forward_task};

#[cfg(target_arch = "wasm32")]
mod browser {
    use std::sync::Arc;
    use std::sync::mpsc::{Receiver, Sender, TryRecvError};

    use bevy::prelude::*;
    use bevy::tasks::{AsyncComputeTaskPool, TaskPool};
    use bevy::window::RequestRedraw;
    use bevy_egui::{EguiContext, EguiPreUpdateSet, egui};
    use burn::backend::wgpu::graphics::AutoGraphicsApi;
    use burn::backend::wgpu::{RuntimeOptions, WgpuDevice, init_setup_async};
    use wasm_bindgen::prelude::*;

    use super::{DeepLink, TouchCameraPlugin, open_tour, tour_link};
    use crate::model::vocab::token_letter;
    use crate::model::weights::{DEFAULT_MODEL_PATH, WEB_DEFAULT_MODEL};
    use crate::model::{Activations, GpuBackend, Gpt, Recorder, Weights, token_tensor};
    use crate::render::pick::{Hovered, Pinned};
    use crate::render::scene::{BlockScene, SceneSource, ValuesState};
    use crate::render::stats::RenderStats;
    use crate::render::tour_player::{TourPlugin, TourState};
    use crate::render::values::{ForwardRequest, ForwardResult};
    use crate::render::view::ViewPoint;
    use crate::render::{self, DEFAULT_INPUT};

    #[wasm_bindgen]
    extern "C" {
        /// `llmviz.status(stage, detail)`, defined by web/index.html: the loading overlay, and
        /// `document.body.dataset.state` for the browser test.
        #[wasm_bindgen(js_namespace = llmviz, js_name = status)]
        fn page_status(stage: &str, detail: &str);

        /// `llmviz.data(key, value)`: sets `document.body.dataset[key]`.
        #[wasm_bindgen(js_namespace = llmviz, js_name = data)]
        fn page_data(key: &str, value: &str);

        /// `llmviz.defaultModel()`: the bytes of models/nano-sort.safetensors, which the page
        /// downloads beside the .wasm (see `WEB_DEFAULT_MODEL`).
        #[wasm_bindgen(js_namespace = llmviz, js_name = defaultModel)]
        fn page_default_model() -> js_sys::Uint8Array;
    }

    /// The page's entry point (the binary's `main` in the browser), as `render::app::main` natively:
    /// the tour the address names (the nano-gpt tour by default) at its chapter and step, or with
    /// `?model=NAME` that model without a tour. A link that does not open says why in the page and
    /// opens the default.
    pub fn main() {
        let model = page_default_model().to_vec();
        if let Err(problem) = Weights::parse(std::path::Path::new(DEFAULT_MODEL_PATH), &model) {
            page_status("failed", &problem.to_string());
            return;
        }
        WEB_DEFAULT_MODEL.set(model).expect("main runs once");
        let query = web_sys::window().and_then(|window| window.location().search().ok()).unwrap_or_default();
        let link = DeepLink::parse(&query).unwrap_or_else(|problem| {
            page_status("warning", &problem);
            DeepLink::default()
        });
        let tour = match open_tour(&link) {
            Some(Ok(tour)) => Some(tour),
            Some(Err(problem)) => {
                page_status("warning", &problem);
                open_tour(&DeepLink::default()).and_then(Result::ok)
            }
            None => None,
        };
        let (model, input, view) = match &tour {
            Some(tour) => {
                let frame = tour.frame();
                let input = if frame.model == "nano" { tour.compiled.tour.input.clone() } else { None };
                let view = ViewPoint { eye: Vec3::from(frame.camera.eye), target: Vec3::from(frame.camera.target) };
                (frame.model, input, Some(view))
            }
            None => (link.model.clone().unwrap_or_else(|| "nano".into()), link.input.clone(), None),
        };
        let source = render::scene_source(&model, input.as_deref()).unwrap_or_else(|problem| {
            page_status("warning", &problem);
            render::scene_source("nano", None).expect("nano with its built-in weights opens")
        });
        let view = view.unwrap_or_else(|| crate::layout::build(&source.config).overview.into());
        page_status("starting", "Starting the renderer");
        let window = Window {
            title: "llmviz: how a GPT works".into(),
            canvas: Some("#llmviz".into()),
            // The page fills the window, the canvas fills the page and follows its size and the
            // device pixel ratio.
            fit_canvas_to_parent: true,
            // Keep the browser's own keys (reload, find, zoom); the page stops the context menu
            // and scrolling itself.
            prevent_default_event_handling: false,
            ..default()
        };
        let mut app = render::app::app(source, view, window);
        app.add_plugins(TouchCameraPlugin)
            .add_systems(PreUpdate, set_page_fonts.after(EguiPreUpdateSet::InitContexts).before(EguiPreUpdateSet::BeginPass))
            .add_systems(Update, (report_loading, follow_in_url, report_to_page));
        if let Some(tour) = tour {
            app.add_plugins(TourPlugin).insert_resource(tour);
        }
        app.run();
    }

    /// egui's default fonts less its two emoji fonts, cut down to the characters llmviz writes (see
    /// web/fonts/README.md): Ubuntu Light for text, Hack for numbers and the symbols Ubuntu lacks.
    fn page_fonts() -> egui::FontDefinitions {
        let mut fonts = egui::FontDefinitions::empty();
        let ubuntu = egui::FontData::from_static(include_bytes!("../web/fonts/Ubuntu-Light-derivative-llmviz.ttf"));
        let hack = egui::FontData::from_static(include_bytes!("../web/fonts/Hack-Regular.ttf"));
        fonts.font_data.insert("Ubuntu-Light".into(), Arc::new(ubuntu));
        fonts.font_data.insert("Hack".into(), Arc::new(hack));
        fonts.families.insert(egui::FontFamily::Proportional, vec!["Ubuntu-Light".into(), "Hack".into()]);
        fonts.families.insert(egui::FontFamily::Monospace, vec!["Hack".into(), "Ubuntu-Light".into()]);
        fonts
    }

    /// The fonts must be in place before the context's first pass, which would have none.
    fn set_page_fonts(mut contexts: Query<&mut EguiContext, Added<EguiContext>>) {
        for mut context in &mut contexts {
            context.get_mut().set_fonts(page_fonts());
        }
    }

    /// What the page shows while loading, in order; `ready` hides the overlay.
    fn loading_stage(scene: Option<&BlockScene>, stats: &crate::render::stats::FrameStats) -> (&'static str, String) {
        let Some(scene) = scene else { return ("starting", "Building the scene".into()) };
        match &scene.values {
            ValuesState::Failed(message) => return ("failed", message.clone()),
            _ if stats.waiting_pipelines > 0 || stats.batches == 0 => {
                return ("shaders", format!("Compiling shaders ({} to go)", stats.waiting_pipelines));
            }
            ValuesState::Computing(_) => return ("model", "Running the model on the GPU".into()),
            ValuesState::Ready | ValuesState::StructureOnly => {}
        }
        ("ready", format!("{} blocks", scene.blocks.len()))
    }

    /// Tells the page each new loading stage. Until the scene is ready, frames keep coming, so
    /// that compiling pipelines and the forward pass are picked up without waiting for input.
    fn report_loading(
        scene: Option<Res<BlockScene>>,
        stats: Res<RenderStats>,
        mut reported: Local<String>,
        mut settled: Local<u32>,
        mut redraw: MessageWriter<RequestRedraw>,
    ) {
        let (mut stage, detail) = loading_stage(scene.as_deref(), &stats.get());
        // A few drawn frames in a row before `ready`: the first drawn frame may still be empty.
        *settled = if stage == "ready" { *settled + 1 } else { 0 };
        if stage == "ready" && *settled < 3 {
            stage = "drawing";
        }
        if stage != "ready" && stage != "failed" {
            redraw.write(RequestRedraw);
        }
        let line = format!("{stage}\n{detail}");
        if *reported != line {
            page_status(stage, &detail);
            *reported = line;
        }
    }

    /// Keeps the address bar on what is shown, so that the address can be shared: the tour's
    /// chapter and step, or the model and its input.
    fn follow_in_url(source: Res<SceneSource>, tour: Option<Res<TourState>>, mut written: Local<Option<String>>) {
        let query = match &tour {
            Some(tour) => tour_link(tour).to_query(),
            None => link_of_source(&source).to_query(),
        };
        if written.as_deref() == Some(query.as_str()) {
            return;
        }
        if let Some(window) = web_sys::window()
            && let Ok(path) = window.location().pathname()
            && let Ok(history) = window.history()
        {
            let _ = history.replace_state_with_url(&JsValue::NULL, "", Some(&format!("{path}{query}")));
        }
        *written = Some(query);
    }

    /// The model, when not nano, and nano's input, when not the default.
    fn link_of_source(source: &SceneSource) -> DeepLink {
        let mut link = DeepLink::default();
        if source.config.name != "nano" {
            link.model = Some(source.config.name.clone());
        } else if source.weights.is_some() {
            let input: String = source.tokens.iter().map(|&token| token_letter(token)).collect();
            if input != DEFAULT_INPUT {
                link.input = Some(input);
            }
        }
        link
    }

    /// What the page (and the browser test, which cannot read the canvas's widgets) can know of the
    /// app, as `data-` attributes of the page's body: the hovered cell, how many cards are pinned,
    /// and the tour's time.
    fn report_to_page(
        hovered: Option<Res<Hovered>>,
        pinned: Option<Res<Pinned>>,
        scene: Option<Res<BlockScene>>,
        tour: Option<Res<TourState>>,
        mut reported: Local<Vec<String>>,
    ) {
        let hovered = match (hovered.as_deref().and_then(|hovered| hovered.cell), &scene) {
            (Some(cell), Some(scene)) => {
                let [x, y, z] = cell.cell;
                format!("{}[{x},{y},{z}]", scene.layout.blocks[cell.block].name)
            }
            _ => String::new(),
        };
        let pinned = pinned.map(|pinned| pinned.cells.len()).unwrap_or_default().to_string();
        let tour = tour.map(|tour| format!("{:.1}{}", tour.player.time, if tour.player.playing { " playing" } else { "" }));
        let now = [("hovered", hovered), ("pinned", pinned), ("tourTime", tour.unwrap_or_default())];
        reported.resize(now.len(), "\0".into());
        for ((key, value), reported) in now.into_iter().zip(reported.iter_mut()) {
            if *reported != value {
                page_data(key, &value);
                *reported = value;
            }
        }
    }

    /// The browser's forward-pass worker (see `render::values::ForwardWorker`): an async task on
    /// Bevy's compute pool, which in the browser runs on the page's event loop. It sets up burn's
    /// WebGPU device, then runs each newest request and reads the activations back asynchronously.
    pub fn spawn_forward_task(requests: Receiver<ForwardRequest>, results: Sender<ForwardResult>) {
        AsyncComputeTaskPool::get_or_init(TaskPool::default).spawn(forward_task(requests, results)).detach();
    }

    async fn forward_task(requests: Receiver<ForwardRequest>, results: Sender<ForwardResult>) {
        // WebGPU gives out adapters and devices only asynchronously: burn's client must exist
        // before the first tensor is made on `WgpuDevice::default()`.
        init_setup_async::<AutoGraphicsApi>(&WgpuDevice::default(), RuntimeOptions::default()).await;
        let mut loaded: Option<(Arc<Weights>, Gpt<GpuBackend>)> = None;
        loop {
            // Only the newest input matters: requests overtaken while a pass ran are skipped.
            let mut newest = None;
            loop {
                match requests.try_recv() {
                    Ok(request) => newest = Some(request),
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => return,
                }
            }
            let Some(request) = newest else {
                sleep_ms(20).await;
                continue;
            };
            if !loaded.as_ref().is_some_and(|(weights, _)| Arc::ptr_eq(weights, &request.weights)) {
                loaded = Some((request.weights.clone(), Gpt::from_weights(&request.weights, &WgpuDevice::default())));
            }
            let (_, model) = loaded.as_ref().expect("loaded above");
            let activations = Ok(forward(model, &request.tokens).await);
            if results.send(ForwardResult { generation: request.generation, activations }).is_err() {
                return;
            }
        }
    }

    /// `LoadedModel::activations`, with the read back awaited instead of blocked on.
    async fn forward(model: &Gpt<GpuBackend>, tokens: &[usize]) -> Activations {
        let started = bevy::platform::time::Instant::now();
        let mut recorder = Recorder::on();
        model.forward(token_tensor::<GpuBackend>(tokens, &WgpuDevice::default()), &mut recorder);
        let activations = recorder.finish_async(&model.config, tokens).await;
        info!("forward pass of {} tokens on WebGPU: {:.0} ms", tokens.len(), started.elapsed().as_secs_f32() * 1000.0);
        activations
    }

    /// A timer on the page's event loop.
    async fn sleep_ms(milliseconds: i32) {
        let promise = js_sys::Promise::new(&mut |resolve, _| {
            if let Some(window) = web_sys::window() {
                let _ = window.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, milliseconds);
            }
        });
        let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
    }
}
