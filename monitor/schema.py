"""JSON Schema files for the v1 event and alert, generated from the models (committed under schemas/)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec

from monitor.alerts import Alert
from monitor.events import AccessEvent

__all__ = ["SCHEMAS", "render_schemas", "write_schemas"]

SCHEMAS: dict[str, type[msgspec.Struct]] = {
    "access-event.v1.schema.json": AccessEvent,
    "alert.v1.schema.json": Alert,
}


def _schema(model: type[msgspec.Struct], title: str) -> dict[str, Any]:
    schema = msgspec.json.schema(model)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": title, **schema}


def render_schemas() -> dict[str, str]:
    """File name to schema text, as it must be committed."""
    return {
        name: json.dumps(_schema(model, f"ALPR monitor contract v1: {model.__name__}"), indent=2, sort_keys=True) + "\n"
        for name, model in SCHEMAS.items()
    }


def write_schemas(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in render_schemas().items():
        path = folder / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
