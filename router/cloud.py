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
    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key: str | None = None,
        timeout_s: float = 60.0,
        connect_timeout_s: float = 5.0,
        retries: int = 2,
        breaker: CircuitBreaker | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.model = model
        self.retries = retries
        self.timeout_s = timeout_s
        self.connect_timeout_s = connect_timeout_s
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

    def _body(self, messages: Sequence[Message], options: GenerationOptions, stream: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "stream": stream,
        }
        if options.max_tokens is not None:
            body["max_tokens"] = options.max_tokens
        if options.temperature is not None:
            body["temperature"] = options.temperature
        if options.top_p is not None:
            body["top_p"] = options.top_p
        if options.stop:
            body["stop"] = list(options.stop)
        if stream:
            body["stream_options"] = {"include_usage": True}
        return body

    def _timeout(self, deadline: float | None) -> httpx.Timeout:
        """Per-attempt timeout: the configured one, cut to what is left before the caller's deadline."""
        if deadline is None:
            return httpx.Timeout(self.timeout_s, connect=self.connect_timeout_s)
        left = deadline - time.monotonic()
        if left <= 0.05:
            raise CloudTimeout("the call's deadline passed before the cloud could answer")
        return httpx.Timeout(min(self.timeout_s, left), connect=min(self.connect_timeout_s, left))

    def _retrying(self, deadline: float | None) -> AsyncRetrying:
        def wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            delay: float = min(4.0, 0.25 * 2.0 ** (state.attempt_number - 1))
            if isinstance(exc, _Retryable) and exc.retry_after_s is not None:
                delay = float(exc.retry_after_s)
            if deadline is not None and time.monotonic() + delay >= deadline - 0.05:
                # Waiting would pass the deadline: give up now with the real error.
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

    async def _send(self, body: dict[str, Any], deadline: float | None) -> httpx.Response:
        """One attempt: send and return the response with status 2xx (body not yet read)."""
        try:
            request = self._http.build_request(
                "POST", self._completions_url, json=body, timeout=self._timeout(deadline)
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

    async def complete(
        self, messages: Sequence[Message], options: GenerationOptions, deadline: float | None = None
    ) -> CloudAnswer:
        self._check_circuit()
        body = self._body(messages, options, stream=False)
        with self._failures_open_the_circuit():
            async for attempt in self._retrying(deadline):
                with attempt:
                    response = await self._send(body, deadline)
                    try:
                        raw = await response.aread()
                    except httpx.TimeoutException:
                        raise _Retryable(CloudTimeout("the cloud stopped sending its answer")) from None
                    except httpx.TransportError:
                        raise _Retryable(CloudUnavailable("the cloud connection broke")) from None
                    finally:
                        await response.aclose()
            answer = self._parse_completion(raw)
        self.breaker.success()
        return answer

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
        self, messages: Sequence[Message], options: GenerationOptions, deadline: float | None = None
    ) -> AsyncIterator[Piece]:
        """Yield text pieces; the last piece carries finish_reason and usage.

        Retries only before the first piece: once text has reached the caller it cannot be taken back,
        so a stream that breaks mid-way raises CloudProtocolError / CloudTimeout.
        """
        self._check_circuit()
        body = self._body(messages, options, stream=True)
        with self._failures_open_the_circuit():
            response: httpx.Response | None = None
            async for attempt in self._retrying(deadline):
                with attempt:
                    response = await self._send(body, deadline)
            assert response is not None
            try:
                async for piece in self._read_stream(response, deadline):
                    yield piece
            finally:
                await response.aclose()
        self.breaker.success()

    async def _read_stream(self, response: httpx.Response, deadline: float | None) -> AsyncIterator[Piece]:
        finish_reason = "stop"
        usage = Usage()
        completion_pieces = 0
        done = False
        lines = response.aiter_lines()
        try:
            async for line in lines:
                if deadline is not None and time.monotonic() > deadline:
                    raise CloudTimeout("the call's deadline passed while the cloud was answering")
                line = line.strip()
                if not line or line.startswith(":") or not line.startswith("data:"):
                    continue
                payload = line[5:].strip()
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
                        yield Piece(delta)
                    if choice.get("finish_reason"):
                        finish_reason = choice["finish_reason"]
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
        retries=settings.cloud_retries,
    )


__all__ = ["CircuitBreaker", "CloudAnswer", "CloudClient", "CloudNotConfigured", "build_cloud_client"]
