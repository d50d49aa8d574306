//! `llmviz inspect` and `llmviz explain`: the model run on an input, and one cell's calculation.

use serde_json::{Map, Value, json};

use super::{BackendArg, CliResult, ModelInput, model_error, print_stdout};
use crate::layout::group_digits;
use crate::model::ablation::Ablation;
use crate::model::decode::DecodeStep;
use crate::model::sampling::{self, Sampling, SamplingError, SplitMix64};
use crate::model::tokenizer::Tokenizer;
use crate::model::{Activations, BackendKind, LoadedModel};

#[derive(clap::Args, Debug)]
pub struct InspectArgs {
    #[command(flatten)]
    pub model: ModelInput,
    #[arg(long, value_enum, default_value = "ndarray")]
    pub backend: BackendArg,
    /// Print the tokens, their pieces and every tensor as JSON instead of a summary.
    #[arg(long)]
    pub json: bool,
    /// Continue the input, feeding each prediction back: N tokens, as many as the input has when N
    /// is omitted. The most likely token each time, unless --temperature is given.
    #[arg(long, num_args = 0..=1, default_missing_value = "0", value_name = "N")]
    pub generate: Option<usize>,
    /// Sample instead: divide the logits by T (more than 0) before the softmax.
    #[arg(long, value_name = "T")]
    pub temperature: Option<f32>,
    /// With --temperature: draw only from the K likeliest tokens.
    #[arg(long, value_name = "K", requires = "temperature")]
    pub top_k: Option<usize>,
    /// With --temperature: draw only from the likeliest tokens whose probabilities add up to P.
    #[arg(long, value_name = "P", requires = "temperature")]
    pub top_p: Option<f32>,
    /// With --temperature: the generator's seed (one is picked, and printed, when omitted).
    #[arg(long, value_name = "S", requires = "temperature")]
    pub seed: Option<u64>,
    /// Switch parts off (their outputs set to zero) and compare with the model's own pass:
    /// comma-separated blockL.headH, blockL.mlp, blockL.gelu.N (GPT-2) or blockL.swiglu.N (Llama).
    #[arg(long, value_name = "PARTS")]
    pub ablate: Option<String>,
}

impl InspectArgs {
    /// The sampling asked for, checked; None for greedy.
    fn sampling(&self) -> Result<Option<Sampling>, String> {
        self.temperature
            .map(|temperature| {
                Sampling { temperature, top_k: self.top_k, top_p: self.top_p }.checked().map_err(sampling_error)
            })
            .transpose()
    }
}

/// A sampling setting refused, worded with its flag.
fn sampling_error(error: SamplingError) -> String {
    let (flag, rule) = (sampling_flag(error), error.rule());
    match error {
        SamplingError::Temperature(t) => {
            format!("{flag} {t}: {rule} (for the most likely token every time, leave {flag} out)")
        }
        SamplingError::TopK | SamplingError::TopP(_) => format!("{flag} {}: {rule}", error.value()),
    }
}

/// The flag that gives the setting `error` refuses.
fn sampling_flag(error: SamplingError) -> &'static str {
    match error {
        SamplingError::Temperature(_) => "--temperature",
        SamplingError::TopK => "--top-k",
        SamplingError::TopP(_) => "--top-p",
    }
}

#[derive(clap::Args, Debug)]
pub struct ExplainArgs {
    /// Weights and text; when neither --text nor --input is given, nano reads CBABBC and a model
    /// that reads text "Hello, I'm a language model,".
    #[command(flatten)]
    pub model: ModelInput,
    /// A block name from `llmviz layout --json`, e.g. block0.head1.att.
    #[arg(long)]
    pub block: String,
    /// I,J[,K]: 0-based cell coordinates along the block's x, y and z axes.
    #[arg(long)]
    pub cell: String,
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Args, Debug)]
pub struct TokenizeArgs {
    /// The text to tokenize.
    #[arg(long, conflicts_with = "file", required_unless_present = "file")]
    pub text: Option<String>,
    /// A file whose text to tokenize.
    #[arg(long)]
    pub file: Option<std::path::PathBuf>,
    /// The model whose vocabulary to use: a preset (gpt2's BPE, nano's or nano-llama's letters) ...
    #[arg(long, default_value = "gpt2")]
    pub model: String,
    /// ... or a checkpoint's.
    #[arg(long)]
    pub weights: Option<std::path::PathBuf>,
    /// Print {"tokens": [...], "pieces": [...]} instead of a line per token.
    #[arg(long)]
    pub json: bool,
}

