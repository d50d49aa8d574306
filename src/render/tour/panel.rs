//! The tour's sidebar, on the left as in the reference: the chapters, the commentary revealed as the
//! tour advances (links light up their blocks when hovered), "Press Space to continue", Continue and
//! Skip, a play button per step, the chapter's timeline to scrub, the speed, the language, and the
//! errors of a broken edit. It shows the player's state and changes it; the scene follows in
//! `tour_player`.
//! Focus notes are drawn beside their cells in the 3D view.

use bevy::ecs::system::SystemParam;
use bevy::prelude::*;
use bevy::window::RequestRedraw;
use bevy_egui::egui::{self, Color32, FontId, RichText, Stroke};
use bevy_egui::{EguiContexts, EguiPrimaryContextPass};

use crate::i18n::{LANGUAGES, fill, tr};
use crate::layout::CELL;
use crate::render::overlay::language::Language;
use crate::render::overlay::panels::SidePanelWidth;
use crate::render::scene::blocks::BlockScene;
use crate::render::scene::frame::FrameStep;
use crate::render::tour::player::{CurrentTourFrame, TourHover, TourState};
use crate::tour::{Cells, Span, link_targets, markup};

/// The sidebar's width in logical pixels.
pub const PANEL_WIDTH: f32 = 400.0;

const BLOCK_LINK: Color32 = Color32::from_rgb(30, 110, 200);
const DIM_LINK: Color32 = Color32::from_rgb(150, 80, 190);
const CHAPTER_LINK: Color32 = Color32::from_rgb(20, 140, 110);
const CURRENT_FRAME: Color32 = Color32::from_rgb(120, 170, 235);
const PILL: Color32 = Color32::from_rgb(190, 215, 245);

/// The notes of the tour's focus beside their cells, with or without the sidebar.
pub struct FocusNotesPlugin;

impl Plugin for FocusNotesPlugin {
    fn build(&self, app: &mut App) {
        app.add_systems(EguiPrimaryContextPass, focus_notes.in_set(FrameStep::Notes));
    }
}

/// The sidebar with the tour's text, and the scene framed in the room right of it.
pub struct PanelPlugin;

impl Plugin for PanelPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<SidePanelWidth>()
            .add_systems(EguiPrimaryContextPass, tour_panel.in_set(FrameStep::Panels))
            .add_systems(Update, centre_view_right_of_panel.in_set(FrameStep::Play));
    }
}

/// The scene's centre moves to the middle of the window's part right of the sidebar: the camera
/// sees a view as wide as the window plus the panel, of which the window shows the left part, so
/// the tour's camera poses frame what they show beside the commentary rather than under it.
fn centre_view_right_of_panel(
    panel: Res<SidePanelWidth>,
    window: Single<&Window, With<bevy::window::PrimaryWindow>>,
    mut camera: Single<&mut Camera, With<Camera3d>>,
) {
    let size = window.physical_size();
    let panel_px = (panel.0 * window.scale_factor()).round() as u32;
    let wanted = (panel_px > 0 && size.x > panel_px && size.y > 0).then(|| bevy::camera::SubCameraView {
        full_size: UVec2::new(size.x + panel_px, size.y),
        offset: Vec2::ZERO,
        size,
    });
    if camera.sub_camera_view != wanted {
        camera.sub_camera_view = wanted;
    }
}

/// What the reader asked for in the sidebar this frame; applied after drawing it.
#[derive(Default)]
struct Requests {
    open_chapter: Option<usize>,
    /// A chapter link clicked, by id.
    open_chapter_id: Option<String>,
    seek: Option<f32>,
    play_step: Option<usize>,
    jump_step: Option<usize>,
    continue_playing: bool,
    skip: bool,
    pause: bool,
    speed: Option<f32>,
    hover: Vec<usize>,
    language: Option<&'static str>,
}

/// What the sidebar changes besides the tour: the blocks its map lights, the width it took, the
/// language, and a redraw when any of it changed.
#[derive(SystemParam)]
struct PanelEffects<'w> {
    hover: ResMut<'w, TourHover>,
    width: ResMut<'w, SidePanelWidth>,
    redraw: MessageWriter<'w, RequestRedraw>,
    language: ResMut<'w, Language>,
}

