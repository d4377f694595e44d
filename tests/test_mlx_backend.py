"""What only the MLX backend does: lazy import, install hint, prompt-cache reuse, sliding-window caches."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from router.backends import load_backend
from router.backends.base import Backend
from router.errors import ContextOverflow, ModelError
from router.types import GenerationOptions, Message

pytest.importorskip("mlx_lm", reason="mlx-lm is not installed: pip install -e '.[mlx]' (mlx[cpu] on Linux)")

from tests.mlx_tiny import SLIDING_WINDOW, build_tiny_gemma3

GREEDY = GenerationOptions(max_tokens=12, temperature=0.0)
STORY = "Tell me a long story about a fox and a dog who live in a forest near a small town."


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_gemma3(tmp_path_factory.mktemp("mlx") / "tiny-gemma3")


@pytest.fixture(scope="module")
def backend(model_dir: Path) -> Any:
    loaded = load_backend("mlx", model_dir, n_ctx=1024)
    yield loaded
    loaded.close()


class CountingInner:
    """Stands in front of the inner model and records how many tokens each forward pass evaluates."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls: list[int] = []

    def __call__(self, inputs: Any, cache: Any = None) -> Any:
        self.calls.append(int(inputs.shape[1]))
        return self.inner(inputs, cache=cache)


@pytest.fixture
def counted(backend: Any) -> Any:
    original = backend._inner
    backend._inner = CountingInner(original)
    yield backend._inner
    backend._inner = original


def text_of(backend: Backend, prompt: str, options: GenerationOptions = GREEDY) -> str:
    return "".join(p.text for p in backend.stream(prompt, options, threading.Event()))


def forget(backend: Any) -> None:
    """Put something unrelated in the cache, so the next stream starts from scratch."""
    backend.prefill(backend.format_prompt([Message("user", "zzz unrelated 123")]))


def test_importing_the_module_imports_no_model_library() -> None:
    code = "import sys, router.backends.mlx; print([m for m in ('mlx', 'mlx_lm') if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_missing_mlx_says_what_to_install(model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "mlx_lm", None)  # what `import mlx_lm` sees when it is not installed
    with pytest.raises(ModelError, match=r"pip install 'hybrid-router\[mlx\]'"):
        load_backend("mlx", model_dir)


def test_auto_picks_mlx_for_a_model_directory(model_dir: Path) -> None:
    loaded = load_backend("auto", model_dir)
    try:
        assert loaded.name == "mlx"
        assert loaded.info.has_chat_template
        assert loaded.info.name == "tiny-gemma3"
    finally:
        loaded.close()


def test_a_directory_without_weights_is_a_model_error(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ModelError):
        load_backend("mlx", tmp_path)


def test_an_unknown_architecture_is_a_model_error(model_dir: Path, tmp_path: Path) -> None:
    for f in model_dir.iterdir():
        (tmp_path / f.name).write_bytes(f.read_bytes())
    config = json.loads((tmp_path / "config.json").read_text())
    config["model_type"] = "no_such_architecture"
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelError, match="could not load"):
        load_backend("mlx", tmp_path)


def test_n_ctx_is_capped_by_the_model(model_dir: Path) -> None:
    loaded = load_backend("mlx", model_dir, n_ctx=1_000_000)
    try:
        assert loaded.info.n_ctx == 4096  # max_position_embeddings of the tiny model
    finally:
        loaded.close()


def test_prefill_vector_is_unit_length_and_hidden_sized(backend: Any) -> None:
    result = backend.prefill(backend.format_prompt([Message("user", STORY)]))
    vector = result.hidden
    assert len(vector) == 64  # hidden_size of the tiny model
    assert sum(x * x for x in vector) == pytest.approx(1.0, abs=1e-4)
    assert result.entropy > 0 and 0 < result.top_prob <= 1
    assert result.n_tokens == backend.count_tokens(backend.format_prompt([Message("user", STORY)]))


def test_stream_after_prefill_evaluates_no_prompt_token(backend: Any, counted: CountingInner) -> None:
    prompt = backend.format_prompt([Message("user", STORY)])
    n_prompt = backend.count_tokens(prompt)
    backend.prefill(prompt)
    assert counted.calls == [n_prompt]
    assert backend._cache[0].offset == n_prompt
    counted.calls.clear()
    pieces = list(backend.stream(prompt, GREEDY, threading.Event()))
    # Only the generated tokens went through the model, one at a time (the last one is not fed).
    assert counted.calls == [1] * (GREEDY.max_tokens - 1)
    assert backend.prompt_tokens_evaluated == 0
    assert pieces[-1].usage is not None
    assert pieces[-1].usage.prompt_tokens == n_prompt


