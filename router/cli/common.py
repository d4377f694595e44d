"""Options and helpers shared by the client commands."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from router.client import RouterClient
from router.config import default_state_dir

F = TypeVar("F", bound=Callable[..., Any])


def connection_options(f: F) -> F:
    f = click.option(
        "--address",
        metavar="HOST:PORT",
        envvar="ROUTER_ADDRESS",
        help="Daemon TCP address (instead of the Unix socket).",
    )(f)
    f = click.option(
        "--socket",
        "socket_path",
        type=click.Path(path_type=Path),
        envvar="ROUTER_SOCKET",
        help="Daemon Unix socket [default: <state-dir>/router.sock].",
    )(f)
    f = click.option(
        "--token", envvar="ROUTER_APP_TOKEN", help="App bearer token (if the daemon requires one)."
    )(f)
    f = click.option(
        "--tls-ca",
        type=click.Path(exists=True, path_type=Path),
        envvar="ROUTER_TLS_CA",
        help="CA certificate to verify a TLS daemon (with --address).",
    )(f)
    return f


def make_client(
    socket_path: Path | None,
    address: str | None,
    token: str | None,
    tls_ca: Path | None,
    timeout: float | None = 300.0,
) -> RouterClient:
    if address:
        return RouterClient(
            address=address,
            token=token,
            timeout=timeout,
            insecure=tls_ca is None,
            root_certificates=tls_ca.read_bytes() if tls_ca else None,
        )
    path = socket_path or Path(os.environ.get("ROUTER_STATE_DIR") or default_state_dir()) / "router.sock"
    if not path.exists():
        raise click.ClickException(
            f"no daemon socket at {path}; start one with `router serve` or pass --socket / --address"
        )
    return RouterClient(socket=path, token=token, timeout=timeout)


def model_stage_options(note: str = "") -> Callable[[F], F]:
    """--model, --threads and --cache-dir, for the commands that run the complexity model stage."""

    def say(text: str) -> str:
        return note + text if note else text[0].upper() + text[1:]

    def decorate(f: F) -> F:
        f = click.option(
            "--cache-dir",
            type=click.Path(file_okay=False, path_type=Path),
            default=Path("/tmp/hr-features"),
            show_default=True,
            help=say("where hidden states are cached between runs."),
        )(f)
        f = click.option(
            "--threads", type=int, help="llama.cpp threads for the model stage [all cores but one]."
        )(f)
        f = click.option(
            "--model",
            "model_path",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            help=say("the GGUF model file [default model]."),
        )(f)
        return f

    return decorate
