"""The session timeline as a picture: geometry for the report's inline SVG.

A horizontal time axis (wall-clock time in the conference's time zone); a band of
segments coloured by kind, a band of the on-air venue over time with the fallbacks
marked, one row per drilled venue (absent, dropped, lossy uplink) and a row of findings.
The template only draws what this computes.
"""

from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..config import format_duration

if TYPE_CHECKING:
    from .report import Report, ReportText

WIDTH = 1100
LEFT = 180  # row labels
RIGHT = 16
TOP = 28  # tick labels
ROW_H = 26
GAP = 6
CHAR_W = 6.6  # label width per character at the template's font size

KIND_COLOURS = {
    "presiding": "#4e79a7",
    "roll_call": "#59a14f",
    "award_announcement": "#edc948",
    "award_presentation": "#f28e2b",
    "speech": "#76b7b2",
    "closing": "#9c755f",
    "break": "#bab0ac",
}
MAIN_COLOUR = "#4d4d4d"
VENUE_PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22",
                 "#7f7f7f", "#aec7e8", "#ffbb78"]
DARK_FILLS = {"#4e79a7", "#59a14f", "#9c755f", MAIN_COLOUR, "#1f77b4", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
              "#7f7f7f", "#b22222"}
NICE_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600)


@dataclass(frozen=True)
class Box:
    x: float
    y: float
    w: float
    h: float
    fill: str
    label: str
    title: str

    @property
    def text_fill(self) -> str:
        return "#ffffff" if self.fill in DARK_FILLS else "#111111"


@dataclass(frozen=True)
class Marker:
    x: float
    y: float
    shape: str  # triangle | circle
    fill: str
    title: str


@dataclass(frozen=True)
class Row:
    y: float
    h: float
    label: str


@dataclass
class Timeline:
    width: int
    height: float
    plot_left: float
    plot_right: float
    rows: list[Row] = field(default_factory=list)
    boxes: list[Box] = field(default_factory=list)
    markers: list[Marker] = field(default_factory=list)
    ticks: list[tuple[float, str]] = field(default_factory=list)
    legend: list[tuple[str, str]] = field(default_factory=list)


def _width(text: str) -> int:
    """Width in narrow characters: CJK characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _fit(label: str, width: float) -> str:
    room = int((width - 6) / CHAR_W)
    if room >= _width(label):
        return label
    if room < 4:
        return ""
    while _width(label) > room - 1:
        label = label[:-1]
    return label + "…"


def venue_colours(report: Report) -> dict[str, str]:
    main = report.conference["main_venue"]
    branches = [v["id"] for v in report.venues if v["id"] != main]
    return {main: MAIN_COLOUR, **{v: VENUE_PALETTE[i % len(VENUE_PALETTE)] for i, v in enumerate(branches)}}


def _ticks(text: ReportText, total: float) -> tuple[int, list[tuple[float, str]]]:
    """Tick times (seconds since the session started) on round wall-clock times, and their labels."""
    step = next((s for s in NICE_STEPS if total / s <= 12), NICE_STEPS[-1])
    t0 = text.t0
    utc_offset = text.clock.at(t0).utcoffset()
    offset = utc_offset.total_seconds() if utc_offset else 0.0  # round in local time, not in UTC
    first = math.ceil((t0 + offset) / step) * step - offset - t0
    ticks = []
    t = first
    while t <= total + 1e-6:
        clock = text.clock.at(t0 + t)
        ticks.append((t, f"{clock:%H:%M:%S}" if step < 60 else f"{clock:%H:%M}"))
        t += step
    return step, ticks


def draw_timeline(report: Report, text: ReportText) -> Timeline:
    total = max(report.session_s, 1.0)
    plot_w = WIDTH - LEFT - RIGHT

    def x(t: float) -> float:
        return round(LEFT + plot_w * min(max(t, 0.0), total) / total, 1)

    def span(a: float, b: float) -> str:
        return f"{text.at(a)} to {text.at(b)}"

    tl = Timeline(WIDTH, 0, LEFT, WIDTH - RIGHT)
    _, ticks = _ticks(text, total)
    tl.ticks = [(x(t), label) for t, label in ticks]
    y = TOP

    def row(label: str) -> float:
        nonlocal y
        tl.rows.append(Row(y, ROW_H, label))
        top, y = y, y + ROW_H + GAP
        return top

    top = row("Segments")
    for s in report.segments:
        w = x(s.ended_at_s) - x(s.started_at_s)
        tl.boxes.append(Box(x(s.started_at_s), top, w, ROW_H, KIND_COLOURS.get(s.kind, "#cccccc"), _fit(s.title, w),
                            f"{s.title} ({s.id}, {s.kind.replace('_', ' ')}) from {text.venue(s.venue)}, "
                            f"{span(s.started_at_s, s.ended_at_s)}: planned {format_duration(s.planned_s)}, "
                            f"ran {s.actual_s:.1f} s"))

    top = row("On air")
    colours = venue_colours(report)
    spans = [on_air for s in report.segments for on_air in s.on_air]
    merged: list = []
    for on_air in spans:
        if merged and merged[-1].venue == on_air.venue and abs(merged[-1].to_s - on_air.from_s) < 1e-6:
            merged[-1] = merged[-1].model_copy(update={"to_s": on_air.to_s})
        else:
            merged.append(on_air)
    for on_air in merged:
        w = x(on_air.to_s) - x(on_air.from_s)
        name = text.venue(on_air.venue)
        tl.boxes.append(Box(x(on_air.from_s), top, w, ROW_H, colours.get(on_air.venue, "#cccccc"), _fit(name, w),
                            f"{name} on air, {span(on_air.from_s, on_air.to_s)} ({on_air.cause})"))
        if on_air.cause == "fallback":
            tl.markers.append(Marker(x(on_air.from_s), top - 1, "triangle", "#b22222",
                                     f"fallback to {name} at {text.at(on_air.from_s)}"))

    for drill in report.drill_outcomes:
        top = row(_fit(f"{text.venue(drill.venue)} ({drill.kind})", LEFT - 8))
        said = "; ".join(o.message for o in drill.outcomes) or drill.spec
        if drill.kind == "drop" and drill.down_at_s is not None:
            end = drill.up_at_s if drill.up_at_s is not None else total
            w = x(end) - x(drill.down_at_s)
            tl.boxes.append(Box(x(drill.down_at_s), top, w, ROW_H, "#b22222", _fit("dropped", w), said))
        else:
            fill, label = ("#bbbbbb", "absent") if drill.kind == "absent" else ("#ffd966", drill.spec.split(" ", 1)[1])
            tl.boxes.append(Box(x(0), top, plot_w, ROW_H, fill, _fit(f"{label}: {said}", plot_w), said))

    top = row("Findings")
    for f in report.findings:
        tl.markers.append(Marker(x(f.at_s), top + ROW_H / 2, "circle", "#d62728",
                                 f"{text.at(f.at_s)} {f.kind} [{f.segment or '-'}] [{text.venue(f.venue)}]: {f.message}"))
    tl.height = y + 4
    kinds = sorted({s.kind for s in report.segments})
    tl.legend = [(KIND_COLOURS.get(k, "#cccccc"), k.replace("_", " ")) for k in kinds]
    tl.legend += [(colours[v], text.venue(v)) for v in colours if any(on_air.venue == v for on_air in merged)]
    return tl
