"""Privacy scorer: finds private things in a prompt and turns them into one score in [0, 1].

Every detector is a precompiled regular expression that proposes candidates, followed by a validator that
throws most of them away: checksums from python-stdnum (payment cards, IBAN, national IDs, SSN rules),
`phonenumbers` for phone numbers, `ipaddress` for IPs (LAN, loopback and public-resolver addresses do not
count), base64/JSON for JWTs, Shannon entropy for generic secrets. Keyword scans run on the lower-cased
text without IGNORECASE (several times faster in CPython's `re`); offsets stay those of the original text.

Person names are the one soft category. A capitalised run of words counts as a person when
- a personal cue comes before it ("my name is", "Dear", "Mr.", "patient", "my partner's name", "I'm",
  "the name on my account ... change it to") or after it ("'s SSN", "lives at", "(born 1970)", "as a
  beneficiary"), outside maths word problems;
- it opens a message that asks that person something ("Warrane, can I speak to your boss?"), whatever
  the word, unless it is a discourse word, a role, an assistant's name or an acronym ("Sure, can you",
  "Officer, can I", "ChatGPT, can you");
- it is a known given name (or a full or non-English-looking name) that someone speaks to ("Leif, can
  you ...", "... , Roy!") or that a personal fact follows or precedes ("Nora is very reliable", "Why is
  Ivan so impulsive?", "X's killers", "the gender of X", "she named him X", "X shouted at Y");
- it is a speaker of a dialogue ("Lisa: Remember me?", two speakers or more, one a known given name) or
  in a list after a word for one's people ("our 3 founders: A, B and C", "they had 3: A, B and C");
- it sits next to other private data (a phone number, an e-mail, ...);
- it is a full name (a census given name or a middle initial, then a surname) with a weaker cue around it
  ("from", "said", "will be", "songwriter", ...).
An all-lower-case prompt gets a smaller scan: a census given name after a strong cue, or a given name and
a census surname after an act between people ("follow up with patricia desrosiers").
A lone first name in a maths word problem ("Janet's ducks lay 16 eggs") is not private, nor is "Charles
Darwin" in a history question; `flag_full_names=True` makes every full name count. The cues of the
second and third items are all switched off in maths word problems.

Findings never overlap: when two detectors claim the same characters, the more specific one wins
(a private key beats a password, a connection string beats an e-mail, a card beats a phone number).

The score is `1 - prod(1 - weight[category] * confidence)` over the findings (`score_findings`): one
structured high-risk finding (card, IBAN, SSN, key) alone scores >= 0.9, one name in a personal context
about 0.6, nothing found 0.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import lru_cache

from router.errors import ConfigError
from router.types import PRIVACY_CATEGORIES, Finding, PrivacyReport

__all__ = ["CATEGORY_WEIGHTS", "PrivacyScorer", "score_findings"]

# How much one finding of a category (at confidence 1) moves the score. Structured identifiers and
# credentials are near 1: one of them is enough to make a prompt private.
CATEGORY_WEIGHTS: Mapping[str, float] = {
    "private_key": 1.0,
    "api_key": 0.98,
    "us_ssn": 0.98,
    "credit_card": 0.97,
    "password": 0.95,
    "connection_string": 0.95,
    "iban": 0.95,
    "national_id": 0.95,
    "jwt": 0.9,
    "driver_license": 0.9,
    "secret": 0.9,
    "custom": 0.9,
    "email": 0.8,
    "phone": 0.8,
    "street_address": 0.75,
    "person": 0.7,
    "ip_address": 0.6,
}
assert set(CATEGORY_WEIGHTS) == set(PRIVACY_CATEGORIES)

# When findings overlap, the lower rank wins (then the longer span).
_PRIORITY = {
    c: i
    for i, c in enumerate(
        (
            "private_key",
            "connection_string",
            "jwt",
            "api_key",
            "custom",
            "password",
            "secret",
            "email",
            "iban",
            "credit_card",
            "us_ssn",
            "national_id",
            "driver_license",
            "ip_address",
            "phone",
            "street_address",
            "person",
        )
    )
}

_I = re.IGNORECASE


def _words(text: str) -> list[str]:
    """Word lists are written as one long string, split once at import (plain data, no I/O)."""
    return text.split()


# ---------------------------------------------------------------------------------------------- e-mail
_EMAIL = re.compile(
    r"(?<![\w.+-])[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+"
    r"[A-Za-z]{2,24}(?![\w-])"
)

# ------------------------------------------------------------------------------------------- credentials
_API_KEY = re.compile(
    r"(?<![\w-])(?:"
    r"sk-(?:proj-|ant-(?:api\d\d-)?|svcacct-|admin-)?[A-Za-z0-9_-]{20,}"  # OpenAI, Anthropic
    r"|(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[0-9A-Z]{16}"  # AWS access key ids
    r"|gh[pousr]_[A-Za-z0-9]{30,}"  # GitHub tokens
    r"|github_pat_[A-Za-z0-9_]{22,}"
    r"|xox[abposr]-[A-Za-z0-9-]{10,}"  # Slack
    r"|AIza[0-9A-Za-z_-]{35}"  # Google API key
    r"|(?:sk|rk|pk)_(?:live|test)_[0-9A-Za-z]{16,}"  # Stripe
    r"|glpat-[0-9A-Za-z_-]{20,}"  # GitLab
    r"|hf_[A-Za-z0-9]{30,}"  # Hugging Face
    r"|npm_[A-Za-z0-9]{36}"  # npm
    r"|SG\.[\w-]{22}\.[\w-]{43}"  # SendGrid
    r"|ya29\.[0-9A-Za-z_-]{20,}"  # Google OAuth access token
    r")(?![\w-])"
)
_PRIVATE_KEY = re.compile(
    r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----.*?(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY"
    r"(?: BLOCK)?-----|\Z)",
    re.DOTALL,
)
_CONN_STRING = re.compile(
    r"\b[a-zA-Z][a-zA-Z0-9+.-]{1,20}://[^\s:/@'\"<>]{1,64}:[^\s@/'\"<>]{1,128}@[^\s/'\"<>]+[^\s'\"<>)\]]*"
)
_JWT = re.compile(r"(?<![\w-])eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{0,}")
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
_SECRET_KV = re.compile(
    r"(?:secret|token|api[_-]?key|apikey|access[_-]?key|auth[_-]?key|credential|private[_-]?key|"
    r"signing[_-]?key|session[_-]?key)[a-z0-9_.-]{0,30}[\"']?[ \t]*(?:[:=]|=>|:=|[ \t])[ \t]*[\"'`]?"
    r"(?P<v>[a-z0-9+/_\-.=~]{16,256})"
)  # runs on the lower-cased text; the value's case is read back from the original
_BEARER = re.compile(r"\bBearer\s+(?P<v>[A-Za-z0-9\-._~+/]{20,}=*)")

# --------------------------------------------------------------------------------------------- numbers
_CARD = re.compile(r"(?<![\d.,-])(?:\d[ -]?){11,18}\d(?![\d]|[.,]\d)")
_CARD_CONTEXT = re.compile(
    r"\b(?:card|cc|visa|master ?card|amex|american express|maestro|discover|jcb|diners|debit|credit|pan)\b"
)  # lower-cased
_IBAN = re.compile(r"\b[A-Za-z]{2}\d{2}(?:[ -]?[A-Za-z0-9]){11,32}\b")
_SSN_DASHED = re.compile(r"(?<![\d-])(\d{3})([- ])(\d{2})\2(\d{4})(?![\d-])")
_SSN_CONTEXT = re.compile(
    r"\b(?:ssn|social security(?: number| no\.?| #)?|ss#|soc\.? sec\.?)\b"
)  # lower-cased
_NINE_DIGITS = re.compile(r"(?<![\d-])\d{9}(?![\d-])")
_DL_CONTEXT = re.compile(
    r"\b(?:driver'?s?|driving)\s*licen[cs]e|\bdl\s*(?:#|no\.?|number)|\blicen[cs]e\s*(?:#|no\.?|number)"
)  # lower-cased
_ID_DIGITS = re.compile(r"\d\d[\d .-]{2,}\d")
_DL_VALUE = re.compile(r"(?<![\w-])(?=[A-Z0-9-]*\d)[A-Z0-9][A-Z0-9-]{4,18}[A-Z0-9](?![\w-])", _I)
_NATID_CONTEXT = re.compile(  # lower-cased
    r"\b(?:passport|national (?:id|identity|insurance)|identity (?:card|number)|id (?:number|no\.?)|"
    r"personal (?:number|identity code|id)|personnummer|fødselsnummer|fodselsnummer|henkilötunnus|hetu|"
    r"cpr|bsn|burgerservicenummer|codice fiscale|dni|nie|nif|nir|pesel|aadhaar|sin|social insurance|"
    r"steuer-?id|steueridentifikationsnummer|tax (?:id|number|identification)|tin|nhs(?: number)?|"
    r"itin|ein|employer identification)\b",
)
_NATID_VALUE = re.compile(
    r"(?<![\w-])(?=[A-Za-z0-9 .+-]*\d)[A-Za-z0-9][A-Za-z0-9 .+-]{5,20}[A-Za-z0-9](?![\w-])"
)
# Self-evident formats that are checked without a context word.
_NATID_SELF = re.compile(
    r"(?<![\w-])(?:\d{6}[-+A]\d{3}[0-9A-Y]"  # Finnish HETU
    r"|[A-Z]{6}\d{2}[A-EHLMPR-T]\d{2}[A-Z]\d{3}[A-Z]"  # Italian codice fiscale
    r"|\d{6}[-+]\d{4})(?![\w-])"  # Swedish personnummer (validated)
)

# ------------------------------------------------------------------------------------------------- phone
_PHONE = re.compile(
    r"(?<![\w.+/-])(?:(?:\+|00)\d{1,3}[ \t.-]?)?(?:\(0\)[ \t]?)?(?:\(\d{1,5}\)[ \t.-]?)?\d{1,12}"
    r"(?:[ \t.-]\d{1,8}){0,5}(?:[ \t]?(?:x|ext\.?|extension)[ \t]?\d{1,6})?(?![\w/]|[.,]\d)",
    _I,
)
_PHONE_CONTEXT = re.compile(
    r"\b(?:phone|tel|telephone|mobile|cell|cellphone|fax|call|calling|text|sms|whatsapp|number|contact|reach|"
    r"dial|desk|office|home|work|landline|hotline|messages?|answering|ring)\b"
)  # lower-cased
_EXTENSION = re.compile(r"[ \t]?(?:x|ext\.?|extension)[ \t]?\d{1,6}$", _I)
# Words that alone make a bare run of digits ("Fax: 9498777106") a phone number.
_PHONE_STRONG_CONTEXT = re.compile(
    r"\b(?:phone|tel|telephone|mobile|cell|cellphone|fax|call|calling|sms|whatsapp|dial|landline|hotline)\b"
)  # lower-cased
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

# ------------------------------------------------------------------------------------------ addresses
_STREET_TYPES = (
    r"street|st|avenue|ave|road|rd|boulevard|blvd|lane|ln|drive|dr|court|ct|way|place|pl|terrace|ter|"
    r"circle|cir|highway|hwy|parkway|pkwy|square|sq|trail|trl|alley|crescent|cres|close|gardens|grove|"
    r"row|walk|plaza|pike|expressway|route|rte|mews|park|passage|pass|crossing|gateway|heights|hill|"
    r"port|quay|rise|view|wharf"
)
_STREET = re.compile(
    r"\b\d{1,6}[A-Za-z]?(?:[ -]\d{1,6})?[ \t]+(?:[A-Z0-9][\w'.-]*[ \t]+){1,4}"
    rf"(?-i:(?:{_STREET_TYPES.title()})\b\.?|(?:St|Ave|Rd|Blvd|Ln|Dr|Ct|Pl|Hwy|Pkwy|Sq)\b\.?)",
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
_NUMBER_AFTER_WORD = re.compile(r"[ \t]{1,2}\d{1,5}[a-z]?\b\.?")  # on the lower-cased text
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

# ------------------------------------------------------------------------------------------------ person
_TITLE = r"(?-i:Mr|Mrs|Ms|Mx|Miss|Dr|Prof|Professor|Sir|Madam|Mme|Mlle|Herr|Frau|Sra?|Señora?|Dame|Lady|Lord)"
# Only words that start with a capital (or a non-ASCII letter) and name particles: lower-case words never
# start or continue a name, so skipping them here is what keeps this scan cheap.
_NAME_TOKEN = re.compile(
    r"(?<![\w'\u2019])(?:[^\W\d_a-z]|(?:van|von|de|der|den|del|della|di|da|dos|das|du|le|la|ten|ter|bin|ibn|al|el)\b)"
    r"[^\W\d_'\u2019-]*(?:[-'\u2019][^\W\d_]+)*"
)
_PARTICLES = frozenset(
    _words("van von de der den del della di da dos das du le la ten ter bin ibn al el mac st")
)
_RELATION = (
    r"wife|husband|son|daughter|kid|child|mother|father|mom|mum|dad|brother|sister|partner|boss|"
    r"colleague|manager|grandfather|grandmother|grandson|granddaughter|uncle|aunt|cousin|nephew|niece|"
    r"fianc[ée]e?|girlfriend|boyfriend|spouse|friend|neighbou?r|landlord|tenant|roommate|coworker|"
    r"co-worker|employee|patient|client|customer|doctor|therapist|lawyer|attorney|guardian|beneficiary"
)
# Words right before a name that say "this is a particular person": enough on their own (outside maths
# word problems, where fictional people get names and titles all the time).
_PERSON_STRONG_CUE = re.compile(
    r"(?:\bname(?:s)?\b[^.!\n]{0,25}?(?:\bis|\bwas|:|=|\?)"
    r"|\b(?:my|his|her|their|your|our)\s+(?:[\w'\u2019]+\s+){0,2}(?:name)"
    r"|\bcall(?:ed|s)?\s+(?:me)|\bpeople call me|\bi go by"
    r"|\b(?:i\s+am|i'm|i\u2019m|this\s+is|dear|patient|signed|sincerely|regards|attn|"
    r"under the name(?: of)?|account holder|cardholder|card holder)"
    rf"|\b(?:my|our|your)\s+(?:\w+\s+)?(?:{_RELATION})(?:['\u2019]s)?)[:,]?[ \t]*$"
)  # matched against the lower-cased 40 characters before a name
# A correction of the name on a record: "The name in the account is not correct, please change it to X".
_NAME_CHANGE_CUE = re.compile(
    r"\bname\b[^.!?\n]{0,60}?\b(?:change|correct|update|fix|amend)\s+"
    r"(?:it|that|this|the name|my name)\s+to[ \t]*$"
)  # matched against the lower-cased 100 characters before a name
_TITLE_BEFORE = re.compile(rf"\b{_TITLE}\.?[ \t]*$")  # case-sensitive: "dr seuss" is no title
# Personal facts about the person a name stands for: enough for a known given name or a full name, as a
# strong cue is, and like one they do not count in maths word problems.
_PERSON_FACT_BEFORE = re.compile(
    r"\b(?:named|called)\s+(?:him|her)[ \t]*$"  # "she named him Frank": naming a child
    r"|\b(?:gender|sexuality|sexual orientation|salary|home address|phone number|e-?mail address)"
    r"\s+of[ \t]*$"
    r"|\b(?:shouted|yelled|screamed|whispered|snapped)\s+at[ \t]*$"  # "Enrico shouted at Gary: ..."
)  # lower-cased window
_PERSON_FACT_AFTER = re.compile(
    r"^(?:['\u2019]s?\s+(?:killers?|murderers?|attackers?|kidnappers?|stalkers?)\b"  # a crime's victim
    r"|\s+is\s+(?:a\s+|an\s+)?(?:very|so|really|such an?)\s+(?!much\b|many\b|few\b|little\b)[a-z]+"
    # "Nora is very reliable": a judgement of a person
    r"|\s+so\s+[a-z]+\s*\?"  # "Why is Ivan so impulsive?"
    r"|\s+(?:shouted|yelled|screamed|whispered|snapped)\s+at\s+(?-i:[A-Z]))",  # "Enrico shouted at Gary"
    _I,
)
# Dialogue: lines that open with a speaker's name and a colon ("Lisa: Remember me?").
_SPEAKER_TAG = re.compile(r"^[ \t>]*(?P<v>[^\W\d_][\w'\u2019-]{1,20})[ \t]*:[ \t]*(?=\S)", re.M)
_NOT_SPEAKER = frozenset(
    _words("""question answer q a note example input output context passage text human assistant user
    system premise hypothesis sentence options option claim statement title summary translation response
    instruction instructions task prompt solution explanation hint step result source target label
    category reason reasoning comment review story topic subject date time location name email phone
    address speaker narrator teacher student customer agent doctor patient interviewer interviewee host
    guest man woman boy girl child mother father person a b c d""")
)
# A list of people after a word for them: "our 3 founders: Kónya, Becker and Vasquez",
# "my children are Ann, Bo and Cy", "They had 4: Ann, Bo, Cy and Di".
_PEOPLE_LIST_CUE = re.compile(
    r"\b(?:(?:my|our|his|her|their)\s+(?:\w+\s+)?(?:children|kids|sons|daughters|parents|siblings|"
    r"brothers|sisters|grandchildren|founders|co-founders|cofounders|roommates|tenants|patients|clients)"
    r"(?:\s+(?:are|were))?"
    r"|(?:had|have|has)\s+(?:\d+|two|three|four|five|six|seven|eight|nine|ten)(?:\s+(?:children|kids|sons|"
    r"daughters))?)[ \t]*:?[ \t]*"
)  # lower-cased; a list starts where a match ends
# Someone spoken to: "Leif, can I speak to your boss?" (a name, a comma, then "you", "please", ...) or
# "Don't go to town, Roy!" (a comma, a name and the end of an exclamation or a question).
_VOCATIVE_AFTER = re.compile(
    r",[ \t]+(?:[^.!?\n]{0,40}?\b(?:you|your|please)\b"
    r"|(?:can|could|would|will|do|did|are|have)\s+(?:i|we|you)\b)",
    _I,
)
# The narrow form of it that is enough for any word that could be a name, known or not: the message opens
# with the person's name and asks them something ("Warrane, can I please speak to your boss?").
_VOCATIVE_REQUEST = re.compile(r",[ \t]+(?:can|could|would|will)\s+(?:i|you)\b", _I)
# Words that open such a request without being anybody's name: discourse words, people by role, and the
# assistants a prompt talks to ("ChatGPT, can you ...").
_NOT_VOCATIVE = frozenset(
    _words("""sure alright right fine well now also next first finally again listen look sorry excuse
    honey darling sweetie babe baby guys everyone everybody anyone somebody folks friends friend team boss
    officer mom mum dad grandma grandpa nurse teacher coach chatgpt gpt claude gemini gemma llama bard
    copilot alexa siri google cortana assistant bot robot computer ai model chat bing perplexity""")
)
_LOWER_WORD = re.compile(r"(?<![\w'\u2019-])[a-z]{2,}(?![\w-])")
_LOWER_NEXT_WORD = re.compile(r"(?:[ \t]+[a-z]\.?)?[ \t]+(?P<w>[a-z][a-z'-]+)")  # "benjamin a seiler"
# Without capitals a weak cue must be an act between private people: "follow up with", not "by" or "with".
_LOWER_PERSON_CUE = re.compile(
    r"\b(?:follow up with|speak to|speak with|talk to|talk with|meet with|contact|remind|invite|tell|ask|cc|"
    r"email|e-mail|text|call)[:,]?[ \t]*$"
)
_LOWERCASE_SCAN_LIMIT = 2000  # characters: longer all-lower-case texts are code or data, not letters
# Weaker cues: enough for a full name or a known given name, not for any capitalised word.
_PERSON_CUE = re.compile(
    r"(?:\b(?:hi|hello|hey|thanks|thank you|cheers|best|from|cc|to|meet|contact|add|remove|ask|tell|"
    r"under|it's|it\u2019s|it is|said|says|say|with|by|starring|directed by|producer|author|singer|"
    r"player|founder|ceo|named|called|"
    r"assistant to|follow up with|speak to|talk to|heard|visit|invite|email|e-mail|text|phone|"
    rf"{_RELATION})\b)[:,]?[ \t]*$"
)  # lower-cased window
# "my name is vitoria", "call me bob": the value after an explicit introduction, whatever its case.
_INTRODUCTION = re.compile(
    r"\b(?:my (?:full |real |legal |first |last |maiden |middle |nick)?name is|my name's|(?:people )?call me|"
    r"i go by|maiden name is|last name is|first name is)[ \t]+"
    r"(?P<v>[^\W\d_][\w'\u2019-]*(?:[ \t]+[^\W\d_][\w'\u2019-]*){0,2})",
)  # lower-cased
_WORD_PROBLEM = re.compile(
    r"\bhow (?:many|much|long|old|far|fast)\b|\bcalculate\b|\bin total\b"
    r"|\bwhat (?:is|was) the (?:total|average)",
)  # lower-cased
# After a name: possessive + private noun, or ", born ...", "(born ...)".
_PERSON_AFTER = re.compile(
    r"^(?:['\u2019]s?\s+(?:ssn|social security|phone number|(?:cell|mobile|home|work) (?:number|phone)|"
    r"address|e-?mail|password|(?:credit|debit) card|card number|bank account|account number|iban|"
    r"date of birth|dob|birthday|salary|diagnosis|medical|passport|driver|licen[cs]e|id number)"
    r"|,?\s*\(?(?:born|aged|dob|d\.o\.b\.)\b"
    r"|\s+(?:was|is)\s+(?:born|diagnosed|admitted|discharged|prescribed)"
    r"|\s+(?:lives|lived|resides|resided|is living)\s+(?:at|in|on)\b"
    rf"|\s+as\s+(?:a|an|the|my|our)?\s*(?:{_RELATION}|next of kin|emergency contact|authori[sz]ed user))",
    _I,
)
# After a full name: an affiliation, an apposition or a verb of saying/doing, as in a news item or a memo.
_PERSON_AFTER_WEAK = re.compile(
    r"^(?:\s+(?:from|of|at)\s+(?-i:[A-Z])|,\s+(?:the|a|an|our|my|your)\s+[\w-]+(?:\s+[\w-]+)?,"
    r"|\s+(?:said|says|explained|wrote|told|asked|shouted|will be|is a|was a|has been|works|worked|joined|"
    r"is from|was from|is very|is the)\b)",
    _I,
)
# Capitalised words that start sentences, name places or things, never a private person on their own.
_NOT_NAME = frozenset(
    _words("""
    i a an the this that these those there here what who whom whose which when where why how is are was
    were be been am do does did have has had can could will would shall should may might must not no yes
    and or but if then else so because for of in on at to from by with about as into onto upon over under
    after before during since until while please thanks thank hi hello hey dear ok okay my your his her
    our their its it he she they we you me him them us one two three four five six seven eight nine ten
    monday tuesday wednesday thursday friday saturday sunday january february march april june july
    august september october november december today tomorrow yesterday mr mrs ms dr prof sir madam
    street st avenue ave road rd lane drive court way place suite apt box city state county country
    university college school hospital bank company inc ltd llc corp group team department ministry
    north south east west new old great big little saint san santa los las el la le de lake river mount
    mountain island bay park united kingdom america american european english french german chinese
    republic federal national international world war act law bill god lord jesus christ
    python java javascript linux windows google apple microsoft amazon openai chatgpt gpt ai api
    although though however therefore also unlike like whereas unless once perhaps maybe eventually
    user assistant system bot answer question example note step solution problem chapter section
    table figure option options true false none null yes
    """)
)


_INTRO_STOP = frozenset(
    _words("""maybe back later again anytime now soon crazy not also just now here there actually really
    still a an the very too quite so which who that
    important private secret irrelevant unknown none nothing something anything everything""")
)
_CONTRACTION_HEADS = frozenset(
    _words("i it that what there here let he she we you they who don can won isn aren")
)


@lru_cache(maxsize=1)
def _name_lists() -> tuple[frozenset[str], frozenset[str]]:
    """(given names, surnames), lower case. Loaded once, on the first scorer built."""
    from router.scoring._names import GIVEN_NAMES_TEXT, SURNAMES_TEXT

    return frozenset(GIVEN_NAMES_TEXT.split()), frozenset(SURNAMES_TEXT.split())


def _shannon_entropy(s: str) -> float:
    counts: dict[str, int] = {}
    for ch in s:
        counts[ch] = counts.get(ch, 0) + 1
    n = len(s)
    return -sum(c / n * math.log2(c / n) for c in counts.values())


def _count_digits(text: str) -> int:
    return sum(map(text.count, "0123456789"))  # ten C-level scans beat one Python loop over characters


def _lower_aligned(text: str) -> str:
    """`text.lower()` with the same length, so that offsets found in it are offsets into `text`."""
    low = text.lower()
    if len(low) == len(text):
        return low
    return "".join(ch if len(ch.lower()) != 1 else ch.lower() for ch in text)  # e.g. "İ" lowers to 2 chars


def _context(text: str, start: int, end: int, before: int = 40, after: int = 0) -> str:
    return text[max(0, start - before) : end + after]


class PrivacyScorer:
    """Scans a prompt for private data. Thread-safe and cheap to call; build one per policy.

    `extra_terms` are literal words or phrases (matched case-insensitively on word boundaries, e.g. an
    internal project name) and `extra_patterns` maps a label to a regular expression; both are reported
    as category "custom".

    `flag_full_names=True` also reports every full name (a known given name followed by a surname) that has
    no personal context, e.g. "Charles Darwin", for policies that would rather over-mask than miss one.
    """

    def __init__(
        self,
        extra_terms: Sequence[str] = (),
        extra_patterns: Mapping[str, str] | None = None,
        *,
        flag_full_names: bool = False,
    ) -> None:
        self._flag_full_names = flag_full_names
        terms = sorted({t.strip() for t in extra_terms if t.strip()}, key=len, reverse=True)
        self._terms: re.Pattern[str] | None = (
            re.compile(r"(?<!\w)(?:" + "|".join(re.escape(t) for t in terms) + r")(?!\w)", _I)
            if terms
            else None
        )
        self._patterns: list[re.Pattern[str]] = []
        for label, pattern in (extra_patterns or {}).items():
            try:
                compiled = re.compile(pattern)
            except re.error as exc:
                raise ConfigError(
                    f"privacy pattern {label!r} is not a valid regular expression ({exc}); "
                    "fix it in the policy"
                ) from None
            if compiled.match(""):
                raise ConfigError(
                    f"privacy pattern {label!r} matches the empty string; make it more specific"
                )
            self._patterns.append(compiled)
        self._given, self._surnames = _name_lists()
        self._detectors: tuple[Callable[[str, str, list[Finding]], None], ...] = (
            self._credentials,
            self._emails,
            self._numbers,
            self._ips,
            self._phones,
            self._addresses,
            self._custom,
        )

    # ------------------------------------------------------------------------------------------ public
    def warm_up(self) -> None:
        """Load the lazily imported validators (phonenumbers' metadata, stdnum) now, at start-up, so that
        the first request does not pay for it (about 100 ms)."""
        self.scan("Call +1 415 555 0100 or 020 7946 0018, card 4111 1111 1111 1111, DE89370400440532013000.")

    def scan(self, text: str) -> PrivacyReport:
        low = _lower_aligned(text)
        found: list[Finding] = []
        for detect in self._detectors:
            detect(text, low, found)
        kept = _resolve_overlaps(found)
        people = self._persons(text, low, kept)
        if people:
            kept = _resolve_overlaps(kept + people)
        return PrivacyReport(score=score_findings(kept), findings=tuple(kept))

    # ------------------------------------------------------------------------------------- credentials
    def _credentials(self, text: str, low: str, out: list[Finding]) -> None:
        if "-----BEGIN" in text:
            for m in _PRIVATE_KEY.finditer(text):
                out.append(Finding("private_key", m.start(), m.end(), 1.0))
        for m in _API_KEY.finditer(text):
            out.append(Finding("api_key", m.start(), m.end(), 0.98))
        if "://" in text:
            for m in _CONN_STRING.finditer(text):
                out.append(Finding("connection_string", m.start(), m.end(), 0.95))
        if "eyJ" in text:
            for m in _JWT.finditer(text):
                if _is_jwt(m.group()):
                    out.append(Finding("jwt", m.start(), m.end(), 0.97))
        if "pass" in low or "pwd" in low or "pin" in low:
            for m in _PASSWORD.finditer(low):
                value = text[m.start("v") : m.end("v")]
                if _plausible_password(text, m.start(), value):
                    out.append(Finding("password", m.start("v"), m.end("v"), 0.9))
        if any(w in low for w in ("secret", "token", "key", "credential", "auth", "bearer")):
            for m in _SECRET_KV.finditer(low):
                value = text[m.start("v") : m.end("v")]
                if _looks_secret(value):
                    out.append(Finding("secret", m.start("v"), m.end("v"), 0.85))
            for m in _BEARER.finditer(text):
                if _looks_secret(m.group("v")):
                    out.append(Finding("secret", m.start("v"), m.end("v"), 0.9))

    def _emails(self, text: str, low: str, out: list[Finding]) -> None:
        if "@" not in text:
            return
        for m in _EMAIL.finditer(text):
            out.append(Finding("email", m.start(), m.end(), 0.98))

    # ------------------------------------------------------------------------------- numeric identifiers
    def _numbers(self, text: str, low: str, out: list[Finding]) -> None:
        from stdnum import iban, luhn

        digits = _count_digits(text)
        if digits < 6:
            return
        if digits >= 12:
            for m in _CARD.finditer(text):
                raw = m.group()
                compact = raw.replace(" ", "").replace("-", "")
                if not 12 <= len(compact) <= 19:
                    continue
                if compact[0] not in "23456" and not compact.startswith(("1800", "2131")):
                    continue
                # 12-digit (Maestro) numbers are common as other things: only with a card word nearby.
                if len(compact) < 13 and not _CARD_CONTEXT.search(_context(low, m.start(), m.end(), 40)):
                    continue
                if len(set(compact)) < 2 or not luhn.is_valid(compact):
                    continue
                # Separators must look like card grouping (4-4-4-4, 4-6-5, ...) or be absent.
                groups = re.split(r"[ -]", raw)
                if len(groups) > 1 and not all(3 <= len(g) <= 6 for g in groups):
                    continue
                out.append(Finding("credit_card", m.start(), m.end(), 0.95))
        if digits >= 10:
            for m in _IBAN.finditer(text):
                raw = m.group()
                # The regex may have swallowed following words ("... 0130 00 by"): drop trailing groups
                # until the checksum holds.
                while len(raw) >= 15:
                    if iban.is_valid(raw):
                        out.append(Finding("iban", m.start(), m.start() + len(raw), 0.98))
                        break
                    if " " not in raw and "-" not in raw:
                        break
                    raw = re.split(r"[ -](?=[^ -]*$)", raw)[0]
        self._ssn(text, low, out)
        self._national_ids(text, low, out)
        if _ID_DIGITS.search(text):  # every licence number here has a run of digits
            self._driver_licenses(text, low, out)

    def _ssn(self, text: str, low: str, out: list[Finding]) -> None:
        from stdnum.us import ssn

        for m in _SSN_DASHED.finditer(text):
            compact = m.group(1) + m.group(3) + m.group(4)
            if not ssn.is_valid(compact):
                continue
            ctx = _SSN_CONTEXT.search(_context(low, m.start(), m.end(), 60))
            conf = 0.97 if ctx else (0.8 if m.group(2) == "-" else 0.5)
            if ctx or m.group(2) == "-":
                out.append(Finding("us_ssn", m.start(), m.end(), conf))
        if _SSN_CONTEXT.search(low):
            for m in _NINE_DIGITS.finditer(text):
                if ssn.is_valid(m.group()) and _SSN_CONTEXT.search(_context(low, m.start(), m.end(), 40)):
                    out.append(Finding("us_ssn", m.start(), m.end(), 0.9))

    def _national_ids(self, text: str, low: str, out: list[Finding]) -> None:
        for m in _NATID_SELF.finditer(text):
            if _valid_national_id(m.group()):
                out.append(Finding("national_id", m.start(), m.end(), 0.9))
        if not _ID_DIGITS.search(text):
            return  # the context-checked IDs below all have a run of digits
        for ctx in _NATID_CONTEXT.finditer(low):
            window_end = min(len(text), ctx.end() + 40)
            for m in _NATID_VALUE.finditer(text, ctx.end(), window_end):
                value = m.group().strip(" .-+")
                if not _valid_national_id(value):
                    value = re.sub(r"^(?:[^\W\d_]+[ .:-]+)+", "", value)  # "is 111222333"
                    if not value or not _valid_national_id(value):
                        continue
                if value:
                    start = m.start() + m.group().index(value[0])
                    out.append(Finding("national_id", start, start + len(value), 0.9))
                    break

    def _driver_licenses(self, text: str, low: str, out: list[Finding]) -> None:
        for ctx in _DL_CONTEXT.finditer(low):
            window_end = min(len(text), ctx.end() + 40)
            for m in _DL_VALUE.finditer(text, ctx.end(), window_end):
                value = m.group()
                if sum(ch.isdigit() for ch in value) >= 4 and value.lower() not in ("number", "class"):
                    out.append(Finding("driver_license", m.start(), m.end(), 0.85))
                    break

    # ------------------------------------------------------------------------------------------------ IP
    def _ips(self, text: str, low: str, out: list[Finding]) -> None:
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
    def _phones(self, text: str, low: str, out: list[Finding]) -> None:
        if _count_digits(text) < 6:
            return
        for m in _PHONE.finditer(text):
            raw = m.group().rstrip()
            nd = sum(ch.isdigit() for ch in raw)
            if nd < 6 or nd > 17:
                continue
            intl = raw.startswith(("+", "00"))
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
            if not _valid_phone(raw, intl, nd, bool(ctx)):
                continue
            conf = 0.9 if (intl or ctx) else 0.7
            out.append(Finding("phone", m.start(), m.start() + len(raw), conf))

    # ---------------------------------------------------------------------------------------- addresses
    def _addresses(self, text: str, low: str, out: list[Finding]) -> None:
        has_digit = _count_digits(text) > 0
        if not has_digit:
            return
        for num in _NUMBER_AFTER_WORD.finditer(low):
            if num.start() == 0 or not (low[num.start() - 1].isalpha() or low[num.start() - 1] == "."):
                continue
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
        for m in _STREET.finditer(text):
            if _plausible_street(m.group()):
                out.append(Finding("street_address", m.start(), m.end(), 0.8))
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
            self._cued_addresses(text, low, out)
        _extend_addresses(text, out)

    def _cued_addresses(self, text: str, low: str, out: list[Finding]) -> None:
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

    # ------------------------------------------------------------------------------------------- custom
    def _custom(self, text: str, low: str, out: list[Finding]) -> None:
        if self._terms is not None:
            for m in self._terms.finditer(text):
                out.append(Finding("custom", m.start(), m.end(), 1.0))
        for rx in self._patterns:
            for m in rx.finditer(text):
                if m.end() > m.start():
                    out.append(Finding("custom", m.start(), m.end(), 1.0))

    # ------------------------------------------------------------------------------------------- person
    def _persons(self, text: str, low: str, others: list[Finding]) -> list[Finding]:
        given = self._given
        found: list[Finding] = []
        for m in _INTRODUCTION.finditer(low):
            words = text[m.start("v") : m.end("v")].split()
            kept: list[str] = []
            for w in words:
                if w.lower() in _NOT_NAME or w.lower() in _INTRO_STOP:
                    break
                kept.append(w)
            if kept:
                start = m.start("v")
                value = text[start : m.end("v")]
                end = start + value.index(kept[-1], len(" ".join(kept[:-1]))) + len(kept[-1])
                found.append(Finding("person", start, end, 0.9))
        if not any(ch.isupper() for ch in text):
            if len(low) <= _LOWERCASE_SCAN_LIMIT and not _WORD_PROBLEM.search(low):
                self._lowercase_persons(low, found)
            return found
        runs = list(_name_runs(text))
        if not runs:
            return found
        maths = bool(_WORD_PROBLEM.search(low))
        addressed, listed = self._people_in_context(text, low, runs) if not maths else (set(), set())
        for start, end, tokens in runs:
            first = tokens[0]
            lower_first = first.lower().rstrip(".")
            n_real = sum(1 for t in tokens if len(t.rstrip(".")) > 1 and t.lower() not in _PARTICLES)
            is_given = lower_first in given
            after = text[end : end + 30]
            window = max(0, start - 40)
            if len(first.rstrip(".")) < 2:
                continue  # "B. Compare", "C." : answer options, not initials of a person
            if tokens[-1].lower() in _PLACE_OR_ORG_WORDS:
                continue  # "Sun Valley Shores", "Auto Services", "Property Address"
            if start in listed:
                found.append(Finding("person", start, end, 0.75))
                continue
            strong = (
                bool(_PERSON_STRONG_CUE.search(low, window, start))
                or bool(_TITLE_BEFORE.search(text, window, start))
                or bool(_NAME_CHANGE_CUE.search(low, max(0, start - 100), start))
                or bool(_PERSON_AFTER.match(after))
            )
            if not strong and (is_given or _foreign_looking(tokens)):
                strong = (
                    bool(_PERSON_FACT_BEFORE.search(low, window, start))
                    or bool(_PERSON_FACT_AFTER.match(after))
                    or start in addressed
                )
            if strong and maths and n_real < 2 and not _PERSON_AFTER.match(after):
                strong = False  # "Mr. Tan sold his house", "her sister Meg": fictional people
            if strong:
                found.append(Finding("person", start, end, 0.9))
                continue
            if n_real < 2 and not is_given:
                continue  # one unknown capitalised word needs a strong cue
            near_pii = any(abs(f.start - end) < 60 or abs(start - f.end) < 60 for f in others)
            if near_pii:
                found.append(Finding("person", start, end, 0.75))
                continue
            if n_real < 2:
                continue  # a lone given name needs a strong cue or private data next to it
            full = is_given or _has_initial(tokens)
            cue = bool(_PERSON_CUE.search(low, window, start)) or bool(_PERSON_AFTER_WEAK.match(after))
            conf = 0.0
            if full and cue:
                conf = 0.75
            elif cue and (_foreign_looking(tokens) or tokens[-1].lower() in self._surnames):
                conf = 0.6
            elif full and self._flag_full_names:
                conf = 0.5
            if conf > 0:
                found.append(Finding("person", start, end, conf))
        return found

    def _people_in_context(
        self, text: str, low: str, runs: Sequence[tuple[int, int, list[str]]]
    ) -> tuple[set[int], set[int]]:
        """Starts of the name runs that someone speaks to ("Leif, can you ...", "..., Roy!"), and of those
        that a dialogue or a list of people makes persons whatever the words are: every speaker of a
        dialogue ("Lisa: Remember me?") with two or more speakers, one a known given name, and every name
        in a list after a word for people ("our 3 founders: Kónya, Becker and Vasquez")."""
        given, surnames = self._given, self._surnames
        addressed: set[int] = set()
        listed: set[int] = set()
        spoken_to: set[int] = set()
        for start, end, tokens in runs:
            nxt = text[end : end + 1]
            if nxt == "," and len(tokens) <= 2:
                prefix = text[max(0, start - 3) : start].rstrip(" \t")
                if (not prefix or prefix[-1] in '.!?\n"\u201c') and _VOCATIVE_AFTER.match(text, end):
                    addressed.add(start)
                    if _VOCATIVE_REQUEST.match(text, end) and _could_be_a_name(tokens):
                        spoken_to.add(start)
            elif nxt in ("!", "?") and text.startswith(", ", start - 2):
                addressed.add(start)
        if ":" in text and "\n" in text:
            tags = [
                m
                for m in _SPEAKER_TAG.finditer(text)
                if m.group("v")[:1].isupper()
                and m.group("v").lower() not in _NOT_SPEAKER
                and m.group("v").lower() not in _NOT_NAME
            ]
            names = {m.group("v").lower() for m in tags}
            if len(names) >= 2 and names & given:
                listed.update(m.start("v") for m in tags)
        cue_ends = {m.end() for m in _PEOPLE_LIST_CUE.finditer(low)}
        if cue_ends:
            i = 0
            while i < len(runs):
                start = runs[i][0]
                if start not in cue_ends:
                    i += 1
                    continue
                j = i + 1
                while j < len(runs) and text[runs[j - 1][1] : runs[j][0]] in (", ", " and ", ", and ", " & "):
                    j += 1
                chain = runs[i:j]
                known = sum(
                    1
                    for _, _, t in chain
                    if t[0].lower() in given or t[-1].lower() in surnames or _foreign_looking(t)
                )
                if len(chain) >= 2 and 2 * known >= len(chain):
                    listed.update(r[0] for r in chain)
                i = j
        return addressed, listed | spoken_to

    def _lowercase_persons(self, low: str, found: list[Finding]) -> None:
        """All-lower-case prompts ("follow up with patricia desrosiers"): a known given name after a cue,
        with the next word when it is a known surname. A strong cue or a personal fact takes the given
        name alone; a weak cue needs the surname too."""
        given, surnames = self._given, self._surnames
        speakers = [m for m in _SPEAKER_TAG.finditer(low) if m.group("v") in given]
        if len({m.group("v") for m in speakers}) >= 2:
            for m in speakers:
                found.append(Finding("person", m.start("v"), m.end("v"), 0.75))
        for m in _LOWER_WORD.finditer(low):
            word = m.group()
            if word not in given or word in _NOT_NAME:
                continue
            start, end = m.start(), m.end()
            nxt = _LOWER_NEXT_WORD.match(low, end)
            full_end = nxt.end() if nxt and nxt.group("w") in surnames else end
            window = max(0, start - 40)
            strong = (
                _PERSON_STRONG_CUE.search(low, window, start)
                or _PERSON_FACT_BEFORE.search(low, window, start)
                or _PERSON_AFTER.match(low[end : end + 30])
            )
            if strong or (full_end > end and _LOWER_PERSON_CUE.search(low, window, start)):
                found.append(Finding("person", start, full_end, 0.75 if strong else 0.6))


# ------------------------------------------------------------------------------------------ helpers


def score_findings(findings: Iterable[Finding]) -> float:
    """1 - prod(1 - weight * confidence). Empty -> 0.0."""
    keep = 1.0
    for f in findings:
        keep *= 1.0 - min(1.0, CATEGORY_WEIGHTS.get(f.category, 0.9) * f.confidence)
    return round(1.0 - keep, 6)


def _resolve_overlaps(found: list[Finding]) -> list[Finding]:
    if len(found) <= 1:
        return list(found)
    ranked = sorted(found, key=lambda f: (_PRIORITY.get(f.category, 99), -(f.end - f.start), f.start))
    kept: list[Finding] = []
    for f in ranked:
        if f.end <= f.start:
            continue
        if any(f.start < k.end and k.start < f.end for k in kept):
            continue
        kept.append(f)
    kept.sort(key=lambda f: (f.start, f.end))
    return kept


def _internal_ip(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """LAN, loopback and unspecified addresses identify no one outside the machine's own network; the
    big public DNS resolvers identify no one at all."""
    return (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_unspecified
        or ip.is_multicast
        or str(ip) in _PUBLIC_RESOLVERS
    )


_PUBLIC_RESOLVERS = frozenset(
    _words(
        """8.8.8.8 8.8.4.4 1.1.1.1 1.0.0.1 9.9.9.9 149.112.112.112 208.67.222.222 208.67.220.220
        2001:4860:4860::8888 2001:4860:4860::8844 2606:4700:4700::1111 2606:4700:4700::1001"""
    )
)


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
    if len(v) < 3 or v.lower() in _PASSWORD_STOP:
        return False
    if v.startswith(("$", "{", "<", "%", "(", "[", "*")) or "(" in v or v.endswith(")"):
        return False  # template or code: password=${PW}, password=getpass(), password: ****
    if re.match(r"[A-Za-z_]\w*(?:\.\w+)*[.\[(]", v) and not re.search(r"\d", v.split("[")[0].split("(")[0]):
        return False  # template or code: password=${PW}, password=getpass(), password: ****
    if set(v) <= {"*", "x", "X", "•", "."}:
        return False
    phrase = text[max(0, start - 12) : start + 40].lower()
    if re.search(r"\b(?:is|was)\b", phrase[12:]) and not re.search(
        r"\b(?:my|our|the|your|his|her|their|wifi|wi-fi|admin|root|account|new|temporary|default)\s+"
        r"(?:\w+\s+)?(?:password|passwd|passphrase|pin|passcode)\b",
        phrase,
    ):
        return False
    # Plain dictionary-like words after "is" need a digit or symbol to count (e.g. "hunter2").
    if re.fullmatch(r"[a-z]+", v) and re.search(r"\b(?:is|was)\b", phrase[12:]):
        return len(v) >= 6
    # Code identifiers: password=password_input, pwd = user.pwd
    return not re.fullmatch(r"[A-Za-z_][A-Za-z_]*(?:\.[A-Za-z_]+)+", v)


def _looks_secret(value: str) -> bool:
    v = value.strip("=.")
    if len(v) < 16 or (v.isalpha() and v.islower()):
        return False
    classes = sum((any(c.islower() for c in v), any(c.isupper() for c in v), any(c.isdigit() for c in v)))
    if classes < 2:
        return False
    if re.fullmatch(r"[A-Za-z_]+(?:\.[A-Za-z_]+)+", v):
        return False  # dotted identifier: settings.SECRET_KEY
    return _shannon_entropy(v) >= 3.3


def _valid_national_id(value: str) -> bool:
    from stdnum.ca import sin
    from stdnum.de import idnr
    from stdnum.dk import cpr
    from stdnum.es import dni, nie
    from stdnum.fi import hetu
    from stdnum.fr import nir
    from stdnum.gb import nhs
    from stdnum.in_ import aadhaar
    from stdnum.it import codicefiscale
    from stdnum.nl import bsn
    from stdnum.no import fodselsnummer
    from stdnum.pl import pesel
    from stdnum.se import personnummer

    compact = re.sub(r"[\s.]", "", value)
    if len(compact) < 8:
        return False
    for module in (
        hetu,
        codicefiscale,
        personnummer,
        fodselsnummer,
        cpr,
        bsn,
        pesel,
        dni,
        nie,
        nir,
        idnr,
        sin,
        nhs,
        aadhaar,
    ):
        try:
            if module.is_valid(compact):
                return True
        except Exception:
            continue
    return False


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


def _extend_addresses(text: str, out: list[Finding]) -> None:
    """Grow the street addresses in `out` to the whole postal address.

    - A building number right before one belongs to it: "22 14 Rue des Lilas", "3310 P.O. Box 57".
    - When the street ends its line and that line is short and no sentence (an address block, as on an
      envelope or in a signature), the short lines below it (unit, city, "Country 12345", ", CO") are part
      of the address: up to four of them, across at most one blank line, stopping at a longer or
      sentence-like line.
    Only prompts that already have an address finding are touched, so this never flags a new prompt.
    """
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
        line_start = text.rfind("\n", 0, start) + 1
        line_end = text.find("\n", f.end)
        if line_end < 0 or line_end in done_lines:
            continue
        rest = text[f.end : line_end].strip(" \t,.")
        if (
            line_end - line_start > 70
            or (rest and not _UNIT.match(rest.lower()))
            or re.search(r"(?<![\w.])[a-z]", text[line_start:start])
        ):
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


def _has_initial(tokens: Sequence[str]) -> bool:
    return len(tokens) >= 3 and any(len(t.rstrip(".")) == 1 and t[:1].isupper() for t in tokens[1:-1])


def _could_be_a_name(tokens: Sequence[str]) -> bool:
    """Whether every word of a run could be part of a person's name: no common word, role, adverb or
    acronym."""
    for t in tokens:
        low = t.lower()
        if (
            len(t) < 2
            or t.isupper()
            or low.endswith("ly")
            or low in _NOT_NAME
            or low in _NOT_VOCATIVE
            or low in _NOT_SPEAKER
        ):
            return False
    return True


def _foreign_looking(tokens: Sequence[str]) -> bool:
    return any(any(ord(ch) > 127 for ch in t) for t in tokens)


def _name_runs(text: str) -> Iterable[tuple[int, int, list[str]]]:
    """Runs of capitalised words (with middle initials and particles) that could be a person's name."""
    tokens = []
    for m in _NAME_TOKEN.finditer(text):
        tok = m.group()
        end = m.end()
        if len(tok) > 2 and tok[-2] in "'\u2019" and tok[-1] in "sS":
            tok, end = tok[:-2], end - 2  # possessive: "Anna's" -> "Anna"
        elif "'" in tok or "\u2019" in tok:
            head = re.split(r"['\u2019]", tok, maxsplit=1)[0]
            if head.lower() in _NOT_NAME or head.lower() in _CONTRACTION_HEADS:
                tok = tok.lower()  # "I'm", "What's", "Don't": never part of a name
        tokens.append((m.start(), end, tok))
    i = 0
    n = len(tokens)
    while i < n:
        tok = tokens[i][2]
        if not _capitalised(tok) or tok.lower() in _NOT_NAME:
            i += 1
            continue
        run = [tokens[i]]
        j = i + 1
        while j < n and len(run) < 5:
            pe = run[-1][1]
            ns, _, nt = tokens[j]
            gap = text[pe:ns]
            if gap not in (" ", ". ") or (gap == ". " and len(run[-1][2]) > 1):
                break
            name_word = _capitalised(nt) and nt.lower() not in _NOT_NAME
            # "Hanne I. Kreutzmann", "Ana A. Silva": a middle initial that is also a word
            initial = (
                len(nt) == 1
                and nt.isupper()
                and text.startswith(". ", tokens[j][1])
                and j + 1 < n
                and _capitalised(tokens[j + 1][2])
                and tokens[j + 1][0] == tokens[j][1] + 2
            )
            particle = nt.lower() in _PARTICLES and j + 1 < n and _capitalised(tokens[j + 1][2])
            if name_word or particle or initial:
                run.append(tokens[j])
            else:
                break
            j += 1
        while run and run[-1][2].lower() in _PARTICLES:
            run.pop()
        if not run:
            i = j
            continue
        end = run[-1][1]
        if len(run[-1][2]) == 1 and end < len(text) and text[end] == ".":
            end += 1
        yield run[0][0], end, [t for _, _, t in run]
        i = j


_PLACE_OR_ORG_WORDS = frozenset(
    _words(
        """shores shore valley hills beach lake lakes river street road avenue drive center centre school
        academy university college hospital clinic church cathedral county city town village bay island
        islands mountain mountains heights springs falls station airport harbor harbour port square
        gardens forest creek canyon desert coast services service inc corp
        corporation company co group ltd llc plc bank association foundation institute agency partners
        solutions systems technologies technology software capital insurance motors airlines labs studio
        studios records press media news times post journal review magazine club team league council
        committee department ministry office address name email phone"""
    )
)


def _capitalised(tok: str) -> bool:
    return tok[:1].isupper() and (len(tok) == 1 or not tok.isupper() or len(tok) <= 1)
