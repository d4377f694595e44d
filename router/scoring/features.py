"""Cheap text features for the complexity scorer's first stage (pure Python, well under a millisecond).

Two parts, concatenated into one vector of `N_FEATURES` floats:

* dense cues (`DENSE_NAMES`, read from at most `SAMPLE_CHARS` characters, the text's two ends when it
  is longer; lengths are of the whole text): length, digits and operators, code, lines, and small word
  lists for the kind of task: mechanical edits of text that is given (fix typos, reformat,
  translate, greet) versus reasoning, maths, code, proofs and expert knowledge;
* hashed word unigrams and bigrams (`N_HASHED` buckets, crc32, sublinear counts, L2-normalised),
  read from the instruction-bearing ends of the text (the first `HEAD_CHARS` and the last `TAIL_CHARS`
  characters), so a long pasted paragraph does not drown the request that comes with it.

`FEATURE_VERSION` names this exact recipe. A stored head records the version it was trained with and
refuses to load with another: change the version whenever a feature changes meaning or order.
"""

from __future__ import annotations

import math
import re
import zlib

FEATURE_VERSION = "text-v1"

N_HASHED = 2048
HEAD_CHARS = 600
TAIL_CHARS = 300
SAMPLE_CHARS = 2400

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?|[^\sa-z0-9]", re.IGNORECASE)
_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")
# Each word alternative sits behind one shared \b, and single characters form one class: the same
# matches as listing them one by one, found in a third of the time (re tries alternatives in order at
# every position).
_MATH_OP = re.compile(r"[+\-*/^=<>%∑∫√≤≥]|\b(?:mod|sqrt|log|sin|cos)\b")
_CODE = re.compile(
    r"\b(?:def |class |return\b|import |function\b|select\b|public\b)|```|#include|=>|[{}]|;\s*$",
    re.IGNORECASE | re.MULTILINE,
)

_EDIT_WORDS = frozenset(
    [
        "fix",
        "typo",
        "typos",
        "spelling",
        "spell",
        "grammar",
        "correct",
        "proofread",
        "rewrite",
        "rephrase",
        "reword",
        "paraphrase",
        "capitalize",
        "capitalise",
        "uppercase",
        "lowercase",
        "format",
        "reformat",
        "bullet",
        "bullets",
        "list",
        "sort",
        "alphabetize",
        "alphabetise",
        "shorten",
        "translate",
        "translation",
        "convert",
        "punctuation",
        "punctuate",
        "tidy",
        "clean",
        "indent",
        "title",
        "case",
        "comma",
        "commas",
        "numbered",
        "table",
        "json",
        "csv",
        "markdown",
        "remove",
        "duplicate",
        "duplicates",
    ]
)
_SOCIAL_WORDS = frozenset(
    [
        "hi",
        "hello",
        "hey",
        "thanks",
        "thank",
        "morning",
        "evening",
        "afternoon",
        "night",
        "bye",
        "goodbye",
        "cheers",
        "welcome",
        "how's",
        "yo",
        "greetings",
        "nice",
        "meet",
        "great",
        "awesome",
        "cool",
        "ok",
        "okay",
        "sorry",
        "please",
        "name",
        "who",
        "you",
    ]
)
_HARD_WORDS = frozenset(
    [
        "prove",
        "proof",
        "derive",
        "derivation",
        "theorem",
        "lemma",
        "solve",
        "compute",
        "calculate",
        "evaluate",
        "integral",
        "derivative",
        "equation",
        "optimize",
        "optimise",
        "algorithm",
        "implement",
        "complexity",
        "analyze",
        "analyse",
        "explain",
        "why",
        "compare",
        "design",
        "architecture",
        "debug",
        "refactor",
        "function",
        "program",
        "code",
        "script",
        "python",
        "javascript",
        "c++",
        "rust",
        "java",
        "sql",
        "regex",
        "probability",
        "statistics",
        "estimate",
        "physics",
        "chemistry",
        "economics",
        "legal",
        "diagnosis",
        "strategy",
        "step",
        "steps",
        "reasoning",
        "justify",
        "asymptotic",
        "recursion",
        "matrix",
        "eigenvalue",
        "modulo",
        "mod",
        "factorial",
        "prime",
        "simulate",
        "model",
        "plan",
        "essay",
    ]
)

DENSE_NAMES: tuple[str, ...] = (
    "log_chars",
    "log_words",
    "log_lines",
    "digit_frac",
    "log_numbers",
    "log_math_ops",
    "log_code_marks",
    "question_marks",
    "edit_words_head",
    "social_words_head",
    "hard_words_head",
    "edit_words_all",
    "hard_words_all",
    "quote_or_colon_block",
    "upper_frac",
    "mean_word_len",
    "short_prompt",
)
N_DENSE = len(DENSE_NAMES)
N_FEATURES = N_DENSE + N_HASHED


