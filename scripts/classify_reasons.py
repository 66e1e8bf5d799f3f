"""Run the purpose classifier over one column of a CSV export and say what fired.

    python scripts/classify_reasons.py ../shared/data/flock-portal-search-audit-eugene-2025.csv [--column reason]

Only the chosen column is read, so user ids never reach the output. Reasons can embed plates and
case numbers (vendor text such as "Alert: Stolen Vehicle <plate> - <time>"): tokens of four or more
characters that contain a digit, and ISO timestamps, are masked unless --show-identifiers is given.
"""

from __future__ import annotations

import argparse
import csv
import re
import statistics
import sys
import timeit
from collections import Counter
from functools import partial
from pathlib import Path

from monitor.purpose import PurposeCategory, classify_purpose, is_redacted
from monitor.purpose import _classify as _classify_cached  # timing needs the worker under the cache

_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}[T ][\d:.]+Z?")
_IDENTIFIER = re.compile(r"(?<![^\W_])(?=[^\W_]*\d)[^\W_]{4,}(?![^\W_])")


def mask(reason: str) -> str:
    """Hide timestamps and digit-bearing tokens (plates, case numbers) of four or more characters."""
    return _IDENTIFIER.sub("<id>", _TIMESTAMP.sub("<time>", reason))


def read_column(path: Path, column: str) -> list[str | None]:
    """The column's values; a header may carry a leading space, as in real Flock exports."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        fields = {name.strip(): name for name in reader.fieldnames or ()}
        if column not in fields:
            message = f"column {column!r} not in {path}; columns are {sorted(fields)}"
            raise SystemExit(message)
        return [row.get(fields[column]) for row in reader]


def timing(values: list[str | None]) -> None:
    """Print microseconds per call: uncached (per distinct reason, best of 5) and cached (per row, a warm pass)."""
    distinct = [v for v in dict.fromkeys(values) if v is not None]
    rows = [v for v in values if v is not None]
    raw = _classify_cached.__wrapped__  # the function under the lru_cache
    per_reason = sorted(min(timeit.repeat(partial(raw, r), number=20, repeat=5)) / 20 * 1e6 for r in distinct)

    def cached_pass() -> None:
        for reason in rows:
            classify_purpose(reason)

    cached_pass()  # warm the cache
    per_row = statistics.median(timeit.repeat(cached_pass, number=1, repeat=9)) / len(rows) * 1e6
    p95 = per_reason[int(0.95 * (len(per_reason) - 1))]
    print(
        f"\ntiming: uncached median {statistics.median(per_reason):.1f} us, mean {statistics.mean(per_reason):.1f}, "
        f"p95 {p95:.1f}, max {per_reason[-1]:.1f} ({len(distinct)} distinct reasons); "
        f"cached {per_row:.2f} us per call ({len(rows)} rows)"
    )


def report(values: list[str | None], show_identifiers: bool, top: int) -> None:
    shown = (lambda r: r) if show_identifiers else mask
    rows_by_category: Counter[str] = Counter()
    hits_by_term: Counter[tuple[str, str, str]] = Counter()
    fired: dict[str, Counter[str]] = {c.value: Counter() for c in PurposeCategory}
    redacted = no_hit = 0
    for value in values:
        hits = classify_purpose(value)
        if not hits:
            if is_redacted(value):
                redacted += 1
            else:
                no_hit += 1
            continue
        for kind in {f"{h.category.value}/{h.certainty.value}" for h in hits}:
            rows_by_category[kind] += 1
        for hit in hits:
            hits_by_term[(hit.category.value, hit.term, hit.certainty.value)] += 1
        for category_value in {h.category.value for h in hits}:
            fired[category_value][shown(value or "")] += 1

    total = len(values)
    print(f"rows: {total}; distinct reasons: {len(set(values))}")
    print(f"no hit (informative): {no_hit} ({no_hit / total:.1%}); redacted: {redacted}")
    print("\nrows per category/certainty (a row may count in several):")
    for key, count in sorted(rows_by_category.items()):
        print(f"  {key:32} {count:6}  {count / total:6.1%}")
    print("\nhits per term:")
    for (category, term, certainty), count in sorted(hits_by_term.items()):
        print(f"  {category:20} {term:22} {certainty:6} {count:6}")
    for purpose in PurposeCategory:
        counter = fired[purpose.value]
        if not counter:
            print(f"\n{purpose.value}: nothing fired")
            continue
        print(f"\n{purpose.value}: {sum(counter.values())} rows, {len(counter)} distinct reasons (top {top}):")
        for reason, count in counter.most_common(top):
            print(f"  {count:6}  {reason!r}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path)
    parser.add_argument("--column", default="reason")
    parser.add_argument("--top", type=int, default=40, help="distinct reasons shown per category")
    parser.add_argument("--show-identifiers", action="store_true", help="do not mask plates and case numbers")
    parser.add_argument("--timing", action="store_true", help="also print median microseconds per call")
    args = parser.parse_args(argv)
    if "user" in args.column.lower():
        parser.error("refusing to read a user column: user names and ids stay out of reports")
    values = read_column(args.path, args.column)
    if not values:
        parser.error(f"{args.path} has no rows")
    report(values, args.show_identifiers, args.top)
    if args.timing:
        timing(values)
    return 0


if __name__ == "__main__":
    sys.exit(main())
