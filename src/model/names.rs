//! Every tensor's name, spelled in one place: the activations a forward pass records, under the
//! names the layout draws them by (`block0.ln1`), and the parameters under their PyTorch state_dict
//! names (`transformer.h.0.ln_1.weight`), so that loading a checkpoint is a lookup.
//!
//! The model, the layout, `explain` and the tests all build names with these functions.

use super::config::{GptConfig, LlamaShape};

/// The token embedding, [V, C]; also the LM head when the head is tied.
pub const WTE: &str = "transformer.wte.weight";
/// The position embedding, [T, C].
pub const WPE: &str = "transformer.wpe.weight";
/// The final LayerNorm's parameters: `LN_F` + `.weight` (γ) and `.bias` (β).
pub const LN_F: &str = "transformer.ln_f";
/// An untied LM head, [V, C] (minGPT's nano model has one).
pub const LM_HEAD: &str = "lm_head.weight";

/// The modules of a layer, as `layer_param` takes them: each has a `.weight` and a `.bias`.
pub const LN_1: &str = "ln_1";
pub const C_ATTN: &str = "attn.c_attn";
pub const ATTN_PROJ: &str = "attn.c_proj";
pub const LN_2: &str = "ln_2";
pub const C_FC: &str = "mlp.c_fc";
pub const MLP_PROJ: &str = "mlp.c_proj";

/// A Llama-family model's parameters, under Hugging Face's names (`nn.Linear` weights [out, in]).
pub const EMBED_TOKENS: &str = "model.embed_tokens.weight";
/// The final RMSNorm's γ.
pub const FINAL_NORM: &str = "model.norm.weight";
pub const INPUT_NORM: &str = "input_layernorm";
pub const Q_PROJ: &str = "self_attn.q_proj";
pub const K_PROJ: &str = "self_attn.k_proj";
pub const V_PROJ: &str = "self_attn.v_proj";
pub const O_PROJ: &str = "self_attn.o_proj";
/// Qwen3's per-head RMSNorms of q and k, [head_dim].
pub const Q_NORM: &str = "self_attn.q_norm";
pub const K_NORM: &str = "self_attn.k_norm";
pub const POST_NORM: &str = "post_attention_layernorm";
pub const GATE_PROJ: &str = "mlp.gate_proj";
pub const UP_PROJ: &str = "mlp.up_proj";
pub const DOWN_PROJ: &str = "mlp.down_proj";

/// A Llama parameter (or module) of layer `layer`: `llama_param(0, "mlp.up_proj.weight")` =
/// `model.layers.0.mlp.up_proj.weight`.
pub fn llama_param(layer: usize, name: &str) -> String {
    format!("model.layers.{layer}.{name}")
}

/// The token embedding's parameter: `transformer.wte.weight` or `model.embed_tokens.weight`.
pub fn token_embedding(config: &GptConfig) -> &'static str {
    if config.arch.is_gpt2() { WTE } else { EMBED_TOKENS }
}

/// An activation of layer `layer`, as the forward pass records it: `layer(0, "ln1")` = `block0.ln1`.
pub fn layer(layer: usize, name: &str) -> String {
    format!("block{layer}.{name}")
}

/// A drawn slice of one head of a layer: `head(0, 2, "q")` = `block0.head2.q`.
pub fn head(layer: usize, head: usize, part: &str) -> String {
    format!("block{layer}.head{head}.{part}")
}

/// A parameter (or module) of layer `layer` under its state_dict name: `layer_param(0, "ln_1.weight")`
/// = `transformer.h.0.ln_1.weight`.
pub fn layer_param(layer: usize, name: &str) -> String {
    format!("transformer.h.{layer}.{name}")
}

/// The LM head's weight: `wte` itself when tied.
pub fn lm_head(config: &GptConfig) -> &'static str {
    if config.tied_lm_head { token_embedding(config) } else { LM_HEAD }
}

/// `block1.q` → (Some(1), `q`); `ln_f` → (None, `ln_f`): the inverse of `layer`.
pub fn split_layer(tensor: &str) -> (Option<usize>, &str) {
    tensor
        .strip_prefix("block")
        .and_then(|rest| rest.split_once('.'))
        .and_then(|(layer, name)| layer.parse().ok().map(|layer| (Some(layer), name)))
        .unwrap_or((None, tensor))
}

