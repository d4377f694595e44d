"""Would a middle layer's hidden state rank a model's own failures better than the final one?
`python -m bench.middle_layers`.

The calibrated model stage reads the final layer's hidden state at the prompt's last token (the only one
llama.cpp hands out). "Language models (mostly) know what they know" reads its value head from middle
layers. This bench reads them with llama.cpp's eval callback (`cb_eval`, through ctypes, on a context of
its own: never on the serving path), prompt pass only, for every prompt of the calibration suite whose
graded answer `router calibrate` cached under --state-dir; then fits the same kind of head (a logistic
regression on the layer plus the next-token signals, L2 strength chosen by 5-fold CV on the training
split) for each layer and prints, per layer, training-split CV and held-out AUC, AUC within family
(families with >= 10 right and 10 wrong answers) and gain captured, beside the final layer as cached.

    python -m bench.middle_layers --model M.gguf [--state-dir S] [--every 3] [--captures DIR]

Captures are kept under --captures (one JSON file per model and layer set) so refits need no model run.
Takes about 5 minutes a model on one core for the 1,047 prompts.
"""

from __future__ import annotations

import ctypes
import json
import sys
import time
from pathlib import Path
from typing import Any

from bench._common import parser, table

C_GRID = (0.001, 0.003, 0.01, 0.03, 0.1)
F32 = 0  # ggml_type


