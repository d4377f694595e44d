"""The privacy scorer: each category found where it is, and not found where it only looks like it."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from router.errors import ConfigError
from router.scoring.privacy import CATEGORY_WEIGHTS, PrivacyScorer, score_findings
from router.types import PRIVACY_CATEGORIES, Finding


@pytest.fixture(scope="module")
def scorer() -> PrivacyScorer:
    return PrivacyScorer()


def found(scorer: PrivacyScorer, text: str) -> list[tuple[str, str]]:
    return [(f.category, text[f.start : f.end]) for f in scorer.scan(text).findings]


def categories(scorer: PrivacyScorer, text: str) -> set[str]:
    return {f.category for f in scorer.scan(text).findings}


POSITIVES: list[tuple[str, str, str]] = [
    # (category, text, exact span expected)
    ("email", "Please write to jane.doe+work@example.co.uk today.", "jane.doe+work@example.co.uk"),
    ("phone", "Call me at +44 20 7946 0958 tomorrow.", "+44 20 7946 0958"),
    ("phone", "My number is (415) 555-2671.", "(415) 555-2671"),
    ("phone", "Reach the office on 030 901820 or not at all", "030 901820"),
    ("phone", "Fax: +1-903-140-4508x769", "+1-903-140-4508x769"),
    ("credit_card", "My card 4111 1111 1111 1111 was declined", "4111 1111 1111 1111"),
    ("credit_card", "charge 5555-5555-5555-4444 please", "5555-5555-5555-4444"),
    ("credit_card", "amex 378282246310005 expires soon", "378282246310005"),
    ("iban", "Transfer to DE89 3704 0044 0532 0130 00 by Friday", "DE89 3704 0044 0532 0130 00"),
    ("iban", "my iban is gb82west12345698765432", "gb82west12345698765432"),
    ("us_ssn", "Here's my SSN: 536-22-1234.", "536-22-1234"),
    ("us_ssn", "social security number 536221234", "536221234"),
    ("national_id", "My BSN is 111222333", "111222333"),
    ("national_id", "henkilötunnus 131052-308T", "131052-308T"),
    ("national_id", "codice fiscale RCCMNL83S18D969H please", "RCCMNL83S18D969H"),
    ("driver_license", "My driver's license number is F162823540116", "F162823540116"),
    ("ip_address", "The attacker came from 203.0.114.7 last night", "203.0.114.7"),
    ("ip_address", "blocked 2606:4700:4701::1234 at the edge", "2606:4700:4701::1234"),
    ("street_address", "I live at 1600 Pennsylvania Avenue in town", "1600 Pennsylvania Avenue"),
    ("street_address", "Send it to Villacher Strasse 89 please", "Villacher Strasse 89"),
    ("street_address", "post it to P.O. Box 1045", "P.O. Box 1045"),
    ("street_address", "Jane Doe, (555) 123-4567, 123 Main St, Boston MA", "123 Main St"),
    ("street_address", "My address is 42 Oak Street, Apt 3B, Springfield.", "42 Oak Street"),
    # building number, street name, house number (several European formats as printed by form fillers)
    ("street_address", "Tove Lund\n4410 Kirkegata 15\nSuite 3\nBergen", "4410 Kirkegata 15"),
    ("street_address", "the taxi drops you off at 5120 storgata 41 st.", "5120 storgata 41"),
    ("street_address", "Address:   7731 Kalevantie 9", "7731 Kalevantie 9"),
    ("street_address", "write to 22 14 Rue des Lilas, Lyon", "22 14 Rue des Lilas"),
    ("street_address", "meet me at the corner of 5 Elm Street and Oak Avenue", "Oak Avenue"),
    ("street_address", "Send it to Laugavegur 22 by Friday", "Laugavegur 22"),
    ("street_address", "Send it to Bajcsy Zsilinszky u. 15. now", "Bajcsy Zsilinszky u. 15."),
    ("street_address", "He lives on the east side of Prinsengracht 263 now", "Prinsengracht 263"),
    ("person", "draft an email to my landlord John Peterson about the heater", "John Peterson"),
    ("person", "Write a poem for my daughter Emma's 7th birthday", "Emma"),
    ("person", "Dr. Smith's phone number is 020 7946 0018", "Smith"),
    ("person", "Hanne I. Kreutzmann from Can Capital is the keynote speaker", "Hanne I. Kreutzmann"),
    ("person", "Hello, my name is Jaroslava P. Sedláčková.", "Jaroslava P. Sedláčková"),
    ("person", "Dear Tristan, thanks for the update", "Tristan"),
    ("person", "patient Anna Kowalski was admitted", "Anna Kowalski"),
    ("person", "my name is vitoria", "vitoria"),
    # spoken to, in a dialogue, in a list of one's people, a personal fact about them
    ("person", "Ingrid, could you send me the minutes?", "Ingrid"),
    ("person", "Stop shouting at me, Harold!", "Harold"),
    ("person", "Tomasz: Where were you?\nLinda: At home.", "Tomasz"),
    ("person", "Tomasz: Where were you?\nLinda: At home.", "Linda"),
    ("person", "Our two founders: Okonkwo and Brennan.", "Brennan"),
    ("person", "They had 3: Wilma, Derek and Ottilie.", "Ottilie"),
    ("person", "Dennis is very forgetful lately.", "Dennis"),
    # a message that opens by asking someone, whatever the name (not in the census list)
    ("person", "Warrane, can I please speak to your boss?", "Warrane"),
    ("person", "Thanks. Oyelaran Adeyemi, could you check the invoice?", "Oyelaran Adeyemi"),
    # a correction of the name on a record
    (
        "person",
        "The name on my account is misspelled, please change it to Bekbolat Musliyevich",
        "Bekbolat Musliyevich",
    ),
    ("person", "Why is Gloria so moody?", "Gloria"),
    ("person", "Rhonda shouted at Kenneth in the car park", "Kenneth"),
    ("person", "the gender of Marcus is nobody's business", "Marcus"),
    ("person", "Margaret Wrzesniewska's killers were sentenced today", "Margaret Wrzesniewska"),
    ("person", "please follow up with monica harrington next week", "monica harrington"),
    ("person", "tracy: hi\nmonica: hello", "monica"),
    ("api_key", "use key AKIAIOSFODNN7EXAMPLE for s3", "AKIAIOSFODNN7EXAMPLE"),
    ("api_key", "OPENAI sk-proj-abcDEF1234567890abcdEF12 set", "sk-proj-abcDEF1234567890abcdEF12"),
    (
        "api_key",
        "token ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789 ok",
        "ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789",
    ),
    ("api_key", "slack xoxb-123456789012-abcdefghijkl fine", "xoxb-123456789012-abcdefghijkl"),
    ("api_key", "maps AIzaSyA1234567890abcdefghijklmnopqrstuv ok", "AIzaSyA1234567890abcdefghijklmnopqrstuv"),
    ("api_key", "stripe sk_live_4eC39HqLyjWDarjtT1zdp7dc", "sk_live_4eC39HqLyjWDarjtT1zdp7dc"),
    ("password", "password=hunter2", "hunter2"),
    ("password", "btw my password is Tr0ub4dor&3 don't share", "Tr0ub4dor&3"),
    (
        "connection_string",
        "DATABASE_URL=postgres://admin:s3cr3t@db.internal:5432/app",
        "postgres://admin:s3cr3t@db.internal:5432/app",
    ),
    ("secret", 'client_secret = "q8Zr2LmX9vT4pW7nK3sD"', "q8Zr2LmX9vT4pW7nK3sD"),
]


@pytest.mark.parametrize(
    ("category", "text", "span"), POSITIVES, ids=[f"{c}-{i}" for i, (c, _, _) in enumerate(POSITIVES)]
)
def test_finds_category_with_exact_span(scorer: PrivacyScorer, category: str, text: str, span: str) -> None:
    assert (category, span) in found(scorer, text)


def test_private_key_block_is_one_finding(scorer: PrivacyScorer) -> None:
    text = (
        "key:\n-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA7\nabc\n-----END RSA PRIVATE KEY-----\nthanks"
    )
    (cat, span), *rest = found(scorer, text)
    assert cat == "private_key" and span.startswith("-----BEGIN") and span.endswith("KEY-----") and not rest


def test_jwt_needs_a_json_header(scorer: PrivacyScorer) -> None:
    jwt = (
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ."
        "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
    )
    assert ("jwt", jwt) in found(scorer, f"Authorization header {jwt} here")
    fake = "eyJub3QganNvbiBhdCBhbGw.eyJzdWIiOiIxMjM0NTY3ODkwIn0.abc"
    assert "jwt" not in categories(scorer, f"token {fake}")


NEGATIVES: list[tuple[str, str]] = [
    # maths word problems with first names, titles and relations: fictional people
    ("person", "Janet\u2019s ducks lay 16 eggs per day. She eats three for breakfast every morning."),
    (
        "person",
        "Harry slept 9 hours last night. His friend James slept only 2/3 of what Harry slept. "
        "How many more hours did Harry sleep?",
    ),
    ("person", "Mr. Tan sold his house for $400 000. How much did he get?"),
    ("person", "Emily has 4 kids named Amy, Jackson, Corey, and James. How old is Amy?"),
    ("person", "Alice and Bob exchange keys using Diffie-Hellman."),
    ("person", "Who wrote Pride and Prejudice? Jane Austen or Charles Dickens?"),
    ("person", "Hong Kong and New York are both financial centres."),
    # the personal cues above, where they do not make a private person
    ("person", "Ava sees that her friends Cole and Xavier have both grown 3 inches. How tall is Cole?"),
    ("person", "Nora's father has 12 cows and buys 3 more each day. How many cows in total after a week?"),
    ("person", "Samuel, a farmer, sells 20 eggs. How much money does he make if each costs $2?"),
    ("person", "Harold is very tall: he is 6 feet. How many inches is that?"),
    ("person", "Question: What is 2+2?\nAnswer: 4"),
    ("person", "Input: a list\nOutput: the sorted list"),
    ("person", "Also, you should read the manual."),
    ("person", "However, you can use Python for that."),
    ("person", "Good morning, Vietnam!"),
    ("person", "A Hula Girl is an extremely potent drink."),
    ("person", "love yourself by justin bieber is about who"),
    ("person", "who plays nathan's mother on general hospital"),
    ("person", "Have you been to a Coldplay concert before?"),
    # openers of a request that are no one's name: discourse words, roles, assistants, acronyms
    ("person", "Sure, can you shorten it?"),
    ("person", "Honestly, could you make it shorter?"),
    ("person", "ChatGPT, can you write a haiku?"),
    ("person", "Siri, will you set a timer?"),
    ("person", "Officer, can I ask a question?"),
    ("person", "NASA, can you hear me?"),
    ("person", "Please change it to Paris in the second sentence."),
    # numbers that look like cards, phones, IPs, SSNs
    ("credit_card", "Order number 4111 1111 1111 1112 was shipped"),  # fails Luhn
    ("credit_card", "The product of the primes is 1234567890123."),
    ("phone", "What is 2121.32 + 4242.64?"),
    ("phone", "Between 2000-2023 the population grew from 20000-30000."),
    ("phone", "Convert 1001 0011 1001 0100 to hexadecimal."),
    ("phone", "In 1999 there were 12 345 people"),
    ("ip_address", "Upgrade to version 1.2.3.4 of the library"),
    ("ip_address", "python 3.11.4.1 is not a release"),
    ("ip_address", "My router is at 192.168.0.1 and the DNS at 10.0.0.53"),  # LAN addresses
    ("ip_address", "use std::vector and a::b::c in C++"),
    ("ip_address", "Should I use 8.8.8.8 or 1.1.1.1 as my DNS server?"),
    ("us_ssn", "The range 000-12-3456 is never issued"),
    ("us_ssn", "Call 555-12-3456"),  # no SSN context and invalid-looking without it? it is a valid SSN shape
    ("iban", "GB82 WEST 1234 5698 7654 33 is not valid"),
    # credentials that are not
    ("password", "Reset the password when the user forgets it."),
    ("password", "def login(username: str, password: str) -> bool:"),
    ("password", "The password is incorrect."),
    ("password", "password = os.environ['DB_PASSWORD']"),
    ("secret", "SECRET_KEY = settings.SECRET_KEY_FROM_ENV"),
    ("secret", "the token limit is abcdefghijklmnopqrstuvwxyz"),
    ("street_address", "I read 3 big books on the way home"),
    ("street_address", "In his State of the Union Address January 23, 1980 he said"),
    ("street_address", "On 12 March 2023 we met again"),
    ("street_address", "In 1945 World War 2 ended."),
    ("street_address", "Top 10 Python 3 tips for beginners"),
    ("street_address", "Flight 2 boards at Gate 23 at 5 pm"),
    ("street_address", "Date\tlabel\n9/25/2023 POSITIVE 0.99\n9/30/2023 POSITIVE 0.98"),
    ("street_address", "I live at 3 different places 4 times a year"),
]


@pytest.mark.parametrize(
    ("category", "text"), NEGATIVES, ids=[f"{c}-{i}" for i, (c, _) in enumerate(NEGATIVES)]
)
def test_look_alikes_are_not_found(scorer: PrivacyScorer, category: str, text: str) -> None:
    if text.startswith("Call 555-12-3456"):
        # A dashed 3-2-4 number with a valid area is reported as an SSN even without context (fail closed),
        # but with lower confidence than one next to "SSN".
        conf = [f.confidence for f in scorer.scan(text).findings if f.category == "us_ssn"]
        ssn_conf = [f.confidence for f in scorer.scan("SSN " + text[5:]).findings if f.category == "us_ssn"]
        assert conf and ssn_conf and conf[0] < ssn_conf[0]
        return
    assert category not in categories(scorer, text), found(scorer, text)


def test_warm_up_runs(scorer: PrivacyScorer) -> None:
    scorer.warm_up()
    assert scorer.scan("card 4111 1111 1111 1111").findings


def test_nothing_found_scores_zero(scorer: PrivacyScorer) -> None:
    report = scorer.scan("What is the capital of France? Explain photosynthesis in 3 sentences.")
    assert report.score == 0.0 and report.findings == ()


def test_structured_high_risk_scores_high_and_more_scores_higher(scorer: PrivacyScorer) -> None:
    one = scorer.scan("card 4111 1111 1111 1111").score
    two = scorer.scan("card 4111 1111 1111 1111 and SSN 536-22-1234").score
    name = scorer.scan("Dear Tristan,").score
    assert one >= 0.9
    assert two > one
    assert 0 < name < one


def test_score_formula() -> None:
    f = [Finding("email", 0, 1, 1.0), Finding("person", 2, 3, 0.5)]
    expected = 1 - (1 - CATEGORY_WEIGHTS["email"]) * (1 - CATEGORY_WEIGHTS["person"] * 0.5)
    assert score_findings(f) == pytest.approx(expected, abs=1e-6)
    assert score_findings([]) == 0.0


def test_only_known_categories_and_no_overlaps(scorer: PrivacyScorer) -> None:
    text = (
        "Dear Anna Kowalski, card 4111111111111111, mail anna@example.com, phone +1 415 555 2671, "
        "postgres://anna:pw123456@db.example.com/x, password=hunter22, 1600 Pennsylvania Avenue"
    )
    report = scorer.scan(text)
    assert {f.category for f in report.findings} <= set(PRIVACY_CATEGORIES)
    spans = sorted((f.start, f.end) for f in report.findings)
    assert all(a_end <= b_start for (_, a_end), (b_start, _) in itertools.pairwise(spans))
    assert len(report.categories) >= 6


def test_an_address_block_is_found_line_by_line(scorer: PrivacyScorer) -> None:
    text = "Tove Lund\n\n4410 Kirkegata 15\n Apt. 12\n Bergen\n\n Norway 5003\nThanks for the order!"
    spans = [s for c, s in found(scorer, text) if c == "street_address"]
    assert spans == ["4410 Kirkegata 15", "Apt. 12", "Bergen", "Norway 5003"]


def test_an_address_in_a_sentence_does_not_take_the_next_lines(scorer: PrivacyScorer) -> None:
    text = "I live at 42 Oak Street\nBergen\nNorway 5003"
    assert [s for c, s in found(scorer, text) if c == "street_address"] == ["42 Oak Street"]


def test_connection_string_beats_email_and_password(scorer: PrivacyScorer) -> None:
    text = "use mysql://root:Passw0rd@db.example.com:3306/shop"
    assert found(scorer, text) == [("connection_string", "mysql://root:Passw0rd@db.example.com:3306/shop")]


def test_custom_terms_and_patterns() -> None:
    s = PrivacyScorer(extra_terms=["Project Bluebird", "ACME-X"], extra_patterns={"ticket": r"\bTCK-\d{5}\b"})
    text = "Status of project bluebird and acme-x? See TCK-12345, not TCK-1."
    assert found(s, text) == [("custom", "project bluebird"), ("custom", "acme-x"), ("custom", "TCK-12345")]
    assert found(s, "bluebird alone is fine") == []


def test_invalid_custom_pattern_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="ticket"):
        PrivacyScorer(extra_patterns={"ticket": "([unclosed"})
    with pytest.raises(ConfigError, match="empty"):
        PrivacyScorer(extra_patterns={"any": ".*"})


def test_empty_and_odd_text(scorer: PrivacyScorer) -> None:
    assert scorer.scan("").score == 0.0
    # Characters whose lower case is longer than themselves must not shift spans.
    text = "İstanbul office: write to ayse@example.com"
    assert ("email", "ayse@example.com") in found(scorer, text)


DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
PRESIDIO = DATA / "privacy" / "presidio_synth_v2.dev.jsonl"
if not PRESIDIO.exists():
    PRESIDIO = Path("/work/shared/data/privacy/presidio_synth_v2.dev.jsonl")


@pytest.mark.skipif(not PRESIDIO.exists(), reason="shared/data/privacy/presidio_synth_v2.dev.jsonl not found")
def test_structured_spans_of_the_presidio_set_are_found(scorer: PrivacyScorer) -> None:
    kinds = {
        "CREDIT_CARD": "credit_card",
        "IBAN_CODE": "iban",
        "US_SSN": "us_ssn",
        "EMAIL_ADDRESS": "email",
        "IP_ADDRESS": "ip_address",
    }
    total = hit = 0
    with open(PRESIDIO, encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            findings = scorer.scan(row["text"]).findings
            for s in row["spans"]:
                cat = kinds.get(s["entity_type"])
                if cat:
                    total += 1
                    hit += any(
                        f.category == cat and f.start < s["end"] and s["start"] < f.end for f in findings
                    )
    assert total > 100
    assert hit / total >= 0.99


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.sampled_from([*"abcXYZ019 .-+@:/'\n()=_İßé", "Mr. ", "password=", "SSN ", "call ", "Anna "]),
        max_size=60,
    ).map("".join)
)
def test_scan_never_fails_and_spans_are_inside_the_text(text: str) -> None:
    report = PrivacyScorer().scan(text)
    assert 0.0 <= report.score <= 1.0
    for f in report.findings:
        assert 0 <= f.start < f.end <= len(text)
        assert f.category in PRIVACY_CATEGORIES
