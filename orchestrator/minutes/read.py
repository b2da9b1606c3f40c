"""Read a conference's event log for its minutes: read-only, without the lock, so a running
server's session can be written up while it goes on."""

from __future__ import annotations

from pathlib import Path

from ..conference import Conference
from ..event_log import EventLog
from ..i18n import Language
from .build import build_minutes
from .model import Minutes


def read_minutes(conference: Conference, path: str | Path, now: float, lang: Language | None = None) -> Minutes:
    """The minutes of the session in the log at `path`, up to its end or to `now`.

    Raises LogError, in the words `serve` uses, for a log of another conference, one that
    is damaged, or one that does not fit the conference file."""
    with EventLog(path, conference.conference.id, read_only=True) as log:
        return log.replay_with(lambda events: build_minutes(conference, events, now, lang))
