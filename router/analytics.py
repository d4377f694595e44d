"""Decision analytics and retention: pure functions over the decision log (a sqlite_utils.Database).

`stats()` answers "where did my requests go and what did it cost": route shares, fallbacks, denials,
errors, latency percentiles per route, top rules, tokens, the estimated cloud spend and the estimated
saving against sending everything to the cloud. `export_rows()` streams rows for JSONL/CSV, `prune()`
deletes rows past the retention age and `retention_task()` runs it daily inside the daemon.

Cloud calls are priced by the one price model of `router.prices` (a `PriceTable` from
`--price-in/--price-out` or a policy file's `prices:` and `default_price:`), the rule the budget and the
daemon's metrics use too: a cloud model the table does not list is priced at the default, else at the
highest listed price, and is named in `assumed_price_models`; only a table with no prices at all leaves
a model unpriced (`unpriced_models`, cost 0).

The saving prices the local route's tokens at the cloud model's price: the reference model is the one
named with `reference=`, else `default`, else the only model listed, else the cloud model used most in
the window.
"""

from __future__ import annotations

import asyncio
import math
import re
import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlite_utils
import structlog

from router.decisions import FEATURES, TABLE, decode
from router.prices import CLOUD_ROUTES, PriceTable

log = structlog.get_logger("router.analytics")

ROUTES = ("local", "cloud", "cloud_redacted", "deny")
DAY_S = 86_400.0
_UNITS = {"s": 1.0, "m": 60.0, "h": 3_600.0, "d": DAY_S, "w": 7 * DAY_S}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")


# --- time windows ------------------------------------------------------------------------------------


def parse_duration(value: str) -> float:
    """'90s', '30m', '24h', '7d', '2w' -> seconds."""
    m = _DURATION.match(value.lower())
    if not m:
        raise ValueError(f"expected a duration like 30m, 24h or 7d, got {value!r}")
    return float(m.group(1)) * _UNITS[m.group(2)]


def parse_since(value: str, now: float | None = None) -> float | None:
    """A window start as unix seconds: a duration back from `now` (30m, 24h, 7d), an ISO date or
    date-time (2026-11-01, 2026-11-01T08:00; UTC unless it carries an offset), or 'all' (None)."""
    if value.strip().lower() == "all":
        return None
    if _DURATION.match(value.lower()):
        return (time.time() if now is None else now) - parse_duration(value)
    try:
        dt = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(
            f"--since: expected a duration (30m, 24h, 7d), an ISO date (2026-11-01) or 'all', got {value!r}"
        ) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


# --- queries -----------------------------------------------------------------------------------------


def _where(since: float | None, until: float | None, app: str | None, *extra: str) -> tuple[str, list[Any]]:
    clauses: list[str] = list(extra)
    params: list[Any] = []
    if since is not None:
        clauses.append("ts >= ?")
        params.append(since)
    if until is not None:
        clauses.append("ts < ?")
        params.append(until)
    if app is not None:
        clauses.append("app = ?")
        params.append(app)
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


