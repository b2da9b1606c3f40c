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

from ..i18n import N_, Language, duration, negotiate, ntranslate, translate
from ..sentences import STATUS_WORDS
from ..timeline import FAULT_COLOUR, KIND_COLOURS, Timeline, venue_colours
from ..wording import Clock
from .build import REASON_WORDS
from .model import FaultRecord, FloorRecord, Minutes, OnAirRecord, RollCallRecord, SegmentRecord

FORMATS = ("html", "md", "json")
MEDIA_TYPES = {"html": "text/html", "md": "text/markdown", "json": "application/json"}

FAULT_WORDS = {
    "disconnected": N_("disconnected"),
    "rejoined": N_("rejoined"),
    "fallback": N_("fallback"),
    "link_degraded": N_("poor link"),
    "link_recovered": N_("link recovered"),
    "link_revoked": N_("links revoked"),
    "server_restarted": N_("server restarted"),
    "media_node_lost": N_("media node lost"),
    "media_node_back": N_("media node back"),
}
FLOOR_WORDS = {
    "waiting": N_("still waiting"),
    "granted": N_("granted"),
    "taken": N_("taken on air by the operator"),
    "dismissed": N_("dismissed by the operator"),
    "withdrawn": N_("withdrawn by the venue"),
    "disconnected": N_("the venue disconnected"),
    "session_ended": N_("the session ended"),
}
TAKEN_BY = {
    "segment": N_("by the segment"),
    "take": N_("by the operator"),
    "floor": N_("by a floor grant"),
    "roll_call": N_("by the roll call"),
    "polling": N_("by polling"),
    "rejoined": N_("on rejoining"),
}
MIC_CAUSES = {"operator": N_("operator"), "segment start": N_("segment start"), "on-air change": N_("on-air change")}
KIND_WORDS = {"presiding": N_("presiding"), "roll_call": N_("roll call"), "speech": N_("speech"),
              "award_announcement": N_("award announcement"), "award_presentation": N_("award presentation"),
              "closing": N_("closing"), "break": N_("break")}
