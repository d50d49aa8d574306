//! The browser build: the same app in a `<canvas>` of `web/index.html`, its URL in place of a
//! command line.
//!
//! Only what talks to the page lives here:
//! - `DeepLink`: `?model=gpt3`, `?input=CBABBC`, `?tour=nano-gpt&chapter=self-attention&step=2`,
//!   `?weights=URL&text=...` (a GPT-2 folder the page downloaded, see web/index.html), read at
//!   start and rewritten as the reader moves, so the address can be shared;
//! - in the browser only (`browser`): the page's entry point, the canvas, the default model the
//!   page fetched, the loading progress it reports to the page, and the address bar (history).
//!
//! The app itself is the renderer's (`render::run::app::app`), touch camera and browser forward pass
//! included; nothing in it reaches back here.
//!
//! The page itself (`web/index.html`) checks for WebGPU before loading any of this, and says what
//! to do when the browser has none.

use crate::render::RenderError;
use crate::render::tour::player::TourState;
use crate::tour::{CompiledTour, Layouts, Tour, TourSession, shipped};

/// Where the reader is, as the page's query string says it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeepLink {
    /// A model preset without a tour: `nano`, `gpt2`, `gpt2-xl`, `gpt3`.
    pub model: Option<String>,
    /// nano's input letters, such as `CBABBC`.
    pub input: Option<String>,
    pub tour: Option<String>,
    pub chapter: Option<String>,
    /// Counted from 1, as in the tour's sidebar.
    pub step: Option<usize>,
    /// The language, as `i18n::known_language` reads it: `es`, `zh-CN`.
    pub lang: Option<&'static str>,
    /// A checkpoint folder (or `.safetensors` file) the page downloads and opens, by URL.
    pub weights: Option<String>,
    /// The text a model that reads text reads.
    pub text: Option<String>,
}

impl DeepLink {
    /// Reads `?tour=nano-gpt&chapter=self-attention&step=2` (the `?` is optional). Parameters it
    /// does not know are ignored, so links carrying other parameters still open.
    pub fn parse(query: &str) -> Result<DeepLink, String> {
        let mut link = DeepLink::default();
        for (key, value) in form_urlencoded::parse(query.trim_start_matches('?').as_bytes()) {
            let value = || (!value.is_empty()).then(|| value.to_string());
            match key.as_ref() {
                "model" => link.model = value(),
                "input" => link.input = value(),
                "tour" => link.tour = value(),
                "chapter" => link.chapter = value(),
                "weights" => link.weights = value(),
                "text" => link.text = value(),
                "lang" => {
                    let text = value().unwrap_or_default();
                    link.lang = Some(crate::i18n::known_language(&text).ok_or_else(|| {
                        let known: Vec<&str> = crate::i18n::LANGUAGES.iter().map(|(tag, _)| *tag).collect();
                        format!("?lang={text}: llmviz speaks {}", known.join(", "))
                    })?);
                }
                "step" => {
                    let text = value().unwrap_or_default();
                    match text.parse::<usize>() {
                        Ok(step) if step >= 1 => link.step = Some(step),
                        _ => return Err(format!("?step={text}: expected a step number, counting from 1")),
                    }
                }
                _ => {}
            }
        }
        if link.step.is_some() && link.chapter.is_none() {
            return Err("?step needs a ?chapter to count in".into());
        }
        Ok(link)
    }

    /// The query string for this link, `?` included, or empty when everything is at its default.
    pub fn to_query(&self) -> String {
        let step = self.step.map(|step| step.to_string());
        let lang = self.lang.map(str::to_string);
        let pairs = [
            ("tour", self.tour.as_ref()),
            ("chapter", self.chapter.as_ref()),
            ("step", step.as_ref()),
            ("model", self.model.as_ref()),
            ("input", self.input.as_ref()),
            ("weights", self.weights.as_ref()),
            ("text", self.text.as_ref()),
            ("lang", lang.as_ref()),
        ];
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (key, value) in pairs {
            if let Some(value) = value {
                query.append_pair(key, value);
            }
        }
        let query = query.finish();
        if query.is_empty() { String::new() } else { format!("?{query}") }
    }
}

