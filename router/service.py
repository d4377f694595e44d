"""The gRPC servicer: proto -> domain, domain -> proto, typed errors -> status codes (through the
gRPC door's table of error kinds, router.grpc_status). Nothing else.

Besides the mapping, the door bounds what a careless or hostile client can hold: a call without a
deadline gets the daemon's default one (`--default-deadline-s`), a stream whose client stops reading
is cancelled after `stall_s` (its generation stops), and a request that is not valid protobuf is
refused with INVALID_ARGUMENT before any handler runs (`add_router_service`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any, NoReturn, cast

import grpc
import structlog

from router import errors
from router.engine import EndEvent, Engine, Outcome
from router.feedback import parse_feedback
from router.grpc_status import GRPC_CODES, status_for
from router.outcomes import DECISION_FIELDS, ROUTE_FIELDS, TIMING_FIELDS
from router.requests import Limits, build_request
from router.types import Request, Route
from router.v1 import router_pb2 as pb
from router.v1 import router_pb2_grpc as pb_grpc

log = structlog.get_logger("router.service")

ROUTE_TO_PB = {
    Route.LOCAL: pb.ROUTE_KIND_LOCAL,
    Route.CLOUD: pb.ROUTE_KIND_CLOUD,
    Route.CLOUD_REDACTED: pb.ROUTE_KIND_CLOUD_REDACTED,
    Route.DENY: pb.ROUTE_KIND_DENY,
}


async def fail(context: grpc.aio.ServicerContext, exc: Exception) -> NoReturn:
    """End the call with the status for `exc`. Unexpected errors become INTERNAL without their message
    (it could quote the prompt); the daemon logs their type."""
    if not isinstance(exc, errors.RouterError):
        log.error("internal_error", error_type=type(exc).__name__)
        exc = errors.Unexpected()
    await abort(context, exc)


async def abort(context: grpc.aio.ServicerContext, exc: errors.RouterError) -> NoReturn:
    """End the call with the status of `exc`'s kind (GRPC_CODES), its message, and its retry hint and
    decision id as trailing metadata."""
    metadata: list[tuple[str, str]] = []
    if exc.retry_after_s is not None:
        metadata.append(("retry-after-ms", str(int(exc.retry_after_s * 1000))))
    if exc.decision_id:
        metadata.append(("decision-id", exc.decision_id))
    await context.abort(status_for(exc), exc.message, trailing_metadata=tuple(metadata))
    raise AssertionError("unreachable")


def to_request(msg: pb.RouteRequest, limits: Limits, app_id: str | None = None) -> Request:
    opts = msg.options
    return build_request(
        ((m.role, m.content) for m in msg.messages),
        app_id=app_id if app_id is not None else msg.app_id,
        max_tokens=opts.max_tokens if opts.HasField("max_tokens") else None,
        temperature=opts.temperature if opts.HasField("temperature") else None,
        top_p=opts.top_p if opts.HasField("top_p") else None,
        stop=list(opts.stop),
        metadata=dict(msg.metadata),
        limits=limits,
    )


def to_pb_decision(o: Outcome) -> pb.Decision:
    """The proto form of the one decision shape (router.outcomes.DECISION_FIELDS)."""
    values: dict[str, Any] = {}
    for name in DECISION_FIELDS:
        value = getattr(o, name)
        if name in ROUTE_FIELDS:
            value = ROUTE_TO_PB[value]
        elif name == "findings":
            value = [pb.FindingCount(category=c, count=n) for c, n in value.items()]
        elif name == "timings":
            value = pb.Timings(**{t: getattr(value, t) for t in TIMING_FIELDS})
        values[name] = value
    return pb.Decision(**values)


# Resolves the caller's app id from its metadata (bearer tokens); None means "trust the request".
# Raises Unauthenticated / PermissionDenied. A claimed app of "" accepts any valid token.
Authenticator = Callable[[grpc.aio.ServicerContext, str], str | None]

# What Engine.execute returns (an async generator: the stream can throw into it and close it).
Events = AsyncGenerator[Outcome | str | EndEvent, None]

# With app tokens, the token of this app id may read every app's GetStats; other apps see their own.
ADMIN_APP = "admin"


class _Stalled(Exception):
    """A stream's client read nothing for `stall_s`; carries the Cancelled error the row records."""

    def __init__(self, error: errors.Cancelled) -> None:
        super().__init__(error.message)
        self.error = error


async def _end(events: Events, error: errors.Cancelled) -> NoReturn:
    """Throw `error` into the engine's generator (it records the row with this reason and cancels the
    local job), then raise _Stalled: the call ends with a status, not with another write."""
    with contextlib.suppress(errors.Cancelled):
        await events.athrow(error)
    raise _Stalled(error)


class _Undecodable:
    """What a request that is not valid protobuf deserializes to; the handler refuses it."""

    def __init__(self, message_type: str) -> None:
        self.message_type = message_type


def _tolerant(parse: Callable[[bytes], Any], message_type: str) -> Callable[[bytes], Any]:
    def deserialize(data: bytes) -> Any:
        try:
            return parse(data)
        except Exception:  # DecodeError, invalid UTF-8 in a string field, ...
            return _Undecodable(message_type)

    return deserialize


