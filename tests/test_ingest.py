"""Ingest API: format detection, read_events (files, stdin, gzip), v1 JSON lines, value parsing, Tally."""

from __future__ import annotations

import gzip
import io
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import IO, cast

import openpyxl
import pytest

from monitor.events import MAX_EVENT_BYTES, AccessEvent, Owner, decode_event, encode_event
from monitor.ingest import (
    ADAPTERS,
    BadHeader,
    IngestError,
    IngestOptions,
    Item,
    MissingOption,
    RowError,
    Skipped,
    Tally,
    UnknownFormat,
    _read,
    adapter_named,
    detect_format,
    known_formats,
    read_events,
)
from monitor.ingest._values import is_redacted, parse_count, parse_time

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "ingest"
DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
OAKLAND = IngestOptions(owner=Owner(agency="Oakland CA PD", ori="CA0010900", state="CA"))


def events(items: list[Item]) -> list[AccessEvent]:
    return [item for item in items if isinstance(item, AccessEvent)]


def errors(items: list[Item]) -> list[RowError]:
    return [item for item in items if isinstance(item, RowError)]


class TestDetectFormat:
    @pytest.mark.parametrize(
        ("path", "expected"),
        [
            (FIXTURES / "events-v1.jsonl", "v1-jsonl"),
            (FIXTURES / "flock-network-audit-2025.csv", "flock-network-audit"),
            (FIXTURES / "flock-network-audit-2024.csv", "flock-network-audit"),
            (FIXTURES / "flock-org-audit-2025.csv", "flock-network-audit"),
            (FIXTURES / "flock-event-log-2026.csv", "flock-event-log"),
            (FIXTURES / "vigilant-sharing-report-2019.txt", "vigilant-sharing-report"),
            (DATA / "flock-portal-search-audit-eugene-2025.csv", "flock-portal-audit"),
            (DATA / "flock-sharing-graph-2024.csv", "flock-sharing-graph"),
            (DATA / "flock-recipients-eugene-2025.csv", "flock-sharing-list"),
        ],
    )
    def test_detects_each_format_from_its_header(self, path: Path, expected: str) -> None:
        """Every fixture and real export is recognised from its first bytes alone."""
        assert detect_format(path, path.read_bytes()[:4096]).name == expected

    def test_detects_gzip_compressed_text(self, tmp_path: Path) -> None:
        """A gzip file is looked into before its header is matched."""
        packed = tmp_path / "graph.csv.gz"
        packed.write_bytes(gzip.compress((DATA / "flock-sharing-graph-2024.csv").read_bytes()[:5000]))
        assert detect_format(packed, packed.read_bytes()[:2000]).name == "flock-sharing-graph"

    def test_detects_xlsx_from_the_workbook_header(self, tmp_path: Path) -> None:
        """For a ZIP signature the header is read from the workbook at the path."""
        book = openpyxl.Workbook()
        sheet = book.active
        assert sheet is not None
        sheet.append(["src_agency", "external_agency", "src_agency_id", "external_agency_id"])
        book.save(tmp_path / "graph.xlsx")
        head = (tmp_path / "graph.xlsx").read_bytes()[:4096]
        assert detect_format(tmp_path / "graph.xlsx", head).name == "flock-sharing-graph"

    def test_unknown_header_names_the_file_and_the_known_formats(self) -> None:
        """A file of no known format raises UnknownFormat naming the file and every format name."""
        path = DATA / "flock-portal-policies-2023.csv"
        with pytest.raises(UnknownFormat) as caught:
            detect_format(path, path.read_bytes()[:4096])
        message = str(caught.value)
        assert str(path) in message
        assert all(name in message for name in known_formats())

    def test_adapter_names_are_the_documented_ones(self) -> None:
        """The format names are the stable ones other components pass as an override."""
        assert [adapter.name for adapter in ADAPTERS] == [
            "v1-jsonl",
            "flock-portal-audit",
            "flock-event-log",
            "flock-sharing-graph",
            "flock-network-audit",
            "flock-sharing-list",
            "vigilant-sharing-report",
        ]

    def test_unknown_format_name_lists_the_known_ones(self) -> None:
        """An explicit format that does not exist is refused with the list of valid names."""
        with pytest.raises(UnknownFormat, match="flock-network-audit"):
            adapter_named("flock-audit")


