"""Fitting the model-stage head to a model's own graded outcomes (`router calibrate`).

The head predicts P(the local answer is not good enough) from what one prefill yields: the last
position's hidden state, the next-token signals, and the stage-1 score's logit (`MODEL_INPUTS`). It is a
logistic regression on standardised inputs with a strong L2 penalty whose strength is chosen by seeded
cross-validation (log loss) on the training split; no class weighting, so its probabilities mean what
they say. The calibration table (score -> observed local success) is the isotonic (PAV) fit of the
out-of-fold predictions, so a policy's quality target reads as a threshold. Stage-1 bands: stage 1 may
settle a request only where it was reliably right on this model's outcomes (`stage1_bands`).

numpy and scikit-learn are imported inside the functions; every step is seeded and order-preserving, so
the same outcomes give a byte-identical head file.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from router.calibration.run import Outcome
from router.scoring.complexity import HIDDEN_VERSION, AnswerStage, Head, answer_inputs, model_inputs
from router.scoring.training import _r

C_GRID = (0.001, 0.003, 0.01, 0.03, 0.1)
FOLDS = 5
TABLE_POINTS = 24
# Stage 1 settles a prompt only where, on this model's outcomes, at most this share of the prompts on
# the settled side went the other way, and at least MIN_SETTLED prompts lie there.
SETTLE_ERROR = 0.03
MIN_SETTLED = 20
# The answer stage is fitted only on at least this many answers with log-probabilities, with at least
# ANSWER_MIN_CLASS right and as many wrong; its three inputs need no penalty search (C fixed).
ANSWER_MIN_ROWS = 40
ANSWER_MIN_CLASS = 5
ANSWER_C = 1.0


@dataclass(frozen=True, slots=True)
class Fitted:
    head: Head
    oof: list[float]  # out-of-fold P(fail) on the training outcomes, in order


def design(outcomes: Sequence[Outcome], stage1: Sequence[float], inputs: Sequence[str]) -> Any:
    import numpy as np

    return np.array(
        [model_inputs(inputs, o.prefill, s) for o, s in zip(outcomes, stage1, strict=True)], dtype=np.float64
    )


def _standardise(x: Any) -> tuple[Any, Any]:
    import numpy as np

    mean = x.mean(axis=0)
    std = x.std(axis=0)
    return mean, np.where(std > 1e-9, std, 1.0)


def _fit(x: Any, y: Any, c: float, seed: int) -> Callable[[Any], Any]:
    from sklearn.linear_model import LogisticRegression

    mean, scale = _standardise(x)
    model = LogisticRegression(C=c, max_iter=2000, tol=1e-6, random_state=seed)
    model.fit((x - mean) / scale, y)
    return lambda xe: model.predict_proba((xe - mean) / scale)[:, 1]


def _folds(y: Any, groups: Sequence[str], seed: int) -> list[tuple[Any, Any]]:
    import numpy as np
    from sklearn.model_selection import StratifiedKFold

    # Stratified on (family, label), so every fold sees every family's mix.
    strata = np.array([f"{g}:{int(v)}" for g, v in zip(groups, y, strict=True)])
    counts = {s: int((strata == s).sum()) for s in set(strata.tolist())}
    strata = np.array([s if counts[s] >= FOLDS else f"rare:{s[-1]}" for s in strata])
    if min(int(y.sum()), int(len(y) - y.sum())) < FOLDS:
        strata = np.array([str(int(v)) for v in y])
    smaller = min(int(y.sum()), int(len(y) - y.sum()))
    splitter = StratifiedKFold(n_splits=max(2, min(FOLDS, smaller)), shuffle=True, random_state=seed)
    return list(splitter.split(np.zeros(len(y)), strata))


def oof_predictions(x: Any, y: Any, folds: Sequence[tuple[Any, Any]], c: float, seed: int) -> Any:
    import numpy as np

    out = np.zeros(len(y))
    for tr, te in folds:
        out[te] = _fit(x[tr], y[tr], c, seed)(x[te])
    return out


def _log_loss(y: Any, p: Any) -> float:
    import numpy as np

    p = np.clip(p, 1e-6, 1 - 1e-6)
    return float(-(y * np.log(p) + (1 - y) * np.log(1 - p)).mean())


def calibration_table(fails: Sequence[int], probs: Sequence[float]) -> tuple[tuple[float, float], ...]:
    """Isotonic (PAV) fit of local success against the score, as at most TABLE_POINTS points."""
    pairs = sorted(zip(probs, fails, strict=True))
    blocks: list[list[float]] = []  # [sum score, sum success, count]
    for p, f in pairs:
        blocks.append([p, 1.0 - f, 1.0])
        # success must not increase with the score
        while len(blocks) > 1 and blocks[-2][1] / blocks[-2][2] <= blocks[-1][1] / blocks[-1][2]:
            s, k, n = blocks.pop()
            blocks[-1][0] += s
            blocks[-1][1] += k
            blocks[-1][2] += n
    while len(blocks) > TABLE_POINTS:  # merge the smallest neighbouring pair
        i = min(range(len(blocks) - 1), key=lambda j: blocks[j][2] + blocks[j + 1][2])
        s, k, n = blocks.pop(i + 1)
        blocks[i][0] += s
        blocks[i][1] += k
        blocks[i][2] += n
    points = [(round(b[0] / b[2], 6), round(b[1] / b[2], 6)) for b in blocks]
    out: list[tuple[float, float]] = []
    for s, p in points:  # strictly increasing scores
        if out and s <= out[-1][0]:
            continue
        out.append((s, p))
    return tuple(out)


def stage1_bands(fails: Sequence[int], stage1: Sequence[float]) -> tuple[float, float]:
    """(low, high): stage 1 settles below low / above high only where that held on these outcomes."""
    pairs = sorted(zip(stage1, fails, strict=True))
    n = len(pairs)
    low, wrong = 0.0, 0
    for i, (s, f) in enumerate(pairs):
        wrong += f
        if i + 1 >= MIN_SETTLED and wrong / (i + 1) <= SETTLE_ERROR and (i + 1 == n or pairs[i + 1][0] > s):
            low = s
    high, right = 1.0, 0
    for i in range(n - 1, -1, -1):
        s, f = pairs[i]
        right += 1 - f
        k = n - i
        if k >= MIN_SETTLED and right / k <= SETTLE_ERROR and (i == 0 or pairs[i - 1][0] < s):
            high = s
    # `low`/`high` are the last settled scores; settling is strict (score < low, score > high)
    return (round(low + 1e-6, 6) if low > 0 else 0.0, round(high - 1e-6, 6) if high < 1 else 1.0)


def fit_answer_stage(outcomes: Sequence[Outcome], pre_oof: Sequence[float], seed: int) -> AnswerStage | None:
    """The answer stage: a logistic stack of the model stage's out-of-fold score and the answer's first
    log-probabilities, on the outcomes that recorded them; None where there are too few."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    from router.calibration import metrics

    rows = [(o, answer_inputs(p, o.logprobs)) for o, p in zip(outcomes, pre_oof, strict=True)]
    used = [(o, x) for o, x in rows if x is not None]
    y = np.array([0 if o.correct else 1 for o, _ in used])
    if len(used) < ANSWER_MIN_ROWS or min(int(y.sum()), int(len(y) - y.sum())) < ANSWER_MIN_CLASS:
        return None
    x = np.array([v for _, v in used], dtype=np.float64)
    oof = oof_predictions(x, y, _folds(y, [o.family for o, _ in used], seed), ANSWER_C, seed)
    mean, scale = _standardise(x)
    model = LogisticRegression(C=ANSWER_C, max_iter=2000, tol=1e-6, random_state=seed)
    model.fit((x - mean) / scale, y)
    fails = y.tolist()
    report = metrics.summary(fails, oof.tolist(), [o.family for o, _ in used], oof.tolist())
    return AnswerStage(
        mean=tuple(_r(v) for v in mean),
        scale=tuple(_r(v) for v in scale),
        coef=tuple(_r(v) for v in model.coef_[0]),
        intercept=_r(model.intercept_[0]),
        calibration=calibration_table(fails, oof.tolist()),
        metrics={
            "on": f"out-of-fold ({FOLDS}-fold) on the training split",
            "rows": len(used),
            **{k: v for k, v in report.items() if k != "per_family"},
        },
    )


