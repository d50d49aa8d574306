//! minGPT in burn, generic over the backend. It reads top to bottom like the architecture diagram:
//! embed, blocks, final norm, head. Activations are recorded where they arise, under the layout's names.

use burn::module::{Module, Param};
use burn::tensor::activation::gelu_approximate;
use burn::tensor::backend::Backend;
use burn::tensor::module::embedding;
use burn::tensor::{Bool, Int, Tensor, TensorData};

use super::activations::NamedTensor;
use super::config::GptConfig;
use super::record::Recorder;
use super::weights::Weights;

const LN_EPS: f64 = 1e-5;

/// A LayerNorm's learned scale and shift, `ln_1.weight` (γ) and `ln_1.bias` (β).
#[derive(Module, Debug)]
pub struct LayerNorm<B: Backend> {
    pub weight: Param<Tensor<B, 1>>,
    pub bias: Param<Tensor<B, 1>>,
}

/// A Linear layer stored as PyTorch stores it, weight [out, in], so checkpoints load by name.
#[derive(Module, Debug)]
pub struct Linear<B: Backend> {
    pub weight: Param<Tensor<B, 2>>,
    pub bias: Param<Tensor<B, 1>>,
}

#[derive(Module, Debug)]
pub struct CausalSelfAttention<B: Backend> {
    pub c_attn: Linear<B>,
    pub c_proj: Linear<B>,
}

#[derive(Module, Debug)]
pub struct Mlp<B: Backend> {
    pub c_fc: Linear<B>,
    pub c_proj: Linear<B>,
}

#[derive(Module, Debug)]
pub struct Block<B: Backend> {
    pub ln_1: LayerNorm<B>,
    pub attn: CausalSelfAttention<B>,
    pub ln_2: LayerNorm<B>,
    pub mlp: Mlp<B>,
}

#[derive(Module, Debug)]
pub struct Gpt<B: Backend> {
    pub wte: Param<Tensor<B, 2>>,
    pub wpe: Param<Tensor<B, 2>>,
    pub h: Vec<Block<B>>,
    pub ln_f: LayerNorm<B>,
    /// None when tied: the head is then `wte` itself.
    pub lm_head: Option<Param<Tensor<B, 2>>>,
    #[module(skip)]
    pub config: GptConfig,
}

impl<B: Backend> LayerNorm<B> {
    /// Biased variance and eps inside the root, as PyTorch. Returns the normalised x and its row statistics.
    fn forward<const D: usize>(&self, x: Tensor<B, D>) -> (Tensor<B, D>, Tensor<B, D>, Tensor<B, D>) {
        let (var, mean) = x.clone().var_mean_bias(D - 1); // [.., 1]
        let std = (var + LN_EPS).sqrt(); // [.., 1]
        let normalised = (x - mean.clone()) / std.clone();
        let out = normalised * self.weight.val().unsqueeze() + self.bias.val().unsqueeze();
        (out, mean, std)
    }
}

impl<B: Backend> Linear<B> {
    /// x [B, T, in] -> [B, T, out]
    fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let [batch, t, n_in] = x.dims();
        let n_out = self.weight.dims()[0];
        let y = x.reshape([batch * t, n_in]).matmul(self.weight.val().transpose()); // [B*T, out]
        (y + self.bias.val().unsqueeze()).reshape([batch, t, n_out])
    }
}

/// True above the diagonal: the future positions a query may not look at. [T, T]
/// (burn's `tril_mask` is true outside the lower triangle.)
fn causal_mask<B: Backend>(t: usize, device: &B::Device) -> Tensor<B, 2, Bool> {
    Tensor::<B, 2, Bool>::tril_mask([t, t], 0, device)
}

impl<B: Backend> CausalSelfAttention<B> {
    fn forward(&self, x: Tensor<B, 3>, n_head: usize, layer: usize, rec: &mut Recorder<B>) -> Tensor<B, 3> {
        let [batch, t, c] = x.dims();
        let head_size = c / n_head;
        let qkv = self.c_attn.forward(x); // [B, T, 3C]
        rec.keep(|| format!("block{layer}.qkv"), &qkv);
        let split_heads = |start: usize| {
            qkv.clone().narrow(2, start, c).reshape([batch, t, n_head, head_size]).swap_dims(1, 2) // [B, H, T, A]
        };
        let (q, k, v) = (split_heads(0), split_heads(c), split_heads(2 * c));
        rec.keep(|| format!("block{layer}.q"), &q);
        rec.keep(|| format!("block{layer}.k"), &k);
        rec.keep(|| format!("block{layer}.v"), &v);

        let att = q.matmul(k.swap_dims(2, 3)) * (1.0 / (head_size as f64).sqrt()); // [B, H, T, T]
        let future = causal_mask::<B>(t, &att.device()).unsqueeze::<4>().expand([batch, n_head, t, t]);
        let att = att.mask_fill(future, f32::NEG_INFINITY);
        rec.keep(|| format!("block{layer}.att"), &att);
        let (att_sm, att_max, att_sumexp) = softmax_with_stats(att);
        rec.keep(|| format!("block{layer}.att_max"), &att_max);
        rec.keep(|| format!("block{layer}.att_sumexp"), &att_sumexp);
        rec.keep(|| format!("block{layer}.att_sm"), &att_sm);

        let y = att_sm.matmul(v).swap_dims(1, 2).reshape([batch, t, c]); // [B, T, C], heads side by side
        rec.keep(|| format!("block{layer}.y"), &y);
        let proj = self.c_proj.forward(y); // [B, T, C]
        rec.keep(|| format!("block{layer}.attn_proj"), &proj);
        proj
    }
}

