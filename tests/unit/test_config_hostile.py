"""Hostile conference files, class by class.

Each class of bad input is enumerated or drawn (hypothesis) over many members, never
tried once. Every refusal must come quickly, as FILE:LINE:COL lines that point at the
bad place, are printable (nothing invisible reaches the terminal) and are short (a huge
value is never printed whole); every file that passes gives a conference whose text
obeys the text rule and whose times can be computed.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import time
import unicodedata

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from orchestrator.conference import (
    LAST_DATE,
    MAX_AGENDA_SECONDS,
    MAX_AWARDS,
    MAX_ID_CHARS,
    MAX_RECIPIENTS,
    MAX_SEGMENTS,
    MAX_TEXT_CHARS,
    MAX_VENUES,
    Conference,
)
from orchestrator.config import (
    MAX_ALIASES,
    MAX_DEPTH,
    MAX_ERRORS_SHOWN,
    MAX_FILE_BYTES,
    MAX_VALUES,
    ConfigError,
    ConfigIssue,
    load_conference,
    parse_conference,
)
from tests.conftest import SMALL_YAML
from tests.support.text import BAD_CHARS, GOOD_CHARS, REAL_NAMES, refused_by_the_rule

QUICK_S = 1.0  # seconds of CPU within which a hostile file is refused (a few ms is usual)
DRAWN = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# The small conference in block style, one value per line: `{name}` marks what a test replaces.
TEMPLATE = """\
conference:
  id: {conference_id}
  title: {conference_title}
  date: {date}
  start: "14:30"
  timezone: {timezone}
venues:
  - id: main
    name: {main_name}
    role: main
  - id: {venue_id}
    name: {venue_name}
    role: branch
    kind: county_city
awards:
  - id: {award_id}
    title: {award_title}
    recipients:
      - name: {recipient_name}
        venue: pinghu
agenda:
  - id: {segment_id}
    kind: presiding
    title: {segment_title}
    speaker: {speaker}
    planned: {planned}
  - id: prizes
    kind: award_presentation
    title: Awards
    awards: [collectives]
    planned: 3m
"""
DEFAULTS = dict(
    conference_id="small", conference_title='"Small meeting"', date="2025-02-05", timezone="Asia/Shanghai",
    main_name='"Theatre"', venue_id="pinghu", venue_name='"Pinghu City"', award_id="collectives",
    award_title='"Advanced collectives"', recipient_name='"SAMPLE: Unit A"', segment_id="opening",
    segment_title='"Opening"', speaker='"The Mayor"', planned="2m",
)
LOCS = dict(
    conference_id="conference.id", conference_title="conference.title", date="conference.date",
    timezone="conference.timezone", main_name="venues[0].name", venue_id="venues[1].id", venue_name="venues[1].name",
    award_id="awards[0].id", award_title="awards[0].title", recipient_name="awards[0].recipients[0].name",
    segment_id="agenda[0].id", segment_title="agenda[0].title", speaker="agenda[0].speaker", planned="agenda[0].planned",
)
TEXT_FIELDS = ["conference_title", "main_name", "venue_name", "award_title", "recipient_name", "segment_title", "speaker"]
ID_FIELDS = ["conference_id", "venue_id", "award_id", "segment_id"]


def conference(**values: str) -> str:
    return TEMPLATE.format(**(DEFAULTS | values))


def where(field: str) -> tuple[int, int]:
    """(line, column), 1-based, of a field's value in TEMPLATE."""
    mark = "{" + field + "}"
    for number, line in enumerate(TEMPLATE.splitlines(), start=1):
        if mark in line:
            return number, line.index(mark) + 1
    raise AssertionError(field)


def position(text: str, index: int) -> tuple[int, int]:
    return text.count("\n", 0, index) + 1, index - (text.rfind("\n", 0, index) + 1) + 1


def quoted(value: str) -> str:
    """`value` as a YAML double-quoted scalar; what is not printable as an escape."""
    out = []
    for ch in value:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch.isprintable() and ch != "\u3000":
            out.append(ch)
        else:
            out.append(f"\\u{ord(ch):04x}" if ord(ch) < 0x10000 else f"\\U{ord(ch):08x}")
    return '"' + "".join(out) + '"'


