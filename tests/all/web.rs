//! The browser build's own logic that needs no browser: deep links and touch gestures.
//! The page itself is tested in Chromium by web/test/browser.test.mjs.

use bevy::math::{Dir3, Ray3d, Vec2, Vec3};
use llmviz::render::view::camera::{TouchCameraPlugin, two_finger_motion};
use llmviz::render::view::viewpoint::ViewPoint;
use llmviz::tour::shipped;
use llmviz::web::{DeepLink, open_tour, tour_link};

fn link(tour: Option<&str>, chapter: Option<&str>, step: Option<usize>, model: Option<&str>) -> DeepLink {
    DeepLink {
        tour: tour.map(String::from),
        chapter: chapter.map(String::from),
        step,
        model: model.map(String::from),
        input: None,
        lang: None,
        weights: None,
        text: None,
    }
}

#[test]
fn a_tour_link_reads_tour_chapter_and_step() {
    let parsed = DeepLink::parse("?tour=nano-gpt&chapter=self-attention&step=2").unwrap();
    assert_eq!(parsed, link(Some("nano-gpt"), Some("self-attention"), Some(2), None));
}

#[test]
fn a_model_link_needs_no_tour() {
    assert_eq!(DeepLink::parse("?model=gpt3").unwrap(), link(None, None, None, Some("gpt3")));
    assert_eq!(DeepLink::parse("").unwrap(), DeepLink::default());
}

#[test]
fn unknown_parameters_are_ignored_and_escapes_decoded() {
    let parsed = DeepLink::parse("utm_source=x&model=gpt2%2Dxl&input=CBA+").unwrap();
    assert_eq!(parsed.model.as_deref(), Some("gpt2-xl"));
    assert_eq!(parsed.input.as_deref(), Some("CBA "));
}

#[test]
fn a_bad_step_is_refused_with_the_parameter_named() {
    let error = DeepLink::parse("?chapter=intro&step=zero").unwrap_err();
    assert!(error.contains("?step=zero"), "{error}");
    assert!(DeepLink::parse("?chapter=intro&step=0").is_err());
    assert!(DeepLink::parse("?step=2").unwrap_err().contains("?chapter"));
}

#[test]
fn the_page_names_its_own_parameters_when_a_model_link_does_not_open() {
    let no_weights = llmviz::render::scene_source("gpt2", Some("AB")).unwrap_err();
    assert_eq!(
        llmviz::web::render_problem(&no_weights),
        "?input=AB: model 'gpt2' has no weights to run, only its structure is shown"
    );
    let bad_letter = llmviz::render::scene_source("nano", Some("CBXD")).unwrap_err();
    let problem = llmviz::web::render_problem(&bad_letter);
    assert!(problem.starts_with("?input=CBXD: ") && problem.contains("'X'"), "{problem}");
}

#[test]
fn a_link_written_out_reads_back_the_same() {
    for original in [
        link(Some("nano-gpt"), Some("self-attention"), Some(2), None),
        link(None, None, None, Some("gpt3")),
        DeepLink { input: Some("CBA BC&x".into()), ..DeepLink::default() },
        DeepLink {
            weights: Some("https://huggingface.co/openai-community/gpt2/resolve/main/".into()),
            text: Some("Hello, I'm a language model, & more".into()),
            ..DeepLink::default()
        },
    ] {
        assert_eq!(DeepLink::parse(&original.to_query()).unwrap(), original);
    }
    assert_eq!(DeepLink::default().to_query(), "");
    assert_eq!(
        link(Some("nano-gpt"), Some("self-attention"), Some(2), None).to_query(),
        "?tour=nano-gpt&chapter=self-attention&step=2"
    );
}

#[test]
fn spreading_two_fingers_zooms_in_and_moving_them_together_orbits() {
    let (moved, factor) = two_finger_motion(
        [Vec2::new(100.0, 100.0), Vec2::new(200.0, 100.0)],
        [Vec2::new(80.0, 110.0), Vec2::new(220.0, 110.0)],
    );
    assert_eq!(moved, Vec2::new(0.0, 10.0));
    assert!((factor - 100.0 / 140.0).abs() < 1e-6, "{factor}");
}

#[test]
fn touch_moves_keep_the_view_sensible() {
    let view = ViewPoint { eye: Vec3::new(0.0, 0.0, 100.0), target: Vec3::ZERO };
    // Orbiting keeps the distance and the target.
    let orbited = view.orbit(Vec2::new(120.0, -40.0));
    assert!((orbited.distance() - 100.0).abs() < 1e-3);
    assert_eq!(orbited.target, view.target);
    // Panning keeps the direction and the distance, and moves the scene with the finger: a drag to
    // the right moves the camera to the left.
    let panned = view.pan(Vec2::new(50.0, 0.0), 800.0);
    assert!(panned.eye.x < 0.0 && (panned.eye - panned.target - (view.eye - view.target)).length() < 1e-3);
    // Zooming scales the distance, and stops short of the target.
    assert!((view.zoom(view.target, 0.5).distance() - 50.0).abs() < 1e-3);
    assert_eq!(view.zoom(view.target, 0.001), view);
    // About a point off the axis, that point keeps its place in the view: its offset from the
    // line of sight shrinks with the distance.
    let focus = Vec3::new(10.0, 0.0, 0.0);
    let zoomed = view.zoom(focus, 0.5);
    assert!((zoomed.distance() - 50.0).abs() < 1e-3);
    assert!((zoomed.target - Vec3::new(5.0, 0.0, 0.0)).length() < 1e-4, "{zoomed:?}");
}

