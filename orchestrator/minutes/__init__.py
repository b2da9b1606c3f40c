"""The minutes of a session (会议记录), built from its event log.

`build_minutes` turns events into a typed `Minutes` (pure); `render` writes them as
Markdown, JSON or a printable HTML page; `read_minutes` reads a conference's log
read-only (never taking the lock a running server holds) and builds them.
"""

from .build import build_minutes
from .model import Minutes
from .read import read_minutes
from .render import FORMATS, MEDIA_TYPES, MinutesText, render, render_html, render_json, render_markdown

__all__ = [
    "FORMATS", "MEDIA_TYPES", "Minutes", "MinutesText", "build_minutes", "read_minutes", "render", "render_html",
    "render_json", "render_markdown",
]
