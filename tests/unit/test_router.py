"""The program router, behaviour by behaviour: routing by role, keyframe-gated video
switches, continuous rewritten timestamps, keyframe requests, venues leaving, monitor
outputs and the `Output` track itself.

Pure: a fake clock, no peers. A test frame is one RTP packet (a one-byte VP8 payload
descriptor that starts partition 0, then the frame); what an output sends is captured
and parsed back.
"""

from __future__ import annotations

import asyncio
import itertools
import struct
from collections import defaultdict
from dataclasses import dataclass, field

import pytest
from aiortc.mediastreams import MediaStreamError

from orchestrator.media.plane import MonitorPeer, VenuePeer
from orchestrator.media.router import (
    KEYFRAME_THROTTLE_S,
    MAX_HELD_PACKETS,
    MAX_HOLD_S,
    Output,
    ProgramRouter,
    Role,
)
from tests.conftest import FakeClock

VENUES = ("main", "a", "b")
PV, PA, MA = Role.PROGRAM_VIDEO, Role.PROGRAM_AUDIO, Role.MAIN_AUDIO
DESCRIPTOR = b"\x10"  # VP8 payload descriptor: S=1, partition 0 (the first packet of a frame)
CONTINUED = b"\x00"  # VP8 payload descriptor of a frame's later packet


def key(tag: str = "") -> bytes:
    """A VP8 keyframe: bit 0 of the first byte is 0."""
    return b"\x00" + tag.encode()


def inter(tag: str = "") -> bytes:
    """A VP8 inter frame: bit 0 of the first byte is 1."""
    return b"\x01" + tag.encode()


def capture(output: Output) -> Output:
    """Make `output` keep what it sends (in `output.sent`)."""
    sent: list[bytes] = []
    output.sent = sent  # type: ignore[attr-defined]
    output.send = sent.append
    return output


def parse(packet: bytes, kind: str) -> tuple[bytes, int, int, bool]:
    """(frame, sequence number, timestamp, marker) of a packet an output sent."""
    _first, second, sequence, timestamp, _ssrc = struct.unpack("!BBHII", packet[:12])
    payload = packet[12:]
    return (payload[1:] if kind == "video" else payload), sequence, timestamp, bool(second & 0x80)


def sent_packets(output: Output) -> list[tuple[bytes, int, int, bool]]:
    """Everything `output` sent since the last call, parsed, oldest first."""
    packets = [parse(p, output.kind) for p in output.sent]  # type: ignore[attr-defined]
    output.sent.clear()  # type: ignore[attr-defined]
    return packets


def drain(output: Output) -> list[tuple[bytes, int]]:
    """Everything `output` sent since the last call as (frame, timestamp), oldest first."""
    return [(data, timestamp) for data, _seq, timestamp, _marker in sent_packets(output)]


def payloads(output: Output) -> list[bytes]:
    return [data for data, _pts in drain(output)]


def pts(output: Output) -> list[int]:
    return [stamp for _data, stamp in drain(output)]


@dataclass
class Rig:
    """A router for venues main, a and b, each with both uplinks and the three program tracks."""

    clock: FakeClock
    router: ProgramRouter
    requests: list[str] = field(default_factory=list)  # venues asked for a keyframe, in order
    sequence: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))

    def out(self, receiver: str, role: Role) -> Output:
        return next(o for o in self.router.outputs(VenuePeer(receiver)) if o.role is role)

    def packet(self, venue: str, kind: str, payload: bytes, timestamp: int, marker: bool = True) -> None:
        """One RTP packet from `venue`'s uplink, numbered after its last one."""
        sequence = self.sequence[(venue, kind)]
        self.sequence[(venue, kind)] = (sequence + 1) & 0xFFFF
        self.router.on_packet(venue, kind, sequence, timestamp, marker, payload)

    def video(self, venue: str, data: bytes, timestamp: int = 0) -> None:
        """One video frame in one packet."""
        self.packet(venue, "video", DESCRIPTOR + data, timestamp)

    def audio(self, venue: str, data: bytes = b"opus", timestamp: int = 0) -> None:
        self.packet(venue, "audio", data, timestamp)

    def keyframes_from_all(self) -> None:
        """Every venue sends a keyframe, so every video output reaches the source it wants."""
        for venue in VENUES:
            self.video(venue, key(venue))

    def wanted(self) -> dict[str, dict[str, str | None]]:
        return {
            receiver: {o.role.value: self.router.wanted_source(o) for o in self.router.outputs(VenuePeer(receiver))}
            for receiver in VENUES
        }

    def drain_all(self) -> None:
        for outputs in self.router.snapshot():
            for output in self.router.outputs(outputs):
                drain(output)


