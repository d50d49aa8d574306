//! Rendering without a window or display server: what `llmviz screenshot` and `llmviz bench` show.
//!
//! The app renders into an image. It is driven frame by frame from here rather than by a runner, so
//! a screenshot can wait until every pipeline is compiled and the values are uploaded, and the
//! benchmark can wait for the GPU after each frame.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bevy::app::{PluginsState, TerminalCtrlCHandlerPlugin};
use bevy::asset::RenderAssetUsages;
use bevy::camera::RenderTarget;
use bevy::log::LogPlugin;
use bevy::prelude::*;
use bevy::render::pipelined_rendering::PipelinedRenderingPlugin;
use bevy::render::render_resource::{Extent3d, PollType, TextureDimension, TextureFormat, TextureUsages};
use bevy::render::renderer::RenderDevice;
use bevy::render::view::screenshot::{Screenshot, ScreenshotCaptured};
use bevy::window::ExitCondition;
use bevy::winit::WinitPlugin;

use crate::layout;
use crate::render::RenderError;
use crate::render::run::RendererPlugins;
use crate::render::scene::blocks::{BlockScene, SceneEntity, SceneSource, SceneValues, ValuesState};
use crate::render::scene::gpu::GpuFailure;
use crate::render::scene::stats::{OwnedTextures, RenderStats};
use crate::render::scene::values::ForwardWorker;
use crate::render::tour::player::{TourAppending, TourState, tour_at};
use crate::render::view::pick::CellRef;
use crate::render::view::viewpoint::{BACKGROUND, CameraChoice, ViewPoint, scene_camera};

/// A view of a model to render: `llmviz screenshot` without a tour.
#[derive(Clone, Debug)]
pub struct ViewShot {
    /// The model and its input (`scene_source` for a preset).
    pub source: SceneSource,
    pub size: UVec2,
    pub camera: CameraChoice,
    /// A cell of the source's layout shown as hovered: its highlights and its card.
    pub hover: Option<CellRef>,
}

/// A tour's scene to render: its model, camera and blocks at a chapter and time.
#[derive(Clone, Debug)]
pub struct TourShot {
    pub file: PathBuf,
    /// The chapter's id; the first chapter when None.
    pub chapter: Option<String>,
    /// Seconds into the chapter (clamped to its length); its start when None.
    pub time: Option<f32>,
    pub size: UVec2,
    /// The language of its texts; the tour's own when None.
    pub language: Option<&'static str>,
    /// The step's text in a band under the scene.
    pub caption: bool,
}

/// A tour rendered frame by frame, as `llmviz render-tour` makes a video of it.
#[derive(Clone, Debug)]
pub struct TourFilm {
    pub file: PathBuf,
    /// One chapter by id, or the whole tour when None.
    pub chapter: Option<String>,
    pub language: Option<&'static str>,
    pub size: UVec2,
    pub fps: f32,
}

/// One frame of a film, with where it is.
pub struct FilmFrame {
    /// From 0, over the whole film.
    pub index: u64,
    pub total: u64,
    pub chapter: String,
    pub time: f32,
    pub frame: Frame,
}

/// How many frames a chapter of `length` seconds takes at `fps`: one at each 1/fps from its start,
/// its start and (when it falls on one) its end included.
pub fn film_frames(length: f32, fps: f32) -> u64 {
    (length as f64 * fps as f64 + 1e-6).floor() as u64 + 1
}

/// A rendered view, with how many blocks and boxes were spawned for it.
pub struct ViewPicture {
    pub frame: Frame,
    pub entities: usize,
}

/// A rendered tour scene, with the chapter and time it shows.
pub struct TourPicture {
    pub frame: Frame,
    pub chapter: String,
    pub time: f32,
}

/// Frame times after the scene is ready.
#[derive(Clone, Copy, Debug)]
pub struct BenchReport {
    pub entities: usize,
    pub batches: usize,
    pub median_ms: f64,
    pub p95_ms: f64,
}

