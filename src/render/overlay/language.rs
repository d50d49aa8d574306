//! The language the app speaks: its own words (`crate::i18n`), the tour's texts (its
//! translation) and the fonts that draw them, Chinese included, natively and in the page.

use std::sync::Arc;

use bevy::prelude::*;
use bevy_egui::egui;

use crate::i18n;

/// The language shown, as an `i18n::LANGUAGES` tag; the tour follows it.
#[derive(Resource, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Language(pub &'static str);

impl Default for Language {
    /// The system's language where llmviz speaks it, else English.
    fn default() -> Language {
        Language(i18n::system_language().unwrap_or("en"))
    }
}

impl Language {
    pub fn tr(self, text: &'static str) -> &'static str {
        i18n::tr(self.0, text)
    }

    pub fn fill(self, template: &'static str, values: &[&dyn std::fmt::Display]) -> String {
        i18n::fill(self.0, template, values)
    }
}

/// Noto Sans CJK SC cut down to the characters llmviz writes in Chinese (`fonts/README.md`).
pub const CJK_FONT: &[u8] = include_bytes!("../../../fonts/NotoSansCJKsc-llmviz.otf");

/// Adds the Chinese font after the fonts egui already has, so Latin text keeps its look and
/// Chinese characters find their glyphs in it.
pub fn add_cjk_font(fonts: &mut egui::FontDefinitions) {
    fonts.font_data.insert("Noto Sans CJK SC".into(), Arc::new(egui::FontData::from_static(CJK_FONT)));
    for family in [egui::FontFamily::Proportional, egui::FontFamily::Monospace] {
        fonts.families.entry(family).or_default().push("Noto Sans CJK SC".into());
    }
}

/// Whether egui gets the Chinese font: always, but a test takes it away to see that Chinese text
/// is drawn with it (and is boxes without it).
#[derive(Resource, Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChineseFont(pub bool);

impl Default for ChineseFont {
    fn default() -> ChineseFont {
        ChineseFont(true)
    }
}

/// The language shown, and the native app's fonts (the tour follows the language in its own room).
pub struct LanguagePlugin;

impl Plugin for LanguagePlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<Language>().init_resource::<ChineseFont>();
        #[cfg(not(target_arch = "wasm32"))]
        app.add_systems(
            bevy_egui::EguiPrimaryContextPass,
            native_fonts.in_set(crate::render::scene::frame::FrameStep::Theme),
        );
    }
}

/// egui's own fonts with the Chinese one after them, set once, before the first text is drawn.
#[cfg(not(target_arch = "wasm32"))]
fn native_fonts(mut contexts: bevy_egui::EguiContexts, chinese: Res<ChineseFont>, mut done: Local<bool>) -> Result {
    if !*done {
        let mut fonts = egui::FontDefinitions::default();
        if chinese.0 {
            add_cjk_font(&mut fonts);
        }
        contexts.ctx_mut()?.set_fonts(fonts);
        *done = true;
    }
    Ok(())
}
