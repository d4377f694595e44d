"""The daemon pins glibc's mmap threshold; off Linux, or when the operator chose one, it leaves it."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from router import malloc

# A child process, so the setting never leaks into the test run: after the same free of a 1 MiB block,
# a 512 KiB block is mmapped (a new mapping) only while the threshold stays at 128 KiB.
_PROBE = textwrap.dedent(
    """
    import ctypes, sys
    from router import malloc
    pinned = malloc.fix_mmap_threshold() if sys.argv[1] == "pin" else False
    libc = ctypes.CDLL(None)
    libc.malloc.restype = ctypes.c_void_p
    libc.free.argtypes = (ctypes.c_void_p,)
    def mappings():
        return sum(1 for _ in open("/proc/self/maps"))
    libc.free(libc.malloc(1 << 20))  # dynamic threshold: now 1 MiB
    before = mappings()
    block = libc.malloc(512 << 10)
    print(pinned, mappings() > before)
    libc.free(block)
    """
)


def probe(mode: str) -> str:
    return subprocess.run(
        [sys.executable, "-c", _PROBE, mode], capture_output=True, text=True, check=True
    ).stdout.strip()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_pinned_threshold_keeps_large_blocks_out_of_the_heap() -> None:
    assert probe("pin") == "True True"  # mmapped: freeing it gives the memory back at once
    assert probe("leave") == "False False"  # glibc raised its threshold: the block came from the heap


def test_an_operators_setting_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "65536")
    assert malloc.fix_mmap_threshold() is False


def test_nothing_to_do_off_linux(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "platform", "darwin")
    assert malloc.fix_mmap_threshold() is False