impl PanelEffects<'_> {
    /// Applies what the reader asked for, once the panel has been drawn `shown_width` wide.
    fn apply_requests(&mut self, tour: &mut TourState, mut requests: Requests, shown_width: f32) {
        if self.width.0 != shown_width {
            self.width.0 = shown_width;
        }

        if self.hover.blocks != requests.hover {
            self.hover.blocks = std::mem::take(&mut requests.hover);
        }
        if let Some(chosen) = requests.language.take() {
            // `follow_language` translates the tour.
            self.language.0 = chosen;
            self.redraw.write(RequestRedraw);
        }
        let changed = apply(tour, requests);
        if changed {
            self.redraw.write(RequestRedraw);
        }
    }
}

fn tour_panel(
    mut contexts: EguiContexts,
    mut tour: ResMut<TourState>,
    scene: Option<Res<BlockScene>>,
    mut effects: PanelEffects,
) -> Result {
    let ctx = contexts.ctx_mut()?;
    let screen = ctx.content_rect();
    let frame = tour.frame();
    let mut requests = Requests::default();
    let layout = scene.as_ref().map(|scene| scene.layout.clone()).filter(|layout| layout.config.name == frame.model);

    let area = egui::Area::new(egui::Id::new(crate::render::overlay::panels::TOUR_PANEL))
        .fixed_pos(screen.left_top())
        .constrain(false)
        .order(egui::Order::Middle)
        .show(ctx, |ui| {
            egui::Frame::NONE
                .fill(Color32::from_gray(246))
                .stroke(Stroke::new(1.0, Color32::from_gray(210)))
                .inner_margin(egui::Margin::same(12))
                .show(ui, |ui| {
                    ui.set_width(PANEL_WIDTH - 24.0);
                    ui.set_height(screen.height() - 24.0);
                    chapter_bar(ui, &tour, &mut requests);
                    if let Some(layout) = layout.as_deref() {
                        map_section(ui, &tour, layout, &mut requests);
                    }
                    if !tour.errors.is_empty() {
                        errors(ui, tour.language(), &tour.errors);
                    }
                    let footer_height = 96.0;
                    let commentary_height = (ui.available_height() - footer_height).max(80.0);
                    egui::ScrollArea::vertical()
                        .max_height(commentary_height)
                        .auto_shrink([false, false])
                        .stick_to_bottom(true)
                        .show(ui, |ui| commentary(ui, &tour, &frame, layout.as_deref(), &mut requests));
                    footer(ui, &tour, &mut requests);
                });
        });
    effects.apply_requests(&mut tour, requests, area.response.rect.width());
    Ok(())
}

/// The list of chapters, every one a click away and the open one marked (folded at first: the map
/// below is the table of contents the reader sees), then ‹ Chapter: title ›.
fn chapter_bar(ui: &mut egui::Ui, tour: &TourState, requests: &mut Requests) {
    let count = tour.compiled.chapters.len();
    egui::CollapsingHeader::new(RichText::new(&tour.compiled.tour.title).strong())
        .id_salt("contents")
        .default_open(false)
        .show(ui, |ui| {
            for (index, chapter) in tour.compiled.chapters.iter().enumerate() {
                let text = format!("{}. {}", index + 1, chapter.title);
                if ui.selectable_label(index == tour.chapter, text).on_hover_text(&chapter.id).clicked() {
                    requests.open_chapter = Some(index);
                }
            }
        });
    language_menu(ui, tour, requests);
    ui.separator();
    ui.horizontal(|ui| {
        if ui
            .add_enabled(tour.chapter > 0, egui::Button::new(" ‹ "))
            .on_hover_text(tr(tour.language(), "Previous chapter"))
            .clicked()
        {
            requests.open_chapter = Some(tour.chapter - 1);
        }
        let title =
            fill(tour.language(), "Chapter {} of {}: {}", &[&(tour.chapter + 1), &count, &tour.timeline().title]);
        ui.add_sized([PANEL_WIDTH - 120.0, 20.0], egui::Label::new(RichText::new(title).strong()).truncate());
        if ui
            .add_enabled(tour.chapter + 1 < count, egui::Button::new(" › "))
            .on_hover_text(tr(tour.language(), "Next chapter"))
            .clicked()
        {
            requests.open_chapter = Some(tour.chapter + 1);
        }
    });
    ui.separator();
}

/// The languages llmviz speaks, the one shown selected; with a note when the tour has no
/// translation into it.
fn language_menu(ui: &mut egui::Ui, tour: &TourState, requests: &mut Requests) {
    ui.horizontal(|ui| {
        ui.label(tr(tour.language(), "Language"));
        let shown =
            LANGUAGES.iter().find(|(tag, _)| *tag == tour.language()).map_or(tour.language(), |(_, name)| *name);
        egui::ComboBox::from_id_salt("language").selected_text(shown).show_ui(ui, |ui| {
            for &(tag, name) in &LANGUAGES {
                if ui.selectable_label(tag == tour.language(), name).clicked() && tag != tour.language() {
                    requests.language = Some(tag);
                }
            }
        });
    });
    if let Some(note) = &tour.translation_note {
        ui.label(RichText::new(note).small().color(Color32::from_gray(110)));
    }
}

