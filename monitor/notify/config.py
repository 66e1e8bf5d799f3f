"""Notification endpoints: the YAML file that lists them, and their secrets read from the environment.

The file holds no secret: a PagerDuty routing key, a Slack webhook URL or an auth header value is named
by the environment variable that holds it (`routing_key_env`, `url_env`, `bearer_token_env`,
`headers_env`), so the file can be committed and reviewed like the rest of the deployment.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator

from monitor._yaml import YAMLError, safe_load
from monitor.alerts import KINDS, SEVERITIES, Alert, Severity
from monitor.small_files import UnreadableFile, read_small_file

__all__ = [
    "PAGERDUTY_EVENTS_URL",
    "Endpoint",
    "EndpointKind",
    "NotifyConfigError",
    "Receiver",
    "load_endpoints",
    "parse_endpoints",
    "resolve_endpoints",
]

EndpointKind = Literal["webhook", "slack", "pagerduty"]

PAGERDUTY_EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
"""PagerDuty's Events API v2 endpoint, used when a pagerduty endpoint gives no url."""

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
# Lower rank = more severe; an endpoint takes alerts at or above its min_severity.
_RANK = {severity: rank for rank, severity in enumerate(SEVERITIES)}


class NotifyConfigError(ValueError):
    """The endpoints file or an endpoint's secret cannot be used; the message names the file, endpoint and key.

    Fix the file or set the named environment variable, then start the notifier again.
    """


def _check_env_name(value: str | None) -> str | None:
    if value is not None and not _ENV_NAME.match(value):
        raise ValueError(f"{value!r} is not an environment variable name")
    return value


