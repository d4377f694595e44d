"""Answer checks on real answers: what they catch, what they wrongly reject, what they cost.

    python -m bench.answer_checks [--quick] [--show N] [--skip-daemons] [--cache DIR | --no-cache]
                                  [--sets smollm2,smollm2-no-penalty,gemma] [--cached-only] [--labels FILE]
                                  [--graded STATE_DIR]

1. **Detection.** Two real models (the default SmolLM2 135M Instruct, and Gemma 3 270M, a base model)
   answer prompts from /work/shared/data/complexity (chit-chat, nq_open questions, GSM8K problems,
   Vicuna-bench, AlpacaEval instructions) with the daemon's own prompt format, sampling and stop
   rules, in process. SmolLM2 also answers once with its repetition control off, so that loops
   appear. Every answer has two labels: the one a reader gave it (bench/data/answer_labels.jsonl,
   rubric in bench/data/answer_labels.md; the ground truth where there is one) and an automatic one
   (difflib similarity to the prompt for echoes, zlib compressibility for loops, a phrase list over
   short answers for refusals, no letters or digits for empty). The first batch of answers is split by
   prompt into a dev half, on which the checks' thresholds are chosen, and a held-out half, which is
   only reported; a second, third and fourth batch (more nq_open and GSM8K rows, and AlpacaEval
   instructions) were each labelled blind by another reader; checks were widened after reading the
   second batch's misses and the third's, and nothing was changed after the fourth. The tables give
   recall per degenerate kind and the share of good answers rejected, per set and part, for both
   labellings, and the disagreements (`--show N` prints them, for reading by eye).
   `--graded STATE_DIR` adds the checks' verdicts on `router calibrate`'s graded answers: a graded-right
   answer rejected is a wrong rejection by the suite's own graders.
2. **Hold-back cost.** Three daemons stream 40 of the same prompts, as many from each source in turn:
   answer checks off (no hold-back), on, and on with `holdback_refusals: false`, in rotating order; time
   to the first delta at p50, the ratio to no hold-back, and p50 by source.
3. **Private answers that fail.** A daemon running Gemma 3 270M (which echoes) with the shipped
   default policy and a cloud stand-in on 127.0.0.1 answers private prompts; for every rejected answer
   the route must be local or cloud_redacted, and the stand-in must never have received the private
   values in the clear.
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import hashlib
import json
import os
import re
import statistics
import tempfile
import threading
import time
import zlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bench._common import Daemon, Targets, fmt, machine_markdown, parser, percentile, table

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "complexity"
MAX_TOKENS = 128
# Labels read by a person, one JSON object a line: set, prompt_sha256, label (echo, loop, empty, refusal,
# good), also (other kinds the answer shows), note. The rubric is answer_labels.md beside it.
READ_LABELS = Path(__file__).resolve().parent / "data" / "answer_labels.jsonl"
KINDS = ("echo", "loop", "empty", "refusal")
HALVES = ("dev", "held-out", "second", "third", "fourth")


@dataclass
class Sample:
    model: str  # the answer set: gemma-3-270m, smollm2 or smollm2-no-penalty (as the read labels name it)
    source: str
    prompt: str
    text: str
    finish: str
    logprobs: list[float]
    label: str = "good"  # the ground truth: the read label where there is one, else the automatic one
    auto: str = "good"  # the automatic labeller's
    read: str | None = None  # the person's, None where the file has no label for this answer
    verdict: str = ""
    check_us: float = 0.0

    @property
    def sha(self) -> str:
        return prompt_sha256(self.prompt)

    @property
    def half(self) -> str:
        return half(self.prompt)


def prompt_sha256(prompt: str) -> str:
    return hashlib.sha256(prompt.encode("utf-8")).hexdigest()


def half(prompt: str) -> str:
    """The part a prompt falls in. The first batch of prompts is split in halves, "dev" or "held-out", by
    sha256: every set's answer to one prompt falls in the same half. Thresholds and checks are chosen on
    dev answers only; held-out answers are only reported. "second", "third" and "fourth" are later
    batches (`SECOND`, `THIRD`, `FOURTH`), each labelled by a reader who did not see the checks'
    verdicts. Checks were widened after reading the second batch's misses, and one rule of the rubric
    (worked arithmetic) was written into a check after the third (docs/benchmarks.md, "Sixth run");
    nothing was changed after the fourth was labelled."""
    sha = prompt_sha256(prompt)
    return _later_batches().get(sha) or ("dev" if int(sha, 16) % 2 == 0 else "held-out")


def read_labels(path: Path = READ_LABELS) -> dict[tuple[str, str], str]:
    """(set, prompt sha256) -> the label a person read, from `path` (empty when it is not there)."""
    if not path.is_file():
        return {}
    out: dict[tuple[str, str], str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            out[(row["set"], row["prompt_sha256"])] = row["label"]
    return out


# --- prompts ------------------------------------------------------------------------------------


def _jsonl(name: str) -> list[dict[str, Any]]:
    path = SHARED / name
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


_SOURCES = {  # name: (file, field)
    "chitchat": ("chitchat.dev.jsonl", "prompt"),
    "nq_open": ("nq_open.dev.jsonl", "question"),
    "gsm8k": ("gsm8k.dev.jsonl", "question"),
    "vicuna": ("vicuna_bench.jsonl", "turns"),
    "alpaca_eval": ("alpaca_eval_small_models.dev.jsonl", "instruction"),
}
FIRST = {"chitchat": (0, 44), "nq_open": (0, 70), "gsm8k": (0, 30), "vicuna": (0, 40)}  # rows [from, to)
QUICK = {"chitchat": (0, 10), "nq_open": (0, 16), "gsm8k": (0, 8), "vicuna": (0, 8)}
# Later batches: the next rows of two sources, and a source the first batch did not have (open
# instructions). Chit-chat and Vicuna have no rows left.
SECOND = {"nq_open": (70, 120), "gsm8k": (30, 50), "alpaca_eval": (0, 50)}
THIRD = {"nq_open": (120, 170), "gsm8k": (50, 70), "alpaca_eval": (50, 100)}
FOURTH = {"nq_open": (170, 220), "gsm8k": (70, 90), "alpaca_eval": (100, 150)}


def _batch(rows: dict[str, tuple[int, int]]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for name, (start, stop) in rows.items():
        file, field = _SOURCES[name]
        for row in _jsonl(file)[start:stop]:
            text = row.get(field)
            if isinstance(text, list):  # vicuna: the first turn
                text = text[0] if text else None
            if isinstance(text, str) and text.strip():
                out.append((name, text.strip()))
    return out


@functools.cache
def _later_batches() -> dict[str, str]:
    """Prompt sha256 -> the later batch ("second", "third", "fourth") that holds the prompt."""
    later = {"second": SECOND, "third": THIRD, "fourth": FOURTH}
    return {prompt_sha256(p): name for name, rows in later.items() for _, p in _batch(rows)}


def prompts(quick: bool) -> list[tuple[str, str]]:
    """(source, prompt): `QUICK` rows for a quick run, else every batch."""
    return _batch(QUICK) if quick else [p for b in (FIRST, SECOND, THIRD, FOURTH) for p in _batch(b)]


# --- the independent labeller --------------------------------------------------------------------

_REFUSAL_PHRASES = ("not sure", "don't know", "do not know", "cannot answer", "can't answer", "unable to",
                    "i cannot", "i can't", "no idea", "as an ai", "i'm sorry", "i am sorry")  # fmt: skip


def _norm(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def label(prompt: str, text: str, finish: str = "stop") -> str:
    """What a reader would call the answer, by other means than router.checks uses."""
    if not re.search(r"[A-Za-z0-9\u00c0-\uffff]", text):
        return "empty"
    a, p = _norm(text), _norm(prompt)
    if a and (
        difflib.SequenceMatcher(None, a, p).ratio() >= 0.85 or (a.startswith(p) and len(a) < 1.2 * len(p))
    ):
        return "echo"
    if p and len(p) >= 3 and a.count(p) * len(p) >= 0.6 * len(a):
        return "echo"  # the prompt, said again (and again)
    raw = text.encode("utf-8")
    if len(raw) >= 120 and len(zlib.compress(raw, 9)) / len(raw) < 0.3:
        return "loop"
    sentences = [s for s in (_norm(x) for x in re.split(r"[.!?\n]+", text)) if len(s.split()) >= 5]
    repeated = max((sentences.count(s) for s in set(sentences)), default=0)
    if repeated >= 3 or (repeated >= 2 and finish == "length"):
        return "loop"  # the same sentence again and again
    words = a.split()
    if len(words) <= 25 and any(phrase in text.lower().replace("\u2019", "'") for phrase in _REFUSAL_PHRASES):
        return "refusal"
    return "good"


# --- part 1: detection ---------------------------------------------------------------------------


def cache_dir() -> Path:
    """$XDG_CACHE_HOME/hybrid-router/bench (or ~/.cache/...): generated answers, reused by reruns."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "hybrid-router" / "bench"