async def _refuse_undecodable(context: grpc.aio.ServicerContext, request: object) -> None:
    if isinstance(request, _Undecodable):
        await abort(
            context,
            errors.InvalidRequest(
                f"the request is not a valid {request.message_type} (bad protobuf or a string that is "
                "not UTF-8); send it with the stubs generated from protos/router/v1/router.proto"
            ),
        )


def add_router_service(servicer: RouterService, server: grpc.aio.Server) -> None:
    """Like the generated `add_RouterServicer_to_server`, but a request that does not parse reaches
    the handler as `_Undecodable` (refused with INVALID_ARGUMENT) instead of grpc's UNKNOWN status,
    whose message names an internal exception class."""
    route_request = _tolerant(pb.RouteRequest.FromString, "router.v1.RouteRequest")
    handlers = {
        "Route": grpc.unary_unary_rpc_method_handler(
            servicer.Route,
            request_deserializer=route_request,
            response_serializer=pb.RouteResponse.SerializeToString,
        ),
        "RouteStream": grpc.unary_stream_rpc_method_handler(
            servicer.RouteStream,
            request_deserializer=route_request,
            response_serializer=pb.RouteStreamResponse.SerializeToString,
        ),
        "Classify": grpc.unary_unary_rpc_method_handler(
            servicer.Classify,
            request_deserializer=route_request,
            response_serializer=pb.ClassifyResponse.SerializeToString,
        ),
        "GetStats": grpc.unary_unary_rpc_method_handler(
            servicer.GetStats,
            request_deserializer=_tolerant(pb.GetStatsRequest.FromString, "router.v1.GetStatsRequest"),
            response_serializer=pb.Stats.SerializeToString,
        ),
        "Feedback": grpc.unary_unary_rpc_method_handler(
            servicer.Feedback,
            request_deserializer=_tolerant(pb.FeedbackRequest.FromString, "router.v1.FeedbackRequest"),
            response_serializer=pb.FeedbackResponse.SerializeToString,
        ),
    }
    name = pb.DESCRIPTOR.services_by_name["Router"].full_name
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(name, handlers),))
    server.add_registered_method_handlers(name, handlers)


