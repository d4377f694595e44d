"""Soak (issue 5): C concurrent clients against a live daemon for N seconds, faults included.

    python -m bench.soak [--seconds N] [--clients C] [--quick]

`router serve` runs as a subprocess (default model, a policy that sends metadata route=cloud to the
cloud, cloud = bench/fast_cloud.py). Each client loops over a seeded random mix of
    local, local-stream        short local answers (max_tokens 8), unary and streaming
    cloud, cloud-stream        the cloud stand-in answering at once
    classify                   decisions only
    cloud-http500              the stand-in answers 500 (the daemon retries, then falls back to local)
    cloud-http429              429 with Retry-After: 1 (the same, after waiting)
    cloud-hang                 the stand-in never answers; the client's deadline is 2 s
    cloud-break                streaming: the stand-in drops the connection after two chunks
and records, per call, the gRPC status and latency. A call is *unanswered* when neither a response nor
a status arrives within its deadline + 5 s. After the run the daemon is stopped with SIGTERM, and every
decision id the clients were answered with must have its row in decisions.db.

Checks: zero unanswered calls, no lost rows, a clean exit (code 0), RSS growth after warm-up < 5%.
"""

from __future__ import annotations

import asyncio
import random
import signal
import sqlite3
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from bench._common import (
    Daemon,
    FastCloud,
    Targets,
    fmt,
    force_cloud_policy,
    parser,
    percentile,
    section,
    table,
)

CASES: list[tuple[str, int]] = [
    ("local", 3),
    ("local-stream", 1),
    ("cloud", 4),
    ("cloud-stream", 2),
    ("classify", 4),
    ("cloud-http500", 1),
    ("cloud-http429", 1),
    ("cloud-hang", 1),
    ("cloud-break", 1),
]
DEADLINE_S = 30.0
HANG_DEADLINE_S = 2.0
SLACK_S = 5.0


@dataclass
class Call:
    case: str
    status: str
    ms: float
    route: str = ""
    decision_id: str = ""
    fallback: bool = False


@dataclass
class Run:
    calls: list[Call] = field(default_factory=list)
    rss: list[tuple[float, float]] = field(default_factory=list)  # (seconds since start, MiB)


async def _one(stub: object, case: str, rng: random.Random) -> Call:
    import grpc

    from router.client import ROUTE_NAMES, RouterClient

    fault = case.split("-", 1)[1] if case.startswith("cloud-") and case != "cloud-stream" else ""
    text = f"Question {rng.randint(0, 999)}: name a colour." + (f" [fault:{fault}]" if fault else "")
    metadata = {"route": "cloud"} if case.startswith("cloud") else {}
    request = RouterClient.build_request(text, max_tokens=8, temperature=0.0, metadata=metadata)
    deadline = HANG_DEADLINE_S if case == "cloud-hang" else DEADLINE_S
    streaming = case in ("local-stream", "cloud-stream", "cloud-break")
    t0 = time.perf_counter()
    call = Call(case, "UNANSWERED", 0.0)

    async def go() -> None:
        if case == "classify":
            r = await stub.Classify(request, timeout=deadline)  # type: ignore[attr-defined]
            call.route, call.decision_id = "decision only (Classify)", r.decision.id
        elif streaming:
            async for event in stub.RouteStream(request, timeout=deadline):  # type: ignore[attr-defined]
                kind = event.WhichOneof("event")
                if kind == "decision":
                    call.decision_id = event.decision.id
                    call.route = ROUTE_NAMES[event.decision.route]
                elif kind == "end":
                    call.route = ROUTE_NAMES[event.end.decision.route]
                    call.fallback = event.end.decision.fallback
        else:
            r = await stub.Route(request, timeout=deadline)  # type: ignore[attr-defined]
            call.route, call.decision_id = ROUTE_NAMES[r.decision.route], r.decision.id
            call.fallback = r.decision.fallback
        call.status = "OK"

    try:
        await asyncio.wait_for(go(), deadline + SLACK_S)
    except grpc.RpcError as e:
        call.status = e.code().name
    except TimeoutError:
        call.status = "UNANSWERED"
    call.ms = (time.perf_counter() - t0) * 1000
    return call


async def _soak(daemon: Daemon, seconds: float, clients: int, run: Run) -> None:
    import grpc

    from router.v1 import router_pb2_grpc as pb_grpc

    names = [c for c, _ in CASES]
    weights = [w for _, w in CASES]
    t_start = time.monotonic()
    stop_at = t_start + seconds

    async def client(k: int) -> None:
        rng = random.Random(1000 + k)
        async with grpc.aio.insecure_channel(daemon.target) as channel:
            stub = pb_grpc.RouterStub(channel)  # type: ignore[no-untyped-call]
            while time.monotonic() < stop_at:
                run.calls.append(await _one(stub, rng.choices(names, weights)[0], rng))

    async def sample_rss() -> None:
        while time.monotonic() < stop_at:
            run.rss.append((time.monotonic() - t_start, daemon.rss_mb()))
            await asyncio.sleep(1.0)

    sampler = asyncio.create_task(sample_rss())
    await asyncio.gather(*(client(k) for k in range(clients)))
    sampler.cancel()
    run.rss.append((time.monotonic() - t_start, daemon.rss_mb()))