#[test]
fn a_tour_link_opens_its_chapter_at_its_step_and_reads_back() {
    let link = DeepLink::parse("?tour=nano-gpt&chapter=self-attention&step=2").unwrap();
    let tour = open_tour(&link).expect("a tour link opens a tour").unwrap();
    assert_eq!(tour.timeline().id, "self-attention");
    assert_eq!(tour.player.time, tour.timeline().step_time(1));
    assert!(!tour.player.playing, "a deep link waits for the reader");
    assert_eq!(tour_link(&tour), link);
}

#[test]
fn the_default_page_opens_the_nano_gpt_tour_and_a_model_link_none() {
    let tour = open_tour(&DeepLink::default()).expect("the default opens a tour").unwrap();
    assert_eq!(tour_link(&tour).tour.as_deref(), Some("nano-gpt"));
    assert_eq!(tour_link(&tour).step, Some(1));
    assert!(open_tour(&DeepLink::parse("?model=gpt3").unwrap()).is_none());
    for id in shipped::names() {
        let link = DeepLink { tour: Some(id.into()), ..DeepLink::default() };
        assert!(open_tour(&link).unwrap().is_ok(), "built-in tour {id} opens");
    }
}

#[test]
fn the_page_builds_in_every_tour_file_exactly_as_it_is() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tours");
    let mut tours: Vec<(String, String)> = Vec::new();
    let mut translations: Vec<(String, String)> = Vec::new();
    for path in std::fs::read_dir(&dir).expect("tours/").map(|entry| entry.expect("a directory entry").path()) {
        if path.extension().is_none_or(|ext| ext != "ron") {
            continue;
        }
        let id = path.file_stem().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&path).expect("readable");
        // NAME.LANG.ron beside NAME.ron is a translation.
        match llmviz::tour::translation::source_of(&path).filter(|(source, _)| source.is_file()) {
            Some(_) => translations.push((id, text)),
            None => tours.push((id, text)),
        }
    }
    tours.sort();
    translations.sort();
    let mut built_in: Vec<(String, String)> =
        shipped::TOURS.iter().map(|tour| (tour.name.to_string(), tour.text.to_string())).collect();
    built_in.sort();
    assert_eq!(built_in, tours, "tour::shipped::TOURS lists every tour of tours/ under its name");
    let mut built_in_translations: Vec<(String, String)> = shipped::TOURS
        .iter()
        .flat_map(|tour| {
            tour.translations.iter().map(|(language, text)| (format!("{}.{language}", tour.name), text.to_string()))
        })
        .collect();
    built_in_translations.sort();
    assert_eq!(built_in_translations, translations, "the shipped translations are every translation of tours/");
}

#[test]
fn a_link_to_a_missing_tour_or_chapter_says_what_there_is() {
    let error = open_tour(&DeepLink::parse("?tour=gpt5").unwrap()).unwrap().err().unwrap();
    assert!(error.contains("?tour=gpt5") && error.contains("nano-gpt"), "{error}");
    let error = open_tour(&DeepLink::parse("?tour=nano-gpt&chapter=nowhere").unwrap()).unwrap().err().unwrap();
    assert!(error.contains("nowhere") && error.contains("self-attention"), "{error}");
}

/// A headless app with the touch camera: no renderer, a window and a camera to move.
fn touch_app(view: ViewPoint) -> (bevy::app::App, bevy::ecs::entity::Entity, bevy::ecs::entity::Entity) {
    use bevy::prelude::*;
    use bevy::window::{PrimaryWindow, RequestRedraw};
    let mut app = App::new();
    app.add_plugins((MinimalPlugins, bevy::input::InputPlugin, TouchCameraPlugin))
        .add_message::<llmviz::render::view::camera::Click>()
        .add_message::<RequestRedraw>();
    let window = app.world_mut().spawn((Window::default(), PrimaryWindow)).id();
    let camera = app.world_mut().spawn((Camera3d::default(), GlobalTransform::default(), view)).id();
    app.update();
    (app, window, camera)
}

fn touch(
    app: &mut bevy::app::App,
    window: bevy::ecs::entity::Entity,
    phase: bevy::input::touch::TouchPhase,
    id: u64,
    at: Vec2,
) {
    app.world_mut().write_message(bevy::input::touch::TouchInput { phase, position: at, window, force: None, id });
}