def refusal(text: str, quick_s: float = QUICK_S) -> list[ConfigIssue]:
    """The issues of a file that must be refused, each checked for what a refusal owes its reader."""
    started = time.process_time()  # this process's own work: other load on the machine does not count
    with pytest.raises(ConfigError) as info:
        parse_conference(text, "h.yaml")
    elapsed = time.process_time() - started
    assert elapsed < quick_s, f"refused only after {elapsed:.2f} s of CPU"
    for issue in info.value.issues:
        line = str(issue)
        assert line.startswith(f"h.yaml:{issue.line}:{issue.col}: ") and issue.line >= 1 and issue.col >= 1, line
        assert line.isprintable() and len(line) < 400, line
    return info.value.issues


def one_at(issues: list[ConfigIssue], line: int, col: int, *needles: str) -> ConfigIssue:
    at = [i for i in issues if (i.line, i.col) == (line, col) and all(n in str(i) for n in needles)]
    assert at, f"nothing at {line}:{col} saying {needles}: {[str(i) for i in issues]}"
    return at[0]


def value_of(conf: Conference, field: str) -> str:
    return {"conference_title": conf.conference.title, "main_name": conf.venues[0].name,
            "venue_name": conf.venues[1].name, "award_title": conf.awards[0].title,
            "recipient_name": conf.awards[0].recipients[0].name, "segment_title": conf.agenda[0].title,
            "speaker": conf.agenda[0].speaker}[field]


def test_the_template_is_valid():
    conf = parse_conference(conference(), "h.yaml")
    assert conf.conference.title == "Small meeting" and conf.agenda[0].speaker == "The Mayor"


# --------------------------------------------------------------------------- aliases


def laughs(depth: int, width: int, shape: str) -> str:
    """Anchors a0..a{depth}, each using the one before `width` times (width**depth values in all)."""
    lines = ["a0: &a0 [lol]"]
    for n in range(1, depth + 1):
        uses = [f"*a{n - 1}"] * width
        if shape == "flow":
            lines.append(f"a{n}: &a{n} [{', '.join(uses)}]")
        elif shape == "block":
            lines.append(f"a{n}: &a{n}")
            lines += [f"  - {use}" for use in uses]
        elif shape == "mapping":
            lines.append(f"a{n}: &a{n} {{{', '.join(f'k{i}: {use}' for i, use in enumerate(uses))}}}")
        else:  # merge keys
            lines.append(f"a{n}: &a{n} {{<<: {{z: *a{n - 1}}}, {', '.join(f'k{i}: {use}' for i, use in enumerate(uses))}}}")
    return "\n".join(lines) + "\n"


def bombs():
    places = ("title", "venues", "extra key")
    for d, depth in enumerate((2, 3, 5, 9, 20, 60)):
        width = max(2, math.ceil((10 * MAX_VALUES) ** (1 / depth)) + 1)
        for s, shape in enumerate(("flow", "block", "mapping", "merge")):
            used_in = places[(d + s) % len(places)]
            yield pytest.param(depth, width, shape, used_in, id=f"{shape}-{depth}x{width}-{used_in}")


@pytest.mark.parametrize("depth,width,shape,used_in", bombs())
def test_alias_bombs_are_refused_at_an_alias_before_anything_is_expanded(depth, width, shape, used_in):
    top = f"*a{depth}"
    if used_in == "title":
        text = laughs(depth, width, shape) + conference(conference_title=top)
    elif used_in == "venues":
        text = laughs(depth, width, shape) + conference().replace("venues:\n", f"venues: {top}\nold_venues:\n")
    else:
        text = conference() + laughs(depth, width, shape) + f"lol: {top}\n"
    (issue,) = refusal(text)
    assert "alias" in issue.message and "(the limit)" in issue.message, issue
    line = text.splitlines()[issue.line - 1]
    assert line[issue.col - 1] == "*", f"{issue} does not point at an alias: {line!r}"


def test_aliases_a_real_file_might_use_are_fine():
    text = conference().replace("recipients:\n", "recipients: &units\n").replace(
        "agenda:\n", "  - id: villages\n    title: Model villages\n    recipients: *units\nagenda:\n")
    conf = parse_conference(text, "h.yaml")
    assert conf.award_by_id["villages"].recipients == conf.award_by_id["collectives"].recipients


def test_an_alias_inside_its_own_anchor_is_refused():
    for cycle in ("x: &r [1, *r]\n", "x: &r {a: {b: *r}}\n", "x: &r [[[*r]]]\n"):
        (issue,) = refusal(conference() + cycle)
        assert "inside its own anchor" in issue.message and issue.line == 32