def _cache_file(root: Path, path: Path, prompt_format: str, sampling: object) -> Path:
    """One JSON file per (model file's sha256, prompt format, sampling options, token limit): a change
    to any of them, or to the model file, generates afresh."""
    from router.model import identity

    key = json.dumps([repr(sampling), prompt_format, MAX_TOKENS], sort_keys=True)
    options = hashlib.sha256(key.encode()).hexdigest()[:16]
    return root / f"answers-{(identity(path) or 'unknown')[:16]}-{options}.json"


def generate(
    model_name: str,
    path: Path,
    items: list[tuple[str, str]],
    repeat_penalty: float | None,
    cache: Path | None,
    cached_only: bool = False,
) -> list[Sample]:
    """Each prompt's answer from `path`, generated in process as the daemon would, or read back from
    `cache` (keyed by the model's sha256, prompt format, sampling options and prompt text)."""
    from router import backends
    from router.types import GenerationOptions, Message

    backend: Any = backends.load_backend("llama_cpp", path, n_ctx=2048, default_max_tokens=MAX_TOKENS)
    if repeat_penalty is not None:
        backend.sampling = replace(backend.sampling, repeat_penalty=repeat_penalty)
    probe = backend.format_prompt([Message("user", "{prompt}")])
    file = _cache_file(cache, path, probe, backend.sampling) if cache is not None else None
    stored: dict[str, Any] = {}
    if file is not None and file.is_file():
        stored = json.loads(file.read_text(encoding="utf-8"))
    out, fresh = [], 0

    def save() -> None:
        if file is not None and fresh:
            file.parent.mkdir(parents=True, exist_ok=True)
            tmp = file.with_suffix(".tmp")
            tmp.write_text(json.dumps(stored), encoding="utf-8")
            tmp.replace(file)

    try:
        for source, prompt in items:
            if prompt not in stored and cached_only:
                continue
            if prompt not in stored:
                messages = [Message("user", prompt)]
                pieces = list(
                    backend.stream(backend.format_prompt(messages), GenerationOptions(), threading.Event())
                )
                stored[prompt] = {
                    "text": "".join(p.text for p in pieces),
                    "finish": pieces[-1].finish_reason or "",
                    "logprobs": [lp for p in pieces for lp in p.logprobs],
                }
                fresh += 1
                if fresh % 10 == 0:
                    save()  # an interrupted run keeps what it generated
            got = stored[prompt]
            out.append(Sample(model_name, source, prompt, got["text"], got["finish"], got["logprobs"]))
    finally:
        backend.close()
        save()
    return out


