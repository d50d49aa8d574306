//! Writing, switching parts off and the lens in the scene: a decode step lights its new column and
//! marks the cached keys and values; an Alt-click switches the head under the pointer off and the
//! model runs again; the lens strips are laid out under every residual stream, filled after the
//! pass, their colours following their probabilities; and the pure rules behind them.

use bevy::prelude::*;
use llmviz::layout::{self, StepMark};
use llmviz::model::ablation::{Ablation, Part};
use llmviz::model::lens::{lens_streams, lens_tensor};
use llmviz::model::{BackendKind, GptConfig, LoadedModel, Weights};
use llmviz::render::overlay::hover::{CACHED_FOCUS, HoverPlugin, STEP_FOCUS};
use llmviz::render::overlay::switch_off::SwitchOffPlugin;
use llmviz::render::run::offscreen::{Frame, Offscreen};
use llmviz::render::scene::blocks::{BlockScene, BlockStyle, Focus, SceneSource, SceneValues};
use llmviz::render::scene_source;
use llmviz::render::view::camera::Click;
use llmviz::render::view::pick::{CellRef, Hovered};
use llmviz::render::view::viewpoint::{CameraChoice, ViewPoint};

use crate::gpu::gpu;

fn focus_of(offscreen: &mut Offscreen, name: &str) -> Option<Focus> {
    let world = offscreen.world_mut();
    let scene = world.resource::<BlockScene>();
    let entity = scene.blocks[scene.layout.find(name).unwrap()];
    world.get::<BlockStyle>(entity).unwrap().focus
}

/// Where a cell's front face centre is drawn in `frame`.
fn cell_pixel(offscreen: &mut Offscreen, frame: &Frame, name: &str, cell: [u32; 3]) -> [u8; 4] {
    let world = offscreen.world_mut();
    let scene = world.resource::<BlockScene>();
    let block = scene.layout.block(name).unwrap().clone();
    let mut center = Vec3::from(block.cell_center(cell));
    center.z = block.max()[2];
    let mut cameras = world.query::<(&Camera, &GlobalTransform)>();
    let (camera, transform) = cameras.single(world).unwrap();
    let at = camera.world_to_viewport(transform, center).unwrap();
    let (x, y) = (at.x.round() as u32, at.y.round() as u32);
    assert!(x < frame.width && y < frame.height, "{name} {cell:?} at {at} is on screen");
    frame.pixel(x, y)
}

fn values(offscreen: &mut Offscreen) -> SceneValues {
    offscreen.world_mut().resource::<SceneValues>().clone()
}

/// Points the offscreen camera at `block`'s anchor.
fn look_at(offscreen: &mut Offscreen, layout: &layout::Layout, block: &str) {
    let view: ViewPoint = CameraChoice::Block(block.into()).view_point(layout).unwrap();
    let world = offscreen.world_mut();
    let mut cameras = world.query::<&mut ViewPoint>();
    *cameras.single_mut(world).unwrap() = view;
}

/// Pictures of `blocks`, each seen from its anchor.
fn pictures(offscreen: &mut Offscreen, layout: &layout::Layout, blocks: &[&str]) -> Vec<Frame> {
    blocks
        .iter()
        .map(|block| {
            look_at(offscreen, layout, block);
            offscreen.capture().unwrap()
        })
        .collect()
}

