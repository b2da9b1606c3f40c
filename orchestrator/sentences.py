"""What the session says, in the reader's language, from its codes and parameters.

The core speaks in codes: a refused command is `CommandRejected(code, params, action,
action_params)`, a roll-call entry's note is a code with `note_params`, a fallback's
reason a code with `reason_params`. This module holds the sentence of every code (English
msgids, translated through `orchestrator.i18n`) and renders them for the adapters: the
HTTP and socket answers, the console's state, the CSV, the minutes, the rehearsal.

A refusal reads "cannot <what the command was doing>: <why>", e.g. "cannot take venue
'haiyan': it is not connected". Values that are words (a roll-call status, a roll call's
phase, a polling target) are translated too; numbers are formatted here.

Logs written before the codes existed hold English sentences where codes now are: a
note or reason that is no code is shown as it was written.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from .hints import DID_YOU_MEAN
from .i18n import N_, SOURCE_LANGUAGE, Language, duration, ntranslate, translate

if TYPE_CHECKING:
    from .conference import Conference
    from .core.errors import CommandRejected

Params = Mapping[str, object]

# ---------------------------------------------------------------- words inside sentences

# (kind of value, value) -> its word. English shows the value itself unless listed here.
WORDS: dict[str, dict[str, str]] = {
    "status": {
        "present": N_("present"), "absent": N_("absent"), "no_answer": N_("no_answer"),
        "pending": N_("pending"), "waiting": N_("waiting"),
    },
    "phase": {"running": N_("running"), "finished": N_("finished")},
    "mode": {"program": N_("program"), "single": N_("single"), "wall": N_("wall")},
    "target": {"program": N_("the program"), "main_return": N_("the main venue's return")},
}


def word(lang: Language, kind: str, value: object) -> str:
    msgid = WORDS.get(kind, {}).get(str(value))
    return translate(lang, msgid) if msgid else str(value)


def _words(lang: Language, params: Params) -> dict[str, object]:
    return {k: word(lang, k, v) if k in WORDS and v is not None else v for k, v in params.items()}


# ---------------------------------------------------------------- what a refused command was doing

ACTIONS: dict[str, str] = {
    "start_session": N_("start the session"),
    "end_session": N_("end the session"),
    "next_segment": N_("go to the next segment"),
    "previous_segment": N_("go back to the previous segment"),
    "goto_segment": N_("go to segment '{segment}'"),
    "take": N_("take venue '{venue}'"),
    "start_roll_call": N_("start the roll call"),
    "mark_roll_call": N_("mark '{venue}' {status}"),
    "retry_roll_call": N_("retry the roll call of '{venue}'"),
    "finish_roll_call": N_("finish the roll call"),
    "answer_roll_call": N_("record the roll-call answer of '{venue}'"),
    "next_award": N_("advance the awards"),
    "grant_floor": N_("give the floor to '{venue}'"),
    "dismiss_hand": N_("dismiss the raised hand of '{venue}'"),
    "raise_hand": N_("raise the hand of '{venue}'"),
    "lower_hand": N_("lower the hand of '{venue}'"),
    "mute_venue": N_("mute '{venue}'"),
    "unmute_venue": N_("unmute '{venue}'"),
    "mute_all_but_on_air": N_("mute all venues but the one on air"),
    "set_caption": N_("set the caption"),
    "reset_caption": N_("reset the caption"),
    "revoke_link": N_("revoke the links of '{venue}'"),
    "pause_roll_call": N_("pause the roll call"),
    "resume_roll_call": N_("resume the roll call"),
    "skip_roll_call_venue": N_("skip the venue being called"),
    "start_polling": N_("start polling on {target}"),
    "pause_polling": N_("pause the polling"),
    "resume_polling": N_("resume the polling"),
    "stop_polling": N_("stop the polling"),
    "set_main_return": N_("set the main venue's return to {mode}"),
    "start_recording": N_("start recording the program"),
    "stop_recording": N_("stop recording the program"),
    "recording_failed": N_("record that the recording failed ({failure})"),
    "tick": N_("pass time"),
    "join_venue": N_("record that '{venue}' joined"),
    "leave_venue": N_("record that '{venue}' left"),
    "report_link": N_("record the link of '{venue}'"),
    "report_media_node_lost": N_("record that the media node {node} was lost"),
    "report_media_node_back": N_("record that the media node {node} is back"),
    "record_server_start": N_("record the server's start"),
}

# ---------------------------------------------------------------- why: one sentence per refusal code

Why = str | Callable[[Params], str]


def _link_poor(params: Params) -> str:
    return N_("its link is poor (loss {loss_pct}%, round trip {rtt_ms} ms); confirm to put it on air anyway")


REFUSALS: dict[str, Why] = {
    "session_not_started": N_("the session has not started"),
    "session_already_running": N_("the session is already running"),
    "session_ended": N_("the session has ended"),
    "unknown_venue": N_("there is no venue '{venue}' in this conference"),
    "unknown_segment": N_("there is no segment '{segment}' in the agenda"),
    "not_connected": N_("it is not connected"),
    "already_connected": N_("it is already connected"),
    "already_on_air": N_("it is already on air"),
    "on_air": N_("it is on air"),
    "link_poor_needs_confirm": _link_poor,
    "not_a_roll_call": N_("segment '{segment}' is not a roll call"),
    "roll_call_not_started": N_("the roll call of '{segment}' has not started"),
    "roll_call_finished": N_("the roll call of '{segment}' has finished"),
    "roll_call_not_called_mode": N_("the roll call of '{segment}' checks every venue at once; it calls nobody in turn"),
    "roll_call_already_started": N_("the roll call of '{segment}' is already {phase}; retry a venue instead"),
    "roll_call_in_progress": lambda p: (
        N_("the called roll call of '{segment}' holds the program (calling '{calling}'); pause or finish it first")
        if "calling" in p else N_("the called roll call of '{segment}' holds the program; finish it first")),
    "roll_call_not_your_turn": lambda p: (
        N_("it is not its turn ('{calling}' is being called)") if p.get("calling")
        else N_("it is not its turn (nobody is being called)")),
    "roll_call_not_asking": N_("it is not being asked (recorded {status})"),
    "roll_call_already_recorded": N_("it is already recorded {status}"),
    "roll_call_paused": N_("the roll call of '{segment}' is paused; resume it first"),
    "roll_call_already_paused": N_("the roll call of '{segment}' is already paused"),
    "roll_call_not_paused": N_("the roll call of '{segment}' is not paused"),
    "roll_call_nobody_called": N_("no venue is being called"),
    "not_on_roll_call": N_("'{venue}' is not on the roll call of '{segment}'"),
    "polling_in_progress": N_("program polling holds the program; stop it first"),
    "polling_not_running": N_("no polling is running"),
    "polling_already_running": N_("polling on {target} is already running; stop it first"),
    "polling_already_paused": N_("the polling is already paused"),
    "polling_not_paused": N_("the polling is not paused"),
    "no_branch_venues": N_("this conference has no branch venues"),
    "main_venue_listed": lambda p: (
        N_("'{venue}' is the main venue itself") if p.get("option") == "venue"
        else N_("'{venue}' is the main venue; list branch venues only")),
    "duplicate_venue": N_("'{venue}' is listed twice"),
    "main_return_option_not_for_mode": N_("'{option}' does not go with mode {mode}"),
    "main_return_venue_missing": N_("mode single needs the venue to show"),
    "main_return_layout_missing": N_("mode wall needs a layout: 2x2, 3x3 or 4x4"),
    "main_return_unchanged": N_("the main venue's return is already set to {mode} like that"),
    "last_segment": N_("'{segment}' is the last segment; end the session instead"),
    "first_segment": N_("'{segment}' is the first segment"),
    "already_current_segment": N_("it is already the current segment"),
    "floor_not_requested": N_("'{venue}' has not asked for the floor"),
    "hand_already_raised": N_("it has already asked for the floor"),
    "hand_not_raised": N_("its hand is not raised"),
    "already_muted": N_("it is already muted"),
    "not_muted": N_("it is not muted"),
    "caption_not_overridden": N_("the caption is not overridden"),
    "recording_not_running": N_("the program is not being recorded"),
    "recording_already_running": N_("the program is already being recorded"),
    "not_an_award_presentation": N_("segment '{segment}' is not an award presentation"),
    "awards_all_presented": N_("all {presentations} presentations of the {awards} awards of '{segment}' have been made"),
}

REFUSAL = N_("cannot {action}: {why}")


def _numbers(code: str, params: Params) -> dict[str, object]:
    if code == "link_poor_needs_confirm":
        return {"loss_pct": f"{_number(params.get('loss_pct')):.1f}", "rtt_ms": f"{_number(params.get('rtt_ms')):.0f}"}
    return {}


def _number(value: object) -> float:
    return float(value) if isinstance(value, int | float) else 0.0


def why(lang: Language, code: str, params: Params) -> str:
    """The reason of a refusal with this code, in `lang`."""
    found = REFUSALS.get(code)
    msgid = found(params) if callable(found) else (found or code)
    text = translate(lang, msgid, **{**_words(lang, params), **_numbers(code, params)})
    suggestion = params.get("suggestion")
    return text + translate(lang, DID_YOU_MEAN, suggestion=suggestion) if suggestion else text


def refusal(lang: Language, exc: CommandRejected, conference: Conference | None = None) -> str:
    """'cannot take venue 'haiyan': it is not connected', in `lang`.

    Given the `conference`, a translated sentence names venues and segments as the file
    names them ("无法切换会场“海盐县”上屏"); English keeps the ids, as typed in commands."""
    params: Params = exc.params
    action_params: Params = exc.action_params
    if conference is not None and lang != SOURCE_LANGUAGE:
        params, action_params = _named(params, conference), _named(action_params, conference)
    reason = why(lang, exc.code, params)
    if exc.action is None:
        return reason
    action = translate(lang, ACTIONS.get(exc.action, exc.action), **_words(lang, action_params))
    return translate(lang, REFUSAL, action=action, why=reason)


def _named(params: Params, conference: Conference) -> dict[str, object]:
    """Venue and segment ids replaced by their names (an unknown id stays as it was typed)."""
    venues = {v.id: v.name for v in conference.venues}
    segments = {s.id: s.title for s in conference.agenda}
    table = {"venue": venues, "calling": venues, "segment": segments}
    return {k: table[k].get(v, v) if k in table and isinstance(v, str) else v for k, v in params.items()}


# ---------------------------------------------------------------- roll-call notes and fallbacks

STATUS_WORDS: dict[str, str] = {
    "present": N_("present"), "absent": N_("absent"), "no_answer": N_("no answer"),
    "pending": N_("pending"), "waiting": N_("waiting"),
}  # a roll-call entry's status, in words

NOTES: dict[str, str] = {
    "not_connected_at_start": N_("not connected when the roll call started"),
    "not_connected_when_called": N_("not connected when called"),
    "disconnected_while_called": N_("disconnected while called"),
    "skipped": N_("skipped"),
    "no_answer_in_time": N_("no answer within {within}"),
    "no_answer": N_("no answer"),
    "no_answer_by_segment_end": N_("no answer before the segment ended"),
    "no_answer_by_finish": N_("no answer when the roll call was finished"),
    "not_called_by_finish": N_("not called before the roll call was finished"),
    "not_called_by_segment_end": N_("not called before the segment ended"),
}


def note(lang: Language, code: str | None, params: Params | None = None) -> str:
    """A roll-call entry's note in `lang` ('' for none; an old log's English note as written)."""
    if not code:
        return ""
    msgid = NOTES.get(code)
    if msgid is None:
        return code
    params = dict(params or {})
    if isinstance(params.get("within_s"), int | float):
        params["within"] = duration(lang, float(params["within_s"]))  # type: ignore[arg-type]
    return translate(lang, msgid, **params)


# Why a venue left: the media plane's and the runtime's fixed phrases (the msgid is the phrase).
LEAVE_REASONS: frozenset[str] = frozenset({
    N_("left"), N_("signalling closed"), N_("replaced"), N_("heartbeat lost"), N_("connection failed"),
    N_("never connected"), N_("did not come back after a server restart"), N_("replaced by a new connection"),
    N_("server stopping"), N_("connection closed"), N_("restarting"), N_("error"),
})


def leave_reason(lang: Language, reason: str | None) -> str:
    if not reason:
        return ""
    return translate(lang, reason) if reason in LEAVE_REASONS else reason


# ---------------------------------------------------------------- media nodes (Janus)


def media_node(lang: Language, node: str, venues: int, back: bool) -> str:
    """What the console says of a media node that was lost (with `venues` on it), or is back."""
    if back:
        return translate(lang, N_("Media node {node} is back: new venues join it again."), node=node)
    moved = ntranslate(lang, "{n} venue was moved to the other nodes", "{n} venues were moved to the other nodes", venues)
    return translate(lang, N_("Media node {node} was lost: {moved}. The session goes on."), node=node, moved=moved)


# ---------------------------------------------------------------- fallbacks

FALLBACKS: dict[str, str] = {
    "venue_disconnected": N_("'{venue}' disconnected ({left})"),
    "segment_venue_not_connected": N_("segment '{segment}' is on air from '{venue}', which is not connected"),
}


def fallback(lang: Language, reason: str, params: Params | None = None) -> str:
    """Why the program fell back to the main venue, in `lang` (an old log's sentence as written)."""
    msgid = FALLBACKS.get(reason)
    if msgid is None:
        return reason
    params = dict(params or {})
    params["left"] = leave_reason(lang, str(params.get("left") or ""))
    return translate(lang, msgid, **params)
