//! The tour room: playing a guided tour in the scene (the player, its tweens, its calculations and
//! flights, the side panel, the caption and the map of the model).

pub mod caption;
pub mod compute;
pub mod map;
pub mod panel;
pub mod player;
pub mod tweens;

use bevy::prelude::App;

/// What the tour shows through egui beside its cells: the formula panel and the focus notes.
pub fn add_tour_overlays(app: &mut App) {
    compute::add_formula_panel(app);
    panel::add_focus_notes(app);
}
