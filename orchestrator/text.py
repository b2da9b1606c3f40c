"""The one rule for text that enters a session: what a title, name or caption may contain.

Text from a conference file or a command is shown to every venue and written to the
event log, so it must be real, visible, one-line text: no control characters (NUL, BEL,
newlines, tabs), no invisible formatting characters (zero-width spaces and joiners,
bidirectional overrides such as U+202E, soft hyphens, a stray byte-order mark), no lone
surrogates (they cannot be encoded, so they break the log and every socket), no line
or paragraph separators and no Unicode noncharacters. Everything else is welcome:
Chinese text with full-width punctuation (《》、“”（）), ideographic spaces, variation
selectors, private-use characters of older GB systems.

Pure and dependency-free but for pydantic's error type and the phrases of
`orchestrator.i18n`, so the session core may use it.
"""

from __future__ import annotations

import reprlib
import unicodedata

from .i18n import N_, phrase, refusal

# Unicode has no `name` for control characters; these are their ISO 6429 names.
_CONTROL_NAMES = dict(enumerate((
    "NULL", "START OF HEADING", "START OF TEXT", "END OF TEXT", "END OF TRANSMISSION", "ENQUIRY",
    "ACKNOWLEDGE", "BELL", "BACKSPACE", "CHARACTER TABULATION", "LINE FEED", "LINE TABULATION",
    "FORM FEED", "CARRIAGE RETURN", "SHIFT OUT", "SHIFT IN", "DATA LINK ESCAPE", "DEVICE CONTROL ONE",
    "DEVICE CONTROL TWO", "DEVICE CONTROL THREE", "DEVICE CONTROL FOUR", "NEGATIVE ACKNOWLEDGE",
    "SYNCHRONOUS IDLE", "END OF TRANSMISSION BLOCK", "CANCEL", "END OF MEDIUM", "SUBSTITUTE", "ESCAPE",
    "INFORMATION SEPARATOR FOUR", "INFORMATION SEPARATOR THREE", "INFORMATION SEPARATOR TWO",
    "INFORMATION SEPARATOR ONE",
)))
_CONTROL_NAMES |= {0x7F: "DELETE", 0x85: "NEXT LINE"}

# Why a character is refused, by its Unicode category (English msgids).
_WHY = {
    "Cc": N_("a control character"),
    "Cf": N_("an invisible formatting character"),
    "Cs": N_("half of a UTF-16 pair and not a character"),
    "Zl": N_("a line separator"),
    "Zp": N_("a paragraph separator"),
}

_UNNAMED = {"Cc": "(control character)", "Cs": "(lone surrogate)", "Co": "(private use)", "Cn": "(unassigned)"}

_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = 60


def describe_char(ch: str) -> str:
    """'\\u200b' -> 'U+200B ZERO WIDTH SPACE' (a visible name for any code point)."""
    code = ord(ch)
    name = unicodedata.name(ch, None) or _CONTROL_NAMES.get(code) or _UNNAMED.get(unicodedata.category(ch), "(unnamed)")
    return f"U+{code:04X} {name}"


def refused_because(ch: str) -> str | None:
    """Why `ch` may not be in text (an English msgid), or None when it may."""
    why = _WHY.get(unicodedata.category(ch))
    if why is None and _is_noncharacter(ord(ch)):
        why = N_("a Unicode noncharacter")
    return why


def _is_noncharacter(code: int) -> bool:
    return 0xFDD0 <= code <= 0xFDEF or (code & 0xFFFE) == 0xFFFE


def check_text(value: str, max_length: int | None = None) -> str:
    """`value` unchanged, or a pydantic custom error naming the limit or the bad character.

    Errors: `text_too_long` (more than `max_length` characters) and `text` (the first
    refused character, with its position counted from 1 and its name).
    """
    if max_length is not None and len(value) > max_length:
        raise refusal("text_too_long", phrase(N_("too long: {length} characters (the limit is {max_length})"),
                                              length=len(value), max_length=max_length))
    if value.isprintable():  # the fast path: isprintable() is False for every refused character
        return value
    for position, ch in enumerate(value, start=1):
        why = refused_because(ch)
        if why is not None:
            raise refusal("text", phrase(N_("character {position} is {char}, {why}: not allowed in text"),
                                         position=position, char=describe_char(ch), why=phrase(why)))
    return value


def shown(value: object, limit: int = 60) -> str:
    """`value` as an error message may quote it: at most `limit` characters, every invisible one escaped."""
    if not isinstance(value, str):
        return _REPR.repr(value)
    cut = value[:limit]
    text = cut if cut.isprintable() else "".join(ch if ch.isprintable() else _escaped(ch) for ch in cut)
    return text if len(value) <= limit else f"{text}... ({len(value)} characters)"


def _escaped(ch: str) -> str:
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"
