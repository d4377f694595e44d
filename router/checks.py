"""Answer checks: cheap tests of a local answer before it leaves the device.

A prediction made before generating is half of "answer locally when the local model can"; the other half
is looking at the answer. Each check is a small function of the answer (and, where it needs them, the
request's messages, the finish reason and the tokens' log-probabilities) that returns a `Rejection`
when the answer is not fit to deliver, else None. They cost microseconds: word n-gram sets and a tail
scan, no model calls.

Thresholds added since the read labels (bench/data/answer_labels.jsonl) were chosen on the dev half of
bench/answer_checks.py's answers only (split by prompt); the held-out half is reported, not tuned on.
Older thresholds were set before the split (docs/benchmarks.md, "Fourth run").

    empty            nothing but whitespace or punctuation
    echo             the answer repeats the prompt (or the system message) instead of answering it, word for
                     word or with a word or two changed or dropped
    restatement      the answer says an open question again in other words and adds nothing of its own
    misread          the answer goes on as the one asking ("I have a question about ...") or treats a
                     question as text to edit ("The original text is: ...")
    repetition       the answer ends in a loop: one span repeated again and again
    truncated_loop   the answer hit the token limit while repeating itself (a weaker loop test)
    repeated_sentences  near copies of the same sentence or list item again and again
    repeated_phrases    the same few-word phrases said again and again inside long sentences
    repeated_passage    a long passage said again word for word
    refusal          "I'm not sure." / "I cannot answer that" where nothing asked for a refusal
    low_confidence   the answer's tokens were improbable to the model itself (mean or minimum log-prob),
                     or the calibrated head's answer stage expects it to be wrong

What happens to a rejected answer is the routing policy's business (`on_local_answer_rejected`); this
module only says whether and why.
"""

from __future__ import annotations

import difflib
import math
import re
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from itertools import pairwise

from router.types import Message

_WORD = re.compile(r"\w+")
_TOKEN = re.compile(r"\w+|[^\w\s]")
_DIGITS = re.compile(r"\d+")


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why an answer was rejected: the check's name, the value it measured, and words for the log."""

    check: str
    value: float
    detail: str


@dataclass(frozen=True, slots=True)
class CheckSettings:
    """Thresholds of the checks (the policy's `answer_checks:` section; defaults measured in
    bench/answer_checks.py and documented in docs/policies.md)."""

    enabled: bool = True
    # echo: the answer covers at least `echo_coverage` of the prompt's word n-grams, and at most
    # `1 - echo_copied` of the answer's own n-grams are new.
    echo_coverage: float = 0.8
    echo_copied: float = 0.75
    # repetition: a span of `period` tokens repeated at least `loop_repeats` times at the end of the
    # answer, covering at least `loop_min_tokens` tokens.
    loop_repeats: int = 3
    loop_min_tokens: int = 12
    # repeated_sentences: at least `repeat_copies` sentences or lines that are near copies of earlier
    # ones, holding at least `repeat_share` of the answer's words.
    repeat_copies: int = 2
    repeat_share: float = 0.5
    # repeated_phrases: at least `phrase_share` of the answer's words lie inside 4-word phrases that
    # occur 4 times or more. None (the default) switches it off: 0.25, chosen on the dev half of the
    # read labels, rejected 4 good answers on the held-out half for 5 loops caught (docs/benchmarks.md).
    phrase_share: float | None = None
    # repeated_passage: a passage of at least `passage_words` words said again word for word. None: off.
    passage_words: int | None = 24
    # restatement: an open question said again in other words, nothing added.
    restatement: bool = True
    # misread: the answer asks a question of its own in the asker's voice, or edits a question as text.
    misread: bool = True
    # low_confidence: None switches a bound off. `min_answer_success` reads the calibrated head's answer
    # stage (`Answer.expected_success`: the expected local success after the answer's first tokens).
    min_mean_logprob: float | None = None
    min_token_logprob: float | None = None
    min_answer_success: float | None = None
    refusal: bool = True
    # Streaming hold-back: at most this many tokens / milliseconds are held before the first delta.
    holdback_tokens: int = 24
    holdback_ms: float = 1500.0
    # Hold a streamed answer back while it opens like a refusal or an asker's question ("I'm ..." costs
    # two or three tokens before the first delta). Off: streams wait for echoes and loops only, and a
    # streamed refusal is delivered as it is (unary answers are still checked whole, refusal included).
    holdback_refusals: bool = True


@dataclass(frozen=True, slots=True)
class Answer:
    """What the checks read: the answer, the conversation it answers, how it ended, its log-probs."""

    text: str
    messages: Sequence[Message] = ()
    finish_reason: str = "stop"
    logprobs: Sequence[float] = ()
    # The calibrated head's answer stage, filled in by the engine where the model has one.
    expected_success: float | None = None

    @property
    def prompt(self) -> str | None:
        """The last user message: the request this answer answers."""
        return next((m.content for m in reversed(self.messages) if m.role == "user"), None)


def words(text: str) -> list[str]:
    """Lower-case words, every number as one symbol (a restated question with other numbers is still
    the question)."""
    return [_DIGITS.sub("0", w.lower()) for w in _WORD.findall(text)]


def _ngrams(seq: Sequence[str], n: int) -> list[tuple[str, ...]]:
    if len(seq) < n:
        return [tuple(seq)] if seq else []
    return [tuple(seq[i : i + n]) for i in range(len(seq) - n + 1)]


# --- the checks -------------------------------------------------------------------------------------


def check_empty(answer: Answer, settings: CheckSettings) -> Rejection | None:
    if _WORD.search(answer.text) is None:
        return Rejection("empty", float(len(answer.text.strip())), "the answer has no words")
    return None


