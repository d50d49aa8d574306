//! What hovering shows: the hovered cell lit in its block with its row and column, the cells it was
//! computed from lit in theirs, and an egui card beside it with the calculation and its numbers.
//! Pinned cards stay, anchored to their cells, each with a close button.
//!
//! The card reads `explain::explain`, the same explanation `llmviz explain` prints and the tests
//! check, so nothing here recomputes a formula. `pick` fills `Hovered` from the pointer in the
//! window; `llmviz screenshot --hover` sets it directly.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use bevy::ecs::system::SystemParam;
use bevy::prelude::*;
use bevy_egui::egui::{self, Align2, Color32, Pos2, Stroke};
use bevy_egui::{EguiContexts, EguiPrimaryContextPass};

use crate::explain::token_name;
use crate::explain::{ExplainError, Explanation, OPERAND_ORDER, Operand, Sources, explain};
use crate::layout::{self, Layout, Op};
use crate::model::GptConfig;
use crate::model::{Activations, Weights};
use crate::render::overlay::token_strip::PointedToken;
use crate::render::scene::blocks::{BlockScene, BlockStyle, Focus, SceneValues};
use crate::render::scene::frame::FrameStep;
use crate::render::view::pick::{CellRef, Hovered, Pinned, cell_center_world};

/// How strongly the hovered cell is lit (its row and column get a part of it, see blocks.wgsl).
pub const HOVERED_FOCUS: f32 = 1.0;
/// How strongly the cells it was computed from are lit.
pub const SOURCE_FOCUS: f32 = 0.7;
/// How strongly a pinned cell stays lit.
pub const PINNED_FOCUS: f32 = 0.5;
/// How strongly a token pointed at in the token strip lights its column.
pub const POINTED_FOCUS: f32 = 0.6;
/// After a decode step: how strongly its one computed position is lit in each block, and the
/// positions whose keys and values it read from the KV cache in k and v.
pub const STEP_FOCUS: f32 = 0.45;
pub const CACHED_FOCUS: f32 = 0.3;

/// The cards' background: a warm white that the scene itself never shows, so a picture can be
/// searched for it.
pub const CARD_FILL: Color32 = Color32::from_rgb(255, 250, 228);
const CARD_WIDTH: f32 = 380.0;
const INK: Color32 = Color32::from_gray(25);
const MUTED: Color32 = Color32::from_gray(95);

/// `Hovered` and `Pinned` → focus and cards. Needs the `EguiPlugin`; `PickPlugin` fills `Hovered`
/// in the window.
pub struct HoverPlugin;

impl Plugin for HoverPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<Hovered>()
            .init_resource::<Pinned>()
            .init_resource::<Explanations>()
            .add_systems(
                Update,
                (
                    (follow_values, forget_old_scene).chain().in_set(FrameStep::Derive),
                    apply_focus.in_set(FrameStep::Hover),
                ),
            )
            .add_systems(EguiPrimaryContextPass, draw_cards.in_set(FrameStep::Notes));
    }
}

/// What a card says about one cell.
#[derive(Clone, Debug, PartialEq)]
pub enum CardBody {
    Explained(Box<Explanation>),
    /// A future attention score, or a position past the input: why nothing is there.
    Masked(String),
    /// A preset without weights: only where the cell is.
    StructureOnly,
    /// The first forward pass has not finished yet.
    Waiting,
    Failed(String),
}

/// Explanations of the cells hovered and pinned, with the values they were made from: a matmul's
/// explanation looks up a few hundred operands, too many to redo every frame.
#[derive(Resource, Default)]
pub struct Explanations {
    weights: Option<Arc<Weights>>,
    activations: Option<Arc<Activations>>,
    entries: HashMap<CellRef, Arc<CardBody>>,
}

