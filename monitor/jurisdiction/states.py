"""US state codes and names, from the packaged gazetteer: "CA", "ca" and "California" all mean CA."""

from __future__ import annotations

from monitor.jurisdiction._gazetteer import gazetteer
from monitor.jurisdiction._text import normalize

__all__ = ["state_code"]


def state_code(value: str | None) -> str | None:
    """The two-letter USPS code for a code or a state's name, or None when it names no state."""
    if value is None or not value.strip():
        return None
    places = gazetteer()
    code = value.strip().upper()
    if code in places.state_codes:
        return code
    return places.state_names.get(normalize(value))
