//! The tour in the Bevy app: the scene at tour time t is the same however the reader got there,
//! tour screenshots show the chapter moving, deep links fail in one line, and edits reload.

use std::path::Path;

use bevy::prelude::*;
use bevy::time::TimeUpdateStrategy;
use llmviz::render::run::offscreen::tour_offscreen;
use llmviz::render::run::offscreen::{Frame, Offscreen};
use llmviz::render::scene::blocks::{BlockScene, BlockStyle};
use llmviz::render::tour::panel::error_box;
use llmviz::render::tour::player::{CurrentTourFrame, TourHover, TourState, tour_at};
use llmviz::render::tour::tweens::TweenedBlock;
use llmviz::render::view::viewpoint::ViewPoint;
use llmviz::tour::{BlockState, Polled};

use crate::cli::{assert_clean_failure, llmviz, stderr};
use crate::gpu::gpu;
use crate::scratch::Scratch;

const SIZE: UVec2 = UVec2::new(320, 180);
const TOUR: &str = "tours/nano-gpt.ron";

fn tour_file() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(TOUR)
}

/// Every block's style and transform, and the camera.
#[derive(Debug, PartialEq)]
struct SceneState {
    blocks: Vec<(BlockStyle, Transform)>,
    camera: ViewPoint,
}

fn scene_state(offscreen: &mut Offscreen) -> SceneState {
    let world = offscreen.world_mut();
    let entities = world.resource::<BlockScene>().blocks.clone();
    let blocks = entities
        .iter()
        .map(|&entity| {
            (*world.get::<BlockStyle>(entity).expect("a style"), *world.get::<Transform>(entity).expect("a transform"))
        })
        .collect();
    let camera = *world.query_filtered::<&ViewPoint, With<Camera3d>>().single(world).expect("one camera");
    SceneState { blocks, camera }
}

/// Moves the player to `time`, paused, and runs frames until the scene has taken it up.
pub fn seek(offscreen: &mut Offscreen, time: f32) {
    offscreen.world_mut().resource_mut::<TourState>().seek(time);
    for _ in 0..4 {
        offscreen.timed_frame();
    }
}

/// The first time in a chapter (tenths of a second) at which blocks are moved and highlighted
/// (others are hidden: the chapter opens with their values not computed yet).
fn busy_time(tour: &TourState) -> f32 {
    let timeline = tour.timeline();
    (0..(timeline.length * 10.0) as u32)
        .map(|tenth| tenth as f32 / 10.0)
        .find(|&time| {
            let frame = timeline.evaluate(time);
            let moved = frame.blocks.values().any(|state| state.offset != [0.0; 3]);
            let highlighted = frame.blocks.values().any(|state| state.highlight > 0.0);
            moved && highlighted
        })
        .expect("the chapter moves and highlights blocks")
}

/// The shipped tour with its projection chapter stacking the heads by moving the blocks
/// themselves (as it did before it flew copies of them), so that a chapter moves blocks.
fn moving_tour_file() -> Scratch {
    let text = std::fs::read_to_string(tour_file()).unwrap();
    let mut moving = String::new();
    for line in text.lines() {
        let flown = ["block0.head1.y", "block0.head2.y"]
            .iter()
            .position(|head| line.contains(&format!("Fly(from: (block: \"{head}\"")));
        moving += &match flown {
            Some(h) => format!(
                "Tween(blocks: \"block0.head{}.y\", offset: (0.0, {}.0, {}.0), duration: 1.5, at: 2.8),",
                h + 1,
                -16 * (h as i32 + 1),
                36 * (h + 1)
            ),
            None => line.to_string(),
        };
        moving.push('\n');
    }
    assert_ne!(moving.trim(), text.trim(), "the projection chapter's flights were found");
    let path = Scratch::file("moving-tour.ron");
    std::fs::write(&path, moving).unwrap();
    path
}

