"""The minutes for people and machines: Markdown, JSON, and a printable HTML page (A4).

`MinutesText` says everything in words (venue names, counted nouns, wall-clock times in
the conference's time zone with the date said once); the Markdown and the HTML page both
use it, so they say the same. The page draws the session's timeline with
`orchestrator.timeline`, as the rehearsal report does.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from jinja2 import Environment, PackageLoader, select_autoescape

from ..config import format_duration
from ..timeline import FAULT_COLOUR, KIND_COLOURS, Timeline, venue_colours
from ..wording import Clock, count
from .build import REASON_WORDS
from .model import FaultRecord, FloorRecord, Minutes, OnAirRecord, RollCallRecord, SegmentRecord

FORMATS = ("html", "md", "json")
MEDIA_TYPES = {"html": "text/html", "md": "text/markdown", "json": "application/json"}

FAULT_WORDS = {
    "disconnected": "disconnected",
    "rejoined": "rejoined",
    "fallback": "fallback",
    "link_degraded": "poor link",
    "link_recovered": "link recovered",
    "link_revoked": "links revoked",
    "server_restarted": "server restarted",
}
FLOOR_WORDS = {
    "waiting": "still waiting",
    "granted": "granted",
    "taken": "taken on air by the operator",
    "dismissed": "dismissed by the operator",
    "withdrawn": "withdrawn by the venue",
    "disconnected": "the venue disconnected",
    "session_ended": "the session ended",
}
STATUS_WORDS = {"no_answer": "no answer"}
TAKEN_BY = {
    "segment": "by the segment",
    "take": "by the operator",
    "floor": "by a floor grant",
    "roll_call": "by the roll call",
    "polling": "by polling",
    "rejoined": "on rejoining",
}
CONNECTED_COLOUR = "#9ecae1"
POOR_LINK_COLOUR = "#f2b134"
AWARD_COLOUR = "#edc948"


IN_TURN = ("roll_call", "polling")  # reasons that put venue after venue on air: one row in the minutes' tables


@dataclass(frozen=True)
class OnAirRow:
    """One row of the minutes' "On air" table: a change, or venues put on air in turn."""

    at: float
    until: float
    venue: str
    why: str
    segment: str


@dataclass(frozen=True)
class MicrophoneRow:
    at: float
    opened: str
    closed: str
    cause: str


