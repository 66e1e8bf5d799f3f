"""Tabular exports (CSV, XLSX) as a stream of records with physical line numbers, and the adapter base for them.

CSV is read with the `csv` module, so quoted cells may span lines (Flock's two-line Time Frame); a record's
line is the physical line it starts on. XLSX is read with openpyxl in read-only mode (it streams rows);
a record's line is its spreadsheet row. Bytes that are not valid in the chosen encoding make that record a
`RowError` (`invalid_encoding`) rather than stopping the file.
"""

from __future__ import annotations

import contextlib
import csv
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import IO, TypeAlias, cast

from monitor.events import Owner

from ._model import BadHeader, IngestError, IngestOptions, Item, MissingOption, RowError, Skipped
from ._values import show, zone

XLSX_MAGIC = b"PK\x03\x04"

Record: TypeAlias = tuple[int, int, list[str]]
"""(first physical line, last physical line, cells)."""

RowParser: TypeAlias = Callable[[int, int, list[str]], Item | list[Item]]

_LONE_SURROGATE = re.compile("[\udc80-\udcff]")


@dataclass(slots=True)
class Sheet:
    """One table: a CSV file, or one worksheet of a workbook."""

    label: str
    header: list[str] | None
    header_line: int
    records: Iterator[Record | RowError]
    optional: bool = False  # one worksheet of several: skipped when it is not this format (a summary sheet)
    padded: bool = False  # a workbook leaves trailing blank cells out: short rows are padded, not malformed


def column_name(cell: str) -> str:
    """A header cell compared loosely: BOM, leading spaces (Flock writes ` Name`), case and inner runs ignored."""
    return " ".join(cell.replace("\ufeff", "").split()).lower()


def header_names(header: str) -> list[str]:
    """The column names on the first non-blank line of `header` (text of the file's start)."""
    for line in header.splitlines():
        if line.strip():
            try:
                cells = next(csv.reader([line]))
            except (csv.Error, StopIteration):
                return []
            return [column_name(cell) for cell in cells]
    return []


def sniff(stream: IO[str] | IO[bytes], size: int = 4) -> bytes:
    """The first bytes of a binary stream without consuming them (empty for text or unpeekable streams)."""
    peek = getattr(stream, "peek", None)
    if peek is not None:
        return cast(bytes, peek(size))[:size]
    if isinstance(stream, io.TextIOBase) or not stream.seekable():
        return b""
    position = stream.tell()
    head = stream.read(size)
    stream.seek(position)
    return head if isinstance(head, bytes) else b""


def open_sheets(stream: IO[str] | IO[bytes], path: str, encoding: str) -> Iterator[Sheet]:
    """The tables in a CSV or XLSX stream (XLSX is recognised by its ZIP signature)."""
    if sniff(stream) == XLSX_MAGIC:
        return _xlsx_sheets(cast(IO[bytes], stream), path)
    return iter((_csv_sheet(stream, path, encoding),))


class _BorrowedText(io.TextIOWrapper):
    """A text view that leaves the binary stream open: whoever opened the stream closes it."""

    def close(self) -> None:
        """Let go of the binary stream without closing it (also what garbage collection calls)."""
        with contextlib.suppress(ValueError):  # already detached
            self.detach()


def text_stream(stream: IO[str] | IO[bytes], encoding: str) -> IO[str]:
    """A text view of `stream`: undecodable bytes become lone surrogates so each bad record can be reported."""
    if isinstance(stream, io.TextIOBase):
        return cast(IO[str], stream)
    if encoding.lower().replace("_", "-") in ("utf-8", "utf8"):
        encoding = "utf-8-sig"
    return _BorrowedText(cast(IO[bytes], stream), encoding=encoding, errors="surrogateescape", newline="")


def _csv_sheet(stream: IO[str] | IO[bytes], path: str, encoding: str) -> Sheet:
    records = _csv_records(text_stream(stream, encoding), path)
    for record in records:
        if isinstance(record, RowError):
            raise IngestError(f"{path}: the header line cannot be read ({record.reason}); is this a CSV export?")
        if not any(cell.strip() for cell in record[2]):
            continue  # a line of spaces before the header, as detection also skips it
        return Sheet(path, record[2], record[0], records)
    return Sheet(path, None, 0, records)


def _csv_records(lines: IO[str], label: str) -> Iterator[Record | RowError]:
    reader = csv.reader(lines)
    end = 0
    while True:
        try:
            for cells in reader:
                start, end = end + 1, reader.line_num
                if not cells:
                    continue
                if not all(map(str.isascii, cells)) and any(_LONE_SURROGATE.search(cell) for cell in cells):
                    reason = "invalid_encoding: bytes not valid in the file's encoding (set the encoding option)"
                    yield RowError(label, start, reason)
                    continue
                yield start, end, cells
            return
        except csv.Error as exc:
            start, end = end + 1, reader.line_num
            yield RowError(label, start, f"unparseable: {exc}")


