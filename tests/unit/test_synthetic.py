"""Pre-encoded synthetic venue media: the mark, the VP8 loop and the Opus tone."""
from __future__ import annotations

import itertools
from array import array
from datetime import UTC
from fractions import Fraction

import av
import pytest

from venues.synthetic import (
    LabelledPicture,
    MarkedVideo,
    ToneAudio,
    draw_mark,
    is_vp8_keyframe,
    read_mark,
)

INDICES = [0, 1, 7, 128, 255]


def decode_vp8(frames: list[bytes], decoder=None) -> list[av.VideoFrame]:
    decoder = decoder or av.CodecContext.create("libvpx", "r")
    return [picture for data in frames for picture in decoder.decode(av.Packet(data))]


def set_luma_rect(frame: av.VideoFrame, x0: int, y0: int, x1: int, y1: int, value: int) -> None:
    plane = frame.planes[0]
    luma = bytearray(bytes(plane))
    for y in range(y0, y1):
        start = y * plane.line_size
        luma[start + x0 : start + x1] = bytes([value]) * (x1 - x0)
    plane.update(bytes(luma))


@pytest.fixture(scope="module")
def videos() -> dict[int, MarkedVideo]:
    return {index: MarkedVideo(index) for index in (3, 42, 200)}


# --- the mark, without encoding ---------------------------------------------------


@pytest.mark.parametrize("index", INDICES)
@pytest.mark.parametrize("size", [(320, 180), (160, 90), (641, 361)])
def test_draw_read_round_trip(index: int, size: tuple[int, int]) -> None:
    for frame_number in (0, 5, 29):
        frame = draw_mark(index, *size, frame_number)
        assert frame.format.name == "yuv420p"
        assert (frame.width, frame.height) == size
        assert read_mark(frame) == index


def test_read_mark_converts_other_formats() -> None:
    assert read_mark(draw_mark(99, 320, 180, 0).reformat(format="rgb24")) == 99


def test_frames_move_with_frame_number() -> None:
    first, second = (bytes(draw_mark(9, 320, 180, n).planes[0]) for n in (0, 1))
    half = 90 * draw_mark(9, 320, 180, 0).planes[0].line_size
    assert first[:half] == second[:half]  # the mark is static
    assert first[half:] != second[half:]  # the lower half moves


def test_plain_grey_frame_has_no_mark() -> None:
    frame = av.VideoFrame(320, 180, "yuv420p")
    for plane in frame.planes:
        plane.update(b"\x80" * plane.buffer_size)
    assert read_mark(frame) is None


@pytest.mark.parametrize("value", [16, 235, 128])
def test_corrupt_block_invalidates_mark(value: int) -> None:
    # index 0b1010_0101: flip / grey out block (column 1, row 1), which is black.
    # (the mark: the top-left 160 x 45 of 320 x 180, blocks of 20 x 22)
    frame = draw_mark(0b1010_0101, 320, 180, 0)
    set_luma_rect(frame, 20, 0, 40, 22, 235 if value == 16 else value)
    assert read_mark(frame) is None
    # The same damage in the complement row is caught too.
    frame = draw_mark(0b1010_0101, 320, 180, 0)
    set_luma_rect(frame, 20, 22, 40, 45, 16 if value == 235 else value)
    assert read_mark(frame) is None


def test_index_out_of_range() -> None:
    with pytest.raises(ValueError):
        draw_mark(256, 320, 180, 0)
    with pytest.raises(ValueError):
        MarkedVideo(-1)


# --- VP8 ----------------------------------------------------------------------------


def test_is_vp8_keyframe() -> None:
    assert is_vp8_keyframe(bytes([0x00, 0x9D, 0x01, 0x2A])) is True
    assert is_vp8_keyframe(bytes([0x10, 0x02, 0x00])) is True
    assert is_vp8_keyframe(bytes([0x01, 0x02, 0x00])) is False
    assert is_vp8_keyframe(bytes([0xFF])) is False
    assert is_vp8_keyframe(b"") is False


def test_video_loop_shape(videos: dict[int, MarkedVideo]) -> None:
    for video in videos.values():
        assert (video.width, video.height, video.fps) == (320, 180, 15)
        assert len(video.frames) == len(video.keyframe) == 30
        assert video.keyframe == [True] + [False] * 29
        assert [is_vp8_keyframe(f) for f in video.frames] == video.keyframe
        # RFC 6386 key frame start code follows the 3-byte frame tag.
        assert video.frames[0][3:6] == b"\x9d\x01\x2a"


