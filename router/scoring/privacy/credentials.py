"""Credentials: private keys (with or without their armour lines), vendor API tokens, connection strings,
JWTs, passwords and secrets in assignments, headers and command lines, and bare key material in context.

Vendor tokens are matched by their documented prefixes and lengths (one alternation, one pass); a token
whose body after the prefix has too few distinct characters ("AKIAXXXXXXXXXXXXXXXX", "ghp_000...") is a
placeholder, not a key. Assignments (`DATABASE_PASSWORD=...`, `"apiKey": "..."`, `Password=...;`) count
when the key names a secret and the value is not a placeholder, a variable or code. Everything runs in
linear time: each regex has bounded repetitions, and each candidate is checked in a window of fixed size.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterator

from router.scoring.privacy._base import Scan, _shannon_entropy, _words, detector
from router.types import Finding

# ------------------------------------------------------------------------------------------ private keys
# The armour lines; the block runs from BEGIN to its END, or, without one, to the end of the text.
_PRIVATE_KEY_BEGIN = re.compile(r"-----BEGIN (?:[A-Z0-9]+ ){0,4}PRIVATE KEY(?: BLOCK)?-----")
_PRIVATE_KEY_END = re.compile(r"-----END (?:[A-Z0-9]+ ){0,4}PRIVATE KEY(?: BLOCK)?-----")
# The DER encodings of private keys start the same way whatever the key, so their base64 bodies do too:
# PKCS#8 ("MIIEvQIBADAN..."), PKCS#1 RSA ("MIIEowIBAAK..."), encrypted PKCS#8, SEC1 EC ("MHcCAQEE"), EC and
# Ed25519 PKCS#8, OpenSSH's own format ("openssh-key-v1" in base64) and PuTTY's key files. Public keys
# ("MIIBIjANBgkq...") start differently and are not matched.
_KEY_BODY = re.compile(
    r"(?<![A-Za-z0-9+/])(?:MII[A-Za-z0-9+/]{3}IBA(?:DAN|AK)|MII[A-Za-z0-9+/]{3}B[A-Za-z0-9+/]BgkqhkiG9w0BBQ0w"
    r"|MI[GH][A-Za-z0-9+/]AgEAMB[A-Za-z0-9+/]GByqGSM49|MHcCAQEE|MIGkAgEBBD|MIHcAgEBBE|MC4CAQAwBQYDK2Vw"
    r"|b3BlbnNzaC1rZXktdjE)[A-Za-z0-9+/=]{8,}(?:[ \t]*\r?\n[ \t]*[A-Za-z0-9+/=]{16,}(?![^\s\"'`]))*"
    r"|PuTTY-User-Key-File-\d: [^\n]{1,200}(?:\n[^\n]{0,200}){0,60}?\nPrivate-MAC: [0-9a-f]+"
    r"|Private-Lines: \d{1,3}(?:\r?\n[A-Za-z0-9+/=]{16,}){1,200}"
)


# The middle of a PEM body: three or more lines of exactly 64 base64 characters (PEM's wrap), as pasted
# without the armour lines nor the first line of the key.
_PEM_LINE = r"[A-Za-z0-9+/]{64}[ \t]*\r?\n"
_PEM_LINES = re.compile(
    rf"(?<![A-Za-z0-9+/=])(?={_PEM_LINE})"  # (both branches open so: tested once, before either is tried)
    rf"(?:(?:{_PEM_LINE}){{2,200}}[A-Za-z0-9+/]{{8,63}}={{0,2}}(?![A-Za-z0-9+/=])|(?:{_PEM_LINE}){{3,200}})"
)


@detector("private_key", weight=1.0, priority=0)
def private_keys(scan: Scan, out: list[Finding]) -> None:
    text = scan.text
    pos = text.find("-----BEGIN")
    while pos >= 0:  # one pass: each block's END is looked for once, from its BEGIN on
        begin = _PRIVATE_KEY_BEGIN.search(text, pos)
        if begin is None:
            break
        end = _PRIVATE_KEY_END.search(text, begin.end())
        stop = end.end() if end else len(text)
        out.append(Finding("private_key", begin.start(), stop, 1.0))
        pos = text.find("-----BEGIN", stop)
    if "MI" in text or "b3Bl" in text or "Private-" in text:
        for m in _KEY_BODY.finditer(text):
            out.append(Finding("private_key", m.start(), m.end(), 0.95))
    if "\n" in text and len(text) >= 190:
        for m in _PEM_LINES.finditer(text):
            before = scan.low[max(0, m.start() - 100) : m.start()]
            body = m.group()
            if "public" in before or "certificate" in before or body.startswith(_PUBLIC_PREFIXES):
                continue
            if sum(c.isdigit() for c in body) < 8 or _shannon_entropy(body[:256]) < 5.0:
                continue  # base64 of random bytes has digits and about 6 bits a character
            out.append(Finding("private_key", m.start(), m.start() + len(body.rstrip()), 0.8))


# ------------------------------------------------------------------------------------------ vendor tokens
# Prefixes and lengths from each vendor's public documentation of its token format.
_VENDOR_TOKENS = (
    r"sk-(?:proj-|ant-(?:api\d\d-|admin\d\d-)?|svcacct-|admin-)?[A-Za-z0-9_-]{20,}",  # OpenAI, Anthropic
    r"(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA|A3T[A-Z0-9])[0-9A-Z]{16}",  # AWS access key ids
    r"gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{22,}",  # GitHub
    r"xox[abposre]-[A-Za-z0-9-]{10,}|xapp-\d-[A-Z0-9]+-\d+-[a-z0-9]{20,}",  # Slack
    r"AIza[0-9A-Za-z_-]{35}|ya29\.[0-9A-Za-z_-]{20,}|GOCSPX-[A-Za-z0-9_-]{20,}",  # Google
    r"(?:sk|rk|pk)_(?:live|test)_[0-9A-Za-z]{16,}|whsec_[A-Za-z0-9]{24,}",  # Stripe
    # GitLab
    r"gl(?:pat|dt|rt|ptt|soat|cbt|ffct|imt|agent|oas)-[0-9A-Za-z_-]{20,}|GR1348941[0-9A-Za-z_-]{20}",
    r"hf_[A-Za-z0-9]{30,}|api_org_[A-Za-z0-9]{30,}",  # Hugging Face
    r"npm_[A-Za-z0-9]{36}|pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,}|rubygems_[a-f0-9]{48}",  # registries
    r"oy2[a-z0-9]{43}",  # NuGet
    r"SG\.[\w-]{22}\.[\w-]{43}|xkeysib-[a-f0-9]{64}-[A-Za-z0-9]{16}",  # SendGrid, Brevo
    r"dop_v1_[a-f0-9]{64}|doo_v1_[a-f0-9]{64}|dor_v1_[a-f0-9]{64}",  # DigitalOcean
    r"dp\.(?:pt|st|ct|sa|scim|audit)\.[A-Za-z0-9]{40,}",  # Doppler
    r"dt0c01\.[A-Z0-9]{24}\.[A-Z0-9]{64}",  # Dynatrace
    r"(?:shpat|shpca|shppa|shpss)_[a-fA-F0-9]{32}",  # Shopify
    r"sq0(?:atp|csp)-[0-9A-Za-z_-]{22,43}|EAAA[A-Za-z0-9_-]{60}",  # Square
    r"hv[sb]\.[A-Za-z0-9_-]{24,}|[A-Za-z0-9]{14}\.atlasv1\.[A-Za-z0-9_=-]{60,}",  # HashiCorp
    r"NRAK-[A-Z0-9]{27}|NRJS-[a-f0-9]{19}|NRII-[A-Za-z0-9_-]{32}",  # New Relic
    r"pscale_(?:tkn|pw|oauth)_[A-Za-z0-9_.=-]{32,64}",  # PlanetScale
    r"PMAK-[a-f0-9]{24}-[a-f0-9]{34}",  # Postman
    r"pnu_[A-Za-z0-9]{36}|pul-[a-f0-9]{40}|rdme_[a-z0-9]{70}|lin_api_[A-Za-z0-9]{40}",  # Prefect, Pulumi, ...
    r"sntry[su]_[A-Za-z0-9+/=_-]{40,}|ico-[A-Za-z0-9]{32}|tfp_[A-Za-z0-9_.=-]{40,59}",  # Sentry, Infracost...
    r"shippo_(?:live|test)_[a-f0-9]{40}|duffel_(?:test|live)_[A-Za-z0-9_=-]{43}",  # Shippo, Duffel
    r"FLW(?:SECK|PUBK)_TEST-[a-hA-H0-9]{32}-X|FLWSECK_TEST[a-hA-H0-9]{12}",  # Flutterwave
    r"EZ[AT]K[A-Za-z0-9]{54}|key-[a-f0-9]{32}|pubkey-[a-f0-9]{32}",  # EasyPost, Mailgun
    r"[a-f0-9]{32}-us\d{1,2}",  # Mailchimp
    r"AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}",  # age
    r"sl\.[A-Za-z0-9_-]{130,152}",  # Dropbox
    r"\d{8,10}:AA[A-Za-z0-9_-]{33}",  # Telegram bot
    r"(?:SK|AC)[a-f0-9]{32}",  # Twilio
    r"[MNO][A-Za-z\d_-]{23,25}\.[A-Za-z\d_-]{6}\.[A-Za-z\d_-]{27,38}",  # Discord bot
    # Databricks, Atlassian
    r"dapi[a-f0-9]{32}(?:-\d)?|ATATT3[A-Za-z0-9_=-]{150,250}|ATBB[A-Za-z0-9_=.-]{28,}",
    r"fio-u-[A-Za-z0-9_=-]{64}|glc_[A-Za-z0-9+/]{32,400}={0,2}|glsa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8}",
    r"(?:sk|pk)\.eyJ[A-Za-z0-9_-]{20,}\.[A-Za-z0-9_-]{20,}",  # Mapbox
    r"sha256~[A-Za-z0-9_-]{43}|pat\.[A-Za-z0-9_-]{22}\.[a-f0-9]{24}\.[A-Za-z0-9]{20}",  # OpenShift, Harness
    r"tk-us-[A-Za-z0-9_-]{48}|CLOJARS_[a-z0-9]{60}",  # Scalingo, Clojars
    r"ntn_[0-9]{11}[A-Za-z0-9]{35}|secret_[A-Za-z0-9]{43}",  # Notion
    r"gsk_[A-Za-z0-9]{52}|r8_[A-Za-z0-9]{37}|pplx-[A-Za-z0-9]{48}|xai-[A-Za-z0-9]{80}",  # AI APIs
    r"AccountKey=[A-Za-z0-9+/]{86}==|[A-Za-z0-9_~.-]{3}\dQ~[A-Za-z0-9_~.-]{31,34}",  # Azure
    r"LTAI[A-Za-z0-9]{20}|AKLT[A-Za-z0-9_-]{20,}|AKID[A-Za-z0-9]{32}",  # Alibaba, Volcengine, Tencent
    r"HRKU-[A-Za-z0-9_-]{60}|CFPAT-[A-Za-z0-9_-]{43}|lip_[A-Za-z0-9]{32}",  # Heroku, Contentful, ...
    r"p8e-[A-Za-z0-9]{32}|dnkey-[A-Za-z0-9=_-]{26}-[A-Za-z0-9=_-]{52}|v1\.0-[a-f0-9]{24}-[a-f0-9]{146}",
    r"EAA[MC][A-Za-z0-9]{20,}|live_[A-Za-z0-9_=-]{40}|s-s4t2(?:ud|af)-[a-f0-9]{64}|AKCp[A-Za-z0-9]{69}",
    r"(?:live|test)_(?:pub_)?[a-f0-9]{31,35}|eyJrIjoi[A-Za-z0-9]{70,400}={0,2}|glc_eyJ[A-Za-z0-9+/=]{40,}",
    r"AQVN[A-Za-z0-9_-]{35,38}|YC[A-Za-z0-9_-]{38}|ops_eyJ[A-Za-z0-9+/]{250,}={0,3}|API-[A-Z0-9]{26}",
    r"sgp_(?:[a-fA-F0-9]{16}_)?[a-fA-F0-9]{40}|sgp_local_[a-fA-F0-9]{40}|xoxe(?:\.xox[bp])?-\d-[A-Za-z0-9]{146,}",
    # 1Password secret key
    r"A3-[A-Z0-9]{6}-(?:[A-Z0-9]{11}|[A-Z0-9]{6}-[A-Z0-9]{5})-[A-Z0-9]{5}-[A-Z0-9]{5}-[A-Z0-9]{5}",
    r"(?:b_|beamer_)[A-Za-z0-9=_-]{44}",  # Beamer
    r"(?:sc|ext|scauth|authress)_[a-z0-9]{5,30}\.[a-z0-9]{4,6}\.acc[_-][a-z0-9-]{10,32}\.[a-z0-9+/_=-]{30,120}",
)
# Every token above is at least 15 characters of [\w.~=+/:-] (a test checks it): that lookahead rejects
# nearly every position of a text before the hundred alternatives are tried, several times faster.
_API_KEY = re.compile(r"(?<![\w.+/-])(?=[\w.~=+/:-]{15})(?:" + "|".join(_VENDOR_TOKENS) + r")(?![\w-])")


# Webhook URLs carry their secret in the path: anyone with the URL can post.
_WEBHOOK = re.compile(
    r"https://(?:hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9_/+-]{20,200}"
    r"|(?:discord(?:app)?\.com|canary\.discord\.com)/api/webhooks/\d{5,30}/[A-Za-z0-9_-]{20,100}"
    r"|[a-z0-9-]{1,60}\.webhook\.office\.com/webhookb2/[A-Za-z0-9@/_-]{40,400}"
    r"|chat\.googleapis\.com/v1/spaces/[A-Za-z0-9_-]{5,40}/messages\?key=[A-Za-z0-9_-]{20,60}[^\s\"'<>]{0,200})"
)


def _placeholder_token(token: str) -> bool:
    """A token whose characters are too few or too regular to be a key: "AKIAXXXXXXXXXXXXXXXX",
    "sk-xxxxxxxxxxxxxxxxxxxxxxxx", "ghp_1234567890abcdefghij..."."""
    body = re.sub(r"^[A-Za-z]{2,6}[_.-](?:[A-Za-z]{2,6}[_-])?", "", token)
    if len(set(body)) < min(10, max(4, len(body) // 3)):
        return True
    low = body.lower()
    return any(w in low for w in ("xxxxx", "00000", "your_", "yourtoken", "replace", "example_", "fake"))


@detector("api_key", weight=0.98, priority=30)
def vendor_tokens(scan: Scan, out: list[Finding]) -> None:
    for m in _API_KEY.finditer(scan.text):
        if not _placeholder_token(m.group()):
            out.append(Finding("api_key", m.start(), m.end(), 0.98))
    if "hook" in scan.low:
        for m in _WEBHOOK.finditer(scan.text):
            out.append(Finding("api_key", m.start(), m.end(), 0.95))


# ------------------------------------------------------------------------------------ connection strings
# Any URL with a password in its user-info (`redis://:pw@host`, `amqp://u:p@host`, `https://u:p@host`).
_CONN_STRING = re.compile(
    r"\b[a-zA-Z][a-zA-Z0-9+.-]{1,20}://[^\s:/@'\"<>]{0,64}:[^\s@/'\"<>]{1,128}@[^\s/'\"<>@]{1,255}"
    r"[^\s'\"<>)\]]{0,2000}"
)
# Key/value connection strings (ADO.NET, ODBC, Azure storage and service bus): the whole `k=v;k=v` run,
# when one key is a secret.
_KV_CONN = re.compile(
    r"(?:[A-Za-z][A-Za-z0-9 _.-]{0,40}=[^;\s\"'`]{0,300};[ \t]?){1,30}"
    r"(?:[A-Za-z][A-Za-z0-9 _.-]{0,40}=[^;\s\"'`]{0,300})?"
)
_KV_SECRET_KEY = re.compile(
    r"(?:^|;)[ \t]?(?:accountkey|sharedaccesskey|sharedaccesssignature|password|pwd|clientsecret|"
    r"client_secret|token|sig|secret)=(?P<v>[^;\s\"'`]{3,})",
)  # on the lower-cased match
# A secret in a URL's query string: `?password=...`, `&access_token=...`, `sig=...` (Azure SAS).
_QUERY_SECRET = re.compile(
    r"[?&;](?:password|passwd|pwd|pass|secret|client_secret|token|access_token|refresh_token|api_?key|"
    r"apikey|key|sig|signature|x-amz-signature|x-goog-signature|auth)=(?P<v>[^&\s#\"'<>]{6,512})",
)  # on the lower-cased text


@detector("connection_string", weight=0.95, priority=10)
def connection_strings(scan: Scan, out: list[Finding]) -> None:
    text, low = scan.text, scan.low
    if "://" in text:
        for m in _CONN_STRING.finditer(text):
            userinfo = m.group().split("://", 1)[1].split("@", 1)[0]
            password = userinfo.split(":", 1)[1]
            if _template_value(password) or password.lower() in ("password", "pass", "pwd", "***"):
                continue
            out.append(Finding("connection_string", m.start(), m.end(), 0.95))
    if "=" in text and ";" in text:
        for m in _KV_CONN.finditer(text):
            run = low[m.start() : m.end()]
            if run.count("=") < 2:
                continue
            for k in _KV_SECRET_KEY.finditer(run):
                if not _template_value(k.group("v")):
                    out.append(Finding("connection_string", m.start(), m.end(), 0.95))
                    break
    if "=" in text and ("?" in text or "&" in text):
        for m in _QUERY_SECRET.finditer(low):
            value = text[m.start("v") : m.end("v")]
            if not _template_value(value) and (len(value) >= 8 or any(c.isdigit() for c in value)):
                out.append(Finding("connection_string", m.start("v"), m.end("v"), 0.9))


# ------------------------------------------------------------------------------------------------- JWT
_JWT = re.compile(r"(?<![\w-])eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{0,}")


@detector("jwt", weight=0.9, priority=20)
def jwts(scan: Scan, out: list[Finding]) -> None:
    if "eyJ" in scan.text:
        for m in _JWT.finditer(scan.text):
            if _is_jwt(m.group()):
                out.append(Finding("jwt", m.start(), m.end(), 0.97))


# ---------------------------------------------------------------------------------------------- passwords
_PASSWORD = re.compile(
    r"(?:\b(?:password|passwd|passphrase|pwd|passcode|pass|pin)\b[\"']?\s*(?:[:=]|=>|is|was|:=)\s*"
    r"|\b(?:password|passwd|passphrase|passcode)\s+(?:(?:is|was|would be|will be)\s+)?"
    r"(?:set to|changed to)\s*)"
    r"[\"'`]?(?P<v>[^\s\"'`,;]{3,128})",
)  # runs on the lower-cased text
# The word before the value in the "is" form: only "my/the/our/your/his/her password is X" counts, so that
# "the password is incorrect" style prose is weeded out by the stop list below.
_PASSWORD_STOP = frozenset(
    _words("""is was the a an not too incorrect correct wrong invalid valid required expired strong weak
    long short
    reset changed same different empty none null true false str string int bool bytes optional any unknown
    required. missing protected hashed encrypted stored saved set to being be that this it which and or
    of for in on with by from as at if your my our their his her its secure safe lost forgotten field
    input getpass os env self request form args kwargs config settings param params new old hash value
    length must should can cannot will would may might hidden masked shown valid. variable argument
    please""")
)
# An assignment whose key is an identifier naming a secret: `DATABASE_PASSWORD=...`, `"apiKey": "..."`,
# `export GITHUB_TOKEN=...`, `aws_secret_access_key = ...`, `X-Api-Key: ...`, `db.password: ...`. The scan
# starts at the secret word (rare) and reads the rest of the key backwards, in code.
_ASSIGNMENT = re.compile(
    r"(?:password|passwd|passphrase|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|auth[_-]?key|"
    r"account[_-]?key|private[_-]?key|signing[_-]?key|session[_-]?key|encryption[_-]?key|master[_-]?key|"
    r"client[_-]?key|credentials?|auth|key)(?:[_.-]?(?:value|key|b64|base64|hash|str|string))?"
    r"[\"'`]?(?:[ \t]+string)?[ \t]*(?::=|=>|[:=])[ \t]*(?:\"|'|`|b\"|b')?(?P<v>[^\s\"'`,;<>]{4,256})",
)  # lower-cased; the value's case is read back from the original
# A code identifier as the value (`password = newPassword`, `pwd: new_password`), not a password.
_IDENTIFIER = re.compile(r"[a-z]+(?:[A-Z][a-z]+)+|[a-z]+(?:_[a-z]+)+|[A-Z][a-z]+(?:[A-Z][a-z]+)+")
_SECRET_KEY_END = re.compile(
    r"(?:api|access|auth|account|private|signing|session|encryption|master|client|secret)[_.-]?key$"
)
# The same in XML: `<adafruitToken>...</adafruitToken>`, `<password>...</password>`.
_XML_ASSIGNMENT = re.compile(
    r"<(?P<k>(?:[a-z][a-z0-9_.:-]{0,60}?)?(?:password|passwd|pwd|secret|token|apikey|api[_-]?key|key|"
    r"credentials?))"
    r">[ \t]*(?P<v>[^<>\s]{4,256})[ \t]*</(?P=k)>"
)  # lower-cased
_KEY_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_.-")
_PASSWORD_KEY_END = re.compile(
    r"(?:password|passwd|passphrase|pwd|pass)(?:[_.-]?(?:value|hash|str|string))?$"
)
_NOT_SECRET_KEY_END = re.compile(
    r"(?:length|len|min|max|size|count|field|policy|rule|rules|regex|pattern|reset|url|uri|file|path|dir|"
    r"type|name|label|hint|prompt|header|env|var|expiry|expires|expiration|ttl|timeout|limit|enabled|"
    r"required|strength|format|endpoint|id_key|sort_key|primary_key|foreign_key|_id|tokens|tokenizer|"
    r"token_type|token_count|max_tokens|num_tokens|token_limit|auth_type|auth_method|auth_mode|author|"
    r"authority|authorization_url|authentication)$"
)
_CODE_VALUE = re.compile(
    r"[A-Za-z_][\w]*(?:\.[A-Za-z_]\w*)*(?:\(|\[|\.get\b)|(?:true|false|none|null|nil|undefined)$|"
    r"(?:os\.|process\.env|env\(|getenv|settings\.|config\.|self\.|this\.|request\.|params\.|args\.)",
    re.IGNORECASE,
)
_PLACEHOLDER_WORDS = re.compile(
    r"^(?:x{3,}|\*{3,}|\.{3,}|changeme|change_me|example\w*|your\w*|my_?\w*_here|\w*_here|placeholder|"
    r"redacted|hidden|secret|password|token|dummy|sample|test|todo|tbd|none|null|empty|string|"
    r"str|int|bool|required|optional|<\w+>|\w+_(?:password|secret|token|key))$",
    re.IGNORECASE,
)


_PLACEHOLDER_PART = re.compile(
    r"example|placeholder|changeme|change_me|dummy|redacted|xxxx|\*\*\*|your[_-]|insert[_-]|replace[_-]?me",
    re.IGNORECASE,
)


def _template_value(v: str) -> bool:
    """A variable, a template, code or a placeholder, not a value: `${PW}`, `{{ token }}`, `%(pw)s`,
    `os.environ["X"]`, `getpass()`, `<password>`, `****`, `your_api_key_here`."""
    v = v.strip("\"'`.,;")
    if not v or v[0] in "$%{<[(*@&" or v.startswith(("{{", "process.env", "os.environ")):
        return True
    if "${" in v or "{{" in v or "%(" in v or "(" in v or v.endswith(")"):
        return True
    if _PLACEHOLDER_PART.search(v):
        return True
    return bool(_PLACEHOLDER_WORDS.match(v)) or set(v) <= {"*", "x", "X", "•", ".", "-", "_", "#"}


@detector("password", weight=0.95, priority=50)
def passwords(scan: Scan, out: list[Finding]) -> None:
    text, low = scan.text, scan.low
    if "pass" in low or "pwd" in low or "pin" in low:
        for m in _PASSWORD.finditer(low):
            if m.start() > 0 and low[m.start() - 1] in "$%{":
                continue  # "$PWD:/app": a variable read
            value = text[m.start("v") : m.end("v")]
            if _plausible_password(text, m.start(), value):
                out.append(Finding("password", m.start("v"), m.end("v"), 0.9))
    for m, key, value in _assignments(scan):
        if (
            _PASSWORD_KEY_END.search(key)
            and value.lower() not in _PASSWORD_STOP
            and (not value.isalpha() or len(value) >= 8)
            and not _IDENTIFIER.fullmatch(value)
        ):
            out.append(Finding("password", m.start("v"), m.start("v") + len(value), 0.9))
    if "-u" in text or "--user" in text:
        for m in _CLI_USER.finditer(text):
            value = m.group("p")
            if not _template_value(value) and not (m.group("u").isdigit() and value.isdigit()):
                out.append(Finding("password", m.start("p"), m.end("p"), 0.9))
    if "basic" in low:
        for m in _BASIC.finditer(text):
            if _basic_credentials(m.group("v")):
                out.append(Finding("password", m.start("v"), m.end("v"), 0.95))


# `curl -u admin:pw`, `--user admin:pw`, `-U user:pw` (not `docker run -u 1000:1000`).
_CLI_USER = re.compile(
    r"(?<!\S)(?:-u|--user|--proxy-user|-U|--basic-auth)[ \t=]+[\"']?"
    r"(?P<u>[^\s:\"'$]{1,64}):(?P<p>[^\s\"']{3,128})"
)
_BASIC = re.compile(r"\b[Bb]asic[ \t]+(?P<v>[A-Za-z0-9+/]{8,400}={0,2})(?![\w+/=])")


def _basic_credentials(value: str) -> bool:
    try:
        raw = base64.b64decode(value + "=" * (-len(value) % 4), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return False
    _, sep, pw = raw.partition(":")
    return bool(sep and pw and raw.isprintable())


# ------------------------------------------------------------------------------------------------ secrets
_BEARER = re.compile(r"\b(?:Bearer|Token|token)[ \t]+(?P<v>[A-Za-z0-9\-._~+/]{20,}=*)")
# Words that make a long high-entropy token nearby key material: "my AWS secret is wJalr...",
# "here's the signing key: 9f86d081...".
_KEY_CONTEXT = re.compile(
    r"\b(?:key|keys|secret|secrets|token|tokens|password|passphrase|credential|credentials|api|apikey|"
    r"private|signature|auth|bearer|seed|mnemonic|salt|hmac|webhook|access|cert|certificate)\b"
)
_LONG_TOKEN = re.compile(r"(?<![\w+/=.-])[A-Za-z0-9][A-Za-z0-9+/_=.~-]{19,511}(?![\w+/=.~-])")
_HEXISH = re.compile(r"[0-9a-fA-F]+")
# Public keys and certificates in base64 (DER SubjectPublicKeyInfo, X.509, OpenSSH public keys).
_PUBLIC_PREFIXES = (
    "MIIBIjAN",
    "MIICIjAN",
    "MIIBCgKC",
    "MFkwEwYH",
    "MHYwEAYH",
    "MCowBQYDK2Vw",
    "MIIC",
    "MIID",
    "MIIE",
    "MIIF",
    "AAAAB3NzaC1",
    "AAAAC3NzaC1",
    "AAAAE2VjZHNh",
)
_KEY_FIRST_WORDS = (
    "secret",
    "token",
    "key",
    "credential",
    "auth",
    "bearer",
    "api",
    "private",
    "pass",
    "seed",
)


@detector("secret", weight=0.9, priority=60)
def secrets(scan: Scan, out: list[Finding]) -> None:
    text, low = scan.text, scan.low
    if not any(w in low for w in _KEY_FIRST_WORDS):
        return
    for m, key, value in _assignments(scan):
        if _PASSWORD_KEY_END.search(key):
            continue
        # A key named only "...key" (`airtable_key`, `key`) is often no secret (a dictionary key, a sort
        # key): its value must be long random material; a secret-named key takes a shorter value.
        plain_key = key.endswith("key") and not _SECRET_KEY_END.search(key)
        if _looks_secret(value) or (not plain_key and _looks_secret(value, min_len=8, entropy=2.8)):
            out.append(Finding("secret", m.start("v"), m.start("v") + len(value), 0.85))
    if "bearer" in low or "token" in low:
        for m in _BEARER.finditer(text):
            if _looks_secret(m.group("v")):
                out.append(Finding("secret", m.start("v"), m.end("v"), 0.9))
    material: dict[str, bool] = {}  # a repeated token is judged once
    for m in _LONG_TOKEN.finditer(text):
        value = m.group().rstrip(".")
        if material.get(value) is False:
            continue  # judged no key material before: its context does not matter
        before = low[max(0, m.start() - 60) : m.start()]
        if not _KEY_CONTEXT.search(before) or "public" in before or "certificate" in before:
            continue
        if value not in material:
            material[value] = _key_material(value) and not value.startswith(_PUBLIC_PREFIXES)
        if material[value]:
            out.append(Finding("secret", m.start(), m.start() + len(value), 0.8))


def _assignments(scan: Scan) -> list[tuple[re.Match[str], str, str]]:
    """(match, key, value) of each assignment to a key that names a secret, its value not a placeholder,
    a variable or code. Read once a scan (the password and the secret detectors both use them)."""
    cached = scan.memo.get("assignments")
    if not isinstance(cached, list):
        cached = list(_find_assignments(scan))
        scan.memo["assignments"] = cached
    return cached


def _find_assignments(scan: Scan) -> Iterator[tuple[re.Match[str], str, str]]:
    text, low = scan.text, scan.low
    kept: dict[tuple[str, str], bool] = {}  # a repeated assignment is judged once
    for m in _ASSIGNMENT.finditer(low):
        ks = m.start()
        while ks > 0 and m.start() - ks < 60 and low[ks - 1] in _KEY_CHARS:
            ks -= 1
        if ks > 0 and low[ks - 1] in "$%{":
            continue  # "$PWD:/app", "%(token)s": a variable read, not an assignment
        key = low[ks : m.start("v")].rstrip(" \t\"'`:=>b").removesuffix(" string").rstrip(" \t\"'`")
        value = text[m.start("v") : m.end("v")].rstrip(".)")
        pair = (key, value)
        if pair not in kept:
            kept[pair] = not (
                _NOT_SECRET_KEY_END.search(key) or _template_value(value) or _CODE_VALUE.match(value)
            )
        if kept[pair]:
            yield m, key, value
    if "</" in low:
        for m in _XML_ASSIGNMENT.finditer(low):
            value = text[m.start("v") : m.end("v")]
            key = m.group("k")
            if not (_NOT_SECRET_KEY_END.search(key) or _template_value(value) or _CODE_VALUE.match(value)):
                yield m, key, value


_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def _key_material(value: str) -> bool:
    """A long token that reads as random key material: base64, hex or a random token with a digit in it
    (32 random bytes in base64 lack one once in a thousand), not a word, a path, a UUID, a hostname or a
    version."""
    if len(value) < 20 or value.count(".") > 2 or value.count("/") > 4 or value.count("-") > 4:
        return False
    if _UUID.fullmatch(value) or not any(c.isdigit() for c in value):
        return False
    if _HEXISH.fullmatch(value):
        return len(value) >= 32 and _shannon_entropy(value) >= 3.0 and any(c.isalpha() for c in value)
    return _looks_secret(value, min_len=20, entropy=3.6)


def _is_jwt(token: str) -> bool:
    header = token.split(".", 1)[0]
    try:
        raw = base64.urlsafe_b64decode(header + "=" * (-len(header) % 4))
        obj = json.loads(raw)
    except (binascii.Error, ValueError):
        return False
    return isinstance(obj, dict) and ("alg" in obj or "typ" in obj)


def _plausible_password(text: str, start: int, value: str) -> bool:
    v = value.strip(".")
    if len(v) < 3 or v.lower() in _PASSWORD_STOP or _PLACEHOLDER_PART.search(v):
        return False
    if v.startswith(("$", "{", "<", "%", "(", "[", "*")) or "(" in v or v.endswith(")"):
        return False  # template or code: password=${PW}, password=getpass(), password: ****
    if re.match(r"[A-Za-z_]\w*(?:\.\w+)*[.\[(]", v) and not re.search(r"\d", v.split("[")[0].split("(")[0]):
        return False  # template or code: password=${PW}, password=getpass(), password: ****
    if set(v) <= {"*", "x", "X", "•", "."}:
        return False
    phrase = text[max(0, start - 12) : start + 40].lower()
    mixed = any(c.isalpha() for c in v) and any(not c.isalpha() for c in v)
    if (
        re.search(r"\b(?:is|was)\b", phrase[12:])
        and not mixed
        and not re.search(
            r"\b(?:my|our|the|your|his|her|their|wifi|wi-fi|admin|root|account|new|temporary|default)\s+"
            r"(?:\w+\s+)?(?:password|passwd|passphrase|pin|passcode)\b",
            phrase,
        )
    ):
        return False
    # Plain dictionary-like words after "is" need a digit or symbol to count (e.g. "hunter2").
    if re.fullmatch(r"[a-z]+", v) and re.search(r"\b(?:is|was)\b", phrase[12:]):
        return len(v) >= 6
    # Code identifiers: password=password_input, pwd = user.pwd, password = newPassword
    return not re.fullmatch(r"[A-Za-z_][A-Za-z_]*(?:\.[A-Za-z_]+)+", v) and not _IDENTIFIER.fullmatch(v)


def _looks_secret(value: str, *, min_len: int = 16, entropy: float = 3.3) -> bool:
    v = value.strip("=.")
    if len(v) < min_len or (v.isalpha() and v.islower()):
        return False
    classes = sum((any(c.islower() for c in v), any(c.isupper() for c in v), any(c.isdigit() for c in v)))
    if classes < 2:
        return False
    if re.fullmatch(r"[A-Za-z_]+(?:[.:][A-Za-z_]+)+", v):
        return False  # dotted identifier: settings.SECRET_KEY
    if ":" in v and all(p.isalpha() or p.isdigit() for p in re.split(r"[:_-]", v) if p):
        return False  # a namespaced name: user:1234:profile
    if re.fullmatch(r"[A-Za-z]+(?:[_-][A-Za-z]+)*[_-]?\d{0,4}", v) and len(v) < 40:
        return False  # words: My_Secret_Name, ReadTheDocs-2024
    return _shannon_entropy(v) >= entropy
