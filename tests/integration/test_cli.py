"""The `orchestrator` command as a user runs it (a real subprocess)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.event_log import log_path
from tests.conftest import SAMPLE, SMALL_YAML
from tests.support.live import free_port


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


def serve(config: Path, *args: str, prefix: list[str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*(prefix or []), sys.executable, "-m", "orchestrator", "serve", str(config), *args],
                          capture_output=True, text=True, timeout=60)


def without_root_override() -> list[str]:
    """Root writes into read-only folders; without its override capabilities it meets permissions as anyone."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: a read-only folder cannot be made here")
    drop = "-dac_override,-dac_read_search"
    return [setpriv, f"--inh-caps={drop}", f"--bounding-set={drop}"]


@pytest.fixture
def small_yaml(tmp_path) -> Path:
    path = tmp_path / "small.yaml"
    path.write_text(SMALL_YAML)
    return path


def test_serve_on_a_busy_port_says_so_in_one_line_before_anything_else(tmp_path, small_yaml):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = serve(small_yaml, "--port", str(port), "--data", str(tmp_path / "var"))
    assert out.returncode == 1
    assert out.stdout == ""
    assert out.stderr == f"orchestrator serve: cannot listen on 127.0.0.1:{port}: address already in use\n"
    assert not (tmp_path / "var").exists()


def test_serve_with_a_data_folder_under_a_file_says_so_in_one_line(tmp_path, small_yaml):
    (tmp_path / "notes.txt").write_text("a file, not a folder")
    data = tmp_path / "notes.txt" / "var"
    out = serve(small_yaml, "--port", str(free_port()), "--data", str(data))
    assert (out.returncode, out.stdout) == (1, "")
    assert out.stderr == f"orchestrator serve: cannot use the data folder {data}: not a directory\n"


@pytest.mark.parametrize("inside", [True, False], ids=["under-a-read-only-folder", "a-read-only-folder"])
def test_serve_with_a_data_folder_it_cannot_write_says_so_in_one_line(tmp_path, small_yaml, inside):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    data = locked / "var" if inside else locked
    out = serve(small_yaml, "--port", str(free_port()), "--data", str(data), prefix=without_root_override())
    assert (out.returncode, out.stdout) == (1, "")
    assert out.stderr == f"orchestrator serve: cannot use the data folder {data}: permission denied\n"


def test_serve_on_a_log_another_process_holds_says_so_in_one_line(tmp_path, small_yaml):
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys\nfrom orchestrator.event_log import EventLog\n"
         "log = EventLog(sys.argv[1], 'small')\nprint('open', flush=True)\nsys.stdin.readline()\n",
         str(log_path(tmp_path / "var", "small"))],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline() == "open\n"
        out = serve(small_yaml, "--port", str(free_port()), "--data", str(tmp_path / "var"))
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()
        holder.stdin.close()
    assert (out.returncode, out.stdout) == (1, "")
    assert out.stderr == (f"orchestrator serve: {log_path(tmp_path / 'var', 'small')}: the event log is in use by "
                          "another process (a server running on this data folder?)\n")


def test_validate_counts_in_words(tmp_path):
    one = tmp_path / "one.yaml"
    one.write_text(SMALL_YAML.replace("  - {id: haiyan, name: \"Haiyan County\", role: branch, kind: county}\n", "")
                   .replace("  - {id: nanhu, name: \"Nanhu District\", role: branch, kind: district}\n", "")
                   .split("awards:")[0] + "agenda:\n  - {id: opening, kind: presiding, title: \"Opening\", planned: 2m}\n")
    out = run("validate", str(one))
    assert out.returncode == 0, out.stderr
    assert "venues       2: main 'main' (Theatre); 1 branch: 1 county_city" in out.stdout
    assert "awards       0 lists, 0 recipients" in out.stdout
    assert "agenda       1 segment, 2m planned" in out.stdout
