"""The Faust app: access events in, alerts and dead letters out, offsets committed only behind them.

Built by `create_app(settings, engine_provider)`; nothing happens at import time.

At-least-once, as verified in faust-streaming 0.15.3's source:
- The consumer commits, per partition, only the longest run of consecutive *acked* offsets after the
  last commit (`Consumer._new_offset`), and flushes the producer before committing.
- `Stream.take()` acks a batch's events in the generator's `finally`, which also runs when the
  generator is closed after the agent body raised or was cancelled (`Stream.on_stop` closes it). A
  batch whose sends failed half-way would then be acked and committed: a loss.
- So the agent uses `Stream.noack_take()`, which never acks, and acks each event itself only after
  `asyncio.gather` has every send future of the batch resolved, i.e. acknowledged by the broker with
  acks=all. A failed send raises before the ack; the agent crashes, the worker stops, and the events
  are read again on restart. Redelivery judges them again, and alert ids are deterministic.
- Known limit, in Faust itself: during a rebalance its stream iterator acks (without yielding) the
  messages it skips because flow control is paused or their generation is stale (`Stream.__aiter__`,
  `value is skipped_value`). Those offsets can join a committed run before their redelivered copies
  are judged, so a crash in that window could lose them. A single worker rebalances only at start-up.
"""

from __future__ import annotations

import asyncio
import time
import traceback
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import faust  # noqa: TID251 - the ban guards monitor/; streams/ is the Faust shell
import mode
import structlog
from faust.serializers.schemas import DecodeFunction, OnKeyDecodeErrorFun, OnValueDecodeErrorFun  # noqa: TID251
from faust.types import AppT, EventT  # noqa: TID251
from faust.types.tuples import Message as FaustMessage  # noqa: TID251

from monitor.settings import Settings
from streams.batch import BatchResult, Judge, Message, judge_batch
from streams.metrics import WorkerMetrics

if TYPE_CHECKING:
    from streams.policy_reload import PolicyWatcher

__all__ = ["AGENT_NAME", "BatchObserver", "create_app"]

AGENT_NAME = "alpr-judge"
LAG_INTERVAL_S = 5.0

BatchObserver = Callable[[BatchResult], Awaitable[None] | None]

log = structlog.get_logger(__name__)


async def _never_fails(exc: Exception, message: FaustMessage) -> None:
    """Raw bytes cannot fail to decode; reading them as events is the agent's job."""


class RawBytesSchema(faust.Schema[bytes, bytes]):
    """Hands each message's key and value bytes to the stream as they are.

    The same result as the "raw" codec, without Faust's per-message serializer and settings lookups,
    which cost more than decoding and judging the event.
    """

    def compile(
        self,
        app: AppT,
        *,
        on_key_decode_error: OnKeyDecodeErrorFun = _never_fails,
        on_value_decode_error: OnValueDecodeErrorFun = _never_fails,
        default_propagate: bool = False,
    ) -> DecodeFunction:
        async def decode(message: FaustMessage, *, propagate: bool = default_propagate) -> EventT[bytes]:
            return faust.Event(app, message.key, message.value, message.headers, message)

        return decode


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
        # Faust pauses fetching a partition when this buffer is 80% full, and once every partition is
        # paused its fetcher sleeps a whole second (Consumer._wait_next_records): the buffer must
        # hold more than a second of work or the worker idles. 4096 (Faust's default) idled ~40%.
        "stream_buffer_maxsize": max(32_768, 8 * settings.batch_size),
        # A killed worker's partitions move to a restarted one after this long (Faust's default is 60 s).
        "broker_session_timeout": 10.0,
        "broker_heartbeat_interval": 2.0,
    }


