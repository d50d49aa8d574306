//! The camera that looks at the scene, shared by the window and the offscreen tools: a perspective
//! camera matching the layout's anchors (40° vertical field of view), no tonemapping (no LUTs are
//! built in) and no MSAA (on a software rasterizer it costs more than the whole scene).

use bevy::camera::Projection;
use bevy::core_pipeline::tonemapping::Tonemapping;
use bevy::prelude::*;
use bevy::render::view::Msaa;

use crate::layout::{ANCHOR_FOV_Y_DEGREES, Anchor, Layout};
use crate::render::scene::frame::FrameStep;
use crate::tour::CameraPose;

/// The background: white, as in the reference.
pub const BACKGROUND: Color = Color::srgb(0.985, 0.985, 0.985);

/// Where the camera is: it looks from `eye` at `target`, y up. Controls and tweens change this;
/// `apply_view` turns it into the camera's transform.
#[derive(Component, Clone, Copy, Debug, PartialEq)]
pub struct ViewPoint {
    pub eye: Vec3,
    pub target: Vec3,
}

impl From<Anchor> for ViewPoint {
    fn from(anchor: Anchor) -> ViewPoint {
        ViewPoint { eye: Vec3::from(anchor.eye), target: Vec3::from(anchor.target) }
    }
}

impl From<CameraPose> for ViewPoint {
    fn from(pose: CameraPose) -> ViewPoint {
        ViewPoint { eye: Vec3::from(pose.eye), target: Vec3::from(pose.target) }
    }
}

impl ViewPoint {
    pub fn distance(&self) -> f32 {
        (self.eye - self.target).length()
    }

    pub fn transform(&self) -> Transform {
        Transform::from_translation(self.eye).looking_at(self.target, Vec3::Y)
    }

    /// Interpolates eye and target, so a move between anchors keeps looking at something sensible.
    pub fn lerp(&self, to: &ViewPoint, t: f32) -> ViewPoint {
        ViewPoint { eye: self.eye.lerp(to.eye, t), target: self.target.lerp(to.target, t) }
    }

    /// Right, up and forward (y up).
    pub fn axes(&self) -> (Vec3, Vec3, Vec3) {
        let forward = (self.target - self.eye).normalize_or(Vec3::NEG_Z);
        let right = forward.cross(Vec3::Y).normalize_or(Vec3::X);
        (right, right.cross(forward), forward)
    }

    /// Moved sideways so that what is under the pointer (or a finger) stays under it, on a view
    /// `window_height` pixels tall.
    pub fn pan(&self, delta_px: Vec2, window_height: f32) -> ViewPoint {
        let (right, up, _) = self.axes();
        let world_per_px =
            2.0 * self.distance() * (ANCHOR_FOV_Y_DEGREES.to_radians() / 2.0).tan() / window_height.max(1.0);
        let shift = (-delta_px.x * right + delta_px.y * up) * world_per_px;
        ViewPoint { eye: self.eye + shift, target: self.target + shift }
    }

    /// The eye moved around the target, `ORBIT_DEGREES_PER_PX` a pixel, its elevation within
    /// ±`MAX_ELEVATION_DEGREES` so that the view never flips over the pole.
    pub fn orbit(&self, delta_px: Vec2) -> ViewPoint {
        let offset = self.eye - self.target;
        let radius = offset.length();
        let per_px = ORBIT_DEGREES_PER_PX.to_radians();
        let limit = MAX_ELEVATION_DEGREES.to_radians();
        let yaw = offset.x.atan2(offset.z) - delta_px.x * per_px;
        let elevation = ((offset.y / radius).asin() + delta_px.y * per_px).clamp(-limit, limit);
        let direction = Vec3::new(elevation.cos() * yaw.sin(), elevation.sin(), elevation.cos() * yaw.cos());
        ViewPoint { eye: self.target + radius * direction, target: self.target }
    }

    /// The same turn as `orbit`, about `pivot` instead of the target (the point under the cursor
    /// when the drag began): eye and target turn together with the camera, so `pivot` stays
    /// where it is on screen.
    pub fn orbit_about(&self, pivot: Vec3, delta_px: Vec2) -> ViewPoint {
        let turned = self.orbit(delta_px);
        let facing = |view: &ViewPoint| Transform::from_translation(view.eye).looking_at(view.target, Vec3::Y).rotation;
        let rotation = facing(&turned) * facing(self).inverse();
        ViewPoint { eye: pivot + rotation * (self.eye - pivot), target: pivot + rotation * (self.target - pivot) }
    }

