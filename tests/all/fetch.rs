//! `llmviz fetch` against a local HTTP server laid out as the Hugging Face hub: config.json served
//! directly, model.safetensors through a redirect to a "CDN" that honours Range requests, with
//! the hub's X-Linked-Size and X-Linked-Etag headers on the redirect. The Llama-family hub serves
//! a fixture folder, sharded or not, puts its CDN on another host name, and can want a token.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Cursor;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use llmviz::model::Weights;
use sha2::{Digest, Sha256};
use tiny_http::{Header, Response, Server};

use crate::cli::{assert_clean_failure, llmviz, stderr, stdout};
use crate::scratch::Scratch;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny-gpt2").join(name)).unwrap()
}

/// What the hub announces of model.safetensors: its real size and hash, or wrong ones.
#[derive(Clone, Copy)]
struct Announce {
    extra_bytes: u64,
    wrong_hash: bool,
}

/// Serves the fixture folder as BASE/openai-community/gpt2/resolve/main/FILE; returns the base URL
/// and the log of requests ("GET URL RANGE").
fn hub(announce: Announce) -> (String, Arc<Mutex<Vec<String>>>) {
    let server = Server::http("127.0.0.1:0").unwrap();
    let base = format!("http://{}", server.server_addr().to_ip().unwrap());
    let log = Arc::new(Mutex::new(Vec::new()));
    let seen = log.clone();
    let (config, model) = (fixture("config.json"), fixture("model.safetensors"));
    let sha: String = Sha256::digest(&model).iter().map(|b| format!("{b:02x}")).collect();
    let etag = if announce.wrong_hash { "0".repeat(64) } else { sha };
    let header = |name: &str, value: &str| Header::from_bytes(name.as_bytes(), value.as_bytes()).unwrap();
    std::thread::spawn(move || {
        for request in server.incoming_requests() {
            let range = request.headers().iter().find(|h| h.field.equiv("Range")).map(|h| h.value.to_string());
            seen.lock().unwrap().push(format!(
                "{} {} {}",
                request.method(),
                request.url(),
                range.clone().unwrap_or_default()
            ));
            let response = match request.url() {
                "/openai-community/gpt2/resolve/main/config.json" => Response::from_data(config.clone()),
                "/openai-community/gpt2/resolve/main/model.safetensors" => Response::from_data(Vec::new())
                    .with_status_code(302)
                    .with_header(header("Location", "/cdn/model.safetensors?sig=1"))
                    .with_header(header("X-Linked-Size", &(model.len() as u64 + announce.extra_bytes).to_string()))
                    .with_header(header("X-Linked-Etag", &format!("\"{etag}\""))),
                "/cdn/model.safetensors?sig=1" => {
                    let from = range.and_then(|r| r.strip_prefix("bytes=")?.strip_suffix('-')?.parse::<usize>().ok());
                    match from {
                        Some(from) => Response::from_data(model[from..].to_vec()).with_status_code(206).with_header(
                            header("Content-Range", &format!("bytes {from}-{}/{}", model.len() - 1, model.len())),
                        ),
                        None => Response::from_data(model.clone()),
                    }
                }
                _ => Response::from_data(b"not found".to_vec()).with_status_code(404),
            };
            let _ = request.respond(response);
        }
    });
    (base, log)
}

/// Where a fetch is to make its folder: nothing there yet.
fn empty_dir(name: &str) -> Scratch {
    Scratch::file(&format!("fetch-{name}"))
}

const HONEST: Announce = Announce { extra_bytes: 0, wrong_hash: false };

