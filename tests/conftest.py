from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.config import Conference, load_conference, parse_conference

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "config" / "jiaxing-2025-six-initiatives.yaml"

# Suites that start browsers, server processes, real WebRTC sessions or whole rehearsals: CI
# runs them, the quick loop (`pytest -m "not slow"`: the core, the loader, the sockets over the
# fake media plane, in well under a minute) leaves them out. Single long tests elsewhere (the
# broad property tests) carry the mark themselves.
SLOW_SUITES = {"browser", "deploy", "bench", "faults", "janus"}
SLOW_FILES = {
    "rehearsal/test_rehearse.py", "rehearsal/test_cli_rehearse.py", "rehearsal/test_simulate.py",
    "integration/test_archive.py", "integration/test_cli.py", "integration/test_signalling_errors.py",
    "integration/test_venue_agent.py", "integration/test_live_session.py", "integration/test_live_control_room.py",
    "integration/test_monitor_and_heartbeat.py", "integration/test_recording.py", "integration/test_metrics.py",
    "integration/test_no_transcoding.py", "minutes/test_minutes.py",
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    tests = ROOT / "tests"
    for item in items:
        path = item.path.relative_to(tests)
        if path.parts[0] in SLOW_SUITES or path.as_posix() in SLOW_FILES:
            item.add_marker(pytest.mark.slow)


SMALL_YAML = """\
conference: {id: small, title: "Small test meeting", date: 2025-02-05, start: "14:30", timezone: Asia/Shanghai}
venues:
  - {id: main, name: "Theatre", role: main}
  - {id: pinghu, name: "Pinghu City", role: branch, kind: county_city}
  - {id: haiyan, name: "Haiyan County", role: branch, kind: county}
  - {id: nanhu, name: "Nanhu District", role: branch, kind: district}
awards:
  - id: collectives
    title: "Advanced collectives"
    recipients:
      - {name: "SAMPLE: Unit A", venue: pinghu}
      - {name: "SAMPLE: Unit B"}
  - id: villages
    title: "Model villages"
    recipients:
      - {name: "SAMPLE: Village C", venue: nanhu}
agenda:
  - {id: opening, kind: presiding, title: "Opening", speaker: "The Mayor", planned: 2m}
  - {id: roll-call, kind: roll_call, title: "Roll call", planned: 3m, mode: check}
  - {id: announce, kind: award_announcement, title: "Lists", awards: [collectives, villages], planned: 2m}
  - {id: present, kind: award_presentation, title: "Awards", awards: [collectives, villages], planned: 3m}
  - {id: speech-pinghu, kind: speech, title: "Pinghu speaks", speaker: "Leader of Pinghu", venue: pinghu, planned: 5m}
  - {id: speech-haiyan, kind: speech, title: "Haiyan speaks", venue: haiyan, planned: 90s}
  - {id: closing, kind: closing, title: "Close", planned: 1m}
"""


@pytest.fixture(scope="session")
def sample_conf() -> Conference:
    return load_conference(SAMPLE)


@pytest.fixture(scope="session")
def small_conf() -> Conference:
    return parse_conference(SMALL_YAML, "small.yaml")


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, start: float = 1_738_737_000.0):
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def live(sample_conf, tmp_path):
    """The real server on loopback, serving the sample conference (venues join with `live.join`)."""
    from tests.support.live import running_live

    async with running_live(sample_conf, tmp_path) as live:
        yield live
