"""A GPT-2-shaped checkpoint with random weights, in the Hugging Face layout, for llmviz's benchmarks.

This machine cannot download GPT-2, so docs/benchmarks.md's loading and inspect figures are measured on
a file of GPT-2 small's exact shapes and size (124,439,808 parameters, 498 MB as F32):

    pip install numpy
    python3 bench/gpt2-shaped.py /tmp/gpt2-shaped            # gpt2 (small)
    python3 bench/gpt2-shaped.py /tmp/gpt2-medium medium     # 24 layers, 1024 wide

Only the shapes and the sizes matter to the timings; the values are normal(0, 0.02), as GPT-2's init.
"""

import importlib.util
import json
import os
import sys

import numpy as np

# The fixture's own safetensors writer, so that there is one of it.
_spec = importlib.util.spec_from_file_location(
    "make_fixture", os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "tiny-gpt2", "make_fixture.py"))
_fixture = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_fixture)

SIZES = {"small": (12, 12, 768), "medium": (24, 16, 1024), "large": (36, 20, 1280), "xl": (48, 25, 1600)}


def main():
    out = sys.argv[1]
    n_layer, n_head, c = SIZES[sys.argv[2] if len(sys.argv) > 2 else "small"]
    vocab, positions = 50257, 1024
    rng = np.random.default_rng(0)
    def normal(*shape):
        return rng.standard_normal(shape, dtype=np.float32) * np.float32(0.02)
    tensors = {"wte.weight": normal(vocab, c), "wpe.weight": normal(positions, c)}
    for i in range(n_layer):
        p = f"h.{i}."
        tensors.update({
            p + "ln_1.weight": np.ones(c, np.float32), p + "ln_1.bias": np.zeros(c, np.float32),
            p + "attn.c_attn.weight": normal(c, 3 * c), p + "attn.c_attn.bias": np.zeros(3 * c, np.float32),
            p + "attn.c_proj.weight": normal(c, c), p + "attn.c_proj.bias": np.zeros(c, np.float32),
            p + "ln_2.weight": np.ones(c, np.float32), p + "ln_2.bias": np.zeros(c, np.float32),
            p + "mlp.c_fc.weight": normal(c, 4 * c), p + "mlp.c_fc.bias": np.zeros(4 * c, np.float32),
            p + "mlp.c_proj.weight": normal(4 * c, c), p + "mlp.c_proj.bias": np.zeros(c, np.float32),
            p + "attn.bias": np.tril(np.ones((positions, positions), np.float32)).reshape(1, 1, positions, positions),
        })
    tensors.update({"ln_f.weight": np.ones(c, np.float32), "ln_f.bias": np.zeros(c, np.float32)})
    os.makedirs(out, exist_ok=True)
    _fixture.write_safetensors(os.path.join(out, "model.safetensors"), tensors, {"format": "pt"})
    config = {"activation_function": "gelu_new", "model_type": "gpt2", "n_ctx": positions, "n_positions": positions,
              "n_embd": c, "n_head": n_head, "n_layer": n_layer, "vocab_size": vocab, "layer_norm_epsilon": 1e-05}
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    print(f"wrote {out}: {sum(t.size for k, t in tensors.items() if not k.endswith('.attn.bias')):,} parameters")


if __name__ == "__main__":
    main()
