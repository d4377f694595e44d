"""Outcomes from traffic: the Feedback RPC stores and validates; shadow checks label local answers and
never send a private request to the cloud."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from router import decisions
from router.client import ClientError, RouterClient
from router.errors import InvalidRequest
from router.feedback import agrees, compare, parse_feedback, selected
from tests.standin import CloudStandIn

SHADOW_POLICY = """\
format: 1
default: local
on_local_answer_rejected: local
shadow: {share: 1.0, compare: contains}
"""


def row_for(runner: Any, decision_id: str) -> dict[str, Any]:
    assert runner.daemon.decisions.flush(10)
    with decisions.reader(runner.settings.decisions_db) as db:
        row = decisions.get(db, decision_id)
    assert row is not None
    return row


def test_compare_short_answers_by_containment_and_long_ones_by_overlap() -> None:
    assert compare("The capital of France is Paris.", "Paris") == 1.0
    assert compare("It is Lyon.", "Paris") == 0.0
    assert compare("paris!", "Paris", "exact") == 1.0 and compare("Paris, France", "Paris", "exact") == 0.0
    long_cloud = "The mitochondria is the powerhouse of the cell and makes most of its energy"
    assert compare("The mitochondria makes most of the energy of the cell", long_cloud) > 0.5
    assert compare("Bananas are yellow fruit grown in warm places of the world", long_cloud) < 0.5
    assert compare("", "Paris") == 0.0
    assert agrees(0.6) and not agrees(0.4) and not agrees(0.99, "exact")


def test_selection_is_deterministic_by_the_ids_random_bits() -> None:
    assert selected("0" * 24 + "00000000", 0.01) and not selected("0" * 24 + "ffffffff", 0.99)
    assert not selected("0" * 32, 0.0) and selected("f" * 31 + "e", 1.0)


@pytest.mark.parametrize(
    ("kwargs", "fix"),
    [
        ({"decision_id": "nope", "good": True}, "32 hex"),
        ({"decision_id": "a" * 32}, "exactly one"),
        ({"decision_id": "a" * 32, "good": True, "score": 1.0}, "exactly one"),
        ({"decision_id": "a" * 32, "score": 1.5}, "from 0"),
        ({"decision_id": "a" * 32, "score": float("nan")}, "from 0"),
        ({"decision_id": "a" * 32, "good": False, "label": "Free text here!"}, "label"),
    ],
)
def test_feedback_is_validated(kwargs: dict[str, Any], fix: str) -> None:
    decision_id = kwargs.pop("decision_id")
    with pytest.raises(InvalidRequest, match=fix):
        parse_feedback(decision_id, **kwargs)


@pytest.mark.slow
def test_feedback_is_stored_with_the_decision(daemon: Any) -> None:
    with RouterClient(target=daemon.target) as client:
        reply = client.route("Hello", max_tokens=8)
        assert client.feedback(reply.decision.id, good=True) == 1.0
        row = row_for(daemon, reply.decision.id)
        assert row["feedback_score"] == 1.0 and row["feedback_label"] == "" and row["feedback_ts"] > 0
        assert client.feedback(reply.decision.id, score=0.25, label="wrong_fact") == 0.25
        row = row_for(daemon, reply.decision.id)
        assert row["feedback_score"] == 0.25 and row["feedback_label"] == "wrong_fact"
        with pytest.raises(ClientError) as missing:
            client.feedback("0123456789abcdef0123456789abcdef", good=False)
        assert missing.value.code == "NOT_FOUND"
        with pytest.raises(ClientError) as bad:
            client.feedback(reply.decision.id, score=2.0)
        assert bad.value.code == "INVALID_ARGUMENT" and "from 0" in bad.value.message


@pytest.fixture
def shadowed(daemon_factory: Any, tmp_path: Path, monkeypatch: Any) -> Any:
    cloud = CloudStandIn(answer=lambda body: "Hello! How can I help you today?")
    monkeypatch.setenv("ROUTER_CLOUD_API_KEY", "sk-test-key")
    policy = tmp_path / "shadow.yaml"
    policy.write_text(SHADOW_POLICY)
    with cloud:
        yield daemon_factory(policy=policy, cloud_url=cloud.url, cloud_model="standin-large"), cloud


def _wait_for_shadow(runner: Any, decision_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while True:
        row = row_for(runner, decision_id)
        if row["shadow"] != "pending" or time.monotonic() > deadline:
            return row
        time.sleep(0.2)


@pytest.mark.slow
def test_a_shadow_check_labels_a_local_answer(shadowed: Any) -> None:
    runner, cloud = shadowed
    with RouterClient(target=runner.target) as client:
        reply = client.route("Hello", max_tokens=16)
    assert reply.decision.route == "local"
    row = _wait_for_shadow(runner, reply.decision.id)
    assert row["shadow"] in ("agree", "disagree") and 0.0 <= row["shadow_score"] <= 1.0
    assert len(cloud.requests) == 1 and cloud.requests[0]["messages"][-1]["content"] == "Hello"


@pytest.mark.slow
def test_a_private_request_is_never_shadowed_even_at_100_percent(shadowed: Any) -> None:
    runner, cloud = shadowed
    with RouterClient(target=runner.target) as client:
        reply = client.route("My email is jane.doe@acme.com, say hello to me.", max_tokens=16)
    assert reply.decision.route == "local"
    row = row_for(runner, reply.decision.id)
    assert row["shadow"] == "skipped:private"
    time.sleep(0.5)
    assert cloud.requests == []


def test_pruning_drops_the_kept_features_with_their_decisions(tmp_path: Path) -> None:
    from router.analytics import prune_file
    from router.decisions import FEATURES, DecisionLog, DecisionRow

    path = tmp_path / "d.db"
    log = DecisionLog(path)
    try:
        old, new = time.time() - 10 * 86400, time.time()
        for i, ts in ((1, old), (2, new)):
            log.record(DecisionRow(id=f"{i:032x}", ts=ts, app="a", kind="route", route="local",
                                   decided_route="local", rule="r", reason=""))  # fmt: skip
        assert log.flush()
        log.store_features(f"{2:032x}", "a" * 64, 0.5, "{}")
    finally:
        log.close()
    with decisions.reader(path) as db:
        db.execute(f"UPDATE {FEATURES} SET ts = ?", [old])  # as if kept ten days ago
        db.conn.commit()
    assert prune_file(path, 5 * 86400) == 1
    with decisions.reader(path) as db:
        assert db[FEATURES].count == 0
