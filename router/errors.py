"""Every error the router raises on purpose.

    RouterError
    ├── InvalidRequest        the request is malformed or out of range     -> INVALID_ARGUMENT
    │   └── ContextOverflow   the prompt does not fit the local model      -> INVALID_ARGUMENT
    ├── NotFound              no such decision (Feedback)                  -> NOT_FOUND
    ├── Unauthenticated       missing or wrong app token                   -> UNAUTHENTICATED
    ├── PermissionDenied      an app claimed another app's identity        -> PERMISSION_DENIED
    ├── Denied                the policy refused the request               -> PERMISSION_DENIED
    ├── Overloaded            the local queue is full                      -> RESOURCE_EXHAUSTED
    ├── Cancelled             the caller went away or its deadline passed  -> CANCELLED
    ├── BackendError          the local model failed                       -> INTERNAL
    ├── CloudError            the cloud tier failed (after retries)        -> UNAVAILABLE
    │   ├── CloudNotConfigured
    │   ├── CloudUnavailable  connection refused, 5xx, 429, circuit open
    │   ├── CloudTimeout
    │   └── CloudProtocolError malformed JSON, broken stream
    ├── ModelError            a model file is missing, wrong or unreadable  (start-up)
    ├── ConfigError           settings or policy are invalid                (start-up, CLI)
    └── PrivacyError          a scorer failed: the request must not leave  -> stays local or refused

Messages say what to fix and never contain prompt text or secrets.
"""

from __future__ import annotations


class RouterError(Exception):
    """Base class. `retry_after_s` hints clients when trying again makes sense."""

    retry_after_s: float | None = None

    def __init__(self, message: str, *, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        if retry_after_s is not None:
            self.retry_after_s = retry_after_s


class InvalidRequest(RouterError):
    pass


class ContextOverflow(InvalidRequest):
    def __init__(self, prompt_tokens: int, limit: int) -> None:
        super().__init__(
            f"the prompt has {prompt_tokens} tokens but the local model's context holds {limit} "
            "(including room for the answer); shorten the messages or lower max_tokens"
        )
        self.prompt_tokens = prompt_tokens
        self.limit = limit


class NotFound(RouterError):
    """What the request names does not exist (a decision id that was never recorded, or was pruned)."""


class Unauthenticated(RouterError):
    pass


class PermissionDenied(RouterError):
    pass


class Denied(RouterError):
    """The policy refused the request. Carries the decision id so the app can look it up."""

    def __init__(self, message: str, *, rule: str, decision_id: str) -> None:
        super().__init__(message)
        self.rule = rule
        self.decision_id = decision_id


class Overloaded(RouterError):
    pass


class Cancelled(RouterError):
    pass


class BackendError(RouterError):
    pass


class CloudError(RouterError):
    pass


class CloudNotConfigured(CloudError):
    pass


class CloudUnavailable(CloudError):
    pass


class CloudTimeout(CloudError):
    pass


class CloudProtocolError(CloudError):
    pass


class ModelError(RouterError):
    pass


class ConfigError(RouterError):
    pass


class PrivacyError(RouterError):
    pass
