"""Postal addresses: street lines in English and European formats, P.O. boxes, military addresses, units,
an address after a cue ("lives at", "ship to"), and the rest of an address block under its street line."""

from __future__ import annotations

import re

from router.scoring.privacy._base import Scan, _words, detector
from router.types import Finding

_STREET_TYPES = (
    r"street|st|avenue|ave|road|rd|boulevard|blvd|lane|ln|drive|dr|court|ct|way|place|pl|terrace|ter|"
    r"circle|cir|highway|hwy|parkway|pkwy|square|sq|trail|trl|alley|crescent|cres|close|gardens|grove|"
    r"row|walk|plaza|pike|expressway|route|rte|mews|park|passage|pass|crossing|gateway|heights|hill|"
    r"port|quay|rise|view|wharf"
)
_STREET_TYPE_WORD = rf"(?-i:(?:{_STREET_TYPES.title()})\b\.?|(?:St|Ave|Rd|Blvd|Ln|Dr|Ct|Pl|Hwy|Pkwy|Sq)\b\.?)"
# Searched backwards from each street-type word (the anchor: rarer than numbers), in a window that ends
# there, so that a text of numbers or capitalised words costs one pass of the anchor's scan.
# (The `(?=...)` that opens a scan over the whole text: the first character of every match, tested before
# the lookbehind at each position. The package docstring says why.)
_STREET_ANCHOR = re.compile(rf"(?=[A-Z])(?<=[ \t]){_STREET_TYPE_WORD}")
_STREET = re.compile(
    rf"\b\d{{1,6}}[A-Za-z]?(?:[ -]\d{{1,6}})?[ \t]+(?:[A-Z0-9][\w'.-]*[ \t]+){{1,4}}{_STREET_TYPE_WORD}$",
)
_ADDRESS_CUE = re.compile(  # lower-cased; "Address" (a speech's title) is told apart in code
    r"\b(?:address(?:es)?\??(?: is| was| to|[ \t]+it is|[ \t]+it's)?|"
    r"live[sd]? (?:at|on|in)|living at|moved to|"
    r"located at|(?:is|are) (?:at|on)|"
    r"deliver(?:ed)? to|ship(?:ped)? to|send (?:it |this |them )?to|corner of|arrived at|"
    r"drops? (?:you |me )?off at|meet(?:ing)? (?:me )?at|stay(?:ing)? at|reside[sd]? at)"
    r"[:,]?[ \t]*(?:the corner of |the (?:north|south|east|west)(?:ern)? (?:side|end|part) of )?",
)
_ADDRESS_AFTER_CUE = re.compile(
    r"(?:\d{1,6}[A-Za-z]?[ \t]+)?(?:[^\W\d_][\w'\u2019.-]*[ \t]+){1,4}\d{1,5}[A-Za-z]?\b\.?"
    r"|\d{1,6}[A-Za-z]?(?:[ \t]+\d{1,6})?[ \t]+(?:[^\W\d_][\w'\u2019.-]*[ \t]*){1,4}",
)
_STREET_FOREIGN_WORD = re.compile(
    r"\b(?:(?:rue|via|viale|calle|avenida|av\.|avenue|rua|strada|piazza|plaza|plac|ulica|ul\.|"
    r"chemin|boulevard|travessa|largo|carrer|paseo)\s+(?:[\w'.-]+\s+){0,4}\d{1,5}[A-Za-z]?"
    r"|\d{1,5}\s+(?:rue|via|calle|avenida|rua|strada|avenue|boulevard)\s+(?:[\w'.-]+\s?){1,4}"
    r"|(?<!\w)(?:c/|avda\.|pza\.)[ \t]?(?:[\w'.-]+[ \t]+){0,4}\d{1,5})",
)  # lower-cased
# "Koskikatu 25", "Villacher Strasse 89", "Király u. 15.": a word, then a house number. One cheap scan for
# "word number", then a check of how the word ends (a street-type suffix or a separate street word).
# The scan starts at the number (numbers are rare, words are not), then looks back for the word.
_NUMBER_AFTER_WORD = re.compile(r"(?=[ \t])(?<=[^\W\d_]|\.)[ \t]{1,2}\d{1,5}[a-z]?\b\.?")  # lower-cased
_WORD_BEFORE = re.compile(r"(?<![\w.])[^\W\d_][^\W\d_.]*\.?$")
_FOREIGN_STREET_WORDS = (
    "rue",
    "via",
    "viale",
    "calle",
    "avenida",
    "av.",
    "avenue",
    "rua",
    "strada",
    "piazza",
    "plaza",
    "plac",
    "ulica",
    "ul.",
    "chemin",
    "boulevard",
    "travessa",
    "largo",
    "carrer",
    "paseo",
    "c/",
    "avda.",
    "pza.",
)
_ADDRESS_CUE_WORDS = (
    "address",
    "live",
    "living",
    "moved",
    "located",
    " at",
    " on",
    "deliver",
    "ship",
    "send",
    "corner",
    "drop",
    "meet",
    "stay",
    "reside",
)
_STREET_WORD_ENDINGS = (
    "strasse",
    "straße",
    "str.",
    "gasse",
    "weg",
    "platz",
    "allee",
    "gatan",
    "gata",
    "gade",
    "vej",
    "vegen",
    "veien",
    "vei",
    "katu",
    "kuja",
    "tie",
    "polku",
    "stræti",
    "straat",
    "laan",
    "gracht",
    "plein",
    "kade",
    "utca",
    "útca",
    "tér",
    "körút",
    "ulica",
    "ulice",
    "vænget",
    "torv",
    "stig",
    "gränd",
    "väg",
    "vägen",
    "tori",
    "puistotie",
    "rinne",
    "stien",
    "stræde",
    "straede",
    "straeti",
    "braut",
    "vegur",
    "brücke",
    "street",
    "road",
)
_STREET_WORDS_ALONE = frozenset(
    ("u.", "utca", "tér", "út", "útja", "krt.", "str.", "ul.", "street", "road", "strasse", "straße", "gasse")
)
# How the word before a house number ends when it is a street word: alone or as an ending.
_STREET_TAILS = (*_STREET_WORDS_ALONE, *_STREET_WORD_ENDINGS)
_UNIT = re.compile(r"\b(?:apt\.?|suite|ste\.)[ \t]*#?[ \t]*\d{1,6}[a-z]?\b")  # lower-cased
_PO_BOX = re.compile(
    r"\b(?:p\.?\s?o\.?\s?box|post office box|postbox|(?:psc|unit|cmr)\s+\d{3,5},?\s+box)\s*\d{1,6}"
    r"(?:\s+(?:apo|fpo|dpo)\s+(?:aa|ae|ap)\s+\d{5})?",
)  # lower-cased
_MILITARY = re.compile(r"\b(?:apo|fpo|dpo)\s+(?:aa|ae|ap)\s+\d{5}\b")  # lower-cased
# "4410 Kirkegata 15", "618 Ana Ipatescu 9": a building number, a capitalised street name and a house
# number with nothing else around them. Checked in code: every word capitalised or a street word, no
# month or unit word ("12 March 2023", "5 Hours 30").
_NUMBERED_STREET = re.compile(
    r"(?<![\w.,:/+-])\d{1,6}[ ](?P<name>(?:[^\W\d_][\w'\u2019-]*\.?[ ]){1,3})\d{1,4}[A-Za-z]?\b(?![.,:/-]?\d)"
)
_LOWER_STREET_WORDS = frozenset(
    _words("gate gata gade vej vei veien vegen st st. street road rd rd. ave ave.")
)
# A number right before an address finding is part of it: "22 14 Rue des Lilas", "3310 P.O. Box 57".
_NUMBER_BEFORE = re.compile(r"(?<![\w.,:/+-])\d{1,6}[ \t]+$")
# "the corner of X St. and Y St.": the second street of a crossing has no house number.
_CROSS_STREET = re.compile(
    r"[ \t]+and[ \t]+(?P<v>(?:[^\W\d_][\w'\u2019-]*[ \t]+){1,3}"
    rf"(?-i:(?:{_STREET_TYPES.title()})\b\.?|(?:St|Ave|Rd|Blvd|Ln|Dr|Ct|Pl|Hwy|Pkwy|Sq)\b\.?))"
)
# A line of a postal address block after the street line: a unit, a city, "Country 12345", ", CO".
_BLOCK_LINE = re.compile(r"[ \t>?|*-]*(?P<v>[^\W_][^\n:@?!;=]{0,38}?|,[ \t]*[A-Z]{2})[ \t]*$")


