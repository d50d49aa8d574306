//! `llmviz screenshot` and `llmviz bench`: the scene rendered offscreen, to a PNG or timed.

use std::path::PathBuf;

use super::{CliResult, ModelInput, parse_camera, parse_hover, parse_size, render_error};
use crate::render::run::offscreen::{self, TourShot, ViewShot};
use crate::render::scene::blocks::SceneSource;

#[derive(clap::Args, Debug)]
pub struct ScreenshotArgs {
    /// The PNG to write.
    #[arg(long)]
    pub out: PathBuf,
    /// nano or nano-llama (with their weights), gpt2, gpt2-xl or gpt3 (structure only).
    #[arg(long, default_value = "nano")]
    pub model: String,
    /// WIDTHxHEIGHT in pixels.
    #[arg(long, default_value = "1920x1080")]
    pub size: String,
    /// overview, or block:NAME for a block's view (e.g. block:block0.head0.q).
    #[arg(long, default_value = "overview")]
    pub camera: String,
    /// Weights and text (then --model is not used); without --text or --input, nano reads CBABBC
    /// and a model that reads text "Hello, I'm a language model,".
    #[command(flatten)]
    pub input: ModelInput,
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
    /// With --tour: the language of its texts, en, es or zh-CN (its own when omitted).
    #[arg(long, requires = "tour", value_parser = super::parse_language)]
    pub lang: Option<&'static str>,
    /// With --tour: the step's text in a band under the scene, as in `render-tour`.
    #[arg(long, requires = "tour")]
    pub caption: bool,
    /// Gradient mode: a training step on the input, every block drawn as its gradient (and
    /// --hover explains a gradient).
    #[arg(long, conflicts_with = "tour")]
    pub gradients: bool,
}

#[derive(clap::Args, Debug)]
pub struct RenderTourArgs {
    /// The tour to render.
    #[arg(long)]
    pub tour: PathBuf,
    /// The language of its texts, en, es or zh-CN (its own when omitted).
    #[arg(long, value_parser = super::parse_language)]
    pub lang: Option<&'static str>,
    /// One chapter, by id; every chapter in turn when omitted.
    #[arg(long)]
    pub chapter: Option<String>,
    /// A folder for numbered PNGs (frame-00000.png, ...), created if missing, or a .mp4 file
    /// (needs ffmpeg on PATH).
    #[arg(long)]
    pub out: PathBuf,
    /// WIDTHxHEIGHT in pixels.
    #[arg(long, default_value = "1920x1080")]
    pub size: String,
    /// Frames per second of tour time.
    #[arg(long, default_value_t = 30.0)]
    pub fps: f32,
}

#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    #[arg(long, default_value = "nano")]
    pub model: String,
    /// Weights and text (then --model is not used).
    #[command(flatten)]
    pub input: ModelInput,
    /// Frames to time, after the scene is ready.
    #[arg(long, default_value_t = 60)]
    pub frames: usize,
    /// WIDTHxHEIGHT in pixels.
    #[arg(long, default_value = "1280x720")]
    pub size: String,
}

pub fn screenshot(args: ScreenshotArgs) -> CliResult {
    let size = parse_size(&args.size)?;
    if let Some(file) = &args.tour {
        let shot = TourShot {
            file: file.clone(),
            chapter: args.chapter.clone(),
            time: args.time,
            size,
            language: args.lang,
            caption: args.caption,
        };
        let picture = offscreen::render_tour(&shot).map_err(render_error)?;
        picture.frame.save_png(&args.out).map_err(render_error)?;
        let (width, height) = (picture.frame.width, picture.frame.height);
        println!(
            "wrote {} ({width}x{height}, chapter '{}' at {:.2} s)",
            args.out.display(),
            picture.chapter,
            picture.time
        );
        return Ok(());
    }
    let mut source = scene_of(&args.model, &args.input)?;
    if args.gradients {
        source.training = Some(Default::default());
    }
    let layout = crate::layout::build(&source.config);
    let camera = parse_camera(&args.camera, &layout)?;
    let hover = args.hover.as_deref().map(|text| parse_hover(text, &layout)).transpose()?;
    let shot = ViewShot { source, size, camera, hover };
    let picture = offscreen::render_view(&shot).map_err(render_error)?;
    picture.frame.save_png(&args.out).map_err(render_error)?;
    let (width, height) = (picture.frame.width, picture.frame.height);
    println!("wrote {} ({width}x{height}, {} entities)", args.out.display(), picture.entities);
    Ok(())
}

