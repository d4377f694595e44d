"""`router eval`: measure the complexity scorer on labelled JSONL (AUC, confusion, per source)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from router.backends.base import Prefill
from router.cli.common import model_stage_options

DEFAULT_THRESHOLD = 0.5


@click.command("eval")
@click.option(
    "--jsonl",
    "jsonl_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Labelled rows, one JSON object a line (a `source` field gives a per-source breakdown).",
)
@click.option("--label-field", required=True, help="0/1 (or bool) field: 1 = too hard for the local model.")
@click.option(
    "--field", "text_field", default="text", show_default=True, help="The field holding the prompt."
)
@click.option(
    "--threshold",
    type=float,
    default=None,
    help=f"Score at or above which a row counts as 'hard' for the confusion table [{DEFAULT_THRESHOLD}].",
)
@click.option(
    "--stage",
    type=click.Choice(["cascade", "features"]),
    default="cascade",
    show_default=True,
    help="cascade: as the daemon scores (runs the model on unsettled rows). features: stage 1 only.",
)
@model_stage_options()
@click.option(
    "--text-head", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Stage-1 head."
)
@click.option(
    "--model-head", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Stage-2 head."
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def eval_command(
    jsonl_path: Path,
    label_field: str,
    text_field: str,
    threshold: float | None,
    stage: str,
    model_path: Path | None,
    text_head: Path | None,
    model_head: Path | None,
    cache_dir: Path,
    threads: int | None,
    as_json: bool,
) -> None:
    """Score labelled prompts and report AUC (overall, within length bins, next to a prompt-length
    baseline), the confusion at a threshold, and a per-source breakdown."""
    from router.scoring import training
    from router.scoring.complexity import load_scorer

    examples = training.read_jsonl(jsonl_path, label_field, text_field)
    threshold = DEFAULT_THRESHOLD if threshold is None else threshold
    texts = [e.text for e in examples]
    labels = [e.label for e in examples]
    backend: Any = None
    sha: str | None = None
    if stage == "cascade":
        from router.model import resolve_model, sha256_file

        path = resolve_model(model_path)
        sha = sha256_file(path)
    scorer = load_scorer(sha, text_head=text_head, model_head=model_head)
    try:
        cache = training.HiddenCache(cache_dir, sha) if sha is not None else None

        def hidden_of(i: int) -> Prefill | None:
            nonlocal backend
            if stage != "cascade" or not scorer.has_model_stage:
                return None
            if backend is None:
                from router import backends
                from router.model import resolve_model

                backend = backends.load_backend(
                    "llama_cpp", resolve_model(model_path), n_ctx=2048, n_threads=threads
                )
            return training.hidden_states(backend, [texts[i]], cache)[0]

        reports = training.cascade_scores(scorer, texts, hidden_of)
    finally:
        if backend is not None:
            backend.close()
    scores = [r.score for r in reports]
    result = summarise(texts, labels, scores, [e.source for e in examples], threshold)
    result["stage"] = stage
    result["model_stage_share"] = round(sum(r.stage == "model" for r in reports) / len(reports), 4)
    if as_json:
        click.echo(json.dumps(result, indent=1))
    else:
        click.echo(render(result))


def summarise(
    texts: list[str], labels: list[int], scores: list[float], sources: list[str], threshold: float
) -> dict[str, Any]:
    from router.scoring import training

    lengths = [float(len(t)) for t in texts]
    tp = sum(1 for y, s in zip(labels, scores, strict=True) if y and s >= threshold)
    fn = sum(1 for y, s in zip(labels, scores, strict=True) if y and s < threshold)
    fp = sum(1 for y, s in zip(labels, scores, strict=True) if not y and s >= threshold)
    tn = len(labels) - tp - fn - fp
    per_source: dict[str, Any] = {}
    for src in sorted(set(sources)):
        idx = [i for i, s in enumerate(sources) if s == src]
        ys = [labels[i] for i in idx]
        ss = [scores[i] for i in idx]
        per_source[src or "-"] = {
            "n": len(idx),
            "positives": sum(ys),
            "auc": _round(training.auc(ys, ss)),
            "mean_score": round(sum(ss) / len(ss), 4),
            "accuracy": round(
                sum((s >= threshold) == bool(y) for y, s in zip(ys, ss, strict=True)) / len(ys), 4
            ),
        }
    binned = training.binned_auc(texts, labels, scores)
    binned_len = training.binned_auc(texts, labels, lengths)
    return {
        "n": len(labels),
        "positives": sum(labels),
        "auc": _round(training.auc(labels, scores)),
        "auc_length_baseline": _round(training.auc(labels, lengths)),
        "auc_length_binned_mean": _round(binned["mean"]),
        "auc_length_binned_mean_baseline": _round(binned_len["mean"]),
        "bins": {
            k: {
                "n": v["n"],
                "positives": v["positives"],
                "auc": _round(v["auc"]),
                "length_baseline_auc": _round(binned_len["bins"][k]["auc"]),
            }
            for k, v in binned["bins"].items()
        },
        "threshold": threshold,
        "confusion": {"tp": tp, "fn": fn, "fp": fp, "tn": tn},
        "per_source": per_source,
    }


def render(r: dict[str, Any]) -> str:
    lines = [
        f"rows {r['n']} (hard {r['positives']}), stage {r.get('stage')}, "
        f"model stage on {100 * r.get('model_stage_share', 0):.1f}% of rows",
        f"AUC {r['auc']}  (prompt length baseline {r['auc_length_baseline']})",
        f"AUC averaged within length bins {r['auc_length_binned_mean']}  "
        f"(baseline {r['auc_length_binned_mean_baseline']})",
        "bin        n    hard  AUC     length-AUC",
    ]
    for k, v in r["bins"].items():
        lines.append(f"{k:<9} {v['n']:>4} {v['positives']:>6}  {v['auc']!s:<7} {v['length_baseline_auc']!s}")
    c = r["confusion"]
    lines.append(f"at threshold {r['threshold']}: tp {c['tp']} fn {c['fn']} fp {c['fp']} tn {c['tn']}")
    lines.append("source                        n   hard  AUC     mean   accuracy")
    for k, v in r["per_source"].items():
        lines.append(
            f"{k[:28]:<28} {v['n']:>4} {v['positives']:>5}  {v['auc']!s:<7} "
            f"{v['mean_score']:<6} {v['accuracy']}"
        )
    return "\n".join(lines)


def _round(v: float | None) -> float | None:
    return None if v is None else round(v, 4)


eval = eval_command  # the command is `router eval`; `eval` is the name the CLI package imports

__all__ = ["eval", "eval_command", "render", "summarise"]
