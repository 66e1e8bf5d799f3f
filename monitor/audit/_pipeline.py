"""Reading and judging on two cores: a forked child parses the inputs while the parent judges.

Parsing a vendor export and judging its events cost about the same per record, so on a large input a
child process runs the adapters and sends the items, in order and in batches, as JSON (the v1 contract's
own encoding, which keeps every field and time offset as the adapter made it). The parent decodes them
and judges exactly as it would have judged the adapter's items itself. The child is forked after the
files were opened and their headers checked, so a bad file still fails before any record is judged.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection

import msgspec

from monitor.events import AccessEvent
from monitor.ingest import IngestError, Item, RowError, Skipped

__all__ = ["BATCH", "ChildReader", "Source", "can_fork"]

BATCH = 2048  # items per message: large enough to amortise a send, small enough to keep memory flat


class _Error(msgspec.Struct, array_like=True, tag="e"):
    index: int
    file: str
    line: int
    reason: str
    field: str | None
    event_id: str | None


class _Skip(msgspec.Struct, array_like=True, tag="s"):
    index: int
    file: str
    line: int
    reason: str


class _Batch(msgspec.Struct, array_like=True):
    """Events in order, and the other items with their index in the original order."""

    events: list[AccessEvent]
    others: list[_Error | _Skip]
    position: int | None  # bytes of the current file read so far, when known
    end_of_file: bool = False
    failure: str | None = None


Source = tuple[Iterator[Item], Callable[[], int] | None]


def can_fork() -> bool:
    """Whether forking a reader is safe and useful: fork exists, a second core does, and no other thread
    (a thread holding a lock at the fork would leave the child's copy of that lock held forever)."""
    return (
        "fork" in multiprocessing.get_all_start_methods()
        and (os.cpu_count() or 1) >= 2
        and threading.active_count() == 1
    )


def _produce(conn: Connection, sources: list[Source]) -> None:
    """In the child: read every source and send its items in batches; a failure is sent, then we stop."""
    encode = msgspec.json.Encoder().encode
    try:
        for items, position in sources:
            events: list[AccessEvent] = []
            others: list[_Error | _Skip] = []
            for item in items:
                if type(item) is AccessEvent:
                    events.append(item)
                elif isinstance(item, RowError):
                    index = len(events) + len(others)
                    others.append(_Error(index, item.file, item.line, item.reason, item.field, item.event_id))
                elif isinstance(item, Skipped):
                    others.append(_Skip(len(events) + len(others), item.file, item.line, item.reason))
                if len(events) + len(others) >= BATCH:
                    conn.send_bytes(encode(_Batch(events, others, position() if position else None)))
                    events, others = [], []
            # The file is closed once its items are done: no position to report, the end says it all.
            conn.send_bytes(encode(_Batch(events, others, None, end_of_file=True)))
    except Exception as exc:  # reported to the parent, which raises it there
        conn.send_bytes(encode(_Batch([], [], None, failure=f"{type(exc).__name__}: {exc}")))
    finally:
        conn.close()


def _unbatch(batch: _Batch) -> list[Item]:
    if not batch.others:
        return list(batch.events)
    merged: list[Item] = []
    events = iter(batch.events)
    for other in batch.others:
        while len(merged) < other.index:
            merged.append(next(events))
        if isinstance(other, _Error):
            merged.append(RowError(other.file, other.line, other.reason, other.field, other.event_id))
        else:
            merged.append(Skipped(other.file, other.line, other.reason))
    merged.extend(events)
    return merged


class ChildReader:
    """A forked child reading `sources`; iterate for (end_of_file, items, position) per batch.

    Fork it before starting any thread (the progress bar's). Raises `IngestError` when the child fails;
    `close` stops the child when the caller stops early.
    """

    def __init__(self, sources: list[Source]) -> None:
        context = multiprocessing.get_context("fork")
        self._files = len(sources)
        self._receiver, sender = context.Pipe(duplex=False)
        self._child = context.Process(target=_produce, args=(sender, sources), name="alpr-audit-reader", daemon=True)
        self._child.start()
        sender.close()

    def __iter__(self) -> Iterator[tuple[bool, list[Item], int | None]]:
        decode = msgspec.json.Decoder(_Batch).decode
        remaining = self._files
        while remaining:
            try:
                raw = self._receiver.recv_bytes()
            except EOFError:
                raise IngestError("the reader process stopped before the end of the input") from None
            batch = decode(raw)
            if batch.failure is not None:
                raise IngestError(f"reading the input failed: {batch.failure}")
            if batch.end_of_file:
                remaining -= 1
            yield batch.end_of_file, _unbatch(batch), batch.position

    def close(self) -> None:
        self._receiver.close()
        if self._child.is_alive():
            self._child.terminate()
        self._child.join()
