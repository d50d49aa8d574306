//! Picking, hovering and live input: rays through known cells pick exactly those cells (from the
//! overview, at grazing angles, on GPT-3's small cells, on blocks a tour moved); hovering lights the
//! hovered cell and the cells it was computed from; the hover screenshot shows the card; changing
//! the input reruns the forward pass.

use std::time::{Duration, Instant};

use bevy::time::TimeUpdateStrategy;

use bevy::prelude::*;
use bevy::window::RequestRedraw;
use llmviz::explain::{Sources, explain};
use llmviz::layout::{self, Layout};
use llmviz::model::tokenizer::{letters, parse_letters};
use llmviz::model::{BackendKind, GptConfig, LoadedModel, Weights};
use llmviz::render::overlay::hover::{CARD_FILL, HOVERED_FOCUS, SOURCE_FOCUS, card_position, source_focus};
use llmviz::render::overlay::live_input::{RANDOM_LENGTH, append_prediction, random_letters};
use llmviz::render::run::offscreen::offscreen_hovering;
use llmviz::render::run::offscreen::{Frame, Offscreen};
use llmviz::render::scene::blocks::{BlockScene, BlockStyle, Focus, SceneSource, SceneValues, box_transform};
use llmviz::render::scene_source;
use llmviz::render::view::camera::{Click, DOUBLE_CLICK};
use llmviz::render::view::pick::{
    CellRef, Hovered, PickPlugin, PickTarget, Pinned, cell_center_world, parse_cell_ref, pick,
};
use llmviz::render::view::viewpoint::{CameraChoice, ViewPoint};

use crate::cli::{assert_clean_failure, llmviz};
use crate::gpu::gpu;

/// Every block where the layout puts it, as the scene spawns it.
fn untransformed_targets(layout: &Layout) -> Vec<PickTarget> {
    layout
        .blocks
        .iter()
        .enumerate()
        .map(|(index, block)| PickTarget {
            block: Some(index),
            world_from_unit: box_transform(Vec3::from(block.position), Vec3::from(block.max())).compute_affine(),
        })
        .collect()
}

/// The centre of a cell's front face: where a ray from the front sees that cell.
fn front_face_center(block: &layout::Block, cell: [u32; 3]) -> Vec3 {
    let center = block.cell_center(cell);
    Vec3::new(center[0], center[1], block.max()[2])
}

/// Cells of the blocks at the very front (nothing can stand between them and a camera in front):
/// the corners, the middle, and a spread of others.
fn front_cells(layout: &Layout) -> Vec<CellRef> {
    let front = layout.blocks.iter().map(|block| block.max()[2]).fold(f32::NEG_INFINITY, f32::max);
    let mut cells = Vec::new();
    let front_blocks: Vec<usize> =
        (0..layout.blocks.len()).filter(|&index| layout.blocks[index].max()[2] >= front - 0.1).collect();
    // About 40 blocks, spread over the model.
    for &index in front_blocks.iter().step_by(front_blocks.len().div_ceil(40)) {
        let block = &layout.blocks[index];
        let [w, h, _] = block.cells;
        for cell in [[0, 0], [w - 1, h - 1], [w / 2, h / 2], [w / 3, h - 1], [w - 1, h / 5]] {
            cells.push(CellRef { block: index, cell: [cell[0], cell[1], 0] });
        }
    }
    cells
}

fn assert_overview_rays_pick_their_cells(model: &str) {
    let layout = layout::build(&GptConfig::preset(model).unwrap());
    let targets = untransformed_targets(&layout);
    let eye = Vec3::from(layout.overview.eye);
    let cells = front_cells(&layout);
    assert!(cells.len() >= 20, "{model}: only {} front cells", cells.len());
    let start = Instant::now();
    for &expected in &cells {
        let block = &layout.blocks[expected.block];
        let target = front_face_center(block, expected.cell);
        let ray = Ray3d::new(eye, Dir3::new(target - eye).unwrap());
        let picked = pick(&layout, ray, targets.iter().copied());
        assert_eq!(
            picked,
            Some(expected),
            "{model}: the ray through {} {:?} picked {picked:?}",
            block.name,
            expected.cell
        );
        // The same cell `Block::cell_at` finds at that point.
        assert_eq!(block.cell_at(target.to_array()), Some(expected.cell));
    }
    let per_pick = start.elapsed() / cells.len() as u32;
    println!("{model}: {} picks over {} blocks, {per_pick:?} each (debug build)", cells.len(), layout.blocks.len());
}

