//! Moving the camera in the window: orbit about the point under the cursor (right drag), pan
//! (left drag), zoom towards the cursor (wheel), WASD/QE to fly (Shift: faster), double-click a block to fly to it, Home for the overview;
//! on a touch screen (`TouchCameraPlugin`), one finger pans, two orbit and pinch-zoom, a tap clicks.
//!
//! The camera's state is its `ViewPoint` (eye and target), whose methods do the geometry of each
//! move. Controls change it directly; flights
//! (`FlyTo`) are tweened with bevy_tweening, never jumps, and any control input stops a flight.
//! Mouse and keyboard only reach the camera when egui does not want them.

use std::time::Duration;

use bevy::input::InputSystems;
use bevy::input::mouse::{AccumulatedMouseMotion, AccumulatedMouseScroll, MouseScrollUnit};
use bevy::math::curve::EaseFunction;
use bevy::prelude::*;
use bevy::window::{PrimaryWindow, RequestRedraw};
use bevy_egui::input::EguiWantsInput;
use bevy_tweening::{Lens, Tween, TweenAnim, TweeningPlugin};

use crate::render::scene::blocks::{BlockScene, LodProxy, SceneBlock};
use crate::render::scene::frame::FrameStep;
use crate::render::view::viewpoint::ViewPoint;

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
                    .chain()
                    .in_set(FrameStep::Input),
            );
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

/// Right drag orbits about the point under the cursor where the drag began (the target when no
/// block is there); left drag pans.
fn orbit_and_pan(
    mut commands: Commands,
    buttons: Res<ButtonInput<MouseButton>>,
    motion: Res<AccumulatedMouseMotion>,
    window: Single<&Window, With<PrimaryWindow>>,
    scene: Option<Res<BlockScene>>,
    camera: Single<(Entity, &Camera, &GlobalTransform, &mut ViewPoint), With<Camera3d>>,
    mut pivot: Local<Option<Vec3>>,
) {
    let (entity, camera, transform, mut view) = camera.into_inner();
    if buttons.any_just_pressed([MouseButton::Right, MouseButton::Middle]) {
        let ray = window.cursor_position().and_then(|cursor| camera.viewport_to_world(transform, cursor).ok());
        let blocks = scene.as_ref().map_or(&[][..], |scene| &scene.layout.blocks[..]);
        *pivot = ray.and_then(|ray| surface_under(blocks, ray));
    }
    let delta = motion.delta;
    if delta == Vec2::ZERO {
        return;
    }
    if buttons.pressed(MouseButton::Right) || buttons.pressed(MouseButton::Middle) {
        commands.entity(entity).remove::<TweenAnim>();
        *view = match *pivot {
            Some(pivot) => view.orbit_about(pivot, delta),
            None => view.orbit(delta),
        };
    } else if buttons.pressed(MouseButton::Left) {
        commands.entity(entity).remove::<TweenAnim>();
        *view = view.pan(delta, crate::render::view::free_region::frame_height(camera, window.height()));
    }
}

/// The wheel zooms about the point under the cursor, which stays put on screen.
fn zoom_to_cursor(
    mut commands: Commands,
    scroll: Res<AccumulatedMouseScroll>,
    window: Single<&Window, With<PrimaryWindow>>,
    scene: Option<Res<BlockScene>>,
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
    let ray = window.cursor_position().and_then(|cursor| camera.viewport_to_world(transform, cursor).ok());
    let blocks = scene.as_ref().map_or(&[][..], |scene| &scene.layout.blocks[..]);
    *view = wheel_zoom(blocks, &view, ray, lines);
}

/// The point under `position` (window coordinates) at the depth of the view's target, which a
/// pinch keeps in place.
fn focus_at(camera: &Camera, transform: &GlobalTransform, view: &ViewPoint, position: Vec2) -> Vec3 {
    let (_, _, forward) = view.axes();
    camera
        .viewport_to_world(transform, position)
        .ok()
        .and_then(|ray| Some(ray.get_point(ray.intersect_plane(view.target, InfinitePlane3d::new(forward))?)))
        .unwrap_or(view.target)
}

/// How far beside a block the cursor may be for the wheel to zoom to it: about 12 pixels of a
/// 720-pixel view. A model seen whole is often a few pixels wide (GPT-2's column), and a zoom
/// about a point a pixel beside it pushes it off the screen.
const NEAR_MISS_RADIANS: f32 = 0.012;

