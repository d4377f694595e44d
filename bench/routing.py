"""Routing quality of the calibrated complexity scorer: `python -m bench.routing`.

For each model (default: the default model and Gemma 3 270M), on the calibration suite's held-out
split, answered by the model itself with the daemon's prompt format and generation defaults (cached
under --state-dir, the same cache `router calibrate` fills and resumes):

* routers: the calibrated model stage on every prompt; the cascade as served (stage 1 settles where its
  bands say, the model stage scores the rest); stage 1 only; prompt length; random;
* figures: local accuracy, AUC overall and within family (families with >= 10 right and 10 wrong),
  ECE, APGR with the oracle's, gain captured = (APGR - 0.5) / (oracle APGR - 0.5), CPT(50%), CPT(80%);
* an ablation of the head's inputs (hidden state, next-token signals, stage-1 logit);
* after the answer, where the answers' log-probabilities are cached: the head's answer stage (what the
  `min_answer_success` answer check reads) and the log-probabilities alone, beside the model stage;
* a PNG of the call-performance curves (cloud share vs quality) with the oracle's.

The head is fitted on the training split only, exactly as `router calibrate` does. With
--out-of-suite N, N prompts of each out-of-suite family (`bench.ood_tasks`: nq_open and GSM8K from
the shared data folder when it is there, arithmetic of growing size and mechanical edits written in
other words than the suite's) are answered, graded and routed by that head beside stage 1, prompt length
and random: whether what the head learned carries over to prompts it never saw.

    python -m bench.routing [--models A.gguf B.gguf] [--profile full] [--out-of-suite 0]
        [--plot docs/routing.png]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.complexity_data import SHARED

ABLATIONS: tuple[tuple[str, ...], ...] = (
    ("stage1",),
    ("signals",),
    ("signals", "stage1"),
    ("hidden",),
    ("hidden", "signals"),
    ("hidden", "signals", "stage1"),
)


def _default_models() -> list[Path]:
    from router.model import model_dir

    out = []
    smol = Path("/tmp/models/SmolLM2-135M-Instruct.Q4_1.gguf")
    for candidate in (
        smol if smol.exists() else model_dir() / "SmolLM2-135M-Instruct.Q4_1.gguf",
        model_dir() / "gemma-3-270m-q4_k_m.gguf",
    ):
        if candidate.exists():
            out.append(candidate)
    return out


def _outcomes(path: Path, state: Path, profile: str, threads: int | None, cached_only: bool) -> list[Any]:
    from router import backends
    from router.calibration import run, suite
    from router.scoring.complexity import model_fingerprint

    # In `router calibrate`'s order: the cross-validation folds (and so the chosen L2 strength) depend on
    # it, and the head measured here must be the head calibrate writes.
    items = suite.interleave(suite.select(suite.load_suite(), profile))
    sha = model_fingerprint(path)
    cache = run.OutcomeCache(state, sha)
    backend: Any = None
    out = []
    progress = run.Progress(len(items), path.name)
    try:
        for item in items:
            if backend is None:
                # The prompt format without loading the model: cached rows carry the prompt's hash only.
                hit = _cached(cache, item)
                if hit is not None or cached_only:
                    if hit is not None:
                        out.append(hit)
                    progress.step(False)
                    continue
                backend = backends.load_backend("auto", path, n_ctx=4096, n_threads=threads)
            got = run.run_items(backend, [item], cache)
            out.extend(got)
            progress.step(True)
    finally:
        if backend is not None:
            backend.close()
    return out


def _cached(cache: Any, item: Any) -> Any:
    """A cached outcome by item id (the prompt is the model's format of the item; one row per item)."""
    from router.backends.base import Prefill
    from router.calibration import grade
    from router.calibration.run import Outcome, row_logprobs

    row = cache.by_id(item.id)
    if row is None:
        return None
    pre = Prefill(row["hidden"], row["entropy"], row["top_prob"], row["n_tokens"])
    ok = grade.grade(item, row["answer"])
    return Outcome(
        item.id, item.family, item.split, item.prompt, "", ok, row["answer"], pre, row_logprobs(row)
    )


ANSWER_BOUNDS = (0.3, 0.5, 0.7)


def _default_hard() -> float:
    """The shipped default policy's `hard` threshold (read, so the table follows the policy)."""
    from router.policy import default_policy_path, load_policy

    return float(load_policy(default_policy_path()).model.thresholds["hard"])


def after_answer(
    head: Any, held_all: Sequence[Any], p_all: Sequence[float], train_all: Sequence[Any], seed: int
) -> dict[str, Any] | None:
    """Held-out figures, on the prompts whose answer log-probabilities are cached, of: the model stage
    alone (`p_all`: the head's held-out scores before generating, what `Classify` returns), the answer's
    first log-probabilities alone, and the head's answer stage (both, as `router calibrate` fits it and
    the `min_answer_success` check reads it). The last two need the answer: they measure what a check
    after generating adds."""
    from router.calibration import fit, metrics
    from router.scoring.complexity import ANSWER_TOKENS

    kept = [(o, p) for o, p in zip(held_all, p_all, strict=True) if o.logprobs]
    held, p_held = [o for o, _ in kept], [p for _, p in kept]
    train = [o for o in train_all if o.logprobs]
    if len(held) < 20 or len({o.correct for o in held}) < 2:
        return None
    stage, alone = head.answer, fit.fit_answer_stage(train, [0.5] * len(train), seed)
    if stage is None or alone is None:
        return None
    hard = _default_hard()
    fails = [0 if o.correct else 1 for o in held]
    fams = [o.family for o in held]
    out: dict[str, Any] = {
        "train_n": len(train),
        "heldout_n": len(held),
        "answer_tokens": ANSWER_TOKENS,
        "hard": hard,
    }
    # What `min_answer_success` means on these prompts, behind the default policy's `hard` threshold:
    # prompts scored >= hard go to the cloud before generating, the rest are answered locally and an
    # answer whose expected success is below the bound goes to the cloud too (the cloud assumed right).
    expected = [stage.expected_success(q, o.logprobs) for o, q in zip(held, p_held, strict=True)]
    out["thresholds"] = []
    for bound in (None, *ANSWER_BOUNDS):
        local = [
            i
            for i, q in enumerate(p_held)
            if q < hard and (bound is None or (expected[i] is not None and expected[i] >= bound))
        ]
        right = sum(1 - fails[i] for i in local) + (len(held) - len(local))
        # The model stage alone at the same cloud share: its most doubted prompts go to the cloud.
        kept = sorted(range(len(held)), key=lambda i: p_held[i])[: len(local)]
        same_share = sum(1 - fails[i] for i in kept) + (len(held) - len(kept))
        out["thresholds"].append(
            {
                "min_answer_success": bound,
                "cloud_share": round(1 - len(local) / len(held), 4),
                "quality": round(right / len(held), 4),
                "model_stage_alone_quality": round(same_share / len(held), 4),
                "local_answers_right": round(sum(1 - fails[i] for i in local) / max(1, len(local)), 4),
            }
        )
    for name, p in (
        ("model stage (before generating, as served)", p_held),
        ("answer log-probabilities alone", [alone.score(0.5, o.logprobs) or 0.0 for o in held]),
        (
            "answer stage (model stage + answer)",
            [stage.score(q, o.logprobs) or 0.0 for o, q in zip(held, p_held, strict=True)],
        ),
    ):
        out[name] = metrics.summary(fails, p, fams, p) | {
            "auc_within_family_min5": metrics.family_auc(fails, p, fams, 5)["mean"]
        }
    return out


def evaluate_model(path: Path, outcomes: Sequence[Any], seed: int) -> dict[str, Any]:
    from router.calibration import calibrate as lib
    from router.calibration import fit, metrics
    from router.scoring.complexity import model_fingerprint

    sha = model_fingerprint(path)
    train = [o for o in outcomes if o.split == "train"]
    held = [o for o in outcomes if o.split == "heldout"]
    fails = [0 if o.correct else 1 for o in held]
    fams = [o.family for o in held]
    s1 = fit.stage1_scores([o.text for o in held])
    head, _ = lib.fit_outcomes(
        outcomes,
        model_sha256=sha,
        model_file=path.name,
        seed=seed,
        profile="bench",
        inputs=lib.DEFAULT_INPUTS,
    )
    calibrated = fit.score_with(head, held, s1)
    cascade = [s if (s < head.low or s > head.high) else c for s, c in zip(s1, calibrated, strict=True)]
    length = [float(len(o.text)) for o in held]
    rand = [0.5] * len(held)  # one tie group: routed in expectation, i.e. exactly random
    routers = {
        "calibrated (model stage on every prompt)": (calibrated, calibrated),
        "cascade as served": (cascade, None),
        "stage 1 only": (s1, s1),
        "prompt length": (length, None),
        "random (expected)": (rand, None),
    }
    result: dict[str, Any] = {
        "model": path.name,
        "train_n": len(train),
        "heldout_n": len(held),
        "train_local_accuracy": round(sum(o.correct for o in train) / max(1, len(train)), 4),
        "head": {
            "inputs": list(head.inputs),
            "c": head.training["c"],
            "stage1_bands": [head.low, head.high],
            "settled_share_heldout": round(
                sum(1 for s in s1 if s < head.low or s > head.high) / max(1, len(s1)), 4
            ),
            "train_oof": {k: v for k, v in head.metrics.items() if k not in ("heldout", "on")},
        },
        "routers": {},
        "curves": {},
    }
    for name, (scores, probs) in routers.items():
        summary = metrics.summary(fails, scores, fams, probs)
        result["routers"][name] = summary
        result["curves"][name] = [(p[0], p[1]) for p in metrics.pgr_curve(fails, scores)]
    result["curves"]["oracle"] = [(p[0], p[1]) for p in metrics.pgr_curve(fails, [float(f) for f in fails])]
    ablation = {}
    for inputs in ABLATIONS:  # each with its own L2 strength chosen on the training split
        h, _ = (
            lib.fit_outcomes(
                outcomes, model_sha256=sha, model_file=path.name, seed=seed, profile="bench", inputs=inputs
            )
            if inputs != tuple(head.inputs)
            else (head, None)
        )
        p = fit.score_with(h, held, s1)
        summ = metrics.summary(fails, p, fams, p)
        ablation["+".join(inputs)] = {
            k: summ[k] for k in ("auc", "auc_within_family", "gain_captured", "cpt80", "ece")
        } | {"c": h.training["c"]}
    result["ablation"] = ablation
    # A second view with more rows per family: 5-fold cross-validation over every graded prompt
    # (training and held-out split together), as the issue's own quick check measured it.
    every = list(outcomes)
    cv = fit.fit_head(
        every,
        fit.stage1_scores([o.text for o in every]),
        inputs=lib.DEFAULT_INPUTS,
        model_sha256=sha,
        model_file=path.name,
        seed=seed,
        training={},
    )
    all_fails = [0 if o.correct else 1 for o in every]
    all_fams = [o.family for o in every]
    result["cv_all"] = metrics.summary(all_fails, cv.oof, all_fams, cv.oof)
    result["cv_all"]["auc_within_family_min5"] = metrics.family_auc(all_fails, cv.oof, all_fams, 5)["mean"]
    result["heldout_auc_within_family_min5"] = metrics.family_auc(fails, calibrated, fams, 5)["mean"]
    after = after_answer(head, held, calibrated, train, seed)
    if after is not None:
        result["after_answer"] = after
    result["_head"] = head  # for the out-of-suite check; not part of the JSON
    return result


def out_of_suite(path: Path, head: Any, n: int, threads: int | None, state: Path) -> dict[str, Any] | None:
    """Prompts the suite never saw (`bench.ood_tasks`: nq_open and GSM8K from the shared data, arithmetic
    of growing size and mechanical edits in other words), answered by the model with the daemon
    defaults, graded, and routed by `head` (fitted on the suite's training split) beside the baselines.
    Answers are cached per model under the state dir (`ood-answers.jsonl`)."""
    if n <= 0:
        return None
    import math

    from bench import ood_tasks
    from router.backends.base import Prefill
    from router.calibration import fit, metrics
    from router.scoring.complexity import CALIBRATION_DIR, model_fingerprint, model_inputs

    sha = model_fingerprint(path)
    items = ood_tasks.tasks(SHARED if SHARED.is_dir() else None, n)
    rows = ood_tasks.answer(path, items, state / CALIBRATION_DIR / sha / "ood-answers.jsonl", threads)
    texts = [str(r["text"]) for r in rows]
    s1 = fit.stage1_scores(texts)
    probs = []
    for r, s in zip(rows, s1, strict=True):
        pre = Prefill(r["hidden"], r["entropy"], r["top_prob"], r["n_tokens"])  # type: ignore[arg-type]
        z = head.logit(model_inputs(head.inputs, pre, s))
        probs.append(1 / (1 + math.exp(-z)) if z > -700 else 0.0)
    fails = [0 if r["ok"] else 1 for r in rows]
    fams = [str(r["family"]) for r in rows]
    if len(set(fails)) < 2:
        return {
            "n": len(rows),
            "local_accuracy": round(1 - sum(fails) / len(rows), 4),
            "note": "one class only",
        }
    routers = {
        "calibrated": (probs, probs),
        "stage 1 only": (s1, s1),
        "prompt length": ([float(len(t)) for t in texts], None),
        "random (expected)": ([0.5] * len(rows), None),
    }
    out: dict[str, Any] = {}
    for name, (scores, p) in routers.items():
        summary = metrics.summary(fails, scores, fams, p)
        summary["auc_within_family_min5"] = metrics.family_auc(fails, scores, fams, 5)["mean"]
        out[name] = summary
    return out


def plot(results: Sequence[dict[str, Any]], target: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(6 * len(results), 4.6), squeeze=False)
    styles = {
        "oracle": ("k", "--"),
        "calibrated (model stage on every prompt)": ("tab:blue", "-"),
        "cascade as served": ("tab:cyan", ":"),
        "stage 1 only": ("tab:orange", "-"),
        "prompt length": ("tab:green", "-"),
        "random (expected)": ("tab:gray", "-"),
    }
    for ax, r in zip(axes[0], results, strict=True):
        for name, (color, ls) in styles.items():
            pts = r["curves"][name]
            label = name
            if name in r["routers"]:
                label += f" (gain {r['routers'][name]['gain_captured']})"
            ax.plot([p[0] for p in pts], [p[1] for p in pts], color=color, linestyle=ls, label=label)
        ax.set_title(f"{r['model']} (held-out, n={r['heldout_n']})", fontsize=10)
        ax.set_xlabel("share of prompts sent to the cloud")
        ax.set_ylabel("answered well (cloud assumed right)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    target.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(target, dpi=110, metadata={"Software": None})
    plt.close(fig)


def render(r: dict[str, Any]) -> str:
    lines = [
        f"== {r['model']}: held-out n={r['heldout_n']} (train n={r['train_n']}, train local accuracy "
        f"{r['train_local_accuracy']:.1%}); head inputs {'+'.join(r['head']['inputs'])}, "
        f"C={r['head']['c']}, stage-1 bands {r['head']['stage1_bands']} "
        f"(settles {r['head']['settled_share_heldout']:.1%} of held-out)",
        f"{'router':42} {'acc':>6} {'AUC':>6} {'AUC/fam':>8} {'ECE':>6} {'APGR':>6} {'oracle':>6} "
        f"{'gain':>6} {'CPT50':>6} {'CPT80':>6}",
    ]
    for name, s in r["routers"].items():
        lines.append(
            f"{name:42} {s['local_accuracy']:6.1%} {_f(s['auc'])} {_f(s['auc_within_family'], 8)} "
            f"{_f(s.get('ece'))} {_f(s['apgr'])} {_f(s['oracle_apgr'])} {_f(s['gain_captured'])} "
            f"{s['cpt50']:6.0%} {s['cpt80']:6.0%}"
        )
    cv = r["cv_all"]
    lines.append(
        f"held-out AUC within family counting families with >= 5 right and 5 wrong: "
        f"{r['heldout_auc_within_family_min5']}"
    )
    lines.append(
        f"5-fold CV over all {cv['n']} graded prompts: AUC {cv['auc']}, "
        f"within family {cv['auc_within_family']} "
        f"({cv['families_counted']} families with >= 10/10; {cv['auc_within_family_min5']} with >= 5/5), "
        f"ECE {cv.get('ece')}, gain captured {cv['gain_captured']}, CPT(80%) {cv['cpt80']:.0%}"
    )
    fam = r["routers"]["calibrated (model stage on every prompt)"]["per_family"]
    lines.append(
        "per family (calibrated; * = counted in AUC/fam): "
        + ", ".join(
            f"{k} {v['right']}/{v['n']} AUC {v['auc']}{'*' if v['counted'] else ''}" for k, v in fam.items()
        )
    )
    lines.append(
        "ablation (held-out): "
        + "; ".join(
            f"{k}: AUC {v['auc']}, AUC/fam {v['auc_within_family']}, gain {v['gain_captured']}"
            for k, v in r["ablation"].items()
        )
    )
    after = r.get("after_answer")
    if after:
        lines.append(
            f"after the answer (held-out n={after['heldout_n']} with the first {after['answer_tokens']} "
            f"answer tokens' log-probabilities cached):"
        )
        for name, s in after.items():
            if isinstance(s, dict):
                lines.append(
                    f"  {name:44} AUC {_f(s['auc'])}  AUC/fam {_f(s['auc_within_family'])} "
                    f"(>=5/5 {_f(s['auc_within_family_min5'])})  ECE {_f(s.get('ece'))}  "
                    f"gain {_f(s['gain_captured'])}  CPT80 {s['cpt80']:.0%}"
                )
        if after.get("thresholds"):
            lines.append(
                f"  behind the default policy's hard = {after['hard']} (cloud assumed right): "
                + "; ".join(
                    f"min_answer_success {t['min_answer_success'] or 'off'}: cloud {t['cloud_share']:.0%}, "
                    f"quality {t['quality']:.1%} (model stage alone at that share "
                    f"{t['model_stage_alone_quality']:.1%}), "
                    f"local answers right {t['local_answers_right']:.0%}"
                    for t in after["thresholds"]
                )
            )
    ood = r.get("out_of_suite")
    if ood:
        if "note" in ood:
            lines.append(f"out of suite: {json.dumps(ood)}")
        else:
            first = next(iter(ood.values()))
            per = ", ".join(f"{k} {v['right']}/{v['n']}" for k, v in first["per_family"].items())
            lines.append(f"out of suite (n={first['n']}: {per}; never trained on)")
            for name, s in ood.items():
                lines.append(
                    f"  {name:40} AUC {_f(s['auc'])}  AUC/fam(>=5/5) {_f(s['auc_within_family_min5'])}  "
                    f"ECE {_f(s.get('ece'))}  gain {_f(s['gain_captured'])}  CPT80 {s['cpt80']:.0%}"
                )
    return "\n".join(lines)


def _strip(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _strip(v) for k, v in x.items() if k != "per_family"}
    return x


def _f(v: float | None, w: int = 6) -> str:
    return f"{'-':>{w}}" if v is None else f"{v:{w}.3f}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=Path, nargs="*", default=None)
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=None,
        help="Where graded answers are cached: the daemon's state dir by default, the cache `router "
        "calibrate` fills.",
    )
    parser.add_argument("--profile", default="full", choices=["quick", "full"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--out-of-suite",
        type=int,
        default=0,
        help="Prompts of each out-of-suite family (bench.ood_tasks) to answer and route (0: none).",
    )
    parser.add_argument(
        "--exclude-family",
        action="append",
        default=[],
        help="Leave this suite family out (repeatable): e.g. the head as fitted before a family was added.",
    )
    parser.add_argument(
        "--head",
        type=Path,
        default=None,
        help="Route the out-of-suite prompts with this head file (e.g. the one shipped for the default "
        "model) instead of the one fitted here.",
    )
    parser.add_argument("--plot", type=Path, default=Path("docs/routing.png"))
    parser.add_argument("--json", type=Path, default=None, help="Write the results here.")
    parser.add_argument(
        "--cached-only", action="store_true", help="Use only the answers already cached (no model run)."
    )
    args = parser.parse_args(argv)
    if os.environ.get("BENCH_QUICK") == "1":
        args.cached_only = True  # `python -m bench --quick`: what `router calibrate` already graded
    if args.state_dir is None:
        from router.config import default_state_dir

        args.state_dir = default_state_dir()
    models = args.models or _default_models()
    if not models:
        print("skipped: no model files found", file=sys.stderr)
        return
    results = []
    for path in models:
        outcomes = _outcomes(path, args.state_dir, args.profile, args.threads, args.cached_only)
        outcomes = [o for o in outcomes if o.family not in args.exclude_family]
        r = evaluate_model(path, outcomes, args.seed)
        if args.head is not None:
            from router.scoring.complexity import load_head, model_fingerprint

            r["_head"] = load_head(args.head, model_sha256=model_fingerprint(path))
        r["out_of_suite"] = out_of_suite(
            path, r.pop("_head"), args.out_of_suite, args.threads, args.state_dir
        )
        print(render(r), flush=True)
        results.append(r)
    if args.plot:
        plot(results, args.plot)
        print(f"plot: {args.plot}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
