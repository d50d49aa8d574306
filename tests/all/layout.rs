//! The layout: what each block shows, where it sits, and what feeds it.

use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap, HashSet};
use std::sync::OnceLock;

use llmviz::layout::{
    ANCHOR_ASPECT, ANCHOR_FOV_Y_DEGREES, Anchor, Axis, Block, BlockKind, CELL, LabelKind, Layout, Op, build,
    layers_per_column,
};
use llmviz::model::config::{GptConfig, LlamaShape};
use llmviz::model::lens::lens_shapes;
use llmviz::model::names::{activation_shapes, parameter_shapes};

const PRESETS: [&str; 4] = ["nano", "gpt2", "gpt2-xl", "gpt3"];

/// Each preset is built once per test run: GPT-3 takes a while in a debug build.
fn layout(name: &str) -> &'static Layout {
    static LAYOUTS: [OnceLock<Layout>; 4] = [const { OnceLock::new() }; 4];
    let slot = PRESETS.iter().position(|&preset| preset == name).expect("a preset");
    LAYOUTS[slot].get_or_init(|| build(&GptConfig::preset(name).expect("a preset")))
}

fn block<'a>(layout: &'a Layout, name: &str) -> &'a Block {
    layout.block(name).unwrap_or_else(|| panic!("no block {name} in {}", layout.config.name))
}

/// Every block name the grammar gives a model, in no particular order.
fn grammar_names(config: &GptConfig) -> Vec<String> {
    let mut names: Vec<String> = ["tokens", "wte", "wpe", "x", "x.lens"].map(String::from).to_vec();
    let layer_norm = |prefix: &str| {
        ["mean", "std", "gamma", "beta"].map(|part| format!("{prefix}.{part}")).into_iter().chain([prefix.to_string()])
    };
    for i in 0..config.n_layer {
        names.extend(layer_norm(&format!("block{i}.ln1")));
        for h in 0..config.n_head {
            let parts: Vec<&str> = if config.n_layer > 12 { vec!["qkv"] } else { vec!["q", "k", "v"] };
            for part in parts {
                names.extend([
                    format!("block{i}.head{h}.{part}.weight"),
                    format!("block{i}.head{h}.{part}.bias"),
                    format!("block{i}.head{h}.{part}"),
                ]);
            }
            names
                .extend(["att", "att.max", "att.sumexp", "att_sm", "y"].map(|part| format!("block{i}.head{h}.{part}")));
        }
        names.extend(["proj.weight", "proj.bias", "attn_proj", "attn_resid"].map(|part| format!("block{i}.{part}")));
        names.extend(layer_norm(&format!("block{i}.ln2")));
        names.extend(
            [
                "fc.weight",
                "fc.bias",
                "fc",
                "gelu",
                "mlp_proj.weight",
                "mlp_proj.bias",
                "mlp",
                "mlp_resid",
                "mlp_resid.lens",
            ]
            .map(|part| format!("block{i}.{part}")),
        );
    }
    names.extend(layer_norm("ln_f"));
    names.extend(["lm_head", "logits", "logits.max", "logits.sumexp", "probs"].map(String::from));
    names
}

/// Every tensor a block may show, with its shape: parameters, activations over the full context, and the token ids.
fn tensor_shapes(config: &GptConfig) -> HashMap<String, Vec<usize>> {
    let mut shapes: HashMap<String, Vec<usize>> = parameter_shapes(config).into_iter().collect();
    shapes.extend(activation_shapes(config, config.block_size));
    shapes.extend(lens_shapes(config, config.block_size));
    shapes.insert("tokens".into(), vec![config.block_size]);
    shapes
}

fn contains(min: [f32; 3], max: [f32; 3], block: &Block) -> bool {
    let block_max = block.max();
    (0..3).all(|axis| min[axis] <= block.position[axis] && block_max[axis] <= max[axis])
}

// ---- parameters and coverage ----

#[test]
fn nano_weight_cells_equal_85728_parameters() {
    let layout = layout("nano");
    assert_eq!(layout.weight_cells(), 85_728);
    assert_eq!(layout.weight_cells(), layout.config.param_count());
}

#[test]
fn gpt2_weight_cells_equal_124439808_parameters_with_the_tied_head_counted_once() {
    let layout = layout("gpt2");
    assert_eq!(layout.weight_cells(), 124_439_808);
    assert_eq!(layout.weight_cells(), layout.config.param_count());
    let lm_head = block(layout, "lm_head");
    assert_eq!(lm_head.kind, BlockKind::Tied);
    assert_eq!(lm_head.tensor, "transformer.wte.weight");
    assert_eq!(lm_head.tensor_shape(), block(layout, "wte").tensor_shape());
    assert_eq!(layout.blocks.iter().filter(|block| block.kind == BlockKind::Tied).count(), 1);
}

#[test]
fn gpt2_xl_and_gpt3_weight_cells_equal_their_parameter_counts() {
    for name in ["gpt2-xl", "gpt3"] {
        let layout = layout(name);
        assert_eq!(layout.weight_cells(), layout.config.param_count(), "{name}");
        assert_eq!(block(layout, "lm_head").kind, BlockKind::Tied, "{name}");
    }
}

#[test]
fn nano_lm_head_is_its_own_weight() {
    let lm_head = block(layout("nano"), "lm_head");
    assert_eq!((lm_head.kind, lm_head.tensor.as_str()), (BlockKind::Weight, "lm_head.weight"));
}

#[test]
fn every_parameter_and_activation_of_nano_is_shown_by_a_block() {
    let layout = layout("nano");
    let config = &layout.config;
    let shown: HashSet<&str> = layout.blocks.iter().map(|block| block.tensor.as_str()).collect();
    // Not drawn, by design: tok_emb and pos_emb are the wte and wpe columns that add up to x, and
    // an unmerged model shows block{i}.qkv through its q, k and v, which hold the same values.
    let not_drawn =
        |name: &str| name == "tok_emb" || name == "pos_emb" || (name.starts_with("block") && name.ends_with(".qkv"));
    for (name, _) in parameter_shapes(config) {
        assert!(shown.contains(name.as_str()), "parameter {name} has no block");
    }
    for (name, _) in activation_shapes(config, config.block_size) {
        assert!(not_drawn(&name) || shown.contains(name.as_str()), "activation {name} has no block");
    }
}

#[test]
fn every_block_shows_a_known_tensor_with_its_true_shape() {
    for name in PRESETS {
        let layout = layout(name);
        let shapes = tensor_shapes(&layout.config);
        for block in &layout.blocks {
            let shape = shapes
                .get(&block.tensor)
                .unwrap_or_else(|| panic!("{name}: {} shows unknown {}", block.name, block.tensor));
            assert_eq!(&block.tensor_shape(), shape, "{name}: {} on {}", block.name, block.tensor);
        }
    }
}

// ---- names ----

#[test]
fn nano_has_exactly_the_blocks_of_the_name_grammar() {
    let layout = layout("nano");
    let expected = grammar_names(&layout.config);
    for name in &expected {
        assert!(layout.find(name).is_some(), "missing {name}");
    }
    assert_eq!(layout.blocks.len(), expected.len());
    assert_eq!(layout.blocks.len(), 206 + 4, "the reference's nano has 206 blocks; 4 lens strips are ours");
}

#[test]
fn gpt2_has_separate_q_k_v_blocks_and_2307_in_all() {
    let layout = layout("gpt2");
    let expected = grammar_names(&layout.config);
    assert!(expected.iter().all(|name| layout.find(name).is_some()));
    assert_eq!(layout.blocks.len(), expected.len());
    assert_eq!(layout.blocks.len(), 2294 + 13, "the reference's GPT-2 has 2,294 blocks; 13 lens strips are ours");
    assert!(layout.find("block11.head11.q.weight").is_some());
    assert!(layout.find("block0.head0.qkv").is_none());
}

