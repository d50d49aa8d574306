//! Moving the camera in the window: orbit (right drag), pan (left drag), zoom towards the cursor
//! (wheel), WASD/QE to fly (Shift: faster), double-click a block to fly to it, Home for the overview.
//!
//! The camera's state is its `ViewPoint` (eye and target). Controls change it directly; flights
//! (`FlyTo`) are tweened with bevy_tweening, never jumps, and any control input stops a flight.
//! Mouse and keyboard only reach the camera when egui does not want them.

use std::time::Duration;

use bevy::input::mouse::{AccumulatedMouseMotion, AccumulatedMouseScroll, MouseScrollUnit};
use bevy::math::curve::EaseFunction;
use bevy::prelude::*;
use bevy::window::{PrimaryWindow, RequestRedraw};
use bevy_egui::input::EguiWantsInput;
use bevy_tweening::{Lens, Tween, TweenAnim, TweeningPlugin};

use super::scene::{Block, BlockScene, LodProxy};
use super::view::{ViewPoint, apply_view};
use crate::layout::ANCHOR_FOV_Y_DEGREES;

/// A press and release within this many pixels is a click; more is a drag.
pub const CLICK_SLOP_PX: f32 = 4.0;
/// Two clicks within this time and slop are a double click.
pub const DOUBLE_CLICK: Duration = Duration::from_millis(400);
/// How long a flight to a new view takes.
pub const FLIGHT: Duration = Duration::from_millis(1200);

/// Ask the camera to fly to a view (tours, the model switcher, Home, double-click).
#[derive(Message, Clone, Copy, Debug)]
pub struct FlyTo(pub ViewPoint);

/// A click in the 3D view (not a drag), in window coordinates; picking and the tour read these.
#[derive(Message, Clone, Copy, Debug)]
pub struct Click {
    pub position: Vec2,
    pub button: MouseButton,
    pub double: bool,
}

/// Where each button went down, whether it has moved past the slop since, and the last click.
#[derive(Resource, Default)]
struct PointerGesture {
    pressed_at: Vec<(MouseButton, Vec2, bool)>,
    last_click: Option<(Vec2, Duration)>,
}

pub struct CameraPlugin;

impl Plugin for CameraPlugin {
    fn build(&self, app: &mut App) {
        app.add_plugins(TweeningPlugin)
            .add_message::<FlyTo>()
            .add_message::<Click>()
            .init_resource::<PointerGesture>()
            .add_systems(
                Update,
                (
                    (track_clicks, orbit_and_pan, zoom_to_cursor).run_if(pointer_is_ours),
                    (fly_with_keys, go_home).run_if(keyboard_is_ours),
                    fly_to_double_clicked_block,
                    start_flights,
                    keep_redrawing_while_moving,
                )
                    .chain(),
            )
            .add_systems(PostUpdate, apply_view.before(TransformSystems::Propagate));
    }
}

fn pointer_is_ours(egui: Option<Res<EguiWantsInput>>) -> bool {
    egui.is_none_or(|egui| !egui.wants_any_pointer_input())
}

fn keyboard_is_ours(egui: Option<Res<EguiWantsInput>>) -> bool {
    egui.is_none_or(|egui| !egui.wants_keyboard_input())
}

/// Turns presses and releases into clicks: a release within `CLICK_SLOP_PX` of its press.
fn track_clicks(
    buttons: Res<ButtonInput<MouseButton>>,
    window: Single<&Window, With<PrimaryWindow>>,
    time: Res<Time<Real>>,
    mut gesture: ResMut<PointerGesture>,
    mut clicks: MessageWriter<Click>,
) {
    let Some(cursor) = window.cursor_position() else { return };
    for &button in buttons.get_just_pressed() {
        gesture.pressed_at.retain(|(b, ..)| *b != button);
        gesture.pressed_at.push((button, cursor, false));
    }
    for (_, start, moved) in &mut gesture.pressed_at {
        *moved |= start.distance(cursor) > CLICK_SLOP_PX;
    }
    for &button in buttons.get_just_released() {
        let Some(position) = gesture.pressed_at.iter().position(|(b, ..)| *b == button) else { continue };
        let (_, _, moved) = gesture.pressed_at.remove(position);
        if moved {
            continue;
        }
        let now = time.elapsed();
        let double = button == MouseButton::Left
            && gesture
                .last_click
                .is_some_and(|(at, when)| at.distance(cursor) <= CLICK_SLOP_PX && now - when <= DOUBLE_CLICK);
        gesture.last_click = if button == MouseButton::Left && !double { Some((cursor, now)) } else { None };
        clicks.write(Click { position: cursor, button, double });
    }
}

