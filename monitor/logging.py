"""Structured logs: JSON when not on a terminal, readable console output on one.

A last processor masks any value logged under an identifying key, so a careless `log.info(plate=...)`
cannot leak a plate or a user name: log their keyed hashes instead.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

__all__ = ["IDENTIFYING_KEYS", "configure_logging", "mask_identifiers"]

IDENTIFYING_KEYS = frozenset({"plate", "license_plate", "user", "username", "user_name", "userid", "user_id"})


def mask_identifiers(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Replace values under identifying keys with a marker; hashed values belong under `*_hash` keys."""
    for key in event_dict.keys() & IDENTIFYING_KEYS:
        event_dict[key] = "[masked]"
    return event_dict


def configure_logging(log_format: str = "auto", level: str = "INFO") -> None:
    """Configure structlog (and the stdlib loggers Faust and aiokafka use) once for the process."""
    as_json = log_format == "json" or (log_format == "auto" and not sys.stderr.isatty())
    renderer: Any = structlog.processors.JSONRenderer() if as_json else structlog.dev.ConsoleRenderer()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            mask_identifiers,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
