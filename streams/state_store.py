"""Pattern detector state in a Faust table, each write sent to the changelog partition of its input partition.

Faust's own `Table.__setitem__` takes the changelog partition from the event being iterated
(`Collection.partition_for_key` reads `faust.streams.current_event()`) and raises "Cannot modify table
key from outside of stream iteration" anywhere else: in the worker's batch handler (it bypasses Faust's
stream path) and in a timer. This module never goes through `__setitem__`. It keeps the table (so Faust
declares the changelog topic, assigns its partitions with the input's, and recovers them after a crash
or a rebalance, before the input partitions resume) and writes the changelog itself, naming the
partition: the input partition whose events changed the state. Reads and writes of one batch (or one
timer tick) go to a `StagedPartition`; its writes reach the changelog and the table only when committed,
after the batch's alerts are acknowledged, so a batch abandoned across a rebalance changes nothing.

Replays: a crash between the changelog write and the input commit makes the batch's events come again.
Each commit also writes, last, a marker holding the next input offset it covers (per source topic and
partition); `applied_offset` reads it back after recovery so the replayed events are not counted twice.
The producer keeps one partition's sends in order, so a marker that landed means the writes before it did.

Expiry: a detector that drops a key's state (its window passed) makes a delete, sent as a tombstone, so
the compacted changelog forgets it too. Store: Faust's in-memory store; recovery reads the compacted
changelog. Standby replicas are off: faust 0.15.3's memory store deletes every key outside the active
partitions when a recovery completes (`stores.memory.Store.on_recovery_completed`), so a standby copy
costs memory and changelog reads and is dropped before it could shorten a failover.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, Any, cast

import faust

if TYPE_CHECKING:
    from faust.types import EventT

__all__ = [
    "STATE_TABLE",
    "Send",
    "StagedPartition",
    "TableStateStore",
    "changelog_topic_name",
]

STATE_TABLE = "pattern-state"
_MARKER = b"\x00applied\x00"
"""Prefix of the applied-offset markers; no detector key starts with a NUL byte."""

Send = Callable[[str, bytes, bytes | None, int], Awaitable[Awaitable[Any]]]
"""`send(topic, key, value, partition)`: queue one record; the awaitable it returns resolves on the broker's ack."""


def changelog_topic_name(app_id: str) -> str:
    """The state table's changelog topic, as Faust names it (`<app id>-<table>-changelog`)."""
    return f"{app_id}-{STATE_TABLE}-changelog"


class StagedPartition:
    """One partition's state as a batch or a timer tick sees it: reads fall through, writes wait for commit.

    Keys are `str` (owner-prefixed detector keys), values the detector state's encoded bytes.
    """

    def __init__(self, store: TableStateStore, partition: int) -> None:
        self.partition = partition
        self._store = store
        self._writes: dict[bytes, bytes | None] = {}
        self._markers: dict[bytes, bytes] = {}

    def get(self, key: str) -> bytes | None:
        raw = key.encode()
        if raw in self._writes:
            return self._writes[raw]
        return self._store.read(raw)

    def set(self, key: str, value: bytes) -> None:
        self._writes[key.encode()] = value

    def delete(self, key: str) -> None:
        raw = key.encode()
        if raw in self._writes or self._store.read(raw) is not None:
            self._writes[raw] = None

    def keys(self, prefix: str = "") -> Iterator[str]:
        """Keys with state in this partition starting with `prefix`, staged writes included, sorted
        (a replay walks them in the same order)."""
        start = prefix.encode()
        found = {raw for raw in self._store.partition_keys(self.partition) if raw.startswith(start)}
        for raw, value in self._writes.items():
            if not raw.startswith(start):
                continue
            if value is None:
                found.discard(raw)
            else:
                found.add(raw)
        return iter(sorted(raw.decode() for raw in found))

    def mark_applied(self, topic: str, next_offset: int) -> None:
        """Record that this commit covers `topic`'s records of this partition up to `next_offset` (excluded)."""
        self._markers[_MARKER + topic.encode()] = str(next_offset).encode()

    @property
    def writes(self) -> int:
        return len(self._writes)


class TableStateStore:
    """The detectors' state for every partition this worker holds, in one Faust table of bytes."""

    def __init__(
        self, app: faust.App, partitions: int, on_recover: Callable[[], Awaitable[None]] | None = None
    ) -> None:
        self.partitions = partitions
        # Which keys live in which partition: the memory store keeps no such index for keys written
        # here, and the timer walks one partition's keys at a time.
        self._index: dict[int, set[bytes]] = {}
        self.table = app.Table(
            STATE_TABLE,
            partitions=partitions,
            key_type=bytes,  # raw bytes both ways: the app's serializers are "raw"
            value_type=bytes,
            on_changelog_event=self._recovered,
            on_recover=on_recover,
            help="Pattern detector state (pseudonymised); written per input partition, never by key hash",
        )

    @property
    def changelog_topic(self) -> str:
        return self.table.changelog_topic.get_topic_name()

    @property
    def _data(self) -> Any:
        return self.table.data  # Faust's store: a mapping that never writes the changelog

    def read(self, key: bytes) -> bytes | None:
        value = self._data.get(key)
        return cast("bytes | None", value)

    def partition_keys(self, partition: int) -> set[bytes]:
        return self._index.get(partition, set())

    def key_count(self) -> int:
        """Keys held (markers and clocks included), over every partition."""
        return sum(len(keys) for keys in self._index.values())

    def applied_offset(self, topic: str, partition: int) -> int | None:
        """The next input offset of `topic`/`partition` whose effects are not in the state yet (None: no record)."""
        marker = self._data.get(_MARKER + topic.encode() + b"\x00" + str(partition).encode())
        if marker is None:
            return None
        return int(marker)

    def stage(self, partition: int) -> StagedPartition:
        return StagedPartition(self, partition)

    async def commit(self, staged: StagedPartition, send: Send) -> None:
        """Send the staged writes, then the markers, to the changelog; apply them once all are acknowledged."""
        topic = self.changelog_topic
        partition = staged.partition
        pending: list[Awaitable[Any]] = []
        writes = staged._writes
        markers = {key + b"\x00" + str(partition).encode(): value for key, value in staged._markers.items()}
        for key, value in writes.items():
            pending.append(await send(topic, key, value, partition))
        for key, value in markers.items():
            pending.append(await send(topic, key, value, partition))
        if not pending:
            return
        await asyncio.gather(*pending)
        data = self._data
        keys = self._index.setdefault(partition, set())
        for key, value in writes.items():
            if value is None:
                data.pop(key, None)
                keys.discard(key)
            else:
                data[key] = value
                keys.add(key)
        for key, value in markers.items():
            data[key] = value
            keys.add(key)
        staged._writes = {}
        staged._markers = {}

    def forget(self, partitions: set[int]) -> None:
        """Drop the state of partitions this worker no longer holds: their next owner has it.

        (Faust's memory store forgets only keys it recovered, not keys written here; kept, they could come
        back stale if the partition returns after compaction dropped their tombstones.)"""
        data = self._data
        for partition in partitions:
            for key in self._index.pop(partition, ()):
                data.pop(key, None)

    async def _recovered(self, event: EventT[Any]) -> None:
        # Called by Faust's recovery for every changelog record it reads back, before applying it.
        key = event.message.key
        if key is None:
            return
        keys = self._index.setdefault(event.message.partition, set())
        if event.message.value is None:
            keys.discard(key)
        else:
            keys.add(key)
