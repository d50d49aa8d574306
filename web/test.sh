#!/usr/bin/env bash
# The browser stage of the tests: builds web/dist (web/build.sh) and runs web/test/*.test.mjs in
# Debian's Chromium, headed under Xvfb, with WebGPU on the CPU (SwiftShader). On a fresh Debian
# machine it first installs what that needs: chromium, xvfb, Node.js's playwright-core and binaryen
# (npm ci), and, through build.sh, the wasm32 target and wasm-bindgen-cli.
set -euo pipefail
cd "$(dirname "$0")/.."

tests/need-packages.sh web/test.sh chromium xvfb xauth cmd:node=nodejs cmd:npm=npm

(cd web && npm ci --no-audit --no-fund --loglevel=error)

start=$SECONDS
./web/build.sh
echo "web/test.sh: built web/dist in $((SECONDS - start)) s"

# Headed: headless Chromium loses its WebGPU device at start. -a picks a free display number.
xvfb-run -a --server-args="-screen 0 1280x1024x24" node --test --test-reporter=spec web/test/browser.test.mjs
