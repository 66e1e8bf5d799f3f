"""Snapshot differencing: consecutive sharing lists become grants and revokes, and standing access follows."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.alerts import decode_alert
from monitor.events import AccessEvent, Owner
from monitor.ingest import IngestError, IngestOptions, Skipped, read_snapshots

ENV = {**os.environ, "ALPR_PSEUDONYM_KEY": "snapshot-tests-key-0123456789"}
ICE = "US Immigration and Customs Enforcement"
OWNER = IngestOptions(owner=Owner(agency="Long Beach CA PD", state="CA"))


def write_list(path: Path, *agencies: str) -> str:
    path.write_text("Agency\n" + "".join(f"{name}\n" for name in agencies))
    return str(path)


def changes(items: list[object]) -> list[tuple[str, str]]:
    return [
        (item.sharing.action, item.requester.agency)
        for item in items
        if isinstance(item, AccessEvent) and item.sharing is not None
    ]


class TestReadSnapshots:
    def test_who_appears_is_granted_and_who_goes_is_revoked(self, tmp_path: Path) -> None:
        """The first list grants everyone; later lists grant newcomers and revoke the missing, at their own time."""
        files = [
            write_list(tmp_path / "jan.csv", "Torrance CA PD", "Pasadena CA PD"),
            write_list(tmp_path / "feb.csv", "Torrance CA PD", "Pasadena CA PD", ICE),
            write_list(tmp_path / "nov.csv", "Torrance CA PD"),
        ]
        times = [
            datetime(2020, 1, 10, tzinfo=UTC),
            datetime(2020, 2, 10, tzinfo=UTC),
            datetime(2020, 11, 10, tzinfo=UTC),
        ]
        items = list(read_snapshots(files, "flock-sharing-list", OWNER, times))
        assert changes(items) == [
            ("grant", "Torrance CA PD"),
            ("grant", "Pasadena CA PD"),
            ("grant", ICE),
            ("revoke", "Pasadena CA PD"),
            ("revoke", ICE),
        ]
        events = [item for item in items if isinstance(item, AccessEvent)]
        assert events[2].occurred_at == times[1]
        assert events[-1].occurred_at == times[2]
        assert {event.source.log for event in events if event.source} == {"sharing_snapshot"}
        # Every record read is accounted for: 2 + 3 + 1 rows, 3 of them unchanged.
        assert sum(isinstance(item, Skipped) for item in items) == 3
        assert len(events) == 5

    def test_order_follows_time_not_arguments(self, tmp_path: Path) -> None:
        """Snapshots given newest first are still compared oldest to newest, with the same ids."""
        a = write_list(tmp_path / "a.csv", "FBI")
        b = write_list(tmp_path / "b.csv", "FBI", "Reno NV PD")
        t1, t2 = datetime(2021, 1, 1, tzinfo=UTC), datetime(2021, 3, 1, tzinfo=UTC)
        forward = list(read_snapshots([a, b], "flock-sharing-list", OWNER, [t1, t2]))
        backward = list(read_snapshots([b, a], "flock-sharing-list", OWNER, [t2, t1]))
        assert changes(forward) == changes(backward) == [("grant", "FBI"), ("grant", "Reno NV PD")]
        assert [e.event_id for e in forward if isinstance(e, AccessEvent)] == [
            e.event_id for e in backward if isinstance(e, AccessEvent)
        ]

    def test_empty_snapshot_needs_its_time(self, tmp_path: Path) -> None:
        """An empty list revokes everyone, so without --as-of it is refused with the file named."""
        a = write_list(tmp_path / "a.csv", "FBI")
        empty = tmp_path / "empty.csv"
        empty.write_text("")
        with pytest.raises(IngestError, match=r"empty\.csv"):
            list(read_snapshots([a, str(empty)], "flock-sharing-list", OWNER))

    def test_one_time_per_file(self, tmp_path: Path) -> None:
        """Times must be given once per snapshot, or not at all."""
        a = write_list(tmp_path / "a.csv", "FBI")
        with pytest.raises(IngestError, match="once per snapshot"):
            list(read_snapshots([a, a], "flock-sharing-list", OWNER, [datetime(2021, 1, 1, tzinfo=UTC)]))


class TestSnapshotsInCheck:
    def test_long_beach_lists_page_every_day_until_the_revoke(self, tmp_path: Path) -> None:
        """Records-request lists of February and November: ICE's access alerts once per day in between."""
        files = [
            write_list(tmp_path / "jan.csv", "Torrance CA PD"),
            write_list(tmp_path / "feb.csv", "Torrance CA PD", ICE),
            write_list(tmp_path / "nov.csv", "Torrance CA PD"),
        ]
        args = ["--snapshots", "--format", "flock-sharing-list", "--owner", "Long Beach CA PD", "--owner-state", "CA"]
        for day in ("2020-01-15", "2020-02-20", "2020-11-05"):
            args += ["--as-of", f"{day}T00:00:00+00:00"]
        result = subprocess.run(
            [sys.executable, "-m", "cli", "check", *args, *files], capture_output=True, env=ENV, timeout=120
        )
        assert result.returncode == 1, result.stderr
        alerts = [decode_alert(line) for line in result.stdout.splitlines()]
        standing = [a for a in alerts if a.kind == "sharing.standing_access"]
        exposure = (datetime(2020, 11, 5) - datetime(2020, 2, 20)).days + 1
        assert len(standing) == exposure
        assert standing[0].evidence["granted_via"] == "snapshot"
        assert standing[-1].evidence["active_days"] == str(exposure)
        assert len({a.alert_id for a in standing}) == exposure


