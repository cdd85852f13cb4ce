"""Server-rendered SVG charts (no JavaScript, prints as it looks): the weight chart with its baseline lines, and the
lab trends with the lines the rules act on."""

from __future__ import annotations

from datetime import datetime
from html import escape
from zoneinfo import ZoneInfo

from ...clinical.grading import lb_to_kg

# clinical-reference: R-WT-5, R-WT-10, R-WT-20 (loss below baseline); the lines a pharmacist reads the chart by.
BASELINE_LINES = (
    (0.0, "baseline", "#445"),
    (5.0, "−5% review", "#a77b00"),
    (10.0, "−10% hold", "#c2410c"),
    (20.0, "−20% urgent", "#b91c1c"),
)


def _to_unit(kg: float, unit: str) -> float:
    return kg / lb_to_kg(1.0) if unit == "lb" else kg


def weight_chart_svg(
    points: list[tuple[datetime, float]],
    baseline_kg: float,
    *,
    unit: str,
    start: datetime,
    end: datetime,
    zone: str,
    width: int = 640,
    height: int = 220,
) -> str:
    """Weights (kg stored, drawn in the patient's unit) over [start, end], with baseline and loss lines."""
    left, right, top, bottom = 44, 124, 12, 28
    plot_w, plot_h = width - left - right, height - top - bottom
    if points:
        # The axis starts at the first weight, not weeks of empty plot before a new patient's first entry.
        start = max(start, min(at for at, _ in points))
    baseline = _to_unit(baseline_kg, unit)
    values = [_to_unit(kg, unit) for _, kg in points]
    low = min(values + [baseline * 0.78])
    high = max(values + [baseline * 1.03])
    span_s = max((end - start).total_seconds(), 1.0)

    def x(at: datetime) -> float:
        return left + plot_w * min(max((at - start).total_seconds() / span_s, 0.0), 1.0)

    def y(value: float) -> float:
        return top + plot_h * (1 - (value - low) / (high - low))

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'role="img" aria-label="Weight chart in {unit}, baseline {baseline:.1f} {unit}" class="weight-chart" '
        'font-family="system-ui, -apple-system, Segoe UI, Roboto, sans-serif">',
        f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="#fafafa" stroke="#ddd"/>',
    ]
    for pct, label, colour in BASELINE_LINES:
        value = baseline * (1 - pct / 100)
        yy = y(value)
        dash = "" if pct == 0 else ' stroke-dasharray="5 4"'
        parts.append(
            f'<line x1="{left}" x2="{left + plot_w}" y1="{yy:.1f}" y2="{yy:.1f}" stroke="{colour}"'
            f' stroke-width="1"{dash}/>'
        )
        parts.append(
            f'<text x="{left + plot_w + 4}" y="{yy + 4:.1f}" font-size="11" fill="{colour}">'
            f"{escape(label)} {value:.1f}</text>"
        )
    # y axis: the ends of the range
    for value in (low, high):
        parts.append(
            f'<text x="{left - 6}" y="{y(value) + 4:.1f}" font-size="11" text-anchor="end" fill="#555">'
            f"{value:.0f}</text>"
        )
    parts.append(f'<text x="6" y="{top + 10}" font-size="11" fill="#555">{escape(unit)}</text>')
    # x axis: start and end dates in the patient's zone
    tz = ZoneInfo(zone)
    for at, anchor in ((start, "start"), (end, "end")):
        parts.append(
            f'<text x="{x(at):.1f}" y="{height - 8}" font-size="11" text-anchor="{anchor}" fill="#555">'
            f"{at.astimezone(tz):%d %b}</text>"
        )
    if points:
        path = " ".join(
            f"{'M' if i == 0 else 'L'}{x(at):.1f},{y(v):.1f}" for i, ((at, _), v) in enumerate(zip(points, values))
        )
        parts.append(f'<path d="{path}" fill="none" stroke="#1d4ed8" stroke-width="2"/>')
        for (at, kg), v in zip(points, values):
            pct = (kg - baseline_kg) / baseline_kg * 100
            parts.append(
                f'<circle cx="{x(at):.1f}" cy="{y(v):.1f}" r="3" fill="#1d4ed8">'
                f"<title>{at.astimezone(tz):%a %d %b %H:%M}: {v:.1f} {escape(unit)} ({pct:+.1f}%)</title></circle>"
            )
    else:
        parts.append(
            f'<text x="{left + plot_w / 2}" y="{top + plot_h / 2}" font-size="13" text-anchor="middle" '
            f'fill="#777">No weights in this period</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


# The lines the lab rules act on (clinical-reference: R-NA, R-PLT-75, R-PLT-25, R-ANC-1, R-ANC-05, R-HGB-8).
LAB_CHARTS = (
    ("sodium_mmol_l", "Sodium", "mmol/L", ((130.0, "130", "#b91c1c"),)),
    ("platelets_10e9_l", "Platelets", "×10⁹/L", ((75.0, "75", "#a15c07"), (25.0, "25", "#b91c1c"))),
    ("anc_10e9_l", "ANC", "×10⁹/L", ((1.0, "1.0", "#a15c07"), (0.5, "0.5", "#b91c1c"))),
    ("hemoglobin_g_dl", "Hemoglobin", "g/dL", ((8.0, "8.0", "#b91c1c"),)),
)


def lab_chart_svg(
    points: list[tuple[datetime, float]],
    *,
    title: str,
    unit: str,
    lines: tuple[tuple[float, str, str], ...],
    zone: str,
    width: int = 320,
    height: int = 170,
) -> str:
    """One lab's results over time (the axis spans the results), with the rules' threshold lines."""
    left, right, top, bottom = 40, 36, 22, 24
    plot_w, plot_h = width - left - right, height - top - bottom
    values = [v for _, v in points]
    thresholds = [value for value, _, _ in lines]
    low = min(values + thresholds) * 0.9
    high = max(values + thresholds) * 1.1
    if high <= low:
        high = low + 1
    tz = ZoneInfo(zone)
    start = min((at for at, _ in points), default=None)
    end = max((at for at, _ in points), default=None)
    span_s = max(((end - start).total_seconds() if start and end else 0.0), 1.0)

    def x(at: datetime) -> float:
        if start is None or start == end:
            return left + plot_w / 2
        return left + plot_w * (at - start).total_seconds() / span_s

    def y(value: float) -> float:
        return top + plot_h * (1 - (value - low) / (high - low))

    latest = f", latest {values[-1]:g} {unit}" if values else ", no results yet"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'role="img" aria-label="{escape(title)} trend in {escape(unit)}{escape(latest)}" class="lab-chart" '
        'font-family="system-ui, -apple-system, Segoe UI, Roboto, sans-serif">',
        f'<text x="{left}" y="14" font-size="13" font-weight="600" fill="#1f2933">{escape(title)} ({escape(unit)})'
        "</text>",
        f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="#fafafa" stroke="#ddd"/>',
    ]
    for value, label, colour in lines:
        yy = y(value)
        parts.append(
            f'<line x1="{left}" x2="{left + plot_w}" y1="{yy:.1f}" y2="{yy:.1f}" stroke="{colour}" '
            f'stroke-width="1" stroke-dasharray="5 4" class="threshold"/>'
        )
        parts.append(
            f'<text x="{left + plot_w + 4}" y="{yy + 4:.1f}" font-size="11" fill="{colour}">{escape(label)}</text>'
        )
    for value in (low, high):
        parts.append(
            f'<text x="{left - 6}" y="{y(value) + 4:.1f}" font-size="11" text-anchor="end" fill="#555">'
            f"{value:.3g}</text>"
        )
    if points:
        for at, anchor in ((start, "start"), (end, "end")):
            if at is not None and (anchor == "start" or end != start):
                parts.append(
                    f'<text x="{x(at):.1f}" y="{height - 6}" font-size="11" text-anchor="{anchor}" '
                    f'fill="#555">{at.astimezone(tz):%d %b}</text>'
                )
        path = " ".join(f"{'M' if i == 0 else 'L'}{x(at):.1f},{y(v):.1f}" for i, (at, v) in enumerate(points))
        parts.append(f'<path d="{path}" fill="none" stroke="#1d4ed8" stroke-width="2"/>')
        for at, v in points:
            parts.append(
                f'<circle cx="{x(at):.1f}" cy="{y(v):.1f}" r="3" fill="#1d4ed8">'
                f"<title>{at.astimezone(tz):%a %d %b %H:%M}: {v:g} {escape(unit)}</title></circle>"
            )
    else:
        parts.append(
            f'<text x="{left + plot_w / 2}" y="{top + plot_h / 2}" font-size="12" text-anchor="middle" '
            f'fill="#777">No results yet</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


# Series colours of the quality report's bar charts (distinguishable in grey print as well: darkest first).
SERIES_COLOURS = ("#1d4ed8", "#b45309", "#047857", "#7c3aed", "#be123c", "#374151")


def percent_bars_svg(
    categories: list[str],
    series: list[tuple[str, list[float | None]]],
    *,
    title: str,
    references: tuple[tuple[float, str], ...] = (),
    width: int = 640,
    height: int = 220,
) -> str:
    """Grouped bars of percentages (0-100) by category (month), with optional dashed reference lines; a missing value
    is drawn as "no data", never as a zero bar. Each bar carries its value in `data-value` (tests and print read it)."""
    left, right, top, bottom = 40, 150, 22, 28
    plot_w, plot_h = width - left - right, height - top - bottom

    def y(value: float) -> float:
        return top + plot_h * (1 - min(max(value, 0.0), 100.0) / 100)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'role="img" aria-label="{escape(title)}, percent by month" class="quality-chart" '
        'font-family="system-ui, -apple-system, Segoe UI, Roboto, sans-serif">',
        f'<text x="{left}" y="14" font-size="13" font-weight="600" fill="#1f2933">{escape(title)}</text>',
        f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="#fafafa" stroke="#ddd"/>',
    ]
    for value in (0, 50, 100):
        parts.append(
            f'<text x="{left - 6}" y="{y(value) + 4:.1f}" font-size="11" text-anchor="end" fill="#555">{value}%</text>'
        )
    group_w = plot_w / max(len(categories), 1)
    bar_w = max(group_w * 0.8 / max(len(series), 1), 2.0)
    for c, category in enumerate(categories):
        gx = left + group_w * c + group_w * 0.1
        parts.append(
            f'<text x="{left + group_w * (c + 0.5):.1f}" y="{height - 8}" font-size="11" text-anchor="middle" '
            f'fill="#555">{escape(category)}</text>'
        )
        for s, (name, values) in enumerate(series):
            value = values[c] if c < len(values) else None
            colour = SERIES_COLOURS[s % len(SERIES_COLOURS)]
            x = gx + bar_w * s
            if value is None:
                parts.append(
                    f'<text x="{x + bar_w / 2:.1f}" y="{top + plot_h - 4}" font-size="9" text-anchor="middle" '
                    f'fill="#777" class="no-data" data-series="{escape(name)}" data-category="{escape(category)}">'
                    "–<title>no data</title></text>"
                )
                continue
            parts.append(
                f'<rect x="{x:.1f}" y="{y(value):.1f}" width="{bar_w:.1f}" height="{top + plot_h - y(value):.1f}" '
                f'fill="{colour}" class="bar" data-series="{escape(name)}" data-category="{escape(category)}" '
                f'data-value="{value:g}"><title>{escape(category)}, {escape(name)}: {value:g}%</title></rect>'
            )
    for value, label in references:
        yy = y(value)
        parts.append(
            f'<line x1="{left}" x2="{left + plot_w}" y1="{yy:.1f}" y2="{yy:.1f}" stroke="#b91c1c" stroke-width="1.5" '
            f'stroke-dasharray="6 4" class="reference" data-value="{value:g}"/>'
        )
        parts.append(
            f'<text x="{left + plot_w + 4}" y="{yy + 4:.1f}" font-size="11" fill="#b91c1c">{escape(label)}</text>'
        )
    for s, (name, _) in enumerate(series):
        ly = top + 12 + 16 * (s + len(references))
        parts.append(
            f'<rect x="{left + plot_w + 4}" y="{ly - 9}" width="10" height="10" '
            f'fill="{SERIES_COLOURS[s % len(SERIES_COLOURS)]}"/>'
            f'<text x="{left + plot_w + 18}" y="{ly}" font-size="11" fill="#1f2933">{escape(name)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
