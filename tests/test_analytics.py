"""Decision analytics, export and retention over a real decision log written by DecisionLog."""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import io
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
import pytest
import sqlite_utils
from click.testing import CliRunner

from router import analytics
from router.cli.decisions import decisions
from router.decisions import DecisionLog, DecisionRow, reader
from router.prices import Price, PriceTable

NOW = time.time()
HOUR = 3600.0


def make_rows(now: float) -> list[DecisionRow]:
    rows: list[DecisionRow] = []

    def add(**kw: Any) -> None:
        base: dict[str, Any] = dict(
            id=f"d{len(rows):03d}", app="notes", kind="route", route="local", decided_route="local",
            rule="simple_local", reason="short", total_ms=100.0, tokens_in=100, tokens_out=50,
            model="gemma-3-270m", ts=now - HOUR,
        )  # fmt: skip
        base.update(kw)
        rows.append(DecisionRow(**base))

    for i in range(6):  # local, 100..600 ms
        add(ts=now - HOUR * (i + 1), total_ms=100.0 * (i + 1), findings={"email": 1} if i == 0 else {})
    add(route="cloud", decided_route="cloud", rule="complex_cloud", model="gpt-4o-mini", total_ms=900.0,
        tokens_in=1000, tokens_out=500, cloud_ms=880.0)  # fmt: skip
    add(route="cloud", decided_route="cloud", rule="complex_cloud", model="gpt-4o-mini", total_ms=1100.0,
        tokens_in=1000, tokens_out=500, cloud_ms=1080.0)  # fmt: skip
    add(app="mail", route="cloud_redacted", decided_route="cloud_redacted", rule="redact_cloud",
        model="gpt-4o-mini", total_ms=700.0, tokens_in=200, tokens_out=100)  # fmt: skip
    add(app="mail", route="local", decided_route="cloud", rule="complex_cloud", fallback=True,
        fallback_reason="cloud circuit open", total_ms=1000.0)  # fmt: skip
    add(app="mail", route="deny", decided_route="deny", rule="no_secrets", status="DENIED", total_ms=3.0,
        tokens_in=0, tokens_out=0, model="")  # fmt: skip
    add(status="OVERLOADED", total_ms=5.0)  # local route, refused for a full queue
    add(id="old", ts=now - 10 * 24 * HOUR, total_ms=50.0)  # outside 24h
    return rows


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    state = tmp_path / "state"
    log = DecisionLog(state / "decisions.db")
    try:
        for r in make_rows(NOW):
            log.record(r)
        assert log.flush()
    finally:
        log.close()
    return state


@pytest.fixture
def db(state_dir: Path) -> Iterator[sqlite_utils.Database]:
    with reader(state_dir / "decisions.db") as database:
        yield database


PRICES = PriceTable(models={"gpt-4o-mini": Price(1000.0, 2000.0)})  # 1 and 2 per 1k tokens


# --- parsing -----------------------------------------------------------------------------------------


def test_parse_since_durations_dates_and_all() -> None:
    assert analytics.parse_since("30m", now=10_000.0) == 10_000.0 - 1800
    assert analytics.parse_since("24h", now=100_000.0) == 100_000.0 - 86_400
    assert analytics.parse_since("7d", now=1e9) == 1e9 - 7 * 86_400
    assert analytics.parse_since("2026-11-01") == datetime(2026, 11, 1, tzinfo=UTC).timestamp()
    assert analytics.parse_since("2026-11-01T08:00+02:00") == datetime(2026, 11, 1, 6, tzinfo=UTC).timestamp()
    assert analytics.parse_since("all") is None
    with pytest.raises(ValueError, match="30m, 24h, 7d"):
        analytics.parse_since("yesterday")
    with pytest.raises(ValueError, match="duration"):
        analytics.parse_duration("10y")


# --- stats -------------------------------------------------------------------------------------------


