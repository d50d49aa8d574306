//! The value pages (`render::scene::pages`): every value read back where a block's descriptor says it is,
//! across page boundaries; pyramid tiles holding their cells' statistics; the budget's fallback to
//! coarser levels; and on lavapipe, a GPT-2-shaped checkpoint's weight block drawn cell by cell up
//! close and in the average colour of its cells from afar, and a block straddling two pages.

use bevy::prelude::*;
use half::f16;
use llmviz::layout::{self, Block, Layout};
use llmviz::model::{Activations, BackendKind, GptConfig, LoadedModel, NamedTensor, Weights};
use llmviz::render::run::offscreen::{Frame, Offscreen};
use llmviz::render::scene::blocks::{BlockStyle, SceneSource, block_descriptor, family_colour};
use llmviz::render::scene::pages::{PackedValues, Paging, TileSums, level_offset, level_tiles, pack_values};
use llmviz::render::view::viewpoint::ViewPoint;

use crate::gpu::gpu;
use crate::scratch::Scratch;

/// A GPT-2 of GPT-2's vocabulary and naming, narrower and shallower, with GPT-2's initialisation.
fn narrow_gpt2(n_embd: usize, vocab_size: usize) -> Weights {
    let config = GptConfig::new("gpt2-narrow", [1, 4, n_embd, vocab_size, 16], true).unwrap();
    llmviz::train::initial_weights(&config, 7)
}

/// The pass with its lens: every block's values.
fn forward(weights: &Weights, tokens: &[usize]) -> Activations {
    let model = LoadedModel::new(weights, BackendKind::Ndarray);
    let activations = model.activations(tokens).unwrap();
    llmviz::model::lens::with_lens(&activations, model.lens(&activations, 5, false))
}

/// The tensor a block shows, from the weights or the activations.
fn tensor_of<'a>(block: &Block, weights: &'a Weights, activations: &'a Activations) -> &'a NamedTensor {
    weights.tensors.get(&block.tensor).or_else(|| activations.get(&block.tensor)).unwrap()
}

/// A cell's value as the layout maps it (not through the pages' strides), padded with NaN past
/// the tensor (positions past the input).
fn cell_value(block: &Block, tensor: &NamedTensor, cell: [u32; 3]) -> f32 {
    tensor.get(&block.map.index(cell)).unwrap_or(f32::NAN)
}

/// The 16-bit value the shader reads for a cell, found as the shader finds it: from the block's
/// descriptor, counted from its home page, running on into the next page.
fn shader_value(packed: &PackedValues, layout: &Layout, index: usize, cell: [u32; 3]) -> Option<(f32, u32)> {
    let descriptor = block_descriptor(layout, index, packed, BlockStyle::default());
    if descriptor.strides.w < 0 {
        return None;
    }
    let home = packed.tensors[&layout.blocks[index].tensor].page as usize;
    let step = descriptor.strides;
    let at = step.w as i64
        + cell[0] as i64 * step.x as i64
        + cell[1] as i64 * step.y as i64
        + cell[2] as i64 * step.z as i64;
    let word = (at / 2) as usize;
    let page_words = descriptor.pyramid.w as usize;
    let (page, offset) = if word < page_words { (home, word) } else { (home + 1, word - page_words) };
    let bits = packed.pages[page][offset] >> (16 * (at % 2)) & 0xffff;
    Some((f16::from_bits(bits as u16).to_f32(), page as u32))
}

fn same_f16(stored: f32, value: f32) -> bool {
    let expected = f16::from_f32(value).to_f32();
    stored == expected || (stored.is_nan() && value.is_nan())
}

