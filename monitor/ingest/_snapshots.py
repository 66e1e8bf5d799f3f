"""Consecutive snapshots of a sharing list become a change log: grants for who appears, revokes for who goes.

Vendors publish no per-change sharing log; what a records request returns is a list as of a day (a portal
sharing list, the sharing graph, a Vigilant sharing report). Read in order of observation, each snapshot is
compared with the previous one of the same owner and direction: an agency newly listed becomes a `grant`,
one no longer listed a `revoke` at the later snapshot's time, and one listed in both is `Skipped`
("unchanged"), so every record read is still accounted for. The first snapshot's entries are all grants.
Events carry `source.log = "sharing_snapshot"` (the pattern detectors record how access was learnt) and
ids derived from owner, direction, agency, action and time, so a second run gives the same ids.

Snapshots are small (an agency list), so each is read whole to learn its time before they are ordered.
A snapshot's time is its `as_of` (one per file), else what its adapter found (the printed date, the
file's modification time). An empty snapshot revokes everything, so it needs its `as_of`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from monitor.events import AccessEvent, Requester, Sharing, Source

from ._model import IngestError, IngestOptions, Item, Skipped
from ._read import read_events
from ._values import digest

__all__ = ["SNAPSHOT_LOG", "read_snapshots", "snapshot_changes"]

SNAPSHOT_LOG = "sharing_snapshot"


@dataclass(slots=True)
class _Snapshot:
    label: str
    when: datetime | None
    items: list[Item]


def _fold(name: str) -> str:
    return " ".join(name.casefold().split())


def snapshot_changes(snapshots: Sequence[tuple[str, datetime | None, list[Item]]]) -> Iterator[Item]:
    """Turn (label, as_of, items) snapshots, in any order, into change events in observation order."""
    ordered: list[_Snapshot] = []
    for label, when, items in snapshots:
        if when is None:
            when = next((item.occurred_at for item in items if isinstance(item, AccessEvent)), None)
        if when is None:
            raise IngestError(f"{label}: an empty snapshot revokes every grant: give its time with --as-of")
        ordered.append(_Snapshot(label, when, items))
    ordered.sort(key=lambda snapshot: snapshot.when or datetime.min)
    previous: dict[tuple[str, str], dict[str, AccessEvent]] = {}
    for snapshot in ordered:
        assert snapshot.when is not None
        listed: dict[tuple[str, str], dict[str, AccessEvent]] = {}
        for item in snapshot.items:
            if not isinstance(item, AccessEvent) or item.sharing is None or item.sharing.action != "grant":
                yield item
                continue
            group: tuple[str, str] = (_fold(item.owner.agency), item.sharing.direction)
            recipient = _fold(item.requester.agency)
            listed.setdefault(group, {})[recipient] = item
            if recipient in previous.get(group, {}):
                yield Skipped(snapshot.label, 0, "unchanged since the previous snapshot")
                continue
            yield _change(item, "grant", snapshot.when)
        for seen, before in previous.items():
            now = listed.get(seen, {})
            for recipient, last in before.items():
                if recipient not in now:
                    yield _change(last, "revoke", snapshot.when)
        for known in dict.fromkeys([*previous, *listed]):  # ordered: the output must not depend on hashing
            previous[known] = listed.get(known, {})


def _change(listed: AccessEvent, action: str, when: datetime) -> AccessEvent:
    assert listed.sharing is not None
    owner, direction = listed.owner, listed.sharing.direction
    vendor = listed.source.vendor if listed.source else None
    return AccessEvent(
        event_id="snapshot~"
        + digest(owner.agency.casefold(), direction, _fold(listed.requester.agency), action, when.isoformat()),
        event_type="sharing_change",
        occurred_at=when,
        owner=owner,
        requester=Requester(agency=listed.requester.agency, ori=listed.requester.ori, state=listed.requester.state),
        sharing=Sharing(action=action, direction=direction),  # type: ignore[arg-type]  # "grant" | "revoke"
        source=Source(vendor=vendor, log=SNAPSHOT_LOG),
    )


def read_snapshots(
    paths: Sequence[str], fmt: str | None, options: IngestOptions, as_of: Sequence[datetime] = ()
) -> Iterator[Item]:
    """Read sharing-list files as consecutive snapshots (`as_of`: none, or one time per file in order)."""
    if as_of and len(as_of) != len(paths):
        raise IngestError(f"give --as-of once per snapshot: {len(paths)} files, {len(as_of)} times")
    snapshots = []
    for index, path in enumerate(paths):
        when = as_of[index] if as_of else options.as_of
        file_options = replace(options, as_of=when)
        snapshots.append((str(path), when, list(read_events(path, fmt, file_options))))
    return snapshot_changes(snapshots)