/// Renders a view of a model once everything is drawn.
pub fn render_view(shot: &ViewShot) -> Result<ViewPicture, RenderError> {
    let source = shot.source.clone();
    let layout = layout::build(&source.config);
    let view = shot.camera.view_point(&layout)?;
    crate::render::scene::gpu::require_adapter()?;
    let mut offscreen = match shot.hover {
        Some(cell) => offscreen_hovering(source, shot.size, view, cell),
        None => Offscreen::new(source, shot.size, view),
    };
    offscreen.wait_until_ready()?;
    let frame = offscreen.capture()?;
    Ok(ViewPicture { frame, entities: offscreen.entity_count() })
}

/// Renders a tour's scene at a chapter and time.
pub fn render_tour(shot: &TourShot) -> Result<TourPicture, RenderError> {
    let mut tour = tour_at(&shot.file, shot.chapter.as_deref(), shot.time)?;
    if let Some(language) = shot.language {
        tour.set_language(language);
    }
    let (chapter, time) = (tour.timeline().id.clone(), tour.player.time);
    let mut offscreen = tour_offscreen_with(tour, shot.size, shot.caption)?;
    offscreen.wait_for_tour()?;
    let frame = offscreen.capture()?;
    Ok(TourPicture { frame, chapter, time })
}

/// Renders every frame of a chapter, or of every chapter in turn (the tour's waits take no time),
/// with the caption band, handing each to `each` as it is drawn. Returns how many were drawn. The
/// same film gives the same frames: each shows its tour time alone, seeked to, never played.
pub fn render_film(
    film: &TourFilm,
    mut each: impl FnMut(FilmFrame) -> Result<(), RenderError>,
) -> Result<u64, RenderError> {
    if !(film.fps.is_finite() && film.fps > 0.0) {
        return Err(RenderError::Fps(film.fps));
    }
    let mut tour = tour_at(&film.file, film.chapter.as_deref(), None)?;
    if let Some(language) = film.language {
        tour.set_language(language);
    }
    let chapters: Vec<usize> = match film.chapter {
        Some(_) => vec![tour.chapter],
        None => (0..tour.compiled.chapters.len()).collect(),
    };
    let total: u64 =
        chapters.iter().map(|&chapter| film_frames(tour.compiled.chapters[chapter].length, film.fps)).sum();
    let mut offscreen = tour_offscreen_with(tour, film.size, true)?;
    let mut index = 0;
    for chapter in chapters {
        offscreen.world_mut().resource_mut::<TourState>().open_chapter(chapter, false);
        let (id, length) = {
            let tour = offscreen.world().resource::<TourState>();
            (tour.timeline().id.clone(), tour.timeline().length)
        };
        for number in 0..film_frames(length, film.fps) {
            let time = (number as f64 / film.fps as f64) as f32;
            offscreen.world_mut().resource_mut::<TourState>().seek(time);
            // A model switched to, or the first frame: wait for its scene and pipelines.
            offscreen.update();
            let mut waits = 0;
            while !(offscreen.is_ready() && offscreen.shows_tour_model()) {
                waits += 1;
                if waits > 100 {
                    return Err(RenderError::Setup(format!(
                        "chapter '{id}' at {time:.2} s: its model's scene did not appear"
                    )));
                }
                offscreen.wait_until_ready()?;
                offscreen.update();
            }
            let frame = offscreen.capture()?;
            each(FilmFrame { index, total, chapter: id.clone(), time, frame })?;
            index += 1;
        }
    }
    Ok(index)
}

/// Renders `frames` frames of a scene's overview once it is ready, and times them.
pub fn bench(source: SceneSource, frames: usize, size: UVec2) -> Result<BenchReport, RenderError> {
    let view = CameraChoice::Overview.view_point(&layout::build(&source.config))?;
    crate::render::scene::gpu::require_adapter()?;
    let mut offscreen = Offscreen::new(source, size, view);
    offscreen.wait_until_ready()?;
    let mut times = Vec::with_capacity(frames.max(1));
    for _ in 0..frames.max(1) {
        times.push(offscreen.timed_frame());
        offscreen.gpu_failure()?;
    }
    times.sort();
    let millis = |d: Duration| d.as_secs_f64() * 1000.0;
    let p95_index = ((times.len() as f64 * 0.95).ceil() as usize).clamp(1, times.len()) - 1;
    Ok(BenchReport {
        entities: offscreen.entity_count(),
        batches: offscreen.stats().batches,
        median_ms: millis(times[times.len() / 2]),
        p95_ms: millis(times[p95_index]),
    })
}

