"""Fault drills: parse `--absent`, `--no-answer`, `--drop` and `--loss` and check them against the conference.

- `--absent VENUE`: the venue never joins.
- `--no-answer VENUE`: the venue joins but never answers the roll call (a called roll call
  records it `no_answer` when its time runs out; a check records it absent).
- `--drop VENUE@SEGMENT[:SECONDS]`: the venue loses its connection during the segment and
  comes back SECONDS later (default 3).
- `--loss VENUE:PERCENT`: that percentage of the venue's uplink RTP packets is lost.

The main venue can be neither absent nor dropped: it is where the program falls back to.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from ..config import Conference
from ..hints import did_you_mean

DEFAULT_DROP_S = 3.0


class DrillError(ValueError):
    """A drill option that cannot be used; the message says which and why."""


@dataclass(frozen=True)
class Drop:
    venue: str
    segment: str
    seconds: float = DEFAULT_DROP_S

    @property
    def spec(self) -> str:
        return f"{self.venue}@{self.segment}:{self.seconds:g}"


@dataclass(frozen=True)
class Drills:
    absent: frozenset[str] = frozenset()
    drops: tuple[Drop, ...] = ()
    loss: dict[str, float] = field(default_factory=dict)
    silent: frozenset[str] = frozenset()  # --no-answer

    def drops_in(self, segment: str) -> list[Drop]:
        return [d for d in self.drops if d.segment == segment]

    def for_venue(self, venue: str) -> list[str]:
        return [d for d in self.describe() if d.split(" ", 1)[1].partition("@")[0].partition(":")[0] == venue]

    def describe(self) -> list[str]:
        return (
            [f"--absent {v}" for v in sorted(self.absent)]
            + [f"--no-answer {v}" for v in sorted(self.silent)]
            + [f"--drop {d.spec}" for d in self.drops]
            + [f"--loss {v}:{pct:g}" for v, pct in self.loss.items()]
        )


def _hint(value: str, choices: Iterable[str]) -> str:
    return did_you_mean(value, choices, cutoff=0.6)


def _venue(conf: Conference, value: str, option: str, spec: str, main_cannot: str | None = None) -> str:
    if value not in conf.venue_by_id:
        raise DrillError(f"{option} {spec}: there is no venue '{value}' in this conference{_hint(value, conf.venue_by_id)}")
    if main_cannot and value == conf.main_venue.id:
        raise DrillError(f"{option} {spec}: the main venue cannot {main_cannot}: the program falls back to it")
    return value


def _number(text: str, option: str, spec: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise DrillError(f"{option} {spec}: {what} must be a number, not '{text}'") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise DrillError(f"{option} {spec}: {what} must be a finite number")
    return value


def parse_drop(conf: Conference, spec: str) -> Drop:
    venue, at, rest = spec.partition("@")
    if not at or not venue or not rest:
        raise DrillError(f"--drop {spec}: write it as VENUE@SEGMENT or VENUE@SEGMENT:SECONDS")
    segment, colon, seconds_text = rest.partition(":")
    _venue(conf, venue, "--drop", spec, "drop")
    if segment not in conf.segment_by_id:
        raise DrillError(f"--drop {spec}: there is no segment '{segment}' in the agenda{_hint(segment, conf.segment_by_id)}")
    seconds = DEFAULT_DROP_S
    if colon:
        seconds = _number(seconds_text, "--drop", spec, "SECONDS")
        if not 0 < seconds <= 60:
            raise DrillError(f"--drop {spec}: SECONDS must be more than 0 and at most 60")
    return Drop(venue, segment, seconds)


def parse_loss(conf: Conference, spec: str) -> tuple[str, float]:
    venue, colon, pct_text = spec.partition(":")
    if not colon or not venue:
        raise DrillError(f"--loss {spec}: write it as VENUE:PERCENT, e.g. pinghu:10")
    _venue(conf, venue, "--loss", spec)
    pct = _number(pct_text.rstrip("%"), "--loss", spec, "PERCENT")
    if not 0 < pct < 100:
        raise DrillError(f"--loss {spec}: PERCENT must be more than 0 and less than 100")
    return venue, pct


def parse_drills(conf: Conference, absent: Iterable[str] = (), drops: Iterable[str] = (), loss: Iterable[str] = (),
                 no_answer: Iterable[str] = ()) -> Drills:
    """Parse the command line's drill options; raises DrillError with a sentence naming the option."""
    absent_set: set[str] = set()
    for venue in absent:
        _venue(conf, venue, "--absent", venue, "be absent")
        if venue in absent_set:
            raise DrillError(f"--absent {venue}: given twice")
        absent_set.add(venue)
    silent: set[str] = set()
    for venue in no_answer:
        _venue(conf, venue, "--no-answer", venue, "be on the roll call")
        if venue in absent_set:
            raise DrillError(f"--no-answer {venue}: '{venue}' is absent, so it hears no roll call")
        if venue in silent:
            raise DrillError(f"--no-answer {venue}: given twice")
        silent.add(venue)
    parsed_drops: list[Drop] = []
    for spec in drops:
        drop = parse_drop(conf, spec)
        if drop.venue in absent_set:
            raise DrillError(f"--drop {spec}: '{drop.venue}' is absent, so it cannot drop")
        if any((d.venue, d.segment) == (drop.venue, drop.segment) for d in parsed_drops):
            raise DrillError(f"--drop {spec}: '{drop.venue}' already drops in '{drop.segment}'")
        parsed_drops.append(drop)
    losses: dict[str, float] = {}
    for spec in loss:
        venue, pct = parse_loss(conf, spec)
        if venue in absent_set:
            raise DrillError(f"--loss {spec}: '{venue}' is absent, so it sends nothing to lose")
        if venue in losses:
            raise DrillError(f"--loss {spec}: a loss for '{venue}' is already given")
        losses[venue] = pct
    order = {s.id: i for i, s in enumerate(conf.agenda)}
    parsed_drops.sort(key=lambda d: order[d.segment])
    return Drills(frozenset(absent_set), tuple(parsed_drops), losses, frozenset(silent))
