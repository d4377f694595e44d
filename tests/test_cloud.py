"""The cloud client against a real OpenAI-compatible server on 127.0.0.1, faults included."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from router.cloud import CircuitBreaker, CloudClient
from router.errors import CloudProtocolError, CloudTimeout, CloudUnavailable
from router.types import GenerationOptions, Message
from tests.standin import CloudStandIn

MESSAGES = (Message("user", "hello cloud"),)
OPTS = GenerationOptions(max_tokens=50)


def client_for(server: CloudStandIn, **kwargs: Any) -> CloudClient:
    kwargs.setdefault("retries", 2)
    return CloudClient(base_url=server.url, model="standin-model", api_key="sk-test-secret", **kwargs)


async def collect(client: CloudClient, deadline: float | None = None) -> tuple[str, Any]:
    parts, last = [], None
    async for piece in client.stream(MESSAGES, OPTS, deadline):
        parts.append(piece.text)
        last = piece
    return "".join(parts), last


def test_complete_and_key_header(cloud: CloudStandIn) -> None:
    async def run() -> None:
        client = client_for(cloud)
        answer = await client.complete(MESSAGES, OPTS)
        await client.aclose()
        assert answer.text == "Cloud answer: hello cloud"
        assert answer.usage.completion_tokens == 4
        assert cloud.headers[0]["authorization"] == "Bearer sk-test-secret"
        assert cloud.requests[0]["model"] == "standin-model"
        assert cloud.requests[0]["max_tokens"] == 50

    asyncio.run(run())


def test_stream_pieces_and_usage(cloud: CloudStandIn) -> None:
    async def run() -> None:
        client = client_for(cloud)
        text, last = await collect(client)
        await client.aclose()
        assert text == "Cloud answer: hello cloud"
        assert last.finish_reason == "stop"
        assert last.usage.completion_tokens == 4

    asyncio.run(run())


@pytest.mark.parametrize("fault", ["http500", "http429"])
def test_retries_then_succeeds(cloud: CloudStandIn, fault: str) -> None:
    cloud.retry_after = 0
    cloud.faults.extend([fault])

    async def run() -> None:
        client = client_for(cloud)
        answer = await client.complete(MESSAGES, OPTS)
        await client.aclose()
        assert answer.text.startswith("Cloud answer")
        assert len(cloud.requests) == 2

    asyncio.run(run())


def test_retry_after_past_deadline_gives_up_in_time(cloud: CloudStandIn) -> None:
    cloud.retry_after = 30
    cloud.faults.extend(["http429"] * 3)

    async def run() -> None:
        client = client_for(cloud)
        t0 = time.monotonic()
        with pytest.raises(CloudUnavailable, match="429"):
            await client.complete(MESSAGES, OPTS, deadline=time.monotonic() + 2)
        assert time.monotonic() - t0 < 2
        await client.aclose()

    asyncio.run(run())


def test_400_is_not_retried(cloud: CloudStandIn) -> None:
    cloud.faults.append("http400")

    async def run() -> None:
        client = client_for(cloud)
        with pytest.raises(CloudUnavailable, match="400"):
            await client.complete(MESSAGES, OPTS)
        await client.aclose()
        assert len(cloud.requests) == 1

    asyncio.run(run())


def test_malformed_json(cloud: CloudStandIn) -> None:
    cloud.faults.extend(["malformed", "malformed"])

    async def run() -> None:
        client = client_for(cloud, retries=0)
        with pytest.raises(CloudProtocolError):
            await client.complete(MESSAGES, OPTS)
        with pytest.raises(CloudProtocolError):
            await collect(client)
        await client.aclose()

    asyncio.run(run())


@pytest.mark.parametrize("fault", ["break", "nodone"])
def test_broken_stream(cloud: CloudStandIn, fault: str) -> None:
    cloud.faults.append(fault)

    async def run() -> None:
        client = client_for(cloud, retries=0)
        with pytest.raises(CloudProtocolError):
            await collect(client)
        await client.aclose()

    asyncio.run(run())


def test_hang_times_out_within_deadline(cloud: CloudStandIn) -> None:
    cloud.hang_s = 5
    cloud.faults.extend(["hang"] * 3)

    async def run() -> None:
        client = client_for(cloud)
        t0 = time.monotonic()
        with pytest.raises(CloudTimeout):
            await client.complete(MESSAGES, OPTS, deadline=time.monotonic() + 1.0)
        assert time.monotonic() - t0 < 2.0
        await client.aclose()

    asyncio.run(run())


def test_slow_drip_stopped_by_deadline(cloud: CloudStandIn) -> None:
    cloud.drip_s = 0.3
    cloud.faults.append("drip")

    async def run() -> None:
        client = client_for(cloud)
        t0 = time.monotonic()
        with pytest.raises(CloudTimeout):
            await collect(client, deadline=time.monotonic() + 1.0)
        assert time.monotonic() - t0 < 2.0
        await client.aclose()

    asyncio.run(run())


def test_connection_refused_is_unavailable() -> None:
    async def run() -> None:
        client = CloudClient(base_url="http://127.0.0.1:9/v1", model="m", retries=1)
        with pytest.raises(CloudUnavailable, match="cannot reach"):
            await client.complete(MESSAGES, OPTS)
        await client.aclose()

    asyncio.run(run())


def test_circuit_opens_and_probes_again(cloud: CloudStandIn) -> None:
    breaker = CircuitBreaker(threshold=2, cooldown_s=0.3)
    cloud.faults.extend(["http400", "http400"])

    async def run() -> None:
        client = client_for(cloud, retries=0, breaker=breaker)
        for _ in range(2):
            with pytest.raises(CloudUnavailable):
                await client.complete(MESSAGES, OPTS)
        assert breaker.state == "open"
        with pytest.raises(CloudUnavailable, match="circuit is open"):
            await client.complete(MESSAGES, OPTS)
        assert len(cloud.requests) == 2  # nothing sent while open
        await asyncio.sleep(0.35)
        assert breaker.state == "half_open"
        answer = await client.complete(MESSAGES, OPTS)  # the probe succeeds
        assert answer.text
        assert breaker.state == "closed"
        await client.aclose()

    asyncio.run(run())
