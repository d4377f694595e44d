"""An Outcome as plain JSON-ready data: the decision the HTTP door returns in its `router` object and
`router classify --json`-style reports use. Never prompt text: findings are counted by category."""

from __future__ import annotations

from typing import Any

from router.engine import Outcome


def decision_dict(outcome: Outcome) -> dict[str, Any]:
    t = outcome.timings
    return {
        "id": outcome.id,
        "route": outcome.route.value,
        "decided_route": outcome.decided_route.value,
        "rule": outcome.rule,
        "reason": outcome.reason,
        "complexity": outcome.complexity,
        "privacy": outcome.privacy,
        "stage": outcome.stage,
        "findings": dict(outcome.findings),
        "model": outcome.model,
        "policy_version": outcome.policy_version,
        "fallback": outcome.fallback,
        "fallback_reason": outcome.fallback_reason,
        "answer_check": outcome.answer_check,
        "answer_check_value": outcome.answer_check_value,
        "summary": outcome.summary,
        "timings": {
            "queue_ms": round(t.queue_ms, 3),
            "scoring_ms": round(t.scoring_ms, 3),
            "generation_ms": round(t.generation_ms, 3),
            "cloud_ms": round(t.cloud_ms, 3),
            "total_ms": round(t.total_ms, 3),
        },
    }


__all__ = ["decision_dict"]
