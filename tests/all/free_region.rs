//! The scene's free region: the largest part of the window no panel covers, and views framed in it.

use std::path::Path;

use bevy::math::Vec4Swizzles;
use bevy::prelude::*;
use llmviz::layout::{self, ANCHOR_ASPECT, ANCHOR_FOV_Y_DEGREES};
use llmviz::render::overlay::OverlayPlugins;
use llmviz::render::run::offscreen::Offscreen;
use llmviz::render::scene_source;
use llmviz::render::tour::player::{TourPlugin, TourState};
use llmviz::render::view::camera::CameraPlugin;
use llmviz::render::view::free_region::{FreeRegionPlugin, PanelRects, SceneFrame, fit_aspect, largest_free_rect};
use llmviz::render::view::viewpoint::CameraChoice;
use llmviz::tour::timeline::Event;
use llmviz::tour::{Cells, ChapterTimeline, CompiledTour, Layouts, TourFrame};

use crate::gpu::gpu;
use crate::tour_views::{cells_box, focus_seen_at};

#[test]
fn the_largest_free_rectangle_avoids_every_panel() {
    let window = Rect::new(0.0, 0.0, 1280.0, 720.0);
    assert_eq!(largest_free_rect(window, &[]), window);
    // A side panel on the left: the rest of the window.
    assert_eq!(largest_free_rect(window, &[Rect::new(0.0, 0.0, 400.0, 720.0)]), Rect::new(400.0, 0.0, 1280.0, 720.0));
    // A bar along the top, a card at the bottom left, a panel at the bottom right.
    let panels = [
        Rect::new(12.0, 12.0, 420.0, 40.0),
        Rect::new(12.0, 460.0, 340.0, 708.0),
        Rect::new(640.0, 650.0, 1268.0, 708.0),
    ];
    let free = largest_free_rect(window, &panels);
    assert_eq!(free, Rect::new(340.0, 40.0, 1280.0, 650.0));
    for panel in panels {
        assert!(panel.intersect(free).is_empty(), "{panel:?} over {free:?}");
    }
    // No rectangle found by hand among all the panels' edges is larger.
    let edges = [0.0, 12.0, 40.0, 340.0, 420.0, 460.0, 640.0, 650.0, 708.0, 720.0, 1268.0, 1280.0];
    for &left in &edges {
        for &right in edges.iter().filter(|&&right| right > left && right <= 1280.0) {
            for &top in edges.iter().filter(|&&top| top <= 720.0) {
                for &bottom in edges.iter().filter(|&&bottom| bottom > top && bottom <= 720.0) {
                    let candidate = Rect::new(left, top, right, bottom);
                    if panels.iter().all(|panel| panel.intersect(candidate).is_empty()) {
                        assert!(
                            candidate.width() * candidate.height() <= free.width() * free.height(),
                            "{candidate:?}"
                        );
                    }
                }
            }
        }
    }
    let frame = fit_aspect(free, 16.0 / 9.0);
    assert!((frame.width() / frame.height() - 16.0 / 9.0).abs() < 1e-4);
    assert_eq!(frame.center(), free.center());
    assert!(frame.width() <= free.width() + 1e-3 && frame.height() <= free.height() + 1e-3);
}

/// nano's overview with the window's panels at 1280×720 and 800×600: the model card and the model
/// bar are measured, the view is drawn into the largest 16:9 frame they leave, and the model seen
/// from the overview lies in that frame, under no panel.
#[test]
fn the_overview_is_framed_in_the_room_the_panels_leave() {
    let _gpu = gpu();
    for size in [UVec2::new(1280, 720), UVec2::new(800, 600)] {
        let source = scene_source("nano", Some("CBABBC")).unwrap();
        let layout = layout::build(&source.config);
        let view = CameraChoice::Overview.view_point(&layout).unwrap();
        let mut offscreen = Offscreen::with_plugins(source, size, view, |app| {
            app.add_plugins((OverlayPlugins, CameraPlugin, FreeRegionPlugin));
        });
        offscreen.wait_until_ready().expect("the scene becomes ready");
        for _ in 0..30 {
            offscreen.update();
        }
        let world = offscreen.world_mut();
        let panels = world.resource::<PanelRects>().0.clone();
        assert!(panels.len() >= 2, "{size}: the model bar and the card are measured: {panels:?}");
        let frame = world.resource::<SceneFrame>().shown.expect("a frame the panels leave");
        assert_eq!(Some(frame), world.resource::<SceneFrame>().target, "{size}: the frame has arrived");
        let (camera, transform) = world.query::<(&Camera, &GlobalTransform)>().single(world).unwrap();
        let (min, max) = layout.bounds();
        let mut drawn = Rect::EMPTY;
        for corner in 0..8 {
            let point = Vec3::from([0, 1, 2].map(|axis| if corner >> axis & 1 == 1 { max[axis] } else { min[axis] }));
            let on_screen = camera.world_to_viewport(transform, point).expect("every corner in front");
            drawn = drawn.union_point(on_screen);
        }
        assert!(
            frame.inflate(1.0).contains(drawn.min) && frame.inflate(1.0).contains(drawn.max),
            "{size}: {drawn:?} out of {frame:?}"
        );
        assert!(
            drawn.width() > 0.6 * frame.width() || drawn.height() > 0.6 * frame.height(),
            "{size}: {drawn:?} in {frame:?}"
        );
        for panel in &panels {
            assert!(panel.intersect(drawn).is_empty(), "{size}: panel {panel:?} over the model {drawn:?}");
            for other in panels.iter().filter(|other| *other != panel) {
                assert!(panel.intersect(*other).is_empty(), "{size}: panels {panel:?} and {other:?} overlap");
            }
        }
    }
}

