"""Do the workers of one consumer group judge with the same policy? Checked in process, through Kafka.

Workers of a group split the input's partitions, so two workers with different policy files each judge
their share by their own policy and the difference is silent (a probe lost a quarter of the expected
alerts that way). Every worker writes its policy version and the time into the metadata string of each
offset commit (`alpr-policy=<version>;at=<unix seconds>`), which Kafka keeps with the group's offsets;
every few seconds each worker reads the group's committed offsets and compares the versions committed
in the last `FRESH_SECONDS` with its own. A difference is an ERROR naming the versions, the gauge
`alpr_policy_mismatch` 1 and the `ALPRPolicyMismatch` page (which also compares `alpr_policy_info`
across instances in Prometheus). Idle partitions commit nothing, so only active ones are compared; a
hot reload reaches every worker within seconds and a commit carries the new version at once.

No extra topic or permission: committing offsets and describing the group are what a consumer already
does. (Kafka's own OffsetCommit metadata field; the default commit writes an empty string there.)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import structlog
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import OffsetAndMetadata

from monitor.settings import Settings
from streams.kafka_clients import aiokafka_options
from streams.metrics import WorkerMetrics
from streams.produce import bootstrap_servers

__all__ = ["FRESH_SECONDS", "PolicyAgreement", "commit_metadata", "parse_commit_metadata"]

log = structlog.get_logger(__name__)

FRESH_SECONDS = 60.0
REPEAT_ERROR_SECONDS = 60.0
_PREFIX = "alpr-policy="


def commit_metadata(version: str, now: float | None = None) -> str:
    """The metadata string a commit carries: policy version and commit time."""
    return f"{_PREFIX}{version};at={int(time.time() if now is None else now)}"


def parse_commit_metadata(metadata: str) -> tuple[str, float] | None:
    """(version, unix time) from a commit's metadata, or None when it is not ours."""
    if not metadata.startswith(_PREFIX):
        return None
    version, _, rest = metadata[len(_PREFIX) :].partition(";at=")
    try:
        return version, float(rest)
    except ValueError:
        return None


def stamp_commits(consumer: Any, version: Callable[[], str]) -> None:
    """Make `consumer.commit` (aiokafka) write the policy version into every offset's metadata."""
    if getattr(consumer, "_alpr_stamped", False):
        return
    commit = consumer.commit

    async def stamped(offsets: Mapping[Any, Any] | None = None) -> Any:
        if offsets is None:
            return await commit(offsets)
        metadata = commit_metadata(version())
        marked = {
            tp: OffsetAndMetadata(o.offset if isinstance(o, OffsetAndMetadata) else int(o), metadata)
            for tp, o in offsets.items()
        }
        return await commit(marked)

    consumer.commit = stamped
    consumer._alpr_stamped = True


class PolicyAgreement:
    """Compares the policy versions in the group's recent commits with this worker's."""

    def __init__(self, settings: Settings, version: Callable[[], str], metrics: WorkerMetrics | None = None) -> None:
        self.settings = settings
        self.version = version
        self.metrics = metrics
        self._logged: tuple[frozenset[str], float] | None = None

    def compare(self, committed: Mapping[Any, OffsetAndMetadata], now: float | None = None) -> set[str]:
        """Distinct versions among this worker's and the fresh commits; more than one is a mismatch."""
        now = time.time() if now is None else now
        versions = {self.version()}
        for tp, meta in committed.items():
            if getattr(tp, "topic", self.settings.input_topic) != self.settings.input_topic:
                continue
            parsed = parse_commit_metadata(meta.metadata or "")
            if parsed is not None and now - parsed[1] <= FRESH_SECONDS:
                versions.add(parsed[0])
        return versions

    def report(self, versions: set[str]) -> None:
        mismatch = len(versions) > 1
        if self.metrics is not None:
            self.metrics.policy_mismatch.set(1 if mismatch else 0)
        if not mismatch:
            if self._logged is not None:
                log.info("the consumer group's workers agree on the policy again", version=self.version())
                self._logged = None
            return
        key, now = frozenset(versions), time.monotonic()
        if self._logged is None or self._logged[0] != key or now - self._logged[1] >= REPEAT_ERROR_SECONDS:
            log.error(
                "workers of this consumer group judge with different policies: each judges only its own "
                "partitions, so violations one policy alerts on pass unseen on the others; give every "
                "worker the same policy file",
                group=self.settings.app_id,
                versions=sorted(versions),
                version=self.version(),
            )
            self._logged = (key, now)

    async def check(self) -> None:
        """Read the group's committed offsets and report; a broker that does not answer is skipped."""
        admin = AIOKafkaAdminClient(
            bootstrap_servers=bootstrap_servers(self.settings.broker),
            request_timeout_ms=10_000,
            **aiokafka_options(self.settings.kafka),  # TLS, mTLS, SASL (ALPR_KAFKA_*)
        )
        try:
            await admin.start()
            committed = await admin.list_consumer_group_offsets(self.settings.app_id)
        except Exception as exc:  # broker down, coordinator moving: the next tick tries again
            log.debug("policy agreement not checked", error_type=type(exc).__name__)
            return
        finally:
            await admin.close()
        self.report(self.compare(committed))
