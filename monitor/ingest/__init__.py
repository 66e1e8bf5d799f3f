"""Vendor export adapters: real audit logs and sharing lists in, v1 `AccessEvent`s out.

`read_events(path)` streams one file as items: an `AccessEvent`, a `RowError` (a record that could not be
read: file, line, reason, field; the run goes on), or `Skipped` (a record that is not an access event,
such as a login in an event log or an exact export copy). Every record read yields at least one item (one
per named party for an event-log record that names several), so nothing disappears unseen; `Tally` counts.
The format is detected from the header, or named:

| name | what |
|---|---|
| `v1-jsonl` | v1 events as JSON lines (the `check` default; the fast path) |
| `flock-network-audit` | Flock network or organisation audit, CSV, XLSX or printed to PDF |
| `flock-portal-audit` | Flock transparency-portal search audit (`id,userId,searchDate,cameraCount,reason`) |
| `flock-event-log` | Flock event log: sharing grants, revocations, request decisions |
| `flock-sharing-graph` | Flock sharing graph (`src_agency,external_agency,...`) |
| `flock-sharing-list` | Flock portal sharing list (`Agency` or `Name,State,Type`) |
| `vigilant-sharing-report` | Vigilant LEARN "Agency Data Sharing Report" as text |

Consecutive snapshots of a sharing list (`read_snapshots`) become grant and revoke events: who appears
and who goes between two lists (see `_snapshots`).

Where a file does not say whose data it is, `IngestOptions.owner` must (the adapters raise
`MissingOption` before reading a row). Each adapter's module docstring states how it builds event ids;
all are deterministic, so alerts derived from them are too.
"""

from monitor.ingest._model import (
    Adapter,
    BadHeader,
    IngestError,
    IngestOptions,
    Item,
    MissingOption,
    RowError,
    Skipped,
    UnknownFormat,
)
from monitor.ingest._read import ADAPTERS, ClosingItems, adapter_named, detect_format, known_formats, read_events
from monitor.ingest._snapshots import SNAPSHOT_LOG, read_snapshots, snapshot_changes
from monitor.ingest._tally import Tally

__all__ = [
    "ADAPTERS",
    "SNAPSHOT_LOG",
    "Adapter",
    "BadHeader",
    "ClosingItems",
    "IngestError",
    "IngestOptions",
    "Item",
    "MissingOption",
    "RowError",
    "Skipped",
    "Tally",
    "UnknownFormat",
    "adapter_named",
    "detect_format",
    "known_formats",
    "read_events",
    "read_snapshots",
    "snapshot_changes",
]
