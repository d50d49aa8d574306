//! `llmviz tour check FILE...`: tour files checked against the layouts of their models, and
//! translations (`NAME.LANG.ron`) against their tours.

use std::path::{Path, PathBuf};

use clap::Subcommand;

use super::CliResult;
use crate::tour::translation::{self, Translation};
use crate::tour::{CompiledTour, Layouts, Tour};

#[derive(Subcommand, Debug)]
pub enum TourCommand {
    /// Validate tour files against the layout of their model.
    Check { files: Vec<PathBuf> },
}

pub fn tour_command(command: TourCommand) -> CliResult {
    match command {
        TourCommand::Check { files } => check(&files),
    }
}

/// Prints "FILE: ok (...)" for each good file, and each warning on stderr; returns every error
/// of the others, one per line. A file `NAME.LANG.ron` beside a `NAME.ron` is a translation of it.
fn check(files: &[PathBuf]) -> CliResult {
    let mut layouts = Layouts::default();
    let mut errors = Vec::new();
    for path in files {
        let result = match translation::source_of(path).filter(|(source, _)| source.is_file()) {
            Some((source, _)) => check_translation(path, &source, &mut layouts),
            None => CompiledTour::load(path, &mut layouts)
                .map(|compiled| format!("{} chapters, {} steps", compiled.chapters.len(), compiled.step_count()))
                .map_err(|file_errors| file_errors.iter().map(ToString::to_string).collect()),
        };
        match result {
            Ok(summary) => println!("{}: ok ({summary})", path.display()),
            Err(file_errors) => errors.extend(file_errors),
        }
    }
    if errors.is_empty() { Ok(()) } else { Err(errors.join("\n")) }
}

/// A translation against its tour; the translated tour must compile too. Warnings go to stderr.
fn check_translation(path: &Path, source: &Path, layouts: &mut Layouts) -> Result<String, Vec<String>> {
    let lines = |errors: &[crate::tour::TourError]| errors.iter().map(ToString::to_string).collect::<Vec<_>>();
    let tour = Tour::load(source).map_err(|error| vec![error.to_string()])?;
    let translated = Translation::load(path).map_err(|error| vec![error.to_string()])?;
    let file = path.display().to_string();
    let checked = translation::check(&tour, &translated, &file);
    for warning in &checked.warnings {
        eprintln!("warning: {warning}");
    }
    if !checked.errors.is_empty() {
        return Err(lines(&checked.errors));
    }
    let compiled = CompiledTour::compile(translation::apply(&tour, &translated), &file, layouts)
        .map_err(|errors| lines(&errors))?;
    let warned = match checked.warnings.len() {
        0 => String::new(),
        n => format!(", {n} warnings"),
    };
    Ok(format!(
        "translation of {} into {}, {} chapters, {} steps{warned}",
        source.display(),
        translated.language,
        compiled.chapters.len(),
        compiled.step_count()
    ))
}