def _bucket(token: str) -> int:
    return zlib.crc32(token.encode("utf-8")) % N_HASHED


def _sample(text: str) -> str:
    """What the per-character cues read: the whole text up to SAMPLE_CHARS, else its two ends (keeps
    stage 1 well under a millisecond for very long prompts)."""
    if len(text) <= SAMPLE_CHARS:
        return text
    return text[: SAMPLE_CHARS * 3 // 4] + "\n" + text[-(SAMPLE_CHARS // 4) :]


def _lower_tokens(text: str) -> list[str]:
    return [t.lower() for t in _WORD.findall(text)]


def dense_features(text: str, tokens: list[str] | None = None) -> list[float]:
    """`tokens`: `_lower_tokens` of the sampled text, when the caller already has them."""
    n = len(text)
    n_lines = text.count("\n")
    n_words = len(text.split())
    text = _sample(text)
    words = [w for w in (_lower_tokens(text) if tokens is None else tokens) if w[0].isalnum()]
    head = words[:16]
    # map() over str methods: the same counts as generator expressions, at C speed per character.
    digits = sum(map(str.isdigit, text))
    letters = "".join(filter(str.isalpha, text))
    upper = sum(map(str.isupper, letters))

    def frac(ws: list[str], vocab: frozenset[str]) -> float:
        return sum(map(vocab.__contains__, ws)) / max(1, len(ws))

    return [
        math.log1p(n),
        math.log1p(n_words),
        math.log1p(n_lines),
        digits / max(1, len(text)),
        math.log1p(len(_NUMBER.findall(text))),
        math.log1p(len(_MATH_OP.findall(text))),
        math.log1p(len(_CODE.findall(text))),
        min(3.0, float(text.count("?"))),
        frac(head, _EDIT_WORDS),
        frac(head, _SOCIAL_WORDS),
        frac(head, _HARD_WORDS),
        frac(words, _EDIT_WORDS),
        frac(words, _HARD_WORDS),
        1.0 if re.search(r":\s*\n|[\"“'`].{40,}", text[:HEAD_CHARS], re.DOTALL) else 0.0,
        upper / max(1, len(letters)),
        sum(map(len, words)) / max(1, len(words)),
        1.0 if n_words <= 6 else 0.0,
    ]


def _hashed_counts(text: str, tokens: list[str] | None = None) -> dict[int, float]:
    """`tokens`: `_lower_tokens(text)` for a text short enough to be read whole."""
    if tokens is None:
        short = len(text) <= HEAD_CHARS + TAIL_CHARS
        tokens = _lower_tokens(text if short else text[:HEAD_CHARS] + " \n " + text[-TAIL_CHARS:])
    counts: dict[int, float] = {}
    prev = "<s>"
    for t in tokens:
        for key in (t, prev + " " + t):
            b = _bucket(key)
            counts[b] = counts.get(b, 0.0) + 1.0
        prev = t
    return counts


def _hashed_values(counts: dict[int, float]) -> dict[int, float]:
    """{bucket: 1 + log(count), L2-normalised}, in the order of `counts`."""
    values: dict[int, float] = {}
    norm = 0.0
    for b, c in counts.items():
        v = 1.0 + math.log(c)
        values[b] = v
        norm += v * v
    if norm > 0:
        scale = 1.0 / math.sqrt(norm)
        for b in values:
            values[b] *= scale
    return values


def hashed_features(text: str) -> list[float]:
    vec = [0.0] * N_HASHED
    for b, v in _hashed_values(_hashed_counts(text)).items():
        vec[b] = v
    return vec


def text_features(text: str) -> list[float]:
    """The full first-stage feature vector for `text` (length `N_FEATURES`)."""
    return dense_features(text) + hashed_features(text)


def sparse_text_features(text: str) -> tuple[list[float], dict[int, float]]:
    """The same features as (dense part, {hashed bucket: value}), for fast scoring of a sparse head."""
    # A short text is read whole by both parts: tokenize it once.
    tokens = _lower_tokens(text) if len(text) <= HEAD_CHARS + TAIL_CHARS else None
    values = _hashed_values(_hashed_counts(text, tokens))
    # Ascending bucket order, as enumerating the dense vector gave (the head sums in this order), without
    # building and scanning the 2,048-slot vector. Every value is > 0: 1 + log(count >= 1), scaled.
    return dense_features(text, tokens), {b: values[b] for b in sorted(values)}


__all__ = [
    "DENSE_NAMES",
    "FEATURE_VERSION",
    "N_DENSE",
    "N_FEATURES",
    "N_HASHED",
    "dense_features",
    "hashed_features",
    "sparse_text_features",
    "text_features",
]
