"""Search audits printed to PDF, as records requests deliver them: one table over many pages, read page by page.

A records office opens the vendor's CSV in a spreadsheet and prints it: the header row repeats on each page,
long cells wrap over several lines (Flock's two-line Time Frame becomes three or four), and a row may be split
by a page break. The text layer (characters with their boxes) and the drawn rules are read with pypdfium2
(PDFium, the PDF engine of Chromium), one page at a time: only the current page and one unfinished record stay
in memory, whatever the length of the document.

How a page becomes records:
- Lines: characters grouped by their baseline position.
- Columns: the header row is found by its words (the format's column names, compared like CSV headers; a
  name may wrap inside its cell) and each column starts at its header's left edge; where the table has
  vertical rules, the boundary is the rule just left of the header. A page without a header reuses the last one.
- Records: where the table has horizontal rules (cell borders), each band between two rules is a row.
  Without rules, a row starts at each line whose anchor cell (the search time) starts a timestamp, so
  cells are assumed top-aligned.
- A row at the top of a page with neither an ID nor a search time continues the last row of the page
  before (a row split by a page break). Wrapped lines of a cell are joined with a space, without one in
  identifier, count and search-type columns and after a hyphen that ends a word (`4a9d-` + `33a0`). A word
  that a column too narrow for it broke without a hyphen (`17:33:43.67` + `7`) cannot be told from two words:
  it is joined with a space, and the row parser then reports the cell (page and line), never drops the row.
- Text above the header and below the table (titles, `Page 3 of 9`) is page furniture, not records. Pages
  before the first header (a cover letter, within the first five pages) are each reported as `Skipped`.

Every rebuilt row goes to the format's row parser, so a PDF row gives the same event (and the same event
id) as the CSV row it was printed from. A row that cannot be rebuilt (text outside every column, a
continuation with nothing to continue) is a `RowError` naming the page and the line on it; errors found by
the row parser name them too: the file is reported as `<path> page <n>`, the line as the text line on that page.
"""

from __future__ import annotations

import ctypes
import re
from bisect import bisect_right
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import IO, Any

from ._model import BadHeader, IngestError, IngestOptions, Item, RowError, Skipped
from ._table import RowParser, TableAdapter, column_name

PDF_MAGIC = b"%PDF-"

__all__ = ["PDF_MAGIC", "pdf_header_names", "read_pdf"]

_COVER_PAGES = 5  # the table's header is looked for on this many pages (a cover letter may come first)
_HEADER_SEARCH_LINES = 25  # the header is among the first lines of a page (below a title, if any)
_CLOSE_COLUMNS = ("id", "total networks searched", "total devices searched", "cameracount", "search type", "userid")
_ANCHORS = ("search time", "searchdate")
_IDS = ("id",)
_DATE_START = re.compile(r"\d{1,2}/\d{1,2}/\d{4}|\d{4}-\d{2}-\d{2}")
_LINE_END_HYPHENS = {"\ufffe": "-", "\x02": "-"}  # PDFium's marks for a hyphen that ends a line: it is a "-"
_FURNITURE_GAP = 3.0  # a gap of this many line heights below the table ends it (a footer follows)
_ROW_COLUMNS = 4  # text starting at this many columns' left edges makes a line a table row, not a title

# Column names the PDF header is matched against: the search audits' columns (CSV names, normalised).
KNOWN_COLUMNS: tuple[str, ...] = (
    "id", "name", "org name", "total networks searched", "total devices searched", "time frame",
    "license plate", "reason", "case #", "filters", "search time", "search type", "text prompt", "moderation",
    "offense type", "userid", "searchdate", "cameracount",
)  # fmt: skip
_NAME_WORDS = [tuple(name.split()) for name in KNOWN_COLUMNS]


@dataclass(slots=True)
class _Line:
    """One text line of a page: its characters left to right and its vertical extent."""

    number: int  # 1-based among the page's text lines
    top: float
    bottom: float
    chars: list[dict[str, Any]]

    @property
    def middle(self) -> float:
        return (self.top + self.bottom) / 2