/// The map of the model, folding away like the contents: hovering a part lights its blocks,
/// clicking it opens its chapter.
fn map_section(ui: &mut egui::Ui, tour: &TourState, layout: &crate::layout::Layout, requests: &mut Requests) {
    let current = tour.compiled.tour.chapters[tour.chapter].id.clone();
    let has_chapter = |id: &str| tour.compiled.tour.chapter(id).is_some();
    egui::CollapsingHeader::new(RichText::new(tr(tour.language(), "Map of the model")).strong())
        .id_salt("map")
        .default_open(true)
        .show(ui, |ui| {
            let action = crate::render::tour::map::map_ui(ui, layout, tour.language(), &current, has_chapter);
            requests.hover.extend(action.hover);
            if let Some(id) = action.open {
                requests.open_chapter_id = Some(id.to_string());
            }
        });
    ui.separator();
}

/// The heading of the errors box, and its lines: the first errors, and how many more there are.
pub fn error_box(language: &str, errors: &[String]) -> (&'static str, Vec<String>) {
    const SHOWN: usize = 6;
    let mut lines: Vec<String> = errors.iter().take(SHOWN).cloned().collect();
    if errors.len() > SHOWN {
        lines.push(format!("… and {} more", errors.len() - SHOWN));
    }
    (tr(language, "The tour file does not load; still showing the last good version:"), lines)
}

fn errors(ui: &mut egui::Ui, language: &str, errors: &[String]) {
    let (heading, lines) = error_box(language, errors);
    egui::Frame::NONE.fill(Color32::from_rgb(253, 232, 232)).inner_margin(egui::Margin::same(6)).show(ui, |ui| {
        ui.colored_label(Color32::DARK_RED, RichText::new(heading).strong());
        for line in lines {
            ui.colored_label(Color32::DARK_RED, RichText::new(line).monospace().small());
        }
    });
    ui.add_space(4.0);
}

/// The paragraphs of the steps reached; the current step framed, with its controls.
fn commentary(
    ui: &mut egui::Ui,
    tour: &TourState,
    frame: &crate::tour::TourFrame,
    layout: Option<&crate::layout::Layout>,
    requests: &mut Requests,
) {
    let chapter = &tour.compiled.tour.chapters[tour.chapter];
    let timeline = tour.timeline();
    for (step_index, step) in chapter.steps.iter().enumerate().take(frame.step + 1) {
        let current = step_index == frame.step;
        // Read paragraphs are dimmed a little; the current one fades in.
        let alpha = if current { 0.6 + 0.4 * frame.text_in } else { 0.75 };
        let stroke = if current { Stroke::new(1.5, CURRENT_FRAME) } else { Stroke::NONE };
        let response =
            egui::Frame::NONE.stroke(stroke).corner_radius(4.0).inner_margin(egui::Margin::same(6)).show(ui, |ui| {
                ui.set_width(ui.available_width());
                ui.multiply_opacity(alpha);
                for paragraph in &step.text {
                    paragraph_ui(ui, paragraph, layout, requests);
                    ui.add_space(6.0);
                }
                for &(_, figure) in frame.figures.iter().filter(|(step, _)| *step == step_index) {
                    crate::render::overlay::figures::figure_ui(ui, figure);
                    ui.add_space(6.0);
                }
                step_controls(ui, tour, step_index, requests);
            });
        if current && tour.player.playing {
            response.response.scroll_to_me(Some(egui::Align::BOTTOM));
        }
    }
    // Paused with more to come (at a break, or where a deep link or a scrub left it).
    if !tour.player.playing && !tour.player.at_end(timeline) {
        ui.add_space(4.0);
        ui.vertical_centered(|ui| {
            let text = tr(
                tour.language(),
                if tour.player.time == 0.0 { "Press Space to start" } else { "Press Space to continue" },
            );
            egui::Frame::NONE.fill(PILL).corner_radius(12.0).inner_margin(egui::Margin::symmetric(12, 6)).show(
                ui,
                |ui| {
                    ui.label(RichText::new(text).color(Color32::from_gray(30)));
                },
            );
        });
    } else if tour.player.at_end(timeline) && tour.chapter + 1 < tour.compiled.chapters.len() {
        ui.add_space(4.0);
        ui.vertical_centered(|ui| {
            ui.label(
                RichText::new(tr(tour.language(), "End of the chapter: Space opens the next one."))
                    .italics()
                    .color(Color32::from_gray(90)),
            );
        });
    }
}

