//! Tours: the RON format, its checks, and the player as a pure function of tour time.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bevy::ecs::world::World;

use llmviz::layout::{self, Layout};
use llmviz::model::config::GptConfig;
use llmviz::render::tour::tweens::{TourTweens, TweenedBlock, TweenedCamera, chapter_tweens, seek};
use llmviz::tour::timeline::{reveal_rank, revealed_cells};
use llmviz::tour::{
    Action, BlockState, CameraPose, ChapterTimeline, CompiledTour, Layouts, Pattern, Player, TEXT_IN_SECONDS, Tour,
    TourError, markup,
};

use crate::scratch::Scratch;

const SHIPPED: [&str; 3] = ["tours/nano-gpt.ron", "tours/scale.ron", "tours/modern.ron"];

fn shipped(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(name)
}

fn load_shipped(name: &str) -> CompiledTour {
    let mut layouts = Layouts::default();
    CompiledTour::load(&shipped(name), &mut layouts).unwrap_or_else(|errors| {
        panic!("{name} should check clean:\n{}", errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))
    })
}

/// A one-chapter nano tour around the given steps, as RON.
fn nano_tour(steps: &str) -> String {
    format!(
        r#"Tour(title: "test", model: "nano", chapters: [
    Chapter(id: "only", title: "Only", camera: Overview, steps: [
{steps}
    ]),
])"#
    )
}

fn compile(text: &str) -> Result<CompiledTour, Vec<TourError>> {
    let tour = Tour::parse(text, "test.ron").map_err(|error| vec![error])?;
    CompiledTour::compile(tour, "test.ron", &mut Layouts::default())
}

fn compile_ok(text: &str) -> CompiledTour {
    compile(text).unwrap_or_else(|errors| panic!("should compile: {errors:?}"))
}

fn error_lines(text: &str) -> Vec<String> {
    match compile(text) {
        Ok(_) => panic!("should not compile:\n{text}"),
        Err(errors) => errors.iter().map(ToString::to_string).collect(),
    }
}

fn nano() -> Layout {
    layout::build(&GptConfig::nano())
}

// The format

#[test]
fn shipped_tours_round_trip_through_ron() {
    for name in SHIPPED {
        let tour = Tour::load(&shipped(name)).expect("parses");
        let written = tour.to_ron();
        let read_back = Tour::parse(&written, "written.ron").unwrap_or_else(|error| panic!("{error}\n{written}"));
        assert_eq!(read_back, tour, "{name} changed on the way through RON");
    }
}

#[test]
fn every_action_kind_round_trips_through_ron() {
    let text = nano_tour(
        r#"Step(text: ["*all* kinds"], actions: [
            Camera(to: Pose(eye: (1.0, 2.0, 3.0), target: (0.0, 0.5, 0.0)), duration: 1.0, zoom: 0.5, easing: SineInOut, at: 0.25),
            Camera(to: Section(text: "MLP", layer: 1), duration: 1.0),
            Camera(to: Cells(block: "x", cells: Cell(2, 7)), duration: 1.0),
            Camera(to: Blocks("wte|wpe"), duration: 1.0),
            Tween(blocks: "block0.head*", duration: 2.0, opacity: 0.5, highlight: 0.25, offset: (0.0, -16.0, 36.0), scale: 1.5),
            Reveal(blocks: "x", duration: 1.5, until: Column(3), sequential: true, easing: CubicIn),
            Hide(blocks: "x", at: 9.0),
            Focus(block: "x", cells: Row(4), note: "a row"),
            Unfocus,
            Compute(block: "block0.head0.q", cells: Cell(3, 0), duration: 4.0, at: 1.0),
            Compute(block: "x", cells: Column(3), duration: 2.0, style: Sweep),
            Fly(from: (block: "wte", cells: Column(1)), to: (block: "x", cells: Column(3)), duration: 1.5, easing: Linear),
            Fly(from: (block: "block0.head1.y", cells: All), to: (block: "block0.head0.y", cells: All), duration: 1.5, offset: (0.0, -16.0, 0.0), stay: true),
            Figure(GeluVsRelu),
            Labels(false),
            Model(name: "gpt2", camera: Block("tokens")),
            Model(name: "nano"),
            AppendPrediction,
            SwitchOff("block0.head1,block1.mlp"),
            Wait(0.5),
            Break,
        ])"#,
    )
    .replacen(r#"model: "nano","#, r#"model: "nano", input: "CBABBC","#, 1);
    let tour = Tour::parse(&text, "kinds.ron").expect("parses");
    assert_eq!(tour.chapters[0].steps[0].actions.len(), 21);
    assert_eq!(Tour::parse(&tour.to_ron(), "written.ron").expect("reads back"), tour);
    compile_ok(&text);
}

