"""Words in the reader's language: the gettext catalogues, rendering and negotiation.

Every sentence people read is written in English in the code (the gettext msgid) and
translated from the package's catalogues, `orchestrator/locale/<locale>/LC_MESSAGES/
messages.po`, read with Babel when first needed. English needs no catalogue: the msgid is
the English text. Placeholders are `{name}`, filled from keyword parameters after
translation (the same rule as the pages' `t` in `web/static/i18n.js`).

Mark a msgid that is translated later (in a table) with `N_`; translate at once with
`translate(lang, msgid, **params)`. Both are extraction keywords (see `babel.cfg`).
A sentence said now and read later, perhaps in another language (a rehearsal's finding,
an error of a conference file), is a `Phrase`: its msgid and parameters, `say`-ed in the
reader's language.

The language of a reader: what they asked for (`?lang=`, the page's switch, `--lang`),
else the conference's `language`. `negotiate` normalises what was asked for
("zh", "zh_CN", "zh-Hans" are zh-CN) and ignores what is not supported.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict
from pydantic_core import PydanticCustomError

Language = Literal["zh-CN", "en"]
LANGUAGES: tuple[Language, ...] = get_args(Language)
SOURCE_LANGUAGE: Language = "en"  # the msgids' language
LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "messages"
# The gettext locale folder of each translated language (English is the msgids).
LOCALES: dict[Language, str] = {"zh-CN": "zh_CN"}
LANGUAGE_NAMES: dict[Language, str] = {"zh-CN": "中文", "en": "English"}

_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def N_(msgid: str) -> str:
    """Mark `msgid` for the catalogues; it is translated where it is shown."""
    return msgid


def po_path(lang: Language) -> Path:
    return LOCALE_DIR / LOCALES[lang] / "LC_MESSAGES" / f"{DOMAIN}.po"


@functools.cache
def messages(lang: Language) -> dict[str, str]:
    """`{msgid: translation}` of one language (translated entries only; English: empty)."""
    if lang not in LOCALES:
        return {}
    from babel.messages.pofile import read_po

    with po_path(lang).open("rb") as f:
        catalog = read_po(f)
    found: dict[str, str] = {}
    for m in catalog:
        if not m.id or m.fuzzy:
            continue
        if isinstance(m.id, str) and isinstance(m.string, str) and m.string:
            found[m.id] = m.string
        elif isinstance(m.id, tuple | list) and m.string and m.string[0]:
            found[m.id[0]] = m.string[0]  # the languages translated here have one plural form
    return found


def fill(text: str, params: dict[str, object]) -> str:
    """`text` with each `{name}` replaced by `params[name]` (unknown names are left as they are)."""
    return _PLACEHOLDER.sub(lambda m: str(params[m.group(1)]) if m.group(1) in params else m.group(0), text)


def translate(lang: Language, msgid: str, /, **params: object) -> str:
    """`msgid` in `lang`, placeholders filled; a msgid the catalogue lacks stays English."""
    return fill(messages(lang).get(msgid, msgid), params)


def ntranslate(lang: Language, singular: str, plural: str, n: int, /, **params: object) -> str:
    """A counted phrase: `singular` or `plural` (English), the one form of the translation
    (Chinese has no plural); `{n}` is filled with `n`."""
    found = messages(lang).get(singular)
    return fill(found if found is not None else (singular if n == 1 else plural), {"n": n, **params})


def normalise(value: str | None) -> Language | None:
    """A supported language from what a reader or a file asked for ('zh', 'zh_CN', 'en-GB'), or None."""
    if not value:
        return None
    tag = value.strip().replace("_", "-").lower()
    if tag == "zh" or tag.startswith(("zh-cn", "zh-hans", "zh-sg")):
        return "zh-CN"
    if tag == "en" or tag.startswith("en-"):
        return "en"
    return None


def negotiate(*wanted: str | None, default: Language = SOURCE_LANGUAGE) -> Language:
    """The first supported language of `wanted` (in order of precedence), else `default`."""
    for value in wanted:
        found = normalise(value)
        if found is not None:
            return found
    return default


def duration(lang: Language, seconds: float) -> str:
    """'1h30m' / '1小时30分' style: the conference file's notation, in the reader's language."""
    whole = round(seconds)
    h, rest = divmod(whole, 3600)
    m, s = divmod(rest, 60)
    units = (translate(lang, N_("{n}h"), n=h), translate(lang, N_("{n}m"), n=m), translate(lang, N_("{n}s"), n=s))
    parts = [unit for n, unit in zip((h, m, s), units) if n]
    return "".join(parts) or units[2]


# --------------------------------------------------------------------------- phrases

# The parameters that hold a venue's id: a translated phrase names the venue as the file does.
VENUE_PARAMS = frozenset({"venue", "want", "shown", "current", "on_air", "main", "lossy"})
PARTS = "{parts}"  # a phrase that is its `parts` parameter: phrases said one after another
PART_SEPARATOR = N_("; ")


class Phrase(BaseModel):
    """A sentence said later, in the reader's language: an English msgid with `{placeholders}`
    and their values. A value may be a phrase itself, or a list of phrases (joined with '; ')."""

    model_config = ConfigDict(frozen=True)

    msgid: str
    params: dict[str, Phrase | list[Phrase] | str | int | float | bool | None] = {}

    def say(self, lang: Language = SOURCE_LANGUAGE, names: Mapping[str, str] | None = None) -> str:
        """The sentence in `lang`; translated, venues are named from `names` (id -> name)."""
        values: dict[str, object] = {}
        for key, value in self.params.items():
            if isinstance(value, Phrase):
                values[key] = value.say(lang, names)
            elif isinstance(value, list):
                values[key] = translate(lang, PART_SEPARATOR).join(p.say(lang, names) for p in value)
            elif names and lang != SOURCE_LANGUAGE and key in VENUE_PARAMS and isinstance(value, str):
                values[key] = names.get(value, value)
            else:
                values[key] = value
        return translate(lang, self.msgid, **values)

    def __str__(self) -> str:
        return self.say()


def phrase(msgid: str, /, **params: Phrase | list[Phrase] | str | int | float | bool | None) -> Phrase:
    return Phrase(msgid=msgid, params=params)


def either(values: Iterable[str]) -> Phrase:
    """"'a', 'b' or 'c'": the values quoted, the last one after "or" in the reader's language."""
    quoted = [f"'{v}'" for v in values]
    if len(quoted) == 1:
        return phrase("{value}", value=quoted[0])
    return phrase(N_("{some} or {last}"), some=", ".join(quoted[:-1]), last=quoted[-1])


def refusal(kind: str, said: Phrase) -> PydanticCustomError:
    """A pydantic error of type `kind` whose message is `said` in English; its context
    keeps `said` (as `phrase`) for a reader of another language."""
    return PydanticCustomError(kind, "{phrase}", {"phrase": said})


def said(error: Mapping[str, object]) -> Phrase | None:
    """The phrase a pydantic error (an item of `ValidationError.errors()`) was raised with, if any."""
    ctx = error.get("ctx")
    found = ctx.get("phrase") if isinstance(ctx, Mapping) else None
    return found if isinstance(found, Phrase) else None