def echo_overlap(answer_text: str, source: str, *, partial: bool = False) -> tuple[float, float]:
    """(coverage, copied): the share of the source's word n-grams found in the answer, and the share of
    the answer's n-grams found in the source. n is 3, or less for sources shorter than three words.
    `partial` (the start of a streamed answer): coverage of only as much of the source's start as the
    answer has words, since an echo in progress has not reached the end of the prompt yet."""
    a, s = words(answer_text), words(source)
    if partial:
        s = s[: len(a)]
    if not a or not s:
        return 0.0, 0.0
    n = min(3, len(s))
    source_grams = _ngrams(s, n)
    answer_grams = _ngrams(a, n)
    in_answer = set(answer_grams)
    in_source = set(source_grams)
    coverage = sum(1 for g in source_grams if g in in_answer) / len(source_grams)
    copied = sum(1 for g in answer_grams if g in in_source) / len(answer_grams)
    return coverage, copied


ECHO_PREFIX_WORDS = 4
ECHO_PREFIX_COVERAGE = 0.6


_QUESTION_WORDS = frozenset(
    [
        "who",
        "whom",
        "whose",
        "what",
        "when",
        "where",
        "which",
        "why",
        "how",
        "is",
        "are",
        "was",
        "were",
        "do",
        "does",
        "did",
        "can",
        "could",
        "will",
        "would",
        "should",
    ]
)


def _opens_with(answer_text: str, source: str) -> bool:
    """The answer opens by asking the prompt's question again (its first words, a question word first):
    restating a question is not answering it. ("Paris is the capital of which country?" answered
    "Paris is the capital of France." opens with the prompt's words too, but states an answer.)"""
    s = words(source)
    return (
        len(s) > ECHO_PREFIX_WORDS
        and s[0] in _QUESTION_WORDS
        and words(answer_text)[:ECHO_PREFIX_WORDS] == s[:ECHO_PREFIX_WORDS]
    )


# Edited echoes: the prompt said again with a word or two changed or dropped ("who plays matthew on anne
# with an e" -> "who plays matthew on anne with a e"), which breaks too many word trigrams for the
# n-gram test. Judged on word sequences (difflib's ratio, 2 * matched words / all words), only where the
# answer opens with the prompt's first word (it still asks, or still instructs: "What is the capital of
# France?" is answered by "Paris is the capital of France.", its question word replaced by the answer),
# is no longer than the prompt (one that adds words may be adding the answer), the prompt has at least
# `EDIT_MIN_WORDS` words, and the answer at most `EDIT_MAX_WORDS` (the cost stays small).
# EDIT_SIMILARITY was chosen on the dev half of bench/answer_checks.py's read labels: its edited echoes
# scored 0.88 and 0.93, its good answers at most 0.62.
EDIT_SIMILARITY = 0.8
EDIT_MIN_WORDS = 5
EDIT_MAX_WORDS = 64


def edited_echo(answer_text: str, source: str) -> float:
    """How close the answer's words are to the source's, as a sequence (0..1), where the answer could
    be an edited echo of it (see above), else 0."""
    a, s = words(answer_text), words(source)
    if not a or len(a) > min(len(s), EDIT_MAX_WORDS) or len(s) < EDIT_MIN_WORDS or a[0] != s[0]:
        return 0.0
    matcher = difflib.SequenceMatcher(None, a, s, autojunk=False)
    if matcher.real_quick_ratio() < EDIT_SIMILARITY:  # the lengths alone rule it out
        return 0.0
    return matcher.ratio()


def check_echo(answer: Answer, settings: CheckSettings, *, partial: bool = False) -> Rejection | None:
    """The answer is (mostly) a copy of the last user message or of the system message.

    Both conditions must hold, so an answer that quotes the question and then answers it, or an edit of
    text given in the prompt (the instruction itself is not repeated), is not an echo. A whole answer no
    longer than the prompt that is the prompt with a word or two changed is an echo too (`edited_echo`)."""
    sources: list[tuple[str, str]] = [(m.role, m.content) for m in answer.messages if m.role == "system"]
    if answer.prompt is not None:
        sources.append(("user", answer.prompt))
    for role, source in sources:
        what = "prompt" if role == "user" else "system message"
        coverage, copied = echo_overlap(answer.text, source, partial=partial)
        # An answer that opens with the prompt's own first words needs less coverage: a restated
        # question with one word changed ("... on the moon" -> "... on Mars") is still no answer.
        needed = settings.echo_coverage
        if _opens_with(answer.text, source):
            needed = min(needed, ECHO_PREFIX_COVERAGE)
        if coverage >= needed and copied >= settings.echo_copied:
            return Rejection(
                "echo", round(coverage, 3), f"the answer repeats the {what} ({coverage:.0%} of it)"
            )
        if not partial:
            similarity = edited_echo(answer.text, source)
            if similarity >= EDIT_SIMILARITY:
                return Rejection(
                    "echo",
                    round(similarity, 3),
                    f"the answer is the {what} with a few words changed ({similarity:.0%} alike)",
                )
    return None


