"""Small server-rendered SVG charts (no script, no library): bars, ranked bars, rate lines.

Colours come from the page's CSS variables, so the charts follow light and dark mode. Each
chart has a ``<title>`` and ``<desc>`` for screen readers; the page puts a data table next
to every chart as its text alternative.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from markupsafe import Markup

W = 640


def _svg(chart_id: str, title: str, desc: str, height: int, body: str) -> Markup:
    return Markup(
        f'<svg class="chart" viewBox="0 0 {W} {height}" width="100%" role="img" '
        f'aria-labelledby="{chart_id}-t {chart_id}-d" preserveAspectRatio="xMinYMin meet">'
        f'<title id="{chart_id}-t">{escape(title)}</title>'
        f'<desc id="{chart_id}-d">{escape(desc)}</desc>{body}</svg>'
    )


def hourly_bars(chart_id: str, values: Sequence[int], title: str) -> Markup:
    """Clicks per hour (72 bars), with a tick every 12 hours."""
    height, left, bottom, top = 200, 40, 24, 10
    peak = max(values, default=0) or 1
    plot_w = W - left - 10
    plot_h = height - bottom - top
    step = plot_w / max(len(values), 1)
    parts = [
        f'<line class="axis" x1="{left}" y1="{top + plot_h}" x2="{W - 10}" y2="{top + plot_h}"/>',
        f'<text class="tick" x="{left - 6}" y="{top + 4}" text-anchor="end">{peak}</text>',
        f'<text class="tick" x="{left - 6}" y="{top + plot_h}" text-anchor="end">0</text>',
    ]
    for i, v in enumerate(values):
        h = plot_h * v / peak
        parts.append(
            f'<rect class="bar" x="{left + i * step + 0.5:.1f}" y="{top + plot_h - h:.1f}" '
            f'width="{max(step - 1, 1):.1f}" height="{h:.1f}"/>'
        )
    for hour in range(0, len(values) + 1, 12):
        x = left + hour * step
        parts.append(
            f'<text class="tick" x="{x:.1f}" y="{height - 6}" text-anchor="middle">{hour} h</text>'
        )
    busiest = max(range(len(values)), key=lambda i: values[i]) if any(values) else None
    desc = (
        f"{sum(values)} human clicks in the first {len(values)} hours; the busiest hour was "
        f"hour {busiest} with {values[busiest]} clicks."
        if busiest is not None
        else "No clicks yet."
    )
    return _svg(chart_id, title, desc, height, "".join(parts))


def ranked_bars(
    chart_id: str, rows: Sequence[tuple[str, int]], title: str, unit: str = "unique clickers"
) -> Markup:
    """Horizontal bars, largest first, labelled with the name and the value."""
    bar, gap, top = 22, 8, 6
    height = top + max(len(rows), 1) * (bar + gap)
    peak = max((v for _, v in rows), default=0) or 1
    label_w, value_w = 250, 50
    plot_w = W - label_w - value_w
    parts = []
    for i, (label, value) in enumerate(rows):
        y = top + i * (bar + gap)
        short = label if len(label) <= 38 else label[:37] + "…"
        w = plot_w * value / peak
        parts.append(
            f'<text class="label" x="{label_w - 8}" y="{y + bar * 0.7:.1f}" text-anchor="end">'
            f"{escape(short)}</text>"
            f'<rect class="bar" x="{label_w}" y="{y}" width="{max(w, 1):.1f}" height="{bar}"/>'
            f'<text class="value" x="{label_w + w + 6:.1f}" y="{y + bar * 0.7:.1f}">{value}</text>'
        )
    desc = "; ".join(f"{label}: {value} {unit}" for label, value in rows) or "Nothing yet."
    return _svg(chart_id, title, desc, height, "".join(parts))


def compare_bars(
    chart_id: str, rows: Sequence[tuple[str, float, bool]], title: str, fmt: str = "{:.1%}"
) -> Markup:
    """Vertical bars of one rate per issue; the current issue (flag True) is highlighted."""
    height, bottom, top = 190, 40, 16
    plot_h = height - bottom - top
    peak = max((v for _, v, _ in rows), default=0.0) or 1.0
    n = max(len(rows), 1)
    slot = (W - 20) / n
    parts = []
    for i, (label, value, current) in enumerate(rows):
        h = plot_h * value / peak
        x = 10 + i * slot + slot * 0.2
        cls = "bar current" if current else "bar"
        parts.append(
            f'<rect class="{cls}" x="{x:.1f}" y="{top + plot_h - h:.1f}" width="{slot * 0.6:.1f}" '
            f'height="{h:.1f}"/>'
            f'<text class="value" x="{x + slot * 0.3:.1f}" y="{top + plot_h - h - 4:.1f}" '
            f'text-anchor="middle">{fmt.format(value)}</text>'
            f'<text class="tick" x="{x + slot * 0.3:.1f}" y="{height - 20}" '
            f'text-anchor="middle">{escape(label)}</text>'
        )
    desc = "; ".join(
        f"{label}{' (this issue)' if cur else ''}: {fmt.format(v)}" for label, v, cur in rows
    )
    return _svg(chart_id, title, desc, height, "".join(parts))


def rate_lines(
    chart_id: str,
    series: Sequence[tuple[str, float, float]],
    lines: Sequence[tuple[float, str]],
    title: str,
) -> Markup:
    """Per issue, complaint and unsubscribe rates as paired bars, against reference lines."""
    height, bottom, top, left = 210, 40, 12, 50
    plot_h = height - bottom - top
    peak = max([max(c, u) for _, c, u in series] + [v for v, _ in lines] + [0.0]) * 1.15 or 1.0
    n = max(len(series), 1)
    slot = (W - left - 10) / n

    def y(value: float) -> float:
        return top + plot_h - plot_h * value / peak

    parts = [
        f'<line class="axis" x1="{left}" y1="{top + plot_h}" x2="{W - 10}" y2="{top + plot_h}"/>'
    ]
    for i, (label, complaint, unsub) in enumerate(series):
        x = left + i * slot + slot * 0.15
        bw = slot * 0.33
        parts.append(
            f'<rect class="bar complaint" x="{x:.1f}" y="{y(complaint):.1f}" width="{bw:.1f}" '
            f'height="{top + plot_h - y(complaint):.1f}"/>'
            f'<rect class="bar unsub" x="{x + bw + 2:.1f}" y="{y(unsub):.1f}" width="{bw:.1f}" '
            f'height="{top + plot_h - y(unsub):.1f}"/>'
            f'<text class="tick" x="{x + bw:.1f}" y="{height - 20}" text-anchor="middle">'
            f"{escape(label)}</text>"
        )
    for value, name in lines:
        parts.append(
            f'<line class="limit" x1="{left}" y1="{y(value):.1f}" x2="{W - 10}" y2="{y(value):.1f}"/>'
            f'<text class="tick" x="{left - 4}" y="{y(value) + 4:.1f}" text-anchor="end">'
            f"{escape(name)}</text>"
        )
    desc = (
        "; ".join(f"{label}: complaints {c:.3%}, unsubscribes {u:.3%}" for label, c, u in series)
        + ". Reference lines: "
        + ", ".join(name for _, name in lines)
        + "."
    )
    return _svg(chart_id, title, desc, height, "".join(parts))