/// The panels of the tour's window (its side panel, the model bar, the folded model card) as the
/// app draws them at `size`, and the frame the scene is drawn into.
fn tour_panels(size: UVec2) -> (Vec<Rect>, Rect) {
    let tour = TourState::open(&Default::default()).expect("the default tour opens");
    let (source, view) = tour.opening_scene().unwrap();
    let mut offscreen = Offscreen::with_plugins(source, size, view, |app| {
        app.add_plugins((OverlayPlugins, CameraPlugin, FreeRegionPlugin, TourPlugin)).insert_resource(tour);
    });
    offscreen.wait_until_ready().expect("the scene becomes ready");
    for _ in 0..30 {
        offscreen.update();
    }
    let world = offscreen.world_mut();
    let frame = world.resource::<SceneFrame>();
    assert_eq!(frame.shown, frame.target, "{size}: the frame has arrived");
    (world.resource::<PanelRects>().0.clone(), frame.target.expect("a frame the panels leave"))
}

/// Where a box is drawn in the window when the tour's camera frames it into `frame`.
fn drawn_rect(frame: &TourFrame, drawn_in: Rect, (min, max): (Vec3, Vec3)) -> Rect {
    let (eye, target) = (Vec3::from(frame.camera.eye), Vec3::from(frame.camera.target));
    let projection = Mat4::perspective_rh(ANCHOR_FOV_Y_DEGREES.to_radians(), ANCHOR_ASPECT, 0.1, 1e7);
    let view_projection = projection * Mat4::look_at_rh(eye, target, Vec3::Y);
    let mut rect = Rect::EMPTY;
    for corner in 0..8 {
        let pick = |axis: usize| if corner >> axis & 1 == 0 { min[axis] } else { max[axis] };
        let clip = view_projection * Vec3::new(pick(0), pick(1), pick(2)).extend(1.0);
        let ndc = clip.xy() / clip.w.max(1e-6);
        let x = drawn_in.min.x + (ndc.x + 1.0) / 2.0 * drawn_in.width();
        let y = drawn_in.min.y + (1.0 - ndc.y) / 2.0 * drawn_in.height();
        rect = rect.union_point(Vec2::new(x, y));
    }
    rect
}

/// What a tour points the reader at, each when the reader sees it: the cells it focuses (once the
/// camera has stopped) and computes (when done), whole; and, at the end of each step, the blocks it
/// lights (a highlight of a half or more), of which the view may frame a part only (a column of fc,
/// say), so they count as far as the view reaches (`true`).
fn pointed_at(timeline: &ChapterTimeline, layouts: &Layouts) -> Vec<(TourFrame, String, (Vec3, Vec3), bool)> {
    let mut boxes = Vec::new();
    let mut add = |frame: TourFrame, block: usize, cells: Cells, lit: bool| {
        let layout = layouts.get(&frame.model).expect("the chapter's model is laid out");
        let (name, cells) = (layout.blocks[block].name.clone(), cells_box(layout, &frame, block, cells));
        boxes.push((frame, name, cells, lit));
    };
    for (index, (_, event)) in timeline.events.iter().enumerate() {
        if let Event::Focus { block, cells, .. } = event {
            add(timeline.evaluate(focus_seen_at(timeline, index)), *block, *cells, false);
        }
    }
    for compute in &timeline.computes {
        add(timeline.evaluate(compute.start + compute.duration), compute.block, compute.cells, false);
    }
    for step in &timeline.steps {
        let frame = timeline.evaluate(step.end);
        let lit: Vec<usize> =
            frame.blocks.iter().filter(|(_, state)| state.highlight >= 0.5).map(|(&b, _)| b).collect();
        for block in lit {
            add(frame.clone(), block, Cells::All, true);
        }
    }
    boxes
}

/// Everything the nano tour and the scale tour point at, when the reader sees it, at 1280×720 and
/// 800×600: no panel stands over it, and no two panels overlap.
#[test]
fn no_panel_covers_what_a_tour_points_at() {
    let _gpu = gpu();
    let mut layouts = Layouts::default();
    let tours: Vec<CompiledTour> = ["tours/nano-gpt.ron", "tours/scale.ron"]
        .map(|file| CompiledTour::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join(file), &mut layouts).unwrap())
        .into();
    for size in [UVec2::new(1280, 720), UVec2::new(800, 600)] {
        let (panels, drawn_in) = tour_panels(size);
        assert!(panels.len() >= 3, "{size}: the side panel, the model bar and the card: {panels:?}");
        for (i, panel) in panels.iter().enumerate() {
            assert!(panel.intersect(drawn_in).is_empty(), "{size}: panel {panel:?} over the frame {drawn_in:?}");
            for other in &panels[i + 1..] {
                assert!(panel.intersect(*other).is_empty(), "{size}: panels {panel:?} and {other:?} overlap");
            }
        }
        let mut checked = 0;
        let mut failures = Vec::new();
        for (tour, timeline) in tours.iter().flat_map(|tour| tour.chapters.iter().map(move |chapter| (tour, chapter))) {
            for (frame, name, cells, lit) in pointed_at(timeline, &layouts) {
                let whole = drawn_rect(&frame, drawn_in, cells);
                let rect = if lit { whole.intersect(drawn_in) } else { whole };
                checked += 1;
                if let Some(panel) = panels.iter().find(|panel| !panel.intersect(rect).is_empty()) {
                    let (title, chapter) = (&tour.tour.title, &timeline.id);
                    failures.push(format!("{title} {chapter} at {:.1} s: {name} {rect:?} under {panel:?}", frame.time));
                }
            }
        }
        assert!(checked > 100, "{size}: only {checked} pointed-at boxes");
        assert!(failures.is_empty(), "{size}: {} of {checked}:\n{}", failures.len(), failures.join("\n"));
    }
}