#[test]
fn every_value_reads_back_from_its_pages_at_any_page_size() {
    let weights = narrow_gpt2(16, 300);
    let layout = layout::build(&weights.config);
    let activations = forward(&weights, &[5, 17, 260, 3]);
    let mut straddling = 0;
    for page_words in [2900, 3001, 4096, 10_000, llmviz::render::scene::pages::PAGE_WORDS] {
        let paging = Paging { page_words, ..Paging::default() };
        let packed = pack_values(&layout, Some(&weights), Some(&activations), paging);
        assert!(packed.pages.len() > 1 || page_words >= 10_000, "{page_words} words a page make several pages");
        assert!(packed.pages.iter().all(|page| page.len() <= page_words));
        assert_eq!(packed.left_out, 0, "every value fits at {page_words} words a page");
        for (index, block) in layout.blocks.iter().enumerate() {
            let tensor = tensor_of(block, &weights, &activations);
            let mut pages = std::collections::BTreeSet::new();
            for i in 0..block.cells[0] {
                for j in 0..block.cells[1] {
                    for k in 0..block.cells[2] {
                        let (stored, page) =
                            shader_value(&packed, &layout, index, [i, j, k]).expect("every block has values");
                        let value = cell_value(block, tensor, [i, j, k]);
                        assert!(
                            same_f16(stored, value),
                            "{} {:?} at {page_words}: {stored} for {value}",
                            block.name,
                            [i, j, k]
                        );
                        pages.insert(page);
                    }
                }
            }
            straddling += (pages.len() > 1) as usize;
        }
    }
    assert!(straddling > 0, "some block's values run over a page boundary");
}

#[test]
fn a_group_stays_within_its_home_page_and_the_next() {
    let weights = narrow_gpt2(16, 300);
    let layout = layout::build(&weights.config);
    let paging = Paging { page_words: 3001, ..Paging::default() };
    let packed = pack_values(&layout, Some(&weights), None, paging);
    for (index, block) in layout.blocks.iter().enumerate() {
        let tensor = packed.tensors[&block.tensor];
        let home = tensor.page as usize * paging.page_words;
        let pyramid = packed.pyramids[index].expect("every block of several cells has a pyramid");
        let last = pyramid.base + llmviz::render::scene::pages::pyramid_words(block.cells, pyramid.first);
        assert!(tensor.base / 2 >= home && pyramid.base >= home, "{} starts in its home page", block.name);
        assert!(last <= home + 2 * paging.page_words, "{}'s pyramid ends within the next page", block.name);
    }
}

/// A cell's contribution to its tile's shares, computed here from the value, the tensor's RMS and
/// the shader's colour rule (√ of the clamped magnitude), not by the pages' code.
fn expected_shares(values: &[f32], scale: f32) -> [f32; 3] {
    let mut shares = [0.0f32; 3];
    for &value in values {
        if !value.is_finite() {
            shares[2] += 1.0;
        } else if value * scale >= 0.0 {
            shares[0] += (value * scale).abs().min(1.0).sqrt();
        } else {
            shares[1] += (value * scale).abs().min(1.0).sqrt();
        }
    }
    shares.map(|share| share / values.len() as f32)
}

fn rms_scale(tensor: &NamedTensor) -> f32 {
    let finite: Vec<f64> = tensor.data.iter().filter(|v| v.is_finite()).map(|&v| v as f64).collect();
    let rms = (finite.iter().map(|v| v * v).sum::<f64>() / finite.len() as f64).sqrt();
    (1.0 / (2.5 * rms)) as f32
}

