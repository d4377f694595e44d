"""The gRPC door's server: its listeners, health, reflection and limits, started and stopped by the app.

`create_grpc_door(app)` builds a grpc.aio server around the servicer (router.service), binds --socket
and/or --listen (or the socket-activation bridge), and returns a `GrpcDoor` for `App.add_door`. The
door reports the health service "" and "router.v1.Router" SERVING while it serves, and the detail
"cloud" NOT_SERVING while the cloud circuit is open. Everything it shares with other doors (the engine,
app tokens, request limits, statistics) comes from the app (router.app).
"""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass, field

import grpc
import structlog
from google.protobuf import json_format
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio
from grpc_reflection.v1alpha import reflection

from router import systemd
from router.app import App, connection_limit
from router.auth import AppTokens
from router.config import Settings, parse_host_port
from router.errors import ConfigError
from router.service import Authenticator, RouterService, add_router_service
from router.sockets import born_with_mode, prepare_unix_socket, remove_socket, set_socket_mode
from router.v1 import router_pb2 as pb

log = structlog.get_logger("router.server")

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["Router"].full_name
CLOUD_HEALTH_NAME = "cloud"  # health detail: NOT_SERVING while the cloud circuit is open


@dataclass
class GrpcDoor:
    settings: Settings
    server: grpc.aio.Server
    addresses: list[str]
    health: health_aio.HealthServicer
    bridge: systemd.ActivationBridge | None = None
    name: str = "grpc"
    _cloud_health: str = ""  # the "cloud" detail last published
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def target(self) -> str:
        """The first address, as a gRPC client target."""
        return self.addresses[0]

    async def start(self) -> None:
        with born_with_mode(self.settings.socket_mode):  # the socket file is born with its mode
            await self.server.start()
        path = self.settings.socket_path
        if f"unix:{path}" in self.addresses and path.exists():
            set_socket_mode(path, self.settings)
        if self.bridge is not None:
            await self.bridge.start()
        await self.health.set("", health_pb2.HealthCheckResponse.SERVING)
        await self.health.set(SERVICE_NAME, health_pb2.HealthCheckResponse.SERVING)

    async def stop(self, grace: float) -> None:
        await self.health.enter_graceful_shutdown()
        if self.bridge is not None:
            await self.bridge.stop_accepting()
        await self.server.stop(grace)
        if self.bridge is not None:
            await self.bridge.close()
        for task in self._tasks:
            task.cancel()
        remove_socket(self.settings.socket_path, self.addresses)

    def on_cloud_state(self, state: str) -> None:
        """Health detail: the service name "cloud" is NOT_SERVING while the cloud circuit is open."""
        if state == "disabled" or state == self._cloud_health:
            return
        self._cloud_health = state
        status = (
            health_pb2.HealthCheckResponse.NOT_SERVING
            if state == "open"
            else health_pb2.HealthCheckResponse.SERVING
        )
        self._tasks.append(asyncio.get_running_loop().create_task(self.health.set(CLOUD_HEALTH_NAME, status)))


def _bind(server: grpc.aio.Server, settings: Settings, bridge: systemd.ActivationBridge | None) -> list[str]:
    addresses: list[str] = []
    if bridge is not None:  # socket activation: systemd owns the public socket, we serve a private one
        server.add_insecure_port(bridge.grpc_address)
        addresses.append(bridge.grpc_address)
    elif settings.listen is None or settings.socket is not None:
        prepare_unix_socket(settings.socket_path)
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


def _authenticator(tokens: AppTokens) -> Authenticator:

    def authenticate(context: grpc.aio.ServicerContext, claimed_app: str) -> str:
        metadata = {k: v for k, v in (context.invocation_metadata() or ()) if isinstance(v, str)}
        return tokens.authenticate(metadata.get("authorization"), claimed_app)

    return authenticate


def create_grpc_door(app: App, *, inherited: list[socket.socket] | None = None) -> GrpcDoor:
    """The gRPC door over `app`, its listeners bound (not yet serving: `App.start` starts it).

    `inherited`: listening sockets passed by systemd socket activation, served instead of --socket."""
    settings = app.settings
    server = grpc.aio.server(
        options=server_options(settings, bridged=bool(inherited)),
        maximum_concurrent_rpcs=settings.max_concurrent_rpcs,
    )
    health = health_aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)

    async def stats(app_id: str | None) -> pb.Stats:
        """GetStats: every app's counts, or only `app_id`'s (an app token that is not the admin's)."""
        message: pb.Stats = json_format.ParseDict(await app.stats(app_id), pb.Stats())
        return message

    service = RouterService(
        app.engine,
        limits=app.limits,
        stats=stats,
        authenticate=_authenticator(app.tokens) if app.tokens is not None else None,
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
    door = GrpcDoor(settings, server, addresses, health, bridge)
    app.cloud_state_hooks.append(door.on_cloud_state)
    return door


__all__ = ["CLOUD_HEALTH_NAME", "SERVICE_NAME", "GrpcDoor", "create_grpc_door", "server_options"]
