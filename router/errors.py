"""Every error the router raises on purpose.

    RouterError
    ├── InvalidRequest        the request is malformed or out of range     -> INVALID_ARGUMENT
    │   └── ContextOverflow   the prompt does not fit the local model      -> INVALID_ARGUMENT
    ├── NotFound              no such decision (Feedback)                  -> NOT_FOUND
    ├── Unauthenticated       missing or wrong app token                   -> UNAUTHENTICATED
    ├── PermissionDenied      an app claimed another app's identity        -> PERMISSION_DENIED
    ├── Denied                the policy refused the request               -> PERMISSION_DENIED
    ├── Overloaded            the local queue is full                      -> RESOURCE_EXHAUSTED
    ├── Cancelled             the caller went away or read nothing in time -> CANCELLED
    │   └── CallerGone        its connection broke while an answer was written
    ├── DeadlineExceeded      the call ran past its or the daemon's deadline -> DEADLINE_EXCEEDED
    ├── BackendError          the local model failed                       -> INTERNAL
    │   └── LocalUnavailable  the local runtime over HTTP is down or hung  -> UNAVAILABLE
    ├── CloudError            the cloud tier failed (after retries)        -> UNAVAILABLE
    │   ├── CloudNotConfigured
    │   ├── CloudUnavailable  connection refused, 5xx, 429, circuit open
    │   ├── CloudTimeout                                                   -> DEADLINE_EXCEEDED
    │   └── CloudProtocolError malformed JSON, broken stream
    ├── ModelError            a model file is missing, wrong or unreadable  (start-up)
    ├── ConfigError           settings or policy are invalid                (start-up, CLI)
    ├── PrivacyError          a scorer failed: the request must not leave  -> stays local or refused
    └── Unexpected            anything else, raised as a door's answer     -> INTERNAL
                              (its message never quotes the original error: that could quote the prompt)

Messages say what to fix and never contain prompt text or secrets.

Each error carries a transport-neutral `kind` (ErrorKind) and, where it has one, the `decision_id` the
app can look up; every door has one table from kinds to its own statuses
(`router.grpc_status.GRPC_CODES`, `router.http_door.HTTP_STATUS`) and no per-type branches. A class
that has no kind (declared or inherited from a RouterError subclass) fails when it is defined.
"""

from __future__ import annotations

import enum
from typing import ClassVar


class ErrorKind(enum.StrEnum):
    """What went wrong, in words any door can map to its own status."""

    INVALID_REQUEST = "invalid_request"
    NOT_FOUND = "not_found"
    UNAUTHENTICATED = "unauthenticated"
    PERMISSION_DENIED = "permission_denied"
    DENIED = "denied"  # by the routing policy
    OVERLOADED = "overloaded"
    CANCELLED = "cancelled"
    TIMEOUT = "timeout"
    UNAVAILABLE = "unavailable"
    FAILED_PRECONDITION = "failed_precondition"
    INTERNAL = "internal"


class RouterError(Exception):
    """Base class. `retry_after_s` hints clients when trying again makes sense; `decision_id` names the
    decision-log row of the request that failed, when the door should hand it to the app."""

    retry_after_s: float | None = None
    decision_id: str | None = None
    kind: ClassVar[ErrorKind]  # every subclass declares or inherits one (checked below)

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if not isinstance(getattr(cls, "kind", None), ErrorKind):
            raise TypeError(
                f"{cls.__name__} has no error kind: set `kind = ErrorKind.<...>` on it, so that every door "
                "maps it to a status"
            )

    def __init__(self, message: str, *, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        if retry_after_s is not None:
            self.retry_after_s = retry_after_s


class InvalidRequest(RouterError):
    kind = ErrorKind.INVALID_REQUEST


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

    kind = ErrorKind.NOT_FOUND


class Unauthenticated(RouterError):
    kind = ErrorKind.UNAUTHENTICATED


class PermissionDenied(RouterError):
    kind = ErrorKind.PERMISSION_DENIED


class Denied(RouterError):
    """The policy refused the request. Carries the decision id so the app can look it up."""

    kind = ErrorKind.DENIED

    def __init__(self, message: str, *, rule: str, decision_id: str) -> None:
        super().__init__(message)
        self.rule = rule
        self.decision_id = decision_id


class Overloaded(RouterError):
    kind = ErrorKind.OVERLOADED


class Cancelled(RouterError):
    kind = ErrorKind.CANCELLED


class CallerGone(Cancelled):
    """The caller went away while its answer was being written (its connection broke): recorded with
    status CANCELLED, as when it goes away between writes."""


class DeadlineExceeded(RouterError):
    """The call ran past its deadline (the caller's, or the daemon's default for calls that set none)."""

    kind = ErrorKind.TIMEOUT


class BackendError(RouterError):
    kind = ErrorKind.INTERNAL


class LocalUnavailable(BackendError):
    """The local runtime over HTTP (--local-url) cannot be reached, timed out or failed (5xx). The
    request is not sent anywhere else for it: the policy's fallback, if any, decides."""

    kind = ErrorKind.UNAVAILABLE


class CloudError(RouterError):
    kind = ErrorKind.UNAVAILABLE


class CloudNotConfigured(CloudError):
    pass


class CloudUnavailable(CloudError):
    pass


class CloudTimeout(CloudError):
    kind = ErrorKind.TIMEOUT


class CloudProtocolError(CloudError):
    pass


class ModelError(RouterError):
    kind = ErrorKind.INTERNAL


class ConfigError(RouterError):
    kind = ErrorKind.FAILED_PRECONDITION


class PrivacyError(RouterError):
    kind = ErrorKind.FAILED_PRECONDITION


class Unexpected(RouterError):
    """What a door answers for an error that is not a RouterError (a bug): a fixed message, never the
    original one (it could quote the prompt); the daemon logs the original's type."""

    kind = ErrorKind.INTERNAL

    def __init__(self) -> None:
        super().__init__("internal error in the router; the daemon log has details")
