"""`router serve` as a real process: the CLI end to end, SIGTERM under load, kill -9 under load."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from router.client import ClientError, RouterClient

ROUTER = [sys.executable, "-m", "router"]


class Served:
    def __init__(self, state_dir: Path, model_path: Path, *extra: str) -> None:
        self.state_dir = state_dir
        self.socket = Path(tempfile.mkdtemp(prefix="hr-", dir="/tmp")) / "router.sock"
        self.env = {
            **os.environ,
            "ROUTER_STATE_DIR": str(state_dir),
            "ROUTER_MODEL": str(model_path),
            "ROUTER_N_CTX": "1024",
            "ROUTER_DEFAULT_MAX_TOKENS": "16",
            "ROUTER_SOCKET": str(self.socket),
        }
        self.env.pop("ROUTER_CLOUD_URL", None)
        state_dir.mkdir(parents=True, exist_ok=True)
        self.log = (state_dir / "daemon.log").open("wb")
        self.proc = subprocess.Popen(
            [*ROUTER, "serve", "--log-format", "json", *extra],
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 120
        while True:
            if self.proc.poll() is not None:
                raise AssertionError("daemon exited: " + (state_dir / "daemon.log").read_text()[-2000:])
            if self.socket.exists():
                try:
                    with RouterClient(socket=self.socket, timeout=2) as c:
                        if c.health() == "SERVING":
                            break
                except ClientError:
                    pass
            if time.monotonic() > deadline:
                raise AssertionError("daemon did not start")
            time.sleep(0.1)

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*ROUTER, *args], env=self.env, capture_output=True, text=True, timeout=120)

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        code = self.proc.wait(60)
        self.log.close()
        return code


@pytest.fixture
def served(tmp_path: Path, model_path: Path) -> Iterator[Served]:
    s = Served(tmp_path / "state", model_path)
    yield s
    s.stop(signal.SIGKILL)


def test_cli_ask_classify_and_decisions(served: Served) -> None:
    r = served.cli("ask", "Hello")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip()
    assert "[decision] route=local" in r.stderr
    r = served.cli("ask", "Hello", "--stream", "--max-tokens", "4")
    assert r.returncode == 0, r.stderr
    assert "[decision]" in r.stderr
    r = served.cli("ask", "Hi", "--json", "--max-tokens", "3")
    reply = json.loads(r.stdout)
    assert reply["decision"]["route"] == "local"
    r = served.cli("classify", "What is 2+2?")
    assert r.returncode == 0, r.stderr
    decision = json.loads(r.stdout)
    assert {"route", "complexity", "privacy", "findings", "rule", "stage"} <= set(decision)


def test_cli_errors_are_one_line(served: Served, tmp_path: Path) -> None:
    r = served.cli("ask", "Hi", "--max-tokens", "-5")
    assert r.returncode == 1
    assert r.stderr.strip().count("\n") == 0
    assert "INVALID_ARGUMENT" in r.stderr and "max_tokens" in r.stderr
    r = served.cli("ask", "Hi", "--socket", str(tmp_path / "nope.sock"))
    assert r.returncode == 1
    assert "no daemon socket" in r.stderr
    r = served.cli("serve", "--listen", "127.0.0.1:0")
    assert r.returncode == 1
    assert "TLS" in r.stderr


def _load(socket: Path, answered: list[str], stop: threading.Event, errors: list[str]) -> None:
    with RouterClient(socket=socket, timeout=30) as client:
        while not stop.is_set():
            try:
                answered.append(client.route("Say hi.", max_tokens=4).decision.id)
            except ClientError as e:
                errors.append(e.code)
                if e.code == "UNAVAILABLE":
                    return


def _run_load(
    served: Served, seconds: float
) -> tuple[list[str], list[str], threading.Event, list[threading.Thread]]:
    answered: list[str] = []
    errors: list[str] = []
    stop = threading.Event()
    threads = [threading.Thread(target=_load, args=(served.socket, answered, stop, errors)) for _ in range(3)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 60
    while len(answered) < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(seconds)
    return answered, errors, stop, threads


def test_sigterm_under_load_keeps_every_row(served: Served) -> None:
    answered, _errors, stop, threads = _run_load(served, 0.5)
    assert served.stop(signal.SIGTERM) == 0
    stop.set()
    for t in threads:
        t.join(30)
    assert answered
    with sqlite3.connect(served.state_dir / "decisions.db") as db:
        ids = {row[0] for row in db.execute("select id from decisions")}
    missing = set(answered) - ids
    assert not missing, f"{len(missing)} answered requests have no row"


def test_kill_9_under_load_leaves_a_sound_database(served: Served, model_path: Path) -> None:
    _answered, _errors, stop, threads = _run_load(served, 0.5)
    served.stop(signal.SIGKILL)
    stop.set()
    for t in threads:
        t.join(30)
    db = sqlite3.connect(served.state_dir / "decisions.db")
    assert db.execute("pragma integrity_check").fetchone()[0] == "ok"
    db.close()
    again = Served(served.state_dir, model_path)
    try:
        with RouterClient(socket=again.socket) as client:
            assert client.route("Hi", max_tokens=2).decision.route == "local"
    finally:
        assert again.stop() == 0


def test_logs_are_json_lines_without_prompt_text(served: Served) -> None:
    served.cli("ask", "my secret phrase is pineapple-horizon", "--max-tokens", "2")
    served.stop()
    lines = (served.state_dir / "daemon.log").read_text().splitlines()
    events = [json.loads(line) for line in lines if line.startswith("{")]
    assert any(e.get("event") == "decision" for e in events)
    assert "pineapple-horizon" not in "\n".join(lines)
