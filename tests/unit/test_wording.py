"""Counted nouns and local times."""

from __future__ import annotations

from orchestrator.wording import Clock, count


def test_count_says_one_thing_and_many_things():
    assert [count(n, "segment") for n in (0, 1, 2)] == ["0 segments", "1 segment", "2 segments"]
    assert [count(n, "branch", "branches") for n in (1, 9)] == ["1 branch", "9 branches"]


def test_clock_renders_unix_times_in_the_conference_zone():
    clock = Clock("Asia/Shanghai")
    t = 1_738_737_065.5  # 2025-02-05 06:31:05.5 UTC
    assert (clock.date(t), clock.time(t), clock.stamp(t)) == ("2025-02-05", "14:31:05", "2025-02-05 14:31:05")
    assert clock.iso(t) == "2025-02-05T14:31:05+08:00" and clock.zone_label(t) == "Asia/Shanghai, UTC+08:00"
