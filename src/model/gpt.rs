//! minGPT in burn, generic over the backend. It reads top to bottom like the architecture diagram:
//! embed, blocks, final norm, head. Activations are recorded where they arise, under the layout's names.

use burn::module::{Module, Param};
use burn::tensor::activation::gelu_approximate;
use burn::tensor::backend::Backend;
use burn::tensor::module::embedding;
use burn::tensor::{Bool, Int, Tensor, TensorData};

use super::activations::NamedTensor;
use super::config::GptConfig;
use super::names::{self, parameter_shapes};
use super::record::Recorder;
use super::weights::Weights;

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

/// A [V, C] matrix with a row per token (the token embedding, an untied head), kept in blocks of
/// rows that each fit one GPU buffer binding: GPT-2's token embedding is 154 MB, and WebGPU (and
/// lavapipe) bind at most 128 MiB at once. A small vocabulary is one block.
#[derive(Module, Debug)]
pub struct VocabRows<B: Backend> {
    pub blocks: Vec<Param<Tensor<B, 2>>>,
}

#[derive(Module, Debug)]
pub struct Gpt<B: Backend> {
    pub wte: VocabRows<B>,
    pub wpe: Param<Tensor<B, 2>>,
    pub h: Vec<Block<B>>,
    pub ln_f: LayerNorm<B>,
    /// None when tied: the head is then `wte` itself.
    pub lm_head: Option<VocabRows<B>>,
    #[module(skip)]
    pub config: GptConfig,
}

impl<B: Backend> LayerNorm<B> {
    /// Biased variance and eps inside the root, as PyTorch. Returns the normalised x and its row statistics.
    fn forward<const D: usize>(&self, x: Tensor<B, D>, eps: f64) -> (Tensor<B, D>, Tensor<B, D>, Tensor<B, D>) {
        let (var, mean) = x.clone().var_mean_bias(D - 1); // [.., 1]
        let std = (var + eps).sqrt(); // [.., 1]
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
        // (W · xᵀ)ᵀ rather than x · Wᵀ: the backend copies a transposed operand into a fresh
        // array before its product, and xᵀ is the positions' few numbers where Wᵀ is every weight.
        let y = self.weight.val().matmul(x.reshape([batch * t, n_in]).transpose()).transpose(); // [B*T, out]
        (y + self.bias.val().unsqueeze()).reshape([batch, t, n_out])
    }
}

/// True where a query may not look, the future: [T, past + T], query i at position past + i seeing
/// keys up to its own position (`past` of them from a cache). burn's `tril_mask` is true outside
/// the lower triangle shifted right by its offset.
pub(crate) fn causal_mask<B: Backend>(t: usize, past: usize, device: &B::Device) -> Tensor<B, 2, Bool> {
    Tensor::<B, 2, Bool>::tril_mask([t, past + t], past as i64, device)
}

impl<B: Backend> CausalSelfAttention<B> {
    fn forward(&self, x: Tensor<B, 3>, n_head: usize, layer: usize, rec: &mut Recorder<B>) -> Tensor<B, 3> {
        let [batch, t, c] = x.dims();
        let head_size = c / n_head;
        let qkv = rec.flow(|| names::layer(layer, "qkv"), self.c_attn.forward(x)); // [B, T, 3C]
        let split_heads = |start: usize| {
            qkv.clone().narrow(2, start, c).reshape([batch, t, n_head, head_size]).swap_dims(1, 2) // [B, H, T, A]
        };
        let q = rec.flow(|| names::layer(layer, "q"), split_heads(0));
        let k = rec.flow(|| names::layer(layer, "k"), split_heads(c));
        let v = rec.flow(|| names::layer(layer, "v"), split_heads(2 * c));
        let past = rec.past();
        let (k, v) = rec.remember(layer, k, v); // [B, H, past + T, A]

        let att = q.matmul(k.swap_dims(2, 3)) * (1.0 / (head_size as f64).sqrt()); // [B, H, T, past + T]
        let future = causal_mask::<B>(t, past, &att.device()).unsqueeze::<4>().expand([batch, n_head, t, past + t]);
        let att = rec.flow(|| names::layer(layer, "att"), att.mask_fill(future, f32::NEG_INFINITY));
        let (att_sm, att_max, att_sumexp) = softmax_with_stats(att);
        rec.keep(|| names::layer(layer, "att_max"), &att_max);
        rec.keep(|| names::layer(layer, "att_sumexp"), &att_sumexp);
        let att_sm = rec.flow(|| names::layer(layer, "att_sm"), att_sm);

        let y = att_sm.matmul(v).swap_dims(1, 2).reshape([batch, t, c]); // [B, T, C], heads side by side
        let y = rec.flow(|| names::layer(layer, "y"), rec.heads_off(layer, head_size, y));
        rec.flow(|| names::layer(layer, "attn_proj"), self.c_proj.forward(y)) // [B, T, C]
    }
}

