"""`orchestrator bench`: the real server in its own process, simulated venues in workers.

One run: start the server, pre-encode every venue's media in the workers, join all
venues at once (join time), put a branch venue on air, hold a steady state for
`duration` seconds while measuring the server's CPU and every venue's program frame
rate, then take `switches` venues in turn and measure, per take and venue, the time
from the take to the first decoded program frame with the new venue's mark. With a
baseline, the same run again against aiortc's decode-once-encode-per-receiver relay,
so the two are compared on one machine in one invocation; so is a run against Janus
(K nodes the run starts, their CPU counted as the server's: on an address given, or in a
network namespace made for the run, the server and the simulated venues in it too).

With `full_venues` K, only K venues (the main venue, and the last K - 1 branch venues) are full
venue agents, which decode the mark of the venue on air and so measure switch latency (of takes
of light venues: those are the first to be taken); the others are light
venues (`venues.light`: pre-packetized media out, the program's frames and keyframes counted
from its packets), about half the CPU of a full agent. Every
venue counts the program's frame rate; the figures say how many of each kind ran.

With a main wall (`main_wall` tiles: 4, 9 or 16), the steady state is held twice in the
same run: first without the wall, then with the main venue's return set to a wall of
that many branch venues (each tile forwarded as it is to the main venue's wall slots).
The difference in server CPU is the wall's cost; it is set beside what nine (or four,
or sixteen) more venues receiving the program cost in the same run.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing as mp
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import psutil

from ..janus_node import JanusProcess, own_nodes
from ..logs import get_logger
from ..operator_client import CommandAnswer, OperatorClient, wait_healthy
from ..settings import EventLoopChoice, MediaChoice
from . import worker

log = get_logger(component="bench")

SWITCH_SPACING_S = 1.0
SWITCH_GIVE_UP_S = 5.0


@dataclass(frozen=True)
class BenchOptions:
    venues: int = 10
    duration: float = 20.0
    switches: int = 10
    width: int = 640
    height: int = 360
    bitrate: int = 500_000
    fps: int = 30
    workers: int = 2
    soak_minutes: float = 0.0  # instead of the steady state: a long run with periodic takes
    main_wall: int = 0  # tiles of a wall at the main venue, measured against the same run without it (0: none)
    event_loop: EventLoopChoice = "uvloop"  # the server's (`serve --loop`)
    full_venues: int | None = None  # venues run as full agents (the main venue and the last ones); None: all

    def light_venues(self, venues: Sequence[str]) -> frozenset[str]:
        """The venues run as light venues: all but the main venue (the first) and the last `full_venues` - 1
        (the first branch venues, on air in the steady state and taken first, are light: the simulated
        venues' costly path does not set the program's frame rate)."""
        if self.full_venues is None:
            return frozenset()
        full = {venues[0], *venues[len(venues) - self.full_venues + 1:]} if self.full_venues else set()
        return frozenset(v for v in venues if v not in full)


WALL_LAYOUTS = {4: "2x2", 9: "3x3", 16: "4x4"}
WALL_SETTLE_S = 3.0


SOAK_TAKE_S = 10.0
SOAK_SAMPLES = 30

def conference_yaml(venues: int) -> str:
    lines = [
        "conference: {id: bench, title: Benchmark, date: 2025-01-01, start: '09:00', timezone: UTC}",
        "venues:",
        "  - {id: main, name: Main venue, role: main}",
    ]
    lines += [f"  - {{id: venue-{i:03d}, name: Venue {i}, role: branch, kind: other}}" for i in range(1, venues)]
    lines += ["agenda:", "  - {id: session, kind: speech, title: Benchmark, planned: 1h}"]
    return "\n".join(lines) + "\n"


class _Server:
    """`orchestrator serve` as its own process, driven over HTTP like an operator (with the
    Janus nodes it drives, if any: their CPU and memory count as the server's)."""

    def __init__(self, config: Path, data: Path, media: MediaChoice, janus: Sequence[JanusProcess] = (),
                 janus_secret_file: Path | None = None, ice_address: str = "127.0.0.1",
                 event_loop: EventLoopChoice = "uvloop"):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.token = secrets.token_urlsafe(16)
        env = {**os.environ, "ORCHESTRATOR_OPERATOR_TOKEN": self.token}
        self.log_path = data.parent / "server.log"  # a file: a pipe nobody reads would fill up
        self._log = self.log_path.open("w")
        nodes = [arg for node in janus for arg in ("--janus", node.url)]
        nodes += ["--janus-secret-file", str(janus_secret_file)] if janus else []
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "orchestrator", "serve", str(config), "--port", str(self.port), "--data", str(data),
             "--ice-address", ice_address, "--heartbeat-timeout", "10", "--media", media, "--loop", event_loop, *nodes],
            env=env, stdout=subprocess.DEVNULL, stderr=self._log,
        )
        self.ps = psutil.Process(self.proc.pid)
        self.processes = [self.ps] + [psutil.Process(node.process.pid) for node in janus]
        self.base = f"http://127.0.0.1:{self.port}"
        self.operator: OperatorClient  # made by start(), with the server's HTTP session

    async def started(self, http: aiohttp.ClientSession) -> None:
        """Wait for the health check; then `operator` drives it."""
        try:
            await wait_healthy(self.base, 30, interval=0.1,
                               give_up=lambda: "it exited" if self.proc.poll() is not None else None)
        except (TimeoutError, RuntimeError) as exc:
            raise RuntimeError(f"the server did not start ({exc}): {self.log_path.read_text()[-2000:]}") from None
        self.operator = OperatorClient(http, self.base, self.token)

    async def take(self, venue: str) -> CommandAnswer:
        """A refused take is a figure of the run, not a crash of the bench. confirm: the
        benchmark measures the switch, not the poor-link guard."""
        return await self.operator.command({"type": "take", "venue": venue, "confirm": True})

    def cpu_s(self) -> float:
        return _cpu(self.processes)

    def peak_rss_mb(self) -> float:
        return sum(_peak_rss_mb(process) for process in self.processes)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