#[test]
fn a_decode_step_in_the_scene_lights_its_new_column_and_marks_the_cached_keys_and_values() {
    let _gpu = gpu();
    let source = scene_source("nano", Some("CBABBC")).unwrap();
    let prompt = source.tokens.clone();
    let layout = layout::build(&source.config);
    let view: ViewPoint = CameraChoice::Block("block0.head0.k".into()).view_point(&layout).unwrap();
    let mut offscreen = Offscreen::with_plugins(source, UVec2::new(640, 360), view, |app| {
        app.add_plugins((bevy_egui::EguiPlugin::default(), HoverPlugin));
    });
    offscreen.wait_until_ready().unwrap();
    let seen = ["block0.head0.k", "block0.head0.att"];
    let prefill = pictures(&mut offscreen, &layout, &seen);
    assert_eq!(values(&mut offscreen).forward.unwrap().cached, 0, "the prompt is a prefill");
    assert_eq!(focus_of(&mut offscreen, "block0.head0.k"), None, "a prefill marks nothing");

    let written = [prompt.as_slice(), &[0]].concat();
    offscreen.world_mut().resource_mut::<SceneSource>().tokens = written.clone();
    offscreen.wait_until_ready().unwrap();
    let step = pictures(&mut offscreen, &layout, &seen);
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
    step[0].save_png(&dir.join("writing-step-k.png")).unwrap();
    step[1].save_png(&dir.join("writing-step-att.png")).unwrap();
    let shown = values(&mut offscreen).forward.unwrap();
    assert_eq!((shown.tokens.clone(), shown.cached), (written, 6), "one position computed, six from the cache");

    let cached = Some(Focus { cell: [Some(0), None, None], columns: 6, strength: CACHED_FOCUS });
    for name in ["block0.head0.k", "block2.head1.v"] {
        assert_eq!(focus_of(&mut offscreen, name), cached, "{name}: the cached columns 0 to 5");
    }
    let new_column = Some(Focus::cells([Some(6), None, None], STEP_FOCUS));
    for name in ["block0.head0.q", "block0.head0.att", "block1.mlp_resid", "probs", "tokens"] {
        assert_eq!(focus_of(&mut offscreen, name), new_column, "{name}: the new column (a query's row of scores)");
    }
    // Drawn: a cached key column and the new query's scores are lit (towards orange), which they
    // were not after the prefill; the new key column, computed, not cached, stays unmarked.
    let warmth = |p: [u8; 4]| p[0] as i32 - p[2] as i32;
    let cells = [
        (0, "block0.head0.k", [2, 3, 0], true),
        (1, "block0.head0.att", [6, 2, 0], true),
        (0, "block0.head0.k", [6, 3, 0], false),
    ];
    for (picture, name, cell, lit) in cells {
        look_at(&mut offscreen, &layout, seen[picture]);
        offscreen.update();
        let before = cell_pixel(&mut offscreen, &prefill[picture], name, cell);
        let after = cell_pixel(&mut offscreen, &step[picture], name, cell);
        assert_eq!(warmth(after) > warmth(before) + 20, lit, "{name} {cell:?}: {before:?} → {after:?}");
    }
}

#[test]
fn an_alt_click_on_a_head_switches_it_off_and_the_model_runs_again() {
    let _gpu = gpu();
    let source = scene_source("nano", Some("CBABBC")).unwrap();
    let layout = layout::build(&source.config);
    let head = CellRef { block: layout.find("block0.head1.att").unwrap(), cell: [3, 1, 0] };
    let view = CameraChoice::Overview.view_point(&layout).unwrap();
    let mut offscreen = Offscreen::with_plugins(source, UVec2::new(64, 36), view, move |app| {
        app.add_plugins(SwitchOffPlugin)
            .add_message::<Click>()
            .insert_resource(Hovered { cell: Some(head), pointer: Some(Vec2::ZERO) });
    });
    offscreen.wait_until_ready().unwrap();
    let click = |offscreen: &mut Offscreen, alt: bool| {
        let world = offscreen.world_mut();
        let mut keys = world.resource_mut::<ButtonInput<KeyCode>>();
        if alt {
            keys.press(KeyCode::AltLeft)
        } else {
            keys.release(KeyCode::AltLeft)
        }
        world.write_message(Click { position: Vec2::ZERO, button: MouseButton::Left, double: false });
        offscreen.update();
    };
    click(&mut offscreen, false);
    assert!(offscreen.world_mut().resource::<SceneSource>().ablation.is_empty(), "a plain click switches nothing");

    click(&mut offscreen, true);
    let off = offscreen.world_mut().resource::<SceneSource>().ablation.clone();
    assert_eq!(off.parts(), vec![Part::Head { layer: 0, head: 1 }]);
    offscreen.wait_until_ready().unwrap();
    let shown = values(&mut offscreen).forward.unwrap();
    assert_eq!(shown.ablation, off, "the pass shown is the ablated one");
    let y = shown.get("block0.y").unwrap();
    assert!(y.data.chunks(48).all(|row| row[16..32].iter().all(|&v| v == 0.0)), "head 1's columns of y are zero");
    let change = shown.top_token_change().expect("compared with the model's own pass");
    assert_eq!(change.len(), 6);

    click(&mut offscreen, true);
    assert!(
        offscreen.world_mut().resource::<SceneSource>().ablation.is_empty(),
        "a second Alt-click switches it back on"
    );
}