/// An RGBA8 (sRGB) picture read back from the GPU.
#[derive(Clone, Debug)]
pub struct Frame {
    pub width: u32,
    pub height: u32,
    pub rgba: Vec<u8>,
}

impl Frame {
    pub fn pixel(&self, x: u32, y: u32) -> [u8; 4] {
        let offset = ((y * self.width + x) * 4) as usize;
        self.rgba[offset..offset + 4].try_into().expect("four channels")
    }

    pub fn save_png(&self, path: &std::path::Path) -> Result<(), RenderError> {
        let image = Image::new(
            Extent3d { width: self.width, height: self.height, depth_or_array_layers: 1 },
            TextureDimension::D2,
            self.rgba.clone(),
            TextureFormat::Rgba8UnormSrgb,
            RenderAssetUsages::MAIN_WORLD,
        );
        let write_error = |message: String| RenderError::Write { path: path.display().to_string(), message };
        let picture = image.try_into_dynamic().map_err(|e| write_error(e.to_string()))?;
        picture.to_rgb8().save(path).map_err(|e| write_error(e.to_string()))
    }
}

/// A headless app rendering one scene into an image, driven one frame at a time.
pub struct Offscreen {
    app: App,
    target: Handle<Image>,
    size: UVec2,
}

/// Bevy's logger is global: only the first app of a process (tests run several) installs it.
static LOGGER_INSTALLED: AtomicBool = AtomicBool::new(false);

/// How long a scene may take to become ready: pipeline compilation on lavapipe in a debug build is slow.
const READY_TIMEOUT: Duration = Duration::from_secs(600);
/// Frames in a row with nothing compiling and something drawn before the scene counts as ready.
const SETTLED_FRAMES: u32 = 3;

impl Offscreen {
    pub fn new(source: SceneSource, size: UVec2, view: ViewPoint) -> Offscreen {
        Offscreen::with_plugins(source, size, view, |_| {})
    }

    /// The same, with what `add` adds to the app before it starts (the hover card and egui, say).
    pub fn with_plugins(source: SceneSource, size: UVec2, view: ViewPoint, add: impl FnOnce(&mut App)) -> Offscreen {
        let mut app = App::new();
        let mut plugins = crate::render::run::bevy_plugins()
            .set(WindowPlugin { primary_window: None, exit_condition: ExitCondition::DontExit, ..default() })
            .disable::<WinitPlugin>()
            .disable::<TerminalCtrlCHandlerPlugin>()
            // Each update renders its own frame before returning, so a frame can be timed and captured.
            .disable::<PipelinedRenderingPlugin>();
        if LOGGER_INSTALLED.swap(true, Ordering::SeqCst) {
            plugins = plugins.disable::<LogPlugin>();
        } else {
            plugins = plugins.set(LogPlugin { level: bevy::log::Level::WARN, ..default() });
        }
        app.add_plugins((plugins, RendererPlugins)).insert_resource(ClearColor(BACKGROUND)).insert_resource(source);
        add(&mut app);

        while app.plugins_state() == PluginsState::Adding {
            bevy::tasks::tick_global_task_pools_on_main_thread();
        }
        app.finish();
        app.cleanup();

        let mut target = Image::new_target_texture(size.x, size.y, TextureFormat::Rgba8UnormSrgb, None);
        target.texture_descriptor.usage |= TextureUsages::COPY_SRC;
        let target = app.world_mut().resource_mut::<Assets<Image>>().add(target);
        if let Some(render_app) = app.get_sub_app_mut(bevy::render::RenderApp) {
            render_app.insert_resource(OwnedTextures(vec![target.id()]));
        }
        app.world_mut().spawn((scene_camera(view), RenderTarget::Image(target.clone().into())));
        Offscreen { app, target, size }
    }

