"""Benchmark: `alpr-monitor audit` over a synthetic 1,000,000-row Flock network audit.

Writes the CSV to a temporary directory (monitor.ingest.synthetic, fixed seed), then runs the audit in a
subprocess, exactly as a user would, and prints the wall time, the CPU time and the peak resident memory
of the audit (the largest of its processes). Target: under 60 s with memory that does not grow with the
input. `--sequential` runs the same audit on one core (no forked reader) for comparison.

    .venv/bin/python bench/audit_million.py [--rows 1000000] [--sequential] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from monitor.ingest.synthetic import generate_flock_network_audit

OWNER, OWNER_STATE = "Oakland CA PD", "CA"


def _sequential_child(path: str, out: str) -> int:
    """The audit without the forked reader (what `audit` does for small inputs), for comparison."""
    from monitor.audit import AuditRun
    from monitor.engine import load_engine
    from monitor.events import Owner
    from monitor.hashing import Pseudonymizer
    from monitor.ingest import IngestOptions

    engine = load_engine(None, Pseudonymizer(os.environ["ALPR_PSEUDONYM_KEY"].encode()))
    run = AuditRun(engine, Path(out), parallel=False, progress=False)
    run.audit_files([path], None, IngestOptions(owner=Owner(agency=OWNER, state=OWNER_STATE)))
    return run.finish().exit_status


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=2025)
    parser.add_argument("--sequential", action="store_true", help="audit on one core, without the forked reader")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory and print its path")
    parser.add_argument("--child-sequential", nargs=2, metavar=("CSV", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_sequential:
        return _sequential_child(*args.child_sequential)

    work = Path(tempfile.mkdtemp(prefix="alpr-audit-bench-"))
    try:
        csv_path, out = work / "network-audit.csv", work / "out"
        started = time.perf_counter()
        stats = generate_flock_network_audit(csv_path, args.rows, args.seed, malformed_rate=0.0005)
        size = csv_path.stat().st_size
        print(f"generated {stats.records:,} rows ({stats.copies:,} export copies, {stats.malformed:,} malformed), "
              f"{size / 1e6:,.1f} MB in {time.perf_counter() - started:.1f} s")  # fmt: skip

        env = {**os.environ, "ALPR_PSEUDONYM_KEY": "benchmark-key-0123456789abcdef"}
        if args.sequential:
            command = [sys.executable, __file__, "--child-sequential", str(csv_path), str(out)]
        else:
            command = [sys.executable, "-m", "cli", "audit", str(csv_path), "--owner", OWNER,
                       "--owner-state", OWNER_STATE, "--out", str(out)]  # fmt: skip
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        completed = subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
        wall = time.perf_counter() - started
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        if completed.returncode not in (0, 1):
            print(completed.stderr.decode(errors="replace"), file=sys.stderr)
            print(f"audit failed with exit status {completed.returncode}", file=sys.stderr)
            return 2
        cpu = (usage.ru_utime - before.ru_utime) + (usage.ru_stime - before.ru_stime)
        figures = json.loads((out / "summary.json").read_text())
        totals = figures["totals"]
        outputs = {path.name: path.stat().st_size for path in sorted(out.iterdir())}
        mode = "sequential (one core)" if args.sequential else "alpr-monitor audit (forked reader)"
        print(f"mode: {mode}")
        print(f"records {totals['records']:,}: events {totals['events']:,} ({totals['alerted']:,} with findings), "
              f"invalid {totals['invalid']:,}, skipped {totals['skipped']:,}; alerts {totals['alerts']:,}; "
              f"totals add up: {totals['consistent']}")  # fmt: skip
        print(f"wall time: {wall:.1f} s ({totals['records'] / wall:,.0f} records/s); CPU time: {cpu:.1f} s; "
              f"load average: {os.getloadavg()[0]:.2f}")  # fmt: skip
        # ru_maxrss is in KiB on Linux: the peak of the largest process among the waited-for children.
        print(f"peak RSS: {usage.ru_maxrss / 1024:,.0f} MiB")
        print("outputs: " + ", ".join(f"{name} {size / 1e6:,.1f} MB" for name, size in outputs.items()))
        print(f"target: under 60 s -> {'met' if wall < 60 else 'NOT met'}")
    finally:
        if args.keep:
            print(f"kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
