"""Scoring and deciding in process, without a daemon: `router classify` and `router eval` use this.

The parts are built by the same `build_engine` as the daemon's, so a decision here is the decision the
daemon would make with a healthy cloud and an empty queue (no cloud is called).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from router.config import build_settings
from router.engine import Engine
from router.requests import build_request
from router.types import DecisionContext


def build_context(
    text: str, app_id: str, *, policy: Path | None = None, model: Path | None = None
) -> DecisionContext:
    """Score `text` in process (both stages, with `policy`'s privacy terms) into the context a policy
    decides on."""

    async def run() -> DecisionContext:
        async with Classifier.open(policy=policy, model=model) as classifier:
            return await classifier.context(text, app_id)

    return asyncio.run(run())


class Classifier:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    @asynccontextmanager
    async def open(
        cls, *, policy: Path | None = None, model: Path | None = None, engine: Engine | None = None
    ) -> AsyncIterator[Classifier]:
        """A classifier over the configured (or given) policy and model; frees the model on exit."""
        from router.app import build_engine, load_local_backend

        if engine is not None:
            yield cls(engine)
            return
        settings = build_settings(policy=policy, model=model)
        backend = load_local_backend(settings)
        built = build_engine(settings, backend, decisions=None, cloud=None, assume_cloud=True)
        try:
            yield cls(built)
        finally:
            built.worker.close()

    async def context(self, text: str, app_id: str = "") -> DecisionContext:
        return await self.engine.context_for(build_request([("user", text)], app_id=app_id))

    async def classify(self, text: str, app_id: str = "") -> dict[str, Any]:
        request = build_request([("user", text)], app_id=app_id)
        outcome = await self.engine.classify(request)
        return {
            "route": outcome.route.value,
            "complexity": outcome.complexity,
            "privacy": outcome.privacy,
            "findings": [{"category": f.category, "start": f.start, "end": f.end} for f in outcome.spans],
            "rule": outcome.rule,
            "reason": outcome.reason,
            "stage": outcome.stage,
            "policy_version": outcome.policy_version,
        }
