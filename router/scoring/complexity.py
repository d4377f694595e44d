"""The complexity scorer: a calibrated probability that the local model's answer would not be good enough.

A cascade of two learned logistic heads, stored as plain JSON numbers (never pickles):

* stage 1, "features" (`router.scoring.features`, model-independent, sub-millisecond): settles a request
  when its score falls below the head's `low` band or above its `high` band;
* stage 2, "model": only for the unsettled rest. The resident model evaluates the formatted prompt
  (`Backend.prefill`), and a head reads the final-layer hidden state at the last prompt token plus the
  stage-1 logit. The head is bound to one model file by sha256; the prompt's evaluation is kept in the
  context, so answering locally afterwards does not evaluate the prompt again.

Head file (`FORMAT`, version 1)::

    {"format": "hybrid-router/complexity-head", "format_version": 1, "stage": "features" | "model",
     "feature_version": ..., "model_sha256": null | "<hex>", "model_file": ..., "n_inputs": N,
     "mean": [...], "scale": [...], "coef": [...], "intercept": b,
     "bands": {"low": a, "high": b},           # stage 1: settled outside (low, high)
     "training": {...}, "metrics": {...}}

score = sigmoid(intercept + sum(coef[i] * (x[i] - mean[i]) / scale[i])).
"""

from __future__ import annotations

import importlib.resources
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

from router.errors import ModelError
from router.scoring import features
from router.types import ComplexityReport

log = structlog.get_logger("router.scoring.complexity")

FORMAT = "hybrid-router/complexity-head"
FORMAT_VERSION = 1
HIDDEN_VERSION = "last-token-final-norm-v3"  # what `Backend.prefill` returns; see LlamaCppBackend.prefill
FEATURES_HEAD_FILE = "complexity-features.json"
# The stage-2 head shipped for the default model (Gemma 3 270M Q4_K_M); bound to its sha256.
MODEL_HEAD_FILE = "complexity-model-gemma-3-270m-q4_k_m.json"


@dataclass(frozen=True, slots=True)
class Head:
    """One logistic head: standardise, dot, sigmoid. `n_dense` leading inputs are standardised; the
    rest (stage 1's hashed n-grams) are used as they are (mean 0, scale 1)."""

    stage: str
    feature_version: str
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float
    model_sha256: str | None = None
    model_file: str = ""
    low: float = 0.0
    high: float = 1.0
    training: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def n_inputs(self) -> int:
        return len(self.coef)

    def logit(self, x: Sequence[float]) -> float:
        if len(x) != len(self.coef):
            raise ValueError(f"the {self.stage} head takes {len(self.coef)} inputs, got {len(x)}")
        z = self.intercept
        for xi, m, s, w in zip(x, self.mean, self.scale, self.coef, strict=True):
            if w:
                z += w * (xi - m) / s
        return z

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "stage": self.stage,
            "feature_version": self.feature_version,
            "model_sha256": self.model_sha256,
            "model_file": self.model_file,
            "n_inputs": self.n_inputs,
            "bands": {"low": self.low, "high": self.high},
            "training": self.training,
            "metrics": self.metrics,
            "intercept": self.intercept,
            "mean": list(self.mean),
            "scale": list(self.scale),
            "coef": list(self.coef),
        }

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=1, sort_keys=False) + "\n"

    @classmethod
    def from_json(cls, data: Any, where: str = "head") -> Head:
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ModelError(f"{where} is not a complexity head (format {FORMAT!r} expected)")
        if data.get("format_version") != FORMAT_VERSION:
            raise ModelError(
                f"{where} has head format version {data.get('format_version')!r}; this router reads "
                f"version {FORMAT_VERSION}: retrain it with `router train`"
            )
        try:
            stage = str(data["stage"])
            mean = tuple(float(v) for v in data["mean"])
            scale = tuple(float(v) for v in data["scale"])
            coef = tuple(float(v) for v in data["coef"])
            intercept = float(data["intercept"])
            bands = data.get("bands") or {}
            low, high = float(bands.get("low", 0.0)), float(bands.get("high", 1.0))
        except (KeyError, TypeError, ValueError) as e:
            raise ModelError(f"{where} is malformed ({type(e).__name__}: {e}); retrain it") from None
        if stage not in ("features", "model"):
            raise ModelError(f"{where}: unknown stage {stage!r}")
        if not (len(mean) == len(scale) == len(coef)) or any(s <= 0 for s in scale):
            raise ModelError(f"{where} is malformed (mean/scale/coef lengths or scales); retrain it")
        if not all(math.isfinite(v) for v in (*coef, intercept, low, high)):
            raise ModelError(f"{where} holds non-finite numbers; retrain it")
        expected_version = features.FEATURE_VERSION if stage == "features" else HIDDEN_VERSION
        if data.get("feature_version") != expected_version:
            raise ModelError(
                f"{where} was trained on features {data.get('feature_version')!r}, this router computes "
                f"{expected_version!r}: retrain it with `router train`"
            )
        if stage == "features" and len(coef) != features.N_FEATURES:
            raise ModelError(f"{where} has {len(coef)} inputs, the features have {features.N_FEATURES}")
        sha = data.get("model_sha256")
        return cls(
            stage=stage,
            feature_version=str(data["feature_version"]),
            mean=mean,
            scale=scale,
            coef=coef,
            intercept=intercept,
            model_sha256=str(sha) if sha else None,
            model_file=str(data.get("model_file") or ""),
            low=low,
            high=high,
            training=dict(data.get("training") or {}),
            metrics=dict(data.get("metrics") or {}),
        )


