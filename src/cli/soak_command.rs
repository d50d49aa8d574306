//! `llmviz soak`: the app offscreen for minutes or hours of touring, switching, typing, sliding and
//! hovering, with its memory printed at the start, every minute and at the end.

use std::path::PathBuf;
use std::time::Duration;

use super::{CliResult, ModelInput, parse_size};
use crate::model::GptConfig;
use crate::render::run::soak::{SoakCounts, SoakModel, SoakMoment, SoakPlan, SoakRun, SoakSample, run_soak};
use crate::tour::TourLink;

#[derive(clap::Args, Debug)]
pub struct SoakArgs {
    /// Run this long (fractions allowed: 0.5 is 30 s); at least one of --minutes and --cycles.
    #[arg(long, value_parser = parse_minutes)]
    pub minutes: Option<f64>,
    /// Stop after this many full cycles (the tour, then every model), or at --minutes if sooner.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub cycles: Option<u64>,
    /// The presets switched between, in order (comma-separated): nano, gpt2, gpt2-xl, gpt3.
    #[arg(long, value_delimiter = ',', default_value = "nano,gpt2,gpt2-xl")]
    pub model: Vec<String>,
    /// A checkpoint to switch to as well, on --text or --input (or the model's default input).
    #[command(flatten)]
    pub input: ModelInput,
    /// The tour played at the start of each cycle (tours/nano-gpt.ron when omitted).
    #[arg(long)]
    pub tour: Option<PathBuf>,
    /// Tour seconds per second while a chapter plays.
    #[arg(long, default_value_t = 40.0)]
    pub tour_speed: f32,
    /// WIDTHxHEIGHT of the offscreen image, in pixels.
    #[arg(long, default_value = "640x360")]
    pub size: String,
    /// Seeds the random cells, inputs and checkpoints.
    #[arg(long, default_value_t = 0x5eed)]
    pub seed: u64,
}

fn parse_minutes(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(minutes) if minutes.is_finite() && minutes > 0.0 && minutes <= 7.0 * 24.0 * 60.0 => Ok(minutes),
        _ => Err(format!("'{text}': expected minutes, more than 0 (fractions allowed, e.g. 0.5)")),
    }
}

pub fn soak(args: SoakArgs) -> CliResult {
    if args.minutes.is_none() && args.cycles.is_none() {
        return Err("give --minutes M or --cycles N (or both: whichever comes first)".into());
    }
    if !(args.tour_speed.is_finite() && args.tour_speed > 0.0) {
        return Err(format!("--tour-speed {}: expected a speed above 0", args.tour_speed));
    }
    let mut models = Vec::new();
    for name in &args.model {
        GptConfig::preset(name).map_err(|e| format!("--model: {e}"))?;
        models.push(SoakModel::Preset(name.clone()));
    }
    if !args.input.is_empty() {
        models.push(SoakModel::Checkpoint(Box::new(args.input.scene()?)));
    }
    let plan = SoakPlan { models, tour_speed: args.tour_speed, seed: args.seed, ..SoakPlan::default() };
    let run = SoakRun {
        plan,
        tour: TourLink { file: args.tour, chapter: None, step: None, language: None },
        size: parse_size(&args.size)?,
        duration: args.minutes.map(|minutes| Duration::from_secs_f64(minutes * 60.0)),
        cycles: args.cycles,
    };
    let mut warmed_up: Option<SoakSample> = None;
    let end = run_soak(run, |moment, sample| {
        if moment == SoakMoment::Minute(1) {
            warmed_up = Some(*sample);
        }
        super::print_stdout(&memory_line(moment, sample));
    })
    .map_err(super::render_error)?;
    if let Some(warmed_up) = warmed_up {
        super::print_stdout(&growth_line(&warmed_up, &end));
    }
    super::print_stdout(&counts_line(&end.counts, end.elapsed));
    Ok(())
}

const MB: f64 = 1e6;

/// `t=1m rss 412.3 MB gpu 1.21 MB`: whole minutes, or the exact time at the end.
fn memory_line(moment: SoakMoment, sample: &SoakSample) -> String {
    let time = match moment {
        SoakMoment::Start => "t=0m".to_string(),
        SoakMoment::Minute(minutes) => format!("t={minutes}m"),
        SoakMoment::End => format!("t={:.2}m", sample.elapsed.as_secs_f64() / 60.0),
    };
    let rss = sample.resident_bytes.map_or("n/a".to_string(), |bytes| format!("{:.1} MB", bytes as f64 / MB));
    let end = if moment == SoakMoment::End { " (end)" } else { "" };
    format!("{time} rss {rss} gpu {:.2} MB{end}", sample.gpu_bytes as f64 / MB)
}

/// Growth after the warm-up minute: from t=1m to the end.
fn growth_line(warmed_up: &SoakSample, end: &SoakSample) -> String {
    let percent =
        |from: f64, to: f64| if from > 0.0 { format!("{:+.1}%", (to - from) / from * 100.0) } else { "n/a".into() };
    let rss = match (warmed_up.resident_bytes, end.resident_bytes) {
        (Some(from), Some(to)) => percent(from as f64, to as f64),
        _ => "n/a".into(),
    };
    format!("growth since t=1m: rss {rss} gpu {}", percent(warmed_up.gpu_bytes as f64, end.gpu_bytes as f64))
}

fn counts_line(counts: &SoakCounts, elapsed: Duration) -> String {
    format!(
        "soak: {} cycles, {} chapters played, {} model switches, {} inputs, {} slider moves, {} hovers, {} frames in {:.1} s",
        counts.cycles,
        counts.chapters,
        counts.model_switches,
        counts.inputs,
        counts.slider_moves,
        counts.hovers,
        counts.frames,
        elapsed.as_secs_f64()
    )
}