#[test]
fn deep_models_merge_each_heads_q_k_v_into_qkv_blocks() {
    for name in ["gpt2-xl", "gpt3"] {
        let layout = layout(name);
        let expected = grammar_names(&layout.config);
        assert!(expected.iter().all(|name| layout.find(name).is_some()), "{name}");
        assert_eq!(layout.blocks.len(), expected.len(), "{name}");
        for part in ["qkv.weight", "qkv.bias", "qkv"] {
            let merged = block(layout, &format!("block0.head0.{part}"));
            assert_eq!(merged.cells[2], 3, "{name}: {part} holds q, k and v in depth");
        }
        assert!(layout.find("block0.head0.q").is_none() && layout.find("block0.head0.k.weight").is_none(), "{name}");
    }
}

#[test]
fn kinds_follow_what_a_block_shows() {
    for name in ["nano", "gpt2-xl"] {
        let layout = layout(name);
        for block in &layout.blocks {
            let name = block.name.as_str();
            let is_parameter = block.tensor.starts_with("transformer.") || block.tensor == "lm_head.weight";
            let is_statistic =
                [".mean", ".std", ".max", ".sumexp", ".lens"].iter().any(|suffix| name.ends_with(suffix));
            let expected = match () {
                _ if name == "lm_head" && layout.config.tied_lm_head => BlockKind::Tied,
                _ if is_parameter => BlockKind::Weight,
                _ if is_statistic => BlockKind::Aggregate,
                _ => BlockKind::Activation,
            };
            assert_eq!(block.kind, expected, "{name}");
            assert_eq!(block.op == Op::Param, is_parameter, "{name}: parameters and only they are Param");
        }
    }
}

// ---- the cell → element map ----

#[test]
fn head_blocks_show_their_heads_slice() {
    let nano = layout("nano");
    let query = block(nano, "block1.head2.q");
    assert_eq!(query.tensor, "block1.q");
    assert_eq!(query.axes, [Some(Axis::T), Some(Axis::A), None]);
    assert_eq!(query.tensor_index([4, 7, 0]), vec![2, 4, 7]);
    let att_max = block(nano, "block0.head1.att.max");
    assert_eq!((att_max.tensor.as_str(), att_max.tensor_index([5, 0, 0])), ("block0.att_max", vec![1, 5]));
    let key_weight = block(nano, "block1.head2.k.weight");
    assert_eq!(key_weight.tensor, "transformer.h.1.attn.c_attn.weight");
    // k rows start at C; head 2's at C + 2A; x runs along the input channel.
    assert_eq!(key_weight.tensor_index([5, 3, 0]), vec![48 + 32 + 3, 5]);
    let head_output = block(nano, "block2.head1.y");
    assert_eq!((head_output.tensor.as_str(), head_output.tensor_index([6, 2, 0])), ("block2.y", vec![6, 16 + 2]));

    let xl = layout("gpt2-xl");
    let (c, a) = (1600, 64);
    let qkv = block(xl, "block3.head5.qkv");
    assert_eq!(qkv.tensor, "block3.qkv");
    assert_eq!(qkv.tensor_index([7, 2, 1]), vec![7, c + 5 * a + 2], "depth 1 is k");
    let qkv_weight = block(xl, "block3.head5.qkv.weight");
    assert_eq!(qkv_weight.tensor_index([9, 2, 2]), vec![2 * c + 5 * a + 2, 9], "depth 2 is v");
}

#[test]
fn tensor_offset_is_the_row_major_offset_of_tensor_index() {
    let layout = layout("nano");
    for block in &layout.blocks {
        let shape = block.tensor_shape();
        let last = block.cells.map(|n| n - 1);
        for cell in [[0, 0, 0], last, [last[0] / 2, last[1] / 2, last[2]]] {
            let row_major = block.tensor_index(cell).iter().zip(&shape).fold(0, |offset, (&i, &n)| offset * n + i);
            assert_eq!(block.tensor_offset(cell), row_major, "{} {cell:?}", block.name);
        }
    }
}

/// Enumerates every cell of every block: each must land inside its tensor, and each tensor must
/// be hit exactly once per element.
#[test]
fn nano_cells_map_one_to_one_onto_every_tensor_they_show() {
    let layout = layout("nano");
    let shapes = tensor_shapes(&layout.config);
    let mut hits: BTreeMap<&str, Vec<u8>> = BTreeMap::new();
    for block in &layout.blocks {
        let shape = &shapes[&block.tensor];
        let counts = hits.entry(&block.tensor).or_insert_with(|| vec![0; shape.iter().product()]);
        for x in 0..block.cells[0] {
            for y in 0..block.cells[1] {
                for z in 0..block.cells[2] {
                    let index = block.tensor_index([x, y, z]);
                    assert!(
                        index.iter().zip(shape).all(|(&i, &n)| i < n),
                        "{} cell {:?} → {index:?} outside {shape:?}",
                        block.name,
                        [x, y, z]
                    );
                    counts[block.tensor_offset([x, y, z])] += 1;
                }
            }
        }
    }
    for (tensor, counts) in hits {
        assert!(
            counts.iter().all(|&count| count == 1),
            "{tensor}: some element is shown {} times",
            counts.iter().find(|&&n| n != 1).unwrap()
        );
    }
}

/// The tensor indices a block covers, when each axis drives one dimension with stride 1 (or none,
/// on an axis one cell thick): then the block is a bijection onto this box.
fn image_box(block: &Block) -> Option<Vec<(usize, usize)>> {
    let mut axis_used = [false; 3];
    let mut ranges = Vec::new();
    for dim in &block.map.dims {
        let driving: Vec<usize> = (0..3).filter(|&axis| dim.strides[axis] != 0).collect();
        match driving.as_slice() {
            [] => ranges.push((dim.offset, dim.offset + 1)),
            &[axis] if dim.strides[axis] == 1 && !axis_used[axis] => {
                axis_used[axis] = true;
                ranges.push((dim.offset, dim.offset + block.cells[axis] as usize));
            }
            _ => return None,
        }
    }
    (0..3).all(|axis| axis_used[axis] || block.cells[axis] == 1).then_some(ranges)
}

#[test]
fn gpt2_activation_and_aggregate_blocks_tile_their_tensors_exactly() {
    let layout = layout("gpt2");
    let shapes = tensor_shapes(&layout.config);
    let mut boxes: BTreeMap<&str, Vec<Vec<(usize, usize)>>> = BTreeMap::new();
    for block in layout.blocks.iter().filter(|block| matches!(block.kind, BlockKind::Activation | BlockKind::Aggregate))
    {
        let image = image_box(block).unwrap_or_else(|| panic!("{}: not an axis-aligned map", block.name));
        let shape = &shapes[&block.tensor];
        assert!(image.iter().zip(shape).all(|(&(_, end), &n)| end <= n), "{} reaches outside {shape:?}", block.name);
        let last = block.cells.map(|n| n - 1);
        assert_eq!(
            block.tensor_index([0, 0, 0]),
            image.iter().map(|range| range.0).collect::<Vec<_>>(),
            "{}",
            block.name
        );
        assert_eq!(
            block.tensor_index(last),
            image.iter().map(|range| range.1 - 1).collect::<Vec<_>>(),
            "{}",
            block.name
        );
        boxes.entry(&block.tensor).or_default().push(image);
    }
    for (tensor, images) in &boxes {
        let volume: usize =
            images.iter().map(|image| image.iter().map(|(start, end)| end - start).product::<usize>()).sum();
        assert_eq!(volume, shapes[*tensor].iter().product::<usize>(), "{tensor}: blocks do not add up to the tensor");
        for (first, a) in images.iter().enumerate() {
            for b in &images[first + 1..] {
                let disjoint = a.iter().zip(b).any(|(ra, rb)| ra.1 <= rb.0 || rb.1 <= ra.0);
                assert!(disjoint, "{tensor}: two blocks show the same elements");
            }
        }
    }
}

