#!/usr/bin/env bash
# Runs every llmviz test. On a fresh Debian machine it first installs what the tests need:
# lavapipe (mesa-vulkan-drivers), a software Vulkan on which wgpu, burn and Bevy render without a GPU,
# an X server with a pointer to move (xvfb, xdotool) for the app in a window (tests/all/idle.rs),
# and ffmpeg, which turns `render-tour`'s frames into an MP4 (tests/all/languages.rs).
set -euo pipefail
cd "$(dirname "$0")"

tests/need-packages.sh test.sh mesa-vulkan-drivers xvfb xdotool ffmpeg

# The wgpu tests must run on a real Vulkan driver, never be skipped: fail early and clearly without one.
if ! ls /usr/share/vulkan/icd.d/*.json >/dev/null 2>&1; then
    echo "test.sh: no Vulkan driver found in /usr/share/vulkan/icd.d" >&2
    exit 1
fi

cargo test --test all -- --test-threads 2 "$@"

# The browser build in Chromium (web/test.sh): builds web/dist (a wasm32 release build, minutes),
# then drives the page. When asked, as CI does: LLMVIZ_WEB_TESTS=1 ./test.sh.
if [ "${LLMVIZ_WEB_TESTS:-0}" = 1 ]; then
    ./web/test.sh
fi
