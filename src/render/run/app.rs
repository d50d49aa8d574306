//! The windowed app: the scene, its level of detail, the camera controls and the egui overlays.
//! It redraws only when something happens (reactive winit, `idle`): input, a flight, a playing
//! tour, a running forward pass.

use std::path::PathBuf;

use bevy::prelude::*;
use bevy::render::view::screenshot::{Screenshot, ScreenshotCaptured, save_to_disk};
use bevy::window::RequestRedraw;

use crate::layout;
use crate::render::RenderError;
use crate::render::overlay::OverlayPlugins;
use crate::render::run::RendererPlugins;
use crate::render::scene::blocks::{BlockScene, SceneSource, SceneValues};
use crate::render::scene::gpu::GpuFailure;
use crate::render::tour::player::{TourPlugin, TourState};
use crate::render::view::ViewPlugins;
use crate::render::view::viewpoint::{BACKGROUND, CameraChoice, ViewPoint, scene_camera};
use crate::tour::TourLink;

/// How the window opens, for checking the app where no one looks at it (CI, Xvfb).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WindowOptions {
    /// Open on this view of the scene instead of its overview; with no tour named, no tour.
    pub camera: Option<CameraChoice>,
    /// Once the scene is drawn, save the window (3D and overlays) to this PNG and exit.
    pub screenshot: Option<PathBuf>,
    /// Where the forward pass computes (the page's always runs on the CPU, in its worker).
    #[cfg(not(target_arch = "wasm32"))]
    pub compute: crate::render::scene::compute::ComputeChoice,
}

/// The app as it opens: the tour `link` names (the nano-gpt tour by default) ready at its chapter
/// and step, on nano with its weights. With a camera in `options` and no tour named, no tour.
pub fn run_tour_app(link: TourLink, options: WindowOptions) -> Result<(), RenderError> {
    if link == TourLink::default() && options.camera.is_some() {
        return run_scene_app(crate::render::scene_source("nano", None)?, options);
    }
    let tour = TourState::open(&link)?;
    let (source, view) = tour.opening_scene()?;
    crate::render::scene::gpu::require_adapter()?;
    let window = Window { title: format!("llmviz: {}", tour.compiled.tour.title), ..default() };
    let mut app = app(source, view, window);
    if let Some(language) = link.language {
        app.insert_resource(crate::render::overlay::language::Language(language));
    }
    app.add_plugins(TourPlugin).insert_resource(tour);
    #[cfg(not(target_arch = "wasm32"))]
    app.world().resource::<crate::render::scene::compute::Compute>().choose(options.compute);
    screenshot_on_ready(&mut app, options.screenshot);
    run(app)
}

/// The app on a scene without a tour, opening on the overview or on `options`' camera.
pub fn run_scene_app(source: SceneSource, options: WindowOptions) -> Result<(), RenderError> {
    let layout = layout::build(&source.config);
    let view: ViewPoint = match &options.camera {
        Some(choice) => choice.view_point(&layout)?,
        None => layout.overview.into(),
    };
    crate::render::scene::gpu::require_adapter()?;
    let window = Window { title: "llmviz: how a GPT works".into(), ..default() };
    let mut app = app(source, view, window);
    #[cfg(not(target_arch = "wasm32"))]
    app.world().resource::<crate::render::scene::compute::Compute>().choose(options.compute);
    screenshot_on_ready(&mut app, options.screenshot);
    run(app)
}

/// With a file, saves the window there once the scene is drawn and exits.
fn screenshot_on_ready(app: &mut App, file: Option<PathBuf>) {
    if let Some(file) = file {
        app.insert_resource(WindowScreenshot(Some(file)))
            .add_systems(Update, screenshot_window_and_exit.in_set(crate::render::scene::frame::FrameStep::Report));
    }
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
    let plugins = crate::render::run::bevy_plugins().set(WindowPlugin { primary_window: Some(window), ..default() });
    app.add_plugins((plugins, RendererPlugins, ViewPlugins, OverlayPlugins))
        .insert_resource(ClearColor(BACKGROUND))
        .insert_resource(source)
        .add_systems(Startup, move |mut commands: Commands| {
            commands.spawn(scene_camera(view));
        });
    app
}

/// Where the window is saved once the scene is drawn (`WindowOptions::screenshot`); None once taken.
#[derive(Resource, Clone, Debug)]
struct WindowScreenshot(Option<PathBuf>);

/// Once the scene has been drawn for a few frames, saves the window and exits.
fn screenshot_window_and_exit(
    mut commands: Commands,
    mut file: ResMut<WindowScreenshot>,
    scene: Option<Res<BlockScene>>,
    values: Res<SceneValues>,
    stats: Res<crate::render::scene::stats::RenderStats>,
    mut settled: Local<u32>,
    mut redraw: MessageWriter<RequestRedraw>,
) {
    redraw.write(RequestRedraw);
    let ready = crate::render::view::idle::scene_ready(scene.as_deref(), &values, &stats.get());
    *settled = if ready { *settled + 1 } else { 0 };
    if *settled < 10 {
        return;
    }
    let Some(path) = file.0.take() else { return };
    commands.spawn(Screenshot::primary_window()).observe(save_to_disk(path)).observe(
        |_: On<ScreenshotCaptured>, mut exit: MessageWriter<AppExit>| {
            exit.write(AppExit::Success);
        },
    );
}
