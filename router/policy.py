"""The routing policy: load and validate a YAML file, then `decide()` where each request goes.

    load_policy(path) -> Policy          raises ConfigError listing every problem as file:line:col
    check_policy(path) -> [problem, ...] the same problems, for `router policy check`
    Policy.decide(ctx) -> Decision       pure function of the context and today's budget; fail-closed
    Policy.explain(ctx) -> [RuleTrace]   every rule tried, each condition with its values
    render_explanation(ctx, decision, traces) -> str

The active policy with hot reload on SIGHUP / file change is `router.policy_store.PolicyStore`, which
imports this module; this module never imports it back.

How a decision is made (the file format is documented in policies/default.yaml):
1. The request's app section (or the top level) gives the rules: the app's own rules first, then the
   global ones (unless `inherit_rules: false`), and thresholds merged over the global ones.
2. The first rule whose conditions all hold gives the action; no match gives `default`.
3. A cloud action meets the live state: cloud not configured or unhealthy -> `on_cloud_unavailable`;
   budget spent -> `on_budget_exhausted` (both local or deny).
4. A local action meets the local limits: prompt longer than the local context -> `on_context_overflow`,
   local queue full -> `on_local_overload`; a cloud action there needs its `when` to hold, the cloud to
   be up and the budget to be left, else the request stays local (the daemon then answers
   INVALID_ARGUMENT / RESOURCE_EXHAUSTED).
5. Anything raised on the way gives a LOCAL decision with rule "fail-closed": never the cloud.
"""

from __future__ import annotations

import hashlib
import math
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import structlog

from router.budget import Budget, BudgetLimits, BudgetState, Limits
from router.checks import CheckSettings
from router.errors import ConfigError
from router.policy_schema import (
    CONTINGENCIES,
    Contingency,
    DefaultAction,
    FindingsTest,
    LimitsModel,
    PolicyFile,
    Range,
    Rule,
    When,
)
from router.policy_validate import validate_text
from router.prices import Price
from router.types import ComplexityReport, Decision, DecisionContext, Route

log = structlog.get_logger("router.policy")

FAIL_CLOSED_RULE = "fail-closed"
DEFAULT_RULE = "default"
CLOUD_ROUTES = (Route.CLOUD, Route.CLOUD_REDACTED)


# --- traces ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConditionTrace:
    """One condition of one rule: did it hold, and the values it compared."""

    name: str
    ok: bool
    detail: str


@dataclass(frozen=True, slots=True)
class RuleTrace:
    """One rule as `explain()` saw it. `reached` is False for rules after the one that fired."""

    rule: str
    matched: bool
    conditions: tuple[ConditionTrace, ...]
    action: str
    reached: bool = True
    origin: str = "global"  # "global" or "app <id>"


# --- evaluation facts --------------------------------------------------------------------------------


class Facts:
    """What conditions look at for one request: the context, thresholds in force, the budget (read
    lazily, once)."""

    def __init__(self, ctx: DecisionContext, thresholds: Mapping[str, float], budget: Budget) -> None:
        self.ctx = ctx
        self.thresholds = thresholds
        self.budget = budget
        self._budget_state: BudgetState | None = None
        # Set when a condition on the complexity score (or the local success read from it) is tested:
        # a decision reached without one stands whatever the score.
        self.complexity_read = False
        for name, value in (("complexity", ctx.complexity.score), ("privacy", ctx.privacy.score)):
            if not (math.isfinite(value) and 0.0 <= value <= 1.0):
                raise ValueError(f"{name} score {value!r} is not a number in [0, 1]")

    @property
    def app(self) -> str:
        return self.ctx.request.app_id

    @property
    def budget_state(self) -> BudgetState:
        if self._budget_state is None:
            self._budget_state = self.budget.state(self.app, pending_tokens=self.ctx.prompt_tokens)
        return self._budget_state

    @property
    def cloud_available(self) -> bool:
        return self.ctx.cloud_configured and self.ctx.cloud_healthy

    @property
    def cloud_down_reason(self) -> str:
        return "the cloud is not configured" if not self.ctx.cloud_configured else "the cloud is unhealthy"

    @property
    def context_overflow(self) -> bool:
        limit = self.ctx.local_context_limit
        return limit > 0 and self.ctx.tokens.more_than(limit)

    @property
    def queue_full(self) -> bool:
        return self.ctx.local_queue_depth >= self.ctx.local_queue_size

    def resolve(self, value: float | str) -> float:
        return value if isinstance(value, float) else self.thresholds[value]

    def show(self, value: float | str) -> str:
        return f"{value:g}" if isinstance(value, float) else f"{value} ({self.thresholds[value]:g})"


