"""The runtime's timer: `Tick` is sent when the session's next deadline is due.

With a fake clock (the runtime is told the clock moved, as a command would tell it) and
with the real one: the timer sleeps until the deadline, wakes early when a command moves
it, is never late by more than a moment, and never spins.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from orchestrator.config import parse_conference
from orchestrator.core import commands as c
from orchestrator.event_log import EventLog
from orchestrator.live_session import LiveSession
from orchestrator.media.plane import MediaPresence, VenuePeer
from orchestrator.runtime import TIMER_MAX_SLEEP_S, SessionRuntime
from tests.conftest import FakeClock
from tests.support.fake_media import FakeMediaPlane
from tests.support.live import wait_for

TIMERS_YAML = """\
conference: {id: timers, title: "Timers", date: 2025-02-05, start: "14:30", timezone: Asia/Shanghai}
venues:
  - {id: main, name: "Theatre", role: main}
  - {id: pinghu, name: "Pinghu City", role: branch}
  - {id: haiyan, name: "Haiyan County", role: branch}
agenda:
  - {id: opening, kind: presiding, title: "Opening", planned: 2m}
  - {id: roll-call, kind: roll_call, title: "Roll call", per_venue: 10s, planned: 3m}
  - {id: quick-call, kind: roll_call, title: "Quick roll call", per_venue: 1s, planned: 1m}
  - {id: polled, kind: speech, title: "Polled", planned: 5m, polling: {target: program, dwell: 10s}}
"""
CONF = parse_conference(TIMERS_YAML, "timers.yaml")


@dataclass
class Rig:
    runtime: SessionRuntime
    media: FakeMediaPlane
    clock: Callable[[], float]

    @property
    def state(self):
        return self.runtime.state

    def do(self, command) -> None:
        self.runtime.execute(command)


@pytest.fixture
def make_rig(tmp_path) -> Iterator[Callable[[Callable[[], float]], Rig]]:
    made: list[tuple[SessionRuntime, EventLog]] = []

    def make(clock: Callable[[], float]) -> Rig:
        planes: list[FakeMediaPlane] = []

        def make_media(presence: MediaPresence) -> FakeMediaPlane:
            planes.append(FakeMediaPlane(presence))
            return planes[-1]

        log = EventLog(tmp_path / f"timers-{len(made)}.sqlite3", CONF.conference.id)
        runtime = SessionRuntime(LiveSession(CONF, log, clock), make_media, lambda venue, at: None,
                                 link_sample_s=60, restart_grace_s=0)
        made.append((runtime, log))
        media = planes[0]
        for venue in ("main", "pinghu", "haiyan"):
            media.peers[VenuePeer(venue)] = False  # offered ...
            media.connect(venue)  # ... and connected
        return Rig(runtime, media, clock)

    yield make
    for _runtime, log in made:
        log.close()


async def settle() -> None:
    """Let the timer task run what it can now."""
    for _ in range(5):
        await asyncio.sleep(0.01)


async def test_the_tick_comes_when_the_called_venues_time_is_up_on_a_fake_clock(make_rig):
    clock = FakeClock()
    rig = make_rig(clock)
    timer = asyncio.ensure_future(rig.runtime.run_timers())
    try:
        rig.do(c.StartSession())
        rig.do(c.GotoSegment(segment="roll-call"))
        rig.do(c.StartRollCall())
        rc = lambda: rig.state.roll_calls["roll-call"]  # noqa: E731
        assert rc().calling == "pinghu" and rig.runtime.session.next_deadline() == clock.now + 10
        clock.advance(9.9)
        rig.runtime.timers_changed()
        await settle()
        assert rc().calling == "pinghu", "not yet due: no Tick"
        clock.advance(0.1)
        rig.runtime.timers_changed()
        await settle()
        assert rc().entries["pinghu"].status.value == "no_answer"
        assert (rc().entries["pinghu"].note, rc().entries["pinghu"].note_params) == ("no_answer_in_time", {"within_s": 10})
        assert rc().calling == "haiyan" and rig.state.on_air == "haiyan", "the next venue is called, on air"
        assert rig.media.on_air == "haiyan", "the media followed the Tick's events"
        clock.advance(10)
        rig.runtime.timers_changed()
        await settle()
        assert rc().phase.value == "finished" and rig.state.on_air == "main"
        assert rig.runtime.session.next_deadline() is None
    finally:
        timer.cancel()
        await asyncio.gather(timer, return_exceptions=True)


async def test_the_timer_sleeps_while_nothing_is_due(make_rig, monkeypatch):
    """Never a busy loop: with a deadline far away (on the fake clock) the timer looks at
    the clock about once every TIMER_MAX_SLEEP_S; with none it waits for a command."""
    clock = FakeClock()
    rig = make_rig(clock)
    looks = 0
    deadline = rig.runtime.session.next_deadline

    def counting():
        nonlocal looks
        looks += 1
        return deadline()

    monkeypatch.setattr(rig.runtime.session, "next_deadline", counting)
    timer = asyncio.ensure_future(rig.runtime.run_timers())
    try:
        await asyncio.sleep(0.3)
        assert looks == 1, "no deadline: one look, then asleep until a command"
        rig.do(c.StartSession())
        rig.do(c.GotoSegment(segment="polled"))  # program polling: a step every 10 s
        await settle()
        assert looks == 2, "the command woke the timer once (one listener call per command)"
        await asyncio.sleep(TIMER_MAX_SLEEP_S * 1.5)
        assert looks <= 4, f"{looks} looks in {TIMER_MAX_SLEEP_S * 1.5:g} s: the timer must sleep"
        assert rig.state.polling.current == "pinghu", "nothing moved on: the fake clock stood still"
    finally:
        timer.cancel()
        await asyncio.gather(timer, return_exceptions=True)


async def test_every_call_runs_out_on_time_with_the_real_clock(make_rig):
    """Live: the runtime started as the server starts it; no venue answers, so each call
    runs out, and each is recorded within a moment of its deadline."""
    rig = make_rig(time.time)
    rig.runtime.start()
    try:
        rig.do(c.StartSession())
        rig.do(c.GotoSegment(segment="quick-call"))
        rig.do(c.StartRollCall())
        await wait_for(lambda: rig.state.roll_calls["quick-call"].phase.value == "finished", 5, "both calls to run out")
        events = [event for _, event in rig.runtime.live.log.read()]
        deadlines = {e.venue: e.deadline for e in events if e.type == "roll_call_called"}
        marked = {e.venue: e.at for e in events if e.type == "roll_call_marked" and e.status == "no_answer"}
        assert set(marked) == set(deadlines) == {"pinghu", "haiyan"}
        late = {venue: round(marked[venue] - deadlines[venue], 3) for venue in marked}
        assert all(0 <= s < 0.3 for s in late.values()), f"seconds late: {late}"
    finally:
        await rig.runtime.stop()


async def test_stopping_ends_the_timer_even_as_a_command_wakes_it(make_rig):
    """A venue leaving during shutdown wakes the timer in the very moment it is cancelled:
    it must end all the same (asyncio.wait_for on Python 3.11 would swallow the cancel)."""
    rig = make_rig(FakeClock())
    rig.do(c.StartSession())
    rig.do(c.GotoSegment(segment="roll-call"))
    rig.do(c.StartRollCall())  # a deadline: the timer sleeps with a timeout
    timer = asyncio.ensure_future(rig.runtime.run_timers())
    await settle()
    rig.runtime.timers_changed()
    timer.cancel()
    done, _ = await asyncio.wait({timer}, timeout=2)
    assert done, "the timer task did not end"
