"""The conference file: the sample loads, and every kind of mistake is reported at FILE:LINE:COL."""

from __future__ import annotations

import datetime as dt

import pytest

from orchestrator.config import ConfigError, SegmentKind, load_conference, parse_conference, parse_duration
from tests.conftest import SAMPLE, SMALL_YAML


def errors_of(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_conference(text, "c.yaml")
    return [str(i) for i in info.value.issues]


def replace(old: str, new: str, text: str = SMALL_YAML) -> str:
    assert old in text, f"test setup: {old!r} not in the base file"
    return text.replace(old, new, 1)


def test_sample_conference_matches_the_seed(sample_conf):
    assert sample_conf.main_venue.name == "Jiaxing Grand Theatre"
    assert len(sample_conf.branch_ids) == 9
    names = {v.name for v in sample_conf.venues}
    for name in ("Nanhu District", "Xiuzhou District", "Jiashan County", "Haiyan County", "Haining City",
                 "Pinghu City", "Tongxiang City", "Jiaxing Economic and Technological Development Zone",
                 "Zhejiang Zhapu Economic Development Zone (Jiaxing Port Area)"):
        assert name in names
    kinds = [s.kind for s in sample_conf.agenda]
    assert kinds[0] is SegmentKind.PRESIDING and kinds[1] is SegmentKind.ROLL_CALL and kinds[-1] is SegmentKind.CLOSING
    speeches = [s for s in sample_conf.agenda if s.id.startswith("exchange-")]
    assert [sample_conf.segment_venue(s) for s in speeches] == [
        "pinghu", "main", "xiuzhou", "development-zone", "nanhu", "main"
    ]
    assert len(sample_conf.awards) == 4
    assert all(r.name.startswith("SAMPLE") for a in sample_conf.awards for r in a.recipients)
    assert sample_conf.starts_at == dt.datetime(2025, 2, 5, 14, 30, tzinfo=sample_conf.starts_at.tzinfo)
    assert sample_conf.starts_at.utcoffset() == dt.timedelta(hours=8)


@pytest.mark.parametrize(
    "text,seconds", [("90s", 90), ("5m", 300), ("1h30m", 5400), ("1h", 3600), ("2m30s", 150)]
)
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    "old,new,expected",
    [
        # YAML syntax
        ("  - {id: main, name: \"Theatre\", role: main}", "  - {id: main, name: \"Theatre\", role: main",
         "c.yaml:4:5: YAML syntax error: expected ',' or '}'"),
        ("agenda:\n", "agenda:\n  bad: [\n", "c.yaml:"),
        # missing and extra keys
        ("{id: opening, kind: presiding, title: \"Opening\", ", "{id: opening, kind: presiding, ",
         "c.yaml:18:5: agenda[0]: missing required key 'title'"),
        ("speaker: \"The Mayor\"", "speakr: \"The Mayor\"",
         "c.yaml:18:54: agenda[0]: unknown key 'speakr' (did you mean 'speaker'?)"),
        ("timezone: Asia/Shanghai}", "timezone: Asia/Shanghai, chair: x}", "c.yaml:1:113: conference: unknown key 'chair'"),
        # bad slugs
        ("{id: pinghu, name", "{id: Pinghu_City, name",
         "c.yaml:4:10: venues[1].id: 'Pinghu_City' is not a valid id"),
        # duplicate ids
        ("{id: haiyan, name", "{id: pinghu, name",
         "c.yaml:5:10: venues[2].id: duplicate venue id 'pinghu' (first at venues[1])"),
        ("{id: closing,", "{id: opening,", "c.yaml:24:10: agenda[6].id: duplicate segment id 'opening' (first at agenda[0])"),
        # zero or two main venues
        ("role: main}", "role: branch, kind: other}", "c.yaml:3:3: venues: no venue has role: main"),
        ("role: branch, kind: district}", "role: main}",
         "c.yaml:6:47: venues[3].role: a second main venue: 'main' is already the main venue"),
        # unknown references
        ("venue: pinghu, planned: 5m", "venue: pinhgu, planned: 5m",
         "c.yaml:22:99: agenda[4].venue: unknown venue 'pinhgu' (did you mean 'pinghu'?)"),
        ("{name: \"SAMPLE: Unit A\", venue: pinghu}", "{name: \"SAMPLE: Unit A\", venue: hainan}",
         "c.yaml:11:41: awards[0].recipients[0].venue: unknown venue 'hainan'"),
        ("awards: [collectives, villages], planned: 2m", "awards: [collectives, vilages], planned: 2m",
         "c.yaml:20:84: agenda[2].awards[1]: unknown award 'vilages' (did you mean 'villages'?)"),
        # bad durations
        ("planned: 90s", "planned: 90 seconds", "c.yaml:23:87: agenda[5].planned: '90 seconds' is not a duration"),
        ("planned: 90s", "planned: 0m", "agenda[5].planned: a planned duration must be longer than zero"),
        ("planned: 90s", "planned: 90", "agenda[5].planned: '90' is not a duration"),
        # roll call naming the main venue
        ("title: \"Roll call\", planned: 3m", "title: \"Roll call\", venues: [pinghu, main], planned: 3m",
         "c.yaml:19:75: agenda[1].venues[1]: the roll call is of branch venues; 'main' is the main venue"),
        ("title: \"Roll call\", planned: 3m", "title: \"Roll call\", venues: everyone, planned: 3m",
         "agenda[1].venues: 'everyone' is not valid here: expected 'all-branches' or a list of venue ids"),
        ("title: \"Opening\", speaker", "title: \"Opening\", venues: [pinghu], speaker",
         "agenda[0].venues: only a roll_call segment lists venues (this one is presiding)"),
        # award segment without awards
        ("title: \"Awards\", awards: [collectives, villages], ", "title: \"Awards\", ",
         "c.yaml:21:5: agenda[3]: an award segment (award_presentation) needs 'awards'"),
        ("title: \"Close\", planned", "title: \"Close\", awards: [villages], planned",
         "agenda[6].awards: only award segments list awards (this one is closing)"),
        # empty agenda
        ("agenda:\n", "agenda: []\nold_agenda:\n", "c.yaml:"),
        # unknown time zone, bad date and start
        ("timezone: Asia/Shanghai", "timezone: Asia/Jiaxing",
         "c.yaml:1:98: conference.timezone: unknown time zone 'Asia/Jiaxing'"),
        ("date: 2025-02-05", "date: 2025-02-30", "c.yaml:1:60: conference.date: '2025-02-30' is not a date"),
        ("start: \"14:30\"", "start: \"2:30 pm\"", "conference.start: '2:30 pm' is not a start time"),
        # enum and type errors
        ("kind: county}", "kind: township}", "venues[2].kind: 'township' is not one of"),
        ("kind: presiding", "kind: keynote", "agenda[0].kind: 'keynote' is not one of"),
    ],
)
def test_each_mistake_is_reported_where_it_is(old, new, expected):
    errors = errors_of(replace(old, new))
    assert any(line.startswith(expected) if expected.startswith("c.yaml") else expected in line for line in errors), errors
    assert all(line.startswith("c.yaml:") for line in errors)


