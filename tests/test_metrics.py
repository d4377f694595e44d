"""Metrics: real registries, a real HTTP scrape, and the GetStats reply checked against the proto."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from google.protobuf import json_format
from prometheus_client.parser import text_string_to_metric_families

from router.decisions import DecisionRow
from router.metrics import Metrics

REPO = Path(__file__).parents[1]


def row(i: int = 0, **kw: Any) -> DecisionRow:
    base: dict[str, Any] = dict(
        id=f"r{i}", ts=1_700_000_000.0 + i, app="notes", kind="route", route="local", decided_route="local",
        rule="simple_local", reason="short and private", queue_ms=2.0, scoring_ms=1.5, generation_ms=300.0,
        total_ms=310.0, tokens_in=40, tokens_out=20, model="gemma-3-270m",
    )  # fmt: skip
    base.update(kw)
    return DecisionRow(**base)


def parse(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


def fill(m: Metrics) -> None:
    m.observe(row(1))
    m.observe(row(2))
    m.observe(
        row(3, route="cloud", decided_route="cloud", rule="complex_cloud", queue_ms=0.0, generation_ms=0.0,
            cloud_ms=900.0, total_ms=905.0, tokens_in=100, tokens_out=50, model="gpt-4o-mini"),
        cost=0.0045,
    )  # fmt: skip
    m.observe(
        row(4, route="local", decided_route="cloud", rule="complex_cloud", fallback=True,
            fallback_reason="cloud circuit open"),
    )  # fmt: skip
    m.observe(row(5, route="deny", decided_route="deny", rule="no_secrets", status="DENIED", queue_ms=0.0,
                  generation_ms=0.0, total_ms=2.0, tokens_in=0, tokens_out=0))  # fmt: skip


def test_exposition_counts_requests_stages_tokens_and_cost() -> None:
    m = Metrics(model="gemma-3-270m", policy_version="abc123")
    fill(m)
    m.set_queue_depth(3)
    m.set_circuit("open")
    s = parse(m.render().decode())
    req = "router_requests_total"
    assert value(s, req, route="local", app="notes", rule="simple_local", status="OK") == 2
    assert value(s, req, route="cloud", app="notes", rule="complex_cloud", status="OK") == 1
    assert value(s, req, route="local", app="notes", rule="complex_cloud", status="OK") == 1
    assert value(s, req, route="deny", app="notes", rule="no_secrets", status="DENIED") == 1
    assert value(s, "router_fallbacks_total", decided_route="cloud", route="local") == 1
    assert value(s, "router_tokens_total", direction="in", route="local") == 120
    assert value(s, "router_tokens_total", direction="out", route="cloud") == 50
    assert value(s, "router_cloud_cost_estimated_total") == pytest.approx(0.0045)
    assert value(s, "router_queue_depth") == 3
    assert value(s, "router_cloud_circuit_state", state="open") == 1
    assert value(s, "router_cloud_circuit_state", state="closed") == 0
    assert value(s, "router_info", model="gemma-3-270m", policy_version="abc123") == 1
    hist = "router_stage_duration_seconds"
    assert value(s, hist + "_count", stage="total", route="local") == 3
    assert value(s, hist + "_count", stage="generation", route="local") == 3
    assert value(s, hist + "_sum", stage="cloud", route="cloud") == pytest.approx(0.9)
    assert value(s, hist + "_bucket", stage="cloud", route="cloud", le="0.5") == 0
    assert value(s, hist + "_bucket", stage="cloud", route="cloud", le="1.0") == 1
    # A stage that did not run is not recorded as a 0 ms sample.
    assert (hist + "_count", (("route", "cloud"), ("stage", "generation"))) not in s
    assert (hist + "_count", (("route", "deny"), ("stage", "queue"))) not in s
    assert any(name == "process_resident_memory_bytes" for name, _ in s) or sys.platform != "linux"


def test_each_instance_has_its_own_registry_and_nothing_is_global() -> None:
    import prometheus_client

    a, b = Metrics(), Metrics()
    a.observe(row())
    assert b"router_requests_total{" in a.render()
    assert b"router_requests_total{" not in b.render()
    assert b"router_" not in prometheus_client.generate_latest(prometheus_client.REGISTRY)


def test_importing_the_module_does_not_import_prometheus_client() -> None:
    code = "import sys, router.metrics; print('prometheus_client' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "False"


def test_gauges_follow_every_change_and_repeated_observations_add_up() -> None:
    m = Metrics(model="gemma-3-270m", policy_version="v1")
    changes = [(3, "open", "v1"), (3, "open", "v1"), (0, "closed", "v2"), (0, "closed", "v2")]
    for depth, state, version in changes:
        m.set_queue_depth(depth)
        m.set_circuit(state)
        m.set_info(model="gemma-3-270m", policy_version=version)
    for _ in range(3):
        m.observe(row(1))
    s = parse(m.render().decode())
    assert value(s, "router_queue_depth") == 0
    assert value(s, "router_cloud_circuit_state", state="closed") == 1
    assert value(s, "router_cloud_circuit_state", state="open") == 0
    assert value(s, "router_info", model="gemma-3-270m", policy_version="v2") == 1
    req = "router_requests_total"
    assert value(s, req, route="local", app="notes", rule="simple_local", status="OK") == 3
    assert value(s, "router_stage_duration_seconds_count", stage="total", route="local") == 3
    snap = m.snapshot()
    assert (snap["queue_depth"], snap["cloud_circuit"], snap["policy_version"]) == (0, "closed", "v2")


def test_unknown_circuit_state_is_refused() -> None:
    with pytest.raises(ValueError, match="half_open"):
        Metrics().set_circuit("ajar")


def test_http_scrape_and_stop() -> None:
    m = Metrics()
    fill(m)
    port = m.start_http("127.0.0.1", 0)
    try:
        assert port > 0
        response = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        s = parse(response.text)
        assert (
            value(s, "router_requests_total", route="cloud", app="notes", rule="complex_cloud", status="OK")
            == 1
        )
        with pytest.raises(RuntimeError, match="already running"):
            m.start_http("127.0.0.1", 0)
    finally:
        m.stop()
    m.stop()  # twice is fine
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2)


def test_http_on_ipv6_loopback_literal() -> None:
    m = Metrics()
    try:
        port = m.start_http("[::1]", 0)
    except OSError as e:
        pytest.skip(f"no IPv6 loopback here: {e}")
    try:
        assert httpx.get(f"http://[::1]:{port}/metrics", timeout=10).status_code == 200
    finally:
        m.stop()


@pytest.fixture(scope="module")
def router_pb2(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The Stats message compiled from protos/ with grpc_tools (the project's stubs may not exist yet)."""
    protoc = pytest.importorskip("grpc_tools.protoc")
    out = tmp_path_factory.mktemp("stubs")
    rc = protoc.main(["protoc", f"-I{REPO / 'protos'}", f"--python_out={out}", "router/v1/router.proto"])
    assert rc == 0
    sys.path.insert(0, str(out))
    try:
        spec = importlib.util.spec_from_file_location("_stats_pb2", out / "router" / "v1" / "router_pb2.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(out))


def test_snapshot_fits_the_stats_message(router_pb2: Any) -> None:
    now = [100.0]
    m = Metrics(model="gemma-3-270m", policy_version="abc123", clock=lambda: now[0])
    fill(m)
    m.set_queue_depth(2)
    m.set_circuit("half_open")
    m.set_info(policy_version="def456")
    now[0] = 160.0
    snap = m.snapshot()
    stats = json_format.ParseDict(snap, router_pb2.Stats())
    assert stats.uptime_s == 60.0
    assert stats.queue_depth == 2
    assert stats.cloud_circuit == "half_open"
    assert stats.tokens_in == 40 * 3 + 100 and stats.tokens_out == 20 * 3 + 50
    assert stats.estimated_cloud_cost == pytest.approx(0.0045)
    assert stats.model == "gemma-3-270m" and stats.policy_version == "def456"
    counts = {(r.route, r.app_id, r.rule, r.status): r.count for r in stats.requests}
    assert counts == {
        ("local", "notes", "simple_local", "OK"): 2,
        ("cloud", "notes", "complex_cloud", "OK"): 1,
        ("local", "notes", "complex_cloud", "OK"): 1,
        ("deny", "notes", "no_secrets", "DENIED"): 1,
    }
    assert stats.requests[0].count == 2  # most frequent first
