"""What the program router reports for monitoring (its `MediaObserver`): the time from a take to
the keyframe that cuts the program over, keyframe requests, forwarded frames. Pure: a fake clock."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from orchestrator.media.router import ProgramRouter
from tests.conftest import FakeClock
from tests.unit.test_router import VENUES, Rig, add_venue, inter, key


@dataclass
class Heard:
    """A `MediaObserver` that remembers what it heard."""

    switches: list[tuple[str, float]] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    sent: list[tuple[str, int, int]] = field(default_factory=list)

    def switched(self, venue: str, seconds: float) -> None:
        self.switches.append((venue, round(seconds, 6)))

    def keyframe_requested(self, venue: str) -> None:
        self.requests.append(venue)

    def forwarded(self, kind: str, frames: int, size: int) -> None:
        self.sent.append((kind, frames, size))


@pytest.fixture
def heard_rig() -> tuple[Rig, Heard]:
    """Venues main, a and b with main on air and every picture flowing; nothing heard yet."""
    clock, heard = FakeClock(), Heard()
    rig = Rig(clock, ProgramRouter("main", clock=clock, observer=heard))
    for venue in VENUES:
        add_venue(rig, venue)
    rig.keyframes_from_all()
    rig.drain_all()
    heard.switches.clear(), heard.requests.clear(), heard.sent.clear()
    return rig, heard


def test_a_take_is_timed_until_the_new_venues_keyframe_is_forwarded(heard_rig):
    rig, heard = heard_rig
    rig.router.set_program("a", set())
    assert heard.requests == ["a"]  # asked at once
    rig.clock.advance(0.2)
    rig.video("a", inter("a1"))  # not a keyframe: the program still waits
    assert heard.switches == []
    rig.clock.advance(0.1)
    rig.video("a", key("a2"))
    assert heard.switches == [("a", 0.3)]
    rig.clock.advance(1)
    rig.video("a", key("a3"))  # later keyframes are no switch
    assert heard.switches == [("a", 0.3)]


def test_a_take_overtaken_before_its_keyframe_is_timed_from_the_last_take(heard_rig):
    rig, heard = heard_rig
    rig.router.set_program("a", set())
    rig.clock.advance(0.5)
    rig.router.set_program("b", set())
    rig.clock.advance(0.2)
    rig.video("a", key("a"))  # a's keyframe: nobody waits for it any more (main waits for b)
    rig.video("b", key("b"))
    assert heard.switches == [("b", 0.2)]


def test_forwarded_frames_are_counted_per_receiver(heard_rig):
    rig, heard = heard_rig
    rig.video("main", inter("m"))  # a and b receive main's picture
    rig.audio("main", b"opus")  # and its sound
    rig.video("a", inter("a"))  # nobody receives a
    assert heard.sent == [("video", 2, 6), ("audio", 2, 8)]  # payload bytes: the video's with its descriptor
