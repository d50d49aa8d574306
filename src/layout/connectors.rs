//! The data flow drawn: a connector from each block to each block it is computed from, as a path of
//! straight segments along the axes that passes through no block but its two ends.
//!
//! Each connector tries a few routes, the most direct first (down the column, across between two
//! rows, over the top of both, through the space in front of the model), and takes the first that
//! is clear of every other block.

use super::{CELL, Layout};

/// A path from block `from` (an input) to block `to` (what it feeds), corner by corner.
#[derive(Clone, Debug, PartialEq)]
pub struct Connector {
    pub from: usize,
    pub to: usize,
    pub points: Vec<[f32; 3]>,
}

/// An axis-aligned box: a block's extent.
#[derive(Clone, Copy, Debug)]
struct Aabb {
    min: [f32; 3],
    max: [f32; 3],
}

impl Aabb {
    fn centre(&self) -> [f32; 3] {
        [0, 1, 2].map(|axis| (self.min[axis] + self.max[axis]) / 2.0)
    }

    /// Whether the segment a–b (along one axis) passes through the box's inside; touching a face is not.
    fn crossed_by(&self, a: [f32; 3], b: [f32; 3]) -> bool {
        let eps = 1e-3 * CELL;
        (0..3).all(|axis| {
            let (low, high) = (a[axis].min(b[axis]), a[axis].max(b[axis]));
            high > self.min[axis] + eps && low < self.max[axis] - eps
        })
    }
}

/// Every dependency of every block as a connector, in block order, each input once per block.
pub fn route_connectors(layout: &Layout) -> Vec<Connector> {
    let boxes: Vec<Aabb> = layout.blocks.iter().map(|b| Aabb { min: b.position, max: b.max() }).collect();
    let front = boxes.iter().map(|b| b.max[2]).fold(f32::NEG_INFINITY, f32::max) + 2.0 * CELL;
    let mut connectors = Vec::new();
    for (to, block) in layout.blocks.iter().enumerate() {
        let mut inputs: Vec<usize> = block.deps.iter().map(|dep| dep.block).collect();
        inputs.dedup();
        for from in inputs {
            let clear = |points: &Vec<[f32; 3]>| {
                points.windows(2).all(|pair| {
                    boxes
                        .iter()
                        .enumerate()
                        .all(|(i, other)| i == from || i == to || !other.crossed_by(pair[0], pair[1]))
                })
            };
            let routes = candidate_routes(&boxes[from], &boxes[to], front);
            // The last candidate, through the space in front of everything, is clear unless a block
            // stands in front of one of the ends; it is taken as it is then, and the test says so.
            let points =
                routes.iter().find(|route| clear(route)).unwrap_or_else(|| routes.last().expect("routes")).clone();
            connectors.push(Connector { from, to, points: simplify(points) });
        }
    }
    connectors
}

/// The routes from `a` to `b`, most direct first.
fn candidate_routes(a: &Aabb, b: &Aabb, front: f32) -> Vec<Vec<[f32; 3]>> {
    let (ac, bc) = (a.centre(), b.centre());
    let mut routes = Vec::new();
    // Down: from a's bottom to b's top, turning halfway between them.
    if a.min[1] > b.max[1] {
        let mid = (a.min[1] + b.max[1]) / 2.0;
        routes.push(vec![
            [ac[0], a.min[1], ac[2]],
            [ac[0], mid, ac[2]],
            [ac[0], mid, bc[2]],
            [bc[0], mid, bc[2]],
            [bc[0], b.max[1], bc[2]],
        ]);
    }
    // Across: side by side at a height both share, from a's facing side to b's.
    let (low, high) = (a.min[1].max(b.min[1]), a.max[1].min(b.max[1]));
    if high > low {
        let y = (low + high) / 2.0;
        let (ax, bx) = if a.max[0] <= b.min[0] { (a.max[0], b.min[0]) } else { (a.min[0], b.max[0]) };
        let mid = (ax + bx) / 2.0;
        routes.push(vec![[ax, y, ac[2]], [mid, y, ac[2]], [mid, y, bc[2]], [bx, y, bc[2]]]);
    }
    // Round the side of a column (a head's q, k and v stand one under another): out of a's right
    // (or left) side, along beside the blocks, into b's same side.
    for lift in [0.5, 1.5, 3.0] {
        let right = a.max[0].max(b.max[0]) + lift * CELL;
        let left = a.min[0].min(b.min[0]) - lift * CELL;
        for (x, a_side, b_side) in [(right, a.max[0], b.max[0]), (left, a.min[0], b.min[0])] {
            routes.push(vec![
                [a_side, ac[1], ac[2]],
                [x, ac[1], ac[2]],
                [x, ac[1], bc[2]],
                [x, bc[1], bc[2]],
                [b_side, bc[1], bc[2]],
            ]);
        }
    }
    // Over the top of both, a little higher each time.
    for lift in [0.5, 1.5, 3.0] {
        let top = a.max[1].max(b.max[1]) + lift * CELL;
        routes.push(vec![
            [ac[0], a.max[1], ac[2]],
            [ac[0], top, ac[2]],
            [ac[0], top, bc[2]],
            [bc[0], top, bc[2]],
            [bc[0], b.max[1], bc[2]],
        ]);
    }
    // In front of the whole model.
    routes.push(vec![
        [ac[0], ac[1], a.max[2]],
        [ac[0], ac[1], front],
        [bc[0], ac[1], front],
        [bc[0], bc[1], front],
        [bc[0], bc[1], b.max[2]],
    ]);
    routes
}

/// Drops repeated corners and zero-length segments.
fn simplify(points: Vec<[f32; 3]>) -> Vec<[f32; 3]> {
    let mut out: Vec<[f32; 3]> = Vec::with_capacity(points.len());
    for point in points {
        if out.last() != Some(&point) {
            out.push(point);
        }
    }
    out
}
