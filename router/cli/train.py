"""`router train`: fit a complexity head from labelled JSONL and write it as plain JSON."""

from __future__ import annotations

import json
from pathlib import Path

import click

from router.cli.common import model_stage_options
from router.errors import ConfigError
from router.scoring.training import Example


@click.command("train")
@click.option(
    "--jsonl",
    "jsonl_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Labelled training rows, one JSON object a line.",
)
@click.option("--label-field", default="label", show_default=True, help="0/1 field: 1 = too hard for local.")
@click.option(
    "--field", "text_field", default="text", show_default=True, help="The field holding the prompt."
)
@click.option(
    "--stage",
    type=click.Choice(["features", "model"]),
    default="features",
    show_default=True,
    help="features: the text-feature head (stage 1). model: the hidden-state head (stage 2).",
)
@click.option(
    "--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="Head file to write."
)
@click.option(
    "--text-head",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Stage 2 only: the stage-1 head whose score it takes as an input [shipped head].",
)
@model_stage_options(note="Stage 2 only: ")
@click.option("--c", "c", type=float, help="Inverse L2 strength [1.0 for features, 0.05 for model].")
@click.option("--max-chars", type=int, default=None, help="Skip rows longer than this (stage 2 cost).")
def train(
    jsonl_path: Path,
    label_field: str,
    text_field: str,
    stage: str,
    out: Path,
    text_head: Path | None,
    model_path: Path | None,
    cache_dir: Path,
    threads: int | None,
    c: float | None,
    max_chars: int | None,
) -> None:
    """Train a complexity head (seeded: the same data gives the same file).

    Stage 1 reads only text features; stage 2 runs the model on each prompt (as at serving time) and is
    bound to that model file's sha256.
    """
    from router.scoring import training
    from router.scoring.complexity import FEATURES_HEAD_FILE, load_head, shipped_head_path

    examples = training.read_jsonl(jsonl_path, label_field, text_field)
    if max_chars is not None:
        examples = [e for e in examples if len(e.text) <= max_chars]
    if len({e.label for e in examples}) < 2:
        raise ConfigError(f"{jsonl_path}: training needs rows of both labels")
    data = {
        "data": jsonl_path.name,
        "data_sha256": training.file_sha256(jsonl_path),
        "rows": len(examples),
        "positives": sum(e.label for e in examples),
        "label_field": label_field,
        "max_chars": max_chars,
        "sources": _sources(examples),
    }
    if stage == "features":
        head = training.train_text_head(examples, c=1.0 if c is None else c, data=data)
    else:
        from router import backends
        from router.model import resolve_model, sha256_file

        first = load_head(text_head or shipped_head_path(FEATURES_HEAD_FILE))
        path = resolve_model(model_path)
        sha = sha256_file(path)
        backend = backends.load_backend("llama_cpp", path, n_ctx=2048, n_threads=threads)
        try:
            cache = training.HiddenCache(cache_dir, sha)
            with click.progressbar(length=len(examples), label="hidden states", file=None) as bar:
                done = [0]

                def progress(n: int) -> None:
                    bar.update(n - done[0])
                    done[0] = n

                hidden = training.hidden_states(backend, [e.text for e in examples], cache, progress=progress)
        finally:
            backend.close()
        kept = [(e, h) for e, h in zip(examples, hidden, strict=True) if h is not None]
        data["rows"] = len(kept)
        data["positives"] = sum(e.label for e, _ in kept)
        head = training.train_model_head(
            [e for e, _ in kept],
            [h for _, h in kept],
            first,
            model_sha256=sha,
            model_file=path.name,
            c=0.05 if c is None else c,
            data=data,
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(head.dumps(), encoding="utf-8")
    click.echo(json.dumps({"wrote": str(out), "stage": stage, **head.metrics}))


def _sources(examples: list[Example]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for e in examples:
        key = e.source.split(":")[0] if e.source else ""
        counts[key] = counts.get(key, 0) + 1
    return dict(sorted(counts.items()))
