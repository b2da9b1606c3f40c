"""Whole rehearsals in this process: the real server, simulated venues over WebRTC on loopback.

A clean run with every drill passes and reports the drills' outcomes; deliberately broken
server behaviour is caught by the verifier, and by each drill.
"""

from __future__ import annotations

import dataclasses
import io
import json
import re

import pytest
from rich.console import Console

from orchestrator.config import parse_conference
from orchestrator.core import commands as c
from orchestrator.core import decide as core_decide
from orchestrator.core import events as e
from orchestrator.media.router import ProgramRouter
from orchestrator.media.sfu import MediaServer
from orchestrator.rehearsal.progress import LiveProgress

from .conftest import kinds, run_rehearsal


async def test_a_rehearsal_with_every_drill_passes_and_reports_the_outcomes(rehearsal_conf, tmp_path):
    screen = io.StringIO()
    progress = LiveProgress(Console(file=screen, force_terminal=True, width=160))
    report = await run_rehearsal(
        rehearsal_conf, tmp_path / "report", progress,
        absent=["haiyan"], drops=["pinghu@speech-pinghu:2"], loss=["nanhu:15"],
    )
    assert report.findings == [], report.findings
    assert report.exit_code == 0
    assert [s.id for s in report.segments] == ["opening", "roll-call", "awards", "speech-pinghu", "speech-haiyan", "closing"]

    # the called roll call: present after the venues' own checks, the absent venue recorded absent by the session
    entries = report.roll_calls["roll-call"]["venues"]
    assert {v: x["status"] for v, x in entries.items()} == {"pinghu": "present", "haiyan": "absent", "nanhu": "present"}
    assert entries["pinghu"]["picture_ok"] is entries["pinghu"]["sound_ok"] is True
    assert entries["haiyan"]["note"] == "not connected when called"
    calls = next(s for s in report.segments if s.id == "roll-call").calls
    assert [(c.venue, c.outcome, c.on_air) for c in calls] == [("pinghu", "present", True), ("nanhu", "present", True)]
    # measured at every venue whose picture changed: the called venue itself turns to the main venue
    assert [set(c.latencies_s) for c in calls] == [{"main", "nanhu"}, {"main", "nanhu", "pinghu"}]

    # every award caption reached every connected venue (main, pinghu, nanhu)
    awards = next(s for s in report.segments if s.id == "awards")
    assert [c.text for c in awards.captions] == [
        "Advanced collectives: SAMPLE: Unit A", "Advanced collectives: SAMPLE: Unit B", "Advanced collectives: SAMPLE: Unit C",
    ]
    assert all(c.delivered == c.expected == 3 for c in awards.captions)

    # the take of pinghu measured at each venue whose picture changed, well within the threshold
    speech = next(s for s in report.segments if s.id == "speech-pinghu")
    first = speech.switches[0]
    assert (first.on_air, first.cause) == ("pinghu", "segment")
    assert set(first.latencies_s) == {"main", "nanhu"} and first.max_s < 1.0
    assert [sw.cause for sw in speech.switches] == ["segment", "fallback", "rejoined"]
    assert [span.venue for span in speech.on_air] == ["pinghu", "main", "pinghu"]

    drills = {d.spec: d for d in report.drill_outcomes}
    absent = [o.message for o in drills["--absent haiyan"].outcomes]
    assert absent == [
        "the roll call recorded 'haiyan' absent (not connected when called)",
        "the segment fell back to 'main': segment 'speech-haiyan' is on air from 'haiyan', which is not connected",
    ]
    (dropped,) = drills["--drop pinghu@speech-pinghu:2"].outcomes
    assert re.match(r"dropped at \d\d:\d\d:\d\d; ", dropped.message)  # wall-clock time in Asia/Shanghai
    for part in ("shown disconnected after", "program fell back to 'main'", "rejoined", "back on air"):
        assert part in dropped.message
    # the run-wide measurement, plus what the lossy uplink did while on air (a take that needed
    # confirmation, a picture degraded) when the loss happened to hit the link hard enough
    *on_air, measured = (o.message for o in drills["--loss nanhu:15"].outcomes)
    assert measured.startswith("15% uplink loss: the server measured up to ")
    assert all("the take of 'nanhu' needed confirmation" in m or "while 'nanhu' (lossy uplink) was on air" in m
               for m in on_air), on_air

    assert report.summary.broken_frames == 0 and report.summary.passed
    assert report.summary.caption_deliveries == report.summary.caption_deliveries_expected > 0

    saved = json.loads((tmp_path / "report" / "report.json").read_text())
    assert saved["summary"]["passed"] is True and saved["drills"] == report.drills
    # switches: takes and fallbacks, each measured at several venues
    s = report.summary
    assert s.takes + s.fallbacks == s.switches and s.fallbacks >= 2 and s.switch_measurements > s.switches
    assert (s.awards_presented, s.awards) == (3, 1)
    html = (tmp_path / "report" / "report.html").read_text()
    assert "<svg" in html and "Pinghu City (drop)" in html and "Haiyan County (absent)" in html
    assert "Roll call (roll-call): 2 present, 1 absent" in html
    assert "<td>Advanced collectives</td><td>SAMPLE: Unit C</td><td>Nanhu District</td>" in html
    assert (tmp_path / "report" / "venues" / "pinghu.jsonl").read_text().count('"event": "joined"') == 2

    screen_text = screen.getvalue()
    assert "Rehearsal test meeting" in screen_text and "drill drop 'pinghu'" in screen_text


