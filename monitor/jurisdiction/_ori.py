"""ORI codes: the FBI's nine-character Originating Agency Identifiers.

The first two letters are the state (or territory) where the agency sits; for local agencies the next
three characters are digits (a county code). Federal agencies also hold ORIs, under the state or DC
where the office sits, with letters in positions 3-5 naming the agency (seen in public UCR listings:
DCFBIWA00 for the FBI, DCVA00000 for Veterans Affairs, DCUSA0100 for the Army, VACIA0000 for the CIA,
DCTIX0000 for the Treasury Inspector General). So an ORI gives a state, never a class on its own:
letters where a county code should be, or a DC prefix, mean "not known to be local".
"""

from __future__ import annotations

import re
from collections.abc import Container
from dataclasses import dataclass

__all__ = ["FEDERAL_ORI_INFIXES", "Ori", "parse_ori"]

_FORMAT = re.compile(r"[A-Z]{2}[A-Z0-9]{7}")
# Positions 3-5 of federal ORIs: the ones above, and the agencies' own acronyms. Not exhaustive.
FEDERAL_ORI_INFIXES = frozenset(
    {"FBI", "DEA", "ATF", "CIA", "TIX", "USA", "USN", "USM", "VA0", "ICE", "INS", "CBP", "DHS", "BOP", "NPS"}
)


@dataclass(frozen=True, slots=True)
class Ori:
    """A well-formed ORI."""

    code: str
    state: str
    federal: bool  # positions 3-5 name a federal agency
    county_coded: bool  # positions 3-5 are digits, the shape of a state or local agency's ORI


def parse_ori(raw: str, state_codes: Container[str]) -> Ori | None:
    """The ORI in `raw`, or None when it is not two state letters followed by seven letters or digits."""
    code = raw.strip().upper()
    if not _FORMAT.fullmatch(code) or code[:2] not in state_codes:
        return None
    infix = code[2:5]
    return Ori(code, code[:2], federal=infix in FEDERAL_ORI_INFIXES, county_coded=infix.isdigit())
