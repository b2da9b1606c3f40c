"""Who each receiver gets, whichever media plane forwards it: the program's rules in one place.

Every venue receives, as separate streams (no mixing):

- program video: the on-air venue; the on-air venue itself receives the main venue;
- program audio: the on-air venue (unless muted, or it is the receiving venue itself);
- main audio: the main venue when it is not on air (so the theatre's chair is heard).

The main venue's return changes what the main venue alone receives: its program video
shows the return's venue instead of the program, and each of its wall slots one venue's
camera. A monitor slot shows the venue chosen for it. A source that does not send (yet)
is never chosen: the stream then carries nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum


class Role(str, Enum):
    PROGRAM_VIDEO = "program_video"
    PROGRAM_AUDIO = "program_audio"
    MAIN_AUDIO = "main_audio"
    MONITOR_VIDEO = "monitor_video"  # the operator's view of one venue's camera
    WALL_VIDEO = "wall_video"  # one tile of the main venue's wall


@dataclass(frozen=True)
class Program:
    """What the session puts on the venues' screens and speakers now."""

    main: str
    on_air: str
    muted: frozenset[str] = frozenset()
    return_video: str | None = None  # what the main venue's program video shows instead of the program
    wall: tuple[str, ...] = field(default=())  # the main venue's wall: the venue of each slot, in order


def choose_source(program: Program, role: Role, receiver: str | None, sending: Callable[[str], bool],
                  slot: int | None = None, fixed: str | None = None) -> str | None:
    """The venue whose camera or microphone a stream of `role` to `receiver` (a venue, None for
    a monitor or the recorder) carries now; `sending(venue)`: whether that venue sends this kind."""
    on_air, main = program.on_air, program.main
    wanted: str | None
    if role is Role.MONITOR_VIDEO:
        wanted = fixed
    elif role is Role.WALL_VIDEO:
        slot = slot if slot is not None else len(program.wall)
        wanted = program.wall[slot] if receiver == main and slot < len(program.wall) else None
    elif role is Role.PROGRAM_VIDEO and receiver == main and program.return_video is not None \
            and sending(program.return_video):
        wanted = program.return_video
    elif role is Role.PROGRAM_VIDEO:
        wanted = on_air if receiver != on_air else (main if main != receiver else None)
    elif role is Role.PROGRAM_AUDIO:
        wanted = on_air if receiver != on_air and on_air not in program.muted else None
    else:  # MAIN_AUDIO
        wanted = main if main not in (on_air, receiver) and main not in program.muted else None
    return wanted if wanted is not None and sending(wanted) else None
