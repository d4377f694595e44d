"""OpenTelemetry traces: one span per request, only when the standard OTLP variables ask for them.

Configured by `OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (and the other
standard `OTEL_*` variables the OTLP/HTTP exporter reads: headers, timeout, `OTEL_SERVICE_NAME`);
`OTEL_SDK_DISABLED=true` turns it off. Unconfigured, opentelemetry is not imported at all.

The spans are built from the decision rows, in the decision log's writer thread, after the rows are
written: every door's requests (gRPC and HTTP) are traced the same way, and nothing is added to the
request's hot path. A span follows the GenAI semantic conventions (`gen_ai.operation.name` = chat,
`gen_ai.request.model`, `gen_ai.response.model`, `gen_ai.usage.input_tokens` / `output_tokens`) plus
the router's decision (`router.route`, `router.rule`, `router.complexity`, `router.privacy`, ...). A
row holds no prompt or answer text, so neither can reach a span; error messages are left out too (the
error type is `error.type`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from router.decisions import DecisionRow
from router.errors import ConfigError

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Tracer

ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
SERVICE_NAME = "hybrid-router"


def configured(environ: Mapping[str, str]) -> bool:
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    return any(environ.get(name, "").strip() for name in ENDPOINT_VARIABLES)


def span_attributes(row: DecisionRow) -> dict[str, Any]:
    """A decision row as span attributes: numbers, names and routes, never text of the request."""
    attributes: dict[str, Any] = {
        "router.decision_id": row.id,
        "router.app": row.app,
        "router.kind": row.kind,
        "router.route": row.route,
        "router.decided_route": row.decided_route,
        "router.rule": row.rule,
        "router.complexity": row.complexity,
        "router.privacy": row.privacy,
        "router.stage": row.stage,
        "router.policy_version": row.policy_version,
        "router.fallback": row.fallback,
        "router.finding_categories": sorted(row.findings),
    }
    if row.answer_check:
        attributes["router.answer_check"] = row.answer_check
    if row.kind != "classify":
        attributes["gen_ai.operation.name"] = "chat"
        if row.model:
            attributes["gen_ai.request.model"] = row.model
            attributes["gen_ai.response.model"] = row.model
        attributes["gen_ai.usage.input_tokens"] = row.tokens_in
        attributes["gen_ai.usage.output_tokens"] = row.tokens_out
    if row.status != "OK":
        attributes["error.type"] = row.status
    return attributes


def span_name(row: DecisionRow) -> str:
    if row.kind == "classify":
        return "router.classify"
    return f"chat {row.model}" if row.model else "chat"


class Telemetry:
    """Turns decision rows into spans on `tracer`. `provider` (when it owns one) is shut down, and its
    spans flushed, by `shutdown()`."""

    def __init__(self, tracer: Tracer, provider: TracerProvider | None = None) -> None:
        self.tracer = tracer
        self.provider = provider

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Telemetry | None:
        """An OTLP/HTTP exporter per the standard variables, or None (nothing imported) without them."""
        environ = os.environ if environ is None else environ
        if not configured(environ):
            return None
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
            from opentelemetry.sdk.resources import Resource
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import BatchSpanProcessor
        except ImportError:
            raise ConfigError(
                "OTEL_EXPORTER_OTLP_ENDPOINT (or _TRACES_ENDPOINT) is set but OpenTelemetry is not "
                "installed: pip install 'hybrid-router[otel]', or unset the variable"
            ) from None

        resource = Resource.create({"service.name": environ.get("OTEL_SERVICE_NAME") or SERVICE_NAME})
        provider = TracerProvider(resource=resource)
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        return cls(provider.get_tracer("router"), provider)

    def record(self, rows: Sequence[DecisionRow]) -> None:
        """One span per row, timed from the request's start to its end (the row's ts and total_ms)."""
        from opentelemetry.trace import SpanKind, Status, StatusCode

        for row in rows:
            end_ns = int(row.ts * 1e9)
            start_ns = end_ns - int(row.total_ms * 1e6)
            span = self.tracer.start_span(
                span_name(row), kind=SpanKind.SERVER, start_time=start_ns, attributes=span_attributes(row)
            )
            if row.status != "OK":
                span.set_status(Status(StatusCode.ERROR, row.status))
            span.end(end_time=end_ns)

    def shutdown(self) -> None:
        if self.provider is not None:
            self.provider.shutdown()


__all__ = ["Telemetry", "configured", "span_attributes"]
