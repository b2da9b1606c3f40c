"""What the main venue's return shows now.

The main venue (the theatre) receives the program like every venue, or one branch venue,
or a wall of branch venues composed on its own page from forwarded streams (never on the
server), or the venue main-return polling is on. `main_return_view` says which, now:
a single venue that is not connected, or a wall with no connected venue, shows the
program instead. A wall lists only connected venues, in the order the conference file
lists them, a page of `layout.tiles` at a time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..conference import Conference, ReturnMode, WallLayout
from .events import MainReturnMode
from .state import SessionState


@dataclass(frozen=True)
class MainReturnView:
    """What the main venue receives now.

    `shows`: `program` (what every venue sees; `venue` is the venue on air), `single`
    (`venue`), or `wall` (`tiles` of page `page` of `pages`, in `layout`). `mode` is what
    the return is set to (a single venue that dropped is set `single` but shows `program`).
    """

    mode: MainReturnMode
    shows: ReturnMode
    venue: str | None = None
    layout: WallLayout | None = None
    tiles: tuple[str, ...] = ()
    page: int = 0
    pages: int = 0


def wall_venues(state: SessionState, conference: Conference) -> tuple[str, ...]:
    """The wall's venues that are connected, in the file's order."""
    listed = conference.listed_branches(state.main_return.venues)
    return tuple(v for v in listed if state.venues[v].connected)


def wall_pages(state: SessionState, conference: Conference) -> int:
    """How many pages the wall has now (0 when it is not a wall or no venue on it is connected)."""
    mr = state.main_return
    if mr.mode is not MainReturnMode.WALL or mr.layout is None:
        return 0
    return math.ceil(len(wall_venues(state, conference)) / mr.layout.tiles)


def main_return_view(state: SessionState, conference: Conference) -> MainReturnView:
    mr = state.main_return
    connected = {v for v, vs in state.venues.items() if vs.connected}
    if mr.mode is MainReturnMode.SINGLE and mr.venue in connected:
        return MainReturnView(mr.mode, ReturnMode.SINGLE, venue=mr.venue)
    if mr.mode is MainReturnMode.POLLING and state.polling is not None and state.polling.current in connected:
        return MainReturnView(mr.mode, ReturnMode.SINGLE, venue=state.polling.current)
    pages = wall_pages(state, conference)
    if pages and mr.layout is not None:
        page = mr.page % pages
        size = mr.layout.tiles
        tiles = wall_venues(state, conference)[page * size:(page + 1) * size]
        return MainReturnView(mr.mode, ReturnMode.WALL, layout=mr.layout, tiles=tiles, page=page, pages=pages)
    return MainReturnView(mr.mode, ReturnMode.PROGRAM, venue=state.on_air)
