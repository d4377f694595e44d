"""The routing policy engine: conditions, ordering, apps, budgets, contingencies, fail-closed, validation."""

from __future__ import annotations

import functools
import hashlib
import re
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from router.budget import Budget, BudgetLimits, BudgetState, Limits, Price
from router.cli.policy import policy_group
from router.errors import ConfigError
from router.policy import (
    FAIL_CLOSED_RULE,
    Policy,
    check_policy,
    default_policy_path,
    load_policy,
    render_explanation,
)
from router.types import (
    PRIVACY_CATEGORIES,
    ComplexityReport,
    DecisionContext,
    Finding,
    Message,
    PrivacyReport,
    PromptTokens,
    Request,
    Route,
)

REPO = Path(__file__).resolve().parent.parent
POLICIES = REPO / "policies"
SHIPPED = sorted(POLICIES.glob("*.yaml"))
DAY = 86_400.0


@pytest.fixture(autouse=True)
def _reset_structlog() -> Iterator[None]:
    structlog.reset_defaults()
    yield
    structlog.reset_defaults()


@functools.cache
def shipped(name: str) -> Policy:
    return load_policy(POLICIES / f"{name}.yaml")


def ctx(
    *,
    text: str = "hello there",
    app: str = "app",
    complexity: float = 0.1,
    privacy: float = 0.0,
    findings: tuple[Finding, ...] = (),
    tokens: int = 10,
    depth: int = 0,
    size: int = 4,
    cloud: bool = True,
    healthy: bool = True,
    limit: int = 4096,
    metadata: dict[str, str] | None = None,
) -> DecisionContext:
    return DecisionContext(
        request=Request(messages=(Message("user", text),), app_id=app, metadata=metadata or {}),
        privacy=PrivacyReport(privacy, findings),
        complexity=ComplexityReport(complexity),
        tokens=PromptTokens.known(tokens),
        local_queue_depth=depth,
        local_queue_size=size,
        cloud_configured=cloud,
        cloud_healthy=healthy,
        local_context_limit=limit,
    )


def finding(category: str, confidence: float = 1.0) -> Finding:
    return Finding(category, 0, 4, confidence)


