"""Search audits as records requests deliver them: printed to PDF (LibreOffice, reportlab), and the stripped CSV."""

from __future__ import annotations

import csv
import io
import sys
from pathlib import Path
from typing import Any

import pytest

from monitor.events import AccessEvent, Owner, Requester
from monitor.ingest import (
    IngestError,
    IngestOptions,
    Item,
    RowError,
    Skipped,
    UnknownFormat,
    detect_format,
    read_events,
)
from tests.pdf_exports import (
    SENTINEL,
    SHERIFF,
    STRIPPED_COLUMNS,
    AuditRow,
    libreoffice_pdf,
    reportlab_pdf,
    sheriff_audit,
    stamp,
    write_csv,
)

FIXTURES = Path(__file__).parent / "fixtures" / "ingest"
FIXTURE_CSV = FIXTURES / "flock-org-audit-stripped-2026.csv"
FIXTURE_PDF = FIXTURES / "flock-org-audit-stripped-2026.pdf"
OPTIONS = IngestOptions(owner=Owner(agency=SHERIFF, state="WI"), default_requester=Requester(agency=SHERIFF))


def items(path: Path | str, fmt: str | None = None) -> list[Item]:
    return list(read_events(path, fmt, OPTIONS))


def events(found: list[Item]) -> list[AccessEvent]:
    return [item for item in found if isinstance(item, AccessEvent)]


def problems(found: list[Item]) -> list[RowError | Skipped]:
    return [item for item in found if isinstance(item, RowError | Skipped)]


@pytest.fixture(scope="module")
def audit_rows() -> list[AuditRow]:
    return sheriff_audit(seed=11, count=150)


