"""Reading a small configuration or secret file that someone may have replaced with something else.

Policy, endpoints and secret files are a few KB at most. Put a FIFO in their place and `open()` waits for a
writer forever (the running worker polls its policy file on the event loop); put `/dev/zero` or a huge file
there and reading it whole exhausts memory before any error is said. So: open without waiting, require a
regular file, read at most `limit` bytes plus one to tell "too large".
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

__all__ = ["UnreadableFile", "read_small_file"]


class UnreadableFile(Exception):
    """Why the file cannot be used, worded to follow its name: "is not a regular file"."""


def read_small_file(path: str | Path, limit: int) -> bytes:
    """The file's bytes, or `UnreadableFile`: never blocks, never reads more than `limit` + 1 bytes."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO opens at once instead of waiting for a writer
        with os.fdopen(fd, "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                raise UnreadableFile("is not a regular file")
            data = handle.read(limit + 1)
    except OSError as exc:
        raise UnreadableFile(f"cannot be read: {exc.strerror or type(exc).__name__}") from None
    if len(data) > limit:
        raise UnreadableFile(f"is larger than {limit} bytes")
    return data
