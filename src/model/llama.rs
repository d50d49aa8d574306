//! A Llama-family decoder in burn (Llama, Qwen2, Qwen3), generic over the backend, read top to
//! bottom like `gpt.rs`: embed, layers, final norm, head. What differs from GPT-2 is where it
//! happens: RMSNorm instead of LayerNorm, position as a rotation of q and k inside attention
//! (RoPE) instead of a table added at the input, a SwiGLU MLP, and fewer k/v heads than query
//! heads (grouped-query attention). Activations are recorded under `names::activation_shapes`'s names.

use burn::module::{Module, Param};
use burn::tensor::activation::silu;
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};

use super::config::{GptConfig, LlamaShape};
use super::gpt::{ParamSlot, VocabRows, causal_mask, fill_params, read_params, softmax_with_stats, take_tensor};
use super::names;
use super::record::Recorder;
use super::weights::Weights;

/// RMSNorm's learned scale γ: no mean is taken away and there is no β.
#[derive(Module, Debug)]
pub struct RmsNorm<B: Backend> {
    pub weight: Param<Tensor<B, 1>>,
}

/// An `nn.Linear` [out, in]; only Qwen2's q, k and v projections have a bias.
#[derive(Module, Debug)]
pub struct Projection<B: Backend> {
    pub weight: Param<Tensor<B, 2>>,
    pub bias: Option<Param<Tensor<B, 1>>>,
}

#[derive(Module, Debug)]
pub struct LlamaAttention<B: Backend> {
    pub q_proj: Projection<B>,
    pub k_proj: Projection<B>,
    pub v_proj: Projection<B>,
    pub o_proj: Projection<B>,
    pub q_norm: Option<RmsNorm<B>>,
    pub k_norm: Option<RmsNorm<B>>,
}

#[derive(Module, Debug)]
pub struct SwiGlu<B: Backend> {
    pub gate_proj: Projection<B>,
    pub up_proj: Projection<B>,
    pub down_proj: Projection<B>,
}

#[derive(Module, Debug)]
pub struct LlamaLayer<B: Backend> {
    pub input_layernorm: RmsNorm<B>,
    pub self_attn: LlamaAttention<B>,
    pub post_attention_layernorm: RmsNorm<B>,
    pub mlp: SwiGlu<B>,
}

#[derive(Module, Debug)]
pub struct Llama<B: Backend> {
    pub embed_tokens: VocabRows<B>,
    pub layers: Vec<LlamaLayer<B>>,
    pub norm: RmsNorm<B>,
    /// None when tied: the head is then `embed_tokens` itself.
    pub lm_head: Option<VocabRows<B>>,
    #[module(skip)]
    pub config: GptConfig,
}

impl<B: Backend> RmsNorm<B> {
    /// `x / √(mean(x²) + ε) · γ` over the last axis; returns it and the root mean square [.., 1].
    fn forward<const D: usize>(&self, x: Tensor<B, D>, eps: f64) -> (Tensor<B, D>, Tensor<B, D>) {
        let rms = (x.clone().powf_scalar(2.0).mean_dim(D - 1) + eps).sqrt(); // [.., 1]
        let out = x / rms.clone() * self.weight.val().unsqueeze();
        (out, rms)
    }
}

impl<B: Backend> Projection<B> {
    /// x [B, T, in] -> [B, T, out]
    fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let [batch, t, n_in] = x.dims();
        let n_out = self.weight.dims()[0];
        // (W · xᵀ)ᵀ: a transposed operand is copied before its product (see `gpt::Linear::forward`).
        let y = self.weight.val().matmul(x.reshape([batch * t, n_in]).transpose()).transpose(); // [B*T, out]
        let y = match &self.bias {
            Some(bias) => y + bias.val().unsqueeze(),
            None => y,
        };
        y.reshape([batch, t, n_out])
    }
}

/// cos and sin of every position's angles t·θ_i, [1, 1, T, D/2]: computed in f64 on the CPU, as
/// the angles of a long context lose their low bits in f32.
fn rotary_tables<B: Backend>(
    llama: &LlamaShape,
    positions: std::ops::Range<usize>,
    device: &B::Device,
) -> (Tensor<B, 4>, Tensor<B, 4>) {
    let inv_freq = llama.inv_freq();
    let half = inv_freq.len();
    let t = positions.len();
    let angles: Vec<f64> = positions.flat_map(|p| inv_freq.iter().map(move |f| p as f64 * f)).collect();
    let table = |f: fn(f64) -> f64| {
        let data: Vec<f32> = angles.iter().map(|&a| f(a) as f32).collect();
        Tensor::<B, 2>::from_data(TensorData::new(data, [t, half]), device).unsqueeze::<4>()
    };
    (table(f64::cos), table(f64::sin))
}