#[test]
fn pyramid_tiles_hold_the_shares_of_their_cells_at_every_level() {
    let weights = narrow_gpt2(16, 300);
    let layout = layout::build(&weights.config);
    let activations = forward(&weights, &[5, 17, 260, 3]);
    let packed = pack_values(&layout, Some(&weights), Some(&activations), Paging::default());
    let mut tiles_checked = 0;
    // A weight block, an activation block with empty positions past the input, and the attention
    // scores with the mask's empty cells.
    for name in ["transformer.h.0.mlp.c_fc.weight", "block0.fc", "block0.att"] {
        let (index, block) = layout.blocks.iter().enumerate().find(|(_, block)| block.tensor == name).unwrap();
        let tensor = tensor_of(block, &weights, &activations);
        let pyramid = packed.pyramids[index].unwrap();
        assert_eq!(pyramid.first, 1);
        assert_eq!(
            1u32 << pyramid.top,
            block.cells[0].max(block.cells[1]).next_power_of_two(),
            "{name}'s top tile covers it"
        );
        for level in pyramid.first..=pyramid.top {
            let [nx, ny, nz] = level_tiles(block.cells, level);
            let start = pyramid.base + level_offset(block.cells, pyramid.first, level);
            for (tk, tj, ti) in (0..nz).flat_map(|k| (0..ny).flat_map(move |j| (0..nx).map(move |i| (k, j, i)))) {
                let side = 1u32 << level;
                let mut values = Vec::new();
                for j in (tj as u32 * side)..((tj as u32 + 1) * side).min(block.cells[1]) {
                    for i in (ti as u32 * side)..((ti as u32 + 1) * side).min(block.cells[0]) {
                        values.push(cell_value(block, tensor, [i, j, tk as u32]));
                    }
                }
                let word = packed.word(start + (tk * ny + tj) * nx + ti).unwrap();
                let stored = TileSums::unpack(word);
                let expected = expected_shares(&values, rms_scale(tensor));
                for (got, want) in stored.iter().zip(expected) {
                    assert!(
                        (got - want).abs() <= 0.5 / 255.0 + 1e-3,
                        "{name} level {level} tile {:?}: {stored:?} for {expected:?}",
                        [ti, tj, tk]
                    );
                }
                assert_eq!(stored[3], 0.0, "no value is NaN or infinite");
                tiles_checked += 1;
            }
        }
    }
    assert!(tiles_checked > 100, "{tiles_checked} tiles");
}

#[test]
fn over_the_budget_weights_are_drawn_from_the_finest_level_that_fits_and_activations_stay_exact() {
    let weights = narrow_gpt2(16, 300);
    let layout = layout::build(&weights.config);
    let activations = forward(&weights, &[5, 17, 260, 3]);
    let full = pack_values(&layout, Some(&weights), Some(&activations), Paging::default());
    let coarsest =
        pack_values(&layout, Some(&weights), Some(&activations), Paging { budget_words: 0, ..Paging::default() });
    let budget_words = (full.bytes() + coarsest.bytes()) / 8;
    let paging = Paging { budget_words, ..Paging::default() };
    let packed = pack_values(&layout, Some(&weights), Some(&activations), paging);
    assert!(packed.bytes() / 4 <= budget_words, "{} words within {budget_words}", packed.bytes() / 4);
    let weight_values: u64 = weights.tensors.values().map(|tensor| tensor.data.len() as u64).sum();
    assert_eq!(packed.left_out, weight_values, "every weight is drawn from a pyramid");
    let finest: Vec<u32> =
        weights.tensors.keys().filter_map(|name| packed.tensors.get(name)).map(|tensor| tensor.finest).collect();
    assert!(finest.iter().all(|&level| level >= 1 && level == finest[0]), "one level for all weights: {finest:?}");
    for (index, block) in layout.blocks.iter().enumerate() {
        let descriptor = block_descriptor(&layout, index, &packed, BlockStyle::default());
        if weights.tensors.contains_key(&block.tensor) {
            assert_eq!(descriptor.strides.w, -1, "{} has no cells' values", block.name);
            if block.cells[0].max(block.cells[1]) > 1 << finest[0] {
                assert_eq!(descriptor.pyramid.y as u32, finest[0], "{} starts at the finest level", block.name);
            }
        } else {
            let tensor = tensor_of(block, &weights, &activations);
            let (stored, _) = shader_value(&packed, &layout, index, [0, 0, 0]).unwrap();
            assert!(same_f16(stored, cell_value(block, tensor, [0, 0, 0])), "{} stays exact", block.name);
        }
    }
}

