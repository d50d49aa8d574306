//! Rendering without a window or display server: `llmviz screenshot` and `llmviz bench`.
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

use super::lod::LodPlugin;
use super::scene::{BlockScene, SceneEntity, ScenePlugin, SceneSource, ValuesState};
use super::stats::{RenderStats, RenderStatsPlugin};
use super::view::{BACKGROUND, CameraChoice, ViewPoint, apply_view, scene_camera};
use super::{parse_size, scene_source};
use crate::cli::CliResult;
use crate::layout;

#[derive(clap::Args, Debug)]
pub struct ScreenshotArgs {
    /// The PNG to write.
    #[arg(long)]
    pub out: PathBuf,
    /// nano (with its weights), gpt2, gpt2-xl or gpt3 (structure only).
    #[arg(long, default_value = "nano")]
    pub model: String,
    /// WIDTHxHEIGHT in pixels.
    #[arg(long, default_value = "1920x1080")]
    pub size: String,
    /// overview, or block:NAME for a block's view (e.g. block:block0.head0.q).
    #[arg(long, default_value = "overview")]
    pub camera: String,
    /// Input letters (models with weights only); CBABBC for nano when omitted.
    #[arg(long)]
    pub input: Option<String>,
    /// Render a tour's scene instead: its model, camera and blocks at --chapter and --time.
    #[arg(long)]
    pub tour: Option<PathBuf>,
    /// The tour chapter, by id; the first when omitted.
    #[arg(long, requires = "tour")]
    pub chapter: Option<String>,
    /// Seconds into the chapter's timeline (clamped to its length); its start when omitted.
    #[arg(long, requires = "tour")]
    pub time: Option<f32>,
    /// Show a cell as hovered, NAME:I,J or NAME:I,J,K: its highlights and its card (e.g. block0.head0.q:2,3).
    #[arg(long)]
    pub hover: Option<String>,
}

#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    #[arg(long, default_value = "nano")]
    pub model: String,
    /// Frames to time, after the scene is ready.
    #[arg(long, default_value_t = 60)]
    pub frames: usize,
    /// WIDTHxHEIGHT in pixels.
    #[arg(long, default_value = "1280x720")]
    pub size: String,
}

pub fn screenshot(args: ScreenshotArgs) -> CliResult {
    if args.tour.is_some() {
        return super::tour_player::tour_screenshot(args);
    }
    let size = parse_size(&args.size)?;
    let source = scene_source(&args.model, args.input.as_deref())?;
    let camera = CameraChoice::parse(&args.camera)?;
    let layout = layout::build(&source.config);
    let view = camera.view_point(&layout)?;
    let mut offscreen = match &args.hover {
        Some(hover) => super::hover::offscreen_hovering(source, size, view, super::pick::parse_cell_ref(hover, &layout)?),
        None => Offscreen::new(source, size, view),
    };
    offscreen.wait_until_ready()?;
    let frame = offscreen.capture()?;
    frame.save_png(&args.out)?;
    println!("wrote {} ({}x{}, {} entities)", args.out.display(), frame.width, frame.height, offscreen.entity_count());
    Ok(())
}

