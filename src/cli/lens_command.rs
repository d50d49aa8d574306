//! `llmviz lens`: the logit lens, what each layer's residual stream would predict.

use serde_json::{Value, json};

use super::{BackendArg, CliResult, ModelInput, model_error, print_stdout};
use crate::model::LoadedModel;
use crate::model::lens::LensLayer;
use crate::model::tokenizer::Tokenizer;

#[derive(clap::Args, Debug)]
pub struct LensArgs {
    /// Weights and what they read; nano reads CBABBC and a model that reads text "Hello, I'm a
    /// language model," when neither --text nor --input is given.
    #[command(flatten)]
    pub model: ModelInput,
    #[arg(long, value_enum, default_value = "ndarray")]
    pub backend: BackendArg,
    /// How many of the likeliest tokens to give per position.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub top: u64,
    /// Print {"tokens", "pieces", "layers": [{"stream", "top"}]} instead of a table.
    #[arg(long)]
    pub json: bool,
    /// With --json: each layer's whole distribution as well, as "probs": {"shape": [T, V], "data"}.
    #[arg(long, requires = "json")]
    pub full: bool,
}

pub fn lens(args: LensArgs) -> CliResult {
    let weights = args.model.weights()?;
    let tokens = args.model.tokens(&weights.config, true)?;
    let model = LoadedModel::new(&weights, args.backend.into());
    let activations = model.activations(&tokens).map_err(|e| format!("--text: {}", model_error(&e)))?;
    let layers = model.lens(&activations, args.top as usize, args.full);
    let tokenizer = Tokenizer::of(&weights.config);
    let piece = |token: usize| tokenizer.as_ref().map_or_else(|| format!("<{token}>"), |t| t.piece(token));
    if args.json {
        let pieces: Vec<String> = tokens.iter().map(|&t| piece(t)).collect();
        let layers: Vec<Value> = layers.iter().map(layer_json).collect();
        print_stdout(&json!({ "tokens": tokens, "pieces": pieces, "layers": layers }).to_string());
        return Ok(());
    }
    let mut lines = Vec::new();
    for layer in &layers {
        lines.push(format!("{} ({})", stream_title(&layer.stream), layer.stream));
        for (position, ranked) in layer.top.iter().enumerate() {
            let guesses: Vec<String> = ranked.iter().map(|&(id, p)| format!("{:?} {p:.4}", piece(id))).collect();
            lines.push(format!(
                "  t={position:<2} {:<14} -> {}",
                format!("{:?}", piece(tokens[position])),
                guesses.join("  ")
            ));
        }
    }
    print_stdout(&lines.join("\n"));
    Ok(())
}

/// "after the embedding" or "after layer i".
fn stream_title(stream: &str) -> String {
    match stream.strip_prefix("block").and_then(|rest| rest.strip_suffix(".mlp_resid")) {
        Some(layer) => format!("after layer {layer}"),
        None => "after the embedding".into(),
    }
}

/// `{"stream", "top": [[{"id", "p"}, ...] per position], "probs"?: {"shape", "data"}}`.
fn layer_json(layer: &LensLayer) -> Value {
    let top: Vec<Value> =
        layer.top.iter().map(|ranked| ranked.iter().map(|&(id, p)| json!({ "id": id, "p": p })).collect()).collect();
    let mut value = json!({ "stream": layer.stream, "top": top });
    if let Some(probs) = &layer.probs {
        value["probs"] = json!({ "shape": probs.shape, "data": probs.data });
    }
    value
}
