"""The scan: every registered detector over the text, overlaps resolved, findings capped, one score."""

from __future__ import annotations

import bisect
import re
import time
from collections.abc import Iterable, Mapping, Sequence

from router.errors import ConfigError

# Importing a family registers its detectors; the order of the imports is the order they run in.
from router.scoring.privacy import addresses, contact, credentials, identifiers, persons  # noqa: F401
from router.scoring.privacy._base import (
    _I,
    NAMES_MODES,
    REGISTRY,
    Detector,
    Exhausted,
    Options,
    Scan,
    lower_aligned,
)
from router.types import PRIVACY_CATEGORIES, Finding, PrivacyReport

__all__ = ["CATEGORY_WEIGHTS", "DETECTORS", "MAX_FINDINGS", "NAMES_MODES", "PrivacyScorer", "score_findings"]

DETECTORS: tuple[Detector, ...] = tuple(REGISTRY)
_CUSTOM_WEIGHT, _CUSTOM_PRIORITY = 0.9, 40

# How much one finding of a category (at confidence 1) moves the score. Structured identifiers and
# credentials are near 1: one of them is enough to make a prompt private.
CATEGORY_WEIGHTS: Mapping[str, float] = {
    **{d.category: d.weight for d in DETECTORS},
    "custom": _CUSTOM_WEIGHT,
}
_PRIORITY: Mapping[str, int] = {**{d.category: d.priority for d in DETECTORS}, "custom": _CUSTOM_PRIORITY}
if set(CATEGORY_WEIGHTS) != set(PRIVACY_CATEGORIES):  # pragma: no cover - a registry/types mismatch
    raise RuntimeError(
        "privacy categories of the detectors and router.types.PRIVACY_CATEGORIES differ: "
        f"{sorted(set(CATEGORY_WEIGHTS) ^ set(PRIVACY_CATEGORIES))}"
    )

# At most this many findings a request, and from one detector. Beyond that the findings that are left are
# merged into one span from the first of them to the last: the scan stays linear whatever the input, and
# the merged span is still masked (fail closed: a cap never lets a finding out unmasked).
MAX_FINDINGS = 256
MAX_PER_DETECTOR = 256
_PAUSE_FROM_CHARS = 4_000  # router.engine.PRIVACY_INLINE_CHARS: texts scanned in a worker thread


def _no_pause(_: float) -> None:
    pass


class PrivacyScorer:
    """Scans a prompt for private data. Thread-safe and cheap to call; build one per policy.

    `extra_terms` are literal words or phrases (matched case-insensitively on word boundaries, e.g. an
    internal project name) and `extra_patterns` maps a label to a regular expression; both are reported
    as category "custom".

    `names` is the policy's switch for person names: "personal_context" (the default) reports a name only
    where the text makes it a particular private person; "anywhere" also reports every full name, context
    or not, e.g. "Charles Darwin", for policies that would rather over-mask than miss one.
    `flag_full_names=True` is the older spelling of `names="anywhere"`.
    """

    def __init__(
        self,
        extra_terms: Sequence[str] = (),
        extra_patterns: Mapping[str, str] | None = None,
        *,
        flag_full_names: bool = False,
        names: str = "personal_context",
    ) -> None:
        if names not in NAMES_MODES:
            raise ConfigError(f"privacy names mode {names!r} is unknown; use one of {', '.join(NAMES_MODES)}")
        self._options = Options(names="anywhere" if flag_full_names else names)
        terms = sorted({t.strip() for t in extra_terms if t.strip()}, key=len, reverse=True)
        self._terms: re.Pattern[str] | None = (
            re.compile(r"(?<!\w)(?:" + "|".join(re.escape(t) for t in terms) + r")(?!\w)", _I)
            if terms
            else None
        )
        self._patterns: list[re.Pattern[str]] = []
        for label, pattern in (extra_patterns or {}).items():
            try:
                compiled = re.compile(pattern)
            except re.error as exc:
                raise ConfigError(
                    f"privacy pattern {label!r} is not a valid regular expression ({exc}); "
                    "fix it in the policy"
                ) from None
            if compiled.match(""):
                raise ConfigError(
                    f"privacy pattern {label!r} matches the empty string; make it more specific"
                )
            self._patterns.append(compiled)
        self._stage1 = tuple(d for d in DETECTORS if d.stage == 1)
        self._stage2 = tuple(d for d in DETECTORS if d.stage == 2)

    @property
    def names(self) -> str:
        return self._options.names

    def warm_up(self) -> None:
        """Load the lazily imported validators (phonenumbers' metadata, stdnum) and the name lists now, at
        start-up, so that the first request does not pay for it (about 100 ms)."""
        self.scan(
            "Dear Ann Lee, call +1 415 555 0100 or 020 7946 0018, card 4111 1111 1111 1111, "
            "DE89370400440532013000, BSN 111222333, DNI 12345678Z, born 03/04/1985."
        )

    def scan(self, text: str) -> PrivacyReport:
        scan = Scan(text, lower_aligned(text), self._options)
        found: list[Finding] = []
        # A long text is scanned in a worker thread (router.engine): between detectors it lets the event
        # loop's thread have the GIL at once, instead of after the interpreter's 5 ms switch interval
        # at each of the loop's wake-ups.
        pause = time.sleep if len(text) > _PAUSE_FROM_CHARS else _no_pause
        for d in self._stage1:
            found.extend(_capped(_run(d, scan)))
            pause(0)
        found.extend(_capped(self._custom(text)))
        kept = _resolve_overlaps(found)
        if self._stage2:
            scan.found = kept
            more: list[Finding] = []
            for d in self._stage2:
                more.extend(_capped(_run(d, scan)))
                pause(0)
            if more:
                kept = _resolve_overlaps(kept + more)
        kept = _capped(kept, MAX_FINDINGS)
        return PrivacyReport(score=score_findings(kept), findings=tuple(kept))

    def _custom(self, text: str) -> list[Finding]:
        out: list[Finding] = []
        if self._terms is not None:
            for m in self._terms.finditer(text):
                out.append(Finding("custom", m.start(), m.end(), 1.0))
        for rx in self._patterns:
            for m in rx.finditer(text):
                if m.end() > m.start():
                    out.append(Finding("custom", m.start(), m.end(), 1.0))
        return out


