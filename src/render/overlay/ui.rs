//! The egui overlays of the window: the model switcher, the model card with the input, the help,
//! and text anchored to the 3D scene (section labels, block names, the input tokens above the model
//! and the predicted tokens with their probabilities under it). Anchored text is hidden when the
//! thing it names is too small on screen to read it against.

use bevy::ecs::system::SystemParam;
use bevy::prelude::*;
use bevy_egui::egui::{self, Align2, Color32, FontId, Pos2, Rect, Stroke};
use bevy_egui::{EguiContexts, EguiPlugin, EguiPrimaryContextPass};

use crate::explain::token_name;
use crate::layout::{self, LabelKind};
use crate::model::Activations;
use crate::model::tokenizer::Tokenizer;
use crate::render::overlay::language::Language;
use crate::render::overlay::live_input::{
    TrainingCheckpoints, TypingPause, input_buttons, input_text_of, read_input, training_slider,
};
use crate::render::overlay::panels::SceneLabels;
use crate::render::overlay::panels::{self, SidePanelWidth};
use crate::render::overlay::sampling::{SamplingControls, sampling_ui};
use crate::render::overlay::token_strip::OutputSummary;
use crate::render::scene::blocks::{BlockScene, BlockStyle, SceneBlock, SceneSource, SceneValues, ValuesState};
use crate::render::scene::frame::FrameStep;
use crate::render::view::camera::FlyTo;

/// The models the switcher offers: (preset, button text).
pub const MODELS: [(&str, &str); 5] = [
    ("nano", "nano-gpt"),
    ("nano-llama", "nano-llama"),
    ("gpt2", "GPT-2 (small)"),
    ("gpt2-xl", "GPT-2 (XL)"),
    ("gpt3", "GPT-3"),
];

/// Text is only drawn on things at least this tall on screen.
pub const MIN_LABEL_PX: f32 = 28.0;

/// The model card's note of NaN or infinite values: the magenta the shader draws them in, darkened to read as text.
const NON_FINITE_INK: egui::Color32 = egui::Color32::from_rgb(170, 0, 150);
/// The largest token letter: close up, a letter scaled with its cell outgrows egui's 2048-pixel font
/// atlas, and egui panics.
const MAX_TOKEN_PX: f32 = 160.0;

#[derive(Resource, Default)]
pub struct UiState {
    pub help_open: bool,
    /// The input being edited, and why it was refused, if it was.
    pub input_text: String,
    pub input_error: Option<String>,
    /// What was typed, run once typing pauses.
    pub typing: TypingPause,
}

pub struct UiPlugin;

impl Plugin for UiPlugin {
    fn build(&self, app: &mut App) {
        app.add_plugins(EguiPlugin::default())
            .init_resource::<UiState>()
            .init_resource::<crate::render::overlay::token_strip::PointedToken>()
            .init_resource::<OutputSummary>()
            .init_resource::<crate::render::view::free_region::PanelRects>()
            .add_systems(
                Update,
                (
                    toggle_help.in_set(FrameStep::Input),
                    (fly_to_new_model, crate::render::overlay::token_strip::summarise_output).in_set(FrameStep::Derive),
                ),
            )
            .add_systems(EguiPrimaryContextPass, light_theme.in_set(FrameStep::Theme))
            .add_systems(EguiPrimaryContextPass, anchored_text.in_set(FrameStep::Notes))
            .add_systems(
                EguiPrimaryContextPass,
                (model_bar, model_card, crate::render::overlay::token_strip::token_strip, help_window)
                    .chain()
                    .in_set(FrameStep::Widgets),
            )
            .add_systems(EguiPrimaryContextPass, panels::measure_panels.in_set(FrameStep::Measure));
    }
}

/// The scene is drawn on white, so the widgets are light too.
fn light_theme(mut contexts: EguiContexts, mut done: Local<bool>) -> Result {
    if !*done {
        contexts.ctx_mut()?.set_visuals(egui::Visuals::light());
        *done = true;
    }
    Ok(())
}

fn toggle_help(
    keys: Res<ButtonInput<KeyCode>>,
    mut state: ResMut<UiState>,
    egui: Option<Res<bevy_egui::input::EguiWantsInput>>,
) {
    if egui.is_some_and(|egui| egui.wants_keyboard_input()) {
        return;
    }
    let question_mark =
        keys.just_pressed(KeyCode::Slash) && keys.any_pressed([KeyCode::ShiftLeft, KeyCode::ShiftRight]);
    if keys.just_pressed(KeyCode::KeyH) || question_mark {
        state.help_open = !state.help_open;
    }
}

/// After a switch, the camera flies to the new model's overview.
fn fly_to_new_model(scene: Res<BlockScene>, mut shown: Local<Option<usize>>, mut flights: MessageWriter<FlyTo>) {
    let id = scene.id();
    if shown.is_some_and(|shown| shown != id) {
        flights.write(FlyTo(scene.layout.overview.into()));
    }
    *shown = Some(id);
}