#[test]
fn a_finger_that_stops_stops_the_camera() {
    use bevy::input::touch::TouchPhase;
    let start = ViewPoint { eye: Vec3::new(0.0, 0.0, 100.0), target: Vec3::ZERO };
    let (mut app, window, camera) = touch_app(start);
    let view = |app: &mut bevy::app::App| *app.world().get::<ViewPoint>(camera).unwrap();
    touch(&mut app, window, TouchPhase::Started, 0, Vec2::new(100.0, 100.0));
    app.update();
    touch(&mut app, window, TouchPhase::Moved, 0, Vec2::new(150.0, 100.0));
    app.update();
    let panned = start.pan(Vec2::new(50.0, 0.0), 720.0);
    assert!((view(&mut app).eye - panned.eye).length() < 1e-3, "{:?} vs {panned:?}", view(&mut app));
    // Frames without touch events: the finger rests, and so does the view.
    for _ in 0..3 {
        app.update();
    }
    assert!((view(&mut app).eye - panned.eye).length() < 1e-3, "the view drifted to {:?}", view(&mut app));
    touch(&mut app, window, TouchPhase::Moved, 0, Vec2::new(160.0, 100.0));
    app.update();
    let further = panned.pan(Vec2::new(10.0, 0.0), 720.0);
    assert!((view(&mut app).eye - further.eye).length() < 1e-3, "{:?} vs {further:?}", view(&mut app));
    touch(&mut app, window, TouchPhase::Ended, 0, Vec2::new(160.0, 100.0));
    app.update();
    app.update();
    assert!((view(&mut app).eye - further.eye).length() < 1e-3);
}

/// A hundred wheel steps towards a block of GPT-2 leave the eye in front of it, at
/// `NEAREST_SURFACE`, with the block still the first thing under the cursor; towards empty space
/// the wheel zooms about the target's depth as before.
#[test]
fn zooming_a_hundred_steps_towards_a_block_stops_in_front_of_it() {
    use llmviz::render::view::camera::{NEAREST_SURFACE, ray_box, wheel_zoom};
    let layout = llmviz::layout::build(&llmviz::model::GptConfig::preset("gpt2").unwrap());
    let start = ViewPoint::from(layout.overview);
    for name in ["block5.mlp", "block0.head0.q", "block11.head0.att", "block3.fc"] {
        let block = &layout.blocks[layout.find(name).unwrap()];
        let (min, max) = (Vec3::from(block.position), Vec3::from(block.max()));
        // The cursor on the middle of the block's front face.
        let aim = Vec3::new((min.x + max.x) / 2.0, (min.y + max.y) / 2.0, max.z);
        let mut view = start;
        for step in 0..100 {
            let ray = Ray3d::new(view.eye, Dir3::new(aim - view.eye).unwrap());
            view = wheel_zoom(&layout.blocks, &view, Some(ray), 1.0);
            let inside = layout.blocks.iter().find(|b| {
                let (lo, hi) = (Vec3::from(b.position), Vec3::from(b.max()));
                view.eye.cmpgt(lo).all() && view.eye.cmplt(hi).all()
            });
            assert!(inside.is_none(), "{name}: step {step} put the eye inside {}", inside.unwrap().name);
            let ray = Ray3d::new(view.eye, Dir3::new(aim - view.eye).unwrap());
            let first = layout
                .blocks
                .iter()
                .filter_map(|b| ray_box(ray, Vec3::from(b.position), Vec3::from(b.max())).map(|d| (d, &b.name)))
                .min_by(|a, b| a.0.total_cmp(&b.0))
                .unwrap();
            assert_eq!(first.1, name, "{name}: after step {step} the cursor is on {} first", first.1);
        }
        let reach = (aim - view.eye).length();
        assert!((reach - NEAREST_SURFACE).abs() < 0.01 * NEAREST_SURFACE, "{name}: stopped {reach} from it");
    }
    // A cursor a few pixels beside GPT-2's column, seen whole, still zooms to the model.
    let head = &layout.blocks[layout.find("block6.head0.q").unwrap()];
    let beside = Vec3::new(head.max()[0], (head.position[1] + head.max()[1]) / 2.0, head.max()[2]);
    let to_beside = beside - start.eye;
    let aside = to_beside.cross(Vec3::Y).normalize() * to_beside.length() * 0.005;
    let mut view = start;
    for _ in 0..100 {
        let ray = Ray3d::new(view.eye, Dir3::new(beside + aside - view.eye).unwrap());
        view = wheel_zoom(&layout.blocks, &view, Some(ray), 1.0);
    }
    assert!(view.distance() < start.distance() * 0.01, "zoomed in: {view:?}");
    let nearest = layout
        .blocks
        .iter()
        .map(|b| (view.eye.clamp(Vec3::from(b.position), Vec3::from(b.max())) - view.eye).length())
        .fold(f32::INFINITY, f32::min);
    // Outside every block, a couple of cells from the nearest (approached at a slant, its edge can
    // be a little nearer than the point zoomed to).
    assert!(nearest > 0.5 * NEAREST_SURFACE && nearest < 10.0 * NEAREST_SURFACE, "a block {nearest} away");
    // No block under the cursor: about the target's depth, as a zoom always did.
    let up = Ray3d::new(start.eye, Dir3::Y);
    let zoomed = wheel_zoom(&layout.blocks, &start, Some(up), 1.0);
    assert!((zoomed.distance() - start.distance() * 0.85).abs() < 1e-2 * start.distance());
}