#[test]
fn optional_fields_are_written_bare_and_defaults_left_out() {
    let tour =
        Tour::parse(&nano_tour(r#"Step(actions: [Camera(to: Overview, duration: 2.0, at: 1.0)])"#), "t.ron").unwrap();
    let written = tour.to_ron();
    assert!(written.contains("at: 1.0"), "{written}");
    assert!(!written.contains("Some("), "{written}");
    assert!(!written.contains("zoom"), "zoom 1 is the default: {written}");
}

// Errors

#[test]
fn syntax_error_reports_file_line_and_column() {
    let text =
        "Tour(\n    title: \"broken\",\n    model: \"nano\",\n    chapters: [ Chapter(id: \"a\" title: \"A\") ],\n)";
    let error = Tour::parse(text, "tours/broken.ron").expect_err("missing comma");
    let TourError::Syntax { file, line, col, .. } = &error else { panic!("not a syntax error: {error:?}") };
    assert_eq!((file.as_str(), *line), ("tours/broken.ron", 4));
    assert!(*col > 20 && *col < 36, "column {col} should point near `title` on line 4");
    assert!(error.to_string().starts_with(&format!("tours/broken.ron:4:{col}: ")), "{error}");
}

#[test]
fn unknown_field_is_a_syntax_error_with_its_position() {
    let text = nano_tour(r#"Step(text: ["hi"], actions: [Camera(to: Overview, duration: 1.0, speed: 2.0)])"#);
    let error = Tour::parse(&text, "t.ron").expect_err("no field speed");
    assert!(matches!(error, TourError::Syntax { line: 3, .. }), "{error:?}");
    assert!(error.to_string().contains("speed"), "{error}");
}

#[test]
fn unknown_block_is_named_by_file_chapter_step_and_field() {
    let errors = error_lines(&nano_tour(
        r#"Step(text: ["one"]),
           Step(text: ["two"], actions: [Wait(1.0), Tween(blocks: "block0.head0.qq", opacity: 0.5, duration: 1.0)])"#,
    ));
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0]
            .starts_with("test.ron: chapter 'only', step 2, field actions[1].blocks: unknown block 'block0.head0.qq'"),
        "{}",
        errors[0]
    );
}

#[test]
fn zero_and_negative_durations_are_errors() {
    let errors = error_lines(&nano_tour(
        r#"Step(text: ["a"], actions: [
            Camera(to: Overview, duration: 0.0),
            Reveal(blocks: "x", duration: -1.0),
            Wait(0.0),
        ])"#,
    ));
    assert_eq!(errors.len(), 3, "{errors:?}");
    assert!(errors[0].contains("step 1, field actions[0].duration: Camera duration 0"), "{}", errors[0]);
    assert!(errors[1].contains("step 1, field actions[1].duration: Reveal duration -1"), "{}", errors[1]);
    assert!(errors[2].contains("step 1, field actions[2]: Wait duration 0"), "{}", errors[2]);
}