def add_venue(rig: Rig, venue: str) -> None:
    for kind in ("video", "audio"):
        label = venue if kind == "video" else f"{venue}:audio"
        rig.router.add_source(venue, kind, lambda label=label: rig.requests.append(label))
    peer = VenuePeer(venue)
    rig.router.add_outputs(
        peer,
        [capture(Output("video", PV, peer)), capture(Output("audio", PA, peer)), capture(Output("audio", MA, peer))],
    )


def routes(pv: str | None, pa: str | None, ma: str | None) -> dict[str, str | None]:
    return {"program_video": pv, "program_audio": pa, "main_audio": ma}


@pytest.fixture
def rig() -> Rig:
    clock = FakeClock()
    rig = Rig(clock, ProgramRouter("main", clock=clock))
    for venue in VENUES:
        add_venue(rig, venue)
    return rig


@pytest.fixture
def live(rig: Rig) -> Rig:
    """`rig` with main on air, every video output current, all queues empty and requests forgotten."""
    rig.keyframes_from_all()
    rig.drain_all()
    rig.requests.clear()
    rig.clock.advance(10)
    return rig


# ------------------------------------------------------------------ routing table


def test_main_on_air_branches_get_main_and_main_gets_no_program(rig):
    assert rig.wanted() == {
        "main": routes(None, None, None),
        "a": routes("main", "main", None),
        "b": routes("main", "main", None),
    }


def test_branch_on_air_is_seen_by_others_and_itself_sees_main(rig):
    rig.router.set_program("a", set())
    assert rig.wanted() == {
        "main": routes("a", "a", None),
        "a": routes("main", None, "main"),
        "b": routes("a", "a", "main"),
    }


def test_snapshot_reports_the_sources_now_forwarded(live):
    assert live.router.program_snapshot() == {
        "main": routes(None, None, None),
        "a": routes("main", "main", None),
        "b": routes("main", "main", None),
    }
    live.router.set_program("a", set())
    live.keyframes_from_all()
    assert live.router.program_snapshot() == {
        "main": routes("a", "a", None),
        "a": routes("main", None, "main"),
        "b": routes("a", "a", "main"),
    }


def test_muted_on_air_venue_gives_no_program_audio(rig):
    rig.router.set_program("a", {"a"})
    wanted = rig.wanted()
    assert [wanted[r]["program_audio"] for r in VENUES] == [None, None, None]
    assert [wanted[r]["program_video"] for r in VENUES] == ["a", "main", "a"]
    assert [wanted[r]["main_audio"] for r in VENUES] == [None, "main", "main"]


def test_muted_main_gives_no_main_audio(rig):
    rig.router.set_program("a", {"main"})
    wanted = rig.wanted()
    assert [wanted[r]["main_audio"] for r in VENUES] == [None, None, None]
    assert [wanted[r]["program_audio"] for r in VENUES] == ["a", None, "a"]


def test_muting_the_on_air_venue_stops_its_audio_at_once(live):
    live.router.set_program("main", {"main"})
    live.audio("main", b"hello", 100)
    assert payloads(live.out("a", PA)) == []
    assert live.router.program_snapshot()["a"]["program_audio"] is None


def test_on_air_venue_without_uplinks_is_not_routed(rig):
    rig.router.set_program("ghost", set())  # no venue "ghost" sends anything
    assert rig.router.wanted_source(rig.out("b", PV)) is None
    assert rig.router.wanted_source(rig.out("b", PA)) is None


# ------------------------------------------------------------------ video switching


def test_video_switch_keeps_old_source_flowing_until_new_keyframe(live):
    live.router.set_program("a", set())
    live.video("a", inter("a1"))
    live.video("main", inter("m1"))
    live.video("a", inter("a2"))
    live.video("main", inter("m2"))
    assert payloads(live.out("b", PV)) == [inter("m1"), inter("m2")]
    assert live.router.program_snapshot()["b"]["program_video"] == "main"
    assert live.out("b", PV).pending == "a"


