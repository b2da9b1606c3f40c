"""The verifier: what each venue actually received, against what the session decided.

Theory of operation
-------------------
The session's program changes (`venue_took_air`, `program_fell_back`) cut the run into
*epochs*, each with one on-air venue. An epoch asked for by an operator command starts
when the command was sent; one the server decided by itself (a venue dropped, or came
back) starts at the server's event time. In every epoch each receiving venue must show
`expected_view`: the on-air venue; the on-air venue itself shows the main venue; the
main venue shows nothing while it is on air (it receives no program video).

Per segment, for every epoch that starts in it and every venue whose view must change,
the switch latency is the first `on_air_seen` of the expected venue in that venue's
agent log minus the epoch's start: later than the threshold is `switch_late`, never
(before the epoch ended, or the segment did) is `switch_missing`. Any other venue
shown is `wrong_venue_seen`. Every caption must reach every connected venue within the
threshold, counted one by one: a caption a venue showed answers one caption change only,
so the same caption set twice must be shown twice. The checks also look at decoding (`broken_frames`), frame rates
(`frames_dropped`), the on-air venue at each segment's start, the roll-call record and
the drills. A check looks at most `threshold` seconds past its segment's end.

The main venue's own picture follows its return: the session's events are replayed
through the core, and `main_return_view` says, at every moment, whether the main venue
sees the program, one venue (chosen, or the one main-return polling is on) or a wall.
Its changes that are not the program's are the segment's *return* switches, measured at
the main venue like takes; a wall's tiles are measured slot by slot from the main venue's
`tile_seen` lines (`tile_late`, `tile_missing`, `wrong_tile_seen`). The branch venues keep
the program meanwhile: anything else they show is `wrong_venue_seen`.

A called roll call is checked call by call: the called venue was on air while it was
called (`called_not_on_air`), every other venue showed it (the call's switch), and the
record is what the venues did: present with its own checks, absent when not connected,
`no_answer` when it never answered (the --no-answer drill).

Expected results of drills are outcomes, not findings: an absent venue recorded absent,
a segment falling back to the main venue because its venue is away, a venue that never
answers recorded so. Degraded media while a venue with a lossy uplink is on air is an
outcome too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, TypeVar

from .. import wording
from ..conference import PollingTarget, ReturnMode
from ..core import Session, main_return_view
from ..core.errors import ReplayError
from ..core.events import (
    Caption,
    CaptionChanged,
    Event,
    ProgramFellBack,
    RollCallAnswered,
    RollCallCalled,
    RollCallFinished,
    RollCallMarked,
    RollCallPaused,
    RollCallRequeued,
    VenueJoined,
    VenueLeft,
    VenueTookAir,
)
from ..i18n import N_, PARTS, Phrase, phrase
from ..logs import get_logger
from ..sentences import FALLBACKS, LEAVE_REASONS, STATUS_WORDS
from .records import DrillOutcome, DropRun, Finding, Recording, SegmentRun

log = get_logger(component="verifier")

SYNTHETIC_FPS = 15.0  # the simulated venues' video rate (venues.agent.synthetic_media)
FRAME_RATIO = 0.9  # a venue must get at least this share of the frames it should, ...
FRAME_SLACK_S = 0.5  # ... less this many seconds' worth (keyframe waits, frames late at the edges)
NOTICE_MARGIN_S = 2.0  # past the heartbeat timeout, for the server to notice a drop
CAUSES = {  # how a finding names a program change, by its cause
    "segment": N_("the segment start that put '{venue}' on air"),
    "take": N_("the take of '{venue}'"),
    "floor": N_("the floor given to '{venue}'"),
    "rejoined": N_("'{venue}' going back on air after rejoining"),
    "fallback": N_("the fallback to '{venue}'"),
    "roll_call": N_("the call of '{venue}'"),
    "polling": N_("the polling step to '{venue}'"),
    "main_return": N_("the main venue's return set to '{venue}'"),
    "wall_page": N_("the wall's new page"),
    "presence": N_("the main venue's return following '{venue}'"),
}
# What a venue did when its roll call came, as a finding says it.
WAS = {"not_connected": N_("not connected"), "silent": N_("connected and never answered"), "connected": N_("connected")}
RETURN_CAUSES = {  # what changed the main venue's return, by the event that did
    "main_return_changed": "main_return", "polling_started": "polling", "polling_stepped": "polling",
    "polling_stopped": "main_return", "wall_paged": "wall_page", "venue_joined": "presence", "venue_left": "presence",
    "program_fell_back": "presence",
}


def expected_view(receiver: str, on_air: str, main: str) -> str | None:
    """The venue `receiver` shows in its program when `on_air` is on air (None: no program)."""
    if receiver != on_air:
        return on_air
    return main if receiver != main else None


@dataclass(frozen=True)
class Epoch:
    start: float
    end: float
    on_air: str
    cause: str  # initial | segment | take | floor | rejoined | fallback
    asked: bool  # an operator command asked for it


Shown = tuple[str, str | None, tuple[str, ...], str | None, str]  # shows, venue, tiles, layout, mode


@dataclass(frozen=True)
class ReturnEpoch:
    """What the main venue's return showed from `start` to `end` (see `core.main_return_view`)."""

    start: float
    end: float
    shows: str  # program | single | wall
    venue: str | None  # single: the venue shown
    tiles: tuple[str, ...]  # wall: the venue of each slot
    layout: str | None
    cause: str  # RETURN_CAUSES, or initial
    mode: str = "program"  # what it was set to: program | single | wall | polling