def _peak_rss_mb(process: psutil.Process) -> float:
    for line in Path(f"/proc/{process.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return process.memory_info().rss / 2**20


def run_once(options: BenchOptions, media: MediaChoice = "embedded", progress=print,
             janus_address: str | None = None, janus_nodes: int = 1) -> dict:
    """One run against `media`. The Janus media plane runs `janus_nodes` Janus nodes of its own
    (`janus_node.own_nodes`): on `janus_address` (one of this machine's addresses, not loopback:
    Janus never gathers there), the venues offering their media there too; without one, in a
    network namespace made for this run (root only), where the server and the venues run too.
    The nodes are stopped and the namespace deleted afterwards, whatever happened."""
    with tempfile.TemporaryDirectory(prefix="orchestrator-bench-") as tmp, contextlib.ExitStack() as stack:
        config = Path(tmp) / "bench.yaml"
        config.write_text(conference_yaml(options.venues))
        nodes: list[JanusProcess] = []
        secret_file, address = None, "127.0.0.1"
        if media == "janus":
            janus = stack.enter_context(own_nodes(janus_nodes, Path(tmp) / "janus", janus_address))
            nodes, address = janus.nodes, janus.venue_address
            secret_file = Path(tmp) / "janus.secret"
            secret_file.write_text(janus.secret + "\n")
            where = f"in network namespace {janus.namespace}" if janus.namespace else f"on {janus_address}"
            progress(f"[{media}] {len(nodes)} Janus node(s) {where}: {', '.join(janus.urls)}")
        server = _Server(config, Path(tmp) / "data", media, nodes, secret_file, address, options.event_loop)
        try:
            figures = asyncio.run(_measure(server, options, media, progress, address))
        finally:
            server.stop()
    return {**figures, "janus_nodes": janus_nodes} if media == "janus" else figures


async def _blocking(fn, *args):
    """A blocking call (a process event, a queue) without stopping the loop."""
    return await asyncio.get_running_loop().run_in_executor(None, fn, *args)


async def _measure(server: _Server, options: BenchOptions, media: MediaChoice, progress, address: str) -> dict:
    # the client's own timeout: a take the server does not answer within 30 s is a stall of the run
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
        await server.started(http)
        return await _run(server, options, media, progress, address)


async def _run(server: _Server, options: BenchOptions, media: MediaChoice, progress, address: str) -> dict:
    operator = server.operator
    links = await operator.links()
    venues = list(links)
    ctx = mp.get_context("spawn")
    go, stop, results = ctx.Event(), ctx.Event(), ctx.Queue()
    count = max(1, min(options.workers, len(venues)))
    groups = [[(i, v, links[v]) for i, v in enumerate(venues) if i % count == w] for w in range(count)]
    readies = [ctx.Event() for _ in groups]
    light = options.light_venues(venues)
    procs = [
        ctx.Process(target=worker.run, args=(
            worker.WorkerConfig(group, options.width, options.height, options.fps, options.bitrate, address,
                                light & {v for _, v, _ in group}),
            readies[w], go, stop, results,
        ), daemon=True)
        for w, group in enumerate(groups)
    ]
    for p in procs:
        p.start()
    try:
        for r in readies:
            if not await _blocking(r.wait, 300):
                raise RuntimeError("the venue workers did not get ready")
        progress(f"[{media}] {len(venues)} venues ({len(venues) - len(light)} full, {len(light)} light) ready in "
                 f"{count} workers; joining all at once")
        go.set()

        async def all_joined() -> bool:
            return all(v.connected for v in (await operator.state()).venues.values())

        if not await _wait(all_joined, 60):
            state = (await operator.state()).venues
            missing = [v for v, s in state.items() if not s.connected]
            raise RuntimeError(f"{len(missing)} venues did not join within 60 s: {missing[:10]}")
        first_branch = venues[1] if len(venues) > 1 else venues[0]
        await server.take(first_branch)
        await asyncio.sleep(3.0)
        workers_ps = [psutil.Process(p.pid) for p in procs]
        cpu0, agents0, t0, busy0 = server.cpu_s(), _cpu(workers_ps), time.time(), _machine_busy_s()
        if options.soak_minutes:
            progress(f"[{media}] soak for {options.soak_minutes:g} min, a take every {SOAK_TAKE_S:.0f} s")
            soak = await _soak(server, options.soak_minutes * 60, venues[1:] or venues, progress)
        else:
            progress(f"[{media}] steady state for {options.duration:.0f} s")
            await asyncio.sleep(options.duration)
            soak = None
        cpu1, agents1, t1, busy1 = server.cpu_s(), _cpu(workers_ps), time.time(), _machine_busy_s()
        wall = await _with_wall(server, options, progress, media) if options.main_wall and not options.soak_minutes else None
        takes = []
        branches = venues[1:] or venues
        refused = []
        for k in range(options.switches):
            venue = branches[(k + 1) % len(branches)]
            sent = time.time()
            answer = await server.take(venue)
            if answer.ok:
                takes.append((venue, sent))
            else:
                refused.append(answer.error or str(answer.status))
            await asyncio.sleep(SWITCH_SPACING_S)
        await asyncio.sleep(1.0)
        peak_rss = server.peak_rss_mb()
        stop.set()
        reports = [r for _ in procs for r in await _blocking(results.get, True, 120)]
    finally:
        stop.set()
        go.set()
        for p in procs:
            p.join(30)
            if p.is_alive():
                p.kill()
    figures = _figures(options, media, reports, takes, (cpu0, cpu1, t0, t1), agents1 - agents0, peak_rss, first_branch,
                       busy1 - busy0)
    figures["takes_refused"] = refused
    if soak is not None:
        figures["soak"] = soak
    if wall is not None:
        figures["main_wall"] = _wall_figures(options, figures, wall, reports)
    return figures


async def _with_wall(server: _Server, options: BenchOptions, progress, media: MediaChoice
                     ) -> tuple[float, float, float, float]:
    """Set the main venue's wall, let it settle, hold the steady state again: (cpu0, cpu1, t0, t1)."""
    layout = WALL_LAYOUTS[options.main_wall]
    answer = await server.operator.command({"type": "set_main_return", "mode": "wall", "layout": layout,
                                            "page_every_s": 600})
    if not answer.ok:
        raise RuntimeError(f"the wall was refused: {answer.error}")
    await asyncio.sleep(WALL_SETTLE_S)
    progress(f"[{media}] steady state with a {layout} wall at the main venue for {options.duration:.0f} s")
    cpu0, t0 = server.cpu_s(), time.time()
    await asyncio.sleep(options.duration)
    return cpu0, server.cpu_s(), t0, time.time()


def _wall_figures(options: BenchOptions, figures: dict, window: tuple[float, float, float, float],
                  reports: list[dict]) -> dict:
    """The wall's server CPU against the same run's steady state without it, and the tiles the main venue got."""
    cpu0, cpu1, t0, t1 = window
    with_wall = (cpu1 - cpu0) / (t1 - t0)
    without = figures["server_cpu_cores"]
    tiles = options.main_wall
    per_venue = without / figures["venues"]
    main = next((r for r in reports if r["venue"] == "main"), None)
    seconds = range(int(t0) + 1, int(t1))
    counts = main["tile_frames_per_second"] if main else {}
    tile_frames = sum(counts.get(str(s), counts.get(s, 0)) for s in seconds)
    shown = {e["slot"] for e in (main["log"] if main else []) if e["event"] == "tile_seen" and e["ts"] >= t0 - WALL_SETTLE_S}
    added = with_wall - without
    return {
        "tiles": tiles,
        "layout": WALL_LAYOUTS[tiles],
        "server_cpu_cores_without": round(without, 3),
        "server_cpu_cores_with": round(with_wall, 3),
        "added_cores": round(added, 3),
        # what as many more venues receiving the program cost in this run (each also sends its own uplink)
        "budget_cores": round(tiles * per_venue, 3),
        "within_budget": added <= tiles * per_venue,
        "tiles_shown": len(shown),
        "tile_fps": round(tile_frames / max(len(seconds), 1) / tiles, 1),
    }


async def _soak(server: _Server, seconds: float, branches: list[str], progress) -> dict:
    """Takes every SOAK_TAKE_S; samples the server's memory and open files along the way."""
    start = time.monotonic()
    every = max(seconds / SOAK_SAMPLES, SOAK_TAKE_S)
    samples, next_sample, takes, stalls = [], start, 0, []
    while (elapsed := time.monotonic() - start) < seconds:
        if time.monotonic() >= next_sample:
            sample = {"t_s": round(elapsed), "rss_mb": round(server.ps.memory_info().rss / 2**20, 1),
                      "open_fds": server.ps.num_fds()}
            samples.append(sample)
            progress(f"  soak {sample['t_s']:>5} s: RSS {sample['rss_mb']} MB, {sample['open_fds']} open files")
            next_sample += every
        takes += 1
        try:
            answer = await server.take(branches[takes % len(branches)])
        except (TimeoutError, aiohttp.ClientError) as exc:  # the server did not answer in 30 s
            stalls.append(round(elapsed))
            progress(f"  the server did not answer a take at {elapsed:.0f} s ({type(exc).__name__})")
            continue
        if not answer.ok:  # e.g. a venue that dropped: the soak goes on
            progress(f"  take refused: {answer.error or answer.status}")
        await asyncio.sleep(min(SOAK_TAKE_S, max(0.0, seconds - (time.monotonic() - start))))
    # growth from the end of the warm-up (the first tenth) to the end
    settled = samples[max(1, len(samples) // 10):] or samples
    first, last = settled[0], settled[-1]
    return {
        "minutes": round(seconds / 60, 2),
        "takes": takes,
        "unanswered_takes_at_s": stalls,
        "samples": samples,
        "rss_growth_pct": round(100 * (last["rss_mb"] - first["rss_mb"]) / first["rss_mb"], 2),
        "open_fds_growth_pct": round(100 * (last["open_fds"] - first["open_fds"]) / first["open_fds"], 2),
    }


async def _wait(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await predicate():
            return True
        await asyncio.sleep(0.2)
    return False


def _cpu(processes: list[psutil.Process]) -> float:
    total = 0.0
    for p in processes:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def _machine_busy_s() -> float:
    """CPU seconds every process of this machine has used (user, nice, system, interrupts)."""
    times = psutil.cpu_times()
    return sum(getattr(times, name, 0.0) for name in ("user", "nice", "system", "irq", "softirq"))


def _figures(options, media, reports, takes, window, agents_cpu_s, peak_rss, first_branch, machine_busy_s) -> dict:
    cpu0, cpu1, t0, t1 = window
    wall = t1 - t0
    server_cores = (cpu1 - cpu0) / wall
    by_venue = {r["venue"]: r for r in reports}
    seconds = range(int(t0) + 1, int(t1))

    def fps(report: dict) -> float:
        counts = report["frames_per_second"]
        return sum(counts.get(str(s), counts.get(s, 0)) for s in seconds) / max(len(seconds), 1)

    receiving = [v for v in by_venue if v != first_branch]  # everyone receives the on-air branch...
    rates = {v: fps(by_venue[v]) for v in receiving}
    rates[first_branch] = fps(by_venue[first_branch])  # ...which itself receives the main venue

    latencies, missing, missed = [], 0, []
    full = {v: r for v, r in by_venue.items() if not r.get("light")}  # light venues read no mark
    for venue, sent in takes:
        for receiver, report in full.items():
            expected = "main" if receiver == venue else venue
            before = [e for e in report["log"] if e["event"] == "on_air_seen" and e["ts"] < sent]
            if before and before[-1]["venue"] == expected:
                continue  # nothing changes for this receiver
            after = [e for e in report["log"] if e["event"] == "on_air_seen" and sent <= e["ts"] <= sent + SWITCH_GIVE_UP_S]
            hit = next((e for e in after if e["venue"] == expected), None)
            if hit is None:
                missing += 1
                missed.append((venue, receiver, [(round(e["ts"] - sent, 2), e["venue"]) for e in after][:3]))
            else:
                latencies.append((hit["ts"] - sent) * 1000)

    offers = [e["ts"] for r in reports for e in r["log"] if e["event"] == "offer_sent"]
    starts = [
        next((e["ts"] for e in r["log"] if e["event"] == "program_started"), None) for r in reports if r["venue"] != "main"
    ]
    started = [t for t in starts if t is not None]
    join_all = (max(started) - min(offers)) if offers and started and len(started) == len(starts) else None
    lost = sum(r["packets_lost"] for r in reports)
    received = sum(r["packets_received"] for r in reports)
    lagging = [r["venue"] for r in reports if r["video_frames_sent"] < 0.95 * r["video_frames_due"]]
    agents_cores = agents_cpu_s / wall
    cores = psutil.cpu_count() or 1
    agents_limited = bool(lagging) or agents_cores + server_cores > 0.95 * cores
    n = len(reports)
    light = [r for r in reports if r.get("light")]
    return {
        "media": media,
        "event_loop": options.event_loop,
        "venues": n,
        "full_venues": n - len(light),  # full agents: they decode, and measure switch latency
        "light_venues": len(light),  # pre-packetized media, the program counted from its packets
        "resolution": f"{options.width}x{options.height}",
        "bitrate_kbps": options.bitrate // 1000,
        "fps_sent": options.fps,
        "duration_s": round(wall, 1),
        "server_cpu_cores": round(server_cores, 3),
        "server_cpu_per_venue": round(server_cores / n, 4),
        "server_cpu_millicores_per_venue": round(1000 * server_cores / n, 2),
        "server_peak_rss_mb": round(peak_rss, 1),
        "program_fps_min": round(min(rates.values()), 1),
        "program_fps_median": round(statistics.median(rates.values()), 1),
        "packet_loss_pct": round(100 * lost / (lost + received), 3) if lost + received else 0.0,
        "switch_latency_ms": {
            "p50": round(_percentile(latencies, 0.5), 1),
            "p95": round(_percentile(latencies, 0.95), 1),
            "max": round(max(latencies), 1) if latencies else float("nan"),
            "samples": len(latencies),
            "missing": missing,
        },
        "missed_switches": missed[:20],  # (take, receiver, what it saw instead)
        "join_all_s": round(join_all, 2) if join_all is not None else None,
        "broken_frames": sum(r["broken_frames"] for r in reports),
        "agents_cpu_cores": round(agents_cores, 3),
        "agents_cpu_millicores_per_venue": round(1000 * agents_cores / n, 2),
        "agents_event_loop": reports[0].get("event_loop", "asyncio") if reports else None,
        "light_program_keyframes": sum(r.get("program_keyframes", 0) for r in light),
        "agents_limited": agents_limited,
        "agents_lagging": lagging[:10],
        "machine_cores": cores,
        # what other processes used meanwhile: on a shared machine, a run they starved is no clean measurement
        "others_cpu_cores": round(max(0.0, machine_busy_s / wall - server_cores - agents_cores), 3),
    }
