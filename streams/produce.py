"""`alpr-monitor produce`: send events from files to the input topic.

Any format `check` reads (v1 JSON lines by default, vendor exports by `--format`) becomes v1 events
keyed by their owner (`monitor.patterns.partition_key`: the policy's owner id, or the folded agency name
of an owner the policy does not list), so that all of an owner's events, and with them its pattern
state, live on one partition; sent with acks=all so that "sent" means the broker has them. Records that cannot
become events are reported (file:line: reason) on standard error and counted, never dropped silently.
Exit status: 0 when every record was sent, 1 when some were unreadable or undeliverable, 2 when
nothing could be used (no readable input, or no broker).
"""

from __future__ import annotations

import asyncio
import functools
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TextIO

from aiokafka.errors import KafkaError, TopicAuthorizationFailedError, UnknownTopicOrPartitionError
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from monitor.events import AccessEvent, encode_event
from monitor.ingest import IngestError, IngestOptions, RowError, Skipped, read_events
from monitor.policy import PolicyError
from monitor.rules.pack import PackError
from monitor.settings import Settings
from streams.kafka_clients import aiokafka_options
from streams.kafka_refusals import explain_connection_failure

__all__ = ["ProduceSummary", "RateLimiter", "bootstrap_servers", "owner_keying", "produce_files"]

EXIT_OK, EXIT_PARTIAL, EXIT_UNUSABLE = 0, 1, 2
_MAX_IN_FLIGHT = 10_000
"""Unconfirmed sends allowed before waiting for acks: bounds memory, keeps the pipe full."""


def bootstrap_servers(broker: str) -> str:
    """`kafka://host:port,kafka://h2:p2` (Faust's URL form) -> `host:port,h2:p2` for plain clients."""
    hosts = []
    for part in broker.split(","):
        part = part.strip()
        _, sep, rest = part.partition("://")
        hosts.append(rest if sep else part)
    return ",".join(host.rstrip("/") for host in hosts if host)


class RateLimiter:
    """Token bucket: on average `rate` events per second, with bursts of at most `burst` events.

    `reserve` takes tokens and says how long to wait; a deficit is carried over, so waits that
    overshoot (coarse sleeps) are paid back instead of drifting below the rate. `rate` 0 = no limit.
    The clock is injectable so the arithmetic is tested without sleeping.
    """

    def __init__(self, rate: float, burst: float | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        if rate < 0:
            raise ValueError("rate must be >= 0 events per second (0: unlimited)")
        self.rate = rate
        # Default burst: a tenth of a second of traffic, at least one event.
        self.capacity = burst if burst is not None else max(1.0, rate / 10)
        self._clock = clock
        self._tokens = self.capacity
        self._last = clock()

    def reserve(self, count: int = 1) -> float:
        """Take `count` tokens; return the seconds to wait before sending them (0.0: send now)."""
        if self.rate <= 0:
            return 0.0
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._last) * self.rate)
        self._last = now
        self._tokens -= count
        return 0.0 if self._tokens >= 0 else -self._tokens / self.rate

    async def acquire(self, count: int = 1) -> None:
        delay = self.reserve(count)
        if delay > 0:
            await asyncio.sleep(delay)


@dataclass(slots=True)
class ProduceSummary:
    """Every record read is accounted for: sent + failed + unreadable + skipped; plus unreadable files."""

    sent: int = 0
    failed: int = 0
    unreadable: int = 0
    skipped: int = 0
    bad_files: int = 0

    def render(self, topic: str) -> str:
        records = self.sent + self.failed + self.unreadable + self.skipped
        files = f", {self.bad_files} unreadable files" if self.bad_files else ""
        return (
            f"produce: {records} records: {self.sent} sent to {topic}, {self.failed} not delivered, "
            f"{self.unreadable} unreadable, {self.skipped} skipped{files}"
        )

    def status(self) -> int:
        problems = self.failed + self.unreadable + self.bad_files
        if self.sent == 0 and problems:
            return EXIT_UNUSABLE
        return EXIT_PARTIAL if problems else EXIT_OK


def _items(
    paths: Iterable[str],
    fmt: str | None,
    options: IngestOptions,
    summary: ProduceSummary,
    report: Callable[[str], None],
) -> Iterator[AccessEvent]:
    """Events from every file in turn; unreadable records and files are reported and counted here."""
    for path in paths:
        try:
            for item in read_events(path, fmt, options):
                if isinstance(item, AccessEvent):
                    yield item
                elif isinstance(item, RowError):
                    summary.unreadable += 1
                    event = f" event {item.event_id!r}" if item.event_id else ""
                    where = f" field {item.field}" if item.field else ""
                    report(f"{item.file}:{item.line}:{event}{where}{':' if event or where else ''} {item.reason}")
                elif isinstance(item, Skipped):
                    summary.skipped += 1
        except (IngestError, OSError) as exc:
            summary.bad_files += 1
            report(f"{path}: cannot read: {exc}")