@dataclass(slots=True)
class _Row:
    """A table row being rebuilt: each column's text lines, and where on which page it started."""

    page: int
    first: int
    last: int
    lines: list[list[str]]
    opens_page: bool = False  # the first row under the page's header

    def extend(self, other: _Row) -> None:
        for mine, theirs in zip(self.lines, other.lines, strict=True):
            mine.extend(theirs)


@dataclass(slots=True)
class _Layout:
    """The table's columns: names and left boundaries (x), from a header row."""

    names: list[str]
    lefts: list[float]
    header_top: float = 0.0
    header_bottom: float = 0.0
    join: list[str] = field(default_factory=list)

    def column(self, x: float) -> int:
        """The column at `x`, or -1 left of the first."""
        return bisect_right(self.lefts, x) - 1


# -- characters into lines and words --------------------------------------------------------------


def _lines(chars: Sequence[dict[str, Any]]) -> list[_Line]:
    """Characters grouped into lines by vertical position (a tolerance of a third of the font size)."""
    ordered = sorted((c for c in chars if c["text"].strip()), key=lambda c: (round(c["top"], 1), c["x0"]))
    lines: list[_Line] = []
    for char in ordered:
        if lines and abs(char["top"] - lines[-1].top) <= max(char["size"], 1.0) / 3:
            line = lines[-1]
            line.chars.append(char)
            line.bottom = max(line.bottom, char["bottom"])
        else:
            lines.append(_Line(len(lines) + 1, char["top"], char["bottom"], [char]))
    for line in lines:
        line.chars.sort(key=lambda c: c["x0"])
    return lines


