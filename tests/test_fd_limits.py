"""Descriptor exhaustion (#18, finding 3): a daemon under a low descriptor limit, flooded with idle
connections, answers fast (a status, not a hang) and recovers on its own.

The daemon is a real `router serve` process started with RLIMIT_NOFILE 256 (soft = hard: it cannot
raise it); the flood is 400 Unix-socket connections that never speak HTTP/2. Before: every client hung
to its deadline for as long as the flood stayed.
"""

from __future__ import annotations

import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from router.app import RESERVED_FDS, connection_limit, raise_fd_limit
from router.client import ClientError, RouterClient
from router.config import build_settings
from tests.slowreader import NonReader

LIMIT = 256


def _low_limit() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (LIMIT, LIMIT))


@pytest.fixture
def limited_daemon(tmp_path: Path, model_path: Path) -> Iterator[Path]:
    sock = Path(tempfile.mkdtemp(prefix="hr-", dir="/tmp")) / "router.sock"
    env = {
        **os.environ,
        "ROUTER_STATE_DIR": str(tmp_path / "state"),
        "ROUTER_MODEL": str(model_path),
        "ROUTER_N_CTX": "512",
        "ROUTER_DEFAULT_MAX_TOKENS": "8",
        "ROUTER_SOCKET": str(sock),
        "ROUTER_HANDSHAKE_TIMEOUT_S": "2",
        "ROUTER_N_THREADS": "1",
    }
    env.pop("ROUTER_CLOUD_URL", None)
    log = (tmp_path / "daemon.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "router", "serve", "--log-format", "json"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        preexec_fn=_low_limit,
    )
    try:
        deadline = time.monotonic() + 120
        while not _answers(sock):
            assert proc.poll() is None, (tmp_path / "daemon.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "the daemon did not start"
            time.sleep(0.2)
        yield sock
        assert proc.poll() is None, "the daemon died under the flood"
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(60)
        log.close()


def _answers(sock: Path, timeout: float = 2.0) -> bool:
    try:
        with RouterClient(socket=sock, timeout=timeout) as client:
            client.classify("Hello")
        return True
    except ClientError:
        return False


def _call(sock: Path, timeout: float = 5.0) -> tuple[str, float]:
    t0 = time.monotonic()
    try:
        with RouterClient(socket=sock, timeout=timeout) as client:
            client.classify("Hello")
        return "OK", time.monotonic() - t0
    except ClientError as e:
        return e.code, time.monotonic() - t0


def test_idle_connection_flood_under_a_low_descriptor_limit(limited_daemon: Path) -> None:
    flood = []
    try:
        for _ in range(400):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(str(limited_daemon))
            flood.append(s)
        time.sleep(0.5)
        # While the flood is there: an answer or a fast, clear refusal; never a hang to the deadline.
        code, took = _call(limited_daemon, timeout=10)
        assert code in ("OK", "UNAVAILABLE") and took < 6, (code, took)
        # The flood never finishes its handshake: the daemon drops it (ROUTER_HANDSHAKE_TIMEOUT_S=2)
        # and serves again although the flooding client keeps its sockets.
        end = time.monotonic() + 15
        while _call(limited_daemon, 2)[0] != "OK":
            assert time.monotonic() < end, "no recovery while the idle flood stays"
            time.sleep(0.2)
    finally:
        for s in flood:
            s.close()
    # And once the flood is gone, at once.
    t0 = time.monotonic()
    while _call(limited_daemon, 2)[0] != "OK":
        assert time.monotonic() - t0 < 5
        time.sleep(0.1)


def test_connections_are_capped_below_the_descriptor_limit() -> None:
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    settings = build_settings(max_connections=1_000_000)
    if soft != resource.RLIM_INFINITY:
        assert connection_limit(settings) == soft - RESERVED_FDS
        assert connection_limit(settings, bridged=True) == (soft - RESERVED_FDS) // 3
    assert connection_limit(build_settings(max_connections=10)) == 10


def test_the_soft_descriptor_limit_is_raised_to_the_hard_one() -> None:
    code = (
        "import resource; from router.app import raise_fd_limit;"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (128, 512));"
        "print(raise_fd_limit(), resource.getrlimit(resource.RLIMIT_NOFILE))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "(512, 512) (512, 512)"
    assert raise_fd_limit  # imported: the function the daemon calls at start-up


def test_calls_beyond_the_concurrency_cap_get_resource_exhausted(daemon_factory: Any) -> None:
    runner = daemon_factory(max_concurrent_rpcs=2, stream_stall_s=20)
    request = RouterClient.build_request("Hello", max_tokens=4)
    holders = [NonReader(runner.target, request) for _ in range(2)]  # two calls held open
    try:
        with RouterClient(target=runner.target, timeout=10) as client, pytest.raises(ClientError) as e:
            client.classify("Hello")
        assert e.value.code == "RESOURCE_EXHAUSTED"
    finally:
        for h in holders:
            h.close()
