"""Memory: the daemon's resident set after start and after 1,000 mixed requests, beside the model file.

    python -m bench.memory [--quick] [--requests N]

`router serve` (default model, cloud = bench/fast_cloud.py) gets a fixed mix, 4 requests in flight:
70% Classify, 20% cloud answers (Route, policy forcing the cloud), 10% short local answers (Route,
max_tokens 8). RSS (VmRSS, which counts the model file's mapped pages) is read from /proc after start,
after the first 20% of the requests (warm-up), and at the end. The peer is llama-cpp-python's own
OpenAI server given the same local answers (it has no classify or cloud path).
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from pathlib import Path

from bench._common import (
    Daemon,
    FastCloud,
    Targets,
    fmt,
    force_cloud_policy,
    model_path,
    parser,
    rss_mb,
    section,
    table,
)

LOCAL_PROMPT = "Name one planet."
OTHER_PROMPTS = [
    "What is the capital of Italy?",
    "Summarise the water cycle.",
    "Give me a word that means fast.",
    "How do I boil an egg?",
]


def _kind(i: int) -> str:
    r = i % 10
    return "local" if r == 0 else "cloud" if r in (3, 6) else "classify"


async def _mixed(daemon: Daemon, n: int, checkpoints: dict[int, float]) -> dict[str, int]:
    import grpc

    from router.client import RouterClient
    from router.v1 import router_pb2_grpc as pb_grpc

    counts: dict[str, int] = {}
    async with grpc.aio.insecure_channel(daemon.target) as channel:
        stub = pb_grpc.RouterStub(channel)  # type: ignore[no-untyped-call]
        local = RouterClient.build_request(LOCAL_PROMPT, max_tokens=8, temperature=0.0)
        cloud = [RouterClient.build_request(p, metadata={"route": "cloud"}) for p in OTHER_PROMPTS]
        classify = [RouterClient.build_request(p) for p in OTHER_PROMPTS]
        counter = 0

        async def worker() -> None:
            nonlocal counter
            while counter < n:
                i = counter
                counter += 1
                kind = _kind(i)
                try:
                    if kind == "local":
                        await stub.Route(local, timeout=120)
                    elif kind == "cloud":
                        await stub.Route(cloud[i % len(cloud)], timeout=30)
                    else:
                        await stub.Classify(classify[i % len(classify)], timeout=30)
                    status = "OK"
                except grpc.RpcError as e:
                    status = e.code().name
                counts[f"{kind} {status}"] = counts.get(f"{kind} {status}", 0) + 1
                if i + 1 in checkpoints:
                    checkpoints[i + 1] = daemon.rss_mb()

        await asyncio.gather(*(worker() for _ in range(4)))
    return counts


def _llama_server_peer(n_local: int) -> tuple[float, float] | str:
    """RSS of llama_cpp.server after start and after `n_local` of the same local answers."""
    try:
        import httpx

        from bench.local_answer import _plain, _stops, llama_server_system
    except ImportError as e:
        return f"not measured: {e}"
    try:
        system = llama_server_system(model_path(), os.cpu_count() or 1)
    except Exception as e:
        return f"not measured: {type(e).__name__}: {str(e)[:200]}"
    try:
        assert system.pid is not None
        pid = system.pid
        start = rss_mb(pid)
        with httpx.Client(base_url=system.base_url, timeout=120) as http:
            for _ in range(n_local):
                http.post(
                    "/completions",
                    json={
                        "prompt": _plain(LOCAL_PROMPT),
                        "max_tokens": 8,
                        "temperature": 0.0,
                        "stop": _stops(),
                    },
                ).raise_for_status()
        return start, rss_mb(pid)
    finally:
        system.close()


def run(quick: bool, requests: int | None = None) -> str:
    n = requests or (200 if quick else 1000)
    warm = max(1, n // 5)
    model_mb = model_path().stat().st_size / 1024 / 1024
    checkpoints = {warm: 0.0, n: 0.0}
    with (
        tempfile.TemporaryDirectory() as tmp,
        FastCloud() as cloud,
        Daemon(policy=force_cloud_policy(Path(tmp)), cloud_url=cloud.url) as daemon,
    ):
        time.sleep(0.5)
        start = daemon.rss_mb()
        t0 = time.perf_counter()
        counts = asyncio.run(_mixed(daemon, n, checkpoints))
        seconds = time.perf_counter() - t0
        end = daemon.rss_mb()
    after_warm = checkpoints[warm]
    n_local = sum(v for k, v in counts.items() if k.startswith("local"))
    peer = _llama_server_peer(n_local)
    rows = [
        ["hybrid-router daemon", fmt(model_mb), fmt(start), fmt(after_warm), fmt(end), f"{n} mixed"],
    ]
    if isinstance(peer, tuple):
        rows.append(
            [
                "llama_cpp.server (peer)",
                fmt(model_mb),
                fmt(peer[0]),
                "—",
                fmt(peer[1]),
                f"{n_local} local only",
            ]
        )
    else:
        rows.append(["llama_cpp.server (peer)", fmt(model_mb), "—", "—", "—", peer])
    body = table(
        [
            "process",
            "model file MiB",
            "RSS after start MiB",
            f"RSS after {warm} requests MiB",
            "RSS at end MiB",
            "requests",
        ],
        rows,
    )
    targets = Targets()
    targets.check("daemon RSS at end - model file", end - model_mb, "<=", 250, " MiB")
    targets.check("daemon RSS growth after warm-up", (end - after_warm) / after_warm * 100, "<=", 5, " %")
    targets.note(f"RSS growth from start: {(end - start) / start * 100:.1f} %")
    targets.note("outcomes: " + ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())))
    notes = f"{n} requests (70% Classify, 20% cloud, 10% local max_tokens 8), 4 in flight, {seconds:.0f} s."
    return f"{notes}\n\n{body}\n\n{targets.markdown()}"


def main(argv: list[str] | None = None) -> None:
    p = parser("Daemon memory after start and after mixed requests")
    p.add_argument("--requests", type=int, default=None, help="mixed requests [1000; quick 200]")
    args = p.parse_args(argv)
    cmd = "python -m bench.memory" + (" --quick" if args.quick else "")
    print(section("Memory", cmd, run(args.quick, args.requests), args.quick), flush=True)


if __name__ == "__main__":
    main()
