"""The verifier on made-up records: it measures switches, and it fails when venues did not get the program."""

from __future__ import annotations

import pytest

from orchestrator.core.events import event_adapter
from orchestrator.rehearsal.drills import parse_drills
from orchestrator.rehearsal.plan import make_plan
from orchestrator.rehearsal.records import CommandRecord, DrillOutcome, Recording, SegmentRun
from orchestrator.rehearsal.verifier import expected_view, verify_run, verify_segment

T = 1_000_000.0  # the take of pinghu is sent at T + 10


def log(*entries: tuple[float, str, dict]) -> list[dict]:
    return [{"ts": T + at, "event": event, **fields} for at, event, fields in entries]


def receiver(seen: list[tuple[float, str]], caption_at: float | None = 10.02) -> list[dict]:
    entries = [(0.0, "joined", {}), (1.0, "on_air_seen", {"venue": "main"})]
    entries += [(at, "on_air_seen", {"venue": v}) for at, v in seen]
    if caption_at is not None:
        entries.append((caption_at, "caption", {"kind": "speaker", "text": "Leader of Pinghu", "venue": "pinghu"}))
    return log(*sorted(entries, key=lambda e: e[0]))


def recording(conf, logs: dict[str, list[dict]], **drills) -> tuple[Recording, SegmentRun]:
    """A session that started at T; the segment 'speech-pinghu' ran from T+10 to T+13."""
    parsed = parse_drills(conf, **drills)
    plan = make_plan(conf, 600, 1.0, parsed)
    events = [event_adapter.validate_python(e) for e in [
        {"type": "segment_started", "segment": "speech-pinghu", "at": T + 10.005},
        {"type": "venue_took_air", "venue": "pinghu", "previous": "main", "reason": "segment", "at": T + 10.005},
        {"type": "caption_changed", "caption": {"kind": "speaker", "text": "Leader of Pinghu", "award": None,
                                                 "category": None, "recipient": None, "venue": "pinghu"},
         "override": False, "at": T + 10.005},
    ]]
    command = CommandRecord({"type": "next_segment"}, sent=T + 10, answered=T + 10.01, status=200, events=events)
    run = SegmentRun(plan.step("speech-pinghu"), started=T + 10, start_answered=T + 10.01, ended=T + 13)
    rec = Recording(conf, plan, parsed, 3.0, [command], list(events), logs, segments=[run], session_started=T)
    return rec, run


def good_logs() -> dict[str, list[dict]]:
    return {
        "main": log((0.0, "joined", {}), (10.2, "on_air_seen", {"venue": "pinghu"}),
                    (10.02, "caption", {"kind": "speaker", "text": "Leader of Pinghu"})),
        "pinghu": receiver([]),  # on air: keeps showing the main venue
        "haiyan": receiver([(10.25, "pinghu")]),
        "nanhu": receiver([(10.3, "pinghu")]),
    }


def test_expected_views():
    assert expected_view("nanhu", "pinghu", "main") == "pinghu"
    assert expected_view("pinghu", "pinghu", "main") == "main"  # the on-air venue sees the main venue
    assert expected_view("main", "pinghu", "main") == "pinghu"
    assert expected_view("main", "main", "main") is None  # the main venue gets no program while on air


def test_a_clean_switch_is_measured_per_venue(rehearsal_conf):
    rec, run = recording(rehearsal_conf, good_logs())
    check = verify_segment(rec, run)
    assert check.findings == []
    (switch,) = check.switches
    assert switch.on_air == "pinghu" and switch.cause == "segment"
    assert switch.latencies == pytest.approx({"main": 0.2, "haiyan": 0.25, "nanhu": 0.3})
    (caption,) = check.captions
    assert sorted(caption.delivered) == ["haiyan", "main", "nanhu", "pinghu"] and caption.missing == []