fn model_bar(
    mut contexts: EguiContexts,
    mut source: ResMut<SceneSource>,
    mut state: ResMut<UiState>,
    panel: Option<Res<SidePanelWidth>>,
    language: Res<Language>,
) -> Result {
    let language = *language;
    let ctx = contexts.ctx_mut()?;
    let left = panel.map_or(0.0, |panel| panel.0);
    let mut picked = None;
    let (corner, offset) = panels::place(panels::MODEL_BAR, left);
    egui::Area::new(egui::Id::new(panels::MODEL_BAR)).anchor(corner, offset).show(ctx, |ui| {
        ui.horizontal(|ui| {
            for (preset, text) in MODELS {
                let selected = source.config.name == preset;
                if ui.selectable_label(selected, text).clicked() && !selected {
                    picked = Some(preset);
                }
            }
            if ui.button("?").on_hover_text(language.tr("Controls (H)")).clicked() {
                state.help_open = !state.help_open;
            }
        });
    });
    // A preset picked opens as the app opens it: with its shipped weights on the default input,
    // else its structure.
    if let Some(preset) = picked
        && let Ok(picked) = crate::render::scene_source(preset, None)
    {
        if picked.weights.is_some() {
            state.input_text = input_text_of(&picked.config, &picked.tokens);
        }
        *source = picked;
    }
    Ok(())
}

/// What the model card reads, and the input and sampling it edits.
#[derive(SystemParam)]
struct ModelCard<'w> {
    source: ResMut<'w, SceneSource>,
    scene: Option<Res<'w, BlockScene>>,
    values: Res<'w, SceneValues>,
    language: Res<'w, Language>,
    sampling: ResMut<'w, SamplingControls>,
    state: ResMut<'w, UiState>,
    panel: Option<Res<'w, SidePanelWidth>>,
    checkpoints: Option<Res<'w, TrainingCheckpoints>>,
    summary: Res<'w, OutputSummary>,
    #[cfg(not(target_arch = "wasm32"))]
    compute: Option<Res<'w, crate::render::scene::compute::Compute>>,
}

/// The model on the card, as the card's widgets read it.
#[derive(Clone, Copy)]
pub struct CardModel<'a> {
    pub source: &'a SceneSource,
    pub values: &'a SceneValues,
    pub language: Language,
}

/// What the reader asked for on the model card, applied to the scene's source once it is drawn.
#[derive(Default)]
struct CardRequests {
    /// The input to run: typed, chosen by a button, or with a sampled token appended.
    tokens: Option<Vec<usize>>,
    /// The training checkpoint picked on the slider.
    checkpoint: Option<crate::train::Checkpoint>,
    /// The parts switched off, when the card changed them.
    ablation: Option<crate::model::ablation::Ablation>,
    /// Gradient mode switched, or its step taken.
    #[cfg(not(target_arch = "wasm32"))]
    gradients: crate::render::overlay::gradients::GradientRequests,
}

impl CardRequests {
    /// Writes the source only where it changes, so that an unchanged input runs nothing again.
    fn apply(self, source: &mut ResMut<SceneSource>) {
        if let Some(tokens) = self.tokens
            && tokens != source.tokens
        {
            source.tokens = tokens;
        }
        if let Some(checkpoint) = self.checkpoint {
            source.weights = Some(checkpoint.weights);
            // A step taken from a checkpoint continues its run from the moments saved with it.
            if source.training.is_some() {
                source.training = Some(checkpoint.moments.unwrap_or_default());
            }
        }
        if let Some(ablation) = self.ablation {
            source.ablation = ablation;
        }
        #[cfg(not(target_arch = "wasm32"))]
        {
            if let Some(training) = self.gradients.training {
                source.training = training;
            }
            if let Some(weights) = self.gradients.weights {
                source.weights = Some(weights);
            }
        }
    }
}

/// Name, parameter count, what the values are, and the input (editable where there are weights).
fn model_card(mut contexts: EguiContexts, mut card: ModelCard, mut folded: Local<bool>) -> Result {
    let ctx = contexts.ctx_mut()?;
    let left = card.panel.as_ref().map_or(0.0, |panel| panel.0);
    // During a tour (its side panel open) the card folds to its title once, leaving the scene to
    // what the tour shows; the reader can open it again.
    let fold = left > 0.0 && !*folded;
    *folded |= left > 0.0;
    // The card folds to its title, leaving the scene to the reader.
    let title = egui::RichText::new(display_name(&card.source.config.name)).heading();
    let mut asked = CardRequests::default();
    // Bottom left: the top of a model, where its input is, stays clear.
    let (corner, offset) = panels::place(panels::MODEL_CARD, left);
    egui::Area::new(egui::Id::new(panels::MODEL_CARD)).anchor(corner, offset).show(ctx, |ui| {
        egui::Frame::popup(ui.style()).show(ui, |ui| {
            let header = egui::CollapsingHeader::new(title).id_salt("model card").default_open(true);
            header.open(fold.then_some(false)).show(ui, |ui| {
                asked = model_card_ui(ui, &mut card);
            });
        });
    });
    asked.apply(&mut card.source);
    Ok(())
}