/// `llmviz tokenize`: every token of a text, with no cap; the time it took goes to stderr.
pub fn tokenize(args: TokenizeArgs) -> CliResult {
    let config = match &args.weights {
        Some(path) => crate::model::Weights::load(path).map_err(|e| e.to_string())?.config,
        None => crate::model::GptConfig::preset(&args.model).map_err(|e| e.to_string())?,
    };
    let text = match (&args.text, &args.file) {
        (Some(text), _) => text.clone(),
        (None, Some(file)) => {
            std::fs::read_to_string(file).map_err(|e| format!("{}: cannot read: {e}", file.display()))?
        }
        (None, None) => unreachable!("clap requires --text or --file"),
    };
    let tokenizer =
        Tokenizer::of(&config).ok_or_else(|| format!("model '{}' has no tokenizer llmviz knows", config.name))?;
    // The BPE's tables are built on first use; that is not what the figure is about.
    if tokenizer.takes_free_text() {
        tokenizer.encode("warm up").map_err(|e| e.to_string())?;
    }
    let started = std::time::Instant::now();
    let tokens = tokenizer.encode(&text).map_err(|e| e.to_string())?;
    let elapsed = started.elapsed();
    let pieces: Vec<String> = tokens.iter().map(|&t| tokenizer.piece(t)).collect();
    if args.json {
        print_stdout(&json!({ "tokens": tokens, "pieces": pieces }).to_string());
    } else {
        let lines: Vec<String> =
            tokens.iter().zip(&pieces).map(|(id, piece)| format!("{id:>6} {}", quoted(piece))).collect();
        print_stdout(&lines.join("\n"));
    }
    let words = text.split_whitespace().count();
    eprintln!("{} tokens ({words} words, {} bytes) in {:.1} ms", tokens.len(), text.len(), elapsed.as_secs_f64() * 1e3);
    Ok(())
}

pub fn inspect(args: InspectArgs) -> CliResult {
    let sampling = args.sampling()?;
    let weights = args.model.weights()?;
    let tokens = args.model.tokens(&weights.config, false)?;
    let tokenizer = Tokenizer::of(&weights.config);
    let piece = |token: usize| tokenizer.as_ref().map_or_else(|| format!("<{token}>"), |t| t.piece(token));
    let ablation = match &args.ablate {
        Some(parts) => Ablation::parse(parts, &weights.config).map_err(|e| format!("--ablate: {e}"))?,
        None => Ablation::default(),
    };
    let model = LoadedModel::new(&weights, args.backend.into());
    let activations =
        model.activations_without(&tokens, &ablation).map_err(|e| format!("--text: {}", model_error(&e)))?;
    let unablated = if ablation.is_empty() { None } else { model.activations(&tokens).ok() };
    // Probabilities of NaN mean nothing: say where the first non-finite value arose instead.
    if let Some(first) = activations.first_non_finite(&weights.config) {
        if !args.model.allow_nonfinite {
            return Err(format!(
                "{first}: the weights overflow on this input (--allow-nonfinite prints the results anyway)"
            ));
        }
        eprintln!("warning: {first}");
    }
    let generated = match args.generate {
        Some(count) => {
            let count = if count == 0 { tokens.len() } else { count };
            Some(generate(&args, &model, &tokens, count, sampling.as_ref(), &ablation)?)
        }
        None => None,
    };
    let run = Inspected { tokens, activations, unablated, generated };
    if args.json {
        print_stdout(&inspected_json(&run, sampling.as_ref(), &piece).to_string());
    } else {
        println!("model   {} ({} parameters)", weights.config.name, group_digits(weights.config.param_count()));
        print_inspected(&run, tokenizer.as_ref(), &piece);
    }
    Ok(())
}

/// What `inspect` computed, for either way of printing it.
struct Inspected {
    tokens: Vec<usize>,
    activations: Activations,
    /// The model's own pass beside an ablated one.
    unablated: Option<Activations>,
    /// The tokens written, and the line that says a sampled run's seed.
    generated: Option<(Vec<DecodeStep>, Option<String>)>,
}

/// `{"tokens", "pieces", "tensors"}`, with `steps`, `sampled_probs` and `unablated_probs` where
/// asked for; a seed goes to stderr, so that stdout stays one JSON document.
fn inspected_json(run: &Inspected, sampling: Option<&Sampling>, piece: &dyn Fn(usize) -> String) -> Value {
    let pieces: Vec<String> = run.tokens.iter().map(|&t| piece(t)).collect();
    let mut json = activations_json(&run.activations, &pieces);
    if let Some((steps, seed_line)) = &run.generated {
        json["steps"] = steps_json(steps, piece);
        if let Some(seed_line) = seed_line {
            eprintln!("{seed_line}");
        }
    }
    if let Some(sampling) = sampling {
        json["sampled_probs"] = sampled_json(&run.activations, sampling);
    }
    if let Some(unablated) = &run.unablated {
        let probs = &unablated.tensors["probs"];
        json["unablated_probs"] = json!({ "shape": probs.shape, "data": probs.data });
    }
    json
}

