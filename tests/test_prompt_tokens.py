"""The prompt's token count is taken only when a decision needs the number: short prompts are shown to
fit the local context by the backend's bound, long ones are counted, and a rule on `prompt_tokens` or a
token budget always sees the exact count."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from router.app import build_engine
from router.backends import Backend
from router.config import build_settings
from router.types import Message, PromptTokens, Request, Route
from tests.conftest import _KeepOpen


def test_prompt_tokens_counts_once_and_only_when_asked() -> None:
    calls: list[int] = []

    def count() -> int:
        calls.append(1)
        return 40

    tokens = PromptTokens(count, at_most=100)
    assert not tokens.more_than(100)  # settled by the bound
    assert calls == []
    assert tokens.more_than(39)  # the bound cannot settle it: counted
    assert tokens.count == 40
    assert not tokens.more_than(40)
    assert calls == [1]
    unbounded = PromptTokens(count)
    assert not unbounded.more_than(1000)  # no bound: counted
    assert calls == [1, 1]
    assert PromptTokens.known(7).count == 7


def test_llama_cpp_bound_is_never_below_the_count(llama_backend: Backend) -> None:
    rng = random.Random(5)
    alphabet = " \n\tabcXYZ019é中😀<>_▁"
    texts = ["", " ", "  ", "\n\n", "▁▁▁"] + [
        "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 300))) for _ in range(500)
    ]
    for text in texts:
        for prompt in (text, llama_backend.format_prompt([Message("user", text or "x")])):
            bound = llama_backend.max_tokens(prompt)
            assert bound is not None
            assert llama_backend.count_tokens(prompt) <= bound


class Counting(_KeepOpen):
    def __init__(self, inner: Backend) -> None:
        super().__init__(inner)
        self.counted = 0

    def count_tokens(self, text: str) -> int:
        self.counted += 1
        return super().count_tokens(text)


def _classify(tmp_path: Path, backend: Backend, text: str, **settings: Any) -> Any:
    engine = build_engine(build_settings(state_dir=tmp_path, **settings), backend, None, None)
    try:
        return asyncio.run(engine.classify(Request((Message("user", text),))))
    finally:
        engine.worker.close()  # closes the wrapper only: the session's model stays loaded


def test_a_short_prompt_is_decided_without_counting(llama_backend: Backend, tmp_path: Path) -> None:
    backend = Counting(llama_backend)
    outcome = _classify(tmp_path, backend, "Translate 'thank you' into German.")
    # Whichever stage decided (the default model's head sends every prompt to the model stage), the
    # prompt's size was never counted: the backend's bound showed it fits.
    assert outcome.stage in ("features", "model")
    assert outcome.route is Route.LOCAL
    assert backend.counted == 0


def test_without_a_decision_log_the_decision_line_is_still_logged(
    llama_backend: Backend, tmp_path: Path
) -> None:
    with capture_logs() as events:
        outcome = _classify(tmp_path, _KeepOpen(llama_backend), "Translate 'thank you' into German.")
    lines = [e for e in events if e["event"] == "decision"]
    assert [e["decision_id"] for e in lines] == [outcome.id]
    assert lines[0]["route"] == outcome.route.value and lines[0]["status"] == "OK"


def test_a_prompt_the_bound_cannot_place_is_counted_and_overflows_as_before(
    llama_backend: Backend, tmp_path: Path
) -> None:
    backend = Counting(llama_backend)
    text = "word " * 3000  # ~3,000 tokens: more than the context of 2,048
    outcome = _classify(tmp_path, backend, text)
    assert backend.counted >= 1
    assert outcome.rule == "context-overflow" or "context" in outcome.reason


@pytest.mark.parametrize(("limit", "route"), [(5, "cloud"), (1000, "local")])
def test_a_prompt_tokens_rule_sees_the_exact_count(
    llama_backend: Backend, tmp_path: Path, limit: int, route: str
) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text(
        f"format: 1\ndefault: local\nrules:\n  - name: long\n    when: {{prompt_tokens: {{gt: {limit}}}}}\n"
        "    action: cloud\n"
    )
    backend = Counting(llama_backend)
    text = "Translate 'thank you' into German."
    n = llama_backend.count_tokens(llama_backend.format_prompt([Message("user", text)]))
    assert 5 < n < 1000
    engine = build_engine(
        build_settings(state_dir=tmp_path, policy=policy), backend, None, None, assume_cloud=True
    )
    try:
        outcome = asyncio.run(engine.classify(Request((Message("user", text),))))
    finally:
        engine.worker.close()
    assert outcome.decided_route.value == route
    assert backend.counted == 1
