//! Every value the blocks show, as the block shader reads them: 16-bit floats packed two to a `u32`,
//! in pages that each fit one WebGPU storage binding, and beside each block a pyramid of summaries
//! of its tiles of 2x2, 4x4, ... cells, from which the shader draws a distant block in the average
//! colour of its cells instead of an aliased sample of them.
//!
//! The words are laid out tensor by tensor: a tensor's values, then the pyramid of each block that
//! shows it. A tensor and its pyramids (a group) always lie within two neighbouring pages, the
//! group's home page and the next: a material binds those two (WebGPU cannot index an array of
//! buffers from a shader), so the blocks of one home page draw in one batch whichever page a cell
//! falls in. Hover and explain never read these pages: they read the f32 tensors.
//!
//! Pure data, no Bevy beyond the `Resource` derive: tested without a GPU.

use std::collections::HashMap;

use bevy::prelude::Resource;
use half::f16;

use crate::layout::{Block, Layout};
use crate::model::{Activations, NamedTensor, Weights, is_masked_score, unravel};

/// Words in a page: WebGPU's default `maxStorageBufferBindingSize`, 128 MiB, the most one binding
/// may hold (and half its default `maxBufferSize`).
pub const PAGE_WORDS: usize = (128 << 20) / 4;

/// The most bytes of pages a scene keeps: a GPU's memory is not known to WebGPU, so this is a
/// choice. Natively GPT-2 small (about 0.5 GB with its pyramids), medium and large fit with every
/// value; XL's weights are drawn from their pyramids' finest level that fits. In the page, whose
/// CPU copy shares the wasm's 4 GB with the model, GPT-2 small fits.
#[cfg(not(target_arch = "wasm32"))]
pub const BUDGET_BYTES: u64 = 3 << 30;
#[cfg(target_arch = "wasm32")]
pub const BUDGET_BYTES: u64 = 1 << 30;

/// How the values are split: the page size and the most words in all pages. Tests shrink both to
/// reach page boundaries and the budget with small models.
#[derive(Resource, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Paging {
    pub page_words: usize,
    pub budget_words: u64,
}

impl Default for Paging {
    fn default() -> Paging {
        Paging { page_words: PAGE_WORDS, budget_words: BUDGET_BYTES / 4 }
    }
}

/// What the value pages hold, and where.
#[derive(Resource, Clone, Debug, Default)]
pub struct PackedValues {
    pub pages: Vec<Vec<u32>>,
    pub page_words: usize,
    pub tensors: HashMap<String, PackedTensor>,
    /// By layout block: where its pyramid is; None for a block without values or of one cell.
    pub pyramids: Vec<Option<PackedPyramid>>,
    /// Values drawn only through their pyramids (the averages of 2x2 tiles or coarser), because
    /// every value would not fit the budget or a tensor's group two pages.
    pub left_out: u64,
    /// Bumped when a page is written, so that only the pages that changed are uploaded again.
    pub versions: Vec<u64>,
    /// Gradient mode: every tensor holds its gradient, drawn on the gradient colour scale.
    pub gradients: bool,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PackedTensor {
    /// Index, counted in 16-bit values from the start of page 0, of the tensor's first element
    /// (meaningful when `finest` is 0).
    pub base: usize,
    /// The page of the tensor's group: its blocks are drawn with the material of this page and the next.
    pub page: u32,
    /// Multiplies a value so that ±1 is full colour.
    pub scale: f32,
    /// False while an activation waits for its forward pass (its room is NaN).
    pub computed: bool,
    /// The finest level drawn: 0 when every value is in the pages, else the pyramid level its
    /// blocks are drawn at up close (1 for 2x2 tiles).
    pub finest: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PackedPyramid {
    /// Index, in words from the start of page 0, of the first stored tile.
    pub base: usize,
    /// The first level stored (1, or the tensor's `finest` when that is coarser).
    pub first: u32,
    /// The coarsest level, at which one tile covers the block's face.
    pub top: u32,
}

/// The coarsest pyramid level of a block: tiles of 2^top cells cover its x and y extent.
pub fn pyramid_top(cells: [u32; 3]) -> u32 {
    let across = cells[0].max(cells[1]).max(1);
    across.next_power_of_two().trailing_zeros()
}

/// Tiles of a level: ceil(x / 2^level), ceil(y / 2^level), and the block's depth.
pub fn level_tiles(cells: [u32; 3], level: u32) -> [usize; 3] {
    let tiles = |n: u32| n.div_ceil(1 << level) as usize;
    [tiles(cells[0]), tiles(cells[1]), cells[2] as usize]
}

/// Words of a block's pyramid from level `first` to its top.
pub fn pyramid_words(cells: [u32; 3], first: u32) -> usize {
    (first..=pyramid_top(cells)).map(|level| level_tiles(cells, level).iter().product::<usize>()).sum()
}

/// Where a level starts in a pyramid stored from level `first`, in words.
pub fn level_offset(cells: [u32; 3], first: u32, level: u32) -> usize {
    (first..level).map(|l| level_tiles(cells, l).iter().product::<usize>()).sum()
}

/// A tile's summary as the shader reads it: the mean over its cells of √|s| for positive and for
/// negative scaled values s (clamped to ±1), the share of empty cells (no value, or a masked score),
/// each as 8-bit unorm, and whether any value is not a number (255 or 0), packed as WGSL's
/// `pack4x8unorm`. The average of the cells' colours follows from these exactly, since a cell's
/// colour is linear in √|s| on either side of 0.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct TileSums {
    pub positive: f32,
    pub negative: f32,
    pub empty: f32,
    pub non_finite: bool,
    pub count: f32,
}

impl TileSums {
    pub fn of_value(value: f32, scale: f32) -> TileSums {
        let mut sums = TileSums { count: 1.0, ..TileSums::default() };
        if value == NON_FINITE_MARK {
            sums.non_finite = true;
            sums.empty = 1.0;
        } else if !value.is_finite() {
            sums.empty = 1.0;
        } else {
            let scaled = value * scale;
            let magnitude = scaled.abs().min(1.0).sqrt();
            if scaled >= 0.0 { sums.positive = magnitude } else { sums.negative = magnitude }
        }
        sums
    }