impl Explanations {
    /// Explains with these values from now on; explanations made with others are forgotten.
    pub fn use_values(&mut self, weights: Option<&Arc<Weights>>, activations: Option<&Arc<Activations>>) {
        fn same<T>(a: Option<&Arc<T>>, b: Option<&Arc<T>>) -> bool {
            match (a, b) {
                (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                (None, None) => true,
                _ => false,
            }
        }
        if !same(self.weights.as_ref(), weights) || !same(self.activations.as_ref(), activations) {
            self.weights = weights.cloned();
            self.activations = activations.cloned();
            self.entries.clear();
        }
    }

    pub fn card(&mut self, layout: &Layout, cell: CellRef) -> Arc<CardBody> {
        if self.entries.len() > 256 {
            self.entries.clear();
        }
        let (weights, activations) = (self.weights.as_deref(), self.activations.as_deref());
        self.entries.entry(cell).or_insert_with(|| Arc::new(card_body(layout, weights, activations, cell))).clone()
    }

    /// The input tokens the explanations are about.
    pub fn tokens(&self) -> &[usize] {
        self.activations.as_ref().map_or(&[], |activations| &activations.tokens)
    }
}

/// Explains one cell of the scene with the values it shows: the weights, and the activations
/// computed with them once the forward pass is done.
pub fn card_body(
    layout: &Layout,
    weights: Option<&Weights>,
    activations: Option<&Activations>,
    cell: CellRef,
) -> CardBody {
    let Some(weights) = weights else { return CardBody::StructureOnly };
    let Some(activations) = activations else { return CardBody::Waiting };
    let Some(block) = layout.blocks.get(cell.block) else { return CardBody::Failed("no such block".into()) };
    let sources = Sources { layout, activations, weights };
    // Gradient mode: the cell's gradient, by the chain rule, where its value would be.
    let explained = if activations.training.is_some() {
        crate::explain::backward::explain_gradient(&sources, &block.name, cell.cell)
    } else {
        explain(&sources, &block.name, cell.cell)
    };
    match explained {
        Ok(explanation) => CardBody::Explained(Box::new(explanation)),
        Err(ExplainError::Masked(reason)) => CardBody::Masked(reason),
        Err(error) => CardBody::Failed(error.to_string()),
    }
}

fn follow_values(values: Res<SceneValues>, mut explanations: ResMut<Explanations>) {
    if values.is_changed() {
        explanations.use_values(values.weights.as_ref(), values.activations.as_ref());
    }
}

/// The cells an explanation read, as one focus per source block: each role of the repeated terms
/// (a matmul's input row and weight column) and each single operand (the bias, μ, σ ...). Where
/// the cells of a block differ along an axis, the whole axis is lit: a row or a column.
pub fn source_focus(layout: &Layout, explanation: &Explanation) -> Vec<(usize, [Option<u32>; 3])> {
    let mut groups: Vec<Vec<&Operand>> = Vec::new();
    if let Some(first) = explanation.terms.first() {
        for role in first.keys() {
            groups.push(explanation.terms.iter().filter_map(|term| term.get(role)).collect());
        }
    }
    groups.extend(explanation.operands.values().map(|operand| vec![operand]));

    let mut by_block: BTreeMap<usize, [Option<u32>; 3]> = BTreeMap::new();
    for group in groups {
        for operand in group {
            let (Some(name), Some(cell)) = (&operand.block, operand.cell) else { continue };
            let Some(block) = layout.find(name) else { continue };
            let pattern = cell.map(Some);
            by_block
                .entry(block)
                .and_modify(|known| {
                    for axis in 0..3 {
                        if known[axis] != pattern[axis] {
                            known[axis] = None;
                        }
                    }
                })
                .or_insert(pattern);
        }
    }
    by_block
        .into_iter()
        .map(|(block, mut pattern)| {
            // A single cell would also light its row and column (the shader's rule for the hovered
            // cell); an axis one cell long is the same cell as "all of it", without them.
            if pattern.iter().all(Option::is_some) {
                for (axis, &cells) in layout.blocks[block].cells.iter().enumerate() {
                    if cells == 1 {
                        pattern[axis] = None;
                    }
                }
            }
            (block, pattern)
        })
        .collect()
}

/// Forgets hovered and pinned cells of a model that is no longer shown.
fn forget_old_scene(
    scene: Res<BlockScene>,
    mut shown: Local<Option<usize>>,
    mut hovered: ResMut<Hovered>,
    mut pinned: ResMut<Pinned>,
) {
    let layout = Arc::as_ptr(&scene.layout) as usize;
    if shown.is_some_and(|shown| shown != layout) {
        hovered.set_if_neq(Hovered::default());
        pinned.cells.clear();
    }
    *shown = Some(layout);
}

/// What lights columns besides the pointer in the scene: the pass shown (a decode step marks its
/// columns) and the token pointed at in the token strip.
#[derive(SystemParam)]
struct Marks<'w> {
    values: Res<'w, SceneValues>,
    pointed: Option<Res<'w, PointedToken>>,
}

