"""The `orchestrator` command as a user runs it (a real subprocess)."""

from __future__ import annotations

import os
import resource
import shutil
import socket
import subprocess
import sys
import time
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


# ---------------------------------------------------------------------------- hostile files

AS_LIMIT = 2 * 1024**3  # address space for the command: a file that expands cannot take the machine down


def run_bounded(*args: str, timeout: float = 30, prefix: list[str] | None = None
                ) -> tuple[subprocess.CompletedProcess, float]:
    """Run the command with its memory bounded; (result, seconds taken)."""
    started = time.monotonic()
    out = subprocess.run([*(prefix or []), sys.executable, "-m", "orchestrator", *args], capture_output=True,
                         text=True, timeout=timeout,
                         preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (AS_LIMIT, AS_LIMIT)))
    return out, time.monotonic() - started


def not_a_file(kind: str, folder: Path) -> tuple[str, str, list[str]]:
    """(path, the one line `validate` must print for it, what to run the command under)."""
    if kind == "fifo":
        path = folder / "pipe.yaml"
        os.mkfifo(path)
        return str(path), f"{path}:1:1: cannot read the file: it is a named pipe (FIFO), not a conference file", []
    if kind == "/dev/zero":
        return "/dev/zero", "/dev/zero:1:1: cannot read the file: it is a character device, not a conference file", []
    if kind == "directory":
        return str(folder), f"{folder}:1:1: cannot read the file: it is a directory, not a conference file", []
    if kind == "missing":
        path = folder / "missing.yaml"
        return str(path), f"{path}:1:1: cannot read the file: No such file or directory", []
    if kind == "unreadable":
        path = folder / "secret.yaml"
        path.write_text(SMALL_YAML)
        path.chmod(0)
        return str(path), f"{path}:1:1: cannot read the file: Permission denied", without_root_override()
    path = folder / "huge.yaml"  # sparse: no disk is used
    with open(path, "wb") as f:
        f.truncate(8 * 1024**3)
    return str(path), f"{path}:1:1: the file is too large: {8 * 1024**3:,} bytes (the limit is {1024 * 1024:,})", []


@pytest.mark.parametrize("kind", ["fifo", "/dev/zero", "directory", "missing", "unreadable", "huge"])
def test_validate_reports_what_is_not_a_conference_file_and_checks_the_others(tmp_path, kind):
    good = tmp_path / "good.yaml"
    good.write_text(SMALL_YAML)
    other = tmp_path / "other.yaml"
    other.write_text(SMALL_YAML.replace("Small test meeting", "嘉兴市“六大行动”动员大会"))
    (tmp_path / "bad").mkdir()
    bad, expected, prefix = not_a_file(kind, tmp_path / "bad")
    out, took = run_bounded("validate", str(good), bad, str(other), prefix=prefix)
    assert out.returncode == 1, (out.stdout, out.stderr)
    assert out.stderr.splitlines() == [expected]
    assert out.stdout.count(": valid\n") == 2 and f"{good}: valid" in out.stdout and f"{other}: valid" in out.stdout
    assert took < 15


@pytest.fixture
def bomb(tmp_path) -> Path:
    """Nine levels of nine aliases in the title: 9**9 values once expanded."""
    lines = ['a0: &a0 ["lol"]'] + [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 10)]
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(lines) + "\n" + SMALL_YAML.replace('"Small test meeting"', "*a9"))
    return path


@pytest.mark.parametrize("command,status", [
    (["validate"], 1), (["links", "--base-url", "https://meet.example.org"], 1), (["rehearse"], 2),
    (["serve", "--port", "0"], 1),
])
def test_an_alias_bomb_is_refused_at_once_by_every_command_that_loads_a_file(tmp_path, bomb, command, status):
    data = ["--data", str(tmp_path / "var")] if command[0] in ("links", "serve") else []
    out, took = run_bounded(command[0], str(bomb), *command[1:], *data)
    assert out.returncode == status, out.stderr
    assert out.stderr.splitlines() == [
        f"{bomb}:6:40: too many values: the alias *a4 repeats 13,942 values, which makes more than 100,000 in all "
        "(the limit)"
    ]
    assert took < 10 and "Traceback" not in out.stderr and not (tmp_path / "var").exists()


@pytest.mark.parametrize("title", ['"Small \\ud800 meeting"', '"Small \\u202e meeting"', '"Small\\nmeeting"',
                                   '"\\x07"', "99999999999h"])
def test_text_that_would_break_later_is_refused_by_validate(tmp_path, title):
    path = tmp_path / "text.yaml"
    field = "planned: 1m" if title.endswith("h") else 'title: "Small test meeting"'
    path.write_text(SMALL_YAML.replace(field, f"planned: {title}" if title.endswith("h") else f"title: {title}"))
    out, _ = run_bounded("validate", str(path))
    assert out.returncode == 1 and out.stdout == "" and "Traceback" not in out.stderr
    (line,) = out.stderr.splitlines()
    assert line.startswith(f"{path}:") and line.isprintable()


def test_a_gbk_file_is_located_and_explained(tmp_path):
    path = tmp_path / "gbk.yaml"
    path.write_bytes(SMALL_YAML.replace("Small test meeting", "嘉兴市动员大会").encode("gbk"))
    out, _ = run_bounded("validate", str(path))
    assert out.returncode == 1
    assert out.stderr.splitlines() == [
        f"{path}:1:33: the file is not UTF-8: byte 0xbc here cannot be read as UTF-8 (it looks like GBK/GB18030, "
        "the encoding of Chinese Windows); save the file as UTF-8"
    ]
