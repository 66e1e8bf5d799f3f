"""Reference: the worker's own Faust app with a judge that finds nothing; prints its events/s.

    python bench/faust_ceiling.py BOOTSTRAP TOPIC COUNT

Built by `streams.app.create_app` exactly as `alpr-monitor worker` builds it (same consumer,
same batch code, events decoded), but the engine is replaced by one that returns no alert: the
difference from the worker's figure is what the engine costs, and this figure is the most the
Faust-based worker can reach on this machine however fast the engine gets.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import tempfile
import time
import uuid
from pathlib import Path

import faust

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from monitor.alerts import Alert  # noqa: E402
from monitor.events import AccessEvent  # noqa: E402
from monitor.settings import Settings  # noqa: E402
from streams.app import create_app  # noqa: E402
from streams.batch import BatchResult  # noqa: E402


class NoAlerts:
    """A judge that finds nothing, instantly."""

    def judge(self, event: AccessEvent) -> list[Alert]:
        return []


def main(argv: list[str]) -> int:
    bootstrap, topic, count = argv[0], argv[1], int(argv[2])
    settings = Settings.model_validate(
        {
            "broker": f"kafka://{bootstrap}",
            "input_topic": topic,
            "alerts_topic": f"{topic}.ceiling-alerts",
            "dlq_topic": f"{topic}.ceiling-dlq",
            "app_id": f"bench-faust-ceiling-{uuid.uuid4().hex[:8]}",
            "data_dir": tempfile.mkdtemp(prefix="faust-ceiling-"),
        }
    )
    judge = NoAlerts()
    state = {"read": 0, "first": 0.0}

    def on_batch(result: BatchResult) -> None:
        if not state["read"]:
            state["first"] = time.perf_counter()
            state["at_first"] = result.read
        state["read"] += result.read
        if state["read"] >= count:
            rate = (state["read"] - state["at_first"]) / (time.perf_counter() - state["first"])
            print(f"{rate:.1f}", file=sys.stderr, flush=True)
            os.kill(os.getpid(), signal.SIGTERM)

    app = create_app(settings, lambda: judge, on_batch=on_batch)
    worker = faust.Worker(app, loglevel="error", quiet=True, redirect_stdouts=False, override_logging=False)
    with contextlib.suppress(SystemExit):  # mode's Worker always leaves through sys.exit
        worker.execute_from_commandline()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
