"""Logs: one structured format for our events and the libraries', with identifiers masked."""

from __future__ import annotations

import json
import logging

import pytest
import structlog

from monitor.logging import configure_logging, mask_identifiers


class TestLogging:
    def test_identifying_keys_are_masked(self) -> None:
        """A plate or user logged by mistake is masked; hashes pass."""
        event = mask_identifiers(None, "info", {"plate": "7ABC123", "user": "jones", "plate_hash": "p:1"})
        assert event == {"plate": "[masked]", "user": "[masked]", "plate_hash": "p:1"}

    def test_json_lines_for_ours_and_library_logs(self, capsys: pytest.CaptureFixture[str]) -> None:
        """With JSON output, our events and a library's standard-library log both come out as JSON objects."""
        configure_logging("json", "INFO")
        try:
            structlog.get_logger("test").info("policy_loaded", version="abc", plate="7ABC123")
            logging.getLogger("aiokafka").warning("fetch failed for %s", "partition 0")
            lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
        finally:
            structlog.reset_defaults()
            logging.getLogger().handlers.clear()
        assert lines[0]["event"] == "policy_loaded"
        assert lines[0]["plate"] == "[masked]"
        assert lines[1] == {**lines[1], "event": "fetch failed for partition 0", "logger": "aiokafka"}
        assert "7ABC123" not in json.dumps(lines)
