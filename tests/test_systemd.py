"""sd_notify and socket activation, spoken for real over AF_UNIX sockets in tmp_path."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from router.model import DEFAULT_MODEL_FILE
from router.systemd import (
    ActivationBridge,
    Notifier,
    listen_fds,
    listen_fds_with_names,
    watchdog_interval_s,
    watchdog_task,
)
from router.v1 import router_pb2 as pb
from router.v1 import router_pb2_grpc as pb_grpc


@pytest.fixture
def notify_sock(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    """A stand-in for systemd's notification socket: a bound AF_UNIX datagram socket."""
    path = str(tmp_path / "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(30)
    yield sock, path
    sock.close()


def recv_until(sock: socket.socket, wanted: str, limit: int = 200) -> list[str]:
    """Receive datagrams until one contains the line `wanted`; return all received so far."""
    seen: list[str] = []
    for _ in range(limit):
        msg = sock.recv(4096).decode()
        seen.append(msg)
        if wanted in msg.splitlines():
            return seen
    raise AssertionError(f"{wanted!r} not received; got {seen!r}")


def test_from_env_is_none_without_notify_socket() -> None:
    assert Notifier.from_env({}) is None
    assert Notifier.from_env({"NOTIFY_SOCKET": ""}) is None


def test_from_env_unset_removes_the_variable(notify_sock: tuple[socket.socket, str]) -> None:
    env = {"NOTIFY_SOCKET": notify_sock[1]}
    notifier = Notifier.from_env(env, unset=True)
    assert notifier is not None and "NOTIFY_SOCKET" not in env
    notifier.close()


def test_relative_notify_socket_is_rejected() -> None:
    with pytest.raises(ValueError, match="absolute path"):
        Notifier("relative/path")


def test_ready_status_watchdog_stopping_reach_the_socket(notify_sock: tuple[socket.socket, str]) -> None:
    sock, path = notify_sock
    notifier = Notifier.from_env({"NOTIFY_SOCKET": path})
    assert notifier is not None
    try:
        assert notifier.ready(status="model gemma\npolicy default")
        lines = sock.recv(4096).decode().splitlines()
        assert "READY=1" in lines
        assert f"MAINPID={os.getpid()}" in lines
        assert "STATUS=model gemma policy default" in lines  # a newline would start a new assignment
        notifier.status("draining")
        assert sock.recv(4096) == b"STATUS=draining"
        notifier.watchdog()
        assert sock.recv(4096) == b"WATCHDOG=1"
        notifier.extend_timeout(90)
        assert sock.recv(4096) == b"EXTEND_TIMEOUT_USEC=90000000"
        notifier.stopping()
        assert sock.recv(4096) == b"STOPPING=1"
    finally:
        notifier.close()


def test_abstract_notify_socket() -> None:
    name = f"hybrid-router-test-{uuid.uuid4().hex}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.settimeout(10)
    notifier = Notifier.from_env({"NOTIFY_SOCKET": "@" + name})
    assert notifier is not None
    try:
        assert notifier.ready()
        assert "READY=1" in sock.recv(4096).decode().splitlines()
    finally:
        notifier.close()
        sock.close()


def test_send_failure_is_reported_not_raised(tmp_path: Path) -> None:
    notifier = Notifier(str(tmp_path / "nobody-listens"))
    try:
        assert notifier.watchdog() is False
    finally:
        notifier.close()


def test_watchdog_interval_from_env() -> None:
    pid = str(os.getpid())
    assert watchdog_interval_s({}) is None
    assert watchdog_interval_s({"WATCHDOG_USEC": "30000000"}) == 30.0
    assert watchdog_interval_s({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": pid}) == 30.0
    assert watchdog_interval_s({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getppid())}) is None
    assert watchdog_interval_s({"WATCHDOG_USEC": "0"}) is None
    assert watchdog_interval_s({"WATCHDOG_USEC": "soon"}) is None


def test_watchdog_task_pings_only_while_healthy(notify_sock: tuple[socket.socket, str]) -> None:
    sock, path = notify_sock
    sock.setblocking(False)
    notifier = Notifier(path)
    healthy = True

    async def scenario() -> tuple[int, int]:
        nonlocal healthy
        loop = asyncio.get_running_loop()
        task = asyncio.create_task(watchdog_task(notifier, 0.1, lambda: healthy))
        pings_healthy = 0
        for _ in range(3):  # three pings arrive while healthy
            assert await asyncio.wait_for(loop.sock_recv(sock, 64), 30) == b"WATCHDOG=1"
            pings_healthy += 1
        healthy = False
        await asyncio.sleep(0.15)  # let a ping that was already on its way land
        while True:
            try:
                sock.recv(64)
            except BlockingIOError:
                break
        # Ten periods pass: with an unhealthy daemon none of them may ping.
        await asyncio.sleep(0.5)
        pings_unhealthy = 0
        while True:
            try:
                sock.recv(64)
                pings_unhealthy += 1
            except BlockingIOError:
                break
        healthy = True
        assert await asyncio.wait_for(loop.sock_recv(sock, 64), 30) == b"WATCHDOG=1"
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return pings_healthy, pings_unhealthy

    try:
        assert asyncio.run(scenario()) == (3, 0)
    finally:
        notifier.close()


def test_watchdog_task_treats_a_failing_health_check_as_unhealthy(
    notify_sock: tuple[socket.socket, str],
) -> None:
    sock, path = notify_sock
    sock.setblocking(False)
    notifier = Notifier(path)

    def broken() -> bool:
        raise RuntimeError("worker gone")

    async def scenario() -> None:
        task = asyncio.create_task(watchdog_task(notifier, 0.05, broken))
        await asyncio.sleep(0.3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    try:
        asyncio.run(scenario())
        with pytest.raises(BlockingIOError):
            sock.recv(64)
    finally:
        notifier.close()


def test_listen_fds_ignores_another_process_and_unsets_env() -> None:
    env = {"LISTEN_PID": str(os.getppid()), "LISTEN_FDS": "1", "LISTEN_FDNAMES": "router"}
    assert listen_fds(env) == []
    assert env == {}
    assert listen_fds({"LISTEN_FDS": "1"}) == []  # no LISTEN_PID: not for us


def test_listen_fds_takes_fd_3_when_it_is_ours(tmp_path: Path) -> None:
    """Put a real listening socket on fd 3 of this process (restored afterwards) and take it."""
    path = str(tmp_path / "a.sock")
    lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    lsock.bind(path)
    lsock.listen()
    saved = os.dup(3)
    taken: list[tuple[str, socket.socket]] = []
    try:
        os.dup2(lsock.fileno(), 3)
        env = {"LISTEN_PID": str(os.getpid()), "LISTEN_FDS": "1", "LISTEN_FDNAMES": "router"}
        taken = listen_fds_with_names(env)
        assert env == {}
        assert len(taken) == 1
        name, sock = taken[0]
        assert name == "router"
        assert sock.fileno() == 3
        assert sock.family == socket.AF_UNIX and sock.type == socket.SOCK_STREAM
        assert sock.getsockname() == path
        assert not os.get_inheritable(3)
    finally:
        for _, s in taken:
            s.detach()
        os.dup2(saved, 3)
        os.close(saved)
        lsock.close()


def test_bridge_serves_grpc_on_an_inherited_socket_in_process(tmp_path: Path) -> None:
    """A real grpc.aio server behind the bridge answers a client that connected to the public socket
    before the bridge started (the connection waited in the listen backlog, as under systemd)."""
    public = str(tmp_path / "public.sock")
    lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    lsock.bind(public)
    lsock.listen()

    async def scenario() -> int:
        bridge = ActivationBridge([lsock], directory=tmp_path)
        assert oct(os.stat(bridge.target.parent).st_mode & 0o777) == "0o700"
        server = grpc.aio.server()
        servicer = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
        server.add_insecure_port(bridge.grpc_address)
        await server.start()
        async with grpc.aio.insecure_channel(f"unix:{public}") as channel:
            call = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=30)
            await asyncio.sleep(0.2)  # the client is connected and waiting; nobody accepts yet
            await bridge.start()
            reply = await call
            # A streaming call through the bridge: Watch delivers the status change.
            watch = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest(service="x"))
            first = await watch.read()
            await servicer.set("x", health_pb2.HealthCheckResponse.SERVING)
            second = await watch.read()
            watch.cancel()
            assert first.status == health_pb2.HealthCheckResponse.SERVICE_UNKNOWN
            assert second.status == health_pb2.HealthCheckResponse.SERVING
        await bridge.stop_accepting()
        await server.stop(1)
        await bridge.close()
        assert not bridge.target.parent.exists()
        return int(reply.status)

    assert asyncio.run(scenario()) == health_pb2.HealthCheckResponse.SERVING


def test_bridge_rejects_datagram_sockets() -> None:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        with pytest.raises(ValueError, match="not a stream socket"):
            ActivationBridge([s])
    finally:
        s.close()


def test_socket_activated_router_serve_end_to_end(
    tmp_path: Path, notify_sock: tuple[socket.socket, str], model_path: Path
) -> None:
    """`router serve` as systemd runs it: fd 3 + LISTEN_FDS/LISTEN_PID, NOTIFY_SOCKET, WATCHDOG_USEC.

    The client connects before the daemon exists; its call is answered once the daemon said READY=1."""
    nsock, npath = notify_sock
    public = str(Path(tempfile.mkdtemp(prefix="hr-", dir="/tmp")) / "router.sock")
    lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    lsock.bind(public)
    lsock.listen()
    fd = lsock.fileno()

    channel = grpc.insecure_channel(f"unix:{public}")
    pending = health_pb2_grpc.HealthStub(channel).Check.future(health_pb2.HealthCheckRequest(), timeout=120)

    env = dict(
        os.environ,
        NOTIFY_SOCKET=npath,
        WATCHDOG_USEC="400000",
        LISTEN_FDS="1",
        LISTEN_FDNAMES="router",
        ROUTER_STATE_DIR=str(tmp_path / "state"),
        ROUTER_MODEL=str(model_path),
        ROUTER_N_CTX="1024",
    )
    # What systemd does between fork and exec: the socket becomes fd 3, LISTEN_PID and WATCHDOG_PID name
    # the daemon's pid (exec keeps it).
    launcher = (
        "import os, sys\n"
        f"if {fd} != 3:\n    os.dup2({fd}, 3); os.close({fd})\n"
        "os.environ['LISTEN_PID'] = os.environ['WATCHDOG_PID'] = str(os.getpid())\n"
        "os.execv(sys.executable, [sys.executable, '-m', 'router', 'serve', '--log-format', 'json'])\n"
    )
    child = subprocess.Popen([sys.executable, "-c", launcher], env=env, pass_fds=(fd,))
    try:
        seen = recv_until(nsock, "READY=1")
        ready = next(m for m in seen if "READY=1" in m.splitlines())
        assert f"MAINPID={child.pid}" in ready.splitlines()
        status = f"STATUS=serving model={DEFAULT_MODEL_FILE}"
        assert any(line.startswith(status) for line in ready.splitlines())
        assert pending.result().status == health_pb2.HealthCheckResponse.SERVING
        reply = pb_grpc.RouterStub(channel).Route(
            pb.RouteRequest(
                messages=[pb.ChatMessage(role="user", content="Hi")],
                options=pb.GenerationOptions(max_tokens=2),
            ),
            timeout=180,
        )
        assert reply.decision.route == pb.ROUTE_KIND_LOCAL
        recv_until(nsock, "WATCHDOG=1")
        recv_until(nsock, "WATCHDOG=1")
        child.send_signal(signal.SIGTERM)
        recv_until(nsock, "STOPPING=1")
        assert child.wait(timeout=60) == 0
        assert Path(public).exists()  # systemd's socket is not ours to remove
    finally:
        channel.close()
        if child.poll() is None:
            child.kill()
            child.wait()
        lsock.close()


def test_notify_never_blocks_when_nobody_reads(notify_sock: tuple[socket.socket, str]) -> None:
    """A service manager that stops reading must not stall the serving loop: datagrams are dropped."""
    _, path = notify_sock
    notifier = Notifier(path)
    results = [notifier.watchdog() for _ in range(5000)]  # far more than the socket queue holds
    assert results[0] is True
    assert results[-1] is False
    notifier.close()