    /// Eye and target moved `factor` of their way towards `focus` (below 1 is closer), so that
    /// `focus` stays where it is on screen; never nearer the target than `MIN_DISTANCE`.
    pub fn zoom(&self, focus: Vec3, factor: f32) -> ViewPoint {
        let eye = focus + (self.eye - focus) * factor;
        let target = focus + (self.target - focus) * factor;
        if (eye - target).length() > MIN_DISTANCE { ViewPoint { eye, target } } else { *self }
    }

    /// A view of a box from this view's direction, the whole box in frame.
    pub fn framing(&self, min: Vec3, max: Vec3) -> ViewPoint {
        let center = (min + max) / 2.0;
        let radius = (max - min).length() / 2.0;
        let (_, _, forward) = self.axes();
        let distance = radius / (ANCHOR_FOV_Y_DEGREES.to_radians() / 2.0).sin() * 1.1;
        ViewPoint { eye: center - forward * distance, target: center }
    }
}

/// How far a drag of one pixel orbits the view.
pub const ORBIT_DEGREES_PER_PX: f32 = 0.3;
/// How far above or below the target the eye may orbit.
pub const MAX_ELEVATION_DEGREES: f32 = 87.0;
/// How close zooming may bring the eye to the target.
pub const MIN_DISTANCE: f32 = 0.5;

/// Which view of a model to open on: its overview or a block's view.
#[derive(Clone, Debug, PartialEq)]
pub enum CameraChoice {
    Overview,
    Block(String),
}

impl CameraChoice {
    /// `overview` or `block:NAME`.
    pub fn parse(text: &str) -> Result<CameraChoice, CameraError> {
        match text.split_once(':') {
            None if text == "overview" => Ok(CameraChoice::Overview),
            Some(("block", name)) if !name.is_empty() => Ok(CameraChoice::Block(name.to_string())),
            _ => Err(CameraError::Form),
        }
    }

    pub fn view_point(&self, layout: &Layout) -> Result<ViewPoint, CameraError> {
        match self {
            CameraChoice::Overview => Ok(layout.overview.into()),
            CameraChoice::Block(name) => layout
                .block(name)
                .map(|block| block.anchor.into())
                .ok_or_else(|| CameraError::UnknownBlock(UnknownBlock::in_layout(layout, name))),
        }
    }
}

/// Why a text names no view, or a view is not in the model. The caller has the text, and says
/// where it came from.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CameraError {
    /// Neither `overview` nor `block:NAME`.
    #[error("expected 'overview' or 'block:NAME'")]
    Form,
    #[error(transparent)]
    UnknownBlock(#[from] UnknownBlock),
}

/// A block name the model's layout does not have, with a few of the names it has.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("model '{model}' has no block '{name}' (blocks are named like {})", .examples.join(", "))]
pub struct UnknownBlock {
    pub model: String,
    pub name: String,
    /// The layout's first few block names.
    pub examples: Vec<String>,
}

impl UnknownBlock {
    pub fn in_layout(layout: &Layout, name: &str) -> UnknownBlock {
        UnknownBlock {
            model: layout.config.name.clone(),
            name: name.to_string(),
            examples: layout.blocks.iter().take(4).map(|block| block.name.clone()).collect(),
        }
    }
}

/// The components of the scene camera, placed at `view`.
pub fn scene_camera(view: ViewPoint) -> impl Bundle {
    (
        Camera3d::default(),
        Projection::Perspective(PerspectiveProjection {
            fov: ANCHOR_FOV_Y_DEGREES.to_radians(),
            near: near_plane(view.distance()),
            // Only frustum culling uses it (Bevy's depth is reversed and infinite): beyond any model.
            far: 1.0e9,
            ..default()
        }),
        Tonemapping::None,
        Msaa::Off,
        view.transform(),
        view,
    )
}

/// Close enough not to clip what is looked at, far enough to keep depth precision for GPT-3's sizes.
pub fn near_plane(distance: f32) -> f32 {
    (distance * 1.0e-3).clamp(0.01, 100.0)
}

/// The camera placed by its `ViewPoint`: in every app, with or without the reader's controls.
pub struct ViewPointPlugin;

impl Plugin for ViewPointPlugin {
    fn build(&self, app: &mut App) {
        app.add_systems(PostUpdate, apply_view.in_set(FrameStep::Place));
    }
}

/// Keeps the camera's transform and near plane in step with its `ViewPoint`.
fn apply_view(mut cameras: Query<(&ViewPoint, &mut Transform, &mut Projection), Changed<ViewPoint>>) {
    for (view, mut transform, mut projection) in &mut cameras {
        *transform = view.transform();
        if let Projection::Perspective(perspective) = projection.as_mut() {
            perspective.near = near_plane(view.distance());
        }
    }
}
