"""Reliability under faults (#18): a dead cloud, clients that never read, a descriptor flood.

    python -m bench.faults [--quick]

Run by hand (not a timed unit test). Each part starts a real `router serve` process:

1. Time to an answer with the cloud hanging, drip-feeding (one character a second) or answering 429
   with `Retry-After: 3600`, for a unary `Route` forced to the cloud (its fallback is local), with no
   client deadline and with a 30 s one. Target: <= 10 s to the local answer with the defaults.
2. Local queue health while 20 `RouteStream` calls never read (raw HTTP/2, no WINDOW_UPDATE; window
   0, and window 64 bytes: enough for the first message, not for the decision). Target: a fresh local
   call answers within its normal latency + 1 s.
3. The descriptor limit: a daemon under RLIMIT_NOFILE 1024 (the usual soft limit) flooded with 1,100
   idle connections. Reported: the status a client gets meanwhile and how fast; target: recovery
   within 1 s of the flood closing.
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench._common import (
    Daemon,
    Targets,
    fmt,
    force_cloud_policy,
    model_path,
    parser,
    section,
    stop_process,
    table,
    tail,
)
from router.app import raise_fd_limit
from router.client import ClientError, RouterClient
from tests.slowreader import NonReader
from tests.standin import CloudStandIn

COMMAND = "python -m bench.faults"


# --- 1. a dead cloud ------------------------------------------------------------------------------


def dead_cloud(quick: bool, targets: Targets) -> str:
    """One daemon per fault, so that one fault's failures do not open the circuit for the next."""
    rows = []
    work = Path(tempfile.mkdtemp(prefix="hr-bench-faults-"))
    names = {"hang": "hanging", "drip": "dripping 1 char/s", "http429": "429, Retry-After 3600"}
    for fault in ("hang", "drip", "http429"):
        with CloudStandIn() as cloud, Daemon(policy=force_cloud_policy(work), cloud_url=cloud.url) as daemon:
            cloud.hang_s = 300
            cloud.drip_s = 1.0
            cloud.retry_after = 3600
            with RouterClient(target=daemon.target, timeout=60) as warm:
                warm.route("Hello", max_tokens=4)
            for deadline in (None, 30.0):
                cloud.faults.clear()
                cloud.faults.extend([fault] * 10)
                t0 = time.monotonic()
                cloud_s = local_s = None
                try:
                    with RouterClient(target=daemon.target, timeout=deadline) as client:
                        reply = client.route("Hello there", metadata={"route": "cloud"}, max_tokens=8)
                    took = time.monotonic() - t0
                    d = reply.decision
                    cloud_s = d.timings["cloud_ms"] / 1000
                    local_s = (d.timings["queue_ms"] + d.timings["generation_ms"]) / 1000
                    outcome = (
                        f"{d.route}, fallback: {d.fallback_reason}"
                        if d.fallback
                        else f"{d.route}: {d.reason}"
                    )
                except ClientError as e:
                    took = time.monotonic() - t0
                    outcome = f"{e.code}: {e.message[:60]}"
                label = "none" if deadline is None else f"{deadline:g} s"
                rows.append([names[fault], label, fmt(took, 2), fmt(cloud_s, 2), fmt(local_s, 2), outcome])
                targets.check(
                    f"{fault}, client deadline {label}: seconds to an answer", took, "<=", 10.0, " s"
                )
                targets.check(
                    f"{fault}, client deadline {label}: seconds lost to the cloud", cloud_s, "<=", 8.0, " s"
                )
            cloud.faults.clear()
    shutil.rmtree(work, ignore_errors=True)
    headers = ["cloud", "client deadline", "seconds to answer", "of which cloud", "of which local", "answer"]
    return table(headers, rows)


# --- 2. clients that never read -----------------------------------------------------------------


def _local_latency(target: str, n: int) -> tuple[list[float], list[str]]:
    """Seconds per fresh local call, and the statuses of those that were refused."""
    out, refused = [], []
    with RouterClient(target=target, timeout=30) as client:
        for _ in range(n):
            t0 = time.monotonic()
            try:
                client.route("Say hi", max_tokens=8)
            except ClientError as e:
                refused.append(e.code)
            out.append(time.monotonic() - t0)
    return out, refused


