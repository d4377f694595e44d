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
import itertools
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import structlog

from router.backends.base import Backend, Prefill
from router.errors import ModelError
from router.scoring import features
from router.types import ComplexityReport

log = structlog.get_logger("router.scoring.complexity")

FORMAT = "hybrid-router/complexity-head"
FORMAT_VERSION = 1
# What `Backend.prefill` returns (a `Prefill`: the last token's final-norm hidden state on llama.cpp, and
# the next-token signals); see LlamaCppBackend.prefill.
HIDDEN_VERSION = "prefill-v4"
FEATURES_HEAD_FILE = "complexity-features.json"
# The stage-2 head shipped for the default model (SmolLM2-135M-Instruct Q4_1), made by
# `router calibrate --profile full`; bound to its sha256.
MODEL_HEAD_FILE = "complexity-model-smollm2-135m-instruct-q4_1.json"
# Where `router calibrate` writes heads for other models: <state dir>/calibration/head-<sha256>.json
CALIBRATION_DIR = "calibration"
# The inputs a model-stage head may read, in this order: the hidden state, the prefill's signals
# (`Prefill.SIGNAL_NAMES`), and the logit of the stage-1 score.
MODEL_INPUTS = ("hidden", "signals", "stage1")


# The answer stage of a calibrated head (optional): after generating, P(the local answer is not good
# enough) from the model stage's score and the first ANSWER_TOKENS answer tokens' log-probabilities.
ANSWER_TOKENS = 16
ANSWER_INPUTS = ("model_stage_logit", "neg_mean_logprob", "neg_min_logprob")


def answer_inputs(
    pre_score: float, logprobs: Sequence[float], tokens: int = ANSWER_TOKENS
) -> list[float] | None:
    """The answer stage's inputs: the model stage's logit, then minus the mean and the minimum of the
    first `tokens` answer log-probabilities (None when the answer has none)."""
    lp = [v for v in logprobs[:tokens] if math.isfinite(v)]
    if not lp:
        return None
    return [_logit(pre_score), -sum(lp) / len(lp), -min(lp)]


def _interpolate(table: Sequence[tuple[float, float]], score: float) -> float | None:
    """Piecewise linear in a (score, observed local success) table; None for an empty table."""
    if not table:
        return None
    if score <= table[0][0]:
        return table[0][1]
    for (s0, p0), (s1, p1) in itertools.pairwise(table):
        if score <= s1:
            t = 0.0 if s1 == s0 else (score - s0) / (s1 - s0)
            return p0 + t * (p1 - p0)
    return table[-1][1]