def test_video_switch_cuts_over_at_the_new_source_keyframe(live):
    live.router.set_program("a", set())
    live.video("a", inter("a1"))
    live.video("a", key("a2"))
    live.video("main", inter("m1"))
    live.video("a", inter("a3"))
    assert payloads(live.out("b", PV)) == [key("a2"), inter("a3")]
    assert live.router.program_snapshot()["b"]["program_video"] == "a"
    assert live.out("b", PV).pending is None
    assert live.out("b", PV).stats.switches == 1


def test_program_change_requests_a_keyframe_from_the_new_source_at_once(live):
    live.router.request_keyframe("a")  # within the throttle window: must not hold the forced request back
    live.requests.clear()
    live.router.set_program("a", set())
    assert live.requests[:1] == ["a"]
    assert set(live.requests) == {"a"}


def test_switching_back_before_the_keyframe_cancels_the_switch(live):
    live.router.set_program("a", set())
    live.router.set_program("main", set())
    live.video("a", key("a1"))
    live.video("main", inter("m1"))
    assert payloads(live.out("b", PV)) == [inter("m1")]
    assert live.out("b", PV).pending is None


def test_audio_switches_at_once(live):
    live.router.set_program("a", set())
    live.audio("a", b"a-voice", 100)
    live.audio("main", b"m-voice", 100)
    assert payloads(live.out("b", PA)) == [b"a-voice"]
    assert payloads(live.out("b", MA)) == [b"m-voice"]
    assert live.router.program_snapshot()["b"]["program_audio"] == "a"


def test_audio_switches_at_once_though_opus_packets_carry_no_marker(live):
    live.packet("main", "audio", b"m-voice", 960, marker=False)  # browsers mark only a talkspurt's start
    live.router.set_program("a", set())
    live.packet("a", "audio", b"a-voice", 100, marker=False)
    assert payloads(live.out("b", PA)) == [b"m-voice", b"a-voice"]


# ------------------------------------------------------------------ timestamps


def test_same_source_timestamp_deltas_are_preserved(live):
    for timestamp in (50_000, 53_000, 56_000, 62_000):
        live.video("main", inter(), timestamp)
    out = pts(live.out("b", PV))
    assert [later - earlier for earlier, later in itertools.pairwise(out)] == [3000, 3000, 6000]


def test_switch_restamps_new_source_by_wall_clock(live):
    live.video("main", inter(), 3000)
    live.router.set_program("a", set())
    live.clock.advance(0.5)
    live.video("a", key(), 9_000_000)
    live.video("a", inter(), 9_003_000)
    first, switched, after = pts(live.out("b", PV))
    assert switched - first == 45_000  # 0.5 s of 90 kHz: a's own timestamp does not leak
    assert after - switched == 3000


def test_switch_ignores_new_source_timestamp_even_when_plausibly_close(live):
    live.video("main", inter(), 3000)
    live.router.set_program("a", set())
    live.clock.advance(0.1)
    live.video("a", key(), 3000 + 200_000)  # a's clock happens to be ~2 s ahead of main's
    first, switched = pts(live.out("b", PV))
    assert switched - first == 9000  # 0.1 s of 90 kHz, not a's 200_000-tick offset


def test_switch_without_wall_clock_time_still_moves_pts_forward(live):
    live.video("main", inter(), 3000)
    live.router.set_program("a", set())
    live.video("a", key(), 10)  # same fake instant, and a's timestamp is far behind main's
    first, switched = pts(live.out("b", PV))
    assert switched - first == 1


def test_backward_or_huge_source_jump_falls_back_to_wall_clock(live):
    live.video("main", inter(), 1_000_000)
    live.clock.advance(0.04)
    live.video("main", inter(), 1_000_000 - 10 * 90_000)  # ten seconds backwards
    live.clock.advance(0.02)
    live.video("main", inter(), 1_000_000 + 10 * 90_000)  # then twenty seconds ahead in one frame
    out = pts(live.out("b", PV))
    assert [later - earlier for earlier, later in itertools.pairwise(out)] == [3600, 1800]


def test_a_late_packet_of_an_earlier_frame_keeps_its_place_in_time(live):
    live.video("main", inter(), 9000)
    live.video("main", inter(), 6000)  # reordered on the way: a frame from before
    first, late = pts(live.out("b", PV))
    assert first - late == 3000


