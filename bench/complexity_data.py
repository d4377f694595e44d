"""Build the labelled complexity data: `python -m bench.complexity_data --out /tmp/hr-data`.

Writes `train.jsonl` (what the shipped heads are trained on: MIT/Apache rows and project-written
synthetic prompts only), `heldout.jsonl` (the same sources, rows held aside by a hash of the text, plus
synthetic prompts from template families never used in training) and `evalonly.jsonl` (nq_open,
CC BY-SA, and alpaca_eval, CC BY-NC: evaluation only, never training). Each row:
{"text", "label", "source", "licence"}. Label 1 = "the default local model's answer would not be good
enough". How each source is labelled, and why, is written in docs/complexity.md.

The synthetic prompts are written by this project (generated here with a fixed seed).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "complexity"
HELDOUT_FRACTION = 0.3
SEED = 20261123
MMLU_PER_SUBJECT = 20

Row = dict[str, Any]


def heldout(text: str) -> bool:
    """A fixed, content-based split: the same row always lands on the same side."""
    h = int(hashlib.sha256(text.encode("utf-8")).hexdigest()[:8], 16)
    return (h % 1000) < HELDOUT_FRACTION * 1000


def _read(name: str) -> Iterator[dict[str, Any]]:
    path = SHARED / name
    with path.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


def shared_rows() -> list[Row]:
    """Rows from the MIT/Apache files, all labelled by task class (see docs/complexity.md)."""
    rows: list[Row] = []
    for r in _read("gsm8k.dev.jsonl"):
        rows.append({"text": r["question"], "label": 1, "source": "gsm8k", "licence": "MIT"})
    for r in _read("humaneval.dev.jsonl"):
        rows.append({"text": r["prompt"], "label": 1, "source": "humaneval", "licence": "MIT"})
    for r in _read("arena_hard_v0.1.jsonl"):
        rows.append({"text": r["prompt"], "label": 1, "source": "arena_hard", "licence": "Apache-2.0"})
    for r in _read("vicuna_bench.jsonl"):
        rows.append({"text": r["turns"][0], "label": 1, "source": "vicuna", "licence": "Apache-2.0"})
    for r in _read("chitchat.dev.jsonl"):
        rows.append({"text": r["prompt"], "label": 0, "source": "chitchat", "licence": "Apache-2.0"})
    by_subject: dict[str, int] = {}
    for r in _read("mmlu_routellm.dev.jsonl"):
        n = by_subject.get(r["subject"], 0)
        if n < MMLU_PER_SUBJECT:
            by_subject[r["subject"]] = n + 1
            rows.append({"text": r["prompt"], "label": 1, "source": "mmlu", "licence": "Apache-2.0/MIT"})
    return rows


def evalonly_rows() -> list[Row]:
    rows: list[Row] = []
    graded = _graded_nq()
    for r in _read("nq_open.dev.jsonl"):
        if r["id"] in graded:
            rows.append(
                {
                    "text": r["question"],
                    "label": graded[r["id"]],
                    "source": "nq_open(graded)",
                    "licence": "CC BY-SA 3.0",
                }
            )
    for r in _read("alpaca_eval_small_models.dev.jsonl"):
        label = 1 if r["mean_p_small_beats_gpt4turbo"] < 0.5 else 0
        rows.append(
            {"text": r["instruction"], "label": label, "source": "alpaca_eval", "licence": "CC BY-NC 4.0"}
        )
    return rows


def _graded_nq() -> dict[str, int]:
    """Labels from running the local model on nq_open (bench/grade_local.py writes them)."""
    path = Path("/tmp/hr-features/nq_graded.jsonl")
    if not path.exists():
        return {}
    out: dict[str, int] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        r = json.loads(line)
        out[r["id"]] = 0 if r["correct"] else 1
    return out


# --- project-written synthetic prompts ----------------------------------------------------------------

SENTENCES = [
    "The meeting on Thursday has been moved to the small room on the second floor.",
    "Please remember to bring your badge, because the front desk will not let visitors in without it.",
    "Our team finished the quarterly report two days early and everyone was very pleased.",
    "The bakery on the corner sells fresh bread every morning until it runs out.",
    "I would like to thank all of the volunteers who helped clean the park last weekend.",
    "The train to the city leaves every twenty minutes during the week and every hour on Sundays.",
    "My sister adopted a small grey cat that likes to sleep on the windowsill.",
    "The library will be closed on Monday for the public holiday.",
    "We are looking forward to seeing all of you at the summer picnic next month.",
    "The new coffee machine in the kitchen makes a strange noise but the coffee is good.",
    "Please send me the updated schedule when you have a moment.",
    "The school concert was a great success and the children sang beautifully.",
    "Tomorrow will be sunny in the morning with some clouds in the afternoon.",
    "The package arrived this afternoon, but the box was slightly damaged.",
    "He walked the dog along the river before breakfast, as he does every day.",
    "The garden looks lovely now that the roses have started to bloom.",
    "Could you let the neighbours know that the water will be off on Friday morning?",
    "The restaurant was busy, so we waited almost an hour for a table.",
    "Thank you for your help with the move; we could not have done it without you.",
    "The printer on the third floor is out of paper again.",
    "Her grandmother taught her how to knit when she was seven years old.",
    "The store offers a discount to students on the first Monday of each month.",
    "We painted the fence white and planted tulips along the path.",
    "The bus was late because of the snow, so I missed the first lesson.",
    "I have attached the photos from the trip to the lake.",
    "The children built a sandcastle and then watched the tide wash it away.",
    "Let me know if you need anything else before the weekend.",
    "The hotel room was clean and quiet, and the staff were very friendly.",
    "The football match was cancelled because of the heavy rain.",
    "My brother is learning to play the guitar and practises every evening.",
]
WORDS = [
    "apple",
    "river",
    "pencil",
    "garden",
    "window",
    "orange",
    "ladder",
    "blanket",
    "candle",
    "bottle",
    "mirror",
    "basket",
    "button",
    "pillow",
    "carpet",
    "kettle",
    "jacket",
    "bucket",
    "saddle",
    "lemon",
]
PHRASES = [
    "good morning",
    "thank you",
    "see you tomorrow",
    "where is the station",
    "I am hungry",
    "happy birthday",
    "good night",
    "how are you",
    "the cat is black",
    "I like tea",
]
LANGUAGES = ["Spanish", "French", "German", "Italian", "Portuguese", "Dutch"]


def _typos(text: str, rng: random.Random) -> str:
    out = []
    for w in text.split(" "):
        if len(w) > 3 and rng.random() < 0.18:
            i = rng.randrange(1, len(w) - 1)
            op = rng.randrange(3)
            if op == 0:
                w = w[:i] + w[i + 1] + w[i] + w[i + 2 :]
            elif op == 1:
                w = w[:i] + w[i + 1 :]
            else:
                w = w[:i] + w[i] + w[i:]
        out.append(w)
    return " ".join(out)


def _paragraph(rng: random.Random, content: list[str]) -> str:
    n = rng.choice([1, 2, 3, 5, 8, 12])
    pool = SENTENCES + content
    return " ".join(rng.choice(pool) for _ in range(n))


# Template families: (name, label, generator). Families whose index % 4 == 3 never enter training.
def _families(content: list[str]) -> list[tuple[str, int, Any]]:
    def greet(rng: random.Random) -> str:
        return rng.choice(
            [
                "Hi!",
                "Hello there.",
                "Hey, how are you?",
                "Good morning!",
                "Thanks a lot!",
                "Thank you, that was helpful.",
                "Bye for now.",
                "Good night!",
                "Hi, nice to meet you.",
                "Hello! How's your day going?",
                "Cheers, have a good weekend!",
                "Okay, thanks.",
            ]
        )

    def typo_fix(rng: random.Random) -> str:
        lead = rng.choice(
            [
                "Fix the typos in this paragraph:",
                "Correct the spelling mistakes in this text:",
                "Please fix any typos:",
                "Fix the spelling in the following:",
            ]
        )
        return f"{lead}\n\n{_typos(_paragraph(rng, content), rng)}"

    def proofread(rng: random.Random) -> str:
        text = _typos(_paragraph(rng, content), rng)
        return f"Proofread this and return it with the spelling corrected: {text}"

    def upper(rng: random.Random) -> str:
        return f"Convert this text to uppercase: {_paragraph(rng, content)}"

    def bullets(rng: random.Random) -> str:
        items = rng.sample(WORDS, rng.randrange(3, 9))
        return "Turn this into a bulleted list: " + ", ".join(items)

    def sort_words(rng: random.Random) -> str:
        return "Sort these words alphabetically: " + " ".join(rng.sample(WORDS, rng.randrange(3, 10)))

    def translate(rng: random.Random) -> str:
        return f"Translate '{rng.choice(PHRASES)}' into {rng.choice(LANGUAGES)}."

    def say_in(rng: random.Random) -> str:
        return f'How do you say "{rng.choice(PHRASES)}" in {rng.choice(LANGUAGES)}?'

    def rewrite_polite(rng: random.Random) -> str:
        return f"Rewrite this sentence to sound more polite: {rng.choice(SENTENCES)}"

    def numbered(rng: random.Random) -> str:
        lines = "\n".join(rng.sample(SENTENCES, rng.randrange(2, 7)))
        return f"Format these lines as a numbered list:\n{lines}"

    def lower(rng: random.Random) -> str:
        return f"Make this all lowercase please:\n{_paragraph(rng, content).upper()}"

    def title_case(rng: random.Random) -> str:
        return f"Put this heading in title case: {rng.choice(SENTENCES).rstrip('.').lower()}"

    def punct(rng: random.Random) -> str:
        text = _paragraph(rng, content).replace(",", "").replace(".", "")
        return f"Add the missing punctuation to this text: {text}"

    def mod_pow(rng: random.Random) -> str:
        a, b, m = rng.randrange(7, 99), rng.randrange(11, 60), rng.choice([7, 11, 13, 17, 19, 23])
        return f"What is {a}^{b} mod {m}? Show the steps."

    def multiply(rng: random.Random) -> str:
        return f"Compute {rng.randrange(1000, 9999)} * {rng.randrange(1000, 9999)} exactly, step by step."

    def prove(rng: random.Random) -> str:
        return rng.choice(
            [
                "Prove that the square root of {p} is irrational.",
                "Prove that there are infinitely many primes of the form 4k+{r}.",
                "Show that n^{k} - n is divisible by {k} for every integer n.",
                "Prove by induction that the sum of the first n odd numbers is n^2.",
            ]
        ).format(p=rng.choice([2, 3, 5, 7, 11]), r=rng.choice([1, 3]), k=rng.choice([3, 5, 7]))

    def derivative(rng: random.Random) -> str:
        f = rng.choice(["x^3 * ln(x)", "sin(x)^2 * e^x", "arctan(x^2)", "x^x", "ln(cos(x))", "sqrt(1 + x^4)"])
        return rng.choice(
            [
                f"Find the derivative of {f}.",
                f"Differentiate f(x) = {f} and simplify.",
                f"Compute the second derivative of {f}.",
            ]
        )

    def code(rng: random.Random) -> str:
        task = rng.choice(
            [
                "returns the longest palindromic substring of a string",
                "merges overlapping intervals",
                "checks whether a Sudoku board is valid",
                "implements an LRU cache with O(1) operations",
                "finds the shortest path in a weighted graph",
                "parses a CSV line with quoted fields",
                "computes the edit distance between two strings",
            ]
        )
        lang = rng.choice(["Python", "Rust", "Go", "C++", "TypeScript"])
        return f"Write a {lang} function that {task}."

    def quadratic(rng: random.Random) -> str:
        a, b, c = rng.randrange(2, 9), rng.randrange(-20, 20), rng.randrange(-30, 30)
        return f"Solve for x: {a}x^2 + {b}x + {c} = 0. Give exact roots."

    def explain_why(rng: random.Random) -> str:
        return "Explain why " + rng.choice(
            [
                "the sky is blue but sunsets are red, using Rayleigh scattering.",
                "quicksort is O(n log n) on average but O(n^2) in the worst case.",
                "a hash table has amortised O(1) insertion.",
                "inflation erodes the real value of fixed-rate bonds.",
                "the halting problem is undecidable.",
                "entropy never decreases in an isolated system.",
            ]
        )

    def primes(rng: random.Random) -> str:
        return rng.choice(
            [
                f"How many primes are there below {rng.randrange(200, 2000)}?",
                f"Is {rng.randrange(10001, 99999, 2)} a prime number? Justify your answer.",
                f"Find the prime factorisation of {rng.randrange(10000, 99999)}.",
            ]
        )

    def integral(rng: random.Random) -> str:
        f = rng.choice(["x e^x", "ln(x)", "1/(1+x^2)", "x^2 sin(x)", "sqrt(x) ln(x)"])
        return f"Evaluate the integral of {f} from {rng.randrange(0, 2)} to {rng.randrange(2, 6)}."

    def probability(rng: random.Random) -> str:
        n = rng.randrange(3, 8)
        total = rng.randrange(n * 2, n * 5)
        return f"If I roll {n} fair dice, what is the probability that the sum is exactly {total}?"

    return [
        ("greeting", 0, greet),
        ("typo_fix", 0, typo_fix),
        ("upper", 0, upper),
        ("title_case", 0, title_case),
        ("bullets", 0, bullets),
        ("sort_words", 0, sort_words),
        ("translate", 0, translate),
        ("proofread", 0, proofread),
        ("rewrite_polite", 0, rewrite_polite),
        ("numbered", 0, numbered),
        ("punctuation", 0, punct),
        ("say_in", 0, say_in),
        ("mod_pow", 1, mod_pow),
        ("multiply", 1, multiply),
        ("prove", 1, prove),
        ("quadratic", 1, quadratic),
        ("derivative", 1, derivative),
        ("code", 1, code),
        ("explain_why", 1, explain_why),
        ("integral", 1, integral),
        ("primes", 1, primes),
        ("probability", 1, probability),
        ("lower", 0, lower),
    ]


def synthetic_rows(content_train: list[str], content_heldout: list[str], per_family: int = 60) -> list[Row]:
    rows: list[Row] = []
    rng = random.Random(SEED)
    for i, (name, label, gen) in enumerate(_families(content_train)):
        held = i % 4 == 3
        fams = _families(content_heldout if held else content_train)
        gen = fams[i][2]
        seen: set[str] = set()
        for _ in range(per_family * 3):
            text = gen(rng)
            if text in seen:
                continue
            seen.add(text)
            rows.append(
                {
                    "text": text,
                    "label": label,
                    "source": f"synthetic:{name}",
                    "licence": "project",
                    "heldout_family": held,
                }
            )
            if len(seen) >= per_family:
                break
    return rows


def build(out: Path) -> dict[str, int]:
    if not SHARED.is_dir():
        raise SystemExit(f"shared data not found at {SHARED}; nothing to build")
    shared = shared_rows()
    for r in shared:
        r["heldout"] = heldout(r["text"])
    gsm = [r["text"] for r in shared if r["source"] == "gsm8k"]
    content_train = [t for t in gsm if not heldout(t)][:150]
    content_heldout = [t for t in gsm if heldout(t)][:60]
    synth = synthetic_rows(content_train, content_heldout)
    for r in synth:
        r["heldout"] = r.pop("heldout_family") or heldout(r["text"])
    out.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    files = {
        name: (out / f"{name}.jsonl").open("w", encoding="utf-8") for name in ("train", "heldout", "evalonly")
    }
    try:
        for r in shared + synth:
            name = "heldout" if r.pop("heldout") else "train"
            files[name].write(json.dumps(r, ensure_ascii=False) + "\n")
            counts[name] = counts.get(name, 0) + 1
        for r in evalonly_rows():
            files["evalonly"].write(json.dumps(r, ensure_ascii=False) + "\n")
            counts["evalonly"] = counts.get("evalonly", 0) + 1
    finally:
        for f in files.values():
            f.close()
    return counts


def stage2_rows(train: list[Row], score: Any) -> list[Row]:
    """The training rows the stage-2 head is trained on (each costs a forward pass of the model):
    every row of at most 1,200 characters whose stage-1 score (`score(text)`, the shipped stage-1
    head) lies in [0.03, 0.97], where stage 2 has something to add, plus 70 random rows of at most 400
    characters of each label (seeded). Kept in train.jsonl order."""
    mid = {r["text"] for r in train if len(r["text"]) <= 1200 and 0.03 <= score(r["text"]) <= 0.97}
    short = [r for r in train if len(r["text"]) <= 400]
    random.Random(1).shuffle(short)
    picked = {r["text"] for r in [r for r in short if r["label"] == 0][:70]}
    picked |= {r["text"] for r in [r for r in short if r["label"] == 1][:70]}
    return [r for r in train if r["text"] in mid or r["text"] in picked]


def write_stage2(out: Path) -> int:
    from router.scoring.complexity import load_scorer

    scorer = load_scorer(None)
    train = [json.loads(line) for line in (out / "train.jsonl").open(encoding="utf-8")]
    rows = stage2_rows(train, lambda t: scorer.score_text(t).score)
    with (out / "train-stage2.jsonl").open("w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    return len(rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("/tmp/hr-data"))
    parser.add_argument(
        "--stage2", action="store_true", help="Also write train-stage2.jsonl (needs the stage-1 head)."
    )
    args = parser.parse_args(argv)
    counts = build(args.out)
    if args.stage2:
        counts["train-stage2"] = write_stage2(args.out)
    print(json.dumps(counts), file=sys.stderr)


if __name__ == "__main__":
    main()