pub fn bench(args: BenchArgs) -> CliResult {
    let size = parse_size(&args.size)?;
    if args.frames == 0 {
        return Err("--frames must be at least 1".into());
    }
    let report = offscreen::bench(scene_of(&args.model, &args.input)?, args.frames, size).map_err(render_error)?;
    println!(
        "entities {}, batches {}, median {:.1} ms, p95 {:.1} ms",
        report.entities, report.batches, report.median_ms, report.p95_ms
    );
    Ok(())
}

/// The scene of `--weights`/`--text` when given, else of the preset `--model` (nano on `--input`).
fn scene_of(model: &str, input: &ModelInput) -> Result<SceneSource, String> {
    if input.weights.is_some() || input.text.is_some() {
        return input.scene();
    }
    crate::render::scene_source(model, input.input.as_deref()).map_err(render_error)
}

/// `render-tour`: every frame of a chapter (or the tour) as numbered PNGs in a folder, or encoded
/// by ffmpeg into an MP4 for slides.
pub fn render_tour(args: RenderTourArgs) -> CliResult {
    let size = parse_size(&args.size)?;
    let mp4 = args.out.extension().is_some_and(|extension| extension.eq_ignore_ascii_case("mp4"));
    if mp4 {
        // Before minutes of rendering, not after.
        ffmpeg_version()?;
        if let Some(parent) = args.out.parent().filter(|parent| !parent.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(|e| format!("{}: cannot create the folder: {e}", parent.display()))?;
        }
    }
    let folder = if mp4 {
        std::env::temp_dir().join(format!("llmviz-render-tour-{}", std::process::id()))
    } else {
        args.out.clone()
    };
    std::fs::create_dir_all(&folder).map_err(|e| format!("{}: cannot create the folder: {e}", folder.display()))?;
    let film = offscreen::TourFilm {
        file: args.tour.clone(),
        chapter: args.chapter.clone(),
        language: args.lang,
        size,
        fps: args.fps,
    };
    let bar = indicatif::ProgressBar::no_length();
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} frames, {per_sec}, {eta} left")
            .expect("the template is valid"),
    );
    let count = offscreen::render_film(&film, |frame| {
        bar.set_length(frame.total);
        frame.frame.save_png(&folder.join(frame_name(frame.index)))?;
        bar.inc(1);
        Ok(())
    })
    .map_err(render_error)?;
    bar.finish_and_clear();
    if mp4 {
        let encoded = encode_mp4(&folder, args.fps, &args.out);
        let _ = std::fs::remove_dir_all(&folder);
        encoded?;
        println!("wrote {} ({count} frames at {} fps, {})", args.out.display(), args.fps, args.size);
    } else {
        println!("wrote {count} frames to {} (frame-00000.png ...)", folder.display());
    }
    Ok(())
}

/// The name of frame `index` in the folder: numbered so that they sort, as ffmpeg's pattern reads them.
pub fn frame_name(index: u64) -> String {
    format!("frame-{index:05}.png")
}

fn ffmpeg_version() -> Result<(), String> {
    match std::process::Command::new("ffmpeg").arg("-version").output() {
        Ok(output) if output.status.success() => Ok(()),
        _ => Err("an .mp4 needs ffmpeg on PATH (apt install ffmpeg), or give --out a folder for the PNGs".into()),
    }
}

/// H.264 in yuv420p, which slides and browsers play; yuv420p needs even sides, so an odd one is padded.
fn encode_mp4(folder: &std::path::Path, fps: f32, out: &std::path::Path) -> CliResult {
    let output = std::process::Command::new("ffmpeg")
        .args(["-y", "-loglevel", "error", "-framerate", &fps.to_string(), "-i"])
        .arg(folder.join("frame-%05d.png"))
        .args(["-c:v", "libx264", "-pix_fmt", "yuv420p", "-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2"])
        .arg(out)
        .output()
        .map_err(|e| format!("ffmpeg: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!("{}: ffmpeg failed: {}", out.display(), String::from_utf8_lossy(&output.stderr).trim()))
    }
}
