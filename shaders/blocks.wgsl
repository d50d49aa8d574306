// Every layout block, drawn procedurally on one shared unit cube: no geometry per cell.
//
// Bindings (material group, see src/render/material.rs `BlockMaterial`):
//   @binding(0) descriptors: one `BlockDescriptor` per block, indexed by the entity's `MeshTag`
//   @binding(1) page_a:      a page of values (16-bit floats, two to a word) and pyramids (a word
//                            per tile), see src/render/pages.rs
//   @binding(2) page_b:      the next page: a block's words start in page_a and may run on into it
//
// `BlockDescriptor` mirrors `render::material::BlockDescriptor`; change both together.
//
// Cell coordinates follow the layout: cell i along x left→right, j along y top→bottom (j = 0 at the
// top), k along z front→back (k = 0 at the front face). A folded block's cube is the box its strips
// are drawn in: the vertex shader places the cube in drawn cells, the fragment shader maps them back
// to the block's own cells and leaves the gaps between strips empty.

#import bevy_pbr::{
    mesh_functions,
    mesh_view_bindings::view,
    view_transformations::position_world_to_clip,
}

// Every block covers at least this many pixels across, so a one-cell row stays visible from afar.
const MIN_SIZE_PX: f32 = 1.5;

struct BlockDescriptor {
    // x, y, z: cell counts; w: flags (1 = a level-of-detail proxy box, drawn flat)
    cells: vec4<u32>,
    // x, y, z: step in the values per cell along each axis; w: index of cell (0, 0, 0)'s 16-bit value
    // from the start of page_a, or -1 when the block shows no values (not computed yet, a preset
    // without weights, or weights drawn from their pyramid only)
    strides: vec4<i32>,
    // rgb: the colour family (linear); a: opacity
    colour: vec4<f32>,
    // x: value scale (value × scale = ±1 is full colour); y: highlight 0..1; z: how many columns
    // from focus.x the focus lights; w: cells computed so far in reveal order (a tour's reveal), −1
    // for all
    style: vec4<f32>,
    // x, y, z: the focused cell, −1 along an axis for all of it (a row, a column); w: strength in
    // percent, 0 for none
    focus: vec4<i32>,
    // x, y, z: the first cell of a box a tour's `Compute` shows computed besides `style.w`; w: how
    // many of its cells, in reveal order within the box
    window: vec4<i32>,
    // x, y, z: the box's size in cells (0 for none)
    window_size: vec4<u32>,
    // x: the first word of the block's pyramid from the start of page_a, or -1 for none; y: its
    // first level stored; z: its top level; w: words in a page
    pyramid: vec4<i32>,
    // A block drawn folded into strips (`layout::Fold`): x: 1 + the axis cut (0 for a block drawn
    // whole); y: the axis the strips follow one another on; z: cells per strip; w: the pitch
    fold: vec4<u32>,
}