def test_stats_over_the_last_day(db: sqlite_utils.Database) -> None:
    s = analytics.stats(db, since=NOW - 24 * HOUR, prices=PRICES)
    assert s["requests"] == 12
    assert s["routes"] == {"local": 8, "cloud": 2, "cloud_redacted": 1, "deny": 1}
    assert s["local_share"] == pytest.approx(8 / 12)
    assert s["cloud_share"] == pytest.approx(3 / 12)
    assert s["denials"] == 1
    assert s["fallbacks"] == 1
    assert s["fallback_detail"] == [
        {"decided_route": "cloud", "route": "local", "reason": "cloud circuit open", "count": 1}
    ]
    assert s["errors"] == {"OVERLOADED": 1}  # the denial is not an error
    # local totals: 5, 100, 200, 300, 400, 500, 600, 1000 -> nearest-rank p50 = 4th, p95 = 8th
    assert s["latency_ms"]["local"] == {"count": 8, "p50": 300.0, "p95": 1000.0}
    assert s["latency_ms"]["cloud"] == {"count": 2, "p50": 900.0, "p95": 1100.0}
    assert s["top_rules"][0] == {"rule": "simple_local", "count": 7, "share": pytest.approx(7 / 12)}
    assert s["top_rules"][1]["rule"] == "complex_cloud" and s["top_rules"][1]["count"] == 3
    assert s["tokens"] == {"local": {"in": 800, "out": 400}, "cloud": {"in": 2200, "out": 1100}}
    cost = s["cost"]
    assert cost["cloud"] == pytest.approx(2.2 * 1.0 + 1.1 * 2.0)
    assert cost["saved"] == pytest.approx(0.8 * 1.0 + 0.4 * 2.0)  # local tokens at the cloud's price
    assert cost["if_all_cloud"] == pytest.approx(4.4 + 1.6)
    assert cost["reference_model"] == "gpt-4o-mini"
    assert cost["unpriced_models"] == []
    json.dumps(s)  # plain data


def test_stats_for_one_app_and_all_time(db: sqlite_utils.Database) -> None:
    mail = analytics.stats(db, since=NOW - 24 * HOUR, app="mail")
    assert mail["requests"] == 3
    assert mail["routes"] == {"local": 1, "cloud": 0, "cloud_redacted": 1, "deny": 1}
    assert mail["cost"]["cloud"] is None  # no prices, no guess
    everything = analytics.stats(db)
    assert everything["requests"] == 13


def test_stats_of_an_empty_window(db: sqlite_utils.Database) -> None:
    s = analytics.stats(db, since=NOW + HOUR, prices=PRICES)
    assert s["requests"] == 0 and s["local_share"] == 0.0 and s["latency_ms"] == {}
    assert s["cost"]["cloud"] == 0.0


def test_unlisted_cloud_models_are_priced_as_budgets_price_them(db: sqlite_utils.Database) -> None:
    # One price rule (router.prices): a model the table does not list costs the highest listed price,
    # as the budget counts it, and is named; only a table without prices leaves it unpriced.
    listed = PriceTable(models={"other": Price(1000, 1000), "cheaper": Price(10, 10)})
    s = analytics.stats(db, since=NOW - 24 * HOUR, prices=listed)
    assert s["cost"]["cloud"] == pytest.approx(2.2 + 1.1)
    assert s["cost"]["assumed_price_models"] == ["gpt-4o-mini"]
    assert s["cost"]["unpriced_models"] == []
    s = analytics.stats(db, since=NOW - 24 * HOUR, prices=PriceTable())
    assert s["cost"]["cloud"] == 0.0
    assert s["cost"]["unpriced_models"] == ["gpt-4o-mini"]


