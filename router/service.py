"""The gRPC servicer: proto -> domain, domain -> proto, typed errors -> status codes. Nothing else."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import NoReturn

import grpc
import structlog

from router import errors
from router.engine import EndEvent, Engine, Outcome
from router.feedback import parse_feedback
from router.requests import Limits, build_request
from router.types import Request, Route
from router.v1 import router_pb2 as pb
from router.v1 import router_pb2_grpc as pb_grpc

log = structlog.get_logger("router.service")

# The one place where error types become status codes (most specific first).
STATUS_CODES: list[tuple[type[errors.RouterError], grpc.StatusCode]] = [
    (errors.InvalidRequest, grpc.StatusCode.INVALID_ARGUMENT),
    (errors.NotFound, grpc.StatusCode.NOT_FOUND),
    (errors.Unauthenticated, grpc.StatusCode.UNAUTHENTICATED),
    (errors.PermissionDenied, grpc.StatusCode.PERMISSION_DENIED),
    (errors.Denied, grpc.StatusCode.PERMISSION_DENIED),
    (errors.Overloaded, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (errors.Cancelled, grpc.StatusCode.CANCELLED),
    (errors.CloudTimeout, grpc.StatusCode.DEADLINE_EXCEEDED),
    (errors.CloudError, grpc.StatusCode.UNAVAILABLE),
    (errors.PrivacyError, grpc.StatusCode.FAILED_PRECONDITION),
    (errors.ConfigError, grpc.StatusCode.FAILED_PRECONDITION),
    (errors.BackendError, grpc.StatusCode.INTERNAL),
    (errors.ModelError, grpc.StatusCode.INTERNAL),
]

ROUTE_TO_PB = {
    Route.LOCAL: pb.ROUTE_KIND_LOCAL,
    Route.CLOUD: pb.ROUTE_KIND_CLOUD,
    Route.CLOUD_REDACTED: pb.ROUTE_KIND_CLOUD_REDACTED,
    Route.DENY: pb.ROUTE_KIND_DENY,
}


def status_for(exc: errors.RouterError) -> grpc.StatusCode:
    for cls, code in STATUS_CODES:
        if isinstance(exc, cls):
            return code
    return grpc.StatusCode.INTERNAL


async def fail(context: grpc.aio.ServicerContext, exc: Exception) -> NoReturn:
    """End the call with the status for `exc`. Unexpected errors become INTERNAL without their message
    (it could quote the prompt); the daemon logs their type."""
    if isinstance(exc, errors.RouterError):
        await abort(context, exc)
    log.error("internal_error", error_type=type(exc).__name__)
    await context.abort(grpc.StatusCode.INTERNAL, "internal error in the router; the daemon log has details")
    raise AssertionError("unreachable")


async def abort(context: grpc.aio.ServicerContext, exc: errors.RouterError) -> NoReturn:
    metadata: list[tuple[str, str]] = []
    if exc.retry_after_s is not None:
        metadata.append(("retry-after-ms", str(int(exc.retry_after_s * 1000))))
    if isinstance(exc, errors.Denied):
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
    t = o.timings
    return pb.Decision(
        id=o.id,
        route=ROUTE_TO_PB[o.route],
        decided_route=ROUTE_TO_PB[o.decided_route],
        rule=o.rule,
        reason=o.reason,
        complexity=o.complexity,
        privacy=o.privacy,
        findings=[pb.FindingCount(category=c, count=n) for c, n in o.findings.items()],
        model=o.model,
        timings=pb.Timings(
            queue_ms=t.queue_ms,
            scoring_ms=t.scoring_ms,
            generation_ms=t.generation_ms,
            cloud_ms=t.cloud_ms,
            total_ms=t.total_ms,
        ),
        stage=o.stage,
        policy_version=o.policy_version,
        fallback=o.fallback,
        fallback_reason=o.fallback_reason,
        answer_check=o.answer_check,
        answer_check_value=o.answer_check_value,
        summary=o.summary,
    )


def _deadline(context: grpc.aio.ServicerContext) -> float | None:
    remaining = context.time_remaining()
    return None if remaining is None else time.monotonic() + remaining


# Resolves the caller's app id from its metadata (bearer tokens); None means "trust the request".
Authenticator = Callable[[grpc.aio.ServicerContext, str], str | None]


class RouterService(pb_grpc.RouterServicer):
    def __init__(
        self,
        engine: Engine,
        *,
        limits: Limits,
        stats: Callable[[], Awaitable[pb.Stats]],
        authenticate: Authenticator | None = None,
    ) -> None:
        self.engine = engine
        self.limits = limits
        self._stats = stats
        self._authenticate = authenticate

    def _request(self, msg: pb.RouteRequest, context: grpc.aio.ServicerContext) -> Request:
        app_id = self._authenticate(context, msg.app_id) if self._authenticate else None
        return to_request(msg, self.limits, app_id)

    async def Route(self, request: pb.RouteRequest, context: grpc.aio.ServicerContext) -> pb.RouteResponse:
        try:
            answer = await self.engine.route(self._request(request, context), _deadline(context))
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

    async def RouteStream(
        self, request: pb.RouteRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.RouteStreamResponse]:
        outcome: Outcome | None = None
        try:
            async for event in self.engine.execute(self._request(request, context), _deadline(context)):
                if isinstance(event, Outcome):
                    outcome = event
                    yield pb.RouteStreamResponse(decision=to_pb_decision(event))
                elif isinstance(event, str):
                    yield pb.RouteStreamResponse(delta=event)
                elif isinstance(event, EndEvent):
                    assert outcome is not None
                    yield pb.RouteStreamResponse(
                        end=pb.StreamEnd(
                            usage=pb.Usage(
                                prompt_tokens=event.usage.prompt_tokens,
                                completion_tokens=event.usage.completion_tokens,
                            ),
                            finish_reason=event.finish_reason,
                            decision=to_pb_decision(outcome),
                        )
                    )
        except Exception as e:
            await fail(context, e)

    async def Classify(
        self, request: pb.RouteRequest, context: grpc.aio.ServicerContext
    ) -> pb.ClassifyResponse:
        try:
            outcome = await self.engine.classify(self._request(request, context))
        except Exception as e:
            await fail(context, e)
        return pb.ClassifyResponse(decision=to_pb_decision(outcome))

    async def Feedback(
        self, request: pb.FeedbackRequest, context: grpc.aio.ServicerContext
    ) -> pb.FeedbackResponse:
        try:
            app_id = self._authenticate(context, request.app_id) if self._authenticate else None
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
        return await self._stats()


__all__ = ["STATUS_CODES", "RouterService", "abort", "status_for", "to_pb_decision", "to_request"]
