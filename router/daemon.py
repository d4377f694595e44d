"""The daemon: the application core (router.app) with the doors the settings ask for.

    create_daemon(settings, backend=None, inherited=None) -> Daemon   everything built and bound
    serve(settings)                                                   `router serve`

The gRPC door always (on --socket and/or --listen, or on the sockets systemd passed); the
OpenAI-compatible HTTP door when --http-listen or --http-socket is given. This module only chooses and
composes: building parts is router.app's, each door is its own module's.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

from router import systemd
from router.app import App, create_app
from router.app import serve as serve_app
from router.backends.base import Backend
from router.config import Settings
from router.decisions import DecisionLog
from router.engine import Engine
from router.http_door import HttpListeners, create_http_door
from router.metrics import Metrics
from router.server import GrpcDoor, create_grpc_door
from router.telemetry import Telemetry


@dataclass
class Daemon:
    """The app and its doors; `start()` and `stop()` are the app's."""

    app: App
    grpc: GrpcDoor
    http: HttpListeners | None = None

    @property
    def target(self) -> str:
        """The gRPC door's first address, as a gRPC client target."""
        return self.grpc.target

    @property
    def addresses(self) -> list[str]:
        return self.grpc.addresses

    @property
    def http_addresses(self) -> list[str]:
        return self.http.addresses if self.http is not None else []

    async def start(self) -> None:
        await self.app.start()

    async def stop(self, grace: float | None = None) -> None:
        await self.app.stop(grace)

    # The app's parts, read through.
    @property
    def settings(self) -> Settings:
        return self.app.settings

    @property
    def engine(self) -> Engine:
        return self.app.engine

    @property
    def decisions(self) -> DecisionLog:
        return self.app.decisions

    @property
    def metrics(self) -> Metrics:
        return self.app.metrics

    @property
    def metrics_port(self) -> int | None:
        return self.app.metrics_port

    @property
    def telemetry(self) -> Telemetry | None:
        return self.app.telemetry

    @telemetry.setter
    def telemetry(self, telemetry: Telemetry | None) -> None:
        self.app.telemetry = telemetry


async def add_doors(app: App, *, inherited: list[socket.socket] | None = None) -> Daemon:
    """Bind the doors the app's settings ask for and add them to `app`."""
    grpc_door = create_grpc_door(app, inherited=inherited)
    app.add_door(grpc_door)
    http = None
    settings = app.settings
    if settings.http_listen is not None or settings.http_socket is not None:
        http = await create_http_door(app)
        app.add_door(http)
    return Daemon(app, grpc_door, http)


async def create_daemon(
    settings: Settings, *, backend: Backend | None = None, inherited: list[socket.socket] | None = None
) -> Daemon:
    """Load the model (unless given), build every part, and bind the listeners. Call `start()` next.

    `inherited`: listening sockets passed by systemd socket activation, served instead of --socket."""
    return await add_doors(create_app(settings, backend=backend), inherited=inherited)


async def serve(settings: Settings) -> None:
    """Run the daemon until SIGTERM/SIGINT (router.app.serve), with systemd's sockets when it passed
    some."""
    inherited = systemd.listen_fds()

    async def create(settings: Settings, backend: Backend) -> App:
        return (await create_daemon(settings, backend=backend, inherited=inherited)).app

    await serve_app(settings, create)


__all__ = ["Daemon", "add_doors", "create_daemon", "serve"]