def run(seconds: float, clients: int, quick: bool) -> str:
    result = Run()
    with (
        tempfile.TemporaryDirectory() as tmp,
        FastCloud() as cloud,
        Daemon(policy=force_cloud_policy(Path(tmp)), cloud_url=cloud.url) as daemon,
    ):
        rss_start = daemon.rss_mb()
        t0 = time.perf_counter()
        asyncio.run(_soak(daemon, seconds, clients, result))
        wall = time.perf_counter() - t0
        exit_code = daemon.stop(signal.SIGTERM)
        answered = {c.decision_id for c in result.calls if c.decision_id}
        with sqlite3.connect(daemon.decisions_db) as db:
            rows = {r[0] for r in db.execute("select id from decisions")}
            integrity = db.execute("pragma integrity_check").fetchone()[0]
    lost = answered - rows
    calls = result.calls

    # per case
    case_rows = []
    for name, _ in CASES:
        mine = [c for c in calls if c.case == name]
        statuses = Counter(c.status for c in mine)
        ok = [c.ms for c in mine if c.status == "OK"]
        fallbacks = sum(c.fallback for c in mine)
        case_rows.append(
            [
                name,
                len(mine),
                statuses.get("OK", 0),
                ", ".join(f"{k} {v}" for k, v in sorted(statuses.items()) if k != "OK") or "—",
                fallbacks,
                fmt(percentile(ok, 50)),
                fmt(percentile(ok, 99)),
            ]
        )
    by_case = table(
        ["case", "calls", "OK", "other statuses", "fell back", "OK p50 ms", "OK p99 ms"], case_rows
    )

    # per route actually taken (answered calls)
    route_rows = []
    for route in sorted({c.route for c in calls if c.status == "OK"}):
        ms = [c.ms for c in calls if c.status == "OK" and c.route == route]
        route_rows.append([route, len(ms), fmt(percentile(ms, 50)), fmt(percentile(ms, 99))])
    by_route = table(["route (answered)", "calls", "p50 ms", "p99 ms"], route_rows)

    statuses = Counter(c.status for c in calls)
    status_line = ", ".join(f"{k}: {v}" for k, v in statuses.most_common())
    warm_at = min(seconds * 0.2, 30.0)
    after_warm = next(
        (mb for t, mb in result.rss if t >= warm_at), result.rss[0][1] if result.rss else rss_start
    )
    rss_end = result.rss[-1][1] if result.rss else float("nan")
    rss_max = max((mb for _, mb in result.rss), default=float("nan"))
    targets = Targets()
    targets.check("unanswered calls", statuses.get("UNANSWERED", 0), "<=", 0)
    targets.check("lost decision rows after SIGTERM", len(lost), "<=", 0)
    targets.check("daemon exit code after SIGTERM", exit_code, "<=", 0)
    targets.check("RSS growth after warm-up", (rss_end - after_warm) / after_warm * 100, "<=", 5, " %")
    targets.note(
        f"decisions.db integrity_check: {integrity}; rows: {len(rows)}; answered ids: {len(answered)}"
    )
    notes = (
        f"{clients} clients for {seconds:.0f} s ({wall:.0f} s wall), {len(calls)} calls "
        f"({len(calls) / wall:.1f}/s). Statuses: {status_line}.\n\n"
        f"RSS: {fmt(rss_start)} MiB at start, {fmt(after_warm)} MiB after warm-up ({warm_at:.0f} s), "
        f"{fmt(rss_end)} MiB at the end, {fmt(rss_max)} MiB at most."
    )
    return f"{notes}\n\n{by_case}\n\n{by_route}\n\n{targets.markdown()}"


def main(argv: list[str] | None = None) -> None:
    p = parser("Soak: concurrent clients with faults against a live daemon")
    p.add_argument("--seconds", type=float, default=None, help="how long the clients run [120; quick 20]")
    p.add_argument("--clients", type=int, default=8, help="concurrent clients [8]")
    args = p.parse_args(argv)
    seconds = args.seconds or (20.0 if args.quick else 120.0)
    cmd = f"python -m bench.soak --seconds {seconds:g} --clients {args.clients}"
    print(section("Soak (issue 5)", cmd, run(seconds, args.clients, args.quick), args.quick), flush=True)


if __name__ == "__main__":
    main()
