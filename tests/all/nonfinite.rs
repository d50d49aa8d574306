//! NaN and infinity: refused at load unless `--allow-nonfinite`, then drawn in their own colour, and
//! a forward pass that produces one (from broken or merely huge weights) says where it arose.

use std::path::{Path, PathBuf};

use bevy::prelude::UVec2;
use llmviz::layout;
use llmviz::model::names::activation_shapes;
use llmviz::model::{BackendKind, LoadedModel, NonFinite, Weights};
use llmviz::render::run::offscreen::Offscreen;
use llmviz::render::scene::blocks::{SceneSource, SceneValues};
use llmviz::render::scene::pages::{NON_FINITE_MARK, Paging, pack_values};
use llmviz::render::view::viewpoint::CameraChoice;

use crate::cli::{assert_clean_failure, llmviz, stderr, stdout};
use crate::gpu::gpu;
use crate::scratch::Scratch;

/// nano's default weights with a NaN at c_fc.weight [3, 7] of layer 1: column 3 of that layer's
/// `fc` is the first activation it reaches. Saved in `dir`, a scratch folder of the test's own.
fn nan_weights(dir: &Path) -> (Weights, PathBuf) {
    let mut weights = Weights::default_model();
    let tensor = weights.tensors.get_mut("transformer.h.1.mlp.c_fc.weight").unwrap();
    let offset = tensor.offset(&[3, 7]).unwrap();
    tensor.data[offset] = f32::NAN;
    let path = dir.join("nan.safetensors");
    weights.save_safetensors(&path).unwrap();
    (weights, path)
}

/// Finite weights that overflow: layer 0's second LayerNorm outputs exactly 1 everywhere (γ = 0,
/// β = 1), and row 5 of c_fc.weight is 3e38 in every column, so fc[t, 5] = 48 × 3e38 = +inf.
/// Saved in `dir`, a scratch folder of the test's own.
fn overflowing_weights(dir: &Path) -> (Weights, PathBuf) {
    let mut weights = Weights::default_model();
    let set = |weights: &mut Weights, name: &str, value: f32| weights.tensors.get_mut(name).unwrap().data.fill(value);
    set(&mut weights, "transformer.h.0.ln_2.weight", 0.0);
    set(&mut weights, "transformer.h.0.ln_2.bias", 1.0);
    let c_fc = weights.tensors.get_mut("transformer.h.0.mlp.c_fc.weight").unwrap();
    let columns = c_fc.shape[1];
    c_fc.data[5 * columns..6 * columns].fill(3e38);
    let path = dir.join("overflow.safetensors");
    weights.save_safetensors(&path).unwrap();
    (weights, path)
}

/// Every activation before `name` in the order the pass computes them is finite.
fn finite_before(activations: &llmviz::model::Activations, config: &llmviz::model::GptConfig, name: &str) -> bool {
    activation_shapes(config, activations.tokens.len()).into_iter().take_while(|(n, _)| n != name).all(|(n, _)| {
        activations.tensors[&n].data.iter().enumerate().all(|(i, v)| {
            v.is_finite()
                || llmviz::model::is_masked_score(&n, &llmviz::model::unravel(i, &activations.tensors[&n].shape))
        })
    })
}

