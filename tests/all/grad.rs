//! One training step as data (`train::step`, `llmviz grad`): the loss and every gradient equal
//! central finite differences of an independent float64 numpy forward pass
//! (`tests/fixtures/grad/make_fixture.py`), and AdamW's update equals its formula and the training
//! loop's own step.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use burn::backend::Autodiff;
use llmviz::model::{CpuBackend, Weights};
use llmviz::train::step::{Example, Moments, TrainingStep, training_step};
use serde_json::Value;

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
        let (name, index, want) = (cell[0].as_str().unwrap(), cell[1].as_u64().unwrap() as usize, cell[2].as_f64().unwrap());
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
    eprintln!("{} cells; worst relative error {:.2e} at {}", numpy["gradients"].as_array().unwrap().len(), worst.0, worst.1);
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
    assert_eq!(
        Example::sort(&[0, 1, 2]).unwrap_err(),
        "the sort task's loss reads 6 letters, not 3"
    );
    assert!(Example::next_tokens(&[5]).unwrap_err().contains("two tokens at least"));
}
