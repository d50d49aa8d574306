//! `llmviz soak`: a short soak on lavapipe does every kind of action and reports its memory in the
//! documented format, and the GPU figure it reports counts what llmviz made, and stops counting
//! what was freed.

use bevy::prelude::*;
use bevy::render::storage::ShaderBuffer;
use llmviz::layout;
use llmviz::render::overlay::ui::font_px;
use llmviz::render::run::offscreen::Offscreen;
use llmviz::render::scene_source;
use llmviz::tour::Tour;

use crate::cli::{assert_clean_failure, llmviz, stderr, stdout};
use crate::gpu::gpu;

/// One `t=... rss R MB gpu G MB` line: the time as printed, the two figures in MB, and whether it
/// is the end line.
#[derive(Debug)]
struct MemoryLine {
    time: String,
    rss_mb: f64,
    gpu_mb: f64,
    end: bool,
}

fn parse_memory_line(line: &str) -> Option<MemoryLine> {
    let (line, end) = match line.strip_suffix(" (end)") {
        Some(line) => (line, true),
        None => (line, false),
    };
    let words: Vec<&str> = line.split(' ').collect();
    let [time, "rss", rss, "MB", "gpu", gpu, "MB"] = words.as_slice() else { return None };
    let minutes = time.strip_prefix("t=")?.strip_suffix('m')?;
    minutes.parse::<f64>().ok()?;
    // One decimal for rss, two for gpu, as documented.
    let decimals = |figure: &str| figure.split_once('.').map(|(_, fraction)| fraction.len());
    if decimals(rss) != Some(1) || decimals(gpu) != Some(2) {
        return None;
    }
    Some(MemoryLine { time: time.to_string(), rss_mb: rss.parse().ok()?, gpu_mb: gpu.parse().ok()?, end })
}

/// `soak: 1 cycles, 8 chapters played, ...`: the count before each name.
fn count(summary: &str, name: &str) -> u64 {
    let at = summary.find(name).unwrap_or_else(|| panic!("'{name}' not in: {summary}"));
    let number = summary[..at].trim_end().rsplit([' ', ',']).next().expect("a count before the name");
    number.parse().unwrap_or_else(|_| panic!("no count before '{name}' in: {summary}"))
}

#[test]
fn one_cycle_tours_switches_models_types_slides_hovers_and_prints_its_memory() {
    let _gpu = gpu();
    let output = llmviz(&["soak", "--cycles", "1", "--size", "320x180"]);
    let out = stdout(&output);
    assert!(output.status.success(), "soak failed: {}\n{out}", stderr(&output));
    let lines: Vec<&str> = out.lines().collect();

    let memory: Vec<MemoryLine> = lines
        .iter()
        .filter(|line| line.starts_with("t="))
        .map(|line| parse_memory_line(line).unwrap_or_else(|| panic!("not `t=Xm rss R MB gpu G MB`: {line}")))
        .collect();
    let (first, last) = (memory.first().expect("a start line"), memory.last().expect("an end line"));
    assert_eq!(first.time, "t=0m", "{out}");
    assert!(!first.end && last.end, "start first, end last: {out}");
    let target_mb = (320 * 180 * 4) as f64 / 1e6;
    for line in &memory {
        assert!(line.rss_mb > 50.0 && line.rss_mb < 16_000.0, "implausible rss: {line:?}");
        // At least the offscreen image, and less than anything a scene of these models could need.
        assert!(line.gpu_mb > target_mb && line.gpu_mb < 1000.0, "implausible gpu: {line:?}");
    }

    let summary = lines.last().expect("a summary line");
    assert!(summary.starts_with("soak: "), "the summary comes last: {out}");
    let tour = Tour::parse(&std::fs::read_to_string("tours/nano-gpt.ron").expect("the tour"), "nano-gpt.ron")
        .expect("it parses");
    assert_eq!(count(summary, "cycles"), 1, "{summary}");
    assert_eq!(count(summary, "chapters played"), tour.chapters.len() as u64, "{summary}");
    // The tour ends on nano, so the switcher goes to GPT-2 and GPT-2 XL.
    assert_eq!(count(summary, "model switches"), 2, "{summary}");
    for action in ["inputs", "slider moves", "hovers", "frames"] {
        assert!(count(summary, action) > 0, "no {action}: {summary}");
    }
}

#[test]
fn soak_refuses_bad_input_with_one_line() {
    assert_clean_failure(&llmviz(&["soak"]), "--minutes");
    assert_clean_failure(&llmviz(&["soak", "--cycles", "1", "--model", "nano,gpt5"]), "gpt5");
    assert_clean_failure(&llmviz(&["soak", "--cycles", "1", "--tour-speed", "0"]), "--tour-speed");
}

/// Every `ShaderBuffer` the main world holds, in bytes: what the GPU buffers made from them take.
/// The value pages' bytes leave for the render world once uploaded; their size stays.
fn shader_buffer_bytes(offscreen: &mut Offscreen) -> u64 {
    let buffers = offscreen.world_mut().resource::<Assets<ShaderBuffer>>();
    buffers
        .iter()
        .map(|(_, buffer)| buffer.data.as_ref().map_or(buffer.buffer_description.size, |data| data.len() as u64))
        .sum()
}

#[test]
fn gpu_bytes_count_the_scenes_buffers_and_the_target_and_drop_when_a_scene_goes() {
    let _gpu = gpu();
    let size = UVec2::new(64, 48);
    let nano = scene_source("nano", None).expect("nano");
    let view = layout::build(&nano.config).overview.into();
    let mut offscreen = Offscreen::new(nano, size, view);
    offscreen.wait_until_ready().expect("nano is drawn");
    let target_bytes = u64::from(size.x * size.y * 4);
    let nano_bytes = offscreen.stats().gpu_bytes;
    assert_eq!(nano_bytes, shader_buffer_bytes(&mut offscreen) + target_bytes);

    offscreen.world_mut().insert_resource(scene_source("gpt2-xl", None).expect("gpt2-xl"));
    offscreen.wait_until_ready().expect("gpt2-xl is drawn");
    let xl_bytes = offscreen.stats().gpu_bytes;
    // Its descriptors alone (80 bytes for each of 11,000 blocks) outweigh all of nano's buffers;
    // nano's are gone from the count.
    assert_eq!(xl_bytes, shader_buffer_bytes(&mut offscreen) + target_bytes);
    assert!(xl_bytes > nano_bytes, "{xl_bytes} <= {nano_bytes}");

    offscreen.world_mut().insert_resource(scene_source("nano", None).expect("nano"));
    offscreen.wait_until_ready().expect("nano is drawn again");
    assert_eq!(offscreen.stats().gpu_bytes, nano_bytes, "GPT-2 XL's buffers are freed");
}

/// egui keeps a glyph per size drawn: text that follows the zoom must come in few sizes.
#[test]
fn text_sizes_that_follow_the_zoom_come_in_few_sizes_each_close_to_the_size_asked() {
    let asked: Vec<f32> = (0..=1500).map(|step| 10.0 + step as f32 * 0.1).collect();
    let mut snapped: Vec<f32> = asked.iter().map(|&px| font_px(px)).collect();
    for (&px, &size) in asked.iter().zip(&snapped) {
        assert!((size - px).abs() <= 0.1 * px + 0.5, "{px} px drawn at {size}");
    }
    snapped.dedup();
    // Four octaves of four steps each, and both ends.
    assert!(snapped.len() <= 17, "{} sizes from 10 to 160 px: {snapped:?}", snapped.len());
}
