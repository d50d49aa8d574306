//! Changing the input while the app runs: six random letters, or the model's own next token fed back
//! (one autoregressive step, as the reference's text describes), until the context is full.
//! Changing `SceneSource::tokens` is all it takes: the scene reruns the forward pass, and the cells,
//! the hover cards and the predicted tokens follow. The same goes for its weights: a slider steps
//! through the checkpoints `llmviz train --checkpoints` saved, so the reader watches the weights
//! and the attention patterns form.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::path::Path;
use std::sync::Arc;

use bevy::prelude::*;
use bevy_egui::egui;

use crate::model::tokenizer::Tokenizer;
use crate::model::tokenizer::letters;
use crate::model::{Activations, GptConfig, Weights};
use crate::render::overlay::ui::CardModel;
use crate::render::scene::blocks::{SceneSource, ValuesState};
use crate::train::Checkpoint;

/// How many letters "random" gives: the sort task's input length.
pub const RANDOM_LENGTH: usize = 6;

/// `RANDOM_LENGTH` letters of the model's vocabulary (fewer if the context is shorter), from `seed`.
pub fn random_letters(config: &GptConfig, seed: u64) -> String {
    let Some(letters) = letters(config) else { return String::new() };
    // xorshift64*: a few letters need no more randomness than this.
    let mut state = seed | 1;
    (0..RANDOM_LENGTH.min(config.tokens()))
        .map(|_| {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            let draw = state.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33;
            letters[(draw % letters.len() as u64) as usize]
        })
        .collect()
}

/// The input with the model's prediction at its last position appended: the most probable token.
/// `activations` must be those of `tokens`.
pub fn append_prediction(
    tokens: &[usize],
    activations: &Activations,
    config: &GptConfig,
) -> Result<Vec<usize>, String> {
    if tokens.len() >= config.tokens() {
        return Err(format!("the context is full: {} tokens", config.tokens()));
    }
    if activations.tokens != tokens {
        return Err("the model is still running on this input".into());
    }
    let Some(probs) = activations.get("probs") else { return Err("no predictions yet".into()) };
    let Some(&vocab) = probs.shape.last() else { return Err("no predictions yet".into()) };
    let last = &probs.data[probs.data.len().saturating_sub(vocab)..];
    let next = last
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map(|(token, _)| token)
        .ok_or("no predictions yet")?;
    Ok([tokens, &[next]].concat())
}

/// The "random" and "most likely" buttons under the input box: the new input when one was clicked
/// (the box's text is rewritten to match). The source is only read, so that it is marked changed,
/// and the forward pass rerun, only when the input does change.
pub fn input_buttons(
    ui: &mut egui::Ui,
    model: CardModel,
    input_text: &mut String,
    input_error: &mut Option<String>,
) -> Option<Vec<usize>> {
    let CardModel { source, values, language } = model;
    let config = &source.config;
    let mut new_tokens = None;
    ui.horizontal(|ui| {
        let letters = !Tokenizer::of(config).is_some_and(|t| t.takes_free_text());
        if letters && ui.button(language.tr("random")).on_hover_text(language.tr("six random letters")).clicked() {
            let seed = RandomState::new().hash_one(input_text.as_str());
            let text = random_letters(config, seed);
            if let Ok(tokens) = crate::model::tokenizer::parse_letters(&text, config) {
                *input_text = text;
                *input_error = None;
                new_tokens = Some(tokens);
            }
        }
        let ready = values.activations.as_deref().filter(|_| values.state == ValuesState::Ready);
        let next = match ready {
            Some(activations) => append_prediction(&source.tokens, activations, config),
            None => Err("the model is still running".into()),
        };
        let button = ui.add_enabled(next.is_ok(), egui::Button::new(language.tr("most likely")));
        let button = match &next {
            Ok(tokens) => button.on_hover_text(language.fill(
                "append the prediction {} and run again",
                &[&crate::explain::token_name(config, *tokens.last().unwrap_or(&0))],
            )),
            Err(why) => button.on_disabled_hover_text(why.as_str()),
        };
        if button.clicked()
            && let Ok(tokens) = next
        {
            *input_text = input_text_of(config, &tokens);
            *input_error = None;
            new_tokens = Some(tokens);
        }
    });
    new_tokens
}

