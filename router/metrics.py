"""Live metrics: Prometheus text exposition on an opt-in address, and the numbers behind GetStats.

Every `Metrics` owns its own `CollectorRegistry`: nothing is registered globally, so two daemons (or two
tests) in one process never share counters, and importing this module does nothing (prometheus_client
is imported when a `Metrics` is built, since importing it creates its global registry).

Exposed series (all prefixed `router_`):

    requests_total{route,app,rule,status}      counter   one per answered/refused request
    fallbacks_total{decided_route,route}       counter   the decided route failed, another answered
    answers_rejected_total{check,route}        counter   a local answer failed a check; route: where it went
    stage_duration_seconds{stage,route}        histogram queue, scoring, generation, cloud, total
    queue_depth                                gauge     requests waiting for the local model
    tokens_total{direction,route}              counter   direction: in (prompt) | out (completion)
    cloud_circuit_state{state}                 gauge     1 for the current state, 0 for the others
    cloud_cost_estimated_total                 counter   estimated cloud spend, in the prices' currency
    info{model,policy_version}                 gauge     always 1
plus the standard `process_*` series (memory, CPU, open fds, start time) of this process.

Labels are bounded: routes and circuit states are fixed sets, rules come from the policy, statuses from
the error tree, and apps are the first `max_apps` (100) app ids seen since start-up: requests of any
other app are counted under the app label `_other` (no app id can start with "_"), so a client that
invents app ids cannot grow /metrics or GetStats without bound. No prompt-derived value is a label.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

    from router.decisions import DecisionRow
    from router.prices import PriceTable

STAGES = ("queue", "scoring", "generation", "cloud", "total")
CIRCUIT_STATES = ("closed", "open", "half_open", "disabled")
# Seconds, from a cache-hot classification (~1 ms) to a long cloud generation (minutes).
# Requests of apps beyond the first `max_apps` are counted under this app label.
OTHER_APP = "_other"
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0,
                   60.0, 120.0, 300.0)  # fmt: skip


class Metrics:
    def __init__(
        self,
        *,
        model: str = "",
        policy_version: str = "",
        clock: Callable[[], float] = time.monotonic,
        max_apps: int = 100,
    ) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, ProcessCollector

        self._clock = clock
        self._started = clock()
        self._lock = threading.Lock()
        self._model = model
        self._policy_version = policy_version
        self._circuit_state = "disabled"
        self._queue_depth = 0
        self._http: tuple[WSGIServer, threading.Thread] | None = None
        # Labelled children by label values: prometheus_client's `labels()` validates and locks on every
        # call, and a request observes up to eight series. Bounded like the labels themselves.
        self._children: dict[tuple[str, ...], Any] = {}
        self.max_apps = max_apps
        self._apps: set[str] = set()

        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self._requests = Counter(
            "router_requests", "Requests by final route, app, policy rule and status.",
            ["route", "app", "rule", "status"], registry=r,
        )  # fmt: skip
        self._fallbacks = Counter(
            "router_fallbacks", "Requests answered by another route than the one decided.",
            ["decided_route", "route"], registry=r,
        )  # fmt: skip
        self._answers_rejected = Counter(
            "router_answers_rejected", "Local answers that failed an answer check, by check and final route.",
            ["check", "route"], registry=r,
        )  # fmt: skip
        self._stages = Histogram(
            "router_stage_duration_seconds", "Time spent per stage (total: the whole request).",
            ["stage", "route"], buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self._queue = Gauge("router_queue_depth", "Requests waiting for the local model.", registry=r)
        self._tokens = Counter(
            "router_tokens", "Tokens by direction (in: prompt, out: completion) and route.",
            ["direction", "route"], registry=r,
        )  # fmt: skip
        self._circuit = Gauge(
            "router_cloud_circuit_state",
            "Cloud circuit breaker: 1 for the current state.",
            ["state"],
            registry=r,
        )
        self._cost = Counter(
            "router_cloud_cost_estimated", "Estimated cloud spend, in the currency of the configured prices.",
            registry=r,
        )  # fmt: skip
        self._info = Info("router", "The loaded model and policy.", registry=r)
        ProcessCollector(registry=r)
        self._set_circuit_gauge("disabled")
        self._info.info({"model": model, "policy_version": policy_version})

    # --- recording -------------------------------------------------------------------------------------

    def observe_rows(self, rows: Sequence[DecisionRow], prices: PriceTable) -> None:
        """Count a batch of finished requests, each cloud row's cost estimated with `prices` (the
        budget's, by the one price rule of router.prices)."""
        for row in rows:
            self.observe(row, cost=prices.row_cost(row.route, row.model, row.tokens_in, row.tokens_out))

    def observe(self, row: DecisionRow, cost: float = 0.0) -> None:
        """Count one finished request (the same row the decision log gets). `cost`: its estimated cloud
        cost, `PriceTable.row_cost(...)` of the budget's prices (router.prices)."""
        route = row.route
        child = self._child
        child("requests", route, self._app_label(row.app), row.rule, row.status).inc()
        if row.fallback:
            child("fallbacks", row.decided_route, route).inc()
        if row.answer_check:
            child("answers_rejected", row.answer_check, route).inc()
        for stage, ms in (
            ("queue", row.queue_ms),
            ("scoring", row.scoring_ms),
            ("generation", row.generation_ms),
            ("cloud", row.cloud_ms),
        ):
            if ms > 0:  # a stage that did not run is not a 0 ms sample
                child("stages", stage, route).observe(ms / 1000)
        child("stages", "total", route).observe(max(row.total_ms, 0.0) / 1000)
        if row.tokens_in:
            child("tokens", "in", route).inc(row.tokens_in)
        if row.tokens_out:
            child("tokens", "out", route).inc(row.tokens_out)
        if cost > 0:
            self._cost.inc(cost)

    def _app_label(self, app: str) -> str:
        """`app`, or OTHER_APP once `max_apps` distinct apps have been seen."""
        if app in self._apps:
            return app
        if len(self._apps) < self.max_apps:
            self._apps.add(app)
            return app
        return OTHER_APP

    def _child(self, metric: str, *values: str) -> Any:
        """`self._<metric>.labels(*values)`, looked up once per label set."""
        key = (metric, *values)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = getattr(self, "_" + metric).labels(*values)
        return found

    def set_queue_depth(self, n: int) -> None:
        if n == self._queue_depth:  # called after every request: skip the gauge's lock when unchanged
            return
        with self._lock:
            self._queue_depth = n
        self._queue.set(n)

    def set_circuit(self, state: str) -> None:
        """`state`: "closed", "open", "half_open" (CircuitBreaker.state) or "disabled" (no cloud)."""
        if state == self._circuit_state:
            return
        if state not in CIRCUIT_STATES:
            raise ValueError(f"unknown circuit state {state!r}; expected one of {', '.join(CIRCUIT_STATES)}")
        with self._lock:
            self._circuit_state = state
        self._set_circuit_gauge(state)

    def _set_circuit_gauge(self, state: str) -> None:
        for s in CIRCUIT_STATES:
            self._circuit.labels(state=s).set(1 if s == state else 0)

    def set_info(self, *, model: str | None = None, policy_version: str | None = None) -> None:
        """Update the model or policy version (after a policy hot reload)."""
        if model in (None, self._model) and policy_version in (None, self._policy_version):
            return  # unchanged (the daemon calls this after every request)
        with self._lock:
            if model is not None:
                self._model = model
            if policy_version is not None:
                self._policy_version = policy_version
            self._info.info({"model": self._model, "policy_version": self._policy_version})

    # --- reading ---------------------------------------------------------------------------------------

    def snapshot(self, app: str | None = None) -> dict[str, Any]:
        """The GetStats reply as a dict with the field names of `router.v1.Stats`:
        `json_format.ParseDict(metrics.snapshot(), router_pb2.Stats())`. With `app`, only that app's
        request counts, and no daemon-wide token or cost totals (they are left 0)."""
        requests = [
            {
                "route": s.labels["route"],
                "app_id": s.labels["app"],
                "rule": s.labels["rule"],
                "status": s.labels["status"],
                "count": int(s.value),
            }
            for s in _samples(self._requests, "router_requests_total")
            if app is None or s.labels["app"] == app
        ]
        tokens = {"in": 0, "out": 0}
        cost = 0.0
        if app is None:  # daemon-wide totals: not for a single app's token
            for s in _samples(self._tokens, "router_tokens_total"):
                tokens[s.labels["direction"]] += int(s.value)
            cost = sum(s.value for s in _samples(self._cost, "router_cloud_cost_estimated_total"))
        with self._lock:
            return {
                "uptime_s": self._clock() - self._started,
                "requests": sorted(requests, key=lambda d: (-d["count"], d["route"], d["app_id"], d["rule"])),
                "queue_depth": self._queue_depth,
                "cloud_circuit": self._circuit_state,
                "tokens_in": tokens["in"],
                "tokens_out": tokens["out"],
                "estimated_cloud_cost": cost,
                "model": self._model,
                "policy_version": self._policy_version,
            }

    def render(self) -> bytes:
        """The Prometheus text exposition of this registry."""
        from prometheus_client import generate_latest

        return generate_latest(self.registry)

    # --- HTTP ------------------------------------------------------------------------------------------

    def start_http(self, host: str, port: int) -> int:
        """Serve the exposition on http://host:port/metrics in a daemon thread; returns the bound port
        (useful with port 0). `host` may be an IPv6 literal with or without brackets."""
        from prometheus_client import start_http_server

        if self._http is not None:
            raise RuntimeError("the metrics HTTP server is already running")
        server, thread = start_http_server(port, addr=host.strip("[]"), registry=self.registry)
        self._http = (server, thread)
        return int(server.server_port)

    def stop(self) -> None:
        """Stop the HTTP server (if started). Safe to call twice."""
        if self._http is None:
            return
        server, thread = self._http
        self._http = None
        server.shutdown()
        server.server_close()
        thread.join(5)


def _samples(metric: Any, name: str) -> list[Any]:
    return [s for family in metric.collect() for s in family.samples if s.name == name]
