//! One offscreen GPU app at a time, for every test module: each renders on all cores, and
//! lavapipe compiles its pipelines per app, so two at once only slow each other down.

use std::sync::{Mutex, MutexGuard};

static GPU: Mutex<()> = Mutex::new(());

/// Held while a test's offscreen app lives. A test that failed holding it poisons it; the next one
/// takes it all the same, since the app it guarded is gone.
pub fn gpu() -> MutexGuard<'static, ()> {
    GPU.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
