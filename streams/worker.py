"""`alpr-monitor worker`: the live path, run until SIGTERM or SIGINT.

Start-up order: policy (a bad one stops here with exit status 2), then /metrics with /healthz and
/readyz, then one check of the topics (an output topic too small for any record batch stops here with
exit status 2, naming the topic and the setting), then the Faust worker, so Prometheus sees the policy
version from the first scrape.

Shutdown is bounded: a stop signal arms a watchdog that ends the process after
`shutdown_timeout_seconds` (exit status 3) if Faust's orderly stop has not finished, as it cannot while
the broker is down (its final commit and producer flush wait on the broker). Nothing unsent is acked:
offsets are acked only after the broker acknowledged the batch's outputs, so what the watchdog cuts
short is read again by the next worker.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

import faust
import structlog
from aiokafka.errors import KafkaError

from monitor.hashing import Pseudonymizer
from monitor.kafka_security import KafkaSecurityError
from monitor.policy import PolicyError
from monitor.rules.pack import PackError
from monitor.settings import Settings
from streams.app import WORKER_CHECKS, create_app
from streams.health import Health, serve_http
from streams.kafka_clients import aiokafka_options
from streams.log_limit import install_repeat_limiter
from streams.metrics import WorkerMetrics
from streams.patterns import InputTopicMissing, PartitioningError, PatternLiveSettings, input_partitions
from streams.policy_reload import PolicyWatcher
from streams.produce import bootstrap_servers
from streams.topics import TopicCheck, TopicConfigError

__all__ = ["ShutdownWatchdog", "run_worker"]

log = structlog.get_logger(__name__)

EXIT_BAD_CONFIG = 2
EXIT_RESTARTABLE = 1
INPUT_TOPIC_WAIT_S = 5.0
"""How long start-up waits for the input topic before running without the pattern detectors."""
EXIT_SHUTDOWN_TIMEOUT = 3


class ShutdownWatchdog:
    """Ends the process `timeout_s` after `arm()` unless `disarm()` came first (a daemon timer thread)."""

    def __init__(self, timeout_s: float, exit: Callable[[int], Any] = os._exit) -> None:
        self.timeout_s = timeout_s
        self._exit = exit
        self._timer: threading.Timer | None = None

    def arm(self) -> None:
        if self._timer is not None:
            return  # a second signal does not extend the bound
        log.info("stop requested; exiting within the shutdown bound", shutdown_timeout_seconds=self.timeout_s)
        self._timer = threading.Timer(self.timeout_s, self._expire)
        self._timer.daemon = True
        self._timer.name = "alpr-shutdown-watchdog"
        self._timer.start()

    def disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()

    def _expire(self) -> None:
        log.error(
            "shutdown did not finish within the bound; exiting now. Offsets not committed are read again "
            "by the next worker (duplicates, no loss)",
            shutdown_timeout_seconds=self.timeout_s,
            exit_status=EXIT_SHUTDOWN_TIMEOUT,
        )
        for handler in logging.getLogger().handlers:
            handler.flush()
        self._exit(EXIT_SHUTDOWN_TIMEOUT)


def _bound_shutdown(worker: Any, watchdog: ShutdownWatchdog) -> None:
    """Arm the watchdog whenever mode's worker schedules its stop (SIGTERM, SIGINT)."""
    schedule = getattr(worker, "_schedule_shutdown", None)
    if schedule is None:
        return

    def schedule_bounded(*args: Any, **kwargs: Any) -> Any:
        watchdog.arm()
        return schedule(*args, **kwargs)

    worker._schedule_shutdown = schedule_bounded


def pattern_partitions(settings: Settings) -> int | None:
    """The input's partition count when the pattern detectors run (ALPR_PATTERNS), else None."""
    if not PatternLiveSettings().patterns:
        return None
    bootstrap = bootstrap_servers(settings.broker)
    client = aiokafka_options(settings.kafka)
    wait = INPUT_TOPIC_WAIT_S
    return asyncio.run(input_partitions(bootstrap, settings.app_id, settings.input_topic, wait, client=client))


def _tame_operator_signals(worker: Any, watcher: PolicyWatcher) -> None:
    """After mode installs its handlers: SIGHUP checks the policy file now, SIGUSR1 and SIGUSR2 only log.

    Left as they were, SIGHUP (a closed terminal, `systemctl reload`) killed the worker mid-batch, SIGUSR1
    (a log-rotation convention) dumped every frame's local variables, raw events with plates and user
    names, to the log, and SIGUSR2 opened pdb on the event loop, wedging it.
    """
    install = getattr(worker, "install_signal_handlers", None)
    if install is None:
        return

    def ignored(name: str) -> None:
        log.info("signal ignored", signal=name)

    def reload_policy() -> None:
        log.info("SIGHUP: checking the policy file now")
        worker.add_future(watcher.poll())  # mode keeps and reaps the task

    def install_tamed() -> None:
        install()
        worker.loop.add_signal_handler(signal.SIGHUP, reload_policy)
        worker.loop.add_signal_handler(signal.SIGUSR1, ignored, "SIGUSR1")
        worker.loop.add_signal_handler(signal.SIGUSR2, ignored, "SIGUSR2")

    worker.install_signal_handlers = install_tamed