/// The tour a link opens, paused at its chapter's step (the chapter's start without a step, the
/// first chapter without a chapter): `?tour=ID`, a shipped tour (`tour::shipped`: the browser has
/// no files), or the default tour when the link names no model either. None for `?model=NAME`
/// alone, which opens a model without a tour.
pub fn open_tour(link: &DeepLink) -> Option<Result<TourState, String>> {
    if link.tour.is_none() && link.model.is_some() {
        return None;
    }
    let id = link.tour.as_deref().unwrap_or(shipped::default_tour().name);
    let Some(shipped_tour) = shipped::tour(id) else {
        let known: Vec<&str> = shipped::names().collect();
        return Some(Err(format!("?tour={id}: there is no such tour; there are {}", known.join(", "))));
    };
    let file = format!("tours/{id}.ron");
    let mut layouts = Layouts::default();
    let opened = Tour::parse(shipped_tour.text, &file)
        .map_err(|error| vec![error])
        .and_then(|tour| CompiledTour::compile(tour, &file, &mut layouts))
        .map_err(|errors| errors.iter().map(|error| error.to_string()).collect::<Vec<_>>().join("; "))
        .and_then(|compiled| {
            let (chapter, time) = match &link.chapter {
                Some(chapter) => compiled.deep_link(chapter, link.step)?,
                None => (0, 0.0),
            };
            let mut session = TourSession::new(compiled, None, layouts, chapter, time);
            if let Some(language) = link.lang {
                session.set_language(language);
            }
            Ok(TourState(session))
        });
    Some(opened)
}

/// What the page says when the scene a link asks for does not open: the address's parameter
/// named where the reader gave what is refused.
pub fn render_problem(error: &RenderError) -> String {
    match error {
        RenderError::NoWeights { model, input } => {
            format!("?input={input}: model '{model}' has no weights to run, only its structure is shown")
        }
        RenderError::Input { input, error } => format!("?input={input}: {error}"),
        RenderError::StepWithoutChapter => "?step needs a ?chapter to count in".into(),
        error => error.to_string(),
    }
}

/// Where the reader is in a tour, as a link: its id (the file's name), the chapter and the step
/// shown (from 1).
pub fn tour_link(tour: &TourState) -> DeepLink {
    let id = std::path::Path::new(&tour.compiled.file).file_stem().map(|stem| stem.to_string_lossy().into_owned());
    let timeline = tour.timeline();
    DeepLink {
        tour: id,
        chapter: Some(timeline.id.clone()),
        step: Some(timeline.step_at(tour.player.time) + 1),
        lang: (tour.language() != "en").then_some(tour.language()),
        ..DeepLink::default()
    }
}

#[cfg(target_arch = "wasm32")]
pub use browser::main;

#[cfg(target_arch = "wasm32")]
mod browser {
    use std::sync::Arc;

    use bevy::prelude::*;
    use bevy::window::RequestRedraw;
    use bevy_egui::{EguiContext, EguiPreUpdateSet, egui};
    use wasm_bindgen::prelude::*;

    use super::{DeepLink, open_tour, tour_link};
    use crate::model::Weights;
    use crate::model::checkpoint::Downloaded;
    use crate::model::checkpoint::{DEFAULT_MODEL_PATH, WEB_DEFAULT_MODEL};
    use crate::render::overlay::token_strip::OutputSummary;
    use crate::render::scene::blocks::{BlockScene, SceneSource, SceneValues, ValuesState};
    use crate::render::scene::stats::RenderStats;
    use crate::render::tour::player::{TourPlugin, TourState};
    use crate::render::view::camera::TouchCameraPlugin;
    use crate::render::view::pick::{Hovered, Pinned};
    use crate::render::view::viewpoint::ViewPoint;
    use crate::render::{self, DEFAULT_INPUT};

