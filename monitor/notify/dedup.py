"""A bounded memory of alert ids already settled (delivered or dead-lettered) for one endpoint."""

from __future__ import annotations

from collections import OrderedDict

__all__ = ["SettledIds"]


class SettledIds:
    """The last `capacity` alert ids settled, least recently seen evicted first.

    Alert ids are deterministic, so an alert the worker republished after a crash, or one the notifier
    reads again after a failed commit, carries the same id and is recognised here. The memory is the
    process's own: after a restart it starts empty, and the at-least-once window (alerts of the last
    uncommitted batch) may be posted again; PagerDuty deduplicates those by dedup_key.
    """

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        self._ids: OrderedDict[str, None] = OrderedDict()

    def __contains__(self, alert_id: object) -> bool:
        if alert_id in self._ids:
            self._ids.move_to_end(alert_id)  # type: ignore[arg-type]  # membership proved it is a str
            return True
        return False

    def __len__(self) -> int:
        return len(self._ids)

    def add(self, alert_id: str) -> None:
        """Remember `alert_id` as settled, evicting the least recently seen id when full."""
        self._ids[alert_id] = None
        self._ids.move_to_end(alert_id)
        if len(self._ids) > self.capacity:
            self._ids.popitem(last=False)
