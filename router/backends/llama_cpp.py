"""llama.cpp backend (llama-cpp-python): any GGUF file, CPU or GPU.

`llama_cpp` is imported in the constructor, so importing this module costs nothing.
"""

from __future__ import annotations

import codecs
import ctypes
import math
import os
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from pydantic import Field

from router import sampling
from router.backends.base import (
    MIN_ANSWER_TOKENS,
    PLAIN_STOPS,
    Backend,
    Capabilities,
    LocalModelOptions,
    ModelInfo,
    Piece,
    Prefill,
    StopText,
    next_token_signals,
    plain_prompt,
)
from router.errors import BackendError, ContextOverflow, ModelError
from router.types import FinishReason, GenerationOptions, Message, Usage

_log_callback: Any = None


def default_threads() -> int:
    """All cores but one: the serving loop (gRPC, scoring, other requests' Classify) keeps a core, which
    on small machines made generation under load several times faster than using every core."""
    return max(1, (os.cpu_count() or 2) - 1)


def _silence_llama_logs(llama_cpp: Any) -> None:
    """llama.cpp writes diagnostics straight to stderr; the daemon logs through structlog instead."""
    global _log_callback
    if _log_callback is None:

        @llama_cpp.llama_log_callback  # type: ignore[untyped-decorator]
        def quiet(level: int, text: bytes, user_data: Any) -> None:
            pass

        _log_callback = quiet
        llama_cpp.llama_log_set(_log_callback, ctypes.c_void_p(0))


class LlamaCppOptions(LocalModelOptions):
    n_threads: int | None = Field(default=None, ge=1)  # None: all cores but one
    n_gpu_layers: int = Field(default=0, ge=-1)  # -1: every layer


