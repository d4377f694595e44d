"""The routing policy file format, as pydantic models. `policies/default.yaml` documents it in prose.

Every model forbids unknown keys and is strict about types (`"3"` is not a number), so a typo is an
error with a position instead of a silently ignored setting. Checks that need the whole file (threshold
names, unreachable rules, unique rule names) live in `router.policy_validate`.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    field_validator,
    model_validator,
)

from router.types import PRIVACY_CATEGORIES

Action = Literal["local", "cloud", "cloud_redacted", "deny"]
ACTIONS: tuple[str, ...] = ("local", "cloud", "cloud_redacted", "deny")
# What a rule's `fallback` may say: a route, or "refuse" (answer an error when the route fails).
FallbackRoute = Literal["local", "cloud", "cloud_redacted", "refuse"]


def _known_category(value: str) -> str:
    if value not in PRIVACY_CATEGORIES:
        raise ValueError(
            f"unknown privacy category {value!r}; valid categories: {', '.join(PRIVACY_CATEGORIES)}"
        )
    return value


Category = Annotated[str, AfterValidator(_known_category)]


def _number_or_name(v: Any) -> float | str:
    if isinstance(v, bool) or not isinstance(v, int | float | str):
        raise ValueError(f"expected a number or the name of a threshold, got {type(v).__name__} {v!r}")
    return float(v) if isinstance(v, int | float) else v


# A number, or the name of a threshold from a `thresholds:` section.
Value = Annotated[float | str, PlainValidator(_number_or_name)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Range(_Strict):
    """A numeric test: every bound given must hold. Bounds are numbers or threshold names."""

    gte: Value | None = None
    gt: Value | None = None
    lte: Value | None = None
    lt: Value | None = None

    @model_validator(mode="after")
    def _some_bound(self) -> Range:
        if self.gte is None and self.gt is None and self.lte is None and self.lt is None:
            raise ValueError("give at least one bound: gte, gt, lte or lt (e.g. `{gte: 0.7}`)")
        return self

    def bounds(self) -> list[tuple[str, Value]]:
        return [(op, v) for op in ("gte", "gt", "lte", "lt") if (v := getattr(self, op)) is not None]


class FindingsTest(_Strict):
    """Counts the findings whose category is in `categories` (any category when omitted) and whose
    confidence is at least `min_confidence`; holds when that count is within [min_count, max_count]."""

    categories: list[Category] | None = Field(default=None, min_length=1)
    min_confidence: Value = 0.0
    min_count: int = Field(default=1, ge=0)
    max_count: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _count_range(self) -> FindingsTest:
        if self.max_count is not None and self.max_count < self.min_count:
            raise ValueError(
                f"max_count ({self.max_count}) is below min_count ({self.min_count}); "
                "for 'no such findings' write `max_count: 0, min_count: 0`"
            )
        return self


class When(_Strict):
    """Conditions of a rule. All given conditions must hold; an empty `when` matches every request."""

    complexity: Range | None = None
    # The model's expected local success on this prompt (calibrated: see docs/complexity.md); a quality
    # target such as `local_success: {lt: 0.8}` instead of a bare complexity number.
    local_success: Range | None = None
    privacy: Range | None = None
    findings: FindingsTest | None = None
    app: list[str] | None = Field(default=None, min_length=1)
    prompt_tokens: Range | None = None
    local_queue_depth: Range | None = None
    local_queue_full: bool | None = None
    context_overflow: bool | None = None
    cloud_available: bool | None = None
    budget_spent: bool | None = None
    metadata: dict[str, list[str]] | None = Field(default=None, min_length=1)

    @field_validator("app", mode="before")
    @classmethod
    def _one_app(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v

    @field_validator("metadata", mode="before")
    @classmethod
    def _one_value(cls, v: Any) -> Any:
        if isinstance(v, dict):
            return {k: [x] if isinstance(x, str) else x for k, x in v.items()}
        return v

    def given(self) -> dict[str, Any]:
        """The conditions this `when` sets, as plain data (for comparing rules)."""
        return self.model_dump(exclude_none=True)


class Rule(_Strict):
    name: str = Field(min_length=1)
    description: str = ""
    when: When = Field(default_factory=When)
    action: Action
    message: str = ""
    fallback: FallbackRoute | None = None


def _action_shorthand(v: Any) -> Any:
    return {"action": v} if isinstance(v, str) else v


class DefaultAction(_Strict):
    """What happens when no rule matches."""

    action: Action
    message: str = ""

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, v: Any) -> Any:
        return _action_shorthand(v)


class Contingency(_Strict):
    """What to do in a special situation (cloud down, budget spent, local queue full, prompt too long).
    `when` limits it further: when those conditions do not hold, the request stays local."""

    action: Action
    message: str = ""
    when: When = Field(default_factory=When)

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, v: Any) -> Any:
        return _action_shorthand(v)


class AnswerChecks(_Strict):
    """Checks on every local answer before it leaves (router.checks): thresholds and switches."""

    enabled: bool = True
    echo_coverage: float = Field(default=0.8, gt=0, le=1)
    echo_copied: float = Field(default=0.75, gt=0, le=1)
    loop_repeats: int = Field(default=3, ge=2)
    loop_min_tokens: int = Field(default=12, ge=2)
    repeat_copies: int = Field(default=2, ge=1)
    repeat_share: float = Field(default=0.5, gt=0, le=1)
    phrase_share: float | None = Field(default=None, gt=0, le=1)  # repeated_phrases; None: off
    passage_words: int | None = Field(default=24, ge=8)  # repeated_passage; None: off
    restatement: bool = True
    misread: bool = True
    refusal: bool = True
    min_mean_logprob: float | None = Field(default=None, le=0)
    min_token_logprob: float | None = Field(default=None, le=0)
    # The calibrated head's answer stage: reject an answer whose expected local success is below this.
    min_answer_success: float | None = Field(default=None, ge=0, le=1)
    # Streaming: the first tokens are held back and checked before anything is sent, until the answer
    # can no longer be an echo, a refusal or an early loop, or these limits are reached.
    holdback_tokens: int = Field(default=24, ge=0, le=256)
    holdback_ms: float = Field(default=1500.0, ge=0)
    holdback_refusals: bool = True


class Shadow(_Strict):
    """Shadow checks (router.feedback): a share of the local answers to requests that are not private
    is also asked of the cloud, after the caller is answered, and the answers compared; the verdict is
    stored with the decision as a label for `router calibrate --from-log`. Costs cloud tokens (counted in
    the budgets); never for a private request."""

    share: float = Field(default=0.0, ge=0, le=1)
    compare: Literal["contains", "exact"] = "contains"
    max_privacy: float = Field(default=0.2, ge=0, le=1)  # privacy score from which nothing is shadowed
    max_tokens: int = Field(default=256, ge=1, le=4096)
    # Keep the model stage's inputs (hidden state and signals, never text) of local answers to requests
    # that are not private, so Feedback and shadow labels can refit the head: `router calibrate
    # --from-log`. Off by default: a hidden state is derived from the prompt.
    keep_features: bool = False


class LimitsModel(_Strict):
    requests_per_day: int | None = Field(default=None, ge=0)
    tokens_per_day: int | None = Field(default=None, ge=0)
    cost_per_day: float | None = Field(default=None, ge=0)


class Budgets(_Strict):
    global_: LimitsModel | None = Field(default=None, alias="global")
    per_app: LimitsModel | None = None


class PrivacySection(_Strict):
    """Terms and regular expressions the privacy scorer reports as category `custom`, and where a person's
    name counts: only in a personal context (the default), or anywhere a full name appears."""

    terms: list[str] = Field(default_factory=list)
    patterns: dict[str, str] = Field(default_factory=dict)
    names: Literal["personal_context", "anywhere"] = "personal_context"

    @field_validator("terms")
    @classmethod
    def _check_terms(cls, v: list[str]) -> list[str]:
        if any(not t.strip() for t in v):
            raise ValueError("terms must not be empty strings")
        return v

    @field_validator("patterns")
    @classmethod
    def _check_patterns(cls, v: dict[str, str]) -> dict[str, str]:
        for label, pattern in v.items():
            try:
                compiled = re.compile(pattern)
            except re.error as e:
                raise ValueError(f"pattern {label!r} is not a valid regular expression: {e}") from None
            if compiled.match(""):
                raise ValueError(f"pattern {label!r} matches the empty string; make it match something")
        return v


class PriceModel(_Strict):
    input_per_mtok: float = Field(ge=0)
    output_per_mtok: float = Field(ge=0)


ThresholdName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]


class AppSection(_Strict):
    """Settings for one app id. Everything not set here is inherited from the top level; the app's own
    `rules` are tried before the global ones (unless `inherit_rules: false`)."""

    description: str = ""
    thresholds: dict[ThresholdName, float] = Field(default_factory=dict)
    rules: list[Rule] = Field(default_factory=list)
    inherit_rules: bool = True
    default: DefaultAction | None = None
    on_cloud_unavailable: Contingency | None = None
    on_budget_exhausted: Contingency | None = None
    on_local_overload: Contingency | None = None
    on_context_overflow: Contingency | None = None
    on_local_answer_rejected: Contingency | None = None
    budget: LimitsModel | None = None


CONTINGENCIES: tuple[str, ...] = (
    "on_cloud_unavailable",
    "on_budget_exhausted",
    "on_local_overload",
    "on_context_overflow",
    "on_local_answer_rejected",
)


class PolicyFile(_Strict):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, populate_by_name=True)

    format: Literal[1] = 1
    description: str = ""
    thresholds: dict[ThresholdName, float] = Field(default_factory=dict)
    prices: dict[str, PriceModel] = Field(default_factory=dict)
    default_price: PriceModel | None = None
    budgets: Budgets = Field(default_factory=Budgets)
    default: DefaultAction = Field(default_factory=lambda: DefaultAction(action="local"))
    on_cloud_unavailable: Contingency = Field(default_factory=lambda: Contingency(action="local"))
    on_budget_exhausted: Contingency = Field(default_factory=lambda: Contingency(action="local"))
    on_local_overload: Contingency = Field(default_factory=lambda: Contingency(action="local"))
    on_context_overflow: Contingency = Field(default_factory=lambda: Contingency(action="local"))
    # A local answer that fails a check: escalate as far as the rules allow a hard request to go.
    on_local_answer_rejected: Contingency = Field(default_factory=lambda: Contingency(action="cloud"))
    answer_checks: AnswerChecks = Field(default_factory=AnswerChecks)
    shadow: Shadow = Field(default_factory=Shadow)
    privacy: PrivacySection = Field(default_factory=PrivacySection)
    rules: list[Rule] = Field(default_factory=list)
    apps: dict[str, AppSection] = Field(default_factory=dict)
