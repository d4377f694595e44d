"""The gRPC door against careless and hostile clients (#18, findings 5, 7 and 8): GetStats behind app
tokens, failed authentications logged without the token, bounded app labels, undecodable requests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import grpc
import pytest
from structlog.testing import capture_logs

from router.auth import add_token
from router.client import ClientError, RouterClient
from router.decisions import DecisionRow
from router.metrics import OTHER_APP, Metrics

# --- finding 5: GetStats and app tokens ----------------------------------------------------------


@pytest.fixture
def with_tokens(daemon_factory: Any, tmp_path: Path) -> tuple[Any, dict[str, str]]:
    path = tmp_path / "tokens"
    tokens = {app: add_token(path, app) for app in ("notes", "mail", "admin")}
    return daemon_factory(app_tokens=path), tokens


def test_get_stats_needs_a_token(with_tokens: tuple[Any, dict[str, str]]) -> None:
    runner, tokens = with_tokens
    for app in ("notes", "mail"):
        with RouterClient(target=runner.target, token=tokens[app]) as client:
            client.classify("Hello", app_id=app)
    for token in (None, "hr_wrong-token"):
        with RouterClient(target=runner.target, token=token) as client, pytest.raises(ClientError) as e:
            client.stats()
        assert e.value.code == "UNAUTHENTICATED"


def test_an_app_token_sees_its_own_stats_and_the_admin_sees_all(
    with_tokens: tuple[Any, dict[str, str]],
) -> None:
    runner, tokens = with_tokens
    for app in ("notes", "mail"):
        with RouterClient(target=runner.target, token=tokens[app]) as client:
            client.classify("Hello", app_id=app)
    with RouterClient(target=runner.target, token=tokens["notes"]) as client:
        own = client.stats()
    assert {r.app_id for r in own.requests} == {"notes"}
    with RouterClient(target=runner.target, token=tokens["admin"]) as client:
        everything = client.stats()
    assert {r.app_id for r in everything.requests} == {"notes", "mail"}


def test_failed_authentication_is_logged_without_the_token(
    with_tokens: tuple[Any, dict[str, str]],
) -> None:
    runner, tokens = with_tokens
    wrong = "hr_this-is-not-a-valid-token-0123456789"
    with capture_logs() as logs:
        with RouterClient(target=runner.target, token=wrong) as client, pytest.raises(ClientError):
            client.route("Hello", app_id="notes")
        with RouterClient(target=runner.target, token=tokens["mail"]) as client, pytest.raises(ClientError):
            client.classify("Hello", app_id="notes")  # a real token claiming another app
        with RouterClient(target=runner.target) as client, pytest.raises(ClientError):
            client.stats()
    failures = [e for e in logs if e["event"] == "auth_failed"]
    assert [e["method"] for e in failures] == ["Route", "Classify", "GetStats"]
    assert failures[1]["error_type"] == "PermissionDenied"
    assert wrong not in repr(logs) and tokens["mail"] not in repr(logs)


# --- finding 7: bounded app labels ---------------------------------------------------------------


def _row(i: int, app: str) -> DecisionRow:
    return DecisionRow(
        id=f"r{i}", ts=1.0, app=app, kind="route", route="local", decided_route="local", rule="r", reason=""
    )


def test_app_labels_are_capped_and_the_rest_folded() -> None:
    metrics = Metrics(max_apps=3)
    for i in range(500):
        metrics.observe(_row(i, f"app{i}"))
    apps = {r["app_id"] for r in metrics.snapshot()["requests"]}
    assert apps == {"app0", "app1", "app2", OTHER_APP}
    other = [r for r in metrics.snapshot()["requests"] if r["app_id"] == OTHER_APP]
    assert other[0]["count"] == 497
    text = metrics.render().decode()
    assert "app499" not in text and f'app="{OTHER_APP}"' in text
    metrics.observe(_row(501, "app1"))  # a known app keeps its own label
    assert [r["count"] for r in metrics.snapshot("app1")["requests"]] == [2]


def test_get_stats_stays_small_with_many_app_ids(daemon_factory: Any) -> None:
    runner = daemon_factory(stats_max_apps=20)
    with RouterClient(target=runner.target) as client:
        for i in range(60):
            client.classify("Hi", app_id=f"invented-{i}")
        stats = client.stats()
    apps = {r.app_id for r in stats.requests}
    assert len(apps) == 21 and OTHER_APP in apps
    assert sum(r.count for r in stats.requests) == 60


# --- finding 8: requests that do not decode ------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        b"\x0a\x05\x0a\x03\xff\xfe\xfd",  # messages[0].role is not UTF-8
        b"\x12\x02\xc3\x28",  # app_id is not UTF-8
        b"\xff\xff\xff\xff",  # not protobuf at all
    ],
)
@pytest.mark.parametrize("method", ["Route", "Classify", "RouteStream"])
def test_undecodable_requests_are_invalid_argument(daemon: Any, raw: bytes, method: str) -> None:
    with grpc.insecure_channel(daemon.target) as channel:
        path = f"/router.v1.Router/{method}"
        call: Any = (
            channel.unary_stream(path) if method == "RouteStream" else channel.unary_unary(path)
        )  # no serializers: the raw bytes go out as they are
        with pytest.raises(grpc.RpcError) as e:
            result = call(raw, timeout=30)
            if method == "RouteStream":
                list(result)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    details = e.value.details() or ""
    assert "router.v1.RouteRequest" in details
    assert "DecodeError" not in details and "Exception" not in details
