"""The HTML report: one self-contained page (inline CSS, charts as data URIs, no script, nothing fetched).

Every value that came from the input (agency names, matched text, file names) is escaped: agency names
are free text typed by whoever set up an account.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Sequence
from html import escape

from ._charts import classes_chart, kinds_chart, timeline_chart
from ._info import RunInfo
from ._tally import ListedEvent, Tally
from ._words import (
    CLASS_MEANING,
    CLASS_ORDER,
    KIND_MEANING,
    SEVERITY_ORDER,
    class_label,
    kind_label,
    record_nouns,
)

__all__ = ["render_html"]

RECIPIENT_KINDS = ("recipient.federal", "recipient.out_of_state", "recipient.non_public", "recipient.unresolved")
QUALITY_KINDS = ("purpose.missing", "purpose.uninformative", "record.incomplete")
NON_PUBLIC = ("private", "tribal", "placeholder")
TOP_AGENCIES = 25
TOP_OWNERS = 100
_SHORT = {
    "recipient.federal": "Federal",
    "recipient.out_of_state": "Out of state",
    "recipient.non_public": "Non-public",
    "recipient.unresolved": "Unresolved",
    "purpose.immigration": "Immigration",
}
_PROBLEMS = {
    "invalid_json": "not valid JSON",
    "invalid_field": "a field holds an impossible value",
    "missing_field": "a required field is empty",
    "bad_row": "wrong number of cells",
    "invalid_encoding": "bytes not valid in the file's encoding",
    "unparseable": "the record cannot be parsed",
    "oversize": "the record is too large",
}
_SHOWN = 20  # rows of a long list shown before "show more"

_CSS = """
:root { --ink:#202124; --muted:#5f6368; --rule:#dadce0; --band:#f6f8fa; --crit:#b3261e; --high:#e8710a;
        --med:#8a6d00; --low:#5f6b7a; --ok:#2e7d32; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--ink); background: #fff;
       font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1080px; margin: 0 auto; padding: 32px 28px 64px; }
h1 { font-size: 28px; line-height: 1.2; margin: 0 0 4px; }
h2 { font-size: 21px; margin: 40px 0 8px; padding-top: 12px; border-top: 2px solid var(--ink); }
h3 { font-size: 16px; margin: 24px 0 6px; }
p { margin: 6px 0 10px; max-width: 78ch; }
.sub { color: var(--muted); font-size: 16px; margin-bottom: 14px; }
.meta { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; font-size: 13px; color: var(--muted);
        margin: 0 0 8px; }
