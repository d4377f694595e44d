"""Domain types shared by every layer. Plain frozen dataclasses: no I/O, no proto, no framework."""

from __future__ import annotations

import enum
import hashlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

Role = Literal["system", "user", "assistant"]

# Every privacy finding category the scorer can report. Policies may only name these (plus "custom",
# for the terms and patterns a policy adds itself).
PRIVACY_CATEGORIES: tuple[str, ...] = (
    "email",
    "phone",
    "credit_card",
    "iban",
    "national_id",  # checksum-validated national identifiers (stdnum), other than the US SSN
    "us_ssn",
    "driver_license",
    "ip_address",
    "street_address",
    "person",  # a person's name in a personal context
    "api_key",
    "private_key",
    "password",
    "connection_string",
    "jwt",
    "secret",  # high-entropy value in a key=value context
    "custom",  # terms and patterns added by the policy
    "date_of_birth",  # a date of birth in a personal context
    "crypto_wallet",  # a checksummed cryptocurrency address, or one in a payment context
    "mac_address",  # a network interface's hardware address
    "account_number",  # a bank account, routing or record number after the word that names it
)
ROLES: tuple[str, ...] = ("system", "user", "assistant")


class Route(enum.StrEnum):
    LOCAL = "local"
    CLOUD = "cloud"
    CLOUD_REDACTED = "cloud_redacted"
    DENY = "deny"


@dataclass(frozen=True, slots=True)
class Message:
    role: Role
    content: str


@dataclass(frozen=True, slots=True)
class GenerationOptions:
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Request:
    """One chat request as the app sent it (already validated)."""

    messages: tuple[Message, ...]
    app_id: str = "default"
    options: GenerationOptions = field(default_factory=GenerationOptions)
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def text(self) -> str:
        """All message contents joined: what the scorers read."""
        return "\n".join(m.content for m in self.messages)

    @property
    def prompt_hash(self) -> str:
        """The prompt's plain hash. Never stored as is: the decision log keys it with the install's
        secret (`decisions.keyed_prompt_hash`), since a plain hash of a short prompt is reversible by
        brute force."""
        # role NUL content SOH, per message: the same bytes as hashing them piece by piece, in one call.
        joined = "".join([f"{m.role}\x00{m.content}\x01" for m in self.messages])
        return hashlib.sha256(joined.encode()).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class Finding:
    """One private thing found in the text. `start`/`end` are character offsets into Request.text."""

    category: str
    start: int
    end: int
    confidence: float = 1.0


@dataclass(frozen=True, slots=True)
class PrivacyReport:
    score: float
    findings: tuple[Finding, ...] = ()

    @property
    def categories(self) -> dict[str, int]:
        if not self.findings:  # most requests: skip building a Counter for nothing
            return {}
        return dict(sorted(Counter(f.category for f in self.findings).items()))


@dataclass(frozen=True, slots=True)
class ComplexityReport:
    """`score` is the probability that the local answer would not be good enough."""

    score: float
    stage: str = "features"
    # The model stage's calibrated estimate of P(the local answer is good enough); None without one.
    expected_success: float | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    """What the policy decided, and why. Pure data; executing it is somebody else's job."""

    route: Route
    rule: str
    reason: str
    policy_version: str = ""
    # Where to go if the decided route cannot run (cloud down, budget spent, local queue full).
    fallback: Route | None = Route.LOCAL
    deny_message: str = ""
    # What the rule itself asked for, before the live state (cloud down, budget spent, local limits)
    # changed it, and why it changed, in words ("" when the rule got what it asked for).
    wanted: Route | None = None
    note: str = ""


@dataclass(slots=True)
class Timings:
    queue_ms: float = 0.0
    scoring_ms: float = 0.0
    generation_ms: float = 0.0
    cloud_ms: float = 0.0
    total_ms: float = 0.0


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0


FinishReason = Literal["stop", "length", "cancelled", "error"]


class PromptTokens:
    """The prompt's size in tokens, counted on first use.

    Most decisions only ask whether the prompt fits the local context, and `at_most` (a bound the
    backend derives from the prompt's length) answers that for short prompts without running the
    tokenizer, which with a cold cache costs about as much as the rest of a fast decision. Anything that
    needs the number itself (a `prompt_tokens` rule, a token budget, a message) gets the exact count.
    """

    __slots__ = ("_count", "_counter", "at_most")

    def __init__(self, counter: Callable[[], int], at_most: int | None = None) -> None:
        self._counter: Callable[[], int] | None = counter
        self._count: int | None = None
        self.at_most = at_most

    @classmethod
    def known(cls, n: int) -> PromptTokens:
        return cls(lambda: n, at_most=n)

    @property
    def count(self) -> int:
        if self._count is None:
            assert self._counter is not None
            self._count = self._counter()
            self._counter = None
        return self._count

    def more_than(self, limit: int) -> bool:
        """`count > limit`, without counting when the bound already rules it out."""
        if self.at_most is not None and self.at_most <= limit:
            return False
        return self.count > limit

    def __repr__(self) -> str:
        return f"PromptTokens({self._count if self._count is not None else '?'}, at_most={self.at_most})"


@dataclass(frozen=True, slots=True)
class DecisionContext:
    """Everything `decide()` may look at: the request, its scores, and the daemon's live state."""

    request: Request
    privacy: PrivacyReport
    complexity: ComplexityReport
    tokens: PromptTokens
    local_queue_depth: int = 0  # requests waiting for the local model (not counting the one running)
    local_queue_size: int = 1
    cloud_configured: bool = False
    cloud_healthy: bool = False
    local_context_limit: int = 0

    @property
    def prompt_tokens(self) -> int:
        return self.tokens.count