#[test]
fn a_ray_from_the_overview_through_a_cell_picks_exactly_that_cell() {
    assert_overview_rays_pick_their_cells("nano");
}

#[test]
fn gpt3_small_cells_are_picked_exactly_from_its_overview() {
    assert_overview_rays_pick_their_cells("gpt3");
}

#[test]
fn folded_vocabulary_cells_are_picked_where_they_are_drawn_and_their_gaps_are_seen_through() {
    let layout = layout::build(&GptConfig::preset("gpt2").unwrap().with_max_tokens(64));
    let targets = untransformed_targets(&layout);
    let eye = Vec3::from(layout.overview.eye);
    for name in ["wte", "lm_head", "logits", "probs"] {
        let index = layout.find(name).unwrap();
        let block = &layout.blocks[index];
        let fold = block.fold.expect("GPT-2's vocabulary blocks are folded");
        let placed = GlobalTransform::from(box_transform(Vec3::from(block.position), Vec3::from(block.max())));
        let vocabulary = block.cells[fold.along];
        // Both ends of every strip, and the last token.
        let tokens = (0..fold.pieces(block.cells))
            .flat_map(|strip| [strip * fold.length, strip * fold.length + fold.length - 1]);
        for token in tokens.filter(|&token| token < vocabulary).chain([vocabulary - 1]) {
            let mut cell = [block.cells[0] / 2, block.cells[1] / 2, 0];
            cell[fold.along] = token;
            let expected = CellRef { block: index, cell };
            let drawn_at = cell_center_world(&layout, expected, &placed);
            assert!(drawn_at.distance(Vec3::from(block.cell_center(cell))) < 1e-2 * layout::CELL, "{name} {cell:?}");
            let target = front_face_center(block, cell);
            let picked = pick(&layout, Ray3d::new(eye, Dir3::new(target - eye).unwrap()), targets.iter().copied());
            assert_eq!(picked, Some(expected), "{name}: the ray through token {token} picked {picked:?}");
        }
        // Straight through the gap after the first strip: not this block.
        let mut gap_cell = [0; 3];
        gap_cell[fold.across] = block.cells[fold.across] - 1;
        let mut through_gap = front_face_center(block, gap_cell);
        through_gap[fold.across] += if fold.across == 0 { 1.0 } else { -1.0 } * 2.0 * layout::CELL;
        let picked = pick(&layout, Ray3d::new(through_gap + 100.0 * Vec3::Z, Dir3::NEG_Z), targets.iter().copied());
        assert_ne!(picked.map(|cell| cell.block), Some(index), "{name}: its gap picked {picked:?}");
    }
}

#[test]
fn a_grazing_ray_picks_the_cell_it_enters() {
    for model in ["nano", "gpt3"] {
        let layout = layout::build(&GptConfig::preset(model).unwrap());
        let targets = untransformed_targets(&layout);
        let name = if model == "nano" { "block0.head0.q" } else { "block0.ln1.gamma" };
        let index = layout.find(name).unwrap();
        let block = &layout.blocks[index];
        let [w, h, _] = block.cells;
        for cell in [[0, 0, 0], [w / 2, h / 2, 0], [w - 1, h - 1, 0], [w - 1, 1, 0]] {
            let target = front_face_center(block, cell);
            // Two degrees off the face, coming from the left, from the right, from above and from below.
            let (along, off) = (2f32.to_radians().cos(), 2f32.to_radians().sin());
            for direction in [
                Vec3::new(along, 0.0, -off),
                Vec3::new(-along, 0.0, -off),
                Vec3::new(0.0, -along, -off),
                Vec3::new(0.0, along, -off),
            ] {
                let origin = target - direction * 40.0 * layout::CELL;
                let ray = Ray3d::new(origin, Dir3::new(direction).unwrap());
                let picked = pick(&layout, ray, targets.iter().copied());
                assert_eq!(
                    picked,
                    Some(CellRef { block: index, cell }),
                    "{model}: grazing ray {direction} to {name} {cell:?}"
                );
            }
        }
    }
}

