"""The `router` command line: thin wrappers over library calls, one module per command group."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from router.cli.ask import ask, classify, feedback
from router.cli.calibrate import calibrate
from router.cli.decisions import decisions
from router.cli.eval import eval_command
from router.cli.model import model
from router.cli.policy import add_explain_command, policy_group
from router.cli.serve import serve
from router.cli.service import install_service
from router.cli.token import token
from router.cli.train import train
from router.errors import RouterError
from router.logs import configure


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="hybrid-router")
def cli() -> None:
    """hybrid-router: answer on the device when you can, forward the rest to the cloud."""
    configure("warning")  # client commands: only problems, on stderr; `serve` sets its own level


def _build_context(text: str, app: str, policy: Path) -> Any:
    from router.offline import build_context

    return build_context(text, app, policy=policy)


add_explain_command(policy_group, _build_context)
for command in (
    serve,
    ask,
    classify,
    feedback,
    decisions,
    model,
    token,
    policy_group,
    install_service,
    train,
    eval_command,
    calibrate,
):
    cli.add_command(command)


def main() -> None:
    """Entry point: typed errors become one readable line and exit code 1."""
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except RouterError as e:
        click.echo(f"error: {e.message}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
