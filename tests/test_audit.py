"""`alpr-monitor audit`: findings files, the report, the summary, bad input, and privacy of the outputs."""

from __future__ import annotations

import csv
import json
import re
from collections import Counter
from pathlib import Path
from typing import Any, cast

import pytest

from cli import main
from monitor.alerts import decode_alert
from monitor.audit import AuditRun, Caps
from monitor.audit._markdown import md_text
from monitor.audit._outputs import FINDING_COLUMNS, FindingsWriter, spreadsheet_safe
from monitor.audit._tally import masked_reason
from monitor.engine import Engine, load_engine, mask_identifiers
from monitor.events import Owner, decode_event
from monitor.hashing import Pseudonymizer
from monitor.ingest import IngestOptions, Item

KEY = b"audit-tests-key-0123456789abcdef"
DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
HOSTILE = "<script>alert(1)</script> PD"
PLATES = ("7ABC123", "8XYZ999", "5KLM404", "4DEF567")
USERS = ("officer.jones", "det.smith")
OUTPUTS = ("findings.jsonl", "findings.csv", "errors.csv", "report.html", "summary.md", "summary.json")


def query(event_id: str, requester: dict[str, Any], reason: str | None, plate: str, **query_fields: Any) -> str:
    return json.dumps(
        {
            "event_id": event_id,
            "event_type": "query",
            "occurred_at": "2025-04-22T17:03:11Z",
            "owner": {"agency": "Oakland CA PD", "state": "CA"},
            "requester": requester,
            "query": {"plate": plate, "reason": reason, "search_type": "search", **query_fields},
        }
    )


# Expected rule ids per event id; lines without an entry are malformed.
EXPECTED: dict[str, set[str]] = {
    "clean": set(),
    "fbi": {"ca.sb34.federal-recipient", "oakland.no-federal-sharing"},
    "acworth": {"ca.sb34.out-of-state-recipient", "oakland.no-out-of-state-sharing"},
    "chp-ice": {"ca.values-act.immigration-purpose"},
    "old": {"oakland.retention-30-days"},
    "no-reason": {"ca.sb34.purpose-missing"},
    "hostile": {"ca.sb34.unresolved-recipient"},
}


