"""GET /metrics: the Prometheus scrape of the real server, parsed with prometheus-client's own
parser. With the fake media plane the figures are checked against /api/state as the session
moves; with real venues over WebRTC, the media's own figures (switch time, forwarding)."""

from __future__ import annotations

import asyncio
import json
import re
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from ruamel.yaml import YAML

from orchestrator.logs import BackgroundWriter
from orchestrator.media.plane import LinkStats, MediaPresence, VenuePeer
from tests.support.fake_media import FakeMediaPlane
from tests.support.live import OPERATOR_TOKEN, Live, start_live

ROOT = Path(__file__).resolve().parents[2]
METRICS_TOKEN = "prometheus-scrape-token-for-tests"


@dataclass
class Scrape:
    """One scrape, parsed: samples by name, each {labels as a sorted tuple: value}; every name served
    (a family with no sample yet included)."""

    samples: dict[str, dict[tuple[tuple[str, str], ...], float]]
    names: set[str]

    def value(self, name: str, **labels: str) -> float:
        return self.samples[name][tuple(sorted(labels.items()))]

    def by(self, name: str, label: str) -> dict[str, float]:
        return {dict(key)[label]: value for key, value in self.samples.get(name, {}).items()}


async def scrape(live: Live, token: str = OPERATOR_TOKEN) -> Scrape:
    async with live.http.get(f"{live.base_url}/metrics", headers={"Authorization": f"Bearer {token}"}) as r:
        assert r.status == 200, await r.text()
        assert r.headers["Content-Type"].startswith("text/plain")
        text = await r.text()
    samples: dict[str, dict] = {}
    names: set[str] = set()
    for family in text_string_to_metric_families(text):
        names.add(family.name)
        for sample in family.samples:
            samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return Scrape(samples, names | set(samples))


@dataclass
class Rig:
    live: Live
    media: FakeMediaPlane

    async def connect(self, venue: str) -> None:
        await self.media.answer_venue(VenuePeer(venue), "v=0\r\n")
        self.media.connect(venue)


@pytest.fixture
async def rig(sample_conf, tmp_path) -> AsyncIterator[Rig]:
    planes: list[FakeMediaPlane] = []

    def make_media(presence: MediaPresence) -> FakeMediaPlane:
        planes.append(FakeMediaPlane(presence))
        return planes[-1]

    live, server = await start_live(sample_conf, tmp_path, make_media, link_sample_s=0.1, metrics_token=METRICS_TOKEN)
    try:
        yield Rig(live, planes[0])
    finally:
        await live.http.close()
        await server.close()


async def test_a_scrape_needs_the_operator_or_the_metrics_token(rig):
    live = rig.live
    for headers in ({}, {"Authorization": "Bearer not-the-token"}, {"Authorization": "Basic b3BlcmF0b3I="}):
        async with live.http.get(f"{live.base_url}/metrics", headers=headers) as r:
            assert r.status == 401
            assert r.headers["WWW-Authenticate"] == "Bearer"
            assert await r.json() == {"error": "metrics authorisation required (Authorization: Bearer <operator "
                                              "token or metrics token>)", "code": "unauthorised"}
    assert (await scrape(live, OPERATOR_TOKEN)).value("orchestrator_venues_connected") == 0
    assert (await scrape(live, METRICS_TOKEN)).value("orchestrator_venues_connected") == 0
    async with live.http.get(f"{live.base_url}/api/state", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}) as r:
        assert r.status == 401, "the metrics token opens the metrics only"