/// The name and shape of every activation a forward pass over `t` tokens captures, in the order they arise.
/// T is the input's length, C channels, H heads of size A, V vocab.
pub fn activation_shapes(config: &GptConfig, t: usize) -> Vec<(String, Vec<usize>)> {
    if let Some(llama) = config.llama_shape() {
        return llama_activation_shapes(config, llama, t);
    }
    let (c, h, a, v) = (config.n_embd, config.n_head, config.head_size(), config.vocab_size);
    let mut shapes: Vec<(String, Vec<usize>)> =
        vec![("tok_emb".into(), vec![t, c]), ("pos_emb".into(), vec![t, c]), ("x".into(), vec![t, c])];
    for i in 0..config.n_layer {
        let b = |name: &str| layer(i, name);
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

/// The shapes a pass over `n` positions after `past` cached ones keeps: those of `n` positions,
/// but each query's attention scores (`att`, `att_sm`) span every key, cached or new.
pub fn step_shapes(config: &GptConfig, past: usize, n: usize) -> Vec<(String, Vec<usize>)> {
    let mut shapes = activation_shapes(config, n);
    for (name, shape) in &mut shapes {
        if is_attention_scores(name) {
            *shape.last_mut().expect("scores are [H, T, T]") = past + n;
        }
    }
    shapes
}

/// `block{i}.att` or `block{i}.att_sm`: a query's scores over the keys, [H, T, T].
pub fn is_attention_scores(tensor: &str) -> bool {
    matches!(split_layer(tensor).1, "att" | "att_sm")
}

/// The state_dict name and shape of every learned parameter (Linear weights are [out, in]), in the
/// order `Gpt::params_mut` walks them. A tied LM head has no entry of its own: it is `WTE`.
/// Training draws its initial weights in this order, so the order is part of a seed's result.
pub fn parameter_shapes(config: &GptConfig) -> Vec<(String, Vec<usize>)> {
    each_parameter_shape(config).collect()
}

/// `parameter_shapes` one at a time, for checking a file's config against its tensors: a config
/// that claims 10^12 layers, or a width whose triple overflows, is refused at the first tensor it
/// lacks (`WTE` is first, so a width is checked before any layer's shapes multiply it) without
/// first listing parameters it could never hold.
pub fn each_parameter_shape(config: &GptConfig) -> Box<dyn Iterator<Item = (String, Vec<usize>)> + '_> {
    if let Some(llama) = config.llama_shape() {
        return Box::new(each_llama_parameter_shape(config, llama));
    }
    let (c, v) = (config.n_embd, config.vocab_size);
    let embeddings = [(WTE.to_string(), vec![v, c]), (WPE.to_string(), vec![config.block_size, c])];
    let layers = (0..config.n_layer).flat_map(move |i| {
        let weight = |module: &str| layer_param(i, &format!("{module}.weight"));
        let bias = |module: &str| layer_param(i, &format!("{module}.bias"));
        [
            (weight(LN_1), vec![c]),
            (bias(LN_1), vec![c]),
            (weight(C_ATTN), vec![3 * c, c]),
            (bias(C_ATTN), vec![3 * c]),
            (weight(ATTN_PROJ), vec![c, c]),
            (bias(ATTN_PROJ), vec![c]),
            (weight(LN_2), vec![c]),
            (bias(LN_2), vec![c]),
            (weight(C_FC), vec![4 * c, c]),
            (bias(C_FC), vec![4 * c]),
            (weight(MLP_PROJ), vec![c, 4 * c]),
            (bias(MLP_PROJ), vec![c]),
        ]
    });
    let final_norm = [(format!("{LN_F}.weight"), vec![c]), (format!("{LN_F}.bias"), vec![c])];
    let lm_head = (!config.tied_lm_head).then(|| (LM_HEAD.to_string(), vec![v, c]));
    Box::new(embeddings.into_iter().chain(layers).chain(final_norm).chain(lm_head))
}

/// A Llama-family pass's activations, in the order they arise. Position enters inside attention
/// (the rotations `q_rot`, `k_rot`), so the stream starts as the token's embedding alone (`x`).
/// H query heads and KV key/value heads of size D; F is the SwiGLU's width; RMSNorm keeps one
/// statistic per row (`rms1_rms`: √(mean(x²) + ε)).
fn llama_activation_shapes(config: &GptConfig, llama: &LlamaShape, t: usize) -> Vec<(String, Vec<usize>)> {
    let (c, h, kv, d) = (config.n_embd, config.n_head, llama.n_kv_head, llama.head_dim);
    let (f, v) = (llama.intermediate_size, config.vocab_size);
    let mut shapes: Vec<(String, Vec<usize>)> = vec![("x".into(), vec![t, c])];
    for i in 0..config.n_layer {
        let b = |name: &str| layer(i, name);
        shapes.extend([(b("rms1_rms"), vec![t]), (b("rms1"), vec![t, c]), (b("q"), vec![h, t, d])]);
        if llama.qk_norm {
            shapes.extend([(b("q_norm_rms"), vec![h, t]), (b("q_norm"), vec![h, t, d])]);
        }
        shapes.extend([(b("q_rot"), vec![h, t, d]), (b("k"), vec![kv, t, d])]);
        if llama.qk_norm {
            shapes.extend([(b("k_norm_rms"), vec![kv, t]), (b("k_norm"), vec![kv, t, d])]);
        }
        shapes.extend([
            (b("k_rot"), vec![kv, t, d]),
            (b("v"), vec![kv, t, d]),
            (b("att"), vec![h, t, t]),
            (b("att_max"), vec![h, t]),
            (b("att_sumexp"), vec![h, t]),
            (b("att_sm"), vec![h, t, t]),
            (b("y"), vec![t, h * d]),
            (b("attn_proj"), vec![t, c]),
            (b("attn_resid"), vec![t, c]),
            (b("rms2_rms"), vec![t]),
            (b("rms2"), vec![t, c]),
            (b("gate"), vec![t, f]),
            (b("up"), vec![t, f]),
            (b("swiglu"), vec![t, f]),
            (b("mlp"), vec![t, c]),
            (b("mlp_resid"), vec![t, c]),
        ]);
    }
    shapes.extend([
        ("rms_f_rms".into(), vec![t]),
        ("rms_f".into(), vec![t, c]),
        ("logits".into(), vec![t, v]),
        ("logits_max".into(), vec![t]),
        ("logits_sumexp".into(), vec![t]),
        ("probs".into(), vec![t, v]),
    ]);
    shapes
}

/// A Llama-family model's parameters under Hugging Face's names, in the order `Llama::params_mut`
/// walks them. Norms have a γ only; projections have no bias but Qwen2's q, k and v.
fn each_llama_parameter_shape<'a>(
    config: &'a GptConfig,
    llama: &'a LlamaShape,
) -> impl Iterator<Item = (String, Vec<usize>)> + 'a {
    let (c, v, d, f) = (config.n_embd, config.vocab_size, llama.head_dim, llama.intermediate_size);
    let (q, kv) = (config.n_head * d, llama.n_kv_head * d);
    let layers = (0..config.n_layer).flat_map(move |i| {
        let p = |module: &str, part: &str| llama_param(i, &format!("{module}.{part}"));
        let mut shapes = vec![(p(INPUT_NORM, "weight"), vec![c]), (p(Q_PROJ, "weight"), vec![q, c])];
        let projections = [(Q_PROJ, q), (K_PROJ, kv), (V_PROJ, kv)];
        if llama.qkv_bias {
            shapes.push((p(Q_PROJ, "bias"), vec![q]));
        }
        for (module, rows) in &projections[1..] {
            shapes.push((p(module, "weight"), vec![*rows, c]));
            if llama.qkv_bias {
                shapes.push((p(module, "bias"), vec![*rows]));
            }
        }
        shapes.push((p(O_PROJ, "weight"), vec![c, q]));
        if llama.qk_norm {
            shapes.extend([(p(Q_NORM, "weight"), vec![d]), (p(K_NORM, "weight"), vec![d])]);
        }
        shapes.extend([
            (p(POST_NORM, "weight"), vec![c]),
            (p(GATE_PROJ, "weight"), vec![f, c]),
            (p(UP_PROJ, "weight"), vec![f, c]),
            (p(DOWN_PROJ, "weight"), vec![c, f]),
        ]);
        shapes
    });
    let embeddings = std::iter::once((EMBED_TOKENS.to_string(), vec![v, c]));
    let final_norm = std::iter::once((FINAL_NORM.to_string(), vec![c]));
    let lm_head = (!config.tied_lm_head).then(|| (LM_HEAD.to_string(), vec![v, c]));
    embeddings.chain(layers).chain(final_norm).chain(lm_head)
}
