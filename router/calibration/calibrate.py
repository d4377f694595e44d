"""`router calibrate` as a library call: run, grade, fit, report, write the head.

The model answers every item of the profile (training and held-out split; cached per model under the
state dir), the head is fitted on the training split only, and the report gives the held-out figures
(AUC overall and within family, ECE, the cloud-share / quality table) next to the out-of-fold ones.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from router.backends.base import Backend
from router.calibration import fit, metrics, run, suite
from router.calibration.traffic import traffic_outcomes
from router.scoring.complexity import MODEL_INPUTS, Head, calibrated_head_path

DEFAULT_INPUTS: tuple[str, ...] = MODEL_INPUTS
SHARES = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


@dataclass(frozen=True, slots=True)
class Result:
    head: Head
    path: Path
    report: dict[str, Any]


def collect(
    backend: Backend,
    state_dir: Path,
    model_sha256: str,
    profile: str,
    *,
    progress: Callable[[bool], None] | None = None,
    items: Sequence[suite.Item] | None = None,
    deadline: float | None = None,
    families: Collection[str] | None = None,
) -> list[run.Outcome]:
    """Graded outcomes of the profile's items for this model (answered now or read from the cache),
    answered round-robin over the families; with a `deadline`, what was answered by then; with
    `families`, only those families' items are answered (the others count where cached)."""
    chosen = list(items) if items is not None else suite.select(suite.load_suite(), profile)
    cache = run.OutcomeCache(state_dir, model_sha256)
    return run.run_items(
        backend, suite.interleave(chosen), cache, progress=progress, deadline=deadline, families=families
    )


def evaluate(head: Head, outcomes: Sequence[run.Outcome]) -> dict[str, Any]:
    """Held-out figures of a head on graded outcomes."""
    stage1 = fit.stage1_scores([_user_text(o) for o in outcomes])
    probs = fit.score_with(head, outcomes, stage1)
    fails = [0 if o.correct else 1 for o in outcomes]
    report = metrics.summary(fails, probs, [o.family for o in outcomes], probs)
    report["table"] = metrics.share_table(fails, probs, SHARES)
    if head.answer is not None:  # after generating, where the answers' log-probabilities were recorded
        scored = [(o, head.answer.score(p, o.logprobs)) for o, p in zip(outcomes, probs, strict=True)]
        kept = [(o, p) for o, p in scored if p is not None]
        if len({o.correct for o, _ in kept}) == 2:
            answer_fails = [0 if o.correct else 1 for o, _ in kept]
            answer_probs = [p for _, p in kept]
            answer = metrics.summary(answer_fails, answer_probs, [o.family for o, _ in kept], answer_probs)
            report["answer_stage"] = {k: v for k, v in answer.items() if k != "per_family"}
    return report


def fit_outcomes(
    outcomes: Sequence[run.Outcome],
    *,
    model_sha256: str,
    model_file: str,
    seed: int,
    profile: str,
    inputs: Sequence[str] = DEFAULT_INPUTS,
    backend_name: str = "",
    answered: tuple[int, int] | None = None,
    traffic: Sequence[tuple[run.Outcome, float]] = (),
) -> tuple[Head, dict[str, Any]]:
    """Fit on the training split (plus `traffic`: labelled local answers from the decision log, with
    their stage-1 scores, for `--from-log`); report on the held-out split."""
    train = [o for o in outcomes if o.split == "train"]
    heldout = [o for o in outcomes if o.split == "heldout"]
    stage1 = fit.stage1_scores([_user_text(o) for o in train]) + [s for _, s in traffic]
    train += [o for o, _ in traffic]
    fitted = fit.fit_head(
        train,
        stage1,
        inputs=inputs,
        model_sha256=model_sha256,
        model_file=model_file,
        seed=seed,
        training={
            "suite": suite.SUITE_VERSION,
            "profile": profile,
            **({"answered": list(answered)} if answered else {}),
            "backend": backend_name,
            "families": sorted({o.family for o in train}),
            **({"traffic": len(traffic)} if traffic else {}),
        },
    )
    head = fitted.head
    report: dict[str, Any] = {"train_oof": head.metrics}
    if heldout and len({o.correct for o in heldout}) == 2:
        held = evaluate(head, heldout)
        report["heldout"] = held
        head = _with_metrics(
            head, {**head.metrics, "heldout": {k: v for k, v in held.items() if k != "per_family"}}
        )
    return head, report


def _with_metrics(head: Head, new: dict[str, Any]) -> Head:
    from dataclasses import replace

    return replace(head, metrics=new)


def _user_text(o: run.Outcome) -> str:
    return o.text


