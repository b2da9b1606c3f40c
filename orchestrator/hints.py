"""The one did-you-mean rule, for every message that names something unknown."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from .i18n import N_, Phrase, phrase

DID_YOU_MEAN = N_(" (did you mean '{suggestion}'?)")  # also said after the session's refusals


def closest(value: str, choices: Iterable[str], cutoff: float = 0.7) -> str | None:
    """The choice that `value` was most likely meant to be, if one is close enough."""
    found = difflib.get_close_matches(value, list(choices), n=1, cutoff=cutoff)
    return found[0] if found else None


def suggestion(value: str, choices: Iterable[str], cutoff: float = 0.7) -> Phrase | str:
    """The phrase " (did you mean 'x'?)", or '' — a parameter of a phrase, said after its sentence."""
    match = closest(value, choices, cutoff)
    return phrase(DID_YOU_MEAN, suggestion=match) if match else ""


def did_you_mean(value: str, choices: Iterable[str], cutoff: float = 0.7) -> str:
    """' (did you mean 'x'?)' or '' — ready to append to an English sentence."""
    return str(suggestion(value, choices, cutoff))
