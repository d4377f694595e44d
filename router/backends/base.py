"""The one small interface every local model backend implements.

A backend owns one loaded model. It is not thread-safe: exactly one worker thread (router.worker) calls
it. Heavy imports (llama_cpp, mlx_lm) happen inside the concrete backend's constructor, never at import.
"""

from __future__ import annotations

import abc
import math
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from router.types import FinishReason, GenerationOptions, Message, Usage

# Used when a model carries no chat template (e.g. the default Gemma 3 270M base model). Documented in
# the README: each message on its own line as "<Role>: <content>", then "Assistant:" for the answer.
PLAIN_ROLE_NAMES = {"system": "System", "user": "User", "assistant": "Assistant"}


def plain_prompt(messages: Sequence[Message]) -> str:
    lines = [f"{PLAIN_ROLE_NAMES[m.role]}: {m.content.strip()}" for m in messages]
    lines.append("Assistant:")
    return "\n".join(lines)


# A prompt must leave room for at least this many answer tokens in the local context.
MIN_ANSWER_TOKENS = 16

# Stops that end a plain-format answer where the model starts writing the next turn itself.
PLAIN_STOPS: tuple[str, ...] = ("\nUser:", "\nSystem:", "\nAssistant:")


@dataclass(frozen=True, slots=True)
class Piece:
    """A piece of generated text. The last piece of a stream has `finish_reason` and `usage` set.

    `logprobs`: the log-probability the model gave each token of this piece (from its raw
    distribution, before sampling settings), for the answer checks; empty where a source has none
    (the cloud)."""

    text: str
    finish_reason: FinishReason | None = None
    usage: Usage | None = None
    logprobs: tuple[float, ...] = ()


def longest_stop_prefix(text: str, stops: Sequence[str]) -> int:
    """Length of the longest end of `text` that could be the start of a stop string."""
    best = 0
    for stop in stops:
        for k in range(min(len(stop) - 1, len(text)), best, -1):
            if text.endswith(stop[:k]):
                best = k
                break
    return best


def find_stop(text: str, start: int, stops: Sequence[str]) -> int | None:
    hits = [i for s in stops if (i := text.find(s, start)) >= 0]
    return min(hits) if hits else None


class StopText:
    """Generated text as it grows, cut at the first stop string. `feed` returns what is safe to emit:
    text that cannot be the start of a stop string any more."""

    def __init__(self, stops: Sequence[str]) -> None:
        self.stops = tuple(s for s in stops if s)
        self._max_stop = max((len(s) for s in self.stops), default=0)
        self.text = ""
        self.emitted = 0
        self.stopped = False

    def feed(self, piece: str) -> str:
        """Add `piece`; return the newly safe text. Sets `stopped` when a stop string appeared."""
        if self.stopped or not piece:
            return ""
        self.text += piece
        cut = find_stop(self.text, max(0, self.emitted - self._max_stop), self.stops)
        if cut is not None:
            self.text, self.stopped = self.text[:cut], True
            return self.flush()
        safe = len(self.text) - longest_stop_prefix(self.text[self.emitted :], self.stops)
        out = self.text[self.emitted : safe]
        self.emitted = max(self.emitted, safe)
        return out

    def flush(self) -> str:
        """Everything not yet emitted (at the end of the answer)."""
        out = self.text[self.emitted :]
        self.emitted = len(self.text)
        return out


@dataclass(frozen=True, slots=True)
class Prefill:
    """What one prefill yields for the complexity scorer, all from the prompt's last position.

    `hidden`: the pooled hidden state (llama.cpp: the last token's final-norm state). The signals come
    from the next-token distribution that the same decode computed anyway: its entropy (nats) and the
    probability of its most likely token; `n_tokens` is the prompt's length in tokens."""

    hidden: list[float]
    entropy: float = 0.0
    top_prob: float = 0.0
    n_tokens: int = 0

    SIGNAL_NAMES = ("first_token_entropy", "first_token_top_prob", "log_prompt_tokens")

    @property
    def signals(self) -> list[float]:
        return [self.entropy, self.top_prob, math.log1p(self.n_tokens)]


