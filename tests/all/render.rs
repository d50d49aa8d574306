//! The renderer on lavapipe (or any Vulkan): offscreen pictures checked pixel by pixel, draw calls
//! counted, level of detail and value packing checked without a GPU, and the CLI's bad input.

use bevy::camera::CameraProjection;
use bevy::prelude::*;
use llmviz::cli::parse_size;
use llmviz::layout::{self, Layout};
use llmviz::model::{GptConfig, Weights};
use llmviz::render::run::offscreen::{Frame, Offscreen};
use llmviz::render::scene::blocks::SceneSource;
use llmviz::render::scene::lod::{self, LayerDetail, LodView};
use llmviz::render::scene::pages::{Paging, pack_values};
use llmviz::render::scene_source;
use llmviz::render::view::viewpoint::{CameraChoice, ViewPoint};

use crate::cli::{assert_clean_failure, llmviz};
use crate::gpu::gpu;
use crate::scratch::Scratch;

fn render(source: SceneSource, size: UVec2, view: ViewPoint) -> (Frame, usize) {
    let _gpu = gpu();
    let mut offscreen = Offscreen::new(source, size, view);
    offscreen.wait_until_ready().expect("the scene becomes ready");
    let batches = offscreen.stats().batches;
    (offscreen.capture().expect("a frame is captured"), batches)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Hue {
    Background,
    Weight,
    Activation,
    Aggregate,
    Grey,
    Dark,
    Other,
}

/// What a pixel shows, by hue: blue weights, green activations, yellow aggregates, white background.
fn classify(pixel: [u8; 4]) -> Hue {
    let [r, g, b] = [pixel[0], pixel[1], pixel[2]].map(|c| c as f32 / 255.0);
    let max = r.max(g).max(b);
    let min = r.min(g).min(b);
    let saturation = if max > 0.0 { (max - min) / max } else { 0.0 };
    if max < 0.3 {
        return Hue::Dark;
    }
    if saturation < 0.08 {
        return if min > 0.95 { Hue::Background } else { Hue::Grey };
    }
    let hue = if max == r {
        60.0 * ((g - b) / (max - min)).rem_euclid(6.0)
    } else if max == g {
        60.0 * ((b - r) / (max - min) + 2.0)
    } else {
        60.0 * ((r - g) / (max - min) + 4.0)
    };
    match hue {
        h if (200.0..=260.0).contains(&h) => Hue::Weight,
        h if (90.0..=160.0).contains(&h) => Hue::Activation,
        h if (25.0..=65.0).contains(&h) => Hue::Aggregate,
        _ => Hue::Other,
    }
}

fn count(frame: &Frame, hue: Hue) -> usize {
    frame.rgba.chunks(4).filter(|p| classify([p[0], p[1], p[2], p[3]]) == hue).count()
}

#[test]
fn nano_overview_shows_the_three_colour_families_on_the_background() {
    let source = scene_source("nano", None).unwrap();
    let view = CameraChoice::Overview.view_point(&layout::build(&source.config)).unwrap();
    let (frame, _) = render(source, UVec2::new(640, 360), view);
    let pixels = (frame.width * frame.height) as usize;
    let [background, weights, activations, aggregates] =
        [Hue::Background, Hue::Weight, Hue::Activation, Hue::Aggregate].map(|hue| count(&frame, hue));
    let counts = format!(
        "background {background}, weights {weights}, activations {activations}, aggregates {aggregates} of {pixels}"
    );
    assert!(background > pixels / 4 && background < pixels, "{counts}");
    assert!(weights > 200, "{counts}");
    assert!(activations > 200, "{counts}");
    // Aggregates are one-cell rows, a few pixels each from this far.
    assert!(aggregates >= 8, "{counts}");
}

/// wte with a known pattern: +1, −1 and 0 in turn along both axes, so a swapped or shifted cell map
/// shows up. Positive cells must be blue, negative ones near black, zeros grey.
#[test]
fn known_values_colour_the_expected_cells() {
    let mut weights = Weights::default_model();
    let wte = weights.tensors.get_mut("transformer.wte.weight").expect("nano has wte");
    let [vocab, channels] = [wte.shape[0], wte.shape[1]];
    let pattern = |v: usize, c: usize| [1.0, -1.0, 0.0][(v + 2 * c) % 3];
    for v in 0..vocab {
        for c in 0..channels {
            wte.data[v * channels + c] = pattern(v, c);
        }
    }
    let source = SceneSource::with_weights(weights, vec![2, 1, 0]);
    let layout = layout::build(&source.config);
    let block = layout.block("wte").expect("a wte block").clone();
    let view = CameraChoice::Block("wte".into()).view_point(&layout).unwrap();
    let size = UVec2::new(640, 360);
    let (frame, _) = render(source, size, view);

    let mut projection = PerspectiveProjection { fov: layout::ANCHOR_FOV_Y_DEGREES.to_radians(), ..default() };
    projection.update(size.x as f32, size.y as f32);
    let clip_from_world = projection.get_clip_from_view() * view.transform().to_matrix().inverse();
    let mut wrong = Vec::new();
    let (mut zeros, mut negatives) = (Vec::new(), Vec::new());
    for v in 0..block.cells[0] {
        for c in 0..block.cells[1] {
            // The front face's cell centre: cell (v, c) shows wte[v, c].
            let mut center = Vec3::from(block.cell_center([v, c, 0]));
            center.z = block.max()[2];
            let ndc = clip_from_world.project_point3(center);
            let x = ((ndc.x + 1.0) / 2.0 * size.x as f32) as u32;
            let y = ((1.0 - ndc.y) / 2.0 * size.y as f32) as u32;
            let pixel = frame.pixel(x, y);
            let hue = classify(pixel);
            let brightness = pixel[..3].iter().map(|&c| c as u32).sum::<u32>();
            let value = pattern(v as usize, c as usize);
            // Positive: the weights' blue. Zero: grey. Negative: grey or black, darker than any zero.
            let fits = if value > 0.0 {
                hue == Hue::Weight
            } else {
                let list = if value < 0.0 { &mut negatives } else { &mut zeros };
                list.push(brightness);
                matches!(hue, Hue::Grey | Hue::Dark)
            };
            if !fits {
                wrong.push(format!("cell ({v}, {c}) = {value} at ({x}, {y}): {pixel:?} is {hue:?}"));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} cells wrong:\n{}",
        wrong.len(),
        block.cells[0] * block.cells[1],
        wrong.join("\n")
    );
    let (darkest_zero, brightest_negative) = (zeros.iter().min().unwrap(), negatives.iter().max().unwrap());
    assert!(
        brightest_negative + 60 < *darkest_zero,
        "negatives up to {brightest_negative}, zeros from {darkest_zero} (sum of RGB)"
    );
}

/// A one-layer GPT-2 with a vocabulary long enough to be folded, its weights zero but for wte,
/// which holds `pattern`.
fn folded_model(pattern: impl Fn(usize, usize) -> f32) -> Weights {
    let config = GptConfig::new("folded", [1, 2, 16, 5000, 8], false).unwrap();
    let mut tensors = std::collections::BTreeMap::new();
    for (name, shape) in llmviz::model::names::parameter_shapes(&config) {
        let data = vec![0.0; shape.iter().product()];
        tensors.insert(name, llmviz::model::NamedTensor::new(shape, data));
    }
    let wte = tensors.get_mut(llmviz::model::names::WTE).expect("a GPT-2 has wte");
    let channels = wte.shape[1];
    for (index, value) in wte.data.iter_mut().enumerate() {
        *value = pattern(index / channels, index % channels);
    }
    Weights { config, tensors, source: "folded".into() }
}

/// The folded token embedding, looked at up close in its first, a middle and its last strip: each
/// cell where `Block::cell_center` says, in its value's colour; the gap after a strip shows no cell.
#[test]
fn folded_cells_show_their_own_values_in_every_strip() {
    let pattern = |v: usize, c: usize| [1.0, -1.0, 0.0][(v + 2 * c) % 3];
    let source = SceneSource::with_weights(folded_model(pattern), vec![1, 2, 3]);
    let layout = layout::build(&source.config);
    let block = layout.block("wte").expect("a wte block").clone();
    let fold = block.fold.expect("a 5,000-token wte is folded");
    let size = UVec2::new(640, 360);
    let mut wrong = Vec::new();
    let mut checked = 0;
    for strip in [0, fold.pieces(block.cells) / 2, fold.pieces(block.cells) - 1] {
        let first = strip * fold.length;
        let look_at = Vec3::from(block.cell_center([first + 4, 8, 0]));
        let view = ViewPoint { eye: look_at + Vec3::new(0.0, 0.0, 40.0 * layout::CELL), target: look_at };
        let (frame, _) = render(source.clone(), size, view);
        let mut projection = PerspectiveProjection { fov: layout::ANCHOR_FOV_Y_DEGREES.to_radians(), ..default() };
        projection.update(size.x as f32, size.y as f32);
        let clip_from_world = projection.get_clip_from_view() * view.transform().to_matrix().inverse();
        let screen = |point: Vec3| {
            let ndc = clip_from_world.project_point3(point);
            (((ndc.x + 1.0) / 2.0 * size.x as f32) as u32, ((1.0 - ndc.y) / 2.0 * size.y as f32) as u32)
        };
        for v in first..(first + 12).min(block.cells[0]) {
            for c in 0..block.cells[1] {
                let mut center = Vec3::from(block.cell_center([v, c, 0]));
                center.z = block.max()[2];
                let (x, y) = screen(center);
                let pixel = frame.pixel(x, y);
                let value = pattern(v as usize, c as usize);
                let fits = if value > 0.0 {
                    classify(pixel) == Hue::Weight
                } else {
                    matches!(classify(pixel), Hue::Grey | Hue::Dark)
                };
                if !fits {
                    wrong.push(format!("strip {strip}: cell ({v}, {c}) = {value} at ({x}, {y}): {pixel:?}"));
                }
                checked += 1;
            }
        }
        // Below the strip's last channel, in the gap before the next strip: the background.
        if strip + 1 < fold.pieces(block.cells) {
            let mut below = Vec3::from(block.cell_center([first + 4, block.cells[1] - 1, 0]));
            below.y -= 2.0 * layout::CELL;
            let (x, y) = screen(below);
            assert_eq!(classify(frame.pixel(x, y)), Hue::Background, "strip {strip}: the gap at ({x}, {y})");
        }
    }
    assert!(wrong.is_empty(), "{} of {checked} cells wrong:\n{}", wrong.len(), wrong.join("\n"));
}

#[test]
fn nano_and_gpt2_draw_in_the_same_number_of_batches_but_for_nanos_connectors() {
    let batches = |model: &str| {
        let source = scene_source(model, None).unwrap();
        let view = CameraChoice::Overview.view_point(&layout::build(&source.config)).unwrap();
        render(source, UVec2::new(320, 180), view).1
    };
    let (nano, gpt2) = (batches("nano"), batches("gpt2"));
    assert!(nano > 0, "nano drew nothing");
    // All of nano's connectors are one more instanced draw; GPT-2 is too large to get them.
    assert_eq!(nano, gpt2 + 1, "batches: nano {nano}, gpt2 {gpt2}");
}

/// Level of detail keeps what is drawn small: from the overview, GPT-3's blocks are drawn as fewer
/// than one box per twenty-five blocks, while nano's overview shows every block.
#[test]
fn gpt3_overview_draws_few_boxes_and_nano_overview_draws_every_block() {
    let drawn = |layout: &Layout| {
        let plan = lod::plan(layout);
        let view = LodView::new(Vec3::from(layout.overview.eye), layout::ANCHOR_FOV_Y_DEGREES.to_radians(), 720.0);
        let details: Vec<LayerDetail> = plan.layers.iter().map(|layer| view.detail(layer)).collect();
        let boxes: usize = details
            .iter()
            .enumerate()
            .map(|(layer, &detail)| {
                let (blocks, proxies) = plan.shown(layer, detail);
                blocks.len() + proxies.len()
            })
            .sum();
        (boxes + plan.always.len(), details)
    };
    let nano = layout::build(&GptConfig::nano());
    let (nano_drawn, nano_details) = drawn(&nano);
    assert!(nano_details.iter().all(|&detail| detail == LayerDetail::Full), "{nano_details:?}");
    assert_eq!(nano_drawn, nano.blocks.len());
    let gpt3 = layout::build(&GptConfig::preset("gpt3").unwrap());
    let (gpt3_drawn, _) = drawn(&gpt3);
    // Its layers, a grid of 16 columns, stand some 90 px tall in the overview: each draws its own
    // blocks but its heads as boxes.
    assert!(gpt3_drawn * 25 < gpt3.blocks.len(), "GPT-3 draws {gpt3_drawn} boxes for {} blocks", gpt3.blocks.len());
}

#[test]
fn activations_past_the_input_are_packed_as_nan() {
    let weights = Weights::default_model();
    let layout = layout::build(&weights.config);
    let model = llmviz::model::LoadedModel::new(&weights, llmviz::model::BackendKind::Ndarray);
    let activations = model.activations(&[2, 1, 0]).unwrap();
    let packed = pack_values(&layout, Some(&weights), Some(&activations), Paging::default());
    let x = packed.tensors["x"];
    let c = weights.config.n_embd;
    let t = weights.config.block_size;
    let row = |position: usize| packed.values(x.base + position * c, c);
    let as_f16 = |values: &[f32]| values.iter().map(|&v| half::f16::from_f32(v).to_f32()).collect::<Vec<_>>();
    assert_eq!(row(1), as_f16(&activations.tensors["x"].data[c..2 * c]));
    assert!(row(3).iter().all(|v| v.is_nan()) && row(t - 1).iter().all(|v| v.is_nan()));
    let weights_only = pack_values(&layout, Some(&weights), None, Paging::default());
    assert_eq!(weights_only.bytes(), packed.bytes(), "the pages keep their sizes when activations arrive");
    assert!(!weights_only.tensors["x"].computed && weights_only.tensors["transformer.wte.weight"].computed);
}

#[test]
fn bad_sizes_and_cameras_are_refused() {
    assert_eq!(parse_size("640x360"), Ok(UVec2::new(640, 360)));
    for bad in ["640", "0x360", "640x", "axb", "99999x10"] {
        assert!(parse_size(bad).is_err(), "{bad}");
    }
    let nano = layout::build(&GptConfig::nano());
    assert!(CameraChoice::parse("block:").is_err() && CameraChoice::parse("top").is_err());
    let missing = CameraChoice::parse("block:nonesuch").unwrap().view_point(&nano).unwrap_err();
    assert!(missing.to_string().contains("nonesuch"), "{missing}");
}

#[test]
fn screenshot_refuses_bad_input_with_one_line() {
    let picture = Scratch::file("refused.png");
    let out = picture.to_str().unwrap();
    assert_clean_failure(&llmviz(&["screenshot", "--out", out, "--model", "gpt5"]), "unknown model 'gpt5'");
    assert_clean_failure(&llmviz(&["screenshot", "--out", out, "--size", "big"]), "--size");
    assert_clean_failure(&llmviz(&["screenshot", "--out", out, "--camera", "block:nonesuch"]), "nonesuch");
    assert_clean_failure(&llmviz(&["screenshot", "--out", out, "--input", "CBXD"]), "'X'");
    assert_clean_failure(&llmviz(&["screenshot", "--out", out, "--model", "gpt2", "--input", "AB"]), "no weights");
    assert_clean_failure(&llmviz(&["bench", "--frames", "0"]), "--frames");
}

/// A tour fades a block by lowering its opacity: it moves to the blended material (one more batch)
/// and its pixels move towards the background.
#[test]
fn a_faded_block_is_blended_with_the_background() {
    use llmviz::render::scene::blocks::{BlockStyle, SceneBlock};
    let _gpu = gpu();
    let source = scene_source("nano", None).unwrap();
    let layout = layout::build(&source.config);
    let wte = layout.find("wte").unwrap() as u32;
    let view = CameraChoice::Block("wte".into()).view_point(&layout).unwrap();
    let mut offscreen = Offscreen::new(source, UVec2::new(320, 180), view);
    offscreen.wait_until_ready().unwrap();
    let opaque = offscreen.capture().unwrap();
    let opaque_batches = offscreen.stats().batches;

    let world = offscreen.world_mut();
    let mut styles = world.query::<(&SceneBlock, &mut BlockStyle)>();
    for (block, mut style) in styles.iter_mut(world) {
        if block.index == wte {
            style.opacity = 0.2;
        }
    }
    offscreen.wait_until_ready().unwrap();
    let faded = offscreen.capture().unwrap();
    assert_eq!(offscreen.stats().batches, opaque_batches + 1, "the faded block is drawn in its own batch");
    // Inside wte's outline on screen: how far from white the pixels are, on average.
    let size = UVec2::new(320, 180);
    let mut projection = PerspectiveProjection { fov: layout::ANCHOR_FOV_Y_DEGREES.to_radians(), ..default() };
    projection.update(size.x as f32, size.y as f32);
    let clip_from_world = projection.get_clip_from_view() * view.transform().to_matrix().inverse();
    let block = &layout.blocks[wte as usize];
    let corners = [block.position, block.max()].map(|corner| {
        let ndc = clip_from_world.project_point3(Vec3::new(corner[0], corner[1], block.max()[2]));
        UVec2::new(((ndc.x + 1.0) / 2.0 * size.x as f32) as u32, ((1.0 - ndc.y) / 2.0 * size.y as f32) as u32)
    });
    let (min, max) = (corners[0].min(corners[1]), corners[0].max(corners[1]));
    let ink = |frame: &Frame| {
        let mut total = 0u64;
        for y in min.y + 1..max.y - 1 {
            for x in min.x + 1..max.x - 1 {
                total += frame.pixel(x, y)[..3].iter().map(|&c| 255 - c as u64).sum::<u64>();
            }
        }
        total
    };
    assert!(ink(&faded) * 3 < ink(&opaque), "ink inside wte: {} opaque, {} faded", ink(&opaque), ink(&faded));
}

#[test]
fn a_new_input_reruns_the_model_and_refills_the_values() {
    use llmviz::render::scene::blocks::SceneValues;
    use llmviz::render::scene::pages::PackedValues;
    let _gpu = gpu();
    let source = scene_source("nano", Some("CBABBC")).unwrap();
    let view = CameraChoice::Overview.view_point(&layout::build(&source.config)).unwrap();
    let mut offscreen = Offscreen::new(source, UVec2::new(160, 90), view);
    offscreen.wait_until_ready().unwrap();
    let x_of = |offscreen: &mut Offscreen| {
        let world = offscreen.world_mut();
        let packed = world.resource::<PackedValues>();
        let x = packed.tensors["x"];
        let tokens = world.resource::<SceneValues>().activations.as_ref().unwrap().tokens.clone();
        (tokens, packed.values(x.base, 48))
    };
    let (tokens, first_row) = x_of(&mut offscreen);
    assert_eq!(tokens, vec![2, 1, 0, 1, 1, 2]);

    offscreen.world_mut().resource_mut::<SceneSource>().tokens = vec![0, 0, 1];
    offscreen.wait_until_ready().unwrap();
    let (tokens, new_first_row) = x_of(&mut offscreen);
    assert_eq!(tokens, vec![0, 0, 1]);
    assert_ne!(first_row, new_first_row, "x[0] is the embedding of the first token, C before and A now");
}

#[test]
fn screenshot_writes_a_png_and_bench_prints_one_line() {
    let out = Scratch::file("screenshot.png");
    let output = llmviz(&["screenshot", "--out", out.to_str().unwrap(), "--size", "320x180", "--camera", "block:wte"]);
    assert!(output.status.success(), "{}", crate::cli::stderr(&output));
    let png = std::fs::read(&out).expect("the PNG is written");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");

    let output = llmviz(&["bench", "--frames", "5", "--size", "160x90"]);
    assert!(output.status.success(), "{}", crate::cli::stderr(&output));
    let line = crate::cli::stdout(&output);
    let words: Vec<&str> = line.split_whitespace().collect();
    assert!(
        // nano's blocks in one draw, its connectors in another.
        matches!(words.as_slice(), ["entities", _, "batches", "2,", "median", _, "ms,", "p95", _, "ms"]),
        "{line}"
    );
}

#[test]
fn a_ray_hits_the_box_it_passes_through() {
    use llmviz::render::view::camera::ray_box;
    let ray = Ray3d::new(Vec3::new(0.0, 0.0, 10.0), Dir3::NEG_Z);
    assert_eq!(ray_box(ray, Vec3::splat(-1.0), Vec3::splat(1.0)), Some(9.0));
    assert_eq!(ray_box(ray, Vec3::new(2.0, -1.0, -1.0), Vec3::new(3.0, 1.0, 1.0)), None);
    assert_eq!(ray_box(ray, Vec3::new(-1.0, -1.0, 11.0), Vec3::new(1.0, 1.0, 12.0)), None, "behind the eye");
}

/// The camera's mouse controls in an app without a window system: right drag orbits about the
/// target when no block is under the cursor, left drag pans, and only a press and release within
/// 4 px is a click.
#[test]
fn drags_orbit_and_pan_and_only_a_still_press_is_a_click() {
    use bevy::input::mouse::{AccumulatedMouseMotion, AccumulatedMouseScroll};
    use bevy::window::PrimaryWindow;
    use llmviz::render::view::camera::{CameraPlugin, Click};

    let mut app = App::new();
    app.add_plugins((MinimalPlugins, bevy::transform::TransformPlugin, CameraPlugin))
        .init_resource::<ButtonInput<MouseButton>>()
        .init_resource::<ButtonInput<KeyCode>>()
        .init_resource::<AccumulatedMouseMotion>()
        .init_resource::<AccumulatedMouseScroll>()
        .add_message::<bevy::window::RequestRedraw>();
    let start = ViewPoint { eye: Vec3::new(0.0, 0.0, 100.0), target: Vec3::ZERO };
    let window = app.world_mut().spawn((Window::default(), PrimaryWindow)).id();
    let camera = app.world_mut().spawn((Camera3d::default(), start)).id();
    let cursor = |app: &mut App, position: Vec2| {
        app.world_mut().get_mut::<Window>(window).unwrap().set_cursor_position(Some(position));
    };
    let drag = |app: &mut App, button: MouseButton, delta: Vec2| {
        cursor(app, Vec2::new(300.0, 200.0));
        app.world_mut().resource_mut::<ButtonInput<MouseButton>>().press(button);
        app.update();
        // What InputPlugin does between frames: "just pressed" lasts one frame.
        app.world_mut().resource_mut::<ButtonInput<MouseButton>>().clear();
        app.world_mut().resource_mut::<AccumulatedMouseMotion>().delta = delta;
        cursor(app, Vec2::new(300.0, 200.0) + delta);
        app.update();
        app.world_mut().resource_mut::<AccumulatedMouseMotion>().delta = Vec2::ZERO;
        let mut buttons = app.world_mut().resource_mut::<ButtonInput<MouseButton>>();
        buttons.clear();
        buttons.release(button);
        app.update();
        app.world_mut().resource_mut::<ButtonInput<MouseButton>>().clear();
        *app.world().get::<ViewPoint>(camera).unwrap()
    };
    let clicks = |app: &mut App| app.world_mut().resource_mut::<Messages<Click>>().drain().count();

    let orbited = drag(&mut app, MouseButton::Right, Vec2::new(50.0, 0.0));
    assert_eq!(orbited.target, start.target);
    assert!((orbited.distance() - start.distance()).abs() < 1e-3, "orbiting keeps the distance");
    assert!(orbited.eye.x < -10.0, "dragging right turns the view: {:?}", orbited.eye);
    assert_eq!(clicks(&mut app), 0, "a 50 px drag is not a click");

    let panned = drag(&mut app, MouseButton::Left, Vec2::new(0.0, 3.0));
    assert_eq!(panned.eye - orbited.eye, panned.target - orbited.target, "panning moves eye and target together");
    assert!(panned.target.y > 0.0, "dragging down moves the scene down, the view up");
    assert_eq!(clicks(&mut app), 1, "a 3 px drag is a click");
}

/// A right drag that starts over a block turns the view about the point under the cursor: that
/// point stays where it was on screen (in the camera's own frame), the eye keeps its distance
/// from it, and about the target the turn is `orbit`'s.
#[test]
fn orbiting_about_the_point_under_the_cursor_keeps_it_in_place() {
    let start = ViewPoint { eye: Vec3::new(10.0, 20.0, 100.0), target: Vec3::new(0.0, -5.0, 0.0) };
    let pivot = Vec3::new(-30.0, 12.0, 4.0);
    let in_camera = |view: &ViewPoint, point: Vec3| view.transform().to_matrix().inverse().transform_point3(point);
    for delta in [Vec2::new(50.0, 0.0), Vec2::new(0.0, -30.0), Vec2::new(-120.0, 45.0)] {
        let turned = start.orbit_about(pivot, delta);
        let (before, after) = (in_camera(&start, pivot), in_camera(&turned, pivot));
        assert!((before - after).length() < 1e-3, "{delta}: the pivot moved on screen, {before} → {after}");
        assert!(((turned.eye - pivot).length() - (start.eye - pivot).length()).abs() < 1e-3, "{delta}");
        assert!((turned.eye - start.eye).length() > 1.0, "{delta}: the view turned");
        let about_target = start.orbit_about(start.target, delta);
        let plain = start.orbit(delta);
        assert!((about_target.eye - plain.eye).length() < 1e-3 && (about_target.target - plain.target).length() < 1e-3);
    }
}

#[test]
fn block_tags_name_the_block_inside_its_section() {
    use llmviz::render::overlay::ui::short_name;
    assert_eq!(short_name("block0.head1.q.weight"), "q.weight");
    assert_eq!(short_name("block2.fc.weight"), "fc.weight");
    assert_eq!(short_name("block0.head2.att.max"), "att.max");
    assert_eq!(short_name("wte"), "wte");
    // Only numbered layers and heads are dropped.
    assert_eq!(short_name("blocks.header"), "blocks.header");
    // Every name of nano's layout keeps something to show.
    for block in &layout::build(&GptConfig::nano()).blocks {
        assert!(!short_name(&block.name).is_empty(), "{}", block.name);
    }
}
