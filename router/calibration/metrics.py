"""Routing metrics on graded outcomes (plain Python; used by `router calibrate` and `bench.routing`).

A router sends the prompts it scores highest (most likely to fail locally) to the cloud first. With the
cloud assumed right, quality at cloud share c is (local right answers kept + prompts sent) / n.

* PGR(c): the share of the gap between local-only and cloud-only quality recovered at cloud share c.
* APGR: the area under PGR over c in [0, 1] (random routing: 0.5), RouteLLM's summary.
* gain captured: (APGR - 0.5) / (oracle APGR - 0.5): 0 is random, 1 the oracle (which sends exactly the
  local failures first).
* CPT(x): the smallest cloud share whose PGR reaches x.

Tied scores are routed in expectation: inside a group of equal scores every prompt counts with the
group's mean failure rate, so a constant score is exactly random routing.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

from router.scoring.training import auc


def _steps(fails: Sequence[int], scores: Sequence[float]) -> list[float]:
    """Expected failures recovered by each successive cloud prompt, highest score first."""
    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    out: list[float] = []
    i = 0
    while i < len(order):
        j = i
        while j < len(order) and scores[order[j]] == scores[order[i]]:
            j += 1
        rate = sum(fails[order[k]] for k in range(i, j)) / (j - i)
        out.extend([rate] * (j - i))
        i = j
    return out


def pgr_curve(fails: Sequence[int], scores: Sequence[float]) -> list[tuple[float, float, float]]:
    """(cloud share, quality, PGR) for 0..n prompts sent to the cloud."""
    n = len(fails)
    total_fail = sum(fails)
    base = (n - total_fail) / n
    points = [(0.0, base, 0.0)]
    recovered = 0.0
    for k, step in enumerate(_steps(fails, scores), 1):
        recovered += step
        pgr = recovered / total_fail if total_fail else 1.0
        points.append((k / n, base + recovered / n, pgr))
    return points


def apgr(fails: Sequence[int], scores: Sequence[float]) -> float:
    pts = pgr_curve(fails, scores)
    return sum((a[2] + b[2]) / 2 * (b[0] - a[0]) for a, b in itertools.pairwise(pts))


def cpt(fails: Sequence[int], scores: Sequence[float], target: float) -> float:
    for share, _, pgr in pgr_curve(fails, scores):
        if pgr >= target - 1e-12:
            return share
    return 1.0


def ece(fails: Sequence[int], probs: Sequence[float], bins: int = 10) -> float:
    """Expected calibration error of P(fail) over equal-width bins."""
    n = len(fails)
    total = 0.0
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        idx = [i for i, p in enumerate(probs) if lo <= p < hi or (b == bins - 1 and p == 1.0)]
        if idx:
            gap = abs(sum(probs[i] for i in idx) / len(idx) - sum(fails[i] for i in idx) / len(idx))
            total += len(idx) / n * gap
    return total


def family_auc(
    fails: Sequence[int], scores: Sequence[float], families: Sequence[str], min_each: int = 10
) -> dict[str, Any]:
    """AUC within each family that has at least `min_each` right and `min_each` wrong answers, and their
    mean (None when no family qualifies)."""
    per: dict[str, Any] = {}
    for fam in sorted(set(families)):
        idx = [i for i, f in enumerate(families) if f == fam]
        wrong = sum(fails[i] for i in idx)
        right = len(idx) - wrong
        value = auc([fails[i] for i in idx], [scores[i] for i in idx])
        per[fam] = {
            "n": len(idx),
            "right": right,
            "auc": None if value is None else round(value, 4),
            "counted": right >= min_each and wrong >= min_each,
        }
    counted = [v["auc"] for v in per.values() if v["counted"] and v["auc"] is not None]
    return {"families": per, "mean": round(sum(counted) / len(counted), 4) if counted else None}


def summary(
    fails: Sequence[int],
    scores: Sequence[float],
    families: Sequence[str],
    probs: Sequence[float] | None = None,
    min_each: int = 10,
) -> dict[str, Any]:
    """Every figure for one router on one set of graded prompts."""
    n = len(fails)
    local = 1 - sum(fails) / n
    oracle = 1 - (1 - local) / 2  # PGR rises linearly to 1 at cloud share (1 - local), then stays
    a = apgr(fails, scores)
    value = auc(fails, scores)
    fam = family_auc(fails, scores, families, min_each)
    out: dict[str, Any] = {
        "n": n,
        "local_accuracy": round(local, 4),
        "auc": None if value is None else round(value, 4),
        "auc_within_family": fam["mean"],
        "families_counted": sum(1 for v in fam["families"].values() if v["counted"]),
        "apgr": round(a, 4),
        "oracle_apgr": round(oracle, 4),
        "gain_captured": round((a - 0.5) / (oracle - 0.5), 4) if oracle > 0.5 else None,
        "cpt50": round(cpt(fails, scores, 0.5), 4),
        "cpt80": round(cpt(fails, scores, 0.8), 4),
        "per_family": fam["families"],
    }
    if probs is not None:
        out["ece"] = round(ece(fails, probs), 4)
    return out


def share_table(
    fails: Sequence[int], scores: Sequence[float], shares: Sequence[float]
) -> list[dict[str, float]]:
    """Quality (share of prompts answered well, cloud assumed right) at given cloud shares."""
    pts = pgr_curve(fails, scores)
    n = len(fails)
    rows = []
    for s in shares:
        k = min(n, round(s * n))
        rows.append({"cloud_share": s, "quality": round(pts[k][1], 4), "pgr": round(pts[k][2], 4)})
    return rows


__all__ = ["apgr", "cpt", "ece", "family_auc", "pgr_curve", "share_table", "summary"]
