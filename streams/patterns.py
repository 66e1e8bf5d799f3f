"""Pattern detectors in the live worker: state in a Faust table, alerts with the same ack-after-send guarantee.

Per input batch, after the rule engine (`streams.app`): each judged event becomes an observation
(`monitor.patterns.observe`, reusing the engine's alerts) and goes through the detectors
(`monitor.patterns.PatternRunner`), whose stores read and stage writes in the partition's state
(`streams.state_store`). Order of effects, so a crash anywhere repeats work and never loses it:
1. pattern alerts are sent with the rule alerts and dead letters, and acknowledged;
2. the staged state and an applied-offset marker are written to the changelog partition of the input
   partition, and acknowledged;
3. the input offsets are acked (Faust commits them later).
A crash before 2 replays the batch on the old state (same alerts, same ids); a crash between 2 and 3
replays it with the marker saying the detectors have seen it, so nothing is counted twice.

Keying: an owner's state must live on one partition. The input must be keyed by
`monitor.patterns.partition_key` (what `alpr-monitor produce` and `ingest` do). An event on another
partition than its owner's is not refused: its rule alerts are raised where it is, and it is forwarded,
keyed by owner, to the internal topic `<app id>-patterns-repartition` (as many partitions as the
input, assigned with it), whose batches go through the detectors only. So mis-keyed input costs one
extra hop and arrives later than its neighbours; it never splits an owner's state.

Time without events: a timer (every `ALPR_PATTERN_TICK_SECONDS`) advances the daily detectors (standing
access: one alert per day of exposure) of every partition this worker holds, through the same staged
store and changelog partition. Its clock is the partition's latest event time plus the wall time passed
since that event was processed: live traffic gives the wall clock; a replay of old exports does not
make a year of days pass at once. The clock is kept in the changelog with the state.
"""

from __future__ import annotations

import asyncio
import functools
import math
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

import msgspec
import structlog
from aiokafka.partitioner import murmur2
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from monitor.alerts import Alert, encode_alert
from monitor.events import EventError, decode_event
from monitor.patterns.detector import Detector, PatternContext
from monitor.patterns.detectors.standing_access import StandingAccess
from monitor.patterns.observation import observe, partition_key
from monitor.patterns.runner import PatternRunner, default_detectors
from streams.batch import Judged
from streams.state_store import StagedPartition, TableStateStore

if TYPE_CHECKING:
    import faust

    from monitor.engine import Engine
    from streams.metrics import WorkerMetrics

__all__ = [
    "LivePatterns",
    "PatternBatch",
    "PatternLiveSettings",
    "kafka_partition",
    "repartition_topic_name",
]

log = structlog.get_logger(__name__)

S = TypeVar("S", bound=msgspec.Struct)
_CLOCK = "\x00clock"
"""State key of a partition's clock: latest event time and the wall time it was processed at."""
SWEEP_EVERY_TICKS = 60
"""Every detector's windows are trimmed (expired keys deleted) on the first tick and once per this many."""
SWEEP_CHUNK = 2000
"""Keys advanced per committed chunk of a timer tick."""


class PatternLiveSettings(BaseSettings):
    """The live path's pattern settings (environment `ALPR_PATTERNS`, `ALPR_PATTERN_TICK_SECONDS`)."""

    model_config = SettingsConfigDict(env_prefix="ALPR_", extra="ignore")

    patterns: bool = Field(default=True, description="run the pattern detectors in the worker")
    pattern_tick_seconds: float = Field(
        default=60.0, gt=0, description="how often time advances each partition's state"
    )


def repartition_topic_name(app_id: str) -> str:
    """The internal topic mis-keyed events are forwarded to, keyed by owner."""
    return f"{app_id}-patterns-repartition"


@functools.lru_cache(maxsize=4096)  # owners are few; murmur2 in Python costs ~20 us a call
def kafka_partition(key: bytes, partitions: int) -> int:
    """The partition Kafka's default (Java and aiokafka) partitioner picks for `key`."""
    return int(murmur2(key) & 0x7FFFFFFF) % partitions