    fn add(&mut self, other: &TileSums) {
        self.positive += other.positive;
        self.negative += other.negative;
        self.empty += other.empty;
        self.non_finite |= other.non_finite;
        self.count += other.count;
    }

    pub fn word(&self) -> u32 {
        let unorm = |x: f32| ((x / self.count.max(1.0)).clamp(0.0, 1.0) * 255.0).round() as u32;
        let flag = if self.non_finite { 255 } else { 0 };
        unorm(self.positive) | (unorm(self.negative) << 8) | (unorm(self.empty) << 16) | (flag << 24)
    }

    /// The inverse of `word`, for tests: positive, negative and empty shares, and the flag.
    pub fn unpack(word: u32) -> [f32; 4] {
        [0, 8, 16, 24].map(|shift| ((word >> shift) & 0xff) as f32 / 255.0)
    }
}

/// The pyramid of one block from level `first` to its top: `value(cell)` reads a cell's value.
pub fn build_pyramid(cells: [u32; 3], first: u32, scale: f32, value: impl Fn([u32; 3]) -> f32) -> Vec<u32> {
    let top = pyramid_top(cells);
    let mut words = Vec::with_capacity(pyramid_words(cells, first));
    if top == 0 {
        return words;
    }
    // Level 1 from the cells, each level after from the one before: exact sums all the way.
    let [nx, ny, nz] = level_tiles(cells, 1);
    let mut level = vec![TileSums::default(); nx * ny * nz];
    for k in 0..cells[2] {
        for j in 0..cells[1] {
            for i in 0..cells[0] {
                let tile = (k as usize * ny + (j / 2) as usize) * nx + (i / 2) as usize;
                level[tile].add(&TileSums::of_value(value([i, j, k]), scale));
            }
        }
    }
    for l in 1..=top {
        if l >= first {
            words.extend(level.iter().map(TileSums::word));
        }
        if l == top {
            break;
        }
        let [px, py, _] = level_tiles(cells, l);
        let [nx, ny, nz] = level_tiles(cells, l + 1);
        let mut next = vec![TileSums::default(); nx * ny * nz];
        for k in 0..nz {
            for j in 0..py {
                for i in 0..px {
                    next[(k * ny + j / 2) * nx + i / 2].add(&level[(k * py + j) * px + i]);
                }
            }
        }
        level = next;
    }
    words
}

/// What the shader draws as a non-finite value (in its own colour): +inf. NaN stays for cells with
/// no value (past the input) and −inf for the scores the causal mask hides, both drawn empty, so
/// every NaN and infinity of the data itself becomes +inf.
pub const NON_FINITE_MARK: f32 = f32::INFINITY;

/// The largest finite 16-bit float: larger values are drawn as this, not as infinities.
const F16_MAX: f32 = 65504.0;

/// A value as the pages store it: finite values rounded to f16 and clamped to its range; NaN,
/// +inf and −inf kept, since they mean something to the shader.
pub fn to_f16_bits(value: f32) -> u16 {
    let value = if value.is_finite() { value.clamp(-F16_MAX, F16_MAX) } else { value };
    f16::from_f32(value).to_bits()
}

/// A tensor group as planned: the tensor, its shape, the blocks drawn from it (with the pyramid
/// each needs) and how many words it takes at its finest level.
struct Group<'a> {
    name: &'a str,
    shape: Vec<usize>,
    blocks: Vec<usize>,
    is_weight: bool,
    finest: u32,
}