/// Right drag orbits around the target (0.3° per pixel, elevation within ±87°); left drag pans.
fn orbit_and_pan(
    mut commands: Commands,
    buttons: Res<ButtonInput<MouseButton>>,
    motion: Res<AccumulatedMouseMotion>,
    window: Single<&Window, With<PrimaryWindow>>,
    camera: Single<(Entity, &mut ViewPoint), With<Camera3d>>,
) {
    let delta = motion.delta;
    if delta == Vec2::ZERO {
        return;
    }
    let (entity, mut view) = camera.into_inner();
    if buttons.pressed(MouseButton::Right) || buttons.pressed(MouseButton::Middle) {
        commands.entity(entity).remove::<TweenAnim>();
        let offset = view.eye - view.target;
        let radius = offset.length();
        let yaw = offset.x.atan2(offset.z) - delta.x * 0.3_f32.to_radians();
        let elevation = ((offset.y / radius).asin() + delta.y * 0.3_f32.to_radians()).clamp(-87f32.to_radians(), 87f32.to_radians());
        view.eye = view.target + radius * Vec3::new(elevation.cos() * yaw.sin(), elevation.sin(), elevation.cos() * yaw.cos());
    } else if buttons.pressed(MouseButton::Left) {
        commands.entity(entity).remove::<TweenAnim>();
        let (right, up, _) = view_axes(&view);
        let world_per_px = 2.0 * view.distance() * (ANCHOR_FOV_Y_DEGREES.to_radians() / 2.0).tan() / window.height();
        let shift = (-delta.x * right + delta.y * up) * world_per_px;
        view.eye += shift;
        view.target += shift;
    }
}

/// The wheel zooms about the point under the cursor, at the target's depth, which stays put on screen.
fn zoom_to_cursor(
    mut commands: Commands,
    scroll: Res<AccumulatedMouseScroll>,
    window: Single<&Window, With<PrimaryWindow>>,
    camera: Single<(Entity, &Camera, &GlobalTransform, &mut ViewPoint), With<Camera3d>>,
) {
    let lines = match scroll.unit {
        MouseScrollUnit::Line => scroll.delta.y,
        MouseScrollUnit::Pixel => scroll.delta.y / 100.0,
    };
    if lines == 0.0 {
        return;
    }
    let (entity, camera, transform, mut view) = camera.into_inner();
    commands.entity(entity).remove::<TweenAnim>();
    let (_, _, forward) = view_axes(&view);
    let focus = window
        .cursor_position()
        .and_then(|cursor| camera.viewport_to_world(transform, cursor).ok())
        .and_then(|ray| {
            let depth = ray.intersect_plane(view.target, InfinitePlane3d::new(forward))?;
            Some(ray.get_point(depth))
        })
        .unwrap_or(view.target);
    let factor = 0.85_f32.powf(lines);
    let (eye, target) = (focus + (view.eye - focus) * factor, focus + (view.target - focus) * factor);
    if (eye - target).length() > 0.5 {
        *view = ViewPoint { eye, target };
    }
}

/// WASD moves in the view plane and along the view, QE down and up; Shift is four times faster.
fn fly_with_keys(
    mut commands: Commands,
    keys: Res<ButtonInput<KeyCode>>,
    time: Res<Time>,
    camera: Single<(Entity, &mut ViewPoint), With<Camera3d>>,
) {
    let (right, _, forward) = {
        let (_, view) = &*camera;
        view_axes(view)
    };
    let mut direction = Vec3::ZERO;
    for (key, step) in [
        (KeyCode::KeyW, forward),
        (KeyCode::KeyS, -forward),
        (KeyCode::KeyD, right),
        (KeyCode::KeyA, -right),
        (KeyCode::KeyE, Vec3::Y),
        (KeyCode::KeyQ, -Vec3::Y),
    ] {
        if keys.pressed(key) {
            direction += step;
        }
    }
    if direction == Vec3::ZERO {
        return;
    }
    let (entity, mut view) = camera.into_inner();
    commands.entity(entity).remove::<TweenAnim>();
    let fast = keys.any_pressed([KeyCode::ShiftLeft, KeyCode::ShiftRight]);
    // Speed scales with the distance to the target, so flying feels the same in nano and GPT-3.
    let speed = view.distance().max(1.0) * if fast { 2.0 } else { 0.5 };
    let shift = direction.normalize() * speed * time.delta_secs();
    view.eye += shift;
    view.target += shift;
}

fn go_home(keys: Res<ButtonInput<KeyCode>>, scene: Option<Res<BlockScene>>, mut flights: MessageWriter<FlyTo>) {
    if let Some(scene) = scene
        && keys.just_pressed(KeyCode::Home)
    {
        flights.write(FlyTo(scene.layout.overview.into()));
    }
}

