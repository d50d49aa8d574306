//! The open tour without the app: opening it where a link says, translating it and back, moving
//! the reader, and reloading its file after an edit, good or broken.

use std::path::{Path, PathBuf};

use llmviz::tour::session::built_in_tour;
use llmviz::tour::shipped::{self, DEFAULT_TOUR_FILE};
use llmviz::tour::{CompiledTour, Layouts, Polled, SessionError, TourLink, TourSession};

use crate::scratch::Scratch;

fn tour_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tours/nano-gpt.ron")
}

/// A folder of its own holding a copy of the nano-gpt tour and its Spanish translation.
fn copied_tour(name: &str) -> Scratch {
    let dir = Scratch::dir(&format!("session-{name}"));
    for file in ["nano-gpt.ron", "nano-gpt.es.ron"] {
        std::fs::copy(Path::new(env!("CARGO_MANIFEST_DIR")).join("tours").join(file), dir.join(file)).unwrap();
    }
    dir
}

#[test]
fn the_built_in_tour_is_the_default_tour_file_and_opens_paused_at_its_start() {
    assert_eq!(DEFAULT_TOUR_FILE, format!("tours/{}.ron", shipped::default_tour().name));
    let mut layouts = Layouts::default();
    let built_in = built_in_tour(&mut layouts).expect("the built-in tour checks");
    assert_eq!(built_in.file, "built-in tours/nano-gpt.ron");
    let file = CompiledTour::load(&tour_file(), &mut layouts).unwrap();
    assert_eq!(built_in.tour, file.tour);

    let mut session = TourSession::new(built_in, None, layouts, 0, 0.0);
    assert_eq!((session.chapter, session.player.time, session.player.playing), (0, 0.0, false));
    assert_eq!((session.timeline().id.as_str(), session.language()), ("overview", "en"));
    assert_eq!(session.poll_file(), Polled::Unchanged, "a built-in tour has no file to reload");

    let opened = TourSession::open(&TourLink::default()).expect("the default tour opens");
    assert_eq!((opened.chapter, opened.player.time, opened.player.playing), (0, 0.0, false));
}

#[test]
fn a_link_opens_its_chapter_at_its_step_in_its_language() {
    let link = TourLink {
        file: Some(tour_file()),
        chapter: Some("self-attention".into()),
        step: Some(2),
        language: Some("es"),
    };
    let session = TourSession::open(&link).expect("the link opens");
    assert_eq!(session.timeline().id, "self-attention");
    assert_eq!(session.player.time, session.timeline().step_time(1));
    assert!(!session.player.playing, "a deep link waits for the reader");
    assert_eq!((session.language(), session.timeline().title.as_str()), ("es", "Autoatención"));
    assert_eq!(session.translation_note, None);
}

#[test]
fn a_tour_that_does_not_open_says_why_in_a_typed_error_naming_no_flag() {
    let file = Some(tour_file());
    let step_alone = TourLink { file: file.clone(), step: Some(2), ..TourLink::default() };
    assert_eq!(TourSession::open(&step_alone).err(), Some(SessionError::StepWithoutChapter));
    assert!(matches!(
        TourSession::open_at(&tour_file(), Some("embedding"), Some(f32::NAN)),
        Err(SessionError::Time(time)) if time.is_nan()
    ));

    let nowhere = TourLink { file: file.clone(), chapter: Some("nowhere".into()), ..TourLink::default() };
    let Err(SessionError::Link(message)) = TourSession::open(&nowhere) else { panic!("a link error") };
    assert!(message.contains("no chapter 'nowhere'") && message.contains("self-attention"), "{message}");
    let step_9 = TourLink { file, chapter: Some("embedding".into()), step: Some(99), ..TourLink::default() };
    let Err(SessionError::Link(message)) = TourSession::open(&step_9) else { panic!("a link error") };
    assert!(message.contains("not 99"), "{message}");

    let missing = Path::new("no/such/tour.ron");
    let error = TourSession::open_at(missing, None, None).err().expect("a missing file does not open");
    assert!(matches!(&error, SessionError::Tour { path, .. } if path == missing), "{error:?}");
    assert!(error.to_string().starts_with("no/such/tour.ron"), "{error}");

    let dir = copied_tour("unopenable");
    let broken = dir.join("nano-gpt.ron");
    let good = std::fs::read_to_string(&broken).unwrap();
    std::fs::write(&broken, good.replace("Focus(block: \"wte\"", "Focus(block: \"wtf\"").replace("\"wpe\"", "\"wpf\""))
        .unwrap();
    let error = TourSession::open_at(&broken, None, None).err().expect("a broken file does not open");
    let SessionError::Tour { errors, .. } = &error else { panic!("{error:?}") };
    assert!(errors.len() > 1, "{errors:?}");
    let line = error.to_string();
    assert!(line.contains(&format!("(and {} more: see `llmviz tour check {}`)", errors.len() - 1, broken.display())));
    for error in [line, message, SessionError::StepWithoutChapter.to_string(), SessionError::Time(-1.0).to_string()] {
        assert!(!error.contains("--"), "{error}");
    }
}

