"""`router token new APP`: per-app bearer tokens (stored as hashes)."""

from __future__ import annotations

from pathlib import Path

import click

from router.auth import add_token
from router.config import default_state_dir


@click.group()
def token() -> None:
    """App tokens: an app's calls must carry its token when the daemon runs with --app-tokens."""


@token.command("new")
@click.argument("app")
@click.option(
    "--file",
    "path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Tokens file [default: <state-dir>/app-tokens].",
)
def new(app: str, path: Path | None) -> None:
    """Make a token for APP, store its hash, and print the token (shown only this once)."""
    path = path or default_state_dir() / "app-tokens"
    click.echo(add_token(path, app))
    click.echo(f"stored its hash in {path}; start the daemon with --app-tokens {path}", err=True)
