"""The daemon end to end: real model, real gRPC server on a Unix socket, real SQLite file."""

from __future__ import annotations

import stat
import threading
import time
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from router import decisions
from router.client import ClientError, DecisionInfo, RouterClient, StreamEnd
from router.model import DEFAULT_MODEL_FILE
from router.v1 import router_pb2 as pb
from router.v1 import router_pb2_grpc as pb_grpc


def read_row(daemon: Any, decision_id: str, timeout: float = 10.0) -> dict[str, Any]:
    """The decision row, read back from the SQLite file (the writer is asynchronous)."""
    assert daemon.daemon.decisions.flush(timeout)
    with decisions.reader(daemon.settings.decisions_db) as db:
        row = decisions.get(db, decision_id)
    assert row is not None, f"no row for {decision_id}"
    return row


def test_health_and_reflection(daemon: Any) -> None:
    with grpc.insecure_channel(daemon.target) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for service in ("", "router.v1.Router"):
            reply = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=10)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
        refl = reflection_pb2_grpc.ServerReflectionStub(channel)
        responses = refl.ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")])
        )
        names = {s.name for r in responses for s in r.list_services_response.service}
    assert {"router.v1.Router", "grpc.health.v1.Health"} <= names


def test_socket_is_created_0660(daemon: Any) -> None:
    mode = stat.S_IMODE(daemon.socket.stat().st_mode)
    assert mode == 0o660


def test_route_local_answer_and_row(daemon: Any) -> None:
    with grpc.insecure_channel(daemon.target) as channel:
        stub = pb_grpc.RouterStub(channel)
        reply = stub.Route(
            pb.RouteRequest(
                messages=[pb.ChatMessage(role="user", content="What is the capital of France?")],
                app_id="notes",
                options=pb.GenerationOptions(max_tokens=8, temperature=0),
            ),
            timeout=60,
        )
    assert reply.decision.route == pb.ROUTE_KIND_LOCAL
    assert reply.decision.model == DEFAULT_MODEL_FILE
    assert reply.text.strip()
    assert reply.usage.completion_tokens > 0
    assert reply.finish_reason in ("stop", "length")
    row = read_row(daemon, reply.decision.id)
    assert row["app"] == "notes"
    assert row["route"] == "local"
    assert row["status"] == "OK"
    assert row["tokens_out"] == reply.usage.completion_tokens
    assert row["total_ms"] > 0
    assert "France" not in str(row)  # no prompt text in the log


def test_stream_events_in_order(daemon: Any) -> None:
    with RouterClient(target=daemon.target) as client:
        events = list(client.stream("Count from one to five.", max_tokens=12))
    assert isinstance(events[0], DecisionInfo)
    assert isinstance(events[-1], StreamEnd)
    deltas = [e for e in events if isinstance(e, str)]
    assert len(deltas) >= 2
    end = events[-1]
    assert end.completion_tokens > 0
    assert end.finish_reason in ("stop", "length")
    assert end.decision.id == events[0].id
    assert end.decision.timings["total_ms"] > 0
    row = read_row(daemon, end.decision.id)
    assert row["kind"] == "stream"


def test_classify_runs_nothing(daemon: Any) -> None:
    with RouterClient(target=daemon.target) as client:
        decision = client.classify("Hello there")
    assert decision.route == "local"
    assert decision.model == ""
    row = read_row(daemon, decision.id)
    assert row["kind"] == "classify"
    assert row["tokens_out"] == 0


def test_invalid_request_gets_clear_status(daemon: Any) -> None:
    with RouterClient(target=daemon.target) as client:
        with pytest.raises(ClientError) as e:
            client.route([("robot", "hi")])
        assert e.value.code == "INVALID_ARGUMENT"
        assert "role" in e.value.message
        # The daemon still answers afterwards.
        assert client.health() == "SERVING"


def test_cancelled_stream_frees_the_worker(daemon: Any) -> None:
    with RouterClient(target=daemon.target) as client:
        stream = client.stream("Write a very long story about a dragon.", max_tokens=1500)
        first = next(stream)
        assert isinstance(first, DecisionInfo)
        next(stream)  # generation has started
        stream.close()  # the client goes away mid-answer
        t0 = time.monotonic()
        deadline = t0 + 30
        while daemon.daemon.engine.worker.depth and time.monotonic() < deadline:
            time.sleep(0.05)
        assert daemon.daemon.engine.worker.depth == 0
        reply = client.route("Hi", max_tokens=4)
        assert reply.text is not None
    row = read_row(daemon, first.id)
    assert row["status"] == "CANCELLED"


def test_deadline_cancels_generation(daemon: Any) -> None:
    with grpc.insecure_channel(daemon.target) as channel:
        stub = pb_grpc.RouterStub(channel)
        with pytest.raises(grpc.RpcError) as e:
            stub.Route(
                pb.RouteRequest(
                    messages=[pb.ChatMessage(role="user", content="Tell me a long story.")],
                    options=pb.GenerationOptions(max_tokens=1500),
                ),
                timeout=0.5,
            )
        assert e.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    deadline = time.monotonic() + 30
    while daemon.daemon.engine.worker.depth and time.monotonic() < deadline:
        time.sleep(0.05)
    assert daemon.daemon.engine.worker.depth == 0


def test_concurrent_requests_all_answered(daemon: Any) -> None:
    results: list[str] = []
    errors: list[Exception] = []

    def ask(i: int) -> None:
        try:
            with RouterClient(target=daemon.target) as client:
                results.append(client.route(f"Say the number {i}.", max_tokens=4).decision.id)
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors
    assert len(set(results)) == 6


def test_sigterm_style_stop_flushes_rows(daemon_factory: Any) -> None:
    runner = daemon_factory()
    with RouterClient(target=runner.target) as client:
        ids = [client.route("Hi", max_tokens=2).decision.id for _ in range(3)]
    db_path = runner.settings.decisions_db
    runner.stop()
    with decisions.reader(db_path) as db:
        found = {r["id"] for r in db["decisions"].rows}
    assert set(ids) <= found