.meta dt { font-weight: 600; } .meta dd { margin: 0; overflow-wrap: anywhere; }
nav { font-size: 13px; margin: 14px 0 0; } nav a { color: var(--muted); margin-right: 14px; }
.cards { display: grid; grid-template-columns: repeat(4, 1fr); gap: 10px; margin: 16px 0 12px; }
.card { border: 1px solid var(--rule); border-radius: 6px; padding: 10px 12px; background: #fff; }
.card .n { font-size: 26px; font-weight: 700; font-variant-numeric: tabular-nums; line-height: 1.15; }
.card .l { font-size: 13px; color: var(--muted); }
.card.crit { border-left: 5px solid var(--crit); } .card.high { border-left: 5px solid var(--high); }
.card.ok { border-left: 5px solid var(--ok); }
.meaning { border-left: 4px solid var(--rule); padding: 4px 0 4px 12px; color: #3c4043; }
.law { font-size: 13px; color: var(--muted); }
.check { padding: 8px 12px; background: var(--band); border-radius: 6px; font-size: 14px; }
.check.bad { background: #fce8e6; color: var(--crit); font-weight: 600; }
table { border-collapse: collapse; width: 100%; margin: 8px 0 14px; font-size: 13.5px; }
th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid var(--rule); vertical-align: top; }
th { background: var(--band); font-weight: 600; font-size: 12.5px; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; } td.n { white-space: nowrap; }
.wide { overflow-x: auto; }
td.id { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; font-size: 12px; color: var(--muted);
        overflow-wrap: anywhere; }
tbody tr:nth-child(even) td { background: #fbfbfc; }
.sev { display: inline-block; padding: 0 6px; border-radius: 3px; font-size: 12px; font-weight: 600; color: #fff; }
.sev.critical { background: var(--crit); } .sev.high { background: var(--high); }
.sev.medium { background: var(--med); } .sev.low { background: var(--low); }
details { margin: 4px 0 14px; } summary { cursor: pointer; color: var(--muted); font-size: 13.5px; }
.when { white-space: nowrap; }
mark { background: #fde293; padding: 0 2px; }
img.chart { display: block; max-width: 100%; height: auto; margin: 8px 0 12px; }
.note { font-size: 13px; color: var(--muted); }
.none { color: var(--muted); font-style: italic; }
footer { margin-top: 48px; font-size: 12.5px; color: var(--muted); border-top: 1px solid var(--rule);
         padding-top: 10px; }
@media print { main { max-width: none; padding: 0; } h2 { break-after: avoid; } table, img { break-inside: avoid; } }
"""


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _n(value: int) -> str:
    return f"{value:,}"


def _pct(part: int, whole: int) -> str:
    if not whole:
        return "0%"
    share = 100 * part / whole
    return f"{share:.1f}%" if share < 10 else f"{share:.0f}%"


def _img(png: bytes | None, alt: str) -> str:
    if png is None:
        return ""
    data = base64.b64encode(png).decode("ascii")
    return f'<img class="chart" alt="{_e(alt)}" src="data:image/png;base64,{data}">'


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]], numeric: Iterable[int] = ()) -> str:
    """A table; cells are already-escaped HTML; `numeric` columns are right-aligned."""
    right = set(numeric)
    head = "".join(f"<th{' class=n' if i in right else ''}>{_e(h)}</th>" for i, h in enumerate(headers))
    body = "".join(
        "<tr>" + "".join(f"<td{' class=n' if i in right else ''}>{cell}</td>" for i, cell in enumerate(row)) + "</tr>"
        for row in rows
    )
    return f'<div class="wide"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def _plural(count: int, one: str, many: str) -> str:
    return f"{count:,} {one if count == 1 else many}"


def _matched(text: str, from_reason: bool) -> str:
    """Words matched in a reason are highlighted; an explanation (the requester's name) is plain text."""
    if not text:
        return '<span class="none">—</span>'
    return f"<mark>{_e(text)}</mark>" if from_reason else f'<span class="note">{_e(text)}</span>'


def _event_id(event_id: str) -> str:
    """An event id short enough for a table cell; the whole id is in the tooltip and in findings.csv."""
    shown = event_id if len(event_id) <= 20 else event_id[:19] + "…"
    return f'<span class=id title="{_e(event_id)}">{_e(shown)}</span>'


def _sev(severity: str) -> str:
    return f'<span class="sev {_e(severity)}">{_e(severity)}</span>'


def _law(tally: Tally, kinds: Iterable[str]) -> str:
    cited: dict[str, None] = {}
    for kind in kinds:
        cited.update(tally.citations.get(kind, {}))
    if not cited:
        return ""
    return f'<p class="law">Law and policy cited by these findings: {_e("; ".join(cited))}.</p>'


def _meaning(text: str) -> str:
    return f'<p class="meaning"><strong>What this means.</strong> {text}</p>'


class _Report:
    def __init__(self, tally: Tally, info: RunInfo) -> None:
        self.tally = tally
        self.info = info
        types = set(tally.event_types)
        # Say what the records are: a sharing list holds grants, a search audit searches.
        self.one, self.many, self.by = record_nouns(types)
        self.searches = "query" in types

    def render(self) -> str:
        parts = [
            self._header(),
            self._headline(),
            self._findings(),
            self._timeline(),
            self._requesters(),
            self._owners(),
            self._listed_section(
                "immigration",
                "Searches with an immigration purpose",
                self.tally.immigration,
                self.tally.events_by_kind["purpose.immigration"],
                "purpose.immigration",
                "Matched text",
                "The stated reason for these searches names immigration enforcement (ICE, ERO, HSI, "
                "“immigration”, …), or the requester is itself an immigration agency. Where the owner's law bars "
                "help with immigration enforcement, this is a violation even when the requester is an agency of "
                "the owner's own state. Matched words are shown as they appear in the reason (highlighted); the "
                "rest of the reason is not reproduced.",
            ),
            self._listed_section(
                "retention",
                "Searches beyond the retention period",
                self.tally.retention,
                self.tally.events_by_kind["retention.exceeded"],
                "retention.exceeded",
                "Reached back",
                "These searches asked for data older than the owner's published retention period, which means "
                "data was kept longer than the policy allows.",
            ),
            self._quality(),
            self._method(),
        ]
        title = _e(self.info.title)
        return (
            '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{title}</title><style>{_CSS}</style></head><body><main>"
            + "".join(parts)
            + "</main></body></html>\n"
        )

    # -- sections ---------------------------------------------------------------------------------

    def _header(self) -> str:
        info, tally = self.info, self.tally
        meta = []
        if info.owner:
            meta.append(("Data owner", _e(info.owner)))
        if tally.first_event is not None and tally.last_event is not None:
            first, last = tally.first_event.date().isoformat(), tally.last_event.date().isoformat()
            meta.append(("Period", _e(first if first == last else f"{first} to {last}")))
        inputs = ", ".join(
            _e(item.path) + (f" ({item.size / 1e6:,.1f} MB)" if item.size is not None else "") for item in info.inputs
        )
        if inputs:
            meta.append(("Input", inputs))
        meta.append(("Policy version", f"<span class=id>{_e(info.policy_version)}</span>"))
        meta.append(("Generated", _e(info.generated_at.strftime("%Y-%m-%d %H:%M UTC"))))
        rows = "".join(f"<dt>{label}</dt><dd>{value}</dd>" for label, value in meta)
        sub = f'<p class="sub">{_e(info.scope)}</p>' if info.scope else ""
        links = [
            ("headline", "Summary"),
            ("findings", "Findings"),
            ("requesters", "Recipients"),
            ("owners", "Data owners"),
            ("immigration", "Immigration"),
            ("retention", "Retention"),
            ("quality", "Data quality"),
            ("method", "Method"),
        ]
        nav = "".join(f'<a href="#{anchor}">{label}</a>' for anchor, label in links if self._shown(anchor))
        return f"<header><h1>{_e(info.title)}</h1>{sub}<dl class=meta>{rows}</dl><nav>{nav}</nav></header>"

    def _shown(self, anchor: str) -> bool:
        if anchor == "owners":
            return len(self.tally.owners) > 1
        if anchor in ("immigration", "retention"):
            return self.searches
        return True

    def _headline(self) -> str:
        tally, totals = self.tally, self.tally.totals
        classes = tally.class_events
        non_public = sum(classes[cls] for cls in NON_PUBLIC)
        cards = [
            ("", _n(totals.events), f"{self.many} audited"),
            (
                "crit" if totals.alerted else "ok",
                _n(totals.alerted),
                f"{self.many} with findings ({_pct(totals.alerted, totals.events)})",
            ),
            ("crit" if tally.by_severity["critical"] else "ok", _n(tally.by_severity["critical"]), "critical alerts"),
            ("high" if tally.by_severity["high"] else "", _n(tally.by_severity["high"]), "high alerts"),
            ("crit" if classes["federal"] else "", _n(classes["federal"]), f"{self.many} {self.by} federal agencies"),
            (
                "crit" if classes["out_of_state"] else "",
                _n(classes["out_of_state"]),
                f"{self.many} {self.by} out-of-state agencies",
            ),
            ("crit" if non_public else "", _n(non_public), f"{self.many} {self.by} private, tribal or test bodies"),
            ("high" if totals.invalid else "", _n(totals.invalid), "malformed records (reported, not judged)"),
        ]
        html = "".join(
            f'<div class="card {cls}"><div class="n">{number}</div><div class="l">{_e(label)}</div></div>'
            for cls, number, label in cards
        )
        severities = ", ".join(f"{_n(tally.by_severity[s])} {s}" for s in SEVERITY_ORDER if tally.by_severity[s])
        if totals.consistent():
            check = (
                f'<p class="check">All {_n(totals.records)} records read are accounted for: {_n(totals.events)} '
                f"{self.many} ({_n(totals.clean)} without findings + {_n(totals.alerted)} with findings), "
                f"{_n(totals.invalid)} malformed and {_n(totals.skipped)} skipped"
                f"{' (repeats, blank rows, log entries that are not accesses)' if totals.skipped else ''}. "
                + (
                    f"The {_n(totals.alerted)} {self.many} with findings produced {_n(totals.alerts)} alerts "
                    f"({severities}); one {self.one} can break several rules.</p>"
                    if totals.alerted
                    else f"No {self.one} drew a finding.</p>"
                )
            )
        else:
            check = (
                '<p class="check bad">The totals of this run do not add up: '
                f"{_n(totals.records)} records read, {_n(totals.events)} events ({_n(totals.clean)} clean, "
                f"{_n(totals.alerted)} with findings), {_n(totals.invalid)} malformed, {_n(totals.skipped)} skipped; "
                f"{_n(totals.alerts)} alerts, {_n(totals.findings_lines or 0)} lines in findings.jsonl. "
                "Treat this report as incomplete and report the problem.</p>"
            )
        distinct = tally.distinct_requesters()
        rows = [
            (
                _e(class_label(cls)),
                _n(distinct[cls]),
                _n(classes[cls]),
                _n(tally.class_alerted[cls]),
            )
            for cls in CLASS_ORDER
            if classes[cls]
        ]
        table = _table(
            ("Jurisdiction", "Distinct agencies", self.many.capitalize(), "With findings"), rows, numeric=(1, 2, 3)
        )
        return (
            f'<section id="headline"><h2>Summary</h2><div class="cards">{html}</div>{check}{self._owner_line()}'
            f"<h3>Who got the data, by jurisdiction</h3>{table}</section>"
        )

    def _owner_line(self) -> str:
        """With several data owners, how many of them let each kind of prohibited recipient in."""
        tally = self.tally
        if len(tally.owners) <= 1:
            return ""
        words = {
            "recipient.out_of_state": "out-of-state agencies",
            "recipient.federal": "federal agencies",
            "recipient.non_public": "private, tribal or test bodies",
        }
        counts = [(len(tally.owners_with(kind)), text) for kind, text in words.items() if tally.events_by_kind[kind]]
        if not counts:
            return ""
        verb = "granted access to" if self.by == "to" else "had their data searched by"
        listed = "; ".join(f"<strong>{_n(count)}</strong> {verb} {_e(text)}" for count, text in counts)
        return f"<p>Of the {_n(len(tally.owners))} data owners in these records, {listed}.</p>"

    def _findings(self) -> str:
        tally = self.tally
        if not tally.by_kind:
            body = '<p class="none">No rule in the applied policy and rule packs fired on these records.</p>'
            return f'<section id="findings"><h2>Findings by kind</h2>{body}</section>'
        rows = []
        for kind, alerts in tally.by_kind.most_common():
            rows.append(
                (
                    f"<strong>{_e(kind_label(kind))}</strong><br><span class=note>{_e(KIND_MEANING.get(kind, ''))}"
                    "</span>",
                    _n(tally.events_by_kind[kind]),
                    _n(alerts),
                    " ".join(
                        f"{_sev(s)}&nbsp;{_n(tally.kind_severity[kind, s])}"
                        for s in SEVERITY_ORDER
                        if tally.kind_severity[kind, s]
                    ),
                )
            )
        table = _table(("Kind", self.many.capitalize(), "Alerts", "Severity"), rows, numeric=(1, 2))
        rules = sorted(tally.rules.items(), key=lambda item: (-item[1], item[0][0]))
        rule_rows = [
            (f"<span class=id>{_e(rule)}</span>", _e(title), _sev(severity), _n(count))
            for (rule, _, severity, title), count in rules
        ]
        rule_table = _table(("Rule", "What it checks", "Severity", "Alerts"), rule_rows, numeric=(3,))
        text = (
            f"Each finding is one rule of the applied policy or law pack that a {self.one} broke. The table counts "
            f"{self.many} with at least one finding of the kind, and the alerts raised (one {self.one} can break a "
            "state law and the owner's own policy at once)."
        )
        return (
            f'<section id="findings"><h2>Findings by kind</h2>{_meaning(text)}'
            f"{_img(kinds_chart(tally), 'Alerts by kind and severity')}{table}"
            f"<h3>Rules that fired</h3>{rule_table}{_law(tally, tally.by_kind)}</section>"
        )

    def _timeline(self) -> str:
        tally = self.tally
        if tally.first_event is not None and tally.first_event == tally.last_event:
            return (
                '<p class="note">Every record carries the same time: the input is a list observed at one moment '
                "(a sharing list), not a log of accesses over time, so there is no time series.</p>"
            )
        chart = timeline_chart(tally, self.many)
        if chart is None:
            return ""
        png, period = chart
        return (
            f"<h3>Findings over time (per {period})</h3><p class=note>Each bar stacks the {self.many} with a finding "
            f"of each kind; a {self.one} with findings of two kinds is counted in both.</p>"
            f"{_img(png, f'{self.many.capitalize()} with findings per {period}, by kind')}"
        )

    def _requesters(self) -> str:
        tally = self.tally
        distinct = tally.distinct_requesters()
        text = (
            f"Every {self.one} is classed by who {'received it' if self.by == 'to' else 'made it'}, seen from the "
            "data owner's state. Where the owner's law allows sharing only with its own state's public agencies "
            f"(California's SB 34), each {self.one} {self.by} a federal, out-of-state, private or tribal body is a "
            "violation; unresolved names need a person to check them, because a wrong “in state” would hide a "
            "violation."
        )
        rows: list[tuple[str, ...]] = [
            (
                f"<strong>{_e(class_label(cls))}</strong>",
                _e(CLASS_MEANING[cls]),
                _n(distinct[cls]),
                _n(tally.class_events[cls]),
                _n(tally.class_alerted[cls]),
            )
            for cls in CLASS_ORDER
            if tally.class_events[cls]
        ]
        headers = ("Jurisdiction", "Who they are", "Agencies", self.many.capitalize(), "With findings")
        summary = _table(headers, rows, (2, 3, 4))
        parts = [f'<section id="requesters"><h2>Who got the data</h2>{_meaning(_e(text))}{summary}']
        parts.append(_img(classes_chart(tally, self.many), f"{self.many.capitalize()} by jurisdiction class"))
        parts.append(_law(tally, RECIPIENT_KINDS))
        for cls in CLASS_ORDER:
            if not tally.class_events[cls]:
                continue
            limit = TOP_AGENCIES if cls != "in_state" else 10
            agencies = tally.requesters_in(cls, limit)
            heading = (
                f"{class_label(cls)}: {_plural(distinct[cls], 'agency', 'agencies')}, "
                f"{_plural(tally.class_events[cls], self.one, self.many)}"
            )
            rows = [
                (
                    _e(name),
                    _n(party.events),
                    _n(party.alerted),
                    _e(", ".join(kind_label(kind) for kind, _ in party.kinds.most_common(3))),
                )
                for name, party in agencies
            ]
            table = _table(
                ("Agency (as named in the records)", self.many.capitalize(), "With findings", "Main findings"),
                rows,
                (1, 2),
            )
            shown = (
                f"<p class=note>The {limit} with the most {self.many}; findings.csv lists every finding.</p>"
                if distinct[cls] > limit
                else ""
            )
            beyond = tally.requesters_beyond_cap[cls]
            if beyond:
                shown += (
                    f'<p class="note">{_n(beyond)} further {self.many} of agencies beyond the first '
                    f"{_n(tally.caps.agencies)} distinct names are counted above but not itemised.</p>"
                )
            parts.append(f"<h3>{_e(heading)}</h3>{shown}{table}")
        parts.append("</section>")
        return "".join(parts)

    def _owners(self) -> str:
        tally = self.tally
        if len(tally.owners) <= 1:
            return ""
        owners = [(key, party) for key, party in tally.owners.items() if party.alerted]
        owners.sort(key=lambda item: (-item[1].alerted, item[0][0].casefold()))
        columns = [kind for kind in (*RECIPIENT_KINDS, "purpose.immigration") if tally.events_by_kind[kind]]
        rows = [
            (
                _e(name),
                _e(state or "?"),
                _n(party.events),
                _n(party.alerted),
                *(_n(party.kinds[kind]) if party.kinds[kind] else "" for kind in columns),
            )
            for (name, state), party in owners[:TOP_OWNERS]
        ]
        headers = ("Data owner", "State", self.many.capitalize(), "With findings", *(_SHORT[kind] for kind in columns))
        numeric = range(2, 4 + len(columns))
        text = (
            f"{_n(len(tally.owners))} agencies' data appear in these records; {_n(len(owners))} of them have "
            "findings, counted here by the kind of recipient or purpose. The state is the one the monitor "
            "established for the owner (from the policy, the record, or the owner's name); “?” means none could be "
            "established, and then no state law pack applies."
        )
        shown = (
            "" if len(owners) <= TOP_OWNERS else f"<p class=note>Showing the {TOP_OWNERS} with the most findings.</p>"
        )
        beyond = (
            f"<p class=note>{_n(tally.owners_beyond_cap)} events of owners beyond the first "
            f"{_n(tally.caps.agencies)} are counted in the totals but not itemised.</p>"
            if tally.owners_beyond_cap
            else ""
        )
        table = _table(headers, rows, numeric) if rows else '<p class="none">No owner has findings.</p>'
        return f'<section id="owners"><h2>Data owners</h2>{_meaning(text)}{shown}{table}{beyond}</section>'

    def _listed_section(
        self, anchor: str, title: str, rows: list[ListedEvent], total: int, kind: str, matched: str, text: str
    ) -> str:
        if not self._shown(anchor):
            return ""
        if not total:
            body = f'<p class="none">None found: no rule of kind “{_e(kind_label(kind))}” fired.</p>'
            return f'<section id="{anchor}"><h2>{_e(title)}</h2>{body}</section>'
        one_owner = len({row.owner for row in rows}) <= 1
        listed = [
            (
                f'<span class="when">{_e(row.occurred_at.strftime("%Y-%m-%d %H:%M"))}</span>',
                *(() if one_owner else (_e(row.owner),)),
                _e(row.requester)
                + (f"<br><span class=note>on behalf of {_e(row.on_behalf_of)}</span>" if row.on_behalf_of else ""),
                _e(class_label(row.jurisdiction)),
                (
                    _matched(row.matched, True) + (f" <span class=note>({_e(row.detail)})</span>" if row.detail else "")
                    if row.matched
                    else _matched(row.detail, False)
                ),
                _sev(row.severity),
                _event_id(row.event_id),
            )
            for row in rows
        ]
        headers = ("When (UTC)", *(() if one_owner else ("Data owner",)), "Requester", "Jurisdiction", matched,
                   "Severity", "Event")  # fmt: skip
        parts = [
            f'<section id="{anchor}"><h2>{_e(title)}: {_n(total)}</h2>{_meaning(_e(text))}{_law(self.tally, [kind])}'
        ]
        if kind == "purpose.immigration":
            parts.append(self._immigration_groups())
        head, rest = listed[:_SHOWN], listed[_SHOWN:]
        parts.append(
            "<h3>Searches reaching back furthest</h3>" if kind == "retention.exceeded" else "<h3>Each search</h3>"
        )
        parts.append(_table(headers, head))
        if rest:
            parts.append(f"<details><summary>Show {_n(len(rest))} more</summary>{_table(headers, rest)}</details>")
        if total > len(rows):
            which = "the furthest-reaching" if kind == "retention.exceeded" else "the first"
            parts.append(
                f"<p class=note>The report lists {which} {_n(len(rows))} of {_n(total)}; findings.csv and "
                "findings.jsonl hold them all.</p>"
            )
        parts.append("</section>")
        return "".join(parts)

    def _immigration_groups(self) -> str:
        groups = self.tally.immigration_groups.most_common(30)
        rows = [
            (_e(requester), _e(class_label(cls)) if cls else "", _matched(matched, from_reason), _n(count))
            for (requester, cls, matched, from_reason), count in groups
        ]  # fmt: skip
        more = len(self.tally.immigration_groups) - len(groups)
        note = f"<p class=note>And {_n(more)} smaller groups.</p>" if more > 0 else ""
        return (
            "<h3>By requester and matched words</h3>"
            + _table(("Requester", "Jurisdiction", "Matched text", "Searches"), rows, (3,))
            + note
        )

    def _quality(self) -> str:
        tally, totals = self.tally, self.tally.totals
        parts = ['<section id="quality"><h2>Data quality</h2>']
        text = (
            "Every access must be logged with its time, the data searched, the user and their organisation, and "
            "the purpose. A record without a purpose, or with one that says nothing (“inv”, “investigation”, a "
            "bare case number), cannot show the search was lawful; vague reasons are also how searches for "
            "barred purposes hide."
        )
        if not self.searches:
            text = (
                "The records are sharing grants, not searches, so there is no search purpose or access record to "
                "check here; what follows covers the readability of the records themselves."
            )
        parts.append(_meaning(_e(text)))
        law = _law(tally, QUALITY_KINDS)
        if self.searches and not law:
            law = (
                '<p class="law">No rule of the applied policy and packs checks search purposes for this owner '
                "(no pack covers its state), so the counts below are the purpose classifier's reading only, not "
                "findings.</p>"
            )
        parts.append(law)
        queries = sum(tally.reasons.values())
        if queries:
            labels = {
                "stated": "a purpose is stated",
                "vague": "vague (only generic words such as “investigation”)",
                "uninformative": "uninformative (only placeholders or identifiers)",
                "missing": "no purpose recorded",
                "redacted": "purpose redacted in the export",
            }
            rows: list[tuple[str, ...]] = [
                (_e(label), _n(tally.reasons[key]), _pct(tally.reasons[key], queries))
                for key, label in labels.items()
                if tally.reasons[key]
            ]
            parts.append(
                f"<h3>Search reasons ({_n(queries)} searches)</h3>"
                "<p class=note>As read by the purpose classifier, whatever the applied rule packs require.</p>"
                + _table(("The reason given", "Searches", "Share"), rows, (1, 2))
            )
            if tally.query_without_user:
                parts.append(f"<p>{_n(tally.query_without_user)} searches name no user.</p>")
            common = tally.uninformative_reasons.most_common(15)
            if common:
                rows = [(_e(reason), _n(count)) for reason, count in common]
                parts.append(
                    "<h3>Most common vague or uninformative reasons</h3>"
                    "<p class=note>Words holding a digit (case numbers, plates) are shown as #.</p>"
                    + _table(("Reason", "Searches"), rows, (1,))
                )
        if tally.missing_elements:
            rows = [(_e(element), _n(count)) for element, count in tally.missing_elements.most_common()]
            parts.append("<h3>Incomplete access records</h3>" + _table(("Missing element", "Records"), rows, (1,)))
        parts.append(f"<h3>Malformed records: {_n(totals.invalid)}</h3>")
        if totals.invalid:
            rows = [
                (f"{_e(_PROBLEMS.get(code, code))} <span class=id>{_e(code)}</span>", _n(count))
                for code, count in tally.errors_by_code.most_common()
            ]
            parts.append(
                "<p>These records could not be read as access events. They are not judged, and a "
                "violation could hide in them; each is listed with file, line and reason in errors.csv.</p>"
                + _table(("Problem", "Records"), rows, (1,))
            )
            examples = [
                (_e(error.file), _n(error.line), _e(error.reason), _e(error.field or ""))
                for error in tally.error_examples[:15]
            ]
            parts.append(
                f"<p class=note>{'All' if len(examples) == totals.invalid else 'The first'} {len(examples)}:</p>"
                + _table(("File", "Line", "Reason", "Field"), examples, (1,))
            )
        else:
            parts.append('<p class="none">Every record could be read.</p>')
        if totals.skipped:
            rows = [(_e(reason), _n(count)) for reason, count in tally.skipped_by_reason.most_common(10)]
            parts.append(
                f"<h3>Skipped records: {_n(totals.skipped)}</h3>"
                "<p class=note>Well-formed records that are not access events, or exact repeats of one.</p>"
                + _table(("Why", "Records"), rows, (1,))
            )
        parts.append("</section>")
        return "".join(parts)

    def _method(self) -> str:
        info = self.info
        text = (
            "Each record was turned into a standard access event and judged by the same rule engine the live "
            "monitor uses, under the policy version shown at the top. A requester's jurisdiction is established "
            "from the strongest evidence available (the policy's registry, an ORI code, then the name); weak "
            "evidence is reported as unresolved rather than guessed. Licence plates and user names never appear "
            "in this report or its files: a keyed hash stands in for them (plate_hash), so findings about the "
            "same plate can be grouped without revealing it."
        )
        files = (
            "findings.jsonl (one alert per line, contract v1), findings.csv (the same, flat), errors.csv "
            "(malformed records: file, line, reason), summary.md and summary.json (these figures)."
        )
        seconds = f" in {info.seconds:,.1f} s" if info.seconds else ""
        return (
            f'<section id="method"><h2>Method</h2><p>{_e(text)}</p><p>Files written beside this report: {_e(files)}</p>'
            f"<footer>alpr-monitor audit{_e(seconds)}. Detail tables keep the first {_n(self.tally.caps.agencies)} "
            f"distinct agency names and list up to {_n(self.tally.caps.listed)} events per section; totals "
            "always cover every record.</footer></section>"
        )


def render_html(tally: Tally, info: RunInfo) -> str:
    """The report as one HTML document."""
    return _Report(tally, info).render()
