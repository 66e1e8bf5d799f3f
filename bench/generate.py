"""Realistic v1 access events for benchmarks: mostly clean in-state searches, some that must alert.

The mix follows what published audits show: the great majority of searches are by in-state agencies
with a stated reason (a third of them carrying a case number), and a few percent are federal,
out-of-state, immigration-related, terse ("inv") or reasonless, plus the odd sharing change. Agencies,
reasons and plates vary, so the engine's caches see realistic repetition rather than one event over
and over. Deterministic for a given seed.

    python bench/generate.py 200000 events.jsonl [--seed 7]
"""

from __future__ import annotations

import argparse
import random
import string
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from monitor.events import AccessEvent, Owner, Query, Requester, Sharing, Source, encode_event  # noqa: E402

__all__ = ["MIX", "EventFactory", "generate", "write_jsonl"]

OWNERS = (
    (Owner(agency="Oakland CA PD", ori="CA0010900", state="CA"), 5),
    (Owner(agency="San Francisco CA PD", state="CA"), 3),
    (Owner(agency="Long Beach CA PD", state="CA"), 2),
    (Owner(agency="Fresno CA PD", state="CA"), 1),
    (Owner(agency="Sacramento County CA SO", state="CA"), 1),
)
IN_STATE = (
    "Alameda County CA SO", "Berkeley CA PD", "Oakland CA PD", "San Leandro CA PD", "Hayward CA PD",
    "Fremont CA PD", "Richmond CA PD", "San Jose CA PD", "Santa Clara County CA SO", "San Mateo County CA SO",
    "Daly City CA PD", "Vallejo CA PD", "Concord CA PD", "Walnut Creek CA PD", "Contra Costa County CA SO",
    "Sacramento CA PD", "Sacramento County CA SO", "Fresno CA PD", "Fresno County CA SO", "Bakersfield CA PD",
    "Los Angeles CA PD", "Los Angeles County CA SD", "Long Beach CA PD", "Torrance CA PD", "Pasadena CA PD",
    "Anaheim CA PD", "Irvine CA PD", "Orange County CA SD", "Riverside CA PD", "San Bernardino County CA SD",
    "San Diego CA PD", "Chula Vista CA PD", "Santa Ana CA PD", "Stockton CA PD", "Modesto CA PD",
    "California Highway Patrol", "Yuba County Sheriffs Office", "Marin County CA SO", "Napa CA PD", "Salinas CA PD",
)  # fmt: skip
FEDERAL = (
    "FBI", "Federal Bureau of Investigation", "DEA", "ATF", "US Marshals Service",
    "Homeland Security Investigations", "US Border Patrol",
)  # fmt: skip
OUT_OF_STATE = (
    "Reno NV PD", "Las Vegas Metropolitan NV PD", "Acworth GA PD", "Marshall TX PD", "Phoenix AZ PD",
    "Ohio State Highway Patrol", "Portland OR PD", "Eugene OR PD", "Boise ID PD", "Texas Department of Public Safety",
)  # fmt: skip
CLEAN_REASONS = (
    "stolen vehicle", "robbery suspect vehicle", "hit and run", "missing person", "burglary suspect vehicle",
    "homicide investigation", "carjacking", "felony warrant", "assault with a deadly weapon", "auto theft",
    "kidnapping", "armed robbery", "shooting investigation", "sideshow organizer", "catalytic converter theft",
    "fraud suspect vehicle", "AMBER alert", "felony evading", "vehicle used in a residential burglary",
)  # fmt: skip
IMMIGRATION_REASONS = ("ICE case", "immigration enforcement", "ICE detainer", "deportation case", "HSI immigration")
TERSE_REASONS = ("inv", ".", "investigation", "na", "case", "x")

# Share of query events per kind of traffic; the rest is clean in-state. Sharing changes are extra.
MIX = {"federal": 0.015, "out_of_state": 0.02, "immigration": 0.005, "terse": 0.03, "no_reason": 0.005}
SHARING_SHARE = 0.005
CASE_IN_REASON = 0.35


