//! Files and folders the tests write, under the system's temporary directory: without a guard
//! removing them, every run of the suite left its checkpoints, tours and pictures behind.

use std::ops::Deref;
use std::path::{Path, PathBuf};

/// A file or folder under the system's temporary directory, named for this test process, removed
/// when dropped (also when the test panics), so test runs leave nothing behind.
///
/// `Scratch::file("cli.json")` is `llmviz-cli-{pid}.json` and `Scratch::dir("gpt2-f32")` is
/// `llmviz-gpt2-f32-{pid}`: tests running at once in one process must pass different names, as
/// the first guard dropped removes what the others share.
#[derive(Debug)]
pub struct Scratch(PathBuf);

impl Scratch {
    /// A folder, created empty (an older one of the same name is removed first).
    pub fn dir(name: &str) -> Scratch {
        let scratch = Scratch::file(name);
        std::fs::create_dir_all(&scratch.0).unwrap_or_else(|e| panic!("{}: cannot create: {e}", scratch.0.display()));
        scratch
    }

    /// A path for a file, or for a folder that the code under test makes, not created: an older
    /// file or folder of the same name is removed, so what the test finds there is its own.
    pub fn file(name: &str) -> Scratch {
        let pid = std::process::id();
        // The process id goes before the extension: some writers choose the format by it.
        let named = match name.split_once('.') {
            Some((stem, extension)) => format!("llmviz-{stem}-{pid}.{extension}"),
            None => format!("llmviz-{name}-{pid}"),
        };
        let scratch = Scratch(std::env::temp_dir().join(named));
        scratch.remove();
        scratch
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Whatever is there, ignoring errors: it may never have been written, or be gone already.
    fn remove(&self) {
        if self.0.is_dir() {
            let _ = std::fs::remove_dir_all(&self.0);
        } else {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

impl Deref for Scratch {
    type Target = Path;

    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for Scratch {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        self.remove();
    }
}