#[test]
fn a_block_moved_and_scaled_by_a_tour_is_picked_where_it_is_drawn() {
    let layout = layout::build(&GptConfig::preset("nano").unwrap());
    let mut targets = untransformed_targets(&layout);
    let index = layout.find("block0.head0.q").unwrap();
    let block = &layout.blocks[index];
    let (min, max) = (Vec3::from(block.position), Vec3::from(block.max()));
    let moved =
        Transform::from_translation(Vec3::new(0.0, 0.0, 300.0)) * box_transform(min, max).with_scale((max - min) * 2.0);
    targets[index].world_from_unit = moved.compute_affine();
    let cell = CellRef { block: index, cell: [4, 9, 0] };
    let drawn_at = cell_center_world(&layout, cell, &GlobalTransform::from(moved));
    let eye = drawn_at + Vec3::new(30.0, 40.0, 400.0);
    let picked = pick(&layout, Ray3d::new(eye, Dir3::new(drawn_at - eye).unwrap()), targets.iter().copied());
    assert_eq!(picked, Some(cell));
    // Where the block was before, it no longer is.
    let old = front_face_center(block, cell.cell);
    let eye = old + Vec3::new(0.0, 0.0, 200.0);
    let picked = pick(&layout, Ray3d::new(eye, Dir3::NEG_Z), targets.iter().copied());
    assert_ne!(picked.map(|p| p.block), Some(index));
}

#[test]
fn a_level_of_detail_box_in_front_hides_the_blocks_behind_it() {
    let layout = layout::build(&GptConfig::preset("nano").unwrap());
    let mut targets = untransformed_targets(&layout);
    let block = layout.block("x").unwrap();
    let target = front_face_center(block, [3, 3, 0]);
    targets.push(PickTarget {
        block: None,
        world_from_unit: box_transform(target + Vec3::new(-5.0, -5.0, 10.0), target + Vec3::new(5.0, 5.0, 20.0))
            .compute_affine(),
    });
    let eye = target + Vec3::new(0.0, 0.0, 100.0);
    assert_eq!(pick(&layout, Ray3d::new(eye, Dir3::NEG_Z), targets.iter().copied()), None);
    assert_eq!(pick(&layout, Ray3d::new(eye, Dir3::Z), targets.iter().copied()), None, "nothing behind the eye");
}

#[test]
fn hover_names_are_parsed_against_the_layout() {
    let layout = layout::build(&GptConfig::preset("nano").unwrap());
    let q = layout.find("block0.head0.q").unwrap();
    assert_eq!(parse_cell_ref("block0.head0.q:2,3", &layout), Ok(CellRef { block: q, cell: [2, 3, 0] }));
    assert!(parse_cell_ref("block0.head0.q:2,3,1", &layout).unwrap_err().to_string().contains("outside"));
    assert!(parse_cell_ref("nope:1,2", &layout).unwrap_err().to_string().contains("no block 'nope'"));
    assert!(parse_cell_ref("block0.head0.q", &layout).unwrap_err().to_string().contains("NAME:I,J"));
    assert!(parse_cell_ref("block0.head0.q:a,b", &layout).unwrap_err().to_string().contains("not a cell index"));
}

#[test]
fn hover_with_an_unknown_block_fails_with_one_clear_line() {
    let output = llmviz(&["screenshot", "--out", "/tmp/llmviz-never-written.png", "--hover", "block9.nothing:1,2"]);
    assert_clean_failure(&output, "no block 'block9.nothing'");
}

/// Every cell kind of nano explains and names its sources, all of them drawn blocks of the layout.
#[test]
fn every_nano_block_names_the_cells_it_was_computed_from() {
    let weights = Weights::default_model();
    let layout = layout::build(&weights.config);
    let tokens = parse_letters("CBABBC", &weights.config).unwrap();
    let activations = LoadedModel::new(&weights, BackendKind::Ndarray).activations(&tokens).unwrap();
    let sources = Sources { layout: &layout, activations: &activations, weights: &weights };
    for block in &layout.blocks {
        // Cell (0, 0, 0) is computed in every block: the first token, the first key.
        let explanation = explain(&sources, &block.name, [0, 0, 0]).unwrap_or_else(|e| panic!("{}: {e}", block.name));
        let focus = source_focus(&layout, &explanation);
        let computed = !matches!(block.op, layout::Op::Param | layout::Op::Input);
        assert_eq!(!focus.is_empty(), computed, "{}: sources {focus:?}", block.name);
        for (source, pattern) in focus {
            let cells = layout.blocks[source].cells;
            assert!(
                (0..3).all(|axis| pattern[axis].is_none_or(|c| c < cells[axis])),
                "{}: {pattern:?} outside {}",
                block.name,
                layout.blocks[source].name
            );
        }
    }
}