#[test]
fn a_tensor_too_large_for_two_pages_alone_goes_coarser() {
    let weights = narrow_gpt2(16, 300);
    let layout = layout::build(&weights.config);
    // wte ([300, 16]: 2,400 words, and two pyramids) does not fit two pages of 2,100 words; the rest does.
    let paging = Paging { page_words: 2100, ..Paging::default() };
    let packed = pack_values(&layout, Some(&weights), None, paging);
    assert!(packed.tensors["transformer.wte.weight"].finest >= 1);
    assert_eq!(packed.left_out, 300 * 16);
    let others = packed.tensors.iter().filter(|(name, _)| *name != "transformer.wte.weight");
    assert!(others.clone().count() > 10 && others.clone().all(|(_, tensor)| tensor.finest == 0));
}

// On lavapipe: what the shader draws from the pages.

/// The shader's colour of a value scaled to ±1 (linear RGB), as blocks.wgsl's `value_colour`.
pub fn value_colour(family: [f32; 3], scaled: f32) -> Vec3 {
    let end = if scaled >= 0.0 { Vec3::from(family) } else { Vec3::new(0.015, 0.015, 0.02) };
    Vec3::splat(0.55).lerp(end, scaled.abs().min(1.0).sqrt())
}

pub fn to_srgb8(linear: Vec3) -> [f32; 3] {
    let srgb = Color::LinearRgba(LinearRgba::rgb(linear.x, linear.y, linear.z)).to_srgba();
    [srgb.red, srgb.green, srgb.blue].map(|c| c * 255.0)
}

pub const SHOT: UVec2 = UVec2::new(320, 300);

/// Pixels a world unit covers at distance 1 on a `SHOT` picture.
pub fn focal_px() -> f32 {
    SHOT.y as f32 / 2.0 / (llmviz::layout::ANCHOR_FOV_Y_DEGREES.to_radians() / 2.0).tan()
}

/// Renders the checkpoint's scene from `eye` straight in front of `target`, and where each of
/// `points` (world positions) lands on the picture.
pub fn shot(source: SceneSource, paging: Paging, target: Vec3, distance: f32, points: &[Vec3]) -> (Frame, Vec<Vec2>) {
    let _gpu = gpu();
    let view = ViewPoint { eye: target + Vec3::Z * distance, target };
    let mut offscreen = Offscreen::with_plugins(source, SHOT, view, move |app| {
        app.insert_resource(paging);
    });
    offscreen.wait_until_ready().expect("the scene becomes ready");
    let frame = offscreen.capture().expect("a frame");
    let world = offscreen.world_mut();
    let mut cameras = world.query::<(&Camera, &GlobalTransform)>();
    let (camera, transform) = cameras.iter(world).find(|(camera, _)| camera.is_active).unwrap();
    let pixels = points.iter().map(|&point| camera.world_to_viewport(transform, point).unwrap()).collect();
    (frame, pixels)
}

/// The checkpoint the tests make: saved, then read back through the loader.
fn narrow_checkpoint(name: &str) -> Weights {
    let weights = narrow_gpt2(128, 50257);
    let path = Scratch::file(&format!("pages-{name}.safetensors"));
    weights.save_safetensors(&path).unwrap();
    Weights::load(&path).unwrap()
}

const TOKENS: [usize; 8] = [464, 2068, 7586, 21831, 18045, 625, 262, 16931];

/// The narrow checkpoint's first MLP weight block (128 x 512 cells), where the render tests look.
struct FcBlock {
    weights: Weights,
    layout: Layout,
    index: usize,
    scale: f32,
    family: [f32; 3],
}

impl FcBlock {
    fn new(name: &str) -> FcBlock {
        let weights = narrow_checkpoint(name);
        let layout = layout::build(&weights.config);
        let index = layout.blocks.iter().position(|block| block.tensor == "transformer.h.0.mlp.c_fc.weight").unwrap();
        let scale = rms_scale(&weights.tensors[&layout.blocks[index].tensor]);
        let family = family_colour(layout.blocks[index].family());
        FcBlock { weights, layout, index, scale, family }
    }

    fn block(&self) -> &Block {
        &self.layout.blocks[self.index]
    }

    fn tensor(&self) -> &NamedTensor {
        &self.weights.tensors[&self.block().tensor]
    }