/// Softmax over the last axis, keeping the row max and Σexp(x − max) that the visualization shows.
fn softmax_with_stats<B: Backend, const D: usize>(x: Tensor<B, D>) -> (Tensor<B, D>, Tensor<B, D>, Tensor<B, D>) {
    let max = x.clone().max_dim(D - 1); // [.., 1]
    let exp = (x - max.clone()).exp(); // masked −inf entries become 0
    let sumexp = exp.clone().sum_dim(D - 1); // [.., 1]
    (exp / sumexp.clone(), max, sumexp)
}

impl<B: Backend> Mlp<B> {
    fn forward(&self, x: Tensor<B, 3>, layer: usize, rec: &mut Recorder<B>) -> Tensor<B, 3> {
        let fc = self.c_fc.forward(x); // [B, T, 4C]
        rec.keep(|| format!("block{layer}.fc"), &fc);
        let gelu = gelu_approximate(fc); // tanh form, as minGPT's NewGELU
        rec.keep(|| format!("block{layer}.gelu"), &gelu);
        let mlp = self.c_proj.forward(gelu); // [B, T, C]
        rec.keep(|| format!("block{layer}.mlp"), &mlp);
        mlp
    }
}

impl<B: Backend> Block<B> {
    fn forward(&self, x: Tensor<B, 3>, n_head: usize, layer: usize, rec: &mut Recorder<B>) -> Tensor<B, 3> {
        let (ln1, mean, std) = self.ln_1.forward(x.clone()); // [B, T, C]
        rec.keep(|| format!("block{layer}.ln1_mean"), &mean);
        rec.keep(|| format!("block{layer}.ln1_std"), &std);
        rec.keep(|| format!("block{layer}.ln1"), &ln1);
        let x = x + self.attn.forward(ln1, n_head, layer, rec);
        rec.keep(|| format!("block{layer}.attn_resid"), &x);

        let (ln2, mean, std) = self.ln_2.forward(x.clone());
        rec.keep(|| format!("block{layer}.ln2_mean"), &mean);
        rec.keep(|| format!("block{layer}.ln2_std"), &std);
        rec.keep(|| format!("block{layer}.ln2"), &ln2);
        let x = x + self.mlp.forward(ln2, layer, rec);
        rec.keep(|| format!("block{layer}.mlp_resid"), &x);
        x
    }
}

impl<B: Backend> Gpt<B> {
    /// Token ids [B, T] -> logits [B, T, V]. `rec` keeps the intermediates when it is recording.
    pub fn forward(&self, idx: Tensor<B, 2, Int>, rec: &mut Recorder<B>) -> Tensor<B, 3> {
        let [batch, t] = idx.dims();
        let tok_emb = embedding(self.wte.val(), idx); // [B, T, C]
        let pos_emb = self.wpe.val().narrow(0, 0, t).unsqueeze::<3>(); // [1, T, C]
        rec.keep(|| "tok_emb".into(), &tok_emb);
        rec.keep(|| "pos_emb".into(), &pos_emb);
        let mut x = tok_emb + pos_emb;
        rec.keep(|| "x".into(), &x);

        for (layer, block) in self.h.iter().enumerate() {
            x = block.forward(x, self.config.n_head, layer, rec);
        }

        let (x, mean, std) = self.ln_f.forward(x);
        rec.keep(|| "ln_f_mean".into(), &mean);
        rec.keep(|| "ln_f_std".into(), &std);
        rec.keep(|| "ln_f".into(), &x);
        let c = self.config.n_embd;
        let head = self.lm_head.as_ref().unwrap_or(&self.wte).val(); // [V, C]
        let logits = x.reshape([batch * t, c]).matmul(head.transpose()).reshape([batch, t, self.config.vocab_size]);
        rec.keep(|| "logits".into(), &logits);
        if rec.is_recording() {
            let (probs, max, sumexp) = softmax_with_stats(logits.clone());
            rec.keep(|| "logits_max".into(), &max);
            rec.keep(|| "logits_sumexp".into(), &sumexp);
            rec.keep(|| "probs".into(), &probs);
        }
        logits
    }

