"""CPU speed of the MLX backend beside llama.cpp on the same model (Gemma 3 270M), measured in one run.

    python scripts/gguf_to_mlx.py /tmp/g3-270m-mlx            # once: the default GGUF, as MLX bf16
    python bench/mlx_vs_llama_cpp.py --mlx /tmp/g3-270m-mlx [--mlx /tmp/g3-270m-mlx-q4] [--threads 2]

For each engine: prompt evaluation (tokens/s over a ~250-token prompt) and greedy generation (tokens/s
over --tokens new tokens), median of --repeats runs, and the ratio to llama.cpp. llama.cpp runs through
llama-cpp-python directly (the GGUF, Q4_K_M); MLX runs through router.backends.mlx (the prompt cache
is dropped before each run so the prompt is evaluated every time).
"""

from __future__ import annotations

import argparse
import os
import statistics
import threading
import time
from pathlib import Path
from typing import Any

PROMPT = (
    "User: Here are my notes from the week. Monday: met the team, planned the release, fixed two bugs in "
    "the parser and one in the scheduler. Tuesday: wrote the migration for the decisions table, reviewed "
    "three pull requests, and answered support tickets about the socket permissions. Wednesday: worked "
    "on the benchmark harness, measured the cold start, and found that the tokenizer load dominates it. "
    "Thursday: paired on the privacy scorer, added IBAN and card validators, and wrote tests for them. "
    "Friday: demo, retro, and a long discussion about when to send requests to the cloud. Write a "
    "detailed weekly summary for my manager, with sections, and a list of risks for next week.\nAssistant:"
)


def bench_llama(gguf: Path, n_tokens: int, threads: int, repeats: int) -> tuple[float, float, int]:
    from llama_cpp import Llama

    llm = Llama(str(gguf), n_ctx=2048, n_threads=threads, n_batch=512, verbose=False)
    tokens = llm.tokenize(PROMPT.encode(), add_bos=True)
    eos = llm.token_eos()
    prompt_tps, gen_tps = [], []
    for _ in range(repeats):
        llm.reset()
        t0 = time.perf_counter()
        llm.eval(tokens)
        t1 = time.perf_counter()
        n = 0
        for _ in range(n_tokens):
            token = llm.sample(temp=0.0)
            if token == eos:
                break
            llm.eval([token])
            n += 1
        t2 = time.perf_counter()
        prompt_tps.append(len(tokens) / (t1 - t0))
        gen_tps.append(n / (t2 - t1))
    return statistics.median(prompt_tps), statistics.median(gen_tps), len(tokens)


def bench_mlx(path: Path, n_tokens: int, repeats: int) -> tuple[float, float, int]:
    from router.backends import load_backend
    from router.types import GenerationOptions

    backend: Any = load_backend("mlx", path, n_ctx=2048)
    options = GenerationOptions(max_tokens=n_tokens, temperature=0.0)
    n_prompt = backend.count_tokens(PROMPT)
    prompt_tps, gen_tps = [], []
    for _ in range(repeats):
        backend._reset_cache()
        t0 = time.perf_counter()
        backend.prefill(PROMPT)  # the prompt evaluation, timed alone; stream() then continues from it
        t1 = time.perf_counter()
        pieces = list(backend.stream(PROMPT, options, threading.Event()))
        t2 = time.perf_counter()
        usage = pieces[-1].usage
        prompt_tps.append(n_prompt / (t1 - t0))
        gen_tps.append((usage.completion_tokens if usage else 0) / (t2 - t1))
    backend.close()
    return statistics.median(prompt_tps), statistics.median(gen_tps), n_prompt


def main() -> None:
    parser = argparse.ArgumentParser(description="MLX (CPU) vs llama.cpp on Gemma 3 270M")
    parser.add_argument("--gguf", type=Path, default=None, help="default: the router's default model")
    parser.add_argument("--mlx", type=Path, action="append", required=True, help="MLX model directory")
    parser.add_argument("--tokens", type=int, default=32)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="llama.cpp threads")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    gguf = args.gguf
    if gguf is None:
        from router.model import resolve_model

        gguf = resolve_model(None)

    import mlx.core as mx

    rows = [("llama.cpp " + gguf.name, *bench_llama(gguf, args.tokens, args.threads, args.repeats))]
    for path in args.mlx:
        rows.append((f"mlx ({mx.default_device()}) {path.name}", *bench_mlx(path, args.tokens, args.repeats)))
    base_prompt, base_gen = rows[0][1], rows[0][2]
    print(f"{args.tokens} new tokens, greedy, median of {args.repeats}; llama.cpp threads={args.threads}")
    print(f"{'engine':48} {'prompt tok':>10} {'prompt t/s':>11} {'x llama':>8} {'gen t/s':>9} {'x llama':>8}")
    for name, p_tps, g_tps, n_prompt in rows:
        print(
            f"{name:48} {n_prompt:>10} {p_tps:>11.1f} {p_tps / base_prompt:>8.2f} "
            f"{g_tps:>9.1f} {g_tps / base_gen:>8.2f}"
        )


if __name__ == "__main__":
    main()
