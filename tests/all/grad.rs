//! One training step as data (`train::step`, `llmviz grad`): the loss and every gradient equal
//! central finite differences of an independent float64 numpy forward pass
//! (`tests/fixtures/grad/make_fixture.py`), and AdamW's update equals its formula and the training
//! loop's own step.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use burn::backend::Autodiff;
use llmviz::model::{CpuBackend, Weights};
use llmviz::train::step::{Example, Moments, TrainingStep, training_step};
use llmviz::train::{TrainOptions, data_rng, initial_weights, sort_batch, train};
use serde_json::Value;

use crate::cli::{assert_clean_failure, llmviz, stderr, stdout};

fn fixture(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(path)
}

fn reference() -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixture("grad/gradients.json")).unwrap()).unwrap()
}

fn usizes(value: &Value) -> Vec<usize> {
    value.as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as usize).collect()
}

fn step_on(weights: &Weights, example: &Example) -> TrainingStep {
    training_step::<Autodiff<CpuBackend>>(weights, &Moments::default(), example, 5e-4, &Default::default())
}

/// Every sampled cell of numpy's within 1e-3 relative or 1e-7 absolute, and numpy sampled every
/// tensor the step gives a gradient for, and nothing else.
fn assert_gradients_match(step: &TrainingStep, numpy: &Value) {
    let loss = numpy["loss"].as_f64().unwrap();
    assert!((f64::from(step.loss) - loss).abs() <= 1e-5 * loss, "loss {} against numpy's {loss}", step.loss);
    let mut sampled = BTreeSet::new();
    let mut worst = (0.0, String::new());
    for cell in numpy["gradients"].as_array().unwrap() {
        let (name, index, want) =
            (cell[0].as_str().unwrap(), cell[1].as_u64().unwrap() as usize, cell[2].as_f64().unwrap());
        let got = f64::from(step.gradients.get(name).unwrap_or_else(|| panic!("no gradient '{name}'")).data[index]);
        let error = (got - want).abs();
        assert!(
            error <= 1e-7 || error <= 1e-3 * want.abs(),
            "{name}[{index}]: autodiff {got:e}, finite difference {want:e}"
        );
        if want.abs() > 1e-7 && error / want.abs() > worst.0 {
            worst = (error / want.abs(), format!("{name}[{index}]"));
        }
        sampled.insert(name.to_string());
    }
    eprintln!(
        "{} cells; worst relative error {:.2e} at {}",
        numpy["gradients"].as_array().unwrap().len(),
        worst.0,
        worst.1
    );
    let given: BTreeSet<String> = step.gradients.keys().cloned().collect();
    assert_eq!(given, sampled, "the tensors with gradients are those numpy checked");
}

#[test]
fn nanos_gradients_equal_finite_differences_of_numpys_loss() {
    let numpy = &reference()["nano"];
    let weights = Weights::load(&fixture("grad/nano.safetensors")).unwrap();
    let example = Example::sort(&[0, 1, 2, 2, 1, 0]).unwrap();
    assert_eq!(example.tokens, usizes(&numpy["tokens"]), "the example is the sort task's sequence");
    assert_eq!((example.first, example.targets.clone()), (5, usizes(&numpy["targets"])));
    let step = step_on(&weights, &example);
    assert_gradients_match(&step, numpy);
    // 41 weights, and the 15 activations of each of 3 layers and 5 outside them that the pass goes on with.
    assert_eq!(step.gradients.len(), 41 + 15 * 3 + 5);
}

#[test]
fn a_gpt2s_gradients_of_the_next_token_loss_equal_finite_differences() {
    let numpy = &reference()["tiny-gpt2"];
    let weights = Weights::load(&fixture("tiny-gpt2")).unwrap();
    let example = Example::next_tokens(&usizes(&numpy["tokens"])).unwrap();
    assert_eq!((example.first, example.targets.clone()), (0, usizes(&numpy["targets"])));
    assert_gradients_match(&step_on(&weights, &example), numpy);
}

#[test]
fn an_example_too_short_or_of_the_wrong_length_is_refused_with_a_reason() {
    assert_eq!(Example::sort(&[0, 1, 2]).unwrap_err(), "the sort task's loss reads 6 letters, not 3");
    assert!(Example::next_tokens(&[5]).unwrap_err().contains("two tokens at least"));
}

