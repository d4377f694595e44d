"""Convert the default Gemma 3 270M GGUF into an MLX model directory, offline and reproducibly.

    python scripts/gguf_to_mlx.py [GGUF] OUT_DIR [--bits 4|8|16]

Needs `pip install gguf` (llama.cpp's reader, pure Python) besides the [mlx] extra; no torch, no network.
The weights are dequantized from the GGUF's K-quants with `gguf.quants.dequantize`, renamed to the
Hugging Face names mlx-lm expects, saved as bfloat16 safetensors and, with --bits 4 or 8, quantized by
mlx-lm the way `mlx_lm.convert -q` does. The tokenizer is rebuilt from the vocabulary stored in the file
with transformers' GGUF tokenizer converter. The GGUF of the base model carries no chat template, so
neither does the output. Only the Gemma 3 text architecture is handled.

The same inputs give the same files: nothing random, no timestamps.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

# GGUF tensor names (per block) -> Hugging Face / mlx-lm names.
_BLOCK_NAMES = {
    "attn_q": "self_attn.q_proj",
    "attn_k": "self_attn.k_proj",
    "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj",
    "attn_q_norm": "self_attn.q_norm",
    "attn_k_norm": "self_attn.k_norm",
    "attn_norm": "input_layernorm",
    "post_attention_norm": "post_attention_layernorm",
    "ffn_norm": "pre_feedforward_layernorm",
    "post_ffw_norm": "post_feedforward_layernorm",
    "ffn_gate": "mlp.gate_proj",
    "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj",
}
# Gemma 3's layer pattern and local rope base are not in the GGUF; llama.cpp hard-codes them too.
SLIDING_WINDOW_PATTERN = 6
ROPE_LOCAL_BASE_FREQ = 10_000.0


def hf_name(name: str) -> str:
    if name == "token_embd.weight":
        return "model.embed_tokens.weight"
    if name == "output_norm.weight":
        return "model.norm.weight"
    m = re.fullmatch(r"blk\.(\d+)\.(\w+)\.weight", name)
    if m is None or m.group(2) not in _BLOCK_NAMES:
        raise ValueError(f"unexpected tensor {name} in a Gemma 3 GGUF")
    return f"model.layers.{m.group(1)}.{_BLOCK_NAMES[m.group(2)]}.weight"


def _field(reader: Any, key: str) -> Any:
    field = reader.fields[key]
    return field.contents()


def read_weights(reader: Any) -> dict[str, Any]:
    import numpy as np
    from gguf.quants import dequantize

    weights = {}
    for t in reader.tensors:
        array = dequantize(t.data, t.tensor_type).astype(np.float32)
        array = array.reshape([int(d) for d in reversed(t.shape.tolist())])
        name = hf_name(t.name)
        if name.endswith("norm.weight"):
            # llama.cpp stores Gemma's RMSNorm weights as (1 + w); mlx-lm adds the 1 itself.
            array = array - 1.0
        weights[name] = array
    return weights


def read_config(reader: Any) -> dict[str, Any]:
    arch = _field(reader, "general.architecture")
    if arch != "gemma3":
        raise SystemExit(f"only Gemma 3 GGUF files are handled, this one is {arch!r}")

    def g(key: str) -> Any:
        return _field(reader, f"gemma3.{key}")

    n_tokens = len(reader.fields["tokenizer.ggml.tokens"].data)
    return {
        "architectures": ["Gemma3ForCausalLM"],
        "model_type": "gemma3_text",
        "hidden_size": int(g("embedding_length")),
        "intermediate_size": int(g("feed_forward_length")),
        "num_hidden_layers": int(g("block_count")),
        "num_attention_heads": int(g("attention.head_count")),
        "num_key_value_heads": int(g("attention.head_count_kv")),
        "head_dim": int(g("attention.key_length")),
        "query_pre_attn_scalar": int(g("attention.key_length")),
        "rms_norm_eps": float(g("attention.layer_norm_rms_epsilon")),
        "rope_theta": float(g("rope.freq_base")),
        "rope_local_base_freq": ROPE_LOCAL_BASE_FREQ,
        "sliding_window": int(g("attention.sliding_window")),
        "sliding_window_pattern": SLIDING_WINDOW_PATTERN,
        "max_position_embeddings": int(g("context_length")),
        "vocab_size": n_tokens,
        "bos_token_id": int(_field(reader, "tokenizer.ggml.bos_token_id")),
        "eos_token_id": int(_field(reader, "tokenizer.ggml.eos_token_id")),
        "pad_token_id": int(_field(reader, "tokenizer.ggml.padding_token_id")),
        "torch_dtype": "bfloat16",
    }


def write_tokenizer(reader: Any, out: Path) -> None:
    from tokenizers import processors
    from transformers.integrations.gguf.gguf_tokenizer_mapping import convert_gguf_tokenizer

    tokens = list(_field(reader, "tokenizer.ggml.tokens"))
    tokenizer_dict = {
        "tokenizer_type": _field(reader, "tokenizer.ggml.model"),
        "tokens": tokens,
        "scores": list(_field(reader, "tokenizer.ggml.scores")),
        "token_type": list(_field(reader, "tokenizer.ggml.token_type")),
    }
    tokenizer, _ = convert_gguf_tokenizer("gemma3", tokenizer_dict)

    def token(key: str) -> str:
        return str(tokens[int(_field(reader, f"tokenizer.ggml.{key}"))])

    if bool(_field(reader, "tokenizer.ggml.add_bos_token")):
        # As llama.cpp does: a BOS in front of each encoded text (tokenizer.json carries no such rule).
        bos = token("bos_token_id")
        tokenizer.post_processor = processors.TemplateProcessing(
            single=f"{bos} $A", pair=f"{bos} $A $B", special_tokens=[(bos, tokens.index(bos))]
        )
    tokenizer.save(str(out / "tokenizer.json"))

    config = {
        "tokenizer_class": "GemmaTokenizer",
        "bos_token": token("bos_token_id"),
        "eos_token": token("eos_token_id"),
        "unk_token": token("unknown_token_id"),
        "pad_token": token("padding_token_id"),
        "add_bos_token": bool(_field(reader, "tokenizer.ggml.add_bos_token")),
        "add_eos_token": bool(_field(reader, "tokenizer.ggml.add_eos_token")),
        "model_max_length": int(_field(reader, "gemma3.context_length")),
    }
    (out / "tokenizer_config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")


def convert(gguf_path: Path, out: Path, bits: int) -> Path:
    import mlx.core as mx
    from gguf import GGUFReader

    reader = GGUFReader(str(gguf_path))
    out.mkdir(parents=True, exist_ok=True)
    config = read_config(reader)
    write_tokenizer(reader, out)
    weights = {k: mx.array(v).astype(mx.bfloat16) for k, v in read_weights(reader).items()}
    if bits < 16:
        from mlx.utils import tree_flatten
        from mlx_lm.models import gemma3_text
        from mlx_lm.utils import quantize_model

        model = gemma3_text.Model(gemma3_text.ModelArgs.from_dict(config))
        model.sanitize(weights)  # drops lm_head: the embeddings are tied
        model.load_weights(list(weights.items()))
        model, config = quantize_model(model, config, group_size=64, bits=bits)
        weights = dict(tree_flatten(model.parameters()))
    mx.save_safetensors(str(out / "model.safetensors"), weights, metadata={"format": "mlx"})
    (out / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("gguf", nargs="?", type=Path, help="GGUF file (default: the router's default model)")
    parser.add_argument("out", type=Path, help="output MLX model directory")
    parser.add_argument("--bits", type=int, choices=(4, 8, 16), default=16, help="16: bf16, no quantization")
    args = parser.parse_args(argv)
    source = args.gguf
    if source is None:
        from router.model import resolve_model

        source = resolve_model(None)
    print(convert(source, args.out, args.bits))
    return 0


if __name__ == "__main__":
    sys.exit(main())