def test_more_aliases_than_the_limit_are_refused_at_the_first_one_too_many():
    text = conference() + "x: &x v\ny: [" + ", ".join(["*x"] * (MAX_ALIASES * 50)) + "]\n"
    (issue,) = refusal(text)
    assert issue.message == f"too many aliases: more than {MAX_ALIASES:,} (the limit)"
    assert issue.col == len("y: [") + 1 + MAX_ALIASES * len("*x, ")


# --------------------------------------------------------------------------- nesting


def nested(shape: str, depth: int) -> tuple[str, int]:
    """A value nested `depth` levels deep, and the index in it of the first level past the limit."""
    if shape == "flow list":
        return "[" * depth + "]" * depth, MAX_DEPTH - 1
    if shape == "flow mapping":  # past the limit: the key of the mapping one level above it
        return "{a: " * depth + "x" + "}" * depth, (MAX_DEPTH - 2) * 4 + 1
    if shape == "mixed flow":
        text = "".join("[" if i % 2 else "{a: " for i in range(depth))
        return text + "x" + "".join("]" if i % 2 else "}" for i in reversed(range(depth))), None
    if shape == "block mapping":
        return "\n" + "".join(" " * (i + 1) + f"k{i}:\n" for i in range(depth)) + " " * (depth + 1) + "x", None
    return "\n" + "".join(" " * (i + 1) + "-\n" for i in range(depth)) + " " * (depth + 1) + "x", None


@pytest.mark.parametrize("shape", ["flow list", "flow mapping", "mixed flow", "block mapping", "block list"])
@pytest.mark.parametrize("depth", [MAX_DEPTH, MAX_DEPTH + 5, 1000, 100_000])
def test_deep_nesting_is_refused_at_the_level_past_the_limit(shape, depth):
    if depth > 1000 and shape.startswith("block"):
        depth = 1000  # indentation grows with the square of the depth
    value, past = nested(shape, depth)
    text = conference() + "deep: " + value + "\n"
    issues = refusal(text)
    if depth + 2 <= MAX_DEPTH:
        return
    (issue,) = issues
    assert issue.message == f"nested too deeply: more than {MAX_DEPTH} levels of mappings and lists (the limit)"
    assert issue.line >= 32
    if past is not None:
        assert (issue.line, issue.col) == (32, len("deep: ") + past + 1)


def test_nesting_through_aliases_counts_where_the_alias_is_used():
    chain = "a0: &a0 x\n" + "".join(f"a{i}: &a{i} [[[*a{i - 1}]]]\n" for i in range(1, 500))
    (issue,) = refusal(conference() + chain)
    assert issue.message.startswith("nested too deeply: the alias *a2 makes more than")
    shallow = conference() + "p: &p [[x]]\nq: [[*p]]\n"
    assert "unknown key 'p'" in str(refusal(shallow))


# --------------------------------------------------------------------------- sizes and counts


@pytest.mark.parametrize("field", TEXT_FIELDS + ID_FIELDS + ["timezone"])
@pytest.mark.parametrize("excess", [1, 9_000, 100_000 - MAX_ID_CHARS])
def test_overlong_values_are_refused_naming_the_limit_and_not_printed_whole(field, excess):
    limit = MAX_TEXT_CHARS if field in TEXT_FIELDS else MAX_ID_CHARS
    length = limit + excess
    (issue,) = refusal(conference(**{field: "x" * length}))
    assert (issue.line, issue.col) == where(field)
    if field == "timezone":
        assert issue.message.startswith("unknown time zone 'xxxx") and f"({length} characters)" in issue.message
    else:
        assert str(issue).endswith(f"{LOCS[field]}: too long: {length} characters (the limit is {limit})")
    assert len(str(issue)) < 200


def test_values_at_the_limits_are_fine():
    conf = parse_conference(conference(conference_title="题" * MAX_TEXT_CHARS, venue_id="v" * MAX_ID_CHARS,
                                       speaker="“" + "名" * (MAX_TEXT_CHARS - 2) + "”")
                            .replace("venue: pinghu", "venue: " + "v" * MAX_ID_CHARS), "h.yaml")
    assert len(conf.conference.title) == MAX_TEXT_CHARS


def test_a_five_million_character_title_is_refused_at_once(tmp_path):
    path = tmp_path / "long.yaml"
    path.write_text(conference(conference_title="题" * 5_000_000))
    started = time.process_time()
    with pytest.raises(ConfigError) as info:
        load_conference(path)
    assert time.process_time() - started < QUICK_S
    assert str(info.value) == (f"{path}:1:1: the file is too large: {path.stat().st_size:,} bytes "
                               f"(the limit is {MAX_FILE_BYTES:,})")