def create_app(
    settings: Settings,
    engine_provider: Callable[[], Judge],
    *,
    metrics: WorkerMetrics | None = None,
    policy_watcher: PolicyWatcher | None = None,
    on_batch: BatchObserver | None = None,
    **faust_options: Any,
) -> faust.App:
    """Build the worker's Faust app.

    `engine_provider` is called once per batch, so a reloaded policy applies from the next batch on.
    `faust_options` override the Faust settings (e.g. `topic_allow_declare=False` for a mock broker).
    """
    options = {**_faust_defaults(settings), **faust_options}
    # Faust creates only the last path component of its data directory; make the parents.
    Path(options["datadir"]).parent.mkdir(parents=True, exist_ok=True)
    app = faust.App(settings.app_id, **options)
    source = app.topic(settings.input_topic, schema=RawBytesSchema())
    alerts_topic = settings.alerts_topic
    dlq_topic = settings.dlq_topic
    input_topic = settings.input_topic
    # Next offset to process per input partition, for the lag gauge; revoked partitions are dropped.
    next_offsets: dict[int, int] = {}

    # A failed send must stop the worker, not restart the agent: a restarted agent would ack later
    # batches around the failed one, and the commit would stall at the gap until a restart anyway.
    @app.agent(source, name=AGENT_NAME, supervisor_strategy=mode.CrashingSupervisor)
    async def judge(stream: Any) -> None:
        producer = app.producer
        async for events in stream.noack_take(settings.batch_size, within=settings.batch_within):
            started = time.perf_counter()
            messages = [Message(e.message.key, e.message.value, e.message.partition, e.message.offset) for e in events]
            result = judge_batch(engine_provider(), messages, input_topic)
            pending: list[Awaitable[Any]] = []
            for alert, payload in result.alerts:
                pending.append(await producer.send(alerts_topic, alert.alert_id.encode(), payload, None, None, None))
            for dead in result.dead:
                pending.append(await producer.send(dlq_topic, dead.key, dead.value, None, None, dead.headers))
            # Every output acknowledged before any input is acked: the commit can never pass them.
            await asyncio.gather(*pending)
            for event in events:
                await stream.ack(event)
            for message in messages:
                next_offsets[message.partition] = message.offset + 1
            _log_dead(result, input_topic)
            if metrics is not None:
                metrics.record_batch(
                    result.processed,
                    (alert for alert, _ in result.alerts),
                    (dead.error.reason for dead in result.dead),
                    time.perf_counter() - started,
                )
            if on_batch is not None:
                outcome = on_batch(result)
                if outcome is not None:
                    await outcome

    def _forget_revoked(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        revoked: Iterable[Any] = args[0] if args else ()
        for tp in revoked:
            if tp.topic == input_topic:
                next_offsets.pop(tp.partition, None)

    app.on_partitions_revoked.connect(_forget_revoked)

    if metrics is not None:

        async def update_lag() -> None:
            try:
                metrics.set_consumer_lag(await _consumer_lag(app, input_topic, next_offsets))
            except Exception as exc:  # a slow broker answer must not stop the worker; try next tick
                log.warning("consumer lag not updated", error=repr(exc))

        app.timer(LAG_INTERVAL_S, name="alpr-consumer-lag")(update_lag)

    if policy_watcher is not None:

        async def reload_policy() -> None:
            try:
                await policy_watcher.poll()
            except Exception:  # the policy in force stays; the next tick tries again
                log.exception("policy reload failed unexpectedly; the policy in force stays")

        app.timer(settings.policy_reload_seconds, name="alpr-policy-reload")(reload_policy)

    return app


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


def _log_dead(result: BatchResult, topic: str) -> None:
    for dead in result.dead:
        error = dead.error
        cause = error.__cause__
        if cause is not None:
            # Name the exception and where it was raised, not its message: that may quote event data.
            frame = traceback.extract_tb(cause.__traceback__)[-1] if cause.__traceback__ else None
            log.error(
                "engine failed on an event; sent to the dead-letter topic",
                topic=topic,
                partition=dead.partition,
                offset=dead.offset,
                event_id=error.event_id,
                reason=error.reason,
                error_type=type(cause).__name__,
                where=f"{frame.filename}:{frame.lineno}" if frame else None,
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
