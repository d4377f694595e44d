"""One error table per door: every error kind has a gRPC code and an HTTP status, and the gRPC codes
are the ones the servicer used before the tables (issue #19)."""

from __future__ import annotations

import grpc
import pytest

from router import errors
from router.errors import ErrorKind
from router.grpc_status import GRPC_CODES, status_for
from router.http_door import HTTP_STATUS, HttpError

# The gRPC door's codes per error type, as service.STATUS_CODES had them.
EXPECTED_GRPC = {
    errors.InvalidRequest: grpc.StatusCode.INVALID_ARGUMENT,
    errors.NotFound: grpc.StatusCode.NOT_FOUND,
    errors.Unauthenticated: grpc.StatusCode.UNAUTHENTICATED,
    errors.PermissionDenied: grpc.StatusCode.PERMISSION_DENIED,
    errors.Overloaded: grpc.StatusCode.RESOURCE_EXHAUSTED,
    errors.Cancelled: grpc.StatusCode.CANCELLED,
    errors.CloudTimeout: grpc.StatusCode.DEADLINE_EXCEEDED,
    errors.CloudError: grpc.StatusCode.UNAVAILABLE,
    errors.CloudNotConfigured: grpc.StatusCode.UNAVAILABLE,
    errors.CloudUnavailable: grpc.StatusCode.UNAVAILABLE,
    errors.CloudProtocolError: grpc.StatusCode.UNAVAILABLE,
    errors.PrivacyError: grpc.StatusCode.FAILED_PRECONDITION,
    errors.ConfigError: grpc.StatusCode.FAILED_PRECONDITION,
    errors.BackendError: grpc.StatusCode.INTERNAL,
    errors.ModelError: grpc.StatusCode.INTERNAL,
}


# The kind of every error type. A new error type fails `test_every_error_type_is_listed` until it is
# listed here with the kind it should have (an inherited kind is a choice, not an accident).
EXPECTED_KIND: dict[type[errors.RouterError], ErrorKind] = {
    errors.InvalidRequest: ErrorKind.INVALID_REQUEST,
    errors.ContextOverflow: ErrorKind.INVALID_REQUEST,
    errors.NotFound: ErrorKind.NOT_FOUND,
    errors.Unauthenticated: ErrorKind.UNAUTHENTICATED,
    errors.PermissionDenied: ErrorKind.PERMISSION_DENIED,
    errors.Denied: ErrorKind.DENIED,
    errors.Overloaded: ErrorKind.OVERLOADED,
    errors.Cancelled: ErrorKind.CANCELLED,
    errors.CallerGone: ErrorKind.CANCELLED,
    errors.DeadlineExceeded: ErrorKind.TIMEOUT,
    errors.BackendError: ErrorKind.INTERNAL,
    errors.LocalUnavailable: ErrorKind.UNAVAILABLE,
    errors.CloudError: ErrorKind.UNAVAILABLE,
    errors.CloudNotConfigured: ErrorKind.UNAVAILABLE,
    errors.CloudUnavailable: ErrorKind.UNAVAILABLE,
    errors.CloudTimeout: ErrorKind.TIMEOUT,
    errors.CloudProtocolError: ErrorKind.UNAVAILABLE,
    errors.ModelError: ErrorKind.INTERNAL,
    errors.ConfigError: ErrorKind.FAILED_PRECONDITION,
    errors.PrivacyError: ErrorKind.FAILED_PRECONDITION,
    errors.Unexpected: ErrorKind.INTERNAL,
}


def all_error_types() -> list[type[errors.RouterError]]:
    found: list[type[errors.RouterError]] = []
    todo: list[type[errors.RouterError]] = [errors.RouterError]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return found


def test_every_kind_has_a_status_at_every_door() -> None:
    assert set(GRPC_CODES) == set(ErrorKind)
    assert set(HTTP_STATUS) == set(ErrorKind)


def test_grpc_codes_are_unchanged() -> None:
    for cls, code in EXPECTED_GRPC.items():
        assert status_for(cls("x")) == code, cls.__name__
    assert status_for(errors.ContextOverflow(5000, 4096)) == grpc.StatusCode.INVALID_ARGUMENT
    denied = errors.Denied("no", rule="r", decision_id="d")
    assert status_for(denied) == grpc.StatusCode.PERMISSION_DENIED


def test_every_error_type_has_a_kind() -> None:
    for cls in all_error_types():
        if cls is not errors.RouterError:
            assert isinstance(cls.kind, ErrorKind), cls.__name__


def test_every_error_type_is_listed() -> None:
    # Error types are defined in router.errors only (test-made subclasses are left out).
    defined = {cls for cls in all_error_types() if cls is not errors.RouterError}
    defined = {cls for cls in defined if cls.__module__.startswith("router.")}
    assert defined == set(EXPECTED_KIND)
    for cls, kind in EXPECTED_KIND.items():
        assert cls.kind is kind, cls.__name__


def test_an_error_type_without_a_kind_cannot_be_defined() -> None:
    with pytest.raises(TypeError, match="has no error kind"):

        class Kindless(errors.RouterError):
            pass

    class Inherits(errors.CloudError):  # a subclass of a kinded error has its parent's kind
        pass

    assert Inherits.kind is ErrorKind.UNAVAILABLE


def test_unexpected_errors_never_carry_their_message() -> None:
    assert "internal error" in errors.Unexpected().message
    assert status_for(errors.Unexpected()) == grpc.StatusCode.INTERNAL
    assert status_for(errors.DeadlineExceeded("late")) == grpc.StatusCode.DEADLINE_EXCEEDED


def test_http_errors_in_openais_shape() -> None:
    overloaded = HttpError.from_router_error(errors.Overloaded("the local queue is full", retry_after_s=0.2))
    assert overloaded.status == 429
    assert ("retry-after", "1") in overloaded.headers
    assert overloaded.body() == {
        "error": {
            "message": "the local queue is full",
            "type": "rate_limit_error",
            "param": None,
            "code": "overloaded",
        }
    }
    denied = HttpError.from_router_error(errors.Denied("refused", rule="r", decision_id="abc"))
    assert denied.status == 403 and denied.code == "policy_denied"
    assert ("x-router-decision-id", "abc") in denied.headers
    assert HttpError.from_router_error(errors.CloudTimeout("slow")).status == 504
    assert HttpError.from_router_error(errors.CloudUnavailable("down")).status == 503
    late = HttpError.from_router_error(errors.DeadlineExceeded("late"))
    assert (late.status, late.type, late.code) == (504, "timeout_error", "timeout")
    internal = HttpError.from_router_error(errors.Unexpected())
    assert (internal.status, internal.type, internal.code) == (500, "api_error", "internal")


def test_http_codes_are_the_kinds_except_a_policy_denial() -> None:
    for kind, (_status, _type, code) in HTTP_STATUS.items():
        assert code == ("policy_denied" if kind is ErrorKind.DENIED else kind.value)
