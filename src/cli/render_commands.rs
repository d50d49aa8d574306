//! `llmviz screenshot` and `llmviz bench`: the scene rendered offscreen, to a PNG or timed.

use std::path::PathBuf;

use super::{CliResult, ModelInput, parse_size};
use crate::render::scene::SceneSource;
use crate::render::offscreen::{self, TourShot, ViewShot};
use crate::render::view::CameraChoice;

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
    /// Weights and text (then --model is not used); without --text or --input, nano reads CBABBC and GPT-2 "Hello, I'm a language model,".
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
        let shot = TourShot { file: file.clone(), chapter: args.chapter.clone(), time: args.time, size };
        let picture = offscreen::render_tour(&shot).map_err(|e| e.to_string())?;
        picture.frame.save_png(&args.out).map_err(|e| e.to_string())?;
        let (width, height) = (picture.frame.width, picture.frame.height);
        println!("wrote {} ({width}x{height}, chapter '{}' at {:.2} s)", args.out.display(), picture.chapter, picture.time);
        return Ok(());
    }
    let shot = ViewShot {
        source: scene_of(&args.model, &args.input)?,
        size,
        camera: CameraChoice::parse(&args.camera).map_err(|e| e.to_string())?,
        hover: args.hover,
    };
    let picture = offscreen::render_view(&shot).map_err(|e| e.to_string())?;
    picture.frame.save_png(&args.out).map_err(|e| e.to_string())?;
    let (width, height) = (picture.frame.width, picture.frame.height);
    println!("wrote {} ({width}x{height}, {} entities)", args.out.display(), picture.entities);
    Ok(())
}

pub fn bench(args: BenchArgs) -> CliResult {
    let size = parse_size(&args.size)?;
    if args.frames == 0 {
        return Err("--frames must be at least 1".into());
    }
    let report = offscreen::bench(scene_of(&args.model, &args.input)?, args.frames, size).map_err(|e| e.to_string())?;
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
    crate::render::scene_source(model, input.input.as_deref()).map_err(|e| e.to_string())
}