async def test_a_take_that_does_not_switch_is_caught(rehearsal_conf, monkeypatch):
    monkeypatch.setattr(ProgramRouter, "set_program", lambda self, on_air, muted: None)
    report = await run_rehearsal(rehearsal_conf)
    assert report.exit_code == 1
    missing = [f for f in report.findings if f.kind == "switch_missing"]
    # pinghu's and haiyan's segments: the three other venues never saw the new venue
    assert {(f.segment, f.venue) for f in missing} >= {
        ("speech-pinghu", "haiyan"), ("speech-pinghu", "nanhu"), ("speech-pinghu", "main"),
        ("speech-haiyan", "pinghu"), ("speech-haiyan", "nanhu"), ("speech-haiyan", "main"),
    }
    assert all("never showed" in f.message for f in missing)


async def test_the_absent_drill_catches_a_segment_that_does_not_fall_back(rehearsal_conf, monkeypatch):
    monkeypatch.setattr(core_decide.Decision, "fall_back", lambda self, from_venue, reason, rejoin=True, **params: None)
    report = await run_rehearsal(rehearsal_conf, absent=["haiyan"])
    assert report.exit_code == 1
    assert [(f.kind, f.segment, f.venue) for f in report.findings] == [("fallback_missing", "speech-haiyan", "haiyan")]
    assert report.findings[0].message == (
        "'haiyan' was not connected, but the segment started with 'pinghu' on air and no fallback was reported"
    )


async def test_the_drop_drill_catches_a_venue_not_put_back_on_air(rehearsal_conf, monkeypatch):
    def join_without_return(d: core_decide.Decision, cmd: c.JoinVenue) -> None:
        d.emit(e.VenueJoined(at=d.now, venue=cmd.venue))

    monkeypatch.setitem(core_decide.DECIDERS, c.JoinVenue, join_without_return)
    report = await run_rehearsal(rehearsal_conf, drops=["pinghu@speech-pinghu:1"])
    assert report.exit_code == 1
    assert [(f.kind, f.segment, f.venue) for f in report.findings] == [("rejoin_missing", "speech-pinghu", "pinghu")]
    assert report.findings[0].message == "'pinghu' rejoined during its own segment but was not put back on air"


async def test_the_loss_drill_catches_a_server_that_does_not_measure_loss(rehearsal_conf, monkeypatch):
    measure = MediaServer.sample_links

    async def lossless(self):
        return {v: dataclasses.replace(link, loss_pct=0.0, packets_lost=0) for v, link in (await measure(self)).items()}

    monkeypatch.setattr(MediaServer, "sample_links", lossless)
    report = await run_rehearsal(rehearsal_conf, loss=["nanhu:15"])
    assert kinds(report) == {"loss_not_measured"}
    assert report.findings[0].venue == "nanhu"


