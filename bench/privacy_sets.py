"""The privacy benchmark's own sets, built here rather than copied from another project's tests.

- `credentials()`: one credential per format family, in the shape its vendor or standard documents it
  (prefix, alphabet, length; connection strings and headers as their documentation writes them),
  with a random body drawn from a seeded generator, and wrapped in one of several sentences.
- `near_misses()`: strings of the same families that look like credentials and are not: documentation
  placeholders, variables and templates, too short or wrongly cased bodies, public keys, hashes, UUIDs,
  user names without a password, numbers in an ID-like place.
- `pii_prompts()`: prompts a user of a router would write with private data in them (bench/data/
  pii_prompts.jsonl, written for this benchmark), and the leaks reported in issue #17.
- `adversarial(size)`: texts built to make a scanner slow (repeated name cues, address fragments,
  numbers, phone numbers, e-mails, key assignments).

Every set is generated from a fixed seed, so two runs measure the same strings.
"""

from __future__ import annotations

import json
import random
import string
from collections.abc import Callable
from pathlib import Path

B64 = string.ascii_letters + string.digits + "+/"
B64URL = string.ascii_letters + string.digits + "-_"
ALNUM = string.ascii_letters + string.digits
LOWER_ALNUM = string.ascii_lowercase + string.digits
UPPER_ALNUM = string.ascii_uppercase + string.digits
HEX = "0123456789abcdef"
BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"

Gen = Callable[[random.Random], str]


def r(alphabet: str, n: int) -> Gen:
    return lambda rng: "".join(rng.choice(alphabet) for _ in range(n))


def cat(*parts: str | Gen) -> Gen:
    return lambda rng: "".join(p if isinstance(p, str) else p(rng) for p in parts)


def password(rng: random.Random) -> str:
    word = rng.choice(["Sunset", "Falcon", "Harbor", "Maple", "Quartz", "Winter", "Cobalt", "Orchid"])
    return f"{word}{rng.randint(10, 9999)}{rng.choice('!#$%&*?')}{rng.choice(string.ascii_lowercase)}"