def _words(chars: Sequence[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Characters (left to right, one line) split into words at gaps wider than a fifth of the font size."""
    words: list[list[dict[str, Any]]] = []
    previous: dict[str, Any] | None = None
    for char in chars:
        if previous is None or char["x0"] - previous["x1"] > max(char["size"], 1.0) / 5:
            words.append([char])
        else:
            words[-1].append(char)
        previous = char
    return words


def _text(chars: Sequence[dict[str, Any]]) -> str:
    return " ".join("".join(c["text"] for c in word) for word in _words(chars))


# -- the header -----------------------------------------------------------------------------------


def _name_prefixes(words: Sequence[str]) -> bool:
    """Whether `words` start at least one known column name."""
    count = len(words)
    return any(name[:count] == tuple(words) for name in _NAME_WORDS if len(name) >= count)


def _header_cells(line: _Line) -> list[tuple[float, list[str]]] | None:
    """The first header line split into cells (left edge, words), greedily by known column-name prefixes.

    Two cells whose text touches (`ModerationOffense`) are split where a known name's word ends.
    """
    cells: list[tuple[float, list[str]]] = []

    def fits(piece: str) -> str | None:
        if cells and _name_prefixes([*cells[-1][1], piece]):
            return "same"
        return "new" if _name_prefixes([piece]) else None

    for word in _words(line.chars):
        text = "".join(c["text"] for c in word)
        start = 0
        while start < len(text):
            end = next((end for end in range(len(text), start, -1) if fits(column_name(text[start:end]))), None)
            if end is None:
                return None
            piece = column_name(text[start:end])
            if fits(piece) == "same":
                cells[-1][1].append(piece)
            else:
                cells.append((word[start]["x0"], [piece]))
            start = end
    return cells if len(cells) >= 3 else None


def _find_header(lines: list[_Line], edges: Sequence[dict[str, Any]] = ()) -> tuple[_Layout, int] | None:
    """The header among the first lines: its layout and the index of the first line below it."""
    for index, line in enumerate(lines[:_HEADER_SEARCH_LINES]):
        cells = _header_cells(line)
        if cells is None:
            continue
        lefts = [left for left, _ in cells]
        words = [list(parts) for _, parts in cells]
        layout = _Layout([], lefts)
        ruled = _snap(layout, _verticals(edges, line.bottom))
        below = index + 1
        # Wrapped header names: following lines whose every word extends an unfinished name in its column.
        while below < len(lines):
            columns: dict[int, list[str]] = {}
            for word in _words(lines[below].chars):
                # Between rules a centred word counts by its middle; without rules, names are left-aligned.
                x = (word[0]["x0"] + word[-1]["x1"]) / 2 if ruled else word[0]["x0"] + 0.5
                columns.setdefault(layout.column(x), []).append(column_name("".join(c["text"] for c in word)))
            if -1 in columns or not all(_name_prefixes([*words[i], *more]) for i, more in columns.items()):
                break
            for i, more in columns.items():
                words[i].extend(more)
            below += 1
        names = [" ".join(parts) for parts in words]
        if all(name in KNOWN_COLUMNS for name in names):
            layout.names = names
            layout.header_top = line.top
            layout.header_bottom = lines[below - 1].bottom
            layout.join = ["" if name in _CLOSE_COLUMNS else " " for name in names]
            return layout, below
    return None


def _snap(layout: _Layout, verticals: list[float]) -> bool:
    """Move each column boundary to the vertical rule just left of its header, when the table has rules."""
    if not verticals:
        return False
    snapped = []
    for i, left in enumerate(layout.lefts):
        floor = layout.lefts[i - 1] if i else float("-inf")
        rules = [x for x in verticals if floor < x <= left + 0.5]
        snapped.append(max(rules) if rules else left - 0.5)
    layout.lefts = snapped
    return True


# -- rows -----------------------------------------------------------------------------------------


def _cells(line: _Line, layout: _Layout) -> tuple[list[str], bool]:
    """A line's text per column; and whether some text lies left of the first column."""
    per_column: list[list[dict[str, Any]]] = [[] for _ in layout.names]
    outside = False
    for char in line.chars:
        index = layout.column((char["x0"] + char["x1"]) / 2)
        if index < 0:
            outside = True
            continue
        per_column[index].append(char)
    return [_text(chars) for chars in per_column], outside


def _joined(lines: list[str], join: str) -> str:
    text = ""
    for line in lines:
        if not line:
            continue
        if not text:
            text = line
        elif join == "" or (text.endswith("-") and len(text) > 1 and not text[-2].isspace()):
            text += line
        else:
            text += join + line
    return text


def _aligned_columns(line: _Line, layout: _Layout) -> int:
    """In how many columns a word of the line starts at the column's left edge (cells do; a title's words flow)."""
    starts = {
        layout.column(word[0]["x0"])
        for word in _words(line.chars)
        if 0 <= word[0]["x0"] - layout.lefts[max(layout.column(word[0]["x0"]), 0)] <= 1.2 * word[0]["size"]
    }
    return len(starts)


def _header_height(lines: list[_Line], below: int, layout: _Layout) -> int:
    """How many lines the header row took (its name lines end at index `below`)."""
    count = 0
    while count < below and lines[below - 1 - count].bottom > layout.header_top - 0.1:
        count += 1
    return count


def _continues(row: _Row, layout: _Layout) -> bool:
    """Whether the first row of a page is the rest of a row a page break split: its search time does not
    start a timestamp, and it has no ID or some search-time text (the time's last line: `UTC`)."""
    anchor = [line for i, name in enumerate(layout.names) if name in _ANCHORS for line in row.lines[i]]
    ident = [line for i, name in enumerate(layout.names) if name in _IDS for line in row.lines[i]]
    if anchor and _DATE_START.match(anchor[0]):
        return False
    return not ident or bool(anchor)


class _PageReader:
    """Turns one page's characters and rules into rows, given the layout from its header or an earlier page."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.layout: _Layout | None = None

    def rows(
        self, number: int, chars: list[dict[str, Any]], edges: list[dict[str, Any]]
    ) -> Iterator[_Row | RowError | Skipped]:
        where = f"{self.label} page {number}"
        lines = _lines(chars)
        found = _find_header(lines, edges)
        start = 0
        if found is not None:
            self.layout, start = found
        layout = self.layout
        if layout is None:
            if lines:  # a cover letter or a title page: not the table, and said so
                yield Skipped(where, lines[0].number, "page before the table's first header (a cover page?)")
            return
        if found is not None:
            # Above the header is a title; a line with text in several columns there is a row, never dropped.
            for line in lines[: start - _header_height(lines, start, layout)]:
                if _aligned_columns(line, layout) >= _ROW_COLUMNS:
                    yield RowError(where, line.number, "bad_row: table cells above the page's header row")
        body = lines[start:]
        top = layout.header_bottom if found is not None else (body[0].top - 1 if body else 0.0)
        rules = _horizontals(edges, top, layout.lefts[0])
        if rules:
            # Vertical rules reach the table's foot, also under a row split by the page break (no rule closes it).
            verticals = [e for e in edges if e["orientation"] == "v" and e["bottom"] > top]
            foot = max((e["bottom"] for e in verticals), default=rules[-1])
            # ... and start at its head, also over a row continued from the page before (no rule opens it).
            head = min((e["top"] for e in verticals), default=rules[0])
            rows = self._ruled(number, body, layout, rules, (min(head, rules[0]), max(foot, rules[-1])), where)
        else:
            rows = self._anchored(number, body, layout, where)
        first = True
        for row in rows:
            if first and isinstance(row, _Row):
                row.opens_page, first = True, False
            yield row

    def _row(self, number: int, lines: list[_Line], layout: _Layout, where: str) -> _Row | RowError:
        row = _Row(number, lines[0].number, lines[-1].number, [[] for _ in layout.names])
        for line in lines:
            texts, outside = _cells(line, layout)
            if outside:
                return RowError(where, line.number, "bad_row: text left of the table's first column")
            for column, text in zip(row.lines, texts, strict=True):
                if text:
                    column.append(text)
        return row

    def _ruled(
        self, number: int, body: list[_Line], layout: _Layout, rules: list[float], span: tuple[float, float], where: str
    ) -> Iterator[_Row | RowError]:
        head, foot = span
        bands: dict[int, list[_Line]] = {}
        for line in body:
            band = bisect_right(rules, line.middle)
            if not head < line.middle < foot:  # above or below the table's rules: page furniture
                continue
            bands.setdefault(band, []).append(line)
        for band in sorted(bands):
            yield self._row(number, bands[band], layout, where)

    def _anchored(self, number: int, body: list[_Line], layout: _Layout, where: str) -> Iterator[_Row | RowError]:
        anchors = [i for i, name in enumerate(layout.names) if name in _ANCHORS]
        group: list[_Line] = []
        pitch = _pitch(body)
        previous: _Line | None = None
        for line in body:
            if previous is not None and line.top - previous.bottom > _FURNITURE_GAP * pitch:
                break  # a footer below the table
            texts, _ = _cells(line, layout)
            starts = any(_DATE_START.match(texts[i]) for i in anchors)
            if starts and group:
                yield self._row(number, group, layout, where)
                group = []
            group.append(line)
            previous = line
        if group:
            yield self._row(number, group, layout, where)


def _pitch(lines: list[_Line]) -> float:
    heights = sorted(line.bottom - line.top for line in lines)
    return heights[len(heights) // 2] if heights else 10.0


def _verticals(edges: Sequence[dict[str, Any]], below: float) -> list[float]:
    """x of vertical rules that reach into the table body."""
    return sorted({round(e["x0"], 1) for e in edges if e["orientation"] == "v" and e["bottom"] > below + 1})


def _horizontals(edges: list[dict[str, Any]], top: float, left: float) -> list[float]:
    """y of horizontal rules below `top` that run across most of the table (row borders)."""
    spans: dict[float, float] = {}
    right = max((e["x1"] for e in edges if e["orientation"] == "h"), default=left)
    for edge in edges:
        if edge["orientation"] == "h" and edge["top"] > top - 1:
            key = round(edge["top"], 0)
            spans[key] = spans.get(key, 0.0) + (edge["x1"] - edge["x0"])
    width = max(right - left, 1.0)
    return sorted(y for y, span in spans.items() if span >= width / 2)


# -- the document ---------------------------------------------------------------------------------


def _open(stream: IO[bytes], path: str) -> Any:
    import pypdfium2  # only PDF input needs it

    try:
        return pypdfium2.PdfDocument(stream)
    except Exception as exc:  # PDFium reports a damaged file as PdfiumError
        raise IngestError(f"{path}: not a readable PDF ({type(exc).__name__})") from None


def _let_go(pdf: Any) -> None:
    """Close the document's PDFium handle; the stream belongs to the caller."""
    pdf.close()


def _page_chars(page: Any) -> list[dict[str, Any]]:
    """The page's characters with their font-box positions (top-left origin, like the page is read)."""
    import pypdfium2.raw as pdfium_c

    height = page.get_height()
    text_page = page.get_textpage()
    try:
        count = text_page.count_chars()
        text = text_page.get_text_range(0, count) if count else ""
        chars = []
        for index in range(count):
            char = text[index] if len(text) == count else text_page.get_text_range(index, 1)
            if not char.strip():
                continue  # word gaps are measured, not read from the text layer's space characters
            char = _LINE_END_HYPHENS.get(char, char)
            left, bottom, right, top = text_page.get_charbox(index, loose=True)
            size = pdfium_c.FPDFText_GetFontSize(text_page.raw, index)
            chars.append({"text": char, "x0": left, "x1": right, "top": height - top, "bottom": height - bottom,
                          "size": size})  # fmt: skip
        return chars
    finally:
        text_page.close()


def _page_edges(page: Any) -> list[dict[str, Any]]:
    """The straight horizontal and vertical strokes of the page's drawn paths (table rules, cell borders)."""
    import pypdfium2.raw as pdfium_c

    height = page.get_height()
    edges: list[dict[str, Any]] = []
    for path in page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_PATH], max_depth=3):
        a, b, c, d, e, f = path.get_matrix().get()
        points: list[tuple[float, float]] = []
        start: tuple[float, float] | None = None
        x, y = ctypes.c_float(), ctypes.c_float()
        for index in range(pdfium_c.FPDFPath_CountSegments(path.raw)):
            segment = pdfium_c.FPDFPath_GetPathSegment(path.raw, index)
            pdfium_c.FPDFPathSegment_GetPoint(segment, ctypes.byref(x), ctypes.byref(y))
            here = (a * x.value + c * y.value + e, height - (b * x.value + d * y.value + f))
            kind = pdfium_c.FPDFPathSegment_GetType(segment)
            if kind == pdfium_c.FPDF_SEGMENT_LINETO and points:
                _edge(edges, points[-1], here)
            if kind == pdfium_c.FPDF_SEGMENT_MOVETO:
                start = here
            points.append(here)
            if pdfium_c.FPDFPathSegment_GetClose(segment) and start is not None:
                _edge(edges, here, start)
    return edges


