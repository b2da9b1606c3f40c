"""Simulated venues: one synthetic venue agent per venue, in this process and event loop.

The rehearsal drives them, and `orchestrator serve --simulate` starts them beside the
server so one person can run a session from the console without a browser per venue
(their cameras show each venue's name and a running clock there).
Each venue's agent writes its JSON lines into a `VenueLog` that keeps them in memory
(and in a file, if given); an agent that replaces a dropped one writes to the same log.
"""

from __future__ import annotations

import asyncio
import functools
import json
import time
from collections.abc import Callable, Collection, Mapping
from datetime import tzinfo
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo

from aiohttp import web

from venues.agent import CALLED_ANSWER_DELAY_S, Media, VenueAgent, labelled_media, synthetic_media

from ..logs import get_logger
from ..operator_client import wait_healthy
from ..web.app import CONFERENCE, TOKENS

log = get_logger(component="simulate")

STOP_TIMEOUT_S = 5.0
SERVER_WAIT_S = 15.0


class VenueLog:
    """A file-like sink for a venue agent's JSON lines, parsed as they are written."""

    def __init__(self, venue: str, file: IO[str] | None = None):
        self.venue = venue
        self.file = file
        self.entries: list[dict[str, Any]] = []
        self._partial = ""

    def write(self, text: str) -> int:
        if self.file is not None:
            self.file.write(text)
        *lines, self._partial = (self._partial + text).split("\n")
        for line in lines:
            if line.strip():
                self._add(json.loads(line))
        return len(text)

    def flush(self) -> None:
        if self.file is not None:
            self.file.flush()

    def mark(self, event: str, **fields: Any) -> None:
        """Record something done to the venue from outside (a drill), in the same log."""
        self.write(json.dumps({"ts": time.time(), "event": event, **fields}) + "\n")

    def _add(self, entry: dict[str, Any]) -> None:
        self.entries.append(entry)

    def close(self) -> None:
        if self.file is not None:
            self.file.close()


class SimulatedVenue:
    """One venue played by a synthetic venue agent; it can be dropped and started again.

    It answers the roll call (when called, `called_answer_delay_s` after it was called),
    unless `answers` is False (the --no-answer drill)."""

    def __init__(self, venue: str, link: str, venue_log: VenueLog, loss_pct: float = 0.0, seed: int = 0,
                 answers: bool = True, called_answer_delay_s: float = CALLED_ANSWER_DELAY_S,
                 media_factory: Callable[[int], Media] = synthetic_media):
        self.venue = venue
        self.media_factory = media_factory
        self.link = link
        self.log = venue_log
        self.loss_pct = loss_pct
        self.seed = seed
        self.answers = answers
        self.called_answer_delay_s = called_answer_delay_s
        self.agent: VenueAgent | None = None
        self.task: asyncio.Task | None = None
        self.starts = 0

    @property
    def connected(self) -> bool:
        return self.agent is not None and self.agent.connected.is_set()

    def start(self) -> None:
        self.starts += 1
        self.agent = VenueAgent(self.link, self.media_factory, log_file=self.log, loss_pct=self.loss_pct,
                                seed=self.seed + self.starts,
                                answer_roll_call=self.answers, called_answer_delay_s=self.called_answer_delay_s)
        self.task = asyncio.ensure_future(self.agent.run())
        self.task.add_done_callback(self._ended)

    def _ended(self, task: asyncio.Task) -> None:
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            self.log.mark("agent_failed", error=f"{type(error).__name__}: {error}")
            log.error("simulated_venue_failed", venue=self.venue, error=str(error))
        elif task.result() != 0:
            self.log.mark("agent_exited", code=task.result())

    async def drop(self) -> None:
        """Lose the connection abruptly: the agent is cancelled, it says no goodbye."""
        self.log.mark("dropped")
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
        self.agent, self.task = None, None

    async def stop(self) -> None:
        if self.agent is None or self.task is None:
            return
        self.agent.stop()
        try:
            await asyncio.wait_for(asyncio.shield(self.task), STOP_TIMEOUT_S)
        except TimeoutError:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)


class SimulatedVenues:
    """The simulated venues of one session, by venue id.

    With `names` (venue -> name) their cameras show the name and a running clock (in `tz`)
    for people to watch, encoded live; without, the cheaper pre-encoded loop of the mark."""

    def __init__(self, links: dict[str, str], loss: dict[str, float] | None = None, log_dir: Path | None = None,
                 silent: Collection[str] = (), called_answer_delay_s: float = CALLED_ANSWER_DELAY_S,
                 names: Mapping[str, str] | None = None, tz: tzinfo | None = None):
        loss = loss or {}
        if log_dir is not None:
            log_dir.mkdir(parents=True, exist_ok=True)
        self.venues: dict[str, SimulatedVenue] = {}
        for i, (venue, link) in enumerate(links.items()):
            file = open(log_dir / f"{venue}.jsonl", "w", encoding="utf-8") if log_dir else None
            self.venues[venue] = SimulatedVenue(venue, link, VenueLog(venue, file), loss.get(venue, 0.0), seed=1000 * i,
                                                answers=venue not in silent,
                                                called_answer_delay_s=called_answer_delay_s,
                                                media_factory=picture_of(names[venue], tz) if names else synthetic_media)

    def __getitem__(self, venue: str) -> SimulatedVenue:
        return self.venues[venue]

    def __contains__(self, venue: str) -> bool:
        return venue in self.venues

    def logs(self) -> dict[str, list[dict]]:
        return {venue: sim.log.entries for venue, sim in self.venues.items()}

    def start(self) -> None:
        for sim in self.venues.values():
            sim.start()
            log.info("simulated_venue_started", venue=sim.venue, loss_pct=sim.loss_pct)

    async def stop(self) -> None:
        await asyncio.gather(*(sim.stop() for sim in self.venues.values()))
        for sim in self.venues.values():
            sim.log.close()
        log.info("simulated_venues_stopped", venues=len(self.venues))


def picture_of(name: str, tz: tzinfo | None) -> Callable[[int], Media]:
    """The media factory of a venue whose camera shows `name` and the time in `tz`."""
    return functools.partial(labelled_media, name=name, tz=tz)


SIMULATED = web.AppKey("simulated_venues", SimulatedVenues)


def simulate_in_app(app: web.Application, venues: list[str], base_url: str, log_dir: Path | None = None) -> None:
    """Start simulated venues once the server listens at `base_url`; stop them first on shutdown."""
    tasks: set[asyncio.Task] = set()

    async def start_when_listening() -> None:
        await wait_healthy(base_url, SERVER_WAIT_S)
        tokens = app[TOKENS]
        conf = app[CONFERENCE]
        names = {v: conf.venue_by_id[v].name for v in venues}
        fleet = SimulatedVenues({v: tokens.link(base_url, v) for v in venues}, log_dir=log_dir, names=names,
                                tz=ZoneInfo(conf.conference.timezone))
        app[SIMULATED] = fleet
        fleet.start()

    async def on_startup(app: web.Application) -> None:
        task = asyncio.ensure_future(start_when_listening())
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    async def on_shutdown(app: web.Application) -> None:
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if SIMULATED in app:
            await app[SIMULATED].stop()

    app.on_startup.append(on_startup)
    app.on_shutdown.append(on_shutdown)  # before the server's own goodbye, added when it starts

