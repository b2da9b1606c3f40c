"""Synthetic, pre-encoded media for simulated venues.

Encoding live in every simulated venue is too expensive (up to 100 venues on
2 cores), so each venue encodes a short loop ONCE at start-up and then replays
the encoded frames forever:

* ``MarkedVideo``: ``loop_frames`` VP8 frames. Frame 0 is the only keyframe; every
  other frame is an inter frame that references only earlier frames of the loop.
  Playback may therefore (re)start at frame 0 at any moment -- that is how a
  keyframe request (PLI/FIR) is answered -- and wrapping from the last frame to
  frame 0 is always valid.
* ``ToneAudio``: 20 ms Opus packets of a sine tone whose frequency identifies
  the venue. The packets are taken from the second pass of a two-loop encode, so
  the encoder is in steady state and the loop wraps without a start-up glitch.

The video mark, readable from the luma plane alone and robust to lossy
compression and scaling: the upper half of the picture is a grid of 8 x 2 large
blocks. Row 1 holds the 8 bits of the venue index (MSB first), row 2 their
complement; a 1 is white (Y=235), a 0 is black (Y=16). ``read_mark`` averages a
few pixels around each block centre (positions computed from the frame's own
size) and accepts the index only when row 2 is the exact complement of row 1.
The lower half is mid-grey with a bright bar whose position follows the frame
number, so consecutive frames differ and inter frames carry real change.
"""

from __future__ import annotations

import math
import random
from array import array
from fractions import Fraction

import av
from av import AudioFrame, VideoFrame

from orchestrator.media.codec import AUDIO_CLOCK, is_vp8_keyframe

WHITE = 235
BLACK = 16
GREY = 128
COLUMNS = 8
THRESHOLD = 128
# Block averages between these bounds are neither clearly black nor clearly white.
AMBIGUOUS_LOW, AMBIGUOUS_HIGH = 64, 192

SAMPLE_RATE = AUDIO_CLOCK  # Opus's clock
SAMPLES_PER_FRAME = 960  # 20 ms at 48 kHz
TONE_AMPLITUDE = round(32767 * 10 ** (-12 / 20))  # about -12 dBFS


def _mark_bits(index: int) -> list[int]:
    if not 0 <= index <= 255:
        raise ValueError(f"venue index must be in 0..255, got {index}")
    bits = [(index >> (COLUMNS - 1 - c)) & 1 for c in range(COLUMNS)]
    return bits + [1 - b for b in bits]


def _fill_plane(plane, rows: list[bytes]) -> None:
    """Copy rows of exactly ``plane.width`` bytes into a plane, honouring its line size."""
    pad = b"\x00" * (plane.line_size - plane.width)
    plane.update(b"".join(row + pad for row in rows) if pad else b"".join(rows))