@dataclass(frozen=True)
class View:
    """What one venue's program video must show from `start` to `end` (None: nothing)."""

    start: float
    end: float
    want: str | None
    cause: str
    label: str  # the venue the change is named after (on air, or shown by the main venue's return)
    why: Phrase  # for a finding: "'pinghu' was on air", "the main venue's return showed 'nanhu'"


@dataclass
class SwitchCheck:
    at: float
    on_air: str
    cause: str
    latencies: dict[str, float | None] = field(default_factory=dict)  # venue -> seconds; None: never


@dataclass
class WallCheck:
    """One wall page at the main venue: how long each slot took to show its venue."""

    at: float
    layout: str | None
    tiles: tuple[str, ...]
    cause: str
    latencies: dict[int, float | None] = field(default_factory=dict)  # slot -> seconds; None: never


@dataclass
class CallCheck:
    """One call of a called roll call: on air while called, seen by the others, and what was recorded."""

    venue: str
    at: float  # called
    ended: float  # answered, timed out, skipped, recalled, paused or finished
    outcome: str  # the venue's status after the call (present, no_answer, absent, waiting...)
    on_air: bool
    latencies: dict[str, float | None] = field(default_factory=dict)  # receiving venue -> seconds to show it


@dataclass
class CaptionCheck:
    at: float
    kind: str
    text: str
    delivered: dict[str, float] = field(default_factory=dict)  # venue -> seconds
    missing: list[str] = field(default_factory=list)


@dataclass
class SegmentCheck:
    segment: str
    switches: list[SwitchCheck] = field(default_factory=list)
    captions: list[CaptionCheck] = field(default_factory=list)
    fps: dict[str, float] = field(default_factory=dict)  # venue -> program frames per second received
    returns: list[SwitchCheck] = field(default_factory=list)  # the main venue's return, when not the program's
    walls: list[WallCheck] = field(default_factory=list)
    calls: list[CallCheck] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    outcomes: list[DrillOutcome] = field(default_factory=list)


class VenueTimeline:
    """One venue's agent log, read by time."""

    def __init__(self, entries: list[dict[str, Any]]):
        self.entries = entries
        self.up_spans = self._up_spans(entries)

    @staticmethod
    def _up_spans(entries: list[dict[str, Any]]) -> list[tuple[float, float]]:
        spans, since = [], None
        for e in entries:
            if e["event"] in ("joined", "reconnected") and since is None:
                since = e["ts"]
            elif e["event"] in ("disconnected", "dropped", "agent_failed", "agent_exited") and since is not None:
                spans.append((since, e["ts"]))
                since = None
        if since is not None:
            spans.append((since, math.inf))
        return spans

    def up(self, a: float, b: float) -> bool:
        """Connected for the whole of [a, b]."""
        return any(s <= a and b <= e for s, e in self.up_spans)

    def seen_before(self, t: float) -> str | None:
        current = None
        for e in self.entries:
            if e["ts"] >= t:
                break
            if e["event"] == "on_air_seen":
                current = e["venue"]
            elif e["event"] == "dropped":
                current = None  # the next agent starts with a blank picture
        return current

    def between(self, event: str, a: float, b: float) -> list[dict[str, Any]]:
        return [e for e in self.entries if e["event"] == event and a <= e["ts"] < b]

    def seen_between(self, a: float, b: float) -> list[tuple[float, str]]:
        return [(e["ts"], e["venue"]) for e in self.between("on_air_seen", a, b)]

    def tile_before(self, slot: int, t: float) -> str | None:
        """The venue wall slot `slot` showed just before `t`."""
        current = None
        for e in self.entries:
            if e["ts"] >= t:
                break
            if e["event"] == "tile_seen" and e["slot"] == slot:
                current = e["venue"]
            elif e["event"] == "dropped":
                current = None
        return current

    def tiles_between(self, slot: int, a: float, b: float) -> list[tuple[float, str]]:
        return [(e["ts"], e["venue"]) for e in self.between("tile_seen", a, b) if e["slot"] == slot]


