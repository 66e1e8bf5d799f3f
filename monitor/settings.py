"""Configuration: every setting has an environment variable, a default and a meaning (see README)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from monitor.kafka_security import KafkaSecurity, load_kafka_security
from monitor.secret_files import SecretFilesSource

__all__ = ["Settings"]


class Settings(BaseSettings):
    """Frozen monitor settings, read from `ALPR_*` environment variables and command-line flags."""

    model_config = SettingsConfigDict(env_prefix="ALPR_", frozen=True, extra="forbid")

    broker: str = Field("kafka://127.0.0.1:9092", description="Kafka bootstrap URL(s), comma-separated")
    input_topic: str = Field("alpr.access-events", description="topic the access events arrive on")
    alerts_topic: str = Field("alpr.alerts", description="topic alerts are written to, keyed by alert_id")
    dlq_topic: str = Field("alpr.access-events.dlq", description="dead-letter topic for unreadable events")
    policy_path: Path | None = Field(None, description="owner policy file; the built-in default when unset")
    policy_reload_seconds: float = Field(5.0, gt=0, description="how often the worker checks the policy file")
    metrics_port: int = Field(9464, ge=0, le=65535, description="port of the worker's /metrics (0: any free port)")
    metrics_host: str = Field("127.0.0.1", description="address /metrics listens on")
    pseudonym_key: SecretStr | None = Field(None, description="HMAC key for plate and user hashes (>= 16 bytes)")
    app_id: str = Field("alpr-monitor", description="Kafka consumer group and Faust app id")
    batch_size: int = Field(1000, ge=1, description="most events fetched and judged as one batch")
    data_dir: Path = Field(Path("var/worker"), description="Faust's local state directory")
    log_format: Literal["auto", "json", "console"] = Field("auto", description="log output; auto = console on a tty")
    log_level: str = Field("INFO", description="log level")
    shutdown_timeout_seconds: float = Field(
        30.0, gt=0, description="on SIGTERM/SIGINT the worker exits within this long, whatever the broker does"
    )
    liveness_stall_seconds: float = Field(
        120.0, gt=0, description="/healthz fails once the fetch loop has not gone round for this long"
    )
    kafka: KafkaSecurity = Field(
        default_factory=load_kafka_security, description="Kafka connection security (ALPR_KAFKA_* variables)"
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # ALPR_PSEUDONYM_KEY_FILE (and any later secret's *_FILE), after the environment.
        return init_settings, env_settings, SecretFilesSource(settings_cls), dotenv_settings, file_secret_settings
