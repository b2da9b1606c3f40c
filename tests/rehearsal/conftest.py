from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.config import Conference, parse_conference
from orchestrator.rehearsal import RehearsalOptions, Report, parse_drills, rehearse
from orchestrator.rehearsal.progress import Progress

# Six segments; at SPEED each runs its two-second minimum (the called roll call as long as
# its venues take to answer), so a rehearsal takes about 20 s.
REHEARSAL_YAML = """\
conference: {id: rehearsal-test, title: "Rehearsal test meeting", date: 2025-02-05, start: "14:30", timezone: Asia/Shanghai}
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
      - {name: "SAMPLE: Unit C", venue: nanhu}
agenda:
  - {id: opening, kind: presiding, title: "Opening", speaker: "The Mayor", planned: 2m}
  - {id: roll-call, kind: roll_call, title: "Roll call", planned: 3m, per_venue: 3s}
  - {id: awards, kind: award_presentation, title: "Awards", awards: [collectives], planned: 3m}
  - {id: speech-pinghu, kind: speech, title: "Pinghu speaks", speaker: "Leader of Pinghu", venue: pinghu, planned: 5m}
  - {id: speech-haiyan, kind: speech, title: "Haiyan speaks", speaker: "Leader of Haiyan", venue: haiyan, planned: 90s}
  - {id: closing, kind: closing, title: "Close", planned: 1m}
"""
SPEED = 600.0

# The control room: a called roll call, the main venue's return polled, a paging 2x2 wall,
# program polling (what runs on the session's clock runs at its own pace: about 45 s).
CONTROL_YAML = """\
conference: {id: control-rehearsal, title: "Control room rehearsal", date: 2025-02-05, start: "14:30", timezone: Asia/Shanghai}
venues:
  - {id: main, name: "Theatre", role: main}
  - {id: pinghu, name: "Pinghu City", role: branch, kind: county_city}
  - {id: haiyan, name: "Haiyan County", role: branch, kind: county}
  - {id: nanhu, name: "Nanhu District", role: branch, kind: district}
  - {id: xiuzhou, name: "Xiuzhou District", role: branch, kind: district}
  - {id: jiashan, name: "Jiashan County", role: branch, kind: county}
  - {id: haining, name: "Haining City", role: branch, kind: county_city}
agenda:
  - {id: opening, kind: presiding, title: "Opening", planned: 2m}
  - {id: roll-call, kind: roll_call, title: "Roll call", per_venue: 3s, planned: 4m}
  - id: report
    kind: speech
    title: "Report, the theatre polling the branch venues"
    planned: 10m
    polling: {target: main-return, dwell: 10s, venues: [nanhu, pinghu, xiuzhou]}
  - {id: wall, kind: speech, title: "The theatre's wall", planned: 5m, main_return: {mode: wall, layout: 2x2, page_every: 5s}}
  - {id: polled, kind: speech, title: "Every venue sees the polling", planned: 5m,
     polling: {target: program, dwell: 10s, venues: [jiashan, haining]}}
  - {id: closing, kind: closing, title: "Close", planned: 1m}
"""


@pytest.fixture(scope="session")
def rehearsal_yaml(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("conf") / "rehearsal.yaml"
    path.write_text(REHEARSAL_YAML)
    return path


@pytest.fixture(scope="session")
def rehearsal_conf() -> Conference:
    return parse_conference(REHEARSAL_YAML, "rehearsal.yaml")


@pytest.fixture(scope="session")
def control_conf() -> Conference:
    return parse_conference(CONTROL_YAML, "control.yaml")


async def run_rehearsal(
    conf: Conference, report_dir: Path | None = None, progress: Progress | None = None, **drills: list[str]
) -> Report:
    """A rehearsal of `conf` at SPEED with these drills (absent=, drops=, loss=, no_answer=)."""
    options = RehearsalOptions(speed=SPEED, drills=parse_drills(conf, **drills), report_dir=report_dir)
    return await rehearse(conf, options, progress)


def kinds(report: Report) -> set[str]:
    return {f.kind for f in report.findings}
