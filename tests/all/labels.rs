//! The overview's section labels, placed as the app places them: none overlaps another, and each
//! layer's name stands over its own layer.

use bevy::camera::CameraProjection;
use bevy::prelude::*;
use bevy_egui::egui::{self, Pos2, Rect};
use llmviz::layout::{self, Label, LabelKind};
use llmviz::model::GptConfig;
use llmviz::render::overlay::ui::place_section_labels;
use llmviz::render::view::viewpoint::CameraChoice;

/// The overview's section labels on a `size` window: each label's front face in pixels, as
/// `ui::anchored_text` projects it. With a side panel `panel` px wide, the camera sees a view as
/// wide as the window and the panel, of which the window shows the left part (as the tour's
/// `centre_view_right_of_panel` sets it).
fn overview_labels(layout: &layout::Layout, size: UVec2, panel: u32) -> Vec<(&Label, Rect)> {
    let view = CameraChoice::Overview.view_point(layout).unwrap();
    let mut projection = PerspectiveProjection { fov: layout::ANCHOR_FOV_Y_DEGREES.to_radians(), ..default() };
    projection.update((size.x + panel) as f32, size.y as f32);
    let clip_from_view = match panel {
        0 => projection.get_clip_from_view(),
        _ => projection.get_clip_from_view_for_sub(&bevy::camera::SubCameraView {
            full_size: UVec2::new(size.x + panel, size.y),
            offset: Vec2::ZERO,
            size,
        }),
    };
    let clip_from_world = clip_from_view * view.transform().to_matrix().inverse();
    let pixel = |point: Vec3| {
        let ndc = clip_from_world.project_point3(point);
        Pos2::new((ndc.x + 1.0) / 2.0 * size.x as f32, (1.0 - ndc.y) / 2.0 * size.y as f32)
    };
    let screen = Rect::from_min_size(Pos2::ZERO, egui::vec2(size.x as f32, size.y as f32));
    layout
        .labels
        .iter()
        .map(|label| {
            let (min, max) = (Vec3::from(label.min), Vec3::from(label.max));
            let rect = Rect::from_two_pos(pixel(Vec3::new(min.x, max.y, max.z)), pixel(Vec3::new(max.x, min.y, max.z)));
            (label, rect)
        })
        .filter(|(_, rect)| screen.intersects(*rect))
        .collect()
}

/// About the size of proportional text: 0.55 of the font size per character, 1.2 per line.
fn measure(text: &str, size: f32) -> egui::Vec2 {
    egui::vec2(text.chars().count() as f32 * size * 0.55, size * 1.2)
}

#[test]
fn overview_labels_do_not_overlap_and_each_layer_is_named_by_itself() {
    let cases = [
        ("nano", UVec2::new(1280, 720), 0),
        ("nano", UVec2::new(1280, 720), 400),
        ("gpt2", UVec2::new(1280, 720), 0),
        ("gpt2", UVec2::new(1280, 720), 400),
        ("nano", UVec2::new(640, 360), 0),
        ("nano", UVec2::new(800, 600), 300),
    ];
    for (name, size, panel) in cases {
        let layout = layout::build(&GptConfig::preset(name).unwrap());
        let labels = overview_labels(&layout, size, panel);
        let placed = place_section_labels(&labels, &mut Vec::new(), measure);
        for (i, a) in placed.iter().enumerate() {
            for b in &placed[i + 1..] {
                let (ta, tb) = (&labels[a.label].0.text, &labels[b.label].0.text);
                assert!(!a.text.intersects(b.text), "{name} {size}: '{ta}' {:?} overlaps '{tb}' {:?}", a.text, b.text);
            }
        }
        let layers: Vec<_> = placed.iter().filter(|p| labels[p.label].0.text.starts_with("Transformer")).collect();
        assert!(!layers.is_empty(), "{name} {size}: no layer is named");
        for layer in &layers {
            let (label, section) = labels[layer.label];
            let text = layer.text;
            // Over its own layer (centred, just above its top edge, within its width, or just
            // inside it where a layer stands above), or beside it (just left of it, level with its top).
            let centred = (text.center().x - section.center().x).abs() < 1.0 && text.width() <= section.width();
            let above = text.bottom() <= section.top() && text.bottom() >= section.top() - 8.0;
            let inside_top = text.top() >= section.top() && text.top() <= section.top() + 8.0;
            let over = centred && (above || inside_top);
            let beside = text.right() <= section.left()
                && text.right() >= section.left() - 8.0
                && (text.top() - section.top()).abs() < 1.0;
            assert!(over || beside, "{name} {size}: '{}' at {text:?} is not by its layer {section:?}", label.text);
            // And over no other layer: nano's layers stand side by side, a name left of one
            // would stand over the one before it.
            for (other, other_section) in labels.iter().filter(|(l, _)| l.text.starts_with("Transformer")) {
                if other.text != label.text {
                    assert!(
                        !text.intersects(*other_section),
                        "{name} {size} panel {panel}: '{}' at {text:?} stands over '{}' {other_section:?}",
                        label.text,
                        other.text
                    );
                }
            }
        }
        // nano's layers stand side by side, GPT-2's one under another: from the overview of the
        // larger window, every layer is named.
        if size.x == 1280 && panel == 0 {
            assert_eq!(layers.len(), layout.config.n_layer, "{name}: every layer is named in the overview");
        }
        assert!(placed.iter().all(|p| labels[p.label].0.kind == LabelKind::Section));
    }
}
