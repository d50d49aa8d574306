fn main() -> std::process::ExitCode {
    llmviz::cli::main()
}
