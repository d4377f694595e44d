"""The cloud tier: an OpenAI-compatible Chat Completions client with deadlines, retries and a breaker.

Works with anything that speaks `POST {base_url}/chat/completions` (OpenAI, Gemini's OpenAI endpoint,
vLLM, SGLang, Ollama, llama.cpp's server). Built on httpx rather than the openai SDK because every retry
must respect the caller's gRPC deadline and every chunk of a stream must have its own read timeout,
which the SDK's own retry loop does not know about. Retries use tenacity.

The API key is sent as a bearer token and appears nowhere else: not in errors, not in logs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import structlog
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt

from router.backends.base import Piece
from router.errors import (
    CloudError,
    CloudNotConfigured,
    CloudProtocolError,
    CloudTimeout,
    CloudUnavailable,
)
from router.types import GenerationOptions, Message, Usage

log = structlog.get_logger("router.cloud")


class CircuitBreaker:
    """Stops sending to a failing cloud. closed -> open after `threshold` consecutive failures; after
    `cooldown_s` one probe is let through (half_open); its success closes the circuit again."""

    def __init__(self, threshold: int = 5, cooldown_s: float = 30.0) -> None:
        self.threshold = threshold
        self.cooldown_s = cooldown_s
        self._failures = 0
        self._opened_at: float | None = None
        self._probing = False

    @property
    def state(self) -> str:
        if self._opened_at is None:
            return "closed"
        if time.monotonic() - self._opened_at >= self.cooldown_s:
            return "half_open"
        return "open"

    def allow(self) -> bool:
        state = self.state
        if state == "closed":
            return True
        if state == "half_open" and not self._probing:
            self._probing = True
            return True
        return False

    def success(self) -> None:
        if self._opened_at is not None:
            log.info("cloud_circuit_closed")
        self._failures = 0
        self._opened_at = None
        self._probing = False

    def failure(self) -> None:
        self._failures += 1
        if self._probing or (self._opened_at is None and self._failures >= self.threshold):
            self._opened_at = time.monotonic()
            log.warning("cloud_circuit_open", failures=self._failures, cooldown_s=self.cooldown_s)
        self._probing = False


@dataclass(frozen=True, slots=True)
class CloudAnswer:
    text: str
    usage: Usage
    finish_reason: str
    model: str


class _Retryable(Exception):
    """A failure worth trying again (connection, timeout, 5xx, 429)."""

    def __init__(self, error: CloudError, retry_after_s: float | None = None) -> None:
        super().__init__(error.message)
        self.error = error
        self.retry_after_s = retry_after_s


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


class CloudClient:
    """The cloud tier. Every call is bounded three ways (see docs/operations.md, "Deadlines"):

    - `deadline`: the caller's (or the cloud's share of it); no attempt, wait or read goes past it;
    - `first_byte_deadline`: when the caller has a local fallback, the time by which the cloud must have
      started answering (its first stream event, across all attempts); retries happen only while one
      more attempt still fits before it;
    - per attempt: `first_byte_timeout_s` for the first event, `timeout_s` for any gap between reads.

    Both `complete()` and `stream()` ask the cloud for a stream (SSE), so "started answering" is seen
    within a second or two of sending, however long the whole answer takes. `complete()` collects it.
    A `Retry-After` longer than `max_retry_after_s` is not waited for: the call fails at once (and
    falls back, where the caller can). With `min_chars_per_s`, an answer that a fallback could still
    replace is abandoned when, after `slow_grace_s`, it arrives slower than that (a drip-feeding cloud).
    `fallback_after_s` is read by the engine: with a local fallback, the cloud must start answering
    within that many seconds (it sets `first_byte_deadline`).
    """

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key: str | None = None,
        timeout_s: float = 60.0,
        connect_timeout_s: float = 5.0,
        first_byte_timeout_s: float = 10.0,
        max_retry_after_s: float = 5.0,
        min_chars_per_s: float = 0.0,
        slow_grace_s: float = 3.0,
        fallback_after_s: float | None = None,
        retries: int = 2,
        breaker: CircuitBreaker | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.model = model
        self.retries = retries
        self.timeout_s = timeout_s
        self.connect_timeout_s = connect_timeout_s
        self.first_byte_timeout_s = first_byte_timeout_s
        self.max_retry_after_s = max_retry_after_s
        self.min_chars_per_s = min_chars_per_s
        self.slow_grace_s = slow_grace_s
        self.fallback_after_s = fallback_after_s
        self.breaker = breaker or CircuitBreaker()
        headers = {"authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.AsyncClient(
            base_url=base_url,
            headers=headers,
            transport=transport,
            timeout=httpx.Timeout(timeout_s, connect=connect_timeout_s),
            trust_env=False,
        )
        # The endpoint as the client would merge it from the base URL, once: merging a relative path
        # parses the URL again on every request (~60 us of CPU per cloud call).
        self._completions_url = self._http.build_request("POST", "/chat/completions").url

    async def aclose(self) -> None:
        await self._http.aclose()

    def _body(self, messages: Sequence[Message], options: GenerationOptions) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if options.max_tokens is not None:
            body["max_tokens"] = options.max_tokens
        if options.temperature is not None:
            body["temperature"] = options.temperature
        if options.top_p is not None:
            body["top_p"] = options.top_p
        if options.stop:
            body["stop"] = list(options.stop)
        return body

    def _timeout(self, until: float | None) -> httpx.Timeout:
        """Per-attempt httpx timeout: the configured one, cut to what is left before `until`."""
        if until is None:
            return httpx.Timeout(self.timeout_s, connect=self.connect_timeout_s)
        left = until - time.monotonic()
        if left <= 0.05:
            raise CloudTimeout("the call's deadline passed before the cloud could answer")
        return httpx.Timeout(min(self.timeout_s, left), connect=min(self.connect_timeout_s, left))

    def _retrying(self, deadline: float | None, first_byte_deadline: float | None) -> AsyncRetrying:
        start_by = _earliest(deadline, first_byte_deadline)

        def wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            delay: float = min(4.0, 0.25 * 2.0 ** (state.attempt_number - 1))
            if isinstance(exc, _Retryable) and exc.retry_after_s is not None:
                if exc.retry_after_s > self.max_retry_after_s:
                    # Not worth waiting for (an hour, say): fail now, the caller falls back.
                    exc.error.retry_after_s = exc.retry_after_s
                    raise exc.error
                delay = float(exc.retry_after_s)
            # Another attempt needs the wait plus a moment to be sent and answered before the deadline.
            if start_by is not None and time.monotonic() + delay + MIN_ATTEMPT_S >= start_by:
                raise exc.error if isinstance(exc, _Retryable) else CloudTimeout("deadline passed")
            return delay

        return AsyncRetrying(
            stop=stop_after_attempt(self.retries + 1),
            wait=wait,
            retry=retry_if_exception_type(_Retryable),
            reraise=True,
        )

    @contextmanager
    def _failures_open_the_circuit(self) -> Iterator[None]:
        """Count every cloud failure on the breaker; surface a retryable one as its real error."""
        try:
            yield
        except _Retryable as e:
            self.breaker.failure()
            raise e.error from None
        except CloudError:
            self.breaker.failure()
            raise

    def _check_circuit(self) -> None:
        if not self.breaker.allow():
            raise CloudUnavailable("the cloud circuit is open after repeated failures; retrying later")

    async def _send(self, body: dict[str, Any], until: float | None) -> httpx.Response:
        """Send and return the response with status 2xx (body not yet read)."""
        try:
            request = self._http.build_request(
                "POST", self._completions_url, json=body, timeout=self._timeout(until)
            )
            response = await self._http.send(request, stream=True)
        except httpx.TimeoutException as e:
            raise _Retryable(CloudTimeout(f"the cloud did not answer in time ({type(e).__name__})")) from None
        except httpx.TransportError as e:
            raise _Retryable(CloudUnavailable(f"cannot reach the cloud ({type(e).__name__})")) from None
        if response.status_code == 429 or response.status_code >= 500:
            await response.aclose()
            raise _Retryable(
                CloudUnavailable(f"the cloud answered HTTP {response.status_code}"),
                retry_after_s=_retry_after(response),
            )
        if response.status_code >= 400:
            await response.aread()
            await response.aclose()
            raise CloudUnavailable(
                f"the cloud refused the request with HTTP {response.status_code}; "
                "check the cloud URL, model name and key"
            )
        return response

    async def _open(
        self, body: dict[str, Any], deadline: float | None, first_byte_deadline: float | None
    ) -> _Opened:
        """One attempt: send, and wait for the answer's first event (the time to first byte) no longer
        than `first_byte_timeout_s`, nor past either deadline."""
        began = time.monotonic()
        until = _earliest(began + self.first_byte_timeout_s, deadline, first_byte_deadline)
        assert until is not None
        response: httpx.Response | None = None
        try:
            async with asyncio.timeout_at(until):
                response = await self._send(body, until)
                if response.headers.get("content-type", "").startswith("application/json"):
                    # A server that ignores "stream": the whole completion in one JSON body.
                    return _Opened(response, None, await response.aread())
                lines = response.aiter_lines()
                async for line in lines:
                    if line.startswith("data:"):
                        return _Opened(response, lines, line)
                raise _Retryable(CloudProtocolError("the cloud's stream ended before any event"))
        except TimeoutError:
            if response is not None:
                await response.aclose()
            raise _Retryable(
                CloudTimeout(f"the cloud did not start answering in time (nothing in {until - began:.1f} s)")
            ) from None
        except httpx.TimeoutException:
            if response is not None:
                await response.aclose()
            raise _Retryable(CloudTimeout("the cloud did not start answering in time")) from None
        except httpx.TransportError:
            if response is not None:
                await response.aclose()
            raise _Retryable(CloudUnavailable("the cloud connection broke")) from None
        except BaseException:
            if response is not None:
                await response.aclose()
            raise

    async def complete(
        self,
        messages: Sequence[Message],
        options: GenerationOptions,
        deadline: float | None = None,
        *,
        first_byte_deadline: float | None = None,
    ) -> CloudAnswer:
        """The whole answer. Nothing has reached the caller until it returns, so an attempt that breaks
        mid-answer is retried (while another fits before the deadlines) like one that never started."""
        self._check_circuit()
        body = self._body(messages, options)
        with self._failures_open_the_circuit():
            async for attempt in self._retrying(deadline, first_byte_deadline):
                with attempt:
                    opened = await self._open(body, deadline, first_byte_deadline)
                    try:
                        if opened.lines is None:
                            answer = self._parse_completion(opened.first)  # type: ignore[arg-type]
                        else:
                            answer = await self._collect(opened, deadline, first_byte_deadline)
                    except (CloudTimeout, CloudProtocolError) as e:
                        raise _Retryable(e) from None
                    finally:
                        await opened.response.aclose()
        self.breaker.success()
        return answer

    async def _collect(
        self, opened: _Opened, deadline: float | None, first_byte_deadline: float | None
    ) -> CloudAnswer:
        parts: list[str] = []
        last = Piece("")
        replaceable = first_byte_deadline is not None
        async for piece in self._read_stream(opened, deadline, first_byte_deadline, replaceable=replaceable):
            parts.append(piece.text)
            last = piece
        usage = last.usage or Usage()
        return CloudAnswer("".join(parts), usage, last.finish_reason or "stop", self.model)

    def _parse_completion(self, raw: bytes) -> CloudAnswer:
        try:
            data = json.loads(raw)
            choice = data["choices"][0]
            text = choice["message"]["content"] or ""
            usage = data.get("usage") or {}
            return CloudAnswer(
                text=text,
                usage=Usage(int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0))),
                finish_reason=choice.get("finish_reason") or "stop",
                model=str(data.get("model") or self.model),
            )
        except (ValueError, KeyError, IndexError, TypeError):
            raise CloudProtocolError("the cloud's answer is not a valid chat completion") from None

    async def stream(
        self,
        messages: Sequence[Message],
        options: GenerationOptions,
        deadline: float | None = None,
        *,
        first_byte_deadline: float | None = None,
    ) -> AsyncIterator[Piece]:
        """Yield text pieces; the last piece carries finish_reason and usage.

        Retries only before the first piece: once text has reached the caller it cannot be taken back,
        so a stream that breaks mid-way raises CloudProtocolError / CloudTimeout. `first_byte_deadline`
        (the caller's fallback point) also bounds the time to the first text piece; after it, only
        `deadline` does.
        """
        self._check_circuit()
        body = self._body(messages, options)
        with self._failures_open_the_circuit():
            opened: _Opened | None = None
            async for attempt in self._retrying(deadline, first_byte_deadline):
                with attempt:
                    opened = await self._open(body, deadline, first_byte_deadline)
            assert opened is not None
            try:
                if opened.lines is None:
                    answer = self._parse_completion(opened.first)  # type: ignore[arg-type]
                    if answer.text:
                        yield Piece(answer.text)
                    yield Piece("", finish_reason=answer.finish_reason, usage=answer.usage)  # type: ignore[arg-type]
                else:
                    # Once text has reached the caller, nothing can replace the answer: no rate check.
                    async for piece in self._read_stream(
                        opened, deadline, first_byte_deadline, replaceable=False
                    ):
                        yield piece
            finally:
                await opened.response.aclose()
        self.breaker.success()

    async def _read_stream(
        self, opened: _Opened, deadline: float | None, until_text: float | None, *, replaceable: bool
    ) -> AsyncIterator[Piece]:
        """The pieces of an opened stream. Until the first text piece, reads stop at `until_text` (the
        caller's fallback point), after it at `deadline`. `replaceable`: a fallback could still replace
        this answer, so one arriving slower than `min_chars_per_s` is abandoned."""
        assert opened.lines is not None
        finish_reason = "stop"
        usage = Usage()
        completion_pieces = 0
        chars = 0
        started = time.monotonic()
        done = False
        lines = opened.lines
        line: str | None = str(opened.first)
        try:
            while True:
                if line is None:
                    until = _earliest(deadline, until_text if completion_pieces == 0 else None)
                    try:
                        if until is None:
                            line = await anext(lines)
                        else:
                            async with asyncio.timeout_at(until):
                                line = await anext(lines)
                    except StopAsyncIteration:
                        break
                    except TimeoutError:
                        raise CloudTimeout(
                            "the call's deadline passed while the cloud was answering"
                        ) from None
                if deadline is not None and time.monotonic() > deadline:
                    raise CloudTimeout("the call's deadline passed while the cloud was answering")
                current, line = line.strip(), None
                if not current or current.startswith(":") or not current.startswith("data:"):
                    continue
                payload = current[5:].strip()
                if payload == "[DONE]":
                    done = True
                    break
                try:
                    event = json.loads(payload)
                except ValueError:
                    raise CloudProtocolError("the cloud sent a malformed stream event") from None
                if event.get("usage"):
                    u = event["usage"]
                    usage = Usage(int(u.get("prompt_tokens", 0)), int(u.get("completion_tokens", 0)))
                for choice in event.get("choices") or []:
                    delta = (choice.get("delta") or {}).get("content")
                    if delta:
                        completion_pieces += 1
                        chars += len(delta)
                        yield Piece(delta)
                    if choice.get("finish_reason"):
                        finish_reason = choice["finish_reason"]
                if replaceable and self.min_chars_per_s > 0:
                    elapsed = time.monotonic() - started
                    if elapsed >= self.slow_grace_s and chars < self.min_chars_per_s * elapsed:
                        raise CloudTimeout(
                            f"the cloud is answering too slowly ({chars} characters in {elapsed:.1f} s)"
                        )
        except httpx.TimeoutException:
            raise CloudTimeout("the cloud stopped sending mid-answer") from None
        except httpx.TransportError:
            raise CloudProtocolError("the cloud's stream broke mid-answer") from None
        if not done:
            raise CloudProtocolError("the cloud's stream ended without [DONE]")
        await _drain(lines)
        if usage.completion_tokens == 0:
            usage = Usage(usage.prompt_tokens, completion_pieces)
        yield Piece("", finish_reason=finish_reason, usage=usage)  # type: ignore[arg-type]


@dataclass(slots=True)
class _Opened:
    """An attempt that got its first event: the response, its line iterator (None for a plain JSON
    completion) and the first `data:` line (or the JSON body)."""

    response: httpx.Response
    lines: AsyncIterator[str] | None
    first: str | bytes


# Another attempt is made only if at least this much time is left before the deadline after waiting.
MIN_ATTEMPT_S = 0.25


def _earliest(*times: float | None) -> float | None:
    present = [t for t in times if t is not None]
    return min(present) if present else None


async def _drain(lines: AsyncIterator[str], limit_s: float = 0.5) -> None:
    """Read what follows [DONE] (normally only the end of the body), so that the connection goes back
    to the pool: closing a response that is not fully read closes its connection, and the next request
    would pay a new TCP (and TLS) handshake. A server that keeps the body open is cut off after
    `limit_s`, and its connection is then closed as before."""
    with contextlib.suppress(TimeoutError, httpx.HTTPError):
        async with asyncio.timeout(limit_s):
            async for _ in lines:
                pass


def build_cloud_client(settings: Any) -> CloudClient | None:
    """The configured client, or None when no cloud is set (the daemon then answers everything locally)."""
    if not settings.cloud_configured:
        return None
    return CloudClient(
        base_url=settings.cloud_url,
        model=settings.cloud_model,
        api_key=settings.cloud_key(),
        timeout_s=settings.cloud_timeout_s,
        connect_timeout_s=settings.cloud_connect_timeout_s,
        first_byte_timeout_s=settings.cloud_first_byte_timeout_s,
        max_retry_after_s=settings.cloud_max_retry_after_s,
        min_chars_per_s=settings.cloud_min_chars_per_s,
        fallback_after_s=settings.cloud_fallback_after_s,
        retries=settings.cloud_retries,
    )


__all__ = ["CircuitBreaker", "CloudAnswer", "CloudClient", "CloudNotConfigured", "build_cloud_client"]
