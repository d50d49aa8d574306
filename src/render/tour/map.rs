//! The map of the model at the top of the tour's side panel: the architecture as boxes, drawn
//! from the model's config (`layout::map`), as the reference's table of contents. A box opens the
//! chapter that explains it, lights its blocks in the 3D view while hovered, and the boxes of the
//! open chapter are marked, so the reader sees where in the model the tour is.

use bevy_egui::egui::{self, Color32, FontId, Pos2, Rect, Sense, Stroke, StrokeKind, Vec2};

use crate::layout::Layout;
use crate::layout::map::{MapBox, Part, model_map};

/// What the reader did with the map this frame, and where its boxes are on screen.
#[derive(Debug, Default, PartialEq)]
pub struct MapAction {
    /// The blocks of the hovered box.
    pub hover: Vec<usize>,
    /// A chapter to open, by id.
    pub open: Option<&'static str>,
    /// Each part's box, in screen points; `None` stands for the transformer block's frame title.
    pub boxes: Vec<(Option<Part>, Rect)>,
}

/// The chapter the transformer block's title opens: how its layers stack.
const STACK_CHAPTER: &str = "transformer";

const ROW: f32 = 18.0;
const GAP: f32 = 3.0;
const INK: Color32 = Color32::from_gray(40);
const LINE: Color32 = Color32::from_gray(150);
const BOX_FILL: Color32 = Color32::WHITE;
const HOVER_FILL: Color32 = Color32::from_rgb(225, 236, 250);
const CURRENT_FILL: Color32 = Color32::from_rgb(190, 215, 245);
const CURRENT_STROKE: Color32 = Color32::from_rgb(60, 120, 200);

/// Where each part sits in a map `width` wide, from the top: the embeddings side by side, their
/// sum, the transformer block (its branches on the left, the residual stream's adds on the
/// right), then the output.
fn part_rects(width: f32) -> Vec<(Part, Rect)> {
    let branch = Rect::from_min_size(Pos2::new(16.0, 0.0), Vec2::new(width * 0.68, ROW));
    let stream_x = width * 0.86;
    let add = |y: f32| Rect::from_center_size(Pos2::new(stream_x, y + ROW / 2.0), Vec2::splat(ROW - 4.0));
    let row = |i: f32| i * (ROW + GAP);
    let half = (width - GAP) / 2.0;
    vec![
        (Part::TokenEmbedding, Rect::from_min_size(Pos2::new(0.0, 0.0), Vec2::new(half, ROW))),
        (Part::PositionEmbedding, Rect::from_min_size(Pos2::new(half + GAP, 0.0), Vec2::new(half, ROW))),
        (Part::InputEmbedding, add(row(1.0))),
        // Row 2 is the transformer block's title.
        (Part::LayerNorm1, branch.translate(Vec2::new(0.0, row(3.0)))),
        (Part::SelfAttention, branch.translate(Vec2::new(0.0, row(4.0)))),
        (Part::Projection, branch.translate(Vec2::new(0.0, row(5.0)))),
        (Part::AttentionResidual, add(row(5.0))),
        (Part::LayerNorm2, branch.translate(Vec2::new(0.0, row(6.0)))),
        (Part::FeedForward, branch.translate(Vec2::new(0.0, row(7.0)))),
        (Part::MlpResidual, add(row(7.0))),
        (Part::FinalLayerNorm, Rect::from_min_size(Pos2::new(0.0, row(9.0)), Vec2::new(width * 0.68 + 16.0, ROW))),
        (Part::Linear, Rect::from_min_size(Pos2::new(0.0, row(10.0)), Vec2::new(width * 0.68 + 16.0, ROW))),
        (Part::Softmax, Rect::from_min_size(Pos2::new(0.0, row(11.0)), Vec2::new(width * 0.68 + 16.0, ROW))),
    ]
}

/// The map's height in a panel: twelve rows.
fn map_height() -> f32 {
    12.0 * (ROW + GAP)
}

