"""The live pattern wiring without a broker: staged state, changelog writes, replay markers, keying, the clock.

A counting detector (alert at the 10th search of a plate by one user) stands in for the real ones, so
these tests exercise the plumbing alone; the real detectors run in tests/test_patterns_live_kafka.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import faust
import msgspec
import pytest
from aiokafka.partitioner import DefaultPartitioner

from monitor.alerts import Alert, AlertOwner, AlertRequester
from monitor.engine import Engine
from monitor.events import AccessEvent, Owner, Query, Requester, Sharing, encode_event
from monitor.patterns import Detector, Observation, PatternContext, partition_key, pattern_alert_id
from monitor.patterns.detector import Step
from streams.patterns import LivePatterns, kafka_partition
from streams.state_store import TableStateStore

PARTITIONS = 4
START = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


class Count(msgspec.Struct):
    searches: int = 0
    last_day: str = ""


class TenthSearch(Detector[Count]):
    """Counts one user's searches of one plate; alerts at the 10th; on advance, one alert per new UTC day."""

    kind: ClassVar[str] = "misuse.repeat_target"
    state_type: ClassVar[type[msgspec.Struct]] = Count
    ticks_daily: ClassVar[bool] = True

    def state_key(self, obs: Observation) -> str | None:
        if obs.action != "search" or not obs.plate_hash:
            return None
        return f"{obs.owner_key}|{obs.user_hash}|{obs.plate_hash}"

    def step(self, state: Count | None, obs: Observation, ctx: PatternContext, earlier: Sequence[Alert]) -> Step[Count]:
        count = Count(searches=(state.searches if state else 0) + 1, last_day=obs.occurred_at.date().isoformat())
        alerts = [_alert(pattern_alert_id(self.kind, self.state_key(obs) or "", "10"), obs.occurred_at, obs.event_id)]
        return count, alerts if count.searches == 10 else []

    def advance(self, key: str, state: Count, now: datetime, ctx: PatternContext) -> Step[Count]:
        day = now.date().isoformat()
        if day <= state.last_day:
            return state, []
        return Count(state.searches, day), [_alert(pattern_alert_id(self.kind, key, day), now)]


def _alert(alert_id: str, at: datetime, event_id: str = "tick") -> Alert:
    return Alert(
        alert_id=alert_id,
        event_id=event_id,
        rule_id="pattern.test",
        kind="misuse.repeat_target",
        severity="high",
        summary="tenth search",
        citations=[],
        owner=AlertOwner(agency="Oakland CA PD", state="CA", id="oakland-pd"),
        requester=AlertRequester(agency="Oakland CA PD", jurisdiction="in_state"),
        evidence={},
        policy_version="test",
        occurred_at=at,
        detected_at=at,
    )


def _search(index: int, owner: str = "Oakland CA PD", at: datetime | None = None) -> AccessEvent:
    return AccessEvent(
        event_id=f"s-{owner[:3]}-{index}",
        event_type="query",
        occurred_at=at or START + timedelta(hours=index),
        owner=Owner(agency=owner, state="CA"),
        requester=Requester(agency=owner, state="CA", user="ofc-17"),
        query=Query(plate="7ABC123", reason="investigation 25-1", case_number=None),
    )


class Wall:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


class Changelog:
    """Stands in for the producer: records every send, resolves at once."""

    def __init__(self) -> None:
        self.records: list[tuple[str, bytes, bytes | None, int | None]] = []

    async def send(self, topic: str, key: bytes, value: bytes | None, partition: int | None, *_: Any) -> Any:
        self.records.append((topic, key, value, partition))
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        future.set_result(None)
        return future


def _live(wall: Wall | None = None, name: str = "live-test") -> LivePatterns:
    app = faust.App(name, broker="kafka://127.0.0.1:1", key_serializer="raw", value_serializer="raw", web_enabled=False)
    return LivePatterns(
        app,
        input_topic="in",
        alerts_topic="alerts",
        partitions=PARTITIONS,
        detectors=lambda: [TenthSearch()],
        wall=wall or Wall(),
    )