def test_a_file_over_the_size_limit_is_refused_without_parsing():
    text = conference() + "#" * MAX_FILE_BYTES
    (issue,) = refusal(text)
    assert str(issue) == f"h.yaml:1:1: the file is too large: more than {MAX_FILE_BYTES:,} bytes (the limit)"


def model_data(venues: int = 2, awards: int = 1, recipients: int = 1, segments: int = 1) -> dict:
    return {
        "conference": {"id": "c", "title": "t", "date": "2025-02-05", "start": "14:30", "timezone": "Asia/Shanghai"},
        "venues": [{"id": "main", "name": "主会场", "role": "main"}]
        + [{"id": f"v{i}", "name": f"分会场{i}", "role": "branch"} for i in range(venues - 1)],
        "awards": [{"id": f"a{a}", "title": "奖", "recipients": [{"name": f"单位{r}"} for r in range(recipients)]}
                   for a in range(awards)],
        "agenda": [{"id": f"s{s}", "kind": "speech", "title": "发言", "planned": "1m"} for s in range(segments)],
    }


@pytest.mark.parametrize("what,limit,loc", [
    ("venues", MAX_VENUES, ("venues",)),
    ("awards", MAX_AWARDS, ("awards",)),
    ("recipients", MAX_RECIPIENTS, ("awards", 0, "recipients")),
    ("segments", MAX_SEGMENTS, ("agenda",)),
])
def test_counts_are_bounded(what, limit, loc):
    Conference.model_validate(model_data(**{what: limit}))
    with pytest.raises(ValidationError) as info:
        Conference.model_validate(model_data(**{what: limit + 1}))
    (error,) = info.value.errors()
    assert error["type"] == "too_long" and error["loc"] == loc and error["ctx"]["max_length"] == limit


@pytest.mark.slow
def test_a_count_over_the_limit_is_reported_with_the_limit():
    recipients = ", ".join(f"{{name: u{i}}}" for i in range(MAX_RECIPIENTS + 1))
    text = conference().replace("recipients:\n      - name: \"SAMPLE: Unit A\"\n        venue: pinghu\n",
                                f"recipients: [{recipients}]\n")
    (issue,) = refusal(text, quick_s=10)
    assert str(issue) == (f"h.yaml:18:17: awards[0].recipients: too many entries: {MAX_RECIPIENTS + 1} "
                          f"(the limit is {MAX_RECIPIENTS})")


@pytest.mark.slow
def test_a_provincial_meeting_with_more_than_a_thousand_venues_fits():
    venues = "".join(f"  - {{id: v{i}, name: \"浙江乍浦经济开发区（嘉兴港区）分会场{i}\", role: branch, kind: development_zone}}\n"
                     for i in range(1200))
    conf = parse_conference(conference().replace("awards:\n", venues + "awards:\n", 1), "h.yaml")
    assert len(conf.branch_ids) == 1201


def test_many_errors_are_printed_up_to_a_limit():
    venues = "".join(f"  - {{id: V{i}, name: x, role: branch}}\n" for i in range(300))
    issues = refusal(conference().replace("awards:\n", venues + "awards:\n", 1))
    assert len(issues) == 300
    with pytest.raises(ConfigError) as info:
        parse_conference(conference().replace("awards:\n", venues + "awards:\n", 1), "h.yaml")
    lines = info.value.lines()
    assert len(lines) == MAX_ERRORS_SHOWN + 1 and lines[-1] == f"... and {300 - MAX_ERRORS_SHOWN} more"
    assert str(info.value).splitlines() == lines


# --------------------------------------------------------------------------- text




@pytest.mark.slow
@DRAWN
@given(field=st.sampled_from(TEXT_FIELDS + ID_FIELDS), bad=BAD_CHARS,
       before=st.text(GOOD_CHARS, min_size=1, max_size=8), after=st.text(GOOD_CHARS, min_size=1, max_size=8))
def test_a_refused_character_anywhere_is_named_with_its_position(field, bad, before, after):
    if field in ID_FIELDS:
        before, after = "ab", "cd"
    issues = refusal(conference(**{field: quoted(before + bad + after)}))
    issue = one_at(issues, *where(field), f"character {len(before) + 1} is U+{ord(bad):04X}")
    name = unicodedata.name(bad, None)
    assert name is None or name in issue.message
    assert issue.message.endswith("not allowed in text")


