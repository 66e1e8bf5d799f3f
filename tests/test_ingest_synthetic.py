"""The synthetic Flock network-audit generator used by benchmarks."""

from __future__ import annotations

import csv
from pathlib import Path

from monitor.events import AccessEvent, Owner
from monitor.ingest import IngestOptions, Tally, read_events
from monitor.ingest.synthetic import HEADER, generate_flock_network_audit

OAKLAND = IngestOptions(owner=Owner(agency="Oakland CA PD", ori="CA0010900", state="CA"))


class TestGenerateFlockNetworkAudit:
    def test_same_seed_same_bytes(self, tmp_path: Path) -> None:
        """A seed fixes the file exactly; another seed gives another file."""
        first, second, other = tmp_path / "a.csv", tmp_path / "b.csv", tmp_path / "c.csv"
        generate_flock_network_audit(first, 500, seed=3)
        generate_flock_network_audit(second, 500, seed=3)
        generate_flock_network_audit(other, 500, seed=4)
        assert first.read_bytes() == second.read_bytes() != other.read_bytes()

    def test_has_the_real_quirks(self, tmp_path: Path) -> None:
        """Leading-space headers, two-line time frames, `——`, `***`, REDACTED and immigration reasons all occur."""
        path = tmp_path / "audit.csv"
        generate_flock_network_audit(path, 5000, seed=1)
        with path.open(encoding="utf-8", newline="") as handle:
            rows = list(csv.reader(handle))
        assert rows[0] == HEADER
        assert rows[0][1] == " Name"
        assert all(row[5].count("\n") == 1 for row in rows[1:])
        cells = {cell for row in rows[1:] for cell in row}
        assert {"——", "***", "REDACTED"} <= cells
        assert cells & {"ICE", "ICE+ERO", "ICE WARRANT", "immigration", "criminal alien"}
        orgs = {row[2] for row in rows[1:]}
        assert {"California Highway Patrol", "FBI", "Houston TX PD"} <= orgs

    def test_adapter_reads_it_back_with_counts_that_add_up(self, tmp_path: Path) -> None:
        """Every record comes back: copies as Skipped, malformed rows as RowErrors, the rest as events."""
        path = tmp_path / "audit.csv"
        stats = generate_flock_network_audit(path, 20_000, seed=9, malformed_rate=0.01)
        tally = Tally()
        items = list(tally.count(read_events(path, options=OAKLAND)))
        assert tally.records == stats.records == 20_000
        # A copy of a malformed row is itself malformed, so only the sums are exact.
        assert tally.errors + tally.skipped == stats.malformed + stats.copies
        assert tally.errors >= stats.malformed > 0
        assert 0 < tally.skipped <= stats.copies
        ids = [item.event_id for item in items if isinstance(item, AccessEvent)]
        assert len(ids) == len(set(ids)) == tally.events