def test_a_prompt_longer_than_the_sliding_window_is_reused_too(backend: Any, counted: CountingInner) -> None:
    prompt = backend.format_prompt([Message("user", STORY + " " + STORY)])
    assert backend.count_tokens(prompt) > 2 * SLIDING_WINDOW
    forget(backend)
    from_scratch = text_of(backend, prompt)
    backend.prefill(prompt)
    counted.calls.clear()
    assert text_of(backend, prompt) == from_scratch
    assert backend.prompt_tokens_evaluated == 0
    assert max(counted.calls) == 1


def test_a_longer_prompt_evaluates_only_what_is_new(backend: Any, counted: CountingInner) -> None:
    first = backend.format_prompt([Message("user", STORY)]) + "Once upon a time"
    longer = first + " there was a fox"
    new_tokens = backend.count_tokens(longer) - backend.count_tokens(first)
    forget(backend)
    from_scratch = text_of(backend, longer)
    backend.prefill(first)
    counted.calls.clear()
    assert text_of(backend, longer) == from_scratch
    assert backend.prompt_tokens_evaluated == new_tokens
    assert counted.calls[0] == new_tokens


def test_stream_runs_on_another_thread(backend: Any) -> None:
    prompt = backend.format_prompt([Message("user", STORY)])
    expected = text_of(backend, prompt)
    result: list[str] = []
    worker = threading.Thread(target=lambda: result.append(text_of(backend, prompt)))
    worker.start()
    worker.join(timeout=60)
    assert result == [expected]


def test_sampling_with_temperature_and_top_p(backend: Any) -> None:
    options = GenerationOptions(max_tokens=8, temperature=1.0, top_p=0.9)
    pieces = list(backend.stream(backend.format_prompt([Message("user", STORY)]), options, threading.Event()))
    assert pieces[-1].usage is not None
    assert pieces[-1].usage.completion_tokens == 8


def test_without_max_tokens_generation_ends_at_the_context(model_dir: Path) -> None:
    loaded = load_backend("mlx", model_dir, n_ctx=48)
    try:
        prompt = loaded.format_prompt([Message("user", "Hello there")])
        n_prompt = loaded.count_tokens(prompt)
        options = GenerationOptions(temperature=0.0)
        pieces = list(loaded.stream(prompt, options, threading.Event()))
        assert pieces[-1].finish_reason == "length"
        assert pieces[-1].usage is not None
        assert pieces[-1].usage.completion_tokens == 48 - n_prompt
        with pytest.raises(ContextOverflow):
            list(
                loaded.stream(loaded.format_prompt([Message("user", STORY * 3)]), options, threading.Event())
            )
    finally:
        loaded.close()


def test_a_template_that_refuses_system_turns_gets_them_folded(tmp_path: Path) -> None:
    strict = (
        "{% if messages[0]['role'] == 'system' %}"
        "{{ raise_exception('System role not supported') }}{% endif %}"
        "{% for message in messages %}<start_of_turn>{{ message['role'] }}\n{{ message['content'] }}"
        "<end_of_turn>\n{% endfor %}{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
    )
    loaded = load_backend("mlx", build_tiny_gemma3(tmp_path / "strict", chat_template=strict))
    try:
        prompt = loaded.format_prompt([Message("system", "Be brief."), Message("user", "Hello")])
        assert prompt == "<start_of_turn>user\nBe brief.\n\nHello<end_of_turn>\n<start_of_turn>model\n"
    finally:
        loaded.close()


def test_plain_prompt_models_stop_at_the_plain_turn_markers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import router.backends.mlx as mlx_backend

    loaded = load_backend("mlx", build_tiny_gemma3(tmp_path / "plain", chat_template=None))
    try:
        prompt = loaded.format_prompt([Message("user", STORY)])
        assert prompt.endswith("Assistant:")
        full = text_of(loaded, prompt)
        # The random model never writes "\nUser:"; stand in a marker it does write for the plain stops.
        marker = full[len(full) // 2 : len(full) // 2 + 2]
        monkeypatch.setattr(mlx_backend, "PLAIN_STOPS", (marker,))
        pieces = list(loaded.stream(prompt, GREEDY, threading.Event()))
        assert "".join(p.text for p in pieces) == full[: full.index(marker)]
        assert pieces[-1].finish_reason == "stop"
    finally:
        loaded.close()


def test_a_stop_string_across_two_tokens_never_leaks_its_start(backend: Any) -> None:
    prompt = backend.format_prompt([Message("user", STORY)])
    pieces = [p.text for p in backend.stream(prompt, GREEDY, threading.Event())]
    full = "".join(pieces)
    # Pick a boundary between two tokens' text; the stop is the last character before it and the
    # first after it, so its start is produced one token before its end.
    k = next(i for i in range(len(pieces) // 2, len(pieces) - 2) if pieces[i] and pieces[i + 1])
    stop = pieces[k][-1] + pieces[k + 1][0]
    cut = full.index(stop)
    streamed = [
        p.text for p in backend.stream(prompt, dataclasses.replace(GREEDY, stop=(stop,)), threading.Event())
    ]
    assert "".join(streamed) == full[:cut]
