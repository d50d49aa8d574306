#!/usr/bin/env bash
# Builds the browser version of llmviz into web/dist/: index.html, the JS glue (llmviz.js), the
# WebAssembly (llmviz_bg.wasm), the forward worker (worker.js) and the default model, each with brotli and gzip copies for the
# server to send (web/compress.mjs), then prints their sizes.
#
#   ./web/build.sh            # then serve web/dist, e.g. node web/serve.mjs, and open http://127.0.0.1:8080/
#
# It installs what is missing: the wasm32 target (rustup), wasm-bindgen-cli at the version of the
# wasm-bindgen crate in Cargo.lock (cargo install), and wasm-opt from binaryen (npm, web/package-lock.json).
# LLMVIZ_WASM_OPT=0 skips wasm-opt (a quicker build, a larger .wasm).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    rustup target add wasm32-unknown-unknown
fi

# The CLI must match the crate exactly: the glue it writes and the crate's imports are one version.
bindgen_version=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
if [ "$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $bindgen_version" ]; then
    # No --locked: with it, a yanked dependency of the CLI stops the install.
    cargo install wasm-bindgen-cli --version "$bindgen_version"
fi

if [ "${LLMVIZ_WASM_OPT:-1}" != 0 ] && [ ! -x web/node_modules/.bin/wasm-opt ]; then
    (cd web && npm ci --no-audit --no-fund)
fi

# The app's wasm dependencies (Bevy's webgpu feature, wasm-bindgen, web-sys) are target-specific in
# Cargo.toml; the wasm-release profile optimises for size.
#
# `--export=__wasm_call_ctors`: without it, wasm-ld makes every export of the binary run the static
# constructors first, and the page calls into the app for each string and object that crosses the
# bindings (WebGPU's among them), many times a frame. The 502 constructors are Bevy's reflection
# entries for `inventory`, which only the native build reads (Bevy's `reflect_auto_register`); an
# explicit export tells wasm-ld that whoever loads the module runs them, and in the page no one does.
# Given to the binary's link alone, not in RUSTFLAGS, so that no dependency is rebuilt for it.
cargo rustc --target wasm32-unknown-unknown --profile wasm-release --bin llmviz -- -C link-arg=--export=__wasm_call_ctors

target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
rm -rf web/dist
mkdir -p web/dist
wasm-bindgen --target web --no-typescript --out-dir web/dist --out-name llmviz \
    "$target_dir/wasm32-unknown-unknown/wasm-release/llmviz.wasm"

if [ "${LLMVIZ_WASM_OPT:-1}" != 0 ]; then
    # The features rustc enables by default for wasm32-unknown-unknown, and SIMD (.cargo/config.toml):
    # every browser with WebGPU has them. --strip-debug drops the names wasm-bindgen keeps.
    web/node_modules/.bin/wasm-opt -Oz --strip-debug --strip-producers \
        --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
        --enable-mutable-globals --enable-reference-types --enable-multivalue --enable-simd \
        web/dist/llmviz_bg.wasm -o web/dist/llmviz_bg.opt.wasm
    mv web/dist/llmviz_bg.opt.wasm web/dist/llmviz_bg.wasm
fi

raw=$(stat -c %s web/dist/llmviz_bg.wasm)
# The page shows download progress against the .wasm's own size (index.html says why).
sed "s/<meta name=\"llmviz-wasm-bytes\" content=\"\">/<meta name=\"llmviz-wasm-bytes\" content=\"$raw\">/" web/index.html > web/dist/index.html
# The default model is downloaded beside the .wasm (src/model/checkpoint.rs says why).
cp models/nano-sort.safetensors web/dist/nano-sort.safetensors
cp models/nano-llama.safetensors web/dist/nano-llama.safetensors
# The forward worker, which loads the same llmviz.js and .wasm (src/render/scene/values/page.rs).
cp web/worker.js web/dist/worker.js

# Precompressed copies for the server to send (web/serve.mjs), and the sizes.
node web/compress.mjs web/dist/index.html web/dist/llmviz.js web/dist/worker.js web/dist/llmviz_bg.wasm web/dist/nano-sort.safetensors web/dist/nano-llama.safetensors