/// Each position's prediction (beside the model's own, for an ablated pass), then what was written.
fn print_inspected(run: &Inspected, tokenizer: Option<&Tokenizer>, piece: &dyn Fn(usize) -> String) {
    println!("tokens  {:?}", run.tokens);
    let own = run.unablated.as_ref().map(Activations::predictions);
    for (position, (next, probability)) in run.activations.predictions().iter().enumerate() {
        let before = own.as_ref().map_or(String::new(), |own| {
            let (token, p) = own[position];
            format!("   (own pass: {:<14} p={p:.4})", quoted(&piece(token)))
        });
        println!(
            "  t={position:<2} {:<14} -> {:<14} p={probability:.4}{before}",
            quoted(&piece(run.tokens[position])),
            quoted(&piece(*next))
        );
    }
    if let Some((steps, seed_line)) = &run.generated {
        // Before the result, so that the last line stays `generated TEXT`.
        if let Some(seed_line) = seed_line {
            print_stdout(seed_line);
        }
        let generated: Vec<usize> = steps.iter().map(|step| step.token).collect();
        let text = match tokenizer {
            Some(tokenizer) => tokenizer.decode(&generated),
            None => format!("{generated:?}"),
        };
        print_stdout(&format!("generated {text}"));
    }
}

/// `count` tokens after `tokens`: the likeliest each time, or sampled, with the line that says
/// the seed.
fn generate(
    args: &InspectArgs,
    model: &LoadedModel,
    tokens: &[usize],
    count: usize,
    sampling: Option<&Sampling>,
    ablation: &Ablation,
) -> Result<(Vec<DecodeStep>, Option<String>), String> {
    let failed = |e| format!("--generate: {}", model_error(&e));
    match sampling {
        None => Ok((model.generate_without(tokens, count, ablation).map_err(failed)?, None)),
        Some(sampling) => {
            let seed = args.seed.unwrap_or_else(sampling::fresh_seed);
            let mut rng = SplitMix64::new(seed);
            let steps = model.generate_sampled(tokens, count, sampling, &mut rng, ablation).map_err(failed)?;
            Ok((steps, Some(format!("seed {seed} ({sampling})"))))
        }
    }
}

/// Every position's distribution as `sampling` reshapes it: `{"temperature", "top_k", "top_p", "shape", "data"}`.
fn sampled_json(activations: &Activations, sampling: &Sampling) -> Value {
    let logits = &activations.tensors["logits"];
    let vocab = logits.shape[1];
    let data: Vec<f32> = logits.data.chunks(vocab).flat_map(|row| sampling::reshape(row, sampling).probs).collect();
    json!({
        "temperature": sampling.temperature,
        "top_k": sampling.top_k,
        "top_p": sampling.top_p,
        "shape": logits.shape,
        "data": data,
    })
}

/// `[{"token", "piece", "positions_computed": [..], "cache_length"}]`: the prefill, then one position a step.
fn steps_json(steps: &[DecodeStep], piece: &dyn Fn(usize) -> String) -> Value {
    let steps: Vec<Value> = steps
        .iter()
        .map(|step| {
            json!({
                "token": step.token,
                "piece": piece(step.token),
                "positions_computed": step.positions_computed.clone().collect::<Vec<_>>(),
                "cache_length": step.cache_length,
            })
        })
        .collect();
    Value::Array(steps)
}

/// A token's piece in quotes, its spaces and newlines visible.
fn quoted(piece: &str) -> String {
    format!("{piece:?}")
}

/// `{"tokens": [...], "pieces": [...], "tensors": {NAME: {"shape", "data"}}}`; future attention scores are null.
pub fn activations_json(activations: &Activations, pieces: &[String]) -> Value {
    let mut tensors = Map::new();
    for (name, tensor) in &activations.tensors {
        let masked_scores = name.ends_with(".att");
        let data: Vec<Value> = if masked_scores {
            let t = tensor.shape[2];
            tensor
                .data
                .iter()
                .enumerate()
                .map(|(i, &v)| if (i % t) > (i / t) % t { Value::Null } else { json!(v) })
                .collect()
        } else {
            tensor.data.iter().map(|&v| json!(v)).collect()
        };
        tensors.insert(name.clone(), json!({ "shape": tensor.shape, "data": data }));
    }
    json!({ "tokens": activations.tokens, "pieces": pieces, "tensors": tensors })
}

pub fn explain_command(args: ExplainArgs) -> CliResult {
    let weights = args.model.weights()?;
    let tokens = args.model.tokens(&weights.config, true)?;
    let cell = crate::explain::parse_cell(&args.cell).map_err(|e| format!("--cell '{}': {e}", args.cell))?;
    let layout = crate::layout::build(&weights.config);
    let activations = LoadedModel::new(&weights, BackendKind::Ndarray)
        .activations(&tokens)
        .map_err(|e| format!("--text: {}", model_error(&e)))?;
    let sources = crate::explain::Sources { layout: &layout, activations: &activations, weights: &weights };
    let explanation = crate::explain::explain(&sources, &args.block, cell).map_err(|e| e.to_string())?;
    if args.json {
        print_stdout(&serde_json::to_string(&explanation).expect("explanations serialize"));
    } else {
        let index: Vec<String> =
            explanation.index_names.iter().zip(&explanation.index).map(|(n, i)| format!("{n} = {i}")).collect();
        print_stdout(&format!(
            "{} {} = {}\n{}: {}",
            explanation.block,
            index.join(", "),
            explanation.value,
            explanation.op.as_str(),
            explanation.formula
        ));
    }
    Ok(())
}