def _same_caption(shown: dict[str, Any], caption: Caption) -> bool:
    """A venue's `caption` log line shows `caption` (compared on every field the line has)."""
    fields = caption.model_dump(mode="json")
    return (shown.get("kind"), shown.get("text")) == (fields["kind"], fields["text"]) and all(
        shown[k] == v for k, v in fields.items() if k in shown
    )


E = TypeVar("E", bound=Event)


def _key(event: Event) -> str:
    """The same event from the socket and from a command's answer has the same key."""
    return event.model_dump_json()


def session_events(rec: Recording) -> list[Event]:
    """Every session event, from the operator socket and the command answers, once each, in order."""
    seen: set[str] = set()
    events = []
    for event in [*rec.server_events, *(e for c in rec.commands for e in c.events)]:
        key = _key(event)
        if key not in seen:
            seen.add(key)
            events.append(event)
    events.sort(key=lambda e: e.at)
    return events


def command_times(rec: Recording) -> dict[str, float]:
    """When the command that caused each event was sent (by the event's key)."""
    return {_key(e): c.sent for c in rec.commands for e in c.events}


def epochs(rec: Recording) -> list[Epoch]:
    sent = command_times(rec)
    changes: list[tuple[float, str, str, bool]] = [(-math.inf, rec.main, "initial", False)]
    for event in session_events(rec):
        if isinstance(event, VenueTookAir):
            cause = event.reason.value
        elif isinstance(event, ProgramFellBack):
            cause = "fallback"
        else:
            continue
        key = _key(event)
        changes.append((sent.get(key, event.at), event.venue, cause, key in sent))
    return [
        Epoch(start, changes[i + 1][0] if i + 1 < len(changes) else math.inf, venue, cause, asked)
        for i, (start, venue, cause, asked) in enumerate(changes)
    ]


def on_air_at(all_epochs: list[Epoch], t: float) -> str:
    return [e for e in all_epochs if e.start <= t][-1].on_air


def return_epochs(rec: Recording) -> list[ReturnEpoch]:
    """What the main venue's return showed over the run: the session's events replayed
    through the core, `main_return_view` after each. A change asked for by an operator
    command starts when the command was sent, like a take."""
    conf = rec.conference
    sent = command_times(rec)
    session = Session(conf)
    last: Shown = ("program", None, (), None, "program")
    changes: list[tuple[float, Shown, str]] = [(-math.inf, last, "initial")]
    for event in session_events(rec):
        try:
            session.apply(event)
        except ReplayError as exc:  # a record that does not start at the session's start
            log.warning("return_replay_stopped", event=event.type, error=str(exc))
            break
        view = main_return_view(session.state, conf)
        shown: Shown = (view.shows.value, view.venue if view.shows is ReturnMode.SINGLE else None, view.tiles,
                        view.layout.value if view.layout else None, view.mode.value)
        if shown == last:
            continue
        at = sent.get(_key(event), event.at)
        if changes[-1][0] == at:
            changes.pop()  # several events of one command: what it ended with
        if changes[-1][1] != shown:
            changes.append((at, shown, RETURN_CAUSES.get(event.type, event.type)))
        last = shown
    return [
        ReturnEpoch(at, changes[i + 1][0] if i + 1 < len(changes) else math.inf, shows, venue, tiles, layout, cause, mode)
        for i, (at, (shows, venue, tiles, layout, mode), cause) in enumerate(changes)
    ]


def venue_views(venue: str, main: str, program: list[Epoch], returns: list[ReturnEpoch]) -> list[View]:
    """What `venue`'s program video must show over the run: the program's expected view, and
    for the main venue, the single venue its return shows instead (a wall leaves its program
    video on the program). Consecutive epochs with the same view are one."""
    if venue != main:
        return [View(e.start, e.end, expected_view(venue, e.on_air, main), e.cause, e.on_air, _was_on_air(e.on_air))
                for e in program]
    starts = sorted({e.start for e in program} | {r.start for r in returns})
    program_starts = {e.start for e in program}
    views: list[View] = []
    for i, t in enumerate(starts):
        end = starts[i + 1] if i + 1 < len(starts) else math.inf
        epoch = [e for e in program if e.start <= t][-1]
        ret = [r for r in returns if r.start <= t][-1]
        want: str | None
        if ret.shows == "single" and ret.venue is not None:
            want, why = ret.venue, phrase(N_("the main venue's return showed '{venue}'"), venue=ret.venue)
        else:
            want, why = expected_view(venue, epoch.on_air, main), _was_on_air(epoch.on_air)
        if views and views[-1].want == want:
            views[-1] = View(views[-1].start, end, want, views[-1].cause, views[-1].label, views[-1].why)
            continue
        cause, label = (epoch.cause, epoch.on_air) if t in program_starts else (ret.cause, want or main)
        views.append(View(t, end, want, cause, label, why))
    return views


