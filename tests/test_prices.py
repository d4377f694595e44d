"""One price model (router.prices): the budget, the daemon's metrics and `router decisions stats`
estimate the same cost for the same cloud calls, unlisted models included (issue #19)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from router import analytics
from router.budget import Budget
from router.decisions import DecisionLog, DecisionRow, cloud_spend, reader
from router.metrics import Metrics
from router.policy import load_policy
from router.prices import Price, PriceTable

POLICY = """\
format: 1
prices:
  cheap: {input_per_mtok: 100, output_per_mtok: 200}
  dear: {input_per_mtok: 3000, output_per_mtok: 15000}
"""


def test_the_rule_for_a_model() -> None:
    cheap, dear = Price(1, 2), Price(30, 150)
    table = PriceTable(models={"cheap": cheap, "dear": dear})
    assert table.price_for("cheap") is cheap
    assert table.price_for("mystery") is dear and table.assumed("mystery")  # the highest listed
    assert not table.assumed("cheap")
    with_default = PriceTable(models={"cheap": cheap}, default=Price(5, 5))
    assert with_default.price_for("mystery") == Price(5, 5)
    assert PriceTable().price_for("mystery") is None and PriceTable().cost("mystery", 10, 10) == 0.0
    assert table.row_cost("local", "cheap", 1_000_000, 0) == 0.0
    assert table.row_cost("cloud_redacted", "cheap", 1_000_000, 0) == pytest.approx(1.0)


@pytest.mark.parametrize("with_default", [False, True])
def test_budget_metrics_and_stats_agree(tmp_path: Path, with_default: bool) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        POLICY + ("default_price: {input_per_mtok: 500, output_per_mtok: 500}\n" * with_default)
    )
    now = time.time()
    rows = [
        DecisionRow(id="a", ts=now, app="x", kind="route", route="cloud", decided_route="cloud", rule="r",
                    reason="", model="cheap", tokens_in=1000, tokens_out=500),
        DecisionRow(id="b", ts=now, app="y", kind="route", route="cloud_redacted", decided_route="cloud",
                    rule="r", reason="", model="mystery", tokens_in=2000, tokens_out=100),
        DecisionRow(id="c", ts=now, app="x", kind="route", route="local", decided_route="local", rule="r",
                    reason="", model="local-model", tokens_in=4000, tokens_out=4000),
    ]  # fmt: skip
    db = tmp_path / "decisions.db"
    log = DecisionLog(db)
    for row in rows:
        log.record(row)
    log.close()

    budget = Budget(load_policy(policy).limits)
    budget.restore(cloud_spend(db, budget.day_start()))
    metrics = Metrics()
    metrics.observe_rows(rows, budget.prices)  # what the daemon does with each written batch
    with reader(db) as conn:
        stats = analytics.stats(conn, prices=PriceTable.from_policy(policy))

    mystery = (500, 500) if with_default else (3000, 15000)
    expected = (1000 * 100 + 500 * 200 + 2000 * mystery[0] + 100 * mystery[1]) / 1_000_000
    assert budget.usage().cost == pytest.approx(expected)
    assert metrics.snapshot()["estimated_cloud_cost"] == pytest.approx(expected)
    assert stats["cost"]["cloud"] == pytest.approx(expected)
    assert stats["cost"]["assumed_price_models"] == ["mystery"]
