"""Search audits as records requests deliver them: realistic rows from a seeded generator, printed to PDF.

`sheriff_audit` makes a sheriff's organisation audit in the stripped layout Flock exports since December 2025
(no Name, License Plate or Case #): the office's own searches, reasons blank, vague, redacted or long enough
to wrap, two-line Time Frames reaching from hours to more than 500 days back, one network or hundreds.

Two ways to print it, as records offices do:
- `libreoffice_pdf`: the CSV laid out as a clerk sets it up to print (landscape, fit to one page wide, the
  header row repeated on each page, cells wrapped and top-aligned, with or without grid lines, LibreOffice's
  default page header (the sheet's name) and footer (`Page N`)), then printed headless by LibreOffice
  (`soffice --headless --convert-to pdf`).
- `reportlab_pdf`: a different layout made another way: a title and page numbers, a ruled table with centred
  headers, rows that a page break may split.

`python -m tests.pdf_exports DIR` writes the committed fixture (CSV and LibreOffice PDF) to DIR.
"""

from __future__ import annotations

import csv
import random
import shutil
import subprocess
import sys
import tempfile
import textwrap
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from xml.sax.saxutils import escape

STRIPPED_COLUMNS = (
    "ID", "Org Name", "Total Networks Searched", "Total Devices Searched", "Time Frame", "Reason", "Filters",
    "Search Time", "Search Type", "Text Prompt", "Moderation", "Offense Type",
)  # fmt: skip
SHERIFF = "Pinecrest County WI SO"
SENTINEL = "——"

_REASONS = (
    "stolen vehicle", "burglary investigation", "theft", "fraud", "welfare check", "narcotics", "assault",
    "hit and run", "Missing person - endangered adult, last seen driving north on highway 51 toward the county line",
    "Robbery at the Kwik Trip on Main St, suspect vehicle seen leaving eastbound", "inv", "investigation", "",
    "", "REDACTED", "***", "warrant service",
)  # fmt: skip
_FILTERS = ("", "", "", "Sedan, silver", "Pickup truck, white", "SUV, black, roof rack")
_TYPES = ("search", "search", "search", "lookup", "lookup", "convoy", "freeform", "multiGeo")
_PROMPTS = ("white pickup with ladder rack", "red sedan with a dented rear bumper")
_OFFENSES = ("", "", "Property", "Violent", "Drugs", "Other")


def stamp(when: datetime) -> str:
    """A timestamp as Flock writes it: `11/13/2025, 10:00:17 PM UTC`."""
    return when.strftime("%m/%d/%Y, %I:%M:%S %p UTC")


@dataclass(frozen=True, slots=True)
class AuditRow:
    """One generated search, with the figures a test checks the report against."""

    cells: tuple[str, ...]
    searched_at: datetime
    reach_days: float  # from the time frame's start to the search
    networks: int | None
    devices: int | None
    reason: str


def sheriff_audit(seed: int, count: int) -> list[AuditRow]:
    """`count` searches of a sheriff's organisation audit, the same for the same seed."""
    rng = random.Random(seed)
    start = datetime(2025, 12, 1, tzinfo=UTC)
    rows = []
    for index in range(count):
        searched = start + timedelta(seconds=rng.randrange(60 * 86_400))
        reach = rng.choice((
            timedelta(hours=rng.randrange(1, 48)),
            timedelta(days=rng.randrange(2, 29)),
            timedelta(days=rng.randrange(2, 29)),
            timedelta(days=30),
            timedelta(days=30, hours=rng.randrange(1, 24)),  # past the period, within the day's grace
            timedelta(days=rng.randrange(32, 120)),
            timedelta(days=rng.randrange(120, 400)),
        ))  # fmt: skip
        if index == count // 3:  # the hand count of issue 11: one search more than 500 days back
            reach = timedelta(days=rng.randrange(500, 540))
        frame_end = searched - timedelta(minutes=rng.choice((0, 0, 5, 60)))
        networks = rng.choice((1, 1, 1, 1, 2, 3, rng.randrange(40, 1500)))
        devices: int | None = networks * rng.randrange(4, 40)
        if rng.random() < 0.05:
            devices = None
        search_type = rng.choice(_TYPES)
        reason = rng.choice(_REASONS)
        cells = (
            str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            SHERIFF,
            str(networks),
            SENTINEL if devices is None else str(devices),
            f"{stamp(searched - reach)}\n{stamp(frame_end)}",
            reason,
            rng.choice(_FILTERS),
            stamp(searched),
            search_type,
            rng.choice(_PROMPTS) if search_type == "freeform" else "",
            "approved" if search_type == "freeform" else "",
            rng.choice(_OFFENSES),
        )
        reach_days = (searched.replace(microsecond=0) - (searched - reach).replace(microsecond=0)).total_seconds()
        rows.append(AuditRow(cells, searched.replace(microsecond=0), reach_days / 86_400, networks, devices, reason))
    return rows