def _xlsx_sheets(stream: IO[bytes], path: str) -> Iterator[Sheet]:
    import openpyxl  # imported here: only XLSX input needs it

    try:
        book = openpyxl.load_workbook(stream, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a damaged workbook
        raise IngestError(f"{path}: not a readable XLSX workbook ({exc})") from None
    try:
        sheets = book.worksheets
        for sheet in sheets:
            label = path if len(sheets) == 1 else f"{path}#{sheet.title}"
            rows = _xlsx_records(sheet.iter_rows(min_row=1, values_only=True))
            header: list[str] | None = None
            header_line = 0
            for record in rows:
                header_line, _, header = record
                break
            yield Sheet(label, header, header_line, rows, optional=len(sheets) > 1, padded=True)
    finally:
        book.close()


def _xlsx_records(rows: Iterator[tuple[object, ...]]) -> Iterator[Record]:
    for number, values in enumerate(rows, 1):
        cells = [_cell(value) for value in values]
        while cells and not cells[-1]:
            cells.pop()
        if cells:
            yield number, number, cells


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date | time):
        return value.isoformat()
    return str(value)


def require_owner(adapter: str, path: str, options: IngestOptions) -> Owner:
    """The configured owner, or `MissingOption` naming the file."""
    if options.owner is None:
        raise MissingOption(f"{path}: a {adapter} export does not say whose ALPR data it is; give the owner option")
    return options.owner


class TableAdapter:
    """Base for CSV/XLSX adapters: header check, row-shape checks, and one `RowParser` per table."""

    name = "table"
    needs_owner = False  # the export does not say whose data it is: the owner option must
    zoneless_times = False  # timestamps carry no zone: the assume_tz option must name a real one

    def accepts(self, names: list[str]) -> bool:
        """Whether a table with these (normalised) column names is this format."""
        raise NotImplementedError

    def parser(self, names: list[str], label: str, options: IngestOptions) -> RowParser:
        """A function from one record to its items; raises `IngestError` when the table cannot be used."""
        raise NotImplementedError

    def check_options(self, path: str, options: IngestOptions) -> None:
        """Raise `MissingOption` when the options lack what this format needs (before any row is read)."""
        if self.needs_owner:
            require_owner(self.name, path, options)
        if self.zoneless_times:
            zone(options.assume_tz)

    def matches(self, header: str) -> bool:
        """Whether the first line of `header` is this format's header."""
        return self.accepts(header_names(header))

    def read(self, stream: IO[str] | IO[bytes], path: str, options: IngestOptions) -> Iterator[Item]:
        """Stream the items of one file; the header is checked at once, rows as they are consumed."""
        self.check_options(path, options)
        sheets = open_sheets(stream, path, options.encoding)
        first = next(sheets, None)
        if first is None:
            return iter(())
        parse = self._table_parser(first, options)
        return self._items(first, parse, sheets, options)

    def _table_parser(self, sheet: Sheet, options: IngestOptions) -> RowParser | None:
        if sheet.header is None:
            return None
        names = [column_name(cell) for cell in sheet.header]
        if not self.accepts(names):
            if sheet.optional:
                return None
            # By shape only: a file without a header line has a record there, with plates and names.
            shown = ", ".join(show(cell.strip()) for cell in sheet.header[:8])
            message = f"{sheet.label}: header ({shown}) is not a {self.name} header; check the format option"
            raise BadHeader(message)
        return self.parser(names, sheet.label, options)

    def _items(
        self, first: Sheet, parse: RowParser | None, more: Iterator[Sheet], options: IngestOptions
    ) -> Iterator[Item]:
        sheet: Sheet | None = first
        used = 0
        while sheet is not None:
            if parse is not None:
                used += 1
                yield from _rows(sheet, parse)
            elif sheet.header is not None:
                yield Skipped(sheet.label, sheet.header_line, f"worksheet is not a {self.name} table")
            sheet = next(more, None)
            if sheet is not None:
                parse = self._table_parser(sheet, options)
        if not used and first.optional:
            raise BadHeader(f"{first.label}: neither this nor any other worksheet has a {self.name} header")


def _rows(sheet: Sheet, parse: RowParser) -> Iterator[Item]:
    header = sheet.header or []
    width = len(header)
    label = sheet.label
    for record in sheet.records:
        if isinstance(record, RowError):
            yield record
            continue
        start, end, cells = record
        if not any(cells):
            yield Skipped(label, start, "blank row")
            continue
        if len(cells) < width and sheet.padded:
            cells += [""] * (width - len(cells))
        if len(cells) != width:
            if len(cells) < width or any(cell.strip() for cell in cells[width:]):
                span = f" (record runs to line {end}: an unbalanced quote?)" if end - start > 2 else ""
                yield RowError(label, start, f"bad_row: {len(cells)} cells where the header has {width}{span}")
                continue
            cells = cells[:width]
        if cells == header:
            yield Skipped(label, start, "repeated header row")
            continue
        out = parse(start, end, cells)
        if type(out) is list:
            yield from out
        else:
            yield cast(Item, out)