#[test]
fn a_step_with_nothing_to_show_is_an_error() {
    let errors = error_lines(&nano_tour(r#"Step(text: ["fine"]), Step(actions: [Wait(1.0), Break])"#));
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with("test.ron: chapter 'only', step 2, field text: the step has nothing to show"),
        "{}",
        errors[0]
    );
}

#[test]
fn links_to_unknown_chapters_and_blocks_in_text_are_errors() {
    let errors = error_lines(&nano_tour(
        r#"Step(text: ["see [there](chapter:nowhere)", "and [this](block:x)", "and [that](block:wtf)"])"#,
    ));
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(errors[0].contains("step 1, field text[0]: link to unknown chapter 'nowhere'"), "{}", errors[0]);
    assert!(errors[1].contains("step 1, field text[2]: unknown block 'wtf'"), "{}", errors[1]);
}

#[test]
fn cells_outside_a_block_are_errors() {
    let errors = error_lines(&nano_tour(r#"Step(actions: [Focus(block: "x", cells: Column(11))])"#));
    assert!(
        errors[0].contains("field actions[0].cells: block 'x': Column(11) is outside its 11 columns"),
        "{errors:?}"
    );
}

/// A range of columns is one focus over those tokens' vectors; it must run forwards and fit.
#[test]
fn a_column_range_lights_its_columns_and_must_fit() {
    use llmviz::render::tour::player::focus_cells;
    use llmviz::tour::Cells;
    let errors = error_lines(&nano_tour(
        r#"Step(actions: [Focus(block: "x", cells: Columns(4, 11)), Focus(block: "x", cells: Columns(5, 2))])"#,
    ));
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(errors[0].contains("actions[0].cells: block 'x': Columns(4, 11) is outside its 11 columns"), "{errors:?}");
    assert!(errors[1].contains("actions[1].cells: block 'x': Columns(5, 2) ends before it starts"), "{errors:?}");

    let tour = compile(&nano_tour(r#"Step(actions: [Focus(block: "x", cells: Columns(0, 5), note: "0 to 5")])"#))
        .expect("a range inside the block compiles");
    let frame = tour.chapters[0].evaluate(tour.chapters[0].length);
    assert_eq!(frame.focus[0].cells, Cells::Columns(0, 5));
    let focus = focus_cells(Cells::Columns(0, 5), 1.0);
    assert_eq!((focus.cell, focus.columns, focus.single_cell()), ([Some(0), None, None], 6, None));
    assert_eq!(
        llmviz::tour::timeline::cells_region(Cells::Columns(2, 4), [11, 48, 1]),
        ([2, 0, 0], [3, 48, 1]),
        "three columns, every row"
    );
}

/// `AppendPrediction` appends to the tour's input, with the shipped weights, within the context.
#[test]
fn append_prediction_needs_weights_an_input_and_room_in_the_context() {
    let errors = error_lines(&nano_tour(r#"Step(actions: [AppendPrediction])"#));
    assert!(errors[0].contains("field actions[0]: AppendPrediction needs the tour's input"), "{errors:?}");

    let with_input =
        |steps: &str| nano_tour(steps).replacen(r#"model: "nano","#, r#"model: "nano", input: "CBABBC","#, 1);
    let five = "AppendPrediction, ".repeat(5);
    let tour = compile_ok(&with_input(&format!("Step(actions: [{five}Wait(1.0)])")));
    let chapter = &tour.chapters[0];
    assert_eq!(chapter.evaluate(0.0).appended, 0, "before the step's text is in");
    assert_eq!(chapter.evaluate(chapter.length).appended, 5);

    let errors = error_lines(&with_input(&format!("Step(actions: [{five}AppendPrediction])")));
    assert!(
        errors[0].contains("field actions[5]: the context is full: 6 input tokens and 6 appended, 11 at most"),
        "{errors:?}"
    );
    let errors = error_lines(&with_input(r#"Step(actions: [Model(name: "gpt2"), AppendPrediction])"#));
    assert!(errors[0].contains("field actions[1]: model 'gpt2' has no weights to predict with"), "{errors:?}");
}

/// `SwitchOff` names parts the model has, on a model with weights; each chapter starts with all on.
#[test]
fn switch_off_names_parts_of_a_model_with_weights() {
    let tour =
        compile_ok(&nano_tour(r#"Step(actions: [Wait(1.0), SwitchOff("block0.head2"), Wait(1.0), SwitchOff("")])"#));
    let chapter = &tour.chapters[0];
    let off = |time: f32| chapter.evaluate(time).switched_off.parts();
    assert_eq!(off(0.0), vec![], "all on at the start");
    assert_eq!(off(1.5), vec![llmviz::model::ablation::Part::Head { layer: 0, head: 2 }]);
    assert_eq!(off(chapter.length), vec![], "\"\" switches all back on");

    let errors = error_lines(&nano_tour(r#"Step(actions: [Wait(1.0), SwitchOff("block0.head7")])"#));
    assert!(
        errors[0].contains("field actions[1]: SwitchOff 'block0.head7': head 7 is outside the model's 3 heads"),
        "{errors:?}"
    );
    let errors = error_lines(&nano_tour(r#"Step(actions: [Model(name: "gpt2"), SwitchOff("block0.mlp")])"#));
    assert!(errors[0].contains("field actions[1]: model 'gpt2' has no weights to switch parts of"), "{errors:?}");
}

/// `Gradients` turns gradient mode on and off, on a model with weights; each chapter and each
/// model switch starts with it off.
#[test]
fn gradients_turn_gradient_mode_on_and_off_on_a_model_with_weights() {
    let tour = compile_ok(&nano_tour(r#"Step(actions: [Wait(1.0), Gradients(true), Wait(1.0), Gradients(false)])"#));
    let chapter = &tour.chapters[0];
    let on = |time: f32| chapter.evaluate(time).gradients;
    assert_eq!((on(0.0), on(1.5), on(chapter.length)), (false, true, false));
    let errors = error_lines(&nano_tour(r#"Step(actions: [Model(name: "gpt3"), Gradients(true)])"#));
    assert!(
        errors[0].contains("field actions[1]: model 'gpt3' has no weights to take a training step with"),
        "{errors:?}"
    );
    let tour =
        compile_ok(&nano_tour(r#"Step(actions: [Gradients(true), Wait(1.0), Model(name: "nano-llama"), Wait(1.0)])"#));
    assert!(!tour.chapters[0].evaluate(tour.chapters[0].length).gradients, "another model starts without");
}

#[test]
fn tour_level_mistakes_name_the_field() {
    let text = r#"Tour(title: "", model: "nano-9000", chapters: [])"#;
    let errors = error_lines(text);
    assert!(
        errors.contains(
            &"test.ron: field model: unknown model 'nano-9000': expected one of nano, nano-llama, gpt2, gpt2-xl, gpt3"
                .to_string()
        ),
        "{errors:?}"
    );
    assert!(errors.contains(&"test.ron: field title: a tour needs a title".to_string()), "{errors:?}");
    assert!(errors.contains(&"test.ron: field chapters: a tour needs at least one chapter".to_string()), "{errors:?}");
}

#[test]
fn every_error_is_reported_not_just_the_first() {
    let errors = error_lines(&nano_tour(
        r#"Step(text: ["*unclosed"], actions: [Tween(blocks: "nope", duration: 1.0, opacity: 2.0)]),
           Step(actions: [Focus(block: "tokens", cells: Row(1))])"#,
    ));
    assert_eq!(errors.len(), 4, "{errors:#?}");
}

#[test]
fn tour_check_prints_ok_per_good_file_and_every_error_one_per_line() {
    let directory = Scratch::dir("tour-check");
    let good = directory.join("good.ron");
    let bad = directory.join("bad.ron");
    std::fs::write(&good, nano_tour(r#"Step(text: ["hello"])"#)).unwrap();
    std::fs::write(&bad, nano_tour(r#"Step(actions: [Camera(to: Block("y"), duration: 0.0)])"#)).unwrap();
    let (good_text, bad_text) = (good.display().to_string(), bad.display().to_string());
    let output = crate::cli::llmviz(&["tour", "check", &good_text]);
    assert!(output.status.success(), "{}", crate::cli::stderr(&output));
    assert_eq!(crate::cli::stdout(&output), format!("{good_text}: ok (1 chapters, 1 steps)\n"));

    let output = crate::cli::llmviz(&["tour", "check", &good_text, &bad_text]);
    assert!(!output.status.success());
    assert_eq!(crate::cli::stdout(&output), format!("{good_text}: ok (1 chapters, 1 steps)\n"));
    let message = crate::cli::stderr(&output);
    let lines: Vec<&str> = message.lines().collect();
    assert_eq!(lines.len(), 2, "{message}");
    let prefix = format!("error: {bad_text}: chapter 'only', step 1, field actions[0].");
    assert!(lines[0].starts_with(&prefix), "{message}");
    let prefix = format!("{bad_text}: chapter 'only', step 1, field actions[0].");
    assert!(lines[1].starts_with(&prefix), "{message}");
}

// Deep links

#[test]
fn deep_link_to_a_chapter_and_step_lands_where_the_steps_text_is_shown() {
    let compiled = load_shipped("tours/nano-gpt.ron");
    let (chapter, time) = compiled.deep_link("self-attention", Some(3)).expect("resolves");
    assert_eq!(compiled.tour.chapters[chapter].id, "self-attention");
    let timeline = &compiled.chapters[chapter];
    assert_eq!(time, timeline.steps[2].actions_start);
    let frame = timeline.evaluate(time);
    assert_eq!((frame.step, frame.text_in), (2, 1.0));
    assert_eq!(compiled.deep_link("output", None), Ok((7, 0.0)));
}

#[test]
fn deep_link_to_an_unknown_chapter_or_step_is_an_error() {
    let compiled = load_shipped("tours/nano-gpt.ron");
    let error = compiled.deep_link("attention", Some(1)).expect_err("no such chapter");
    assert!(error.contains("no chapter 'attention': expected one of overview, embedding"), "{error}");
    let steps = compiled.tour.chapters[3].steps.len();
    let error = compiled.deep_link("self-attention", Some(steps + 1)).expect_err("one step too far");
    assert!(error.ends_with(&format!("chapter 'self-attention' has steps 1 to {steps}, not {}", steps + 1)), "{error}");
    assert!(compiled.deep_link("self-attention", Some(0)).is_err(), "steps count from 1");
}

// The timeline and the player

/// Times spread over a chapter, with every step boundary and break and points just beside them.
fn probe_times(timeline: &ChapterTimeline) -> Vec<f32> {
    let mut times: Vec<f32> = (0..=200).map(|i| timeline.length * i as f32 / 200.0).collect();
    for step in &timeline.steps {
        times.extend([step.start, step.actions_start, step.end, step.end - 0.01, step.actions_start + 0.01]);
    }
    times.extend(timeline.breaks.iter().copied());
    times.into_iter().map(|time| time.clamp(0.0, timeline.length)).collect()
}

#[test]
fn the_scene_at_a_time_does_not_depend_on_what_was_evaluated_before() {
    for name in SHIPPED {
        let compiled = load_shipped(name);
        for timeline in &compiled.chapters {
            let times = probe_times(timeline);
            let forwards: Vec<_> = times.iter().map(|&time| timeline.evaluate(time)).collect();
            // Backwards, and from the far end to each time and back, as a scrubbing reader would.
            for (index, &time) in times.iter().enumerate().rev() {
                let _ = timeline.evaluate(timeline.length);
                assert_eq!(timeline.evaluate(time), forwards[index], "{name} chapter {} at t={time}", timeline.id);
            }
        }
    }
}

#[test]
fn playing_in_frames_stops_at_every_break_with_the_scene_a_jump_gives() {
    for name in SHIPPED {
        let compiled = load_shipped(name);
        for timeline in &compiled.chapters {
            let mut player = Player::default();
            let mut stops = Vec::new();
            for _frame in 0..200_000 {
                if player.advance(timeline, 1.0 / 60.0) {
                    stops.push(player.time);
                    // The reader scrubs away and back, then presses Space.
                    let here = timeline.evaluate(player.time);
                    let mut scrubbed = player;
                    scrubbed.seek(timeline, 0.0);
                    scrubbed.seek(timeline, here.time);
                    assert_eq!(timeline.evaluate(scrubbed.time), here);
                    player.continue_playing(timeline);
                }
                if player.at_end(timeline) {
                    break;
                }
            }
            assert_eq!(stops, timeline.breaks, "{name} chapter {}: stops", timeline.id);
        }
    }
}

/// The chapter's bevy_tweening sequences, spawned into a world as the player spawns them.
fn spawn_tweens(timeline: &ChapterTimeline) -> World {
    let mut world = World::new();
    let (camera, camera_tweens, blocks) = chapter_tweens(timeline);
    world.spawn((camera, camera_tweens));
    world.spawn_batch(blocks);
    world
}

/// Seeks every sequence to `time` and reads back the camera and the blocks of `model`.
fn seek_all(world: &mut World, time: f32, model: usize) -> (CameraPose, BTreeMap<usize, BlockState>) {
    let mut query = world.query::<(&mut TourTweens, Option<&mut TweenedCamera>, Option<&mut TweenedBlock>)>();
    let mut camera = None;
    let mut blocks = BTreeMap::new();
    for (mut tweens, tweened_camera, tweened_block) in query.iter_mut(world) {
        if let Some(mut target) = tweened_camera {
            tweens.0.iter_mut().for_each(|sequence| seek(sequence, time, target.reborrow()));
            camera = Some(target.0);
        }
        if let Some(mut target) = tweened_block {
            tweens.0.iter_mut().for_each(|sequence| seek(sequence, time, target.reborrow()));
            if target.model == model {
                blocks.insert(target.block, target.state);
            }
        }
    }
    (camera.expect("a camera sequence"), blocks)
}

fn close(a: f32, b: f32, scale: f32) -> bool {
    (a - b).abs() <= 1e-4 * scale.max(1.0)
}

fn same_pose(a: &CameraPose, b: &CameraPose) -> bool {
    let scale = a.eye.iter().chain(&a.target).fold(0.0_f32, |m, v| m.max(v.abs()));
    (0..3).all(|axis| close(a.eye[axis], b.eye[axis], scale) && close(a.target[axis], b.target[axis], scale))
}

fn same_state(a: &BlockState, b: &BlockState) -> bool {
    [(a.opacity, b.opacity), (a.highlight, b.highlight), (a.scale, b.scale), (a.reveal, b.reveal)]
        .into_iter()
        .chain((0..3).map(|axis| (a.offset[axis], b.offset[axis])))
        .all(|(x, y)| close(x, y, 1.0))
}

#[test]
fn bevy_tweening_sequences_seeked_in_any_order_give_the_timelines_scene() {
    for name in SHIPPED {
        let compiled = load_shipped(name);
        for timeline in &compiled.chapters {
            let mut world = spawn_tweens(timeline);
            let mut times = probe_times(timeline);
            // Forwards, then in a scrubbing reader's order: from the far end, backwards, and
            // beyond the chapter's end.
            let mut shuffled = times.clone();
            shuffled.reverse();
            shuffled.rotate_left(times.len() / 3);
            times.extend(shuffled);
            times.push(timeline.length + 5.0);
            for time in times {
                let expected = timeline.evaluate(time);
                let (camera, blocks) = seek_all(&mut world, time, expected.model_index);
                let at = format!("{name} chapter {} at t={time}", timeline.id);
                assert!(same_pose(&camera, &expected.camera), "{at}: camera {camera:?} vs {:?}", expected.camera);
                assert_eq!(blocks.keys().collect::<Vec<_>>(), expected.blocks.keys().collect::<Vec<_>>(), "{at}");
                for (block, state) in &blocks {
                    assert!(
                        same_state(state, &expected.blocks[block]),
                        "{at}: block {block}: {state:?} vs {:?}",
                        expected.blocks[block]
                    );
                }
            }
        }
    }
}

#[test]
fn a_move_cut_short_by_the_next_is_followed_by_its_tween_until_the_cut() {
    let compiled = compile_ok(&nano_tour(
        r#"Step(text: ["dim all, keep x"], actions: [
            Tween(blocks: "*", opacity: 0.0, duration: 4.0, easing: CubicInOut, at: 0.0),
            Tween(blocks: "x", opacity: 1.0, duration: 1.0, easing: QuadraticIn, at: 2.5),
            Tween(blocks: "x", scale: 2.0, duration: 0.5, easing: Linear, at: 1.0),
        ])"#,
    ));
    let timeline = &compiled.chapters[0];
    let x = nano().find("x").unwrap();
    let mut world = spawn_tweens(timeline);
    let start = timeline.steps[0].actions_start;
    for offset in [3.4, 0.0, 2.4, 2.5, 0.5, 1.0, 0.99, 2.6, 3.5, 1.7] {
        let time = start + offset;
        let (_, blocks) = seek_all(&mut world, time, 0);
        let expected = timeline.evaluate(time).block(x);
        assert!(same_state(&blocks[&x], &expected), "t={offset}: {:?} vs {expected:?}", blocks[&x]);
    }
    // Cut at 2.5 s, on the cubic curve; the scale holds before and after its move.
    let (_, blocks) = seek_all(&mut world, start + 2.5, 0);
    let cubic_in_out = |t: f32| if t < 0.5 { 4.0 * t * t * t } else { 1.0 - (-2.0 * t + 2.0).powi(3) / 2.0 };
    assert!(close(blocks[&x].opacity, 1.0 - cubic_in_out(2.5 / 4.0), 1.0), "{:?}", blocks[&x]);
    assert_eq!(seek_all(&mut world, start + 0.99, 0).1[&x].scale, 1.0);
    assert!(close(seek_all(&mut world, start + 1.25, 0).1[&x].scale, 1.5, 1.0));
    assert_eq!(seek_all(&mut world, start + 3.0, 0).1[&x].scale, 2.0);
}

#[test]
fn a_tween_jumped_into_starts_from_where_the_one_before_it_ended() {
    let compiled = compile_ok(&nano_tour(
        r#"Step(text: ["fade"], actions: [Tween(blocks: "x", opacity: 0.2, duration: 2.0, easing: Linear)]),
           Step(text: ["back"], actions: [Tween(blocks: "x", opacity: 1.0, duration: 2.0, easing: Linear)])"#,
    ));
    let timeline = &compiled.chapters[0];
    let x = nano().find("x").unwrap();
    let second = timeline.steps[1].actions_start;
    // Never having evaluated the first step, the second tween still runs from 0.2 to 1.
    assert!((timeline.evaluate(second + 1.0).block(x).opacity - 0.6).abs() < 1e-6);
    assert_eq!(timeline.evaluate(second).block(x).opacity, 0.2);
    assert_eq!(timeline.evaluate(timeline.length).block(x).opacity, 1.0);
    assert_eq!(timeline.evaluate(0.0).block(x).opacity, 1.0);
}

#[test]
fn a_later_tween_takes_over_from_an_earlier_one_that_is_still_running() {
    let compiled = compile_ok(&nano_tour(
        r#"Step(text: ["dim all, keep x"], actions: [
            Tween(blocks: "*", opacity: 0.0, duration: 4.0, easing: Linear, at: 0.0),
            Tween(blocks: "x", opacity: 1.0, duration: 1.0, easing: Linear, at: 2.0),
            Tween(blocks: "x|wte", highlight: 1.0, duration: 1.0, at: 0.0),
            Tween(blocks: "wte", highlight: 0.5, duration: 1.0, at: 0.0),
        ])"#,
    ));
    let timeline = &compiled.chapters[0];
    let layout = nano();
    let (x, wte) = (layout.find("x").unwrap(), layout.find("wte").unwrap());
    let start = timeline.steps[0].actions_start;
    assert!((timeline.evaluate(start + 2.0).block(x).opacity - 0.5).abs() < 1e-6, "halfway down when taken over");
    assert!((timeline.evaluate(start + 2.5).block(x).opacity - 0.75).abs() < 1e-6, "then up from 0.5");
    assert_eq!(timeline.evaluate(start + 4.0).block(x).opacity, 1.0);
    assert_eq!(timeline.evaluate(start + 4.0).block(wte).opacity, 0.0);
    // Declared later at the same time wins.
    assert_eq!(timeline.evaluate(start + 1.0).block(wte).highlight, 0.5);
    assert_eq!(timeline.evaluate(start + 1.0).block(x).highlight, 1.0);
}

#[test]
fn actions_run_in_order_unless_given_a_start() {
    let compiled = compile_ok(&nano_tour(
        r#"Step(text: ["order"], actions: [
            Camera(to: Block("x"), duration: 2.0),
            Tween(blocks: "x", highlight: 1.0, duration: 1.0, at: 0.5),
            Break,
            Focus(block: "x", cells: Column(0)),
            Wait(1.5),
            Labels(false),
        ])"#,
    ));
    let timeline = &compiled.chapters[0];
    let start = timeline.steps[0].actions_start;
    assert_eq!(start, TEXT_IN_SECONDS);
    // The break and focus come after both the camera (2 s) and the tween (0.5 + 1 s); the labels 1.5 s later.
    assert_eq!(timeline.breaks, vec![start + 2.0, start + 3.5]);
    assert!(timeline.evaluate(start + 1.99).focus.is_empty());
    assert_eq!(timeline.evaluate(start + 2.0).focus.len(), 1);
    assert!(timeline.evaluate(start + 3.49).labels);
    assert!(!timeline.evaluate(start + 3.5).labels);
    assert_eq!(timeline.length, start + 3.5);
}

#[test]
fn camera_moves_end_exactly_on_their_target_and_zoom_steadily() {
    let compiled = compile_ok(&nano_tour(
        r#"Step(text: ["fly"], actions: [Camera(to: Block("block2.mlp"), duration: 4.0, easing: Linear)])"#,
    ));
    let timeline = &compiled.chapters[0];
    let layout = nano();
    let anchor = layout.block("block2.mlp").unwrap().anchor;
    let start = timeline.steps[0].actions_start;
    assert_eq!(
        timeline.evaluate(start).camera,
        CameraPose { eye: layout.overview.eye, target: layout.overview.target }
    );
    assert_eq!(timeline.evaluate(start + 4.0).camera, CameraPose { eye: anchor.eye, target: anchor.target });
    assert!(timeline.evaluate(start + 2.0).camera_moving && !timeline.evaluate(start + 4.0).camera_moving);
    let distance =
        |pose: CameraPose| (0..3).map(|axis| (pose.eye[axis] - pose.target[axis]).powi(2)).sum::<f32>().sqrt();
    // Halfway in time is halfway in log distance: the zoom rate is steady.
    let (from, to) = (distance(timeline.evaluate(start).camera), distance(timeline.evaluate(start + 4.0).camera));
    let middle = distance(timeline.evaluate(start + 2.0).camera);
    assert!((middle / (from * to).sqrt() - 1.0).abs() < 1e-3, "{from} {middle} {to}");
}

#[test]
fn hidden_blocks_start_uncomputed_and_reveal_computes_them_token_by_token() {
    let compiled = compile_ok(
        &nano_tour(r#"Step(text: ["compute"], actions: [Reveal(blocks: "x", until: Column(3), duration: 2.0), Reveal(blocks: "x", duration: 1.0)])"#)
            .replace("camera: Overview,", "camera: Overview, hidden: \"*\","),
    );
    let timeline = &compiled.chapters[0];
    let layout = nano();
    let (x, wte, ln1) = (layout.find("x").unwrap(), layout.find("wte").unwrap(), layout.find("block0.ln1").unwrap());
    let cells = layout.blocks[x].cells;
    let start = timeline.steps[0].actions_start;
    let at_start = timeline.evaluate(0.0);
    assert_eq!((at_start.block(x).reveal, at_start.block(ln1).reveal), (0.0, 0.0));
    assert_eq!(at_start.block(wte).reveal, 1.0, "weights are never hidden");
    let after_column_3 = timeline.evaluate(start + 2.0).block(x).reveal;
    assert_eq!(revealed_cells(cells, after_column_3), 4 * 48, "tokens 0 to 3, all 48 channels");
    assert_eq!(reveal_rank(cells, [3, 47, 0]), 4 * 48 - 1);
    assert_eq!(reveal_rank(cells, [4, 0, 0]), 4 * 48);
    assert_eq!(timeline.evaluate(timeline.length).block(x).reveal, 1.0);
}

#[test]
fn reveal_leaves_out_weights_and_a_pattern_of_only_weights_is_an_error() {
    let errors = error_lines(&nano_tour(r#"Step(actions: [Reveal(blocks: "wte|wpe", duration: 1.0)])"#));
    assert!(errors[0].contains("names only weights or the input, which are never computed"), "{errors:?}");
}

#[test]
fn a_model_action_switches_the_layout_names_are_checked_against() {
    let switched = r#"Step(text: ["big"], actions: [Model(name: "gpt2", camera: Block("tokens")), Focus(block: "block11.mlp", cells: Column(1000))])"#;
    let compiled = compile_ok(&nano_tour(switched));
    let timeline = &compiled.chapters[0];
    assert_eq!(timeline.models, vec!["nano".to_string(), "gpt2".to_string()]);
    assert_eq!(timeline.evaluate(0.0).model, "nano");
    let end = timeline.evaluate(timeline.length);
    assert_eq!(end.model, "gpt2");
    let gpt2 = layout::build(&GptConfig::preset("gpt2").unwrap());
    assert_eq!(end.focus[0].block, gpt2.find("block11.mlp").unwrap());
    let anchor = gpt2.block("tokens").unwrap().anchor;
    assert_eq!(end.camera, CameraPose { eye: anchor.eye, target: anchor.target });
    // Before the switch, nano has no layer 11.
    let errors = error_lines(&nano_tour(&switched.replace("Model(name: \"gpt2\", camera: Block(\"tokens\")), ", "")));
    assert!(errors[0].contains("unknown block 'block11.mlp' in model 'nano'"), "{errors:?}");
}

#[test]
fn backspace_goes_back_one_break_and_space_replays_from_there() {
    let compiled = load_shipped("tours/nano-gpt.ron");
    let timeline = &compiled.chapters[0];
    let mut player = Player::paused_at(timeline.breaks[2]);
    player.back(timeline);
    assert_eq!((player.time, player.playing), (timeline.breaks[1], false));
    assert_eq!(player.continue_playing(timeline), llmviz::tour::player::Continued::Playing);
    while !player.advance(timeline, 0.1) {}
    assert_eq!(player.time, timeline.breaks[2]);
    player.back(timeline);
    player.back(timeline);
    player.back(timeline);
    assert_eq!(player.time, 0.0, "before the first break is the chapter's start");
    player.seek(timeline, timeline.length);
    assert_eq!(player.continue_playing(timeline), llmviz::tour::player::Continued::ChapterDone);
}

#[test]
fn step_times_increase_through_every_shipped_chapter() {
    for name in SHIPPED {
        let compiled = load_shipped(name);
        for timeline in &compiled.chapters {
            let mut previous_end = 0.0;
            for (index, step) in timeline.steps.iter().enumerate() {
                assert_eq!(step.start, previous_end, "{name} {} step {}", timeline.id, index + 1);
                assert!(step.start < step.actions_start && step.actions_start <= step.end);
                assert_eq!(timeline.step_at(step.end), index);
                assert_eq!(timeline.step_at(step.actions_start), index);
                previous_end = step.end;
            }
            assert_eq!(timeline.length, previous_end);
            assert!(timeline.breaks.windows(2).all(|pair| pair[0] < pair[1]));
        }
    }
}

// Shipped content

#[test]
fn shipped_tours_check_clean() {
    let mut layouts = Layouts::default();
    for name in SHIPPED {
        if let Err(errors) = CompiledTour::load(&shipped(name), &mut layouts) {
            panic!("{name}: {errors:?}");
        }
    }
}

#[test]
fn nano_tour_has_the_chapters_the_issue_asks_for() {
    let compiled = load_shipped("tours/nano-gpt.ron");
    let ids: Vec<&str> = compiled.tour.chapters.iter().map(|chapter| chapter.id.as_str()).collect();
    let chapters = [
        "overview",
        "embedding",
        "layer-norm",
        "self-attention",
        "projection",
        "mlp",
        "transformer",
        "output",
        "writing",
        "lens",
    ];
    for id in chapters {
        assert!(ids.contains(&id), "{id} missing from {ids:?}");
    }
    // Each chapter animates what it explains.
    for (chapter, timeline) in compiled.tour.chapters.iter().zip(&compiled.chapters) {
        let animated = chapter
            .steps
            .iter()
            .flat_map(|step| &step.actions)
            .any(|action| action.duration() > 0.0 && !matches!(action, Action::Wait(_)));
        assert!(animated && timeline.length > 10.0, "{} has too little animation", chapter.id);
    }
}

/// Every block name a tour mentions (camera targets, tweens, reveals, focus, hidden, text links),
/// found by walking the file itself and looked up in the layout of the model on screen when it is used.
#[test]
fn every_block_referenced_by_shipped_tours_exists_in_its_models_layout() {
    let mut layouts = Layouts::default();
    let mut checked = 0;
    for name in SHIPPED {
        let tour = Tour::load(&shipped(name)).unwrap();
        for chapter in &tour.chapters {
            let mut model = tour.chapter_model(chapter).to_string();
            let mut references: Vec<(String, String)> = Vec::new();
            let mut refer = |model: &str, pattern: &str| references.push((model.to_string(), pattern.to_string()));
            refer(&model, &camera_blocks(&chapter.camera).unwrap_or_else(|| "*".into()));
            if let Some(hidden) = &chapter.hidden {
                refer(&model, hidden);
            }
            for step in &chapter.steps {
                for action in &step.actions {
                    for pattern in action_references(action, &mut model) {
                        refer(&model, &pattern);
                    }
                }
                for paragraph in &step.text {
                    for span in markup::parse(paragraph).expect("markup parses") {
                        if let markup::Span::Block { pattern, .. } = span {
                            refer(&model, &pattern);
                        }
                    }
                }
            }
            for (model, pattern) in references {
                let layout = layouts.build(&model).expect("a preset");
                let pattern_object = Pattern::new(&pattern);
                for alternative in pattern.split('|').filter(|alternative| !alternative.starts_with('!')) {
                    let found = Pattern::new(alternative).resolve(layout);
                    assert!(
                        !found.is_empty(),
                        "{name} chapter '{}': '{alternative}' names no block of {model}",
                        chapter.id
                    );
                    checked += 1;
                }
                assert!(!pattern_object.resolve(layout).is_empty());
            }
        }
    }
    assert!(checked > 150, "only {checked} references found");
}

/// The block patterns an action names, all in the model on screen after it (a `Model` action
/// switches `model`).
fn action_references(action: &Action, model: &mut String) -> Vec<String> {
    match action {
        Action::Model { name, camera, .. } => {
            *model = name.clone();
            camera.as_ref().and_then(camera_blocks).into_iter().collect()
        }
        Action::Camera { to, .. } => camera_blocks(to).into_iter().collect(),
        Action::Tween { blocks, .. } | Action::Reveal { blocks, .. } | Action::Hide { blocks, .. } => {
            vec![blocks.clone()]
        }
        Action::Focus { block, .. } | Action::Compute { block, .. } => vec![block.clone()],
        Action::Fly { from, to, .. } => vec![from.block.clone(), to.block.clone()],
        _ => Vec::new(),
    }
}

fn camera_blocks(target: &llmviz::tour::CameraTarget) -> Option<String> {
    use llmviz::tour::CameraTarget;
    match target {
        CameraTarget::Block(name) | CameraTarget::Blocks(name) | CameraTarget::Cells { block: name, .. } => {
            Some(name.clone())
        }
        _ => None,
    }
}

#[test]
fn parameter_counts_in_shipped_tours_match_the_presets() {
    let text = std::fs::read_to_string(shipped("tours/scale.ron")).unwrap();
    for model in ["nano", "gpt2", "gpt2-xl", "gpt3"] {
        let count = llmviz::layout::group_digits(GptConfig::preset(model).unwrap().param_count());
        assert!(text.contains(&count), "scale.ron should give {model}'s {count} parameters");
    }
    let nano_text = std::fs::read_to_string(shipped("tours/nano-gpt.ron")).unwrap();
    assert!(nano_text.contains(&llmviz::layout::group_digits(GptConfig::nano().param_count())));
}

// Markup

#[test]
fn markup_splits_emphasis_and_links_into_spans() {
    use llmviz::layout::Axis;
    use markup::Span;
    let spans = markup::parse(r"a *query* [q](block:block0.head0.q) of [A](dim:a) \*16\* [more](chapter:mlp)").unwrap();
    assert_eq!(
        spans,
        vec![
            Span::Text("a ".into()),
            Span::Emphasis("query".into()),
            Span::Text(" ".into()),
            Span::Block { text: "q".into(), pattern: "block0.head0.q".into() },
            Span::Text(" of ".into()),
            Span::Dim { text: "A".into(), axis: Axis::A },
            Span::Text(" *16* ".into()),
            Span::Chapter { text: "more".into(), id: "mlp".into() },
        ]
    );
    assert_eq!(markup::plain_text(&spans), "a query q of A *16* more");
}

#[test]
fn markup_mistakes_give_their_column() {
    assert_eq!(markup::parse("ab *cd").unwrap_err().column, 4);
    assert_eq!(
        markup::parse("[x](dim:z)").unwrap_err().message,
        "unknown dimension 'z': expected one of t, t2, c, a, 4c, v, qkv"
    );
    assert!(markup::parse("[x] alone").is_err());
    assert!(markup::parse("[x](cell:3)").is_err());
}

#[test]
fn patterns_match_names_with_wildcards_alternatives_and_exclusions() {
    let layout = nano();
    let names = |pattern: &str| -> Vec<String> {
        Pattern::new(pattern).resolve(&layout).into_iter().map(|index| layout.blocks[index].name.clone()).collect()
    };
    assert_eq!(names("wte|wpe"), ["wte", "wpe"]);
    assert_eq!(names("block*.head1.att.max"), ["block0.head1.att.max", "block1.head1.att.max", "block2.head1.att.max"]);
    assert_eq!(names("*"), layout.blocks.iter().map(|block| block.name.clone()).collect::<Vec<_>>());
    assert_eq!(names("*|!block*|!ln_f*|!logits*|!lm_head|!probs"), ["tokens", "wte", "wpe", "x", "x.lens"]);
    assert!(names("block3.*").is_empty());
}

#[test]
fn the_documented_example_checks_clean() {
    let markdown = std::fs::read_to_string(shipped("docs/tour-format.md")).unwrap();
    let example = markdown.split("```ron\n").nth(1).and_then(|rest| rest.split("```").next()).expect("a ron block");
    let compiled = compile_ok(example);
    // The Break, the end of each of the four steps, and the wait after the text of the two that animate.
    assert_eq!(compiled.chapters[0].breaks.len(), 7);
}

#[test]
fn a_broken_edit_keeps_the_last_good_tour_and_a_fix_reloads() {
    use llmviz::tour::{LiveTour, Polled};
    let directory = Scratch::dir("tour-live");
    let path = directory.join("live.ron");
    let mut layouts = Layouts::default();
    std::fs::write(&path, nano_tour(r#"Step(text: ["first"])"#)).unwrap();
    let mut live = LiveTour::open(&path, &mut layouts).expect("good at first");
    assert_eq!(live.poll(&mut layouts), Polled::Unchanged);

    std::fs::write(&path, nano_tour(r#"Step(text: ["broken"], actions: [Wait(-1.0)])"#)).unwrap();
    assert_eq!(live.poll(&mut layouts), Polled::Broken);
    assert_eq!(live.tour.tour.chapters[0].steps[0].text, ["first"], "the last good tour stays");
    assert_eq!(live.errors.len(), 1);
    assert!(live.errors[0].contains("step 1, field actions[0]: Wait duration -1"), "{:?}", live.errors);

    std::fs::write(&path, nano_tour(r#"Step(text: ["fixed, and longer"]), Step(text: ["two"])"#)).unwrap();
    assert_eq!(live.poll(&mut layouts), Polled::Reloaded);
    assert!(live.errors.is_empty());
    assert_eq!(live.tour.tour.chapters[0].steps.len(), 2);
}

#[test]
fn a_tour_file_removed_or_half_written_keeps_the_last_good_tour_and_names_the_file() {
    use llmviz::tour::{LiveTour, Polled};
    let directory = Scratch::dir("tour-gone");
    let path = directory.join("live.ron");
    let file = path.display().to_string();
    let mut layouts = Layouts::default();
    let good = nano_tour(r#"Step(text: ["first"]), Step(text: ["second"])"#);
    std::fs::write(&path, &good).unwrap();
    let mut live = LiveTour::open(&path, &mut layouts).expect("good at first");

    std::fs::remove_file(&path).unwrap();
    assert_eq!(live.poll(&mut layouts), Polled::Broken);
    assert_eq!(live.errors.len(), 1);
    assert!(live.errors[0].starts_with(&format!("{file}: cannot read: ")), "{:?}", live.errors);
    assert_eq!(live.tour.tour.chapters[0].steps.len(), 2, "the last good tour stays");
    assert_eq!(live.poll(&mut layouts), Polled::Unchanged, "still gone: nothing new to say");

    // Caught half-written: the text cut off in its last step.
    let cut = good.find("second").unwrap();
    std::fs::write(&path, &good[..cut]).unwrap();
    assert_eq!(live.poll(&mut layouts), Polled::Broken);
    let line = good[..cut].lines().count();
    assert!(live.errors[0].starts_with(&format!("{file}:{line}:")), "file:line expected: {:?}", live.errors);
    assert_eq!(live.tour.tour.chapters[0].steps.len(), 2, "the last good tour stays");

    // Written out in full again, even as it was: the tour is read again and the errors go.
    std::fs::write(&path, &good).unwrap();
    assert_eq!(live.poll(&mut layouts), Polled::Reloaded);
    assert!(live.errors.is_empty(), "{:?}", live.errors);
}

#[test]
fn hovering_a_dimension_link_lights_the_blocks_along_it() {
    let layout = nano();
    let spans = markup::parse("[T](dim:t) and [heads](block:block0.head*.y)").unwrap();
    let along_t = llmviz::tour::link_targets(&spans[0], &layout);
    assert!(along_t.contains(&layout.find("x").unwrap()) && along_t.contains(&layout.find("probs").unwrap()));
    assert!(!along_t.contains(&layout.find("wte").unwrap()), "wte runs along the vocabulary, not T");
    assert_eq!(llmviz::tour::link_targets(&spans[2], &layout).len(), 3);
}
