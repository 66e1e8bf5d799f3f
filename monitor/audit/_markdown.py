"""The Markdown summary: the report's headline numbers and top tables, for a ticket, a mail or a repository."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from ._info import RunInfo
from ._patterns import PatternFindings
from ._tally import Tally
from ._words import CLASS_ORDER, SEVERITY_ORDER, class_label, kind_label, record_nouns

__all__ = ["md_text", "render_markdown"]

_SPECIAL = re.compile(r"([\\`*_\[\]|~])")
_LINE_START = re.compile(r"^(?=[#>+=-])|^(\d+)(?=[.)])")


def md_text(value: object) -> str:
    """Untrusted text made inert in Markdown: no markup, no raw HTML, no line breaks, no table breaks."""
    text = " ".join(str(value).split())
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _LINE_START.sub(lambda match: (match.group(1) or "") + "\\", _SPECIAL.sub(r"\\\1", text), count=1)


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return [*lines, ""]


def render_markdown(tally: Tally, info: RunInfo, patterns: PatternFindings | None = None) -> str:
    """The summary as Markdown."""
    totals = tally.totals
    classes = tally.class_events
    _, many, by = record_nouns(set(tally.event_types))
    lines = [f"# {md_text(info.title)}", ""]
    if info.scope:
        lines += [md_text(info.scope), ""]
    if tally.first_event is not None and tally.last_event is not None:
        first, last = tally.first_event.date(), tally.last_event.date()
        lines.append(f"- Period: {first}" + (f" to {last}" if last != first else ""))
    inputs = ", ".join(md_text(item.path) for item in info.inputs)
    if inputs:
        lines.append(f"- Input: {inputs}")
    lines.append(f"- Policy version: `{info.policy_version}`")
    for entry in info.no_state_law[:20]:
        state = md_text(entry["state"] or "state unknown")
        lines.append(f"- **{md_text(entry['owner'])} ({state}): {md_text(entry['note'])}**")
    lines.append("")

    severities = ", ".join(f"{tally.by_severity[s]:,} {s}" for s in SEVERITY_ORDER if tally.by_severity[s]) or "none"
    lines += [
        "## Headline",
        "",
        f"- {many.capitalize()} audited: **{totals.events:,}** "
        f"({totals.clean:,} without findings, {totals.alerted:,} with findings)",
        f"- Alerts: **{totals.alerts:,}** ({severities})",
        f"- {many.capitalize()} {by} federal agencies: **{classes['federal']:,}**; {by} out-of-state agencies: "
        f"**{classes['out_of_state']:,}**; {by} private, tribal or test bodies: "
        f"**{classes['private'] + classes['tribal'] + classes['placeholder']:,}**",
        f"- Records read: {totals.records:,} = {totals.events:,} {many} + {totals.invalid:,} malformed + "
        f"{totals.skipped:,} skipped"
        + (" (totals add up)" if totals.consistent() else " (**totals do not add up: report this**)"),
    ]
    if len(tally.owners) > 1:
        shared = ", ".join(
            f"{len(tally.owners_with(kind))} with {kind_label(kind).lower()} findings"
            for kind in ("recipient.out_of_state", "recipient.federal", "recipient.non_public", "purpose.immigration")
            if tally.events_by_kind[kind]
        )
        lines.append(f"- Data owners: {len(tally.owners):,}" + (f" ({shared})" if shared else ""))
    lines.append("")
    distinct = tally.distinct_requesters()
    lines += ["## Who got the data, by jurisdiction", ""]
    lines += _table(
        ("Jurisdiction", "Distinct agencies", many.capitalize(), "With findings"),
        (
            (class_label(cls), f"{distinct[cls]:,}", f"{classes[cls]:,}", f"{tally.class_alerted[cls]:,}")
            for cls in CLASS_ORDER
            if classes[cls]
        ),
    )
    if tally.by_kind:
        lines += ["## Findings by kind", ""]
        lines += _table(
            ("Kind", many.capitalize(), "Alerts"),
            (
                (kind_label(kind), f"{tally.events_by_kind[kind]:,}", f"{count:,}")
                for kind, count in tally.by_kind.most_common()
            ),
        )
    for cls in ("federal", "out_of_state", "private", "tribal", "placeholder"):
        top = tally.requesters_in(cls, 15)
        if top:
            lines += [f"## Top {class_label(cls).lower()} requesters", ""]
            lines += _table(
                ("Agency", many.capitalize(), "With findings"),
                ((md_text(name), f"{party.events:,}", f"{party.alerted:,}") for name, party in top),
            )
    if tally.immigration:
        total = tally.events_by_kind["purpose.immigration"]
        lines += [f"## Immigration-purpose searches ({total:,})", ""]
        lines += _table(
            ("When", "Owner", "Requester", "Matched"),
            (
                (f"{row.occurred_at:%Y-%m-%d %H:%M}", md_text(row.owner), md_text(row.requester), md_text(row.matched))
                for row in tally.immigration[:20]
            ),
        )
    if patterns is not None:
        lines += _pattern_sections(patterns)
    queries = sum(tally.reasons.values())
    lines += ["## Data quality", ""]
    if queries:
        lines.append(
            f"- Search reasons ({queries:,} searches): {tally.reasons['stated']:,} stated, "
            f"{tally.reasons['vague']:,} vague, {tally.reasons['uninformative']:,} uninformative, "
            f"{tally.reasons['missing']:,} missing, {tally.reasons['redacted']:,} redacted"
        )
    lines.append(f"- Retention breaches: {tally.events_by_kind['retention.exceeded']:,}")
    retention, reach = tally.retention, tally.reach
    if retention.periods:
        days = ", ".join(f"{period:,}" for period in sorted(retention.periods))
        lines.append(
            f"- Searches reaching past the retention period ({days} days): {retention.past_period:,}; past it and "
            f"the {retention.grace_days}-day grace: {retention.past_grace:,}"
        )
    if retention.furthest is not None:
        lines.append(f"- Furthest reach back: {retention.furthest.value:,.0f} days")
    if reach.networks:
        lines.append(
            f"- Searches of one network: {reach.searches - reach.many_networks - reach.networks_unknown:,}; "
            f"of more than one: {reach.many_networks:,}"
            + (f" (the widest {reach.most_networks.value:,.0f} networks)" if reach.most_networks else "")
        )
    lines.append(f"- Malformed records: {totals.invalid:,} (file, line and reason in errors.csv)")
    for code, count in tally.errors_by_code.most_common(5):
        lines.append(f"  - {md_text(code)}: {count:,}")
    lines += ["", "Plates and user names appear only as keyed hashes. Full detail: report.html, findings.csv.", ""]
    return "\n".join(lines)


def _pattern_sections(patterns: PatternFindings) -> list[str]:
    lines = ["## Who holds access now", ""]
    if not patterns.holders:
        lines += [
            "No recipient outside the owner's own state's public agencies holds access at the end of the input.",
            "",
        ]
    else:
        lines += [
            "Recipients other than the owner's own state's public agencies that held access at the end of the input, "
            "prohibited ones first. Days of exposure count from the day access began (a grant, a sharing list "
            "that first showed them, or their first search) to the last day of the input, both included; "
            f"{patterns.holders_in_state:,} public agencies of the owner's state also hold access and are not listed.",
            "",
        ]
        lines += _table(
            ("Owner", "Recipient", "Jurisdiction", "Prohibited", "Since", "Days of exposure", "Granted by way of"),
            (
                (
                    md_text(h.owner),
                    md_text(h.recipient),
                    class_label(h.jurisdiction),
                    "yes" if h.prohibited else "no",
                    h.since[:10],
                    f"{h.days_of_exposure:,}",
                    md_text(" ".join(filter(None, (h.granted_via, h.approval_mode)))),
                )
                for h in patterns.holders[:50]
            ),
        )
    exposures = patterns.exposures()
    if exposures:
        lines += [
            "### Prohibited access during the period",
            "",
            "Every recipient the owner may not share with that held access at some time in the input, revoked "
            "since or not: days of exposure run from the day access began to the last day it was still held.",
            "",
        ]
        lines += _table(
            ("Owner", "Recipient", "Jurisdiction", "Since", "Days of exposure", "Holds access now"),
            (
                (
                    md_text(row["owner"]),
                    md_text(row["recipient"]),
                    class_label(row["jurisdiction"]),
                    str(row["active_since"])[:10],
                    f"{row['days_of_exposure']:,}",
                    "yes" if row["holds_access_now"] else f"no (last day {row['last_day_alerted']})",
                )
                for row in exposures[:50]
            ),
        )
    targets = patterns.repeat_targets()
    lines += ["## Repeat targets", ""]
    if not targets:
        lines += ["No user searched one plate often enough across days to reach a repeat-target tier.", ""]
        return lines
    lines += [
        "One row per user and plate (keyed hashes, never the plate or the name): the searches and distinct days "
        "in the detector's 90-day window when it last alerted, the reasons written (identifiers masked), and "
        "whether a case number was given; searches under a case number weigh less, so they rarely reach high.",
        "",
    ]
    lines += _table(
        ("Severity", "Requester", "User hash", "Plate hash", "Searches", "Days", "Reasons written", "Case number"),
        (
            (
                r.severity,
                md_text(r.requester),
                f"`{r.user_hash}`",
                f"`{r.plate_hash}`",
                f"{r.searches:,}",
                f"{r.days:,}",
                md_text(r.reasons or "(none)"),
                f"yes ({r.case_number_searches})" if r.case_number_given else "no",
            )
            for r in targets[:50]
        ),
    )
    return lines
