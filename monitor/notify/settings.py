"""The notifier's own settings (`ALPR_NOTIFY_*`); broker and alerts topic come from `monitor.settings.Settings`."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from monitor.notify.retry import RetryPolicy

__all__ = ["NotifierSettings"]


class NotifierSettings(BaseSettings):
    """Frozen notifier settings, read from `ALPR_NOTIFY_*` environment variables and command-line flags."""

    model_config = SettingsConfigDict(env_prefix="ALPR_NOTIFY_", frozen=True, extra="forbid")

    config_path: Path | None = Field(None, description="endpoints YAML file (required to run)")
    group_id: str = Field("alpr-notifier", description="Kafka consumer group; offsets commit after delivery")
    dlq_topic: str = Field("alpr.alerts.notify-dlq", description="undeliverable notifications, with the reason")
    offset_reset: Literal["earliest", "latest"] = Field(
        "earliest", description="where a new consumer group starts: earliest never skips an alert"
    )
    batch_size: int = Field(100, ge=1, le=10_000, description="alerts read per batch (one commit per batch)")
    batch_wait_s: float = Field(0.5, gt=0, le=30, description="longest wait for a batch to fill")
    concurrency: int = Field(16, ge=1, le=1024, description="HTTP requests in flight at once, all endpoints together")
    dedup_window: int = Field(10_000, ge=1, description="alert ids remembered per endpoint to skip redeliveries")
    initial_backoff_s: float = Field(1.0, gt=0, description="wait before the first retry")
    max_backoff_s: float = Field(60.0, gt=0, description="longest wait between retries (also caps Retry-After)")
    backoff_multiplier: float = Field(2.0, ge=1, description="growth of the wait per failed attempt")
    backoff_jitter: float = Field(0.2, ge=0, le=1, description="fraction of each wait taken off at random")
    max_attempts: int = Field(0, ge=0, description="attempts before dead-lettering (0: retry until delivered)")
    give_up_after_s: float = Field(0.0, ge=0, description="seconds of retrying before dead-lettering (0: never)")
    stop_grace_s: float = Field(10.0, ge=0, description="on SIGTERM, time the batch in hand gets to finish")
    max_poll_interval_s: float = Field(
        300.0, gt=0, description="a batch held longer than this (endpoint outage) leaves and rejoins the group"
    )
    session_timeout_s: float = Field(10.0, gt=0, description="a crashed notifier's partitions move after this long")
    source: str = Field("alpr-monitor", description="PagerDuty payload.source")
    metrics_host: str = Field("127.0.0.1", description="address the notifier's /metrics listens on")
    metrics_port: int = Field(9465, ge=0, le=65535, description="port of the notifier's /metrics (0: any free port)")

    @model_validator(mode="after")
    def _consistent(self) -> NotifierSettings:
        if self.initial_backoff_s > self.max_backoff_s:
            raise ValueError("initial_backoff_s must not exceed max_backoff_s")
        if self.dedup_window < self.batch_size:
            # Smaller, and a batch read again after a failed commit would post ids already evicted.
            raise ValueError(f"dedup_window ({self.dedup_window}) must be at least batch_size ({self.batch_size})")
        return self

    def retry_policy(self, give_up_after_s: float | None = None) -> RetryPolicy:
        """The retry policy; `give_up_after_s` (an endpoint's own) overrides the global limit."""
        elapsed = give_up_after_s if give_up_after_s is not None else (self.give_up_after_s or None)
        return RetryPolicy(
            initial_backoff_s=self.initial_backoff_s,
            max_backoff_s=self.max_backoff_s,
            multiplier=self.backoff_multiplier,
            jitter=self.backoff_jitter,
            max_attempts=self.max_attempts or None,
            max_elapsed_s=elapsed,
        )