#[test]
fn scrubbing_away_and_back_gives_the_scene_of_going_there_directly() {
    let _gpu = gpu();
    let file = moving_tour_file();
    let probe = tour_at(&file, Some("projection"), None).expect("the tour opens");
    let time = busy_time(&probe);
    let length = probe.timeline().length;

    let direct = tour_at(&file, Some("projection"), Some(time)).expect("the tour opens");
    let mut offscreen = tour_offscreen(direct, SIZE).expect("an offscreen app");
    offscreen.wait_until_ready().expect("the scene becomes ready");
    let there_directly = scene_state(&mut offscreen);
    assert!(
        there_directly.blocks.iter().any(|(style, _)| *style != BlockStyle::default()),
        "the time {time} s shows tour styles"
    );

    for elsewhere in [length, 0.0, time * 0.5, length * 0.9] {
        seek(&mut offscreen, elsewhere);
        assert_ne!(
            scene_state(&mut offscreen),
            there_directly,
            "the scene at {elsewhere} s differs from the one at {time} s"
        );
    }
    seek(&mut offscreen, time);
    assert_eq!(scene_state(&mut offscreen), there_directly, "back at {time} s after scrubbing");

    // What the scene shows is what the chapter's bevy_tweening sequences wrote, seeked to `time`.
    let world = offscreen.world_mut();
    let tweened: Vec<TweenedBlock> = world.query::<&TweenedBlock>().iter(world).copied().collect();
    let applied = world.resource::<CurrentTourFrame>().frame.clone().expect("a frame applied");
    let shown: Vec<_> = tweened.iter().filter(|tweened| tweened.model == applied.model_index).collect();
    assert!(!shown.is_empty(), "the chapter's tweens are spawned");
    assert_eq!(shown.len(), applied.blocks.len());
    for tweened in shown {
        assert_eq!(applied.blocks[&tweened.block], tweened.state, "block {}", tweened.block);
    }

    // Another chapter, whose blocks are others, and back: nothing of it is left over.
    let projection = offscreen.world_mut().resource::<TourState>().chapter;
    offscreen.world_mut().resource_mut::<TourState>().open_chapter(projection - 3, false);
    seek(&mut offscreen, 5.0);
    offscreen.world_mut().resource_mut::<TourState>().open_chapter(projection, false);
    seek(&mut offscreen, time);
    assert_eq!(scene_state(&mut offscreen), there_directly, "back at {time} s after another chapter");

    // Hovering a link lights its blocks up; letting go gives the tour's styles back.
    let wte = offscreen.world_mut().resource::<BlockScene>().layout.find("wte").unwrap();
    offscreen.world_mut().resource_mut::<TourHover>().blocks = vec![wte];
    seek(&mut offscreen, time);
    assert!(scene_state(&mut offscreen).blocks[wte].0.highlight >= 0.8);
    offscreen.world_mut().resource_mut::<TourHover>().blocks.clear();
    seek(&mut offscreen, time);
    assert_eq!(scene_state(&mut offscreen), there_directly, "after hovering a link");

    // And playing into it from before ends where the evaluation says.
    let frame = offscreen.world_mut().resource::<TourState>().frame();
    let scene = offscreen.world_mut().resource::<BlockScene>();
    let moved: Vec<usize> = frame
        .blocks
        .iter()
        .filter(|(_, state)| state.offset != BlockState::default().offset)
        .map(|(&b, _)| b)
        .collect();
    assert!(!moved.is_empty());
    let layout = scene.layout.clone();
    for block in moved {
        let expected = llmviz::render::tour::player::block_transform(&layout, block, frame.block(block));
        assert_eq!(there_directly.blocks[block].1, expected, "block {} moved by its offset", layout.blocks[block].name);
    }
}

fn differing_pixels(a: &Frame, b: &Frame) -> usize {
    a.rgba
        .chunks(4)
        .zip(b.rgba.chunks(4))
        .filter(|(a, b)| a.iter().zip(b.iter()).any(|(x, y)| x.abs_diff(*y) > 24))
        .count()
}

fn tour_picture(chapter: &str, time: f32) -> Frame {
    let tour = tour_at(&tour_file(), Some(chapter), Some(time)).expect("the tour opens");
    let mut offscreen = tour_offscreen(tour, SIZE).expect("an offscreen app");
    offscreen.wait_until_ready().expect("the scene becomes ready");
    offscreen.capture().expect("a frame")
}

