"""The rehearsal's operator decisions, with a stand-in for the server's API."""

from __future__ import annotations

from orchestrator.operator_client import CommandAnswer
from orchestrator.rehearsal import RehearsalOptions, parse_drills
from orchestrator.rehearsal.runner import Rehearsal

POOR = "cannot take venue 'pinghu': its link is poor (loss 20.0%, round trip 1 ms); confirm to put it on air anyway"


class Answers:
    """Answers commands in turn with (status, error, code)."""

    def __init__(self, *answers: tuple[int, str | None, str | None]):
        self.answers = list(answers)
        self.sent: list[dict] = []

    async def command(self, command: dict, command_id: str | None = None) -> CommandAnswer:
        self.sent.append(command)
        status, error, code = self.answers.pop(0)
        return CommandAnswer(status, [], error, code)


async def test_a_take_refused_for_a_poor_link_is_confirmed_as_a_drill_outcome(rehearsal_conf):
    rehearsal = Rehearsal(rehearsal_conf, RehearsalOptions(drills=parse_drills(rehearsal_conf, loss=["pinghu:20"])))
    rehearsal.operator = Answers((409, POOR, "link_poor_needs_confirm"), (200, None, None))
    await rehearsal._take("pinghu", "speech-pinghu")
    assert rehearsal.operator.sent == [{"type": "take", "venue": "pinghu"}, {"type": "take", "venue": "pinghu", "confirm": True}]
    assert rehearsal.findings == []
    (outcome,) = rehearsal.outcomes
    assert (outcome.drill, outcome.venue, outcome.segment) == ("loss", "pinghu", "speech-pinghu")
    assert outcome.message == f"the take of 'pinghu' needed confirmation: {POOR}"
    assert [(r.status, r.code) for r in rehearsal.commands] == [(409, "link_poor_needs_confirm"), (200, None)]


async def test_the_decision_follows_the_code_not_the_sentence(rehearsal_conf):
    """A refusal that reads like a poor link but has another code is not confirmed."""
    rehearsal = Rehearsal(rehearsal_conf, RehearsalOptions())
    rehearsal.operator = Answers((409, POOR, "not_connected"))
    await rehearsal._take("pinghu", "speech-pinghu")
    assert rehearsal.operator.sent == [{"type": "take", "venue": "pinghu"}]
    (finding,) = rehearsal.findings
    assert finding.kind == "command_rejected"


async def test_any_other_refusal_is_a_finding(rehearsal_conf):
    rehearsal = Rehearsal(rehearsal_conf, RehearsalOptions())
    rehearsal.operator = Answers((409, "cannot take venue 'pinghu': it is not connected", "not_connected"))
    await rehearsal._take("pinghu", "speech-pinghu")
    (finding,) = rehearsal.findings
    assert (finding.kind, finding.segment, finding.venue) == ("command_rejected", "speech-pinghu", "pinghu")
    assert finding.message == "take was refused (409): cannot take venue 'pinghu': it is not connected"