impl Group<'_> {
    fn size(&self) -> usize {
        self.shape.iter().product()
    }

    fn value_words(&self) -> usize {
        if self.finest == 0 { self.size().div_ceil(2) } else { 0 }
    }

    fn words(&self, layout: &Layout) -> usize {
        let first = self.finest.max(1);
        self.value_words() + self.blocks.iter().map(|&b| pyramid_words(layout.blocks[b].cells, first)).sum::<usize>()
    }
}

/// Packs the tensor of every block that has one: parameters from `weights`, activations from
/// `activations`, each in the layout's shape (row-major), which for activations is the full
/// context (T = block_size); positions the input does not reach are NaN, which the shader draws as
/// empty cells. With weights, room for every activation is kept before the forward pass has run,
/// so the pages keep their sizes when the activations arrive (`fill_activations`).
///
/// Activations are always drawn exactly. Weights are too while everything fits `paging`'s budget;
/// past it, all weights are drawn from the finest pyramid level that fits, and a tensor whose
/// group would not fit two pages from a coarser level of its own.
pub fn pack_values(
    layout: &Layout,
    weights: Option<&Weights>,
    activations: Option<&Activations>,
    paging: Paging,
) -> PackedValues {
    let mut packed = PackedValues { page_words: paging.page_words.max(2), ..PackedValues::default() };
    let Some(weights) = weights else { return packed };
    let mut groups = plan_groups(layout, weights);
    choose_levels(layout, &mut groups, paging);
    packed.pyramids = vec![None; layout.blocks.len()];
    let mut cursor = 0usize;
    for group in &groups {
        let words = group.words(layout);
        if words > 2 * packed.page_words {
            // Even its coarsest level does not fit two pages: a single block of ~10^10 cells.
            packed.left_out += group.size() as u64;
            continue;
        }
        if cursor % packed.page_words + words > 2 * packed.page_words {
            cursor = cursor.next_multiple_of(packed.page_words);
        }
        let page = (cursor / packed.page_words) as u32;
        let entry = PackedTensor { base: 2 * cursor, page, scale: 1.0, computed: false, finest: group.finest };
        packed.tensors.insert(group.name.to_string(), entry);
        if group.finest > 0 {
            packed.left_out += group.size() as u64;
        }
        let mut at = cursor + group.value_words();
        for &block in &group.blocks {
            let first = group.finest.max(1);
            let cells = layout.blocks[block].cells;
            packed.pyramids[block] = Some(PackedPyramid { base: at, first, top: pyramid_top(cells) });
            at += pyramid_words(cells, first);
        }
        cursor += words;
    }
    packed.pages = (0..cursor.div_ceil(packed.page_words))
        .map(|page| vec![0u32; packed.page_words.min(cursor - page * packed.page_words)])
        .collect();
    packed.versions = vec![0; packed.pages.len()];
    for group in &groups {
        let source =
            if group.is_weight { weights.tensors.get(group.name) } else { activations.and_then(|a| a.get(group.name)) };
        write_tensor(&mut packed, layout, group.name, source);
    }
    packed
}

/// Every tensor drawn, once, with the blocks that draw it: activations first (what a forward pass
/// changes, packed together), then the weights.
fn plan_groups<'a>(layout: &'a Layout, weights: &Weights) -> Vec<Group<'a>> {
    let mut groups: Vec<Group<'a>> = Vec::new();
    let mut by_name: HashMap<&str, usize> = HashMap::new();
    for (index, block) in layout.blocks.iter().enumerate() {
        let name = block.tensor.as_str();
        let group = *by_name.entry(name).or_insert_with(|| {
            let is_weight = weights.tensors.contains_key(name);
            groups.push(Group { name, shape: block.tensor_shape(), blocks: Vec::new(), is_weight, finest: 0 });
            groups.len() - 1
        });
        groups[group].blocks.push(index);
    }
    groups.sort_by_key(|group| group.is_weight);
    groups
}