def _judged(engine: Engine, events: list[AccessEvent], first_offset: int = 0) -> list[Any]:
    return [(first_offset + i, None, encode_event(e), e, engine.judge(e)) for i, e in enumerate(events)]


def _home(engine: Engine, event: AccessEvent) -> int:
    return kafka_partition(partition_key(engine, event), PARTITIONS)


class TestStagedState:
    def test_writes_reach_table_and_changelog_only_on_commit(self) -> None:
        """Staged writes are visible to the batch, absent from the table until committed, then sent to the
        changelog partition of the input partition, the applied-offset marker last."""
        store = TableStateStore(faust.App("staged", broker="kafka://127.0.0.1:1", web_enabled=False), PARTITIONS)
        staged = store.stage(2)
        staged.set("k|a", b"1")
        staged.mark_applied("in", 7)
        assert staged.get("k|a") == b"1"
        assert store.read(b"k|a") is None
        changelog = Changelog()
        asyncio.run(store.commit(staged, lambda t, k, v, p: changelog.send(t, k, v, p)))
        assert store.read(b"k|a") == b"1"
        assert [(key, partition) for _, key, _, partition in changelog.records] == [
            (b"k|a", 2),
            (b"\x00applied\x00in\x002", 2),
        ]
        assert store.applied_offset("in", 2) == 7
        assert store.applied_offset("in", 1) is None

    def test_delete_sends_a_tombstone_and_forgets_the_key(self) -> None:
        """Deleting a key that has state writes a null value (compaction drops it) and removes it from keys()."""
        store = TableStateStore(faust.App("tomb", broker="kafka://127.0.0.1:1", web_enabled=False), PARTITIONS)
        changelog = Changelog()
        first = store.stage(0)
        first.set("k|a", b"1")
        first.set("k|b", b"2")
        asyncio.run(store.commit(first, lambda t, k, v, p: changelog.send(t, k, v, p)))
        second = store.stage(0)
        second.delete("k|a")
        assert list(second.keys("k|")) == ["k|b"]
        asyncio.run(store.commit(second, lambda t, k, v, p: changelog.send(t, k, v, p)))
        assert changelog.records[-1][1:] == (b"k|a", None, 0)
        assert list(store.stage(0).keys("k|")) == ["k|b"]
        assert list(store.stage(1).keys("k|")) == [], "keys are per partition"

    def test_revoked_partition_state_is_dropped(self) -> None:
        """State of a partition this worker lost is removed, so it cannot come back stale later."""
        store = TableStateStore(faust.App("revoke", broker="kafka://127.0.0.1:1", web_enabled=False), PARTITIONS)
        changelog = Changelog()
        staged = store.stage(3)
        staged.set("k|a", b"1")
        asyncio.run(store.commit(staged, lambda t, k, v, p: changelog.send(t, k, v, p)))
        store.forget({3})
        assert store.read(b"k|a") is None


class TestRebalance:
    def test_state_of_partitions_still_held_survives_a_rebalance(self) -> None:
        """After a rebalance only the partitions no longer assigned lose their state; kept ones keep it (Faust
        does not read their changelog again)."""
        live = _live()
        changelog = Changelog()
        live.hold({0, 1})
        for partition in (0, 1):
            staged = live.store.stage(partition)
            staged.set(f"k|{partition}", b"x")
            asyncio.run(live.store.commit(staged, lambda t, k, v, p: changelog.send(t, k, v, p)))
        live.hold({1, 2})
        assert live.store.read(b"k|0") is None
        assert live.store.read(b"k|1") == b"x"


