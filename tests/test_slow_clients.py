"""Clients that never read (#18, finding 2): they must not hold the local model or the stream forever.

The non-readers are raw HTTP/2 clients that announce a tiny stream window and never send WINDOW_UPDATE
(tests/slowreader.py). Bounds are generous: before the fix, twenty of them kept a fresh call waiting for
as long as their answers took to generate, and their calls never ended.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from router import decisions
from router.backends.base import Backend
from router.client import RouterClient
from router.errors import Cancelled
from router.worker import LocalWorker
from tests.conftest import _KeepOpen
from tests.slowreader import NonReader

# A prompt the text stage cannot settle: it goes through the model stage (a worker job) first.
UNSETTLED = "What is the capital of France?"


def stream_rows(runner: Any) -> list[dict[str, Any]]:
    assert runner.daemon.decisions.flush(10)
    with decisions.reader(runner.settings.decisions_db) as db:
        return [r for r in decisions.tail(db, 100) if r["kind"] == "stream"]


def test_non_reading_streams_do_not_hold_the_local_model(daemon_factory: Any) -> None:
    runner = daemon_factory(stream_stall_s=3)
    with RouterClient(target=runner.target, timeout=60) as client:
        client.route("Say hi", max_tokens=4)  # warm up
        t0 = time.monotonic()
        client.route("Say hi", max_tokens=4)
        normal = time.monotonic() - t0
        request = RouterClient.build_request(UNSETTLED, max_tokens=500)
        readers = [NonReader(runner.target, request, streams=5) for _ in range(4)]  # twenty streams
        try:
            t0 = time.monotonic()
            reply = client.route("Say hi", max_tokens=4)
            took = time.monotonic() - t0
            assert reply.decision.route == "local"
            # Generous for a loaded machine; before the fix the twenty streams' generation came first.
            assert took < 2 * normal + 8, (took, normal)
            # The non-readers cost no model time at all: nothing of theirs is queued, and nothing runs
            # once the worker thread has finished the reply's own job (it may still be clearing its
            # busy flag when the reply arrives: a moment on a loaded machine).
            worker = runner.daemon.engine.worker
            assert worker.waiting == 0
            settle = time.monotonic() + 1.0
            while worker.depth and time.monotonic() < settle:
                time.sleep(0.01)
            assert worker.depth == 0
        finally:
            for reader in readers:
                reader.close()


def test_a_stream_that_stops_reading_is_cancelled_and_the_row_says_why(daemon_factory: Any) -> None:
    runner = daemon_factory(stream_stall_s=2)
    # A 64-byte window: the first (empty) message gets through, the decision does not.
    request = RouterClient.build_request(UNSETTLED, max_tokens=500)
    reader = NonReader(runner.target, request, window=64)
    try:
        end = time.monotonic() + 30
        rows: list[dict[str, Any]] = []
        while time.monotonic() < end and not rows:
            time.sleep(0.5)
            rows = stream_rows(runner)
        assert rows, "the stalled stream was never ended"
        assert rows[0]["status"] == "Cancelled"
        assert "read nothing for 2 s" in rows[0]["error"]
        # Generation stopped: the worker is free again.
        while time.monotonic() < end and runner.daemon.engine.worker.depth:
            time.sleep(0.1)
        assert runner.daemon.engine.worker.depth == 0
    finally:
        reader.close()


def test_streams_that_read_still_work_with_a_small_stall_limit(daemon_factory: Any) -> None:
    runner = daemon_factory(stream_stall_s=1)
    with RouterClient(target=runner.target, timeout=60) as client:
        events = list(client.stream("Say hi", max_tokens=8))
    assert events[0].route == "local"
    assert events[-1].finish_reason in ("stop", "length")


@pytest.fixture
def worker(llama_backend: Backend) -> Iterator[LocalWorker]:
    w = LocalWorker(_KeepOpen(llama_backend), queue_size=4, max_unread=5)
    yield w
    w.close()


def test_the_model_stops_when_its_output_is_not_taken(worker: LocalWorker) -> None:
    produced: list[int] = []

    def job(backend: Any, cancel: threading.Event) -> Iterator[int]:
        for i in range(10_000):
            produced.append(i)
            time.sleep(0.001)
            yield i

    async def run() -> None:
        handle = worker.submit(job)
        results = handle.results()
        assert await results.__anext__() == 0
        await asyncio.sleep(1.0)  # take nothing more for a while: the job runs ahead, then stops
        with pytest.raises(Cancelled, match="unread"):
            async for _ in results:
                pass

    asyncio.run(run())
    assert len(produced) <= 10  # five unread plus what was taken, not ten thousand
