//! Tours in other languages and tours as videos: translations checked against their tours, the
//! app's words in each language, Chinese drawn with its glyphs, and `render-tour`'s frames and MP4.

use std::path::{Path, PathBuf};

use bevy::prelude::*;
use llmviz::i18n::{LANGUAGES, STRINGS, fill, known_language, section_label, tr};
use llmviz::render::overlay::language::ChineseFont;
use llmviz::render::run::offscreen::tour_offscreen_with;
use llmviz::render::run::offscreen::{Frame, Offscreen};
use llmviz::render::tour::player::tour_at;
use llmviz::tour::Action;

use super::cli::{llmviz, stderr, stdout};
use crate::gpu::gpu;
use crate::scratch::Scratch;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn the_shipped_translations_check_clean_beside_the_tours() {
    let mut files: Vec<String> = std::fs::read_dir(root().join("tours"))
        .unwrap()
        .map(|entry| format!("tours/{}", entry.unwrap().file_name().to_string_lossy()))
        .collect();
    files.sort();
    let args: Vec<&str> = ["tour", "check"].into_iter().chain(files.iter().map(String::as_str)).collect();
    let output = llmviz(&args);
    assert!(output.status.success(), "{}", stderr(&output));
    for language in ["es", "zh-CN"] {
        let line = format!(
            "tours/nano-gpt.{language}.ron: ok (translation of tours/nano-gpt.ron into {language}, 10 chapters"
        );
        assert!(stdout(&output).contains(&line), "{}", stdout(&output));
    }
    assert!(!stderr(&output).contains("warning"), "the shipped translations are whole: {}", stderr(&output));
}

/// The Spanish translation with `change` made to its text, checked by `tour check`, and the folder
/// holding it and its tour.
fn check_changed(name: &str, change: impl Fn(&str) -> String) -> (std::process::Output, Scratch) {
    let dir = Scratch::dir(&format!("languages-{name}"));
    std::fs::copy(root().join("tours/nano-gpt.ron"), dir.join("nano-gpt.ron")).unwrap();
    let spanish = std::fs::read_to_string(root().join("tours/nano-gpt.es.ron")).unwrap();
    let changed = change(&spanish);
    assert_ne!(changed, spanish, "{name}: the change applies");
    let file = dir.join("nano-gpt.es.ron");
    std::fs::write(&file, changed).unwrap();
    (llmviz(&["tour", "check", file.to_str().unwrap()]), dir)
}

#[test]
fn a_broken_translation_fails_with_its_file_chapter_step_and_field() {
    let file = |dir: &Scratch| format!("{}/nano-gpt.es.ron", dir.file_name().unwrap().to_string_lossy());
    // Step 5 of the embedding chapter taken out: everything from its number to the chapter's end.
    let missing = check_changed("missing", |text| {
        let start = text.find("\"embedding\"").unwrap();
        let step = start + text[start..].find("5: Step(").unwrap();
        let end = step + text[step..].find("\n            },\n").unwrap();
        format!("{}{}", &text[..step], &text[end..])
    });
    let extra = check_changed("extra", |text| {
        text.replacen("chapters: {", "chapters: {\n        \"epilogue\": Chapter(title: \"Fin\", steps: {}),", 1)
    });
    let link = check_changed("link", |text| text.replacen("(block:wte)", "(block:wtf)", 1));
    let markup = check_changed("markup", |text| {
        let at = text.find("*").unwrap();
        format!("{}{}", &text[..at], &text[at + 1..])
    });
    for ((output, dir), name, expected) in [
        (missing, "missing", "chapter 'embedding', step 5, field steps: step 5 is missing"),
        (extra, "extra", "chapter 'epilogue', field chapters: chapter 'epilogue' is not in the tour"),
        (
            link,
            "link",
            "field text[0]: links to block:wpe, block:wtf, dim:c where the tour links to block:wpe, block:wte, dim:c",
        ),
        (markup, "markup", "column"),
    ] {
        assert!(!output.status.success(), "{name} passes: {}", stdout(&output));
        let errors = stderr(&output);
        assert!(errors.contains(&file(&dir)) && errors.contains(expected), "{name}: {errors}");
        assert!(!errors.contains("panicked"), "{errors}");
    }
}