def capture(model: Path, layers: list[int], prompts: dict[str, str]) -> dict[str, dict[str, list[float]]]:
    """{item id: {layer: hidden state at the prompt's last token}} for each prompt (already formatted),
    read from llama.cpp's `l_out-<layer>` tensors, plus "final" (`result_norm`, what the head reads)."""
    import llama_cpp as lc
    import numpy as np

    from router.backends.llama_cpp import LlamaCppBackend

    ggml = ctypes.CDLL(str(Path(lc.__file__).parent / "lib" / "libggml-base.so"))
    ggml.ggml_get_name.restype = ctypes.c_char_p
    ggml.ggml_get_name.argtypes = [ctypes.c_void_p]
    ggml.ggml_nbytes.restype = ctypes.c_size_t
    ggml.ggml_nbytes.argtypes = [ctypes.c_void_p]
    ggml.ggml_backend_tensor_get.argtypes = [
        ctypes.c_void_p,
        ctypes.c_void_p,
        ctypes.c_size_t,
        ctypes.c_size_t,
    ]
    wanted = {f"l_out-{i}".encode(): str(i) for i in layers}
    wanted[b"result_norm"] = "final"
    got: dict[str, Any] = {}

    @lc.ggml_backend_sched_eval_callback  # type: ignore[misc]
    def on_tensor(t: int, ask: bool, _user: int) -> bool:
        name = ggml.ggml_get_name(t)
        if ask:
            return name in wanted
        if name in wanted:
            # struct ggml_tensor: enum type (4 bytes, padded to 8), buffer pointer, int64 ne[4], ...
            if ctypes.c_int.from_address(t).value != F32:
                raise RuntimeError(f"{name!r} is not float32")
            ne = (ctypes.c_int64 * 4).from_address(t + 16)
            buf = np.empty(ggml.ggml_nbytes(t) // 4, dtype=np.float32)
            ggml.ggml_backend_tensor_get(t, buf.ctypes.data, 0, buf.nbytes)
            got[wanted[name]] = buf.reshape(ne[1], ne[0])[-1].round(5).tolist()
        return True

    tokenizer = LlamaCppBackend(model, n_ctx=2048, n_threads=1)
    lmodel = lc.llama_model_load_from_file(str(model).encode(), lc.llama_model_default_params())
    params = lc.llama_context_default_params()
    params.n_ctx = params.n_batch = params.n_ubatch = 2048
    params.n_threads = params.n_threads_batch = 1
    params.cb_eval = on_tensor
    ctx = lc.llama_init_from_model(lmodel, params)
    out: dict[str, dict[str, list[float]]] = {}
    t0 = time.monotonic()
    try:
        for k, (item_id, prompt) in enumerate(prompts.items()):
            tokens = tokenizer._tokens(prompt)
            lc.llama_memory_clear(lc.llama_get_memory(ctx), True)
            got.clear()
            ids = (lc.llama_token * len(tokens))(*tokens)  # held: the batch points into it
            if lc.llama_decode(ctx, lc.llama_batch_get_one(ids, len(tokens))):
                raise RuntimeError(f"llama_decode failed on {item_id}")
            out[item_id] = dict(got)
            if k % 100 == 0:
                print(f"  {k}/{len(prompts)} {time.monotonic() - t0:.0f}s", file=sys.stderr, flush=True)
    finally:
        lc.llama_free(ctx)
        lc.llama_model_free(lmodel)
        tokenizer.close()
    return out


def fit(
    x: Any, fails: Any, families: Any, train: Any, held: Any, seed: int
) -> tuple[float, dict[str, Any], dict[str, Any]]:
    """(C, training-split CV figures, held-out figures) of a logistic head on `x`."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from router.calibration import metrics

    def head(c: float) -> Any:
        return make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=3000))

    xt, yt, ft = x[train], fails[train], families[train]
    best: tuple[float, dict[str, Any]] | None = None
    for c in C_GRID:
        oof = np.zeros(len(yt))
        for a, b in StratifiedKFold(5, shuffle=True, random_state=seed).split(xt, yt):
            oof[b] = head(c).fit(xt[a], yt[a]).predict_proba(xt[b])[:, 1]
        m = metrics.summary(list(yt), list(oof), list(ft))
        if best is None or m["auc"] > best[1]["auc"]:
            best = (c, m)
    assert best is not None
    c, cv = best
    p = head(c).fit(xt, yt).predict_proba(x[held])[:, 1]
    return c, cv, metrics.summary(list(fails[held]), list(p), list(families[held]))


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--model", type=Path, required=True)
    p.add_argument("--state-dir", type=Path, default=None, help="where `router calibrate` cached the answers")
    p.add_argument("--every", type=int, default=3, help="capture every N-th layer (default: %(default)s)")
    p.add_argument("--captures", type=Path, default=Path.home() / ".cache" / "hybrid-router" / "bench")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()

    import numpy as np

    from router import backends
    from router.calibration.grade import grade
    from router.calibration.run import OutcomeCache
    from router.calibration.suite import load_suite
    from router.config import default_state_dir
    from router.scoring.complexity import model_fingerprint
    from router.types import Message

    sha = model_fingerprint(args.model)
    cache = OutcomeCache(args.state_dir or default_state_dir(), sha)
    items = [(it, row) for it in load_suite() if (row := cache.by_id(it.id)) is not None]
    if not items:
        sys.exit(
            f"no graded answers of {args.model.name} cached: "
            f"run `router calibrate --model {args.model}` first"
        )
    backend: Any = backends.load_backend("llama_cpp", args.model, n_ctx=2048)
    n_layer = int(backend._llm.metadata.get(f"{backend._llm.metadata['general.architecture']}.block_count"))
    prompts = {it.id: backend.format_prompt([Message("user", it.prompt)]) for it, _ in items}
    backend.close()
    layers = list(range(args.every, n_layer - 1, args.every))
    file = args.captures / f"layers-{sha[:16]}-{'-'.join(map(str, layers))}.json"
    if file.is_file():
        captured = json.loads(file.read_text(encoding="utf-8"))
    else:
        print(f"capturing layers {layers} of {n_layer} for {len(prompts)} prompts", file=sys.stderr)
        captured = capture(args.model, layers, prompts)
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(json.dumps(captured), encoding="utf-8")

    fails = np.array([0 if grade(it, row["answer"]) else 1 for it, row in items])
    families = np.array([it.family for it, _ in items])
    split = np.array([it.split for it, _ in items])
    signals = np.array([[r["entropy"], r["top_prob"], np.log(r["n_tokens"])] for _, r in items])
    rows = []
    for key in ["cached", "final", *map(str, layers)]:
        hidden = [row["hidden"] if key == "cached" else captured[it.id][key] for it, row in items]
        x = np.hstack([np.array(hidden), signals])
        c, cv, held = fit(x, fails, families, split == "train", split == "heldout", args.seed)
        rows.append([
            "final (cached)" if key == "cached" else key, c,
            f"{cv['auc']:.3f} / {cv['auc_within_family']} / {cv['gain_captured']}",
            f"{held['auc']:.3f} / {held['auc_within_family']} ({held['families_counted']})"
            f" / {held['gain_captured']}",
        ])  # fmt: skip
    print(f"## Middle layers: {args.model.name} ({len(items)} graded prompts, {n_layer} layers)\n")
    print(
        table(
            ["layer", "C", "train CV: AUC / within family / gain", "held-out: AUC / within family / gain"],
            rows,
        )
    )


if __name__ == "__main__":
    main()