    pub fn stats(&self) -> crate::render::scene::stats::FrameStats {
        self.app.world().resource::<RenderStats>().get()
    }

    /// Blocks and proxies spawned for the scene.
    pub fn entity_count(&mut self) -> usize {
        let world = self.app.world_mut();
        world.query_filtered::<(), With<SceneEntity>>().iter(world).count()
    }

    /// Runs frames until the values are in the buffers, every pipeline is compiled and the scene
    /// has been drawn for a few frames. Each frame renders before `update` returns, so values
    /// received in a frame are uploaded and drawn in it.
    pub fn wait_until_ready(&mut self) -> Result<(), RenderError> {
        let start = Instant::now();
        let mut settled = 0;
        while settled < SETTLED_FRAMES {
            if start.elapsed() > READY_TIMEOUT {
                let stats = self.stats();
                return Err(RenderError::NotReady {
                    seconds: READY_TIMEOUT.as_secs(),
                    pipelines: stats.waiting_pipelines,
                    batches: stats.batches,
                });
            }
            self.app.update();
            self.gpu_failure()?;
            let world = self.app.world();
            let Some(scene) = world.get_resource::<BlockScene>() else { continue };
            let uploaded = scene.pages_waiting == 0;
            let values = world.resource::<SceneValues>();
            let values_final = match &values.state {
                // The lens strips too: a picture shows every value the scene will show.
                ValuesState::Ready => !values.lens_coming,
                ValuesState::StructureOnly => true,
                ValuesState::Computing(_) => false,
                ValuesState::Failed(message) => return Err(RenderError::Values(message.clone())),
            };
            let stats = self.stats();
            if values_final && uploaded && stats.waiting_pipelines == 0 && stats.batches > 0 {
                settled += 1;
            } else {
                settled = 0;
            }
            if !values_final {
                // The forward pass runs on its own thread: nothing changes until it is done.
                self.app.world().resource::<ForwardWorker>().wait();
            }
        }
        Ok(())
    }

    /// Runs frames until the scene shows the tour where it is: its model, with the predictions
    /// the tour appended to its input (one forward pass each), drawn.
    pub fn wait_for_tour(&mut self) -> Result<(), RenderError> {
        self.wait_until_ready()?;
        for _ in 0..100 {
            if self.is_ready() && self.shows_tour_model() {
                return Ok(());
            }
            self.app.update();
            self.wait_until_ready()?;
        }
        Err(RenderError::Setup("the tour's scene did not settle: its model or input kept changing".into()))
    }

    /// Whether the scene is drawn as it should be now: spawned, its values final, nothing compiling.
    pub fn is_ready(&self) -> bool {
        let world = self.app.world();
        let values_final = world.get_resource::<SceneValues>().is_some_and(|values| match values.state {
            ValuesState::Ready => !values.lens_coming,
            ValuesState::StructureOnly => true,
            _ => false,
        });
        let stats = self.stats();
        world.get_resource::<BlockScene>().is_some_and(|scene| scene.pages_waiting == 0)
            && values_final
            && stats.waiting_pipelines == 0
            && stats.batches > 0
    }

    /// Whether the scene is of the model the tour shows now, on the input the tour has written.
    fn shows_tour_model(&self) -> bool {
        let world = self.app.world();
        let wanted = world.get_resource::<TourState>().map(|tour| tour.frame().model);
        let shown = world.get_resource::<BlockScene>().map(|scene| scene.layout.config.name.clone());
        let appending = world.get_resource::<TourAppending>().is_some_and(|appending| appending.0);
        (wanted.is_none() || wanted == shown) && !appending
    }

