"""Operations against a live daemon: spilling, context overflow to the cloud, socket group, mutual TLS,
Prometheus metrics."""

from __future__ import annotations

import grp
import os
import subprocess
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from router.client import ClientError, DecisionInfo, RouterClient
from router.model import DEFAULT_MODEL_FILE
from tests.standin import CloudStandIn

POLICIES = Path(__file__).parent / "policies"


def wait_for(predicate: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)


def test_full_queue_spills_to_the_cloud_when_the_policy_allows(
    daemon_factory: Any, cloud: CloudStandIn
) -> None:
    runner = daemon_factory(
        queue_size=1, policy=POLICIES / "spill.yaml", cloud_url=cloud.url, cloud_model="m"
    )
    worker = runner.daemon.engine.worker
    with RouterClient(target=runner.target) as a, RouterClient(target=runner.target) as b:
        running = a.stream("Write a long story about the sea.", max_tokens=400)
        assert isinstance(next(running), DecisionInfo)
        next(running)
        waiting = b.stream("Write a long story about a forest.", max_tokens=400)
        got: list[Any] = []
        t = threading.Thread(target=lambda: got.append(next(waiting)))
        t.start()
        wait_for(lambda: worker.depth == 2)
        with RouterClient(target=runner.target) as c:
            reply = c.route("Hello", max_tokens=5)
        running.close()
        t.join(60)
        waiting.close()
    assert reply.decision.route == "cloud"
    assert reply.text.startswith("Cloud answer")
    assert len(cloud.requests) == 1


def test_prompt_too_long_for_the_local_model_goes_to_the_cloud_redacted(
    daemon_factory: Any, cloud: CloudStandIn
) -> None:
    runner = daemon_factory(cloud_url=cloud.url, cloud_model="m")  # default policy: on_context_overflow
    long = "Please summarise this. " + "The quick brown fox jumps over the lazy dog. " * 400
    with RouterClient(target=runner.target) as client:
        reply = client.route(long + " Reply to jane@example.com.", max_tokens=5)
    assert reply.decision.route == "cloud_redacted"
    sent = cloud.requests[0]["messages"][0]["content"]
    assert "jane@example.com" not in sent and "<EMAIL_1>" in sent


def test_socket_group_and_mode(daemon_factory: Any) -> None:
    group = grp.getgrgid(os.getgid()).gr_name
    runner = daemon_factory(socket_group=group)
    st = runner.socket.stat()
    assert st.st_gid == os.getgid()
    assert st.st_mode & 0o777 == 0o660


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def test_mutual_tls(daemon_factory: Any, tmp_path: Path) -> None:
    d = tmp_path
    _openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=test-ca",
        "-keyout",
        str(d / "ca.key"),
        "-out",
        str(d / "ca.pem"),
    )
    for name, san in (("server", "subjectAltName=IP:127.0.0.1"), ("client", "subjectAltName=DNS:app")):
        _openssl(
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            f"/CN={name}",
            "-keyout",
            str(d / f"{name}.key"),
            "-out",
            str(d / f"{name}.csr"),
        )
        (d / f"{name}.ext").write_text(san + "\n")
        _openssl(
            "x509",
            "-req",
            "-in",
            str(d / f"{name}.csr"),
            "-CA",
            str(d / "ca.pem"),
            "-CAkey",
            str(d / "ca.key"),
            "-CAcreateserial",
            "-days",
            "1",
            "-extfile",
            str(d / f"{name}.ext"),
            "-out",
            str(d / f"{name}.pem"),
        )
    runner = daemon_factory(
        listen="127.0.0.1:0", tls_cert=d / "server.pem", tls_key=d / "server.key", tls_client_ca=d / "ca.pem"
    )
    address = next(a for a in runner.daemon.addresses if not a.startswith("unix:"))
    import grpc

    from router.v1 import router_pb2 as pb
    from router.v1 import router_pb2_grpc as pb_grpc

    request = pb.RouteRequest(messages=[pb.ChatMessage(role="user", content="hi")])
    with_cert = grpc.ssl_channel_credentials(
        (d / "ca.pem").read_bytes(), (d / "client.key").read_bytes(), (d / "client.pem").read_bytes()
    )
    with grpc.secure_channel(address, with_cert) as channel:
        assert pb_grpc.RouterStub(channel).Classify(request, timeout=30).decision.route
    without = grpc.ssl_channel_credentials((d / "ca.pem").read_bytes())
    with grpc.secure_channel(address, without) as channel, pytest.raises(grpc.RpcError):
        pb_grpc.RouterStub(channel).Classify(request, timeout=5)


def test_prometheus_metrics_and_get_stats(daemon_factory: Any) -> None:
    runner = daemon_factory(metrics_listen="127.0.0.1:0")
    with RouterClient(target=runner.target) as client:
        client.route("Hi", max_tokens=2, app_id="notes")
        with pytest.raises(ClientError):
            client.route([("robot", "hi")])
        stats = client.stats()
    runner.daemon.decisions.flush()
    text = urllib.request.urlopen(f"http://127.0.0.1:{runner.daemon.metrics_port}/metrics", timeout=10).read()
    body = text.decode()
    assert 'router_requests_total{app="notes"' in body
    assert "router_queue_depth" in body and "router_cloud_circuit" in body
    assert any(r.app_id == "notes" and r.route == "local" and r.count == 1 for r in stats.requests)
    assert stats.model == DEFAULT_MODEL_FILE
    assert stats.cloud_circuit == "disabled"
    assert stats.tokens_out > 0
