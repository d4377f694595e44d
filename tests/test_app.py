"""The application core (router.app) knows no transport: it builds the parts, starts the doors after
them and stops the doors before it closes them (issue #19)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

from router.app import App, create_app
from router.backends import Backend
from router.config import build_settings
from tests.conftest import _KeepOpen

ROOT = Path(__file__).resolve().parents[1]


def test_the_app_imports_no_door() -> None:
    code = (
        "import sys, router.app\n"
        "doors = ('grpc', 'h11', 'router.server', 'router.service', 'router.http_door', 'router.v1')\n"
        "loaded = [m for m in doors if m in sys.modules]\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, timeout=120)


class RecordingDoor:
    name = "test"

    def __init__(self, app: App, events: list[str]) -> None:
        self.app = app
        self.events = events
        self.addresses = ["test:0"]

    async def start(self) -> None:
        self.events.append(f"start, metrics port {self.app.metrics_port is not None}")

    async def stop(self, grace: float) -> None:
        # Calls still in flight can finish: the worker and the decision log are still open.
        self.events.append(f"stop {grace}, worker alive {self.app.engine.worker.alive}")


def test_doors_start_after_the_parts_and_stop_before_them(llama_backend: Backend, tmp_path: Path) -> None:
    settings = build_settings(state_dir=tmp_path, metrics_listen="127.0.0.1:0")
    app = create_app(settings, backend=_KeepOpen(llama_backend))
    events: list[str] = []
    states: list[str] = []
    app.add_door(RecordingDoor(app, events))
    app.cloud_state_hooks.append(states.append)

    async def run() -> None:
        await app.start()
        await app.stop(1.5)

    asyncio.run(run())
    assert events == ["start, metrics port True", "stop 1.5, worker alive True"]
    assert states == ["disabled"]  # told the cloud's state once at start (none configured)
    assert not app.engine.worker.alive
    assert app.door("test") is not None and app.door("grpc") is None
