//! A GPU that is missing or lost: one clear error and a non-zero exit, never a panic or a hang.
//! No driver is simulated by pointing the Vulkan loader at a driver list that does not exist; a
//! lost device by the app's test hook `LLMVIZ_TEST_LOSE_DEVICE=N`, which destroys the device
//! after N frames, as a driver reset would lose it.

use std::process::{Command, Output, Stdio};
use std::sync::mpsc::channel;
use std::time::Duration;

use llmviz::render::scene::gpu::LOSE_DEVICE_ENV;

use crate::cli::{assert_clean_failure, stderr};
use crate::gpu::gpu;
use crate::idle::start_x_server;
use crate::scratch::Scratch;

/// Guards against a hang only: far longer than a debug build takes to start on lavapipe.
const GUARD: Duration = Duration::from_secs(600);

/// The Vulkan loader's variables for where drivers are: pointed at nothing, no driver loads.
const NO_VULKAN_DRIVER: [(&str, &str); 2] =
    [("VK_DRIVER_FILES", "/nonexistent/vulkan-driver.json"), ("VK_ICD_FILENAMES", "/nonexistent/vulkan-driver.json")];

/// `llmviz ARGS` with `env` set (and the variables that would choose another driver or backend
/// removed), killed if it is still running after `GUARD`.
fn llmviz_with(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_llmviz"));
    command
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("VK_ADD_DRIVER_FILES")
        .env_remove("WGPU_BACKEND")
        .env_remove("WGPU_ADAPTER_NAME")
        .env_remove(LOSE_DEVICE_ENV)
        .env_remove("WAYLAND_DISPLAY")
        .env_remove(llmviz::cli::CAMERA_ENV)
        .env_remove(llmviz::cli::SCREENSHOT_ENV)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = command.spawn().expect("llmviz starts");
    let pid = child.id();
    let (done, output) = channel();
    std::thread::spawn(move || {
        let _ = done.send(child.wait_with_output());
    });
    match output.recv_timeout(GUARD) {
        Ok(output) => output.expect("llmviz's output"),
        Err(_) => {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            panic!("llmviz {args:?} still running after {} s", GUARD.as_secs());
        }
    }
}

/// A failure whose last line is `expected`'s error, with no panic before it (Bevy may have
/// logged what it saw first).
fn assert_ends_with_error(output: &Output, expected: &str) {
    let err = stderr(output);
    assert!(!output.status.success(), "should fail: {err}");
    assert!(!err.contains("panicked") && !err.contains("RUST_BACKTRACE"), "panicked: {err}");
    let last = err.trim().lines().last().unwrap_or_default();
    assert!(
        last.starts_with(&format!("error: {expected}")),
        "last line '{last}', expected 'error: {expected}...' in:\n{err}"
    );
}

#[test]
fn without_a_vulkan_driver_the_app_screenshot_and_bench_say_so_in_one_line() {
    let picture = Scratch::file("no-driver.png");
    let out = picture.to_str().unwrap();
    for args in [vec!["screenshot", "--out", out, "--size", "160x90"], vec!["bench", "--frames", "1"], vec![]] {
        let output = llmviz_with(&args, &NO_VULKAN_DRIVER);
        assert_clean_failure(&output, "error: no GPU adapter: vulkan");
        assert!(stderr(&output).contains("install a Vulkan driver, e.g. mesa-vulkan-drivers"), "{}", stderr(&output));
    }
    assert!(!std::path::Path::new(out).exists(), "no picture without a GPU");
}

#[test]
fn a_device_lost_while_rendering_ends_screenshot_and_bench_with_the_reason() {
    let _gpu = gpu();
    let picture = Scratch::file("lost-device.png");
    let out = picture.to_str().unwrap();
    for args in
        [vec!["screenshot", "--out", out, "--size", "160x90"], vec!["bench", "--frames", "200", "--size", "160x90"]]
    {
        let output = llmviz_with(&args, &[(LOSE_DEVICE_ENV, "3")]);
        assert_ends_with_error(&output, "the GPU device was lost");
    }
    assert!(!std::path::Path::new(out).exists(), "no picture from a lost device");
}

#[test]
fn a_device_lost_in_the_window_ends_the_app_with_the_reason() {
    let _gpu = gpu();
    let (_server, display) = start_x_server();
    let out = Scratch::file("lost-window.png");
    // The window screenshot keeps frames coming until it is taken, so the loss comes first.
    let env =
        [("DISPLAY", display.as_str()), (llmviz::cli::SCREENSHOT_ENV, out.to_str().unwrap()), (LOSE_DEVICE_ENV, "10")];
    let output = llmviz_with(&[], &env);
    assert_ends_with_error(&output, "the GPU device was lost");
    assert!(!out.exists(), "no screenshot from a lost device");
}
