"""Routes end to end through a live daemon: cloud, fallbacks, circuit breaker, deny, fail-closed, secrets.

The cloud is a real OpenAI-compatible server on 127.0.0.1 (tests/standin.py) with injected faults; the
test policy routes by request metadata so each case is deterministic.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from structlog.testing import capture_logs

from router import decisions
from router.client import ClientError, DecisionInfo, RouterClient, StreamEnd
from router.model import DEFAULT_MODEL_FILE
from router.types import PrivacyReport
from tests.standin import CloudStandIn

POLICY = Path(__file__).parent / "policies" / "by-metadata.yaml"
KEY = "sk-test-abcdefghijklmnopqrstuvwxyz0123456789"


def row_for(runner: Any, decision_id: str) -> dict[str, Any]:
    assert runner.daemon.decisions.flush(10)
    with decisions.reader(runner.settings.decisions_db) as db:
        row = decisions.get(db, decision_id)
    assert row is not None
    return row


@pytest.fixture
def routed(daemon_factory: Any, cloud: CloudStandIn, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("ROUTER_CLOUD_API_KEY", KEY)
    return daemon_factory(policy=POLICY, cloud_url=cloud.url, cloud_model="standin-large", cloud_retries=1)


def test_cloud_route_answer_and_row(routed: Any, cloud: CloudStandIn) -> None:
    with RouterClient(target=routed.target) as client:
        reply = client.route("What is the meaning of life?", metadata={"route": "cloud"}, max_tokens=20)
    assert reply.text == "Cloud answer: What is the meaning of life?"
    assert reply.decision.route == "cloud"
    assert reply.decision.rule == "force-cloud"
    assert reply.decision.model == "standin-large"
    assert cloud.headers[0]["authorization"] == f"Bearer {KEY}"
    assert cloud.requests[0]["max_tokens"] == 20
    row = row_for(routed, reply.decision.id)
    assert row["route"] == "cloud" and row["status"] == "OK" and row["cloud_ms"] > 0
    assert row["tokens_out"] == reply.completion_tokens > 0
    assert row["cloud_circuit"] == "closed"


def test_cloud_stream(routed: Any) -> None:
    with RouterClient(target=routed.target) as client:
        events = list(client.stream("Stream me a cloud answer", metadata={"route": "cloud"}))
    assert isinstance(events[0], DecisionInfo) and events[0].route == "cloud"
    text = "".join(e for e in events if isinstance(e, str))
    assert text == "Cloud answer: Stream me a cloud answer"
    assert isinstance(events[-1], StreamEnd) and events[-1].finish_reason == "stop"


@pytest.mark.parametrize("fault", ["http500", "malformed", "break"])
def test_cloud_failure_falls_back_to_local(routed: Any, cloud: CloudStandIn, fault: str) -> None:
    cloud.faults.extend([fault] * 4)
    with RouterClient(target=routed.target) as client:
        reply = client.route("Hello there", metadata={"route": "cloud"}, max_tokens=4)
    d = reply.decision
    assert d.route == "local" and d.decided_route == "cloud"
    assert d.fallback and d.fallback_reason
    assert d.model == DEFAULT_MODEL_FILE
    row = row_for(routed, d.id)
    assert row["fallback"] is True and row["route"] == "local" and row["decided_route"] == "cloud"
    assert row["fallback_reason"] == d.fallback_reason


def test_hanging_cloud_still_answers_within_the_deadline(routed: Any, cloud: CloudStandIn) -> None:
    cloud.hang_s = 60
    cloud.faults.extend(["hang"] * 3)
    with RouterClient(target=routed.target, timeout=20) as client:
        t0 = time.monotonic()
        reply = client.route("Hello", metadata={"route": "cloud"}, max_tokens=2)
        assert time.monotonic() - t0 < 20
    assert reply.decision.fallback and "in time" in reply.decision.fallback_reason


def test_policy_says_refuse_when_the_cloud_fails(routed: Any, cloud: CloudStandIn) -> None:
    cloud.faults.extend(["http500"] * 4)
    with RouterClient(target=routed.target) as client, pytest.raises(ClientError) as e:
        client.route("Hello", metadata={"route": "cloud-strict"})
    assert e.value.code == "UNAVAILABLE"
    assert "HTTP 500" in e.value.message


def test_circuit_breaker_opens_shows_in_health_and_rows(routed: Any, cloud: CloudStandIn) -> None:
    breaker = routed.daemon.engine.cloud.breaker
    breaker.cooldown_s = 60
    cloud.faults.extend(["http400"] * breaker.threshold)
    with RouterClient(target=routed.target) as client:
        for _ in range(breaker.threshold):
            client.route("Hi", metadata={"route": "cloud"}, max_tokens=2)
        sent = len(cloud.requests)
        reply = client.route("Hi", metadata={"route": "cloud"}, max_tokens=2)
        assert len(cloud.requests) == sent  # the open circuit sends nothing
        stats = client.stats()
    assert breaker.state == "open"
    assert stats.cloud_circuit == "open"
    # With the circuit open the policy sees the cloud as unavailable and keeps the request local.
    assert reply.decision.route == "local"
    assert row_for(routed, reply.decision.id)["cloud_circuit"] == "open"
    with grpc.insecure_channel(routed.target) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        assert health.Check(health_pb2.HealthCheckRequest(service="cloud")).status == (
            health_pb2.HealthCheckResponse.NOT_SERVING
        )
        assert health.Check(health_pb2.HealthCheckRequest(service="")).status == (
            health_pb2.HealthCheckResponse.SERVING
        )


def test_no_cloud_configured_answers_locally_and_says_so(daemon_factory: Any) -> None:
    runner = daemon_factory(policy=POLICY)
    with RouterClient(target=runner.target) as client:
        reply = client.route("Hi", metadata={"route": "cloud"}, max_tokens=2)
    assert reply.decision.route == "local"
    assert "cloud" in reply.decision.reason


def test_deny_is_permission_denied_with_the_policy_message(routed: Any) -> None:
    with RouterClient(target=routed.target) as client:
        with pytest.raises(ClientError) as e:
            client.route("Hello", metadata={"route": "deny"})
        assert e.value.code == "PERMISSION_DENIED"
        assert "this app may not ask that" in e.value.message
        decision_id = e.value.metadata["decision-id"]
        assert client.classify("Hello", metadata={"route": "deny"}).route == "deny"
    row = row_for(routed, decision_id)
    assert row["route"] == "deny" and row["status"] == "Denied"


def test_privacy_scorer_failure_stays_local(routed: Any, cloud: CloudStandIn) -> None:
    class Broken:
        def scan(self, text: str) -> PrivacyReport:
            raise RuntimeError("scorer exploded")

    routed.daemon.engine.privacy = Broken()
    with RouterClient(target=routed.target) as client:
        reply = client.route("Hello", metadata={"route": "cloud"}, max_tokens=2)
    assert reply.decision.route == "local" and reply.decision.rule == "fail-closed"
    assert cloud.requests == []


def test_policy_failure_stays_local(routed: Any, cloud: CloudStandIn) -> None:
    class BrokenPolicy:
        version = "broken"

        def decide(self, ctx: Any) -> Any:
            raise RuntimeError("policy exploded")

    class Store:
        current = BrokenPolicy()
        budget = routed.daemon.engine.policies.budget

    routed.daemon.engine.policies = Store()
    with RouterClient(target=routed.target) as client:
        reply = client.route("Hello", metadata={"route": "cloud"}, max_tokens=2)
    assert reply.decision.route == "local" and reply.decision.rule == "fail-closed"
    assert cloud.requests == []


def test_key_and_prompt_never_in_logs_rows_or_errors(
    daemon_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ROUTER_CLOUD_API_KEY", KEY)
    runner = daemon_factory(
        policy=POLICY, cloud_url="http://127.0.0.1:9/v1", cloud_model="m", cloud_retries=0
    )
    secret_prompt = "my secret phrase is pineapple-horizon-42"
    errors: list[str] = []
    with capture_logs() as logs, RouterClient(target=runner.target) as client:
        reply = client.route(secret_prompt, metadata={"route": "cloud"}, max_tokens=2)
        for route in ("cloud-strict", "deny"):
            try:
                client.route(secret_prompt, metadata={"route": route})
            except ClientError as e:
                errors.append(str(e) + repr(e.metadata))
    assert reply.decision.fallback
    assert len(errors) == 2
    runner.daemon.decisions.flush()
    with decisions.reader(runner.settings.decisions_db) as db:
        rows = repr(list(db["decisions"].rows))
    everything = repr(logs) + rows + "".join(errors) + reply.decision.fallback_reason
    assert "pineapple-horizon" not in everything
    assert KEY not in everything and KEY[:12] not in everything


def test_unexpected_error_is_internal_without_its_message(daemon: Any) -> None:
    def explode(messages: Any) -> str:
        raise ValueError("the prompt was pineapple-horizon")

    daemon.daemon.engine.worker.backend.format_prompt = explode
    with capture_logs() as logs, RouterClient(target=daemon.target) as client:
        with pytest.raises(ClientError) as e:
            client.route("Hello")
        assert e.value.code == "INTERNAL"
        assert "pineapple" not in e.value.message
        assert client.health() == "SERVING"
    assert any(log.get("error_type") == "ValueError" for log in logs)
    assert "pineapple" not in repr(logs)


PRIVATE = "Email jane.doe@example.com and call +44 20 7946 0958 about card 4111 1111 1111 1111."


@pytest.mark.parametrize("stream", [False, True])
def test_redacted_route_sends_placeholders_and_restores_them(
    routed: Any, cloud: CloudStandIn, stream: bool
) -> None:
    with RouterClient(target=routed.target) as client:
        if stream:
            events = list(client.stream(PRIVATE, metadata={"route": "cloud_redacted"}))
            text = "".join(e for e in events if isinstance(e, str))
            decision = events[0]
        else:
            reply = client.route(PRIVATE, metadata={"route": "cloud_redacted"})
            text, decision = reply.text, reply.decision
    sent = cloud.requests[0]["messages"][0]["content"]
    for original in ("jane.doe@example.com", "7946 0958", "4111 1111 1111 1111"):
        assert original not in sent
        assert original in text  # restored locally, also when a placeholder was split across chunks
    assert "<EMAIL_1>" in sent and "<CREDIT_CARD_1>" in sent
    assert text == "Cloud answer: " + PRIVATE
    assert decision.route == "cloud_redacted"
    assert decision.findings == {"credit_card": 1, "email": 1, "phone": 1}


def test_default_policy_never_sends_private_findings_unredacted(
    daemon_factory: Any, cloud: CloudStandIn
) -> None:
    runner = daemon_factory(cloud_url=cloud.url, cloud_model="m")  # the shipped default policy
    hard_and_private = "Prove that there are infinitely many primes, then email the proof to bob@example.org."
    with RouterClient(target=runner.target) as client:
        reply = client.route(hard_and_private, max_tokens=8)
    assert reply.decision.route in ("local", "cloud_redacted")
    for body in cloud.requests:
        assert "bob@example.org" not in repr(body)


def test_policy_terms_are_found_as_custom(daemon_factory: Any, tmp_path: Path, cloud: CloudStandIn) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        POLICY.read_text() + "privacy:\n  terms: [Project Nightjar]\n  patterns: {ticket: 'TCK-[0-9]{4}'}\n"
    )
    runner = daemon_factory(policy=policy, cloud_url=cloud.url, cloud_model="m")
    with RouterClient(target=runner.target) as client:
        reply = client.route(
            "Summarise project nightjar ticket TCK-1234", metadata={"route": "cloud_redacted"}
        )
    assert reply.decision.findings == {"custom": 2}
    sent = cloud.requests[0]["messages"][0]["content"]
    assert "nightjar" not in sent.lower() and "TCK-1234" not in sent
    assert "TCK-1234" in reply.text


def test_stream_broken_after_text_ends_with_a_clear_status(routed: Any, cloud: CloudStandIn) -> None:
    """Text already reached the app: no silent switch to another model mid-answer, a clear error instead."""
    cloud.faults.append("break")
    received: list[Any] = []
    with RouterClient(target=routed.target) as client, pytest.raises(ClientError) as e:
        for event in client.stream("Tell me something long", metadata={"route": "cloud"}):
            received.append(event)
    assert e.value.code == "UNAVAILABLE"
    assert any(isinstance(x, str) for x in received)
    row = row_for(routed, received[0].id)
    assert row["status"] == "CloudProtocolError" and row["fallback"] is False
