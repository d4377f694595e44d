"""systemd unit files for the daemon, rendered from one template.

`router install-service` writes them with this machine's paths; the copies in the repository's
`systemd/` directory are the same templates rendered with `UnitOptions()` defaults (a test keeps them in
step). What each setting is for is explained in the comments inside the units and in docs/operations.md.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

SERVICE_NAME = "router.service"
SOCKET_NAME = "router.socket"
DEFAULT_UNIT_DIR = Path("/etc/systemd/system")
DEFAULT_EXECUTABLE = Path("/opt/hybrid-router/.venv/bin/router")
DEFAULT_POLICY = Path("/etc/hybrid-router/policy.yaml")
DEFAULT_KEY_FILE = Path("/etc/hybrid-router/cloud-api-key")
DEFAULT_SOCKET = Path("/run/hybrid-router/router.sock")
STATE_DIRECTORY = "hybrid-router"


@dataclass(frozen=True, slots=True)
class UnitOptions:
    executable: Path = DEFAULT_EXECUTABLE
    policy: Path | None = DEFAULT_POLICY
    model: Path | None = None
    cloud_key_file: Path | None = DEFAULT_KEY_FILE
    socket: Path = DEFAULT_SOCKET
    socket_mode: str = "0660"
    socket_group: str | None = None
    user: str | None = None  # None: DynamicUser=yes
    memory_max: str = "8G"
    watchdog_s: int = 30
    metrics_listen: str | None = None
    state_dir: Path | None = None  # None: systemd's StateDirectory (/var/lib/hybrid-router)
    extra_args: tuple[str, ...] = ()

    def exec_start(self) -> str:
        args = [str(self.executable), "serve"]
        if self.policy is not None:
            args += ["--policy", str(self.policy)]
        if self.model is not None:
            args += ["--model", str(self.model)]
        if self.metrics_listen is not None:
            args += ["--metrics-listen", self.metrics_listen]
        args += list(self.extra_args)
        # systemd splits ExecStart= like a shell for quoting purposes; '%' and '$' must be escaped.
        return " ".join(shlex.quote(a).replace("%", "%%").replace("$", "$$") for a in args)


def _protect_home(paths: list[Path]) -> str:
    """ProtectHome=yes hides /home, /root and /run/user; if the venv, the policy or the model lives there
    (a per-user install), it must stay readable."""
    homes = ("/home/", "/root/", "/run/user/")
    return "read-only" if any(str(p).startswith(homes) for p in paths) else "yes"


def _read_only_paths_exist(o: UnitOptions) -> list[Path]:
    return [p for p in (o.executable, o.policy, o.model) if p is not None]


def render_service(o: UnitOptions | None = None) -> str:
    o = o or UnitOptions()
    user_lines = "DynamicUser=yes\n" if o.user is None else f"User={o.user}\nGroup={o.user}\n"
    state_lines = (
        f"Environment=ROUTER_STATE_DIR={o.state_dir}\nReadWritePaths={o.state_dir}\n"
        if o.state_dir is not None
        else ""
    )
    key_line = (
        f"LoadCredential=cloud-api-key:{o.cloud_key_file}\n"
        if o.cloud_key_file is not None
        else "# LoadCredential=cloud-api-key:/etc/hybrid-router/cloud-api-key\n"
    )
    return f"""\
# hybrid-router daemon, rendered by router.units (`router install-service`); see docs/operations.md.
[Unit]
Description=hybrid-router: local-first LLM routing daemon
Requires={SOCKET_NAME}
After={SOCKET_NAME} network-online.target
Wants=network-online.target

[Service]
# READY=1 is sent once the model is loaded and the socket is served; STATUS= names model and policy.
Type=notify
NotifyAccess=main
ExecStart={o.exec_start()}
# The serving loop pings WATCHDOG=1 every WatchdogSec/2 while the model worker is healthy.
WatchdogSec={o.watchdog_s}s
Restart=on-failure
RestartSec=2s
# Loading a model from a cold disk can take a while; the daemon may extend this (EXTEND_TIMEOUT_USEC).
TimeoutStartSec=300s
# SIGTERM drains in-flight requests (ROUTER_GRACE_S, 10 s by default) and flushes the decision log.
TimeoutStopSec=60s

# Identity and state: the decision log lives in $STATE_DIRECTORY (/var/lib/{STATE_DIRECTORY}), the
# assembled default model in /var/cache/{STATE_DIRECTORY}/models.
{user_lines}StateDirectory={STATE_DIRECTORY}
StateDirectoryMode=0750
{state_lines}CacheDirectory={STATE_DIRECTORY}
Environment=ROUTER_MODEL_DIR=%C/{STATE_DIRECTORY}/models
# The cloud API key, read by the daemon from $CREDENTIALS_DIRECTORY/cloud-api-key; never in the
# environment or on the command line. Leave it out for a local-only router.
{key_line}UMask=0077

# Hardening. The daemon needs: its state and cache directories (writable), AF_UNIX for the socket,
# AF_INET/AF_INET6 for the cloud and the optional metrics listener, AF_NETLINK for glibc's
# getaddrinfo(AI_ADDRCONFIG), which asks the kernel which address families are configured.
ProtectSystem=strict
ProtectHome={_protect_home(_read_only_paths_exist(o))}
PrivateTmp=yes
PrivateDevices=yes
NoNewPrivileges=yes
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK
CapabilityBoundingSet=
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
SystemCallArchitectures=native
# Not set: MemoryDenyWriteExecute (ctypes callbacks in llama-cpp-python need W+X pages). For a GPU
# backend, replace PrivateDevices=yes with DeviceAllow= lines for the GPU's device nodes.

# Resource limits: the model's weights and KV cache plus Python. An example; size it to the model.
MemoryMax={o.memory_max}
TasksMax=256
# Descriptors: one per client connection (three through the socket-activation bridge) plus files. The
# default soft limit of 1024 let 1,100 idle connections lock every client out; the daemon also caps
# connections below this limit (--max-connections) and drops idle ones (docs/operations.md, "Limits").
LimitNOFILE=65536

[Install]
WantedBy=multi-user.target
Also={SOCKET_NAME}
"""


def render_socket(o: UnitOptions | None = None) -> str:
    o = o or UnitOptions()
    group_line = (
        f"SocketGroup={o.socket_group}\n"
        if o.socket_group
        else "# SocketGroup=router-clients  (the group whose members may connect)\n"
    )
    return f"""\
# hybrid-router socket, rendered by router.units (`router install-service`); see docs/operations.md.
# systemd owns the listening socket: clients may connect before the daemon has loaded its model and are
# answered once it is ready; a restart drops no connection attempt.
[Unit]
Description=hybrid-router gRPC socket

[Socket]
ListenStream={o.socket}
SocketMode={o.socket_mode}
{group_line}DirectoryMode=0755
Service={SERVICE_NAME}

[Install]
WantedBy=sockets.target
"""


def write_units(directory: Path, o: UnitOptions, *, force: bool = False) -> list[Path]:
    """Write router.service and router.socket into `directory`. Refuses to overwrite without `force`."""
    targets = {directory / SERVICE_NAME: render_service(o), directory / SOCKET_NAME: render_socket(o)}
    existing = [p for p, text in targets.items() if p.exists() and p.read_text() != text]
    if existing and not force:
        names = ", ".join(str(p) for p in existing)
        raise FileExistsError(f"{names} already exists with other content; pass --force to replace it")
    directory.mkdir(parents=True, exist_ok=True)
    for path, text in targets.items():
        path.write_text(text)
    return list(targets)
