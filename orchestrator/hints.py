"""The one did-you-mean rule, for every message that names something unknown."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def closest(value: str, choices: Iterable[str], cutoff: float = 0.7) -> str | None:
    """The choice that `value` was most likely meant to be, if one is close enough."""
    found = difflib.get_close_matches(value, list(choices), n=1, cutoff=cutoff)
    return found[0] if found else None


def did_you_mean(value: str, choices: Iterable[str], cutoff: float = 0.7) -> str:
    """' (did you mean 'x'?)' or '' — ready to append to a sentence."""
    match = closest(value, choices, cutoff)
    return f" (did you mean '{match}'?)" if match else ""