/// Hugging Face's rotate-half RoPE: channel i turns with channel i + D/2 by the angle t·θ_i.
/// x [B, H, T, D].
fn rotate<B: Backend>(x: Tensor<B, 4>, cos: &Tensor<B, 4>, sin: &Tensor<B, 4>) -> Tensor<B, 4> {
    let half = x.dims()[3] / 2;
    let (first, second) = (x.clone().narrow(3, 0, half), x.narrow(3, half, half));
    let turned_first = first.clone() * cos.clone() - second.clone() * sin.clone();
    let turned_second = second * cos.clone() + first * sin.clone();
    Tensor::cat(vec![turned_first, turned_second], 3)
}

/// What one layer's attention needs besides its input.
struct AttentionInput<'a, B: Backend> {
    llama: &'a LlamaShape,
    config: &'a GptConfig,
    cos: &'a Tensor<B, 4>,
    sin: &'a Tensor<B, 4>,
    layer: usize,
}

impl<B: Backend> LlamaAttention<B> {
    /// Splits a projection's output [B, T, heads·D] into heads [B, heads, T, D], normalised per head
    /// (Qwen3) and rotated when `rotated`, recording each stage under `part` (`q`, `q_norm`, `q_rot`).
    fn heads(
        &self,
        projected: Tensor<B, 3>,
        norm: Option<&RmsNorm<B>>,
        part: &str,
        input: &AttentionInput<B>,
        rec: &mut Recorder<B>,
    ) -> Tensor<B, 4> {
        let [batch, t, width] = projected.dims();
        let d = input.llama.head_dim;
        let x = projected.reshape([batch, t, width / d, d]).swap_dims(1, 2); // [B, heads, T, D]
        let x = rec.flow(|| names::layer(input.layer, part), x);
        let x = match norm {
            Some(norm) => {
                let (normalised, rms) = norm.forward(x, input.config.layer_norm_epsilon);
                rec.keep(|| names::layer(input.layer, &format!("{part}_norm_rms")), &rms);
                rec.flow(|| names::layer(input.layer, &format!("{part}_norm")), normalised)
            }
            None => x,
        };
        rec.flow(|| names::layer(input.layer, &format!("{part}_rot")), rotate(x, input.cos, input.sin))
    }

    fn forward(&self, x: Tensor<B, 3>, input: &AttentionInput<B>, rec: &mut Recorder<B>) -> Tensor<B, 3> {
        let [batch, t, _] = x.dims();
        let (h, kv, d) = (input.config.n_head, input.llama.n_kv_head, input.llama.head_dim);
        let q = self.heads(self.q_proj.forward(x.clone()), self.q_norm.as_ref(), "q", input, rec);
        let k = self.heads(self.k_proj.forward(x.clone()), self.k_norm.as_ref(), "k", input, rec);
        let v = self.v_proj.forward(x).reshape([batch, t, kv, d]).swap_dims(1, 2); // [B, KV, T, D]
        let v = rec.flow(|| names::layer(input.layer, "v"), v);
        let past = rec.past();
        let (k, v) = rec.remember(input.layer, k, v); // [B, KV, past + T, D]
        let seen = past + t;
        // Each k/v head serves the G query heads after it: h reads h / G.
        let group =
            |x: Tensor<B, 4>| x.unsqueeze_dim::<5>(2).expand([batch, kv, h / kv, seen, d]).reshape([batch, h, seen, d]);
        let (k, v) = (group(k), group(v));

        let att = q.matmul(k.swap_dims(2, 3)) * (1.0 / (d as f64).sqrt()); // [B, H, T, past + T]
        let future = causal_mask::<B>(t, past, &att.device()).unsqueeze::<4>().expand([batch, h, t, seen]);
        let att = rec.flow(|| names::layer(input.layer, "att"), att.mask_fill(future, f32::NEG_INFINITY));
        let (att_sm, att_max, att_sumexp) = softmax_with_stats(att);
        rec.keep(|| names::layer(input.layer, "att_max"), &att_max);
        rec.keep(|| names::layer(input.layer, "att_sumexp"), &att_sumexp);
        let att_sm = rec.flow(|| names::layer(input.layer, "att_sm"), att_sm);

        let y = att_sm.matmul(v).swap_dims(1, 2).reshape([batch, t, h * d]); // heads side by side
        let y = rec.flow(|| names::layer(input.layer, "y"), rec.heads_off(input.layer, d, y));
        rec.flow(|| names::layer(input.layer, "attn_proj"), self.o_proj.forward(y)) // [B, T, C]
    }
}

