"""`router policy ...`: check policy files (and, wired by the main CLI, explain decisions).

Thin wrappers over `router.policy`; the main CLI registers the `policy` group.
"""

from __future__ import annotations

from pathlib import Path

import click

from router.policy import parse_policy, summarize


@click.group(name="policy")
def policy_group() -> None:
    """Check routing policy files and explain routing decisions."""


@policy_group.command(name="check")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path, dir_okay=False))
def check(files: tuple[Path, ...]) -> None:
    """Validate policy FILES. Prints one `file:line:col: problem` line per problem and exits 1, or one
    summary line per file and exits 0."""
    failed = False
    for path in files:
        try:
            content = path.read_bytes()
        except OSError as e:
            click.echo(f"{path}:1:1: cannot read the policy file: {e.strerror}")
            failed = True
            continue
        policy, problems = parse_policy(content, str(path))
        if policy is None:
            failed = True
            for problem in problems:
                click.echo(problem)
        else:
            click.echo(f"{path}: OK, {summarize(policy)}")
    if failed:
        raise SystemExit(1)
