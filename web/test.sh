#!/usr/bin/env bash
# The browser stage of the tests: builds web/dist (web/build.sh) and runs web/test/*.test.mjs in
# Debian's Chromium, headed under Xvfb, with WebGPU on the CPU (SwiftShader). On a fresh Debian
# machine it first installs what that needs: chromium, xvfb, Node.js's playwright-core and binaryen
# (npm ci), and, through build.sh, the wasm32 target and wasm-bindgen-cli.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
for package in chromium xvfb xauth; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
if ((${#missing[@]})); then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
    elif command -v sudo >/dev/null; then
        sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
    else
        echo "web/test.sh: the browser tests need these Debian packages: ${missing[*]}" >&2
        exit 1
    fi
fi

(cd web && npm ci --no-audit --no-fund --loglevel=error)

start=$SECONDS
./web/build.sh
echo "web/test.sh: built web/dist in $((SECONDS - start)) s"

# Headed: headless Chromium loses its WebGPU device at start. -a picks a free display number.
xvfb-run -a --server-args="-screen 0 1280x1024x24" node --test --test-reporter=spec web/test/browser.test.mjs