class MinutesText:
    """The minutes in words: computed from the records, never assumed."""

    def __init__(self, minutes: Minutes):
        self.m = minutes
        self.clock = Clock(minutes.conference.timezone)
        first = minutes.started_at if minutes.started_at is not None else minutes.up_to
        self.day = self.clock.date(first)
        self.zone = self.clock.zone_label(first)

    def time(self, t: float | None) -> str:
        """'14:31:05'; with the date when not the session's day; '-' for no time."""
        if t is None:
            return "-"
        return self.clock.time(t) if self.clock.date(t) == self.day else self.clock.stamp(t)

    @staticmethod
    def duration(seconds: float) -> str:
        return format_duration(seconds)

    # ------------------------------------------------------------ the header

    def session(self) -> str:
        m = self.m
        planned = (f"planned {self.clock.at(m.conference.planned_start):%H:%M} to "
                   f"{self.clock.at(m.conference.planned_end):%H:%M}, {self.duration(m.conference.planned_s)}")
        if m.started_at is None:
            return f"not started ({planned})"
        if m.ended_at is None:
            return (f"started {self.time(m.started_at)}, still running at {self.time(m.up_to)} "
                    f"({self.duration(m.up_to - m.started_at)} so far; {planned})")
        lasted = self.duration(m.ended_at - m.started_at)
        return f"{self.time(m.started_at)} to {self.time(m.ended_at)} ({lasted}; {planned})"

    def status(self) -> str:
        return {"scheduled": "not started", "running": f"running: these minutes stop at {self.time(self.m.up_to)}",
                "ended": "ended"}[self.m.status]

    def present(self) -> str:
        venues = self.m.venues
        present = [v for v in venues if v.present]
        text = f"{len(present)} of {count(len(venues), 'venue')}"
        missing = [v.venue.name for v in venues if not v.present]
        return text + (f"; not present: {', '.join(missing)}" if missing else "")

    def takes(self) -> str:
        """'6 changes of the on-air venue: 4 takes (3 by the segment, 1 on rejoining), 2 fallbacks'."""
        changes = [o for o in self.m.on_air if o.reason != "start"]
        if not changes:
            return "no change of the on-air venue"
        takes: Counter[str] = Counter(o.reason for o in changes if o.reason != "fallback")
        fallbacks = len(changes) - sum(takes.values())
        said = []
        if takes:
            by = ", ".join(f"{takes[reason]} {words}" for reason, words in TAKEN_BY.items() if takes[reason])
            said.append(f"{count(sum(takes.values()), 'take')} ({by})")
        if fallbacks:
            said.append(count(fallbacks, "fallback"))
        return f"{count(len(changes), 'change')} of the on-air venue: {', '.join(said)}"

    def awards(self) -> str:
        awards = self.m.awards
        if not awards:
            return "none presented"
        return f"{count(len(awards), 'presentation')} of {count(len({a.award for a in awards}), 'award')}"

    def faults(self) -> str:
        kinds: Counter[str] = Counter(f.kind for f in self.m.faults)
        nouns = [("disconnected", "disconnection"), ("fallback", "fallback"), ("link_degraded", "poor link"),
                 ("link_revoked", "revoked link"), ("server_restarted", "server restart")]
        said = [count(kinds[kind], noun) for kind, noun in nouns if kinds[kind]]
        return ", ".join(said) or "none"

    def server(self) -> str:
        starts = self.m.server_starts
        if not starts:
            return "no server start recorded"
        restarts = [s for s in starts if s.restart]
        first = "started before this log recorded starts" if starts[0].restart else f"started {self.time(starts[0].at)}"
        if not restarts:
            return first + ", no restart"
        return first + f"; restarted {count(len(restarts), 'time')}: " + ", ".join(self.time(s.at) for s in restarts)

    def roll_calls(self) -> str:
        if not self.m.roll_calls:
            return "none held"
        return "; ".join(f"{rc.segment.title}: {self.counts(rc)}" for rc in self.m.roll_calls)

    def written(self) -> str:
        return f"{self.clock.stamp(self.m.written_at)} from the event log ({count(self.m.events, 'event')})"

    # ------------------------------------------------------------ records

    def in_turn(self) -> list[list[OnAirRecord]]:
        """The on-air changes in runs: venues a called roll call or program polling put on air one
        after another in one segment form one run (each venue is in the roll-call record or the
        JSON minutes); every other change is a run of its own."""
        runs: list[list[OnAirRecord]] = []
        for o in self.m.on_air:
            last = runs[-1][-1] if runs else None
            if last is not None and o.reason in IN_TURN and (o.reason, o.segment) == (last.reason, last.segment):
                runs[-1].append(o)
            else:
                runs.append([o])
        return runs

    def on_air_rows(self) -> list[OnAirRow]:
        rows = []
        for run in self.in_turn():
            first, last = run[0], run[-1]
            segment = first.segment.title if first.segment else "-"
            if len(run) == 1:
                rows.append(OnAirRow(first.at, first.until, first.venue.name, self.on_air_reason(first), segment))
            else:
                venues = count(len({o.venue.id for o in run}), "venue")
                rows.append(OnAirRow(first.at, last.until, f"{venues} in turn", REASON_WORDS[first.reason], segment))
        return rows

    def microphone_rows(self) -> list[MicrophoneRow]:
        """The microphone changes; those that followed venues put on air in turn are one row."""
        spans = [(run[0].at, run[-1].until) for run in self.in_turn() if len(run) > 1]
        rows: list[MicrophoneRow] = []
        folded: set[tuple[float, float]] = set()
        for x in self.m.microphones:
            span = next((s for s in spans if s[0] <= x.at <= s[1]), None) if x.cause == "on-air change" else None
            if span is None:
                rows.append(MicrophoneRow(x.at, self.names(x.opened), self.names(x.closed), x.cause))
            elif span not in folded:
                folded.add(span)
                rows.append(MicrophoneRow(x.at, "each venue's in its turn", "each venue's after its turn", x.cause))
        return rows

    def on_air_reason(self, o: OnAirRecord) -> str:
        words = REASON_WORDS[o.reason]
        return f"{words}: {o.cause}" if o.cause and o.reason == "fallback" else words

    def segment_times(self, s: SegmentRecord) -> tuple[str, str]:
        if s.status == "skipped":
            return "skipped", "-"
        if s.status == "running":
            return self.time(s.started_at), "running"
        return self.time(s.started_at), self.time(s.ended_at)

    def actual(self, s: SegmentRecord) -> str:
        if s.started_at is None:
            return "-"
        again = f" ({s.runs} runs)" if s.runs > 1 else ""
        return self.duration(s.actual_s) + again

    def overrun(self, s: SegmentRecord) -> str:
        return f"+{self.duration(s.overrun_s)}" if s.overrun_s >= 1 else ""

    def on_air_names(self, s: SegmentRecord) -> str:
        return " → ".join(v.name for v in s.on_air) or "-"

    def counts(self, rc: RollCallRecord) -> str:
        said = [f"{n} {STATUS_WORDS.get(status, status)}" for status, n in rc.counts.items() if n]
        return ", ".join(said) or "no venues"

    def roll_call_heading(self, rc: RollCallRecord) -> str:
        mode = "called in turn" if rc.mode == "called" else "picture and sound checked at once"
        end = f" to {self.time(rc.finished_at)}" if rc.finished_at is not None else ", still running"
        return f"{rc.segment.title} ({mode}), {self.time(rc.started_at)}{end}: {self.counts(rc)}"

    @staticmethod
    def status_word(status: str) -> str:
        return STATUS_WORDS.get(status, status)

    @staticmethod
    def check(ok: bool | None) -> str:
        return "-" if ok is None else "ok" if ok else "failed"

    def floor_outcome(self, r: FloorRecord) -> str:
        words = FLOOR_WORDS[r.outcome]
        return words if r.closed_at is None else f"{words} {self.time(r.closed_at)}"

    @staticmethod
    def names(venues: Iterable) -> str:
        return ", ".join(v.name for v in venues) or "-"

    @staticmethod
    def caption(text: str | None, override: bool) -> str:
        if text is None:
            return "(none)"
        return text + (" (typed by the operator)" if override else "")

    def caption_rows(self) -> list[tuple[str, str]]:
        """(when, caption) for the captions table; a run of award captions is one row (the awards
        table lists them)."""
        rows, captions, i = [], self.m.captions, 0
        while i < len(captions):
            j = i
            while captions[i].kind == "award" and j + 1 < len(captions) and captions[j + 1].kind == "award":
                j += 1
            if j > i:
                rows.append((f"{self.time(captions[i].at)}–{self.time(captions[j].at)}",
                             f"{count(j - i + 1, 'award caption')}: the award and its recipient, as under "
                             f"Awards presented"))
            else:
                rows.append((self.time(captions[i].at), self.caption(captions[i].text, captions[i].override)))
            i = j + 1
        return rows

    def award_groups(self) -> list[tuple[str, list]]:
        """The presentations in runs of one award: (its title, its presentations)."""
        groups: list[tuple[str, list]] = []
        for a in self.m.awards:
            if groups and groups[-1][1][-1].award == a.award:
                groups[-1][1].append(a)
            else:
                groups.append((a.category, [a]))
        return groups

    @staticmethod
    def fault_kind(f: FaultRecord) -> str:
        return FAULT_WORDS[f.kind]


