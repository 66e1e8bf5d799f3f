"""Sharing lists: the Flock sharing graph and portal lists (real data), and the Vigilant sharing report."""

from __future__ import annotations

import csv
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.events import AccessEvent, Owner
from monitor.ingest import IngestOptions, Item, MissingOption, RowError, Skipped, Tally, read_events

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "ingest"
DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
GRAPH = DATA / "flock-sharing-graph-2024.csv"
RECIPIENTS = DATA / "flock-recipients-eugene-2025.csv"
VIGILANT = FIXTURES / "vigilant-sharing-report-2019.txt"
SCRAPED = datetime(2024, 4, 26, tzinfo=UTC)
EUGENE = IngestOptions(owner=Owner(agency="Eugene OR PD", state="OR"), as_of=datetime(2025, 11, 13, tzinfo=UTC))


def data_rows(path: Path) -> int:
    with path.open(encoding="utf-8", newline="") as handle:
        return sum(1 for row in csv.reader(handle) if row) - 1


def events(items: list[Item]) -> list[AccessEvent]:
    return [item for item in items if isinstance(item, AccessEvent)]


class TestFlockSharingGraph:
    def test_real_graph_counts_add_up(self) -> None:
        """All 37,099 rows of the real graph become grants, with unique deterministic ids."""
        tally = Tally()
        items = list(tally.count(read_events(GRAPH, options=IngestOptions(as_of=SCRAPED))))
        assert tally.records == data_rows(GRAPH) == 37_099
        assert tally.events == tally.records
        assert len({event.event_id for event in events(items)}) == tally.events

    def test_each_row_is_an_outbound_grant_from_the_source_agency(self) -> None:
        """src_agency owns the data (no state: the resolver decides) and grants external_agency access."""
        first = next(read_events(GRAPH, options=IngestOptions(as_of=SCRAPED)))
        assert isinstance(first, AccessEvent)
        assert (first.owner.agency, first.owner.state, first.requester.agency) == (
            "Sylvania OH PD",
            None,
            "Adrian MI PD",
        )
        assert first.event_type == "sharing_change"
        assert first.sharing is not None
        assert (first.sharing.action, first.sharing.direction) == ("grant", "outbound")
        assert first.event_id == "flock-share:2459:14"
        assert first.occurred_at == SCRAPED

    def test_configured_owner_is_used_for_its_rows(self) -> None:
        """When the owner option names a source agency, its rows carry the configured owner (with ORI and state)."""
        sylvania = Owner(agency="Sylvania OH PD", ori="OH0480900", state="OH")
        items = list(read_events(GRAPH, options=IngestOptions(owner=sylvania, as_of=SCRAPED)))
        owners = {event.owner for event in events(items) if event.owner.agency == "Sylvania OH PD"}
        assert owners == {sylvania}
        assert any(event.owner.state is None for event in events(items))

    def test_default_time_is_the_file_modification_time(self, tmp_path: Path) -> None:
        """Without as_of, a list's events are dated by the file's modification time."""
        path = tmp_path / "graph.csv"
        path.write_text(
            "src_agency,external_agency,src_agency_id,external_agency_id\nA PD,B PD,1,2\n", encoding="utf-8"
        )
        os.utime(path, (1_714_089_600, 1_714_089_600))
        (event,) = events(list(read_events(path)))
        assert event.occurred_at == SCRAPED

    def test_bad_rows_and_repeats(self, tmp_path: Path) -> None:
        """An empty agency name is a RowError on its line; a repeated grant is Skipped."""
        path = tmp_path / "graph.csv"
        path.write_text(
            "src_agency,external_agency,src_agency_id,external_agency_id\nA PD,B PD,1,2\n,B PD,3,2\nA PD,B PD,1,2\n",
            encoding="utf-8",
        )
        items = list(read_events(path, options=IngestOptions(as_of=SCRAPED)))
        assert [(type(item).__name__, getattr(item, "line", None)) for item in items[1:]] == [
            ("RowError", 3),
            ("Skipped", 4),
        ]
        assert isinstance(items[1], RowError)
        assert items[1].field == "src_agency"


