"""The session host: the one way a command reaches the core.

command -> core (decide) -> event log (append, durable) -> listeners (media, sockets).
Listeners run after the events are on disk, so nothing is shown or switched that a
restart would not restore. They run in the order they were added; a listener that
fails is logged (`listener_failed`) and the others still run: the command is applied
either way, so its caller is told it was.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from .config import Conference
from .core import SessionState
from .core.commands import Command
from .core.events import Event
from .event_log import EventLog
from .logs import get_logger

Listener = Callable[[list[Event], SessionState], None]

log = get_logger(component="session")


class LiveSession:
    def __init__(self, conference: Conference, event_log: EventLog, clock: Callable[[], float] = time.time):
        self.conference = conference
        self.log = event_log
        self.clock = clock
        self.session = event_log.replay(conference)
        self._listeners: list[tuple[str, Listener]] = []

    @property
    def state(self) -> SessionState:
        return self.session.state

    @property
    def listener_names(self) -> list[str]:
        """The listeners, in the order they run."""
        return [name for name, _ in self._listeners]

    def add_listener(self, name: str, listener: Listener) -> None:
        """Run `listener(events, state)` after every applied command, after those added before."""
        if name in self.listener_names:
            raise ValueError(f"there is already a listener called {name!r}")
        self._listeners.append((name, listener))

    def execute(self, command: Command, command_id: str | None = None) -> list[Event]:
        """Run one command. Raises CommandRejected (nothing changed) or the log's error
        (nothing changed either); once the events are on disk, it returns them."""
        if command_id is not None and self.log.has_command(command_id):
            log.info("command_repeated", command=command.type, command_id=command_id)
            return []
        events = self.session.handle(command, self.clock())
        if not events:
            return events
        try:
            self.log.append(events, command_id)
        except Exception:
            # not durable, so not done: rebuild the state from what is on disk
            self.session = self.log.replay(self.conference)
            raise
        for event in events:
            log.info(event.type, **event.model_dump(exclude={"type", "at"}, mode="json"))
        for name, listener in list(self._listeners):
            try:
                listener(events, self.session.state)
            except Exception:
                log.exception("listener_failed", listener=name, command=command.type)
        return events
