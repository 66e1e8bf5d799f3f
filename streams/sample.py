"""The demo's built-in sample: a few minutes of realistic ALPR audit traffic, as v1 messages.

Modelled on published audit logs and the cases that made the news: a California Highway Patrol search
of Oakland's cameras for an "ICE case", federal and out-of-state searches of California data, and Long
Beach's 2020 "group approval" that let hundreds of agencies in at once. Most of it is clean in-state
traffic, as in real logs, and one message is broken so the dead-letter path shows too.

Two patterns over time, with days compressed into the sample by event time (they happen over the last
week before `now`): the Long Beach story, where a group approval lets Immigration and Customs
Enforcement in, ICE searches on the following days, and the standing-access alert repeats every day until
a lieutenant revokes the access; and an Oakland officer who searches one plate twice a day for five days
with no case number (the shape of the documented stalking cases): a medium repeat-target alert at the
fifth search, high at the tenth.

Plates and user ids here are made up; they are hashed before anything prints them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from monitor.events import AccessEvent, Owner, Query, Requester, Sharing, Source, encode_event

__all__ = ["LONG_BEACH_STORY", "OAKLAND", "REPEAT_TARGET", "SampleMessage", "sample_messages"]

LONG_BEACH_STORY = "lb-2026-"
"""Event id prefix of the Long Beach story's events."""
REPEAT_TARGET = "oak-2026-rt-"
"""Event id prefix of the repeat-target officer's searches."""

OAKLAND = Owner(agency="Oakland CA PD", ori="CA0010900", state="CA")
LONG_BEACH = Owner(agency="Long Beach CA PD", state="CA")
SAN_FRANCISCO = Owner(agency="San Francisco CA PD", state="CA")
_SOURCE = Source(vendor="flock", log="network_audit")


@dataclass(frozen=True, slots=True)
class SampleMessage:
    """One message of the sample; `expect` names the alert kinds it should raise (none: clean; "dlq": broken)."""

    key: bytes
    value: bytes
    label: str
    expect: tuple[str, ...]


def _group_approval(event_id: str, at: datetime, requester: Requester) -> AccessEvent:
    """Long Beach's contract admin approving 312 pending requests in one click, with no command review."""
    return AccessEvent(
        event_id=event_id,
        event_type="sharing_change",
        occurred_at=at,
        owner=LONG_BEACH,
        requester=requester,
        sharing=Sharing(
            action="approve_request",
            direction="outbound",
            actor="contract-admin-3",
            approval_mode="group",
            batch_size=312,
            command_review=False,
        ),
        source=Source(vendor="flock", log="sharing_audit"),
    )


def _search(
    event_id: str,
    at: datetime,
    owner: Owner,
    requester: Requester,
    plate: str,
    reason: str | None,
    *,
    days_back: int = 1,
    devices: int = 120,
    networks: int = 1,
) -> AccessEvent:
    return AccessEvent(
        event_id=event_id,
        event_type="query",
        occurred_at=at,
        owner=owner,
        requester=requester,
        query=Query(
            plate=plate,
            reason=reason,
            time_frame_start=at - timedelta(days=days_back),
            time_frame_end=at,
            networks_searched=networks,
            devices_searched=devices,
            search_type="search",
        ),
        source=_SOURCE,
    )