impl<B: Backend> SwiGlu<B> {
    /// `down(silu(gate(x)) ⊙ up(x))`: the gate decides, channel by channel, how much of `up` passes.
    fn forward(&self, x: Tensor<B, 3>, layer: usize, rec: &mut Recorder<B>) -> Tensor<B, 3> {
        let gate = rec.flow(|| names::layer(layer, "gate"), self.gate_proj.forward(x.clone()));
        let up = rec.flow(|| names::layer(layer, "up"), self.up_proj.forward(x));
        let swiglu = rec.neurons_off(layer, silu(gate) * up);
        let swiglu = rec.flow(|| names::layer(layer, "swiglu"), swiglu);
        let mlp = rec.mlp_off(layer, self.down_proj.forward(swiglu));
        rec.flow(|| names::layer(layer, "mlp"), mlp)
    }
}

impl<B: Backend> LlamaLayer<B> {
    fn forward(&self, x: Tensor<B, 3>, input: &AttentionInput<B>, rec: &mut Recorder<B>) -> Tensor<B, 3> {
        let (layer, eps) = (input.layer, input.config.layer_norm_epsilon);
        let (rms1, rms) = self.input_layernorm.forward(x.clone(), eps);
        rec.keep(|| names::layer(layer, "rms1_rms"), &rms);
        let rms1 = rec.flow(|| names::layer(layer, "rms1"), rms1);
        let x = x + self.self_attn.forward(rms1, input, rec);
        let x = rec.flow(|| names::layer(layer, "attn_resid"), x);

        let (rms2, rms) = self.post_attention_layernorm.forward(x.clone(), eps);
        rec.keep(|| names::layer(layer, "rms2_rms"), &rms);
        let rms2 = rec.flow(|| names::layer(layer, "rms2"), rms2);
        let x = x + self.mlp.forward(rms2, layer, rec);
        rec.flow(|| names::layer(layer, "mlp_resid"), x)
    }
}

impl<B: Backend> Llama<B> {
    fn shape(&self) -> &LlamaShape {
        self.config.llama_shape().expect("a Llama is built from a Llama config")
    }

    /// Token ids [B, T] -> logits [B, T, V]. `rec` keeps the intermediates when it is recording.
    pub fn forward(&self, idx: Tensor<B, 2, Int>, rec: &mut Recorder<B>) -> Tensor<B, 3> {
        let [_, t] = idx.dims();
        let mut x = rec.flow(|| "x".into(), self.embed_tokens.embed(idx)); // [B, T, C]
        // After a cache, the new tokens' positions follow the cached ones.
        let (cos, sin) = rotary_tables::<B>(self.shape(), rec.past()..rec.past() + t, &x.device());
        for (layer, block) in self.layers.iter().enumerate() {
            let input = AttentionInput { llama: self.shape(), config: &self.config, cos: &cos, sin: &sin, layer };
            x = block.forward(x, &input, rec);
        }
        rec.advance(t);
        let (x, rms) = self.norm.forward(x, self.config.layer_norm_epsilon);
        rec.keep(|| "rms_f_rms".into(), &rms);
        let x = rec.flow(|| "rms_f".into(), x);
        let logits = rec.flow(|| "logits".into(), self.unembed(x));
        if rec.is_recording() {
            let (probs, max, sumexp) = softmax_with_stats(logits.clone());
            rec.keep(|| "logits_max".into(), &max);
            rec.keep(|| "logits_sumexp".into(), &sumexp);
            rec.keep(|| "probs".into(), &probs);
        }
        logits
    }

    pub fn device(&self) -> B::Device {
        self.embed_tokens.device()
    }

