"""Project hygiene that CI enforces: lint, types, help texts, the public surface, no import side effects."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click
import pytest

import router
from router.cli import cli

ROOT = Path(__file__).resolve().parent.parent


def test_ruff() -> None:
    r = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "router", "tests", "scripts"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stdout + r.stderr


def test_mypy_strict() -> None:
    r = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def _commands(group: click.Group, prefix: str = "router") -> list[tuple[str, click.Command]]:
    out = []
    for name, command in group.commands.items():
        out.append((f"{prefix} {name}", command))
        if isinstance(command, click.Group):
            out.extend(_commands(command, f"{prefix} {name}"))
    return out


@pytest.mark.parametrize(("name", "command"), _commands(cli), ids=lambda v: v if isinstance(v, str) else "")
def test_every_command_has_help(name: str, command: click.Command) -> None:
    assert command.help and len(command.help.strip()) > 10, f"{name} has no help text"


def test_public_surface_is_exported() -> None:
    for name in router.__all__:
        assert getattr(router, name) is not None


def test_import_has_no_heavy_side_effects() -> None:
    code = (
        "import sys, router, router.engine, router.app, router.daemon, router.server, router.cli; "
        "print(sorted(m for m in ('llama_cpp', 'mlx', 'mlx_lm', 'sklearn') if m in sys.modules))"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.strip() == "[]"