class TestLivePatternsRun:
    def test_tenth_search_alerts_once_across_batches(self, reference_engine: Engine) -> None:
        """Nine searches in one batch and the tenth in the next raise the alert with the state carried over."""
        live = _live()
        events = [_search(i) for i in range(10)]
        home = _home(reference_engine, events[0])
        changelog = Changelog()
        first = live.run(reference_engine, "in", home, _judged(reference_engine, events[:9]), 9)
        assert first.alerts == []
        asyncio.run(live.commit(first, changelog.send))
        second = live.run(reference_engine, "in", home, _judged(reference_engine, events[9:], 9), 10)
        assert [alert.kind for alert, _ in second.alerts] == ["misuse.repeat_target"]

    def test_replayed_events_below_the_marker_are_not_counted_again(self, reference_engine: Engine) -> None:
        """After a crash between the state commit and the input commit, the replayed batch does not count twice."""
        live = _live()
        events = [_search(i) for i in range(10)]
        home = _home(reference_engine, events[0])
        changelog = Changelog()
        batch = live.run(reference_engine, "in", home, _judged(reference_engine, events[:6]), 6)
        asyncio.run(live.commit(batch, changelog.send))
        # Redelivered from offset 0 (input offsets not committed), then the rest.
        again = live.run(reference_engine, "in", home, _judged(reference_engine, events), 10)
        assert [alert.event_id for alert, _ in again.alerts] == [events[9].event_id], "the tenth search tips it"
        asyncio.run(live.commit(again, changelog.send))
        [key] = live.store.stage(home).keys("misuse.repeat_target|")
        state = live.store.read(key.encode())
        assert state is not None
        assert msgspec.msgpack.decode(state, type=Count).searches == 10

    def test_uncommitted_batch_changes_nothing(self, reference_engine: Engine) -> None:
        """A batch abandoned across a rebalance (never committed) leaves the state as it was."""
        live = _live()
        events = [_search(i) for i in range(10)]
        home = _home(reference_engine, events[0])
        live.run(reference_engine, "in", home, _judged(reference_engine, events[:9]), 9)  # not committed
        replay = live.run(reference_engine, "in", home, _judged(reference_engine, events), 10)
        assert len(replay.alerts) == 1, "the ten searches count once each"

    def test_miskeyed_event_is_forwarded_to_its_owners_partition(self, reference_engine: Engine) -> None:
        """An event on another partition than its owner's goes to the repartition topic keyed by owner, and
        the detectors there see it; it never starts state on the wrong partition."""
        live = _live()
        event = _search(0)
        home = _home(reference_engine, event)
        wrong = (home + 1) % PARTITIONS
        batch = live.run(reference_engine, "in", wrong, _judged(reference_engine, [event]), 1)
        assert batch.forwards == [(b"oakland-pd", encode_event(event), home)]
        assert batch.staged.writes == 0, "no state written on the wrong partition"
        changelog = Changelog()
        asyncio.run(live.send(batch, changelog.send))
        assert changelog.records == [(live.repartition_topic, b"oakland-pd", encode_event(event), home)]

    def test_forwarded_events_are_not_forwarded_again(self, reference_engine: Engine) -> None:
        """On the repartition topic the detectors run whatever the key: no loop between topics."""
        live = _live()
        events = [_search(i) for i in range(10)]
        home = _home(reference_engine, events[0])

        class Record:
            def __init__(self, offset: int, value: bytes) -> None:
                self.offset, self.key, self.value = offset, b"oakland-pd", value

        judged = live.decode(Record(i, encode_event(e)) for i, e in enumerate(events))
        batch = live.run(reference_engine, live.repartition_topic, home, judged, 10)
        assert batch.forwards == []
        assert len(batch.alerts) == 1


