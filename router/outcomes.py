"""The one decision shape, and its three forms: proto (the gRPC door), JSON (the HTTP door's `router`
object) and decision-log columns.

`DECISION_FIELDS` lists what an app learns about a decision, in order; each form is derived from it:

    proto    router.service.to_pb_decision  -> router.v1.Decision (one proto field per name)
    JSON     decision_dict                  -> {name: value}, routes as their names, timings nested
    columns  decision_columns               -> DecisionRow's fields, timings flattened (`queue_ms`, ...)

A decision-log row adds what is about the request rather than the decision (`ROW_ONLY_COLUMNS`), and
the labels written later (`router.decisions.LABEL_COLUMNS`). tests/test_decision_shape.py fails when a
field is added to one form and not the others. Never prompt text: findings are counted by category.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from router.types import Timings

# The functions below take a router.engine.Outcome (typed `object`: the engine imports this module) and
# read the DECISION_FIELDS from it by name.

# What an app learns about a decision, at every door and in the log (an Outcome attribute each).
DECISION_FIELDS: tuple[str, ...] = (
    "id",
    "route",
    "decided_route",
    "rule",
    "reason",
    "complexity",
    "privacy",
    "stage",
    "findings",  # {category: count}
    "model",
    "policy_version",
    "fallback",
    "fallback_reason",
    "answer_check",
    "answer_check_value",
    "summary",  # the decision in words
    "timings",  # TIMING_FIELDS, in milliseconds
)
ROUTE_FIELDS = frozenset({"route", "decided_route"})
TIMING_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Timings))

# Decision-log columns that are about the request, not the decision the apps see.
ROW_ONLY_COLUMNS: tuple[str, ...] = (
    "ts",
    "app",
    "kind",
    "tokens_in",
    "tokens_out",
    "status",
    "error",
    "prompt_hash",
    "cloud_circuit",
    "shadow",
)


def _timings(t: Timings) -> dict[str, float]:
    return {name: round(getattr(t, name), 3) for name in TIMING_FIELDS}


def decision_dict(outcome: object) -> dict[str, Any]:
    """The JSON form: the HTTP door's `router` object."""
    out: dict[str, Any] = {}
    for name in DECISION_FIELDS:
        value = getattr(outcome, name)
        if name in ROUTE_FIELDS:
            value = value.value
        elif name == "findings":
            value = dict(value)
        elif name == "timings":
            value = _timings(value)
        out[name] = value
    return out


def decision_columns(outcome: object) -> dict[str, Any]:
    """The decision-log form: `DecisionRow` keyword arguments, timings flattened into their columns."""
    out: dict[str, Any] = {}
    for name in DECISION_FIELDS:
        value = getattr(outcome, name)
        if name in ROUTE_FIELDS:
            out[name] = value.value
        elif name == "timings":
            out.update(_timings(value))
        else:
            out[name] = value
    return out


def row_columns() -> tuple[str, ...]:
    """The columns `decision_columns` and `ROW_ONLY_COLUMNS` give a DecisionRow, together."""
    flat = [c for name in DECISION_FIELDS for c in (TIMING_FIELDS if name == "timings" else (name,))]
    return (*flat, *ROW_ONLY_COLUMNS)


__all__ = [
    "DECISION_FIELDS",
    "ROUTE_FIELDS",
    "ROW_ONLY_COLUMNS",
    "TIMING_FIELDS",
    "decision_columns",
    "decision_dict",
    "row_columns",
]
