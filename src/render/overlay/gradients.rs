//! Gradient mode, from the model card: a training step is taken on the input and every block draws
//! the gradient of the loss with respect to each of its cells, on a colour scale of its own; the
//! card shows the loss, the scale, and a button that applies AdamW's update and runs the step again
//! from the new weights, so the reader sees the loss fall.

use std::sync::Arc;

use bevy_egui::egui;

use crate::model::Weights;
use crate::model::training::{Moments, Training};
use crate::render::overlay::language::Language;
use crate::render::overlay::ui::CardModel;

/// What the card asked of gradient mode: the mode's moments (None to leave it), and the weights
/// the step left, when the reader took it.
#[derive(Default)]
pub struct GradientRequests {
    pub training: Option<Option<Arc<Moments>>>,
    pub weights: Option<Arc<Weights>>,
}

/// The switch, and in gradient mode the loss, the colour scale and "take the step".
pub fn gradients_ui(ui: &mut egui::Ui, model: CardModel) -> GradientRequests {
    let CardModel { source, values, language } = model;
    let mut asked = GradientRequests::default();
    let mut on = source.training.is_some();
    let label = language.tr("gradients: one training step on this input");
    if ui.checkbox(&mut on, label).changed() {
        asked.training = Some(on.then(|| Arc::new(Moments::default())));
    }
    let Some(moments) = &source.training else { return asked };
    let shown = values.activations.as_ref().and_then(|pass| pass.training.clone());
    let Some(step) = shown.filter(|step| step.update.before == **moments) else { return asked };
    ui.label(egui::RichText::new(loss_text(&step, language)).strong());
    ui.label(egui::RichText::new(language.tr(SCALE)).small());
    if moments.step == 0 {
        let note =
            language.tr("AdamW's moments start at zero: training starts here, or none were saved with these weights");
        ui.label(egui::RichText::new(note).small());
    }
    ui.horizontal(|ui| {
        if ui.button(language.tr("take the step")).clicked() {
            asked.weights = Some(step.update.weights.clone());
            asked.training = Some(Some(Arc::new(step.update.after.clone())));
        }
        let steps = language.fill("steps taken here: {}", &[&moments.step]);
        ui.label(egui::RichText::new(steps).small());
    });
    asked
}

/// What the colours of gradient mode mean.
const SCALE: &str = "colour: ∂loss/∂cell, orange where the loss rises with the cell, black where it falls, grey at 0; each block at full colour at 2.5 × the RMS of its gradients";

/// The loss in a line, with what it averages.
pub fn loss_text(step: &Training, language: Language) -> String {
    let predictions = step.example.targets.len();
    language.fill("loss {}: mean cross-entropy of {} predictions", &[&format!("{:.6}", step.loss), &predictions])
}