def test_empty_agenda_is_reported_on_the_agenda():
    text = SMALL_YAML.split("agenda:\n")[0] + "agenda: []\n"
    assert errors_of(text) == ["c.yaml:17:9: agenda: must not be empty"]


def test_several_errors_are_all_reported_in_file_order():
    text = replace("venue: pinghu, planned: 5m", "venue: pinhgu, planned: 5m")
    text = replace("{id: haiyan, name", "{id: pinghu, name", text)
    errors = errors_of(text)
    # the renamed venue also leaves agenda[5] pointing at a venue that no longer exists
    assert [e.split(": ")[1] for e in errors] == ["venues[2].id", "agenda[4].venue", "agenda[5].venue"]
    assert errors[2].endswith("unknown venue 'haiyan'")


@pytest.mark.parametrize(
    "text,expected",
    [
        ("", "c.yaml:1:1: the file is empty"),
        ("# only a comment\n", "c.yaml:1:1: the file is empty"),
        ("- a\n- b\n", "c.yaml:1:1: expected a mapping with keys conference, venues, agenda; found a list"),
        ("just text\n", "c.yaml:1:1: expected a mapping with keys conference, venues, agenda; found a str"),
        ("conference: {id: x}\nconference: {id: y}\n", "c.yaml:2:1: YAML syntax error: duplicate key"),
        ("conference: {}\n", "c.yaml:1:1: missing required key 'venues'"),
    ],
)
def test_files_that_are_not_conferences(text, expected):
    errors = errors_of(text)
    assert any(line.startswith(expected) for line in errors), errors


