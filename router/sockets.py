"""Unix-socket chores every door shares: a stale socket cleared, a live one refused, the mode and group
set (`--socket-mode`, `--socket-group`)."""

from __future__ import annotations

import contextlib
import grp
import os
import socket
import stat
from collections.abc import Iterator
from pathlib import Path

from router.config import Settings
from router.errors import ConfigError


def set_socket_mode(path: Path, settings: Settings) -> None:
    """A Unix socket of the daemon: --socket-mode, and the group --socket-group when given."""
    os.chmod(path, settings.socket_mode)
    if settings.socket_group:
        try:
            gid = grp.getgrnam(settings.socket_group).gr_gid
        except KeyError:
            raise ConfigError(f"--socket-group {settings.socket_group!r}: no such group") from None
        os.chown(path, -1, gid)


def prepare_unix_socket(path: Path) -> None:
    """Make way for a socket at `path`: its directory exists, a stale socket left by a previous run is
    removed; ConfigError when something else is there or another daemon is listening on it."""
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


@contextlib.contextmanager
def born_with_mode(mode: int) -> Iterator[None]:
    """Socket files created inside are born with `mode` (no window where they are more open)."""
    old_umask = os.umask(0o777 & ~mode)
    try:
        yield
    finally:
        os.umask(old_umask)


def remove_socket(path: Path | None, addresses: list[str]) -> None:
    """Remove the socket file at `path` if this daemon served it (`unix:<path>` in `addresses`)."""
    if path is not None and f"unix:{path}" in addresses:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


__all__ = ["born_with_mode", "prepare_unix_socket", "remove_socket", "set_socket_mode"]
