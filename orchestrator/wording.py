"""Words shown to people: counted nouns, and times in the conference's time zone.

`count(3, "segment")` is "3 segments", `count(1, "segment")` "1 segment". `Clock` renders
unix times as the operators read them: wall-clock time in the conference's zone
(`14:31:05`), the date said once, and ISO text with the offset for machines.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo


def plural(n: int, singular: str, plural_form: str | None = None) -> str:
    """The noun for `n` things (irregular plurals: pass the plural)."""
    return singular if n == 1 else (plural_form or singular + "s")


def count(n: int, singular: str, plural_form: str | None = None) -> str:
    """'1 segment', '0 segments', '2 branches' (pass irregular plurals)."""
    return f"{n} {plural(n, singular, plural_form)}"


class Clock:
    """Unix seconds as local times of one time zone (an IANA name)."""

    def __init__(self, zone: str):
        self.zone = zone
        self.tz = ZoneInfo(zone)

    def at(self, t: float) -> dt.datetime:
        return dt.datetime.fromtimestamp(t, self.tz)

    def time(self, t: float) -> str:
        """'14:31:05'."""
        return f"{self.at(t):%H:%M:%S}"

    def date(self, t: float) -> str:
        """'2025-02-05'."""
        return f"{self.at(t):%Y-%m-%d}"

    def stamp(self, t: float) -> str:
        """'2025-02-05 14:31:05'."""
        return f"{self.at(t):%Y-%m-%d %H:%M:%S}"

    def iso(self, t: float) -> str:
        """'2025-02-05T14:31:05+08:00': machine-readable, with the offset."""
        return self.at(t).isoformat(timespec="seconds")

    def offset(self, t: float) -> str:
        """'UTC+08:00' (at `t`: zones with summer time change it)."""
        text = self.at(t).strftime("%z")
        return f"UTC{text[:3]}:{text[3:]}"

    def zone_label(self, t: float) -> str:
        """'Asia/Shanghai, UTC+08:00'."""
        return f"{self.zone}, {self.offset(t)}"
