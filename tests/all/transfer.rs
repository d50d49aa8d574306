//! What the page's forward worker (web/worker.js, `render::scene::values::page`) and the page's
//! main thread hand each other: weights as safetensors bytes, the checkpoint the page downloaded
//! read the same way on both sides, and every result as a JSON header and one array of numbers
//! that reads back to the very activations, lens and failure that were sent.

use std::path::Path;
use std::sync::Arc;

use llmviz::model::ablation::Ablation;
use llmviz::model::checkpoint::Downloaded;
use llmviz::model::sampling::Sampling;
use llmviz::model::transfer::{Numbers, Reader, read_slice};
use llmviz::model::{BackendKind, LoadedModel, Weights};
use llmviz::render::scene::values::{ForwardResult, pack_result, unpack_result};

fn fixture(path: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(path)
}

const TOKENS: [usize; 8] = [15496, 995, 11, 340, 338, 257, 1332, 13];

/// A pass of the tiny GPT-2 with everything a pass can carry: a part off and the model's own
/// output beside it, a reshaped output, and its lens with one full distribution.
fn full_pass() -> llmviz::model::Activations {
    let weights = Weights::load(&fixture("tiny-gpt2")).expect("the fixture loads");
    let model = LoadedModel::new(&weights, BackendKind::Ndarray);
    let ablation = Ablation::parse("block0.head1,block1.mlp,block0.gelu.3", &weights.config).unwrap();
    let mut pass = model.activations_without(&TOKENS, &ablation).unwrap();
    pass.unablated_probs = model.activations(&TOKENS).unwrap().tensors.get("probs").cloned();
    let mut pass = pass.resampled(&Sampling { temperature: 0.7, top_k: Some(3), top_p: None });
    pass.lens = model.lens(&pass, 5, false);
    pass.lens[1].probs = model.lens(&pass, 5, true).swap_remove(1).probs;
    pass.lens[2].change = Some((0..TOKENS.len()).map(|t| (t, 0.5, 0.25)).collect());
    pass.cached = 5;
    pass
}

#[test]
fn a_pass_with_everything_it_carries_reads_back_equal() {
    let pass = full_pass();
    assert!(!pass.ablation.is_empty() && pass.sampling.is_some() && pass.unablated_probs.is_some());
    assert!(pass.lens.iter().filter(|layer| layer.probs.is_some()).count() == 1);
    let mut numbers = Numbers::default();
    let header = numbers.pass(&pass);
    let values: usize = pass.tensors.values().map(|tensor| tensor.data.len()).sum();
    assert!(numbers.0.len() > values, "the tensors, the model's own probs and a lens distribution");
    // Through JSON, as it crosses to the page.
    let header = serde_json::from_str(&serde_json::to_string(&header).unwrap()).unwrap();
    let back = read_slice(&numbers.0).pass(header).unwrap();
    assert_eq!(back, pass);
}

#[test]
fn a_result_its_lens_and_a_failure_read_back_through_the_page_s_form() {
    let pass = full_pass();
    let mut without_lens = pass.clone();
    without_lens.lens.clear();
    let sent = ForwardResult {
        generation: 7,
        lens: false,
        lens_follows: true,
        activations: Ok(Arc::new(without_lens)),
        non_finite: vec!["'x' holds NaN at [0, 1]".into()],
    };
    let (header, numbers) = pack_result(&sent);
    let received = unpack_result(&header, read_slice(&numbers), None, 9).expect("a pass needs nothing before it");
    assert_eq!((received.generation, received.lens, received.lens_follows), (7, false, true));
    assert_eq!(received.non_finite, sent.non_finite);
    assert_eq!(received.activations.as_deref().unwrap(), sent.activations.as_deref().unwrap());

    // A lens carries its layers only, and joins the pass of its generation.
    let lens =
        ForwardResult { lens: true, lens_follows: false, activations: Ok(Arc::new(pass.clone())), ..sent.clone() };
    let (header, numbers) = pack_result(&lens);
    let distributions: usize =
        pass.lens.iter().filter_map(|layer| layer.probs.as_ref()).map(|probs| probs.data.len()).sum();
    assert_eq!(numbers.len(), distributions, "the lens sends its full distribution, not the pass again");
    let joined = unpack_result(&header, read_slice(&numbers), Some(&received), 9).expect("its pass is there");
    let joined = joined.activations.unwrap();
    assert_eq!(joined.lens, pass.lens);
    for layer in &pass.lens {
        let best = &joined.tensors[&llmviz::model::lens::lens_tensor(&layer.stream)];
        assert_eq!(best.data, layer.top.iter().map(|row| row[0].1).collect::<Vec<f32>>());
    }
    let older = ForwardResult { generation: 6, ..received.clone() };
    assert!(unpack_result(&header, read_slice(&numbers), Some(&older), 9).is_none(), "another pass's lens is dropped");

    let failure = ForwardResult::failed(8, "the forward pass failed: token 99 is outside the vocabulary".into());
    let (header, numbers) = pack_result(&failure);
    let received = unpack_result(&header, read_slice(&numbers), None, 9).unwrap();
    assert_eq!(received.generation, 8);
    assert_eq!(
        received.activations.unwrap_err(),
        "the forward worker's answer: the forward pass failed: token 99 is outside the vocabulary"
    );
}