class DetectorView(Generic[S]):
    """One detector's `StateStore` over a staged partition: keys prefixed with its kind, states encoded."""

    def __init__(self, staged: StagedPartition, detector: Detector[S]) -> None:
        self._staged = staged
        self._detector = detector
        self._prefix = detector.kind + "|"

    def get(self, key: str) -> S | None:
        raw = self._staged.get(self._prefix + key)
        return None if raw is None else self._detector.decode(raw)

    def set(self, key: str, state: S) -> None:
        self._staged.set(self._prefix + key, self._detector.encode(state))

    def delete(self, key: str) -> None:
        self._staged.delete(self._prefix + key)

    def keys(self) -> Iterator[str]:
        cut = len(self._prefix)
        return iter([key[cut:] for key in self._staged.keys(self._prefix)])

    def __len__(self) -> int:
        return sum(1 for _ in self._staged.keys(self._prefix))

    def __bool__(self) -> bool:
        return True  # a store is a store even when empty (PatternRunner picks stores with `or`)


@dataclass(slots=True)
class PatternBatch:
    """What the detectors made of one batch: alerts to send, events to forward, state to commit."""

    staged: StagedPartition
    alerts: list[tuple[Alert, bytes]] = field(default_factory=list)
    forwards: list[tuple[bytes, bytes, int]] = field(default_factory=list)  # key, value, partition


@dataclass(slots=True)
class _Clock:
    event_time: float  # latest event time seen on the partition (unix seconds)
    wall: float  # wall time when it was processed

    def now(self, wall: float) -> float:
        return self.event_time + max(0.0, wall - self.wall)


