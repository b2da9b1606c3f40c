"""`orchestrator rehearse --media janus --janus-nodes 2` as a user runs it as root: it makes its own
network namespace, starts two Janus nodes there, spreads the venues over them, and undoes it all."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from orchestrator import cli, netns
from tests.rehearsal.conftest import REHEARSAL_YAML, SPEED
from tests.support.processes import takes_ctrl_c

from .conftest import REASON

ROOT = Path(__file__).resolve().parents[2]


def namespaces_of(pid: int) -> list[str]:
    """The network namespaces process `pid` made (`orchestrator.netns` names them after it)."""
    return [n for n in os.listdir("/run/netns") if n.startswith(f"orch-janus-{pid}-")] if os.path.isdir("/run/netns") else []


def janus_processes(config_prefix: str) -> list[str]:
    """The command lines of the Janus processes running with a configuration under /tmp/`config_prefix`*."""
    found = subprocess.run(["pgrep", "-a", "-x", "janus"], capture_output=True, text=True).stdout.splitlines()
    return [line for line in found if f"/{config_prefix}" in line]


def run_cleanly(args: list[str], config_prefix: str, timeout: float) -> subprocess.CompletedProcess:
    """Run `orchestrator ARGS`; then check it left no namespace and no Janus node behind."""
    with subprocess.Popen([sys.executable, "-m", "orchestrator", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}) as proc:
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert namespaces_of(proc.pid) == [] and janus_processes(config_prefix) == [], "the namespace and the nodes are gone"
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


@pytest.mark.slow
def test_a_rehearsal_on_two_janus_nodes_spreads_the_venues_and_passes(tmp_path: Path) -> None:
    if REASON is not None:
        pytest.skip(REASON)
    conf = tmp_path / "rehearsal.yaml"
    conf.write_text(REHEARSAL_YAML)
    out = run_cleanly(["rehearse", str(conf), "--speed", str(SPEED), "--report", str(tmp_path / "report"),
                       "--media", "janus", "--janus-nodes", "2"], "rehearsal-janus-", 110)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "No findings: every check passed." in out.stdout
    assert re.search(r"^  media     node 1 \(192\.0\.2\.101:\d+\): main, [a-z, ]+; node 2 \(192\.0\.2\.101:\d+\): [a-z]",
                     out.stdout, re.M), out.stdout
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    assert report["summary"]["passed"] is True and report["summary"]["findings"] == 0
    assert report["summary"]["switch_measurements"] > 0
    nodes = report["media_nodes"]
    assert [n["id"] for n in nodes] == ["1", "2"] and all(n["venues"] for n in nodes), nodes
    assert all(n["host"].startswith(f"{netns.NODE_ADDRESS}:") for n in nodes), nodes
    placed = {v["id"]: v["media_nodes"] for v in report["venues"]}
    assert placed["main"] == ["1"] and {node for nodes in placed.values() for node in nodes} == {"1", "2"}, placed
    assert sorted(p.name for p in (tmp_path / "report").glob("janus-node-*.log")) == ["janus-node-1.log",
                                                                                    "janus-node-2.log"]
    assert not list((tmp_path / "report").rglob("*.jcfg"))


@pytest.mark.slow
def test_an_interrupted_janus_rehearsal_stops_its_nodes_and_deletes_its_namespace(tmp_path: Path) -> None:
    if REASON is not None:
        pytest.skip(REASON)
    conf = tmp_path / "rehearsal.yaml"
    conf.write_text(REHEARSAL_YAML)
    proc = subprocess.Popen([sys.executable, "-m", "orchestrator", "rehearse", str(conf), "--speed", str(SPEED),
                             "--report", str(tmp_path / "report"), "--media", "janus", "--janus-nodes", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, preexec_fn=takes_ctrl_c)
    assert proc.stdout is not None
    for line in proc.stdout:
        if "segment 2/6" in line:
            break
    assert len(namespaces_of(proc.pid)) == 1 and len(janus_processes("rehearsal-janus-")) >= 2, "running meanwhile"
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert err == "orchestrator rehearse: interrupted; no report written\n"
    assert namespaces_of(proc.pid) == [] and janus_processes("rehearsal-janus-") == []


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
