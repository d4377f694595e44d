"""Contact points: e-mail addresses, phone numbers (validated by `phonenumbers`), public IP addresses and
MAC addresses. LAN, loopback and public-resolver IPs do not count; neither do versions or maths."""

from __future__ import annotations

import ipaddress
import re

from router.scoring.privacy._base import _I, Scan, _context, _count_digits, _words, detector, spend
from router.types import Finding

# ---------------------------------------------------------------------------------------------- e-mail
_EMAIL = re.compile(
    r"(?<![\w.+-])[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+"
    r"[A-Za-z]{2,24}(?![\w-])"
)

# ------------------------------------------------------------------------------------------------- phone
# (`(?=[+(\d])`: the first character of every match, tested before the lookbehind; see the package
# docstring.)
_PHONE = re.compile(
    r"(?=[+(\d])(?<![\w.+/-])(?:(?:\+|00)\d{1,3}[ \t.-]?)?(?:\(0\)[ \t]?)?(?:\(\d{1,5}\)[ \t.-]?)?\d{1,12}"
    r"(?:[ \t.-]\d{1,8}){0,5}(?:[ \t]?(?:x|ext\.?|extension)[ \t]?\d{1,6})?(?![\w/]|[.,]\d)",
    _I,
)
_PHONE_CONTEXT = re.compile(
    r"\b(?:phone|tel|telephone|mobile|cell|cellphone|fax|call|calling|text|sms|whatsapp|number|contact|reach|"
    r"dial|desk|office|home|work|landline|hotline|messages?|answering|ring)\b"
)  # lower-cased
_EXTENSION = re.compile(r"[ \t]?(?:x|ext\.?|extension)[ \t]?\d{1,6}$", _I)
# Words that alone make a bare run of digits ("Fax: 9498777106") a phone number.
_PHONE_STRONG_WORDS = _words(
    "phone tel telephone mobile cell cellphone fax call calling sms whatsapp dial landline hotline"
)
_PHONE_STRONG_CONTEXT = re.compile(r"\b(?:" + "|".join(_PHONE_STRONG_WORDS) + r")\b")  # lower-cased
_PHONE_REGIONS = (
    "US",
    "GB",
    "DE",
    "FR",
    "IT",
    "ES",
    "NL",
    "BE",
    "AU",
    "IN",
    "BR",
    "SE",
    "DK",
    "NO",
    "FI",
    "CH",
)

# --------------------------------------------------------------------------------------------------- IP
_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?:/\d{1,2})?(?![\w]|\.\d)")
_IPV6 = re.compile(
    r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{0,4}|(?:\d{1,3}\.){3}\d{1,3})(?![\w:])"
)
_VERSION_BEFORE = re.compile(r"\b(?:v|version|release|build|ver\.?|python|node|java|chrome|firefox)\s*$", _I)


@detector("email", weight=0.8, priority=70)
def emails(scan: Scan, out: list[Finding]) -> None:
    text = scan.text
    if "@" not in text:
        return
    for m in _EMAIL.finditer(text):
        if text.endswith("://", 0, m.start()):
            continue  # "postgresql://app@db.internal": a URL's user name, not a mailbox
        out.append(Finding("email", m.start(), m.end(), 0.98))


@detector("ip_address", weight=0.6, priority=130)
def ips(scan: Scan, out: list[Finding]) -> None:
    text = scan.text
    if text.count(".") >= 3:
        for m in _IPV4.finditer(text):
            addr = m.group().split("/")[0]
            try:
                ip4 = ipaddress.IPv4Address(addr)
            except ValueError:
                continue
            if _internal_ip(ip4):
                continue
            if _VERSION_BEFORE.search(text, max(0, m.start() - 12), m.start()):
                continue
            out.append(Finding("ip_address", m.start(), m.end(), 0.9))
    if text.count(":") >= 2:
        for m in _IPV6.finditer(text):
            cand = m.group()
            if cand.count(":") < 2 or sum(c.isalnum() for c in cand) < 4:
                continue
            try:
                ip6 = ipaddress.IPv6Address(cand)
            except ValueError:
                continue
            if _internal_ip(ip6):
                continue
            out.append(Finding("ip_address", m.start(), m.end(), 0.9))


# --------------------------------------------------------------------------------------------- phone
@detector("phone", weight=0.8, priority=140)
def phones(scan: Scan, out: list[Finding]) -> None:
    text, low = scan.text, scan.low
    if scan.digits < 6:
        return
    # A bare run of digits is a phone number only after a phone word: none in the text, none to check.
    # (a substring test of each word first: most texts have none of them, and skip the scan for them)
    any_strong = any(w in low for w in _PHONE_STRONG_WORDS) and _PHONE_STRONG_CONTEXT.search(low) is not None
    verdicts: dict[tuple[str, bool, int, bool], bool] = {}
    for m in _PHONE.finditer(text):
        raw = m.group().rstrip()
        intl = raw.startswith(("+", "00"))
        if not intl and not any_strong and raw.isdigit():
            continue
        nd = _count_digits(raw)
        if nd < 6 or nd > 17:
            continue
        number = _EXTENSION.sub("", raw)
        groups = re.split(r"[ \t.-]+", re.sub(r"[()+]", "", number).strip())
        if (
            not intl
            and "." in number
            and (number.count(".") < 2 or not all(2 <= len(g) <= 4 for g in groups))
        ):
            continue  # a decimal number (2121.32), an IP address or a version (25.1.8937393)
        if set(raw) <= set("01 .-"):
            continue  # binary digits: 1001 0011
        separated = len(groups) >= 3 or "(" in raw
        ctx = _PHONE_CONTEXT.search(_context(low, m.start(), m.end(), 40, 20))
        if (
            not intl
            and len(groups) == 1
            and not _PHONE_STRONG_CONTEXT.search(_context(low, m.start(), m.end(), 30, 20))
        ):
            continue  # a bare run of digits with nothing saying it is a phone number
        if not intl and not ctx and _looks_like_maths_or_date(text, m.start(), m.end(), raw):
            continue
        if not intl and not ctx and not separated:
            continue
        key = (raw, intl, nd, bool(ctx))
        if key not in verdicts:  # a text that repeats a number asks phonenumbers once (per scan: no
            spend(scan, 10, m.start())  # number outlives its request in a cache)
            verdicts[key] = _valid_phone(*key)
        if not verdicts[key]:
            continue
        conf = 0.9 if (intl or ctx) else 0.7
        out.append(Finding("phone", m.start(), m.start() + len(raw), conf))