#[test]
fn fetch_downloads_through_the_redirect_and_the_folder_opens() {
    let (base, log) = hub(HONEST);
    let dir = empty_dir("full");
    let output = llmviz(&["fetch", "gpt2", "--from", &base, "--dir", dir.to_str().unwrap()]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(std::fs::read(dir.join("model.safetensors")).unwrap(), fixture("model.safetensors"));
    assert_eq!(std::fs::read(dir.join("config.json")).unwrap(), fixture("config.json"));
    assert!(!dir.join("model.safetensors.part").exists());
    assert!(stdout(&output).contains(&format!("open it: llmviz --weights {}", dir.display())), "{}", stdout(&output));
    assert_eq!(Weights::load(&dir).unwrap().config.n_layer, 2);
    let log = log.lock().unwrap().clone();
    assert!(log.iter().any(|line| line.starts_with("GET /cdn/model.safetensors")), "{log:?}");
}

#[test]
fn fetch_resumes_a_partial_download_with_a_range_request() {
    let (base, log) = hub(HONEST);
    let dir = empty_dir("resume");
    std::fs::create_dir_all(&dir).unwrap();
    let model = fixture("model.safetensors");
    std::fs::write(dir.join("model.safetensors.part"), &model[..500_000]).unwrap();
    let output = llmviz(&["fetch", "gpt2", "--from", &base, "--dir", dir.to_str().unwrap()]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(std::fs::read(dir.join("model.safetensors")).unwrap(), model);
    let log = log.lock().unwrap().clone();
    assert!(log.contains(&"GET /cdn/model.safetensors?sig=1 bytes=500000-".to_string()), "{log:?}");
}

#[test]
fn fetch_refuses_a_size_or_hash_mismatch_and_an_unknown_model() {
    let (base, _) = hub(Announce { extra_bytes: 10, wrong_hash: false });
    let dir = empty_dir("size");
    let output = llmviz(&["fetch", "gpt2", "--from", &base, "--dir", dir.to_str().unwrap()]);
    let size = fixture("model.safetensors").len();
    assert_clean_failure(&output, &format!("size mismatch: {size} bytes, the server announced {}", size + 10));
    assert!(!dir.join("model.safetensors").exists() && !dir.join("model.safetensors.part").exists());

    let (base, _) = hub(Announce { extra_bytes: 0, wrong_hash: true });
    let dir = empty_dir("hash");
    let output = llmviz(&["fetch", "gpt2", "--from", &base, "--dir", dir.to_str().unwrap()]);
    assert_clean_failure(&output, "hash mismatch: SHA-256");
    assert!(!dir.join("model.safetensors").exists());

    let output = llmviz(&["fetch", "gpt5", "--from", &base, "--dir", dir.to_str().unwrap()]);
    assert_clean_failure(
        &output,
        "unknown model 'gpt5': expected one of gpt2, gpt2-medium, gpt2-large, gpt2-xl, distilgpt2",
    );
    let output = llmviz(&["fetch", "gpt2-xl", "--from", &base, "--dir", dir.to_str().unwrap()]);
    assert_clean_failure(&output, "gpt2-xl/resolve/main/config.json: HTTP 404");
}

/// The index of a sharded checkpoint.
const INDEX: &str = "model.safetensors.index.json";

/// The files of a folder of tests/fixtures/tiny-llama, by name.
fn llama_files(folder: &str) -> BTreeMap<String, Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny-llama").join(folder);
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| {
            let entry = entry.unwrap();
            (entry.file_name().to_string_lossy().into_owned(), std::fs::read(entry.path()).unwrap())
        })
        .collect()
}

/// One request the Llama-family hub answered.
#[derive(Clone, Debug)]
struct Seen {
    host: String,
    url: String,
    authorization: Option<String>,
    status: u16,
}

fn answer(status: u16) -> Response<Cursor<Vec<u8>>> {
    Response::from_data(Vec::new()).with_status_code(status)
}

/// The hub's answer for a file it has: a .safetensors file lies on the CDN, at localhost, which
/// is another host than the hub's 127.0.0.1 though the same server.
fn hub_answer(name: &str, data: &[u8], port: u16) -> Response<Cursor<Vec<u8>>> {
    if !name.ends_with(".safetensors") {
        return Response::from_data(data.to_vec());
    }
    let sha: String = Sha256::digest(data).iter().map(|b| format!("{b:02x}")).collect();
    let header = |name: &str, value: &str| Header::from_bytes(name.as_bytes(), value.as_bytes()).unwrap();
    answer(302)
        .with_header(header("Location", &format!("http://localhost:{port}/cdn/{name}")))
        .with_header(header("X-Linked-Size", &data.len().to_string()))
        .with_header(header("X-Linked-Etag", &format!("\"{sha}\"")))
}

