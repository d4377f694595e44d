"""Identifiers: payment cards (Luhn) with their security codes and expiry dates, IBANs, the US SSN,
national IDs, passports, tax and VAT numbers (python-stdnum checks the check digits of most of them),
driver's licences, dates of birth in a personal context, and crypto wallet addresses.

A number that is only a format without a check digit (a passport, a licence) counts only after a word
that names it; a checksummed one with a distinctive shape (a codice fiscale, an Indian PAN, a VAT number
with its country prefix) counts on its own.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable
from typing import Any

from router.scoring.privacy._base import _I, Scan, _context, detector, spend
from router.types import Finding

# (The `(?=...)` that opens a scan over the whole text: the first character of every match, tested before
# the lookbehind at each position. The package docstring says why.)
_CARD = re.compile(r"(?=\d)(?<![\d.,-])(?:\d[ -]?){11,18}\d(?![\d]|[.,]\d)")
_CARD_CONTEXT = re.compile(
    r"\b(?:card|cc|visa|master ?card|amex|american express|maestro|discover|jcb|diners|debit|credit|pan)\b"
)  # lower-cased
_IBAN = re.compile(r"\b[A-Za-z]{2}\d{2}(?:[ -]?[A-Za-z0-9]){11,32}\b")
_SSN_DASHED = re.compile(r"(?=\d)(?<![\d-])(\d{3})([- ])(\d{2})\2(\d{4})(?![\d-])")
_SSN_CONTEXT = re.compile(
    r"\b(?:ssn|social security(?: number| no\.?| #)?|ss#|soc\.? sec\.?)\b"
)  # lower-cased
_NINE_DIGITS = re.compile(r"(?<![\d-])\d{9}(?![\d-])")
_DL_CONTEXT = re.compile(
    r"\b(?:driver'?s?|driving)\s*licen[cs]e|\bdl\s*(?:#|no\.?|number)|\blicen[cs]e\s*(?:#|no\.?|number)"
)  # lower-cased
_ID_DIGITS = re.compile(r"\d\d[\d .-]{2,}\d")
_DL_VALUE = re.compile(r"(?<![\w-])(?=[A-Z0-9-]*\d)[A-Z0-9][A-Z0-9-]{4,18}[A-Z0-9](?![\w-])", _I)
_NATID_CONTEXT = re.compile(  # lower-cased; every cue opens with a letter of [a-z]
    r"\b(?=[a-z])(?:passport|national (?:id|identity|insurance)|identity (?:card|number|document)|"
    r"id (?:card|number|no\.?)|"
    r"personal (?:number|identity code|id|code)|personnummer|fødselsnummer|fodselsnummer|henkilötunnus|hetu|"
    r"cpr|bsn|burgerservicenummer|codice fiscale|dni|nie|nif|nir|pesel|aadhaar|sin|social insurance|"
    r"steuer-?id|steueridentifikationsnummer|steuernummer|tax (?:id|number|identification|file number|code|"
    r"reference)|tin|nhs(?: number)?|itin|ein|employer identification|utr|unique taxpayer|tfn|abn|pan|"
    r"pps(?:n| number)?|nino|ni number|vat(?: number| no\.?| id| reg(?:istration)?(?: number)?)?|"
    r"ust-?id(?:nr)?|"
    r"partita iva|btw(?:-nummer)?|numéro fiscal|numero fiscale|nip|nif|cif|sofinummer|rijksregisternummer|"
    r"insee|sécurité sociale|securite sociale|curp|rfc|cédula|cedula|personalausweis|reisepass)\b",
)
_NATID_VALUE = re.compile(
    r"(?<![\w-])(?=[A-Za-z0-9 ./+-]*\d)[A-Za-z0-9][A-Za-z0-9 ./+-]{4,20}[A-Za-z0-9](?![\w-])"
)
# Self-evident formats that are checked without a context word: each has a check digit and a shape that
# ordinary numbers rarely take.
_NATID_SELF = re.compile(
    r"(?<![\w-])(?=[\dA-Z])(?:\d{6}[-+A]\d{3}[0-9A-Y]"  # Finnish HETU
    r"|[A-Z]{6}\d{2}[A-EHLMPR-T]\d{2}[A-Z]\d{3}[A-Z]"  # Italian codice fiscale
    r"|\d{6}[-+]\d{4}"  # Swedish personnummer (validated)
    r"|[A-Z]{3}[PCHFATBLJG][A-Z]\d{4}[A-Z]"  # Indian PAN
    r"|\d{8}-?[A-Z]|[XYZ]-?\d{7}-?[A-Z]"  # Spanish DNI, NIE (check letter)
    r"|9\d\d-[78]\d-\d{4}"  # US ITIN
    r"|(?:AT|BE|BG|CY|CZ|DE|DK|EE|EL|ES|FI|FR|GB|HR|HU|IE|IT|LT|LU|LV|MT|NL|PL|PT|RO|SE|SI|SK|XI)"
    r"U?[ ]?(?:[0-9A-Z][ ]?){8,12}[0-9A-Z]"  # VAT numbers with their country prefix
    r"|[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d\d ?\d\d ?\d\d ?[A-D]"  # UK National Insurance number
    r")(?![\w-])"
)
_NINO = re.compile(r"[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d\d ?\d\d ?\d\d ?[A-D]")
_NINO_BAD_PREFIX = frozenset(("BG", "GB", "NK", "KN", "TN", "NT", "ZZ"))
# Passports have no check digit in their printed number: a passport word, then 6-9 letters and digits.
_PASSPORT_CONTEXT = re.compile(r"\b(?:passport|reisepass|passeport|pasaporte|passaporto|paspoort)\b")
_PASSPORT_VALUE = re.compile(r"(?<![\w-])(?=[A-Z0-9]*\d{5})[A-Z0-9]{1,2}\d{5,8}[A-Z0-9]?(?![\w-])")


@detector("credit_card", weight=0.97, priority=90)
def cards(scan: Scan, out: list[Finding]) -> None:
    from stdnum import luhn

    text, low = scan.text, scan.low
    digits = scan.digits
    if digits >= 12:
        for m in _CARD.finditer(text):
            raw = m.group()
            # The regex may have taken a number after the card ("4111 1111 1111 1111 08/29"): drop
            # trailing groups until one reading is a card.
            for _ in range(3):
                spend(scan, 1, m.start())
                if _card(raw, low, m.start(), luhn.is_valid):
                    out.append(Finding("credit_card", m.start(), m.start() + len(raw), 0.95))
                    break
                if not re.search(r"[ -]", raw):
                    break
                raw = re.split(r"[ -](?=[^ -]*$)", raw)[0]


def _card(raw: str, low: str, start: int, luhn_ok: Callable[[str], bool]) -> bool:
    compact = raw.replace(" ", "").replace("-", "")
    if not 12 <= len(compact) <= 19:
        return False
    if compact[0] not in "23456" and not compact.startswith(("1800", "2131")):
        return False
    # Separators must look like card grouping (4-4-4-4, 4-6-5, ...) or be absent.
    groups = re.split(r"[ -]", raw)
    if len(groups) > 1 and not all(3 <= len(g) <= 6 for g in groups):
        return False
    # 12-digit (Maestro) numbers are common as other things: only with a card word nearby.
    if len(compact) < 13 and not _CARD_CONTEXT.search(_context(low, start, start + len(raw), 40)):
        return False
    return len(set(compact)) >= 2 and luhn_ok(compact)


@detector("iban", weight=0.95, priority=80)
def ibans(scan: Scan, out: list[Finding]) -> None:
    from stdnum import iban

    text = scan.text
    digits = scan.digits
    if digits >= 10:
        for m in _IBAN.finditer(text):
            raw = m.group()
            # The regex may have swallowed following words ("... 0130 00 by"): drop trailing groups
            # until the checksum holds.
            while len(raw) >= 15:
                spend(scan, 1, m.start())
                if iban.is_valid(raw):
                    out.append(Finding("iban", m.start(), m.start() + len(raw), 0.98))
                    break
                if " " not in raw and "-" not in raw:
                    break
                raw = re.split(r"[ -](?=[^ -]*$)", raw)[0]


@detector("us_ssn", weight=0.98, priority=100)
def ssn(scan: Scan, out: list[Finding]) -> None:
    text, low = scan.text, scan.low
    from stdnum.us import ssn

    for m in _SSN_DASHED.finditer(text):
        compact = m.group(1) + m.group(3) + m.group(4)
        ctx = _SSN_CONTEXT.search(_context(low, m.start(), m.end(), 60))
        if not ssn.is_valid(compact) and not (ctx and m.group(2) == "-" and "000" not in m.group(1)):
            continue  # (after "SSN" any dashed 3-2-4 number counts: "987-65-4321" is one to its writer)
        conf = 0.97 if ctx else (0.8 if m.group(2) == "-" else 0.5)
        if ctx or m.group(2) == "-":
            out.append(Finding("us_ssn", m.start(), m.end(), conf))
    if ("ssn" in low or "ss#" in low or "soc" in low) and _SSN_CONTEXT.search(low):  # (each cue holds one)
        for m in _NINE_DIGITS.finditer(text):
            if ssn.is_valid(m.group()) and _SSN_CONTEXT.search(_context(low, m.start(), m.end(), 40)):
                out.append(Finding("us_ssn", m.start(), m.end(), 0.9))


@detector("national_id", weight=0.95, priority=110)
def national_ids(scan: Scan, out: list[Finding]) -> None:
    text, low = scan.text, scan.low
    for m in _NATID_SELF.finditer(text):
        if _checked_id(scan, m.group(), m.start(), self_evident=True):
            out.append(Finding("national_id", m.start(), m.end(), 0.9))
    if not _ID_DIGITS.search(text):
        return  # the context-checked IDs below all have a run of digits
    # What follows a cue depends only on the 40 characters after it (and the one before them, that the
    # value's lookbehind reads): a window repeated in the text is read once, its answer kept as offsets.
    windows: dict[str, tuple[int, int] | None] = {}
    for ctx in _NATID_CONTEXT.finditer(low):
        at = ctx.end()
        window = text[at - 1 : at + 40]
        if window not in windows:
            windows[window] = _id_after_cue(scan, at, at - 1 + len(window))
        span = windows[window]
        if span:
            out.append(Finding("national_id", at + span[0], at + span[1], 0.9))
    if "pass" in low or "pasa" in low or "paspoort" in low:
        for ctx in _PASSPORT_CONTEXT.finditer(low):
            pm = _PASSPORT_VALUE.search(text, ctx.end(), min(len(text), ctx.end() + 40))
            if pm:
                out.append(Finding("national_id", pm.start(), pm.end(), 0.85))


@detector("driver_license", weight=0.9, priority=120)
def driver_licenses(scan: Scan, out: list[Finding]) -> None:
    text, low = scan.text, scan.low
    if scan.digits < 4 or not _ID_DIGITS.search(text):
        return  # every licence number here has a run of digits
    for ctx in _DL_CONTEXT.finditer(low):
        window_end = min(len(text), ctx.end() + 40)
        for m in _DL_VALUE.finditer(text, ctx.end(), window_end):
            value = m.group()
            if sum(ch.isdigit() for ch in value) >= 4 and value.lower() not in ("number", "class"):
                out.append(Finding("driver_license", m.start(), m.end(), 0.85))
                break


def _id_after_cue(scan: Scan, start: int, end: int) -> tuple[int, int] | None:
    """The first valid national number in `scan.text[start:end]`, the window after a cue word, as
    offsets from `start`."""
    for m in _NATID_VALUE.finditer(scan.text, start, end):
        value = _id_in(scan, m.group().strip(" .-+"), m.start())
        if value:
            first = m.start() + m.group().index(value[0]) - start
            return first, first + len(value)
    return None


def _checked_id(scan: Scan, value: str, at: int, *, self_evident: bool = False) -> bool:
    """`_valid_national_id`, remembered for the scan (a repeated value is checked once) and counted
    against the detector's validation budget."""
    memo = scan.memo.setdefault("national_ids", {})
    assert isinstance(memo, dict)
    key = (value, self_evident)
    if key not in memo:
        spend(scan, 25, at)
        memo[key] = _valid_national_id(value, self_evident=self_evident)
    return bool(memo[key])