#[test]
fn translating_and_back_keeps_the_readers_chapter_and_time() {
    let mut session = TourSession::open_at(&tour_file(), Some("self-attention"), Some(12.0)).unwrap();
    let english = session.compiled.tour.clone();
    session.set_language("es");
    assert_eq!((session.language(), session.translation_note.as_deref()), ("es", None));
    assert_eq!((session.timeline().id.as_str(), session.player.time), ("self-attention", 12.0));
    assert_eq!(session.timeline().title, "Autoatención");

    session.set_language("en");
    assert_eq!((session.timeline().id.as_str(), session.player.time), ("self-attention", 12.0));
    assert_eq!(session.compiled.tour, english);

    // A language the tour has no translation into shows it as written, and says why.
    session.set_language("zh-TW");
    assert_eq!(session.language(), "zh-TW");
    assert_eq!(session.compiled.tour, english);
    let note = session.translation_note.clone().expect("a note");
    assert!(note.contains("has no translation into zh-TW"), "{note}");
    session.set_language("en");
    assert_eq!(session.translation_note, None);
}

#[test]
fn continue_back_seek_and_advance_move_the_reader_as_the_player_says() {
    let mut session = TourSession::open_at(&tour_file(), Some("embedding"), None).unwrap();
    let length = session.timeline().length;
    session.seek(1.0e6);
    assert_eq!(session.player.time, length, "seeking is clamped to the chapter");
    session.back();
    let back = session.player.time;
    assert!(back < length, "Backspace goes back to the previous break");
    session.seek(-5.0);
    assert_eq!(session.player.time, 0.0);

    session.skip();
    let first_break = session.player.time;
    assert!(first_break > 0.0 && !session.player.playing, "skipping stops at the next break");
    session.seek(0.0);
    session.continue_playing();
    assert!(session.player.playing);
    assert!(session.advance(first_break + 1.0), "playing stops at the next break");
    assert_eq!((session.player.time, session.player.playing), (first_break, false));
    assert!(!session.advance(0.5), "a paused tour does not move");
    assert_eq!(session.player.time, first_break);

    session.play_step(2);
    assert_eq!((session.player.time, session.player.playing), (session.timeline().steps[2].start, true));
    session.jump_to_step(1);
    assert!(!session.player.playing);

    session.seek(length);
    session.continue_playing();
    assert_eq!(
        (session.timeline().id.as_str(), session.player.time, session.player.playing),
        ("layer-norm", 0.0, true)
    );
    let last = session.compiled.chapters.len() - 1;
    session.open_chapter(last + 5, false);
    assert_eq!(session.chapter, last, "a chapter past the last opens the last");
}

#[test]
fn an_edit_to_the_tour_file_reloads_it_at_the_same_place_and_language() {
    let dir = copied_tour("edited");
    let path = dir.join("nano-gpt.ron");
    let good = std::fs::read_to_string(&path).unwrap();
    let mut session = TourSession::open_at(&path, Some("self-attention"), Some(12.0)).unwrap();
    session.set_language("es");
    assert_eq!(session.poll_file(), Polled::Unchanged);

    std::fs::write(&path, good.replace("title: \"Self-attention\"", "title: \"Self-attention, edited\"")).unwrap();
    assert_eq!(session.poll_file(), Polled::Reloaded);
    assert!(session.errors.is_empty());
    assert_eq!((session.timeline().id.as_str(), session.player.time), ("self-attention", 12.0));
    assert_eq!((session.language(), session.timeline().title.as_str()), ("es", "Autoatención"), "still in Spanish");
    session.set_language("en");
    assert_eq!(session.timeline().title, "Self-attention, edited");
}

#[test]
fn a_broken_edit_keeps_the_last_good_tour_with_its_errors_until_fixed() {
    let dir = copied_tour("broken");
    let path = dir.join("nano-gpt.ron");
    let good = std::fs::read_to_string(&path).unwrap();
    let mut session = TourSession::open_at(&path, Some("embedding"), Some(3.0)).unwrap();
    let before = session.compiled.tour.clone();

    std::fs::write(&path, good.replace("Focus(block: \"wte\"", "Focus(block: \"wtf\"")).unwrap();
    assert_eq!(session.poll_file(), Polled::Broken);
    assert!(session.errors.iter().any(|error| error.contains("wtf")), "{:?}", session.errors);
    assert_eq!(session.compiled.tour, before, "the last good tour stays in use");
    assert_eq!((session.timeline().id.as_str(), session.player.time), ("embedding", 3.0));
    assert_eq!(session.poll_file(), Polled::Unchanged, "the same broken text is not read again");

    std::fs::write(&path, &good).unwrap();
    assert_eq!(session.poll_file(), Polled::Reloaded);
    assert!(session.errors.is_empty(), "{:?}", session.errors);
    assert_eq!((session.timeline().id.as_str(), session.player.time), ("embedding", 3.0));
}