@detector("street_address", weight=0.75, priority=150)
def addresses(scan: Scan, out: list[Finding]) -> None:
    text, low = scan.text, scan.low
    if scan.digits == 0:
        return
    for num in _NUMBER_AFTER_WORD.finditer(low):
        if num.start() == 0 or not (low[num.start() - 1].isalpha() or low[num.start() - 1] == "."):
            continue
        if not low.endswith(_STREET_TAILS, 0, num.start()):
            continue  # (one test of the characters before the number, where most numbers stop)
        m = _WORD_BEFORE.search(low, max(0, num.start() - 40), num.start())
        if m is None:
            continue
        word = m.group()
        if word in _STREET_WORDS_ALONE or (len(word) > 4 and word.endswith(_STREET_WORD_ENDINGS)):
            start = m.start()
            if word in _STREET_WORDS_ALONE:  # "Bajcsy Zsilinszky u. 15.": the name before it too
                prev = re.search(
                    r"(?<![\w'\u2019-])(?:(?-i:[^\W\d_a-z])[\w'\u2019-]*[ \t]+){1,2}$",
                    text[max(0, start - 40) : start],
                )
                if prev:
                    start -= len(prev.group(0))
            out.append(Finding("street_address", start, num.end(), 0.8))
    last_end = 0
    for a in _STREET_ANCHOR.finditer(text):
        m = _STREET.search(text, max(last_end, a.start() - 160), a.end())
        if m and _plausible_street(m.group()):
            out.append(Finding("street_address", m.start(), m.end(), 0.8))
            last_end = m.end()
    for m in _NUMBERED_STREET.finditer(text):
        if _plausible_numbered_street(m.group("name")):
            out.append(Finding("street_address", m.start(), m.end(), 0.75))
    checks = (
        (_STREET_FOREIGN_WORD, any(w in low for w in _FOREIGN_STREET_WORDS)),
        (_PO_BOX, "box" in low),
        (_MILITARY, "po " in low),
        (_UNIT, "apt" in low or "ste" in low or "suite" in low),
    )
    for rx, worth_it in checks:
        if worth_it:
            for m in rx.finditer(low):
                conf = 0.7 if rx is _UNIT else 0.8
                out.append(Finding("street_address", m.start(), m.end(), conf))
    if any(w in low for w in _ADDRESS_CUE_WORDS):
        _cued_addresses(scan, out)
    _extend_addresses(scan, out)