class Endpoint(BaseModel):
    """One receiver of per-violation notifications, as written in the endpoints file."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$", description="unique; in logs and dead letters")
    kind: EndpointKind = Field(description="payload shape: generic JSON webhook, Slack, or PagerDuty Events v2")
    url: str | None = Field(None, description="where to POST (pagerduty: defaults to the Events v2 URL)")
    url_env: str | None = Field(None, description="environment variable holding the URL, when the URL is a secret")
    routing_key_env: str | None = Field(None, description="pagerduty: variable holding the integration routing key")
    bearer_token_env: str | None = Field(None, description="variable holding a token sent as `Authorization: Bearer`")
    headers_env: dict[str, str] = Field(default_factory=dict, description="header name -> variable holding its value")
    min_severity: Severity = Field("low", description="send alerts of this severity and above")
    kinds: frozenset[str] | None = Field(None, description="send only these alert kinds (default: all)")
    owners: frozenset[str] | None = Field(None, description="send only alerts of these owner ids (default: all)")
    timeout_s: float = Field(10.0, gt=0, le=300, description="per-request timeout; a timeout is retried")
    give_up_after_s: float | None = Field(
        None, gt=0, description="dead-letter after retrying this long (default: the notifier's setting)"
    )

    _env_names = field_validator("url_env", "routing_key_env", "bearer_token_env")(_check_env_name)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None:
            parts = urlsplit(value)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(f"{value!r} is not an http(s) URL")
        return value

    @field_validator("headers_env")
    @classmethod
    def _header_envs(cls, value: dict[str, str]) -> dict[str, str]:
        for header, env in value.items():
            if not _HEADER_NAME.match(header):
                raise ValueError(f"{header!r} is not an HTTP header name")
            _check_env_name(env)
        return value

    @field_validator("kinds")
    @classmethod
    def _known_kinds(cls, value: frozenset[str] | None) -> frozenset[str] | None:
        if value is not None:
            unknown = sorted(value - set(KINDS))
            if unknown:
                raise ValueError(f"unknown alert kinds {unknown}; known: {', '.join(KINDS)}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Endpoint:
        if self.url is not None and self.url_env is not None:
            raise ValueError("give either url or url_env, not both")
        if self.url is None and self.url_env is None and self.kind != "pagerduty":
            raise ValueError(f"a {self.kind} endpoint needs url or url_env")
        if (self.kind == "pagerduty") != (self.routing_key_env is not None):
            raise ValueError("routing_key_env is required for kind pagerduty and only allowed there")
        if self.bearer_token_env is not None and any(h.lower() == "authorization" for h in self.headers_env):
            raise ValueError("give either bearer_token_env or an Authorization entry in headers_env, not both")
        return self

    def accepts(self, alert: Alert) -> bool:
        """Whether this endpoint wants `alert`, by severity, kind and owner."""
        if _RANK[alert.severity] > _RANK[self.min_severity]:
            return False
        if self.kinds is not None and alert.kind not in self.kinds:
            return False
        return self.owners is None or alert.owner.id in self.owners


class _EndpointsFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    endpoints: list[Endpoint] = Field(min_length=1)


@dataclass(frozen=True, slots=True)
class Receiver:
    """An endpoint with its secrets read; secrets stay `SecretStr`, so printing a Receiver shows none."""

    endpoint: Endpoint
    url: SecretStr
    headers: Mapping[str, SecretStr] = field(default_factory=dict)
    routing_key: SecretStr | None = None

    @property
    def name(self) -> str:
        return self.endpoint.name

    @property
    def kind(self) -> EndpointKind:
        return self.endpoint.kind


def parse_endpoints(data: Any, source: str = "<endpoints>") -> list[Endpoint]:
    """Validate the parsed YAML of an endpoints file; `source` names it in errors."""
    try:
        endpoints = _EndpointsFile.model_validate(data).endpoints
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or '(top level)'}: {error['msg']}" for error in exc.errors()
        )
        raise NotifyConfigError(f"{source}: {problems}") from None
    names = [endpoint.name for endpoint in endpoints]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise NotifyConfigError(f"{source}: endpoint names must be unique; repeated: {', '.join(duplicates)}")
    return endpoints


MAX_ENDPOINTS_FILE_BYTES = 1024 * 1024
"""An endpoints file is a few hundred bytes; a larger one (or /dev/zero) is a wrong path."""


def load_endpoints(path: Path) -> list[Endpoint]:
    """Read and validate an endpoints YAML file (`endpoints:` list).

    Opened without waiting and read with a bound: a FIFO in its place would hang start-up forever, and
    /dev/zero would exhaust memory before any error.
    """
    try:
        data = read_small_file(path, MAX_ENDPOINTS_FILE_BYTES)
    except UnreadableFile as exc:
        raise NotifyConfigError(f"{path}: the endpoints file {exc}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise NotifyConfigError(f"{path}: the endpoints file is not UTF-8 text") from None
    try:
        data = safe_load(text)
    except YAMLError as exc:
        raise NotifyConfigError(f"{path}: not valid YAML: {exc}") from None
    return parse_endpoints(data, str(path))


def resolve_endpoints(endpoints: Sequence[Endpoint], environ: Mapping[str, str]) -> list[Receiver]:
    """Read every endpoint's secrets from `environ`; one error names every endpoint and variable missing."""
    problems: list[str] = []

    def secret(endpoint: Endpoint, variable: str, role: str) -> SecretStr:
        value = environ.get(variable, "")
        if not value.strip():
            problems.append(
                f"endpoint {endpoint.name!r} ({endpoint.kind}): environment variable {variable} ({role}) "
                "is not set or empty"
            )
        return SecretStr(value)

    receivers: list[Receiver] = []
    for endpoint in endpoints:
        if endpoint.url_env is not None:
            url = secret(endpoint, endpoint.url_env, "url_env")
            if url.get_secret_value() and not _is_http_url(url.get_secret_value()):
                problems.append(
                    f"endpoint {endpoint.name!r} ({endpoint.kind}): environment variable {endpoint.url_env} "
                    "(url_env) does not hold an http(s) URL"
                )
        else:
            url = SecretStr(endpoint.url or PAGERDUTY_EVENTS_URL)
        headers = {name: secret(endpoint, env, f"headers_env[{name}]") for name, env in endpoint.headers_env.items()}
        if endpoint.bearer_token_env is not None:
            token = secret(endpoint, endpoint.bearer_token_env, "bearer_token_env")
            headers["Authorization"] = SecretStr(f"Bearer {token.get_secret_value()}")
        routing_key = None
        if endpoint.routing_key_env is not None:
            routing_key = secret(endpoint, endpoint.routing_key_env, "routing_key_env")
        receivers.append(Receiver(endpoint, url, headers, routing_key))
    if problems:
        raise NotifyConfigError("; ".join(problems))
    return receivers


def _is_http_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.hostname)
