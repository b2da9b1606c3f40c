"""Views of the session as the protocol's models: the operator's full state, and what one venue is shown."""

from __future__ import annotations

from collections.abc import Sequence

from ..conference import ReturnMode, RollCallMode
from ..config import Conference, SegmentKind
from ..core import MainReturnView, Session, main_return_view
from ..core.state import ROLL_CALL_STATUSES, RollCallEntry, RollCallPhase, RollCallState
from ..i18n import Language
from ..media.plane import LinkStats, MediaNode, ProgramSnapshot
from ..protocol import (
    AwardPanel,
    AwardStep,
    ConferenceView,
    FloorEntry,
    LinkView,
    MainReturn,
    MainReturnPanel,
    MediaNodeNote,
    MediaNodeView,
    OperatorState,
    PollingView,
    RecordingView,
    RollCallCall,
    RollCallEntryView,
    RollCallView,
    SegmentInfo,
    SegmentRow,
    TimingView,
    VenueRow,
    VenueView,
    WallTile,
)
from ..sentences import leave_reason, media_node, note


def _conference(conf: Conference) -> ConferenceView:
    info = conf.conference
    return ConferenceView(
        id=info.id,
        title=info.title,
        date=info.date.isoformat(),
        start=info.start.strftime("%H:%M"),
        timezone=info.timezone,
        starts_at=conf.starts_at.timestamp(),
        main_venue=conf.main_venue.id,
    )


def _segment_fields(conf: Conference, segment_id: str) -> dict:
    seg = conf.segment_by_id[segment_id]
    return {
        "id": seg.id,
        "kind": seg.kind,
        "title": seg.title,
        "speaker": seg.speaker,
        "venue": conf.segment_venue(seg),
        "planned_s": seg.planned,
    }


def _link(quality, link: LinkStats | None) -> LinkView:
    """The measured figures only while the venue is connected (`link` is None otherwise)."""
    if link is None:
        return LinkView(quality=quality)
    return LinkView(
        quality=quality, bitrate_in_kbps=link.bitrate_in_kbps, bitrate_out_kbps=link.bitrate_out_kbps,
        loss_pct=link.loss_pct, rtt_ms=link.rtt_ms, fps_in=link.fps_in,
        packets_received=link.packets_received, packets_lost=link.packets_lost,
    )


def operator_state(
    session: Session, links: dict[str, LinkStats], now: float, program: ProgramSnapshot | None = None,
    lang: Language = "en", nodes: Sequence[MediaNode] = (),
) -> OperatorState:
    """Everything the console and `GET /api/state` show (the session's notes in `lang`; `nodes`: the
    media plane's nodes and their venues, if it has several)."""
    conf, st = session.conference, session.state
    node_of = {venue: node.id for node in nodes for venue in node.venues}
    timing = session.timing(now)
    hands = {r.venue for r in st.floor_queue}
    venues = {}
    for v in conf.venues:
        vs = st.venues[v.id]
        venues[v.id] = VenueRow(
            name=v.name,
            role=v.role,
            kind=v.kind,
            connected=vs.connected,
            muted=vs.muted,
            on_air=st.on_air == v.id,
            hand_raised=v.id in hands,
            link=_link(vs.link, links.get(v.id) if vs.connected else None),
            joined_at=vs.joined_at,
            left_at=vs.left_at,
            left_reason=leave_reason(lang, vs.left_reason) if vs.left_reason else vs.left_reason,
            media_node=node_of.get(v.id),
        )
    rc_segment = latest_roll_call(session)
    roll_call = roll_call_view(st.roll_calls[rc_segment], lang) if rc_segment is not None else None
    segments = []
    for seg, row in zip(conf.agenda, timing.segments):
        ss = st.segments[conf.agenda.index(seg)]
        segments.append(
            SegmentRow(
                **_segment_fields(conf, seg.id),
                status=ss.status,
                started_at=ss.started_at,
                ended_at=ss.ended_at,
                elapsed_s=round(row.elapsed, 1),
                remaining_s=round(row.remaining, 1),
                overrun_s=round(row.overrun, 1),
                awards=seg.awards,
            )
        )
    awards = None
    if st.current and conf.segment_by_id[st.current].kind is SegmentKind.AWARD_PRESENTATION:
        awards = award_panel(conf, st.current, st.award_positions.get(st.current))
    return OperatorState(
        conference=_conference(conf),
        phase=st.phase,
        started_at=st.started_at,
        ended_at=st.ended_at,
        segment=st.current,
        segments=segments,
        on_air=st.on_air,
        fallback_from=st.fallback_from,
        caption=st.caption,
        caption_override=st.caption_override,
        venues=venues,
        floor_queue=[FloorEntry(venue=r.venue, at=r.at) for r in st.floor_queue],
        roll_call=roll_call,
        polling=PollingView(**st.polling.model_dump(mode="json", exclude={"return_to"})) if st.polling else None,
        main_return=_main_return(main_return_view(st, conf)),
        awards=awards,
        timing=TimingView(now=now, planned_end=timing.planned_end, projected_end=timing.projected_end),
        program=program or {},
        recording=RecordingView(**st.recording.model_dump(mode="json")) if st.recording else None,
        media_nodes=[MediaNodeView(id=n.id, host=n.host, alive=n.alive, venues=len(n.venues)) for n in nodes],
        media_node_notes=[MediaNodeNote(node=node, lost_at=n.lost_at, venues=n.venues, back_at=n.back_at,
                                        text=media_node(lang, node, n.venues, n.back_at is not None))
                          for node, n in st.media_nodes.items()],
    )