/// The point of the block nearest the cursor's ray, when one passes within `NEAR_MISS_RADIANS`.
fn near_miss(blocks: &[crate::layout::Block], ray: Ray3d) -> Option<Vec3> {
    let direction = ray.direction.as_vec3();
    blocks
        .iter()
        .map(|block| {
            let (min, max) = (Vec3::from(block.position), Vec3::from(block.max()));
            let along = (((min + max) / 2.0 - ray.origin).dot(direction)).max(f32::EPSILON);
            let passing = ray.get_point(along);
            let point = passing.clamp(min, max);
            ((point - passing).length() / along, point)
        })
        .filter(|&(angle, _)| angle < NEAR_MISS_RADIANS)
        .min_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, point)| point)
}

/// Where the cursor's `ray` first meets a block, or the nearest point of a block it passes just
/// beside (`near_miss`): what the wheel zooms towards and a right drag turns about.
pub fn surface_under(blocks: &[crate::layout::Block], ray: Ray3d) -> Option<Vec3> {
    blocks
        .iter()
        .filter_map(|block| ray_box(ray, Vec3::from(block.position), Vec3::from(block.max())))
        .filter(|&distance| distance > 0.0)
        .min_by(f32::total_cmp)
        .map(|distance| ray.get_point(distance))
        .or_else(|| near_miss(blocks, ray))
}

/// How near a zoom brings the eye to the surface under the cursor: two cells.
pub const NEAREST_SURFACE: f32 = 2.0 * crate::layout::CELL;

/// The view after `lines` wheel steps (positive zooms in) with the cursor's `ray`: towards the
/// first block the ray meets, so that the eye stays in front of it, never nearer than
/// `NEAREST_SURFACE` (zooming towards the target's depth instead, as before, let a hundred steps
/// carry the eye into the model and past it); where the ray meets no block, towards the point
/// under the cursor at the target's depth.
pub fn wheel_zoom(blocks: &[crate::layout::Block], view: &ViewPoint, ray: Option<Ray3d>, lines: f32) -> ViewPoint {
    let factor = 0.85_f32.powf(lines);
    let Some(ray) = ray else { return view.zoom(view.target, factor) };
    match surface_under(blocks, ray) {
        Some(focus) => {
            let reach = (focus - view.eye).length();
            let nearest = (NEAREST_SURFACE / reach.max(f32::EPSILON)).min(1.0);
            view.zoom(focus, factor.max(nearest))
        }
        None => {
            let (_, _, forward) = view.axes();
            let depth = ray.intersect_plane(view.target, InfinitePlane3d::new(forward));
            view.zoom(depth.map_or(view.target, |depth| ray.get_point(depth)), factor)
        }
    }
}

/// WASD moves in the view plane and along the view, QE down and up; Shift is four times faster.
fn fly_with_keys(
    mut commands: Commands,
    keys: Res<ButtonInput<KeyCode>>,
    time: Res<Time>,
    camera: Single<(Entity, &mut ViewPoint), With<Camera3d>>,
) {
    let (right, _, forward) = camera.1.axes();
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
    blocks: Query<(&SceneBlock, &ViewVisibility)>,
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
                nearest = Some((distance, view.framing(proxy.min, proxy.max)));
            }
        }
        if let Some((_, target)) = nearest {
            flights.write(FlyTo(target));
        }
    }
}

