"""LlamaCppBackend.prefill with the real default model: the hidden state, and one prompt evaluation.

Uses the session-scoped `llama_backend` fixture (the default model, n_ctx=2048, loaded once).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from router.backends.base import Backend
from router.errors import ContextOverflow
from router.types import GenerationOptions, Message

GREEDY = GenerationOptions(max_tokens=24, temperature=0.0)
PROMPTS = [
    "What is the capital of France?",
    "What colour is the sky?",
    "Fix the typos in this text: Teh quick brown fox jumpd over teh lazy dog. " * 6,
]


class DecodeCounter:
    """Records how many tokens each llama.cpp decode evaluates (wrapping the real call), and how many
    of them asked for an output row (logits or hidden state)."""

    def __init__(self, llm: Any) -> None:
        self.ctx = llm._ctx
        self.calls: list[int] = []
        self.outputs: list[int] = []
        self._original = self.ctx.decode

    def __enter__(self) -> DecodeCounter:
        def counting(batch: Any) -> Any:
            n = batch.batch.n_tokens
            self.calls.append(n)
            self.outputs.append(sum(1 for i in range(n) if batch.batch.logits[i]))
            return self._original(batch)

        self.ctx.decode = counting
        return self

    def __exit__(self, *exc: object) -> None:
        del self.ctx.decode  # back to the class method


@pytest.fixture
def backend(llama_backend: Backend) -> Iterator[Backend]:
    llama_backend._llm.reset()  # type: ignore[attr-defined]
    yield llama_backend
    llama_backend._llm.reset()  # type: ignore[attr-defined]


def _prompt(backend: Backend, text: str) -> str:
    return backend.format_prompt([Message("user", text)])


def _greedy(backend: Backend, prompt: str) -> str:
    return "".join(p.text for p in backend.stream(prompt, GREEDY, threading.Event()))


@pytest.mark.slow
@pytest.mark.parametrize("text", PROMPTS)
def test_greedy_answer_is_the_same_after_prefill_and_the_prompt_is_not_evaluated_again(
    backend: Backend, text: str
) -> None:
    llm = backend._llm  # type: ignore[attr-defined]
    prompt = _prompt(backend, text)
    n_prompt = len(backend._tokens(prompt))  # type: ignore[attr-defined]
    with DecodeCounter(llm) as plain:
        expected = _greedy(backend, prompt)
    assert plain.calls[0] == n_prompt  # a fresh stream evaluates the whole prompt

    llm.reset()
    with DecodeCounter(llm) as scoring:
        hidden = backend.prefill(prompt).hidden
    # The prompt once, the LM head once: all but the last token with no output, then the last alone.
    assert scoring.calls == [n_prompt - 1, 1] and scoring.outputs == [0, 1]
    with DecodeCounter(llm) as after:
        answer = _greedy(backend, prompt)
    # The answer continues from the prefill: one token per generated token, no prompt token again.
    assert after.calls and set(after.calls) == {1}
    # These prompts have no near-tie in their greedy path, so the last prompt token decoded alone
    # (rather than inside the prompt's batch) gives the same answer as a plain stream.
    assert answer == expected
    import llama_cpp

    assert len(hidden) == llama_cpp.llama_model_n_embd(llm.model) and all(math.isfinite(v) for v in hidden)


@pytest.mark.slow
def test_hidden_state_is_deterministic_and_depends_on_the_prompt(backend: Backend) -> None:
    a = backend.prefill(_prompt(backend, PROMPTS[0])).hidden
    again = backend.prefill(_prompt(backend, PROMPTS[0])).hidden  # reuses the cached prefix
    backend._llm.reset()  # type: ignore[attr-defined]
    fresh = backend.prefill(_prompt(backend, PROMPTS[0])).hidden
    b = backend.prefill(_prompt(backend, PROMPTS[1])).hidden
    assert a == again == fresh
    assert max(abs(x - y) for x, y in zip(a, b, strict=True)) > 0.1


@pytest.mark.slow
def test_pooling_does_not_depend_on_how_a_long_prompt_is_batched(backend: Backend) -> None:
    llm = backend._llm  # type: ignore[attr-defined]
    text = " ".join(f"Item {i}: the {i % 7}th shelf holds {i * 3} boxes of tea." for i in range(60))
    prompt = _prompt(backend, text)
    tokens = backend._tokens(prompt)  # type: ignore[attr-defined]
    assert len(tokens) > llm.n_batch  # spans several decode batches (and ubatches)
    one_go = backend.prefill(prompt).hidden
    # Same prompt, evaluated as a cached prefix of 300 tokens followed by the rest in other batches.
    llm.reset()
    llm.eval(tokens[:300])
    with DecodeCounter(llm) as counter:
        split = backend.prefill(prompt).hidden
    assert sum(counter.calls) == len(tokens) - 300 and counter.calls[-1] == 1
    assert max(abs(x - y) for x, y in zip(one_go, split, strict=True)) < 0.05 * max(abs(v) for v in one_go)
    # ...and the answer after it is the answer without prefill.
    with DecodeCounter(llm) as after:
        answer = "".join(
            p.text
            for p in backend.stream(
                prompt, GenerationOptions(max_tokens=6, temperature=0.0), threading.Event()
            )
        )
    assert set(after.calls) == {1}
    llm.reset()
    expected = "".join(
        p.text
        for p in backend.stream(prompt, GenerationOptions(max_tokens=6, temperature=0.0), threading.Event())
    )
    assert answer == expected


@pytest.mark.slow
def test_prefill_refuses_a_prompt_that_does_not_fit(backend: Backend) -> None:
    with pytest.raises(ContextOverflow):
        backend.prefill(_prompt(backend, "word " * 3000))
    # the context is still usable
    assert _greedy(backend, _prompt(backend, PROMPTS[0]))


@pytest.mark.slow
def test_engine_answers_a_model_scored_request_from_the_prefill(backend: Backend, tmp_path: Any) -> None:
    """End to end in process: the shipped cascade leaves this prompt to the model stage, the engine
    prefills on the worker, decides LOCAL, and streams from the same context: one prompt evaluation,
    the same greedy text as a plain stream."""
    import asyncio

    from router.app import build_engine
    from router.config import build_settings
    from router.types import Request
    from tests.conftest import _KeepOpen

    text = 'How do you say "good night" in Italian?'
    llm = backend._llm  # type: ignore[attr-defined]
    prompt = _prompt(backend, text)
    llm.reset()
    expected = _greedy(backend, prompt)
    llm.reset()
    _ensure_model_stage(backend, tmp_path)
    engine = build_engine(build_settings(state_dir=tmp_path), _KeepOpen(backend), None, None)
    assert not engine.complexity.settled(engine.complexity.score_text(text))
    request = Request((Message("user", text),), options=GREEDY)
    try:
        with DecodeCounter(llm) as counter:
            answer = asyncio.run(engine.route(request))
    finally:
        engine.worker.close()  # closes the wrapper only: the session's model stays loaded
    assert answer.outcome.stage == "model"
    assert answer.text == expected
    n_prompt = len(backend._tokens(prompt))  # type: ignore[attr-defined]
    assert counter.calls[:2] == [n_prompt - 1, 1]  # the prefill evaluates the prompt once...
    assert set(counter.calls[2:]) == {1}  # ...and the answer continues from it


def _ensure_model_stage(backend: Backend, state_dir: Path) -> None:
    """A model without a shipped calibrated head gets a plain one in the state dir (as `router calibrate`
    would write it), so the model stage runs: this test is about the prefill, not about the head."""
    from router.scoring.complexity import (
        HIDDEN_VERSION,
        Head,
        calibrated_head_path,
        load_scorer,
        model_fingerprint,
    )

    sha = model_fingerprint(backend.info.path)
    if load_scorer(sha).has_model_stage:
        return
    head = Head(
        stage="model",
        feature_version=HIDDEN_VERSION,
        mean=(0.0,),
        scale=(1.0,),
        coef=(1.0,),
        intercept=0.0,
        model_sha256=sha,
        model_file=backend.info.path.name,
        inputs=("stage1",),
        calibration=((0.0, 1.0), (1.0, 0.0)),
    )
    path = calibrated_head_path(state_dir, sha)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(head.dumps())


def test_tokens_match_llama_cpp_python_tokenize(backend: Backend) -> None:
    """The backend's own tokenize call (sized to the text) gives llama-cpp-python's tokens exactly."""
    llm = backend._llm  # type: ignore[attr-defined]
    texts = ["", "a", "Hello, world!", "héllo wörld 😀 中文 " * 40, "<start_of_turn>user\nhi<end_of_turn>"]
    for text in texts:
        for add_bos in (True, False):
            for special in (True, False):
                data = text.encode()
                buf, n = backend._tokenize(data, add_bos=add_bos, special=special)  # type: ignore[attr-defined]
                assert list(buf[:n]) == list(llm.tokenize(data, add_bos=add_bos, special=special))
    prompt = _prompt(backend, "Name three primary colours.")
    assert backend.count_tokens(prompt) == len(backend._tokens(prompt))  # type: ignore[attr-defined]


@pytest.mark.slow
def test_a_decision_that_needs_no_score_runs_no_prefill(backend: Backend, tmp_path: Any) -> None:
    """A rule that decides before any condition on the score (here a metadata route) leaves the model
    stage out: the prompt is evaluated once, by the answer, and the request never queues for a
    prefill it does not need (a cloud-bound request would otherwise wait for the local model)."""
    import asyncio
    from pathlib import Path

    from router.app import build_engine
    from router.config import build_settings
    from router.types import Request
    from tests.conftest import _KeepOpen

    text = 'How do you say "good night" in Italian?'
    llm = backend._llm  # type: ignore[attr-defined]
    _ensure_model_stage(backend, tmp_path)
    policy = Path(__file__).parent / "policies" / "by-metadata.yaml"
    engine = build_engine(build_settings(state_dir=tmp_path, policy=policy), _KeepOpen(backend), None, None)
    assert not engine.complexity.settled(engine.complexity.score_text(text))  # stage 1 alone would not do
    request = Request((Message("user", text),), options=GREEDY, metadata={"route": "cloud"})
    try:
        with DecodeCounter(llm) as counter:
            answer = asyncio.run(engine.route(request))
    finally:
        engine.worker.close()
    # no cloud configured: the pinned cloud rule falls back to local, decided without the model stage
    assert (answer.outcome.rule, answer.outcome.route, answer.outcome.stage) == (
        "force-cloud",
        "local",
        "features",
    )
    n_prompt = len(backend._tokens(_prompt(backend, text)))  # type: ignore[attr-defined]
    assert counter.calls[0] == n_prompt  # the whole prompt in one evaluation: no prefill before it
    assert set(counter.calls[1:]) == {1}
