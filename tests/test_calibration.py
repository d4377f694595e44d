# ruff: noqa: E501, RUF001
"""`router calibrate`: the suite, its graders, the code sandbox, the fitted head, its binding, the policy
quality target. End to end with the real default model (a tiny suite) and with the tiny MLX model."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from router.backends.base import Backend, Prefill
from router.calibration import calibrate as lib
from router.calibration import fit, grade, metrics, run, suite
from router.errors import ModelError
from router.scoring.complexity import (
    AnswerStage,
    ComplexityScorer,
    Head,
    calibrated_head_path,
    load_head,
    load_scorer,
    model_fingerprint,
)
from router.types import ComplexityReport, Message

# --- the suite -------------------------------------------------------------------------------------


def test_shipped_suite_is_what_the_generator_writes() -> None:
    shipped = suite.load_suite()
    assert [i.to_json() for i in shipped] == [i.to_json() for i in suite.generate()]
    assert len({i.id for i in shipped}) == len(shipped)
    families = {i.family for i in shipped}
    assert len(families) >= 12
    for fam in families:
        splits = {i.split for i in shipped if i.family == fam}
        assert splits == {"train", "heldout"}, fam
    quick = suite.select(shipped, "quick")
    assert len(shipped) / 4 < len(quick) < len(shipped) / 2
    assert {i.family for i in quick} == families


@pytest.mark.parametrize(
    ("item", "answer", "ok"),
    [
        (suite.Item("a", "arithmetic", "What is 9 + 9?", "number", {"number": 18}), "9 + 9 = 18", True),
        (suite.Item("a", "arithmetic", "What is 9 + 9?", "number", {"number": 18}), "It is 19.", False),
        (suite.Item("a", "arithmetic", "What is 9 + 9?", "number", {"number": 18}), "1,8", False),
        (suite.Item("e", "extraction", "Year? In 1990 ...", "number", {"number": 1990}), "1990", True),
        (
            suite.Item("m", "multi_step", "3 packs of 12, give 5 away", "final_number", {"number": 31}),
            "3 x 12 = 36 pencils. 36 - 5 = 31.",
            True,
        ),
        (
            suite.Item("m", "multi_step", "3 packs of 12, give 5 away", "final_number", {"number": 31}),
            "31, because 3 x 12 = 36 and 36 - 5 = 30.",
            False,
        ),
        (
            suite.Item("m", "multi_step", "3 packs of 12, give 5 away", "final_number", {"number": 31}),
            "I cannot work that out.",
            False,
        ),
        (suite.Item("c", "capital", "Capital of Peru?", "contains", {"any": ["Lima"]}), "It's Lima.", True),
        (suite.Item("c", "capital", "Capital of Peru?", "contains", {"any": ["Lima"]}), "Limassol", False),
        (suite.Item("t", "translation", "x", "contains", {"any": ["adiós"]}), "Adios!", True),
        (
            suite.Item("m", "mc", "x", "choice", {"letter": "B", "options": ["x", "pear"], "answer": "pear"}),
            "B) pear",
            True,
        ),
        (
            suite.Item("m", "mc", "x", "choice", {"letter": "B", "options": ["x", "pear"], "answer": "pear"}),
            "A) pear",
            False,
        ),
        (suite.Item("f", "format", "x", "exact", {"text": "HI THERE", "case": True}), '"HI THERE"', True),
        (suite.Item("f", "format", "x", "exact", {"text": "HI THERE", "case": True}), "Hi there", False),
        (suite.Item("y", "yes_no", "x", "yesno", {"answer": "no"}), "No, it is not.", True),
        (suite.Item("y", "yes_no", "x", "yesno", {"answer": "no"}), "Yes.", False),
        # an echo of the prompt is never right, whatever it holds (recorded: Gemma 3 270M)
        (
            suite.Item("y", "yes_no", "Is Paris in France? Answer yes or no.", "yesno", {"answer": "yes"}),
            " Is Paris in France? Answer yes or no.",
            False,
        ),
        (
            suite.Item(
                "m",
                "mc",
                "Which of these is a vehicle?\nA) boat\nB) Peru\nC) fox\nD) violin\nAnswer with the letter.",
                "choice",
                {"letter": "A", "options": ["boat", "Peru", "fox", "violin"], "answer": "boat"},
            ),
            " Which of these is a vehicle?\nA) boat\nB) Peru\nC) fox\nD) violin\nAnswer with the letter.",
            False,
        ),
    ],
)
def test_graders(item: suite.Item, answer: str, ok: bool) -> None:
    assert grade.grade(item, answer) is ok


def test_code_grader_runs_the_tests() -> None:
    item = suite.Item("k", "code", "x", "code", {"entry": "add", "tests": "assert add(2, 3) == 5"})
    assert grade.grade(item, "```python\ndef add(a, b):\n    return a + b\n```\nThis adds.")
    assert not grade.grade(item, "```python\ndef add(a, b):\n    return a - b\n```")
    assert not grade.grade(item, "The sum of a and b.")


# --- the sandbox -----------------------------------------------------------------------------------


def test_sandbox_enforces_its_time_limit() -> None:
    started = time.monotonic()
    result = grade.run_sandboxed("while True:\n    pass", "", timeout_s=1.0)
    assert result.timed_out and not result.passed
    assert time.monotonic() - started < 30  # killed, not left to run (a generous bound for a busy box)


def test_sandbox_cannot_write_outside_its_temp_dir(tmp_path: Path) -> None:
    target = tmp_path / "escaped.txt"
    code = f"open({str(target)!r}, 'w').write('x')"
    result = grade.run_sandboxed(code, "")
    assert not result.passed and "PermissionError" in result.output
    assert not target.exists()
    for attempt in (f"import os\nos.remove({str(target)!r})", "import subprocess\nsubprocess.run(['true'])"):
        assert not grade.run_sandboxed(attempt, "").passed
    # ...while its own temporary directory is writable.
    assert grade.run_sandboxed(
        "open('inside.txt', 'w').write('x')", "assert open('inside.txt').read() == 'x'"
    ).passed


# --- metrics ---------------------------------------------------------------------------------------


def test_routing_metrics_oracle_random_and_reverse() -> None:
    fails = [1, 1, 0, 0, 1, 0, 0, 0, 1, 0]
    families = ["a"] * 10
    oracle = metrics.summary(fails, [float(f) for f in fails], families)
    assert oracle["gain_captured"] == pytest.approx(1.0) and oracle["auc"] == 1.0
    assert oracle["cpt80"] == pytest.approx(0.4)  # 4 failures: the oracle recovers 80% with 4 prompts
    constant = metrics.summary(fails, [0.5] * 10, families)
    assert constant["apgr"] == pytest.approx(0.5) and constant["gain_captured"] == pytest.approx(0.0)
    reverse = metrics.summary(fails, [1.0 - f for f in fails], families)
    assert reverse["gain_captured"] < 0
    assert metrics.ece([0, 1], [0.0, 1.0]) == 0.0 and metrics.ece([1, 1], [0.25, 0.25]) == 0.75


# --- quality targets -------------------------------------------------------------------------------


def _calibrated_head(sha: str = "a" * 64) -> Head:
    return Head(
        stage="model",
        feature_version="prefill-v4",
        mean=(0.0,),
        scale=(1.0,),
        coef=(1.0,),
        intercept=0.0,
        model_sha256=sha,
        model_file="m.gguf",
        inputs=("stage1",),
        calibration=((0.1, 0.95), (0.4, 0.85), (0.6, 0.5), (0.9, 0.1)),
    )


def test_quality_target_becomes_a_threshold() -> None:
    head = _calibrated_head()
    assert head.expected_success(0.05) == 0.95 and head.expected_success(0.95) == 0.1
    assert head.expected_success(0.5) == pytest.approx(0.675)
    t = head.threshold_for(0.8)
    assert 0.4 < t < 0.6 and head.expected_success(t) == pytest.approx(0.8)
    assert head.threshold_for(0.99) == 0.1  # even the easiest prompts fall short: everything goes
    assert head.threshold_for(0.05) == 1.0


def test_policy_local_success_condition_and_explain(tmp_path: Path) -> None:
    from router.policy import explain_report, load_policy
    from router.requests import build_request
    from router.types import DecisionContext, PrivacyReport, PromptTokens

    policy_file = tmp_path / "p.yaml"
    policy_file.write_text(
        "format: 1\ndefault: local\nrules:\n"
        "  - name: unlikely-to-succeed-locally\n    when:\n      local_success: {lt: 0.8}\n    action: cloud\n"
    )
    policy = load_policy(policy_file)
    head = _calibrated_head()
    scorer = ComplexityScorer(_text_head(), head)

    def context(score: float) -> DecisionContext:
        report = scorer.score_hidden(Prefill([], 0.0, 0.0, 0), ComplexityReport(score, "features"))
        return DecisionContext(
            request=build_request([("user", "hi")], app_id="a"),
            privacy=PrivacyReport(0.0),
            complexity=report,
            tokens=PromptTokens.known(5),
            local_queue_depth=0,
            local_queue_size=4,
            cloud_configured=True,
            cloud_healthy=True,
            local_context_limit=2048,
        )

    easy, hard = context(0.15), context(0.85)  # head: score = stage-1 score (logit in, sigmoid out)
    assert easy.complexity.expected_success is not None and easy.complexity.expected_success > 0.8
    decision, text = explain_report(policy, easy)
    assert decision.route.value == "local" and "expected local success 0.9" in text
    decision, text = explain_report(policy, hard)
    assert decision.route.value == "cloud" and "unlikely-to-succeed-locally" in text
    assert "expected local success" in text


def test_policy_check_rejects_a_target_outside_zero_one(tmp_path: Path) -> None:
    from router.policy import parse_policy

    content = b"format: 1\ndefault: local\nrules:\n  - name: r\n    when: {local_success: {lt: 1.5}}\n    action: cloud\n"
    policy, problems = parse_policy(content, "p.yaml")
    assert policy is None and any("[0, 1]" in p for p in problems)


def _text_head() -> Head:
    from router.scoring import features

    n = features.N_FEATURES
    return Head(
        "features", features.FEATURE_VERSION, (0.0,) * n, (1.0,) * n, (0.0,) * n, 0.0, low=0.2, high=0.8
    )


# --- end to end with the real default model --------------------------------------------------------

# Items the small models get right and items they get wrong, so the training split has both classes.
TINY_ITEMS = [
    suite.Item("t-00", "capital", "What is the capital of Germany?", "contains", {"any": ["Berlin"]}),
    suite.Item("t-01", "capital", "What is the capital of Greece?", "contains", {"any": ["Athens"]}),
    suite.Item("t-02", "fact", "What is the longest river in Africa? Answer briefly.", "contains", {"any": ["Nile"]}),
    suite.Item("t-03", "capital", "What is the capital of Peru?", "contains", {"any": ["Lima"]}),
    suite.Item("t-04", "arithmetic", "What is 4817 × 39? Answer with the number only.", "number", {"number": 187863}),
    suite.Item("t-05", "arithmetic", "What is 9312 + 7788? Answer with the number only.", "number", {"number": 17100}),
    suite.Item("t-06", "translation", "How do you say 'I would like a coffee' in German?", "contains",
               {"any": ["ich möchte einen kaffee"]}),
    suite.Item("t-07", "sequence", "What number comes next: 64, 81, 100, 121, ...?", "number", {"number": 144}),
]  # fmt: skip
# All in the training split (the hash split of ten items could leave one class out).
TINY_ITEMS = [
    suite.Item(i.id, i.family, i.prompt, i.grader, i.expected, fixed_split="train") for i in TINY_ITEMS
]


@pytest.fixture(scope="module")
def calibrated(llama_backend: Backend, model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    state = tmp_path_factory.mktemp("state")
    result = lib.calibrate(llama_backend, model_path, state, profile="tiny", seed=0, items=TINY_ITEMS)
    return state, result


def test_calibrate_end_to_end_with_the_real_model(
    calibrated: Any, model_path: Path, llama_backend: Backend
) -> None:
    state, result = calibrated
    sha = model_fingerprint(model_path)
    assert result.path == calibrated_head_path(state, sha) and result.path.exists()
    head = load_head(result.path, model_sha256=sha)
    assert head.model_sha256 == sha and head.inputs == lib.DEFAULT_INPUTS
    assert head.calibration and all(0.0 <= p <= 1.0 for _, p in head.calibration)
    assert head.answer is None  # seven answers are too few for an answer stage (fit.ANSWER_MIN_ROWS)
    outcomes = run.OutcomeCache(state, sha)
    assert outcomes.path.exists() and len(outcomes.path.read_text().splitlines()) == len(TINY_ITEMS)
    # Each outcome keeps the answer tokens' log-probabilities as read (what a check after generating
    # can use; bench.routing measures it), and the cache gives them back.
    for item in TINY_ITEMS:
        got = outcomes.get(item, llama_backend.format_prompt([Message("user", item.prompt)]))
        assert got is not None and got.logprobs and all(v <= 0.0 for v in got.logprobs)
    # The daemon's loader finds it in the state dir.
    scorer = load_scorer(sha, state_dir=state)
    assert scorer.model_head is not None and scorer.model_head.model_sha256 == sha


def test_refit_is_byte_identical_and_uses_the_cache(
    calibrated: Any, llama_backend: Backend, model_path: Path
) -> None:
    state, first = calibrated
    before = first.path.read_bytes()
    first.path.unlink()

    class NoModel:  # the cache must answer everything: any model call fails the test
        name = llama_backend.name
        info = llama_backend.info

        def format_prompt(self, messages: Any) -> str:
            return llama_backend.format_prompt(messages)

        def __getattr__(self, name: str) -> Any:
            raise AssertionError(f"the model was called again ({name})")

    again = lib.calibrate(NoModel(), model_path, state, profile="tiny", seed=0, items=TINY_ITEMS)  # type: ignore[arg-type]
    assert again.path.read_bytes() == before


def test_family_answers_only_that_family_and_keeps_the_cache(
    calibrated: Any, llama_backend: Backend, model_path: Path
) -> None:
    """`router calibrate --family F`: a family added to the suite is answered; uncached items of the
    other families are left out (not answered), cached ones still count."""
    state, _ = calibrated
    sha = model_fingerprint(model_path)
    cache = run.OutcomeCache(state, sha)
    new_other = suite.Item(
        "t-90", "arithmetic", "What is 2 + 2?", "number", {"number": 4}, fixed_split="train"
    )
    new_family = suite.Item(
        "t-91",
        "open_qa",
        "who wrote the harry potter books",
        "contains",
        {"any": ["Rowling"]},
        fixed_split="train",
    )
    calls: list[str] = []

    class Counting:
        name = llama_backend.name
        info = llama_backend.info

        def format_prompt(self, messages: Any) -> str:
            return llama_backend.format_prompt(messages)

        def prefill(self, prompt: str) -> Any:
            calls.append(prompt)
            return llama_backend.prefill(prompt)

        def stream(self, *args: Any, **kwargs: Any) -> Any:
            return llama_backend.stream(*args, **kwargs)

    items = [*TINY_ITEMS, new_other, new_family]
    got = run.run_items(Counting(), items, cache, families={"open_qa"})  # type: ignore[arg-type]
    assert [o.item_id for o in got] == [*(i.id for i in TINY_ITEMS), "t-91"]
    assert len(calls) == 1 and "harry potter" in calls[0]
    assert not any(r.get("id") == "t-90" for r in cache._rows.values())
    # The CLI refuses a family the suite does not have.
    from click.testing import CliRunner

    from router.cli import cli

    out = CliRunner().invoke(
        cli, ["calibrate", "--model", str(model_path), "--state-dir", str(state), "--family", "nope"]
    )
    assert out.exit_code != 0 and "unknown suite family" in out.output + str(out.exception)


def _answered(n: int, seed: int) -> list[run.Outcome]:
    """Graded outcomes where a confident answer (log-probabilities near 0) is right more often."""
    import random

    rng = random.Random(seed)
    out = []
    for i in range(n):
        sure = rng.random()
        correct = rng.random() < sure
        lps = tuple(-rng.uniform(0.0, 3.0 * (1.0 - sure)) for _ in range(20))
        out.append(
            run.Outcome(
                f"a-{i}",
                ("fact", "capital")[i % 2],
                "train",
                "q",
                "q",
                correct,
                "a",
                Prefill([0.0], 1.0, 0.5, 3),
                lps,
            )
        )
    return out


def test_the_answer_stage_is_fitted_deterministically_and_ranks_by_confidence() -> None:
    outcomes = _answered(200, seed=1)
    pre = [0.5] * len(outcomes)  # the model stage knows nothing here: only the answer can tell
    first = fit.fit_answer_stage(outcomes, pre, seed=0)
    again = fit.fit_answer_stage(outcomes, pre, seed=0)
    assert first is not None and again is not None
    assert json.dumps(first.to_json()) == json.dumps(again.to_json())
    assert first.metrics["auc"] > 0.7 and first.calibration
    sure, unsure = [-0.01] * 16, [-2.5] * 16
    assert first.expected_success(0.5, sure) > first.expected_success(0.5, unsure)  # type: ignore[operator]
    assert first.score(0.5, ()) is None  # no log-probabilities: no verdict
    # Too few answers with log-probabilities: no answer stage rather than a guess.
    assert fit.fit_answer_stage(outcomes[:20], pre[:20], seed=0) is None


def test_the_answer_stage_travels_in_the_head_file_and_bad_ones_are_refused(
    calibrated: Any, tmp_path: Path
) -> None:
    _, result = calibrated
    data = json.loads(result.path.read_text())
    stage = fit.fit_answer_stage(_answered(200, seed=2), [0.5] * 200, seed=0)
    assert stage is not None
    data["answer"] = stage.to_json()
    good = tmp_path / "with-answer.json"
    good.write_text(json.dumps(data))
    head = load_head(good, model_sha256=data["model_sha256"])
    assert isinstance(head.answer, AnswerStage) and head.answer.coef == stage.coef
    assert json.loads(head.dumps())["answer"] == stage.to_json()
    for broken in ({**stage.to_json(), "coef": [1.0]}, {**stage.to_json(), "scale": [0.0, 1.0, 1.0]}, "x"):
        data["answer"] = broken
        bad = tmp_path / "bad.json"
        bad.write_text(json.dumps(data))
        with pytest.raises(ModelError, match="answer stage"):
            load_head(bad, model_sha256=data["model_sha256"])


def test_head_is_refused_for_another_model(calibrated: Any, tmp_path: Path) -> None:
    state, result = calibrated
    with pytest.raises(ModelError, match="router calibrate"):
        load_head(result.path, model_sha256="b" * 64)
    # Another model's sha256 finds no head in the state dir: stage 2 off, with the fix in the log.
    from structlog.testing import capture_logs

    with capture_logs() as logs:
        scorer = load_scorer("b" * 64, state_dir=state)
    assert not scorer.has_model_stage
    assert any("router calibrate" in str(e.get("fix", "")) for e in logs)
    # A head file copied under another model's name is refused too.
    other = calibrated_head_path(state, "c" * 64)
    other.write_bytes(result.path.read_bytes())
    with pytest.raises(ModelError):
        load_scorer("c" * 64, state_dir=state)
    other.unlink()


def test_calibrate_cli_help_and_profiles() -> None:
    from click.testing import CliRunner

    from router.cli import cli

    out = CliRunner().invoke(cli, ["calibrate", "--help"])
    assert out.exit_code == 0 and "--profile" in out.output and "--state-dir" in out.output


# --- the MLX path ----------------------------------------------------------------------------------


def test_calibrate_with_the_mlx_backend(tmp_path: Path) -> None:
    pytest.importorskip("mlx_lm", reason="mlx-lm is not installed")
    from router.backends import load_backend
    from tests.mlx_tiny import build_tiny_gemma3

    model_dir = build_tiny_gemma3(tmp_path / "tiny-gemma3")
    backend = load_backend("mlx", model_dir, n_ctx=512, default_max_tokens=8)
    try:
        # Random weights answer nothing right: this checks the run, the signals and the binding.
        items = [
            suite.Item(f"m-{k}", "x", f"Say {w}.", "contains", {"any": [w]})
            for k, w in enumerate(["hello", "tea", "fox", "dog", "sun", "sea", "cat", "owl"])
        ]
        outcomes = lib.collect(backend, tmp_path / "state", model_fingerprint(model_dir), "tiny", items=items)
    finally:
        backend.close()
    assert len(outcomes) == len(items)
    assert all(len(o.prefill.hidden) == 64 and o.prefill.n_tokens > 0 for o in outcomes)
    assert len(model_fingerprint(model_dir)) == 64
    assert os.path.isdir(tmp_path / "state" / "calibration" / model_fingerprint(model_dir))
    fails = [0 if o.correct else 1 for o in outcomes]
    # the metrics run on what the MLX path produced
    assert metrics.summary(fails, [o.prefill.entropy for o in outcomes], ["x"] * len(fails))["n"] == len(
        items
    )


def test_reload_picks_up_a_new_head_and_keeps_the_old_on_a_broken_one(
    calibrated: Any, model_path: Path, tmp_path: Path
) -> None:
    from router.scoring.complexity import reload_scorer

    _, result = calibrated
    sha = model_fingerprint(model_path)
    before = load_scorer("d" * 64, state_dir=tmp_path)  # nothing for this model in this state dir yet
    assert not before.has_model_stage
    target = calibrated_head_path(tmp_path, sha)
    target.parent.mkdir(parents=True)
    target.write_bytes(result.path.read_bytes())
    after = reload_scorer(before, sha, tmp_path)
    assert after.has_model_stage
    target.write_text("{not json")
    assert reload_scorer(after, sha, tmp_path) is after


def test_calibrate_from_log_learns_from_feedback_on_kept_features(
    calibrated: Any, daemon_factory: Any, llama_backend: Backend, model_path: Path, tmp_path: Path
) -> None:
    """Traffic: a daemon with the calibrated head keeps the model stage's inputs of local answers
    (shadow.keep_features), callers rate them with Feedback, and `--from-log` fits on them too."""
    from router.calibration.traffic import traffic_outcomes
    from router.client import RouterClient

    state, _ = calibrated
    policy = tmp_path / "learn.yaml"
    policy.write_text(
        "format: 1\ndefault: local\non_local_answer_rejected: local\nshadow: {keep_features: true}\n"
    )
    runner = daemon_factory(state_dir=state, policy=policy)
    prompts = ["What is the capital of Italy?", "What is 7 times 8?", "Name a colour.", "What is 123 * 457?"]
    with RouterClient(target=runner.target) as client:
        ids = [client.route(p, max_tokens=16).decision.id for p in prompts]
        private = client.route("My email is jane.doe@acme.com, what is it?", max_tokens=8).decision.id
        for n, decision_id in enumerate(ids):
            client.feedback(decision_id, good=n % 2 == 0)
        client.feedback(private, good=True)
    runner.stop()
    sha = model_fingerprint(model_path)
    traffic = traffic_outcomes(runner.settings.decisions_db, sha)
    assert [o.item_id for o, _ in traffic] == ids  # the private request's inputs were never kept
    assert [o.correct for o, _ in traffic] == [True, False, True, False]
    assert all(o.family == "traffic" and o.split == "train" and o.prefill.hidden for o, _ in traffic)
    result = lib.calibrate(
        llama_backend, model_path, state, profile="tiny", seed=0, items=TINY_ITEMS,
        out=tmp_path / "head.json", from_log=runner.settings.decisions_db,
    )  # fmt: skip
    assert result.head.training["traffic"] == len(ids)
    assert "labelled answers from the decision log" in lib.render(result)