    /// A cell's colour as the shader draws its 16-bit value (linear RGB).
    fn colour_of(&self, cell: [u32; 3]) -> Vec3 {
        value_colour(self.family, f16::from_f32(cell_value(self.block(), self.tensor(), cell)).to_f32() * self.scale)
    }

    fn source(&self) -> SceneSource {
        SceneSource::with_weights(self.weights.clone(), TOKENS.to_vec())
    }
}

/// A cell's centre on the block's front face.
pub fn face_point(block: &Block, cell: [u32; 3]) -> Vec3 {
    let [x, y, _] = block.cell_center(cell);
    Vec3::new(x, y, block.max()[2])
}

pub fn pixel_at(frame: &Frame, at: Vec2) -> [f32; 3] {
    let [r, g, b, _] = frame.pixel(at.x as u32, at.y as u32);
    [r, g, b].map(|c| c as f32)
}

#[test]
fn a_weight_block_shows_its_cells_up_close_and_their_average_colour_from_afar() {
    let fc = FcBlock::new("lod");
    let block = fc.block();
    let colour_of = |cell: [u32; 3]| fc.colour_of(cell);
    let source = || fc.source();
    let focal_px = focal_px();

    // Up close, 14 px a cell: each of a 6 x 6 patch of cells in its own colour.
    let patch: Vec<[u32; 3]> = (0..36).map(|n| [20 + n % 6, 10 + n / 6, 0]).collect();
    let points: Vec<Vec3> = patch.iter().map(|&cell| face_point(block, cell)).collect();
    let centre = (points[0] + points[35]) / 2.0;
    let (frame, at) = shot(source(), Paging::default(), centre, layout::CELL * focal_px / 14.0, &points);
    for (cell, at) in patch.iter().zip(&at) {
        let expected = to_srgb8(colour_of(*cell));
        let got = pixel_at(&frame, *at);
        assert!(got.iter().zip(expected).all(|(g, e)| (g - e).abs() <= 3.0), "cell {cell:?}: {got:?} for {expected:?}");
    }

    // From afar, 2, 4 and 8 cells a pixel (the block, 128 x 512 cells, 16 x 64 pixels at the last):
    // the block in the average of its cells' colours (not the colour of their average value, a
    // grey, nor a flat tint), without moiré.
    let mut mean = Vec3::ZERO;
    for j in 0..block.cells[1] {
        for i in 0..block.cells[0] {
            mean += colour_of([i, j, 0]);
        }
    }
    let expected = to_srgb8(mean / (block.cells[0] * block.cells[1]) as f32);
    let corners = [face_point(block, [0, 0, 0]), face_point(block, [block.cells[0] - 1, block.cells[1] - 1, 0])];
    let middle = (corners[0] + corners[1]) / 2.0;
    let across = (block.cells[0] - 1) as f32;
    for cells_per_px in [2.0, 4.0, 8.0] {
        let distance = layout::CELL * focal_px * cells_per_px;
        let (frame, at) = shot(source(), Paging::default(), middle, distance, &corners);
        // Inside the block's one-pixel outline.
        let (min, max) = (at[0].min(at[1]) + 3.0, at[0].max(at[1]) - 3.0);
        assert!((at[1].x - at[0].x - across / cells_per_px).abs() < 3.0, "the block spans {at:?}");
        let (mut worst, mut worst_step, mut sum, mut count) = (0.0f32, 0.0f32, [0.0f32; 3], 0);
        for y in min.y as u32..max.y as u32 {
            let mut previous: Option<[f32; 3]> = None;
            for x in min.x as u32..max.x as u32 {
                let got = pixel_at(&frame, Vec2::new(x as f32, y as f32));
                worst = got.iter().zip(expected).map(|(g, e)| (g - e).abs()).fold(worst, f32::max);
                if let Some(previous) = previous {
                    worst_step = got.iter().zip(previous).map(|(g, p)| (g - p).abs()).fold(worst_step, f32::max);
                }
                previous = Some(got);
                (0..3).for_each(|c| sum[c] += got[c]);
                count += 1;
            }
        }
        assert!(count >= 200, "{count} pixels inside the block");
        let mean = sum.map(|s| s / count as f32);
        assert!(
            mean.iter().zip(expected).all(|(m, e)| (m - e).abs() <= 3.0),
            "{cells_per_px} cells a pixel: {mean:?} for {expected:?}"
        );
        // Two cells a pixel is close enough that each pixel's own few cells show through (the
        // texture of random weights, not aliasing); from four on, every pixel is within 10 % of
        // the 0–255 range of the cells' average colour. Neighbouring pixels never jump between
        // the extremes of a cell's colours (full blue and near black differ by some 200).
        if cells_per_px >= 4.0 {
            assert!(worst <= 25.5, "{cells_per_px} cells a pixel: a pixel {worst} off {expected:?}");
        }
        let step_limit = if cells_per_px >= 4.0 { 32.0 } else { 80.0 };
        assert!(worst_step <= step_limit, "{cells_per_px} cells a pixel: neighbouring pixels differ by {worst_step}");
    }
}

