"""The session core: pure and synchronous. Commands in, events out, time passed in.

No asyncio, network, clock or disk here; adapters (web, media, store, rehearsal) call
`Session.handle(command, now)` and act on the events it returns.
"""

from . import commands, events
from .errors import CommandRejected, ReplayError
from .main_return import MainReturnView, main_return_view
from .session import SegmentTiming, Session, SessionTiming
from .state import SessionPhase, SessionState

__all__ = [
    "CommandRejected",
    "MainReturnView",
    "ReplayError",
    "SegmentTiming",
    "Session",
    "SessionPhase",
    "SessionState",
    "SessionTiming",
    "commands",
    "events",
    "main_return_view",
]
