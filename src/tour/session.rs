//! A tour open for reading: the tour (from its file, reloaded when it changes, or built in), the
//! language it is shown in, and the reader's place in it. The renderer keeps one in a resource and
//! drives it from its systems; what it holds and does needs no renderer, so tests drive it alone.

use std::path::{Path, PathBuf};

use super::live::carry_over;
use super::player::Continued;
use super::shipped::{self, DEFAULT_TOUR_FILE};
use super::translation::{Translation, apply};
use super::{ChapterTimeline, CompiledTour, Layouts, LiveTour, Player, Polled, Tour, TourError, TourFrame};

/// Where to open a tour: a file, a chapter in it, a step of the chapter, a language.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TourLink {
    /// The default tour when None.
    pub file: Option<PathBuf>,
    pub chapter: Option<String>,
    /// From 1.
    pub step: Option<usize>,
    /// The language to show the tour in (`es`, `zh-CN`); the tour's own when None.
    pub language: Option<&'static str>,
}

/// Why a tour does not open where it was asked to.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum SessionError {
    /// A step asked for without the chapter to count it in.
    #[error("a step needs a chapter to count in")]
    StepWithoutChapter,
    /// A time into the chapter that is not a number of seconds.
    #[error("time {0}: expected seconds into the chapter")]
    Time(f32),
    /// The tour does not check: its errors, told in one line (the first, and how many more).
    #[error("{}", one_line(errors, path))]
    Tour { path: PathBuf, errors: Vec<TourError> },
    /// The tour has no such chapter, or the chapter no such step: what it has, in one line.
    #[error("{0}")]
    Link(String),
}

/// The open tour and the reader's place in it.
pub struct TourSession {
    /// The tour in use: the last one that checked clean, in the language shown.
    pub compiled: CompiledTour,
    /// The file it came from, watched for edits; None for a built-in copy.
    pub live: Option<LiveTour>,
    /// Why the file as it is now does not load, one line each (the last good tour stays in use).
    pub errors: Vec<String>,
    /// Index into `compiled.chapters`.
    pub chapter: usize,
    pub player: Player,
    pub layouts: Layouts,
    /// The language `compiled` is in, as last set: `en` is the tour as written. Only
    /// `set_language` changes it; the app's choice of language lives with the app.
    language: &'static str,
    /// The tour as written, which `compiled` is a translation of.
    source: CompiledTour,
    translation: Option<Translation>,
    /// Why the language chosen does not show (no translation, or a broken one), in one line.
    pub translation_note: Option<String>,
}

impl TourSession {
    /// Opens a tour at a chapter and time, paused there, as written.
    pub fn new(compiled: CompiledTour, live: Option<LiveTour>, layouts: Layouts, chapter: usize, time: f32) -> Self {
        TourSession {
            source: compiled.clone(),
            compiled,
            live,
            errors: Vec::new(),
            chapter,
            player: Player::paused_at(time),
            layouts,
            language: "en",
            translation: None,
            translation_note: None,
        }
    }

    /// Opens what a `TourLink` names: the file (or the default tour: its file in the working
    /// directory when there is one, else the built-in copy), at the chapter's step (or its start;
    /// the first chapter's start without a chapter), in the link's language.
    pub fn open(link: &TourLink) -> Result<TourSession, SessionError> {
        if link.step.is_some() && link.chapter.is_none() {
            return Err(SessionError::StepWithoutChapter);
        }
        let mut layouts = Layouts::default();
        let (compiled, live) = match &link.file {
            Some(path) => open_file(path, &mut layouts)?,
            None if Path::new(DEFAULT_TOUR_FILE).is_file() => open_file(Path::new(DEFAULT_TOUR_FILE), &mut layouts)?,
            None => (built_in_tour(&mut layouts)?, None),
        };
        let (chapter, time) = match &link.chapter {
            Some(id) => compiled.deep_link(id, link.step).map_err(SessionError::Link)?,
            None => (0, 0.0),
        };
        let mut session = TourSession::new(compiled, live, layouts, chapter, time);
        if let Some(language) = link.language {
            session.set_language(language);
        }
        Ok(session)
    }

    /// Opens a tour file at a chapter (by id; the first without one) and a time into it (seconds;
    /// its start without one), paused there.
    pub fn open_at(file: &Path, chapter: Option<&str>, time: Option<f32>) -> Result<TourSession, SessionError> {
        let link =
            TourLink { file: Some(file.to_path_buf()), chapter: chapter.map(str::to_string), ..TourLink::default() };
        let mut session = TourSession::open(&link)?;
        if let Some(time) = time {
            if !time.is_finite() {
                return Err(SessionError::Time(time));
            }
            session.seek(time);
        }
        Ok(session)
    }