/// The hovered cell (with its row and column) and its sources, then pinned cells, lit; blocks lit
/// before and no longer are cleared. Runs every frame, so it wins over a tour that resets styles.
/// Last come the marks of a decode step, in blocks that nothing else (a tour's focus) lights.
fn apply_focus(
    scene: Res<BlockScene>,
    hovered: Res<Hovered>,
    pinned: Res<Pinned>,
    marks: Marks,
    mut explanations: ResMut<Explanations>,
    mut styles: Query<&mut BlockStyle>,
    mut lit: Local<Vec<usize>>,
) {
    let Marks { values, pointed } = marks;
    let mut wanted = wanted_focus(&scene, &hovered, &pinned, &mut explanations);
    // A token pointed at in the token strip: its column in every block computed per position.
    if let Some(position) = pointed.and_then(|pointed| pointed.0) {
        for block in scene.layout.position_blocks() {
            wanted.entry(block).or_insert(Focus::cells([Some(position as u32), None, None], POINTED_FOCUS));
        }
    }
    for (block, focus) in step_focus(&scene.layout, values.activations.as_deref()) {
        let taken = scene.blocks.get(block).and_then(|&entity| styles.get(entity).ok()).and_then(|style| style.focus);
        if taken.is_none() || lit.contains(&block) {
            wanted.entry(block).or_insert(focus);
        }
    }
    let blocks = lit.iter().copied().chain(wanted.keys().copied());
    for block in blocks {
        let Some(&entity) = scene.blocks.get(block) else { continue };
        let Ok(mut style) = styles.get_mut(entity) else { continue };
        let focus = wanted.get(&block).copied();
        if style.focus != focus {
            // Drawn in this frame: the scene writes changed styles to the GPU in `PostUpdate`.
            style.focus = focus;
        }
    }
    *lit = wanted.into_keys().collect();
}

/// What the shown pass marks when it was a decode step: the new position in every computed block
/// (in attention scores, the new query's row over every key) and the cached positions of k and v.
pub fn step_focus(layout: &Layout, activations: Option<&Activations>) -> Vec<(usize, Focus)> {
    let Some(activations) = activations else { return Vec::new() };
    let marks = layout.step_marks(activations.tokens.len(), activations.cached);
    marks
        .into_iter()
        .map(|(block, mark)| match mark {
            layout::StepMark::Cached { columns } => {
                (block, Focus { cell: [Some(0), None, None], columns, strength: CACHED_FOCUS })
            }
            layout::StepMark::Computed { column } => (block, Focus::cells([Some(column), None, None], STEP_FOCUS)),
        })
        .collect()
}

