"""Validation: bad input gets an InvalidRequest that says what to fix."""

from __future__ import annotations

import pytest

from router.errors import InvalidRequest
from router.requests import Limits, build_request


def test_valid_request() -> None:
    r = build_request([("system", "be brief"), ("user", "hi")], app_id="notes", max_tokens=5, stop=["\n"])
    assert r.app_id == "notes"
    assert r.options.max_tokens == 5
    assert r.text == "be brief\nhi"
    assert len(r.prompt_hash) == 32


@pytest.mark.parametrize(
    ("kwargs", "messages", "fragment"),
    [
        ({}, [], "messages is empty"),
        ({}, [("robot", "hi")], "role"),
        ({}, [("user", "   ")], "empty"),
        ({}, [("user", "hi"), ("assistant", "hello")], "end with a 'user'"),
        ({"max_tokens": 0}, [("user", "hi")], "max_tokens"),
        ({"max_tokens": -3}, [("user", "hi")], "max_tokens"),
        ({"temperature": -1.0}, [("user", "hi")], "temperature"),
        ({"temperature": float("nan")}, [("user", "hi")], "temperature"),
        ({"top_p": 0.0}, [("user", "hi")], "top_p"),
        ({"app_id": "bad app!"}, [("user", "hi")], "app_id"),
        ({"stop": [""]}, [("user", "hi")], "stop"),
        ({"limits": Limits(max_request_chars=5)}, [("user", "too long text")], "limit is 5"),
    ],
)
def test_invalid(kwargs: dict, messages: list, fragment: str) -> None:
    with pytest.raises(InvalidRequest, match=fragment):
        build_request(messages, **kwargs)
