"""The application core: every part built from settings, started and stopped in order; no transport.

    create_app(settings, backend=None) -> App   load the model (unless given), build the engine, the
                                                decision log, the policy store, budgets, metrics,
                                                telemetry; nothing listens yet
    App.add_door(door)                          a front door (router.server: gRPC, router.http_door:
                                                HTTP), started after the parts and stopped before them
    App.start() / App.stop(grace)               start: policy hot reload (file watch, SIGHUP), decision
                                                retention, the metrics listener, then the doors; stop:
                                                the doors drain their calls within `grace`, then the
                                                worker, the cloud client, the decision log (flushed)
                                                and telemetry close, in that order
    serve(settings, open_doors)                 run until SIGTERM/SIGINT, with systemd's notify and
                                                watchdog; `router.daemon.serve` passes the doors

A door is anything with `name`, `addresses`, `start()` and `stop(grace)` (`Door`): it maps its wire
format, errors and streams to the engine's, and owns its listeners. The app hands doors what they share
(`engine`, `limits`, `tokens`, `stats()`) and tells them when the cloud's state changes
(`cloud_state_hooks`), so that no door knows another and the core knows none.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import resource
import signal
import stat
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import structlog

from router import analytics, backends, systemd
from router.auth import AppTokens
from router.backends.base import Backend
from router.budget import Budget
from router.cloud import CloudClient, build_cloud_client
from router.config import Settings, parse_host_port
from router.decisions import DecisionLog, DecisionRow, cloud_spend, load_hash_key
from router.engine import Engine, Outcome
from router.metrics import Metrics
from router.policy import default_policy_path
from router.policy_store import PolicyStore
from router.requests import Limits
from router.scoring import PolicyPrivacy
from router.telemetry import Telemetry
from router.worker import LocalWorker

log = structlog.get_logger("router.app")


class Door(Protocol):
    """A front door, as the app starts and stops it."""

    name: str

    @property
    def addresses(self) -> list[str]: ...

    async def start(self) -> None:
        """Start serving on the listeners bound when the door was built."""

    async def stop(self, grace: float) -> None:
        """Stop accepting, let calls in flight finish within `grace` seconds, remove socket files."""


@dataclass
class App:
    settings: Settings
    engine: Engine
    decisions: DecisionLog
    cloud: CloudClient | None
    metrics: Metrics
    limits: Limits
    tokens: AppTokens | None = None
    # Spans per request, only with OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT set (router.telemetry).
    telemetry: Telemetry | None = None
    doors: list[Door] = field(default_factory=list)
    # Called with the cloud's state ("closed", "open", "half_open") when it changes after a request.
    cloud_state_hooks: list[Callable[[str], None]] = field(default_factory=list)
    metrics_port: int | None = None
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _cloud_state: str = ""
    _stopped: bool = False

    def add_door(self, door: Door) -> None:
        self.doors.append(door)

    def door(self, name: str) -> Door | None:
        return next((d for d in self.doors if d.name == name), None)

    async def start(self) -> None:
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
        self._cloud_state = self.engine.cloud_state
        for hook in self.cloud_state_hooks:
            hook(self._cloud_state)
        for door in self.doors:
            await door.start()
        log.info(
            "serving",
            addresses=[address for door in self.doors for address in door.addresses],
            model=self.engine.backend.info.name,
        )

    async def stop(self, grace: float | None = None) -> None:
        """Stop accepting calls, let in-flight ones finish within `grace`, then flush and free everything."""
        if self._stopped:
            return
        self._stopped = True
        grace = self.settings.grace_s if grace is None else grace
        await asyncio.gather(*(door.stop(grace) for door in self.doors))
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
        log.info("stopped")

    def reload_complexity(self) -> None:
        """SIGHUP: pick up a head `router calibrate` wrote for this model since start-up (a backend without
        hidden state has no model stage to reload)."""
        from router.scoring.complexity import model_fingerprint, reload_scorer

        if not self.engine.backend.capabilities.hidden_state:
            return
        sha = model_fingerprint(self.engine.backend.info.path)
        self.engine.complexity = reload_scorer(self.engine.complexity, sha, self.settings.state_dir)

    def refresh_gauges(self) -> None:
        self.metrics.set_queue_depth(self.engine.worker.depth)
        self.metrics.set_circuit(self.engine.cloud_state)
        self.metrics.set_info(
            model=self.engine.backend.info.name, policy_version=self.engine.policies.current.version
        )

    async def stats(self, app: str | None = None) -> dict[str, Any]:
        """Every app's counts, or only `app`'s, as `Metrics.snapshot` gives them (GetStats' fields)."""
        # Requests are counted as their rows are written: wait for those still queued (milliseconds),
        # off the event loop.
        await asyncio.to_thread(self.decisions.flush, 2.0)
        self.refresh_gauges()
        return self.metrics.snapshot(app)

    def on_record(self, outcome: Outcome) -> None:
        """After each request, on the event loop: the cheap, loop-bound part."""
        state = self.engine.cloud_state
        if state != self._cloud_state:
            self._cloud_state = state
            for hook in self.cloud_state_hooks:
                hook(state)
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
    return backends.from_settings(settings)


def build_engine(
    settings: Settings,
    backend: Backend,
    decisions: DecisionLog | None,
    cloud: CloudClient | None,
    *,
    assume_cloud: bool = False,
) -> Engine:
    """The scoring, policy and execution parts, as the daemon and `router classify` both use them."""
    from router.scoring.complexity import scorer_for

    policies = PolicyStore(settings.policy or default_policy_path())
    return Engine(
        worker=LocalWorker(backend, settings.queue_size, max_unread=settings.stream_max_unread),
        cloud=cloud,
        policies=policies,
        privacy=PolicyPrivacy(policies),
        complexity=scorer_for(backend, settings.state_dir),
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


def raise_fd_limit() -> tuple[int, int]:
    """Raise the soft descriptor limit to the hard one (often 1024 of 524288); returns (soft, hard)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != soft and (hard == resource.RLIM_INFINITY or hard > soft):
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
    return soft, hard


def create_app(settings: Settings, *, backend: Backend | None = None) -> App:
    """Load the model (unless given) and build every part; no door yet (`add_door`), nothing started."""
    prepare_state_dir(settings)
    backend = backend or load_local_backend(settings)
    cloud = build_cloud_client(settings)
    decisions = DecisionLog(settings.decisions_db, hash_key=load_hash_key(settings.state_dir))
    engine = build_engine(settings, backend, decisions, cloud)
    _restore_budget(engine, settings)
    metrics = Metrics(
        model=backend.info.name,
        policy_version=engine.policies.current.version,
        max_apps=settings.stats_max_apps,
    )
    app = App(
        settings,
        engine,
        decisions,
        cloud,
        metrics,
        limits=Limits(max_request_chars=settings.max_request_chars),
        tokens=AppTokens.load(settings.app_tokens) if settings.app_tokens else None,
        telemetry=Telemetry.from_env(),
    )
    engine.on_record = app.on_record
    decisions.on_written = app.on_written
    return app


# Builds the app from settings and a loaded backend, doors included (router.daemon.create_daemon).
AppFactory = Callable[[Settings, Backend], Awaitable[App]]


async def serve(settings: Settings, create: AppFactory) -> None:
    """Run until SIGTERM/SIGINT. Under systemd: READY=1 once the model is loaded and the doors serve,
    STATUS= with model and policy, WATCHDOG=1 pings while the model worker is alive, STOPPING=1."""
    notifier = systemd.Notifier.from_env(unset=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    watchdog: asyncio.Task[None] | None = None
    app: App | None = None
    interval = systemd.watchdog_interval_s()
    if notifier is not None and interval:
        # Pings start before the model loads (loading runs off the loop), and stop if the worker dies.
        watchdog = asyncio.create_task(
            systemd.watchdog_task(notifier, interval, lambda: app is None or app.engine.worker.alive)
        )
    soft, hard = raise_fd_limit()
    log.info("descriptor_limit", soft=soft, hard=hard, max_connections=connection_limit(settings))
    try:
        if notifier is not None:
            notifier.status("loading the model")
        backend = await asyncio.to_thread(load_local_backend, settings)
        app = await create(settings, backend)
        await app.start()
        # Everything loaded so far lives as long as the daemon. Freezing it keeps the collector from
        # walking it again: a full collection of the start-up heap paused the event loop ~26 ms.
        gc.collect()
        gc.freeze()
        if notifier is not None:
            notifier.ready(
                status=f"serving model={backend.info.name} policy={app.engine.policies.current.version}"
            )
        await stop.wait()
        log.info("draining", grace_s=settings.grace_s)
        if notifier is not None:
            notifier.stopping()
    finally:
        if app is not None:
            await app.stop()
        if watchdog is not None:
            watchdog.cancel()


__all__ = [
    "RESERVED_FDS",
    "App",
    "AppFactory",
    "Door",
    "build_engine",
    "connection_limit",
    "create_app",
    "load_local_backend",
    "prepare_state_dir",
    "raise_fd_limit",
    "serve",
]