# --- conditions ----------------------------------------------------------------------------------------


class Condition:
    name: str = ""

    def check(self, facts: Facts) -> bool:
        raise NotImplementedError

    def describe(self, facts: Facts) -> str:
        raise NotImplementedError


_OPS: dict[str, tuple[str, Callable[[float, float], bool]]] = {
    "gte": (">=", operator.ge),
    "gt": (">", operator.gt),
    "lte": ("<=", operator.le),
    "lt": ("<", operator.lt),
}


class RangeCondition(Condition):
    def __init__(
        self,
        name: str,
        getter: Callable[[DecisionContext], float],
        rng: Range,
        *,
        of_complexity: bool = False,
    ) -> None:
        self.name = name
        self.getter = getter
        self.bounds = rng.bounds()
        self._tests = tuple((_OPS[op][1], bound) for op, bound in self.bounds)
        self.of_complexity = of_complexity

    def check(self, facts: Facts) -> bool:
        if self.of_complexity:
            facts.complexity_read = True
        value = self.getter(facts.ctx)
        # A plain loop, not all(<generator>): run for every rule of every request, it is a third faster.
        for test, bound in self._tests:  # noqa: SIM110
            if not test(value, facts.resolve(bound)):
                return False
        return True

    def describe(self, facts: Facts) -> str:
        value = self.getter(facts.ctx)
        shown = f"{value:.3g}" if isinstance(value, float) else str(value)
        return f"{self.name} {shown} " + " and ".join(
            f"{_OPS[op][0]} {facts.show(bound)}" for op, bound in self.bounds
        )


class FindingsCondition(Condition):
    name = "findings"

    def __init__(self, test: FindingsTest) -> None:
        self.categories = frozenset(test.categories) if test.categories is not None else None
        self.min_confidence = test.min_confidence
        self.min_count = test.min_count
        self.max_count = test.max_count

    def count(self, facts: Facts) -> int:
        floor = facts.resolve(self.min_confidence)
        return sum(
            1
            for f in facts.ctx.privacy.findings
            if f.confidence >= floor and (self.categories is None or f.category in self.categories)
        )

    def check(self, facts: Facts) -> bool:
        n = self.count(facts)
        return n >= self.min_count and (self.max_count is None or n <= self.max_count)

    def describe(self, facts: Facts) -> str:
        what = ", ".join(sorted(self.categories)) if self.categories is not None else "any category"
        conf = f" with confidence >= {facts.show(self.min_confidence)}" if self.min_confidence != 0.0 else ""
        need = f">= {self.min_count}"
        if self.max_count is not None:
            need = f"<= {self.max_count}" if self.min_count == 0 else f"{self.min_count}..{self.max_count}"
        return f"{self.count(facts)} findings of {what}{conf} (need {need})"


class AppCondition(Condition):
    name = "app"

    def __init__(self, apps: Sequence[str]) -> None:
        self.apps = tuple(apps)

    def check(self, facts: Facts) -> bool:
        return facts.app in self.apps

    def describe(self, facts: Facts) -> str:
        return f"app {facts.app!r} in {list(self.apps)}"


class FlagCondition(Condition):
    def __init__(
        self, name: str, getter: Callable[[Facts], bool], expected: bool, detail: Callable[[Facts], str]
    ):
        self.name = name
        self.getter = getter
        self.expected = expected
        self.detail = detail

    def check(self, facts: Facts) -> bool:
        return self.getter(facts) == self.expected

    def describe(self, facts: Facts) -> str:
        actual, expected = str(self.getter(facts)).lower(), str(self.expected).lower()
        return f"{self.name} is {actual} (need {expected}; {self.detail(facts)})"


class MetadataCondition(Condition):
    name = "metadata"

    def __init__(self, wanted: Mapping[str, Sequence[str]]) -> None:
        self.wanted = {k: tuple(v) for k, v in wanted.items()}

    def check(self, facts: Facts) -> bool:
        meta = facts.ctx.request.metadata
        return all(meta.get(k) in allowed for k, allowed in self.wanted.items())

    def describe(self, facts: Facts) -> str:
        meta = facts.ctx.request.metadata
        return ", ".join(f"metadata {k}={meta.get(k)!r} in {list(v)}" for k, v in self.wanted.items())