WHO_WORDS = {"venue": N_("venue"), "operator": N_("operator"), "session": N_("session"),
             "main": N_("main"), "branch": N_("branch")}
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
    """The minutes in words: computed from the records, never assumed; in the language the
    minutes were built in."""

    def __init__(self, minutes: Minutes):
        self.m = minutes
        self.lang: Language = negotiate(minutes.conference.language)
        self.clock = Clock(minutes.conference.timezone)
        first = minutes.started_at if minutes.started_at is not None else minutes.up_to
        self.day = self.clock.date(first)
        self.zone = self.clock.zone_label(first)

    def _(self, msgid: str, **params: object) -> str:
        return translate(self.lang, msgid, **params)

    def n(self, singular: str, plural: str, n: int) -> str:
        return ntranslate(self.lang, singular, plural, n)

    def word(self, value: str | None) -> str:
        """A role or who recorded a status, in words ('-' for none)."""
        return self._(WHO_WORDS[value]) if value in WHO_WORDS else (value or "-")

    def time(self, t: float | None) -> str:
        """'14:31:05'; with the date when not the session's day; '-' for no time."""
        if t is None:
            return "-"
        return self.clock.time(t) if self.clock.date(t) == self.day else self.clock.stamp(t)

    def duration(self, seconds: float) -> str:
        return duration(self.lang, seconds)

    # ------------------------------------------------------------ the header

    def session(self) -> str:
        m, _ = self.m, self._
        planned = _(N_("planned {start} to {end}, {duration}"), start=f"{self.clock.at(m.conference.planned_start):%H:%M}",
                    end=f"{self.clock.at(m.conference.planned_end):%H:%M}", duration=self.duration(m.conference.planned_s))
        if m.started_at is None:
            return _(N_("not started ({planned})"), planned=planned)
        if m.ended_at is None:
            return _(N_("started {start}, still running at {now} ({so_far} so far; {planned})"),
                     start=self.time(m.started_at), now=self.time(m.up_to), so_far=self.duration(m.up_to - m.started_at),
                     planned=planned)
        return _(N_("{start} to {end} ({lasted}; {planned})"), start=self.time(m.started_at), end=self.time(m.ended_at),
                 lasted=self.duration(m.ended_at - m.started_at), planned=planned)

    def status(self) -> str:
        _ = self._
        return {"scheduled": _(N_("not started")),
                "running": _(N_("running: these minutes stop at {time}"), time=self.time(self.m.up_to)),
                "ended": _(N_("ended"))}[self.m.status]

    def present(self) -> str:
        venues = self.m.venues
        present = [v for v in venues if v.present]
        text = self._(N_("{present} of {venues}"), present=len(present),
                      venues=self.n("{n} venue", "{n} venues", len(venues)))
        missing = [v.venue.name for v in venues if not v.present]
        return text + (self._(N_("; not present: {names}"), names=self._(N_(", ")).join(missing)) if missing else "")

    def takes(self) -> str:
        """'6 changes of the on-air venue: 4 takes (3 by the segment, 1 on rejoining), 2 fallbacks'."""
        _ = self._
        changes = [o for o in self.m.on_air if o.reason != "start"]
        if not changes:
            return _(N_("no change of the on-air venue"))
        takes: Counter[str] = Counter(o.reason for o in changes if o.reason != "fallback")
        fallbacks = len(changes) - sum(takes.values())
        said = []
        if takes:
            by = _(N_(", ")).join(_(N_("{n} {how}"), n=takes[reason], how=_(words))
                                  for reason, words in TAKEN_BY.items() if takes[reason])
            said.append(_(N_("{takes} ({by})"), takes=self.n("{n} take", "{n} takes", sum(takes.values())), by=by))
        if fallbacks:
            said.append(self.n("{n} fallback", "{n} fallbacks", fallbacks))
        return _(N_("{changes} of the on-air venue: {said}"), changes=self.n("{n} change", "{n} changes", len(changes)),
                 said=_(N_(", ")).join(said))

    def awards(self) -> str:
        awards = self.m.awards
        if not awards:
            return self._(N_("none presented"))
        return self._(N_("{presentations} of {awards}"),
                      presentations=self.n("{n} presentation", "{n} presentations", len(awards)),
                      awards=self.n("{n} award", "{n} awards", len({a.award for a in awards})))

    def faults(self) -> str:
        kinds: Counter[str] = Counter(f.kind for f in self.m.faults)
        said = {
            "disconnected": self.n("{n} disconnection", "{n} disconnections", kinds["disconnected"]),
            "fallback": self.n("{n} fallback", "{n} fallbacks", kinds["fallback"]),
            "link_degraded": self.n("{n} poor link", "{n} poor links", kinds["link_degraded"]),
            "link_revoked": self.n("{n} revoked link", "{n} revoked links", kinds["link_revoked"]),
            "server_restarted": self.n("{n} server restart", "{n} server restarts", kinds["server_restarted"]),
            "media_node_lost": self.n("{n} media node lost", "{n} media nodes lost", kinds["media_node_lost"]),
        }
        return self._(N_(", ")).join(text for kind, text in said.items() if kinds[kind]) or self._(N_("none"))

    def server(self) -> str:
        _ = self._
        starts = self.m.server_starts
        if not starts:
            return _(N_("no server start recorded"))
        restarts = [s for s in starts if s.restart]
        first = (_(N_("started before this log recorded starts")) if starts[0].restart
                 else _(N_("started {time}"), time=self.time(starts[0].at)))
        if not restarts:
            return first + _(N_(", no restart"))
        return first + _(N_("; restarted {times}: {when}"), times=self.n("{n} time", "{n} times", len(restarts)),
                         when=_(N_(", ")).join(self.time(s.at) for s in restarts))

    def roll_calls(self) -> str:
        if not self.m.roll_calls:
            return self._(N_("none held"))
        return self._(N_("; ")).join(self._(N_("{title}: {counts}"), title=rc.segment.title, counts=self.counts(rc))
                                     for rc in self.m.roll_calls)

    def written(self) -> str:
        return self._(N_("{time} from the event log ({events})"), time=self.clock.stamp(self.m.written_at),
                      events=self.n("{n} event", "{n} events", self.m.events))

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
                venues = self.n("{n} venue", "{n} venues", len({o.venue.id for o in run}))
                rows.append(OnAirRow(first.at, last.until, self._(N_("{venues} in turn"), venues=venues),
                                     self._(REASON_WORDS[first.reason]), segment))
        return rows

    def microphone_rows(self) -> list[MicrophoneRow]:
        """The microphone changes; those that followed venues put on air in turn are one row."""
        spans = [(run[0].at, run[-1].until) for run in self.in_turn() if len(run) > 1]
        rows: list[MicrophoneRow] = []
        folded: set[tuple[float, float]] = set()
        for x in self.m.microphones:
            span = next((s for s in spans if s[0] <= x.at <= s[1]), None) if x.cause == "on-air change" else None
            if span is None:
                rows.append(MicrophoneRow(x.at, self.names(x.opened), self.names(x.closed), self.mic_cause(x.cause)))
            elif span not in folded:
                folded.add(span)
                rows.append(MicrophoneRow(x.at, self._(N_("each venue's in its turn")),
                                          self._(N_("each venue's after its turn")), self.mic_cause(x.cause)))
        return rows

    def on_air_reason(self, o: OnAirRecord) -> str:
        words = self._(REASON_WORDS[o.reason])
        return self._(N_("{words}: {cause}"), words=words, cause=o.cause) if o.cause and o.reason == "fallback" else words

    def segment_times(self, s: SegmentRecord) -> tuple[str, str]:
        if s.status == "skipped":
            return self._(N_("skipped")), "-"
        if s.status == "running":
            return self.time(s.started_at), self._(N_("running"))
        return self.time(s.started_at), self.time(s.ended_at)

    def actual(self, s: SegmentRecord) -> str:
        if s.started_at is None:
            return "-"
        again = self._(N_(" ({n} runs)"), n=s.runs) if s.runs > 1 else ""
        return self.duration(s.actual_s) + again

    def overrun(self, s: SegmentRecord) -> str:
        return f"+{self.duration(s.overrun_s)}" if s.overrun_s >= 1 else ""

    def on_air_names(self, s: SegmentRecord) -> str:
        return " → ".join(v.name for v in s.on_air) or "-"

    def counts(self, rc: RollCallRecord) -> str:
        said = [self._(N_("{n} {status}"), n=n, status=self.status_word(status)) for status, n in rc.counts.items() if n]
        return self._(N_(", ")).join(said) or self._(N_("no venues"))

    def roll_call_heading(self, rc: RollCallRecord) -> str:
        _ = self._
        mode = _(N_("called in turn")) if rc.mode == "called" else _(N_("picture and sound checked at once"))
        end = (_(N_(" to {time}"), time=self.time(rc.finished_at)) if rc.finished_at is not None
               else _(N_(", still running")))
        return _(N_("{title} ({mode}), {start}{end}: {counts}"), title=rc.segment.title, mode=mode,
                 start=self.time(rc.started_at), end=end, counts=self.counts(rc))

    def status_word(self, status: str) -> str:
        return self._(STATUS_WORDS[status]) if status in STATUS_WORDS else status

    def check(self, ok: bool | None) -> str:
        return "-" if ok is None else self._(N_("ok")) if ok else self._(N_("failed"))

    def floor_outcome(self, r: FloorRecord) -> str:
        words = self._(FLOOR_WORDS[r.outcome])
        return words if r.closed_at is None else self._(N_("{outcome} {time}"), outcome=words, time=self.time(r.closed_at))

    def names(self, venues: Iterable) -> str:
        return self._(N_(", ")).join(v.name for v in venues) or "-"

    def caption(self, text: str | None, override: bool) -> str:
        if text is None:
            return self._(N_("(none)"))
        return text + (self._(N_(" (typed by the operator)")) if override else "")

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
                             self._(N_("{captions}: the award and its recipient, as under Awards presented"),
                                    captions=self.n("{n} award caption", "{n} award captions", j - i + 1))))
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

    def mic_cause(self, cause: str) -> str:
        """What opened or closed microphones: the operator, a segment start, an on-air change."""
        return self._(MIC_CAUSES[cause]) if cause in MIC_CAUSES else cause

    def fault_kind(self, f: FaultRecord) -> str:
        return self._(FAULT_WORDS[f.kind])


