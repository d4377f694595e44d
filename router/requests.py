"""Turning what an app sent into a valid `Request`, or an InvalidRequest that says what to fix."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from router.errors import InvalidRequest
from router.types import ROLES, GenerationOptions, Message, Request

# \Z, not $: "$" also matches before a trailing newline ("notes\n" passed).
APP_ID = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")


def quote(value: str, limit: int = 32) -> str:
    """`value` for an error message: repr'd, cut to `limit` characters (a 1 MB role must not come back
    in a status message, whose metadata has a size limit)."""
    if len(value) <= limit:
        return repr(value)
    return f"{value[:limit]!r}... ({len(value)} characters)"


@dataclass(frozen=True, slots=True)
class Limits:
    max_request_chars: int = 200_000
    max_tokens: int = 8192
    max_messages: int = 512
    max_stops: int = 8
    max_stop_chars: int = 64
    max_metadata: int = 32
    max_metadata_chars: int = 256


def build_request(
    messages: Iterable[tuple[str, str]],
    *,
    app_id: str = "",
    max_tokens: int | None = None,
    temperature: float | None = None,
    top_p: float | None = None,
    stop: Iterable[str] = (),
    metadata: Mapping[str, str] | None = None,
    limits: Limits = Limits(),
) -> Request:
    msgs: list[Message] = []
    total = 0
    for i, (role, content) in enumerate(messages):
        if role not in ROLES:
            raise InvalidRequest(f"messages[{i}].role is {quote(role)}; use one of {', '.join(ROLES)}")
        if not content.strip():
            raise InvalidRequest(f"messages[{i}].content is empty; every message needs text")
        total += len(content)
        msgs.append(Message(role, content))  # type: ignore[arg-type]
    if not msgs:
        raise InvalidRequest("messages is empty; send at least one message with role 'user'")
    if len(msgs) > limits.max_messages:
        raise InvalidRequest(f"too many messages ({len(msgs)}); the limit is {limits.max_messages}")
    if not any(m.role == "user" for m in msgs):
        raise InvalidRequest("no message has role 'user'; send at least one message with role 'user'")
    if msgs[-1].role == "assistant":
        raise InvalidRequest("the last message is from the assistant; end with a 'user' message")
    if total > limits.max_request_chars:
        raise InvalidRequest(
            f"the messages hold {total} characters; the limit is {limits.max_request_chars} "
            "(set by --max-request-chars)"
        )
    app = app_id or "default"
    if not APP_ID.match(app):
        raise InvalidRequest(
            "app_id must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    if max_tokens is not None and not 1 <= max_tokens <= limits.max_tokens:
        raise InvalidRequest(f"max_tokens is {max_tokens}; use 1 to {limits.max_tokens}")
    if temperature is not None and not (math.isfinite(temperature) and 0.0 <= temperature <= 2.0):
        raise InvalidRequest(f"temperature is {temperature}; use 0 (greedy) to 2")
    if top_p is not None and not (math.isfinite(top_p) and 0.0 < top_p <= 1.0):
        raise InvalidRequest(f"top_p is {top_p}; use a value above 0 and at most 1")
    stops = tuple(stop)
    if len(stops) > limits.max_stops:
        raise InvalidRequest(f"{len(stops)} stop sequences; the limit is {limits.max_stops}")
    for s in stops:
        if not s or len(s) > limits.max_stop_chars:
            raise InvalidRequest(f"each stop sequence needs 1 to {limits.max_stop_chars} characters")
    meta = dict(metadata or {})
    if len(meta) > limits.max_metadata:
        raise InvalidRequest(f"{len(meta)} metadata entries; the limit is {limits.max_metadata}")
    for k, v in meta.items():
        if len(k) > limits.max_metadata_chars or len(v) > limits.max_metadata_chars:
            raise InvalidRequest(
                f"metadata keys and values may have at most {limits.max_metadata_chars} characters"
            )
    return Request(
        messages=tuple(msgs),
        app_id=app,
        options=GenerationOptions(max_tokens=max_tokens, temperature=temperature, top_p=top_p, stop=stops),
        metadata=meta,
    )