def non_readers(quick: bool, targets: Targets) -> str:
    rows = []
    n = 3 if quick else 7
    with Daemon() as daemon:
        _local_latency(daemon.target, 2)  # warm up
        baseline = _local_latency(daemon.target, n)[0]
        normal, normal_median = max(baseline), statistics.median(baseline)
        rows.append(["none", f"{normal:.2f} (median {normal_median:.2f})", "-"])
        request = RouterClient.build_request("What is the capital of France?", max_tokens=1000)
        for window in (0, 64):
            readers = [NonReader(daemon.target, request, streams=5, window=window) for _ in range(4)]
            try:
                during, refused = _local_latency(daemon.target, n)
                time.sleep(11)  # past --stream-stall-s: the stalled streams are cancelled
                after, refused_after = _local_latency(daemon.target, n)
            finally:
                for r in readers:
                    r.close()
            status = ", ".join(sorted(set(refused))) or "all answered"
            status_after = ", ".join(sorted(set(refused_after))) or "all answered"
            rows.append(
                [
                    f"20, window {window} B: right after they start",
                    f"{max(during):.2f} (median {statistics.median(during):.2f})",
                    status,
                ]
            )
            rows.append(
                [
                    f"20, window {window} B: 11 s later (still open)",
                    f"{max(after):.2f} (median {statistics.median(after):.2f})",
                    status_after,
                ]
            )
            if window == 0:
                ok = not refused and not refused_after
                worst = max(max(during), max(after))
                typical = statistics.median(during + after)
                targets.check(
                    "20 non-reading streams (window 0): median fresh local call minus normal median",
                    typical - normal_median if ok else None,
                    "<=",
                    1.0,
                    " s",
                )
                targets.note(
                    f"the slowest fresh call took {worst:.2f} s, the slowest normal one {normal:.2f} s "
                    "(on a shared, loaded machine single calls vary by seconds)"
                )
            else:
                targets.note(
                    f"window {window} B (past the empty first message, stuck on the decision): right "
                    f"after they start, fresh calls: {status} (slowest {max(during):.2f} s); 11 s later: "
                    f"{status_after} (slowest {max(after):.2f} s). Each such stream costs its model-stage "
                    "prefill and at most --stream-max-unread (64) pieces before it is stopped"
                )
            time.sleep(1)
    return table(["non-reading streams", "slowest fresh local call (s)", "fresh calls"], rows)


# --- 3. the descriptor limit --------------------------------------------------------------------

FD_LIMIT = 1024
FLOOD = 1100


def _limited() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (FD_LIMIT, FD_LIMIT))


def _call(sock: Path, timeout: float) -> tuple[str, float]:
    t0 = time.monotonic()
    try:
        with RouterClient(socket=sock, timeout=timeout) as client:
            client.classify("Hello")
        return "OK", time.monotonic() - t0
    except ClientError as e:
        return e.code, time.monotonic() - t0


def _until_ok(sock: Path, limit_s: float) -> float | None:
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit_s:
        if _call(sock, 1.0)[0] == "OK":
            return time.monotonic() - t0
        time.sleep(0.05)
    return None


def descriptor_flood(quick: bool, targets: Targets) -> str:
    raise_fd_limit()  # the flood itself needs more than 1024 descriptors here
    work = Path(tempfile.mkdtemp(prefix="hr-bench-fd-", dir="/tmp"))
    sock = work / "router.sock"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROUTER_")}
    env.update(
        ROUTER_STATE_DIR=str(work / "state"),
        ROUTER_SOCKET=str(sock),
        ROUTER_MODEL=str(model_path()),
        ROUTER_N_CTX="512",
        ROUTER_RETENTION_DAYS="0",
    )
    log_path = work / "daemon.log"
    log = log_path.open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "router", "serve", "--log-format", "json"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        preexec_fn=_limited,
    )
    rows = []
    flood: list[socket.socket] = []
    try:
        if _until_ok(sock, 180) is None:
            raise RuntimeError(f"router serve did not start: {tail(log_path)}")
        for _ in range(FLOOD):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(str(sock))
            flood.append(s)
        time.sleep(0.5)
        code, took = _call(sock, 5.0)
        rows.append([f"{FLOOD} idle connections open", code, fmt(took, 3)])
        targets.note(f"a client during the flood: {code} after {took:.3f} s (before: a hang to its deadline)")
        held = _until_ok(sock, 30)
        rows.append(
            ["... still open (never finish the handshake)", "OK" if held is not None else "no", fmt(held, 2)]
        )
        for s in flood:
            s.close()
        flood = []
        recovered = _until_ok(sock, 10)
        rows.append(["flood closed", "OK" if recovered is not None else "no", fmt(recovered, 3)])
        targets.check("recovery after the flood closes", recovered, "<=", 1.0, " s")
        targets.check("daemon alive after the flood", 1.0 if proc.poll() is None else 0.0, ">=", 1.0)
    finally:
        for s in flood:
            s.close()
        if proc.poll() is None:
            stop_process(proc, signal.SIGTERM)
        log.close()
        shutil.rmtree(work, ignore_errors=True)
    return table(["state", "client status", "seconds"], rows)


def main() -> None:
    args = parser(__doc__ or "").parse_args()
    targets = Targets()
    parts = [
        "### A dead cloud (unary Route forced to the cloud, local fallback; default settings)",
        dead_cloud(args.quick, targets),
        "### 20 RouteStream calls that never read",
        non_readers(args.quick, targets),
        f"### Descriptor limit {FD_LIMIT}, {FLOOD} idle connections",
        descriptor_flood(args.quick, targets),
        "### Targets",
        targets.markdown(),
    ]
    print(
        section(
            "Faults: dead cloud, non-reading clients, descriptor flood",
            COMMAND,
            "\n\n".join(parts),
            args.quick,
        )
    )


if __name__ == "__main__":
    main()
