//! `llmviz fetch`: a checkpoint from Hugging Face into a folder `--weights` opens. A GPT-2 folder
//! is config.json and model.safetensors; a Llama-family one is config.json, tokenizer.json and the
//! weights, either model.safetensors or the shards its model.safetensors.index.json names.
//!
//! The hub answers a large file with a redirect to its CDN, and says on that redirect how big the
//! file is (`X-Linked-Size`) and its SHA-256 (`X-Linked-Etag`). Redirects are therefore followed
//! here, not by the HTTP client, so that those headers are seen. A download goes to `FILE.part`
//! and is resumed from where it stopped with a Range request; the file gets its name only once
//! its size and hash have been checked.
//!
//! A gated repository (Llama 3.2) is served only to an account that accepted its licence, so
//! `HF_TOKEN` goes with every request as a bearer token, but to the hub's own host only: the CDN's
//! URLs carry their own signature, and a token has no business on another host.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::{CliResult, print_stdout};

#[derive(clap::Args, Debug)]
pub struct FetchArgs {
    /// GPT-2: gpt2, gpt2-medium, gpt2-large, gpt2-xl or distilgpt2. Llama family: smollm2-135m,
    /// qwen2.5-0.5b, qwen3-0.6b, tinyllama or llama-3.2-1b (gated: accept its licence on the hub
    /// and set HF_TOKEN to an access token).
    pub model: String,
    /// Where the hub is: files are read from BASE/REPO/resolve/main/FILE.
    #[arg(long, default_value = "https://huggingface.co")]
    pub from: String,
    /// The folder to write the model's files to; models/MODEL when omitted.
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

/// Which files make a checkpoint's folder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Family {
    /// config.json and model.safetensors.
    Gpt2,
    /// config.json, tokenizer.json and the weights, in one file or in shards.
    Llama,
}

/// A checkpoint `fetch` knows: its name here, its repository on the hub, and whether the hub
/// serves it only to an account that accepted its licence.
#[derive(Debug)]
struct Checkpoint {
    name: &'static str,
    repo: &'static str,
    family: Family,
    gated: bool,
}

/// The checkpoints `fetch` knows, and their repositories on the hub.
static REPOSITORIES: [Checkpoint; 10] = [
    Checkpoint { name: "gpt2", repo: "openai-community/gpt2", family: Family::Gpt2, gated: false },
    Checkpoint { name: "gpt2-medium", repo: "openai-community/gpt2-medium", family: Family::Gpt2, gated: false },
    Checkpoint { name: "gpt2-large", repo: "openai-community/gpt2-large", family: Family::Gpt2, gated: false },
    Checkpoint { name: "gpt2-xl", repo: "openai-community/gpt2-xl", family: Family::Gpt2, gated: false },
    Checkpoint { name: "distilgpt2", repo: "distilbert/distilgpt2", family: Family::Gpt2, gated: false },
    Checkpoint { name: "smollm2-135m", repo: "HuggingFaceTB/SmolLM2-135M", family: Family::Llama, gated: false },
    Checkpoint { name: "qwen2.5-0.5b", repo: "Qwen/Qwen2.5-0.5B", family: Family::Llama, gated: false },
    Checkpoint { name: "qwen3-0.6b", repo: "Qwen/Qwen3-0.6B", family: Family::Llama, gated: false },
    Checkpoint { name: "tinyllama", repo: "TinyLlama/TinyLlama-1.1B-Chat-v1.0", family: Family::Llama, gated: false },
    Checkpoint { name: "llama-3.2-1b", repo: "meta-llama/Llama-3.2-1B", family: Family::Llama, gated: true },
];

/// The files a Hugging Face GPT-2 folder needs.
const FILES: [&str; 2] = ["config.json", "model.safetensors"];

/// The index of a sharded checkpoint: which shard holds each tensor.
const INDEX: &str = "model.safetensors.index.json";

/// Redirects followed before giving up.
const MAX_REDIRECTS: usize = 10;