def _cued_addresses(scan: Scan, out: list[Finding]) -> None:
    text, low = scan.text, scan.low
    for cue in _ADDRESS_CUE.finditer(low):
        if (
            text[cue.start()] == "A"
            and low.startswith("address", cue.start())
            and not low.startswith(":", cue.start() + 7)
        ):
            continue  # "State of the Union Address": a speech, not a place ("Address:" is a label)
        after = _ADDRESS_AFTER_CUE.match(text, cue.end())
        if after:
            end = _cued_address_end(text, after.start(), after.end())
            if end > after.start() and _plausible_cued_address(text[after.start() : end]):
                out.append(Finding("street_address", after.start(), end, 0.75))
        if low.startswith("corner of", cue.start()) or "corner of" in low[cue.start() : cue.end()]:
            # "at the corner of 5 Elm Street and Oak Avenue": the second street too
            cross = _CROSS_STREET.search(text, cue.end(), min(len(text), cue.end() + 80))
            if cross and "\n" not in text[cue.end() : cross.start()]:
                out.append(Finding("street_address", cross.start("v"), cross.end("v"), 0.7))


def _plausible_street(match: str) -> bool:
    words = match.split()
    # "3 big road trips", "5 way" -> need a capitalised street name or a short type word after a number.
    name_words = [w for w in words[1:-1] if not w.replace(",", "").isdigit()]
    if not name_words:
        return False
    return any(w[:1].isupper() for w in name_words)


_NOT_ADDRESS_WORDS = frozenset(
    _words("""am pm percent minutes hours days weeks months years times people page pages chapter article
    section
    the a an in on at of and or to for level step stage version round degrees least most about around
    january february march april may june july august september october november december monday tuesday
    wednesday thursday friday saturday sunday""")
)


def _cued_address_end(text: str, start: int, end: int) -> int:
    """Cut a cued address before the first word that cannot be part of it ("... Str. and Waechter")."""
    for w in re.finditer(r"[^\W\d_][\w'\u2019.-]*", text[start:end]):
        if w.group().lower().rstrip(".") in _NOT_ADDRESS_WORDS:
            return start + len(text[start : start + w.start()].rstrip())
    return end