/// One paragraph: emphasis in italics, links coloured; hovering a block or dimension link lights
/// up its blocks, clicking a chapter link opens the chapter.
fn paragraph_ui(ui: &mut egui::Ui, paragraph: &str, layout: Option<&crate::layout::Layout>, requests: &mut Requests) {
    let spans = match markup::parse(paragraph) {
        Ok(spans) => spans,
        // `tour check` refuses these; shown plain rather than lost.
        Err(_) => vec![Span::Text(paragraph.to_string())],
    };
    ui.horizontal_wrapped(|ui| {
        ui.spacing_mut().item_spacing.x = 0.0;
        for span in &spans {
            let text = RichText::new(span.text()).size(15.0);
            match span {
                Span::Text(_) => {
                    ui.label(text.color(Color32::from_gray(30)));
                }
                Span::Emphasis(_) => {
                    ui.label(text.italics().color(Color32::from_gray(30)));
                }
                Span::Block { .. } | Span::Dim { .. } => {
                    let colour = if matches!(span, Span::Block { .. }) { BLOCK_LINK } else { DIM_LINK };
                    let response = ui.add(egui::Label::new(text.color(colour)).sense(egui::Sense::hover()));
                    if response.hovered()
                        && let Some(layout) = layout
                    {
                        requests.hover.extend(link_targets(span, layout));
                    }
                }
                Span::Chapter { id, .. } => {
                    let response =
                        ui.add(egui::Label::new(text.color(CHAPTER_LINK).underline()).sense(egui::Sense::click()));
                    if response.on_hover_cursor(egui::CursorIcon::PointingHand).clicked() {
                        // Links are checked against the tour's chapters when it loads.
                        requests.open_chapter_id = Some(id.clone());
                    }
                }
            }
        }
    });
}

/// Play runs the step from its first paragraph; "go to" goes to where its actions start.
fn step_controls(ui: &mut egui::Ui, tour: &TourState, step_index: usize, requests: &mut Requests) {
    let timeline = tour.timeline();
    let times = timeline.steps[step_index];
    ui.horizontal(|ui| {
        let playing_here = tour.player.playing && timeline.step_at(tour.player.time) == step_index;
        if playing_here {
            if ui.small_button(tr(tour.language(), "pause")).on_hover_text(tr(tour.language(), "Pause here")).clicked()
            {
                requests.pause = true;
            }
        } else if ui
            .small_button(tr(tour.language(), "▶ play"))
            .on_hover_text(tr(tour.language(), "Play this step from its start"))
            .clicked()
        {
            requests.play_step = Some(step_index);
        }
        if ui
            .small_button(tr(tour.language(), "go to"))
            .on_hover_text(tr(tour.language(), "Go to where this step's animation starts"))
            .clicked()
        {
            requests.jump_step = Some(step_index);
        }
        // How far through this step the tour is.
        let span = (times.end - times.start).max(1e-3);
        let progress = ((tour.player.time - times.start) / span).clamp(0.0, 1.0);
        ui.add(egui::ProgressBar::new(progress).desired_width(ui.available_width() - 60.0).desired_height(4.0));
        ui.label(RichText::new(format!("{:.1} s", times.end - times.start)).small().color(Color32::from_gray(120)));
    });
}

/// The chapter timeline, Continue and Skip, and the speed.
fn footer(ui: &mut egui::Ui, tour: &TourState, requests: &mut Requests) {
    let timeline = tour.timeline();
    ui.separator();
    ui.horizontal(|ui| {
        let mut time = tour.player.time;
        ui.spacing_mut().slider_width = PANEL_WIDTH - 130.0;
        let slider = egui::Slider::new(&mut time, 0.0..=timeline.length.max(1e-3)).show_value(false);
        if ui.add(slider).on_hover_text(tr(tour.language(), "Drag to scrub the chapter")).changed() {
            requests.seek = Some(time);
        }
        ui.label(RichText::new(format!("{:.1} / {:.1} s", tour.player.time, timeline.length)).small());
    });
    ui.horizontal(|ui| {
        let continue_text =
            tr(tour.language(), if tour.player.playing { "Continue (Space): finish" } else { "Continue (Space)" });
        if ui.add_sized([PANEL_WIDTH - 120.0, 28.0], egui::Button::new(continue_text).fill(PILL)).clicked() {
            requests.continue_playing = true;
        }
        if ui
            .add_sized([70.0, 28.0], egui::Button::new(tr(tour.language(), "Skip")))
            .on_hover_text(tr(tour.language(), "Jump to the next pause"))
            .clicked()
        {
            requests.skip = true;
        }
    });
    ui.horizontal(|ui| {
        ui.label(tr(tour.language(), "speed"));
        for speed in [0.5, 1.0, 2.0, 4.0] {
            if ui.selectable_label(tour.player.speed == speed, format!("{speed}×")).clicked() {
                requests.speed = Some(speed);
            }
        }
        ui.label(RichText::new(tr(tour.language(), "Backspace: back")).small().color(Color32::from_gray(120)));
    });
}