def test_late_missing_and_wrong_pictures_are_findings(rehearsal_conf):
    logs = good_logs()
    logs["haiyan"] = receiver([(11.6, "pinghu")])  # 1.6 s after the take
    logs["nanhu"] = receiver([(10.3, "pinghu"), (11.0, "haiyan"), (11.1, "pinghu")])  # a flash of another venue
    logs["main"] = log((0.0, "joined", {}), (10.02, "caption", {"kind": "speaker", "text": "Leader of Pinghu"}))  # never
    rec, run = recording(rehearsal_conf, logs)
    findings = verify_segment(rec, run).findings
    by_venue = {(f.kind, f.venue) for f in findings}
    assert by_venue == {("switch_late", "haiyan"), ("wrong_venue_seen", "nanhu"), ("switch_missing", "main")}
    late = next(f for f in findings if f.kind == "switch_late")
    assert late.segment == "speech-pinghu"
    assert late.message == ("'haiyan' showed 'pinghu' 1.60 s after the segment start that put 'pinghu' on air at 21:46:50 "
                            "(threshold 1 s)")


def test_a_missing_caption_is_a_finding(rehearsal_conf):
    logs = good_logs()
    logs["nanhu"] = receiver([(10.3, "pinghu")], caption_at=None)
    rec, run = recording(rehearsal_conf, logs)
    (finding,) = verify_segment(rec, run).findings
    assert (finding.kind, finding.venue) == ("caption_missing", "nanhu")


def test_broken_frames_are_findings_unless_a_lossy_uplink_was_on_air(rehearsal_conf):
    logs = good_logs()
    logs["nanhu"] = logs["nanhu"] + log((11.0, "broken_frame", {"seen": "pinghu"}))
    rec, run = recording(rehearsal_conf, logs)
    assert [f.kind for f in verify_segment(rec, run).findings] == ["broken_frames"]
    rec, run = recording(rehearsal_conf, logs, loss=["pinghu:20"])
    check = verify_segment(rec, run)
    assert check.findings == []
    assert [o.drill for o in check.outcomes] == ["loss"] and "lossy uplink" in check.outcomes[0].message


def test_a_venue_away_during_the_switch_is_left_to_the_drill_checks(rehearsal_conf):
    logs = good_logs()
    logs["nanhu"] = log((0.0, "joined", {}), (1.0, "on_air_seen", {"venue": "main"}), (9.0, "dropped", {}))
    rec, run = recording(rehearsal_conf, logs)
    check = verify_segment(rec, run)
    assert check.findings == [] and "nanhu" not in check.switches[0].latencies


def test_the_main_venue_showing_a_picture_while_on_air_is_wrong(rehearsal_conf):
    rec, run = recording(rehearsal_conf, good_logs())
    taken = rec.server_events[1].model_copy(update={"venue": "main", "previous": "pinghu"})
    rec.server_events[1] = rec.commands[0].events[1] = taken  # as if the main venue had been taken
    rec.logs["main"] = log((0.0, "joined", {}), (10.02, "caption", {"kind": "speaker", "text": "Leader of Pinghu"}),
                           (10.5, "on_air_seen", {"venue": "haiyan"}))
    findings = verify_segment(rec, run).findings
    assert ("wrong_venue_seen", "main") in {(f.kind, f.venue) for f in findings}


def test_an_unmeasured_lossy_uplink_is_a_finding(rehearsal_conf):
    rec, _ = recording(rehearsal_conf, good_logs(), loss=["nanhu:10"])
    findings, outcomes = verify_run(rec)
    assert [(f.kind, f.venue) for f in findings] == [("loss_not_measured", "nanhu")]
    rec.max_loss_pct["nanhu"] = 7.5
    rec.poor_link.add("nanhu")
    findings, outcomes = verify_run(rec)
    assert findings == []
    assert [o.model_dump(exclude={"phrase"}) for o in outcomes] == [DrillOutcome(
        drill="loss", venue="nanhu", segment=None, at=rec.session_ended or 0.0,
        message="10% uplink loss: the server measured up to 7.5%; its link was shown poor").model_dump(exclude={"phrase"})]
    assert outcomes[0].say("zh-CN") == "上行丢包 10%：服务器测得最高 7.5%；其链路显示为差"


