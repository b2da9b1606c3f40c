"""`orchestrator bench --media embedded,janus`: both media planes measured side by side in one
invocation (a smoke run of four venues; no speed is asserted). As root, the janus run makes its
own network namespace and starts its Janus nodes there."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from orchestrator import cli, netns
from tests.bench.test_bench import FIELDS

from .conftest import REASON
from .test_rehearse_janus import run_cleanly

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_bench_measures_embedded_and_two_janus_nodes_side_by_side(tmp_path: Path) -> None:
    if REASON is not None:
        pytest.skip(REASON)
    out = tmp_path / "bench.json"
    run = run_cleanly(["bench", "--venues", "4", "--duration", "3", "--switches", "2", "--resolution", "320x180",
                       "--bitrate", "200k", "--fps", "15", "--workers", "1", "--media", "embedded,janus",
                       "--janus-nodes", "2", "--json", str(out)], "orchestrator-bench-", 300)
    assert run.returncode == 0, run.stderr[-3000:]
    figures = json.loads(out.read_text())
    embedded, janus = figures["runs"]
    assert embedded["media"] == "embedded" and "janus_nodes" not in embedded
    assert janus["media"] == "janus" and janus["janus_nodes"] == 2
    for measured in (embedded, janus):
        assert FIELDS <= set(measured) and measured["venues"] == 4
        assert measured["server_cpu_millicores_per_venue"] > 0
        assert measured["switch_latency_ms"]["samples"] > 0, (measured["media"], measured["missed_switches"])
        assert measured["program_fps_median"] > 0
    ratio = embedded["server_cpu_millicores_per_venue"] / janus["server_cpu_millicores_per_venue"]
    assert figures["ratio_per_venue"] == pytest.approx(ratio, abs=0.01)
    header = run.stdout.splitlines()[0]
    assert "embedded (this server)" in header and "janus (2 nodes)" in header
    assert "server CPU per venue, embedded / janus:" in run.stdout
    assert "Janus node(s) in network namespace" in run.stderr


@pytest.mark.parametrize("args,message", [
    (["--media", "janus", "--janus-address", "127.0.0.1"], "127.0.0.1 is loopback"),
    (["--media", "janus", "--janus-address", "nowhere"], "not an IP address: 'nowhere'"),
    (["--media", "embedded,jitsi"], "jitsi: the media planes are embedded, janus\n"),
    (["--media", "transcode"], "transcode: the media planes are embedded, janus"),
    (["--media", "janus", "--janus-nodes", "9"], "9 is not in the range 1<=x<=8"),
])
def test_bench_refuses_a_janus_run_it_cannot_start(args: list[str], message: str) -> None:
    result = CliRunner().invoke(cli.main, ["bench", *args])
    assert result.exit_code == 2 and message in result.output, (args, result.output)


def test_without_root_the_janus_run_needs_an_address(monkeypatch) -> None:
    monkeypatch.setattr(netns.os, "geteuid", lambda: 1000)
    result = CliRunner().invoke(cli.main, ["bench", "--media", "embedded,janus"])
    assert result.exit_code == 2, result.output
    assert "the janus run needs --janus-address ADDRESS" in result.output
    assert "making a network namespace needs root" in result.output
