//! What the tours point at is in the picture: every `Compute`, `Fly` and `Focus` of the shipped
//! tours has its cells inside the camera's view while the reader watches them (the compiled camera
//! at that time, a 16:9 window), and a copy that flies lands clear of every block but its target.

use std::path::Path;

use bevy::math::{Mat4, Vec3, Vec4Swizzles};
use llmviz::layout::{ANCHOR_ASPECT, ANCHOR_FOV_Y_DEGREES, CELL, Layout};
use llmviz::render::tour::compute::flight_box;
use llmviz::tour::timeline::{Event, cells_region};
use llmviz::tour::{Cells, ChapterTimeline, CompiledTour, FlightFrame, Layouts, TourFrame};

const TOURS: [&str; 3] = ["tours/nano-gpt.ron", "tours/scale.ron", "tours/modern.ron"];

/// The box, in world units, of some cells of a block as drawn at `frame` (moved with the block).
pub(crate) fn cells_box(layout: &Layout, frame: &TourFrame, block: usize, cells: Cells) -> (Vec3, Vec3) {
    let drawn = &layout.blocks[block];
    let (min, size) = cells_region(cells, drawn.cells);
    let last = [0, 1, 2].map(|axis| min[axis] + size[axis] - 1);
    let (a, b) = (Vec3::from(drawn.cell_center(min)), Vec3::from(drawn.cell_center(last)));
    let offset = Vec3::from(frame.block(block).offset);
    (a.min(b) - Vec3::splat(CELL / 2.0) + offset, a.max(b) + Vec3::splat(CELL / 2.0) + offset)
}

/// How far outside the view the box reaches: 0 when every corner is in front of the camera and
/// inside the frame, else the largest normalized coordinate beyond ±1 (or infinity behind it).
fn outside_view(frame: &TourFrame, (min, max): (Vec3, Vec3)) -> f32 {
    let (eye, target) = (Vec3::from(frame.camera.eye), Vec3::from(frame.camera.target));
    let projection = Mat4::perspective_rh(ANCHOR_FOV_Y_DEGREES.to_radians(), ANCHOR_ASPECT, 0.1, 1e6);
    let view_projection = projection * Mat4::look_at_rh(eye, target, Vec3::Y);
    let mut worst: f32 = 0.0;
    for corner in 0..8 {
        let pick = |axis: usize| if corner >> axis & 1 == 0 { min[axis] } else { max[axis] };
        let clip = view_projection * Vec3::new(pick(0), pick(1), pick(2)).extend(1.0);
        if clip.w <= 0.0 {
            return f32::INFINITY;
        }
        let ndc = clip.xy() / clip.w;
        worst = worst.max(ndc.x.abs() - 1.0).max(ndc.y.abs() - 1.0);
    }
    worst.max(0.0)
}

fn overlaps((a_min, a_max): (Vec3, Vec3), (b_min, b_max): (Vec3, Vec3)) -> bool {
    // Faces that touch do not overlap.
    let margin = CELL * 0.01;
    (0..3).all(|axis| a_min[axis] < b_max[axis] - margin && b_min[axis] < a_max[axis] - margin)
}

/// Where the reader sees a focus added at event `index`: once a camera move under way has ended, and
/// before its step ends or a later `Unfocus` or model switch takes it away.
pub(crate) fn focus_seen_at(timeline: &ChapterTimeline, index: usize) -> f32 {
    let time = timeline.events[index].0;
    let step_end = timeline.steps.iter().find(|step| step.end >= time).map_or(timeline.length, |step| step.end);
    let shown_until = timeline.events[index + 1..]
        .iter()
        .filter(|(_, event)| matches!(event, Event::Unfocus | Event::Model(_)))
        .map(|&(at, _)| at - 1e-3)
        .find(|&at| at > time)
        .map_or(step_end, |at| at.min(step_end));
    let samples = ((shown_until - time) / 0.05).ceil().max(0.0) as usize;
    (0..=samples)
        .map(|i| (time + i as f32 * 0.05).min(shown_until))
        .find(|&at| !timeline.evaluate(at).camera_moving)
        .unwrap_or(shown_until)
}

struct Looked {
    failures: Vec<String>,
    checked: usize,
}

impl Looked {
    fn expect_in_view(&mut self, what: String, frame: &TourFrame, cells: (Vec3, Vec3)) {
        self.checked += 1;
        let outside = outside_view(frame, cells);
        if outside > 0.0 {
            self.failures.push(format!("{what} at {:.2} s: out of view by {outside:.2} of the frame", frame.time));
        }
    }
}