/// The card's contents: what the model is, then, where it has weights, its input and sampling.
fn model_card_ui(ui: &mut egui::Ui, card: &mut ModelCard) -> CardRequests {
    let language = *card.language;
    // Wide enough for the shape line of GPT-2 and GPT-3 on one line.
    ui.set_min_width(300.0);
    let config = &card.source.config;
    ui.label(language.fill("{} parameters", &[&layout::group_digits(config.param_count())]));
    let shape: [&dyn std::fmt::Display; 4] = [&config.n_layer, &config.n_head, &config.n_embd, &config.tokens()];
    ui.label(language.fill("{} layers, {} heads, C = {}, T = {}", &shape));
    // Grouped-query attention: fewer k/v heads than query heads, each serving a group.
    if let Some(llama) = config.llama_shape() {
        let kv: [&dyn std::fmt::Display; 2] = [&llama.n_kv_head, &llama.head_dim];
        ui.label(language.fill("{} k/v heads, head size {}", &kv));
    }
    // What writing on from this input keeps per token: the keys and values of every layer.
    let positions = card.source.tokens.len();
    if card.source.weights.is_some() && positions > 0 {
        let size = layout::byte_size(config.kv_cache_bytes(positions));
        ui.label(language.fill("KV cache at {} tokens: {}", &[&positions, &size]));
    }
    if let Some(line) = card.values.forward.as_deref().and_then(|pass| pass_text(pass, language)) {
        ui.label(line);
        #[cfg(not(target_arch = "wasm32"))]
        if let Some(compute) = &card.compute {
            ui.label(computed_on_text(&compute.computed_on(), language));
        }
    }
    ui.label(egui::RichText::new(values_text(card.scene.is_some(), &card.values, language)).italics());
    for problem in &card.values.non_finite {
        ui.scope(|ui| {
            ui.set_max_width(420.0);
            let note = language.fill("{}: such cells are drawn magenta", &[problem]);
            ui.label(egui::RichText::new(note).color(NON_FINITE_INK));
        });
    }
    if card.source.weights.is_none() {
        return CardRequests::default();
    }
    let model = CardModel { source: &card.source, values: &card.values, language };
    let mut asked = CardRequests { tokens: input_ui(ui, model, &mut card.state), ..Default::default() };
    asked.ablation = crate::render::overlay::switch_off::switched_off_ui(ui, model, &card.summary);
    // Gradients come from burn's autodiff, which the page's build leaves out.
    #[cfg(not(target_arch = "wasm32"))]
    {
        asked.gradients = crate::render::overlay::gradients::gradients_ui(ui, model);
    }
    let mut controls = *card.sampling;
    if let Some(tokens) = sampling_ui(ui, &mut controls, model) {
        card.state.input_text = input_text_of(&model.source.config, &tokens);
        card.state.input_error = None;
        card.state.typing.clear();
        asked.tokens = Some(tokens);
    }
    card.sampling.set_if_neq(controls);
    if let Some(checkpoints) = &card.checkpoints {
        asked.checkpoint = training_slider(ui, model.source, checkpoints, language).cloned();
    }
    asked
}

/// How the last pass ran: all positions at once (the prompt's prefill) or one after a KV cache.
fn pass_text(pass: &crate::model::Activations, language: Language) -> Option<String> {
    let positions = pass.tokens.len();
    match pass.cached {
        0 if positions == 1 => Some(language.tr("prefill: 1 position computed").to_string()),
        0 if positions > 1 => Some(language.fill("prefill: {} positions computed at once", &[&positions])),
        0 => None,
        cached => {
            let computed = positions - cached;
            let text = if computed == 1 {
                "decode: {} new position computed, {} read from the KV cache"
            } else {
                // Typed text that extends the last one adds several positions in one step.
                "decode: {} new positions computed, {} read from the KV cache"
            };
            Some(language.fill(text, &[&computed, &cached]))
        }
    }
}

/// Where the passes run (`render::scene::compute`), in a line.
#[cfg(not(target_arch = "wasm32"))]
fn computed_on_text(on: &crate::render::scene::compute::ComputedOn, language: Language) -> String {
    use crate::render::scene::compute::ComputedOn;
    match on {
        ComputedOn::Gpu { adapter } => language.fill("computed on the GPU: {}", &[adapter]),
        ComputedOn::Cpu { .. } | ComputedOn::Undecided => language.tr("computed on the CPU").to_string(),
    }
}

/// What the values on screen are, in a line.
fn values_text(scene_exists: bool, values: &SceneValues, language: Language) -> String {
    if !scene_exists {
        return language.tr("building…").to_string();
    }
    match &values.state {
        ValuesState::StructureOnly => language.tr("structure only: no weights for this preset, no values").to_string(),
        ValuesState::Computing(_) => language.tr("running the model…").to_string(),
        ValuesState::Ready if values.values_left_out > 0 => language.fill(
            "values: {} weights are drawn as the average colours of tiles of cells, not cell by cell:\nall of them would not fit in the GPU's memory. Hover shows each one exactly.",
            &[&layout::group_digits(values.values_left_out)],
        ),
        ValuesState::Ready if values.activations.as_ref().is_some_and(|pass| pass.training.is_some()) => {
            language.tr("gradients of the loss: every weight's and every activation's").to_string()
        }
        ValuesState::Ready => language.tr("values: weights and this input's activations").to_string(),
        ValuesState::Failed(message) => message.clone(),
    }
}