def write_csv(rows: list[AuditRow], path: Path) -> Path:
    """The rows as the vendor's CSV export (CRLF, quoted multi-line cells)."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(STRIPPED_COLUMNS)
        writer.writerows(row.cells for row in rows)
    return path


# -- LibreOffice ---------------------------------------------------------------------------------

_WIDTHS_CM = (5.6, 3.6, 1.9, 1.9, 4.3, 4.5, 2.4, 4.3, 1.6, 2.2, 2.0, 1.8)


def _fods(csv_path: Path, grid: bool) -> str:
    """A flat OpenDocument spreadsheet holding the CSV with the clerk's print setup."""
    with csv_path.open(encoding="utf-8", newline="") as handle:
        table = list(csv.reader(handle))

    def cell(value: str, style: str) -> str:
        if not value:
            return f'<table:table-cell table:style-name="{style}"/>'
        paragraphs = "".join(f"<text:p>{escape(line)}</text:p>" for line in value.split("\n"))
        kind = f'office:value-type="float" office:value="{value}"' if value.isdigit() else 'office:value-type="string"'
        return f'<table:table-cell table:style-name="{style}" {kind}>{paragraphs}</table:table-cell>'

    def row(values: list[str], style: str) -> str:
        inner = "".join(cell(value, style) for value in values)
        return f'<table:table-row table:style-name="ro">{inner}</table:table-row>'

    widths = _WIDTHS_CM[: len(table[0])]
    columns = "".join(
        f'<style:style style:name="co{i}" style:family="table-column">'
        f'<style:table-column-properties style:column-width="{width}cm"/></style:style>'
        for i, width in enumerate(widths)
    )
    printed = ("grid " if grid else "") + "charts drawings objects zero-values"
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<office:document xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"
 xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0"
 xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"
 xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0"
 xmlns:fo="urn:oasis:names:tc:opendocument:xmlns:xsl-fo-compatible:1.0"
 office:version="1.3" office:mimetype="application/vnd.oasis.opendocument.spreadsheet">
<office:automatic-styles>{columns}
<style:style style:name="ro" style:family="table-row">
 <style:table-row-properties style:use-optimal-row-height="true"/></style:style>
<style:style style:name="ta" style:family="table" style:master-page-name="pm">
 <style:table-properties table:display="true"/></style:style>
<style:style style:name="ce" style:family="table-cell">
 <style:table-cell-properties fo:wrap-option="wrap" style:vertical-align="top"/></style:style>
<style:style style:name="hd" style:family="table-cell">
 <style:table-cell-properties fo:wrap-option="wrap" style:vertical-align="top"/>
 <style:text-properties fo:font-weight="bold"/></style:style>
<style:page-layout style:name="pl"><style:page-layout-properties fo:page-width="27.94cm" fo:page-height="21.59cm"
 style:print-orientation="landscape" fo:margin="1cm" style:print="{printed}" style:scale-to-X="1"
 style:scale-to-Y="0"/>
 <style:header-style>
  <style:header-footer-properties fo:min-height="0.6cm" fo:margin-bottom="0.2cm"/></style:header-style>
 <style:footer-style>
  <style:header-footer-properties fo:min-height="0.6cm" fo:margin-top="0.2cm"/></style:footer-style>
</style:page-layout>
</office:automatic-styles>
<office:master-styles><style:master-page style:name="pm" style:page-layout-name="pl">
 <style:header><text:p><text:sheet-name>audit</text:sheet-name></text:p></style:header>
 <style:footer><text:p>Page <text:page-number>1</text:page-number></text:p></style:footer>