def test_sequence_numbers_stay_continuous_across_a_switch(live):
    for n in range(3):
        live.video("main", inter(f"m{n}"), 3000 * n)
    live.router.set_program("a", set())
    live.sequence[("a", "video")] = 40_000  # a numbers its packets in its own way
    live.video("a", key("a0"), 123)
    live.video("a", inter("a1"), 3123)
    numbers = [seq for _data, seq, _ts, _marker in sent_packets(live.out("b", PV))]
    assert [later - earlier for earlier, later in itertools.pairwise(numbers)] == [1] * 4


def test_audio_switch_restamps_new_source_by_wall_clock(live):
    live.audio("main", b"m", 48_000)
    live.router.set_program("a", set())
    live.clock.advance(0.02)
    live.audio("a", b"a", 48_000 + 96_000)  # a's clock happens to be 2 s ahead of main's
    first, switched = pts(live.out("b", PA))
    assert switched - first == 960  # 20 ms at 48 kHz, not a's 96_000-tick offset


# ------------------------------------------------------------------ keyframe requests


def test_receiver_pli_asks_the_current_source_throttled(live):
    output = live.out("b", PV)
    output.on_keyframe_request()
    live.clock.advance(KEYFRAME_THROTTLE_S / 2)
    output.on_keyframe_request()
    assert live.requests == ["main"]
    live.clock.advance(KEYFRAME_THROTTLE_S)
    output.on_keyframe_request()
    assert live.requests == ["main", "main"]


def test_receiver_pli_during_a_switch_asks_the_pending_source(live):
    live.router.set_program("a", set())
    live.requests.clear()
    live.clock.advance(KEYFRAME_THROTTLE_S)
    live.out("b", PV).on_keyframe_request()
    assert live.requests == ["a"]


def test_pli_throttle_is_per_source(live):
    live.out("b", PV).on_keyframe_request()  # asks main
    live.out("main", PV).on_keyframe_request()  # main receives no program video: asks nobody
    live.router.request_keyframe("main")  # throttled: main was asked just now
    live.router.request_keyframe("b")  # another source: not throttled
    assert live.requests == ["main", "b"]


# ------------------------------------------------------------------ frames of several packets


def frame(rig: Rig, venue: str, data: bytes, timestamp: int, packets: int = 3) -> None:
    """One video frame from `venue` in `packets` packets (the first starts it, the last has the marker)."""
    for n in range(packets):
        descriptor = DESCRIPTOR if n == 0 else CONTINUED
        rig.packet(venue, "video", descriptor + data + bytes([n]), timestamp, marker=n == packets - 1)


def first_packet_of(rig: Rig, venue: str, data: bytes, timestamp: int) -> None:
    rig.packet(venue, "video", DESCRIPTOR + data + b"\x00", timestamp, marker=False)


def rest_of(rig: Rig, venue: str, data: bytes, timestamp: int) -> None:
    rig.packet(venue, "video", CONTINUED + data + b"\x01", timestamp, marker=True)


def test_a_switch_cuts_over_at_the_first_packet_of_the_keyframe(live):
    live.router.set_program("a", set())
    first_packet_of(live, "a", inter("a0"), 100)  # a frame of a that started before its keyframe
    live.sequence[("a", "video")] += 1  # its end is late (reordered on the way)
    frame(live, "a", key("a1"), 3100)
    after_keyframe = live.sequence[("a", "video")]
    live.sequence[("a", "video")] -= 4
    rest_of(live, "a", inter("a0"), 100)  # the late end of that earlier frame: older than the cut
    live.sequence[("a", "video")] = after_keyframe
    frame(live, "a", inter("a2"), 6100)
    sent = sent_packets(live.out("b", PV))
    assert [data[:-1] for data, *_ in sent] == [key("a1")] * 3 + [inter("a2")] * 3
    assert [marker for *_, marker in sent] == [False, False, True] * 2


def test_the_old_sources_frame_is_completed_before_the_new_source_follows(live):
    live.router.set_program("a", set())
    first_packet_of(live, "main", inter("m"), 9000)  # main's frame has begun when a's keyframe comes
    frame(live, "a", key("a1"), 500)
    rest_of(live, "main", inter("m"), 9000)
    frame(live, "main", inter("m2"), 12000)  # main's next frame: no longer forwarded
    sent = sent_packets(live.out("b", PV))
    assert [data for data, *_ in sent] == [inter("m") + b"\x00", inter("m") + b"\x01",
                                           key("a1") + b"\x00", key("a1") + b"\x01", key("a1") + b"\x02"]
    numbers = [seq for _data, seq, _ts, _marker in sent]
    assert [later - earlier for earlier, later in itertools.pairwise(numbers)] == [1] * 4
    assert live.router.program_snapshot()["b"]["program_video"] == "a"


