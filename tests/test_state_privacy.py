"""The decision log keeps no recoverable prompt (#18, finding 4): a keyed prompt hash, private files
whatever the umask."""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from router import decisions
from router.client import RouterClient
from router.types import Message, Request

PIN_PROMPT = "My bank PIN is {:04d}, is that safe?"


@pytest.fixture
def loose_umask() -> Iterator[None]:
    old = os.umask(0o022)  # the usual interactive umask: files 0644, directories 0755
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def rows(runner: Any) -> list[dict[str, Any]]:
    assert runner.daemon.decisions.flush(10)
    with decisions.reader(runner.settings.decisions_db) as db:
        return decisions.tail(db, 100)


def test_state_dir_database_and_key_are_private(
    daemon_factory: Any, tmp_path: Path, loose_umask: None
) -> None:
    runner = daemon_factory(state_dir=tmp_path / "fresh" / "state")
    with RouterClient(target=runner.target) as client:
        client.classify("Hello")
    assert runner.daemon.decisions.flush(10)
    state = runner.settings.state_dir
    assert mode(state) == 0o700
    assert mode(state / "decisions.db") == 0o600
    assert mode(state / decisions.HASH_KEY_FILE) == 0o600
    for extra in ("decisions.db-wal", "decisions.db-shm"):
        if (state / extra).exists():
            assert mode(state / extra) == 0o600


def test_an_existing_loose_state_dir_is_tightened(
    daemon_factory: Any, tmp_path: Path, loose_umask: None
) -> None:
    state = tmp_path / "old-state"
    state.mkdir(mode=0o755)
    (state / "decisions.db").touch(mode=0o644)
    os.chmod(state / "decisions.db", 0o644)
    runner = daemon_factory(state_dir=state)
    assert mode(state) == 0o700
    assert mode(state / "decisions.db") == 0o600
    assert runner.daemon is not None


def test_a_pin_cannot_be_brute_forced_from_the_log(daemon_factory: Any, tmp_path: Path) -> None:
    runner = daemon_factory(state_dir=tmp_path / "a")
    with RouterClient(target=runner.target) as client:
        client.classify(PIN_PROMPT.format(4821))
        client.classify(PIN_PROMPT.format(4821))
    stored = [r["prompt_hash"] for r in rows(runner)]
    assert len(stored) == 2 and stored[0] == stored[1] != ""  # still correlates rows of one prompt
    # The attack that worked before: hash every candidate the way the log did, look for the stored value.
    candidates = {
        Request(messages=(Message("user", PIN_PROMPT.format(pin)),)).prompt_hash: pin for pin in range(10_000)
    }
    assert candidates[Request(messages=(Message("user", PIN_PROMPT.format(4821)),)).prompt_hash] == 4821
    assert stored[0] not in candidates
    plain = hashlib.sha256(PIN_PROMPT.format(4821).encode()).hexdigest()
    assert not plain.startswith(stored[0])


def test_the_key_is_per_install_and_survives_restarts(daemon_factory: Any, tmp_path: Path) -> None:
    def hash_of(state: Path) -> str:
        runner = daemon_factory(state_dir=state)
        with RouterClient(target=runner.target) as client:
            client.classify("The same prompt")
        value = str(rows(runner)[-1]["prompt_hash"])
        runner.stop()
        return value

    first = hash_of(tmp_path / "one")
    assert hash_of(tmp_path / "one") == first  # the same install: the same key
    assert hash_of(tmp_path / "two") != first  # another install: another key


def test_the_log_stores_only_the_keyed_hash(tmp_path: Path) -> None:
    key = decisions.load_hash_key(tmp_path)
    log = decisions.DecisionLog(tmp_path / "d.db", linger_s=0, hash_key=key)
    row = decisions.DecisionRow(
        id="x", ts=1.0, app="a", kind="route", route="local", decided_route="local", rule="r", reason=""
    )
    row.prompt_hash = "0123456789abcdef"
    log.record(row)
    log.close()
    with decisions.reader(tmp_path / "d.db") as db:
        stored = decisions.get(db, "x")
    assert stored is not None
    assert stored["prompt_hash"] == decisions.keyed_prompt_hash(key, "0123456789abcdef") != "0123456789abcdef"
