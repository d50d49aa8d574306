//! Sampling: the output distribution reshaped by temperature, top-k and top-p, drawn from with a
//! seeded generator; on the command line, in explanations, in the tour and in the scene.

use llmviz::explain::{Sources, explain};
use llmviz::layout;
use llmviz::model::sampling::{Sampling, SplitMix64, greedy, reshape, sample};
use llmviz::model::{Activations, BackendKind, LoadedModel, Weights};

use super::cli::{assert_clean_failure, llmviz, stderr, stdout};

fn nano() -> (Weights, Activations) {
    let weights = Weights::default_model();
    let activations = LoadedModel::new(&weights, BackendKind::Ndarray).activations(&[2, 1, 0, 1, 1, 2]).unwrap();
    (weights, activations)
}

fn with(temperature: f32, top_k: Option<usize>, top_p: Option<f32>) -> Sampling {
    Sampling { temperature, top_k, top_p }
}

#[test]
fn temperature_one_is_the_models_own_softmax_and_near_zero_is_argmax() {
    let (_, activations) = nano();
    assert_eq!(activations.resampled(&Sampling::default()), activations, "the pass exactly as it was");
    let (logits, probs) = (&activations.tensors["logits"], &activations.tensors["probs"]);
    for (row, expected) in logits.data.chunks(3).zip(probs.data.chunks(3)) {
        let reshaped = reshape(row, &Sampling::default());
        for (a, b) in reshaped.probs.iter().zip(expected) {
            assert!((a - b).abs() < 1e-6, "{a} against the model's {b}");
        }
        let cold = reshape(row, &with(0.01, None, None));
        assert_eq!(cold.probs[greedy(expected)], 1.0, "T → 0 puts everything on the argmax");
    }
    // Hotter evens the odds out; colder sharpens them.
    let row = &logits.data[15..18];
    let top = greedy(&reshape(row, &Sampling::default()).probs);
    let p = |t: f32| reshape(row, &with(t, None, None)).probs[top];
    assert!(p(0.5) >= p(1.0) && p(1.0) > p(2.0) && p(2.0) > p(5.0) && p(5.0) > 1.0 / 3.0);
}

#[test]
fn top_k_and_top_p_keep_the_right_tokens_and_renormalise() {
    let logits = [1.0_f32, 4.0, 2.0, 3.0];
    let kept = reshape(&logits, &with(1.0, Some(2), None));
    assert_eq!(kept.kept, [false, true, false, true]);
    assert!((kept.probs.iter().sum::<f32>() - 1.0).abs() < 1e-6);
    assert!((kept.probs[1] / kept.probs[3] - std::f32::consts::E).abs() < 1e-4, "the kept keep their ratio");
    // Probabilities 0.5, 0.3, 0.2: top-p 0.7 needs the first two (0.8), then renormalises.
    let logits = [0.5_f32.ln(), 0.3_f32.ln(), 0.2_f32.ln()];
    let nucleus = reshape(&logits, &with(1.0, None, Some(0.7)));
    assert_eq!(nucleus.kept, [true, true, false]);
    assert!((nucleus.probs[0] - 0.625).abs() < 1e-6 && (nucleus.probs[1] - 0.375).abs() < 1e-6);
    assert_eq!(
        reshape(&logits, &with(1.0, None, Some(0.5))).kept,
        [true, false, false],
        "0.5 reached by the first alone"
    );
    assert_eq!(reshape(&logits, &with(1.0, Some(1), Some(0.9))).kept, [true, false, false], "top-k first");
}

