"""The rehearsal's timeline (drawn by `orchestrator.timeline`).

A band of segments coloured by kind, a band of the on-air venue over time with the
fallbacks marked, the calls of called roll calls (coloured by what was recorded), what the
main venue's return showed when it was not the program (a venue, polling, a wall), one
row per drilled venue (absent, never answering, dropped, lossy uplink) and a row of
findings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..i18n import N_
from ..timeline import FAULT_COLOUR, FINDING_COLOUR, KIND_COLOURS, Timeline, venue_colours

WALL_COLOUR = "#9467bd"  # dark: white labels
CALL_COLOURS = {"present": "#59a14f", "no_answer": "#e8a33d", "absent": "#9a9a9a", "waiting": "#cccccc"}

if TYPE_CHECKING:
    from .report import Report, ReportText


def draw_timeline(report: Report, text: ReportText) -> Timeline:
    t0 = text.t0
    tl = Timeline(text.clock, t0, t0 + max(report.session_s, 1.0))

    _ = text._

    def span(a: float, b: float) -> str:
        return _(N_("{start} to {end}"), start=text.at(a), end=text.at(b))

    row = tl.row(_(N_("Segments")))
    for s in report.segments:
        tl.box(row, t0 + s.started_at_s, t0 + s.ended_at_s, KIND_COLOURS.get(s.kind, "#cccccc"), s.title,
               _(N_("{title} ({id}, {kind}) from {venue}, {span}: planned {planned}, ran {ran} s"), title=s.title,
                 id=s.id, kind=text.kind(s.kind), venue=text.venue(s.venue), span=span(s.started_at_s, s.ended_at_s),
                 planned=text.stands_for(s.planned_s), ran=f"{s.actual_s:.1f}"))

    row = tl.row(_(N_("On air")))
    colours = venue_colours(report.conference["main_venue"], [v["id"] for v in report.venues])
    merged: list = []
    for on_air in (on_air for s in report.segments for on_air in s.on_air):
        if merged and merged[-1].venue == on_air.venue and abs(merged[-1].to_s - on_air.from_s) < 1e-6:
            merged[-1] = merged[-1].model_copy(update={"to_s": on_air.to_s})
        else:
            merged.append(on_air)
    for on_air in merged:
        name = text.venue(on_air.venue)
        tl.box(row, t0 + on_air.from_s, t0 + on_air.to_s, colours.get(on_air.venue, "#cccccc"), name,
               _(N_("{venue} on air, {span} ({cause})"), venue=name, span=span(on_air.from_s, on_air.to_s),
                 cause=text.cause(on_air.cause)))
        if on_air.cause == "fallback":
            tl.marker(row, t0 + on_air.from_s, "triangle", FAULT_COLOUR,
                      _(N_("fallback to {venue} at {at}"), venue=name, at=text.at(on_air.from_s)))

    calls = [c for s in report.segments for c in s.calls]
    if calls:
        row = tl.row(_(N_("Roll call")))
        for call in calls:
            name = text.venue(call.venue)
            tl.box(row, t0 + call.at_s, t0 + call.ended_at_s, CALL_COLOURS.get(call.outcome, "#bbbbbb"), name,
                   text.call(call))
            if not call.on_air:
                tl.marker(row, t0 + call.at_s, "triangle", FAULT_COLOUR, _(N_("{venue} called but not on air"), venue=name))
    if report.main_return:
        row = tl.row(_(N_("Main venue's return")))
        for ret in report.main_return:
            if ret.shows == "wall":
                label = _(N_("{layout} wall:"), layout=ret.layout) + " " + _(N_(", ")).join(text.venue(v) for v in ret.tiles)
                fill = WALL_COLOUR
            else:
                label = (_(N_("polling:")) + " " if ret.mode == "polling" else "") + text.venue(ret.venue)
                fill = colours.get(ret.venue or "", "#cccccc")
            tl.box(row, t0 + ret.from_s, t0 + ret.to_s, fill, label,
                   _(N_("the main venue saw {shown}, {span}"), shown=label, span=span(ret.from_s, ret.to_s)))

    for drill in report.drill_outcomes:
        row = tl.row(f"{text.venue(drill.venue)} ({drill.kind})")
        said = _(N_("; ")).join(text.said(o) for o in drill.outcomes) or drill.spec
        if drill.kind == "drop" and drill.down_at_s is not None:
            end = drill.up_at_s if drill.up_at_s is not None else report.session_s
            tl.box(row, t0 + drill.down_at_s, t0 + end, FAULT_COLOUR, _(N_("dropped")), said)
        else:
            fill, label = {"absent": ("#bbbbbb", _(N_("absent"))), "no-answer": ("#f2b8b8", _(N_("never answers")))}.get(
                drill.kind, ("#ffd966", drill.spec.split(" ", 1)[1]))
            tl.box(row, tl.start, tl.end, fill, f"{label}: {said}", said)

    row = tl.row(_(N_("Findings")))
    for f in report.findings:
        tl.marker(row, t0 + f.at_s, "circle", FINDING_COLOUR,
                  f"{text.at(f.at_s)} {f.kind} [{f.segment or '-'}] [{text.venue(f.venue)}]: {text.said(f)}")

    for kind in sorted({s.kind for s in report.segments}):
        tl.key(KIND_COLOURS.get(kind, "#cccccc"), text.kind(kind))
    for venue, colour in colours.items():
        if any(on_air.venue == venue for on_air in merged):
            tl.key(colour, text.venue(venue))
    tl.key(FAULT_COLOUR, _(N_("drop / fallback")), "triangle")
    tl.key(FINDING_COLOUR, _(N_("finding")), "circle")
    return tl
