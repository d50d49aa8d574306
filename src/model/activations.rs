//! The intermediate tensors of one forward pass, by name: what the visualization draws.
//!
//! Plain `Vec<f32>` data, so that layout, explain and the renderer read them without burn.

use std::collections::BTreeMap;

use super::config::GptConfig;

/// One captured tensor, row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct NamedTensor {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

impl NamedTensor {
    pub fn new(shape: Vec<usize>, data: Vec<f32>) -> NamedTensor {
        assert_eq!(shape.iter().product::<usize>(), data.len(), "shape {shape:?} does not hold {} values", data.len());
        NamedTensor { shape, data }
    }

    /// Row-major offset of `index`, or None when it lies outside the shape.
    pub fn offset(&self, index: &[usize]) -> Option<usize> {
        if index.len() != self.shape.len() {
            return None;
        }
        let mut offset = 0;
        for (&i, &n) in index.iter().zip(&self.shape) {
            if i >= n {
                return None;
            }
            offset = offset * n + i;
        }
        Some(offset)
    }

    pub fn get(&self, index: &[usize]) -> Option<f32> {
        self.offset(index).map(|o| self.data[o])
    }
}

/// Everything one forward pass produced, keyed by the names of `activation_shapes`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Activations {
    pub tokens: Vec<usize>,
    pub tensors: BTreeMap<String, NamedTensor>,
}

impl Activations {
    pub fn get(&self, name: &str) -> Option<&NamedTensor> {
        self.tensors.get(name)
    }
}

/// The name and shape of every activation a forward pass over `t` tokens captures, in the order they arise.
/// T is the input's length, C channels, H heads of size A, V vocab.
pub fn activation_shapes(config: &GptConfig, t: usize) -> Vec<(String, Vec<usize>)> {
    let (c, h, a, v) = (config.n_embd, config.n_head, config.head_size(), config.vocab_size);
    let mut shapes: Vec<(String, Vec<usize>)> = vec![
        ("tok_emb".into(), vec![t, c]),
        ("pos_emb".into(), vec![t, c]),
        ("x".into(), vec![t, c]),
    ];
    for i in 0..config.n_layer {
        let b = |name: &str| format!("block{i}.{name}");
        shapes.extend([
            (b("ln1_mean"), vec![t]),
            (b("ln1_std"), vec![t]),
            (b("ln1"), vec![t, c]),
            (b("qkv"), vec![t, 3 * c]),
            (b("q"), vec![h, t, a]),
            (b("k"), vec![h, t, a]),
            (b("v"), vec![h, t, a]),
            (b("att"), vec![h, t, t]),
            (b("att_max"), vec![h, t]),
            (b("att_sumexp"), vec![h, t]),
            (b("att_sm"), vec![h, t, t]),
            (b("y"), vec![t, c]),
            (b("attn_proj"), vec![t, c]),
            (b("attn_resid"), vec![t, c]),
            (b("ln2_mean"), vec![t]),
            (b("ln2_std"), vec![t]),
            (b("ln2"), vec![t, c]),
            (b("fc"), vec![t, 4 * c]),
            (b("gelu"), vec![t, 4 * c]),
            (b("mlp"), vec![t, c]),
            (b("mlp_resid"), vec![t, c]),
        ]);
    }
    shapes.extend([
        ("ln_f_mean".into(), vec![t]),
        ("ln_f_std".into(), vec![t]),
        ("ln_f".into(), vec![t, c]),
        ("logits".into(), vec![t, v]),
        ("logits_max".into(), vec![t]),
        ("logits_sumexp".into(), vec![t]),
        ("probs".into(), vec![t, v]),
    ]);
    shapes
}

/// The state_dict name and shape of every learned parameter (Linear weights are [out, in]).
/// A tied LM head has no entry of its own: it is `transformer.wte.weight`.
pub fn parameter_shapes(config: &GptConfig) -> Vec<(String, Vec<usize>)> {
    let (c, v) = (config.n_embd, config.vocab_size);
    let mut shapes: Vec<(String, Vec<usize>)> = vec![
        ("transformer.wte.weight".into(), vec![v, c]),
        ("transformer.wpe.weight".into(), vec![config.block_size, c]),
    ];
    for i in 0..config.n_layer {
        let p = |name: &str| format!("transformer.h.{i}.{name}");
        shapes.extend([
            (p("ln_1.weight"), vec![c]),
            (p("ln_1.bias"), vec![c]),
            (p("attn.c_attn.weight"), vec![3 * c, c]),
            (p("attn.c_attn.bias"), vec![3 * c]),
            (p("attn.c_proj.weight"), vec![c, c]),
            (p("attn.c_proj.bias"), vec![c]),
            (p("ln_2.weight"), vec![c]),
            (p("ln_2.bias"), vec![c]),
            (p("mlp.c_fc.weight"), vec![4 * c, c]),
            (p("mlp.c_fc.bias"), vec![4 * c]),
            (p("mlp.c_proj.weight"), vec![c, 4 * c]),
            (p("mlp.c_proj.bias"), vec![c]),
        ]);
    }
    shapes.extend([("transformer.ln_f.weight".into(), vec![c]), ("transformer.ln_f.bias".into(), vec![c])]);
    if !config.tied_lm_head {
        shapes.push(("lm_head.weight".into(), vec![v, c]));
    }
    shapes
}