/// Every block's focus, the hovered cell first, then its sources, then pinned cells.
pub fn wanted_focus(
    scene: &BlockScene,
    hovered: &Hovered,
    pinned: &Pinned,
    explanations: &mut Explanations,
) -> HashMap<usize, Focus> {
    let mut wanted: HashMap<usize, Focus> = HashMap::new();
    if let Some(cell) = hovered.cell {
        wanted.insert(cell.block, Focus::cells(cell.cell.map(Some), HOVERED_FOCUS));
        if let CardBody::Explained(explanation) = &*explanations.card(&scene.layout, cell) {
            for (block, pattern) in source_focus(&scene.layout, explanation) {
                wanted.entry(block).or_insert(Focus::cells(pattern, SOURCE_FOCUS));
            }
        }
    }
    for cell in &pinned.cells {
        let mut pattern = cell.cell.map(Some);
        for (axis, &cells) in scene.layout.blocks[cell.block].cells.iter().enumerate() {
            if cells == 1 {
                pattern[axis] = None;
            }
        }
        wanted.entry(cell.block).or_insert(Focus::cells(pattern, PINNED_FOCUS));
    }
    wanted
}

/// What the cards read: the scene, the cells hovered and pinned, their explanations, and where
/// the cells are on screen.
#[derive(SystemParam)]
struct Cards<'w, 's> {
    scene: Res<'w, BlockScene>,
    hovered: Res<'w, Hovered>,
    language: Option<Res<'w, crate::render::overlay::language::Language>>,
    pinned: ResMut<'w, Pinned>,
    explanations: ResMut<'w, Explanations>,
    camera: Query<'w, 's, (&'static Camera, &'static GlobalTransform), With<Camera3d>>,
    transforms: Query<'w, 's, &'static GlobalTransform>,
}

/// The hover card beside the pointer (or the hovered cell), and every pinned card beside its cell.
fn draw_cards(mut contexts: EguiContexts, mut cards: Cards) -> Result {
    let scene = &cards.scene;
    let Some((camera, camera_transform)) = cards.camera.iter().find(|(camera, _)| camera.is_active) else {
        return Ok(());
    };
    let language = cards.language.as_ref().map_or("en", |language| language.0);
    let ctx = contexts.ctx_mut()?;
    // Where a cell is on screen now, if it is in front of the camera.
    let transforms = &cards.transforms;
    let cell_on_screen = |cell: CellRef| -> Option<Pos2> {
        let transform = transforms.get(*scene.blocks.get(cell.block)?).ok()?;
        let point =
            camera.world_to_viewport(camera_transform, cell_center_world(&scene.layout, cell, transform)).ok()?;
        Some(Pos2::new(point.x, point.y))
    };
    let shown = ShownCards { ctx, layout: &scene.layout, language, cell_on_screen: &cell_on_screen };
    if let Some(number) = draw_pinned_cards(&shown, &cards.pinned, &mut cards.explanations) {
        cards.pinned.cells.remove(number);
    }
    draw_hover_card(&shown, &cards.hovered, &cards.pinned, &mut cards.explanations);
    Ok(())
}

/// Where cards are drawn and what with.
struct ShownCards<'a> {
    ctx: &'a egui::Context,
    layout: &'a Layout,
    language: &'a str,
    cell_on_screen: &'a dyn Fn(CellRef) -> Option<Pos2>,
}

impl ShownCards<'_> {
    /// A card's size as last drawn (cards of one kind are alike), to put it where it fits.
    fn last_size(&self, id: egui::Id) -> egui::Vec2 {
        self.ctx.memory(|memory| memory.area_rect(id)).map_or(egui::vec2(CARD_WIDTH + 20.0, 260.0), |rect| rect.size())
    }
}

