"""Reading the inputs with a progress bar: bytes read of the total when the files are plain, else records.

`read_events` opens files itself, so to see how far a large file has been read the audit opens plain
files itself and hands the stream to the format's adapter (the public `Adapter.read`); compressed files,
workbooks, PDFs and standard input go through `read_events` and the bar counts records instead.
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from monitor.ingest import ClosingItems, IngestError, IngestOptions, Item, adapter_named, detect_format, read_events

from ._info import InputFile

if TYPE_CHECKING:
    from rich.progress import Progress as RichProgress
    from rich.progress import TaskID

__all__ = ["Progress", "input_files", "open_items"]

_HEAD = 64 * 1024
_PLAIN_TEXT_EXCLUDES = (b"\x1f\x8b", b"PK\x03\x04", b"%PDF-")  # gzip, XLSX, PDF: read_events handles them
UPDATE_EVERY = 4096  # items between progress updates: rich is not free, and the bar needs no more


def input_files(paths: list[str]) -> list[InputFile]:
    """The inputs with their sizes (None for standard input and anything that is not a regular file)."""
    files = []
    for path in paths:
        size = None
        if path != "-":
            try:
                stat = os.stat(path)
            except OSError:
                stat = None
            if stat is not None and Path(path).is_file():
                size = stat.st_size
        files.append(InputFile(path, size))
    return files


def open_items(path: str, fmt: str | None, options: IngestOptions) -> tuple[Iterator[Item], Callable[[], int] | None]:
    """The items of one input and, for a plain file, a function telling how many of its bytes were read."""
    if path == "-" or not Path(path).is_file():
        return read_events(path, fmt, options), None
    try:
        stream = io.BufferedReader(io.FileIO(path, "r"), _HEAD)  # closed when the items are done
    except OSError as exc:
        raise IngestError(f"{path}: cannot be opened ({exc.strerror})") from None
    try:
        head = stream.peek(_HEAD)[:_HEAD]  # a BufferedReader: peeking does not consume
        if head.startswith(_PLAIN_TEXT_EXCLUDES):
            stream.close()
            return read_events(path, fmt, options), None
        adapter = adapter_named(fmt) if fmt is not None else detect_format(path, head)
        items = adapter.read(stream, path, options)
    except BaseException:
        stream.close()
        raise
    return ClosingItems(items, [stream], path), stream.tell


class Progress:
    """A transient progress bar on standard error, shown only when standard error is a terminal."""

    def __init__(self, total_bytes: int | None, *, enabled: bool | None = None) -> None:
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self._total = total_bytes
        self._done_bytes = 0  # bytes of the files already finished
        self._records = 0
        self._progress: RichProgress | None = None
        self._task: TaskID | None = None

    def __enter__(self) -> Progress:
        if not self.enabled:
            return self
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            ProgressColumn,
            TaskProgressColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        console = Console(file=sys.stderr)
        columns: tuple[ProgressColumn, ...]
        if self._total:
            columns = (
                TextColumn("auditing"),
                BarColumn(),
                TaskProgressColumn(),
                DownloadColumn(),
                TextColumn("{task.fields[records]} records"),
                TimeRemainingColumn(),
            )
        else:
            columns = (TextColumn("auditing"), TextColumn("{task.fields[records]} records"), TimeElapsedColumn())
        from rich.progress import Progress as RichProgress

        progress = RichProgress(*columns, console=console, transient=True)
        progress.start()
        task = progress.add_task("audit", total=self._total, records="0")
        self._progress, self._task = progress, task
        return self

    def advance(self, records: int, position: int | None) -> None:
        """Records read so far in the current file, and its bytes read when known."""
        if self._progress is None or self._task is None:
            return
        shown = f"{self._records + records:,}"
        if position is not None and self._total:
            self._progress.update(self._task, completed=self._done_bytes + position, records=shown)
        else:
            self._progress.update(self._task, records=shown)

    def file_done(self, records: int, size: int | None) -> None:
        """One file finished: its records and bytes count towards the rest."""
        self._records += records
        self._done_bytes += size or 0
        self.advance(0, 0)

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = self._task = None