#[test]
fn gpt2_xl_merged_qkv_blocks_tile_the_qkv_activation_of_a_layer() {
    let layout = layout("gpt2-xl");
    let (t, c) = (layout.config.block_size, layout.config.n_embd);
    let mut counts = vec![0u8; t * 3 * c];
    for h in 0..layout.config.n_head {
        let qkv = block(layout, &format!("block7.head{h}.qkv"));
        assert_eq!(qkv.tensor, "block7.qkv");
        for x in 0..qkv.cells[0] {
            for y in 0..qkv.cells[1] {
                for z in 0..qkv.cells[2] {
                    counts[qkv.tensor_offset([x, y, z])] += 1;
                }
            }
        }
    }
    assert!(counts.iter().all(|&count| count == 1));
}

// ---- geometry ----

/// f32 → u32 in the same order, for a BTreeMap key.
fn ordered(value: f32) -> u32 {
    let bits = value.to_bits();
    if bits >> 31 == 1 { !bits } else { bits | 1 << 31 }
}

/// Sort and sweep down y. The blocks still open across the current top are kept by their front
/// z; as no block is deeper than `deepest`, only those starting within that depth of the new
/// block's back can reach it, which keeps GPT-3's hundred heads side by side quick to check.
fn first_overlap(layout: &Layout) -> Option<(usize, usize)> {
    let boxes: Vec<([f32; 3], [f32; 3])> = layout.blocks.iter().map(|block| (block.position, block.max())).collect();
    let deepest = boxes.iter().map(|(min, max)| max[2] - min[2]).fold(0.0, f32::max);
    let mut order: Vec<usize> = (0..boxes.len()).collect();
    order.sort_by(|&a, &b| boxes[b].1[1].total_cmp(&boxes[a].1[1]));
    let mut open_by_z: BTreeSet<(u32, usize)> = BTreeSet::new();
    let mut open_by_bottom: BinaryHeap<(u32, usize)> = BinaryHeap::new();
    for &index in &order {
        let (min, max) = boxes[index];
        while let Some(&(bottom, other)) = open_by_bottom.peek() {
            if bottom < ordered(max[1]) {
                break;
            }
            open_by_bottom.pop();
            open_by_z.remove(&(ordered(boxes[other].0[2]), other));
        }
        let reach = (ordered(min[2] - deepest - CELL), 0)..=(ordered(max[2]), usize::MAX);
        for &(_, other) in open_by_z.range(reach) {
            let (other_min, other_max) = boxes[other];
            if (0..3).all(|axis| min[axis] < other_max[axis] && other_min[axis] < max[axis]) {
                return Some((index, other));
            }
        }
        open_by_z.insert((ordered(min[2]), index));
        open_by_bottom.push((ordered(min[1]), index));
    }
    None
}

#[test]
fn no_two_blocks_overlap_in_any_preset() {
    for name in PRESETS {
        let layout = layout(name);
        if let Some((a, b)) = first_overlap(layout) {
            panic!("{name}: {} overlaps {}", layout.blocks[a].name, layout.blocks[b].name);
        }
    }
}

#[test]
fn the_overlap_check_finds_a_moved_block() {
    let mut layout = layout("gpt2").clone();
    // Head 5's attention matrix pushed one cell forward into head 4's, and wpe onto x.
    let (front, behind) = (layout.find("block3.head4.att").unwrap(), layout.find("block3.head5.att").unwrap());
    let gap = layout.blocks[front].position[2] - layout.blocks[behind].max()[2];
    layout.blocks[behind].position[2] += gap + CELL;
    let found = first_overlap(&layout).map(|(a, b)| [a.min(b), a.max(b)]);
    assert_eq!(found, Some([front, behind]));
    layout.blocks[behind].position[2] -= gap + CELL;
    let wpe = layout.find("wpe").unwrap();
    layout.blocks[wpe].position[0] = block(&layout, "x").position[0] + CELL;
    assert!(first_overlap(&layout).is_some());
}

#[test]
fn layout_is_deterministic() {
    for name in ["nano", "gpt2"] {
        let config = GptConfig::preset(name).unwrap();
        assert_eq!(build(&config).to_json(), build(&config).to_json(), "{name}");
    }
    assert!(build(&GptConfig::preset("gpt3").unwrap()) == *layout("gpt3"));
}

#[test]
fn axes_name_the_length_of_each_block_side() {
    for name in ["nano", "gpt2-xl"] {
        let layout = layout(name);
        let config = &layout.config;
        for block in &layout.blocks {
            for side in 0..3 {
                let expected = match block.axes[side] {
                    None => 1,
                    Some(Axis::T | Axis::T2) => config.block_size,
                    Some(Axis::C) => config.n_embd,
                    Some(Axis::A) => config.head_size(),
                    Some(Axis::C4) => config.mlp_width(),
                    Some(Axis::V) => config.vocab_size,
                    Some(Axis::Qkv) => 3,
                };
                assert_eq!(block.cells[side] as usize, expected, "{name}: {} side {side}", block.name);
            }
        }
    }
}

#[test]
fn the_residual_stream_runs_down_one_token_column_per_layer_column() {
    for model in ["nano", "gpt2"] {
        let layout = layout(model);
        let x = block(layout, "x");
        let per_column = llmviz::layout::layers_per_column(&layout.config);
        // The column each layer stands in: its first layer norm's x.
        let column_x =
            |layer: usize| block(layout, &format!("block{}.ln1", layer / per_column * per_column)).position[0];
        let mut stream = vec![(x, x.position[0])];
        for i in 0..layout.config.n_layer {
            stream.extend(
                ["ln1", "attn_resid", "ln2", "mlp_resid"]
                    .map(|part| (block(layout, &format!("block{i}.{part}")), column_x(i))),
            );
        }
        let last = column_x(layout.config.n_layer - 1);
        // Folded, the probabilities stand right of the logits (`vocabulary_blocks_fold_…`).
        let output: &[&str] =
            if block(layout, "probs").fold.is_some() { &["ln_f"] } else { &["ln_f", "logits", "probs"] };
        stream.extend(output.iter().map(|name| (block(layout, name), last)));
        for pair in stream.windows(2) {
            let ((above, above_column), (below, column)) = (pair[0], pair[1]);
            assert_eq!((below.position[0], below.size()[0]), (column, x.size()[0]), "{model}: {}", below.name);
            if column == above_column {
                assert!(below.max()[1] < above.position[1], "{model}: {} is not below {}", below.name, above.name);
            } else {
                assert!(column > above_column, "{model}: {}'s column is not right of {}'s", below.name, above.name);
            }
        }
        // Token t is at the same x, relative to its column, in every activation but GELU.
        let columns: Vec<f32> = (0..layout.config.n_layer).map(column_x).chain([x.position[0]]).collect();
        let activations =
            layout.blocks.iter().filter(|block| matches!(block.kind, BlockKind::Activation | BlockKind::Aggregate));
        let unfolded = activations.filter(|block| block.fold.is_none() || block.name == "logits");
        for block in unfolded.filter(|block| block.axes[0] == Some(Axis::T) && !block.name.ends_with("gelu")) {
            assert!(columns.contains(&block.position[0]) && block.cells[0] == x.cells[0], "{model}: {}", block.name);
            assert_eq!(
                block.map.dims.iter().find(|dim| dim.strides[0] == 1).map(|dim| dim.offset),
                Some(0),
                "{}",
                block.name
            );
        }
    }
    let layout = layout("nano");
    let x = block(layout, "x");
    assert!((x.position[0] + x.size()[0] / 2.0).abs() < 1e-3, "the stream is centred on x = 0");
}

