"""The OpenAI-compatible HTTP door: Chat Completions over HTTP/1.1, beside the gRPC door.

    POST /v1/chat/completions   JSON, or Server-Sent Events with "stream": true
    GET  /v1/models             the resident model and the cloud model

Translation only, like the gRPC servicer: JSON -> `build_request` (the same validation, limits and
messages), `Engine.route` / `Engine.execute` -> OpenAI's JSON; the core's error kinds -> HTTP statuses
through one table (`HTTP_STATUS`) and OpenAI's error shape `{"error": {message, type, param, code}}`.
Every completion response carries the headers `x-router-decision-id` and `x-router-route`, and its
JSON a `router` object with the decision (`router.outcomes.decision_dict`).

A minimal HTTP/1.1 server on asyncio streams with h11 (the sans-I/O parser httpx uses), in the daemon's
own event loop: no framework, no thread, no extra dependency. What a careless or hostile client can hold
is bounded as at the gRPC door: connections (`max_connections`), the request head and body
(`handshake_timeout_s` to send them, `max_body_bytes`), idle keep-alive connections (`idle_timeout_s`),
calls without a deadline (`default_deadline_s`), and a stream whose client stops reading (`stall_s`: its
generation stops and the decision row records why). A client that disconnects mid-request cancels it.

`create_http_door(app)` binds --http-socket / --http-listen (TLS as for --listen) and returns the
door's `HttpListeners`, which the app (router.app) starts and stops like any other door.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import ssl
import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import h11
import orjson
import structlog

from router import errors
from router.app import connection_limit
from router.auth import AppTokens
from router.config import Settings, parse_host_port
from router.engine import Answer, EndEvent, Engine, Outcome
from router.errors import ConfigError, ErrorKind
from router.outcomes import decision_dict
from router.requests import Limits, build_request
from router.sockets import born_with_mode, prepare_unix_socket, remove_socket, set_socket_mode
from router.types import Request

if TYPE_CHECKING:
    from router.app import App

log = structlog.get_logger("router.http")

MAX_BODY_BYTES = 8 * 1024 * 1024  # as the gRPC door's grpc.max_receive_message_length
MAX_HEAD_BYTES = 64 * 1024
READ_CHUNK = 64 * 1024

COMPLETIONS = "/v1/chat/completions"
MODELS = "/v1/models"
PATHS = {COMPLETIONS: b"POST", MODELS: b"GET"}

# The HTTP door's error table: the core's error kinds -> (HTTP status, OpenAI error type, error code).
HTTP_STATUS: dict[ErrorKind, tuple[int, str, str]] = {
    ErrorKind.INVALID_REQUEST: (400, "invalid_request_error", "invalid_request"),
    ErrorKind.NOT_FOUND: (404, "not_found_error", "not_found"),
    ErrorKind.UNAUTHENTICATED: (401, "authentication_error", "unauthenticated"),
    ErrorKind.PERMISSION_DENIED: (403, "permission_error", "permission_denied"),
    ErrorKind.DENIED: (403, "permission_error", "policy_denied"),
    ErrorKind.OVERLOADED: (429, "rate_limit_error", "overloaded"),
    ErrorKind.CANCELLED: (499, "cancelled", "cancelled"),
    ErrorKind.TIMEOUT: (504, "timeout_error", "timeout"),
    ErrorKind.UNAVAILABLE: (503, "api_error", "unavailable"),
    ErrorKind.FAILED_PRECONDITION: (503, "api_error", "failed_precondition"),
    ErrorKind.INTERNAL: (500, "api_error", "internal"),
}

# finish_reason values OpenAI clients know; the router's own ("repetition": a loop was cut) become
# "stop" on the wire and stay in the `router` object.
OPENAI_FINISH = {"stop", "length", "content_filter", "tool_calls"}

# What Engine.execute returns (an async generator: the door can throw into it and close it).
Events = AsyncGenerator[Outcome | str | EndEvent, None]


class HttpError(Exception):
    """A response in OpenAI's error shape: status, message (what to fix), type, param, code."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: list[tuple[str, str]] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.headers = headers or []

    @classmethod
    def from_router_error(cls, exc: errors.RouterError) -> HttpError:
        status, type_, code = HTTP_STATUS[exc.kind]
        headers: list[tuple[str, str]] = []
        if exc.retry_after_s is not None:
            headers.append(("retry-after", str(max(1, math.ceil(exc.retry_after_s)))))
            headers.append(("retry-after-ms", str(int(exc.retry_after_s * 1000))))
        if exc.decision_id:
            headers.append(("x-router-decision-id", exc.decision_id))
            if exc.kind is ErrorKind.DENIED:
                headers.append(("x-router-route", "deny"))
        return cls(status, exc.message, type=type_, code=code, headers=headers)

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


