"""Which received VP8 frames a venue decodes, judged as a browser would: pure, fake packets and a fake clock."""

from __future__ import annotations

import itertools

import pytest

from orchestrator.media.vp8_chain import KEYFRAME_REQUEST_INTERVAL_S, PENDING_FRAMES, Verdict, Vp8Chain

KEY, DELTA = b"\x10\x02\x00\x9d\x01\x2a", b"\x11\x02\x00"  # VP8 payload headers: P bit 0 (key) or 1
_timestamps = itertools.count(3000, 3000)


def payload(picture_id: int | None, start: bool = True, key: bool = False, bits: int = 15) -> bytes:
    """One packet's RTP payload: a VP8 payload descriptor (RFC 7741 section 4.2), then VP8 data."""
    first = (0x80 if picture_id is not None else 0) | (0x10 if start else 0)
    if picture_id is None:
        descriptor = bytes([first])
    elif bits == 15:
        descriptor = bytes([first, 0x80, 0x80 | picture_id >> 8, picture_id & 0xFF])
    else:
        descriptor = bytes([first, 0x80, picture_id])
    return descriptor + (KEY if key else DELTA)


def frame(chain: Vp8Chain, picture_id: int | None, key: bool = False, bits: int = 15, packets: int = 1,
          now: float = 0.0, first_packet: bool = True) -> Verdict:
    """Note the packets of one frame (its first one unless `first_packet` is False), then judge it."""
    timestamp = next(_timestamps)
    if first_packet:
        chain.note(payload(picture_id, start=True, key=key, bits=bits), timestamp)
    for _ in range(packets - 1):
        chain.note(payload(picture_id, start=False, bits=bits), timestamp)
    return chain.admit(timestamp, now)


def test_a_keyframe_passes_and_so_do_the_deltas_that_follow_it():
    chain = Vp8Chain()
    assert frame(chain, 100, key=True).decodable
    assert all(frame(chain, picture_id).decodable for picture_id in range(101, 110))


def test_deltas_before_the_first_keyframe_wait_for_it():
    chain = Vp8Chain()
    first = frame(chain, 5)
    assert not first.decodable and first.first_held and first.ask_keyframe
    assert not frame(chain, 6).decodable
    assert frame(chain, 7, key=True).decodable


def test_a_jump_in_picture_ids_holds_every_frame_until_a_keyframe():
    chain = Vp8Chain()
    assert frame(chain, 10, key=True).decodable
    assert frame(chain, 11).decodable
    jumped = frame(chain, 4000)  # another feed, its picture IDs not rewritten
    assert jumped == Verdict(decodable=False, first_held=True, ask_keyframe=True)
    later = frame(chain, 4001, now=0.1)  # follows the held frame, not the last decoded one
    assert not later.decodable and not later.first_held
    assert frame(chain, 4002, key=True, now=0.2).decodable
    assert frame(chain, 4003, now=0.3).decodable


def test_a_lost_frame_breaks_the_chain_too():
    chain = Vp8Chain()
    assert frame(chain, 1, key=True).decodable
    assert frame(chain, 2).decodable
    assert not frame(chain, 4).decodable  # 3 never came
    assert not frame(chain, 5).decodable


@pytest.mark.parametrize("bits,last", [(15, 0x7FFF), (7, 0x7F)])
def test_picture_ids_wrap_around_at_their_width(bits, last):
    chain = Vp8Chain()
    assert frame(chain, last, key=True, bits=bits).decodable
    assert frame(chain, 0, bits=bits).decodable
    assert frame(chain, 1, bits=bits).decodable
    assert not frame(chain, 3, bits=bits).decodable


def test_a_frame_of_many_packets_is_judged_as_one():
    chain = Vp8Chain()
    assert frame(chain, 7, key=True, packets=5).decodable
    assert frame(chain, 8, packets=3).decodable
    assert not frame(chain, 12, packets=4).decodable
    assert frame(chain, 13, key=True, packets=6).decodable


def test_a_frame_whose_first_packet_never_came_is_not_decoded():
    chain = Vp8Chain()
    assert frame(chain, 7, key=True).decodable
    assert not frame(chain, 8, packets=3, first_packet=False).decodable
    assert not frame(chain, 9).decodable


def test_frames_without_picture_ids_cannot_be_judged_and_pass():
    chain = Vp8Chain()
    assert frame(chain, None).decodable
    no_id_bit = next(_timestamps)
    chain.note(b"\x90\x00" + DELTA, no_id_bit)  # extended descriptor, I bit absent
    assert chain.admit(no_id_bit, 0.0).decodable
    assert chain.admit(next(_timestamps), 0.0).decodable  # nothing noted at all


def test_keyframe_requests_are_throttled_while_frames_are_held():
    chain = Vp8Chain()
    step = KEYFRAME_REQUEST_INTERVAL_S / 4
    asked = [frame(chain, picture_id, now=i * step).ask_keyframe for i, picture_id in enumerate(range(50, 62))]
    assert asked == [i % 4 == 0 for i in range(12)]
    assert frame(chain, 62, key=True, now=12 * step).decodable
    assert frame(chain, 99, now=13 * step) == Verdict(decodable=False, first_held=True, ask_keyframe=True)


def test_many_frames_noted_and_never_judged_are_forgotten():
    chain = Vp8Chain()
    for picture_id in range(1000):
        chain.note(payload(picture_id), next(_timestamps))
    assert len(chain._frames) == PENDING_FRAMES
