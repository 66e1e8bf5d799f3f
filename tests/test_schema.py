"""The committed JSON Schema files match the models they are generated from."""

from __future__ import annotations

from pathlib import Path

from monitor.schema import render_schemas

SCHEMA_DIR = Path(__file__).resolve().parents[1] / "schemas"


class TestCommittedSchemas:
    def test_schemas_are_current(self) -> None:
        """Every schema file equals what the models generate now (run `make schemas` after a model change)."""
        for name, text in render_schemas().items():
            committed = (SCHEMA_DIR / name).read_text(encoding="utf-8")
            assert committed == text, f"schemas/{name} is stale: run `make schemas`"

    def test_event_schema_requires_contract_fields(self) -> None:
        """The event schema lists the contract's required fields."""
        import json

        schema = json.loads(render_schemas()["access-event.v1.schema.json"])
        event = schema["$defs"]["AccessEvent"]
        assert set(event["required"]) == {"event_id", "event_type", "occurred_at", "owner", "requester"}
