"""The HTML report: one self-contained page (inline CSS, charts as data URIs, no script, nothing fetched).

Rendered from Jinja2 templates under `templates/` with autoescaping on: every value from the input (agency
names, matched text, file names) is escaped by the template engine, never by hand. This module only shapes
the tally into plain values for the templates; the wording and markup live in the templates.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

import jinja2

from ._charts import classes_chart, kinds_chart, timeline_chart
from ._info import RunInfo
from ._patterns import PatternFindings
from ._tally import DEVICE_BUCKETS, NETWORK_BUCKETS, REACH_BUCKETS, ListedEvent, Tally
from ._words import CLASS_MEANING, CLASS_ORDER, KIND_MEANING, SEVERITY_ORDER, class_label, kind_label, record_nouns

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
_REASON_LABELS = {
    "stated": "a purpose is stated",
    "vague": "vague (only generic words such as “investigation”)",
    "uninformative": "uninformative (only placeholders or identifiers)",
    "missing": "no purpose recorded",
    "redacted": "purpose redacted in the export",
}
_SHOWN = 20  # rows of a long list shown before "show more"


def _n(value: int | float) -> str:
    return f"{value:,.0f}" if isinstance(value, float) else f"{value:,}"


def _pct(part: int, whole: int) -> str:
    if not whole or not part:
        return "0%"
    share = 100 * part / whole
    return f"{share:.1f}%" if share < 10 else f"{share:.0f}%"


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("monitor.audit", "templates"),
        autoescape=True,  # every template, whatever its name: the report is HTML throughout
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    environment.filters["n"] = _n
    environment.filters["class_label"] = class_label
    return environment


def _chart(png: bytes | None, alt: str) -> dict[str, str] | None:
    return None if png is None else {"alt": alt, "data": base64.b64encode(png).decode("ascii")}


def _cited(tally: Tally, kinds: Iterable[str]) -> list[str]:
    cited: dict[str, None] = {}
    for kind in kinds:
        cited.update(tally.citations.get(kind, {}))
    return list(cited)


def _card(tone: str, number: str, label: str) -> dict[str, str]:
    return {"tone": tone, "number": number, "label": label}


class _View:
    """The tally shaped for the templates: plain values, no markup."""

    def __init__(self, tally: Tally, info: RunInfo, patterns: PatternFindings | None = None) -> None:
        self.tally = tally
        self.info = info
        self.patterns = patterns
        types = set(tally.event_types)
        # Say what the records are: a sharing list holds grants, a search audit searches.
        self.one, self.many, self.by = record_nouns(types)
        self.searches = "query" in types

    def context(self) -> dict[str, Any]:
        tally = self.tally
        period = None
        if tally.first_event is not None and tally.last_event is not None:
            first, last = tally.first_event.date().isoformat(), tally.last_event.date().isoformat()
            period = first if first == last else f"{first} to {last}"
        return {
            "info": self.info,
            "tally": tally,
            "period": period,
            "one": self.one,
            "many": self.many,
            "by": self.by,
            "searches": self.searches,
            "shown": _SHOWN,
            "nav": self._nav(),
            "no_state_law": self.info.no_state_law,
            "single_owner": len(tally.owners) <= 1,
            "headline": self._headline(),
            "findings": self._findings(),
            "timeline": self._timeline(),
            "requesters": self._requesters(),
            "owners": self._owners(),
            "immigration": self._immigration(),
            "reach": self._reach(),
            "retention": self._retention(),
            "quality": self._quality(),
            "patterns": self._patterns(),
        }

    def _patterns(self) -> dict[str, Any] | None:
        """Who holds access now, prohibited access during the period, repeat targets (monitor.audit._patterns)."""
        found = self.patterns
        if found is None:
            return None
        return {
            "holders": found.holders,
            "holders_in_state": found.holders_in_state,
            "exposures": found.exposures(),
            "targets": found.repeat_targets(),
        }

    def _nav(self) -> list[tuple[str, str]]:
        links = [
            ("headline", "Summary"),
            ("findings", "Findings"),
            ("requesters", "Recipients"),
            ("owners", "Data owners"),
            ("immigration", "Immigration"),
            ("reach", "Reach"),
            ("retention", "Retention"),
            ("access-now", "Who holds access"),
            ("repeat-targets", "Repeat targets"),
            ("quality", "Data quality"),
            ("method", "Method"),
        ]
        return [(anchor, label) for anchor, label in links if self._shown(anchor)]

    def _shown(self, anchor: str) -> bool:
        if anchor in ("access-now", "repeat-targets"):
            return self.patterns is not None
        if anchor == "owners":
            return len(self.tally.owners) > 1
        if anchor in ("immigration", "retention"):
            return self.searches
        if anchor == "reach":
            return self.searches and bool(self.tally.reach.searches)
        return True

    def _headline(self) -> dict[str, Any]:
        tally, totals, many, by = self.tally, self.tally.totals, self.many, self.by
        classes = tally.class_events
        non_public = sum(classes[cls] for cls in NON_PUBLIC)
        critical, high = tally.by_severity["critical"], tally.by_severity["high"]
        cards = [
            _card("", _n(totals.events), f"{many} audited"),
            # Nothing found is good news only where state law was checked too.
            _card("crit" if totals.alerted else ("" if self.info.no_state_law else "ok"), _n(totals.alerted),
                  f"{many} with findings ({_pct(totals.alerted, totals.events)})"),
            _card("crit" if critical else ("" if self.info.no_state_law else "ok"), _n(critical),
                  "critical alerts"),
            _card("high" if high else "", _n(high), "high alerts"),
            _card("crit" if classes["federal"] else "", _n(classes["federal"]), f"{many} {by} federal agencies"),
            _card("crit" if classes["out_of_state"] else "", _n(classes["out_of_state"]),
                  f"{many} {by} out-of-state agencies"),
            _card("crit" if non_public else "", _n(non_public), f"{many} {by} private, tribal or test bodies"),
            _card("high" if totals.invalid else "", _n(totals.invalid), "malformed records (reported, not judged)"),
        ]  # fmt: skip
        distinct = tally.distinct_requesters()
        owner_line: list[tuple[int, str]] = []
        if len(tally.owners) > 1:
            words = {
                "recipient.out_of_state": "out-of-state agencies",
                "recipient.federal": "federal agencies",
                "recipient.non_public": "private, tribal or test bodies",
            }
            owner_line = [
                (len(tally.owners_with(kind)), text) for kind, text in words.items() if tally.events_by_kind[kind]
            ]
        return {
            "cards": cards,
            "severities": ", ".join(f"{_n(tally.by_severity[s])} {s}" for s in SEVERITY_ORDER if tally.by_severity[s]),
            "owner_line": owner_line,
            "owner_verb": "granted access to" if by == "to" else "had their data searched by",
            "jurisdictions": [
                (class_label(cls), _n(distinct[cls]), _n(classes[cls]), _n(tally.class_alerted[cls]))
                for cls in CLASS_ORDER
                if classes[cls]
            ],
        }

    def _findings(self) -> dict[str, Any] | None:
        tally = self.tally
        if not tally.by_kind:
            return None
        kinds = [
            {
                "label": kind_label(kind),
                "meaning": KIND_MEANING.get(kind, ""),
                "events": tally.events_by_kind[kind],
                "alerts": alerts,
                "severities": [
                    (s, tally.kind_severity[kind, s]) for s in SEVERITY_ORDER if tally.kind_severity[kind, s]
                ],
            }
            for kind, alerts in tally.by_kind.most_common()
        ]
        rules = sorted(tally.rules.items(), key=lambda item: (-item[1], item[0][0]))
        return {
            "chart": _chart(kinds_chart(tally), "Alerts by kind and severity"),
            "kinds": kinds,
            "rules": [
                {"rule": rule, "title": title, "severity": severity, "count": count}
                for (rule, _, severity, title), count in rules
            ],
            "cited": _cited(tally, tally.by_kind),
        }

    def _timeline(self) -> dict[str, Any]:
        tally = self.tally
        if tally.first_event is not None and tally.first_event == tally.last_event:
            return {"same_time": True, "chart": None, "period": ""}
        chart = timeline_chart(tally, self.many)
        if chart is None:
            return {"same_time": False, "chart": None, "period": ""}
        png, period = chart
        return {
            "same_time": False,
            "chart": _chart(png, f"{self.many.capitalize()} with findings per {period}, by kind"),
            "period": period,
        }

    def _requesters(self) -> dict[str, Any]:
        tally = self.tally
        distinct = tally.distinct_requesters()
        classes = [
            {
                "label": class_label(cls),
                "meaning": CLASS_MEANING[cls],
                "agencies": distinct[cls],
                "events": tally.class_events[cls],
                "alerted": tally.class_alerted[cls],
            }
            for cls in CLASS_ORDER
            if tally.class_events[cls]
        ]
        groups = []
        for cls in CLASS_ORDER:
            if not tally.class_events[cls]:
                continue
            limit = TOP_AGENCIES if cls != "in_state" else 10
            heading = (
                f"{class_label(cls)}: {_plural(distinct[cls], 'agency', 'agencies')}, "
                f"{_plural(tally.class_events[cls], self.one, self.many)}"
            )
            rows = [
                (name, _n(party.events), _n(party.alerted),
                 ", ".join(kind_label(kind) for kind, _ in party.kinds.most_common(3)))
                for name, party in tally.requesters_in(cls, limit)
            ]  # fmt: skip
            groups.append({"heading": heading, "limit": limit, "limited": distinct[cls] > limit,
                           "beyond": tally.requesters_beyond_cap[cls], "rows": rows})  # fmt: skip
        return {
            "classes": classes,
            "chart": _chart(classes_chart(tally, self.many), f"{self.many.capitalize()} by jurisdiction class"),
            "cited": _cited(tally, RECIPIENT_KINDS),
            "groups": groups,
        }

    def _owners(self) -> dict[str, Any] | None:
        tally = self.tally
        if len(tally.owners) <= 1:
            return None
        owners = [(key, party) for key, party in tally.owners.items() if party.alerted]
        owners.sort(key=lambda item: (-item[1].alerted, item[0][0].casefold()))
        columns = [kind for kind in (*RECIPIENT_KINDS, "purpose.immigration") if tally.events_by_kind[kind]]
        rows = [
            (name, state or "?", _n(party.events), _n(party.alerted),
             *(_n(party.kinds[kind]) if party.kinds[kind] else "" for kind in columns))
            for (name, state), party in owners[:TOP_OWNERS]
        ]  # fmt: skip
        return {
            "headers": ("Data owner", "State", self.many.capitalize(), "With findings", *(_SHORT[k] for k in columns)),
            "numeric": tuple(range(2, 4 + len(columns))),
            "rows": rows,
            "with_findings": len(owners),
            "limit": TOP_OWNERS,
            "limited": len(owners) > TOP_OWNERS,
        }

    def _listed(self, rows: list[ListedEvent], kind: str, matched: str, heading: str, which: str) -> dict[str, Any]:
        return {
            "total": self.tally.events_by_kind[kind],
            "kind_label": kind_label(kind),
            "rows": rows,
            "one_owner": len({row.owner for row in rows}) <= 1,
            "matched_header": matched,
            "rows_heading": heading,
            "which": which,
            "cited": _cited(self.tally, [kind]),
        }

    def _immigration(self) -> dict[str, Any] | None:
        if not self._shown("immigration"):
            return None
        tally = self.tally
        section = self._listed(tally.immigration, "purpose.immigration", "Matched text", "Each search", "the first")
        groups = tally.immigration_groups.most_common(30)
        section["groups"] = [
            {"requester": requester, "jurisdiction": cls, "matched": matched, "from_reason": from_reason, "count": n}
            for (requester, cls, matched, from_reason), n in groups
        ]
        section["more_groups"] = len(tally.immigration_groups) - len(groups)
        return section

    def _reach(self) -> dict[str, Any] | None:
        if not self._shown("reach"):
            return None
        reach = self.tally.reach
        known_networks = sum(reach.networks.values())
        known_devices = sum(reach.devices.values())
        one = reach.networks[NETWORK_BUCKETS[0][0]]
        cards = [
            _card("ok" if one else "", _n(one), f"searches of one network ({_pct(one, known_networks)})"),
            _card("high" if reach.many_networks else "", _n(reach.many_networks),
                  f"searches of more than one network ({_pct(reach.many_networks, known_networks)})"),
            _card("", _n(reach.most_networks.value) if reach.most_networks else "—", "most networks in one search"),
            _card("", _n(reach.most_devices.value) if reach.most_devices else "—", "most devices in one search"),
        ]  # fmt: skip
        widest = [
            {"measure": measure, "value": found.value, "widest": found}
            for measure, found in (("Networks", reach.most_networks), ("Devices", reach.most_devices))
            if found is not None
        ]
        return {
            "data": reach,
            "known_networks": known_networks,
            "known_devices": known_devices,
            "cards": cards,
            "networks": [
                (label, _n(reach.networks[label]), _pct(reach.networks[label], known_networks))
                for label, _ in NETWORK_BUCKETS
            ],
            "devices": [
                (label, _n(reach.devices[label]), _pct(reach.devices[label], known_devices))
                for label, _ in DEVICE_BUCKETS
            ],
            "widest": widest,
        }

    def _retention(self) -> dict[str, Any] | None:
        if not self._shown("retention"):
            return None
        tally = self.tally
        retention = tally.retention
        periods = sorted(retention.periods)
        if not periods:
            period = "not stated"
        elif len(periods) == 1:
            period = f"{periods[0]:,} days"
        else:
            period = f"{periods[0]:,} to {periods[-1]:,} days"
        judged = sum(retention.periods.values())
        furthest = retention.furthest
        cards = [
            _card("", period, "retention period (the owner's policy)" if len(periods) <= 1 else "retention periods"),
            _card("crit" if retention.past_period else ("ok" if judged else ""), _n(retention.past_period),
                  f"searches reaching past the period ({_pct(retention.past_period, judged)})"),
            _card("crit" if retention.past_grace else ("ok" if judged else ""), _n(retention.past_grace),
                  f"past the period and the {retention.grace_days}-day grace"),
            _card("high" if furthest and periods and furthest.value > periods[0] else "",
                  f"{furthest.value:,.0f} days" if furthest else "—", "furthest reach back"),
        ]  # fmt: skip
        section = self._listed(
            tally.retention_breaches, "retention.exceeded", "Reached back", "Searches reaching back furthest",
            "the furthest-reaching",
        )  # fmt: skip
        section.update({
            "period": period,
            "period_adjective": f"{periods[0]:,}-day" if len(periods) == 1 else "",
            "past_period": retention.past_period,
            "past_grace": retention.past_grace,
            "furthest_days": f"{furthest.value:,.0f} days" if furthest else "",
            "data": {"grace_days": retention.grace_days, "periods": periods, "with_frame": retention.with_frame},
            "cards": cards,
            "reach": [(label, _n(retention.reach[label]), _pct(retention.reach[label], retention.with_frame))
                      for label, _ in REACH_BUCKETS],
            "without_frame": retention.searches - retention.with_frame,
        })  # fmt: skip
        return section

    def _quality(self) -> dict[str, Any]:
        tally = self.tally
        queries = sum(tally.reasons.values())
        return {
            "cited": _cited(tally, QUALITY_KINDS),
            "queries": queries,
            "reasons": [
                (label, _n(tally.reasons[key]), _pct(tally.reasons[key], queries))
                for key, label in _REASON_LABELS.items()
                if tally.reasons[key]
            ],
            "common": [(reason, _n(count)) for reason, count in tally.uninformative_reasons.most_common(15)],
            "missing": [(element, _n(count)) for element, count in tally.missing_elements.most_common()],
            "problems": [
                {"text": _PROBLEMS.get(code, code), "code": code, "count": count}
                for code, count in tally.errors_by_code.most_common()
            ],
            "examples": [
                (error.file, _n(error.line), error.reason, error.field or "") for error in tally.error_examples[:15]
            ],
            "skipped": [(reason, _n(count)) for reason, count in tally.skipped_by_reason.most_common(10)],
        }


def _plural(count: int, one: str, many: str) -> str:
    return f"{count:,} {one if count == 1 else many}"


_LINE_BREAKS = re.compile(r"\s*\n\s*")


def render_html(tally: Tally, info: RunInfo, patterns: PatternFindings | None = None) -> str:
    """The report as one HTML document (with the pattern sections when the detectors ran)."""
    html = _environment().get_template("report.html.j2").render(_View(tally, info, patterns).context())
    # The templates wrap sentences over lines; a browser reads a line break as a space, and so may a search.
    return _LINE_BREAKS.sub(" ", html).strip() + "\n"
