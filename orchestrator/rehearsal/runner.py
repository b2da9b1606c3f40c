"""The rehearsal: the real server, one simulated venue per venue, the agenda on a fast clock.

It drives the session only through the operator API, as an operator would: start the
session, run the roll call (a called one runs by itself, venue by venue, and finishes
when nobody is left to call), walk the segments (taking the segment's venue when the
session did not already put it on air, unless the segment polls the program), step
through the awards, end the session. Polling and the main venue's wall run as the
conference file says, on the session's own clock.
Drills happen to the simulated venues on schedule. Each segment is checked by the
verifier shortly after it ends (findings show as they happen); at the end every
segment is checked again over the complete record, and that is what the report holds.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from ..conference import PollingTarget, RollCallMode
from ..config import Conference
from ..core.events import AwardPresented, Event
from ..core.state import RollCallPhase
from ..i18n import N_, Language, Phrase, ntranslate, phrase, translate
from ..logs import get_logger
from ..operator_client import OperatorClient, OperatorSocket
from ..protocol import OperatorState, wire
from ..sentences import STATUS_WORDS
from .drills import Drills
from .plan import DropStep, Plan, Step, make_plan
from .progress import Progress
from .records import CommandRecord, DrillOutcome, DropRun, Finding, FrameCount, Recording, SegmentRun
from .report import Report, build_report, write_report
from .server import JanusMedia, running_server
from .simulate import SimulatedVenues
from .verifier import SegmentCheck, verify_run, verify_segment

log = get_logger(component="rehearsal")

JOIN_TIMEOUT_S = 30.0
SETTLE_TIMEOUT_S = 10.0  # for the server to show the venues joined, and them the program
ROLL_CALL_MIN_WAIT_S = 5.0
REJOIN_TIMEOUT_S = 15.0
CHECK_DELAY_S = 0.2  # past the threshold, before a segment is checked


@dataclass(frozen=True)
class RehearsalOptions:
    speed: float = 60.0
    threshold_s: float = 1.0
    drills: Drills = field(default_factory=Drills)
    report_dir: Path | None = None
    config_path: str | None = None
    language: Language | None = None  # of report.html (None: the conference's)
    janus: JanusMedia | None = None  # the media through Janus nodes (None: the embedded SFU)


class Rehearsal:
    """One run. `run()` returns the report; `live_findings` fill in while it runs."""

    def __init__(self, conference: Conference, options: RehearsalOptions, progress: Progress | None = None):
        self.conference = conference
        self.options = options
        self.lang: Language = options.language or conference.conference.language
        self.plan: Plan = make_plan(conference, options.speed, options.threshold_s, options.drills)
        self.progress = progress or Progress()
        self.findings: list[Finding] = []  # the rehearsal's own (joins, refused commands, awards)
        self.outcomes: list[DrillOutcome] = []
        self.live_checks: dict[str, SegmentCheck] = {}
        self.current: SegmentRun | None = None
        # set by run(), once the server is up and the venues are made
        self.rec: Recording
        self.fleet: SimulatedVenues
        self.operator: OperatorClient
        self.socket: OperatorSocket  # the operator socket: every event, the latest state
        self.commands: list[CommandRecord] = []
        self.server_events: list[Event] = []
        self._tasks: set[asyncio.Task] = set()

    # ------------------------------------------------------------ the run

    async def run(self) -> Report:
        drills = self.options.drills
        started_wall, started_cpu = time.time(), time.process_time()
        log.info("rehearsal_started", conference=self.conference.conference.id, speed=self.options.speed,
                 drills=drills.describe(), planned_s=round(self.plan.total_s, 1))
        venue_logs = self.options.report_dir / "venues" if self.options.report_dir else None
        with tempfile.TemporaryDirectory(prefix="rehearsal-") as data_dir:
            async with running_server(self.conference, Path(data_dir), self.options.janus) as server, aiohttp.ClientSession() as http:
                self.operator = OperatorClient(http, server.base_url, server.operator_token)
                self.socket = socket = await self.operator.socket()
                socket.on_change += [self._record_events, self._watch_links]
                simulated = [v.id for v in self.conference.venues if v.id not in drills.absent]
                self.fleet = SimulatedVenues({v: server.link(v) for v in simulated}, drills.loss, venue_logs,
                                             silent=drills.silent, called_answer_delay_s=self.plan.call_answer_s)
                self.rec = Recording(
                    conference=self.conference, plan=self.plan, drills=drills,
                    heartbeat_timeout_s=server.heartbeat_timeout_s,
                    commands=self.commands, server_events=self.server_events, logs=self.fleet.logs(),
                )
                watcher = asyncio.ensure_future(socket.watch())
                self.progress.attach(self)
                try:
                    self.fleet.start()
                    await self._join()
                    await self._session()
                finally:
                    for task in list(self._tasks):
                        task.cancel()
                    await asyncio.gather(*self._tasks, return_exceptions=True)
                    await self.fleet.stop()
                    await socket.close()
                    await asyncio.gather(watcher, return_exceptions=True)
                    self.progress.detach()
        checks = [verify_segment(self.rec, run) for run in self.rec.segments if run.ended is not None]
        run_findings, run_outcomes = verify_run(self.rec)
        report = build_report(
            self.rec, checks, self.findings + run_findings, self.outcomes + run_outcomes,
            started=started_wall, ended=time.time(), cpu_s=time.process_time() - started_cpu,
            config_path=self.options.config_path,
        )
        if self.options.report_dir is not None:
            write_report(report, self.options.report_dir, self.options.language)
        log.info("rehearsal_finished", findings=len(report.findings), duration_s=report.duration_s)
        return report

    async def _join(self) -> None:
        fleet = self.fleet
        deadline = time.monotonic() + JOIN_TIMEOUT_S
        while not all(sim.connected for sim in fleet.venues.values()) and time.monotonic() < deadline:  # noqa: ASYNC110 - polls the simulated venues' flags
            await asyncio.sleep(0.05)
        joined = [v for v, sim in fleet.venues.items() if sim.connected]
        for venue in sorted(set(fleet.venues) - set(joined)):
            self._finding("join_failed", None, venue, phrase(N_("'{venue}' did not join within {seconds} s"),
                                                              venue=venue, seconds=f"{JOIN_TIMEOUT_S:g}"))
        await self.socket.wait_for(lambda s: all(s.venues[v].connected for v in joined), SETTLE_TIMEOUT_S)
        main = self.conference.main_venue.id
        receivers = [fleet[v] for v in joined if v != main]
        deadline = time.monotonic() + SETTLE_TIMEOUT_S
        while any(sim.agent is None or sim.agent.stats.seen != main for sim in receivers) and time.monotonic() < deadline:  # noqa: ASYNC110 - polls the agents' counters
            await asyncio.sleep(0.05)
        self.progress.note(self._(N_("{joined} of {venues} joined"), joined=len(joined),
                                  venues=ntranslate(self.lang, "{n} venue", "{n} venues", len(self.conference.venues))))

    async def _session(self) -> None:
        rec = self.rec
        previous: SegmentRun | None = None
        for step in self.plan.steps:
            command = {"type": "start_session"} if step.index == 0 else {"type": "next_segment"}
            run = await self._start_segment(step, command, previous)
            await self._ensure_on_air(run)
            drops = [self._spawn(self._drop(run, d)) for d in step.drops]
            if step.roll_call:
                await self._roll_call(run)
            if step.awards:
                await self._awards(run)
            await self._until(run.started + step.target_s)
            if drops:
                await asyncio.gather(*drops)
            previous = run
        frames = self._frames()
        record = await self._command({"type": "end_session"})
        self._refused(record, None)
        rec.session_ended = record.sent
        if previous is not None:
            self._end_segment(previous, record.sent, frames)
        await asyncio.gather(*self._tasks)  # the last segment's check

    async def _start_segment(self, step: Step, command: dict, previous: SegmentRun | None) -> SegmentRun:
        frames = self._frames()
        record = await self._command(command)
        self._refused(record, step.id)
        if previous is not None:
            self._end_segment(previous, record.sent, frames)
        else:
            self.rec.session_started = record.sent
        run = SegmentRun(step, started=record.sent, start_answered=record.answered,
                         frames={v: FrameCount(starts, n) for v, (starts, n) in frames.items()})
        self.rec.segments.append(run)
        self.current = run
        log.info("segment_started", segment=step.id, venue=step.venue, target_s=round(step.target_s, 2))
        self.progress.segment(run)
        return run


    def _(self, msgid: str, **params: object) -> str:
        """What the rehearsal says on the terminal, in its language."""
        return translate(self.lang, msgid, **params)
    def _end_segment(self, run: SegmentRun, at: float, frames: dict[str, tuple[int, int]]) -> None:
        run.ended = at
        for venue, count in run.frames.items():
            if venue in frames:
                count.end_agent_start, count.end = frames[venue]
        self._spawn(self._check_later(run))

    async def _check_later(self, run: SegmentRun) -> None:
        await asyncio.sleep(self.plan.threshold_s + CHECK_DELAY_S)
        check = verify_segment(self.rec, run)
        self.live_checks[run.step.id] = check
        for finding in check.findings:
            self.progress.finding(finding)
        for outcome in check.outcomes:
            self.progress.outcome(outcome)

    async def _ensure_on_air(self, run: SegmentRun) -> None:
        """Take the segment's venue if it is connected and the session did not put it on air
        (not while the segment polls the program: a take would stop the polling)."""
        polling = run.step.polling
        if polling is not None and polling.target is PollingTarget.PROGRAM:
            return
        venue = run.step.venue
        state = await self.operator.state()
        if state.on_air != venue and state.venues[venue].connected:
            await self._take(venue, run.step.id)

    async def _take(self, venue: str, segment: str) -> None:
        record = await self._command({"type": "take", "venue": venue})
        if record.status == 409 and record.code == "link_poor_needs_confirm":
            self._outcome("loss", venue, segment, phrase(N_("the take of '{venue}' needed confirmation: {error}"),
                                                          venue=venue, error=record.error))
            record = await self._command({"type": "take", "venue": venue, "confirm": True})
        self._refused(record, segment)

    async def _roll_call(self, run: SegmentRun) -> None:
        step = run.step
        self._refused(await self._command({"type": "start_roll_call"}), step.id)
        if step.roll_call_mode is RollCallMode.CALLED:
            # it calls each venue in turn and finishes by itself; the operator only waits
            per_venue = step.segment.roll_call_per_venue
            done = await self.socket.wait_for(
                lambda s: s.roll_call is not None and s.roll_call.segment == step.id
                and s.roll_call.phase is RollCallPhase.FINISHED,
                len(step.roll_call) * (per_venue + 1) + ROLL_CALL_MIN_WAIT_S,
            )
            if not done:
                self._finding("roll_call_mismatch", step.id, None, phrase(
                    N_("the called roll call of '{segment}' did not finish by itself; the operator finished it"),
                    segment=step.id))
                self._refused(await self._command({"type": "finish_roll_call"}), step.id)
        else:
            dropping = {d.drop.venue for d in step.drops}
            answering = [v for v in step.roll_call if v in self.fleet and self.fleet[v].connected and v not in dropping
                         and v not in self.options.drills.silent]

            def answered(state: OperatorState) -> bool:
                entries = state.roll_call.venues if state.roll_call else {}
                return all(v in entries and entries[v].status.value in ("present", "absent") for v in answering)

            await self.socket.wait_for(answered, max(step.target_s, ROLL_CALL_MIN_WAIT_S))
            self._refused(await self._command({"type": "finish_roll_call"}), step.id)
        state = await self.operator.state()
        if state.roll_call and state.roll_call.segment == step.id:
            self.rec.roll_calls[step.id] = wire(state.roll_call)
        counts = state.roll_call.counts if state.roll_call else {}
        said = self._(N_(", ")).join(self._(N_("{n} {status}"), n=n, status=self._(STATUS_WORDS.get(status, status)))
                                     for status, n in counts.items() if n or status in ("present", "absent"))
        self.progress.note(self._(N_("roll call finished: {counts}"), counts=said))

    async def _awards(self, run: SegmentRun) -> None:
        for award in run.step.awards:
            await self._until(run.started + award.at_s)
            record = await self._command({"type": "next_award"})
            if self._refused(record, run.step.id):
                continue
            presented = next((e for e in record.events if isinstance(e, AwardPresented)), None)
            if presented is None or (presented.award, presented.recipient) != (award.award, award.recipient):
                got = (phrase(N_("'{recipient}' ({award})"), recipient=presented.recipient, award=presented.award)
                       if presented else phrase(N_("nothing")))
                self._finding("award_mismatch", run.step.id, award.venue, phrase(
                    N_("the next award should have been '{recipient}' ({award}); the server presented {got}"),
                    recipient=award.recipient, award=award.award, got=got))

    async def _drop(self, run: SegmentRun, step: DropStep) -> None:
        drop, sim = step.drop, self.fleet[step.drop.venue]
        await self._until(run.started + step.at_s)
        dropped = DropRun(drop, down_at=time.time())
        self.rec.drops.append(dropped)
        log.info("drill_drop", venue=drop.venue, segment=drop.segment, seconds=drop.seconds)
        self.progress.note(self._(N_("drill: '{venue}' drops for {seconds} s"), venue=drop.venue,
                                  seconds=f"{drop.seconds:g}"))
        await sim.drop()
        await asyncio.sleep(drop.seconds)
        sim.start()
        dropped.up_at = time.time()
        log.info("drill_rejoin", venue=drop.venue, segment=drop.segment)
        self.progress.note(self._(N_("drill: '{venue}' comes back"), venue=drop.venue))
        deadline = time.monotonic() + REJOIN_TIMEOUT_S
        while not sim.connected and time.monotonic() < deadline:  # noqa: ASYNC110 - polls the simulated venue's flag
            await asyncio.sleep(0.05)

    # ------------------------------------------------------------ helpers

    def _frames(self) -> dict[str, tuple[int, int]]:
        """Each running agent's (start number, program frames received)."""
        return {v: (sim.starts, sim.agent.stats.program_frames) for v, sim in self.fleet.venues.items() if sim.agent}

    async def _command(self, command: dict[str, Any]) -> CommandRecord:
        """Send one operator command and record it with its send and answer times."""
        sent = time.time()
        answer = await self.operator.command(command)
        record = CommandRecord(
            command=command, sent=sent, answered=time.time(), status=answer.status,
            events=list(answer.events), error=answer.error, code=answer.code,
        )
        self.commands.append(record)
        log.info("command_sent", command=command.get("type"), status=record.status, code=record.code, error=record.error)
        return record

    def _record_events(self) -> None:
        """The session events the operator socket delivered, for the verifier."""
        self.server_events.extend(self.socket.events[len(self.server_events):])

    def _watch_links(self) -> None:
        state = self.socket.state
        for node in state.media_nodes if state else ():
            self.rec.media_nodes[node.id] = node.host
        for venue, view in state.venues.items() if state else ():
            placed = self.rec.venue_nodes.setdefault(venue, [])
            if view.media_node is not None and view.media_node not in placed[-1:]:
                placed.append(view.media_node)
            loss = view.link.loss_pct
            if loss is not None and view.connected:
                self.rec.max_loss_pct[venue] = max(self.rec.max_loss_pct.get(venue, 0.0), loss)
            if view.link.quality.value == "poor":
                self.rec.poor_link.add(venue)

    def _refused(self, record: CommandRecord, segment: str | None) -> bool:
        if record.status == 200:
            return False
        self._finding("command_rejected", segment, record.command.get("venue"), phrase(
            N_("{command} was refused ({status}): {error}"),
            command=record.command["type"], status=record.status, error=record.error))
        return True

    def _finding(self, kind: str, segment: str | None, venue: str | None, said: Phrase) -> None:
        finding = Finding.of(kind, segment, venue, said, time.time())
        self.findings.append(finding)
        log.warning("finding", kind=kind, segment=segment, venue=venue, message=finding.message)
        self.progress.finding(finding)

    def _outcome(self, drill: str, venue: str, segment: str | None, said: Phrase) -> None:
        outcome = DrillOutcome.of(drill, venue, segment, said, time.time())
        self.outcomes.append(outcome)
        self.progress.outcome(outcome)

    async def _until(self, t: float) -> None:
        delay = t - time.time()
        if delay > 0:
            await asyncio.sleep(delay)

    def _spawn(self, coro: Coroutine) -> asyncio.Task:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task


async def rehearse(conference: Conference, options: RehearsalOptions, progress: Progress | None = None) -> Report:
    """Run a rehearsal of `conference`; the report says what was found."""
    return await Rehearsal(conference, options, progress).run()
