"""Names in the contexts where text about people puts them: quoted, credited, addressed, on a label; each
cue as a positive and as a near miss that must stay unflagged (see router/scoring/privacy/persons.py)."""

from __future__ import annotations

import pytest

from router.scoring.privacy import PrivacyScorer
from router.scoring.privacy.persons import _known_or_shaped, _name_lists, _read_names


@pytest.fixture(scope="module")
def scorer() -> PrivacyScorer:
    return PrivacyScorer()


def names(scorer: PrivacyScorer, text: str) -> list[str]:
    return [text[f.start : f.end] for f in scorer.scan(text).findings if f.category == "person"]


POSITIVES: list[tuple[str, str]] = [
    # given names of other countries (data/given_names_intl.txt) with the cues that took census names
    ("Nikolaj is very reliable, you can count on him.", "Nikolaj"),
    ("Directed by:  Johannes Lindqvist", "Johannes Lindqvist"),
    ("the true gender of Vehbija is nobody's business", "Vehbija"),
    ("She named him Frank", "Frank"),
    # an occupation before the name, as a title or in lower case
    ("Producer Liviu Rădulescu explained the choice of key.", "Liviu Rădulescu"),
    ("as regular commenter Ilse Vandamme points out, it is slow", "Ilse Vandamme"),
    # a speech tag with the speaker after the verb
    ('"I am glad it is moving," says Hartvigsson.', "Hartvigsson"),
    ("I'm so jealous! said Ottilie to Bram", "Ottilie"),
    ('"Fine," said Joly.', "Joly"),
    # a name used for the person's work or fans
    ("Unlike the Sokolov novel, it is short.", "Sokolov"),
    ("Have you been to a Tove Lindqvist concert before?", "Tove Lindqvist"),
    ("You can tell he was a huge Dagny Solberg fan.", "Dagny Solberg"),
    # a weak cue with a surname of a known shape, or a name particle
    ("A great song (not by Ushurma Dratchev).", "Ushurma Dratchev"),
    ("Jolien ter Horst will be talking at the meetup", "Jolien ter Horst"),
    # an addressee over short lines that end with a country
    ("Ilse Vandamme\n\nKortrijk\nBelgium", "Ilse Vandamme"),
    ("Przemek Wolak\nul. Długa 5\n00-001 Warszawa\nPoland", "Przemek Wolak"),
    # spoken to at the end of an exclamation, any name-like word
    ("Don't go to town, Jarrah!", "Jarrah"),
    # an event of the person's life after the name
    ("Kowalczyk began writing as a teenager.", "Kowalczyk"),
    ("Anneli Ruotsalainen retired in 2019.", "Anneli Ruotsalainen"),
    # lower case: a personal fact after a given name and a surname of a known shape
    ("ivan petrova's killers were sentenced today", "ivan petrova"),
]


@pytest.mark.parametrize(("text", "span"), POSITIVES, ids=[s for _, s in POSITIVES])
def test_name_in_a_personal_or_credited_context_is_found(scorer: PrivacyScorer, text: str, span: str) -> None:
    assert span in names(scorer, text), names(scorer, text)


NEGATIVES: list[str] = [
    # an English word that is also a given name somewhere stays a word
    "Valve is very reliable, you can count on it.",
    # titles that stand before famous people, roles of fictional vignettes, an organisation after a role
    "Coach Perry is training Lana to block penalty kicks.",
    "the producer Studio Ghibli released it in 2001",
    "Attorney General of the state filed the suit",
    # no punctuation before the verb: not a speech tag; or a common word after it
    "The book says Python is easy to learn.",
    '"Fine," says the manual.',
    # a band or a single word with no name shape before a work noun
    "Have you been to a Coldplay concert before?",
    "Unlike the Linux kernel, it is small.",
    # a country or an adverb spoken to, and a name line over no address
    "Where is Schöningen, Germany?",
    "Why is it so slow, Seriously?",
    "Ilse Vandamme\n\nthe sea was calm and the long walk along the beach was pleasant\nBelgium",
    "Marie Curie\nPhysics\nChemistry",
    # a life event after a word that is no name, or in a maths word problem
    "Python began working on Windows in 1996.",
    "Kowalczyk began writing 3 pages a day. How many pages did she write in a week?",
    # lower case: no name before the fact
    "the killers were sentenced to life in prison",
]


@pytest.mark.parametrize("text", NEGATIVES)
def test_look_alikes_of_the_new_cues_are_not_names(scorer: PrivacyScorer, text: str) -> None:
    assert names(scorer, text) == []