/// Every pinned card beside its cell, with a leader to it; the number of the card whose close
/// button was clicked.
fn draw_pinned_cards(shown: &ShownCards, pinned: &Pinned, explanations: &mut ResMut<Explanations>) -> Option<usize> {
    let ctx = shown.ctx;
    let screen = ctx.content_rect();
    let mut unpin = None;
    for (number, &cell) in pinned.cells.iter().enumerate() {
        let Some(anchor) = (shown.cell_on_screen)(cell) else { continue };
        if !screen.expand(200.0).contains(anchor) {
            continue;
        }
        let body = explanations.card(shown.layout, cell);
        let words = CardWords { layout: shown.layout, language: shown.language, tokens: explanations.tokens() };
        let id = egui::Id::new(("pinned card", cell.block, cell.cell));
        let area = egui::Area::new(id).order(egui::Order::Foreground).fixed_pos(card_position(
            anchor,
            shown.last_size(id),
            screen,
        ));
        let response = area.show(ctx, |ui| card_frame(ui, true, |ui| card_contents(ui, words, cell, &body, true)));
        if response.inner {
            unpin = Some(number);
        }
        // A leader from the cell to the nearest point of its card.
        let card = response.response.rect;
        ctx.layer_painter(egui::LayerId::new(egui::Order::Middle, egui::Id::new("pin leaders")))
            .line_segment([anchor, card.clamp(anchor)], Stroke::new(1.5, Color32::from_gray(70)));
    }
    unpin
}

/// The hover card beside the pointer (or the hovered cell), unless that cell's card is pinned.
fn draw_hover_card(shown: &ShownCards, hovered: &Hovered, pinned: &Pinned, explanations: &mut ResMut<Explanations>) {
    let screen = shown.ctx.content_rect();
    let Some(cell) = hovered.cell else { return };
    if pinned.cells.contains(&cell) {
        return;
    }
    let Some(point) = hovered.pointer.map(|p| Pos2::new(p.x, p.y)).or_else(|| (shown.cell_on_screen)(cell)) else {
        return;
    };
    if !screen.contains(point) {
        return;
    }
    let body = explanations.card(shown.layout, cell);
    let words = CardWords { layout: shown.layout, language: shown.language, tokens: explanations.tokens() };
    let id = egui::Id::new("hover card");
    egui::Area::new(id)
        .order(egui::Order::Tooltip)
        .interactable(false)
        .fixed_pos(card_position(point, shown.last_size(id), screen))
        .show(shown.ctx, |ui| card_frame(ui, false, |ui| card_contents(ui, words, cell, &body, false)));
}

/// The top-left corner of a card of `size` beside `point`, not covering it where the screen has
/// room: to the right, else to the left, else below or above; then kept on screen.
pub fn card_position(point: Pos2, size: egui::Vec2, screen: egui::Rect) -> Pos2 {
    const GAP: f32 = 18.0;
    let room_right = screen.right() - point.x - GAP;
    let room_left = point.x - GAP - screen.left();
    let corner = if room_right >= size.x || room_left >= size.x {
        let x = if room_right >= size.x { point.x + GAP } else { point.x - GAP - size.x };
        // Beside the point: a little above it, so the eye reads down from the pointer.
        Pos2::new(x, point.y - size.y * 0.25)
    } else {
        let below = screen.bottom() - point.y - GAP >= point.y - GAP - screen.top();
        let y = if below { point.y + GAP } else { point.y - GAP - size.y };
        Pos2::new(point.x - size.x / 2.0, y)
    };
    let max = (screen.max - size).max(screen.min);
    corner.clamp(screen.min, max)
}

/// The card's frame, light whatever the app's theme.
fn card_frame<R>(ui: &mut egui::Ui, pinned: bool, contents: impl FnOnce(&mut egui::Ui) -> R) -> R {
    ui.style_mut().visuals = egui::Visuals::light();
    let stroke =
        if pinned { Stroke::new(1.5, Color32::from_gray(70)) } else { Stroke::new(1.0, Color32::from_gray(150)) };
    egui::Frame::new()
        .fill(CARD_FILL)
        .stroke(stroke)
        .corner_radius(6.0)
        .inner_margin(10.0)
        .shadow(egui::Shadow { offset: [2, 3], blur: 8, spread: 0, color: Color32::from_black_alpha(40) })
        .show(ui, |ui| {
            ui.set_max_width(CARD_WIDTH);
            contents(ui)
        })
        .inner
}

/// The colour of a block's family, as drawn (the layout's colours are sRGB).
fn family_swatch(family: layout::Family) -> Color32 {
    let [r, g, b] = family.rgb().map(|c| (c.clamp(0.0, 1.0) * 255.0).round() as u8);
    Color32::from_rgb(r, g, b)
}