pub fn fetch(args: FetchArgs) -> CliResult {
    let checkpoint = REPOSITORIES.iter().find(|c| c.name == args.model).ok_or_else(|| {
        let known: Vec<&str> = REPOSITORIES.iter().map(|c| c.name).collect();
        format!("unknown model '{}': expected one of {}", args.model, known.join(", "))
    })?;
    let dir = args.dir.clone().unwrap_or_else(|| Path::new("models").join(&args.model));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: cannot create: {e}", dir.display()))?;
    // Read once, here, so that every request of this fetch shows the same token or none.
    let token = std::env::var("HF_TOKEN").ok().map(|t| t.trim().to_string()).filter(|t| !t.is_empty());
    let hub = Hub::new(&args.from, checkpoint, token)?;
    match checkpoint.family {
        Family::Gpt2 => FILES.iter().try_for_each(|file| hub.file(file, &dir))?,
        Family::Llama => fetch_llama(&hub, &dir)?,
    }
    print_stdout(&format!("open it: llmviz --weights {} --text \"Hello, I'm a language model,\"", dir.display()));
    Ok(())
}

/// config.json, tokenizer.json, then the weights: one file, or an index and every shard it names.
fn fetch_llama(hub: &Hub, dir: &Path) -> CliResult {
    hub.file("config.json", dir)?;
    hub.file("tokenizer.json", dir)?;
    // Only a sharded repository has an index; the hub answers 404 for it in any other.
    if !hub.file_if_there(INDEX, dir)? {
        return hub.file("model.safetensors", dir);
    }
    shards(&dir.join(INDEX))?.iter().try_for_each(|shard| hub.file(shard, dir))
}

/// The files an index's `weight_map` names, each once.
fn shards(index: &Path) -> Result<BTreeSet<String>, String> {
    let text = std::fs::read_to_string(index).map_err(|e| format!("{}: {e}", index.display()))?;
    let json: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: not JSON: {e}", index.display()))?;
    let map = json
        .get("weight_map")
        .and_then(serde_json::Value::as_object)
        .ok_or_else(|| format!("{}: no weight_map object", index.display()))?;
    let mut names = BTreeSet::new();
    for value in map.values() {
        let name = value.as_str().unwrap_or_default();
        // The name becomes a path in the folder and part of a URL: anything but a plain file
        // name could write outside the folder or fetch another repository's file.
        if name.is_empty() || name.contains(['/', '\\']) || name.contains("..") {
            return Err(format!("{}: weight_map names {value}, not a plain file name", index.display()));
        }
        names.insert(name.to_string());
    }
    if names.is_empty() {
        return Err(format!("{}: weight_map names no shard", index.display()));
    }
    Ok(names)
}

/// The hub one fetch reads a checkpoint from, and the token it shows there.
struct Hub {
    agent: ureq::Agent,
    /// `--from`, without a trailing slash.
    base: String,
    /// The hub's scheme, host and port: where the token may go.
    origin: url::Origin,
    checkpoint: &'static Checkpoint,
    token: Option<String>,
}

/// Why a download did not give the file. The hub's 404, 401 and 403 are told apart because what
/// they mean depends on the file and the token; everything else is already a line for the user.
enum Failure {
    /// The hub answered 404 at this URL.
    Missing(String),
    /// The hub answered 401 or 403 (the status) at this URL.
    Denied(String, u16),
    Other(String),
}

impl From<String> for Failure {
    fn from(message: String) -> Self {
        Failure::Other(message)
    }
}

impl Hub {
    fn new(from: &str, checkpoint: &'static Checkpoint, token: Option<String>) -> Result<Self, String> {
        let base = from.trim_end_matches('/').to_string();
        let origin = url::Url::parse(&base).map_err(|e| format!("--from {from}: not a URL: {e}"))?.origin();
        let agent: ureq::Agent =
            ureq::Agent::config_builder().max_redirects(0).http_status_as_error(false).build().into();
        Ok(Hub { agent, base, origin, checkpoint, token })
    }