@pytest.fixture(scope="module")
def audit_csv(audit_rows: list[AuditRow], tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_csv(audit_rows, tmp_path_factory.mktemp("csv") / "sheriff-org-audit.csv")


def page_count(path: Path) -> int:
    import pypdfium2

    pdf = pypdfium2.PdfDocument(path)
    try:
        return len(pdf)
    finally:
        pdf.close()


class TestLibreOfficePrint:
    @pytest.mark.parametrize("grid", [True, False], ids=["grid-lines", "no-grid-lines"])
    def test_print_gives_the_csv_events(self, audit_csv: Path, tmp_path: Path, grid: bool) -> None:
        """A CSV printed headless by LibreOffice (header repeated, cells wrapped) reads back as the same events."""
        pdf = libreoffice_pdf(audit_csv, tmp_path, grid=grid)
        from_csv, from_pdf = items(audit_csv), items(pdf)
        assert page_count(pdf) >= 4
        assert problems(from_pdf) == []
        assert events(from_pdf) == events(from_csv)
        assert len(from_pdf) == 150

    def test_redactions_and_sentinels_survive_printing(self, audit_rows: list[AuditRow], audit_csv: Path,
                                                       tmp_path: Path) -> None:  # fmt: skip
        """`REDACTED` and `***` reasons stay as given, `——` device counts read as absent, blank reasons as None."""
        found = events(items(libreoffice_pdf(audit_csv, tmp_path, grid=True)))
        by_row = list(zip(audit_rows, found, strict=True))
        assert {"REDACTED", "***"} <= {event.query.reason for _, event in by_row if event.query}
        for row, event in by_row:
            assert event.query is not None
            assert event.query.reason == (row.reason or None)
            assert event.query.devices_searched == row.devices
            assert event.query.networks_searched == row.networks
            assert event.query.time_frame_start is not None
            assert event.occurred_at == row.searched_at
        assert any(row.devices is None for row, _ in by_row)


class TestOtherLayout:
    def test_reportlab_report_with_split_rows(
        self, audit_rows: list[AuditRow], audit_csv: Path, tmp_path: Path
    ) -> None:
        """A titled, page-numbered report with centred headers and rows split by page breaks gives the same events."""
        from monitor.ingest._pdf import _continues, _open, _PageReader, _pages

        pdf = reportlab_pdf(audit_rows, tmp_path / "report.pdf")
        reader = _PageReader(str(pdf))
        split = 0
        with pdf.open("rb") as stream:
            for number, chars, edges in _pages(_open(stream, str(pdf)), str(pdf)):
                first = next(iter(reader.rows(number, chars, edges)))
                assert reader.layout is not None
                split += not isinstance(first, RowError) and _continues(first, reader.layout)
        assert split >= 2, "the layout must split rows across pages for this test to mean anything"
        found = items(pdf)
        assert problems(found) == []
        assert events(found) == events(items(audit_csv))

    def test_header_on_the_first_page_only(self, audit_rows: list[AuditRow], audit_csv: Path, tmp_path: Path) -> None:
        """Pages without a header are read with the columns of the last header seen."""
        pdf = reportlab_pdf(audit_rows, tmp_path / "once.pdf", repeat_header=False)
        found = items(pdf)
        assert page_count(pdf) >= 4
        assert problems(found) == []
        assert events(found) == events(items(audit_csv))

    def test_row_over_several_pages(self, tmp_path: Path) -> None:
        """A reason thousands of characters long, printed over several pages, is rebuilt whole in its one row."""
        from dataclasses import replace

        rows = sheriff_audit(seed=8, count=12)
        reason = " ".join(["suspect vehicle seen near the county fairgrounds"] * 120)
        rows[5] = replace(rows[5], cells=(*rows[5].cells[:5], reason, *rows[5].cells[6:]), reason=reason)
        pdf = reportlab_pdf(rows, tmp_path / "long.pdf")
        assert page_count(pdf) >= 4
        found = items(pdf)
        assert problems(found) == []
        assert events(found) == events(items(write_csv(rows, tmp_path / "long.csv")))
        assert events(found)[5].query is not None
        assert events(found)[5].query.reason == reason

    def test_cover_letter_before_the_table(self, audit_rows: list[AuditRow], audit_csv: Path, tmp_path: Path) -> None:
        """A cover letter page is detected past, reported as skipped with its page, and the table read whole."""
        letter = "In response to your public records request of 3 March 2026, please find the audit log attached."
        pdf = reportlab_pdf(audit_rows, tmp_path / "response.pdf", cover=letter)
        assert detect_format(pdf, pdf.read_bytes()[:64]).name == "flock-network-audit"
        found = items(pdf)
        (cover,) = problems(found)
        assert isinstance(cover, Skipped)
        assert cover.file.endswith("response.pdf page 1")
        assert events(found) == events(items(audit_csv))

    def test_data_row_spelling_the_header_is_accounted_for(self, tmp_path: Path) -> None:
        """A row whose cells spell the column names is reported with its page and line, and the rows after it read."""
        rows = sheriff_audit(seed=6, count=20)
        header = hand_rows([STRIPPED_COLUMNS])
        found = items(reportlab_pdf([*rows[:10], *header, *rows[10:]], tmp_path / "twice.pdf"))
        (odd,) = problems(found)
        assert " page " in odd.file
        assert odd.line > 1
        assert events(found) == events(items(write_csv(rows, tmp_path / "rows.csv")))


class TestCommittedFixture:
    def test_fixture_matches_its_csv(self) -> None:
        """The committed LibreOffice print (several pages) reads as the CSV it was printed from."""
        assert page_count(FIXTURE_PDF) >= 3
        found = items(FIXTURE_PDF)
        assert problems(found) == []
        assert events(found) == events(items(FIXTURE_CSV))

    def test_detected_from_content(self, tmp_path: Path) -> None:
        """A PDF is recognised by its bytes and its header row, whatever the file is called."""
        renamed = tmp_path / "records-request-response.bin"
        renamed.write_bytes(FIXTURE_PDF.read_bytes())
        assert detect_format(renamed, renamed.read_bytes()[:64]).name == "flock-network-audit"
        assert len(events(items(renamed))) == 40

    def test_read_from_standard_input(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A PDF piped in (not seekable) is spooled and read like the file."""

        class Pipe(io.BufferedReader):
            def seekable(self) -> bool:
                return False

        pipe = Pipe(io.BytesIO(FIXTURE_PDF.read_bytes()))  # type: ignore[arg-type]
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(pipe))
        assert events(items("-")) == events(items(FIXTURE_PDF))

    def test_pages_are_read_one_at_a_time(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """The first events come after a page or two is parsed (detection reads page 1), not the whole document."""
        from monitor.ingest import _pdf

        parsed: list[int] = []
        original = _pdf._page_chars

        def page_chars(page: Any) -> Any:
            parsed.append(page.get_height())
            return original(page)

        pages = page_count(FIXTURE_PDF)
        monkeypatch.setattr(_pdf, "_page_chars", page_chars)
        stream = read_events(FIXTURE_PDF, None, OPTIONS)
        first = next(stream)
        assert isinstance(first, AccessEvent)
        assert len(parsed) == 2  # page 1 for detection, page 1 again for the rows
        assert pages > 2
        stream.close()


def hand_rows(rows: list[tuple[str, ...]]) -> list[AuditRow]:
    """Rows given cell by cell (the figures are not used by these tests)."""
    when = sheriff_audit(seed=1, count=1)[0].searched_at
    return [AuditRow(cells, when, 0.0, None, None, "") for cells in rows]


def cells(ident: str, frame: str, when: str, reason: str = "theft") -> tuple[str, ...]:
    return (ident, SHERIFF, "1", "12", frame, reason, "", when, "search", "", "", "")


class TestRowsThatCannotBeRebuilt:
    def test_row_without_id_or_time_on_the_first_page_is_an_error(self, tmp_path: Path) -> None:
        """A first row with neither ID nor search time continues nothing: an error naming page 1 and its line."""
        a, b = (stamp(row.searched_at) for row in sheriff_audit(seed=2, count=2))
        frame = f"{a}\n{b}"
        rows = hand_rows([cells("", "", "", "orphan text"), cells("id-1", frame, b), cells("id-2", frame, b)])
        found = items(reportlab_pdf(rows, tmp_path / "orphan.pdf"))
        errors = [item for item in found if isinstance(item, RowError)]
        assert len(errors) == 1
        assert errors[0].file.endswith("orphan.pdf page 1")
        assert errors[0].line > 1
        assert "continues no row" in errors[0].reason
        assert len(events(found)) == 2

    def test_bad_cell_error_names_page_and_line(self, tmp_path: Path) -> None:
        """A Time Frame that is not two times is reported with the page and the line of its row, by shape only."""
        good = sheriff_audit(seed=4, count=30)
        bad = hand_rows([cells("id-bad", "7ABC123", stamp(good[0].searched_at))])
        found = items(reportlab_pdf([*good, *bad], tmp_path / "bad.pdf"))
        errors = [item for item in found if isinstance(item, RowError)]
        assert len(errors) == 1
        assert errors[0].field == "Time Frame"
        assert " page " in errors[0].file
        assert not errors[0].file.endswith("page 1")
        assert "7ABC123" not in errors[0].reason
        assert len(events(found)) == 30

    def test_pdf_that_is_not_a_search_audit(self, tmp_path: Path) -> None:
        """A PDF whose table is something else is refused at once, naming the file."""
        from reportlab.pdfgen import canvas

        path = tmp_path / "minutes.pdf"
        page = canvas.Canvas(str(path))
        page.drawString(72, 720, "Minutes of the county board, 3 March 2026")
        page.save()
        with pytest.raises(UnknownFormat, match=r"minutes\.pdf"):
            items(path)

    def test_damaged_pdf(self, tmp_path: Path) -> None:
        """Bytes that start like a PDF but are not one give a clear error, not a crash."""
        path = tmp_path / "damaged.pdf"
        path.write_bytes(b"%PDF-1.7\n" + b"\x00garbage" * 100)
        with pytest.raises(IngestError, match=r"damaged\.pdf"):
            items(path)


class TestStrippedCsv:
    def test_stripped_layout_read_by_the_csv_adapter(self, audit_rows: list[AuditRow], audit_csv: Path) -> None:
        """The December 2025 layout (no Name, License Plate, Case #) gives one event per row with no user or plate."""
        with audit_csv.open(encoding="utf-8", newline="") as handle:
            assert tuple(next(csv.reader(handle))) == STRIPPED_COLUMNS
        found = items(audit_csv)
        assert problems(found) == []
        read = events(found)
        assert len(read) == len(audit_rows)
        for row, event in zip(audit_rows, read, strict=True):
            assert event.requester.agency == SHERIFF
            assert event.requester.user is None
            assert event.query is not None
            assert event.query.plate is None
            assert event.query.case_number is None
            assert event.query.time_frame_start is not None
            assert (event.occurred_at - event.query.time_frame_start).total_seconds() == pytest.approx(
                row.reach_days * 86_400
            )

    def test_stripped_layout_without_org_name_needs_the_requester(self, tmp_path: Path) -> None:
        """An organisation audit without Org Name is read with the default requester (the office itself)."""
        path = tmp_path / "org.csv"
        columns = [name for name in STRIPPED_COLUMNS if name != "Org Name"]
        row = sheriff_audit(seed=5, count=1)[0]
        values: dict[str, Any] = dict(zip(STRIPPED_COLUMNS, row.cells, strict=True))
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow([f" {name}" for name in columns])  # Flock's leading spaces
            writer.writerow([values[name] for name in columns])
        (event,) = events(items(path))
        assert event.requester.agency == SHERIFF
        assert event.query is not None
        assert event.query.devices_searched == (row.devices)
        assert SENTINEL not in str(event.query)
