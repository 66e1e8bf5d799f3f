"""Secrets from files: every `SecretStr` setting `X` also reads `X_FILE` (Kubernetes secrets, systemd credentials).

`ALPR_KAFKA_SASL_PASSWORD_FILE=/run/secrets/kafka-password` gives the file's content, one trailing newline
dropped (what `kubectl create secret --from-file` and `systemd-creds` write). Setting both `X` and `X_FILE`
is an error: which one wins would be a guess. Errors name the variable and the path, never the content.
"""

from __future__ import annotations

import os
import types
import typing
from typing import Any

from pydantic import SecretStr
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from monitor.small_files import UnreadableFile, read_small_file

__all__ = ["SecretFileError", "SecretFilesSource", "secret_env_names"]


class SecretFileError(ValueError):
    """A `*_FILE` secret setting is unusable; fix the variable or the file, then restart."""


def _is_secret(annotation: Any) -> bool:
    if annotation is SecretStr:
        return True
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType:
        return any(_is_secret(arg) for arg in typing.get_args(annotation))
    return False


def secret_env_names(settings_cls: type[BaseSettings]) -> dict[str, str]:
    """Field name -> environment variable, for every secret field of `settings_cls`."""
    prefix = str(settings_cls.model_config.get("env_prefix", ""))
    return {
        name: f"{prefix}{name}".upper()
        for name, field in settings_cls.model_fields.items()
        if _is_secret(field.annotation)
    }


MAX_SECRET_BYTES = 64 * 1024
"""Secrets are keys, passwords and tokens: a file larger than this (or /dev/zero) is a wrong path, and
reading it whole would exhaust memory before the error could be said."""


def _read_secret(variable: str, path: str) -> str:
    try:
        data = read_small_file(path, MAX_SECRET_BYTES)  # a FIFO in a secret's place no longer hangs start-up
    except UnreadableFile as exc:
        raise SecretFileError(f"{variable}_FILE: {path} {exc}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise SecretFileError(f"{variable}_FILE: {path} is not UTF-8 text") from None
    secret = text.removesuffix("\n").removesuffix("\r")
    if not secret:
        raise SecretFileError(f"{variable}_FILE: {path} is empty")
    return secret


class SecretFilesSource(PydanticBaseSettingsSource):
    """A settings source (after the environment) reading `<VAR>_FILE` for each secret field."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ reads every secret field at once

    def __call__(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name, variable in secret_env_names(self.settings_cls).items():
            path = os.environ.get(f"{variable}_FILE")
            if not path:
                continue
            if os.environ.get(variable):
                raise SecretFileError(f"set {variable} or {variable}_FILE, not both")
            values[name] = _read_secret(variable, path)
        return values
