//! The layout as text for `llmviz layout` and as JSON for the web build and other tools.

use std::io::Write;

use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};
use serde_json::Value;

use super::{Block, BlockKind, CELL, Layout, Op};

impl Layout {
    /// Blocks by kind, total cells, the parameter count from the weight blocks, and the bounding box.
    pub fn summary(&self) -> String {
        let config = &self.config;
        let by_kind: Vec<String> = BlockKind::ALL
            .iter()
            .map(|&kind| format!("{} {}", kind.as_str(), self.blocks.iter().filter(|block| block.kind == kind).count()))
            .collect();
        let cells: u64 = self.blocks.iter().map(|block| block.cell_count()).sum();
        let (min, max) = self.bounds();
        [
            format!(
                "{}: {} layers, {} heads, C = {}, T = {}, V = {}",
                config.name,
                config.n_layer,
                config.n_head,
                config.n_embd,
                config.tokens(),
                config.vocab_size
            ),
            format!("blocks: {} ({})", self.blocks.len(), by_kind.join(", ")),
            format!("labels: {}", self.labels.len()),
            format!("cells: {}", group_digits(cells)),
            format!("parameters (weight cells): {}", group_digits(self.weight_cells())),
            format!(
                "bounding box: x {:.1} .. {:.1}, y {:.1} .. {:.1}, z {:.1} .. {:.1} (world units, cell {CELL})",
                min[0], max[0], min[1], max[1], min[2], max[2]
            ),
        ]
        .join("\n")
    }

    /// `{"config", "cell", "blocks": [...], "labels": [...], "overview"}`; dependencies by block name.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(LayoutJson(self)).expect("a layout is plain data")
    }

    /// The same JSON as `to_json`, written as it is produced: GPT-3's is some 40 MB, which as a
    /// `Value` tree takes seconds to build.
    pub fn write_json(&self, writer: impl Write) -> serde_json::Result<()> {
        serde_json::to_writer(writer, &LayoutJson(self))
    }
}

struct LayoutJson<'a>(&'a Layout);

impl Serialize for LayoutJson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let layout = self.0;
        let mut map = serializer.serialize_map(Some(5))?;
        map.serialize_entry("config", &layout.config)?;
        map.serialize_entry("cell", &CELL)?;
        map.serialize_entry("blocks", &BlocksJson(layout))?;
        map.serialize_entry("labels", &layout.labels)?;
        map.serialize_entry("overview", &layout.overview)?;
        map.end()
    }
}

struct BlocksJson<'a>(&'a Layout);

impl Serialize for BlocksJson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let layout = self.0;
        serializer.collect_seq(layout.blocks.iter().map(|block| BlockJson { layout, block }))
    }
}

struct BlockJson<'a> {
    layout: &'a Layout,
    block: &'a Block,
}

impl Serialize for BlockJson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let block = self.block;
        let used_axes = block.axes.iter().rposition(Option::is_some).map_or(0, |last| last + 1);
        let deps = block.deps.iter().map(|dep| DepJson { block: &self.layout.blocks[dep.block].name, op: dep.op });
        let mut map = serializer.serialize_map(Some(13 + block.fold.is_some() as usize))?;
        map.serialize_entry("name", &block.name)?;
        map.serialize_entry("kind", &block.kind)?;
        map.serialize_entry("op", &block.op)?;
        map.serialize_entry("tensor", &block.tensor)?;
        map.serialize_entry("axes", &block.axes[..used_axes])?;
        map.serialize_entry("cells", &block.cells)?;
        map.serialize_entry("position", &block.position)?;
        map.serialize_entry("size", &block.size())?;
        map.serialize_entry("layer", &block.layer)?;
        map.serialize_entry("head", &block.head)?;
        map.serialize_entry("deps", &SeqJson(deps))?;
        map.serialize_entry("map", &block.map.dims)?;
        map.serialize_entry("anchor", &block.anchor)?;
        // `size` is the box the strips are drawn in; `cells` stay the block's own.
        if let Some(fold) = &block.fold {
            map.serialize_entry("fold", fold)?;
        }
        map.end()
    }
}

#[derive(Serialize)]
struct DepJson<'a> {
    block: &'a str,
    op: Op,
}

/// Serializes an iterator as a sequence without collecting it first.
struct SeqJson<I>(I);

impl<I: Iterator<Item = T> + Clone, T: Serialize> Serialize for SeqJson<I> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.clone())
    }
}

/// 85728 → "85,728": how every parameter count is written, in summaries, the UI and tours.
/// A size in bytes as a reader takes it in: `6.9 KB`, `4.7 MB`, `1.2 GB` (powers of 1000).
pub fn byte_size(bytes: u64) -> String {
    let units = [(1e9, "GB"), (1e6, "MB"), (1e3, "KB")];
    match units.iter().find(|(scale, _)| bytes as f64 >= *scale) {
        Some((scale, unit)) => format!("{:.1} {unit}", bytes as f64 / scale),
        None => format!("{bytes} B"),
    }
}

pub fn group_digits(number: u64) -> String {
    let digits = number.to_string();
    let mut grouped = String::with_capacity(digits.len() + digits.len() / 3);
    for (position, digit) in digits.chars().enumerate() {
        if position > 0 && (digits.len() - position).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    grouped
}
