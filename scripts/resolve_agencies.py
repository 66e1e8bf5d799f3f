"""Resolve every distinct agency name in the shared Flock data and report what the resolver makes of them.

    .venv/bin/python scripts/resolve_agencies.py                       # shares per class
    .venv/bin/python scripts/resolve_agencies.py --sample 100 --seed 7 --out /tmp/sample.csv
    .venv/bin/python scripts/resolve_agencies.py --sample 100 --irregular  # only names not "<Place> <ST> PD|SO"
    .venv/bin/python scripts/resolve_agencies.py --timeit              # cached and uncached speed
    .venv/bin/python scripts/resolve_agencies.py --labelled tests/data/agency_names_labelled.tsv

Names come from flock-sharing-graph-2024.csv (src_agency, external_agency) and
flock-recipients-eugene-2025.csv (Name). Each name is resolved from the name alone; the Eugene file's
State column is then compared with the state read from the name (the file has known errors).
"""

from __future__ import annotations

import argparse
import csv
import random
import re
import sys
import timeit
from collections import Counter
from pathlib import Path

from monitor.jurisdiction import AgencyClass, AgencyResolver, Resolution
from monitor.jurisdiction._reading import read_name

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
GRAPH = "flock-sharing-graph-2024.csv"
RECIPIENTS = "flock-recipients-eugene-2025.csv"
REGULAR = re.compile(r"^.+ [A-Z]{2} (?:PD|SO)$")  # Flock's usual "<Place> <ST> PD|SO"


def load_names(data: Path) -> tuple[list[str], list[dict[str, str]]]:
    """Distinct names of both files (sorted), and the Eugene rows."""
    names: set[str] = set()
    with (data / GRAPH).open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            names.update(n.strip() for n in (row["src_agency"], row["external_agency"]) if n.strip())
    with (data / RECIPIENTS).open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    names.update(r["Name"].strip() for r in rows if r["Name"].strip())
    return sorted(names), rows


def report(names: list[str], resolver: AgencyResolver) -> dict[str, Resolution]:
    results = {name: resolver.resolve(name) for name in names}
    total = len(results)
    print(f"{total} distinct names")
    classes = Counter(r.agency_class for r in results.values())
    for cls in AgencyClass:
        print(f"  {cls.value:12s} {classes[cls]:5d}  {classes[cls] / total:6.1%}")
    state_local = [r for r in results.values() if r.agency_class is AgencyClass.STATE_LOCAL]
    confidence = Counter(r.confidence.value for r in state_local)
    print(f"state_local confidence: {dict(confidence)}")
    california = sum(1 for r in state_local if r.state == "CA")
    print(f"resolved to California (state_local CA): {california}")
    print("evidence:", ", ".join(f"{k} {v}" for k, v in Counter(r.resolved_by for r in results.values()).most_common()))
    return results


def eugene(rows: list[dict[str, str]], resolver: AgencyResolver) -> None:
    """Compare the state read from each name with the file's State column, and check its Type column."""
    agree = disagree = 0
    for row in rows:
        found = resolver.resolve(row["Name"])
        listed = row["State"].strip()
        if found.state and len(listed) == 2 and listed.isalpha():
            if found.state == listed:
                agree += 1
            else:
                disagree += 1
                print(f"  state differs: {row['Name']!r}: file {listed}, name {found.state} ({found.resolved_by})")
        kind = row["Type"].strip()
        if kind:
            print(f"  {row['Name']!r:45s} Type={kind!r:20s} -> {found.agency_class.value} {found.state}")
    print(f"Eugene State column: {agree} agree, {disagree} differ (of {len(rows)} rows)")


