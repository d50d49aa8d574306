//! The tour's text as a caption band under the scene, for pictures and videos made without the
//! side panel (`llmviz screenshot --tour --caption`, `llmviz render-tour`): the chapter's title
//! and the current step's paragraphs, fading in as they do in the panel.

use bevy::prelude::*;
use bevy_egui::egui::{self, Color32, RichText};
use bevy_egui::{EguiContexts, EguiPrimaryContextPass};

use crate::render::scene::frame::FrameStep;
use crate::render::tour::player::TourState;
use crate::tour::{Span, markup};

const BAND: Color32 = Color32::from_rgba_premultiplied(18, 22, 30, 235);

/// The caption band, for offscreen pictures and films of a tour.
pub struct CaptionPlugin;

impl Plugin for CaptionPlugin {
    fn build(&self, app: &mut App) {
        app.add_systems(EguiPrimaryContextPass, draw_caption.in_set(FrameStep::Panels));
    }
}

/// The band across the bottom, its text sized to the picture: readable in a 1920×1080 video on a
/// classroom screen, and still whole in a small picture.
fn draw_caption(mut contexts: EguiContexts, tour: Res<TourState>) -> Result {
    let ctx = contexts.ctx_mut()?;
    let size = (ctx.content_rect().height() / 38.0).clamp(9.0, 30.0);
    let frame = tour.frame();
    let step = &tour.compiled.tour.chapters[tour.chapter].steps[frame.step];
    let ink = Color32::from_gray(240).gamma_multiply(0.4 + 0.6 * frame.text_in);
    let margin = egui::Margin::symmetric((size * 1.2) as i8, (size * 0.6) as i8);
    let width = ctx.content_rect().width() - f32::from(margin.left) - f32::from(margin.right);
    egui::Area::new(egui::Id::new("caption")).anchor(egui::Align2::LEFT_BOTTOM, [0.0, 0.0]).show(ctx, |ui| {
        egui::Frame::NONE.fill(BAND).inner_margin(margin).show(ui, |ui| {
            ui.set_width(width);
            ui.label(RichText::new(&tour.timeline().title).size(size * 0.75).color(Color32::from_rgb(150, 190, 240)));
            for paragraph in &step.text {
                ui.label(paragraph_text(paragraph, size, ink));
            }
        });
    });
    Ok(())
}

/// A paragraph as one block of text: emphasis in italics, links in their colour's light tint.
fn paragraph_text(paragraph: &str, size: f32, ink: Color32) -> egui::text::LayoutJob {
    let spans = markup::parse(paragraph).unwrap_or_else(|_| vec![Span::Text(paragraph.to_string())]);
    let mut job = egui::text::LayoutJob::default();
    for span in spans {
        let mut format =
            egui::TextFormat { font_id: egui::FontId::proportional(size), color: ink, ..Default::default() };
        match span {
            Span::Emphasis(_) => format.italics = true,
            Span::Block { .. } | Span::Dim { .. } | Span::Chapter { .. } => {
                format.color = Color32::from_rgb(170, 210, 250)
            }
            Span::Text(_) => {}
        }
        job.append(span.text(), 0.0, format);
    }
    job
}