def _edge(edges: list[dict[str, Any]], one: tuple[float, float], two: tuple[float, float]) -> None:
    (x1, y1), (x2, y2) = one, two
    if abs(y1 - y2) < 0.5 and abs(x1 - x2) > 1:
        edges.append({"orientation": "h", "x0": min(x1, x2), "x1": max(x1, x2), "top": y1, "bottom": y1})
    elif abs(x1 - x2) < 0.5 and abs(y1 - y2) > 1:
        edges.append({"orientation": "v", "x0": x1, "x1": x1, "top": min(y1, y2), "bottom": max(y1, y2)})


def _pages(pdf: Any, path: str) -> Iterator[tuple[int, list[dict[str, Any]], list[dict[str, Any]]]]:
    """(number, characters, rule edges) of each page, one page at a time: loaded, read, then let go."""
    try:
        for index in range(len(pdf)):
            page = pdf[index]
            try:
                chars, edges = _page_chars(page), _page_edges(page)
            finally:
                page.close()
            yield index + 1, chars, edges
    except IngestError:
        raise
    except Exception as exc:  # a damaged page tree or content stream
        raise IngestError(f"{path}: the PDF cannot be read past this point ({type(exc).__name__})") from None


def pdf_header_names(stream: IO[bytes], path: str) -> list[str]:
    """The column names of the first table header among the PDF's first pages (empty when none is found)."""
    pdf = _open(stream, path)
    try:
        for number, chars, edges in _pages(pdf, path):
            found = _find_header(_lines(chars), edges)
            if found is not None:
                return found[0].names
            if number >= _COVER_PAGES:
                break
    finally:
        _let_go(pdf)
    return []


