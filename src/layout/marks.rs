//! What the scene marks beyond values: the cells a decode step read from the KV cache or computed,
//! and the part of the model that switching off at a cell would silence.

use super::{Axis, Block, BlockKind, Layout};
use crate::model::ablation::Part;
use crate::model::names::split_layer;

/// What a decode step marks in one block: along its token axis (x), the first `columns` positions
/// whose keys and values came from the cache (k and v), or the one position it computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepMark {
    Cached { columns: u32 },
    Computed { column: u32 },
}

/// The tensors a KV cache holds: the keys as attention reads them (after RoPE in the Llama family,
/// whose `k` is before it) and the values.
fn is_cached(tensor: &str, rotated: bool) -> bool {
    let name = split_layer(tensor).1;
    name == "v" || name == if rotated { "k_rot" } else { "k" }
}

impl Layout {
    /// The marks of a pass over `tokens` positions that read the first `cached` from a cache:
    /// every computed block whose x is the token position gets one (for attention scores, whose x
    /// is the query, the new query's row across every key). None for a prefill.
    pub fn step_marks(&self, tokens: usize, cached: usize) -> Vec<(usize, StepMark)> {
        if cached == 0 || cached >= tokens {
            return Vec::new();
        }
        let rotated = self.config.llama_shape().is_some();
        self.position_blocks()
            .map(|index| (index, &self.blocks[index]))
            .map(|(index, block)| {
                let mark = if is_cached(&block.tensor, rotated) {
                    StepMark::Cached { columns: cached as u32 }
                } else {
                    StepMark::Computed { column: tokens as u32 - 1 }
                };
                (index, mark)
            })
            .collect()
    }
}

impl Layout {
    /// The computed blocks whose x is the token position (for attention scores, the query's):
    /// where one position's column can be lit.
    pub fn position_blocks(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.blocks.len()).filter(|&index| {
            let block = &self.blocks[index];
            let computed = block.kind != BlockKind::Weight && block.kind != BlockKind::Tied;
            computed && block.axes[0] == Some(Axis::T)
        })
    }
}

impl Block {
    /// The part of the model that switching off at `cell` silences: any block of a head (its
    /// output `y` is what goes), one neuron for a cell of the MLP's hidden activation (GPT-2's
    /// GELU, a Llama's SwiGLU product), the whole MLP for any other block of it; None elsewhere.
    pub fn switchable_part(&self, cell: [u32; 3]) -> Option<Part> {
        let layer = self.layer?;
        if let Some(head) = self.head {
            return Some(Part::Head { layer, head });
        }
        let name = self.name.strip_prefix(&format!("block{layer}."))?;
        let part = name.split('.').next().unwrap_or(name);
        match part {
            "gelu" | "swiglu" => Some(Part::Neuron { layer, neuron: *self.tensor_index(cell).last()? }),
            "fc" | "mlp_proj" | "mlp" | "gate_proj" | "gate" | "up_proj" | "up" | "down_proj" => {
                Some(Part::Mlp { layer })
            }
            _ => None,
        }
    }
}
