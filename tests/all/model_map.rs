//! The map of the model beside the tour: its parts cover every block once, each part's blocks are
//! those of its section in the 3D layout, its chapters exist, and hovering a box lights exactly them.

use std::collections::BTreeSet;

use bevy_egui::egui;
use llmviz::layout::map::{MapBox, Part, model_map};
use llmviz::layout::{self, Label, LabelKind, Layout};
use llmviz::model::GptConfig;
use llmviz::render::tour::map::map_ui;

fn layouts() -> Vec<Layout> {
    ["nano", "gpt2", "gpt3"].iter().map(|name| layout::build(&GptConfig::preset(name).unwrap())).collect()
}

fn blocks_of(map: &[MapBox], parts: &[Part]) -> BTreeSet<usize> {
    map.iter().filter(|b| parts.contains(&b.part)).flat_map(|b| b.blocks.iter().copied()).collect()
}

/// The blocks whose boxes lie inside a section label's box (the layout draws the label around them).
fn inside(layout: &Layout, label: &Label) -> BTreeSet<usize> {
    let eps = 1e-3;
    (0..layout.blocks.len())
        .filter(|&i| {
            let (min, max) = (layout.blocks[i].position, layout.blocks[i].max());
            (0..3).all(|axis| min[axis] >= label.min[axis] - eps && max[axis] <= label.max[axis] + eps)
        })
        .collect()
}

#[test]
fn the_maps_parts_cover_every_block_once() {
    let nano_llama = layout::build(&GptConfig::preset("nano-llama").unwrap());
    for layout in layouts().into_iter().chain([nano_llama]) {
        let map = model_map(&layout);
        assert_eq!(map.iter().map(|b| b.part).collect::<Vec<_>>(), Part::ALL);
        let mut seen = vec![0; layout.blocks.len()];
        for map_box in &map {
            // A Llama has no position table: its position is a rotation inside attention.
            let table_free = map_box.part == Part::PositionEmbedding && !layout.config.arch.is_gpt2();
            assert_eq!(map_box.blocks.is_empty(), table_free, "{}: {:?}", layout.config.name, map_box.part);
            for &block in &map_box.blocks {
                seen[block] += 1;
            }
        }
        let wrong: Vec<String> = seen
            .iter()
            .enumerate()
            .filter(|(_, n)| **n != 1)
            .map(|(i, n)| format!("{} ×{n}", layout.blocks[i].name))
            .collect();
        assert!(wrong.is_empty(), "{}: {wrong:?}", layout.config.name);
    }
}

#[test]
fn each_part_lights_the_blocks_of_its_section_in_every_layer() {
    // GPT-3's 94k blocks against its 1,000 sections would take long in a debug build; GPT-2 has
    // GPT-3's layout rules (merged QKV aside, which the partition test covers).
    for layout in layouts().into_iter().take(2) {
        let map = model_map(&layout);
        let sections = |text: &str| -> BTreeSet<usize> {
            let labels = layout.labels.iter().filter(|l| l.kind == LabelKind::Section && l.text == text);
            labels.flat_map(|label| inside(&layout, label)).collect()
        };
        let name = &layout.config.name;
        let embedding = [Part::TokenEmbedding, Part::PositionEmbedding, Part::InputEmbedding];
        // A folded token embedding stands beside the first layer, named on its own.
        let embedding_sections = &sections("Embedding") | &sections("Token embed");
        assert_eq!(blocks_of(&map, &embedding), embedding_sections, "{name}: embedding");
        assert_eq!(blocks_of(&map, &[Part::SelfAttention]), sections("Self-attention"), "{name}: self-attention");
        assert_eq!(
            blocks_of(&map, &[Part::Projection, Part::AttentionResidual]),
            sections("Projection"),
            "{name}: projection"
        );
        assert_eq!(blocks_of(&map, &[Part::FeedForward, Part::MlpResidual]), sections("MLP"), "{name}: MLP");
        assert_eq!(
            blocks_of(&map, &[Part::FinalLayerNorm, Part::Linear, Part::Softmax]),
            sections("Output"),
            "{name}: output"
        );
        // The layer norms have no section of their own: each is the rest of its transformer layer.
        let in_layers: BTreeSet<usize> = (0..layout.config.n_layer)
            .flat_map(|i| {
                let label = layout.section(&format!("Transformer {i}"), Some(i)).unwrap();
                inside(&layout, label)
            })
            .collect();
        let layer_parts: Vec<Part> = Part::ALL.into_iter().filter(|p| p.in_layer()).collect();
        assert_eq!(blocks_of(&map, &layer_parts), in_layers, "{name}: the transformer block");
        for (part, ln) in [(Part::LayerNorm1, "ln1"), (Part::LayerNorm2, "ln2")] {
            let blocks = blocks_of(&map, &[part]);
            assert_eq!(blocks.len(), 5 * layout.config.n_layer, "{name}: μ, σ, γ, β and the output per layer");
            assert!(blocks.iter().all(|&b| layout.blocks[b].name.split('.').nth(1) == Some(ln)), "{name}: {part:?}");
        }
    }
}

#[test]
fn every_part_opens_a_chapter_of_the_nano_tour() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tours/nano-gpt.ron")).unwrap();
    for part in Part::ALL {
        assert!(text.contains(&format!("id: \"{}\"", part.chapter())), "{part:?} → chapter '{}'", part.chapter());
    }
}

/// Runs the map alone in a bare egui context, the pointer at `pointer`, for a few passes (egui
/// hit-tests against the widgets of the pass before).
fn run_map(layout: &Layout, pointer: Option<egui::Pos2>) -> llmviz::render::tour::map::MapAction {
    let ctx = egui::Context::default();
    let mut last = None;
    for _ in 0..3 {
        let mut input = egui::RawInput {
            screen_rect: Some(egui::Rect::from_min_size(egui::Pos2::ZERO, egui::vec2(400.0, 600.0))),
            ..Default::default()
        };
        if let Some(pointer) = pointer {
            input.events.push(egui::Event::PointerMoved(pointer));
        }
        let mut output = ctx.run_ui(input, |ui| {
            last = Some(map_ui(ui, layout, "en", "self-attention", |_| true));
        });
        // Nothing paints here: the font atlas egui made is dropped unused.
        output.textures_delta.clear();
    }
    last.expect("the map was drawn")
}

#[test]
fn hovering_a_box_of_the_map_lights_exactly_its_blocks() {
    for layout in layouts().into_iter().take(2) {
        let map = model_map(&layout);
        let still = run_map(&layout, None);
        assert!(still.hover.is_empty());
        for (part, rect) in still.boxes.clone() {
            let hovered = run_map(&layout, Some(rect.center()));
            let expected: Vec<usize> = match part {
                Some(part) => map.iter().find(|b| b.part == part).unwrap().blocks.clone(),
                None => map.iter().filter(|b| b.part.in_layer()).flat_map(|b| b.blocks.iter().copied()).collect(),
            };
            assert_eq!(hovered.hover, expected, "{}: hovering {part:?}", layout.config.name);
        }
        assert_eq!(still.boxes.len(), Part::ALL.len() + 1, "every part and the transformer block's title");
    }
}