    #[wasm_bindgen]
    extern "C" {
        /// `llmviz.status(stage, detail)`, defined by web/index.html: the loading overlay, and
        /// `document.body.dataset.state` for the browser test.
        #[wasm_bindgen(js_namespace = llmviz, js_name = status)]
        fn page_status(stage: &str, detail: &str);

        /// `llmviz.data(key, value)`: sets `document.body.dataset[key]`.
        #[wasm_bindgen(js_namespace = llmviz, js_name = data)]
        fn page_data(key: &str, value: &str);

        /// `llmviz.defaultModel()`: the bytes of models/nano-sort.safetensors, which the page
        /// downloads beside the .wasm (see `WEB_DEFAULT_MODEL`).
        #[wasm_bindgen(js_namespace = llmviz, js_name = defaultModel)]
        fn page_default_model() -> js_sys::Uint8Array;

        /// `llmviz.userWeights()`: the bytes of the checkpoint `?weights=URL` names (or the files
        /// the reader picked), which the page downloaded; null when the address names none.
        #[wasm_bindgen(js_namespace = llmviz, js_name = userWeights)]
        fn page_user_weights() -> Option<js_sys::Uint8Array>;

        /// `llmviz.userFile(name)`: beside those weights, the text of `config.json` or `vocab.json`
        /// (null when the folder has none), or for `name` the checkpoint's file name.
        #[wasm_bindgen(js_namespace = llmviz, js_name = userFile)]
        fn page_user_file(name: &str) -> Option<String>;

        /// `llmviz.nanoLlama()`: the bytes of models/nano-llama.safetensors, downloaded beside the
        /// default model; null when the page could not get them.
        #[wasm_bindgen(js_namespace = llmviz, js_name = nanoLlama)]
        fn page_nano_llama() -> Option<js_sys::Uint8Array>;
    }

    /// The address of the checkpoint the page opened, kept in the address bar.
    #[derive(Resource)]
    struct UserWeights(String);

    /// The page's entry point (the binary's `main` in the browser), as `render::run::app::run_tour_app` natively:
    /// the tour the address names (the nano-gpt tour by default) at its chapter and step, or with
    /// `?model=NAME` that model without a tour. A link that does not open says why in the page and
    /// opens the default.
    pub fn main() {
        // The forward worker (web/worker.js) instantiates the same wasm, which runs this: there is
        // no window there, and no app to start; it calls `PageWorker` instead.
        if web_sys::window().is_none() {
            return;
        }
        let model = page_default_model().to_vec();
        if let Err(problem) = Weights::parse(std::path::Path::new(DEFAULT_MODEL_PATH), &model) {
            page_status("failed", &problem.to_string());
            return;
        }
        WEB_DEFAULT_MODEL.set(model).expect("main runs once");
        if let Some(bytes) = page_nano_llama().map(|bytes| bytes.to_vec()) {
            match Weights::parse(std::path::Path::new(crate::model::checkpoint::NANO_LLAMA_PATH), &bytes) {
                Ok(_) => drop(crate::model::checkpoint::WEB_NANO_LLAMA.set(bytes)),
                Err(problem) => page_status("warning", &problem.to_string()),
            }
        }
        let query = web_sys::window().and_then(|window| window.location().search().ok()).unwrap_or_default();
        let link = DeepLink::parse(&query).unwrap_or_else(|problem| {
            page_status("warning", &problem);
            DeepLink::default()
        });
        if let Some(bytes) = page_user_weights() {
            match user_source(bytes.to_vec(), &link) {
                Ok(source) => run(source, None, &link),
                Err(problem) => page_status("failed", &problem),
            }
            return;
        }
        let tour = match open_tour(&link) {
            Some(Ok(tour)) => Some(tour),
            Some(Err(problem)) => {
                page_status("warning", &problem);
                open_tour(&DeepLink::default()).and_then(Result::ok)
            }
            None => None,
        };
        let opened = match &tour {
            Some(tour) => tour.opening_scene().map(|(source, view)| (source, Some(view))),
            None => {
                let model = link.model.as_deref().unwrap_or("nano");
                render::scene_source(model, link.input.as_deref()).map(|source| (source, None))
            }
        };
        let (source, view) = opened.unwrap_or_else(|problem| {
            page_status("warning", &super::render_problem(&problem));
            (render::scene_source("nano", None).expect("nano with its built-in weights opens"), None)
        });
        run(source, tour.map(|tour| (tour, view)), &link);
    }