/// Serves `files` as BASE/REPO/resolve/main/NAME, 404 for any other. With a token, the hub answers
/// 401 to a request without `Authorization: Bearer TOKEN`, and the CDN, whose URLs are signed,
/// answers 400 to a request with any Authorization. Returns the base URL and what it answered.
fn llama_hub(repo: &str, files: BTreeMap<String, Vec<u8>>, token: Option<&str>) -> (String, Arc<Mutex<Vec<Seen>>>) {
    let server = Server::http("127.0.0.1:0").unwrap();
    let port = server.server_addr().to_ip().unwrap().port();
    let prefix = format!("/{repo}/resolve/main/");
    let wanted = token.map(|token| format!("Bearer {token}"));
    let log = Arc::new(Mutex::new(Vec::new()));
    let seen = log.clone();
    std::thread::spawn(move || {
        for request in server.incoming_requests() {
            let value = |name: &'static str| {
                request.headers().iter().find(|h| h.field.equiv(name)).map(|h| h.value.to_string())
            };
            let (host, authorization) = (value("Host").unwrap_or_default(), value("Authorization"));
            let url = request.url().to_string();
            let response = if let Some(name) = url.strip_prefix("/cdn/") {
                if authorization.is_some() {
                    Some(answer(400))
                } else {
                    files.get(name).map(|data| Response::from_data(data.clone()))
                }
            } else if let Some(name) = url.strip_prefix(&prefix) {
                if wanted.is_some() && authorization != wanted {
                    Some(answer(401))
                } else {
                    files.get(name).map(|data| hub_answer(name, data, port))
                }
            } else {
                None
            };
            let response = response.unwrap_or_else(|| answer(404));
            seen.lock().unwrap().push(Seen { host, url, authorization, status: response.status_code().0 });
            let _ = request.respond(response);
        }
    });
    (format!("http://127.0.0.1:{port}"), log)
}

/// `llmviz fetch ARGS` with HF_TOKEN set to `token`, or without it whatever the shell running the
/// tests has.
fn fetch_with_token(args: &[&str], token: Option<&str>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_llmviz"));
    command.arg("fetch").args(args).current_dir(env!("CARGO_MANIFEST_DIR"));
    match token {
        Some(token) => command.env("HF_TOKEN", token),
        None => command.env_remove("HF_TOKEN"),
    };
    command.output().expect("llmviz runs")
}

fn names_in(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir).unwrap().map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned()).collect()
}

/// `dir` holds exactly `names`, each as the hub served it.
fn assert_same_files(dir: &Path, names: &[&str], files: &BTreeMap<String, Vec<u8>>) {
    assert_eq!(names_in(dir), names.iter().map(|name| name.to_string()).collect::<BTreeSet<_>>());
    for name in names {
        assert!(std::fs::read(dir.join(name)).unwrap() == files[*name], "{name} differs from the hub's");
    }
}

#[test]
fn fetch_gets_a_llama_folder_whose_hub_has_no_index() {
    let files = llama_files("llama-tied");
    let (base, log) = llama_hub("HuggingFaceTB/SmolLM2-135M", files.clone(), None);
    let dir = empty_dir("smollm2");
    let output = fetch_with_token(&["smollm2-135m", "--from", &base, "--dir", dir.to_str().unwrap()], None);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains(&format!("open it: llmviz --weights {} --text", dir.display())),
        "{}",
        stdout(&output)
    );
    assert_same_files(&dir, &["config.json", "model.safetensors", "tokenizer.json"], &files);
    let log = log.lock().unwrap().clone();
    let index = format!("/HuggingFaceTB/SmolLM2-135M/resolve/main/{INDEX}");
    assert!(log.iter().any(|seen| seen.url == index && seen.status == 404), "{log:?}");
    let from_cdn = |seen: &Seen| seen.url == "/cdn/model.safetensors" && seen.host.starts_with("localhost:");
    assert!(log.iter().any(|seen| from_cdn(seen) && seen.status == 200), "{log:?}");
}

