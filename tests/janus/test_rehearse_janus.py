"""`orchestrator rehearse --media janus --janus-nodes 2` as a user runs it as root: it makes its own
network namespace, starts two Janus nodes there, spreads the venues over them, and undoes it all."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from orchestrator import cli, netns
from tests.rehearsal.conftest import REHEARSAL_YAML, SPEED

from .conftest import REASON

ROOT = Path(__file__).resolve().parents[2]


def namespaces() -> set[str]:
    return set(os.listdir("/run/netns")) if os.path.isdir("/run/netns") else set()


def janus_processes() -> set[int]:
    found = subprocess.run(["pgrep", "-x", "janus"], capture_output=True, text=True).stdout.split()
    return {int(pid) for pid in found}


@pytest.mark.slow
def test_a_rehearsal_on_two_janus_nodes_spreads_the_venues_and_passes(tmp_path: Path) -> None:
    if REASON is not None:
        pytest.skip(REASON)
    conf = tmp_path / "rehearsal.yaml"
    conf.write_text(REHEARSAL_YAML)
    before_ns, before_janus = namespaces(), janus_processes()
    out = subprocess.run(
        [sys.executable, "-m", "orchestrator", "rehearse", str(conf), "--speed", str(SPEED), "--report",
         str(tmp_path / "report"), "--media", "janus", "--janus-nodes", "2"],
        capture_output=True, text=True, timeout=110, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "No findings: every check passed." in out.stdout
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    assert report["summary"]["passed"] is True and report["summary"]["findings"] == 0
    assert report["summary"]["switch_measurements"] > 0
    nodes = report["media_nodes"]
    assert [n["id"] for n in nodes] == ["1", "2"] and all(n["venues"] for n in nodes), nodes
    assert {n["host"] for n in nodes} <= {f"{netns.NODE_ADDRESS}:{port}" for port in range(1, 65536)}
    placed = {v["id"]: v["media_nodes"] for v in report["venues"]}
    assert placed["main"] == ["1"] and set(sum(placed.values(), [])) == {"1", "2"}, placed
    assert sorted(p.name for p in (tmp_path / "report").glob("janus-node-*.log")) == ["janus-node-1.log",
                                                                                    "janus-node-2.log"]
    # nothing left behind: the namespace deleted, the nodes stopped, no secret in the report folder
    assert namespaces() == before_ns and janus_processes() == before_janus
    assert not list((tmp_path / "report").rglob("*.jcfg"))


@pytest.mark.parametrize("args,message", [
    (["--media", "janus", "--janus", "ws://192.0.2.9:8188"], "with --janus, give an address of this machine that is not loopback"),
    (["--media", "janus", "--janus", "ws://192.0.2.9:8188", "--ice-address", "127.0.0.1"], "that is not loopback"),
    (["--janus-nodes", "2"], "Janus nodes are only used with --media janus"),
    (["--media", "janus", "--ice-address", "192.0.2.102"], "go with --janus URL"),
])
def test_rehearse_refuses_janus_options_that_do_not_fit(args: list[str], message: str, tmp_path: Path) -> None:
    conf = tmp_path / "rehearsal.yaml"
    conf.write_text(REHEARSAL_YAML)
    result = CliRunner().invoke(cli.main, ["rehearse", str(conf), "--report", str(tmp_path / "r"), *args])
    assert result.exit_code == 2 and message in result.output, result.output


def test_without_root_or_nodes_the_janus_rehearsal_says_what_to_give(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(netns.os, "geteuid", lambda: 1000)
    conf = tmp_path / "rehearsal.yaml"
    conf.write_text(REHEARSAL_YAML)
    result = CliRunner().invoke(cli.main, ["rehearse", str(conf), "--report", str(tmp_path / "r"), "--media", "janus"])
    assert result.exit_code == 2, result.output
    assert "--media janus needs Janus nodes: --janus URL (with --ice-address ADDR), or root" in result.output
    assert "making a network namespace needs root" in result.output
    assert not (tmp_path / "r").exists()