/// Softmax over the last axis, keeping the row max and Σexp(x − max) that the visualization shows.
pub(crate) fn softmax_with_stats<B: Backend, const D: usize>(
    x: Tensor<B, D>,
) -> (Tensor<B, D>, Tensor<B, D>, Tensor<B, D>) {
    let max = x.clone().max_dim(D - 1); // [.., 1]
    let exp = (x - max.clone()).exp(); // masked −inf entries become 0
    let sumexp = exp.clone().sum_dim(D - 1); // [.., 1]
    (exp / sumexp.clone(), max, sumexp)
}

impl<B: Backend> Mlp<B> {
    fn forward(&self, x: Tensor<B, 3>, layer: usize, rec: &mut Recorder<B>) -> Tensor<B, 3> {
        let fc = rec.flow(|| names::layer(layer, "fc"), self.c_fc.forward(x)); // [B, T, 4C]
        let gelu = rec.neurons_off(layer, gelu_approximate(fc)); // tanh form, as minGPT's NewGELU
        let gelu = rec.flow(|| names::layer(layer, "gelu"), gelu);
        let mlp = rec.mlp_off(layer, self.c_proj.forward(gelu)); // [B, T, C]
        rec.flow(|| names::layer(layer, "mlp"), mlp)
    }
}

impl<B: Backend> Block<B> {
    fn forward(&self, x: Tensor<B, 3>, config: &GptConfig, layer: usize, rec: &mut Recorder<B>) -> Tensor<B, 3> {
        let (n_head, eps) = (config.n_head, config.layer_norm_epsilon);
        let (ln1, mean, std) = self.ln_1.forward(x.clone(), eps); // [B, T, C]
        rec.keep(|| names::layer(layer, "ln1_mean"), &mean);
        rec.keep(|| names::layer(layer, "ln1_std"), &std);
        let ln1 = rec.flow(|| names::layer(layer, "ln1"), ln1);
        let x = x + self.attn.forward(ln1, n_head, layer, rec);
        let x = rec.flow(|| names::layer(layer, "attn_resid"), x);

        let (ln2, mean, std) = self.ln_2.forward(x.clone(), eps);
        rec.keep(|| names::layer(layer, "ln2_mean"), &mean);
        rec.keep(|| names::layer(layer, "ln2_std"), &std);
        let ln2 = rec.flow(|| names::layer(layer, "ln2"), ln2);
        let x = x + self.mlp.forward(ln2, layer, rec);
        rec.flow(|| names::layer(layer, "mlp_resid"), x)
    }
}

impl<B: Backend> Gpt<B> {
    /// Token ids [B, T] -> logits [B, T, V]. `rec` keeps the intermediates when it is recording.
    pub fn forward(&self, idx: Tensor<B, 2, Int>, rec: &mut Recorder<B>) -> Tensor<B, 3> {
        let [_, t] = idx.dims();
        let tok_emb = rec.flow(|| "tok_emb".into(), self.wte.embed(idx)); // [B, T, C]
        // After a cache, the new tokens' positions follow the cached ones.
        let pos_emb = self.wpe.val().narrow(0, rec.past(), t).unsqueeze::<3>(); // [1, T, C]
        let pos_emb = rec.flow(|| "pos_emb".into(), pos_emb);
        let mut x = rec.flow(|| "x".into(), tok_emb + pos_emb);

        for (layer, block) in self.h.iter().enumerate() {
            x = block.forward(x, &self.config, layer, rec);
        }
        rec.advance(t);

        let (x, mean, std) = self.ln_f.forward(x, self.config.layer_norm_epsilon);
        rec.keep(|| "ln_f_mean".into(), &mean);
        rec.keep(|| "ln_f_std".into(), &std);
        let x = rec.flow(|| "ln_f".into(), x);
        let logits = rec.flow(|| "logits".into(), self.unembed(x));
        if rec.is_recording() {
            let (probs, max, sumexp) = softmax_with_stats(logits.clone());
            rec.keep(|| "logits_max".into(), &max);
            rec.keep(|| "logits_sumexp".into(), &sumexp);
            rec.keep(|| "probs".into(), &probs);
        }
        logits
    }

    /// Builds the model from checked weights (see `Weights::check_shapes`).
    /// The final layer norm and the unembedding, on a residual stream [B, T, C]: logits [B, T, V].
    /// The logit lens reads every layer's stream through them.
    pub fn readout(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let (x, _, _) = self.ln_f.forward(x, self.config.layer_norm_epsilon);
        self.unembed(x)
    }

    fn unembed(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        self.lm_head.as_ref().unwrap_or(&self.wte).unembed(x) // tied: wte's rows
    }