#[test]
fn a_missing_paragraph_is_a_warning_and_shows_the_source_text() {
    let (output, dir) = check_changed("paragraph", |text| {
        // The first step of the tour with two paragraphs keeps only its first.
        let start = text.find("1: Step(").unwrap();
        let second = start + text[start..].find("\",\n").unwrap() + 2;
        let end = second + text[second..].find("\n                    ],").unwrap();
        format!("{}{}", &text[..second], &text[end..])
    });
    assert!(output.status.success(), "a warning exits 0: {}", stderr(&output));
    assert!(
        stderr(&output).contains("warning:") && stderr(&output).contains("the rest are shown untranslated"),
        "{}",
        stderr(&output)
    );
    assert!(stdout(&output).contains("1 warnings") || stdout(&output).contains("warnings)"), "{}", stdout(&output));

    let mut tour = tour_at(&dir.join("nano-gpt.ron"), None, None).unwrap();
    tour.set_language("es");
    let first = &tour.compiled.tour.chapters[0].steps[0].text;
    let source = llmviz::tour::Tour::load(&dir.join("nano-gpt.ron")).unwrap();
    assert_ne!(first[0], source.chapters[0].steps[0].text[0], "the first paragraph is Spanish");
    assert_eq!(first[1], source.chapters[0].steps[0].text[1], "the second, missing, is the source's");
}

#[test]
fn a_tour_shown_in_another_language_keeps_its_actions_and_place() {
    let file = root().join("tours/nano-gpt.ron");
    let mut tour = tour_at(&file, Some("self-attention"), Some(12.0)).unwrap();
    let english = tour.compiled.clone();
    for (language, title) in [("es", "Autoatención"), ("zh-CN", "自注意力")] {
        tour.set_language(language);
        assert_eq!(tour.translation_note, None);
        assert_eq!((tour.timeline().id.as_str(), tour.player.time), ("self-attention", 12.0), "the reader stays put");
        assert_eq!(tour.timeline().title, title);
        assert_eq!(tour.compiled.chapters.len(), english.chapters.len());
        for (translated, source) in tour.compiled.tour.chapters.iter().zip(&english.tour.chapters) {
            for (step, original) in translated.steps.iter().zip(&source.steps) {
                assert_ne!(step.text, original.text, "{language}: {} is translated", source.id);
                let kinds = |actions: &[Action]| actions.iter().map(Action::kind).collect::<Vec<_>>();
                assert_eq!(kinds(&step.actions), kinds(&original.actions));
            }
        }
        // The timelines are the same but for the focus notes.
        for (translated, source) in tour.compiled.chapters.iter().zip(&english.chapters) {
            assert_eq!(
                (translated.length, &translated.breaks, &translated.camera),
                (source.length, &source.breaks, &source.camera)
            );
        }
        let notes =
            |frame: llmviz::tour::TourFrame| frame.focus.into_iter().filter_map(|focus| focus.note).collect::<Vec<_>>();
        let (shown, original) = (notes(tour.frame()), notes(english.chapters[tour.chapter].evaluate(12.0)));
        assert_eq!(shown.len(), original.len());
        assert_ne!(shown, original, "{language}: the notes are translated");
    }
    tour.set_language("en");
    assert_eq!(tour.compiled.tour, english.tour);
}

#[test]
fn languages_are_known_from_system_and_browser_tags() {
    for (tag, known) in [
        ("es_ES.UTF-8", Some("es")),
        ("es-419", Some("es")),
        ("zh_CN.UTF-8", Some("zh-CN")),
        ("zh-Hans-CN", Some("zh-CN")),
        ("zh", Some("zh-CN")),
        ("zh-TW", None),
        ("zh-Hant", None),
        ("en-GB", Some("en")),
        ("C.UTF-8", None),
        ("fr_FR", None),
    ] {
        assert_eq!(known_language(tag), known, "{tag}");
    }
    let output = llmviz(&["screenshot", "--tour", "tours/nano-gpt.ron", "--lang", "fr", "--out", "/tmp/never.png"]);
    assert!(
        !output.status.success()
            && stderr(&output).contains("'fr' is not a language llmviz speaks: expected one of en, es, zh-CN"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn every_string_of_the_app_has_all_its_languages_with_the_same_blanks() {
    assert_eq!(LANGUAGES.len(), 3);
    let keys: std::collections::HashSet<&str> = STRINGS.iter().map(|row| row[0]).collect();
    assert_eq!(keys.len(), STRINGS.len(), "each English text once");
    for row in STRINGS {
        for text in row {
            assert!(!text.trim().is_empty(), "{row:?}");
            assert_eq!(text.matches("{}").count(), row[0].matches("{}").count(), "{row:?}");
        }
        assert_eq!(tr("en", row[0]), row[0]);
    }
    assert_eq!(tr("es", "Press Space to continue"), "Pulsa Espacio para continuar");
    assert_eq!(fill("zh-CN", "Chapter {} of {}: {}", &[&2, &8, &"嵌入"]), "第 2 章（共 8 章）：嵌入");
    assert_eq!(section_label("es", "Head 2"), "Cabeza 2");
    assert_eq!(section_label("zh-CN", "Self-attention"), "自注意力");
    assert_eq!(section_label("zh-CN", "block7"), "block7", "what the table lacks stays as it is");
}

/// The caption band of the embedding chapter in `language`, drawn with or without the Chinese font.
fn captioned(language: &str, chinese_font: bool) -> Frame {
    let mut tour = tour_at(&root().join("tours/nano-gpt.ron"), Some("embedding"), Some(2.0)).unwrap();
    tour.set_language(known_language(language).unwrap());
    let mut offscreen: Offscreen = tour_offscreen_with(tour, UVec2::new(480, 270), true).unwrap();
    offscreen.world_mut().insert_resource(ChineseFont(chinese_font));
    offscreen.wait_until_ready().unwrap();
    offscreen.capture().unwrap()
}

/// Pixels of the bottom half (where the caption band is) that differ between two pictures.
fn band_differences(a: &Frame, b: &Frame) -> usize {
    let half = (a.height / 2 * a.width * 4) as usize;
    a.rgba[half..].chunks(4).zip(b.rgba[half..].chunks(4)).filter(|(x, y)| x != y).count()
}

#[test]
fn chinese_text_is_drawn_with_its_glyphs_and_is_boxes_without_the_font() {
    let _gpu = gpu();
    let chinese = captioned("zh-CN", true);
    let boxes = captioned("zh-CN", false);
    let glyphs_differ = band_differences(&chinese, &boxes);
    assert!(glyphs_differ > 2000, "the Chinese font changes {glyphs_differ} pixels of the caption");
    // The font adds Chinese glyphs only: Spanish is drawn the same with it or without it.
    let (spanish, spanish_without) = (captioned("es", true), captioned("es", false));
    assert_eq!(band_differences(&spanish, &spanish_without), 0);
    chinese.save_png(&Scratch::file("languages-zh.png")).unwrap();
}

/// A one-chapter tour of 1.1 s (its text fading in, then one camera move).
fn short_tour(dir: &Path) -> PathBuf {
    let file = dir.join("short.ron");
    let text = r#"Tour(title: "Short", model: "nano", chapters: [Chapter(id: "one", title: "One", camera: Overview, steps: [
        Step(text: ["A *short* chapter, for [x](block:x)."], actions: [Camera(to: Block("x"), duration: 0.6)]),
    ])])"#;
    std::fs::write(&file, text).unwrap();
    file
}

