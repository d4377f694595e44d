"""The daemon's log set-up: JSON lines (orjson) on stderr, readable text on a terminal, no secrets."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from router import logs


@pytest.fixture
def restore_structlog() -> Iterator[None]:
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


def test_json_lines_carry_the_fields_and_redact_sensitive_keys(
    restore_structlog: None, capfd: pytest.CaptureFixture[str]
) -> None:
    logs.configure("info", "json")
    log = structlog.get_logger("test")
    log.info("decision", route="local", findings={"email": 1}, prompt="my secret text", path=Path("/x"))
    log.debug("hidden")
    lines = capfd.readouterr().err.splitlines()
    assert len(lines) == 1, "debug is below the level and must not be written"
    event = json.loads(lines[0])
    assert event["event"] == "decision" and event["level"] == "info"
    assert event["route"] == "local" and event["findings"] == {"email": 1}
    assert event["prompt"] == "[redacted]"
    assert event["path"] == "/x", "values JSON cannot encode are written as text, not dropped"
    assert event["timestamp"].endswith("Z")


def test_an_exception_is_rendered_into_the_json_line(
    restore_structlog: None, capfd: pytest.CaptureFixture[str]
) -> None:
    logs.configure("info", "json")
    try:
        raise ValueError("boom")
    except ValueError:
        structlog.get_logger("test").exception("failed")
    event = json.loads(capfd.readouterr().err.splitlines()[0])
    assert "ValueError: boom" in event["exception"]


def test_console_format_is_plain_text(restore_structlog: None, capfd: pytest.CaptureFixture[str]) -> None:
    logs.configure("info", "console")
    structlog.get_logger("test").info("serving", addresses=["unix:/run/x.sock"])
    err = capfd.readouterr().err
    assert "serving" in err and "unix:/run/x.sock" in err and not err.lstrip().startswith("{")