@DRAWN
@given(field=st.sampled_from(TEXT_FIELDS), text=st.text(max_size=30))
def test_any_text_passes_exactly_when_the_rule_allows_it(field, text):
    stripped = text.strip(" \t\r\n\u3000")
    try:
        conf = parse_conference(conference(**{field: quoted(text)}), "h.yaml")
    except ConfigError as exc:
        (issue,) = exc.issues
        assert (issue.line, issue.col) == where(field)
        assert not stripped or any(refused_by_the_rule(ch) for ch in stripped), str(issue)
        return
    assert stripped and not any(refused_by_the_rule(ch) for ch in stripped)
    assert value_of(conf, field) == stripped


CHINESE = st.text(
    st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF)
    | st.characters(min_codepoint=0x20000, max_codepoint=0x2A6DF)  # CJK extension B: rare characters in names
    | st.sampled_from(list("《》、“”‘’（）：；，。！？【】〔〕·—…\u3000 ０１２３ＡＢ")),
    min_size=1, max_size=60,
)


@DRAWN
@given(field=st.sampled_from(TEXT_FIELDS), text=CHINESE)
def test_chinese_text_with_full_width_punctuation_is_kept_as_written(field, text):
    stripped = text.strip(" \u3000")
    assume(stripped)
    conf = parse_conference(conference(**{field: quoted(text)}), "h.yaml")
    assert value_of(conf, field) == stripped




@pytest.mark.parametrize("field,name", [(TEXT_FIELDS[i % len(TEXT_FIELDS)], name) for i, name in enumerate(REAL_NAMES)])
def test_real_chinese_names_are_valid_as_plain_or_quoted_values(field, name):
    for written in (name, quoted(name), f"'{name}'"):
        conf = parse_conference(conference(**{field: written}), "h.yaml")
        assert value_of(conf, field) == name


# --------------------------------------------------------------------------- durations and dates


NON_ASCII_DIGITS = st.characters(categories=["Nd"]).filter(lambda ch: not ch.isascii())


@DRAWN
@given(digits=st.lists(NON_ASCII_DIGITS | st.sampled_from("0123456789"), min_size=1, max_size=4)
       .filter(lambda ds: any(not d.isascii() for d in ds)), unit=st.sampled_from("hms"))
def test_durations_with_non_ascii_digits_are_refused(digits, unit):
    planned = "".join(digits) + unit
    (issue,) = refusal(conference(planned=quoted(planned)))
    assert (issue.line, issue.col) == where("planned")
    assert issue.message.endswith("is not a duration: write it like 90s, 5m or 1h30m")


@DRAWN
@given(seconds=st.integers(24 * 3600 + 1, 10**15), unit=st.sampled_from(["h", "m", "s"]))
def test_durations_past_a_day_are_refused_naming_the_limit(seconds, unit):
    planned = f"{math.ceil(seconds / {'h': 3600, 'm': 60, 's': 1}[unit])}{unit}"
    (issue,) = refusal(conference(planned=planned))
    assert (issue.line, issue.col) == where("planned")
    assert issue.message in (f"'{planned}' is too long for one segment (the limit is 24h)",
                             f"'{planned}' is not a duration: write it like 90s, 5m or 1h30m")


def test_the_whole_agenda_is_bounded():
    assert parse_conference(conference(planned="24h"), "h.yaml").planned_total == 24 * 3600 + 180
    segment = "  - {id: s{n}, kind: break, title: Night, planned: 24h}\n"
    text = conference(planned="24h") + "".join(segment.replace("{n}", str(n)) for n in range(2))
    (issue,) = refusal(text)
    assert str(issue) == f"h.yaml:22:3: agenda: the agenda is planned to last 72h3m (the limit is {MAX_AGENDA_SECONDS // 3600}h)"


DATES = st.dates(dt.date(2000, 1, 1), dt.date(2100, 12, 31))


def other_forms(day: dt.date) -> list[str]:
    year, week, weekday = day.isocalendar()
    full_width = day.isoformat().translate({ord(d): chr(0xFF10 + int(d)) for d in "0123456789"})
    arabic = day.isoformat().translate({ord(d): chr(0x0660 + int(d)) for d in "0123456789"})
    return [f"{year}-W{week:02d}-{weekday}", f"{year}W{week:02d}{weekday}", f"{day:%Y-%j}", f"{day:%Y%m%d}",
            f"{day.isoformat()}T10:00", f"{day.isoformat()} 10:00", f"{day:%Y/%m/%d}", f"{day:%Y-%m}",
            f"{day:%d.%m.%Y}", f"{day.year}年{day.month}月{day.day}日", full_width, arabic, f"+0{day.isoformat()}"]


