"""The session host: the one way a command reaches the core.

command -> core (decide) -> event log (append, durable) -> listeners (media, sockets).
Listeners run after the events are on disk, so nothing is shown or switched that a
restart would not restore.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from .config import Conference
from .core import SessionState
from .core.commands import Command
from .core.events import Event
from .logs import get_logger
from .event_log import EventLog

Listener = Callable[[list[Event], SessionState], None]

log = get_logger(component="session")


class LiveSession:
    def __init__(self, conference: Conference, event_log: EventLog, clock: Callable[[], float] = time.time):
        self.conference = conference
        self.log = event_log
        self.clock = clock
        self.session = event_log.replay(conference)
        self.listeners: list[Listener] = []

    @property
    def state(self) -> SessionState:
        return self.session.state

    def execute(self, command: Command, command_id: str | None = None) -> list[Event]:
        """Run one command. Raises CommandRejected (nothing changed) or the log's error."""
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
        for listener in list(self.listeners):
            listener(events, self.session.state)
        return events
