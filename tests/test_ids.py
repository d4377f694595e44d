"""Decision ids: UUIDv7 as 32 hex digits, time-ordered, unique also when several threads ask at once."""

from __future__ import annotations

import threading
import uuid

from router.ids import IdSource


def test_ids_are_32_hex_digits_and_unique_across_pool_refills() -> None:
    source = IdSource()
    ids = [source.new() for _ in range(3000)]  # ~12 refills of the 4 KiB pool
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids)
    assert len(set(ids)) == len(ids)


def test_two_sources_do_not_repeat_each_other() -> None:
    assert {IdSource().new() for _ in range(100)}.__len__() == 100


def test_threads_never_get_the_same_id() -> None:
    source = IdSource()
    got: list[list[str]] = [[] for _ in range(4)]

    def take(out: list[str]) -> None:
        out.extend(source.new() for _ in range(2000))

    threads = [threading.Thread(target=take, args=(out,)) for out in got]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    every = [i for out in got for i in out]
    assert len(set(every)) == len(every) == 8000


def test_ids_are_uuid7_with_the_creation_millisecond_first() -> None:
    now_ns = 1_795_000_000_123_456_789  # 2026-11-18, pinned
    ids = [IdSource(clock_ns=lambda: now_ns).new() for _ in range(50)]
    for i in ids:
        u = uuid.UUID(hex=i)
        assert u.version == 7 and u.variant == uuid.RFC_4122
        assert int(i[:12], 16) == now_ns // 1_000_000  # unix_ts_ms, the first 48 bits
    assert len(set(ids)) == 50  # the 74 random bits differ within one millisecond


def test_ids_sort_by_creation_time() -> None:
    clock = iter(range(1_700_000_000_000_000_000, 1_700_000_000_000_000_000 + 100 * 10**6, 10**6))
    source = IdSource(clock_ns=lambda: next(clock))
    ids = [source.new() for _ in range(100)]  # one per millisecond
    assert ids == sorted(ids)