class LivePatterns:
    """The detectors' live wiring for one worker app."""

    def __init__(
        self,
        app: faust.App,
        *,
        input_topic: str,
        alerts_topic: str,
        partitions: int,
        settings: PatternLiveSettings | None = None,
        detectors: Callable[[], list[Detector[Any]]] = default_detectors,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.app = app
        self.input_topic = input_topic
        self.alerts_topic = alerts_topic
        self.partitions = partitions
        self.settings = settings or PatternLiveSettings()
        self.store = TableStateStore(app, partitions, on_recover=self._on_recover)
        self.repartition_topic = repartition_topic_name(app.conf.id)
        self.detectors = detectors()
        self.wall = wall
        # Batches and timer ticks of one worker never interleave between reading and committing state.
        self.lock = asyncio.Lock()
        self._ticks = 0
        self._held: set[int] = set()
        self._assigned_at = time.monotonic()

    def topic(self) -> Any:
        """The repartition topic, declared with the input's partition count (so Faust assigns them together)."""
        return self.app.topic(
            self.repartition_topic,
            partitions=self.partitions,
            internal=True,
            key_serializer="raw",
            value_serializer="raw",
        )

    def _runner(self, engine: Engine, staged: StagedPartition) -> PatternRunner:
        stores = {d.kind: DetectorView(staged, d) for d in self.detectors}
        return PatternRunner(PatternContext(engine.policy), self.detectors, stores)

    def run(
        self, engine: Engine, topic: str, partition: int, judged: Iterable[Judged], next_offset: int
    ) -> PatternBatch:
        """The detectors over one batch of `topic`/`partition` (events the state has already seen skipped)."""
        staged = self.store.stage(partition)
        batch = PatternBatch(staged)
        applied = self.store.applied_offset(topic, partition)
        runner = self._runner(engine, staged)
        partitions = self.partitions
        latest: float | None = None
        check_key = topic == self.input_topic
        for offset, _key, raw, event, alerts in judged:
            if applied is not None and offset < applied:
                continue  # replayed after its state was committed: its pattern alerts were sent then
            if check_key:
                owner = partition_key(engine, event)
                home = kafka_partition(owner, partitions)
                if home != partition and raw is not None:
                    batch.forwards.append((owner, raw, home))
                    continue
            obs = observe(engine, event, alerts)
            if obs is None:
                continue
            for alert in runner.observe(obs):
                batch.alerts.append((alert, encode_alert(alert)))
            seen = obs.occurred_at.timestamp()
            latest = seen if latest is None else max(latest, seen)
        if latest is not None:
            self._saw(staged, latest)
        staged.mark_applied(topic, next_offset)
        return batch

    def _clock(self, staged: StagedPartition) -> _Clock | None:
        raw = staged.get(_CLOCK)
        if raw is None:
            return None
        event_time, wall = raw.split()
        return _Clock(float(event_time), float(wall))

    def _saw(self, staged: StagedPartition, event_time: float) -> None:
        clock = self._clock(staged)
        wall = self.wall()
        if clock is not None and clock.now(wall) >= event_time:
            return  # the clock is already past this batch: keep it running
        staged.set(_CLOCK, f"{event_time!r} {wall!r}".encode())

    def tick(self, engine: Engine, partition: int, *, sweep: bool = False) -> Iterator[PatternBatch]:
        """Time passes on one partition without an event: the daily detectors advance (with `sweep`, every
        detector, to expire windows). One batch per `SWEEP_CHUNK` keys, each to commit before the next is made."""
        staged = self.store.stage(partition)
        clock = self._clock(staged)
        if clock is None:
            return  # no event seen on this partition yet
        now = datetime.fromtimestamp(clock.now(self.wall()), UTC)
        for detector in self.detectors:
            if not (sweep or detector.ticks_daily):
                continue
            keys = list(DetectorView(staged, detector).keys())
            for start in range(0, len(keys), SWEEP_CHUNK):
                batch = PatternBatch(self.store.stage(partition))
                runner = self._runner(engine, batch.staged)
                for key in keys[start : start + SWEEP_CHUNK]:
                    for alert in runner.advance_key(detector, key, now):
                        batch.alerts.append((alert, encode_alert(alert)))
                yield batch

    def decode(self, messages: Iterable[Any]) -> list[Judged]:
        """Forwarded events from the repartition topic (they were valid on the input; a bad one is skipped)."""
        judged: list[Judged] = []
        for message in messages:
            try:
                event = decode_event(message.value)
            except (EventError, UnicodeDecodeError, TypeError):
                log.error("unreadable record on the repartition topic skipped", offset=message.offset)
                continue
            judged.append((message.offset, message.key, message.value, event, None))
        return judged

    async def send(self, batch: PatternBatch, send: Callable[..., Awaitable[Awaitable[Any]]]) -> list[Awaitable[Any]]:
        """Queue the batch's forwards (alerts go with the caller's); the acks to wait for."""
        topic = self.repartition_topic
        return [await send(topic, key, value, home, None, None) for key, value, home in batch.forwards]

    async def commit(self, batch: PatternBatch, send: Callable[..., Awaitable[Awaitable[Any]]]) -> None:
        """Write the batch's state to the changelog (after its alerts were acknowledged)."""

        async def to_changelog(topic: str, key: bytes, value: bytes | None, partition: int) -> Awaitable[Any]:
            return await send(topic, key, value, partition, None, None)

        await self.store.commit(batch.staged, to_changelog)

    def active_partitions(self) -> list[int]:
        """Input partitions this worker holds and has recovered state for (none while recovering)."""
        app = self.app
        recovery = cast(Any, app.tables).recovery
        if app.in_recovery or not recovery.completed.is_set():
            return []
        consumer = cast(Any, app.consumer)
        if not consumer.flow_active:
            return []
        return sorted(tp.partition for tp in consumer.assignment() if tp.topic == self.input_topic)

    async def on_timer(self, engine: Engine, metrics: WorkerMetrics | None) -> None:
        """One timer tick over every partition held: daily alerts sent, then state committed, chunk by chunk
        (the event loop runs between chunks, so a sweep over a million keys never stalls the heartbeats)."""
        producer = self.app.producer
        self._ticks += 1
        sweep = self._ticks % SWEEP_EVERY_TICKS == 1
        topic = self.alerts_topic
        for partition in self.active_partitions():
            generation = self.app.consumer_generation_id
            async with self.lock:
                chunks = self.tick(engine, partition, sweep=sweep)
            while True:
                async with self.lock:
                    if self.app.consumer_generation_id != generation:
                        return  # the partitions moved meanwhile: their next owner ticks them
                    batch = next(chunks, None)
                    if batch is None:
                        break
                    pending = [
                        await producer.send(topic, alert.alert_id.encode(), payload, None, None, None)
                        for alert, payload in batch.alerts
                    ]
                    await asyncio.gather(*pending)
                    if self.app.consumer_generation_id != generation:
                        return
                    await self.commit(batch, producer.send)
                if metrics is not None and batch.alerts:
                    metrics.record_batch({}, (alert for alert, _ in batch.alerts), (), 0.0)
                await asyncio.sleep(0)
        if metrics is not None:
            metrics.set_prohibited_grants(self.prohibited_grants())

    def prohibited_grants(self) -> dict[tuple[str, str], tuple[int, float]]:
        """(owner, jurisdiction class) -> (prohibited recipients holding access, earliest start), on the
        partitions this worker holds."""
        found: dict[tuple[str, str], tuple[int, float]] = {}
        standing = next((d for d in self.detectors if d.kind == StandingAccess.kind), None)
        if standing is None:
            return found
        for partition in self.active_partitions():
            view = DetectorView(self.store.stage(partition), standing)
            for key in view.keys():  # noqa: SIM118 - a StateStore, not a dict
                state = view.get(key)
                if state is None or not state.active or state.prohibited is None or state.since is None:
                    continue
                count, since = found.get(state.label, (0, math.inf))
                found[state.label] = (count + 1, min(since, state.since.timestamp()))
        return found

    def hold(self, partitions: set[int]) -> None:
        """The partitions assigned after a rebalance: the state of those no longer held is dropped."""
        self.store.forget(self._held - partitions)
        self._held = set(partitions)
        self._assigned_at = time.monotonic()

    async def _on_recover(self) -> None:
        # Faust calls this when the table's recovery after a rebalance is complete (before input resumes).
        log.info(
            "pattern state recovered",
            partitions=sorted(self._held),
            keys=self.store.key_count(),
            seconds=round(time.monotonic() - self._assigned_at, 3),
        )


async def partition_counts(
    bootstrap: str, *topics: str, client: Mapping[str, Any] | None = None
) -> dict[str, int | None]:
    """Partitions per topic on the broker (None: the topic does not exist); `client`: TLS/SASL options."""
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000, **(client or {}))
    await admin.start()
    try:
        # Only topics that exist: a metadata request naming a missing topic makes the broker create it
        # (auto.create.topics.enable) with its default partition count.
        existing = set(await admin.list_topics()) & set(topics)
        described = await admin.describe_topics(sorted(existing)) if existing else []
    finally:
        await admin.close()
    counts: dict[str, int | None] = dict.fromkeys(topics)
    for entry in described:
        if entry.get("error_code", 0) == 0 and entry.get("partitions"):
            counts[entry["topic"]] = len(entry["partitions"])
    return counts