def _id_in(scan: Scan, value: str, at: int) -> str:
    """The valid national number in a window after its cue word, without the words around it: "is
    111222333", "295109912611193 pour". Empty when there is none."""
    value = re.sub(r"^(?:[^\W\d_]+[ .:-]+)+", "", value)  # "is 111222333"
    for _ in range(6):
        if not value or _checked_id(scan, value, at):
            return value
        if " " not in value:
            return ""
        value = value.rsplit(" ", 1)[0].rstrip(" .-+")  # "2341 2341 2346 linked"
    return ""


def _valid_national_id(value: str, *, self_evident: bool = False) -> bool:
    """Whether `value` passes the check digits of one of the national numbers python-stdnum knows.
    `self_evident`: only the formats that count without a context word."""
    compact = re.sub(r"[\s./-]", "", value).upper()
    if len(compact) < 8:
        return False
    if _NINO.fullmatch(value) or _NINO.fullmatch(compact):
        return compact[:2] not in _NINO_BAD_PREFIX
    for module in _modules(self_evident):
        try:
            if module.is_valid(compact) or module.is_valid(value):
                return True
        except Exception:
            continue
    return False


def _modules(self_evident: bool) -> tuple[Any, ...]:
    from stdnum.es import dni, nie
    from stdnum.eu import vat
    from stdnum.fi import hetu
    from stdnum.in_ import aadhaar, pan
    from stdnum.it import codicefiscale
    from stdnum.se import personnummer
    from stdnum.us import itin

    strong: tuple[Any, ...] = (hetu, codicefiscale, personnummer, dni, nie, pan, itin, aadhaar, vat)
    if self_evident:
        return strong
    from stdnum.au import abn, tfn
    from stdnum.be import nn
    from stdnum.ca import sin
    from stdnum.de import idnr, stnr
    from stdnum.dk import cpr
    from stdnum.fr import nif, nir
    from stdnum.gb import nhs, utr
    from stdnum.ie import pps
    from stdnum.nl import bsn
    from stdnum.no import fodselsnummer
    from stdnum.pl import nip, pesel
    from stdnum.pt import nif as pt_nif
    from stdnum.us import ein

    return (
        *strong,
        fodselsnummer,
        cpr,
        bsn,
        pesel,
        nir,
        idnr,
        sin,
        nhs,
        utr,
        pps,
        nn,
        abn,
        tfn,
        ein,
        nif,
        stnr,
        nip,
        pt_nif,
    )


