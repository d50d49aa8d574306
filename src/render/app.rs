//! The windowed app: the scene, its level of detail, the camera controls and the egui overlays.
//! It redraws only when something happens (reactive winit, `idle`): input, a flight, a playing
//! tour, a running forward pass.

use bevy::prelude::*;
use bevy::render::view::screenshot::{Screenshot, ScreenshotCaptured, save_to_disk};
use bevy::window::RequestRedraw;

use super::RenderError;
use super::camera::CameraPlugin;
use super::gpu::{GpuFailure, GpuPlugin};
use super::hover::HoverPlugin;
use super::idle::IdlePlugin;
use super::lod::LodPlugin;
use super::pick::PickPlugin;
use super::scene::{BlockScene, ScenePlugin, SceneSource, SceneValues};
use super::stats::RenderStatsPlugin;
use super::tour_player::{TourLink, TourPlugin, TourState};
use super::ui::UiPlugin;
use super::view::{BACKGROUND, CameraChoice, ViewPoint, scene_camera};
use crate::layout;

/// The app as it opens: the tour `link` names (the nano-gpt tour by default) ready at its chapter
/// and step, on nano with its weights. With LLMVIZ_WINDOW_CAMERA and no tour named, no tour.
pub fn run_tour_app(link: TourLink) -> Result<(), RenderError> {
    if link == TourLink::default() && std::env::var_os(CAMERA_ENV).is_some() {
        return run_scene_app(super::scene_source("nano", None)?);
    }
    let tour = TourState::open(&link)?;
    let frame = tour.frame();
    let input = if frame.model == "nano" { tour.compiled.tour.input.clone() } else { None };
    let source = super::scene_source(&frame.model, input.as_deref())
        .map_err(|e| RenderError::Setup(format!("{}: {e}", tour.compiled.file)))?;
    let view = ViewPoint { eye: Vec3::from(frame.camera.eye), target: Vec3::from(frame.camera.target) };
    super::gpu::require_adapter()?;
    let window = Window { title: format!("llmviz: {}", tour.compiled.tour.title), ..default() };
    let mut app = app(source, view, window);
    if let Some(language) = link.language {
        app.insert_resource(super::language::Language(language));
    }
    app.add_plugins(TourPlugin)
        .insert_resource(tour)
        .add_systems(Update, screenshot_window_and_exit.run_if(|| std::env::var_os(SCREENSHOT_ENV).is_some()));
    run(app)
}

/// The app on a scene without a tour.
pub fn run_scene_app(source: SceneSource) -> Result<(), RenderError> {
    let layout = layout::build(&source.config);
    // The opening view; LLMVIZ_WINDOW_CAMERA=block:NAME opens on a block instead (with
    // LLMVIZ_WINDOW_SCREENSHOT, to look at the overlays from there).
    let view: ViewPoint = match std::env::var(CAMERA_ENV) {
        Ok(choice) => CameraChoice::parse(&choice)?.view_point(&layout)?,
        Err(_) => layout.overview.into(),
    };
    super::gpu::require_adapter()?;
    let window = Window { title: "llmviz: how a GPT works".into(), ..default() };
    let mut app = app(source, view, window);
    app.add_systems(Update, screenshot_window_and_exit.run_if(|| std::env::var_os(SCREENSHOT_ENV).is_some()));
    run(app)
}

/// Runs the app until its window closes; a lost GPU device ends it with the reason (Bevy cannot
/// recreate its device, so the window could show nothing more).
fn run(mut app: App) -> Result<(), RenderError> {
    let failure = app.world().resource::<GpuFailure>().clone();
    let exit = app.run();
    failure.check()?;
    match exit {
        AppExit::Success => Ok(()),
        AppExit::Error(code) => Err(RenderError::Stopped(code.get())),
    }
}

/// The app in `window`, opening on `view`: the same in a native window and in the browser's
/// canvas, which each add how they start and stop.
pub fn app(source: SceneSource, view: ViewPoint, window: Window) -> App {
    let mut app = App::new();
    let plugins = DefaultPlugins
        .set(WindowPlugin { primary_window: Some(window), ..default() })
        .set(super::gpu::render_plugin())
        .set(super::material::lean_pbr());
    app.add_plugins(plugins)
        .add_plugins(GpuPlugin)
        .add_plugins((
            ScenePlugin,
            LodPlugin,
            RenderStatsPlugin,
            CameraPlugin,
            UiPlugin,
            PickPlugin,
            HoverPlugin,
            IdlePlugin,
        ))
        .add_plugins((super::language::LanguagePlugin, super::sampling::SamplingPlugin))
        .insert_resource(ClearColor(BACKGROUND))
        .insert_resource(source)
        .add_systems(Startup, move |mut commands: Commands| {
            commands.spawn(scene_camera(view));
        });
    #[cfg(not(target_arch = "wasm32"))]
    {
        let checkpoints =
            super::live_input::TrainingCheckpoints::load(std::path::Path::new(super::live_input::CHECKPOINT_DIR));
        if let Some(why) = &checkpoints.unavailable {
            warn!("{why}");
        }
        app.insert_resource(checkpoints);
    }
    app
}

/// `LLMVIZ_WINDOW_SCREENSHOT=FILE.png llmviz`: once the scene is drawn, saves the window (3D and
/// overlays) and exits. For checking the windowed app where no one looks at it (CI, Xvfb).
pub const SCREENSHOT_ENV: &str = "LLMVIZ_WINDOW_SCREENSHOT";
pub const CAMERA_ENV: &str = "LLMVIZ_WINDOW_CAMERA";

fn screenshot_window_and_exit(
    mut commands: Commands,
    scene: Option<Res<BlockScene>>,
    values: Res<SceneValues>,
    stats: Res<super::stats::RenderStats>,
    mut settled: Local<u32>,
    mut taken: Local<bool>,
    mut redraw: MessageWriter<RequestRedraw>,
) {
    redraw.write(RequestRedraw);
    let ready = super::idle::scene_ready(scene.as_deref(), &values, &stats.get());
    *settled = if ready { *settled + 1 } else { 0 };
    if *settled < 10 || *taken {
        return;
    }
    *taken = true;
    let path = std::env::var_os(SCREENSHOT_ENV).expect("checked by the run condition");
    commands.spawn(Screenshot::primary_window()).observe(save_to_disk(path)).observe(
        |_: On<ScreenshotCaptured>, mut exit: MessageWriter<AppExit>| {
            exit.write(AppExit::Success);
        },
    );
}