/// The text of `tokens` as the input box shows it: letters, or GPT-2's text.
pub fn input_text_of(config: &GptConfig, tokens: &[usize]) -> String {
    Tokenizer::of(config).map(|t| t.decode(tokens)).unwrap_or_default()
}

/// The tokens of what was typed, kept to what the model draws, and a note when some were dropped.
pub fn read_input(config: &GptConfig, text: &str) -> Result<(Vec<usize>, Option<String>), String> {
    let tokens = crate::model::tokenizer::tokenize(config, text).map_err(|e| e.to_string())?;
    Ok(crate::model::tokenizer::keep_tokens(config, tokens))
}

/// How long typing must pause before the typed input runs: a pass per keystroke would compute
/// texts nobody wants any more (GPT-2's takes seconds), one after another.
pub const TYPING_PAUSE_SECONDS: f64 = 0.3;

/// Input typed but not run yet, waiting for typing to pause (or for Enter).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TypingPause {
    waiting: Option<(Vec<usize>, f64)>,
}

impl TypingPause {
    /// A keystroke at `now` (seconds) left the box holding `tokens`: they run once typing pauses.
    pub fn typed(&mut self, tokens: Vec<usize>, now: f64) {
        self.waiting = Some((tokens, now + TYPING_PAUSE_SECONDS));
    }

    /// The input to run at `now`: what was typed, once the pause is over or when `at_once` (Enter).
    pub fn due(&mut self, now: f64, at_once: bool) -> Option<Vec<usize>> {
        let due = self.waiting.as_ref().is_some_and(|&(_, at)| at_once || now >= at);
        if due { self.waiting.take().map(|(tokens, _)| tokens) } else { None }
    }

    /// Seconds until the waiting input is due, if one waits (for a frame to be asked for then).
    pub fn remaining(&self, now: f64) -> Option<f64> {
        self.waiting.as_ref().map(|&(_, at)| (at - now).max(0.0))
    }

    /// Forgets what was typed: a button or a sample replaced the input.
    pub fn clear(&mut self) {
        self.waiting = None;
    }
}

/// Where the checkpoints of the default model are looked for, from the working directory.
pub const CHECKPOINT_DIR: &str = "models/nano-sort.checkpoints";

/// The default model's training checkpoints, by step, read once as the app starts (so files that
/// change afterwards change nothing); empty where there are none (the browser, or a checkout
/// without `models/nano-sort.checkpoints/`), and then no slider shows.
#[derive(Resource, Clone, Debug, Default)]
pub struct TrainingCheckpoints {
    pub points: Vec<Checkpoint>,
    /// Why there is no slider though the folder is there: no checkpoint in it, or one that does
    /// not load (removed while being read, half-written), named.
    pub unavailable: Option<String>,
}

/// Reads the training checkpoints once, as the app starts, for the model card's slider; why there
/// is no slider is logged, and kept in `TrainingCheckpoints::unavailable` for the soak, which needs it.
#[cfg(not(target_arch = "wasm32"))]
pub struct CheckpointsPlugin;

#[cfg(not(target_arch = "wasm32"))]
impl Plugin for CheckpointsPlugin {
    fn build(&self, app: &mut App) {
        let checkpoints = TrainingCheckpoints::of_shipped_model();
        if let Some(why) = &checkpoints.unavailable {
            warn!("{why}");
        }
        app.insert_resource(checkpoints);
    }
}

impl TrainingCheckpoints {
    /// The checkpoints training wrote beside the shipped model (`CHECKPOINT_DIR`).
    #[cfg(not(target_arch = "wasm32"))]
    fn of_shipped_model() -> TrainingCheckpoints {
        TrainingCheckpoints::load(Path::new(CHECKPOINT_DIR))
    }

