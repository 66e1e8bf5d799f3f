"""Structured logs: JSON when not on a terminal, readable console output on one.

Our own events and those of the libraries underneath (Faust, aiokafka, via the standard library's
logging) go through the same processors, so an operator reads one format. A processor masks any value
logged under an identifying key, so a careless `log.info(plate=...)` cannot leak a plate or a user
name: log their keyed hashes (`plate_hash`, `user_hash`) instead.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

__all__ = ["IDENTIFYING_KEYS", "configure_logging", "mask_identifiers"]

IDENTIFYING_KEYS = frozenset({"plate", "license_plate", "user", "username", "user_name", "userid", "user_id", "actor"})


def mask_identifiers(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Replace values under identifying keys with a marker; hashed values belong under `*_hash` keys."""
    for key in event_dict.keys() & IDENTIFYING_KEYS:
        event_dict[key] = "[masked]"
    return event_dict


def configure_logging(log_format: str = "auto", level: str = "INFO") -> None:
    """Configure structlog and the standard library's root logger once for the process."""
    as_json = log_format == "json" or (log_format == "auto" and not sys.stderr.isatty())
    renderer: Any = structlog.processors.JSONRenderer() if as_json else structlog.dev.ConsoleRenderer()
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        mask_identifiers,
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Library chatter at INFO (rebalances, fetch sessions) drowns the monitor's own events.
    for noisy in ("aiokafka", "faust", "mode", "kafka"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
