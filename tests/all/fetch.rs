//! `llmviz fetch` against a local HTTP server laid out as the Hugging Face hub: config.json served
//! directly, model.safetensors through a redirect to a "CDN" that honours Range requests, with
//! the hub's X-Linked-Size and X-Linked-Etag headers on the redirect.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use llmviz::model::Weights;
use sha2::{Digest, Sha256};
use tiny_http::{Header, Response, Server};

use crate::cli::{assert_clean_failure, llmviz, stderr, stdout};

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

fn empty_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("llmviz-fetch-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
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