    pub fn from_weights(weights: &Weights, device: &B::Device) -> Gpt<B> {
        let mut model = Gpt::unfilled(&weights.config, device);
        fill_params(model.params_mut(), &weights.config, |name| weights.get(name).clone(), device);
        model
    }

    /// `from_weights`, moving each tensor's values into the model instead of copying them.
    pub fn from_owned(mut weights: Weights, device: &B::Device) -> Gpt<B> {
        let mut model = Gpt::unfilled(&weights.config, device);
        fill_params(model.params_mut(), &weights.config.clone(), |name| take_tensor(&mut weights, name), device);
        model
    }

    /// The parameters back under their state_dict names: the inverse of `from_weights`.
    pub fn to_weights(&self) -> Weights {
        let mut model = self.clone();
        read_params(model.params_mut(), &self.config)
    }

    /// The model's structure with empty parameters, for `from_weights` to fill.
    fn unfilled(config: &GptConfig, device: &B::Device) -> Gpt<B> {
        let vector = || Param::from_tensor(Tensor::<B, 1>::empty([0], device));
        let matrix = || Param::from_tensor(Tensor::<B, 2>::empty([0, 0], device));
        let linear = || Linear { weight: matrix(), bias: vector() };
        let layer_norm = || LayerNorm { weight: vector(), bias: vector() };
        let vocab = || VocabRows { blocks: vec![matrix()] };
        Gpt {
            wte: vocab(),
            wpe: matrix(),
            h: (0..config.n_layer)
                .map(|_| Block {
                    ln_1: layer_norm(),
                    attn: CausalSelfAttention { c_attn: linear(), c_proj: linear() },
                    ln_2: layer_norm(),
                    mlp: Mlp { c_fc: linear(), c_proj: linear() },
                })
                .collect(),
            ln_f: layer_norm(),
            lm_head: (!config.tied_lm_head).then(vocab),
            config: config.clone(),
        }
    }

    /// Every parameter in state_dict order, the order of `names::parameter_shapes`: the one walk
    /// that loading and saving share, as PyTorch's `state_dict` is.
    pub(crate) fn params_mut(&mut self) -> Vec<ParamSlot<'_, B>> {
        let mut slots = vec![ParamSlot::Vocab(&mut self.wte), ParamSlot::Matrix(&mut self.wpe)];
        fn linear<B: Backend>(linear: &mut Linear<B>) -> [ParamSlot<'_, B>; 2] {
            [ParamSlot::Matrix(&mut linear.weight), ParamSlot::Vector(&mut linear.bias)]
        }
        fn norm<B: Backend>(norm: &mut LayerNorm<B>) -> [ParamSlot<'_, B>; 2] {
            [ParamSlot::Vector(&mut norm.weight), ParamSlot::Vector(&mut norm.bias)]
        }
        for block in &mut self.h {
            slots.extend(norm(&mut block.ln_1));
            slots.extend(linear(&mut block.attn.c_attn));
            slots.extend(linear(&mut block.attn.c_proj));
            slots.extend(norm(&mut block.ln_2));
            slots.extend(linear(&mut block.mlp.c_fc));
            slots.extend(linear(&mut block.mlp.c_proj));
        }
        slots.extend(norm(&mut self.ln_f));
        if let Some(head) = &mut self.lm_head {
            slots.push(ParamSlot::Vocab(head));
        }
        slots
    }
}

