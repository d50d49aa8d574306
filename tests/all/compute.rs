//! The tour's `Compute` and `Fly` actions: the formula panel says what `explain` says, term by
//! term; a sweep lights each cell's operands as it fills it; flights go from their cells to their
//! target; the reader's `wait_after_text`; and in the app, scrubbing into any of them shows what
//! going there directly shows.

use std::path::Path;

use bevy::prelude::*;
use llmviz::explain::walk::{lit_operands, panel_text, running_total, steps};
use llmviz::explain::{Explanation, Sources, explain};
use llmviz::layout::{self, CELL, Layout};
use llmviz::model::{Activations, BackendKind, LoadedModel, Weights};
use llmviz::render::overlay::hover::{CARD_FILL, Explanations};
use llmviz::render::run::offscreen::Offscreen;
use llmviz::render::run::offscreen::tour_offscreen;
use llmviz::render::scene::blocks::{BlockScene, BlockStyle};
use llmviz::render::tour::compute::{ComputeView, FlyCopy, compute_view, flight_box};
use llmviz::render::tour::player::{TourState, tour_at};
use llmviz::tour::timeline::{WALK_SLOW_STEPS, walk_shown};
use llmviz::tour::{ChapterTimeline, CompiledTour, ComputeStyle, Layouts, TourError, TourFrame};

use crate::gpu::gpu;
use crate::tour_player::seek;

const TOUR: &str = "tours/nano-gpt.ron";

fn shipped_tour() -> CompiledTour {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(TOUR);
    CompiledTour::load(&path, &mut Layouts::default()).expect("the shipped tour compiles")
}

fn chapter<'a>(tour: &'a CompiledTour, id: &str) -> &'a ChapterTimeline {
    &tour.chapters[tour.tour.chapter(id).expect("the chapter exists")]
}

fn nano() -> (Weights, Activations, Layout) {
    let weights = Weights::default_model();
    let activations = LoadedModel::new(&weights, BackendKind::Ndarray).activations(&[2, 1, 0, 1, 1, 2]).unwrap();
    let layout = layout::build(&weights.config);
    (weights, activations, layout)
}

/// The times a chapter's compute of `block` runs, by probing its timeline in small steps.
fn compute_times(timeline: &ChapterTimeline, block: usize, style: ComputeStyle) -> Vec<(f32, TourFrame)> {
    (0..=(timeline.length * 100.0) as u32)
        .map(|i| i as f32 / 100.0)
        .map(|time| (time, timeline.evaluate(time)))
        .filter(|(_, frame)| frame.computes.iter().any(|c| c.block == block && c.style == style && c.running()))
        .collect()
}

fn fmt(value: f32) -> String {
    format!("{value:.4}")
}

#[test]
fn the_walks_panel_at_any_time_holds_explains_terms_up_to_the_term_reached() {
    let tour = shipped_tour();
    let (weights, activations, layout) = nano();
    let timeline = chapter(&tour, "self-attention");
    let q = layout.find("block0.head0.q").unwrap();
    let sources = Sources { layout: &layout, activations: &activations, weights: &weights };
    let explanation: Explanation = explain(&sources, "block0.head0.q", [3, 0, 0]).unwrap();
    let bias = explanation.operands["bias"].value as f64;
    assert_eq!(steps(&explanation), 48, "one step per term of the 48-term dot product");

    let times = compute_times(timeline, q, ComputeStyle::Walk);
    assert!(times.len() > 100, "the walk runs for a while: {} probes", times.len());
    let mut last_shown = 0;
    for (time, frame) in &times {
        let compute = frame.computes.iter().find(|c| c.block == q).unwrap();
        let (shown, finished) = walk_shown(compute.progress, steps(&explanation));
        assert!(shown >= last_shown, "at {time} s the walk went back from {last_shown} to {shown} terms");
        last_shown = shown;
        let text = panel_text(&explanation, shown, finished);
        // The first three terms and the latest, each as explain has it: a·w.
        let written =
            |i: usize| format!("{}·{}", fmt(explanation.terms[i]["a"].value), fmt(explanation.terms[i]["w"].value));
        for i in (0..shown.min(3)).chain([shown - 1]) {
            assert!(text.contains(&written(i)), "at {time} s, term {i} missing from:\n{text}");
        }
        if shown < explanation.terms.len() {
            assert!(!text.contains(&written(shown)), "at {time} s, term {shown} shown too early:\n{text}");
        }
        assert!(
            text.starts_with(&format!(
                "{}\n= bias + Σ a_i·w_i over 48 terms\n= {} + ",
                explanation.tensor.clone() + "[h = 0, t = 3, a = 0]",
                fmt(bias as f32)
            )),
            "{text}"
        );
        // The running sum: the bias and exactly the terms shown, summed here on their own.
        let partial =
            bias + explanation.terms[..shown].iter().map(|t| t["a"].value as f64 * t["w"].value as f64).sum::<f64>();
        assert!((running_total(&explanation, shown) - partial).abs() < 1e-9);
        if finished {
            assert!(text.ends_with(&explanation.formula), "the whole formula at the end:\n{text}");
        } else {
            assert!(text.contains(&format!("sum so far: {} ({shown} of 48 terms)", fmt(partial as f32))), "{text}");
            // Lit: the latest term's input and weight cells, and the bias.
            let lit: Vec<_> = lit_operands(&explanation, shown).iter().map(|o| (o.block.clone(), o.cell)).collect();
            let term = &explanation.terms[shown - 1];
            for role in ["a", "w"] {
                assert!(
                    lit.contains(&(term[role].block.clone(), term[role].cell)),
                    "at {time} s {role} of term {shown} is not lit"
                );
            }
            assert_eq!(lit.len(), 3);
        }
    }
    assert_eq!(last_shown, 48, "every term is reached before the walk ends");
}