# Restatements: an open question said again in other words, nothing of the answer's own added ("How can
# I increase my productivity while working from home?" -> "I have a question about my productivity while
# working from home."; "who is the girl in green day 21 guns" -> "I'm the girl in green day 21 guns").
# The n-gram and sequence tests miss these, since the words are reordered and wrapped in new ones. Judged
# on content words (not function words, not fillers such as "question" or "think", crudely stemmed):
# the answer has at least `RESTATE_MIN_WORDS` of them and at most one in `RESTATE_NEW_SHARE`^-1 is not in
# the prompt. Only where "nothing new" cannot be a right answer:
#   - the prompt asks an open question or for a description, not yes/no ("Are you ...?": "Yes, I am
#     trained on X." says the question's words and answers it) and offers no options ("A) ... B) ...",
#     or "... X or Y?" where the answer names one of them without the "or");
#   - it carries no text to work on (a colon, quotation marks, a second line, or text after its question:
#     "Which city is mentioned in this sentence? Yesterday Anna took the train from Oslo ..."; an
#     extraction or an edit answers with the prompt's own words) and asks for no edit ("rewrite", ...);
#   - the answer is short (at most `RESTATE_MAX_WORDS` words), has no number the prompt does not have (a
#     new number can be the answer) and does not open with yes or no.
# A yes or a no does not answer an either/or question, though: an answer that repeats the prompt's
# "X or Y" as it stands ("Yes, it is more important to prioritize job creation or technological
# progress.") is judged whatever its first word, and whatever the prompt's.
# Measured in docs/benchmarks.md (answer checks, "Fifth run" and "Sixth run"): on `router calibrate`'s
# graded answers of two models it rejects no graded-right one.
RESTATE_MIN_WORDS = 4
RESTATE_NEW_SHARE = 0.125
RESTATE_MAX_WORDS = 40
_CONTENT = re.compile(r"[^\W\d_]+")
_FUNCTION_WORDS = frozenset([
    "a", "an", "the", "and", "or", "but", "if", "of", "to", "in", "on", "at", "by", "for", "with", "from",
    "as", "is", "are", "was", "were", "be", "been", "being", "am", "i", "me", "my", "mine", "you", "your",
    "yours", "he", "him", "his", "she", "her", "hers", "it", "its", "they", "them", "their", "we", "our",
    "us", "this", "that", "these", "those", "there", "here", "what", "which", "who", "whom", "whose",
    "when", "where", "why", "how", "do", "does", "did", "done", "can", "could", "will", "would", "should",
    "shall", "may", "might", "must", "not", "no", "yes", "so", "than", "then", "too", "very", "just",
    "also", "about", "into", "over", "under", "up", "down", "out", "off", "again", "more", "most", "some",
    "any", "all", "each", "other", "such", "only", "own", "same", "have", "has", "had", "having", "s",
    "re", "ve", "m", "ll", "d", "t", "let", "lets", "one", "ones",
])  # fmt: skip
_FILLERS = frozenset([
    "question", "questions", "ask", "asking", "asked", "think", "know", "like", "important", "idea",
    "sure", "want", "wondering", "understand", "tell", "please", "good", "great", "really", "sorry",
    "thing", "things", "way", "ways", "look", "looking", "help", "hello", "hi", "thank", "thanks",
    "interesting", "answer", "answers",
])  # fmt: skip
_YES_NO_OPENING = frozenset([
    "are", "is", "was", "were", "do", "does", "did", "have", "has", "had", "can", "could", "will", "would",
    "should", "shall", "may", "might", "am",
])  # fmt: skip
_EDIT_VERBS = frozenset([
    "rewrite", "rephrase", "paraphrase", "reword", "correct", "fix", "capitalize", "capitalise",
    "uppercase", "lowercase", "convert", "change", "reverse", "sort", "order", "arrange", "alphabetize",
    "alphabetise", "extract", "repeat", "copy", "echo", "format", "translate", "spell", "replace",
    "remove", "delete", "add", "insert", "transform", "shorten", "summarize", "summarise", "simplify",
    "combine", "split", "join", "reorder", "complete", "finish", "continue", "fill",
])  # fmt: skip
_OR = re.compile(r"\bor\b", re.IGNORECASE)
_ALTERNATIVE = re.compile(r"(\w+) or (\w+)")
_LETTER_OPTIONS = re.compile(r"(?:^|\s)\(?[A-Da-d][).]\s")
_PAYLOAD = re.compile(r"[:\"\u201c\u201d\n]|\?\W*\w")  # a colon, quotes, a second line, text after a "?"


