"""Scorers return numbers and findings, never decisions: `privacy`, `features` + `complexity`."""

from __future__ import annotations

from typing import Any, Protocol

from router.scoring.privacy import PrivacyScorer
from router.types import PrivacyReport


class _PolicySource(Protocol):
    @property
    def current(self) -> Any: ...


class PolicyPrivacy:
    """The privacy scorer with the active policy's `privacy:` terms and patterns (category "custom") and
    its `names` switch.

    Rebuilt, and warmed up, when a reloaded policy changes them."""

    def __init__(self, policies: _PolicySource) -> None:
        self._policies = policies
        self._key: tuple[Any, ...] | None = None
        self._policy: Any = None
        self._scorer = PrivacyScorer()
        self._refresh()

    def _refresh(self) -> PrivacyScorer:
        policy = self._policies.current
        if policy is self._policy:  # the same policy object as last time: nothing can have changed
            return self._scorer
        section = policy.model.privacy
        key = (tuple(section.terms), tuple(sorted(section.patterns.items())), section.names)
        if key != self._key:
            scorer = PrivacyScorer(section.terms, dict(section.patterns), names=section.names)
            scorer.warm_up()
            self._scorer, self._key = scorer, key
        self._policy = policy  # only once its scorer is built: a failure here fails every scan again
        return self._scorer

    def scan(self, text: str) -> PrivacyReport:
        return self._refresh().scan(text)