def _queue_detail(f: Facts) -> str:
    return f"queue {f.ctx.local_queue_depth}/{f.ctx.local_queue_size}"


def _context_detail(f: Facts) -> str:
    return f"{f.ctx.prompt_tokens} prompt tokens, local context {f.ctx.local_context_limit or 'unknown'}"


def _cloud_detail(f: Facts) -> str:
    return f"configured {str(f.ctx.cloud_configured).lower()}, healthy {str(f.ctx.cloud_healthy).lower()}"


def _budget_detail(f: Facts) -> str:
    return f.budget_state.reason or "budget left"


def expected_local_success(ctx: DecisionContext) -> float:
    """The calibrated P(local answer good enough) of the model stage; without one (stage 1 settled the
    prompt, or the model has no calibrated head), 1 - complexity."""
    report = ctx.complexity
    return report.expected_success if report.expected_success is not None else 1.0 - report.score


def compile_when(when: When) -> tuple[Condition, ...]:
    conds: list[Condition] = []
    if when.complexity is not None:
        conds.append(
            RangeCondition("complexity", lambda c: c.complexity.score, when.complexity, of_complexity=True)
        )
    if when.local_success is not None:
        conds.append(
            RangeCondition("local_success", expected_local_success, when.local_success, of_complexity=True)
        )
    if when.privacy is not None:
        conds.append(RangeCondition("privacy", lambda c: c.privacy.score, when.privacy))
    if when.findings is not None:
        conds.append(FindingsCondition(when.findings))
    if when.app is not None:
        conds.append(AppCondition(when.app))
    if when.prompt_tokens is not None:
        conds.append(RangeCondition("prompt_tokens", lambda c: float(c.prompt_tokens), when.prompt_tokens))
    if when.local_queue_depth is not None:
        conds.append(
            RangeCondition("local_queue_depth", lambda c: float(c.local_queue_depth), when.local_queue_depth)
        )
    if when.local_queue_full is not None:
        conds.append(
            FlagCondition("local_queue_full", lambda f: f.queue_full, when.local_queue_full, _queue_detail)
        )
    if when.context_overflow is not None:
        conds.append(
            FlagCondition(
                "context_overflow", lambda f: f.context_overflow, when.context_overflow, _context_detail
            )
        )
    if when.cloud_available is not None:
        conds.append(
            FlagCondition("cloud_available", lambda f: f.cloud_available, when.cloud_available, _cloud_detail)
        )
    if when.budget_spent is not None:
        conds.append(
            FlagCondition("budget_spent", lambda f: f.budget_state.spent, when.budget_spent, _budget_detail)
        )
    if when.metadata is not None:
        conds.append(MetadataCondition(when.metadata))
    return tuple(conds)


# --- compiled policy --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CompiledRule:
    name: str
    conditions: tuple[Condition, ...]
    action: Route
    message: str
    fallback: Route | None
    has_fallback: bool
    origin: str

    def matches(self, facts: Facts) -> bool:
        for c in self.conditions:  # noqa: SIM110 (a loop, as in RangeCondition.check)
            if not c.check(facts):
                return False
        return True

    def trace(self, facts: Facts) -> RuleTrace:
        conds = tuple(ConditionTrace(c.name, c.check(facts), c.describe(facts)) for c in self.conditions)
        return RuleTrace(self.name, all(c.ok for c in conds), conds, self.action.value, True, self.origin)


@dataclass(frozen=True, slots=True)
class CompiledContingency:
    name: str
    action: Route
    message: str
    conditions: tuple[Condition, ...]


@dataclass(frozen=True, slots=True)
class View:
    """The effective policy for one app (or for every app without a section)."""

    rules: tuple[CompiledRule, ...]
    thresholds: Mapping[str, float]
    default: DefaultAction
    on_cloud_unavailable: CompiledContingency
    on_budget_exhausted: CompiledContingency
    on_local_overload: CompiledContingency
    on_context_overflow: CompiledContingency
    on_local_answer_rejected: CompiledContingency