#[test]
fn the_lens_strips_fill_after_the_pass_their_colours_following_their_probabilities() {
    let _gpu = gpu();
    let source = scene_source("nano", Some("CBABBC")).unwrap();
    let layout = layout::build(&source.config);
    let view = CameraChoice::Block("x.lens".into()).view_point(&layout).unwrap();
    let mut offscreen = Offscreen::new(source.clone(), UVec2::new(640, 360), view);
    // Ready once the lens, read after the pass, is in too.
    offscreen.wait_until_ready().unwrap();
    let frame = offscreen.capture().unwrap();
    let shown = values(&mut offscreen).forward.unwrap();
    assert_eq!(shown.lens.len(), 4, "the embedding's stream and each layer's");

    let weights = Weights::default_model();
    let model = LoadedModel::new(&weights, BackendKind::Ndarray);
    let own = model.lens(&model.activations(&source.tokens).unwrap(), 5, false);
    assert_eq!(shown.lens, own, "the scene's lens is the model's");
    let strip = shown.get(&lens_tensor("x")).expect("x's strip has values");
    let best: Vec<f32> = own[0].top.iter().map(|row| row[0].1).collect();
    assert_eq!(strip.data, best, "each cell is its position's top probability");

    // Brighter yellow for a likelier top token: every pair of cells 0.1 or more apart is ordered.
    let colour: Vec<i32> = (0..6)
        .map(|t| cell_pixel(&mut offscreen, &frame, "x.lens", [t, 0, 0]))
        .map(|p| p[0] as i32 + p[1] as i32 - 2 * p[2] as i32)
        .collect();
    for a in 0..6 {
        for b in 0..6 {
            if best[a] > best[b] + 0.1 {
                assert!(
                    colour[a] > colour[b],
                    "p {} at {a} is drawn {} ≤ p {} at {b}, {}",
                    best[a],
                    colour[a],
                    best[b],
                    colour[b]
                );
            }
        }
    }
}

#[test]
fn every_stream_has_a_lens_strip_and_only_decode_steps_mark() {
    for name in ["nano", "nano-llama", "gpt2"] {
        let config = GptConfig::preset(name).unwrap();
        let layout = layout::build(&config);
        for stream in lens_streams(&config) {
            let strip = layout.block(&format!("{stream}.lens")).unwrap_or_else(|| panic!("{name}: {stream}'s strip"));
            let above = layout.block(&stream).unwrap();
            assert_eq!(strip.tensor, lens_tensor(&stream));
            assert_eq!(strip.cells, [above.cells[0], 1, 1], "{name}: one cell per position");
            assert_eq!(strip.position[0], above.position[0], "{name}: under its stream's columns");
            assert!(strip.max()[1] < above.position[1], "{name}: below {stream}");
        }
        assert!(layout.step_marks(6, 0).is_empty(), "{name}: a prefill marks nothing");
        let marks = layout.step_marks(7, 6);
        let mark_of = |block: &str| marks.iter().find(|(i, _)| layout.blocks[*i].name == block).map(|(_, m)| *m);
        let (k, v) = if config.llama_shape().is_some() {
            ("block0.head0.k_rot", "block0.head0.v")
        } else {
            ("block0.head0.k", "block0.head0.v")
        };
        assert_eq!(mark_of(k), Some(StepMark::Cached { columns: 6 }), "{name}");
        assert_eq!(mark_of(v), Some(StepMark::Cached { columns: 6 }), "{name}");
        assert_eq!(mark_of("block0.head0.att"), Some(StepMark::Computed { column: 6 }), "{name}");
        assert_eq!(mark_of("block0.head0.q"), Some(StepMark::Computed { column: 6 }), "{name}");
        let weights = layout.blocks.iter().filter(|b| b.kind == layout::BlockKind::Weight);
        assert!(weights.clone().all(|b| mark_of(&b.name).is_none()), "{name}: weights are not computed");
    }
}

