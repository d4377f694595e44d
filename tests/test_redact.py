"""Reversible redaction: masking, restoring, and restoring a stream split anywhere."""

from __future__ import annotations

import logging

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from router.redact import Redaction, StreamRestorer, placeholder_tag, redact, redact_messages
from router.scoring.privacy import PrivacyScorer
from router.types import Finding, Message, Request

TEXT = "Mail jane@example.com or call +44 20 7946 0958; again: jane@example.com. Card 4111 1111 1111 1111."


@pytest.fixture(scope="module")
def scorer() -> PrivacyScorer:
    return PrivacyScorer()


def test_placeholders_are_typed_and_stable(scorer: PrivacyScorer) -> None:
    masked, red = redact(TEXT, scorer.scan(TEXT).findings)
    assert masked == "Mail <EMAIL_1> or call <PHONE_1>; again: <EMAIL_1>. Card <CREDIT_CARD_1>."
    assert len(red) == 3
    assert red.restore(masked) == TEXT


def test_different_values_get_different_numbers() -> None:
    text = "a@x.io b@y.io a@x.io"
    findings = [Finding("email", 0, 6), Finding("email", 7, 13), Finding("email", 14, 20)]
    masked, red = redact(text, findings)
    assert masked == "<EMAIL_1> <EMAIL_2> <EMAIL_1>"
    assert red.restore("<EMAIL_2> wrote to <EMAIL_1>") == "b@y.io wrote to a@x.io"


def test_overlapping_findings_are_merged() -> None:
    masked, red = redact("0123456789", [Finding("phone", 2, 6), Finding("credit_card", 4, 8)])
    assert masked == "01<PHONE_1>89"
    assert red.restore(masked) == "0123456789"


def test_unknown_placeholders_and_plain_angle_brackets_are_left_alone() -> None:
    _, red = redact("x@y.io", [Finding("email", 0, 6)])
    assert red.restore("<EMAIL_9> <EMAIL_1> a < b > c <div>") == "<EMAIL_9> x@y.io a < b > c <div>"


def test_repr_never_shows_values(caplog: pytest.LogCaptureFixture) -> None:
    _, red = redact("secret sk_live_4eC39HqLyjWDarjtT1zdp7dc", [Finding("api_key", 7, 39)])
    logging.getLogger("test").warning("redaction %s %r", red, red)
    assert "4eC39" not in repr(red) and "4eC39" not in str(red) and "4eC39" not in caplog.text
    assert "1 value" in repr(red)
    restorer = StreamRestorer(red)
    restorer.feed("<API_KEY")
    assert "API_KEY" not in repr(restorer)


def test_category_tags() -> None:
    assert placeholder_tag("credit_card") == "CREDIT_CARD"
    assert placeholder_tag("us_ssn") == "US_SSN"
    assert placeholder_tag("") == "PRIVATE"


def test_redact_messages_maps_request_text_offsets(scorer: PrivacyScorer) -> None:
    messages = (
        Message("system", "You help with e-mail. Owner: ops@example.com"),
        Message("user", "Forward it to jane@example.com and ops@example.com"),
        Message("assistant", "Sure."),
    )
    request = Request(messages=messages)
    report = scorer.scan(request.text)
    masked, red = redact_messages(messages, report.findings)
    assert [m.role for m in masked] == ["system", "user", "assistant"]
    assert masked[0].content == "You help with e-mail. Owner: <EMAIL_1>"
    assert masked[1].content == "Forward it to <EMAIL_2> and <EMAIL_1>"
    assert masked[2] is messages[2]
    assert [red.restore(m.content) for m in masked] == [m.content for m in messages]


def test_span_across_a_message_boundary_is_masked_in_both() -> None:
    messages = (Message("user", "abc secret"), Message("user", "tail xyz"))
    # "\n".join -> "abc secret\ntail xyz"; a finding covering "secret\ntail"
    masked, red = redact_messages(messages, [Finding("secret", 4, 15)])
    assert masked[0].content == "abc <SECRET_1>"
    assert masked[1].content == "<SECRET_2> xyz"
    assert red.restore(masked[0].content + "|" + masked[1].content) == "abc secret|tail xyz"


