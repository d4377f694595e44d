"""Labelled traffic for `router calibrate --from-log`: local answers that a caller rated (Feedback) or a
shadow check judged, joined with the model-stage inputs the daemon kept for them (policy
`shadow.keep_features`). No text: each becomes an outcome of the family "traffic" on the training side.

A caller's score decides where there is one (at least 0.5: the answer was good enough); otherwise the
shadow check's verdict (`agree`: good enough).
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from router.backends.base import Prefill
from router.calibration.run import Outcome
from router.decisions import FEATURES, TABLE

GOOD_SCORE = 0.5


def traffic_outcomes(db_path: Path, model_sha256: str) -> list[tuple[Outcome, float]]:
    """(outcome, stage-1 score) for every labelled local answer of this model, oldest first."""
    if not db_path.exists():
        return []
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5.0)
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if FEATURES not in tables:
            return []
        rows = conn.execute(
            f"SELECT d.id, d.feedback_score, d.shadow, f.stage1, f.data FROM [{TABLE}] d "
            f"JOIN [{FEATURES}] f ON f.id = d.id WHERE f.model_sha256 = ? "
            "AND (d.feedback_score IS NOT NULL OR d.shadow IN ('agree', 'disagree')) ORDER BY d.ts, d.id",
            (model_sha256.lower(),),
        ).fetchall()
    finally:
        conn.close()
    out = []
    for decision_id, score, shadow, stage1, data in rows:
        good = score >= GOOD_SCORE if score is not None else shadow == "agree"
        d = json.loads(data)
        prefill = Prefill(
            [float(v) for v in d["hidden"]], float(d["entropy"]), float(d["top_prob"]), int(d["n_tokens"])
        )
        out.append((Outcome(decision_id, "traffic", "train", "", "", good, "", prefill), float(stage1)))
    return out


__all__ = ["traffic_outcomes"]