/// Draws the map of `layout`'s model; `current` is the open chapter's id and `has_chapter` tells
/// which chapters the tour has (a box whose chapter it lacks lights its blocks but opens nothing).
pub fn map_ui(
    ui: &mut egui::Ui,
    layout: &Layout,
    language: &str,
    current: &str,
    has_chapter: impl Fn(&str) -> bool,
) -> MapAction {
    let width = ui.available_width();
    let (area, _) = ui.allocate_exact_size(Vec2::new(width, map_height()), Sense::hover());
    let painter = ui.painter_at(area.expand(2.0));
    let origin = area.min.to_vec2();
    let rects: Vec<(Part, Rect)> =
        part_rects(width).into_iter().map(|(part, rect)| (part, rect.translate(origin))).collect();
    let rect_of = |part: Part| rects.iter().find(|(p, _)| *p == part).map(|(_, r)| *r).expect("every part is placed");
    let title = draw_flow(&painter, &rect_of, area, layout, language, current == STACK_CHAPTER);

    let mut action = MapAction::default();
    let boxes = model_map(layout);
    let response = ui.interact(title, ui.id().with("map stack"), Sense::click());
    let opens = has_chapter(STACK_CHAPTER);
    let response = if opens { response.on_hover_cursor(egui::CursorIcon::PointingHand) } else { response };
    if response.hovered() {
        action.hover = boxes.iter().filter(|b| b.part.in_layer()).flat_map(|b| b.blocks.iter().copied()).collect();
    }
    if response.clicked() && opens {
        action.open = Some(STACK_CHAPTER);
    }
    action.boxes.push((None, title));
    for (part, rect) in &rects {
        let map_box = boxes.iter().find(|b| b.part == *part).expect("model_map has every part");
        let response = ui.interact(*rect, ui.id().with(("map", *part as usize)), Sense::click());
        let opens = has_chapter(part.chapter());
        let response = if opens { response.on_hover_cursor(egui::CursorIcon::PointingHand) } else { response };
        let response = response.on_hover_text(hover_text(*part, map_box, opens, language));
        if response.hovered() {
            action.hover.clone_from(&map_box.blocks);
        }
        if response.clicked() && opens {
            action.open = Some(part.chapter());
        }
        let fill = match (part.chapter() == current, response.hovered()) {
            (_, true) => HOVER_FILL,
            (true, false) => CURRENT_FILL,
            _ => BOX_FILL,
        };
        let stroke = if part.chapter() == current { Stroke::new(1.5, CURRENT_STROKE) } else { Stroke::new(1.0, LINE) };
        let round =
            if matches!(part, Part::InputEmbedding | Part::AttentionResidual | Part::MlpResidual) { ROW } else { 3.0 };
        painter.rect(*rect, round, fill, stroke, StrokeKind::Inside);
        painter.text(
            rect.center(),
            egui::Align2::CENTER_CENTER,
            crate::i18n::tr(language, part.title_for(&layout.config)),
            FontId::proportional(12.5),
            INK,
        );
        action.boxes.push((Some(*part), *rect));
    }
    action
}

/// How many blocks a box lights, and where it leads.
fn hover_text(part: Part, map_box: &MapBox, opens: bool, language: &str) -> String {
    let lights = crate::i18n::fill(language, "lights its {} blocks", &[&map_box.blocks.len()]);
    if opens { crate::i18n::fill(language, "{}; click: chapter '{}'", &[&lights, &part.chapter()]) } else { lights }
}

/// The lines data flows along: the embeddings into their sum, the residual stream down the right
/// through its two adds, each branch leaving it and joining it again, and the output column; the
/// transformer block framed, with its repeat count; returns where that title is.
fn draw_flow(
    painter: &egui::Painter,
    rect_of: &dyn Fn(Part) -> Rect,
    area: Rect,
    layout: &Layout,
    language: &str,
    current_is_stack: bool,
) -> Rect {
    let line = Stroke::new(1.2, LINE);
    let sum = rect_of(Part::InputEmbedding);
    for part in [Part::TokenEmbedding, Part::PositionEmbedding] {
        let from = rect_of(part).center_bottom();
        painter.line_segment([from, Pos2::new(sum.center().x, sum.top())], line);
    }
    let final_ln = rect_of(Part::FinalLayerNorm);
    // The residual stream: from the embeddings' sum down to the final layer norm.
    let stream_x = sum.center().x;
    painter.line_segment([sum.center_bottom(), Pos2::new(stream_x, final_ln.center().y)], line);
    painter.line_segment([Pos2::new(stream_x, final_ln.center().y), final_ln.right_center()], line);
    for (ln, output, add) in [
        (Part::LayerNorm1, Part::Projection, Part::AttentionResidual),
        (Part::LayerNorm2, Part::FeedForward, Part::MlpResidual),
    ] {
        let (ln, output, add) = (rect_of(ln), rect_of(output), rect_of(add));
        // The branch leaves the stream just above its layer norm and comes back at the add.
        let leave_y = ln.top() - GAP / 2.0;
        painter.line_segment([Pos2::new(stream_x, leave_y), Pos2::new(ln.center().x, leave_y)], line);
        painter.line_segment([Pos2::new(ln.center().x, leave_y), ln.center_top()], line);
        painter.line_segment([output.right_center(), add.left_center()], line);
    }
    for pair in [
        [Part::LayerNorm1, Part::SelfAttention],
        [Part::SelfAttention, Part::Projection],
        [Part::LayerNorm2, Part::FeedForward],
    ] {
        painter.line_segment([rect_of(pair[0]).center_bottom(), rect_of(pair[1]).center_top()], line);
    }
    for pair in [[Part::FinalLayerNorm, Part::Linear], [Part::Linear, Part::Softmax]] {
        painter.line_segment([rect_of(pair[0]).center_bottom(), rect_of(pair[1]).center_top()], line);
    }
    let block_top = rect_of(Part::LayerNorm1).top() - ROW - GAP / 2.0;
    let frame = Rect::from_min_max(
        Pos2::new(area.left() + 4.0, block_top),
        Pos2::new(area.right() - 2.0, rect_of(Part::FeedForward).bottom() + ROW / 2.0),
    );
    painter.rect_stroke(frame, 4.0, Stroke::new(1.0, Color32::from_gray(190)), StrokeKind::Inside);
    let title = crate::i18n::fill(language, "Transformer block × {}", &[&layout.config.n_layer]);
    let colour = if current_is_stack { CURRENT_STROKE } else { Color32::from_gray(90) };
    painter.text(
        frame.left_top() + Vec2::new(8.0, 3.0),
        egui::Align2::LEFT_TOP,
        title,
        FontId::proportional(12.0),
        colour,
    )
}