    /// The checkpoints in `dir`; none, silently, when there is no such folder.
    pub fn load(dir: &Path) -> TrainingCheckpoints {
        if !dir.is_dir() {
            return TrainingCheckpoints::default();
        }
        let unavailable = |why: String| TrainingCheckpoints {
            points: Vec::new(),
            unavailable: Some(format!("no training slider: {why}")),
        };
        match crate::train::load_checkpoints(dir) {
            Ok(points) if points.is_empty() => {
                // Read as the app starts, before a language is chosen, and logged too: English.
                let template = "{} has no checkpoints ({} writes them)";
                unavailable(crate::i18n::fill("en", template, &[&dir.display(), &crate::i18n::TRAIN_CHECKPOINTS]))
            }
            Ok(points) => TrainingCheckpoints { points, unavailable: None },
            Err(error) => unavailable(error),
        }
    }

    /// The checkpoint `weights` are, if any.
    pub fn index_of(&self, weights: &Arc<Weights>) -> Option<usize> {
        self.points.iter().position(|point| Arc::ptr_eq(&point.weights, weights))
    }
}

/// What the model card shows of the training checkpoints for the model on screen.
#[derive(Debug)]
pub enum TrainingSlider<'a> {
    /// Nothing: not the model the checkpoints are of, or no checkpoints were looked for.
    Hidden,
    /// The slider over these checkpoints.
    Shown(&'a [Checkpoint]),
    /// Why the slider is missing: the message names the folder or the file.
    Unavailable(&'a str),
}

/// Whether the slider shows for `source`: nano with weights, and checkpoints of its shape.
pub fn training_slider_for<'a>(source: &SceneSource, checkpoints: &'a TrainingCheckpoints) -> TrainingSlider<'a> {
    if source.weights.is_none() {
        return TrainingSlider::Hidden;
    }
    match (checkpoints.points.last(), &checkpoints.unavailable) {
        (Some(last), _) if last.weights.config == source.config => TrainingSlider::Shown(&checkpoints.points),
        // The checkpoints are nano-gpt's: nano-llama ships its trained weights only.
        (None, Some(why)) if Weights::ships_for(&source.config.name) && source.config.arch.is_gpt2() => {
            TrainingSlider::Unavailable(why)
        }
        _ => TrainingSlider::Hidden,
    }
}

/// A slider over the training checkpoints: the weights to show when it moved. The model's own
/// weights (not a checkpoint) sit at the last step, which they are. Where the checkpoints did not
/// load, a line says why instead.
pub fn training_slider<'a>(
    ui: &mut egui::Ui,
    source: &SceneSource,
    checkpoints: &'a TrainingCheckpoints,
    language: crate::render::overlay::language::Language,
) -> Option<&'a Checkpoint> {
    let points = match training_slider_for(source, checkpoints) {
        TrainingSlider::Hidden => return None,
        TrainingSlider::Unavailable(why) => {
            ui.label(egui::RichText::new(why).italics().color(egui::Color32::DARK_RED));
            return None;
        }
        TrainingSlider::Shown(points) => points,
    };
    let weights = source.weights.as_ref()?;
    let last = points.len() - 1;
    let shown = checkpoints.index_of(weights).unwrap_or(last);
    let mut index = shown;
    let point = &points[index];
    ui.horizontal(|ui| {
        ui.label(language.tr("training"));
        ui.add(egui::Slider::new(&mut index, 0..=last).show_value(false)).on_hover_text(
            language.fill(
                "the weights as they were after this many training steps ({})",
                &[&crate::i18n::TRAIN_CHECKPOINTS],
            ),
        );
    });
    ui.label(language.fill("step {}: sorts {} of {}", &[&point.step, &point.correct, &729]));
    (index != shown).then(|| &points[index])
}