fn swatch(ui: &mut egui::Ui, colour: Color32) {
    let (rect, _) = ui.allocate_exact_size(egui::vec2(12.0, 12.0), egui::Sense::hover());
    ui.painter().rect_filled(rect, 2.0, colour);
    ui.painter().rect_stroke(rect, 2.0, Stroke::new(1.0, Color32::from_gray(60)), egui::StrokeKind::Inside);
}

/// What an index name means.
fn index_meaning(name: &str) -> &'static str {
    match name {
        "t" => "token",
        "t2" => "key token",
        "c" => "channel",
        "a" => "channel in the head",
        "4c" => "MLP channel",
        "v" => "vocabulary entry",
        "h" => "head",
        "qkv" => "q, k or v",
        "out" => "output channel",
        "in" => "input channel",
        _ => "",
    }
}

/// A token in quotes: 'B', or GPT-2's " world" (its own quotes show its spaces).
fn quoted_token(config: &GptConfig, token: usize) -> String {
    let name = token_name(config, token);
    if name.starts_with('"') { name } else { format!("'{name}'") }
}

/// What a card's words are made with: the model's layout, the language shown and the input.
#[derive(Clone, Copy)]
struct CardWords<'a> {
    layout: &'a Layout,
    language: &'a str,
    tokens: &'a [usize],
}

/// "t = 2 (token 2, 'B')": an index with its meaning, and the token at a token position.
fn describe_index(words: CardWords, name: &str, value: usize) -> String {
    let (config, tokens) = (&words.layout.config, words.tokens);
    let meaning = crate::i18n::tr(words.language, index_meaning(name));
    match name {
        "t" | "t2" if value < tokens.len() => {
            format!("{name} = {value} ({meaning} {value}, {})", quoted_token(config, tokens[value]))
        }
        "v" => format!("{name} = {value} ({meaning} {})", quoted_token(config, value)),
        _ if meaning.is_empty() => format!("{name} = {value}"),
        _ => format!("{name} = {value} ({meaning})"),
    }
}

/// The card: block, indices, value, formula, sources with their colours; returns true when its
/// close button was clicked.
fn card_contents(ui: &mut egui::Ui, words: CardWords, cell: CellRef, body: &CardBody, pinned: bool) -> bool {
    let language = words.language;
    let block = &words.layout.blocks[cell.block];
    let mut close = false;
    ui.horizontal(|ui| {
        swatch(ui, family_swatch(block.family()));
        ui.label(egui::RichText::new(&block.name).strong().size(15.0).color(INK));
        if pinned {
            ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                close =
                    ui.small_button("×").on_hover_text(crate::i18n::tr(language, "unpin (Esc unpins all)")).clicked();
            });
        }
    });
    match body {
        CardBody::Explained(explanation) => explanation_ui(ui, words, explanation),
        CardBody::Masked(reason) => {
            cell_coordinates(ui, words, block, cell);
            ui.separator();
            ui.label(
                egui::RichText::new(crate::i18n::tr(language, "masked")).strong().color(Color32::from_rgb(150, 40, 30)),
            );
            ui.label(egui::RichText::new(reason).color(INK));
        }
        CardBody::StructureOnly => {
            cell_coordinates(ui, words, block, cell);
            ui.label(egui::RichText::new(format!("{} of {}", block.kind.as_str(), block.tensor)).color(MUTED));
            ui.label(
                egui::RichText::new("no weights ship for this preset: structure only, no values").italics().color(INK),
            );
        }
        CardBody::Waiting => {
            cell_coordinates(ui, words, block, cell);
            ui.label(egui::RichText::new(crate::i18n::tr(language, "running the model…")).italics().color(INK));
        }
        CardBody::Failed(message) => {
            cell_coordinates(ui, words, block, cell);
            ui.colored_label(Color32::DARK_RED, message);
        }
    }
    close
}