def latest_roll_call(session: Session) -> str | None:
    """The segment of the roll call the console shows: the current segment's, else the last one run."""
    st = session.state
    return st.current if st.current in st.roll_calls else (list(st.roll_calls)[-1] if st.roll_calls else None)


def roll_call_view(rc: RollCallState, lang: Language = "en") -> RollCallView:
    """One roll call and its record (the session's notes in `lang`)."""
    return RollCallView(
        segment=rc.segment,
        phase=rc.phase,
        started_at=rc.started_at,
        finished_at=rc.finished_at,
        mode=rc.mode,
        calling=rc.calling,
        call_deadline=rc.call_deadline,
        paused=rc.paused,
        counts={s.value: rc.count(s) for s in ROLL_CALL_STATUSES[rc.mode]},
        venues={venue: _entry(entry, lang) for venue, entry in rc.entries.items()},
    )


def _entry(entry: RollCallEntry, lang: Language) -> RollCallEntryView:
    fields = entry.model_dump(exclude={"venue", "note", "note_params"})
    return RollCallEntryView(**fields, note=note(lang, entry.note, entry.note_params), note_code=entry.note or None)


def roll_call_views(session: Session, lang: Language = "en") -> dict[str, RollCallView]:
    """Every roll call of the session, in the order they were started (`GET /api/roll-calls`)."""
    return {segment: roll_call_view(rc, lang) for segment, rc in session.state.roll_calls.items()}


def _main_return(view: MainReturnView) -> MainReturnPanel:
    return MainReturnPanel(
        mode=view.mode, shows=view.shows, venue=view.venue, layout=view.layout, tiles=list(view.tiles),
        page=view.page, pages=view.pages,
    )


def award_panel(conf: Conference, segment_id: str, position) -> AwardPanel:
    """The current and next award step of an award presentation."""
    steps = [
        AwardStep(award=a, category=conf.award_by_id[a].title, recipient=r.name, venue=r.venue)
        for a in conf.segment_by_id[segment_id].awards or ()
        for r in conf.award_by_id[a].recipients
    ]
    index = -1
    if position is not None:
        awards = conf.segment_by_id[segment_id].awards or []
        index = sum(len(conf.award_by_id[a].recipients) for a in awards[: position.award_index]) + position.recipient_index
    return AwardPanel(
        segment=segment_id,
        total=len(steps),
        index=index,
        current=steps[index] if index >= 0 else None,
        next=steps[index + 1] if index + 1 < len(steps) else None,
        steps=steps,
    )


class VenueViews:
    """Every venue's view of one state: what its page or agent shows, no other venue's
    details. What the views share is read once; `key(venue)` is
    what one venue's view is made of, so a caller that keeps the key it last sent from can
    skip building the views that cannot have changed (after most events, all but a few)."""

    def __init__(self, session: Session, shared_before: tuple | None = None):
        """`shared_before`: the `shared` of an earlier state; kept (the same object) if equal."""
        conf, st = session.conference, session.state
        rc = st.roll_calls.get(st.current) if st.current else None
        shared = (
            st.phase,
            SegmentInfo(**_segment_fields(conf, st.current)) if st.current else None,
            st.on_air,
            conf.venue_by_id[st.on_air].name,
            st.caption,
            _call(conf, rc) if rc is not None else None,
        )
        self.shared = shared_before if shared_before == shared else shared
        self._venues = st.venues
        self._hands = {r.venue for r in st.floor_queue}
        self._running = rc if rc and rc.phase.value == "running" else None

    def key(self, venue: str) -> tuple:
        """What `venue`'s view is made of: equal keys, equal views."""
        entry = self._running.entries.get(venue) if self._running else None
        return (self.shared, self._venues[venue].muted, venue in self._hands, entry.status if entry else None)

    def view(self, venue: str) -> VenueView:
        (phase, segment, on_air, on_air_name, caption, call), muted, hand, roll_call = self.key(venue)
        return VenueView(phase=phase, segment=segment, on_air=on_air, on_air_name=on_air_name,
                         you_are_on_air=on_air == venue, caption=caption, muted=muted, hand_raised=hand,
                         roll_call=roll_call, roll_call_call=call)


def _call(conf: Conference, rc: RollCallState) -> RollCallCall | None:
    if rc.mode is not RollCallMode.CALLED or rc.phase is not RollCallPhase.RUNNING:
        return None
    name = conf.venue_by_id[rc.calling].name if rc.calling else None
    return RollCallCall(segment=rc.segment, calling=rc.calling, calling_name=name, deadline=rc.call_deadline,
                        paused=rc.paused)


def main_return_message(session: Session) -> MainReturn:
    """What the main venue's return shows now, for the main venue."""
    conf = session.conference
    view = main_return_view(session.state, conf)
    names = conf.venue_by_id
    single = view.venue if view.shows is ReturnMode.SINGLE else None
    return MainReturn(
        mode=view.mode, shows=view.shows, venue=single, name=names[single].name if single else None,
        layout=view.layout,
        tiles=[WallTile(slot=i, venue=v, name=names[v].name) for i, v in enumerate(view.tiles)],
        page=view.page, pages=view.pages,
    )
