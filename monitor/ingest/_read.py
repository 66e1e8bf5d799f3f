"""Choosing the adapter for a file, and reading a file (or standard input) as a stream of items."""

from __future__ import annotations

import gzip
import io
import shutil
import sys
import tempfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, cast

from ._flock_audit import FlockNetworkAudit, FlockPortalAudit
from ._flock_events import FlockEventLog
from ._jsonl import JsonLines
from ._lists import FlockSharingGraph, FlockSharingList
from ._model import Adapter, IngestError, IngestOptions, Item, UnknownFormat
from ._pdf import PDF_MAGIC, pdf_header_names, read_pdf
from ._table import XLSX_MAGIC, TableAdapter
from ._vigilant import VigilantSharingReport

ADAPTERS: tuple[Adapter, ...] = (
    JsonLines(),
    FlockPortalAudit(),
    FlockEventLog(),
    FlockSharingGraph(),
    FlockNetworkAudit(),
    FlockSharingList(),
    VigilantSharingReport(),
)
"""Every supported format, in the order detection tries them (the most specific headers first)."""

_BY_NAME = {adapter.name: adapter for adapter in ADAPTERS}
_JSON_LINES = JsonLines()
_GZIP_MAGIC = b"\x1f\x8b"
_HEAD = 64 * 1024
_SPOOL_IN_MEMORY = 32 * 1024 * 1024


def adapter_named(name: str) -> Adapter:
    """The adapter for an explicit format name, or `UnknownFormat` listing the known ones."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise UnknownFormat(f"unknown input format {name!r}; known formats: {', '.join(_BY_NAME)}") from None


def detect_format(path: str | Path, first_bytes: bytes) -> Adapter:
    """The adapter whose header `first_bytes` (the start of the file at `path`) carries.

    XLSX is recognised by its ZIP signature and PDF by `%PDF-`; their header is then read from `path`.
    Gzip-compressed text is looked into. Raises `UnknownFormat` naming the file and the known formats.
    """
    if first_bytes.startswith(_GZIP_MAGIC):
        first_bytes = zlib.decompressobj(wbits=31).decompress(first_bytes, _HEAD)
    if first_bytes.startswith(XLSX_MAGIC):
        with open(path, "rb") as workbook:
            return _detect_xlsx(workbook, str(path))
    if first_bytes.startswith(PDF_MAGIC):
        with open(path, "rb") as document:
            return _detect_pdf(document, str(path))
    head = _without_blank_lines(first_bytes.decode("utf-8", errors="replace"))
    for adapter in ADAPTERS:
        if adapter.matches(head):
            return adapter
    if _JSON_LINES.matches_body(head):
        return _JSON_LINES  # a bad first line is that line's error, not a reason to refuse the file
    raise UnknownFormat(f"{path}: the first line is not a header of any known format; pass the format "
                        f"explicitly, one of: {', '.join(_BY_NAME)}")  # fmt: skip


def _without_blank_lines(head: str) -> str:
    """The head from its first line holding more than a BOM and spaces: leading blank lines say no format."""
    lines = head.splitlines(keepends=True)
    for number, line in enumerate(lines):
        if line.strip("\ufeff \t\r\n"):
            return "".join(lines[number:])
    return ""


def _detect_xlsx(stream: IO[bytes], path: str) -> Adapter:
    import openpyxl  # only XLSX input needs it

    try:
        book = openpyxl.load_workbook(stream, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a damaged workbook
        raise IngestError(f"{path}: not a readable XLSX workbook ({exc})") from None
    try:
        for sheet in book.worksheets:
            for row in sheet.iter_rows(min_row=1, max_row=20, values_only=True):
                cells = ["" if value is None else str(value) for value in row]
                if any(cells):
                    header = ",".join(f'"{cell}"' for cell in cells)
                    found = [adapter for adapter in ADAPTERS if adapter.matches(header)]
                    if found:
                        return found[0]
                    break
    finally:
        book.close()
    raise UnknownFormat(f"{path}: no worksheet has a header of a known format; pass the format explicitly, "
                        f"one of: {', '.join(_BY_NAME)}")  # fmt: skip


def _detect_pdf(stream: IO[bytes], path: str) -> Adapter:
    """The table adapter whose columns the header row on the PDF's first page of text names."""
    names = pdf_header_names(stream, path)
    for adapter in ADAPTERS:
        if isinstance(adapter, TableAdapter) and names and adapter.accepts(names):
            return adapter
    raise UnknownFormat(f"{path}: a PDF without the table header of a search audit on its first pages; "
                        f"pass the format explicitly, one of: {', '.join(_BY_NAME)}")  # fmt: skip