@group(#{MATERIAL_BIND_GROUP}) @binding(0) var<storage, read> descriptors: array<BlockDescriptor>;
@group(#{MATERIAL_BIND_GROUP}) @binding(1) var<storage, read> page_a: array<u32>;
@group(#{MATERIAL_BIND_GROUP}) @binding(2) var<storage, read> page_b: array<u32>;

struct Vertex {
    @builtin(instance_index) instance_index: u32,
    @location(0) position: vec3<f32>,
    @location(1) normal: vec3<f32>,
};

struct VertexOutput {
    @builtin(position) clip_position: vec4<f32>,
    // Position in cells: (0, 0, 0) at the left, top, front corner, `cells` at the opposite one.
    @location(0) cell_position: vec3<f32>,
    // The face's normal in cell axes (y and z flipped like the cell axes).
    @location(1) @interpolate(flat) cell_normal: vec3<f32>,
    @location(2) @interpolate(flat) tag: u32,
};

// Moves a corner away from the block's centre on screen until the block is MIN_SIZE_PX across;
// corners of blocks that are already larger stay where they are.
fn grow_to_min_size(clip: vec4<f32>, centre_clip: vec4<f32>) -> vec4<f32> {
    if clip.w <= 0.0 || centre_clip.w <= 0.0 {
        return clip;
    }
    let half_viewport = view.viewport.zw * 0.5;
    let centre = centre_clip.xy / centre_clip.w;
    let offset_px = (clip.xy / clip.w - centre) * half_viewport;
    let grown_px = sign(offset_px) * max(abs(offset_px), vec2(MIN_SIZE_PX * 0.5));
    return vec4((centre + grown_px / half_viewport) * clip.w, clip.z, clip.w);
}

// The cells of the box a block is drawn in: its own, or its strips' (`layout::Fold::drawn_cells`).
fn drawn_cells(block: BlockDescriptor) -> vec3<f32> {
    var cells = vec3<f32>(block.cells.xyz);
    if block.fold.x == 0u {
        return cells;
    }
    let along = block.fold.x - 1u;
    let across = block.fold.y;
    let length = f32(block.fold.z);
    let strips = ceil(cells[along] / length);
    cells[across] = (strips - 1.0) * f32(block.fold.w) + cells[across];
    cells[along] = min(length, cells[along]);
    return cells;
}

// A point of a block's drawn box in the block's own cells (`logical`), and in its strip's (`local`,
// of `local_cells`), where the outline is drawn; `inside` is false in the gaps between strips and
// past the last cell.
struct Unfolded {
    logical: vec3<f32>,
    local: vec3<f32>,
    local_cells: vec3<f32>,
    inside: bool,
}

fn unfold(block: BlockDescriptor, drawn: vec3<f32>) -> Unfolded {
    var cells = vec3<f32>(block.cells.xyz);
    if block.fold.x == 0u {
        return Unfolded(drawn, drawn, cells, true);
    }
    let along = block.fold.x - 1u;
    let across = block.fold.y;
    let length = f32(block.fold.z);
    var point = drawn;
    let strip = floor(point[across] / f32(block.fold.w));
    var local = point;
    local[across] = point[across] - strip * f32(block.fold.w);
    var logical = local;
    logical[along] = point[along] + strip * length;
    var local_cells = cells;
    local_cells[along] = min(length, cells[along] - strip * length);
    // A strip's far faces lie exactly on its last cell's edge.
    let inside = local[across] <= cells[across] + 1e-3 && logical[along] <= cells[along] + 1e-3;
    return Unfolded(logical, local, local_cells, inside);
}

@vertex
fn vertex(vertex: Vertex) -> VertexOutput {
    var out: VertexOutput;
    let tag = mesh_functions::get_tag(vertex.instance_index);
    let world_from_local = mesh_functions::get_world_from_local(vertex.instance_index);
    let world_position = mesh_functions::mesh_position_local_to_world(world_from_local, vec4(vertex.position, 1.0));
    out.clip_position = grow_to_min_size(
        position_world_to_clip(world_position.xyz),
        position_world_to_clip((world_from_local * vec4(0.0, 0.0, 0.0, 1.0)).xyz),
    );
    let cells = drawn_cells(descriptors[tag]);
    let p = vertex.position; // the unit cube spans −0.5..0.5
    out.cell_position = vec3(p.x + 0.5, 0.5 - p.y, 0.5 - p.z) * cells;
    out.cell_normal = vertex.normal * vec3(1.0, -1.0, -1.0);
    out.tag = tag;
    return out;
}

const PROXY: u32 = 1u;
// A value of 0 is grey, as in the reference; positive values go towards the family colour and
// negative ones towards black (linear RGB).
const ZERO_VALUE = vec3<f32>(0.55, 0.55, 0.55);
const NEGATIVE_END = vec3<f32>(0.015, 0.015, 0.02);

// A word of the block's two pages, counted from the start of the first.
fn word_at(index: i32, page_words: i32) -> u32 {
    if index < page_words {
        return page_a[index];
    }
    return page_b[index - page_words];
}

// A cell's value as stored: an f16 (two to a word, the lower half first), read as bits so that
// NaN and the infinities keep their meaning whatever the GPU does with non-finite floats.
fn half_bits(index: i32, page_words: i32) -> u32 {
    let word = word_at(index >> 1u, page_words);
    return (word >> (16u * u32(index & 1))) & 0xffffu;
}

// An f16's exponent all ones: NaN marks a cell with no value (a position past the input), −inf a
// masked attention score, +inf a value that is itself NaN or infinite (a broken weight, or an
// overflow in the forward pass: `render::pages::NON_FINITE_MARK`).
fn half_is_finite(bits: u32) -> bool {
    return (bits & 0x7c00u) != 0x7c00u;
}

fn half_is_non_finite_mark(bits: u32) -> bool {
    return bits == 0x7c00u;
}

fn half_value(bits: u32) -> f32 {
    return unpack2x16float(bits).x;
}

// A colour no family and no focus uses, so a broken value stands out at once.
const NON_FINITE_COLOUR = vec3<f32>(1.0, 0.0, 0.85);

// Sign and magnitude against the family; `scaled` = ±1 is full colour.
fn value_colour(family: vec3<f32>, scaled: f32) -> vec3<f32> {
    let magnitude = clamp(abs(scaled), 0.0, 1.0);
    let end = select(NEGATIVE_END, family, scaled >= 0.0);
    return mix(ZERO_VALUE, end, sqrt(magnitude));
}

// The body of a block between and behind its value squares: a pale tint of its family.
fn body_colour(family: vec3<f32>) -> vec3<f32> {
    return mix(vec3(1.0), family, 0.22);
}

// How lit a face looks: front brightest, top a little darker, sides darker, as if lit from the front-top.
fn face_shade(cell_normal: vec3<f32>) -> f32 {
    let n = cell_normal;
    return 1.0 - 0.06 * max(-n.y, 0.0) - 0.14 * abs(n.x) - 0.2 * max(n.y, 0.0) - 0.2 * max(n.z, 0.0);
}

// The order a tour computes a block's cells in: token by token (x), then depth, then down the
// column. Mirrors `tour::timeline::reveal_rank`.
fn reveal_rank(cell: vec3<f32>, cells: vec3<f32>) -> f32 {
    return (cell.x * cells.z + cell.z) * cells.y + cell.y;
}

// Whether a cell is among the first `window.w` cells of the descriptor's window box, in reveal
// order within the box.
fn in_window(cell: vec3<f32>, window: vec4<i32>, window_size: vec4<u32>) -> bool {
    let local = vec3<i32>(cell) - window.xyz;
    let size = vec3<i32>(window_size.xyz);
    if window.w <= 0 || any(local < vec3(0)) || any(local >= size) {
        return false;
    }
    return reveal_rank(vec3<f32>(local), vec3<f32>(size)) < f32(window.w);
}

// How strongly a cell is lit, 0..1: the focused cell, row, column(s) or block (−1 matches any)
// fully; `columns` columns from focus.x. A focus on one single cell (the hovered one) also lights
// its row and column, the cells that differ from it along one axis only, at a third.
fn focus_strength(cell: vec3<f32>, focus: vec4<i32>, columns: i32) -> f32 {
    if focus.w <= 0 {
        return 0.0;
    }
    let c = vec3<i32>(cell);
    let last = focus.xyz + vec3(max(columns, 1) - 1, 0, 0);
    let matches = (focus.xyz < vec3(0)) | ((c >= focus.xyz) & (c <= last));
    let strength = f32(focus.w) / 100.0;
    if all(matches) {
        return strength;
    }
    let single_cell = all(focus.xyz >= vec3(0)) && columns <= 1;
    let misses = select(1, 0, matches.x) + select(1, 0, matches.y) + select(1, 0, matches.z);
    if single_cell && misses == 1 {
        return strength / 3.0;
    }
    return 0.0;
}

const FOCUS_COLOUR = vec3<f32>(1.0, 0.42, 0.05);

// The average colour of a pyramid tile's cells (`render::pages::TileSums`): the shares of √|s|
// on either side of zero, of empty cells, and a flag for a value that is not a number. A cell's
// colour is linear in √|s| on each side, so this is the exact mean of the cells' colours.
fn tile_colour(block: BlockDescriptor, cell: vec3<f32>, level: i32, family: vec3<f32>, body: vec3<f32>) -> vec3<f32> {
    let cells = block.cells.xyz;
    var offset = block.pyramid.x;
    for (var l = block.pyramid.y; l < level; l++) {
        let tiles = (cells.xy + vec2((1u << u32(l)) - 1u)) >> vec2(u32(l));
        offset += i32(tiles.x * tiles.y * cells.z);
    }
    let tiles = (cells.xy + vec2((1u << u32(level)) - 1u)) >> vec2(u32(level));
    let tile = vec3<u32>(cell) >> vec3(u32(level), u32(level), 0u);
    let index = offset + i32((tile.z * tiles.y + tile.y) * tiles.x + tile.x);
    let shares = unpack4x8unorm(word_at(index, block.pyramid.w));
    if shares.w > 0.5 {
        return NON_FINITE_COLOUR;
    }
    let filled = 1.0 - shares.z;
    return ZERO_VALUE * filled + (family - ZERO_VALUE) * shares.x + (NEGATIVE_END - ZERO_VALUE) * shares.y + body * shares.z;
}

// The colour of a cell seen at `level_f` (log2 of the cells a pixel covers, biased): the cell
// itself up close, then the pyramid's levels, blended between neighbouring levels so that a
// block fades from its cells to its tiles' average colours without a seam or a shimmer.
fn distant_colour(block: BlockDescriptor, cell: vec3<f32>, near: vec3<f32>, level_f: f32, family: vec3<f32>, body: vec3<f32>) -> vec3<f32> {
    let first = f32(block.pyramid.y);
    let top = f32(block.pyramid.z);
    // Without the cells' own values (a model too large for them), the finest level stored is the nearest.
    let lowest = select(first, 0.0, block.strides.w >= 0);
    let level = clamp(level_f, lowest, top);
    let below = floor(level);
    let blend = level - below;
    var colour_below = near;
    if below >= 1.0 {
        colour_below = tile_colour(block, cell, i32(below), family, body);
    }
    if blend <= 0.0 || below >= top {
        return colour_below;
    }
    let colour_above = tile_colour(block, cell, i32(below) + 1, family, body);
    return mix(colour_below, colour_above, blend);
}

// Distance, in pixels, from a coordinate to the nearest multiple of `period` cells.
fn line_distance_px(coordinate: vec2<f32>, period: f32, cells_per_px: vec2<f32>) -> f32 {
    let to_line = abs(fract(coordinate / period + 0.5) - 0.5) * period;
    let px = to_line / max(cells_per_px, vec2(1e-6));
    return min(px.x, px.y);
}

// A face's two in-plane coordinates of a point: (x, y) on the front and back, (x, z) on the top
// and bottom, (z, y) on the sides.
fn in_face(point: vec3<f32>, cell_normal: vec3<f32>) -> vec2<f32> {
    let n = abs(cell_normal);
    if n.z > 0.5 {
        return point.xy;
    } else if n.y > 0.5 {
        return point.xz;
    }
    return point.zy;
}

@fragment
fn fragment(in: VertexOutput) -> @location(0) vec4<f32> {
    let block = descriptors[in.tag];
    let family = block.colour.rgb;
    let shade = face_shade(in.cell_normal);
    let opacity = block.colour.a;
    let highlight = block.style.y;
    let cells = vec3<f32>(block.cells.xyz);
    let unfolded = unfold(block, in.cell_position);
    let position = unfolded.logical;
    // The face's two in-plane axes: for the front face (normal along z) that is (x, y). `strip` is
    // the point within its strip, `strip_cells` the strip's size: the outline goes round each strip.
    let face = in_face(position, in.cell_normal);
    let strip = in_face(unfolded.local, in.cell_normal);
    let strip_cells = in_face(unfolded.local_cells, in.cell_normal);
    // Measured on the drawn box, which is continuous across the strips.
    let cells_per_px = max(fwidth(in_face(in.cell_position, in.cell_normal)), vec2(1e-6));
    if !unfolded.inside {
        discard;
    }

    // A level-of-detail proxy stands for many small blocks: one flat colour.
    if (block.cells.w & PROXY) != 0u {
        let flat_colour = mix(vec3(1.0), family, 0.6 + 0.4 * highlight);
        return vec4(flat_colour * shade, opacity);
    }

    let cell_px = 1.0 / max(cells_per_px.x, cells_per_px.y);
    // Level of detail: grid lines go first (cells under ~6 px), values next (under ~2 px), so a
    // distant block is one flat colour rather than a shimmer of aliased cells.
    let grid_detail = smoothstep(4.0, 8.0, cell_px);
    let value_detail = smoothstep(1.0, 2.5, cell_px);

    let body = body_colour(family);
    var colour = body;
    let base = block.strides.w;
    let has_pyramid = block.pyramid.x >= 0;
    let cell = clamp(floor(position), vec3(0.0), cells - 1.0);
    // Cells a tour has not computed yet show no value.
    let revealed = block.style.w < 0.0 || reveal_rank(cell, cells) < block.style.w
        || in_window(cell, block.window, block.window_size);
    // About one pyramid tile per two pixels: each pixel then averages what it covers.
    let level_f = log2(max(cells_per_px.x, cells_per_px.y)) + 1.0;
    if (base >= 0 || has_pyramid) && revealed {
        var near = body;
        var non_finite = false;
        if base >= 0 {
            let bits = half_bits(base + i32(dot(vec3<i32>(cell), block.strides.xyz)), block.pyramid.w);
            // A cell without a value (past the input, or a masked score) is left empty.
            var fill = body;
            if half_is_finite(bits) {
                fill = value_colour(family, half_value(bits) * block.style.x);
            }
            // Up close a value is a square inside its cell, so neighbouring cells stay apart.
            let inside = fract(face);
            let margin = 0.12;
            let in_square = all(inside > vec2(margin)) && all(inside < vec2(1.0 - margin));
            let framed = select(body, fill, in_square);
            near = mix(fill, framed, grid_detail);
            non_finite = half_is_non_finite_mark(bits);
        }
        if has_pyramid {
            colour = distant_colour(block, cell, near, level_f, family, body);
        } else {
            // A block without a pyramid (a flying copy of a few cells): one flat colour far away.
            colour = mix(mix(vec3(0.8), family, 0.5), near, value_detail);
        }
        // A value that is not a number is seen from any distance (the pyramid flags its tiles too).
        if non_finite {
            colour = NON_FINITE_COLOUR;
        }
    }

    // Cell grid lines, heavier every 16 cells, fading out with distance.
    let fine = 1.0 - smoothstep(0.0, 1.0, line_distance_px(face, 1.0, cells_per_px));
    let coarse = 1.0 - smoothstep(0.5, 1.5, line_distance_px(face, 16.0, cells_per_px));
    let line_colour = family * 0.5;
    colour = mix(colour, line_colour, 0.3 * fine * grid_detail);
    colour = mix(colour, line_colour, 0.45 * coarse * value_detail);

    // The block's outline, always one pixel, so a block stays a block at any distance.
    let edge_px = min(
        min(strip.x, strip_cells.x - strip.x) / cells_per_px.x,
        min(strip.y, strip_cells.y - strip.y) / cells_per_px.y,
    );
    let edge = 1.0 - smoothstep(0.5, 1.5, edge_px);
    colour = mix(colour, family * 0.35, 0.8 * edge);

    colour = mix(colour, family, 0.5 * highlight);
    colour = mix(colour, FOCUS_COLOUR, 0.75 * focus_strength(cell, block.focus, i32(block.style.z)));
    return vec4(colour * shade, opacity);
}
