"""The rehearsal plan: the agenda turned into timed steps on the wall clock.

Each segment runs for `planned / speed` seconds, but never less than the switch
threshold plus `MIN_MARGIN_S`, so every take can be checked before the next one. A
segment with a drop drill is stretched so the venue can drop after the take was
checked, stay away for the drill's seconds, and rejoin before the segment ends.
Award presentations step through every recipient, spread evenly over the segment.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..config import Conference, Segment, SegmentKind
from .drills import Drills, Drop

MIN_MARGIN_S = 1.0  # a segment lasts at least threshold + this
DROP_LEAD_S = 1.0  # a drop comes at least threshold + this after the segment started
REJOIN_ALLOWANCE_S = 3.0  # from the venue's return to the end of its segment


@dataclass(frozen=True)
class AwardStep:
    award: str
    title: str
    recipient: str
    venue: str | None
    at_s: float  # seconds after the segment started


@dataclass(frozen=True)
class DropStep:
    drop: Drop
    at_s: float  # seconds after the segment started


@dataclass(frozen=True)
class Step:
    index: int
    segment: Segment
    venue: str  # the venue the file puts on air
    target_s: float  # wall-clock seconds the segment runs
    roll_call: tuple[str, ...]  # the listed venues, for a roll call
    awards: tuple[AwardStep, ...]
    drops: tuple[DropStep, ...]

    @property
    def id(self) -> str:
        return self.segment.id

    @property
    def kind(self) -> SegmentKind:
        return self.segment.kind


@dataclass(frozen=True)
class Plan:
    steps: tuple[Step, ...]
    speed: float
    threshold_s: float

    @property
    def total_s(self) -> float:
        return sum(s.target_s for s in self.steps)

    def step(self, segment: str) -> Step:
        return next(s for s in self.steps if s.id == segment)


def make_plan(conf: Conference, speed: float, threshold_s: float, drills: Drills) -> Plan:
    if speed <= 0 or threshold_s <= 0:
        raise ValueError("speed and threshold must be positive")
    steps = []
    for index, segment in enumerate(conf.agenda):
        drops = drills.drops_in(segment.id)
        lead = threshold_s + DROP_LEAD_S
        target = max(segment.planned / speed, threshold_s + MIN_MARGIN_S)
        if drops:
            target = max(target, lead + max(d.seconds for d in drops) + REJOIN_ALLOWANCE_S)
        drop_steps = tuple(
            DropStep(d, max(lead, min(target / 2, target - d.seconds - REJOIN_ALLOWANCE_S))) for d in drops
        )
        steps.append(
            Step(
                index=index,
                segment=segment,
                venue=conf.segment_venue(segment),
                target_s=target,
                roll_call=conf.roll_call_venues(segment) if segment.kind is SegmentKind.ROLL_CALL else (),
                awards=_awards(conf, segment, target),
                drops=drop_steps,
            )
        )
    return Plan(tuple(steps), speed, threshold_s)


def _awards(conf: Conference, segment: Segment, target_s: float) -> tuple[AwardStep, ...]:
    if segment.kind is not SegmentKind.AWARD_PRESENTATION:
        return ()
    pairs = [(conf.award_by_id[a], r) for a in segment.awards or () for r in conf.award_by_id[a].recipients]
    return tuple(
        AwardStep(award.id, award.title, r.name, r.venue, target_s * (i + 0.5) / len(pairs))
        for i, (award, r) in enumerate(pairs)
    )
