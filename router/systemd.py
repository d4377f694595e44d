"""systemd integration without libsystemd: readiness/watchdog notifications and socket activation.

Both protocols are small and stable, so they are spoken directly (no `systemd-python` dependency):

- sd_notify: datagrams such as ``READY=1`` or ``WATCHDOG=1`` sent to the AF_UNIX socket named in
  ``$NOTIFY_SOCKET`` (a path, or an abstract name when it starts with ``@``).
- socket activation: the manager passes listening sockets as fds 3, 4, ... and says so in
  ``$LISTEN_FDS`` / ``$LISTEN_PID`` (and ``$LISTEN_FDNAMES``).

gRPC and an inherited socket: the grpcio wheels on PyPI are built without libsystemd, so gRPC core's own
socket-activation support is absent, and grpc Python has no API to serve an existing fd. Binding
``"unix:" + getsockname()`` does not work either: gRPC unlinks the path and binds a new socket there, so
connections already queued on systemd's socket (the one that triggered the start) are lost, and a
``DynamicUser`` service cannot unlink in ``/run`` anyway. `ActivationBridge` therefore keeps the inherited
socket: the gRPC server listens on a private Unix socket in a fresh 0700 directory, and the bridge accepts
on the inherited socket and pipes each connection's bytes to it. Connections queued before the daemon was
ready wait in systemd's backlog and are served once `ActivationBridge.start()` is called.

Nothing here runs at import time; every function takes the environment as an argument for tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import stat
import tempfile
from collections.abc import Callable, MutableMapping
from pathlib import Path
from typing import Any

import structlog

log = structlog.get_logger("router.systemd")

SD_LISTEN_FDS_START = 3
_LISTEN_VARS = ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES")


def _address(value: str) -> str | bytes:
    """$NOTIFY_SOCKET as a socket address: '@name' is an abstract socket ('\\0name')."""
    if value.startswith("@"):
        return b"\0" + value[1:].encode()
    return value


class Notifier:
    """Sends sd_notify messages. Sending is best effort: a failure is logged, never raised, because a
    daemon must not die because its supervisor's socket went away."""

    def __init__(self, address: str) -> None:
        if not address.startswith(("/", "@")):
            raise ValueError(f"NOTIFY_SOCKET must be an absolute path or start with '@', got {address!r}")
        self.address = address
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)

    @classmethod
    def from_env(
        cls, environ: MutableMapping[str, str] | None = None, *, unset: bool = False
    ) -> Notifier | None:
        """A notifier for ``$NOTIFY_SOCKET``, or None when the daemon is not run by a service manager
        with ``Type=notify``. With `unset`, the variable is removed so that children do not inherit it."""
        env = os.environ if environ is None else environ
        value = env.get("NOTIFY_SOCKET", "")
        if unset:
            env.pop("NOTIFY_SOCKET", None)
        if not value:
            return None
        return cls(value)

    def notify(self, *assignments: str) -> bool:
        """Send ``KEY=VALUE`` lines in one datagram. True when the datagram was sent."""
        message = "\n".join(assignments).encode()
        try:
            # Never block the serving loop on a slow service manager: drop the datagram instead.
            self._sock.sendto(message, socket.MSG_DONTWAIT, _address(self.address))
        except OSError as e:
            log.warning("sd_notify_failed", error=e.strerror, message=message.split(b"=", 1)[0].decode())
            return False
        return True

    def ready(self, status: str | None = None) -> bool:
        """Start-up is complete: the model is loaded and the socket is being served."""
        lines = ["READY=1", f"MAINPID={os.getpid()}"]
        if status is not None:
            lines.append(_status_line(status))
        return self.notify(*lines)

    def status(self, text: str) -> bool:
        """Free-form one-line status shown by `systemctl status`."""
        return self.notify(_status_line(text))

    def watchdog(self) -> bool:
        return self.notify("WATCHDOG=1")

    def stopping(self, status: str | None = None) -> bool:
        lines = ["STOPPING=1"]
        if status is not None:
            lines.append(_status_line(status))
        return self.notify(*lines)

    def extend_timeout(self, seconds: float) -> bool:
        """Ask for more start-up (or stop) time, e.g. while a large model loads."""
        return self.notify(f"EXTEND_TIMEOUT_USEC={int(seconds * 1_000_000)}")

    def close(self) -> None:
        self._sock.close()


def _status_line(text: str) -> str:
    return "STATUS=" + " ".join(text.split())  # one line: a newline would start a new assignment