def fit_head(
    outcomes: Sequence[Outcome],
    stage1: Sequence[float],
    *,
    inputs: Sequence[str],
    model_sha256: str,
    model_file: str,
    seed: int,
    training: dict[str, Any],
    c: float | None = None,
) -> Fitted:
    """The model-stage head for these outcomes (label 1: the local answer failed its grader)."""
    import numpy as np

    y = np.array([0 if o.correct else 1 for o in outcomes])
    if min(int(y.sum()), int(len(y) - y.sum())) < 2:
        raise ValueError(
            f"calibration needs at least two right and two wrong answers in the training split "
            f"({int(len(y) - y.sum())} right, {int(y.sum())} wrong); run a larger profile"
        )
    x = design(outcomes, stage1, inputs)
    folds = _folds(y, [o.family for o in outcomes], seed)
    losses = {}
    if c is None:
        for cand in C_GRID:
            losses[cand] = _log_loss(y, oof_predictions(x, y, folds, cand, seed))
        c = min(C_GRID, key=lambda k: (round(losses[k], 9), k))
    oof = oof_predictions(x, y, folds, c, seed)
    mean, scale = _standardise(x)
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=c, max_iter=2000, tol=1e-6, random_state=seed)
    model.fit((x - mean) / scale, y)
    fails = y.tolist()
    table = calibration_table(fails, oof.tolist())
    low, high = stage1_bands(fails, list(stage1))
    from router.calibration import metrics

    report = metrics.summary(fails, oof.tolist(), [o.family for o in outcomes], oof.tolist())
    head = Head(
        stage="model",
        feature_version=HIDDEN_VERSION,
        mean=tuple(_r(v) for v in mean),
        scale=tuple(_r(v) for v in scale),
        coef=tuple(_r(v) for v in model.coef_[0]),
        intercept=_r(model.intercept_[0]),
        model_sha256=model_sha256,
        model_file=model_file,
        low=low,
        high=high,
        inputs=tuple(inputs),
        calibration=table,
        training={
            **training,
            "seed": seed,
            "c": c,
            "c_grid_log_loss": {str(k): round(v, 6) for k, v in losses.items()},
            "inputs": list(inputs),
            "rows": len(outcomes),
            "failures": int(y.sum()),
        },
        metrics={
            "on": f"out-of-fold ({FOLDS}-fold) on the training split",
            **{k: v for k, v in report.items() if k != "per_family"},
        },
        answer=fit_answer_stage(outcomes, oof.tolist(), seed),
    )
    return Fitted(head, [float(v) for v in oof])


def stage1_scores(texts: Sequence[str]) -> list[float]:
    """The shipped stage-1 head's scores of the suite prompts (user text, as the daemon scores it)."""
    from router.scoring.complexity import FEATURES_HEAD_FILE, ComplexityScorer, load_head, shipped_head_path

    scorer = ComplexityScorer(load_head(shipped_head_path(FEATURES_HEAD_FILE)))
    return [scorer.score_text(t).score for t in texts]


def score_with(head: Head, outcomes: Sequence[Outcome], stage1: Sequence[float]) -> list[float]:
    import math

    out = []
    for o, s in zip(outcomes, stage1, strict=True):
        z = head.logit(model_inputs(head.inputs, o.prefill, s))
        out.append(1 / (1 + math.exp(-z)) if z > -700 else 0.0)
    return out


__all__ = [
    "Fitted",
    "calibration_table",
    "fit_answer_stage",
    "fit_head",
    "score_with",
    "stage1_bands",
    "stage1_scores",
]
