//! The forward pass on the GPU the scene is drawn with: the app's worker, forced onto burn's wgpu
//! backend on the renderer's own device (lavapipe here), computes what the CPU computes (within
//! 1e-4, relative above 1); and the backend chosen for a real and for a software adapter is the one
//! README names.

use std::path::Path;
use std::sync::Arc;

use bevy::prelude::UVec2;
use llmviz::layout;
use llmviz::model::{Activations, BackendKind, LoadedModel, Weights};
use llmviz::render::run::offscreen::Offscreen;
use llmviz::render::scene::blocks::{SceneSource, SceneValues};
use llmviz::render::scene::compute::{Compute, ComputeChoice, ComputedOn, computes_on_gpu};
use llmviz::render::view::viewpoint::CameraChoice;

use crate::gpu::gpu;

#[test]
fn a_real_gpu_computes_and_a_software_adapter_leaves_the_pass_to_the_cpu() {
    use wgpu::DeviceType::*;
    for kind in [DiscreteGpu, IntegratedGpu, VirtualGpu, Other] {
        assert!(computes_on_gpu(ComputeChoice::Auto, kind), "{kind:?}");
        assert!(!computes_on_gpu(ComputeChoice::Cpu, kind), "{kind:?}");
    }
    assert!(!computes_on_gpu(ComputeChoice::Auto, Cpu), "lavapipe and SwiftShader are CPUs");
    assert!(computes_on_gpu(ComputeChoice::Gpu, Cpu), "forced");
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let readme = readme.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase();
    assert!(
        readme.contains("on a real gpu the forward pass runs on it")
            && readme.contains("on a software adapter (lavapipe, swiftshader) it runs on the cpu"),
        "README says which backend computes where"
    );
}

/// The app's pass for `source`, computed where `choice` says; where that was decided to be, and
/// how many passes the worker ran on the GPU.
fn app_pass(source: SceneSource, choice: ComputeChoice) -> (Arc<Activations>, ComputedOn, u64) {
    let view = CameraChoice::Overview.view_point(&layout::build(&source.config)).unwrap();
    let mut offscreen = Offscreen::with_plugins(source, UVec2::new(64, 36), view, |app| {
        app.world().resource::<Compute>().choose(choice);
    });
    offscreen.wait_until_ready().expect("the scene becomes ready");
    let world = offscreen.world();
    let compute = world.resource::<Compute>();
    let forward = world.resource::<SceneValues>().forward.clone().expect("the pass's activations");
    (forward, compute.computed_on(), compute.gpu_passes())
}

/// Every tensor of the CPU's pass within 1e-4 in the app's; the app's may hold the logit lens's
/// streams besides (`*_lens`), read after the pass.
fn assert_close(name: &str, gpu: &Activations, cpu: &Activations) {
    let extra: Vec<&String> = gpu.tensors.keys().filter(|key| !cpu.tensors.contains_key(*key)).collect();
    assert!(extra.iter().all(|key| key.ends_with("_lens")), "{name}: tensors the CPU's pass has not: {extra:?}");
    for (tensor, expected) in &cpu.tensors {
        let got = gpu.tensors.get(tensor).unwrap_or_else(|| panic!("{name}: no {tensor} in the app's pass"));
        assert_eq!(got.shape, expected.shape, "{name}: {tensor}");
        for (index, (a, b)) in got.data.iter().zip(&expected.data).enumerate() {
            // Within 1e-4, relative beyond 1 (a sum of exponentials near 200 differs in its 7th
            // digit, summed in another order); the causal mask's -inf is the same on both.
            let same = a == b || (a - b).abs() <= 1e-4 * b.abs().max(1.0);
            assert!(same, "{name}: {tensor}[{index}] is {a} on the GPU, {b} on the CPU");
        }
    }
}

#[test]
fn the_worker_forced_onto_the_renderers_gpu_computes_what_the_cpu_computes() {
    let _gpu = gpu();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let nano = llmviz::render::scene_source("nano", Some("CBABBC")).unwrap();
    let tiny = Weights::load(&fixtures.join("tiny-gpt2")).expect("the fixture loads");
    let tiny = SceneSource::with_weights(tiny, vec![15496, 995, 11, 340, 338, 257, 1332, 13]);
    for (name, source) in [("nano", nano), ("tiny-gpt2", tiny)] {
        let weights = source.weights.clone().expect("weights");
        let tokens = source.tokens.clone();
        let (gpu, on, gpu_passes) = app_pass(source, ComputeChoice::Gpu);
        let ComputedOn::Gpu { adapter } = on else { panic!("{name}: forced onto the GPU, computed on {on:?}") };
        assert_eq!(gpu_passes, 1, "{name}: the worker ran its pass on the GPU");
        assert!(adapter.contains("llvmpipe"), "{name}: lavapipe is the renderer's adapter here: {adapter}");
        let cpu = LoadedModel::new(&weights, BackendKind::Ndarray).activations(&tokens).unwrap();
        assert_close(name, &gpu, &cpu);
    }
}

#[test]
fn on_lavapipe_the_app_computes_on_the_cpu_by_default() {
    let _gpu = gpu();
    let nano = llmviz::render::scene_source("nano", Some("CBABBC")).unwrap();
    let (_, on, gpu_passes) = app_pass(nano, ComputeChoice::Auto);
    assert!(matches!(on, ComputedOn::Cpu { .. }), "{on:?}");
    assert_eq!(gpu_passes, 0);
}
