"""A socket-activated daemon in miniature, run by tests/test_systemd.py as a child process.

It does what `router serve` does under systemd, with the gRPC health service standing in for the router:
take the inherited socket (fd 3), serve it through the bridge, say READY=1, ping the watchdog, stop on
SIGTERM with STOPPING=1.
"""

from __future__ import annotations

import asyncio
import os
import signal

import grpc
from grpc_health.v1 import health, health_pb2_grpc

from router.systemd import ActivationBridge, Notifier, listen_fds, watchdog_interval_s, watchdog_task


async def main() -> None:
    socks = listen_fds()
    leaked = [k for k in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES") if k in os.environ]
    notifier = Notifier.from_env()
    assert notifier is not None, "NOTIFY_SOCKET not set"
    bridge = ActivationBridge(socks)
    server = grpc.aio.server()
    health_pb2_grpc.add_HealthServicer_to_server(health.aio.HealthServicer(), server)
    server.add_insecure_port(bridge.grpc_address)
    await server.start()
    await bridge.start()
    fds = ",".join(str(s.fileno()) for s in socks)
    notifier.ready(status=f"fds={fds} leaked={','.join(leaked) or 'none'}")
    interval = watchdog_interval_s()
    assert interval is not None, "WATCHDOG_USEC/WATCHDOG_PID not set for this process"
    dog = asyncio.create_task(watchdog_task(notifier, interval, lambda: True))
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    notifier.stopping()
    dog.cancel()
    await bridge.stop_accepting()
    await server.stop(1)
    await bridge.close()


if __name__ == "__main__":
    asyncio.run(main())
