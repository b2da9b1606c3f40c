"""Drill options: parsed, checked against the conference, refused with a sentence."""

from __future__ import annotations

import pytest

from orchestrator.rehearsal.drills import DrillError, Drop, parse_drills


def test_drills_parse_and_order_by_agenda(rehearsal_conf):
    drills = parse_drills(
        rehearsal_conf, absent=["haiyan"], drops=["nanhu@speech-pinghu", "pinghu@roll-call:1.5"], loss=["nanhu:12.5%"]
    )
    assert drills.absent == {"haiyan"}
    assert drills.drops == (Drop("pinghu", "roll-call", 1.5), Drop("nanhu", "speech-pinghu", 3.0))
    assert drills.loss == {"nanhu": 12.5}
    assert drills.drops_in("speech-pinghu") == [Drop("nanhu", "speech-pinghu", 3.0)]
    assert drills.describe() == [
        "--absent haiyan", "--drop pinghu@roll-call:1.5", "--drop nanhu@speech-pinghu:3", "--loss nanhu:12.5",
    ]
    assert drills.for_venue("nanhu") == ["--drop nanhu@speech-pinghu:3", "--loss nanhu:12.5"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"absent": ["pinhgu"]}, "--absent pinhgu: there is no venue 'pinhgu' in this conference (did you mean 'pinghu'?)"),
        ({"absent": ["main"]}, "--absent main: the main venue cannot be absent: the program falls back to it"),
        ({"absent": ["nanhu", "nanhu"]}, "--absent nanhu: given twice"),
        ({"drops": ["pinghu"]}, "--drop pinghu: write it as VENUE@SEGMENT or VENUE@SEGMENT:SECONDS"),
        ({"drops": ["pinghu@speech-pinhgu"]},
         "--drop pinghu@speech-pinhgu: there is no segment 'speech-pinhgu' in the agenda (did you mean 'speech-pinghu'?)"),
        ({"drops": ["main@opening"]}, "--drop main@opening: the main venue cannot drop: the program falls back to it"),
        ({"drops": ["pinghu@opening:soon"]}, "--drop pinghu@opening:soon: SECONDS must be a number, not 'soon'"),
        ({"drops": ["pinghu@opening:0"]}, "--drop pinghu@opening:0: SECONDS must be more than 0 and at most 60"),
        ({"drops": ["pinghu@opening", "pinghu@opening:2"]}, "--drop pinghu@opening:2: 'pinghu' already drops in 'opening'"),
        ({"absent": ["pinghu"], "drops": ["pinghu@opening"]}, "--drop pinghu@opening: 'pinghu' is absent, so it cannot drop"),
        ({"loss": ["pinghu"]}, "--loss pinghu: write it as VENUE:PERCENT, e.g. pinghu:10"),
        ({"loss": ["pinghu:100"]}, "--loss pinghu:100: PERCENT must be more than 0 and less than 100"),
        ({"loss": ["pinghu:nan"]}, "--loss pinghu:nan: PERCENT must be a finite number"),
        ({"loss": ["pinghu:5", "pinghu:6"]}, "--loss pinghu:6: a loss for 'pinghu' is already given"),
        ({"absent": ["pinghu"], "loss": ["pinghu:5"]}, "--loss pinghu:5: 'pinghu' is absent, so it sends nothing to lose"),
    ],
)
def test_bad_drills_are_refused_with_the_option_named(rehearsal_conf, options, message):
    with pytest.raises(DrillError) as caught:
        parse_drills(rehearsal_conf, **options)
    assert str(caught.value) == message
