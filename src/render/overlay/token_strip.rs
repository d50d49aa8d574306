//! For models that read free text (GPT-2): the token strip along the top, each token's piece and
//! id, and the output end's panel, each position's five most likely next tokens.
//!
//! nano's letters are drawn in the scene itself, over its `tokens` block (see `ui::anchored_text`);
//! GPT-2's 64 columns are too narrow from the overview to letter a piece into each.

use std::sync::Arc;

use bevy::prelude::*;
use bevy_egui::EguiContexts;
use bevy_egui::egui::{self, Color32, RichText};

use crate::model::Activations;
use crate::model::tokenizer::Tokenizer;
use crate::render::overlay::panels::{self, SidePanelWidth};
use crate::render::scene::blocks::{BlockScene, SceneValues, ValuesState};
use crate::render::view::pick::Hovered;

/// How many next tokens the output panel lists for each position.
pub const TOP_K: usize = 5;

/// A token's piece as the strip shows it: a leading space as `·`, newlines and tabs as `↵` and `→`.
pub fn visible_piece(piece: &str) -> String {
    let mut shown = String::with_capacity(piece.len());
    for (i, ch) in piece.chars().enumerate() {
        shown.push(match ch {
            ' ' if i == 0 => '·',
            '\n' => '↵',
            '\t' => '→',
            other => other,
        });
    }
    shown
}

/// A probability as a percentage with two significant digits or so: 42%, 3.1%, 0.0021%.
pub fn percent(probability: f32) -> String {
    let percent = probability * 100.0;
    match percent {
        p if p >= 10.0 => format!("{p:.0}%"),
        p if p >= 1.0 => format!("{p:.1}%"),
        p if p >= 0.01 => format!("{p:.2}%"),
        p => format!("{p:.4}%"),
    }
}

/// The output of the pass shown, worked out once per pass for the overlays that read it every
/// frame: each position's five likeliest next tokens and, with parts switched off, its change
/// against the model's own pass (`Activations::top_token_change`, a softmax of every row).
#[derive(Resource, Default)]
pub struct OutputSummary {
    of: Option<Arc<Activations>>,
    pub top: Vec<Vec<(usize, f32)>>,
    pub change: Option<Vec<(usize, f32, f32)>>,
}

/// Summarises the activations shown whenever they change.
pub fn summarise_output(values: Res<SceneValues>, mut summary: ResMut<OutputSummary>) {
    let Some(activations) = &values.activations else { return };
    if summary.of.as_ref().is_some_and(|of| Arc::ptr_eq(of, activations)) {
        return;
    }
    summary.top = activations.top_predictions(TOP_K);
    summary.change = activations.top_token_change();
    summary.of = Some(activations.clone());
}

/// The position of the token the pointer is on in the token strip: `hover` lights its column in
/// the scene.
#[derive(Resource, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PointedToken(pub Option<usize>);

/// What the strip reads of the scene: the cell hovered there, whose column it lights in the strip.
#[derive(bevy::ecs::system::SystemParam)]
pub struct StripScene<'w> {
    hovered: Option<Res<'w, Hovered>>,
    scene: Option<Res<'w, BlockScene>>,
    pointed: ResMut<'w, PointedToken>,
}

impl StripScene<'_> {
    /// The token position of the cell hovered in the scene, when its block is laid out by position.
    fn hovered_position(&self) -> Option<usize> {
        let cell = self.hovered.as_ref()?.cell?;
        let block = self.scene.as_ref()?.layout.blocks.get(cell.block)?;
        (block.axes[0] == Some(crate::layout::Axis::T) && block.kind != crate::layout::BlockKind::Weight)
            .then_some(cell.cell[0] as usize)
    }
}

