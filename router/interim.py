"""INTERIM deciding, used until the scoring and policy modules land: cloud when a cloud is configured and
the prompt is long (> 2,000 characters), else local. Privacy is not scored here."""

from __future__ import annotations

from collections.abc import Sequence

from router.types import ComplexityReport, Decision, DecisionContext, PrivacyReport, Route

LONG_PROMPT_CHARS = 2000


class InterimPolicy:
    version = "interim-1"

    def decide(self, ctx: DecisionContext) -> Decision:
        long = len(ctx.request.text) > LONG_PROMPT_CHARS
        if long and ctx.cloud_configured:
            return Decision(
                Route.CLOUD,
                "interim-long-prompt",
                "interim rule: long prompt, cloud configured",
                self.version,
            )
        why = "short prompt" if not long else "long prompt but no cloud configured"
        return Decision(Route.LOCAL, "interim-default", f"interim rule: {why}", self.version)


class InterimPolicyStore:
    current = InterimPolicy()


class InterimPrivacy:
    def scan(self, text: str) -> PrivacyReport:
        return PrivacyReport(0.0)


class InterimComplexity:
    def score_text(self, text: str) -> ComplexityReport:
        return ComplexityReport(min(1.0, len(text) / LONG_PROMPT_CHARS), "length")

    def settled(self, report: ComplexityReport) -> bool:
        return True

    def score_hidden(self, hidden: Sequence[float], first: ComplexityReport) -> ComplexityReport:
        return first