    /// The texts of the checkpoint's folder the page downloaded beside its weights.
    fn page_files() -> Downloaded {
        Downloaded {
            name: page_user_file("name").unwrap_or_else(|| "model.safetensors".into()),
            config: page_user_file("config.json"),
            tokenizer: page_user_file("tokenizer.json"),
        }
    }

    /// A checkpoint the page downloaded (`?weights=`): its weights, with Hugging Face's
    /// `config.json` when given, and for GPT-2 its BPE from `vocab.json`, on `?text=` or the default text.
    fn user_source(bytes: Vec<u8>, link: &DeepLink) -> Result<SceneSource, String> {
        let files = page_files();
        let name = files.name.clone();
        let weights = files.weights(bytes, render::DEFAULT_MAX_TOKENS)?;
        if let Some(vocab) = page_user_file("vocab.json") {
            crate::model::tokenizer::install_gpt2_vocab(&vocab)?;
        }
        let config = &weights.config;
        let tokens = match crate::model::tokenizer::Tokenizer::of(config) {
            Some(tokenizer) if tokenizer.takes_free_text() => {
                let text = link.text.as_deref().unwrap_or(render::DEFAULT_TEXT);
                let (tokens, warning) = crate::render::overlay::live_input::read_input(config, text)
                    .map_err(|error| format!("?text: {error}"))?;
                if let Some(warning) = warning {
                    page_status("warning", &warning);
                }
                tokens
            }
            Some(_) => crate::model::tokenizer::parse_letters(link.input.as_deref().unwrap_or(DEFAULT_INPUT), config)
                .map_err(|error| format!("?input: {error}"))?,
            None if config.vocab_size == crate::model::tokenizer::GPT2_VOCAB_SIZE => {
                let vocab = std::path::Path::new(&name).with_file_name("vocab.json");
                return Err(format!(
                    "{}: missing; GPT-2 reads text through it (Hugging Face's GPT-2 folders have one)",
                    vocab.display()
                ));
            }
            None if !config.arch.is_gpt2() => {
                let tokenizer = std::path::Path::new(&name).with_file_name("tokenizer.json");
                return Err(format!("{}: missing; this model reads text through it", tokenizer.display()));
            }
            None => {
                return Err(format!("{name}: a vocabulary of {} tokens, which llmviz cannot spell", config.vocab_size));
            }
        };
        let source = SceneSource::with_weights(weights, tokens);
        if let Some(weights) = &source.weights {
            crate::render::scene::values::page::set_page_weights(weights);
        }
        Ok(source)
    }

    /// Runs the app on `source`, with a tour and its view, or from the model's overview.
    fn run(source: SceneSource, tour: Option<(TourState, Option<ViewPoint>)>, link: &DeepLink) {
        let (tour, view) = tour.map_or((None, None), |(tour, view)| (Some(tour), view));
        let view = view.unwrap_or_else(|| crate::layout::build(&source.config).overview.into());
        page_status("starting", "Starting the renderer");
        let window = Window {
            title: "llmviz: how a GPT works".into(),
            canvas: Some("#llmviz".into()),
            // The page fills the window, the canvas fills the page and follows its size and the
            // device pixel ratio.
            fit_canvas_to_parent: true,
            // Keep the browser's own keys (reload, find, zoom); the page stops the context menu
            // and scrolling itself.
            prevent_default_event_handling: false,
            ..default()
        };
        let mut app = render::run::app::app(source, view, window);
        // The address's language, else the browser's where llmviz speaks it.
        let browser_language = web_sys::window().and_then(|window| window.navigator().language());
        let language = link.lang.or_else(|| browser_language.as_deref().and_then(crate::i18n::known_language));
        app.insert_resource(crate::render::overlay::language::Language(language.unwrap_or("en")));
        app.add_plugins(TouchCameraPlugin)
            .add_systems(
                PreUpdate,
                set_page_fonts.after(EguiPreUpdateSet::InitContexts).before(EguiPreUpdateSet::BeginPass),
            )
            .add_systems(
                Update,
                (
                    report_loading,
                    follow_in_url,
                    report_to_page,
                    report_values,
                    report_model.run_if(resource_changed::<SceneSource>),
                )
                    .in_set(render::scene::frame::FrameStep::Report),
            );
        if let Some(tour) = tour {
            app.add_plugins(TourPlugin).insert_resource(tour);
        }
        if let Some(url) = &link.weights {
            app.insert_resource(UserWeights(url.clone()));
        }
        app.run();
    }

