"""Reading a conference file: a loader whose errors point at FILE:LINE:COL.

The models live in `orchestrator.conference` (re-exported here for the adapters).

Loading happens in three passes, each reporting every error it finds:

1. YAML syntax (ruamel.yaml keeps the line and column of every node);
2. structure: pydantic validates keys and value types field by field;
3. meaning: cross references (venues, awards), uniqueness, one main venue, kinds.

A later pass runs only when the earlier ones found nothing, so every message is about
something that is really there.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.constructor import RoundTripConstructor
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from .conference import (
    ALL_BRANCHES,
    PAGE_EVERY_RANGE_S,
    POLLING_DWELL_RANGE_S,
    Award,
    Conference,
    ConferenceInfo,
    PollingTarget,
    Recipient,
    ReturnMode,
    RollCallMode,
    Segment,
    SegmentKind,
    Venue,
    VenueKind,
    VenueRole,
    format_duration,
    parse_duration,
)

__all__ = [
    "ALL_BRANCHES", "Award", "Conference", "ConferenceInfo", "ConfigError", "ConfigIssue", "Recipient",
    "Segment", "SegmentKind", "Venue", "VenueKind", "VenueRole", "format_duration", "load_conference",
    "parse_conference", "parse_duration",
]


# --------------------------------------------------------------------------- errors


Loc = tuple[str | int, ...]


def format_loc(loc: Sequence[str | int]) -> str:
    """('agenda', 7, 'venue') -> 'agenda[7].venue'."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


@dataclass(frozen=True)
class ConfigIssue:
    file: str
    line: int  # 1-based
    col: int  # 1-based
    loc: Loc
    message: str

    def __str__(self) -> str:
        where = f"{format_loc(self.loc)}: " if self.loc else ""
        return f"{self.file}:{self.line}:{self.col}: {where}{self.message}"


class ConfigError(Exception):
    """A conference file that cannot be used; `issues` lists every problem found."""

    def __init__(self, issues: list[ConfigIssue]):
        self.issues = issues
        super().__init__("\n".join(str(i) for i in issues))


