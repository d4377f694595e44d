"""INTERIM complexity scoring, used until the learned scorer lands: the prompt length over 2,000
characters."""

from __future__ import annotations

from collections.abc import Sequence

from router.types import ComplexityReport

LONG_PROMPT_CHARS = 2000


class InterimComplexity:
    def score_text(self, text: str) -> ComplexityReport:
        return ComplexityReport(min(1.0, len(text) / LONG_PROMPT_CHARS), "length")

    def settled(self, report: ComplexityReport) -> bool:
        return True

    def score_hidden(self, hidden: Sequence[float], first: ComplexityReport) -> ComplexityReport:
        return first