def test_unreadable_and_missing_files(tmp_path):
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as info:
        load_conference(missing)
    assert str(info.value) == f"{missing}:1:1: cannot read the file: No such file or directory"

    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00garbage")
    with pytest.raises(ConfigError) as info:
        load_conference(binary)
    assert str(info.value) == (f"{binary}:1:1: the file is not UTF-8: byte 0x89 here cannot be read as UTF-8; "
                               "save the file as UTF-8")


def test_sample_file_loads_from_disk():
    assert load_conference(SAMPLE).conference.id == "jiaxing-2025-six-initiatives"


# ------------------------------------------------------------------ control-room options


def test_roll_call_polling_and_main_return_options_load():
    text = replace("planned: 3m, mode: check}", "planned: 3m, per_venue: 15s, polling: {target: main-return, dwell: 20s}}")
    text = replace("venue: pinghu, planned: 5m}", "venue: pinghu, planned: 5m, polling: {target: program, dwell: 15s, "
                   "venues: [nanhu, haiyan]}, main_return: {mode: wall, layout: 3x3, venues: all-branches}}", text)
    text = replace("title: \"Close\", planned: 1m}", "title: \"Close\", planned: 1m, main_return: {mode: single, venue: pinghu}}",
                   text)
    conf = parse_conference(text, "c.yaml")
    roll_call, speech, closing = conf.agenda[1], conf.agenda[4], conf.agenda[6]
    assert (roll_call.roll_call_mode.value, roll_call.roll_call_per_venue) == ("called", 15), "called is the default"
    assert (roll_call.polling.target.value, roll_call.polling.dwell) == ("main_return", 20)
    assert conf.listed_branches(roll_call.polling.venues) == ("pinghu", "haiyan", "nanhu")
    assert (speech.polling.target.value, speech.polling.venues) == ("program", ["nanhu", "haiyan"])
    assert (speech.main_return.mode.value, speech.main_return.layout.tiles) == ("wall", 9)
    assert (closing.main_return.mode.value, closing.main_return.venue) == ("single", "pinghu")
    assert conf.agenda[0].roll_call_per_venue == 10 and conf.agenda[0].polling is None


