"""The wire protocol: every message on `/ws/venue` and `/ws/operator`, both ways, and the
bodies of the REST API.

One module, so that the server, the venue agent, the rehearsal, the benchmark and the
tests speak one schema (the pages' JavaScript follows it by hand). A message is a JSON
object with a `type`; each direction of each socket is one discriminated union:

- `/ws/venue`:    `VenueMessage` (venue -> server), `ToVenueMessage` (server -> venue);
- `/ws/operator`: `ConsoleMessage` (console -> server), `ToConsoleMessage` (server -> console);
- REST: `ErrorBody` for every error answer, `CommandAccepted` for `POST /api/commands`,
  `OperatorState` for `GET /api/state`, `Health` for `GET /healthz`, `JoinLinks`, `RollCalls`.

The models are frozen and strict: extra keys are errors, and `"confirm": "yes"` is not
true (enumerations take their string values). Errors carry a machine `code` (snake_case:
`bad_json`, `unknown_type`, `not_connected`, ...) and, where there are some, `params`
beside the sentence for people. Senders send `wire(model)`; receivers parse text with
`parse(adapter, text)` or the adapters below.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    SerializerFunctionWrapHandler,
    TypeAdapter,
    ValidationError,
    model_serializer,
)

from . import sentences
from .conference import (
    Conference,
    PollingTarget,
    ReturnMode,
    RollCallMode,
    SegmentKind,
    VenueKind,
    VenueRole,
    WallLayout,
)
from .core.errors import CommandRejected, Param
from .core.events import Caption, Event, MainReturnMode, RecordingStopReason
from .core.state import LinkQuality, RollCallPhase, RollCallStatus, SegmentStatus, SessionPhase
from .i18n import N_, PARTS, Language, Phrase, phrase, said

Params = dict[str, Param]

# ---------------------------------------------------------------------------- base

Code = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]


E = TypeVar("E")
# An enumeration field: its string value is accepted (strict mode wants the instance).
Lax = Annotated[E, Field(strict=False)]


class _Msg(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class _Sparse(_Msg):
    """A model whose `_sparse` fields are left out when they have no value (rather than sent as null)."""

    _sparse: ClassVar[frozenset[str]] = frozenset()

    @model_serializer(mode="wrap")
    def _drop_unset(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data = handler(self)
        return {k: v for k, v in data.items() if k not in self._sparse or v is not None}


def wire(message: BaseModel) -> dict[str, Any]:
    """What goes on the wire for `message` (JSON-ready)."""
    return message.model_dump(mode="json")


# ---------------------------------------------------------------------------- bad input


class BadMessage(ValueError):
    """A message that cannot be understood; `said` says what is wrong (the exception's text
    is its English), `code` what kind."""

    def __init__(self, message: Phrase | str, code: str = "bad_message", params: Params | None = None):
        self.said = message if isinstance(message, Phrase) else phrase("{message}", message=message)
        super().__init__(self.said.say())
        self.code = code
        self.params: Params = dict(params or {})

    def text(self, lang: Language = "en") -> str:
        """What is wrong, in `lang` (pydantic's own checks of a field keep their English words)."""
        return self.said.say(lang)


def _where(loc: tuple) -> str:
    return ".".join(str(p) for p in loc if not str(p).startswith(("function-", "tagged-union")))


def describe_validation_error(exc: ValidationError) -> Phrase:
    parts = []
    for err in exc.errors(include_url=False):
        where = _where(err["loc"])
        if err["type"] == "union_tag_invalid":
            tag = err.get("ctx", {}).get("tag")
            expected = err.get("ctx", {}).get("expected_tags", "")
            parts.append(phrase(N_("unknown message type '{tag}' (expected one of {expected})"), tag=str(tag),
                                expected=str(expected)))
        elif err["type"] == "union_tag_not_found":
            parts.append(phrase(N_("the message has no 'type'")))
        elif err["type"] == "missing":
            parts.append(phrase(N_("'{field}' is missing"), field=where))
        elif err["type"] == "extra_forbidden":
            parts.append(phrase(N_("'{field}' is not expected here"), field=where))
        else:
            # the text's own checks say it in any language; pydantic's in its English words,
            # the first letter lower-cased only (the rest may name a character: U+200B ...)
            msg = err["msg"]
            why = said(err) or phrase("{message}", message=f"{msg[:1].lower()}{msg[1:]}" if where else msg)
            parts.append(phrase(N_("'{field}': {why}"), field=where, why=why) if where else why)
    return phrase(PARTS, parts=parts)


def bad_message(exc: ValidationError) -> BadMessage:
    """The BadMessage for a validation error: `unknown_type` when the type is the problem."""
    first = exc.errors(include_url=False)[0]
    if first["type"] in ("union_tag_invalid", "union_tag_not_found"):
        tag = first.get("ctx", {}).get("tag")
        return BadMessage(describe_validation_error(exc), "unknown_type", {"type": tag} if isinstance(tag, str) else None)
    return BadMessage(describe_validation_error(exc), "bad_message", {"field": _where(first["loc"]) or None})


def _not_json(constant: str) -> None:
    raise ValueError(f"{constant} is not a JSON value")


def _finite(number: str) -> float:
    value = float(number)
    if math.isinf(value):
        raise ValueError(f"{number[:20]} is too large a number")
    return value


def parse_json_object(text: str | bytes) -> dict:
    try:
        # NaN and Infinity are not JSON (Python reads them), and 1e999 is read as infinity: no
        # number can be sent back as it came (a `ref` of Infinity would come back as null)
        data = json.loads(text, parse_constant=_not_json, parse_float=_finite)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadMessage(phrase(N_("not valid JSON: {error}"), error=str(exc)), "bad_json") from None
    except RecursionError:
        raise BadMessage(phrase(N_("not valid JSON: nested too deeply")), "bad_json") from None
    if not isinstance(data, dict):
        raise BadMessage(phrase(N_("expected a JSON object, got {type}"), type=type(data).__name__))
    try:  # JSON escapes can smuggle in lone surrogates, which no later step can encode
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise BadMessage(phrase(N_("the message contains text that is not valid Unicode")), "bad_json") from None
    return data


M = TypeVar("M")


def validate(adapter: TypeAdapter[M], data: Mapping[str, Any]) -> M:
    """`data` (a parsed JSON object) as a message of `adapter`'s union, or BadMessage."""
    try:
        return adapter.validate_python(data)
    except ValidationError as exc:
        raise bad_message(exc) from None


def valid(adapter: TypeAdapter, value: Any) -> bool:
    try:
        adapter.validate_python(value)
    except ValidationError:
        return False
    return True


def parse(adapter: TypeAdapter[M], text: str | bytes) -> M:
    """A received JSON text as a message of `adapter`'s union, or BadMessage."""
    return validate(adapter, parse_json_object(text))


# ---------------------------------------------------------------------------- errors


class ErrorMessage(_Sparse):
    """An error on either socket: what went wrong (`message`), its `code`, its `params`."""

    _sparse = frozenset({"params"})
    type: Literal["error"] = "error"
    code: Code
    message: str
    params: Params | None = None


class ErrorBody(_Sparse):
    """Every HTTP error answer (401, 404, 405, 409, 413, 422, ...)."""

    _sparse = frozenset({"params"})
    error: str
    code: Code
    params: Params | None = None


def _given(params: Params) -> dict[str, Any]:
    return {"params": dict(params)} if params else {}


def error_message(code: str, message: str, params: Params | None = None) -> ErrorMessage:
    return ErrorMessage(code=code, message=message, **_given(params or {}))


def error_body(code: str, message: str, params: Params | None = None) -> ErrorBody:
    return ErrorBody(error=message, code=code, **_given(params or {}))


def refusal(exc: CommandRejected | BadMessage, lang: Language = "en", conference: Conference | None = None) -> ErrorBody:
    """The error body of a refused (its sentence in `lang`) or malformed command."""
    return error_body(exc.code, reason(exc, lang, conference), exc.params)


def reason(exc: CommandRejected | BadMessage, lang: Language = "en", conference: Conference | None = None) -> str:
    """What is wrong, for people, in `lang`: a refusal names the `conference`'s venues and segments."""
    return sentences.refusal(lang, exc, conference) if isinstance(exc, CommandRejected) else exc.text(lang)


# ---------------------------------------------------------------------------- /ws/venue: venue -> server


class Hello(_Msg):
    type: Literal["hello"] = "hello"
    token: Annotated[str, Field(max_length=4096)]
    venue: str | None = None  # if given, must match the token
    client: Annotated[str, Field(max_length=100)] = "unknown"


class Offer(_Msg):
    type: Literal["offer"] = "offer"
    sdp: str


class DownlinkAnswer(_Msg):
    """The venue's answer to the server's last `downlink_offer` (media planes whose
    `Welcome.downlink` is "server_offer")."""

    type: Literal["downlink_answer"] = "downlink_answer"
    sdp: str


class Heartbeat(_Msg):
    """Sent by the venue every `heartbeat_s`; the server answers with the same."""

    type: Literal["heartbeat"] = "heartbeat"


class RollCallAnswer(_Msg):
    type: Literal["roll_call_answer"] = "roll_call_answer"
    picture_ok: bool
    sound_ok: bool


class RaiseHand(_Msg):
    type: Literal["raise_hand"] = "raise_hand"


class LowerHand(_Msg):
    type: Literal["lower_hand"] = "lower_hand"


VenueMessage = Annotated[
    Hello | Offer | DownlinkAnswer | Heartbeat | RollCallAnswer | RaiseHand | LowerHand, Field(discriminator="type")
]
venue_message_adapter: TypeAdapter[VenueMessage] = TypeAdapter(VenueMessage)


def parse_venue_message(text: str | bytes) -> VenueMessage:
    return parse(venue_message_adapter, text)


# ---------------------------------------------------------------------------- /ws/venue: server -> venue


class VenueInfo(_Msg):
    id: str
    name: str
    role: Lax[VenueRole]


class ConferenceInfo(_Msg):
    """The conference as a venue sees it: its time zone (the page's clock) and language."""

    id: str
    title: str
    timezone: str
    language: str


class IceServer(_Sparse):
    """An RTCIceServer: STUN, or TURN with the venue's own credential."""

    _sparse = frozenset({"username", "credential"})
    urls: list[str]
    username: str | None = None
    credential: str | None = None


class Welcome(_Msg):
    """The answer to a good `hello`: who the venue is, and how to connect its media.

    `wall_slots`: how many receive-only video m-lines to offer after the three usual ones
    for the main venue's wall (0 for a branch venue); `main_return` says what each shows.
    `server_time`: the server's clock (unix seconds), so a page can count down to the
    deadlines the server sends.

    `downlink`: how the program comes down. "same_peer": the venue offers one peer (video
    and audio sending and receiving, a receive-only audio line for the main venue, then the
    wall slots). "server_offer": the venue offers its camera and microphone send-only
    (`offer`), and the server then sends a `downlink_offer` for a second peer, to be
    answered with `downlink_answer` (again for every later `downlink_offer`); its m-lines
    are, in order, the program video, the program audio, the main venue's audio and the
    wall slots."""

    type: Literal["welcome"] = "welcome"
    venue: VenueInfo
    conference: ConferenceInfo
    venues: dict[str, str]  # id -> name, in the conference's order (a venue's mark is its index)
    venue_index: int
    ice_servers: list[IceServer]
    heartbeat_s: float
    wall_slots: int = 0
    server_time: float | None = None
    downlink: Literal["same_peer", "server_offer"] = "same_peer"


class Answer(_Msg):
    """The SDP answer to an offer (venue media, or the console's monitor)."""

    type: Literal["answer"] = "answer"
    sdp: str


class DownlinkOffer(_Msg):
    """The server's offer of the venue's downlink peer (see `Welcome.downlink`)."""

    type: Literal["downlink_offer"] = "downlink_offer"
    sdp: str


class SegmentInfo(_Msg):
    id: str
    kind: Lax[SegmentKind]
    title: str
    speaker: str | None
    venue: str
    planned_s: float


class RollCallCall(_Msg):
    """A called roll call while it runs: who is called now (every venue sees it on air), and until when."""

    segment: str
    calling: str | None  # None: nobody (between calls, or paused before the next)
    calling_name: str | None
    deadline: float | None  # server time; None while paused
    paused: bool


class VenueView(_Msg):
    """What one venue is shown of the session (no other venue's details)."""

    type: Literal["state"] = "state"
    phase: Lax[SessionPhase]
    segment: SegmentInfo | None
    on_air: str
    on_air_name: str
    you_are_on_air: bool
    caption: Caption | None
    muted: bool
    hand_raised: bool
    roll_call: Lax[RollCallStatus] | None  # this venue's entry while a roll call runs
    roll_call_call: RollCallCall | None = None  # a called roll call while it runs


class RollCallPrompt(_Sparse):
    """Confirm you are present (with your picture and sound checked). A called roll call's
    prompt (`mode` called) comes when the venue is called, on air: it has `left_s` seconds
    (until `deadline`, server time) to answer."""

    _sparse = frozenset({"deadline", "left_s"})
    type: Literal["roll_call_prompt"] = "roll_call_prompt"
    segment: str
    mode: Lax[RollCallMode] = RollCallMode.CHECK
    deadline: float | None = None
    left_s: float | None = None


class RollCallRecorded(_Msg):
    type: Literal["roll_call_recorded"] = "roll_call_recorded"
    picture_ok: bool
    sound_ok: bool


class WallTile(_Msg):
    slot: int  # the main venue's wall slot (its receive-only video m-line, in offer order)
    venue: str
    name: str


class MainReturn(_Msg):
    """To the main venue only: what its return shows now. `program`: the program, like every
    venue; `single`: its program video shows `venue` (`mode` says whether one venue was
    chosen or polling is on it); `wall`: `tiles` in its wall slots, page `page` of `pages`,
    laid out `layout` on its page with each venue's name (its program video keeps the program)."""

    type: Literal["main_return"] = "main_return"
    mode: Lax[MainReturnMode]
    shows: Lax[ReturnMode]
    venue: str | None
    name: str | None
    layout: Lax[WallLayout] | None
    tiles: list[WallTile]
    page: int
    pages: int


class Replaced(_Msg):
    """This connection was replaced by a newer one for the same venue (close code 4002)."""

    type: Literal["replaced"] = "replaced"
    message: str


class Restarting(_Msg):
    """The server is stopping; reconnect (close code 4006)."""

    type: Literal["restarting"] = "restarting"
    message: str


ToVenueMessage = Annotated[
    Welcome | VenueView | Heartbeat | Answer | DownlinkOffer | RollCallPrompt | RollCallRecorded | MainReturn | Replaced | Restarting
    | ErrorMessage,
    Field(discriminator="type"),
]
to_venue_adapter: TypeAdapter[ToVenueMessage] = TypeAdapter(ToVenueMessage)

# WebSocket close codes of /ws/venue (the private range)
CLOSE_AUTH = 4001
CLOSE_REPLACED = 4002
CLOSE_HEARTBEAT = 4003
CLOSE_RATE = 4004
CLOSE_REVOKED = 4005
CLOSE_RESTART = 4006


# ---------------------------------------------------------------------------- the operator's state


class ConferenceView(_Msg):
    id: str
    title: str
    date: str  # YYYY-MM-DD
    start: str  # HH:MM
    timezone: str
    starts_at: float
    main_venue: str


class SegmentRow(SegmentInfo):
    status: Lax[SegmentStatus]
    started_at: float | None
    ended_at: float | None
    elapsed_s: float
    remaining_s: float
    overrun_s: float
    awards: list[str] | None


class LinkView(_Sparse):
    """A venue's link: its quality, and while it is connected what the server measures."""

    _sparse = frozenset({"bitrate_in_kbps", "bitrate_out_kbps", "loss_pct", "rtt_ms", "fps_in",
                         "packets_received", "packets_lost"})
    quality: Lax[LinkQuality]
    bitrate_in_kbps: float | None = None
    bitrate_out_kbps: float | None = None
    loss_pct: float | None = None
    rtt_ms: float | None = None
    fps_in: float | None = None
    packets_received: int | None = None
    packets_lost: int | None = None


class VenueRow(_Msg):
    name: str
    role: Lax[VenueRole]
    kind: Lax[VenueKind] | None
    connected: bool
    muted: bool
    on_air: bool
    hand_raised: bool
    link: LinkView
    joined_at: float | None
    left_at: float | None
    left_reason: str | None
    media_node: str | None = None  # the id of the media node it is on (None: one-process media, or not placed)


class MediaNodeView(_Msg):
    """A node of a media plane with several (Janus): where its API is (host:port), whether it
    answers (None: not used yet) and how many venues are on it."""

    id: str
    host: str
    alive: bool | None
    venues: int


class RollCallEntryView(_Sparse):
    """One venue's record; `note` in the reader's language, `note_code` the session's code."""

    _sparse = frozenset({"note_code"})
    status: Lax[RollCallStatus]
    at: float | None
    prompted_at: float | None
    picture_ok: bool | None
    sound_ok: bool | None
    by: str | None
    note: str
    note_code: str | None = None


class RollCallView(_Msg):
    segment: str
    phase: Lax[RollCallPhase]
    started_at: float
    finished_at: float | None
    mode: Lax[RollCallMode]
    calling: str | None  # called roll call: the venue being called now
    call_deadline: float | None  # called roll call: when that call runs out (None while paused)
    paused: bool
    counts: dict[str, int]  # by the statuses a roll call of this mode records
    venues: dict[str, RollCallEntryView]


class PollingView(_Msg):
    """Site polling while it runs: `venues` in turn, `dwell` seconds each."""

    target: Lax[PollingTarget]
    venues: list[str]
    dwell: float
    segment: str | None
    index: int
    current: str | None  # the venue shown
    next_at: float | None  # the next step (None while paused)
    paused: bool
    left: float | None  # paused: seconds that were left before the next step


class MainReturnPanel(_Msg):
    """What the main venue's return is set to (`mode`) and what it shows now."""

    mode: Lax[MainReturnMode]
    shows: Lax[ReturnMode]
    venue: str | None
    layout: Lax[WallLayout] | None
    tiles: list[str]
    page: int
    pages: int


class AwardStep(_Msg):
    award: str
    category: str
    recipient: str
    venue: str | None


class AwardPanel(_Msg):
    segment: str
    total: int
    index: int  # -1 before the first award
    current: AwardStep | None
    next: AwardStep | None
    steps: list[AwardStep]  # every award step of the segment, in order (the console's list)


class FloorEntry(_Msg):
    venue: str
    at: float


class TimingView(_Msg):
    now: float
    planned_end: float
    projected_end: float


class RecordingView(_Msg):
    """The program's recording: whether it runs, and how it last stopped (`detail`: what the recorder met)."""

    active: bool
    started_at: float  # the first start: the recording's timeline begins here
    resumed_at: float  # the start of the current (or last) run
    stopped_at: float | None
    stop_reason: RecordingStopReason | None
    detail: str


class MediaNodeNote(_Msg):
    """A media node lost this session: since when, with how many venues, back since when (None: not
    yet), and what the console says of it (`text`, in the reader's language)."""

    node: str
    lost_at: float
    venues: int
    back_at: float | None
    text: str


class OperatorState(_Msg):
    """Everything the console and `GET /api/state` show."""

    conference: ConferenceView
    phase: Lax[SessionPhase]
    started_at: float | None
    ended_at: float | None
    segment: str | None
    segments: list[SegmentRow]
    on_air: str
    fallback_from: str | None
    caption: Caption | None
    caption_override: bool
    venues: dict[str, VenueRow]
    floor_queue: list[FloorEntry]
    roll_call: RollCallView | None
    polling: PollingView | None
    main_return: MainReturnPanel
    awards: AwardPanel | None
    timing: TimingView
    program: dict[str, dict[str, str | None]]  # receiver -> {role: source}
    recording: RecordingView | None  # None: never recorded
    media_nodes: list[MediaNodeView] = []  # empty: the media runs in one process (the embedded SFU)
    media_node_notes: list[MediaNodeNote] = []  # the media nodes lost this session (Janus), in the order lost


operator_state_adapter: TypeAdapter[OperatorState] = TypeAdapter(OperatorState)


# ---------------------------------------------------------------------------- /ws/operator: console -> server


class CommandMessage(_Msg):
    """An operator command (see `orchestrator.core.commands`, plus an optional `id`); the
    answer is a `command_result` carrying the same `ref`."""

    type: Literal["command"] = "command"
    command: dict[str, Any]
    ref: JsonValue = None


class MonitorOffer(_Msg):
    """The console's receive-only monitor peer: one video slot per transceiver. Where the media
    plane offers the monitor's peer itself, the server answers with a `downlink_offer` of as many
    slots (the console then answers it with `downlink_answer`, and any later one)."""

    type: Literal["offer"] = "offer"
    sdp: str


class MonitorChoice(_Msg):
    """Show `venue`'s uplink in monitor `slot` (None: follow the program)."""

    type: Literal["monitor"] = "monitor"
    slot: int
    venue: str | None = None


ConsoleMessage = Annotated[CommandMessage | MonitorOffer | DownlinkAnswer | MonitorChoice, Field(discriminator="type")]
console_message_adapter: TypeAdapter[ConsoleMessage] = TypeAdapter(ConsoleMessage)


# ---------------------------------------------------------------------------- /ws/operator: server -> console


class StateMessage(_Msg):
    type: Literal["state"] = "state"
    state: OperatorState


class EventsMessage(_Msg):
    """Session events as they happen (including those the server decides by itself)."""

    type: Literal["events"] = "events"
    events: list[Event]


class CommandResult(_Sparse):
    """The answer to a `command` message: `status` as `POST /api/commands` would answer,
    with its `events` (200) or its `error`, `code` and `params`."""

    _sparse = frozenset({"events", "error", "code", "params"})
    type: Literal["command_result"] = "command_result"
    status: int
    ref: JsonValue = None
    events: list[Event] | None = None
    error: str | None = None
    code: Code | None = None
    params: Params | None = None


ToConsoleMessage = Annotated[
    StateMessage | EventsMessage | CommandResult | Answer | DownlinkOffer | ErrorMessage, Field(discriminator="type")
]
to_console_adapter: TypeAdapter[ToConsoleMessage] = TypeAdapter(ToConsoleMessage)


# ---------------------------------------------------------------------------- REST bodies


CommandId = Annotated[str, Field(min_length=1, max_length=100)]
"""The optional `id` beside a command's fields in `POST /api/commands` (and in a `command`
message): a command whose id was already applied is not applied again."""
command_id_adapter: TypeAdapter[CommandId] = TypeAdapter(CommandId, config=ConfigDict(strict=True))


class CommandAccepted(_Msg):
    """`POST /api/commands`, 200: the events the command caused (none for a repeated id)."""

    events: list[Event]


class Health(_Msg):
    """`GET /healthz`."""

    ok: bool
    phase: Lax[SessionPhase] | None


JoinLinks = dict[str, str]  # `GET /api/links`: venue id -> join link
join_links_adapter: TypeAdapter[JoinLinks] = TypeAdapter(JoinLinks)
RollCalls = dict[str, RollCallView]  # `GET /api/roll-calls`: segment -> its roll call, in the order they ran
roll_calls_adapter: TypeAdapter[RollCalls] = TypeAdapter(RollCalls)
error_body_adapter: TypeAdapter[ErrorBody] = TypeAdapter(ErrorBody)
command_accepted_adapter: TypeAdapter[CommandAccepted] = TypeAdapter(CommandAccepted)
health_adapter: TypeAdapter[Health] = TypeAdapter(Health)
