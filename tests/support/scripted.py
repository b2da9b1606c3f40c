"""Scripted sessions for tests: commands at set times, through the real core and a real SQLite
event log (`LiveSession`), with a fake clock; a restart closes the log and opens it again,
as a new server process would (recording its start as the runtime does)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.config import Conference
from orchestrator.core import commands as c
from orchestrator.event_log import EventLog, log_path
from orchestrator.live_session import LiveSession

T0 = 1_738_737_000.0  # 2025-02-05 14:30:00 in Asia/Shanghai


class Clock:
    def __init__(self, now: float):
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class ScriptedSession:
    """A session driven command by command; `at(seconds)` sets the clock to T0 + seconds."""

    conference: Conference
    data_dir: Path
    restart_grace_s: float = 15.0
    clock: Clock = field(default_factory=lambda: Clock(T0))
    live: LiveSession | None = None

    @property
    def path(self) -> Path:
        return log_path(self.data_dir, self.conference.conference.id)

    def at(self, seconds: float) -> ScriptedSession:
        self.clock.now = T0 + seconds
        return self

    def start_server(self) -> None:
        """A server process opens the log and records its start (as `SessionRuntime.start` does)."""
        self.live = LiveSession(self.conference, EventLog(self.path, self.conference.conference.id), self.clock)
        self.live.execute(c.RecordServerStart(restart_grace_s=self.restart_grace_s))

    def stop_server(self) -> None:
        assert self.live is not None
        self.live.log.close()
        self.live = None

    def do(self, command: c.Command) -> list:
        assert self.live is not None, "no server is running"
        return self.live.execute(command)


def small_session(conference: Conference, data_dir: Path) -> ScriptedSession:
    """The small conference's session (tests/conftest.py SMALL_YAML), ended at 14:50:30.

    Haiyan never joins. Opening overruns by 30 s; a check roll call (Nanhu's sound fails);
    three awards; Pinghu's speech, during which Nanhu is given the floor, the operator takes
    Pinghu back, Pinghu's link turns poor, it disconnects (fallback) and rejoins (back on
    air); a caption typed and reset; Nanhu's microphone opened and closed; the server
    restarts (Nanhu does not come back); Haiyan's speech falls back; the close; the end; the server stops.
    """
    s = ScriptedSession(conference, data_dir)
    s.at(-300).start_server()
    s.at(-290).do(c.JoinVenue(venue="main"))
    s.at(-280).do(c.JoinVenue(venue="pinghu"))
    s.at(-270).do(c.JoinVenue(venue="nanhu"))
    s.at(0).do(c.StartSession())
    s.at(150).do(c.NextSegment())  # roll call; the opening ran 2m30s of 2m
    s.at(160).do(c.StartRollCall())
    s.at(180).do(c.AnswerRollCall(venue="pinghu", picture_ok=True, sound_ok=True))
    s.at(190).do(c.AnswerRollCall(venue="nanhu", picture_ok=True, sound_ok=False))
    s.at(240).do(c.FinishRollCall())
    s.at(300).do(c.NextSegment())  # the lists
    s.at(420).do(c.NextSegment())  # the awards
    for t in (450, 480, 510):
        s.at(t).do(c.NextAward())
    s.at(600).do(c.NextSegment())  # Pinghu speaks
    s.at(660).do(c.RaiseHand(venue="nanhu"))
    s.at(690).do(c.GrantFloor(venue="nanhu"))
    s.at(720).do(c.Take(venue="pinghu"))
    s.at(750).do(c.ReportLink(venue="pinghu", loss_pct=12.0, rtt_ms=80.0))
    s.at(780).do(c.LeaveVenue(venue="pinghu", reason="connection failed"))
    s.at(800).do(c.JoinVenue(venue="pinghu"))
    s.at(840).do(c.ReportLink(venue="pinghu", loss_pct=8.0, rtt_ms=90.0))
    s.at(870).do(c.ReportLink(venue="pinghu", loss_pct=0.5, rtt_ms=40.0))
    s.at(900).do(c.SetCaption(text="Technical pause"))
    s.at(930).do(c.ResetCaption())
    s.at(960).do(c.UnmuteVenue(venue="nanhu"))
    s.at(990).do(c.MuteVenue(venue="nanhu"))
    s.stop_server()  # killed at 14:47:00
    s.at(1025).start_server()
    s.at(1040).do(c.LeaveVenue(venue="nanhu", reason="did not come back after a server restart"))
    s.at(1080).do(c.NextSegment())  # Haiyan speaks: it is not connected
    s.at(1170).do(c.NextSegment())  # the close
    s.at(1230).do(c.EndSession())
    s.stop_server()
    return s


def sample_session(conference: Conference, data_dir: Path) -> ScriptedSession:
    """The sample meeting (config/jiaxing-2025-six-initiatives.yaml) run through from 14:20 to its end.

    Every venue joins before the start but the port area, which joins during the (called)
    roll call and answers in its turn; Haining's sound fails its check; the twelve awards are presented;
    Xiuzhou's link turns poor during its speech and it drops (fallback) and rejoins (back on
    air); Haining asks for the floor in the Xinfengming speech and gets it, then the
    operator takes the theatre back; a caption is typed and reset during the mobilisation
    speech; the server restarts in it (Tongxiang does not come back in time and rejoins
    later); the meeting ends a few minutes late.
    """
    s = ScriptedSession(conference, data_dir)
    s.at(-600).start_server()
    branches = [v.id for v in conference.venues if v.id != conference.main_venue.id]
    for i, venue in enumerate(["main", *[b for b in branches if b != "port-area"]]):
        s.at(-570 + 20 * i).do(c.JoinVenue(venue=venue))
    s.at(0).do(c.StartSession())
    s.at(200).do(c.NextSegment())  # roll call: each branch venue called in turn
    s.at(210).do(c.StartRollCall())
    # each answers 8 s after it is called; the port area (called last) joins before its turn
    steps = [(218 + 8 * i, c.AnswerRollCall(venue=venue, picture_ok=True, sound_ok=venue != "haining"))
             for i, venue in enumerate(branches)]
    for at, command in sorted([*steps, (250, c.JoinVenue(venue="port-area"))], key=lambda step: step[0]):
        s.at(at).do(command)  # the last answer finishes the roll call
    s.at(440).do(c.NextSegment())  # the lists
    s.at(740).do(c.NextSegment())  # the awards
    for i in range(12):
        s.at(770 + 45 * i).do(c.NextAward())
    t = 1340
    s.at(t).do(c.NextSegment())  # Pinghu
    s.at(t := t + 380).do(c.NextSegment())  # the commission, from the theatre
    s.at(t := t + 350).do(c.NextSegment())  # Xiuzhou
    s.at(t + 120).do(c.ReportLink(venue="xiuzhou", loss_pct=9.0, rtt_ms=210.0))
    s.at(t + 150).do(c.LeaveVenue(venue="xiuzhou", reason="heartbeat lost"))
    s.at(t + 190).do(c.JoinVenue(venue="xiuzhou"))
    s.at(t := t + 400).do(c.NextSegment())  # the development zone
    s.at(t := t + 360).do(c.NextSegment())  # Sanxing village, from Nanhu
    s.at(t := t + 340).do(c.NextSegment())  # Xinfengming, from the theatre
    s.at(t + 100).do(c.RaiseHand(venue="haining"))
    s.at(t + 160).do(c.GrantFloor(venue="haining"))
    s.at(t + 260).do(c.Take(venue="main"))
    s.at(t := t + 370).do(c.NextSegment())  # the mobilisation speech
    s.at(t + 600).do(c.SetCaption(text="Chen Wei, Secretary of the Municipal Party Committee"))
    s.at(t + 660).do(c.ResetCaption())
    s.stop_server()
    s.at(t + 700).start_server()
    s.at(t + 715).do(c.LeaveVenue(venue="tongxiang", reason="did not come back after a server restart"))
    s.at(t + 900).do(c.JoinVenue(venue="tongxiang"))
    s.at(t := t + 2160).do(c.NextSegment())  # the mayor's requirements
    s.at(t := t + 740).do(c.NextSegment())  # the close
    s.at(t + 75).do(c.EndSession())
    s.stop_server()
    return s
