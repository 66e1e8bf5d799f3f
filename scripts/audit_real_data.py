"""Audit the real public records in ../shared/data and print the findings.

(a) The Flock sharing graph scraped in April 2024: every row is a grant from `src_agency` (the data owner)
    to `external_agency`. Only grants by owners the engine places in California are audited (the report
    is a California one); the figures are recomputed from findings.jsonl, independently of the report's
    aggregates, and the two are checked against each other.
(b) The Eugene (Oregon) PD portal search audit, owner "Eugene OR PD": what the shipped packs say about an
    Oregon owner, and what the purpose classifier says about the search reasons.

Outputs go to a temporary directory (or --out), never into the repository.

    .venv/bin/python scripts/audit_real_data.py [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from monitor.audit import AuditRun, InputFile
from monitor.engine import Engine, load_engine
from monitor.events import AccessEvent, Owner
from monitor.hashing import Pseudonymizer
from monitor.ingest import IngestOptions, Item, read_events

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
GRAPH = DATA / "flock-sharing-graph-2024.csv"
EUGENE = DATA / "flock-portal-search-audit-eugene-2025.csv"
# The scrape's date (McClatchy's file is data/agency_access20240426.csv): the moment the grants were observed.
GRAPH_AS_OF = datetime(2024, 4, 26, tzinfo=UTC)


def california_only(engine: Engine, items: Iterator[Item], dropped: Counter[str]) -> Iterator[Item]:
    """The graph's items whose owner the engine places in California (errors and skipped rows pass too)."""
    for item in items:
        if isinstance(item, AccessEvent):
            state = engine.owner_context(item).state
            if state != "CA":
                dropped[state or "unknown"] += 1
                continue
        yield item


def read_alerts(path: Path) -> Iterator[dict[str, object]]:
    with path.open("rb") as lines:
        for line in lines:
            yield json.loads(line)


def audit_graph(engine: Engine, out: Path) -> None:
    dropped: Counter[str] = Counter()
    run = AuditRun(
        engine,
        out,
        title="Flock ALPR sharing grants of California agencies",
        scope=(
            "Who each California agency let search its Flock cameras, as published on its transparency "
            "portal in April 2024 (McClatchy's scrape of 360+ Flock portals); each grant judged under "
            "California law and the shipped policy."
        ),
    )
    run.info.inputs.append(InputFile(GRAPH.name, GRAPH.stat().st_size))
    items = read_events(GRAPH, options=IngestOptions(as_of=GRAPH_AS_OF))
    run.consume(california_only(engine, items, dropped))
    result = run.finish()
    figures = json.loads(result.files["figures"].read_text())

    owners_out: Counter[str] = Counter()
    grants_out: set[str] = set()
    owners_all: set[str] = set()
    federal: Counter[str] = Counter()
    non_public: Counter[tuple[str, str]] = Counter()
    unresolved: Counter[str] = Counter()
    for alert in read_alerts(result.files["findings_jsonl"]):
        owner = alert["owner"]
        requester = alert["requester"]
        assert isinstance(owner, dict)
        assert isinstance(requester, dict)
        assert owner["state"] == "CA", owner
        kind, agency, event_id = alert["kind"], str(requester["agency"]), str(alert["event_id"])
        owners_all.add(str(owner["agency"]))
        if kind == "recipient.out_of_state":
            owners_out[str(owner["agency"])] += 1
            grants_out.add(event_id)
        elif kind == "recipient.federal":
            federal[agency] += 1
        elif kind == "recipient.non_public":
            non_public[str(requester["jurisdiction"]), agency] += 1
        elif kind == "recipient.unresolved":
            unresolved[agency] += 1

    totals = figures["totals"]
    events = figures["events_by_jurisdiction"]
    owners = figures["owners"]
    print("== (a) Flock sharing graph, April 2024: California owners ==")
    print(f"rows in the graph: {totals['records'] + sum(dropped.values()):,}; owners outside California left out: "
          f"{sum(dropped.values()):,} grants")  # fmt: skip
    print(
        f"California source agencies: {owners}; their grants audited: {totals['events']:,} (invalid "
        f"{totals['invalid']}, skipped {totals['skipped']}, totals add up: {totals['consistent']})"
    )
    print(f"grants by recipient class: {json.dumps(events, sort_keys=True)}")
    print(
        f"California agencies that granted access to out-of-state agencies: {len(owners_out)} of {owners}; "
        f"such grants: {len(grants_out):,}"
    )
    for name, count in owners_out.most_common():
        print(f"  {count:4d}  {name}")
    # Each graph row is one (owner, recipient) pair, so a recipient's grants are the agencies that granted them.
    print(f"federal recipients ({sum(federal.values())} grants, {len(federal)} names; grants = granting CA agencies):")
    for name, count in federal.most_common():
        print(f"  {count:4d}  {name}")
    print(f"private / tribal / placeholder recipients ({sum(non_public.values())} grants):")
    for (cls, name), count in sorted(non_public.items(), key=lambda item: (item[0][0], -item[1], item[0][1])):
        print(f"  {cls:12s} {count:3d}  {name}")
    print(f"unresolved recipients: {sum(unresolved.values())} grants, {len(unresolved)} names; most common:")
    for name, count in unresolved.most_common(10):
        print(f"  {count:4d}  {name}")
    print(f"California owners with any finding: {len(owners_all)}")
    # The report's aggregates and the findings file must tell the same story.
    assert figures["events_by_kind"].get("recipient.out_of_state", 0) == len(grants_out)
    assert figures["events_by_kind"].get("recipient.federal", 0) == sum(federal.values())
    assert events.get("out_of_state", 0) == len(grants_out), "every out-of-state grant should be a finding"
    print(f"report: {result.files['report']}")