def _compile_rule(rule: Rule, origin: str) -> CompiledRule:
    fallback = None if rule.fallback in (None, "refuse") else Route(rule.fallback)
    return CompiledRule(
        name=rule.name,
        conditions=compile_when(rule.when),
        action=Route(rule.action),
        message=rule.message,
        fallback=fallback,
        has_fallback=rule.fallback is not None,
        origin=origin,
    )


def _compile_contingency(name: str, c: Contingency) -> CompiledContingency:
    return CompiledContingency(name, Route(c.action), c.message, compile_when(c.when))


def _limits(model: LimitsModel | None) -> Limits:
    if model is None:
        return Limits()
    return Limits(model.requests_per_day, model.tokens_per_day, model.cost_per_day)


def budget_limits(model: PolicyFile) -> BudgetLimits:
    return BudgetLimits(
        global_limits=_limits(model.budgets.global_),
        per_app_default=_limits(model.budgets.per_app),
        per_app={app: _limits(s.budget) for app, s in model.apps.items() if s.budget is not None},
        prices={name: Price(p.input_per_mtok, p.output_per_mtok) for name, p in model.prices.items()},
        default_price=(
            Price(model.default_price.input_per_mtok, model.default_price.output_per_mtok)
            if model.default_price is not None
            else None
        ),
    )


def content_version(content: bytes) -> str:
    """The policy version recorded with each decision: a short hash of the file content."""
    return hashlib.sha256(content).hexdigest()[:12]


@dataclass
class _Outcome:
    route: Route
    rule: str
    reasons: list[str] = field(default_factory=list)
    deny_message: str = ""
    note: str = ""  # why the route is not the rule's own action, in words


