"""PolicyPrivacy follows the active policy's privacy terms, rebuilding its scorer only for a new policy."""

from __future__ import annotations

from typing import Any

from router.policy import Policy, parse_policy
from router.scoring import PolicyPrivacy


def policy(terms: list[str]) -> Policy:
    text = f"format: 1\ndefault: local\nprivacy: {{terms: {terms}}}\nrules: []\n"
    p, problems = parse_policy(text.encode(), "test")
    assert p is not None, problems
    return p


class Source:
    def __init__(self, current: Any) -> None:
        self.current = current


def test_terms_follow_a_new_policy_and_the_same_policy_reuses_the_scorer() -> None:
    source = Source(policy(["Project Falcon"]))
    privacy = PolicyPrivacy(source)
    scorer = privacy._scorer
    assert privacy.scan("about Project Falcon").categories.get("custom")
    assert privacy._scorer is scorer
    source.current = policy(["Project Heron"])
    assert not privacy.scan("about Project Falcon").categories.get("custom")
    assert privacy.scan("about Project Heron").categories.get("custom")
    assert privacy._scorer is not scorer