@pytest.mark.parametrize(
    "word", ["Hartvigsson", "Navrátilová", "Kucharski", "Shervashidze", "Samurakami", "Dratchev", "Bertelsen"]
)
def test_surnames_of_many_cultures_have_a_known_shape(word: str) -> None:
    _, surnames = _name_lists()
    assert _known_or_shaped(word, (), surnames)


@pytest.mark.parametrize(
    "word", ["Season", "Person", "Reason", "Lesson", "Improv", "Linen", "Chosen", "Stein", "Alaska", "Idaho"]
)
def test_english_words_do_not_have_a_surname_shape(word: str) -> None:
    assert not _known_or_shaped(word, (), frozenset())  # the shape alone (the census lists "Person")


def test_international_given_names_leave_english_words_out() -> None:
    intl = _read_names("given_names_intl.txt")
    assert {"nikolaj", "mette", "johannes", "mathias", "petr"} <= intl <= _name_lists()[0]
    assert not {"valve", "else", "hope", "the", "said", "art", "will"} & intl


# How people are written about in general (persons._how_people_are_written_about and, for text typed
# without capitals, persons._lowercase_context): each cue as (positive, span, near miss that stays
# clean).
WRITTEN_ABOUT: list[tuple[str, str, str]] = [
    # a full name before an act of one's own life; the verbs of argument of exam questions are not acts
    (
        "Krisztina Lindqvist listed her top 20 songs for a magazine.",
        "Krisztina Lindqvist",
        "Marcia Baron argues that ticking bomb cases are artificial.",
    ),
    # a name joined to a personal pronoun; a title with "Me" in it is no pronoun
    ("It was settled between him and Ottilie's kid.", "Ottilie", "Who wrote the book Marley and Me?"),
    ("Ann and I went to the lake last weekend.", "Ann", "Watson and Crick found the double helix."),
    # a greeting that opens the message; not in a maths word problem
    (
        "Hi Freddy, I'm writing about my order.",
        "Freddy",
        "Hi Sam, if a train travels 60 miles in 1 hour, how far does it go in 3 hours?",
    ),
    # a title in lower case; not "dr.", which stands before characters of fiction as often
    ("I'd like to join accounts with ms. Quinzia", "Quinzia", "Who played dr. Quinn, medicine woman?"),
    # a work by the possessive; a law or a theory named after someone is no work of theirs
    ("though Meza's song was actually about a boat", "Meza", "What is Newton's law of cooling?"),
    # spoken to after an object pronoun; a place after one is not
    (
        "You picked a fine time to leave me Mette, four hungry children",
        "Mette",
        "Show me Paris, France on a map.",
    ),
    # the one spoken to in an inverted speech tag; not in a maths word problem
    (
        "I'm so jealous! said Ottilie to Bram",
        "Bram",
        "'Share!' said Mom to Tim. Tim has 12 sweets. How many does he keep if he gives 3 away?",
    ),
    # a name found once makes the same words elsewhere in the text that person; nothing found, nothing added
    (
        "Alvir spent a year at Weeks-Rivas as the assistant to Alvir D. Pušaver.",
        "Alvir",
        "Darwin sailed on the Beagle; Darwin later wrote On the Origin of Species.",
    ),
    # a private datum given to someone by a pronoun ("X his address"), not a speech called an address
    ("Did Ottilie give Bram his password yet?", "Bram", "Lincoln gave his address at Gettysburg in 1863."),
    # text typed without capitals: the same cues for a known given name, not a weak "by" or "and me"
    (
        "c'mon, sing it with me: you picked a fine time to leave me nina, four hungry children",
        "nina",
        "is it marley and me or marley and i",
    ),
    (
        "hi freddy, i'm contacting you about a problem with my order",
        "freddy",
        "love yourself by justin bieber is about who",
    ),
]


@pytest.mark.parametrize(("text", "span", "near_miss"), WRITTEN_ABOUT, ids=[s for _, s, _ in WRITTEN_ABOUT])
def test_how_people_are_written_about(scorer: PrivacyScorer, text: str, span: str, near_miss: str) -> None:
    assert span in names(scorer, text), names(scorer, text)
    assert names(scorer, near_miss) == [], names(scorer, near_miss)


def test_a_sentence_word_glued_onto_a_name_is_not_masked_elsewhere(scorer: PrivacyScorer) -> None:
    # "Describe" opens the sentence and the run of "Phillis Wheatley"; its next use is no name
    text = "Describe Phillis Wheatley's poems. Describe her life."
    assert names(scorer, text) == ["Describe Phillis Wheatley"]
    # while a one-word name found at a sentence's start is masked where it comes again
    assert names(scorer, "Shovda is very reliable. You can always depend on him. Shovda knows.") == [
        "Shovda",
        "Shovda",
    ]