/// The weights' finest level: 0 when all fits the budget, else the first level at which the
/// weights' pyramids do (activations never leave level 0); then any group too large for two pages
/// goes a level coarser until it fits.
fn choose_levels(layout: &Layout, groups: &mut [Group], paging: Paging) {
    const COARSEST: u32 = 12;
    for finest in 0..=COARSEST {
        for group in groups.iter_mut().filter(|group| group.is_weight) {
            group.finest = finest;
        }
        // Padding to page boundaries may add up to a page per group; count it as spent.
        let total: u64 = groups.iter().map(|group| group.words(layout) as u64).sum();
        if total <= paging.budget_words {
            break;
        }
    }
    let two_pages = 2 * paging.page_words.max(2);
    for group in groups.iter_mut().filter(|group| group.is_weight) {
        while group.words(layout) > two_pages && group.finest < COARSEST {
            group.finest += 1;
        }
    }
}

/// Writes the activations of a forward pass where `pack_values` kept their room; the weights' words
/// stay. Only the pages that hold activations change.
pub fn fill_activations(packed: &mut PackedValues, layout: &Layout, activations: &Activations) {
    let names: Vec<String> = packed.tensors.keys().filter(|name| activations.get(name).is_some()).cloned().collect();
    for name in names {
        write_tensor(packed, layout, &name, activations.get(&name));
    }
}

/// Gradient mode: every tensor's gradient (`<name>.grad` of a training step's pass) where its values
/// were, the weights' too; a tensor without one (a by-product the pass does not go on with, such as
/// a norm's statistics) is left empty.
pub fn fill_gradients(packed: &mut PackedValues, layout: &Layout, activations: &Activations) {
    let names: Vec<String> = packed.tensors.keys().cloned().collect();
    for name in names {
        write_tensor(packed, layout, &name, activations.get(&format!("{name}.grad")));
    }
    packed.gradients = true;
}

/// Out of gradient mode: the weights' own values again (the activations follow with their pass).
pub fn fill_weights(packed: &mut PackedValues, layout: &Layout, weights: &Weights) {
    let names: Vec<String> =
        packed.tensors.keys().filter(|name| weights.tensors.contains_key(*name)).cloned().collect();
    for name in names {
        write_tensor(packed, layout, &name, weights.tensors.get(&name));
    }
    packed.gradients = false;
}

/// Writes a tensor's new values where `pack_values` put it (an output reshaped by sampling), with
/// its colour scale and its blocks' pyramids; a tensor not packed (or of another shape) is left as it is.
pub fn repack(packed: &mut PackedValues, layout: &Layout, name: &str, tensor: &NamedTensor) {
    write_tensor(packed, layout, name, Some(tensor));
}

/// Writes one tensor (NaN room when `source` is None) and its blocks' pyramids.
fn write_tensor(packed: &mut PackedValues, layout: &Layout, name: &str, source: Option<&NamedTensor>) {
    let Some(entry) = packed.tensors.get(name).copied() else { return };
    let Some(shape) = layout.blocks.iter().find(|block| block.tensor == name).map(|block| block.tensor_shape()) else {
        return;
    };
    let marked = source.map(|source| mark_non_finite(name, source));
    let (data, computed, scale) = match marked.as_deref() {
        Some(source) => match pad_to(source, &shape) {
            Some(padded) => (padded, true, colour_scale(&source.data)),
            None => return,
        },
        None => (vec![f32::NAN; shape.iter().product()], false, 1.0),
    };
    if entry.finest == 0 {
        for (pair, chunk) in data.chunks(2).enumerate() {
            let low = to_f16_bits(chunk[0]) as u32;
            let high = chunk.get(1).map_or(0, |&v| to_f16_bits(v) as u32);
            packed.set_word(entry.base / 2 + pair, low | (high << 16));
        }
    }
    for (index, block) in layout.blocks.iter().enumerate().filter(|(_, block)| block.tensor == name) {
        let Some(pyramid) = packed.pyramids[index] else { continue };
        let (origin, strides) = cell_strides(block);
        let value = |[i, j, k]: [u32; 3]| {
            let at = origin + i as i64 * strides[0] + j as i64 * strides[1] + k as i64 * strides[2];
            data.get(at as usize).copied().unwrap_or(f32::NAN)
        };
        for (offset, word) in build_pyramid(block.cells, pyramid.first, scale, value).into_iter().enumerate() {
            packed.set_word(pyramid.base + offset, word);
        }
    }
    packed.tensors.insert(name.to_string(), PackedTensor { scale, computed, ..entry });
}

