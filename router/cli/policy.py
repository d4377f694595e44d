"""`router policy ...`: check policy files and explain routing decisions.

Thin wrappers over `router.policy`. The main CLI registers `policy_group`, and adds `explain` with
`add_explain_command(policy_group, build_context)`, passing the function that scores a text (the
scorers live outside this module).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click

from router.errors import ConfigError
from router.policy import default_policy_path, explain_report, load_policy, parse_policy, summarize
from router.types import DecisionContext

# (text, app id) -> the DecisionContext the daemon would build for it (scores, token count, state).
# (text, app id, policy file) -> the context the policy decides on (scored with that policy's terms).
ContextBuilder = Callable[[str, str, Path], DecisionContext]


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


def add_explain_command(group: click.Group, build_context: ContextBuilder) -> click.Command:
    """Add `explain TEXT [--app A] [--policy FILE]` to `group`; `build_context` scores the text."""

    @group.command(name="explain")
    @click.argument("text")
    @click.option("--app", default="default", show_default=True, help="App id to decide for.")
    @click.option(
        "--policy",
        "policy_path",
        type=click.Path(path_type=Path, dir_okay=False),
        default=None,
        help="Policy file (default: the shipped policies/default.yaml).",
    )
    def explain(text: str, app: str, policy_path: Path | None) -> None:
        """Show the scores of TEXT, every rule tried in order, which one fired and why."""
        path = policy_path if policy_path is not None else default_policy_path()
        try:
            policy = load_policy(path)
        except ConfigError as e:
            click.echo(e.message, err=True)
            raise SystemExit(1) from None
        _, report = explain_report(policy, build_context(text, app, path))
        click.echo(report)

    return explain
