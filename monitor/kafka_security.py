"""How every Kafka client of the project connects: protocol, TLS trust, client certificates, SASL.

Pure settings (no Kafka import): `streams/kafka_clients.py` turns them into aiokafka, Faust and
confluent-kafka options. Read from `ALPR_KAFKA_*` environment variables; every secret also from
`<VAR>_FILE`. Combinations that would connect less safely than asked (SASL credentials sent
without TLS, TLS files given to a plaintext connection) are refused with the variable to change.
Secrets are `SecretStr`: their repr and every error message show `**********` or nothing.
"""

from __future__ import annotations

import os
import typing
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from monitor.secret_files import SecretFileError, SecretFilesSource

__all__ = ["ENV_PREFIX", "PLAINTEXT", "KafkaSecurity", "KafkaSecurityError", "SecurityProtocol", "load_kafka_security"]

ENV_PREFIX = "ALPR_KAFKA_"
SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_SSL", "SASL_PLAINTEXT"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"]
_PASSWORD_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")


class KafkaSecurityError(Exception):
    """The Kafka connection settings are unusable: fix the named variable and restart (exit status 2)."""


def _var(field: str) -> str:
    return f"{ENV_PREFIX}{field.upper()}"


class KafkaSecurity(BaseSettings):
    """Frozen connection security shared by the worker, notifier, produce/ingest, benchmarks and tests."""

    # Empty variables count as unset (compose `${VAR:-}`, charts rendering an absent value as "").
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        frozen=True,
        extra="forbid",
        hide_input_in_errors=True,
        populate_by_name=True,
        env_ignore_empty=True,
    )

    security_protocol: SecurityProtocol = Field("PLAINTEXT", description="PLAINTEXT, SSL, SASL_SSL or SASL_PLAINTEXT")
    sasl_mechanism: SaslMechanism | None = Field(
        None, description="PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER (SASL protocols only)"
    )
    sasl_username: str | None = Field(None, description="SASL user (PLAIN, SCRAM)")
    sasl_password: SecretStr | None = Field(None, description="SASL password (PLAIN, SCRAM); or *_FILE")
    ssl_ca_file: Path | None = Field(None, description="PEM CA bundle the broker is checked against; unset: system")
    ssl_cert_file: Path | None = Field(None, description="PEM client certificate (mTLS)")
    ssl_key_file: Path | None = Field(None, description="PEM private key of the client certificate")
    ssl_key_password: SecretStr | None = Field(None, description="password of an encrypted key; or *_FILE")
    ssl_check_hostname: bool = Field(True, description="check the broker's certificate names its host")
    oauth_token_provider: str | None = Field(None, description="`module:callable` returning a token (OAUTHBEARER)")
    allow_sasl_plaintext: bool = Field(False, description="allow SASL credentials over an unencrypted connection")

    @field_validator("security_protocol", "sasl_mechanism", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        # librdkafka's documentation writes them lower-case (sasl_ssl, scram-sha-512), Java's upper-case.
        return value.strip().upper() if isinstance(value, str) else value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, SecretFilesSource(settings_cls), dotenv_settings, file_secret_settings

    @property
    def uses_tls(self) -> bool:
        return self.security_protocol in ("SSL", "SASL_SSL")

    @property
    def uses_sasl(self) -> bool:
        return self.security_protocol in ("SASL_SSL", "SASL_PLAINTEXT")

    def describe(self) -> str:
        """One line for logs: protocol, mechanism, user and trust store; never a secret."""
        parts: list[str] = [self.security_protocol]
        if self.uses_sasl:
            parts.append(f"{self.sasl_mechanism}")
            if self.sasl_username:
                parts.append(f"user {self.sasl_username}")
        if self.uses_tls:
            parts.append(f"CA {self.ssl_ca_file}" if self.ssl_ca_file else "system CAs")
            if self.ssl_cert_file:
                parts.append(f"client certificate {self.ssl_cert_file}")
            if not self.ssl_check_hostname:
                parts.append("hostname check OFF")
        return ", ".join(parts)

    @model_validator(mode="after")
    def _coherent(self) -> KafkaSecurity:
        problems = [*self._sasl_problems(), *self._tls_problems()]
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def _sasl_problems(self) -> list[str]:
        protocol = self.security_protocol
        sasl_fields = ("sasl_mechanism", "sasl_username", "sasl_password", "oauth_token_provider")
        given = [_var(name) for name in sasl_fields if getattr(self, name) is not None]
        if not self.uses_sasl:
            if given:
                return [f"{', '.join(given)} set but {_var('security_protocol')}={protocol}: use SASL_SSL"]
            return []
        problems = []
        if protocol == "SASL_PLAINTEXT" and not self.allow_sasl_plaintext:
            problems.append(
                f"{_var('security_protocol')}=SASL_PLAINTEXT would send the SASL credentials unencrypted: "
                f"use SASL_SSL, or set {_var('allow_sasl_plaintext')}=true on a network you trust"
            )
        mechanism = self.sasl_mechanism
        if mechanism is None:
            choices = ", ".join(typing.get_args(SaslMechanism))
            problems.append(f"{_var('sasl_mechanism')} is required with {protocol} ({choices})")
        elif mechanism in _PASSWORD_MECHANISMS:
            if not self.sasl_username:
                problems.append(f"{_var('sasl_username')} is required with {mechanism}")
            if self.sasl_password is None or not self.sasl_password.get_secret_value():
                password = _var("sasl_password")
                problems.append(f"{password} (or {password}_FILE) is required with {mechanism}")
            if self.oauth_token_provider is not None:
                problems.append(f"{_var('oauth_token_provider')} is used only with OAUTHBEARER, not {mechanism}")
        else:  # OAUTHBEARER
            provider = self.oauth_token_provider
            if not provider:
                problems.append(f"{_var('oauth_token_provider')} (module:callable) is required with OAUTHBEARER")
            elif provider.count(":") != 1 or not all(provider.split(":")):
                problems.append(f"{_var('oauth_token_provider')}={provider!r} is not of the form module:callable")
            if self.sasl_username is not None or self.sasl_password is not None:
                problems.append(f"{_var('sasl_username')}/{_var('sasl_password')} are not used with OAUTHBEARER")
        return problems

    def _tls_problems(self) -> list[str]:
        tls_fields = ("ssl_ca_file", "ssl_cert_file", "ssl_key_file", "ssl_key_password")
        given = [_var(name) for name in tls_fields if getattr(self, name) is not None]
        if not self.uses_tls:
            if given:
                return [
                    f"{', '.join(given)} set but {_var('security_protocol')}={self.security_protocol} "
                    "does not use TLS: use SSL or SASL_SSL"
                ]
            return []
        problems = []
        for name in ("ssl_ca_file", "ssl_cert_file", "ssl_key_file"):
            path: Path | None = getattr(self, name)
            if path is not None and not path.is_file():
                problems.append(f"{_var(name)}: no such file: {path}")
            elif path is not None and not os.access(path, os.R_OK):
                problems.append(f"{_var(name)}: cannot read {path} (permissions)")
        if self.ssl_key_file is not None and self.ssl_cert_file is None:
            problems.append(f"{_var('ssl_key_file')} is set without {_var('ssl_cert_file')}")
        if self.ssl_key_password is not None and self.ssl_cert_file is None:
            problems.append(f"{_var('ssl_key_password')} is set without {_var('ssl_cert_file')}")
        return problems


PLAINTEXT = KafkaSecurity.model_construct()
"""Plain connections whatever the environment says (the demo's in-process mock cluster)."""


def load_kafka_security(**overrides: Any) -> KafkaSecurity:
    """The settings from the environment (and `overrides`); a clear `KafkaSecurityError` if unusable.

    The message lists every problem by variable; it never quotes a value given for a secret.
    """
    try:
        return KafkaSecurity(**overrides)
    except SecretFileError as exc:
        raise KafkaSecurityError(f"Kafka security settings: {exc}") from None
    except ValidationError as exc:
        raise KafkaSecurityError(f"Kafka security settings: {_explain(exc)}") from None


def _explain(error: ValidationError) -> str:
    lines = []
    for problem in error.errors(include_input=False, include_url=False):
        location = ".".join(str(part) for part in problem["loc"])
        message = str(problem["msg"]).removeprefix("Value error, ")
        lines.append(f"{_var(location)}: {message}" if location else message)
    return "; ".join(lines)