def next_token_signals(logits: Any) -> tuple[float, float]:
    """(entropy in nats, top probability) of softmax(`logits`), a 1-D numpy array. One exp pass in the
    logits' own precision (about 1 ms for Gemma's 262k-token vocabulary on one core)."""
    import numpy as np

    z = np.asarray(logits)
    z = z - z.max()
    e = np.exp(z)
    total = float(e.sum(dtype=np.float64))
    entropy = math.log(total) - float(np.dot(e, z)) / total
    return max(0.0, entropy), 1.0 / total


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a backend can give the engine. The engine uses what is there and switches off what needs
    what is not (`gaps` lists those, with why), in one place (`Engine.__init__`).

    - `hidden_state`: `prefill` returns the prompt's hidden state: the complexity scorer's model stage
      (stage 2), and a local answer continuing from the scorer's prefill;
    - `logprobs`: generated pieces carry their tokens' log-probabilities: the low_confidence check;
    - `exact_tokens`: `count_tokens` is the model's own tokenizer (else an estimate, for context
      checks, budgets and usage where the model reports none);
    - `chat_template`: prompts are written in the model's own chat format (else the plain
      "Role: text" format of `plain_prompt`).

    `why`: for each capability that is off, why (said in the log and by `router model info`)."""

    hidden_state: bool = True
    logprobs: bool = True
    exact_tokens: bool = True
    chat_template: bool = True
    why: Mapping[str, str] = field(default_factory=dict)

    def gaps(self) -> list[Gap]:
        """The capabilities this backend lacks, what each switches off, and why."""
        return [
            Gap(name, effect, self.why.get(name, "the backend does not provide it"))
            for name, effect in CAPABILITY_EFFECTS.items()
            if not getattr(self, name)
        ]


# What the engine does without each capability.
CAPABILITY_EFFECTS = {
    "hidden_state": "complexity model stage off: every request is scored by the text features alone",
    "logprobs": "the low_confidence answer check is off",
    "exact_tokens": "prompt token counts are estimates (about 4 characters per token)",
    "chat_template": "prompts use the plain 'Role: text' format",
}


@dataclass(frozen=True, slots=True)
class Gap:
    capability: str
    effect: str
    why: str


class BackendOptions(BaseModel):
    """A backend's options. Unknown names are refused (`router.backends.check_options` says which
    ones the backend takes), never dropped.

    The daemon hands every backend its common settings (`COMMON_OPTIONS`: --n-ctx, --n-threads,
    --default-max-tokens); a backend takes those its options declare and leaves the others."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class LocalModelOptions(BackendOptions):
    """The options of a backend that runs a model file in this process."""

    n_ctx: int = Field(default=4096, ge=16)
    default_max_tokens: int = Field(default=256, ge=1)


COMMON_OPTIONS = ("n_ctx", "n_threads", "default_max_tokens")


@dataclass(frozen=True, slots=True)
class ModelInfo:
    name: str
    path: Path
    backend: str
    n_ctx: int
    has_chat_template: bool
    # Where the model is, in words, when `path` does not say it (a runtime's URL).
    location: str = ""

    @property
    def where(self) -> str:
        return self.location or str(self.path)


class Backend(abc.ABC):
    """A resident local model. Subclasses register themselves by `name` in router.backends.

    `Options`: the options the constructor takes (a pydantic model that refuses unknown names).
    `model_file`: the constructor loads the model file or directory it is given (False: a backend
    that reaches its model another way, e.g. over HTTP, and takes no path).
    `capabilities`: what it can give the engine (a class default; a backend whose capabilities
    depend on the model or the server sets its own in the constructor)."""

    name: ClassVar[str]
    Options: ClassVar[type[BackendOptions]] = LocalModelOptions
    model_file: ClassVar[bool] = True
    capabilities: Capabilities = Capabilities()
    info: ModelInfo

    @abc.abstractmethod
    def format_prompt(self, messages: Sequence[Message]) -> str:
        """The model's chat template when it has one, else `plain_prompt`."""

    @abc.abstractmethod
    def count_tokens(self, text: str) -> int: ...

    def max_tokens(self, text: str) -> int | None:
        """A sure upper bound on `count_tokens(text)` that costs no tokenization, or None when the
        backend knows none (then every decision that asks whether a prompt fits counts it)."""
        return None

    @abc.abstractmethod
    def stream(self, prompt: str, options: GenerationOptions, cancel: threading.Event) -> Iterator[Piece]:
        """Generate from `prompt`, yielding text as it is produced.

        Checks `cancel` between tokens and ends with finish_reason "cancelled" when it is set. If the
        prompt's prefix is already evaluated in the context (see `prefill`), it is not evaluated again.
        """

    @abc.abstractmethod
    def prefill(self, prompt: str) -> Prefill:
        """Evaluate `prompt` into the context; return the classifier's inputs (hidden state, signals).

        A `stream` of the same prompt that follows continues from this state instead of starting over.
        """

    def close(self) -> None:  # noqa: B027 - optional hook
        """Free the model."""
