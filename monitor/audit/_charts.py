"""The report's charts as PNG bytes (matplotlib, Agg backend: no display, no files, nothing fetched)."""

from __future__ import annotations

import io
from collections import Counter
from datetime import date, timedelta
from typing import TYPE_CHECKING

from ._tally import Tally
from ._words import CLASS_COLOURS, CLASS_ORDER, SEVERITY_COLOURS, SEVERITY_ORDER, class_label, kind_label

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.axis import Axis
    from matplotlib.figure import Figure

__all__ = ["classes_chart", "kinds_chart", "timeline_chart"]

# Kinds over time: categorical colours that do not read as severities (red is kept for "critical").
_PALETTE = ("#4e79a7", "#f28e2b", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#9c755f")
_TEXT = "#202124"
_GRID = "#dadce0"


def _figure(width: float, height: float) -> tuple[Figure, Axes]:
    import matplotlib

    matplotlib.use("Agg", force=True)
    from matplotlib.figure import Figure

    # A Figure without pyplot: no global state, nothing kept after the chart is saved.
    figure = Figure(figsize=(width, height), dpi=110, layout="constrained")
    axes = figure.add_subplot()
    axes.spines[["top", "right"]].set_visible(False)
    axes.spines[["left", "bottom"]].set_color(_GRID)
    axes.tick_params(colors=_TEXT, labelsize=9)
    return figure, axes


def _thousands(axis: Axis) -> None:
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    axis.set_major_locator(MaxNLocator(integer=True))  # counts: no 2.5 alerts
    axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,.0f}"))


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None}, facecolor="white")
    return buffer.getvalue()


def kinds_chart(tally: Tally) -> bytes | None:
    """Alerts by kind, one bar per kind split by severity; None when there are no alerts."""
    kinds = [kind for kind, _ in tally.by_kind.most_common()]
    if not kinds:
        return None
    kinds.reverse()  # barh draws bottom-up; the largest goes on top
    figure, axes = _figure(8.0, 0.45 * len(kinds) + 1.2)
    left = [0] * len(kinds)
    for severity in SEVERITY_ORDER:
        values = [tally.kind_severity[kind, severity] for kind in kinds]
        if any(values):
            axes.barh(
                [kind_label(kind) for kind in kinds],
                values,
                left=left,
                color=SEVERITY_COLOURS[severity],
                label=severity,
                height=0.6,
            )
            left = [a + b for a, b in zip(left, values, strict=True)]
    for row, total in enumerate(left):
        axes.annotate(f"{total:,}", (total, row), xytext=(4, 0), textcoords="offset points", va="center", fontsize=8)
    axes.set_xlabel("alerts", color=_TEXT, fontsize=9)
    _thousands(axes.xaxis)
    axes.xaxis.grid(color=_GRID, linewidth=0.6)
    axes.set_axisbelow(True)
    axes.margins(x=0.12)
    axes.legend(frameon=False, fontsize=8, loc="lower right", title="severity", title_fontsize=8)
    return _png(figure)


def _periods(tally: Tally) -> tuple[list[str], Counter[tuple[str, str]], str]:
    """Period labels, counts per (period, kind), and the period's name: days for short spans, else months."""
    first, last = tally.first_event, tally.last_event
    by_day = tally.kind_by_day
    if first is not None and last is not None and by_day is not None and (last - first).days <= 92:
        start, end = first.date(), last.date()
        labels = [(start + timedelta(days=n)).isoformat() for n in range((end - start).days + 1)]
        counts: Counter[tuple[str, str]] = Counter()
        for (day, kind), count in by_day.items():
            counts[day.isoformat(), kind] += count
        return labels, counts, "day"
    months = sorted({month for month, _ in tally.kind_by_month} | set(tally.events_by_month))
    labels = _month_range(months[0], months[-1]) if months else []
    return labels, tally.kind_by_month, "month"


def _month_range(first: str, last: str) -> list[str]:
    year, month = int(first[:4]), int(first[5:7])
    labels: list[str] = []
    while f"{year:04d}-{month:02d}" <= last and len(labels) < 1200:
        labels.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return labels


def timeline_chart(tally: Tally, noun: str) -> tuple[bytes, str] | None:
    """Records with findings per day or month, stacked by kind (the six largest, then "other")."""
    labels, counts, period = _periods(tally)
    if not labels or not counts:
        return None
    top = [kind for kind, _ in tally.events_by_kind.most_common(6)]
    series: dict[str, list[int]] = {kind: [counts[label, kind] for label in labels] for kind in top}
    rest = [
        sum(count for (label, kind), count in counts.items() if label == period_label and kind not in top)
        for period_label in labels
    ]
    if any(rest):
        series["other kinds"] = rest
    figure, axes = _figure(8.0, 3.4)
    positions = list(range(len(labels)))
    bottom = [0] * len(labels)
    for index, (kind, values) in enumerate(series.items()):
        axes.bar(
            positions,
            values,
            bottom=bottom,
            color=_PALETTE[index % len(_PALETTE)],
            label=kind_label(kind),
            width=0.8,
        )
        bottom = [a + b for a, b in zip(bottom, values, strict=True)]
    step = max(1, len(labels) // 12)
    axes.set_xticks(positions[::step], [_short(label, period) for label in labels[::step]], rotation=0)
    axes.set_ylabel(f"{noun} with findings per {period}", color=_TEXT, fontsize=9)
    _thousands(axes.yaxis)
    axes.yaxis.grid(color=_GRID, linewidth=0.6)
    axes.set_axisbelow(True)
    axes.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return _png(figure), period


def _short(label: str, period: str) -> str:
    if period == "day":
        day = date.fromisoformat(label)
        return day.strftime("%d %b")
    return date(int(label[:4]), int(label[5:7]), 1).strftime("%b %Y")


def classes_chart(tally: Tally, noun: str) -> bytes | None:
    """Records by the requester's class, in-state left out (it dwarfs the rest; its count is in the title)."""
    classes = [cls for cls in CLASS_ORDER if tally.class_events[cls] and cls != "in_state"]
    if not classes:
        return None
    classes.reverse()
    figure, axes = _figure(8.0, 0.4 * len(classes) + 1.3)
    labels = [class_label(cls) for cls in classes]
    totals = [tally.class_events[cls] for cls in classes]
    axes.barh(labels, totals, color=[CLASS_COLOURS[cls] for cls in classes], height=0.6)
    for row, (cls, total) in enumerate(zip(classes, totals, strict=True)):
        flagged = tally.class_alerted[cls]
        note = f"{total:,}" + (f"  ({flagged:,} with findings)" if flagged and flagged != total else "")
        axes.annotate(note, (total, row), xytext=(4, 0), textcoords="offset points", va="center", fontsize=8)
    in_state = tally.class_events["in_state"]
    axes.set_title(
        f"{noun.capitalize()} outside the owner's own state's public agencies"
        + (f" (in state, not drawn: {in_state:,})" if in_state else ""),
        loc="left",
        fontsize=9.5,
        color=_TEXT,
    )
    axes.set_xlabel(noun, color=_TEXT, fontsize=9)
    _thousands(axes.xaxis)
    axes.xaxis.grid(color=_GRID, linewidth=0.6)
    axes.set_axisbelow(True)
    axes.margins(x=0.3)
    return _png(figure)