    /// Renders one more frame and reads it back.
    pub fn capture(&mut self) -> Result<Frame, RenderError> {
        let captured: Arc<Mutex<Option<Image>>> = Arc::default();
        let slot = captured.clone();
        self.app.world_mut().spawn(Screenshot::image(self.target.clone())).observe(
            move |screenshot: On<ScreenshotCaptured>| {
                *slot.lock().expect("screenshot slot") = Some(screenshot.image.clone());
            },
        );
        for _ in 0..100 {
            self.app.update();
            self.gpu_failure()?;
            if let Some(image) = captured.lock().expect("screenshot slot").take() {
                return frame_from_image(image, self.size);
            }
        }
        Err(RenderError::Capture("the screenshot was not captured within 100 frames".into()))
    }

    /// Ok while the GPU works; once the device is lost or wgpu reports an error, that error
    /// (rendering has stopped then: further frames would draw nothing).
    pub fn gpu_failure(&self) -> Result<(), RenderError> {
        self.app.world().resource::<GpuFailure>().check()
    }

    /// One frame, waiting until the GPU has finished it.
    pub fn timed_frame(&mut self) -> Duration {
        let start = Instant::now();
        self.app.update();
        let device = self.app.world().resource::<RenderDevice>();
        let _ = device.poll(PollType::wait_indefinitely());
        start.elapsed()
    }

    /// One frame, as the app runs it.
    pub fn update(&mut self) {
        self.app.update();
    }

    pub fn world(&self) -> &World {
        self.app.world()
    }

    pub fn world_mut(&mut self) -> &mut World {
        self.app.world_mut()
    }
}

fn frame_from_image(image: Image, size: UVec2) -> Result<Frame, RenderError> {
    let picture =
        image.try_into_dynamic().map_err(|e| RenderError::Capture(format!("cannot read the rendered image: {e}")))?;
    let rgba = picture.to_rgba8().into_raw();
    if rgba.len() != (size.x * size.y * 4) as usize {
        let message = format!("the rendered image has {} bytes, expected {}x{}x4", rgba.len(), size.x, size.y);
        return Err(RenderError::Capture(message));
    }
    Ok(Frame { width: size.x, height: size.y, rgba })
}

/// An offscreen app showing `cell` hovered: its highlights and its card (`llmviz screenshot --hover`).
pub fn offscreen_hovering(
    source: crate::render::scene::blocks::SceneSource,
    size: UVec2,
    view: crate::render::view::viewpoint::ViewPoint,
    cell: crate::render::view::pick::CellRef,
) -> Offscreen {
    Offscreen::with_plugins(source, size, view, move |app| {
        app.add_plugins((bevy_egui::EguiPlugin::default(), crate::render::overlay::hover::HoverPlugin))
            .insert_resource(crate::render::view::pick::Hovered { cell: Some(cell), pointer: None });
    })
}

/// An offscreen app showing `tour` where its player is: its model, camera and blocks.
pub fn tour_offscreen(tour: TourState, size: UVec2) -> Result<Offscreen, RenderError> {
    tour_offscreen_with(tour, size, false)
}

/// The same, with the tour's text in a caption band under the scene when `caption`.
pub fn tour_offscreen_with(tour: TourState, size: UVec2, caption: bool) -> Result<Offscreen, RenderError> {
    let (source, view) = tour.opening_scene()?;
    crate::render::scene::gpu::require_adapter()?;
    Ok(Offscreen::with_plugins(source, size, view, move |app| {
        // Hovering, with nothing hovered, for the marks a decode step leaves, as in the window.
        app.add_plugins((
            bevy_egui::EguiPlugin::default(),
            crate::render::overlay::language::LanguagePlugin,
            crate::render::overlay::sampling::SamplingPlugin,
            crate::render::overlay::hover::HoverPlugin,
        ));
        app.add_plugins(crate::render::tour::player::TourPlayerPlugin);
        if caption {
            app.add_plugins(crate::render::tour::caption::CaptionPlugin);
        }
        app.insert_resource(crate::render::overlay::language::Language(tour.language())).insert_resource(tour);
    }))
}
