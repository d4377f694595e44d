"""Cloud budgets: requests, tokens and estimated cost per UTC day, globally and per app.

The limits and per-model prices come from the routing policy; the counters live here, in memory, and
survive policy reloads (`PolicyStore` hands the same `Budget` to each new policy, which only swaps the
limits). Counters reset when the UTC day changes; the clock is injectable so tests can roll the day over.
At start-up the daemon rebuilds today's counters from the decision log (`restore`), so a restart or a
crash loop does not hand out the day's budget again.

A budget is *spent* when any of its limits is reached: `requests_per_day` requests, `tokens_per_day`
tokens (prompt + completion, including the prompt about to be sent when the caller passes
`pending_tokens`), or `cost_per_day` in the policy's currency. A missing limit means "no limit".

Costs are estimates: tokens times the model's price per million tokens, by the one price rule of
`router.prices` (a model without a price uses the policy's `default_price`, or else the highest price the
policy lists), the same rule the daemon's metrics and `router decisions stats` use.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from router.prices import Price as Price  # re-exported: budgets' prices are policy prices
from router.prices import PriceTable

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class Limits:
    """Daily limits of one budget; None means unlimited."""

    requests_per_day: int | None = None
    tokens_per_day: int | None = None
    cost_per_day: float | None = None

    @property
    def unlimited(self) -> bool:
        return self.requests_per_day is None and self.tokens_per_day is None and self.cost_per_day is None


@dataclass(frozen=True, slots=True)
class BudgetLimits:
    """Everything the policy says about budgets: the global limits, the limits every app gets unless its
    own section sets some, per-app limits, and the prices used to estimate cost."""

    global_limits: Limits = field(default_factory=Limits)
    per_app_default: Limits = field(default_factory=Limits)
    per_app: Mapping[str, Limits] = field(default_factory=dict)
    prices: Mapping[str, Price] = field(default_factory=dict)
    default_price: Price | None = None

    def for_app(self, app_id: str) -> Limits:
        return self.per_app.get(app_id, self.per_app_default)

    @property
    def price_table(self) -> PriceTable:
        """The prices, read through the one price rule (router.prices)."""
        return PriceTable(self.prices, self.default_price)


@dataclass(frozen=True, slots=True)
class Usage:
    """What one budget has used today."""

    requests: int = 0
    tokens: int = 0
    cost: float = 0.0


@dataclass(frozen=True, slots=True)
class BudgetState:
    """The answer to "may this app still use the cloud today?". `reason` says which limit is reached."""

    spent: bool
    reason: str
    global_usage: Usage
    app_usage: Usage
    day: str


def _check(scope: str, usage: Usage, limits: Limits, pending_tokens: int) -> str:
    if limits.requests_per_day is not None and usage.requests >= limits.requests_per_day:
        return f"{scope} budget spent: {usage.requests} of {limits.requests_per_day} requests today"
    tokens_limit = limits.tokens_per_day
    if tokens_limit is not None and (
        usage.tokens >= tokens_limit or usage.tokens + pending_tokens > tokens_limit
    ):
        if usage.tokens < tokens_limit:
            return (
                f"{scope} budget spent: {usage.tokens} tokens used + {pending_tokens} for this prompt "
                f"> {limits.tokens_per_day} tokens per day"
            )
        return f"{scope} budget spent: {usage.tokens} of {limits.tokens_per_day} tokens today"
    if limits.cost_per_day is not None and usage.cost >= limits.cost_per_day:
        return f"{scope} budget spent: estimated cost {usage.cost:.4f} of {limits.cost_per_day:g} today"
    return ""


class Budget:
    """Thread-safe daily counters. `record()` after each cloud answer; `state()` before routing."""

    def __init__(self, limits: BudgetLimits | None = None, *, clock: Clock = time.time) -> None:
        self._limits = limits if limits is not None else BudgetLimits()
        self._clock = clock
        self._lock = threading.Lock()
        self._day = self._today()
        self._global = Usage()
        self._apps: dict[str, Usage] = {}

    @property
    def limits(self) -> BudgetLimits:
        return self._limits

    def configure(self, limits: BudgetLimits) -> None:
        """Swap the limits and prices (on a policy reload); today's counters are kept."""
        with self._lock:
            self._limits = limits

    @property
    def prices(self) -> PriceTable:
        """Today's prices (the policy's), read through the one price rule (router.prices)."""
        return self._limits.price_table

    def estimated_cost(self, model: str, tokens_in: int, tokens_out: int) -> float:
        return self._limits.price_table.cost(model, tokens_in, tokens_out)

    def record(self, app_id: str, model: str, tokens_in: int, tokens_out: int) -> None:
        """Count one cloud request of `app_id` to `model` and its tokens."""
        tokens_in, tokens_out = max(0, tokens_in), max(0, tokens_out)
        with self._lock:
            self._roll()
            cost = self._limits.price_table.cost(model, tokens_in, tokens_out)
            tokens = tokens_in + tokens_out
            g = self._global
            self._global = Usage(g.requests + 1, g.tokens + tokens, g.cost + cost)
            a = self._apps.get(app_id, Usage())
            self._apps[app_id] = Usage(a.requests + 1, a.tokens + tokens, a.cost + cost)

    def day_start(self) -> float:
        """Unix time of the start of the current UTC day (by this budget's clock)."""
        now = datetime.fromtimestamp(self._clock(), tz=UTC)
        return now.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()

    def restore(self, spent: Iterable[tuple[float, str, str, int, int]]) -> int:
        """Count again what was spent earlier today: `(ts, app_id, model, tokens_in, tokens_out)` per
        answered cloud request (the decision log's rows). Entries from other days are skipped; returns
        how many were counted."""
        start = self.day_start()
        end = start + 86_400
        n = 0
        for ts, app_id, model, tokens_in, tokens_out in spent:
            if start <= ts < end:
                self.record(app_id, model, tokens_in, tokens_out)
                n += 1
        return n

    def state(self, app_id: str, pending_tokens: int = 0) -> BudgetState:
        """Whether the global budget or `app_id`'s budget is spent (counting `pending_tokens` more)."""
        with self._lock:
            self._roll()
            g = self._global
            a = self._apps.get(app_id, Usage())
            limits = self._limits
            day = self._day
        reason = _check("global", g, limits.global_limits, pending_tokens) or _check(
            f"app '{app_id}'", a, limits.for_app(app_id), pending_tokens
        )
        return BudgetState(spent=bool(reason), reason=reason, global_usage=g, app_usage=a, day=day)

    def usage(self, app_id: str | None = None) -> Usage:
        """Today's usage of one app, or the global usage when `app_id` is None."""
        with self._lock:
            self._roll()
            return self._global if app_id is None else self._apps.get(app_id, Usage())

    def _today(self) -> str:
        return datetime.fromtimestamp(self._clock(), tz=UTC).strftime("%Y-%m-%d")

    def _roll(self) -> None:
        day = self._today()
        if day != self._day:
            self._day = day
            self._global = Usage()
            self._apps = {}