def write_head(head: Head, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(head.dumps(), encoding="utf-8")
    tmp.replace(path)


def calibrate(
    backend: Backend,
    model_path: Path,
    state_dir: Path,
    *,
    profile: str,
    seed: int,
    inputs: Sequence[str] = DEFAULT_INPUTS,
    out: Path | None = None,
    progress: Callable[[bool], None] | None = None,
    items: Sequence[suite.Item] | None = None,
    deadline: float | None = None,
    from_log: Path | None = None,
    families: Collection[str] | None = None,
) -> Result:
    """`from_log`: a decision log whose labelled traffic (Feedback, shadow checks) joins the training
    split. `families`: answer only these families' uncached items (the others count where cached)."""
    sha = run.model_fingerprint(model_path)
    chosen = list(items) if items is not None else suite.select(suite.load_suite(), profile)
    outcomes = collect(
        backend,
        state_dir,
        sha,
        profile,
        progress=progress,
        items=chosen,
        deadline=deadline,
        families=families,
    )
    order = {i.id: k for k, i in enumerate(chosen)}
    outcomes.sort(key=lambda o: order[o.item_id])  # the suite's order: the fit does not depend on timing
    head, report = fit_outcomes(
        outcomes,
        model_sha256=sha,
        model_file=model_path.name,
        seed=seed,
        profile=profile,
        inputs=inputs,
        backend_name=backend.name,
        answered=(len(outcomes), len(chosen)),
        traffic=traffic_outcomes(from_log, sha) if from_log is not None else (),
    )
    path = out or calibrated_head_path(state_dir, sha)
    write_head(head, path)
    return Result(head, path, report)


def render(result: Result) -> str:
    """The report as text for the terminal."""
    h = result.head
    t = h.metrics
    done, total = h.training.get("answered", ["?", "?"])
    lines = [
        f"answered {done} of {total} items of the {h.training.get('profile')} profile"
        + (
            f", plus {h.training['traffic']} labelled answers from the decision log"
            if "traffic" in h.training
            else ""
        ),
        f"wrote {result.path} (bound to {h.model_file}, sha256 {h.model_sha256 and h.model_sha256[:12]}...)",
        f"inputs {', '.join(h.inputs)}; L2 C={h.training.get('c')}; stage 1 settles below {h.low:g} "
        f"and above {h.high:g}",
        f"training split, out-of-fold: n {t['n']}, local accuracy {t['local_accuracy']:.1%}, AUC {t['auc']}, "
        f"within family {t['auc_within_family']} ({t['families_counted']} families), ECE {t.get('ece')}, "
        f"gain captured {t['gain_captured']}",
    ]
    held = result.report.get("heldout")
    if held:
        lines.append(
            f"held-out split: n {held['n']}, local accuracy {held['local_accuracy']:.1%}, AUC {held['auc']}, "
            f"within family {held['auc_within_family']} ({held['families_counted']} families), "
            f"ECE {held.get('ece')}, APGR {held['apgr']} (oracle {held['oracle_apgr']}), gain captured "
            f"{held['gain_captured']}, CPT(50%) {held['cpt50']:.0%}, CPT(80%) {held['cpt80']:.0%}"
        )
        after = held.get("answer_stage")
        if after:
            lines.append(
                f"answer stage, after the answer's first tokens (held-out, n {after['n']}): "
                f"AUC {after['auc']}, "
                f"within family {after['auc_within_family']} ({after['families_counted']} families), "
                f"ECE {after.get('ece')}, gain captured {after['gain_captured']}"
            )
        lines.append("cloud share -> quality (held-out, cloud assumed right):")
        lines.append("  " + "  ".join(f"{r['cloud_share']:.0%}:{r['quality']:.1%}" for r in held["table"]))
        lines.append(
            "per family (held-out): "
            + ", ".join(
                f"{k} {v['right']}/{v['n']} right, AUC {v['auc']}" for k, v in held["per_family"].items()
            )
        )
    else:
        lines.append("no held-out figures (the profile's held-out split has only one outcome class)")
    lines.append(
        "expected local success by score: " + ", ".join(f"{s:.2f}->{p:.2f}" for s, p in h.calibration)
    )
    lines.append(
        "quality targets as thresholds (local_success below the target = complexity at or above): "
        + ", ".join(f"{t:.0%}: {h.threshold_for(t):.3f}" for t in (0.5, 0.7, 0.8, 0.9))
    )
    return "\n".join(lines)


__all__ = [
    "DEFAULT_INPUTS",
    "Result",
    "calibrate",
    "collect",
    "evaluate",
    "fit_outcomes",
    "render",
    "write_head",
]