def test_price_table_from_policy_and_reference_order(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "format: 1\nprices:\n  gpt-4o-mini: {input_per_mtok: 150, output_per_mtok: 600}\n"
        "  big: {input_per_mtok: 2500, output_per_mtok: 10000}\n"
        "default_price: {input_per_mtok: 1000, output_per_mtok: 2000}\n"
    )
    table = PriceTable.from_policy(policy)
    assert table.models["big"] == Price(2500, 10_000)
    assert table.cost("gpt-4o-mini", 2000, 1000) == pytest.approx(0.3 + 0.6)
    assert table.cost("unknown", 1000, 1000) == pytest.approx(3.0)  # default
    assert table.reference() == ("default", Price(1000, 2000))
    assert table.reference("big") == ("big", Price(2500, 10_000))
    two = PriceTable(models={"a": Price(1, 1), "b": Price(2, 2)})
    assert two.reference(used=["b", "a"]) == ("b", Price(2, 2))
    assert two.reference() is None
    (tmp_path / "none.yaml").write_text("format: 1\n")
    assert PriceTable.from_policy(tmp_path / "none.yaml") == PriceTable()
    (tmp_path / "bad.yaml").write_text("format: 1\nprices:\n  gpt: {input: 1}\n")
    with pytest.raises(ValueError, match="input"):
        PriceTable.from_policy(tmp_path / "bad.yaml")


# --- export and retention ----------------------------------------------------------------------------


def test_export_rows_in_time_order(db: sqlite_utils.Database) -> None:
    rows = list(analytics.export_rows(db, since=NOW - 24 * HOUR))
    assert len(rows) == 12
    assert [r["ts"] for r in rows] == sorted(r["ts"] for r in rows)
    assert any(r["findings"] == {"email": 1} for r in rows)
    raw = next(analytics.export_rows(db, app="mail", raw=True))
    assert isinstance(raw["findings"], str) and raw["fallback"] in (0, 1)


def test_prune_deletes_only_old_rows(state_dir: Path) -> None:
    path = state_dir / "decisions.db"
    assert analytics.prune_file(path, 7 * 86_400, now=NOW) == 1
    assert analytics.prune_file(path, 7 * 86_400, now=NOW) == 0
    with reader(path) as db:
        assert db["decisions"].count == 12
        assert analytics.prune(db, 1.5 * HOUR, now=NOW) == 5  # the local rows 2h..6h old
    with pytest.raises(ValueError):
        analytics.prune_file(path, 0)


def test_prune_while_the_daemon_writer_is_open(tmp_path: Path) -> None:
    path = tmp_path / "decisions.db"
    log = DecisionLog(path)
    try:
        for r in make_rows(NOW):
            log.record(r)
        assert log.flush()
        assert analytics.prune_file(path, 7 * 86_400, now=NOW) == 1
        log.record(dataclasses.replace(make_rows(NOW)[0], id="new"))  # the writer still works
        assert log.flush()
    finally:
        log.close()
    with reader(path) as db:
        assert db["decisions"].count == 13


def test_retention_task_prunes_then_waits(state_dir: Path) -> None:
    path = state_dir / "decisions.db"

    async def scenario() -> int:
        task = asyncio.create_task(analytics.retention_task(path, max_age_days=7, interval_s=3600))
        for _ in range(600):
            await asyncio.sleep(0.01)
            with reader(path) as db:
                if db["decisions"].count == 12:
                    break
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        with reader(path) as db:
            return int(db["decisions"].count)

    assert asyncio.run(scenario()) == 12
    with pytest.raises(ValueError, match="max_age_days"):
        asyncio.run(analytics.retention_task(path, 0))


# --- CLI ---------------------------------------------------------------------------------------------


def run(*args: str) -> Any:
    return CliRunner().invoke(decisions, list(args), catch_exceptions=False)


def test_cli_tail_table_and_json(state_dir: Path) -> None:
    db = str(state_dir / "decisions.db")
    table = run("--db", db, "--tail", "3")
    assert table.exit_code == 0, table.output
    lines = table.output.splitlines()
    assert lines[0].startswith("time (UTC)") and len(lines) == 2 + 3
    as_json = run("--db", db, "-n", "5", "--json")
    rows = json.loads(as_json.output)
    assert len(rows) == 5 and [r["ts"] for r in rows] == sorted(r["ts"] for r in rows)
    assert "text" not in rows[0] and "prompt" not in rows[0]
    fallback = run("--state-dir", str(state_dir), "-n", "20")
    assert "local (from cloud)" in fallback.output


