"""The decision log's writer: batched inserts lose no row, `close()` writes what is still queued, and a
row reads back with the values it was recorded with."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import sqlite_utils
from structlog.testing import capture_logs

from router.decisions import (
    COLUMNS,
    LABEL_COLUMNS,
    TABLE,
    DecisionLog,
    DecisionRow,
    decode,
    get,
    open_db,
    reader,
)


def row(i: int, **kw: Any) -> DecisionRow:
    base: dict[str, Any] = dict(
        id=f"d{i:05d}", ts=1_700_000_000.0 + i, app="notes", kind="classify", route="cloud",
        decided_route="local", rule="long_prompt", reason="long", policy_version="abc", complexity=0.25,
        privacy=0.5, stage="features", findings={"email": 2, "api_key": 1}, model="m", queue_ms=1.5,
        scoring_ms=0.25, generation_ms=3.0, cloud_ms=4.0, total_ms=9.75, tokens_in=7, tokens_out=11,
        status="OK", error="", fallback=True, fallback_reason="cloud down", prompt_hash="ph",
        cloud_circuit="closed",
    )  # fmt: skip
    base.update(kw)
    return DecisionRow(**base)


def test_columns_are_the_rows_fields_and_the_tables_columns(tmp_path: Path) -> None:
    assert tuple(f.name for f in dataclasses.fields(DecisionRow)) == COLUMNS
    db = open_db(tmp_path / "d.db")
    try:
        table = db[TABLE]
        assert isinstance(table, sqlite_utils.db.Table)
        # The row's own columns, and the labels set later (Feedback, shadow checks).
        assert set(COLUMNS) | LABEL_COLUMNS == set(table.columns_dict)
    finally:
        db.close()


def test_to_record_stores_findings_as_json_and_fallback_as_an_int() -> None:
    r = row(1)
    record = r.to_record()
    expected = {f.name: getattr(r, f.name) for f in dataclasses.fields(DecisionRow)}
    expected["findings"] = json.dumps(r.findings, sort_keys=True)
    expected["fallback"] = 1
    assert record == expected


def test_a_row_reads_back_as_recorded(tmp_path: Path) -> None:
    path = tmp_path / "d.db"
    log = DecisionLog(path)
    try:
        log.record(row(1))
        assert log.flush()
    finally:
        log.close()
    with reader(path) as db:
        back = get(db, "d00001")
    assert back is not None
    assert back == decode(row(1).to_record()) | {"fallback": True} | dict.fromkeys(
        LABEL_COLUMNS - set(COLUMNS)
    )


def test_close_writes_every_queued_row_in_batches(tmp_path: Path) -> None:
    path = tmp_path / "d.db"
    # A long linger and a small batch: close() arrives while rows are still queued.
    log = DecisionLog(path, batch_size=7, linger_s=0.5)
    for i in range(500):
        log.record(row(i))
    log.close()
    with reader(path) as db:
        ids = [r["id"] for r in db[TABLE].rows_where(order_by="id")]
    assert ids == [f"d{i:05d}" for i in range(500)]


def test_flush_waits_for_the_rows_recorded_so_far(tmp_path: Path) -> None:
    path = tmp_path / "d.db"
    log = DecisionLog(path, linger_s=0.05)
    try:
        for i in range(50):
            log.record(row(i))
        assert log.flush(timeout=10)
        with reader(path) as db:
            assert db[TABLE].count == 50
    finally:
        log.close()


def test_flush_does_not_wait_out_the_linger(tmp_path: Path) -> None:
    # A linger far longer than the flush timeout: flush() must wake the writer, not wait for it.
    log = DecisionLog(tmp_path / "d.db", linger_s=600)
    try:
        log.record(row(1))
        assert log.flush(timeout=30)
    finally:
        log.close()


def test_each_written_row_is_logged_once_after_its_transaction(tmp_path: Path) -> None:
    path = tmp_path / "d.db"
    log = DecisionLog(path, batch_size=3, linger_s=0)
    try:
        with capture_logs() as events:
            for i in range(8):
                log.record(row(i, findings={"email": i}))
            assert log.flush()
            with reader(path) as db:
                on_disk = {r["id"] for r in db[TABLE].rows}
    finally:
        log.close()
    lines = [e for e in events if e["event"] == "decision"]
    assert [e["decision_id"] for e in lines] == [f"d{i:05d}" for i in range(8)]
    assert {e["decision_id"] for e in lines} <= on_disk  # flush() returned: every logged row is written
    first = lines[0]
    assert first["log_level"] == "info"
    assert {k: first[k] for k in ("app", "route", "rule", "status", "findings", "total_ms")} == {
        "app": "notes", "route": "cloud", "rule": "long_prompt", "status": "OK", "findings": {"email": 0},
        "total_ms": 9.75,
    }  # fmt: skip
    assert "reason" not in first and "prompt_hash" not in first


def test_rows_given_as_functions_are_built_by_the_writer_and_counted_after_writing(tmp_path: Path) -> None:
    import threading

    path = tmp_path / "d.db"
    built_in: set[str] = set()
    counted: list[tuple[str, bool]] = []

    def build(i: int) -> DecisionRow:
        built_in.add(threading.current_thread().name)
        return row(i)

    def on_written(rows: Any) -> None:  # after the transaction: each row is already on disk
        with reader(path) as db:
            counted.extend((r.id, get(db, r.id) is not None) for r in rows)

    log = DecisionLog(path, linger_s=0, on_written=on_written)
    try:
        for i in range(5):
            log.record(lambda i=i: build(i))
        assert log.flush()  # returns once on_written has seen every row
        assert counted == [(f"d{i:05d}", True) for i in range(5)]
    finally:
        log.close()
    assert built_in == {"decision-log"}


def test_a_row_that_fails_to_build_is_lost_alone_and_a_failing_hook_stops_nothing(tmp_path: Path) -> None:
    path = tmp_path / "d.db"

    def broken() -> DecisionRow:
        raise ValueError("the prompt text would be here")

    def hook(rows: Any) -> None:
        raise RuntimeError("metrics are down")

    log = DecisionLog(path, linger_s=0, on_written=hook)
    try:
        with capture_logs() as events:
            log.record(row(1))
            log.record(broken)
            log.record(row(2))
            assert log.flush()
            log.record(row(3))  # the writer is still alive after both failures
            assert log.flush()
    finally:
        log.close()
    with reader(path) as db:
        assert sorted(r["id"] for r in db[TABLE].rows) == ["d00001", "d00002", "d00003"]
    failures = [e for e in events if e["event"] in ("decision_row_failed", "decision_hook_failed")]
    assert [(e["event"], e["error_type"]) for e in failures][:2] == [
        ("decision_row_failed", "ValueError"),
        ("decision_hook_failed", "RuntimeError"),
    ]
    assert all("prompt" not in str(e) for e in failures)  # the type only, never the message


def test_the_same_id_twice_keeps_the_last_row(tmp_path: Path) -> None:
    path = tmp_path / "d.db"
    log = DecisionLog(path, linger_s=0)
    try:
        log.record(row(1, status="CANCELLED"))
        log.record(row(1, status="OK"))
        assert log.flush()
    finally:
        log.close()
    with reader(path) as db:
        rows = list(db[TABLE].rows)
    assert [r["status"] for r in rows] == ["OK"]
