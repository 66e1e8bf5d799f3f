"""v1 JSON lines: one `AccessEvent` per line, decoded by `monitor.events.decode_event`.

This is the `check` hot path, so the loop does nothing per line but read and decode: blank lines, a
leading BOM and over-long lines are looked at only after a decode has failed (or, for the BOM, once).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from functools import partial
from typing import IO, AnyStr, cast

from monitor.events import MAX_EVENT_BYTES, EventError, decode_event

from ._model import IngestOptions, Item, RowError

# Lines are read with a limit, so one runaway line cannot exhaust memory; the rest of it is skipped.
_LIMIT = MAX_EVENT_BYTES + 2
_BODY_LINES = 20  # lines of the head looked at when the first line does not say the format


class JsonLines:
    """v1 access events as JSON lines (blank lines are allowed and skipped)."""

    name = "v1-jsonl"

    def matches(self, header: str) -> bool:
        """The first non-blank character opens a JSON object."""
        return header.lstrip("\ufeff \t\r\n").startswith("{")

    def matches_body(self, head: str) -> bool:
        """The first non-blank line after the first opens a JSON object (checked after every format's header).

        So a bad or odd first line (a stray note, a truncated record) is reported as that line's error
        instead of making the whole file unreadable.
        """
        lines = [line for line in head.splitlines()[1:_BODY_LINES] if line.strip()]
        return bool(lines) and lines[0].lstrip("\ufeff \t").startswith("{")

    def read(self, stream: IO[str] | IO[bytes], path: str, options: IngestOptions) -> Iterator[Item]:
        """Stream events; a line that is not a valid v1 event becomes a `RowError` with the decoder's reason."""
        if isinstance(stream, io.TextIOBase):
            return _lines(cast(IO[str], stream), path)
        return _lines(cast(IO[bytes], stream), path)


def _lines(stream: IO[AnyStr], path: str) -> Iterator[Item]:
    readline: Callable[[], AnyStr] = partial(stream.readline, _LIMIT)
    # Room for a BOM too: else an event at the size limit after one was cut in two invalid lines.
    first = stream.readline(_LIMIT + 3)
    if not first:
        return
    bom: AnyStr = "\ufeff" if isinstance(first, str) else b"\xef\xbb\xbf"
    if first.startswith(bom):
        first = first[len(bom) :]
    item = _decode_or_error(stream, first, 1, path)
    if item is not None:
        yield item
    decode = decode_event
    for number, line in enumerate(iter(readline, first[:0]), 2):
        try:
            yield decode(line)
        except EventError as err:
            failed = _failure(stream, line, number, path, err)
            if failed is not None:
                yield failed


def _decode_or_error(stream: IO[AnyStr], line: AnyStr, number: int, path: str) -> Item | None:
    try:
        return decode_event(line)
    except EventError as err:
        return _failure(stream, line, number, path, err)


def _failure(stream: IO[AnyStr], line: AnyStr, number: int, path: str, err: EventError) -> Item | None:
    """What a line that did not decode stands for: nothing (a blank line), an event, or a `RowError`."""
    if not line.strip():
        return None
    bom: AnyStr = "\ufeff" if isinstance(line, str) else b"\xef\xbb\xbf"
    if line.startswith(bom):  # files joined with `cat` keep each one's BOM: the event after it is still an event
        while line.startswith(bom):  # a loop, not recursion: a line may be nothing but BOMs
            line = line[len(bom) :]
        return _decode_or_error(stream, line, number, path)
    newline: AnyStr = "\n" if isinstance(line, str) else b"\n"
    if len(line) >= _LIMIT and not line.endswith(newline):
        _skip_rest(stream, newline)
        return RowError(path, number, f"oversize: line is longer than the {MAX_EVENT_BYTES}-byte limit")
    if err.reason == "oversize" and len(line.rstrip()) <= MAX_EVENT_BYTES:
        try:  # the limit is on the event, not on its line ending
            return decode_event(line.rstrip())
        except EventError as second:
            err = second
    # The detail is already masked by decode_event (monitor.masking): no value is quoted twice or in clear.
    return RowError(path, number, f"{err.reason}: {err.detail}", field=err.field, event_id=err.event_id)


def _skip_rest(stream: IO[AnyStr], newline: AnyStr) -> None:
    while chunk := stream.readline(_LIMIT):
        if chunk.endswith(newline):
            return