#[test]
fn tour_screenshots_at_two_times_of_a_chapter_differ() {
    let _gpu = gpu();
    // The embedding chapter: at its start the input embedding is empty; by 8.3 s columns 0 to 3
    // are computed and column 3 is focused.
    let start = tour_picture("embedding", 0.0);
    let later = tour_picture("embedding", 8.3);
    let again = tour_picture("embedding", 8.3);
    let total = (SIZE.x * SIZE.y) as usize;
    let changed = differing_pixels(&start, &later);
    assert!(changed > total / 100, "only {changed} of {total} pixels differ between 0 s and 8.3 s");
    assert_eq!(differing_pixels(&later, &again), 0, "the same tour time renders the same picture");
}

#[test]
fn tour_screenshot_command_writes_the_picture_and_clamps_time() {
    let _gpu = gpu();
    let out = Scratch::file("tour-shot.png");
    let out_text = out.display().to_string();
    let output = llmviz(&[
        "screenshot",
        "--tour",
        TOUR,
        "--chapter",
        "embedding",
        "--time",
        "1000",
        "--size",
        "320x180",
        "--out",
        &out_text,
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let length = tour_at(&tour_file(), Some("embedding"), None).unwrap().timeline().length;
    assert!(stdout.contains(&format!("at {length:.2} s")), "clamped to the chapter's end: {stdout}");
    assert!(std::fs::metadata(&out).is_ok_and(|m| m.len() > 0));
}

#[test]
fn deep_link_mistakes_are_one_clear_line() {
    assert_clean_failure(&llmviz(&["--tour", "tours/no-such.ron"]), "tours/no-such.ron");
    assert_clean_failure(
        &llmviz(&["--tour", TOUR, "--chapter", "attention"]),
        "no chapter 'attention': expected one of overview",
    );
    assert_clean_failure(
        &llmviz(&["--tour", TOUR, "--chapter", "embedding", "--step", "99"]),
        "has steps 1 to 5, not 99",
    );
    assert_clean_failure(&llmviz(&["--tour", TOUR, "--chapter", "embedding", "--step", "0"]), "not 0");
    assert_clean_failure(&llmviz(&["--step", "2"]), "--step needs a --chapter");
    assert_clean_failure(
        &llmviz(&["screenshot", "--tour", TOUR, "--chapter", "nope", "--out", "/tmp/never.png"]),
        "no chapter 'nope'",
    );

    let broken = Scratch::file("broken.ron");
    std::fs::write(&broken, "Tour(title: \"x\", model: \"nano\", chapters: [Chapter(id: \"a\", title: \"A\", camera: Overveiw, steps: [])])").unwrap();
    let broken_text = broken.display().to_string();
    assert_clean_failure(&llmviz(&["--tour", &broken_text]), &broken_text);
}

#[test]
fn a_broken_edit_keeps_the_last_good_tour_and_a_fix_reloads_it() {
    let path = Scratch::file("live.ron");
    let good = std::fs::read_to_string(tour_file()).unwrap();
    std::fs::write(&path, &good).unwrap();
    let mut tour = tour_at(&path, Some("embedding"), Some(3.0)).expect("the copy opens");
    let chapters = tour.compiled.chapters.len();

    std::fs::write(&path, good.replace("Focus(block: \"wte\"", "Focus(block: \"wtf\"")).unwrap();
    assert_eq!(tour.poll_file(), Polled::Broken);
    assert!(tour.errors.iter().any(|error| error.contains("wtf")), "{:?}", tour.errors);
    assert_eq!(tour.compiled.chapters.len(), chapters, "the last good tour stays");
    assert_eq!((tour.timeline().id.as_str(), tour.player.time), ("embedding", 3.0));

    let retitled = good.replace("title: \"Embedding\"", "title: \"Embedding, edited\"");
    std::fs::write(&path, retitled).unwrap();
    assert_eq!(tour.poll_file(), Polled::Reloaded);
    assert!(tour.errors.is_empty());
    assert_eq!(tour.timeline().title, "Embedding, edited");
    assert_eq!((tour.timeline().id.as_str(), tour.player.time), ("embedding", 3.0), "the reader stays where they were");
}

#[test]
fn a_removed_tour_file_is_named_in_the_panel_and_the_tour_plays_on_until_it_returns() {
    let path = Scratch::file("removed.ron");
    let good = std::fs::read_to_string(tour_file()).unwrap();
    std::fs::write(&path, &good).unwrap();
    let mut tour = tour_at(&path, Some("embedding"), Some(3.0)).expect("the copy opens");
    let chapters = tour.compiled.chapters.len();

    std::fs::remove_file(&path).unwrap();
    assert_eq!(tour.poll_file(), Polled::Broken);
    let (heading, lines) = error_box("en", &tour.errors);
    assert!(heading.contains("still showing the last good version"), "{heading}");
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].starts_with(&format!("{}: cannot read", path.display())), "{lines:?}");
    assert_eq!(tour.compiled.chapters.len(), chapters, "the last good tour stays");
    assert_eq!((tour.timeline().id.as_str(), tour.player.time), ("embedding", 3.0));

    std::fs::write(&path, &good).unwrap();
    assert_eq!(tour.poll_file(), Polled::Reloaded);
    assert!(tour.errors.is_empty(), "{:?}", tour.errors);
    assert_eq!((tour.timeline().id.as_str(), tour.player.time), ("embedding", 3.0), "the reader stays where they were");
}

