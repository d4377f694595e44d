"""How long routing decisions take with the shipped default policy.

    .venv/bin/python bench/bench_policy.py [--n 20000]

Prints microseconds per call and the ratio to a baseline measured in the same run: building the
DecisionContext itself (work the daemon does for every request anyway).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from router.policy import default_policy_path, load_policy
from router.types import (
    ComplexityReport,
    DecisionContext,
    Finding,
    Message,
    PrivacyReport,
    PromptTokens,
    Request,
)


def make_ctx(complexity: float, findings: tuple[Finding, ...] = (), privacy: float = 0.0) -> DecisionContext:
    return DecisionContext(
        request=Request(messages=(Message("user", "some prompt text"),), app_id="bench"),
        privacy=PrivacyReport(privacy, findings),
        complexity=ComplexityReport(complexity),
        tokens=PromptTokens.known(120),
        local_queue_depth=1,
        local_queue_size=16,
        cloud_configured=True,
        cloud_healthy=True,
        local_context_limit=4096,
    )


def per_call_us(fn: Callable[[], object], n: int) -> float:
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, (time.perf_counter() - t0) / n)
    return best * 1e6


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20_000)
    n = ap.parse_args().n
    policy = load_policy(default_policy_path())
    cases = {
        "easy, clean (default after 6 rules)": make_ctx(0.1),
        "hard, clean (rule 6: cloud)": make_ctx(0.9),
        "hard, credit card (rule 2: redacted)": make_ctx(0.9, (Finding("credit_card", 0, 4, 0.99),), 0.8),
        "api key (rule 1: local)": make_ctx(0.5, (Finding("api_key", 0, 4, 0.99),), 0.9),
    }
    baseline = per_call_us(lambda: make_ctx(0.1), n)
    t0 = time.perf_counter()
    for _ in range(20):
        load_policy(default_policy_path())
    load_ms = (time.perf_counter() - t0) / 20 * 1e3
    print(f"baseline: build a DecisionContext  {baseline:8.2f} us  (1.00x)")
    print(f"{'case':40} {'decide us':>10} {'x base':>7} {'explain us':>11} {'x base':>7}")
    for name, c in cases.items():
        d = per_call_us(lambda c=c: policy.decide(c), n)
        e = per_call_us(lambda c=c: policy.explain(c), n // 4)
        print(f"{name:40} {d:10.2f} {d / baseline:7.2f} {e:11.2f} {e / baseline:7.2f}")
    print(f"load + validate policies/default.yaml: {load_ms:.2f} ms")


if __name__ == "__main__":
    main()
