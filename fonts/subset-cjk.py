#!/usr/bin/env python3
"""Cuts Noto Sans CJK SC down to the characters llmviz writes in Chinese: every character outside
ASCII in the Chinese tour translations and in src/i18n.rs. Run it again after changing either.

Needs Debian's fonts-noto-cjk and fontTools (pip install fonttools). Writes
fonts/NotoSansCJKsc-llmviz.otf and prints how many characters it holds and its size."""

import glob
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLLECTION = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"
SC_INDEX = 2  # the collection's fonts: JP, KR, SC, TC, HK, then the Mono ones
OUT = os.path.join(ROOT, "fonts", "NotoSansCJKsc-llmviz.otf")

sources = glob.glob(os.path.join(ROOT, "tours", "*.zh-CN.ron")) + [os.path.join(ROOT, "src", "i18n.rs")]
characters = set()
for path in sources:
    with open(path, encoding="utf-8") as f:
        characters |= {c for c in f.read() if ord(c) > 127}
# Full-width punctuation a translator may reach for, whether or not it is used yet.
characters |= set("，。、：；！？（）《》“”‘’…—·")
unicodes = ",".join(f"U+{ord(c):04X}" for c in sorted(characters))
subprocess.run(
    [sys.executable, "-m", "fontTools.subset", COLLECTION, f"--font-number={SC_INDEX}", f"--unicodes={unicodes}",
     "--layout-features=*", "--no-hinting", "--desubroutinize", f"--output-file={OUT}"],
    check=True,
)
print(f"{OUT}: {len(characters)} characters, {os.path.getsize(OUT)} bytes")
