//! `llmviz layout`: the arrangement of a model's blocks, as a summary or JSON, or its build time.

use super::{CliResult, ModelInput, print_stdout};
use crate::model::GptConfig;

#[derive(clap::Args, Debug)]
pub struct LayoutArgs {
    /// nano, nano-llama, gpt2, gpt2-xl or gpt3.
    #[arg(long, default_value = "nano")]
    pub model: String,
    /// A checkpoint's layout instead of a preset's: T = --max-tokens columns, at most its context.
    #[arg(long)]
    pub weights: Option<std::path::PathBuf>,
    #[arg(long, default_value_t = super::DEFAULT_MAX_TOKENS, value_parser = super::parse_max_tokens)]
    pub max_tokens: usize,
    #[arg(long)]
    pub json: bool,
    /// Time building the layout (median of repeated builds) instead of printing it.
    #[arg(long)]
    pub bench: bool,
}

pub fn layout_command(args: LayoutArgs) -> CliResult {
    let config = match &args.weights {
        Some(path) => {
            let input =
                ModelInput { weights: Some(path.clone()), max_tokens: args.max_tokens, ..ModelInput::default() };
            input.weights()?.config
        }
        None => GptConfig::preset(&args.model).map_err(|e| e.to_string())?,
    };
    if args.bench {
        let mut times: Vec<f64> = (0..11)
            .map(|_| {
                let started = std::time::Instant::now();
                let layout = crate::layout::build(&config);
                let elapsed = started.elapsed().as_secs_f64() * 1e3;
                drop(layout);
                elapsed
            })
            .collect();
        times.sort_by(f64::total_cmp);
        let blocks = crate::layout::build(&config).blocks.len();
        println!(
            "layout {}: {blocks} blocks, median build {:.1} ms over {} builds",
            config.name,
            times[times.len() / 2],
            times.len()
        );
        return Ok(());
    }
    let layout = crate::layout::build(&config);
    if args.json {
        use std::io::Write;
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        // A reader that stops early (`| head`) is fine; anything else is worth reporting.
        match layout.write_json(&mut out).map_err(std::io::Error::from).and_then(|()| writeln!(out)) {
            Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => return Err(format!("writing JSON: {e}")),
            _ => {}
        }
        return Ok(());
    }
    print_stdout(layout.summary().trim_end());
    // A Llama has no position table: its positions are rotations, and nothing of it is left undrawn.
    if config.tokens() < config.block_size && config.arch.is_gpt2() {
        print_stdout(&format!(
            "parameters (the checkpoint's): {} (the position embedding is drawn for the first {} of its {} positions)",
            crate::layout::group_digits(config.param_count()),
            config.tokens(),
            config.block_size
        ));
    }
    Ok(())
}
