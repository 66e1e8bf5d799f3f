"""The v1 access-event model: strict decoding and errors that name the record and the field."""

from __future__ import annotations

import json
import random

import pytest

from monitor.events import MAX_COUNT, MAX_DEPTH, MAX_EVENT_BYTES, EventError, decode_event, encode_event


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


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


class TestHostileInput:
    @pytest.mark.parametrize("depth", [33, 200, 1_000, 5_000, 20_000])
    @pytest.mark.parametrize("where", ["extra", "query"])
    def test_deep_nesting_is_an_event_error(self, depth: int, where: str) -> None:
        """Nesting past MAX_DEPTH in any field is a clear error naming the record, never RecursionError."""
        raw = _raw(_event()).replace(
            b'"event_id": "ev-1",', f'"event_id": "ev-1", "{where}": {_nested(depth)},'.encode()
        )
        with pytest.raises(EventError) as caught:
            decode_event(raw)
        error = caught.value
        if where == "query":
            # The typed reader sees an array where an object belongs before it recurses; either way a clear error.
            assert error.reason in ("invalid_field", "invalid_json")
        else:
            assert error.reason == "invalid_json"
            assert "nested deeper than" in error.detail
            assert error.field is not None
            assert error.field.startswith("$.<aaaaa>[0]")
        assert error.event_id == "ev-1"

    def test_nesting_within_the_limit_is_accepted(self) -> None:
        """An unknown field nested up to the limit still decodes (unknown fields are allowed)."""
        raw = _raw(_event()).replace(
            b'"event_id": "ev-1",', f'"event_id": "ev-1", "x": {_nested(MAX_DEPTH - 1)},'.encode()
        )
        assert decode_event(raw).event_id == "ev-1"

    def test_deep_nesting_in_an_invalid_event_is_still_an_event_error(self) -> None:
        """A bad enum value before deep nesting gives the field error and the id, never RecursionError."""
        raw = _raw(_event(event_type="bogus"))[:-1] + f', "x": {_nested(3000)}}}'.encode()
        with pytest.raises(EventError) as caught:
            decode_event(raw)
        assert (caught.value.field, caught.value.event_id) == ("$.event_type", "ev-1")

    @pytest.mark.parametrize(
        ("raw", "field"),
        [
            (
                b'{"event_id": "d", "requester": {"agency": "FBI"}, "requester": {"agency": "Alameda County CA SO"}',
                "$.requester",
            ),
            (
                b'{"event_id": "d", "requester": {"agency": "FBI", "agency": "Alameda County CA SO"}',
                "$.requester.agency",
            ),
            (b'{"event_id": "d", "event_id": "e"', "$.event_id"),
            (b'{"event_id": "d", "x": [{"k": 1}, {"k": 1, "k": 2}]', "$.<a>[1].<a>"),
        ],
    )
    def test_duplicate_keys_are_refused(self, raw: bytes, field: str) -> None:
        """A key repeated in one object, at any depth, is an invalid field: the last copy must not silently win."""
        rest = (
            b', "event_type": "query", "occurred_at": "2025-04-22T17:03:11Z", "owner": {"agency": "Oakland CA PD"},'
            b' "query": {"reason": "x"}}'
        )
        if b'"requester"' not in raw:
            rest = rest[:-1] + b', "requester": {"agency": "FBI"}}'
        with pytest.raises(EventError) as caught:
            decode_event(raw + rest)
        assert caught.value.reason == "invalid_field"
        assert caught.value.field == field
        assert caught.value.event_id == "d"

    def test_duplicate_keys_found_behind_escapes_and_spacing(self) -> None:
        """Escaped text and odd spacing do not hide a duplicate key from the check."""
        raw = (
            b'{"event_id" : "\\u0064", "event_type":"query","occurred_at":"2025-04-22T17:03:11Z",'
            b'"owner":{"agency":"Oakland CA PD"},"requester" :{"agency":"FBI"},"query":{"reason":"a \\": b"},'
            b'"requester":{"agency":"Alameda County CA SO"}}'
        )
        with pytest.raises(EventError) as caught:
            decode_event(raw)
        assert caught.value.field == "$.requester"

    def test_same_key_in_different_objects_is_fine(self) -> None:
        """`agency` in both owner and requester is not a duplicate."""
        assert decode_event(_raw(_event())).requester.agency == "California Highway Patrol"

    @pytest.mark.parametrize(
        ("change", "field"),
        [
            ({"query": {"devices_searched": 10**30}}, "$.query.devices_searched"),
            ({"query": {"networks_searched": MAX_COUNT + 1}}, "$.query.networks_searched"),
            ({"query": {"plate": "7" * 65}}, "$.query.plate"),
            ({"requester": {"agency": "X", "user": "u" * 513}}, "$.requester.user"),
            ({"owner": {"agency": "X", "ori": "C" * 65}}, "$.owner.ori"),
        ],
    )
    def test_counts_and_lengths_are_bounded(self, change: dict[str, object], field: str) -> None:
        """Counts beyond MAX_COUNT and over-long identifiers are invalid fields, not accepted as data."""
        with pytest.raises(EventError) as caught:
            decode_event(_raw(_event(**change)))
        assert (caught.value.reason, caught.value.field) == ("invalid_field", field)

    def test_a_long_reason_is_judged_not_refused(self) -> None:
        """A reason is bounded only by the event size, so padding a reason cannot turn an alert into a dead letter."""
        event = decode_event(_raw(_event(query={"reason": "ICE " * 10_000})))
        assert event.query is not None
        assert event.query.reason is not None

    @pytest.mark.parametrize(
        ("change", "field"),
        [
            ({"occurred_at": "0001-01-01T00:00:00+05:00"}, "$.occurred_at"),
            ({"occurred_at": "9999-12-31T23:59:59-05:00"}, "$.occurred_at"),
            ({"occurred_at": "1969-12-31T23:59:59Z"}, "$.occurred_at"),
            ({"query": {"time_frame_start": "0001-01-01T00:00:00+05:00"}}, "$.query.time_frame_start"),
            ({"query": {"time_frame_end": "9999-12-31T23:59:59-05:00"}}, "$.query.time_frame_end"),
        ],
    )
    def test_times_outside_the_years_bound_are_invalid(self, change: dict[str, object], field: str) -> None:
        """A time outside 1970..2100 is an invalid field with the bound in the reason."""
        with pytest.raises(EventError) as caught:
            decode_event(_raw(_event(**change)))
        assert (caught.value.reason, caught.value.field, caught.value.event_id) == ("invalid_field", field, "ev-1")
        assert "outside 1970..2100" in caught.value.detail

    @pytest.mark.parametrize(
        ("change", "secret"),
        [
            ({"event_type": "7ABC123"}, "7ABC123"),
            ({"event_type": "jsmith"}, "jsmith"),
            ({"event_type": "Жуков"}, "Жуков"),
            ({"event_type": "sharing_change", "query": None, "sharing": {"action": "8XYZ999"}}, "8XYZ999"),
            (
                {"event_type": "sharing_change", "query": None, "sharing": {"action": "grant", "direction": "mjones"}},
                "mjones",
            ),
        ],
    )
    def test_error_text_never_quotes_a_value(self, change: dict[str, object], secret: str) -> None:
        """A plate or a name in an enum field is shown by its shape in the detail, never as given."""
        with pytest.raises(EventError) as caught:
            decode_event(_raw(_event(**change)))
        assert secret not in str(caught.value)
        assert "of shape" in caught.value.detail

    def test_vocabulary_is_still_quoted(self) -> None:
        """v1 vocabulary in a message (the event type that needs a query) is quoted as is."""
        with pytest.raises(EventError) as caught:
            decode_event(_raw(_event(query=None)))
        assert "'query'" in caught.value.detail

    @pytest.mark.parametrize(
        "raw",
        [
            b"",
            b"{",
            b'{"a":' * 5000,
            b"[" * 60_000,
            b'"' + b'\\"' * 20_000,
            b"\x00\xff" * 100,
            b'{"event_id": "\xed\xa0\x80"}',
            b"1e999999",
            b'{"event_id": 1' + b"0" * 5000 + b"}",
        ],
    )
    def test_any_bytes_give_an_event_error(self, raw: bytes) -> None:
        """Whatever the bytes, decoding raises EventError and nothing else."""
        with pytest.raises(EventError):
            decode_event(raw)