@DRAWN
@given(day=DATES, form=st.integers(0, 12))
def test_only_yyyy_mm_dd_is_a_date(day, form):
    assert parse_conference(conference(date=day.isoformat()), "h.yaml").conference.date == day
    written = other_forms(day)[form]
    (issue,) = refusal(conference(date=quoted(written)))
    assert (issue.line, issue.col) == where("date")
    assert issue.message.endswith("is not a date: write it as YYYY-MM-DD")


@DRAWN
@given(day=st.dates(dt.date(1, 1, 1), dt.date(1999, 12, 31)) | st.dates(dt.date(2101, 1, 1), dt.date(9999, 12, 31)))
def test_dates_out_of_range_are_refused(day):
    (issue,) = refusal(conference(date=day.isoformat()))
    assert str(issue).endswith(f"conference.date: {day.isoformat()} is out of range: a conference is held "
                               "from 2000-01-01 to 2100-12-31")


def test_the_planned_end_of_the_latest_conference_is_computed():
    text = conference(date=LAST_DATE.isoformat(), planned="24h").replace('"14:30"', '"23:59"')
    text += "  - {id: night, kind: break, title: Night, planned: 23h57m}\n"
    conf = parse_conference(text, "h.yaml")
    assert conf.planned_total == MAX_AGENDA_SECONDS
    assert conf.planned_end == dt.datetime(2101, 1, 2, 23, 59, tzinfo=conf.starts_at.tzinfo)


# --------------------------------------------------------------------------- odd YAML


KEYS = ["? [a, b]\n: 1", "? {a: 1}\n: 1", "~: 1", "null: 1", "?\n: 1", "true: 1", "5: 1", "1.5: 1", "0x1f: 1",
        "{[a, b]: 1, c: 2}"]


@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize("inside,before,indent", [
    ("", "agenda:\n", ""),
    ("conference", "  title:", "  "),
    ("venues[1]", "    kind: county_city\n", "    "),
    ("agenda[0]", "    planned: 2m\n", "    "),
])
def test_a_key_that_is_not_text_is_reported_where_it_is(key, inside, before, indent):
    if key.startswith("{"):
        entry = f"{indent}odd: {key}\n"
        inside, key_col = (f"{inside}.odd" if inside else "odd"), len(indent) + len("odd: {") + 1
    else:
        entry = "".join(f"{indent}{line}\n" for line in key.split("\n"))
        key_col = len(indent) + (3 if key.startswith("? ") else 2 if key.startswith("?") else 1)  # an empty key: after the ?
    base = conference()
    index = base.index("\n" + before) + 1
    text = base[:index] + entry + base[index:]
    line = position(text, index)[0]
    issues = refusal(text)
    issue = one_at(issues, line, key_col, "a key must be text")
    assert issue.loc == tuple(int(p) if p.isdigit() else p for p in re.split(r"[.\[\]]+", inside) if p)


FORBIDDEN_IN_YAML = st.sampled_from(
    [chr(c) for c in [*range(0, 9), 0x0B, 0x0C, *range(0x0E, 0x20), *range(0x7F, 0x85), *range(0x86, 0xA0)]]
    + ["\ufffe", "\uffff"]
)


@DRAWN
@given(ch=FORBIDDEN_IN_YAML, at=st.integers(0, len(SMALL_YAML)))
def test_characters_yaml_forbids_are_named_at_their_line_and_column(ch, at):
    text = SMALL_YAML[:at] + ch + SMALL_YAML[at:]
    (issue,) = refusal(text)
    assert (issue.line, issue.col) == position(text, at)
    assert issue.message.startswith(f"U+{ord(ch):04X} ") and "cannot be in a YAML file" in issue.message


def test_a_nul_byte_in_a_file(tmp_path):
    path = tmp_path / "nul.yaml"
    path.write_bytes(SMALL_YAML.replace("Theatre", "The\0atre").encode())
    with pytest.raises(ConfigError) as info:
        load_conference(path)
    assert str(info.value) == (f"{path}:3:26: U+0000 NULL: this character cannot be in a YAML file; "
                               "delete it (or save the file as plain UTF-8 text)")


# --------------------------------------------------------------------------- Chinese users' mistakes


CHINESE_TEXT = '"嘉兴市“六大行动”动员大会"'


