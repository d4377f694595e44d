"""Building the daemon from settings, and the serve loop.

`create_daemon(settings)` loads everything and binds the listeners (tests call it with ephemeral
addresses and an already-loaded backend); `serve(settings)` runs it until SIGTERM/SIGINT, then drains
in-flight calls within the grace period and flushes the decision log.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import grp
import os
import resource
import signal
import socket
import ssl
import stat
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import structlog
from google.protobuf import json_format
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio
from grpc_reflection.v1alpha import reflection

from router import analytics, backends, model, systemd
from router.auth import AppTokens
from router.backends.base import Backend
from router.budget import Budget
from router.cloud import CloudClient, build_cloud_client
from router.config import Settings, parse_host_port
from router.decisions import DecisionLog, DecisionRow, cloud_spend, load_hash_key
from router.engine import Engine, Outcome
from router.errors import ConfigError
from router.http_door import HttpDoor
from router.metrics import Metrics
from router.policy import default_policy_path
from router.policy_store import PolicyStore
from router.requests import Limits
from router.scoring import PolicyPrivacy
from router.service import Authenticator, RouterService, add_router_service
from router.telemetry import Telemetry
from router.v1 import router_pb2 as pb
from router.worker import LocalWorker

log = structlog.get_logger("router.server")

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["Router"].full_name
CLOUD_HEALTH_NAME = "cloud"  # health detail: NOT_SERVING while the cloud circuit is open


@dataclass
class Daemon:
    settings: Settings
    server: grpc.aio.Server
    addresses: list[str]
    engine: Engine
    health: health_aio.HealthServicer
    decisions: DecisionLog
    cloud: CloudClient | None
    metrics: Metrics
    bridge: systemd.ActivationBridge | None = None
    _stopped: bool = False
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _cloud_health: str = ""
    metrics_port: int | None = None
    http: HttpDoor | None = None  # the OpenAI-compatible HTTP door, when --http-listen/--http-socket
    http_servers: list[asyncio.Server] = field(default_factory=list)
    http_addresses: list[str] = field(default_factory=list)
    # Spans per request, only with OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT set (router.telemetry).
    telemetry: Telemetry | None = None

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
        for http_server in self.http_servers:
            await http_server.start_serving()
        if self.bridge is not None:
            await self.bridge.start()
        policies = self.engine.policies
        if isinstance(policies, PolicyStore):
            self._tasks.append(policies.start_watching())
            policies.sighup_hooks.append(self.reload_complexity)
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):  # not the main thread
                policies.install_sighup()
        if self.settings.retention_days > 0:
            self._tasks.append(
                asyncio.create_task(
                    analytics.retention_task(self.settings.decisions_db, self.settings.retention_days)
                )
            )
        if self.settings.metrics_listen:
            host, port = parse_host_port(self.settings.metrics_listen)
            self.metrics_port = self.metrics.start_http(host, port)
            log.info("metrics", address=f"{host}:{self.metrics_port}")
        await self.health.set("", health_pb2.HealthCheckResponse.SERVING)
        await self.health.set(SERVICE_NAME, health_pb2.HealthCheckResponse.SERVING)
        self._publish_cloud_health()
        log.info(
            "serving",
            addresses=self.addresses,
            http=self.http_addresses,
            model=self.engine.backend.info.name,
        )

    def reload_complexity(self) -> None:
        """SIGHUP: pick up a head `router calibrate` wrote for this model since start-up."""
        from router.scoring.complexity import model_fingerprint, reload_scorer

        sha = model_fingerprint(self.engine.backend.info.path)
        self.engine.complexity = reload_scorer(self.engine.complexity, sha, self.settings.state_dir)

    def _fix_socket_permissions(self) -> None:
        path = self.settings.socket_path
        if not any(a == f"unix:{path}" for a in self.addresses) or not path.exists():
            return
        _set_socket_mode(path, self.settings)

    async def stop(self, grace: float | None = None) -> None:
        """Stop accepting calls, let in-flight ones finish within `grace`, then flush and free everything."""
        if self._stopped:
            return
        self._stopped = True
        grace = self.settings.grace_s if grace is None else grace
        await self.health.enter_graceful_shutdown()
        if self.bridge is not None:
            await self.bridge.stop_accepting()
        for http_server in self.http_servers:
            http_server.close()
        draining = [self.server.stop(grace)]
        if self.http is not None:
            draining.append(self.http.drain(grace))
        await asyncio.gather(*draining)
        if self.bridge is not None:
            await self.bridge.close()
        for task in self._tasks:
            task.cancel()
        self.metrics.stop()
        policies = self.engine.policies
        if isinstance(policies, PolicyStore):
            policies.remove_sighup()
        self.engine.worker.close()
        if self.cloud is not None:
            await self.cloud.aclose()
        self.decisions.close()
        if self.telemetry is not None:
            self.telemetry.shutdown()  # after the last rows: their spans are flushed too
        with contextlib.suppress(FileNotFoundError):
            if f"unix:{self.settings.socket_path}" in self.addresses:
                self.settings.socket_path.unlink()
        http_socket = self.settings.http_socket
        if http_socket is not None and f"unix:{http_socket}" in self.http_addresses:
            with contextlib.suppress(FileNotFoundError):
                http_socket.unlink()
        log.info("stopped")

    def refresh_gauges(self) -> None:
        self.metrics.set_queue_depth(self.engine.worker.depth)
        self.metrics.set_circuit(self.engine.cloud_state)
        self.metrics.set_info(
            model=self.engine.backend.info.name, policy_version=self.engine.policies.current.version
        )

    async def stats(self, app: str | None = None) -> pb.Stats:
        """GetStats: every app's counts, or only `app`'s (an app token that is not the admin's)."""
        # Requests are counted as their rows are written: wait for those still queued (milliseconds),
        # off the event loop.
        await asyncio.to_thread(self.decisions.flush, 2.0)
        self.refresh_gauges()
        stats: pb.Stats = json_format.ParseDict(self.metrics.snapshot(app), pb.Stats())
        return stats

    def _publish_cloud_health(self) -> None:
        """Health detail: the service name "cloud" is NOT_SERVING while the cloud circuit is open."""
        state = self.engine.cloud_state
        if state == "disabled" or state == self._cloud_health:
            return
        self._cloud_health = state
        status = (
            health_pb2.HealthCheckResponse.NOT_SERVING
            if state == "open"
            else health_pb2.HealthCheckResponse.SERVING
        )
        self._tasks.append(asyncio.get_running_loop().create_task(self.health.set(CLOUD_HEALTH_NAME, status)))

    def on_record(self, outcome: Outcome) -> None:
        """After each request, on the event loop: the cheap, loop-bound part."""
        self._publish_cloud_health()
        self.refresh_gauges()

    def on_written(self, rows: Sequence[DecisionRow]) -> None:
        """After each batch of the decision log, in its writer thread: count the requests."""
        self.metrics.observe_rows(rows, self.engine.policies.budget.prices)
        telemetry = self.telemetry
        if telemetry is not None:
            try:
                telemetry.record(rows)
            except Exception as e:  # tracing must never cost a decision row or a metric
                log.warning("telemetry_failed", error_type=type(e).__name__)


def prepare_state_dir(settings: Settings) -> None:
    """Create the state directory private to the daemon's user (0700) whatever the umask, and make an
    existing one so; 0710 when other users reach the socket in it (--socket-group). Under systemd the
    unit's StateDirectoryMode= is left alone (systemd owns that directory)."""
    path = settings.state_dir
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    systemd_dirs = [Path(p) for p in os.environ.get("STATE_DIRECTORY", "").split(":") if p]
    if any(path.resolve() == d.resolve() for d in systemd_dirs):
        return
    socket_inside = settings.socket_path.parent.resolve() == path.resolve()
    mode = 0o710 if settings.socket_group and socket_inside else 0o700
    if stat.S_IMODE(path.stat().st_mode) != mode:
        os.chmod(path, mode)


def load_local_backend(settings: Settings) -> Backend:
    path = model.resolve_model(settings.model)
    return backends.load_backend(
        settings.backend,
        path,
        n_ctx=settings.n_ctx,
        n_threads=settings.n_threads,
        default_max_tokens=settings.default_max_tokens,
    )


def _set_socket_mode(path: Path, settings: Settings) -> None:
    """A Unix socket of the daemon: --socket-mode, and the group --socket-group when given."""
    os.chmod(path, settings.socket_mode)
    if settings.socket_group:
        try:
            gid = grp.getgrnam(settings.socket_group).gr_gid
        except KeyError:
            raise ConfigError(f"--socket-group {settings.socket_group!r}: no such group") from None
        os.chown(path, -1, gid)


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


def _bind(server: grpc.aio.Server, settings: Settings, bridge: systemd.ActivationBridge | None) -> list[str]:
    addresses: list[str] = []
    if bridge is not None:  # socket activation: systemd owns the public socket, we serve a private one
        server.add_insecure_port(bridge.grpc_address)
        addresses.append(bridge.grpc_address)
    elif settings.listen is None or settings.socket is not None:
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
            if settings.app_tokens is None:
                log.warning(
                    "insecure_tcp_without_tokens",
                    listen=settings.listen,
                    why="plaintext TCP and no --app-tokens: anyone who can reach this address can use the "
                    "router as any app and read GetStats; add --app-tokens FILE or use TLS with "
                    "--tls-client-ca",
                )
            bound = server.add_insecure_port(settings.listen)
        if bound == 0:
            raise ConfigError(f"cannot listen on {settings.listen}; is the address in use?")
        addresses.append(f"{host}:{bound}")
    return addresses


def _http_tls(settings: Settings) -> ssl.SSLContext | None:
    """The same TLS as --listen (certificate, key, optional client CA for mutual TLS), or None for
    plaintext, which Settings only allows with --insecure."""
    if not (settings.tls_cert and settings.tls_key):
        if settings.app_tokens is None:
            log.warning(
                "insecure_tcp_without_tokens",
                listen=settings.http_listen,
                why="plaintext TCP and no --app-tokens: anyone who can reach this address can use the "
                "router as any app; add --app-tokens FILE or use TLS with --tls-client-ca",
            )
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(settings.tls_cert, settings.tls_key)
    if settings.tls_client_ca:
        context.load_verify_locations(settings.tls_client_ca)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


async def bind_http(settings: Settings, door: HttpDoor) -> tuple[list[asyncio.Server], list[str]]:
    """Bind the HTTP door's listeners (--http-socket, --http-listen), not yet serving: `start()` does."""
    servers: list[asyncio.Server] = []
    addresses: list[str] = []
    if settings.http_socket is not None:
        path = settings.http_socket
        _prepare_unix_socket(path)
        old_umask = os.umask(0o777 & ~settings.socket_mode)  # the socket file is born with its mode
        try:
            servers.append(
                await asyncio.start_unix_server(door.serve_connection, path=str(path), start_serving=False)
            )
        finally:
            os.umask(old_umask)
        _set_socket_mode(path, settings)
        addresses.append(f"unix:{path}")
    if settings.http_listen is not None:
        host, port = parse_host_port(settings.http_listen)
        context = _http_tls(settings)
        try:
            server = await asyncio.start_server(
                door.serve_connection, host.strip("[]"), port, ssl=context, start_serving=False
            )
        except OSError as e:
            for bound in servers:
                bound.close()
            raise ConfigError(
                f"cannot listen on {settings.http_listen} ({e.strerror}); is the address in use?"
            ) from None
        servers.append(server)
        bound_port = server.sockets[0].getsockname()[1]
        addresses.append(f"{'https' if context else 'http'}://{host}:{bound_port}")
    return servers, addresses


def build_engine(
    settings: Settings,
    backend: Backend,
    decisions: DecisionLog | None,
    cloud: CloudClient | None,
    *,
    assume_cloud: bool = False,
) -> Engine:
    """The scoring, policy and execution parts, as the daemon and `router classify` both use them."""
    from router.scoring.complexity import load_scorer, model_fingerprint

    policies = PolicyStore(settings.policy or default_policy_path())
    return Engine(
        worker=LocalWorker(backend, settings.queue_size, max_unread=settings.stream_max_unread),
        cloud=cloud,
        policies=policies,
        privacy=PolicyPrivacy(policies),
        complexity=load_scorer(model_fingerprint(backend.info.path), state_dir=settings.state_dir),
        decisions=decisions,
        assume_cloud=assume_cloud,
    )


def _restore_budget(engine: Engine, settings: Settings) -> None:
    """Count today's cloud spend again from the decision log: a restart must not reset the budget."""
    budget = engine.policies.budget
    if not isinstance(budget, Budget):
        return
    restored = budget.restore(cloud_spend(settings.decisions_db, budget.day_start()))
    if restored:
        usage = budget.usage()
        log.info("budget_restored", requests=usage.requests, tokens=usage.tokens, cost=round(usage.cost, 6))


# Descriptors kept free for everything that is not a client connection: the model and policy files,
# the decision log (and its -wal/-shm), the cloud connections, the metrics listener, the event loop.
RESERVED_FDS = 64


def connection_limit(settings: Settings, *, bridged: bool = False) -> int:
    """--max-connections, lowered to what the descriptor limit leaves (each connection is one
    descriptor; two more when served through the socket-activation bridge)."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return settings.max_connections
    per_connection = 3 if bridged else 1
    return max(1, min(settings.max_connections, (soft - RESERVED_FDS) // per_connection))


def server_options(settings: Settings, *, bridged: bool = False) -> list[tuple[str, int]]:
    """gRPC server options that bound what idle or hostile clients can hold (docs/operations.md)."""
    return [
        ("grpc.max_receive_message_length", 8 * 1024 * 1024),
        # Connections beyond the limit are closed at once, before they can use up the descriptors
        # every other client needs.
        ("grpc.max_allowed_incoming_connections", connection_limit(settings, bridged=bridged)),
        ("grpc.max_concurrent_streams", settings.max_streams_per_connection),
        # A connection that has not finished the HTTP/2 handshake by then is closed.
        ("grpc.server_handshake_timeout_ms", int(settings.handshake_timeout_s * 1000)),
        # A connection without calls for this long is closed (GOAWAY); clients reconnect on demand.
        ("grpc.max_connection_idle_ms", int(settings.idle_timeout_s * 1000)),
        # Pings find dead peers whose connections would otherwise stay open.
        ("grpc.keepalive_time_ms", 60_000),
        ("grpc.keepalive_timeout_ms", 20_000),
    ]


def raise_fd_limit() -> tuple[int, int]:
    """Raise the soft descriptor limit to the hard one (often 1024 of 524288); returns (soft, hard)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != soft and (hard == resource.RLIM_INFINITY or hard > soft):
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
    return soft, hard


def _authenticator(tokens: AppTokens) -> Authenticator:

    def authenticate(context: grpc.aio.ServicerContext, claimed_app: str) -> str:
        metadata = {k: v for k, v in (context.invocation_metadata() or ()) if isinstance(v, str)}
        return tokens.authenticate(metadata.get("authorization"), claimed_app)

    return authenticate


async def create_daemon(
    settings: Settings, *, backend: Backend | None = None, inherited: list[socket.socket] | None = None
) -> Daemon:
    """Load the model (unless given), build every part, and bind the listeners. Call `start()` next.

    `inherited`: listening sockets passed by systemd socket activation, served instead of --socket."""
    prepare_state_dir(settings)
    backend = backend or load_local_backend(settings)
    cloud = build_cloud_client(settings)
    decisions = DecisionLog(settings.decisions_db, hash_key=load_hash_key(settings.state_dir))
    engine = build_engine(settings, backend, decisions, cloud)
    _restore_budget(engine, settings)
    server = grpc.aio.server(
        options=server_options(settings, bridged=bool(inherited)),
        maximum_concurrent_rpcs=settings.max_concurrent_rpcs,
    )
    health = health_aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    daemon_ref: dict[str, Daemon] = {}
    tokens = AppTokens.load(settings.app_tokens) if settings.app_tokens else None
    limits = Limits(max_request_chars=settings.max_request_chars)
    service = RouterService(
        engine,
        limits=limits,
        stats=lambda app: daemon_ref["d"].stats(app),
        authenticate=_authenticator(tokens) if tokens is not None else None,
        default_deadline_s=settings.default_deadline_s,
        stall_s=settings.stream_stall_s,
    )
    add_router_service(service, server)
    reflection.enable_server_reflection(
        (SERVICE_NAME, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME),
        server,
    )
    bridge = systemd.ActivationBridge(inherited) if inherited else None
    addresses = _bind(server, settings, bridge)
    metrics = Metrics(
        model=backend.info.name,
        policy_version=engine.policies.current.version,
        max_apps=settings.stats_max_apps,
    )
    daemon = Daemon(settings, server, addresses, engine, health, decisions, cloud, metrics, bridge)
    daemon.telemetry = Telemetry.from_env()
    if settings.http_listen is not None or settings.http_socket is not None:
        daemon.http = HttpDoor(
            engine,
            limits=limits,
            tokens=tokens,
            default_deadline_s=settings.default_deadline_s,
            stall_s=settings.stream_stall_s,
            idle_timeout_s=settings.idle_timeout_s,
            head_timeout_s=settings.handshake_timeout_s,
            max_connections=connection_limit(settings),
        )
        daemon.http_servers, daemon.http_addresses = await bind_http(settings, daemon.http)
    engine.on_record = daemon.on_record
    decisions.on_written = daemon.on_written
    daemon_ref["d"] = daemon
    return daemon


async def serve(settings: Settings) -> None:
    """Run until SIGTERM/SIGINT. Under systemd: READY=1 once the model is loaded and the socket served,
    STATUS= with model and policy, WATCHDOG=1 pings while the model worker is alive, STOPPING=1."""
    notifier = systemd.Notifier.from_env(unset=True)
    inherited = systemd.listen_fds()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    watchdog: asyncio.Task[None] | None = None
    daemon: Daemon | None = None
    interval = systemd.watchdog_interval_s()
    if notifier is not None and interval:
        # Pings start before the model loads (loading runs off the loop), and stop if the worker dies.
        watchdog = asyncio.create_task(
            systemd.watchdog_task(notifier, interval, lambda: daemon is None or daemon.engine.worker.alive)
        )
    soft, hard = raise_fd_limit()
    log.info("descriptor_limit", soft=soft, hard=hard, max_connections=connection_limit(settings))
    try:
        if notifier is not None:
            notifier.status("loading the model")
        backend = await asyncio.to_thread(load_local_backend, settings)
        daemon = await create_daemon(settings, backend=backend, inherited=inherited)
        await daemon.start()
        # Everything loaded so far lives as long as the daemon. Freezing it keeps the collector from
        # walking it again: a full collection of the start-up heap paused the event loop ~26 ms.
        gc.collect()
        gc.freeze()
        if notifier is not None:
            notifier.ready(
                status=f"serving model={backend.info.name} policy={daemon.engine.policies.current.version}"
            )
        await stop.wait()
        log.info("draining", grace_s=settings.grace_s)
        if notifier is not None:
            notifier.stopping()
    finally:
        if daemon is not None:
            await daemon.stop()
        if watchdog is not None:
            watchdog.cancel()


__all__ = ["Daemon", "build_engine", "create_daemon", "load_local_backend", "serve"]
