"""OpenTelemetry (issue #19): a span per request in the GenAI conventions, only when the standard OTLP
variables are set, never with prompt or answer text; opentelemetry not even imported otherwise."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from router.client import RouterClient
from router.telemetry import Telemetry, configured
from tests.standin import CloudStandIn

REPO = Path(__file__).resolve().parent.parent
HARD = (
    "Prove that there are infinitely many primes, then derive the prime number theorem's error term "
    "under the Riemann hypothesis and compare it with the best unconditional bound. Context: "
)
MARKER = "zebracornflakes"  # a word of the prompts, which no span may carry


def wait_for(predicate: Any, timeout: float = 20.0) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


def test_configured_only_by_the_standard_variables() -> None:
    assert not configured({})
    assert configured({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"})
    assert configured({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"})
    assert not configured({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x", "OTEL_SDK_DISABLED": "true"})


def test_opentelemetry_is_not_imported_when_unconfigured() -> None:
    code = (
        "import sys\n"
        "import router.cli, router.app, router.daemon, router.server, router.http_door\n"
        "from router.telemetry import Telemetry\n"
        "assert Telemetry.from_env() is None\n"
        "loaded = [m for m in sys.modules if m.startswith('opentelemetry')]\n"
        "assert not loaded, loaded\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env["PYTHONPATH"] = str(REPO)
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]


def test_no_telemetry_without_the_variables(daemon_factory: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    assert daemon_factory().daemon.telemetry is None


@pytest.fixture
def spans_daemon(daemon_factory: Any, cloud: CloudStandIn, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("ROUTER_CLOUD_API_KEY", "sk-test-standin-0123456789abcdefghij")
    monkeypatch.setenv("ROUTER_N_THREADS", "1")
    runner = daemon_factory(
        cloud_url=cloud.url,
        cloud_model="standin-large",
        cloud_retries=0,
        http_listen="127.0.0.1:0",
        insecure=True,
        policy=Path(__file__).parent / "policies" / "all-hard.yaml",
    )
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    runner.daemon.telemetry = Telemetry(provider.get_tracer("test"), provider)
    runner.exporter = exporter
    return runner


def by_route(spans: tuple[ReadableSpan, ...], route: str) -> ReadableSpan:
    [span] = [s for s in spans if (s.attributes or {}).get("router.route") == route]
    return span


def test_a_span_per_request_through_both_doors(spans_daemon: Any) -> None:
    url = spans_daemon.daemon.http_addresses[-1]
    with httpx.Client(base_url=url, timeout=60) as h:
        cloud = h.post(
            "/v1/chat/completions",
            json={"messages": [{"role": "user", "content": HARD + MARKER}], "max_tokens": 4},
        ).json()
    with RouterClient(target=spans_daemon.target) as client:
        local = client.route(f"Say {MARKER}.", max_tokens=3, metadata={"route": "local"})
    exporter: InMemorySpanExporter = spans_daemon.exporter
    wait_for(lambda: len(exporter.get_finished_spans()) >= 2)
    spans = exporter.get_finished_spans()
    assert len(spans) == 2

    span = by_route(spans, "cloud")
    attributes = dict(span.attributes or {})
    assert span.name == "chat standin-large"
    assert attributes["gen_ai.operation.name"] == "chat"
    assert attributes["gen_ai.request.model"] == attributes["gen_ai.response.model"] == "standin-large"
    assert attributes["gen_ai.usage.input_tokens"] == cloud["usage"]["prompt_tokens"]
    assert attributes["gen_ai.usage.output_tokens"] == cloud["usage"]["completion_tokens"]
    assert attributes["router.rule"] == cloud["router"]["rule"]
    assert attributes["router.complexity"] == cloud["router"]["complexity"]
    assert attributes["router.privacy"] == cloud["router"]["privacy"]
    assert attributes["router.decision_id"] == cloud["router"]["id"]
    assert span.end_time is not None and span.start_time is not None and span.end_time > span.start_time

    local_span = by_route(spans, "local")
    local_attributes = dict(local_span.attributes or {})
    assert local_attributes["gen_ai.response.model"] == spans_daemon.daemon.engine.backend.info.name
    assert local_attributes["gen_ai.usage.output_tokens"] == local.completion_tokens
    assert local_attributes["router.decision_id"] == local.decision.id

    everything = json.dumps([{"name": s.name, **dict(s.attributes or {})} for s in spans], default=str)
    assert MARKER not in everything and "primes" not in everything
    assert local.text.strip() not in everything and "Cloud answer" not in everything


class OtlpReceiver:
    """An OTLP/HTTP trace receiver on 127.0.0.1: keeps every export request's body."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                if self.path == "/v1/traces":
                    receiver.bodies.append(body)
                self.send_response(200 if self.path == "/v1/traces" else 404)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    r = OtlpReceiver()
    yield r
    r.close()


def test_spans_reach_an_otlp_http_receiver(
    daemon_factory: Any, receiver: OtlpReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.url)
    monkeypatch.setenv("OTEL_SERVICE_NAME", "router-under-test")
    monkeypatch.setenv("ROUTER_N_THREADS", "1")
    runner = daemon_factory(http_listen="127.0.0.1:0", insecure=True)
    assert runner.daemon.telemetry is not None
    with httpx.Client(base_url=runner.daemon.http_addresses[-1], timeout=60) as h:
        reply = h.post(
            "/v1/chat/completions",
            json={"messages": [{"role": "user", "content": f"Say {MARKER}."}], "max_tokens": 3},
        )
    assert reply.status_code == 200
    runner.stop()  # flushes the decision log, then the span exporter
    assert receiver.bodies, "no export reached the receiver"
    spans = []
    for body in receiver.bodies:
        assert MARKER.encode() not in body
        export = ExportTraceServiceRequest.FromString(body)
        for resource_spans in export.resource_spans:
            service = {a.key: a.value.string_value for a in resource_spans.resource.attributes}[
                "service.name"
            ]
            assert service == "router-under-test"
            for scope in resource_spans.scope_spans:
                spans.extend(scope.spans)
    [span] = spans
    attributes = {a.key: a.value for a in span.attributes}
    assert attributes["router.decision_id"].string_value == reply.headers["x-router-decision-id"]
    assert attributes["router.route"].string_value == "local"
    assert attributes["gen_ai.operation.name"].string_value == "chat"
    assert attributes["gen_ai.usage.output_tokens"].int_value == reply.json()["usage"]["completion_tokens"]
