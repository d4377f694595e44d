"""`router ask` (through the daemon) and `router classify` (in process, no daemon needed)."""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any, TextIO

import click

from router.cli.common import connection_options, make_client
from router.client import ClientError, DecisionInfo, StreamEnd


@click.command()
@click.argument("text")
@click.option("--app", "app_id", default="", help="App id (selects the per-app policy).")
@click.option("--system", help="A system message to put before TEXT.")
@click.option("--stream/--no-stream", default=False, help="Print the answer as it is produced.")
@click.option("--max-tokens", type=int, help="Answer length limit in tokens.")
@click.option("--temperature", type=float, help="0 is greedy.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
@connection_options
def ask(
    text: str,
    app_id: str,
    system: str | None,
    stream: bool,
    max_tokens: int | None,
    temperature: float | None,
    as_json: bool,
    **conn: Any,
) -> None:
    """Ask the daemon TEXT; print the answer, then a one-line decision summary."""
    messages = ([("system", system)] if system else []) + [("user", text)]
    options = {"app_id": app_id, "max_tokens": max_tokens, "temperature": temperature}
    with make_client(**conn) as client:
        try:
            if stream and not as_json:
                decision: DecisionInfo | None = None
                for event in client.stream(messages, **options):
                    if isinstance(event, str):
                        click.echo(event, nl=False)
                        sys.stdout.flush()
                    elif isinstance(event, StreamEnd):
                        decision = event.decision
                    else:
                        decision = event
                click.echo()
                if decision is not None:
                    click.echo(decision.summary(), err=True)
                return
            reply = client.route(messages, **options)
        except ClientError as e:
            raise click.ClickException(f"{e.code}: {e.message}") from None
    if as_json:
        click.echo(
            json.dumps(
                {
                    "text": reply.text,
                    "finish_reason": reply.finish_reason,
                    "prompt_tokens": reply.prompt_tokens,
                    "completion_tokens": reply.completion_tokens,
                    "decision": asdict(reply.decision),
                }
            )
        )
    else:
        click.echo(reply.text.strip())
        click.echo(reply.decision.summary(), err=True)


@click.command()
@click.argument("text", required=False)
@click.option(
    "--jsonl", "jsonl", type=click.File("r"), help="Classify every line of a JSONL file ('-' = stdin)."
)
@click.option("--field", default="text", show_default=True, help="The JSONL field holding the prompt.")
@click.option("--app", "app_id", default="", help="App id (selects the per-app policy).")
@click.option("--policy", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Policy YAML.")
@click.option("--model", type=click.Path(exists=True, path_type=Path), help="Local model [default model].")
def classify(
    text: str | None, jsonl: TextIO | None, field: str, app_id: str, policy: Path | None, model: Path | None
) -> None:
    """Score and decide TEXT in process (no daemon), printing the decision as JSON.

    With --jsonl, prints one JSON object per input line, in the same order.
    """
    from router.offline import Classifier

    if (text is None) == (jsonl is None):
        raise click.UsageError("give TEXT or --jsonl FILE (one of them)")

    async def run() -> None:
        async with Classifier.open(policy=policy, model=model) as classifier:
            if text is not None:
                click.echo(json.dumps(await classifier.classify(text, app_id)))
                return
            assert jsonl is not None
            for n, line in enumerate(jsonl, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                    prompt = row[field]
                except (ValueError, KeyError, TypeError):
                    raise click.ClickException(
                        f"line {n}: not a JSON object with a {field!r} string field"
                    ) from None
                if not isinstance(prompt, str):
                    raise click.ClickException(f"line {n}: field {field!r} is not a string")
                click.echo(json.dumps(await classifier.classify(prompt, app_id)))

    asyncio.run(run())


@click.command()
@click.argument("decision_id")
@click.option("--good/--bad", "good", default=None, help="The answer was good / bad.")
@click.option("--score", type=click.FloatRange(0, 1), help="How good, from 0 to 1.")
@click.option("--label", default="", help="A short label (a-z, 0-9, '_', '.', '-'; no free text).")
@click.option("--app", "app_id", default="", help="App id (with app tokens: the token's app).")
@connection_options
def feedback(
    decision_id: str, good: bool | None, score: float | None, label: str, app_id: str, **conn: Any
) -> None:
    """Record how good the answer of DECISION_ID was (a label for `router calibrate --from-log`)."""
    if (good is None) == (score is None):
        raise click.UsageError("give one of --good, --bad or --score X")
    with make_client(**conn) as client:
        try:
            stored = client.feedback(decision_id, good=good, score=score, label=label, app_id=app_id)
        except ClientError as e:
            raise click.ClickException(f"{e.code}: {e.message}") from None
    click.echo(f"recorded score {stored:g} for {decision_id}")