#[test]
fn weights_stand_left_of_and_level_with_the_rows_they_make() {
    for name in ["nano", "gpt2-xl"] {
        let layout = layout(name);
        for output in layout.blocks.iter().filter(|block| block.op == Op::Matmul) {
            let output_max = output.max();
            for dep in &output.deps {
                let input = &layout.blocks[dep.block];
                if input.op == Op::Param {
                    let input_max = input.max();
                    assert!(input_max[0] < output.position[0], "{name}: {} is not left of {}", input.name, output.name);
                    assert_eq!(
                        (input.position[1], input_max[1]),
                        (output.position[1], output_max[1]),
                        "{name}: {} rows",
                        input.name
                    );
                    assert_eq!(
                        (input.position[2], input_max[2]),
                        (output.position[2], output_max[2]),
                        "{name}: {} depth",
                        input.name
                    );
                } else {
                    assert!(
                        input.max()[1] > output_max[1],
                        "{name}: {} does not come from above {}",
                        input.name,
                        output.name
                    );
                }
            }
        }
    }
}

#[test]
fn heads_stand_behind_one_another_in_depth() {
    let layout = layout("nano");
    for part in ["q.weight", "q", "att", "att.sumexp", "att_sm", "y"] {
        for h in 1..layout.config.n_head {
            let front = block(layout, &format!("block1.head{}.{part}", h - 1));
            let behind = block(layout, &format!("block1.head{h}.{part}"));
            assert_eq!(
                &behind.position[..2],
                &front.position[..2],
                "{part}: head {h} is not right behind head {}",
                h - 1
            );
            assert!(behind.max()[2] < front.position[2], "{part}: head {h} is not behind head {}", h - 1);
        }
    }
}

#[test]
fn nano_gives_each_layer_a_column_so_the_whole_model_fits_a_wide_view() {
    let layout = layout("nano");
    let (min, max) = layout.bounds();
    let (width, height) = (max[0] - min[0], max[1] - min[1]);
    assert!(width > 0.6 * height && height > 0.6 * width, "nano is {width} wide and {height} tall");
    let top = |i: usize| layout.section(&format!("Transformer {i}"), Some(i)).unwrap().max[1];
    assert_eq!((top(1), top(2)), (top(0), top(0)), "every layer starts at the same height");
}

#[test]
fn deeper_models_set_their_layers_in_a_grid_of_columns() {
    for model in ["gpt2", "gpt2-xl", "gpt3"] {
        let layout = layout(model);
        let per_column = layers_per_column(&layout.config);
        let layers = layout.config.n_layer;
        assert!(per_column > 1 && per_column < layers, "{model}: {per_column} layers a column of {layers}");
        let transformer = |i: usize| layout.section(&format!("Transformer {i}"), Some(i)).unwrap();
        for i in 1..layers {
            let (previous, current) = (transformer(i - 1), transformer(i));
            if i % per_column == 0 {
                assert_eq!(current.max[1], transformer(0).max[1], "{model}: layer {i} starts a column at the top");
                assert!(current.min[0] > previous.max[0], "{model}: layer {i}'s column is right of layer {}'s", i - 1);
            } else {
                assert!(current.max[1] < previous.min[1], "{model}: layer {i} is below layer {}", i - 1);
                assert_eq!(current.min[0], previous.min[0], "{model}: layer {i} shares layer {}'s column", i - 1);
            }
        }
        let lowest = (0..layers).map(|i| transformer(i).min[1]).fold(f32::INFINITY, f32::min);
        let output = layout.section("Output", None).unwrap();
        assert!(output.max[1] < lowest, "{model}: the output is under every column");
        // The grid is wider than tall, as the frame is, but not a band.
        let grid_min = (0..layers).map(|i| transformer(i).min[0]).fold(f32::INFINITY, f32::min);
        let grid_max = (0..layers).map(|i| transformer(i).max[0]).fold(f32::NEG_INFINITY, f32::max);
        let aspect = (grid_max - grid_min) / (transformer(0).max[1] - lowest);
        assert!((1.0..2.5).contains(&aspect), "{model}: the layers' grid is {aspect} times as wide as tall");
    }
}

// ---- cells ----

#[test]
fn cells_count_from_the_left_top_and_front() {
    let att = block(layout("nano"), "block0.head0.att");
    let (min, max) = (att.position, att.max());
    let half = CELL / 2.0;
    assert_eq!(att.cell_center([0, 0, 0]), [min[0] + half, max[1] - half, max[2] - half]);
    let last = att.cells.map(|n| n - 1);
    assert_eq!(att.cell_center(last), [max[0] - half, min[1] + half, min[2] + half]);
    let merged = block(layout("gpt2-xl"), "block0.head0.qkv");
    let front = merged.cell_center([0, 0, 0])[2];
    assert!(
        merged.cell_center([0, 0, 1])[2] < front && merged.cell_center([0, 0, 2])[2] < merged.cell_center([0, 0, 1])[2],
        "q in front, v at the back"
    );
}

#[test]
fn cell_at_finds_the_cell_of_its_centre_on_every_preset() {
    for name in PRESETS {
        let layout = layout(name);
        // Every block of nano; a spread of GPT-3's, whose far blocks lie millions of units out.
        let step = (layout.blocks.len() / 500).max(1);
        for block in layout.blocks.iter().step_by(step).chain(layout.blocks.last()) {
            let last = block.cells.map(|n| n - 1);
            for cell in [[0, 0, 0], last, [last[0] / 3, last[1] / 2, last[2]], [last[0], 0, last[2] / 2]] {
                assert_eq!(block.cell_at(block.cell_center(cell)), Some(cell), "{name}: {} {cell:?}", block.name);
            }
        }
    }
}

#[test]
fn cell_at_clamps_points_on_the_faces_and_rejects_points_outside() {
    let fc = block(layout("nano"), "block2.fc");
    let (min, max) = (fc.position, fc.max());
    let last = fc.cells.map(|n| n - 1);
    assert_eq!(fc.cell_at(min), Some([0, last[1], last[2]]), "min corner: left, bottom, back");
    assert_eq!(fc.cell_at(max), Some([last[0], 0, 0]), "max corner: right, top, front");
    let on_front_face = [min[0] + 2.5 * CELL, max[1] - 7.2 * CELL, max[2] + 1e-5];
    assert_eq!(fc.cell_at(on_front_face), Some([2, 7, 0]));
    for outside in [
        [min[0] - CELL, max[1] - CELL, max[2] - 0.1],
        [min[0] + CELL, max[1] + 0.5 * CELL, max[2] - 0.1],
        [min[0] + CELL, max[1] - CELL, min[2] - CELL],
    ] {
        assert_eq!(fc.cell_at(outside), None, "{outside:?}");
    }
}

// ---- dependencies ----

#[test]
fn dependencies_name_existing_blocks_and_form_no_cycle() {
    for name in PRESETS {
        let layout = layout(name);
        let count = layout.blocks.len();
        let mut waiting_on: Vec<usize> = layout.blocks.iter().map(|block| block.deps.len()).collect();
        let mut feeds: Vec<Vec<usize>> = vec![Vec::new(); count];
        for (index, block) in layout.blocks.iter().enumerate() {
            for dep in &block.deps {
                assert!(dep.block < count, "{name}: {} depends on a block that does not exist", block.name);
                feeds[dep.block].push(index);
            }
        }
        // Kahn: every block is reached only when the graph has no cycle.
        let mut ready: Vec<usize> = (0..count).filter(|&index| waiting_on[index] == 0).collect();
        let mut reached = 0;
        while let Some(index) = ready.pop() {
            reached += 1;
            for &next in &feeds[index] {
                waiting_on[next] -= 1;
                if waiting_on[next] == 0 {
                    ready.push(next);
                }
            }
        }
        assert_eq!(reached, count, "{name}: the dependencies have a cycle");
    }
}