def _invalid(message: str, param: str) -> HttpError:
    return HttpError(400, message, param=param, code="invalid_value")


def _number(payload: dict[str, Any], name: str) -> float | None:
    value = payload.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _invalid(f"{name} must be a number", name)
    return float(value)


def _content(content: Any, i: int) -> str:
    """A message's text: a string, or a list of text parts (images and audio are not supported)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for part in content:
            if (
                not isinstance(part, dict)
                or part.get("type") != "text"
                or not isinstance(part.get("text"), str)
            ):
                raise _invalid(
                    f"messages[{i}].content: only text parts are supported ({{'type': 'text', 'text': ...}})",
                    f"messages[{i}].content",
                )
            texts.append(part["text"])
        return "\n".join(texts)
    raise _invalid(
        f"messages[{i}].content must be a string or a list of text parts", f"messages[{i}].content"
    )


@dataclass(frozen=True, slots=True)
class CompletionCall:
    request: Request
    stream: bool
    include_usage: bool


def parse_completion(payload: Any, limits: Limits, app_id: str) -> CompletionCall:
    """A Chat Completions body -> the core's Request (through `build_request`), or a 400 that says
    what to fix. Tools, functions and n > 1 are refused rather than silently ignored."""
    if not isinstance(payload, dict):
        raise HttpError(400, "the body must be a JSON object (a Chat Completions request)")
    for unsupported in ("tools", "functions", "tool_choice", "function_call"):
        if payload.get(unsupported) not in (None, [], "none"):
            raise _invalid(
                f"{unsupported} is not supported by hybrid-router; send plain messages", unsupported
            )
    if payload.get("n") not in (None, 1):
        raise _invalid("n must be 1: the router returns one choice", "n")
    model = payload.get("model")
    if model is not None and not isinstance(model, str):
        raise _invalid("model must be a string (the router chooses the model; any name is accepted)", "model")
    raw_messages = payload.get("messages")
    if not isinstance(raw_messages, list):
        raise _invalid("messages must be a list of {role, content} objects", "messages")
    messages: list[tuple[str, str]] = []
    for i, m in enumerate(raw_messages):
        if not isinstance(m, dict) or not isinstance(m.get("role"), str):
            raise _invalid(f"messages[{i}] must be an object with a string role", f"messages[{i}]")
        role = "system" if m["role"] == "developer" else m["role"]
        messages.append((role, _content(m.get("content"), i)))
    max_tokens = payload.get("max_completion_tokens")
    param = "max_completion_tokens"
    if max_tokens is None:
        max_tokens, param = payload.get("max_tokens"), "max_tokens"
    if max_tokens is not None and (isinstance(max_tokens, bool) or not isinstance(max_tokens, int)):
        raise _invalid(f"{param} must be an integer", param)
    stop = payload.get("stop")
    if isinstance(stop, str):
        stop = [stop]
    elif stop is None:
        stop = []
    if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop):
        raise _invalid("stop must be a string or a list of strings", "stop")
    user = payload.get("user")
    if user is not None and not isinstance(user, str):
        raise _invalid("user must be a string", "user")
    # OpenAI's request metadata (string pairs) is the request's metadata, as over gRPC: policies can
    # match on it. `user` joins it as "user" unless the metadata names one.
    metadata = payload.get("metadata") or {}
    if not isinstance(metadata, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
    ):
        raise _invalid("metadata must be an object of string values", "metadata")
    if user:
        metadata = {"user": user, **metadata}
    stream = payload.get("stream", False)
    if not isinstance(stream, bool | None):
        raise _invalid("stream must be true or false", "stream")
    options = payload.get("stream_options") or {}
    if not isinstance(options, dict):
        raise _invalid("stream_options must be an object", "stream_options")
    request = build_request(
        messages,
        app_id=app_id,
        max_tokens=max_tokens,
        temperature=_number(payload, "temperature"),
        top_p=_number(payload, "top_p"),
        stop=stop,
        metadata=metadata,
        limits=limits,
    )
    return CompletionCall(request, bool(stream), bool(options.get("include_usage")))


def _finish(reason: str) -> str:
    return reason if reason in OPENAI_FINISH else "stop"


def _usage(prompt: int, completion: int) -> dict[str, int]:
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _decision_headers(outcome: Outcome) -> list[tuple[str, str]]:
    return [("x-router-decision-id", outcome.id), ("x-router-route", outcome.route.value)]


class _ClientGone(Exception):
    """The connection closed, or the client read nothing for `stall_s`."""


class HttpDoor:
    def __init__(
        self,
        engine: Engine,
        *,
        limits: Limits,
        tokens: AppTokens | None = None,
        default_deadline_s: float = 120.0,
        stall_s: float = 10.0,
        idle_timeout_s: float = 300.0,
        head_timeout_s: float = 10.0,
        max_connections: int = 4096,
        max_body_bytes: int = MAX_BODY_BYTES,
    ) -> None:
        self.engine = engine
        self.limits = limits
        self.tokens = tokens
        self.default_deadline_s = default_deadline_s
        self.stall_s = stall_s
        self.idle_timeout_s = idle_timeout_s
        self.head_timeout_s = head_timeout_s
        self.max_connections = max_connections
        self.max_body_bytes = max_body_bytes
        self.draining = False
        self._connections: dict[asyncio.Task[Any], _Connection] = {}

    async def serve_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """The callback of `asyncio.start_server` / `start_unix_server`: one task per connection."""
        task = asyncio.current_task()
        assert task is not None
        if self.draining or len(self._connections) >= self.max_connections:
            writer.close()
            return
        connection = _Connection(self, reader, writer)
        self._connections[task] = connection
        try:
            await connection.run()
        except (ConnectionError, h11.LocalProtocolError, _ClientGone):
            pass
        except asyncio.CancelledError:
            pass  # drain() ended the connection: this is the task's outermost frame
        finally:
            del self._connections[task]
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def drain(self, grace: float) -> None:
        """Stop: idle connections close now, requests in flight get `grace` seconds to finish."""
        self.draining = True
        for task, connection in list(self._connections.items()):
            if not connection.busy:
                task.cancel()
        busy = list(self._connections)
        if busy:
            _done, pending = await asyncio.wait(busy, timeout=grace)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=2)

    def app_id(self, headers: dict[str, str], peer: str, method: str) -> str:
        claimed = headers.get("x-router-app", "")
        if self.tokens is None:
            return claimed
        try:
            return self.tokens.authenticate(headers.get("authorization"), claimed)
        except (errors.Unauthenticated, errors.PermissionDenied) as e:
            # Never the token itself: the reason, the method, the peer and the (bounded) claimed app.
            log.warning(
                "auth_failed",
                method=method,
                peer=peer,
                claimed_app=claimed[:64],
                reason=e.message,
                error_type=type(e).__name__,
            )
            raise

    def models(self) -> dict[str, Any]:
        data = [{"id": self.engine.backend.info.name, "object": "model", "created": 0, "owned_by": "local"}]
        if self.engine.cloud is not None:
            data.append({"id": self.engine.cloud.model, "object": "model", "created": 0, "owned_by": "cloud"})
        return {"object": "list", "data": data}


class _Connection:
    def __init__(self, door: HttpDoor, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.door = door
        self.reader = reader
        self.writer = writer
        self.conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD_BYTES)
        self.busy = False
        peer = writer.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else "unix"

    async def run(self) -> None:
        while not self.door.draining:
            try:
                received = await self._read_request()
            except HttpError as e:
                # h11 lets a server answer from IDLE too: a request head it could not parse gets its 400.
                if self.conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
                    await self._send_json(e.status, e.body(), e.headers, close=True)
                return
            if received is None:
                return
            request, body = received
            self.busy = True
            try:
                await self._handle_watched(request, body)
            finally:
                self.busy = False
            if self.conn.our_state is not h11.DONE or self.conn.their_state is not h11.DONE:
                return
            self.conn.start_next_cycle()

    async def _receive(self, timeout: float) -> None:
        data = await asyncio.wait_for(self.reader.read(READ_CHUNK), timeout)
        self.conn.receive_data(data)

    async def _read_request(self) -> tuple[h11.Request, bytes] | None:
        """The next request and its body; None when the client closed or stayed idle too long."""
        request: h11.Request | None = None
        body = bytearray()
        head_deadline: float | None = None
        while True:
            try:
                event = self.conn.next_event()
            except h11.RemoteProtocolError as e:
                raise HttpError(400, f"malformed HTTP request: {str(e)[:200]}") from None
            if event is h11.NEED_DATA:
                if head_deadline is None and request is None:
                    try:  # between requests: wait up to the idle timeout for the next one
                        await self._receive(self.door.idle_timeout_s)
                    except TimeoutError:
                        return None
                    head_deadline = time.monotonic() + self.door.head_timeout_s
                    continue
                if head_deadline is None:
                    head_deadline = time.monotonic() + self.door.head_timeout_s
                left = head_deadline - time.monotonic()
                try:
                    await self._receive(max(left, 0.001))
                except TimeoutError:
                    raise HttpError(
                        408, f"the request was not complete within {self.door.head_timeout_s:g} s"
                    ) from None
                continue
            if isinstance(event, h11.Request):
                request = event
                length = dict(event.headers).get(b"content-length")
                if length is not None and length.isdigit() and int(length) > self.door.max_body_bytes:
                    raise self._too_large()
            elif isinstance(event, h11.Data):
                body += event.data
                if len(body) > self.door.max_body_bytes:
                    raise self._too_large()
            elif isinstance(event, h11.EndOfMessage):
                assert request is not None
                return request, bytes(body)
            elif event is h11.PAUSED or isinstance(event, h11.ConnectionClosed):
                return None

    def _too_large(self) -> HttpError:
        return HttpError(
            413, f"the body is larger than {self.door.max_body_bytes} bytes", code="request_too_large"
        )

    async def _handle_watched(self, request: h11.Request, body: bytes) -> None:
        """Handle one request while watching the connection: a client that hangs up cancels it (its
        generation stops; the decision row says the caller went away)."""
        handler = asyncio.create_task(self._handle(request, body))
        watcher = asyncio.create_task(self.reader.read(READ_CHUNK))
        try:
            while True:
                done, _ = await asyncio.wait({handler, watcher}, return_when=asyncio.FIRST_COMPLETED)
                if handler in done:
                    break
                data = watcher.result()
                if not data:  # the client closed its side
                    handler.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await handler
                    raise _ClientGone()
                self.conn.receive_data(data)  # a pipelined next request: h11 keeps it for later
                watcher = asyncio.create_task(self.reader.read(READ_CHUNK))
        except asyncio.CancelledError:
            handler.cancel()
            raise
        finally:
            if not watcher.done():
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher
            elif not watcher.cancelled() and watcher.exception() is None:
                # Read in the same turn as the handler finished: the next request, or the client's
                # end of stream; h11 keeps either for the next cycle.
                self.conn.receive_data(watcher.result())
        handler.result()

    async def _handle(self, request: h11.Request, body: bytes) -> None:
        method = request.method.decode("ascii", "replace")
        path = request.target.decode("ascii", "replace").split("?", 1)[0]
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in request.headers}
        try:
            allowed = PATHS.get(path)
            if allowed is None:
                raise HttpError(
                    404,
                    f"no such path {path[:64]!r}; this door serves POST {COMPLETIONS} and GET {MODELS}",
                    code="unknown_url",
                )
            if request.method != allowed:
                raise HttpError(
                    405,
                    f"{method[:16]} is not allowed on {path}; use {allowed.decode()}",
                    code="method_not_allowed",
                    headers=[("allow", allowed.decode())],
                )
            app_id = self.door.app_id(headers, self.peer, f"{method} {path}")
            if path == MODELS:
                await self._send_json(200, self.door.models())
                return
            try:
                payload = orjson.loads(body)
            except ValueError:  # orjson.JSONDecodeError, invalid UTF-8 included
                raise HttpError(400, "the body is not valid JSON", code="invalid_json") from None
            call = parse_completion(payload, self.door.limits, app_id)
            if call.stream:
                await self._stream(call)
            else:
                await self._complete(call)
        except HttpError as e:
            await self._send_json(e.status, e.body(), e.headers)
        except errors.RouterError as e:
            error = HttpError.from_router_error(e)
            await self._send_json(error.status, error.body(), error.headers)
        except (_ClientGone, ConnectionError):
            raise
        except Exception as e:
            if self.conn.our_state is not h11.SEND_RESPONSE:
                raise
            error = _internal(e)
            await self._send_json(error.status, error.body(), close=True)

    # --- completions ------------------------------------------------------------------------------

    def _deadline(self) -> float:
        return time.monotonic() + self.door.default_deadline_s

    def _past_deadline(self) -> HttpError:
        return HttpError.from_router_error(
            errors.DeadlineExceeded(
                f"the call ran past the daemon's default deadline of {self.door.default_deadline_s:g} s "
                "(--default-deadline-s on the daemon)"
            )
        )

    def _model(self, outcome: Outcome) -> str:
        return outcome.model or self.door.engine.backend.info.name

    async def _complete(self, call: CompletionCall) -> None:
        deadline = self._deadline()
        try:
            async with asyncio.timeout_at(deadline):
                answer: Answer = await self.door.engine.route(call.request, deadline)
        except TimeoutError:
            raise self._past_deadline() from None
        except errors.RouterError:
            raise
        except Exception as e:
            raise _internal(e) from None
        outcome = answer.outcome
        body = {
            "id": f"chatcmpl-{outcome.id}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self._model(outcome),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": answer.text},
                    "finish_reason": _finish(answer.finish_reason),
                    "logprobs": None,
                }
            ],
            "usage": _usage(answer.usage.prompt_tokens, answer.usage.completion_tokens),
            "router": decision_dict(outcome) | {"finish_reason": answer.finish_reason},
        }
        await self._send_json(200, body, _decision_headers(outcome))

    async def _stream(self, call: CompletionCall) -> None:
        deadline = self._deadline()
        events = cast(Events, self.door.engine.execute(call.request, deadline))
        try:
            try:
                async with asyncio.timeout_at(deadline):
                    first = await anext(events)
            except StopAsyncIteration:
                raise _internal(RuntimeError("no outcome")) from None
            except TimeoutError:
                raise self._past_deadline() from None
            except errors.RouterError:
                raise
            except Exception as e:
                raise _internal(e) from None
            assert isinstance(first, Outcome)
            await self._stream_events(call, first, events, deadline)
        finally:
            await events.aclose()

    async def _stream_events(
        self, call: CompletionCall, outcome: Outcome, events: Events, deadline: float
    ) -> None:
        created = int(time.time())
        chunk_id = f"chatcmpl-{outcome.id}"

        def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> dict[str, Any]:
            return {
                "id": chunk_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": self._model(outcome),
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
                **extra,
            }

        headers = [("content-type", "text/event-stream"), ("cache-control", "no-cache")]
        await self._start(200, headers + _decision_headers(outcome))
        await self._event(events, chunk({"role": "assistant", "content": ""}, router=decision_dict(outcome)))
        try:
            async with asyncio.timeout_at(deadline):
                async for event in events:
                    if isinstance(event, str):
                        await self._event(events, chunk({"content": event}))
                    elif isinstance(event, EndEvent):
                        router = decision_dict(outcome) | {"finish_reason": event.finish_reason}
                        await self._event(events, chunk({}, _finish(event.finish_reason), router=router))
                        if call.include_usage:
                            usage = _usage(event.usage.prompt_tokens, event.usage.completion_tokens)
                            final = chunk({}) | {"choices": [], "usage": usage}
                            await self._event(events, final)
            await self._sse(events, b"data: [DONE]\n\n")
        except _ClientGone:
            raise
        except TimeoutError:
            await self._stream_error(events, self._past_deadline())
        except errors.RouterError as e:
            await self._stream_error(events, HttpError.from_router_error(e))
        except Exception as e:
            await self._stream_error(events, _internal(e))
        await self._write(events, self.conn.send(h11.EndOfMessage()) or b"")

    async def _stream_error(self, events: Events, error: HttpError) -> None:
        """After the headers went out, an error is one more event, in OpenAI's error shape (the SDK
        raises it as an APIError), and the stream ends without [DONE]."""
        await self._sse(events, b"data: " + orjson.dumps(error.body()) + b"\n\n")

    async def _event(self, events: Events, data: dict[str, Any]) -> None:
        await self._sse(events, b"data: " + orjson.dumps(data) + b"\n\n")

    async def _sse(self, events: Events, raw: bytes) -> None:
        await self._write(events, self.conn.send(h11.Data(data=raw)) or b"")

    async def _write(self, events: Events, raw: bytes) -> None:
        """Write, waiting at most `stall_s` for a client that does not read; then throw Cancelled into
        the engine's generator (the row records why, a local job stops) and drop the connection."""
        self.writer.write(raw)
        try:
            await asyncio.wait_for(self.writer.drain(), self.door.stall_s)
        except TimeoutError:
            why = f"the client read nothing for {self.door.stall_s:g} s; the stream was stopped"
            log.warning("stream_stalled", stall_s=self.door.stall_s, door="http")
            await _throw(events, errors.Cancelled(why))
        except ConnectionError as e:
            await _throw(events, errors.CallerGone(f"the stream could not be written ({type(e).__name__})"))

    # --- plain responses --------------------------------------------------------------------------

    def _headers(self, headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
        if self.door.draining:
            headers = [*headers, ("connection", "close")]
        return headers

    async def _start(self, status: int, headers: list[tuple[str, str]]) -> None:
        raw = self.conn.send(h11.Response(status_code=status, headers=self._headers(headers)))
        self.writer.write(raw or b"")

    async def _send_json(
        self,
        status: int,
        body: dict[str, Any],
        headers: list[tuple[str, str]] | None = None,
        *,
        close: bool = False,
    ) -> None:
        data = orjson.dumps(body)
        all_headers = [
            ("content-type", "application/json"),
            ("content-length", str(len(data))),
            *(headers or []),
        ]
        if close:
            all_headers.append(("connection", "close"))
        out = self.conn.send(h11.Response(status_code=status, headers=self._headers(all_headers))) or b""
        out += self.conn.send(h11.Data(data=data)) or b""
        out += self.conn.send(h11.EndOfMessage()) or b""
        self.writer.write(out)
        try:
            await asyncio.wait_for(self.writer.drain(), self.door.stall_s)
        except TimeoutError:
            raise _ClientGone() from None


async def _throw(events: Events, error: errors.Cancelled) -> None:
    with contextlib.suppress(errors.Cancelled, StopAsyncIteration):
        await events.athrow(error)
    raise _ClientGone(error.message)


def _internal(exc: Exception) -> HttpError:
    """Unexpected errors become 500 without their message (it could quote the prompt); the log has
    the type."""
    log.error("internal_error", error_type=type(exc).__name__, door="http")
    return HttpError.from_router_error(errors.Unexpected())


# --- listeners ---------------------------------------------------------------------------------------


class HttpListeners:
    """The HTTP door as the app starts and stops it: its listeners, and the door serving them."""

    name = "http"

    def __init__(
        self, door: HttpDoor, servers: list[asyncio.Server], addresses: list[str], socket_path: Path | None
    ) -> None:
        self.door = door
        self.servers = servers
        self.addresses = addresses
        self._socket_path = socket_path

    async def start(self) -> None:
        for server in self.servers:
            await server.start_serving()

    async def stop(self, grace: float) -> None:
        for server in self.servers:
            server.close()
        await self.door.drain(grace)
        remove_socket(self._socket_path, self.addresses)


def _tls(settings: Settings) -> ssl.SSLContext | None:
    """The same TLS as --listen (certificate, key, optional client CA for mutual TLS), or None for
    plaintext, which Settings only allows with --insecure."""
    if not (settings.tls_cert and settings.tls_key):
        if settings.app_tokens is None:
            log.warning(
                "insecure_tcp_without_tokens",
                listen=settings.http_listen,
                why="plaintext TCP and no --app-tokens: anyone who can reach this address can use the "
                "router as any app; add --app-tokens FILE or use TLS with --tls-client-ca",
            )
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(settings.tls_cert, settings.tls_key)
    if settings.tls_client_ca:
        context.load_verify_locations(settings.tls_client_ca)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


async def create_http_door(app: App) -> HttpListeners:
    """The HTTP door over `app`, its listeners (--http-socket, --http-listen) bound, not yet serving
    (`App.start` starts it)."""
    settings = app.settings
    door = HttpDoor(
        app.engine,
        limits=app.limits,
        tokens=app.tokens,
        default_deadline_s=settings.default_deadline_s,
        stall_s=settings.stream_stall_s,
        idle_timeout_s=settings.idle_timeout_s,
        head_timeout_s=settings.handshake_timeout_s,
        max_connections=connection_limit(settings),
    )
    servers: list[asyncio.Server] = []
    addresses: list[str] = []
    if settings.http_socket is not None:
        path = settings.http_socket
        prepare_unix_socket(path)
        with born_with_mode(settings.socket_mode):  # the socket file is born with its mode
            servers.append(
                await asyncio.start_unix_server(door.serve_connection, path=str(path), start_serving=False)
            )
        set_socket_mode(path, settings)
        addresses.append(f"unix:{path}")
    if settings.http_listen is not None:
        host, port = parse_host_port(settings.http_listen)
        context = _tls(settings)
        try:
            server = await asyncio.start_server(
                door.serve_connection, host.strip("[]"), port, ssl=context, start_serving=False
            )
        except OSError as e:
            for bound in servers:
                bound.close()
            raise ConfigError(
                f"cannot listen on {settings.http_listen} ({e.strerror}); is the address in use?"
            ) from None
        servers.append(server)
        bound_port = server.sockets[0].getsockname()[1]
        addresses.append(f"{'https' if context else 'http'}://{host}:{bound_port}")
    return HttpListeners(door, servers, addresses, settings.http_socket)


__all__ = [
    "HTTP_STATUS",
    "CompletionCall",
    "HttpDoor",
    "HttpError",
    "HttpListeners",
    "create_http_door",
    "parse_completion",
]