    /// The language the tour is shown in: `en` is the tour as written.
    pub fn language(&self) -> &'static str {
        self.language
    }

    /// Shows the tour in `language`: its translation beside the tour file, else the shipped one,
    /// else the tour as written with a note why. Keeps the reader's chapter and time.
    pub fn set_language(&mut self, language: &'static str) {
        self.language = language;
        (self.translation, self.translation_note) = match language {
            "en" => (None, None),
            _ => match find_translation(&self.source, language) {
                Ok(translation) => (Some(translation), None),
                Err(note) => (None, Some(note)),
            },
        };
        self.translate();
    }

    /// `compiled` from `source` and the translation, at the same chapter and time.
    fn translate(&mut self) {
        let translated = self.translation.as_ref().and_then(|translation| {
            let tour = apply(&self.source.tour, translation);
            CompiledTour::compile(tour, &self.source.file, &mut self.layouts).ok()
        });
        let translated = translated.unwrap_or_else(|| self.source.clone());
        let (chapter, time) = carry_over(&self.compiled, &translated, self.chapter, self.player.time);
        self.compiled = translated;
        self.chapter = chapter;
        self.player.time = time;
    }

    /// The open chapter's timeline.
    pub fn timeline(&self) -> &ChapterTimeline {
        &self.compiled.chapters[self.chapter]
    }

    /// The scene and sidebar now.
    pub fn frame(&self) -> TourFrame {
        self.timeline().evaluate(self.player.time)
    }

    /// Opens a chapter at its start; `playing` starts it at once.
    pub fn open_chapter(&mut self, chapter: usize, playing: bool) {
        self.chapter = chapter.min(self.compiled.chapters.len() - 1);
        let speed = self.player.speed;
        self.player = Player { time: 0.0, playing, speed };
    }

    /// Space: play on; at a chapter's end, the next chapter (if any) starts.
    pub fn continue_playing(&mut self) {
        let timeline = &self.compiled.chapters[self.chapter];
        if self.player.continue_playing(timeline) == Continued::ChapterDone
            && self.chapter + 1 < self.compiled.chapters.len()
        {
            self.open_chapter(self.chapter + 1, true);
        }
    }

    /// Plays on by `seconds` of real time, when playing, stopping at the next break; whether it
    /// stopped there.
    pub fn advance(&mut self, seconds: f32) -> bool {
        self.player.advance(&self.compiled.chapters[self.chapter], seconds)
    }

    /// Moves to a time in the open chapter, clamped to it.
    pub fn seek(&mut self, time: f32) {
        self.player.seek(&self.compiled.chapters[self.chapter], time);
    }

    /// Backspace: back to the previous break.
    pub fn back(&mut self) {
        self.player.back(&self.compiled.chapters[self.chapter]);
    }

    /// On to the next break.
    pub fn skip(&mut self) {
        self.player.skip(&self.compiled.chapters[self.chapter]);
    }

    /// Plays a step (from 0) of the open chapter from its start.
    pub fn play_step(&mut self, step: usize) {
        self.player.play_step(&self.compiled.chapters[self.chapter], step);
    }

    /// Goes to where a step (from 0) of the open chapter starts, paused.
    pub fn jump_to_step(&mut self, step: usize) {
        self.player.jump_to_step(&self.compiled.chapters[self.chapter], step);
    }

    /// Reloads the file if it changed. A good edit takes over at the same chapter and time, in the
    /// same language; a broken one only fills `errors`.
    pub fn poll_file(&mut self) -> Polled {
        let Some(live) = &mut self.live else { return Polled::Unchanged };
        let polled = live.poll(&mut self.layouts);
        match polled {
            Polled::Reloaded => {
                self.source = live.tour.clone();
                self.errors.clear();
                self.set_language(self.language);
            }
            Polled::Broken => self.errors = live.errors.clone(),
            Polled::Unchanged => {}
        }
        polled
    }
}

fn open_file(path: &Path, layouts: &mut Layouts) -> Result<(CompiledTour, Option<LiveTour>), SessionError> {
    let live =
        LiveTour::open(path, layouts).map_err(|errors| SessionError::Tour { path: path.to_path_buf(), errors })?;
    Ok((live.tour.clone(), Some(live)))
}

/// The default tour from its built-in copy, named `built-in tours/NAME.ron` in messages: what
/// opens when no tour is named and its file is not in the working directory.
pub fn built_in_tour(layouts: &mut Layouts) -> Result<CompiledTour, SessionError> {
    let file = format!("built-in {DEFAULT_TOUR_FILE}");
    let path = PathBuf::from(DEFAULT_TOUR_FILE);
    let tour = Tour::parse(shipped::default_tour().text, &file)
        .map_err(|error| SessionError::Tour { path: path.clone(), errors: vec![error] })?;
    CompiledTour::compile(tour, &file, layouts).map_err(|errors| SessionError::Tour { path, errors })
}

/// The translation of a tour into `language` that checks against it: `NAME.LANG.ron` beside the
/// tour's file, else the shipped one of a tour of that name; else why there is none, in one line.
fn find_translation(source: &CompiledTour, language: &str) -> Result<Translation, String> {
    let path = Path::new(source.file.trim_start_matches("built-in "));
    let beside = super::translation::translation_path(path, language);
    let name = path.file_stem().and_then(|stem| stem.to_str()).unwrap_or_default();
    let translation = if beside.is_file() {
        Translation::load(&beside).map_err(|error| error.to_string())?
    } else {
        let Some(text) = shipped::translation(name, language) else {
            return Err(format!("{} has no translation into {language}", source.file));
        };
        Translation::parse(text, &format!("built-in tours/{name}.{language}.ron")).map_err(|error| error.to_string())?
    };
    let checked = super::translation::check(&source.tour, &translation, &beside.display().to_string());
    match checked.errors.first() {
        Some(error) => Err(error.to_string()),
        None => Ok(translation),
    }
}

/// A tour's errors as one line: the first, and how many more `tour check` lists.
fn one_line(errors: &[TourError], path: &Path) -> String {
    match errors {
        [] => format!("{}: cannot open the tour", path.display()),
        [only] => only.to_string(),
        [first, rest @ ..] => {
            format!("{first} (and {} more: see `llmviz tour check {}`)", rest.len(), path.display())
        }
    }
}
