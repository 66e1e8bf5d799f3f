"""Benchmark: time the purpose classifier takes per KB of reason, from 1 KB to 64 KB.

The classifier must be linear: the time per KB stays flat as the reason grows. Each shape of reason is
timed uncached (the function under the classifier's cache), best of `--repeats`, at every size:

- `ice-repeated`: "ICE " over and over, the reported worst case (a term hit every four characters);
- `mixed-terms`: a sentence with several terms of every category, repeated;
- `plain-words`: ordinary words with no term at all (the common case);
- `look-alikes`: the mixed sentence written with Cyrillic and Greek look-alike letters.

A shape stops growing once one size takes longer than `--give-up-seconds` (the old, quadratic code did
that on the first shape), and says so. No test asserts these figures; the machine may be shared.

    .venv/bin/python bench/purpose_classifier.py [--max-kb 64] [--repeats 3] [--give-up-seconds 20]
"""

from __future__ import annotations

import argparse
import time

from monitor import purpose

SHAPES = {
    "ice-repeated": "ICE ",
    "mixed-terms": "ICE case per HSI, abortion clinic protest at the church, deportation hold, 287(g) detainer. ",
    "plain-words": "stolen vehicle follow up near the north bridge after the burglary report on Main Street. ",
    "look-alikes": "ІСЕ case per НSІ, аbоrtіоn clinic рrоtеst at the church, dероrtаtіоn hold, іmmіgrаtіоn. ",
}


def reason_of(shape: str, kilobytes: int) -> str:
    """`shape` repeated to exactly `kilobytes` KB of characters."""
    size = kilobytes * 1024
    return (shape * (size // len(shape) + 1))[:size]


def time_once(reason: str, repeats: int) -> float:
    """Best wall time in seconds of classifying `reason` with the cache bypassed."""
    uncached = purpose._classify.__wrapped__
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        uncached(reason)
        best = min(best, time.perf_counter() - started)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max-kb", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--give-up-seconds", type=float, default=20.0)
    args = parser.parse_args()
    sizes = [kb for kb in (1, 2, 4, 8, 16, 32, 64) if kb <= args.max_kb]
    print(f"{'shape':14} {'KB':>4} {'hits':>6} {'ms':>10} {'ms per KB':>10}")
    for name, shape in SHAPES.items():
        for kb in sizes:
            reason = reason_of(shape, kb)
            seconds = time_once(reason, args.repeats)
            hits = len(purpose._classify.__wrapped__(reason))
            print(f"{name:14} {kb:4} {hits:6} {seconds * 1e3:10.2f} {seconds * 1e3 / kb:10.3f}", flush=True)
            if seconds > args.give_up_seconds:
                print(f"{name:14} larger sizes skipped: {kb} KB took over {args.give_up_seconds:g} s")
                break
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
