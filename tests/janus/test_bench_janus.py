"""`orchestrator bench --media embedded,janus`: both media planes measured side by side in one
invocation (a smoke run of four venues, in the test's namespace; no speed is asserted)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.netns import NODE_ADDRESS
from tests.bench.test_bench import FIELDS

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_bench_measures_embedded_and_janus_side_by_side(janus_namespace: str, tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    run = subprocess.run(
        [sys.executable, "-m", "orchestrator", "bench", "--venues", "4", "--duration", "3", "--switches", "2",
         "--resolution", "320x180", "--bitrate", "200k", "--fps", "15", "--workers", "1",
         "--media", "embedded,janus", "--janus-address", NODE_ADDRESS, "--json", str(out)],
        capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert run.returncode == 0, run.stderr[-3000:]
    figures = json.loads(out.read_text())
    janus = figures["compared"]["janus"]
    assert figures["media"] == "embedded" and janus["media"] == "janus"
    for measured in (figures, janus):
        assert FIELDS <= set(measured) and measured["venues"] == 4
        assert measured["server_cpu_millicores_per_venue"] > 0
        assert measured["switch_latency_ms"]["samples"] > 0, (measured["media"], measured["missed_switches"])
        assert measured["program_fps_median"] > 0 and measured["broken_frames"] == 0
    header = run.stdout.splitlines()[0]
    assert "embedded (this server)" in header and "janus (a node)" in header


def test_bench_refuses_a_janus_run_without_a_usable_address() -> None:
    for args, message in ((["--media", "embedded,janus"], "the janus run needs --janus-address"),
                          (["--media", "janus", "--janus-address", "127.0.0.1"], "127.0.0.1 is loopback"),
                          (["--media", "embedded,jitsi"], "jitsi: the media planes are embedded, janus")):
        run = subprocess.run([sys.executable, "-m", "orchestrator", "bench", *args], capture_output=True, text=True,
                             timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert run.returncode == 2 and message in run.stderr, (args, run.stderr)
