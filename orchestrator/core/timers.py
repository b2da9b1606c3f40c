"""When the session's timers are due.

Three things run on time: a called roll call's call, the next polling step and the
wall's next page. `next_deadline` says when the first of them is due, so the runtime can
sleep until then and send `Tick`; the `Tick` decider asks the same functions, so a
`Tick` at or after `next_deadline` always does something (the runtime never spins).
"""

from __future__ import annotations

from ..conference import Conference
from .main_return import wall_pages
from .state import RollCallPhase, RollCallState, SessionState


def running_roll_call(state: SessionState) -> RollCallState | None:
    """The current segment's roll call while it runs (only the current segment's can run)."""
    rc = state.roll_calls.get(state.current) if state.current else None
    return rc if rc is not None and rc.phase is RollCallPhase.RUNNING else None


def call_due_at(state: SessionState) -> float | None:
    """When the called venue's time runs out (None: no call is running, or it is paused)."""
    rc = running_roll_call(state)
    return rc.call_deadline if rc is not None and rc.call_running else None


def polling_due_at(state: SessionState) -> float | None:
    polling = state.polling
    return polling.next_at if polling is not None and not polling.paused else None


def wall_due_at(state: SessionState, conference: Conference) -> float | None:
    """When the wall turns its page (None: it has one page or none, nothing to turn)."""
    return state.main_return.next_page_at if wall_pages(state, conference) > 1 else None


def next_deadline(state: SessionState, conference: Conference) -> float | None:
    due = [t for t in (call_due_at(state), polling_due_at(state), wall_due_at(state, conference)) if t is not None]
    return min(due, default=None)