# ------------------------------------------------------------------------------ card security codes, expiry
_CVV = re.compile(
    r"\b(?:cvv2?|cvc2?|csc|cvn|cid|security code|sec(?:urity)? code|card code|"
    r"card verification(?: value| code)?)"
    r"\b[^\w\n]{0,3}(?:(?:is|was|:)[ \t]*)?(?:#[ \t]*)?(?P<v>\d{3,4})(?![\d/.-])"
)  # lower-cased
_EXPIRY = re.compile(
    r"\b(?:exp(?:iry|iration|ires|iring|\.)?|valid (?:thru|through|until|till)|good thru|expiry date|"
    r"expiration date|exp date|ablauf(?:datum)?)\b[^\w\n]{0,3}(?:(?:date|on|is|:)[ \t:]*){0,2}"
    r"(?P<v>(?:0?[1-9]|1[0-2])[ \t]?[/.-][ \t]?(?:20)?\d\d)(?![\d/])"
)  # lower-cased
_BARE_EXPIRY = re.compile(r"(?<![\d/.-])(?:0[1-9]|1[0-2])/(?:20)?\d\d(?![\d/])")


@detector("credit_card", weight=0.97, priority=90, stage=1, name="card_security_codes")
def card_security_codes(scan: Scan, out: list[Finding]) -> None:
    """A card's security code after its name ("cvv 123"), and its expiry date after a cue ("exp 12/27")
    or, bare, within 40 characters of a card number or security code."""
    low = scan.low
    if not any(w in low for w in ("cv", "cid", "csc", "code", "exp", "valid", "thru", "ablauf")):
        return
    code_starts = []
    for m in _CVV.finditer(low):
        code_starts.append(m.start("v"))
        out.append(Finding("credit_card", m.start("v"), m.end("v"), 0.9))
    for m in _EXPIRY.finditer(low):
        i = bisect.bisect_left(code_starts, m.start() - 79)  # a code within 80 characters either side
        near = (i < len(code_starts) and code_starts[i] < m.start() + 80) or _CARD_CONTEXT.search(
            low, max(0, m.start() - 80), min(len(low), m.end() + 40)
        )
        if near or scan.digits >= 12:
            out.append(Finding("credit_card", m.start("v"), m.end("v"), 0.85))