def test_cli_stats_json_with_prices_and_group_level_db(state_dir: Path) -> None:
    db = str(state_dir / "decisions.db")
    result = run("--db", db, "stats", "--since", "24h", "--price-in", "1", "--price-out", "2", "--json")
    assert result.exit_code == 0, result.output
    s = json.loads(result.output)
    assert s["requests"] == 12
    assert s["cost"]["saved"] == pytest.approx(1.6)
    assert s["cost"]["reference_model"] == "default"
    scoped = json.loads(run("stats", "--state-dir", str(state_dir), "--app", "mail", "--json").output)
    assert scoped["requests"] == 3


def test_cli_stats_table_with_policy_prices(state_dir: Path, tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text("prices:\n  gpt-4o-mini: {input_per_mtok: 1000, output_per_mtok: 2000}\n")
    result = run("stats", "--db", str(state_dir / "decisions.db"), "--policy", str(policy))
    assert result.exit_code == 0, result.output
    out = result.output
    assert "12 requests" in out
    assert "local share 66.7%, cloud share 25.0%, denials 1" in out
    assert "cloud->local 1 (cloud circuit open)" in out
    assert "estimated cloud cost" in out and "4.4000" in out
    assert "estimated saving" in out and "1.6000" in out
    assert "OVERLOADED 1" in out


def test_cli_stats_needs_both_prices(state_dir: Path) -> None:
    result = CliRunner().invoke(
        decisions, ["stats", "--db", str(state_dir / "decisions.db"), "--price-in", "1"]
    )
    assert result.exit_code == 2 and "--price-out" in result.output


def test_cli_export_jsonl_and_csv(state_dir: Path, tmp_path: Path) -> None:
    db = str(state_dir / "decisions.db")
    jsonl = run("export", "--db", db, "--since", "24h")
    lines = [json.loads(x) for x in jsonl.output.splitlines()]
    assert len(lines) == 12 and all(r["ts"] >= NOW - 24 * HOUR for r in lines)
    everything = run("export", "--db", db)
    assert len(everything.output.splitlines()) == 13
    out = tmp_path / "d.csv"
    result = run("export", "--db", db, "--format", "csv", "--app", "mail", "-o", str(out))
    assert "wrote 3 decisions" in result.output
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert len(rows) == 3 and {r["app"] for r in rows} == {"mail"}
    assert {r["route"] for r in rows} == {"local", "cloud_redacted", "deny"}


def test_cli_prune(state_dir: Path) -> None:
    db = str(state_dir / "decisions.db")
    result = run("prune", "--db", db, "--older-than", "7d", "--yes")
    assert "deleted 1 decisions" in result.output
    bad = CliRunner().invoke(decisions, ["prune", "--db", db, "--older-than", "soon", "--yes"])
    assert bad.exit_code == 2


def test_cli_missing_log_and_bad_since(tmp_path: Path) -> None:
    missing = CliRunner().invoke(decisions, ["--state-dir", str(tmp_path / "nowhere")])
    assert missing.exit_code == 1
    assert "no decision log at" in missing.output and "--state-dir" in missing.output
    bad = CliRunner().invoke(decisions, ["stats", "--db", str(tmp_path / "x.db"), "--since", "lately"])
    assert bad.exit_code == 2 and "24h" in bad.output


def test_every_command_has_help() -> None:
    assert decisions.help
    for name, command in decisions.commands.items():
        assert command.help, name
        assert CliRunner().invoke(decisions, [name, "--help"]).exit_code == 0
    assert isinstance(decisions, click.Group) and decisions.invoke_without_command
