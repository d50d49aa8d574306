//! Where the panels sit: what the overlays keep clear of and what they show, written by the rooms
//! above (the tour's side panel and frame) and read here, so that no overlay reads the tour.

use bevy::prelude::*;
use bevy_egui::{EguiContexts, egui};

use crate::render::view::free_region::PanelRects;

/// Every panel that takes room from the scene, by its egui id: the one list of them, from which
/// the scene's free region is worked out (`view::free_region`). Hover cards, notes and labels
/// are not panels: they go with what they name.
pub const PANELS: [&str; 6] = [MODEL_BAR, MODEL_CARD, TOKEN_STRIP, NEXT_TOKENS, HELP, TOUR_PANEL];
pub const MODEL_BAR: &str = "models";
pub const MODEL_CARD: &str = "model card";
pub const TOKEN_STRIP: &str = "token strip";
pub const NEXT_TOKENS: &str = "next tokens";
pub const HELP: &str = "controls";
pub const TOUR_PANEL: &str = "tour panel";

/// Where each panel goes, the one place that says so: its corner of the window and the offset from
/// it, right of the tour's side panel (`side_panel` wide, 0 for none), which stands at the left
/// edge. The model bar and the token strip share the top left, one line under the other; the card
/// the bottom left, the next-token panel the bottom right, the help the top right.
pub fn place(panel: &str, side_panel: f32) -> (egui::Align2, egui::Vec2) {
    let left = side_panel + EDGE;
    match panel {
        MODEL_BAR => (egui::Align2::LEFT_TOP, egui::vec2(left, EDGE)),
        TOKEN_STRIP => (egui::Align2::LEFT_TOP, egui::vec2(left, 44.0)),
        MODEL_CARD => (egui::Align2::LEFT_BOTTOM, egui::vec2(left, -EDGE)),
        NEXT_TOKENS => (egui::Align2::RIGHT_BOTTOM, egui::vec2(-EDGE, -EDGE)),
        HELP => (egui::Align2::RIGHT_TOP, egui::vec2(-EDGE, EDGE)),
        _ => (egui::Align2::LEFT_TOP, egui::Vec2::ZERO),
    }
}

/// Between a panel and the window's edge (or the side panel's).
const EDGE: f32 = 12.0;

/// Where each panel was drawn this frame.
pub fn measure_panels(mut contexts: EguiContexts, mut rects: ResMut<PanelRects>) -> Result {
    let ctx = contexts.ctx_mut()?;
    let measured: Vec<Rect> = ctx.memory(|memory| {
        let visible = memory.areas().visible_layer_ids();
        PANELS
            .iter()
            .map(|&name| egui::Id::new(name))
            .filter(|&id| visible.iter().any(|layer| layer.id == id))
            .filter_map(|id| memory.area_rect(id))
            .map(|rect| Rect::new(rect.min.x, rect.min.y, rect.max.x, rect.max.y))
            .collect()
    });
    rects.set_if_neq(PanelRects(measured));
    Ok(())
}

/// How wide the side panel is on screen (0 when there is none): the overlays keep clear of it.
#[derive(Resource, Clone, Copy, Debug, Default, PartialEq)]
pub struct SidePanelWidth(pub f32);

/// Whether the scene's section and dimension labels show, as the tour says (true without a tour).
#[derive(Resource, Clone, Copy, Debug, PartialEq, Eq)]
pub struct SceneLabels(pub bool);

impl Default for SceneLabels {
    fn default() -> SceneLabels {
        SceneLabels(true)
    }
}