#[test]
fn only_parameters_and_tokens_have_no_inputs() {
    let layout = layout("nano");
    for block in &layout.blocks {
        let is_source = matches!(block.op, Op::Param | Op::Input);
        assert_eq!(block.deps.is_empty(), is_source, "{}", block.name);
    }
}

#[test]
fn dependencies_follow_the_forward_pass() {
    let nano = layout("nano");
    let deps = |name: &str| -> Vec<(String, Op)> {
        block(nano, name).deps.iter().map(|dep| (nano.blocks[dep.block].name.clone(), dep.op)).collect()
    };
    let named =
        |list: &[(&str, Op)]| -> Vec<(String, Op)> { list.iter().map(|&(name, op)| (name.to_string(), op)).collect() };
    assert_eq!(deps("x"), named(&[("tokens", Op::Embedding), ("wte", Op::Embedding), ("wpe", Op::Embedding)]));
    assert_eq!(
        deps("block1.ln1"),
        named(&[
            ("block0.mlp_resid", Op::LayerNorm),
            ("block1.ln1.mean", Op::LayerNorm),
            ("block1.ln1.std", Op::LayerNorm),
            ("block1.ln1.gamma", Op::LayerNorm),
            ("block1.ln1.beta", Op::LayerNorm)
        ])
    );
    assert_eq!(
        deps("block0.head2.att"),
        named(&[("block0.head2.q", Op::AttnScore), ("block0.head2.k", Op::AttnScore)])
    );
    assert_eq!(
        deps("block0.head2.y"),
        named(&[("block0.head2.att_sm", Op::AttnValue), ("block0.head2.v", Op::AttnValue)])
    );
    assert_eq!(
        deps("block2.attn_proj"),
        named(&[
            ("block2.head0.y", Op::Concat),
            ("block2.head1.y", Op::Concat),
            ("block2.head2.y", Op::Concat),
            ("block2.proj.weight", Op::Matmul),
            ("block2.proj.bias", Op::Matmul)
        ])
    );
    assert_eq!(
        deps("block2.mlp_resid"),
        named(&[("block2.attn_resid", Op::ResidualAdd), ("block2.mlp", Op::ResidualAdd)])
    );
    assert_eq!(deps("block1.gelu"), named(&[("block1.fc", Op::Gelu)]));
    assert_eq!(
        deps("probs"),
        named(&[("logits", Op::Softmax), ("logits.max", Op::Softmax), ("logits.sumexp", Op::Softmax)])
    );

    let xl = layout("gpt2-xl");
    let merged: Vec<&str> =
        block(xl, "block4.head3.att").deps.iter().map(|dep| xl.blocks[dep.block].name.as_str()).collect();
    assert_eq!(merged, ["block4.head3.qkv", "block4.head3.qkv"], "q and k both come from the merged block");
}

// ---- labels and anchors ----

#[test]
fn sections_enclose_their_blocks() {
    for name in ["nano", "gpt2-xl"] {
        let layout = layout(name);
        let config = &layout.config;
        let sections = layout.labels.iter().filter(|label| label.kind == LabelKind::Section).count();
        // A folded token embedding is a section of its own.
        let token_embed = block(layout, "wte").fold.is_some() as usize;
        assert_eq!(sections, 2 + token_embed + config.n_layer * (4 + config.n_head), "{name}");
        let enclosed = |text: &str, layer: Option<usize>, member: &dyn Fn(&Block) -> bool| {
            let section = layout.section(text, layer).unwrap_or_else(|| panic!("{name}: no section {text} {layer:?}"));
            let members: Vec<&Block> = layout.blocks.iter().filter(|block| member(block)).collect();
            assert!(!members.is_empty(), "{name}: {text} has no blocks");
            for block in members {
                assert!(
                    contains(section.min, section.max, block),
                    "{name}: {} is outside {text} {layer:?}",
                    block.name
                );
            }
        };
        let folded = |block: &Block| block.fold.is_some();
        enclosed("Embedding", None, &|block| {
            ["tokens", "wte", "wpe", "x"].contains(&block.name.as_str()) && !folded(block)
        });
        if token_embed == 1 {
            enclosed("Token embed", None, &|block| block.name == "wte");
        }
        enclosed("Output", None, &|block| {
            block.layer.is_none()
                && (block.name.starts_with("ln_f")
                    || block.name.starts_with("logits")
                    || ["lm_head", "probs"].contains(&block.name.as_str()))
        });
        for i in 0..config.n_layer {
            enclosed(&format!("Transformer {i}"), Some(i), &|block| block.layer == Some(i));
            enclosed("Self-attention", Some(i), &|block| block.layer == Some(i) && block.head.is_some());
            enclosed("Projection", Some(i), &|block| {
                block.layer == Some(i)
                    && (block.name.contains(".proj.")
                        || block.name.ends_with("attn_proj")
                        || block.name.ends_with("attn_resid"))
            });
            enclosed("MLP", Some(i), &|block| {
                block.layer == Some(i)
                    && ["fc", "gelu", "mlp"].iter().any(|part| block.name.contains(&format!(".{part}")))
            });
            for h in 0..config.n_head {
                let section = layout
                    .labels
                    .iter()
                    .find(|label| label.text == format!("Head {h}") && label.layer == Some(i))
                    .expect("a head section");
                for block in layout.blocks.iter().filter(|block| block.layer == Some(i) && block.head == Some(h)) {
                    assert!(contains(section.min, section.max, block), "{name}: {} is outside its head", block.name);
                }
            }
        }
    }
}

#[test]
fn dimension_marks_name_the_sizes_and_sit_in_the_gaps() {
    let layout = layout("nano");
    let marks: Vec<_> = layout.labels.iter().filter(|label| label.kind == LabelKind::Dim).collect();
    for text in ["T = 11", "C = 48", "A = 16", "4C = 192", "V = 3"] {
        assert!(marks.iter().any(|mark| mark.text == text), "no mark {text}");
    }
    for mark in marks {
        for block in &layout.blocks {
            let block_max = block.max();
            let clear = (0..3).any(|axis| mark.max[axis] <= block.position[axis] || block_max[axis] <= mark.min[axis]);
            assert!(clear, "mark {} lies on {}", mark.text, block.name);
        }
    }
}