def _internal_ip(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """LAN, loopback and unspecified addresses identify no one outside the machine's own network; the
    big public DNS resolvers identify no one at all. The documentation ranges (192.0.2.0/24,
    198.51.100.0/24, 203.0.113.0/24), which `is_private` includes, do count: in a prompt they stand for
    a public address as far as anyone reading it can tell."""
    if any(ip in net for net in _DOCUMENTATION_NETS):
        return False
    return (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_unspecified
        or ip.is_multicast
        or str(ip) in _PUBLIC_RESOLVERS
    )


_DOCUMENTATION_NETS = tuple(
    ipaddress.ip_network(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32")
)
_PUBLIC_RESOLVERS = frozenset(
    _words(
        """8.8.8.8 8.8.4.4 1.1.1.1 1.0.0.1 9.9.9.9 149.112.112.112 208.67.222.222 208.67.220.220
        2001:4860:4860::8888 2001:4860:4860::8844 2606:4700:4700::1111 2606:4700:4700::1001"""
    )
)

_MATHS_AROUND = re.compile(r"[+*/=^\u00d7\u00f7<>]|\bx\b|\btimes\b|\bplus\b|\bminus\b")


def _looks_like_maths_or_date(text: str, start: int, end: int, raw: str) -> bool:
    around = text[max(0, start - 6) : start] + text[end : end + 6]
    if _MATHS_AROUND.search(around):
        return True
    parts = re.split(r"[\s.-]+", raw.strip("()+ "))
    # Years, dates, times and lists of small numbers ("1 2 3 4 5 6").
    if len(parts) >= 2 and all(len(p) <= 2 for p in parts):
        return not ("(" in raw or raw.count("-") >= 2 or raw.count(".") >= 3)
    if re.fullmatch(r"(?:19|20)\d\d[-./](?:0?[1-9]|1[0-2])[-./]\d{1,2}", raw):
        return True
    return bool(re.fullmatch(r"\d{1,2}[-./]\d{1,2}[-./]\d{2,4}", raw))


def _valid_phone(raw: str, intl: bool, nd: int, has_ctx: bool) -> bool:
    import phonenumbers as pn

    cleaned = _EXTENSION.sub("", raw).replace("(0)", "")
    if intl:
        cand = "+" + cleaned[2:] if cleaned.startswith("00") else cleaned
        try:
            num = pn.parse(cand, None)
        except pn.NumberParseException:
            return False
        return bool(pn.is_valid_number(num) or (has_ctx and pn.is_possible_number(num)))
    for region in _PHONE_REGIONS:
        try:
            num = pn.parse(cleaned, region)
        except pn.NumberParseException:
            continue
        if pn.is_valid_number(num):
            return True
    # Short local numbers ("451 5986") and foreign national formats: accept with a phone word nearby.
    return has_ctx and 7 <= nd <= 13 and bool(re.search(r"\d[\s.-]\d", raw) or "(" in raw or nd >= 9)


# ---------------------------------------------------------------------------------------------------- MAC
# Six colon- or dash-separated hex pairs (one separator throughout), or Cisco's three dotted quads.
_MAC = re.compile(
    r"(?<![\w:.-])(?:[0-9A-Fa-f]{2}([:-])(?:[0-9A-Fa-f]{2}\1){4}[0-9A-Fa-f]{2}"
    r"|[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4})(?![\w:.-])"
)


@detector("mac_address", weight=0.6, priority=135)
def mac_addresses(scan: Scan, out: list[Finding]) -> None:
    text = scan.text
    if text.count(":") < 5 and text.count("-") < 5 and text.count(".") < 2:
        return
    for m in _MAC.finditer(text):
        hexdigits = re.sub(r"[^0-9A-Fa-f]", "", m.group()).lower()
        if len(set(hexdigits)) < 3 or hexdigits in ("ffffffffffff", "000000000000"):
            continue  # broadcast, all-zero, "00:00:00:00:00:01": no device
        if int(hexdigits[:2], 16) & 1:
            continue  # a multicast group (01:00:5e:..., 33:33:...), not one device
        if "." in m.group() and not any(c.isalpha() for c in hexdigits):
            continue  # "1234.5678.9012": a number, not a MAC
        out.append(Finding("mac_address", m.start(), m.end(), 0.85))