def judge(samples: list[Sample], labels: dict[tuple[str, str], str]) -> None:
    from router.checks import Answer, CheckSettings, check_answer
    from router.types import Message

    settings = CheckSettings()
    for s in samples:
        s.auto = label(s.prompt, s.text, s.finish)
        s.read = labels.get((s.model, s.sha))
        s.label = s.read or s.auto
        answer = Answer(s.text, (Message("user", s.prompt),), s.finish, s.logprobs)
        # CPU time of this thread, the least of three runs: the machine's other load is not the checks'.
        runs = []
        for _ in range(3):
            t0 = time.thread_time_ns()
            r = check_answer(answer, settings)
            runs.append((time.thread_time_ns() - t0) / 1000)
        s.check_us = min(runs)
        s.verdict = r.check if r else ""


def _pct(part: int, whole: int) -> str:
    return f"{part}/{whole} = {part / whole:.1%}" if whole else "0/0"


def _rates(group: list[Sample], truth: str) -> tuple[float, float]:
    """(share of degenerate answers caught, share of good answers rejected) under one labelling."""
    bad = [s for s in group if getattr(s, truth) not in (None, "good")]
    good = [s for s in group if getattr(s, truth) == "good"]
    caught = sum(1 for s in bad if s.verdict) / len(bad) if bad else float("nan")
    rejected = sum(1 for s in good if s.verdict) / len(good) if good else float("nan")
    return caught, rejected