def _was_on_air(venue: str) -> Phrase:
    return phrase(N_("'{venue}' was on air"), venue=venue)


def _cause(cause: str, venue: str) -> Phrase:
    """A program change named by its cause: "the take of 'pinghu'"."""
    msgid = CAUSES.get(cause)
    return phrase(msgid, venue=venue) if msgid else phrase(N_("{cause} of '{venue}'"), cause=cause, venue=venue)


def _fallback(reason: str, params: dict[str, Any]) -> Phrase | str:
    """Why the program fell back (as `sentences.fallback` says it), to say in any language."""
    msgid = FALLBACKS.get(reason)
    if msgid is None:
        return reason
    left = str(params.get("left") or "")
    return phrase(msgid, **{**params, "left": _leave_reason(left)})


def _leave_reason(reason: str) -> Phrase | str:
    return phrase(reason) if reason in LEAVE_REASONS else reason


def _seconds(value: float) -> str:
    return f"{value:.2f}"


class _Check:
    """Collects one segment's measurements, findings and drill outcomes."""

    def __init__(self, rec: Recording, run: SegmentRun):
        assert run.ended is not None, "a segment is checked once it has ended"
        self.rec, self.run = rec, run
        self.start, self.end = run.started, run.ended
        self.threshold = rec.plan.threshold_s
        self.segment = run.step.id
        self.clock = wording.Clock(rec.conference.conference.timezone)
        self.epochs = epochs(rec)
        self.returns = return_epochs(rec)
        self.events = session_events(rec)
        self.timelines = {v: VenueTimeline(entries) for v, entries in rec.logs.items()}
        self.views = {v: venue_views(v, rec.main, self.epochs, self.returns) for v in self.timelines}
        self.result = SegmentCheck(self.segment)
        self.lossy_on_air = {
            e.on_air for e in self.epochs if e.on_air in rec.drills.loss and e.start < self.end and e.end > self.start
        }

    def find(self, kind: str, venue: str | None, said: Phrase, at: float) -> None:
        self.result.findings.append(Finding.of(kind, self.segment, venue, said, at))

    def outcome(self, drill: str, venue: str, said: Phrase, at: float) -> None:
        self.result.outcomes.append(DrillOutcome.of(drill, venue, self.segment, said, at))

    def degraded(self, kind: str, venue: str, said: Phrase, at: float) -> None:
        """A media problem: an outcome while a venue with a lossy uplink is on air, else a finding."""
        if self.lossy_on_air:
            lossy = sorted(self.lossy_on_air)
            self.outcome("loss", lossy[0], phrase(N_("{what}, while '{lossy}' (lossy uplink) was on air in this segment"),
                                                  what=said, lossy=lossy[0]), at)
        else:
            self.find(kind, venue, said, at)

    def when(self, t: float) -> str:
        """A time as the operators read it: wall-clock time in the conference's time zone."""
        return self.clock.time(t)

    def events_of(self, kind: type[E], a: float, b: float, **match: Any) -> list[E]:
        """The session's events of one kind between `a` and `b`, with these field values."""
        return [
            e for e in self.events
            if isinstance(e, kind) and a <= e.at <= b and all(getattr(e, k) == v for k, v in match.items())
        ]

    # ------------------------------------------------------------ program

    def switches(self) -> None:
        """Every venue's view, epoch by epoch: the program's switches (every venue whose picture
        changed), and the main venue's return switches (its own picture alone)."""
        program = {e.start: SwitchCheck(e.start, e.on_air, e.cause) for e in self.epochs
                   if self.start <= e.start < self.end}
        returns: dict[float, SwitchCheck] = {}
        for venue, timeline in self.timelines.items():
            views = self.views[venue]
            for i, view in enumerate(views):
                if view.end <= self.start or view.start >= self.end:
                    continue
                check = None
                if view.start >= self.start:
                    check = program.get(view.start)
                    if check is None and view.want is not None:  # the main venue's return shows a venue
                        check = returns.setdefault(view.start, SwitchCheck(view.start, view.label, view.cause))
                # venues may still be leaving the views of the epoch before and of any short one just before
                recent = views[max(i - 1, 0):i] + [v for v in views[:i] if v.start >= view.start - self.threshold]
                self._venue_view(venue, timeline, view, recent, check)
        self.result.switches += program.values()
        self.result.returns += sorted(returns.values(), key=lambda c: c.at)

    def _venue_view(self, venue: str, timeline: VenueTimeline, epoch: View, recent: list[View],
                    check: SwitchCheck | None) -> None:
        want = epoch.want
        a = max(epoch.start, self.start)
        # a switch may complete up to `threshold` past the segment's end; other views are judged within it
        horizon = min(epoch.end, max(self.end, epoch.start + self.threshold)) if check else min(epoch.end, self.end)
        seen = timeline.seen_between(a, horizon)
        if want is None:
            for ts, shown in seen:
                if ts < self.end:
                    self.find("wrong_venue_seen", venue, phrase(
                        N_("'{venue}' showed '{shown}' at {time} while it was on air itself (it should receive no program)"),
                        venue=venue, shown=shown, time=self.when(ts)), ts)
            return
        current = timeline.seen_before(a)
        settled = a if current == want else next((ts for ts, shown in seen if shown == want), None)
        if check is not None and current != want:
            if not timeline.up(epoch.start, min(epoch.start + self.threshold, horizon)):
                return  # not connected through the switch: the drill checks cover it
            if epoch.end - epoch.start < self.threshold:
                return  # superseded before anyone could show it
            latency = None if settled is None else settled - epoch.start
            check.latencies[venue] = latency
            cause, time = _cause(epoch.cause, epoch.label), self.when(epoch.start)
            if latency is None:
                still = phrase(N_("it still showed '{current}'"), current=current) if current else phrase(N_("it showed nothing"))
                self.degraded("switch_missing", venue, phrase(
                    N_("'{venue}' never showed '{want}' after {cause} at {time} ({still})"),
                    venue=venue, want=want, cause=cause, time=time, still=still), epoch.start)
            elif latency > self.threshold:
                self.degraded("switch_late", venue, phrase(
                    N_("'{venue}' showed '{want}' {seconds} s after {cause} at {time} (threshold {threshold} s)"),
                    venue=venue, want=want, seconds=_seconds(latency), cause=cause, time=time,
                    threshold=f"{self.threshold:g}"), epoch.start)
        allowed = {v.want for v in recent} | {current, want}
        for ts, shown in seen:
            if ts < self.end and shown != want and ((settled is not None and ts > settled) or shown not in allowed):
                self.find("wrong_venue_seen", venue, phrase(
                    N_("'{venue}' showed '{shown}' at {time} while {why} (it should show '{want}')"),
                    venue=venue, shown=shown, time=self.when(ts), why=epoch.why, want=want), ts)

    def walls(self) -> None:
        """Each wall page at the main venue: every slot shows its tile's venue within the threshold."""
        timeline = self.timelines.get(self.rec.main)
        if timeline is None:
            return
        for i, ret in enumerate(self.returns):
            if ret.shows != "wall" or ret.end <= self.start or ret.start >= self.end:
                continue
            check = WallCheck(ret.start, ret.layout, ret.tiles, ret.cause) if ret.start >= self.start else None
            before = self.returns[i - 1].tiles if i and self.returns[i - 1].start >= ret.start - self.threshold else ()
            horizon = min(ret.end, max(self.end, ret.start + self.threshold)) if check else min(ret.end, self.end)
            short = ret.end - ret.start < self.threshold
            for slot, venue in enumerate(ret.tiles):
                a = max(ret.start, self.start)
                current = timeline.tile_before(slot, a)
                seen = timeline.tiles_between(slot, a, horizon)
                settled = a if current == venue else next((ts for ts, shown in seen if shown == venue), None)
                if check is not None and current != venue and not short and timeline.up(ret.start, ret.start + self.threshold):
                    latency = None if settled is None else settled - ret.start
                    check.latencies[slot] = latency
                    if latency is None:
                        self.degraded("tile_missing", self.rec.main, phrase(
                            N_("wall slot {slot} of '{main}' never showed '{venue}' after {time} (it showed '{current}')"),
                            slot=slot + 1, main=self.rec.main, venue=venue, time=self.when(ret.start), current=current),
                            ret.start)
                    elif latency > self.threshold:
                        self.degraded("tile_late", self.rec.main, phrase(
                            N_("wall slot {slot} of '{main}' showed '{venue}' {seconds} s after {time} "
                               "(threshold {threshold} s)"),
                            slot=slot + 1, main=self.rec.main, venue=venue, seconds=_seconds(latency),
                            time=self.when(ret.start), threshold=f"{self.threshold:g}"), ret.start)
                allowed = {current, venue, before[slot] if slot < len(before) else None}
                for ts, shown in seen:
                    if ts < self.end and shown != venue and ((settled is not None and ts > settled) or shown not in allowed):
                        self.find("wrong_tile_seen", self.rec.main, phrase(
                            N_("wall slot {slot} of '{main}' showed '{shown}' at {time} (it should show '{venue}')"),
                            slot=slot + 1, main=self.rec.main, shown=shown, time=self.when(ts), venue=venue), ts)
            if check is not None:
                self.result.walls.append(check)

    def calls(self) -> None:
        """Each call of a called roll call in this segment: on air while called, seen by every other venue."""
        ends = (RollCallCalled, RollCallFinished, RollCallPaused)
        mine = (RollCallAnswered, RollCallMarked, RollCallRequeued)
        sent = command_times(self.rec)
        switches = {c.at: c for c in self.result.switches}
        for i, event in enumerate(self.events):
            if not isinstance(event, RollCallCalled) or not self.start <= event.at < self.end:
                continue
            venue, at = event.venue, sent.get(_key(event), event.at)
            later = self.events[i + 1:]
            end_event = next((e for e in later if isinstance(e, ends) or (isinstance(e, mine) and e.venue == venue)), None)
            ended = sent.get(_key(end_event), end_event.at) if end_event else self.end
            outcome = "waiting"
            if isinstance(end_event, RollCallAnswered):
                outcome = "present"
            elif isinstance(end_event, RollCallMarked):
                outcome = end_event.status
            on_air = on_air_at(self.epochs, at + 1e-6) == venue
            switch = switches.get(at)
            call = CallCheck(venue, at, ended, outcome, on_air, dict(switch.latencies) if switch else {})
            self.result.calls.append(call)
            if not on_air:
                self.find("called_not_on_air", venue, phrase(
                    N_("'{venue}' was called at {time} but the program showed '{on_air}'"),
                    venue=venue, time=self.when(at), on_air=on_air_at(self.epochs, at + 1e-6)), at)

    def segment_start(self) -> None:
        run, rec = self.run, self.rec
        venue = run.step.venue
        on_air = on_air_at(self.epochs, run.start_answered)
        polling = run.step.polling
        if polling is not None and polling.target is PollingTarget.PROGRAM:
            # program polling puts its first connected venue on air instead of the segment's
            up = [v for v in rec.conference.listed_branches(polling.venues)
                  if v in self.timelines and self.timelines[v].up(run.started, run.started)]
            if up and on_air != up[0]:
                self.find("wrong_on_air", up[0], phrase(
                    N_("the segment started with '{on_air}' on air instead of '{venue}', the first venue it polls"),
                    on_air=on_air, venue=up[0]), run.started)
            if up:
                return
        timeline = self.timelines.get(venue)
        if venue == rec.main or (timeline is not None and timeline.up(run.started, run.started)):
            if on_air != venue:
                self.find("wrong_on_air", venue, phrase(
                    N_("the segment started with '{on_air}' on air instead of '{venue}', which was connected"),
                    on_air=on_air, venue=venue), run.started)
            return
        fell = self.events_of(ProgramFellBack, run.started, run.start_answered, from_venue=venue)
        if not fell or on_air != rec.main:
            said = (N_("'{venue}' was not connected, but the segment started with '{on_air}' on air") if fell else
                    N_("'{venue}' was not connected, but the segment started with '{on_air}' on air "
                       "and no fallback was reported"))
            self.find("fallback_missing", venue, phrase(said, venue=venue, on_air=on_air), run.started)
            return
        drill = "absent" if venue in rec.drills.absent else "drop" if any(d.venue == venue for d in rec.drills.drops) else None
        if drill:
            why = _fallback(fell[0].reason, dict(fell[0].reason_params))
            self.outcome(drill, venue, phrase(N_("the segment fell back to '{main}': {why}"), main=rec.main, why=why),
                         fell[0].at)

    # ------------------------------------------------------------ captions

    def captions(self) -> None:
        counted: dict[str, set[int]] = {venue: set() for venue in self.timelines}  # log lines already matched
        for event in self.events:
            caption = event.caption if isinstance(event, CaptionChanged) else None
            if not caption or not self.start <= event.at < self.end:
                continue
            at = event.at
            check = CaptionCheck(at, caption.kind.value, caption.text)
            for venue, timeline in self.timelines.items():
                if not timeline.up(at, at + self.threshold):
                    continue
                got = next((
                    e for e in timeline.between("caption", at, at + self.threshold)
                    if id(e) not in counted[venue] and _same_caption(e, caption)
                ), None)
                if got is not None:
                    counted[venue].add(id(got))
                    check.delivered[venue] = got["ts"] - at
                else:
                    check.missing.append(venue)
                    self.find("caption_missing", venue, phrase(
                        N_("'{venue}' did not show the caption \"{caption}\" within {threshold} s"),
                        venue=venue, caption=caption.text, threshold=f"{self.threshold:g}"), at)
            self.result.captions.append(check)

    # ------------------------------------------------------------ pictures

    def frames(self) -> None:
        for venue, timeline in self.timelines.items():
            broken = timeline.between("broken_frame", self.start, self.end)
            if broken:
                said = (N_("'{venue}' could not read {n} program frame") if len(broken) == 1
                        else N_("'{venue}' could not read {n} program frames"))
                self.degraded("broken_frames", venue, phrase(said, venue=venue, n=len(broken)), broken[0]["ts"])
        for venue, count in self.run.frames.items():
            if count.end is None or count.end_agent_start != count.agent_start or venue not in self.views:
                continue
            receiving = sum(
                max(0.0, min(v.end, self.end) - max(v.start, self.start)) for v in self.views[venue] if v.want is not None
            )
            if receiving < 0.5:
                continue
            frames = count.end - count.start
            self.result.fps[venue] = round(frames / receiving, 1)
            expected = SYNTHETIC_FPS * receiving
            if frames < FRAME_RATIO * expected - SYNTHETIC_FPS * FRAME_SLACK_S:
                said = (N_("'{venue}' received {n} program frame in {seconds} s ({rate} per second; the venues send {fps})")
                        if frames == 1 else
                        N_("'{venue}' received {n} program frames in {seconds} s ({rate} per second; the venues send {fps})"))
                self.degraded("frames_dropped", venue, phrase(
                    said, venue=venue, n=frames, seconds=f"{receiving:.1f}", rate=f"{frames / receiving:.1f}",
                    fps=f"{SYNTHETIC_FPS:g}"), self.start)

    # ------------------------------------------------------------ presence, roll call, drills

    def presence(self) -> None:
        for event in self.events_of(VenueLeft, self.start, self.end):
            venue = event.venue
            dropped = any(
                d.drop.venue == venue and d.down_at - 0.05 <= event.at <= d.down_at + self.notice_s
                for d in self.rec.drops
            )
            if not dropped:
                self.find("venue_disconnected", venue, phrase(
                    N_("'{venue}' was shown disconnected at {time} ({reason})"),
                    venue=venue, time=self.when(event.at), reason=_leave_reason(event.reason)), event.at)

    @property
    def notice_s(self) -> float:
        return self.rec.heartbeat_timeout_s + NOTICE_MARGIN_S

    def roll_call(self) -> None:
        step = self.run.step
        if not step.roll_call:
            return
        record = self.rec.roll_calls.get(step.id)
        if record is None:
            self.find("roll_call_mismatch", None, phrase(N_("the server has no roll-call record for '{segment}'"),
                                                         segment=step.id), self.start)
            return
        entries = record.get("venues", {})
        called = record.get("mode") == "called"
        silent = self.rec.drills.silent
        for venue in step.roll_call:
            if any(d.venue == venue for d in self.rec.drills.drops_in(step.id)):
                continue
            timeline = self.timelines.get(venue)
            connected = timeline is not None and timeline.up(self.run.started, self.run.started)
            if not connected:
                want, was = "absent", "not_connected"
            elif venue in silent:  # it never answers: its call runs out, or the check finds it silent
                want, was = ("no_answer" if called else "absent"), "silent"
            else:
                want, was = "present", "connected"
            entry = entries.get(venue) or {}
            status = entry.get("status")
            at = entry.get("at") or self.start
            if status != want:
                self.find("roll_call_mismatch", venue, phrase(
                    N_("the roll call recorded '{venue}' {status}; it was {was}"),
                    venue=venue, status=_recorded(status), was=phrase(WAS[was])), at)
            elif want == "present" and not (entry.get("picture_ok") and entry.get("sound_ok")):
                self.find("roll_call_mismatch", venue, phrase(
                    N_("'{venue}' answered the roll call with picture_ok={picture_ok}, sound_ok={sound_ok}"),
                    venue=venue, picture_ok=str(entry.get("picture_ok")), sound_ok=str(entry.get("sound_ok"))), at)
            elif want == "present" and called and entry.get("by") != "venue":
                self.find("roll_call_mismatch", venue, phrase(
                    N_("'{venue}' answered, but the record says it was marked by {by}"),
                    venue=venue, by=str(entry.get("by"))), at)
            elif venue in self.rec.drills.absent or venue in silent:
                drill = "absent" if venue in self.rec.drills.absent else "no-answer"
                said = (N_("the roll call recorded '{venue}' {status} ({note})") if entry.get("note")
                        else N_("the roll call recorded '{venue}' {status}"))
                self.outcome(drill, venue, phrase(said, venue=venue, status=_recorded(status), note=entry.get("note")), at)

    def drops(self) -> None:
        for run in self.rec.drops:
            if run.drop.segment == self.segment:
                self._drop(run)

    def _drop(self, run: DropRun) -> None:
        venue, down = run.drop.venue, run.down_at
        said = [phrase(N_("dropped at {time}"), time=self.when(down))]
        left = self.events_of(VenueLeft, down - 0.05, down + self.notice_s, venue=venue)
        if not left:
            self.find("disconnect_missing", venue, phrase(
                N_("'{venue}' dropped at {time} but the server did not show it disconnected within {seconds} s"),
                venue=venue, time=self.when(down), seconds=f"{self.notice_s:g}"), down)
        else:
            said.append(phrase(N_("shown disconnected after {seconds} s"), seconds=_seconds(max(left[0].at - down, 0))))
        if on_air_at(self.epochs, down) == venue:
            fell = self.events_of(ProgramFellBack, down - 0.05, self.end, from_venue=venue)
            if not fell:
                self.find("fallback_missing", venue, phrase(
                    N_("'{venue}' dropped while on air and the program did not fall back"), venue=venue), down)
            else:
                said.append(phrase(N_("program fell back to '{venue}'"), venue=fell[0].venue))
        if run.up_at is None:
            self.find("rejoin_missing", venue, phrase(N_("'{venue}' was not started again after its drop"), venue=venue),
                      down)
            self.outcome("drop", venue, phrase(PARTS, parts=said), down)
            return
        joined = self.events_of(VenueJoined, run.up_at, self.end, venue=venue)
        if not joined:
            self.find("rejoin_missing", venue, phrase(
                N_("'{venue}' came back at {time} but did not rejoin before the segment ended"),
                venue=venue, time=self.when(run.up_at)), run.up_at)
            self.outcome("drop", venue, phrase(PARTS, parts=said), down)
            return
        back = joined[0].at
        said.append(phrase(N_("rejoined {seconds} s after coming back"), seconds=_seconds(back - run.up_at)))
        timeline = self.timelines[venue]
        agent_up = next((e["ts"] for e in timeline.between("joined", run.up_at, self.end + self.threshold)), back)
        first_seen = timeline.seen_between(run.up_at, self.end + self.threshold)
        if not first_seen or first_seen[0][0] - agent_up > self.threshold:
            self.find("rejoin_missing", venue, phrase(
                N_("'{venue}' rejoined but did not show the program within {threshold} s"),
                venue=venue, threshold=f"{self.threshold:g}"), back)
        if self.run.step.venue == venue:
            retake = self.events_of(VenueTookAir, back - 0.05, back + 1.0, venue=venue)
            if not retake:
                self.find("rejoin_missing", venue, phrase(
                    N_("'{venue}' rejoined during its own segment but was not put back on air"), venue=venue), back)
            else:
                said.append(phrase(N_("back on air")))
        self.outcome("drop", venue, phrase(PARTS, parts=said), down)