def check_against_state(metrics: Scrape, state: dict) -> None:
    venues = state["venues"]
    assert metrics.value("orchestrator_venues_connected") == sum(v["connected"] for v in venues.values())
    assert metrics.by("orchestrator_venue_connected", "venue") == {v: float(s["connected"]) for v, s in venues.items()}
    assert metrics.by("orchestrator_on_air", "venue") == {v: float(v == state["on_air"]) for v in venues}
    assert metrics.by("orchestrator_venue_muted", "venue") == {v: float(s["muted"]) for v, s in venues.items()}
    assert metrics.by("orchestrator_venue_link_poor", "venue") == {
        v: float(s["link"]["quality"] == "poor") for v, s in venues.items()
    }
    assert metrics.by("orchestrator_session_phase", "phase") == {
        p: float(p == state["phase"]) for p in ("scheduled", "running", "ended")
    }
    sampled = {v: s["link"] for v, s in venues.items() if "loss_pct" in s["link"]}
    assert metrics.by("orchestrator_venue_link_loss_ratio", "venue") == {
        v: k["loss_pct"] / 100 for v, k in sampled.items()
    }
    assert metrics.by("orchestrator_venue_link_rtt_seconds", "venue") == {
        v: k["rtt_ms"] / 1000 for v, k in sampled.items() if k.get("rtt_ms") is not None  # sparse: no round trip
    }
    bitrates = metrics.samples.get("orchestrator_venue_link_bits_per_second", {})
    up = {dict(key)["venue"]: value for key, value in bitrates.items() if dict(key)["direction"] == "up"}
    assert up == {v: k["bitrate_in_kbps"] * 1000 for v, k in sampled.items()}


async def test_the_metrics_move_as_the_session_does_and_match_its_state(rig):
    live = rig.live
    before = await scrape(live)
    assert before.by("orchestrator_takes_total", "reason") == {
        r: 0.0 for r in ("take", "segment", "floor", "rejoined", "roll_call", "polling", "fallback")
    }
    assert before.value("process_resident_memory_bytes") > 0 and "process_cpu_seconds_total" in before.samples
    assert before.by("orchestrator_venue_info", "name")["Pinghu City"] == 1

    rig.media.links = {
        "main": LinkStats(bitrate_in_kbps=900.0, bitrate_out_kbps=1200.0, loss_pct=0.0, rtt_ms=12.0),
        "pinghu": LinkStats(bitrate_in_kbps=480.5, bitrate_out_kbps=950.0, loss_pct=7.5, rtt_ms=140.0),
        "nanhu": LinkStats(bitrate_in_kbps=510.0, bitrate_out_kbps=1010.0, loss_pct=0.5, rtt_ms=None),
    }
    for venue in ("main", "pinghu", "nanhu"):
        await rig.connect(venue)
    state = await live.wait_for_state(lambda s: s["venues"]["pinghu"]["link"]["quality"] == "poor"
                                      and "loss_pct" in s["venues"]["nanhu"]["link"], 3, "the links sampled")
    check_against_state(await scrape(live), state)

    await live.command({"type": "start_session"})
    await live.command({"type": "goto_segment", "segment": "exchange-pinghu"})  # pinghu on air: the segment's take
    await live.command({"type": "take", "venue": "nanhu"})
    await live.command({"type": "mute_venue", "venue": "main"})
    state = await live.state()
    assert state["on_air"] == "nanhu" and state["venues"]["main"]["muted"]
    check_against_state(await scrape(live), state)
    rig.media.disconnect("nanhu", "connection failed")  # on air: the program falls back, the theatre's microphone opens
    state = await live.state()
    assert state["on_air"] == "main" and not state["venues"]["main"]["muted"]
    metrics = await scrape(live)
    check_against_state(metrics, state)
    assert metrics.by("orchestrator_takes_total", "reason") == {
        "take": 1, "segment": 1, "floor": 0, "rejoined": 0, "roll_call": 0, "polling": 0, "fallback": 1,
    }
    appends = metrics.value("orchestrator_event_log_appends_total")
    assert appends >= 7  # a server start, three joins, four commands, a leave (and link reports)
    assert metrics.value("orchestrator_event_log_append_seconds_count") == appends
    assert metrics.value("orchestrator_event_log_events_total") > appends  # commands make several events

    await rig.connect("nanhu")  # back in the same segment: back on air
    await live.command({"type": "mute_all_but_on_air"})
    state = await live.state()
    assert state["on_air"] == "nanhu" and [v for v, s in state["venues"].items() if not s["muted"]] == ["nanhu"]
    metrics = await scrape(live)
    check_against_state(metrics, state)
    assert metrics.value("orchestrator_takes_total", reason="rejoined") == 1