def read_events(path: str | Path, fmt: str | None = None, options: IngestOptions | None = None) -> ClosingItems:
    """Stream the items (events, row errors, skipped records) of one file; `"-"` reads standard input.

    The format is `fmt` when given, else detected from the header. The file is opened, the format chosen
    and the header checked at once (raising `IngestError` subclasses); rows are read as the iterator is
    consumed, and the file is closed when it is exhausted or `close()`d. Gzip-compressed input is read as is;
    XLSX and PDF from standard input are first copied to a temporary file (both need random access).
    """
    chosen = adapter_named(fmt) if fmt is not None else None
    options = options or IngestOptions()
    stdin = str(path) == "-"
    label = "<stdin>" if stdin else str(path)
    stream: IO[bytes] = _open(path, label)
    opened = [] if stdin else [stream]  # closed in reverse when the items are done (never standard input)
    try:
        head = _peek(stream)
        if head.startswith(_GZIP_MAGIC):
            stream = io.BufferedReader(cast(io.RawIOBase, gzip.GzipFile(fileobj=stream, mode="rb")), _HEAD)
            opened.append(stream)
            head = _peek(stream)
        if head.startswith((XLSX_MAGIC, PDF_MAGIC)) and not stream.seekable():
            stream = _spooled(stream)
            opened.append(stream)
        items = _items(stream, label, head, chosen, options)
    except _DAMAGED as exc:
        _close(opened)
        raise _damaged(label, exc) from None
    except BaseException:
        _close(opened)
        raise
    return ClosingItems(items, opened, label)


# What a damaged or cut-short gzip stream raises, at any read: the file's fault, not a reader bug.
_DAMAGED = (EOFError, zlib.error, gzip.BadGzipFile)


def _damaged(label: str, exc: BaseException) -> IngestError:
    return IngestError(f"{label}: damaged or incomplete compressed data ({type(exc).__name__})")


def _items(
    stream: IO[bytes], label: str, head: bytes, chosen: Adapter | None, options: IngestOptions
) -> Iterator[Item]:
    if not head:  # an empty file has no records, whatever its format
        return iter(())
    if head.startswith(PDF_MAGIC):
        if chosen is None:
            chosen = _detect_pdf(stream, label)
            stream.seek(0)
        if not isinstance(chosen, TableAdapter):
            raise UnknownFormat(f"{label}: a PDF can only be read as a search audit table, not as {chosen.name}")
        return read_pdf(chosen, stream, label, options)
    if chosen is None:
        if head.startswith(XLSX_MAGIC):
            chosen = _detect_xlsx(stream, label)
            stream.seek(0)
        else:
            chosen = detect_format(label, head)
    return chosen.read(stream, label, options)


def _peek(stream: IO[bytes]) -> bytes:
    return cast(io.BufferedReader, stream).peek(_HEAD)[:_HEAD]


def _open(path: str | Path, label: str) -> IO[bytes]:
    if str(path) == "-":
        buffer = sys.stdin.buffer
        return buffer if hasattr(buffer, "peek") else io.BufferedReader(cast(io.RawIOBase, buffer), _HEAD)
    try:
        return open(path, "rb", buffering=_HEAD)  # closed by ClosingItems, or on error
    except OSError as exc:
        raise IngestError(f"{label}: cannot be opened ({exc.strerror})") from None


def _spooled(stream: IO[bytes]) -> IO[bytes]:
    spool = tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY)  # noqa: SIM115 - handed to the caller
    shutil.copyfileobj(stream, spool)
    spool.seek(0)
    return cast(IO[bytes], spool)


class ClosingItems(Iterator[Item]):
    """The items of one file; its streams close when the items end, fail, or `close()` is called.

    A class, not a generator: `close()` on a generator that never started skips its `finally`, so a file
    checked and put aside kept its descriptor until garbage collection.
    """

    def __init__(self, items: Iterator[Item], opened: list[IO[bytes]], label: str) -> None:
        self._items = items
        self._opened = opened
        self._label = label

    def __next__(self) -> Item:
        try:
            return next(self._items)
        except StopIteration:
            self.close()
            raise
        except _DAMAGED as exc:  # the records before it were read; the rest of the file cannot be
            self.close()
            raise _damaged(self._label, exc) from None
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        close = getattr(self._items, "close", None)
        if close is not None:
            close()
        _close(self._opened)
        self._opened = []


def _close(opened: list[IO[bytes]]) -> None:
    for stream in reversed(opened):
        stream.close()


def known_formats() -> list[str]:
    """The names `read_events(fmt=...)` accepts."""
    return list(_BY_NAME)


__all__ = ["ADAPTERS", "ClosingItems", "adapter_named", "detect_format", "known_formats", "read_events"]