def draw_mark(index: int, width: int, height: int, frame_number: int, noise: bool = False) -> VideoFrame:
    """yuv420p picture: the venue mark plus a bar that moves with ``frame_number``.
    With ``noise`` the lower half is random texture, so the encoder really spends its bitrate."""
    bits = _mark_bits(index)
    edges = [c * width // COLUMNS for c in range(COLUMNS + 1)]

    def block_row(row_bits: list[int]) -> bytes:
        return b"".join(
            bytes([WHITE if bit else BLACK]) * (edges[c + 1] - edges[c])
            for c, bit in enumerate(row_bits)
        )

    top, bottom = block_row(bits[:COLUMNS]), block_row(bits[COLUMNS:])
    bar_width = max(2, width // 10)
    bar_x = (frame_number * max(1, width // 40)) % (width - bar_width + 1)
    moving = bytes([GREY]) * bar_x + bytes([WHITE]) * bar_width
    moving += bytes([GREY]) * (width - len(moving))

    half = height // 2
    rows = [top if y < height // 4 else bottom for y in range(half)]
    if noise:  # coarse random blocks: costs bits like a real scene does
        texture = random.Random(frame_number * 1000 + index)
        block = 16
        for _ in range(0, height - half, block):
            row = bytes(v for v in texture.randbytes(-(-width // block)) for _ in range(block))[:width]
            rows += [row] * block
        rows = rows[:height]
    else:
        rows += [moving] * (height - half)

    frame = VideoFrame(width, height, "yuv420p")
    _fill_plane(frame.planes[0], rows)
    for chroma in frame.planes[1:]:
        _fill_plane(chroma, [bytes([GREY]) * chroma.width] * chroma.height)
    frame.pts = frame_number
    return frame


def read_mark(frame: VideoFrame) -> int | None:
    """Read the venue index back from a decoded frame, or None if the mark is not valid."""
    if frame.format.name not in ("yuv420p", "yuvj420p"):
        frame = frame.reformat(format="yuv420p")
    width, height = frame.width, frame.height
    if width < 2 * COLUMNS or height < 8:
        return None
    plane = frame.planes[0]
    stride, luma = plane.line_size, bytes(plane)
    step_x = max(1, width // (COLUMNS * 8))  # sample points stay well inside a block
    step_y = max(1, height // 32)

    bits = []
    for row in range(2):
        cy = (2 * row + 1) * height // 8
        for col in range(COLUMNS):
            cx = (2 * col + 1) * width // (2 * COLUMNS)
            samples = [
                luma[(cy + dy * step_y) * stride + cx + dx * step_x]
                for dy in (-1, 0, 1)
                for dx in (-1, 0, 1)
            ]
            average = sum(samples) / len(samples)
            if AMBIGUOUS_LOW < average < AMBIGUOUS_HIGH:
                return None
            bits.append(1 if average >= THRESHOLD else 0)

    value, complement = bits[:COLUMNS], bits[COLUMNS:]
    if any(a == b for a, b in zip(value, complement)):
        return None
    return sum(bit << (COLUMNS - 1 - i) for i, bit in enumerate(value))


class MarkedVideo:
    """A loop of pre-encoded VP8 frames showing the mark of venue ``index``."""

    def __init__(
        self,
        index: int,
        width: int = 320,
        height: int = 180,
        fps: int = 15,
        loop_frames: int = 30,
        bitrate: int = 300_000,
        noise: bool = False,
    ) -> None:
        self.index, self.width, self.height, self.fps = index, width, height, fps
        codec = av.CodecContext.create("libvpx", "w")
        codec.width, codec.height, codec.pix_fmt = width, height, "yuv420p"
        codec.time_base = Fraction(1, fps)
        codec.framerate = Fraction(fps, 1)
        codec.bit_rate = bitrate
        codec.gop_size = 10 * loop_frames + 3000  # no keyframe inside the loop
        codec.qmin, codec.qmax = 2, 56
        codec.thread_count = 1
        codec.options = {
            "deadline": "realtime",
            "cpu-used": "8",
            "lag-in-frames": "0",
            "bufsize": str(bitrate),
        }

        packets = []
        for number in range(loop_frames):
            picture = draw_mark(index, width, height, number, noise)
            picture.time_base = codec.time_base
            if number == 0:
                picture.pict_type = av.video.frame.PictureType.I
            packets += codec.encode(picture)
        packets += codec.encode(None)  # flush

        self.frames: list[bytes] = [bytes(p) for p in packets]
        self.keyframe: list[bool] = [is_vp8_keyframe(f) for f in self.frames]
        if len(self.frames) != loop_frames or not self.keyframe[0] or any(self.keyframe[1:]):
            raise RuntimeError(
                f"VP8 loop malformed: {len(self.frames)} frames for {loop_frames} pictures, "
                f"keyframes at {[i for i, k in enumerate(self.keyframe) if k]}"
            )


class ToneAudio:
    """A loop of pre-encoded Opus frames (48 kHz, 20 ms, mono) of a sine tone.

    The tone frequency (``300 + 20 * index`` Hz) identifies the venue."""

    def __init__(self, index: int, seconds: float = 1.0) -> None:
        _mark_bits(index)  # validates the index
        self.index = index
        self.frequency: float = 300.0 + 20.0 * index  # 300 .. 5400 Hz
        count = max(1, round(seconds * SAMPLE_RATE / SAMPLES_PER_FRAME))
        loop_samples = count * SAMPLES_PER_FRAME
        # Seamless when frequency * loop duration is whole (always for whole seconds).
        omega = 2 * math.pi * self.frequency / SAMPLE_RATE
        tone = array(
            "h", (round(TONE_AMPLITUDE * math.sin(omega * n)) for n in range(loop_samples))
        )
        pcm = tone.tobytes()
        chunk = SAMPLES_PER_FRAME * tone.itemsize

        codec = av.CodecContext.create("libopus", "w")
        codec.bit_rate = 32000
        codec.format, codec.layout = "s16", "mono"
        codec.sample_rate = SAMPLE_RATE
        codec.time_base = Fraction(1, SAMPLE_RATE)
        codec.options = {"application": "audio"}

        packets = []
        for number in range(2 * count):  # two passes; keep the steady-state second one
            frame = AudioFrame(format="s16", layout="mono", samples=SAMPLES_PER_FRAME)
            offset = (number % count) * chunk
            frame.planes[0].update(pcm[offset : offset + chunk])
            frame.sample_rate = SAMPLE_RATE
            frame.time_base = codec.time_base
            frame.pts = number * SAMPLES_PER_FRAME
            packets += codec.encode(frame)
        packets += codec.encode(None)  # flush

        self.frames: list[bytes] = [bytes(p) for p in packets[count : 2 * count]]
        if len(self.frames) != count:
            raise RuntimeError(
                f"Opus loop malformed: {len(packets)} packets for {2 * count} frames"
            )