/// The input's text box and buttons, with why an input was refused: the tokens asked for, if any.
fn input_ui(ui: &mut egui::Ui, model: CardModel, state: &mut UiState) -> Option<Vec<usize>> {
    let config = &model.source.config;
    let language = model.language;
    if state.input_text.is_empty() {
        state.input_text = input_text_of(config, &model.source.tokens);
    }
    let free_text = Tokenizer::of(config).is_some_and(|t| t.takes_free_text());
    let mut asked = None;
    ui.horizontal(|ui| {
        ui.label(language.tr(if free_text { "text" } else { "input" }));
        let width = if free_text { 260.0 } else { 120.0 };
        let edit = ui.add(egui::TextEdit::singleline(&mut state.input_text).desired_width(width));
        let now = ui.input(|input| input.time);
        if edit.changed() {
            match read_input(config, &state.input_text) {
                Ok((tokens, note)) => {
                    state.input_error = note;
                    state.typing.typed(tokens, now);
                }
                Err(error) => {
                    state.input_error = Some(error.to_string());
                    state.typing.clear();
                }
            }
        }
        let enter = edit.lost_focus() && ui.input(|input| input.key_pressed(egui::Key::Enter));
        asked = state.typing.due(now, enter);
        if let Some(left) = state.typing.remaining(now) {
            ui.ctx().request_repaint_after(std::time::Duration::from_secs_f64(left));
        }
    });
    let UiState { input_text, input_error, .. } = state;
    if let Some(tokens) = input_buttons(ui, model, input_text, input_error) {
        state.typing.clear();
        asked = Some(tokens);
    }
    if let Some(error) = &state.input_error {
        ui.colored_label(Color32::DARK_RED, error);
    }
    asked
}

fn help_window(mut contexts: EguiContexts, mut state: ResMut<UiState>, language: Res<Language>) -> Result {
    let ctx = contexts.ctx_mut()?;
    let mut open = state.help_open;
    let (corner, offset) = panels::place(panels::HELP, 0.0);
    egui::Window::new(language.tr("Controls"))
        .id(egui::Id::new(panels::HELP))
        .open(&mut open)
        .collapsible(false)
        .resizable(false)
        .anchor(corner, offset)
        .show(ctx, |ui| {
            egui::Grid::new("controls").striped(true).show(ui, |ui| {
                for (input, action) in [
                    ("right drag", "orbit"),
                    ("left drag", "pan"),
                    ("wheel", "zoom towards the cursor"),
                    ("W A S D", "fly forward, left, back, right"),
                    ("Q E", "fly down, up"),
                    ("Shift", "fly faster"),
                    ("double-click", "fly to a block"),
                    ("Home", "back to the overview"),
                    ("? or H", "this help"),
                ] {
                    ui.strong(language.tr(input));
                    ui.label(language.tr(action));
                    ui.end_row();
                }
            });
        });
    state.help_open = open;
    Ok(())
}

/// What the text anchored to the scene reads.
#[derive(SystemParam)]
struct SceneText<'w, 's> {
    scene: Res<'w, BlockScene>,
    values: Res<'w, SceneValues>,
    camera: Single<'w, 's, (&'static Camera, &'static GlobalTransform), With<Camera3d>>,
    blocks: Query<'w, 's, (&'static SceneBlock, &'static ViewVisibility, &'static BlockStyle)>,
    shown: Option<Res<'w, SceneLabels>>,
    language: Res<'w, Language>,
    summary: Res<'w, OutputSummary>,
}

/// Where the scene is on screen: the camera that draws it and the window's rectangle.
#[derive(Clone, Copy)]
struct OnScreen<'a> {
    camera: &'a Camera,
    transform: &'a GlobalTransform,
    screen: Rect,
}

impl OnScreen<'_> {
    /// The screen rectangle of a box's front face, when it is in front of the camera.
    fn front_rect(&self, min: Vec3, max: Vec3) -> Option<Rect> {
        let top_left = self.camera.world_to_viewport(self.transform, Vec3::new(min.x, max.y, max.z)).ok()?;
        let bottom_right = self.camera.world_to_viewport(self.transform, Vec3::new(max.x, min.y, max.z)).ok()?;
        Some(Rect::from_two_pos(Pos2::new(top_left.x, top_left.y), Pos2::new(bottom_right.x, bottom_right.y)))
    }
}

/// Section labels, block names, input tokens and predictions, drawn behind every egui window.
fn anchored_text(mut contexts: EguiContexts, text: SceneText) -> Result {
    let scene = &text.scene;
    let ctx = contexts.ctx_mut()?;
    let painter = ctx.layer_painter(egui::LayerId::new(egui::Order::Background, egui::Id::new("anchored text")));
    let (camera, transform) = *text.camera;
    let view = OnScreen { camera, transform, screen: ctx.content_rect() };
    let translated = translated_labels(&scene.layout, *text.language);
    // A tour may hide the section and dimension labels.
    let show_labels = text.shown.as_ref().is_none_or(|labels| labels.0);
    let mut labels: Vec<(&crate::layout::Label, Rect)> = translated
        .iter()
        .filter(|_| show_labels)
        .filter_map(|label| Some((label, view.front_rect(Vec3::from(label.min), Vec3::from(label.max))?)))
        .filter(|(_, rect)| view.screen.intersects(*rect))
        .collect();
    labels.sort_by(|(_, a), (_, b)| b.height().total_cmp(&a.height()));
    // Where text is drawn already: a label that would overlap one is left out, the larger
    // sections first, then block names, then dimensions, so nothing is drawn over anything.
    let mut taken: Vec<Rect> = Vec::new();
    draw_section_labels(&painter, &labels, &mut taken);
    draw_block_tags(&painter, scene, &text.blocks, view, &mut taken);
    draw_dimension_labels(&painter, &labels, &mut taken);
    if let Some(activations) = &text.values.activations {
        let ends = ModelEnds { activations, change: text.summary.change.as_deref() };
        draw_model_ends(&painter, &scene.layout, ends, camera, transform);
    }
    Ok(())
}

