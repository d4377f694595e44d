"""structlog set-up: JSON lines when not on a terminal, readable output on one.

`configure()` is called once by `router serve` / the CLI. Events never carry prompt text or keys: the
code does not log them, and `drop_sensitive_keys` removes any such field that slips in anyway.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

# Event fields that must never reach a log, whatever code adds them.
SENSITIVE_KEYS = frozenset(
    {"prompt", "text", "content", "messages", "answer", "api_key", "key", "authorization", "token", "mapping"}
)


def drop_sensitive_keys(
    logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    for key in SENSITIVE_KEYS.intersection(event_dict):
        event_dict[key] = "[redacted]"
    return event_dict


def configure(level: str = "info", fmt: str = "auto") -> None:
    use_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    renderer: Any = (
        structlog.processors.JSONRenderer() if use_json else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            drop_sensitive_keys,
            structlog.processors.format_exc_info if use_json else structlog.dev.set_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelNamesMapping()[level.upper()]),
        # One write per event (print() writes the line and its newline separately: two syscalls when
        # stderr is unbuffered, as under systemd with PYTHONUNBUFFERED).
        logger_factory=structlog.WriteLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