@pytest.mark.parametrize(
    "old,new,expected",
    [
        ("title: \"Opening\", speaker", "title: \"Opening\", mode: called, speaker",
         "c.yaml:18:60: agenda[0].mode: only a roll_call segment takes 'mode' (this one is presiding)"),
        ("title: \"Opening\", speaker", "title: \"Opening\", per_venue: 5s, speaker",
         "agenda[0].per_venue: only a roll_call segment takes 'per_venue' (this one is presiding)"),
        ("planned: 3m, mode: check}", "planned: 3m, mode: calls}", "agenda[1].mode: 'calls' is not one of 'called' or 'check'"),
        ("planned: 3m, mode: check}", "planned: 3m, per_venue: 10}", "agenda[1].per_venue: '10' is not a duration"),
        ("planned: 3m, mode: check}", "planned: 3m, mode: called, polling: {target: program}}",
         "agenda[1].polling.target: a called roll call puts each venue on air in turn, so it cannot poll the program"),
        ("planned: 5m}", "planned: 5m, polling: {target: main, dwell: 15s}}",
         "agenda[4].polling.target: 'main' is not one of 'program' or 'main-return'"),
        ("planned: 5m}", "planned: 5m, polling: {target: main-return, dwel: 15s}}",
         "agenda[4].polling: unknown key 'dwel' (did you mean 'dwell'?)"),
        ("planned: 5m}", "planned: 5m, polling: {target: program, dwell: 5s}}",
         "c.yaml:22:154: agenda[4].polling.dwell: the polling dwell must be between 10s and 2m (found 5s)"),
        ("planned: 5m}", "planned: 5m, polling: {target: program, dwell: 3m}}",
         "agenda[4].polling.dwell: the polling dwell must be between 10s and 2m (found 3m)"),
        ("planned: 5m}", "planned: 5m, polling: {target: program, venues: [nanhu, main]}}",
         "agenda[4].polling.venues[1]: only branch venues are listed here; 'main' is the main venue"),
        ("planned: 5m}", "planned: 5m, polling: {target: program, venues: [nanhu, pinhgu]}}",
         "agenda[4].polling.venues[1]: unknown venue 'pinhgu' (did you mean 'pinghu'?)"),
        ("planned: 5m}", "planned: 5m, polling: {target: program, venues: [nanhu, nanhu]}}",
         "agenda[4].polling.venues[1]: duplicate venue id 'nanhu'"),
        ("planned: 5m}", "planned: 5m, polling: {target: program, venues: []}}",
         "agenda[4].polling.venues: list at least one venue (or write all-branches)"),
        ("planned: 5m}", "planned: 5m, polling: {target: program, venues: everyone}}",
         "agenda[4].polling.venues: 'everyone' is not valid here: expected 'all-branches' or a list of venue ids"),
        ("planned: 5m}", "planned: 5m, main_return: {mode: single}}",
         "agenda[4].main_return: mode: single needs 'venue': the branch venue the main venue sees"),
        ("planned: 5m}", "planned: 5m, main_return: {mode: single, venue: main}}",
         "agenda[4].main_return.venue: the main venue's return shows a branch venue; 'main' is the main venue"),
        ("planned: 5m}", "planned: 5m, main_return: {mode: single, venue: pinhgu}}",
         "agenda[4].main_return.venue: unknown venue 'pinhgu' (did you mean 'pinghu'?)"),
        ("planned: 5m}", "planned: 5m, main_return: {mode: single, venue: nanhu, layout: 2x2}}",
         "agenda[4].main_return.layout: 'layout' does not go with mode: single"),
        ("planned: 5m}", "planned: 5m, main_return: {mode: program, venue: nanhu}}",
         "agenda[4].main_return.venue: 'venue' does not go with mode: program"),
        ("planned: 5m}", "planned: 5m, main_return: {mode: wall}}",
         "agenda[4].main_return: mode: wall needs 'layout': 2x2, 3x3 or 4x4"),
        ("planned: 5m}", "planned: 5m, main_return: {mode: wall, layout: 5x5}}",
         "agenda[4].main_return.layout: '5x5' is not one of '2x2', '3x3' or '4x4'"),
        ("planned: 5m}", "planned: 5m, main_return: {mode: wall, layout: 2x2, venues: [main]}}",
         "agenda[4].main_return.venues[0]: only branch venues are listed here; 'main' is the main venue"),
        ("planned: 5m}", "planned: 5m, main_return: {mode: wall, layout: 2x2, page_every: 2s}}",
         "agenda[4].main_return.page_every: page_every must be between 5s and 10m (found 2s)"),
        ("planned: 5m}", "planned: 5m, main_return: {mode: mosaic}}",
         "agenda[4].main_return.mode: 'mosaic' is not one of 'program', 'single' or 'wall'"),
    ],
)
def test_control_room_option_mistakes_are_reported_where_they_are(old, new, expected):
    errors = errors_of(replace(old, new))
    assert any(line.startswith(expected) if expected.startswith("c.yaml") else expected in line for line in errors), errors


def test_polling_needs_branch_venues_to_poll():
    text = SMALL_YAML.split("awards:\n")[0]
    venues_only_main = "\n".join(line for line in text.splitlines() if "role: branch" not in line) + "\n"
    agenda = ("agenda:\n  - {id: opening, kind: presiding, title: \"Opening\", planned: 2m, "
              "polling: {target: main-return}}\n")
    assert errors_of(venues_only_main + agenda) == [
        "c.yaml:5:76: agenda[0].polling: there are no branch venues to poll (this conference has none)"
    ]
