//! One frame's order, written once for every way of running the renderer: each room's systems
//! join a step, and the steps that need a scene to work on run only while there is one.

use bevy::camera::visibility::VisibilitySystems;
use bevy::prelude::*;
use bevy::transform::TransformSystems;
use bevy_egui::EguiPrimaryContextPass;

use crate::render::scene::blocks::BlockScene;

/// A frame's steps, in the order they run in each schedule.
#[derive(SystemSet, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FrameStep {
    // `Update`
    /// Keys, pointer and touch: the camera's controls, picking, the help's and the tour's keys.
    Input,
    /// What moves on by itself: a tour's player, the model and sampling it asks for, the language.
    Play,
    /// A new model's scene spawned, its forward pass started, its values received.
    Values,
    /// What follows from the scene and its values: the sampled output reshaped, the tour's
    /// calculations, what a new scene resets. Needs a scene.
    Derive,
    /// The tour's styles, camera, labels and flying copies. Needs a scene.
    Style,
    /// The pointer's lit cells, over what the tour styled. Needs a scene.
    Hover,
    /// What tells the outside how the frame went: the page's reports, the window's screenshot.
    Report,
    // `PostUpdate`
    /// The camera's transform from its view point, before transforms propagate.
    Place,
    /// Values and changed styles reach the GPU's buffers. Needs a scene.
    Upload,
    /// Descriptors written after the scene's own: the copies in flight. Needs a scene.
    Copies,
    /// Distant layers as proxy boxes, from the propagated camera, before visibility. Needs a scene.
    Detail,
    // egui's pass
    /// Visuals and fonts, before anything is drawn with them.
    Theme,
    /// The panels that take room from the scene: the tour's sidebar and its caption band.
    Panels,
    /// What sits on the scene beside its cells: labels, hover cards, the tour's notes and formulas.
    /// Needs a scene.
    Notes,
    /// The widgets in the room the panels leave: model bar and card, token strip, help.
    Widgets,
    /// Where the panels were drawn, from which the scene's free region follows.
    Measure,
}

/// Orders the steps in `Update`, `PostUpdate` and egui's pass.
pub struct FramePlugin;

impl Plugin for FramePlugin {
    fn build(&self, app: &mut App) {
        let scene = resource_exists::<BlockScene>;
        use FrameStep::*;
        app.configure_sets(
            Update,
            (Input, Play, Values, Derive.run_if(scene), Style.run_if(scene), Hover.run_if(scene), Report).chain(),
        )
        .configure_sets(
            PostUpdate,
            (
                Place.before(TransformSystems::Propagate),
                Upload.run_if(scene),
                Copies.run_if(scene),
                Detail.run_if(scene).after(TransformSystems::Propagate).before(VisibilitySystems::VisibilityPropagate),
            )
                .chain(),
        )
        .configure_sets(EguiPrimaryContextPass, (Theme, Panels, Notes.run_if(scene), Widgets, Measure).chain());
    }
}
