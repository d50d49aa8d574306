//! The map of the model: GPT's architecture as a diagram of parts, the reference's table of
//! contents. Each part names the tour chapter that explains it and the blocks it stands for, so
//! the side panel can open the one and light the other. The transformer block is drawn once and
//! stands for every layer: its parts light their blocks in all of them.

use super::Layout;

/// One part of the diagram, top to bottom as data flows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Part {
    TokenEmbedding,
    PositionEmbedding,
    /// Their sum, the residual stream's start.
    InputEmbedding,
    LayerNorm1,
    SelfAttention,
    Projection,
    AttentionResidual,
    LayerNorm2,
    FeedForward,
    MlpResidual,
    FinalLayerNorm,
    Linear,
    Softmax,
}

impl Part {
    pub const ALL: [Part; 13] = [
        Part::TokenEmbedding,
        Part::PositionEmbedding,
        Part::InputEmbedding,
        Part::LayerNorm1,
        Part::SelfAttention,
        Part::Projection,
        Part::AttentionResidual,
        Part::LayerNorm2,
        Part::FeedForward,
        Part::MlpResidual,
        Part::FinalLayerNorm,
        Part::Linear,
        Part::Softmax,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Part::TokenEmbedding => "Token embed",
            Part::PositionEmbedding => "Position embed",
            Part::InputEmbedding => "+",
            Part::LayerNorm1 | Part::LayerNorm2 => "Layer norm",
            Part::SelfAttention => "Multi-head causal self-attention",
            Part::Projection => "Projection",
            Part::AttentionResidual | Part::MlpResidual => "+",
            Part::FeedForward => "Feed forward (MLP)",
            Part::FinalLayerNorm => "Layer norm",
            Part::Linear => "Linear",
            Part::Softmax => "Softmax",
        }
    }

    /// The part's title for a model of `config`'s architecture: a Llama's norms are RMSNorms, its
    /// MLP a SwiGLU and its position a rotation inside attention, not a table.
    pub fn title_for(self, config: &crate::model::GptConfig) -> &'static str {
        if config.arch.is_gpt2() {
            return self.title();
        }
        match self {
            Part::PositionEmbedding => "RoPE (in attention)",
            Part::LayerNorm1 | Part::LayerNorm2 | Part::FinalLayerNorm => "RMS norm",
            Part::FeedForward => "Feed forward (SwiGLU)",
            Part::SelfAttention => "Grouped-query causal self-attention",
            part => part.title(),
        }
    }

    /// The id of the chapter that explains the part, in the shipped tours.
    pub fn chapter(self) -> &'static str {
        match self {
            Part::TokenEmbedding | Part::PositionEmbedding | Part::InputEmbedding => "embedding",
            Part::LayerNorm1 | Part::LayerNorm2 => "layer-norm",
            Part::SelfAttention => "self-attention",
            Part::Projection => "projection",
            Part::AttentionResidual | Part::MlpResidual => "transformer",
            Part::FeedForward => "mlp",
            Part::FinalLayerNorm | Part::Linear | Part::Softmax => "output",
        }
    }

    /// True for the parts inside the repeated transformer block.
    pub fn in_layer(self) -> bool {
        matches!(
            self,
            Part::LayerNorm1
                | Part::SelfAttention
                | Part::Projection
                | Part::AttentionResidual
                | Part::LayerNorm2
                | Part::FeedForward
                | Part::MlpResidual
        )
    }

    /// The part a block belongs to, by its name: `block3.head1.q` → self-attention.
    pub fn of_block(name: &str) -> Option<Part> {
        if let Some(rest) = name.strip_prefix("block") {
            let (_, inside) = rest.split_once('.')?;
            let module = inside.split('.').next()?;
            return Some(match module {
                "ln1" | "rms1" => Part::LayerNorm1,
                m if m.starts_with("head") => Part::SelfAttention,
                "proj" | "attn_proj" | "o_proj" => Part::Projection,
                "attn_resid" => Part::AttentionResidual,
                "ln2" | "rms2" => Part::LayerNorm2,
                "fc" | "gelu" | "mlp_proj" | "mlp" | "gate" | "gate_proj" | "up" | "up_proj" | "swiglu"
                | "down_proj" => Part::FeedForward,
                "mlp_resid" => Part::MlpResidual,
                _ => return None,
            });
        }
        Some(match name.split('.').next()? {
            "tokens" | "wte" | "embed_tokens" => Part::TokenEmbedding,
            "wpe" => Part::PositionEmbedding,
            "x" => Part::InputEmbedding,
            "ln_f" | "rms_f" => Part::FinalLayerNorm,
            "lm_head" | "logits" => Part::Linear,
            "probs" => Part::Softmax,
            _ => return None,
        })
    }
}

/// A part of the diagram with the blocks it lights, by block index, in every layer.
#[derive(Clone, Debug, PartialEq)]
pub struct MapBox {
    pub part: Part,
    pub blocks: Vec<usize>,
}

/// The diagram of a laid-out model: every part, in `Part::ALL` order, with its blocks. The
/// softmax's statistics rows (`logits.max`, `logits.sumexp`) belong to the softmax.
pub fn model_map(layout: &Layout) -> Vec<MapBox> {
    let mut boxes: Vec<MapBox> = Part::ALL.iter().map(|&part| MapBox { part, blocks: Vec::new() }).collect();
    for (index, block) in layout.blocks.iter().enumerate() {
        let part = match block.name.as_str() {
            "logits.max" | "logits.sumexp" => Some(Part::Softmax),
            name => Part::of_block(name),
        };
        if let Some(part) = part {
            let slot = Part::ALL.iter().position(|&p| p == part).expect("every part is in ALL");
            boxes[slot].blocks.push(index);
        }
    }
    boxes
}
