"""Real-world formats (issue #17): credentials in every common shape, card codes, national IDs, dates of
birth, wallets, MACs, lower-case names beside an identifier; each as a positive and as a near miss. Also
the registry, the name lists as package data, the `names` switch, and linear time on adversarial input."""

from __future__ import annotations

import base64
import random
import re
import string
import time
import tomllib
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from bench import privacy_sets
from router.errors import ConfigError
from router.policy import parse_policy
from router.scoring import PolicyPrivacy
from router.scoring.privacy import CATEGORY_WEIGHTS, DETECTORS, MAX_FINDINGS, PrivacyScorer
from router.scoring.privacy._base import detector
from router.scoring.privacy.credentials import _VENDOR_TOKENS
from router.types import PRIVACY_CATEGORIES

ROOT = Path(__file__).resolve().parents[1]
_rng = random.Random(1717)


def _rand(alphabet: str, n: int) -> str:
    return "".join(_rng.choice(alphabet) for _ in range(n))


B64 = string.ascii_letters + string.digits + "+/"
ACCOUNT_KEY = _rand(B64, 86) + "=="
KEY_BODY = "MIIEowIBAAKCAQEA" + _rand(B64, 48) + "\n" + _rand(B64, 64) + "\n" + _rand(B64, 40)
BASIC = base64.b64encode(b"deploy:Sup3rS3cretPw").decode()
PEM_MIDDLE = "\n".join(_rand(B64, 64) for _ in range(4)) + "\n" + _rand(B64, 20) + "=="


@pytest.fixture(scope="module")
def scorer() -> PrivacyScorer:
    return PrivacyScorer()


def found(scorer: PrivacyScorer, text: str) -> list[tuple[str, str]]:
    return [(f.category, text[f.start : f.end]) for f in scorer.scan(text).findings]


