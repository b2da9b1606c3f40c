"""The plan: compressed segment times, minimums, drops fitted inside their segment, awards spread."""

from __future__ import annotations

import pytest

from orchestrator.config import parse_conference
from orchestrator.rehearsal.drills import parse_drills
from orchestrator.rehearsal.plan import MIN_MARGIN_S, REJOIN_ALLOWANCE_S, make_plan

from .conftest import CONTROL_YAML


def test_segments_run_planned_over_speed_but_never_shorter_than_a_checkable_take(rehearsal_conf):
    plan = make_plan(rehearsal_conf, speed=60, threshold_s=1.0, drills=parse_drills(rehearsal_conf))
    # 90 s and 1 m reach the minimum; the called roll call takes its three venues' answers
    assert [round(s.target_s, 2) for s in plan.steps] == [2.0, 6.5, 3.0, 5.0, 2.0, 2.0]
    assert min(s.target_s for s in plan.steps) == 1.0 + MIN_MARGIN_S
    assert [s.venue for s in plan.steps] == ["main", "main", "main", "pinghu", "haiyan", "main"]
    assert plan.step("roll-call").roll_call == ("pinghu", "haiyan", "nanhu")
    assert plan.total_s == pytest.approx(20.5)


def test_what_runs_on_the_sessions_clock_is_not_compressed(rehearsal_conf):
    """A called roll call takes 1.5 s an answer (the threshold and a margin) and per_venue for
    a venue that never answers; an absent venue takes nothing."""
    drills = parse_drills(rehearsal_conf, absent=["haiyan"], no_answer=["nanhu"])
    step = make_plan(rehearsal_conf, 600, 1.0, drills).step("roll-call")
    assert step.target_s == pytest.approx(1.5 + 3 + 1.0 + MIN_MARGIN_S)
    conf = parse_conference(CONTROL_YAML, "control.yaml")
    plan = make_plan(conf, 600, 1.0, parse_drills(conf))
    assert plan.step("polled").target_s == pytest.approx(10 + 2.0), "two steps of 10 s (two venues polled)"
    assert plan.step("report").target_s == pytest.approx(2 * 10 + 2.0), "three steps of the main venue's polling"
    assert plan.step("wall").target_s == pytest.approx(5 + 2.0), "the 2x2 wall of five venues turns its page"


def test_awards_step_through_every_recipient_spread_over_the_segment(rehearsal_conf):
    step = make_plan(rehearsal_conf, 60, 1.0, parse_drills(rehearsal_conf)).step("awards")
    assert [(a.award, a.recipient, a.venue) for a in step.awards] == [
        ("collectives", "SAMPLE: Unit A", "pinghu"),
        ("collectives", "SAMPLE: Unit B", None),
        ("collectives", "SAMPLE: Unit C", "nanhu"),
    ]
    assert [a.at_s for a in step.awards] == pytest.approx([0.5, 1.5, 2.5])


def test_a_drop_fits_in_its_segment_after_the_take_was_checked(rehearsal_conf):
    drills = parse_drills(rehearsal_conf, drops=["pinghu@speech-pinghu:4"])
    step = make_plan(rehearsal_conf, 600, 1.0, drills).step("speech-pinghu")
    (drop,) = step.drops
    assert drop.at_s >= 2.0  # the take was checked (threshold 1 s) before the venue goes
    assert drop.at_s + 4 + REJOIN_ALLOWANCE_S <= step.target_s + 1e-9  # back, rejoined and checked within the segment


def test_speed_and_threshold_must_be_positive(rehearsal_conf):
    with pytest.raises(ValueError):
        make_plan(rehearsal_conf, 0, 1.0, parse_drills(rehearsal_conf))