#[test]
fn a_block_straddling_two_pages_shows_the_right_values_on_both_sides() {
    let fc = FcBlock::new("straddle");
    let (weights, layout, index, block) = (&fc.weights, &fc.layout, fc.index, fc.block());
    // A page size that puts a boundary inside the block's values, away from its edges.
    let activations = forward(weights, &TOKENS);
    // Below the tensor's 32,768 words (and above half its group's, 54,613), it must cross one.
    let (paging, boundary) = (28_000..32_000)
        .step_by(1000)
        .find_map(|page_words| {
            let paging = Paging { page_words, ..Paging::default() };
            let packed = pack_values(layout, Some(weights), Some(&activations), paging);
            let page_of = |cell: [u32; 3]| shader_value(&packed, layout, index, cell).map(|(_, page)| page);
            let inner = |n: u32| 3..n - 3;
            let cells: Vec<[u32; 3]> =
                inner(block.cells[1]).flat_map(|j| inner(block.cells[0]).map(move |i| [i, j, 0])).collect();
            let first = page_of(cells[0])?;
            let crossing = cells.into_iter().find(|&cell| page_of(cell) != Some(first))?;
            Some((paging, crossing))
        })
        .expect("a page size splits the block");
    // The 5 x 5 cells about the first cell in the next page: some in each page.
    let patch: Vec<[u32; 3]> = (0..25).map(|n| [boundary[0] + n % 5 - 2, boundary[1] + n / 5 - 2, 0]).collect();
    let packed = pack_values(layout, Some(weights), Some(&activations), paging);
    let pages: std::collections::BTreeSet<u32> =
        patch.iter().map(|&cell| shader_value(&packed, layout, index, cell).unwrap().1).collect();
    assert_eq!(pages.len(), 2, "the patch spans two pages");
    let points: Vec<Vec3> = patch.iter().map(|&cell| face_point(block, cell)).collect();
    let (frame, at) = shot(fc.source(), paging, points[12], layout::CELL * focal_px() / 14.0, &points);
    for (cell, at) in patch.iter().zip(&at) {
        let expected = to_srgb8(fc.colour_of(*cell));
        let got = pixel_at(&frame, *at);
        assert!(got.iter().zip(expected).all(|(g, e)| (g - e).abs() <= 3.0), "cell {cell:?}: {got:?} for {expected:?}");
    }
}

