//! Training the sort task: reproducible, learning, and the shipped model sorts.

use std::path::Path;

use burn::backend::Autodiff;
use llmviz::model::{CpuBackend, GptConfig, Network, Weights};
use llmviz::train::{SplitMix64, TrainOptions, initial_weights, sort_accuracy, sort_batch, train};

use crate::scratch::Scratch;

fn short_run(seed: u64, steps: usize) -> (Weights, Vec<f32>) {
    let options = TrainOptions { seed, steps, batch_size: 16, learning_rate: 3e-3 };
    let mut losses = Vec::new();
    let weights =
        train::<Autodiff<CpuBackend>>(&GptConfig::nano(), &options, &Default::default(), |p| losses.push(p.loss));
    (weights, losses)
}

#[test]
fn training_on_ndarray_is_bit_identical_for_a_seed() {
    let (a, _) = short_run(7, 3);
    let (b, _) = short_run(7, 3);
    let (c, _) = short_run(8, 3);
    assert_eq!(a.tensors, b.tensors, "same seed, different weights");
    assert_ne!(a.tensors, c.tensors, "another seed should give other weights");
}

#[test]
fn training_lowers_the_loss() {
    let (_, losses) = short_run(3407, 40);
    let first: f32 = losses[..5].iter().sum::<f32>() / 5.0;
    let last: f32 = losses[losses.len() - 5..].iter().sum::<f32>() / 5.0;
    // ln 3 ≈ 1.10 is a uniform guess over A, B, C.
    assert!(first > 0.9, "untrained loss {first} should be near ln 3");
    assert!(last < 0.7 * first, "loss went from {first} to {last}");
}

#[test]
fn batches_pair_each_problem_with_its_sorted_answer() {
    let mut rng = SplitMix64::new(1);
    let (inputs, targets) = sort_batch(&mut rng, 4);
    assert_eq!((inputs.len(), targets.len()), (44, 24));
    for (input, answer) in inputs.chunks(11).zip(targets.chunks(6)) {
        let mut sorted = input[..6].to_vec();
        sorted.sort_unstable();
        assert_eq!(answer, &sorted[..]);
        assert_eq!(&input[6..], &answer[..5], "the answer, shifted right, follows the problem");
    }
}

#[test]
fn weights_survive_a_trip_through_the_model() {
    let weights = initial_weights(&GptConfig::nano(), 5);
    let model: Network<CpuBackend> = Network::from_weights(&weights, &Default::default());
    assert_eq!(model.to_weights().tensors, weights.tensors);
    assert_eq!(weights.tensors.values().map(|t| t.data.len()).sum::<usize>(), 85_728);
}

#[test]
fn the_reference_weights_sort_all_729_inputs() {
    let weights =
        Weights::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("models/gpt-nano-sort-model.json")).unwrap();
    let model: Network<CpuBackend> = Network::from_weights(&weights, &Default::default());
    assert_eq!(sort_accuracy(&model), (729, 729));
    let untrained: Network<CpuBackend> =
        Network::from_weights(&initial_weights(&GptConfig::nano(), 1), &Default::default());
    assert!(sort_accuracy(&untrained).0 < 729 / 2, "an untrained model should not sort");
}

#[test]
fn the_shipped_default_model_is_ours_and_sorts_at_least_99_5_percent() {
    let weights = Weights::default_model();
    assert!(weights.source.ends_with("nano-sort.safetensors"), "default is {}", weights.source.display());
    let model: Network<CpuBackend> = Network::from_weights(&weights, &Default::default());
    let (correct, total) = sort_accuracy(&model);
    assert!(correct as f64 / total as f64 >= 0.995, "sorted {correct}/{total}");
}

