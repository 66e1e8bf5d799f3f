"""YAML reading for packs, policies and endpoint files: always a safe loader, libyaml's when present."""

from __future__ import annotations

from typing import Any

import yaml

__all__ = ["YAMLError", "safe_load"]

YAMLError = yaml.YAMLError
# CSafeLoader is the same safe subset as SafeLoader, parsed in C: several times faster at start-up.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def safe_load(text: str | bytes) -> Any:
    """Parse YAML into plain Python values; no tags that build objects."""
    return yaml.load(text, Loader=_LOADER)  # noqa: S506 - _LOADER is a safe loader
