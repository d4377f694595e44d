"""One set of sampling defaults for every backend.

A request's options win; what it leaves unset comes from the model file when the file carries sampling
settings (GGUF `general.sampling.*` metadata, an MLX model's `generation_config.json`), else from the
documented defaults below. Temperature 0 means greedy. Repetition control is on by default, as in
llama.cpp's and Ollama's own servers: a repeat penalty of 1.1 over the last 64 tokens, which stopped the
loops seen with small models ("la femme au martyre, la femme au martyre, ...") without changing their
ordinary answers (bench/answer_checks.py).

Both backends turn the same `Sampling` into their own sampler (tests/test_sampling.py checks that the
same request gives the same settings through both).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from router.types import GenerationOptions


@dataclass(frozen=True, slots=True)
class Sampling:
    temperature: float = 0.0  # 0: greedy, the same answer for the same prompt
    top_p: float = 1.0
    top_k: int = 0  # 0: off
    min_p: float = 0.0
    repeat_penalty: float = 1.1  # 1.0: off
    repeat_last_n: int = 64

    @property
    def greedy(self) -> bool:
        return self.temperature <= 0.0


DEFAULTS = Sampling()

# GGUF keys (llama.cpp's `general.sampling.*`) and generation_config.json keys, to Sampling fields.
_GGUF_KEYS = {
    "general.sampling.temp": "temperature",
    "general.sampling.top_p": "top_p",
    "general.sampling.top_k": "top_k",
    "general.sampling.min_p": "min_p",
    "general.sampling.penalty_repeat": "repeat_penalty",
    "general.sampling.penalty_last_n": "repeat_last_n",
}
_HF_KEYS = {
    "temperature": "temperature",
    "top_p": "top_p",
    "top_k": "top_k",
    "min_p": "min_p",
    "repetition_penalty": "repeat_penalty",
}


def _apply(base: Sampling, values: Mapping[str, Any], keys: Mapping[str, str]) -> Sampling:
    changes: dict[str, Any] = {}
    for key, name in keys.items():
        raw = values.get(key)
        if raw is None or isinstance(raw, bool):
            continue
        try:
            value: float | int = int(raw) if name in ("top_k", "repeat_last_n") else float(raw)
        except (TypeError, ValueError):
            continue
        if value < 0 or (name == "top_p" and value > 1) or (name == "repeat_penalty" and value == 0):
            continue  # a value no sampler could use: keep the default
        changes[name] = value
    return replace(base, **changes) if changes else base


def from_gguf_metadata(metadata: Mapping[str, Any], base: Sampling = DEFAULTS) -> Sampling:
    """Defaults from a GGUF file's metadata (llama-cpp-python gives every value as a string)."""
    return _apply(base, metadata, _GGUF_KEYS)


def from_generation_config(model_dir: Path, base: Sampling = DEFAULTS) -> Sampling:
    """Defaults from an MLX/Hugging Face model directory's `generation_config.json`. Its sampling values
    count only where it asks for sampling (`do_sample: true`); otherwise the model's authors meant
    greedy decoding, and only the repetition penalty is taken."""
    path = model_dir / "generation_config.json"
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return base
    if not isinstance(config, dict):
        return base
    keys = _HF_KEYS if config.get("do_sample") else {"repetition_penalty": "repeat_penalty"}
    return _apply(base, config, keys)


def resolve(options: GenerationOptions, defaults: Sampling) -> Sampling:
    """The request's options over the model's defaults. A caller's temperature 0 is greedy whatever the
    defaults say; a caller's top_p applies as given."""
    s = defaults
    if options.temperature is not None:
        s = replace(s, temperature=max(0.0, options.temperature))
    if options.top_p is not None:
        s = replace(s, top_p=options.top_p)
    return s


__all__ = ["DEFAULTS", "Sampling", "from_generation_config", "from_gguf_metadata", "resolve"]