/// Whether every corner of the box is in view from the anchor, and the largest share of the frame it spans.
/// The camera's forward, right and up unit vectors looking from an anchor.
fn camera_axes(anchor: &Anchor) -> ([f32; 3], [f32; 3], [f32; 3]) {
    let sub = |a: [f32; 3], b: [f32; 3]| [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
    let unit = |a: [f32; 3]| a.map(|v| v / dot(a, a).sqrt());
    let forward = unit(sub(anchor.target, anchor.eye));
    let right = unit([-forward[2], 0.0, forward[0]]);
    let up = [
        right[1] * forward[2] - right[2] * forward[1],
        right[2] * forward[0] - right[0] * forward[2],
        right[0] * forward[1] - right[1] * forward[0],
    ];
    (forward, right, up)
}

fn dot(a: [f32; 3], b: [f32; 3]) -> f32 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

fn view_of(anchor: &Anchor, min: [f32; 3], max: [f32; 3]) -> (bool, f32) {
    let sub = |a: [f32; 3], b: [f32; 3]| [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
    let (forward, right, up) = camera_axes(anchor);
    let tan_y = (ANCHOR_FOV_Y_DEGREES.to_radians() / 2.0).tan();
    let tan_x = tan_y * ANCHOR_ASPECT;
    let mut inside = true;
    let mut reach: f32 = 0.0;
    for corner in 0..8 {
        let point = [0, 1, 2].map(|axis| if corner >> axis & 1 == 1 { max[axis] } else { min[axis] });
        let offset = sub(point, anchor.eye);
        let depth = dot(offset, forward);
        let (across, upward) = (dot(offset, right).abs() / (depth * tan_x), dot(offset, up).abs() / (depth * tan_y));
        inside &= depth > 0.0 && across <= 1.0 && upward <= 1.0;
        reach = reach.max(across).max(upward);
    }
    (inside, reach)
}

#[test]
fn the_overview_shows_all_of_nano_from_the_front_and_fills_the_frame() {
    let layout = layout("nano");
    let (min, max) = layout.bounds();
    let (inside, reach) = view_of(&layout.overview, min, max);
    assert!(inside, "part of nano is out of the overview");
    assert!(reach > 0.6, "nano fills only {reach} of the overview");
    assert!(layout.overview.eye[2] > max[2], "the overview looks from the front");
}

#[test]
fn block_and_section_anchors_frame_what_they_belong_to() {
    let layout = layout("nano");
    for block in &layout.blocks {
        let (inside, _) = view_of(&block.anchor, block.position, block.max());
        assert!(inside, "{} is not all in view from its anchor", block.name);
        assert!(block.anchor.eye[2] > block.max()[2], "{} is not seen from the front", block.name);
    }
    let big = block(layout, "block0.fc");
    let (_, reach) = view_of(&big.anchor, big.position, big.max());
    assert!(reach > 0.6, "fc fills only {reach} of its frame");
    for label in &layout.labels {
        assert!(view_of(&label.anchor, label.min, label.max).0, "{} is not all in view from its anchor", label.text);
    }
}

// ---- text and JSON ----

#[test]
fn summary_counts_blocks_cells_and_parameters() {
    let summary = layout("nano").summary();
    for part in ["blocks: 210", "weight 89", "tied 0", "parameters (weight cells): 85,728", "bounding box"] {
        assert!(summary.contains(part), "{part} missing from\n{summary}");
    }
    assert!(layout("gpt2").summary().contains("parameters (weight cells): 124,439,808"));
}

#[test]
fn json_holds_config_blocks_with_deps_by_name_and_labels() {
    let layout = layout("nano");
    let json = layout.to_json();
    for key in ["n_layer", "n_head", "n_embd", "vocab_size", "block_size"] {
        assert_eq!(
            json["config"][key].as_u64(),
            Some(match key {
                "n_layer" | "n_head" => 3,
                "n_embd" => 48,
                "vocab_size" => 3,
                _ => 11,
            }),
            "config.{key}"
        );
    }
    let blocks = json["blocks"].as_array().expect("blocks");
    assert_eq!(blocks.len(), layout.blocks.len());
    for (value, block) in blocks.iter().zip(&layout.blocks) {
        for key in ["name", "kind", "tensor", "axes", "cells", "position", "size", "layer", "head", "deps"] {
            assert!(value.get(key).is_some(), "{} has no {key}", block.name);
        }
        assert_eq!(value["name"], block.name.as_str());
        for axis in 0..3 {
            assert_eq!(value["position"][axis].as_f64(), Some(block.position[axis] as f64));
            assert_eq!(value["size"][axis].as_f64(), Some((block.cells[axis] as f32 * CELL) as f64));
        }
        for dep in value["deps"].as_array().unwrap() {
            assert!(layout.find(dep["block"].as_str().unwrap()).is_some(), "{}: dep {dep}", block.name);
        }
    }
    let head = &blocks[layout.find("block1.head2.att.max").unwrap()];
    assert_eq!(head["kind"], "aggregate");
    assert_eq!(head["op"], "softmax_stats");
    assert_eq!(head["tensor"], "block1.att_max");
    assert_eq!(head["axes"], serde_json::json!(["t"]));
    assert_eq!((head["layer"].as_u64(), head["head"].as_u64()), (Some(1), Some(2)));
    assert_eq!(head["deps"], serde_json::json!([{"block": "block1.head2.att", "op": "softmax_stats"}]));
    let gamma = &blocks[layout.find("ln_f.gamma").unwrap()];
    assert_eq!(
        (gamma["kind"].as_str(), gamma["layer"].is_null(), gamma["axes"].clone()),
        (Some("weight"), true, serde_json::json!([null, "c"]))
    );
    assert_eq!(blocks[layout.find("block0.attn_resid").unwrap()]["deps"][0]["op"], "residual_add");
    let labels = json["labels"].as_array().expect("labels");
    assert!(labels.iter().any(|label| label["text"] == "Transformer 2"
        && label["kind"] == "section"
        && label["min"].is_array()
        && label["max"].is_array()));
}

/// Numbers as the f32 they were: the streamed JSON prints f32 digits, `to_json` their f64 widening.
fn as_f32(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::Number(number) => serde_json::json!(number.as_f64().unwrap() as f32),
        Value::Array(items) => Value::Array(items.into_iter().map(as_f32).collect()),
        Value::Object(entries) => Value::Object(entries.into_iter().map(|(key, item)| (key, as_f32(item))).collect()),
        other => other,
    }
}

#[test]
fn write_json_streams_the_same_json_as_to_json() {
    let layout = layout("gpt2");
    let mut written = Vec::new();
    layout.write_json(&mut written).unwrap();
    let streamed: serde_json::Value = serde_json::from_slice(&written).unwrap();
    assert!(as_f32(streamed) == as_f32(layout.to_json()));
}

// ---- the Llama family ----

/// A small Qwen3-shaped model: q and k norms, with Qwen2's q, k and v biases besides; 6 query
/// heads in 2 groups of 3; head_dim 8 where C / H is 4; an untied head.
pub fn tiny_qwen3() -> GptConfig {
    let shape = LlamaShape {
        family: "qwen3".into(),
        n_kv_head: 2,
        head_dim: 8,
        intermediate_size: 40,
        rope_theta: 1_000_000.0,
        rope_scaling: None,
        qkv_bias: true,
        qk_norm: true,
    };
    GptConfig::llama("tiny-qwen3", [2, 6, 24, 5, 9], shape, false, 1e-6).expect("a valid shape")
}

/// nano-llama and `tiny_qwen3`, each built once.
fn llama_layouts() -> [&'static Layout; 2] {
    static LAYOUTS: [OnceLock<Layout>; 2] = [const { OnceLock::new() }; 2];
    [
        LAYOUTS[0].get_or_init(|| build(&GptConfig::preset("nano-llama").expect("a preset"))),
        LAYOUTS[1].get_or_init(|| build(&tiny_qwen3())),
    ]
}

/// How many cells show each element of each tensor, tied copies left out.
fn drawn_counts(layout: &Layout) -> HashMap<&str, Vec<u8>> {
    let shapes = tensor_shapes(&layout.config);
    let mut hits: HashMap<&str, Vec<u8>> = HashMap::new();
    for block in layout.blocks.iter().filter(|block| block.kind != BlockKind::Tied) {
        let shape =
            shapes.get(&block.tensor).unwrap_or_else(|| panic!("{} shows unknown {}", block.name, block.tensor));
        assert_eq!(&block.tensor_shape(), shape, "{} on {}", block.name, block.tensor);
        let counts = hits.entry(&block.tensor).or_insert_with(|| vec![0; shape.iter().product()]);
        for x in 0..block.cells[0] {
            for y in 0..block.cells[1] {
                for z in 0..block.cells[2] {
                    let index = block.tensor_index([x, y, z]);
                    assert!(
                        index.iter().zip(shape).all(|(&i, &n)| i < n),
                        "{} {:?} → {index:?}",
                        block.name,
                        [x, y, z]
                    );
                    counts[block.tensor_offset([x, y, z])] += 1;
                }
            }
        }
    }
    hits
}

#[test]
fn every_element_of_a_llamas_tensors_is_drawn_by_exactly_one_cell() {
    for layout in llama_layouts() {
        let config = &layout.config;
        let hits = drawn_counts(layout);
        // k and v too: each k/v head is drawn once, in the first head of the group it serves.
        let tensors = activation_shapes(config, config.block_size).into_iter().chain(parameter_shapes(config));
        for (tensor, _) in tensors {
            let counts = hits.get(tensor.as_str()).unwrap_or_else(|| panic!("{}: {tensor} has no block", config.name));
            let wrong = counts.iter().find(|&&count| count != 1);
            assert!(wrong.is_none(), "{}: an element of {tensor} is drawn {wrong:?} times", config.name);
        }
        for tied in layout.blocks.iter().filter(|block| block.kind == BlockKind::Tied) {
            let original =
                layout.blocks.iter().any(|block| block.kind == BlockKind::Weight && block.tensor == tied.tensor);
            assert!(original, "{}: {} is a copy of nothing", config.name, tied.name);
        }
        assert_eq!(layout.weight_cells(), config.param_count(), "{}", config.name);
    }
}

#[test]
fn each_k_v_head_is_drawn_once_in_its_groups_first_head_and_feeds_the_whole_group() {
    for layout in llama_layouts() {
        let config = &layout.config;
        let group = config.group_size();
        assert!(group > 1, "{}: the heads share their k/v heads", config.name);
        let mut parts = vec!["k_proj.weight", "k", "k_rot", "v_proj.weight", "v"];
        if config.llama_shape().unwrap().qk_norm {
            parts.extend(["k_norm.rms", "k_norm.gamma", "k_norm"]);
        }
        let deps = |name: &str| -> Vec<(String, Op)> {
            block(layout, name).deps.iter().map(|dep| (layout.blocks[dep.block].name.clone(), dep.op)).collect()
        };
        for i in 0..config.n_layer {
            for h in 0..config.n_head {
                let first = h - h % group;
                let own = |part: &str| format!("block{i}.head{h}.{part}");
                let groups = |part: &str| format!("block{i}.head{first}.{part}");
                for &part in &parts {
                    assert_eq!(layout.find(&own(part)).is_some(), h == first, "{}: {}", config.name, own(part));
                }
                assert_eq!(deps(&own("att")), [(own("q_rot"), Op::AttnScore), (groups("k_rot"), Op::AttnScore)]);
                assert_eq!(deps(&own("y")), [(own("att_sm"), Op::AttnValue), (groups("v"), Op::AttnValue)]);
            }
            for g in 0..config.kv_heads() {
                let key = block(layout, &format!("block{i}.head{}.k", g * group));
                assert_eq!((key.tensor.clone(), key.tensor_index([3, 1, 0])), (format!("block{i}.k"), vec![g, 3, 1]));
            }
        }
    }
}

#[test]
fn a_llama_has_no_position_table_mean_or_beta_and_no_two_blocks_overlap() {
    for layout in llama_layouts() {
        let name = &layout.config.name;
        if let Some((a, b)) = first_overlap(layout) {
            panic!("{name}: {} overlaps {}", layout.blocks[a].name, layout.blocks[b].name);
        }
        assert!(layout.find("wpe").is_none() && layout.find("wte").is_none(), "{name}");
        let x: Vec<&str> = block(layout, "x").deps.iter().map(|dep| layout.blocks[dep.block].name.as_str()).collect();
        assert_eq!(x, ["tokens", "embed_tokens"], "{name}: x is the token's embedding alone");
        for (index, block) in layout.blocks.iter().enumerate() {
            let layer_norm_part = [".mean", ".std", ".beta"].iter().any(|part| block.name.ends_with(part));
            assert!(!layer_norm_part && !block.tensor.contains("wpe"), "{name}: {}", block.name);
            assert_eq!(block.deps.is_empty(), matches!(block.op, Op::Param | Op::Input), "{name}: {}", block.name);
            // Each block depends only on blocks placed before it, so the dependencies have no cycle.
            assert!(block.deps.iter().all(|dep| dep.block < index), "{name}: {} depends on a later block", block.name);
        }
    }
}

#[test]
fn weights_rotations_and_swiglu_stand_beside_the_rows_they_make_or_read() {
    for layout in llama_layouts() {
        let name = &layout.config.name;
        for output in layout.blocks.iter().filter(|block| block.op == Op::Matmul) {
            for input in output.deps.iter().map(|dep| &layout.blocks[dep.block]).filter(|input| input.op == Op::Param) {
                assert!(input.max()[0] < output.position[0], "{name}: {} is not left of {}", input.name, output.name);
                assert_eq!(
                    (input.position[1], input.max()[1]),
                    (output.position[1], output.max()[1]),
                    "{name}: {}",
                    input.name
                );
                assert_eq!(input.position[2], output.position[2], "{name}: {} depth", input.name);
            }
        }
        // q and k before and after their rotation read side by side, on the same rows.
        for rotation in layout.blocks.iter().filter(|block| block.op == Op::Rope) {
            let turned = &layout.blocks[rotation.deps[0].block];
            assert!(
                rotation.position[0] > turned.max()[0],
                "{name}: {} is not right of {}",
                rotation.name,
                turned.name
            );
            assert_eq!((rotation.max()[1], rotation.position[2]), (turned.max()[1], turned.position[2]), "{name}");
        }
        for i in 0..layout.config.n_layer {
            let part = |part: &str| block(layout, &format!("block{i}.{part}"));
            let (gate, up, swiglu) = (part("gate"), part("up"), part("swiglu"));
            assert!(swiglu.position[0] > gate.max()[0], "{name}: SwiGLU stands right of gate and up");
            assert!(swiglu.max()[1] < gate.max()[1] && swiglu.position[1] > up.position[1], "{name}: between them");
            for h in 1..layout.config.n_head {
                for head_part in ["q", "q_rot", "att", "att_sm", "y"] {
                    let front = block(layout, &format!("block{i}.head{}.{head_part}", h - 1));
                    let behind = block(layout, &format!("block{i}.head{h}.{head_part}"));
                    assert_eq!(&behind.position[..2], &front.position[..2], "{name}: head {h}'s {head_part}");
                    assert!(behind.max()[2] < front.position[2], "{name}: head {h}'s {head_part} is not behind");
                }
            }
        }
    }
}

#[test]
fn nano_llama_names_its_sections_and_sizes_beside_its_blocks() {
    let layout = llama_layouts()[0];
    assert!(layout.section("Embedding", None).is_some() && layout.section("Output", None).is_some());
    for i in 0..layout.config.n_layer {
        for text in ["Self-attention", "Projection", "SwiGLU MLP"] {
            assert!(layout.section(text, Some(i)).is_some(), "no {text} in layer {i}");
        }
        let transformer = layout.section(&format!("Transformer {i}"), Some(i)).expect("a layer section");
        for block in layout.blocks.iter().filter(|block| block.layer == Some(i)) {
            assert!(contains(transformer.min, transformer.max, block), "{} is outside its layer", block.name);
        }
        let group =
            layout.labels.iter().find(|label| label.text == "KV head 1 serves heads 2, 3" && label.layer == Some(i));
        let key = block(layout, &format!("block{i}.head2.k"));
        assert!(group.is_some_and(|label| contains(label.min, label.max, key)), "layer {i}: no KV head 1 around its k");
    }
    let marks: Vec<_> = layout.labels.iter().filter(|label| label.kind == LabelKind::Dim).collect();
    for text in ["T = 11", "C = 48", "D = 12", "F = 128", "V = 3"] {
        assert!(marks.iter().any(|mark| mark.text == text), "no mark {text}");
    }
    for mark in marks {
        for block in &layout.blocks {
            let block_max = block.max();
            let clear = (0..3).any(|axis| mark.max[axis] <= block.position[axis] || block_max[axis] <= mark.min[axis]);
            assert!(clear, "mark {} lies on {}", mark.text, block.name);
        }
    }
    let columns: Vec<f32> = (0..3).map(|i| block(layout, &format!("block{i}.rms1")).position[0]).collect();
    assert!(columns.windows(2).all(|pair| pair[1] > pair[0]), "nano-llama gives each layer a column");
}

// ---- folded vocabulary blocks and the overview ----

/// GPT-2 small's shapes on 64 tokens, as a checkpoint opens with a sentence.
fn gpt2_checkpoint() -> &'static Layout {
    static LAYOUT: OnceLock<Layout> = OnceLock::new();
    LAYOUT.get_or_init(|| build(&GptConfig::preset("gpt2").expect("a preset").with_max_tokens(64)))
}

