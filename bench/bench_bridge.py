"""What the socket-activation bridge costs: unary gRPC calls straight to the server's Unix socket
(baseline) vs through ActivationBridge, measured in the same run.

    python bench/bench_bridge.py [--calls 2000] [--payload 4096]

The call echoes `--payload` bytes through a generic handler,
so the numbers are per-call overhead, not model time (a local generation takes 100s of ms).
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import tempfile
import time
from pathlib import Path

import grpc

from router.systemd import ActivationBridge


def _echo_server() -> grpc.aio.Server:
    async def echo(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        return request

    handler = grpc.method_handlers_generic_handler(
        "bench.Echo", {"Echo": grpc.unary_unary_rpc_method_handler(echo)}
    )
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((handler,))
    return server


async def _measure(address: str, calls: int, payload: bytes) -> list[float]:
    async with grpc.aio.insecure_channel(address) as channel:
        echo = channel.unary_unary("/bench.Echo/Echo")
        for _ in range(50):  # warm up the connection
            await echo(payload)
        samples = []
        for _ in range(calls):
            t0 = time.perf_counter()
            await echo(payload)
            samples.append((time.perf_counter() - t0) * 1e6)
        return samples


async def main(calls: int, payload_size: int) -> None:
    payload = b"x" * payload_size
    with tempfile.TemporaryDirectory() as tmp:
        direct_path = Path(tmp) / "direct.sock"
        direct = _echo_server()
        direct.add_insecure_port(f"unix:{direct_path}")
        await direct.start()

        public = Path(tmp) / "public.sock"
        lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        lsock.bind(str(public))
        lsock.listen()
        bridge = ActivationBridge([lsock])
        bridged = _echo_server()
        bridged.add_insecure_port(bridge.grpc_address)
        await bridged.start()
        await bridge.start()

        results = {}
        for name, address in (("direct", f"unix:{direct_path}"), ("bridge", f"unix:{public}")):
            results[name] = sorted(await _measure(address, calls, payload))

        await bridge.stop_accepting()
        await bridged.stop(0)
        await bridge.close()
        await direct.stop(0)

    base = statistics.median(results["direct"])
    print(f"{calls} unary calls, {payload_size} B payload each way")
    print(f"{'path':<8} {'p50 us':>9} {'p95 us':>9} {'p50 ratio':>10}")
    for name, s in results.items():
        p50, p95 = statistics.median(s), s[int(0.95 * len(s)) - 1]
        print(f"{name:<8} {p50:>9.1f} {p95:>9.1f} {p50 / base:>10.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--payload", type=int, default=4096)
    args = parser.parse_args()
    asyncio.run(main(args.calls, args.payload))