class Policy:
    """A validated policy. `decide()` never raises and never chooses the cloud on an error."""

    def __init__(
        self, model: PolicyFile, *, version: str, source: str = "<policy>", budget: Budget | None = None
    ):
        self.model = model
        self.version = version
        self.source = source
        self.limits = budget_limits(model)
        self.answer_checks = CheckSettings(**model.answer_checks.model_dump())
        self.shadow = model.shadow
        self.budget = budget if budget is not None else Budget(self.limits)
        self.budget.configure(self.limits)
        global_rules = tuple(_compile_rule(r, "global") for r in model.rules)
        self._global_view = self._view(model, None, global_rules)
        self._views = {app: self._view(model, app, global_rules) for app in model.apps}

    def attach_budget(self, budget: Budget) -> None:
        """Use `budget`'s counters from now on (they survive reloads) with this policy's limits."""
        budget.configure(self.limits)
        self.budget = budget

    @staticmethod
    def _view(model: PolicyFile, app: str | None, global_rules: tuple[CompiledRule, ...]) -> View:
        section = model.apps.get(app) if app is not None else None
        thresholds = dict(model.thresholds)
        rules = global_rules
        default = model.default
        contingencies: dict[str, CompiledContingency] = {}
        for name in CONTINGENCIES:
            item: Contingency = getattr(model, name)
            if section is not None and getattr(section, name) is not None:
                item = getattr(section, name)
            contingencies[name] = _compile_contingency(name, item)
        if section is not None:
            thresholds.update(section.thresholds)
            own = tuple(_compile_rule(r, f"app {app}") for r in section.rules)
            rules = own + (global_rules if section.inherit_rules else ())
            default = section.default if section.default is not None else default
        return View(rules=rules, thresholds=thresholds, default=default, **contingencies)

    def view(self, app_id: str) -> View:
        return self._views.get(app_id, self._global_view)

    # -- deciding -------------------------------------------------------------------------------------

    def decide(self, ctx: DecisionContext) -> Decision:
        try:
            return self._evaluate(ctx, None)
        except Exception as e:  # fail closed: whatever went wrong, the request does not leave
            log.error(
                "policy_evaluation_failed",
                error_type=type(e).__name__,
                policy_version=self.version,
                app=ctx.request.app_id,
            )
            return fail_closed(self.version, type(e).__name__)

    def decide_without_complexity(self, ctx: DecisionContext) -> Decision | None:
        """The decision when the rules reach it without testing the complexity score or the expected
        local success (a metadata route, a privacy rule, an app's pinned action...): then the model
        stage need not run. None when a condition on either was tested, or on any error (the caller
        scores fully and decides as usual)."""
        try:
            view = self.view(ctx.request.app_id)
            facts = Facts(ctx, view.thresholds, self.budget)
            decision = self._evaluate(ctx, None, facts)
        except Exception:
            return None
        return None if facts.complexity_read else decision

    def explain(self, ctx: DecisionContext) -> list[RuleTrace]:
        """Every rule in the order tried, with each condition's values; rules after the one that
        fired are listed with `reached=False`."""
        traces: list[RuleTrace] = []
        self._evaluate(ctx, traces)
        return traces

    def _evaluate(
        self, ctx: DecisionContext, traces: list[RuleTrace] | None, facts: Facts | None = None
    ) -> Decision:
        view = self.view(ctx.request.app_id)
        facts = facts or Facts(ctx, view.thresholds, self.budget)
        fired: CompiledRule | None = None
        for rule in view.rules:
            if traces is not None:
                if fired is not None:
                    traces.append(RuleTrace(rule.name, False, (), rule.action.value, False, rule.origin))
                    continue
                trace = rule.trace(facts)
                traces.append(trace)
                if trace.matched:
                    fired = rule
            elif rule.matches(facts):
                fired = rule
                break

        if fired is not None:
            why = "; ".join(c.describe(facts) for c in fired.conditions) or "no conditions"
            out = _Outcome(fired.action, fired.name, [f"rule {fired.name!r} matched ({why})"], fired.message)
        else:
            out = _Outcome(
                Route(view.default.action),
                DEFAULT_RULE,
                ["no rule matched: default action"],
                view.default.message,
            )
        decided = out.route

        if out.route in CLOUD_ROUTES:
            if not facts.cloud_available:
                self._apply_gate(out, view.on_cloud_unavailable, facts, facts.cloud_down_reason)
            elif facts.budget_state.spent:
                self._apply_gate(out, view.on_budget_exhausted, facts, facts.budget_state.reason)

        if out.route == Route.LOCAL:
            if facts.context_overflow:
                why = (
                    f"the prompt has {ctx.prompt_tokens} tokens, more than the local context "
                    f"({ctx.local_context_limit})"
                )
                self._apply_spill(out, view.on_context_overflow, facts, why)
            elif facts.queue_full:
                why = f"the local queue is full ({ctx.local_queue_depth}/{ctx.local_queue_size})"
                self._apply_spill(out, view.on_local_overload, facts, why)

        if out.route == Route.DENY:
            fallback: Route | None = None
            deny_message = out.deny_message or "refused by the routing policy"
        else:
            deny_message = ""
            if fired is not None and fired.has_fallback and out.route == decided:
                fallback = fired.fallback
            elif out.route in CLOUD_ROUTES:
                fallback = None if facts.context_overflow else Route.LOCAL
            else:
                fallback = None
        return Decision(
            route=out.route,
            rule=out.rule,
            reason="; ".join(out.reasons),
            policy_version=self.version,
            fallback=fallback,
            deny_message=deny_message,
            wanted=decided,
            note=out.note,
        )

    def on_answer_rejected(self, ctx: DecisionContext, check: str) -> Decision:
        """Where a request goes once its local answer failed the check `check`.

        `on_local_answer_rejected` gives the most it may get; the rules are asked again as if the
        complexity were 1 (the local model has just shown it cannot answer), so a private request goes
        only where the policy lets a private hard request go (redacted, or nowhere), and the cloud's
        health and the budget are checked as for any request. The result is the more private of the
        two routes. `local` delivers the local answer as it is; `deny` refuses."""
        view = self.view(ctx.request.app_id)
        c = view.on_local_answer_rejected
        why = f"the local answer failed the {check} check"
        facts = Facts(ctx, view.thresholds, self.budget)
        unmet = [x.describe(facts) for x in c.conditions if not x.check(facts)]
        if c.action is Route.LOCAL or unmet:
            rest = f"{c.name} {c.action.value} does not apply ({'; '.join(unmet)})" if unmet else c.name
            return Decision(
                Route.LOCAL,
                c.name,
                f"{why}: delivered as it is ({rest})",
                self.version,
                fallback=None,
                wanted=Route.LOCAL,
            )
        if c.action is Route.DENY:
            return Decision(
                Route.DENY,
                c.name,
                f"{why}: deny ({c.name})",
                self.version,
                fallback=None,
                deny_message=c.message or "the local model could not answer this request",
                wanted=Route.DENY,
            )
        try:
            again = self._evaluate(replace(ctx, complexity=ComplexityReport(1.0, "answer_check")), None)
        except Exception as e:  # fail closed: the answer stays on the device
            log.error("policy_evaluation_failed", error_type=type(e).__name__, policy_version=self.version)
            return fail_closed(self.version, type(e).__name__)
        route = again.route
        # Whatever the rules say, a request with private findings leaves only redacted from here.
        if route is Route.CLOUD and (c.action is Route.CLOUD_REDACTED or ctx.privacy.findings):
            route = Route.CLOUD_REDACTED
        if route is Route.LOCAL:
            reason = f"{why}; asked again as a hard request, {again.reason}: delivered as it is"
        else:
            reason = f"{why}; asked again as a hard request, {again.reason}: {route.value} ({c.name})"
        return Decision(
            route,
            again.rule,
            reason,
            self.version,
            fallback=None,
            deny_message=again.deny_message,
            wanted=c.action,
            note=again.note,
        )

    @staticmethod
    def _apply_gate(out: _Outcome, c: CompiledContingency, facts: Facts, why: str) -> None:
        """The rule wants the cloud but cannot have it: local or deny per the contingency."""
        wanted = out.route.value
        out.note = why
        if c.action == Route.DENY and all(x.check(facts) for x in c.conditions):
            out.route, out.deny_message = Route.DENY, c.message
            out.reasons.append(f"{why}: {wanted} -> deny ({c.name})")
        else:
            out.route, out.deny_message = Route.LOCAL, ""
            out.reasons.append(f"{why}: {wanted} -> local ({c.name})")

    @staticmethod
    def _apply_spill(out: _Outcome, c: CompiledContingency, facts: Facts, why: str) -> None:
        """Local cannot serve the request: spill or deny per the contingency, else stay local (the
        daemon then answers with the matching error)."""
        if c.action == Route.LOCAL:
            out.reasons.append(f"{why}: stays local ({c.name})")
            return
        unmet = [x.describe(facts) for x in c.conditions if not x.check(facts)]
        if unmet:
            out.reasons.append(
                f"{why}: {c.name} {c.action.value} does not apply ({'; '.join(unmet)}), stays local"
            )
            return
        if c.action == Route.DENY:
            out.route, out.deny_message = Route.DENY, c.message
            out.reasons.append(f"{why}: deny ({c.name})")
            return
        if not facts.cloud_available:
            out.reasons.append(
                f"{why}: {c.name} {c.action.value} impossible, {facts.cloud_down_reason}; stays local"
            )
            return
        if facts.budget_state.spent:
            out.reasons.append(
                f"{why}: {c.name} {c.action.value} impossible, {facts.budget_state.reason}; stays local"
            )
            return
        out.route = c.action
        out.reasons.append(f"{why}: {c.action.value} ({c.name})")