# (what, text, a category that must be found, a string that must lie inside one of its findings)
POSITIVES: list[tuple[str, str, str, str]] = [
    ("env password", "DATABASE_PASSWORD=Sup3rS3cretPw", "password", "Sup3rS3cretPw"),
    ("xml token", "<adafruitToken>z8x7c6v5b4n3m2l1k9j8h7g6f5d4s3a2</adafruitToken>", "secret", "z8x7c6v5b4"),
    ("xml password", "<password>Sup3rS3cret</password>", "password", "Sup3rS3cret"),
    ("go typed var", 'var fooToken string = "h7Gk2pQ9xZ4mW8vR1tY6"', "secret", "h7Gk2pQ9xZ4mW8vR1tY6"),
    ("go typed password", 'var dbPassword string = "Sup3rS3cretPw"', "password", "Sup3rS3cretPw"),
    ("vendor-named key", 'adafruit_key = "z8x7c6v5b4n3m2l1k9j8h7g6f5d4s3a2"', "secret", "z8x7c6v5b4n3m2l1"),
    ("go-style token", 'airtableToken := "key7fGh3Jk9LmNp2Q"', "secret", "key7fGh3Jk9LmNp2Q"),
    ("yaml password", "db:\n  password: Wint3r-Harbor!", "password", "Wint3r-Harbor!"),
    ("json api key", '{"apiKey": "q8Zr2LmX9vT4pW7nK3sDq8Zr"}', "secret", "q8Zr2LmX9vT4pW7nK3sDq8Zr"),
    ("export token", "export SERVICE_TOKEN=h7Gk2pQ9xZ4mW8vR1tY6", "secret", "h7Gk2pQ9xZ4mW8vR1tY6"),
    (
        "azure storage",
        f"DefaultEndpointsProtocol=https;AccountName=acme;AccountKey={ACCOUNT_KEY};EndpointSuffix=core.windows.net",
        "connection_string",
        ACCOUNT_KEY,
    ),
    (
        "sql server",
        "Server=tcp:sql01,1433;Database=crm;User Id=sa;Password=Sup3rS3cretPw;",
        "connection_string",
        "Sup3rS3cretPw",
    ),
    ("redis no user", "redis://:Sup3rS3cretPw@cache.internal:6379/0", "connection_string", "Sup3rS3cretPw"),
    (
        "https userinfo",
        "git clone https://deploy:Sup3rS3cretPw@git.example.org/r.git",
        "connection_string",
        "Sup3rS3cretPw",
    ),
    (
        "jdbc query",
        "jdbc:mysql://db01:3306/crm?user=admin&password=Sup3rS3cretPw",
        "connection_string",
        "Sup3rS3cretPw",
    ),
    ("curl -u", "curl -u admin:Sup3rS3cretPw https://intranet.example.com", "password", "Sup3rS3cretPw"),
    ("basic auth", f"Authorization: Basic {BASIC}", "password", BASIC),
    (
        "bare key in context",
        "the HMAC signing key is 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "secret",
        "9f86d081",
    ),
    ("key body without armour", f"here is the key:\n{KEY_BODY}\nthanks", "private_key", KEY_BODY[:40]),
    ("middle of a key body", f"ssh rejects this:\n{PEM_MIDDLE}\nwhy?", "private_key", PEM_MIDDLE[:64]),
    (
        "slack webhook",
        "post to https://hooks.slack.com/services/T0ABCDEFG/B0HIJKLMN/abcdEFGHijklMNOPqrstUVWX",
        "api_key",
        "hooks.slack.com",
    ),
    ("cvv beside card", "card 4111 1111 1111 1111 cvv 123 exp 12/27", "credit_card", "123"),
    ("expiry beside card", "card 4111 1111 1111 1111 cvv 123 exp 12/27", "credit_card", "12/27"),
    ("bare expiry after card", "4111 1111 1111 1111 08/29", "credit_card", "08/29"),
    (
        "lower-case name beside ssn",
        "robert johnson, ssn 536-22-1234, asked for a copy",
        "person",
        "robert johnson",
    ),
    ("judged, then a pronoun", "Shovda is very reliable. You can always depend on him.", "person", "Shovda"),
    ("where a person works", "Anna is from Plotwatt", "person", "Anna"),
    ("patient then name", "Patient John Doe, age 45, diagnosed with diabetes", "person", "John Doe"),
    ("ssn context, unissued area", "my social security number is 987-65-4321", "us_ssn", "987-65-4321"),
    ("password after 'and'", "my username is jdoe and password is P@ssw0rd!", "password", "P@ssw0rd!"),
    ("bank account", "My bank account number is 12345678", "account_number", "12345678"),
    ("routing number", "routing 021000021", "account_number", "021000021"),
    ("sort code", "sort code 12-34-56", "account_number", "12-34-56"),
    ("medical record number", "My medical record number is MRN-0012345", "account_number", "MRN-0012345"),
    ("uk nino", "My National Insurance number is AB 12 34 56 C", "national_id", "AB 12 34 56 C"),
    ("spanish dni", "DNI 12345678Z", "national_id", "12345678Z"),
    ("polish pesel", "PESEL 44051401359", "national_id", "44051401359"),
    ("german steuer-id", "Steuer-ID 36574261809", "national_id", "36574261809"),
    ("french nir", "numéro de sécurité sociale 295109912611193 pour", "national_id", "295109912611193"),
    ("canadian sin", "my SIN is 130 692 544", "national_id", "130 692 544"),
    ("aadhaar", "aadhaar 2341 2341 2346 linked to my bank", "national_id", "2341 2341 2346"),
    ("indian pan", "My PAN is ABCPD1234E", "national_id", "ABCPD1234E"),
    ("us itin", "ITIN 912-70-1234", "national_id", "912-70-1234"),
    ("eu vat", "Invoice to VAT number DE136695976", "national_id", "DE136695976"),
    ("australian abn", "ABN 51 824 753 556", "national_id", "51 824 753 556"),
    ("passport", "passport number 963545637", "national_id", "963545637"),
    ("date of birth", "my date of birth is 14 March 1987", "date_of_birth", "14 March 1987"),
    ("born in a personal context", "I was born on 03/07/1992 in Leeds", "date_of_birth", "03/07/1992"),
    (
        "bitcoin",
        "send it to 1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2",
        "crypto_wallet",
        "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2",
    ),
    (
        "bech32",
        "wallet bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq",
        "crypto_wallet",
        "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq",
    ),
    (
        "ethereum",
        "my wallet 0x742d35Cc6634C0532925a3b844Bc454e4438f44e",
        "crypto_wallet",
        "0x742d35Cc6634C0532925a3b844Bc454e4438f44e",
    ),
    ("mac", "whitelist MAC 00:1A:2B:3C:4D:5E please", "mac_address", "00:1A:2B:3C:4D:5E"),
    ("documentation ip", "someone logged in from 203.0.113.195", "ip_address", "203.0.113.195"),
]