# ---------------------------------------------------------------- Markdown


def _cell(value: object) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _table(head: list[str], rows: Iterable[Iterable[object]]) -> list[str]:
    rows = [list(r) for r in rows]
    if not rows:
        return ["None."]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(" --- " for _ in head) + "|"]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return lines


def render_markdown(minutes: Minutes) -> str:
    m, t = minutes, MinutesText(minutes)
    out = [
        f"# Minutes: {m.conference.title}",
        "",
        f"- Conference: {m.conference.id}, {t.day}; every time is in {t.zone}",
        f"- Session: {t.session()}",
        f"- Status: {t.status()}",
        f"- Venues present: {t.present()}",
        f"- On air: {t.takes()}",
        f"- Roll call: {t.roll_calls()}",
        f"- Awards: {t.awards()}",
        f"- Faults: {t.faults()}",
        f"- Server: {t.server()}",
        f"- Written: {t.written()}",
    ]
    out += ["", "## Venues", ""]
    out += _table(["Venue", "Role", "First joined", "Connected", "Disconnections", "At the end"], (
        [v.venue.name, v.role, t.time(v.first_joined_at), t.duration(v.connected_s) if v.present else "not present",
         v.disconnections, "connected" if v.connected_at_end else "not connected"]
        for v in m.venues
    ))
    out += ["", "## Agenda", ""]
    out += _table(["#", "Segment", "On air", "Started", "Ended", "Planned", "Actual", "Overrun"], (
        [s.index, s.segment.title, t.on_air_names(s), *t.segment_times(s), t.duration(s.planned_s), t.actual(s),
         t.overrun(s)]
        for s in m.segments
    ))
    out += ["", "## On air", ""]
    out += _table(["From", "To", "Venue", "Why", "Segment"], (
        [t.time(o.at), t.time(o.until), o.venue, o.why, o.segment] for o in t.on_air_rows()
    ))
    out += ["", "## Roll call", ""]
    if not m.roll_calls:
        out.append("None held.")
    for rc in m.roll_calls:
        out += [f"### {t.roll_call_heading(rc)}", ""]
        out += _table(["Venue", "Status", "Picture", "Sound", "Asked", "Recorded", "By", "Note"], (
            [e.venue.name, t.status_word(e.status), t.check(e.picture_ok), t.check(e.sound_ok), t.time(e.asked_at),
             t.time(e.recorded_at), e.recorded_by or "-", e.note or ""]
            for e in rc.entries
        ))
        out.append("")
    if m.roll_calls:
        out.pop()
    out += ["", "## Awards presented", ""]
    out += _table(["Time", "Award", "Recipient", "Venue"], (
        [t.time(a.at), a.category, a.recipient, a.venue.name if a.venue else "-"] for a in m.awards
    ))
    out += ["", "## Floor requests", ""]
    out += _table(["Raised", "Venue", "Outcome"], (
        [t.time(r.raised_at), r.venue.name, t.floor_outcome(r)] for r in m.floor
    ))
    out += ["", "## Microphones", ""]
    out += _table(["Time", "Opened", "Closed", "With"], (
        [t.time(x.at), x.opened, x.closed, x.cause] for x in t.microphone_rows()
    ))
    out += ["", "## Captions", ""]
    out += _table(["Time", "Caption"], t.caption_rows())
    out += ["", "## Faults", ""]
    out += _table(["Time", "Fault", "Venue", "Detail"], (
        [t.time(f.at), t.fault_kind(f), f.venue.name if f.venue else "-", f.detail] for f in m.faults
    ))
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------- JSON


