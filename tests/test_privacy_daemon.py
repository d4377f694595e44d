"""Issue #17 through a live daemon: under the shipped default policy, with a real cloud stand-in on
127.0.0.1, none of the reported leaks reaches the cloud in the clear; a prompt of 199,000 characters is
scanned off the event loop, so a health check made meanwhile stays fast."""

from __future__ import annotations

import asyncio
import base64
import re
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from router import engine
from router.client import RouterClient
from router.types import PrivacyReport
from tests.standin import CloudStandIn

# A task hard enough for the default policy to send it to the cloud when nothing private is found: the
# control below checks that it does, so that a miss of the scorer would show as a leak.
HARD = (
    "Prove that there are infinitely many primes, then derive the prime number theorem's error term "
    "under the Riemann hypothesis and compare it with the best unconditional bound. Context: "
)
KEY_BODY = (
    "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gunVTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u\n"
    "+qKhbwKfBstIs+bMY2Zkp18gnTxKLxoS2tFczGkPLPgizskuemMghRniWaoLcyehkd3qqGElvW/VDL5AaWTg0nLVkjRo9z+40RQz\n"
)
LEAKS = {
    # what must never reach the cloud verbatim -> the prompt that carries it
    "Sup3rS3cretPw": "DATABASE_PASSWORD=Sup3rS3cretPw",
    "q8Zr2LmX9vT4pW7nK3sDq8Zr2LmX9vT4pW7nK3sDq8Zr2LmX9vT4pW7nK3sDq8Zr2LmX9vT4pW7nK3sDq8Zr2LmX==": (
        "DefaultEndpointsProtocol=https;AccountName=acmedata;AccountKey="
        "q8Zr2LmX9vT4pW7nK3sDq8Zr2LmX9vT4pW7nK3sDq8Zr2LmX9vT4pW7nK3sDq8Zr2LmX9vT4pW7nK3sDq8Zr2LmX==;"
        "EndpointSuffix=core.windows.net"
    ),
    "Adm1nPass#42": "curl -u admin:Adm1nPass#42 https://intranet.example.com/api/items",
    KEY_BODY.splitlines()[1][:40]: f"the key file starts with\n{KEY_BODY}",
    "R3d1sPw77": "redis://:R3d1sPw77@cache.internal:6379/0",
    "cvv 123": "card 4111 1111 1111 1111 cvv 123 exp 12/27",
    "12/27": "card 4111 1111 1111 1111 cvv 123 exp 12/27",
    "robert johnson": "robert johnson, ssn 536-22-1234, asked for his file",
    base64.b64encode(b"svc:Sup3rS3cretPw").decode(): "Authorization: Basic "
    + base64.b64encode(b"svc:Sup3rS3cretPw").decode(),
}


@pytest.fixture
def default_daemon(
    daemon_factory: Any, cloud: CloudStandIn, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Any:
    """The shipped default.yaml, every rule as it is, with its `hard` threshold at 0: every clean prompt
    goes to the cloud whatever the complexity head makes of it, so a scorer miss shows as a leak."""
    monkeypatch.setenv("ROUTER_CLOUD_API_KEY", "sk-test-standin-0123456789abcdefghij")
    monkeypatch.setenv("ROUTER_N_THREADS", "1")
    from router.policy import default_policy_path

    policy = tmp_path / "default-all-hard.yaml"
    text = default_policy_path().read_text(encoding="utf-8")
    policy.write_text(re.sub(r"(?m)^(  hard:)\s*[0-9.]+", r"\1 0.0", text), encoding="utf-8")
    return daemon_factory(cloud_url=cloud.url, cloud_model="standin-large", cloud_retries=0, policy=policy)


def test_the_reported_leaks_never_reach_the_cloud_in_the_clear(
    default_daemon: Any, cloud: CloudStandIn
) -> None:
    with RouterClient(target=default_daemon.target) as client:
        control = client.route(HARD + "no private data here.", max_tokens=4)
        assert control.decision.route == "cloud", (
            "the control must reach the cloud, or this test proves nothing"
        )
        assert len(cloud.requests) == 1
        for needle, leak in LEAKS.items():
            reply = client.route(HARD + leak, max_tokens=4)
            assert reply.decision.findings, f"nothing found in {leak!r}"
            sent = repr(cloud.requests[1:])
            assert needle not in sent, f"{needle!r} reached the cloud (route {reply.decision.route})"


def test_a_request_at_the_size_limit_leaves_health_checks_fast(default_daemon: Any) -> None:
    text = "Mr John " * 24875  # 199,000 characters: 24-31 s on the event loop before issue #17
    result: dict[str, Any] = {}

    def classify() -> None:
        with RouterClient(target=default_daemon.target) as client:
            t0 = time.perf_counter()
            result["decision"] = client.classify(text)
            result["seconds"] = time.perf_counter() - t0

    with RouterClient(target=default_daemon.target) as client:
        assert client.health() == "SERVING"
        worker = threading.Thread(target=classify)
        worker.start()
        latencies = []
        while worker.is_alive():
            t0 = time.perf_counter()
            assert client.health() == "SERVING"
            latencies.append(time.perf_counter() - t0)
            time.sleep(0.005)
        worker.join()
    assert result["decision"].findings.get("person", 0) >= 1
    assert result["seconds"] < 10, result
    # No health check waits behind the whole request (one took 24-31 s before issue #17). Most take 1 ms
    # here; the slowest wait for the engine's token count of the prompt (llama.cpp, ~0.17 s for 199,000
    # characters, on the event loop: not the privacy scan, which test_long_texts_are_scanned_off_the_loop
    # checks), and for the GIL on a busy two-core machine.
    assert max(latencies) < 0.5, sorted(latencies)[-5:]
    assert sorted(latencies)[len(latencies) // 2] < 0.05, sorted(latencies)


class _ThreadRecorder:
    def __init__(self) -> None:
        self.threads: list[int] = []

    def scan(self, text: str) -> PrivacyReport:
        self.threads.append(threading.get_ident())
        return PrivacyReport(0.0)


def test_long_texts_are_scanned_off_the_loop_and_short_ones_inline() -> None:
    recorder = _ThreadRecorder()

    async def both() -> int:
        await engine._scan(recorder, "short prompt")
        await engine._scan(recorder, "x" * (engine.PRIVACY_INLINE_CHARS + 1))
        return threading.get_ident()

    loop_thread = asyncio.run(both())
    assert recorder.threads[0] == loop_thread
    assert recorder.threads[1] != loop_thread