/// Qwen3-0.6B's shapes on 64 tokens: a vocabulary of 151,936 and 28 layers.
fn qwen3_checkpoint() -> &'static Layout {
    static LAYOUT: OnceLock<Layout> = OnceLock::new();
    LAYOUT.get_or_init(|| {
        let shape = LlamaShape {
            family: "qwen3".into(),
            n_kv_head: 8,
            head_dim: 128,
            intermediate_size: 3072,
            rope_theta: 1_000_000.0,
            rope_scaling: None,
            qkv_bias: false,
            qk_norm: true,
        };
        let config = GptConfig::llama("qwen3-0.6b", [28, 16, 1024, 151_936, 40_960], shape, true, 1e-6).unwrap();
        build(&config.with_max_tokens(64))
    })
}

fn vocabulary_blocks(layout: &Layout) -> Vec<&Block> {
    layout.blocks.iter().filter(|block| block.axes.contains(&Some(Axis::V))).collect()
}

#[test]
fn vocabulary_blocks_fold_into_strips_and_keep_every_cell() {
    assert!(vocabulary_blocks(layout("nano")).iter().all(|block| block.fold.is_none()), "nano's 3 letters stay whole");
    for layout in [layout("gpt2"), gpt2_checkpoint(), qwen3_checkpoint()] {
        let blocks = vocabulary_blocks(layout);
        assert_eq!(blocks.len(), 4, "{}: token embedding, LM head, logits, probabilities", layout.config.name);
        for block in blocks {
            let fold = block.fold.unwrap_or_else(|| panic!("{} is not folded", block.name));
            let v = layout.config.vocab_size as u32;
            assert_eq!(block.cells[fold.along], v, "{}: the fold cuts the vocabulary", block.name);
            assert!(fold.pieces(block.cells) > 1 && fold.pitch > block.cells[fold.across], "{}", block.name);
            // Every token's cell along the fold, at both ends of the other side: drawn at a place of
            // its own inside the drawn box, found again there by a point and by its centre.
            let drawn_cells = block.drawn_cells();
            let mut seen = HashSet::new();
            for token in 0..v {
                for other in [0, block.cells[fold.across] - 1] {
                    let mut cell = [0; 3];
                    cell[fold.along] = token;
                    cell[fold.across] = other;
                    let drawn = fold.drawn(cell);
                    assert!(
                        (0..3).all(|axis| drawn[axis] < drawn_cells[axis]),
                        "{}: {cell:?} drawn outside",
                        block.name
                    );
                    assert!(seen.insert(drawn), "{}: two cells drawn at {drawn:?}", block.name);
                    assert_eq!(fold.logical(drawn, block.cells), Some(cell), "{}", block.name);
                    if token % 997 == 0 || token + 1 == v || token % fold.length < 2 {
                        assert_eq!(block.cell_at(block.cell_center(cell)), Some(cell), "{}: {cell:?}", block.name);
                    }
                }
            }
            // The gap after the first strip holds no cell.
            let mut gap = [0; 3];
            gap[fold.across] = block.cells[fold.across];
            assert_eq!(fold.logical(gap, block.cells), None, "{}: a cell in the gap", block.name);
            let mut point = block.cell_center([0; 3]);
            point[fold.across] += if fold.across == 0 { 1.0 } else { -1.0 } * block.cells[fold.across] as f32 * CELL;
            assert_eq!(block.cell_at(point), None, "{}: a point in the gap finds a cell", block.name);
        }
        assert_eq!(first_overlap(layout), None, "{}: folded blocks overlap", layout.config.name);
    }
}

