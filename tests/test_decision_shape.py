"""One decision shape (router.outcomes.DECISION_FIELDS) in three forms: the proto Decision, the HTTP
door's JSON `router` object, and the decision log's columns. Adding a field to one form and not the
others fails here (issue #19)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from router.client import DecisionInfo
from router.decisions import COLUMNS, LABEL_COLUMNS, TABLE, DecisionRow, open_db
from router.engine import Outcome, decision_row
from router.outcomes import (
    DECISION_FIELDS,
    ROW_ONLY_COLUMNS,
    TIMING_FIELDS,
    decision_columns,
    decision_dict,
    row_columns,
)
from router.requests import build_request
from router.service import to_pb_decision
from router.types import Route, Timings, Usage
from router.v1 import router_pb2 as pb


def outcome() -> Outcome:
    return Outcome(
        id="d1",
        decided_route=Route.CLOUD,
        route=Route.LOCAL,
        rule="complex_cloud",
        reason="complexity 0.9 >= 0.7",
        policy_version="v1",
        complexity=0.9,
        privacy=0.25,
        stage="model",
        findings={"email": 2},
        model="gemma",
        fallback=True,
        fallback_reason="cloud circuit open",
        timings=Timings(queue_ms=1.23456, scoring_ms=2.0, generation_ms=3.0, cloud_ms=0.5, total_ms=7.0),
        answer_check="echo",
        answer_check_value=0.75,
        cloud_circuit="open",
    )


def test_the_proto_decision_has_exactly_the_fields() -> None:
    assert {f.name for f in pb.Decision.DESCRIPTOR.fields} == set(DECISION_FIELDS)
    assert [f.name for f in pb.Timings.DESCRIPTOR.fields] == list(TIMING_FIELDS)


def test_the_json_decision_has_exactly_the_fields() -> None:
    d = decision_dict(outcome())
    assert list(d) == list(DECISION_FIELDS)
    assert list(d["timings"]) == list(TIMING_FIELDS)


def test_the_row_has_the_decision_and_the_request_columns() -> None:
    assert set(COLUMNS) == set(row_columns())
    assert len(row_columns()) == len(set(row_columns()))
    request = build_request([("user", "hi")], app_id="app")
    row = decision_row(request, outcome(), "route", Usage(3, 4), "OK", "", 1.0)
    assert set(decision_columns(outcome())) | set(ROW_ONLY_COLUMNS) == {
        f.name for f in dataclasses.fields(row)
    }


def test_the_table_has_the_rows_columns_and_the_labels(tmp_path: Path) -> None:
    db = open_db(tmp_path / "decisions.db")
    try:
        columns = set(db[TABLE].columns_dict)
    finally:
        db.close()
    assert columns == set(COLUMNS) | LABEL_COLUMNS
    assert not set(DECISION_FIELDS) & LABEL_COLUMNS


def test_the_python_clients_decision_has_the_fields() -> None:
    names = [f.name for f in dataclasses.fields(DecisionInfo)]
    assert {"summary" if n == "in_words" else n for n in names} == set(DECISION_FIELDS)


def test_the_three_forms_carry_the_same_values() -> None:
    o = outcome()
    as_json = decision_dict(o)
    from_proto = dataclasses.asdict(DecisionInfo.from_pb(to_pb_decision(o)))
    from_proto["summary"] = from_proto.pop("in_words")
    request = build_request([("user", "hi")], app_id="app")
    row = dataclasses.asdict(decision_row(request, o, "route", Usage(3, 4), "OK", "", 1.0))
    for name in DECISION_FIELDS:
        if name == "timings":
            for t in TIMING_FIELDS:
                assert from_proto["timings"][t] == pytest.approx(as_json["timings"][t], abs=1e-3), t
                assert row[t] == as_json["timings"][t], t
        else:
            assert from_proto[name] == as_json[name], name
            assert row[name] == as_json[name], name
    assert as_json["route"] == "local" and as_json["findings"] == {"email": 2}
    assert "echo" in as_json["summary"]
    assert isinstance(DecisionRow(**decision_columns(o), ts=0.0, app="", kind=""), DecisionRow)