pub fn token_strip(
    mut contexts: EguiContexts,
    values: Res<SceneValues>,
    source: Res<crate::render::scene::blocks::SceneSource>,
    panel: Option<Res<SidePanelWidth>>,
    mut strip: StripScene,
    summary: Res<OutputSummary>,
    mut all_positions: Local<bool>,
) -> Result {
    let config = &source.config;
    let Some(tokenizer) = Tokenizer::of(config).filter(Tokenizer::takes_free_text) else { return Ok(()) };
    if source.weights.is_none() {
        return Ok(());
    }
    let ctx = contexts.ctx_mut()?;
    let (corner, offset) = panels::place(panels::TOKEN_STRIP, panel.map_or(0.0, |panel| panel.0));
    let left = offset.x;
    let in_scene = strip.hovered_position();
    let mut pointed = None;
    egui::Area::new(egui::Id::new(panels::TOKEN_STRIP)).anchor(corner, offset).show(ctx, |ui| {
        egui::Frame::popup(ui.style()).show(ui, |ui| {
            ui.set_max_width(ctx.content_rect().width() - left - 24.0);
            // One line, scrolled sideways: a long text never runs down the window.
            egui::ScrollArea::horizontal().show(ui, |ui| {
                ui.horizontal(|ui| {
                    for (position, &token) in source.tokens.iter().enumerate() {
                        let lit = in_scene == Some(position) || strip.pointed.0 == Some(position);
                        let response = token_tile(ui, &tokenizer, token, lit);
                        if ui.rect_contains_pointer(response.rect) {
                            pointed = Some(position);
                        }
                        if lit && in_scene == Some(position) {
                            response.scroll_to_me(None);
                        }
                    }
                });
            });
        });
    });
    strip.pointed.set_if_neq(PointedToken(pointed));
    let ready = values.activations.as_ref().filter(|_| values.state == ValuesState::Ready);
    if let Some(activations) = ready {
        let shown = NextTokens { activations, focus: in_scene.or(pointed) };
        next_tokens(ctx, &tokenizer, shown, &summary, &mut all_positions);
    }
    Ok(())
}

/// One token of the strip, its piece over its id, on a warm ground when its column is lit.
fn token_tile(ui: &mut egui::Ui, tokenizer: &Tokenizer, token: usize, lit: bool) -> egui::Response {
    let ground = if lit { Color32::from_rgb(255, 222, 160) } else { Color32::TRANSPARENT };
    let frame = egui::Frame::NONE.fill(ground).inner_margin(2.0).corner_radius(3.0);
    frame
        .show(ui, |ui| {
            ui.vertical(|ui| {
                let piece =
                    RichText::new(visible_piece(&tokenizer.piece(token))).monospace().color(Color32::from_gray(20));
                ui.label(piece);
                ui.label(RichText::new(token.to_string()).small().color(Color32::from_gray(110)));
            });
        })
        .response
}

/// Bottom right, by the output end: per position, the token read and its five likeliest successors.
fn next_tokens(ctx: &egui::Context, tokenizer: &Tokenizer, shown: NextTokens, cached: &OutputSummary, all: &mut bool) {
    let NextTokens { activations, focus } = shown;
    let last = activations.tokens.len().saturating_sub(1);
    let focus = focus.filter(|&position| position <= last).unwrap_or(last);
    let (corner, offset) = panels::place(panels::NEXT_TOKENS, 0.0);
    egui::Area::new(egui::Id::new(panels::NEXT_TOKENS)).anchor(corner, offset).show(ctx, |ui| {
        egui::Frame::popup(ui.style()).show(ui, |ui| {
            ui.horizontal(|ui| {
                let title = if *all {
                    format!("next token: the {TOP_K} most likely after each position")
                } else {
                    format!("next token after t={focus}: the {TOP_K} most likely")
                };
                ui.label(RichText::new(title).strong());
                ui.toggle_value(all, "all positions");
            });
            // Compact: the position pointed at in the scene or the strip, else the last one.
            let rows: Vec<usize> = if *all { (0..=last).collect() } else { vec![focus] };
            egui::ScrollArea::vertical().max_height(220.0).stick_to_bottom(true).show(ui, |ui| {
                egui::Grid::new("next tokens grid").striped(true).show(ui, |ui| {
                    for position in rows {
                        next_tokens_row(ui, tokenizer, activations, cached, position);
                        ui.end_row();
                    }
                });
            });
        });
    });
}

/// What the next-token panel shows: the pass, and the position pointed at, if any.
struct NextTokens<'a> {
    activations: &'a Activations,
    focus: Option<usize>,
}

/// One position of the panel: the token read, its likeliest successors, and with parts switched
/// off the model's own top token, its probability then and now.
fn next_tokens_row(
    ui: &mut egui::Ui,
    tokenizer: &Tokenizer,
    activations: &Activations,
    cached: &OutputSummary,
    position: usize,
) {
    let (Some(&token), Some(candidates)) = (activations.tokens.get(position), cached.top.get(position)) else { return };
    ui.label(RichText::new(format!("t={position}")).small());
    ui.label(RichText::new(visible_piece(&tokenizer.piece(token))).monospace());
    for &(next, probability) in candidates {
        let text = format!("{} {}", visible_piece(&tokenizer.piece(next)), percent(probability));
        ui.label(RichText::new(text).monospace());
    }
    if let Some(&(own_token, own, now)) = cached.change.as_ref().and_then(|c| c.get(position)) {
        let ink = if now < own { Color32::from_rgb(190, 40, 40) } else { Color32::from_rgb(30, 130, 50) };
        let text = format!("{} {} → {}", visible_piece(&tokenizer.piece(own_token)), percent(own), percent(now));
        ui.label(RichText::new(text).monospace().color(ink));
    }
}