def _recorded(status: str | None) -> Phrase | str:
    """A roll-call status a finding names ('no answer'); an unknown one as it is."""
    msgid = N_("nothing") if status is None else STATUS_WORDS.get(status)
    return phrase(msgid) if msgid else str(status).replace("_", " ")


def verify_segment(rec: Recording, run: SegmentRun) -> SegmentCheck:
    """Check one ended segment (using at most `threshold` seconds of what followed it)."""
    check = _Check(rec, run)
    check.segment_start()
    check.switches()
    check.walls()
    check.calls()
    check.captions()
    check.frames()
    check.presence()
    check.roll_call()
    check.drops()
    return check.result


def verify_run(rec: Recording) -> tuple[list[Finding], list[DrillOutcome]]:
    """Checks over the whole run: each lossy uplink was measured by the server."""
    findings, outcomes = [], []
    at = rec.session_ended or 0.0
    for venue, pct in rec.drills.loss.items():
        measured = rec.max_loss_pct.get(venue, 0.0)
        if measured <= 0:
            findings.append(Finding.of("loss_not_measured", None, venue, phrase(
                N_("'{venue}' lost {pct}% of its uplink, but the server never showed any loss"), venue=venue, pct=f"{pct:g}"),
                at))
            continue
        said = (N_("{pct}% uplink loss: the server measured up to {measured}%; its link was shown poor")
                if venue in rec.poor_link else N_("{pct}% uplink loss: the server measured up to {measured}%"))
        outcomes.append(DrillOutcome.of("loss", venue, None, phrase(said, pct=f"{pct:g}", measured=f"{measured:.1f}"), at))
    return findings, outcomes