fn render_ready(offscreen: &mut Offscreen) -> Frame {
    offscreen.wait_until_ready().expect("the scene becomes ready");
    offscreen.capture().expect("a frame is captured")
}

fn focus_of(offscreen: &mut Offscreen, name: &str) -> Option<Focus> {
    let world = offscreen.world_mut();
    let scene = world.resource::<BlockScene>();
    let entity = scene.blocks[scene.layout.find(name).unwrap()];
    world.get::<BlockStyle>(entity).unwrap().focus
}

#[test]
fn hovering_a_q_cell_lights_it_its_ln1_row_and_its_q_weight_row() {
    let _gpu = gpu();
    let source = scene_source("nano", None).unwrap();
    let layout = layout::build(&source.config);
    let view = CameraChoice::Block("block0.head0.q".into()).view_point(&layout).unwrap();
    let hovered = parse_cell_ref("block0.head0.q:2,3", &layout).unwrap();
    let mut offscreen = offscreen_hovering(source, UVec2::new(160, 90), view, hovered);
    render_ready(&mut offscreen);

    assert_eq!(
        focus_of(&mut offscreen, "block0.head0.q"),
        Some(Focus::cells([Some(2), Some(3), Some(0)], HOVERED_FOCUS))
    );
    // q[h, t, a] = bias[a] + Σ_c ln1[t, c]·W[c, a]: ln1's t = 2 along all c, W's row a = 3, the bias's a = 3.
    let ln1 = focus_of(&mut offscreen, "block0.ln1").expect("ln1 lit");
    assert_eq!((ln1.cell[0], ln1.cell[1], ln1.strength), (Some(2), None, SOURCE_FOCUS));
    let weight = focus_of(&mut offscreen, "block0.head0.q.weight").expect("the q weight lit");
    assert_eq!((weight.cell[0], weight.cell[1]), (None, Some(3)));
    assert_eq!(focus_of(&mut offscreen, "block0.head0.q.bias").expect("the bias lit").cell[1], Some(3));
    assert_eq!(focus_of(&mut offscreen, "block0.head1.q"), None);
    assert_eq!(focus_of(&mut offscreen, "block0.head0.k.weight"), None);

    // The pointer leaves: every focus is cleared.
    *offscreen.world_mut().resource_mut::<Hovered>() = Hovered::default();
    offscreen.capture().expect("a frame is captured");
    for name in ["block0.head0.q", "block0.ln1", "block0.head0.q.weight", "block0.head0.q.bias"] {
        assert_eq!(focus_of(&mut offscreen, name), None, "{name}");
    }
}

fn is_card_fill(pixel: [u8; 4]) -> bool {
    let [r, g, b, _] = CARD_FILL.to_array();
    pixel[0].abs_diff(r) <= 2 && pixel[1].abs_diff(g) <= 2 && pixel[2].abs_diff(b) <= 2
}

#[test]
fn the_hover_screenshot_lights_the_cell_and_shows_the_card() {
    let _gpu = gpu();
    // Room beside the cell for the card, so the card does not cover it.
    let size = UVec2::new(960, 540);
    let source = scene_source("nano", None).unwrap();
    let layout = layout::build(&source.config);
    let view: ViewPoint = CameraChoice::Block("block0.head0.q".into()).view_point(&layout).unwrap();
    let hovered = parse_cell_ref("block0.head0.q:2,3", &layout).unwrap();

    let plain = render_ready(&mut Offscreen::new(source.clone(), size, view));
    let mut offscreen = offscreen_hovering(source, size, view, hovered);
    let hover = render_ready(&mut offscreen);
    hover.save_png(std::path::Path::new(concat!(env!("CARGO_TARGET_TMPDIR"), "/hover-q.png"))).unwrap();

    // Where the hovered cell is on screen.
    let world = offscreen.world_mut();
    let scene = world.resource::<BlockScene>();
    let block_entity = scene.blocks[hovered.block];
    let layout = scene.layout.clone();
    let block_transform = *world.get::<GlobalTransform>(block_entity).unwrap();
    let mut cameras = world.query::<(&Camera, &GlobalTransform)>();
    let (camera, camera_transform) = cameras.single(world).unwrap();
    let at = camera.world_to_viewport(camera_transform, cell_center_world(&layout, hovered, &block_transform)).unwrap();
    let (x, y) = (at.x.round() as u32, at.y.round() as u32);
    assert!(x < size.x && y < size.y, "the hovered cell at {at} is on screen");
    assert_ne!(plain.pixel(x, y), hover.pixel(x, y), "the hovered cell at ({x}, {y}) is lit");
    // The lit cell is orange: red well above blue.
    let [r, _, b, _] = hover.pixel(x, y);
    assert!(r as i32 - b as i32 > 60, "lit cell {:?}", hover.pixel(x, y));

    let card_pixels = |frame: &Frame| frame.rgba.chunks(4).filter(|p| is_card_fill([p[0], p[1], p[2], p[3]])).count();
    assert_eq!(card_pixels(&plain), 0, "the plain picture has no card");
    let card = card_pixels(&hover);
    assert!(card > 5_000, "the card covers {card} pixels");
}

