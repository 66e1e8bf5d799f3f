"""Event-time order for offline runs: inputs may be in any order (vendor exports often list the newest first).

Observations are sorted by (event time, arrival) in runs of `run_size` held in memory; a full run is spilled
to a temporary file as MessagePack, and the runs are merged lazily at the end. Memory is bounded by one run
plus one observation per spilled run, whatever the input size (an observation is a few hundred bytes).
"""

from __future__ import annotations

import heapq
import tempfile
from collections.abc import Iterable, Iterator
from typing import IO

import msgspec

from monitor.patterns.observation import Observation

__all__ = ["RUN_SIZE", "EventTimeSorter", "in_event_time"]

RUN_SIZE = 200_000
_Entry = tuple[float, int, Observation]


def _read_run(spool: IO[bytes]) -> Iterator[_Entry]:
    decoder = msgspec.msgpack.Decoder(tuple[float, int, Observation])
    with spool:
        while header := spool.read(4):
            yield decoder.decode(spool.read(int.from_bytes(header, "big")))


class EventTimeSorter:
    """`add` observations in any order, then iterate `ordered()` once."""

    def __init__(self, run_size: int = RUN_SIZE) -> None:
        self._run_size = run_size
        self._run: list[_Entry] = []
        self._spools: list[IO[bytes]] = []
        self._seq = 0
        self._encoder = msgspec.msgpack.Encoder()

    def __len__(self) -> int:
        return self._seq

    def add(self, obs: Observation) -> None:
        self._run.append((obs.occurred_at.timestamp(), self._seq, obs))
        self._seq += 1
        if len(self._run) >= self._run_size:
            self._spill()

    def _spill(self) -> None:
        self._run.sort(key=_order)
        spool = tempfile.TemporaryFile()  # noqa: SIM115  # closed by _read_run once merged
        encode = self._encoder.encode
        for entry in self._run:
            raw = encode(entry)
            spool.write(len(raw).to_bytes(4, "big") + raw)
        spool.seek(0)
        self._spools.append(spool)
        self._run = []

    def ordered(self) -> Iterator[Observation]:
        """Everything added, by event time (ties in arrival order)."""
        run, self._run = self._run, []
        run.sort(key=_order)
        spools, self._spools = self._spools, []
        if not spools:
            for _, _, obs in run:
                yield obs
            return
        for _, _, obs in heapq.merge(*(_read_run(spool) for spool in spools), iter(run), key=_order):
            yield obs


def _order(entry: _Entry) -> tuple[float, int]:
    return entry[0], entry[1]


def in_event_time(observations: Iterable[Observation], run_size: int = RUN_SIZE) -> Iterator[Observation]:
    """The observations in event-time order (ties keep arrival order), with memory bounded by `run_size`."""
    sorter = EventTimeSorter(run_size)
    for obs in observations:
        sorter.add(obs)
    yield from sorter.ordered()
