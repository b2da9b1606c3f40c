"""What the core raises: a refused command (with a machine code), or a log that does not fit."""

from __future__ import annotations

Param = str | int | float | None


class CommandRejected(Exception):
    """A command the session refuses in its current state.

    `code` says why, for machines (`not_connected`, `link_poor_needs_confirm`, ...);
    `params` are the values a translated sentence needs; `str(exc)` is the English
    sentence, which also says what the command was trying to do.
    """

    def __init__(self, reason: str, code: str = "rejected", params: dict[str, Param] | None = None):
        self.reason = reason
        self.code = code
        self.params: dict[str, Param] = dict(params or {})
        super().__init__(reason)


class ReplayError(Exception):
    """An event that cannot be applied to the state (a log that does not fit the conference)."""
