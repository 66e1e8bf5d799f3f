"""Counting what a read produced, for the run's summary."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from monitor.events import AccessEvent

from ._model import Item, RowError


@dataclass(slots=True)
class Tally:
    """Events, row errors and skipped records seen so far (their sum is the records read)."""

    events: int = 0
    errors: int = 0
    skipped: int = 0

    @property
    def records(self) -> int:
        """Every record read: events + errors + skipped."""
        return self.events + self.errors + self.skipped

    def add(self, item: Item) -> None:
        """Count one item."""
        if type(item) is AccessEvent:
            self.events += 1
        elif type(item) is RowError:
            self.errors += 1
        else:
            self.skipped += 1

    def count(self, items: Iterable[Item]) -> Iterator[Item]:
        """Pass `items` through, counting each."""
        add = self.add
        for item in items:
            add(item)
            yield item
