"""The complexity scorer: features, head files, the cascade, the shipped heads, reproducible training."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from click.testing import CliRunner

from router.backends.base import Prefill
from router.errors import ModelError
from router.scoring import features
from router.scoring.complexity import (
    FEATURES_HEAD_FILE,
    HIDDEN_VERSION,
    MODEL_HEAD_FILE,
    ComplexityScorer,
    Head,
    load_head,
    load_scorer,
    shipped_head_path,
)
from router.scoring.training import auc, binned_auc
from router.types import ComplexityReport

SHA_A = "a" * 64
SHA_B = "b" * 64

LONG_SIMPLE = (
    "Fix the typos in this paragraph: Teh meeting on thursday has ben moved to the smal room on the "
    "second flor. Please remmber to bring your badge, becuase the front desk will not let visiters in "
    "without it. Our team finishd the quartely report two days erly and everyone was very plesed. The "
    "bakery on the corner sells fresh bred every morning until it runs out, so come erly if you want some."
)
SHORT_HARD = "What is 17^23 mod 11? Show the steps."


def _model_head(n: int, sha: str = SHA_A) -> Head:
    return Head(
        stage="model",
        feature_version=HIDDEN_VERSION,
        mean=(0.0,) * (n + 1),
        scale=(1.0,) * (n + 1),
        coef=(1.0,) + (0.0,) * n,  # reads the first hidden value only
        intercept=0.0,
        model_sha256=sha,
        model_file="m.gguf",
    )


def _text_head(low: float = 0.2, high: float = 0.8, bias: float = 0.0) -> Head:
    n = features.N_FEATURES
    return Head(
        stage="features",
        feature_version=features.FEATURE_VERSION,
        mean=(0.0,) * n,
        scale=(1.0,) * n,
        coef=(0.0,) * n,
        intercept=bias,
        low=low,
        high=high,
    )


# --- features -------------------------------------------------------------------------------------


def test_features_have_the_declared_length_and_are_deterministic() -> None:
    a = features.text_features(LONG_SIMPLE)
    assert len(a) == features.N_FEATURES == features.N_DENSE + features.N_HASHED
    assert a == features.text_features(LONG_SIMPLE)
    assert all(math.isfinite(v) for v in a)


def test_hashed_part_is_unit_length_and_sparse_form_matches() -> None:
    hashed = features.hashed_features("Translate good morning into Spanish")
    assert math.isclose(math.sqrt(sum(v * v for v in hashed)), 1.0, rel_tol=1e-9)
    dense, sparse = features.sparse_text_features("Translate good morning into Spanish")
    assert dense == features.dense_features("Translate good morning into Spanish")
    assert {i: hashed[i] for i in sparse} == sparse
    assert features.hashed_features("") == [0.0] * features.N_HASHED


def test_sparse_features_are_the_nonzero_hashed_features_in_bucket_order() -> None:
    texts = ["", "hi", "Explain why the sky is blue, then prove 2+2=4.", "word " * 5000, "ß İ 😀 中文 ǅ"]
    for text in texts:
        dense, sparse = features.sparse_text_features(text)
        full = features.text_features(text)
        assert dense == full[: features.N_DENSE]
        hashed = full[features.N_DENSE :]
        assert list(sparse.items()) == [(i, v) for i, v in enumerate(hashed) if v]


def test_features_see_the_instruction_and_the_maths() -> None:
    names = features.DENSE_NAMES
    edit = dict(zip(names, features.dense_features(LONG_SIMPLE), strict=True))
    hard = dict(zip(names, features.dense_features(SHORT_HARD), strict=True))
    assert edit["edit_words_head"] > 0 and hard["edit_words_head"] == 0
    assert hard["log_math_ops"] > 0 and hard["hard_words_head"] > 0


# --- head files -----------------------------------------------------------------------------------


def test_head_json_round_trip(tmp_path: Path) -> None:
    head = _model_head(4)
    path = tmp_path / "h.json"
    path.write_text(head.dumps())
    again = load_head(path, model_sha256=SHA_A)
    assert again == head
    assert json.loads(path.read_text())["model_sha256"] == SHA_A


def test_model_head_refuses_another_model(tmp_path: Path) -> None:
    path = tmp_path / "h.json"
    path.write_text(_model_head(4).dumps())
    with pytest.raises(ModelError, match="router calibrate"):
        load_head(path, model_sha256=SHA_B)
    with pytest.raises(ModelError):
        load_head(path, model_sha256=None)
    with pytest.raises(ModelError, match=r"another|not for"):
        load_scorer(SHA_B, model_head=path)


def test_head_with_other_feature_version_or_garbage_is_refused(tmp_path: Path) -> None:
    data = _text_head().to_json()
    data["feature_version"] = "text-v0"
    path = tmp_path / "old.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ModelError, match="retrain"):
        load_head(path)
    path.write_text("not json")
    with pytest.raises(ModelError):
        load_head(path)
    data = _text_head().to_json()
    data["coef"] = data["coef"][:-1]
    path.write_text(json.dumps(data))
    with pytest.raises(ModelError):
        load_head(path)


# --- the cascade ----------------------------------------------------------------------------------


def test_cascade_settles_outside_the_band_and_defers_inside() -> None:
    scorer = ComplexityScorer(_text_head(), _model_head(3))
    assert not scorer.settled(ComplexityReport(0.5, "features"))
    assert scorer.settled(ComplexityReport(0.1, "features"))
    assert scorer.settled(ComplexityReport(0.9, "features"))
    first = scorer.score_text("anything")  # all-zero weights: sigmoid(0)
    assert first.score == pytest.approx(0.5) and first.stage == "features"
    second = scorer.score_hidden(Prefill([3.0, 0.0, 0.0]), first)
    assert second.stage == "model"
    assert second.score == pytest.approx(1 / (1 + math.exp(-3.0)))


def test_without_a_model_stage_everything_is_settled() -> None:
    scorer = ComplexityScorer(_text_head())
    report = ComplexityReport(0.5, "features")
    assert scorer.settled(report)
    assert scorer.score_hidden(Prefill([1.0]), report) is report


def test_sparse_scoring_equals_the_dense_formula() -> None:
    head = load_head(shipped_head_path(FEATURES_HEAD_FILE))
    scorer = ComplexityScorer(head)
    for text in (SHORT_HARD, LONG_SIMPLE, "hi"):
        dense_z = head.logit(features.text_features(text))
        assert scorer.text_logit(text) == pytest.approx(dense_z, rel=1e-9, abs=1e-9)


# --- the shipped heads ----------------------------------------------------------------------------


def test_shipped_heads_load_and_the_model_head_is_bound_to_the_default_model() -> None:
    first = load_head(shipped_head_path(FEATURES_HEAD_FILE))
    assert first.stage == "features" and first.low < first.high
    path = shipped_head_path(MODEL_HEAD_FILE)
    data = json.loads(path.read_text())
    assert data["stage"] == "model" and len(data["model_sha256"]) == 64
    assert load_scorer(data["model_sha256"]).has_model_stage
    assert not load_scorer(SHA_B).has_model_stage  # another model: stage 2 off, not an error
    assert not load_scorer(None).has_model_stage


@pytest.mark.parametrize(
    "text",
    [
        SHORT_HARD,
        "Prove that there are infinitely many primes.",
        "Write a function that returns the k-th largest element of an unsorted array in O(n).",
    ],
)
def test_short_hard_prompts_score_high(text: str) -> None:
    scorer = load_scorer(None)
    assert len(text) < 100
    assert scorer.score_text(text).score > 0.8


@pytest.mark.parametrize(
    "text",
    [
        LONG_SIMPLE,
        "Please correct the spelling in this note and change nothing else:\n\n" + LONG_SIMPLE[34:],
        "Convert this text to uppercase: " + LONG_SIMPLE[34:],
    ],
)
def test_long_simple_prompts_score_low(text: str) -> None:
    scorer = load_scorer(None)
    assert len(text) > 300
    assert scorer.score_text(text).score < 0.2


# --- training -------------------------------------------------------------------------------------


TINY = [
    ("Hi there!", 0),
    ("Thanks, bye!", 0),
    ("Good morning!", 0),
    ("Hello, how are you?", 0),
    ("Fix the typos: teh cat sat on teh mat.", 0),
    ("Translate 'thank you' into French.", 0),
    ("Sort these words: pear apple fig", 0),
    ("Make this uppercase: hello world", 0),
    ("Prove that sqrt(2) is irrational.", 1),
    ("What is 7^222 mod 13? Show the steps.", 1),
    ("Implement a red-black tree in C++.", 1),
    ("Derive the Black-Scholes equation.", 1),
    ("Solve 3x^2 - 7x + 1 = 0 exactly.", 1),
    ("Explain why the halting problem is undecidable.", 1),
    ("Compute the integral of x e^x from 0 to 3.", 1),
    ("Write a SQL query for the median salary.", 1),
]


def _tiny_jsonl(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.jsonl"
    rows = [{"text": t, "hard": bool(y), "source": "tiny"} for t, y in TINY] * 2
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_train_twice_gives_identical_json_and_eval_reads_it(tmp_path: Path) -> None:
    from router.cli.eval import eval_command
    from router.cli.train import train

    data = _tiny_jsonl(tmp_path)
    runner = CliRunner()
    outs = []
    for name in ("a.json", "b.json"):
        result = runner.invoke(
            train, ["--jsonl", str(data), "--label-field", "hard", "--out", str(tmp_path / name)]
        )
        assert result.exit_code == 0, result.output
        outs.append((tmp_path / name).read_bytes())
    assert outs[0] == outs[1]
    head = json.loads(outs[0])
    assert head["training"]["data_sha256"] and head["metrics"]["n"] == 32
    result = runner.invoke(
        eval_command,
        [
            "--jsonl",
            str(data),
            "--label-field",
            "hard",
            "--stage",
            "features",
            "--text-head",
            str(tmp_path / "a.json"),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output[result.output.index("{") :])
    assert report["auc"] > 0.9
    assert report["per_source"]["tiny"]["n"] == 32
    assert sum(report["confusion"].values()) == 32


def test_auc_and_binned_auc() -> None:
    assert auc([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]) == 1.0
    assert auc([0, 1], [0.5, 0.5]) == 0.5
    assert auc([1, 1], [0.1, 0.2]) is None
    texts = ["a" * 10, "b" * 10, "c" * 500, "d" * 500]
    result = binned_auc(texts, [0, 1, 0, 1], [0.1, 0.9, 0.9, 0.1])
    assert result["bins"]["0-80"]["auc"] == 1.0 and result["bins"]["400+"]["auc"] == 0.0
    assert result["mean"] == 0.5