/// One learned tensor of a model, by rank: what `params_mut` walks, for GPT and Llama alike.
pub(crate) enum ParamSlot<'a, B: Backend> {
    Vector(&'a mut Param<Tensor<B, 1>>),
    Matrix(&'a mut Param<Tensor<B, 2>>),
    Vocab(&'a mut VocabRows<B>),
}

/// Fills a model's slots, given in the order of `names::parameter_shapes`, with the tensors of
/// checked weights that `tensor` gives by name.
pub(crate) fn fill_params<B: Backend>(
    slots: Vec<ParamSlot<'_, B>>,
    config: &GptConfig,
    mut tensor: impl FnMut(&str) -> NamedTensor,
    device: &B::Device,
) {
    for ((name, _), slot) in parameter_shapes(config).into_iter().zip(slots) {
        let tensor = tensor(&name);
        match slot {
            ParamSlot::Vector(param) => *param = Param::from_tensor(tensor1(tensor, device)),
            ParamSlot::Matrix(param) => *param = Param::from_tensor(tensor2(tensor, device)),
            ParamSlot::Vocab(rows) => *rows = VocabRows::from_tensor(&tensor, device),
        }
    }
}

/// A parameter of checked weights, taken out of them.
pub(crate) fn take_tensor(weights: &mut Weights, name: &str) -> NamedTensor {
    weights.tensors.remove(name).unwrap_or_else(|| panic!("checked weights hold '{name}'"))
}

/// A model's slots back under their parameter names: the inverse of `fill_params`.
pub(crate) fn read_params<B: Backend>(slots: Vec<ParamSlot<'_, B>>, config: &GptConfig) -> Weights {
    let mut tensors = std::collections::BTreeMap::new();
    for ((name, _), slot) in parameter_shapes(config).into_iter().zip(slots) {
        let data = match slot {
            ParamSlot::Vector(param) => param.val().into_data(),
            ParamSlot::Matrix(param) => param.val().into_data(),
            ParamSlot::Vocab(rows) => rows.matrix().into_data(),
        };
        let shape = data.shape.to_vec();
        tensors.insert(name, NamedTensor::new(shape, data.convert::<f32>().to_vec().expect("float data")));
    }
    Weights { config: config.clone(), tensors, source: "<in memory>".into() }
}

/// The most bytes one GPU buffer binding holds everywhere llmviz runs: WebGPU's default
/// `maxStorageBufferBindingSize`, which lavapipe shares.
pub const MAX_BINDING_BYTES: usize = 128 << 20;

impl<B: Backend> VocabRows<B> {
    /// Splits a [V, C] matrix into blocks of as many rows as fit one binding.
    pub fn from_tensor(tensor: &NamedTensor, device: &B::Device) -> VocabRows<B> {
        VocabRows::from_tensor_in(tensor, device, MAX_BINDING_BYTES / 4 / tensor.shape[1].max(1))
    }

    /// Splits a [V, C] matrix into blocks of `per_block` rows (the last may be shorter).
    pub fn from_tensor_in(tensor: &NamedTensor, device: &B::Device, per_block: usize) -> VocabRows<B> {
        let (rows, c) = (tensor.shape[0], tensor.shape[1]);
        let per_block = per_block.max(1);
        let blocks = tensor
            .data
            .chunks(per_block * c)
            .map(|chunk| {
                Param::from_tensor(Tensor::from_data(TensorData::new(chunk.to_vec(), [chunk.len() / c, c]), device))
            })
            .collect::<Vec<_>>();
        debug_assert_eq!(blocks.iter().map(|b| b.dims()[0]).sum::<usize>(), rows);
        VocabRows { blocks }
    }

    /// The whole matrix again (for saving; on the CPU).
    pub fn matrix(&self) -> Tensor<B, 2> {
        Tensor::cat(self.blocks.iter().map(|b| b.val()).collect(), 0)
    }

    pub fn device(&self) -> B::Device {
        self.blocks[0].val().device()
    }

    /// Rows by token id: [B, T] -> [B, T, C]. With several blocks, each looks up the tokens it
    /// holds and the rest are masked out.
    pub fn embed(&self, idx: Tensor<B, 2, Int>) -> Tensor<B, 3> {
        if let [only] = &self.blocks[..] {
            return embedding(only.val(), idx);
        }
        let mut start = 0;
        let mut out: Option<Tensor<B, 3>> = None;
        for block in &self.blocks {
            let rows = block.dims()[0];
            let local = idx.clone().sub_scalar(start as i64);
            let inside = local.clone().greater_equal_elem(0).bool_and(local.clone().lower_elem(rows as i64)); // [B, T]
            let rows_of = embedding(block.val(), local.clamp(0, rows as i64 - 1)); // [B, T, C]
            let kept = rows_of * inside.float().unsqueeze_dim::<3>(2);
            out = Some(match out {
                Some(sum) => sum + kept,
                None => kept,
            });
            start += rows;
        }
        out.expect("at least one block")
    }

    /// A residual stream [B, T, C] read out as logits [B, T, V].
    pub fn unembed(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let [batch, t, c] = x.dims();
        let logits = self.logits(x.reshape([batch * t, c]));
        let vocab = logits.dims()[1];
        logits.reshape([batch, t, vocab])
    }

    /// x [N, C] times the matrix transposed: [N, V], a block of columns per block of rows.
    pub fn logits(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        // (rows · xᵀ)ᵀ: a transposed operand is copied before its product (see `Linear::forward`).
        let x_t = x.transpose();
        let parts: Vec<Tensor<B, 2>> =
            self.blocks.iter().map(|block| block.val().matmul(x_t.clone()).transpose()).collect();
        if parts.len() == 1 { parts.into_iter().next().expect("one") } else { Tensor::cat(parts, 1) }
    }
}

pub(crate) fn tensor1<B: Backend>(t: NamedTensor, device: &B::Device) -> Tensor<B, 1> {
    Tensor::from_data(TensorData::new(t.data, [t.shape[0]]), device)
}

pub(crate) fn tensor2<B: Backend>(t: NamedTensor, device: &B::Device) -> Tensor<B, 2> {
    Tensor::from_data(TensorData::new(t.data, [t.shape[0], t.shape[1]]), device)
}