def load_head(path: Path, *, model_sha256: str | None = None) -> Head:
    """Read a head file. A model-stage head refuses to load for another model file than its own."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(f"complexity head not found: {path}; train one with `router train`") from None
    except (OSError, ValueError) as e:
        raise ModelError(f"cannot read the complexity head {path}: {e}") from None
    head = Head.from_json(data, where=str(path))
    check_model(head, model_sha256, where=str(path))
    return head


def check_model(head: Head, model_sha256: str | None, *, where: str) -> None:
    if head.stage != "model":
        return
    if head.model_sha256 is None:
        raise ModelError(f"{where} is a model-stage head without a model_sha256; retrain it")
    if model_sha256 is None or model_sha256.lower() != head.model_sha256.lower():
        raise ModelError(
            f"{where} was trained for the model file {head.model_file or '?'} (sha256 "
            f"{head.model_sha256[:12]}...), not for the configured model (sha256 "
            f"{(model_sha256 or 'unknown')[:12]}...); train a head for this model with "
            "`router train --stage model --model PATH`"
        )


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def _logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))


class ComplexityScorer:
    """Stage 1 on text features; stage 2 (optional) on the resident model's hidden state."""

    def __init__(self, text_head: Head, model_head: Head | None = None) -> None:
        if text_head.stage != "features":
            raise ModelError("the first complexity head must be a features-stage head")
        if model_head is not None and model_head.stage != "model":
            raise ModelError("the second complexity head must be a model-stage head")
        self.text_head = text_head
        self.model_head = model_head
        # Sparse form of stage 1: dense part, and the hashed weights already divided by their scale.
        nd = features.N_DENSE
        self._dense = list(zip(text_head.mean[:nd], text_head.scale[:nd], text_head.coef[:nd], strict=True))
        self._hashed = [
            (w / s, m)
            for w, s, m in zip(text_head.coef[nd:], text_head.scale[nd:], text_head.mean[nd:], strict=True)
        ]
        self._hashed_offset = sum(w * m for w, m in self._hashed)

    @property
    def has_model_stage(self) -> bool:
        return self.model_head is not None

    def text_logit(self, text: str) -> float:
        dense, hashed = features.sparse_text_features(text)
        z = self.text_head.intercept - self._hashed_offset
        for x, (m, s, w) in zip(dense, self._dense, strict=True):
            z += w * (x - m) / s
        for i, v in hashed.items():
            z += self._hashed[i][0] * v
        return z

    def score_text(self, text: str) -> ComplexityReport:
        return ComplexityReport(_sigmoid(self.text_logit(text)), "features")

    def settled(self, report: ComplexityReport) -> bool:
        """True when stage 1 is confident (outside the head's band), or when there is no stage 2."""
        if self.model_head is None or report.stage != "features":
            return True
        return report.score < self.text_head.low or report.score > self.text_head.high

    def model_inputs(self, hidden: Sequence[float], first: ComplexityReport) -> list[float]:
        return [*hidden, _logit(first.score)]

    def score_hidden(self, hidden: Sequence[float], first: ComplexityReport) -> ComplexityReport:
        if self.model_head is None:
            return first
        return ComplexityReport(_sigmoid(self.model_head.logit(self.model_inputs(hidden, first))), "model")


def shipped_head_path(name: str) -> Path:
    """A head shipped with the package (router/heads, a link to the repo's models/), else models/ beside
    the source tree (a worktree without the link)."""
    try:
        resource = importlib.resources.files("router.heads").joinpath(name)
        if resource.is_file():
            return Path(str(resource))
    except (ModuleNotFoundError, FileNotFoundError, NotADirectoryError):
        pass
    return Path(__file__).resolve().parent.parent.parent / "models" / name


def load_scorer(
    model_sha256: str | None,
    *,
    text_head: Path | None = None,
    model_head: Path | None = None,
) -> ComplexityScorer:
    """The cascade for the configured model file (its sha256; None when unknown).

    Stage 1 is model-independent. With no explicit `model_head`, the shipped stage-2 head is used when
    it was trained for this model file; otherwise stage 2 is switched off (every request is settled by
    stage 1) and a warning is logged. An explicit `model_head` for another model raises ModelError.
    """
    first = load_head(text_head or shipped_head_path(FEATURES_HEAD_FILE))
    if model_head is not None:
        return ComplexityScorer(first, load_head(model_head, model_sha256=model_sha256))
    path = shipped_head_path(MODEL_HEAD_FILE)
    if not path.exists():
        log.warning("complexity_model_stage_off", why="no shipped model-stage head")
        return ComplexityScorer(first)
    try:
        second = load_head(path, model_sha256=model_sha256)
    except ModelError:
        log.warning(
            "complexity_model_stage_off",
            why="the shipped model-stage head was trained for another model file; "
            "train one for this model with `router train --stage model`",
        )
        return ComplexityScorer(first)
    return ComplexityScorer(first, second)


__all__ = [
    "FEATURES_HEAD_FILE",
    "HIDDEN_VERSION",
    "MODEL_HEAD_FILE",
    "ComplexityScorer",
    "Head",
    "check_model",
    "load_head",
    "load_scorer",
    "shipped_head_path",
]