</style:master-page></office:master-styles>
<office:body><office:spreadsheet><table:table table:name="audit" table:style-name="ta">
{"".join(f'<table:table-column table:style-name="co{i}"/>' for i in range(len(widths)))}
<table:table-header-rows>{row(table[0], "hd")}</table:table-header-rows>
{"".join(row(values, "ce") for values in table[1:])}
</table:table></office:spreadsheet></office:body></office:document>
"""


def soffice() -> str:
    """The LibreOffice binary (scripts/setup.sh --full installs it)."""
    found = shutil.which("soffice") or shutil.which("libreoffice")
    if found is None:
        raise RuntimeError("LibreOffice is not installed: run scripts/setup.sh --full")
    return found


def libreoffice_pdf(csv_path: Path, out_dir: Path, *, grid: bool) -> Path:
    """The CSV printed to PDF by headless LibreOffice with a clerk's page setup; returns the PDF's path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    sheet = out_dir / (csv_path.stem + ".fods")
    sheet.write_text(_fods(csv_path, grid), encoding="utf-8")
    with tempfile.TemporaryDirectory(prefix="lo-profile-") as profile:
        # A profile of its own: LibreOffice refuses to start while another instance holds the default one.
        command = [soffice(), f"-env:UserInstallation=file://{profile}", "--headless", "--norestore",
                   "--convert-to", "pdf", "--outdir", str(out_dir), str(sheet)]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    pdf = out_dir / (csv_path.stem + ".pdf")
    if done.returncode != 0 or not pdf.exists():
        raise RuntimeError(f"LibreOffice did not print {sheet}: {done.returncode} {done.stderr[-500:]}")
    sheet.unlink()
    return pdf


# -- reportlab -----------------------------------------------------------------------------------


def reportlab_pdf(
    rows: list[AuditRow],
    path: Path,
    *,
    columns: tuple[str, ...] = STRIPPED_COLUMNS,
    repeat_header: bool = True,
    cover: str | None = None,
) -> Path:
    """The rows as another office's report: title, page numbers, centred ruled headers, rows split by pages.

    Cells are wrapped by this printer itself (word wrap, long words broken, as a report writer does).
    """
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import landscape, letter
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.platypus import Flowable, PageBreak, Paragraph, SimpleDocTemplate, Table, TableStyle

    widths = [118, 66, 44, 44, 80, 100, 56, 80, 40, 50, 52, 40][: len(columns)]

    def wrapped(text: str, width: float) -> str:
        per_line = max(int(width / 3.6), 4)  # Helvetica 7 pt: about 3.6 pt a character
        lines = [part for line in text.split("\n") for part in textwrap.wrap(line, per_line) or [""]]
        return "\n".join(lines)

    data = [[wrapped(name, width) for name, width in zip(columns, widths, strict=True)]]
    data += [[wrapped(cell, width) for cell, width in zip(row.cells, widths, strict=True)] for row in rows]
    # Rows split by page breaks; the header on every page, or (as some printers do) on the first only.
    table = Table(data, colWidths=widths, repeatRows=1 if repeat_header else 0, splitByRow=0, splitInRow=1)
    table.setStyle(TableStyle([
        ("GRID", (0, 0), (-1, -1), 0.5, colors.grey), ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("FONT", (0, 0), (-1, -1), "Helvetica", 7, 8.4), ("FONT", (0, 0), (-1, 0), "Helvetica-Bold", 7, 8.4),
        ("ALIGN", (0, 0), (-1, 0), "CENTER"), ("BACKGROUND", (0, 0), (-1, 0), colors.lightgrey),
    ]))  # fmt: skip

    def furniture(canvas: object, document: object) -> None:
        canvas.setFont("Helvetica-Bold", 11)  # type: ignore[attr-defined]
        canvas.drawString(36, 590, "Organization Audit - Pinecrest County Sheriff's Office")  # type: ignore[attr-defined]
        canvas.setFont("Helvetica", 8)  # type: ignore[attr-defined]
        canvas.drawString(380, 20, f"Page {document.page}")  # type: ignore[attr-defined]

    document = SimpleDocTemplate(str(path), pagesize=landscape(letter), topMargin=40, bottomMargin=36,
                                 leftMargin=24, rightMargin=24)  # fmt: skip
    story: list[Flowable] = [table]
    if cover is not None:  # a records office's letter before the table
        story = [Paragraph(escape(cover), getSampleStyleSheet()["Normal"]), PageBreak(), table]
    document.build(story, onFirstPage=furniture, onLaterPages=furniture)
    return path


if __name__ == "__main__":
    target = Path(sys.argv[1])
    target.mkdir(parents=True, exist_ok=True)
    source = write_csv(sheriff_audit(seed=2026, count=40), target / "flock-org-audit-stripped-2026.csv")
    print(libreoffice_pdf(source, target, grid=True))
