"""structlog set-up: JSON lines when not on a terminal, readable output on one.

`configure()` is called once by `router serve` / the CLI. Events never carry prompt text or keys: the
code does not log them, and `drop_sensitive_keys` removes any such field that slips in anyway.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from datetime import UTC, datetime
from typing import Any

import orjson
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


def _utc_now(logger: Any, method_name: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    # A datetime, not text: orjson writes it as RFC 3339 ("2026-11-23T21:57:44.332854Z"), the same text
    # as TimeStamper(fmt="iso", utc=True), in a third of the time.
    event_dict["timestamp"] = datetime.now(UTC)
    return event_dict


def _orjson_dumps(event_dict: Any, **kw: Any) -> bytes:
    # default=str: a value orjson cannot encode (a Path, an enum member) becomes its text, as
    # JSONRenderer's own default did; a log line never fails to render.
    return orjson.dumps(event_dict, default=str, option=orjson.OPT_UTC_Z)


def configure(level: str = "info", fmt: str = "auto") -> None:
    use_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        _utc_now if use_json else structlog.processors.TimeStamper(fmt="iso", utc=True),
        drop_sensitive_keys,
    ]
    logger_factory: Any
    if use_json:
        # The daemon writes one JSON line per decision: orjson renders it in a third of the time of the
        # stdlib encoder, and the bytes go to stderr's buffer as they are (structlog's advice for speed).
        processors += [
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(serializer=_orjson_dumps),
        ]
        stream: Any = sys.stderr
        logger_factory = structlog.BytesLoggerFactory(file=getattr(stream, "buffer", stream))
    else:
        processors += [structlog.dev.set_exc_info, structlog.dev.ConsoleRenderer(colors=False)]
        # One write per event (print() writes the line and its newline separately).
        logger_factory = structlog.WriteLoggerFactory(file=sys.stderr)
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelNamesMapping()[level.upper()]),
        logger_factory=logger_factory,
        cache_logger_on_first_use=True,
    )
