"""One bounded, non-blocking reader for policy, endpoints and secret files."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from monitor.secret_files import SecretFileError
from monitor.small_files import UnreadableFile, read_small_file


def _in_thread(target: object) -> BaseException | None:
    """Run `target` in a thread; the exception it raised, or a RuntimeError if it is still blocked after 10 s."""
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            target()  # type: ignore[operator]
            outcome.append(None)
        except BaseException as exc:  # handed back to the test
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(10)
    return outcome[0] if outcome else RuntimeError("still blocked")


class TestReadSmallFile:
    def test_reads_a_regular_file(self, tmp_path: Path) -> None:
        """A small regular file comes back whole."""
        path = tmp_path / "f"
        path.write_bytes(b"owners: []\n")
        assert read_small_file(path, 100) == b"owners: []\n"

    def test_refuses_a_file_over_the_limit(self, tmp_path: Path) -> None:
        """One byte over the limit is refused, saying the limit."""
        path = tmp_path / "f"
        path.write_bytes(b"x" * 101)
        with pytest.raises(UnreadableFile, match="is larger than 100 bytes"):
            read_small_file(path, 100)

    def test_refuses_a_fifo_without_waiting(self, tmp_path: Path) -> None:
        """A FIFO with no writer is refused at once instead of blocking the reader."""
        fifo = tmp_path / "fifo"
        os.mkfifo(fifo)
        error = _in_thread(lambda: read_small_file(fifo, 100))
        assert isinstance(error, UnreadableFile)
        assert "not a regular file" in str(error)

    def test_secret_file_that_is_a_fifo_is_refused(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """A `*_FILE` secret replaced by a FIFO no longer hangs start-up: it is refused naming the variable."""
        from monitor.settings import Settings

        fifo = tmp_path / "key"
        os.mkfifo(fifo)
        monkeypatch.setenv("ALPR_PSEUDONYM_KEY_FILE", str(fifo))
        error = _in_thread(Settings)
        assert isinstance(error, SecretFileError)
        assert "ALPR_PSEUDONYM_KEY_FILE" in str(error)
