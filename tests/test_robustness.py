"""Never hang, never crash on bad input, never leak: overload, oversize, auth, TLS, fuzzing."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import grpc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from router.auth import add_token
from router.client import ClientError, DecisionInfo, RouterClient
from router.v1 import router_pb2_grpc as pb_grpc


def wait_for(predicate: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.02)


def test_full_queue_is_resource_exhausted_with_retry_hint(daemon_factory: Any) -> None:
    runner = daemon_factory(queue_size=1)
    worker = runner.daemon.engine.worker
    with RouterClient(target=runner.target) as a, RouterClient(target=runner.target) as b:
        running = a.stream("Write a long story about the sea.", max_tokens=400)
        assert isinstance(next(running), DecisionInfo)
        next(running)  # the worker is busy generating
        waiting = b.stream("Write a long story about a forest.", max_tokens=400)
        import threading

        first_of_waiting: list[Any] = []
        t = threading.Thread(target=lambda: first_of_waiting.append(next(waiting)))
        t.start()
        wait_for(lambda: worker.depth == 2)
        with RouterClient(target=runner.target) as c, pytest.raises(ClientError) as e:
            c.route("Hello", max_tokens=2)
        assert e.value.code == "RESOURCE_EXHAUSTED"
        assert "queue is full" in e.value.message
        assert int(e.value.metadata["retry-after-ms"]) > 0
        running.close()
        t.join(60)
        waiting.close()
    wait_for(lambda: worker.depth == 0)


def test_prompt_larger_than_context_is_invalid_argument(daemon: Any) -> None:
    big = "word " * 3000  # ~3000 tokens > n_ctx 2048
    with RouterClient(target=daemon.target) as client:
        with pytest.raises(ClientError) as e:
            client.route(big, max_tokens=4)
        assert e.value.code == "INVALID_ARGUMENT"
        assert "2048" in e.value.message and "tokens" in e.value.message
        assert client.health() == "SERVING"


def test_oversized_request_is_rejected_before_work(daemon_factory: Any) -> None:
    runner = daemon_factory(max_request_chars=100)
    with RouterClient(target=runner.target) as client, pytest.raises(ClientError) as e:
        client.route("x" * 101)
    assert e.value.code == "INVALID_ARGUMENT"
    assert "limit is 100" in e.value.message


def test_app_tokens(daemon_factory: Any, tmp_path: Path) -> None:
    tokens = tmp_path / "tokens"
    notes_token = add_token(tokens, "notes")
    runner = daemon_factory(app_tokens=tokens)
    with RouterClient(target=runner.target) as anonymous, pytest.raises(ClientError) as e:
        anonymous.classify("hi")
    assert e.value.code == "UNAUTHENTICATED"
    with RouterClient(target=runner.target, token="hr_wrong") as wrong, pytest.raises(ClientError) as e:
        wrong.classify("hi")
    assert e.value.code == "UNAUTHENTICATED"
    with RouterClient(target=runner.target, token=notes_token) as notes:
        with pytest.raises(ClientError) as e:
            notes.classify("hi", app_id="mail")
        assert e.value.code == "PERMISSION_DENIED"
        decision = notes.classify("hi")  # no app id: the token's app is used
    runner.daemon.decisions.flush()
    from router import decisions

    with decisions.reader(runner.settings.decisions_db) as db:
        assert decisions.get(db, decision.id)["app"] == "notes"  # type: ignore[index]
    assert notes_token not in tokens.read_text()


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def test_tcp_requires_tls_and_serves_it(daemon_factory: Any, tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    runner = daemon_factory(listen="127.0.0.1:0", tls_cert=cert, tls_key=key)
    tcp = next(a for a in runner.daemon.addresses if not a.startswith("unix:"))
    with RouterClient(address=tcp, insecure=False, root_certificates=cert.read_bytes()) as client:
        assert client.health() == "SERVING"
        assert client.classify("hello").route == "local"
    with RouterClient(address=tcp, timeout=3) as plaintext, pytest.raises(ClientError):
        plaintext.health()


messages = st.lists(
    st.tuples(st.sampled_from(["user", "system", "assistant", "", "robot", "USER"]), st.text(max_size=60)),
    max_size=4,
)
numbers = st.one_of(st.none(), st.integers(-(2**31), 2**31 - 1))
floats = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True, width=32))


def test_fuzzed_requests_never_crash_the_daemon(daemon: Any) -> None:
    """Random and malformed requests: every call gets a status with a message, the daemon survives."""
    channel = grpc.insecure_channel(daemon.target)
    stub = pb_grpc.RouterStub(channel)
    expected = (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.PERMISSION_DENIED)

    @settings(max_examples=60, deadline=None)
    @given(
        msgs=messages,
        max_tokens=numbers,
        temperature=floats,
        top_p=floats,
        stop=st.lists(st.text(max_size=80), max_size=10),
        app=st.text(max_size=70),
        metadata=st.dictionaries(st.text(max_size=20), st.text(max_size=300), max_size=3),
    )
    def one(
        msgs: Any, max_tokens: Any, temperature: Any, top_p: Any, stop: Any, app: Any, metadata: Any
    ) -> None:
        # The client builds the proto without validating it: whatever hypothesis draws reaches the daemon.
        request = RouterClient.build_request(
            list(msgs),
            app_id=app,
            max_tokens=max_tokens,
            temperature=temperature,
            top_p=top_p,
            stop=stop,
            metadata=metadata,
        )
        try:
            stub.Classify(request, timeout=30)
        except grpc.RpcError as e:
            assert e.code() in expected, (e.code(), e.details())
            assert e.details()
        if max_tokens is not None and max_tokens > 0:
            request.options.max_tokens = min(max_tokens, 2)
        try:
            stub.Route(request, timeout=60)
        except grpc.RpcError as e:
            assert e.code() in expected, (e.code(), e.details())
            assert e.details()

    try:
        one()
    finally:
        channel.close()
    with RouterClient(target=daemon.target) as client:
        assert client.health() == "SERVING"
        assert client.route("Hi", max_tokens=2).decision.route == "local"