    /// Builds the model from checked weights (see `Weights::check_shapes`).
    pub fn from_weights(weights: &Weights, device: &B::Device) -> Gpt<B> {
        let param = |name: &str| -> NamedTensor { weights.get(name).clone() };
        let t1 = |name: &str| Param::from_tensor(tensor1::<B>(param(name), device));
        let t2 = |name: &str| Param::from_tensor(tensor2::<B>(param(name), device));
        let layer_norm = |prefix: &str| LayerNorm { weight: t1(&format!("{prefix}.weight")), bias: t1(&format!("{prefix}.bias")) };
        let linear = |prefix: &str| Linear { weight: t2(&format!("{prefix}.weight")), bias: t1(&format!("{prefix}.bias")) };
        let config = weights.config.clone();
        Gpt {
            wte: t2("transformer.wte.weight"),
            wpe: t2("transformer.wpe.weight"),
            h: (0..config.n_layer)
                .map(|i| {
                    let p = format!("transformer.h.{i}");
                    Block {
                        ln_1: layer_norm(&format!("{p}.ln_1")),
                        attn: CausalSelfAttention {
                            c_attn: linear(&format!("{p}.attn.c_attn")),
                            c_proj: linear(&format!("{p}.attn.c_proj")),
                        },
                        ln_2: layer_norm(&format!("{p}.ln_2")),
                        mlp: Mlp { c_fc: linear(&format!("{p}.mlp.c_fc")), c_proj: linear(&format!("{p}.mlp.c_proj")) },
                    }
                })
                .collect(),
            ln_f: layer_norm("transformer.ln_f"),
            lm_head: (!config.tied_lm_head).then(|| t2("lm_head.weight")),
            config,
        }
    }
}

impl<B: Backend> Gpt<B> {
    /// The parameters back under their state_dict names: the inverse of `from_weights`.
    pub fn to_weights(&self) -> Weights {
        let mut tensors = std::collections::BTreeMap::new();
        let mut put = |name: String, data: TensorData| {
            let shape = data.shape.to_vec();
            tensors.insert(name, NamedTensor::new(shape, data.convert::<f32>().to_vec().expect("float data")));
        };
        let put_linear = |prefix: String, linear: &Linear<B>, put: &mut dyn FnMut(String, TensorData)| {
            put(format!("{prefix}.weight"), linear.weight.val().into_data());
            put(format!("{prefix}.bias"), linear.bias.val().into_data());
        };
        let put_norm = |prefix: String, norm: &LayerNorm<B>, put: &mut dyn FnMut(String, TensorData)| {
            put(format!("{prefix}.weight"), norm.weight.val().into_data());
            put(format!("{prefix}.bias"), norm.bias.val().into_data());
        };
        put("transformer.wte.weight".into(), self.wte.val().into_data());
        put("transformer.wpe.weight".into(), self.wpe.val().into_data());
        for (i, block) in self.h.iter().enumerate() {
            let p = format!("transformer.h.{i}");
            put_norm(format!("{p}.ln_1"), &block.ln_1, &mut put);
            put_linear(format!("{p}.attn.c_attn"), &block.attn.c_attn, &mut put);
            put_linear(format!("{p}.attn.c_proj"), &block.attn.c_proj, &mut put);
            put_norm(format!("{p}.ln_2"), &block.ln_2, &mut put);
            put_linear(format!("{p}.mlp.c_fc"), &block.mlp.c_fc, &mut put);
            put_linear(format!("{p}.mlp.c_proj"), &block.mlp.c_proj, &mut put);
        }
        put_norm("transformer.ln_f".into(), &self.ln_f, &mut put);
        if let Some(head) = &self.lm_head {
            put("lm_head.weight".into(), head.val().into_data());
        }
        Weights { config: self.config.clone(), tensors, source: "<in memory>".into() }
    }
}

pub(crate) fn tensor1<B: Backend>(t: NamedTensor, device: &B::Device) -> Tensor<B, 1> {
    Tensor::from_data(TensorData::new(t.data, [t.shape[0]]), device)
}

pub(crate) fn tensor2<B: Backend>(t: NamedTensor, device: &B::Device) -> Tensor<B, 2> {
    Tensor::from_data(TensorData::new(t.data, [t.shape[0], t.shape[1]]), device)
}