def sample(results: dict[str, Resolution], size: int, seed: int, out: Path | None, irregular: bool) -> None:
    pool = sorted(n for n in results if not (irregular and REGULAR.match(n)))
    print(f"sample of {min(size, len(pool))} from {len(pool)} names (seed {seed})")
    picked = random.Random(seed).sample(pool, min(size, len(pool)))
    rows = [
        {"name": n, "class": r.agency_class.value, "state": r.state or "", "confidence": r.confidence.value,
         "resolved_by": r.resolved_by, "matched": r.matched, "correct": ""}
        for n, r in ((n, results[n]) for n in picked)
    ]  # fmt: skip
    for i, row in enumerate(rows, 1):
        print(f"{i:3d} {row['name'][:50]:50s} {row['class']:12s} {row['state']:3s} {row['confidence']:6s} "
              f"{row['resolved_by']:22s} {row['matched'][:40]}")  # fmt: skip
    if out is not None:
        with out.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        print(f"wrote {out}")


def labelled(path: Path) -> None:
    """Precision and unresolved share on a hand-labelled sample (name, owner state, expected reading).

    A decided answer is correct when class and state match the label; a label "ambiguous" means no answer is
    safe, so only unresolved is correct there. Precision counts decided answers only.
    """
    resolvers: dict[str, AgencyResolver] = {}
    decided = correct = unresolved = total = 0
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        name, home, expected = line.split("\t")
        if home not in resolvers:
            try:
                resolvers[home] = AgencyResolver(home_state=home or None)
            except TypeError:  # a resolver without owner-state evidence (before it existed)
                resolvers[home] = AgencyResolver()
        found = resolvers[home].resolve(name)
        total += 1
        if found.agency_class is AgencyClass.UNRESOLVED:
            unresolved += 1
            verdict = "ok" if expected == "ambiguous" else "unresolved"
        else:
            decided += 1
            got = f"{found.agency_class.value}:{found.state}" if ":" in expected else found.agency_class.value
            verdict = "ok" if got == expected else "WRONG"
            correct += verdict == "ok"
        if verdict != "ok":
            got_text = f"{found.agency_class.value} {found.state or ''} ({found.resolved_by}: {found.matched[:60]})"
            print(f"  {verdict:10s} {name!r} (owner {home or '-'}): expected {expected}, got {got_text}")
    print(
        f"labelled sample: {total} names; decided {decided}, correct {correct} "
        f"(precision {correct / max(decided, 1):.1%}); unresolved {unresolved} ({unresolved / total:.1%})"
    )


def speed(names: list[str]) -> None:
    """Time first resolutions (nothing cached) and repeated ones (cache hits)."""
    runs = 3
    first = []
    for _ in range(runs):
        read_name.cache_clear()
        fresh = AgencyResolver()

        def resolve_all(r: AgencyResolver = fresh) -> None:
            for n in names:
                r.resolve(n)

        first.append(timeit.timeit(resolve_all, number=1) / len(names))
    warm = AgencyResolver()
    for n in names:
        warm.resolve(n)
    probe = names[len(names) // 2]
    hits = 1_000_000
    cached = timeit.timeit(lambda: warm.resolve(probe), number=hits) / hits
    print(f"uncached resolve: {min(first) * 1e6:.1f} us per name (best of {runs} over {len(names)} names)")
    print(f"cached resolve:   {cached * 1e9:.0f} ns per call")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DATA, help="folder holding the shared CSV files")
    parser.add_argument("--sample", type=int, default=0, help="print a random sample of this many names")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random sample")
    parser.add_argument("--out", type=Path, help="also write the sample to this CSV, for hand-checking")
    parser.add_argument("--irregular", action="store_true", help='sample only names not "<Place> <ST> PD|SO"')
    parser.add_argument("--timeit", action="store_true", help="measure cached and uncached resolve")
    parser.add_argument("--labelled", type=Path, help="also score a hand-labelled TSV (name, owner state, expected)")
    args = parser.parse_args(argv)
    names, rows = load_names(args.data)
    resolver = AgencyResolver()
    results = report(names, resolver)
    eugene(rows, resolver)
    if args.sample:
        sample(results, args.sample, args.seed, args.out, args.irregular)
    if args.timeit:
        speed(names)
    if args.labelled:
        labelled(args.labelled)
    return 0


if __name__ == "__main__":
    sys.exit(main())
