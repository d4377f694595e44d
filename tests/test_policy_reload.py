"""PolicyStore: hot reload on file change and on SIGHUP; a bad file keeps the last good policy."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import structlog

from router.errors import ConfigError
from router.policy_store import PolicyStore
from router.types import (
    ComplexityReport,
    DecisionContext,
    Message,
    PrivacyReport,
    PromptTokens,
    Request,
    Route,
)

GOOD_LOCAL = "default: local\nbudgets: {global: {requests_per_day: 5}}\nrules: []\n"
GOOD_CLOUD = "default: cloud\nbudgets: {global: {requests_per_day: 1}}\nrules: []\n"
BAD = "default: local\nrules:\n  - {name: a, action: clod}\n"


@pytest.fixture(autouse=True)
def _reset_structlog() -> Iterator[None]:
    structlog.reset_defaults()
    yield
    structlog.reset_defaults()


def ctx() -> DecisionContext:
    return DecisionContext(
        request=Request(messages=(Message("user", "hi"),), app_id="app"),
        privacy=PrivacyReport(0.0),
        complexity=ComplexityReport(0.9),
        tokens=PromptTokens.known(3),
        cloud_configured=True,
        cloud_healthy=True,
    )


@pytest.fixture
def policy_file(tmp_path: Path) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(GOOD_LOCAL)
    return path


def test_policy_does_not_reach_back_into_the_store() -> None:
    # router.policy_store imports router.policy; the reverse import (a lazy re-export) made a cycle.
    import router.policy

    assert not hasattr(router.policy, "PolicyStore")


def test_bad_initial_file_raises(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(BAD)
    with pytest.raises(ConfigError, match=r"p\.yaml:3:23: rules\[0\]\.action"):
        PolicyStore(path)
    with pytest.raises(ConfigError, match="no such policy file"):
        PolicyStore(tmp_path / "missing.yaml")


def test_reload_picks_up_a_new_file(policy_file: Path) -> None:
    store = PolicyStore(policy_file)
    old = store.current
    assert store.current.decide(ctx()).route == Route.LOCAL
    assert store.reload() is True
    assert store.current is old  # unchanged content: same policy
    policy_file.write_text(GOOD_CLOUD)
    assert store.reload() is True
    assert store.current.version != old.version
    d = store.current.decide(ctx())
    assert (d.route, d.policy_version) == (Route.CLOUD, store.version)


def test_bad_file_keeps_the_last_good_policy(policy_file: Path) -> None:
    store = PolicyStore(policy_file)
    good = store.current
    policy_file.write_text(BAD)
    with structlog.testing.capture_logs() as logs:
        assert store.reload() is False
    assert store.current is good
    (event,) = [e for e in logs if e["event"] == "policy_rejected"]
    assert event["log_level"] == "error"
    assert event["active_version"] == good.version
    assert event["problems"] == [
        f"{policy_file}:3:23: rules[0].action: "
        "must be 'local', 'cloud', 'cloud_redacted' or 'deny', not 'clod'"
    ]
    policy_file.unlink()
    assert store.reload() is False
    assert store.current is good


def test_budget_survives_reloads_with_new_limits(policy_file: Path) -> None:
    store = PolicyStore(policy_file)
    store.budget.record("app", "m", 1, 1)
    policy_file.write_text(GOOD_CLOUD)  # requests_per_day: 1, already used
    assert store.reload()
    assert store.current.budget is store.budget
    assert store.budget.usage().requests == 1
    d = store.current.decide(ctx())
    assert d.route == Route.LOCAL and "budget spent" in d.reason


async def _until(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.02)
    return predicate()


def test_watch_reloads_on_change_and_rejects_bad_files(policy_file: Path) -> None:
    store = PolicyStore(policy_file)
    first = store.version

    async def scenario() -> None:
        task = store.start_watching(interval_s=0.02)
        try:
            policy_file.write_text(GOOD_CLOUD)
            assert await _until(lambda: store.version != first)
            second = store.version
            with structlog.testing.capture_logs() as logs:
                policy_file.write_text(BAD)
                assert await _until(lambda: any(e["event"] == "policy_rejected" for e in logs))
                await asyncio.sleep(0.1)  # more polls: the same bad file is not reported again
            assert store.version == second
            assert [e["event"] for e in logs].count("policy_rejected") == 1
        finally:
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    asyncio.run(scenario())


def test_sighup_reloads(policy_file: Path) -> None:
    store = PolicyStore(policy_file)
    first = store.version

    async def scenario() -> None:
        store.install_sighup()
        try:
            policy_file.write_text(GOOD_CLOUD)
            os.kill(os.getpid(), signal.SIGHUP)
            assert await _until(lambda: store.version != first)
        finally:
            store.remove_sighup()

    asyncio.run(scenario())
    assert store.current.decide(ctx()).route == Route.CLOUD