#[test]
fn the_generator_is_splitmix64_and_a_seed_repeats_its_draws() {
    // SplitMix64 from state 0: Steele, Lea and Flood's reference values.
    let mut rng = SplitMix64::new(0);
    assert_eq!(
        [rng.next_u64(), rng.next_u64(), rng.next_u64()],
        [0xe220a8397b1dcdaf, 0x6e789e6aa1b965f4, 0x06c45d188009454f]
    );
    let probs = [0.2_f32, 0.5, 0.3];
    let draws = |seed: u64| -> Vec<usize> {
        let mut rng = SplitMix64::new(seed);
        (0..1000).map(|_| sample(&probs, &mut rng)).collect()
    };
    assert_eq!(draws(42), draws(42));
    assert_ne!(draws(42), draws(43));
    let counts = draws(7).iter().fold([0; 3], |mut counts, &token| {
        counts[token] += 1;
        counts
    });
    for (count, p) in counts.iter().zip(probs) {
        assert!((*count as f32 / 1000.0 - p).abs() < 0.05, "{counts:?}");
    }
    assert_eq!(sample(&[0.0, 1.0, 0.0], &mut SplitMix64::new(1)), 1, "a cut token is never drawn");
}

#[test]
fn inspect_samples_with_a_seed_it_prints_and_refuses_bad_settings() {
    let run = |extra: &[&str]| {
        let mut args = vec!["inspect", "--input", "CBA", "--generate", "3"];
        args.extend_from_slice(extra);
        llmviz(&args)
    };
    let hot = run(&["--temperature", "5", "--top-k", "2", "--seed", "11"]);
    assert!(hot.status.success(), "{}", stderr(&hot));
    let text = stdout(&hot);
    let lines: Vec<&str> = text.trim().lines().collect();
    assert!(lines.last().unwrap().starts_with("generated "), "{text}");
    assert!(lines[lines.len() - 2].starts_with("seed 11 (temperature 5, top-k 2)"), "{text}");
    assert_eq!(
        stdout(&run(&["--temperature", "5", "--top-k", "2", "--seed", "11"])),
        text,
        "the same seed, the same tokens"
    );
    let greedy = stdout(&run(&[]));
    assert!(!greedy.contains("seed"), "greedy without --temperature: {greedy}");
    assert!(greedy.trim().lines().last().unwrap().starts_with("generated "));
    // Without a seed one is picked and printed, so the run can be repeated.
    let picked = stdout(&run(&["--temperature", "1.5"]));
    let seed =
        picked.lines().find_map(|line| line.strip_prefix("seed ")).and_then(|rest| rest.split(' ').next()).unwrap();
    assert_eq!(stdout(&run(&["--temperature", "1.5", "--seed", seed])).lines().last(), picked.lines().last());

    assert_clean_failure(&run(&["--temperature", "0"]), "--temperature 0: must be more than 0");
    assert_clean_failure(&run(&["--temperature=-1"]), "--temperature -1: must be more than 0");
    assert_clean_failure(&run(&["--temperature", "1", "--top-k", "0"]), "--top-k 0: must be at least 1");
    assert_clean_failure(
        &run(&["--temperature", "1", "--top-p", "1.5"]),
        "--top-p 1.5: must be more than 0 and at most 1",
    );
    assert_clean_failure(&run(&["--temperature", "1", "--top-p", "0"]), "--top-p 0");
    let orphan = run(&["--top-k", "2"]);
    assert!(!orphan.status.success() && stderr(&orphan).contains("--temperature"), "{}", stderr(&orphan));
}