# The sets the daemon serves with its default settings: not the one with repetition control switched off,
# which is there so that loops appear (the "as served" rows leave it out).
NOT_AS_SERVED = frozenset({"smollm2-no-penalty"})


def _in_group(s: Sample, model: str) -> bool:
    if model == "all sets":
        return True
    if model == "as served":
        return s.model not in NOT_AS_SERVED
    return s.model == model


def score_table(samples: list[Sample], truth: str) -> str:
    """Per set, for the sets as served and for all sets, per half and both: each kind caught/labelled,
    all degenerate answers caught, good answers rejected, under the labels in the Sample field `truth`
    ("label": read labels where there is one, else automatic; "auto": automatic only)."""
    rows = []
    for model in [*sorted({s.model for s in samples}), "as served", "all sets"]:
        for part in (*HALVES, "all"):
            group = [
                s
                for s in samples
                if _in_group(s, model) and (part == "all" or s.half == part) and getattr(s, truth) is not None
            ]
            kinds = []
            for k in KINDS:
                mine = [s for s in group if getattr(s, truth) == k]
                kinds.append(f"{sum(1 for s in mine if s.verdict)}/{len(mine)}")
            bad = [s for s in group if getattr(s, truth) != "good"]
            good = [s for s in group if getattr(s, truth) == "good"]
            rows.append(
                [
                    model,
                    part,
                    len(group),
                    *kinds,
                    _pct(sum(1 for s in bad if s.verdict), len(bad)),
                    _pct(sum(1 for s in good if s.verdict), len(good)),
                ]
            )
    return table(
        ["set", "half", "answers", *(f"{k} caught" for k in KINDS), "degenerate caught", "good rejected"],
        rows,
    )


# Settings other than the defaults whose effect the detection part prints (read labels, each half).
VARIANTS: dict[str, dict[str, Any]] = {
    "repeated_phrases on (phrase_share 0.25, chosen on dev)": {"phrase_share": 0.25}
}


def variant_table(samples: list[Sample]) -> str:
    """Degenerate answers caught and good answers rejected (read labels where there are), per half, with
    the default settings and with each of VARIANTS."""
    from router.checks import Answer, CheckSettings, check_answer
    from router.types import Message

    rows = []
    variants: dict[str, dict[str, Any]] = {"defaults": {}, **VARIANTS}
    for name, changes in variants.items():
        settings = replace(CheckSettings(), **changes)
        verdict = {
            id(s): check_answer(Answer(s.text, (Message("user", s.prompt),), s.finish, s.logprobs), settings)
            is not None
            for s in samples
        }
        cells = []
        for part in (*HALVES, "all"):
            group = [s for s in samples if part == "all" or s.half == part]
            bad = [s for s in group if s.label != "good"]
            good = [s for s in group if s.label == "good"]
            cells += [
                _pct(sum(verdict[id(s)] for s in bad), len(bad)),
                _pct(sum(verdict[id(s)] for s in good), len(good)),
            ]
        rows.append([name, *cells])
    headers = ["settings"]
    for part in (*HALVES, "all"):
        headers += [f"{part}: caught", f"{part}: good rejected"]
    return table(headers, rows)