#[test]
fn the_panel_lists_six_errors_and_counts_the_rest() {
    let errors: Vec<String> = (1..=9).map(|line| format!("tour.ron:{line}:1: error {line}")).collect();
    let (_, lines) = error_box("en", &errors);
    assert_eq!(lines.len(), 7);
    assert_eq!(lines[..6], errors[..6]);
    assert_eq!(lines[6], "… and 3 more");
}

#[test]
fn playing_stops_at_the_next_break_with_the_scene_of_going_there_directly() {
    let _gpu = gpu();
    // From the start of the embedding chapter's third step, playing runs its reveal of x to the step's end.
    let start = tour_at(&tour_file(), Some("embedding"), None).unwrap();
    let (from, stop) = {
        let timeline = start.timeline();
        (timeline.steps[2].start, timeline.next_break_after(timeline.steps[2].start))
    };
    let direct = tour_at(&tour_file(), Some("embedding"), Some(stop)).unwrap();
    let mut offscreen = tour_offscreen(direct, SIZE).expect("an offscreen app");
    offscreen.wait_until_ready().expect("the scene becomes ready");
    let there_directly = scene_state(&mut offscreen);

    // The tour's clock moves a 30th of a second a frame, whatever the frames cost on lavapipe.
    const FRAME: f32 = 1.0 / 30.0;
    let world = offscreen.world_mut();
    world.insert_resource(TimeUpdateStrategy::ManualDuration(std::time::Duration::from_secs_f32(FRAME)));
    seek(&mut offscreen, from);
    offscreen.world_mut().resource_mut::<TourState>().player.playing = true;
    // Playing at speed 1 reaches the break in (stop − from) / FRAME frames; a few more are slack.
    let frames = ((stop - from) / FRAME).ceil() as usize + 5;
    for _ in 0..frames {
        if !offscreen.world_mut().resource::<TourState>().player.playing {
            break;
        }
        offscreen.timed_frame();
    }
    let player = &offscreen.world_mut().resource::<TourState>().player;
    assert!(!player.playing, "still playing after {frames} frames of {FRAME} s");
    assert_eq!(player.time, stop, "stopped at the break");
    for _ in 0..2 {
        offscreen.timed_frame();
    }
    assert_eq!(scene_state(&mut offscreen), there_directly, "played into {stop} s");
}

#[test]
fn space_at_a_chapters_end_opens_the_next_chapter_and_at_the_last_does_nothing() {
    let mut tour = tour_at(&tour_file(), Some("embedding"), Some(1.0e6)).unwrap();
    assert!(tour.player.at_end(tour.timeline()));
    tour.continue_playing();
    assert_eq!((tour.timeline().id.as_str(), tour.player.time, tour.player.playing), ("layer-norm", 0.0, true));

    let last = tour.compiled.chapters.len() - 1;
    tour.open_chapter(last, false);
    let length = tour.timeline().length;
    tour.player.time = length;
    tour.continue_playing();
    assert_eq!((tour.chapter, tour.player.time, tour.player.playing), (last, length, false));
}

#[test]
fn the_default_tour_opens_ready_at_the_first_chapters_start() {
    let tour = TourState::open(&Default::default()).expect("the default tour opens");
    assert_eq!((tour.chapter, tour.player.time, tour.player.playing), (0, 0.0, false));
    assert_eq!(tour.timeline().id, "overview");
}