@detector("credit_card", weight=0.97, priority=90, stage=2, name="card_expiry_beside_a_card")
def card_expiry_beside_a_card(scan: Scan, out: list[Finding]) -> None:
    text = scan.text
    if "/" not in text:
        return
    for f in scan.found:
        if f.category != "credit_card":
            continue
        for m in _BARE_EXPIRY.finditer(text, f.end, min(len(text), f.end + 40)):
            out.append(Finding("credit_card", m.start(), m.end(), 0.8))
        for m in _BARE_EXPIRY.finditer(text, max(0, f.start - 40), f.start):
            out.append(Finding("credit_card", m.start(), m.end(), 0.8))


# ----------------------------------------------------------------------------------------- date of birth
_MONTHS = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|"
    r"oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
_DATE = (
    r"(?:\d{1,2}[/.-]\d{1,2}[/.-](?:19|20)?\d\d|(?:19|20)\d\d[/.-]\d{1,2}[/.-]\d{1,2}"
    rf"|\d{{1,2}}(?:st|nd|rd|th)?(?:[ \t]+of)?[ \t]+{_MONTHS},?[ \t]+(?:19|20)\d\d"
    rf"|{_MONTHS}[ \t]+\d{{1,2}}(?:st|nd|rd|th)?,?[ \t]+(?:19|20)\d\d)"
)
# A date after a word that says it is somebody's birth date: always personal.
_DOB = re.compile(
    r"\b(?:date of birth|birth ?date|dob|d\.o\.b\.?|birthday|geburtsdatum|fecha de nacimiento|"
    r"date de naissance|data di nascita|geboortedatum|né(?:e)? le|geboren am)\b[^\w\n]{0,4}"
    rf"(?:(?:is|was|on|:)[ \t]*){{0,2}}(?P<v>{_DATE})(?![\d/])"
)  # lower-cased
# "born on 3 May 1984": personal only when someone private was born ("I was", "my son was", "patient").
_BORN = re.compile(rf"\bborn[ \t]+(?:on[ \t]+|in[ \t]+)?(?P<v>{_DATE})(?![\d/])")  # lower-cased
_BORN_WHO = re.compile(
    r"\b(?:i|i'm|i am|my|our|we|patient|client|customer|applicant|employee|member|account holder|you|your)\b"
    r"[^.!?\n]{0,40}$"
)


