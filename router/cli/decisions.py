"""`router decisions`: the decision log from the command line (thin wrappers over router.analytics)."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click
import sqlite_utils

from router import analytics
from router.config import default_state_dir
from router.decisions import reader, tail
from router.prices import PriceTable

F = TypeVar("F", bound=Callable[..., Any])
_META_KEY = "router.decisions.db"  # the group's --db/--state-dir, for its subcommands


def _db_options(f: F) -> F:
    f = click.option(
        "--db",
        "db_file",
        type=click.Path(dir_okay=False, path_type=Path),
        help="The decision log file (default: STATE_DIR/decisions.db).",
    )(f)
    f = click.option(
        "--state-dir",
        type=click.Path(file_okay=False, path_type=Path),
        envvar="ROUTER_STATE_DIR",
        help="The daemon's state directory (default: $ROUTER_STATE_DIR, $STATE_DIRECTORY or "
        "~/.local/state/hybrid-router).",
    )(f)
    return f


def _since(ctx: click.Context, param: click.Parameter, value: str) -> float | None:
    try:
        return analytics.parse_since(value)
    except ValueError as e:
        raise click.BadParameter(str(e)) from None


def _db_path(ctx: click.Context, state_dir: Path | None, db_file: Path | None) -> Path:
    """A subcommand's own --db/--state-dir win over the group's, which win over the default."""
    group_state, group_db = ctx.meta.get(_META_KEY, (None, None))
    if db_file is not None:
        return db_file
    if state_dir is not None:
        return state_dir / "decisions.db"
    if group_db is not None:
        return Path(group_db)
    return Path(group_state or default_state_dir()) / "decisions.db"


def _missing(path: Path) -> click.ClickException:
    return click.ClickException(
        f"no decision log at {path}; start the daemon (router serve) first, "
        "or pass --db FILE or --state-dir DIR"
    )


@contextmanager
def _open(path: Path) -> Iterator[sqlite_utils.Database]:
    if not path.exists():
        raise _missing(path)
    with reader(path) as db:
        yield db


def _table(headers: list[str], rows: list[list[str]], right: set[int] | None = None) -> str:
    right = right or set()
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v:,.1f}"


def _money(v: float | None) -> str:
    return "-" if v is None else f"{v:,.4f}"


@click.group("decisions", invoke_without_command=True)
@_db_options
@click.option(
    "--tail", "-n", "count", type=click.IntRange(min=1), default=20, show_default=True, help="How many rows."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
def decisions(
    ctx: click.Context, state_dir: Path | None, db_file: Path | None, count: int, as_json: bool
) -> None:
    """Show the last routing decisions, oldest first; `stats` and `export` analyse the log."""
    ctx.meta[_META_KEY] = (state_dir, db_file)
    if ctx.invoked_subcommand is not None:
        return
    with _open(_db_path(ctx, None, None)) as db:
        rows = tail(db, count)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("no decisions recorded yet")
        return
    table = [
        [
            analytics.format_ts(r["ts"]),
            r["app"],
            r["route"] + (f" (from {r['decided_route']})" if r["fallback"] else ""),
            r["rule"],
            r["status"],
            _ms(r["total_ms"]),
            f"{r['tokens_in'] or 0}/{r['tokens_out'] or 0}",
            r["id"],
            r.get("summary") or "",
        ]
        for r in rows
    ]
    headers = ["time (UTC)", "app", "route", "rule", "status", "total ms", "tokens in/out", "id", "in words"]
    click.echo(_table(headers, table, {5, 6}))


@decisions.command("stats")
@_db_options
@click.option(
    "--since", callback=_since, default="24h", show_default=True, help="30m, 24h, 7d, an ISO date, or 'all'."
)
@click.option("--app", help="Only this app.")
@click.option(
    "--policy",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Read cloud prices from this policy file (`prices:` and `default_price:`).",
)
@click.option(
    "--price-in", type=click.FloatRange(min=0), help="Cloud price per 1k prompt tokens (all models)."
)
@click.option(
    "--price-out", type=click.FloatRange(min=0), help="Cloud price per 1k completion tokens (all models)."
)
@click.option(
    "--price-model", help="Value local tokens at this model's price (default: see docs/operations.md)."
)
@click.option(
    "--top", type=click.IntRange(min=1), default=10, show_default=True, help="How many rules to list."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
@click.pass_context
def stats_command(
    ctx: click.Context,
    state_dir: Path | None,
    db_file: Path | None,
    since: float | None,
    app: str | None,
    policy: Path | None,
    price_in: float | None,
    price_out: float | None,
    price_model: str | None,
    top: int,
    as_json: bool,
) -> None:
    """Route shares, fallbacks, denials, latency, top rules, tokens and estimated cloud cost/saving."""
    prices: PriceTable | None = None
    if price_in is not None or price_out is not None:
        if price_in is None or price_out is None:
            raise click.UsageError("give both --price-in and --price-out (per 1k tokens), or --policy")
        prices = PriceTable.single(price_in * 1000, price_out * 1000)  # per 1k -> per million
    elif policy is not None:
        try:
            prices = PriceTable.from_policy(policy)
        except ValueError as e:
            raise click.ClickException(str(e)) from None
    with _open(_db_path(ctx, state_dir, db_file)) as db:
        result = analytics.stats(
            db, since=since, app=app, prices=prices, reference_model=price_model, top=top
        )
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    click.echo(_render_stats(result))


def _render_stats(s: dict[str, Any]) -> str:
    w = s["window"]
    since = analytics.format_ts(w["since"]) + " UTC" if w["since"] is not None else "the beginning"
    total = s["requests"]
    out = [f"Decisions since {since}, app: {w['app'] or 'all'}: {total:,} requests"]
    if not total:
        return out[0]
    out.append("")
    out.append(
        _table(
            ["route", "requests", "share"],
            [[r, f"{n:,}", f"{n / total:.1%}"] for r, n in s["routes"].items()],
            {1, 2},
        )
    )
    out.append("")
    out.append(
        f"local share {s['local_share']:.1%}, cloud share {s['cloud_share']:.1%}, denials {s['denials']:,}"
    )
    fb = ", ".join(
        f"{f['decided_route']}->{f['route']} {f['count']}" + (f" ({f['reason']})" if f["reason"] else "")
        for f in s["fallback_detail"]
    )
    out.append(f"fallbacks {s['fallbacks']:,}" + (f": {fb}" if fb else ""))
    if s["answer_checks"]:
        checks = ", ".join(f"{c['check']} -> {c['route']} {c['count']:,}" for c in s["answer_checks"])
        out.append(f"local answers rejected {sum(c['count'] for c in s['answer_checks']):,}: {checks}")
    if s["errors"]:
        out.append("errors: " + ", ".join(f"{k} {v:,}" for k, v in s["errors"].items()))
    out.append("")
    out.append(
        _table(
            ["latency (total ms)", "count", "p50", "p95"],
            [[r, f"{v['count']:,}", _ms(v["p50"]), _ms(v["p95"])] for r, v in s["latency_ms"].items()],
            {1, 2, 3},
        )
    )
    out.append("")
    out.append(
        _table(
            ["top rules", "requests", "share"],
            [[r["rule"], f"{r['count']:,}", f"{r['share']:.1%}"] for r in s["top_rules"]],
            {1, 2},
        )
    )
    out.append("")
    t = s["tokens"]
    out.append(
        _table(
            ["tokens", "in", "out"],
            [[k, f"{t[k]['in']:,}", f"{t[k]['out']:,}"] for k in ("local", "cloud")],
            {1, 2},
        )
    )
    c = s["cost"]
    out.append("")
    if c["cloud"] is None:
        out.append("cost: no prices given (--price-in/--price-out or --policy with a prices: section)")
    else:
        out.append(f"{'estimated cloud cost':<28}{_money(c['cloud'])}")
        if c["saved"] is not None:
            out.append(
                f"{'if everything went to cloud':<28}{_money(c['if_all_cloud'])}  "
                f"(local tokens at {c['reference_model']} prices)"
            )
            out.append(f"{'estimated saving':<28}{_money(c['saved'])}")
        else:
            out.append("saving: no reference price (add prices.default or pass --price-model)")
        if c["unpriced_models"]:
            out.append("no price for: " + ", ".join(m or "(unknown model)" for m in c["unpriced_models"]))
        if c["assumed_price_models"]:
            out.append(
                "not listed, priced at the default or the highest listed price (as budgets count them): "
                + ", ".join(m or "(unknown model)" for m in c["assumed_price_models"])
            )
    return "\n".join(out)


@decisions.command("export")
@_db_options
@click.option(
    "--since", callback=_since, default="all", show_default=True, help="30m, 24h, 7d, an ISO date, or 'all'."
)
@click.option("--app", help="Only this app.")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv"]), default="jsonl", show_default=True)
@click.option(
    "--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="Write here instead of stdout."
)
@click.pass_context
def export_command(
    ctx: click.Context,
    state_dir: Path | None,
    db_file: Path | None,
    since: float | None,
    app: str | None,
    fmt: str,
    output: Path | None,
) -> None:
    """Export decisions in time order as JSON lines or CSV (no prompt text is stored, so none is exported)."""
    with _open(_db_path(ctx, state_dir, db_file)) as db:
        stream = output.open("w", newline="") if output is not None else sys.stdout
        try:
            n = 0
            if fmt == "csv":
                writer = csv.DictWriter(stream, fieldnames=analytics.columns(db))
                writer.writeheader()
                for row in analytics.export_rows(db, since=since, app=app, raw=True):
                    writer.writerow(row)
                    n += 1
            else:
                for row in analytics.export_rows(db, since=since, app=app):
                    stream.write(json.dumps(row, sort_keys=True) + "\n")
                    n += 1
        finally:
            if output is not None:
                stream.close()
    if output is not None:
        click.echo(f"wrote {n:,} decisions to {output}", err=True)


@decisions.command("prune")
@_db_options
@click.option("--older-than", required=True, help="Delete rows older than this: 30d, 12w, 48h.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def prune_command(
    ctx: click.Context, state_dir: Path | None, db_file: Path | None, older_than: str, yes: bool
) -> None:
    """Delete old decisions now (the daemon also does this daily, see --retention-days)."""
    try:
        seconds = analytics.parse_duration(older_than)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--older-than") from None
    path = _db_path(ctx, state_dir, db_file)
    if not path.exists():
        raise _missing(path)
    if not yes:
        click.confirm(f"delete decisions older than {older_than} from {path}?", abort=True)
    deleted = analytics.prune_file(path, seconds)
    click.echo(f"deleted {deleted:,} decisions")