#[test]
fn a_model_switch_in_the_tour_respawns_the_scene_and_scrubbing_back_restores_nano() {
    let _gpu = gpu();
    let scale = Path::new(env!("CARGO_MANIFEST_DIR")).join("tours/scale.ron");
    // Chapter gpt-2 opens on nano and switches to gpt2 when its first step's actions start.
    let opening = tour_at(&scale, Some("gpt-2"), Some(0.0)).unwrap();
    let switched_at = opening.timeline().steps[0].actions_start + 2.0;
    assert_eq!(opening.frame().model, "nano");
    assert_eq!(opening.timeline().evaluate(switched_at).model, "gpt2");

    let direct = tour_at(&scale, Some("gpt-2"), Some(switched_at)).unwrap();
    let mut offscreen = tour_offscreen(direct, SIZE).expect("an offscreen app");
    offscreen.wait_until_ready().expect("the scene becomes ready");
    let there_directly = scene_state(&mut offscreen);

    seek(&mut offscreen, 0.0);
    offscreen.wait_until_ready().expect("nano becomes ready");
    assert_eq!(offscreen.world_mut().resource::<BlockScene>().layout.config.name, "nano");
    let nano_camera = opening.frame().camera;
    assert_eq!(scene_state(&mut offscreen).camera.eye, Vec3::from(nano_camera.eye));

    seek(&mut offscreen, switched_at);
    offscreen.wait_until_ready().expect("gpt2 becomes ready");
    assert_eq!(offscreen.world_mut().resource::<BlockScene>().layout.config.name, "gpt2");
    assert_eq!(scene_state(&mut offscreen), there_directly, "gpt2 at {switched_at} s after a visit to nano");
}

/// The token the model predicts at `position`: the most probable in its row of `probs`.
fn predicted(activations: &llmviz::model::Activations, position: usize) -> usize {
    let probs = activations.get("probs").expect("probs");
    let vocab = *probs.shape.last().unwrap();
    let row = &probs.data[position * vocab..(position + 1) * vocab];
    (0..vocab).max_by(|&a, &b| row[a].total_cmp(&row[b])).unwrap()
}

/// The output chapter's last step writes the answer as the model does: each `AppendPrediction`
/// puts the model's most probable token at the last position into the next one and runs the model
/// again, so the scene ends on eleven tokens whose last column predicts the sixth answer.
#[test]
fn the_output_chapter_writes_abbbc_one_pass_each_and_column_10_predicts_c() {
    use llmviz::model::tokenizer::parse_letters;
    use llmviz::model::{BackendKind, LoadedModel, Weights};
    use llmviz::render::scene::blocks::{SceneSource, SceneValues};
    let _gpu = gpu();
    let probe = tour_at(&tour_file(), Some("output"), None).unwrap();
    let (end, last_step) = (probe.timeline().length, probe.timeline().steps.len() - 2);
    let before_appends = probe.timeline().steps[last_step].start;
    assert_eq!(probe.timeline().evaluate(before_appends).appended, 0);
    assert_eq!(probe.timeline().evaluate(end).appended, 5);

    let mut offscreen = tour_offscreen(tour_at(&tour_file(), Some("output"), Some(end)).unwrap(), SIZE).unwrap();
    offscreen.wait_for_tour().unwrap();
    let weights = Weights::default_model();
    let tokens = offscreen.world().resource::<SceneSource>().tokens.clone();
    assert_eq!(tokens, parse_letters("CBABBCABBBC", &weights.config).unwrap());
    let model = LoadedModel::new(&weights, BackendKind::Ndarray);
    for position in 5..10 {
        let pass = model.activations(&tokens[..=position]).unwrap();
        assert_eq!(predicted(&pass, position), tokens[position + 1], "the token after position {position}");
    }
    let shown = offscreen.world().resource::<SceneValues>().forward.clone().expect("the last pass");
    assert_eq!(shown.tokens, tokens, "the scene shows the pass on all eleven tokens");
    assert_eq!(predicted(&shown, 10), parse_letters("C", &weights.config).unwrap()[0], "column 10 predicts C");

    // Back before the step, the tour's own input again.
    offscreen.world_mut().resource_mut::<TourState>().seek(before_appends);
    offscreen.update();
    offscreen.wait_for_tour().unwrap();
    let tokens = offscreen.world().resource::<SceneSource>().tokens.clone();
    assert_eq!(tokens, parse_letters("CBABBC", &weights.config).unwrap());
}
