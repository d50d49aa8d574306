//! Switching parts of the model off by pointing at them: Alt and a click on a head's block (or an
//! MLP's, or one neuron of its hidden layer) switches that part off, the model runs again, and
//! the output's bars, the next-token panel and the model card show what changed against the
//! model's own pass. A second Alt-click on it switches it back on; the card's button restores all.

use bevy::prelude::*;
use bevy_egui::egui;

use crate::model::ablation::Ablation;
use crate::render::overlay::token_strip::OutputSummary;
use crate::render::overlay::ui::CardModel;
use crate::render::scene::blocks::{BlockScene, SceneSource};
use crate::render::scene::frame::FrameStep;
use crate::render::view::camera::Click;
use crate::render::view::pick::{Hovered, switching_off};

pub struct SwitchOffPlugin;

impl Plugin for SwitchOffPlugin {
    fn build(&self, app: &mut App) {
        app.add_systems(Update, switch_off_on_alt_click.in_set(FrameStep::Input));
    }
}

fn switch_off_on_alt_click(
    mut clicks: MessageReader<Click>,
    keys: Res<ButtonInput<KeyCode>>,
    hovered: Res<Hovered>,
    scene: Option<Res<BlockScene>>,
    mut source: ResMut<SceneSource>,
) {
    let clicked = clicks.read().filter(|click| click.button == MouseButton::Left && !click.double).count();
    let Some(scene) = scene else { return };
    if clicked == 0 || !switching_off(&keys) || source.weights.is_none() {
        return;
    }
    let Some(cell) = hovered.cell else { return };
    let Some(part) = scene.layout.blocks.get(cell.block).and_then(|block| block.switchable_part(cell.cell)) else {
        return;
    };
    for _ in 0..clicked {
        source.ablation.toggle(part);
    }
}

/// The card's lines on parts switched off: which, and a button that switches them all back on
/// (the new ablation, empty, when it was clicked); else how to switch one off.
pub fn switched_off_ui(ui: &mut egui::Ui, model: CardModel, summary: &OutputSummary) -> Option<Ablation> {
    let CardModel { source, values, language } = model;
    if source.ablation.is_empty() {
        let hint = language.tr("Alt-click a head, an MLP or one of its neurons to switch it off");
        ui.label(egui::RichText::new(hint).small());
        return None;
    }
    let names: Vec<String> = source.ablation.parts().iter().map(|part| part.name(&source.config)).collect();
    let mut restore = None;
    ui.horizontal_wrapped(|ui| {
        ui.label(egui::RichText::new(language.fill("switched off: {}", &[&names.join(", ")])).strong());
        if ui.button(language.tr("switch all back on")).clicked() {
            restore = Some(Ablation::default());
        }
    });
    let shown = values.activations.as_deref().is_some_and(|shown| shown.ablation == source.ablation);
    if let Some(change) = summary.change.as_ref().filter(|_| shown)
        && let Some(&(token, own, now)) = change.last()
    {
        let name = crate::explain::token_name(&source.config, token);
        let line = language
            .fill("last position: {} {} → {} ({})", &[&name, &percent(own), &percent(now), &signed_points(now - own)]);
        ui.label(line);
    }
    restore
}

/// A probability as a percentage.
pub fn percent(p: f32) -> String {
    format!("{:.1}%", p * 100.0)
}

/// A change of probability in percentage points, with its sign.
pub fn signed_points(delta: f32) -> String {
    format!("{:+.1} pp", delta * 100.0)
}
