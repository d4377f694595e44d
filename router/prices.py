"""The one price model: what a cloud call is estimated to cost, for budgets, metrics and `decisions stats`.

Prices are per million prompt (`input_per_mtok`) and completion (`output_per_mtok`) tokens, as a policy
file writes them (`prices:` and `default_price:`), in whatever currency they were written in.

The rule for a model, everywhere (`PriceTable.price_for`):
1. its own price, when the table lists it;
2. else the table's default price (`default_price:`, or `--price-in/--price-out` for `decisions stats`);
3. else the highest price the table lists: a model nobody priced never makes a budget look cheaper than
   a model somebody did (the same estimate counts against `cost_per_day`);
4. a table with no prices at all prices nothing: the cost is 0 and `decisions stats` lists the model
   as unpriced.

The budget (router.budget), the daemon's metrics (the cost counter of each cloud row, `row_cost`) and
`router decisions stats` (router.analytics) all read a `PriceTable` through this rule, so the three
estimate the same cost for the same calls.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

# Routes whose tokens were sent to the cloud (and may cost money).
CLOUD_ROUTES = ("cloud", "cloud_redacted")


@dataclass(frozen=True, slots=True)
class Price:
    """Price of one model per million tokens."""

    input_per_mtok: float
    output_per_mtok: float

    def cost(self, tokens_in: int, tokens_out: int) -> float:
        return (tokens_in * self.input_per_mtok + tokens_out * self.output_per_mtok) / 1_000_000


@dataclass(frozen=True, slots=True)
class PriceTable:
    """Per-model prices and an optional default, read through the rule in the module docstring."""

    models: Mapping[str, Price] = field(default_factory=dict)
    default: Price | None = None

    @classmethod
    def single(cls, input_per_mtok: float, output_per_mtok: float) -> PriceTable:
        """One price for every cloud model."""
        return cls(default=Price(input_per_mtok, output_per_mtok))

    @classmethod
    def from_policy(cls, path: Path) -> PriceTable:
        """The prices of a policy file (`prices:` and `default_price:`), validated by the loader the
        daemon uses; ValueError says what is wrong with the file."""
        from router.errors import ConfigError
        from router.policy import load_policy

        try:
            return load_policy(path).limits.price_table
        except ConfigError as e:
            raise ValueError(e.message) from None

    @property
    def empty(self) -> bool:
        return not self.models and self.default is None

    def price_for(self, model: str) -> Price | None:
        """The price `model` is estimated at (the module's rule), or None when the table is empty."""
        price = self.models.get(model)
        if price is not None:
            return price
        if self.default is not None:
            return self.default
        if self.models:
            return max(self.models.values(), key=lambda p: p.input_per_mtok + p.output_per_mtok)
        return None

    def assumed(self, model: str) -> bool:
        """Whether `model` is priced by rule 2 or 3 (not listed itself) rather than by its own price."""
        return model not in self.models and not self.empty

    def cost(self, model: str, tokens_in: int, tokens_out: int) -> float:
        """Estimated cost of one call to `model`; 0.0 when the table prices nothing."""
        price = self.price_for(model)
        return price.cost(tokens_in, tokens_out) if price is not None else 0.0

    def row_cost(self, route: str, model: str, tokens_in: int, tokens_out: int) -> float:
        """Estimated cloud cost of one decision-log row: its tokens at its model's price when it went to
        the cloud, else 0."""
        if route not in CLOUD_ROUTES:
            return 0.0
        return self.cost(model, tokens_in, tokens_out)

    def reference(
        self, preferred: str | None = None, used: list[str] | None = None
    ) -> tuple[str, Price] | None:
        """The price the local route's tokens are valued at by `decisions stats` (the saving against
        sending everything to the cloud): `preferred`'s, else the default, else the only model listed,
        else the listed model used most (`used`, most used first)."""
        if preferred is not None:
            price = self.price_for(preferred)
            return (preferred, price) if price else None
        if self.default is not None:
            return ("default", self.default)
        if len(self.models) == 1:
            return next(iter(self.models.items()))
        for model in used or []:
            if model in self.models:
                return (model, self.models[model])
        return None


__all__ = ["CLOUD_ROUTES", "Price", "PriceTable"]