def _did_you_mean(value: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(value, list(choices), n=1, cutoff=0.7)
    return f" (did you mean '{close[0]}'?)" if close else ""


class _Positions:
    """Find the line and column of a path in the ruamel tree (0-based internally)."""

    def __init__(self, root: Any):
        self.root = root

    def find(self, loc: Loc, *, key: bool = False) -> tuple[int, int]:
        node = self.root
        pos = (getattr(getattr(node, "lc", None), "line", 0) or 0, getattr(getattr(node, "lc", None), "col", 0) or 0)
        for i, part in enumerate(loc):
            last = i == len(loc) - 1
            if isinstance(node, CommentedMap) and part in node:
                pos = node.lc.key(part) if (key and last) else node.lc.value(part)
                node = node[part]
            elif isinstance(node, CommentedSeq) and isinstance(part, int) and 0 <= part < len(node):
                pos = node.lc.item(part)
                node = node[part]
            else:
                break
        return pos


# --------------------------------------------------------------------------- loading


class _Constructor(RoundTripConstructor):
    """Round-trip constructor that leaves timestamps as text (validated by the models)."""


_Constructor.add_constructor("tag:yaml.org,2002:timestamp", _Constructor.construct_yaml_str)

_yaml = YAML(typ="rt")
_yaml.Constructor = _Constructor
_yaml.allow_duplicate_keys = False


def load_conference(path: str | Path) -> Conference:
    """Read and validate a conference file. Raises ConfigError listing every problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError([ConfigIssue(str(path), 1, 1, (), f"cannot read the file: {reason}")]) from None
    return parse_conference(text, str(path))


def parse_conference(text: str, filename: str = "<conference>") -> Conference:
    def issue(line: int, col: int, loc: Loc, message: str) -> ConfigIssue:
        return ConfigIssue(filename, line + 1, col + 1, loc, message)

    try:
        data = _yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line, mark.column) if mark else (0, 0)
        problem = exc.problem or exc.context or "invalid YAML"
        if "duplicate key" in (exc.problem or ""):
            problem = f"duplicate key: {exc.problem.split('duplicate key')[-1].strip()}"
        raise ConfigError([issue(line, col, (), f"YAML syntax error: {problem}")]) from None
    except YAMLError as exc:
        raise ConfigError([issue(0, 0, (), f"YAML syntax error: {exc}")]) from None

    if data is None:
        raise ConfigError([issue(0, 0, (), "the file is empty: expected a conference (conference, venues, agenda)")])
    if not isinstance(data, CommentedMap):
        kind = "a list" if isinstance(data, list) else f"a {type(data).__name__}"
        raise ConfigError(
            [issue(0, 0, (), f"expected a mapping with keys conference, venues, agenda; found {kind}")]
        )

    positions = _Positions(data)
    try:
        conf = Conference.model_validate(_plain(data))
    except ValidationError as exc:
        raise ConfigError(_structural_issues(exc, positions, issue)) from None

    problems = list(_semantic_problems(conf))
    if problems:
        raise ConfigError(
            sorted(
                (issue(*positions.find(loc), loc, message) for loc, message in problems),
                key=lambda i: (i.line, i.col),
            )
        )
    return conf


def _plain(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    return node


def _model_at(loc: Loc) -> type[BaseModel] | None:
    """The model class that owns the mapping at `loc` (for did-you-mean on unknown keys)."""
    model: type[BaseModel] | None = Conference
    for part in loc:
        if model is None or isinstance(part, int):
            continue
        field = model.model_fields.get(str(part))
        if field is None:
            return None
        ann = field.annotation
        args = getattr(ann, "__args__", ())
        candidates = [ann, *args, *(a for arg in args for a in getattr(arg, "__args__", ()))]
        model = next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)
    return model


def _structural_issues(exc: ValidationError, positions: _Positions, issue) -> list[ConfigIssue]:
    found: dict[tuple, ConfigIssue] = {}
    for err in exc.errors(include_url=False):
        loc: Loc = tuple(err["loc"])
        kind = err["type"]
        if kind == "missing":
            parent, name = loc[:-1], loc[-1]
            message = f"missing required key '{name}'"
            line, col = positions.find(parent)
            loc = parent
        elif kind == "extra_forbidden":
            parent, name = loc[:-1], loc[-1]
            model = _model_at(parent)
            hint = _did_you_mean(str(name), model.model_fields) if model else ""
            message = f"unknown key '{name}'{hint}"
            line, col = positions.find(loc, key=True)
            loc = parent
        else:
            # Unions (e.g. `venues: all-branches | [ids]`) report one error per branch,
            # with the branch name inside the loc; strip those and keep one message.
            loc = tuple(p for p in loc if not (isinstance(p, str) and ("[" in p or p.startswith("literal"))))
            message = _value_message(err)
            line, col = positions.find(loc)
        key = (loc, message) if kind in ("missing", "extra_forbidden") else (loc,)
        found.setdefault(key, issue(line, col, loc, message))
    return sorted(found.values(), key=lambda i: (i.line, i.col))


def _value_message(err: dict[str, Any]) -> str:
    kind, value = err["type"], err.get("input")
    if kind in ("slug", "duration", "start_time", "timezone", "date"):
        return err["msg"]
    if kind == "enum":
        expected = err.get("ctx", {}).get("expected", "")
        return f"'{value}' is not one of {expected}"
    if kind == "literal_error" or (kind in ("list_type",) and isinstance(value, str)):
        return f"'{value}' is not valid here: expected 'all-branches' or a list of venue ids"
    if kind == "too_short":
        return "must not be empty"
    if kind in ("string_type", "list_type", "model_type", "dict_type", "model_attributes_type"):
        expected = {"string_type": "text", "list_type": "a list", "model_type": "a mapping"}.get(kind, "a mapping")
        return f"expected {expected}, found {type(value).__name__} '{value}'"
    return err["msg"][0].lower() + err["msg"][1:]


def _semantic_problems(conf: Conference) -> Iterable[tuple[Loc, str]]:
    yield from _duplicates(("venues",), [v.id for v in conf.venues], "venue")
    yield from _duplicates(("awards",), [a.id for a in conf.awards], "award")
    yield from _duplicates(("agenda",), [s.id for s in conf.agenda], "segment")

    mains = [i for i, v in enumerate(conf.venues) if v.role is VenueRole.MAIN]
    if not mains:
        yield ("venues",), "no venue has role: main (exactly one is needed)"
    for i in mains[1:]:
        first = conf.venues[mains[0]].id
        yield ("venues", i, "role"), f"a second main venue: '{first}' is already the main venue"
    main_id = conf.venues[mains[0]].id if mains else None

    venue_ids = [v.id for v in conf.venues]
    award_ids = [a.id for a in conf.awards]

    def unknown_venue(ref: str) -> str:
        return f"unknown venue '{ref}'{_did_you_mean(ref, venue_ids)}"

    for a, award in enumerate(conf.awards):
        for r, recipient in enumerate(award.recipients):
            if recipient.venue is not None and recipient.venue not in venue_ids:
                yield ("awards", a, "recipients", r, "venue"), unknown_venue(recipient.venue)

    for s, seg in enumerate(conf.agenda):
        here = ("agenda", s)
        if seg.venue is not None and seg.venue not in venue_ids:
            yield (*here, "venue"), unknown_venue(seg.venue)
        if seg.venues is not None:
            if seg.kind is not SegmentKind.ROLL_CALL:
                yield (*here, "venues"), f"only a roll_call segment lists venues (this one is {seg.kind.value})"
            elif isinstance(seg.venues, list):
                if not seg.venues:
                    yield (*here, "venues"), "a roll call needs at least one venue"
                yield from _duplicates((*here, "venues"), seg.venues, "venue", indexed=True)
                for v, ref in enumerate(seg.venues):
                    if ref == main_id:
                        yield (*here, "venues", v), f"the roll call is of branch venues; '{ref}' is the main venue"
                    elif ref not in venue_ids:
                        yield (*here, "venues", v), unknown_venue(ref)
        if seg.kind.is_award:
            if not seg.awards:
                yield (*here,), f"an award segment ({seg.kind.value}) needs 'awards': a list of award ids"
        elif seg.awards is not None:
            yield (*here, "awards"), f"only award segments list awards (this one is {seg.kind.value})"
        for a, ref in enumerate(seg.awards or []):
            if ref not in award_ids:
                yield (*here, "awards", a), f"unknown award '{ref}'{_did_you_mean(ref, award_ids)}"
        if seg.awards:
            yield from _duplicates((*here, "awards"), seg.awards, "award", indexed=True)
        yield from _control_room_problems(here, seg, venue_ids, main_id, has_branches=bool(conf.branch_ids))


def _control_room_problems(
    here: Loc, seg: Segment, venue_ids: list[str], main_id: str | None, has_branches: bool
) -> Iterable[tuple[Loc, str]]:
    """Roll-call mode, site polling and the main venue's return on one agenda item."""
    is_roll_call = seg.kind is SegmentKind.ROLL_CALL
    for key in ("mode", "per_venue"):
        if getattr(seg, key) is not None and not is_roll_call:
            yield (*here, key), f"only a roll_call segment takes '{key}' (this one is {seg.kind.value})"

    def branch_list(loc: Loc, venues: list[str]) -> Iterable[tuple[Loc, str]]:
        yield from _duplicates(loc, venues, "venue", indexed=True)
        for v, ref in enumerate(venues):
            if ref == main_id:
                yield (*loc, v), f"only branch venues are listed here; '{ref}' is the main venue"
            elif ref not in venue_ids:
                yield (*loc, v), f"unknown venue '{ref}'{_did_you_mean(ref, venue_ids)}"
        if not venues:
            yield loc, "list at least one venue (or write all-branches)"

    def within(loc: Loc, seconds: int, bounds: tuple[int, int], what: str) -> Iterable[tuple[Loc, str]]:
        low, high = bounds
        if not low <= seconds <= high:
            yield loc, (f"{what} must be between {format_duration(low)} and {format_duration(high)} "
                        f"(found {format_duration(seconds)})")

    if seg.polling is not None:
        at = (*here, "polling")
        yield from within((*at, "dwell"), seg.polling.dwell, POLLING_DWELL_RANGE_S, "the polling dwell")
        if isinstance(seg.polling.venues, list):
            yield from branch_list((*at, "venues"), seg.polling.venues)
        elif not has_branches:
            yield at, "there are no branch venues to poll (this conference has none)"
        if (seg.polling.target is PollingTarget.PROGRAM and is_roll_call
                and seg.roll_call_mode is RollCallMode.CALLED):
            yield (*at, "target"), ("a called roll call puts each venue on air in turn, so it cannot poll the "
                                    "program; poll the main-return or use mode: check")

    ret = seg.main_return
    if ret is not None:
        at = (*here, "main_return")
        allowed = {ReturnMode.PROGRAM: set(), ReturnMode.SINGLE: {"venue"},
                   ReturnMode.WALL: {"layout", "venues", "page_every"}}[ret.mode]
        for key in ("venue", "layout", "venues", "page_every"):
            if getattr(ret, key) is not None and key not in allowed:
                yield (*at, key), f"'{key}' does not go with mode: {ret.mode.value}"
        if ret.mode is ReturnMode.SINGLE:
            if ret.venue is None:
                yield at, "mode: single needs 'venue': the branch venue the main venue sees"
            elif ret.venue == main_id:
                yield (*at, "venue"), f"the main venue's return shows a branch venue; '{ret.venue}' is the main venue"
            elif ret.venue not in venue_ids:
                yield (*at, "venue"), f"unknown venue '{ret.venue}'{_did_you_mean(ret.venue, venue_ids)}"
        if ret.mode is ReturnMode.WALL:
            if ret.layout is None:
                yield at, "mode: wall needs 'layout': 2x2, 3x3 or 4x4"
            if isinstance(ret.venues, list):
                yield from branch_list((*at, "venues"), ret.venues)
            if ret.page_every is not None:
                yield from within((*at, "page_every"), ret.page_every, PAGE_EVERY_RANGE_S, "page_every")


def _duplicates(loc: Loc, ids: list[str], what: str, indexed: bool = False) -> Iterable[tuple[Loc, str]]:
    first: dict[str, int] = {}
    for i, ident in enumerate(ids):
        if ident in first:
            where = (*loc, i) if indexed else (*loc, i, "id")
            yield where, f"duplicate {what} id '{ident}' (first at {format_loc((*loc, first[ident]))})"
        else:
            first[ident] = i
