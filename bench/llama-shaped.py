"""A Llama-family checkpoint of a real model's exact shapes with random weights, in the Hugging Face
layout, for llmviz's benchmarks: this machine cannot download SmolLM2 or Qwen3, so docs/benchmarks.md
measures files of their shapes and sizes, built from the configs typed in tests/fixtures/hf-configs/.

    pip install numpy
    python3 bench/llama-shaped.py /tmp/smollm2-shaped                 # SmolLM2-135M (F32, 538 MB)
    python3 bench/llama-shaped.py /tmp/qwen3-shaped qwen3-0.6b bf16   # Qwen3-0.6B (BF16, 1.2 GB)

Only the shapes and the sizes matter to the timings; the values are normal(0, 0.02), as Llama's init.
The tokenizer is the tiny Llama-3-style fixture's: its ids all lie inside every real vocabulary.
"""

import importlib.util
import json
import os
import shutil
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "..", "tests", "fixtures")
# The tiny-llama fixture's safetensors writer (F32 or BF16), so that there is one of it.
_spec = importlib.util.spec_from_file_location("make_fixture", os.path.join(FIXTURES, "tiny-llama", "make_fixture.py"))
_fixture = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_fixture)


def truncated_to_bf16(x):
    """The top half of each f32 (only sizes matter here): what the writer stores as BF16."""
    return (np.ascontiguousarray(x, dtype=np.float32).view(np.uint32) & np.uint32(0xFFFF0000)).view(np.float32)


def main():
    out = sys.argv[1]
    model = sys.argv[2] if len(sys.argv) > 2 else "smollm2-135m"
    dtype = sys.argv[3] if len(sys.argv) > 3 else "f32"
    with open(os.path.join(FIXTURES, "hf-configs", f"{model}.json")) as f:
        config = json.load(f)
    c, layers, heads = config["hidden_size"], config["num_hidden_layers"], config["num_attention_heads"]
    kv, f_width, vocab = config["num_key_value_heads"], config["intermediate_size"], config["vocab_size"]
    d = config.get("head_dim") or c // heads
    rng = np.random.default_rng(0)

    def normal(*shape):
        return rng.standard_normal(shape, dtype=np.float32) * np.float32(0.02)

    tensors = {"model.embed_tokens.weight": normal(vocab, c), "model.norm.weight": np.ones(c, np.float32)}
    for i in range(layers):
        p = f"model.layers.{i}."
        tensors.update({
            p + "input_layernorm.weight": np.ones(c, np.float32),
            p + "post_attention_layernorm.weight": np.ones(c, np.float32),
            p + "self_attn.q_proj.weight": normal(heads * d, c), p + "self_attn.k_proj.weight": normal(kv * d, c),
            p + "self_attn.v_proj.weight": normal(kv * d, c), p + "self_attn.o_proj.weight": normal(c, heads * d),
            p + "mlp.gate_proj.weight": normal(f_width, c), p + "mlp.up_proj.weight": normal(f_width, c),
            p + "mlp.down_proj.weight": normal(c, f_width),
        })
        if config["model_type"] == "qwen2":
            for part, rows in [("q", heads * d), ("k", kv * d), ("v", kv * d)]:
                tensors[p + f"self_attn.{part}_proj.bias"] = np.zeros(rows, np.float32)
        if config["model_type"] == "qwen3":
            tensors[p + "self_attn.q_norm.weight"] = np.ones(d, np.float32)
            tensors[p + "self_attn.k_norm.weight"] = np.ones(d, np.float32)
    if not config.get("tie_word_embeddings", False):
        tensors["lm_head.weight"] = normal(vocab, c)
    os.makedirs(out, exist_ok=True)
    if dtype == "bf16":
        tensors = {name: truncated_to_bf16(t) for name, t in tensors.items()}
    _fixture.write_safetensors(os.path.join(out, "model.safetensors"), tensors, {"format": "pt"}, dtype.upper())
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    shutil.copy(os.path.join(FIXTURES, "tiny-llama", "llama-tied", "tokenizer.json"), os.path.join(out, "tokenizer.json"))
    print(f"wrote {out}: {sum(t.size for t in tensors.values()):,} parameters as {dtype}")


if __name__ == "__main__":
    main()
