"""`alpr-monitor demo`: the live worker on an in-process Kafka, fed a built-in sample. No Java needed.

librdkafka's mock cluster (shipped inside the confluent-kafka wheel, enabled by the client property
`test.mock.num.brokers`) is a Kafka-protocol broker on a loopback port living in this process. The
real worker app (`streams.app.create_app`) runs against it in-process, with the two Faust options the
mock needs: no leader-election topic (`topic_disable_leader`) and no topic creation
(`topic_allow_declare`): the mock has no controller, so CreateTopics fails there, while a metadata
request for an unknown topic auto-creates it. The sample is produced, every alert and dead letter is
read back from its topic and printed, and /metrics is served as by the real worker.

Data lives in memory only and is gone when the demo stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.text import Text

from monitor.alerts import Alert, decode_alert
from monitor.engine import Engine
from monitor.events import EventError, decode_event
from monitor.hashing import Pseudonymizer
from monitor.kafka_security import PLAINTEXT
from monitor.patterns import partition_key
from monitor.policy import PolicyError
from monitor.rules.pack import PackError
from monitor.settings import Settings
from streams.app import create_app
from streams.batch import BatchResult
from streams.metrics import MetricsServer, WorkerMetrics
from streams.patterns import repartition_topic_name
from streams.policy_reload import PolicyWatcher
from streams.produce import bootstrap_servers
from streams.sample import SampleMessage, sample_messages
from streams.state_store import changelog_topic_name

__all__ = ["DemoTally", "MockCluster", "render_alert", "render_dead_letter", "run_demo"]

EXIT_OK, EXIT_INCOMPLETE, EXIT_UNUSABLE = 0, 1, 2
ONCE_TIMEOUT_S = 90.0
"""--once gives up (exit 1) when the sample is not fully accounted for by then; start-up takes ~5 s."""

_SEVERITY_STYLE = {"critical": "bold white on red", "high": "bold red", "medium": "yellow", "low": "cyan"}


class MockCluster:
    """librdkafka's in-process mock Kafka cluster, owned by one confluent-kafka client handle.

    The cluster lives as long as the handle: `close()` drops it and with it every message.
    """

    def __init__(self, brokers: int = 1) -> None:
        from confluent_kafka import Producer

        # log_level 3: errors only; the mock logs its start and every client disconnect otherwise.
        self._handle: Any = Producer({"test.mock.num.brokers": brokers, "log_level": 3})
        metadata = self._handle.list_topics(timeout=10)
        self.bootstrap = ",".join(f"{b.host}:{b.port}" for b in metadata.brokers.values())

    def create_topics(self, *names: str) -> dict[str, int]:
        """Create topics by asking for their metadata (the mock auto-creates); return partitions per topic."""
        partitions: dict[str, int] = {}
        for name in names:
            metadata = self._handle.list_topics(topic=name, timeout=10)
            topic = metadata.topics[name]
            if topic.error is not None or not topic.partitions:
                raise RuntimeError(f"mock cluster could not create topic {name!r}: {topic.error}")
            partitions[name] = len(topic.partitions)
        return partitions

    def close(self) -> None:
        self._handle = None


@dataclass(slots=True)
class DemoTally:
    """What the worker reported per batch, and what was read back from the output topics."""

    read: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    alerts_written: int = 0
    dead_written: int = 0
    alerts_seen: int = 0
    dead_seen: int = 0
    severities: Counter[str] = field(default_factory=Counter)

    def on_batch(self, result: BatchResult) -> None:
        for (_, outcome), count in result.processed.items():
            self.outcomes[outcome] += count
        self.read += result.read
        self.alerts_written += len(result.alerts)
        self.dead_written += len(result.dead)

    def accounted_for(self, produced: int) -> bool:
        """Every produced message judged, and every output the worker wrote read back and printed."""
        return self.read >= produced and self.alerts_seen >= self.alerts_written and self.dead_seen >= self.dead_written

    def render(self) -> str:
        severities = ", ".join(
            f"{self.severities[s]} {s}" for s in ("critical", "high", "medium", "low") if self.severities[s]
        )
        return (
            f"events read {self.read} = clean {self.outcomes['clean']} + alerted {self.outcomes['alerted']} "
            f"+ invalid {self.outcomes['invalid']}; {self.alerts_seen} alerts ({severities or 'none'}), "
            f"{self.dead_seen} dead letters"
        )


def render_alert(alert: Alert) -> Text:
    """Two lines a person reads at a glance: severity, kind and summary; then rule, law and evidence."""
    text = Text()
    text.append(f" {alert.severity.upper():<8} ", style=_SEVERITY_STYLE.get(alert.severity, "bold"))
    text.append(f" {alert.kind:<27} ", style="bold")
    text.append(alert.summary)
    text.append("\n           ")
    text.append(alert.rule_id, style="dim")
    if alert.citations:
        text.append("  ")
        text.append(alert.citations[0], style="italic")
        if len(alert.citations) > 1:
            text.append(f" (+{len(alert.citations) - 1})", style="dim")
    matched = alert.evidence.get("matched") or alert.evidence.get("term")
    if matched:
        text.append("  matched ", style="dim")
        text.append(repr(matched), style="magenta")
    evidence = alert.evidence
    if evidence.get("active_days"):  # standing access: which day of exposure this alert is for
        text.append(
            f"  day {evidence['active_days']} of access since {evidence.get('active_since', '?')[:10]}", style="magenta"
        )
    elif alert.kind.startswith("misuse.") and evidence.get("count"):
        days = f" on {evidence['distinct_days']} days" if evidence.get("distinct_days") else ""
        text.append(f"  {evidence['count']} searches{days}", style="magenta")
    text.append(f"  event {alert.event_id}", style="dim")
    return text


def render_dead_letter(headers: dict[str, str]) -> Text:
    """A dead letter by its reason and location; the raw bytes are not printed (they may hold a plate)."""
    text = Text()
    text.append(" DLQ      ", style="bold black on yellow")
    text.append(f" {headers.get('alpr-reason', '?'):<27} ", style="bold")
    text.append(headers.get("alpr-detail", ""))
    where = f"\n           from {headers.get('alpr-source-topic', '?')}"
    where += f" partition {headers.get('alpr-source-partition', '?')} offset {headers.get('alpr-source-offset', '?')}"
    if headers.get("alpr-event-id"):
        where += f"  event {headers['alpr-event-id']}"
    if headers.get("alpr-field"):
        where += f"  field {headers['alpr-field']}"
    text.append(where, style="dim")
    return text


def run_demo(settings: Settings, pseudonymizer: Pseudonymizer, once: bool) -> int:
    """Run the demo; with `once`, stop after the sample is judged. Return the exit status."""
    console = Console(soft_wrap=True, highlight=False)
    try:
        return asyncio.run(_demo(settings, pseudonymizer, once, console))
    except KeyboardInterrupt:  # Ctrl-C before the signal handlers were installed
        return 130


async def _demo(settings: Settings, pseudonymizer: Pseudonymizer, once: bool, console: Console) -> int:
    err = Console(stderr=True, highlight=False)
    metrics = WorkerMetrics()
    metrics.mark_started()
    try:
        watcher = PolicyWatcher(settings.policy_path, pseudonymizer, metrics)
    except (PolicyError, PackError) as exc:
        err.print(f"alpr-monitor demo: cannot use the policy: {exc}", markup=False)
        return EXIT_UNUSABLE
    try:
        server = metrics.serve(settings.metrics_host, settings.metrics_port)
    except OSError as exc:
        err.print(
            f"alpr-monitor demo: cannot serve /metrics on {settings.metrics_host}:{settings.metrics_port}: "
            f"{exc.strerror}; pass --metrics-port 0 for any free port",
            markup=False,
        )
        return EXIT_UNUSABLE

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    with tempfile.TemporaryDirectory(prefix="alpr-demo-") as data_dir, contextlib.ExitStack() as cleanup:
        cleanup.callback(server.close)
        try:
            cluster = MockCluster()
        except Exception as exc:  # librdkafka raises KafkaException and others: all mean "no cluster"
            err.print(f"alpr-monitor demo: cannot start the mock Kafka cluster: {exc!r}", markup=False)
            return EXIT_UNUSABLE
        cleanup.callback(cluster.close)
        demo_settings = settings.model_copy(
            # The embedded mock cluster speaks plaintext only, whatever ALPR_KAFKA_* say.
            update={"broker": f"kafka://{cluster.bootstrap}", "data_dir": Path(data_dir), "kafka": PLAINTEXT}
        )
        created = cluster.create_topics(
            settings.input_topic,
            settings.alerts_topic,
            settings.dlq_topic,
            # The pattern state's internal topics: the mock cannot create topics the Faust way.
            changelog_topic_name(settings.app_id),
            repartition_topic_name(settings.app_id),
        )
        url = f"http://{settings.metrics_host}:{server.port}/metrics"
        console.print(
            Text.assemble(
                ("ALPR access monitor demo", "bold"),
                f" - mock Kafka cluster at {cluster.bootstrap}, metrics at {url}\n",
                ("policy ", "dim"),
                watcher.current().version,
                ("; send more events with: ", "dim"),
                f"alpr-monitor produce --broker kafka://{cluster.bootstrap} FILE",
            )
        )
        partitions = created[settings.input_topic]
        return await _run(demo_settings, metrics, watcher, server, once, stop, console, partitions)


async def _run(
    settings: Settings,
    metrics: WorkerMetrics,
    watcher: PolicyWatcher,
    server: MetricsServer,
    once: bool,
    stop: asyncio.Event,
    console: Console,
    partitions: int,
) -> int:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    tally = DemoTally()
    app = create_app(
        settings,
        watcher.current,
        metrics=metrics,
        policy_watcher=watcher,
        on_batch=tally.on_batch,
        pattern_partitions=partitions,
        topic_disable_leader=True,
        topic_allow_declare=False,
    )
    bootstrap = bootstrap_servers(settings.broker)
    outputs = AIOKafkaConsumer(
        settings.alerts_topic,
        settings.dlq_topic,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=100,
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    started = time.monotonic()
    await app.start()
    try:
        await outputs.start()
        await producer.start()
        try:
            sample = sample_messages(datetime.now(UTC))
            await _produce(producer, settings.input_topic, sample, watcher.current())
            console.print(
                Text(
                    f"sent {len(sample)} sample messages to {settings.input_topic}; worker starting up...", style="dim"
                )
            )
            deadline = started + ONCE_TIMEOUT_S
            announced = False
            while not stop.is_set():
                batches = await outputs.getmany(timeout_ms=200)
                for tp, records in batches.items():
                    for record in records:
                        _show(record, tp.topic, settings, tally, console)
                if not announced and tally.accounted_for(len(sample)):
                    if once:
                        break
                    announced = True
                    console.print(Text(f"{tally.render()}\nwaiting for more events; Ctrl-C stops", style="dim"))
                if once and time.monotonic() > deadline:
                    console.print(tally.render(), markup=False)
                    console.print(
                        f"demo: the sample was not fully judged within {ONCE_TIMEOUT_S:.0f} s "
                        f"({tally.read} of {len(sample)} messages)",
                        style="bold red",
                    )
                    return EXIT_INCOMPLETE
        finally:
            await producer.stop()
            await outputs.stop()
    finally:
        await app.stop()
    if stop.is_set():
        console.print(Text("stopped", style="dim"))
    console.print(Text(tally.render(), style="bold"))
    console.print(
        Text(f"/metrics: alpr_events_processed_total {_scrape_processed(server.port, settings)}", style="dim")
    )
    return EXIT_OK


async def _produce(producer: Any, topic: str, sample: list[SampleMessage], engine: Engine) -> None:
    """Send the sample keyed by owner, as `alpr-monitor produce` does (the broken message by its label)."""
    futures = []
    for message in sample:
        try:
            key = partition_key(engine, decode_event(message.value))
        except EventError:
            key = message.key
        futures.append(await producer.send(topic, message.value, key=key))
    await asyncio.gather(*futures)


def _show(record: Any, topic: str, settings: Settings, tally: DemoTally, console: Console) -> None:
    if topic == settings.alerts_topic:
        alert = decode_alert(record.value)
        tally.alerts_seen += 1
        tally.severities[alert.severity] += 1
        console.print(render_alert(alert))
    else:
        headers = {name: value.decode("utf-8", "replace") for name, value in record.headers}
        tally.dead_seen += 1
        console.print(render_dead_letter(headers))


def _scrape_processed(port: int, settings: Settings) -> str:
    """Read our own /metrics over HTTP, to show it is served and agrees with the tally."""
    try:
        with urllib.request.urlopen(f"http://{settings.metrics_host}:{port}/metrics", timeout=5) as response:
            body: bytes = response.read()
    except OSError as exc:
        print(f"demo: could not read /metrics: {exc}", file=sys.stderr)
        return "unavailable"
    total = 0.0
    for line in body.decode().splitlines():
        if line.startswith("alpr_events_processed_total{"):
            total += float(line.rsplit(" ", 1)[1])
    return f"{total:.0f}"
