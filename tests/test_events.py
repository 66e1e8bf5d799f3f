"""The v1 access-event model: strict decoding and errors that name the record and the field."""

from __future__ import annotations

import json

import pytest

from monitor.events import MAX_EVENT_BYTES, EventError, decode_event, encode_event


def _event(**changes: object) -> dict[str, object]:
    event: dict[str, object] = {
        "event_id": "ev-1",
        "event_type": "query",
        "occurred_at": "2025-04-22T17:03:11Z",
        "owner": {"agency": "Oakland CA PD", "ori": "CA0010900", "state": "CA"},
        "requester": {"agency": "California Highway Patrol", "user": "u-123"},
        "query": {"plate": "7ABC123", "reason": "ICE case", "devices_searched": 120},
    }
    event.update(changes)
    return event


def _raw(event: dict[str, object]) -> bytes:
    return json.dumps(event).encode()


class TestDecodeEvent:
    def test_contract_example_decodes(self) -> None:
        """The contract's example event decodes with every field in place."""
        event = decode_event(_raw(_event()))
        assert event.owner.agency == "Oakland CA PD"
        assert event.query is not None
        assert event.query.devices_searched == 120
        assert event.occurred_at.utcoffset() is not None

    def test_round_trip(self) -> None:
        """Encoding then decoding gives the same event."""
        event = decode_event(_raw(_event()))
        assert decode_event(encode_event(event)) == event

    def test_unknown_fields_are_tolerated(self) -> None:
        """Producers may add optional fields without a contract version change."""
        event = decode_event(_raw(_event(future_field={"x": 1})))
        assert event.event_id == "ev-1"

    def test_sharing_change_decodes(self) -> None:
        """A sharing change carries its action, approval mode and batch size."""
        raw = _event(
            event_type="sharing_change",
            query=None,
            sharing={"action": "approve_request", "approval_mode": "group", "batch_size": 312},
        )
        event = decode_event(_raw(raw))
        assert event.sharing is not None
        assert event.sharing.batch_size == 312
        assert event.sharing.direction == "outbound"

    @pytest.mark.parametrize(
        ("change", "field"),
        [
            ({"owner": {"agency": ""}}, "$.owner.agency"),
            ({"occurred_at": "2025-04-22T17:03:11"}, "$.occurred_at"),
            ({"event_type": "delete"}, "$.event_type"),
            ({"query": {"devices_searched": "120"}}, "$.query.devices_searched"),
            ({"query": {"networks_searched": -1}}, "$.query.networks_searched"),
            ({"query": None}, "$.query"),
            ({"requester": {}}, "$.requester"),
            ({"event_id": "x" * 129}, "$.event_id"),
        ],
    )
    def test_invalid_field_is_named(self, change: dict[str, object], field: str) -> None:
        """A bad field is reported with its JSON path and the event id."""
        with pytest.raises(EventError) as caught:
            decode_event(_raw(_event(**change)))
        assert caught.value.reason == "invalid_field"
        assert caught.value.field == field
        expected_id = None if "event_id" in change else "ev-1"
        assert caught.value.event_id == expected_id

    def test_missing_required_field(self) -> None:
        """A missing required field is named."""
        event = _event()
        del event["occurred_at"]
        with pytest.raises(EventError) as caught:
            decode_event(_raw(event))
        assert "occurred_at" in caught.value.detail

    @pytest.mark.parametrize(
        ("raw", "reason"),
        [
            (b"{not json", "invalid_json"),
            (b"\xff\xfe\x00", "invalid_encoding"),
            (b'{"event_id": "a", "requester": {"agency": "Caf\xe9 PD"}}', "invalid_encoding"),
            (b"[1, 2]", "invalid_field"),
        ],
    )
    def test_unreadable_input(self, raw: bytes, reason: str) -> None:
        """Bytes that are not JSON, not UTF-8, or not an object are told apart."""
        with pytest.raises(EventError) as caught:
            decode_event(raw)
        assert caught.value.reason == reason

    def test_oversize_input(self) -> None:
        """An event larger than the limit is refused before parsing."""
        with pytest.raises(EventError) as caught:
            decode_event(b" " * (MAX_EVENT_BYTES + 1))
        assert caught.value.reason == "oversize"