/// The layout's labels with the sections named in the language shown; blocks and dimensions keep
/// the model's names.
fn translated_labels(layout: &layout::Layout, language: Language) -> Vec<crate::layout::Label> {
    let translate = |label: &crate::layout::Label| match label.kind {
        LabelKind::Section => {
            crate::layout::Label { text: crate::i18n::section_label(language.0, &label.text), ..label.clone() }
        }
        _ => label.clone(),
    };
    layout.labels.iter().map(translate).collect()
}

/// Takes `rect` for text when it overlaps nothing taken before; false when it would.
fn place(taken: &mut Vec<Rect>, rect: Rect) -> bool {
    let free = !taken.iter().any(|other| other.expand(2.0).intersects(rect));
    if free {
        taken.push(rect);
    }
    free
}

fn draw_section_labels(painter: &egui::Painter, labels: &[(&crate::layout::Label, Rect)], taken: &mut Vec<Rect>) {
    let ink = Color32::from_gray(40);
    let measure =
        |text: &str, size: f32| painter.layout_no_wrap(text.to_string(), FontId::proportional(size), ink).size();
    for placed in place_section_labels(labels, taken, measure) {
        let galley =
            painter.layout_no_wrap(labels[placed.label].0.text.clone(), FontId::proportional(placed.size), ink);
        painter.line_segment(placed.bracket, Stroke::new(1.0, Color32::from_gray(150)));
        painter.galley(placed.text.min, galley, ink);
    }
}

/// Each block's name on a dark tag over its top left corner, the largest blocks first.
fn draw_block_tags(
    painter: &egui::Painter,
    scene: &BlockScene,
    blocks: &Query<(&SceneBlock, &ViewVisibility, &BlockStyle)>,
    view: OnScreen,
    taken: &mut Vec<Rect>,
) {
    let mut tags: Vec<(&crate::layout::Block, Rect)> = blocks
        .iter()
        // A block a tour has faded out keeps its name to itself.
        .filter(|(_, visibility, style)| visibility.get() && style.opacity >= 0.5)
        .filter_map(|(block, _, _)| {
            let block = &scene.layout.blocks[block.index as usize];
            Some((block, view.front_rect(Vec3::from(block.position), Vec3::from(block.max()))?))
        })
        .filter(|(_, rect)| {
            rect.height() >= MIN_LABEL_PX && rect.width() >= MIN_LABEL_PX && view.screen.intersects(*rect)
        })
        .collect();
    tags.sort_by(|(_, a), (_, b)| b.area().total_cmp(&a.area()));
    for (block, rect) in tags {
        let galley = painter.layout_no_wrap(short_name(&block.name), FontId::proportional(12.0), Color32::WHITE);
        let tag = Rect::from_min_size(
            rect.left_top() - egui::vec2(0.0, galley.size().y + 4.0),
            galley.size() + egui::vec2(6.0, 4.0),
        );
        if place(taken, tag) {
            painter.rect_filled(tag, 2.0, Color32::from_black_alpha(200));
            painter.galley(tag.min + egui::vec2(3.0, 2.0), galley, Color32::WHITE);
        }
    }
}

/// The dimensions' names (T, C, 3C…) in the middle of their blocks, where they are large enough.
fn draw_dimension_labels(painter: &egui::Painter, labels: &[(&crate::layout::Label, Rect)], taken: &mut Vec<Rect>) {
    for (label, rect) in labels.iter().filter(|(label, _)| label.kind == LabelKind::Dim) {
        if rect.height().max(rect.width()) < 2.0 * MIN_LABEL_PX {
            continue;
        }
        let galley = painter.layout_no_wrap(label.text.clone(), FontId::proportional(11.0), Color32::from_gray(90));
        let text = Align2::CENTER_CENTER.anchor_size(rect.center(), galley.size());
        if place(taken, text) {
            painter.galley(text.min, galley, Color32::from_gray(90));
        }
    }
}

/// A section label placed on screen: which of the candidates, its text's rectangle and font size,
/// and its bracket.
pub struct PlacedLabel {
    pub label: usize,
    pub text: Rect,
    pub size: f32,
    pub bracket: [Pos2; 2],
}

/// The section labels that fit, the largest sections first: each is left out when it would be
/// too small to read or would overlap text placed before it (`taken`, which it extends).
/// `labels` are the sections' screen rectangles; `measure` gives a text's size at a font size.
pub fn place_section_labels(
    labels: &[(&layout::Label, Rect)],
    taken: &mut Vec<Rect>,
    measure: impl Fn(&str, f32) -> egui::Vec2,
) -> Vec<PlacedLabel> {
    let mut order: Vec<usize> = (0..labels.len()).filter(|&i| labels[i].0.kind == LabelKind::Section).collect();
    order.sort_by(|&a, &b| labels[b].1.height().total_cmp(&labels[a].1.height()));
    let mut placed = Vec::new();
    for index in order {
        let (label, rect) = labels[index];
        // A layer's name is worth a shorter bracket than a part's.
        let tallest = if is_whole(label) { MIN_LABEL_PX } else { 3.0 * MIN_LABEL_PX };
        if rect.height() < tallest {
            continue;
        }
        let mut size = font_px((rect.height() / 30.0).clamp(11.0, 20.0));
        let mut measured = measure(&label.text, size);
        let (mut text, mut bracket) = place_over(labels, index, rect, measured);
        // Beside it stands a layer of its own, when layers stand side by side (nano's columns, a
        // grid of layers): the name goes over its own layer, smaller if it must, or not at all.
        if is_whole(label) && has_layer_beside(labels, index) {
            let room = room_over(labels, index, rect, text);
            if measured.x > room {
                size *= room / measured.x;
                if size < MIN_SECTION_FONT_PX {
                    continue;
                }
                measured = measure(&label.text, size);
                (text, bracket) = place_over(labels, index, rect, measured);
            }
        }
        if !taken.iter().any(|other| other.expand(2.0).intersects(text)) {
            taken.push(text);
            placed.push(PlacedLabel { label: index, text, size, bracket });
        }
    }
    placed
}

