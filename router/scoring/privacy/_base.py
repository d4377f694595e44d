"""The detector registry, and the small helpers every detector family shares.

A detector is one record (`Detector`): the category it reports, that category's weight in the score, its
priority when two findings claim the same characters (lower wins), the stage it runs in, and the function.
The function gets a `Scan` (the text, its lower-cased copy of the same length, the policy's options and,
in stage 2, the findings of stage 1) and appends `Finding`s to a list. Families register their detectors
with `@detector(...)` when their module is imported; `router.scoring.privacy` imports every family.

Adding a detector: write the function in its family's module under `@detector(...)`, and its test.
"""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from router.types import Finding

_I = re.IGNORECASE

NAMES_MODES = ("personal_context", "anywhere")


@dataclass(frozen=True, slots=True)
class Options:
    """What a policy can change about the scan. `names`: "personal_context" reports a name only where the
    text makes it a particular private person; "anywhere" also reports every full name (a known given name
    or an initial, then a surname) and a known given name beside another identifier, context or not."""

    names: str = "personal_context"


@dataclass(slots=True)
class Scan:
    """One scan of one text: what every detector reads. `found` holds stage 1's findings in stage 2."""

    text: str
    low: str
    options: Options
    found: Sequence[Finding] = ()
    memo: dict[str, object] = field(default_factory=dict)  # work two detectors share, done once
    spent: int = 0  # validation work of the running detector (see `spend`)
    _digits: int = -1
    _line_starts: list[int] | None = field(default=None, repr=False)

    @property
    def digits(self) -> int:
        if self._digits < 0:
            self._digits = count_digits(self.text)
        return self._digits

    def line_bounds(self, pos: int) -> tuple[int, int]:
        """(start, end) of the line around `pos`, in O(log lines): `rfind` per call would be quadratic
        over a text with many findings and no newline."""
        if self._line_starts is None:
            text = self.text
            starts = [0]
            i = text.find("\n")
            while i >= 0:
                starts.append(i + 1)
                i = text.find("\n", i + 1)
            self._line_starts = starts
        starts = self._line_starts
        k = bisect.bisect_right(starts, pos) - 1
        end = starts[k + 1] - 1 if k + 1 < len(starts) else len(self.text)
        return starts[k], end


# Units of validation work one detector may spend on one text (a Luhn sum is 1, a phonenumbers parse 10,
# the two dozen national-number validators 25). Candidates that fail validation cost work without adding
# findings, so the findings cap does not bound them; this does.
VALIDATION_BUDGET = 2000


class Exhausted(Exception):
    """A detector spent its validation budget at `start`: the text from there on is reported as one
    finding, unvalidated (fail closed: masked or kept local, never let through)."""

    def __init__(self, start: int) -> None:
        super().__init__(start)
        self.start = start


def spend(scan: Scan, units: int, at: int) -> None:
    """Count `units` of validation work for a candidate at `at`; past the budget, stop the detector."""
    scan.spent += units
    if scan.spent > VALIDATION_BUDGET:
        raise Exhausted(at)


DetectFn = Callable[[Scan, list[Finding]], None]


@dataclass(frozen=True, slots=True)
class Detector:
    """One detector: the category it reports, the category's weight in the score (how much one finding at
    confidence 1 moves it), its priority against overlapping findings (lower wins), and its stage (1: on
    the text alone; 2: also sees stage 1's findings, e.g. a name beside an identifier)."""

    name: str
    category: str
    weight: float
    priority: int
    fn: DetectFn
    stage: int = 1


REGISTRY: list[Detector] = []


def detector(
    category: str, *, weight: float, priority: int, stage: int = 1, name: str = ""
) -> Callable[[DetectFn], DetectFn]:
    """Register the decorated function as a detector of `category`."""

    def register(fn: DetectFn) -> DetectFn:
        record = Detector(name or fn.__name__.lstrip("_"), category, weight, priority, fn, stage)
        for other in REGISTRY:
            if other.category == category and (other.weight, other.priority) != (weight, priority):
                raise ValueError(
                    f"detector {record.name!r}: category {category!r} already has weight {other.weight} "
                    f"and priority {other.priority} (from {other.name!r}); one category, one of each"
                )
        REGISTRY.append(record)
        return fn

    return register


def _words(text: str) -> list[str]:
    """Word lists are written as one long string, split once at import (plain data, no I/O)."""
    return text.split()


def _shannon_entropy(s: str) -> float:
    counts: dict[str, int] = {}
    for ch in s:
        counts[ch] = counts.get(ch, 0) + 1
    n = len(s)
    return -sum(c / n * math.log2(c / n) for c in counts.values())


def count_digits(text: str) -> int:
    return sum(map(text.count, "0123456789"))  # ten C-level scans beat one Python loop over characters


_count_digits = count_digits


def lower_aligned(text: str) -> str:
    """`text.lower()` with the same length, so that offsets found in it are offsets into `text`."""
    low = text.lower()
    if len(low) == len(text):
        return low
    return "".join(ch if len(ch.lower()) != 1 else ch.lower() for ch in text)  # e.g. "İ" lowers to 2 chars


def _context(text: str, start: int, end: int, before: int = 40, after: int = 0) -> str:
    return text[max(0, start - before) : end + after]
