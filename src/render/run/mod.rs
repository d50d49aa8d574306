//! The run room: the app in a window, rendering without one, and the soak that drives it for hours.

pub mod app;
// Offscreen rendering drives the app loop itself, with threads: native only.
#[cfg(not(target_arch = "wasm32"))]
pub mod offscreen;
// The soak drives the offscreen app: native only.
#[cfg(not(target_arch = "wasm32"))]
pub mod soak;
