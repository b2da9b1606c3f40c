"""The `orchestrator` command as a user runs it (a real subprocess)."""

from __future__ import annotations

import subprocess
import sys


from tests.conftest import SAMPLE, SMALL_YAML


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "orchestrator", *args], capture_output=True, text=True, timeout=60)


def test_validate_prints_a_summary_of_the_sample():
    out = run("validate", str(SAMPLE))
    assert out.returncode == 0, out.stderr
    assert out.stderr == ""
    assert "venues       10: main 'main' (Jiaxing Grand Theatre); 9 branches: 2 district, 2 county, 3 county_city, " \
        "1 development_zone, 1 port_area" in out.stdout
    assert "agenda       13 segments, 1h46m planned" in out.stdout
    assert "planned end  2025-02-05 16:16 (Asia/Shanghai)" in out.stdout


def test_validate_reports_errors_one_per_line_without_traceback(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(SMALL_YAML.replace("venue: pinghu, planned: 5m", "venue: pinhgu, planned: 5x"))
    out = run("validate", str(bad))
    assert out.returncode == 1
    assert out.stdout == ""
    assert out.stderr.splitlines() == [
        f"{bad}:22:116: agenda[4].planned: '5x' is not a duration: write it like 90s, 5m or 1h30m",
    ]
    assert "Traceback" not in out.stderr


def test_validate_reports_reference_errors_after_structure_is_right(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(SMALL_YAML.replace("venue: pinghu, planned: 5m", "venue: pinhgu, planned: 5m"))
    out = run("validate", str(bad))
    assert out.returncode == 1
    assert out.stderr.splitlines() == [
        f"{bad}:22:99: agenda[4].venue: unknown venue 'pinhgu' (did you mean 'pinghu'?)"
    ]


def test_validate_missing_file(tmp_path):
    out = run("validate", str(tmp_path / "none.yaml"))
    assert out.returncode == 1
    assert out.stderr.strip() == f"{tmp_path / 'none.yaml'}:1:1: cannot read the file: No such file or directory"


def test_serve_refuses_a_bad_setting_by_name_before_starting(tmp_path):
    out = run("serve", str(SAMPLE), "--data", str(tmp_path), "--heartbeat-timeout", "-1", "--media", "transcode")
    assert out.returncode == 2
    assert "heartbeat_timeout_s (ORCHESTRATOR_HEARTBEAT_TIMEOUT_S): Input should be greater than 0" in out.stderr
    assert "Traceback" not in out.stderr
    assert not list(tmp_path.iterdir()), "nothing was written"
