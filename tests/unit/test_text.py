"""The one text rule (orchestrator.text), and every free-text field of the commands obeys it."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from orchestrator.core import commands as c
from orchestrator.text import check_text, describe_char, shown
from tests.support.text import BAD_CHARS, GOOD_CHARS, REAL_NAMES, refused_by_the_rule

DRAWN = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("ch,described", [
    ("\x00", "U+0000 NULL"), ("\x07", "U+0007 BELL"), ("\n", "U+000A LINE FEED"), ("\x7f", "U+007F DELETE"),
    ("\u200b", "U+200B ZERO WIDTH SPACE"), ("\u202e", "U+202E RIGHT-TO-LEFT OVERRIDE"),
    ("\ud800", "U+D800 (lone surrogate)"), ("\U000e0001", "U+E0001 LANGUAGE TAG"), ("：", "U+FF1A FULLWIDTH COLON"),
    ("\u3000", "U+3000 IDEOGRAPHIC SPACE"), ("\x9f", "U+009F (control character)"),
])
def test_characters_are_described_visibly(ch, described):
    assert describe_char(ch) == described


@DRAWN
@given(text=st.text())
def test_check_text_refuses_exactly_what_the_rule_refuses_and_says_where(text):
    bad = [i for i, ch in enumerate(text) if refused_by_the_rule(ch)]
    if not bad:
        assert check_text(text) == text
        return
    with pytest.raises(Exception) as info:
        check_text(text)
    assert f"character {bad[0] + 1} is U+{ord(text[bad[0]]):04X}" in str(info.value)


def test_shown_values_are_short_and_visible():
    assert shown("a\x00b\u202ec") == "a\\x00b\\u202ec"
    assert shown("x" * 5000) == "x" * 60 + "... (5000 characters)"
    assert shown(list(range(10_000))).endswith("...]") and len(shown(list(range(10_000)))) < 100


# --------------------------------------------------------------------------- commands

VALID = {"venue": "pinghu", "segment": "opening", "status": "present", "picture_ok": True, "sound_ok": True,
         "loss_pct": 0.0, "rtt_ms": 0.0, "confirm": False, "text": "Anthem", "reason": "left", "failure": "error",
         "node": "ws://10.0.0.6:8188"}


def text_fields() -> list[tuple[type[BaseModel], str]]:
    """Every str field of every command: free text and references alike."""
    return [(cls, name) for cls in c._Command.__subclasses__()
            for name, field in cls.model_fields.items() if field.annotation is str and name != "type"]


def command(cls: type[BaseModel], **values) -> dict:
    kind = cls.model_fields["type"].default
    return {"type": kind, **{k: v for k, v in VALID.items() if k in cls.model_fields}, **values}


def test_the_free_text_fields_are_found():
    fields = {(cls.__name__, name) for cls, name in text_fields()}
    assert {("SetCaption", "text"), ("LeaveVenue", "reason"), ("Take", "venue"), ("GotoSegment", "segment")} <= fields


@DRAWN
@given(field=st.sampled_from(text_fields()), bad=BAD_CHARS,
       before=st.text(GOOD_CHARS, max_size=6), after=st.text(GOOD_CHARS, max_size=6))
def test_every_command_text_refuses_the_characters_the_rule_refuses(field, bad, before, after):
    cls, name = field
    with pytest.raises(ValidationError) as info:
        c.command_adapter.validate_python(command(cls, **{name: before + bad + after}))
    (error,) = info.value.errors(include_url=False)
    assert error["type"] == "text" and error["loc"][-1] == name
    assert error["msg"].startswith(f"character {len(before) + 1} is U+{ord(bad):04X}")
    if unicodedata.name(bad, None):
        assert unicodedata.name(bad) in error["msg"]


@pytest.mark.parametrize("caption", REAL_NAMES + ["请全体起立，奏唱国歌", "下一项：颁奖（先进集体）"])
def test_chinese_captions_and_reasons_are_accepted(caption):
    assert c.operator_command_adapter.validate_python({"type": "set_caption", "text": caption}).text == caption
    assert c.LeaveVenue(venue="pinghu", reason=caption).reason == caption


def test_the_reasons_the_server_gives_pass_the_rule():
    for reason in ("signalling closed", "replaced", "heartbeat lost", "connection failed", "never connected",
                   "did not come back after a server restart", "replaced by a new connection", "server stopping"):
        assert c.LeaveVenue(venue="pinghu", reason=reason).reason == reason