def sample_messages(now: datetime) -> list[SampleMessage]:
    """The sample, timed in the minutes before `now` so detection lag and retention checks are realistic."""

    def at(seconds_ago: float) -> datetime:
        return now - timedelta(seconds=seconds_ago)

    def msg(event: AccessEvent, label: str, *expect: str) -> SampleMessage:
        return SampleMessage(event.event_id.encode(), encode_event(event), label, expect)

    alameda = Requester(agency="Alameda County CA SO", ori="CA0010000", state="CA", user="dep-4471")
    berkeley = Requester(agency="Berkeley CA PD", ori="CA0010300", state="CA", user="ofc-2208")
    oakland_user = Requester(agency="Oakland CA PD", ori="CA0010900", state="CA", user="sgt-0193")
    san_leandro = Requester(agency="San Leandro CA PD", state="CA", user="det-0552")
    chp = Requester(agency="California Highway Patrol", ori="CA0349400", state="CA", user="chp-10931")
    fbi = Requester(agency="Federal Bureau of Investigation", user="sa-7713")
    georgia = Requester(agency="Acworth GA PD", state="GA", user="ofc-118")
    texas = Requester(agency="Texas Department of Public Safety", state="TX", user="trp-5520")

    ice = Requester(agency="Immigration and Customs Enforcement", user="ero-2231")
    officer = Requester(agency="Oakland CA PD", ori="CA0010900", state="CA", user="ofc-3318")

    def days_ago(days: int, hour: int) -> datetime:
        # On whole UTC days, so the days of exposure and of searching do not depend on the time of the run.
        return datetime.combine((now - timedelta(days=days)).date(), time(hour), tzinfo=UTC)

    # The patterns first: each owner's events go in event-time order, as a live feed would send them.
    long_beach = [
        msg(
            _group_approval(
                f"{LONG_BEACH_STORY}sharing-0107",
                days_ago(4, 10),
                Requester(agency="Immigration and Customs Enforcement"),
            ),
            "Long Beach's group approval lets ICE in (standing access, day 1)",
            "sharing.group_approval",
            "recipient.federal",
            "sharing.standing_access",
        ),
        msg(
            _search(f"{LONG_BEACH_STORY}000201", days_ago(3, 11), LONG_BEACH, ice, "8LBX210", "vehicle of interest"),
            "ICE searches Long Beach's cameras the next day: its first search of Long Beach's data",
            "recipient.federal",
            "volume.new_requester",
        ),
        msg(
            _search(f"{LONG_BEACH_STORY}000202", days_ago(2, 11), LONG_BEACH, ice, "4MNT884", "vehicle of interest"),
            "ICE searches again",
            "recipient.federal",
        ),
        msg(
            AccessEvent(
                event_id=f"{LONG_BEACH_STORY}sharing-0112",
                event_type="sharing_change",
                occurred_at=days_ago(1, 9),
                owner=LONG_BEACH,
                requester=Requester(agency="Immigration and Customs Enforcement"),
                sharing=Sharing(action="revoke", direction="outbound", actor="lt-ops-1"),
                source=Source(vendor="flock", log="sharing_audit"),
            ),
            "Long Beach revokes ICE's access: the daily alert stops",
        ),
    ]
    repeat_target = [
        msg(
            _search(
                f"{REPEAT_TARGET}{n:02d}",
                days_ago(6 - n // 2, 10 + 4 * (n % 2)),
                OAKLAND,
                officer,
                "6KDX402",
                "vehicle of interest",
            ),
            f"an Oakland officer's search {n + 1} of one plate",
            *(("misuse.repeat_target",) if n in (4, 9) else ()),
        )
        for n in range(10)
    ]

    messages = [
        *long_beach,
        *repeat_target,
        msg(_search("oak-2025-000101", at(290), OAKLAND, alameda, "7ABC123", "stolen vehicle 25-0412"), "clean"),
        msg(_search("oak-2025-000102", at(270), OAKLAND, berkeley, "8KLM904", "hit and run 25-1187"), "clean"),
        msg(
            _search("oak-2025-000103", at(250), OAKLAND, chp, "6TRX551", "ICE case", days_back=3, networks=2),
            "CHP searches Oakland's cameras for an 'ICE case'",
            "purpose.immigration",
        ),
        msg(_search("oak-2025-000104", at(230), OAKLAND, oakland_user, "5WQE330", "armed robbery 25-3301"), "clean"),
        msg(
            _search("oak-2025-000105", at(210), OAKLAND, fbi, "4HJD872", "fugitive task force 25-FTF-19"),
            "FBI searches Oakland's cameras",
            "recipient.federal",
        ),
        msg(
            _search(
                "oak-2025-000106", at(190), OAKLAND, georgia, "BQX4471", "stolen vehicle", networks=1100, devices=83000
            ),
            "Georgia agency searches Oakland's cameras in a nationwide search",
            "recipient.out_of_state",
        ),
        msg(
            _search("oak-2025-000107", at(170), OAKLAND, san_leandro, "3FGH118", "missing person - AMBER alert"),
            "clean",
        ),
        msg(
            _search(
                "oak-2025-000108",
                at(150),
                OAKLAND,
                texas,
                "9ZZP301",
                "abortion investigation",
                days_back=7,
                devices=83000,
            ),
            "Texas DPS searches Oakland's cameras in an abortion investigation",
            "recipient.out_of_state",
            "purpose.reproductive_health",
        ),
        msg(
            _search("oak-2025-000109", at(130), OAKLAND, alameda, "7PLK220", "inv"),
            "terse reason",
            "purpose.uninformative",
        ),
        SampleMessage(
            b"oak-2025-000110",
            b'{"event_id": "oak-2025-000110", "event_type": "query", "occurred_at": "2025-04-22T17:03:11Z", "owner":',
            "a truncated message from a broken exporter",
            ("dlq",),
        ),
        msg(
            _group_approval("lb-2020-sharing-0042", at(110), Requester(agency="Torrance CA PD", state="CA")),
            "Long Beach approves 312 access requests in one group action",
            "sharing.group_approval",
            "sharing.unreviewed",
        ),
        msg(
            _search(
                "sf-2025-004411",
                at(90),
                SAN_FRANCISCO,
                Requester(agency="San Mateo County CA SO", state="CA", user="dep-3390"),
                "6MNB227",
                "carjacking 25-0881",
            ),
            "clean",
        ),
        msg(
            _search("oak-2025-000111", at(70), OAKLAND, berkeley, "8RTY665", "burglary suspect vehicle 25-1204"),
            "clean",
        ),
        msg(_search("oak-2025-000112", at(50), OAKLAND, chp, "5CVB903", "felony evading 25-CHP-0771"), "clean"),
    ]
    return messages