@pytest.mark.parametrize("field", TEXT_FIELDS)
@pytest.mark.parametrize("encoding", ["gbk", "gb18030"])
def test_a_file_in_a_chinese_windows_encoding_is_located_and_explained(tmp_path, field, encoding):
    path = tmp_path / "gbk.yaml"
    text = conference(**{field: CHINESE_TEXT.replace("“", "").replace("”", "")})
    path.write_bytes(text.encode(encoding))
    with pytest.raises(ConfigError) as info:
        load_conference(path)
    (issue,) = info.value.issues
    line, col = where(field)
    assert (issue.line, issue.col) == (line, col + 1)  # the first character after the opening quote
    assert issue.message.startswith("the file is not UTF-8: ") and issue.message.endswith("; save the file as UTF-8")
    assert "GBK/GB18030" in issue.message


@pytest.mark.parametrize("encoding,bom", [
    ("utf-8", b"\xef\xbb\xbf"), ("utf-16-le", b"\xff\xfe"), ("utf-16-be", b"\xfe\xff"),
    ("utf-32-le", b"\xff\xfe\x00\x00"), ("utf-32-be", b"\x00\x00\xfe\xff"),
    ("utf-16-le", b""), ("utf-16-be", b""), ("utf-32-le", b""), ("utf-32-be", b""),
])
def test_unicode_files_are_read_as_yaml_detects_them(tmp_path, encoding, bom):
    path = tmp_path / "unicode.yaml"
    path.write_bytes(bom + conference(conference_title=CHINESE_TEXT).encode(encoding))
    assert load_conference(path).conference.title == "嘉兴市“六大行动”动员大会"