#[test]
fn fetch_gets_the_index_and_every_shard_it_names_once() {
    let files = llama_files("llama-untied");
    let (base, log) = llama_hub("TinyLlama/TinyLlama-1.1B-Chat-v1.0", files.clone(), None);
    let dir = empty_dir("tinyllama");
    let output = fetch_with_token(&["tinyllama", "--from", &base, "--dir", dir.to_str().unwrap()], None);
    assert!(output.status.success(), "{}", stderr(&output));
    let shards = ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"];
    assert_same_files(&dir, &["config.json", shards[0], shards[1], INDEX, "tokenizer.json"], &files);
    let log = log.lock().unwrap().clone();
    for shard in shards {
        let asked = log.iter().filter(|seen| seen.url.ends_with(&format!("/resolve/main/{shard}"))).count();
        assert_eq!(asked, 1, "{shard}: {log:?}");
    }
    assert!(!log.iter().any(|seen| seen.url.ends_with("/model.safetensors")), "{log:?}");
}

#[test]
fn fetch_refuses_an_index_naming_a_file_outside_the_folder() {
    for (number, shard) in
        ["../model.safetensors", "sub/model.safetensors", "sub\\model.safetensors"].iter().enumerate()
    {
        let mut files = llama_files("llama-untied");
        let index = serde_json::json!({ "weight_map": { "lm_head.weight": shard } });
        files.insert(INDEX.to_string(), index.to_string().into_bytes());
        let (base, log) = llama_hub("TinyLlama/TinyLlama-1.1B-Chat-v1.0", files, None);
        let dir = empty_dir(&format!("escape-{number}"));
        let output = fetch_with_token(&["tinyllama", "--from", &base, "--dir", dir.to_str().unwrap()], None);
        assert_clean_failure(&output, &format!("weight_map names {}, not a plain file name", serde_json::json!(shard)));
        let log = log.lock().unwrap().clone();
        assert!(!log.iter().any(|seen| seen.url.contains("sub") || seen.url.contains("..")), "{log:?}");
    }
}

#[test]
fn a_gated_model_wants_hf_token_and_the_token_goes_to_the_hub_only() {
    let files = llama_files("llama-tied");
    let repo = "meta-llama/Llama-3.2-1B";
    let (base, log) = llama_hub(repo, files.clone(), Some("secret"));
    let dir = empty_dir("gated");
    let args: [&str; 5] = ["llama-3.2-1b", "--from", &base, "--dir", dir.to_str().unwrap()];
    let output = fetch_with_token(&args, None);
    let gated = format!("{repo} is gated: accept its licence at {base}/{repo} and set HF_TOKEN to an access token");
    assert_clean_failure(&output, &gated);
    let output = fetch_with_token(&args, Some("wrong"));
    assert_clean_failure(&output, "config.json: HTTP 401: the hub refused the token in HF_TOKEN");
    assert!(!dir.join("config.json").exists());

    log.lock().unwrap().clear();
    let output = fetch_with_token(&args, Some("secret"));
    assert!(output.status.success(), "{}", stderr(&output));
    assert_same_files(&dir, &["config.json", "model.safetensors", "tokenizer.json"], &files);
    let log = log.lock().unwrap().clone();
    let (on_cdn, on_hub): (Vec<&Seen>, Vec<&Seen>) = log.iter().partition(|seen| seen.url.starts_with("/cdn/"));
    assert!(!on_cdn.is_empty(), "{log:?}");
    assert!(on_cdn.iter().all(|seen| seen.host.starts_with("localhost:") && seen.authorization.is_none()), "{log:?}");
    let with_token =
        |seen: &&Seen| seen.host.starts_with("127.0.0.1:") && seen.authorization.as_deref() == Some("Bearer secret");
    assert!(on_hub.iter().all(with_token), "{log:?}");
}
