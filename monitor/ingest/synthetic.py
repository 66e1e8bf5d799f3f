"""Synthetic Flock network audits, shaped like real exports, for benchmarks and load tests.

The file has the real quirks: leading-space headers (except `ID`), a two-line `Time Frame`, `***` and
`REDACTED` masks, the `——` sentinel in `Total Devices Searched` (about 6.7% of rows, as measured in a
real network audit), consecutive export copies of a record (about 0.6%, some with the device count off
by one), and an `Offense Type` column. Requesters mix California agencies (most), other states' agencies
and federal ones; a few reasons are immigration-related. Nothing in it is real: user names, plates and
ids are generated from the seed, so the same seed gives the same bytes.
"""

from __future__ import annotations

import csv
import random
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["AuditStats", "generate_flock_network_audit"]

HEADER = [
    "ID", " Name", " Org Name", " Total Networks Searched", " Total Devices Searched", " Time Frame",
    " License Plate", " Reason", " Case #", " Filters", " Search Time", " Search Type", " Text Prompt",
    " Moderation", " Offense Type",
]  # fmt: skip

_IN_STATE = [
    "Oakland CA PD", "San Francisco CA PD", "California Highway Patrol", "NCRIC", "Alameda County CA SO",
    "San Jose CA PD", "Yuba County Sheriffs Office", "Sacramento County CA SO", "Fremont CA PD", "Berkeley CA PD",
    "Hayward CA PD", "Los Angeles CA PD", "Riverside County CA SO", "Cal Fire", "Santa Rosa CA PD",
    "El Cerrito CA PD", "Ukiah CA PD", "San Mateo CA PD",
]  # fmt: skip
_OUT_OF_STATE = [
    "Acworth GA PD", "Ada County ID SO", "Marshall TX PD", "Justice IL PD", "Houston TX PD", "Tulsa OK PD",
    "Las Vegas Metro NV PD", "Phoenix AZ PD", "Yakima WA PD", "Sylvania OH PD", "Denver CO PD", "Pasadena TX PD",
]  # fmt: skip
_FEDERAL = [
    "FBI", "ATF Nashville TN", "US Postal Inspection Service", "Fort Eustis VA US Army",
    "Roudebush Medical Center Veterans Affairs IN PD", "HSI Los Angeles", "US Border Patrol El Centro Sector",
]  # fmt: skip
_REASONS = [
    "investigation", "Investigation", "Property Crime", "Person Crime", "stolen vehicle", "UUV", "Suspicious Vehicle",
    "Missing Person", "Welfare Check", "inv", "Warrant", "burglary 25-01234", "felony assault", "hit and run",
    "Amber Alert", "narcotics investigation", "robbery", "carjacking", "Stolen Plate", "homicide",
]  # fmt: skip
_IMMIGRATION = ["ICE", "ICE+ERO", "ICE WARRANT", "immigration", "criminal alien", "Immigration (civil/administrative)"]
_OFFENSES = ["", "", "", "Burglary", "Auto Theft", "Robbery", "Homicide", "Assault", "Missing Person", "Fraud"]
_SEARCH_TYPES = ["lookup"] * 60 + ["search"] * 30 + ["convoy"] * 4 + ["freeform"] * 3 + ["visual", "multiGeo", "apiV1"]
_SURNAMES = ["Smith", "Garcia", "Nguyen", "Johnson", "Lee", "Brown", "Martinez", "Davis", "Lopez", "Wilson", "Kim"]
_LETTERS = "ABCDEFGHJKLMNPRSTUVWXYZ"
_START = 1_761_955_200  # 2025-11-01T00:00:00Z


@dataclass(frozen=True, slots=True)
class AuditStats:
    """What was written: data records (copies and malformed rows included), export copies, malformed rows."""

    records: int
    copies: int
    malformed: int


def _stamp(epoch: int) -> str:
    moment = time.gmtime(epoch)
    hour = moment.tm_hour % 12 or 12
    half = "PM" if moment.tm_hour >= 12 else "AM"
    return (
        f"{moment.tm_mon:02d}/{moment.tm_mday:02d}/{moment.tm_year}, "
        f"{hour:02d}:{moment.tm_min:02d}:{moment.tm_sec:02d} {half} UTC"
    )


