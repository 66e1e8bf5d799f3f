"""Pattern state for many distinct plates: memory held and changelog bytes, through the live store path.

    .venv/bin/python bench/live_pattern_state.py [--plates 1000000] [--batch 1000]

Feeds `--plates` searches, each of a different plate (users and agencies repeat, as in real audits:
every search starts one repeat-target row), through `streams.patterns.LivePatterns` exactly as the worker
does (observations from the engine, staged writes committed per batch), with a stand-in producer that
counts what would go to the changelog. No broker: this measures the state, not Kafka. Prints the rows
held, the bytes of the live keys and values (what a compacted changelog keeps), the bytes written to the
changelog in total (what it holds before compaction), and the process's resident memory growth.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import faust  # noqa: E402

from monitor.engine import load_engine  # noqa: E402
from monitor.events import AccessEvent, Owner, Query, Requester  # noqa: E402
from monitor.hashing import Pseudonymizer  # noqa: E402
from streams.patterns import LivePatterns  # noqa: E402

OWNER = Owner(agency="Oakland CA PD", ori="CA0010900", state="CA")
RECORD_OVERHEAD = 70
"""Approximate bytes Kafka adds per record in a batch (varint header, offsets, timestamps), for the on-disk estimate."""


def rss_bytes() -> int:
    with open(f"/proc/{os.getpid()}/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class CountingSend:
    """Stands in for the producer: counts records and bytes per key kind, resolves at once."""

    def __init__(self) -> None:
        self.records = 0
        self.bytes = 0
        self.tombstones = 0

    async def __call__(self, topic: str, key: bytes, value: bytes | None, partition: int | None, *_: Any) -> Any:
        self.records += 1
        self.bytes += len(key) + (len(value) if value is not None else 0)
        self.tombstones += value is None
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        future.set_result(None)
        return future


def events(count: int) -> list[AccessEvent]:
    start = datetime(2025, 6, 1, tzinfo=UTC)
    agencies = ["Oakland CA PD", "Berkeley CA PD", "Alameda County CA SO", "California Highway Patrol"]
    return [
        AccessEvent(
            event_id=f"p-{i}",
            event_type="query",
            occurred_at=start + timedelta(seconds=2.5 * i),
            owner=OWNER,
            requester=Requester(agency=agencies[i % 4], state="CA", user=f"u-{i % 500}"),
            query=Query(plate=f"{i:07d}", reason="stolen vehicle 25-0412", case_number="25-0412"),
        )
        for i in range(count)
    ]


async def run(plates: int, batch: int) -> None:
    engine = load_engine(None, Pseudonymizer(os.urandom(32)))
    app = faust.App("bench-state", broker="kafka://127.0.0.1:1", web_enabled=False)
    live = LivePatterns(app, input_topic="in", alerts_topic="alerts", partitions=1)
    send = CountingSend()
    print(f"generating {plates:,} searches of distinct plates...", flush=True)
    feed = events(plates)
    gc.collect()
    before = rss_bytes()
    started = time.perf_counter()
    alerts = 0
    for offset in range(0, plates, batch):
        chunk = feed[offset : offset + batch]
        judged = [(offset + i, None, None, event, engine.judge(event)) for i, event in enumerate(chunk)]
        found = live.run(engine, "in", 0, judged, offset + len(chunk))
        alerts += len(found.alerts)
        await live.commit(found, send)
    elapsed = time.perf_counter() - started
    gc.collect()
    after = rss_bytes()  # the input events are still held, as before the run: the difference is the state
    del feed
    data = live.store.table.data
    kinds: Counter[str] = Counter()
    live_bytes = 0
    for key, value in data.items():
        kinds[key.split(b"|", 1)[0].decode(errors="replace")] += 1
        live_bytes += len(key) + len(value)
    rows = sum(kinds.values())
    plates_tracked = kinds["misuse.repeat_target"]
    print(f"{plates:,} searches through the detectors in {elapsed:.1f} s ({plates / elapsed:,.0f}/s), {alerts} alerts")
    print(f"state rows held: {rows:,} ({', '.join(f'{k} {v:,}' for k, v in kinds.most_common())})")
    print(
        f"live state (keys + values, what the compacted changelog keeps): {live_bytes / 1e6:,.1f} MB, "
        f"{live_bytes / max(plates_tracked, 1):,.0f} bytes per tracked plate; "
        f"on disk with ~{RECORD_OVERHEAD} bytes of record overhead: "
        f"{(live_bytes + rows * RECORD_OVERHEAD) / 1e6:,.1f} MB"
    )
    print(
        f"changelog written before compaction: {send.records:,} records, {send.bytes / 1e6:,.1f} MB "
        f"({send.tombstones:,} tombstones)"
    )
    print(
        f"resident memory growth: {(after - before) / 1e6:,.1f} MB, "
        f"{(after - before) / max(plates_tracked, 1):,.0f} bytes per tracked plate"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--plates", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=1000)
    args = parser.parse_args(argv)
    asyncio.run(run(args.plates, args.batch))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