class RouterService(pb_grpc.RouterServicer):
    def __init__(
        self,
        engine: Engine,
        *,
        limits: Limits,
        stats: Callable[[str | None], Awaitable[pb.Stats]],
        authenticate: Authenticator | None = None,
        default_deadline_s: float = 120.0,
        stall_s: float = 10.0,
    ) -> None:
        """`stats(app)`: GetStats for one app, or for all when app is None. `default_deadline_s`: the
        deadline of calls that set none. `stall_s`: a stream whose next message cannot be written for
        this long (its client does not read) is cancelled."""
        self.engine = engine
        self.limits = limits
        self._stats = stats
        self._authenticate = authenticate
        self.default_deadline_s = default_deadline_s
        self.stall_s = stall_s

    def _app(self, context: grpc.aio.ServicerContext, claimed_app: str, method: str) -> str | None:
        if self._authenticate is None:
            return None
        try:
            return self._authenticate(context, claimed_app)
        except (errors.Unauthenticated, errors.PermissionDenied) as e:
            # Never the token itself: the reason, the method, the peer and the (bounded) claimed app.
            log.warning(
                "auth_failed",
                method=method,
                peer=context.peer(),
                claimed_app=claimed_app[:64],
                reason=e.message,
                error_type=type(e).__name__,
            )
            raise

    def _request(self, msg: pb.RouteRequest, context: grpc.aio.ServicerContext, method: str) -> Request:
        return to_request(msg, self.limits, self._app(context, msg.app_id, method))

    def _deadline(self, context: grpc.aio.ServicerContext) -> tuple[float, bool]:
        """The call's deadline (monotonic), and whether it is the daemon's default (the client set none:
        then nothing but the daemon enforces it)."""
        remaining = context.time_remaining()
        if remaining is None or remaining > self.default_deadline_s * 1000:  # "no deadline" can be huge
            return time.monotonic() + self.default_deadline_s, True
        return time.monotonic() + remaining, False

    async def _past_default_deadline(self, context: grpc.aio.ServicerContext) -> NoReturn:
        await abort(
            context,
            errors.DeadlineExceeded(
                f"the call ran past the daemon's default deadline of {self.default_deadline_s:g} s "
                "(set a deadline on the call, or --default-deadline-s on the daemon)"
            ),
        )

    async def Route(self, request: pb.RouteRequest, context: grpc.aio.ServicerContext) -> pb.RouteResponse:
        await _refuse_undecodable(context, request)
        deadline, imposed = self._deadline(context)
        try:
            async with asyncio.timeout_at(deadline if imposed else None):
                answer = await self.engine.route(self._request(request, context, "Route"), deadline)
        except TimeoutError:
            await self._past_default_deadline(context)
        except Exception as e:
            await fail(context, e)
        return pb.RouteResponse(
            decision=to_pb_decision(answer.outcome),
            text=answer.text,
            usage=pb.Usage(
                prompt_tokens=answer.usage.prompt_tokens, completion_tokens=answer.usage.completion_tokens
            ),
            finish_reason=answer.finish_reason,
        )

    async def RouteStream(self, request: pb.RouteRequest, context: grpc.aio.ServicerContext) -> None:
        """Written with `context.write`, one message at a time: at most one message per stream waits
        for the client (plus gRPC's own per-stream buffer; the local model runs at most
        `--stream-max-unread` pieces ahead), and a write that waits longer than `stall_s` ends the
        stream, stops its generation and records why in the decision row."""
        await _refuse_undecodable(context, request)
        deadline, imposed = self._deadline(context)
        try:
            # A message without an event first (clients skip it): a client that reads nothing (a zero
            # HTTP/2 window) is found here, before its request costs any scoring or model time.
            await asyncio.wait_for(context.write(pb.RouteStreamResponse()), self.stall_s)
        except TimeoutError:
            log.warning("stream_stalled", decision_id="", stall_s=self.stall_s, app=request.app_id[:64])
            stalled = errors.Cancelled(
                f"the client read nothing for {self.stall_s:g} s; the stream was stopped"
            )
            context.set_code(status_for(stalled))
            context.set_details(stalled.message)
            return
        try:
            events = cast(
                Events, self.engine.execute(self._request(request, context, "RouteStream"), deadline)
            )
        except Exception as e:
            await fail(context, e)
        try:
            async with asyncio.timeout_at(deadline if imposed else None):
                await self._write_stream(events, context)
        except _Stalled as e:
            # A write is still pending (and was cancelled): abort() would fail on it. Set the status;
            # gRPC sends it behind the pending message, i.e. if the client ever reads again. The
            # daemon's own work on the call (scoring, generation) has stopped already.
            context.set_code(status_for(e.error))
            context.set_details(e.error.message)
        except TimeoutError:
            await self._past_default_deadline(context)
        except Exception as e:
            await fail(context, e)
        finally:
            await events.aclose()

    async def _write_stream(self, events: Events, context: grpc.aio.ServicerContext) -> None:
        outcome: Outcome | None = None
        async for event in events:
            if isinstance(event, Outcome):
                outcome = event
                message = pb.RouteStreamResponse(decision=to_pb_decision(event))
            elif isinstance(event, str):
                message = pb.RouteStreamResponse(delta=event)
            else:
                assert outcome is not None
                message = pb.RouteStreamResponse(
                    end=pb.StreamEnd(
                        usage=pb.Usage(
                            prompt_tokens=event.usage.prompt_tokens,
                            completion_tokens=event.usage.completion_tokens,
                        ),
                        finish_reason=event.finish_reason,
                        decision=to_pb_decision(outcome),
                    )
                )
            try:
                await asyncio.wait_for(context.write(message), self.stall_s)
            except TimeoutError:
                # The client reads nothing (a full HTTP/2 window). Raise inside the engine's generator,
                # so the row records this reason and the local job is cancelled.
                why = f"the client read nothing for {self.stall_s:g} s; the stream was stopped"
                log.warning("stream_stalled", decision_id=outcome.id if outcome else "", stall_s=self.stall_s)
                await _end(events, errors.Cancelled(why))
            except Exception as e:
                # The connection is gone (or the server is stopping) while a write was pending.
                await _end(events, errors.CallerGone(f"the stream could not be written ({type(e).__name__})"))

    async def Classify(
        self, request: pb.RouteRequest, context: grpc.aio.ServicerContext
    ) -> pb.ClassifyResponse:
        await _refuse_undecodable(context, request)
        try:
            outcome = await self.engine.classify(self._request(request, context, "Classify"))
        except Exception as e:
            await fail(context, e)
        return pb.ClassifyResponse(decision=to_pb_decision(outcome))

    async def Feedback(
        self, request: pb.FeedbackRequest, context: grpc.aio.ServicerContext
    ) -> pb.FeedbackResponse:
        await _refuse_undecodable(context, request)
        try:
            app_id = self._app(context, request.app_id, "Feedback")
            feedback = parse_feedback(
                request.decision_id,
                good=request.good if request.HasField("good") else None,
                score=request.score if request.HasField("score") else None,
                label=request.label,
                app_id=app_id,
            )
            await self.engine.feedback(feedback)
        except Exception as e:
            await fail(context, e)
        return pb.FeedbackResponse(decision_id=feedback.decision_id, score=feedback.score)

    async def GetStats(self, request: pb.GetStatsRequest, context: grpc.aio.ServicerContext) -> pb.Stats:
        """With app tokens, GetStats needs one too: the `admin` app's token sees every app, any other
        app's token only its own requests."""
        await _refuse_undecodable(context, request)
        try:
            app = self._app(context, "", "GetStats")
        except errors.RouterError as e:
            await abort(context, e)
        return await self._stats(None if app is None or app == ADMIN_APP else app)


__all__ = [
    "ADMIN_APP",
    "GRPC_CODES",
    "RouterService",
    "abort",
    "add_router_service",
    "status_for",
    "to_pb_decision",
    "to_request",
]