def render_json(minutes: Minutes) -> str:
    """The records as JSON: unix seconds, the zone named in `conference.timezone`."""
    return minutes.model_dump_json(indent=2) + "\n"


# ---------------------------------------------------------------- HTML


def draw_timeline(minutes: Minutes, text: MinutesText) -> Timeline | None:
    """Segments, the on-air venue, each venue's connection (with its poor links) and the faults."""
    m = minutes
    if m.started_at is None:
        return None
    tl = Timeline(text.clock, m.started_at, m.up_to, width=760, label_width=150)
    row = tl.row("Segments")
    kinds = {s.segment.id: s.kind for s in m.segments}
    for s in m.segments:
        if s.started_at is None:
            continue
        end = s.ended_at if s.ended_at is not None else m.up_to
        tl.box(row, s.started_at, end, KIND_COLOURS.get(s.kind, "#cccccc"), s.segment.title,
               f"{s.segment.title}, {text.time(s.started_at)} to {text.time(end)}")
    row = tl.row("On air")
    colours = venue_colours(m.conference.main_venue.id, [v.venue.id for v in m.venues])
    for o in m.on_air:
        tl.box(row, o.at, o.until, colours.get(o.venue.id, "#cccccc"), o.venue.name,
               f"{o.venue.name} on air {text.time(o.at)} to {text.time(o.until)}: {text.on_air_reason(o)}")
        if o.reason == "fallback":
            tl.marker(row, o.at, "triangle", FAULT_COLOUR, f"fallback at {text.time(o.at)}: {o.cause}")
    for v in m.venues:
        row = tl.row(v.venue.name, height=13, gap=3)
        for span in v.connected:
            tl.box(row, span.start, span.end, CONNECTED_COLOUR, "",
                   f"{v.venue.name} connected {text.time(span.start)} to {text.time(span.end)}")
        for span in v.poor_link:
            tl.box(row, span.start, span.end, POOR_LINK_COLOUR, "",
                   f"{v.venue.name}: poor link {text.time(span.start)} to {text.time(span.end)}")
    row = tl.row("Faults and awards")
    for f in m.faults:
        if f.kind in ("disconnected", "fallback", "link_revoked", "server_restarted"):
            shape = "triangle" if f.kind == "server_restarted" else "circle"
            who = f"{f.venue.name}: " if f.venue else ""
            tl.marker(row, f.at, shape, FAULT_COLOUR, f"{text.time(f.at)} {text.fault_kind(f)}: {who}{f.detail}")
    for a in m.awards:
        tl.marker(row, a.at, "circle", AWARD_COLOUR, f"{text.time(a.at)} {a.category}: {a.recipient}")
    for kind in dict.fromkeys(kinds[s.segment.id] for s in m.segments if s.started_at is not None):
        tl.key(KIND_COLOURS.get(kind, "#cccccc"), kind.replace("_", " "))
    names = {v.venue.id: v.venue.name for v in m.venues}
    for venue_id, colour in colours.items():
        if any(o.venue.id == venue_id for o in m.on_air):
            tl.key(colour, f"on air: {names[venue_id]}")
    tl.key(CONNECTED_COLOUR, "connected")
    tl.key(POOR_LINK_COLOUR, "poor link")
    tl.key(FAULT_COLOUR, "fault", "circle")
    tl.key(FAULT_COLOUR, "fallback / server restart", "triangle")
    tl.key(AWARD_COLOUR, "award presented", "circle")
    return tl


def render_html(minutes: Minutes) -> str:
    env = Environment(loader=PackageLoader("orchestrator.minutes", "templates"), autoescape=select_autoescape(["html"]))
    text = MinutesText(minutes)
    return env.get_template("minutes.html").render(m=minutes, text=text, timeline=draw_timeline(minutes, text))


def render(minutes: Minutes, fmt: str) -> str:
    """The minutes in one of `FORMATS`."""
    return {"html": render_html, "md": render_markdown, "json": render_json}[fmt](minutes)