class PartitioningError(RuntimeError):
    """The input topic cannot carry pattern state as it is: the message says what to do."""


class InputTopicMissing(PartitioningError):
    """The input topic does not exist (yet): its partition count, which the pattern state needs, is unknown."""


async def input_partitions(
    bootstrap: str, app_id: str, input_topic: str, wait_s: float = 60.0, client: Mapping[str, Any] | None = None
) -> int:
    """The input topic's partition count, which the state changelog and the repartition topic must share.

    Waits up to `wait_s` for the topic to appear; raises PartitioningError when it does not, or when an
    existing changelog or repartition topic has another count (the input was re-partitioned: the state
    no longer lines up with the owners' partitions).
    """
    from streams.state_store import changelog_topic_name

    internal = (changelog_topic_name(app_id), repartition_topic_name(app_id))
    deadline = time.monotonic() + wait_s
    while True:
        counts = await partition_counts(bootstrap, input_topic, *internal, client=client)
        partitions = counts[input_topic]
        if partitions is not None:
            break
        if time.monotonic() > deadline:
            raise InputTopicMissing(
                f"input topic {input_topic!r} does not exist after {wait_s:.0f} s: create it (the pattern state "
                "is partitioned like it), or set ALPR_PATTERNS=false"
            )
        await asyncio.sleep(1.0)
    for name in internal:
        found = counts[name]
        if found is not None and found != partitions:
            raise PartitioningError(
                f"topic {name!r} has {found} partitions but input topic {input_topic!r} has {partitions}: "
                "pattern state is partitioned like the input. Delete the internal topic (the detectors start "
                "afresh) or give the input its former partition count"
            )
    return partitions