def write(tmp_path: Path, text: str, name: str = "policy.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def policy(tmp_path: Path, text: str, **kw: Any) -> Policy:
    return load_policy(write(tmp_path, text))


def problems(tmp_path: Path, text: str) -> list[str]:
    return check_policy(write(tmp_path, text))


def one_rule(tmp_path: Path, when: str) -> Policy:
    """A policy with one cloud rule under `when` and default local."""
    return policy(
        tmp_path,
        f"""
        thresholds: {{hard: 0.6, sure: 0.9}}
        rules:
          - name: r
            when: {when}
            action: cloud
        """,
    )


def fired(p: Policy, c: DecisionContext) -> str:
    return p.decide(c).rule


# --- conditions ---------------------------------------------------------------------------------------


def test_complexity_range_with_threshold_name(tmp_path: Path) -> None:
    p = one_rule(tmp_path, "{complexity: {gte: hard}}")
    assert fired(p, ctx(complexity=0.6)) == "r"
    assert fired(p, ctx(complexity=0.59)) == "default"


def test_range_with_two_bounds(tmp_path: Path) -> None:
    p = one_rule(tmp_path, "{complexity: {gt: 0.2, lte: 0.5}}")
    assert fired(p, ctx(complexity=0.2)) == "default"
    assert fired(p, ctx(complexity=0.5)) == "r"
    assert fired(p, ctx(complexity=0.51)) == "default"


def test_privacy_range(tmp_path: Path) -> None:
    p = one_rule(tmp_path, "{privacy: {lt: 0.3}}")
    assert fired(p, ctx(privacy=0.29)) == "r"
    assert fired(p, ctx(privacy=0.3)) == "default"


def test_findings_categories_and_confidence(tmp_path: Path) -> None:
    p = one_rule(tmp_path, "{findings: {categories: [credit_card, us_ssn], min_confidence: sure}}")
    assert fired(p, ctx(findings=(finding("credit_card", 0.95),))) == "r"
    assert fired(p, ctx(findings=(finding("credit_card", 0.5),))) == "default"
    assert fired(p, ctx(findings=(finding("email", 1.0),))) == "default"
    assert fired(p, ctx()) == "default"


def test_findings_counts(tmp_path: Path) -> None:
    p = one_rule(tmp_path, "{findings: {min_count: 2, max_count: 3}}")
    assert fired(p, ctx(findings=(finding("email"),))) == "default"
    assert fired(p, ctx(findings=(finding("email"), finding("phone")))) == "r"
    assert fired(p, ctx(findings=tuple(finding("email") for _ in range(4)))) == "default"


def test_no_findings(tmp_path: Path) -> None:
    p = one_rule(tmp_path, "{findings: {min_count: 0, max_count: 0}}")
    assert fired(p, ctx()) == "r"
    assert fired(p, ctx(findings=(finding("person", 0.1),))) == "default"


def test_app_condition(tmp_path: Path) -> None:
    p = one_rule(tmp_path, "{app: [notes, mail]}")
    assert fired(p, ctx(app="mail")) == "r"
    assert fired(p, ctx(app="chat")) == "default"
    single = policy(tmp_path, "rules: [{name: r, when: {app: notes}, action: cloud}]")
    assert fired(single, ctx(app="notes")) == "r"


def test_prompt_tokens(tmp_path: Path) -> None:
    p = one_rule(tmp_path, "{prompt_tokens: {gt: 1000}}")
    assert fired(p, ctx(tokens=1001)) == "r"
    assert fired(p, ctx(tokens=1000)) == "default"


def test_queue_depth_and_full(tmp_path: Path) -> None:
    p = one_rule(tmp_path, "{local_queue_depth: {gte: 2}}")
    assert fired(p, ctx(depth=2)) == "r"
    assert fired(p, ctx(depth=1)) == "default"
    full = one_rule(tmp_path, "{local_queue_full: true}")
    assert fired(full, ctx(depth=4, size=4)) == "r"
    assert fired(full, ctx(depth=3, size=4)) == "default"


def test_context_overflow_condition(tmp_path: Path) -> None:
    p = one_rule(tmp_path, "{context_overflow: true}")
    assert fired(p, ctx(tokens=5000, limit=4096)) == "r"
    assert fired(p, ctx(tokens=4096, limit=4096)) == "default"
    assert fired(p, ctx(tokens=5000, limit=0)) == "default"  # unknown limit: no overflow


def test_cloud_available_condition(tmp_path: Path) -> None:
    p = policy(tmp_path, "rules: [{name: r, when: {cloud_available: false}, action: deny, message: offline}]")
    assert fired(p, ctx(cloud=True, healthy=False)) == "r"
    assert fired(p, ctx(cloud=False, healthy=True)) == "r"
    assert fired(p, ctx(cloud=True, healthy=True)) == "default"


def test_budget_spent_condition(tmp_path: Path) -> None:
    p = policy(
        tmp_path,
        """
        budgets: {global: {requests_per_day: 1}}
        rules: [{name: r, when: {budget_spent: true}, action: deny, message: "budget gone"}]
        """,
    )
    assert fired(p, ctx()) == "default"
    p.budget.record("app", "m", 1, 1)
    d = p.decide(ctx())
    assert (d.rule, d.route, d.deny_message) == ("r", Route.DENY, "budget gone")


def test_metadata_condition(tmp_path: Path) -> None:
    p = one_rule(tmp_path, "{metadata: {task: [review, refactor], tier: gold}}")
    assert fired(p, ctx(metadata={"task": "review", "tier": "gold"})) == "r"
    assert fired(p, ctx(metadata={"task": "chat", "tier": "gold"})) == "default"
    assert fired(p, ctx(metadata={"task": "review"})) == "default"


def test_all_conditions_must_hold(tmp_path: Path) -> None:
    p = one_rule(tmp_path, "{complexity: {gte: hard}, app: notes}")
    assert fired(p, ctx(complexity=0.9, app="notes")) == "r"
    assert fired(p, ctx(complexity=0.9, app="chat")) == "default"
    assert fired(p, ctx(complexity=0.1, app="notes")) == "default"


# --- ordering, default, apps --------------------------------------------------------------------------


ORDERED = """
thresholds: {hard: 0.6}
default: {action: deny, message: "nothing matched"}
rules:
  - {name: first, when: {complexity: {gte: 0.9}}, action: cloud}
  - {name: second, when: {complexity: {gte: hard}}, action: cloud_redacted}
apps:
  notes:
    thresholds: {hard: 0.3}
  mail:
    rules: [{name: mail-local, when: {complexity: {gte: 0.95}}, action: local}]
    default: local
  kiosk:
    inherit_rules: false
    rules: [{name: kiosk-local, when: {complexity: {lt: 0.5}}, action: local}]
"""


def test_first_matching_rule_wins_and_default(tmp_path: Path) -> None:
    p = policy(tmp_path, ORDERED)
    assert fired(p, ctx(complexity=0.95)) == "first"
    assert fired(p, ctx(complexity=0.7)) == "second"
    d = p.decide(ctx(complexity=0.1))
    assert (d.rule, d.route, d.deny_message) == ("default", Route.DENY, "nothing matched")


def test_app_thresholds_apply_to_global_rules(tmp_path: Path) -> None:
    p = policy(tmp_path, ORDERED)
    assert fired(p, ctx(app="notes", complexity=0.4)) == "second"
    assert fired(p, ctx(app="other", complexity=0.4)) == "default"


def test_app_rules_come_first_then_global_and_app_default(tmp_path: Path) -> None:
    p = policy(tmp_path, ORDERED)
    assert fired(p, ctx(app="mail", complexity=0.97)) == "mail-local"
    assert fired(p, ctx(app="mail", complexity=0.91)) == "first"
    d = p.decide(ctx(app="mail", complexity=0.1))
    assert (d.rule, d.route) == ("default", Route.LOCAL)


def test_inherit_rules_false_drops_global_rules(tmp_path: Path) -> None:
    p = policy(tmp_path, ORDERED)
    assert fired(p, ctx(app="kiosk", complexity=0.2)) == "kiosk-local"
    d = p.decide(ctx(app="kiosk", complexity=0.99))
    assert (d.rule, d.route) == ("default", Route.DENY)  # global default still inherited


def test_app_contingency_overrides_global(tmp_path: Path) -> None:
    p = policy(
        tmp_path,
        """
        on_cloud_unavailable: local
        rules: [{name: out, action: cloud}]
        apps:
          strict: {on_cloud_unavailable: {action: deny, message: "cloud needed"}}
        """,
    )
    assert p.decide(ctx(cloud=False)).route == Route.LOCAL
    d = p.decide(ctx(app="strict", cloud=False))
    assert (d.route, d.deny_message) == (Route.DENY, "cloud needed")


# --- live state: cloud down, budget, overload, overflow --------------------------------------------------


CLOUDY = """
budgets: {global: {requests_per_day: 2}}
rules:
  - {name: hard, when: {complexity: {gte: 0.5}}, action: cloud}
"""


def test_cloud_not_configured_or_unhealthy_falls_back(tmp_path: Path) -> None:
    p = policy(tmp_path, CLOUDY)
    assert p.decide(ctx(complexity=0.9)).route == Route.CLOUD
    for c in (ctx(complexity=0.9, cloud=False), ctx(complexity=0.9, healthy=False)):
        d = p.decide(c)
        assert d.route == Route.LOCAL
        assert d.rule == "hard"
        assert "on_cloud_unavailable" in d.reason
    assert "not configured" in p.decide(ctx(complexity=0.9, cloud=False)).reason
    assert "unhealthy" in p.decide(ctx(complexity=0.9, healthy=False)).reason


def test_cloud_unavailable_deny(tmp_path: Path) -> None:
    p = policy(tmp_path, CLOUDY + 'on_cloud_unavailable: {action: deny, message: "try later"}\n')
    d = p.decide(ctx(complexity=0.9, healthy=False))
    assert (d.route, d.deny_message, d.fallback) == (Route.DENY, "try later", None)


def test_spent_budget_falls_back(tmp_path: Path) -> None:
    p = policy(tmp_path, CLOUDY)
    p.budget.record("a", "m", 10, 10)
    assert p.decide(ctx(complexity=0.9)).route == Route.CLOUD
    p.budget.record("b", "m", 10, 10)
    d = p.decide(ctx(complexity=0.9))
    assert d.route == Route.LOCAL
    assert "global budget spent: 2 of 2 requests" in d.reason
    assert "on_budget_exhausted" in d.reason


def test_spent_budget_deny(tmp_path: Path) -> None:
    p = policy(tmp_path, CLOUDY + 'on_budget_exhausted: {action: deny, message: "daily cloud budget used"}\n')
    p.budget.record("a", "m", 1, 1)
    p.budget.record("a", "m", 1, 1)
    d = p.decide(ctx(complexity=0.9))
    assert (d.route, d.deny_message) == (Route.DENY, "daily cloud budget used")


OVERLOAD = """
rules:
  - {name: secret, when: {findings: {categories: [api_key]}}, action: local}
on_local_overload:
  action: cloud_redacted
  when: {privacy: {lt: 0.5}}
on_context_overflow:
  action: cloud
  when: {findings: {min_count: 0, max_count: 0}}
budgets: {per_app: {requests_per_day: 1}}
"""


def test_default_overload_stays_local(tmp_path: Path) -> None:
    p = policy(tmp_path, "rules: []")
    d = p.decide(ctx(depth=4, size=4))
    assert d.route == Route.LOCAL
    assert "local queue is full (4/4)" in d.reason
    assert d.fallback is None


def test_overload_spills_when_allowed(tmp_path: Path) -> None:
    p = policy(tmp_path, OVERLOAD)
    d = p.decide(ctx(depth=4, size=4, privacy=0.1))
    assert (d.route, d.rule) == (Route.CLOUD_REDACTED, "default")
    assert "on_local_overload" in d.reason
    assert d.fallback == Route.LOCAL


def test_overload_does_not_spill_private_or_when_cloud_down_or_budget_spent(tmp_path: Path) -> None:
    p = policy(tmp_path, OVERLOAD)
    assert p.decide(ctx(depth=4, size=4, privacy=0.7)).route == Route.LOCAL
    assert p.decide(ctx(depth=4, size=4, healthy=False)).route == Route.LOCAL
    p.budget.record("app", "m", 1, 1)
    d = p.decide(ctx(depth=4, size=4))
    assert d.route == Route.LOCAL
    assert "budget spent" in d.reason
    assert p.decide(ctx(app="other", depth=4, size=4)).route == Route.CLOUD_REDACTED


def test_overload_deny(tmp_path: Path) -> None:
    p = policy(tmp_path, 'on_local_overload: {action: deny, message: "busy, try again"}')
    d = p.decide(ctx(depth=9, size=4))
    assert (d.route, d.deny_message) == (Route.DENY, "busy, try again")
    assert p.decide(ctx(depth=3, size=4)).route == Route.LOCAL


def test_context_overflow_goes_to_cloud_per_policy(tmp_path: Path) -> None:
    p = policy(tmp_path, OVERLOAD)
    d = p.decide(ctx(tokens=9000, limit=4096))
    assert d.route == Route.CLOUD
    assert "9000 tokens" in d.reason
    assert d.fallback is None  # local cannot take it either
    private = p.decide(ctx(tokens=9000, limit=4096, findings=(finding("email"),)))
    assert private.route == Route.LOCAL  # the daemon answers INVALID_ARGUMENT


def test_context_overflow_default_stays_local(tmp_path: Path) -> None:
    p = policy(tmp_path, "rules: []")
    d = p.decide(ctx(tokens=9000, limit=4096))
    assert d.route == Route.LOCAL
    assert "more than the local context (4096)" in d.reason


def test_rule_fallbacks(tmp_path: Path) -> None:
    p = policy(
        tmp_path,
        """
        rules:
          - {name: a, when: {app: a}, action: cloud, fallback: refuse}
          - {name: b, when: {app: b}, action: local, fallback: cloud_redacted}
          - {name: c, when: {app: c}, action: cloud}
          - {name: d, when: {app: d}, action: local}
        """,
    )
    assert p.decide(ctx(app="a")).fallback is None
    assert p.decide(ctx(app="b")).fallback == Route.CLOUD_REDACTED
    assert p.decide(ctx(app="c")).fallback == Route.LOCAL
    assert p.decide(ctx(app="d")).fallback is None


# --- fail closed --------------------------------------------------------------------------------------


class BrokenBudget(Budget):
    def state(self, app_id: str, pending_tokens: int = 0) -> BudgetState:
        raise RuntimeError("budget store unreadable")


def test_fail_closed_on_error(tmp_path: Path) -> None:
    p = policy(tmp_path, CLOUDY)
    p.attach_budget(BrokenBudget())
    with structlog.testing.capture_logs() as logs:
        d = p.decide(ctx(complexity=0.9))
    assert (d.route, d.rule, d.fallback) == (Route.LOCAL, FAIL_CLOSED_RULE, None)
    assert d.policy_version == p.version
    assert logs[0]["event"] == "policy_evaluation_failed"
    assert logs[0]["error_type"] == "RuntimeError"


@pytest.mark.parametrize("score", [float("nan"), 1.5, -0.1])
def test_fail_closed_on_bad_scores(tmp_path: Path, score: float) -> None:
    p = policy(tmp_path, "rules: [{name: all, action: cloud}]")
    assert p.decide(ctx(complexity=score)).rule == FAIL_CLOSED_RULE
    assert p.decide(ctx(privacy=score)).route == Route.LOCAL


# --- budgets ------------------------------------------------------------------------------------------


class Clock:
    def __init__(self, t: float = 1_700_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def test_budget_requests_tokens_cost_and_rollover() -> None:
    clock = Clock()
    limits = BudgetLimits(
        global_limits=Limits(cost_per_day=1.0),
        per_app_default=Limits(requests_per_day=3, tokens_per_day=1000),
        per_app={"big": Limits(tokens_per_day=10_000)},
        prices={"m": Price(1.0, 3.0)},
    )
    b = Budget(limits, clock=clock)
    assert b.estimated_cost("m", 1_000_000, 0) == pytest.approx(1.0)
    assert b.estimated_cost("m", 1000, 1000) == pytest.approx(0.004)
    b.record("a", "m", 300, 300)
    assert not b.state("a").spent
    assert b.state("a", pending_tokens=401).spent  # this prompt would go over the token limit
    b.record("a", "m", 200, 200)
    st_ = b.state("a")
    assert st_.spent and "1000 of 1000 tokens" in st_.reason and "app 'a'" in st_.reason
    assert not b.state("big").spent
    assert b.usage().requests == 2
    clock.t += DAY
    assert not b.state("a").spent
    assert b.usage("a").requests == 0


def test_budget_request_and_global_cost_limits() -> None:
    b = Budget(
        BudgetLimits(
            global_limits=Limits(cost_per_day=0.01),
            per_app_default=Limits(requests_per_day=2),
            prices={"m": Price(10.0, 10.0)},
        )
    )
    b.record("a", "m", 10, 10)
    b.record("a", "m", 10, 10)
    assert "2 of 2 requests" in b.state("a").reason
    assert not b.state("z").spent
    b.record("z", "m", 1000, 0)
    assert b.state("q").spent and "global" in b.state("q").reason


def test_unknown_model_price() -> None:
    limits = BudgetLimits(prices={"cheap": Price(0.1, 0.1), "dear": Price(5.0, 15.0)})
    assert Budget(limits).estimated_cost("mystery", 1_000_000, 0) == pytest.approx(5.0)
    with_default = BudgetLimits(prices=limits.prices, default_price=Price(2.0, 2.0))
    assert Budget(with_default).estimated_cost("mystery", 1_000_000, 0) == pytest.approx(2.0)
    assert Budget().estimated_cost("mystery", 1_000_000, 0) == 0.0


def test_budget_is_thread_safe() -> None:
    b = Budget()

    def work() -> None:
        for _ in range(500):
            b.record("a", "m", 1, 2)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert b.usage("a").requests == 2000
    assert b.usage().tokens == 6000


def test_policy_budget_uses_prices_and_app_budget(tmp_path: Path) -> None:
    p = policy(
        tmp_path,
        """
        prices: {m: {input_per_mtok: 1000000, output_per_mtok: 0}}
        budgets: {per_app: {cost_per_day: 5}}
        apps: {rich: {budget: {cost_per_day: 100}}}
        rules: [{name: out, action: cloud}]
        """,
    )
    p.budget.record("app", "m", 5, 0)
    p.budget.record("rich", "m", 5, 0)
    assert p.decide(ctx(app="app")).route == Route.LOCAL
    assert p.decide(ctx(app="rich")).route == Route.CLOUD


# --- versions and explanations ------------------------------------------------------------------------


def test_decision_records_policy_version(tmp_path: Path) -> None:
    path = write(tmp_path, CLOUDY)
    p = load_policy(path)
    assert p.version == hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    assert p.decide(ctx()).policy_version == p.version


def test_explain_traces_and_render(tmp_path: Path) -> None:
    p = policy(tmp_path, ORDERED)
    secret_text = "my card is 4111 1111 1111 1111"
    c = ctx(text=secret_text, complexity=0.7, findings=(finding("credit_card", 0.97),))
    traces = p.explain(c)
    assert [(t.rule, t.matched, t.reached) for t in traces] == [
        ("first", False, True),
        ("second", True, True),
    ]
    assert traces[0].conditions[0].detail == "complexity 0.7 >= 0.9"
    assert traces[1].conditions[0].detail == "complexity 0.7 >= hard (0.6)"
    d = p.decide(c)
    out = render_explanation(c, d, traces)
    assert "second -> cloud_redacted  [FIRED]" in out
    assert "credit_card x1" in out
    assert "decision: cloud_redacted (rule 'second')" in out
    assert secret_text not in out and "4111" not in out


def test_explain_marks_rules_after_the_fired_one(tmp_path: Path) -> None:
    p = policy(tmp_path, ORDERED)
    traces = p.explain(ctx(complexity=0.95))
    assert [(t.rule, t.matched, t.reached) for t in traces] == [
        ("first", True, True),
        ("second", False, False),
    ]
    out = render_explanation(ctx(), p.decide(ctx()), p.explain(ctx()))
    assert "no rule matched" in out and "message: nothing matched" in out


# --- validation ---------------------------------------------------------------------------------------


def test_unknown_key_points_at_the_key(tmp_path: Path) -> None:
    msgs = problems(
        tmp_path,
        """
        rules:
          - name: a
            when:
              complexty: {gte: 0.5}
            action: cloud
        """,
    )
    assert len(msgs) == 1
    assert msgs[0].startswith(f"{tmp_path / 'policy.yaml'}:4:7: unknown key 'complexty' in rules[0].when")
    assert "did you mean 'complexity'?" in msgs[0]


def test_unknown_top_level_key(tmp_path: Path) -> None:
    msgs = problems(tmp_path, "defualt: local\n")
    assert re.search(r":1:1: unknown key 'defualt' at the top level; did you mean 'default'\?", msgs[0])


def test_bad_types_and_values(tmp_path: Path) -> None:
    msgs = problems(
        tmp_path,
        """
        rules:
          - name: a
            when: {findings: {min_count: "2"}, local_queue_full: 3}
            action: lcal
        budgets:
          global: {cost_per_day: -1}
        """,
    )
    text = "\n".join(msgs)
    assert (
        ":3:34: rules[0].when.findings.min_count: must be a valid integer, got str '2' "
        "(write it without quotes)" in text
    )
    assert ":3:58: rules[0].when.local_queue_full: must be a valid boolean" in text
    assert ":4:13: rules[0].action: must be 'local', 'cloud', 'cloud_redacted' or 'deny', not 'lcal'" in text
    assert ":6:26: budgets.global.cost_per_day: must be greater than or equal to 0" in text
    assert len(msgs) == 4


def test_missing_required_key(tmp_path: Path) -> None:
    msgs = problems(tmp_path, "rules:\n  - name: a\n")
    assert msgs == [f"{tmp_path / 'policy.yaml'}:2:5: rules[0] is missing the required key 'action'"]


def test_unknown_category(tmp_path: Path) -> None:
    msgs = problems(
        tmp_path,
        "rules:\n  - {name: a, when: {findings: {categories: [email, creditcard]}}, action: local}\n",
    )
    assert len(msgs) == 1
    assert ":2:53: rules[0].when.findings.categories[1]: unknown privacy category 'creditcard'" in msgs[0]
    assert "credit_card" in msgs[0]


def test_unreachable_after_unconditional_rule(tmp_path: Path) -> None:
    msgs = problems(
        tmp_path,
        """
        rules:
          - {name: all, action: local}
          - {name: never, when: {complexity: {gte: 0.5}}, action: cloud}
        """,
    )
    assert len(msgs) == 1
    assert ":3:5: rule 'never' can never fire: rule 'all' (line 2) has no conditions" in msgs[0]


def test_unreachable_identical_and_broader_earlier_rule(tmp_path: Path) -> None:
    msgs = problems(
        tmp_path,
        """
        rules:
          - {name: a, when: {complexity: {gte: 0.5}}, action: cloud}
          - {name: b, when: {complexity: {gte: 0.5}}, action: local}
          - {name: c, when: {complexity: {gte: 0.5}, app: notes}, action: local}
          - {name: d, when: {complexity: {gte: 0.6, lt: 0.9}, app: notes}, action: local}
          - {name: e, when: {complexity: {lt: 0.5}}, action: local}
        """,
    )
    assert [m.split(": ", 1)[1].split(":")[0] for m in msgs] == [
        "rule 'b' can never fire",
        "rule 'c' can never fire",
        "rule 'd' can never fire",
    ]
    assert ":3:5:" in msgs[0] and ":4:5:" in msgs[1] and ":5:5:" in msgs[2]
    assert "rule 'a' (line 2) already matches every request this one matches" in msgs[0]


@pytest.mark.parametrize(
    ("earlier", "later", "unreachable"),
    [
        ("{complexity: {gt: 0.5}}", "{complexity: {gte: 0.5}}", False),  # 0.5 itself reaches the later rule
        ("{complexity: {gte: 0.5}}", "{complexity: {gt: 0.5}}", True),
        ("{complexity: {lte: 0.5}}", "{complexity: {lt: 0.4}}", True),
        ("{complexity: {gte: hard}}", "{complexity: {gte: hard}, app: x}", True),
        ("{complexity: {gte: hard}}", "{complexity: {gte: 0.9}}", False),  # depends on the app's threshold
        (
            "{findings: {categories: [email, phone]}}",
            "{findings: {categories: [email], min_confidence: 0.9}}",
            True,
        ),
        ("{findings: {categories: [email]}}", "{findings: {categories: [email, phone]}}", False),
        ("{findings: {min_count: 2}}", "{findings: {min_count: 1}}", False),
        (
            "{findings: {min_count: 0, max_count: 0}}",
            "{findings: {categories: [email], max_count: 0, min_count: 0}}",
            False,
        ),
        ("{findings: {min_count: 0, max_count: 2}}", "{findings: {min_count: 0, max_count: 1}}", True),
        ("{app: [x, y]}", "{app: x}", True),
        ("{app: x}", "{app: [x, y]}", False),
        ("{metadata: {k: [a, b]}}", "{metadata: {k: a, j: c}}", True),
        ("{metadata: {k: a}}", "{metadata: {k: [a, b]}}", False),
        ("{local_queue_full: true}", "{local_queue_full: false}", False),
        ("{local_queue_full: true}", "{local_queue_full: true, privacy: {lt: 0.2}}", True),
    ],
)
def test_shadowing_cases(tmp_path: Path, earlier: str, later: str, unreachable: bool) -> None:
    msgs = problems(
        tmp_path,
        f"""
        thresholds: {{hard: 0.6}}
        rules:
          - {{name: first, when: {earlier}, action: local}}
          - {{name: second, when: {later}, action: cloud}}
        """,
    )
    assert bool(msgs) == unreachable, msgs
    if unreachable:
        assert len(msgs) == 1 and "rule 'second' can never fire" in msgs[0]


def test_unknown_threshold_and_out_of_range(tmp_path: Path) -> None:
    msgs = problems(
        tmp_path,
        """
        thresholds: {hard: 0.6, big: 7}
        rules:
          - {name: a, when: {complexity: {gte: hrd}}, action: cloud}
          - {name: b, when: {privacy: {gte: 1.5}}, action: local}
          - {name: c, when: {complexity: {gte: big}}, action: local}
        """,
    )
    assert ":3:40: unknown threshold 'hrd'; did you mean 'hard'?" in msgs[0]
    assert ":4:37: rules[1].when.privacy.gte is 1.5, but this score lies in [0, 1]" in msgs[1]
    assert "threshold 'big' is 7" in msgs[2]


def test_semantic_checks(tmp_path: Path) -> None:
    msgs = problems(
        tmp_path,
        """
        on_cloud_unavailable: cloud_redacted
        rules:
          - {name: a, when: {app: x}, action: deny}
          - {name: a, when: {app: y}, action: local, message: hi}
        apps:
          x:
            rules: [{name: z, when: {app: y}, action: local}]
        """,
    )
    text = "\n".join(msgs)
    assert ":1:23: on_cloud_unavailable can only be local or deny" in text
    assert ":3:5: rule 'a' denies but gives no message" in text
    assert ":4:12: rule name 'a' is already used on line 3" in text
    assert "`message` is only used with `action: deny`" in text
    assert ":7:35: rule 'z' can never fire: it sits in the section of app 'x'" in text


def test_duplicate_keys_and_yaml_errors(tmp_path: Path) -> None:
    dup = problems(tmp_path, "default: local\ndefault: cloud\n")
    assert dup == [
        f"{tmp_path / 'policy.yaml'}:2:1: duplicate key 'default' (first on line 1); "
        "YAML would keep only this one: remove or merge one"
    ]
    broken = problems(tmp_path, "rules:\n  - name: [a\n")
    assert len(broken) == 1 and "invalid YAML" in broken[0] and broken[0].count(":") >= 3
    assert "empty" in problems(tmp_path, "")[0]
    assert "mapping" in problems(tmp_path, "- a\n- b\n")[0]
    assert "no such policy file" in check_policy(tmp_path / "missing.yaml")[0]


def test_load_policy_raises_with_every_problem(tmp_path: Path) -> None:
    path = write(tmp_path, "rules:\n  - {name: a, action: lcal}\n  - {name: b, action: clod}\n")
    with pytest.raises(ConfigError) as e:
        load_policy(path)
    lines = e.value.message.splitlines()
    assert [line.split(": ")[0] for line in lines] == [f"{path}:2:23", f"{path}:3:23"]


# --- CLI ----------------------------------------------------------------------------------------------


def test_cli_check_ok_and_bad(tmp_path: Path) -> None:
    runner = CliRunner()
    ok = runner.invoke(policy_group, ["check", str(POLICIES / "default.yaml")])
    assert ok.exit_code == 0, ok.output
    assert len(ok.output.splitlines()) == 1 and ": OK, version " in ok.output
    bad = write(tmp_path, "rules:\n  - {name: a, action: lcal}\n", "bad.yaml")
    res = runner.invoke(policy_group, ["check", str(bad)])
    assert res.exit_code == 1
    assert res.output.splitlines() == [
        f"{bad}:2:23: rules[0].action: must be 'local', 'cloud', 'cloud_redacted' or 'deny', not 'lcal'"
    ]


def test_cli_commands_have_help() -> None:
    for name, cmd in policy_group.commands.items():
        assert cmd.help, name
    assert policy_group.help


# --- shipped policies ---------------------------------------------------------------------------------


def test_shipped_policies_exist() -> None:
    assert {p.name for p in SHIPPED} >= {
        "default.yaml",
        "privacy-strict.yaml",
        "cost-saver.yaml",
        "offline.yaml",
    }


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_policy_validates(path: Path) -> None:
    assert check_policy(path) == []


def test_default_policy_path_is_the_shipped_file() -> None:
    path = default_policy_path()
    assert path.read_bytes() == (POLICIES / "default.yaml").read_bytes()
    assert load_policy(path).version


def test_commented_app_example_in_default_validates(tmp_path: Path) -> None:
    """The commented `apps:` example in default.yaml is documentation: it must stay valid."""
    text = (POLICIES / "default.yaml").read_text()
    start = text.index("# apps:\n")
    example = [line[2:] for line in text[start:].splitlines() if line.startswith("#")]
    assert len(example) > 5
    doc = text[:start].replace("apps: {}", "") + "\n".join(example) + "\n"
    path = write(tmp_path, doc.replace("apps: {}\n", ""))
    p = load_policy(path)
    assert set(p.model.apps) == {"code-assistant", "hr-portal"}
    assert p.decide(ctx(app="hr-portal", depth=4, size=4)).route == Route.DENY


def _everything(p: Policy) -> list[str]:
    m = p.model
    actions: list[str] = [r.action for r in m.rules]
    actions.append(m.default.action)
    actions += [getattr(m, n).action for n in ("on_local_overload", "on_context_overflow")]
    for s in m.apps.values():
        actions += [r.action for r in s.rules]
    return actions


def test_privacy_strict_never_redacts_and_offline_never_clouds() -> None:
    strict = load_policy(POLICIES / "privacy-strict.yaml")
    assert "cloud_redacted" not in _everything(strict)
    offline = load_policy(POLICIES / "offline.yaml")
    assert not {"cloud", "cloud_redacted"} & set(_everything(offline))


contexts = st.builds(
    lambda cats, conf, cx, pv, depth, tokens, app, cloud, healthy: ctx(
        app=app,
        complexity=cx,
        privacy=pv,
        findings=tuple(finding(c, conf) for c in cats),
        depth=depth,
        tokens=tokens,
        cloud=cloud,
        healthy=healthy,
    ),
    st.lists(st.sampled_from(PRIVACY_CATEGORIES), min_size=1, max_size=3),
    st.floats(0.0, 1.0),
    st.floats(0.0, 1.0),
    st.floats(0.0, 1.0),
    st.integers(0, 8),
    st.integers(1, 20_000),
    st.sampled_from(["app", "notes", "code-assistant"]),
    st.booleans(),
    st.booleans(),
)


@settings(max_examples=300, deadline=None)
@given(c=contexts)
def test_default_policy_never_sends_findings_to_plain_cloud(c: DecisionContext) -> None:
    d = shipped("default").decide(c)
    assert d.route != Route.CLOUD
    assert d.fallback != Route.CLOUD
    if any(
        f.category in ("api_key", "private_key", "password", "jwt", "secret", "connection_string")
        for f in c.privacy.findings
    ):
        assert d.route in (Route.LOCAL, Route.DENY)


@settings(max_examples=200, deadline=None)
@given(c=contexts)
def test_strict_and_offline_keep_private_prompts_local(c: DecisionContext) -> None:
    assert shipped("privacy-strict").decide(c).route == Route.LOCAL
    assert shipped("offline").decide(c).route == Route.LOCAL


@pytest.mark.parametrize("category", ["credit_card", "us_ssn", "api_key"])
def test_default_policy_high_confidence_examples(category: str) -> None:
    for complexity in (0.0, 0.7, 1.0):
        c = ctx(complexity=complexity, privacy=0.95, findings=(finding(category, 0.95),), tokens=9000)
        assert shipped("default").decide(c).route in (Route.LOCAL, Route.CLOUD_REDACTED)
    hard_clean = ctx(complexity=0.9)
    assert (
        shipped("default").decide(hard_clean).route == Route.CLOUD
    )  # the policy does use the cloud when clean


def test_cli_explain_with_a_context_builder(tmp_path: Path) -> None:
    import click

    from router.cli.policy import add_explain_command

    @click.group()
    def group() -> None:
        """Test group."""

    def build(text: str, app: str, policy: Path) -> DecisionContext:
        return ctx(text=text, app=app, complexity=0.8, findings=(finding("email", 0.99),))

    add_explain_command(group, build)
    res = CliRunner().invoke(group, ["explain", "mail bob@example.com about the plan", "--app", "notes"])
    assert res.exit_code == 0, res.output
    assert "app 'notes'" in res.output
    assert "private-and-hard-redacted -> cloud_redacted  [FIRED]" in res.output
    assert "bob@example.com" not in res.output
    bad = write(tmp_path, "rules: [{name: a, action: clod}]\n")
    res = CliRunner().invoke(group, ["explain", "x", "--policy", str(bad)])
    assert res.exit_code == 1
    assert f"{bad}:1:27: rules[0].action" in res.output


# --- deciding without the complexity score ------------------------------------------------------------

EARLY = """
thresholds: {hard: 0.6}
rules:
  - {name: pinned, when: {metadata: {route: cloud}}, action: cloud}
  - {name: secrets, when: {findings: {categories: [secret]}}, action: local}
  - {name: hard, when: {complexity: {gte: hard}}, action: cloud}
  - {name: sure, when: {local_success: {gte: 0.8}, app: notes}, action: local}
apps:
  kiosk:
    inherit_rules: false
    default: {action: deny, message: "this kiosk answers nothing"}
"""


def test_decide_without_complexity_only_where_no_score_was_read(tmp_path: Path) -> None:
    p = policy(tmp_path, EARLY)
    # reached before any condition on the score: the same decision whatever the score
    for c in (0.0, 0.5, 1.0):
        early = p.decide_without_complexity(ctx(complexity=c, metadata={"route": "cloud"}))
        assert early is not None and (early.rule, early.route) == ("pinned", Route.CLOUD)
        secret = p.decide_without_complexity(ctx(complexity=c, findings=(finding("secret"),)))
        assert secret is not None and secret.rule == "secrets"
        assert p.decide_without_complexity(ctx(complexity=c, app="kiosk")).rule == "default"  # type: ignore[union-attr]
    # a rule on the score was tested (matched or not): the model stage must decide
    assert p.decide_without_complexity(ctx(complexity=0.9)) is None
    assert p.decide_without_complexity(ctx(complexity=0.1)) is None
    # local_success is read from the score too
    assert p.decide_without_complexity(ctx(complexity=0.1, app="notes")) is None
    # and where it decides, it decides as decide() does
    c = ctx(metadata={"route": "cloud"}, complexity=0.3)
    assert p.decide_without_complexity(c) == p.decide(c)