#[test]
fn allowed_nan_weights_load_and_the_pass_names_the_first_nan_it_made() {
    let dir = Scratch::dir("nonfinite-allowed");
    let (_, path) = nan_weights(&dir);
    assert!(Weights::load(&path).is_err(), "refused by default");
    let weights = Weights::load_with(&path, NonFinite::Allow).expect("loads when allowed");
    assert_eq!(weights.non_finite_count(), 1);
    let model = LoadedModel::new(&weights, BackendKind::Ndarray);
    let activations = model.activations(&[2, 1, 0]).unwrap();
    let first = activations.first_non_finite(&weights.config).expect("the NaN spreads");
    assert_eq!((first.tensor.as_str(), first.index.as_slice()), ("block1.fc", &[0, 3][..]), "{first}");
    assert!(first.value.is_nan() && activations.tensors["block1.fc"].get(&[0, 3]).unwrap().is_nan());
    assert!(finite_before(&activations, &weights.config, "block1.fc"));
    // Column 3 at each of the 3 positions, then everything after it in the layer.
    assert!(first.count > 3 * 2 + activations.tensors["probs"].data.len(), "{first}");

    let file = path.to_str().unwrap();
    assert_clean_failure(&llmviz(&["inspect", "--weights", file, "--input", "CBA"]), "holds NaN at index [3, 7]");
    let output = llmviz(&["inspect", "--weights", file, "--input", "CBA", "--allow-nonfinite"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let err = stderr(&output);
    assert!(err.contains("the weights hold 1 NaN or infinite values, the first NaN in 'transformer.h.1.mlp.c_fc.weight' at index [3, 7]"), "{err}");
    assert!(err.contains("the forward pass produced NaN first in 'block1.fc' at index [0, 3]"), "{err}");
    assert!(stdout(&output).contains("t=0"), "the results are printed: {}", stdout(&output));
}

#[test]
fn finite_weights_that_overflow_are_caught_where_the_first_infinity_arises() {
    let dir = Scratch::dir("nonfinite-overflow");
    let (weights, path) = overflowing_weights(&dir);
    let model = LoadedModel::new(&weights, BackendKind::Ndarray);
    let activations = model.activations(&[2, 1, 0]).unwrap();
    let first = activations.first_non_finite(&weights.config).expect("fc overflows");
    assert_eq!((first.tensor.as_str(), first.index.as_slice(), first.value), ("block0.fc", &[0, 5][..], f32::INFINITY));
    assert!(finite_before(&activations, &weights.config, "block0.fc"));
    assert!(activations.tensors["block0.ln2"].data.iter().all(|&v| v == 1.0), "LayerNorm gives exactly β");

    let file = path.to_str().unwrap();
    let refused = llmviz(&["inspect", "--weights", file, "--input", "CBA"]);
    assert_clean_failure(&refused, "the forward pass produced inf first in 'block0.fc' at index [0, 5]");
    assert!(stdout(&refused).is_empty(), "no probabilities printed: {}", stdout(&refused));
    let allowed = llmviz(&["inspect", "--weights", file, "--input", "CBA", "--allow-nonfinite"]);
    assert!(
        allowed.status.success() && stderr(&allowed).contains("'block0.fc' at index [0, 5]"),
        "{}",
        stderr(&allowed)
    );
    // A model whose values are all finite says nothing of the kind.
    let plain = llmviz(&["inspect", "--input", "CBA"]);
    assert!(plain.status.success() && !stderr(&plain).contains("non-finite"), "{}", stderr(&plain));
}

#[test]
fn non_finite_values_are_packed_as_the_mark_and_masked_scores_stay_empty() {
    let dir = Scratch::dir("nonfinite-packed");
    let (weights, _) = nan_weights(&dir);
    let layout = layout::build(&weights.config);
    let activations = LoadedModel::new(&weights, BackendKind::Ndarray).activations(&[2, 1, 0]).unwrap();
    let packed = pack_values(&layout, Some(&weights), Some(&activations), Paging::default());
    let value = |name: &str, offset: usize| packed.value(packed.tensors[name].base + offset).unwrap();
    let c_fc = &weights.tensors["transformer.h.1.mlp.c_fc.weight"];
    assert_eq!(value("transformer.h.1.mlp.c_fc.weight", c_fc.offset(&[3, 7]).unwrap()), NON_FINITE_MARK);
    let stored = half::f16::from_f32(c_fc.get(&[3, 6]).unwrap()).to_f32();
    assert_eq!(value("transformer.h.1.mlp.c_fc.weight", c_fc.offset(&[3, 6]).unwrap()), stored);
    // block1.fc is [T, 4C] in the layout, the full context: position 0's column 3 is marked, a
    // position past the input stays NaN (an empty cell).
    let width = activations.tensors["block1.fc"].shape[1];
    assert_eq!(value("block1.fc", 3), NON_FINITE_MARK);
    assert!(value("block1.fc", 5 * width + 3).is_nan());
    // Layer 0 is untouched: its future scores keep the mask's −inf, drawn empty.
    let att = &activations.tensors["block0.att"];
    assert_eq!(att.get(&[0, 0, 1]), Some(f32::NEG_INFINITY));
    let block_size = weights.config.block_size;
    assert_eq!(value("block0.att", 1), f32::NEG_INFINITY, "query 0, key 1 of a [H, {block_size}, {block_size}] block");
    assert!(value("block0.att", 0).is_finite());
}

#[test]
fn non_finite_cells_are_drawn_magenta_from_near_and_far() {
    let _gpu = gpu();
    let magenta = |weights: Weights, camera: CameraChoice| {
        let source = SceneSource::with_weights(weights, vec![2, 1, 0]);
        let view = camera.view_point(&layout::build(&source.config)).unwrap();
        let mut offscreen = Offscreen::new(source, UVec2::new(640, 360), view);
        offscreen.wait_until_ready().expect("the scene becomes ready");
        let frame = offscreen.capture().expect("a frame");
        let said = offscreen.world_mut().resource::<SceneValues>().non_finite.clone();
        (frame.rgba.chunks(4).filter(|p| p[0] > 200 && p[1] < 80 && p[2] > 150).count(), said)
    };
    // Layer 1's MLP output, [T, C]: every channel of the 3 input positions is NaN, the 8 positions
    // past the input are empty.
    let near = CameraChoice::Block("block1.mlp".into());
    let dir = Scratch::dir("nonfinite-drawn");
    let (broken, _) = nan_weights(&dir);
    let (broken_near, said) = magenta(broken.clone(), near.clone());
    assert_eq!(magenta(Weights::default_model(), near), (0, vec![]), "no magenta in a healthy model, nothing said");
    assert!(broken_near > 640 * 360 / 50, "{broken_near} magenta pixels");
    // What the model card says: the weight, then where the pass first made a NaN.
    assert_eq!(said.len(), 2, "{said:?}");
    assert!(said[0].starts_with("the weights hold 1 NaN or infinite values") && said[0].contains("[3, 7]"), "{said:?}");
    assert!(said[1].contains("'block1.fc' at index [0, 3]"), "{said:?}");
    // From the overview, where values fade into their block's flat colour, a NaN still shows.
    let (broken_far, _) = magenta(broken, CameraChoice::Overview);
    assert!(broken_far > 10, "{broken_far} magenta pixels in the overview");
}