def fail_closed(version: str, what: str) -> Decision:
    return Decision(
        route=Route.LOCAL,
        rule=FAIL_CLOSED_RULE,
        reason=f"policy evaluation failed ({what}); the request stays local",
        policy_version=version,
        fallback=None,
    )


# --- loading -----------------------------------------------------------------------------------------


def _read(path: Path) -> tuple[bytes | None, str]:
    try:
        return path.read_bytes(), ""
    except FileNotFoundError:
        return None, f"{path}:1:1: no such policy file; pass an existing file (e.g. policies/default.yaml)"
    except OSError as e:
        return None, f"{path}:1:1: cannot read the policy file: {e.strerror}"


def parse_policy(content: bytes, source: str) -> tuple[Policy | None, list[str]]:
    """Validate policy file content; a Policy when it is fine, else None and the problems."""
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as e:
        return None, [f"{source}:1:1: the policy file is not UTF-8 text (byte {e.start}); save it as UTF-8"]
    model, problems = validate_text(text, source)
    if model is None:
        return None, problems
    return Policy(model, version=content_version(content), source=source), []


def check_policy(path: Path) -> list[str]:
    """Every problem of the policy file at `path` (empty when it is valid)."""
    content, error = _read(Path(path))
    if content is None:
        return [error]
    return parse_policy(content, str(path))[1]


def load_policy(path: Path) -> Policy:
    """Load and validate a policy file; ConfigError lists every problem, one `file:line:col: ...` per line."""
    content, error = _read(Path(path))
    if content is None:
        raise ConfigError(error)
    policy, problems = parse_policy(content, str(path))
    if policy is None:
        raise ConfigError("\n".join(problems))
    return policy


