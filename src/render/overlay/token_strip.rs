//! For models that read free text (GPT-2): the token strip along the top, each token's piece and
//! id, and the output end's panel, each position's five most likely next tokens.
//!
//! nano's letters are drawn in the scene itself, over its `tokens` block (see `ui::anchored_text`);
//! GPT-2's 64 columns are too narrow from the overview to letter a piece into each.

use std::sync::Arc;

use bevy::prelude::*;
use bevy_egui::EguiContexts;
use bevy_egui::egui::{self, Align2, Color32, RichText};

use crate::model::tokenizer::Tokenizer;
use crate::model::{Activations, GptConfig};
use crate::render::overlay::panels::SidePanelWidth;
use crate::render::scene::blocks::{SceneValues, ValuesState};

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

/// The five most likely next tokens of each position, worked out once per forward pass.
/// With parts switched off, also each position's change against the model's own pass.
#[derive(Default)]
pub struct TopCache {
    of: Option<Arc<Activations>>,
    top: Vec<Vec<(usize, f32)>>,
    change: Option<Vec<(usize, f32, f32)>>,
}

impl TopCache {
    fn top(&mut self, activations: &Arc<Activations>) -> &TopCache {
        if !self.of.as_ref().is_some_and(|of| Arc::ptr_eq(of, activations)) {
            self.top = activations.top_predictions(TOP_K);
            self.change = activations.top_token_change();
            self.of = Some(activations.clone());
        }
        self
    }
}

pub fn token_strip(
    mut contexts: EguiContexts,
    values: Res<SceneValues>,
    source: Res<crate::render::scene::blocks::SceneSource>,
    panel: Option<Res<SidePanelWidth>>,
    mut cache: Local<TopCache>,
) -> Result {
    let config = &source.config;
    let Some(tokenizer) = Tokenizer::of(config).filter(Tokenizer::takes_free_text) else { return Ok(()) };
    if source.weights.is_none() {
        return Ok(());
    }
    let ctx = contexts.ctx_mut()?;
    let left = panel.map_or(0.0, |panel| panel.0) + 12.0;
    egui::Area::new(egui::Id::new("token strip")).anchor(Align2::LEFT_TOP, [left, 44.0]).show(ctx, |ui| {
        egui::Frame::popup(ui.style()).show(ui, |ui| {
            ui.set_max_width(ctx.content_rect().width() - left - 24.0);
            egui::ScrollArea::horizontal().show(ui, |ui| {
                ui.horizontal(|ui| {
                    for &token in &source.tokens {
                        ui.vertical(|ui| {
                            ui.label(
                                RichText::new(visible_piece(&tokenizer.piece(token)))
                                    .monospace()
                                    .color(Color32::from_gray(20)),
                            );
                            ui.label(RichText::new(token.to_string()).small().color(Color32::from_gray(110)));
                        });
                    }
                });
            });
        });
    });
    let ready = values.activations.as_ref().filter(|_| values.state == ValuesState::Ready);
    if let Some(activations) = ready {
        next_tokens(ctx, config, &tokenizer, activations, cache.top(activations));
    }
    Ok(())
}

/// Bottom right, by the output end: per position, the token read and its five likeliest successors.
fn next_tokens(
    ctx: &egui::Context,
    config: &GptConfig,
    tokenizer: &Tokenizer,
    activations: &Activations,
    cached: &TopCache,
) {
    let top = &cached.top;
    egui::Area::new(egui::Id::new("next tokens")).anchor(Align2::RIGHT_BOTTOM, [-12.0, -12.0]).show(ctx, |ui| {
        egui::Frame::popup(ui.style()).show(ui, |ui| {
            ui.label(
                RichText::new(format!("next token: the {TOP_K} most likely after each position ({})", config.name))
                    .strong(),
            );
            egui::ScrollArea::vertical().max_height(220.0).stick_to_bottom(true).show(ui, |ui| {
                egui::Grid::new("next tokens grid").striped(true).show(ui, |ui| {
                    for (position, (&token, candidates)) in activations.tokens.iter().zip(top).enumerate() {
                        ui.label(RichText::new(format!("t={position}")).small());
                        ui.label(RichText::new(visible_piece(&tokenizer.piece(token))).monospace());
                        for &(next, probability) in candidates {
                            ui.label(
                                RichText::new(format!(
                                    "{} {}",
                                    visible_piece(&tokenizer.piece(next)),
                                    percent(probability)
                                ))
                                .monospace(),
                            );
                        }
                        // Parts switched off: the model's own top token, its probability then and now.
                        if let Some(&(own_token, own, now)) = cached.change.as_ref().and_then(|c| c.get(position)) {
                            let ink =
                                if now < own { Color32::from_rgb(190, 40, 40) } else { Color32::from_rgb(30, 130, 50) };
                            let text = format!(
                                "{} {} → {}",
                                visible_piece(&tokenizer.piece(own_token)),
                                percent(own),
                                percent(now)
                            );
                            ui.label(RichText::new(text).monospace().color(ink));
                        }
                        ui.end_row();
                    }
                });
            });
        });
    });
}