def _plausible_cued_address(match: str) -> bool:
    """After "lives at", "address is", ...: a house number and at least one capitalised name word, or, in
    lower-case text, a name between two numbers ("drops you off at 5120 storgata 41")."""
    words = re.findall(r"[^\W\d_][\w'\u2019.-]*", match)
    if not words or not any(ch.isdigit() for ch in match):
        return False
    lowered = {w.lower().rstrip(".") for w in words}
    if lowered & _NOT_ADDRESS_WORDS:
        return False
    return any(w[:1].isupper() for w in words) or bool(_NUMBER_WORDS_NUMBER.fullmatch(match.strip()))


# A building number of two or more digits, a one- or two-word name, a house number.
_NUMBER_WORDS_NUMBER = re.compile(r"\d{2,6}[ \t]+(?:[^\W\d_][\w'\u2019.-]*[ \t]+){1,2}\d{1,5}[A-Za-z]?\.?")


def _plausible_numbered_street(name: str) -> bool:
    """The words of "4410 Kirkegata 15": capitalised (or a street word such as "gate") and none of them a
    month, a unit or a function word ("5 May 2020", "3 Hours 20")."""
    words = name.split()
    if not words[0][:1].isupper() or len(words[0].rstrip(".")) < 2:
        return False
    for w in words:
        lw = w.lower()
        if lw.rstrip(".") in _NOT_ADDRESS_WORDS or lw.rstrip(".") in _NOT_NAME_ADDRESS:
            return False
        if not w[:1].isupper() and lw not in _LOWER_STREET_WORDS:
            return False
        if w.isupper() and len(w) > 1:
            return False  # "2023 POSITIVE 0": a table cell, not a street name
    return True


# Capitalised words that start or fill "number Word number" runs that are not streets.
_NOT_NAME_ADDRESS = frozenset(
    _words("""jan feb mar apr jun jul aug sep sept oct nov dec mon tue wed thu fri sat sun chapter part
    volume vol page pages figure fig table question problem exercise step level round grade class season
    episode verse psalm psalms genesis exodus john luke mark matthew acts romans corinthians windows python
    java ios android version release model series iphone galaxy pixel xbox playstation ps world war top
    no number section article item""")
)


def _extend_addresses(scan: Scan, out: list[Finding]) -> None:
    """Grow the street addresses in `out` to the whole postal address.

    - A building number right before one belongs to it: "22 14 Rue des Lilas", "3310 P.O. Box 57".
    - When the street ends its line and that line is short and no sentence (an address block, as on an
      envelope or in a signature), the short lines below it (unit, city, "Country 12345", ", CO") are part
      of the address: up to four of them, across at most one blank line, stopping at a longer or
      sentence-like line.
    Only prompts that already have an address finding are touched, so this never flags a new prompt.
    """
    text = scan.text
    streets = [f for f in out if f.category == "street_address"]
    if not streets:
        return
    done_lines: set[int] = set()
    for f in streets:
        start = f.start
        before = _NUMBER_BEFORE.search(text, max(0, start - 12), start)
        if before:
            out.append(Finding("street_address", before.start(), f.end, f.confidence))
            start = before.start()
        line_start, _ = scan.line_bounds(start)
        _, line_end = scan.line_bounds(f.end)
        if line_end >= len(text) or line_end in done_lines or line_end - line_start > 70:
            continue
        rest = text[f.end : line_end].strip(" \t,.")
        if (rest and not _UNIT.match(rest.lower())) or re.search(r"(?<![\w.])[a-z]", text[line_start:start]):
            continue  # the address is inside a sentence ("I live at ..."), or more text follows it
        done_lines.add(line_end)
        pos = line_end + 1
        blank = taken = 0
        while taken < 4 and pos < len(text):
            nl = text.find("\n", pos)
            nl = len(text) if nl < 0 else nl
            line = text[pos:nl]
            if not line.strip(" \t>?|*-"):
                blank += 1
                if blank > 1:
                    break
                pos = nl + 1
                continue
            m = _BLOCK_LINE.fullmatch(line)
            if m is None or len(m.group("v").split()) > 5 or len(re.findall(r"\d+", line)) > 2:
                break
            blank = 0
            taken += 1
            out.append(Finding("street_address", pos + m.start("v"), pos + m.end("v"), 0.6))
            pos = nl + 1