#[test]
fn a_checkpoint_at_step_k_is_the_model_k_steps_of_training_give() {
    use llmviz::train::{Checkpoint, load_checkpoints, save_checkpoint, train_with_checkpoints};
    let options = TrainOptions { seed: 11, steps: 4, batch_size: 16, learning_rate: 3e-3 };
    let mut taken = Vec::new();
    let last = train_with_checkpoints::<Autodiff<CpuBackend>>(
        &GptConfig::nano(),
        &options,
        &Default::default(),
        &[0, 2, 4],
        |_| {},
        |step, weights, _| taken.push((step, weights)),
    );
    assert_eq!(taken.iter().map(|(step, _)| *step).collect::<Vec<_>>(), [0, 2, 4]);
    assert_eq!(taken[0].1.tensors, initial_weights(&GptConfig::nano(), 11).tensors, "step 0 is the random start");
    let (two_steps, _) = short_run(11, 2);
    assert_eq!(taken[1].1.tensors, two_steps.tensors, "step 2 of a longer run is a 2-step run's end");
    assert_eq!(taken[2].1.tensors, last.tensors, "the last checkpoint is the trained model");
    assert_ne!(taken[0].1.tensors, taken[1].1.tensors);

    // Saved with their step and accuracy (saving makes the folder), and read back in step order.
    let dir = Scratch::file("checkpoints");
    for (step, weights) in taken.into_iter().rev() {
        save_checkpoint(&dir, &Checkpoint { step, weights: weights.into(), correct: 100 + step, moments: None })
            .expect("saves");
    }
    let loaded = load_checkpoints(&dir).expect("loads");
    assert_eq!(loaded.iter().map(|c| (c.step, c.correct)).collect::<Vec<_>>(), [(0, 100), (2, 102), (4, 104)]);
    assert_eq!(loaded[2].weights.tensors, last.tensors);

    // A checkpoint without its step is named in one error.
    last.save_safetensors(&dir.join("stray.safetensors")).expect("saves");
    let error = load_checkpoints(&dir).expect_err("a file without metadata");
    assert!(error.contains("stray.safetensors") && error.contains("'step'"), "{error}");
}

#[test]
fn the_shipped_checkpoints_are_the_shipped_models_training_run() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/nano-sort.checkpoints");
    let checkpoints = llmviz::train::load_checkpoints(&dir).expect("the shipped checkpoints load");
    assert!(checkpoints.len() >= 3, "{} checkpoints", checkpoints.len());
    let first = checkpoints.first().unwrap();
    let last = checkpoints.last().unwrap();
    assert_eq!(first.step, 0);
    assert_eq!(first.weights.tensors, initial_weights(&GptConfig::nano(), 3407).tensors, "seed 3407's random start");
    assert_eq!(last.step, TrainOptions::default().steps);
    assert_eq!(last.weights.tensors, Weights::default_model().tensors, "the last checkpoint is the shipped model");
    // The recorded accuracy is the model's: checked at the start and the end.
    for checkpoint in [first, last] {
        let model: Network<CpuBackend> = Network::from_weights(&checkpoint.weights, &Default::default());
        assert_eq!(sort_accuracy(&model).0, checkpoint.correct, "step {}", checkpoint.step);
    }
}

/// The shipped checkpoints copied into a fresh folder, for tests that spoil them.
fn copy_of_shipped_checkpoints(name: &str) -> Scratch {
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/nano-sort.checkpoints");
    let dir = Scratch::dir(&format!("train-{name}"));
    for entry in std::fs::read_dir(&shipped).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, dir.join(path.file_name().unwrap())).unwrap();
    }
    dir
}

#[test]
fn the_training_slider_hides_with_a_message_naming_a_checkpoint_that_does_not_load() {
    use llmviz::render::overlay::live_input::{TrainingCheckpoints, TrainingSlider, training_slider_for};
    let nano = llmviz::render::scene_source("nano", None).unwrap();
    let dir = copy_of_shipped_checkpoints("slider");
    let all = TrainingCheckpoints::load(&dir);
    assert!(matches!(training_slider_for(&nano, &all), TrainingSlider::Shown(points) if points.len() == 9), "{all:?}");

    // Caught half-written (a training run saving it as the app starts).
    let step_50 = dir.join("step-00050.safetensors");
    let bytes = std::fs::read(&step_50).unwrap();
    std::fs::write(&step_50, &bytes[..bytes.len() / 2]).unwrap();
    let half = TrainingCheckpoints::load(&dir);
    let TrainingSlider::Unavailable(why) = training_slider_for(&nano, &half) else { panic!("{half:?}") };
    assert!(why.starts_with("no training slider: ") && why.contains(&step_50.display().to_string()), "{why}");

    // The folder there, its files gone.
    for entry in std::fs::read_dir(&dir).unwrap() {
        std::fs::remove_file(entry.unwrap().path()).unwrap();
    }
    let empty = TrainingCheckpoints::load(&dir);
    let TrainingSlider::Unavailable(why) = training_slider_for(&nano, &empty) else { panic!("{empty:?}") };
    assert!(why.contains(&format!("{} has no checkpoints", dir.display())), "{why}");

    // No folder at all (the app started outside the repository): no slider, nothing to explain.
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(matches!(training_slider_for(&nano, &TrainingCheckpoints::load(&dir)), TrainingSlider::Hidden));
    // Nor on a model the checkpoints are not of.
    let gpt2 = llmviz::render::scene_source("gpt2", None).unwrap();
    assert!(matches!(training_slider_for(&gpt2, &half), TrainingSlider::Hidden));
}