@pytest.mark.slow
async def test_a_control_room_rehearsal_checks_calls_polling_and_the_wall_venue_by_venue(control_conf, tmp_path):
    """A called roll call with a venue absent and one that never answers; the main venue's
    return polled; a paging 2x2 wall; program polling. Every venue checked."""
    report = await run_rehearsal(control_conf, tmp_path / "report", absent=["haiyan"], no_answer=["xiuzhou"])
    assert report.findings == [], report.findings

    # the roll call: each venue called in turn and on air, seen by every other venue; the record right
    entries = report.roll_calls["roll-call"]["venues"]
    assert {v: (x["status"], x["by"]) for v, x in entries.items()} == {
        "pinghu": ("present", "venue"), "haiyan": ("absent", "session"), "nanhu": ("present", "venue"),
        "xiuzhou": ("no_answer", "session"), "jiashan": ("present", "venue"), "haining": ("present", "venue")}
    assert entries["xiuzhou"]["note"] == "no answer within 3s"
    calls = next(s for s in report.segments if s.id == "roll-call").calls
    assert [(c.venue, c.outcome) for c in calls] == [
        ("pinghu", "present"), ("nanhu", "present"), ("xiuzhou", "no_answer"), ("jiashan", "present"),
        ("haining", "present")]
    for call in calls:
        assert call.on_air
        receivers = {"main", "pinghu", "nanhu", "xiuzhou", "jiashan", "haining"} - {call.venue}
        assert receivers <= set(call.latencies_s), call
        assert all(x is not None and x < 1.0 for x in call.latencies_s.values()), call
    assert 2.9 < calls[2].ended_at_s - calls[2].at_s < 3.5, "the silent venue held its call for per_venue"
    drills = {d.spec: [o.message for o in d.outcomes] for d in report.drill_outcomes}
    assert drills["--no-answer xiuzhou"] == ["the roll call recorded 'xiuzhou' no answer (no answer within 3s)"]

    # main-return polling: the main venue alone sees each polled venue; nobody else's picture changes
    polled = next(s for s in report.segments if s.id == "report")
    assert [(r.on_air, r.cause) for r in polled.returns] == [("nanhu", "polling"), ("pinghu", "polling"),
                                                           ("xiuzhou", "polling")]
    assert all(set(r.latencies_s) == {"main"} and r.max_s < 1.0 for r in polled.returns)
    assert polled.switches == [] or all(sw.on_air == "main" for sw in polled.switches)

    # the wall: two pages of the five connected venues, every tile in its slot
    wall = next(s for s in report.segments if s.id == "wall")
    assert [w.tiles for w in wall.walls][:2] == [["pinghu", "nanhu", "xiuzhou", "jiashan"], ["haining"]]
    assert all(x is not None and x < 1.0 for w in wall.walls for x in w.latencies_s.values())
    assert len(wall.walls[0].latencies_s) == 4

    # program polling: a switch of every venue's picture at each step
    program = next(s for s in report.segments if s.id == "polled")
    assert [(sw.on_air, sw.cause) for sw in program.switches][:2] == [("jiashan", "polling"), ("haining", "polling")]
    assert [len(sw.latencies_s) for sw in program.switches[:2]] == [5, 6]  # every venue whose picture changed
    assert all(x is not None and x < 1.0 for sw in program.switches[:2] for x in sw.latencies_s.values())

    s = report.summary
    assert s.roll_call_calls == s.roll_call_calls_on_air == 5
    assert s.wall_tiles == s.wall_tiles_within_threshold >= 5
    html = (tmp_path / "report" / "report.html").read_text()
    assert "Main venue&#39;s return" in html and "polling: Nanhu District" in html
    assert "Xiuzhou District called at" in html and "no answer after 3." in html


BROKEN_CONTROL_YAML = """\
conference: {id: broken-control, title: "Broken control room", date: 2025-02-05, start: "14:30", timezone: Asia/Shanghai}
venues:
  - {id: main, name: "Theatre", role: main}
  - {id: pinghu, name: "Pinghu City", role: branch}
  - {id: nanhu, name: "Nanhu District", role: branch}
agenda:
  - {id: roll-call, kind: roll_call, title: "Roll call", per_venue: 3s, planned: 1m}
  - {id: report, kind: speech, title: "Polled", planned: 1m, polling: {target: main-return, dwell: 10s}}
  - {id: wall, kind: speech, title: "Wall", planned: 1m, main_return: {mode: wall, layout: 2x2}}
"""


async def test_calls_off_air_and_a_main_return_the_media_ignores_are_caught(monkeypatch):
    """The called venue is not put on air, and the media never shows the main venue its return:
    the verifier says so, call by call and slot by slot."""
    def call_without_air(d: core_decide.Decision, segment: str, venue: str) -> None:
        rc = d.state.roll_calls[segment]
        d.emit(e.RollCallCalled(at=d.now, segment=segment, venue=venue, deadline=d.now + rc.per_venue))

    monkeypatch.setattr(core_decide.Decision, "call", call_without_air)
    monkeypatch.setattr(ProgramRouter, "set_main_return", lambda self, video, wall: None)
    conf = parse_conference(BROKEN_CONTROL_YAML, "broken.yaml")
    report = await run_rehearsal(conf)
    assert report.exit_code == 1
    found = {(f.kind, f.segment, f.venue) for f in report.findings}
    assert {("called_not_on_air", "roll-call", "pinghu"), ("called_not_on_air", "roll-call", "nanhu")} <= found
    assert ("switch_missing", "report", "main") in found, "the polled venue never reached the main venue"
    assert ("tile_missing", "wall", "main") in found, "the wall's tiles never reached the main venue"
    tiles = [f.message for f in report.findings if f.kind == "tile_missing"]
    assert "wall slot 1 of 'main' never showed 'pinghu'" in tiles[0]
    assert not any(f.venue in ("pinghu", "nanhu") for f in report.findings if f.segment in ("report", "wall")), \
        "the branch venues kept the program"