async def test_websocket_clients_are_counted_by_kind(rig):
    live = rig.live
    ws_base = live.base_url.replace("http", "ws", 1)
    console = await live.http.ws_connect(ws_base + "/ws/operator", headers=live.auth)
    venue = await live.http.ws_connect(ws_base + "/ws/venue")
    await venue.send_json({"type": "hello", "token": live.link("pinghu").split("#", 1)[1], "client": "test"})
    assert (await venue.receive_json(timeout=3))["type"] == "welcome"
    sockets = (await scrape(live)).by("orchestrator_websocket_clients", "kind")
    assert sockets == {"venue": 1, "operator": 1}
    await venue.close()
    await console.close()
    async with asyncio.timeout(3):  # the server notices the sockets close
        while (await scrape(live)).by("orchestrator_websocket_clients", "kind") != {"venue": 0, "operator": 0}:
            await asyncio.sleep(0.05)


class _StalledStream:
    """A log reader that takes nothing until let go."""

    def __init__(self) -> None:
        self.go = threading.Event()

    def write(self, text: str) -> None:
        self.go.wait(10)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


async def test_dropped_log_lines_are_counted(rig):
    before = (await scrape(rig.live)).value("orchestrator_log_lines_dropped_total")
    stream = _StalledStream()
    writer = BackgroundWriter(stream, limit=2)  # type: ignore[arg-type]
    for n in range(10):
        writer.write(f"line {n}\n")  # the thread holds one, two wait, the rest are dropped
    dropped = writer.dropped_total
    assert dropped >= 7
    assert (await scrape(rig.live)).value("orchestrator_log_lines_dropped_total") == before + dropped
    stream.go.set()
    writer.close(timeout=5)


async def test_the_deploy_files_scrape_with_a_token_file_and_chart_metrics_that_exist(rig):
    config = YAML(typ="safe").load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == "orchestrator"]
    assert job["metrics_path"] == "/metrics"
    assert job["authorization"] == {"type": "Bearer", "credentials_file": "/etc/prometheus/orchestrator-metrics.token"}
    dashboard = json.loads((ROOT / "deploy/grafana/meeting-dashboard.json").read_text())
    titles = [p["title"] for p in dashboard["panels"]]
    assert {"Venues connected", "Link loss by venue", "Switch time (take to keyframe)"} <= set(titles), titles
    expressions = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    used = {name for expr in expressions for name in re.findall(r"\b((?:orchestrator|process)_[a-z_]+)\b", expr)}
    served = (await scrape(rig.live)).names
    assert used and used <= served, f"the dashboard charts metrics the server does not serve: {used - served}"


async def test_real_venues_switch_times_and_forwarding(live):
    """Three venue agents over WebRTC on loopback: a take is timed until the keyframe, media is
    forwarded, and each venue's sampled link is served."""
    await live.join(["main", "pinghu", "nanhu"])
    before = await scrape(live)
    assert before.value("orchestrator_switch_seconds_count") == 0
    await live.command({"type": "take", "venue": "pinghu"})
    async with asyncio.timeout(10):
        while (metrics := await scrape(live)).value("orchestrator_switch_seconds_count") < 1:
            await asyncio.sleep(0.1)
    assert 0 < metrics.value("orchestrator_switch_seconds_sum") < 2
    assert metrics.value("orchestrator_keyframe_requests_total", venue="pinghu") >= 1
    assert metrics.value("orchestrator_forwarded_frames_total", kind="video") > 0
    assert metrics.value("orchestrator_forwarded_bytes_total", kind="audio") > 0
    async with asyncio.timeout(10):  # the runtime samples the links every 2 s
        while set((metrics := await scrape(live)).by("orchestrator_venue_link_bits_per_second", "venue")) != {
            "main", "pinghu", "nanhu"
        }:
            await asyncio.sleep(0.2)
    state = await live.state()
    assert metrics.by("orchestrator_on_air", "venue")["pinghu"] == 1 and state["on_air"] == "pinghu"
    assert metrics.value("orchestrator_venues_connected") == 3
    assert metrics.value("orchestrator_venue_link_bits_per_second", venue="pinghu", direction="up") > 0
    assert metrics.by("orchestrator_websocket_clients", "kind") == {"venue": 3, "operator": 0}
