"""Answer checks: each check on its own, on real model output, and the engine escalating what fails.

The engine cases run a live daemon whose local model is Gemma 3 270M (a base model that echoes its prompt
word for word, as the default model did before it was replaced) against a cloud stand-in on 127.0.0.1,
with tests/policies/escalate.yaml: every request is answered locally first, and a rejected answer goes
where the rules let a hard request go.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from router import decisions
from router.backends.base import Backend, ModelInfo, Piece, Prefill
from router.checks import (
    Answer,
    CheckSettings,
    check_answer,
    check_echo,
    check_empty,
    check_low_confidence,
    check_misread,
    check_partial,
    check_refusal,
    check_repeated_passage,
    check_repeated_phrases,
    check_repeated_sentences,
    check_repetition,
    check_restatement,
    check_truncated_loop,
    edited_echo,
    longest_repeat,
    misread,
    only_question,
    phrase_repeats,
    restated_share,
    undecided,
)
from router.client import ClientError, DecisionInfo, RouterClient, StreamEnd
from router.policy import load_policy
from router.types import (
    ComplexityReport,
    DecisionContext,
    Finding,
    GenerationOptions,
    Message,
    PrivacyReport,
    PromptTokens,
    Request,
    Route,
    Usage,
)
from tests.standin import CloudStandIn

POLICY = Path(__file__).parent / "policies" / "escalate.yaml"
S = CheckSettings()


def answer(text: str, prompt: str = "What is the capital of France?", **kw: Any) -> Answer:
    return Answer(text, (Message("user", prompt),), **kw)


# --- each check ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "   \n\t", "...", " - "])
def test_empty_rejects_answers_without_words(text: str) -> None:
    r = check_empty(answer(text), S)
    assert r is not None and r.check == "empty"


def test_empty_passes_a_one_word_answer() -> None:
    assert check_empty(answer("Paris"), S) is None


@pytest.mark.parametrize(
    "text",
    [
        "What is the capital of France?",
        " what is the capital of France",
        "What is the capital of France? What is the capital of France?",
    ],
)
def test_echo_rejects_the_prompt_repeated(text: str) -> None:
    r = check_echo(answer(text), S)
    assert r is not None and r.check == "echo" and r.value >= 0.8


def test_echo_rejects_a_restated_question_with_a_word_changed() -> None:
    prompt = "when was the last time anyone was on the moon"
    r = check_echo(answer(" when was the last time anyone was on Mars", prompt), S)
    assert r is not None and r.check == "echo"


# Recorded: Gemma 3 270M (base), the daemon's prompt format, greedy.
@pytest.mark.parametrize(
    ("prompt", "text"),
    [
        ("who plays matthew on anne with an e", " who plays matthew on anne with a e"),  # a word changed
        ("who did bette midler portray in the rose", " who did bette portray in the rose"),  # one dropped
    ],
)
def test_echo_rejects_the_prompt_with_a_word_changed_or_dropped(prompt: str, text: str) -> None:
    r = check_echo(answer(text, prompt), S)
    assert r is not None and r.check == "echo" and "words changed" in r.detail
    assert check_partial(answer(text, prompt), S) is None  # judged on whole answers only


@pytest.mark.parametrize(
    ("prompt", "text"),
    [
        # a question answered by restating it, the question word replaced by the answer
        ("What is the capital of France?", "Paris is the capital of France."),
        ("Is Paris the capital of France?", "Paris is the capital of France."),
        ("Was Hamlet written by William Shakespeare?", "Hamlet was written by William Shakespeare."),
        ("Who wrote the novel Pride and Prejudice?", "Jane Austen wrote the novel Pride and Prejudice."),
        # an answer longer than the question may be adding the answer
        ("who plays matthew on anne with an e", "R. H. Thomson plays Matthew on Anne with an E."),
        # a short answer that shares some words
        ("what is the name of the main artery which takes blood from the heart to the body",
         "The main artery that carries blood from the heart to the body is the aorta."),
        ("Who wrote Hamlet?", "Shakespeare wrote Hamlet."),  # too short a prompt to judge edits on
    ],
)  # fmt: skip
def test_edited_echo_passes_answers_that_reuse_the_question(prompt: str, text: str) -> None:
    assert edited_echo(text, prompt) < 0.8
    assert check_echo(answer(text, prompt), S) is None


@pytest.mark.parametrize(
    ("prompt", "text"),
    [
        ("What is the capital of France?", "The capital of France is Paris."),
        ("What is the capital of France?", "What is the capital of France? It is Paris, on the Seine."),
        ("Paris is the capital of which country?", "Paris is the capital of France."),
        ("Fix the typo: I has a red bicycle and two cats.", "I have a red bicycle and two cats."),
        ("Make this lowercase: HELLO THERE GENERAL KENOBI", "hello there general kenobi"),
        ("Hello", "Hello! How can I help you today?"),
    ],
)
def test_echo_passes_answers_that_quote_or_edit_the_prompt(prompt: str, text: str) -> None:
    assert check_echo(answer(text, prompt), S) is None


def test_echo_of_the_system_message_is_rejected() -> None:
    messages = (Message("system", "You are a helpful assistant for ACME Corp."), Message("user", "Hi there"))
    r = check_echo(Answer("You are a helpful assistant for ACME Corp.", messages), S)
    assert r is not None and "system message" in r.detail


def test_repetition_rejects_a_loop_at_the_end() -> None:
    text = "L'Étoile, la Marseillaise, la femme" + ", la femme au martyre" * 6
    r = check_repetition(answer(text), S)
    assert r is not None and r.check == "repetition" and r.value >= 3


def test_repetition_counts_numbered_steps_as_a_loop() -> None:
    text = "Here is the plan: " + " ".join(f"Step {i}: add one." for i in range(1, 9))
    assert check_repetition(answer(text), S) is not None


@pytest.mark.parametrize(
    "text",
    [
        "1. Red\n2. Blue\n3. Green",
        "The cat sat on the mat. The dog sat on the rug. The bird sat on the branch.",
        "ha ha",
        "Paris is the capital of France. It is known for the Eiffel Tower and the Louvre.",
    ],
)
def test_repetition_passes_ordinary_answers(text: str) -> None:
    assert check_repetition(answer(text), S) is None


# Recorded: SmolLM2 135M Instruct, repetition control off, greedy, "Are you trained by Meta?".
SMOLLM_NEAR_LOOP = (
    "I'm designed to assist with any kind of AI-powered assistance, including language processing, data "
    "analysis, and even assisting with your personal preferences. I'm designed to provide assistance with "
    "any kind of AI-powered assistance, including language processing, data analysis, and even assisting "
    "with your personal preferences. I'm designed to provide assistance with any kind of AI-powered "
    "assistance, including language processing, data analysis, and even assisting with your personal needs."
)


@pytest.mark.parametrize(
    "text",
    [
        SMOLLM_NEAR_LOOP,
        # the same sentence with a number and a word changed each time (not periodic token for token)
        " ".join(
            f"To solve this problem, we need to find the {w} of {i} apples and {i + 2} pears."
            for i, w in zip(range(3, 8), ["sum", "total", "sum", "number", "total"], strict=True)
        ),
        # a calculation said again and again with the numbers changed, to the token limit
        "\n".join(f"So, {5**i} * 5 = {5 ** (i + 1)} dogs need {i + 2} walks a day." for i in range(1, 7)),
        # list items repeating with a counter and a word changed
        "Here are some tips:\n"
        + "\n".join(
            f"{i}. Make sure to drink plenty of {w} every day to stay healthy."
            for i, w in enumerate(["water", "fluids", "water", "tea", "water"], start=1)
        ),
    ],
)
def test_repeated_sentences_rejects_near_copies(text: str) -> None:
    r = check_repeated_sentences(answer(text), S)
    assert r is not None and r.check == "repeated_sentences" and r.value >= S.repeat_share


@pytest.mark.parametrize(
    "text",
    [
        "1. Apples are rich in fiber and vitamin C.\n2. Bananas are rich in potassium and vitamin B6.\n"
        "3. Oranges are rich in vitamin C and folate.\n4. Spinach is rich in iron and vitamin K.",
        "The cat sat on the mat. The dog sat on the rug. The bird sat on the branch.",
        "Step 1: Janet's ducks lay 16 eggs per day. Step 2: She eats 3 for breakfast and bakes with 4. "
        "Step 3: She sells 16 - 3 - 4 = 9 eggs. Step 4: She makes 9 * 2 = 18 dollars every day.",
        "Paris is the capital of France. It is known for the Eiffel Tower. Again: Paris is the capital of "
        "France.",
        # recorded (SmolLM2, repetition control off; read as good): worked steps with the numbers changed
        "Miguel uses 2 pads of paper every week, which is equivalent to 2 * 30 = 60 sheets of paper.\n"
        "Each month, he uses 2 * 60 = 120 sheets of paper.\n"
        "Each month, he uses 120 * 4 = 480 sheets of paper.",
        "```python\nparser.add_argument('--name', type=str, default='x')\n"
        "parser.add_argument('--size', type=int, default=0)\nparser.add_argument('--rate', type=float, "
        "default=0.5)\nparser.add_argument('--mode', type=str, default='a')\n```",
        "| name | type | default |\n| size | int | 0 |\n| rate | float | 0.5 |\n| mode | str | a |",
    ],
)
def test_repeated_sentences_passes_lists_templates_and_code(text: str) -> None:
    assert check_repeated_sentences(answer(text), S) is None


# Recorded: SmolLM2 135M Instruct, repetition control off, greedy, cut at the token limit: a phrase said
# again and again inside long sentences (no two sentences near copies, no token period at the end).
SMOLLM_PHRASE_LOOP = (
    "The final seconds of a championship game are always a highlight of any sports team's performance. "
    "In this particular game, the team that won the championship was a team that had been playing for a "
    "long time and had been consistently improving. They had been playing in the World Cup in 2010, and "
    "they had been playing in the 2014 World Cup, and they had been playing in the 2016 World Cup. They "
    "had been playing in the 2018 World Cup, and they had been playing in the 2019 World Cup.\n\nThe team "
    "had been playing in"
)
PHRASES = replace(S, phrase_share=0.25)


def test_repeated_phrases_rejects_a_phrase_said_again_and_again_when_switched_on() -> None:
    assert check_repeated_sentences(answer(SMOLLM_PHRASE_LOOP, finish_reason="length"), S) is None
    assert check_repeated_phrases(answer(SMOLLM_PHRASE_LOOP), S) is None  # off by default
    r = check_repeated_phrases(answer(SMOLLM_PHRASE_LOOP), PHRASES)
    assert r is not None and r.check == "repeated_phrases" and r.value >= 0.25


@pytest.mark.parametrize(
    "text",
    [
        # a short list: four repeats are most of it (under 40 words is not judged)
        "You need 1 cup of flour, 1 cup of sugar, 1 cup of milk and 1 cup of water.",
        # a long answer that names its subject often, in different phrases
        "Natural selection is the process by which organisms better adapted to their environment tend to "
        "survive and produce more offspring. Over many generations, traits that help survival become more "
        "common in a population. Natural selection acts on variation that already exists; mutation and "
        "recombination supply that variation. Over time, natural selection can lead to new species when "
        "populations are separated and adapt to different environments.",
        # code repeats its shape by nature
        "Here is the parser:\n```python\n"
        + "\n".join(f"parser.add_argument('--opt{i}', type=str, default='x')" for i in range(12))
        + "\n```\nEach option is a string.",
    ],
)
def test_repeated_phrases_passes_lists_prose_and_code(text: str) -> None:
    assert phrase_repeats(text) < 0.25
    assert check_repeated_phrases(answer(text), PHRASES) is None


def test_repeated_phrases_is_switched_on_by_the_policy(tmp_path: Path) -> None:
    path = tmp_path / "phrases.yaml"
    path.write_text("format: 1\ndefault: local\nanswer_checks: {phrase_share: 0.25}\n")
    assert load_policy(path).answer_checks.phrase_share == 0.25
    assert load_policy(POLICY).answer_checks.phrase_share is None


def test_repeated_phrases_stays_under_a_millisecond() -> None:
    text = " ".join(f"Sentence number {i} says something about topic {i % 7} and more." for i in range(400))
    check_repeated_phrases(answer(text), PHRASES)  # warm
    best = min(_cpu_us(lambda: check_repeated_phrases(answer(text), PHRASES)) for _ in range(5))
    assert best < 1000, best


def test_repeated_sentences_stays_under_a_millisecond() -> None:
    text = " ".join(f"Sentence number {i} says something about topic {i % 7} and more." for i in range(400))
    check_repeated_sentences(answer(text), S)  # warm
    best = min(_cpu_us(lambda: check_repeated_sentences(answer(text), S)) for _ in range(5))
    assert best < 1000, best


def _cpu_us(fn: Any) -> float:
    t0 = time.thread_time_ns()
    fn()
    return (time.thread_time_ns() - t0) / 1000


# Recorded: Gemma 3 270M, greedy, cut at the token limit: a whole paragraph said a second time.
GEMMA_PARAGRAPH_TWICE = (
    "\nThe answer is that the government can use fiscal and monetary policies to combat economic recessions. "
    "This means that governments can increase spending, reduce taxes, or both. By doing so, they can help "
    "businesses grow and create jobs. In addition, by increasing tax revenue, governments can encourage more "
    "investment in infrastructure projects and other types of business growth.\nThe answer is that the "
    "government can use fiscal and monetary policies to combat economic recessions. This means that "
    "governments can increase spending, reduce taxes, or both. By doing so, they can help businesses grow "
    "and create jobs. In addition, by increasing tax revenue, governments can encourage more investment"
)


def test_repeated_passage_rejects_a_paragraph_said_twice() -> None:
    # two copies only, and no sentence is repeated three times: the older loop checks let it through
    assert check_repetition(answer(GEMMA_PARAGRAPH_TWICE), S) is None
    assert check_repeated_sentences(answer(GEMMA_PARAGRAPH_TWICE, finish_reason="length"), S) is None
    r = check_repeated_passage(answer(GEMMA_PARAGRAPH_TWICE, finish_reason="length"), S)
    assert r is not None and r.check == "repeated_passage" and r.value >= 40
    assert check_repeated_passage(answer(GEMMA_PARAGRAPH_TWICE), replace(S, passage_words=None)) is None


@pytest.mark.parametrize(
    "text",
    [
        # a recalled sentence of 20 words: under the 24-word bound
        "The quick brown fox jumps over the lazy dog while the farmer sleeps in the sun by the old barn. "
        "As the rhyme goes: the quick brown fox jumps over the lazy dog while the farmer sleeps in the sun.",
        # code and tables repeat by nature
        "Both branches are the same:\n```python\n"
        + "if x:\n    total = compute_the_total(values, weights, offset=1, scale=2, clip=True, name='a')\n"
        * 2
        + "```\nSo the condition can go.",
        SMOLLM_PHRASE_LOOP,  # phrases said again, never a long passage word for word
    ],
)
def test_repeated_passage_passes_short_repeats_and_code(text: str) -> None:
    assert longest_repeat(text) < S.passage_words  # type: ignore[operator]
    assert check_repeated_passage(answer(text), S) is None


def test_longest_repeat_measures_the_passage() -> None:
    passage = " ".join(f"w{i}" for i in range(30))
    assert longest_repeat(f"{passage}. And then {passage}.") == 30
    assert longest_repeat(" ".join(f"w{i}" for i in range(200))) == 0
    assert longest_repeat("one two three") == 0


# Recorded: Gemma 3 270M's answers to open questions (bench/answer_checks.py), read as echoes.
@pytest.mark.parametrize(
    ("prompt", "text"),
    [
        ("How can I increase my productivity while working from home?",
         " I have a question about my productivity while working from home."),
        ("who is the girl in green day 21 guns", " I'm the girl in green day 21 guns"),
        ("How can you determine if a restaurant is popular among locals or mainly attracts tourists, and why "
         "might this information be useful?",
         " I would like to know if the restaurant is popular among locals or mainly attracts tourists."),
        ("How do social media platforms influence the way people consume and share news, and what are the "
         "potential implications for the spread of misinformation?",
         " I think it's important to understand the impact of social media platforms on how people consume "
         "and share news."),
        ("You are a mountain climber reaching the summit of Mount Everest. Describe your emotions and the "
         "view from the top.", " I am a mountain climber reaching the summit of Mount Everest."),
    ],
)  # fmt: skip
def test_restatement_rejects_the_question_said_again_in_other_words(prompt: str, text: str) -> None:
    assert check_echo(answer(text, prompt), S) is None  # reordered and rewrapped: not an n-gram copy
    r = check_restatement(answer(text, prompt), S)
    assert r is not None and r.check == "restatement" and r.value <= 0.125
    assert check_restatement(answer(text, prompt), replace(S, restatement=False)) is None


@pytest.mark.parametrize(
    ("prompt", "text"),
    [
        # yes/no questions are answered with their own words
        ("Have you been trained with Google data?", " Yes, I have been trained with Google data."),
        ("Are you finetuned with Meta data?", "I'm not finetuned with Meta data at all, my creators said."),
        # options: the answer names one
        ("Which gas do plants absorb from the atmosphere during photosynthesis? A) oxygen B) carbon dioxide",
         "Plants absorb carbon dioxide from the atmosphere during photosynthesis."),
        ("Should the city build the new library downtown or near the university campus?",
         "The city should build the new library near the university campus."),
        # text to work on: extraction and edits answer with the prompt's words
        ("Which city is mentioned in this sentence? Yesterday Anna took the train from Denver to visit an "
         "old friend.", " Yesterday Anna took the train from Denver to visit an old friend."),
        ("Rewrite in the passive voice the sentence the young farmer sold the brown horse yesterday",
         "The brown horse was sold by the young farmer yesterday."),
        ("What does the following sentence say about the weather: heavy rain flooded the valley roads",
         "Heavy rain flooded the valley roads."),
        # a number the prompt does not have may be the answer
        ("how many seasons of the bastard executioner are there",
         "There are 12 seasons of the Bastard Executioner."),
        # new content words
        ("what is the name of the main artery which takes blood from the heart to the body",
         "The main artery that carries blood from the heart to the body is the aorta."),
    ],
)  # fmt: skip
def test_restatement_passes_answers_made_of_the_prompts_words(prompt: str, text: str) -> None:
    assert check_restatement(answer(text, prompt), S) is None, restated_share(text, prompt)


# Recorded: Gemma 3 270M's answers, read as echoes: a yes to an either/or question that repeats both
# sides, and a question of its own on the prompt's subject.
@pytest.mark.parametrize(
    ("prompt", "text"),
    [
        ("In a world where automation is becoming increasingly prevalent, is it more important to "
         "prioritize job creation or technological progress?",
         " Yes, it is more important to prioritize job creation or technological progress."),
        ("where was percy jackson and the olympians filmed", " where was the olympic games filmed?"),
        ("What is the capital of South Korea?", " South Korea is the capital of what country?"),
        ("where is the tibia and fibula bone located", " where is the femur bone located"),
    ],
)  # fmt: skip
def test_restatement_rejects_an_undecided_choice_and_a_question_for_an_answer(prompt: str, text: str) -> None:
    r = check_restatement(answer(text, prompt), S)
    assert r is not None and r.check == "restatement"


@pytest.mark.parametrize(
    ("prompt", "text"),
    [
        # a choice made, with or without a yes
        ("Is it more important to prioritize job creation or technological progress?",
         "Yes, job creation matters more in the short run, since people need incomes."),
        ("Coffee or tea?", "Tea, please."),
        # a question after an answer, and a question back to a greeting
        ("what is the capital of france", "Paris. Would you like to know more about it?"),
        ("Hello", "Hello! How can I help you today?"),
        ("Can you help me?", "Of course. What do you need help with?"),
        # a question on another subject is not this check's business
        ("where was percy jackson filmed", "Have you read the books?"),
    ],
)  # fmt: skip
def test_restatement_passes_choices_and_questions_after_answers(prompt: str, text: str) -> None:
    assert check_restatement(answer(text, prompt), S) is None


def test_only_question_needs_a_question_and_the_prompts_subject() -> None:
    assert only_question(
        "where was the olympic games filmed?", "where was percy jackson and the olympians filmed"
    )
    assert not only_question("where was the olympic games filmed?", "Tell me about the olympians.")
    assert not only_question("Was it filmed in Vancouver? Yes.", "where was percy jackson filmed")
    assert not only_question("Where is Vancouver? In Canada.", "where was percy jackson filmed")


# Recorded: a base model going on as the one asking (Gemma 3 270M), and an instruction model treating a
# question as text to correct (SmolLM2 135M Instruct); both read as echoes. Neither is an n-gram copy.
@pytest.mark.parametrize(
    ("prompt", "text"),
    [
        ("what is the hot coffee mod in san andreas",
         " I'm not sure if this is the right place to ask, but I have a question about the hot coffee mod in "
         "san andreas.\n\nI recently purchased a new 2016 Honda Civic EX with a 2.4L engine."),
        ("How can I develop my critical thinking skills?",
         " I have a question about the importance of critical thinking skills."),
        ("Help me find a good rated electric saw.", " I'm looking for a used saw."),
        ("who wrote papa got a brand new bag",
         'The original text is: "who wrote papa got a brand new bag"\n\nThis sentence contains an '
         "apostrophe, which is not allowed in English."),
        ("who wrote it's a long long way to pasadena",
         'The original text is: "It\'s a long way to Pasadena, and I\'m not sure if it was written by you."'),
    ],
)  # fmt: skip
def test_misread_rejects_the_askers_voice_and_an_unasked_edit(prompt: str, text: str) -> None:
    assert check_echo(answer(text, prompt), S) is None
    r = check_misread(answer(text, prompt), S)
    assert r is not None and r.check == "misread" and r.detail == misread(text, prompt)
    assert check_misread(answer(text, prompt), replace(S, misread=False)) is None


@pytest.mark.parametrize(
    ("prompt", "text"),
    [
        # asked to write in that voice
        ("Write a forum post asking about the hot coffee mod in San Andreas.",
         "I have a question about the hot coffee mod in San Andreas: does it still work on the PC version?"),
        # a yes/no answer that goes on oddly is another check's business
        ("Is water wet? Answer yes or no.", "Yes, I have a question."),
        # asked for an edit, or given text to work on
        ("Correct the punctuation: whos there", 'The corrected text is: "Who\'s there?"'),
        ("Please proofread my opening line: it were a dark and stormy night",
         "The revised sentence: It was a dark and stormy night."),
        ("Fix the grammar in my sentence, she dont like apples",
         "Corrected sentence: She doesn't like apples."),
        ("Write the first line of an email asking a landlord about parking.",
         "I'm looking for information about parking at the building."),
        # the words further in, not at the opening
        ("What do people ask about sleep?",
         "People often ask how much sleep they need. A common one: I have a question about naps."),
    ],
)  # fmt: skip
def test_misread_passes_requested_voices_and_edits(prompt: str, text: str) -> None:
    assert check_misread(answer(text, prompt), S) is None


def test_restatement_and_repeated_passage_are_policy_settings(tmp_path: Path) -> None:
    path = tmp_path / "checks.yaml"
    off = "{restatement: false, misread: false, passage_words: null}"
    path.write_text(f"format: 1\ndefault: local\nanswer_checks: {off}\n")
    checks = load_policy(path).answer_checks
    assert checks.restatement is False and checks.misread is False and checks.passage_words is None
    assert load_policy(POLICY).answer_checks.passage_words == 24
    path.write_text("format: 1\ndefault: local\nanswer_checks: {passage_words: 3}\n")
    with pytest.raises(Exception, match="passage_words"):
        load_policy(path)


def test_truncated_loop_needs_the_token_limit() -> None:
    text = "The answer is simple: go left, go right, go left, go right, go left"
    assert check_truncated_loop(answer(text, finish_reason="stop"), S) is None
    r = check_truncated_loop(answer(text, finish_reason="length"), S)
    assert r is not None and r.check == "truncated_loop"


@pytest.mark.parametrize(
    "text",
    ["I'm not sure.", "I don't know.", "I cannot answer that question.", "Sorry, but I can't help with that.",
     "As an AI language model, I have no opinion.", "I\u2019m not sure what you mean."],
)  # fmt: skip
def test_refusal_rejects_non_answers(text: str) -> None:
    r = check_refusal(answer(text), S)
    assert r is not None and r.check == "refusal"


# Recorded: Gemma 3 270M (base), greedy. "I'm not sure if ..." declines when it doubts the question itself
# (its words, a short pointer back, or the speaker's own ability), not when it doubts something else.
@pytest.mark.parametrize(
    ("prompt", "text"),
    [
        ("Are you GPT-2?", " I'm not sure if you are GPT-2."),
        ("Are you trained by OpenAI?", " I'm not sure if you are."),
        ("what is the oath that new citizens take", " I'm not sure if I can tell you."),
        ("coldplay song i will try to fix you", " I'm sorry, but you can't play this song."),
    ],
)
def test_refusal_rejects_doubt_about_the_question(prompt: str, text: str) -> None:
    r = check_refusal(answer(text, prompt), S)
    assert r is not None and r.check == "refusal"


@pytest.mark.parametrize(
    ("prompt", "text"),
    [
        ("Have you been finetuned with Microsoft data?", " I'm not sure if this is a good idea."),
        ("where does the path train stop in newark", " I'm not sure if this is the right place to ask."),
        ("Are you GPT-4?", " I'm not sure if GPT-4 is a good option for me."),
        ("How do I make escargot?", " I'm not sure if you can make escargot."),
    ],
)
def test_refusal_passes_doubt_about_something_else(prompt: str, text: str) -> None:
    assert check_refusal(answer(text, prompt), S) is None
    # a stream still holds such an opening back until it is whole (a refusal is judged on whole answers)
    assert undecided(text[:15], (Message("user", prompt),), S)


# Recorded: SmolLM2 135M Instruct declining ordinary requests (bench/answer_checks.py's second batch,
# read as refusals by a reader who did not see the checks).
@pytest.mark.parametrize(
    ("prompt", "text"),
    [
        ("Help me find a good rated electric saw.",
         "I'm sorry for any misunderstanding, but as a chatbot designed to assist with digital services, I "
         "don't have the ability to browse or provide recommendations based on user preferences. However, "
         "you can find many electric saws available online at various price points and quality ratings."),
        ("Hi, I have some falafel, but no tahini to put on them. Can you give me a recipe for making tahini?",
         "I'm sorry for the misunderstanding, but as a chatbot designed to assist with food and recipes, I "
         "don't have the capability to provide cooking instructions. However, I can certainly help you with "
         "any baking or cooking-related tasks. If you need assistance with something related to food, feel "
         "free to ask!"),
    ],
)  # fmt: skip
def test_refusal_rejects_a_deflection_of_an_ordinary_request(prompt: str, text: str) -> None:
    r = check_refusal(answer(text, prompt), S)
    assert r is not None and r.check == "refusal"


@pytest.mark.parametrize(
    ("prompt", "text"),
    [
        # about the assistant itself: what it cannot do is the answer
        ("Are you GPT-4?",
         "I'm sorry for any confusion, but as a language model designed to assist with chatbots, I don't "
         "have the capability to browse. I'm SmolLM, a small model."),
        # the decline is followed by the answer in the same sentence
        ("Help me find a good rated electric saw.",
         "I can't browse the web, but the DeWalt DWE7491 is a well rated table saw."),
        # content after a colon
        ("Can you give me a recipe for Vitel tone?",
         "I'm sorry, but as an AI I don't have the capability to translate recipes. However, here is an "
         "idea: poach veal, blend tuna, capers and mayonnaise, and slice the veal thin under the sauce."),
    ],
)  # fmt: skip
def test_refusal_passes_answers_around_a_decline(prompt: str, text: str) -> None:
    assert check_refusal(answer(text, prompt), S) is None


@pytest.mark.parametrize(
    "text",
    [
        "I'm sorry to hear that. Here is what you can do: rest, drink water and see a doctor.",
        "Paris.",
        "I think it is Paris.",
        "I don't know many people who dislike cheese, " + "but here is a long and careful answer " * 6,
        "I'm not sure about the differences between them. Plant-based proteins come from legumes, grains, "
        "nuts and seeds; animal proteins come from meat, fish, eggs and dairy.",
    ],
)
def test_refusal_passes_answers(text: str) -> None:
    assert check_refusal(answer(text), S) is None


def test_refusal_check_can_be_switched_off() -> None:
    assert check_refusal(answer("I'm not sure."), replace(S, refusal=False)) is None


def test_low_confidence_uses_mean_and_minimum_log_probability() -> None:
    a = answer("Paris", logprobs=[-0.1, -0.2, -9.0])
    assert check_low_confidence(a, S) is None  # off by default
    mean = check_low_confidence(a, replace(S, min_mean_logprob=-2.0))
    assert mean is not None and mean.value == pytest.approx(-3.1, abs=0.01)
    low = check_low_confidence(a, replace(S, min_token_logprob=-5.0))
    assert low is not None and low.value == -9.0
    assert check_low_confidence(a, replace(S, min_mean_logprob=-5.0, min_token_logprob=-10.0)) is None


def test_low_confidence_reads_the_answer_stages_expected_success() -> None:
    doubted = replace(answer("Lima"), expected_success=0.2)
    assert check_low_confidence(doubted, S) is None  # off by default
    r = check_low_confidence(doubted, replace(S, min_answer_success=0.5))
    assert r is not None and r.check == "low_confidence" and r.value == 0.2 and "calibrated" in r.detail
    assert check_low_confidence(doubted, replace(S, min_answer_success=0.1)) is None
    # No answer stage for this model (or no log-probabilities): nothing to judge, nothing rejected.
    assert check_low_confidence(answer("Lima"), replace(S, min_answer_success=0.99)) is None


def test_check_answer_names_the_first_failure_and_can_be_disabled() -> None:
    r = check_answer(answer("What is the capital of France?"), S)
    assert r is not None and r.check == "echo"
    assert check_answer(answer("What is the capital of France?"), replace(S, enabled=False)) is None
    assert check_answer(answer("Paris is the capital of France."), S) is None


def test_undecided_holds_an_echo_in_progress_and_releases_a_real_answer() -> None:
    messages = (Message("user", "Who wrote the play Hamlet?"),)
    assert undecided("", messages, S)
    assert undecided(" Who wro", messages, S)  # the tokenizer may cut a word
    assert undecided("Who wrote the", messages, S)
    assert undecided("I'm", messages, S)  # could become "I'm not sure"
    assert undecided("I'm not sure.", messages, S)  # a refusal so far: wait for what follows
    assert not undecided("I'm here to help", messages, S)
    assert undecided("la la la", messages, S)  # one span repeated so far
    assert not undecided("William", messages, S)
    assert not undecided("Who knows? Shakespeare", messages, S)
    r = check_partial(Answer("Who wrote the play Hamlet", messages), S)
    assert r is not None and r.check == "echo"


def test_undecided_can_stop_waiting_on_refusal_openings_but_not_on_echoes() -> None:
    messages = (Message("user", "Who wrote the play Hamlet?"),)
    quick = replace(S, holdback_refusals=False)
    assert undecided("I", messages, S) and not undecided("I", messages, quick)
    assert not undecided("I'm not sure.", messages, quick)
    assert undecided("Who wrote the", messages, quick)  # an echo in progress is still held
    assert undecided("la la la", messages, quick)


# --- on real model output -------------------------------------------------------------------------------


def generate(backend: Backend, prompt: str, **options: Any) -> Answer:
    messages = (Message("user", prompt),)
    pieces = list(
        backend.stream(backend.format_prompt(messages), GenerationOptions(**options), threading.Event())
    )
    return Answer(
        "".join(p.text for p in pieces),
        messages,
        pieces[-1].finish_reason or "",
        [lp for p in pieces for lp in p.logprobs],
    )


@pytest.mark.slow
def test_the_base_model_echoes_and_the_check_catches_it(gemma_backend: Backend) -> None:
    out = generate(gemma_backend, "Who wrote Hamlet?", max_tokens=24)
    r = check_answer(out, S)
    assert r is not None and r.check == "echo", out.text
    assert len(out.logprobs) > 0 and all(lp <= 0 for lp in out.logprobs)


@pytest.mark.slow
def test_a_real_loop_without_repetition_control_is_caught(llama_backend: Backend) -> None:
    inner: Any = llama_backend
    default = inner.sampling
    try:
        inner.sampling = replace(default, repeat_penalty=1.0)
        looping = generate(llama_backend, "What is the capital of France?", max_tokens=96)
    finally:
        inner.sampling = default
    r = check_answer(looping, S)
    assert r is not None and r.check in ("repetition", "truncated_loop"), looping.text
    # The default repetition control keeps the same request out of the loop.
    assert check_answer(generate(llama_backend, "What is the capital of France?", max_tokens=96), S) is None


# --- the engine escalates -------------------------------------------------------------------------------


def row_for(runner: Any, decision_id: str) -> dict[str, Any]:
    assert runner.daemon.decisions.flush(10)
    with decisions.reader(runner.settings.decisions_db) as db:
        row = decisions.get(db, decision_id)
    assert row is not None
    return row


@pytest.fixture
def echoing(daemon_factory: Any, gemma_backend: Backend, cloud: CloudStandIn, monkeypatch: Any) -> Any:
    monkeypatch.setenv("ROUTER_CLOUD_API_KEY", "sk-test-key")
    return daemon_factory(
        gemma_backend, policy=POLICY, cloud_url=cloud.url, cloud_model="standin-large", cloud_retries=0
    )


@pytest.mark.slow
def test_an_echo_goes_to_the_cloud_and_the_decision_says_why(echoing: Any, cloud: CloudStandIn) -> None:
    with RouterClient(target=echoing.target) as client:
        reply = client.route("Who wrote Hamlet?", max_tokens=24)
    d = reply.decision
    assert reply.text == "Cloud answer: Who wrote Hamlet?"
    assert d.route == "cloud" and d.decided_route == "local"
    assert d.fallback and d.fallback_reason == "local_answer_rejected:echo"
    assert d.answer_check == "echo" and d.answer_check_value >= 0.8
    assert "failed the echo check" in d.in_words and "went cloud" in d.in_words
    assert len(cloud.requests) == 1
    row = row_for(echoing, d.id)
    assert row["answer_check"] == "echo" and row["fallback_reason"] == "local_answer_rejected:echo"
    assert row["summary"] == d.in_words and row["route"] == "cloud"


@pytest.mark.slow
def test_a_restated_question_goes_to_the_cloud(echoing: Any, cloud: CloudStandIn) -> None:
    # Gemma 3 270M, greedy, says this open question again in the asker's voice (recorded in
    # bench/answer_checks.py's answers and read as an echo): no n-gram copy, so the restatement check.
    prompt = "How can I increase my productivity while working from home?"
    with RouterClient(target=echoing.target) as client:
        reply = client.route(prompt, max_tokens=32)
    d = reply.decision
    assert reply.text == f"Cloud answer: {prompt}"
    assert d.fallback_reason == "local_answer_rejected:restatement", d.in_words
    assert d.answer_check == "restatement" and d.answer_check_value <= 0.125
    assert "failed the restatement check" in d.in_words and len(cloud.requests) == 1


@pytest.mark.slow
def test_an_answer_in_the_askers_voice_goes_to_the_cloud(echoing: Any, cloud: CloudStandIn) -> None:
    # Gemma 3 270M, greedy, goes on as if it were asking (recorded in bench/answer_checks.py's answers and
    # read as an echo): "I have a question about the importance of critical thinking skills."
    prompt = "How can I develop my critical thinking skills?"
    with RouterClient(target=echoing.target) as client:
        reply = client.route(prompt, max_tokens=32)
    d = reply.decision
    assert reply.text == f"Cloud answer: {prompt}"
    assert d.fallback_reason == "local_answer_rejected:misread", d.in_words
    assert "failed the misread check" in d.in_words and len(cloud.requests) == 1


@pytest.mark.slow
def test_an_answer_the_answer_stage_doubts_goes_to_the_cloud(
    daemon_factory: Any, cloud: CloudStandIn, monkeypatch: Any
) -> None:
    """The default model with its shipped head (which carries an answer stage) and a policy that asks
    for an expected success of 0.99: the real local answer scores below it and escalates."""
    monkeypatch.setenv("ROUTER_CLOUD_API_KEY", "sk-test-key")
    runner = daemon_factory(
        policy=Path(__file__).parent / "policies" / "answer-stage.yaml",
        cloud_url=cloud.url,
        cloud_model="standin-large",
        cloud_retries=0,
    )
    assert runner.daemon.engine.complexity.model_head.answer is not None
    with RouterClient(target=runner.target) as client:
        reply = client.route("What is the capital of Peru?", max_tokens=16)
    d = reply.decision
    assert d.decided_route == "local" and d.stage == "model"
    assert d.route == "cloud" and d.fallback_reason == "local_answer_rejected:low_confidence"
    assert d.answer_check == "low_confidence" and 0.0 <= d.answer_check_value < 0.99
    assert reply.text == "Cloud answer: What is the capital of Peru?" and len(cloud.requests) == 1


@pytest.mark.slow
def test_min_answer_success_without_an_answer_stage_delivers_and_says_so_once(
    llama_backend: Backend, tmp_path: Path
) -> None:
    """A policy asks for the answer stage, the model's head has none: answers go out as before (nothing
    is rejected on a score that does not exist) and one warning says why the setting does nothing."""
    import asyncio

    from structlog.testing import capture_logs

    from router.app import build_engine
    from router.config import build_settings
    from tests.conftest import _KeepOpen

    settings = build_settings(
        state_dir=tmp_path, policy=Path(__file__).parent / "policies" / "answer-stage.yaml"
    )
    engine = build_engine(settings, _KeepOpen(llama_backend), None, None)  # the shared model stays open
    engine.complexity = _AlwaysModelStage()  # a model stage, but no answer stage
    request = Request(
        (Message("user", "Say hello."),), options=GenerationOptions(max_tokens=8, temperature=0)
    )

    async def ask() -> tuple[str, Any]:
        outcome, job = await engine._decide(request, time.monotonic(), allow_local_continuation=True)
        parts = [
            e async for e in engine._run(request, outcome, job, None, buffered=True) if isinstance(e, str)
        ]
        return "".join(parts), outcome

    try:
        with capture_logs() as logs:
            first, outcome = asyncio.run(ask())
            asyncio.run(ask())
    finally:
        engine.worker.close()
    assert first.strip() and outcome.route is Route.LOCAL and not outcome.answer_check
    said = [e for e in logs if e["event"] == "answer_stage_missing"]
    assert len(said) == 1 and "router calibrate" in said[0]["why"]


@pytest.mark.slow
def test_a_private_echo_leaves_only_redacted(echoing: Any, cloud: CloudStandIn) -> None:
    prompt = "My email is jane.doe@acme.com and my SSN is 123-45-6789; write a cover letter for me."
    with RouterClient(target=echoing.target) as client:
        reply = client.route(prompt, max_tokens=48)
    d = reply.decision
    assert d.answer_check == "echo" and d.route == "cloud_redacted"
    sent = str(cloud.requests)
    assert cloud.requests and "jane.doe@acme.com" not in sent and "123-45-6789" not in sent
    assert "jane.doe@acme.com" in reply.text  # restored on the way back


@pytest.mark.slow
def test_a_secret_whose_answer_fails_never_leaves(echoing: Any, cloud: CloudStandIn) -> None:
    prompt = "Is this key valid: sk-proj-abcdefghijklmnopqrstuvwxyz0123456789ABCD"
    with RouterClient(target=echoing.target) as client:
        reply = client.route(prompt, max_tokens=48)
    d = reply.decision
    assert d.route == "local" and not d.fallback
    assert d.answer_check == "echo" and "delivered anyway" in d.in_words
    assert cloud.requests == []


@pytest.mark.slow
def test_per_app_contingency_can_deny_or_deliver(echoing: Any, cloud: CloudStandIn) -> None:
    with RouterClient(target=echoing.target) as client:
        with pytest.raises(ClientError) as e:
            client.route("Who wrote Hamlet?", app_id="strict", max_tokens=24)
        assert e.value.code == "PERMISSION_DENIED" and "could not answer" in e.value.message
        kept = client.route("Who wrote Hamlet?", app_id="keep", max_tokens=24)
    assert kept.decision.route == "local" and kept.decision.answer_check  # delivered, check recorded
    assert cloud.requests == []


@pytest.mark.slow
def test_without_a_cloud_the_answer_stays_and_the_line_says_why(
    daemon_factory: Any, gemma_backend: Backend
) -> None:
    runner = daemon_factory(gemma_backend, policy=POLICY)
    with RouterClient(target=runner.target) as client:
        reply = client.route("Who wrote Hamlet?", max_tokens=24)
    d = reply.decision
    assert d.route == "local" and d.answer_check in ("echo", "refusal")  # both seen from this model
    assert "the cloud is not configured" in d.in_words
    assert f"answer_check={d.answer_check}" in d.summary()


@pytest.mark.slow
def test_a_stream_holds_an_echo_back_and_sends_the_cloud_answer(echoing: Any, cloud: CloudStandIn) -> None:
    with RouterClient(target=echoing.target) as client:
        events = list(client.stream("Who wrote Hamlet?", max_tokens=24))
    text = "".join(e for e in events if isinstance(e, str))
    assert text == "Cloud answer: Who wrote Hamlet?"  # nothing of the local echo was sent
    end = events[-1]
    assert isinstance(end, StreamEnd) and end.decision.fallback
    assert end.decision.fallback_reason in ("local_answer_rejected:echo", "local_answer_rejected:refusal")
    assert len(cloud.requests) == 1


class ScriptedBackend(Backend):
    """A stand-in model that yields a fixed answer token by token (to build a loop after good text)."""

    name = "scripted"

    def __init__(self, tokens: Sequence[str]) -> None:
        self.tokens = list(tokens)
        self.produced = 0
        self.info = ModelInfo("scripted", Path("scripted"), "scripted", 2048, True)

    def format_prompt(self, messages: Sequence[Message]) -> str:
        return "\n".join(m.content for m in messages)

    def count_tokens(self, text: str) -> int:
        return len(text.split()) + 1

    def stream(self, prompt: str, options: GenerationOptions, cancel: threading.Event) -> Iterator[Piece]:
        self.produced = 0
        for token in self.tokens:
            if cancel.is_set():
                yield Piece("", "cancelled", Usage(3, self.produced))
                return
            self.produced += 1
            time.sleep(0.005)  # a small model's pace: the engine reads tokens as they come
            yield Piece(token, logprobs=(-0.5,))
        yield Piece("", "length", Usage(3, self.produced))

    def prefill(self, prompt: str) -> Prefill:
        return Prefill([0.0] * 8, 1.0, 0.5, 3)


@pytest.mark.slow
def test_a_stream_in_the_askers_voice_goes_to_the_cloud_with_nothing_sent(
    daemon_factory: Any, cloud: CloudStandIn, monkeypatch: Any
) -> None:
    # Longer than the hold-back window, so the partial check must decide, not the whole-answer one.
    monkeypatch.setenv("ROUTER_CLOUD_API_KEY", "sk-test-key")
    opening = [" I", " have", " a", " quest", "ion", " about", " the", " hot", " coffee", " mod", "."]
    backend = ScriptedBackend(opening + [f" word{i}" for i in range(80)])
    runner = daemon_factory(backend, policy=POLICY, cloud_url=cloud.url, cloud_model="standin-large")
    prompt = "what is the hot coffee mod in san andreas"
    with RouterClient(target=runner.target) as client:
        events = list(client.stream(prompt, max_tokens=200))
    text = "".join(e for e in events if isinstance(e, str))
    assert text == f"Cloud answer: {prompt}"  # nothing of the local answer was sent
    end = events[-1]
    assert isinstance(end, StreamEnd) and end.decision.fallback_reason == "local_answer_rejected:misread"
    assert backend.produced < 24 and len(cloud.requests) == 1


def test_undecided_holds_an_askers_opening_until_its_next_word() -> None:
    msgs = (Message("user", "what is the hot coffee mod in san andreas"),)
    assert undecided("I have a quest", msgs, S)
    assert not undecided("I have a car", msgs, S)
    assert not undecided("I have a question", msgs, replace(S, misread=False))
    assert not undecided("I have a question", msgs, replace(S, holdback_refusals=False))
    r = check_partial(answer("I have a question about the hot", msgs[0].content), S)
    assert r is not None and r.check == "misread"


@pytest.mark.slow
def test_a_loop_after_text_was_sent_ends_the_stream_with_repetition(
    daemon_factory: Any, cloud: CloudStandIn, monkeypatch: Any
) -> None:
    monkeypatch.setenv("ROUTER_CLOUD_API_KEY", "sk-test-key")
    backend = ScriptedBackend(["Sure", ",", " here", " it", " is", ":"] + [" la", " femme", ","] * 60)
    runner = daemon_factory(backend, policy=POLICY, cloud_url=cloud.url, cloud_model="standin-large")
    with RouterClient(target=runner.target) as client:
        events = list(client.stream("Tell me about Paris.", max_tokens=200))
    text = "".join(e for e in events if isinstance(e, str))
    end = events[-1]
    assert isinstance(end, StreamEnd) and end.finish_reason == "repetition"
    assert text.startswith("Sure, here it is:") and text.count("la femme") < 20
    assert backend.produced < 60  # generation stopped, not run to the end
    assert end.decision.answer_check == "repetition" and end.decision.route == "local"
    assert cloud.requests == []  # text was already sent: nothing escalates
    assert isinstance(events[0], DecisionInfo)


# --- the policy's answer to a rejected local answer ----------------------------------------------------


def _ctx(app: str = "app", findings: tuple[Finding, ...] = (), cloud: bool = True) -> DecisionContext:
    return DecisionContext(
        request=Request(messages=(Message("user", "text"),), app_id=app),
        privacy=PrivacyReport(0.9 if findings else 0.0, findings),
        complexity=ComplexityReport(0.1),
        tokens=PromptTokens.known(10),
        cloud_configured=cloud,
        cloud_healthy=cloud,
        local_context_limit=4096,
    )


EMAIL = (Finding("email", 0, 4),)
KEY = (Finding("api_key", 0, 4),)


@pytest.mark.parametrize(
    ("app", "findings", "cloud", "route"),
    [
        ("app", (), True, Route.CLOUD),
        ("app", EMAIL, True, Route.CLOUD_REDACTED),
        ("app", KEY, True, Route.LOCAL),
        ("app", (), False, Route.LOCAL),
        ("strict", (), True, Route.DENY),
        ("keep", (), True, Route.LOCAL),
    ],
)
def test_the_policy_escalates_only_as_far_as_the_rules_allow(
    app: str, findings: tuple[Finding, ...], cloud: bool, route: Route
) -> None:
    policy = load_policy(POLICY)
    d = policy.on_answer_rejected(_ctx(app, findings, cloud), "echo")
    assert d.route is route, d.reason
    assert "failed the echo check" in d.reason
    if not cloud:
        assert d.note == "the cloud is not configured"


def test_private_findings_never_leave_unredacted_even_when_the_rules_say_cloud(tmp_path: Path) -> None:
    lax = tmp_path / "lax.yaml"
    lax.write_text(
        "format: 1\non_local_answer_rejected: cloud\nrules:\n  - {name: all-cloud, action: cloud}\n"
    )
    d = load_policy(lax).on_answer_rejected(_ctx(findings=EMAIL), "refusal")
    assert d.route is Route.CLOUD_REDACTED


class _AlwaysModelStage:
    """A complexity scorer that always asks for the model stage and calls everything easy."""

    def score_text(self, text: str) -> ComplexityReport:
        return ComplexityReport(0.5, "features")

    def settled(self, report: ComplexityReport) -> bool:
        return False

    def score_hidden(self, prefill: Prefill, first: ComplexityReport) -> ComplexityReport:
        return ComplexityReport(0.1, "model")

    def answer_expected_success(self, score: float, stage: str, logprobs: Sequence[float]) -> float | None:
        return None


@pytest.mark.slow
def test_a_caller_that_does_not_take_its_decision_does_not_hold_the_model(
    llama_backend: Backend, tmp_path: Path
) -> None:
    """A streamed LOCAL decision's job waits for the caller before generating; a caller that does not
    come back within CONTINUE_WAIT_S (a stalled stream) frees the model, and generation starts again
    when it does come back."""
    import asyncio

    from router import engine as engine_module
    from router.app import build_engine
    from router.config import build_settings
    from tests.conftest import _KeepOpen

    streams: list[float] = []  # when generation started

    class Recording(_KeepOpen):
        def stream(self, prompt: str, options: Any, cancel: threading.Event) -> Any:
            streams.append(time.monotonic())
            return super().stream(prompt, options, cancel)

    settings = build_settings(state_dir=tmp_path, policy=POLICY)
    engine = build_engine(settings, Recording(llama_backend), None, None)
    engine.complexity = _AlwaysModelStage()
    request = Request(
        (Message("user", "Say hello."),), options=GenerationOptions(max_tokens=8, temperature=0)
    )

    async def scenario() -> tuple[str, int, float]:
        outcome, job = await engine._decide(request, time.monotonic(), allow_local_continuation=True)
        assert outcome.route is Route.LOCAL and job is not None and job[1] is not None
        await asyncio.sleep(engine_module.CONTINUE_WAIT_S + 1.0)
        busy = engine.worker.depth  # the job gave up: nothing holds the model
        back = time.monotonic()
        parts = [e async for e in engine._run_local(request, outcome, job) if isinstance(e, str)]
        return "".join(parts), busy, back

    try:
        text, busy, back = asyncio.run(scenario())
    finally:
        engine.worker.close()
    assert busy == 0
    # Nothing was generated while the caller was away; one generation once it came back.
    assert len(streams) == 1 and streams[0] >= back
    assert text.strip()
