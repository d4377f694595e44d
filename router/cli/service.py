"""`router install-service`: write the systemd units with this installation's paths."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import click

from router.config import parse_host_port
from router.units import (
    DEFAULT_KEY_FILE,
    DEFAULT_SOCKET,
    DEFAULT_UNIT_DIR,
    UnitOptions,
    render_service,
    render_socket,
    write_units,
)


def default_executable() -> Path | None:
    """The `router` script of the running installation: next to the interpreter (a venv's bin/), else
    on $PATH. Not resolved through symlinks: a venv's python is a symlink to the system one."""
    beside = Path(sys.executable).absolute().parent / "router"
    if beside.is_file():
        return beside
    found = shutil.which("router")
    return Path(found).absolute() if found else None


def _absolute(path: Path | None) -> Path | None:
    return None if path is None else path.expanduser().absolute()


def _key_file(given: Path | None) -> Path | None:
    if given is not None:
        return given.expanduser().absolute()
    return DEFAULT_KEY_FILE if DEFAULT_KEY_FILE.exists() else None


def _check_metrics(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None:
        try:
            parse_host_port(value)
        except ValueError as e:
            raise click.BadParameter(str(e)) from None
    return value


@click.command("install-service")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_UNIT_DIR,
    show_default=True,
    help="Where to write router.service and router.socket.",
)
@click.option(
    "--executable",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The `router` executable ExecStart= runs. Default: the one of this installation.",
)
@click.option(
    "--policy",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Routing policy YAML passed to `router serve --policy`. Default: the built-in policy.",
)
@click.option(
    "--model", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Model file for --model."
)
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Keep the decision log here instead of systemd's StateDirectory (/var/lib/hybrid-router).",
)
@click.option(
    "--cloud-key-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help=f"File with the cloud API key, passed to the daemon as the credential `cloud-api-key`. "
    f"Default: {DEFAULT_KEY_FILE} if it exists (systemd refuses to start when the file is missing).",
)
@click.option("--no-cloud-key", is_flag=True, help="Do not load a cloud key (a local-only router).")
@click.option(
    "--socket",
    type=click.Path(dir_okay=False, path_type=Path),
    default=DEFAULT_SOCKET,
    show_default=True,
    help="The Unix socket systemd listens on for the daemon.",
)
@click.option("--socket-mode", default="0660", show_default=True, help="Permissions of the socket file.")
@click.option("--socket-group", help="Group allowed to connect to the socket (must exist).")
@click.option("--user", help="Run as this existing user instead of a transient DynamicUser.")
@click.option("--memory-max", default="8G", show_default=True, help="MemoryMax= for the service.")
@click.option(
    "--watchdog-sec", type=click.IntRange(min=2), default=30, show_default=True, help="WatchdogSec=."
)
@click.option(
    "--metrics-listen",
    callback=_check_metrics,
    help="Serve Prometheus metrics on HOST:PORT (off by default).",
)
@click.option("--force", is_flag=True, help="Replace existing unit files that differ.")
@click.option("--print", "print_only", is_flag=True, help="Print the units instead of writing them.")
def install_service(
    directory: Path,
    executable: Path | None,
    policy: Path | None,
    model: Path | None,
    state_dir: Path | None,
    cloud_key_file: Path | None,
    no_cloud_key: bool,
    socket: Path,
    socket_mode: str,
    socket_group: str | None,
    user: str | None,
    memory_max: str,
    watchdog_sec: int,
    metrics_listen: str | None,
    force: bool,
    print_only: bool,
) -> None:
    """Write systemd units (router.service, router.socket) for this installation.

    Then: systemctl daemon-reload && systemctl enable --now router.socket
    """
    exe = _absolute(executable) or default_executable()
    if exe is None:
        raise click.ClickException("cannot find the `router` executable; pass --executable PATH")
    if not socket.is_absolute():
        raise click.BadParameter("must be an absolute path", param_hint="--socket")
    if len(socket_mode) not in (3, 4) or any(c not in "01234567" for c in socket_mode):
        raise click.BadParameter(
            f"expected an octal mode like 0660, got {socket_mode!r}", param_hint="--socket-mode"
        )
    options = UnitOptions(
        executable=exe,
        policy=_absolute(policy),
        model=_absolute(model),
        cloud_key_file=None if no_cloud_key else _key_file(cloud_key_file),
        socket=socket,
        socket_mode=socket_mode,
        socket_group=socket_group,
        user=user,
        memory_max=memory_max,
        watchdog_s=watchdog_sec,
        metrics_listen=metrics_listen,
        state_dir=_absolute(state_dir),
    )
    if print_only:
        click.echo(render_socket(options))
        click.echo(render_service(options), nl=False)
        return
    try:
        written = write_units(directory, options, force=force)
    except FileExistsError as e:
        raise click.ClickException(str(e)) from None
    except OSError as e:
        raise click.ClickException(
            f"cannot write to {directory}: {e.strerror} (run as root, or pass --dir)"
        ) from None
    for path in written:
        click.echo(f"wrote {path}")
    if options.cloud_key_file is not None and not options.cloud_key_file.exists():
        click.echo(
            f"note: {options.cloud_key_file} does not exist yet; put the cloud API key there (mode 0600) "
            "or reinstall with --no-cloud-key",
            err=True,
        )
    click.echo("next: systemctl daemon-reload && systemctl enable --now router.socket")
