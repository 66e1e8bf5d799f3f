"""The Faust app: access events in, alerts and dead letters out, offsets committed only behind them.

Built by `create_app(settings, engine_provider)`; nothing happens at import time.

Throughput: Faust hands each fetched record to its streams one by one (a `mode` `wait_first` with four
tasks, an Event, a queue put and get, sensors and acks), ~70 µs per message here, several times what
decoding and judging cost. The worker keeps Faust's consumer (group membership, fetching, flow control
on rebalances, offset tracking and commits), producer and lifecycle, but its consumer replaces the
fetch loop (`Consumer._drain_messages`) with one that hands the input topic's records on a fetched
batch per partition at a time, straight to the batch judge: no Event, no queue, no per-message task.

At-least-once, as verified in faust-streaming 0.15.3's source:
- The consumer commits, per partition, only the longest run of consecutive *acked* offsets after the
  last commit (`Consumer._new_offset`), and flushes the producer before committing.
- A batch's offsets are acked (`Consumer.ack`) only after `asyncio.gather` has every send future of
  the batch resolved, i.e. acknowledged by the broker with acks=all. A failed send raises before any
  ack; the fetch loop fails, which crashes the app (mode's `Service._execute_task` -> `crash`), the
  worker stops, and the batch is read again on restart. Redelivery judges the events again, and
  alert ids are deterministic.
- Batches of a partition are judged in fetch order and acked whole, so the acked offsets are always a
  prefix of what was read: no commit can pass an event that is still being judged.
- Rebalances: Faust's revocation handler stops the flow, commits, and bumps the generation. The fetch
  loop drops whatever it fetched but has not handed on once the flow stops or the generation changes
  (as Faust's own `Consumer.getmany` does), and a batch being judged across a rebalance is not acked:
  its offsets are left uncommitted for the partition's next owner to read again. Duplicates, not loss.
  (Faust's own stream iterator acks the messages it skips on a rebalance; this path never does.)
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import faust
import structlog
from aiokafka.errors import MessageSizeTooLargeError
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread
from faust.transport.drivers.aiokafka import Consumer as KafkaConsumer
from faust.types import TP, ConsumerT
from faust.types.tuples import Message as FaustMessage
from mode import Service, ServiceT

from monitor.alerts import Alert
from monitor.events import AccessEvent, EventError, decode_event
from monitor.settings import Settings
from streams.batch import (
    BatchResult,
    DeadLetter,
    Judge,
    Message,
    dead_letter_for,
    exception_site,
    fit_dead_letter,
    judge_batch,
)
from streams.health import Health
from streams.kafka_clients import faust_credentials
from streams.metrics import WorkerMetrics
from streams.patterns import LivePatterns
from streams.policy_agreement import PolicyAgreement, stamp_commits
from streams.topics import OutputLimits, TopicCheck, TopicConfigError

if TYPE_CHECKING:
    from monitor.engine import Engine
    from streams.policy_reload import PolicyWatcher

__all__ = ["BatchHandler", "BatchObserver", "WorkerApp", "create_app"]

LAG_INTERVAL_S = 5.0
POLICY_AGREEMENT_INTERVAL_S = 10.0
TOPIC_CHECK_INTERVAL_S = 5.0
ALERT_TOO_LARGE = "alert_too_large"
CHECK_PARTITIONS, CHECK_POLICY = "partitions_assigned", "policy_loaded"
WORKER_CHECKS = (CHECK_PARTITIONS, CHECK_POLICY, "input_topic", "output_topics")

BatchObserver = Callable[[BatchResult], Awaitable[None] | None]
BatchHandler = Callable[[list[FaustMessage]], Awaitable[None]]

log = structlog.get_logger(__name__)


FETCH_MAX_WAIT_MS = 20
"""How long the broker may hold a fetch that finds no new record (Faust hard-codes 1500 ms). aiokafka keeps
one fetch in flight per broker; once an input partition's records are buffered, the next fetch names only
the other partitions (the patterns' repartition topic, mostly empty) and the broker holds it for this long,
while the input waits behind it: at 1500 ms that cut the worker with detectors from ~5,000 to ~1,000
events/s. Idle, it means a fetch every 20 ms per worker."""


class _ShortWaitConsumerThread(AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS  # read by the fetcher aiokafka builds at start
        return consumer


class BatchConsumer(KafkaConsumer):
    """Faust's Kafka consumer, handing the input topic's records on one fetched batch at a time."""

    batch_topic: str = ""  # the input topic
    batch_topics: frozenset[str] = frozenset()  # it and the patterns' repartition topic
    handle_batch: BatchHandler
    on_round: Callable[[], None] | None = None  # called once per fetch-loop round: liveness
    _held: frozenset[TP] = frozenset()
    policy_version: Callable[[], str] | None = None  # stamped into every commit's metadata
    hold_input = False  # True while the input topic is gone: whatever is fetched from it is not handed on

    async def on_partitions_assigned(self, assigned: set[TP], generation_id: int = 0) -> None:
        # A partition that comes (back) to this consumer starts from what the broker says, not from
        # offsets remembered from an earlier assignment: a topic deleted and created again, or a
        # broker that lost its storage, starts at offset 0, and a remembered read offset of 10 would
        # make the fetch loop skip offsets 0 to 9 as "already handed on" (silent loss, seen in tests).
        for tp in set(assigned) - self._held:
            self._read_offset.pop(tp, None)
            self._committed_offset.pop(tp, None)
            self._acked.pop(tp, None)
            self._acked_index.pop(tp, None)
            self._gap.pop(tp, None)
        self._held = frozenset(assigned)
        if self.policy_version is not None:
            stamp_commits(self._thread._ensure_consumer(), self.policy_version)
        await super().on_partitions_assigned(assigned, generation_id)

    def forget_positions(self, topic: str) -> set[TP]:
        """Drop what this consumer remembers of `topic`'s offsets; the batch in hand stays unacked."""
        tps = {tp for tp in self.assignment() if tp.topic == topic}
        self.app.consumer_generation_id += 1  # as a rebalance does: the batch in hand is not acked
        for tp in tps:
            self._read_offset.pop(tp, None)
            self._committed_offset.pop(tp, None)
            self._acked.pop(tp, None)
            self._acked_index.pop(tp, None)
            self._gap.pop(tp, None)
        return tps

    def lose_input(self, topic: str) -> None:
        """The input topic is gone: hand nothing of it on, and remember none of its offsets, until it is back."""
        if not self.hold_input:
            self.hold_input = True
            self.forget_positions(topic)

    async def restart_positions(self, topic: str) -> None:
        """Read `topic` again from its beginning: it was gone and is back.

        A topic deleted and created again, or a broker that lost its storage, starts a new log at
        offset 0, and neither the offsets this consumer remembers nor the group's committed offsets
        mean anything in it: commits of the old log can even land in the new one (seen in tests: the
        client retries a commit refused while the topic was missing). Nothing tells the two logs
        apart, so everything in the topic is read again: duplicates, with the same alert ids, rather
        than silent loss.
        """
        tps = self.forget_positions(topic)
        self.hold_input = False
        if not tps:
            return  # the next assignment starts from the broker's offsets (on_partitions_assigned)
        for tp, offset in (await self.earliest_offsets(*tps)).items():
            await self.seek(tp, offset)
        log.warning(
            "input topic came back: reading it again from its beginning (duplicates possible, no loss)",
            topic=topic,
            partitions=sorted(tp.partition for tp in tps),
        )

    def _new_consumer_thread(self) -> AIOKafkaConsumerThread:
        return _ShortWaitConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def _drain_messages(self, fetcher: ServiceT) -> None:
        # Faust's loop (transport/consumer.py), minus its per-message machinery; the same checks.
        consumer_stopped = self._stopped.is_set
        fetcher_stopped = cast(Service, fetcher)._stopped.is_set
        try:
            while not (consumer_stopped() or fetcher_stopped()):
                records, active = await self._wait_next_records(1.0)
                if self.on_round is not None:
                    self.on_round()
                await asyncio.sleep(0)  # a fetch that returns at once must not starve the loop
                if not records or self.should_stop:
                    continue
                if not self.flow_active:
                    # Fetched while a rebalance stopped the flow: back to the committed offsets.
                    await self.perform_seek()
                    continue
                generation = self.app.consumer_generation_id
                monitor = self.app.monitor
                for tp, fetched in records.items():
                    if not self.flow_active or self.app.consumer_generation_id != generation:
                        break  # a rebalance began while an earlier batch was judged: drop the rest
                    if active is not None and tp not in active and tp not in self._buffered_partitions:
                        continue  # paused since the fetch
                    if self.hold_input and tp.topic == self.batch_topic:
                        continue  # records of a log that is gone: read again from the broker once it is back
                    messages = await self._unread(tp, fetched)
                    if not messages:
                        continue
                    # What Faust's sensors record per message, once per batch: its livelock check
                    # (aiokafka driver, `verify_event_path`) reports a partition whose fetch runs ahead
                    # with no `stream_inbound_time` as "not processing" at ERROR every few seconds.
                    monitor.stream_inbound_time[tp] = time.monotonic()
                    monitor.track_tp_end_offset(tp, self.highwater(tp))
                    if tp.topic in self.batch_topics:
                        await self.handle_batch(messages)
                    else:  # any other subscription goes Faust's usual way
                        for message in messages:
                            await self.callback(message)
                    if self._commit_every is not None and self._n_acked >= self._commit_every:
                        self._n_acked = 0  # `broker_commit_every`, as Faust's loop honours it
                        await self.commit()
        except self.consumer_stopped_errors:
            if not self.transport.app.should_stop:
                raise
        except asyncio.CancelledError:
            if not self.transport.app.should_stop:
                raise

    async def _unread(self, tp: TP, records: Iterable[Any]) -> list[FaustMessage]:
        """Faust's messages for the records not handed on yet; offsets the fetch skipped become gaps."""
        # The next offset to hand on: what every seek sets `_read_offset` to (Faust's own loop keeps
        # the last offset handed on there instead, and so hands that one on twice after a seek).
        next_offset = self._read_offset[tp]
        messages: list[FaustMessage] = []
        to_message = self._to_message
        for record in records:
            offset = record.offset
            if next_offset is not None:
                if offset < next_offset:
                    continue  # fetched again after a seek back: already handed on
                if offset > next_offset and self.app.topics.acks_enabled_for(tp.topic):
                    # Offsets that hold no record (transaction markers, compaction) would stop the
                    # commit at the hole: Faust's gap list lets the commit pass them.
                    await self._add_gap(tp, next_offset, offset - 1)
            messages.append(to_message(tp, record))
            next_offset = offset + 1
        if messages:
            self._read_offset[tp] = next_offset
        return messages


class WorkerApp(faust.App):
    """A Faust app whose consumer hands `batch_topic` and `extra_topics` to `handle_batch` a batch at a time."""

    batch_topic: str = ""
    extra_topics: tuple[Any, ...] = ()  # Faust topics, e.g. the patterns' repartition topic
    handle_batch: BatchHandler
    on_round: Callable[[], None] | None = None
    policy_version: Callable[[], str] | None = None

    async def on_start(self) -> None:
        await super().on_start()
        # Registered with the conductor before it starts, so the consumer subscribes to the topic
        # and tracks acks for it (an agent's topic is registered the same way when the agent starts).
        self.topics.add(self.topic(self.batch_topic))
        for topic in self.extra_topics:
            await topic.maybe_declare()
            self.topics.add(topic)

    def _new_consumer(self) -> ConsumerT:
        consumer = BatchConsumer(
            self.transport,
            callback=self.topics.on_message,
            on_partitions_revoked=self._on_partitions_revoked,
            on_partitions_assigned=self._on_partitions_assigned,
            beacon=self.beacon,
            loop=self.transport.loop,
        )
        consumer.batch_topic = self.batch_topic
        consumer.batch_topics = frozenset({self.batch_topic, *(t.get_topic_name() for t in self.extra_topics)})
        consumer.handle_batch = self.handle_batch
        consumer.on_round = self.on_round
        consumer.policy_version = self.policy_version
        return consumer


def _faust_defaults(settings: Settings) -> dict[str, Any]:
    return {
        "broker": settings.broker,
        "datadir": str(settings.data_dir),
        # Raw bytes both ways: unreadable input must reach our decoder (and the DLQ) untouched.
        "key_serializer": "raw",
        "value_serializer": "raw",
        "producer_acks": -1,  # all in-sync replicas
        "topic_disable_leader": True,  # no leader election topic: the app has no leader-only work
        "web_enabled": False,  # /metrics is served by prometheus-client, not Faust's web server
        "consumer_auto_offset_reset": "earliest",  # a new group starts at the oldest event, never skips
        # One fetch is at most one batch (per partition, fewer).
        "broker_max_poll_records": settings.batch_size,
        # A killed worker's partitions move to a restarted one after this long (Faust's default is 60 s).
        "broker_session_timeout": 10.0,
        "broker_heartbeat_interval": 2.0,
        # The consumer learns that a missing input topic was created (or came back after a broker lost
        # its storage) from a metadata refresh, then rebalances onto it: every 10 s, not aiokafka's 5 min.
        "consumer_metadata_max_age_ms": 10_000,
    }


def create_app(
    settings: Settings,
    engine_provider: Callable[[], Judge],
    *,
    metrics: WorkerMetrics | None = None,
    policy_watcher: PolicyWatcher | None = None,
    on_batch: BatchObserver | None = None,
    pattern_partitions: int | None = None,
    health: Health | None = None,
    topic_check: TopicCheck | None = None,
    **faust_options: Any,
) -> WorkerApp:
    """Build the worker's Faust app.

    `engine_provider` is called once per batch, so a reloaded policy applies from the next batch on.
    `faust_options` override the Faust settings (e.g. `topic_allow_declare=False` for a mock broker).
    `health` gets a round per fetch-loop turn and the partition and policy checks; `topic_check` runs
    every few seconds (input topic present, output limits) and its limits fit what is written.
    `pattern_partitions` (the input topic's partition count) turns the pattern detectors on (streams.patterns).
    """
    # TLS, mTLS and SASL for Faust's consumer, producer and admin client (ALPR_KAFKA_*).
    credentials = {"broker_credentials": faust_credentials(settings.kafka)}
    options = {**_faust_defaults(settings), **credentials, **faust_options}
    # Faust creates only the last path component of its data directory; make the parents.
    Path(options["datadir"]).parent.mkdir(parents=True, exist_ok=True)
    app = WorkerApp(settings.app_id, **options)
    alerts_topic = settings.alerts_topic
    dlq_topic = settings.dlq_topic
    input_topic = settings.input_topic
    # Next offset to process per input partition, for the lag gauge; revoked partitions are dropped.
    next_offsets: dict[int, int] = {}

    def judge_all(messages: list[Message]) -> BatchResult:
        try:
            return judge_batch(engine_provider(), messages, input_topic)
        except Exception as exc:  # judge_batch contains per-message failures; this is a failure of the whole
            log.error(
                "batch failed as a whole; judging its messages one at a time",
                topic=input_topic,
                messages=len(messages),
                error_type=type(exc).__name__,
                where=exception_site(exc),
            )
        result = BatchResult()
        for message in messages:
            try:
                one = judge_batch(engine_provider(), [message], input_topic)
            except Exception as exc:  # this message alone fails: dead-letter it, keep the partition moving
                result.dead.append(dead_letter_for(message, exc, input_topic))
                result.processed["unknown", "invalid"] += 1
                continue
            result.alerts.extend(one.alerts)
            result.dead.extend(one.dead)
            result.processed.update(one.processed)
            result.judged.extend(one.judged)
        return result

    def fit_outputs(result: BatchResult, messages: list[Message]) -> None:
        """Divert alerts the alerts topic cannot hold to the DLQ; cut dead letters to the DLQ's limit."""
        limits = topic_check.limits if topic_check is not None else OutputLimits()
        fitting: list[tuple[Alert, bytes]] = []
        diverted: set[tuple[int, int]] = set()
        for alert, payload in result.alerts:
            key = alert.alert_id.encode()
            if len(payload) <= OutputLimits.record_room(limits.alerts, key):
                fitting.append((alert, payload))
                continue
            log.error(
                "alert larger than the alerts topic accepts; its event goes to the dead-letter topic",
                topic=alerts_topic,
                setting="max.message.bytes",
                limit=limits.alerts,
                alert_bytes=len(payload),
                event_id=alert.event_id,
                rule=alert.rule_id,
            )
            source = _source_of(alert, messages, engine_provider(), diverted)
            if source is not None:
                diverted.add((source.partition, source.offset))
                detail = (
                    f"alert of {len(payload)} bytes exceeds max.message.bytes={limits.alerts} of topic {alerts_topic}"
                )
                error = EventError(ALERT_TOO_LARGE, detail, event_id=alert.event_id)
                result.dead.append(dead_letter_for(source, error, input_topic))
        result.alerts = fitting
        result.dead = [fit_dead_letter(d, OutputLimits.record_room(limits.dlq, None, d.headers)) for d in result.dead]

    async def judge_and_ack(fetched: list[FaustMessage]) -> None:
        if patterns is None:
            await _judge_and_ack(fetched)
        else:
            async with patterns.lock:  # no timer tick between reading and committing pattern state
                await _judge_and_ack(fetched)

    async def _judge_and_ack(fetched: list[FaustMessage]) -> None:
        started = time.perf_counter()
        generation = app.consumer_generation_id
        messages = [Message(m.key, m.value, m.partition, m.offset) for m in fetched]
        engine = engine_provider()
        if patterns is not None and fetched[0].topic != input_topic:
            result = BatchResult()  # forwarded for the detectors only: judged on the input already
            judged = patterns.decode(fetched)
        else:
            result = judge_all(messages)
            fit_outputs(result, messages)
            judged = result.judged
        producer = app.producer
        pending: list[Awaitable[Any]] = []
        found = None
        if patterns is not None:  # the detectors after the rules; their state commits after the alerts
            first, next_offset = fetched[0], fetched[-1].offset + 1
            found = patterns.run(cast("Engine", engine), first.topic, first.partition, judged, next_offset)
            result.alerts.extend(found.alerts)
            pending.extend(await patterns.send(found, producer.send))
        for alert, payload in result.alerts:
            pending.append(await producer.send(alerts_topic, alert.alert_id.encode(), payload, None, None, None))
        for dead in result.dead:
            pending.append(await producer.send(dlq_topic, dead.key, dead.value, None, None, dead.headers))
        # Every output acknowledged before any input is acked: the commit can never pass them.
        outcomes = await asyncio.gather(*pending, return_exceptions=True)
        for index, outcome in enumerate(outcomes):
            if isinstance(outcome, BaseException):
                topic = alerts_topic if index < len(result.alerts) else dlq_topic
                if isinstance(outcome, MessageSizeTooLargeError):
                    # The topic's limit shrank since the last check: say which topic and which setting.
                    log.error(
                        "the broker refused a record as too large; the batch is read again after a restart, "
                        "which fits records to the topic's limit",
                        topic=topic,
                        setting="max.message.bytes",
                    )
                raise outcome  # nothing of the batch is acked: it is read again
        consumer = cast(BatchConsumer, app.consumer)
        # Across a rebalance (flow stopped, or a new generation) the batch stays unacked: its partitions
        # may have moved, and their next owner reads it again from the last commit.
        if consumer.flow_active and app.consumer_generation_id == generation:
            if patterns is not None and found is not None:
                await patterns.commit(found, producer.send)
            ack = consumer.ack
            for message in fetched:
                ack(message)
            last = fetched[-1]
            if last.topic == input_topic:  # not the patterns' repartition topic: the lag is the input's
                next_offsets[last.partition] = last.offset + 1
            # Counted only when acked: an unacked batch is read and counted again by the next owner.
            if metrics is not None:
                metrics.record_batch(
                    result.processed,
                    (alert for alert, _ in result.alerts),
                    (dead.error.reason for dead in result.dead),
                    time.perf_counter() - started,
                )
        _log_dead(result.dead, input_topic)
        if on_batch is not None:
            outcome = on_batch(result)
            if outcome is not None:
                await outcome

    app.batch_topic = input_topic
    app.handle_batch = judge_and_ack
    if health is not None:
        app.on_round = health.loop_round
        health.set_check(CHECK_POLICY, True, "policy loaded")
        health.set_check(CHECK_PARTITIONS, False, "waiting for the consumer group to assign partitions")
    patterns = None
    if pattern_partitions is not None:
        patterns = _live_patterns(app, settings, pattern_partitions, engine_provider, metrics)

    def _forget_revoked(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        revoked: Iterable[Any] = args[0] if args else ()
        for tp in revoked:
            if tp.topic == input_topic:
                next_offsets.pop(tp.partition, None)

    app.on_partitions_revoked.connect(_forget_revoked)

    if health is not None:

        def _report_assigned(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
            assigned = sorted(tp.partition for tp in (args[0] if args else ()) if tp.topic == input_topic)
            if assigned:
                health.set_check(CHECK_PARTITIONS, True, f"input partitions {assigned}")
            else:
                health.set_check(CHECK_PARTITIONS, False, "no partition of the input topic assigned to this worker")

        app.on_partitions_assigned.connect(_report_assigned)

    if topic_check is not None:

        async def restart_input() -> None:
            await cast(BatchConsumer, app.consumer).restart_positions(input_topic)

        topic_check.on_input_restored = restart_input
        topic_check.on_input_lost = lambda: cast(BatchConsumer, app.consumer).lose_input(input_topic)

        async def check_topics() -> None:
            # A too-small topic is logged at ERROR with the topic and the setting; readiness says so until fixed.
            with contextlib.suppress(TopicConfigError):
                await topic_check.check_or_report()

        app.timer(TOPIC_CHECK_INTERVAL_S, name="alpr-topic-check")(check_topics)

    if metrics is not None:

        async def update_lag() -> None:
            try:
                metrics.set_consumer_lag(await _consumer_lag(app, input_topic, next_offsets))
            except Exception as exc:  # a slow broker answer must not stop the worker; try next tick
                log.warning("consumer lag not updated", error=repr(exc))

        app.timer(LAG_INTERVAL_S, name="alpr-consumer-lag")(update_lag)

    if policy_watcher is not None:
        app.policy_version = lambda: policy_watcher.current().version
        agreement = PolicyAgreement(settings, app.policy_version, metrics)
        app.timer(POLICY_AGREEMENT_INTERVAL_S, name="alpr-policy-agreement")(agreement.check)

        async def reload_policy() -> None:
            try:
                await policy_watcher.poll()
            except Exception:  # the policy in force stays; the next tick tries again
                log.exception("policy reload failed unexpectedly; the policy in force stays")

        app.timer(settings.policy_reload_seconds, name="alpr-policy-reload")(reload_policy)

    return app


def _live_patterns(
    app: WorkerApp,
    settings: Settings,
    partitions: int,
    engine_provider: Callable[[], Judge],
    metrics: WorkerMetrics | None,
) -> LivePatterns:
    """The detectors' table, repartition topic and wall-clock timer on `app` (see streams.patterns)."""
    live = LivePatterns(
        app,
        input_topic=settings.input_topic,
        alerts_topic=settings.alerts_topic,
        partitions=partitions,
    )
    app.extra_topics = (live.topic(),)

    def _held(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        # The new assignment (not the revoked set: with eager rebalancing that is every partition, kept
        # ones included, whose state Faust does not read again).
        assigned: Iterable[Any] = args[0] if args else ()
        live.hold({tp.partition for tp in assigned if tp.topic == settings.input_topic})

    app.on_partitions_assigned.connect(_held)

    async def tick() -> None:
        try:
            await live.on_timer(cast("Engine", engine_provider()), metrics)
        except Exception:  # the next tick tries again; alerts sent were acknowledged, state not committed
            log.exception("pattern timer tick failed; the next tick tries again")

    app.timer(live.settings.pattern_tick_seconds, name="alpr-pattern-clock")(tick)
    return live


async def _consumer_lag(app: faust.App, topic: str, next_offsets: dict[int, int]) -> dict[int, int]:
    """Highwater minus the next offset to process, per assigned partition of the input topic."""
    consumer = app.consumer
    partitions = [tp for tp in consumer.assignment() if tp.topic == topic]
    if not partitions:
        return {}
    highwaters = await consumer.highwaters(*partitions)
    lag: dict[int, int] = {}
    for tp in partitions:
        done = next_offsets.get(tp.partition)
        if done is None:
            # Nothing processed here since start: the fetch position is the best we know.
            done = await consumer.position(tp) or 0
        lag[tp.partition] = int(highwaters.get(tp, done)) - done
    return lag


def _source_of(alert: Alert, messages: list[Message], engine: Judge, diverted: set[tuple[int, int]]) -> Message | None:
    """The message, not yet `diverted`, that raised `alert` (only for the rare alert too large to publish).

    Event ids are the producer's and may repeat within a batch, so the id alone could send a clean message
    to the DLQ and drop the violation: a message whose judgement gives this alert id is taken first; the
    first with the same event id only when none does.
    """
    same_id: list[Message] = []
    proven = False
    for message in messages:
        try:
            event: AccessEvent | None = decode_event(message.value or b"")
        except Exception:  # it decoded in judge_batch; anything else means no match
            event = None
        if event is None or event.event_id != alert.event_id:
            continue
        fresh = (message.partition, message.offset) not in diverted
        if fresh:
            same_id.append(message)
        try:
            raises = any(raised.alert_id == alert.alert_id for raised in engine.judge(event))
        except Exception:  # judged once already; a failure now only means no proof
            raises = False
        if raises and fresh:
            return message
        proven = proven or raises
    return None if proven or not same_id else same_id[0]


def _log_dead(dead_letters: list[DeadLetter], topic: str) -> None:
    for dead in dead_letters:
        error = dead.error
        cause = error.__cause__
        if cause is not None:
            # Name the exception and where it was raised, not its message: that may quote event data.
            log.error(
                "engine failed on an event; sent to the dead-letter topic",
                topic=topic,
                partition=dead.partition,
                offset=dead.offset,
                event_id=error.event_id,
                reason=error.reason,
                error_type=type(cause).__name__,
                where=exception_site(cause),
            )
        else:
            log.warning(
                "unreadable event sent to the dead-letter topic",
                topic=topic,
                partition=dead.partition,
                offset=dead.offset,
                event_id=error.event_id,
                reason=error.reason,
                field=error.field,
                detail=error.detail,
            )