def _stem(word: str) -> str:
    for suffix in ("ing", "ed", "es", "s"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def _content_words(text: str) -> list[str]:
    return [_stem(w) for w in _CONTENT.findall(text.lower()) if w not in _FUNCTION_WORDS]


def copies_alternative(answer_text: str, prompt: str) -> bool:
    """The answer repeats the prompt's "X or Y" as it stands: it has not chosen between them."""
    said = " ".join(words(answer_text))
    return any(f" {x} or {y} " in f" {said} " for x, y in _ALTERNATIVE.findall(prompt.lower()))


def restated_share(answer_text: str, prompt: str) -> float | None:
    """The share of the answer's content words that are not in the prompt, where the answer could be a
    restatement of the prompt's question (see above), else None."""
    p_words = words(prompt)
    a_words = words(answer_text)
    if not p_words or not a_words or len(a_words) > RESTATE_MAX_WORDS:
        return None
    undecided_choice = copies_alternative(answer_text, prompt)  # "Yes, it is ... X or Y." to "... X or Y?"
    if (
        (not undecided_choice and (p_words[0] in _YES_NO_OPENING or a_words[0] in ("yes", "no")))
        or not set(_DIGITS.findall(answer_text)) <= set(_DIGITS.findall(prompt))
        or _PAYLOAD.search(prompt.strip())
        or _LETTER_OPTIONS.search(prompt)
        or (_OR.search(prompt) and not _OR.search(answer_text))
        or not _EDIT_VERBS.isdisjoint(p_words)
    ):
        return None
    said = [w for w in _content_words(answer_text) if w not in _FILLERS]
    if len(said) < RESTATE_MIN_WORDS:
        return None
    asked = set(_content_words(prompt))
    return sum(1 for w in said if w not in asked) / len(said)


# The other forms: a short answer that ends by asking the prompt's question back ("Josh is a good
# student. He has 10% of the house ... How much profit did he make?" to a word problem that asks "How much
# profit did he make?"), at least `ASK_BACK_SHARE` of the final question's content words (two at least)
# taken from the prompt; and an answer that is nothing but a question on the prompt's subject ("where was
# the olympic games filmed?" to "where was percy jackson and the olympians filmed"). A question back
# about something else ("How can I help you today?") passes, and so does a question after an answer.
ASK_BACK_SHARE = 0.75
ASK_BACK_MAX_WORDS = 60
_LAST_SENTENCE = re.compile(r"(?:^|[.!?\n])([^.!?\n]*\?)\s*$")
# A question without its question mark: a question word and a verb first ("where is the femur bone
# located"), the whole answer one sentence.
_ASKING = re.compile(
    r"^\W*(?:what|where|who|when|which|why|how)\s+(?:is|are|was|were|do|does|did|can|could|will|would"
    r"|should|has|have)\b[^.!?\n]*[.!?]?\s*$",
    re.IGNORECASE,
)
_QUESTION_OPENING = _QUESTION_WORDS | _YES_NO_OPENING  # how a question begins: a question word or a verb


def _closing_question(answer_text: str, prompt: str) -> tuple[list[str], bool] | None:
    """The content words of a short answer's closing question, and whether that question is the whole
    answer, where the prompt asks a question too; else None."""
    p_words = words(prompt)
    if not p_words or ("?" not in prompt and p_words[0] not in _QUESTION_OPENING):
        return None
    if len(_WORD.findall(answer_text)) > ASK_BACK_MAX_WORDS:
        return None
    if _ASKING.match(answer_text):
        return [w for w in _content_words(answer_text) if w not in _FILLERS], True
    closing = _LAST_SENTENCE.search(answer_text.strip())
    if closing is None:
        return None
    said = [w for w in _content_words(closing.group(1)) if w not in _FILLERS]
    return said, _WORD.search(answer_text.strip()[: closing.start(1)]) is None


def asks_back(answer_text: str, prompt: str) -> float | None:
    """The share of the content words of the answer's closing question that come from the prompt, where
    a short answer closes with a question and the prompt asked one, else None."""
    found = _closing_question(answer_text, prompt)
    if found is None or len(found[0]) < 2:
        return None
    asked = set(_content_words(prompt))
    return sum(1 for w in found[0] if w in asked) / len(found[0])


def only_question(answer_text: str, prompt: str) -> bool:
    """The answer to a question is a question of its own on the prompt's subject, and nothing else."""
    found = _closing_question(answer_text, prompt)
    if found is None or not found[1]:
        return False
    asked = set(_content_words(prompt))
    return any(w in asked for w in found[0])


def check_restatement(answer: Answer, settings: CheckSettings) -> Rejection | None:
    """The answer says the prompt's open question again in other words and adds nothing of its own, or
    it closes by asking the prompt's question back, or it is only a question of its own."""
    if not settings.restatement:
        return None
    prompt = answer.prompt
    if prompt is None:
        return None
    new = restated_share(answer.text, prompt)
    if new is not None and new <= RESTATE_NEW_SHARE:
        return Rejection(
            "restatement",
            round(new, 3),
            f"the answer says the question again in other words ({new:.0%} of its content words are new)",
        )
    back = asks_back(answer.text, prompt)
    if back is not None and back >= ASK_BACK_SHARE:
        return Rejection(
            "restatement", round(back, 3), "the answer ends by asking the question back instead of answering"
        )
    if only_question(answer.text, prompt):
        return Rejection("restatement", 1.0, "the answer is a question of its own, not an answer")
    return None


# Misread requests: the answer is written from the wrong side of the conversation, or about the wrong
# task. A base model goes on as if it had asked the question itself, in a forum's voice ("I'm not sure if
# this is the right place to ask, but I have a question about the hot coffee mod in san andreas. I
# recently purchased ...", "I'm looking for a used saw." to "Help me find a good rated electric saw.");
# a small instruction model trained on rewriting treats a question as text to correct ('The original
# text is: "who wrote papa got a brand new bag" This sentence contains an apostrophe ...'). Neither
# answers, however new its words. Judged on the answer's first sentence only, and not where the prompt
# asks for that kind of text: a request to write a post, a message or a story may be answered in an
# asker's voice, and an edit request (or text given to work on) by an edited version. Measured in
# docs/benchmarks.md (answer checks, "Sixth run"): no graded-right answer of `router calibrate` rejected.
_ASKER_VOICE = re.compile(
    r"^[^.!?\n]{0,80}?\b(?:i have a question|i was wondering (?:if|whether)|my question is|does any ?one know"
    r"|can any ?one (?:help|tell)|thanks in advance|i(?:'m| am) looking for|i want to know"
    r"|i(?:'d| would) like to (?:know|ask|find)|i need (?:help|to find|to know))\b",
    re.IGNORECASE,
)
_EDIT_FRAME = re.compile(
    r"^\W*(?:(?:here is|here's) )?(?:the |my |your )?(?:original|corrected|revised|rewritten|edited"
    r"|paraphrased|rephrased) (?:text|sentence|version|passage)(?: is| was| reads)?\s*:",
    re.IGNORECASE,
)
_WRITING_VERBS = frozenset([
    "write", "draft", "compose", "post", "email", "letter", "message", "note", "story", "poem", "dialogue",
    "script", "pretend", "imagine", "roleplay", "act", "play", "simulate", "generate", "create",
])  # fmt: skip
_EDIT_WORDS = _EDIT_VERBS | {
    "edit", "revise", "proofread", "improve", "polish", "punctuate", "punctuation", "grammar", "spelling",
}  # fmt: skip


def misread(answer_text: str, prompt: str) -> str | None:
    """How the answer misreads the request (see above), else None."""
    p_words = set(words(prompt))
    opening = answer_text.lstrip()
    if (
        _ASKER_VOICE.match(opening)
        and words(opening)[:1] not in (["yes"], ["no"])
        and p_words.isdisjoint(_WRITING_VERBS)
    ):
        return "the answer asks a question of its own, in the voice of the one asking"
    if _EDIT_FRAME.match(opening) and p_words.isdisjoint(_EDIT_WORDS) and not _PAYLOAD.search(prompt.strip()):
        return "the answer treats the request as text to edit"
    return None


def check_misread(answer: Answer, settings: CheckSettings) -> Rejection | None:
    if not settings.misread:
        return None
    if answer.prompt is None:
        return None
    why = misread(answer.text, answer.prompt)
    return Rejection("misread", 1.0, why) if why else None


def loop_tail(tokens: Sequence[str], *, max_period: int = 128) -> tuple[int, int]:
    """(period, covered): the shortest period p whose repetition covers the most tokens at the end of
    `tokens`, and how many tokens that repetition covers (p plus the run of t[i] == t[i-p])."""
    n = len(tokens)
    best_period, best_covered = 0, 0
    for p in range(1, min(max_period, n // 2) + 1):
        run = 0
        i = n - 1
        while i - p >= 0 and tokens[i] == tokens[i - p]:
            run += 1
            i -= 1
        covered = run + p
        if run >= p and covered > best_covered:
            best_period, best_covered = p, covered
    return best_period, best_covered


def loop_tokens(text: str) -> list[str]:
    """Tokens for loop detection: words and punctuation, lower case, every number as one symbol (so
    "step 1, step 2, step 3, ..." is a loop too)."""
    return [_DIGITS.sub("0", t.lower()) for t in _TOKEN.findall(text)]


def find_loop(text: str, repeats: int, min_tokens: int) -> tuple[int, int] | None:
    """(period, tokens covered) when `text` ends in a span repeated at least `repeats` times over at
    least `min_tokens` tokens, else None."""
    tokens = loop_tokens(text[-4000:])
    period, covered = loop_tail(tokens)
    if period and covered >= repeats * period and covered >= min_tokens:
        return period, covered
    return None


def check_repetition(answer: Answer, settings: CheckSettings) -> Rejection | None:
    found = find_loop(answer.text, settings.loop_repeats, settings.loop_min_tokens)
    if found is None:
        return None
    period, covered = found
    return Rejection(
        "repetition",
        float(covered // period),
        f"the answer ends in a loop: a {period}-token span repeated {covered // period} times",
    )


# Sentence-level repetition: units are sentences and lines (split at . ! ? ; : and newlines), outside
# code fences and table rows, as normalised words (lower case, numbers as one symbol).
_UNIT_SPLIT = re.compile(r"[.!?;:\n]+")
UNIT_MIN_WORDS = 4  # shorter units ("Step 1", "Yes.") are not compared
UNIT_OVERLAP = 0.6  # a unit is a near copy when this share of its word pairs occur in one earlier unit
MAX_UNITS = 64  # the last units only: the check stays well under a millisecond


def _prose_lines(text: str) -> Iterator[str]:
    """The answer's lines outside code fences and table rows (which repeat their shape by nature)."""
    fenced = False
    for line in text.split("\n"):
        stripped = line.lstrip()
        if stripped.startswith("```"):
            fenced = not fenced
            continue
        if not fenced and not stripped.startswith("|"):
            yield line


def _units(text: str) -> list[list[str]]:
    out: list[list[str]] = []
    for line in _prose_lines(text):
        for piece in _UNIT_SPLIT.split(line):
            w = words(piece)
            if len(w) >= UNIT_MIN_WORDS:
                out.append(w)
    return out[-MAX_UNITS:]


def near_repeats(text: str) -> tuple[int, float]:
    """(copies, share): how many sentences or lines are near copies of an earlier one (at least
    `UNIT_OVERLAP` of their word pairs occur in that one unit), and the share of the compared words
    that those copies hold. "The cat sat on the mat. The dog sat on the rug." shares two of five pairs:
    not a copy; the same sentence with one word or number changed is."""
    seen: list[set[tuple[str, str]]] = []
    copies, copied_words, total = 0, 0, 0
    for unit in _units(text):
        pairs = set(pairwise(unit))
        total += len(unit)
        need = UNIT_OVERLAP * len(pairs)
        if any(len(pairs & earlier) >= need for earlier in seen):
            copies += 1
            copied_words += len(unit)
        seen.append(pairs)
    return copies, (copied_words / total if total else 0.0)


# Worked arithmetic repeats its sentence shape by nature ("Miguel uses 2 * 30 = 60 sheets ... he uses 2 *
# 60 = 120 ..."): a chain of three or four calculation steps with changed numbers that then moves on is
# an answer, six of them to the token limit a loop (the rubric of bench/data/answer_labels.md). An answer
# that calculates (an "=" between numbers) needs `CALCULATION_COPIES` near copies.
CALCULATION_COPIES = 4
_CALCULATION = re.compile(r"\d\s*=\s*[-$]?\d")


def check_repeated_sentences(answer: Answer, settings: CheckSettings) -> Rejection | None:
    """The answer says the same thing again and again in near copies: sentences or list items repeated
    with a word or a number changed, which the token-periodic loop test does not see. Both the count of
    copies and their share of the answer must be high, so a list whose items share a template ("X is
    rich in A. Y is rich in B.") or an answer that restates its point once is not rejected."""
    copies, share = near_repeats(answer.text[-4000:])
    needed = settings.repeat_copies
    if _CALCULATION.search(answer.text):
        needed = max(needed, CALCULATION_COPIES)
    if copies >= needed and share >= settings.repeat_share:
        return Rejection(
            "repeated_sentences",
            round(share, 3),
            f"{copies} sentences repeat earlier ones ({share:.0%} of the answer)",
        )
    return None


# Phrase-level repetition: loops inside long sentences ("... they had been playing in the 2014 World Cup,
# and they had been playing in the 2016 World Cup, and ..."), where no sentence is a near copy of another
# and the tail is not periodic token for token. Words are lower-cased, numbers kept as they are (a list
# of "2 cups of ..., 1 cup of ..." is not one phrase), code fences and table rows left out.
PHRASE_WORDS = 4  # a phrase is this many words
PHRASE_REPEATS = 4  # and counts when it occurs this many times or more
PHRASE_MIN_WORDS = 40  # shorter answers are not judged: four repeats are most of a short list


def _prose_words(text: str) -> list[str]:
    return [w.lower() for line in _prose_lines(text) for w in _WORD.findall(line)]


def phrase_repeats(text: str) -> float:
    """The share of the answer's words that lie inside a `PHRASE_WORDS`-word phrase occurring at least
    `PHRASE_REPEATS` times in it (0 for answers under `PHRASE_MIN_WORDS` words). One pass to count the
    phrases and one to mark their words: linear in the answer's length."""
    w = _prose_words(text)
    if len(w) < PHRASE_MIN_WORDS:
        return 0.0
    grams = [tuple(w[i : i + PHRASE_WORDS]) for i in range(len(w) - PHRASE_WORDS + 1)]
    counts = Counter(grams)
    covered = 0
    until = 0  # words before this index are already counted
    for i, g in enumerate(grams):
        if counts[g] >= PHRASE_REPEATS:
            covered += i + PHRASE_WORDS - max(i, until)
            until = i + PHRASE_WORDS
    return covered / len(w)


def check_repeated_phrases(answer: Answer, settings: CheckSettings) -> Rejection | None:
    """The answer keeps saying the same few-word phrases: at least `phrase_share` of its words lie in
    4-word phrases said 4 times or more. Off unless `phrase_share` is set. On the dev half of the read
    labels, four of the five loops the other checks missed scored 0.31-0.43 and the good answers no
    other check rejects at most 0.19 but one, hence 0.25; on the held-out half that share also rejected
    four good answers, three of them step-by-step arithmetic that names the same quantities again and
    again ("the number of cups of coffee ..."), so it is not a default."""
    if settings.phrase_share is None:
        return None
    share = phrase_repeats(answer.text[-4000:])
    if share >= settings.phrase_share:
        return Rejection(
            "repeated_phrases",
            round(share, 3),
            f"{share:.0%} of the answer is phrases said {PHRASE_REPEATS} times or more",
        )
    return None


# Repeated passages: a long stretch said again word for word ("The answer is that the government can use
# fiscal and monetary policies ... " as a whole paragraph, twice, cut at the token limit). Prose lines
# only (code and tables repeat by nature); words lower-cased, numbers kept. Found with the most recent
# earlier place of each `PASSAGE_GRAM`-word phrase: a run of phrases found at one constant distance back
# is a repeated passage, linear in the answer's length. On the dev half of the read labels no good answer
# repeats more than 20 words in a row; `passage_words` (24) leaves a margin above that.
PASSAGE_GRAM = 8


def longest_repeat(text: str) -> int:
    """The length in words of the longest passage of the answer said again later (0 when none of at
    least `PASSAGE_GRAM` words is)."""
    w = _prose_words(text)
    last: dict[tuple[str, ...], int] = {}
    best = run = 0
    shift = -1
    for i in range(len(w) - PASSAGE_GRAM + 1):
        gram = tuple(w[i : i + PASSAGE_GRAM])
        j = last.get(gram)
        if j is None:
            run, shift = 0, -1
        else:
            run = run + 1 if i - j == shift else 1
            shift = i - j
            best = max(best, run + PASSAGE_GRAM - 1)
        last[gram] = i
    return best


def check_repeated_passage(answer: Answer, settings: CheckSettings) -> Rejection | None:
    """The answer says a passage of at least `passage_words` words again, word for word."""
    if settings.passage_words is None:
        return None
    n = longest_repeat(answer.text[-4000:])
    if n < settings.passage_words:
        return None
    return Rejection("repeated_passage", float(n), f"the answer says a passage of {n} words again")


def check_truncated_loop(answer: Answer, settings: CheckSettings) -> Rejection | None:
    """Cut at the token limit while repeating itself: two repeats are enough when the limit was hit."""
    if answer.finish_reason != "length":
        return None
    found = find_loop(answer.text, 2, max(6, settings.loop_min_tokens // 2))
    if found is None:
        return None
    period, covered = found
    return Rejection(
        "truncated_loop",
        float(covered // period),
        f"the answer hit the token limit inside a loop ({period}-token span, {covered // period} times)",
    )


# Openings of a non-answer. Anchored at the start of the answer, and only when little follows the first
# sentence, so "I'm sorry to hear that. Here is what you can do: ..." and "I'm not sure about X, but
# here is what I know: ..." are answers.
_REFUSAL = re.compile(
    r"^\W*(?:"
    r"i(?:'| a)?m not (?:sure|certain|able to)"
    r"|i do(?:n'| no)t (?:know|have (?:enough )?information|understand)"
    r"|i can(?:not|'t| not) (?:help|answer|assist|provide|do that|say|tell|determine)"
    r"|i(?:'| a)?m (?:unable|sorry,? but i can)"
    r"|(?:i(?:'| a)?m )?sorry,? (?:but )?i (?:can|don|do not|am not|'m not)"
    r"|(?:i(?:'| a)?m )?sorry,? but (?:you|we) (?:can(?:not|'t| not)|don't|do not|won't)"
    r"|as an ai\b|i(?:'| a)?m (?:just |only )?an? (?:ai|language model)"
    r"|i apologi[sz]e,? but"
    r"|no (?:idea|answer)\b"
    r")",
    re.IGNORECASE,
)
REFUSAL_MAX_WORDS = 40  # an answer longer than this is not a refusal, however it opens
REFUSAL_MAX_REST = 12  # nor one that says more than this after its first sentence
_SENTENCE_END = re.compile(r"[.!?\n]")


# "I'm not sure if/whether <clause>": a refusal when the clause is the question again ("I'm not sure if
# you are GPT-2." to "Are you GPT-2?"), a short pointer to it ("... if you are.", "... if that's right.")
# or about the speaker ("... if I can help"); a statement of doubt about something else ("I'm not sure if
# this is a good idea.") is an odd answer, not a decline. Three quarters: the second batch's reader read
# "I'm not sure if you can make escargot." (half its words from "How do I make escargot?") as an odd
# statement, and every clause read as a restated question had 7 in 8 of its words from the prompt or more.
_UNSURE_IF = re.compile(r"^\W*i(?:'| a)?m not (?:sure|certain) (?:if|whether)\b", re.IGNORECASE)
UNSURE_CLAUSE_WORDS = 3  # a clause this short points back at the question
UNSURE_FROM_PROMPT = 0.75  # a clause with at least this share of its words from the prompt restates it


def _declines_with_doubt(text: str, prompt: Sequence[str]) -> bool:
    opening = _UNSURE_IF.match(text)
    if opening is None:
        return True  # not this form: the opening alone decides
    end = _SENTENCE_END.search(text, opening.end())
    clause = words(text[opening.end() : end.start() if end else len(text)])
    if len(clause) <= UNSURE_CLAUSE_WORDS or clause[0] == "i":
        return True
    known = set(prompt)
    return sum(1 for w in clause if w in known) >= UNSURE_FROM_PROMPT * len(clause)


def _refusal_words(text: str, prompt: Sequence[str] | None = None) -> int | None:
    """The answer's word count when it reads as a refusal (opens like one, says little more), else None.
    With the prompt's words, "I'm not sure if ..." counts only when it doubts the question itself."""
    text = text.strip().replace("\u2019", "'")  # typographic apostrophes as plain ones
    n = len(_WORD.findall(text))
    if n > REFUSAL_MAX_WORDS or not _REFUSAL.match(text):
        return None
    end = _SENTENCE_END.search(text)
    rest = len(_WORD.findall(text[end.end() :])) if end else 0
    if rest > REFUSAL_MAX_REST:
        return None
    if prompt is not None and not _declines_with_doubt(text, prompt):
        return None
    return n


# Deflections: an instruction model declines an ordinary request in its first sentence, after any
# preamble ("I'm sorry for the misunderstanding, but as a chatbot designed to assist with food and
# recipes, I don't have the capability to provide cooking instructions. However, I can certainly help
# you with any baking or cooking-related tasks."), then says only what it could do instead. A refusal
# when the decline ends its sentence (no "but ..." after it: "I can't browse, but the X is well rated"
# answers), the answer stays short and gives nothing after a colon, and the prompt is not about the
# assistant itself ("Are you GPT-4?" is answered by saying what it is not and cannot do).
_DECLINE = re.compile(
    r"\bi (?:(?:don't|do not) have the (?:ability|capability)|(?:'m|am) not (?:equipped|able|capable)"
    r"|(?:cannot|can't|can not) (?:help|assist|provide|access|give|recommend|find))\b",
    re.IGNORECASE,
)
_CONTRAST = re.compile(r"\b(?:but|however|though|although|yet|instead)\b", re.IGNORECASE)
_ABOUT_ASSISTANT = re.compile(
    r"^\W*(?:(?:are|were|have|had|did|do) you|what are you"
    r"|who (?:made|created|built|trained|developed|are) you)\b|\byourself\b",
    re.IGNORECASE,
)
DEFLECTION_MAX_WORDS = 64


def deflection_words(text: str, prompt: str) -> int | None:
    """The answer's word count when it is a deflection (see above), else None."""
    text = text.strip().replace("\u2019", "'")
    n = len(_WORD.findall(text))
    if n > DEFLECTION_MAX_WORDS or ":" in text or _ABOUT_ASSISTANT.search(prompt):
        return None
    end = _SENTENCE_END.search(text)
    first = text[: end.start() if end else len(text)]
    decline = _DECLINE.search(first)
    if decline is None or _CONTRAST.search(first, decline.end()):
        return None
    return n


def check_refusal(answer: Answer, settings: CheckSettings) -> Rejection | None:
    if not settings.refusal:
        return None
    prompt = answer.prompt
    n = _refusal_words(answer.text, words(prompt) if prompt is not None else [])
    if n is None and prompt is not None:
        n = deflection_words(answer.text, prompt)
    if n is None:
        return None
    return Rejection("refusal", float(n), "the answer declines to answer")


def check_low_confidence(answer: Answer, settings: CheckSettings) -> Rejection | None:
    bound, expected = settings.min_answer_success, answer.expected_success
    if bound is not None and expected is not None and expected < bound:
        return Rejection(
            "low_confidence",
            round(expected, 3),
            f"expected success {expected:.0%} after the answer's first tokens is below {bound:.0%} "
            "(calibrated on this model's own graded answers)",
        )
    lp = [v for v in answer.logprobs if math.isfinite(v)]
    if not lp:
        return None
    mean = sum(lp) / len(lp)
    if settings.min_mean_logprob is not None and mean < settings.min_mean_logprob:
        return Rejection(
            "low_confidence", round(mean, 3), f"mean token log-probability {mean:.2f} is below the bound"
        )
    low = min(lp)
    if settings.min_token_logprob is not None and low < settings.min_token_logprob:
        return Rejection(
            "low_confidence", round(low, 3), f"a token's log-probability {low:.2f} is below the bound"
        )
    return None


Check = Callable[[Answer, CheckSettings], Rejection | None]

# In order: the first that fails names the rejection.
CHECKS: dict[str, Check] = {
    "empty": check_empty,
    "echo": check_echo,
    "restatement": check_restatement,
    "misread": check_misread,
    "repetition": check_repetition,
    "truncated_loop": check_truncated_loop,
    "repeated_sentences": check_repeated_sentences,
    "repeated_phrases": check_repeated_phrases,
    "repeated_passage": check_repeated_passage,
    "refusal": check_refusal,
    "low_confidence": check_low_confidence,
}


def check_answer(answer: Answer, settings: CheckSettings) -> Rejection | None:
    """The first check the answer fails, or None when it may be delivered."""
    if not settings.enabled:
        return None
    for check in CHECKS.values():
        rejection = check(answer, settings)
        if rejection is not None:
            return rejection
    return None


# How refusals begin, as words: a streamed answer whose words so far start one of these is held back.
_REFUSAL_OPENINGS = tuple(
    words(p)
    for p in (
        "I'm not sure", "I am not sure", "I'm not certain", "I'm not able to", "I am not able to",
        "I don't know", "I do not know", "I don't have information", "I don't understand",
        "I cannot help", "I can't help", "I can not help", "I cannot answer", "I can't answer",
        "I cannot provide", "I can't provide", "I cannot assist", "I can't assist", "I cannot do that",
        "I'm unable", "I am unable", "I'm sorry, but I can", "Sorry, but I can", "Sorry, I can",
        "Sorry, I don't", "I'm sorry, I can", "As an AI", "I'm just an AI", "I am an AI",
        "I'm a language model", "I apologize, but", "No idea",
    )
)  # fmt: skip


# How an answer in the asker's voice begins (`misread`): a streamed answer whose words so far start one
# of these is held back until its next word says which it is. They open few real answers. Like refusal
# openings, they are waited on only with `holdback_refusals` (most begin with "I").
_ASKER_OPENINGS = tuple(
    words(p)
    for p in (
        "I have a question", "I was wondering", "My question is", "Does anyone know", "Does anybody know",
        "Can anyone help", "Can anyone tell", "I'm not sure if this is the right place", "I'm looking for",
        "I am looking for", "I want to know", "I'd like to know", "I would like to know", "I need help",
    )
)  # fmt: skip


def _is_prefix(answer_words: list[str], source_words: list[str]) -> bool:
    """The answer's words start the source's (its last word may be cut mid-word by the tokenizer)."""
    k = len(answer_words)
    if k > len(source_words):
        return False
    return answer_words[:-1] == source_words[: k - 1] and source_words[k - 1].startswith(answer_words[-1])


def undecided(text: str, messages: Sequence[Message], settings: CheckSettings) -> bool:
    """True while the start of a streamed answer could still turn out to be an echo (it is the start of
    the prompt or of the system message), a refusal (it opens like one and has not said more yet), a
    question in the asker's voice (`misread`) or a loop (it is one span repeated so far): the stream
    holds it back until it is not, or until the hold-back limits. A refusal is judged only on a whole
    answer: one still open at the limits is released (a hedge such as "I'm not sure, but ..." is often
    followed by an answer)."""
    a = words(text)
    if not a:
        return True
    for m in messages:
        if m.role in ("user", "system") and _is_prefix(a, words(m.content)):
            return True
    if (
        settings.refusal
        and settings.holdback_refusals
        and (any(_is_prefix(a, opening) for opening in _REFUSAL_OPENINGS) or _refusal_words(text) is not None)
    ):
        return True
    if (
        settings.misread
        and settings.holdback_refusals
        and any(_is_prefix(a, opening) for opening in _ASKER_OPENINGS)
    ):
        return True
    tokens = loop_tokens(text)
    period, covered = loop_tail(tokens)
    return bool(period) and covered == len(tokens)


def check_partial(answer: Answer, settings: CheckSettings) -> Rejection | None:
    """The checks that can judge the start of a streamed answer (the hold-back window): an echo so
    far, a loop so far, an opening that misreads the request. Refusals, restatements, emptiness and
    confidence are judged on whole answers."""
    if not settings.enabled or _WORD.search(answer.text) is None:
        return None
    return (
        check_echo(answer, settings, partial=True)
        or check_repetition(answer, settings)
        or check_misread(answer, settings)
    )


__all__ = [
    "CHECKS",
    "Answer",
    "CheckSettings",
    "Rejection",
    "check_answer",
    "check_misread",
    "check_partial",
    "echo_overlap",
    "find_loop",
    "misread",
    "only_question",
    "undecided",
]
