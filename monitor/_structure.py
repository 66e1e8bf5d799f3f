"""What a JSON reader does not check: nesting depth and duplicate keys, with the path where it went wrong.

Run on text that a JSON reader has already accepted (or, after the reader gave up on depth, on the part
it had read), so the string pattern below always finds each string's real end and the scan is linear.
Most events never reach the scan: `looks_plain` proves, with two C-speed passes, that the text nests
shallowly and repeats no key, and only text it cannot vouch for is scanned token by token.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass

import msgspec

from monitor.masking import shape

__all__ = ["Problem", "find_problem", "looks_plain"]

# A string (group 1 says it is followed by a colon: an object key), or a bracket, or a comma.
_TOKEN = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"(\s*:)?|[{}\[\],]')
_SPACE = b" \t\r\n"
_SHOWN_LEVELS = 8
_loose_decoder = msgspec.json.Decoder()
_encoder = msgspec.json.Encoder()


@dataclass(frozen=True, slots=True)
class Problem:
    """Why the text is refused (`detail`), where (`field`, a JSON path), and the event id if read before it."""

    reason: str
    detail: str
    field: str
    event_id: str | None


def looks_plain(raw: bytes, max_depth: int) -> bool:
    """True only when `raw` (valid JSON) certainly nests at most `max_depth` levels and repeats no key.

    Depth: fewer opening brackets than the limit cannot nest that deep. Keys, without a backslash in the
    text: no string holds a quote, so every quote delimits a string, and the decoded value re-encoded has
    the same strings less those of any key lost to a duplicate (and of the value it overwrote); equal
    quote counts prove nothing was lost. With backslashes: with whitespace removed, every key ends in
    `":` and only escaped quotes can add to that count, so a count equal to the keys the decoded objects
    kept proves the same. Text the counts cannot vouch for goes to the exact scan.
    """
    if raw.count(b"{") + raw.count(b"[") > max_depth:
        return False
    try:
        value = _loose_decoder.decode(raw)
    except (msgspec.DecodeError, RecursionError, UnicodeDecodeError):
        return False
    if b"\\" not in raw:
        return raw.count(b'"') == _encoder.encode(value).count(b'"')
    return raw.translate(None, _SPACE).count(b'":') == _count_keys(value)


def _count_keys(value: object) -> int:
    """Keys in every object of a decoded value (a plain loop: it runs on events with escapes)."""
    count = 0
    pending = [value]
    while pending:
        item = pending.pop()
        if type(item) is dict:
            count += len(item)
            pending.extend([child for child in item.values() if type(child) is dict or type(child) is list])
        elif type(item) is list:
            pending.extend([child for child in item if type(child) is dict or type(child) is list])
    return count


class _Level:
    __slots__ = ("index", "is_object", "key", "keys")

    def __init__(self, is_object: bool) -> None:
        self.is_object = is_object
        self.keys: set[str] = set()
        self.key: str | None = None
        self.index = 0


def _segment(level: _Level, known: Collection[str]) -> str:
    if not level.is_object:
        return f"[{level.index}]"
    if level.key is None:
        return ""
    name = level.key
    return f".{name}" if name in known else f".<{shape(name)}>"


def _path(levels: list[_Level], known: Collection[str]) -> str:
    segments = [_segment(level, known) for level in levels[1:]]
    if len(segments) > _SHOWN_LEVELS:
        segments = [*segments[:_SHOWN_LEVELS], "…"]
    return "$" + "".join(segments)


def _text(token: bytes) -> str | None:
    """A JSON string token's text (escapes resolved), or None if it cannot be read."""
    try:
        value = msgspec.json.decode(token)
    except (msgspec.DecodeError, UnicodeDecodeError):
        return None
    return value if isinstance(value, str) else None


def find_problem(raw: bytes, max_depth: int, known: Collection[str], id_key: str) -> Problem | None:
    """The first object or array nested deeper than `max_depth`, or the first key repeated in its object.

    Unknown keys in the path are shown by their shape (`known` names are shown as they are): a key may be
    any text, including a plate. The top-level `id_key` string is read on the way, to name the record.
    """
    levels: list[_Level] = [_Level(is_object=False)]  # a root that holds the top-level value
    event_id: str | None = None
    expect_id = False
    for match in _TOKEN.finditer(raw):
        token = match.group()
        first = token[0]
        level = levels[-1]
        if first == 0x22:  # a string
            if match.group(1) is not None:  # a key, compared decoded: "é" and "\u00e9" are the same key
                quoted = token[: token.rindex(b'"') + 1]
                key = _text(quoted) or repr(quoted)
                if key in level.keys:
                    level.key = key
                    return Problem(
                        "invalid_field",
                        "the same key appears twice in one object; JSON readers disagree on which one counts",
                        _path(levels, known),
                        event_id,
                    )
                level.keys.add(key)
                level.key = key
                expect_id = len(levels) == 2 and key == id_key
            elif expect_id:
                value = _text(token)
                if value is not None and 0 < len(value) <= 128:
                    event_id = value
                expect_id = False
        elif first in b"{[":
            expect_id = False
            if len(levels) > max_depth:
                detail = f"nested deeper than {max_depth} levels of objects and arrays"
                return Problem("invalid_json", detail, _path(levels, known), event_id)
            levels.append(_Level(is_object=first == 0x7B))
        elif first in b"}]":
            expect_id = False
            if len(levels) > 1:
                levels.pop()
        else:  # a comma: the next array element
            expect_id = False
            if not level.is_object:
                level.index += 1
    return None
