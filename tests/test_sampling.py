"""One set of sampling defaults for every backend (router.sampling), and both backends applying it."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest

from router import sampling
from router.backends import load_backend
from router.backends.base import Backend
from router.sampling import DEFAULTS, Sampling
from router.types import GenerationOptions, Message


def test_defaults_are_greedy_with_repetition_control() -> None:
    assert DEFAULTS.greedy and DEFAULTS.temperature == 0.0
    assert DEFAULTS.repeat_penalty > 1.0 and DEFAULTS.repeat_last_n > 0


def test_request_options_win_and_temperature_zero_is_greedy() -> None:
    model = Sampling(temperature=0.7, top_p=0.9)
    assert sampling.resolve(GenerationOptions(), model) == model
    assert sampling.resolve(GenerationOptions(temperature=0.0), model).greedy
    s = sampling.resolve(GenerationOptions(temperature=1.2, top_p=0.5), model)
    assert (s.temperature, s.top_p, s.repeat_penalty) == (1.2, 0.5, model.repeat_penalty)


def test_gguf_sampling_metadata_is_read_and_bad_values_ignored() -> None:
    meta = {
        "general.sampling.temp": "0.6",
        "general.sampling.top_k": "64",
        "general.sampling.top_p": "1.5",  # not a probability: ignored
        "general.sampling.penalty_repeat": "1.05",
        "general.name": "x",
    }
    s = sampling.from_gguf_metadata(meta)
    assert (s.temperature, s.top_k, s.top_p, s.repeat_penalty) == (0.6, 64, DEFAULTS.top_p, 1.05)
    assert sampling.from_gguf_metadata({}) == DEFAULTS


def test_generation_config_counts_only_when_it_asks_for_sampling(tmp_path: Path) -> None:
    config = {"do_sample": True, "temperature": 1.0, "top_k": 64, "top_p": 0.95, "repetition_penalty": 1.2}
    (tmp_path / "generation_config.json").write_text(json.dumps(config))
    s = sampling.from_generation_config(tmp_path)
    assert (s.temperature, s.top_k, s.top_p, s.repeat_penalty) == (1.0, 64, 0.95, 1.2)
    (tmp_path / "generation_config.json").write_text(json.dumps({**config, "do_sample": False}))
    greedy = sampling.from_generation_config(tmp_path)
    assert greedy.greedy and greedy.repeat_penalty == 1.2
    (tmp_path / "generation_config.json").write_text("{not json")
    assert sampling.from_generation_config(tmp_path) == DEFAULTS
    assert sampling.from_generation_config(tmp_path / "missing") == DEFAULTS


def _llama_settings(backend: Backend, options: GenerationOptions, monkeypatch: Any) -> dict[str, float]:
    llm: Any = backend._llm  # type: ignore[attr-defined]
    seen: dict[str, Any] = {}
    real = llm.generate

    def spy(tokens: Any, **kwargs: Any) -> Any:
        seen.update(kwargs, last_n=llm.last_n_tokens_size)
        return real(tokens, **kwargs)

    monkeypatch.setattr(llm, "generate", spy)
    prompt = backend.format_prompt([Message("user", "Hi")])
    list(backend.stream(prompt, options, threading.Event()))
    return {
        "temperature": seen["temp"],
        "top_p": seen["top_p"],
        "top_k": seen["top_k"],
        "min_p": seen["min_p"],
        "repeat_penalty": seen["repeat_penalty"],
        "repeat_last_n": seen["last_n"],
    }


def _mlx_settings(backend: Any, options: GenerationOptions, monkeypatch: Any) -> dict[str, float]:
    seen: dict[str, Any] = {}
    make_sampler, make_processors = backend._make_sampler, backend._make_processors

    def sampler_spy(temp: float, **kwargs: Any) -> Any:
        seen.update(kwargs, temperature=temp)
        return make_sampler(temp, **kwargs)

    def processors_spy(**kwargs: Any) -> Any:
        seen.update(kwargs)
        return make_processors(**kwargs)

    monkeypatch.setattr(backend, "_make_sampler", sampler_spy)
    monkeypatch.setattr(backend, "_make_processors", processors_spy)
    prompt = backend.format_prompt([Message("user", "Hi")])
    list(backend.stream(prompt, options, threading.Event()))
    return {
        "temperature": seen["temperature"],
        "top_p": seen["top_p"],
        "top_k": seen["top_k"],
        "min_p": seen["min_p"],
        "repeat_penalty": seen["repetition_penalty"] or 1.0,
        "repeat_last_n": seen["repetition_context_size"],
    }


@pytest.mark.parametrize(
    "options",
    [
        GenerationOptions(max_tokens=3),
        GenerationOptions(max_tokens=3, temperature=0.0),
        GenerationOptions(max_tokens=3, temperature=0.7, top_p=0.9),
    ],
)
def test_the_same_request_gets_the_same_sampling_through_both_backends(
    options: GenerationOptions, llama_backend: Backend, tmp_path_factory: Any, monkeypatch: Any
) -> None:
    pytest.importorskip("mlx_lm")
    from tests.mlx_tiny import build_tiny_gemma3

    mlx = load_backend("mlx", build_tiny_gemma3(tmp_path_factory.mktemp("mlx") / "tiny"))
    try:
        via_llama = _llama_settings(llama_backend, options, monkeypatch)
        via_mlx = _mlx_settings(mlx, options, monkeypatch)
    finally:
        mlx.close()
    assert via_llama == pytest.approx(via_mlx)
    expected = sampling.resolve(options, DEFAULTS)
    assert via_llama["temperature"] == pytest.approx(expected.temperature)
    assert via_llama["repeat_penalty"] == pytest.approx(expected.repeat_penalty)