    /// Whether `url` is on the hub's own host, the only one that sees the token.
    fn holds(&self, url: &str) -> bool {
        url::Url::parse(url).is_ok_and(|url| url.origin() == self.origin)
    }

    /// Downloads the repository's `name` into `dir`; a 404 is an error.
    fn file(&self, name: &str, dir: &Path) -> CliResult {
        match self.download(name, dir)? {
            Some(missing) => Err(format!("{missing}: HTTP 404")),
            None => Ok(()),
        }
    }

    /// Downloads the repository's `name` into `dir`; false when the hub has no such file.
    fn file_if_there(&self, name: &str, dir: &Path) -> Result<bool, String> {
        Ok(self.download(name, dir)?.is_none())
    }

    /// Downloads `name`, and gives the URL the hub answered 404 at, if it did.
    fn download(&self, name: &str, dir: &Path) -> Result<Option<String>, String> {
        let url = format!("{}/{}/resolve/main/{name}", self.base, self.checkpoint.repo);
        match download(self, &url, &dir.join(name)) {
            Ok(()) => Ok(None),
            Err(Failure::Missing(url)) => Ok(Some(url)),
            Err(Failure::Denied(url, status)) => Err(self.denied(&url, status)),
            Err(Failure::Other(message)) => Err(message),
        }
    }

    /// The line for a 401 or 403 from the hub: what the user has to do about it.
    fn denied(&self, url: &str, status: u16) -> String {
        let repo = self.checkpoint.repo;
        let page = format!("{}/{repo}", self.base);
        match (&self.token, self.checkpoint.gated) {
            (Some(_), _) => format!(
                "{url}: HTTP {status}: the hub refused the token in HF_TOKEN: check that it is valid and that \
                 its account may read {repo} (for a gated model, accept its licence at {page})"
            ),
            (None, true) => {
                format!("{repo} is gated: accept its licence at {page} and set HF_TOKEN to an access token")
            }
            (None, false) => format!("{url}: HTTP {status}"),
        }
    }
}

/// What the hub says of a file, from any hop of its redirects.
#[derive(Default, Debug)]
struct Expected {
    size: Option<u64>,
    sha256: Option<String>,
}

/// Downloads `url` to `dest`, resuming `dest.part`, and checks it before renaming it.
fn download(hub: &Hub, url: &str, dest: &Path) -> Result<(), Failure> {
    let part = dest.with_extension(format!("{}.part", dest.extension().and_then(|e| e.to_str()).unwrap_or("")));
    let have = std::fs::metadata(&part).map_or(0, |m| m.len());
    let (response, expected) = follow(hub, url, have)?;
    let status = response.status().as_u16();
    let resumed = status == 206;
    let length = response.body().content_length();
    let total = expected.size.or(length.map(|l| if resumed { l + have } else { l }));
    let file = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .append(resumed)
        .truncate(!resumed)
        .open(&part)
        .map_err(|e| format!("{}: cannot write: {e}", part.display()))?;
    let start = if resumed { have } else { 0 };
    let name = dest.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let bar = progress_bar(total, start, &name, resumed);
    copy_body(response.into_body().into_reader(), file, &bar, &part)?;
    bar.finish();
    check(&part, &expected, total)?;
    std::fs::rename(&part, dest)
        .map_err(|e| Failure::Other(format!("{}: cannot rename to {}: {e}", part.display(), dest.display())))
}