def test_a_broken_utf16_file_says_where(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_bytes(b"\xff\xfe" + "conference:\n  id: x\n".encode("utf-16-le") + b"\x00\xdc")
    with pytest.raises(ConfigError) as info:
        load_conference(path)
    assert str(info.value) == (f"{path}:3:1: the file is UTF-16-LE (by its start), but bytes 0x00 0xdc here cannot "
                               "be read as UTF-16-LE; save the file as UTF-8")


def slips():
    """(name, text, index of the slip character, what the message must say)."""
    block = conference(conference_title=CHINESE_TEXT)
    for needle in ("\n  title: ", "\n    name: ", "\n    speaker: ", "\n    planned: ", "\n        venue: ",
                   "\n    kind: ", "- name: ", "\n  - id: "):
        key = needle.strip(" \n-:")
        i = block.index(needle) + needle.index(":")
        for colon in ("：", "︰", "﹕"):
            text = block[:i] + colon + block[i + 2:]
            yield f"colon-{key}-{ord(colon):x}", text, i, f"U+{ord(colon):04X}"
            yield f"colon-space-{key}-{ord(colon):x}", block[:i] + " " + colon + block[i + 1:], i + 1, f"U+{ord(colon):04X}"
        yield f"nospace-{key}", block[:i + 1] + block[i + 2:], i, "':' right after a key needs a space"
    for n, line in enumerate(block.splitlines()):
        if line.startswith("  ") and not line.startswith("  -"):
            start = sum(len(x) + 1 for x in block.splitlines()[:n])
            for space in ("\u3000", "\u3000\u3000", "\u00a0\u00a0", "\t"):
                yield f"indent-{n}-{ord(space[0]):x}", block[:start] + space + block[start + 2:], start, \
                    f"U+{ord(space[0]):04X}"
        if line.startswith("  - "):
            start = sum(len(x) + 1 for x in block.splitlines()[:n]) + 2
            yield f"dash-{n}", block[:start] + "－" + block[start + 1:], start, "U+FF0D FULLWIDTH HYPHEN-MINUS"
    flow = SMALL_YAML
    for old in ("main, name", "Theatre\", role", "pinghu, planned", "\"Opening\", speaker"):
        i = flow.index(old) + old.index(",")
        for comma in ("，", "、"):
            yield f"comma-{old[:5]}-{ord(comma):x}", flow[:i] + comma + flow[i + 1:], i, f"U+{ord(comma):04X}"
    for old in ("awards: [collectives, villages]", "awards: [collectives]"):
        source = flow if old in flow else block
        i = source.index(old) + len("awards: ")
        for bracket, closing in (("［", "］"), ("【", "】")):
            text = source[:i] + bracket + source[i + 1:].replace("]", closing, 1)
            yield f"bracket-{ord(bracket):x}-{len(old)}", text, i, f"U+{ord(bracket):04X}"
    for value in ("“会议: 第一次”", "“会议 #1”", "‘会议: 第一次’", "「会议: 第一次」"):
        for field in ("conference_title", "segment_title", "speaker"):
            text = conference(**{field: value})
            yield f"quote-{field}-{ord(value[0]):x}-{len(value)}", text, text.index(value), f"U+{ord(value[0]):04X}"


@pytest.mark.parametrize("name,text,index,says", [pytest.param(*s, id=s[0]) for s in slips()])
def test_input_method_slips_are_named_where_they_are(name, text, index, says):
    issues = refusal(text)
    one_at(issues, *position(text, index), says)
    assert not any("YAML syntax error" in i.message for i in issues), [str(i) for i in issues]


def test_full_width_characters_inside_values_are_text_not_slips():
    text = conference(conference_title="“会议”：第一次", venue_name="嘉兴【南湖】，秀洲", speaker="'－ 主持人：张三'",
                      segment_title="“开幕：致辞”")
    conf = parse_conference(text, "h.yaml")
    assert conf.conference.title == "“会议”：第一次" and conf.agenda[0].speaker == "－ 主持人：张三"


# --------------------------------------------------------------------------- award recipients


PEOPLE = st.tuples(st.sampled_from(["张三", "李四", "SAMPLE: Unit A"]), st.sampled_from([None, "pinghu", "main"]))


@DRAWN
@given(awards=st.lists(st.lists(PEOPLE, min_size=1, max_size=4), min_size=1, max_size=3))
def test_a_recipient_twice_in_one_award_is_refused_and_only_that(awards):
    lines = ["awards:"]
    for a, people in enumerate(awards):
        lines += [f"  - id: award-{a}", f"    title: Award {a}", "    recipients:"]
        lines += [f"      - {{name: \"{name}\"{f', venue: {venue}' if venue else ''}}}" for name, venue in people]
    text = conference().split("awards:\n")[0] + "\n".join(lines) + "\nagenda:\n" + conference().split("agenda:\n")[1]
    text = text.replace("awards: [collectives]", "awards: [award-0]")
    duplicates = [(a, r) for a, people in enumerate(awards) for r, person in enumerate(people) if person in people[:r]]
    if not duplicates:
        parse_conference(text, "h.yaml")
        return
    issues = refusal(text)
    assert [i.loc for i in issues] == [("awards", a, "recipients", r, "name") for a, r in duplicates]
    assert all("is listed twice in this award (first at awards[" in i.message for i in issues)


# --------------------------------------------------------------------------- anything at all


MUTATION_TEXT = st.lists(
    st.sampled_from(list("&*!|>%@`'\"{}[],:-?#~ \n\t\\") + ["\u3000", "：", "，", "“", "”", "［", "\x00", "\u202e",
                                                            "\ud800", "\\u200b", "\\ud800", "&a ", "*a", "<<: ",
                                                            "!!binary ", "!!set ", "? ", "---\n", "...\n", "%YAML 1.1\n",
                                                            "99999999999", "9" * 120, "2025-W06-3", "１"])
    | st.characters(codec="utf-8"),
    max_size=8,
).map("".join)


@st.composite
def mutated(draw) -> str:
    text = draw(st.sampled_from([SMALL_YAML, conference()]))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(text)))
        how = draw(st.sampled_from(["insert", "delete", "replace", "duplicate line"]))
        if how == "insert":
            text = text[:at] + draw(MUTATION_TEXT) + text[at:]
        elif how == "delete":
            text = text[:at] + text[at + draw(st.integers(1, 20)):]
        elif how == "replace":
            text = text[:at] + draw(MUTATION_TEXT) + text[at + draw(st.integers(1, 8)):]
        else:
            lines = text.split("\n")
            n = draw(st.integers(0, len(lines) - 1))
            text = "\n".join(lines[:n + 1] + lines[n:])
    return text


@pytest.mark.slow
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=mutated())
def test_no_file_makes_the_loader_fail_otherwise_than_by_its_errors(text):
    try:
        conf = parse_conference(text, "h.yaml")
    except ConfigError as exc:
        assert exc.issues
        lines = text.splitlines() or [""]
        for issue in exc.issues:
            line = str(issue)
            assert line.startswith(f"h.yaml:{issue.line}:{issue.col}: "), line
            assert 1 <= issue.line <= len(lines) + 1 and issue.col >= 1, line
            assert line.isprintable() and len(line) < 400, line
        return
    texts = [conf.conference.title, *(v.name for v in conf.venues), *(a.title for a in conf.awards),
             *(r.name for a in conf.awards for r in a.recipients), *(s.title for s in conf.agenda),
             *(s.speaker for s in conf.agenda if s.speaker)]
    assert all(t and not any(refused_by_the_rule(ch) for ch in t) for t in texts)
    assert conf.planned_end > conf.starts_at
