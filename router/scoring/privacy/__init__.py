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
- it sits next to other private data (a phone number, an e-mail, ...), also in lower case ("robert johnson,
  ssn ...");
- a role opens it ("Patient John Doe"), or it is judged and then referred to by a pronoun ("Shovda is
  very reliable. You can always depend on him.");
- it is a full name with a weaker cue around it ("from", "said", "will be", "songwriter", "commenter",
  ...): a known given name or a middle initial, then a surname; or any first word, then a known
  surname, one with the ending of a surname of many cultures ("-sson", "-ová", "-idze", "-moto", ...)
  or one after a particle ("Jolien ter Horst");
- an occupation opens it ("Producer Liviana Palerma explained"), a speech tag names it ('"...," says
  Bergqvist.'), it stands for the person's work or fans ("Unlike the Sokolov novel", "a Tove Lindqvist
  concert", "a huge Dagny Solberg fan"), an event of their life follows it ("Kowalczyk began writing",
  "... retired"), or it fills a line over short lines that end with a country (an addressee: "Maha
  Cazares\n\nChiclana de la Frontera\nSpain");
- it is joined to a personal pronoun ("between him and Asya's kid", "Ann and I"), greeted at the start
  of a line ("Hi Freddy,"), spoken to after an object pronoun ("leave me Mette,") or at the end of a
  speech tag ("! said Felix to Linda"), after a lower-case title ("ms. Quinzia"), before a possessive of
  a work ("Meza's song") or handed a private datum ("had given Hakuba his address"); or it is a full
  name before an act of one's own life ("James Talbot listed his top 20").
Once a name is found, its other mentions in the text are masked too. A text without capitals gets the
same cues for a known given name.
Given names are the US Census 1990 list and nam_dict.txt's names of 54 countries that are no English
words (Mette, Nikolaj, Petr, ...).
An all-lower-case prompt gets a smaller scan: a known given name after a strong cue or before a personal
fact ("olga krylova's killers"), or a given name and a surname after an act between people ("follow up
with patricia desrosiers").
A lone first name in a maths word problem ("Janet's ducks lay 16 eggs") is not private, nor is "Charles
Darwin" in a history question; the policy switch `names: anywhere` (or `flag_full_names=True`) makes
every full name count. The cues of the second and third items are all switched off in maths word problems.

Findings never overlap: when two detectors claim the same characters, the more specific one wins
(a private key beats a password, a connection string beats an e-mail, a card beats a phone number).

The score is `1 - prod(1 - weight[category] * confidence)` over the findings (`score_findings`): one
structured high-risk finding (card, IBAN, SSN, key) alone scores >= 0.9, one name in a personal context
about 0.6, nothing found 0.

Credentials, identifiers and the rest: docs/privacy.md has the table of what each category covers.

The detectors live in one module per family (`credentials`, `contact`, `identifiers`, `addresses`,
`persons`), each a record in the registry of `_base` (category, weight, priority, stage, function);
`scorer` runs them. Every scan is linear in the length of the text: bounded regular expressions, checks
in windows of fixed size, overlaps resolved in O(n log n), and at most `MAX_FINDINGS` findings a request
(the rest of a longer run of findings is merged into one span, so it is masked all the same).
The constant matters too: a text of 200,000 characters is scanned in about a tenth of a second. CPython's
`re` tries a pattern at each position of the text, so a scan over the whole text that opens with a
lookbehind first tests a lookahead at the characters every match starts with (`(?=[A-Z])`); a scan for cue
words is skipped when the text holds none of the words one of the cues must contain; and work for a
stretch of text that repeats (the window after a cue, before a name) is done once a scan.
"""

from __future__ import annotations

from router.scoring.privacy.scorer import (
    CATEGORY_WEIGHTS,
    DETECTORS,
    MAX_FINDINGS,
    NAMES_MODES,
    PrivacyScorer,
    score_findings,
)

__all__ = ["CATEGORY_WEIGHTS", "DETECTORS", "MAX_FINDINGS", "NAMES_MODES", "PrivacyScorer", "score_findings"]
