"""Reversible masking for the `cloud_redacted` route: private spans out before the cloud, back in after.

    messages ──redact_messages──▶ masked messages ──▶ cloud ──▶ answer ──Redaction.restore──▶ user
                     │                                            │
                     └────────── Redaction (placeholder → original) ┘   StreamRestorer for streamed answers

Each finding span is replaced by a typed placeholder, `<EMAIL_1>`, `<PERSON_2>`, numbered per category in
order of first appearance. The same original value gets the same placeholder everywhere in one request
(all messages share one `Redaction`), so the cloud model can still tell that two mentions are the same
thing. Placeholders are restored in the answer; a placeholder the model invented (or one from another
request) is left as it is.

How `redact_messages` finds the spans: it takes the findings the privacy scorer already produced on
`Request.text` (the message contents joined with "\\n") and maps each span onto the message it falls in,
so a request is scanned once, not twice. A span that crosses a message boundary is cut at the boundary and
masked in both messages.

The originals live only inside `Redaction`; its repr shows how many values it holds, never the values or
the mapping, so it cannot leak into a log line or a traceback by accident.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import replace

from router.types import Finding, Message

__all__ = ["Redaction", "StreamRestorer", "placeholder_tag", "redact", "redact_messages"]

_PLACEHOLDER = re.compile(r"<([A-Z][A-Z_]*)_(\d+)>")


def placeholder_tag(category: str) -> str:
    """The placeholder's tag for a finding category: "credit_card" -> "CREDIT_CARD"."""
    tag = re.sub(r"[^A-Za-z]+", "_", category).strip("_").upper()
    return tag or "PRIVATE"


class Redaction:
    """The placeholder → original mapping of one request. Not thread-safe; one per request."""

    __slots__ = ("_by_placeholder", "_by_value", "_counters", "_reserved")

    def __init__(self) -> None:
        self._by_placeholder: dict[str, str] = {}
        self._by_value: dict[tuple[str, str], str] = {}
        self._counters: dict[str, int] = {}
        self._reserved: set[str] = set()

    def __repr__(self) -> str:
        return f"<Redaction of {len(self._by_placeholder)} value(s)>"

    __str__ = __repr__

    def __len__(self) -> int:
        return len(self._by_placeholder)

    def __bool__(self) -> bool:
        return True  # an empty Redaction is still a Redaction (do not let `if redaction:` skip restore)

    @property
    def placeholders(self) -> tuple[str, ...]:
        """The placeholders handed out so far (no values)."""
        return tuple(self._by_placeholder)

    def placeholder_for(self, category: str, value: str) -> str:
        """The placeholder for `value`; the same value in the same category always gets the same one."""
        tag = placeholder_tag(category)
        key = (tag, value)
        existing = self._by_value.get(key)
        if existing is not None:
            return existing
        n = self._counters.get(tag, 0) + 1
        while f"<{tag}_{n}>" in self._reserved:
            n += 1  # the prompt itself already contains this text: do not make it ambiguous
        self._counters[tag] = n
        placeholder = f"<{tag}_{n}>"
        self._by_value[key] = placeholder
        self._by_placeholder[placeholder] = value
        return placeholder

    def reserve_existing(self, text: str) -> None:
        """Never hand out a placeholder that already appears literally in `text` (e.g. a prompt about
        redaction that contains "<EMAIL_1>"), so that restoring cannot turn it into someone's address."""
        self._reserved.update(m.group(0) for m in _PLACEHOLDER.finditer(text))

    def restore(self, text: str) -> str:
        """Put the originals back in place of every placeholder this Redaction handed out."""
        if not self._by_placeholder or "<" not in text:
            return text
        return _PLACEHOLDER.sub(lambda m: self._by_placeholder.get(m.group(0), m.group(0)), text)

    def max_placeholder_len(self) -> int:
        return max((len(p) for p in self._by_placeholder), default=0)

    def is_placeholder_prefix(self, fragment: str) -> bool:
        """True when `fragment` is the beginning (not the whole) of one of this Redaction's placeholders."""
        return any(p.startswith(fragment) and p != fragment for p in self._by_placeholder)


