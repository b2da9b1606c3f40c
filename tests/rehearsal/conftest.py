from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.config import Conference, parse_conference
from orchestrator.rehearsal import RehearsalOptions, Report, parse_drills, rehearse
from orchestrator.rehearsal.progress import Progress

# Six segments; at SPEED each runs its two-second minimum, so a rehearsal takes about 15 s.
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
  - {id: roll-call, kind: roll_call, title: "Roll call", planned: 3m, mode: check}
  - {id: awards, kind: award_presentation, title: "Awards", awards: [collectives], planned: 3m}
  - {id: speech-pinghu, kind: speech, title: "Pinghu speaks", speaker: "Leader of Pinghu", venue: pinghu, planned: 5m}
  - {id: speech-haiyan, kind: speech, title: "Haiyan speaks", speaker: "Leader of Haiyan", venue: haiyan, planned: 90s}
  - {id: closing, kind: closing, title: "Close", planned: 1m}
"""
SPEED = 600.0


@pytest.fixture(scope="session")
def rehearsal_yaml(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("conf") / "rehearsal.yaml"
    path.write_text(REHEARSAL_YAML)
    return path


@pytest.fixture(scope="session")
def rehearsal_conf() -> Conference:
    return parse_conference(REHEARSAL_YAML, "rehearsal.yaml")


async def run_rehearsal(
    conf: Conference, report_dir: Path | None = None, progress: Progress | None = None, **drills: list[str]
) -> Report:
    options = RehearsalOptions(speed=SPEED, drills=parse_drills(conf, **drills), report_dir=report_dir)
    return await rehearse(conf, options, progress)


def kinds(report: Report) -> set[str]:
    return {f.kind for f in report.findings}
