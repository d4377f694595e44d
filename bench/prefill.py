"""One prefill: a model-scored request answered locally costs about what the answer alone costs.

`python -m bench.prefill [--prompts N] [--max-tokens T] [--repeats R]`

For each prompt, greedy, in the same run and interleaved:
* answer alone:      `stream(prompt)` on a fresh context;
* scored + answer:   stage-1 score, `prefill(prompt)`, stage-2 score, then `stream(prompt)`, which
                     continues from the prefill (the prompt is not evaluated again);
* scored, no reuse:  the same, but the context is reset between prefill and stream (what a scorer that
                     ran its own forward pass would cost).
Prints a table (median of R repeats, ms) and the ratios of the totals; checks the answers are equal.
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time

from router import backends
from router.model import resolve_model, sha256_file
from router.scoring.complexity import load_scorer
from router.types import GenerationOptions, Message

PROMPTS = [
    "Hello! How are you today?",
    "Translate 'good night' into French.",
    "What is the capital of Japan?",
    "Write a short poem about autumn leaves.",
    "Explain in two sentences what a rainbow is.",
    "Fix the typos in this paragraph: Teh meeting on thursday has ben moved to the smal room on the second "
    "flor. Please remmber to bring your badge, becuase the front desk will not let visiters in.",
    "Summarise this note: The library will be closed on Monday for the public holiday. Books due that day "
    "can be returned on Tuesday without a fine. The reading room reopens at nine.",
    "How do I make a cup of green tea?",
]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=len(PROMPTS))
    parser.add_argument("--max-tokens", type=int, default=48)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--wall", action="store_true", help="Measure wall-clock time, not CPU time.")
    args = parser.parse_args(argv)

    path = resolve_model(None)
    scorer = load_scorer(sha256_file(path))
    backend = backends.load_backend("llama_cpp", path, n_ctx=2048, n_threads=args.threads)
    llm = backend._llm  # type: ignore[attr-defined]
    options = GenerationOptions(max_tokens=args.max_tokens, temperature=0.0)

    def answer(prompt: str) -> tuple[str, int]:
        pieces = list(backend.stream(prompt, options, threading.Event()))
        usage = pieces[-1].usage
        return "".join(p.text for p in pieces), usage.completion_tokens if usage else 0

    # Process CPU time, not wall time: the machine's cores are shared, and with one llama.cpp thread
    # the CPU time is the work done. (--wall switches to wall-clock time.)
    clock = time.perf_counter if args.wall else time.process_time

    def alone(text: str) -> tuple[float, str]:
        llm.reset()
        t0 = clock()
        out, _ = answer(backend.format_prompt([Message("user", text)]))
        return clock() - t0, out

    def scored(text: str, reuse: bool) -> tuple[float, str]:
        llm.reset()
        t0 = clock()
        prompt = backend.format_prompt([Message("user", text)])
        first = scorer.score_text(text)
        hidden = backend.prefill(prompt)
        scorer.score_hidden(hidden, first)
        if not reuse:
            llm.reset()
        out, _ = answer(prompt)
        return clock() - t0, out

    for _ in range(2):  # warm up both paths: the first decodes of each kind fault pages in and size buffers
        alone(PROMPTS[0])
        scored(PROMPTS[0], reuse=True)
    rows = []
    for text in PROMPTS[: args.prompts]:
        a, s, n = [], [], []
        same = True
        for _ in range(args.repeats):
            ta, out_a = alone(text)
            ts, out_s = scored(text, reuse=True)
            tn, out_n = scored(text, reuse=False)
            same = same and out_a == out_s
            if out_a != out_n:
                print(f"note: answer without reuse differs from the answer alone: {text[:40]!r}")
            a.append(ta)
            s.append(ts)
            n.append(tn)
        tokens = len(backend._tokens(backend.format_prompt([Message("user", text)])))  # type: ignore[attr-defined]
        alone(text)
        gen = llm.n_tokens - tokens  # tokens generated (the text may end earlier, at a stop string)
        rows.append((tokens, gen, statistics.median(a), statistics.median(s), statistics.median(n), same))
    print(
        f"model {path.name}, greedy, max_tokens {args.max_tokens}, median of {args.repeats}, "
        f"stage 2 {'on' if scorer.has_model_stage else 'OFF'}"
    )
    print("prompt_tok  generated  alone_ms  scored_ms  ratio  no_reuse_ms  ratio  same_text")
    for tokens, gen, a_, s_, n_, same in rows:
        print(
            f"{tokens:>10}  {gen:>10}  {a_ * 1000:>8.1f}  {s_ * 1000:>9.1f}  {s_ / a_:>5.3f}  "
            f"{n_ * 1000:>11.1f}  {n_ / a_:>5.3f}  {same}"
        )
    total_a = sum(r[2] for r in rows)
    total_s = sum(r[3] for r in rows)
    total_n = sum(r[4] for r in rows)
    print(
        f"total: alone {total_a * 1000:.1f} ms, scored+answer {total_s * 1000:.1f} ms "
        f"(ratio {total_s / total_a:.3f}), scored without reuse {total_n * 1000:.1f} ms "
        f"(ratio {total_n / total_a:.3f}); all answers equal: {all(r[5] for r in rows)}"
    )
    backend.close()


if __name__ == "__main__":
    main()
