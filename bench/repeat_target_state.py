"""State bytes per tracked plate for `misuse.repeat_target` (issue 9, item 6).

    .venv/bin/python bench/repeat_target_state.py [--plates 100000] [--searches 1,3]

Feeds one user's searches of N distinct plates through the real detectors with a `BytesStore` (the bytes a
Faust table and its changelog hold per key) and prints, per key of the repeat-target table: the encoded
state (MessagePack), the key, and the Python heap of the in-memory store measured with tracemalloc.
Each plate is searched `--searches` times on as many days (1: the common case; 3: a plate a user came back
to). Plates and users are hashed as in production; no plate is stored.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from monitor.engine import load_engine  # noqa: E402
from monitor.events import AccessEvent, Owner, Query, Requester, Source  # noqa: E402
from monitor.hashing import Pseudonymizer  # noqa: E402
from monitor.patterns import BytesStore, MemoryStore, PatternContext, PatternRunner, observe  # noqa: E402
from monitor.patterns.detectors import RepeatTarget  # noqa: E402

START = datetime(2025, 1, 6, 9, tzinfo=UTC)
OWNER = Owner(agency="Long Beach CA PD", state="CA")


def events(plates: int, searches: int) -> list[AccessEvent]:
    found = []
    for day in range(searches):
        for n in range(plates):
            found.append(
                AccessEvent(
                    event_id=f"bench-{day}-{n}",
                    event_type="query",
                    occurred_at=START + timedelta(days=day, seconds=n % 36_000),
                    owner=OWNER,
                    requester=Requester(agency="Long Beach CA PD", user=f"officer-{n % 50}"),
                    query=Query(plate=f"{n:07d}", reason="stolen vehicle", search_type="search"),
                    source=Source(vendor="flock", log="network_audit"),
                )
            )
    return found


def measure(plates: int, searches: int) -> None:
    engine = load_engine(None, Pseudonymizer(b"bench-pattern-state-key-0123456789"))
    ctx = PatternContext(engine.policy)
    detector = RepeatTarget()
    observed = [obs for obs in (observe(engine, event) for event in events(plates, searches)) if obs is not None]

    as_bytes: BytesStore[object] = BytesStore(detector)  # type: ignore[type-var]  # any state struct
    runner = PatternRunner(ctx, [detector], {detector.kind: as_bytes})
    for obs in observed:
        runner.observe(obs)
    values = [len(value) for value in as_bytes.data.values()]
    keys = [len(key.encode()) for key in as_bytes.data]

    gc.collect()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    in_memory: MemoryStore[object] = MemoryStore()  # type: ignore[type-var]
    memory_runner = PatternRunner(ctx, [RepeatTarget()], {detector.kind: in_memory})
    for obs in observed:
        memory_runner.observe(obs)
    gc.collect()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    heap = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    count = len(in_memory)
    print(
        f"{plates:,} plates x {searches} search(es): {count:,} keys; "
        f"state {statistics.mean(values):.0f} B/key (max {max(values)}), key {statistics.mean(keys):.0f} B, "
        f"changelog record ~{statistics.mean(values) + statistics.mean(keys):.0f} B; "
        f"in-memory heap {heap / count:.0f} B/key; for 1,000,000 plates: "
        f"~{(statistics.mean(values) + statistics.mean(keys)) * 1e6 / 2**20:.0f} MiB of table, "
        f"~{heap / count * 1e6 / 2**20:.0f} MiB in memory"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--plates", type=int, default=100_000)
    parser.add_argument("--searches", default="1,3", help="searches per plate, comma-separated runs")
    args = parser.parse_args(argv)
    for searches in (int(part) for part in args.searches.split(",")):
        measure(args.plates, searches)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
