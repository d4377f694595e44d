"""Out-of-suite tasks for `bench.routing`: graded prompts the calibration suite never saw, in other words.

The calibration suite (router/calibration/suite.py) trains the head; these check whether what it learned
carries over to prompts written by someone else. Two families come from public data in the shared folder
(nq_open search questions, GSM8K word problems), two are generated here with templates and vocabulary
the suite does not use (arithmetic of growing size, mechanical edits of a given sentence). Every item is
graded exactly; nothing here is ever trained on.
"""

from __future__ import annotations

import itertools
import json
import random
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

_NUM = re.compile(r"-?\d[\d,]*(?:\.\d+)?")


@dataclass(frozen=True, slots=True)
class Task:
    family: str
    text: str
    grade: Callable[[str], bool]


def _norm(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9 ]", " ", text.lower()).split())


def contains_any(answers: list[str]) -> Callable[[str], bool]:
    wanted = [a for a in (_norm(x) for x in answers) if a]
    return lambda answer: any(f" {a} " in f" {_norm(answer)} " for a in wanted)


def last_number(value: float) -> Callable[[str], bool]:
    def check(answer: str) -> bool:
        nums = [x.replace(",", "").rstrip(".") for x in _NUM.findall(answer)]
        if not nums:
            return False
        try:
            return abs(float(nums[-1]) - value) < 1e-6
        except ValueError:
            return False

    return check


def first_number(value: float) -> Callable[[str], bool]:
    """The answer's first number (small models often add a wrong "check" after the right result)."""

    def check(answer: str) -> bool:
        nums = [x.replace(",", "").rstrip(".") for x in _NUM.findall(answer)]
        try:
            return bool(nums) and abs(float(nums[0]) - value) < 1e-6
        except ValueError:
            return False

    return check


def exact_line(expected: str, *, case: bool = True) -> Callable[[str], bool]:
    """The answer's first non-empty line equals `expected` (quotes and a final full stop ignored)."""

    def clean(s: str) -> str:
        s = s.strip().strip("\"'`").strip()
        s = s.rstrip(".") if not expected.endswith(".") else s
        return s if case else s.lower()

    target = clean(expected)

    def check(answer: str) -> bool:
        lines = [ln for ln in answer.splitlines() if ln.strip()]
        if not lines:
            return False
        first = lines[0]
        if ":" in first and len(lines) > 1 and not target.count(":"):
            first = lines[1]  # "Here is the sentence:" then the sentence
        return clean(first) == target

    return check


def _first_and_last(words: list[str]) -> Callable[[str], bool]:
    """Both words named, and not by copying the sentence (an echo names every word)."""
    inner = " ".join(words[1:-1])

    def check(answer: str) -> bool:
        a = _norm(answer)
        return f" {words[0]} " in f" {a} " and f" {words[-1]} " in f" {a} " and inner not in a

    return check


def _arithmetic(rng: random.Random, n: int) -> Iterator[Task]:
    """Sums, differences and products whose operands grow from one digit to six, and chains."""
    forms = [
        ("Add {a} and {b}.", lambda a, b: a + b),
        ("What do you get if you subtract {b} from {a}?", lambda a, b: a - b),
        ("Multiply {a} by {b}. Reply with only the product.", lambda a, b: a * b),
        ("What is the sum of {a} and {b}?", lambda a, b: a + b),
        ("Find the difference between {a} and {b}.", lambda a, b: a - b),
        ("How much is {a} times {b}?", lambda a, b: a * b),
    ]
    for i in range(n):
        digits = 1 + (i * 6) // n  # 1..6 digits, evenly
        lo, hi = 10 ** (digits - 1) if digits > 1 else 1, 10**digits - 1
        if i % 5 == 4:  # a chain of three operands
            a, b, c = (rng.randint(lo, hi) for _ in range(3))
            yield Task("ood_arithmetic", f"Work out {a} + {b} - {c}.", first_number(a + b - c))
            continue
        text, fn = forms[i % len(forms)]
        a, b = rng.randint(lo, hi), rng.randint(lo, hi)
        if "subtract" in text or "difference" in text:
            a, b = max(a, b), min(a, b)
        if "times" in text or "Multiply" in text:
            b = rng.randint(2, max(2, min(hi, 10 ** min(digits, 3) - 1)))
        yield Task("ood_arithmetic", text.format(a=a, b=b), first_number(fn(a, b)))