# (family, generator): the documented shape of each format.
CREDENTIAL_FORMATS: list[tuple[str, Gen]] = [
    ("aws access key id", cat("AKIA", r(UPPER_ALNUM.replace("0", "").replace("1", ""), 16))),
    ("aws secret access key", cat("aws_secret_access_key = ", r(B64, 40))),
    ("github classic token", cat("ghp_", r(ALNUM, 36))),
    ("github fine-grained token", cat("github_pat_", r(ALNUM, 22), "_", r(ALNUM, 59))),
    ("github app token", cat("ghs_", r(ALNUM, 36))),
    ("gitlab personal token", cat("glpat-", r(B64URL, 20))),
    ("slack bot token", cat("xoxb-", r(string.digits, 12), "-", r(string.digits, 13), "-", r(ALNUM, 24))),
    (
        "slack webhook",
        cat(
            "https://hooks.slack.com/services/T",
            r(UPPER_ALNUM, 8),
            "/B",
            r(UPPER_ALNUM, 8),
            "/",
            r(ALNUM, 24),
        ),
    ),
    ("stripe secret key", cat("sk_live_", r(ALNUM, 24))),
    ("stripe webhook secret", cat("whsec_", r(ALNUM, 32))),
    ("openai key", cat("sk-proj-", r(B64URL, 48))),
    ("anthropic key", cat("sk-ant-api03-", r(B64URL, 93), "AA")),
    ("hugging face token", cat("hf_", r(ALNUM, 34))),
    ("npm token", cat("npm_", r(ALNUM, 36))),
    ("pypi token", cat("pypi-AgEIcHlwaS5vcmc", r(B64URL, 70))),
    ("google api key", cat("AIza", r(B64URL, 35))),
    ("google oauth client secret", cat("GOCSPX-", r(B64URL, 28))),
    ("sendgrid key", cat("SG.", r(B64URL, 22), ".", r(B64URL, 43))),
    ("twilio api key", cat("SK", r(HEX, 32))),
    ("digitalocean token", cat("dop_v1_", r(HEX, 64))),
    ("shopify access token", cat("shpat_", r(HEX, 32))),
    ("hashicorp vault token", cat("hvs.", r(B64URL, 90))),
    ("doppler token", cat("dp.pt.", r(ALNUM, 43))),
    ("new relic user key", cat("NRAK-", r(UPPER_ALNUM, 27))),
    ("postman key", cat("PMAK-", r(HEX, 24), "-", r(HEX, 34))),
    ("mailgun key", cat("key-", r(HEX, 32))),
    ("mailchimp key", cat(r(HEX, 32), "-us", r(string.digits, 2))),
    ("telegram bot token", cat(r(string.digits, 10), ":AA", r(B64URL, 33))),
    ("databricks token", cat("dapi", r(HEX, 32))),
    ("planetscale password", cat("pscale_pw_", r(B64URL, 43))),
    ("age secret key", cat("AGE-SECRET-KEY-1", r("QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L", 58))),
    ("jwt", cat("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiI", r(B64URL, 30), ".", r(B64URL, 43))),
    (
        "pem private key",
        cat(
            "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC",
            r(B64, 32),
            "\n",
            r(B64, 64),
            "\n-----END PRIVATE KEY-----",
        ),
    ),
    (
        "private key body without armour",
        cat("MIIEowIBAAKCAQEA", r(B64, 48), "\n", r(B64, 64), "\n", r(B64, 64)),
    ),
    ("openssh key body", cat("b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ", r(B64, 30), "\n", r(B64, 70))),
    ("env password", cat("DATABASE_PASSWORD=", password)),
    ("yaml password", cat("password: ", password)),
    ("json api key", cat('{"apiKey": "', r(ALNUM, 32), '"}')),
    ("env token", cat("export SERVICE_TOKEN=", r(ALNUM, 40))),
    (
        "postgres url",
        cat("postgresql://app:", password, "@db.", r(string.ascii_lowercase, 6), ".internal:5432/app"),
    ),
    ("mysql url", cat("mysql://root:", password, "@10.0.3.7:3306/shop")),
    (
        "mongodb srv url",
        cat("mongodb+srv://svc:", r(ALNUM, 16), "@cluster0.", r(LOWER_ALNUM, 5), ".mongodb.net/prod"),
    ),
    ("redis url without user", cat("redis://:", r(ALNUM, 18), "@cache.internal:6379/0")),
    ("amqp url", cat("amqps://worker:", r(ALNUM, 14), "@mq.example.net/vhost")),
    ("https basic-auth url", cat("https://deploy:", password, "@git.example.org/repo.git")),
    (
        "azure storage connection string",
        cat(
            "DefaultEndpointsProtocol=https;AccountName=",
            r(LOWER_ALNUM, 10),
            ";AccountKey=",
            r(B64, 86),
            "==;EndpointSuffix=core.windows.net",
        ),
    ),
    (
        "azure service bus",
        cat(
            "Endpoint=sb://",
            r(LOWER_ALNUM, 8),
            ".servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=",
            r(B64, 43),
            "=",
        ),
    ),
    (
        "sql server connection string",
        cat("Server=tcp:sql01,1433;Database=crm;User Id=sa;Password=", password, ";"),
    ),
    ("jdbc url with password", cat("jdbc:mysql://db01:3306/crm?user=admin&password=", password)),
    (
        "azure sas url",
        cat(
            "https://acct.blob.core.windows.net/c/f.csv?sv=2022-11-02&se=2026-01-01&sp=r&sig=",
            r(B64, 43),
            "%3D",
        ),
    ),
    ("curl basic auth", cat("curl -u admin:", password, " https://api.example.com/v1/items")),
    (
        "authorization basic",
        cat(
            "Authorization: Basic ",
            lambda rng: __import__("base64").b64encode(f"svc:{password(rng)}".encode()).decode(),
        ),
    ),
    ("bearer token", cat("Authorization: Bearer ", r(B64URL, 40))),
    ("hex signing key in context", cat("the HMAC signing key is ", r(HEX, 64))),
    ("base64 key in context", cat("encryption key: ", r(B64, 43), "=")),
]