/// Starts a tween from where the camera is to each requested view (the last request wins).
fn start_flights(
    mut commands: Commands,
    mut flights: MessageReader<FlyTo>,
    camera: Single<(Entity, &ViewPoint), With<Camera3d>>,
) {
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
    let flying_by_keys =
        keys.any_pressed([KeyCode::KeyW, KeyCode::KeyA, KeyCode::KeyS, KeyCode::KeyD, KeyCode::KeyQ, KeyCode::KeyE]);
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

/// A touch that ends within this many pixels of where it started is a tap.
pub const TAP_SLOP_PX: f32 = 10.0;
/// Two taps this close in time and place are a double tap (which, as a double click, flies to a block).
pub const DOUBLE_TAP: std::time::Duration = std::time::Duration::from_millis(400);

/// Touch controls for the camera (touch screens and the browser), the same moves as the mouse's: one finger pans (left drag), two
/// fingers orbit with their midpoint (right drag) and zoom as they spread or pinch (wheel), and a
/// tap is a left click, which picks.
pub struct TouchCameraPlugin;

impl Plugin for TouchCameraPlugin {
    fn build(&self, app: &mut App) {
        // Before `Update`, so that a tap's click and the picking of the cell under the finger (see
        // `render::view::pick`) meet in the same frame.
        app.init_resource::<TouchGesture>()
            .add_systems(PreUpdate, (touch_camera, touch_taps).chain().after(InputSystems));
    }
}

/// The gesture in progress: whether a second finger took part (then lifting is not a tap), where
/// each finger was when the camera last followed it, and the last tap, for double taps.
#[derive(Resource, Default)]
struct TouchGesture {
    multi_touch: bool,
    /// Bevy's `Touch::previous_position` moves on only in frames that bring touch events, so a
    /// frame without one would repeat the last move: the camera follows these instead.
    followed: std::collections::HashMap<u64, Vec2>,
    last_tap: Option<(Vec2, std::time::Duration)>,
}

impl TouchGesture {
    /// Where `touch` was when the camera last followed it; where it is now for a new finger.
    fn previous(&self, touch: &bevy::input::touch::Touch) -> Vec2 {
        self.followed.get(&touch.id()).copied().unwrap_or(touch.position())
    }
}

/// What two fingers did between two frames: how far their midpoint moved (pixels), and how much
/// closer the camera should get (their previous spacing over their current: below 1 as they spread).
pub fn two_finger_motion(previous: [Vec2; 2], current: [Vec2; 2]) -> (Vec2, f32) {
    let midpoint = |[a, b]: [Vec2; 2]| (a + b) / 2.0;
    let spacing = |[a, b]: [Vec2; 2]| a.distance(b).max(1.0);
    (midpoint(current) - midpoint(previous), spacing(previous) / spacing(current))
}

/// One finger pans, two orbit and zoom about what is between them.
fn touch_camera(
    mut commands: Commands,
    touches: Res<Touches>,
    egui: Option<Res<EguiWantsInput>>,
    window: Single<&Window, With<PrimaryWindow>>,
    camera: Single<(Entity, &Camera, &GlobalTransform, &mut ViewPoint), With<Camera3d>>,
    mut gesture: ResMut<TouchGesture>,
    mut redraw: MessageWriter<RequestRedraw>,
) {
    let down: Vec<_> = touches.iter().collect();
    if egui.is_some_and(|egui| egui.wants_any_pointer_input()) {
        // A finger on the panel moves nothing, and moves nothing when it comes back to the scene.
        gesture.followed = down.iter().map(|touch| (touch.id(), touch.position())).collect();
        return;
    }
    if down.len() >= 2 {
        gesture.multi_touch = true;
    }
    let (entity, camera, camera_transform, mut view) = camera.into_inner();
    let moved = match down.as_slice() {
        [finger] if !gesture.multi_touch => {
            let delta = finger.position() - gesture.previous(finger);
            let height = crate::render::view::free_region::frame_height(camera, window.height());
            (delta != Vec2::ZERO).then(|| view.pan(delta, height))
        }
        [a, b, ..] => {
            let (midpoint_delta, factor) =
                two_finger_motion([gesture.previous(a), gesture.previous(b)], [a.position(), b.position()]);
            let focus = focus_at(camera, camera_transform, &view, (a.position() + b.position()) / 2.0);
            (midpoint_delta != Vec2::ZERO || factor != 1.0).then(|| view.orbit(midpoint_delta).zoom(focus, factor))
        }
        _ => None,
    };
    gesture.followed = down.iter().map(|touch| (touch.id(), touch.position())).collect();
    if let Some(moved) = moved {
        // A finger on the scene takes over from a flight, as the mouse does.
        commands.entity(entity).remove::<TweenAnim>();
        *view = moved;
        redraw.write(RequestRedraw);
    }
}

/// A finger lifted where it went down, with no second finger in the gesture, is a tap: a left
/// click, or a double click when it follows another tap closely.
fn touch_taps(
    touches: Res<Touches>,
    time: Res<Time<Real>>,
    egui: Option<Res<EguiWantsInput>>,
    mut gesture: ResMut<TouchGesture>,
    mut clicks: MessageWriter<Click>,
) {
    if egui.is_some_and(|egui| egui.wants_any_pointer_input()) {
        return;
    }
    for touch in touches.iter_just_released() {
        let tap = !gesture.multi_touch && touch.distance().length() <= TAP_SLOP_PX;
        if tap {
            let now = time.elapsed();
            let position = touch.position();
            let double = gesture
                .last_tap
                .is_some_and(|(at, when)| at.distance(position) <= 2.0 * TAP_SLOP_PX && now - when <= DOUBLE_TAP);
            gesture.last_tap = if double { None } else { Some((position, now)) };
            clicks.write(Click { position, button: MouseButton::Left, double });
        }
    }
    if touches.iter().next().is_none() {
        gesture.multi_touch = false;
    }
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