/// A box's rectangle on a 1280×720 screen seen from an anchor, in pixels (x, y, width, height).
fn screen_rect(anchor: &Anchor, min: [f32; 3], max: [f32; 3]) -> [f32; 4] {
    let (size, fov_y) = ([1280.0_f32, 720.0], ANCHOR_FOV_Y_DEGREES.to_radians());
    let sub = |a: [f32; 3], b: [f32; 3]| [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
    let (forward, right, up) = camera_axes(anchor);
    let focal = size[1] / 2.0 / (fov_y / 2.0).tan();
    let (mut low, mut high) = ([f32::INFINITY; 2], [f32::NEG_INFINITY; 2]);
    for corner in 0..8 {
        let point = [0, 1, 2].map(|axis| if corner >> axis & 1 == 1 { max[axis] } else { min[axis] });
        let offset = sub(point, anchor.eye);
        let depth = dot(offset, forward);
        let screen =
            [size[0] / 2.0 + focal * dot(offset, right) / depth, size[1] / 2.0 - focal * dot(offset, up) / depth];
        for axis in 0..2 {
            low[axis] = low[axis].min(screen[axis]);
            high[axis] = high[axis].max(screen[axis]);
        }
    }
    [low[0], low[1], high[0] - low[0], high[1] - low[1]]
}

#[test]
fn every_overview_shows_its_layers_legibly_and_its_vocabulary_in_a_quarter() {
    let layouts =
        [layout("nano"), layout("gpt2"), layout("gpt2-xl"), layout("gpt3"), gpt2_checkpoint(), qwen3_checkpoint()];
    for layout in layouts {
        let name = &layout.config.name;
        let (min, max) = layout.bounds();
        let [x, y, width, height] = screen_rect(&layout.overview, min, max);
        assert!(x >= -1.0 && y >= -1.0 && x + width <= 1281.0 && y + height <= 721.0, "{name}: out of the frame");
        let share = width * height / (1280.0 * 720.0);
        assert!(share >= 0.3, "{name}: the model's box is {share:.2} of the frame");
        for i in 0..layout.config.n_layer {
            let section = layout.section(&format!("Transformer {i}"), Some(i)).unwrap();
            let [_, _, width, height] = screen_rect(&layout.overview, section.min, section.max);
            assert!(width.min(height) >= 40.0, "{name}: layer {i} is {width:.0}×{height:.0} px");
        }
        // Seen from the front, the vocabulary's blocks cover at most a quarter of the model's box.
        let front = |min: [f32; 3], max: [f32; 3]| (max[0] - min[0]) * (max[1] - min[1]);
        let vocabulary: f32 = vocabulary_blocks(layout).iter().map(|block| front(block.position, block.max())).sum();
        let part = vocabulary / front(min, max);
        assert!(part <= 0.25, "{name}: the vocabulary covers {part:.2} of the model's box");
    }
}