def test_an_old_frame_whose_end_never_comes_releases_the_new_source(live):
    live.router.set_program("a", set())
    first_packet_of(live, "main", inter("m"), 9000)
    frame(live, "a", key("a1"), 500)
    frame(live, "main", inter("m2"), 12000)  # main's next frame: the old one lost its end
    assert [data for data, *_ in sent_packets(live.out("b", PV))] == [
        inter("m") + b"\x00", key("a1") + b"\x00", key("a1") + b"\x01", key("a1") + b"\x02"]


def test_a_third_source_while_a_frame_completes_keeps_one_numbered_stream(live, monitor):
    first_packet_of(live, "b", inter("b"), 9000)
    monitor.fixed_source = "a"
    live.router.reroute()
    first_packet_of(live, "a", key("a1"), 500)  # held: b's frame is not complete
    monitor.fixed_source = "main"
    live.router.reroute()
    live.video("main", key("m1"), 70)  # main cuts in: a's start goes out, and a's frame is completed next
    rest_of(live, "b", inter("b"), 9000)  # too late: b's frame is no longer completed
    rest_of(live, "a", key("a1"), 500)
    live.video("main", inter("m2"), 3070)
    sent = sent_packets(monitor)
    assert [data for data, *_ in sent] == [inter("b") + b"\x00", key("a1") + b"\x00", key("a1") + b"\x01",
                                           key("m1"), inter("m2")]
    numbers = [seq for _data, seq, _ts, _marker in sent]
    assert [later - earlier for earlier, later in itertools.pairwise(numbers)] == [1] * 4


def test_a_held_new_source_is_let_through_after_a_bound(live):
    live.router.set_program("a", set())
    first_packet_of(live, "main", inter("m"), 9000)  # and main goes silent
    frame(live, "a", key("a1"), 500, packets=MAX_HELD_PACKETS + 1)
    sent = sent_packets(live.out("b", PV))
    assert len(sent) == 1 + MAX_HELD_PACKETS + 1


def test_a_held_new_source_is_let_through_after_a_while(live):
    live.router.set_program("a", set())
    first_packet_of(live, "main", inter("m"), 9000)  # and main freezes
    first_packet_of(live, "a", key("a1"), 500)
    live.clock.advance(MAX_HOLD_S + 0.01)
    rest_of(live, "a", key("a1"), 500)
    assert len(sent_packets(live.out("b", PV))) == 3


def test_a_source_leaving_mid_frame_releases_the_held_packets(live):
    live.router.set_program("a", set())
    first_packet_of(live, "main", inter("m"), 9000)
    frame(live, "a", key("a1"), 500)
    live.router.remove_peer(VenuePeer("main"))
    assert len(sent_packets(live.out("b", PV))) == 1 + 3


def test_a_gap_left_by_the_old_source_is_filled_before_the_new_source_follows(live):
    live.video("main", inter("m1"), 3000)
    live.sequence[("main", "video")] += 2  # two packets lost on main's uplink
    live.video("main", inter("m2"), 6000)
    live.router.set_program("a", set())
    live.video("a", key("a1"), 70)
    sent = sent_packets(live.out("b", PV))
    assert [data for data, *_ in sent] == [inter("m1"), inter("m2"), b"", b"", key("a1")]
    numbers = [seq for _data, seq, _ts, _marker in sent]
    assert sorted(numbers) == list(range(numbers[0], numbers[0] + 5)), "every number sent once"


def test_a_video_output_not_started_yet_waits_for_a_keyframe_after_it_starts(live):
    peer = VenuePeer("late")
    output = capture(Output("video", PV, peer))
    output.wait_until_started()
    live.router.add_outputs(peer, [output])
    live.requests.clear()
    live.video("main", key("m1"))  # its sender has not started: the keyframe would be lost
    assert output.current is None and output.pending == "main"
    live.clock.advance(0.01)
    output.started()
    assert live.requests == ["main"], "asked again the moment it starts, throttle or not"
    live.video("main", key("m2"))
    assert payloads(output) == [key("m2")]


# ------------------------------------------------------------------ venues leaving