#[test]
fn a_walk_takes_its_first_terms_one_beat_each_then_speeds_up_and_ends_on_the_result() {
    for terms in [1, 2, 3, 5, 48, 192] {
        let slow = terms.min(WALK_SLOW_STEPS);
        let beats = slow as f32 + if terms > slow { 3.0 } else { 0.0 } + 1.0;
        let samples: Vec<(usize, bool)> = (0..=1000).map(|i| walk_shown(i as f32 / 1000.0, terms)).collect();
        assert_eq!(samples[0], (1, false), "{terms} terms: the first shows at once");
        assert_eq!(samples[1000], (terms, true));
        assert!(samples.windows(2).all(|w| w[0].0 <= w[1].0 && (!w[0].1 || w[1].1)), "{terms}: never goes back");
        // Each slow term holds for one beat, the fast ones together for three, the result one.
        for step in 1..=slow {
            let at = (step as f32 - 0.5) / beats;
            assert_eq!(walk_shown(at, terms).0, step, "{terms} terms at {at}");
        }
        let result_from = (beats - 1.0) / beats;
        assert!(!walk_shown(result_from - 0.01, terms).1, "{terms} terms: no result before the last beat");
        assert_eq!(walk_shown(result_from + 0.01, terms), (terms, true));
    }
}

#[test]
fn a_sweep_fills_its_cells_in_order_with_the_current_cells_operands_lit() {
    let tour = shipped_tour();
    let (weights, activations, layout) = nano();
    let timeline = chapter(&tour, "embedding");
    let x = layout.find("x").unwrap();
    let (wte, wpe) = (layout.find("wte").unwrap(), layout.find("wpe").unwrap());
    let mut explanations = Explanations::default();
    let (weights, activations) = (std::sync::Arc::new(weights), std::sync::Arc::new(activations));
    explanations.use_values(Some(&weights), Some(&activations));

    let times = compute_times(timeline, x, ComputeStyle::Sweep);
    assert!(!times.is_empty());
    let mut cells_lit = std::collections::BTreeSet::new();
    for (time, frame) in &times {
        let view: ComputeView = compute_view(frame, &layout, &mut explanations);
        let window = view.windows[&x];
        assert_eq!((window.min, window.size), ([3, 0, 0], [1, 48, 1]), "column 3 of x");
        let row = window.revealed;
        // The cell being computed is the next one down the column; its two operands are lit.
        assert_eq!(view.focus[&x], [Some(3), Some(row), Some(0)], "at {time} s");
        // (The operands' blocks are one cell deep: their depth is left open, which is the same cell.)
        assert_eq!(view.focus[&wte], [Some(1), Some(row), None], "token 1's row {row} at {time} s");
        assert_eq!(view.focus[&wpe], [Some(3), Some(row), None], "position 3's row {row} at {time} s");
        assert!(view.panel.is_none(), "a sweep has no formula panel");
        cells_lit.insert(row);
    }
    assert_eq!(cells_lit.len(), 48, "every cell of the column is computed in turn");
    // Done: all 48 cells show, nothing is lit.
    let after = timeline.evaluate(times.last().unwrap().0 + 0.05);
    let view = compute_view(&after, &layout, &mut explanations);
    assert_eq!(view.windows[&x].revealed, 48);
    assert!(view.focus.is_empty());
}