#[test]
fn changing_the_input_reruns_the_forward_pass_in_the_scene() {
    let _gpu = gpu();
    let source = scene_source("nano", None).unwrap();
    let view = CameraChoice::Overview.view_point(&layout::build(&source.config)).unwrap();
    let mut offscreen = Offscreen::new(source.clone(), UVec2::new(64, 36), view);
    offscreen.wait_until_ready().unwrap();
    let before = offscreen.world_mut().resource::<SceneValues>().activations.clone().expect("activations");
    assert_eq!(before.tokens, source.tokens);

    let tokens = parse_letters("AACBB", &source.config).unwrap();
    offscreen.world_mut().resource_mut::<SceneSource>().tokens = tokens.clone();
    offscreen.wait_until_ready().unwrap();
    let after = offscreen.world_mut().resource::<SceneValues>().activations.clone().expect("activations");
    assert_eq!(after.tokens, tokens);
    assert_ne!(before.get("x").unwrap().data[..48], after.get("x").unwrap().data[..48], "t = 0 changed from C to A");
    assert_eq!(after.get("probs").unwrap().shape[0], 5);
}

#[test]
fn next_token_appends_the_most_probable_prediction_until_the_context_is_full() {
    let weights = Weights::default_model();
    let model = LoadedModel::new(&weights, BackendKind::Ndarray);
    let mut tokens = parse_letters("CBABBC", &weights.config).unwrap();
    while tokens.len() < weights.config.block_size {
        let activations = model.activations(&tokens).unwrap();
        let (predicted, _) = *activations.predictions().last().unwrap();
        let next = append_prediction(&tokens, &activations, &weights.config).unwrap();
        assert_eq!(next, [tokens.clone(), vec![predicted]].concat());
        tokens = next;
    }
    // The sort task: the model writes the input's letters in order.
    let written: String = tokens[6..].iter().map(|&t| llmviz::model::tokenizer::token_letter(t)).collect();
    assert_eq!(written, "ABBBC");
    let activations = model.activations(&tokens).unwrap();
    assert!(append_prediction(&tokens, &activations, &weights.config).unwrap_err().contains("context is full"));
    // Activations of another input are refused, not appended to.
    let other = model.activations(&tokens[..6]).unwrap();
    assert!(append_prediction(&tokens[..5], &other, &weights.config).is_err());
}

#[test]
fn random_input_is_six_letters_of_the_vocabulary_and_varies() {
    let config = GptConfig::preset("nano").unwrap();
    let vocabulary = letters(&config).unwrap();
    let inputs: Vec<String> =
        (0..20u64).map(|seed| random_letters(&config, seed.wrapping_mul(0x9e37_79b9_7f4a_7c15))).collect();
    for input in &inputs {
        assert_eq!(input.chars().count(), RANDOM_LENGTH);
        assert!(input.chars().all(|letter| vocabulary.contains(&letter)), "{input}");
        assert!(parse_letters(input, &config).is_ok());
    }
    let distinct: std::collections::HashSet<&String> = inputs.iter().collect();
    assert!(distinct.len() > 10, "{inputs:?}");
}

/// How far each update of the pointer app moves its clock.
const FRAME: Duration = Duration::from_millis(50);

