"""Where detector state lives: a key-value protocol, kept in memory offline and in Faust tables live."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Generic, Protocol, TypeVar

import msgspec

from monitor.patterns.detector import Detector

__all__ = ["BytesStore", "MemoryStore", "StateStore"]

S = TypeVar("S", bound=msgspec.Struct)


class StateStore(Protocol[S]):
    """One detector's states by key. A live implementation wraps a Faust table (values as `Detector.encode`d bytes)."""

    def get(self, key: str) -> S | None: ...

    def set(self, key: str, state: S) -> None: ...

    def delete(self, key: str) -> None: ...

    def keys(self) -> Iterator[str]:
        """The keys held (a snapshot: the caller may set and delete while iterating)."""
        ...

    def __len__(self) -> int: ...


class MemoryStore(Generic[S]):
    """States as objects in a dict: `check` and `audit`."""

    def __init__(self) -> None:
        self.states: dict[str, S] = {}

    def get(self, key: str) -> S | None:
        return self.states.get(key)

    def set(self, key: str, state: S) -> None:
        self.states[key] = state

    def delete(self, key: str) -> None:
        self.states.pop(key, None)

    def keys(self) -> Iterator[str]:
        return iter(list(self.states))

    def __len__(self) -> int:
        return len(self.states)


class BytesStore(Generic[S]):
    """States as encoded bytes, decoded on every read: what a Faust table holds and a changelog restores."""

    def __init__(self, detector: Detector[S]) -> None:
        self.detector = detector
        self.data: dict[str, bytes] = {}

    def get(self, key: str) -> S | None:
        raw = self.data.get(key)
        return None if raw is None else self.detector.decode(raw)

    def set(self, key: str, state: S) -> None:
        self.data[key] = self.detector.encode(state)

    def delete(self, key: str) -> None:
        self.data.pop(key, None)

    def keys(self) -> Iterator[str]:
        return iter(list(self.data))

    def __len__(self) -> int:
        return len(self.data)