def test_every_decoded_frame_reads_back(videos: dict[int, MarkedVideo]) -> None:
    for index, video in videos.items():
        pictures = decode_vp8(video.frames)
        assert len(pictures) == 30
        assert [read_mark(p) for p in pictures] == [index] * 30
        assert all((p.width, p.height) == (320, 180) for p in pictures)


def test_consecutive_decoded_frames_differ(videos: dict[int, MarkedVideo]) -> None:
    pictures = decode_vp8(videos[42].frames)
    lumas = [bytes(p.planes[0]) for p in pictures]
    assert all(a != b for a, b in itertools.pairwise(lumas))


def test_restart_at_keyframe_and_wrap(videos: dict[int, MarkedVideo]) -> None:
    video = videos[200]
    decoder = av.CodecContext.create("libvpx", "r")
    # Keyframe request after frame 17: playback restarts at frame 0.
    sequence = video.frames[:18] + video.frames[:6]
    # Then the loop is played through and wraps from the last frame to frame 0 twice.
    sequence += video.frames[6:] + video.frames + video.frames[:3]
    pictures = decode_vp8(sequence, decoder)
    assert len(pictures) == len(sequence)
    assert [read_mark(p) for p in pictures] == [200] * len(sequence)


def test_scale_independence() -> None:
    video = MarkedVideo(0b1100_1010, 640, 360, 30, 30, 500_000)
    assert (video.width, video.height, video.fps) == (640, 360, 30)
    pictures = decode_vp8(video.frames)
    assert [(p.width, p.height) for p in pictures] == [(640, 360)] * 30
    assert [read_mark(p) for p in pictures] == [0b1100_1010] * 30
    for size in [(160, 90), (320, 180), (1280, 720), (400, 300)]:
        scaled = pictures[-1].reformat(width=size[0], height=size[1])
        assert read_mark(scaled) == 0b1100_1010


def test_encoded_loop_is_cheap() -> None:
    bitrate, fps = 300_000, 15
    video = MarkedVideo(77, fps=fps, loop_frames=45, bitrate=bitrate)
    assert len(video.frames) == 45
    assert video.keyframe.count(True) == 1
    assert sum(map(len, video.frames)) / len(video.frames) < bitrate / 8 / fps * 4


# --- the picture a person watches ------------------------------------------------------


def luma(frame: av.VideoFrame) -> bytes:
    return bytes(frame.planes[0])


def test_a_labelled_picture_keeps_the_mark_in_its_corner_through_vp8() -> None:
    picture = LabelledPicture(0b1100_1010, "嘉兴港区 Jiaxing Port Area", 320, 180, UTC)
    codec = av.CodecContext.create("libvpx", "w")
    codec.width, codec.height, codec.pix_fmt = 320, 180, "yuv420p"
    codec.time_base, codec.bit_rate = Fraction(1, 5), 250_000  # the sender's lowest rate (aiortc's)
    codec.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"}
    decoder = av.CodecContext.create("libvpx", "r")
    seen = []
    for n in range(10):
        frame = picture.frame(1_738_737_000.0 + n / 5)
        frame.pts = n
        seen += [read_mark(f) for p in codec.encode(frame) for f in decoder.decode(p)]
    assert seen == [0b1100_1010] * 10