def test_remove_venue_stops_and_forgets_its_outputs(live):
    outputs = live.router.outputs(VenuePeer("a"))
    live.router.remove_peer(VenuePeer("a"))
    assert live.router.outputs(VenuePeer("a")) == []
    assert "a" not in live.router.program_snapshot()
    assert [o.readyState for o in outputs] == ["ended"] * 3
    assert all(o.current is None and o.pending is None for o in outputs)


def test_remove_venue_forgets_its_uplinks(live):
    live.router.set_program("a", set())
    live.keyframes_from_all()
    live.drain_all()
    live.router.remove_peer(VenuePeer("a"))
    live.video("a", key("a"))
    live.audio("a", b"a")
    assert payloads(live.out("b", PV)) == []
    assert payloads(live.out("b", PA)) == []
    assert live.router.program_snapshot()["b"] == routes(None, None, "main")
    assert live.router.source_counters("a") == (0, 0)


# ------------------------------------------------------------------ monitor outputs


MONITOR = MonitorPeer(1)


@pytest.fixture
def monitor(live: Rig) -> Output:
    output = capture(Output("video", Role.MONITOR_VIDEO, MONITOR))
    output.fixed_source = "b"
    live.router.add_outputs(MONITOR, [output])
    live.video("b", key("b0"))
    drain(output)
    live.requests.clear()
    return output


def test_monitor_follows_its_fixed_source_whatever_the_program(live, monitor):
    live.router.set_program("a", set())
    live.keyframes_from_all()
    live.video("a", inter("a1"))
    live.video("main", inter("m1"))
    live.video("b", inter("b1"))
    assert payloads(monitor) == [key("b"), inter("b1")]
    assert live.router.snapshot()[MONITOR] == {"monitor_video": "b"}
    assert MONITOR not in live.router.program_snapshot(), "monitors are not part of the program"


def test_monitor_switches_at_the_next_keyframe_after_a_new_fixed_source(live, monitor):
    monitor.fixed_source = "a"
    live.router.reroute()
    assert live.requests == ["a"]
    live.video("a", inter("a1"))
    live.video("b", inter("b1"))
    live.video("a", key("a2"))
    live.video("b", inter("b2"))
    assert payloads(monitor) == [inter("b1"), key("a2")]
    assert live.router.snapshot()[MONITOR] == {"monitor_video": "a"}


# ------------------------------------------------------------------ the main venue's return


WV = Role.WALL_VIDEO


def wall_slots(rig: Rig, receiver: str = "main", count: int = 4) -> list[Output]:
    """Give `receiver` `count` wall slots (receive-only video m-lines, in slot order)."""
    peer = VenuePeer(receiver)
    slots = [capture(Output("video", WV, peer, slot=n)) for n in range(count)]
    rig.router.add_outputs(peer, slots)
    return slots


def test_a_single_return_changes_the_main_venues_video_only(live):
    live.router.set_program("a", set())
    live.router.set_main_return("b", ())
    assert live.wanted() == {
        "main": routes("b", "a", None),  # the main venue still hears the program
        "a": routes("main", None, "main"),
        "b": routes("a", "a", "main"),
    }
    live.router.set_main_return(None, ())
    assert live.wanted()["main"] == routes("a", "a", None), "back to the program"


def test_a_return_is_shown_even_while_the_main_venue_is_on_air(live):
    live.router.set_main_return("a", ())
    assert live.wanted()["main"] == routes("a", None, None)
    assert live.wanted()["b"] == routes("main", "main", None)


def test_the_return_switches_on_a_keyframe_with_continuous_timestamps(live):
    live.router.set_program("a", set())
    live.keyframes_from_all()
    live.drain_all()
    live.requests.clear()
    live.video("a", inter("a1"), 3000)
    live.router.set_main_return("b", ())
    assert live.requests == ["b"], "the new source is asked for a keyframe at once"
    live.video("b", inter("b1"), 7_000_000)  # not a keyframe: the main venue keeps the program
    live.video("a", inter("a2"), 6000)
    live.clock.advance(0.1)
    live.video("b", key("b2"), 7_003_000)
    live.video("b", inter("b3"), 7_006_000)
    live.video("a", inter("a3"), 9000)
    out = drain(live.out("main", PV))
    assert [data for data, _ in out] == [inter("a1"), inter("a2"), key("b2"), inter("b3")]
    stamps = [stamp for _, stamp in out]
    assert [later - earlier for earlier, later in itertools.pairwise(stamps)] == [3000, 9000, 3000]
    assert payloads(live.out("b", PV)) == [inter("a1"), inter("a2"), inter("a3")], "the others keep the program"
    assert live.router.program_snapshot()["main"]["program_video"] == "b"