#[test]
fn weights_over_the_budget_are_drawn_up_close_in_their_tiles_average_colours() {
    let fc = FcBlock::new("budget");
    let (weights, layout, index, block) = (&fc.weights, &fc.layout, fc.index, fc.block());
    let name = block.tensor.as_str();
    let activations = forward(weights, &TOKENS);
    // A budget that the weights' values do not fit, but their pyramids from 2x2 tiles on do.
    let full = pack_values(layout, Some(weights), Some(&activations), Paging::default());
    let paging = Paging { budget_words: full.bytes() / 4 * 3 / 4, ..Paging::default() };
    let packed = pack_values(layout, Some(weights), Some(&activations), paging);
    assert_eq!(packed.tensors[name].finest, 1, "the weights are drawn from 2x2 tiles");
    assert!(shader_value(&packed, layout, index, [0, 0, 0]).is_none(), "no cell's own value");
    // Up close, 14 px a cell: each pixel of a tile has the average of its four cells' colours.
    let tiles: Vec<[u32; 2]> = (0..9).map(|n| [10 + n % 3, 5 + n / 3]).collect();
    let points: Vec<Vec3> = tiles.iter().map(|&[i, j]| face_point(block, [2 * i, 2 * j, 0])).collect();
    let (frame, at) = shot(fc.source(), paging, points[4], layout::CELL * focal_px() / 14.0, &points);
    for (&[i, j], at) in tiles.iter().zip(&at) {
        let cells = [[2 * i, 2 * j, 0], [2 * i + 1, 2 * j, 0], [2 * i, 2 * j + 1, 0], [2 * i + 1, 2 * j + 1, 0]];
        let expected = to_srgb8(cells.iter().map(|&cell| fc.colour_of(cell)).sum::<Vec3>() / 4.0);
        let got = pixel_at(&frame, *at);
        assert!(
            got.iter().zip(expected).all(|(g, e)| (g - e).abs() <= 3.0),
            "tile {:?}: {got:?} for {expected:?}",
            [i, j]
        );
    }
}

/// Changed pages reach the GPU one a frame (so that only one page's copies are in flight), the
/// scene counts the pages still waiting, and it is not ready until the last has arrived.
#[test]
fn pages_reach_the_gpu_one_a_frame_and_the_scene_waits_for_the_last() {
    use llmviz::render::scene::blocks::BlockScene;
    let _gpu = gpu();
    let paging = Paging { page_words: 8_000, ..Paging::default() };
    let view = ViewPoint { eye: Vec3::new(0.0, 0.0, 400.0), target: Vec3::ZERO };
    let source = SceneSource::with_weights(Weights::default_model(), vec![2, 1, 0, 1, 1, 2]);
    let mut offscreen = Offscreen::with_plugins(source, SHOT, view, move |app| {
        app.insert_resource(paging);
    });
    let uploaded = |offscreen: &Offscreen| -> Vec<Option<u64>> {
        offscreen
            .world()
            .get_resource::<BlockScene>()
            .map_or(Vec::new(), |scene| scene.pages.iter().map(|page| page.version).collect())
    };
    let (mut frames_uploading, mut seen_waiting) = (0, 0);
    let mut before = uploaded(&offscreen);
    for _ in 0..400 {
        offscreen.update();
        let now = uploaded(&offscreen);
        // A page waiting its turn is bound to an empty buffer (version None) meanwhile.
        let changed = now
            .iter()
            .enumerate()
            .filter(|&(page, version)| version.is_some() && before.get(page) != Some(version))
            .count();
        assert!(changed <= 1, "{changed} pages uploaded in one frame: {before:?} -> {now:?}");
        let waiting = offscreen.world().get_resource::<BlockScene>().map_or(0, |scene| scene.pages_waiting);
        assert!(waiting == 0 || !offscreen.is_ready(), "ready with {waiting} pages waiting");
        seen_waiting = seen_waiting.max(waiting);
        frames_uploading += usize::from(changed == 1);
        before = now;
        if offscreen.is_ready() {
            break;
        }
    }
    assert!(offscreen.is_ready(), "the scene becomes ready");
    let packed = offscreen.world().resource::<PackedValues>();
    assert!(packed.pages.len() >= 4, "nano's values fill several pages of {} words", paging.page_words);
    assert!(seen_waiting >= packed.pages.len() - 2, "pages waited their turn: at most {seen_waiting} at once");
    assert!(frames_uploading >= packed.pages.len(), "one frame per page: {frames_uploading}");
    let versions: Vec<Option<u64>> = packed.versions.iter().map(|&v| Some(v)).collect();
    assert_eq!(uploaded(&offscreen), versions, "every page's last version is on the GPU");
}