    /// Builds the model from checked weights (see `Weights::check_shapes`).
    /// The final RMSNorm and the unembedding, on a residual stream [B, T, C]: logits [B, T, V].
    /// The logit lens reads every layer's stream through them.
    pub fn readout(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let (x, _) = self.norm.forward(x, self.config.layer_norm_epsilon);
        self.unembed(x)
    }

    fn unembed(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        self.lm_head.as_ref().unwrap_or(&self.embed_tokens).unembed(x) // tied: embed_tokens' rows
    }

    pub fn from_weights(weights: &Weights, device: &B::Device) -> Llama<B> {
        let mut model = Llama::unfilled(&weights.config, device);
        fill_params(model.params_mut(), &weights.config, |name| weights.get(name).clone(), device);
        model
    }

    /// `from_weights`, moving each tensor's values into the model instead of copying them.
    pub fn from_owned(mut weights: Weights, device: &B::Device) -> Llama<B> {
        let mut model = Llama::unfilled(&weights.config, device);
        fill_params(model.params_mut(), &weights.config.clone(), |name| take_tensor(&mut weights, name), device);
        model
    }

    /// The parameters back under their Hugging Face names: the inverse of `from_weights`.
    pub fn to_weights(&self) -> Weights {
        let mut model = self.clone();
        read_params(model.params_mut(), &self.config)
    }

    /// The model's structure with empty parameters, for `from_weights` to fill.
    fn unfilled(config: &GptConfig, device: &B::Device) -> Llama<B> {
        let llama = config.llama_shape().expect("a Llama config");
        let vector = || Param::from_tensor(Tensor::<B, 1>::empty([0], device));
        let matrix = || Param::from_tensor(Tensor::<B, 2>::empty([0, 0], device));
        let projection = |bias: bool| Projection { weight: matrix(), bias: bias.then(vector) };
        let norm = || RmsNorm { weight: vector() };
        let vocab = || VocabRows { blocks: vec![matrix()] };
        let layer = || LlamaLayer {
            input_layernorm: norm(),
            self_attn: LlamaAttention {
                q_proj: projection(llama.qkv_bias),
                k_proj: projection(llama.qkv_bias),
                v_proj: projection(llama.qkv_bias),
                o_proj: projection(false),
                q_norm: llama.qk_norm.then(norm),
                k_norm: llama.qk_norm.then(norm),
            },
            post_attention_layernorm: norm(),
            mlp: SwiGlu { gate_proj: projection(false), up_proj: projection(false), down_proj: projection(false) },
        };
        Llama {
            embed_tokens: vocab(),
            layers: (0..config.n_layer).map(|_| layer()).collect(),
            norm: norm(),
            lm_head: (!config.tied_lm_head).then(vocab),
            config: config.clone(),
        }
    }

    /// Every parameter in the order of `names::parameter_shapes`.
    pub(crate) fn params_mut(&mut self) -> Vec<ParamSlot<'_, B>> {
        fn projection<'a, B: Backend>(p: &'a mut Projection<B>, slots: &mut Vec<ParamSlot<'a, B>>) {
            slots.push(ParamSlot::Matrix(&mut p.weight));
            if let Some(bias) = &mut p.bias {
                slots.push(ParamSlot::Vector(bias));
            }
        }
        let mut slots = vec![ParamSlot::Vocab(&mut self.embed_tokens)];
        for layer in &mut self.layers {
            slots.push(ParamSlot::Vector(&mut layer.input_layernorm.weight));
            let attention = &mut layer.self_attn;
            projection(&mut attention.q_proj, &mut slots);
            projection(&mut attention.k_proj, &mut slots);
            projection(&mut attention.v_proj, &mut slots);
            projection(&mut attention.o_proj, &mut slots);
            for norm in [&mut attention.q_norm, &mut attention.k_norm].into_iter().flatten() {
                slots.push(ParamSlot::Vector(&mut norm.weight));
            }
            slots.push(ParamSlot::Vector(&mut layer.post_attention_layernorm.weight));
            let mlp = &mut layer.mlp;
            for p in [&mut mlp.gate_proj, &mut mlp.up_proj, &mut mlp.down_proj] {
                projection(p, &mut slots);
            }
        }
        slots.push(ParamSlot::Vector(&mut self.norm.weight));
        if let Some(head) = &mut self.lm_head {
            slots.push(ParamSlot::Vocab(head));
        }
        slots
    }
}
