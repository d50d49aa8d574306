//! The overlay room: the egui widgets over the scene (model card, hover card, token strip,
//! sampling, live input, switching parts off, language menu, figures).

pub mod figures;
// Gradients come from burn's autodiff, which the page's build leaves out.
#[cfg(not(target_arch = "wasm32"))]
pub mod gradients;
pub mod hover;
pub mod language;
pub mod live_input;
pub mod panels;
pub mod sampling;
pub mod switch_off;
pub mod token_strip;
pub mod ui;

use bevy::app::{PluginGroup, PluginGroupBuilder};

/// The widgets over the scene and the language they speak: the window's, the page's and the soak's.
pub struct OverlayPlugins;

impl PluginGroup for OverlayPlugins {
    fn build(self) -> PluginGroupBuilder {
        let group = PluginGroupBuilder::start::<Self>()
            .add(ui::UiPlugin)
            .add(hover::HoverPlugin)
            .add(language::LanguagePlugin)
            .add(sampling::SamplingPlugin)
            .add(switch_off::SwitchOffPlugin);
        #[cfg(not(target_arch = "wasm32"))]
        let group = group.add(live_input::CheckpointsPlugin);
        group
    }
}
