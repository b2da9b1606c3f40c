"""The session: a conference's state, driven by commands, rebuilt by replaying events.

Theory of operation
-------------------
`Session.handle(command, now)` first checks the command against the session phase
(`ALLOWED_PHASES`, a table), then the decider for the command type checks it against
the state and emits events (`decide.py`). Each emitted event is applied at once
(`apply.py`), and only when the decider returns without refusing does the session take
the new state, so a refused command never changes anything. `handle` returns the events.

The state is immutable: `Session.state` can be handed to any adapter as it is.
`Session.replay(conference, events)` is the one way to rebuild a session from a log: a
replayed session equals the live one.

Time is passed in (`now`, unix seconds); the core never reads a clock. What runs on time
(a called roll call's call, polling, the wall's pages) moves on when the runtime sends
`Tick`; `next_deadline()` says when the next thing is due.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ..conference import Conference
from . import commands as c
from . import events as e
from .apply import apply, initial_state
from .decide import ALLOWED_PHASES, DECIDERS, WRONG_PHASE, Decision
from .main_return import MainReturnView, main_return_view
from .state import SegmentStatus, SessionPhase, SessionState
from .timers import next_deadline


@dataclass(frozen=True)
class SegmentTiming:
    id: str
    status: str
    planned: float
    elapsed: float
    remaining: float
    overrun: float  # seconds past planned (0 when within)


@dataclass(frozen=True)
class SessionTiming:
    now: float
    segments: tuple[SegmentTiming, ...]
    current: SegmentTiming | None
    planned_end: float  # scheduled start + total planned
    projected_end: float  # from now and what remains


class Session:
    """A conference's live session. Drive it with `handle`; rebuild it with `replay`."""

    def __init__(self, conference: Conference):
        self.conference = conference
        self._index = {s.id: i for i, s in enumerate(conference.agenda)}
        self._state = initial_state(
            conference.conference.id, [s.id for s in conference.agenda], [v.id for v in conference.venues],
            conference.main_venue.id,
        )

    @property
    def state(self) -> SessionState:
        """The current state (immutable: keep it, share it, it will not change)."""
        return self._state

    @classmethod
    def replay(cls, conference: Conference, events: Iterable[e.Event]) -> Session:
        """The session these events built. Raises ReplayError at the first event that does not fit."""
        session = cls(conference)
        for event in events:
            session.apply(event)
        return session

    def handle(self, command: c.Command, now: float) -> list[e.Event]:
        """Decide and apply one command. Raises CommandRejected (state unchanged)."""
        decision = Decision(self.conference, self._index, self._state, command, now)
        phase = self._state.phase
        if phase not in ALLOWED_PHASES[type(command)]:
            decision.reject(WRONG_PHASE[phase], phase=phase.value)
        DECIDERS[type(command)](decision, command)
        self._state = decision.state
        return decision.events

    def apply(self, event: e.Event) -> None:
        """Change the state by one event (live or replayed). Raises ReplayError if it does not fit."""
        self._state = apply(self._state, event)

    def next_deadline(self) -> float | None:
        """When something is next due (send `Tick` then); None: nothing runs on time now."""
        return next_deadline(self._state, self.conference)

    def next_segment_venue(self) -> str | None:
        """The venue the next segment goes on air from: the first segment's before the session
        starts, None once the last segment runs or the session ended."""
        st = self._state
        if st.phase is SessionPhase.ENDED:
            return None
        index = self._index[st.current] + 1 if st.current is not None else 0
        agenda = self.conference.agenda
        return self.conference.segment_venue(agenda[index]) if index < len(agenda) else None

    def main_return(self) -> MainReturnView:
        """What the main venue should receive now."""
        return main_return_view(self._state, self.conference)

    def timing(self, now: float) -> SessionTiming:
        st = self._state
        rows = []
        for seg, cfg in zip(st.segments, self.conference.agenda):
            elapsed = seg.elapsed_at(now)
            open_ = seg.status in (SegmentStatus.PENDING, SegmentStatus.RUNNING)
            rows.append(
                SegmentTiming(
                    id=seg.id,
                    status=seg.status.value,
                    planned=cfg.planned,
                    elapsed=elapsed,
                    remaining=max(cfg.planned - elapsed, 0.0) if open_ else 0.0,
                    overrun=max(elapsed - cfg.planned, 0.0),
                )
            )
        scheduled = self.conference.starts_at.timestamp()
        planned_end = scheduled + self.conference.planned_total
        if st.phase is SessionPhase.SCHEDULED:
            projected = max(now, scheduled) + self.conference.planned_total
        elif st.phase is SessionPhase.RUNNING:
            projected = now + sum(r.remaining for r in rows)
        else:
            projected = st.ended_at or now
        current = rows[self._index[st.current]] if st.current else None
        return SessionTiming(now, tuple(rows), current, planned_end, projected)