/// GETs `url`, following redirects by hand and noting the hub's size and hash headers on the way;
/// asks for the bytes from `offset` on when part of the file is already here.
fn follow(hub: &Hub, url: &str, offset: u64) -> Result<(ureq::http::Response<ureq::Body>, Expected), Failure> {
    let mut expected = Expected::default();
    let mut url = url.to_string();
    for _ in 0..=MAX_REDIRECTS {
        let mut request = hub.agent.get(&url);
        if offset > 0 {
            request = request.header("Range", format!("bytes={offset}-"));
        }
        if let Some(token) = &hub.token
            && hub.holds(&url)
        {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        let response = request.call().map_err(|e| format!("{url}: {e}"))?;
        let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
        if let Some(size) = header("x-linked-size").and_then(|s| s.parse().ok()) {
            expected.size = Some(size);
        }
        if let Some(etag) = header("x-linked-etag").map(|e| e.trim_matches('"').to_lowercase()) {
            // The hub's X-Linked-Etag of a large file is its SHA-256 in hex.
            expected.sha256 = (etag.len() == 64 && etag.bytes().all(|b| b.is_ascii_hexdigit())).then_some(etag);
        }
        match response.status().as_u16() {
            200 | 206 => return Ok((response, expected)),
            301 | 302 | 303 | 307 | 308 => {
                let location = header("location").ok_or_else(|| format!("{url}: a redirect without a Location"))?;
                url = resolve(&url, &location)?;
            }
            416 => {
                return Err(Failure::Other(format!(
                    "{url}: the server refused to resume at byte {offset} (HTTP 416): delete the .part file and fetch again"
                )));
            }
            404 if hub.holds(&url) => return Err(Failure::Missing(url)),
            status @ (401 | 403) if hub.holds(&url) => return Err(Failure::Denied(url, status)),
            status => return Err(Failure::Other(format!("{url}: HTTP {status}"))),
        }
    }
    Err(Failure::Other(format!("{url}: more than {MAX_REDIRECTS} redirects")))
}

/// A redirect's Location, which may be relative, against the URL that gave it.
fn resolve(base: &str, location: &str) -> Result<String, String> {
    let base = url::Url::parse(base).map_err(|e| format!("{base}: {e}"))?;
    base.join(location).map(String::from).map_err(|e| format!("{location}: not a URL: {e}"))
}

fn progress_bar(total: Option<u64>, start: u64, name: &str, resumed: bool) -> indicatif::ProgressBar {
    let bar = match total {
        Some(total) => indicatif::ProgressBar::new(total),
        None => indicatif::ProgressBar::no_length(),
    };
    let style =
        indicatif::ProgressStyle::with_template("{msg} {bar:40} {bytes}/{total_bytes} {bytes_per_sec}, {eta} left")
            .expect("the template is valid");
    bar.set_style(style);
    bar.set_message(format!("{name}{}", if resumed { " (resumed)" } else { "" }));
    bar.set_position(start);
    bar
}

fn copy_body(mut body: impl Read, mut file: std::fs::File, bar: &indicatif::ProgressBar, part: &Path) -> CliResult {
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        let read = body
            .read(&mut buffer)
            .map_err(|e| format!("{}: the download broke off: {e} (run fetch again to resume)", part.display()))?;
        if read == 0 {
            return file.flush().map_err(|e| format!("{}: cannot write: {e}", part.display()));
        }
        file.write_all(&buffer[..read]).map_err(|e| format!("{}: cannot write: {e}", part.display()))?;
        bar.inc(read as u64);
    }
}

/// The downloaded file has the size and hash the server announced. A file that does not is
/// removed: resuming it would only keep the bad bytes.
fn check(part: &Path, expected: &Expected, total: Option<u64>) -> CliResult {
    let size = std::fs::metadata(part).map_err(|e| format!("{}: {e}", part.display()))?.len();
    let bad = |message: String| {
        let _ = std::fs::remove_file(part);
        Err(format!("{}: {message}; the partial file was removed", part.display()))
    };
    if let Some(total) = total
        && size != total
    {
        return bad(format!("size mismatch: {size} bytes, the server announced {total}"));
    }
    if let Some(sha256) = &expected.sha256 {
        let mut hasher = Sha256::new();
        let mut file = std::fs::File::open(part).map_err(|e| format!("{}: {e}", part.display()))?;
        std::io::copy(&mut file, &mut hasher).map_err(|e| format!("{}: {e}", part.display()))?;
        let found: String = hasher.finalize().iter().map(|b| format!("{b:02x}")).collect();
        if &found != sha256 {
            return bad(format!("hash mismatch: SHA-256 {found}, the server announced {sha256}"));
        }
    }
    Ok(())
}
