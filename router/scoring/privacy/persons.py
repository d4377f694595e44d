"""Names of people. The one soft category: a name counts where the text makes it a particular private
person (the rules are in `router.scoring.privacy`'s docstring), or, under the policy's `names: anywhere`,
wherever a full name appears.

The given names and surnames (US Census 1990, public domain) and given names of 54 other countries and
regions (nam_dict.txt, GFDL; scripts/gen_intl_names.py) are package data files, read on first use.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Sequence
from functools import lru_cache
from importlib import resources

from router.scoring.privacy._base import _I, Scan, _words, detector
from router.types import Finding

_TITLE = r"(?-i:Mr|Mrs|Ms|Mx|Miss|Dr|Prof|Professor|Sir|Madam|Mme|Mlle|Herr|Frau|Sra?|Señora?|Dame|Lady|Lord)"
# Only words that start with a capital (or a non-ASCII letter) and name particles: lower-case words never
# start or continue a name, so skipping them here is what keeps this scan cheap.
_NAME_TOKEN = re.compile(
    r"(?<![\w'\u2019])(?:[^\W\d_a-z]|(?:van|von|de|der|den|del|della|di|da|dos|das|du|le|la|ten|ter|bin|ibn|al|el)\b)"
    r"[^\W\d_'\u2019-]*(?:[-'\u2019][^\W\d_]+)*"
)
# Occupations and roles of people who are quoted, credited or talked about: "producer Liviana Palerma
# explained", "as regular commenter Odette Aubé points out", "Directed By: ...". Titles that mostly stand
# before famous people (president, senator, king, saint, ...) are not here: "President Lincoln" is history.
_OCCUPATIONS = (
    "producer|director|writer|author|composer|songwriter|singer|commenter|commentator|reporter|journalist|"
    "editor|spokesman|spokeswoman|spokesperson|analyst|researcher|scientist|engineer|designer|artist|"
    "musician|guitarist|drummer|bassist|vocalist|rapper|actor|actress|comedian|photographer|chef|"
    "chairman|chairwoman|founder|co-founder|cofounder|ceo|cto|cfo|coo|lawyer|physician|surgeon|"
    "nurse|teacher|economist|historian|critic|columnist|blogger|presenter|narrator|poet|novelist|"
    "playwright|painter|sculptor|architect|entrepreneur|investor|consultant|correspondent|pianist|"
    "violinist|conductor|dancer|filmmaker|screenwriter|manager|colleague|reader|listener|viewer|user|"
    "member|volunteer|intern|student|professor|lecturer"
)
# Words for a person's role that open a capitalised run before the name ("Patient John Doe", "Producer
# Christoffer Bertelsen").
_ROLE_OPENERS = frozenset(
    _words("patient client customer employee tenant applicant candidate resident beneficiary cardholder")
    + _OCCUPATIONS.split("|")
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
_FACT_BEFORE_ENDS = ("him", "her", "of", "at")  # the last word of every _PERSON_FACT_BEFORE
_PERSON_FACT_AFTER = re.compile(
    r"^(?:['\u2019]s?\s+(?:killers?|murderers?|attackers?|kidnappers?|stalkers?)\b"  # a crime's victim
    r"|\s+is\s+(?:a\s+|an\s+)?(?:very|so|really|such an?)\s+(?!much\b|many\b|few\b|little\b)[a-z]+"
    # "Nora is very reliable": a judgement of a person
    r"|\s+so\s+[a-z]+\s*\?"  # "Why is Ivan so impulsive?"
    r"|\s+(?:shouted|yelled|screamed|whispered|snapped)\s+at\s+(?-i:[A-Z])"  # "Enrico shouted at Gary"
    r"|\s+(?:is|was)\s+from\s+(?-i:[A-Z])\w*(?:\s+(?-i:[A-Z])\w*)*\s*(?:inc\b|llc\b|ltd\b|corp|$|[,.!?]))",
    # "Anna is from Plotwatt": where a person works
    _I,
)
# A speech tag with the speaker after the verb: '"...," says Bergqvist.', "I'm so jealous! said Felix to
# Linda". The punctuation before the verb is what makes it a tag (not "the book says Python is easy").
_SPEECH_TAG_BEFORE = re.compile(
    r"[,!?.][\"'\u201d\u2019]?[ \t]+(?:says|said|asks|asked|adds|added|replies|replied|explains|explained|"
    r"writes|wrote|notes|noted|recalls|recalled|continues|continued|laughs|laughed|sighs|sighed)[ \t]+$"
)  # lower-cased window
# The one spoken to in such a tag: "I'm so jealous! said Felix to Linda".
_SPEECH_TAG_TO_BEFORE = re.compile(
    r"[,!?.][\"'\u201d\u2019]?[ \t]+(?:says|said|asks|asked|replies|replied|writes|wrote|laughs|laughed|"
    r"sighs|sighed|whispers|whispered|shouts|shouted)[ \t]+[^\W\d_][\w'\u2019-]{0,30}[ \t]+to[ \t]+$"
)  # lower-cased window
_SPEECH_TAG_END = re.compile(r"[ \t]*(?:[.,!?;:]|$|to\s+(?-i:[A-Z]))")
# A person's name used for their work or their fans: "Unlike the Sokolov novel", "Have you been to a Tove
# Lindqvist concert", "a huge Dagny Solberg fan", "the Ana Reyes version".
_WORK_BEFORE = re.compile(r"\b(?:a|an|the|huge|big|die-hard|lifelong)[ \t]+$")  # lower-cased window
_WORK_AFTER = re.compile(
    r"^[ \t]+(?:novels?|books?|albums?|songs?|singles?|concerts?|tours?|films?|movies?|versions?|"
    r"recordings?|covers?|fans?|biography|memoir|lyrics|interview|paintings?|poems?|symphony|opera)\b",
    _I,
)
# Events of a person's life after their name: "Järvilehto began writing as a teenager".
_LIFE_EVENT_AFTER = re.compile(
    r"^\s+(?:began|started)\s+(?:writing|singing|painting|acting|playing|working|dating|studying)\b"
    r"|^\s+(?:graduated|married|divorced|retired|resigned|grew up|moved to|passed away)\b",
    _I,
)
# What a particular person did, after their full name: "James Talbot listed his top 20 songs", "Ana Lund
# spent a year at ...". Acts of one's own life, not the verbs of argument ("argues", "claims", "believes")
# that exam questions put after philosophers and scientists.
_PERSONAL_ACT_AFTER = re.compile(
    r"^\s+(?:(?:has|had|have)\s+(?:always\s+|never\s+|just\s+)?)?(?:listed|spent|met|married|dated|visited|"
    r"moved|quit|texted|emailed|tweeted|posted|loved|hated|wanted|apologi[sz]ed|complained|promised|refused|"
    r"sent|gave|given|lent|borrowed|invited|hugged|kissed|missed|misses|loves|hates|wants)\b",
    _I,
)
# A name joined to a personal pronoun: "between him and Asya's kid", "Ann and I went", "me and Bo".
_PRONOUN_AND_BEFORE = re.compile(r"\b(?:him|her|me|us|them)\s+and[ \t]+$")  # lower-cased window
_AND_PRONOUN_AFTER = re.compile(r"^\s+and\s+(?:I|me)\b")  # case-sensitive: "Marley and Me" is a title
# A greeting that opens a message or a line, then the name: "Hi Freddy, I'm contacting you ...".
_GREETING_BEFORE = re.compile(
    r"(?:^|\n)[ \t]*(?:hi|hello|hey|dear|good (?:morning|afternoon|evening))[ \t,]*$"
)  # lower-cased window
_GREETINGS = ("hi", "hello", "hey", "dear", "morning", "afternoon", "evening")
_GREETING_AFTER = re.compile(r"[ \t]*(?:[,!:]|\n|$)")
# A title written in lower case before a capitalised name: "join accounts with ms. Quinzia". Not "dr.":
# "who played dr. Quinn" is a character.
_LOWER_TITLE_BEFORE = re.compile(r"(?:^|[\s(])(?:mr|mrs|ms)\.[ \t]*$")  # lower-cased window
# A person's work by the possessive: "though Meza's song was about a boat", "Ito's album was".
_WORK_POSSESSIVE_AFTER = re.compile(
    r"^['\u2019]s\s+(?:songs?|albums?|novels?|books?|films?|movies?|band|lyrics|poems?|paintings?|"
    r"records?|singles?|music|career)\b",
    _I,
)
# Someone spoken to after an object pronoun, then a comma: "You picked a fine time to leave me Mette,
# four hungry children ...", "I love you Anna, ...". A known given name only.
_OBJECT_PRONOUN_BEFORE = re.compile(r"\b(?:me|you|us)[ \t]+$")  # lower-cased window
# Someone judged, then a personal pronoun: "Shovda is very reliable. You can always depend on him." Any
# name-like word counts then, known or not.
_JUDGED_THEN_PRONOUN = re.compile(
    r"\s+is\s+(?:a\s+|an\s+)?(?:very|so|really|such an?)\s+[a-z]+[^\n]{0,60}?\b(?:he|she|him|her|his|hers)\b",
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
    r"player|named|called|features|featuring|written by|produced by|composed by|"
    rf"{_OCCUPATIONS}|"
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
_WORD_PROBLEM_WORDS = ("how ", "calculate", "in total", "what ")  # one of them is in every cue above
# After a name: possessive + private noun (also "had given Hakuba his address"), or ", born ...", "(born
# ...)".
_PERSON_AFTER = re.compile(
    r"^(?:(?:['\u2019]s?|\s+(?:his|her|their))\s+(?:ssn|social security|phone number|"
    r"(?:cell|mobile|home|work) (?:number|phone)|"
    r"address|e-?mail|password|(?:credit|debit) card|card number|bank account|account number|iban|"
    r"date of birth|dob|birthday|salary|diagnosis|medical|passport|driver|licen[cs]e|id number)"
    r"|,?\s*\(?(?:born|aged|dob|d\.o\.b\.)\b|,\s*(?:age|aged)\s*\d"
    r"|\s+(?:was|is)\s+(?:born|diagnosed|admitted|discharged|prescribed)"
    r"|\s+(?:lives|lived|resides|resided|is living)\s+(?:at|in|on)\b"
    rf"|\s+as\s+(?:a|an|the|my|our)?\s*(?:{_RELATION}|next of kin|emergency contact|authori[sz]ed user))",
    _I,
)
# "Mozart was born on 27 January 1756": a birth before 1920 is history, not a private person's.
_HISTORICAL_BIRTH = re.compile(r"\s+(?:was|is)\s+born\b[^.!?\n]{0,40}?\b(?:1[0-8]\d\d|19[01]\d)\b")
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
    general
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
    """(given names, surnames), lower case, read from the package's data files once, on first use. Given
    names are the census list and those of other countries (data/given_names_intl.txt)."""
    return _read_names("given_names.txt") | _read_names("given_names_intl.txt"), _read_names("surnames.txt")


def _read_names(filename: str) -> frozenset[str]:
    text = resources.files("router.scoring.privacy").joinpath("data", filename).read_text("utf-8")
    return frozenset(line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#"))


@detector("person", weight=0.7, priority=160, stage=2)
def persons(scan: Scan, out: list[Finding]) -> None:
    """Names of people in a personal context (see the package's docstring); in stage 2, so that a name
    beside another finding (a phone number, an e-mail) counts."""
    _persons(scan, out)
    if scan.options.names == "anywhere" or scan.found:
        _lowercase_beside_identifiers(scan, out)


def _persons(scan: Scan, found: list[Finding]) -> list[Finding]:
    text, low, others = scan.text, scan.low, scan.found
    given, surnames = _name_lists()
    flag_full_names = scan.options.names == "anywhere"
    near = _Proximity(others)
    if "name" in low or "call me" in low or "i go by" in low:  # (one of them is in every introduction)
        _introductions(text, low, found)
    if text == low or not any(ch.isupper() for ch in text):  # (the first test is one C-level compare)
        if len(low) <= _LOWERCASE_SCAN_LIMIT and not _word_problem(low):
            _lowercase_persons(low, found)
        return found
    # A finding that runs to the end of the text (a detector stopped at its cap) covers the rest: names
    # there would be masked by it anyway.
    covered = next((f.start for f in others if f.end >= len(text)), len(text))
    runs = list(_name_runs(text, covered))
    if not runs:
        return found
    maths = _word_problem(low)
    n_before = len(found)
    cues: dict[str, bool] = {}
    titles: dict[str, bool] = {}
    addressed, listed = _people_in_context(text, low, runs) if not maths else (set(), set())
    for start, end, tokens in runs:
        role = False
        if (
            len(tokens) >= 2
            and tokens[0].lower() in _ROLE_OPENERS
            and start not in listed
            and (len(tokens) >= 3 or tokens[1].lower() in given or _foreign_looking(tokens[1:]))
        ):
            # "Patient John Doe, age 45": the role opens the sentence, the name follows it
            start = text.index(tokens[1], start + len(tokens[0]))
            tokens = tokens[1:]
            role = True
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
            role
            or _cue_before(cues, _PERSON_STRONG_CUE, low, start)
            or _cue_before(titles, _TITLE_BEFORE, text, start)
            or (
                "name" in low[max(0, start - 100) : start]
                and bool(_NAME_CHANGE_CUE.search(low, max(0, start - 100), start))
            )
            or (bool(_PERSON_AFTER.match(after)) and not _HISTORICAL_BIRTH.match(text, end, end + 50))
        )
        name_like = _could_be_a_name(tokens)
        foreign = _foreign_looking(tokens)
        if not strong and (is_given or foreign or (n_real >= 2 and name_like)):
            strong = bool(_PERSON_FACT_AFTER.match(after)) or (start in addressed and name_like)
        # (each cheap anchored test first: a search back through the window costs most, per name)
        if (
            not strong
            and (is_given or foreign or name_like)
            and low[max(0, start - 8) : start].rstrip(" \t").endswith(_FACT_BEFORE_ENDS)
        ):
            strong = bool(_PERSON_FACT_BEFORE.search(low, window, start))
        if not strong and name_like and len(tokens) <= 3 and not maths:
            strong = (
                bool(_SPEECH_TAG_END.match(text, end, end + 40))
                and (
                    bool(_SPEECH_TAG_BEFORE.search(low, window, start))
                    or (
                        low.startswith("to", start - 3)
                        and bool(_SPEECH_TAG_TO_BEFORE.search(low, max(0, start - 60), start))
                    )
                )
            ) or (
                bool(_WORK_AFTER.match(after))
                and bool(_WORK_BEFORE.search(low, window, start))
                and (is_given or _known_or_shaped(tokens[-1], given, surnames))
            )
        if (
            not strong
            and name_like
            and not maths
            and _LIFE_EVENT_AFTER.match(after)
            and (n_real >= 2 or _known_or_shaped(tokens[-1], given, surnames))
        ):
            strong = True
        if not strong and name_like and not maths and after[:1] in _WORD_ENDS:
            strong = _how_people_are_written_about(text, low, start, end, tokens, is_given, n_real)
        if not strong and name_like and _JUDGED_THEN_PRONOUN.match(text, end, end + 90):
            strong = True
        if (
            not strong
            and n_real >= 2
            and name_like
            and (is_given or _known_or_shaped(tokens[-1], given, surnames))
            and _addressee(text, start, end, tokens)
        ):
            strong = True
        if strong and maths and n_real < 2 and not _PERSON_AFTER.match(after):
            strong = False  # "Mr. Tan sold his house", "her sister Meg": fictional people
        if strong:
            found.append(Finding("person", start, end, 0.9))
            continue
        if n_real < 2 and not is_given:
            continue  # one unknown capitalised word needs a strong cue
        near_pii = near.within(start, end, 60)
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
        elif cue and (
            foreign
            or _known_or_shaped(tokens[-1], (), surnames)
            or any(t in _PARTICLES for t in tokens[1:-1])  # "Willemine ten Pas", "Pieter van Dijk"
        ):
            conf = 0.6
        elif flag_full_names and (
            full or (name_like and (foreign or _known_or_shaped(tokens[-1], (), surnames)))
        ):
            conf = 0.5  # names: anywhere - a full name, or name-like words ending in a known surname
        if conf > 0:
            found.append(Finding("person", start, end, conf))
    if len(found) > n_before:
        _same_name_again(text, runs, found, n_before)
    return found


def _introductions(text: str, low: str, found: list[Finding]) -> None:
    """The name after an explicit introduction: "my name is vitoria", "call me Bob"."""
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


def _word_problem(low: str) -> bool:
    """Whether the text is a maths word problem ("how many ...", "... in total"). The words tested first
    skip the scan of a text that has none of the cues."""
    return any(w in low for w in _WORD_PROBLEM_WORDS) and _WORD_PROBLEM.search(low) is not None


def _cue_before(memo: dict[str, bool], cue: re.Pattern[str], s: str, start: int) -> bool:
    """Whether `cue` ends at `start`, searched in the 40 characters before it. The search reads only them
    and the character before them (a `\\b`), so a text that repeats that stretch searches it once."""
    # (41 characters; fewer only where the window opens at the start of the text, so no such key is ever
    # taken for one from further on)
    stretch = s[max(0, start - 41) : start]
    hit = memo.get(stretch)
    if hit is None:
        hit = memo[stretch] = cue.search(s, max(0, start - 40), start) is not None
    return hit


def _same_name_again(
    text: str, runs: Sequence[tuple[int, int, list[str]]], found: list[Finding], first: int
) -> None:
    """Another run made only of the words of a name found in this text is the same person: "Alvir spent a
    year ... as the assistant to Alvir D. Pušaver", "You can tell Michal was a huge Michal Horký fan".
    Only adds spans to a text that already has a name, so it never flags a prompt by itself. One pass
    over the runs, a bisection each for the findings that cover them."""
    given, surnames = _name_lists()
    words: set[str] = set()
    spans = sorted((f.start, f.end) for f in found[first:])
    for a, b in spans:
        found_words = [w for w in text[a:b].split() if len(w.rstrip(".")) >= 2]
        if (
            len(found_words) >= 2
            and text[max(0, a - 3) : a].rstrip(" \t")[-1:] in ("", ".", "!", "?", "\n", '"')
            and not _known_or_shaped(found_words[0], given, surnames)
        ):
            found_words = found_words[1:]  # "Describe Phillis Wheatley": a sentence's first word, glued on
        words.update(found_words)
    starts = [a for a, _ in spans]
    for start, end, tokens in runs:
        i = bisect.bisect_right(starts, start) - 1
        if i >= 0 and spans[i][1] > start:
            continue  # already part of a finding
        real = [t for t in tokens if len(t.rstrip(".")) >= 2]
        if real and all(t in words for t in real) and _could_be_a_name(tokens):
            found.append(Finding("person", start, end, 0.7))


# What may follow a name that stands as a word: not a hyphen, a digit or a letter ("PuTTY-User-Key-File-2").
_WORD_ENDS = frozenset(("", " ", "\t", "\n", "\r", ",", ".", ";", ":", "!", "?", "'", "\u2019", '"', ")"))


def _how_people_are_written_about(
    text: str, low: str, start: int, end: int, tokens: Sequence[str], is_given: bool, n_real: int
) -> bool:
    """The cues of the ways a particular person is written about (each read in a fixed window): a full
    name before an act of one's own life, a name joined to a personal pronoun, a name after a greeting
    that opens a line, after a lower-case title, before a possessive of a work, or spoken to after an
    object pronoun. Every one is off in maths word problems (the caller checks)."""
    # (cheapest tests first, each regular expression behind a test of the characters next to the name:
    # this runs for every capitalised run of a long text)
    after = text[end : end + 40]
    tail = low[max(0, start - 12) : start].rstrip(" \t")
    window = max(0, start - 40)
    if is_given and after[:1] == "," and _OBJECT_PRONOUN_BEFORE.search(low, window, start):
        return True
    if tail.endswith(".") and _LOWER_TITLE_BEFORE.search(low, window, start):
        return True
    greeting = tail.rstrip(",").endswith(_GREETINGS) and bool(_GREETING_AFTER.match(text, end))
    act = n_real >= 2 and after[:1] == " " and bool(_PERSONAL_ACT_AFTER.match(after))
    pronoun = (tail.endswith("and") and bool(_PRONOUN_AND_BEFORE.search(low, window, start))) or (
        after.startswith(" and ") and bool(_AND_PRONOUN_AFTER.match(after))
    )
    possessive = after[:1] in ("'", "\u2019") and bool(_WORK_POSSESSIVE_AFTER.match(after))
    if not (greeting or act or pronoun or possessive):
        return False
    given, surnames = _name_lists()
    known = is_given or _known_or_shaped(tokens[-1], given, surnames)
    if greeting and (known or n_real >= 2) and _GREETING_BEFORE.search(low, window, start):
        return True
    return known and (act or pronoun or possessive)


def _people_in_context(
    text: str, low: str, runs: Sequence[tuple[int, int, list[str]]]
) -> tuple[set[int], set[int]]:
    """Starts of the name runs that someone speaks to ("Leif, can you ...", "..., Roy!"), and of those
    that a dialogue or a list of people makes persons whatever the words are: every speaker of a
    dialogue ("Lisa: Remember me?") with two or more speakers, one a known given name, and every name
    in a list after a word for people ("our 3 founders: Kónya, Becker and Vasquez")."""
    given, surnames = _name_lists()
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
            if len(tokens) == 1 and _could_be_a_name(tokens):
                spoken_to.add(start)  # "Don't go to town, Mark!": any name-like word, known or not
    if ":" in text and "\n" in text:
        # The distinct speakers first (findall: no match object a tag): a text of one tag repeated over
        # thousands of lines has no dialogue, and no position of a tag is needed.
        names = {v.lower() for v in set(_SPEAKER_TAG.findall(text)) if _speaker(v)}
        if len(names) >= 2 and names & given:
            listed.update(m.start("v") for m in _SPEAKER_TAG.finditer(text) if _speaker(m.group("v")))
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


def _speaker(tag: str) -> bool:
    """Whether the word of a speaker tag ("Lisa: ...") could be a speaker's name."""
    return tag[:1].isupper() and tag.lower() not in _NOT_SPEAKER and tag.lower() not in _NOT_NAME


def _lowercase_persons(low: str, found: list[Finding]) -> None:
    """All-lower-case prompts ("follow up with patricia desrosiers"): a known given name after a cue,
    with the next word when it is a known surname. A strong cue, a personal fact or one of the
    capitalised scan's cues (`_lowercase_context`) takes the given name alone; a weak cue needs the
    surname too."""
    given, surnames = _name_lists()
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
        last = nxt.group("w") if nxt else ""
        if last.endswith("'s"):
            last = last[:-2]
        full_end = nxt.start("w") + len(last) if nxt and _known_or_shaped(last, (), surnames) else end
        window = max(0, start - 40)
        strong = bool(
            _PERSON_STRONG_CUE.search(low, window, start)
            or _PERSON_FACT_BEFORE.search(low, window, start)
            or _PERSON_AFTER.match(low[end : end + 30])
            or _PERSON_FACT_AFTER.match(low[full_end : full_end + 30])
        ) or _lowercase_context(low, start, end, full_end)  # (maths word problems never reach this scan)
        if strong or (full_end > end and _LOWER_PERSON_CUE.search(low, window, start)):
            found.append(Finding("person", start, full_end, 0.75 if strong else 0.6))


def _lowercase_context(low: str, start: int, end: int, full_end: int) -> bool:
    """The cues of the capitalised scan, for a known given name (`low[start:end]`, with a known surname to
    `full_end`) in a text typed without capitals: the same sentence, so the same cues. Only the anchored
    tests and searches in a window of fixed size, as there."""
    window = max(0, start - 40)
    after = low[full_end : full_end + 40]
    sentence_start = low[max(0, start - 3) : start].rstrip(" \t")[-1:] in ("", ".", "!", "?", "\n", '"')
    return bool(
        (
            _SPEECH_TAG_END.match(low, full_end, full_end + 40)
            and _SPEECH_TAG_BEFORE.search(low, window, start)
        )
        or (_WORK_AFTER.match(after) and _WORK_BEFORE.search(low, window, start))
        or _WORK_POSSESSIVE_AFTER.match(after)
        or _LIFE_EVENT_AFTER.match(after)
        or (sentence_start and _VOCATIVE_AFTER.match(low, full_end))
        or (low.startswith(", ", start - 2) and low[full_end : full_end + 1] in ("!", "?"))
        or (low.startswith(",", full_end) and _OBJECT_PRONOUN_BEFORE.search(low, window, start))
        or (_GREETING_AFTER.match(low, full_end) and _GREETING_BEFORE.search(low, window, start))
        or _PRONOUN_AND_BEFORE.search(low, window, start)
        or _JUDGED_THEN_PRONOUN.match(low, full_end, full_end + 90)
        or (full_end > end and _PERSONAL_ACT_AFTER.match(after))
    )


# Endings of surnames of many cultures that English words (almost) never have: Nordic (-sson, -dóttir,
# -sen), Slavic (-ski, -ová, -ov, -ev, -vich, -enko, ...), Baltic and Finnish (-nen, -aho), Georgian (-idze,
# -shvili), Greek (-poulos, -akis), Romanian (-escu), Turkish (-oglu), Armenian (-yan), Japanese (-moto,
# -mura, -kawa, ...), German and Dutch (-berg, -stein, -mann). Only for a capitalised word in a name's place.
_SURNAME_ENDINGS = re.compile(
    r"(?:sson|sdottir|sdóttir|dóttir|ssen|[rnld]sen|ová|ski|ska|sky|cki|cka|wicz|vich|vić|vic|enko|chuk|"
    r"ov|ova|ev|eva|yev|yeva|ovna|evna|inen|nen|aho|idze|dze|shvili|poulos|akis|idis|escu|oglu|oğlu|"
    r"yan|moto|mura|kawa|gawa|yama|hara|shita|uchi|zaki|saki|kami|naka|berg|stein|mann|stedt|strom|ström)$"
)
_NOT_SURNAME = frozenset(
    _words("""improv lev kiev dev prev rev chev ask risk desk task stein berg mann man ova nova
    yan kami essen ski sky linen lesson lessons lessen worsen coarsen geneva alaska nebraska whisky idaho
    sahara iceberg maelstrom""")
)


def _known_or_shaped(token: str, given: Iterable[str] | frozenset[str], surnames: frozenset[str]) -> bool:
    """Whether a capitalised word is a known given name or surname, non-English-looking, or has the
    ending of a surname of one of many cultures ("Bergqvist" no, "Hartvigsson" yes)."""
    low = token.lower()
    if low in surnames or (given and low in given) or not token.isascii():
        return True
    return len(low) >= 5 and low not in _NOT_SURNAME and bool(_SURNAME_ENDINGS.search(low))


# An addressee: a line that holds only a full name, over short lines that end with a country (an envelope,
# a parcel label): "Maha Cazares\n\nChiclana de la Frontera\nSpain".
_COUNTRIES = frozenset(
    w.replace("_", " ")
    for w in _words(
        """
        afghanistan albania algeria andorra angola argentina armenia australia austria
        azerbaijan bahamas bahrain bangladesh barbados belarus belgium belize benin bhutan
        bolivia bosnia botswana brazil brunei bulgaria burundi cambodia cameroon canada chad
        chile china colombia congo costa_rica croatia cuba cyprus czechia czech_republic denmark
        djibouti dominican_republic ecuador egypt el_salvador eritrea estonia eswatini ethiopia
        fiji finland france gabon gambia georgia germany ghana greece greenland guatemala guinea
        guyana haiti honduras hong_kong hungary iceland india indonesia iran iraq ireland israel
        italy jamaica japan jordan kazakhstan kenya kosovo kuwait kyrgyzstan laos latvia lebanon
        lesotho liberia libya liechtenstein lithuania luxembourg madagascar malawi malaysia
        maldives mali malta mauritania mauritius mexico moldova monaco mongolia montenegro
        morocco mozambique myanmar namibia nepal netherlands new_zealand nicaragua niger nigeria
        north_macedonia norway oman pakistan panama paraguay peru philippines poland portugal
        puerto_rico qatar romania russia rwanda saudi_arabia senegal serbia singapore slovakia
        slovenia somalia south_africa south_korea spain sri_lanka sudan suriname sweden
        switzerland syria taiwan tajikistan tanzania thailand togo tunisia turkey turkmenistan
        uganda ukraine united_arab_emirates united_kingdom uk united_states usa uruguay
        uzbekistan venezuela vietnam yemen zambia zimbabwe england scotland wales
        """
    )
)


def _addressee(text: str, start: int, end: int, tokens: Sequence[str]) -> bool:
    """Whether the run fills its line and the next few short lines end with a country. Only a fixed
    window around the run is read (a search for the line's ends would make a long text quadratic)."""
    before = text[max(0, start - 4) : start].rstrip(" \t")
    if not (before.endswith("\n") or (not before and start <= 4)):
        return False
    rest = text[end : end + 4]
    nl = rest.find("\n")
    if nl < 0 or rest[:nl].strip(" \t,"):
        return False
    lines = text[end + nl + 1 : end + nl + 200].split("\n")[:5]
    for line in lines:
        line = line.strip(" \t,")
        if len(line) > 40:
            return False
        words = line.lower().rstrip(" 0123456789-").strip()
        if words in _COUNTRIES or words.split(" ", 1)[-1] in _COUNTRIES:
            return True
    return False


def _has_initial(tokens: Sequence[str]) -> bool:
    return len(tokens) >= 3 and any(len(t.rstrip(".")) == 1 and t[:1].isupper() for t in tokens[1:-1])


def _could_be_a_name(tokens: Sequence[str]) -> bool:
    """Whether every word of a run could be part of a person's name: no common word, role, adverb or
    acronym. (Names that end like an adverb, "Emily", "Kelly", "Joly", are names when a list knows them.)"""
    given, surnames = _name_lists()
    for i, t in enumerate(tokens):
        low = t.lower()
        if 0 < i < len(tokens) - 1 and len(t.rstrip(".")) == 1 and t[:1].isupper():
            continue  # a middle initial: "Agatha Á Ottarsdóttir"
        if (
            len(t) < 2
            or t.isupper()
            or (low.endswith("ly") and low not in given and low not in surnames and len(low) != 4)
            or low in _NOT_NAME
            or low in _COUNTRIES  # "Schöningen, Germany?"
            or low in _NOT_VOCATIVE
            or low in _NOT_SPEAKER
        ):
            return False
    return True


def _foreign_looking(tokens: Sequence[str]) -> bool:
    return not all(t.isascii() for t in tokens)


def _name_runs(text: str, stop: int | None = None) -> Iterable[tuple[int, int, list[str]]]:
    """Runs of capitalised words (with middle initials and particles) that could be a person's name,
    before `stop`."""
    tokens = []
    for m in _NAME_TOKEN.finditer(text, 0, len(text) if stop is None else stop):
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
        committee department ministry office address name email phone declaration treaty"""
    )
)


def _capitalised(tok: str) -> bool:
    return tok[:1].isupper() and (len(tok) == 1 or not tok.isupper() or len(tok) <= 1)


class _Proximity:
    """Whether any of a set of findings lies within `gap` characters of a span, in O(log n) a question
    (a scan over every finding per name would be quadratic in a long text)."""

    def __init__(self, findings: Sequence[Finding]) -> None:
        # disjoint findings sorted by start (as overlap resolution leaves them): their ends are sorted too
        self._findings = sorted(findings, key=lambda f: f.start)
        self._starts = [f.start for f in self._findings]

    def within(self, start: int, end: int, gap: int) -> bool:
        """Whether a finding overlaps [start - gap, end + gap)."""
        i = bisect.bisect_left(self._starts, end + gap)  # the findings before i start before that ends
        return i > 0 and self._findings[i - 1].end > start - gap


def _lowercase_beside_identifiers(scan: Scan, out: list[Finding]) -> None:
    """A lower-case full name (a known given name, then a known surname) within 60 characters of another
    finding ("robert johnson, ssn 536-22-1234"), or, under `names: anywhere`, wherever it is."""
    given, surnames = _name_lists()
    low = scan.low
    anywhere = scan.options.names == "anywhere"
    windows: list[tuple[int, int]] = []
    if anywhere:
        windows.append((0, len(low)))
    else:
        for f in scan.found[:256]:
            if f.category == "person":
                continue
            a, b = max(0, f.start - 60), min(len(low), f.end + 60)
            if windows and a <= windows[-1][1]:
                windows[-1] = (windows[-1][0], max(windows[-1][1], b))
            else:
                windows.append((a, b))
    for a, b in windows:
        for m in _LOWER_WORD.finditer(low, a, b):
            first = m.group()
            if first not in given or first in _NOT_NAME or not scan.text[m.start()].islower():
                continue
            nxt = _LOWER_NEXT_WORD.match(low, m.end())
            if nxt is None:
                continue
            last = nxt.group("w")
            # (the census lists a surname that is also a given name, "johnson", only as a given name)
            if (last in surnames or last in given) and last not in _NOT_NAME:
                out.append(Finding("person", m.start(), nxt.end(), 0.7))
