//! Switching parts of a model off: a head's output, a layer's whole MLP, or one MLP neuron set to
//! zero in the forward pass, to see what the model needs them for.

use std::collections::BTreeSet;

use super::GptConfig;

/// The parts switched off. Empty: the pass is the model's own, bit for bit.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Ablation {
    /// (layer, head): the head's columns of `y`, before the output projection (whose bias stays).
    pub heads: BTreeSet<(usize, usize)>,
    /// Layers whose MLP output is zero.
    pub mlps: BTreeSet<usize>,
    /// (layer, neuron): one activation of the MLP's hidden layer (GPT-2's `gelu`, a Llama's `swiglu`).
    pub neurons: BTreeSet<(usize, usize)>,
}

/// One part that can be switched off.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Part {
    Head { layer: usize, head: usize },
    Mlp { layer: usize },
    Neuron { layer: usize, neuron: usize },
}

impl Part {
    /// The name `Ablation::parse` reads: `block3.head5`, `block1.mlp`, `block0.gelu.17`.
    pub fn name(&self, config: &GptConfig) -> String {
        match *self {
            Part::Head { layer, head } => format!("block{layer}.head{head}"),
            Part::Mlp { layer } => format!("block{layer}.mlp"),
            Part::Neuron { layer, neuron } => format!("block{layer}.{}.{neuron}", neuron_name(config)),
        }
    }
}

fn neuron_name(config: &GptConfig) -> &'static str {
    if config.arch.is_gpt2() { "gelu" } else { "swiglu" }
}

/// A part named that the model does not have, or a name not understood.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("'{part}': {why}")]
pub struct AblationError {
    pub part: String,
    pub why: String,
}

impl Ablation {
    pub fn is_empty(&self) -> bool {
        self.heads.is_empty() && self.mlps.is_empty() && self.neurons.is_empty()
    }

    /// Parts by name, comma-separated: `block3.head5`, `block1.mlp`, `block0.gelu.17` (GPT-2) or
    /// `block0.swiglu.17` (the Llama family), each checked against `config`.
    pub fn parse(text: &str, config: &GptConfig) -> Result<Ablation, AblationError> {
        let mut ablation = Ablation::default();
        for part in text.split(',').map(str::trim).filter(|part| !part.is_empty()) {
            ablation.add(part, config).map_err(|why| AblationError { part: part.to_string(), why })?;
        }
        Ok(ablation)
    }

    fn add(&mut self, part: &str, config: &GptConfig) -> Result<(), String> {
        let neuron_name = neuron_name(config);
        let expected =
            format!("expected blockL.headH, blockL.mlp or blockL.{neuron_name}.N (layer L, head H, neuron N from 0)");
        let (layer, rest) = part
            .strip_prefix("block")
            .and_then(|rest| rest.split_once('.'))
            .and_then(|(layer, rest)| Some((layer.parse::<usize>().ok()?, rest)))
            .ok_or_else(|| expected.clone())?;
        within(layer, config.n_layer, "layer")?;
        if rest == "mlp" {
            self.mlps.insert(layer);
        } else if let Some(head) = rest.strip_prefix("head").and_then(|h| h.parse::<usize>().ok()) {
            within(head, config.n_head, "head")?;
            self.heads.insert((layer, head));
        } else if let Some(neuron) =
            rest.strip_prefix(neuron_name).and_then(|n| n.strip_prefix('.')).and_then(|n| n.parse::<usize>().ok())
        {
            within(neuron, config.mlp_width(), "neuron")?;
            self.neurons.insert((layer, neuron));
        } else {
            return Err(expected);
        }
        Ok(())
    }

    /// Switches `part` off, or back on when it is off already.
    pub fn toggle(&mut self, part: Part) {
        fn flip<T: Ord>(set: &mut BTreeSet<T>, item: T) {
            if !set.remove(&item) {
                set.insert(item);
            }
        }
        match part {
            Part::Head { layer, head } => flip(&mut self.heads, (layer, head)),
            Part::Mlp { layer } => flip(&mut self.mlps, layer),
            Part::Neuron { layer, neuron } => flip(&mut self.neurons, (layer, neuron)),
        }
    }

    /// The parts switched off, heads first.
    pub fn parts(&self) -> Vec<Part> {
        let heads = self.heads.iter().map(|&(layer, head)| Part::Head { layer, head });
        let mlps = self.mlps.iter().map(|&layer| Part::Mlp { layer });
        let neurons = self.neurons.iter().map(|&(layer, neuron)| Part::Neuron { layer, neuron });
        heads.chain(mlps).chain(neurons).collect()
    }

    /// The channels of a layer's head outputs `y` (heads side by side, `head_size` each) to zero.
    pub fn head_channels(&self, layer: usize, head_size: usize) -> Vec<usize> {
        let heads = self.heads.iter().filter(|&&(l, _)| l == layer);
        heads.flat_map(|&(_, head)| head * head_size..(head + 1) * head_size).collect()
    }

    /// The hidden neurons of a layer's MLP to zero.
    pub fn neuron_channels(&self, layer: usize) -> Vec<usize> {
        self.neurons.iter().filter(|&&(l, _)| l == layer).map(|&(_, neuron)| neuron).collect()
    }
}

fn within(index: usize, count: usize, what: &str) -> Result<(), String> {
    if index < count { Ok(()) } else { Err(format!("{what} {index} is outside the model's {count} {what}s")) }
}
