"""Charts as inline SVG, drawn in Python when the report is written: no JavaScript library, nothing to load.

Every bar is a ``<g class="bar">`` with a ``<title>`` (what a screen reader or a hover shows), its label and its
number as text, and segments filled with a colour *and* a pattern (colour is never the only signal). Each chart
comes with the same numbers as a table (the report puts it under the chart).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from markupsafe import Markup, escape

__all__ = ["SERIES", "Bar", "bar_chart", "pattern_defs", "series_name", "timeline_chart"]

# Series (classes of difference and "matched"): fill colour, pattern drawn over it, legend name.
SERIES: dict[str, tuple[str, str, str]] = {
    "matched": ("#4d8f5b", "none", "matched"),
    "missing": ("#c0392b", "hatch", "missing"),
    "changed": ("#d68910", "dots", "changed"),
    "unexpected": ("#7d3c98", "cross", "unexpected"),
    "duplicated": ("#2e6da4", "hlines", "duplicated"),
    "rejected": ("#7b241c", "vlines", "rejected"),
    "dropped": ("#6e4b2a", "rhatch", "dropped by Pendo"),
    "warning": ("#b7950b", "none", "warning"),
    "ignored": ("#8c8c8c", "none", "ignored"),
    "expected": ("#ffffff", "none", "expected"),
    "received": ("#2e6da4", "none", "received"),
}
OTHER = ("#5d6d7e", "rhatch", "")

LABEL_W = 200  # width of the label column
BAR_W = 300  # width of the longest bar
ROW_H = 22
WIDTH = LABEL_W + BAR_W + 70


def series_name(key: str) -> str:
    return SERIES.get(key, OTHER)[2] or key


def _fill(key: str) -> str:
    colour, pattern, _ = SERIES.get(key, OTHER)
    return f"url(#segpendo-pat-{key})" if pattern != "none" and key in SERIES else colour


def pattern_defs() -> Markup:
    """One hidden SVG with the patterns every chart refers to (``url(#segpendo-pat-missing)``...)."""
    shapes = {
        "hatch": '<path d="M-1,1 l2,-2 M0,6 l6,-6 M5,7 l2,-2" stroke="#fff" stroke-width="1.3"/>',
        "rhatch": '<path d="M-1,5 l2,2 M0,0 l6,6 M5,-1 l2,2" stroke="#fff" stroke-width="1.3"/>',
        "dots": '<circle cx="3" cy="3" r="1.3" fill="#fff"/>',
        "cross": '<path d="M0,3 h6 M3,0 v6" stroke="#fff" stroke-width="1"/>',
        "hlines": '<path d="M0,1.5 h6 M0,4.5 h6" stroke="#fff" stroke-width="1"/>',
        "vlines": '<path d="M1.5,0 v6 M4.5,0 v6" stroke="#fff" stroke-width="1"/>',
    }
    out = ['<svg class="defs" width="0" height="0" aria-hidden="true" focusable="false"><defs>']
    for key, (colour, pattern, _) in SERIES.items():
        if pattern == "none":
            continue
        out.append(
            f'<pattern id="segpendo-pat-{key}" width="6" height="6" patternUnits="userSpaceOnUse">'
            f'<rect width="6" height="6" fill="{colour}"/>{shapes[pattern]}</pattern>'
        )
    out.append("</defs></svg>")
    return Markup("".join(out))


@dataclass
class Bar:
    """One bar: its label, its value per series, and the filter a click on it applies (``{"field": ...}``)."""

    label: str
    values: dict[str, int]
    filter: dict[str, str] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.values.values())


def _short(text: str, width: int = 27) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _legend(series: Sequence[str], y: float) -> tuple[list[str], float]:
    out = ['<g class="legend">']
    x = 0.0
    for key in series:
        name = series_name(key)
        if x + 30 + 7 * len(name) > WIDTH:
            x, y = 0.0, y + 18
        stroke = ' stroke="#555"' if key == "expected" else ""
        out.append(
            f'<rect x="{x:.0f}" y="{y:.0f}" width="14" height="12" fill="{_fill(key)}"{stroke}/>'
            f'<text x="{x + 19:.0f}" y="{y + 10:.0f}">{escape(name)}</text>'
        )
        x += 30 + 7 * len(name)
    out.append("</g>")
    return out, y + 22


def bar_chart(chart_id: str, title: str, bars: Sequence[Bar], series: Sequence[str]) -> Markup:
    """A horizontal bar chart, stacked when there is more than one series; bars in the order given."""
    used = [s for s in series if any(b.values.get(s) for b in bars)] or list(series[:1])
    out: list[str] = []
    y = 4.0
    if len(used) > 1:
        legend, y = _legend(used, y)
        out += legend
    top = max((b.total for b in bars), default=0) or 1
    for b in bars:
        parts = [f"{b.values[s]:,} {series_name(s)}" for s in used if b.values.get(s)]
        attrs = "".join(f' data-filter-{k}="{escape(v)}"' for k, v in b.filter.items())
        link = bool(b.filter)
        extra = ' tabindex="0" role="button"' if link else ""
        out.append(
            f'<g class="bar{" filterable" if link else ""}" data-label="{escape(b.label)}" data-total="{b.total}"'
            f"{attrs}{extra}>"
            f"<title>{escape(b.label)}: {escape(', '.join(parts) or '0')}"
            f"{' (click to filter the differences)' if link else ''}</title>"
            f'<text class="label" x="{LABEL_W - 6}" y="{y + 15:.0f}" text-anchor="end">{escape(_short(b.label))}</text>'
        )
        x = float(LABEL_W)
        for s in used:
            v = b.values.get(s, 0)
            if not v:
                continue
            w = max(1.0, BAR_W * v / top)
            out.append(
                f'<rect class="seg s-{escape(s)}" x="{x:.1f}" y="{y + 3:.0f}" width="{w:.1f}" height="{ROW_H - 6}" '
                f'fill="{_fill(s)}"/>'
            )
            x += w
        out.append(f'<text class="value" x="{x + 5:.1f}" y="{y + 15:.0f}">{b.total:,}</text></g>')
        y += ROW_H
    height = y + 4
    head = (
        f'<svg class="chart" id="{escape(chart_id)}" viewBox="0 0 {WIDTH} {height:.0f}" width="{WIDTH}" '
        f'height="{height:.0f}" role="group" aria-labelledby="{escape(chart_id)}-t">'
        f'<title id="{escape(chart_id)}-t">{escape(title)}</title>'
    )
    return Markup(head + "".join(out) + "</svg>")


# -- timeline --------------------------------------------------------------------------------------------------

MARKS: dict[str, tuple[str, str]] = {  # mark type: shape, legend text
    "retry": ("triangle", "delivery retry"),
    "failure": ("cross", "delivery gave up"),
    "fault": ("diamond", "injected fault"),
    "rejected": ("square", "request refused"),
}
BINS = 72
T_WIDTH = 1100  # the timeline's width
T_W = T_WIDTH - 60
T_H = 120


def _iso(ms: float) -> str:
    try:
        return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S").replace(" 00:00:00", "")
    except (OverflowError, OSError, ValueError):
        return f"{ms:.0f} ms"


def _shape(kind: str, x: float, y: float) -> str:
    if kind == "triangle":
        return f'<path d="M{x:.1f},{y - 5:.1f} l5,9 h-10 z"/>'
    if kind == "cross":
        return f'<path d="M{x - 4:.1f},{y - 4:.1f} l8,8 M{x + 4:.1f},{y - 4:.1f} l-8,8" stroke-width="2.2"/>'
    if kind == "diamond":
        return f'<path d="M{x:.1f},{y - 5:.1f} l5,5 l-5,5 l-5,-5 z"/>'
    if kind == "square":
        return f'<rect x="{x - 4:.1f}" y="{y - 4:.1f}" width="8" height="8"/>'
    return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4"/>'


def timeline_chart(chart_id: str, timeline: Mapping[str, Any]) -> tuple[Markup, list[dict[str, Any]]]:
    """Expected and received track events over time (histograms on one axis) with the marks above them.

    Received times outside the expected span (a unit bug, a clock taken from the wrong field) are counted in an
    "earlier" or "later" bin at either edge instead of squashing the axis. Returns the SVG and the bins (for the
    table under the chart)."""
    expected = [float(t) for t in timeline.get("expected", [])]
    received = [float(t) for t in timeline.get("received", [])]
    marks = list(timeline.get("marks", []))
    base = expected or received or [float(m["time"]) for m in marks] or [0.0]
    lo, hi = min(base), max(base)
    if hi - lo < 1000:
        lo, hi = lo - 500, hi + 500
    span = hi - lo
    step = span / BINS

    def slot(t: float) -> int:  # -1 earlier, BINS later
        if t < lo:
            return -1
        if t > hi:
            return BINS
        return min(BINS - 1, int((t - lo) / step))

    exp_bins = [0] * (BINS + 2)
    rec_bins = [0] * (BINS + 2)
    for t in expected:
        exp_bins[slot(t) + 1] += 1
    for t in received:
        rec_bins[slot(t) + 1] += 1
    mark_bins: dict[tuple[int, str], list[str]] = {}
    for m in marks:
        entry = mark_bins.setdefault((slot(float(m["time"])), str(m["type"])), [])
        entry.extend([str(m.get("label") or m["type"])] * int(m.get("count") or 1))
    overflow = exp_bins[0] or rec_bins[0] or exp_bins[-1] or rec_bins[-1] or any(k[0] in (-1, BINS) for k in mark_bins)
    gutter = 34 if overflow else 0
    left, plot_w = 40.0 + gutter, float(T_W - 2 * gutter)
    types = sorted({k[1] for k in mark_bins}, key=lambda name: (name not in MARKS, name))
    top_y = 44.0 + 13 * max(1, len(types))
    peak = max(max(exp_bins), max(rec_bins), 1)
    bar_w = plot_w / BINS

    def x_of(i: int) -> float:  # i in -1..BINS
        if i == -1:
            return 40.0 + 2
        if i == BINS:
            return left + plot_w + 6
        return left + i * bar_w

    def w_of(i: int) -> float:
        return gutter - 8 if i in (-1, BINS) else max(bar_w - 1, 1)

    out: list[str] = []
    legend, _ = _legend(["expected", "received"], 4)
    out += legend
    lx = 250.0
    for mtype in types:
        shape, text = MARKS.get(mtype, ("circle", mtype))
        out.append(
            f'<g class="mark-key m-{escape(mtype)}">{_shape(shape, lx + 6, 10)}'
            f'<text x="{lx + 15:.0f}" y="{14}">{escape(text)}</text></g>'
        )
        lx += 24 + 7 * len(text)
    base_y = top_y + T_H
    out.append(f'<line class="axis" x1="{left:.1f}" y1="{base_y:.1f}" x2="{left + plot_w:.1f}" y2="{base_y:.1f}"/>')
    bins_out: list[dict[str, Any]] = []
    for i in range(-1, BINS + 1):
        e, r = exp_bins[i + 1], rec_bins[i + 1]
        if i in (-1, BINS) and not (e or r):
            continue
        x, w = x_of(i), w_of(i)
        start = lo + i * step if 0 <= i < BINS else None
        what = "before the first expected event" if i == -1 else "after the last expected event" if i == BINS else None
        when = what or f"{_iso(start or 0)} UTC"
        bins_out.append({"when": when, "expected": e, "received": r})
        out.append(
            f'<g class="tbin" data-expected="{e}" data-received="{r}">'
            f"<title>{escape(when)}: {e:,} expected, {r:,} received</title>"
        )
        if r:
            h = T_H * r / peak
            out.append(
                f'<rect class="seg s-received" x="{x:.1f}" y="{base_y - h:.1f}" width="{w:.1f}" height="{h:.1f}" '
                f'fill="{_fill("received")}"/>'
            )
        if e:
            h = T_H * e / peak
            out.append(
                f'<rect class="outline s-expected" x="{x:.1f}" y="{base_y - h:.1f}" width="{w:.1f}" height="{h:.1f}"/>'
            )
        if i in (-1, BINS):
            out.append(
                f'<text class="overflow" x="{x + w / 2:.1f}" y="{base_y + 14:.0f}" text-anchor="middle">'
                f"{'earlier' if i == -1 else 'later'}</text>"
            )
        out.append("</g>")
    rows = {name: n for n, name in enumerate(types)}
    for (i, mtype), labels in sorted(mark_bins.items()):
        shape, text = MARKS.get(mtype, ("circle", mtype))
        x = x_of(i) + w_of(i) / 2
        my = top_y - 12 - 13 * rows[mtype]
        more = f" (+{len(labels) - 3:,} more)" if len(labels) > 3 else ""
        tip = f"{len(labels):,} × {text}: " + "; ".join(dict.fromkeys(labels[:3])) + more
        out.append(
            f'<g class="mark m-{escape(mtype)}" data-count="{len(labels)}"><title>{escape(tip)}</title>'
            f'<line x1="{x:.1f}" y1="{my + 6:.1f}" x2="{x:.1f}" y2="{base_y:.1f}"/>{_shape(shape, x, my)}'
            + (f'<text x="{x + 7:.1f}" y="{my + 4:.1f}">{len(labels)}</text>' if len(labels) > 1 else "")
            + "</g>"
        )
    for k in range(5):
        x = left + plot_w * k / 4
        anchor = "start" if k == 0 else "end" if k == 4 else "middle"
        out.append(
            f'<text class="tick" x="{x:.1f}" y="{base_y + 28:.0f}" text-anchor="{anchor}">'
            f"{escape(_iso(lo + span * k / 4))}</text>"
        )
    out.append(f'<text class="tick" x="36" y="{top_y + 8:.0f}" text-anchor="end">{peak:,}</text>')
    out.append(f'<text class="tick" x="36" y="{base_y:.0f}" text-anchor="end">0</text>')
    axis = str(timeline.get("axis") or "time")
    height = base_y + 44
    head = (
        f'<svg class="chart timeline" id="{escape(chart_id)}" viewBox="0 0 {T_WIDTH} {height:.0f}" width="{T_WIDTH}" '
        f'height="{height:.0f}" role="img" aria-labelledby="{escape(chart_id)}-t">'
        f'<title id="{escape(chart_id)}-t">Track events over {escape(axis)}: {len(expected):,} expected, '
        f"{len(received):,} received, {sum(len(v) for v in mark_bins.values()):,} marks</title>"
    )
    return Markup(head + "".join(out) + "</svg>"), bins_out
