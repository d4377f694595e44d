"""Decision throughput: Classify (score + policy + decision log, nothing generated) at concurrency 1, 8, 32.

    python -m bench.throughput [--quick] [--requests N] [--channels K]

`router serve` runs as a subprocess on a Unix socket with the shipped default policy and no cloud.
The load generator is grpc.aio in this process: `concurrency` coroutines on one event loop, each sending
its next Classify as soon as the previous answer is in (a closed loop, so in-flight = concurrency), over
K channels shared round-robin, after a warm-up at the same concurrency (the ramp from one call in flight
to 32 is not the steady state being measured); on a 2-core machine the daemon and the load generator
share the two cores, as the target demands. (The synchronous grpc client in threads costs the same CPU
per call here, ~0.2 ms, and reaches fewer calls per second; grpc.aio it stays.)

The prompts are short, everyday questions that the complexity cascade settles in its cheap first stage
("features"): the target is for fast-path decisions. The benchmark checks this and says so in its notes;
a prompt that needs the model stage (a forward pass of the local model, ~100x the cost) would make the
table measure something else.

The peer here is the floor: the same load against a gRPC server that answers a fixed ClassifyResponse
without scoring, deciding or logging anything, in its own process, so the table shows what the
router's own work costs per decision on this machine.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench._common import (
    Daemon,
    Targets,
    fmt,
    parser,
    percentile,
    section,
    stop_process,
    table,
)

PROMPTS = [
    "Translate 'good morning' into Spanish.",
    "Translate 'thank you' into German.",
    "Give me a word that rhymes with cat.",
    "How many legs does a spider have?",
    "What colour is the sky on a clear day?",
    "Name three primary colours.",
    "Is 17 a prime number?",
    "Write a haiku about rain.",
]
LEVELS = (1, 8, 32)

_FLOOR_SERVER = """
import asyncio, sys
import grpc
from router.v1 import router_pb2 as pb, router_pb2_grpc as pb_grpc

class Floor(pb_grpc.RouterServicer):
    async def Classify(self, request, context):
        return pb.ClassifyResponse(decision=pb.Decision(id="0" * 32, route=pb.ROUTE_KIND_LOCAL, rule="floor"))

async def main():
    server = grpc.aio.server()
    pb_grpc.add_RouterServicer_to_server(Floor(), server)
    server.add_insecure_port("unix:" + sys.argv[1])
    await server.start()
    print("READY", flush=True)
    await server.wait_for_termination()