#[test]
fn inspect_json_keeps_probs_at_temperature_one_and_adds_the_reshaped_ones() {
    let output = llmviz(&["inspect", "--input", "CBABBC", "--json", "--temperature", "2", "--top-p", "0.99"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let plain = llmviz(&["inspect", "--input", "CBABBC", "--json"]);
    let plain: serde_json::Value = serde_json::from_slice(&plain.stdout).unwrap();
    assert_eq!(json["tensors"]["probs"], plain["tensors"]["probs"]);
    let sampled = &json["sampled_probs"];
    assert_eq!(
        (sampled["temperature"].as_f64(), sampled["top_k"].is_null(), sampled["top_p"].as_f64()),
        (Some(2.0), true, Some(0.99f32 as f64))
    );
    let logits: Vec<f32> =
        json["tensors"]["logits"]["data"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect();
    let data: Vec<f64> = sampled["data"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    for (row, shown) in logits.chunks(3).zip(data.chunks(3)) {
        let expected = reshape(row, &with(2.0, None, Some(0.99)));
        for (a, b) in expected.probs.iter().zip(shown) {
            assert!((*a as f64 - b).abs() < 1e-6);
        }
    }
}

#[test]
fn a_reshaped_probability_is_explained_with_its_temperature_and_a_cut_token_as_cut() {
    let (weights, activations) = nano();
    let layout = layout::build(&weights.config);
    let hot = activations.resampled(&with(2.0, Some(1), None));
    let sources = Sources { layout: &layout, activations: &hot, weights: &weights };
    let probs = &hot.tensors["probs"];
    let top = greedy(&probs.data[15..18]);
    let kept = explain(&sources, "probs", [5, top as u32, 0]).unwrap();
    assert!(kept.formula.contains("exp((x − max) / T)") && kept.formula.contains("/ 2)"), "{}", kept.formula);
    assert_eq!(kept.value, 1.0, "top-k 1 leaves the favourite all of it");
    let cut = explain(&sources, "probs", [5, ((top + 1) % 3) as u32, 0]).unwrap();
    assert!(cut.formula.starts_with("cut off: top-k 1 keeps the 1 likeliest"), "{}", cut.formula);
    assert_eq!(cut.value, 0.0);
    let sum = explain(&sources, "logits.sumexp", [5, 0, 0]).unwrap();
    assert!(sum.formula.contains("Σ exp((x − max) / T) over the tokens kept"), "{}", sum.formula);
}

#[test]
fn the_output_chapter_shows_one_column_at_several_temperatures() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tours/nano-gpt.ron");
    let tour = llmviz::tour::CompiledTour::load(&path, &mut llmviz::tour::Layouts::default()).unwrap();
    let output = &tour.chapters[tour.tour.chapter("output").unwrap()];
    let temperatures: Vec<f32> = (0..=(output.length * 10.0) as u32)
        .map(|tenth| output.evaluate(tenth as f32 / 10.0).sampling.temperature)
        .fold(Vec::new(), |mut seen, t| {
            if seen.last() != Some(&t) {
                seen.push(t);
            }
            seen
        });
    assert_eq!(temperatures, [1.0, 0.5, 2.0, 5.0, 1.0]);
    // Every other chapter stays at the model's own softmax.
    for chapter in tour.chapters.iter().filter(|chapter| chapter.id != "output") {
        assert!((0..10).all(|i| output.evaluate(0.0).sampling.is_plain()
            && chapter.evaluate(chapter.length * i as f32 / 9.0).sampling.is_plain()));
    }
    let broken = r#"Tour(title: "t", model: "nano", chapters: [Chapter(id: "c", title: "C", camera: Overview, steps: [
        Step(text: ["x"], actions: [Sampling(temperature: 1.0, top_k: 0)])])])"#;
    let errors = llmviz::tour::CompiledTour::compile(
        llmviz::tour::Tour::parse(broken, "t.ron").unwrap(),
        "t.ron",
        &mut Default::default(),
    )
    .unwrap_err();
    assert!(errors[0].to_string().ends_with("field actions[0].top_k: top_k 0: must be at least 1"), "{}", errors[0]);
}

/// Values as the value pages hold them: 16-bit floats.
fn as_f16(values: &[f32]) -> Vec<f32> {
    values.iter().map(|&v| half::f16::from_f32(v).to_f32()).collect()
}