/// `train`'s first `steps` steps on batches of one problem, and the same examples taken one at a
/// time by `training_step`, the moments handed from each step to the next.
fn steps_both_ways(seed: u64, steps: usize) -> (Weights, Vec<TrainingStep>) {
    let config = llmviz::model::GptConfig::nano();
    let options = TrainOptions { seed, steps, batch_size: 1, learning_rate: 5e-4 };
    let trained = train::<Autodiff<CpuBackend>>(&config, &options, &Default::default(), |_| {});
    let mut data = data_rng(seed);
    let (mut weights, mut moments) = (std::sync::Arc::new(initial_weights(&config, seed)), Moments::default());
    let mut taken = Vec::new();
    for _ in 0..steps {
        let (inputs, targets) = sort_batch(&mut data, 1);
        let example = Example::sort(&inputs[..6]).unwrap();
        assert_eq!((&example.tokens, &example.targets), (&inputs, &targets), "the example is the batch's problem");
        let step = training_step::<Autodiff<CpuBackend>>(&weights, &moments, &example, 5e-4, &Default::default());
        (weights, moments) = (step.update.weights.clone(), step.update.after.clone());
        taken.push(step);
    }
    (trained, taken)
}

#[test]
fn taking_the_step_on_an_example_is_trainings_step_on_a_batch_of_it_bit_for_bit() {
    let (trained, taken) = steps_both_ways(11, 3);
    let last = taken.last().unwrap();
    assert_eq!(last.update.weights.tensors, trained.tensors, "three steps taken one by one, three steps of train");
    assert_eq!((last.update.before.step, last.update.after.step), (2, 3));
    assert!(taken[0].update.before.m.is_empty(), "the first step's moments start at zero");
}

