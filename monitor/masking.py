"""The one way an input value is quoted in an error message, a log line or a dead-letter header.

A value in the wrong place may be a plate or a user name (a plate typed into `event_type`, a name in a
count column), and error text travels into logs, DLQ headers and reports. So error text never quotes an
input value as given unless it is known vocabulary: everything else is shown by its shape only (`9`
per digit, `A`/`a` per letter of any script, other characters kept), which still tells the producer
what kind of value was there.

Every path uses these functions: event decoding (so `check`, `audit`, `produce` and the worker's DLQ
headers and logs all get masked details), the vendor-export adapters, and the notifier's alert decoding.
"""

from __future__ import annotations

import re
from collections.abc import Collection

__all__ = ["MAX_SHOWN", "mask_quoted", "shape", "show", "term"]

MAX_SHOWN = 40
"""Characters of a value shown at most (its shape, or the value itself when it is vocabulary)."""

_WORD = re.compile(r"[^\W\d_]+")
# Words a timestamp cell is made of, safe to quote: they cannot be a plate or a name.
_TIME_WORDS = frozenset(
    "AM PM T Z UTC GMT EST EDT CST CDT MST MDT PST PDT AKST AKDT HST".split()  # noqa: SIM905 - a word list
)
# A value the decoder quotes back: 'value' (msgspec's enum errors) or `value` (names of keys).
_QUOTED = re.compile(r"'([^']*)'")


def _clip(raw: str) -> str:
    return raw if len(raw) <= MAX_SHOWN else raw[:MAX_SHOWN] + "…"


def shape(raw: str) -> str:
    """`raw` with every letter (of any script) as `A`/`a` and every digit as `9`, clipped to MAX_SHOWN."""
    return "".join(("A" if ch.isupper() else "a") if ch.isalpha() else "9" if ch.isdigit() else ch for ch in _clip(raw))


def show(raw: str) -> str:
    """A value quoted for an error message, safely: as given when it is only digits, punctuation and time
    words (`PM`, `UTC`), else only its shape, since a misplaced value may hold a plate or a name.
    """
    clipped = _clip(raw)
    if raw.isascii() and all(word.upper() in _TIME_WORDS for word in _WORD.findall(clipped)):
        return repr(clipped)
    return "of shape " + repr(shape(raw))


def term(raw: str) -> str:
    """A vocabulary value (an event or entity type) quoted for a message: as given when it is plain ASCII
    without a digit (vocabulary such as `networkShare`), else by its shape like `show`.
    """
    if raw.isascii() and raw.isprintable() and not any(ch.isdigit() for ch in raw):
        return repr(_clip(raw))
    return show(raw)


def mask_quoted(message: str, vocabulary: Collection[str] = ()) -> str:
    """A library's error message with every single-quoted value that is not in `vocabulary` shown by shape."""
    return _QUOTED.sub(lambda m: repr(m.group(1)) if m.group(1) in vocabulary else show(m.group(1)), message)