pub fn bench(args: BenchArgs) -> CliResult {
    let size = parse_size(&args.size)?;
    if args.frames == 0 {
        return Err("--frames must be at least 1".into());
    }
    let source = scene_source(&args.model, None)?;
    let view = CameraChoice::Overview.view_point(&layout::build(&source.config))?;
    let mut offscreen = Offscreen::new(source, size, view);
    offscreen.wait_until_ready()?;
    let mut times: Vec<Duration> = (0..args.frames).map(|_| offscreen.timed_frame()).collect();
    times.sort();
    let millis = |d: Duration| d.as_secs_f64() * 1000.0;
    let median = millis(times[times.len() / 2]);
    let p95 = millis(times[((times.len() as f64 * 0.95).ceil() as usize).clamp(1, times.len()) - 1]);
    println!(
        "entities {}, batches {}, median {median:.1} ms, p95 {p95:.1} ms",
        offscreen.entity_count(),
        offscreen.stats().batches
    );
    Ok(())
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

    pub fn save_png(&self, path: &std::path::Path) -> Result<(), String> {
        let image = Image::new(
            Extent3d { width: self.width, height: self.height, depth_or_array_layers: 1 },
            TextureDimension::D2,
            self.rgba.clone(),
            TextureFormat::Rgba8UnormSrgb,
            RenderAssetUsages::MAIN_WORLD,
        );
        let picture = image.try_into_dynamic().map_err(|e| format!("{}: {e}", path.display()))?;
        picture.to_rgb8().save(path).map_err(|e| format!("{}: cannot write: {e}", path.display()))
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
        let mut plugins = DefaultPlugins
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
        app.add_plugins(plugins)
            .add_plugins((ScenePlugin, LodPlugin, RenderStatsPlugin))
            .insert_resource(ClearColor(BACKGROUND))
            .insert_resource(source)
            .add_systems(PostUpdate, apply_view.before(TransformSystems::Propagate));
        add(&mut app);

        while app.plugins_state() == PluginsState::Adding {
            bevy::tasks::tick_global_task_pools_on_main_thread();
        }
        app.finish();
        app.cleanup();

        let mut target = Image::new_target_texture(size.x, size.y, TextureFormat::Rgba8UnormSrgb, None);
        target.texture_descriptor.usage |= TextureUsages::COPY_SRC;
        let target = app.world_mut().resource_mut::<Assets<Image>>().add(target);
        app.world_mut().spawn((scene_camera(view), RenderTarget::Image(target.clone().into())));
        Offscreen { app, target, size }
    }

    pub fn stats(&self) -> super::stats::FrameStats {
        self.app.world().resource::<RenderStats>().get()
    }

    /// Blocks and proxies spawned for the scene.
    pub fn entity_count(&mut self) -> usize {
        let world = self.app.world_mut();
        world.query_filtered::<(), With<SceneEntity>>().iter(world).count()
    }

    /// Runs frames until the values are in the buffers, every pipeline is compiled and the scene
    /// has been drawn for a few frames.
    pub fn wait_until_ready(&mut self) -> Result<(), String> {
        let start = Instant::now();
        let mut settled = 0;
        let mut last_version = 0;
        while settled < SETTLED_FRAMES {
            if start.elapsed() > READY_TIMEOUT {
                let stats = self.stats();
                return Err(format!(
                    "the scene was not ready after {} s ({} pipelines compiling, {} batches drawn)",
                    READY_TIMEOUT.as_secs(),
                    stats.waiting_pipelines,
                    stats.batches
                ));
            }
            self.app.update();
            let world = self.app.world();
            let Some(scene) = world.get_resource::<BlockScene>() else { continue };
            let values_final = match &scene.values {
                ValuesState::Ready | ValuesState::StructureOnly => true,
                ValuesState::Computing(_) => false,
                ValuesState::Failed(message) => return Err(message.clone()),
            };
            let stats = self.stats();
            let uploading = scene.buffer_version != last_version;
            last_version = scene.buffer_version;
            if values_final && !uploading && stats.waiting_pipelines == 0 && stats.batches > 0 {
                settled += 1;
            } else {
                settled = 0;
            }
            if !values_final {
                // The forward pass runs on its own thread; don't spin the cores it needs.
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        Ok(())
    }

    /// Renders one more frame and reads it back.
    pub fn capture(&mut self) -> Result<Frame, String> {
        let captured: Arc<Mutex<Option<Image>>> = Arc::default();
        let slot = captured.clone();
        self.app.world_mut().spawn(Screenshot::image(self.target.clone())).observe(move |screenshot: On<ScreenshotCaptured>| {
            *slot.lock().expect("screenshot slot") = Some(screenshot.image.clone());
        });
        for _ in 0..100 {
            self.app.update();
            if let Some(image) = captured.lock().expect("screenshot slot").take() {
                return frame_from_image(image, self.size);
            }
        }
        Err("the screenshot was not captured within 100 frames".into())
    }

    /// One frame, waiting until the GPU has finished it.
    pub fn timed_frame(&mut self) -> Duration {
        let start = Instant::now();
        self.app.update();
        let device = self.app.world().resource::<RenderDevice>();
        let _ = device.poll(PollType::wait_indefinitely());
        start.elapsed()
    }

    pub fn world_mut(&mut self) -> &mut World {
        self.app.world_mut()
    }
}

fn frame_from_image(image: Image, size: UVec2) -> Result<Frame, String> {
    let picture = image.try_into_dynamic().map_err(|e| format!("cannot read the rendered image: {e}"))?;
    let rgba = picture.to_rgba8().into_raw();
    if rgba.len() != (size.x * size.y * 4) as usize {
        return Err(format!("the rendered image has {} bytes, expected {}x{}x4", rgba.len(), size.x, size.y));
    }
    Ok(Frame { width: size.x, height: size.y, rgba })
}
