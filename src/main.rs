#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    llmviz::cli::main()
}

/// In the browser the page's address is the command line: see `llmviz::web`.
#[cfg(target_arch = "wasm32")]
fn main() {
    llmviz::web::main()
}

/// The page's forward worker (web/worker.js) runs a second instance of this wasm and calls these;
/// `llmviz::render::scene::values::page` says why. Exported from the binary itself: the linker
/// keeps a binary's own exports.
#[cfg(target_arch = "wasm32")]
mod page_worker {
    use llmviz::model::checkpoint::Downloaded;
    use llmviz::render::scene::values::page::{self, PageWorker};
    use wasm_bindgen::prelude::*;

    #[wasm_bindgen]
    pub struct ForwardWorker(PageWorker);

    #[wasm_bindgen]
    impl ForwardWorker {
        #[wasm_bindgen(constructor)]
        #[allow(clippy::new_without_default)]
        pub fn new() -> ForwardWorker {
            ForwardWorker(PageWorker::default())
        }

        /// Weights as a safetensors file's bytes, config included.
        pub fn load(&mut self, bytes: &[u8]) {
            self.0.load(bytes);
        }

        /// The checkpoint the page downloaded: its bytes the first time, null after.
        pub fn load_page(
            &mut self,
            bytes: Option<Vec<u8>>,
            name: String,
            config: Option<String>,
            tokenizer: Option<String>,
        ) {
            self.0.load_page(bytes, &Downloaded { name, config, tokenizer });
        }

        pub fn forward(&mut self, generation: f64, tokens: Vec<u32>, ablation: &str) -> js_sys::Object {
            let tokens = tokens.into_iter().map(|token| token as usize).collect();
            self.0.forward(generation as u64, tokens, ablation)
        }

        pub fn lens_pending(&self) -> bool {
            self.0.lens_pending()
        }

        pub fn lens_step(&mut self) -> Option<js_sys::Object> {
            self.0.lens_step()
        }
    }

    /// Wakes the app when the worker has answered (web/index.html calls it).
    #[wasm_bindgen]
    pub fn wake_app() {
        page::wake();
    }
}