class TestFlockSharingList:
    def test_real_recipient_list_counts_add_up(self) -> None:
        """All 59 rows of Eugene's recipient list become outbound grants from the configured owner."""
        tally = Tally()
        items = list(tally.count(read_events(RECIPIENTS, options=EUGENE)))
        assert tally.records == data_rows(RECIPIENTS) == 59
        assert tally.events == 59
        assert {event.owner.agency for event in events(items)} == {"Eugene OR PD"}

    def test_state_column_is_used_as_given_and_unknown_states_are_absent(self) -> None:
        """The State column becomes requester.state; `??` is no state. Dirty values are kept, not corrected."""
        states = {
            event.requester.agency: event.requester.state
            for event in events(list(read_events(RECIPIENTS, options=EUGENE)))
        }
        assert states["Ada County ID SO"] == "ID"
        assert states["Home Depot Corporation"] is None
        assert states["Carson City NV SO"] == "WA"  # the release's own error; the resolver weighs the evidence

    def test_single_agency_column_and_duplicates(self, tmp_path: Path) -> None:
        """A portal list with only an `Agency` column reads; a repeated agency is Skipped."""
        path = tmp_path / "portal-list.csv"
        path.write_text("Agency\nFBI\nTN - Loeb Properties Inc - Security\nFBI\n", encoding="utf-8")
        items = list(read_events(path, options=EUGENE))
        assert [event.requester.agency for event in events(items)] == ["FBI", "TN - Loeb Properties Inc - Security"]
        assert isinstance(items[-1], Skipped)
        assert items[-1].line == 4

    def test_needs_the_owner(self) -> None:
        """A portal list does not say whose it is: without the owner option it is refused."""
        with pytest.raises(MissingOption):
            read_events(RECIPIENTS)


class TestVigilantSharingReport:
    def test_entries_become_grants_by_section(self) -> None:
        """Detections Shared are outbound grants, Detections Received inbound ones; layout lines are ignored."""
        produced = events(list(read_events(VIGILANT)))
        shared = [e.requester.agency for e in produced if e.sharing is not None and e.sharing.direction == "outbound"]
        received = [e.requester.agency for e in produced if e.sharing is not None and e.sharing.direction == "inbound"]
        assert shared == [
            "Glendale Police Department",
            "Sacramento County Sheriff's Office",
            "U.S. Immigration and Customs Enforcement (ICE)",
            "Riverside Police Department (CA)",
            "Orange County Sheriff's Department",
        ]
        assert received == [
            "Long Beach Police Department",
            "Glendale Police Department",
            "Maricopa County Sheriff's Office (AZ)",
        ]

    def test_owner_and_date_come_from_the_report(self) -> None:
        """The report's Agency line is the owner (state from its `(CA)`) and its Report Date the time."""
        first = events(list(read_events(VIGILANT)))[0]
        assert first.owner == Owner(agency="Anaheim Police Department (CA)", state="CA")
        assert first.occurred_at == datetime(2019, 3, 14, tzinfo=UTC)
        assert first.source is not None
        assert first.source.vendor == "vigilant"

    def test_options_override_the_report(self) -> None:
        """The owner and as_of options win over what the report prints."""
        anaheim = Owner(agency="Anaheim CA PD", ori="CA0300100", state="CA")
        when = datetime(2019, 3, 15, 12, tzinfo=UTC)
        first = events(list(read_events(VIGILANT, options=IngestOptions(owner=anaheim, as_of=when))))[0]
        assert (first.owner, first.occurred_at) == (anaheim, when)

    def test_states_only_where_the_report_gives_them(self) -> None:
        """`(CA)` and a state column give a state; a bare `Glendale Police Department` stays unresolved."""
        states = {(e.requester.agency, e.requester.state) for e in events(list(read_events(VIGILANT)))}
        assert ("Riverside Police Department (CA)", "CA") in states
        assert ("Orange County Sheriff's Department", "CA") in states
        assert ("Maricopa County Sheriff's Office (AZ)", "AZ") in states
        assert ("Glendale Police Department", None) in states

    def test_hot_lists_and_repeats_are_skipped_with_their_lines(self) -> None:
        """Hot-list sharing and an entry repeated after a page break are Skipped, not dropped."""
        skipped = [(item.line, item.reason) for item in read_events(VIGILANT) if isinstance(item, Skipped)]
        assert skipped == [
            (21, "repeat of the entry at line 12"),
            (31, "hot-list sharing (shared), not access to detections"),
        ]

    def test_report_without_agency_needs_the_owner(self, tmp_path: Path) -> None:
        """A report that names no agency is refused unless the owner option is given."""
        path = tmp_path / "report.txt"
        path.write_text("Agency Data Sharing Report\n\nDetections Shared\nFBI\n", encoding="utf-8")
        with pytest.raises(MissingOption):
            read_events(path)
        items = list(read_events(path, options=IngestOptions(owner=Owner(agency="Anaheim CA PD"), as_of=SCRAPED)))
        assert [event.requester.agency for event in events(items)] == ["FBI"]

    def test_text_outside_a_list_is_skipped(self, tmp_path: Path) -> None:
        """A line that is neither layout nor under a heading is Skipped with its line."""
        path = tmp_path / "report.txt"
        path.write_text(
            "Agency Data Sharing Report\nAgency: X PD\nSomething odd\nDetections Shared\nFBI\n", encoding="utf-8"
        )
        items = list(read_events(path, options=IngestOptions(as_of=SCRAPED)))
        assert isinstance(items[0], Skipped)
        assert items[0].line == 3
        assert [event.requester.agency for event in events(items)] == ["FBI"]