#[test]
fn a_flight_leaves_its_cells_lifts_towards_the_viewer_and_lands_on_its_target() {
    let tour = shipped_tour();
    let layout = layout::build(&Weights::default_model().config);
    let timeline = chapter(&tour, "embedding");
    let flying: Vec<(f32, TourFrame)> = (0..=(timeline.length * 100.0) as u32)
        .map(|i| i as f32 / 100.0)
        .map(|t| (t, timeline.evaluate(t)))
        .filter(|(_, f)| !f.flights.is_empty())
        .collect();
    assert!(!flying.is_empty(), "the embedding chapter flies columns");
    let (wte, wpe, x) = (layout.find("wte").unwrap(), layout.find("wpe").unwrap(), layout.find("x").unwrap());
    let column_box = |block: usize, column: u32| {
        let b = &layout.blocks[block];
        let (top, bottom) =
            (Vec3::from(b.cell_center([column, 0, 0])), Vec3::from(b.cell_center([column, b.cells[1] - 1, 0])));
        (top.min(bottom) - Vec3::splat(CELL / 2.0), top.max(bottom) + Vec3::splat(CELL / 2.0))
    };
    let mut sources = std::collections::BTreeSet::new();
    for (time, frame) in &flying {
        assert_eq!(frame.flights.len(), 2, "wte's and wpe's columns fly together at {time} s");
        for flight in &frame.flights {
            sources.insert(flight.from_block);
            let (from, to) =
                (column_box(flight.from_block, if flight.from_block == wte { 1 } else { 3 }), column_box(x, 3));
            let (min, max) = flight_box(&layout, frame, flight);
            assert!(((max - min) - (from.1 - from.0)).length() < 1e-3, "the copy keeps its size");
            let start = llmviz::tour::FlightFrame { progress: 0.0, ..*flight };
            let end = llmviz::tour::FlightFrame { progress: 1.0, ..*flight };
            assert!((flight_box(&layout, frame, &start).0 - from.0).length() < 1e-3, "takes off from its cells");
            assert!((flight_box(&layout, frame, &end).0 - to.0).length() < 1e-3, "lands on column 3 of x");
            let straight = from.0.lerp(to.0, flight.progress);
            if flight.progress > 0.15 && flight.progress < 0.85 {
                assert!(
                    min.z > straight.z + CELL && min.y > straight.y + CELL,
                    "lifted up and towards the viewer at {time} s"
                );
            }
        }
    }
    assert_eq!(sources, [wte, wpe].into_iter().collect());
}

fn compile(text: &str) -> Result<CompiledTour, Vec<TourError>> {
    let tour = llmviz::tour::Tour::parse(text, "test.ron").map_err(|e| vec![e])?;
    CompiledTour::compile(tour, "test.ron", &mut Layouts::default())
}

fn tour_with(actions: &str, wait: &str) -> String {
    format!(
        r#"#![enable(implicit_some)]
Tour(title: "t", model: "nano", {wait} chapters: [Chapter(id: "c", title: "C", camera: Overview, hidden: "*", steps: [
    Step(text: ["One."], actions: [{actions}]),
    Step(text: ["Two."]),
])])"#
    )
}

