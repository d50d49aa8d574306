//! The output's sampling, live on the model card: temperature, top-k and top-p reshape the `probs`
//! block, the output strip and the hover card's formula as they move (only the final softmax and
//! its filter are redone, never the forward pass); "sample" draws the next token with the seed
//! shown, so that a draw can be repeated, and "most likely" (beside the input) takes the greedy one.

use std::sync::Arc;

use bevy::prelude::*;
use bevy::window::RequestRedraw;
use bevy_egui::egui;

use crate::model::sampling::{Sampling, SplitMix64, fresh_seed, sample};
use crate::render::overlay::ui::CardModel;
use crate::render::scene::blocks::{BlockScene, SceneValues, ValuesState};
use crate::render::scene::pages::{PackedValues, repack};

/// What the reader (or the tour) chose, and the seed of the next draw.
#[derive(Resource, Clone, Copy, Debug, PartialEq)]
pub struct SamplingControls {
    pub sampling: Sampling,
    pub seed: u64,
    /// The last token drawn, with the seed that drew it.
    pub last: Option<(usize, u64)>,
}

impl Default for SamplingControls {
    fn default() -> SamplingControls {
        SamplingControls { sampling: Sampling::default(), seed: fresh_seed(), last: None }
    }
}

pub struct SamplingPlugin;

impl Plugin for SamplingPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<SamplingControls>()
            .add_systems(Update, reshape_output.in_set(crate::render::scene::frame::FrameStep::Derive));
    }
}

/// The pass's output reshaped as the controls say, whenever they or the pass change: the shown
/// activations and the `probs` and `logits.sumexp` blocks' values.
fn reshape_output(
    controls: Res<SamplingControls>,
    scene: Res<BlockScene>,
    mut values: ResMut<SceneValues>,
    mut packed: ResMut<PackedValues>,
    mut applied: Local<Option<(usize, Sampling)>>,
    mut redraw: MessageWriter<RequestRedraw>,
) {
    let Some(forward) = values.forward.clone() else { return };
    let now = (Arc::as_ptr(&forward) as usize, controls.sampling);
    if *applied == Some(now) {
        return;
    }
    *applied = Some(now);
    let shown = if controls.sampling.is_plain() { forward } else { Arc::new(forward.resampled(&controls.sampling)) };
    // Gradient mode draws gradients, which these two by-products of the output have none of.
    let reshaped: &[&str] = if packed.gradients { &[] } else { &["probs", "logits_sumexp"] };
    for &name in reshaped {
        if let Some(tensor) = shown.get(name) {
            repack(&mut packed, &scene.layout, name, tensor);
        }
    }
    values.activations = Some(shown);
    redraw.write(RequestRedraw);
}

/// The controls on the model card; the new input when "sample" drew a token.
pub fn sampling_ui(ui: &mut egui::Ui, controls: &mut SamplingControls, model: CardModel) -> Option<Vec<usize>> {
    let CardModel { source, values, language } = model;
    let mut sampling = controls.sampling;
    ui.horizontal(|ui| {
        ui.label(language.tr("temperature"));
        ui.add(egui::Slider::new(&mut sampling.temperature, 0.1..=3.0).logarithmic(true).max_decimals(2));
    });
    ui.horizontal(|ui| {
        let mut k = sampling.top_k.unwrap_or(0);
        ui.label("top-k");
        ui.add(egui::DragValue::new(&mut k).range(0..=source.config.vocab_size))
            .on_hover_text(language.tr("0 keeps every token"));
        sampling.top_k = (k > 0).then_some(k);
        let mut p = sampling.top_p.unwrap_or(1.0);
        ui.label("top-p");
        ui.add(egui::Slider::new(&mut p, 0.05..=1.0).max_decimals(2));
        sampling.top_p = (p < 1.0).then_some(p);
    });
    if sampling != controls.sampling {
        controls.sampling = sampling;
    }
    let mut drawn = None;
    ui.horizontal(|ui| {
        let ready = values.state == ValuesState::Ready && source.tokens.len() < source.config.tokens();
        let shown = values.activations.as_deref().filter(|shown| shown.tokens == source.tokens);
        let button = ui.add_enabled(ready && shown.is_some(), egui::Button::new(language.tr("sample")));
        if button.on_hover_text(language.tr("draw the next token from these probabilities, with this seed")).clicked()
            && let Some(probs) = shown.and_then(|shown| shown.get("probs"))
        {
            let vocab = probs.shape[1];
            let last = &probs.data[probs.data.len() - vocab..];
            let token = sample(last, &mut SplitMix64::new(controls.seed));
            controls.last = Some((token, controls.seed));
            controls.seed = SplitMix64::new(controls.seed).next_u64() % 1_000_000;
            drawn = Some([source.tokens.as_slice(), &[token]].concat());
        }
        ui.label(egui::RichText::new(language.fill("seed {}", &[&controls.seed])).monospace());
        if let Some((token, seed)) = controls.last {
            let name = crate::explain::token_name(&source.config, token);
            ui.label(egui::RichText::new(language.fill("drew {} with seed {}", &[&name, &seed])).small());
        }
    });
    drawn
}
