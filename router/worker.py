"""One thread owns the resident model; requests wait for it in a bounded queue.

A job is a generator function `fn(backend, cancel)` run on the worker thread; each item it yields is
handed to the asyncio caller as it is produced. A full queue raises Overloaded at once (never a hang).
When the caller stops listening (client gone, deadline passed), the job's `cancel` event is set: a
queued job is skipped, a running one stops at its next token and frees the worker. A caller that stops
taking what the job yields (a stream whose client does not read) cannot make the worker generate into
an unbounded buffer: past `max_unread` items not yet taken, the job ends with Cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
import time
from collections.abc import AsyncGenerator, Callable, Iterator
from typing import Any

import structlog

from router.backends.base import Backend
from router.errors import BackendError, Cancelled, Overloaded, RouterError

log = structlog.get_logger("router.worker")

JobFn = Callable[[Backend, threading.Event], Iterator[Any]]

_ITEM, _ERROR, _DONE = "item", "error", "done"


class Job:
    def __init__(self, fn: JobFn, loop: asyncio.AbstractEventLoop, max_unread: int | None = None) -> None:
        self.fn = fn
        self.max_unread = max_unread
        self.emitted = 0  # items yielded by fn (written by the worker thread only)
        self.taken = 0  # items taken by the caller (written by the event loop only)
        self.cancel = threading.Event()
        self.enqueued_at = time.monotonic()
        self.started_at: float | None = None
        self._loop = loop
        self._events: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()

    @property
    def queue_ms(self) -> float:
        end = self.started_at if self.started_at is not None else time.monotonic()
        return (end - self.enqueued_at) * 1000

    def _emit(self, kind: str, value: Any = None) -> None:
        try:
            self._loop.call_soon_threadsafe(self._events.put_nowait, (kind, value))
        except RuntimeError:  # the event loop is closed: nobody is listening any more
            self.cancel.set()

    async def results(self) -> AsyncGenerator[Any, None]:
        try:
            while True:
                kind, value = await self._events.get()
                if kind == _ITEM:
                    self.taken += 1
                    yield value
                elif kind == _ERROR:
                    raise value
                else:
                    return
        finally:
            self.cancel.set()


class LocalWorker:
    def __init__(self, backend: Backend, queue_size: int, max_unread: int | None = None) -> None:
        self.backend = backend
        self.queue_size = queue_size
        self.max_unread = max_unread
        self._jobs: queue.Queue[Job | None] = queue.Queue(maxsize=queue_size)
        self._busy = False
        self._thread = threading.Thread(target=self._run, name="local-model", daemon=True)
        self._thread.start()

    @property
    def alive(self) -> bool:
        """The worker thread is running (the systemd watchdog stops pinging when it is not)."""
        return self._thread.is_alive()

    @property
    def waiting(self) -> int:
        """Jobs waiting for the model (the queue holds at most `queue_size`)."""
        return self._jobs.qsize()

    @property
    def depth(self) -> int:
        """Jobs waiting plus the one running."""
        return self._jobs.qsize() + int(self._busy)

    def submit(self, fn: JobFn) -> Job:
        job = Job(fn, asyncio.get_running_loop(), self.max_unread)
        try:
            self._jobs.put_nowait(job)
        except queue.Full:
            raise Overloaded(
                f"the local model's queue is full ({self.queue_size} requests waiting); retry shortly",
                retry_after_s=1.0,
            ) from None
        return job

    async def run(self, fn: JobFn) -> tuple[Any, float]:
        """Run a job that yields one result; return it with the time it waited in the queue (ms)."""
        job = self.submit(fn)
        result = None
        async for item in job.results():
            result = item
        return result, job.queue_ms

    def close(self, timeout: float = 5.0) -> None:
        with contextlib.suppress(queue.Full):
            self._jobs.put(None, timeout=timeout)
        self._thread.join(timeout)
        self.backend.close()

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            job.started_at = time.monotonic()
            if job.cancel.is_set():
                job._emit(_DONE)
                continue
            self._busy = True
            try:
                for item in job.fn(self.backend, job.cancel):
                    job._emit(_ITEM, item)
                    job.emitted += 1
                    if job.cancel.is_set():
                        break
                    if job.max_unread is not None and job.emitted - job.taken > job.max_unread:
                        raise Cancelled(
                            f"the caller left {job.emitted - job.taken} pieces unread (a client that does "
                            "not read its stream); generation stopped"
                        )
                job._emit(_DONE)
            except RouterError as e:
                job._emit(_ERROR, e)
            except Exception as e:
                log.exception("local_model_failed", error_type=type(e).__name__)
                job._emit(_ERROR, BackendError(f"the local model failed ({type(e).__name__})"))
            finally:
                self._busy = False