/// The smallest font a layer's name shrinks to so as to stand over its own layer.
const MIN_SECTION_FONT_PX: f32 = 9.0;

/// Whether another layer's section stands level with section `index` (half its height or more
/// side by side), so that a name at its left would stand over that other layer.
fn has_layer_beside(labels: &[(&layout::Label, Rect)], index: usize) -> bool {
    let (label, rect) = labels[index];
    let layer = |other: &layout::Label| other.kind == LabelKind::Section && other.text.starts_with("Transformer");
    layer(label)
        && labels.iter().enumerate().any(|(other_index, (other, other_rect))| {
            let shared = rect.bottom().min(other_rect.bottom()) - rect.top().max(other_rect.top());
            other_index != index && layer(other) && shared > rect.height() / 2.0
        })
}

/// Where section `index`'s name of size `text` goes (`section_label_place`). A layer under another
/// (a grid of layers) would be named over the bottom of the one above, whose box reaches down past
/// the gap as it is seen from above: the name goes just inside the top of its own box instead,
/// which is empty there (the box's top edge is its back corner).
fn place_over(labels: &[(&layout::Label, Rect)], index: usize, rect: Rect, text: egui::Vec2) -> (Rect, [Pos2; 2]) {
    let label = labels[index].0;
    let (mut placed, bracket) = section_label_place(label, rect, text);
    if is_whole(label) && overlaps_another_layer(labels, index, placed) {
        placed = placed.translate(egui::vec2(0.0, placed.height() + 8.0));
    }
    (placed, bracket)
}

/// The width a name centred over section `index`, level with `text`, has before it reaches a
/// layer beside it: the layers' boxes, seen from the overview's angle, reach over one another's edges.
fn room_over(labels: &[(&layout::Label, Rect)], index: usize, rect: Rect, text: Rect) -> f32 {
    let layer = |other: &layout::Label| other.kind == LabelKind::Section && other.text.starts_with("Transformer");
    let centre = rect.center().x;
    let mut half = rect.width() / 2.0;
    for (other_index, (other, other_rect)) in labels.iter().enumerate() {
        let level = other_rect.top() <= text.bottom() && other_rect.bottom() >= text.top();
        if other_index == index || !layer(other) || !level {
            continue;
        }
        if other_rect.right() < centre {
            half = half.min(centre - other_rect.right() - 2.0);
        } else if other_rect.left() > centre {
            half = half.min(other_rect.left() - centre - 2.0);
        }
    }
    2.0 * half.max(0.0)
}

/// Whether a name placed at `text` would stand over a layer other than section `index`.
fn overlaps_another_layer(labels: &[(&layout::Label, Rect)], index: usize, text: Rect) -> bool {
    let layer = |other: &layout::Label| other.kind == LabelKind::Section && other.text.starts_with("Transformer");
    labels
        .iter()
        .enumerate()
        .any(|(other_index, (other, other_rect))| other_index != index && layer(other) && other_rect.intersects(text))
}

/// True for the sections that are a whole step of the model: a layer, the embedding, the output.
fn is_whole(label: &layout::Label) -> bool {
    label.layer.is_none() || label.text.starts_with("Transformer")
}

/// Where a section's name goes, and the bracket that shows what it names. A whole layer, the
/// embedding or the output is named above its middle, over a bracket along its top, when the name
/// fits its width: nano's layers stand side by side in columns, each named over its own. Otherwise
/// (GPT-2's narrow layers stacked in one column, or a part inside a layer: a head, self-attention,
/// the MLP) the name stands at its left, beside a bracket down its side.
pub fn section_label_place(label: &layout::Label, rect: Rect, text: egui::Vec2) -> (Rect, [Pos2; 2]) {
    if is_whole(label) && text.x <= rect.width() {
        let text = Align2::CENTER_BOTTOM.anchor_size(rect.center_top() - egui::vec2(0.0, 4.0), text);
        (text, [rect.left_top(), rect.right_top()])
    } else {
        let text = Align2::RIGHT_TOP.anchor_size(rect.left_top() - egui::vec2(4.0, 0.0), text);
        (text, [rect.left_top(), rect.left_bottom()])
    }
}

/// Projects the scene's points to the screen through the camera that draws it.
#[derive(Clone, Copy)]
struct Projector<'a> {
    camera: &'a Camera,
    transform: &'a GlobalTransform,
}

impl Projector<'_> {
    fn point(&self, point: [f32; 3]) -> Option<Pos2> {
        self.camera.world_to_viewport(self.transform, Vec3::from(point)).ok().map(|p| Pos2::new(p.x, p.y))
    }

    /// A cell's centre on screen, and how wide a cell is there in pixels.
    fn cell_px(&self, block: &layout::Block, cell: [u32; 3]) -> Option<(Pos2, f32)> {
        let center = block.cell_center(cell);
        let right = [center[0] + layout::CELL, center[1], center[2]];
        let (center, right) = (self.point(center)?, self.point(right)?);
        Some((center, center.distance(right)))
    }
}