def watchdog_interval_s(environ: MutableMapping[str, str] | None = None) -> float | None:
    """The watchdog timeout from ``$WATCHDOG_USEC`` in seconds, or None when no watchdog is set for
    this process (``$WATCHDOG_PID``, when present, must be our pid). Ping at half of it."""
    env = os.environ if environ is None else environ
    usec = env.get("WATCHDOG_USEC", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    pid = env.get("WATCHDOG_PID", "")
    if pid and (not pid.isdigit() or int(pid) != os.getpid()):
        return None
    return int(usec) / 1_000_000


async def watchdog_task(notifier: Notifier, interval_s: float, is_healthy: Callable[[], bool]) -> None:
    """Ping ``WATCHDOG=1`` every `interval_s / 2` while `is_healthy()` is true; runs until cancelled.

    Run it on the serving event loop: a blocked loop, or a health check that says no (a wedged model
    worker), stops the pings and systemd restarts the service after `WatchdogSec`."""
    period = interval_s / 2
    was_healthy = True
    while True:
        try:
            healthy = bool(is_healthy())
        except Exception as e:  # a broken health check is an unhealthy daemon
            log.error("watchdog_health_check_failed", error_type=type(e).__name__)
            healthy = False
        if healthy:
            notifier.watchdog()
        elif was_healthy:
            log.warning("watchdog_withheld", reason="daemon unhealthy; systemd will restart it")
        was_healthy = healthy
        await asyncio.sleep(period)


def listen_fds_with_names(
    environ: MutableMapping[str, str] | None = None, *, unset: bool = True
) -> list[tuple[str, socket.socket]]:
    """Sockets passed by the service manager, with their names (``FileDescriptorName=``, default
    "unknown"). Empty when none were passed to *this* process. The variables are removed afterwards
    (with `unset`) so that child processes do not take the fds for their own."""
    env = os.environ if environ is None else environ
    pid, count, names = (env.get(k, "") for k in _LISTEN_VARS)
    if unset:
        for k in _LISTEN_VARS:
            env.pop(k, None)
    if not pid.isdigit() or int(pid) != os.getpid() or not count.isdigit():
        return []
    n = int(count)
    labels = names.split(":") if names else []
    result: list[tuple[str, socket.socket]] = []
    for i in range(n):
        fd = SD_LISTEN_FDS_START + i
        os.set_inheritable(fd, False)
        if not stat.S_ISSOCK(os.fstat(fd).st_mode):
            raise OSError(f"LISTEN_FDS says fd {fd} was passed, but it is not a socket")
        sock = socket.socket(fileno=fd)  # family and type are read from the fd
        result.append((labels[i] if i < len(labels) else "unknown", sock))
    return result


def listen_fds(environ: MutableMapping[str, str] | None = None, *, unset: bool = True) -> list[socket.socket]:
    """Sockets passed by the service manager (fd 3 onwards), or [] when not socket-activated."""
    return [s for _, s in listen_fds_with_names(environ, unset=unset)]


_CHUNK = 64 * 1024


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(_CHUNK):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()  # half-close: let the other direction finish
    except (ConnectionError, OSError):
        writer.close()


class ActivationBridge:
    """Serves inherited listening sockets through the gRPC server's private Unix socket.

    Usage (see docs/operations.md)::

        bridge = ActivationBridge(listen_fds())       # before building the server
        server.add_insecure_port(bridge.grpc_address)  # instead of the public socket
        await server.start(); ...load the model...
        await bridge.start()                           # now queued clients are served
        ...
        await bridge.stop_accepting()                  # new clients wait in systemd's backlog
        await server.stop(grace)
        await bridge.close()
    """

    def __init__(self, listeners: list[socket.socket], *, directory: Path | None = None) -> None:
        if not listeners:
            raise ValueError("ActivationBridge needs at least one inherited listening socket")
        for s in listeners:
            if s.type != socket.SOCK_STREAM:
                raise ValueError(f"inherited socket {s.getsockname()!r} is not a stream socket")
        self.listeners = listeners
        # mkdtemp makes the directory 0700: only this user can reach the private gRPC socket.
        self._dir = Path(tempfile.mkdtemp(prefix="hybrid-router-", dir=directory))
        self.target = self._dir / "grpc.sock"
        self._servers: list[asyncio.Server] = []
        self._tasks: set[asyncio.Task[Any]] = set()

    @property
    def grpc_address(self) -> str:
        """The address to give `server.add_insecure_port()`."""
        return f"unix:{self.target}"

    @property
    def public_addresses(self) -> list[str]:
        return [str(s.getsockname()) for s in self.listeners]

    async def start(self) -> None:
        """Accept on every inherited socket. Call once the gRPC server is started and ready."""
        for sock in self.listeners:
            sock.setblocking(False)
            self._servers.append(await asyncio.start_server(self._handle, sock=sock))

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        upstream: asyncio.StreamWriter | None = None
        try:
            up_reader, upstream = await asyncio.open_unix_connection(str(self.target))
            await asyncio.gather(_pipe(reader, upstream), _pipe(up_reader, writer))
        except asyncio.CancelledError:
            pass  # close() cuts the connection; end quietly (asyncio's stream callback reports anything else)
        except OSError as e:
            log.warning("activation_bridge_connect_failed", error=e.strerror)
        finally:
            for w in (writer, upstream):
                if w is not None:
                    w.close()
                    with contextlib.suppress(Exception):
                        await w.wait_closed()
            self._tasks.discard(task)

    async def stop_accepting(self) -> None:
        """Stop accepting new connections; open ones keep going (for the gRPC grace period)."""
        for server in self._servers:
            server.close()
        self._servers.clear()

    async def close(self) -> None:
        """Stop accepting, cut the remaining connections and remove the private directory."""
        await self.stop_accepting()
        tasks = list(self._tasks)
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        for s in self.listeners:
            s.close()
        shutil.rmtree(self._dir, ignore_errors=True)
