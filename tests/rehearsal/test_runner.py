"""The rehearsal's operator decisions, with a stand-in for the server's API."""

from __future__ import annotations

from orchestrator.rehearsal import RehearsalOptions, parse_drills
from orchestrator.rehearsal.client import CommandRecord
from orchestrator.rehearsal.runner import Rehearsal

POOR = "cannot take venue 'pinghu': its link is poor (loss 20.0%, round trip 1 ms); confirm to put it on air anyway"


class Answers:
    """Answers commands in turn with (status, error)."""

    def __init__(self, *answers: tuple[int, str | None]):
        self.answers = list(answers)
        self.sent: list[dict] = []

    async def command(self, command: dict) -> CommandRecord:
        self.sent.append(command)
        status, error = self.answers.pop(0)
        return CommandRecord(command, sent=0.0, answered=0.0, status=status, error=error)


async def test_a_take_refused_for_a_poor_link_is_confirmed_as_a_drill_outcome(rehearsal_conf):
    rehearsal = Rehearsal(rehearsal_conf, RehearsalOptions(drills=parse_drills(rehearsal_conf, loss=["pinghu:20"])))
    rehearsal.client = Answers((409, POOR), (200, None))
    await rehearsal._take("pinghu", "speech-pinghu")
    assert rehearsal.client.sent == [{"type": "take", "venue": "pinghu"}, {"type": "take", "venue": "pinghu", "confirm": True}]
    assert rehearsal.findings == []
    (outcome,) = rehearsal.outcomes
    assert (outcome.drill, outcome.venue, outcome.segment) == ("loss", "pinghu", "speech-pinghu")
    assert outcome.message == f"the take of 'pinghu' needed confirmation: {POOR}"


async def test_any_other_refusal_is_a_finding(rehearsal_conf):
    rehearsal = Rehearsal(rehearsal_conf, RehearsalOptions())
    rehearsal.client = Answers((409, "cannot take venue 'pinghu': it is not connected"))
    await rehearsal._take("pinghu", "speech-pinghu")
    (finding,) = rehearsal.findings
    assert (finding.kind, finding.segment, finding.venue) == ("command_rejected", "speech-pinghu", "pinghu")
    assert finding.message == "take was refused (409): cannot take venue 'pinghu': it is not connected"
