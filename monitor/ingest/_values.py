"""Cell values as vendor exports write them: timestamps, counts, sentinels, redaction markers, stable ids."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from monitor.events import time_out_of_range
from monitor.masking import show, term
from monitor.redaction import is_redacted

from ._model import IngestError

__all__ = [
    "SENTINEL", "US_STATES", "CellError", "collapse", "digest", "is_missing", "is_redacted", "natural_id",
    "parse_count", "parse_time", "show", "term", "text", "zone",
]  # fmt: skip

SENTINEL = "——"
"""Two em dashes: Flock's export writes this where a number is missing."""

_DASHES = frozenset("-‐‑‒–—―")

# Flock's text timestamps: `11/13/2025, 10:00:17 PM UTC` (month and day may be unpadded).
# A date alone (`10/03/2018`, as reports print it) reads as midnight.
_US_TIME = re.compile(
    r"(\d{1,2})/(\d{1,2})/(\d{4})(?:,?\s+(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?\s*([AaPp][Mm])?)?\s*(.*)"
)
_ISO_ZONE_NAME = re.compile(r"(.*\d)\s+([A-Za-z]{1,5})")
_OFFSET = re.compile(r"(?:UTC|GMT)?([+-])(\d{1,2}):?(\d{2})?")
# Abbreviations US exports print; fixed offsets because the abbreviation already says standard or daylight.
_ZONE_HOURS = {
    "UTC": 0, "GMT": 0, "Z": 0, "EST": -5, "EDT": -4, "CST": -6, "CDT": -5, "MST": -7, "MDT": -6,
    "PST": -8, "PDT": -7, "AKST": -9, "AKDT": -8, "HST": -10,
}  # fmt: skip
_ZONES = {name: timezone(timedelta(hours=hours)) if hours else UTC for name, hours in _ZONE_HOURS.items()}

_STATE_CODES = (
    "AL AK AZ AR CA CO CT DE FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ NM NY NC ND OH OK "
    "OR PA RI SC SD TN TX UT VT VA WA WV WI WY DC PR GU VI AS MP"
)
US_STATES = frozenset(_STATE_CODES.split(" "))


class CellError(ValueError):
    """A cell that cannot be read, with a message safe for a `RowError` reason: it shows cells only by `show()`."""


def zone(name: str) -> tzinfo:
    """The zone for `IngestOptions.assume_tz`, or an `IngestError` telling the operator what is valid."""
    if name.upper() in _ZONES:
        return _ZONES[name.upper()]
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        message = f"unknown time zone {name!r}: give an IANA name such as 'UTC' or 'America/Los_Angeles'"
        raise IngestError(message) from None


@lru_cache(maxsize=16384)
def parse_time(raw: str, assume: tzinfo) -> datetime:
    """A UTC datetime from a vendor timestamp; `assume` applies when the text names no zone.

    Cached: exports repeat the same Time Frame bounds on many rows.
    """
    match = _US_TIME.fullmatch(raw)
    if match:
        month, day, year, hour, minute, second, fraction, half, zone_text = match.groups()
        hours = int(hour or 0)
        if half:
            if not 1 <= hours <= 12:
                raise ValueError(f"hour {hours} with {half}")
            hours = hours % 12 + (12 if half in ("PM", "pm", "Pm", "pM") else 0)
        micro = int(fraction.ljust(6, "0")) if fraction else 0
        where = _zone_of(zone_text, assume)
        when = datetime(int(year), int(month), int(day), hours, int(minute or 0), int(second or 0), micro, where)
        return _utc_in_range(when)
    text, zone_text = raw, ""
    named = _ISO_ZONE_NAME.fullmatch(raw)
    if named:
        text, zone_text = named.groups()
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        # Python's message quotes the cell, which may hold a plate: callers show its shape instead.
        raise ValueError("not an ISO 8601 timestamp") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=_zone_of(zone_text, assume))
    elif zone_text:
        raise ValueError("two zones")
    return _utc_in_range(when)


def _utc_in_range(when: datetime) -> datetime:
    """`when` in UTC, refused (as the v1 decoder refuses it) when its year is outside the accepted years."""
    problem = time_out_of_range(when)
    if problem is not None:
        raise ValueError(problem)  # the engine's date arithmetic overflows at years 1 and 9999
    return when if when.tzinfo is UTC else when.astimezone(UTC)


def _zone_of(text: str, assume: tzinfo) -> tzinfo:
    if text == "UTC":
        return UTC
    if not text:
        return assume
    named = _ZONES.get(text.upper())
    if named is not None:
        return named
    offset = _OFFSET.fullmatch(text)
    if offset is None:
        raise ValueError("unknown time zone")  # never quote the cell: it may hold a plate
    sign, hours, minutes = offset.groups()
    delta = timedelta(hours=int(hours), minutes=int(minutes or 0))
    return timezone(-delta if sign == "-" else delta)


def is_missing(raw: str) -> bool:
    """Blank, or only dashes (Flock's `——` sentinel and its hand-typed cousins) where a number belongs."""
    return not raw or all(ch in _DASHES for ch in raw)


def parse_count(raw: str) -> int | None:
    """A non-negative count; None for blank, sentinel or redacted cells; ValueError for anything else."""
    if raw.isdecimal() and raw.isascii():
        return int(raw)
    if is_missing(raw) or is_redacted(raw):
        return None
    cleaned = raw.replace(",", "")
    if cleaned.isdecimal() and cleaned.isascii():
        return int(cleaned)
    number = float(cleaned)  # spreadsheets write 12 as "12.0"
    if number < 0 or not number.is_integer():
        raise ValueError("not a non-negative whole number")
    return int(number)


def text(raw: str) -> str | None:
    """A free-text cell, trimmed; None when blank or the `——` sentinel. Redaction markers are kept as given."""
    value = raw.strip()
    return None if not value or value == SENTINEL else value


def digest(*parts: str | None) -> str:
    """A 16-hex-digit content hash: stable across runs, platforms and file formats."""
    joined = "\x1f".join([part or "" for part in parts])
    return hashlib.blake2b(joined.encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()


def natural_id(raw: str) -> str | None:
    """A vendor record id usable inside an event id: short, printable, not a redaction marker."""
    value = raw.strip()
    if not value or len(value) > 80 or " " in value or not value.isprintable() or is_redacted(value):
        return None
    return value


def collapse(raw: str) -> str:
    """Runs of whitespace as one space (event-log user names come with doubled and leading spaces)."""
    return " ".join(raw.split())
