"""What the core raises: a refused command (with a machine code), or a log that does not fit."""

from __future__ import annotations

from collections.abc import Mapping

Param = str | int | float | None


class CommandRejected(Exception):
    """A command the session refuses in its current state, in codes.

    `code` says why, for machines (`not_connected`, `link_poor_needs_confirm`, ...), and
    `params` are the values of the reason; `action` is the refused command's type and
    `action_params` its values (what it was trying to do). The sentence for people is the
    adapters' to make in the reader's language (`orchestrator.sentences.refusal`);
    `str(exc)` is the English one, for logs and tests.
    """

    def __init__(self, code: str, params: Mapping[str, Param] | None = None, *, action: str | None = None,
                 action_params: Mapping[str, Param] | None = None):
        self.code = code
        self.params: dict[str, Param] = dict(params or {})
        self.action = action
        self.action_params: dict[str, Param] = dict(action_params or {})
        super().__init__(code, self.params)

    def __str__(self) -> str:
        from ..sentences import refusal  # the sentences are no part of the core: English on demand

        return refusal("en", self)


class ReplayError(Exception):
    """An event that cannot be applied to the state (a log that does not fit the conference)."""
