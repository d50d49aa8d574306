//! The open tour file, reloaded when it changes: an edit takes effect without restarting, and a
//! broken edit (or the file removed, or caught half-written) leaves the last good tour running
//! beside its errors.
//!
//! Polling, not OS file events: a thread beside the app reads the file twice a second and, when
//! its text changed, has the app call `poll`, which reads it again and compares its text with the
//! last one read. That works the same on every platform, on files replaced by editors, and for
//! two edits within one tick of the file system's clock.

use std::path::{Path, PathBuf};

use super::{CompiledTour, Layouts, TourError};

/// What a `poll` found.
#[derive(Clone, Debug, PartialEq)]
pub enum Polled {
    Unchanged,
    /// The file changed and the new tour is in use.
    Reloaded,
    /// The file changed but does not check; the last good tour stays in use.
    Broken,
}

pub struct LiveTour {
    path: PathBuf,
    /// The last tour that checked clean.
    pub tour: CompiledTour,
    /// The errors of the file as it is now, one line each; empty when it checks clean.
    pub errors: Vec<String>,
    /// The text last read, good or not; None when the file could not be read.
    text: Option<String>,
}

impl LiveTour {
    /// Opens a tour; it must check clean the first time, since there is no good tour to fall back on.
    pub fn open(path: &Path, layouts: &mut Layouts) -> Result<LiveTour, Vec<TourError>> {
        let text = std::fs::read_to_string(path).ok();
        let tour = CompiledTour::load(path, layouts)?;
        Ok(LiveTour { path: path.to_path_buf(), tour, errors: Vec::new(), text })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reloads the file if its text changed. A file that cannot be read (removed, or between an
    /// editor's delete and write) is broken like a bad edit, and whatever text it has next is new.
    pub fn poll(&mut self, layouts: &mut Layouts) -> Polled {
        let file = self.path.display().to_string();
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(_) if self.text.is_none() => return Polled::Unchanged,
            Err(error) => {
                self.text = None;
                self.errors = vec![format!("{file}: cannot read: {error}")];
                return Polled::Broken;
            }
        };
        if self.text.as_ref() == Some(&text) {
            return Polled::Unchanged;
        }
        let text = self.text.insert(text);
        let compiled = super::Tour::parse(text, &file)
            .map_err(|error| vec![error])
            .and_then(|tour| CompiledTour::compile(tour, &file, layouts));
        match compiled {
            Ok(tour) => {
                self.tour = tour;
                self.errors.clear();
                Polled::Reloaded
            }
            Err(errors) => {
                self.errors = errors.iter().map(ToString::to_string).collect();
                Polled::Broken
            }
        }
    }
}

/// Where the reader should be after a reload: the same chapter (by id, else the first) at the
/// same time, clamped to the chapter's new length.
pub fn carry_over(old: &CompiledTour, new: &CompiledTour, chapter: usize, time: f32) -> (usize, f32) {
    let id = old.tour.chapters.get(chapter).map(|chapter| chapter.id.as_str()).unwrap_or_default();
    let chapter = new.tour.chapter(id).unwrap_or(0);
    (chapter, time.clamp(0.0, new.chapters[chapter].length))
}
