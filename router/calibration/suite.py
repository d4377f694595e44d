# ruff: noqa: E501, RUF001
"""The calibration suite: auto-gradable tasks of the kinds a small local model is asked.

Every item is written by this project (tables and templates below, Apache-2.0 like the code) and generated
with a fixed seed, so the suite is the same on every machine. `generate()` builds the items;
`router/calibration/suite-v1.jsonl` is its output, shipped as package data (a test checks that the file
and the generator agree). Each item says how it is graded (`router.calibration.grade`).

Split: an item is held out when a hash of its id falls in the last 40 % (fixed; never trained on).
Profiles: `full` is every item; `quick` every third item of each family (train and held-out alike; some
families' phrasings and target languages cycle with the item index, so quick sees fewer of them),
and `tiny` (tests) the first few of a handful of families.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import json
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SUITE_VERSION = "suite-v1"
SUITE_FILE = f"{SUITE_VERSION}.jsonl"
SEED = 15
HELDOUT_SHARE = 0.4
PROFILES = ("tiny", "quick", "full")


@dataclass(frozen=True, slots=True)
class Item:
    id: str
    family: str
    prompt: str
    grader: str  # number | final_number | contains | choice | exact | yesno | code | conversational
    expected: dict[str, Any] = field(default_factory=dict)
    fixed_split: str | None = None  # for suites of one's own (tests): the split, instead of the hash

    @property
    def split(self) -> str:
        if self.fixed_split is not None:
            return self.fixed_split
        h = int(hashlib.sha256(self.id.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
        return "heldout" if h >= 1 - HELDOUT_SHARE else "train"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "family": self.family,
            "prompt": self.prompt,
            "grader": self.grader,
            "expected": self.expected,
        }

    @classmethod
    def from_json(cls, row: dict[str, Any]) -> Item:
        return cls(
            str(row["id"]), str(row["family"]), str(row["prompt"]), str(row["grader"]), row["expected"]
        )


# --- tables (project-written) ---------------------------------------------------------------------------

CAPITALS = [
    ("France", ["Paris"]), ("Japan", ["Tokyo"]), ("Italy", ["Rome"]), ("Germany", ["Berlin"]),
    ("Spain", ["Madrid"]), ("the United Kingdom", ["London"]), ("Russia", ["Moscow"]),
    ("China", ["Beijing", "Peking"]), ("Egypt", ["Cairo"]), ("Greece", ["Athens"]),
    ("Canada", ["Ottawa"]), ("Australia", ["Canberra"]), ("Brazil", ["Brasília", "Brasilia"]),
    ("India", ["New Delhi"]), ("Mexico", ["Mexico City"]), ("Argentina", ["Buenos Aires"]),
    ("Portugal", ["Lisbon"]), ("Ireland", ["Dublin"]), ("Norway", ["Oslo"]), ("Sweden", ["Stockholm"]),
    ("Finland", ["Helsinki"]), ("Denmark", ["Copenhagen"]), ("Poland", ["Warsaw"]),
    ("Austria", ["Vienna"]), ("Hungary", ["Budapest"]), ("the Czech Republic", ["Prague"]),
    ("the Netherlands", ["Amsterdam"]), ("Belgium", ["Brussels"]), ("Switzerland", ["Bern", "Berne"]),
    ("Turkey", ["Ankara"]), ("South Korea", ["Seoul"]), ("Thailand", ["Bangkok"]),
    ("Vietnam", ["Hanoi"]), ("Indonesia", ["Jakarta"]), ("the Philippines", ["Manila"]),
    ("Kenya", ["Nairobi"]), ("Nigeria", ["Abuja"]), ("South Africa", ["Pretoria"]),
    ("Morocco", ["Rabat"]), ("Peru", ["Lima"]), ("Chile", ["Santiago"]), ("Colombia", ["Bogotá", "Bogota"]),
    ("Venezuela", ["Caracas"]), ("Cuba", ["Havana"]), ("Iran", ["Tehran"]), ("Iraq", ["Baghdad"]),
    ("Saudi Arabia", ["Riyadh"]), ("Pakistan", ["Islamabad"]), ("Afghanistan", ["Kabul"]),
    ("Ukraine", ["Kyiv", "Kiev"]), ("Romania", ["Bucharest"]), ("Bulgaria", ["Sofia"]),
    ("Serbia", ["Belgrade"]), ("Croatia", ["Zagreb"]), ("Iceland", ["Reykjavik", "Reykjavík"]),
    ("New Zealand", ["Wellington"]), ("Ethiopia", ["Addis Ababa"]), ("Ghana", ["Accra"]),
    ("Senegal", ["Dakar"]), ("Mongolia", ["Ulaanbaatar", "Ulan Bator"]), ("Nepal", ["Kathmandu"]),
    ("Bolivia", ["Sucre", "La Paz"]), ("Uruguay", ["Montevideo"]), ("Paraguay", ["Asunción", "Asuncion"]),
    ("Kazakhstan", ["Astana"]), ("Uzbekistan", ["Tashkent"]), ("Latvia", ["Riga"]),
    ("Lithuania", ["Vilnius"]), ("Estonia", ["Tallinn"]), ("Slovakia", ["Bratislava"]),
    ("Slovenia", ["Ljubljana"]), ("Tanzania", ["Dodoma"]), ("Zambia", ["Lusaka"]),
    ("Malaysia", ["Kuala Lumpur"]), ("Sri Lanka", ["Colombo", "Sri Jayawardenepura Kotte"]),
    ("Myanmar", ["Naypyidaw", "Nay Pyi Taw"]), ("Laos", ["Vientiane"]), ("Jordan", ["Amman"]),
    ("Syria", ["Damascus"]), ("Lebanon", ["Beirut"]), ("Qatar", ["Doha"]),
]  # fmt: skip

FACTS = [
    ("What is the largest planet in our solar system?", ["Jupiter"]),
    ("Which planet is known as the Red Planet?", ["Mars"]),
    ("What is the closest star to the Earth?", ["Sun", "the sun"]),
    ("What gas do plants take in from the air to make food?", ["carbon dioxide", "CO2"]),
    ("What is the chemical symbol for gold?", ["Au"]),
    ("What is the chemical symbol for water?", ["H2O"]),
    ("What is the chemical symbol for iron?", ["Fe"]),
    ("What is the chemical symbol for sodium?", ["Na"]),
    ("How many legs does a spider have?", ["8", "eight"]),
    ("How many legs does an insect have?", ["6", "six"]),
    ("How many days are in a leap year?", ["366"]),
    ("How many continents are there on Earth?", ["7", "seven"]),
    ("What is the freezing point of water in degrees Celsius?", ["0", "zero"]),
    ("What is the boiling point of water in degrees Celsius at sea level?", ["100"]),
    ("Who wrote the play Romeo and Juliet?", ["Shakespeare"]),
    ("Who painted the Mona Lisa?", ["Leonardo", "da Vinci"]),
    ("Who developed the theory of relativity?", ["Einstein"]),
    ("What is the largest ocean on Earth?", ["Pacific"]),
    ("What is the longest river in Africa?", ["Nile"]),
    ("What is the tallest mountain in the world?", ["Everest"]),
    ("What is the hardest natural substance?", ["diamond"]),
    ("Which animal is known as the king of the jungle?", ["lion"]),
    ("What is the largest mammal in the world?", ["blue whale"]),
    ("What color do you get when you mix blue and yellow?", ["green"]),
    ("What color do you get when you mix red and white?", ["pink"]),
    ("What is the main language spoken in Brazil?", ["Portuguese"]),
    ("What is the currency of Japan?", ["yen"]),
    ("What is the currency of the United Kingdom?", ["pound", "sterling"]),
    ("In which country are the pyramids of Giza?", ["Egypt"]),
    ("Which organ pumps blood through the human body?", ["heart"]),
    ("What do bees make?", ["honey"]),
    ("What is the opposite of hot?", ["cold"]),
    ("What is the opposite of up?", ["down"]),
    ("Which month comes after March?", ["April"]),
    ("Which day comes after Monday?", ["Tuesday"]),
    ("How many hours are in a day?", ["24", "twenty-four", "twenty four"]),
    ("What is the square root of 81?", ["9", "nine"]),
    ("Who was the first person to walk on the Moon?", ["Armstrong"]),
    ("In which year did World War II end?", ["1945"]),
    ("What is the smallest prime number?", ["2", "two"]),
    ("What is the capital city of the US state of California?", ["Sacramento"]),
    ("Which element has the atomic number 1?", ["hydrogen"]),
    ("What is the largest desert in the world by area, including cold deserts?", ["Antarctic", "Antarctica"]),
    ("Who composed the Ninth Symphony that ends with the Ode to Joy?", ["Beethoven"]),
    ("Which scientist proposed the three laws of motion?", ["Newton"]),
    ("What is the plural of mouse?", ["mice"]),
    ("What is the past tense of go?", ["went"]),
    ("How many sides does a hexagon have?", ["6", "six"]),
    ("How many sides does a triangle have?", ["3", "three"]),
    ("What is the name of the galaxy we live in?", ["Milky Way"]),
    ("Which metal is liquid at room temperature?", ["mercury"]),
    ("What is the largest country in the world by area?", ["Russia"]),
    ("What is the most spoken language in the world by native speakers?", ["Mandarin", "Chinese"]),
    ("Which gas makes up most of the Earth's atmosphere?", ["nitrogen"]),
    ("Who wrote the novel Pride and Prejudice?", ["Austen"]),
    ("What is the smallest planet in our solar system?", ["Mercury"]),
    ("Which blood cells carry oxygen?", ["red"]),
    ("What is the capital of the state of New York?", ["Albany"]),
    ("How many bones are in the adult human body?", ["206"]),
    ("Which programming language is named after a comedy group?", ["Python"]),
]

MC_CATEGORIES: dict[str, list[str]] = {
    "a fruit": ["apple", "banana", "cherry", "grape", "mango", "pear", "peach", "orange"],
    "an animal": ["dog", "horse", "tiger", "rabbit", "elephant", "sheep", "wolf", "fox"],
    "a colour": ["red", "blue", "green", "yellow", "purple", "black", "white", "brown"],
    "a vehicle": ["car", "bus", "bicycle", "train", "truck", "boat", "airplane", "motorcycle"],
    "a musical instrument": ["piano", "guitar", "violin", "drum", "flute", "trumpet", "cello", "harp"],
    "a body part": ["hand", "knee", "elbow", "ear", "nose", "shoulder", "ankle", "finger"],
    "a piece of furniture": ["chair", "table", "sofa", "bed", "desk", "shelf", "wardrobe", "stool"],
    "a country": ["France", "Japan", "Brazil", "Kenya", "Canada", "India", "Norway", "Peru"],
    "a day of the week": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"],
    "a month": ["January", "March", "May", "July", "August", "October", "November", "December"],
}

NAMES = ["Anna", "Ben", "Carla", "David", "Elena", "Farid", "Grace", "Hugo", "Ines", "Jonas", "Kofi", "Lena"]
CITIES = ["Lisbon", "Oslo", "Denver", "Nairobi", "Kyoto", "Lyon", "Porto", "Austin", "Dublin", "Perth"]
OBJECTS = [("apples", "apple"), ("books", "book"), ("pencils", "pencil"), ("marbles", "marble"),
           ("stickers", "sticker"), ("cookies", "cookie"), ("coins", "coin"), ("shells", "shell")]  # fmt: skip
WORDS = ["river", "garden", "yellow", "window", "silver", "candle", "forest", "planet", "bottle", "winter",
         "orange", "pocket", "ladder", "basket", "mirror", "rocket", "button", "carpet", "dragon", "island",
         "lemon", "tiger", "cloud", "stone", "music", "paper", "bread", "horse", "chair", "light"]  # fmt: skip
SENTENCES = [
    "the meeting starts at nine tomorrow",
    "please send the report by friday",
    "our new office is near the station",
    "the cat sat on the warm mat",
    "we will travel to spain in june",
    "the train was late again today",
    "my sister likes green tea",
    "this recipe needs two eggs",
    "the library closes at six",
    "he forgot his umbrella at home",
    "the garden is full of roses",
    "they painted the fence blue",
]

TRANSLATIONS: list[tuple[str, dict[str, list[str]]]] = [
    ("hello", {"French": ["bonjour", "salut"], "Spanish": ["hola"], "German": ["hallo", "guten tag"]}),
    ("thank you", {"French": ["merci"], "Spanish": ["gracias"], "German": ["danke"]}),
    ("goodbye", {"French": ["au revoir"], "Spanish": ["adiós", "adios"], "German": ["auf wiedersehen", "tschüss"]}),
    ("cat", {"French": ["chat"], "Spanish": ["gato"], "German": ["katze"]}),
    ("dog", {"French": ["chien"], "Spanish": ["perro"], "German": ["hund"]}),
    ("water", {"French": ["eau"], "Spanish": ["agua"], "German": ["wasser"]}),
    ("house", {"French": ["maison"], "Spanish": ["casa"], "German": ["haus"]}),
    ("book", {"French": ["livre"], "Spanish": ["libro"], "German": ["buch"]}),
    ("red", {"French": ["rouge"], "Spanish": ["rojo", "roja"], "German": ["rot"]}),
    ("good morning", {"French": ["bonjour"], "Spanish": ["buenos días", "buenos dias"], "German": ["guten morgen"]}),
    ("good night", {"French": ["bonne nuit"], "Spanish": ["buenas noches"], "German": ["gute nacht"]}),
    ("please", {"French": ["s'il vous plaît", "s'il te plaît", "s'il vous plait"], "Spanish": ["por favor"], "German": ["bitte"]}),
    ("yes", {"French": ["oui"], "Spanish": ["sí", "si"], "German": ["ja"]}),
    ("one", {"French": ["un", "une"], "Spanish": ["uno", "una"], "German": ["eins"]}),
    ("two", {"French": ["deux"], "Spanish": ["dos"], "German": ["zwei"]}),
    ("three", {"French": ["trois"], "Spanish": ["tres"], "German": ["drei"]}),
    ("bread", {"French": ["pain"], "Spanish": ["pan"], "German": ["brot"]}),
    ("friend", {"French": ["ami", "amie"], "Spanish": ["amigo", "amiga"], "German": ["freund", "freundin"]}),
    ("sun", {"French": ["soleil"], "Spanish": ["sol"], "German": ["sonne"]}),
    ("moon", {"French": ["lune"], "Spanish": ["luna"], "German": ["mond"]}),
    ("the black cat", {"French": ["le chat noir"], "Spanish": ["el gato negro"], "German": ["die schwarze katze"]}),
    ("I am hungry", {"French": ["j'ai faim"], "Spanish": ["tengo hambre"], "German": ["ich habe hunger"]}),
    ("where is the station?", {"French": ["où est la gare", "ou est la gare"], "Spanish": ["dónde está la estación", "donde esta la estacion"], "German": ["wo ist der bahnhof"]}),
    ("the weather is nice today", {"French": ["il fait beau aujourd'hui"], "Spanish": ["hace buen tiempo hoy"], "German": ["das wetter ist heute schön", "heute ist das wetter schön"]}),
    ("I would like a coffee", {"French": ["je voudrais un café"], "Spanish": ["quisiera un café", "me gustaría un café", "quiero un café"], "German": ["ich möchte einen kaffee", "ich hätte gern einen kaffee"]}),
]  # fmt: skip

# name, description, signature, tests (run against the function), difficulty tier
CODE_TASKS: list[tuple[str, str, str]] = [
    ("add", "returns the sum of a and b", "assert add(2, 3) == 5\nassert add(-1, 1) == 0"),
    ("multiply", "returns the product of a and b", "assert multiply(3, 4) == 12\nassert multiply(0, 9) == 0"),
    ("square", "returns x squared", "assert square(3) == 9\nassert square(-4) == 16"),
    ("is_even", "returns True when the integer n is even, else False",
     "assert is_even(4) is True\nassert is_even(7) is False"),
    ("first_item", "returns the first element of the list items",
     "assert first_item([5, 6]) == 5\nassert first_item(['a']) == 'a'"),
    ("last_item", "returns the last element of the list items",
     "assert last_item([5, 6]) == 6\nassert last_item(['a', 'b', 'c']) == 'c'"),
    ("maximum", "returns the largest number in the list nums",
     "assert maximum([1, 9, 3]) == 9\nassert maximum([-5, -2]) == -2"),
    ("total", "returns the sum of the numbers in the list nums", "assert total([1, 2, 3]) == 6\nassert total([]) == 0"),
    ("to_upper", "returns the string s in upper case", "assert to_upper('abc') == 'ABC'"),
    ("reverse_string", "returns the string s reversed", "assert reverse_string('abc') == 'cba'\nassert reverse_string('') == ''"),
    ("count_a", "returns how many times the letter 'a' occurs in the string s",
     "assert count_a('banana') == 3\nassert count_a('xyz') == 0"),
    ("average", "returns the average (mean) of the non-empty list nums",
     "assert average([2, 4]) == 3\nassert average([5]) == 5"),
    ("is_palindrome", "returns True when the string s reads the same forwards and backwards",
     "assert is_palindrome('level') is True\nassert is_palindrome('hello') is False"),
    ("factorial", "returns n! for a non-negative integer n",
     "assert factorial(0) == 1\nassert factorial(5) == 120"),
    ("fibonacci", "returns the n-th Fibonacci number, with fibonacci(0) == 0 and fibonacci(1) == 1",
     "assert fibonacci(0) == 0\nassert fibonacci(1) == 1\nassert fibonacci(10) == 55"),
    ("count_vowels", "returns the number of vowels (a, e, i, o, u, either case) in the string s",
     "assert count_vowels('Hello') == 2\nassert count_vowels('sky') == 0"),
    ("gcd", "returns the greatest common divisor of the positive integers a and b",
     "assert gcd(12, 18) == 6\nassert gcd(7, 5) == 1"),
    ("is_prime", "returns True when the integer n is a prime number",
     "assert is_prime(7) is True\nassert is_prime(1) is False\nassert is_prime(9) is False"),
    ("fizzbuzz", "returns 'Fizz' for multiples of 3, 'Buzz' for multiples of 5, 'FizzBuzz' for multiples "
     "of both, else str(n)",
     "assert fizzbuzz(3) == 'Fizz'\nassert fizzbuzz(10) == 'Buzz'\nassert fizzbuzz(15) == 'FizzBuzz'\n"
     "assert fizzbuzz(7) == '7'"),
    ("remove_duplicates", "returns the list items without duplicates, keeping the first occurrence order",
     "assert remove_duplicates([1, 2, 1, 3, 2]) == [1, 2, 3]"),
    ("word_count", "returns the number of words (separated by whitespace) in the string s",
     "assert word_count('a b  c') == 3\nassert word_count('') == 0"),
    ("flatten", "returns a flat list of the elements of the list of lists nested",
     "assert flatten([[1, 2], [3], []]) == [1, 2, 3]"),
    ("second_largest", "returns the second largest distinct number in the list nums",
     "assert second_largest([4, 1, 4, 3]) == 3\nassert second_largest([10, 20]) == 10"),
    ("celsius_to_fahrenheit", "converts the temperature c in Celsius to Fahrenheit",
     "assert celsius_to_fahrenheit(0) == 32\nassert celsius_to_fahrenheit(100) == 212"),
    ("capitalize_words", "returns the string s with the first letter of every word in upper case",
     "assert capitalize_words('hello big world') == 'Hello Big World'"),
    ("sum_digits", "returns the sum of the decimal digits of the non-negative integer n",
     "assert sum_digits(123) == 6\nassert sum_digits(0) == 0"),
    ("count_words_freq", "returns a dict mapping each word of the string s to how often it occurs",
     "assert count_words_freq('a b a') == {'a': 2, 'b': 1}"),
    ("binary_string", "returns the binary representation of the non-negative integer n as a string without "
     "a prefix", "assert binary_string(5) == '101'\nassert binary_string(0) == '0'"),
    ("rotate_left", "returns the list items rotated left by k positions",
     "assert rotate_left([1, 2, 3, 4], 1) == [2, 3, 4, 1]\nassert rotate_left([1, 2, 3], 3) == [1, 2, 3]"),
    ("merge_sorted", "merges the two sorted lists a and b into one sorted list",
     "assert merge_sorted([1, 4], [2, 3, 5]) == [1, 2, 3, 4, 5]"),
    ("is_anagram", "returns True when the strings a and b are anagrams of each other",
     "assert is_anagram('listen', 'silent') is True\nassert is_anagram('ab', 'abc') is False"),
    ("roman_to_int", "converts a Roman numeral string s to an integer",
     "assert roman_to_int('III') == 3\nassert roman_to_int('IX') == 9\nassert roman_to_int('MCMXCIV') == 1994"),
    ("run_length", "returns the run-length encoding of s, e.g. 'aaab' -> 'a3b1'",
     "assert run_length('aaab') == 'a3b1'\nassert run_length('') == ''"),
    ("transpose", "returns the transpose of the matrix m given as a list of equal-length lists",
     "assert transpose([[1, 2], [3, 4]]) == [[1, 3], [2, 4]]"),
    ("min_max", "returns a tuple (smallest, largest) of the non-empty list nums",
     "assert min_max([3, 1, 2]) == (1, 3)"),
    ("vowel_strip", "returns the string s with every vowel (a, e, i, o, u, either case) removed",
     "assert vowel_strip('Banana') == 'Bnn'"),
]  # fmt: skip

YES_NO = [
    ("Is a whale a mammal?", "yes"), ("Is the sun a star?", "yes"), ("Is ice colder than steam?", "yes"),
    ("Do fish live in water?", "yes"), ("Is Paris in France?", "yes"), ("Is 7 an odd number?", "yes"),
    ("Is a tomato a kind of car?", "no"), ("Can a dog fly without help?", "no"), ("Is 10 less than 3?", "no"),
    ("Is the Moon bigger than the Earth?", "no"), ("Do spiders have six legs?", "no"),
    ("Is Tokyo the capital of China?", "no"), ("Is snow usually white?", "yes"), ("Is 15 an even number?", "no"),
    ("Does a week have seven days?", "yes"), ("Is water wet?", "yes"), ("Is a square a circle?", "no"),
    ("Is Mount Everest in Africa?", "no"), ("Do plants need light to grow?", "yes"),
    ("Is a penguin a fish?", "no"), ("Is iron a metal?", "yes"), ("Is 2 + 2 equal to 5?", "no"),
    ("Does the Earth go around the Sun?", "yes"), ("Is English written from right to left?", "no"),
    ("Is a bicycle faster than a jet plane?", "no"), ("Is 100 greater than 99?", "yes"),
    ("Is a bat a bird?", "no"), ("Is Spanish spoken in Mexico?", "yes"), ("Is gold heavier than feathers of the same volume?", "yes"),
    ("Is January the first month of the year?", "yes"), ("Is a triangle four-sided?", "no"),
    ("Can humans breathe under water without equipment?", "no"), ("Is the Atlantic an ocean?", "yes"),
    ("Is 0 a positive number?", "no"), ("Is a tulip a flower?", "yes"), ("Is sugar salty?", "no"),
    ("Is Berlin in Germany?", "yes"), ("Is 21 divisible by 7?", "yes"), ("Is 22 divisible by 7?", "no"),
    ("Is the Pacific Ocean smaller than a lake?", "no"),
]  # fmt: skip


# --- generators -----------------------------------------------------------------------------------------


def _num(value: int | float) -> dict[str, Any]:
    return {"number": value}


def _arithmetic(rng: random.Random, n: int) -> Iterable[tuple[str, str, dict[str, Any]]]:
    levels: list[Callable[[], tuple[int, str, int]]] = [
        lambda: (rng.randint(1, 9), "+", rng.randint(1, 9)),
        lambda: (rng.randint(10, 49), "+", rng.randint(1, 9)),
        lambda: (rng.randint(10, 99), "+", rng.randint(10, 99)),
        lambda: (rng.randint(10, 99), "-", rng.randint(1, 9)),
        lambda: (rng.randint(2, 9), "*", rng.randint(2, 9)),
        lambda: (rng.randint(100, 999), "+", rng.randint(100, 999)),
        lambda: (rng.randint(100, 999), "-", rng.randint(10, 99)),
        lambda: (rng.randint(11, 99), "*", rng.randint(3, 9)),
        lambda: (rng.randint(11, 99), "*", rng.randint(11, 99)),
        lambda: (rng.randint(1000, 9999), "+", rng.randint(1000, 9999)),
    ]
    phrasings = [
        "What is {a} {op} {b}? Answer with the number only.",
        "Calculate {a} {op} {b}.",
        "{a} {op} {b} = ?",
        "Compute {a} {op} {b} and give just the result.",
    ]
    for i in range(n):
        a, op, b = levels[i % len(levels)]()
        value = a + b if op == "+" else a - b if op == "-" else a * b
        shown = "×" if op == "*" and i % 3 == 0 else op
        text = phrasings[(i // len(levels)) % len(phrasings)].format(a=a, op=shown, b=b)
        yield text, "number", _num(value)


def _word_problems(rng: random.Random, n: int) -> Iterable[tuple[str, str, dict[str, Any]]]:
    for i in range(n):
        name, other = rng.sample(NAMES, 2)
        obj, one = OBJECTS[i % len(OBJECTS)]
        a, b = rng.randint(2, 12), rng.randint(2, 9)
        kind = i % 6
        if kind == 0:
            q, v = f"{name} has {a} {obj} and gets {b} more. How many {obj} does {name} have now?", a + b
        elif kind == 1:
            a += b
            q, v = (
                f"{name} had {a} {obj} and gave {b} to {other}. How many {obj} does {name} have left?",
                a - b,
            )
        elif kind == 2:
            q, v = (
                f"There are {a} boxes with {b} {obj} in each box. How many {obj} are there in total?",
                a * b,
            )
        elif kind == 3:
            q, v = (
                f"{name} shares {a * b} {obj} equally among {b} friends. How many {obj} does each friend get?",
                a,
            )
        elif kind == 4:
            c = rng.randint(1, 5)
            q = f"{name} buys {a} {obj}, then {b} more, then loses {c}. How many {obj} does {name} have?"
            v = a + b - c
        else:
            price = rng.randint(2, 9)
            q = f"One {one} costs {price} dollars. How many dollars do {a} {obj} cost?"
            v = a * price
        yield q + " Answer with the number only.", "number", _num(v)


def _capitals(rng: random.Random, n: int) -> Iterable[tuple[str, str, dict[str, Any]]]:
    forms = [
        "What is the capital of {c}?",
        "Name the capital city of {c}.",
        "Which city is the capital of {c}?",
    ]
    for i, (country, names) in enumerate(CAPITALS[:n]):
        yield forms[i % len(forms)].format(c=country), "contains", {"any": names}


def _facts(rng: random.Random, n: int) -> Iterable[tuple[str, str, dict[str, Any]]]:
    for q, answers in FACTS[:n]:
        yield q + " Answer briefly.", "contains", {"any": answers}


def _multiple_choice(rng: random.Random, n: int) -> Iterable[tuple[str, str, dict[str, Any]]]:
    cats = list(MC_CATEGORIES)
    for i in range(n):
        target = cats[i % len(cats)]
        right = rng.choice(MC_CATEGORIES[target])
        others = [c for c in cats if c != target]
        wrong = [rng.choice(MC_CATEGORIES[c]) for c in rng.sample(others, 3)]
        options = [right, *wrong]
        rng.shuffle(options)
        letters = "ABCD"
        body = "\n".join(f"{letters[k]}) {o}" for k, o in enumerate(options))
        letter = letters[options.index(right)]
        text = f"Which of these is {target}?\n{body}\nAnswer with the letter."
        yield text, "choice", {"letter": letter, "options": options, "answer": right}


def _extraction(rng: random.Random, n: int) -> Iterable[tuple[str, str, dict[str, Any]]]:
    for i in range(n):
        name = rng.choice(NAMES)
        city = rng.choice(CITIES)
        kind = i % 5
        if kind == 0:
            user = f"{name.lower()}.{rng.choice(WORDS)}{rng.randint(1, 99)}@example.org"
            text = f"Hi, this is {name} from {city}. You can reach me at {user} any time this week."
            yield (
                f"Extract the email address from this text:\n{text}",
                "contains",
                {"any": [user], "exact": True},
            )
        elif kind == 1:
            year = rng.randint(1950, 2024)
            text = f"{name} moved to {city} in {year} and has lived there ever since."
            yield f"In which year did {name} move? Text: {text}", "number", _num(year)
        elif kind == 2:
            text = f"Yesterday {name} took the train from {city} to visit an old friend."
            yield f"Which city is mentioned in this sentence? {text}", "contains", {"any": [city]}
        elif kind == 3:
            count = rng.randint(3, 60)
            text = f"The order from {city} contains {count} {rng.choice(OBJECTS)[0]} and one invoice."
            yield f"How many items (not counting the invoice) are in the order? {text}", "number", _num(count)
        else:
            phone = f"{rng.randint(200, 999)}-{rng.randint(100, 999)}-{rng.randint(1000, 9999)}"
            text = f"Call {name} on {phone} after five, or leave a message with the front desk in {city}."
            yield (
                f"What is the phone number in this text?\n{text}",
                "contains",
                {"any": [phone], "exact": True},
            )


def _format_edits(rng: random.Random, n: int) -> Iterable[tuple[str, str, dict[str, Any]]]:
    for i in range(n):
        s = SENTENCES[i % len(SENTENCES)]
        words = rng.sample(WORDS, rng.randint(3, 6))
        kind = i % 7
        if kind == 0:
            yield f"Convert to upper case: {s}", "exact", {"text": s.upper(), "case": True}
        elif kind == 1:
            yield f"Rewrite in lower case: {s.upper()}", "exact", {"text": s, "case": True}
        elif kind == 2:
            yield (
                f"Capitalize the first letter of the sentence and add a full stop: {s}",
                "exact",
                {
                    "text": s[0].upper() + s[1:] + ".",
                    "case": True,
                    "keep_period": True,
                },
            )
        elif kind == 3:
            yield (
                f"Sort these words alphabetically, separated by spaces: {' '.join(words)}",
                "exact",
                {"text": " ".join(sorted(words)), "words": True},
            )
        elif kind == 4:
            yield (
                f"Reverse the order of these words: {' '.join(words)}",
                "exact",
                {"text": " ".join(reversed(words)), "words": True},
            )
        elif kind == 5:
            yield (
                f"Join these words with commas: {' '.join(words)}",
                "exact",
                {"text": ", ".join(words), "commas": True},
            )
        else:
            w = s.split()
            drop = rng.choice(w[1:])
            kept = " ".join(x for x in w if x != drop)
            yield f"Remove the word '{drop}' from this sentence: {s}", "exact", {"text": kept}


def _translation(rng: random.Random, n: int) -> Iterable[tuple[str, str, dict[str, Any]]]:
    langs = ["French", "Spanish", "German"]
    forms = ["Translate into {l}: {p}", "How do you say '{p}' in {l}?", "What is '{p}' in {l}?"]
    i = 0
    for phrase, refs in TRANSLATIONS:
        for lang in langs:
            if i >= n:
                return
            yield forms[i % len(forms)].format(l=lang, p=phrase), "contains", {"any": refs[lang]}
            i += 1


def _code(rng: random.Random, n: int) -> Iterable[tuple[str, str, dict[str, Any]]]:
    for fname, description, tests in CODE_TASKS[:n]:
        sig = f"{fname}({', '.join(_ARGS.get(fname, ['a', 'b']))})"
        text = f"Write a Python function {sig} that {description}. Reply with the code only."
        yield text, "code", {"entry": fname, "tests": tests}


_ARGS: dict[str, list[str]] = {
    "square": ["x"], "is_even": ["n"], "first_item": ["items"], "last_item": ["items"], "maximum": ["nums"],
    "total": ["nums"], "to_upper": ["s"], "reverse_string": ["s"], "count_a": ["s"], "average": ["nums"],
    "is_palindrome": ["s"], "factorial": ["n"], "fibonacci": ["n"], "count_vowels": ["s"], "is_prime": ["n"],
    "fizzbuzz": ["n"], "remove_duplicates": ["items"], "word_count": ["s"], "flatten": ["nested"],
    "second_largest": ["nums"], "celsius_to_fahrenheit": ["c"], "capitalize_words": ["s"], "sum_digits": ["n"],
    "count_words_freq": ["s"], "binary_string": ["n"], "rotate_left": ["items", "k"], "is_anagram": ["a", "b"],
    "roman_to_int": ["s"], "run_length": ["s"], "transpose": ["m"], "min_max": ["nums"], "vowel_strip": ["s"],
}  # fmt: skip


def _repeat(rng: random.Random, n: int) -> Iterable[tuple[str, str, dict[str, Any]]]:
    for i in range(n):
        kind = i % 3
        if kind == 0:
            w = rng.choice(WORDS)
            yield f"Reply with only the word '{w}' and nothing else.", "exact", {"text": w}
        elif kind == 1:
            s = SENTENCES[i % len(SENTENCES)]
            yield f"Repeat this sentence exactly: {s}", "exact", {"text": s}
        else:
            a, b = rng.sample(WORDS, 2)
            yield (
                f"Write the word '{a}' followed by the word '{b}', separated by a space.",
                "exact",
                {"text": f"{a} {b}"},
            )


def _sequences(rng: random.Random, n: int) -> Iterable[tuple[str, str, dict[str, Any]]]:
    for i in range(n):
        kind = i % 4
        start, step = rng.randint(1, 20), rng.randint(1, 9)
        if kind == 0:
            seq = [start + step * k for k in range(4)]
            nxt = start + step * 4
        elif kind == 1:
            seq = [start * 10 - step * k for k in range(4)]
            nxt = start * 10 - step * 4
        elif kind == 2:
            r = rng.randint(2, 3)
            seq = [start * r**k for k in range(4)]
            nxt = start * r**4
        else:
            seq = [(start + k) ** 2 for k in range(4)]
            nxt = (start + 4) ** 2
        text = (
            f"What number comes next in the sequence {', '.join(map(str, seq))}, ...? Answer with the number."
        )
        yield text, "number", _num(nxt)


def _yes_no(rng: random.Random, n: int) -> Iterable[tuple[str, str, dict[str, Any]]]:
    for q, a in YES_NO[:n]:
        yield f"{q} Answer yes or no.", "yesno", {"answer": a}


def _conversion(rng: random.Random, n: int) -> Iterable[tuple[str, str, dict[str, Any]]]:
    units = [
        ("hours", "minutes", 60), ("minutes", "seconds", 60), ("days", "hours", 24), ("weeks", "days", 7),
        ("meters", "centimeters", 100), ("kilometers", "meters", 1000), ("kilograms", "grams", 1000),
        ("years", "months", 12), ("dozen", "items", 12), ("liters", "milliliters", 1000),
    ]  # fmt: skip
    for i in range(n):
        big, small, f = units[i % len(units)]
        k = rng.randint(2, 9) if i < n // 2 else rng.randint(11, 40)
        if big == "dozen":
            yield f"How many items are in {k} dozen? Answer with the number only.", "number", _num(k * f)
        else:
            yield f"How many {small} are in {k} {big}? Answer with the number only.", "number", _num(k * f)


# Open-domain questions in the style of search queries (lower case, no "answer briefly"), mixed difficulty:
# a few well known, most of the long-tail kind a very small model does not know. Project-written from
# well-established knowledge; each with its accepted answers (aliases, surnames alone).
OPEN_QA: list[tuple[str, list[str]]] = [
    ("who wrote the harry potter books", ["Rowling"]),
    ("who sang i will always love you in the bodyguard", ["Whitney Houston", "Houston"]),
    ("when did the french revolution begin", ["1789"]),
    ("where is machu picchu", ["Peru"]),
    ("how many keys are on a standard piano", ["88", "eighty-eight", "eighty eight"]),
    ("which country has the largest population in africa", ["Nigeria"]),
    ("who directed the godfather", ["Coppola"]),
    ("who invented the world wide web", ["Berners-Lee", "Berners Lee"]),
    ("when did the titanic sink", ["1912"]),
    ("who sang like a rolling stone", ["Dylan"]),
    ("where is angkor wat", ["Cambodia"]),
    ("who wrote one hundred years of solitude", ["Garcia Marquez", "García Márquez", "Marquez", "Márquez"]),
    ("how many hearts does an octopus have", ["3", "three"]),
    ("which country won the first fifa world cup in 1930", ["Uruguay"]),
    ("who was the first person to reach the south pole", ["Amundsen"]),
    ("when was the declaration of independence signed", ["1776"]),
    ("who painted the starry night", ["van Gogh", "Gogh"]),
    ("who directed pulp fiction", ["Tarantino"]),
    ("where was the lord of the rings trilogy filmed", ["New Zealand"]),
    ("who sang purple rain", ["Prince"]),
    ("how many time zones does russia have", ["11", "eleven"]),
    ("who wrote war and peace", ["Tolstoy", "Tolstoi"]),
    ("when did the soviet union collapse", ["1991"]),
    ("who invented the printing press", ["Gutenberg", "Bi Sheng"]),
    ("which country is lego from", ["Denmark"]),
    ("who played jack in titanic", ["DiCaprio"]),
    ("what is the largest moon of saturn", ["Titan"]),
    ("where is mount kilimanjaro", ["Tanzania"]),
    ("who sang hotel california", ["Eagles"]),
    ("when did the chernobyl disaster happen", ["1986"]),
    ("who was the first president of the united states", ["Washington"]),
    ("who directed psycho 1960", ["Hitchcock"]),
    ("who wrote the great gatsby", ["Fitzgerald"]),
    ("how many moons does mars have", ["2", "two"]),
    ("which country is home to the city of timbuktu", ["Mali"]),
    ("who discovered penicillin", ["Fleming"]),
    ("when was the first iphone released", ["2007"]),
    ("where is petra", ["Jordan"]),
    ("who sang smells like teen spirit", ["Nirvana"]),
    ("who was the first man in space", ["Gagarin"]),
    ("who wrote moby dick", ["Melville"]),
    ("when did the battle of hastings take place", ["1066"]),
    ("which country uses the rand as its currency", ["South Africa"]),
    ("who directed 2001 a space odyssey", ["Kubrick"]),
    ("how many symphonies did beethoven write", ["9", "nine"]),
    ("where is the atacama desert", ["Chile"]),
    ("who invented dynamite", ["Nobel"]),
    ("who sang dancing queen", ["ABBA"]),
    ("when did the berlin wall fall", ["1989"]),
    ("who was the first woman in space", ["Tereshkova"]),
    ("who wrote crime and punishment", ["Dostoevsky", "Dostoyevsky"]),
    ("which country won the 2014 world cup", ["Germany"]),
    ("who played the joker in the dark knight", ["Ledger"]),
    ("when did columbus first reach the americas", ["1492"]),
    ("where is the great barrier reef", ["Australia", "Queensland"]),
    ("who discovered the electron", ["Thomson"]),
    ("how many member states does the european union have", ["27", "twenty-seven", "twenty seven"]),
    ("who sang wonderwall", ["Oasis"]),
    ("who directed spirited away", ["Miyazaki"]),
    ("who wrote the catcher in the rye", ["Salinger"]),
    ("when was the magna carta signed", ["1215"]),
    ("where was napoleon born", ["Corsica", "Ajaccio"]),
    ("who invented the telephone", ["Bell", "Meucci"]),
    ("which country produces the most coffee", ["Brazil"]),
    ("who was the last tsar of russia", ["Nicholas"]),
    ("who sang no woman no cry", ["Marley"]),
    ("how many players are on a basketball team on the court", ["5", "five"]),
    ("who wrote don quixote", ["Cervantes"]),
    ("when did the wall street crash happen", ["1929"]),
    ("where are the headquarters of the united nations", ["New York"]),
    ("who composed the four seasons", ["Vivaldi"]),
    ("who played forrest gump", ["Hanks"]),
    ("who invented the cotton gin", ["Whitney"]),
    ("when did nelson mandela become president of south africa", ["1994"]),
    ("who directed the dark knight", ["Nolan"]),
    ("which country hosted the 2016 summer olympics", ["Brazil", "Rio"]),
    ("who wrote things fall apart", ["Achebe"]),
    ("who sang sweet caroline", ["Neil Diamond", "Diamond"]),
    ("what is the smallest country in the world", ["Vatican"]),
    ("who discovered radioactivity", ["Becquerel"]),
    ("when did hurricane katrina hit new orleans", ["2005"]),
    ("where is the taj mahal", ["Agra", "India"]),
    ("who was the lead singer of queen", ["Mercury"]),
    ("how many teeth does an adult human have", ["32", "thirty-two", "thirty two"]),
    ("who wrote the little prince", ["Saint-Exupery", "Saint-Exupéry", "Exupery", "Exupéry"]),
    ("which country gave the statue of liberty to the united states", ["France"]),
    ("who sculpted the thinker", ["Rodin"]),
    ("when did euro banknotes and coins come into circulation", ["2002"]),
    ("what is the national animal of scotland", ["unicorn"]),
    ("who founded amazon", ["Bezos"]),
    ("who won the first season of american idol", ["Clarkson"]),
    ("where is the headquarters of fifa", ["Zurich", "Zürich", "Switzerland"]),
    ("who proposed that the earth goes around the sun", ["Copernicus", "Aristarchus"]),
    ("when did queen victoria die", ["1901"]),
    ("who wrote frankenstein", ["Shelley"]),
    ("what is the tallest building in the world", ["Burj Khalifa"]),
    ("who has won the most olympic gold medals", ["Phelps"]),
    ("how many countries are there in africa", ["54", "fifty-four", "fifty four"]),
    ("who wrote the music for star wars", ["John Williams", "Williams"]),
    ("what is the largest lake in africa", ["Victoria"]),
    ("when was mount everest first climbed", ["1953"]),
    ("who was the first emperor of rome", ["Augustus", "Octavian"]),
    ("which element has the chemical symbol k", ["potassium"]),
    ("who holds the men's 100m world record", ["Bolt"]),
    ("who invented the jet engine", ["Whittle", "Ohain"]),
    ("who wrote the divine comedy", ["Dante"]),
    (
        "where was game of thrones filmed",
        ["Northern Ireland", "Belfast", "Croatia", "Dubrovnik", "Iceland", "Malta", "Spain"],
    ),
    ("when did the korean war end", ["1953"]),
    ("who sang crazy in love", ["Beyonce", "Beyoncé"]),
    ("what language is mostly spoken in iran", ["Persian", "Farsi"]),
    ("who developed the first widely used polio vaccine", ["Salk"]),
    ("how long is a marathon in kilometres", ["42.195", "42", "42.2"]),
    ("who wrote the declaration of independence", ["Jefferson"]),
    ("when was the eiffel tower completed", ["1889"]),
    ("who founded microsoft", ["Gates", "Paul Allen"]),
    ("which country is the tango from", ["Argentina", "Uruguay"]),
    ("who plays harry potter in the films", ["Radcliffe"]),
    ("what is the hottest planet in the solar system", ["Venus"]),
    ("who was president of the united states during the civil war", ["Lincoln"]),
    ("when did the first harry potter book come out", ["1997"]),
]


def _open_qa(rng: random.Random, n: int) -> Iterable[tuple[str, str, dict[str, Any]]]:
    for q, answers in OPEN_QA[:n]:
        yield q, "contains", {"any": answers}


# Small talk and light requests, graded `conversational`: a reply that says something, passes the answer
# checks, and (where listed) uses a fitting word. Project-written.
_GREET = ["hello", "hi", "hey", "greetings", "welcome", "good morning", "good evening", "nice to meet"]
_THANKS = ["welcome", "glad", "pleasure", "anytime", "happy to", "no problem"]
CHITCHAT: list[tuple[str, dict[str, Any]]] = [
    ("Hello", {"any": _GREET}), ("Hi there!", {"any": _GREET}), ("Hey, how's it going?", {"min_words": 3}),
    ("Good morning!", {"any": [*_GREET, "morning"]}), ("Good evening.", {"any": [*_GREET, "evening"]}),
    ("Thanks!", {"any": _THANKS}), ("Thank you so much for your help.", {"any": _THANKS}),
    ("Thanks a lot, that was useful.", {"any": _THANKS}), ("How are you today?", {"min_words": 3}),
    ("How are you doing?", {"min_words": 3}), ("What's up?", {"min_words": 3}),
    ("Nice to meet you.", {"any": [*_GREET, "nice", "pleasure", "too"]}),
    ("Who are you?", {"any": ["assistant", "ai", "smollm", "model", "chatbot", "help"]}),
    ("What can you do?", {"any": ["help", "answer", "assist", "write", "questions"]}),
    ("Can you help me?", {"any": ["help", "sure", "of course", "yes", "happy", "glad", "assist"]}),
    ("Are you a robot?", {"min_words": 3}), ("Tell me a joke.", {"min_words": 6}),
    ("Tell me something nice.", {"min_words": 5}), ("Say something funny.", {"min_words": 5}),
    ("Give me a compliment.", {"min_words": 4}), ("Wish me luck for my exam tomorrow.", {"any": ["luck"]}),
    ("Say good night to me.", {"any": ["good night", "goodnight", "sleep", "night"]}),
    ("Happy birthday to my friend Sam! Can you write a short birthday wish?", {"any": ["birthday"]}),
    ("Write one sentence about the sea.", {"min_words": 5}), ("Write one sentence about cats.", {"min_words": 5}),
    ("Write a short greeting for a postcard.", {"min_words": 4}),
    ("Suggest a name for a pet goldfish.", {"min_words": 1}),
    ("Give me one tip for sleeping better.", {"min_words": 5}),
    ("Give me one idea for a weekend activity.", {"min_words": 4}),
    ("Say something encouraging.", {"min_words": 4}), ("I'm bored. Any ideas?", {"min_words": 5}),
    ("I feel a bit tired today.", {"min_words": 4}), ("What's a good breakfast?", {"min_words": 3}),
    ("Recommend a color for my bedroom walls.", {"min_words": 2}),
    ("Write a short thank-you note to a teacher.", {"any": ["thank"]}),
    ("Give me a synonym for happy.", {"any": ["joyful", "cheerful", "glad", "content", "delighted",
                                              "elated", "pleased", "merry", "joyous", "jolly"]}),
    ("Give me a synonym for big.", {"any": ["large", "huge", "enormous", "giant", "massive", "vast",
                                            "great", "immense", "gigantic"]}),
    ("What is the opposite of hot?", {"any": ["cold", "cool", "chilly"]}),
    ("What is the opposite of up?", {"any": ["down"]}), ("Goodbye!", {"any": ["bye", "goodbye", "see you", "care"]}),
    ("See you later.", {"any": ["bye", "see you", "later", "care", "soon"]}),
    ("Can you keep a secret?", {"min_words": 3}), ("Do you like music?", {"min_words": 3}),
    ("What's your favourite colour?", {"min_words": 3}),
    ("Write a two-line poem about the moon.", {"any": ["moon"]}),
    ("Say hello in Spanish.", {"any": ["hola"]}), ("Say thank you in French.", {"any": ["merci"]}),
    ("Give me a friendly reminder to drink water.", {"any": ["water", "drink", "hydrate"]}),
]  # fmt: skip


def _multi_step(rng: random.Random, n: int) -> Iterable[tuple[str, str, dict[str, Any]]]:
    """Word problems of three or four steps with larger numbers, written out as a school exercise: the
    kind the one-step `word_problem` family does not cover (a small model fails most of them)."""
    for i in range(n):
        name, other = rng.sample(NAMES, 2)
        obj, _ = OBJECTS[i % len(OBJECTS)]
        kind = i % 6
        if kind == 0:
            a, b, c, d = rng.randint(3, 9), rng.randint(6, 24), rng.randint(5, 20), rng.randint(4, 30)
            q = (
                f"{name} buys {a} packs of {obj} with {b} {obj} in each pack. {name} gives {c} {obj} to "
                f"{other} and later buys {d} more. How many {obj} does {name} have now?"
            )
            v = a * b - c + d
        elif kind == 1:
            price, mon, extra = rng.randint(3, 12), rng.randint(5, 20) * 2, rng.randint(2, 10) * 2
            tue = mon + extra
            q = (
                f"A market stall sells {obj} for {price} dollars each. On Monday it sells {mon} {obj}, on "
                f"Tuesday {extra} more than on Monday, and on Wednesday half as many as on Tuesday. How "
                "many dollars does the stall take in over the three days?"
            )
            v = price * (mon + tue + tue // 2)
        elif kind == 2:
            wage, hours, days, rent = (
                rng.randint(12, 30),
                rng.randint(4, 8),
                rng.randint(5, 22),
                rng.randint(100, 600),
            )
            q = (
                f"{name} earns {wage} dollars an hour and works {hours} hours a day for {days} days. Then "
                f"{name} pays {rent} dollars of rent. How many dollars does {name} have left?"
            )
            v = wage * hours * days - rent
        elif kind == 3:
            v1, t1, v2, t2 = rng.randint(40, 90), rng.randint(2, 5), rng.randint(20, 70), rng.randint(1, 4)
            q = (
                f"A train travels at {v1} km per hour for {t1} hours, then slows to {v2} km per hour for "
                f"{t2} more hours. How many kilometres does it travel in total?"
            )
            v = v1 * t1 + v2 * t2
        elif kind == 4:
            money, lunch = rng.randint(10, 60) * 4, rng.randint(3, 15)
            q = (
                f"{name} has {money} dollars, spends a quarter of it on books and then {lunch} dollars on "
                f"lunch. How many dollars does {name} have left?"
            )
            v = money - money // 4 - lunch
        else:
            total, pct = rng.randint(6, 30) * 20, rng.choice([10, 20, 30, 40, 60])
            q = (
                f"A school has {total} students. {pct}% of them play football, and half of the others "
                "play tennis. How many students play tennis?"
            )
            v = (total - total * pct // 100) // 2
        yield (q if i % 2 else q + " Answer with the number only."), "final_number", _num(v)


def _chitchat(rng: random.Random, n: int) -> Iterable[tuple[str, str, dict[str, Any]]]:
    for prompt, expected in CHITCHAT[:n]:
        yield prompt, "conversational", expected


FAMILIES: dict[str, tuple[Any, int]] = {
    "arithmetic": (_arithmetic, 100),
    "word_problem": (_word_problems, 72),
    "capital": (_capitals, 80),
    "fact": (_facts, 60),
    "multiple_choice": (_multiple_choice, 70),
    "extraction": (_extraction, 70),
    "format_edit": (_format_edits, 70),
    "translation": (_translation, 75),
    "code": (_code, 40),
    "instruction": (_repeat, 48),
    "sequence": (_sequences, 48),
    "yes_no": (_yes_no, 40),
    "conversion": (_conversion, 50),
    "open_qa": (_open_qa, 120),  # appended after the first 13 families: their ids and order unchanged
    "chitchat": (_chitchat, 48),
    "multi_step": (_multi_step, 60),  # appended: the other families' ids and order unchanged
}


def generate() -> list[Item]:
    """Every item of the suite, in a fixed order (seeded per family)."""
    items: list[Item] = []
    for family, (make, n) in FAMILIES.items():
        rng = random.Random(f"{SEED}:{family}")
        for i, (prompt, grader, expected) in enumerate(make(rng, n)):
            items.append(Item(f"{family}-{i:03d}", family, prompt, grader, expected))
    return items


def suite_path() -> Path:
    try:
        resource = importlib.resources.files("router.calibration").joinpath(SUITE_FILE)
        if resource.is_file():
            return Path(str(resource))
    except (ModuleNotFoundError, FileNotFoundError, NotADirectoryError):
        pass
    return Path(__file__).resolve().parent / SUITE_FILE


def load_suite(path: Path | None = None) -> list[Item]:
    path = path or suite_path()
    with path.open(encoding="utf-8") as f:
        return [Item.from_json(json.loads(line)) for line in f if line.strip()]


def select(items: list[Item], profile: str, split: str | None = None) -> list[Item]:
    """The items of a profile (`tiny`, `quick`, `full`), optionally one split only; order kept."""
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; one of {', '.join(PROFILES)}")
    out: list[Item] = []
    seen: dict[str, int] = {}
    for item in items:
        k = seen.get(item.family, 0)
        seen[item.family] = k + 1
        if profile == "quick" and k % 3:
            continue
        if profile == "tiny" and (k >= 4 or item.family not in TINY_FAMILIES):
            continue
        if split is not None and item.split != split:
            continue
        out.append(item)
    return out


TINY_FAMILIES = ("arithmetic", "capital", "instruction", "code")


def interleave(items: list[Item]) -> list[Item]:
    """The items round-robin over their families (each family's order kept), so that a run cut short
    by a time budget has answered every family about equally."""
    by_family: dict[str, list[Item]] = {}
    for item in items:
        by_family.setdefault(item.family, []).append(item)
    out: list[Item] = []
    queues = list(by_family.values())
    for k in range(max((len(q) for q in queues), default=0)):
        out.extend(q[k] for q in queues if k < len(q))
    return out


def write_suite(path: Path) -> None:
    with path.open("w", encoding="utf-8") as f:
        for item in generate():
            f.write(json.dumps(item.to_json(), ensure_ascii=False, sort_keys=True) + "\n")


__all__ = [
    "PROFILES",
    "SUITE_VERSION",
    "Item",
    "generate",
    "load_suite",
    "select",
    "suite_path",
    "write_suite",
]

if __name__ == "__main__":
    write_suite(Path(__file__).resolve().parent / SUITE_FILE)
