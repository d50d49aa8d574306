//! The windowed app draws nothing while nothing moves, and wakes for input: `llmviz` in a real X
//! server (Xvfb, no screen needed) on lavapipe, its frames counted from the lines
//! `LLMVIZ_FRAME_LOG=1` makes it print, one per frame.
//!
//! Being idle takes time to observe: the test watches the app for a few seconds after it has
//! settled. That window is the observation, not a speed limit: an idle app draws 0 frames in it
//! however slow the machine, and the timeouts around it only guard against a hang.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::Duration;

/// How long the app is watched with no input.
const IDLE_WINDOW: Duration = Duration::from_secs(5);
/// No frame for this long after the scene is ready counts as settled.
const SETTLED: Duration = Duration::from_secs(1);
/// Guards against a hang: far longer than any of these steps takes.
const GUARD: Duration = Duration::from_secs(300);

/// A child process killed when dropped, so that a failing test leaves nothing running.
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// An X server on a free display; its number, as `:N`, for DISPLAY.
pub fn start_x_server() -> (Killed, String) {
    // -displayfd: Xvfb picks a free display and writes its number once it accepts clients.
    let mut server = Command::new("Xvfb")
        .args(["-displayfd", "1", "-screen", "0", "1280x800x24", "-nolisten", "tcp"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("Xvfb runs (test.sh installs it: apt-get install xvfb)");
    let mut number = String::new();
    BufReader::new(server.stdout.take().expect("piped")).read_line(&mut number).expect("Xvfb says its display");
    (Killed(server), format!(":{}", number.trim()))
}

/// `llmviz` (the nano-gpt tour, as a user opens it) on `display`; each frame line it prints
/// arrives on the receiver as "N ready" or "N loading".
fn start_app(display: &str) -> (Killed, Receiver<String>) {
    let mut app = Command::new(env!("CARGO_BIN_EXE_llmviz"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("DISPLAY", display)
        .env("LLMVIZ_FRAME_LOG", "1")
        .env_remove("WAYLAND_DISPLAY")
        .env_remove(llmviz::cli::CAMERA_ENV)
        .env_remove(llmviz::cli::SCREENSHOT_ENV)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("llmviz starts");
    let stderr = app.stderr.take().expect("piped");
    let (lines, frames) = channel();
    std::thread::spawn(move || {
        let mut rest = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            match line.strip_prefix("llmviz frame ") {
                Some(frame) if lines.send(frame.to_string()).is_err() => break,
                Some(_) => {}
                None => rest.push_str(&line),
            }
        }
        // The app ended: what it said besides frames is the reason.
        let _ = lines.send(format!("ended: {rest}"));
    });
    (Killed(app), frames)
}

/// The next frame line within `wait`: Ok(None) when none came.
fn next_frame(frames: &Receiver<String>, wait: Duration) -> Option<String> {
    match frames.recv_timeout(wait) {
        Ok(line) => {
            assert!(!line.starts_with("ended"), "the app stopped: {line}");
            Some(line)
        }
        Err(RecvTimeoutError::Timeout) => None,
        Err(RecvTimeoutError::Disconnected) => panic!("the app's output ended"),
    }
}

#[test]
fn the_app_in_a_window_draws_no_frame_while_idle_and_wakes_for_input() {
    let (_server, display) = start_x_server();
    let (mut app, frames) = start_app(&display);

    let mut ready_at = None;
    while ready_at.is_none() {
        let line = next_frame(&frames, GUARD).expect("the app drew no frame for minutes while loading");
        ready_at = line.ends_with(" ready").then_some(line);
    }
    // A few frames may follow (egui laying out its panels once more); then nothing.
    let mut after_ready = 0;
    while next_frame(&frames, SETTLED).is_some() {
        after_ready += 1;
        assert!(
            after_ready < 100,
            "after the scene was ready ({ready_at:?}) the app kept drawing: {after_ready} frames"
        );
    }

    let mut idle = Vec::new();
    while let Some(line) = next_frame(&frames, IDLE_WINDOW) {
        idle.push(line);
        assert!(idle.len() < 1000, "the app keeps drawing while idle");
    }
    assert_eq!(idle, Vec::<String>::new(), "frames drawn in {} s without input", IDLE_WINDOW.as_secs());

    // Not asleep for good: the pointer moving over the window is drawn.
    let moved = Command::new("xdotool")
        .args(["mousemove", "300", "300", "mousemove", "320", "310"])
        .env("DISPLAY", &display)
        .status()
        .expect("xdotool runs (test.sh installs it: apt-get install xdotool)");
    assert!(moved.success());
    assert!(next_frame(&frames, GUARD).is_some(), "the pointer moved over the window and no frame followed");
    assert!(app.0.try_wait().expect("the app's status").is_none(), "the app stopped");
}