#[test]
fn adamws_update_of_every_weight_is_its_formula() {
    let (_, taken) = steps_both_ways(5, 2);
    let step = &taken[1];
    let (before, after) = (&step.update.before, &step.update.after);
    let weights_before = &taken[0].update.weights;
    // burn's AdamW defaults, held as f32 (0.999 as an f32 is 0.99900001: 1 − β₂ differs from 0.001
    // in its fifth digit), with training's weight decay.
    let (beta1, beta2, eps) = (f64::from(0.9_f32), f64::from(0.999_f32), f64::from(1e-5_f32));
    let (lr, decay) = (5e-4_f64, f64::from(0.1_f32));
    let t = after.step as i32;
    let mut checked = 0;
    for (name, w) in &weights_before.tensors {
        let g = &step.gradients[&format!("{name}.grad")].data;
        // burn clips each parameter's gradient to norm 1 on its own (nano's vocabulary is one block).
        let norm = g.iter().map(|&g| f64::from(g).powi(2)).sum::<f64>().sqrt();
        let clip = (1.0 / norm).min(1.0);
        assert!((f64::from(step.update.clip[name][0].1) - clip).abs() <= 1e-6 * clip, "{name}: clip factor");
        for i in 0..w.data.len() {
            let g = f64::from(g[i]) * clip;
            let m_terms = (beta1 * f64::from(before.m[name].data[i]), (1.0 - beta1) * g);
            let m = m_terms.0 + m_terms.1;
            let v = beta2 * f64::from(before.v[name].data[i]) + (1.0 - beta2) * g * g;
            let (m_hat, v_hat) = (m / (1.0 - beta1.powi(t)), v / (1.0 - beta2.powi(t)));
            let want = f64::from(w.data[i]) * (1.0 - lr * decay) - lr * m_hat / (v_hat.sqrt() + eps);
            let got = f64::from(step.update.weights.tensors[name].data[i]);
            let moved = (want - f64::from(w.data[i])).abs();
            assert!(
                (got - want).abs() <= 1e-6 * f64::from(w.data[i]).abs().max(1e-3) + 1e-3 * moved,
                "{name}[{i}]: {got} after the step, the formula gives {want}"
            );
            // f32 rounding of each term: m's two may cancel.
            let m_scale = m_terms.0.abs() + m_terms.1.abs();
            assert!((f64::from(after.m[name].data[i]) - m).abs() <= 1e-6 * m_scale + 1e-15, "{name}[{i}]: m");
            assert!(
                (f64::from(after.v[name].data[i]) - v).abs() <= 1e-5 * v.abs().max(1e-12),
                "{name}[{i}]: v {} against {v}",
                after.v[name].data[i]
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 85_728, "every weight of nano");
}

#[test]
fn grad_json_names_weights_as_their_file_does_and_lays_them_out_as_stored() {
    let numpy = &reference()["tiny-gpt2"];
    let weights = Weights::load(&fixture("tiny-gpt2")).unwrap();
    let step = step_on(&weights, &Example::next_tokens(&usizes(&numpy["tokens"])).unwrap());
    let text = "Hello world, it's a test.";
    let output = llmviz(&["grad", "--weights", "tests/fixtures/tiny-gpt2", "--text", text, "--json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let json: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(usizes(&json["tokens"]), usizes(&numpy["tokens"]));
    assert!((json["loss"].as_f64().unwrap() - numpy["loss"].as_f64().unwrap()).abs() < 1e-4);
    let tensors = json["tensors"].as_object().unwrap();
    assert!(tensors.keys().all(|name| !name.starts_with("transformer.")), "Hugging Face's names");
    assert_eq!(tensors.len(), step.gradients.len());
    // A Conv1D weight [in, out] as the file stores it: our [out, in] gradient transposed.
    let stored = &tensors["h.1.mlp.c_fc.weight.grad"];
    assert_eq!(usizes(&stored["shape"]), [8, 32]);
    let ours = &step.gradients["transformer.h.1.mlp.c_fc.weight.grad"];
    assert_eq!(ours.shape, [32, 8]);
    for (out, inp) in [(0, 0), (5, 3), (31, 7)] {
        assert_eq!(stored["data"][inp * 32 + out].as_f64().unwrap() as f32, ours.data[out * 8 + inp]);
    }
    assert_eq!(usizes(&tensors["logits.grad"]["shape"]), [8, 50257]);

    let nano = llmviz(&["grad", "--input", "ABCCBA", "--json"]);
    let nano: Value = serde_json::from_str(&stdout(&nano)).unwrap();
    assert!(nano["tensors"]["transformer.wte.weight.grad"].is_object(), "nano's own names");
    assert_eq!(usizes(&nano["targets"]), [0, 0, 1, 1, 2, 2]);
}

#[test]
fn grad_refuses_an_input_it_cannot_score_in_one_line() {
    assert_clean_failure(&llmviz(&["grad", "--input", "ABC"]), "--input: the sort task's loss reads 6 letters, not 3");
    assert_clean_failure(
        &llmviz(&["grad", "--weights", "tests/fixtures/tiny-gpt2", "--text", "Hello"]),
        "--text: the loss of a text needs two tokens at least",
    );
    let summary = stdout(&llmviz(&["grad", "--input", "ABCCBA"]));
    assert!(summary.contains("loss ") && summary.contains("transformer.h.2.mlp.c_proj.weight.grad"), "{summary}");
}

/// One cell's chain rule checked: its sum is autodiff's gradient, its terms shown add up to it
/// when all are shown, and a weight's AdamW step by the formula is the optimizer's. Returns its
/// rule and whether it had a step.
fn check_chain(explanation: &llmviz::explain::Explanation) -> (&'static str, bool) {
    let backward = explanation.backward.as_ref().unwrap();
    let value = f64::from(explanation.value);
    let scale = backward.constant.abs() + backward.products.iter().map(|p| p.abs()).sum::<f64>();
    let place = format!("{}{:?}", explanation.tensor, explanation.index);
    assert!(
        (backward.sum - value).abs() <= 1e-4 * scale.max(value.abs()) + 1e-7,
        "{place}: the chain rule gives {}, autodiff {value}",
        backward.sum
    );
    if explanation.terms.len() == explanation.terms_total {
        let shown = backward.constant + backward.products.iter().sum::<f64>();
        assert!((shown - backward.sum).abs() <= 1e-12 * scale.max(1.0), "{place}: the terms shown");
    }
    if let Some(step) = &backward.step {
        let moved = (step.formula_after - f64::from(step.before)).abs();
        let error = (step.formula_after - f64::from(step.after)).abs();
        assert!(error <= 1e-6 * f64::from(step.before).abs() + 1e-3 * moved, "{place}: AdamW's step");
    }
    (backward.rule, backward.step.is_some())
}

#[test]
fn every_gradient_cells_chain_rule_sums_to_its_gradient() {
    use llmviz::explain::backward::explain_gradient;
    use llmviz::explain::{ExplainError, Sources};
    let tiny_tokens = usizes(&reference()["tiny-gpt2"]["tokens"]);
    for (weights, example) in [
        (Weights::load(&fixture("grad/nano.safetensors")).unwrap(), Example::sort(&[0, 1, 2, 2, 1, 0]).unwrap()),
        (Weights::load(&fixture("tiny-gpt2")).unwrap(), Example::next_tokens(&tiny_tokens).unwrap()),
    ] {
        let activations = step_on(&weights, &example).into_activations();
        let layout = llmviz::layout::build(&weights.config);
        let sources = Sources { layout: &layout, activations: &activations, weights: &weights };
        let (mut explained, mut steps, mut rules) = (0, 0, BTreeSet::new());
        for block in &layout.blocks {
            let has_gradient = activations.get(&format!("{}.grad", block.tensor)).is_some();
            let [x, y, z] = block.cells;
            let cells = (0..z).flat_map(|k| (0..y).flat_map(move |j| (0..x).map(move |i| [i, j, k])));
            // The tiny GPT-2's 50,257-row tables: a few rows are enough.
            for cell in cells.filter(|&[i, j, _]| x * y <= 20_000 || (i + j) % 997 == 0) {
                match explain_gradient(&sources, &block.name, cell) {
                    Ok(explanation) => {
                        let (rule, step) = check_chain(&explanation);
                        rules.insert(rule);
                        (explained, steps) = (explained + 1, steps + usize::from(step));
                    }
                    Err(ExplainError::Masked(reason)) => {
                        assert!(!has_gradient || reason.contains("beyond the input"), "{}: {reason}", block.name)
                    }
                    Err(error) => panic!("{}: {error}", block.name),
                }
            }
        }
        let name = &weights.config.name;
        eprintln!("{name}: {explained} gradient cells explained by {} rules, {steps} weights' steps", rules.len());
        // Every rule but the embedding sum's, whose tensors (tok_emb, pos_emb) no block draws.
        assert_eq!(rules.len(), 16, "{rules:?}");
        assert!(steps > 0, "the weights' cards show AdamW's step");
    }
}

/// On lavapipe, gradient mode draws each cell's gradient through the gradient colour scale: a
/// weight block's cells and an activation block's, up close, within 3/255 of the shader's colour
/// of their gradients.
#[test]
fn in_gradient_mode_cells_show_their_gradients_colours() {
    use bevy::prelude::*;
    use half::f16;
    use llmviz::render::scene::blocks::{GRADIENT_COLOUR, SceneSource};
    use llmviz::render::scene::pages::{Paging, colour_scale};

    use crate::pages::{face_point, focal_px, pixel_at, shot, to_srgb8, value_colour};

    let weights = Weights::load(&fixture("grad/nano.safetensors")).unwrap();
    let example = Example::sort(&[0, 1, 2, 2, 1, 0]).unwrap();
    let pass = step_on(&weights, &example).into_activations();
    let layout = llmviz::layout::build(&weights.config);
    for name in ["block0.proj.weight", "block2.fc"] {
        let block = layout.block(name).unwrap();
        let gradient = &pass.tensors[&format!("{}.grad", block.tensor)];
        let scale = colour_scale(&gradient.data);
        // Right of the residual stream's connector, which passes in front of column 5.
        let patch: Vec<[u32; 3]> = (0..16).map(|n| [7 + n % 4, 2 + n / 4, 0]).collect();
        let points: Vec<Vec3> = patch.iter().map(|&cell| face_point(block, cell)).collect();
        let centre = (points[0] + points[15]) / 2.0;
        let mut source = SceneSource::with_weights(weights.clone(), example.tokens[..6].to_vec());
        source.training = Some(Default::default());
        let distance = llmviz::layout::CELL * focal_px() / 14.0;
        let (frame, at) = shot(source, Paging::default(), centre, distance, &points);
        for (cell, at) in patch.iter().zip(&at) {
            let g = gradient.get(&block.map.index(*cell)).unwrap();
            let expected = to_srgb8(value_colour(GRADIENT_COLOUR, f16::from_f32(g).to_f32() * scale));
            let got = pixel_at(&frame, *at);
            assert!(
                got.iter().zip(expected).all(|(g, e)| (g - e).abs() <= 3.0),
                "{name} {cell:?}: {got:?} for {expected:?}"
            );
        }
    }
}

/// The model card in gradient mode shows the loss the step took (run in a bare egui context).
#[test]
fn the_card_shows_the_loss_and_takes_the_step() {
    use bevy_egui::egui;
    use llmviz::render::overlay::gradients::gradients_ui;
    use llmviz::render::overlay::language::Language;
    use llmviz::render::overlay::ui::CardModel;
    use llmviz::render::scene::blocks::{SceneSource, SceneValues};

    let weights = Weights::load(&fixture("grad/nano.safetensors")).unwrap();
    let example = Example::sort(&[0, 1, 2, 2, 1, 0]).unwrap();
    let pass = std::sync::Arc::new(step_on(&weights, &example).into_activations());
    let mut source = SceneSource::with_weights(weights, example.tokens[..6].to_vec());
    source.training = Some(Default::default());
    let values = SceneValues { activations: Some(pass.clone()), ..Default::default() };
    let model = CardModel { source: &source, values: &values, language: Language("en") };
    let ctx = egui::Context::default();
    let mut texts = Vec::new();
    let output = ctx.run_ui(egui::RawInput::default(), |ui| {
        gradients_ui(ui, model);
    });
    let shapes = output.shapes.clone();
    output.drop_without_applying_deltas();
    for shape in shapes {
        if let egui::epaint::Shape::Text(text) = shape.shape {
            texts.push(text.galley.text().to_string());
        }
    }
    let loss = pass.training.as_ref().unwrap().loss;
    let line = format!("loss {loss:.6}: mean cross-entropy of 6 predictions");
    assert!(texts.contains(&line), "{line} not among {texts:?}");
    assert!(texts.iter().any(|text| text == "take the step"), "{texts:?}");
}

/// Checkpoints keep AdamW's moments beside them: a step taken from one, on the next batch of its
/// run (of one problem), gives that run's next weights bit for bit; a moments file that does not
/// fit the weights is refused naming the file and the tensor.
#[test]
fn a_step_from_a_saved_checkpoint_continues_its_training_run_exactly() {
    use llmviz::train::{load_checkpoints, save_checkpoint, train_with_checkpoints};
    let config = llmviz::model::GptConfig::nano();
    let options = TrainOptions { seed: 21, steps: 3, batch_size: 1, learning_rate: 5e-4 };
    let dir = crate::scratch::Scratch::file("grad-checkpoints");
    let mut saved = Vec::new();
    let last = train_with_checkpoints::<Autodiff<CpuBackend>>(
        &config,
        &options,
        &Default::default(),
        &[0, 2],
        |_| {},
        |step, weights, moments| {
            let checkpoint =
                llmviz::train::Checkpoint { step, weights: weights.into(), correct: 0, moments: Some(moments.into()) };
            saved.push(save_checkpoint(&dir, &checkpoint).unwrap());
        },
    );
    let loaded = load_checkpoints(&dir).unwrap();
    assert_eq!(loaded.iter().map(|c| c.step).collect::<Vec<_>>(), [0, 2], "the moments files are not checkpoints");
    let two = &loaded[1];
    let moments = two.moments.as_ref().expect("saved with its moments");
    assert_eq!((moments.step, moments.m.len()), (2, 41));

    let mut data = data_rng(21);
    let (inputs, _) = (0..3).map(|_| sort_batch(&mut data, 1)).last().unwrap();
    let example = Example::sort(&inputs[..6]).unwrap();
    let step = training_step::<Autodiff<CpuBackend>>(&two.weights, moments, &example, 5e-4, &Default::default());
    assert_eq!(step.update.weights.tensors, last.tensors, "step 3 from checkpoint 2 is the run's step 3");

    // The step-0 checkpoint's moments are the zero a run starts from.
    assert_eq!(loaded[0].moments.as_deref(), Some(&Moments::default()));
    let moments_file = Moments::file_beside(&saved[1]);
    let mut wrong = (**moments).clone();
    wrong.m.insert("lm_head.weight".into(), llmviz::model::NamedTensor::new(vec![2], vec![0.0; 2]));
    wrong.save(&moments_file).unwrap();
    let error = load_checkpoints(&dir).unwrap_err();
    assert!(error.contains("step-00002.adamw.safetensors") && error.contains("'m.lm_head.weight'"), "{error}");
}