class TestOtherListFormats:
    def test_sharing_graph_differs_per_owner(self, tmp_path: Path) -> None:
        """Two scrapes of the sharing graph: each owner's own list is compared with its own earlier list."""
        first = tmp_path / "graph-1.csv"
        first.write_text(
            "src_agency,external_agency\nLong Beach CA PD,Torrance CA PD\nOakland CA PD,FBI\nOakland CA PD,Reno NV PD\n"
        )
        second = tmp_path / "graph-2.csv"
        second.write_text("src_agency,external_agency\nLong Beach CA PD,Torrance CA PD\nLong Beach CA PD,FBI\n")
        times = [datetime(2024, 4, 1, tzinfo=UTC), datetime(2024, 5, 1, tzinfo=UTC)]
        items = list(read_snapshots([str(first), str(second)], "flock-sharing-graph", IngestOptions(), times))
        got = [
            (item.sharing.action, item.owner.agency, item.requester.agency, item.occurred_at.month)
            for item in items
            if isinstance(item, AccessEvent) and item.sharing is not None
        ]
        assert got == [
            ("grant", "Long Beach CA PD", "Torrance CA PD", 4),
            ("grant", "Oakland CA PD", "FBI", 4),
            ("grant", "Oakland CA PD", "Reno NV PD", 4),
            ("grant", "Long Beach CA PD", "FBI", 5),
            ("revoke", "Oakland CA PD", "FBI", 5),
            ("revoke", "Oakland CA PD", "Reno NV PD", 5),
        ]

    def test_vigilant_reports_keep_directions_apart(self, tmp_path: Path) -> None:
        """Vigilant reports: shared (outbound) and received (inbound) lists are differenced separately."""
        report = "Agency Data Sharing Report\nAgency: Anaheim Police Department (CA)\nReport Date: {date}\n{body}"
        first = tmp_path / "v1.txt"
        first.write_text(
            report.format(date="01/02/2019", body="Detections Shared\nFBI\nDetections Received\nReno PD\n")
        )
        second = tmp_path / "v2.txt"
        second.write_text(report.format(date="03/02/2019", body="Detections Shared\nDetections Received\nFBI\n"))
        items = list(read_snapshots([str(first), str(second)], "vigilant-sharing-report", IngestOptions()))
        got = [
            (item.sharing.action, item.sharing.direction, item.requester.agency)
            for item in items
            if isinstance(item, AccessEvent) and item.sharing is not None
        ]
        assert got == [
            ("grant", "outbound", "FBI"),
            ("grant", "inbound", "Reno PD"),
            ("grant", "inbound", "FBI"),
            ("revoke", "outbound", "FBI"),
            ("revoke", "inbound", "Reno PD"),
        ]


class TestSnapshotsInAudit:
    def test_audit_reports_the_exposure_between_two_lists(self, tmp_path: Path) -> None:
        """`audit --snapshots` reports ICE's exposure between the list that shows it and the one that does not."""
        files = [
            write_list(tmp_path / "feb.csv", "Torrance CA PD", ICE),
            write_list(tmp_path / "nov.csv", "Torrance CA PD"),
        ]
        args = ["--snapshots", "--format", "flock-sharing-list", "--owner", "Long Beach CA PD", "--owner-state", "CA"]
        args += ["--as-of", "2020-02-20T00:00:00+00:00", "--as-of", "2020-11-05T00:00:00+00:00"]
        out = tmp_path / "audit"
        result = subprocess.run(
            [sys.executable, "-m", "cli", "audit", *args, "--out", str(out), *files],
            capture_output=True,
            env=ENV,
            timeout=120,
        )
        assert result.returncode == 1, result.stderr
        figures = json.loads((out / "summary.json").read_text())
        (row,) = [r for r in figures["prohibited_access_during_period"] if r["recipient"] == ICE]
        assert row["days_of_exposure"] == (datetime(2020, 11, 5) - datetime(2020, 2, 20)).days + 1
        assert row["holds_access_now"] is False
        assert figures["totals"]["consistent"] is True