    /// egui's default fonts less its two emoji fonts, cut down to the characters llmviz writes (see
    /// web/fonts/README.md): Ubuntu Light for text, Hack for numbers and the symbols Ubuntu lacks.
    fn page_fonts() -> egui::FontDefinitions {
        let mut fonts = egui::FontDefinitions::empty();
        let ubuntu = egui::FontData::from_static(include_bytes!("../web/fonts/Ubuntu-Light-derivative-llmviz.ttf"));
        let hack = egui::FontData::from_static(include_bytes!("../web/fonts/Hack-Regular.ttf"));
        fonts.font_data.insert("Ubuntu-Light".into(), Arc::new(ubuntu));
        fonts.font_data.insert("Hack".into(), Arc::new(hack));
        fonts.families.insert(egui::FontFamily::Proportional, vec!["Ubuntu-Light".into(), "Hack".into()]);
        fonts.families.insert(egui::FontFamily::Monospace, vec!["Hack".into(), "Ubuntu-Light".into()]);
        crate::render::overlay::language::add_cjk_font(&mut fonts);
        fonts
    }

    /// The fonts must be in place before the context's first pass, which would have none.
    fn set_page_fonts(mut contexts: Query<&mut EguiContext, Added<EguiContext>>) {
        for mut context in &mut contexts {
            context.get_mut().set_fonts(page_fonts());
        }
    }

    /// What the page shows while loading, in order; `ready` hides the overlay.
    fn loading_stage(
        scene: Option<&BlockScene>,
        values: &SceneValues,
        stats: &crate::render::scene::stats::FrameStats,
    ) -> (&'static str, String) {
        let Some(scene) = scene else { return ("starting", "Building the scene".into()) };
        match &values.state {
            ValuesState::Failed(message) => return ("failed", message.clone()),
            _ if stats.waiting_pipelines > 0 || stats.batches == 0 => {
                return ("shaders", format!("Compiling shaders ({} to go)", stats.waiting_pipelines));
            }
            ValuesState::Computing(_) => return ("model", "Running the model".into()),
            ValuesState::Ready | ValuesState::StructureOnly => {}
        }
        ("ready", format!("{} blocks", scene.blocks.len()))
    }

    /// Tells the page each new loading stage. Until the scene is ready, frames keep coming, so
    /// that compiling pipelines and the forward pass are picked up without waiting for input.
    fn report_loading(
        scene: Option<Res<BlockScene>>,
        values: Res<SceneValues>,
        stats: Res<RenderStats>,
        mut reported: Local<String>,
        mut settled: Local<u32>,
        mut drawn: Local<bool>,
        mut redraw: MessageWriter<RequestRedraw>,
    ) {
        // Loading ends once: afterwards a view with no block in it draws no batch, which is not loading.
        if reported.starts_with("ready\n") {
            return;
        }
        let (mut stage, detail) = loading_stage(scene.as_deref(), &values, &stats.get());
        // A few drawn frames in a row before `ready`: the first drawn frame may still be empty.
        *settled = if stage == "ready" { *settled + 1 } else { 0 };
        if stage == "ready" && *settled < 3 {
            stage = "drawing";
        }
        if stage != "ready" && stage != "failed" {
            redraw.write(RequestRedraw);
        }
        // The first frame with blocks in it, for web/bench.mjs: something to look at, values or not.
        if stats.get().batches > 0 && !*drawn {
            page_data("drawn", "blocks");
            *drawn = true;
        }
        let line = format!("{stage}\n{detail}");
        if *reported != line {
            page_status(stage, &detail);
            *reported = line;
        }
    }

