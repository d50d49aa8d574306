//! The `llmviz` binary as a user runs it.

use std::process::{Command, Output};

use crate::scratch::Scratch;

pub fn llmviz(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_llmviz"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("llmviz runs")
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A failure is one line on stderr, a non-zero exit, and no panic.
pub fn assert_clean_failure(output: &Output, expected: &str) {
    let err = stderr(output);
    assert!(!output.status.success(), "should fail: {err}");
    assert!(!err.contains("panicked") && !err.contains("RUST_BACKTRACE"), "panicked: {err}");
    assert_eq!(err.trim().lines().count(), 1, "one line expected: {err}");
    assert!(err.contains(expected), "'{expected}' not in: {err}");
}

#[test]
fn inspect_generate_sorts_the_reference_input() {
    let output =
        llmviz(&["inspect", "--weights", "models/gpt-nano-sort-model.json", "--input", "CBABBC", "--generate"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).contains("generated ABBBCC"), "{}", stdout(&output));
}

#[test]
fn inspect_json_on_wgpu_agrees_with_ndarray_and_masks_future_scores() {
    let run = |backend: &str| -> serde_json::Value {
        let output = llmviz(&["inspect", "--input", "CBABBC", "--backend", backend, "--json"]);
        assert!(output.status.success(), "{}", stderr(&output));
        serde_json::from_slice(&output.stdout).expect("valid JSON")
    };
    let (cpu, gpu) = (run("ndarray"), run("wgpu"));
    assert_eq!(cpu["tokens"], serde_json::json!([2, 1, 0, 1, 1, 2]));
    let att = &cpu["tensors"]["block0.att"];
    assert_eq!(att["shape"], serde_json::json!([3, 6, 6]));
    assert!(att["data"][1].is_null(), "t=0 may not see t=1");
    assert!(att["data"][6].is_number(), "t=1 sees t=0");
    let tensors = cpu["tensors"].as_object().unwrap();
    assert!(tensors.len() >= 3 + 3 * 21 + 7);
    for (name, tensor) in tensors {
        let other = &gpu["tensors"][name]["data"];
        for (i, value) in tensor["data"].as_array().unwrap().iter().enumerate() {
            match (value.as_f64(), other[i].as_f64()) {
                (Some(a), Some(b)) => assert!((a - b).abs() <= 1e-4, "{name}[{i}]: ndarray {a}, wgpu {b}"),
                (a, b) => assert_eq!(a.is_none(), b.is_none(), "{name}[{i}] masked on one backend only"),
            }
        }
    }
}

#[test]
fn letters_outside_the_vocabulary_are_one_clear_error() {
    let output = llmviz(&["inspect", "--input", "CBXBBC"]);
    assert_clean_failure(&output, "'X' at position 2 is not in the vocabulary A, B, C");
    let output = llmviz(&["inspect", "--input", "ABCABCABCABC"]);
    assert_clean_failure(&output, "context holds 11");
}

#[test]
fn malformed_weights_are_one_clear_error() {
    let path = Scratch::file("cli.json");
    std::fs::write(
        &path,
        "{\"config\": {\"n_layer\": 3, \"n_head\": 3, \"n_embd\": 48, \"vocab_size\": 3, \"block_size\": 11}}",
    )
    .unwrap();
    let output = llmviz(&["inspect", "--weights", path.to_str().unwrap(), "--input", "ABC"]);
    assert_clean_failure(&output, "missing tensor 'transformer.wte.weight' (expected shape [3, 48])");
    let output = llmviz(&["inspect", "--weights", "/nonexistent/w.json", "--input", "ABC"]);
    assert_clean_failure(&output, "/nonexistent/w.json: cannot read");
}
