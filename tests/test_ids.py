"""Decision ids: random, unique, 32 hex digits, also when several threads ask at once."""

from __future__ import annotations

import threading

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
