"""Deterministic graders for the calibration suite, and the sandbox that runs code answers.

A grader reads at most `READ_CHARS` characters of an answer (`CODE_READ_CHARS` for code and worked
solutions): a short task's
answer is judged by how it starts, as a user reading it would. The runner stops generating once that much
text is there, so an answer that rambles costs no more than that.

Graders:

* number:   the first number of the answer that is not already in the question equals the expected one
            ("9 + 9 = 18" counts; "1,200" and "1200.0" are 1200); when the expected number is itself in
            the question (extraction), simply the answer's first number.
* final_number: the last number of the answer equals the expected one (a worked solution ends with
            its result).
* contains: one of the accepted answers occurs as a whole word or phrase (case, accents and punctuation
            ignored; `exact`: the literal string, e.g. an e-mail address).
* choice:   the first standalone option letter is the right one, or, with no letter, only the right
            option's text is named.
* exact:    the first non-empty line equals the target, ignoring surrounding quotes, backticks and a final
            full stop (`case`: case-sensitive; `words`/`commas`: compared as a word list).
* yesno:    the first "yes" or "no" in the answer is the expected one.
* code:     the first Python code block (or the whole answer) defines the function, and the item's
            asserts pass in the sandbox (`run_sandboxed`).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import unicodedata
from pathlib import Path
from typing import Any

from router.calibration.suite import Item

READ_CHARS = 200
CODE_READ_CHARS = 700
CODE_TIMEOUT_S = 5.0
CODE_MEMORY_BYTES = 512 * 1024 * 1024

_NUMBER = re.compile(r"(?<![\w.])-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?![\d,]\d)")
_CODE_BLOCK = re.compile(r"```(?:python|py)?\s*\n(.*?)(?:```|$)", re.S)


def read_limit(item: Item) -> int:
    """Code and worked solutions (`final_number`) are read further: their result comes at the end."""
    return CODE_READ_CHARS if item.grader in ("code", "final_number") else READ_CHARS


def _fold(text: str) -> str:
    text = unicodedata.normalize("NFKD", text.casefold())
    text = "".join(c for c in text if not unicodedata.combining(c))
    return " ".join(re.sub(r"[^\w@.'-]+", " ", text.replace("\u2019", "'")).split())


def _first_line(answer: str) -> str:
    for line in answer.strip().splitlines():
        if line.strip():
            return line.strip()
    return ""


def _strip_wrapping(line: str, keep_period: bool) -> str:
    line = line.strip().strip("`*").strip()
    line = re.sub(r"^(answer|output|result)\s*:\s*", "", line, flags=re.I)
    line = line.strip().strip("\"'`\u201c\u201d\u2018\u2019").strip()
    if not keep_period:
        line = line.rstrip(".").strip()
    return line


def _as_number(text: str) -> float | None:
    try:
        return float(text.replace(",", ""))
    except ValueError:
        return None


def grade(item: Item, answer: str) -> bool:
    """True when `answer` is a good enough local answer to `item`. An echo of the prompt is never one,
    whatever it contains: a multiple-choice question said back holds every option letter, a yes/no
    question "Answer yes or no." both words, an extraction's sentence said back the city it asks for."""
    if _echoes(item, answer):
        return False
    answer = answer[: read_limit(item)]
    e = item.expected
    kind = item.grader
    if kind == "number":
        want = float(e["number"])
        asked = {_as_number(n) for n in _NUMBER.findall(item.prompt)}
        found = [v for v in (_as_number(n) for n in _NUMBER.findall(answer)) if v is not None]
        if want not in asked:
            found = [v for v in found if v not in asked]
        return bool(found) and abs(found[0] - want) < 1e-9
    if kind == "final_number":  # worked solutions: the last number stated is the result
        found = [v for v in (_as_number(n) for n in _NUMBER.findall(answer)) if v is not None]
        return bool(found) and abs(found[-1] - float(e["number"])) < 1e-9
    if kind == "contains":
        if e.get("exact"):
            return any(a in answer for a in e["any"])
        folded = f" {_fold(answer)} "
        return any(re.search(rf"(?<!\w){re.escape(_fold(a))}(?!\w)", folded) for a in e["any"])
    if kind == "choice":
        return _grade_choice(answer, e)
    if kind == "exact":
        return _grade_exact(answer, e)
    if kind == "yesno":
        m = re.search(r"\b(yes|no)\b", answer, re.I)
        return m is not None and m.group(1).lower() == str(e["answer"])
    if kind == "code":
        return run_sandboxed(extract_code(answer), str(e["tests"])).passed
    if kind == "conversational":
        return _grade_conversational(item, answer, e)
    raise ValueError(f"unknown grader {kind!r}")


def _echoes(item: Item, answer: str) -> bool:
    from router.checks import Answer, CheckSettings, check_echo
    from router.types import Message

    return check_echo(Answer(answer, (Message("user", item.prompt),)), CheckSettings()) is not None