def read_pdf(adapter: TableAdapter, stream: IO[bytes], path: str, options: IngestOptions) -> Iterator[Item]:
    """Stream the items of a PDF printed from one of `adapter`'s tables; the header is checked at once."""
    adapter.check_options(path, options)
    pdf = _open(stream, path)
    try:
        pages = _pages(pdf, path)
        reader = _PageReader(path)
        first: list[_Row | RowError | Skipped] = []
        for number, chars, edges in pages:
            first.extend(reader.rows(number, chars, edges))
            if reader.layout is not None or number >= _COVER_PAGES:
                break
        layout = reader.layout
        if layout is None:
            raise BadHeader(f"{path}: none of the first pages has a table header; is this a printed search audit?")
        if not adapter.accepts(layout.names):
            shown = ", ".join(layout.names[:8])
            raise BadHeader(f"{path}: the table's header ({shown}) is not a {adapter.name} header")
        parse = adapter.parser(layout.names, path, options)
    except BaseException:
        _let_go(pdf)
        raise
    return _items(pdf, pages, reader, first, parse, path)


def _items(
    pdf: Any,
    pages: Iterator[tuple[int, list[dict[str, Any]], list[dict[str, Any]]]],
    reader: _PageReader,
    first: list[_Row | RowError | Skipped],
    parse: RowParser,
    path: str,
) -> Iterator[Item]:
    pending: _Row | None = None  # the last row of the page before: a page break may split it
    try:
        batches = _batches(first, pages, reader)
        for rows in batches:
            for row in rows:
                if isinstance(row, RowError | Skipped):
                    yield row
                    continue
                layout = reader.layout
                assert layout is not None
                if row.opens_page and _continues(row, layout):
                    if pending is None:
                        where = f"{path} page {row.page}"
                        yield RowError(where, row.first, "bad_row: a row with neither ID nor search time continues "
                                       "no row before it")  # fmt: skip
                    else:
                        pending.extend(row)
                    continue
                if pending is not None:
                    yield from _parsed(pending, reader, parse, path)
                pending = row
        if pending is not None:
            yield from _parsed(pending, reader, parse, path)
    finally:
        _let_go(pdf)


def _batches(
    first: list[_Row | RowError | Skipped],
    pages: Iterator[tuple[int, list[dict[str, Any]], list[dict[str, Any]]]],
    reader: _PageReader,
) -> Iterator[list[_Row | RowError | Skipped]]:
    yield first
    for number, chars, edges in pages:
        yield list(reader.rows(number, chars, edges))


def _parsed(row: _Row, reader: _PageReader, parse: RowParser, path: str) -> Iterator[Item]:
    layout = reader.layout
    assert layout is not None
    cells = [_joined(lines, join) for lines, join in zip(row.lines, layout.join, strict=True)]
    where = f"{path} page {row.page}"
    # Spaces aside: identifier and count columns are joined without them ("Total" + "Networks" + "Searched").
    if [column_name(cell).replace(" ", "") for cell in cells] == [name.replace(" ", "") for name in layout.names]:
        yield Skipped(where, row.first, "repeated header row")
        return
    out = parse(row.first, row.last, cells)
    for item in out if isinstance(out, list) else [out]:
        if isinstance(item, RowError | Skipped) and item.file == path:
            yield replace(item, file=where)
        else:
            yield item