/// Applies the sidebar's requests to the player; whether anything changed.
fn apply(tour: &mut TourState, requests: Requests) -> bool {
    let mut changed = false;
    let linked = requests.open_chapter_id.as_deref().and_then(|id| tour.compiled.tour.chapter(id));
    let open = requests.open_chapter.or(linked);
    if let Some(chapter) = open {
        // Re-selecting a chapter replays it, as in the reference.
        tour.open_chapter(chapter, true);
        changed = true;
    }
    if let Some(time) = requests.seek {
        tour.seek(time);
        changed = true;
    }
    if let Some(step) = requests.play_step {
        tour.play_step(step);
        changed = true;
    }
    if let Some(step) = requests.jump_step {
        tour.jump_to_step(step);
        changed = true;
    }
    if requests.pause {
        tour.player.playing = false;
        changed = true;
    }
    if requests.skip {
        tour.skip();
        changed = true;
    }
    if let Some(speed) = requests.speed {
        tour.player.speed = speed;
        changed = true;
    }
    if requests.continue_playing {
        tour.continue_playing();
        changed = true;
    }
    changed
}

/// The notes of the tour's focus, in dark tags above the cells they point at.
fn focus_notes(
    mut contexts: EguiContexts,
    applied: Res<CurrentTourFrame>,
    scene: Res<BlockScene>,
    camera: Single<(&Camera, &GlobalTransform), With<Camera3d>>,
    transforms: Query<&Transform>,
) -> Result {
    let Some(frame) = &applied.frame else { return Ok(()) };
    if frame.focus.iter().all(|focus| focus.note.is_none()) || scene.layout.config.name != frame.model {
        return Ok(());
    }
    let ctx = contexts.ctx_mut()?;
    let painter = ctx.layer_painter(egui::LayerId::new(egui::Order::Middle, egui::Id::new("tour notes")));
    let (camera, camera_transform) = *camera;
    for focus in &frame.focus {
        let (Some(note), Some(block)) = (&focus.note, scene.layout.blocks.get(focus.block)) else { continue };
        // Above the focused cells' top edge, moved with the block.
        let cell = match focus.cells {
            Cells::Column(x) | Cells::Cell(x, _) => [x, 0, 0],
            Cells::Columns(first, last) => [(first + last) / 2, 0, 0],
            Cells::Row(_) | Cells::All => [block.cells[0] / 2, 0, 0],
        };
        let mut point = Vec3::from(block.cell_center(cell));
        point.y = block.max()[1] + CELL;
        if let Some(entity) = scene.blocks.get(focus.block).copied()
            && let Ok(transform) = transforms.get(entity)
        {
            let min = Vec3::from(block.position);
            point += transform.translation - (min + Vec3::from(block.max())) / 2.0;
        }
        let Ok(screen) = camera.world_to_viewport(camera_transform, point) else { continue };
        let galley = painter.layout_no_wrap(note.clone(), FontId::proportional(14.0), Color32::WHITE);
        let tag = egui::Rect::from_center_size(
            egui::pos2(screen.x, screen.y - galley.size().y / 2.0 - 6.0),
            galley.size() + egui::vec2(10.0, 6.0),
        );
        painter.rect_filled(tag, 3.0, Color32::from_rgb(30, 60, 110));
        painter.galley(tag.min + egui::vec2(5.0, 3.0), galley, Color32::WHITE);
        let tip = tag.center_bottom();
        painter.add(egui::Shape::convex_polygon(
            vec![tip + egui::vec2(-5.0, 0.0), tip + egui::vec2(5.0, 0.0), tip + egui::vec2(0.0, 6.0)],
            Color32::from_rgb(30, 60, 110),
            Stroke::NONE,
        ));
    }
    Ok(())
}