class TestAdapterRead:
    def test_reads_text_and_bytes_streams_directly(self) -> None:
        """An adapter reads an in-memory text or bytes stream, not only files."""
        adapter = adapter_named("flock-network-audit")
        data = (FIXTURES / "flock-network-audit-2025.csv").read_bytes()
        from_text = list(adapter.read(io.StringIO(data.decode("utf-8"), newline=""), "mem", OAKLAND))
        from_bytes = list(adapter.read(io.BytesIO(data), "mem", OAKLAND))
        assert from_text == from_bytes
        assert len(events(from_text)) == 8

    def test_source_vendor_option(self) -> None:
        """source_vendor replaces the vendor name in `source` (white-label resellers)."""
        options = IngestOptions(owner=OAKLAND.owner, source_vendor="acme-alpr")
        produced = events(list(read_events(FIXTURES / "flock-network-audit-2025.csv", options=options)))
        assert {event.source.vendor for event in produced if event.source is not None} == {"acme-alpr"}

    def test_unknown_time_zone_is_refused(self) -> None:
        """An assume_tz that is no IANA zone stops the file with a message saying what is valid."""
        options = IngestOptions(owner=OAKLAND.owner, assume_tz="Mars/Olympus")
        with pytest.raises(IngestError, match="IANA"):
            read_events(FIXTURES / "flock-network-audit-2025.csv", options=options)


