"""Redaction markers: the one test of whether a value was recorded and then withheld from a release.

Ingest (a redacted count or time reads as absent), the purpose classifier (a redacted reason gets no hit)
and the engine (a redacted reason is not a missing one; a redacted plate is not hashed) must agree, so
they all use `is_redacted`.

A marker is the whole value (surrounding spaces ignored, case ignored), optionally in brackets:

- a mask: three or more `*` or `#`, spaces allowed between them (`***`, `###`, `* * *`), or two or more
  block characters (`██`, `▇▇▇`, `■■`);
- the word `redacted` or `withheld` (`REDACTED`, `[REDACTED]`, `(Redacted)`, `<withheld>`), optionally
  followed by the legal basis for it (`redacted per GC 7923.600`, `withheld under 5 U.S.C. 552(b)(7)`).

Not markers: blank values and dashes (`''`, `—`, `——`: missing, not withheld), one or two `*`/`#`
(punctuation), a mask inside other text (`Z*0028*` is a wildcard plate search, `ICE ***` still says ICE),
and text that only mentions the word (`unredacted copy`, `ICE redacted`).
"""

from __future__ import annotations

import re

__all__ = ["is_redacted"]

# Possessive quantifiers (`*+`): with plain ones, adjacent runs of `\s*` made a marker followed by a long
# run of spaces cubic to reject (1,000 spaces took 8 s, 4,000 over 6 minutes: one reason could stall a worker).
_MARKER = re.compile(
    r"[\[(<{]?\s*+"
    r"(?:[*#](?:\s*+[*#]){2,}|[█▇■](?:\s*+[█▇■])+|redacted|withheld)"
    r"\s*+[\])>}]?"
    r"(?:\s*+[-–—:,]?\s*+(?:per|under|pursuant\s++to)\s++\S.*)?",
    re.IGNORECASE | re.DOTALL,
)


def is_redacted(value: str | None) -> bool:
    """Whether `value` is a redaction marker (see the module docstring); None and blank are not."""
    return value is not None and _MARKER.fullmatch(value.strip()) is not None