def detection_section(samples: list[Sample], show: int, targets: Targets) -> str:
    n_read = sum(1 for s in samples if s.read is not None)
    verdicts: dict[str, int] = {}
    for s in samples:
        if s.label == "good" and s.verdict:
            verdicts[s.verdict] = verdicts.get(s.verdict, 0) + 1
    agree = sum(1 for s in samples if s.read is not None and s.read == s.auto)
    confusion: dict[str, int] = {}
    for s in samples:
        if s.read is not None and s.read != s.auto:
            key = f"read {s.read} / automatic {s.auto}"
            confusion[key] = confusion.get(key, 0) + 1
    us = [s.check_us for s in samples]
    lines = [
        "### Detection",
        "",
        f"Read labels (bench/data/answer_labels.jsonl): {n_read} of {len(samples)} answers"
        + ("" if n_read == len(samples) else "; the others take the automatic label")
        + ". Dev and held-out halves of the first batch split by prompt sha256; thresholds are chosen on"
        " dev answers only. The second to fourth batches were labelled blind; checks were widened after"
        " reading the second and third batches' misses, nothing after the fourth.",
        "",
        "**Read labels** (the ground truth):",
        "",
        score_table(samples, "label"),
        "",
        "**Automatic labels** (bench.answer_checks `label`, for comparison):",
        "",
        score_table(samples, "auto"),
        "",
        f"Read and automatic labels agree on {agree} of {n_read} read answers"
        + (": " + ", ".join(f"{k} {v}" for k, v in sorted(confusion.items())) if confusion else "")
        + ".",
        "",
        "Other settings (read labels):",
        "",
        variant_table(samples),
        "",
        "Good answers (read labels) rejected, by check: "
        f"{', '.join(f'{k} {v}' for k, v in sorted(verdicts.items())) or 'none'}.",
        f"Check time per answer: p50 {fmt(percentile(us, 50))} µs, p99 {fmt(percentile(us, 99))} µs, "
        f"max {fmt(max(us) if us else None)} µs.",
    ]
    for part in ("all", "held-out", "fourth"):
        group = [s for s in samples if part == "all" or s.half == part]
        if not group:
            continue
        recall, false_rej = _rates(group, "label")
        targets.check(f"degenerate answers caught ({part}, read labels)", recall * 100, ">=", 95, "%")
        targets.check(f"good answers rejected ({part}, read labels)", false_rej * 100, "<=", 2, "%")
    served = [s for s in samples if _in_group(s, "as served")]
    if served:
        recall, false_rej = _rates(served, "label")
        targets.check("degenerate answers caught (as served, read labels)", recall * 100, ">=", 95, "%")
        targets.check("good answers rejected (as served, read labels)", false_rej * 100, "<=", 2, "%")
    targets.check("answer check time p99", percentile(us, 99) / 1000, "<=", 1, " ms")
    if show:
        bad_all = [s for s in samples if s.label != "good"]
        good_all = [s for s in samples if s.label == "good"]
        missed = [s for s in bad_all if not s.verdict][:show]
        wrong = [s for s in good_all if s.verdict][:show]
        lines += ["", "Disagreements (labels vs checks; the label's source in brackets):", ""]

        def where(s: Sample) -> str:
            return f"{s.model}, {s.half}, {'read' if s.read is not None else 'automatic'}"

        for s in missed:
            lines.append(f"- missed {s.label} ({where(s)}): {s.prompt[:60]!r} -> {s.text[:120]!r}")
        for s in wrong:
            lines.append(
                f"- rejected good as {s.verdict} ({where(s)}): {s.prompt[:60]!r} -> {s.text[:120]!r}"
            )
    return "\n".join(lines)


# --- part 2: hold-back cost ----------------------------------------------------------------------

POLICY = """\
format: 1
description: bench - everything local; answer checks {state}
default: local
on_local_answer_rejected: local
answer_checks: {checks}
"""