def audit_eugene(engine: Engine, out: Path) -> None:
    run = AuditRun(
        engine,
        out,
        title="Eugene (Oregon) PD Flock search audit",
        scope="Searches run by Eugene PD users, June to December 2025, from the Flock transparency portal.",
        owner="Eugene OR PD",
    )
    run.audit_files([str(EUGENE)], None, IngestOptions(owner=Owner(agency="Eugene OR PD", state="OR")))
    result = run.finish()
    figures = json.loads(result.files["figures"].read_text())
    totals = figures["totals"]
    reasons = figures["reasons"]
    searches = sum(reasons.values())
    print("\n== (b) Eugene OR PD portal search audit ==")
    print(f"records: {totals['records']:,}: events {totals['events']:,}, invalid {totals['invalid']}, "
          f"skipped {totals['skipped']}; totals add up: {totals['consistent']}")  # fmt: skip
    print(f"alerts under the shipped packs for an Oregon owner: {totals['alerts']} {figures['alerts_by_rule']}")
    print(f"reasons of {searches:,} searches (purpose classifier): " + ", ".join(
        f"{name} {reasons.get(name, 0):,} ({100 * reasons.get(name, 0) / searches:.1f}%)"
        for name in ("stated", "vague", "uninformative", "missing", "redacted")
    ))  # fmt: skip
    print(f"searches naming no user: {figures['queries_without_user']:,}")
    if figures["invalid_by_reason"]:
        print(f"malformed rows by reason: {figures['invalid_by_reason']}")
    print(f"report: {result.files['report']}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", help="output directory (default: a new temporary directory)")
    args = parser.parse_args()
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="alpr-audit-real-"))
    key = os.environ.get("ALPR_PSEUDONYM_KEY", "").encode() or secrets.token_bytes(32)
    engine = load_engine(None, Pseudonymizer(key))
    audit_graph(engine, out / "sharing-graph-ca")
    audit_eugene(engine, out / "eugene")
    return 0


if __name__ == "__main__":
    sys.exit(main())