def award_caption(award: str, title: str, name: str, venue: str | None) -> dict:
    return {"kind": "award", "text": f"{title}: {name}", "award": award, "category": title, "recipient": name,
            "venue": venue}


def captions_checked(conf, changes: list[tuple[float, dict]], shown: dict[str, list[tuple[float, dict]]]):
    """The caption checks of a segment in which the server set these captions and each venue showed these."""
    logs = good_logs()
    for venue, lines in shown.items():
        logs[venue] = sorted(logs[venue] + log(*((at, "caption", caption) for at, caption in lines)),
                             key=lambda e: e["ts"])
    rec, run = recording(conf, logs)
    rec.server_events += [event_adapter.validate_python({"type": "caption_changed", "caption": c, "override": False,
                                                         "at": T + at}) for at, c in changes]
    check = verify_segment(rec, run)
    return check.captions[1:], [(f.kind, f.venue, round(f.at - T, 2)) for f in check.findings]


def test_a_recipient_in_two_awards_is_two_captions_each_shown(rehearsal_conf):
    first = award_caption("collectives", "Advanced collectives", "张三", "pinghu")
    second = award_caption("villages", "Model villages", "张三", "pinghu")
    venues = ["haiyan", "main", "nanhu", "pinghu"]
    checks, findings = captions_checked(rehearsal_conf, [(11.0, first), (11.02, second)],
                                        {v: [(11.01, first), (11.03, second)] for v in venues})
    assert findings == []
    assert [sorted(c.delivered) for c in checks] == [venues, venues]
    assert [c.delivered["nanhu"] for c in checks] == pytest.approx([0.01, 0.01])


def test_each_caption_change_needs_a_showing_of_its_own(rehearsal_conf):
    same = award_caption("collectives", "Advanced collectives", "张三", "pinghu")
    # set twice in quick succession, shown once: one showing cannot answer both changes
    _, findings = captions_checked(rehearsal_conf, [(11.0, same), (11.01, same)],
                                   {v: [(11.02, same)] for v in ("main", "pinghu", "haiyan", "nanhu")})
    assert sorted(findings) == [("caption_missing", v, 11.01) for v in ("haiyan", "main", "nanhu", "pinghu")]


def test_captions_with_the_same_text_from_two_awards_are_told_apart(rehearsal_conf):
    first = award_caption("collectives", "Advanced collectives", "张三", "pinghu")
    second = award_caption("villages", "Advanced collectives", "张三", "pinghu")  # two lists, one title
    shown = {v: [(11.005, first), (11.03, second)] for v in ("main", "pinghu", "haiyan")}
    shown["nanhu"] = [(11.015, first)]  # the first award's caption only: it does not answer the second
    _, findings = captions_checked(rehearsal_conf, [(11.0, first), (11.01, second)], shown)
    assert findings == [("caption_missing", "nanhu", 11.01)]


def test_a_phrase_is_said_in_english_with_ids_and_translated_with_names():
    from orchestrator.i18n import PARTS, phrase

    drop = phrase(PARTS, parts=[phrase("dropped at {time}", time="21:46:51"),
                                phrase("program fell back to '{venue}'", venue="main"), phrase("back on air")])
    assert drop.say() == "dropped at 21:46:51; program fell back to 'main'; back on air"
    assert drop.say("zh-CN", {"main": "嘉兴大剧院"}) == "于 21:46:51 掉线；节目回退到“嘉兴大剧院”；已重新上屏"
    assert drop.say("en", {"main": "嘉兴大剧院"}) == drop.say(), "English keeps the ids, as the commands type them"
    # a phrase read back from report.json says the same
    assert type(drop).model_validate_json(drop.model_dump_json()).say("zh-CN") == drop.say("zh-CN")
