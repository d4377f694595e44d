"""Outcomes from traffic: a caller's feedback on an answer, and shadow checks against the cloud.

Both end up as labels on the decision row (`feedback_score`/`feedback_label`, `shadow`/`shadow_score`)
that `router calibrate --from-log` can learn from. No free text is stored: a label is a short token.

Shadow checks (the policy's `shadow:` section): a share of the requests answered locally is also sent
to the cloud, after the caller has its answer, and the two answers are compared:

    exact     the normalised answers are equal (score 1 or 0)
    contains  short cloud answers (at most 8 words): 1 when one normalised answer contains the other;
              longer ones: the word-overlap F1 of the two answers (agree from 0.5)

Normalised: lower case, punctuation dropped, whitespace collapsed. A rough judge, and a cheap one; the
score is stored as well as the verdict. Private requests (any finding, or a privacy score at or above
`max_privacy`, or a fail-closed decision) are never shadowed: their row says `skipped:private`.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from router.errors import InvalidRequest

_ID = re.compile(r"[0-9a-f]{32}")
_LABEL = re.compile(r"[a-z0-9_.-]{1,32}")
SHORT_ANSWER_WORDS = 8
AGREE_F1 = 0.5


@dataclass(frozen=True, slots=True)
class Feedback:
    decision_id: str
    score: float
    label: str = ""
    app_id: str | None = None  # when set, only this app's decisions may be labelled


def parse_feedback(
    decision_id: str,
    *,
    good: bool | None = None,
    score: float | None = None,
    label: str = "",
    app_id: str | None = None,
) -> Feedback:
    """A valid Feedback, or InvalidRequest saying what to fix."""
    if not _ID.fullmatch(decision_id):
        raise InvalidRequest("decision_id must be the 32 hex characters of a decision's id")
    if (good is None) == (score is None):
        raise InvalidRequest("give exactly one of good (true/false) or score (0 to 1)")
    if score is None:
        score = 1.0 if good else 0.0
    if not 0.0 <= score <= 1.0 or score != score:
        raise InvalidRequest("score must be a number from 0 (bad) to 1 (good)")
    if label and not _LABEL.fullmatch(label):
        raise InvalidRequest("label must be at most 32 characters of a-z, 0-9, '_', '.', '-'")
    return Feedback(decision_id, float(score), label, app_id)


def normalise(text: str) -> list[str]:
    return re.sub(r"[^\w\s]", " ", text.lower()).split()


def compare(local: str, cloud: str, rule: str = "contains") -> float:
    """How far the local answer agrees with the cloud's, in [0, 1] (see the module docstring)."""
    a, b = normalise(local), normalise(cloud)
    if not a or not b:
        return 0.0
    if rule == "exact":
        return float(a == b)
    if len(b) <= SHORT_ANSWER_WORDS or len(a) <= SHORT_ANSWER_WORDS:
        sa, sb = " ".join(a), " ".join(b)
        return float(f" {sb} " in f" {sa} " or f" {sa} " in f" {sb} ")
    common = sum((Counter(a) & Counter(b)).values())
    if not common:
        return 0.0
    precision, recall = common / len(a), common / len(b)
    return 2 * precision * recall / (precision + recall)


def agrees(score: float, rule: str = "contains") -> bool:
    return score >= (1.0 if rule == "exact" else AGREE_F1)


def selected(decision_id: str, share: float) -> bool:
    """Deterministic sampling by the decision id's random bits (the last 8 hex digits of a UUIDv7)."""
    if share <= 0:
        return False
    return int(decision_id[-8:], 16) / 0x1_0000_0000 < share


__all__ = ["Feedback", "agrees", "compare", "normalise", "parse_feedback", "selected"]
