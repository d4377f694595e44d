"""Training and evaluating the complexity heads (used by `router train` and `router eval`).

scikit-learn and numpy are imported inside the functions: the daemon never imports this module.
Everything is seeded and order-preserving, so the same data gives byte-identical head files.

Model-stage features are computed exactly as at serving time: `backend.prefill(backend.format_prompt(
[user message]))`. They are cached on disk (one JSON line per prompt, keyed by model sha256 and prompt
hash) so repeated runs do not evaluate the same prompt twice.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from router.backends.base import Prefill
from router.errors import ConfigError, ContextOverflow
from router.scoring import features
from router.scoring.complexity import HIDDEN_VERSION, ComplexityScorer, Head, _logit
from router.types import ComplexityReport, Message

SEED = 0
LENGTH_BINS: tuple[tuple[int, int | None], ...] = ((0, 80), (80, 200), (200, 400), (400, None))
# Stage-1 bands: the largest `low` (smallest `high`) whose settled side holds at most this share of the
# other class, measured on out-of-fold training predictions.
BAND_ERROR = 0.02
# ...but never narrower than this: out-of-fold scores on training-like data are over-confident about
# prompts unlike any seen in training, so the middle of the scale always goes to the model stage.
MIN_BAND = (0.2, 0.8)


@dataclass(frozen=True, slots=True)
class Example:
    text: str
    label: int
    source: str = ""


def read_jsonl(path: Path, label_field: str, text_field: str = "text") -> list[Example]:
    out: list[Example] = []
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                text = row[text_field]
                raw = row[label_field]
            except (ValueError, KeyError) as e:
                raise ConfigError(
                    f"{path}:{n}: needs JSON with {text_field!r} and {label_field!r} fields ({e})"
                ) from None
            label = int(bool(raw)) if isinstance(raw, bool) else int(raw)
            if label not in (0, 1) or not isinstance(text, str):
                raise ConfigError(f"{path}:{n}: the label must be 0/1 (or a bool) and the text a string")
            out.append(Example(text, label, str(row.get("source", ""))))
    if not out:
        raise ConfigError(f"{path} holds no rows")
    return out


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- metrics (plain Python, so eval does not depend on sklearn's version) ----------------------------


def auc(labels: Sequence[int], scores: Sequence[float]) -> float | None:
    """ROC AUC (ties count half); None when only one class is present."""
    pos = [s for s, y in zip(scores, labels, strict=True) if y]
    neg = [s for s, y in zip(scores, labels, strict=True) if not y]
    if not pos or not neg:
        return None
    order = sorted([(s, 1) for s in pos] + [(s, 0) for s in neg])
    rank_sum, i = 0.0, 0
    while i < len(order):
        j = i
        while j < len(order) and order[j][0] == order[i][0]:
            j += 1
        avg_rank = (i + j + 1) / 2  # ranks are 1-based
        rank_sum += avg_rank * sum(1 for k in range(i, j) if order[k][1])
        i = j
    n_pos, n_neg = len(pos), len(neg)
    return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def length_bin(text: str) -> str:
    n = len(text)
    for lo, hi in LENGTH_BINS:
        if hi is None or n < hi:
            return f"{lo}-{hi}" if hi is not None else f"{lo}+"
    raise AssertionError


def binned_auc(texts: Sequence[str], labels: Sequence[int], scores: Sequence[float]) -> dict[str, Any]:
    """AUC within each length bin, and their mean over the bins where both classes occur."""
    per: dict[str, Any] = {}
    for lo, hi in LENGTH_BINS:
        name = f"{lo}-{hi}" if hi is not None else f"{lo}+"
        idx = [i for i, t in enumerate(texts) if length_bin(t) == name]
        value = auc([labels[i] for i in idx], [scores[i] for i in idx])
        per[name] = {"auc": value, "n": len(idx), "positives": sum(labels[i] for i in idx)}
    values = [v["auc"] for v in per.values() if v["auc"] is not None]
    return {"bins": per, "mean": sum(values) / len(values) if values else None}


def brier(labels: Sequence[int], scores: Sequence[float]) -> float:
    return sum((s - y) ** 2 for s, y in zip(scores, labels, strict=True)) / max(1, len(labels))


# --- stage 1 ------------------------------------------------------------------------------------------


def _fit_logistic(x: Any, y: Any, c: float) -> Any:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=c, class_weight="balanced", max_iter=5000, tol=1e-8, random_state=SEED)
    model.fit(x, y)
    return model


def _standardise(x: Any, n_dense: int) -> tuple[Any, Any]:
    import numpy as np

    mean = np.zeros(x.shape[1])
    scale = np.ones(x.shape[1])
    mean[:n_dense] = x[:, :n_dense].mean(axis=0)
    std = x[:, :n_dense].std(axis=0)
    scale[:n_dense] = np.where(std > 1e-9, std, 1.0)
    return mean, scale


def _bands(labels: Sequence[int], scores: Sequence[float]) -> tuple[float, float]:
    """Largest low with few positives below it; smallest high with few negatives above it."""
    pairs = sorted(zip(scores, labels, strict=True))
    low, positives = 0.0, 0
    for i, (s, y) in enumerate(pairs):
        positives += y
        if positives / (i + 1) <= BAND_ERROR and (i + 1 == len(pairs) or pairs[i + 1][0] > s):
            low = (s + pairs[i + 1][0]) / 2 if i + 1 < len(pairs) else s
    high, negatives = 1.0, 0
    for i in range(len(pairs) - 1, -1, -1):
        s, y = pairs[i]
        negatives += 1 - y
        if negatives / (len(pairs) - i) <= BAND_ERROR and (i == 0 or pairs[i - 1][0] < s):
            high = (s + pairs[i - 1][0]) / 2 if i > 0 else s
    if high <= low:
        high = low = (high + low) / 2
    return round(min(low, MIN_BAND[0]), 6), round(max(high, MIN_BAND[1]), 6)


def _oof(x: Any, y: Any, fit: Callable[[Any, Any], Callable[[Any], Any]], folds: int = 5) -> Any:
    """Out-of-fold probabilities with a seeded stratified split."""
    import numpy as np
    from sklearn.model_selection import StratifiedKFold

    out = np.zeros(len(y))
    for tr, te in StratifiedKFold(n_splits=folds, shuffle=True, random_state=SEED).split(x, y):
        out[te] = fit(x[tr], y[tr])(x[te])
    return out


def _text_oof(examples: Sequence[Example], c: float) -> list[float]:
    import numpy as np

    x = np.array([features.text_features(e.text) for e in examples], dtype=np.float64)
    y = np.array([e.label for e in examples])

    def fit(xt: Any, yt: Any) -> Callable[[Any], Any]:
        mean, scale = _standardise(xt, features.N_DENSE)
        m = _fit_logistic((xt - mean) / scale, yt, c)
        return lambda xe: m.predict_proba((xe - mean) / scale)[:, 1]

    return [float(v) for v in _oof(x, y, fit)]


def train_text_head(examples: Sequence[Example], *, c: float = 1.0, data: dict[str, Any]) -> Head:
    import numpy as np

    x = np.array([features.text_features(e.text) for e in examples], dtype=np.float64)
    y = np.array([e.label for e in examples])

    def fit(xt: Any, yt: Any) -> Callable[[Any], Any]:
        mean, scale = _standardise(xt, features.N_DENSE)
        m = _fit_logistic((xt - mean) / scale, yt, c)
        return lambda xe: m.predict_proba((xe - mean) / scale)[:, 1]

    oof = _oof(x, y, fit)
    low, high = _bands(y.tolist(), oof.tolist())
    mean, scale = _standardise(x, features.N_DENSE)
    model = _fit_logistic((x - mean) / scale, y, c)
    texts = [e.text for e in examples]
    metrics = _metrics(texts, y.tolist(), oof.tolist(), "out-of-fold (5-fold) on the training data")
    metrics["settled_share_oof"] = round(float(np.mean((oof < low) | (oof > high))), 4)
    return Head(
        stage="features",
        feature_version=features.FEATURE_VERSION,
        mean=tuple(_r(v) for v in mean),
        scale=tuple(_r(v) for v in scale),
        coef=tuple(_r(v) for v in model.coef_[0]),
        intercept=_r(model.intercept_[0]),
        low=low,
        high=high,
        training={**data, "c": c, "seed": SEED, "band_error": BAND_ERROR, "min_band": list(MIN_BAND)},
        metrics=metrics,
    )


# --- stage 2 ------------------------------------------------------------------------------------------


class HiddenCache:
    """Prefill results (hidden state and signals) of prompts for one model file, one JSON line each,
    appended as they are computed."""

    def __init__(self, directory: Path, model_sha256: str) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / f"hidden-{model_sha256[:16]}-{HIDDEN_VERSION}.jsonl"
        self.model_sha256 = model_sha256
        self._data: dict[str, Prefill] = {}
        if self.path.exists():
            for line in self.path.read_text(encoding="utf-8").splitlines():
                try:
                    row = json.loads(line)
                    self._data[row["key"]] = Prefill(
                        row["hidden"], row["entropy"], row["top_prob"], row["n_tokens"]
                    )
                except (ValueError, KeyError):
                    continue  # a line cut short by an interrupted run

    def key(self, prompt: str) -> str:
        return hashlib.sha256(prompt.encode("utf-8")).hexdigest()

    def get(self, prompt: str) -> Prefill | None:
        return self._data.get(self.key(prompt))

    def put(self, prompt: str, result: Prefill) -> None:
        k = self.key(prompt)
        self._data[k] = result
        row = {
            "key": k,
            "entropy": result.entropy,
            "top_prob": result.top_prob,
            "n_tokens": result.n_tokens,
            "hidden": result.hidden,
        }
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")


def hidden_states(
    backend: Any,
    texts: Iterable[str],
    cache: HiddenCache | None,
    *,
    progress: Callable[[int], None] | None = None,
) -> list[Prefill | None]:
    """The serving-time stage-2 input of each text (None when the prompt does not fit the context)."""
    out: list[Prefill | None] = []
    for i, text in enumerate(texts):
        prompt = backend.format_prompt([Message("user", text)])
        result = cache.get(prompt) if cache is not None else None
        if result is None:
            try:
                result = backend.prefill(prompt)
            except ContextOverflow:
                out.append(None)
                continue
            if cache is not None:
                cache.put(prompt, result)
        out.append(result)
        if progress is not None:
            progress(i + 1)
    return out


def train_model_head(
    examples: Sequence[Example],
    hidden: Sequence[Prefill],
    text_head: Head,
    *,
    model_sha256: str,
    model_file: str,
    c: float = 0.05,
    data: dict[str, Any],
) -> Head:
    """Logistic head on [hidden state, stage-1 logit] for the model file `model_sha256`."""
    import numpy as np

    y = np.array([e.label for e in examples])
    # Stacking: the stage-1 input is its out-of-fold score (a stage-1 head scoring its own training rows
    # is over-confident, and stage 2 would learn to trust it too much).
    first = _text_oof(examples, float(text_head.training.get("c", 1.0)))
    x = np.array([[*h.hidden, _logit(f)] for h, f in zip(hidden, first, strict=True)], dtype=np.float64)
    n = x.shape[1]

    def fit(xt: Any, yt: Any) -> Callable[[Any], Any]:
        mean, scale = _standardise(xt, n)
        m = _fit_logistic((xt - mean) / scale, yt, c)
        return lambda xe: m.predict_proba((xe - mean) / scale)[:, 1]

    oof = _oof(x, y, fit)
    mean, scale = _standardise(x, n)
    model = _fit_logistic((x - mean) / scale, y, c)
    texts = [e.text for e in examples]
    metrics = _metrics(texts, y.tolist(), oof.tolist(), "out-of-fold (5-fold) on the training data")
    return Head(
        stage="model",
        feature_version=HIDDEN_VERSION,
        mean=tuple(_r(v) for v in mean),
        scale=tuple(_r(v) for v in scale),
        coef=tuple(_r(v) for v in model.coef_[0]),
        intercept=_r(model.intercept_[0]),
        model_sha256=model_sha256,
        model_file=model_file,
        training={**data, "c": c, "seed": SEED, "inputs": "hidden state + stage-1 logit"},
        metrics=metrics,
    )


def cascade_scores(
    scorer: ComplexityScorer, texts: Sequence[str], hidden_of: Callable[[int], Prefill | None]
) -> list[ComplexityReport]:
    """Score as the engine does: stage 1, and stage 2 only where stage 1 is not settled."""
    out: list[ComplexityReport] = []
    for i, text in enumerate(texts):
        first = scorer.score_text(text)
        if scorer.settled(first):
            out.append(first)
            continue
        hidden = hidden_of(i)
        out.append(first if hidden is None else scorer.score_hidden(hidden, first))
    return out


def _metrics(texts: Sequence[str], labels: Sequence[int], scores: Sequence[float], on: str) -> dict[str, Any]:
    a = auc(labels, scores)
    b = binned_auc(texts, labels, scores)
    return {
        "on": on,
        "n": len(labels),
        "positives": int(sum(labels)),
        "auc": None if a is None else round(a, 4),
        "auc_length_binned_mean": None if b["mean"] is None else round(b["mean"], 4),
        "brier": round(brier(labels, scores), 4),
    }


def _r(v: float) -> float:
    """Stored numbers: rounded to 8 significant digits, so the files stay readable and stable."""
    v = float(v)
    if v == 0 or not math.isfinite(v):
        return v
    return float(f"{v:.8g}")


__all__ = [
    "LENGTH_BINS",
    "Example",
    "HiddenCache",
    "auc",
    "binned_auc",
    "cascade_scores",
    "file_sha256",
    "hidden_states",
    "length_bin",
    "read_jsonl",
    "train_model_head",
    "train_text_head",
]
