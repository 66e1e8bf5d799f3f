"""Reference: a Faust agent that does no work, on the worker's stream settings; prints its events/s.

    python bench/faust_ceiling.py BOOTSTRAP TOPIC COUNT

It reads COUNT pre-loaded messages the way the worker's agent does (`noack_take` batches of 1000,
each event acked), judges nothing and sends nothing: the most any Faust-stream worker can do here.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import tempfile
import time
import uuid
from typing import Any

import faust  # noqa: TID251 - the ban is meant for monitor/; this benchmark measures Faust itself


def main(argv: list[str]) -> int:
    bootstrap, topic, count = argv[0], argv[1], int(argv[2])
    app = faust.App(
        f"bench-faust-ceiling-{uuid.uuid4().hex[:8]}",
        broker=f"kafka://{bootstrap}",
        datadir=tempfile.mkdtemp(prefix="faust-ceiling-"),
        key_serializer="raw",
        value_serializer="raw",
        topic_disable_leader=True,
        web_enabled=False,
        consumer_auto_offset_reset="earliest",
        stream_buffer_maxsize=4096,
    )
    state: dict[str, Any] = {"read": 0, "first": None}

    @app.agent(app.topic(topic))
    async def read(stream: Any) -> None:
        async for events in stream.noack_take(1000, within=0.05):
            if state["first"] is None:
                state["first"] = time.perf_counter()
            for event in events:
                await stream.ack(event)
            state["read"] += len(events)
            if state["read"] >= count:
                rate = state["read"] / (time.perf_counter() - state["first"])
                print(f"{rate:.1f}", file=sys.stderr, flush=True)
                os.kill(os.getpid(), signal.SIGTERM)

    worker = faust.Worker(app, loglevel="error", quiet=True, redirect_stdouts=False, override_logging=False)
    with contextlib.suppress(SystemExit):  # mode's Worker always leaves through sys.exit
        worker.execute_from_commandline()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