def generate_flock_network_audit(
    path: str | Path, rows: int, seed: int, *, malformed_rate: float = 0.0, copy_rate: float = 0.006
) -> AuditStats:
    """Write a network-audit CSV of `rows` data records to `path`; the same seed gives the same file.

    `malformed_rate` of the records get an impossible `Search Time` (each must come back as a `RowError`);
    `copy_rate` of them repeat the previous record (each must come back as `Skipped`).
    """
    rng = random.Random(seed)  # noqa: S311 - reproducible test data, not secrets
    chance, number = rng.random, rng.randrange
    copies = malformed = 0
    now = _START
    previous: list[str] | None = None
    with open(path, "w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(HEADER)
        batch: list[list[str]] = []
        for _ in range(rows):
            if previous is not None and chance() < copy_rate:
                row = list(previous)
                if row[4].isdigit() and chance() < 0.2:
                    row[4] = str(int(row[4]) + 1)  # a live counter caught mid-export
                copies += 1
            else:
                now += number(0, 6)
                row = _record(rng, now)
                if chance() < malformed_rate:
                    row[10] = "13/45/2025, 10:99:17 PM UTC"
                    malformed += 1
            batch.append(row)
            previous = row
            if len(batch) >= 10_000:
                writer.writerows(batch)
                batch.clear()
        writer.writerows(batch)
    return AuditStats(records=rows, copies=copies, malformed=malformed)


def _record(rng: random.Random, now: int) -> list[str]:
    roll = rng.random()
    org = rng.choice(_IN_STATE if roll < 0.80 else _OUT_OF_STATE if roll < 0.97 else _FEDERAL)
    own = org == "Oakland CA PD"
    name = f"{rng.choice(_LETTERS)}. {rng.choice(_SURNAMES)}" if own or rng.random() < 0.3 else "***"
    search_type = rng.choice(_SEARCH_TYPES)
    window = rng.choice((3600, 6 * 3600, 24 * 3600, 7 * 24 * 3600, 30 * 24 * 3600))
    start = now - window - rng.randrange(0, 3600)
    frame = f"{_stamp(start)}\n{_stamp(min(start + window, now + 3600))}"
    plate = "" if search_type == "freeform" else _plate(rng) if own or rng.random() < 0.3 else "***"
    reason_roll = rng.random()
    if reason_roll < 0.002:
        reason = rng.choice(_IMMIGRATION)
    elif reason_roll < 0.012:
        reason = ""
    elif reason_roll < 0.022:
        reason = "REDACTED"
    else:
        reason = rng.choice(_REASONS)
    case_roll = rng.random()
    case = "" if case_roll < 0.6 else "***" if case_roll < 0.8 else f"25-{rng.randrange(10000, 99999)}"
    devices = "——" if rng.random() < 0.067 else str(rng.randrange(50, 40000))
    prompt = "white pickup truck with ladder rack" if search_type == "freeform" else ""
    return [
        _uuid(rng),
        name,
        org,
        str(rng.randrange(1, 3500)),
        devices,
        frame,
        plate,
        reason,
        case,
        rng.choice(("", "", "***", "Pickup, white")),
        _stamp(now),
        search_type,
        prompt,
        "allow" if prompt else "",
        rng.choice(_OFFENSES),
    ]


def _plate(rng: random.Random) -> str:
    if rng.random() < 0.05:
        return f"{rng.choice(_LETTERS)}*{rng.randrange(1000, 9999)}*"  # a wildcard search
    letters = "".join(rng.choice(_LETTERS) for _ in range(3))
    return f"{rng.randrange(1, 9)}{letters}{rng.randrange(100, 999)}"


def _uuid(rng: random.Random) -> str:
    bits = rng.getrandbits(128)
    text = f"{bits:032x}"
    return f"{text[:8]}-{text[8:12]}-4{text[13:16]}-{text[16:20]}-{text[20:]}"