/// An explained cell: its indices and tensor, its value, the operation and its formula with the
/// numbers, and what it was computed from.
fn explanation_ui(ui: &mut egui::Ui, words: CardWords, explanation: &Explanation) {
    let index: Vec<String> = explanation
        .index_names
        .iter()
        .zip(&explanation.index)
        .map(|(name, &i)| describe_index(words, name, i))
        .collect();
    ui.label(egui::RichText::new(index.join(", ")).color(MUTED));
    ui.label(
        egui::RichText::new(format!("{}{:?}", explanation.tensor, explanation.index))
            .monospace()
            .size(11.0)
            .color(MUTED),
    );
    let value = match &explanation.backward {
        Some(_) => format!("∂L/∂cell = {}", crate::explain::backward::small(f64::from(explanation.value))),
        None => format!("= {:.4}", explanation.value),
    };
    ui.label(egui::RichText::new(value).strong().size(18.0).color(INK));
    ui.separator();
    // A Llama's stream starts as the token's embedding alone: its position enters inside attention.
    let title = match explanation.op {
        _ if explanation.backward.is_some() => explanation.backward.as_ref().map_or("", |backward| backward.rule),
        Op::Embedding if !explanation.operands.contains_key("position_embedding") => "token embedding",
        op => operation_title(op),
    };
    ui.label(egui::RichText::new(crate::i18n::tr(words.language, title)).strong().color(INK));
    ui.label(egui::RichText::new(&explanation.formula).monospace().size(12.0).color(INK));
    if explanation.op == Op::Gelu
        && explanation.backward.is_none()
        && let Some(x) = explanation.operands.get("x")
    {
        gelu_plot(ui, x.value, explanation.value);
    }
    sources_list(ui, words.layout, explanation, words.language);
}

/// The cell along the block's axes, where there is no explanation to give the tensor's indices.
fn cell_coordinates(ui: &mut egui::Ui, words: CardWords, block: &layout::Block, cell: CellRef) {
    let language = words.language;
    let mut parts: Vec<String> = Vec::new();
    if let Some(layer) = block.layer {
        parts.push(crate::i18n::fill(language, "layer {}", &[&layer]));
    }
    if let Some(head) = block.head {
        parts.push(crate::i18n::fill(language, "head {}", &[&head]));
    }
    for (axis, name) in block.axes.iter().enumerate() {
        if let Some(name) = name {
            parts.push(describe_index(words, name.as_str(), cell.cell[axis] as usize));
        }
    }
    ui.label(egui::RichText::new(parts.join(", ")).color(MUTED));
}

fn operation_title(op: Op) -> &'static str {
    match op {
        Op::Input => "input token",
        Op::Embedding => "token embedding + position embedding",
        Op::Matmul => "matrix multiply: bias + Σ a_i·w_i",
        Op::ResidualAdd => "residual add: a + b",
        Op::LnStats => "layer-norm statistic of the row",
        Op::LayerNorm => "layer norm: (x − μ) / σ · γ + β",
        Op::AttnScore => "attention score: q·k / sqrt(A)",
        Op::SoftmaxStats => "softmax statistic of the row",
        Op::Softmax => "softmax: exp(x − max) / Σ exp(x − max)",
        Op::Gelu => "GELU",
        Op::AttnValue => "weighted sum of V: Σ softmax · v",
        Op::Concat => "the heads' outputs side by side (Σ softmax · v of the head)",
        Op::Param => "a learned parameter",
        Op::RmsStats => "RMSNorm statistic of the row: √(mean(x²) + ε)",
        Op::RmsNorm => "RMSNorm: x / rms · γ",
        Op::Rope => "rotary position embedding: a pair of channels turned by t·θ",
        Op::SwiGlu => "SwiGLU: silu(gate) · up",
        Op::Lens => "logit lens: what the model would predict if it stopped here",
    }
}

