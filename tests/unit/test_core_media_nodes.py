"""The core's record of media nodes (Janus) lost and back, and the next segment's venue the
media plane prepares for (pure: no I/O, a fake clock)."""

from __future__ import annotations

from orchestrator.core import Session
from orchestrator.core import commands as c
from orchestrator.core import events as e
from orchestrator.core.state import MediaNodeState
from orchestrator.sentences import media_node

NODE = "ws://10.0.0.6:8188"


def test_a_node_lost_then_back_is_recorded_once_each(small_conf, clock):
    session = Session(small_conf)
    assert session.handle(c.ReportMediaNodeBack(node=NODE), clock.now) == []  # never lost: no news
    lost_at = clock.now
    session.handle(c.ReportMediaNodeLost(node=NODE, venues=["pinghu", "nanhu"], reason="closed"), lost_at)
    assert session.state.media_nodes == {NODE: MediaNodeState(lost_at=lost_at, venues=2)}
    back_at = clock.advance(12)
    assert session.handle(c.ReportMediaNodeBack(node=NODE), back_at) == [e.MediaNodeBack(at=back_at, node=NODE)]
    assert session.handle(c.ReportMediaNodeBack(node=NODE), clock.advance(1)) == []  # back already
    assert session.state.media_nodes[NODE].back_at == back_at
    replayed = Session.replay(small_conf, [e.MediaNodeLost(at=lost_at, node=NODE, venues=("pinghu", "nanhu")),
                                           e.MediaNodeBack(at=back_at, node=NODE)])
    assert replayed.state.media_nodes == session.state.media_nodes


def test_the_console_says_it_in_both_languages():
    assert media_node("en", NODE, 2, back=False) == (
        f"Media node {NODE} was lost: 2 venues were moved to the other nodes. The session goes on.")
    assert media_node("en", NODE, 1, back=False) == (
        f"Media node {NODE} was lost: 1 venue was moved to the other nodes. The session goes on.")
    assert media_node("zh-CN", NODE, 2, back=False) == f"媒体节点 {NODE} 已失联：2 个会场已转到其他节点。会议继续进行。"
    assert media_node("zh-CN", NODE, 2, back=True) == f"媒体节点 {NODE} 已恢复：新接入的会场会再用到它。"


def test_the_next_segments_venue(small_conf, clock):
    session = Session(small_conf)
    assert session.next_segment_venue() == "main"  # before the start: the first segment's
    session.handle(c.StartSession(), clock.now)
    session.handle(c.GotoSegment(segment="present"), clock.advance(1))
    assert session.next_segment_venue() == "pinghu"  # its speech follows
    session.handle(c.GotoSegment(segment="closing"), clock.advance(1))
    assert session.next_segment_venue() is None  # the last segment runs
