"""The runner: one observation through every detector, each with its own store; time passing; offline replay."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from monitor.alerts import Alert
from monitor.patterns.detector import KEEP, Detector, Notes, PatternContext
from monitor.patterns.observation import Observation
from monitor.patterns.store import MemoryStore, StateStore

__all__ = ["PatternRunner", "default_detectors", "replay"]

AnyDetector = Detector[Any]
# Offline, windows are swept for expired state once a week of event time; daily detectors every day.
SWEEP_DAYS = 7


def default_detectors() -> list[AnyDetector]:
    """Every detector, in the order the runner feeds them (the per-user one counts before the per-plate one)."""
    from monitor.patterns.detectors import (
        IsolatedSession,
        NewRequester,
        RepeatTarget,
        StandingAccess,
        Surge,
    )

    return [StandingAccess(), NewRequester(), Surge(), IsolatedSession(), RepeatTarget()]


class PatternRunner:
    """Feeds observations to detectors through their stores; the same code live and offline.

    `stores` maps a detector's `kind` to its store (default: a `MemoryStore` each). Live, each is a Faust
    table wrapper; the runner never keeps state of its own, so a store restored after a crash resumes exactly.
    """

    def __init__(
        self,
        ctx: PatternContext,
        detectors: Sequence[AnyDetector] | None = None,
        stores: Mapping[str, StateStore[Any]] | None = None,
    ) -> None:
        self.ctx = ctx
        self.detectors: tuple[AnyDetector, ...] = tuple(detectors if detectors is not None else default_detectors())
        given = dict(stores or {})
        # An empty store is falsy (it has a length): test for presence, not truth.
        self.stores: dict[str, StateStore[Any]] = {
            d.kind: given[d.kind] if d.kind in given else MemoryStore() for d in self.detectors
        }
        # Bound methods looked up once: observe runs for every event.
        self._steps = tuple(
            (d, d.state_key, d.step, self.stores[d.kind], _getter(self.stores[d.kind]), d.settles)
            for d in self.detectors
        )

    def observe(self, obs: Observation) -> list[Alert]:
        """Step every detector with one observation; the alerts they raise, in detector order."""
        notes = Notes()
        raised = notes.alerts
        ctx = self.ctx
        unsettled: list[tuple[AnyDetector, str, object, object]] = []
        for detector, state_key, step, store, get, settles in self._steps:
            key = state_key(obs)
            if key is None:
                continue
            state = get(key)
            new, alerts = step(state, obs, ctx, notes)
            if alerts:
                raised.extend(alerts)
            if settles and new is not None:
                unsettled.append((detector, key, state, new))
            elif new is not KEEP:
                self._write(store, key, state, new)
        for detector, key, state, new in unsettled:
            settled = detector.settle(state if new is KEEP else new, obs, ctx, notes)
            if new is not KEEP or settled is not KEEP:
                self._write(self.stores[detector.kind], key, state, settled if settled is not KEEP else new)
        return raised

    def advance_key(self, detector: AnyDetector, key: str, now: datetime) -> list[Alert]:
        """Let time pass to `now` for one key of one detector (what a live timer does key by key)."""
        store = self.stores[detector.kind]
        state = store.get(key)
        if state is None:
            return []
        new, alerts = detector.advance(key, state, now, self.ctx)
        if new is not KEEP:
            self._write(store, key, state, new)
        return alerts

    def advance_all(self, now: datetime, *, daily_only: bool = False) -> list[Alert]:
        """Let time pass to `now` for every key (only detectors that tick daily when `daily_only`)."""
        raised: list[Alert] = []
        for detector in self.detectors:
            if daily_only and not detector.ticks_daily:
                continue
            store = self.stores[detector.kind]
            get, advance, ctx = _getter(store), detector.advance, self.ctx
            held = store.keys()  # a snapshot: advancing deletes keys
            for key in held:
                state = get(key)
                if state is None:
                    continue
                new, alerts = advance(key, state, now, ctx)
                if new is not KEEP:
                    self._write(store, key, state, new)
                if alerts:
                    raised.extend(alerts)
        return raised

    @staticmethod
    def _write(store: StateStore[Any], key: str, old: object, new: object) -> None:
        if new is None:
            if old is not None:
                store.delete(key)
        else:
            store.set(key, new)


def _getter(store: StateStore[Any]) -> Callable[[str], Any]:
    """The store's `get`; a memory store's dict lookup itself (a Python call less per detector and event)."""
    return store.states.get if isinstance(store, MemoryStore) else store.get


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def replay(runner: PatternRunner, observations: Iterable[Observation]) -> Iterator[Alert]:
    """Offline: feed observations already in event-time order (see `in_event_time`), advancing the daily
    detectors at each UTC midnight the stream crosses and sweeping every window weekly and at the end."""
    today: date | None = None
    swept: date | None = None
    last: datetime | None = None
    for obs in observations:
        day = obs.occurred_at.date()
        if today is None or swept is None:
            today = swept = day
        elif day > today:
            today = day
            if day - swept >= timedelta(days=SWEEP_DAYS):
                swept = day
                yield from runner.advance_all(_midnight(day))
            else:
                yield from runner.advance_all(_midnight(day), daily_only=True)
        last = obs.occurred_at
        yield from runner.observe(obs)
    if last is not None:
        yield from runner.advance_all(last)
