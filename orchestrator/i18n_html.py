"""Babel extractor for the pages' static text: the msgids of `data-i18n` attributes.

`babel.cfg` names it for `orchestrator/web/static/*.html`; the pages' `translateDocument`
(web/static/i18n.js) puts the translations into the marked elements.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from html.parser import HTMLParser
from typing import IO, Any

ATTRIBUTES = ("data-i18n", "data-i18n-title", "data-i18n-placeholder")

Message = tuple[int, str, str, list[str]]


class _Marked(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[Message] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ATTRIBUTES and value:
                self.found.append((self.getpos()[0], "", value, []))


def extract_html(fileobj: IO[bytes], keywords: Collection[str], comment_tags: Collection[str],
                 options: Mapping[str, Any]) -> Iterator[Message]:
    """(line, funcname, msgid, comments) for each marked attribute of an HTML file."""
    parser = _Marked()
    parser.feed(fileobj.read().decode(options.get("encoding", "utf-8")))
    parser.close()
    yield from parser.found
