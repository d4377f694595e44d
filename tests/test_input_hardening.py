"""Smaller findings of the adversarial pass (#18, finding 8): what a careless client or operator can
send, and what comes back."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from router.auth import AppTokens, hash_token
from router.client import ClientError, RouterClient
from router.config import build_settings
from router.errors import ConfigError, InvalidRequest, PermissionDenied
from router.policy import check_policy
from router.policy_store import MAX_POLICY_BYTES, PolicyStore
from router.requests import build_request

POLICY = Path(__file__).parent / "policies" / "by-metadata.yaml"

ALIAS_BOMB = """\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
rules: [*h,*h,*h,*h,*h,*h,*h,*h,*h]
default: local
"""


def test_app_id_with_a_trailing_newline_is_refused() -> None:
    with pytest.raises(InvalidRequest, match="app_id"):
        build_request([("user", "hi")], app_id="notes\n")
    assert build_request([("user", "hi")], app_id="notes").app_id == "notes"


def test_a_request_needs_a_user_message() -> None:
    with pytest.raises(InvalidRequest, match="role 'user'"):
        build_request([("system", "You are terse.")])
    assert build_request([("system", "You are terse."), ("user", "hi")]).messages[-1].role == "user"


def test_error_messages_do_not_quote_unbounded_input() -> None:
    with pytest.raises(InvalidRequest) as e:
        build_request([("x" * 1_000_000, "hi")])
    assert len(e.value.message) < 200 and "1000000 characters" in e.value.message
    tokens = AppTokens({"notes": hash_token("hr_t")})
    with pytest.raises(PermissionDenied) as p:
        tokens.authenticate("Bearer hr_t", "y" * 1_000_000)
    assert len(p.value.message) < 200


def test_a_huge_role_is_invalid_argument_through_the_daemon(daemon: Any) -> None:
    with RouterClient(target=daemon.target) as client, pytest.raises(ClientError) as e:
        client.route([{"role": "r" * 1_000_000, "content": "hi"}])  # type: ignore[list-item]
    assert e.value.code == "INVALID_ARGUMENT"
    assert len(e.value.message) < 200


def test_the_tls_refusal_names_the_right_flags() -> None:
    with pytest.raises(ConfigError) as e:
        build_settings(listen="127.0.0.1:50051")
    message = e.value.message
    assert "--tls-cert" in message and "--insecure" in message
    assert "--settings" not in message and "ROUTER_SETTINGS" not in message


def test_insecure_tcp_without_tokens_warns(daemon_factory: Any) -> None:
    with capture_logs() as logs:
        daemon_factory(listen="127.0.0.1:0", insecure=True)
    assert any(e["event"] == "insecure_tcp_without_tokens" for e in logs)


def test_a_yaml_alias_bomb_is_refused_at_once(tmp_path: Path) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(ALIAS_BOMB)
    t0 = time.monotonic()
    problems = check_policy(path)
    assert time.monotonic() - t0 < 2  # before: over a minute of CPU
    assert any("aliases" in p for p in problems)


def test_a_reload_rejects_an_alias_bomb_and_keeps_the_policy(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY.read_text())
    store = PolicyStore(path)
    version = store.version
    path.write_text(ALIAS_BOMB)
    t0 = time.monotonic()
    assert store.reload() is False
    assert time.monotonic() - t0 < 2
    assert store.version == version
    path.write_bytes(b"#" * (MAX_POLICY_BYTES + 10))
    assert store.reload() is False
    with pytest.raises(ConfigError, match="larger than"):
        PolicyStore(path)
