"""Event-time order for offline runs: inputs may be in any order (vendor exports are often newest first).

Observations are sorted by (event time, arrival) in runs of `run_size` held in memory; a full run is spilled
to a temporary file as MessagePack, and the runs are merged lazily at the end. Memory is bounded by one run
plus one observation per spilled run, whatever the input size; already-ordered input costs one sort per run.
"""

from __future__ import annotations

import heapq
import tempfile
from collections.abc import Iterable, Iterator
from typing import IO

import msgspec

from monitor.patterns.observation import Observation

__all__ = ["RUN_SIZE", "in_event_time"]

RUN_SIZE = 200_000


def _sort_key(item: tuple[int, Observation]) -> tuple[float, int]:
    return item[1].occurred_at.timestamp(), item[0]


def _spill(run: list[tuple[int, Observation]]) -> IO[bytes]:
    spool = tempfile.TemporaryFile()  # noqa: SIM115  # handed to _read_run, which closes it
    encoder = msgspec.msgpack.Encoder()
    for seq, obs in run:
        raw = encoder.encode((seq, obs))
        spool.write(len(raw).to_bytes(4, "big") + raw)
    spool.seek(0)
    return spool


def _read_run(spool: IO[bytes]) -> Iterator[tuple[int, Observation]]:
    decoder = msgspec.msgpack.Decoder(tuple[int, Observation])
    with spool:
        while header := spool.read(4):
            yield decoder.decode(spool.read(int.from_bytes(header, "big")))


def in_event_time(observations: Iterable[Observation], run_size: int = RUN_SIZE) -> Iterator[Observation]:
    """The observations in event-time order (ties keep arrival order), with memory bounded by `run_size`."""
    run: list[tuple[int, Observation]] = []
    spools: list[IO[bytes]] = []
    for seq, obs in enumerate(observations):
        run.append((seq, obs))
        if len(run) >= run_size:
            run.sort(key=_sort_key)
            spools.append(_spill(run))
            run = []
    run.sort(key=_sort_key)
    if not spools:
        for _, obs in run:
            yield obs
        return
    merged = heapq.merge(*(_read_run(spool) for spool in spools), iter(run), key=_sort_key)
    for _, obs in merged:
        yield obs