/// What the model's ends show: the pass, and with parts switched off the change at each position
/// (`OutputSummary::change`).
#[derive(Clone, Copy)]
struct ModelEnds<'a> {
    activations: &'a Activations,
    change: Option<&'a [(usize, f32, f32)]>,
}

/// The input tokens over the `tokens` block, each its letter (or GPT-2's piece) with its token
/// index under it and an arrow to the column of the token embedding it selects, and under `probs`
/// each position's predicted token with its probability drawn as a bar.
fn draw_model_ends(
    painter: &egui::Painter,
    layout: &layout::Layout,
    ends: ModelEnds,
    camera: &Camera,
    transform: &GlobalTransform,
) {
    let activations = ends.activations;
    let projector = Projector { camera, transform };
    if let Some(tokens_block) = layout.block("tokens") {
        draw_input_tokens(painter, layout, tokens_block, &activations.tokens, projector);
    }
    if let Some(probs_block) = layout.block("probs") {
        draw_predictions(painter, layout, probs_block, ends, projector);
    }
    draw_lens_tokens(painter, layout, activations, projector);
    if let Some(training) = &activations.training {
        draw_loss(painter, layout, training.loss, projector);
    }
}

/// In gradient mode, the loss beside the logits, where the backward pass starts.
fn draw_loss(painter: &egui::Painter, layout: &layout::Layout, loss: f32, projector: Projector) {
    let Some(logits) = layout.block("logits") else { return };
    let (min, max) = (logits.position, logits.max());
    let beside = [max[0] + 2.0 * layout::CELL, (min[1] + max[1]) / 2.0, max[2]];
    let Some(at) = projector.point(beside) else { return };
    let font = FontId::proportional(font_px(16.0));
    let text = format!("loss = {loss:.4}");
    let galley = painter.layout_no_wrap(text, font, Color32::from_rgb(120, 40, 0));
    let rect = Rect::from_min_size(at - egui::vec2(0.0, galley.size().y / 2.0), galley.size()).expand(4.0);
    painter.rect(
        rect,
        3.0,
        Color32::from_rgb(255, 240, 225),
        Stroke::new(1.0, Color32::from_rgb(230, 120, 40)),
        egui::StrokeKind::Inside,
    );
    painter.galley(rect.min + egui::vec2(4.0, 4.0), galley, Color32::from_rgb(120, 40, 0));
}

/// On each cell of a lens strip, the token the model would predict at that position if it stopped
/// there; the cell's colour is that token's probability.
fn draw_lens_tokens(painter: &egui::Painter, layout: &layout::Layout, activations: &Activations, projector: Projector) {
    let tokenizer = Tokenizer::of(&layout.config);
    for read in &activations.lens {
        let Some(block) = layout.block(&format!("{}.lens", read.stream)) else { continue };
        for (position, top) in read.top.iter().enumerate() {
            let Some(&(token, _)) = top.first() else { continue };
            let Some((center, size)) = projector.cell_px(block, [position as u32, 0, 0]) else { continue };
            if size < 12.0 {
                break;
            }
            let text = match &tokenizer {
                Some(tokenizer) if tokenizer.takes_free_text() => {
                    crate::render::overlay::token_strip::visible_piece(&tokenizer.piece(token))
                }
                _ => token_name(&layout.config, token),
            };
            let font = FontId::proportional(font_px((size * 0.5).min(MAX_TOKEN_PX)));
            painter.text(center, Align2::CENTER_CENTER, text, font, Color32::from_gray(30));
        }
    }
}

fn draw_input_tokens(
    painter: &egui::Painter,
    layout: &layout::Layout,
    tokens_block: &layout::Block,
    tokens: &[usize],
    projector: Projector,
) {
    // A piece of GPT-2's needs a wider cell than one letter to be read.
    let tokenizer = Tokenizer::of(&layout.config);
    let free_text = tokenizer.as_ref().is_some_and(Tokenizer::takes_free_text);
    let smallest = if free_text { 24.0 } else { 10.0 };
    for (position, &token) in tokens.iter().enumerate() {
        let Some((center, size)) = projector.cell_px(tokens_block, [position as u32, 0, 0]) else { continue };
        if size < smallest {
            break;
        }
        let tile = Rect::from_center_size(center - egui::vec2(0.0, size * 1.5), egui::vec2(size * 0.9, size * 1.4));
        // Filled, so that a section's bracket along the top of the embedding passes behind it.
        let outline = Stroke::new(1.0, Color32::from_gray(120));
        painter.rect(tile, 2.0, Color32::from_gray(252), outline, egui::StrokeKind::Inside);
        let text = match &tokenizer {
            Some(tokenizer) if free_text => crate::render::overlay::token_strip::visible_piece(&tokenizer.piece(token)),
            _ => token_name(&layout.config, token),
        };
        let letter = FontId::proportional(font_px((size * if free_text { 0.3 } else { 0.6 }).min(MAX_TOKEN_PX)));
        let letter_at = tile.center_top() + egui::vec2(0.0, size * 0.5);
        painter.text(letter_at, Align2::CENTER_CENTER, text, letter, Color32::from_gray(30));
        let index = FontId::proportional(font_px((size * 0.3).min(MAX_TOKEN_PX / 2.0)));
        let index_at = tile.center_bottom() - egui::vec2(0.0, size * 0.3);
        painter.text(index_at, Align2::CENTER_CENTER, token.to_string(), index, Color32::from_gray(110));
        if let Some(wte) = layout.block("wte").or_else(|| layout.block("embed_tokens")) {
            lookup_arrow(painter, &|point| projector.point(point), tokens_block, wte, position, token);
        }
    }
}