@pytest.mark.parametrize(("what", "text", "category", "inside"), POSITIVES, ids=[p[0] for p in POSITIVES])
def test_format_is_found(scorer: PrivacyScorer, what: str, text: str, category: str, inside: str) -> None:
    spans = found(scorer, text)
    assert any(c == category and inside in s for c, s in spans), spans


# Near misses: look like the positives above, and are not private.
NEGATIVES: list[tuple[str, str]] = [
    ("env variable reference", "DATABASE_PASSWORD=${DB_PASSWORD}"),
    ("password from the environment", "password = os.environ['DB_PASSWORD']"),
    ("password type annotation", "def connect(user: str, password: str) -> None:"),
    ("password setting", "PASSWORD_MIN_LENGTH=12"),
    ("code identifier", "user.password = newPassword;"),
    ("masked", "password: ********"),
    ("xml variable", "<token>${TOKEN}</token>"),
    ("xml word", "<key>name</key>"),
    ("example value", 'password = "example-password"'),
    ("sort key", 'sort_key = "created_at"'),
    ("namespaced cache key", "cache key: user:1234:profile"),
    ("template", "api_key: {{ vault_api_key }}"),
    ("azure without key", "DefaultEndpointsProtocol=https;AccountName=acme;EndpointSuffix=core.windows.net"),
    ("url without password", "postgresql://app@db.internal:5432/app"),
    ("url with placeholder", "postgres://user:password@localhost:5432/mydb"),
    ("url with variable", "redis://:${REDIS_PASSWORD}@cache:6379/0"),
    ("docker uid", "docker run -u 1000:1000 -v $PWD:/app image"),
    ("curl variables", "curl -u $USER:$TOKEN https://api.example.com"),
    ("basic realm", 'WWW-Authenticate: Basic realm="staging"'),
    (
        "public key",
        "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAu1SU1LfVLPHCozMxH2Mo\n",
    ),
    ("certificate body", f"-----BEGIN CERTIFICATE-----\n{PEM_MIDDLE}\n-----END CERTIFICATE-----"),
    ("git sha", "git cherry-pick 9fceb02d0ae598e95dc970b74767f19372d61af8"),
    ("uuid", "request id d2db5ec4-6e7a-11ee-b962-0242ac120002 failed"),
    ("placeholder aws id", "AKIAXXXXXXXXXXXXXXXX"),
    ("cvv without a number", "What does the CVV on a card protect against?"),
    ("fraction", "Convert 12/27 to a decimal."),
    ("a place judged", "Paris is very expensive. You can always find a cheap bistro there."),
    ("a food's origin", "Sushi is from Japan, right?"),
    ("a role, then a word", "Patient Zero is a film about an outbreak."),
    ("account number question", "What is an account number and where do I find it?"),
    ("invalid routing number", "routing 021000022"),
    ("lower-case name alone", "robert johnson wrote a book about jazz"),
    ("invalid ni prefix", "the form code is BG 12 34 56 C"),
    ("passport without number", "Do I need a passport to fly to Ireland?"),
    ("historical birth", "Mozart was born on 27 January 1756 in Salzburg."),
    ("birthday prose", "Write a birthday poem for a friend turning 40."),
    ("bitcoin-like bad checksum", "send it to 1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN3"),
    ("hex without wallet context", "the hash is 0x742d35Cc6634C0532925a3b844Bc454e4438f44e"),
    ("broadcast mac", "frames to ff:ff:ff:ff:ff:ff go to everyone"),
    ("time", "the race ended at 12:45:33"),
    ("lan ip", "my router is 192.168.1.1"),
]