class TestClock:
    def test_daily_alert_comes_from_the_timer_without_an_event(self, reference_engine: Engine) -> None:
        """The timer advances a partition to its last event time plus the wall time since: crossing midnight
        raises the next day's alert with no new event."""
        wall = Wall()
        live = _live(wall)
        late = START.replace(hour=23, minute=59, second=30)
        event = _search(0, at=late)
        home = _home(reference_engine, event)
        changelog = Changelog()
        asyncio.run(
            live.commit(live.run(reference_engine, "in", home, _judged(reference_engine, [event]), 1), changelog.send)
        )
        wall.now += 10  # still 23:59:40 on the partition's clock
        assert _tick(live, reference_engine, home) == []
        wall.now += 60  # 00:00:40 the next day
        [alert] = _tick(live, reference_engine, home)
        assert alert.occurred_at.date() == (late + timedelta(days=1)).date()
        assert _tick(live, reference_engine, home) == [], "one alert per day"

    def test_replayed_old_events_do_not_fast_forward_to_the_wall_clock(self, reference_engine: Engine) -> None:
        """Events from months ago make the clock start there, not at today's date: no burst of daily alerts."""
        wall = Wall()
        live = _live(wall)
        event = _search(0, at=START)
        home = _home(reference_engine, event)
        changelog = Changelog()
        asyncio.run(
            live.commit(live.run(reference_engine, "in", home, _judged(reference_engine, [event]), 1), changelog.send)
        )
        wall.now += 3600
        assert _tick(live, reference_engine, home) == []

    def test_partition_without_events_does_not_tick(self, reference_engine: Engine) -> None:
        """A partition that has seen no event has no clock and raises nothing."""
        assert _tick(_live(), reference_engine, 0, sweep=True) == []

    def test_sweep_advances_every_detector_in_committed_chunks(
        self, reference_engine: Engine, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A sweep walks every key in chunks, each committed before the next is made, so the loop can breathe."""
        monkeypatch.setattr("streams.patterns.SWEEP_CHUNK", 2)
        live = _live()
        events = [_search(i, at=START + timedelta(minutes=i)) for i in range(5)]
        events = [
            msgspec.structs.replace(e, query=Query(plate=f"P{i:05d}", reason="x 25-1")) for i, e in enumerate(events)
        ]
        home = _home(reference_engine, events[0])
        changelog = Changelog()
        asyncio.run(
            live.commit(live.run(reference_engine, "in", home, _judged(reference_engine, events), 5), changelog.send)
        )
        live.wall.now += 86_400 * 2  # type: ignore[attr-defined]
        assert [len(batch.alerts) for batch in live.tick(reference_engine, home, sweep=True)] == [2, 2, 1]
        assert len(_tick(live, reference_engine, home, sweep=True)) == 5, "each key's day passes"


def _tick(live: LivePatterns, engine: Engine, partition: int, *, sweep: bool = False) -> list[Alert]:
    """Every alert of one timer tick, its chunks committed as the worker commits them."""
    changelog = Changelog()
    alerts: list[Alert] = []
    for batch in live.tick(engine, partition, sweep=sweep):
        alerts.extend(alert for alert, _ in batch.alerts)
        asyncio.run(live.commit(batch, changelog.send))
    return alerts


class TestKafkaPartition:
    @pytest.mark.parametrize("key", [b"oakland-pd", b"~eugene or pd", b"", b"\xff" * 40])
    def test_matches_the_default_partitioner(self, key: bytes) -> None:
        """The owner's partition is the one Kafka's default partitioner (murmur2) picks for the key."""
        partitions = list(range(7))
        assert kafka_partition(key, 7) == DefaultPartitioner()(key, partitions, partitions)


def test_sharing_events_route_like_searches(reference_engine: Engine) -> None:
    """A grant and a search of the same owner are keyed, and so partitioned, alike."""
    grant = AccessEvent(
        event_id="g-1",
        event_type="sharing_change",
        occurred_at=START,
        owner=Owner(agency="Oakland CA PD", state="CA"),
        requester=Requester(agency="Immigration and Customs Enforcement"),
        sharing=Sharing(action="grant", direction="outbound", approval_mode="group"),
    )
    assert partition_key(reference_engine, grant) == partition_key(reference_engine, _search(0))
