//! Writing with a KV cache (`model::decode`): a decode step computes only its new position, its
//! logits those of a full pass at that position, the cache exactly the earlier positions' keys and
//! values, on both backends, for nano, GPT-2 and the Llama family; `inspect --generate --json`
//! tells the prefill from the decode steps.

use std::path::Path;

use burn::tensor::backend::Backend;
use llmviz::model::decode::cached_pass;
use llmviz::model::record::KvCache;
use llmviz::model::{Activations, BackendKind, LoadedModel, Network, Weights};
use serde_json::Value;

use crate::cli::{llmviz, stderr, stdout};
use crate::gpu::gpu;

fn fixture(path: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(path)
}

fn worst(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

fn values<B: Backend>(tensor: &burn::tensor::Tensor<B, 4>) -> Vec<f32> {
    tensor.clone().into_data().convert::<f32>().to_vec().unwrap()
}

/// The prompt's first `prefill` tokens at once, then one token a step; at each step the logits of
/// the new position and the cache against the full pass over the whole sequence.
fn check_steps<B: Backend>(network: &Network<B>, full: &Activations, tokens: &[usize], prefill: usize, what: &str) {
    let config = network.config();
    let vocab = config.vocab_size;
    let logits = &full.tensors["logits"];
    let mut cache = KvCache::new(config.n_layer);
    let mut start = 0;
    for end in std::iter::once(prefill).chain(prefill + 1..=tokens.len()) {
        let (last, extended) = cached_pass(network, &tokens[start..end], cache, &Default::default());
        cache = extended;
        assert_eq!(cache.length, end, "{what}: the cache holds every position so far");
        let want = &logits.data[(end - 1) * vocab..end * vocab];
        let off = worst(&last, want);
        assert!(off < 1e-4, "{what}: position {}'s logits off by {off} (computed {start}..{end})", end - 1);
        start = end;
    }
    // The cache holds the whole sequence's keys and values, as the full pass computed them.
    let (k_name, kv_heads) = match config.llama_shape() {
        Some(llama) => ("k_rot", llama.n_kv_head),
        None => ("k", config.n_head),
    };
    for layer in 0..config.n_layer {
        let (k, v) = cache.layer(layer).expect("every layer cached");
        assert_eq!(k.dims()[1..3], [kv_heads, tokens.len()], "{what}: layer {layer}'s cached keys");
        let off_k = worst(&values(k), &full.tensors[&format!("block{layer}.{k_name}")].data);
        let off_v = worst(&values(v), &full.tensors[&format!("block{layer}.v")].data);
        assert!(off_k < 1e-4 && off_v < 1e-4, "{what}: layer {layer}'s cache off by {off_k}, {off_v}");
    }
}

#[test]
fn a_decode_step_gives_the_full_passs_values_at_its_position_on_both_backends() {
    let models = [
        ("nano", Weights::default_model(), vec![2, 1, 0, 1, 1, 2, 0, 1, 1, 1, 2], 6),
        ("tiny GPT-2", Weights::load(&fixture("tiny-gpt2")).unwrap(), vec![15496, 995, 11, 340, 338, 257, 1332, 13], 3),
        ("tiny Qwen3", Weights::load(&fixture("tiny-llama/qwen3")).unwrap(), vec![5, 17, 3, 99, 42, 7], 2),
        ("tiny Qwen2", Weights::load(&fixture("tiny-llama/qwen2")).unwrap(), vec![5, 17, 3, 99, 42, 7], 1),
        ("tiny Llama", Weights::load(&fixture("tiny-llama/llama-untied")).unwrap(), vec![9, 8, 7, 6, 5], 2),
    ];
    let _gpu = gpu();
    for (what, weights, tokens, prefill) in &models {
        let model = LoadedModel::new(weights, BackendKind::Ndarray);
        let full = model.activations(tokens).unwrap();
        let LoadedModel::Ndarray(network) = &model else { unreachable!() };
        check_steps(network, &full, tokens, *prefill, &format!("{what} on ndarray"));
        let model = LoadedModel::new(weights, BackendKind::Wgpu);
        let LoadedModel::Wgpu(network) = &model else { unreachable!() };
        check_steps(network, &full, tokens, *prefill, &format!("{what} on wgpu"));
    }
}

/// Greedy writing with the cache chooses what full passes, one per token, chose.
#[test]
fn writing_with_the_cache_chooses_what_full_passes_choose() {
    for (weights, prompt) in [
        (Weights::default_model(), vec![2, 1, 0, 1, 1, 2]),
        (Weights::load(&fixture("tiny-gpt2")).unwrap(), vec![15496, 995, 11]),
        (Weights::load(&fixture("tiny-llama/qwen3")).unwrap(), vec![5, 17, 3]),
    ] {
        let model = LoadedModel::new(&weights, BackendKind::Ndarray);
        let steps = model.generate_without(&prompt, 5, &Default::default()).unwrap();
        let mut context = prompt.clone();
        for (index, step) in steps.iter().enumerate() {
            let full = model.activations(&context).unwrap();
            assert_eq!(step.token, full.predictions().last().unwrap().0, "{}: token {index}", weights.config.name);
            let computed: Vec<usize> = step.positions_computed.clone().collect();
            let expected: Vec<usize> = if index == 0 { (0..prompt.len()).collect() } else { vec![context.len() - 1] };
            assert_eq!(computed, expected, "the prefill, then one position a step");
            assert_eq!(step.cache_length, context.len());
            context.push(step.token);
        }
    }
}

#[test]
fn inspect_generate_json_lists_the_prefill_and_each_decode_step() {
    let output = llmviz(&["inspect", "--input", "CBABBC", "--generate", "6", "--json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let json: Value = serde_json::from_str(&stdout(&output)).unwrap();
    let steps = json["steps"].as_array().unwrap();
    let pieces: String = steps.iter().map(|step| step["piece"].as_str().unwrap()).collect();
    assert_eq!(pieces, "ABBBCC");
    assert_eq!(steps[0]["positions_computed"], serde_json::json!([0, 1, 2, 3, 4, 5]));
    for (index, step) in steps.iter().enumerate().skip(1) {
        assert_eq!(step["positions_computed"], serde_json::json!([5 + index]), "step {index}");
        assert_eq!(step["cache_length"], 6 + index);
    }
    assert!(json["tensors"]["probs"].is_object(), "the prompt's pass is still all there");
    // Sampled, the seed goes to stderr so that stdout stays one JSON document.
    let output =
        llmviz(&["inspect", "--input", "CBABBC", "--generate", "2", "--json", "--temperature", "2", "--seed", "5"]);
    assert!(output.status.success() && stderr(&output).contains("seed 5 (temperature 2)"), "{}", stderr(&output));
    let json: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(json["steps"].as_array().unwrap().len(), 2);
}

/// The card's figure: keys and values of every layer's k/v heads, f32, per token.
#[test]
fn the_kv_caches_size_counts_every_layers_keys_and_values() {
    use llmviz::layout::byte_size;
    use llmviz::model::GptConfig;
    let gpt2 = GptConfig::preset("gpt2").unwrap();
    // 2 (k and v) × 12 layers × 12 heads × 64 × 4 bytes = 73,728 bytes a token.
    assert_eq!(gpt2.kv_cache_bytes(1), 73_728);
    assert_eq!(byte_size(gpt2.kv_cache_bytes(64)), "4.7 MB");
    let nano = GptConfig::nano();
    assert_eq!(byte_size(nano.kv_cache_bytes(6)), "6.9 KB");
    // Grouped-query attention keeps fewer heads: SmolLM2's 3 k/v heads of 9.
    let smollm2 = Weights::load(&fixture("tiny-llama/llama-tied")).unwrap().config;
    let llama = smollm2.llama_shape().unwrap();
    assert_eq!(smollm2.kv_cache_bytes(10), (2 * smollm2.n_layer * llama.n_kv_head * llama.head_dim * 10 * 4) as u64);
    assert!(llama.n_kv_head < smollm2.n_head, "the fixture groups its queries");
    assert_eq!(byte_size(999), "999 B");
    assert_eq!(byte_size(1_250_000_000), "1.2 GB");
}

/// Every recorded activation of `stepped` against the full pass's: the same names and shapes, the
/// values within 1e-4 (relative above 1: a sum of exponentials runs into the hundreds), the causal
/// mask's −∞ where the full pass has it.
fn same_activations(stepped: &Activations, full: &Activations, what: &str) {
    let names = |a: &Activations| a.tensors.keys().cloned().collect::<Vec<_>>();
    assert_eq!(names(stepped), names(full), "{what}: the same tensors");
    for (name, want) in &full.tensors {
        let got = &stepped.tensors[name];
        assert_eq!(got.shape, want.shape, "{what}: {name}'s shape");
        for (i, (a, b)) in got.data.iter().zip(&want.data).enumerate() {
            let same = if b.is_finite() { (a - b).abs() < 1e-4 * b.abs().max(1.0) } else { a == b };
            assert!(same, "{what}: {name}[{i}] is {a}, the full pass's {b}");
        }
    }
}

#[test]
fn a_recorded_decode_step_joins_the_earlier_positions_into_the_full_passs_activations() {
    let models = [
        ("nano", Weights::default_model(), vec![2, 1, 0, 1, 1, 2, 0, 1, 1, 1], 6),
        ("tiny GPT-2", Weights::load(&fixture("tiny-gpt2")).unwrap(), vec![15496, 995, 11, 340, 338, 257], 3),
        ("tiny Qwen3", Weights::load(&fixture("tiny-llama/qwen3")).unwrap(), vec![5, 17, 3, 99, 42, 7], 4),
    ];
    let _gpu = gpu();
    for (what, weights, tokens, prompt) in &models {
        for backend in [BackendKind::Ndarray, BackendKind::Wgpu] {
            let what = format!("{what} on {backend:?}");
            let model = LoadedModel::new(weights, backend);
            let full = model.activations(tokens).unwrap();
            // The prompt at once, then one token a pass, each extending the last.
            let mut recorded = model.record_after(&tokens[..*prompt], &Default::default(), None).unwrap();
            assert_eq!(recorded.activations().cached, 0, "{what}: the prompt is a prefill");
            for end in prompt + 1..=tokens.len() {
                recorded = model.record_after(&tokens[..end], &Default::default(), Some(recorded)).unwrap();
                assert_eq!(recorded.activations().cached, end - 1, "{what}: a decode step reads {} positions", end - 1);
            }
            same_activations(recorded.activations(), &full, &what);
            // An input that does not extend the last one, or other parts switched off, is run whole.
            let other = [&tokens[..2], &tokens[3..]].concat();
            let again = model.record_after(&other, &Default::default(), Some(recorded)).unwrap();
            assert_eq!(again.activations().cached, 0, "{what}: a changed input is a prefill");
            same_activations(again.activations(), &model.activations(&other).unwrap(), &what);
            let ablation = llmviz::model::ablation::Ablation::parse("block0.head1", &weights.config).unwrap();
            let longer = [other.as_slice(), &[tokens[0]]].concat();
            let ablated = model.record_after(&longer, &ablation, Some(again)).unwrap();
            assert_eq!(ablated.activations().cached, 0, "{what}: switching a part off reruns every position");
            same_activations(ablated.activations(), &model.activations_without(&longer, &ablation).unwrap(), &what);
        }
    }
}
