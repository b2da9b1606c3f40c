"""The server's event loop: uvloop (libuv; its datagram reads and sends run in C) or asyncio's own.

uvloop is the default: the embedded SFU sends and receives every RTP packet through the
loop's datagram transports, and uvloop's cost less per packet. Where uvloop cannot be
imported, asyncio's own loop runs instead (and says so in the log).
"""

from __future__ import annotations

import asyncio

from .logs import get_logger
from .settings import EventLoopChoice

log = get_logger(component="event_loop")


def new_event_loop(choice: EventLoopChoice) -> tuple[asyncio.AbstractEventLoop, EventLoopChoice]:
    """A new event loop of the kind chosen, and the kind it is (asyncio when uvloop cannot be imported)."""
    if choice == "uvloop":
        try:
            import uvloop
        except ImportError as exc:
            log.warning("event_loop_fallback", wanted="uvloop", running="asyncio", reason=str(exc))
        else:
            return uvloop.new_event_loop(), "uvloop"
    return asyncio.new_event_loop(), "asyncio"
