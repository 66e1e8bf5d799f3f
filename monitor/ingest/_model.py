"""What an adapter yields, the options it takes, and the errors that stop a whole file."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Protocol, TypeAlias

from monitor.events import AccessEvent, Owner, Requester


@dataclass(frozen=True, slots=True)
class RowError:
    """A record that could not become an event; reported and counted, and the run goes on.

    `line` is the 1-based physical line where the record starts (for a CSV record with multi-line cells,
    its first line; for XLSX, the spreadsheet row). `reason` starts with a short code (`invalid_field`,
    `missing_field`, `bad_row`, `invalid_encoding`, `unparseable`, or a v1 `EventError` reason) and never
    quotes a plate, a user name or a free-text reason.
    """

    file: str
    line: int
    reason: str
    field: str | None = None
    event_id: str | None = None


@dataclass(frozen=True, slots=True)
class Skipped:
    """A record that is well formed but is not an access event (a login, a hotlist edit, an exact repeat).

    Skipped records are yielded, not dropped, so that events + errors + skipped always equals the records read.
    """

    file: str
    line: int
    reason: str


Item: TypeAlias = AccessEvent | RowError | Skipped


@dataclass(frozen=True, slots=True)
class IngestOptions:
    """What a file may not say for itself.

    - `owner`: whose ALPR data the file is about. Wins over a name the file gives (the policy is keyed
      by the configured owner's spelling); required where the file names no owner.
    - `default_requester`: the requester when a row names none (an organisation audit lists the owner's
      own users; the portal search audit never names the organisation).
    - `source_vendor`: overrides `source.vendor` on events built from vendor exports (white-label resellers).
    - `assume_tz`: IANA zone for timestamps written without one (the portal audit's `searchDate`).
    - `as_of`: when a sharing list (graph, portal list, Vigilant report) was observed; such lists carry no
      time per row. Default: the date the report prints, else the file's modification time.
    - `encoding`: text encoding of CSV and text exports (a BOM is removed for UTF-8).
    """

    owner: Owner | None = None
    default_requester: Requester | None = None
    source_vendor: str | None = None
    assume_tz: str = "UTC"
    as_of: datetime | None = None
    encoding: str = "utf-8"


class Adapter(Protocol):
    """One vendor export format turned into v1 events."""

    name: str

    def matches(self, header: str) -> bool:
        """Whether `header` (the start of the file as text, at least its first line) is this format."""
        ...

    def read(self, stream: IO[str] | IO[bytes], path: str, options: IngestOptions) -> Iterator[Item]:
        """Stream the items of one file; raises `IngestError` at once when the file as a whole is unusable."""
        ...


class IngestError(ValueError):
    """A whole file cannot be read: fix the file or the options and run again."""


class UnknownFormat(IngestError):
    """The file's format was not recognised: pass the format explicitly (one of the known names)."""


class MissingOption(IngestError):
    """The file does not say something an event needs (the owner, the requester): give it as an option."""


class BadHeader(IngestError):
    """The header lacks columns the chosen format needs: check the format or the export's columns."""
