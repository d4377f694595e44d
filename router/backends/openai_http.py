"""A local runtime over HTTP as the local tier: any OpenAI-compatible server (Ollama, llama.cpp's
`llama-server`, LM Studio, vLLM on a box in the house, llama-cpp-python's own server).

`router serve --local-url URL --local-model NAME` makes the runtime the worker instead of a model loaded
in this process, so a model the runtime already holds is not loaded a second time. Answers stream from
`POST {url}/chat/completions` (server-sent events); the runtime applies the model's chat template.

What it cannot give (its `capabilities`, reported at start-up and by `router model info`):

- no hidden state: the complexity scorer's model stage is off, complexity comes from stage 1;
- token log-probabilities only when the runtime returns them (asked once at start-up with
  `logprobs=auto`; llama-cpp-python's server returns none unless started with `--logits_all true`);
  without them the low_confidence answer check is off;
- no tokenizer: prompt token counts are estimates (about 4 characters per token), and so is the usage
  of an answer whose stream does not report it.

Trust: private prompts go to this URL. A URL on this machine (a loopback address or `localhost`) is
accepted as it is; any other host is refused unless `--local-allow-remote` says it is trusted, since the
router cannot tell a box in the house from a cloud behind a friendly name. Requests go straight to the
URL: no proxy from the environment (HTTP_PROXY is ignored), no redirects followed.

Deadlines: `connect_timeout_s` to connect; `read_timeout_s` for the runtime's first byte (prompt
evaluation included) and for every gap between two events after it. The caller's own deadline and
cancellation are checked between events. Failures are typed: LocalUnavailable (cannot connect, timed
out, HTTP 5xx or 429, a broken stream) and BackendError (refused: HTTP 4xx, a malformed answer), with
messages that say what to fix and never quote the prompt or the runtime's error text (which may).
"""

from __future__ import annotations

import ipaddress
import json
import math
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx
import structlog
from pydantic import Field, model_validator

from router import sampling
from router.backends.base import Backend, BackendOptions, Capabilities, ModelInfo, Piece, Prefill
from router.errors import BackendError, ConfigError, LocalUnavailable
from router.types import FinishReason, GenerationOptions, Message, Usage

log = structlog.get_logger("router.backends.openai_http")

# Estimated tokens: characters per token, and tokens a chat template adds per message.
CHARS_PER_TOKEN = 4
TOKENS_PER_MESSAGE = 4
# How much of an error body is read to find the OpenAI error's type (the text itself is never kept).
MAX_ERROR_BODY = 16 * 1024