/// The app's pointer plugin without a window: clicks arrive as `Click` messages, the hovered cell
/// is set by hand, and each update is `FRAME` later than the last.
fn pointer_app(hovered: CellRef) -> App {
    let mut app = App::new();
    app.add_plugins(MinimalPlugins)
        .insert_resource(TimeUpdateStrategy::ManualDuration(FRAME))
        .add_message::<Click>()
        .add_message::<RequestRedraw>()
        .init_resource::<ButtonInput<KeyCode>>()
        .add_plugins(PickPlugin)
        .insert_resource(Hovered { cell: Some(hovered), pointer: Some(Vec2::new(100.0, 100.0)) });
    app
}

fn click(app: &mut App, double: bool) {
    app.world_mut().write_message(Click { position: Vec2::new(100.0, 100.0), button: MouseButton::Left, double });
    app.update();
}

/// Runs frames until just past the double-click time since the last click.
fn after_double_click_time(app: &mut App) {
    for _ in 0..=DOUBLE_CLICK.as_millis() / FRAME.as_millis() {
        app.update();
    }
}

#[test]
fn a_click_pins_the_hovered_card_a_double_click_pins_nothing_and_escape_unpins_all() {
    let cell = CellRef { block: 11, cell: [2, 3, 0] };
    let mut app = pointer_app(cell);
    app.update();
    let pinned = |app: &App| app.world().resource::<Pinned>().cells.clone();

    click(&mut app, false);
    assert!(pinned(&app).is_empty(), "not before the double-click time has passed");
    after_double_click_time(&mut app);
    assert_eq!(pinned(&app), vec![cell]);

    let other = CellRef { block: 12, cell: [0, 1, 0] };
    app.world_mut().resource_mut::<Hovered>().cell = Some(other);
    click(&mut app, false);
    click(&mut app, true);
    after_double_click_time(&mut app);
    assert_eq!(pinned(&app), vec![cell], "a double click flies, it pins nothing");

    click(&mut app, false);
    after_double_click_time(&mut app);
    assert_eq!(pinned(&app), vec![cell, other], "several cards may be pinned");

    // A click on a pinned cell unpins it; Esc unpins everything.
    click(&mut app, false);
    after_double_click_time(&mut app);
    assert_eq!(pinned(&app), vec![cell]);
    app.world_mut().resource_mut::<ButtonInput<KeyCode>>().press(KeyCode::Escape);
    app.update();
    assert!(pinned(&app).is_empty());
}

#[test]
fn the_card_stands_beside_the_pointer_where_there_is_room() {
    use bevy_egui::egui::{Pos2, Rect, vec2};
    let screen = Rect::from_min_size(Pos2::ZERO, vec2(1280.0, 720.0));
    let size = vec2(400.0, 260.0);
    for point in [Pos2::new(100.0, 100.0), Pos2::new(1200.0, 650.0), Pos2::new(640.0, 360.0), Pos2::new(900.0, 20.0)] {
        let card = Rect::from_min_size(card_position(point, size, screen), size);
        assert!(!card.expand(4.0).contains(point), "the card {card:?} covers the pointer at {point:?}");
        assert!(screen.contains_rect(card), "the card {card:?} leaves the screen");
    }
}

/// Typed input runs once typing pauses for 0.3 s, or at once on Enter; each keystroke restarts the
/// wait, so a word typed quickly runs once, as typed in full.
#[test]
fn typed_input_runs_when_typing_pauses_or_on_enter() {
    use llmviz::render::overlay::live_input::{TYPING_PAUSE_SECONDS, TypingPause};
    let mut typing = TypingPause::default();
    assert_eq!(typing.due(0.0, true), None, "nothing typed, nothing to run");
    let mut now = 10.0;
    for length in 1..=5 {
        typing.typed(vec![0; length], now);
        now += 0.1;
        assert_eq!(typing.due(now, false), None, "still typing at {length} letters");
    }
    let remaining = typing.remaining(now).expect("the text waits");
    assert!((remaining - (TYPING_PAUSE_SECONDS - 0.1)).abs() < 1e-9, "{remaining}");
    assert_eq!(typing.due(now + remaining, false), Some(vec![0; 5]), "the whole text, once");
    assert_eq!(typing.due(now + 5.0, false), None, "and only once");
    assert_eq!(typing.remaining(now), None);

    typing.typed(vec![1, 2], 20.0);
    assert_eq!(typing.due(20.01, true), Some(vec![1, 2]), "Enter runs it at once");
    typing.typed(vec![1, 2, 3], 30.0);
    typing.clear();
    assert_eq!(typing.due(31.0, false), None, "a button replaced what was typed");
}
