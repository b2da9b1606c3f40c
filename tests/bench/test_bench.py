"""`orchestrator bench` runs end to end and reports every figure (it asserts no speed:
benchmarks report, tests do not time)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

FIELDS = {
    "venues", "server_cpu_cores", "server_cpu_per_venue", "server_peak_rss_mb", "program_fps_min",
    "program_fps_median", "switch_latency_ms", "join_all_s", "packet_loss_pct", "agents_limited",
}


SMALL = ["--duration", "3", "--resolution", "320x180", "--bitrate", "200k"]  # a short run of small pictures


def bench(tmp_path, *args: str) -> tuple[subprocess.CompletedProcess, dict]:
    """Run `orchestrator bench` (a short run of small pictures, plus `args`); its output and its JSON."""
    out = tmp_path / "bench.json"
    run = subprocess.run([sys.executable, "-m", "orchestrator", "bench", *SMALL, *args, "--json", str(out)],
                         capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stderr[-3000:]
    return run, json.loads(out.read_text())


@pytest.mark.slow
def test_bench_with_baseline_reports_every_figure(tmp_path):
    run, written = bench(tmp_path, "--venues", "3", "--switches", "2", "--baseline", "transcode")
    figures, baseline = written["runs"]
    assert FIELDS <= set(figures) and FIELDS <= set(baseline)
    assert figures["venues"] == 3 and figures["media"] == "embedded"
    assert baseline["media"] == "transcode" and written["baseline_cpu_ratio"] > 0
    assert "ratio_per_venue" not in written  # no janus run
    assert set(figures["switch_latency_ms"]) >= {"p50", "p95", "max"}
    assert figures["switch_latency_ms"]["samples"] > 0, "the takes were seen by the venues"
    assert figures["program_fps_median"] > 0 and figures["broken_frames"] == 0
    assert "server CPU per venue, millicores" in run.stdout


@pytest.mark.slow
def test_bench_with_a_main_wall_reports_its_cost_against_the_same_run(tmp_path):
    run, written = bench(tmp_path, "--venues", "10", "--switches", "1", "--main-wall", "9")
    wall = written["runs"][0]["main_wall"]
    assert (wall["tiles"], wall["layout"]) == (9, "3x3")
    assert wall["tiles_shown"] == 9, "the main venue decoded every tile"
    assert wall["tile_fps"] > 0 and wall["server_cpu_cores_with"] > 0
    assert abs(wall["added_cores"] - (wall["server_cpu_cores_with"] - wall["server_cpu_cores_without"])) < 0.002
    assert "a 3x3 wall at the main venue: server CPU" in run.stdout


@pytest.mark.slow
def test_bench_with_light_venues_says_how_many_ran_and_counts_their_program(tmp_path):
    run, written = bench(tmp_path, "--venues", "6", "--full-venues", "2", "--switches", "2")
    (figures,) = written["runs"]
    assert FIELDS <= set(figures)
    assert (figures["venues"], figures["full_venues"], figures["light_venues"]) == (6, 2, 4)
    # every venue, light ones included, counted the program: 30 frames a second sent
    assert 20 <= figures["program_fps_min"] <= figures["program_fps_median"] <= 32, figures
    assert figures["light_program_keyframes"] >= 4, "each light venue saw at least its program's first keyframe"
    # the two full venues (the main venue and venue-005) measured the takes: each take changes what both see
    latency = figures["switch_latency_ms"]
    assert latency["samples"] + latency["missing"] == 2 * 2 and latency["samples"] > 0, latency
    assert figures["agents_cpu_millicores_per_venue"] > 0 and figures["agents_event_loop"] in ("uvloop", "asyncio")
    assert 0 <= figures["others_cpu_cores"] <= figures["machine_cores"]
    assert "venues (full / light)" in run.stdout and "6 (2 / 4)" in run.stdout


@pytest.mark.parametrize("args,message", [
    (["--resolution", "640"], "is not WIDTHxHEIGHT"),
    (["--bitrate", "fast"], "is not a bitrate"),
    (["--venues", "1"], "1 is not in the range 2<=x<=200"),
    (["--main-wall", "9", "--venues", "6"], "a wall of 9 needs at least 9 branch venues"),
    (["--main-wall", "5"], "'5' is not one of '0', '4', '9', '16'"),
    (["--venues", "4", "--full-venues", "5"], "5 full venues is more than the 4 venues of the run"),
    (["--main-wall", "4", "--full-venues", "0"], "a wall needs the main venue to be a full venue"),
])
def test_bench_usage_errors(args, message):
    run = subprocess.run([sys.executable, "-m", "orchestrator", "bench", *args], capture_output=True, text=True, timeout=60)
    assert run.returncode == 2
    assert message in run.stderr