/// The scene with the tour at a time of the output chapter: its shown and forward activations,
/// and the packed `probs` values.
fn scene_probs(offscreen: &mut llmviz::render::run::offscreen::Offscreen) -> (Option<Sampling>, Vec<f32>) {
    let world = offscreen.world_mut();
    let values = world.resource::<llmviz::render::scene::blocks::SceneValues>();
    assert_eq!(values.forward.as_ref().unwrap().sampling, None, "the forward pass stays as it ran");
    let sampling = values.activations.as_ref().unwrap().sampling;
    let packed = world.resource::<llmviz::render::scene::pages::PackedValues>();
    let entry = packed.tensors["probs"];
    (sampling, packed.values(entry.base, 6 * 3))
}

#[test]
fn the_scene_recolours_probs_as_the_tours_temperature_changes_without_a_new_pass() {
    use bevy::prelude::*;
    use llmviz::render::run::offscreen::tour_offscreen;
    use llmviz::render::tour::player::{TourState, tour_at};
    let _gpu = crate::gpu::gpu();
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tours/nano-gpt.ron");
    let probe = tour_at(&path, Some("output"), None).unwrap();
    let output = probe.timeline();
    let time_at = |temperature: f32| {
        (0..=(output.length * 10.0) as u32)
            .map(|t| t as f32 / 10.0)
            .find(|&t| output.evaluate(t).sampling.temperature == temperature)
            .unwrap()
    };
    let hot = time_at(5.0);
    // Back at temperature 1 after the hot one, before the chapter writes more tokens (a new pass each).
    let plain = (0..=(output.length * 10.0) as u32)
        .map(|t| t as f32 / 10.0)
        .find(|&t| t > hot && output.evaluate(t).sampling.temperature == 1.0)
        .unwrap();
    assert_eq!(output.evaluate(plain).appended, 0);
    let mut offscreen =
        tour_offscreen(tour_at(&path, Some("output"), Some(hot)).unwrap(), UVec2::new(320, 180)).unwrap();
    offscreen.wait_until_ready().unwrap();
    let forward = offscreen.world().resource::<llmviz::render::scene::blocks::SceneValues>().forward.clone().unwrap();
    let (sampling, shown) = scene_probs(&mut offscreen);
    assert_eq!(sampling.map(|s| s.temperature), Some(5.0));
    let expected = forward.resampled(&with(5.0, None, None));
    assert_eq!(shown, as_f16(&expected.tensors["probs"].data[..18]));

    offscreen.world_mut().resource_mut::<TourState>().seek(plain);
    for _ in 0..4 {
        offscreen.update();
    }
    let (sampling, shown) = scene_probs(&mut offscreen);
    assert_eq!(sampling, None, "back at temperature 1: the model's own softmax");
    assert_eq!(shown, as_f16(&forward.tensors["probs"].data[..18]));
    let world = offscreen.world();
    let after = world.resource::<llmviz::render::scene::blocks::SceneValues>().forward.clone().unwrap();
    assert!(std::sync::Arc::ptr_eq(&forward, &after), "no forward pass was run again");
}

#[test]
fn a_gpt2_checkpoint_samples_its_full_vocabulary_the_same_for_a_seed() {
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny-gpt2");
    let run = |seed: &str| {
        let args = [
            "inspect",
            "--weights",
            fixture.to_str().unwrap(),
            "--text",
            "Hello world",
            "--generate",
            "4",
            "--temperature",
            "1.5",
            "--top-p",
            "0.9",
            "--seed",
            seed,
        ];
        let output = llmviz(&args);
        assert!(output.status.success(), "{}", stderr(&output));
        stdout(&output)
    };
    let text = run("5");
    let lines: Vec<&str> = text.trim().lines().collect();
    assert!(lines[lines.len() - 2].starts_with("seed 5 (temperature 1.5, top-p 0.9)"), "{text}");
    assert!(lines.last().unwrap().starts_with("generated "), "{text}");
    assert_eq!(run("5"), text);
    // A random model's distribution is flat: other seeds draw other tokens.
    assert!(["6", "7", "8"].iter().any(|seed| run(seed).lines().last() != text.lines().last()), "{text}");
}
