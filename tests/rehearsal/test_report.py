"""The report in words: what it counts and says is computed from the measurements, in the
conference's time zone, with the venues' and recipients' names (made-up records, real report)."""

from __future__ import annotations

import json

from orchestrator.core.events import event_adapter
from orchestrator.rehearsal.report import Report, ReportText, build_report, render_html, write_report
from orchestrator.rehearsal.verifier import verify_segment

from .test_verifier import T, good_logs, receiver, recording

ROLL_CALL = {"roll-call": {
    "segment": "roll-call", "phase": "finished", "started_at": T + 2, "finished_at": T + 4,
    "counts": {"pending": 0, "present": 2, "absent": 1},
    "venues": {
        "pinghu": {"status": "present", "at": T + 3, "prompted_at": T + 2, "picture_ok": True, "sound_ok": True,
                   "by": "venue", "note": ""},
        "haiyan": {"status": "absent", "at": T + 2, "prompted_at": None, "picture_ok": None, "sound_ok": None,
                   "by": "session", "note": "not connected when the roll call started"},
        "nanhu": {"status": "present", "at": T + 3.5, "prompted_at": T + 2, "picture_ok": True, "sound_ok": True,
                  "by": "venue", "note": ""},
    },
}}
PRESENTED = [
    event_adapter.validate_python({"type": "award_presented", "segment": "awards", "award": "collectives", "award_index": 0, "recipient_index": i,
     "recipient": name, "venue": venue, "at": T + 5 + i})
    for i, (name, venue) in enumerate([("SAMPLE: Unit A", "pinghu"), ("SAMPLE: Unit B", None), ("SAMPLE: Unit C", "nanhu")])
]


def report_of(conf, logs=None, roll_calls=None, **drills):
    """A report of the session that started at T (21:46:40 in Asia/Shanghai) with 'speech-pinghu' from T+10 to T+13."""
    rec, run = recording(conf, logs or good_logs(), **drills)
    rec.roll_calls = roll_calls or ROLL_CALL
    rec.server_events += PRESENTED
    check = verify_segment(rec, run)
    return build_report(rec, [check], [], check.outcomes, started=T - 1, ended=T + 14, cpu_s=1.0,
                        config_path="rehearsal.yaml")


def test_takes_and_measurements_are_counted_apart(rehearsal_conf):
    report = report_of(rehearsal_conf)
    s = report.summary
    assert (s.switches, s.takes, s.fallbacks, s.switch_measurements) == (1, 1, 0, 3)
    assert ReportText(report).switches() == (
        "1 switch (1 take), measured 3 times at the venues: all within 1 s (median 0.25 s, slowest 0.30 s)"
    )


def test_awards_are_counted_as_presentations_of_awards(rehearsal_conf):
    report = report_of(rehearsal_conf)
    assert (report.summary.awards_presented, report.summary.awards) == (3, 1)
    assert ReportText(report).awards() == "3 presentations of 1 award"
    assert [(a.title, a.recipient, a.venue) for a in report.awards] == [
        ("Advanced collectives", "SAMPLE: Unit A", "pinghu"),
        ("Advanced collectives", "SAMPLE: Unit B", None),
        ("Advanced collectives", "SAMPLE: Unit C", "nanhu"),
    ]


def test_with_no_findings_the_page_says_what_the_switches_measured(rehearsal_conf):
    clean = render_html(report_of(rehearsal_conf))
    assert ("None: every venue showed every switch within 1 s (the slowest after 0.30 s); every caption reached every "
            "connected venue.") in clean

    # haiyan showed the take 1.32 s late while a venue with a lossy uplink was on air: a drill outcome, not a finding
    logs = good_logs()
    logs["haiyan"] = receiver([(11.32, "pinghu")])
    report = report_of(rehearsal_conf, logs, loss=["pinghu:20"])
    assert report.findings == [] and report.summary.switch_latency_max_s == 1.32
    page = render_html(report)
    assert "every venue showed every switch within" not in page
    assert ("None: 1 of 3 switch measurements took longer than 1 s (the slowest 1.32 s): drill outcomes, see Drills; "
            "every caption reached every connected venue.") in page
    assert ReportText(report).switches().endswith("2 within 1 s, 1 later (median 0.30 s, slowest 1.32 s)")


def test_the_page_shows_names_and_local_times(rehearsal_conf, tmp_path):
    report = report_of(rehearsal_conf)
    write_report(report, tmp_path)
    page = (tmp_path / "report.html").read_text()
    assert "rehearsed 1970-01-12, 21:46:39 to 21:46:54 (Asia/Shanghai, UTC+08:00)" in page
    # the roll call by venue name, with when each was recorded
    assert "<td>Pinghu City</td><td class=\"present\">present</td>" in page
    assert "<td>Haiyan County</td><td class=\"absent\">absent</td>" in page
    assert "<td class=\"time\">21:46:43</td>" in page
    assert "roll-call: 2 present, 1 absent" in page  # (a segment that did not run: its id only)
    # the awards presented: award, recipient, venue name, time
    assert ("<tr><td class=\"time\">21:46:45</td><td>Advanced collectives</td><td>SAMPLE: Unit A</td>"
            "<td>Pinghu City</td>") in page
    assert "SAMPLE: Unit B</td><td>-</td>" in page and "SAMPLE: Unit C</td><td>Nanhu District</td>" in page
    # the segment and its switch at local times; no UTC anywhere
    assert "<td class=\"time\">21:46:50</td>" in page and "21:46:50 segment start &rarr; Pinghu City: 0.30 s" in page
    assert "+00:00" not in page and "UTC+08:00" in page
    # machines keep seconds and unix time, and are told the zone
    saved = json.loads((tmp_path / "report.json").read_text())
    assert saved["timezone"] == "Asia/Shanghai"
    assert (saved["started_at"], saved["session_started_at"]) == ("1970-01-12T21:46:39+08:00", "1970-01-12T21:46:40+08:00")
    assert saved["session_started_unix"] == T and saved["segments"][0]["started_at_s"] == 10.0


