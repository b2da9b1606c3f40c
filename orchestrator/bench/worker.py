"""A worker process of simulated venues for the benchmark.

Each worker pre-encodes its venues' media, says it is ready, waits for the go, joins
all its venues at once, and at the stop reports what each venue received: its log
(joined, offer_sent, program_started, on_air_seen with timestamps), program frames per
second, packet loss on the program video, how far its senders kept up, and the worker's
own CPU time. Venues decode only the program's keyframes (every switch starts with one),
so they measure the server rather than their own decoders. The venues named `light` run as
light venues (`venues.light`: pre-packetized media, the program counted from its packets, no
picture decoded), all of the worker's light venues paced by one timer. A worker runs on
uvloop's event loop where it can be imported.
"""

from __future__ import annotations

import asyncio
import functools
import io
import json
import multiprocessing as mp
import resource
import time
from dataclasses import dataclass
from multiprocessing.synchronize import Event

from aiortc.mediastreams import MediaStreamTrack

from venues.agent import LoopedTrack, Media, VenueAgent, synthetic_media
from venues.light import LightVenueAgent, Pacers

from ..media.rtp_stats import inbound_rtp


@dataclass(frozen=True)
class WorkerConfig:
    venues: list[tuple[int, str, str]]  # (conference index, venue id, join url)
    width: int
    height: int
    fps: int
    bitrate: int
    ice_address: str = "127.0.0.1"  # where the venues offer their media
    light: frozenset[str] = frozenset()  # the venues that run as light venues


def run(config: WorkerConfig, ready: Event, go: Event, stop: Event, results: mp.Queue) -> None:
    """Process entry point."""
    from orchestrator.event_loop import new_event_loop
    from orchestrator.logs import configure
    from orchestrator.media import restrict_host_addresses

    configure(level="warning")
    restrict_host_addresses([config.ice_address])
    loop, loop_name = new_event_loop("uvloop")  # its datagram reads and writes run in C: a tenth to a sixth less CPU here
    with asyncio.Runner(loop_factory=lambda: loop) as runner:
        results.put([{**r, "event_loop": loop_name} for r in runner.run(_main(config, ready, go, stop))])


async def _main(config: WorkerConfig, ready: Event, go: Event, stop: Event) -> list[dict]:
    media: dict[str, Media] = {
        venue: synthetic_media(index, config.width, config.height, config.fps, config.bitrate, noise=True)
        for index, venue, _ in config.venues
    }
    tracks: dict[str, list[LoopedTrack]] = {venue: [] for venue in media}

    def recording(venue: str) -> Media:
        def tracks_for() -> tuple[MediaStreamTrack, MediaStreamTrack]:
            made = media[venue].tracks()
            assert isinstance(made[0], LoopedTrack), "the bench's synthetic video loops pre-encoded frames"
            tracks[venue].append(made[0])
            return made

        return Media(tracks_for, media[venue].check, preencoded=True)

    logs = {venue: io.StringIO() for venue in media}
    pacers = Pacers.make(config.fps)

    def make_agent(index: int, venue: str, url: str) -> VenueAgent:
        if venue in config.light:
            return LightVenueAgent(url, functools.partial(lambda v, _: media[v], venue), log_file=logs[venue],
                                   seed=index, pacers=pacers)
        return VenueAgent(url, functools.partial(lambda v, _: recording(v), venue), log_file=logs[venue],
                          decode_all=False, seed=index)

    agents = {venue: make_agent(index, venue, url) for index, venue, url in config.venues}
    ready.set()
    await asyncio.get_running_loop().run_in_executor(None, go.wait)
    cpu_start = _cpu()
    started = time.time()
    tasks = [asyncio.ensure_future(agent.run()) for agent in agents.values()]
    await asyncio.get_running_loop().run_in_executor(None, stop.wait)
    ended = time.time()
    report = []
    for venue, agent in agents.items():
        loss = agent.program_loss() if isinstance(agent, LightVenueAgent) else _program_loss(agent)
        light = isinstance(agent, LightVenueAgent)
        cameras = agent.video_senders if isinstance(agent, LightVenueAgent) else tracks[venue]
        now = time.monotonic()
        # due from when each camera began (after the venue joined), so joining takes no part in it
        due = sum((now - c.began) * config.fps for c in cameras if c.began is not None)
        report.append(
            {
                "venue": venue,
                "light": light,
                "program_frames": agent.stats.program_frames,
                "program_keyframes": agent.stats.program_keyframes,
                "log": [json.loads(line) for line in logs[venue].getvalue().splitlines()],
                "frames_per_second": agent.stats.frames_per_second,
                "tile_frames_per_second": agent.stats.tile_frames_per_second,
                "broken_frames": agent.stats.broken_frames,
                "packets_lost": loss[0],
                "packets_received": loss[1],
                "video_frames_sent": sum(c.sent for c in cameras),
                "video_frames_due": int(due),
            }
        )
        agent.stop()
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    pacers.close()
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome
    cpu = _cpu() - cpu_start
    return [{**r, "worker_cpu_s": cpu, "worker_wall_s": ended - started} for r in report]


def _program_loss(agent: VenueAgent) -> tuple[int, int]:
    """(packets lost, packets received) of the program video."""
    pc = agent.pc
    if pc is None:
        return 0, 0
    counts = inbound_rtp(t.receiver for t in pc.getTransceivers() if t.kind == "video")
    return counts.lost, counts.received


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