@detector("date_of_birth", weight=0.7, priority=145)
def dates_of_birth(scan: Scan, out: list[Finding]) -> None:
    low = scan.low
    if scan.digits < 2 or not any(
        w in low for w in ("birth", "dob", "d.o.b", "born", "geb", "naissance", "né")
    ):
        return
    for m in _DOB.finditer(low):
        out.append(Finding("date_of_birth", m.start("v"), m.end("v"), 0.9))
    for m in _BORN.finditer(low):
        if _BORN_WHO.search(low, max(0, m.start() - 50), m.start()):
            out.append(Finding("date_of_birth", m.start("v"), m.end("v"), 0.8))


# ------------------------------------------------------------------------------------------- crypto wallets
_BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_WALLET = re.compile(
    r"(?<![\w])(?=[13LMDblt04])(?:[13LMD][1-9A-HJ-NP-Za-km-z]{25,34}|(?:bc|ltc|tb)1[02-9ac-hj-np-z]{11,71}"
    r"|0x[0-9a-fA-F]{40}|4[0-9AB][1-9A-HJ-NP-Za-km-z]{93})(?![\w])"
)
_WALLET_CONTEXT = re.compile(
    r"\b(?:wallet|address|addr|eth|ether|ethereum|btc|bitcoin|crypto|send|pay|payment|deposit|withdraw|"
    r"metamask|usdt|usdc|monero|xmr|coinbase|binance|ledger|transfer|receive|donate)\b"
)  # lower-cased