class TestReadEvents:
    def test_explicit_format_overrides_detection(self, tmp_path: Path) -> None:
        """With fmt given, a header detection would not match is read by the named adapter (or refused clearly)."""
        odd = tmp_path / "odd.csv"
        odd.write_text("Agency\nFBI\n", encoding="utf-8")
        with pytest.raises(BadHeader, match="flock-network-audit"):
            read_events(odd, fmt="flock-network-audit", options=OAKLAND)
        items = list(read_events(odd, fmt="flock-sharing-list", options=OAKLAND))
        assert [event.requester.agency for event in events(items)] == ["FBI"]

    def test_missing_owner_is_refused_before_any_row(self) -> None:
        """A format that does not name its owner raises MissingOption when read_events is called."""
        with pytest.raises(MissingOption, match="owner"):
            read_events(FIXTURES / "flock-network-audit-2025.csv")

    def test_empty_file_has_no_items(self, tmp_path: Path) -> None:
        """An empty file yields nothing rather than an unknown-format error."""
        (tmp_path / "empty").write_bytes(b"")
        assert list(read_events(tmp_path / "empty")) == []

    def test_missing_file_is_an_ingest_error(self, tmp_path: Path) -> None:
        """An unopenable path raises IngestError naming it (the whole file is unusable)."""
        with pytest.raises(IngestError, match=r"nope\.csv"):
            read_events(tmp_path / "nope.csv")

    def test_reads_standard_input(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """'-' reads standard input, detects its format, and labels errors <stdin>."""
        data = (FIXTURES / "events-v1.jsonl").read_bytes()
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
        items = list(read_events("-"))
        assert [event.event_id for event in events(items)] == ["ev-1", "ev-2", "ev-6"]
        assert {error.file for error in errors(items)} == {"<stdin>"}

    def test_reads_gzip_compressed_files(self, tmp_path: Path) -> None:
        """A .gz export gives the same items as the plain file."""
        plain = FIXTURES / "flock-network-audit-2025.csv"
        packed = tmp_path / "audit.csv.gz"
        packed.write_bytes(gzip.compress(plain.read_bytes()))
        expected = [
            (type(item).__name__, getattr(item, "event_id", None)) for item in read_events(plain, None, OAKLAND)
        ]
        got = [(type(item).__name__, getattr(item, "event_id", None)) for item in read_events(packed, None, OAKLAND)]
        assert got == expected

    def test_closes_the_file_when_exhausted_or_closed(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """The file is closed when the items run out, and when the caller stops early."""
        opened: list[IO[bytes]] = []

        def spy(path: str | Path, label: str) -> IO[bytes]:
            stream = real_open(path, label)
            opened.append(stream)
            return stream

        real_open = _read._open
        monkeypatch.setattr(_read, "_open", spy)
        list(read_events(FIXTURES / "events-v1.jsonl"))
        early = read_events(FIXTURES / "flock-network-audit-2025.csv", options=OAKLAND)
        next(early)
        assert not opened[1].closed
        early.close()
        assert [stream.closed for stream in opened] == [True, True]

    @pytest.mark.parametrize("fmt", ["v1-jsonl", "flock-network-audit"])
    def test_streams_rather_than_loading_the_file(
        self, fmt: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """After the first item only the first buffer of a multi-megabyte file has been read from disk."""
        opened: list[io.BufferedReader] = []

        def spy(path: str | Path, label: str) -> IO[bytes]:
            stream = real_open(path, label)
            opened.append(cast(io.BufferedReader, stream))
            return stream

        real_open = _read._open
        monkeypatch.setattr(_read, "_open", spy)
        path = tmp_path / "big"
        if fmt == "v1-jsonl":
            line = (FIXTURES / "events-v1.jsonl").read_bytes().splitlines()[0] + b"\n"
            path.write_bytes(line * 20_000)
        else:
            lines = (FIXTURES / "flock-network-audit-2025.csv").read_bytes().splitlines(keepends=True)
            path.write_bytes(lines[0] + b"".join(lines[11:13]) * 20_000)
        assert path.stat().st_size > 4_000_000
        items = read_events(path, options=OAKLAND)
        assert isinstance(next(items), AccessEvent)
        assert opened[0].raw.tell() <= 256 * 1024
        items.close()


class TestJsonLines:
    def test_valid_invalid_and_blank_lines(self) -> None:
        """Valid lines are events, blank lines are skipped, bad lines are RowErrors with line, reason, field and id."""
        items = list(read_events(FIXTURES / "events-v1.jsonl"))
        assert [event.event_id for event in events(items)] == ["ev-1", "ev-2", "ev-6"]
        found = [(e.line, e.reason.split(":")[0], e.field, e.event_id) for e in errors(items)]
        assert found == [
            (4, "invalid_json", None, None),
            (5, "invalid_field", "$.query.devices_searched", "ev-4"),
            (7, "invalid_field", "$.occurred_at", "ev-5"),
        ]
        assert len(items) == 6

    def test_error_reason_carries_the_decoder_reason_and_detail(self) -> None:
        """RowError.reason is '<EventError.reason>: <detail>'."""
        (failure,) = [e for e in errors(list(read_events(FIXTURES / "events-v1.jsonl"))) if e.line == 5]
        assert failure.reason == "invalid_field: Expected `int` >= 0"

    def test_leading_bom_is_ignored(self, tmp_path: Path) -> None:
        """A UTF-8 BOM before the first event does not make it invalid."""
        path = tmp_path / "bom.jsonl"
        path.write_bytes(b"\xef\xbb\xbf" + (FIXTURES / "events-v1.jsonl").read_bytes())
        assert [event.event_id for event in events(list(read_events(path)))] == ["ev-1", "ev-2", "ev-6"]

    def test_oversize_line_is_reported_and_skipped_without_loading_it(self, tmp_path: Path) -> None:
        """A line over the event size limit is one 'oversize' RowError; the next line is still read."""
        good = (FIXTURES / "events-v1.jsonl").read_bytes().splitlines()[0]
        huge = b'{"event_id":"big","pad":"' + b"x" * (3 * MAX_EVENT_BYTES) + b'"}'
        path = tmp_path / "big.jsonl"
        path.write_bytes(good + b"\n" + huge + b"\n" + good + b"\n")
        items = list(read_events(path))
        assert [type(item).__name__ for item in items] == ["AccessEvent", "RowError", "AccessEvent"]
        assert errors(items)[0].line == 2
        assert errors(items)[0].reason.startswith("oversize")

    def test_text_streams_are_accepted(self) -> None:
        """The adapter also reads a text stream (str lines)."""
        text = (FIXTURES / "events-v1.jsonl").read_text(encoding="utf-8")
        items = list(adapter_named("v1-jsonl").read(io.StringIO(text), "mem", IngestOptions()))
        assert [event.event_id for event in events(items)] == ["ev-1", "ev-2", "ev-6"]

    def test_invalid_utf8_is_an_encoding_error(self, tmp_path: Path) -> None:
        """Bytes that are not UTF-8 give reason invalid_encoding on their line."""
        path = tmp_path / "bad.jsonl"
        path.write_bytes((FIXTURES / "events-v1.jsonl").read_bytes().splitlines()[0] + b"\n\xff\xfe{}\n")
        (failure,) = errors(list(read_events(path)))
        assert (failure.line, failure.reason.split(":")[0]) == (2, "invalid_encoding")


class TestParseTime:
    def test_flock_text_timestamp(self) -> None:
        """Flock's `11/13/2025, 10:00:17 PM UTC` is 22:00:17 UTC."""
        assert parse_time("11/13/2025, 10:00:17 PM UTC", UTC) == datetime(2025, 11, 13, 22, 0, 17, tzinfo=UTC)

    def test_twelve_am_is_midnight(self) -> None:
        """12 AM is hour 0 and 12 PM is hour 12."""
        assert parse_time("1/2/2025, 12:05:00 AM UTC", UTC).hour == 0
        assert parse_time("1/2/2025, 12:05:00 PM UTC", UTC).hour == 12

    def test_naive_time_takes_the_assumed_zone(self) -> None:
        """A timestamp without a zone is read in the assumed zone and returned in UTC."""
        pacific = timezone(timedelta(hours=-8))
        assert parse_time("2025-06-18 00:02:04.789", pacific) == datetime(2025, 6, 18, 8, 2, 4, 789000, tzinfo=UTC)

    def test_iso_with_z_and_offset(self) -> None:
        """RFC 3339 times with Z or an offset are honoured."""
        assert parse_time("2026-01-15T18:57:01.323Z", UTC) == datetime(2026, 1, 15, 18, 57, 1, 323000, tzinfo=UTC)
        assert parse_time("2026-01-15T10:00:00-08:00", UTC).hour == 18

    def test_named_us_zones(self) -> None:
        """A PDT suffix means UTC-7."""
        assert parse_time("07/04/2025, 09:00:00 AM PDT", UTC).hour == 16

    @pytest.mark.parametrize("raw", ["13/45/2025, 10:99:17 PM UTC", "yesterday", "11/13/2025, 13:00:00 PM UTC"])
    def test_garbage_raises_value_error(self, raw: str) -> None:
        """Impossible dates and times are ValueErrors, never guesses."""
        with pytest.raises(ValueError):
            parse_time(raw, UTC)

    @pytest.mark.parametrize(
        "raw", ["0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00", "01/01/0001, 12:00:00 AM UTC", "1969-12-31"]
    )
    def test_years_outside_the_bound_are_value_errors(self, raw: str) -> None:
        """Year edges are a ValueError (a row error), never an OverflowError that stops the whole file."""
        with pytest.raises(ValueError, match=r"outside 1970\.\.2100"):
            parse_time(raw, timezone(timedelta(hours=5)))

    def test_year_edges_in_an_export_are_row_errors(self, tmp_path: Path) -> None:
        """A portal audit with year 0001 and 9999 rows reports those rows and reads the rest."""
        path = tmp_path / "portal.csv"
        path.write_text(
            "id,userId,searchDate,cameraCount,reason\n1,u1,0001-01-01T00:00:00+05:00,3,x\n"
            "2,u1,9999-12-31T23:59:59-05:00,3,x\n3,u1,2025-01-01T00:00:00Z,3,x\n"
        )
        items = list(read_events(path, None, IngestOptions(owner=Owner(agency="Oakland CA PD", state="CA"))))
        assert [type(item).__name__ for item in items] == ["RowError", "RowError", "AccessEvent"]


class TestParseCount:
    @pytest.mark.parametrize(("raw", "expected"), [("412", 412), ("1,234", 1234), ("12.0", 12), ("——", None)])
    def test_numbers_and_the_sentinel(self, raw: str, expected: int | None) -> None:
        """Digits, thousands separators and spreadsheet floats are counts; `——` is absent."""
        assert parse_count(raw) == expected

    @pytest.mark.parametrize("raw", ["***", "REDACTED", "[REDACTED]", ""])
    def test_redacted_or_blank_is_absent(self, raw: str) -> None:
        """A masked or blank count is None, not an error."""
        assert parse_count(raw) is None

    @pytest.mark.parametrize("raw", ["many", "-3", "2.5"])
    def test_non_counts_raise(self, raw: str) -> None:
        """Words, negatives and fractions are ValueErrors."""
        with pytest.raises(ValueError):
            parse_count(raw)


class TestIsRedacted:
    @pytest.mark.parametrize("raw", ["***", "REDACTED", "[REDACTED]", "###", "* * *", "redacted per GC 7923.600"])
    def test_markers(self, raw: str) -> None:
        """Masking markers seen in real releases are recognised."""
        assert is_redacted(raw)

    @pytest.mark.parametrize("raw", ["Z*0028*", "7ABC123", "investigation", "*AAA999"])
    def test_wildcard_plates_are_not_markers(self, raw: str) -> None:
        """A `*` inside a plate is a wildcard search, not a mask."""
        assert not is_redacted(raw)


class TestTally:
    def test_counts_each_kind(self) -> None:
        """Tally counts events, errors and skipped records while passing them through."""
        tally = Tally()
        items = list(tally.count(read_events(FIXTURES / "flock-network-audit-2025.csv", options=OAKLAND)))
        assert (tally.events, tally.errors, tally.skipped) == (8, 5, 3)
        assert tally.records == len(items)
        assert sum(isinstance(item, Skipped) for item in items) == 3


class TestContract:
    @pytest.mark.parametrize(
        ("name", "options"),
        [
            ("flock-network-audit-2025.csv", OAKLAND),
            ("flock-network-audit-2024.csv", OAKLAND),
            ("flock-event-log-2026.csv", IngestOptions(owner=Owner(agency="Long Beach CA PD"))),
            ("vigilant-sharing-report-2019.txt", IngestOptions()),
            ("events-v1.jsonl", IngestOptions()),
        ],
    )
    def test_every_event_is_a_valid_v1_event(self, name: str, options: IngestOptions) -> None:
        """Each event survives a v1 encode/decode round trip (the strict decoder validates every constraint)."""
        produced = events(list(read_events(FIXTURES / name, options=options)))
        assert produced
        for event in produced:
            assert decode_event(encode_event(event)) == event