asyncio.run(main())
"""


async def _load(target: str, concurrency: int, n: int, channels: int) -> tuple[list[float], int, float]:
    import grpc

    from router.client import RouterClient
    from router.v1 import router_pb2_grpc as pb_grpc

    chans = [grpc.aio.insecure_channel(target) for _ in range(channels)]
    stubs = [pb_grpc.RouterStub(c) for c in chans]  # type: ignore[no-untyped-call]
    requests = [RouterClient.build_request(p, app_id="bench") for p in PROMPTS]
    samples: list[float] = []
    errors = 0
    try:
        # Warm-up at the measured concurrency (connections, HTTP/2 windows, caches, the decision-log
        # writer), so the first measured calls do not pay for the ramp from one call to `concurrency`.
        warm = iter(range(max(200, 4 * concurrency)))

        async def warm_up(w: int) -> None:
            for i in warm:
                await stubs[w % channels].Classify(requests[i % len(requests)], timeout=10)

        await asyncio.gather(*(warm_up(w) for w in range(concurrency)))
        counter = 0

        async def worker(w: int) -> None:
            nonlocal counter, errors
            stub = stubs[w % channels]
            while counter < n:
                i = counter
                counter += 1
                t0 = time.perf_counter()
                try:
                    await stub.Classify(requests[i % len(requests)], timeout=10)
                except grpc.RpcError:
                    errors += 1
                    continue
                samples.append((time.perf_counter() - t0) * 1000)

        t0 = time.perf_counter()
        await asyncio.gather(*(worker(w) for w in range(concurrency)))
        wall = time.perf_counter() - t0
    finally:
        for c in chans:
            await c.close()
    return samples, errors, wall


def _measure(target: str, counts: dict[int, int], channels: int) -> dict[int, tuple[list[float], int, float]]:
    return {c: asyncio.run(_load(target, c, counts[c], channels)) for c in LEVELS}


def run(quick: bool, requests: int | None = None, channels: int = 1) -> str:
    n = requests or (600 if quick else 8000)
    counts = {1: max(200, n // 4), 8: n, 32: n}
    results: dict[str, dict[int, tuple[list[float], int, float]]] = {}
    with Daemon(n_ctx=1024) as daemon:
        from router.client import RouterClient

        with RouterClient(socket=daemon.socket, timeout=30) as client:
            decided = [client.classify(p, app_id="bench") for p in PROMPTS]
        kinds = sorted({(d.route, d.rule or "(default)", d.stage) for d in decided})
        stage = "; ".join(f"route {r}, rule {rule}, complexity stage {st!r}" for r, rule, st in kinds)
        slow = [p for p, d in zip(PROMPTS, decided, strict=True) if d.stage != "features"]
        if slow:
            stage += f" (NOT all fast-path: {len(slow)} of {len(PROMPTS)} prompts need the model stage)"
        results["hybrid-router daemon: Classify"] = _measure(daemon.target, counts, channels)
    workdir = Path(tempfile.mkdtemp(prefix="hr-floor-"))
    sock = workdir / "floor.sock"
    floor = subprocess.Popen(
        [sys.executable, "-c", _FLOOR_SERVER, str(sock)], stdout=subprocess.PIPE, env=os.environ.copy()
    )
    try:
        assert floor.stdout is not None
        if floor.stdout.readline().strip() != b"READY":
            raise RuntimeError("the floor server did not start")
        results["floor: grpc.aio server, fixed reply"] = _measure(f"unix:{sock}", counts, channels)
    finally:
        stop_process(floor, timeout=5)
    rows = []
    for name, by_level in results.items():
        for c in LEVELS:
            samples, errors, wall = by_level[c]
            rows.append(
                [
                    name,
                    c,
                    len(samples),
                    errors,
                    fmt(len(samples) / wall, 0),
                    fmt(percentile(samples, 50), 2),
                    fmt(percentile(samples, 99), 2),
                ]
            )
    body = table(["server", "concurrency", "requests", "errors", "req/s", "p50 ms", "p99 ms"], rows)
    targets = Targets()
    daemon_results = results["hybrid-router daemon: Classify"]
    best = max(len(s) / w for s, _, w in daemon_results.values())
    targets.check("daemon Classify throughput (best level)", best, ">=", 1000, " req/s")
    s32, _, _ = daemon_results[32]
    targets.check("daemon Classify p99 at concurrency 32", percentile(s32, 99), "<=", 20, " ms")
    floor_best = max(len(s) / w for s, _, w in results["floor: grpc.aio server, fixed reply"].values())
    targets.note(
        f"daemon / floor throughput = {best / floor_best:.3f} (what scoring, policy and logging cost)"
    )
    notes = (
        f"{counts[1]} requests at concurrency 1, {counts[8]} at 8 and 32; {channels} client channel(s); "
        f"the load generator runs on the same machine. The daemon's decisions: {stage}."
    )
    return f"{notes}\n\n{body}\n\n{targets.markdown()}"


def main(argv: list[str] | None = None) -> None:
    p = parser("Decision throughput: Classify at concurrency 1, 8, 32")
    p.add_argument("--requests", type=int, default=None, help="requests at concurrency 8 and 32 [8000]")
    p.add_argument("--channels", type=int, default=1, help="gRPC channels the load generator uses [1]")
    args = p.parse_args(argv)
    cmd = "python -m bench.throughput" + (" --quick" if args.quick else "")
    print(
        section("Decision throughput", cmd, run(args.quick, args.requests, args.channels), args.quick),
        flush=True,
    )


if __name__ == "__main__":
    main()
