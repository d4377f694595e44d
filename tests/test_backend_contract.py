"""The contract every local backend keeps, run against each one.

- "mlx" / "mlx_plain": a tiny Gemma 3 model (random weights, real tokenizer) built offline, with and
  without a chat template, loaded through mlx-lm's normal path (tests/mlx_tiny.py).
- "llama_cpp": the real default model (Gemma 3 270M Q4_K_M GGUF).
- "mlx_real": a real MLX model directory named by $ROUTER_TEST_MLX_MODEL (e.g. an mlx-community Gemma 3
  QAT conversion on a Mac, or scripts/gguf_to_mlx.py's output); skipped when unset.
"""

from __future__ import annotations

import importlib
import importlib.util
import math
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from router.backends import Backend, Piece, load_backend, plain_prompt
from router.types import GenerationOptions, Message

MESSAGES = (
    Message("system", "You are a helpful assistant."),
    Message("user", "Tell me a long story about a fox and a dog in a forest."),
)
GREEDY = GenerationOptions(max_tokens=24, temperature=0.0)


def _load_mlx(tmp_path_factory: pytest.TempPathFactory, *, chat_template: bool) -> Backend:
    if importlib.util.find_spec("mlx_lm") is None:
        pytest.skip("mlx-lm is not installed: pip install -e '.[mlx]' (installs mlx[cpu] on Linux)")
    from tests.mlx_tiny import CHAT_TEMPLATE, build_tiny_gemma3

    name = "tiny-gemma3" if chat_template else "tiny-gemma3-plain"
    template = CHAT_TEMPLATE if chat_template else None
    path = build_tiny_gemma3(tmp_path_factory.mktemp("mlx") / name, chat_template=template)
    return load_backend("mlx", path, n_ctx=2048)


def _load_mlx_real() -> Backend:
    path = os.environ.get("ROUTER_TEST_MLX_MODEL")
    if not path:
        pytest.skip("set ROUTER_TEST_MLX_MODEL to an MLX model directory to run the contract on it")
    return load_backend("mlx", Path(path), n_ctx=2048)


# A real MLX model joins the contract when $ROUTER_TEST_MLX_MODEL names one (e.g. a converted Gemma 3).
BACKENDS = ["mlx", "mlx_plain", "llama_cpp"] + (
    ["mlx_real"] if os.environ.get("ROUTER_TEST_MLX_MODEL") else []
)


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    if request.param == "llama_cpp":
        yield request.getfixturevalue("llama_backend")  # the session's real default model; conftest closes it
        return
    if request.param == "mlx_real":
        loaded = _load_mlx_real()
    else:
        loaded = _load_mlx(tmp_path_factory, chat_template=request.param == "mlx")
    yield loaded
    loaded.close()


def run(backend: Backend, prompt: str, options: GenerationOptions = GREEDY) -> list[Piece]:
    return list(backend.stream(prompt, options, threading.Event()))


def joined(pieces: list[Piece]) -> str:
    return "".join(p.text for p in pieces)


def test_info_names_the_backend(backend: Backend) -> None:
    assert backend.info.backend == backend.name
    assert backend.info.n_ctx > 0
    assert backend.info.path.exists()


def test_format_prompt_uses_the_template_or_the_plain_format(backend: Backend) -> None:
    prompt = backend.format_prompt(MESSAGES)
    if backend.info.has_chat_template:
        assert prompt != plain_prompt(MESSAGES)
        assert MESSAGES[1].content in prompt
    else:
        assert prompt == plain_prompt(MESSAGES)


def test_count_tokens(backend: Backend) -> None:
    prompt = backend.format_prompt(MESSAGES)
    n = backend.count_tokens(prompt)
    assert n > 0
    assert backend.count_tokens(prompt + " and then some more words") > n


