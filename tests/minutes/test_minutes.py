"""The minutes of scripted sessions: real core, real SQLite log, a fake clock. What the minutes
say is checked line by line against what the script did."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

import pytest

from orchestrator.config import parse_conference
from orchestrator.core import commands as c
from orchestrator.event_log import EventLog, LogError
from orchestrator.minutes import build_minutes, read_minutes, render_json, render_markdown
from tests.conftest import SMALL_YAML
from tests.support.live import free_port
from tests.support.scripted import T0, ScriptedSession, small_session


def section(markdown: str, heading: str) -> list[str]:
    """The lines under `heading`, up to the next heading of its level or above (blank lines dropped)."""
    lines = markdown.splitlines()
    start = lines.index(heading) + 1
    level = heading.split(" ", 1)[0]
    out = []
    for line in lines[start:]:
        if line.startswith("#") and len(line.split(" ", 1)[0]) <= len(level):
            break
        if line:
            out.append(line)
    return out


@pytest.fixture
def ended(small_conf, tmp_path):
    return read_minutes(small_conf, small_session(small_conf, tmp_path).path, T0 + 1500)


def test_the_header_says_when_who_and_what(ended):
    md = render_markdown(ended)
    assert md.splitlines()[0] == "# Minutes: Small test meeting"
    assert section(md, "# Minutes: Small test meeting")[:11] == [
        "- Conference: small, 2025-02-05; every time is in Asia/Shanghai, UTC+08:00",
        "- Session: 14:30:00 to 14:50:30 (20m30s; planned 14:30 to 14:47, 17m30s)",
        "- Status: ended",
        "- Venues present: 3 of 4 venues; not present: Haiyan County",
        "- On air: 6 changes of the on-air venue: 4 takes (1 by the segment, 1 by the operator, 1 by a floor grant, "
        "1 on rejoining), 2 fallbacks",
        "- Roll call: Roll call: 2 present, 1 absent",
        "- Awards: 3 presentations of 2 awards",
        "- Faults: 2 disconnections, 2 fallbacks, 2 poor links, 1 server restart",
        "- Server: started 14:25:00; restarted 1 time: 14:47:05",
        "- Written: 2025-02-05 14:55:00 from the event log (66 events)",
        "## Venues",
    ]


def test_each_segment_planned_against_actual_with_its_overrun_and_who_was_on_air(ended):
    assert section(render_markdown(ended), "## Agenda") == [
        "| # | Segment | On air | Started | Ended | Planned | Actual | Overrun |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
        "| 1 | Opening | Theatre | 14:30:00 | 14:32:30 | 2m | 2m30s | +30s |",
        "| 2 | Roll call | Theatre | 14:32:30 | 14:35:00 | 3m | 2m30s |  |",
        "| 3 | Lists | Theatre | 14:35:00 | 14:37:00 | 2m | 2m |  |",
        "| 4 | Awards | Theatre | 14:37:00 | 14:40:00 | 3m | 3m |  |",
        "| 5 | Pinghu speaks | Pinghu City → Nanhu District → Pinghu City → Theatre → Pinghu City | 14:40:00 | "
        "14:48:00 | 5m | 8m | +3m |",
        "| 6 | Haiyan speaks | Theatre | 14:48:00 | 14:49:30 | 1m30s | 1m30s |  |",
        "| 7 | Close | Theatre | 14:49:30 | 14:50:30 | 1m | 1m |  |",
    ]


def test_who_was_on_air_when_and_why(ended):
    assert section(render_markdown(ended), "## On air") == [
        "| From | To | Venue | Why | Segment |",
        "| --- | --- | --- | --- | --- |",
        "| 14:30:00 | 14:40:00 | Theatre | session start | Opening |",
        "| 14:40:00 | 14:41:30 | Pinghu City | the segment's venue | Pinghu speaks |",
        "| 14:41:30 | 14:42:00 | Nanhu District | floor granted | Pinghu speaks |",
        "| 14:42:00 | 14:43:00 | Pinghu City | operator's take | Pinghu speaks |",
        "| 14:43:00 | 14:43:20 | Theatre | fallback: Pinghu City disconnected (connection failed) | Pinghu speaks |",
        "| 14:43:20 | 14:48:00 | Pinghu City | back after rejoining | Pinghu speaks |",
        "| 14:48:00 | 14:50:30 | Theatre | fallback: Haiyan County was not connected | Haiyan speaks |",
    ]
    takes = json.loads(render_json(ended))["on_air"]
    assert [(t["at"] - T0, t["venue"]["id"], t["reason"]) for t in takes] == [
        (0, "main", "start"), (600, "pinghu", "segment"), (690, "nanhu", "floor"), (720, "pinghu", "take"),
        (780, "main", "fallback"), (800, "pinghu", "rejoined"), (1080, "main", "fallback"),
    ]


def test_the_roll_call_awards_and_floor(ended):
    md = render_markdown(ended)
    assert section(md, "## Roll call") == [
        "### Roll call (picture and sound checked at once), 14:32:40 to 14:34:00: 2 present, 1 absent",
        "| Venue | Status | Picture | Sound | Asked | Recorded | By | Note |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
        "| Pinghu City | present | ok | ok | 14:32:40 | 14:33:00 | venue |  |",
        "| Haiyan County | absent | - | - | - | 14:32:40 | session | not connected when the roll call started |",
        "| Nanhu District | present | ok | failed | 14:32:40 | 14:33:10 | venue |  |",
    ]
    assert section(md, "## Awards presented")[2:] == [
        "| 14:37:30 | Advanced collectives | SAMPLE: Unit A | Pinghu City |",
        "| 14:38:00 | Advanced collectives | SAMPLE: Unit B | - |",
        "| 14:38:30 | Model villages | SAMPLE: Village C | Nanhu District |",
    ]
    assert section(md, "## Floor requests")[2:] == ["| 14:41:00 | Nanhu District | granted 14:41:30 |"]
    rc = json.loads(render_json(ended))["roll_calls"][0]
    assert (rc["mode"], rc["counts"]) == ("check", {"pending": 0, "present": 2, "absent": 1})


def test_microphones_and_captions(ended):
    captions = json.loads(render_json(ended))["captions"]
    assert [(c["at"] - T0, c["text"]) for c in captions if c["kind"] == "award"] == [
        (450, "Advanced collectives: SAMPLE: Unit A"), (480, "Advanced collectives: SAMPLE: Unit B"),
        (510, "Model villages: SAMPLE: Village C"),
    ]
    md = render_markdown(ended)
    assert section(md, "## Microphones")[2:] == [
        "| 14:40:00 | Pinghu City | - | segment start |",
        "| 14:41:30 | Nanhu District | Pinghu City | on-air change |",
        "| 14:42:00 | Pinghu City | Nanhu District | on-air change |",
        "| 14:43:00 | - | Pinghu City | on-air change |",
        "| 14:43:20 | Pinghu City | - | on-air change |",
        "| 14:46:00 | Nanhu District | - | operator |",
        "| 14:46:30 | - | Nanhu District | operator |",
        "| 14:48:00 | - | Pinghu City | segment start |",
    ]
    assert section(md, "## Captions")[2:] == [
        "| 14:30:00 | The Mayor |",
        "| 14:32:30 | (none) |",
        "| 14:35:00 | Advanced collectives · Model villages |",
        "| 14:37:00 | (none) |",
        "| 14:37:30–14:38:30 | 3 award captions: the award and its recipient, as under Awards presented |",
        "| 14:40:00 | Leader of Pinghu |",
        "| 14:45:00 | Technical pause (typed by the operator) |",
        "| 14:45:30 | Leader of Pinghu |",
        "| 14:48:00 | (none) |",
    ]


def test_faults_and_the_server_restart(ended):
    assert section(render_markdown(ended), "## Faults")[2:] == [
        "| 14:42:30 | poor link | Pinghu City | loss 12.0 %, round trip 80 ms |",
        "| 14:43:00 | disconnected | Pinghu City | connection failed |",
        "| 14:43:00 | fallback | Pinghu City | the program fell back to Theatre: Pinghu City disconnected "
        "(connection failed) |",
        "| 14:43:20 | rejoined | Pinghu City | back after 20s |",
        "| 14:44:00 | poor link | Pinghu City | loss 8.0 %, round trip 90 ms |",
        "| 14:44:30 | link recovered | Pinghu City | the link is good again |",
        "| 14:47:05 | server restarted | - | the server started again; the previous process last wrote 35s earlier; "
        "3 venues connected then had 15s to come back: Theatre, Pinghu City, Nanhu District |",
        "| 14:47:20 | disconnected | Nanhu District | did not come back after a server restart |",
        "| 14:48:00 | fallback | Haiyan County | the program fell back to Theatre: Haiyan County was not connected |",
    ]
    starts = json.loads(render_json(ended))["server_starts"]
    assert [(s["at"] - T0, s["restart"], [v["id"] for v in s["venues_connected"]]) for s in starts] == [
        (-300, False, []), (1025, True, ["main", "pinghu", "nanhu"]),
    ]


def test_venues_present_with_their_time_connected(ended):
    assert section(render_markdown(ended), "## Venues")[2:] == [
        "| Theatre | main | 14:25:10 | 20m30s | 0 | connected |",
        "| Pinghu City | branch | 14:25:20 | 20m10s | 1 | connected |",
        "| Haiyan County | branch | - | not present | 0 | not connected |",
        "| Nanhu District | branch | 14:25:30 | 17m20s | 1 | not connected |",
    ]
    pinghu = json.loads(render_json(ended))["venues"][1]
    assert [(s["start"] - T0, s["end"] - T0) for s in pinghu["connected"]] == [(0, 780), (800, 1230)]
    assert [(s["start"] - T0, s["end"] - T0) for s in pinghu["poor_link"]] == [(750, 780), (840, 870)]


def test_a_running_session_is_written_up_to_now_while_its_server_holds_the_log(small_conf, tmp_path):
    s = ScriptedSession(small_conf, tmp_path)
    s.at(-60).start_server()
    s.at(-50).do(c.JoinVenue(venue="pinghu"))
    s.at(0).do(c.StartSession())
    s.at(200).do(c.GotoSegment(segment="speech-pinghu"))
    with pytest.raises(LogError, match="in use by another process"):
        EventLog(s.path, "small")  # the server's lock holds ...
    minutes = read_minutes(small_conf, s.path, T0 + 500)  # ... and the minutes are read all the same
    md = render_markdown(minutes)
    assert "- Session: started 14:30:00, still running at 14:38:20 (8m20s so far; planned 14:30 to 14:47, 17m30s)" in md
    assert "- Status: running: these minutes stop at 14:38:20" in md
    assert section(md, "## Agenda")[2:4] == [
        "| 1 | Opening | Theatre | 14:30:00 | 14:33:20 | 2m | 3m20s | +1m20s |",
        "| 2 | Roll call | - | skipped | - | 3m | - |  |",
    ]
    assert "| 5 | Pinghu speaks | Pinghu City | 14:33:20 | running | 5m | 5m | +0s |" not in md
    assert "| 5 | Pinghu speaks | Pinghu City | 14:33:20 | running | 5m | 5m |  |" in md
    assert section(md, "## On air")[-1] == "| 14:33:20 | 14:38:20 | Pinghu City | the segment's venue | Pinghu speaks |"
    # the session goes on; the next minutes see it
    s.at(520).do(c.EndSession())
    later = read_minutes(small_conf, s.path, T0 + 900)
    assert (later.status, later.up_to) == ("ended", T0 + 520)
    s.stop_server()


def test_a_session_that_has_not_started(small_conf, tmp_path):
    s = ScriptedSession(small_conf, tmp_path)
    s.at(-60).start_server()
    md = render_markdown(read_minutes(small_conf, s.path, T0 - 30))
    assert "- Session: not started (planned 14:30 to 14:47, 17m30s)" in md
    assert section(md, "## On air") == ["None."]
    s.stop_server()


CALLED_YAML = SMALL_YAML.replace("mode: check}", "mode: called, per_venue: 10s}").replace(
    '{id: speech-haiyan, kind: speech, title: "Haiyan speaks", venue: haiyan, planned: 90s}',
    '{id: speech-haiyan, kind: speech, title: "Haiyan speaks", venue: haiyan, planned: 90s, '
    "polling: {target: program, dwell: 15s}}",
)


def test_a_called_roll_call_and_polling_put_venues_on_air_for_their_reasons(tmp_path):
    conf = parse_conference(CALLED_YAML, "called.yaml")
    s = ScriptedSession(conf, tmp_path)
    s.at(-60).start_server()
    for venue in ("main", "pinghu", "nanhu"):
        s.do(c.JoinVenue(venue=venue))
    s.at(0).do(c.StartSession())
    s.at(60).do(c.NextSegment())
    s.at(70).do(c.StartRollCall())  # pinghu called; haiyan is not connected
    s.at(75).do(c.AnswerRollCall(venue="pinghu", picture_ok=True, sound_ok=True))  # haiyan absent, nanhu called
    s.at(85).do(c.Tick())  # nanhu's 10 s ran out: no answer; the roll call ends
    s.at(100).do(c.GotoSegment(segment="speech-haiyan"))  # polling starts on the program
    s.at(115).do(c.Tick())
    s.at(118).do(c.RevokeLink(venue="nanhu"))  # the server cuts it off: it leaves, polling moves on
    s.do(c.LeaveVenue(venue="nanhu", reason="its links were revoked"))
    minutes = read_minutes(conf, s.path, T0 + 120)
    md = render_markdown(minutes)
    # every change is in the record (the JSON minutes) ...
    assert [(o.venue.id, o.reason, round(o.at - T0), round(o.until - T0)) for o in minutes.on_air] == [
        ("main", "start", 0, 70), ("pinghu", "roll_call", 70, 75), ("nanhu", "roll_call", 75, 85),
        ("main", "segment", 85, 100), ("main", "fallback", 100, 100), ("pinghu", "polling", 100, 115),
        ("nanhu", "polling", 115, 118), ("main", "fallback", 118, 118), ("pinghu", "polling", 118, 120),
    ]
    # ... and the minutes people read put the venues called or polled in turn on one row each time
    assert section(md, "## On air")[2:] == [
        "| 14:30:00 | 14:31:10 | Theatre | session start | Opening |",
        "| 14:31:10 | 14:31:25 | 2 venues in turn | called in the roll call | Roll call |",
        "| 14:31:25 | 14:31:40 | Theatre | the segment's venue | Roll call |",
        "| 14:31:40 | 14:31:40 | Theatre | fallback: Haiyan County was not connected | Haiyan speaks |",
        "| 14:31:40 | 14:31:58 | 2 venues in turn | polling | Haiyan speaks |",
        "| 14:31:58 | 14:31:58 | Theatre | fallback: Nanhu District disconnected (its links were revoked) | Haiyan speaks |",
        "| 14:31:58 | 14:32:00 | Pinghu City | polling | Haiyan speaks |",
    ]
    assert section(md, "## Microphones")[2:] == [
        "| 14:31:10 | each venue's in its turn | each venue's after its turn | on-air change |",
        "| 14:31:40 | Pinghu City | - | segment start |",
        "| 14:31:55 | each venue's in its turn | each venue's after its turn | on-air change |",
    ]
    assert section(md, "## Faults")[2:] == [
        "| 14:31:40 | fallback | Haiyan County | the program fell back to Theatre: Haiyan County was not connected |",
        "| 14:31:58 | links revoked | Nanhu District | the operator revoked its join links; it was cut off |",
        "| 14:31:58 | disconnected | Nanhu District | its links were revoked |",
        "| 14:31:58 | fallback | Nanhu District | the program fell back to Theatre: Nanhu District disconnected (its links "
        "were revoked) |",
    ]
    assert section(md, "## Roll call")[0] == (
        "### Roll call (called in turn), 14:31:10 to 14:31:25: 1 present, 1 absent, 1 no answer"
    )
    assert section(md, "## Roll call")[3:] == [
        "| Pinghu City | present | ok | ok | 14:31:10 | 14:31:15 | venue |  |",
        "| Haiyan County | absent | - | - | - | 14:31:15 | session | not connected when called |",
        "| Nanhu District | no answer | - | - | 14:31:15 | 14:31:25 | session | no answer within 10s |",
    ]
    s.stop_server()


def test_events_that_do_not_fit_the_conference_are_refused(small_conf, sample_conf, tmp_path):
    s = small_session(small_conf, tmp_path)
    with EventLog(s.path, "small") as log:
        events = [event for _, event in log.read()]
    other = sample_conf.model_copy(update={"conference": small_conf.conference})  # same id, another agenda
    with pytest.raises(LogError) as refused:
        read_minutes(other, s.path, T0)
    assert str(refused.value) == (f"{s.path}: event #19 (segment_started) does not fit the conference file: it names "
                                  "'announce', which this conference does not have. Was the agenda or the venue list "
                                  "changed during the session?")
    with EventLog(s.path, "small") as log, pytest.raises(LogError) as on_start:
        log.replay(other)  # what the server says when it starts on that log
    assert str(on_start.value) == str(refused.value)
    assert build_minutes(small_conf, events, T0 + 1500) == read_minutes(small_conf, s.path, T0 + 1500)


# ------------------------------------------------------------------ the command


def orchestrator(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "orchestrator", *args], capture_output=True, text=True, timeout=60)


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "small.yaml"
    path.write_text(SMALL_YAML)
    return path


def test_the_command_writes_each_format(small_conf, config, tmp_path):
    data = tmp_path / "var"
    small_session(small_conf, data)
    md = orchestrator("minutes", str(config), "--data", str(data))
    assert md.returncode == 0, md.stderr
    assert md.stdout.startswith("# Minutes: Small test meeting\n")
    assert "| 14:43:00 | 14:43:20 | Theatre | fallback: Pinghu City disconnected (connection failed) |" in md.stdout
    page = orchestrator("minutes", str(config), "--data", str(data), "--out", str(tmp_path / "minutes.html"))
    assert page.returncode == 0, page.stderr
    assert page.stdout == f"Minutes of 'small' written to {tmp_path / 'minutes.html'} (html).\n"
    html = (tmp_path / "minutes.html").read_text()
    assert html.startswith("<!DOCTYPE html>") and "<svg" in html and "@page" in html
    as_json = orchestrator("minutes", str(config), "--data", str(data), "--format", "json")
    assert json.loads(as_json.stdout)["ended_at"] == T0 + 1230


def test_the_command_refuses_a_foreign_or_damaged_log_as_serve_does(config, tmp_path):
    data = tmp_path / "var"
    EventLog(data / "small.events.sqlite3", "another").close()  # a log of another conference, under this name

    def refusal(*command: str) -> str:
        done = orchestrator(*command, str(config), "--data", str(data))
        assert done.returncode == 1 and done.stdout == "", done
        prefix = f"orchestrator {command[0]}: "
        assert done.stderr.startswith(prefix), done.stderr
        return done.stderr[len(prefix):]

    foreign = refusal("minutes")
    assert foreign == (f"{data / 'small.events.sqlite3'}: this log belongs to conference 'another', not 'small'; "
                       "it was left untouched (use another data folder)\n")
    assert refusal("serve", "--port", str(free_port())) == foreign

    (data / "small.events.sqlite3").write_bytes(b"not a database at all, just some bytes" * 100)
    damaged = refusal("minutes")
    assert damaged.startswith(f"{data / 'small.events.sqlite3'}: not a readable event log")
    assert refusal("serve", "--port", str(free_port())) == damaged

    missing = orchestrator("minutes", str(config), "--data", str(tmp_path / "empty"))
    assert (missing.returncode, missing.stderr) == (1, f"orchestrator minutes: there is no event log of conference "
                                                       f"'small' in {tmp_path / 'empty'}: no session was held there\n")


def test_reading_the_minutes_changes_nothing_in_the_log(small_conf, tmp_path):
    s = small_session(small_conf, tmp_path)
    before = s.path.read_bytes()
    read_minutes(small_conf, s.path, T0 + 1500)
    assert s.path.read_bytes() == before
    with sqlite3.connect(s.path) as db:
        assert db.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 66
    db.close()


def test_the_minutes_in_chinese_with_the_session_notes_and_reasons_in_chinese(small_conf, tmp_path):
    from orchestrator.minutes import render_html

    minutes = read_minutes(small_conf, small_session(small_conf, tmp_path).path, T0 + 1500, "zh-CN")
    md = render_markdown(minutes)
    assert md.splitlines()[0] == "# 会议记录：Small test meeting"
    header = section(md, "# 会议记录：Small test meeting")
    assert header[0] == "- 会议：small，2025-02-05；所有时间均为 Asia/Shanghai, UTC+08:00 时间"
    assert header[2] == "- 状态：已结束"
    assert "## 点名" in md and "## 故障" in md and "| 会场 | 状态 | 图像 | 声音 |" in md
    assert "点名开始时未接入" in md, "the roll call's notes in Chinese"
    assert json.loads(render_json(minutes))["conference"]["language"] == "zh-CN"
    page = render_html(minutes)
    assert '<html lang="zh-CN">' in page and "<h2>麦克风</h2>" in page
    english = read_minutes(small_conf, small_session(small_conf, tmp_path / "en").path, T0 + 1500)
    assert render_markdown(english).splitlines()[0] == "# Minutes: Small test meeting", "the file's language: en"


def test_a_media_node_lost_and_back_is_a_fault_with_the_venues_it_moved(small_conf, tmp_path):
    s = ScriptedSession(small_conf, tmp_path)
    s.at(-60).start_server()
    for venue in ("main", "pinghu", "nanhu"):
        s.do(c.JoinVenue(venue=venue))
    s.at(0).do(c.StartSession())
    s.at(30).do(c.ReportMediaNodeLost(node="ws://192.0.2.101:8288/janus", venues=["pinghu", "nanhu"],
                                      reason="no answer"))
    s.at(95).do(c.ReportMediaNodeBack(node="ws://192.0.2.101:8288/janus"))
    s.stop_server()
    minutes = read_minutes(small_conf, s.path, T0 + 120)
    md = render_markdown(minutes)
    assert section(md, "## Faults")[2:] == [
        "| 14:30:30 | media node lost | - | media node ws://192.0.2.101:8288/janus stopped answering; "
        "2 venues moved to the other nodes: Pinghu City, Nanhu District |",
        "| 14:31:35 | media node back | - | media node ws://192.0.2.101:8288/janus answers again; new venues join it |",
    ]
    assert "- Faults: 1 media node lost" in md
    chinese = render_markdown(read_minutes(small_conf, s.path, T0 + 120, "zh-CN"))
    assert "媒体节点 ws://192.0.2.101:8288/janus 停止应答；2 个会场已移至其他节点" in chinese