    /// Keeps the address bar on what is shown, so that the address can be shared: the tour's
    /// chapter and step, or the model and its input.
    fn follow_in_url(
        source: Res<SceneSource>,
        tour: Option<Res<TourState>>,
        user: Option<Res<UserWeights>>,
        mut written: Local<Option<String>>,
    ) {
        let query = match &tour {
            Some(tour) => tour_link(tour).to_query(),
            None => link_of_source(&source, user.as_deref()).to_query(),
        };
        if written.as_deref() == Some(query.as_str()) {
            return;
        }
        if let Some(window) = web_sys::window()
            && let Ok(path) = window.location().pathname()
            && let Ok(history) = window.history()
        {
            let _ = history.replace_state_with_url(&JsValue::NULL, "", Some(&format!("{path}{query}")));
        }
        *written = Some(query);
    }

    /// The model, when not nano, and nano's input, when not the default; a downloaded checkpoint's
    /// address and its text.
    fn link_of_source(source: &SceneSource, user: Option<&UserWeights>) -> DeepLink {
        let mut link = DeepLink::default();
        if let Some(UserWeights(url)) = user {
            link.weights = Some(url.clone());
            let text = crate::render::overlay::live_input::input_text_of(&source.config, &source.tokens);
            if text != crate::render::DEFAULT_TEXT && !text.is_empty() {
                link.text = Some(text);
            }
        } else if source.config.name != "nano" {
            link.model = Some(source.config.name.clone());
        } else if source.weights.is_some() {
            let input = crate::render::overlay::live_input::input_text_of(&source.config, &source.tokens);
            if input != DEFAULT_INPUT {
                link.input = Some(input);
            }
        }
        link
    }

    /// The model shown and its input tokens, for the browser test (`data-model`, `data-tokens`).
    fn report_model(source: Res<SceneSource>) {
        page_data("model", &source.config.name);
        let tokens: Vec<String> = source.tokens.iter().map(usize::to_string).collect();
        page_data("tokens", &tokens.join(","));
    }

    /// The values on screen, for the browser test (`data-shown`), whenever they change:
    /// `computing` while a pass runs (the last values stay drawn), else the tokens of the pass
    /// shown, the likeliest next token at its last position, and `lens` once its lens is drawn too,
    /// as `15496,995 -> 11 lens`.
    fn report_values(values: Res<SceneValues>, summary: Res<OutputSummary>, mut reported: Local<String>) {
        if !values.is_changed() && !summary.is_changed() {
            return;
        }
        let shown = match (&values.state, values.activations.as_deref()) {
            (ValuesState::Computing(_), _) => "computing".into(),
            (ValuesState::Ready, Some(shown)) => {
                let tokens: Vec<String> = shown.tokens.iter().map(usize::to_string).collect();
                let best = summary.top.last().and_then(|row| row.first()).map(|(token, _)| token.to_string());
                let lens = if shown.lens.is_empty() { "" } else { " lens" };
                format!("{} -> {}{lens}", tokens.join(","), best.unwrap_or_default())
            }
            _ => String::new(),
        };
        if *reported != shown {
            page_data("shown", &shown);
            *reported = shown;
        }
    }

    /// What the page (and the browser test, which cannot read the canvas's widgets) can know of the
    /// app, as `data-` attributes of the page's body: the hovered cell, how many cards are pinned,
    /// and the tour's time.
    fn report_to_page(
        hovered: Option<Res<Hovered>>,
        pinned: Option<Res<Pinned>>,
        scene: Option<Res<BlockScene>>,
        tour: Option<Res<TourState>>,
        mut reported: Local<Vec<String>>,
    ) {
        let hovered = match (hovered.as_deref().and_then(|hovered| hovered.cell), &scene) {
            (Some(cell), Some(scene)) => {
                let [x, y, z] = cell.cell;
                format!("{}[{x},{y},{z}]", scene.layout.blocks[cell.block].name)
            }
            _ => String::new(),
        };
        let pinned = pinned.map(|pinned| pinned.cells.len()).unwrap_or_default().to_string();
        let tour =
            tour.map(|tour| format!("{:.1}{}", tour.player.time, if tour.player.playing { " playing" } else { "" }));
        let now = [("hovered", hovered), ("pinned", pinned), ("tourTime", tour.unwrap_or_default())];
        reported.resize(now.len(), "\0".into());
        for ((key, value), reported) in now.into_iter().zip(reported.iter_mut()) {
            if *reported != value {
                page_data(key, &value);
                *reported = value;
            }
        }
    }
}
