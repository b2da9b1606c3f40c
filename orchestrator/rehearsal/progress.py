"""The rehearsal's progress on the terminal: a live table, or plain lines when not a terminal.

`Progress` itself shows nothing (tests, embedding); `progress_for(console)` picks the view.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import IO, TYPE_CHECKING

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from ..i18n import N_, ntranslate
from ..protocol import OperatorState
from .records import DrillOutcome, Finding, SegmentRun

if TYPE_CHECKING:
    from .runner import Rehearsal

REFRESH_S = 0.25
SHOWN_FINDINGS = 8
SHOWN_OUTCOMES = 4


class Progress:
    """What the rehearsal tells its watcher; this one shows nothing."""

    rehearsal: Rehearsal  # given by attach(), before anything is shown
    _: Callable[..., str]  # the rehearsal's words (`Rehearsal._`), given by attach()

    def attach(self, rehearsal: Rehearsal) -> None:
        self.rehearsal = rehearsal
        self._ = rehearsal._  # its words in the rehearsal's language
        self._t0 = time.monotonic()

    def detach(self) -> None:
        pass

    def segment(self, run: SegmentRun) -> None:
        pass

    def note(self, text: str) -> None:
        pass

    def finding(self, finding: Finding) -> None:
        pass

    def outcome(self, outcome: DrillOutcome) -> None:
        pass

    def elapsed(self) -> str:
        return f"{time.monotonic() - self._t0:6.1f} s"

    def said(self, item: Finding | DrillOutcome) -> str:
        """A finding's or an outcome's sentence in the rehearsal's language, the venues named as the file names them."""
        names = {v.id: v.name for v in self.rehearsal.conference.venues}
        return item.say(self.rehearsal.lang, names)


class LineProgress(Progress):
    """One plain line per happening (for logs and pipes)."""

    def __init__(self, out: IO[str]):
        self.out = out

    def _say(self, text: str) -> None:
        print(f"[{self.elapsed()}] {text}", file=self.out, flush=True)

    def segment(self, run: SegmentRun) -> None:
        step, total = run.step, len(self.rehearsal.plan.steps)
        self._say(self._(N_("segment {n}/{total} {id} ({kind}, {seconds} s), on air from '{venue}'"), n=step.index + 1,
                         total=total, id=step.id, kind=step.kind.value, seconds=f"{step.target_s:.1f}", venue=step.venue))

    def note(self, text: str) -> None:
        self._say(text)

    def finding(self, finding: Finding) -> None:
        self._say(self._(N_("FINDING {kind} [{segment}] [{venue}] {message}"), kind=finding.kind,
                         segment=finding.segment or "-", venue=finding.venue or "-", message=self.said(finding)))

    def outcome(self, outcome: DrillOutcome) -> None:
        self._say(self._(N_("drill {drill} '{venue}': {message}"), drill=outcome.drill, venue=outcome.venue,
                         message=self.said(outcome)))


