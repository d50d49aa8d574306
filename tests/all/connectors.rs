//! The data flow drawn: every dependency of the layout has a connector, and no connector passes
//! through a block other than its two ends.

use llmviz::layout::connectors::route_connectors;
use llmviz::layout::{self, CELL, Layout};
use llmviz::model::GptConfig;

/// Whether the axis-aligned segment a–b passes through block `i`'s inside (checked here again,
/// independently of the router: sampled along the segment).
fn passes_through(layout: &Layout, i: usize, a: [f32; 3], b: [f32; 3]) -> bool {
    let (min, max) = (layout.blocks[i].position, layout.blocks[i].max());
    let eps = 0.01 * CELL;
    let length = (0..3).map(|k| (b[k] - a[k]).abs()).fold(0.0, f32::max);
    let steps = (length / (0.1 * CELL)).ceil().max(1.0) as usize;
    (0..=steps).any(|s| {
        let t = s as f32 / steps as f32;
        (0..3).all(|k| {
            let p = a[k] + (b[k] - a[k]) * t;
            p > min[k] + eps && p < max[k] - eps
        })
    })
}

#[test]
fn every_dependency_has_a_connector_that_passes_through_no_third_block() {
    let layout = layout::build(&GptConfig::nano());
    let connectors = route_connectors(&layout);
    for (to, block) in layout.blocks.iter().enumerate() {
        for dep in &block.deps {
            assert!(
                connectors.iter().any(|c| c.from == dep.block && c.to == to),
                "{} ← {}: no connector",
                block.name,
                layout.blocks[dep.block].name
            );
        }
    }
    assert_eq!(
        connectors.len(),
        layout
            .blocks
            .iter()
            .map(|b| {
                let mut d: Vec<usize> = b.deps.iter().map(|d| d.block).collect();
                d.sort();
                d.dedup();
                d.len()
            })
            .sum::<usize>()
    );
    let mut crossings = Vec::new();
    for connector in &connectors {
        let (first, last) = (connector.points[0], *connector.points.last().unwrap());
        let (from, to) = (&layout.blocks[connector.from], &layout.blocks[connector.to]);
        // It starts on its input's surface and ends on its output's.
        for (point, block) in [(first, from), (last, to)] {
            let (min, max) = (block.position, block.max());
            assert!(
                (0..3).all(|k| point[k] >= min[k] - 1e-3 && point[k] <= max[k] + 1e-3),
                "{} → {}: end {point:?} off its block",
                from.name,
                to.name
            );
        }
        for pair in connector.points.windows(2) {
            let along = (0..3).filter(|&k| pair[0][k] != pair[1][k]).count();
            assert!(along <= 1, "{} → {}: a segment not along one axis", from.name, to.name);
            for i in 0..layout.blocks.len() {
                if i != connector.from && i != connector.to && passes_through(&layout, i, pair[0], pair[1]) {
                    crossings.push(format!("{} → {} through {}", from.name, to.name, layout.blocks[i].name));
                }
            }
        }
    }
    assert!(
        crossings.is_empty(),
        "{} of {} connectors cross a block:\n{}",
        crossings.len(),
        connectors.len(),
        crossings.join("\n")
    );
}

#[test]
fn nanos_connectors_are_drawn_dim_and_light_up_into_a_block_in_focus() {
    use bevy::prelude::*;
    use llmviz::render::run::offscreen::Offscreen;
    use llmviz::render::scene::blocks::{BlockScene, BlockStyle, Focus, SceneSource};
    use llmviz::render::scene::connectors::{ConnectorSegment, Connectors};
    use llmviz::render::view::viewpoint::CameraChoice;

    let _gpu = crate::gpu::gpu();
    let source = SceneSource::with_weights(llmviz::model::Weights::default_model(), vec![2, 1, 0]);
    let layout = layout::build(&source.config);
    let view = CameraChoice::Overview.view_point(&layout).unwrap();
    let mut offscreen = Offscreen::new(source, UVec2::new(320, 180), view);
    offscreen.wait_until_ready().unwrap();
    let world = offscreen.world_mut();
    let routed = route_connectors(&layout);
    let rods = world.query::<&ConnectorSegment>().iter(world).count();
    assert_eq!(rods, routed.iter().map(|c| c.points.len() - 1).sum::<usize>(), "a rod per segment");
    assert_eq!(world.resource::<Connectors>().connectors, routed);
    assert!(world.resource::<Connectors>().lit.iter().all(|lit| !lit), "dim with nothing in focus");

    // Focus on a cell of the first head's attention scores, as hovering it does.
    let att = layout.find("block0.head0.att").unwrap();
    let entity = world.resource::<BlockScene>().blocks[att];
    world.get_mut::<BlockStyle>(entity).unwrap().focus = Some(Focus::cells([Some(1), Some(0), Some(0)], 1.0));
    offscreen.capture().unwrap();
    let world = offscreen.world_mut();
    let connectors = world.resource::<Connectors>();
    let lit: Vec<(usize, usize)> = connectors
        .connectors
        .iter()
        .zip(&connectors.lit)
        .filter(|(_, lit)| **lit)
        .map(|(c, _)| (c.from, c.to))
        .collect();
    let q = layout.find("block0.head0.q").unwrap();
    let k = layout.find("block0.head0.k").unwrap();
    assert_eq!(lit, vec![(q, att), (k, att)], "exactly the scores' inputs, q and k, light up");

    // Each lit line goes on across att's faces to the focused cell.
    use llmviz::render::scene::connectors::ConnectorTail;
    let tails: Vec<Transform> = world
        .query::<(&ConnectorTail, &Transform, &ViewVisibility)>()
        .iter(world)
        .filter(|(_, _, visible)| visible.get())
        .map(|(_, transform, _)| *transform)
        .collect();
    // q and k meet att on its right side: along it to the front edge, across the front face, down to the cell.
    assert_eq!(tails.len(), 6, "three rods for each of the two lit connectors: {tails:?}");
    let mut cell = Vec3::from(layout.blocks[att].cell_center([1, 0, 0]));
    cell.z = layout.blocks[att].max()[2];
    let reaches = |t: &Transform| {
        let (min, max) = (t.translation - t.scale / 2.0, t.translation + t.scale / 2.0);
        // The cell's centre on the front face lies within the rod (which lies on that face).
        (0..3).all(|k| cell[k] >= min[k] - 1e-3 && cell[k] <= max[k] + 1e-3)
    };
    assert_eq!(tails.iter().filter(|t| reaches(t)).count(), 2, "each line ends at the focused cell: {tails:?}");
}