def test_the_terminal_summary_counts_in_words(rehearsal_conf, tmp_path):
    from orchestrator.cli import _rehearsal_summary

    lines = _rehearsal_summary(report_of(rehearsal_conf), tmp_path).splitlines()
    assert lines[0].startswith("Rehearsal of rehearsal-test, 1970-01-12, 21:46:39 to 21:46:54 (Asia/Shanghai, "
                               "UTC+08:00): 1 segment in 14.0 s")
    assert lines[1:5] == [
        "  program   1 switch (1 take), measured 3 times at the venues: all within 1 s (median 0.25 s, slowest 0.30 s)",
        "  captions  1 caption, 4 of 4 deliveries to the venues",
        "  awards    3 presentations of 1 award",
        "  pictures  0 broken frames",
    ]


def test_the_roll_call_line_counts_every_status_the_record_has(rehearsal_conf):
    called = {"roll-call": {**ROLL_CALL["roll-call"], "mode": "called", "counts": {
        "waiting": 0, "pending": 0, "present": 1, "absent": 0, "no_answer": 2}, "venues": {
        "pinghu": {**ROLL_CALL["roll-call"]["venues"]["pinghu"]},
        "haiyan": {**ROLL_CALL["roll-call"]["venues"]["haiyan"], "status": "no_answer"},
        "nanhu": {**ROLL_CALL["roll-call"]["venues"]["nanhu"], "status": "no_answer"},
    }}}
    page = render_html(report_of(rehearsal_conf, roll_calls=called))
    assert "roll-call: 1 present, 2 no answer</p>" in page
    assert "<td>Nanhu District</td><td class=\"no_answer\">no answer</td>" in page


def test_the_report_and_the_summary_speak_the_conference_language_or_the_chosen_one(rehearsal_conf, tmp_path):
    from orchestrator.cli import _rehearsal_summary

    report = report_of(rehearsal_conf)
    zh = report.model_copy(update={"conference": {**report.conference, "language": "zh-CN"}})
    page = render_html(zh)
    assert '<html lang="zh-CN">' in page and "<h2>点名</h2>" in page and "<h2>时间线</h2>" in page
    assert "通过：所有检查均符合要求" in page and "<td>Nanhu District</td><td class=\"present\">已到</td>" in page
    assert "切换 1 次（手动切换 1 次）" in ReportText(zh).switches()
    assert render_html(zh, "en") == render_html(report), "--lang en gives the English page"
    lines = _rehearsal_summary(zh, tmp_path).splitlines()
    assert lines[0].startswith("rehearsal-test 彩排，1970-01-12，21:46:39 至 21:46:54（Asia/Shanghai, UTC+08:00）：1 个议程用时")
    assert lines[-1] == f"报告：{tmp_path / 'report.html'} 和 {tmp_path / 'report.json'}"


def test_a_chinese_report_says_its_findings_and_drill_outcomes_in_chinese(rehearsal_conf, tmp_path):
    from orchestrator.cli import _rehearsal_summary

    logs = good_logs()
    logs["haiyan"] = receiver([(11.6, "pinghu")])  # 1.6 s after the take: late
    def chinese(report):
        return report.model_copy(update={"conference": {**report.conference, "language": "zh-CN"}})

    zh = chinese(report_of(rehearsal_conf, logs))
    late = next(f for f in zh.findings if f.kind == "switch_late")
    said = ("21:46:50 议程开始将“Pinghu City”切换上屏后，会场“Haiyan County”在 1.60 秒后才显示“Pinghu City”"
            "（阈值 1 秒）")
    assert ReportText(zh).said(late) == said
    page = render_html(zh)
    assert said in page and "showed" not in page  # the table and the timeline's marker
    assert said in _rehearsal_summary(zh, tmp_path)
    # the same late switch while a venue with a lossy uplink was on air: a drill outcome, in Chinese too
    lossy = chinese(report_of(rehearsal_conf, logs, loss=["pinghu:20"]))
    assert lossy.findings == []
    outcome = f"{said}，其间本议程上屏的是“Pinghu City”（上行有丢包）"
    assert outcome in render_html(lossy) and outcome in _rehearsal_summary(lossy, tmp_path)
    # report.json keeps the English sentence, and the phrase to say it in any language
    write_report(zh, tmp_path)
    saved = json.loads((tmp_path / "report.json").read_text())["findings"]
    found = next(f for f in saved if f["kind"] == "switch_late")
    assert found["message"] == ("'haiyan' showed 'pinghu' 1.60 s after the segment start that put 'pinghu' on air "
                                "at 21:46:50 (threshold 1 s)")
    assert found["phrase"]["msgid"] == "'{venue}' showed '{want}' {seconds} s after {cause} at {time} (threshold {threshold} s)"
    assert ReportText(Report.model_validate_json((tmp_path / "report.json").read_text())).said(late) == said