/// What was read, colour-linked to its block: each role of the repeated terms (as a row or column)
/// and each single operand with its value.
fn sources_list(ui: &mut egui::Ui, layout: &Layout, explanation: &Explanation, language: &str) {
    if explanation.terms.is_empty() && explanation.operands.is_empty() {
        return;
    }
    ui.add_space(4.0);
    ui.label(egui::RichText::new(crate::i18n::tr(language, "computed from")).color(MUTED));
    let family_of = |operand: &Operand| -> Color32 {
        let family = operand.block.as_deref().and_then(|name| layout.block(name)).map(|block| block.family());
        // A tensor without a block of its own is a parameter (`tok_emb` reads wte).
        family_swatch(family.unwrap_or(layout::Family::Weight))
    };
    if let Some(first) = explanation.terms.first() {
        for (role, operand) in first {
            let (shown, total) = (explanation.terms.len(), explanation.terms_total);
            let where_drawn = operand.block.clone().unwrap_or_else(|| operand.tensor.clone());
            let count = if shown < total {
                crate::i18n::fill(language, "{} values (the {} largest lit)", &[&total, &shown])
            } else {
                crate::i18n::fill(language, "{} values", &[&total])
            };
            ui.horizontal(|ui| {
                swatch(ui, family_of(operand));
                ui.label(
                    egui::RichText::new(crate::i18n::fill(language, "{}: {} of {}", &[role, &count, &where_drawn]))
                        .color(INK),
                );
            });
        }
    }
    let mut operands: Vec<(&&str, &Operand)> = explanation.operands.iter().collect();
    operands
        .sort_by_key(|(role, _)| OPERAND_ORDER.iter().position(|known| known == *role).unwrap_or(OPERAND_ORDER.len()));
    for (role, operand) in operands {
        let where_drawn = operand.block.clone().unwrap_or_else(|| operand.tensor.clone());
        ui.horizontal(|ui| {
            swatch(ui, family_of(operand));
            ui.label(
                egui::RichText::new(format!("{role}: {where_drawn}{:?} = {:.4}", operand.index, operand.value))
                    .color(INK),
            );
        });
    }
}

/// A small plot of GELU over −4..4 with the cell's input marked.
fn gelu_plot(ui: &mut egui::Ui, x: f32, y: f32) {
    let (response, painter) = ui.allocate_painter(egui::vec2(200.0, 80.0), egui::Sense::hover());
    let rect = response.rect;
    let (x_range, y_range) = ((-4.0f32, 4.0f32), (-0.5f32, 4.0f32));
    let to_screen = |x: f32, y: f32| {
        Pos2::new(
            egui::lerp(rect.left()..=rect.right(), (x - x_range.0) / (x_range.1 - x_range.0)),
            egui::lerp(
                rect.bottom()..=rect.top(),
                (y.clamp(y_range.0, y_range.1) - y_range.0) / (y_range.1 - y_range.0),
            ),
        )
    };
    painter.rect_filled(rect, 2.0, Color32::WHITE);
    let axis = Stroke::new(1.0, Color32::from_gray(170));
    painter.line_segment([to_screen(x_range.0, 0.0), to_screen(x_range.1, 0.0)], axis);
    painter.line_segment([to_screen(0.0, y_range.0), to_screen(0.0, y_range.1)], axis);
    let curve: Vec<Pos2> = (0..=80)
        .map(|i| x_range.0 + (x_range.1 - x_range.0) * i as f32 / 80.0)
        .map(|x| to_screen(x, crate::explain::gelu(x)))
        .collect();
    painter.add(egui::Shape::line(curve, Stroke::new(2.0, Color32::from_rgb(60, 140, 60))));
    let marked = to_screen(x.clamp(x_range.0, x_range.1), y);
    painter.circle_filled(marked, 4.5, Color32::from_rgb(235, 100, 20));
    painter.text(
        rect.left_top() + egui::vec2(4.0, 2.0),
        Align2::LEFT_TOP,
        format!("x = {x:.3}"),
        egui::FontId::proportional(11.0),
        MUTED,
    );
}
