"""The MLX backend (Apple Silicon; on Linux mlx runs on the CPU): an mlx-lm model directory.

Loads a local MLX model directory (config.json, *.safetensors, tokenizer files), for example an
mlx-community Gemma 3 QAT 4-bit conversion, through mlx-lm's normal loading path. Nothing is downloaded:
the path must exist, and model code from the directory is never run (`trust_remote_code` stays off).

One KV cache lives with the model. `prefill` evaluates a prompt into it and returns the classifier signal
(the mean of the final normed hidden states, L2-normalised); a `stream` whose prompt starts with the tokens
already in the cache evaluates only the rest. After a stream the cache holds the prompt and the answer, so
the next turn of the same conversation continues from it too.

Generation runs its own token loop over mlx-lm's parts (sampler, streaming detokenizer, cache) instead of
`mlx_lm.stream_generate`: that function must evaluate at least one prompt token itself, so it cannot
start from a fully prefilled cache without trimming the cache by one token, and the sliding-window caches
of Gemma 3 (five layers in six) cannot be trimmed once a prompt is longer than the window, which is
exactly when reuse matters. Here the logits of the prompt's last position are kept with the cache.

Supported architectures are those mlx-lm implements where the logits are a plain projection of the inner
model's output (`model.model`): Gemma 3, Llama, Qwen, Mistral, Phi-3 and most others. The constructor
checks this on one token and says so when a model does not fit.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from pydantic import Field

from router import sampling
from router.backends.base import (
    PLAIN_STOPS,
    Backend,
    BackendOptions,
    Capabilities,
    ModelInfo,
    Piece,
    Prefill,
    StopText,
    next_token_signals,
    plain_prompt,
)
from router.errors import BackendError, ContextOverflow, ModelError
from router.types import FinishReason, GenerationOptions, Message, Usage

INSTALL_HINT = (
    "run `pip install 'hybrid-router[mlx]'` (MLX runs on Apple Silicon Macs, and on Linux on the CPU); "
    "elsewhere use a .gguf model with the llama_cpp backend"
)

# Prompt tokens evaluated per forward pass, so a long prompt does not build one huge graph.
PREFILL_CHUNK = 512


def _import_mlx() -> tuple[Any, Any]:
    try:
        import mlx.core as mx
        import mlx_lm
    except ImportError as e:
        raise ModelError(
            f"the MLX backend needs mlx and mlx-lm ({e.name} is missing); {INSTALL_HINT}"
        ) from None
    return mx, mlx_lm


def _model_parts(model: Any) -> tuple[Any, Callable[[Any], Any]]:
    """(inner model returning final normed hidden states, head mapping them to logits)."""
    lm = getattr(model, "language_model", model)  # multimodal wrappers keep the text model here
    inner = getattr(lm, "model", None)
    if inner is None:
        raise ModelError(
            f"the MLX backend cannot use {type(model).__module__}: it has no inner text model; "
            "use a text model mlx-lm supports (e.g. an mlx-community Gemma 3 conversion)"
        )
    if "lm_head" in lm:
        return inner, lm.lm_head
    embed = getattr(inner, "embed_tokens", None)
    if embed is None or not hasattr(embed, "as_linear"):
        raise ModelError(
            f"the MLX backend cannot use {type(model).__module__}: no output head found; "
            "use a text model mlx-lm supports (e.g. an mlx-community Gemma 3 conversion)"
        )
    return inner, embed.as_linear


class MlxOptions(BackendOptions):
    n_ctx: int = Field(default=4096, ge=16)  # capped at the model's max_position_embeddings


class MlxBackend(Backend):
    name = "mlx"
    Options = MlxOptions

    def __init__(self, path: Path, *, n_ctx: int = 4096) -> None:
        mx, mlx_lm = _import_mlx()
        from mlx_lm.generate import generation_stream
        from mlx_lm.models.cache import can_trim_prompt_cache, make_prompt_cache, trim_prompt_cache
        from mlx_lm.sample_utils import make_logits_processors, make_sampler

        self._mx = mx
        self._stream = generation_stream
        self._make_cache = make_prompt_cache
        self._can_trim = can_trim_prompt_cache
        self._trim = trim_prompt_cache
        self._make_sampler = make_sampler
        self._make_processors = make_logits_processors

        if not path.is_dir() or not (path / "config.json").is_file():
            raise ModelError(f"{path} is not an MLX model directory (expected config.json and *.safetensors)")
        try:
            model, tokenizer = mlx_lm.load(str(path))
        except (OSError, ValueError, KeyError, json.JSONDecodeError) as e:
            raise ModelError(f"could not load the MLX model in {path}: {e}") from None
        self._model = model
        self._tokenizer = tokenizer
        self._inner, self._head = _model_parts(model)
        self._check_head()

        max_positions = self._max_positions(path)
        self.info = ModelInfo(
            name=path.name,
            path=path,
            backend=self.name,
            n_ctx=min(n_ctx, max_positions) if max_positions else n_ctx,
            has_chat_template=bool(tokenizer.has_chat_template),
        )
        if not self.info.has_chat_template:
            self.capabilities = Capabilities(
                chat_template=False, why={"chat_template": f"{path.name} has no chat template"}
            )
        # Sampling defaults: the directory's generation_config.json where it asks for them, else the
        # router's (router.sampling): the same for every backend.
        self.sampling = sampling.from_generation_config(path)
        self._bos: str | None = tokenizer.bos_token
        # The cache, the tokens it holds, and the logits after its last token (None: not known).
        self._cache: list[Any] = []
        self._cache_tokens: list[int] = []
        self._last_logits: Any = None
        # Diagnostics: how many prompt tokens the last prefill/stream evaluated itself.
        self.prompt_tokens_evaluated = 0

    @staticmethod
    def _max_positions(path: Path) -> int | None:
        config = json.loads((path / "config.json").read_text())
        text_config = config.get("text_config", config)
        value = text_config.get("max_position_embeddings")
        return int(value) if isinstance(value, int) and value > 0 else None

    def _check_head(self) -> None:
        """The logits must be head(inner(x)); else generation could not start from a prefilled cache."""
        mx = self._mx
        x = mx.array([[0, 1]])
        expected = self._model(x).astype(mx.float32)
        actual = self._head(self._inner(x)).astype(mx.float32)
        if expected.shape != actual.shape or not mx.allclose(expected, actual, rtol=1e-2, atol=1e-2).item():
            raise ModelError(
                f"the MLX backend does not support {type(self._model).__module__}: its logits are not a "
                "plain projection of the inner model's hidden state; use a Gemma 3, Llama or Qwen model"
            )

    # --- prompts and tokens -------------------------------------------------------------------------

    def format_prompt(self, messages: Sequence[Message]) -> str:
        if not self.info.has_chat_template:
            return plain_prompt(messages)
        from jinja2 import TemplateError  # installed with transformers, which mlx-lm needs

        turns = [{"role": m.role, "content": m.content} for m in messages]
        try:
            text = self._tokenizer.apply_chat_template(turns, tokenize=False, add_generation_prompt=True)
        except TemplateError:
            # Some templates refuse a system turn: fold it into the first user turn instead.
            text = self._tokenizer.apply_chat_template(
                _fold_system(turns), tokenize=False, add_generation_prompt=True
            )
        return str(text)

    def _encode(self, text: str) -> list[int]:
        # A chat template writes the BOS itself; a plain prompt gets it from the tokenizer.
        add_special = self._bos is None or not text.startswith(self._bos)
        return list(self._tokenizer.encode(text, add_special_tokens=add_special))

    def count_tokens(self, text: str) -> int:
        return len(self._encode(text))

    # --- evaluation ---------------------------------------------------------------------------------

    def _reset_cache(self) -> None:
        self._cache = self._make_cache(self._model)
        self._cache_tokens = []
        self._last_logits = None

    def _reuse(self, tokens: list[int]) -> int:
        """Make the cache hold a prefix of `tokens` that is as long as possible; return its length."""
        cached = self._cache_tokens
        common = 0
        for a, b in zip(cached, tokens, strict=False):
            if a != b:
                break
            common += 1
        if common == len(cached) == len(tokens) and self._last_logits is not None:
            return common
        keep = min(common, len(tokens) - 1)  # at least one token to evaluate, for its logits
        if keep == len(cached) and keep > 0:
            return keep
        if keep > 0 and self._can_trim(self._cache):
            self._trim(self._cache, len(cached) - keep)
            del self._cache_tokens[keep:]
            self._last_logits = None
            return keep
        self._reset_cache()
        return 0

    def _forward(self, tokens: list[int], pool: bool) -> Any:
        """Evaluate `tokens` after the cache's content; sets the logits; returns the hidden-state sum."""
        mx = self._mx
        total = None
        with mx.stream(self._stream):
            for start in range(0, len(tokens), PREFILL_CHUNK):
                chunk = tokens[start : start + PREFILL_CHUNK]
                hidden = self._inner(mx.array(chunk)[None], cache=self._cache)
                self._cache_tokens.extend(chunk)
                if pool:
                    part = hidden[0].astype(mx.float32).sum(axis=0)
                    total = part if total is None else total + part
                if start + PREFILL_CHUNK >= len(tokens):
                    self._last_logits = self._head(hidden[:, -1, :])
                done = [a for a in (total, self._last_logits) if a is not None]
                mx.eval([c.state for c in self._cache], *done)
        return total

    def prefill(self, prompt: str) -> Prefill:
        """Evaluate `prompt` into the cache; the mean final hidden state (L2-normalised) and the
        entropy / top probability of the next-token logits kept with the cache."""
        tokens = self._encode(prompt)
        if not tokens:
            raise BackendError("cannot prefill an empty prompt")
        if len(tokens) >= self.info.n_ctx:
            raise ContextOverflow(len(tokens), self.info.n_ctx)
        self._reset_cache()
        try:
            total = self._forward(tokens, pool=True)
        except Exception as e:
            self._reset_cache()
            raise BackendError(f"the MLX model failed during prefill: {type(e).__name__}") from e
        self.prompt_tokens_evaluated = len(tokens)
        mean = total / len(tokens)
        norm = math.sqrt(float((mean * mean).sum().item()))
        vector = mean / norm if norm > 0 else mean
        import numpy as np

        logits = np.array(self._last_logits.astype(self._mx.float32).reshape(-1), copy=False)
        entropy, top_prob = next_token_signals(logits)
        return Prefill([float(v) for v in vector.tolist()], entropy, top_prob, len(tokens))

    # --- generation ---------------------------------------------------------------------------------

    def stream(self, prompt: str, options: GenerationOptions, cancel: threading.Event) -> Iterator[Piece]:
        tokens = self._encode(prompt)
        n_prompt = len(tokens)
        if n_prompt == 0:
            raise BackendError("cannot generate from an empty prompt")
        if n_prompt >= self.info.n_ctx:
            raise ContextOverflow(n_prompt, self.info.n_ctx)
        room = self.info.n_ctx - n_prompt
        max_new = room if options.max_tokens is None else min(options.max_tokens, room)
        stops = tuple(s for s in options.stop if s)
        if not self.info.has_chat_template:
            stops += PLAIN_STOPS
        if cancel.is_set():
            yield Piece("", "cancelled", Usage(n_prompt, 0))
            return
        try:
            yield from self._generate(tokens, max_new, stops, options, cancel)
        except GeneratorExit:
            raise
        except Exception as e:
            self._reset_cache()
            raise BackendError(f"the MLX model failed during generation: {type(e).__name__}") from e

    def _generate(
        self,
        tokens: list[int],
        max_new: int,
        stops: tuple[str, ...],
        options: GenerationOptions,
        cancel: threading.Event,
    ) -> Iterator[Piece]:
        mx = self._mx
        n_prompt = len(tokens)
        reused = self._reuse(tokens)
        if reused < n_prompt:
            self._forward(tokens[reused:], pool=False)
        self.prompt_tokens_evaluated = n_prompt - reused

        s = sampling.resolve(options, self.sampling)
        sampler = self._make_sampler(s.temperature, top_p=s.top_p, min_p=s.min_p, top_k=s.top_k)
        # As in llama.cpp: the repeat penalty looks at the answer's last tokens, not at the prompt.
        penalties = self._make_processors(
            repetition_penalty=s.repeat_penalty if s.repeat_penalty != 1.0 else None,
            repetition_context_size=s.repeat_last_n,
        )
        eos = self._tokenizer.eos_token_ids
        detokenizer = self._tokenizer.detokenizer
        detokenizer.reset()
        generated: list[int] = []

        def sample(logits: Any, previous: Any = None) -> tuple[Any, Any]:
            """Queue sampling from `logits`; `previous` is the token just fed (not yet in
            `generated`, so the device never waits for Python to read it)."""
            with mx.stream(self._stream):
                logprobs = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
                adjusted = logprobs
                if penalties and (generated or previous is not None):
                    keep = s.repeat_last_n - (previous is not None)
                    history = mx.array(generated[-keep:] if keep > 0 else [], dtype=mx.int32)
                    if previous is not None:
                        history = mx.concatenate([history, previous.astype(mx.int32).reshape(-1)])
                    adjusted = logits + 0  # the processors write into their input
                    for process in penalties:
                        adjusted = process(history, adjusted)
                token = sampler(adjusted)
            mx.async_eval(token, logprobs)
            return token, logprobs

        text = StopText(stops)
        n = 0
        finish: FinishReason = "length"
        step = sample(self._last_logits) if max_new > 0 else None
        while step is not None:
            if cancel.is_set():
                finish = "cancelled"
                break
            y, logprobs = step
            # Queue the next step before reading this token, so the device never waits on Python. The
            # last allowed token is not fed: the cache and its logits then end one token earlier.
            feed = n + 1 < max_new
            if feed:
                with mx.stream(self._stream):
                    self._last_logits = self._head(self._inner(y[None], cache=self._cache)[:, -1, :])
                next_step = sample(self._last_logits, y)
            token = int(y.item())
            if feed:
                self._cache_tokens.append(token)
            if token in eos:
                finish = "stop"
                break
            generated.append(token)
            n += 1
            detokenizer.add_token(token)
            out = text.feed(detokenizer.last_segment)
            logprob = float(logprobs[0, token].item())
            if out or not text.stopped:
                yield Piece(out, logprobs=(logprob,))
            if text.stopped:
                finish = "stop"
                break
            if not feed:
                break
            step = next_step
        rest = ""
        if finish != "cancelled" and not text.stopped:
            detokenizer.finalize()
            rest = text.feed(detokenizer.last_segment)
            rest += "" if text.stopped else text.flush()
            if text.stopped:
                finish = "stop"
        yield Piece(rest, finish, Usage(n_prompt, n))

    def close(self) -> None:
        self._cache = []
        self._cache_tokens = []
        self._last_logits = None
        self._mx.clear_cache()


def _fold_system(turns: list[dict[str, str]]) -> list[dict[str, str]]:
    system = "\n\n".join(t["content"] for t in turns if t["role"] == "system")
    rest = [dict(t) for t in turns if t["role"] != "system"]
    if system:
        if rest and rest[0]["role"] == "user":
            rest[0]["content"] = f"{system}\n\n{rest[0]['content']}"
        else:
            rest.insert(0, {"role": "user", "content": system})
    return rest
