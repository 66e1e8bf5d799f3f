"""Normalisation of organisation names into comparable tokens.

Two views of one name are kept: `caps`, the tokens as written (state codes and acronyms are only
trusted when written in capitals, so "in", "or" and "me" stay words), and `norm`, lower-case tokens with
spelling variants folded ("Sheriff's"/"Sheriffs", "Dept"/"Department", "Co"/"County", "St"/"Saint").
`text` is `norm` joined with single spaces and padded with one space at each end, so that a phrase
" a b " matches whole words only.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

__all__ = ["Tokens", "normalize", "tokenize"]

_DOTTED = re.compile(r"\b(?:[A-Za-z]\.){2,}")
_TOKEN = re.compile(r"[A-Za-z]+|[0-9]+")

# Written variants folded onto one spelling; "co" only when not written "CO" (Colorado).
_SYNONYMS = {
    "dept": "department",
    "depts": "departments",
    "sheriffs": "sheriff",
    "co": "county",
    "cnty": "county",
    "twp": "township",
    "twsp": "township",
    "boro": "borough",
    "mt": "mount",
    "st": "saint",
    "ste": "sainte",
    "ft": "fort",
    "pct": "precinct",
    "const": "constable",
    "constables": "constable",
    "marshals": "marshal",
    "marshalls": "marshall",
    "univ": "university",
    "cmnty": "community",
    "ctr": "center",
    "centre": "center",
    "intl": "international",
    "natl": "national",
    "dist": "district",
    "govt": "government",
    "hosp": "hospital",
    "taskforce": "task force",
    "attorneys": "attorney",
    "prosecutors": "prosecutor",
}


@dataclass(frozen=True, slots=True)
class Tokens:
    """One name as tokens: as written (`caps`), normalised (`norm`), and as padded text."""

    caps: tuple[str, ...]
    norm: tuple[str, ...]
    text: str


def _clean(name: str) -> str:
    name = unicodedata.normalize("NFKC", name).replace("\u2019", "'").replace("`", "'")
    name = name.replace("'", "")  # Sheriff's -> Sheriffs, O'Fallon -> OFallon
    name = _DOTTED.sub(lambda m: m.group().replace(".", ""), name)  # U.S. -> US, N.R.A. -> NRA
    return name.replace("&", " and ")


def tokenize(name: str) -> Tokens:
    """Split a name into tokens; an all-lower-case name is read as if written in capitals."""
    raw = tuple(_TOKEN.findall(_clean(name)))
    if not any(c.isupper() for c in name):
        raw = tuple(t.upper() for t in raw)
    caps: list[str] = []
    norm: list[str] = []
    for word in raw:
        low = word.lower()
        folded = low if word == "CO" else _SYNONYMS.get(low, low)
        for part in folded.split():
            caps.append(word)
            norm.append(part)
    return Tokens(tuple(caps), tuple(norm), " " + " ".join(norm) + " ")


def normalize(name: str) -> str:
    """The comparable form of a name: lower-case words with variants folded, single-spaced."""
    return tokenize(name).text.strip()