def is_loopback(host: str) -> bool:
    """A host name or address on this machine: `localhost` (and its subdomains, RFC 6761) or a loopback
    address."""
    name = host.strip("[]").lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def check_local_url(url: str, allow_remote: bool = False) -> str:
    """The runtime's base URL, normalised (no trailing slash; `/v1` added when it has no path), or
    ValueError saying what to fix. A host other than this machine needs `allow_remote`."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"expected the runtime's OpenAI-compatible base URL, e.g. http://127.0.0.1:11434/v1 (Ollama) "
            f"or http://127.0.0.1:8080/v1 (llama-server), got {url!r}"
        )
    if parts.username or parts.password:
        raise ValueError(
            "the local URL must not carry credentials (they would be logged); put an API key in a file "
            "and pass --backend-option api_key_file=PATH"
        )
    if parts.query or parts.fragment:
        raise ValueError(f"the local URL must not have a query or fragment, got {url!r}")
    if not allow_remote and not is_loopback(parts.hostname):
        raise ValueError(
            f"{parts.hostname} is not this machine, and private prompts are sent to the local runtime: "
            "if that host is yours and the network to it trusted, pass --local-allow-remote "
            "(ROUTER_LOCAL_ALLOW_REMOTE=1), preferably with an https:// URL; else run the runtime here "
            "(127.0.0.1)"
        )
    path = parts.path.rstrip("/") or "/v1"
    return f"{parts.scheme}://{parts.netloc}{path}"


class OpenAIHttpOptions(BackendOptions):
    url: str
    model: str = Field(min_length=1)
    allow_remote: bool = False
    n_ctx: int = Field(default=4096, ge=16)  # the runtime's context; the router cannot ask every runtime
    default_max_tokens: int = Field(default=256, ge=1)
    connect_timeout_s: float = Field(default=2.0, gt=0)
    read_timeout_s: float = Field(default=60.0, gt=0)
    # "auto": ask the runtime once at start-up whether it returns log-probabilities.
    logprobs: Literal["auto", "on", "off"] = "auto"
    api_key_file: Path | None = None  # a bearer key for runtimes that want one (vLLM --api-key)

    @model_validator(mode="after")
    def _check_url(self) -> OpenAIHttpOptions:
        check_local_url(self.url, self.allow_remote)
        return self


def _messages(prompt: str) -> list[dict[str, str]]:
    """The messages `format_prompt` wrote (a plain text, from other callers, is one user message)."""
    try:
        value = json.loads(prompt)
    except ValueError:
        value = None
    if isinstance(value, list) and all(isinstance(m, dict) for m in value):
        return [{"role": str(m.get("role", "user")), "content": str(m.get("content", ""))} for m in value]
    return [{"role": "user", "content": prompt}]


def _error_type(response: httpx.Response) -> str:
    """The OpenAI error's `type` or `code` (a short identifier, never the message, which may quote the
    prompt), or ""."""
    try:
        response.read()
        body = json.loads(response.content[:MAX_ERROR_BODY])
    except (ValueError, httpx.HTTPError):
        return ""
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        for key in ("type", "code"):
            value = error.get(key)
            if isinstance(value, str) and value.isidentifier() and len(value) <= 64:
                return value
    return ""


class OpenAIHttpBackend(Backend):
    name = "openai_http"
    Options = OpenAIHttpOptions
    model_file = False

    def __init__(
        self,
        *,
        url: str,
        model: str,
        allow_remote: bool = False,
        n_ctx: int = 4096,
        default_max_tokens: int = 256,
        connect_timeout_s: float = 2.0,
        read_timeout_s: float = 60.0,
        logprobs: Literal["auto", "on", "off"] = "auto",
        api_key_file: Path | None = None,
    ) -> None:
        try:
            self.url = check_local_url(url, allow_remote)
        except ValueError as e:
            raise ConfigError(f"--local-url: {e}") from None
        headers = {}
        if api_key_file is not None:
            try:
                key = api_key_file.read_text().strip()
            except OSError as e:
                raise ConfigError(
                    f"cannot read the local runtime's key file {api_key_file}: {e.strerror}"
                ) from None
            headers["authorization"] = f"Bearer {key}"
        self.read_timeout_s = read_timeout_s
        self._http = httpx.Client(
            base_url=self.url,
            headers=headers,
            timeout=httpx.Timeout(read_timeout_s, connect=connect_timeout_s),
            trust_env=False,  # straight to the URL: a proxy from the environment is not trusted with it
            follow_redirects=False,
        )
        self.default_max_tokens = default_max_tokens
        self.sampling = sampling.DEFAULTS
        # No model file here: `path` names nothing on disk, `location` says where the model is.
        self.info = ModelInfo(
            name=model,
            path=Path(self.url),
            backend=self.name,
            n_ctx=n_ctx,
            has_chat_template=True,
            location=self.url,
        )
        if not is_loopback(urlsplit(self.url).hostname or "") and self.url.startswith("http://"):
            log.warning(
                "local_runtime_plaintext",
                url=self.url,
                why="private prompts cross the network unencrypted; use https:// if the path is not trusted",
            )
        reachable = self._check_model()
        self._logprobs, why_no_logprobs = self._probe_logprobs(logprobs, reachable)
        why = {
            "hidden_state": "a runtime over HTTP does not expose the model's hidden state",
            "exact_tokens": "the runtime's tokenizer is not reachable over the OpenAI API",
        }
        if why_no_logprobs:
            why["logprobs"] = why_no_logprobs
        self.capabilities = Capabilities(
            hidden_state=False, logprobs=self._logprobs, exact_tokens=False, chat_template=True, why=why
        )

    # --- start-up checks ------------------------------------------------------------------------

    def _check_model(self) -> bool:
        """Ask the runtime which models it serves: ConfigError when it answers without this one; a
        warning when it cannot be reached (it may start after the router; requests fail until it does).
        Returns whether it was reached."""
        model = self.info.name
        try:
            response = self._http.get("/models")
        except httpx.HTTPError as e:
            log.warning(
                "local_runtime_unreachable",
                url=self.url,
                error=type(e).__name__,
                fix="start the runtime (ollama serve, llama-server, ...) or fix --local-url; local "
                "requests fail with UNAVAILABLE until it answers",
            )
            return False
        if response.status_code != 200:
            log.warning("local_runtime_models_unknown", url=self.url, status=response.status_code)
            return True
        try:
            ids = [str(m.get("id")) for m in response.json().get("data") or ()]
        except (ValueError, AttributeError):
            ids = []
        if ids and model not in ids and f"{model}:latest" not in ids:
            shown = ", ".join(ids[:10]) + (", ..." if len(ids) > 10 else "")
            raise ConfigError(
                f"the local runtime at {self.url} does not serve the model {model!r}; it serves: {shown}. "
                "Fix --local-model (ROUTER_LOCAL_MODEL), or load the model in the runtime"
            )
        log.info("local_runtime", url=self.url, model=model)
        return True

    def _probe_logprobs(self, mode: str, reachable: bool) -> tuple[bool, str]:
        """(whether to ask for log-probabilities, why not). "auto" asks the runtime for one token."""
        if mode == "on":
            return True, ""
        if mode == "off":
            return False, "turned off (backend option logprobs=off)"
        if not reachable:
            return False, (
                "the runtime was not reachable at start-up to ask (restart once it is, or set logprobs=on)"
            )
        body = {
            "model": self.info.name,
            "messages": [{"role": "user", "content": "Hi"}],
            "max_tokens": 1,
            "temperature": 0.0,
            "logprobs": True,
        }
        try:
            response = self._http.post("/chat/completions", json=body)
            data = response.json() if response.status_code == 200 else None
        except (httpx.HTTPError, ValueError) as e:
            return False, f"asking for them at start-up failed ({type(e).__name__})"
        if data is None:
            return False, f"the runtime refused logprobs=true at start-up (HTTP {response.status_code})"
        try:
            content = data["choices"][0]["logprobs"]["content"]
            float(content[0]["logprob"])
        except (KeyError, IndexError, TypeError, ValueError):
            return False, (
                "the runtime returned none for logprobs=true (llama-cpp-python's server needs "
                "--logits_all true; llama-server, Ollama and vLLM return them)"
            )
        return True, ""

    # --- prompts and tokens -------------------------------------------------------------------

    def format_prompt(self, messages: Sequence[Message]) -> str:
        """The messages as JSON: the runtime applies the model's chat template itself."""
        return json.dumps([{"role": m.role, "content": m.content} for m in messages], ensure_ascii=False)

    def count_tokens(self, text: str) -> int:
        """An estimate (no tokenizer over the OpenAI API): characters / 4, plus a template's overhead."""
        messages = _messages(text)
        chars = sum(len(m["content"]) for m in messages)
        return math.ceil(chars / CHARS_PER_TOKEN) + TOKENS_PER_MESSAGE * len(messages)

    # --- generation ---------------------------------------------------------------------------

    def stream(self, prompt: str, options: GenerationOptions, cancel: threading.Event) -> Iterator[Piece]:
        n_prompt = self.count_tokens(prompt)
        if cancel.is_set():
            yield Piece("", finish_reason="cancelled", usage=Usage(prompt_tokens=n_prompt))
            return
        s = sampling.resolve(options, self.sampling)
        body: dict[str, Any] = {
            "model": self.info.name,
            "messages": _messages(prompt),
            "stream": True,
            "stream_options": {"include_usage": True},
            "max_tokens": options.max_tokens or self.default_max_tokens,
            "temperature": s.temperature,
            "top_p": s.top_p,
        }
        if options.stop:
            body["stop"] = list(options.stop)
        if self._logprobs:
            body["logprobs"] = True
        try:
            with self._http.stream("POST", "/chat/completions", json=body) as response:
                self._check_status(response)
                yield from self._pieces(response, n_prompt, cancel)
        except httpx.ConnectTimeout:
            raise LocalUnavailable(
                f"the local runtime at {self.url} did not accept a connection in time; is it running? "
                "(fix --local-url, or raise --backend-option connect_timeout_s)"
            ) from None
        except httpx.ConnectError:
            raise LocalUnavailable(
                f"cannot connect to the local runtime at {self.url}; start it (ollama serve, llama-server, "
                "...) or fix --local-url"
            ) from None
        except httpx.ReadTimeout:
            raise LocalUnavailable(
                f"the local runtime at {self.url} sent nothing for {self.read_timeout_s:g} s; it is hung or "
                "overloaded (raise --backend-option read_timeout_s for slow prompts)"
            ) from None
        except httpx.HTTPError as e:
            raise LocalUnavailable(
                f"the connection to the local runtime at {self.url} broke ({type(e).__name__})"
            ) from None

    def _check_status(self, response: httpx.Response) -> None:
        status = response.status_code
        if status == 200:
            return
        kind = _error_type(response)
        detail = f"HTTP {status}" + (f", {kind}" if kind else "")
        if status >= 500 or status == 429:
            raise LocalUnavailable(
                f"the local runtime at {self.url} failed ({detail}); its own log says why",
                retry_after_s=1.0 if status in (429, 503) else None,
            )
        if status in (401, 403):
            raise BackendError(
                f"the local runtime at {self.url} wants an API key ({detail}); put it in a file and pass "
                "--backend-option api_key_file=PATH"
            )
        if status == 404:
            raise BackendError(
                f"the local runtime at {self.url} has no chat completions for {self.info.name!r} ({detail}); "
                "check --local-url (the OpenAI base URL, usually ending in /v1) and --local-model"
            )
        raise BackendError(
            f"the local runtime at {self.url} refused the request ({detail}); its own log says why "
            "(a prompt longer than its context? then lower --n-ctx to match the runtime's)"
        )

    def _pieces(self, response: httpx.Response, n_prompt: int, cancel: threading.Event) -> Iterator[Piece]:
        finish: FinishReason = "stop"
        usage: Usage | None = None
        n = 0
        ended = False
        for line in response.iter_lines():
            if cancel.is_set():
                yield Piece("", finish_reason="cancelled", usage=Usage(n_prompt, n))
                return
            if not line.startswith("data:"):
                continue
            data = line[5:].strip()
            if data == "[DONE]":
                ended = True  # read on to the end of the body: the connection then stays open for the next
                continue
            try:
                event = json.loads(data)
                reported = event.get("usage")
                if reported:
                    usage = Usage(int(reported["prompt_tokens"]), int(reported["completion_tokens"]))
                choice = (event.get("choices") or [None])[0]
            except (ValueError, KeyError, TypeError, AttributeError):
                raise BackendError(f"the local runtime at {self.url} sent a malformed event") from None
            if not isinstance(choice, dict):
                continue
            delta = choice.get("delta") or {}
            text = delta.get("content") or ""
            logprobs = _logprobs(choice.get("logprobs"))
            if text:
                n += max(1, len(logprobs))
                yield Piece(text, logprobs=logprobs)
            reason = choice.get("finish_reason")
            if reason:
                finish = "length" if reason == "length" else "stop"
        if not ended and usage is None:
            raise LocalUnavailable(f"the local runtime at {self.url} ended the answer before it finished")
        yield Piece("", finish_reason=finish, usage=usage or Usage(n_prompt, n))

    def prefill(self, prompt: str) -> Prefill:
        raise BackendError(
            "the openai_http backend has no hidden state (capabilities.hidden_state is off); "
            "the engine does not run the model stage with it"
        )

    def close(self) -> None:
        self._http.close()


def _logprobs(value: Any) -> tuple[float, ...]:
    """The tokens' log-probabilities of one chunk's `logprobs` ({"content": [{"logprob": x}, ...]})."""
    if not isinstance(value, dict):
        return ()
    out: list[float] = []
    for item in value.get("content") or ():
        try:
            out.append(float(item["logprob"]))
        except (KeyError, TypeError, ValueError):
            continue
    return tuple(out)


__all__ = ["OpenAIHttpBackend", "OpenAIHttpOptions", "check_local_url", "is_loopback"]