#[test]
fn numbers_that_do_not_match_their_header_are_one_error_naming_the_tensor() {
    let pass = full_pass();
    let mut numbers = Numbers::default();
    let header = numbers.pass(&pass);
    numbers.0.truncate(numbers.0.len() - 1);
    let error = read_slice(&numbers.0).pass(header.clone()).unwrap_err();
    assert!(error.contains("tensor '") && error.contains("lies outside the"), "{error}");
    let mut huge = header;
    huge.tensors[0].shape = vec![usize::MAX, 2];
    let error = Reader { len: 10, read: |_, _| unreachable!("nothing is read past the end") }.pass(huge).unwrap_err();
    assert!(error.starts_with(&format!("tensor '{}'", pass.tensors.keys().next().unwrap())), "{error}");
    let (header, _) = pack_result(&ForwardResult {
        generation: 3,
        lens: false,
        lens_follows: false,
        activations: Ok(Arc::new(pass)),
        non_finite: vec![],
    });
    let result = unpack_result(&header, read_slice(&[]), None, 9).unwrap();
    assert!(result.activations.unwrap_err().starts_with("the forward worker's answer: tensor '"));
    let result = unpack_result("{not json", read_slice(&[]), None, 9).unwrap();
    assert_eq!(result.generation, 9, "an answer naming no pass fails the newest, which the app waits on");
    assert!(result.activations.unwrap_err().starts_with("the forward worker's answer: key must be a string"));
}

/// The weights the worker is handed as bytes are the app's, config and every value.
#[test]
fn weights_sent_as_safetensors_bytes_read_back_equal() {
    for weights in [
        Weights::default_model(),
        Weights::shipped("nano-llama").unwrap(),
        Weights::load(&fixture("tiny-gpt2")).unwrap(),
    ] {
        let bytes = weights.to_safetensors();
        let back = Weights::from_safetensors(Path::new("weights.safetensors"), &bytes).unwrap();
        assert_eq!(back.config, weights.config);
        assert_eq!(back.tensors, weights.tensors, "{}", weights.config.name);
    }
}

/// The page and its worker read the downloaded checkpoint the same way the native app reads the
/// folder: GPT-2 shaped by its config.json, Qwen3 as the Llama family with its tokenizer.
#[test]
fn a_downloaded_checkpoint_reads_as_the_folder_does() {
    let page = |folder: &str, tokenizer: bool| {
        let read = |name: &str| std::fs::read_to_string(fixture(folder).join(name)).ok();
        let files = Downloaded {
            name: format!("https://example.org/{folder}/model.safetensors"),
            config: read("config.json"),
            tokenizer: if tokenizer { read("tokenizer.json") } else { None },
        };
        files.weights(
            std::fs::read(fixture(folder).join("model.safetensors")).unwrap(),
            llmviz::render::DEFAULT_MAX_TOKENS,
        )
    };
    for (folder, tokenizer) in [("tiny-gpt2", false), ("tiny-llama/qwen3", true)] {
        let opened = page(folder, tokenizer).unwrap();
        let folder_weights = Weights::load(&fixture(folder)).unwrap();
        assert_eq!(opened.tensors, folder_weights.tensors, "{folder}");
        assert_eq!(opened.config.n_layer, folder_weights.config.n_layer);
        assert_eq!(opened.config.arch, folder_weights.config.arch);
        assert_eq!(opened.config.tokens(), llmviz::render::DEFAULT_MAX_TOKENS.min(folder_weights.config.tokens()));
    }
    let mut truncated = std::fs::read(fixture("tiny-gpt2/model.safetensors")).unwrap();
    truncated.truncate(truncated.len() / 2);
    let files = Downloaded { name: "https://example.org/m/model.safetensors".into(), ..Downloaded::default() };
    let error = files.weights(truncated, 64).unwrap_err();
    assert!(error.starts_with("https://example.org/m/model.safetensors: "), "{error}");
}

/// The worker moves the weights' values into its model rather than copying them: the same model.
#[test]
fn a_model_built_from_owned_weights_computes_what_one_built_from_borrowed_ones_does() {
    for weights in [Weights::load(&fixture("tiny-gpt2")).unwrap(), Weights::load(&fixture("tiny-llama/qwen3")).unwrap()]
    {
        let borrowed = LoadedModel::new(&weights, BackendKind::Ndarray).activations(&[1, 2, 3]).unwrap();
        let owned = LoadedModel::from_owned(weights).activations(&[1, 2, 3]).unwrap();
        assert_eq!(owned, borrowed);
    }
}