@dataclass(frozen=True, slots=True)
class AnswerStage:
    """A logistic stack over `answer_inputs`, fitted by `router calibrate` on the model's own graded
    answers, with its calibration table (score -> observed local success, out-of-fold)."""

    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float
    tokens: int = ANSWER_TOKENS
    calibration: tuple[tuple[float, float], ...] = ()
    metrics: dict[str, Any] = field(default_factory=dict)

    def score(self, pre_score: float, logprobs: Sequence[float]) -> float | None:
        """P(the answer is not good enough), or None for an answer without log-probabilities."""
        x = answer_inputs(pre_score, logprobs, self.tokens)
        if x is None:
            return None
        terms = zip(x, self.mean, self.scale, self.coef, strict=True)
        return _sigmoid(self.intercept + sum(w * (v - m) / s for v, m, s, w in terms))

    def expected_success(self, pre_score: float, logprobs: Sequence[float]) -> float | None:
        """The observed local success rate at this answer's score (1 - score without a table)."""
        score = self.score(pre_score, logprobs)
        if score is None:
            return None
        found = _interpolate(self.calibration, score)
        return 1.0 - score if found is None else found

    def to_json(self) -> dict[str, Any]:
        return {
            "inputs": list(ANSWER_INPUTS),
            "tokens": self.tokens,
            "calibration": [list(p) for p in self.calibration],
            "metrics": self.metrics,
            "intercept": self.intercept,
            "mean": list(self.mean),
            "scale": list(self.scale),
            "coef": list(self.coef),
        }

    @classmethod
    def from_json(cls, data: Any, where: str) -> AnswerStage:
        try:
            stage = cls(
                mean=tuple(float(v) for v in data["mean"]),
                scale=tuple(float(v) for v in data["scale"]),
                coef=tuple(float(v) for v in data["coef"]),
                intercept=float(data["intercept"]),
                tokens=int(data.get("tokens", ANSWER_TOKENS)),
                calibration=tuple((float(a), float(b)) for a, b in data.get("calibration") or ()),
                metrics=dict(data.get("metrics") or {}),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise ModelError(f"{where}: the answer stage is malformed ({type(e).__name__}: {e})") from None
        n = len(ANSWER_INPUTS)
        if list(data.get("inputs") or ()) != list(ANSWER_INPUTS) or not (
            len(stage.mean) == len(stage.scale) == len(stage.coef) == n
        ):
            raise ModelError(f"{where}: the answer stage must read {', '.join(ANSWER_INPUTS)}")
        numbers = (*stage.mean, *stage.coef, stage.intercept, *(x for p in stage.calibration for x in p))
        if any(s <= 0 for s in stage.scale) or stage.tokens < 1 or not all(map(math.isfinite, numbers)):
            raise ModelError(f"{where}: the answer stage holds invalid numbers; recalibrate")
        return stage


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
    # Model stage: which inputs it reads (a subset of MODEL_INPUTS, in that order).
    inputs: tuple[str, ...] = ("hidden", "stage1")
    # Model stage, calibrated heads: (score, observed local success rate) points, scores increasing and
    # success not increasing, from out-of-fold predictions on the model's own graded answers.
    calibration: tuple[tuple[float, float], ...] = ()
    # Calibrated heads fitted on answers with log-probabilities: the check after generating.
    answer: AnswerStage | None = None

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
            **({"inputs": list(self.inputs)} if self.stage == "model" else {}),
            **({"calibration": [list(p) for p in self.calibration]} if self.calibration else {}),
            **({"answer": self.answer.to_json()} if self.answer is not None else {}),
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
            inputs = tuple(str(v) for v in data.get("inputs") or ("hidden", "stage1"))
            calibration = tuple((float(a), float(b)) for a, b in data.get("calibration") or ())
        except (KeyError, TypeError, ValueError) as e:
            raise ModelError(f"{where} is malformed ({type(e).__name__}: {e}); retrain it") from None
        if stage not in ("features", "model"):
            raise ModelError(f"{where}: unknown stage {stage!r}")
        if not (len(mean) == len(scale) == len(coef)) or any(s <= 0 for s in scale):
            raise ModelError(f"{where} is malformed (mean/scale/coef lengths or scales); retrain it")
        if any(i not in MODEL_INPUTS for i in inputs) or list(inputs) != sorted(
            set(inputs), key=MODEL_INPUTS.index
        ):
            raise ModelError(f"{where}: inputs must be a subset of {MODEL_INPUTS} in that order")
        if not all(
            math.isfinite(v) for v in (*coef, intercept, low, high, *(x for p in calibration for x in p))
        ):
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
        answer = data.get("answer")
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
            inputs=inputs,
            calibration=calibration,
            answer=None if answer is None else AnswerStage.from_json(answer, where),
        )

    def expected_success(self, score: float) -> float | None:
        """The observed local success rate at this score (piecewise linear in the calibration table);
        None for a head without a table."""
        return _interpolate(self.calibration, score)

    def threshold_for(self, success: float) -> float:
        """The lowest complexity score at which the expected local success falls below `success`: a
        quality target as a threshold on the score (1 - success for a head without a table)."""
        table = self.calibration
        if not table:
            return 1.0 - success
        if table[0][1] < success:
            return table[0][0]
        for (s0, p0), (s1, p1) in itertools.pairwise(table):
            if p1 < success <= p0:
                return s0 if p0 == p1 else s0 + (p0 - success) / (p0 - p1) * (s1 - s0)
        return 1.0


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
            f"{(model_sha256 or 'unknown')[:12]}...); calibrate a head for this model with "
            "`router calibrate --model PATH`"
        )


_S = TypeVar("_S")


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
        # A calibrated head carries the bands where stage 1 was reliably right on this model's outcomes.
        bands = self.model_head if self.model_head.calibration else self.text_head
        return report.score < bands.low or report.score > bands.high

    def model_inputs(self, prefill: Prefill, first: ComplexityReport) -> list[float]:
        inputs = self.model_head.inputs if self.model_head is not None else ("hidden", "stage1")
        return model_inputs(inputs, prefill, first.score)

    def score_hidden(self, prefill: Prefill, first: ComplexityReport) -> ComplexityReport:
        """Stage 2 on what `Backend.prefill` returned (`first`: the stage-1 report)."""
        head = self.model_head
        if head is None:
            return first
        score = _sigmoid(head.logit(self.model_inputs(prefill, first)))
        return ComplexityReport(score, "model", head.expected_success(score))

    def expected_success(self, report: ComplexityReport) -> float | None:
        """Expected local success of a report from the model stage's calibration table."""
        if report.stage != "model" or self.model_head is None:
            return None
        return self.model_head.expected_success(report.score)

    def answer_expected_success(self, score: float, stage: str, logprobs: Sequence[float]) -> float | None:
        """After generating: the answer stage's expected local success for an answer whose request the
        model stage scored `score`; None without an answer stage, a model-stage score or log-probs."""
        head = self.model_head
        if stage != "model" or head is None or head.answer is None:
            return None
        return head.answer.expected_success(score, logprobs)


