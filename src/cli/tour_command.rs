//! `llmviz tour check FILE...`: tour files checked against the layouts of their models.

use std::path::PathBuf;

use clap::Subcommand;

use super::CliResult;
use crate::tour::{CompiledTour, Layouts};

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

/// Prints "FILE: ok (N chapters, M steps)" for each good file and returns every error of the
/// others, one per line.
fn check(files: &[PathBuf]) -> CliResult {
    let mut layouts = Layouts::default();
    let mut errors = Vec::new();
    for path in files {
        match CompiledTour::load(path, &mut layouts) {
            Ok(compiled) => {
                println!("{}: ok ({} chapters, {} steps)", path.display(), compiled.chapters.len(), compiled.step_count())
            }
            Err(file_errors) => errors.extend(file_errors.iter().map(ToString::to_string)),
        }
    }
    if errors.is_empty() { Ok(()) } else { Err(errors.join("\n")) }
}