# The daemons compared: no checks (no hold-back), the default hold-back, and the hold-back that does not
# wait on refusal openings (`holdback_refusals: false`).
CONFIGS = {
    "off": "{enabled: false}",
    "on": "{enabled: true}",
    "on, refusal openings not held": "{enabled: true, holdback_refusals: false}",
}


def first_delta_ms(target: str, prompt: str) -> float:
    from router.client import RouterClient

    with RouterClient(target=target, timeout=120) as client:
        t0 = time.perf_counter()
        for event in client.stream(prompt, max_tokens=32):
            if isinstance(event, str) and event:
                return (time.perf_counter() - t0) * 1000
    return float("nan")


def spread(items: list[tuple[str, str]], n: int) -> list[tuple[str, str]]:
    """`n` prompts taken in turn from each source (the first `n` alone would be chit-chat only)."""
    by_source: dict[str, list[tuple[str, str]]] = {}
    for item in items:
        by_source.setdefault(item[0], []).append(item)
    out: list[tuple[str, str]] = []
    for row in zip(*by_source.values(), strict=False):
        out += row
    return out[:n]


def holdback_section(items: list[tuple[str, str]], targets: Targets) -> str:
    work = Path(tempfile.mkdtemp(prefix="hr-bench-checks-"))
    names = list(CONFIGS)
    times: dict[str, list[float]] = {name: [] for name in names}
    by_source: dict[str, dict[str, list[float]]] = {}
    with contextlib.ExitStack() as stack:
        daemons = {}
        for i, (name, checks) in enumerate(CONFIGS.items()):
            policy = work / f"policy-{i}.yaml"
            policy.write_text(POLICY.format(state=name, checks=checks), encoding="utf-8")
            daemons[name] = stack.enter_context(Daemon(policy=policy))
        for _, prompt in items[:3]:  # warm every daemon
            for daemon in daemons.values():
                first_delta_ms(daemon.target, prompt)
        for i, (source, prompt) in enumerate(items):
            for name in names[i % len(names) :] + names[: i % len(names)]:  # the order rotates
                ms = first_delta_ms(daemons[name].target, prompt)
                if ms == ms:
                    times[name].append(ms)
                    by_source.setdefault(source, {n: [] for n in names})[name].append(ms)
    p50 = {name: statistics.median(t) for name, t in times.items()}
    ratio = p50["on"] / p50["off"]
    targets.check("time to first delta, hold-back / none, p50", ratio, "<=", 1.15)
    rows = [
        [
            name,
            len(times[name]),
            fmt(p50[name]),
            fmt(percentile(times[name], 90)),
            f"{p50[name] / p50['off']:.3f}",
        ]
        for name in names
    ]
    per_source = "; ".join(
        f"{source}: " + ", ".join(f"{name} {fmt(statistics.median(t[name]))}" for name in names if t[name])
        for source, t in by_source.items()
    )
    return "\n".join(
        [
            f"### Hold-back cost (default model, streaming, 32 tokens, {len(items)} prompts, "
            "from each source in turn)",
            "",
            table(["answer checks", "streams", "first delta p50 ms", "p90 ms", "p50 / off"], rows),
            "",
            f"First delta p50 by source (ms): {per_source}.",
        ]
    )


# --- part 3: private answers that fail -----------------------------------------------------------

# Short private requests that the default policy keeps local first (private, not hard), and that the
# base model echoes: the rejected answer must leave only redacted, or not at all (credentials).
PRIVATE = [
    ("My email is jane.doe@acme.com.", ["jane.doe@acme.com"]),
    ("Hi, I am Robert Johnson, SSN 123-45-6789.", ["123-45-6789", "Robert Johnson"]),
    ("Call me at +1 415 555 0137.", ["555 0137"]),
    ("My card is 4111 1111 1111 1111.", ["4111 1111 1111 1111"]),
    ("I live at 42 Wallaby Way, Sydney.", ["42 Wallaby Way"]),
    ("My IBAN is DE89 3704 0044 0532 0130 00.", ["DE89 3704 0044"]),
    ("Hello, my name is Maria Garcia.", ["Maria Garcia"]),
    ("My phone number is 020 7946 0958.", ["7946 0958"]),
    ("Write to bob.smith@example.org.", ["bob.smith@example.org"]),
    ("key: sk-proj-abcdefghijklmnopqrstuvwxyz0123456789ABCD", ["sk-proj-abcdefghijklmnop"]),
    ("DATABASE_PASSWORD=Sup3rS3cretPw", ["Sup3rS3cretPw"]),
    ("My password is Sup3rS3cretPw.", ["Sup3rS3cretPw"]),
]  # fmt: skip


