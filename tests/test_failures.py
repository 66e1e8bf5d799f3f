"""failure_of: any exception from decoding or judging one message becomes a typed dead-letter reason."""

from __future__ import annotations

from typing import Literal

import msgspec
import pytest

from monitor.events import EventError, decode_event
from monitor.failures import ENGINE_ERROR, REASONS, failure_of


def _raised(exc: BaseException) -> BaseException:
    try:
        raise exc
    except BaseException as caught:
        return caught


def _validation_error() -> msgspec.ValidationError:
    try:
        msgspec.json.decode(b'{"a": "7ABC123"}', type=dict[str, Literal["grant"]])
    except msgspec.ValidationError as exc:
        return exc
    raise AssertionError("no error")


class TestFailureOf:
    @pytest.mark.parametrize(
        ("exc", "reason"),
        [
            (UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"), "invalid_encoding"),
            (RecursionError("maximum recursion depth exceeded"), "invalid_json"),
            (msgspec.DecodeError("JSON is malformed"), "invalid_json"),
            (MemoryError(), "oversize"),
            (KeyError("plate 7ABC123 of jsmith"), ENGINE_ERROR),
            (OverflowError("date value out of range"), ENGINE_ERROR),
        ],
    )
    def test_decode_stage_reasons(self, exc: BaseException, reason: str) -> None:
        """Reader errors map to the producer's reasons; anything else is engine_error."""
        failure = failure_of(_raised(exc), "decode", event_id="e-1")
        assert (failure.reason, failure.event_id) == (reason, "e-1")
        assert failure.reason in REASONS
        assert failure.__cause__ is not None

    def test_validation_error_is_masked(self) -> None:
        """A reader message quoting a value shows its shape only."""
        failure = failure_of(_validation_error(), "decode")
        assert failure.reason == "invalid_field"
        assert "7ABC123" not in str(failure)
        assert "of shape '9AAA999'" in failure.detail

    @pytest.mark.parametrize("exc", [KeyError("7ABC123"), RecursionError("x"), ValueError("user jsmith")])
    def test_judge_stage_is_engine_error_without_the_message(self, exc: BaseException) -> None:
        """Any exception while judging is engine_error naming the type and site, never the message's text."""
        failure = failure_of(_raised(exc), "judge", event_id="e-2")
        assert failure.reason == ENGINE_ERROR
        assert failure.detail.startswith(type(exc).__name__ + " at ")
        assert "7ABC123" not in str(failure)
        assert "jsmith" not in str(failure)

    def test_event_error_passes_through_with_the_id(self) -> None:
        """An EventError keeps its reason and field and gains the event id when it had none."""
        with pytest.raises(EventError) as caught:
            decode_event(b"{oops")
        failure = failure_of(caught.value, "decode", event_id="e-3")
        assert (failure.reason, failure.event_id) == ("invalid_json", "e-3")
        assert failure_of(failure, "decode") is failure
