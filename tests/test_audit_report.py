"""The audit report built from templates: escaping, the reach and retention sections, the state-pack notice,
and the end to end of issue 11 (a sheriff's audit printed to PDF, a policy with 30-day retention)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from cli import main
from monitor.audit import AuditRun
from monitor.audit._html import _environment
from monitor.engine import Engine, load_engine
from monitor.events import Owner, Requester
from monitor.hashing import Pseudonymizer
from monitor.ingest import IngestOptions
from tests.pdf_exports import SHERIFF, libreoffice_pdf, sheriff_audit, write_csv

KEY = b"audit-report-tests-key-0123456789"
HOSTILE = "<script>alert(1)</script> PD"
SEARCHED = datetime(2026, 1, 20, 12, 0, tzinfo=UTC)
# (reach back, networks, devices) of each known search.
KNOWN: list[tuple[timedelta, int | None, int | None]] = [
    (timedelta(days=1), 1, 5),
    (timedelta(days=30), 1, 50),  # exactly the period: not past it
    (timedelta(days=30, hours=12), 1, None),  # past the period, within the day's grace
    (timedelta(days=31, hours=12), 3, 500),  # past the grace
    (timedelta(days=200), 120, 20_000),
    (timedelta(days=514), 1_500, 60_000),
]


def policy(path: Path, retention: int | None = 30, agency: str = SHERIFF, state: str = "WI") -> Path:
    lines = ["name: test policy", "owners:", "  - id: the-owner", f"    agency: {agency}", f"    state: {state}"]
    if retention is not None:
        lines.append(f"    retention_days: {retention}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def known_events(path: Path, agency: str = SHERIFF, state: str = "WI", requester: str = SHERIFF) -> Path:
    lines = []
    for number, (reach, networks, devices) in enumerate(KNOWN):
        query: dict[str, Any] = {
            "reason": "burglary",
            "plate": "1ABC234",
            "search_type": "search",
            "time_frame_start": (SEARCHED - reach).isoformat(),
            "time_frame_end": SEARCHED.isoformat(),
            "networks_searched": networks,
            "devices_searched": devices,
        }
        lines.append(
            json.dumps(
                {
                    "event_id": f"known-{number}",
                    "event_type": "query",
                    "occurred_at": SEARCHED.isoformat(),
                    "owner": {"agency": agency, "state": state},
                    "requester": {"agency": requester, "user": "deputy"},
                    "query": query,
                }
            )
        )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run_audit(engine: Engine, inputs: list[Path], out: Path, **options: Any) -> tuple[dict[str, Any], str]:
    run = AuditRun(engine, out, **options)
    run.audit_files([str(path) for path in inputs], None, IngestOptions())
    run.finish()
    return json.loads((out / "summary.json").read_text()), (out / "report.html").read_text()


def section(html: str, anchor: str) -> str:
    start = html.index(f'<section id="{anchor}"')
    return html[start : html.index("</section>", start)]


def cards(html: str) -> dict[str, str]:
    """Card label -> number, as shown."""
    found = re.findall(r'<div class="n">([^<]*)</div><div class="l">([^<]*)</div>', html)
    return {html_text(label): number for number, label in found}


def html_text(value: str) -> str:
    import html

    return html.unescape(value)


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    return load_engine(policy(tmp_path / "policy.yaml"), Pseudonymizer(KEY))


class TestEscaping:
    def test_templates_escape_what_the_input_says(self, engine: Engine, tmp_path: Path) -> None:
        """Agency names, titles and file names shaped like markup are shown as text, never run as markup."""
        named = tmp_path / '"><img src=x onerror=alert(1)>.jsonl'
        known_events(named, requester=HOSTILE)
        _, html = run_audit(engine, [named], tmp_path / "out", title="Audit <b>bold</b>", owner=HOSTILE)
        assert "&lt;script&gt;alert(1)&lt;/script&gt; PD" in html
        assert "<script" not in html.lower()
        assert "<img src=x" not in html
        assert "&lt;img src=x onerror=alert(1)&gt;" in html
        assert "Audit &lt;b&gt;bold&lt;/b&gt;" in html

    def test_autoescape_is_on_for_every_template(self) -> None:
        """The environment escapes by default, whatever a template is called."""
        environment = _environment()
        template = environment.from_string("{{ value }}")
        assert template.render(value="<i>x</i>") == "&lt;i&gt;x&lt;/i&gt;"
        assert environment.autoescape is True


class TestReachAndRetention:
    def test_known_figures(self, engine: Engine, tmp_path: Path) -> None:
        """Six searches with known reach give the counts past the period and the grace, and the reach figures."""
        figures, html = run_audit(engine, [known_events(tmp_path / "known.jsonl")], tmp_path / "out")
        retention, reach = figures["retention"], figures["reach"]
        assert (retention["past_period"], retention["past_grace"]) == (4, 3)
        assert retention["furthest"]["value"] == 514.0
        assert retention["furthest"]["event_id"] == "known-5"
        assert retention["retention_days"] == [30]
        assert (reach["one_network"], reach["many_networks"]) == (3, 3)
        assert reach["most_networks"]["value"] == 1_500
        assert reach["most_devices"]["value"] == 60_000
        assert reach["devices"] == {"1 to 10": 1, "11 to 100": 1, "101 to 1,000": 1, "1,001 to 10,000": 0,
                                    "more than 10,000": 2}  # fmt: skip
        assert reach["devices_unknown"] == 1
        shown = cards(section(html, "retention"))
        assert shown["retention period (the owner's policy)"] == "30 days"
        assert shown["searches reaching past the period (67%)"] == "4"
        assert shown["past the period and the 1-day grace"] == "3"
        assert shown["furthest reach back"] == "514 days"
        shown = cards(section(html, "reach"))
        assert shown["searches of one network (50%)"] == "3"
        assert shown["searches of more than one network (50%)"] == "3"
        assert shown["most networks in one search"] == "1,500"
        assert shown["most devices in one search"] == "60,000"
        assert "What this means." in section(html, "reach")
        assert "What this means." in section(html, "retention")
        assert "4 searches reached back past the owner's 30-day retention period (the furthest 514 days)" in (
            re.sub(r"<[^>]+>", "", section(html, "headline"))
        )
        summary = (tmp_path / "out" / "summary.md").read_text()
        assert "Searches reaching past the retention period (30 days): 4; past it and the 1-day grace: 3" in summary
        assert "Furthest reach back: 514 days" in summary

    def test_retention_days_option_overrides_the_policy(self, engine: Engine, tmp_path: Path) -> None:
        """With a 365-day period given, only the search reaching 514 days back is past it."""
        figures, _ = run_audit(engine, [known_events(tmp_path / "known.jsonl")], tmp_path / "out", retention_days=365)
        assert (figures["retention"]["past_period"], figures["retention"]["past_grace"]) == (1, 1)
        assert figures["retention"]["retention_days"] == [365]

    def test_owner_without_a_period(self, tmp_path: Path) -> None:
        """An owner whose policy states no period: nothing is counted past it, and the report says why."""
        engine = load_engine(policy(tmp_path / "policy.yaml", retention=None), Pseudonymizer(KEY))
        figures, html = run_audit(engine, [known_events(tmp_path / "known.jsonl")], tmp_path / "out")
        assert (figures["retention"]["past_period"], figures["retention"]["without_period"]) == (0, len(KNOWN))
        assert figures["retention"]["furthest"]["value"] == 514.0
        assert "states no retention period" in section(html, "retention")


class TestStatePackNotice:
    def test_owner_in_a_state_without_a_pack(self, engine: Engine, tmp_path: Path) -> None:
        """A Wisconsin owner (no state pack) gets the visible notice and the summary says so."""
        figures, html = run_audit(engine, [known_events(tmp_path / "known.jsonl")], tmp_path / "out")
        assert [entry["owner"] for entry in figures["owners_without_state_law"]] == [SHERIFF]
        assert "No state law pack: only the owner policy was checked." in html

    def test_owner_with_a_state_pack(self, tmp_path: Path) -> None:
        """A California owner is judged under the California pack: no notice."""
        engine = load_engine(policy(tmp_path / "p.yaml", agency="Oakland CA PD", state="CA"), Pseudonymizer(KEY))
        events = known_events(tmp_path / "known.jsonl", agency="Oakland CA PD", state="CA", requester="Berkeley CA PD")
        figures, html = run_audit(engine, [events], tmp_path / "out")
        assert figures["owners_without_state_law"] == []
        assert "No state law pack" not in html


class TestPdfInput:
    def test_forked_reader_reads_a_pdf_like_one_core(self, engine: Engine, tmp_path: Path) -> None:
        """A PDF read in the forked reader (large inputs) gives the same figures and findings as on one core."""
        fixture = Path(__file__).parent / "fixtures" / "ingest" / "flock-org-audit-stripped-2026.pdf"
        options = IngestOptions(owner=Owner(agency=SHERIFF, state="WI"), default_requester=Requester(agency=SHERIFF))
        figures = []
        for parallel in (False, True):
            run = AuditRun(engine, tmp_path / str(parallel), parallel=parallel, progress=False)
            run.audit_files([str(fixture)], None, options)
            run.finish()
            found = json.loads((tmp_path / str(parallel) / "summary.json").read_text())
            found.pop("seconds")
            figures.append(found)
        assert figures[0] == figures[1]
        assert figures[0]["totals"]["events"] == 40
        assert figures[0]["retention"]["past_grace"] > 0
        assert (tmp_path / "False" / "findings.csv").read_bytes() == (tmp_path / "True" / "findings.csv").read_bytes()


class TestSheriffPdfEndToEnd:
    def test_sheriff_pdf_with_30_day_policy(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """A LibreOffice-printed sheriff's audit and a 30-day policy give the retention, reason and reach figures."""
        rows = sheriff_audit(seed=2026, count=300)
        pdf = libreoffice_pdf(write_csv(rows, tmp_path / "pinecrest.csv"), tmp_path / "print", grid=True)
        monkeypatch.setenv("ALPR_PSEUDONYM_KEY", KEY.decode())
        arguments = ["audit", str(pdf), "--owner", SHERIFF, "--owner-state", "WI", "--default-requester", SHERIFF,
                     "--policy", str(policy(tmp_path / "policy.yaml")), "--out", str(tmp_path / "out")]  # fmt: skip
        main(arguments)
        figures = json.loads((tmp_path / "out" / "summary.json").read_text())
        html = (tmp_path / "out" / "report.html").read_text()
        assert figures["totals"]["records"] == figures["totals"]["events"] == len(rows)
        past_period = sum(row.reach_days > 30 for row in rows)
        past_grace = sum(row.reach_days > 31 for row in rows)
        furthest = max(row.reach_days for row in rows)
        assert past_grace > 50
        assert past_period > past_grace
        assert furthest > 500
        retention = figures["retention"]
        assert (retention["past_period"], retention["past_grace"]) == (past_period, past_grace)
        assert retention["furthest"]["value"] == round(furthest, 1)
        assert figures["reasons"]["missing"] == sum(row.reason == "" for row in rows)
        assert figures["reach"]["many_networks"] == sum((row.networks or 0) > 1 for row in rows)
        assert figures["reach"]["most_networks"]["value"] == max(row.networks or 0 for row in rows)
        shown = cards(section(html, "retention"))
        assert shown["past the period and the 1-day grace"] == f"{past_grace:,}"
        assert shown["furthest reach back"] == f"{furthest:,.0f} days"
        assert "No state law pack: only the owner policy was checked." in html
        # The findings: the owner-policy baseline applies to an owner of any state (issue 11 item 1).
        blank = sum(row.reason == "" for row in rows)
        assert figures["events_by_kind"]["retention.exceeded"] == past_grace
        assert figures["events_by_kind"]["purpose.missing"] == blank
        assert f"Retention findings: {past_grace:,}</h3>" in section(html, "retention")
        furthest_row = section(html, "retention").split("Searches reaching back furthest", 1)[1]
        assert f"{furthest:.0f}" in furthest_row.split("</tr>", 2)[1]
