"""Shared fixtures: the real default model (loaded once), a live daemon, the cloud stand-in."""

from __future__ import annotations

import asyncio
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog

from router import backends
from router.backends.base import Backend
from router.config import build_settings
from router.model import resolve_model
from tests.standin import CloudStandIn

SHARED_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"


@pytest.fixture(autouse=True)
def _reset_structlog() -> Iterator[None]:
    structlog.reset_defaults()
    yield
    structlog.reset_defaults()


@pytest.fixture(scope="session")
def model_path() -> Path:
    """The default model file, assembled from its PyPI package on first use."""
    return resolve_model(None)


@pytest.fixture(scope="session")
def llama_backend(model_path: Path) -> Iterator[Backend]:
    """The real default model, loaded once per test session. Tests that hand it to a daemon must not
    close it: `DaemonRunner` detaches it before the daemon stops."""
    backend = backends.load_backend("llama_cpp", model_path, n_ctx=2048, default_max_tokens=32)
    yield backend
    backend.close()


@pytest.fixture(scope="session")
def gemma_backend() -> Iterator[Backend]:
    """Gemma 3 270M, a base model that reliably echoes its prompt (the answer checks' real test case)."""
    from router.model import GEMMA3_270M, known_path

    path = known_path(GEMMA3_270M)
    if not path.is_file():
        pytest.skip("Gemma 3 270M is not assembled: run `router model assemble gemma-3-270m`")
    backend = backends.load_backend("llama_cpp", path, n_ctx=2048, default_max_tokens=32)
    yield backend
    backend.close()


@pytest.fixture
def cloud() -> Iterator[CloudStandIn]:
    with CloudStandIn() as server:
        yield server


class _KeepOpen(Backend):
    """Wraps the session backend so a daemon's shutdown does not free the shared model."""

    def __init__(self, inner: Backend) -> None:
        self._inner = inner
        self.info = inner.info
        self.name = inner.name  # type: ignore[misc]
        self.capabilities = inner.capabilities

    def format_prompt(self, messages: Any) -> str:
        return self._inner.format_prompt(messages)

    def count_tokens(self, text: str) -> int:
        return self._inner.count_tokens(text)

    def max_tokens(self, text: str) -> int | None:
        return self._inner.max_tokens(text)

    def stream(self, prompt: str, options: Any, cancel: threading.Event) -> Any:
        return self._inner.stream(prompt, options, cancel)

    def prefill(self, prompt: str) -> Any:
        return self._inner.prefill(prompt)

    @property
    def sampling(self) -> Any:
        return getattr(self._inner, "sampling", None)

    def close(self) -> None:
        pass


class DaemonRunner:
    """Runs a real daemon (grpc.aio) on its own event loop thread, on a Unix socket under tmp_path."""

    def __init__(self, backend: Backend | None, **settings: Any) -> None:
        """`backend` None: the daemon loads its own from the settings (e.g. --local-url)."""
        self.settings = build_settings(**settings)
        self._backend = _KeepOpen(backend) if backend is not None else None
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="daemon-loop", daemon=True)
        self.daemon: Any = None

    def start(self) -> DaemonRunner:
        from router.daemon import create_daemon

        self._thread.start()
        self.daemon = self.call(create_daemon(self.settings, backend=self._backend))
        self.call(self.daemon.start())
        return self

    def call(self, coro: Any, timeout: float = 120) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    @property
    def target(self) -> str:
        return str(self.daemon.target)

    @property
    def socket(self) -> Path:
        return self.settings.socket_path

    def stop(self, grace: float = 5.0) -> None:
        if self.loop.is_closed():
            return
        if self.daemon is not None:
            self.call(self.daemon.stop(grace))
            self.daemon = None
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


@pytest.fixture
def daemon_factory(llama_backend: Backend, tmp_path: Path) -> Iterator[Any]:
    """Start daemons with settings overrides; each is stopped at the end of the test."""
    runners: list[DaemonRunner] = []

    def start(backend: Backend | None = None, **settings: Any) -> DaemonRunner:
        settings.setdefault("state_dir", tmp_path / f"state{len(runners)}")
        # Unix socket paths are limited to ~107 bytes: keep them short, outside tmp_path.
        settings.setdefault("socket", Path(tempfile.mkdtemp(prefix="hr-", dir="/tmp")) / "router.sock")
        runner = DaemonRunner(backend or llama_backend, **settings).start()
        runners.append(runner)
        return runner

    yield start
    for runner in runners:
        runner.stop()


@pytest.fixture
def daemon(daemon_factory: Any) -> DaemonRunner:
    """A daemon with no cloud configured."""
    return daemon_factory()  # type: ignore[no-any-return]
