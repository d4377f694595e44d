"""AUC of the complexity scorer next to a prompt-length baseline: `python -m bench.complexity`.

Builds the labelled data (bench.complexity_data) under --data if it is not there, then scores the
held-out rows and the evaluation-only rows with the shipped heads as the daemon does (stage 1, and the
model stage on the rows stage 1 leaves unsettled), and prints the tables. Hidden states are cached under
--cache-dir. Skips cleanly when the shared data is absent.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from bench import complexity_data
from router.backends.base import Prefill


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("/tmp/hr-data"))
    parser.add_argument("--cache-dir", type=Path, default=Path("/tmp/hr-features"))
    parser.add_argument("--json", type=Path, help="Also write the results here.")
    args = parser.parse_args(argv)
    if not complexity_data.SHARED.is_dir():
        print(f"skipped: shared data not found at {complexity_data.SHARED}", file=sys.stderr)
        return
    if not (args.data / "heldout.jsonl").exists():
        complexity_data.build(args.data)

    from router import backends
    from router.cli.eval import render, summarise
    from router.model import resolve_model, sha256_file
    from router.scoring import training
    from router.scoring.complexity import load_scorer

    path = resolve_model(None)
    sha = sha256_file(path)
    scorer = load_scorer(sha)
    cache = training.HiddenCache(args.cache_dir, sha)
    backend: Any = None
    results: dict[str, Any] = {}
    try:
        for name in ("heldout", "evalonly"):
            examples = training.read_jsonl(args.data / f"{name}.jsonl", "label")
            texts = [e.text for e in examples]
            labels = [e.label for e in examples]
            sources = [e.source for e in examples]

            def hidden_of(i: int, texts: list[str] = texts) -> Prefill | None:
                nonlocal backend
                if backend is None:
                    backend = backends.load_backend("llama_cpp", path, n_ctx=2048)
                return training.hidden_states(backend, [texts[i]], cache)[0]

            t0 = time.perf_counter()
            first = [scorer.score_text(t).score for t in texts]
            per_ms = (time.perf_counter() - t0) * 1000 / len(texts)
            longest = max(texts, key=len)
            t0 = time.perf_counter()
            for _ in range(20):
                scorer.score_text(longest)
            long_ms = (time.perf_counter() - t0) * 1000 / 20
            print(
                f"\n{name}: stage 1 takes {per_ms:.3f} ms per prompt on average, "
                f"{long_ms:.3f} ms for the longest ({len(longest)} characters)"
            )
            reports = training.cascade_scores(scorer, texts, hidden_of)
            cascade = [r.score for r in reports]
            for label, scores in (("stage 1 only", first), ("cascade (as served)", cascade)):
                r = summarise(texts, labels, scores, _coarse(sources), 0.5)
                r["model_stage_share"] = round(sum(x.stage == "model" for x in reports) / len(reports), 4)
                r["stage"] = label
                results[f"{name}: {label}"] = r
                print(f"\n== {name}: {label}\n{render(r)}")
            # The model stage alone, on the rows whose hidden state is cached (a random sample + the
            # unsettled ones), next to stage 1 on the same rows.
            idx = [i for i, t in enumerate(texts) if cache.get(_prompt(backend, path, t)) is not None]
            if idx and len({labels[i] for i in idx}) == 2:
                sub_t = [texts[i] for i in idx]
                sub_y = [labels[i] for i in idx]
                hidden = [cache.get(_prompt(backend, path, t)) for t in sub_t]
                s2 = [
                    scorer.score_hidden(h, scorer.score_text(t)).score
                    for h, t in zip(hidden, sub_t, strict=True)
                    if h is not None
                ]
                s1 = [first[i] for i in idx]
                r2 = {
                    "n": len(idx),
                    "auc_stage1": training.auc(sub_y, s1),
                    "auc_stage2": training.auc(sub_y, s2),
                    "auc_length": training.auc(sub_y, [float(len(t)) for t in sub_t]),
                    "binned_stage1": training.binned_auc(sub_t, sub_y, s1)["mean"],
                    "binned_stage2": training.binned_auc(sub_t, sub_y, s2)["mean"],
                }
                results[f"{name}: rows with hidden state"] = r2
                print(f"\n== {name}: rows with a cached hidden state\n{json.dumps(r2, indent=1)}")
    finally:
        if backend is not None:
            backend.close()
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


def _prompt(backend: Any, path: Path, text: str) -> str:
    """The formatted prompt (the cache key). The default model has no chat template, so without a
    loaded backend the plain format is used, which is what the backend itself would produce."""
    from router.backends.base import plain_prompt
    from router.types import Message

    if backend is not None:
        return str(backend.format_prompt([Message("user", text)]))
    return plain_prompt([Message("user", text)])


def _coarse(sources: list[str]) -> list[str]:
    """Synthetic families grouped by their label for the per-source table."""
    out = []
    for s in sources:
        if s.startswith("synthetic:"):
            out.append("synthetic")
        else:
            out.append(s)
    return out


if __name__ == "__main__":
    main()
