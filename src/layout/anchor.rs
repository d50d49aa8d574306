//! Camera viewpoints that frame a box of the scene.

use super::{Anchor, CELL};

/// The vertical field of view the anchors are computed for; the renderer's camera should match it.
pub const ANCHOR_FOV_Y_DEGREES: f32 = 40.0;
/// The window aspect (width / height) the anchors assume; a narrower window crops the sides a little.
pub const ANCHOR_ASPECT: f32 = 16.0 / 9.0;

/// Blocks and sections are seen from in front, a little from the right and above, so that the
/// heads behind head 0 show their edges.
pub(super) const BLOCK_VIEW: [f64; 3] = [0.3, 0.25, 1.0];
/// The opening view turns further, so the depth of the heads and the layer stack read at once.
pub(super) const OVERVIEW_VIEW: [f64; 3] = [0.25, 0.2, 1.0];

/// Thin blocks (one-cell rows, bias columns) are framed as if this many cells wide, so the camera
/// does not come so close that the neighbours disappear.
const MIN_FRAMED_CELLS: f64 = 8.0;
/// Fraction of the frame left around the box.
const FRAME_MARGIN: f64 = 0.1;

/// A viewing direction and the frustum the anchors assume, worked out once for all blocks. The
/// tour frames its camera targets with it too, so a tour's view of a block is the block's anchor.
pub(crate) struct Framing {
    back: [f64; 3],
    forward: [f64; 3],
    right: [f64; 3],
    up: [f64; 3],
    tan_x: f64,
    tan_y: f64,
}

impl Framing {
    /// The direction every block's anchor looks from.
    pub(crate) fn blocks() -> Framing {
        Framing::new(BLOCK_VIEW)
    }

    /// Anchors looking along `-view`.
    pub(super) fn new(view: [f64; 3]) -> Framing {
        let back = normalize(view);
        let forward = back.map(|v| -v);
        let right = normalize(cross(forward, [0.0, 1.0, 0.0]));
        let up = cross(right, forward);
        let tan_y = ((ANCHOR_FOV_Y_DEGREES as f64).to_radians() / 2.0).tan() * (1.0 - FRAME_MARGIN);
        Framing { back, forward, right, up, tan_x: tan_y * ANCHOR_ASPECT as f64, tan_y }
    }

    /// The viewpoint looking at the box's centre from where the whole box just fits the frame.
    pub(crate) fn frame(&self, min: [f64; 3], max: [f64; 3]) -> Anchor {
        let min_extent = MIN_FRAMED_CELLS * CELL as f64;
        let center = [0, 1, 2].map(|axis| (min[axis] + max[axis]) / 2.0);
        let half = [0, 1, 2].map(|axis| ((max[axis] - min[axis]) / 2.0).max(min_extent / 2.0));
        // A corner at offset o from the target, seen from distance d, lies at depth d + o·forward;
        // it is inside the frustum when |o·right| ≤ depth·tan_x and |o·up| ≤ depth·tan_y.
        let mut distance = min_extent;
        for corner in 0..8 {
            let offset = [0, 1, 2].map(|axis| if corner >> axis & 1 == 1 { half[axis] } else { -half[axis] });
            let depth_offset = dot(offset, self.forward);
            distance = distance
                .max(dot(offset, self.right).abs() / self.tan_x - depth_offset)
                .max(dot(offset, self.up).abs() / self.tan_y - depth_offset)
                .max(min_extent - depth_offset);
        }
        let eye = [0, 1, 2].map(|axis| center[axis] + self.back[axis] * distance);
        Anchor { target: center.map(|v| v as f32), eye: eye.map(|v| v as f32) }
    }
}

// Small vector helpers.
fn dot(a: [f64; 3], b: [f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

fn cross(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]]
}

fn normalize(v: [f64; 3]) -> [f64; 3] {
    let length = dot(v, v).sqrt();
    v.map(|c| c / length)
}
