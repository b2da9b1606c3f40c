"""A session's timeline as a picture: rows of boxes and markers over wall-clock time, as inline SVG.

A horizontal time axis (wall-clock time in the conference's time zone, ticks on round
times); labelled rows one under another, holding boxes (a segment, a venue on air, a
venue connected) and markers (a fallback, a fault, a finding); a legend under them.
A report says what goes where (`Timeline.row`, `box`, `marker`, `key`, all in unix
times) and puts `timeline.svg()` in its page: one self-contained <svg>, the same picture
on screen and on paper. The rehearsal report and the minutes both draw theirs here.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from .wording import Clock

WIDTH = 1100
LEFT = 180  # row labels
RIGHT = 16
TOP = 28  # tick labels
ROW_H = 26
GAP = 6
CHAR_W = 6.6  # label width per character at the picture's font size (11 px)
KEY_H = 18  # one line of the legend

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
FAULT_COLOUR = "#b22222"
FINDING_COLOUR = "#d62728"
VENUE_PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22",
                 "#7f7f7f", "#aec7e8", "#ffbb78"]
DARK_FILLS = {"#4e79a7", "#59a14f", "#9c755f", MAIN_COLOUR, "#1f77b4", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
              "#7f7f7f", FAULT_COLOUR}
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
    shape: str  # triangle (above its row) | circle (in its row)
    fill: str
    title: str


@dataclass(frozen=True)
class Row:
    y: float
    h: float
    label: str


@dataclass(frozen=True)
class Key:
    """One legend entry, placed by the timeline."""

    x: float
    line: int  # the legend's lines, from 0
    colour: str
    label: str
    shape: str  # box | triangle | circle


def text_width(text: str) -> int:
    """Width in narrow characters: CJK characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def fit(label: str, width: float) -> str:
    """`label`, cut short with an ellipsis to fit `width` pixels (nothing when even that does not fit)."""
    room = int((width - 6) / CHAR_W)
    if room >= text_width(label):
        return label
    if room < 4:
        return ""
    while text_width(label) > room - 1:
        label = label[:-1]
    return label + "…"


def venue_colours(main: str, venues: Iterable[str]) -> dict[str, str]:
    """A colour per venue: the main venue grey, the others from the palette in their order."""
    branches = [v for v in venues if v != main]
    return {main: MAIN_COLOUR, **{v: VENUE_PALETTE[i % len(VENUE_PALETTE)] for i, v in enumerate(branches)}}


@dataclass
class Timeline:
    """The picture of the time from `start` to `end` (unix seconds), read on `clock`."""

    clock: Clock
    start: float
    end: float
    width: int = WIDTH
    label_width: float = LEFT
    rows: list[Row] = field(default_factory=list)
    boxes: list[Box] = field(default_factory=list)
    markers: list[Marker] = field(default_factory=list)
    keys: list[Key] = field(default_factory=list)
    ticks: list[tuple[float, str]] = field(init=False)
    _y: float = field(init=False, default=TOP)
    _key_x: float = field(init=False, default=0.0)
    _key_lines: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        self.end = max(self.end, self.start + 1.0)
        self.ticks = [(self.x(t), label) for t, label in self._tick_times()]

    @property
    def plot_left(self) -> float:
        return self.label_width

    @property
    def plot_right(self) -> float:
        return self.width - RIGHT

    @property
    def height(self) -> float:
        return self._y + 4 + (self._key_lines * KEY_H + 4 if self.keys else 0)

    def x(self, t: float) -> float:
        """Where unix time `t` is drawn (clamped to the picture's time)."""
        span = self.end - self.start
        t = min(max(t, self.start), self.end)
        return round(self.plot_left + (self.plot_right - self.plot_left) * (t - self.start) / span, 1)

    def row(self, label: str, height: float = ROW_H, gap: float = GAP) -> Row:
        """A new row under the others (`gap` below it)."""
        row = Row(self._y, height, fit(label, self.label_width - 8))
        self.rows.append(row)
        self._y += height + gap
        return row

    def box(self, row: Row, start: float, end: float, fill: str, label: str, title: str) -> None:
        """A box in `row` from `start` to `end`; `label` inside if it fits, `title` on hover."""
        x0, x1 = self.x(start), self.x(end)
        self.boxes.append(Box(x0, row.y, x1 - x0, row.h, fill, fit(label, x1 - x0), title))

    def marker(self, row: Row, at: float, shape: str, fill: str, title: str) -> None:
        """A marker at `at` in `row`: a triangle pointing down at the row, or a circle in it."""
        y = row.y - 1 if shape == "triangle" else row.y + row.h / 2
        self.markers.append(Marker(self.x(at), y, shape, fill, title))

    def key(self, colour: str, label: str, shape: str = "box") -> None:
        """A legend entry (laid out left to right under the rows, wrapping)."""
        width = 16 + text_width(label) * CHAR_W + 14
        if not self._key_lines or self._key_x + width > self.width:
            self._key_lines += 1
            self._key_x = 0.0
        self.keys.append(Key(self._key_x, self._key_lines - 1, colour, label, shape))
        self._key_x += width

    def svg(self) -> Markup:
        """The picture, as one <svg> element."""
        legend_top = self._y + 8
        return Markup(_template().render(tl=self, legend_top=legend_top, key_h=KEY_H).strip())

    def _tick_times(self) -> list[tuple[float, str]]:
        """Ticks on round wall-clock times of the zone (not of UTC), and their labels."""
        total = self.end - self.start
        step = next((s for s in NICE_STEPS if total / s <= 12), NICE_STEPS[-1])
        utc_offset = self.clock.at(self.start).utcoffset()
        offset = utc_offset.total_seconds() if utc_offset else 0.0
        t = math.ceil((self.start + offset) / step) * step - offset
        ticks = []
        while t <= self.end + 1e-6:
            local = self.clock.at(t)
            ticks.append((t, f"{local:%H:%M:%S}" if step < 60 else f"{local:%H:%M}"))
            t += step
        return ticks


_TEMPLATE = None


def _template():
    global _TEMPLATE
    if _TEMPLATE is None:
        env = Environment(loader=PackageLoader("orchestrator", "templates"), autoescape=select_autoescape(["svg"]))
        _TEMPLATE = env.get_template("timeline.svg")
    return _TEMPLATE