def model_inputs(inputs: Sequence[str], prefill: Prefill, first_score: float) -> list[float]:
    """A model-stage head's input vector, in MODEL_INPUTS order."""
    out: list[float] = []
    if "hidden" in inputs:
        out.extend(prefill.hidden)
    if "signals" in inputs:
        out.extend(prefill.signals)
    if "stage1" in inputs:
        out.append(_logit(first_score))
    return out


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


def model_fingerprint(path: Path) -> str:
    """What a model-stage head is bound to: the sha256 of a model file (memoised by `router.model`), or
    for a model directory (MLX) the sha256 of its files' relative names and contents."""
    import hashlib

    from router.model import identity

    if path.is_file():
        digest = identity(path)
        if digest is not None:
            return digest
    h = hashlib.sha256()
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        h.update(str(f.relative_to(path)).encode() + b"\0")
        with f.open("rb") as fh:
            while block := fh.read(1 << 20):
                h.update(block)
    return h.hexdigest()


def reload_scorer(current: _S, model_sha256: str | None, state_dir: Path) -> ComplexityScorer | _S:
    """The scorer after a SIGHUP: a new or changed calibrated head is picked up; a broken one is logged
    and the current scorer stays."""
    try:
        return load_scorer(model_sha256, state_dir=state_dir)
    except ModelError as e:
        log.error("complexity_reload_failed", error=e.message)
        return current


def calibrated_head_path(state_dir: Path, model_sha256: str) -> Path:
    """Where `router calibrate` writes the head for a model file, and `router serve` looks for it."""
    return state_dir / CALIBRATION_DIR / f"head-{model_sha256.lower()}.json"


def scorer_for(backend: Backend, state_dir: Path | None) -> ComplexityScorer:
    """The cascade for a loaded backend: with its hidden state, `load_scorer` for its model file; a
    backend without one (a runtime over HTTP) gets stage 1 alone, with no head to look for (the engine
    says why at start-up)."""
    if not backend.capabilities.hidden_state:
        return ComplexityScorer(load_head(shipped_head_path(FEATURES_HEAD_FILE)))
    return load_scorer(model_fingerprint(backend.info.path), state_dir=state_dir)


def load_scorer(
    model_sha256: str | None,
    *,
    state_dir: Path | None = None,
    text_head: Path | None = None,
    model_head: Path | None = None,
) -> ComplexityScorer:
    """The cascade for the configured model file (its sha256; None when unknown).

    Stage 1 is model-independent. Stage 2, in this order: an explicit `model_head` (refused with
    ModelError when bound to another model file); the head `router calibrate` wrote for this model under
    `state_dir`; the shipped head when it is bound to this model file. With none of them stage 2 is
    off (every request is settled by stage 1), and a warning says to run `router calibrate`.
    """
    first = load_head(text_head or shipped_head_path(FEATURES_HEAD_FILE))
    if model_head is not None:
        return ComplexityScorer(first, load_head(model_head, model_sha256=model_sha256))
    if model_sha256 is not None and state_dir is not None:
        calibrated = calibrated_head_path(state_dir, model_sha256)
        if calibrated.exists():
            second = load_head(calibrated, model_sha256=model_sha256)
            log.info("complexity_model_stage", head=str(calibrated), source="calibrated")
            return ComplexityScorer(first, second)
    path = shipped_head_path(MODEL_HEAD_FILE)
    if path.exists() and model_sha256 is not None:
        try:
            second = load_head(path, model_sha256=model_sha256)
        except ModelError:
            pass
        else:
            log.info("complexity_model_stage", head=path.name, source="shipped")
            return ComplexityScorer(first, second)
    log.warning(
        "complexity_model_stage_off",
        why="no calibrated head for this model file"
        + (f" (sha256 {model_sha256[:12]}...)" if model_sha256 else " (its sha256 is unknown)"),
        fix="run `router calibrate` (with the same --model and --state-dir), then restart or SIGHUP",
    )
    return ComplexityScorer(first)


__all__ = [
    "ANSWER_TOKENS",
    "CALIBRATION_DIR",
    "FEATURES_HEAD_FILE",
    "HIDDEN_VERSION",
    "MODEL_HEAD_FILE",
    "MODEL_INPUTS",
    "AnswerStage",
    "ComplexityScorer",
    "Head",
    "answer_inputs",
    "calibrated_head_path",
    "check_model",
    "load_head",
    "load_scorer",
    "model_fingerprint",
    "model_inputs",
    "reload_scorer",
    "scorer_for",
    "shipped_head_path",
]
