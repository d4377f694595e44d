"""Budgets survive restarts (#18, finding 6): today's cloud spend is rebuilt from the decision log."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from router.budget import Budget, BudgetLimits, Limits
from router.client import RouterClient
from tests.standin import CloudStandIn

POLICY = Path(__file__).parent / "policies" / "by-metadata.yaml"
DAY = 86_400.0


def test_a_restart_does_not_reset_todays_budget(
    daemon_factory: Any, cloud: CloudStandIn, tmp_path: Path
) -> None:
    policy = tmp_path / "budget.yaml"
    policy.write_text(POLICY.read_text() + "budgets:\n  global: {requests_per_day: 2}\n")
    state = tmp_path / "state"

    def start() -> Any:
        return daemon_factory(
            state_dir=state, policy=policy, cloud_url=cloud.url, cloud_model="standin-large"
        )

    runner = start()
    with RouterClient(target=runner.target) as client:
        for _ in range(2):
            assert client.route("Hi", metadata={"route": "cloud"}, max_tokens=4).decision.route == "cloud"
        spent = client.route("Hi", metadata={"route": "cloud"}, max_tokens=4).decision
    assert spent.route == "local" and "budget spent" in spent.reason
    runner.stop()

    runner = start()  # a restart (or a crash loop) on the same state directory
    with RouterClient(target=runner.target) as client:
        again = client.route("Hi", metadata={"route": "cloud"}, max_tokens=4).decision
    assert again.route == "local" and "budget spent: 2 of 2 requests today" in again.reason
    assert len(cloud.requests) == 2  # nothing more went out after the restart
    assert runner.daemon.engine.policies.budget.usage().requests == 2


def test_restore_counts_only_today() -> None:
    now = 1_764_460_800.0 + 3_600  # 2025-11-30 01:00 UTC
    budget = Budget(BudgetLimits(global_limits=Limits(requests_per_day=10)), clock=lambda: now)
    counted = budget.restore(
        [
            (now - DAY, "notes", "m", 100, 100),  # yesterday
            (now - 1_800, "notes", "m", 10, 5),  # today, 00:30
            (now - 60, "mail", "m", 1, 2),
        ]
    )
    assert counted == 2
    assert budget.usage().requests == 2 and budget.usage().tokens == 18
    assert budget.usage("notes").tokens == 15 and budget.usage("mail").requests == 1
