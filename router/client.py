"""A small typed Python client for apps (and for the CLI and the tests).

from router.client import RouterClient

with RouterClient(socket="/run/hybrid-router/router.sock") as client:
    reply = client.route("What is the capital of France?", app_id="notes")
    print(reply.text, reply.decision.route)
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from router.v1 import router_pb2 as pb
from router.v1 import router_pb2_grpc as pb_grpc

ROUTE_NAMES = {
    pb.ROUTE_KIND_UNSPECIFIED: "unspecified",
    pb.ROUTE_KIND_LOCAL: "local",
    pb.ROUTE_KIND_CLOUD: "cloud",
    pb.ROUTE_KIND_CLOUD_REDACTED: "cloud_redacted",
    pb.ROUTE_KIND_DENY: "deny",
}

Messages = str | Sequence[tuple[str, str]] | Sequence[Mapping[str, str]]


class ClientError(Exception):
    """A call failed. `code` is the gRPC status name (e.g. "INVALID_ARGUMENT")."""

    def __init__(self, code: str, message: str, metadata: Mapping[str, str] | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.metadata = dict(metadata or {})


@dataclass(frozen=True)
class DecisionInfo:
    id: str
    route: str
    decided_route: str
    rule: str
    reason: str
    complexity: float
    privacy: float
    findings: dict[str, int]
    model: str
    timings: dict[str, float]
    stage: str
    policy_version: str
    fallback: bool
    fallback_reason: str
    answer_check: str = ""
    answer_check_value: float = 0.0
    in_words: str = ""  # the proto's `summary`: the decision in words

    @classmethod
    def from_pb(cls, d: pb.Decision) -> DecisionInfo:
        t = d.timings
        return cls(
            id=d.id,
            route=ROUTE_NAMES.get(d.route, "unspecified"),
            decided_route=ROUTE_NAMES.get(d.decided_route, "unspecified"),
            rule=d.rule,
            reason=d.reason,
            complexity=d.complexity,
            privacy=d.privacy,
            findings={f.category: f.count for f in d.findings},
            model=d.model,
            timings={
                "queue_ms": t.queue_ms,
                "scoring_ms": t.scoring_ms,
                "generation_ms": t.generation_ms,
                "cloud_ms": t.cloud_ms,
                "total_ms": t.total_ms,
            },
            stage=d.stage,
            policy_version=d.policy_version,
            fallback=d.fallback,
            fallback_reason=d.fallback_reason,
            answer_check=d.answer_check,
            answer_check_value=d.answer_check_value,
            in_words=d.summary,
        )

    def summary(self) -> str:
        """One line for humans."""
        parts = [
            f"route={self.route}",
            f"rule={self.rule}",
            f"complexity={self.complexity:.2f}",
            f"privacy={self.privacy:.2f}",
        ]
        if self.findings:
            parts.append("findings=" + ",".join(f"{k}:{v}" for k, v in self.findings.items()))
        if self.model:
            parts.append(f"model={self.model}")
        if self.fallback:
            parts.append(f"fallback({self.fallback_reason})")
        if self.answer_check:
            parts.append(f"answer_check={self.answer_check}")
        parts.append(f"total={self.timings['total_ms']:.0f}ms")
        parts.append(f"id={self.id}")
        line = "[decision] " + " ".join(parts)
        return f"{line}\n[decision] {self.in_words}" if self.in_words else line


@dataclass(frozen=True)
class Reply:
    text: str
    decision: DecisionInfo
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str


@dataclass(frozen=True)
class StreamEnd:
    decision: DecisionInfo
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str


StreamEvent = DecisionInfo | str | StreamEnd


def _messages(messages: Messages) -> list[pb.ChatMessage]:
    if isinstance(messages, str):
        return [pb.ChatMessage(role="user", content=messages)]
    out = []
    for m in messages:
        if isinstance(m, Mapping):
            out.append(pb.ChatMessage(role=m["role"], content=m["content"]))
        else:
            role, content = m
            out.append(pb.ChatMessage(role=role, content=content))
    return out


def _error(e: grpc.RpcError) -> ClientError:
    code = e.code().name if hasattr(e, "code") and e.code() else "UNKNOWN"
    details = e.details() if hasattr(e, "details") else str(e)
    trailing = {}
    if hasattr(e, "trailing_metadata") and e.trailing_metadata():
        trailing = {k: v for k, v in e.trailing_metadata() if isinstance(v, str)}
    return ClientError(code, details or "", trailing)


@dataclass
class RouterClient:
    """Connects to the daemon by Unix socket (`socket=`), TCP (`address=`), or a raw gRPC `target=`."""

    socket: Path | str | None = None
    address: str | None = None
    target: str | None = None
    timeout: float | None = 120.0
    token: str | None = None
    root_certificates: bytes | None = None
    insecure: bool = True
    _channel: grpc.Channel = field(init=False, repr=False)

    def __post_init__(self) -> None:
        target = self.target or (f"unix:{self.socket}" if self.socket else self.address)
        if not target:
            raise ValueError("give socket=, address= or target=")
        if self.address and not self.insecure:
            creds = grpc.ssl_channel_credentials(root_certificates=self.root_certificates)
            self._channel = grpc.secure_channel(target, creds)
        else:
            self._channel = grpc.insecure_channel(target)
        self._stub = pb_grpc.RouterStub(self._channel)  # type: ignore[no-untyped-call]
        self._health = health_pb2_grpc.HealthStub(self._channel)

    def __enter__(self) -> RouterClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._channel.close()

    def _metadata(self) -> list[tuple[str, str]] | None:
        return [("authorization", f"Bearer {self.token}")] if self.token else None

    @staticmethod
    def build_request(
        messages: Messages,
        *,
        app_id: str = "",
        max_tokens: int | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        stop: Sequence[str] = (),
        metadata: Mapping[str, str] | None = None,
    ) -> pb.RouteRequest:
        request = pb.RouteRequest(messages=_messages(messages), app_id=app_id, metadata=dict(metadata or {}))
        if stop:
            request.options.stop.extend(stop)
        if max_tokens is not None:
            request.options.max_tokens = max_tokens
        if temperature is not None:
            request.options.temperature = temperature
        if top_p is not None:
            request.options.top_p = top_p
        return request

    def route(self, messages: Messages, **kwargs: Any) -> Reply:
        try:
            r = self._stub.Route(
                self.build_request(messages, **kwargs), timeout=self.timeout, metadata=self._metadata()
            )
        except grpc.RpcError as e:
            raise _error(e) from None
        return Reply(
            r.text,
            DecisionInfo.from_pb(r.decision),
            r.usage.prompt_tokens,
            r.usage.completion_tokens,
            r.finish_reason,
        )

    def stream(self, messages: Messages, **kwargs: Any) -> Iterator[StreamEvent]:
        """Yields the DecisionInfo first, then text deltas (str), then a StreamEnd.

        Closing the iterator early cancels the call (and the daemon stops generating)."""
        call = self._stub.RouteStream(
            self.build_request(messages, **kwargs), timeout=self.timeout, metadata=self._metadata()
        )
        try:
            for event in call:
                kind = event.WhichOneof("event")
                if kind == "decision":
                    yield DecisionInfo.from_pb(event.decision)
                elif kind == "delta":
                    yield event.delta
                elif kind == "end":
                    yield StreamEnd(
                        DecisionInfo.from_pb(event.end.decision),
                        event.end.usage.prompt_tokens,
                        event.end.usage.completion_tokens,
                        event.end.finish_reason,
                    )
        except grpc.RpcError as e:
            raise _error(e) from None
        finally:
            call.cancel()

    def classify(self, messages: Messages, **kwargs: Any) -> DecisionInfo:
        try:
            r = self._stub.Classify(
                self.build_request(messages, **kwargs), timeout=self.timeout, metadata=self._metadata()
            )
        except grpc.RpcError as e:
            raise _error(e) from None
        return DecisionInfo.from_pb(r.decision)

    def feedback(
        self,
        decision_id: str,
        *,
        good: bool | None = None,
        score: float | None = None,
        label: str = "",
        app_id: str = "",
    ) -> float:
        """Tell the daemon how good the answer of decision `decision_id` was: `good` or a `score` in
        [0, 1], and an optional short `label`. Returns the score stored."""
        request = pb.FeedbackRequest(decision_id=decision_id, label=label, app_id=app_id)
        if good is not None:
            request.good = good
        if score is not None:
            request.score = score
        try:
            reply = self._stub.Feedback(request, timeout=self.timeout, metadata=self._metadata())
        except grpc.RpcError as e:
            raise _error(e) from None
        return float(reply.score)

    def stats(self) -> pb.Stats:
        try:
            stats: pb.Stats = self._stub.GetStats(
                pb.GetStatsRequest(), timeout=self.timeout, metadata=self._metadata()
            )
            return stats
        except grpc.RpcError as e:
            raise _error(e) from None

    def health(self, service: str = "") -> str:
        try:
            r = self._health.Check(health_pb2.HealthCheckRequest(service=service), timeout=self.timeout)
        except grpc.RpcError as e:
            raise _error(e) from None
        return str(health_pb2.HealthCheckResponse.ServingStatus.Name(r.status))