def test_nothing_to_mask() -> None:
    masked, red = redact("hello", [])
    assert masked == "hello" and len(red) == 0 and red.restore("<EMAIL_1>") == "<EMAIL_1>"
    restorer = StreamRestorer(red)
    assert restorer.feed("<EMA") == "<EMA" and restorer.flush() == ""


def _answer_and_redaction() -> tuple[str, str, Redaction]:
    original = "Hi jane@example.com, your card 4111 1111 1111 1111 and a@b.io; 3 < 4 > 2 <EMAIL_3>"
    findings = [Finding("email", 3, 19), Finding("credit_card", 31, 50), Finding("email", 55, 61)]
    masked, red = redact(original, findings)
    return original, masked, red


def _stream(red: Redaction, chunks: list[str]) -> str:
    restorer = StreamRestorer(red)
    out = [restorer.feed(c) for c in chunks]
    out.append(restorer.flush())
    return "".join(out)


def test_stream_restore_every_single_split_point() -> None:
    original, masked, red = _answer_and_redaction()
    assert "<EMAIL_1>" in masked and "<CREDIT_CARD_1>" in masked
    for i in range(len(masked) + 1):
        assert _stream(red, [masked[:i], masked[i:]]) == original, i


def test_stream_restore_every_pair_of_split_points() -> None:
    original, masked, red = _answer_and_redaction()
    n = len(masked)
    for i in range(n + 1):
        for j in range(i, n + 1):
            assert _stream(red, [masked[:i], masked[i:j], masked[j:]]) == original, (i, j)


def test_stream_restore_char_by_char() -> None:
    original, masked, red = _answer_and_redaction()
    assert _stream(red, list(masked)) == original


def test_stream_holds_back_only_a_possible_placeholder_prefix() -> None:
    _, red = redact("x@y.io", [Finding("email", 0, 6)])
    restorer = StreamRestorer(red)
    assert restorer.feed("hello <") == "hello "
    assert restorer.feed("b>") == "<b>"  # "<b" cannot become "<EMAIL_1>": released at once
    assert restorer.feed(" <EMAIL_") == " "
    assert restorer.feed("1") == ""
    assert restorer.feed("> done <EMAIL_2") == "x@y.io done <EMAIL_2"  # "<EMAIL_2" is no placeholder of ours
    assert restorer.flush() == ""


def test_stream_flush_returns_an_unfinished_prefix_verbatim() -> None:
    _, red = redact("x@y.io", [Finding("email", 0, 6)])
    restorer = StreamRestorer(red)
    assert restorer.feed("the end <EMAI") == "the end "
    assert restorer.flush() == "<EMAI"


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=200), max_size=8))
def test_stream_restore_any_chunking(cuts: list[int]) -> None:
    original, masked, red = _answer_and_redaction()
    points = sorted({min(c, len(masked)) for c in cuts})
    chunks, prev = [], 0
    for p in points:
        chunks.append(masked[prev:p])
        prev = p
    chunks.append(masked[prev:])
    assert _stream(red, chunks) == original


def test_placeholder_text_already_in_the_prompt_is_never_reused() -> None:
    text = "Explain what <EMAIL_1> means in this template, then mail bob@example.com"
    masked, red = redact(text, [Finding("email", 57, 72)])
    assert masked == "Explain what <EMAIL_1> means in this template, then mail <EMAIL_2>"
    assert red.restore(masked) == text


def test_round_trip_on_the_presidio_rows(scorer: PrivacyScorer) -> None:
    import json
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "shared" / "data" / "privacy" / "presidio_synth_v2.dev.jsonl"
    if not path.exists():
        path = Path("/work/shared/data/privacy/presidio_synth_v2.dev.jsonl")
    if not path.exists():
        pytest.skip("shared/data/privacy/presidio_synth_v2.dev.jsonl not found")
    masked_any = 0
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            text = json.loads(line)["text"]
            masked, red = redact(text, scorer.scan(text).findings)
            masked_any += masked != text
            assert red.restore(masked) == text
            assert _stream(red, [masked[i : i + 7] for i in range(0, len(masked), 7)]) == text
    assert masked_any > 500
