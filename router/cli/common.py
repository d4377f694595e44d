"""Options and helpers shared by the client commands."""

from __future__ import annotations

import json
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


def parse_backend_options(values: tuple[str, ...]) -> dict[str, Any] | None:
    """`--backend-option KEY=VALUE` (repeatable) as a dict: VALUE is read as JSON when it is JSON (a
    number, true/false, a quoted string), else taken as text. None when none is given."""
    if not values:
        return None
    options: dict[str, Any] = {}
    for item in values:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"expected KEY=VALUE, got {item!r}", param_hint="--backend-option")
        try:
            options[key.strip()] = json.loads(raw)
        except ValueError:
            options[key.strip()] = raw
    return options


def local_backend_options(f: F) -> F:
    """How the local tier is chosen: a model file (--model, --backend) or a runtime over HTTP
    (--local-url, --local-model), plus --backend-option."""
    from router.backends import available

    f = click.option(
        "--backend-option",
        "backend_options",
        multiple=True,
        metavar="KEY=VALUE",
        help="A backend option (repeatable), e.g. read_timeout_s=30; unknown ones are refused.",
    )(f)
    f = click.option(
        "--local-allow-remote",
        is_flag=True,
        default=None,
        help="Allow a --local-url that is not on this machine (private prompts go there).",
    )(f)
    f = click.option(
        "--local-model", help="The runtime's name for its model (with --local-url), e.g. llama3.2."
    )(f)
    f = click.option(
        "--local-url",
        metavar="URL",
        help="Use an OpenAI-compatible local runtime as the local tier instead of --model, "
        "e.g. http://127.0.0.1:11434/v1 (Ollama).",
    )(f)
    f = click.option(
        "--backend", type=click.Choice(["auto", *available()]), help="Local backend [auto: by --model]."
    )(f)
    f = click.option(
        "--model",
        type=click.Path(path_type=Path),
        help="A .gguf file or MLX model directory [the default model].",
    )(f)
    return f


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