def test_stream_yields_pieces_then_a_final_piece_with_usage(backend: Backend) -> None:
    prompt = backend.format_prompt(MESSAGES)
    pieces = run(backend, prompt, GenerationOptions(max_tokens=16, temperature=0.0))
    assert len(pieces) >= 2
    assert all(p.finish_reason is None and p.usage is None for p in pieces[:-1])
    last = pieces[-1]
    assert last.finish_reason in ("stop", "length")
    assert last.usage is not None
    assert last.usage.prompt_tokens == backend.count_tokens(prompt)
    assert 0 < last.usage.completion_tokens <= 16
    assert joined(pieces)


def test_max_tokens_ends_with_length(backend: Backend) -> None:
    pieces = run(backend, backend.format_prompt(MESSAGES), GenerationOptions(max_tokens=5, temperature=0.0))
    assert pieces[-1].finish_reason == "length"
    assert pieces[-1].usage is not None
    assert pieces[-1].usage.completion_tokens == 5


def test_greedy_is_deterministic(backend: Backend) -> None:
    prompt = backend.format_prompt(MESSAGES)
    first, second = joined(run(backend, prompt)), joined(run(backend, prompt))
    assert first
    assert first == second


def test_stop_string_ends_the_answer_before_it(backend: Backend) -> None:
    prompt = backend.format_prompt(MESSAGES)
    full = joined(run(backend, prompt))
    assert len(full.strip()) >= 6, "the model answered too little to pick a stop string from"
    # A stop string from the middle of the greedy answer: generation must end right before it.
    start = next(i for i in range(len(full) // 2, len(full) - 2) if not full[i].isspace())
    stop = full[start : start + 2]
    expected = full[: full.index(stop)]
    pieces = run(backend, prompt, GenerationOptions(max_tokens=24, temperature=0.0, stop=(stop,)))
    assert joined(pieces) == expected
    assert pieces[-1].finish_reason == "stop"
    assert stop not in joined(pieces)


def test_cancel_stops_generation_promptly(backend: Backend) -> None:
    cancel = threading.Event()
    stream = backend.stream(
        backend.format_prompt(MESSAGES), GenerationOptions(max_tokens=200, temperature=0.0), cancel
    )
    first = next(stream)
    assert first.finish_reason is None
    cancel.set()
    rest = list(stream)
    assert len(rest) <= 2
    assert rest[-1].finish_reason == "cancelled"
    assert rest[-1].usage is not None
    assert rest[-1].usage.completion_tokens < 10


def test_cancel_before_start_generates_nothing(backend: Backend) -> None:
    cancel = threading.Event()
    cancel.set()
    pieces = list(backend.stream(backend.format_prompt(MESSAGES), GREEDY, cancel))
    assert pieces[-1].finish_reason == "cancelled"
    assert pieces[-1].usage is not None
    assert pieces[-1].usage.completion_tokens == 0


def test_prefill_returns_a_fixed_size_finite_vector(backend: Backend) -> None:
    first = backend.prefill(backend.format_prompt([Message("user", "Hi")]))
    second = backend.prefill(backend.format_prompt(MESSAGES))
    short, long = first.hidden, second.hidden
    assert len(short) == len(long) > 0
    assert all(math.isfinite(x) for x in short + long + first.signals + second.signals)
    assert short != long
    # The next-token signals of the same decode: a distribution's entropy and top probability.
    for p in (first, second):
        assert (
            p.entropy >= 0
            and 0 < p.top_prob <= 1
            and p.n_tokens
            == backend.count_tokens(
                backend.format_prompt([Message("user", "Hi")])
                if p is first
                else backend.format_prompt(MESSAGES)
            )
        )


def test_stream_after_prefill_matches_stream_without(backend: Backend) -> None:
    prompt = backend.format_prompt(MESSAGES)
    backend.prefill(backend.format_prompt([Message("user", "Something else entirely.")]))
    without = joined(run(backend, prompt))
    backend.prefill(prompt)
    with_prefill = joined(run(backend, prompt))
    assert without
    assert with_prefill == without


def test_auto_detects_the_backend(backend: Backend) -> None:
    from router.backends import detect_backend

    assert detect_backend(Path(backend.info.path)) == backend.name