def _first_local_policy() -> Path:
    """The shipped default policy with the `hard` threshold at 1: every request is answered locally
    first, so each private prompt's local answer is checked, and a rejected one escalates through the
    default rules unchanged (asked again at complexity 1)."""
    from router.policy import default_policy_path

    text = default_policy_path().read_text(encoding="utf-8")
    path = Path(tempfile.mkdtemp(prefix="hr-bench-checks-")) / "local-first.yaml"
    path.write_text(re.sub(r"(?m)^(\s*hard:)\s*[0-9.]+", r"\1 1.0", text), encoding="utf-8")
    return path


def private_section(gemma: Path, targets: Targets) -> str:
    from router.client import ClientError, RouterClient
    from tests.standin import CloudStandIn

    rows, leaks, rejected = [], 0, 0
    with (
        CloudStandIn() as cloud,
        Daemon(
            cloud_url=cloud.url, policy=_first_local_policy(), extra_env={"ROUTER_MODEL": str(gemma)}
        ) as daemon,
    ):
        for prompt, values in PRIVATE:
            before = len(cloud.requests)
            try:
                with RouterClient(target=daemon.target, timeout=120) as client:
                    reply = client.route(prompt, max_tokens=48)
                d = reply.decision
                route, check = d.route, d.answer_check or "-"
            except ClientError as e:
                route, check = f"error {e.code}", "-"
            sent = json.dumps(cloud.requests[before:])
            leaked = [v for v in values if v in sent]
            if check != "-":
                rejected += 1
                leaks += bool(leaked) or route not in ("local", "cloud_redacted")
            rows.append([prompt[:50] + "…", check, route, "LEAKED" if leaked else "no"])
    targets.check("rejected private answers that left unredacted", float(leaks), "<=", 0)
    return "\n".join(
        [
            "### Private requests whose local answer failed (Gemma 3 270M, default.yaml's rules with every "
            "request local first, cloud stand-in)",
            "",
            table(["prompt", "check", "route", "private value reached the cloud"], rows),
            "",
            f"{rejected} of {len(PRIVATE)} local answers rejected; sent in the clear: {leaks}.",
        ]
    )