@pytest.mark.parametrize(("what", "text"), NEGATIVES, ids=[n[0] for n in NEGATIVES])
def test_near_miss_is_not_found(scorer: PrivacyScorer, what: str, text: str) -> None:
    assert found(scorer, text) == []


def test_every_credential_family_of_the_benchmark_is_found(scorer: PrivacyScorer) -> None:
    missed = [family for family, text in privacy_sets.credentials(seed=5) if not scorer.scan(text).findings]
    assert missed == []


def test_no_near_miss_family_of_the_benchmark_is_found(scorer: PrivacyScorer) -> None:
    flagged = [family for family, text in privacy_sets.near_misses(seed=5) if scorer.scan(text).findings]
    assert flagged == []


def test_every_vendor_token_format_passes_the_lookahead_of_the_token_scan() -> None:
    """The token scan tries its hundred formats only where 15 characters of [\\w.~=+/:-] follow (speed): a
    format that could be shorter, or hold another character, would never be found."""
    for token in _VENDOR_TOKENS:
        parsed = re._parser.parse(token)
        assert parsed.getwidth()[0] >= 15, token
        assert all(re.fullmatch(r"[\w.~=+/:-]", ch) for ch in _characters(parsed)), token


def _characters(parsed: Any) -> Iterator[str]:
    """Every character a parsed pattern can match; a space for wider classes (\\s, `.`, negated ones)."""
    c = re._constants
    for op, av in parsed:
        if op is c.LITERAL:
            yield chr(av)
        elif op is c.RANGE:
            yield from map(chr, range(av[0], av[1] + 1))
        elif op is c.CATEGORY:
            yield "a" if av in (c.CATEGORY_DIGIT, c.CATEGORY_WORD) else " "
        elif op is c.IN:
            yield from _characters(av)
        elif op in (c.MAX_REPEAT, c.MIN_REPEAT):
            yield from _characters(av[2])
        elif op is c.SUBPATTERN:
            yield from _characters(av[3])
        elif op is c.BRANCH:
            for branch in av[1]:
                yield from _characters(branch)
        elif op is not c.AT:
            yield " "


def test_credentials_never_surface_as_other_categories(scorer: PrivacyScorer) -> None:
    """A URL's password is a connection string (a secret, kept local by the default policy), not an
    e-mail that would be sent redacted."""
    assert found(scorer, "redis://:pw12345@cache.internal:6379/0") == [
        ("connection_string", "redis://:pw12345@cache.internal:6379/0")
    ]


# --------------------------------------------------------------------------------------------- registry


def test_registry_covers_every_category_once_with_one_weight_and_priority() -> None:
    assert set(CATEGORY_WEIGHTS) == set(PRIVACY_CATEGORIES)
    by_category: dict[str, set[tuple[float, int]]] = {}
    for d in DETECTORS:
        by_category.setdefault(d.category, set()).add((d.weight, d.priority))
        assert d.stage in (1, 2) and callable(d.fn)
    assert all(len(v) == 1 for v in by_category.values())
    assert set(by_category) | {"custom"} == set(PRIVACY_CATEGORIES)


def test_a_detector_with_another_weight_for_a_category_is_refused() -> None:
    with pytest.raises(ValueError, match="one category, one of each"):
        detector("email", weight=0.1, priority=70)(lambda scan, out: None)


def test_name_lists_are_package_data_and_declared_for_the_wheel() -> None:
    data = resources.files("router.scoring.privacy").joinpath("data")
    given = data.joinpath("given_names.txt").read_text("utf-8").split()
    assert "patricia" in given and len(given) > 4000
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert "router.scoring.privacy" in config["packages"]
    assert config["package-data"]["router.scoring.privacy"] == ["data/*.txt"]
    assert not (ROOT / "router" / "scoring" / "_names.py").exists()


