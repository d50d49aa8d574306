//! Where the panels sit: what the overlays keep clear of and what they show, written by the rooms
//! above (the tour's side panel and frame) and read here, so that no overlay reads the tour.

use bevy::prelude::*;

/// How wide the side panel is on screen (0 when there is none): the overlays keep clear of it.
#[derive(Resource, Clone, Copy, Debug, Default, PartialEq)]
pub struct SidePanelWidth(pub f32);

/// Whether the scene's section and dimension labels show, as the tour says (true without a tour).
#[derive(Resource, Clone, Copy, Debug, PartialEq, Eq)]
pub struct SceneLabels(pub bool);

impl Default for SceneLabels {
    fn default() -> SceneLabels {
        SceneLabels(true)
    }
}