_EDIT_SENTENCES = [
    "the harbour lights came on one by one",
    "our neighbour repaired the old wooden fence",
    "a small boat drifted slowly past the pier",
    "she painted the kitchen a pale shade of green",
    "the library closes early on public holidays",
    "two owls were calling across the quiet valley",
    "he forgot his umbrella on the morning train",
    "the bakery sells warm bread before sunrise",
    "fresh snow covered the mountain path overnight",
    "my cousin plays the violin in a local orchestra",
    "the museum opened a new gallery last spring",
    "heavy rain flooded the road near the bridge",
]


def _edits(rng: random.Random, n: int) -> Iterator[Task]:
    """Mechanical edits of a given sentence, phrased unlike the suite's format edits."""
    for i in range(n):
        kind = i % 6
        s = _EDIT_SENTENCES[(i // 6 + 5 * kind) % len(_EDIT_SENTENCES)]  # every sentence with every edit
        words = s.split()
        if kind == 0:
            yield Task("ood_edits", f'Write this sentence in capital letters: "{s}"', exact_line(s.upper()))
        elif kind == 1:
            yield Task(
                "ood_edits",
                f'Replace every space with a hyphen in: "{s}"',
                exact_line("-".join(words)),
            )
        elif kind == 2:
            yield Task(
                "ood_edits",
                f'Write the words of this sentence in reverse order: "{s}"',
                exact_line(" ".join(reversed(words)), case=False),
            )
        elif kind == 3:
            yield Task("ood_edits", f'How many words are in this sentence? "{s}"', first_number(len(words)))
        elif kind == 4:
            w = rng.choice(words[1:])
            yield Task(
                "ood_edits",
                f'Repeat this sentence but leave out the word "{w}": "{s}"',
                exact_line(" ".join(x for x in words if x != w), case=False),
            )
        else:
            yield Task(
                "ood_edits",
                f'Give the first word and the last word of this sentence: "{s}"',
                _first_and_last(words),
            )


def tasks(shared: Path | None, n: int, seed: int = 7) -> list[Task]:
    """`n` tasks of each family (the shared-data families only where the folder is there), the families
    interleaved, so a run cut short has answered some of each."""
    rng = random.Random(seed)
    out: list[Task] = []
    if shared is not None and (shared / "nq_open.dev.jsonl").exists():
        lines = (shared / "nq_open.dev.jsonl").read_text(encoding="utf-8").splitlines()
        for line in lines[-n:]:  # the end of the file: bench.routing's old check used the start
            r = json.loads(line)
            out.append(Task("nq_open", r["question"] + "?", contains_any(r["answers"])))
        lines = (shared / "gsm8k.dev.jsonl").read_text(encoding="utf-8").splitlines()
        for line in lines[-n:]:
            r = json.loads(line)
            out.append(
                Task("gsm8k", r["question"], last_number(float(str(r["final_answer"]).replace(",", ""))))
            )
    out.extend(_arithmetic(rng, n))
    out.extend(_edits(rng, n))
    by_family: dict[str, list[Task]] = {}
    for task in out:
        by_family.setdefault(task.family, []).append(task)
    return [t for group in itertools.zip_longest(*by_family.values()) for t in group if t is not None]


__all__ = ["Task", "tasks"]


def answer(
    model: Path, items: list[Task], cache: Path, threads: int | None = None
) -> list[dict[str, object]]:
    """Each task answered by `model` with the daemon's prompt format and generation defaults, with the
    prefill the model stage scores; graded. Cached per prompt text in `cache` (JSONL, appended), so a
    rerun answers only what is new."""
    import threading

    from router import backends
    from router.calibration import grade
    from router.types import GenerationOptions, Message

    done: dict[str, dict[str, object]] = {}
    if cache.exists():
        for line in cache.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            done[row["text"]] = row
    backend = None
    rows: list[dict[str, object]] = []
    try:
        for task in items:
            row = done.get(task.text)
            if row is None:
                if backend is None:
                    backend = backends.load_backend("auto", model, n_ctx=4096, n_threads=threads)
                prompt = backend.format_prompt([Message("user", task.text)])
                pre = backend.prefill(prompt)
                cancel = threading.Event()
                text = ""
                for piece in backend.stream(prompt, GenerationOptions(), cancel):
                    text += piece.text
                    if len(text) >= grade.READ_CHARS * 2:
                        cancel.set()
                row = {"family": task.family, "text": task.text, "answer": text, "hidden": pre.hidden}
                row |= {"entropy": pre.entropy, "top_prob": pre.top_prob, "n_tokens": pre.n_tokens}
                cache.parent.mkdir(parents=True, exist_ok=True)
                with cache.open("a", encoding="utf-8") as f:
                    f.write(json.dumps(row, ensure_ascii=False) + "\n")
            rows.append({**row, "family": task.family, "ok": task.grade(str(row["answer"]))})
    finally:
        if backend is not None:
            backend.close()
    return rows