/// The cell → element map of a block is linear: the element of cell (0, 0, 0) and the step per
/// cell along each axis.
pub fn cell_strides(block: &Block) -> (i64, [i64; 3]) {
    let origin = block.tensor_offset([0, 0, 0]) as i64;
    let step = |axis: usize| {
        let mut cell = [0u32; 3];
        cell[axis] = 1;
        block.tensor_offset(cell) as i64 - origin
    };
    (origin, [step(0), step(1), step(2)])
}

impl PackedValues {
    fn set_word(&mut self, at: usize, word: u32) {
        let page = at / self.page_words;
        if let Some(slot) = self.pages.get_mut(page).and_then(|words| words.get_mut(at % self.page_words)) {
            *slot = word;
            self.versions[page] += 1;
        }
    }

    /// The word at an index counted from the start of page 0.
    pub fn word(&self, at: usize) -> Option<u32> {
        self.pages.get(at / self.page_words)?.get(at % self.page_words).copied()
    }

    /// The value at an index counted in 16-bit values from the start of page 0, as the shader reads it.
    pub fn value(&self, at: usize) -> Option<f32> {
        let word = self.word(at / 2)?;
        let bits = if at.is_multiple_of(2) { word & 0xffff } else { word >> 16 };
        Some(f16::from_bits(bits as u16).to_f32())
    }

    /// `len` values from `base` (see `value`).
    pub fn values(&self, base: usize, len: usize) -> Vec<f32> {
        (base..base + len).map(|at| self.value(at).unwrap_or(f32::NAN)).collect()
    }

    /// The first word of a page, counted from the start of page 0.
    pub fn page_start(&self, page: u32) -> usize {
        page as usize * self.page_words
    }

    /// Bytes in all pages.
    pub fn bytes(&self) -> u64 {
        self.pages.iter().map(|page| 4 * page.len() as u64).sum()
    }
}

/// `tensor` with its non-finite values (the mask's −inf scores apart) set to `NON_FINITE_MARK`;
/// borrowed as it is when it has none, as it almost always has.
fn mark_non_finite<'a>(name: &str, tensor: &'a NamedTensor) -> std::borrow::Cow<'a, NamedTensor> {
    if tensor.data.iter().all(|v| v.is_finite()) {
        return std::borrow::Cow::Borrowed(tensor);
    }
    let mut marked = tensor.clone();
    for (offset, value) in marked.data.iter_mut().enumerate() {
        let meant = *value == f32::NEG_INFINITY && is_masked_score(name, &unravel(offset, &tensor.shape));
        if !value.is_finite() && !meant {
            *value = NON_FINITE_MARK;
        }
    }
    std::borrow::Cow::Owned(marked)
}

/// `tensor` placed in a row-major array of `shape` (same rank): NaN where the tensor is shorter,
/// cut where it is longer (a checkpoint's position embedding beyond the drawn tokens).
fn pad_to(tensor: &NamedTensor, shape: &[usize]) -> Option<Vec<f32>> {
    if tensor.shape == shape {
        return Some(tensor.data.clone());
    }
    if tensor.shape.len() != shape.len() {
        return None;
    }
    let mut padded = vec![f32::NAN; shape.iter().product()];
    let mut index = vec![0usize; shape.len()];
    for &value in &tensor.data {
        if index.iter().zip(shape).all(|(&i, &n)| i < n) {
            let offset = index.iter().zip(shape).fold(0, |offset, (&i, &n)| offset * n + i);
            padded[offset] = value;
        }
        // Next multi-index of the source tensor, last dimension fastest.
        for axis in (0..index.len()).rev() {
            index[axis] += 1;
            if index[axis] < tensor.shape[axis] {
                break;
            }
            index[axis] = 0;
        }
    }
    Some(padded)
}

/// The scale that makes a tensor's typical large values full colour: 1 / (2.5 × RMS of its finite values).
/// A per-tensor scale keeps weights (about 0.02) and logits (about 10) equally readable.
pub fn colour_scale(data: &[f32]) -> f32 {
    let (sum, count) = data
        .iter()
        .filter(|v| v.is_finite())
        .fold((0.0f64, 0usize), |(sum, count), &v| (sum + (v as f64) * (v as f64), count + 1));
    if count == 0 || sum == 0.0 {
        return 1.0;
    }
    let rms = (sum / count as f64).sqrt();
    (1.0 / (2.5 * rms)) as f32
}