def run_worker(settings: Settings, pseudonymizer: Pseudonymizer) -> int:
    """Run the worker until a stop signal; return the process exit status."""
    install_repeat_limiter()
    try:  # Faust writes its state here; a path that cannot be made is configuration (exit 2), not a crash loop
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        print(
            f"alpr-monitor worker: ALPR_DATA_DIR {settings.data_dir}: cannot be created ({exc.strerror})",
            file=sys.stderr,
        )
        return EXIT_BAD_CONFIG
    metrics = WorkerMetrics()
    metrics.mark_started()  # before /metrics is served, so no scrape ever reads "last event at 1970"
    try:
        watcher = PolicyWatcher(settings.policy_path, pseudonymizer, metrics)
    except (PolicyError, PackError) as exc:
        log.error("cannot use the policy; not starting", error=str(exc))
        print(f"alpr-monitor worker: cannot use the policy: {exc}", file=sys.stderr)
        return EXIT_BAD_CONFIG
    health = Health(WORKER_CHECKS, stall_seconds=settings.liveness_stall_seconds, registry=metrics.registry)
    try:
        server = serve_http(settings.metrics_host, settings.metrics_port, metrics.registry, health)
    except OSError as exc:
        message = f"cannot serve /metrics on {settings.metrics_host}:{settings.metrics_port}: {exc.strerror}"
        print(f"alpr-monitor worker: {message}; set ALPR_METRICS_PORT or --metrics-port", file=sys.stderr)
        return EXIT_BAD_CONFIG
    topic_check = TopicCheck(settings, health, metrics)
    try:
        # Before Faust starts: a DLQ too small to hold anything must not become a crash loop.
        asyncio.run(topic_check.check_or_report())
    except TopicConfigError as exc:
        server.close()
        print(f"alpr-monitor worker: {exc}", file=sys.stderr)
        return EXIT_BAD_CONFIG
    try:
        partitions = pattern_partitions(settings)
    except InputTopicMissing as exc:
        # The worker still starts (readiness says the topic is missing); the detectors need the topic's
        # partition count, so they stay off until a restart after the topic exists.
        log.error("pattern detectors off: restart the worker once the input topic exists", error=str(exc))
        partitions = None
    except KafkaSecurityError as exc:
        server.close()
        print(f"alpr-monitor worker: {exc}", file=sys.stderr)
        return EXIT_BAD_CONFIG
    except (PartitioningError, KafkaError, OSError) as exc:  # no broker yet, no topic: a restart may do
        server.close()
        log.error("cannot run the pattern detectors; not starting", error=repr(exc))
        print(f"alpr-monitor worker: cannot set up the pattern detectors: {exc!r}", file=sys.stderr)
        return EXIT_RESTARTABLE
    app = create_app(
        settings,
        watcher.current,
        metrics=metrics,
        policy_watcher=watcher,
        health=health,
        topic_check=topic_check,
        pattern_partitions=partitions,
    )
    log.info(
        "worker starting",
        broker=settings.broker,
        input_topic=settings.input_topic,
        alerts_topic=settings.alerts_topic,
        dlq_topic=settings.dlq_topic,
        app_id=settings.app_id,
        policy_version=watcher.current().version,
        metrics=f"http://{settings.metrics_host}:{server.port}/metrics",
        shutdown_timeout_seconds=settings.shutdown_timeout_seconds,
    )
    # Every fetched record becomes an aiokafka ConsumerRecord and a Faust Message besides the decoded
    # event, so CPython's default (a young collection every 700 allocations) runs often. Measured with
    # the bench worker run (300,000 events, 6 paired runs, 2 CPUs shared with the broker): ~10% less
    # worker CPU per event with these settings (median ~25 vs ~28 us), ~10% more events/s; judging
    # alone (in process) shows no difference. Startup objects (gazetteer, compiled rules) never die,
    # so they are frozen out of every collection.
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 50)
    # Faust's own banner, logging setup and stdout redirection are off: structlog owns the output.
    worker = faust.Worker(app, loglevel=settings.log_level, quiet=True, override_logging=False, redirect_stdouts=False)
    worker.spinner = None  # it writes terminal escapes to stdout even when that is a pipe or a file
    watchdog = ShutdownWatchdog(settings.shutdown_timeout_seconds)
    _bound_shutdown(worker, watchdog)
    _tame_operator_signals(worker, watcher)
    try:
        worker.execute_from_commandline()
    except SystemExit as exc:  # mode's Worker always leaves through sys.exit
        status = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    else:  # pragma: no cover - execute_from_commandline never returns
        status = 0
    finally:
        watchdog.disarm()
        server.close()
    log.info("worker stopped", status=status)
    return status