CREDENTIAL_SENTENCES = [
    "Why does this fail? {s}",
    "Here is my config, can you find the bug:\n{s}\n",
    "I pasted {s} into the settings but it still says unauthorized.",
    "Please rotate this one: {s}",
    "Our deploy script uses `{s}` - is that safe?",
    "{s}",
    "Can you explain what this line does? {s}",
]


def credentials(seed: int = 17) -> list[tuple[str, str]]:
    """(family, text) for every family, each wrapped in a sentence."""
    rng = random.Random(seed)
    return [
        (family, rng.choice(CREDENTIAL_SENTENCES).format(s=gen(rng))) for family, gen in CREDENTIAL_FORMATS
    ]


# Look-alikes of the same families: none is a usable credential.
NEAR_MISS_FORMATS: list[tuple[str, Gen]] = [
    ("aws id placeholder", cat("AKIA", "X" * 16)),
    ("aws id too short", cat("AKIA", r(UPPER_ALNUM, 8))),
    ("github token placeholder", cat("ghp_", "x" * 36)),
    ("github prefix only", cat("ghp_", r(ALNUM, 8))),
    ("openai key placeholder", cat("sk-", "your-api-key-here")),
    ("stripe publishable docs", cat("sk_live_", "...")),
    ("env var reference", cat("DATABASE_PASSWORD=${DB_PASSWORD}")),
    ("env from os", cat("password = os.environ['DB_PASSWORD']")),
    ("template", cat("api_key: {{ vault_api_key }}")),
    ("masked", cat("password: ********")),
    ("type annotation", cat("def connect(user: str, password: str) -> Connection:")),
    ("password length setting", cat("PASSWORD_MIN_LENGTH=12")),
    ("token count setting", cat("max_tokens=", lambda rng: str(rng.randint(100, 4000)))),
    ("url without password", cat("postgresql://app@db.", r(string.ascii_lowercase, 6), ".internal:5432/app")),
    ("url with placeholder", cat("postgres://user:password@localhost:5432/mydb")),
    ("url with variable", cat("redis://:${REDIS_PASSWORD}@cache:6379/0")),
    (
        "azure connection string without key",
        cat(
            "DefaultEndpointsProtocol=https;AccountName=",
            r(LOWER_ALNUM, 10),
            ";EndpointSuffix=core.windows.net",
        ),
    ),
    ("docker user", cat("docker run -u 1000:1000 -v $PWD:/app image")),
    ("curl user variable", cat("curl -u $USER:$TOKEN https://api.example.com")),
    (
        "public key",
        cat(
            "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA",
            r(B64, 40),
            "\n-----END PUBLIC KEY-----",
        ),
    ),
    ("ssh public key", cat("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI", r(B64, 43), " me@laptop")),
    ("git commit sha", cat("git cherry-pick ", r(HEX, 40))),
    ("sha256 checksum", cat("sha256sum: ", r(HEX, 64), "  release.tar.gz")),
    (
        "uuid",
        cat("request id ", r(HEX, 8), "-", r(HEX, 4), "-4", r(HEX, 3), "-a", r(HEX, 3), "-", r(HEX, 12)),
    ),
    ("docker image digest", cat("image@sha256:", r(HEX, 64))),
    ("npm integrity", cat('"integrity": "sha512-', r(B64, 86), '=="')),
    ("base64 image", cat("data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAA", r(B64, 40))),
    ("jwt-like not json", cat("eyJub3QganNvbiBhdCBhbGw.", r(B64URL, 20), ".", r(B64URL, 20))),
    ("word with key", cat("the primary key is user_id")),
    ("auth header template", cat("Authorization: Bearer <token>")),
    ("basic auth not base64 creds", cat('Authorization: Basic realm="staging"')),
    ("slack channel id", cat("post it in channel C", r(UPPER_ALNUM, 8))),
    ("secret word prose", cat("The secret to a good sourdough is patience.")),
    ("token prose", cat("Each token costs about four characters of English text.")),
    ("password prose", cat("The password must contain at least one digit.")),
    ("file path", cat("open /usr/local/lib/python3.11/site-packages/requests/auth.py")),
    ("version string", cat("upgrade to 2.31.0-rc1+build.20240101")),
    ("mac-like time", cat("the race ended at 12:45:33")),
    ("hex colour list", cat("colors: #", r(HEX, 6), " #", r(HEX, 6))),
    ("isbn", cat("ISBN 978-0-306-40615-7")),
]