fn frames_in(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut frames: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "png"))
        .map(|path| (path.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&path).unwrap()))
        .collect();
    frames.sort();
    frames
}

#[test]
fn render_tour_writes_every_frame_the_same_twice_and_an_mp4() {
    let _gpu = gpu();
    let dir = Scratch::dir("languages-video");
    let tour = short_tour(&dir);
    let render = |out: &Path| {
        let args = [
            "render-tour",
            "--tour",
            tour.to_str().unwrap(),
            "--chapter",
            "one",
            "--out",
            out.to_str().unwrap(),
            "--size",
            "160x90",
            "--fps",
            "10",
        ];
        let output = llmviz(&args);
        assert!(output.status.success(), "{}", stderr(&output));
        output
    };
    let (first, second) = (dir.join("first"), dir.join("second/deeper"));
    let said = stdout(&render(&first));
    render(&second);
    // 0.5 s of text and 0.6 s of camera: floor(1.1 × 10) + 1 frames.
    let frames = frames_in(&first);
    assert_eq!(frames.len(), 12, "{said}");
    assert_eq!(frames.first().unwrap().0, "frame-00000.png");
    assert_eq!(frames.last().unwrap().0, "frame-00011.png");
    assert_eq!(frames, frames_in(&second), "two runs give the same frames, byte for byte");
    assert_ne!(frames[0].1, frames[11].1, "the camera moved");

    let video = dir.join("made/by/render-tour/one.mp4");
    render(&video);
    let probe = std::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "format=duration:stream=codec_name,pix_fmt,nb_frames",
            "-of",
            "default=noprint_wrappers=1",
        ])
        .arg(&video)
        .output()
        .expect("ffprobe runs (test.sh installs ffmpeg)");
    let report = String::from_utf8_lossy(&probe.stdout);
    assert!(
        report.contains("codec_name=h264") && report.contains("pix_fmt=yuv420p") && report.contains("nb_frames=12"),
        "{report}"
    );
    let duration: f64 = report.lines().find_map(|line| line.strip_prefix("duration=")).unwrap().parse().unwrap();
    assert!((duration - 1.2).abs() < 0.05, "12 frames at 10 fps: {duration} s");
}

#[test]
fn render_tour_mistakes_are_one_line() {
    let dir = Scratch::dir("languages-mistakes");
    let tour = short_tour(&dir);
    let out = dir.join("frames");
    let run = |extra: &[&str]| {
        let mut args =
            vec!["render-tour", "--tour", tour.to_str().unwrap(), "--out", out.to_str().unwrap(), "--size", "64x36"];
        args.extend_from_slice(extra);
        llmviz(&args)
    };
    super::cli::assert_clean_failure(&run(&["--chapter", "nope"]), "no chapter 'nope': expected one of one");
    super::cli::assert_clean_failure(&run(&["--fps", "0"]), "--fps 0: must be more than 0");
}
