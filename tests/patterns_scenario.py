"""A scenario built from the documented case shapes (design notes, patterns.md), for the pattern tests.

Six months of one owner's (Long Beach's) audit log: background searches by in-state officers, the group
approval that let ICE in until a records request forced the revoke, national lookup switched on for an
out-of-state agency, four officers searching their targets' plates like the Florida, Wisconsin, Kansas and
Missouri cases, and the legitimate look-alikes: a BOLO plate checked all day, a team working one case
number, analysts re-checking suspects under case numbers. Deterministic for a seed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from monitor.events import AccessEvent, Owner, Query, Requester, Sharing, Source

START = datetime(2020, 1, 6, tzinfo=UTC)
DAYS = 180
OWNER = Owner(agency="Long Beach CA PD", state="CA")
HOME = "Long Beach CA PD"
NEIGHBOURS = ("Torrance CA PD", "Los Angeles County CA SD", "Signal Hill CA PD")
ICE = "US Immigration and Customs Enforcement"
LOOKUP_AGENCY = "Texas Department of Public Safety"
GRANT_DAY, REVOKE_DAY = 25, 150
LOOKUP_DAY = 120
REASONS = ("stolen vehicle", "robbery suspect", "hit and run", "burglary", "missing person", "warrant service")


@dataclass
class Scenario:
    events: list[AccessEvent] = field(default_factory=list)
    # (case, user, plate, agency) of every stalking target: each must be flagged high or medium as noted.
    targets: list[tuple[str, str, str, str, str]] = field(default_factory=list)
    look_alike_users: set[tuple[str, str]] = field(default_factory=set)  # (agency, user)
    background_users: set[tuple[str, str]] = field(default_factory=set)


class _Builder:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.scenario = Scenario()
        self._n = 0

    def search(
        self,
        when: datetime,
        agency: str,
        user: str,
        plate: str,
        reason: str | None,
        case_number: str | None = None,
    ) -> None:
        self._n += 1
        self.scenario.events.append(
            AccessEvent(
                event_id=f"sc-{self._n:07d}",
                event_type="query",
                occurred_at=when,
                owner=OWNER,
                requester=Requester(agency=agency, user=user),
                query=Query(plate=plate, reason=reason, case_number=case_number, search_type="search"),
                source=Source(vendor="flock", log="network_audit"),
            )
        )

    def sharing(self, when: datetime, action: str, agency: str, mode: str | None, batch: int | None = None) -> None:
        self._n += 1
        self.scenario.events.append(
            AccessEvent(
                event_id=f"sc-{self._n:07d}",
                event_type="sharing_change",
                occurred_at=when,
                owner=OWNER,
                requester=Requester(agency=agency),
                sharing=Sharing(action=action, approval_mode=mode, actor="contract-admin-2", batch_size=batch),  # type: ignore[arg-type]
                source=Source(vendor="flock", log="event_log"),
            )
        )

    def on_duty(self, day: int) -> datetime:
        """A time in a day shift (07:00 to 19:00 UTC), so the usual-hours block is real."""
        return START + timedelta(days=day, hours=self.rng.uniform(7, 19))

    def plate(self) -> str:
        letters = "".join(self.rng.choices("ABCDEFGHJKLMNPRSTUVWXYZ", k=3))
        return f"{self.rng.randrange(1, 9)}{letters}{self.rng.randrange(1000):03d}"


def _spread(rng: random.Random, total: int, first: int, span: int) -> list[int]:
    """`total` search days (repeats allowed) spread over `span` days from `first`."""
    return sorted(first + rng.randrange(span) for _ in range(total))


def build(seed: int = 7, officers: int = 24) -> Scenario:
    b = _Builder(seed)
    rng = b.rng
    sc = b.scenario
    agencies = (HOME, *NEIGHBOURS)
    # Background: officers of four in-state agencies, ~8 searches per working day, mostly distinct plates.
    for index in range(officers):
        agency = agencies[index % len(agencies)]
        user = f"officer-{index:03d}"
        sc.background_users.add((agency, user))
        recent: list[str] = []
        for day in range(DAYS):
            if (day + index) % 7 in (5, 6):
                continue
            for _ in range(rng.randrange(5, 11)):
                # Officers sometimes re-check a plate from the last days (a normal follow-up).
                plate = rng.choice(recent) if recent and rng.random() < 0.05 else b.plate()
                recent = [*recent[-20:], plate]
                case = f"20-{rng.randrange(100000):05d}" if rng.random() < 0.3 else None
                b.search(b.on_duty(day), agency, user, plate, rng.choice(REASONS), case)

    # Long Beach: a group approval lets ICE in on day 25; ICE searches now and then; revoked on day 150.
    b.sharing(START + timedelta(days=GRANT_DAY, hours=10), "approve_request", ICE, "group", batch=312)
    for day in range(GRANT_DAY + 3, REVOKE_DAY, 9):
        b.search(b.on_duty(day), ICE, f"ice-{day % 3}", b.plate(), "investigation")
    b.sharing(START + timedelta(days=REVOKE_DAY, hours=15), "revoke", ICE, None)

    # National lookup left on: an out-of-state agency floods in from day 120.
    for day in range(LOOKUP_DAY, LOOKUP_DAY + 8):
        for _ in range(rng.randrange(180, 260)):
            b.search(b.on_duty(day), LOOKUP_AGENCY, f"tx-{rng.randrange(400)}", b.plate(), "investigation")

    # Stalking cases (normalised to the six months): (case, agency, user, [(plate, searches, span days, tier)]).
    cases = [
        ("florida", HOME, "officer-fl", [("EXPARTNR", 69, 120, "high"), ("MOTHER1", 24, 120, "high"),
                                         ("FATHER1", 15, 120, "medium")]),
        ("wisconsin", NEIGHBOURS[0], "officer-wi", [("WITGT01", 124, 60, "high"), ("WITGT02", 55, 60, "high")]),
        ("kansas", NEIGHBOURS[1], "officer-ks", [("KSTGT01", 164, 125, "high"), ("KSTGT02", 64, 125, "high")]),
        ("missouri", HOME, "officer-mo", [("MOTGT01", 395, 175, "high")]),
    ]  # fmt: skip
    invented = ("missing child", "narcotics investigation", "investigation", "inv")
    for case, agency, user, plates in cases:
        for plate, searches, span, tier in plates:
            sc.targets.append((case, agency, user, plate, tier))
            for day in _spread(rng, searches, 2, span):
                b.search(b.on_duty(day), agency, user, plate, rng.choice(invented))
        for day in range(DAYS):  # they also do their ordinary work
            for _ in range(rng.randrange(3, 8)):
                b.search(b.on_duty(day), agency, user, b.plate(), rng.choice(REASONS))

    # Look-alikes. A BOLO plate checked every 30 minutes for a whole shift, by several users on several days.
    for n, day in enumerate((20, 70, 140)):
        user = f"patrol-bolo-{n}"
        sc.look_alike_users.add((HOME, user))
        plate = b.plate()
        for slot in range(24):
            when = START + timedelta(days=day, hours=7, minutes=30 * slot)
            b.search(when, HOME, user, plate, "BOLO stolen vehicle", "20-BOLO" if n == 2 else None)
    # A team of five on one plate under one case number for three weeks.
    team_plate = b.plate()
    for member in range(5):
        user = f"detective-{member}"
        sc.look_alike_users.add((HOME, user))
        for day in range(60, 81, 2):
            b.search(b.on_duty(day), HOME, user, team_plate, "homicide investigation", "20-004417")
    # Analysts re-checking 30 suspects every week, almost always with their case number.
    for member in range(2):
        user = f"analyst-{member}"
        sc.look_alike_users.add((NEIGHBOURS[1], user))
        suspects = [(b.plate(), f"20-{rng.randrange(100000):05d}") for _ in range(30)]
        for day in range(0, DAYS, 7):
            for plate, case in suspects:
                with_case = case if rng.random() < 0.9 else None
                b.search(b.on_duty(day), NEIGHBOURS[1], user, plate, "gang task force", with_case)
    # Analysts of another agency re-checking their 30 suspects every week without ever writing a case number.
    for member in range(2, 4):
        user = f"analyst-{member}"
        sc.look_alike_users.add((NEIGHBOURS[0], user))
        suspects = [b.plate() for _ in range(30)]
        for day in range(3, DAYS, 7):
            for plate in suspects:
                b.search(b.on_duty(day), NEIGHBOURS[0], user, plate, "crime analysis")
    rng.shuffle(sc.events)  # an export is in no particular order
    return sc