def test_a_return_venue_without_uplinks_leaves_the_main_venue_on_the_program(live):
    live.router.set_program("a", set())
    live.router.set_main_return("ghost", ())
    assert live.router.wanted_source(live.out("main", PV)) == "a"


def test_wall_slots_forward_each_tile_as_it_is(live):
    slots = wall_slots(live)
    live.router.set_main_return(None, ("a", "b"))
    assert [live.router.wanted_source(o) for o in slots] == ["a", "b", None, None]
    assert set(live.requests) == {"a", "b"}
    live.video("a", key("a1"))
    live.video("b", key("b1"))
    live.video("a", inter("a2"))
    assert [payloads(o) for o in slots] == [[key("a1"), inter("a2")], [key("b1")], [], []]
    snapshot = live.router.program_snapshot()
    assert snapshot["main"] == {**routes(None, None, None), "wall_video_0": "a", "wall_video_1": "b"}
    assert snapshot["a"] == routes("main", "main", None), "the branch venues keep the program"


def test_a_new_wall_page_switches_every_slot_on_its_own_keyframe(live):
    slots = wall_slots(live, count=2)
    live.router.set_main_return(None, ("a", "b"))
    live.keyframes_from_all()
    [drain(o) for o in slots]
    live.requests.clear()
    live.router.set_main_return(None, ("main", "a"))
    assert set(live.requests) == {"main", "a"}
    live.video("a", inter("a1"))
    live.video("b", inter("b1"))
    live.video("main", key("m1"))
    live.video("a", key("a2"))
    assert payloads(slots[0]) == [inter("a1"), key("m1")], "a until main's keyframe"
    assert payloads(slots[1]) == [inter("b1"), key("a2")], "b until a's keyframe"
    live.router.set_main_return(None, ())
    live.video("main", key("m2"))
    assert payloads(slots[0]) == [], "no wall: nothing is forwarded"
    assert "wall_video_0" not in live.router.program_snapshot()["main"]


def test_only_the_main_venue_receives_a_wall(live):
    slots = wall_slots(live, receiver="b", count=2)
    live.router.set_main_return(None, ("a", "main"))
    assert [live.router.wanted_source(o) for o in slots] == [None, None]


def test_a_wall_slots_pli_asks_its_own_source(live):
    slots = wall_slots(live, count=2)
    live.router.set_main_return(None, ("a", "b"))
    live.keyframes_from_all()
    live.clock.advance(1)
    live.requests.clear()
    slots[1].on_keyframe_request()
    assert live.requests == ["b"]


# ------------------------------------------------------------------ Output as a track


async def test_recv_gives_its_sender_nothing_until_it_stops():
    output = Output("video", PV, VenuePeer("b"))
    waiting = asyncio.ensure_future(output.recv())
    await asyncio.sleep(0.01)
    assert not waiting.done(), "packets bypass the sender: it never gets a frame"
    output.stop()
    with pytest.raises(MediaStreamError):
        await asyncio.wait_for(waiting, 1)


async def test_recv_raises_after_stop():
    output = Output("video", PV, VenuePeer("b"))
    output.stop()
    with pytest.raises(MediaStreamError):
        await output.recv()


# ------------------------------------------------------------------ peers are typed


def test_a_venue_named_like_a_monitor_is_another_peer(live):
    """A venue may be called `operator-1`; the first console's monitor is `MonitorPeer(1)`:
    removing one never touches the other."""
    add_venue(live, "operator-1")
    monitor = capture(Output("video", Role.MONITOR_VIDEO, MonitorPeer(1)))
    live.router.add_outputs(MonitorPeer(1), [monitor])
    venue_outputs = live.router.outputs(VenuePeer("operator-1"))
    live.router.remove_peer(MonitorPeer(1))
    assert live.router.outputs(VenuePeer("operator-1")) == venue_outputs
    assert [o.readyState for o in venue_outputs] == ["live"] * 3
    assert live.router.source_counters("operator-1") == (0, 0)
    live.video("operator-1", key("v"))
    assert live.router.source_counters("operator-1") == (3, 1), "its uplinks are still routed"
    assert monitor.readyState == "ended"
