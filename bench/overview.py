#!/usr/bin/env python3
"""How much of a 1280×720 overview each model fills: the share of pixels that differ from the
background, the share of the frame its bounding box covers (both from `llmviz screenshot`), and the
smallest layer's shorter side on screen (from `llmviz layout --json` and the overview camera).

    bench/overview.py LLMVIZ [--weights FOLDER --text TEXT] [MODEL ...]

Prints one Markdown table row per model, as docs/benchmarks.md keeps them.
"""

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile

import numpy as np
from PIL import Image

SIZE = (1280, 720)
FOV_Y_DEGREES = 40.0  # layout::ANCHOR_FOV_Y_DEGREES


def screen_rect(anchor, low, high):
    """The box low..high on screen from the anchor, as (x, y, width, height) in pixels."""
    eye, target = np.array(anchor["eye"], float), np.array(anchor["target"], float)
    forward = (target - eye) / np.linalg.norm(target - eye)
    right = np.array([-forward[2], 0.0, forward[0]])
    right /= np.linalg.norm(right)
    up = np.cross(right, forward)
    focal = SIZE[1] / 2 / math.tan(math.radians(FOV_Y_DEGREES) / 2)
    points = []
    for corner in range(8):
        point = np.array([high[a] if corner >> a & 1 else low[a] for a in range(3)], float)
        offset = point - eye
        depth = offset @ forward
        points.append((SIZE[0] / 2 + focal * (offset @ right) / depth, SIZE[1] / 2 - focal * (offset @ up) / depth))
    xs, ys = zip(*points)
    return min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)


def smallest_layer_px(layout):
    sections = [s for s in layout["labels"] if s["kind"] == "section" and s["text"].startswith("Transformer")]
    return min(min(screen_rect(layout["overview"], s["min"], s["max"])[2:]) for s in sections)


def pixel_figures(png):
    image = np.asarray(Image.open(png).convert("RGB")).astype(int)
    background = image[2, 2]
    drawn = np.abs(image - background).sum(-1) > 12
    ys, xs = np.nonzero(drawn)
    box = (xs.max() - xs.min()) * (ys.max() - ys.min()) / drawn.size
    return drawn.mean(), box


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("llmviz")
    parser.add_argument("models", nargs="*", default=["nano", "gpt2", "gpt2-xl", "gpt3"])
    parser.add_argument("--weights")
    parser.add_argument("--text", default="Hello, my dog is a little")
    args = parser.parse_args()
    runs = [(model, ["--model", model]) for model in args.models]
    if args.weights:
        runs.append((os.path.basename(args.weights.rstrip("/")), ["--weights", args.weights, "--text", args.text]))
    print("| model | pixels drawn | bounding box | smallest layer |")
    print("|---|---|---|---|")
    with tempfile.TemporaryDirectory() as folder:
        for name, chosen in runs:
            png = os.path.join(folder, f"{name}.png")
            size = f"{SIZE[0]}x{SIZE[1]}"
            command = [args.llmviz, "screenshot", *chosen, "--size", size, "--out", png]
            subprocess.run(command, check=True, capture_output=True)
            # A checkpoint's layout has T = 64 columns, as its screenshot does whatever the text's length.
            layout_args = chosen if "--model" in chosen else ["--weights", args.weights]
            command = [args.llmviz, "layout", *layout_args, "--json"]
            layout = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
            drawn, box = pixel_figures(png)
            print(f"| {name} | {100 * drawn:.1f} % | {100 * box:.0f} % | {smallest_layer_px(layout):.0f} px |")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