class LlamaCppBackend(Backend):
    name = "llama_cpp"
    Options = LlamaCppOptions

    def __init__(
        self,
        path: Path,
        *,
        n_ctx: int = 4096,
        n_threads: int | None = None,
        n_gpu_layers: int = 0,
        default_max_tokens: int = 256,
    ) -> None:
        try:
            import llama_cpp
        except ImportError:
            raise ModelError(
                "llama-cpp-python is not installed; run `pip install 'hybrid-router[llama]'`"
            ) from None
        import numpy

        self._llama_cpp = llama_cpp
        self._np = numpy
        _silence_llama_logs(llama_cpp)
        try:
            self._llm = llama_cpp.Llama(
                model_path=str(path),
                n_ctx=n_ctx,
                n_threads=n_threads or default_threads(),
                n_gpu_layers=n_gpu_layers,
                # No pooling: `prefill` switches embeddings on for one decode and reads the last
                # token's own hidden state.
                pooling_type=llama_cpp.LLAMA_POOLING_TYPE_NONE,
                verbose=False,
            )
        except (ValueError, RuntimeError, OSError) as e:
            raise ModelError(f"cannot load {path} with llama.cpp: {e}") from None
        self.default_max_tokens = default_max_tokens
        self._vocab = self._llm._model.vocab
        self._vocab_type = llama_cpp.llama_vocab_type(self._vocab)
        self._n_vocab = self._llm.n_vocab()
        metadata = self._llm.metadata or {}
        # Sampling defaults: the file's own `general.sampling.*` where it has them, else the router's.
        self.sampling = sampling.from_gguf_metadata(metadata)
        self._template = metadata.get("tokenizer.chat_template")
        self._formatter: Any = None
        if self._template:
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter

            self._formatter = Jinja2ChatFormatter(
                template=self._template,
                eos_token=self._token_text(self._llm.token_eos()),
                bos_token=self._token_text(self._llm.token_bos()),
            )
        self._bos_text = self._token_text(self._llm.token_bos())
        self.info = ModelInfo(
            name=path.name,
            path=path,
            backend=self.name,
            n_ctx=self._llm.n_ctx(),
            has_chat_template=self._formatter is not None,
        )
        if self._formatter is None:
            self.capabilities = Capabilities(
                chat_template=False, why={"chat_template": f"{path.name} carries no chat template"}
            )

    def _token_text(self, token: int) -> str:
        if token < 0:
            return ""
        return bytes(self._llm.detokenize([token], special=True)).decode("utf-8", errors="ignore")

    # --- prompts and tokens -------------------------------------------------------------------

    def format_prompt(self, messages: Sequence[Message]) -> str:
        if self._formatter is None:
            return plain_prompt(messages)
        response = self._formatter(messages=[{"role": m.role, "content": m.content} for m in messages])
        return str(response.prompt)

    def _tokenize(self, data: bytes, *, add_bos: bool, special: bool) -> tuple[Any, int]:
        """(token buffer, count): `Llama.tokenize` without its buffer of the model's whole training
        context (Gemma 3: 32,768 tokens, allocated and zeroed on every call). A token covers at least one
        byte, so len + 2 (BOS/EOS) is almost always enough; llama.cpp says how many when it is not."""
        lc = self._llama_cpp
        vocab = self._llm._model.vocab
        size = len(data) + 2
        buf = (lc.llama_token * size)()
        n = lc.llama_tokenize(vocab, data, len(data), buf, size, add_bos, special)
        if n < 0:
            size = -n
            buf = (lc.llama_token * size)()
            n = lc.llama_tokenize(vocab, data, len(data), buf, size, add_bos, special)
            if n < 0:
                raise BackendError("llama.cpp could not tokenize the prompt")
        return buf, n

    def _prompt_tokenize(self, prompt: str) -> tuple[Any, int]:
        # A chat template writes its own BOS and special tokens; the plain format is plain text.
        templated = self._formatter is not None
        add_bos = not (self._bos_text and prompt.startswith(self._bos_text))
        return self._tokenize(prompt.encode("utf-8"), add_bos=add_bos, special=templated)

    def _tokens(self, prompt: str) -> list[int]:
        buf, n = self._prompt_tokenize(prompt)
        return list(buf[:n])

    def count_tokens(self, text: str) -> int:
        """Tokens `text` takes as a prompt (what `stream` evaluates for it)."""
        return self._prompt_tokenize(text)[1]

    def max_tokens(self, text: str) -> int | None:
        """For llama.cpp's SentencePiece and byte-level BPE vocabularies: each token covers at least one
        byte of the text as the tokenizer sees it, where SentencePiece writes a space as U+2581 (3 bytes)
        and may add one before the text; plus BOS and EOS. Other vocabularies (WordPiece, Unigram with
        normalisation that can expand characters, ...): no bound."""
        if self._vocab_type not in (
            self._llama_cpp.LLAMA_VOCAB_TYPE_SPM,
            self._llama_cpp.LLAMA_VOCAB_TYPE_BPE,
        ):
            return None
        return 3 * len(text.encode("utf-8")) + 5

    def _check_fits(self, n_prompt: int) -> None:
        limit = self.info.n_ctx
        if n_prompt + MIN_ANSWER_TOKENS > limit:
            raise ContextOverflow(n_prompt, limit)

    # --- generation ---------------------------------------------------------------------------

    def stream(self, prompt: str, options: GenerationOptions, cancel: threading.Event) -> Iterator[Piece]:
        """Generate token by token with `Llama.generate` (which reuses a prefilled prompt), so each token
        comes with its log-probability, read from the logits that produced it (llama-cpp-python gives
        log-probabilities only to a context that keeps every position's logits, which would undo the
        one-prefill design). Stop strings are cut here, as in the MLX backend."""
        tokens = self._tokens(prompt)
        self._check_fits(len(tokens))
        if cancel.is_set():
            yield Piece("", finish_reason="cancelled", usage=Usage(prompt_tokens=len(tokens)))
            return
        max_tokens = options.max_tokens or self.default_max_tokens
        max_tokens = min(max_tokens, self.info.n_ctx - len(tokens))
        stops = list(options.stop)
        if self._formatter is None:
            stops.extend(PLAIN_STOPS)
        s = sampling.resolve(options, self.sampling)
        llm: Any = self._llm
        llm.last_n_tokens_size = s.repeat_last_n
        generator = llm.generate(
            tokens,
            top_k=s.top_k,
            top_p=s.top_p,
            min_p=s.min_p,
            temp=s.temperature,
            repeat_penalty=s.repeat_penalty,
        )
        text = StopText(stops)
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        finish: FinishReason = "length"
        n = 0
        try:
            for token in generator:
                if self._llama_cpp.llama_vocab_is_eog(self._vocab, token):
                    finish = "stop"
                    break
                n += 1
                logprob = self._logprob(token)
                out = text.feed(decoder.decode(self._token_bytes(token)))
                if out or not text.stopped:
                    yield Piece(out, logprobs=(logprob,))
                if text.stopped:
                    finish = "stop"
                    break
                if cancel.is_set():
                    finish = "cancelled"
                    break
                if n >= max_tokens:
                    break
        finally:
            generator.close()  # stops llama.cpp generating at once
        if finish != "cancelled":
            rest = text.feed(decoder.decode(b"", final=True)) + ("" if text.stopped else text.flush())
        else:
            rest = ""
        yield Piece(rest, finish_reason=finish, usage=Usage(prompt_tokens=len(tokens), completion_tokens=n))

    def _token_bytes(self, token: int) -> bytes:
        return bytes(self._llm.detokenize([token]))

    def _logprob(self, token: int) -> float:
        """log p(token) under the distribution of the last decode (the one `token` was sampled from)."""
        pointer = self._llama_cpp.llama_get_logits_ith(self._llm._ctx.ctx, -1)
        if not pointer:
            return math.nan
        np = self._np
        logits = np.ctypeslib.as_array(pointer, shape=(self._n_vocab,))
        top = float(logits.max())
        return float(logits[token]) - top - math.log(float(np.exp(logits - top).sum()))

    def prefill(self, prompt: str) -> Prefill:
        """Evaluate `prompt` into the context; return the final layer's hidden state at its last token,
        with the entropy and top probability of the next-token distribution that decode computed.

        The prompt goes into sequence 0 exactly where `stream` would put it (reusing any prefix the
        context already holds), in two steps: every token but the last in `n_batch` batches that ask
        for no output at all (so the 262k-row LM head does not run for them), then the last token
        alone with embeddings switched on. That one decode yields both outputs of the last position:
        its logits and its final-layer hidden state (after the final norm, the LM head's input), which
        sees the whole prompt through causal attention, so it does not depend on how the prompt was
        split into batches. A following `stream(prompt)` finds the prompt cached with live logits and
        samples its first token at once (llama-cpp-python's `generate` reuses an exactly cached
        prompt): the prompt is evaluated once, and the LM head runs once, as in a plain `stream`.

        The only extra work over a plain `stream` is that the last prompt token is decoded on its
        own instead of inside the prompt's batch (one more pass over the weights for one token).
        Numerically that last decode is a one-token decode, like every generated token's: its logits
        can differ in the last bits from the batched ones, so in rare near-ties a greedy answer after
        `prefill` can differ from the plain `stream` answer (bench/prefill.py reports it).

        Uses llama-cpp-python internals (`Llama._ctx`, `_batch`, `input_ids`; checked on 0.3.36):
        tests/test_prefill.py fails if they change.
        """
        tokens = self._tokens(prompt)
        self._check_fits(len(tokens))
        llm: Any = self._llm
        lc = self._llama_cpp
        cached = 0
        limit = min(llm.n_tokens, len(tokens) - 1)
        held = llm.input_ids
        while cached < limit and held[cached] == tokens[cached]:
            cached += 1
        ctx = llm._ctx.ctx
        batch = llm._batch
        try:
            llm.n_tokens = cached
            llm._ctx.kv_cache_seq_rm(-1, cached, -1)  # drops the stale cells after the shared prefix
            body = tokens[cached:-1]
            for i in range(0, len(body), llm.n_batch):
                chunk = body[i : i + llm.n_batch]
                batch.set_batch(batch=chunk, n_past=llm.n_tokens, logits_all=False)
                batch.batch.logits[len(chunk) - 1] = False  # no output rows: the KV cache is all we need
                llm._ctx.decode(batch)
                llm.input_ids[llm.n_tokens : llm.n_tokens + len(chunk)] = chunk
                llm.n_tokens += len(chunk)
            lc.llama_set_embeddings(ctx, True)
            try:
                batch.set_batch(batch=tokens[-1:], n_past=llm.n_tokens, logits_all=False)
                llm._ctx.decode(batch)
                n_embd = lc.llama_model_n_embd(llm.model)
                pointer = lc.llama_get_embeddings_ith(ctx, -1)
                if not pointer:
                    raise BackendError("llama.cpp returned no hidden state for the prompt")
                hidden = [float(pointer[i]) for i in range(n_embd)]
                entropy, top_prob = self._last_logit_signals()
            finally:
                lc.llama_set_embeddings(ctx, False)
            llm.input_ids[llm.n_tokens] = tokens[-1]
            llm.n_tokens += 1
        except BackendError:
            llm.reset()
            raise
        except RuntimeError as e:
            llm.reset()
            raise BackendError(f"llama.cpp could not evaluate the prompt: {e}") from None
        llm._requires_eval = False
        return Prefill(hidden, entropy, top_prob, len(tokens))

    def _last_logit_signals(self) -> tuple[float, float]:
        """Entropy and top probability of the logits the last decode produced (read in place)."""
        import numpy as np

        lc = self._llama_cpp
        n_vocab = lc.llama_vocab_n_tokens(self._llm._model.vocab)
        pointer = lc.llama_get_logits_ith(self._llm._ctx.ctx, -1)
        if not pointer:
            raise BackendError("llama.cpp returned no logits for the prompt")
        return next_token_signals(np.ctypeslib.as_array(pointer, shape=(n_vocab,)))

    def close(self) -> None:
        self._llm.close()
