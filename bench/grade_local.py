"""Run the local default model on auto-gradable shared tasks and grade it: `python -m bench.grade_local`.

Evidence for the labelling (docs/complexity.md): how often the resident model answers GSM8K and
nq_open questions correctly, greedy. nq_open grades are written to --out (evaluation-only labels; the
nq_open licence, CC BY-SA, keeps it out of training). Skips cleanly when the shared data is absent.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import threading
from pathlib import Path

from bench.complexity_data import SHARED

_NUM = re.compile(r"-?\d[\d,]*(?:\.\d+)?")


def _norm(s: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9 ]", " ", s.lower()).split())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nq", type=int, default=60)
    parser.add_argument("--gsm8k", type=int, default=15)
    parser.add_argument("--threads", type=int, default=None, help="llama.cpp threads [all cores].")
    parser.add_argument("--out", type=Path, default=Path("/tmp/hr-features/nq_graded.jsonl"))
    args = parser.parse_args(argv)
    if not SHARED.is_dir():
        print(f"skipped: shared data not found at {SHARED}", file=sys.stderr)
        return
    from router import backends
    from router.model import resolve_model
    from router.types import GenerationOptions, Message

    backend = backends.load_backend("llama_cpp", resolve_model(None), n_ctx=2048, n_threads=args.threads)

    def ask(text: str, max_tokens: int) -> str:
        prompt = backend.format_prompt([Message("user", text)])
        options = GenerationOptions(max_tokens=max_tokens, temperature=0.0)
        return "".join(p.text for p in backend.stream(prompt, options, threading.Event()))

    nq = [json.loads(line) for line in (SHARED / "nq_open.dev.jsonl").open(encoding="utf-8")][: args.nq]
    right = 0
    with args.out.open("w", encoding="utf-8") as f:
        for row in nq:
            answer = _norm(ask(row["question"] + "?", 24))
            ok = any(_norm(a) and _norm(a) in answer for a in row["answers"])
            right += ok
            f.write(json.dumps({"id": row["id"], "correct": ok}) + "\n")
    print(f"nq_open: {right}/{len(nq)} correct (answer string contained in a 24-token greedy answer)")
    gsm = [json.loads(line) for line in (SHARED / "gsm8k.dev.jsonl").open(encoding="utf-8")][: args.gsm8k]
    right = 0
    for row in gsm:
        out = ask(row["question"] + "\nSolve it step by step and end with the final number.", 192)
        numbers = [n.replace(",", "") for n in _NUM.findall(out)]
        right += bool(numbers) and numbers[-1].rstrip(".") == row["final_answer"].replace(",", "")
    print(f"gsm8k: {right}/{len(gsm)} correct (last number of a 192-token greedy answer)")
    backend.close()


if __name__ == "__main__":
    main()
