#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    llmviz::cli::main()
}

/// In the browser the page's address is the command line: see `llmviz::web`.
#[cfg(target_arch = "wasm32")]
fn main() {
    llmviz::web::main()
}
