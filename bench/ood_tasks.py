"""Out-of-suite tasks for `bench.routing`: graded prompts the calibration suite never saw, in other words.

The calibration suite (router/calibration/suite.py) trains the head; these check whether what it learned
carries over to prompts written by someone else. Two families come from public data in the shared folder
(nq_open search questions, GSM8K word problems), two are generated here with templates and vocabulary
the suite does not use (arithmetic of growing size, mechanical edits of a given sentence). Every item is
a suite `Item`, graded by the suite's own graders (router/calibration/grade.py); nothing here is ever
trained on.
"""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from router.calibration.suite import Item


def _item(family: str, i: int, prompt: str, grader: str, expected: dict[str, Any]) -> Item:
    """An out-of-suite task in the suite's own shape, graded by the suite's own graders."""
    return Item(f"{family}-{i:03d}", family, prompt, grader, expected, fixed_split="heldout")


def _arithmetic(rng: random.Random, n: int) -> Iterator[Item]:
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
            yield _item("ood_arithmetic", i, f"Work out {a} + {b} - {c}.", "number", {"number": a + b - c})
            continue
        text, fn = forms[i % len(forms)]
        a, b = rng.randint(lo, hi), rng.randint(lo, hi)
        if "subtract" in text or "difference" in text:
            a, b = max(a, b), min(a, b)
        if "times" in text or "Multiply" in text:
            b = rng.randint(2, max(2, min(hi, 10 ** min(digits, 3) - 1)))
        yield _item("ood_arithmetic", i, text.format(a=a, b=b), "number", {"number": fn(a, b)})


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


def _edits(rng: random.Random, n: int) -> Iterator[Item]:
    """Mechanical edits of a given sentence, phrased unlike the suite's format edits."""
    for i in range(n):
        kind = i % 6
        s = _EDIT_SENTENCES[(i // 6 + 5 * kind) % len(_EDIT_SENTENCES)]  # every sentence with every edit
        words = s.split()
        if kind == 0:
            yield _item(
                "ood_edits",
                i,
                f'Write this sentence in capital letters: "{s}"',
                "exact",
                {"text": s.upper(), "case": True},
            )
        elif kind == 1:
            yield _item(
                "ood_edits",
                i,
                f'Replace every space with a hyphen in: "{s}"',
                "exact",
                {"text": "-".join(words)},
            )
        elif kind == 2:
            yield _item(
                "ood_edits",
                i,
                f'Write the words of this sentence in reverse order: "{s}"',
                "exact",
                {"text": " ".join(reversed(words)), "words": True},
            )
        elif kind == 3:
            yield _item(
                "ood_edits",
                i,
                f'How many words are in this sentence? "{s}"',
                "number",
                {"number": len(words)},
            )
        elif kind == 4:
            w = rng.choice(words[1:])
            yield _item(
                "ood_edits",
                i,
                f'Repeat this sentence but leave out the word "{w}": "{s}"',
                "exact",
                {"text": " ".join(x for x in words if x != w), "words": True},
            )
        else:
            yield _item(
                "ood_edits",
                i,
                f'Write only the last word of this sentence: "{s}"',
                "exact",
                {"text": words[-1]},
            )


def tasks(shared: Path | None, n: int, seed: int = 7) -> list[Item]:
    """`n` tasks of each family (the shared-data families only where the folder is there), the families
    interleaved, so a run cut short has answered some of each."""
    rng = random.Random(seed)
    out: list[Item] = []
    if shared is not None and (shared / "nq_open.dev.jsonl").exists():
        lines = (shared / "nq_open.dev.jsonl").read_text(encoding="utf-8").splitlines()
        for i, line in enumerate(lines[-n:]):  # the end of the file: bench.routing's old check used the start
            r = json.loads(line)
            out.append(_item("nq_open", i, r["question"] + "?", "contains", {"any": r["answers"]}))
        lines = (shared / "gsm8k.dev.jsonl").read_text(encoding="utf-8").splitlines()
        for i, line in enumerate(lines[-n:]):
            r = json.loads(line)
            number = float(str(r["final_answer"]).replace(",", ""))
            out.append(_item("gsm8k", i, r["question"], "final_number", {"number": number}))
    out.extend(_arithmetic(rng, n))
    out.extend(_edits(rng, n))
    by_family: dict[str, list[Item]] = {}
    for task in out:
        by_family.setdefault(task.family, []).append(task)
    return [t for group in itertools.zip_longest(*by_family.values()) for t in group if t is not None]


def answer(
    model: Path, items: list[Item], cache: Path, threads: int | None = None
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
            row = done.get(task.prompt)
            if row is None:
                if backend is None:
                    backend = backends.load_backend("auto", model, n_ctx=4096, n_threads=threads)
                prompt = backend.format_prompt([Message("user", task.prompt)])
                pre = backend.prefill(prompt)
                cancel = threading.Event()
                text = ""
                for piece in backend.stream(prompt, GenerationOptions(), cancel):
                    text += piece.text
                    if len(text) >= grade.read_limit(task):  # what the grader reads, as `router calibrate`
                        cancel.set()
                row = {"family": task.family, "text": task.prompt, "answer": text, "hidden": pre.hidden}
                row |= {"entropy": pre.entropy, "top_prob": pre.top_prob, "n_tokens": pre.n_tokens}
                cache.parent.mkdir(parents=True, exist_ok=True)
                with cache.open("a", encoding="utf-8") as f:
                    f.write(json.dumps(row, ensure_ascii=False) + "\n")
            rows.append({**row, "family": task.family, "ok": grade.grade(task, str(row["answer"]))})
    finally:
        if backend is not None:
            backend.close()
    return rows


__all__ = ["answer", "tasks"]