def _base58check(value: str) -> bool:
    import hashlib

    n = 0
    for ch in value:
        i = _BASE58.find(ch)
        if i < 0:
            return False
        n = n * 58 + i
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    raw = b"\0" * (len(value) - len(value.lstrip("1"))) + raw
    if len(raw) < 5:
        return False
    body, check = raw[:-4], raw[-4:]
    return hashlib.sha256(hashlib.sha256(body).digest()).digest()[:4] == check


@detector("crypto_wallet", weight=0.8, priority=125)
def crypto_wallets(scan: Scan, out: list[Finding]) -> None:
    """Bitcoin, Litecoin and Dogecoin addresses by their base58check or bech32 checksum; Ethereum and Monero
    addresses (no checksum this side of keccak) after a word about wallets or payments."""
    from stdnum import bitcoin

    text, low = scan.text, scan.low
    for m in _WALLET.finditer(text):
        value = m.group()
        spend(scan, 2, m.start())
        if value.startswith(("0x", "4")):
            ok = len(set(value[2:])) >= 8 and bool(
                _WALLET_CONTEXT.search(low, max(0, m.start() - 60), min(len(low), m.end() + 20))
            )
        elif value[:2].lower() in ("bc", "tb") or value.lower().startswith("ltc1"):
            ok = value[:2].lower() == "bc" and bitcoin.is_valid(value)
        else:
            ok = _base58check(value)
        if ok:
            out.append(Finding("crypto_wallet", m.start(), m.end(), 0.9))


# ------------------------------------------------------------------------------------ account numbers
# An account or record number after the word that names it: bank accounts, US routing numbers (ABA
# checksum), UK sort codes, Australian BSBs, medical record and insurance member numbers.
_ACCOUNT_CONTEXT = re.compile(
    r"\b(?:(?:bank |checking |savings |chequing )?account (?:number|no\.?|#)|acct\.? ?(?:number|no\.?|#)?|"
    r"bank account|routing (?:number|no\.?|#)?|aba (?:number|no\.?)?|sort code|bsb|"
    r"medical record (?:number|no\.?|#)?|mrn|patient id|member (?:id|number)|policy (?:number|no\.?)|"
    r"(?<!national )insurance (?:number|id|no\.?)|health (?:card|insurance) (?:number|no\.?)|"
    r"medicare (?:number|no\.?))\b"
    r"[^\w\n]{0,4}(?:(?:is|was|:)[ \t]*)?"
)  # lower-cased
_ACCOUNT_VALUE = re.compile(r"(?<![\w-])(?=[A-Za-z0-9-]*\d\d)[A-Za-z]{0,4}-?\d[\d -]{3,20}\d(?![\w-])")


@detector("account_number", weight=0.9, priority=115)
def account_numbers(scan: Scan, out: list[Finding]) -> None:
    from stdnum.us import rtn

    text, low = scan.text, scan.low
    if scan.digits < 5 or not any(
        w in low
        for w in (
            "acc",
            "acct",
            "routing",
            "aba",
            "sort code",
            "bsb",
            "mrn",
            "medical",
            "member",
            "policy",
            "insurance",
            "patient id",
            "medicare",
            "health",
        )
    ):
        return
    for ctx in _ACCOUNT_CONTEXT.finditer(low):
        m = _ACCOUNT_VALUE.search(text, ctx.end(), min(len(text), ctx.end() + 48))
        if m is None or m.start() > ctx.end() + 24:
            continue
        value = m.group()
        digits = re.sub(r"\D", "", value)
        if "routing" in ctx.group() or "aba" in ctx.group():
            spend(scan, 1, m.start())
            if not rtn.is_valid(digits):
                continue
        elif len(digits) < 5 or len(set(digits)) < 2:
            continue
        out.append(Finding("account_number", m.start(), m.end(), 0.85))