fn look_at_chapter(timeline: &ChapterTimeline, layouts: &Layouts, looked: &mut Looked) {
    let layout_of = |frame: &TourFrame| layouts.get(&frame.model).expect("the chapter's model is laid out");
    for compute in &timeline.computes {
        let frame = timeline.evaluate(compute.start + compute.duration);
        let layout = layout_of(&frame);
        let what = format!("{}: Compute of {} {:?}", timeline.id, layout.blocks[compute.block].name, compute.cells);
        looked.expect_in_view(what, &frame, cells_box(layout, &frame, compute.block, compute.cells));
    }
    for flight in &timeline.flights {
        let frame = timeline.evaluate(flight.start + flight.duration);
        let layout = layout_of(&frame);
        let landed = FlightFrame {
            from_block: flight.from_block,
            from: flight.from,
            to_block: flight.to_block,
            to: flight.to,
            offset: flight.offset,
            progress: 1.0,
        };
        let copy = flight_box(layout, &frame, &landed);
        let name = |block: usize| &layout.blocks[block].name;
        let what = format!("{}: Fly of {} onto {}", timeline.id, name(flight.from_block), name(flight.to_block));
        looked.expect_in_view(what.clone(), &frame, copy);
        for (block, drawn) in layout.blocks.iter().enumerate().filter(|&(block, _)| block != flight.to_block) {
            let whole = cells_box(layout, &frame, block, Cells::All);
            if overlaps(copy, whole) {
                looked.failures.push(format!("{what}: the copy lands on {}", drawn.name));
            }
        }
    }
    for (index, (_, event)) in timeline.events.iter().enumerate() {
        let Event::Focus { block, cells, .. } = event else { continue };
        let frame = timeline.evaluate(focus_seen_at(timeline, index));
        let layout = layout_of(&frame);
        let what = format!("{}: Focus on {} {cells:?}", timeline.id, layout.blocks[*block].name);
        looked.expect_in_view(what, &frame, cells_box(layout, &frame, *block, *cells));
    }
}

#[test]
fn every_cell_a_tour_computes_flies_or_points_at_is_in_view_and_copies_land_clear() {
    let mut checked = Vec::new();
    for file in TOURS {
        let mut layouts = Layouts::default();
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
        let tour = CompiledTour::load(&path, &mut layouts).expect("the shipped tour compiles");
        let mut looked = Looked { failures: Vec::new(), checked: 0 };
        for timeline in &tour.chapters {
            look_at_chapter(timeline, &layouts, &mut looked);
        }
        assert!(looked.failures.is_empty(), "{file}:\n{}", looked.failures.join("\n"));
        checked.push(looked.checked);
    }
    // scale.ron only moves the camera; the two others compute, fly and point all along.
    assert!(checked[0] > 40 && checked[2] > 20, "actions checked per tour: {checked:?}");
}

/// The check itself: a cell far to the side of the camera's target is out of view, the target's own
/// cell in view; a copy landing on a block overlaps it.
#[test]
fn the_view_check_tells_a_cell_in_view_from_one_outside_it() {
    let mut layouts = Layouts::default();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(TOURS[0]);
    let tour = CompiledTour::load(&path, &mut layouts).expect("the shipped tour compiles");
    let timeline = &tour.chapters[tour.tour.chapter("embedding").expect("the chapter exists")];
    let frame = timeline.evaluate(timeline.length);
    let target = Vec3::from(frame.camera.target);
    let near = (target - Vec3::splat(CELL / 2.0), target + Vec3::splat(CELL / 2.0));
    assert_eq!(outside_view(&frame, near), 0.0);
    let distance = (Vec3::from(frame.camera.eye) - target).length();
    let aside = (near.0 + Vec3::X * distance * 2.0, near.1 + Vec3::X * distance * 2.0);
    assert!(outside_view(&frame, aside) > 0.5, "a cell two distances to the side is out of view");
    let behind = (
        near.0 + (target - Vec3::from(frame.camera.eye)) * -2.0,
        near.1 + (target - Vec3::from(frame.camera.eye)) * -2.0,
    );
    assert_eq!(outside_view(&frame, behind), f32::INFINITY);
    assert!(overlaps(near, (near.0 + Vec3::splat(CELL / 4.0), near.1 + Vec3::splat(CELL / 4.0))));
    assert!(!overlaps(near, (near.0 + Vec3::X * CELL, near.1 + Vec3::X * CELL)), "touching faces do not overlap");
}