/// A double click on a block (or a level-of-detail box) flies to its view.
fn fly_to_double_clicked_block(
    mut clicks: MessageReader<Click>,
    scene: Option<Res<BlockScene>>,
    camera: Single<(&Camera, &GlobalTransform, &ViewPoint), With<Camera3d>>,
    blocks: Query<(&Block, &ViewVisibility)>,
    proxies: Query<(&LodProxy, &ViewVisibility)>,
    mut flights: MessageWriter<FlyTo>,
) {
    let Some(scene) = scene else { return };
    let (camera, transform, view) = *camera;
    for click in clicks.read().filter(|click| click.double) {
        let Ok(ray) = camera.viewport_to_world(transform, click.position) else { continue };
        let mut nearest: Option<(f32, ViewPoint)> = None;
        for (block, visibility) in &blocks {
            if !visibility.get() {
                continue;
            }
            let block = &scene.layout.blocks[block.index as usize];
            if let Some(distance) = ray_box(ray, Vec3::from(block.position), Vec3::from(block.max()))
                && nearest.is_none_or(|(d, _)| distance < d)
            {
                nearest = Some((distance, block.anchor.into()));
            }
        }
        for (proxy, visibility) in &proxies {
            if !visibility.get() {
                continue;
            }
            let proxy = &scene.lod.proxies[proxy.index as usize];
            if let Some(distance) = ray_box(ray, proxy.min, proxy.max)
                && nearest.is_none_or(|(d, _)| distance < d)
            {
                nearest = Some((distance, frame_box(proxy.min, proxy.max, view)));
            }
        }
        if let Some((_, target)) = nearest {
            flights.write(FlyTo(target));
        }
    }
}

/// Starts a tween from where the camera is to each requested view (the last request wins).
fn start_flights(mut commands: Commands, mut flights: MessageReader<FlyTo>, camera: Single<(Entity, &ViewPoint), With<Camera3d>>) {
    let Some(FlyTo(to)) = flights.read().last().copied() else { return };
    let (entity, from) = *camera;
    let tween = Tween::new(EaseFunction::CubicInOut, FLIGHT, ViewPointLens { from: *from, to });
    commands.entity(entity).insert(TweenAnim::new(tween));
}

/// Reactive rendering sleeps until input arrives; a flight or a held key must keep frames coming.
fn keep_redrawing_while_moving(
    flights: Query<(), With<TweenAnim>>,
    keys: Res<ButtonInput<KeyCode>>,
    mut redraw: MessageWriter<RequestRedraw>,
) {
    let flying_by_keys = keys.any_pressed([KeyCode::KeyW, KeyCode::KeyA, KeyCode::KeyS, KeyCode::KeyD, KeyCode::KeyQ, KeyCode::KeyE]);
    if !flights.is_empty() || flying_by_keys {
        redraw.write(RequestRedraw);
    }
}

/// Interpolates eye and target together.
struct ViewPointLens {
    from: ViewPoint,
    to: ViewPoint,
}

impl Lens<ViewPoint> for ViewPointLens {
    fn lerp(&mut self, mut target: Mut<'_, ViewPoint>, ratio: f32) {
        *target = self.from.lerp(&self.to, ratio);
    }
}

/// Right, up and forward of a view (y up).
fn view_axes(view: &ViewPoint) -> (Vec3, Vec3, Vec3) {
    let forward = (view.target - view.eye).normalize_or(Vec3::NEG_Z);
    let right = forward.cross(Vec3::Y).normalize_or(Vec3::X);
    (right, right.cross(forward), forward)
}

/// Distance along the ray to the box, if it hits.
pub fn ray_box(ray: Ray3d, min: Vec3, max: Vec3) -> Option<f32> {
    let inverse = ray.direction.as_vec3().recip();
    let t1 = (min - ray.origin) * inverse;
    let t2 = (max - ray.origin) * inverse;
    let near = t1.min(t2).max_element();
    let far = t1.max(t2).min_element();
    (far >= near.max(0.0)).then_some(near.max(0.0))
}

/// A view of a box from the current viewing direction, the whole box in frame.
fn frame_box(min: Vec3, max: Vec3, current: &ViewPoint) -> ViewPoint {
    let center = (min + max) / 2.0;
    let radius = (max - min).length() / 2.0;
    let (_, _, forward) = view_axes(current);
    let distance = radius / (ANCHOR_FOV_Y_DEGREES.to_radians() / 2.0).sin() * 1.1;
    ViewPoint { eye: center - forward * distance, target: center }
}
