"""Building the daemon from settings, and the serve loop.

`create_daemon(settings)` loads everything and binds the listeners (tests call it with ephemeral
addresses and an already-loaded backend); `serve(settings)` runs it until SIGTERM/SIGINT, then drains
in-flight calls within the grace period and flushes the decision log.
"""

from __future__ import annotations

import asyncio
import contextlib
import grp
import os
import signal
import socket
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import structlog
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio
from grpc_reflection.v1alpha import reflection

from router import backends, model
from router.backends.base import Backend
from router.cloud import CloudClient, build_cloud_client
from router.config import Settings, parse_host_port
from router.decisions import DecisionLog
from router.engine import Engine
from router.errors import ConfigError
from router.interim import InterimPolicyStore, InterimPrivacy
from router.requests import Limits
from router.service import RouterService
from router.v1 import router_pb2 as pb
from router.v1 import router_pb2_grpc as pb_grpc
from router.worker import LocalWorker

log = structlog.get_logger("router.server")

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["Router"].full_name


@dataclass
class Daemon:
    settings: Settings
    server: grpc.aio.Server
    addresses: list[str]
    engine: Engine
    health: health_aio.HealthServicer
    decisions: DecisionLog
    cloud: CloudClient | None
    started_at: float = field(default_factory=time.monotonic)
    _stopped: bool = False

    @property
    def target(self) -> str:
        """The first address, as a gRPC client target."""
        return self.addresses[0]

    async def start(self) -> None:
        old_umask = os.umask(0o777 & ~self.settings.socket_mode)  # the socket file is born with its mode
        try:
            await self.server.start()
        finally:
            os.umask(old_umask)
        self._fix_socket_permissions()
        await self.health.set("", health_pb2.HealthCheckResponse.SERVING)
        await self.health.set(SERVICE_NAME, health_pb2.HealthCheckResponse.SERVING)
        log.info("serving", addresses=self.addresses, model=self.engine.backend.info.name)

    def _fix_socket_permissions(self) -> None:
        path = self.settings.socket_path
        if not any(a == f"unix:{path}" for a in self.addresses) or not path.exists():
            return
        os.chmod(path, self.settings.socket_mode)
        if self.settings.socket_group:
            try:
                gid = grp.getgrnam(self.settings.socket_group).gr_gid
            except KeyError:
                raise ConfigError(f"--socket-group {self.settings.socket_group!r}: no such group") from None
            os.chown(path, -1, gid)

    async def stop(self, grace: float | None = None) -> None:
        """Stop accepting calls, let in-flight ones finish within `grace`, then flush and free everything."""
        if self._stopped:
            return
        self._stopped = True
        grace = self.settings.grace_s if grace is None else grace
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace)
        self.engine.worker.close()
        if self.cloud is not None:
            await self.cloud.aclose()
        self.decisions.close()
        with contextlib.suppress(FileNotFoundError):
            if f"unix:{self.settings.socket_path}" in self.addresses:
                self.settings.socket_path.unlink()
        log.info("stopped")

    def stats(self) -> pb.Stats:
        return pb.Stats(
            uptime_s=time.monotonic() - self.started_at,
            queue_depth=self.engine.worker.depth,
            cloud_circuit=self.engine.cloud_state,
            model=self.engine.backend.info.name,
            policy_version=self.engine.policies.current.version,
        )


def load_local_backend(settings: Settings) -> Backend:
    path = model.resolve_model(settings.model)
    return backends.load_backend(
        settings.backend,
        path,
        n_ctx=settings.n_ctx,
        n_threads=settings.n_threads,
        default_max_tokens=settings.default_max_tokens,
    )


def _prepare_unix_socket(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        return
    if not stat.S_ISSOCK(path.stat().st_mode):
        raise ConfigError(f"{path} exists and is not a socket; remove it or choose another --socket")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(str(path))
    except OSError:
        path.unlink()  # stale socket left by a previous run
    else:
        raise ConfigError(
            f"another daemon is already listening on {path}; stop it or choose another --socket"
        )
    finally:
        probe.close()


def _bind(server: grpc.aio.Server, settings: Settings) -> list[str]:
    addresses: list[str] = []
    if settings.listen is None or settings.socket is not None:
        _prepare_unix_socket(settings.socket_path)
        server.add_insecure_port(f"unix:{settings.socket_path}")
        addresses.append(f"unix:{settings.socket_path}")
    if settings.listen is not None:
        host, _port = parse_host_port(settings.listen)
        if settings.tls_cert and settings.tls_key:
            client_ca = settings.tls_client_ca.read_bytes() if settings.tls_client_ca else None
            creds = grpc.ssl_server_credentials(
                [(settings.tls_key.read_bytes(), settings.tls_cert.read_bytes())],
                root_certificates=client_ca,
                require_client_auth=client_ca is not None,
            )
            bound = server.add_secure_port(settings.listen, creds)
        else:  # Settings only allows this with --insecure
            bound = server.add_insecure_port(settings.listen)
        if bound == 0:
            raise ConfigError(f"cannot listen on {settings.listen}; is the address in use?")
        addresses.append(f"{host}:{bound}")
    return addresses


def build_engine(
    settings: Settings,
    backend: Backend,
    decisions: DecisionLog | None,
    cloud: CloudClient | None,
    *,
    assume_cloud: bool = False,
) -> Engine:
    """The scoring, policy and execution parts, as the daemon and `router classify` both use them."""
    from router.scoring.complexity import load_scorer

    # The model-stage head is bound to one model file: hash the loaded file (about a second for the
    # default model) so a head trained for another file is never used.
    path = backend.info.path
    model_sha = model.sha256_file(path) if path.is_file() else None
    return Engine(
        worker=LocalWorker(backend, settings.queue_size),
        cloud=cloud,
        policies=InterimPolicyStore(),
        privacy=InterimPrivacy(),
        complexity=load_scorer(model_sha),
        decisions=decisions,
        assume_cloud=assume_cloud,
    )


async def create_daemon(settings: Settings, *, backend: Backend | None = None) -> Daemon:
    """Load the model (unless given), build every part, and bind the listeners. Call `start()` next."""
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    backend = backend or load_local_backend(settings)
    cloud = build_cloud_client(settings)
    decisions = DecisionLog(settings.decisions_db)
    engine = build_engine(settings, backend, decisions, cloud)
    server = grpc.aio.server(options=[("grpc.max_receive_message_length", 8 * 1024 * 1024)])
    health = health_aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    daemon_ref: dict[str, Daemon] = {}
    service = RouterService(
        engine,
        limits=Limits(max_request_chars=settings.max_request_chars),
        stats=lambda: daemon_ref["d"].stats(),
    )
    pb_grpc.add_RouterServicer_to_server(service, server)
    reflection.enable_server_reflection(
        (SERVICE_NAME, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME),
        server,
    )
    addresses = _bind(server, settings)
    daemon = Daemon(settings, server, addresses, engine, health, decisions, cloud)
    daemon_ref["d"] = daemon
    return daemon


async def serve(settings: Settings) -> None:
    daemon = await create_daemon(settings)
    await daemon.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
        log.info("draining", grace_s=settings.grace_s)
    finally:
        await daemon.stop()


__all__ = ["Daemon", "build_engine", "create_daemon", "load_local_backend", "serve"]