/// Under `probs`, each position's predicted token with its probability drawn as a bar.
fn draw_predictions(
    painter: &egui::Painter,
    layout: &layout::Layout,
    probs_block: &layout::Block,
    ends: ModelEnds,
    projector: Projector,
) {
    let ModelEnds { activations, change } = ends;
    let last_row = probs_block.cells[1] - 1;
    for (position, (token, probability)) in activations.predictions().into_iter().enumerate() {
        let Some((center, size)) = projector.cell_px(probs_block, [position as u32, last_row, 0]) else { continue };
        if size < 10.0 {
            break;
        }
        let top = center + egui::vec2(0.0, size * 1.0);
        let bar_height = size * 2.0;
        let frame = Rect::from_min_size(top - egui::vec2(size * 0.35, 0.0), egui::vec2(size * 0.7, bar_height));
        let filled = Rect::from_min_max(
            Pos2::new(frame.min.x, frame.max.y - bar_height * probability.clamp(0.0, 1.0)),
            frame.max,
        );
        painter.rect_stroke(frame, 1.0, Stroke::new(1.0, Color32::from_gray(150)), egui::StrokeKind::Inside);
        painter.rect_filled(filled, 1.0, Color32::from_rgb(80, 170, 90));
        let font = FontId::proportional(font_px((size * 0.6).min(MAX_TOKEN_PX)));
        let name = painter.text(
            frame.center_bottom() + egui::vec2(0.0, 2.0),
            Align2::CENTER_TOP,
            token_name(&layout.config, token),
            font.clone(),
            Color32::from_gray(30),
        );
        // With parts switched off: the model's own likeliest token, where its own pass put it
        // (a dark line across the bar) and how far this pass moved it.
        if let Some(&(own_token, own, now)) = change.and_then(|change| change.get(position)) {
            let y = frame.max.y - bar_height * own.clamp(0.0, 1.0);
            painter.line_segment(
                [Pos2::new(frame.min.x - 2.0, y), Pos2::new(frame.max.x + 2.0, y)],
                Stroke::new(2.0, Color32::from_gray(40)),
            );
            let delta = now - own;
            let ink = if delta < 0.0 { Color32::from_rgb(190, 40, 40) } else { Color32::from_rgb(30, 130, 50) };
            let text = format!("{} {:+.0}", token_name(&layout.config, own_token), delta * 100.0);
            let small = FontId::proportional(font_px((size * 0.4).min(MAX_TOKEN_PX)));
            painter.text(name.center_bottom() + egui::vec2(0.0, 2.0), Align2::CENTER_TOP, text, small, ink);
        }
    }
}

/// The embedding's lookup: an arrow from input position `position` (the bottom of its cell of
/// `tokens`) to the top of column `token` of the token embedding, the column it copies.
fn lookup_arrow(
    painter: &egui::Painter,
    project: &dyn Fn([f32; 3]) -> Option<Pos2>,
    tokens: &layout::Block,
    wte: &layout::Block,
    position: usize,
    token: usize,
) {
    if token as u32 >= wte.cells[0] {
        return;
    }
    let mut from = tokens.cell_center([position as u32, 0, 0]);
    from[1] = tokens.position[1];
    let mut to = wte.cell_center([token as u32, 0, 0]);
    to[1] = wte.max()[1];
    let (Some(from), Some(to)) = (project(from), project(to)) else { return };
    let colour = Color32::from_rgb(90, 150, 100);
    painter.line_segment([from, to], Stroke::new(1.0, colour));
    let along = (to - from).normalized();
    let side = egui::vec2(-along.y, along.x) * 3.5;
    painter.add(egui::Shape::convex_polygon(
        vec![to, to - along * 8.0 + side, to - along * 8.0 - side],
        colour,
        Stroke::NONE,
    ));
}

/// A text size that follows the zoom, snapped to a ladder of quarter octaves (11, 13, 16, 19, 23 ...
/// px; each within 10 % of `px`). egui keeps every glyph at every size it was drawn at in its
/// font atlas until the atlas is 80 % full: text sized continuously with the zoom filled it (2048²
/// pixels, held three times over by egui and bevy_egui: 50 MB) with glyphs drawn once.
pub fn font_px(px: f32) -> f32 {
    let quarter_octaves = (px.max(1.0).log2() * 4.0).round();
    2f32.powf(quarter_octaves / 4.0).round()
}

/// A block's name inside its section: "block0.head1.q.weight" reads "q.weight" beside head 1 of
/// transformer 0.
pub fn short_name(name: &str) -> String {
    let numbered = |part: &str, prefix: &str| {
        part.strip_prefix(prefix).is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    };
    let parts: Vec<&str> = name.split('.').filter(|part| !numbered(part, "block") && !numbered(part, "head")).collect();
    if parts.is_empty() { name.to_string() } else { parts.join(".") }
}

fn display_name(preset: &str) -> &str {
    MODELS.iter().find(|(name, _)| *name == preset).map_or(preset, |(_, text)| text)
}