def graded_section(state_dir: Path) -> str:
    """The checks on `router calibrate`'s graded answers (every model with an outcome cache under
    `state_dir`): a graded-right answer that a check rejects is a wrong rejection no reader has to judge.
    The graders count no echo as right (router.calibration.grade), so what this tests is the other
    checks: restatements, loops, refusals. Small-talk items are left out: their grader is the checks
    themselves (a reply is right when it passes them), so they could never show a wrong rejection."""
    from collections import Counter

    from router.calibration.grade import grade
    from router.calibration.run import OutcomeCache
    from router.calibration.suite import load_suite
    from router.checks import Answer, CheckSettings, check_answer
    from router.scoring.complexity import CALIBRATION_DIR
    from router.types import Message

    root = state_dir / CALIBRATION_DIR
    shas = sorted(d.name for d in root.iterdir() if d.is_dir()) if root.is_dir() else []
    items = load_suite()
    rows = []
    for sha in shas:
        cache = OutcomeCache(state_dir, sha)
        right, wrong = Counter[str](), Counter[str]()
        n_right = n_wrong = 0
        for item in items:
            row = cache.by_id(item.id)
            if row is None or item.grader == "conversational":
                continue
            r = check_answer(Answer(row["answer"], (Message("user", item.prompt),)), CheckSettings())
            if grade(item, row["answer"]):
                n_right += 1
                right[r.check if r else ""] += 1
            else:
                n_wrong += 1
                wrong[r.check if r else ""] += 1

        def by_check(c: Counter[str]) -> str:
            return ", ".join(f"{k} {v}" for k, v in sorted(c.items()) if k) or "none"

        rows.append([
            sha[:12], n_right, _pct(n_right - right[""], n_right), by_check(right),
            n_wrong, _pct(n_wrong - wrong[""], n_wrong), by_check(wrong),
        ])  # fmt: skip
    if not rows:
        return f"### Graded calibration answers\n\nSkipped: no outcome cache under {root}."
    return "\n".join(
        [
            "### Graded calibration answers",
            "",
            f"`router calibrate`'s answers under {state_dir} (the last row of each item), graded again by"
            " the suite's graders as `router calibrate` does (an echo of the prompt is never right); the"
            " default checks' verdicts. Small-talk items are left out: the checks are part of their grader.",
            "",
            table(
                [
                    "model sha256",
                    "graded right",
                    "right rejected",
                    "by check",
                    "graded wrong",
                    "wrong rejected",
                    "by check",
                ],
                rows,
            ),
        ]
    )


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--show", type=int, default=0, help="print up to N disagreements of each kind")
    p.add_argument("--skip-daemons", action="store_true", help="only the detection part")
    p.add_argument(
        "--cache",
        type=Path,
        default=cache_dir(),
        help="where generated answers are kept between runs (default: %(default)s)",
    )
    p.add_argument("--no-cache", action="store_true", help="generate every answer afresh, keep none")
    p.add_argument(
        "--labels",
        type=Path,
        default=READ_LABELS,
        help="labels read by a person, the ground truth where present (default: %(default)s)",
    )
    p.add_argument(
        "--cached-only",
        action="store_true",
        help="judge only the answers already in the cache (a partial set; the counts say how many)",
    )
    p.add_argument(
        "--sets",
        default="smollm2,smollm2-no-penalty,gemma",
        help="which answer sets to judge, comma-separated (default: all three: %(default)s)",
    )
    p.add_argument(
        "--graded",
        type=Path,
        metavar="STATE_DIR",
        help="also judge `router calibrate`'s graded answers kept under this state dir",
    )
    args = p.parse_args()
    from router.model import DEFAULT, GEMMA3_270M, known_path

    items = prompts(args.quick)
    if not items:
        print("## Answer checks\n\nSkipped: /work/shared/data/complexity is not here.")
        return
    default, gemma = known_path(DEFAULT), known_path(GEMMA3_270M)
    targets = Targets()
    cache = None if args.no_cache else args.cache
    sets = set(args.sets.split(","))
    samples: list[Sample] = []
    # Set names as the read labels give them: the default SmolLM2 135M Instruct as served, the same model
    # with its repetition control off, Gemma 3 270M (a base model).
    if "smollm2" in sets:
        samples += generate("smollm2", default, items, None, cache, args.cached_only)
    if "smollm2-no-penalty" in sets:
        samples += generate("smollm2-no-penalty", default, items, 1.0, cache, args.cached_only)
    if "gemma" in sets and gemma.is_file():
        samples += generate("gemma-3-270m", gemma, items, None, cache, args.cached_only)
    judge(samples, read_labels(args.labels))
    sections = [
        "## Answer checks (`python -m bench.answer_checks`)",
        "",
        machine_markdown(),
        "",
        detection_section(samples, args.show, targets),
    ]
    if args.graded is not None:
        sections += ["", graded_section(args.graded)]
    if not args.skip_daemons:
        sections += ["", holdback_section(spread(items, 12 if args.quick else 40), targets)]
        if gemma.is_file():
            sections += ["", private_section(gemma, targets)]
    sections += ["", "### Targets", "", targets.markdown()]
    print("\n".join(sections))


if __name__ == "__main__":
    main()
