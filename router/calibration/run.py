"""Running the resident model through the calibration suite, as the daemon would, and caching the grades.

For each item: `prompt = backend.format_prompt([user message])`, `backend.prefill(prompt)` (the scorer's
inputs), then `backend.stream(prompt, GenerationOptions(), cancel)` with the backend's default options,
continuing from that prefill exactly as a LOCAL decision does. The answer is read until the grader's
limit (`grade.read_limit`), then generation is cancelled. The outcome (grade, the answer's start, the
prefill's hidden state and signals, the answer tokens' log-probabilities where the backend gives them)
is appended to a JSONL cache per model fingerprint, so an interrupted
run resumes where it stopped and a second run costs nothing.
"""

from __future__ import annotations

import hashlib
import json
import sys
import threading
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from router.backends.base import Backend, Prefill
from router.calibration import grade
from router.calibration.suite import SUITE_VERSION, Item
from router.errors import ContextOverflow
from router.scoring.complexity import CALIBRATION_DIR, HIDDEN_VERSION, model_fingerprint
from router.types import GenerationOptions, Message


@dataclass(frozen=True, slots=True)
class Outcome:
    item_id: str
    family: str
    split: str
    text: str  # the user message (the item's prompt)
    prompt: str  # as formatted for the model
    correct: bool
    answer: str
    prefill: Prefill
    # The answer's token log-probabilities as read (empty where the backend gives none, or in rows
    # cached before they were recorded).
    logprobs: tuple[float, ...] = ()


class OutcomeCache:
    """Graded outcomes of one model, one JSON line per item, appended as they are produced."""

    def __init__(self, state_dir: Path, model_sha256: str) -> None:
        directory = state_dir / CALIBRATION_DIR / model_sha256.lower()
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / f"outcomes-{SUITE_VERSION}-{HIDDEN_VERSION}.jsonl"
        self._rows: dict[str, dict[str, Any]] = {}
        if self.path.exists():
            for line in self.path.read_text(encoding="utf-8").splitlines():
                try:
                    row = json.loads(line)
                except ValueError:
                    continue  # a line cut short by an interrupted run
                self._rows[row["key"]] = row

    def by_id(self, item_id: str) -> dict[str, Any] | None:
        """The last cached row of an item, whatever its prompt (benchmarks reading one model's cache)."""
        found = None
        for row in self._rows.values():
            if row.get("id") == item_id:
                found = row
        return found

    @staticmethod
    def key(item: Item, prompt: str) -> str:
        spec = json.dumps([item.id, prompt], ensure_ascii=False)
        return hashlib.sha256(spec.encode("utf-8")).hexdigest()[:32]

    def get(self, item: Item, prompt: str) -> Outcome | None:
        row = self._rows.get(self.key(item, prompt))
        if row is None:
            return None
        pre = Prefill(row["hidden"], row["entropy"], row["top_prob"], row["n_tokens"])
        # Graded again from the stored answer: a grader fix needs no new answers.
        correct = grade.grade(item, row["answer"])
        return Outcome(
            item.id,
            item.family,
            item.split,
            item.prompt,
            prompt,
            correct,
            row["answer"],
            pre,
            row_logprobs(row),
        )

    def put(self, item: Item, outcome: Outcome) -> None:
        p = outcome.prefill
        key = self.key(item, outcome.prompt)
        row: dict[str, Any] = {
            "key": key,
            "id": item.id,
            "correct": outcome.correct,
            "answer": outcome.answer,
            "entropy": p.entropy,
            "top_prob": p.top_prob,
            "n_tokens": p.n_tokens,
            "hidden": p.hidden,
        }
        if outcome.logprobs:
            row["logprobs"] = [round(v, 4) for v in outcome.logprobs]
        self._rows[key] = row
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def answer_item(backend: Backend, item: Item) -> Outcome:
    """Prefill, answer with the daemon's defaults (continuing from the prefill), grade."""
    prompt = backend.format_prompt([Message("user", item.prompt)])
    pre = backend.prefill(prompt)
    limit = grade.read_limit(item)
    cancel = threading.Event()
    parts: list[str] = []
    logprobs: list[float] = []
    size = 0
    stream = backend.stream(prompt, GenerationOptions(), cancel)
    try:
        for piece in stream:
            logprobs.extend(piece.logprobs)
            if piece.text:
                parts.append(piece.text)
                size += len(piece.text)
                if size >= limit:
                    cancel.set()
                    break
    finally:
        close = getattr(stream, "close", None)
        if close is not None:
            close()
    answer = "".join(parts)[:limit]
    return Outcome(
        item.id,
        item.family,
        item.split,
        item.prompt,
        prompt,
        grade.grade(item, answer),
        answer,
        pre,
        tuple(logprobs),
    )


def row_logprobs(row: dict[str, Any]) -> tuple[float, ...]:
    """A cached row's answer log-probabilities (rows written before they were recorded have none)."""
    return tuple(float(v) for v in row.get("logprobs", ()))


class Progress:
    """A one-line progress bar with an ETA, on stderr (only what was computed counts for the rate)."""

    def __init__(self, total: int, label: str, out: TextIO | None = None) -> None:
        self.total, self.label, self.out = total, label, out or sys.stderr
        self.done = self.computed = 0
        self.started = time.monotonic()
        self._last = 0.0

    def step(self, computed: bool) -> None:
        self.done += 1
        self.computed += computed
        now = time.monotonic()
        if now - self._last < 0.5 and self.done < self.total:
            return
        self._last = now
        elapsed = now - self.started
        rate = elapsed / self.computed if self.computed else 0.0
        eta = rate * (self.total - self.done)
        width = 30
        filled = int(width * self.done / max(1, self.total))
        self.out.write(
            f"\r{self.label} [{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total} "
            f"elapsed {_clock(elapsed)} ETA {_clock(eta)}  "
        )
        if self.done >= self.total:
            self.out.write("\n")
        self.out.flush()


def _clock(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 60:d}:{s % 60:02d}"


def run_items(
    backend: Backend,
    items: Sequence[Item],
    cache: OutcomeCache | None,
    *,
    progress: Callable[[bool], None] | None = None,
    deadline: float | None = None,
    families: Collection[str] | None = None,
) -> list[Outcome]:
    """Outcomes of `items` in order (from the cache where present). Items whose prompt does not fit the
    local context are left out, and so are uncached items once `time.monotonic()` passes `deadline`,
    and, with `families`, uncached items of the other families (their cached answers still count)."""
    out: list[Outcome] = []
    for item in items:
        prompt = backend.format_prompt([Message("user", item.prompt)])
        cached = cache.get(item, prompt) if cache is not None else None
        skip = families is not None and item.family not in families
        if cached is None and (skip or (deadline is not None and time.monotonic() > deadline)):
            if progress is not None:
                progress(False)
            continue
        if cached is None:
            try:
                cached = answer_item(backend, item)
            except ContextOverflow:
                if progress is not None:
                    progress(True)
                continue
            if cache is not None:
                cache.put(item, cached)
            if progress is not None:
                progress(True)
        elif progress is not None:
            progress(False)
        out.append(cached)
    return out


__all__ = [
    "Outcome",
    "OutcomeCache",
    "Progress",
    "answer_item",
    "model_fingerprint",
    "row_logprobs",
    "run_items",
]