# ------------------------------------------------------------------------------------------ names switch


def test_names_anywhere_reports_full_names_without_context() -> None:
    text = "Who was Charles Darwin and what did he discover?"
    assert found(PrivacyScorer(), text) == []
    assert found(PrivacyScorer(names="anywhere"), text) == [("person", "Charles Darwin")]
    assert found(PrivacyScorer(names="anywhere"), "robert johnson wrote a book") == [
        ("person", "robert johnson")
    ]
    with pytest.raises(ConfigError, match="names mode"):
        PrivacyScorer(names="everywhere")


def test_the_policy_switch_reaches_the_scorer() -> None:
    def policy(names: str) -> object:
        text = f"format: 1\ndefault: local\nprivacy: {{names: {names}}}\nrules: []\n"
        p, problems = parse_policy(text.encode(), "test")
        assert p is not None, problems
        return p

    class Source:
        current = policy("personal_context")

    privacy = PolicyPrivacy(Source())
    assert not privacy.scan("Who was Charles Darwin?").findings
    Source.current = policy("anywhere")
    assert privacy.scan("Who was Charles Darwin?").categories == {"person": 1}
    p, problems = parse_policy(b"format: 1\ndefault: local\nprivacy: {names: everywhere}\nrules: []\n", "t")
    assert p is None and any("names" in str(x) for x in problems)


# ----------------------------------------------------------------------------------------- linear time

LIMIT = 200_000  # the request size limit (router.config max_request_chars)


@pytest.mark.parametrize("name", [*privacy_sets.ADVERSARIAL_UNITS, *privacy_sets.ADVERSARIAL_DISTINCT])
def test_adversarial_text_scans_in_linear_time_with_capped_findings(scorer: PrivacyScorer, name: str) -> None:
    small, big = privacy_sets.adversarial(LIMIT // 10)[name], privacy_sets.adversarial(LIMIT)[name]
    times = []
    for text in (small, big):
        best = float("inf")
        for _ in range(2):
            t0 = time.process_time()
            report = scorer.scan(text)
            best = min(best, time.process_time() - t0)
        times.append(best)
        assert len(report.findings) <= MAX_FINDINGS
    # ten times the text: about ten times the time (never the quadratic hundred); generous for a busy CI
    assert times[1] < 2.0, f"{name}: {times[1]:.2f} s for {LIMIT} characters"
    assert times[1] < 25 * max(times[0], 0.002), f"{name}: {times}"


def test_a_detector_out_of_validation_budget_reports_the_rest_of_the_text(scorer: PrivacyScorer) -> None:
    """Thousands of ID-shaped numbers after ID words, none valid: the national-ID detector stops
    validating and reports the text from there on, unvalidated (fail closed), instead of taking seconds."""
    text = "".join(
        f"passport {n:08d} and tax id {n * 7 % 10**9:09d}. " for n in range(10_000_000, 10_004_000)
    )
    t0 = time.process_time()
    report = scorer.scan(text)
    assert time.process_time() - t0 < 2.0
    last = max(report.findings, key=lambda f: f.end)
    assert last.end == len(text)


def test_a_capped_run_of_findings_is_still_masked_to_the_end(scorer: PrivacyScorer) -> None:
    """The 199,000-character prompt of issue #17: every name in it lies inside a finding."""
    text = "Mr John " * 24875
    report = scorer.scan(text)
    assert len(report.findings) <= MAX_FINDINGS
    covered = sorted((f.start, f.end) for f in report.findings)
    johns = [i for i in range(3, len(text), 8)]  # "Mr John " -> "John" at offset 3
    j = 0
    for pos in johns:
        while j < len(covered) and covered[j][1] <= pos:
            j += 1
        assert j < len(covered) and covered[j][0] <= pos, f"John at {pos} is not masked"
