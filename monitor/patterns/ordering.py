"""Event-time order for offline runs: inputs may be in any order (vendor exports often list the newest first).

Observations are sorted by event time (a stable sort: ties keep their arrival order) in runs of `run_size`
held in memory; a full run is spilled
to a temporary file as MessagePack, and the runs are merged lazily at the end. Memory is bounded by one run
plus one observation per spilled run, whatever the input size (an observation is a few hundred bytes).
"""

from __future__ import annotations

import heapq
import tempfile
from collections.abc import Iterable, Iterator
from operator import attrgetter
from typing import IO

import msgspec

from monitor.patterns.observation import Observation

__all__ = ["RUN_SIZE", "EventTimeSorter", "in_event_time"]

RUN_SIZE = 200_000
_when = attrgetter("occurred_at")


def _read_run(spool: IO[bytes]) -> Iterator[Observation]:
    decoder = msgspec.msgpack.Decoder(Observation)
    with spool:
        while header := spool.read(4):
            yield decoder.decode(spool.read(int.from_bytes(header, "big")))


class EventTimeSorter:
    """`add` observations in any order, then iterate `ordered()` once."""

    def __init__(self, run_size: int = RUN_SIZE) -> None:
        self._run_size = run_size
        self._run: list[Observation] = []
        self._spools: list[IO[bytes]] = []
        self._seq = 0
        self._encoder = msgspec.msgpack.Encoder()

    def __len__(self) -> int:
        return self._seq

    def add(self, obs: Observation) -> None:
        self._run.append(obs)
        self._seq += 1
        if len(self._run) >= self._run_size:
            self._spill()

    def _spill(self) -> None:
        self._run.sort(key=_when)
        spool = tempfile.TemporaryFile()  # noqa: SIM115  # closed by _read_run once merged
        encode = self._encoder.encode
        for obs in self._run:
            raw = encode(obs)
            spool.write(len(raw).to_bytes(4, "big") + raw)
        spool.seek(0)
        self._spools.append(spool)
        self._run = []

    def ordered(self) -> Iterator[Observation]:
        """Everything added, by event time (ties in arrival order)."""
        run, self._run = self._run, []
        run.sort(key=_when)
        spools, self._spools = self._spools, []
        if not spools:
            yield from run
            return
        # heapq.merge is stable across its inputs, which are in arrival order: ties keep arrival order.
        yield from heapq.merge(*(_read_run(spool) for spool in spools), iter(run), key=_when)


def in_event_time(observations: Iterable[Observation], run_size: int = RUN_SIZE) -> Iterator[Observation]:
    """The observations in event-time order (ties keep arrival order), with memory bounded by `run_size`."""
    sorter = EventTimeSorter(run_size)
    for obs in observations:
        sorter.add(obs)
    yield from sorter.ordered()
