"""Messages a venue sends on `/ws/venue` (JSON text frames), parsed with one schema."""

from __future__ import annotations

import json
from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError


class _Msg(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Hello(_Msg):
    type: Literal["hello"]
    token: Annotated[str, Field(max_length=4096)]
    venue: str | None = None  # if given, must match the token
    client: Annotated[str, Field(max_length=100)] = "unknown"


class Offer(_Msg):
    type: Literal["offer"]
    sdp: str


class Heartbeat(_Msg):
    type: Literal["heartbeat"]


class RollCallAnswer(_Msg):
    type: Literal["roll_call_answer"]
    picture_ok: bool
    sound_ok: bool


class RaiseHand(_Msg):
    type: Literal["raise_hand"]


class LowerHand(_Msg):
    type: Literal["lower_hand"]


VenueMessage = Annotated[
    Union[Hello, Offer, Heartbeat, RollCallAnswer, RaiseHand, LowerHand], Field(discriminator="type")
]
_adapter: TypeAdapter[VenueMessage] = TypeAdapter(VenueMessage)


class BadMessage(ValueError):
    """A message that cannot be understood; the text says what is wrong."""


def describe_validation_error(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False):
        where = ".".join(str(p) for p in err["loc"] if not str(p).startswith(("function-", "tagged-union")))
        if err["type"] == "union_tag_invalid":
            tag = err.get("ctx", {}).get("tag")
            expected = err.get("ctx", {}).get("expected_tags", "")
            parts.append(f"unknown message type '{tag}' (expected one of {expected})")
        elif err["type"] == "union_tag_not_found":
            parts.append("the message has no 'type'")
        elif err["type"] == "missing":
            parts.append(f"'{where}' is missing")
        elif err["type"] == "extra_forbidden":
            parts.append(f"'{where}' is not expected here")
        else:
            parts.append(f"'{where}': {err['msg'].lower()}" if where else err["msg"])
    return "; ".join(parts)


def parse_json_object(text: str | bytes) -> dict:
    try:
        data = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadMessage(f"not valid JSON: {exc}") from None
    except RecursionError:
        raise BadMessage("not valid JSON: nested too deeply") from None
    if not isinstance(data, dict):
        raise BadMessage(f"expected a JSON object, got {type(data).__name__}")
    try:  # JSON escapes can smuggle in lone surrogates, which no later step can encode
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise BadMessage("the message contains text that is not valid Unicode") from None
    return data


def parse_venue_message(text: str | bytes) -> VenueMessage:
    data = parse_json_object(text)
    try:
        return _adapter.validate_python(data)
    except ValidationError as exc:
        raise BadMessage(describe_validation_error(exc)) from None