def near_misses(seed: int = 71) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    return [
        (family, rng.choice(CREDENTIAL_SENTENCES).format(s=gen(rng))) for family, gen in NEAR_MISS_FORMATS
    ]


PII_PROMPTS = Path(__file__).with_name("data") / "pii_prompts.jsonl"


def pii_prompts() -> list[tuple[str, str, bool]]:
    """(kind, text, private) from bench/data/pii_prompts.jsonl."""
    out = []
    with open(PII_PROMPTS, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                row = json.loads(line)
                if "text" not in row:
                    continue  # the rubric
                out.append((row["kind"], row["text"], bool(row["private"])))
    return out


ADVERSARIAL_UNITS = {
    "name cues": "Mr John ",
    "greetings with full names": "Dear Anna Kowalski, ",
    "addressee lines": "Ilse Vandamme\nBelgium\n",
    "speech tags": '"Yes," says Hartvigsson. ',
    "work nouns": "the Sokolov novel ",
    "address fragments": "12 Main Street ",
    "address blocks": "4410 Kirkegata 15\n",
    "numbers": "123456 ",
    "phone numbers": "+1 415 555 0100 ",
    "card numbers": "4111 1111 1111 1111 ",
    "SSNs with a cue": "SSN 536-22-1234 ",
    "e-mail addresses": "a@b.co ",
    "key assignments": "api_key=Zx9fK2mQ8vL1pR7t ",
    "empty key words": "key: ",
    "private key headers": "-----BEGIN PRIVATE KEY-----\n",
    "connection strings": "Server=x;Password=Zx9fK2mQ8;",
    "code": "var x = 1; ",
    "card codes": "cvv 123 exp 12/27 ",
    "key file headers": "PuTTY-User-Key-File-2: x\n",
    "passport cues": "passport 12345678 ",
    "VAT cues": "vat DE123456789 ",
    "IBAN fragments": "IBAN DE89 ",
    "one long word": "a",
    "dotted numbers": "1.2.3.4.",
}


# Texts of distinct items (a cache of the last answers does not help): a seeded generator each.
ADVERSARIAL_DISTINCT: dict[str, Gen] = {
    "distinct dashed numbers": cat(
        r(string.digits, 3), "-", r(string.digits, 2), "-", r(string.digits, 4), " "
    ),
    "distinct phone numbers": cat(
        "+1 ", r("23456789", 3), " ", r(string.digits, 3), " ", r(string.digits, 4), " "
    ),
    "distinct 10-digit numbers": cat(r("123456789", 1), r(string.digits, 9), " "),
    "distinct tax numbers after their word": cat("tax id ", r("123456789", 1), r(string.digits, 8), " "),
    "distinct capitalised names": cat(
        lambda rng: rng.choice(["Anna", "John", "Maria", "Peter", "Dear Olga"]),
        " ",
        lambda rng: rng.choice(string.ascii_uppercase) + "".join(rng.choice("aeioulnrst") for _ in range(6)),
        " ",
    ),
}


def adversarial(size: int) -> dict[str, str]:
    texts = {name: (unit * (size // len(unit) + 1))[:size] for name, unit in ADVERSARIAL_UNITS.items()}
    for name, gen in ADVERSARIAL_DISTINCT.items():
        rng = random.Random(size)
        parts: list[str] = []
        n = 0
        while n < size:
            parts.append(gen(rng))
            n += len(parts[-1])
        texts[name] = "".join(parts)[:size]
    return texts