#[test]
fn compute_and_fly_mistakes_name_their_field() {
    let cases = [
        (
            r#"Compute(block: "block0.fc", cells: Column(3), duration: 2.0)"#,
            "actions[0].cells: a Walk follows one cell",
        ),
        (
            r#"Compute(block: "wte", cells: Cell(0, 0), duration: 2.0)"#,
            "actions[0].block: 'wte' is a weight or the input",
        ),
        (
            r#"Compute(block: "x", cells: Cell(11, 0), duration: 2.0, style: Sweep)"#,
            "actions[0].cells: block 'x': Cell(11, 0) is outside",
        ),
        (r#"Compute(block: "x", cells: All, duration: 0.0, style: Sweep)"#, "actions[0].duration: Compute duration 0"),
        (
            r#"Fly(from: (block: "wpe", cells: All), to: (block: "x", cells: Column(3)), duration: 1.0)"#,
            "actions[0].to: [11, 48, 1] cells of 'wpe' landing at cell [3, 0, 0] of 'x' would overhang",
        ),
        (
            r#"Fly(from: (block: "wtee", cells: All), to: (block: "x", cells: All), duration: 1.0)"#,
            "actions[0].from.block: unknown block 'wtee'",
        ),
    ];
    for (action, expected) in cases {
        let errors = compile(&tour_with(action, "")).err().unwrap_or_default();
        assert_eq!(errors.len(), 1, "{action}: {errors:?}");
        let line = errors[0].to_string();
        assert!(line.contains("chapter 'c', step 1, field ") && line.contains(expected), "{action}: {line}");
    }
}

#[test]
fn computed_cells_stay_until_the_block_is_hidden_or_computed_again() {
    let actions = r#"Compute(block: "x", cells: Column(2), style: Sweep, duration: 1.0), Wait(1.0), Hide(blocks: "x"), Wait(1.0),
        Compute(block: "x", cells: Column(3), style: Sweep, duration: 1.0), Wait(1.0), Compute(block: "x", cells: Column(4), style: Sweep, duration: 1.0)"#;
    let tour = compile(&tour_with(actions, "")).unwrap();
    let timeline = &tour.chapters[0];
    let shown =
        |time: f32| -> Vec<llmviz::tour::Cells> { timeline.evaluate(time).computes.iter().map(|c| c.cells).collect() };
    use llmviz::tour::Cells::Column;
    let start = timeline.steps[0].actions_start;
    assert_eq!(shown(start + 1.5), [Column(2)], "done, and still shown");
    assert!(shown(start + 2.5).is_empty(), "hidden");
    assert_eq!(shown(start + 4.5), [Column(3)]);
    assert_eq!(shown(start + 5.5), [Column(4)], "computed again: the new cells");
}

#[test]
fn wait_after_text_stops_after_each_animated_steps_paragraphs_unless_its_chapter_says_not() {
    let actions = r#"Camera(to: Block("x"), duration: 1.0)"#;
    let waiting = compile(&tour_with(actions, "wait_after_text: true,")).unwrap();
    let timeline = &waiting.chapters[0];
    let first = timeline.steps[0];
    // After step 1's paragraphs, at its end, and at the end of the text-only step 2.
    assert_eq!(timeline.breaks, vec![first.actions_start, first.end, timeline.steps[1].end]);
    let mut player = llmviz::tour::Player::default();
    while !player.advance(timeline, 1.0 / 60.0) {}
    assert_eq!(player.time, first.actions_start, "the reader reads before the camera moves");
    assert_eq!(timeline.evaluate(player.time).camera, timeline.evaluate(0.0).camera);

    let plain = compile(&tour_with(actions, "")).unwrap();
    assert_eq!(plain.chapters[0].breaks, vec![first.end, timeline.steps[1].end]);
    let overridden = tour_with(actions, "wait_after_text: true,")
        .replace("hidden: \"*\",", "hidden: \"*\", wait_after_text: false,");
    assert_eq!(compile(&overridden).unwrap().chapters[0].breaks, plain.chapters[0].breaks);
}

/// What the scene shows of the tour's computations: the view, every block's style, and each
/// flying copy's transform and visibility.
#[derive(Debug, PartialEq)]
struct ComputeState {
    view: ComputeView,
    styles: Vec<BlockStyle>,
    copies: Vec<(usize, Transform, Visibility)>,
}

fn compute_state(offscreen: &mut Offscreen) -> ComputeState {
    let world = offscreen.world_mut();
    let view = world.resource::<ComputeView>().clone();
    let entities = world.resource::<BlockScene>().blocks.clone();
    let styles = entities.iter().map(|&entity| *world.get::<BlockStyle>(entity).unwrap()).collect();
    let mut copies: Vec<_> =
        world.query::<(&FlyCopy, &Transform, &Visibility)>().iter(world).map(|(c, t, v)| (c.slot, *t, *v)).collect();
    copies.sort_by_key(|copy| copy.0);
    ComputeState { view, styles, copies }
}

/// The scene at a time inside a flight, a sweep and a walk is what going there directly gives,
/// after scrubbing anywhere else; and the walk's picture has its panel.
#[test]
fn scrubbing_into_flights_sweeps_and_walks_shows_what_going_there_directly_shows() {
    let _gpu = gpu();
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join(TOUR);
    let tour = shipped_tour();
    let embedding = chapter(&tour, "embedding");
    let layout = layout::build(&Weights::default_model().config);
    let x = layout.find("x").unwrap();
    let flying = (0..(embedding.length * 10.0) as u32)
        .map(|i| i as f32 / 10.0)
        .find(|&t| embedding.evaluate(t).flights.len() == 2)
        .unwrap()
        + 0.5;
    let sweeping = compute_times(embedding, x, ComputeStyle::Sweep)[100].0;

    let mut offscreen =
        tour_offscreen(tour_at(&file, Some("embedding"), Some(flying)).unwrap(), UVec2::new(320, 180)).unwrap();
    offscreen.wait_until_ready().unwrap();
    let in_flight = compute_state(&mut offscreen);
    assert_eq!(in_flight.copies.iter().filter(|copy| copy.2 != Visibility::Hidden).count(), 2, "two copies in flight");
    seek(&mut offscreen, sweeping);
    let in_sweep = compute_state(&mut offscreen);
    let window = in_sweep.styles[x].window.expect("x shows the cells swept so far");
    assert_eq!(window.revealed, in_sweep.view.windows[&x].revealed);
    assert!(window.revealed > 0 && in_sweep.styles[x].show_values);
    assert!(in_sweep.copies.iter().all(|copy| copy.2 == Visibility::Hidden), "landed copies are gone");
    for (time, expected) in [(flying, &in_flight), (sweeping, &in_sweep)] {
        for elsewhere in [0.0, embedding.length, time - 0.3] {
            seek(&mut offscreen, elsewhere);
            assert_ne!(&compute_state(&mut offscreen), expected, "{elsewhere} s differs from {time} s");
        }
        seek(&mut offscreen, time);
        assert_eq!(&compute_state(&mut offscreen), expected, "back at {time} s");
    }

    // The query's walk: its panel beside the cell, in the cards' warm white, and the cell lit.
    let attention = tour.tour.chapter("self-attention").unwrap();
    let q = layout.find("block0.head0.q").unwrap();
    let walking = compute_times(&tour.chapters[attention], q, ComputeStyle::Walk);
    let (time, _) = walking[walking.len() / 2];
    offscreen.world_mut().resource_mut::<TourState>().open_chapter(attention, false);
    seek(&mut offscreen, time);
    let state = compute_state(&mut offscreen);
    let panel = state.view.panel.as_ref().expect("a formula panel mid-walk");
    assert!(panel.text.contains("sum so far"), "{}", panel.text);
    assert_eq!(state.styles[q].focus.map(|f| f.cell), Some([Some(3), Some(0), Some(0)]));
    let picture = offscreen.capture().unwrap();
    let card = CARD_FILL.to_array();
    let panel_pixels = picture.rgba.chunks(4).filter(|p| p[..3] == card[..3]).count();
    assert!(panel_pixels > 2000, "the panel covers {panel_pixels} pixels");
}

#[test]
fn copies_that_stay_are_there_while_the_tour_works_with_them_and_gone_in_the_next_chapter() {
    let tour = shipped_tour();
    let layout = layout::build(&Weights::default_model().config);
    let projection = chapter(&tour, "projection");
    let first = projection.steps[0];
    let waiting = projection.evaluate(first.end);
    assert_eq!(waiting.flights.len(), 3, "the three heads' copies stacked while the tour waits");
    let head0 = layout.find("block0.head0.y").unwrap();
    let under = &layout.blocks[head0];
    let rows = under.cells[1] as f32 * CELL;
    for (below, flight) in waiting.flights.iter().enumerate() {
        assert_eq!(flight.progress, 1.0);
        assert_eq!(flight.to_block, head0);
        let (min, max) = flight_box(&layout, &waiting, flight);
        // One under another, a block height further down each, beside the first head's output.
        assert!((max.y - (under.max()[1] - rows * below as f32)).abs() < 1e-3, "copy {below} at {min:?}..{max:?}");
        assert!(min.x > under.max()[0], "copy {below} beside the column, not on it: {min:?}");
    }
    // The next step walks the projection's first cell with the column in the picture.
    let walked = projection.evaluate(projection.steps[1].end);
    assert_eq!(walked.flights.len(), 3, "still stacked in the next step");
    let residual = projection.evaluate(projection.length);
    assert_eq!(residual.flights.len(), 4, "and x beside the residual at the chapter's end");
    let mlp = chapter(&tour, "mlp");
    assert!(mlp.evaluate(0.0).flights.is_empty() && mlp.evaluate(mlp.length).flights.is_empty(), "gone after");
}