class EventFactory:
    """Builds one event at a time from a seeded generator (no state besides the generator)."""

    def __init__(self, seed: int = 7, prefix: str = "bench") -> None:
        self._rng = random.Random(seed)
        self._prefix = f"{prefix}-{seed}"
        self._owners = [owner for owner, _ in OWNERS]
        self._owner_weights = [weight for _, weight in OWNERS]
        self._cum = []
        total = 0.0
        for kind, share in MIX.items():
            total += share
            self._cum.append((total, kind))

    def _plate(self) -> str:
        rng = self._rng
        letters = "".join(rng.choices(string.ascii_uppercase, k=3))
        return f"{rng.randrange(1, 10)}{letters}{rng.randrange(1000):03d}"

    def _case(self) -> str:
        return f"{self._rng.randrange(23, 26)}-{self._rng.randrange(1, 99999):05d}"

    def make(self, index: int, occurred_at: datetime) -> AccessEvent:
        """Event number `index` (its id is unique per prefix and seed), occurring at `occurred_at`."""
        rng = self._rng
        event_id = f"{self._prefix}-{index:09d}"
        owner = rng.choices(self._owners, self._owner_weights)[0]
        source = Source(vendor="flock", log="network_audit")
        if rng.random() < SHARING_SHARE:
            group = rng.random() < 0.3
            return AccessEvent(
                event_id=event_id,
                event_type="sharing_change",
                occurred_at=occurred_at,
                owner=owner,
                requester=Requester(agency=rng.choice(IN_STATE + OUT_OF_STATE[:2])),
                sharing=Sharing(
                    action=rng.choice(("grant", "approve_request", "revoke")),
                    direction="outbound",
                    actor=f"admin-{rng.randrange(20)}",
                    approval_mode="group" if group else "single",
                    batch_size=rng.randrange(2, 400) if group else 1,
                    command_review=rng.random() < 0.8,
                ),
                source=Source(vendor="flock", log="sharing_audit"),
            )
        draw = rng.random()
        kind = next((name for bound, name in self._cum if draw < bound), "clean")
        agency = rng.choice(IN_STATE)
        # About a third of officers type the case number into the reason, which makes it unique.
        reason: str | None = rng.choice(CLEAN_REASONS)
        if rng.random() < CASE_IN_REASON:
            reason = f"{reason} {self._case()}"
        if kind == "federal":
            agency = rng.choice(FEDERAL)
        elif kind == "out_of_state":
            agency = rng.choice(OUT_OF_STATE)
        elif kind == "immigration":
            reason = rng.choice(IMMIGRATION_REASONS)
        elif kind == "terse":
            reason = rng.choice(TERSE_REASONS)
        elif kind == "no_reason":
            reason = None
        nationwide = rng.random() < 0.05
        return AccessEvent(
            event_id=event_id,
            event_type="query",
            occurred_at=occurred_at,
            owner=owner,
            requester=Requester(agency=agency, user=f"u-{rng.randrange(5000)}"),
            query=Query(
                plate=self._plate(),
                reason=reason,
                case_number=self._case() if rng.random() < 0.3 else None,
                time_frame_start=occurred_at - timedelta(hours=rng.randrange(1, 24 * 14)),
                time_frame_end=occurred_at,
                networks_searched=rng.randrange(800, 1500) if nationwide else rng.randrange(1, 4),
                devices_searched=rng.randrange(40_000, 90_000) if nationwide else rng.randrange(20, 400),
                search_type="search",
            ),
            source=source,
        )


def generate(
    count: int, seed: int = 7, start: datetime | None = None, step: timedelta = timedelta(milliseconds=50)
) -> Iterator[AccessEvent]:
    """`count` events starting at `start` (default: now minus the span), `step` apart."""
    factory = EventFactory(seed)
    begin = start if start is not None else datetime.now(UTC) - step * count
    for index in range(count):
        yield factory.make(index, begin + step * index)


def write_jsonl(path: Path, count: int, seed: int = 7) -> int:
    """Write `count` events as v1 JSON lines; return the bytes written."""
    size = 0
    with path.open("wb") as out:
        for event in generate(count, seed):
            line = encode_event(event) + b"\n"
            out.write(line)
            size += len(line)
    return size


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("count", type=int)
    parser.add_argument("out", type=Path)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    size = write_jsonl(args.out, args.count, args.seed)
    print(f"wrote {args.count} events ({size / 1e6:.1f} MB) to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