class _Full(Exception):
    """A detector reached MAX_PER_DETECTOR findings: its scan stops there."""


class _Findings(list[Finding]):
    """A detector's findings, that stops the detector at MAX_PER_DETECTOR of them. Its work is then
    bounded by what it took to find them, whatever the length of the text."""

    def append(self, f: Finding, /) -> None:
        super().append(f)
        if len(self) >= MAX_PER_DETECTOR:
            raise _Full

    def extend(self, fs: Iterable[Finding], /) -> None:
        for f in fs:
            self.append(f)


def _run(d: Detector, scan: Scan) -> list[Finding]:
    """The findings of `d`. A detector stopped at the cap reports one more finding, from its first finding
    to the end of the text: what it did not look at is masked (fail closed), not let through."""
    out = _Findings()
    scan.spent = 0
    try:
        d.fn(scan, out)
    except _Full:
        first = min(out, key=lambda f: f.start)
        merged = Finding(d.category, first.start, len(scan.text), max(f.confidence for f in out))
        return [merged]
    except Exhausted as e:
        return [*out, Finding(d.category, e.start, len(scan.text), 0.5)]
    return list(out)


def _capped(found: list[Finding], limit: int = MAX_PER_DETECTOR) -> list[Finding]:
    """At most `limit` findings: the ones from the limit on become one span from the first to the last
    (in the category that wins overlaps among them), so they are all still masked."""
    if len(found) <= limit:
        return found
    ordered = sorted(found, key=lambda f: (f.start, f.end))
    rest = ordered[limit - 1 :]
    top = min(rest, key=lambda f: _PRIORITY.get(f.category, 99))
    head = ordered[: limit - 1]
    start = rest[0].start
    while head and head[-1].end > start:  # (resolved findings are disjoint: at most one)
        start = min(start, head.pop().start)
    return [*head, Finding(top.category, start, max(f.end for f in rest), max(f.confidence for f in rest))]


def score_findings(findings: Iterable[Finding]) -> float:
    """1 - prod(1 - weight * confidence). Empty -> 0.0."""
    keep = 1.0
    for f in findings:
        keep *= 1.0 - min(1.0, CATEGORY_WEIGHTS.get(f.category, 0.9) * f.confidence)
    return round(1.0 - keep, 6)


def _resolve_overlaps(found: list[Finding]) -> list[Finding]:
    """Findings that never overlap: by priority (then the longer span, then the earlier one), each finding
    is kept unless it overlaps one kept before it. Kept spans are disjoint and sorted, so one binary search
    a finding answers that: O(n log n), not a comparison with every kept finding."""
    if len(found) <= 1:
        return [f for f in found if f.end > f.start]
    ranked = sorted(found, key=lambda f: (_PRIORITY.get(f.category, 99), -(f.end - f.start), f.start))
    starts: list[int] = []
    kept: list[Finding] = []
    for f in ranked:
        if f.end <= f.start:
            continue
        i = bisect.bisect_left(starts, f.end)  # kept[:i] start before f ends
        if i > 0 and kept[i - 1].end > f.start:
            continue  # the last of them that starts before f ends reaches into f
        starts.insert(i, f.start)
        kept.insert(i, f)
    return kept
