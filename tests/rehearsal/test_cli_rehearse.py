"""`orchestrator rehearse` as a user runs it: exit status, progress lines, the report files."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys

import pytest

from tests.conftest import SAMPLE
from tests.support.processes import takes_ctrl_c

from .conftest import REHEARSAL_YAML, SPEED


def run(*args: str, timeout: float = 90) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "orchestrator", "rehearse", *args], capture_output=True, text=True,
                          timeout=timeout)


def test_a_rehearsal_passes_and_writes_a_self_contained_report(rehearsal_yaml, tmp_path):
    out = run(str(rehearsal_yaml), "--speed", str(SPEED), "--report", str(tmp_path / "report"))
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stderr == ""
    # not a terminal: plain progress lines, then the summary
    assert "segment 1/6 opening (presiding, 2.0 s), on air from 'main'" in out.stdout
    assert "roll call finished: 3 present, 0 absent" in out.stdout
    assert "No findings: every check passed." in out.stdout
    # the summary counts takes apart from their measurements, and presentations apart from awards
    assert re.search(r"^  program   (\d+) switches \(\1 takes\), measured \d+ times at the venues: all within 1 s "
                     r"\(median \d\.\d\d s, slowest \d\.\d\d s\)$", out.stdout, re.M), out.stdout
    assert "\n  awards    3 presentations of 1 award\n" in out.stdout
    assert re.search(r"^Rehearsal of rehearsal-test, \d{4}-\d\d-\d\d, \d\d:\d\d:\d\d to \d\d:\d\d:\d\d "
                     r"\(Asia/Shanghai, UTC\+08:00\): 6 segments in ", out.stdout, re.M), out.stdout
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    assert report["summary"]["passed"] is True and report["summary"]["findings"] == 0
    assert report["conference"]["file"] == str(rehearsal_yaml)
    assert [s["id"] for s in report["segments"]] == ["opening", "roll-call", "awards", "speech-pinghu", "speech-haiyan",
                                                     "closing"]
    for segment in report["segments"]:
        assert segment["planned_s"] > 0 and segment["actual_s"] >= segment["target_s"] - 0.05
    html = (tmp_path / "report" / "report.html").read_text()
    assert html.startswith("<!DOCTYPE html>") and "<svg" in html and "Roll call" in html
    assert not re.search(r"<script|<link|\bsrc=|\bhref=|url\(", html)  # nothing to fetch: one file
    logged = [json.loads(line) for line in (tmp_path / "report" / "rehearsal.log").read_text().splitlines()]
    assert [x["segment"] for x in logged if x["event"] == "segment_started" and x["component"] == "rehearsal"] == [
        s["id"] for s in report["segments"]
    ]


def test_a_bad_conference_file_is_exit_2_with_the_validate_errors(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(REHEARSAL_YAML.replace("venue: pinghu, planned: 5m", "venue: pinhgu, planned: 5m"))
    out = run(str(bad), "--report", str(tmp_path / "report"))
    assert out.returncode == 2
    validate = subprocess.run([sys.executable, "-m", "orchestrator", "validate", str(bad)], capture_output=True, text=True)
    assert out.stderr == validate.stderr
    assert re.match(rf"{re.escape(str(bad))}:\d+:\d+: agenda\[3\]\.venue: unknown venue 'pinhgu'", out.stderr)
    assert not (tmp_path / "report").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--drop", "pinghu"], "--drop pinghu: write it as VENUE@SEGMENT or VENUE@SEGMENT:SECONDS"),
        (["--absent", "pinhgu"], "did you mean 'pinghu'?"),
        (["--loss", "nanhu:200"], "PERCENT must be more than 0 and less than 100"),
        (["--speed", "0"], "Invalid value for '--speed'"),
    ],
)
def test_bad_drills_and_options_are_usage_errors(rehearsal_yaml, tmp_path, args, message):
    out = run(str(rehearsal_yaml), "--report", str(tmp_path / "report"), *args)
    assert out.returncode == 2
    assert message in out.stderr and "Usage:" in out.stderr


@pytest.mark.slow
@pytest.mark.timeout(420)
def test_the_sample_conference_rehearses_clean_at_the_default_speed(tmp_path):
    """The ten-venue sample at speed 60 (about two minutes): no findings, no broken or dropped frames; the
    called roll call takes its nine venues' answers."""
    out = run(str(SAMPLE), "--report", str(tmp_path / "report"), timeout=400)
    assert out.returncode == 0, out.stdout[-3000:]
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    summary = report["summary"]
    assert summary["findings"] == 0 and summary["broken_frames"] == 0
    assert summary["min_fps"] >= 13.5  # the venues send 15 frames per second
    assert summary["switch_measurements"] >= 50 and summary["switch_latency_max_s"] < 1.0
    assert summary["caption_deliveries"] == summary["caption_deliveries_expected"] >= 200
    assert report["roll_calls"]["roll-call"]["counts"] == {"waiting": 0, "pending": 0, "present": 9, "absent": 0,
                                                           "no_answer": 0}
    assert summary["roll_call_calls"] == summary["roll_call_calls_on_air"] == 9
    # the mobilisation speech polls the theatre's return: three steps, each seen there (and only there)
    assert summary["return_switches"] >= 3 and summary["return_switches_measured"] >= 2
    assert summary["return_measured_within_threshold"] == summary["return_switches_measured"]
    assert report["session_s"] < 140
    print(f"\nsample rehearsal: session {report['session_s']} s, whole run {report['duration_s']} s, "
          f"{report['cpu']['cores']} cores")


def test_an_interrupted_rehearsal_stops_cleanly_without_a_report(rehearsal_yaml, tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "orchestrator", "rehearse", str(rehearsal_yaml), "--speed", str(SPEED),
                             "--report", str(tmp_path / "report")], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=takes_ctrl_c)
    for line in proc.stdout:
        if "segment 2/6" in line:
            break
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert err == "orchestrator rehearse: interrupted; no report written\n"
    assert not (tmp_path / "report" / "report.json").exists()
