"""The rehearsal's progress on the terminal: a live table, or plain lines when not a terminal.

`Progress` itself shows nothing (tests, embedding); `progress_for(console)` picks the view.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import IO, TYPE_CHECKING

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from ..protocol import OperatorState
from ..wording import count
from .records import DrillOutcome, Finding, SegmentRun

if TYPE_CHECKING:
    from .runner import Rehearsal

REFRESH_S = 0.25
SHOWN_FINDINGS = 8
SHOWN_OUTCOMES = 4


class Progress:
    """What the rehearsal tells its watcher; this one shows nothing."""

    rehearsal: Rehearsal  # given by attach(), before anything is shown

    def attach(self, rehearsal: Rehearsal) -> None:
        self.rehearsal = rehearsal
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


class LineProgress(Progress):
    """One plain line per happening (for logs and pipes)."""

    def __init__(self, out: IO[str]):
        self.out = out

    def _say(self, text: str) -> None:
        print(f"[{self.elapsed()}] {text}", file=self.out, flush=True)

    def segment(self, run: SegmentRun) -> None:
        step, total = run.step, len(self.rehearsal.plan.steps)
        self._say(f"segment {step.index + 1}/{total} {step.id} ({step.kind.value}, {step.target_s:.1f} s), "
                  f"on air from '{step.venue}'")

    def note(self, text: str) -> None:
        self._say(text)

    def finding(self, finding: Finding) -> None:
        self._say(f"FINDING {finding.kind} [{finding.segment or '-'}] [{finding.venue or '-'}] {finding.message}")

    def outcome(self, outcome: DrillOutcome) -> None:
        self._say(f"drill {outcome.drill} '{outcome.venue}': {outcome.message}")


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
        head = Text.assemble(("Rehearsal ", "bold"), (r.conference.conference.title, "bold cyan"),
                             f"  speed {r.options.speed:g}x  elapsed {self.elapsed().strip()} of about "
                             f"{r.plan.total_s:.0f} s")
        if r.rec is not None and r.rec.session_ended is not None:
            line = Text("session ended; checking the last segment")
        elif run is not None:
            into = time.time() - run.started
            line = Text.assemble(f"segment {run.step.index + 1}/{len(r.plan.steps)} ", (run.step.id, "bold"),
                                 f" ({run.step.kind.value})  {into:4.1f}/{run.step.target_s:.1f} s  on air: ",
                                 (state.on_air if state else "?", "bold magenta"))
        else:
            line = Text("joining the venues...")
        return Group(head, line, self._venues(state), *self._lists())

    def _venues(self, state: OperatorState | None) -> Table:
        r = self.rehearsal
        counts: dict[str, int] = {}
        for f in self.findings:
            if f.venue:
                counts[f.venue] = counts.get(f.venue, 0) + 1
        table = Table(box=None, pad_edge=False, header_style="bold")
        for column in ("venue", "state", "server", "shows", "frames", "loss", "findings"):
            table.add_column(column)
        for venue in r.conference.venues:
            view = state.venues.get(venue.id) if state else None
            sim = r.fleet.venues.get(venue.id) if r.fleet else None
            if venue.id in r.options.drills.absent:
                local = Text("absent", "yellow")
            elif sim is None or sim.agent is None:
                local = Text("dropped", "red")
            else:
                local = Text("connected", "green") if sim.connected else Text("joining", "yellow")
            server = "on air" if view and view.on_air else ("connected" if view and view.connected else "-")
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
        lines += [Text(f"drill {o.drill} '{o.venue}': {o.message}", "yellow") for o in self.outcomes[-SHOWN_OUTCOMES:]]
        lines += [Text(f"FINDING {f.kind} [{f.segment or '-'}] [{f.venue or '-'}] {f.message}", "bold red")
                  for f in self.findings[-SHOWN_FINDINGS:]]
        if len(self.findings) > SHOWN_FINDINGS:
            lines.append(Text(f"... {count(len(self.findings), 'finding')} so far", "red"))
        return lines


def progress_for(console: Console) -> Progress:
    """A live table on a terminal; plain lines otherwise."""
    return LiveProgress(console) if console.is_terminal else LineProgress(console.file)