def _query(db: sqlite_utils.Database, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
    return list(db.execute(sql, params).fetchall())


def percentile(sorted_values: list[float], p: float) -> float | None:
    """Nearest-rank percentile of an ascending list (None when empty)."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def stats(
    db: sqlite_utils.Database,
    *,
    since: float | None = None,
    until: float | None = None,
    app: str | None = None,
    prices: PriceTable | None = None,
    reference_model: str | None = None,
    top: int = 10,
) -> dict[str, Any]:
    """Summary of the decisions in [since, until) (optionally one app), as plain JSON-ready data."""
    where, params = _where(since, until, app)

    routes = dict.fromkeys(ROUTES, 0)
    for route, n in _query(db, f"SELECT route, COUNT(*) FROM {TABLE}{where} GROUP BY route", params):
        routes[route] = n
    total = sum(routes.values())

    def share(n: int) -> float:
        return n / total if total else 0.0

    fb_where, _ = _where(since, until, app, "fallback = 1")
    fallbacks = [
        {"decided_route": d, "route": r, "reason": reason, "count": n}
        for d, r, reason, n in _query(
            db,
            f"SELECT decided_route, route, fallback_reason, COUNT(*) AS n FROM {TABLE}{fb_where} "
            "GROUP BY 1, 2, 3 ORDER BY n DESC, 1, 2, 3",
            params,
        )
    ]
    # Local answers rejected by an answer check (router.checks): where each went after the check.
    check_where, _ = _where(since, until, app, "answer_check != ''")
    answer_checks = [
        {"check": check, "route": r, "count": n}
        for check, r, n in _query(
            db,
            f"SELECT answer_check, route, COUNT(*) AS n FROM {TABLE}{check_where} "
            "GROUP BY 1, 2 ORDER BY n DESC, 1, 2",
            params,
        )
    ]
    # Denials are answers, not errors: a refused request has route 'deny'.
    err_where, _ = _where(since, until, app, "status != 'OK'", "route != 'deny'")
    errors = {
        status: n
        for status, n in _query(
            db,
            f"SELECT status, COUNT(*) AS n FROM {TABLE}{err_where} GROUP BY status ORDER BY n DESC, status",
            params,
        )
    }  # fmt: skip

    durations: dict[str, list[float]] = {}
    for route, ms in _query(
        db, f"SELECT route, total_ms FROM {TABLE}{where} ORDER BY route, total_ms", params
    ):
        durations.setdefault(route, []).append(float(ms or 0.0))
    latency = {
        route: {"count": len(values), "p50": percentile(values, 50), "p95": percentile(values, 95)}
        for route, values in durations.items()
    }

    top_rules = [
        {"rule": rule, "count": n, "share": share(n)}
        for rule, n in _query(
            db, f"SELECT rule, COUNT(*) AS n FROM {TABLE}{where} GROUP BY rule ORDER BY n DESC, rule LIMIT ?",
            [*params, top],
        )
    ]  # fmt: skip

    tokens = {"local": {"in": 0, "out": 0}, "cloud": {"in": 0, "out": 0}}
    cloud_models: list[tuple[str, int, int, int]] = []
    for route, model, n, t_in, t_out in _query(
        db,
        f"SELECT route, model, COUNT(*) AS n, COALESCE(SUM(tokens_in), 0), COALESCE(SUM(tokens_out), 0) "
        f"FROM {TABLE}{where} GROUP BY route, model ORDER BY n DESC",
        params,
    ):
        bucket = "cloud" if route in CLOUD_ROUTES else "local" if route == "local" else None
        if bucket is None:
            continue
        tokens[bucket]["in"] += int(t_in)
        tokens[bucket]["out"] += int(t_out)
        if bucket == "cloud":
            cloud_models.append((model or "", n, int(t_in), int(t_out)))

    cost: dict[str, Any] = {"cloud": None, "if_all_cloud": None, "saved": None, "reference_model": None}
    unpriced: list[str] = []
    assumed: list[str] = []
    if prices is not None:
        spent = 0.0
        for model, _, t_in, t_out in cloud_models:
            price = prices.price_for(model)
            if price is None:
                unpriced.append(model)
            else:
                spent += price.cost(t_in, t_out)
                if prices.assumed(model):
                    assumed.append(model)
        by_use: dict[str, int] = {}
        for model, n, _, _ in cloud_models:
            by_use[model] = by_use.get(model, 0) + n
        used = sorted(by_use, key=lambda m: -by_use[m])
        ref = prices.reference(reference_model, used)
        cost["cloud"] = spent
        if ref is not None:
            saved = ref[1].cost(tokens["local"]["in"], tokens["local"]["out"])
            cost.update(if_all_cloud=spent + saved, saved=saved, reference_model=ref[0])
    cost["unpriced_models"] = sorted(set(unpriced))
    cost["assumed_price_models"] = sorted(set(assumed))

    return {
        "window": {"since": since, "until": until, "app": app},
        "requests": total,
        "routes": routes,
        "local_share": share(routes["local"]),
        "cloud_share": share(sum(routes[r] for r in CLOUD_ROUTES)),
        "denials": routes["deny"],
        "fallbacks": sum(f["count"] for f in fallbacks),
        "fallback_detail": fallbacks,
        "answer_checks": answer_checks,
        "errors": errors,
        "latency_ms": latency,
        "top_rules": top_rules,
        "tokens": tokens,
        "cost": cost,
    }


def export_rows(
    db: sqlite_utils.Database,
    *,
    since: float | None = None,
    until: float | None = None,
    app: str | None = None,
    raw: bool = False,
) -> Iterator[dict[str, Any]]:
    """Rows in time order. `raw`: as stored (findings as JSON text, fallback 0/1), for CSV; otherwise
    decoded like `decisions.tail()`."""
    where, params = _where(since, until, app)
    cursor = db.execute(f"SELECT * FROM {TABLE}{where} ORDER BY ts, id", params)
    columns = [d[0] for d in cursor.description]
    for values in cursor:
        row = dict(zip(columns, values, strict=True))
        yield row if raw else decode(row)


def columns(db: sqlite_utils.Database) -> list[str]:
    """The decision table's columns, in order (the CSV header)."""
    return [c.name for c in db[TABLE].columns]


# --- retention ---------------------------------------------------------------------------------------


def prune(db: sqlite_utils.Database, older_than_s: float, *, now: float | None = None) -> int:
    """Delete decisions older than `older_than_s` seconds, and the model-stage inputs kept for them
    (the `features` table); returns how many decisions were deleted."""
    if older_than_s <= 0:
        raise ValueError("older_than_s must be positive")
    cutoff = (time.time() if now is None else now) - older_than_s
    with db.conn:  # one transaction
        cursor = db.conn.execute(f"DELETE FROM {TABLE} WHERE ts < ?", [cutoff])
        if FEATURES in db.table_names():
            db.conn.execute(f"DELETE FROM {FEATURES} WHERE ts < ?", [cutoff])
    return int(cursor.rowcount)


def prune_file(path: Path, older_than_s: float, *, now: float | None = None) -> int:
    """`prune()` on the log at `path` with a connection of its own (WAL: the daemon's writer keeps going)."""
    db = sqlite_utils.Database(path)
    try:
        db.execute("PRAGMA busy_timeout = 5000")
        return prune(db, older_than_s, now=now)
    finally:
        db.close()


async def retention_task(path: Path, max_age_days: float, *, interval_s: float = DAY_S) -> None:
    """Prune the decision log at `path` of rows older than `max_age_days`, now and then every
    `interval_s` (a day); runs until cancelled. The delete runs in a worker thread, so the event loop is
    not blocked; a failure (disk full, database locked) is logged and retried at the next interval."""
    if max_age_days <= 0:
        raise ValueError("max_age_days must be positive; do not start the task to keep rows forever")
    while True:
        try:
            deleted = await asyncio.to_thread(prune_file, path, max_age_days * DAY_S)
            log.info("decisions_pruned", rows=deleted, max_age_days=max_age_days)
        except (sqlite3.Error, OSError) as e:
            log.error("decisions_prune_failed", error=str(e), error_type=type(e).__name__)
        await asyncio.sleep(interval_s)


def format_ts(ts: float | None) -> str:
    """Unix seconds as 'YYYY-MM-DD HH:MM:SS' in UTC, for tables."""
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S")
