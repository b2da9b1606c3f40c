"""Words in the reader's language: the gettext catalogues, rendering and negotiation.

Every sentence people read is written in English in the code (the gettext msgid) and
translated from the package's catalogues, `orchestrator/locale/<locale>/LC_MESSAGES/
messages.po`, read with Babel when first needed. English needs no catalogue: the msgid is
the English text. Placeholders are `{name}`, filled from keyword parameters after
translation (the same rule as the pages' `t` in `web/static/i18n.js`).

Mark a msgid that is translated later (in a table) with `N_`; translate at once with
`translate(lang, msgid, **params)`. Both are extraction keywords (see `babel.cfg`).

The language of a reader: what they asked for (`?lang=`, the page's switch, `--lang`),
else the conference's `language`. `negotiate` normalises what was asked for
("zh", "zh_CN", "zh-Hans" are zh-CN) and ignores what is not supported.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Literal, get_args

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
