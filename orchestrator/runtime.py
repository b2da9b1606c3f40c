"""The session runtime: the live session, its media plane, and everything that follows them.

`SessionRuntime` owns the `LiveSession` (command -> core -> event log -> listeners) and
the `MediaPlane`, and holds the session's behaviour between the two and over time:

- **Listeners**, run after every applied command in this order (each on its own: one that
  fails is logged as `listener_failed` and the others still run):

  1. `token_revocations`: a venue's revoked links are refused from now on, before any
     socket hears of the revocation;
  2. `media_program`: the media plane's on-air venue and muted microphones follow the
     session, so the picture switches before the venues are told it did;
  3. `timers`: the session's timers are looked at again (see **Time** below);
  4. `recording`: the recorder follows the recording's state (`recording.Recorder`: it
     receives the program like a venue and writes it, never transcoded);
  5. `venue_sockets`: each venue's view, roll-call prompts, revoked venues cut off;
  6. `operator_sockets`: the consoles' event log and state;
  7. `metrics`: takes and fallbacks counted for monitoring.

  The first four are the runtime's own; the sockets and the metrics are attached by the
  web layer (`attach_sockets`, `LiveSession.add_listener`), which owns them.
- **Time**: what runs on time in the session (a called venue's time to answer, the next
  polling step, the wall's next page) moves on when the core is sent `Tick`. The runtime
  sleeps until `Session.next_deadline()` and sends `Tick` then; a command that changes the
  state wakes it early (the deadline may have moved), and it never sleeps longer than
  `TIMER_MAX_SLEEP_S`, so a change of the wall clock costs at most that much lateness.
- **Presence**: the media plane reports a venue's media connecting (`JoinVenue`) and going
  away (`LeaveVenue`); it is given the runtime as its `MediaPresence` when it is made.
- **Link sampling**: every `link_sample_s`, each connected venue's link is measured and
  reported to the core (`ReportLink`), venue by venue, so one bad value cannot stop the
  others. A sample the core would refuse (aiortc derives the round trip from wall-clock
  time, so it can come out negative) is corrected and logged (`link_sample_invalid`).
- **Restart grace**: after a restart, venues the log shows connected have
  `restart_grace_s` to come back before they are recorded as gone.
- **Server starts**: each start is recorded in the log (`ServerStarted`, with the venues the
  log showed connected), so the minutes can tell a restart from a quiet spell.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import math
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from .conference import Conference, ReturnMode
from .core import CommandRejected, Session, main_return_view
from .core import commands as c
from .core.events import Event
from .core.state import SessionState
from .live_session import Listener, LiveSession
from .logs import get_logger
from .media.plane import Anticipating, LinkStats, MediaPlane, MediaPresence, VenuePeer
from .recording import Recorder, RecordingOptions
from .text import refused_because

log = get_logger(component="runtime")

TIMER_MAX_SLEEP_S = 1.0  # the timer looks at the clock at least this often while a deadline waits

MediaFactory = Callable[[MediaPresence], MediaPlane]
"""Makes the media plane, given where it reports presence (the runtime)."""


class SessionRuntime:
    def __init__(
        self,
        live: LiveSession,
        make_media: MediaFactory,
        revoke_links: Callable[[str, float], None],
        *,
        link_sample_s: float,
        restart_grace_s: float,
        recording: RecordingOptions | None = None,
    ):
        """`revoke_links(venue, issued_before)` refuses the venue's links issued before then."""
        self.live = live
        self.link_sample_s = link_sample_s
        self.restart_grace_s = restart_grace_s
        self.links: dict[str, LinkStats] = {}  # the last sample of every connected venue's link
        self._revoke_links = revoke_links
        self._links_sampled: Callable[[], None] = lambda: None
        self._tasks: list[asyncio.Task[None]] = []
        self._timers_changed = asyncio.Event()
        self.media: MediaPlane = make_media(self)
        # 1 to 3 of the listeners' order (see the module's docstring); the replayed state first
        for name, listener in (("token_revocations", self._follow_revocations), ("media_program", self._follow_program),
                               ("timers", self._follow_timers)):
            listener([], live.state)
            live.add_listener(name, listener)
        # 3: where recordings go (None: nowhere; a recording the session starts is then not written)
        self.recorder = Recorder(live, self.media, recording) if recording is not None else None
        if self.recorder is not None:
            live.add_listener("recording", self.recorder.follow)

    # ------------------------------------------------------------ the session

    @property
    def conference(self) -> Conference:
        return self.live.conference

    @property
    def session(self) -> Session:
        return self.live.session

    @property
    def state(self) -> SessionState:
        return self.live.state

    def execute(self, command: c.Command, command_id: str | None = None) -> list[Event]:
        """Run one command through the live session (see `LiveSession.execute`)."""
        return self.live.execute(command, command_id)

    def attach_sockets(self, venues: Listener, operators: Listener, links_sampled: Callable[[], None]) -> None:
        """The web layer's listeners, 4 and 5 of the order; `links_sampled` after each link sample."""
        self.live.add_listener("venue_sockets", venues)
        self.live.add_listener("operator_sockets", operators)
        self._links_sampled = links_sampled

    # ------------------------------------------------------------ followers

    def _follow_revocations(self, events: list[Event], state: SessionState) -> None:
        for venue, vs in state.venues.items():
            if vs.links_revoked_at is not None:
                self._revoke_links(venue, vs.links_revoked_at)

    def _follow_program(self, events: list[Event], state: SessionState) -> None:
        self.media.set_program(state.on_air, {v for v, vs in state.venues.items() if vs.muted})
        view = main_return_view(state, self.conference)
        self.media.set_main_return(view.venue if view.shows is ReturnMode.SINGLE else None, view.tiles)
        if isinstance(self.media, Anticipating):
            upcoming = self.session.next_segment_venue()
            self.media.set_likely([upcoming] if upcoming is not None else [])

    def _follow_timers(self, events: list[Event], state: SessionState) -> None:
        self.timers_changed()

    # ------------------------------------------------------------ time

    def timers_changed(self) -> None:
        """The next deadline may have moved (or the clock did, in tests): the timer looks again now."""
        self._timers_changed.set()

    async def run_timers(self) -> None:
        """Send `Tick` whenever `Session.next_deadline()` is due, sleeping until then (woken by
        `timers_changed`). A `Tick` that fails, or that leaves the deadline due, is logged and
        the timer waits `TIMER_MAX_SLEEP_S` before it tries again: it never spins."""
        while True:
            self._timers_changed.clear()
            deadline = self.session.next_deadline()
            now = self.live.clock()
            if deadline is None:
                wait = None  # nothing runs on time: sleep until a command changes that
            elif deadline > now:
                wait = min(deadline - now, TIMER_MAX_SLEEP_S)
            elif self._tick(deadline, now):
                continue
            else:
                wait = TIMER_MAX_SLEEP_S
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a cancellation that
            # comes as the event is set (a command during shutdown), and the task would never end
            try:
                async with asyncio.timeout(wait):
                    await self._timers_changed.wait()
            except TimeoutError:
                pass

    def _tick(self, deadline: float, now: float) -> bool:
        """Send one `Tick`; True when it moved the deadline on (the timer may look again at once)."""
        try:
            events = self.live.execute(c.Tick())
        except Exception:  # e.g. the log could not be written: try again later
            log.exception("tick_failed", due=deadline)
            return False
        after = self.session.next_deadline()
        if after is not None and after <= now:
            log.error("tick_left_deadline_due", due=deadline, events=len(events))
            return False
        log.debug("ticked", late_s=round(now - deadline, 3), events=len(events))
        return True

    # ------------------------------------------------------------ presence (MediaPresence)

    def media_connected(self, venue: str) -> None:
        self._presence(c.JoinVenue(venue=venue))

    def media_disconnected(self, venue: str, reason: str) -> None:
        self._presence(c.LeaveVenue(venue=venue, reason=reason))

    def media_node_lost(self, node: str, venues: list[str], reason: str) -> None:
        reason = "".join(ch if refused_because(ch) is None else " " for ch in reason)[:200]  # e.g. an error's newlines
        try:
            self.live.execute(c.ReportMediaNodeLost(node=node, venues=venues, reason=reason))
        except Exception:  # the venues' own leaving still follows
            log.exception("media_node_lost_not_recorded", node=node)

    def media_node_back(self, node: str) -> None:
        try:
            self.live.execute(c.ReportMediaNodeBack(node=node))
        except Exception:
            log.exception("media_node_back_not_recorded", node=node)

    def _presence(self, command: c.JoinVenue | c.LeaveVenue) -> None:
        try:
            self.live.execute(command)
        except CommandRejected as exc:
            log.info("presence_ignored", venue=command.venue, reason=str(exc))

    # ------------------------------------------------------------ links

    async def sample_links(self) -> None:
        """Measure every connected venue's link and report it to the core, venue by venue."""
        sampled = await self.media.sample_links()
        self.links = {
            venue: _usable(venue, link) for venue, link in sampled.items() if venue in self.conference.venue_by_id
        }
        for venue, link in self.links.items():
            try:
                self.live.execute(c.ReportLink(venue=venue, loss_pct=link.loss_pct, rtt_ms=link.rtt_ms or 0.0))
            except CommandRejected:
                pass  # e.g. it left since the sample
            except Exception:
                log.exception("link_report_failed", venue=venue)
        self._links_sampled()

    # ------------------------------------------------------------ restart grace

    async def restart_grace(self) -> None:
        """Venues the log shows connected were connected to the previous process. They
        rejoin by themselves; only those that do not come back within the grace period
        are recorded as gone (so a restart changes nothing that the venues restore)."""
        stale = [v for v, vs in self.state.venues.items() if vs.connected]
        if not stale:
            return
        log.info("restart_grace_started", venues=len(stale), grace_s=self.restart_grace_s)
        await asyncio.sleep(self.restart_grace_s)
        for venue in stale:
            if not self.media.is_connected(VenuePeer(venue)):
                with contextlib.suppress(CommandRejected):
                    self.live.execute(c.LeaveVenue(venue=venue, reason="did not come back after a server restart"))

    # ------------------------------------------------------------ lifetime

    def start(self) -> None:
        """Record the server's start in the log, then start link sampling, the session's timers,
        the restart grace period and the recorder."""
        with contextlib.suppress(CommandRejected):  # the session has ended: nothing to record
            self.live.execute(c.RecordServerStart(restart_grace_s=self.restart_grace_s))
        self._spawn(_every(self.link_sample_s, self.sample_links))
        self._spawn(self.run_timers())
        self._spawn(self.restart_grace())
        if self.recorder is not None:
            self.recorder.start()

    async def stop(self) -> None:
        """Stop the background work (the media keeps running)."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def close(self) -> None:
        """Stop the background work, close the recording's current part and the media plane."""
        await self.stop()
        if self.recorder is not None:
            await self.recorder.close()
        await self.media.close()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        self._tasks.append(asyncio.ensure_future(coro))


def _usable(venue: str, link: LinkStats) -> LinkStats:
    """`link` with what the core cannot take corrected: a round trip that is negative or not a
    number is unknown; a loss outside 0..100 % is clamped (one that is not a number is none)."""
    rtt, loss = link.rtt_ms, link.loss_pct
    if rtt is not None and not (math.isfinite(rtt) and rtt >= 0):
        rtt = None
    if not math.isfinite(loss):
        loss = 0.0
    loss = min(max(loss, 0.0), 100.0)
    if (rtt, loss) == (link.rtt_ms, link.loss_pct):
        return link
    log.warning("link_sample_invalid", venue=venue, rtt_ms=link.rtt_ms, loss_pct=link.loss_pct)
    return dataclasses.replace(link, rtt_ms=rtt, loss_pct=loss)


async def _every(interval: float, fn: Callable[[], Awaitable[None]]) -> None:
    """Run `fn` every `interval` seconds; a failure is logged and the next run goes ahead."""
    while True:
        started = time.monotonic()
        try:
            await fn()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("periodic_task_failed")
        await asyncio.sleep(max(0.0, interval - (time.monotonic() - started)))