def v1_fixture(path: Path) -> Path:
    """A v1 JSON-lines export with known violations and three malformed lines (lines 3, 6 and 9)."""
    lines = [
        query("clean", {"agency": "Alameda County CA SO", "user": USERS[0]}, "stolen vehicle 25-0412", PLATES[0]),
        query("fbi", {"agency": "FBI", "user": USERS[1]}, "fraud investigation 24-118", PLATES[1]),
        '{"event_id": "broken", "event_type": "query",',  # truncated JSON
        query("acworth", {"agency": "Acworth GA PD", "user": USERS[0]}, "burglary 25-0001", PLATES[2]),
        query("chp-ice", {"agency": "California Highway Patrol", "user": USERS[1]}, f"ICE {PLATES[3]}", PLATES[3]),
        json.dumps({"event_id": "no-owner", "event_type": "query", "occurred_at": "2025-04-22T17:03:11Z"}),
        query(
            "old",
            {"agency": "Alameda County CA SO", "user": USERS[0]},
            "robbery 25-0777",
            PLATES[0],
            time_frame_start="2025-03-01T00:00:00Z",
            time_frame_end="2025-04-22T00:00:00Z",
        ),
        query("no-reason", {"agency": "Berkeley CA PD", "user": USERS[1]}, None, PLATES[1]),
        query("bad-time", {"agency": "Berkeley CA PD"}, "x", PLATES[1]).replace("2025-04-22T17:03:11Z", "yesterday"),
        query("hostile", {"agency": HOSTILE, "user": USERS[0]}, "assault 25-0999", PLATES[2]),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


GRAPH_ROWS = [
    ("Fremont CA PD", "Hayward CA PD", "1", "2"),
    ("Fremont CA PD", "Acworth GA PD", "1", "3"),
    ("Fremont CA PD", "FBI", "1", "4"),
    ("Fremont CA PD", "", "1", "5"),  # malformed: no recipient (line 5)
    ("Ukiah CA PD", "Marshall TX PD", "6", "7"),
    ("Ukiah CA PD", "Test Demo 1234", "6", "8"),
    ("Ukiah CA PD", '=HYPERLINK("x") PD', "6", "9"),
]


def graph_fixture(path: Path) -> Path:
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(("src_agency", "external_agency", "src_agency_id", "external_agency_id"))
        writer.writerows(GRAPH_ROWS)
    return path


@pytest.fixture(scope="module")
def engine() -> Engine:
    return load_engine(None, Pseudonymizer(KEY))


def audit(engine: Engine, paths: list[Path], out: Path, **run: Any) -> dict[str, Any]:
    # These tests are about each event's findings; the pattern sections have tests/test_patterns_audit.py.
    audit_run = AuditRun(engine, out, **({"patterns": False} | run))
    audit_run.audit_files([str(path) for path in paths], None, IngestOptions())
    audit_run.finish()
    figures: dict[str, Any] = json.loads((out / "summary.json").read_text())
    return figures


def alerts_in(out: Path) -> list[Any]:
    return [decode_alert(line) for line in (out / "findings.jsonl").read_bytes().splitlines()]


class TestFindings:
    def test_rules_fired_per_event(self, engine: Engine, tmp_path: Path) -> None:
        """Each event of the fixture draws exactly the rules its violation calls for, and the clean one none."""
        audit(engine, [v1_fixture(tmp_path / "events.jsonl")], tmp_path / "out")
        fired: dict[str, set[str]] = {}
        for alert in alerts_in(tmp_path / "out"):
            fired.setdefault(alert.event_id, set()).add(alert.rule_id)
        assert fired == {event: rules for event, rules in EXPECTED.items() if rules}

    def test_csv_matches_jsonl(self, engine: Engine, tmp_path: Path) -> None:
        """findings.csv has the documented columns and one row per alert of findings.jsonl."""
        audit(engine, [v1_fixture(tmp_path / "events.jsonl")], tmp_path / "out")
        with (tmp_path / "out" / "findings.csv").open(encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle))
        assert tuple(rows[0]) == FINDING_COLUMNS
        alerts = alerts_in(tmp_path / "out")
        assert [row["alert_id"] for row in rows] == [alert.alert_id for alert in alerts]
        immigration = next(row for row in rows if row["kind"] == "purpose.immigration")
        assert immigration["matched"] == "ICE"
        assert immigration["plate_hash"].startswith("p:")

    def test_totals_add_up(self, engine: Engine, tmp_path: Path) -> None:
        """Records = events + invalid + skipped, events = clean + alerted, and alerts = lines of findings."""
        totals = audit(engine, [v1_fixture(tmp_path / "events.jsonl")], tmp_path / "out")["totals"]
        lines = (tmp_path / "events.jsonl").read_text().splitlines()
        alerted = sum(1 for rules in EXPECTED.values() if rules)
        assert totals["records"] == len(lines) == totals["events"] + totals["invalid"] + totals["skipped"]
        assert (totals["events"], totals["invalid"]) == (len(EXPECTED), len(lines) - len(EXPECTED))
        assert (totals["clean"], totals["alerted"]) == (len(EXPECTED) - alerted, alerted)
        assert totals["alerts"] == len(alerts_in(tmp_path / "out")) == sum(map(len, EXPECTED.values()))
        assert totals["findings_lines"] == totals["alerts"]
        assert totals["consistent"] is True

    def test_unclassified_record_makes_totals_inconsistent(self, engine: Engine, tmp_path: Path) -> None:
        """A record the run takes but counts in no class (events, invalid, skipped) is reported as a mismatch."""
        run = AuditRun(engine, tmp_path / "out")
        lines = v1_fixture(tmp_path / "events.jsonl").read_bytes().splitlines()
        run.consume([decode_event(lines[0]), cast(Item, object())])
        result = run.finish()
        figures = json.loads((tmp_path / "out" / "summary.json").read_text())
        assert (figures["totals"]["records"], figures["totals"]["events"]) == (2, 1)
        assert figures["totals"]["consistent"] is False
        assert not result.totals.consistent()
        assert "totals do not add up" in (tmp_path / "out" / "summary.md").read_text()
        assert "do not add up" in (tmp_path / "out" / "report.html").read_text()

    def test_lost_findings_make_totals_inconsistent(
        self, engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Alerts counted but missing from findings.jsonl (a writer that drops them) are reported as a mismatch."""
        monkeypatch.setattr(FindingsWriter, "alerts", lambda self, alerts: None)
        totals = audit(engine, [v1_fixture(tmp_path / "events.jsonl")], tmp_path / "out")["totals"]
        assert totals["alerts"] > 0
        assert totals["findings_lines"] == 0
        assert totals["consistent"] is False

    def test_jurisdiction_counts(self, engine: Engine, tmp_path: Path) -> None:
        """Every event is counted under its requester's class, clean ones included."""
        figures = audit(engine, [v1_fixture(tmp_path / "events.jsonl")], tmp_path / "out")
        assert figures["events_by_jurisdiction"] == {"in_state": 4, "federal": 1, "out_of_state": 1, "unresolved": 1}
        assert figures["distinct_requesters_by_jurisdiction"]["in_state"] == 3

    def test_sharing_graph(self, engine: Engine, tmp_path: Path) -> None:
        """Each graph row is a grant by its source agency, judged under that agency's state law."""
        figures = audit(engine, [graph_fixture(tmp_path / "graph.csv")], tmp_path / "out")
        by_event = {alert.event_id: alert.rule_id for alert in alerts_in(tmp_path / "out")}
        assert by_event["flock-share:1:3"] == "ca.sb34.out-of-state-recipient"
        assert by_event["flock-share:1:4"] == "ca.sb34.federal-recipient"
        assert by_event["flock-share:6:7"] == "ca.sb34.out-of-state-recipient"
        assert by_event["flock-share:6:8"] == "ca.sb34.placeholder-recipient"
        assert "flock-share:1:2" not in by_event
        assert figures["owners"] == 2
        assert figures["totals"]["invalid"] == 1
        report = (tmp_path / "out" / "report.html").read_text()
        assert "grants to federal agencies" in report
        assert "Data owners" in report


class TestBadInput:
    def test_errors_csv_names_file_line_reason(self, engine: Engine, tmp_path: Path) -> None:
        """Each malformed line is listed with its file, line number, reason code and (when known) field."""
        path = v1_fixture(tmp_path / "events.jsonl")
        audit(engine, [path], tmp_path / "out")
        with (tmp_path / "out" / "errors.csv").open(encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle))
        assert [(row["file"], int(row["line"])) for row in rows] == [(str(path), 3), (str(path), 6), (str(path), 9)]
        assert rows[0]["reason"].startswith("invalid_json")
        assert rows[2]["field"] == "$.occurred_at"

    def test_malformed_csv_row_counted_and_run_goes_on(self, engine: Engine, tmp_path: Path) -> None:
        """A graph row without a recipient is reported at its line, counted in the report, and later rows judged."""
        path = graph_fixture(tmp_path / "graph.csv")
        figures = audit(engine, [path], tmp_path / "out")
        errors = (tmp_path / "out" / "errors.csv").read_text().splitlines()
        assert errors[1].startswith(f"{path},5,missing_field")
        assert figures["invalid_by_reason"] == {"missing_field": 1}
        assert figures["totals"]["events"] == len(GRAPH_ROWS) - 1
        assert "Malformed records: 1" in (tmp_path / "out" / "report.html").read_text()

    @pytest.mark.parametrize("parallel", [False, True])
    def test_more_files_than_the_open_file_limit(self, engine: Engine, tmp_path: Path, parallel: bool) -> None:
        """An audit over more files than the process may hold open (1,024 is common) judges every one."""
        import resource

        paths = []
        for index in range(300):
            path = tmp_path / f"day-{index:03d}.jsonl"
            path.write_text(query(f"e{index}", {"agency": "FBI"}, "burglary", PLATES[0]) + "\n")
            paths.append(path)
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))
        try:
            figures = audit(engine, paths, tmp_path / "out", parallel=parallel)
        finally:
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        assert figures["totals"]["events"] == 300

    def test_cli_exit_status(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """The command exits 1 with findings, 0 without, and 2 when a file cannot be used."""
        monkeypatch.setenv("ALPR_PSEUDONYM_KEY", KEY.decode())
        clean = tmp_path / "clean.jsonl"
        clean.write_text(query("c", {"agency": "Alameda County CA SO", "user": "u"}, "stolen vehicle", "1A") + "\n")
        unknown = tmp_path / "unknown.txt"
        unknown.write_text("this is not an export\n")
        assert main(["audit", str(v1_fixture(tmp_path / "events.jsonl")), "--out", str(tmp_path / "a")]) == 1
        assert main(["audit", str(clean), "--out", str(tmp_path / "b")]) == 0
        assert main(["audit", str(clean), str(unknown), "--out", str(tmp_path / "c")]) == 2
        assert not (tmp_path / "c" / "findings.jsonl").exists()


class TestReport:
    @pytest.fixture
    def out(self, engine: Engine, tmp_path: Path) -> Path:
        paths = [v1_fixture(tmp_path / "events.jsonl"), graph_fixture(tmp_path / "graph.csv")]
        audit(engine, paths, tmp_path / "out")
        return tmp_path / "out"

    def test_self_contained(self, out: Path) -> None:
        """The report loads nothing from elsewhere: no script, no stylesheet link, charts as PNG data URIs."""
        html = (out / "report.html").read_text()
        references = re.findall(r"""(?:src|href)\s*=\s*["']?([^"'\s>]+)""", html)
        assert references
        assert all(ref.startswith(("#", "data:image/png;base64,")) for ref in references), references
        assert '<img class="chart" alt="Alerts by kind and severity" src="data:image/png;base64,' in html
        assert "<script" not in html.lower()
        assert "<link" not in html.lower()
        assert "@import" not in html
        assert "url(" not in html

    def test_hostile_agency_name_escaped(self, out: Path) -> None:
        """An agency named like markup is shown as text in the report and the summary, never as markup."""
        html = (out / "report.html").read_text()
        assert "&lt;script&gt;alert(1)&lt;/script&gt; PD" in html
        assert HOSTILE not in html
        assert "<script" not in (out / "summary.md").read_text()

    def test_no_plate_or_user_in_clear(self, out: Path) -> None:
        """No plate and no user name of the input appears in any output file, in any case."""
        for name in OUTPUTS:
            text = (out / name).read_text().casefold()
            for secret in (*PLATES, *USERS):
                assert secret.casefold() not in text, (name, secret)

    def test_plates_in_unparseable_cells_stay_out_of_the_outputs(self, engine: Engine, tmp_path: Path) -> None:
        """A plate typed into a time, time-frame or count cell is reported by shape only, in every output."""
        stamp = "11/13/2025, 10:00:17 PM UTC"
        header = (
            "ID,Name,Org Name,Total Networks Searched,Total Devices Searched,Time Frame,License Plate,Reason,"
            "Case #,Filters,Search Time,Search Type,Text Prompt,Moderation"
        )
        bad = [  # (networks, devices, time frame, search time)
            ("1", "10", f"{PLATES[0]}\n{stamp}", stamp),
            ("1", "10", f"11/12/2025, 10:00:17 PM {PLATES[1]}\n{stamp}", stamp),
            ("1", "10", f"{stamp}\n{PLATES[2]}", stamp),
            ("1", "10", f"{stamp}\n{stamp}", PLATES[3]),
            (PLATES[0], "10", f"{stamp}\n{stamp}", stamp),
            ("1", PLATES[1], f"{stamp}\n{stamp}", stamp),
        ]
        path = tmp_path / "audit.csv"
        with path.open("w", encoding="utf-8", newline="") as handle:
            handle.write(header + "\r\n")
            writer = csv.writer(handle)
            for number, (nets, devs, frame, when) in enumerate(bad):
                writer.writerow((f"id{number}", "", "Alameda County CA SO", nets, devs, frame, "", "stolen car", "",
                                 "", when, "search", "", ""))  # fmt: skip
        run = AuditRun(engine, tmp_path / "out")
        run.audit_files([str(path)], None, IngestOptions(owner=Owner(agency="Oakland CA PD", state="CA")))
        totals = run.finish().totals
        assert totals.invalid == len(bad)
        for name in OUTPUTS:
            text = (tmp_path / "out" / name).read_text().casefold()
            for plate in PLATES:
                assert plate.casefold() not in text, (name, plate)
        assert "of shape" in (tmp_path / "out" / "errors.csv").read_text()

    def test_headline_numbers(self, out: Path) -> None:
        """The summary states the audited events and that the totals add up."""
        summary = (out / "summary.md").read_text()
        figures = json.loads((out / "summary.json").read_text())
        assert f"Accesses audited: **{figures['totals']['events']:,}**" in summary
        assert "(totals add up)" in summary
        html = (out / "report.html").read_text()
        assert f"All {figures['totals']['records']:,} records read are accounted for" in html

    def test_immigration_search_listed_with_matched_text(self, out: Path) -> None:
        """The immigration-purpose section lists the search with the matched words, not the whole reason."""
        html = (out / "report.html").read_text()
        section = html[html.index('id="immigration"') : html.index('id="retention"')]
        assert "<mark>ICE</mark>" in section
        assert "California Highway Patrol" in section
        assert "Cal. Gov. Code § 7284.6(a)(1)(D)" in section


class TestCaps:
    def test_caps_keep_totals(self, engine: Engine, tmp_path: Path) -> None:
        """With tiny caps the detail tables stop growing, the overflow is counted, and the totals still add up."""
        path = v1_fixture(tmp_path / "events.jsonl")
        figures = audit(engine, [path], tmp_path / "out", caps=Caps(agencies=2, listed=1))
        assert figures["totals"]["consistent"] is True
        assert sum(figures["events_by_jurisdiction"].values()) == figures["totals"]["events"]
        assert sum(figures["distinct_requesters_by_jurisdiction"].values()) == 2
        assert (
            "further searches of agencies beyond the first 2 distinct names"
            in (tmp_path / "out" / "report.html").read_text()
        )


class TestParallel:
    def test_forked_reader_gives_the_same_findings(self, engine: Engine, tmp_path: Path) -> None:
        """Reading in a forked child (with the progress bar on) yields the same findings and figures as one core."""
        paths = [v1_fixture(tmp_path / "events.jsonl"), graph_fixture(tmp_path / "graph.csv")]
        one = audit(engine, paths, tmp_path / "one", parallel=False)
        two = audit(engine, paths, tmp_path / "two", parallel=True, progress=True)
        for figures in (one, two):
            figures.pop("seconds")
        assert one == two
        for name in ("findings.csv", "errors.csv"):
            assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()

    def test_reader_failure_is_raised_in_the_parent(self) -> None:
        """A reader that fails mid-file makes the parent raise IngestError naming the failure, not hang."""
        from monitor.audit._pipeline import ChildReader
        from monitor.ingest import IngestError

        def items() -> Any:
            yield from ()
            raise OSError("disk went away")

        reader = ChildReader([(items(), None)])
        try:
            with pytest.raises(IngestError, match="disk went away"):
                list(reader)
        finally:
            reader.close()

    def test_no_fork_while_threads_run(self) -> None:
        """Auto mode does not fork while another thread runs (its locks would stay held in the child)."""
        import threading

        from monitor.audit._pipeline import can_fork

        stop = threading.Event()
        thread = threading.Thread(target=stop.wait)
        thread.start()
        try:
            assert can_fork() is False
        finally:
            stop.set()
            thread.join()


class TestRealData:
    def test_eugene_portal_audit(self, engine: Engine, tmp_path: Path) -> None:
        """The real Eugene portal export is audited end to end: every row accounted for, reasons classified."""
        from monitor.events import Owner

        path = DATA / "flock-portal-search-audit-eugene-2025.csv"
        with path.open(encoding="utf-8", newline="") as handle:
            rows = sum(1 for _ in csv.reader(handle)) - 1
        run = AuditRun(engine, tmp_path / "out", owner="Eugene OR PD")
        run.audit_files([str(path)], None, IngestOptions(owner=Owner(agency="Eugene OR PD", state="OR")))
        totals = run.finish().totals
        figures = json.loads((tmp_path / "out" / "summary.json").read_text())
        assert totals.records == rows
        assert sum(figures["reasons"].values()) == totals.events
        assert figures["reasons"]["vague"] > 0
        # Oregon's ALPR law (2026) postdates these 2025 searches: the owner-policy baseline's default purpose
        # checks are what finds these, and the summary says no state law was in force for them.
        per_event = {rule: n for rule, n in figures["alerts_by_rule"].items() if not rule.startswith("patterns.")}
        assert per_event == {
            "policy.purpose-missing": figures["reasons"]["missing"],
            "policy.purpose-uninformative": figures["reasons"]["uninformative"],
        }
        # The pattern detectors ran too (tests/test_patterns_audit.py); they count among the alerts.
        assert sum(figures["pattern_alerts_by_kind"].values()) == totals.alerts - sum(per_event.values())
        assert [(entry["owner"], entry["state"]) for entry in figures["owners_without_state_law"]] == [
            ("Eugene OR PD", "OR")
        ]


class TestText:
    def test_spreadsheet_safe(self) -> None:
        """Cells a spreadsheet would run as formulas are made inert; others are unchanged."""
        assert spreadsheet_safe('=HYPERLINK("x")') == '\'=HYPERLINK("x")'
        assert spreadsheet_safe("@SUM(A1)") == "'@SUM(A1)"
        assert spreadsheet_safe("Acworth GA PD") == "Acworth GA PD"

    def test_graph_formula_name_inert_in_csv(self, engine: Engine, tmp_path: Path) -> None:
        """A recipient named like a formula is written to findings.csv with a leading quote."""
        audit(engine, [graph_fixture(tmp_path / "graph.csv")], tmp_path / "out")
        with (tmp_path / "out" / "findings.csv").open(encoding="utf-8", newline="") as handle:
            requesters = Counter(row["requester"] for row in csv.DictReader(handle))
        assert '\'=HYPERLINK("x") PD' in requesters
        assert not any(name.startswith("=") for name in requesters)

    def test_formula_event_id_inert_in_findings_csv(self, engine: Engine, tmp_path: Path) -> None:
        """An event id written like a formula reaches findings.csv with a leading quote, as agency names do."""
        path = tmp_path / "events.jsonl"
        path.write_text(query('=HYPERLINK("http://x/"&A1)', {"agency": "FBI"}, "burglary", PLATES[0]) + "\n")
        audit(engine, [path], tmp_path / "out")
        with (tmp_path / "out" / "findings.csv").open(encoding="utf-8", newline="") as handle:
            event_ids = {row["event_id"] for row in csv.DictReader(handle)}
        assert event_ids == {'\'=HYPERLINK("http://x/"&A1)'}

    def test_md_text(self) -> None:
        """Untrusted text cannot break a Markdown table or inject HTML."""
        assert md_text("a|b") == "a\\|b"
        assert md_text(HOSTILE) == "&lt;script&gt;alert(1)&lt;/script&gt; PD"
        assert md_text("- list") == "\\- list"
        assert md_text("two\nlines") == "two lines"

    def test_mask_identifiers(self) -> None:
        """Reasons in the report are masked as in alert evidence (the engine's mask), spaces collapsed."""
        assert (
            masked_reason("inv  7ABC123 25-0412")
            == "inv [id] [id]"
            == " ".join(mask_identifiers("inv  7ABC123 25-0412").split())
        )
        assert masked_reason("investigation") == "investigation"
        assert len(masked_reason("x" * 100)) == 60
