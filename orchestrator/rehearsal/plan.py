"""The rehearsal plan: the agenda turned into timed steps on the wall clock.

Each segment runs for `planned / speed` seconds, but never less than the switch
threshold plus `MIN_MARGIN_S`, so every take can be checked before the next one. A
segment with a drop drill is stretched so the venue can drop after the take was
checked, stay away for the drill's seconds, and rejoin before the segment ends.
Award presentations step through every recipient, spread evenly over the segment.

What runs on the session's own clock is not compressed, since the venues must be seen
following it: a called roll call takes as long as its venues (each simulated venue
answers `call_answer_s` after it is called, long enough for every venue's picture to be
checked; one that never answers holds it for `per_venue`); a segment that polls is
stretched to `POLLING_STEPS` steps of its dwell, and one whose wall has more than one
page to two pages.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..conference import DEFAULT_PAGE_EVERY_S, ReturnMode, RollCallMode, SegmentPolling
from ..config import Conference, Segment, SegmentKind
from .drills import Drills, Drop

MIN_MARGIN_S = 1.0  # a segment lasts at least threshold + this
DROP_LEAD_S = 1.0  # a drop comes at least threshold + this after the segment started
REJOIN_ALLOWANCE_S = 3.0  # from the venue's return to the end of its segment
CALL_MARGIN_S = 0.5  # a called venue answers threshold + this after it is called
POLLING_STEPS = 3  # a polling segment runs long enough for this many steps (or every venue, if fewer)
WALL_PAGES = 2  # a paging wall is seen turning to its second page


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
    roll_call_mode: RollCallMode | None = None
    polling: SegmentPolling | None = None

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
    def call_answer_s(self) -> float:
        """How long after it is called a simulated venue answers (longer than the threshold,
        so every venue's switch to it is measured)."""
        return call_answer_s(self.threshold_s)

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
        target = max(target, _own_clock_s(conf, segment, threshold_s, drills))
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
                roll_call_mode=segment.roll_call_mode if segment.kind is SegmentKind.ROLL_CALL else None,
                polling=segment.polling,
            )
        )
    return Plan(tuple(steps), speed, threshold_s)


def call_answer_s(threshold_s: float) -> float:
    return threshold_s + CALL_MARGIN_S


def _own_clock_s(conf: Conference, segment: Segment, threshold_s: float, drills: Drills) -> float:
    """Seconds the segment needs for what runs on the session's clock (0: nothing does)."""
    need = 0.0
    if segment.kind is SegmentKind.ROLL_CALL and segment.roll_call_mode is RollCallMode.CALLED:
        listed = [v for v in conf.roll_call_venues(segment) if v not in drills.absent]
        need = sum(segment.roll_call_per_venue if v in drills.silent else call_answer_s(threshold_s) for v in listed)
    if segment.polling is not None:
        venues = conf.listed_branches(segment.polling.venues)
        need = max(need, segment.polling.dwell * (min(POLLING_STEPS, len(venues)) - 1))
    wall = segment.main_return
    if wall is not None and wall.mode is ReturnMode.WALL and wall.layout is not None:
        shown = [v for v in conf.listed_branches(wall.venues) if v not in drills.absent]
        if len(shown) > wall.layout.tiles:
            need = max(need, (wall.page_every or DEFAULT_PAGE_EVERY_S) * (WALL_PAGES - 1))
    return need + threshold_s + MIN_MARGIN_S if need else 0.0


def _awards(conf: Conference, segment: Segment, target_s: float) -> tuple[AwardStep, ...]:
    if segment.kind is not SegmentKind.AWARD_PRESENTATION:
        return ()
    pairs = [(conf.award_by_id[a], r) for a in segment.awards or () for r in conf.award_by_id[a].recipients]
    return tuple(
        AwardStep(award.id, award.title, r.name, r.venue, target_s * (i + 0.5) / len(pairs))
        for i, (award, r) in enumerate(pairs)
    )