# ---------------------------------------------------------------- Markdown


def _cell(value: object) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _table(head: list[str], rows: Iterable[Iterable[object]], none: str = "None.") -> list[str]:
    rows = [list(r) for r in rows]
    if not rows:
        return [none]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(" --- " for _ in head) + "|"]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return lines


def render_markdown(minutes: Minutes) -> str:
    m, t = minutes, MinutesText(minutes)
    _ = t._
    none = _(N_("None."))

    def table(head: list[str], rows: Iterable[Iterable[object]]) -> list[str]:
        return _table([_(h) for h in head], rows, none)

    out = [
        _(N_("# Minutes: {title}"), title=m.conference.title),
        "",
        _(N_("- Conference: {id}, {day}; every time is in {zone}"), id=m.conference.id, day=t.day, zone=t.zone),
        _(N_("- Session: {said}"), said=t.session()),
        _(N_("- Status: {said}"), said=t.status()),
        _(N_("- Venues present: {said}"), said=t.present()),
        _(N_("- On air: {said}"), said=t.takes()),
        _(N_("- Roll call: {said}"), said=t.roll_calls()),
        _(N_("- Awards: {said}"), said=t.awards()),
        _(N_("- Faults: {said}"), said=t.faults()),
        _(N_("- Server: {said}"), said=t.server()),
        _(N_("- Written: {said}"), said=t.written()),
    ]
    out += ["", _(N_("## Venues")), ""]
    out += table([N_("Venue"), N_("Role"), N_("First joined"), N_("Connected"), N_("Disconnections"), N_("At the end")], (
        [v.venue.name, t.word(v.role), t.time(v.first_joined_at),
         t.duration(v.connected_s) if v.present else _(N_("not present")),
         v.disconnections, _(N_("connected")) if v.connected_at_end else _(N_("not connected"))]
        for v in m.venues
    ))
    out += ["", _(N_("## Agenda")), ""]
    out += table(["#", N_("Segment"), N_("On air"), N_("Started"), N_("Ended"), N_("Planned"), N_("Actual"),
                  N_("Overrun")], (
        [s.index, s.segment.title, t.on_air_names(s), *t.segment_times(s), t.duration(s.planned_s), t.actual(s),
         t.overrun(s)]
        for s in m.segments
    ))
    out += ["", _(N_("## On air")), ""]
    out += table([N_("From"), N_("To"), N_("Venue"), N_("Why"), N_("Segment")], (
        [t.time(o.at), t.time(o.until), o.venue, o.why, o.segment] for o in t.on_air_rows()
    ))
    out += ["", _(N_("## Roll call")), ""]
    if not m.roll_calls:
        out.append(_(N_("None held.")))
    for rc in m.roll_calls:
        out += [f"### {t.roll_call_heading(rc)}", ""]
        out += table([N_("Venue"), N_("Status"), N_("Picture"), N_("Sound"), N_("Asked"), N_("Recorded"), N_("By"),
                       N_("Note")], (
            [e.venue.name, t.status_word(e.status), t.check(e.picture_ok), t.check(e.sound_ok), t.time(e.asked_at),
             t.time(e.recorded_at), t.word(e.recorded_by), e.note or ""]
            for e in rc.entries
        ))
        out.append("")
    if m.roll_calls:
        out.pop()
    out += ["", _(N_("## Awards presented")), ""]
    out += table([N_("Time"), N_("Award"), N_("Recipient"), N_("Venue")], (
        [t.time(a.at), a.category, a.recipient, a.venue.name if a.venue else "-"] for a in m.awards
    ))
    out += ["", _(N_("## Floor requests")), ""]
    out += table([N_("Raised"), N_("Venue"), N_("Outcome")], (
        [t.time(r.raised_at), r.venue.name, t.floor_outcome(r)] for r in m.floor
    ))
    out += ["", _(N_("## Microphones")), ""]
    out += table([N_("Time"), N_("Opened"), N_("Closed"), N_("With")], (
        [t.time(x.at), x.opened, x.closed, x.cause] for x in t.microphone_rows()
    ))
    out += ["", _(N_("## Captions")), ""]
    out += table([N_("Time"), N_("Caption")], t.caption_rows())
    out += ["", _(N_("## Faults")), ""]
    out += table([N_("Time"), N_("Fault"), N_("Venue"), N_("Detail")], (
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
    _ = text._
    row = tl.row(_(N_("Segments")))
    kinds = {s.segment.id: s.kind for s in m.segments}
    for s in m.segments:
        if s.started_at is None:
            continue
        end = s.ended_at if s.ended_at is not None else m.up_to
        tl.box(row, s.started_at, end, KIND_COLOURS.get(s.kind, "#cccccc"), s.segment.title,
               _(N_("{title}, {start} to {end}"), title=s.segment.title, start=text.time(s.started_at),
                 end=text.time(end)))
    row = tl.row(_(N_("On air")))
    colours = venue_colours(m.conference.main_venue.id, [v.venue.id for v in m.venues])
    for o in m.on_air:
        tl.box(row, o.at, o.until, colours.get(o.venue.id, "#cccccc"), o.venue.name,
               _(N_("{venue} on air {start} to {end}: {why}"), venue=o.venue.name, start=text.time(o.at),
                 end=text.time(o.until), why=text.on_air_reason(o)))
        if o.reason == "fallback":
            tl.marker(row, o.at, "triangle", FAULT_COLOUR,
                      _(N_("fallback at {time}: {cause}"), time=text.time(o.at), cause=o.cause))
    for v in m.venues:
        row = tl.row(v.venue.name, height=13, gap=3)
        for span in v.connected:
            tl.box(row, span.start, span.end, CONNECTED_COLOUR, "",
                   _(N_("{venue} connected {start} to {end}"), venue=v.venue.name, start=text.time(span.start),
                     end=text.time(span.end)))
        for span in v.poor_link:
            tl.box(row, span.start, span.end, POOR_LINK_COLOUR, "",
                   _(N_("{venue}: poor link {start} to {end}"), venue=v.venue.name, start=text.time(span.start),
                     end=text.time(span.end)))
    row = tl.row(_(N_("Faults and awards")))
    for f in m.faults:
        if f.kind in ("disconnected", "fallback", "link_revoked", "server_restarted", "media_node_lost"):
            shape = "triangle" if f.kind in ("server_restarted", "media_node_lost") else "circle"
            who = f"{f.venue.name}: " if f.venue else ""
            tl.marker(row, f.at, shape, FAULT_COLOUR, f"{text.time(f.at)} {text.fault_kind(f)}: {who}{f.detail}")
    for a in m.awards:
        tl.marker(row, a.at, "circle", AWARD_COLOUR, f"{text.time(a.at)} {a.category}: {a.recipient}")
    for kind in dict.fromkeys(kinds[s.segment.id] for s in m.segments if s.started_at is not None):
        tl.key(KIND_COLOURS.get(kind, "#cccccc"), _(KIND_WORDS[kind]) if kind in KIND_WORDS else kind.replace("_", " "))
    names = {v.venue.id: v.venue.name for v in m.venues}
    for venue_id, colour in colours.items():
        if any(o.venue.id == venue_id for o in m.on_air):
            tl.key(colour, _(N_("on air: {venue}"), venue=names[venue_id]))
    tl.key(CONNECTED_COLOUR, _(N_("connected")))
    tl.key(POOR_LINK_COLOUR, _(N_("poor link")))
    tl.key(FAULT_COLOUR, _(N_("fault")), "circle")
    tl.key(FAULT_COLOUR, _(N_("fallback / server restart")), "triangle")
    tl.key(AWARD_COLOUR, _(N_("award presented")), "circle")
    return tl


def render_html(minutes: Minutes) -> str:
    env = Environment(loader=PackageLoader("orchestrator.minutes", "templates"), autoescape=select_autoescape(["html"]))
    text = MinutesText(minutes)
    env.globals["_"] = text._
    return env.get_template("minutes.html").render(m=minutes, text=text, timeline=draw_timeline(minutes, text),
                                                   lang=text.lang)


def render(minutes: Minutes, fmt: str) -> str:
    """The minutes in one of `FORMATS`."""
    return {"html": render_html, "md": render_markdown, "json": render_json}[fmt](minutes)