def _grade_conversational(item: Item, answer: str, e: dict[str, Any]) -> bool:
    """Small talk has no one right answer: a reply is good enough when it says something (at least
    `min_words` words), passes the daemon's own answer checks (no echo, loop or refusal), and contains
    one of `any` when the item names words a fitting reply must use (e.g. a greeting back)."""
    from router.checks import Answer, CheckSettings, check_answer
    from router.types import Message

    if len(re.findall(r"\w+", answer)) < int(e.get("min_words", 2)):
        return False
    if check_answer(Answer(answer, (Message("user", item.prompt),)), CheckSettings()) is not None:
        return False
    wanted = e.get("any")
    folded = f" {_fold(answer)} "
    return not wanted or any(re.search(rf"(?<!\w){re.escape(_fold(a))}(?!\w)", folded) for a in wanted)


def _grade_choice(answer: str, e: dict[str, Any]) -> bool:
    m = re.search(r"(?<![A-Za-z])([ABCD])(?![A-Za-z])", answer)
    if m:
        return m.group(1) == str(e["letter"])
    folded = f" {_fold(answer)} "
    named = [o for o in e["options"] if re.search(rf"(?<!\w){re.escape(_fold(o))}(?!\w)", folded)]
    return named == [e["answer"]]


def _grade_exact(answer: str, e: dict[str, Any]) -> bool:
    line = _strip_wrapping(_first_line(answer), bool(e.get("keep_period")))
    target = str(e["text"])
    if e.get("words") or e.get("commas"):
        split = r"\s*,\s*" if e.get("commas") else r"[\s,]+"
        got = [w for w in re.split(split, line.casefold().rstrip(".")) if w]
        want = [w for w in re.split(split, target.casefold()) if w]
        if e.get("commas"):
            return "," in line and got == want
        return got == want
    if e.get("case"):
        return line == target
    return line.casefold() == target.casefold()


def extract_code(answer: str) -> str:
    m = _CODE_BLOCK.search(answer)
    return m.group(1) if m else answer


class SandboxResult:
    __slots__ = ("output", "passed", "timed_out")

    def __init__(self, passed: bool, timed_out: bool, output: str) -> None:
        self.passed, self.timed_out, self.output = passed, timed_out, output


def _limit_resources(memory: int, cpu_s: int) -> None:  # pragma: no cover - runs in the child
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s))
    resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))
    os.setsid()


# Runs before the answer's code: no network, no writes outside the working directory (a fresh temp dir),
# no subprocesses. A guard for honest mistakes of a small model, not a security boundary against an
# adversary (the answers are the local model's own, to fixed prompts).
_PRELUDE = r"""
import builtins, os, socket, sys
_root = os.path.realpath(os.getcwd())
_open = builtins.open
def _guarded_open(file, mode="r", *a, **k):
    if any(c in mode for c in "wax+"):
        path = os.path.realpath(os.path.join(_root, os.fspath(file)))
        if not (path == _root or path.startswith(_root + os.sep)):
            raise PermissionError(f"sandbox: no writes outside {_root}")
    return _open(file, mode, *a, **k)
builtins.open = _guarded_open
def _no(*a, **k):
    raise PermissionError("sandbox: not allowed")
socket.socket = _no
socket.create_connection = _no
for _name in ("system", "popen", "fork", "execv", "execve", "spawnv", "remove", "unlink", "rmdir",
              "rename", "replace", "mkdir", "makedirs", "chmod", "chown", "symlink", "link", "truncate"):
    if hasattr(os, _name):
        setattr(os, _name, _no)
import subprocess, shutil
subprocess.Popen = _no
shutil.rmtree = _no
shutil.move = _no
del _no, _name
"""


def run_sandboxed(
    code: str, tests: str, *, timeout_s: float = CODE_TIMEOUT_S, memory_bytes: int = CODE_MEMORY_BYTES
) -> SandboxResult:
    """Run `code` and then `tests` in a separate Python process: a fresh temporary working directory
    (removed afterwards), isolated mode (`-I`: no site packages of the user, no PYTHON* variables), an
    empty environment, limits on address space, CPU seconds and written file size, a wall-clock
    timeout that kills the whole process group, and a prelude that refuses sockets, subprocesses and
    file writes outside the temporary directory."""
    source = f"{_PRELUDE}\n{code}\n\n{tests}\n"
    with tempfile.TemporaryDirectory(prefix="hr-sandbox-") as tmp:
        script = Path(tmp) / "answer.py"
        script.write_text(source, encoding="utf-8")
        cpu_s = max(1, int(timeout_s) + 1)
        try:
            proc = subprocess.Popen(
                [sys.executable, "-I", "-S", "answer.py"],
                cwd=tmp,
                env={"PATH": "/usr/bin:/bin", "HOME": tmp, "TMPDIR": tmp},
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                preexec_fn=lambda: _limit_resources(memory_bytes, cpu_s),
            )
        except OSError as e:
            return SandboxResult(False, False, f"could not start: {e}")
        try:
            out, _ = proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            proc.communicate()
            return SandboxResult(False, True, "timed out")
        text = out.decode("utf-8", errors="replace")[-2000:]
        return SandboxResult(proc.returncode == 0, False, text)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    import signal

    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()


__all__ = ["READ_CHARS", "SandboxResult", "extract_code", "grade", "read_limit", "run_sandboxed"]
