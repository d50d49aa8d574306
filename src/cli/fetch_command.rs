//! `llmviz fetch`: a GPT-2 checkpoint from Hugging Face into a folder `--weights` opens.
//!
//! The hub answers a large file with a redirect to its CDN, and says on that redirect how big the
//! file is (`X-Linked-Size`) and its SHA-256 (`X-Linked-Etag`). Redirects are therefore followed
//! here, not by the HTTP client, so that those headers are seen. A download goes to `FILE.part`
//! and is resumed from where it stopped with a Range request; the file gets its name only once
//! its size and hash have been checked.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::{CliResult, print_stdout};

#[derive(clap::Args, Debug)]
pub struct FetchArgs {
    /// gpt2, gpt2-medium, gpt2-large, gpt2-xl or distilgpt2.
    pub model: String,
    /// Where the hub is: files are read from BASE/REPO/resolve/main/FILE.
    #[arg(long, default_value = "https://huggingface.co")]
    pub from: String,
    /// The folder to write config.json and model.safetensors to; models/MODEL when omitted.
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

/// The checkpoints `fetch` knows, and their repositories on the hub.
pub const REPOSITORIES: [(&str, &str); 5] = [
    ("gpt2", "openai-community/gpt2"),
    ("gpt2-medium", "openai-community/gpt2-medium"),
    ("gpt2-large", "openai-community/gpt2-large"),
    ("gpt2-xl", "openai-community/gpt2-xl"),
    ("distilgpt2", "distilbert/distilgpt2"),
];

/// The files a Hugging Face GPT-2 folder needs.
const FILES: [&str; 2] = ["config.json", "model.safetensors"];

/// Redirects followed before giving up.
const MAX_REDIRECTS: usize = 10;

pub fn fetch(args: FetchArgs) -> CliResult {
    let repo = REPOSITORIES.iter().find(|(name, _)| *name == args.model).map(|(_, repo)| *repo).ok_or_else(|| {
        let known: Vec<&str> = REPOSITORIES.iter().map(|(name, _)| *name).collect();
        format!("unknown model '{}': expected one of {}", args.model, known.join(", "))
    })?;
    let dir = args.dir.clone().unwrap_or_else(|| Path::new("models").join(&args.model));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: cannot create: {e}", dir.display()))?;
    let agent: ureq::Agent = ureq::Agent::config_builder().max_redirects(0).http_status_as_error(false).build().into();
    for file in FILES {
        let url = format!("{}/{repo}/resolve/main/{file}", args.from.trim_end_matches('/'));
        download(&agent, &url, &dir.join(file))?;
    }
    print_stdout(&format!("open it: llmviz --weights {} --text \"Hello, I'm a language model,\"", dir.display()));
    Ok(())
}

/// What the hub says of a file, from any hop of its redirects.
#[derive(Default, Debug)]
struct Expected {
    size: Option<u64>,
    sha256: Option<String>,
}

/// Downloads `url` to `dest`, resuming `dest.part`, and checks it before renaming it.
fn download(agent: &ureq::Agent, url: &str, dest: &Path) -> CliResult {
    let part = dest.with_extension(format!("{}.part", dest.extension().and_then(|e| e.to_str()).unwrap_or("")));
    let have = std::fs::metadata(&part).map_or(0, |m| m.len());
    let (response, expected) = follow(agent, url, have)?;
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
    std::fs::rename(&part, dest).map_err(|e| format!("{}: cannot rename to {}: {e}", part.display(), dest.display()))
}

/// GETs `url`, following redirects by hand and noting the hub's size and hash headers on the way;
/// asks for the bytes from `offset` on when part of the file is already here.
fn follow(agent: &ureq::Agent, url: &str, offset: u64) -> Result<(ureq::http::Response<ureq::Body>, Expected), String> {
    let mut expected = Expected::default();
    let mut url = url.to_string();
    for _ in 0..=MAX_REDIRECTS {
        let mut request = agent.get(&url);
        if offset > 0 {
            request = request.header("Range", format!("bytes={offset}-"));
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
                return Err(format!(
                    "{url}: the server refused to resume at byte {offset} (HTTP 416): delete the .part file and fetch again"
                ));
            }
            status => return Err(format!("{url}: HTTP {status}")),
        }
    }
    Err(format!("{url}: more than {MAX_REDIRECTS} redirects"))
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
