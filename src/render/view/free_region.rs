//! The scene's free region: the largest part of the window that no panel covers.
//!
//! Every framing (the overview, Home, a double-click, a tour's camera move) is a view made for a
//! whole 16:9 frame (`layout::anchor`). The camera draws that frame into the free region instead of
//! the whole window, through an off-centre projection (Bevy's `SubCameraView`): what a view frames
//! lies in the free region, never under a panel, and the scene still fills the window around it.
//! The overlay room measures its panels each frame (`PanelRects`); this room turns them into the
//! region and eases the camera's frame towards it, so a panel that opens moves the scene smoothly.

use bevy::camera::SubCameraView;
use bevy::prelude::*;
use bevy::window::RequestRedraw;

use crate::layout::ANCHOR_ASPECT;
use crate::render::scene::frame::FrameStep;

/// Where the panels are on screen this frame, in logical pixels of the window.
#[derive(Resource, Clone, Debug, Default, PartialEq)]
pub struct PanelRects(pub Vec<Rect>);

/// The frame a view is drawn into: the largest 16:9 rectangle centred in the free region, in
/// logical pixels; None draws views into the whole window (no panels: offscreen pictures).
#[derive(Resource, Clone, Copy, Debug, Default, PartialEq)]
pub struct SceneFrame {
    /// Where the frame is going.
    pub target: Option<Rect>,
    /// Where it is drawn now, on its way to `target`.
    pub shown: Option<Rect>,
}

/// Keeps clear of the window's edges and of the panels by this much.
const MARGIN_PX: f32 = 8.0;
/// Each frame the drawn frame moves this share of the way to its target.
const EASING: f32 = 0.25;

/// The largest rectangle of `window` that overlaps none of `panels`. Its edges are the window's
/// and the panels' edges, so each pair of left and right edges is tried with each pair of top and
/// bottom edges: a few hundred candidates for a handful of panels.
pub fn largest_free_rect(window: Rect, panels: &[Rect]) -> Rect {
    let panels: Vec<Rect> = panels.iter().map(|panel| panel.intersect(window)).filter(|p| !p.is_empty()).collect();
    let mut xs: Vec<f32> = vec![window.min.x, window.max.x];
    let mut ys: Vec<f32> = vec![window.min.y, window.max.y];
    for panel in &panels {
        xs.extend([panel.min.x, panel.max.x]);
        ys.extend([panel.min.y, panel.max.y]);
    }
    let mut best = Rect::from_corners(window.min, window.min);
    for &left in &xs {
        for &right in xs.iter().filter(|&&right| right > left) {
            for &top in &ys {
                for &bottom in ys.iter().filter(|&&bottom| bottom > top) {
                    let candidate = Rect::new(left, top, right, bottom);
                    if area(candidate) > area(best) && panels.iter().all(|panel| panel.intersect(candidate).is_empty())
                    {
                        best = candidate;
                    }
                }
            }
        }
    }
    best
}

fn area(rect: Rect) -> f32 {
    rect.width() * rect.height()
}

/// The largest rectangle of `aspect` (width / height) centred in `region`.
pub fn fit_aspect(region: Rect, aspect: f32) -> Rect {
    let size = if region.width() > region.height() * aspect {
        Vec2::new(region.height() * aspect, region.height())
    } else {
        Vec2::new(region.width(), region.width() / aspect)
    };
    Rect::from_center_size(region.center(), size)
}

/// The off-centre projection that draws the frame a view makes for a whole window into `frame`
/// of a window of `window` logical pixels: the window is a part of a larger image whose 16:9
/// middle is `frame`.
pub fn sub_view(frame: Rect, window: Vec2) -> SubCameraView {
    SubCameraView {
        full_size: frame.size().round().max(Vec2::ONE).as_uvec2(),
        offset: -frame.min,
        size: window.round().max(Vec2::ONE).as_uvec2(),
    }
}

/// How tall, in logical pixels, the frame is that a view fills: the free region's frame, else
/// the window's `height`. A pan moves by the pixels of that frame.
pub fn frame_height(camera: &Camera, height: f32) -> f32 {
    camera.sub_camera_view.map_or(height, |sub| sub.full_size.y as f32)
}

/// The frame views are drawn into, from the panels; then eased into the camera's projection.
pub struct FreeRegionPlugin;

impl Plugin for FreeRegionPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<PanelRects>()
            .init_resource::<SceneFrame>()
            .add_systems(PostUpdate, (choose_frame, ease_frame).chain().in_set(FrameStep::Place));
    }
}

/// The largest 16:9 frame that the panels leave, kept clear of them by a margin.
/// Worked out again only when a panel or the window changed, not every frame.
fn choose_frame(
    panels: Res<PanelRects>,
    camera: Single<&Camera, With<Camera3d>>,
    mut frame: ResMut<SceneFrame>,
    mut chosen_for: Local<Option<Vec2>>,
) {
    let size = camera.logical_target_size().unwrap_or_default();
    if !panels.is_changed() && *chosen_for == Some(size) {
        return;
    }
    *chosen_for = Some(size);
    if panels.0.is_empty() || size.min_element() < 1.0 {
        frame.set_if_neq(SceneFrame::default());
        return;
    }
    let screen = Rect::from_corners(Vec2::ZERO, size);
    let padded: Vec<Rect> = panels.0.iter().map(|panel| panel.inflate(MARGIN_PX)).collect();
    let free = largest_free_rect(screen.inflate(-MARGIN_PX), &padded);
    let target = (area(free) > 0.0).then(|| fit_aspect(free, ANCHOR_ASPECT));
    if frame.target != target {
        frame.target = target;
    }
}

/// Moves the drawn frame towards its target and hands it to the camera's projection.
fn ease_frame(
    mut frame: ResMut<SceneFrame>,
    mut camera: Single<&mut Camera, With<Camera3d>>,
    mut redraw: MessageWriter<RequestRedraw>,
) {
    let size = camera.logical_target_size().unwrap_or_default();
    let shown = match (frame.shown, frame.target) {
        (Some(shown), Some(target)) => {
            let eased = Rect::from_corners(shown.min.lerp(target.min, EASING), shown.max.lerp(target.max, EASING));
            let arrived =
                (eased.min - target.min).abs().max_element().max((eased.max - target.max).abs().max_element()) < 0.5;
            if !arrived {
                redraw.write(RequestRedraw);
            }
            Some(if arrived { target } else { eased })
        }
        (_, target) => target,
    };
    if frame.shown != shown {
        frame.shown = shown;
    }
    let wanted = shown.map(|shown| sub_view(shown, size));
    if camera.sub_camera_view != wanted {
        camera.sub_camera_view = wanted;
    }
}