async def _send_all(
    producer: Any,
    topic: str,
    events: Iterable[AccessEvent],
    limiter: RateLimiter,
    summary: ProduceSummary,
    advance: Callable[[int], None],
    report: Callable[[str], None],
    *,
    key_for: Callable[[AccessEvent], bytes],
) -> None:
    pending: list[tuple[str, asyncio.Future[Any]]] = []

    async def settle() -> None:
        results = await asyncio.gather(*(future for _, future in pending), return_exceptions=True)
        delivered = 0
        for (event_id, _), result in zip(pending, results, strict=True):
            if isinstance(result, BaseException):
                summary.failed += 1
                report(f"event {event_id!r}: not delivered: {result!r}")
            else:
                delivered += 1
        summary.sent += delivered
        advance(delivered)
        pending.clear()

    remaining = iter(events)
    for event in remaining:
        await limiter.acquire()
        key = key_for(event)
        try:
            future = await producer.send(topic, encode_event(event), key=key)
        except (UnknownTopicOrPartitionError, TopicAuthorizationFailedError) as exc:
            # Every later send would wait out the metadata timeout too: count the rest, send none.
            why = (
                "not authorised (its principal needs a WRITE ACL on it)"
                if isinstance(exc, TopicAuthorizationFailedError)
                else "not available"
            )
            report(f"topic {topic!r} is {why} ({exc!r}): the remaining events are not sent")
            summary.failed += 1 + sum(1 for _ in remaining)
            break
        except KafkaError as exc:
            # Refused before it was queued (larger than the request limit, buffer full): this
            # event is not delivered; the others still go.
            summary.failed += 1
            report(f"event {event.event_id!r}: not delivered: {exc!r}")
            continue
        pending.append((event.event_id, future))
        # At a set rate, confirm often so the progress bar and the acks follow the traffic.
        if len(pending) >= _MAX_IN_FLIGHT or (limiter.rate and len(pending) >= max(1, int(limiter.rate / 20))):
            await settle()
    await settle()


async def _produce(
    settings: Settings,
    paths: list[str],
    fmt: str | None,
    rate: float,
    options: IngestOptions,
    err: TextIO,
) -> int:
    from aiokafka import AIOKafkaProducer

    console = Console(file=err, highlight=False, soft_wrap=True)
    try:
        key_for = owner_keying(settings)
    except (PolicyError, PackError) as exc:
        console.print(f"produce: cannot use the policy (it says how events are keyed): {exc}", markup=False)
        return EXIT_UNUSABLE
    summary = ProduceSummary()
    topic = settings.input_topic
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers(settings.broker),
        acks="all",
        linger_ms=5,
        max_batch_size=256 * 1024,
        request_timeout_ms=30_000,
        **aiokafka_options(settings.kafka),
    )
    try:
        await producer.start()
    except (KafkaError, OSError) as exc:  # OSError: a TLS handshake refused outright
        await producer.stop()
        reason = await explain_connection_failure(bootstrap_servers(settings.broker), settings.kafka, exc)
        console.print(f"produce: cannot reach the broker at {settings.broker}: {reason}", markup=False)
        return EXIT_UNUSABLE

    progress = Progress(
        SpinnerColumn(),
        TextColumn("sending to {task.fields[topic]}"),
        BarColumn(),
        TextColumn("{task.completed:,.0f} events"),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )
    task = progress.add_task("produce", total=None, topic=topic, rate="")
    started = time.monotonic()

    def advance(count: int) -> None:
        elapsed = max(time.monotonic() - started, 1e-6)
        progress.update(task, advance=count, rate=f"{(summary.sent) / elapsed:,.0f}/s")

    def report(line: str) -> None:
        progress.console.print(line, markup=False)

    try:
        with progress:
            events = _items(paths or ["-"], fmt, options, summary, report)
            await _send_all(producer, topic, events, RateLimiter(rate), summary, advance, report, key_for=key_for)
    finally:
        await producer.stop()
    console.print(summary.render(topic), markup=False)
    return summary.status()


def owner_keying(settings: Settings) -> Callable[[AccessEvent], bytes]:
    """The message key of an event: its owner, as the policy in `settings` names owners."""
    from monitor.engine import load_engine
    from monitor.hashing import Pseudonymizer
    from monitor.patterns.observation import partition_key

    # The engine only resolves owners here; it hashes nothing, so any key will do.
    engine = load_engine(settings.policy_path, Pseudonymizer(os.urandom(32)))
    return functools.partial(partition_key, engine)


def produce_files(
    settings: Settings,
    paths: list[str],
    fmt: str | None = None,
    rate: float = 0.0,
    options: IngestOptions | None = None,
    *,
    err: TextIO | None = None,
) -> int:
    """Send the events in `paths` ('-' or none: standard input) to the input topic; return the exit status."""
    if rate < 0:
        print("produce: --rate must be >= 0 (0: as fast as possible)", file=sys.stderr)
        return EXIT_UNUSABLE
    return asyncio.run(_produce(settings, paths, fmt, rate, options or IngestOptions(), err or sys.stderr))