class TestDuplicateKeyFuzz:
    def test_random_documents_with_and_without_duplicates(self) -> None:
        """Random nesting, spacing, escapes and non-ASCII: a repeated key is always found, and only then."""
        rng = random.Random(8)
        keys = ["a", "b", "agency", 'x"y', "é", "q:", " k ", '"']

        def text(value: str) -> str:
            return json.dumps(value, ensure_ascii=rng.random() < 0.5)

        def document(depth: int, duplicate: list[bool]) -> str:
            if depth > 3 or rng.random() < 0.3:
                return rng.choice([text(rng.choice(keys)), "1", "null", "[1, 2]", text('a ": b')])
            if rng.random() < 0.2:
                return "[" + ", ".join(document(depth + 1, duplicate) for _ in range(rng.randint(0, 3))) + "]"
            names = rng.sample(keys, rng.randint(1, 4))
            if not duplicate[0] and rng.random() < 0.3:
                names.append(rng.choice(names))
                duplicate[0] = True
            space = rng.choice(["", " ", "\n\t"])
            pairs = [f"{text(name)}{space}:{space}{document(depth + 1, duplicate)}" for name in names]
            return "{" + f",{space}".join(pairs) + "}"

        seen = {True: 0, False: 0}
        for _ in range(1_500):
            duplicate = [False]
            extra = document(1, duplicate)
            raw = json.dumps(_event()).replace('"event_id": "ev-1",', f'"event_id": "ev-1", "extra": {extra},')
            seen[duplicate[0]] += 1
            if duplicate[0]:
                with pytest.raises(EventError) as caught:
                    decode_event(raw.encode())
                assert caught.value.reason == "invalid_field", raw
            else:
                assert decode_event(raw.encode()).event_id == "ev-1"
        assert min(seen.values()) > 100