#[test]
fn a_cell_names_the_part_switching_off_there_would_silence() {
    let gpt = layout::build(&GptConfig::preset("nano").unwrap());
    let part =
        |layout: &layout::Layout, block: &str, cell: [u32; 3]| layout.block(block).unwrap().switchable_part(cell);
    assert_eq!(part(&gpt, "block1.head2.att_sm", [3, 1, 0]), Some(Part::Head { layer: 1, head: 2 }));
    assert_eq!(part(&gpt, "block0.head0.q.weight", [0, 0, 0]), Some(Part::Head { layer: 0, head: 0 }));
    assert_eq!(part(&gpt, "block0.gelu", [2, 17, 0]), Some(Part::Neuron { layer: 0, neuron: 17 }));
    assert_eq!(part(&gpt, "block2.fc.weight", [4, 5, 0]), Some(Part::Mlp { layer: 2 }));
    assert_eq!(part(&gpt, "block2.mlp", [4, 5, 0]), Some(Part::Mlp { layer: 2 }));
    for block in ["x", "block0.ln1", "block0.attn_resid", "block1.mlp_resid", "block1.mlp_resid.lens", "probs"] {
        assert_eq!(part(&gpt, block, [0, 0, 0]), None, "{block} is no part one switches off");
    }
    let llama = layout::build(&GptConfig::preset("nano-llama").unwrap());
    assert_eq!(part(&llama, "block1.swiglu", [0, 9, 0]), Some(Part::Neuron { layer: 1, neuron: 9 }));
    assert_eq!(part(&llama, "block1.gate_proj.weight", [0, 9, 0]), Some(Part::Mlp { layer: 1 }));
    // A part's name is what `inspect --ablate` and the tour's SwitchOff read back.
    for (layout, part) in
        [(&gpt, Part::Neuron { layer: 0, neuron: 17 }), (&llama, Part::Neuron { layer: 1, neuron: 9 })]
    {
        let ablation = Ablation::parse(&part.name(&layout.config), &layout.config).unwrap();
        assert_eq!(ablation.parts(), vec![part]);
    }
}

/// A token pointed at in the token strip lights its column in every block computed per position;
/// the pointer leaving clears it.
#[test]
fn a_token_pointed_at_in_the_strip_lights_its_column_in_the_scene() {
    use llmviz::render::overlay::hover::POINTED_FOCUS;
    use llmviz::render::overlay::token_strip::PointedToken;
    let _gpu = gpu();
    let source = scene_source("nano", Some("CBABBC")).unwrap();
    let layout = layout::build(&source.config);
    let view = CameraChoice::Overview.view_point(&layout).unwrap();
    let mut offscreen = Offscreen::with_plugins(source, UVec2::new(64, 36), view, |app| {
        app.add_plugins((bevy_egui::EguiPlugin::default(), HoverPlugin)).insert_resource(PointedToken(Some(3)));
    });
    offscreen.wait_until_ready().unwrap();
    let column = Some(Focus::cells([Some(3), None, None], POINTED_FOCUS));
    for name in ["tokens", "x", "block0.head2.k", "block1.head0.att_sm", "block2.fc", "probs"] {
        assert_eq!(focus_of(&mut offscreen, name), column, "{name}");
    }
    for name in ["wte", "block0.head0.q.weight", "lm_head"] {
        assert_eq!(focus_of(&mut offscreen, name), None, "{name} is a weight, with no position");
    }
    offscreen.world_mut().insert_resource(PointedToken(None));
    offscreen.update();
    assert_eq!(focus_of(&mut offscreen, "x"), None, "the pointer left the strip");
}
