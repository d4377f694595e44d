"""`router calibrate`: fit the complexity model stage to the resident model's own graded answers."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from router.errors import ConfigError


@click.command("calibrate")
@click.option(
    "--model",
    "model_path",
    type=click.Path(exists=True, path_type=Path),
    help="The model the daemon will serve: a GGUF file or an MLX directory [default model].",
)
@click.option(
    "--backend",
    default="auto",
    show_default=True,
    help="Backend to run it with (auto: by path, as `router serve`).",
)
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="The daemon's state dir: graded answers are cached and the head written under it "
    "[$ROUTER_STATE_DIR or the default].",
)
@click.option(
    "--profile",
    type=click.Choice(["quick", "full"]),
    default="quick",
    show_default=True,
    help="quick: every third item of each family (353 prompts); full: the whole suite (1,047 prompts).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the cross-validation.")
@click.option(
    "--time-budget",
    type=float,
    help="Minutes to spend answering new items; then fit on what is graded (rerun to go on).",
)
@click.option(
    "--family",
    "families",
    multiple=True,
    help="Answer only this family's new items (repeatable; e.g. a family just added to the suite); "
    "the other families count where already cached. The fit uses every cached item of the profile.",
)
@click.option("--threads", type=int, help="llama.cpp threads [the daemon's setting].")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the head here instead of <state dir>/calibration/head-<sha256>.json.",
)
@click.option(
    "--from-log",
    is_flag=True,
    help="Also learn from the decision log's labelled traffic: local answers rated with Feedback or "
    "judged by shadow checks (needs the policy's shadow.keep_features).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the full report as JSON.")
def calibrate(
    model_path: Path | None,
    backend: str,
    state_dir: Path | None,
    profile: str,
    seed: int,
    time_budget: float | None,
    families: tuple[str, ...],
    threads: int | None,
    out: Path | None,
    from_log: bool,
    as_json: bool,
) -> None:
    """Run the model through the calibration suite with the daemon's prompt format and generation
    defaults, grade its answers, and fit the complexity head to them (P(local answer not good enough)).

    Resumable: graded answers are cached per model under the state dir, so an interrupted run goes on
    where it stopped, and a second run only refits (byte-identical for the same answers and seed).
    `router serve` picks the head up at start-up and on SIGHUP.
    """
    from router import backends
    from router.calibration import calibrate as lib
    from router.calibration import run, suite
    from router.config import build_settings
    from router.model import resolve_model

    overrides: dict[str, object] = {"backend": backend}
    if state_dir is not None:
        overrides["state_dir"] = state_dir
    if threads is not None:
        overrides["n_threads"] = threads
    settings = build_settings(model=model_path, **overrides)
    path = resolve_model(settings.model)
    items = suite.select(suite.load_suite(), profile)
    unknown = sorted(set(families) - {i.family for i in items})
    if unknown:
        raise ConfigError(f"unknown suite family: {', '.join(unknown)}")
    loaded = backends.load_backend(
        settings.backend,
        path,
        n_ctx=settings.n_ctx,
        n_threads=settings.n_threads,
        default_max_tokens=settings.default_max_tokens,
    )
    try:
        progress = run.Progress(len(items), f"calibrating {path.name} ({profile})")
        try:
            result = lib.calibrate(
                loaded,
                path,
                settings.state_dir,
                profile=profile,
                seed=seed,
                out=out,
                progress=progress.step,
                items=items,
                deadline=None if time_budget is None else time.monotonic() + 60 * time_budget,
                from_log=settings.decisions_db if from_log else None,
                families=set(families) or None,
            )
        except ValueError as e:
            raise ConfigError(str(e)) from None
    finally:
        loaded.close()
    if as_json:
        click.echo(json.dumps({"wrote": str(result.path), **result.report}, indent=1))
    else:
        click.echo(lib.render(result))