def summarize(policy: Policy) -> str:
    """One line about a valid policy, for `router policy check`."""
    m = policy.model
    app_rules = sum(len(s.rules) for s in m.apps.values())
    return (
        f"version {policy.version}: {len(m.rules)} rules, {len(m.apps)} app sections "
        f"({app_rules} app rules), default {m.default.action}"
    )


def default_policy_path() -> Path:
    """The shipped `policies/default.yaml` (installed as package data of `router.policies`)."""
    try:
        from importlib.resources import files

        candidate = files("router.policies") / "default.yaml"
        path = Path(str(candidate))
        if path.is_file():
            return path
    except (ModuleNotFoundError, TypeError):
        pass
    return Path(__file__).resolve().parent.parent / "policies" / "default.yaml"


# --- explanation -----------------------------------------------------------------------------------


def explain_report(policy: Policy, ctx: DecisionContext) -> tuple[Decision, str]:
    """The decision for `ctx` and its rendered explanation (what `router policy explain` prints)."""
    decision = policy.decide(ctx)
    try:
        traces = policy.explain(ctx)
    except Exception as e:  # the decision above already failed closed; say why in the report
        return decision, render_explanation(
            ctx, decision, []
        ) + f"\nevaluation error: {type(e).__name__}: {e}"
    return decision, render_explanation(ctx, decision, traces)


def _findings_summary(ctx: DecisionContext) -> str:
    if not ctx.privacy.findings:
        return "none"
    best: dict[str, float] = {}
    for f in ctx.privacy.findings:
        best[f.category] = max(best.get(f.category, 0.0), f.confidence)
    counts = ctx.privacy.categories
    return ", ".join(f"{cat} x{n} (confidence up to {best[cat]:.2f})" for cat, n in counts.items())


def render_explanation(ctx: DecisionContext, decision: Decision, traces: Sequence[RuleTrace]) -> str:
    """A readable account of a decision: the scores, every rule tried, which fired and why."""
    lines = [
        f"policy version {decision.policy_version or '?'}, app {ctx.request.app_id!r}",
        f"scores: complexity {ctx.complexity.score:.3f} (stage {ctx.complexity.stage}), "
        f"expected local success {expected_local_success(ctx):.3f}"
        + ("" if ctx.complexity.expected_success is not None else " (1 - complexity: no calibration)")
        + f", privacy {ctx.privacy.score:.3f}",
        f"findings: {_findings_summary(ctx)}",
        f"state: prompt {ctx.prompt_tokens} tokens (local context {ctx.local_context_limit or 'unknown'}), "
        f"local queue {ctx.local_queue_depth}/{ctx.local_queue_size}, cloud "
        + (
            "not configured"
            if not ctx.cloud_configured
            else ("healthy" if ctx.cloud_healthy else "unhealthy")
        ),
        "rules, in order:" if traces else "rules: none",
    ]
    for i, t in enumerate(traces, 1):
        if not t.reached:
            lines.append(f"  {i:2}. {t.rule} -> {t.action}  [not reached]")
            continue
        status = "FIRED" if t.matched else "no match"
        origin = f" ({t.origin})" if t.origin != "global" else ""
        lines.append(f"  {i:2}. {t.rule}{origin} -> {t.action}  [{status}]")
        if not t.conditions:
            lines.append("        (no conditions: matches every request)")
        for c in t.conditions:
            lines.append(f"        {'yes' if c.ok else 'no '}  {c.detail}")
    if not any(t.matched for t in traces):
        lines.append("  no rule matched: the default action applies")
    lines.append(f"decision: {decision.route.value} (rule {decision.rule!r})")
    lines.append(f"why: {decision.reason}")
    if decision.route == Route.DENY:
        lines.append(f"message: {decision.deny_message}")
    else:
        lines.append(f"if it fails at run time: {decision.fallback.value if decision.fallback else 'refuse'}")
    return "\n".join(lines)


__all__ = [
    "DEFAULT_RULE",
    "FAIL_CLOSED_RULE",
    "Budget",
    "ConditionTrace",
    "Policy",
    "RuleTrace",
    "check_policy",
    "content_version",
    "default_policy_path",
    "explain_report",
    "load_policy",
    "parse_policy",
    "render_explanation",
    "summarize",
]