def redact(
    text: str, findings: Iterable[Finding], redaction: Redaction | None = None
) -> tuple[str, Redaction]:
    """Replace each finding's span in `text` by its placeholder. Overlapping spans are merged first (the
    earliest finding's category names the merged span). Pass `redaction` to share placeholders across
    several texts of one request."""
    red = redaction if redaction is not None else Redaction()
    red.reserve_existing(text)
    spans = _merge((max(0, f.start), min(len(text), f.end), f.category) for f in findings if f.end > f.start)
    if not spans:
        return text, red
    parts: list[str] = []
    pos = 0
    for start, end, category in spans:
        if start < pos or start >= end:
            continue
        parts.append(text[pos:start])
        parts.append(red.placeholder_for(category, text[start:end]))
        pos = end
    parts.append(text[pos:])
    return "".join(parts), red


def redact_messages(
    messages: Sequence[Message], findings: Iterable[Finding], redaction: Redaction | None = None
) -> tuple[tuple[Message, ...], Redaction]:
    """Mask every message. `findings` hold offsets into "\\n".join(m.content for m in messages), which is
    `Request.text`: exactly what the privacy scorer scanned."""
    red = redaction if redaction is not None else Redaction()
    for m in messages:
        red.reserve_existing(m.content)
    per_message: list[list[Finding]] = [[] for _ in messages]
    offsets: list[int] = []
    pos = 0
    for m in messages:
        offsets.append(pos)
        pos += len(m.content) + 1  # the "\n" between messages
    for f in findings:
        for i, m in enumerate(messages):
            lo, hi = offsets[i], offsets[i] + len(m.content)
            start, end = max(f.start, lo), min(f.end, hi)
            if start < end:
                per_message[i].append(replace(f, start=start - lo, end=end - lo))
    out: list[Message] = []
    for m, fs in zip(messages, per_message, strict=True):
        if fs:
            content, _ = redact(m.content, fs, red)
            out.append(replace(m, content=content))
        else:
            out.append(m)
    return tuple(out), red


class StreamRestorer:
    """Restores placeholders in a streamed answer whose chunks may split a placeholder anywhere.

    `feed(chunk)` returns the text that is safe to show now; it holds back only a trailing fragment that
    could still grow into one of this request's placeholders (at most the longest placeholder's length
    minus one character). `flush()` returns whatever is held back at the end of the stream.
    """

    __slots__ = ("_buffer", "_max_len", "_redaction")

    def __init__(self, redaction: Redaction) -> None:
        self._redaction = redaction
        self._buffer = ""
        self._max_len = redaction.max_placeholder_len()

    def __repr__(self) -> str:
        return f"<StreamRestorer holding {len(self._buffer)} char(s)>"

    def feed(self, chunk: str) -> str:
        if not chunk:
            return ""
        if self._max_len == 0:
            return chunk
        text = self._buffer + chunk
        cut = self._hold_from(text)
        self._buffer = text[cut:]
        return self._redaction.restore(text[:cut])

    def flush(self) -> str:
        text, self._buffer = self._buffer, ""
        return self._redaction.restore(text)

    def _hold_from(self, text: str) -> int:
        """Index where a possible unfinished placeholder starts, or len(text) when there is none."""
        window_start = max(0, len(text) - self._max_len + 1)
        i = text.find("<", window_start)
        while i != -1:
            if self._redaction.is_placeholder_prefix(text[i:]):
                return i
            i = text.find("<", i + 1)
        return len(text)


def _merge(spans: Iterable[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    ordered = sorted(spans)
    merged: list[tuple[int, int, str]] = []
    for start, end, category in ordered:
        if merged and start < merged[-1][1]:
            s0, e0, c0 = merged[-1]
            merged[-1] = (s0, max(e0, end), c0)
        else:
            merged.append((start, end, category))
    return merged