def test_a_labelled_picture_draws_its_clock_once_a_second() -> None:
    picture = LabelledPicture(7, "Pinghu City", 320, 180, UTC)
    first = picture.frame(1_738_737_000.1)
    assert picture.frame(1_738_737_000.9) is first  # the same second: the same frame, nothing drawn
    later = picture.frame(1_738_737_001.0)
    assert picture.clock_text(1_738_737_001.0) == "06:30:01"
    assert luma(later) != luma(first)
    x, y, w, h = picture.clock_box  # only the clock changed: the name and the mark stand
    stride = later.planes[0].line_size
    changed = {(i % stride, i // stride) for i, (a, b) in enumerate(zip(luma(first), luma(later))) if a != b}
    assert all(x <= cx < x + w and y <= cy < y + h for cx, cy in changed)
    assert read_mark(later) == 7


def test_a_labelled_picture_shows_the_name() -> None:
    """The name's box is not empty: white text on the dark background, below the mark."""
    picture = LabelledPicture(7, "平湖市", 320, 180, UTC)
    frame = picture.frame(0.0)
    plane = frame.planes[0]
    rows = bytes(plane)[60 * plane.line_size : 170 * plane.line_size]
    assert rows.count(bytes([235])) > 500
    blank = LabelledPicture(7, "", 320, 180, UTC).frame(0.0)
    assert bytes(blank.planes[0])[60 * plane.line_size : 170 * plane.line_size].count(bytes([235])) == 0


def test_a_long_name_is_broken_into_lines_that_fit() -> None:
    from venues.synthetic import _fit_name

    lines, size = _fit_name("Zhejiang Zhapu Economic Development Zone (Jiaxing Port Area)", 288, 100)
    assert len(lines) > 1 and " ".join(lines) == "Zhejiang Zhapu Economic Development Zone (Jiaxing Port Area)"
    chinese, _ = _fit_name("浙江乍浦经济开发区（嘉兴港区）", 288, 100)
    assert len(chinese) > 1 and "".join(chinese) == "浙江乍浦经济开发区（嘉兴港区）"
    one_line, short_size = _fit_name("Pinghu City", 288, 100)
    assert one_line == ["Pinghu City"] and short_size > size


# --- Opus ---------------------------------------------------------------------------


def decode_opus(packets: list[bytes]) -> list[av.AudioFrame]:
    decoder = av.CodecContext.create("libopus", "r")
    return [frame for data in packets for frame in decoder.decode(av.Packet(data))]


def first_channel(frame: av.AudioFrame) -> list[int]:
    assert frame.format.name == "s16"  # packed, interleaved
    channels = len(frame.layout.channels)
    return list(array("h", bytes(frame.planes[0])[: frame.samples * channels * 2])[::channels])


def dominant_frequency(frames: list[av.AudioFrame]) -> float:
    """Zero-crossing estimate over the first channel, skipping the first decoded frame."""
    samples = [sample for frame in frames[1:] for sample in first_channel(frame)]
    crossings = sum(1 for a, b in itertools.pairwise(samples) if (a < 0) != (b < 0))
    return crossings / 2 / (len(samples) / 48000)


def test_tone_audio_frames_decode() -> None:
    audio = ToneAudio(3)
    assert len(audio.frames) == 50
    frames = decode_opus(audio.frames)
    assert len(frames) == 50
    assert all(frame.samples == 960 and frame.sample_rate == 48000 for frame in frames)


def test_tone_frequency_per_index() -> None:
    low, high = ToneAudio(0), ToneAudio(255, seconds=0.5)
    assert len(high.frames) == 25
    assert low.frequency != high.frequency
    assert 0 < low.frequency < high.frequency < 8000
    for audio in (low, high):
        measured = dominant_frequency(decode_opus(audio.frames))
        assert measured == pytest.approx(audio.frequency, rel=0.03)


def test_tone_loop_wraps_seamlessly() -> None:
    audio = ToneAudio(10)
    frames = decode_opus(audio.frames * 3)  # wraps after frames 49 and 99
    assert len(frames) == 150
    # Skip the decoder's own start-up ramp, then every half period must be regular:
    # a start-up gap or phase jump at a wrap would show as an odd zero-crossing interval.
    samples = [sample for frame in frames[10:] for sample in first_channel(frame)]
    crossings = [i for i, (a, b) in enumerate(itertools.pairwise(samples)) if (a < 0) != (b < 0)]
    half_period = 48000 / 2 / audio.frequency
    intervals = [b - a for a, b in itertools.pairwise(crossings)]
    assert len(intervals) > 100
    assert all(abs(i - half_period) <= 1.5 for i in intervals), (min(intervals), max(intervals))


async def test_a_looped_track_answers_a_burst_of_keyframe_requests_with_two_keyframes() -> None:
    """One keyframe at once, one more once `KEYFRAME_INTERVAL_S` is over: not one per request."""
    from venues.agent import KEYFRAME_INTERVAL_S, LoopedTrack

    frames = [b"key"] + [b"delta"] * 99
    fps = 200
    track = LoopedTrack("video", frames, fps, 90_000)
    sent = [bytes(await track.recv()) for _ in range(3)]
    for _ in range(5):  # a burst: one request per frame, as from five receivers switched one after another
        track.request_keyframe()
        sent.append(bytes(await track.recv()))
    sent += [bytes(await track.recv()) for _ in range(round(3 * KEYFRAME_INTERVAL_S * fps))]
    burst = sent[3:]
    assert burst[0] == b"key"  # the first request is answered at once
    assert burst.count(b"key") == 2, [i for i, f in enumerate(burst) if f == b"key"]
