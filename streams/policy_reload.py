"""Policy hot reload: the running worker picks up an edited policy file without a restart.

The engine is immutable, so a changed file means building a new engine and swapping the reference
the worker's batch handler reads at the start of each batch. A file that does not load is refused with the loader's
message (naming the file and the key) and the engine in force stays; the same bad content is
reported once, not on every poll.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from pathlib import Path

import structlog

from monitor.engine import Engine, load_engine
from monitor.hashing import Pseudonymizer
from monitor.policy import PolicyError, read_policy_file
from monitor.rules.pack import PackError
from streams.metrics import WorkerMetrics

__all__ = ["PolicyWatcher"]

log = structlog.get_logger(__name__)

EngineLoader = Callable[[Path | None, Pseudonymizer], Engine]


def _digest(path: Path) -> str | PolicyError:
    """The hash of the file's bytes, or why it cannot be read (bounded, and never waits on a FIFO)."""
    try:
        return hashlib.sha256(read_policy_file(path)).hexdigest()
    except PolicyError as exc:
        return exc


class PolicyWatcher:
    """Holds the engine in force and replaces it when the policy file's content changes.

    Construction loads the policy once and raises `PolicyError` or `PackError` if it is unusable,
    so a bad policy stops the worker at start-up; later failures only log.
    """

    def __init__(
        self,
        path: Path | None,
        pseudonymizer: Pseudonymizer,
        metrics: WorkerMetrics | None = None,
        loader: EngineLoader = load_engine,
    ) -> None:
        self._path = path
        self._pseudonymizer = pseudonymizer
        self._metrics = metrics
        self._loader = loader
        first = _digest(path) if path is not None else None
        self._digest = first if isinstance(first, str) else None
        self._refused: str | None = None
        self._engine = loader(path, pseudonymizer)
        self._publish()

    def current(self) -> Engine:
        """The engine in force (the batch handler calls this once per batch)."""
        return self._engine

    async def poll(self) -> bool:
        """Reload if the file changed; return True when a new engine was swapped in."""
        if self._path is None:
            return False
        digest = _digest(self._path)
        if isinstance(digest, PolicyError):
            if self._refused != "unreadable":
                self._refused = "unreadable"
                log.error(
                    "policy file unreadable; the policy in force stays",
                    path=str(self._path),
                    error=str(digest),
                    version=self._engine.version,
                )
            return False
        if digest == self._digest or digest == self._refused:
            return False
        # Packs are parsed and compiled again: do it off the event loop so batches keep flowing.
        try:
            engine = await asyncio.to_thread(self._loader, self._path, self._pseudonymizer)
        except (PolicyError, PackError) as exc:
            self._refused = digest
            log.error(
                "policy refused; the policy in force stays",
                path=str(self._path),
                error=str(exc),
                version=self._engine.version,
            )
            return False
        previous = self._engine.version
        self._engine, self._digest, self._refused = engine, digest, None
        self._publish()
        log.info("policy reloaded", path=str(self._path), previous_version=previous, version=engine.version)
        return True

    def _publish(self) -> None:
        if self._metrics is not None:
            self._metrics.set_policy(self._engine.version, self._engine.owner_ids)