class LiveProgress(Progress):
    """A table redrawn in place: segment, time, on-air venue, each venue's state, findings."""

    def __init__(self, console: Console):
        self.console = console
        self.notes: list[str] = []
        self.findings: list[Finding] = []
        self.outcomes: list[DrillOutcome] = []
        self._live: Live | None = None
        self._task: asyncio.Task | None = None

    def attach(self, rehearsal: Rehearsal) -> None:
        super().attach(rehearsal)
        self._live = Live(self, console=self.console, auto_refresh=False, redirect_stderr=False)
        self._live.start()
        self._task = asyncio.ensure_future(self._refresh())

    async def _refresh(self) -> None:
        assert self._live is not None
        while True:
            self._live.refresh()
            await asyncio.sleep(REFRESH_S)

    def detach(self) -> None:
        if self._task is not None:
            self._task.cancel()
        if self._live is not None:
            with contextlib.suppress(Exception):
                self._live.refresh()
            self._live.stop()

    def note(self, text: str) -> None:
        self.notes = [*self.notes[-2:], f"[{self.elapsed()}] {text}"]

    def finding(self, finding: Finding) -> None:
        self.findings.append(finding)

    def outcome(self, outcome: DrillOutcome) -> None:
        self.outcomes.append(outcome)

    def __rich__(self) -> Group:
        r = self.rehearsal
        state = r.socket.state if r.socket else None
        run = r.current
        _ = self._
        head = Text.assemble((_(N_("Rehearsal")) + " ", "bold"), (r.conference.conference.title, "bold cyan"),
                             _(N_("  speed {speed}x  elapsed {elapsed} of about {total} s"), speed=f"{r.options.speed:g}",
                               elapsed=self.elapsed().strip(), total=f"{r.plan.total_s:.0f}"))
        if r.rec is not None and r.rec.session_ended is not None:
            line = Text(_(N_("session ended; checking the last segment")))
        elif run is not None:
            into = time.time() - run.started
            line = Text.assemble(_(N_("segment {n}/{total} "), n=run.step.index + 1, total=len(r.plan.steps)),
                                 (run.step.id, "bold"),
                                 _(N_(" ({kind})  {into}/{target} s  on air: "), kind=run.step.kind.value,
                                   into=f"{into:4.1f}", target=f"{run.step.target_s:.1f}"),
                                 (state.on_air if state else "?", "bold magenta"))
        else:
            line = Text(_(N_("joining the venues...")))
        return Group(head, line, self._venues(state), *self._lists())

    def _venues(self, state: OperatorState | None) -> Table:
        r = self.rehearsal
        counts: dict[str, int] = {}
        for f in self.findings:
            if f.venue:
                counts[f.venue] = counts.get(f.venue, 0) + 1
        table = Table(box=None, pad_edge=False, header_style="bold")
        for column in (N_("venue"), N_("state"), N_("server"), N_("shows"), N_("frames"), N_("loss"), N_("findings")):
            table.add_column(self._(column))
        for venue in r.conference.venues:
            view = state.venues.get(venue.id) if state else None
            sim = r.fleet.venues.get(venue.id) if r.fleet else None
            _ = self._
            if venue.id in r.options.drills.absent:
                local = Text(_(N_("absent")), "yellow")
            elif sim is None or sim.agent is None:
                local = Text(_(N_("dropped")), "red")
            else:
                local = Text(_(N_("connected")), "green") if sim.connected else Text(_(N_("joining")), "yellow")
            server = _(N_("on air")) if view and view.on_air else (_(N_("connected")) if view and view.connected else "-")
            loss = view.link.loss_pct if view else None
            stats = sim.agent.stats if sim and sim.agent else None
            table.add_row(
                venue.id, local, server, (stats.seen or "-") if stats else "-",
                str(stats.program_frames) if stats else "-", f"{loss:.1f}%" if loss else "",
                Text(str(counts[venue.id]), "bold red") if venue.id in counts else "",
            )
        return table

    def _lists(self) -> list[Text]:
        lines = [Text(n, "dim") for n in self.notes]
        _ = self._
        lines += [Text(_(N_("drill {drill} '{venue}': {message}"), drill=o.drill, venue=o.venue, message=self.said(o)),
                       "yellow") for o in self.outcomes[-SHOWN_OUTCOMES:]]
        lines += [Text(_(N_("FINDING {kind} [{segment}] [{venue}] {message}"), kind=f.kind, segment=f.segment or "-",
                         venue=f.venue or "-", message=self.said(f)), "bold red")
                  for f in self.findings[-SHOWN_FINDINGS:]]
        if len(self.findings) > SHOWN_FINDINGS:
            lines.append(Text(_(N_("... {findings} so far"), findings=ntranslate(
                self.rehearsal.lang, "{n} finding", "{n} findings", len(self.findings))), "red"))
        return lines


def progress_for(console: Console) -> Progress:
    """A live table on a terminal; plain lines otherwise."""
    return LiveProgress(console) if console.is_terminal else LineProgress(console.file)
