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
compression and scaling: the top-left corner of the picture (half its width, a
quarter of its height) is a grid of 8 x 2 blocks. Row 1 holds the 8 bits of the
venue index (MSB first), row 2 their complement; a 1 is white (Y=235), a 0 is
black (Y=16). ``read_mark`` averages a few pixels around each block centre
(positions computed from the frame's own size) and accepts the index only when
row 2 is the exact complement of row 1. The lower half is mid-grey with a bright
bar whose position follows the frame number, so consecutive frames differ and
inter frames carry real change.

``LabelledPicture`` is the picture a person watches (``serve --simulate``): the
mark in its corner, the venue's name large and a running clock, encoded live by
the sender (the name is drawn once, the clock once a second).
"""

from __future__ import annotations

import functools
import itertools
import math
import random
from array import array
from fractions import Fraction

import av
import numpy as np
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


def mark_size(width: int, height: int) -> tuple[int, int]:
    """The mark's corner (width, height) in a picture of `width` x `height`."""
    return width // 2, height // 4


def _mark_luma(index: int, width: int, height: int) -> np.ndarray:
    """The mark's luma blocks, for the corner of a `width` x `height` picture."""
    bits = np.array(_mark_bits(index), dtype=np.uint8).reshape(2, COLUMNS)
    mark_w, mark_h = mark_size(width, height)
    columns = np.arange(mark_w) * COLUMNS // mark_w
    rows = (np.arange(mark_h) >= mark_h // 2).astype(int)
    return np.where(bits[rows][:, columns] == 1, WHITE, BLACK).astype(np.uint8)


def _frame(luma: np.ndarray, u: int = GREY, v: int = GREY, chroma: np.ndarray | None = None) -> VideoFrame:
    """A yuv420p frame of this luma plane (chroma: one value each, or the U and V rows stacked)."""
    height, width = luma.shape
    if chroma is None:
        cw, ch = (width + 1) // 2, (height + 1) // 2
        chroma = np.concatenate([np.full((ch, cw), u, np.uint8), np.full((ch, cw), v, np.uint8)])
    frame = VideoFrame(width, height, "yuv420p")
    _fill_plane(frame.planes[0], [row.tobytes() for row in luma])
    half = chroma.shape[0] // 2
    _fill_plane(frame.planes[1], [row.tobytes() for row in chroma[:half]])
    _fill_plane(frame.planes[2], [row.tobytes() for row in chroma[half:]])
    return frame


def draw_mark(index: int, width: int, height: int, frame_number: int, noise: bool = False) -> VideoFrame:
    """yuv420p picture: the venue mark plus a bar that moves with ``frame_number``.
    With ``noise`` the lower half is random texture, so the encoder really spends its bitrate."""
    luma = np.full((height, width), GREY, np.uint8)
    mark_w, mark_h = mark_size(width, height)
    luma[:mark_h, :mark_w] = _mark_luma(index, width, height)
    half = height // 2
    if noise:  # coarse random blocks: costs bits like a real scene does
        block = 16
        texture = random.Random(frame_number * 1000 + index)
        cells = np.frombuffer(texture.randbytes(-(-(height - half) // block) * -(-width // block)), np.uint8)
        cells = cells.reshape(-(-(height - half) // block), -(-width // block))
        luma[half:] = np.repeat(np.repeat(cells, block, axis=0), block, axis=1)[: height - half, :width]
    else:
        bar_width = max(2, width // 10)
        bar_x = (frame_number * max(1, width // 40)) % (width - bar_width + 1)
        luma[half:, bar_x : bar_x + bar_width] = WHITE
    frame = _frame(luma)
    frame.pts = frame_number
    return frame


def read_mark(frame: VideoFrame) -> int | None:
    """Read the venue index back from a decoded frame, or None if the mark is not valid."""
    if frame.format.name not in ("yuv420p", "yuvj420p"):
        frame = frame.reformat(format="yuv420p")
    width, height = frame.width, frame.height
    if width < 4 * COLUMNS or height < 16:
        return None
    mark_w, mark_h = mark_size(width, height)
    plane = frame.planes[0]
    stride, luma = plane.line_size, bytes(plane)
    step_x = max(1, mark_w // (COLUMNS * 8))  # sample points stay well inside a block
    step_y = max(1, mark_h // 16)

    bits = []
    for row in range(2):
        cy = (2 * row + 1) * mark_h // 4
        for col in range(COLUMNS):
            cx = (2 * col + 1) * mark_w // (2 * COLUMNS)
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


# Fonts for the names in the picture, the first one installed (CJK first: names may be Chinese).
FONTS = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
)
BACKGROUND = 40  # a dark picture: the name reads well on it
TEXT = WHITE


@functools.lru_cache(maxsize=128)
def _font(size: int):
    """The first installed font of FONTS at `size` (loaded once per size), else Pillow's own."""
    from PIL import ImageFont

    for path in FONTS:
        try:
            return ImageFont.truetype(path, size)
        except OSError:
            continue
    return ImageFont.load_default(size)


def _text_luma(lines: list[str], size: int, width: int, height: int) -> np.ndarray:
    """`lines` in white on the background, centred in a `width` x `height` box."""
    from PIL import Image, ImageDraw

    image = Image.new("L", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(image)
    font = _font(size)
    spacing = size // 5
    draw.multiline_text((width / 2, height / 2), "\n".join(lines), fill=TEXT, font=font, anchor="mm",
                        align="center", spacing=spacing)
    return np.asarray(image, np.uint8)


def _fit_name(name: str, width: int, height: int) -> tuple[list[str], int]:
    """The name in at most three lines, at the largest size that fits the box."""
    from PIL import Image, ImageDraw

    draw = ImageDraw.Draw(Image.new("L", (1, 1)))
    words, joiner = name.split(), " "
    if len(words) == 1:  # one word (a Chinese name has no spaces): it may break between any two characters
        words, joiner = list(name), ""

    def layout(size: int, count: int) -> list[str] | None:
        """The name in `count` lines at `size`, if it fits the box."""
        font = _font(size)
        lines = _wrap(words, count, functools.partial(draw.textlength, font=font), joiner)
        left, top, right, bottom = draw.multiline_textbbox((0, 0), "\n".join(lines), font=font, spacing=size // 5)
        return lines if bottom - top <= height and right - left <= width else None

    best: tuple[list[str], int] = ([name], 8)
    for count in range(1, min(3, len(words)) + 1):
        low, high = best[1] + 1, max(8, height // 2)  # the largest size that fits, by bisection
        while low <= high:
            size = (low + high) // 2
            lines = layout(size, count)
            if lines is None:
                high = size - 1
            else:
                best, low = (lines, size), size + 1
    return best


def _wrap(words: list[str], count: int, measure, joiner: str = " ") -> list[str]:
    """`words` in `count` lines, broken where the widest line is narrowest."""
    if count <= 1 or len(words) < count:
        return [joiner.join(words)]

    def lines(breaks: tuple[int, ...]) -> list[str]:
        edges = (0, *breaks, len(words))
        return [joiner.join(words[a:b]) for a, b in itertools.pairwise(edges)]

    splits = itertools.combinations(range(1, len(words)), count - 1)
    return min((lines(breaks) for breaks in splits), key=lambda ls: max(map(measure, ls)))


class LabelledPicture:
    """What a simulated venue's camera shows a person: the venue's name, large, under a
    running clock, with the mark in the top-left corner (see `read_mark`).

    The name is drawn once; `frame(now)` draws the clock only when its second changes,
    and hands out the same frame until then."""

    def __init__(self, index: int, name: str, width: int = 320, height: int = 180, tz=None):
        self.index, self.name, self.width, self.height, self.tz = index, name, width, height, tz
        mark_w, mark_h = mark_size(width, height)
        self.clock_box = (mark_w, 0, width - mark_w, mark_h)  # x, y, width, height: beside the mark
        base = np.full((height, width), BACKGROUND, np.uint8)
        base[:mark_h, :mark_w] = _mark_luma(index, width, height)
        margin = width // 20
        box_w, box_h = width - 2 * margin, height - mark_h - 2 * margin
        lines, size = _fit_name(name, box_w, box_h)
        base[mark_h + margin : height - margin, margin : width - margin] = _text_luma(lines, size, box_w, box_h)
        self.base = base
        cw, ch = (width + 1) // 2, (height + 1) // 2
        u, v = np.full((ch, cw), 150, np.uint8), np.full((ch, cw), 112, np.uint8)  # a dark blue
        u[: mark_h // 2 + 1, : mark_w // 2 + 1] = v[: mark_h // 2 + 1, : mark_w // 2 + 1] = GREY  # the mark neutral
        self.chroma = np.concatenate([u, v])
        self._second: int | None = None
        self._frame: VideoFrame | None = None

    def clock_text(self, now: float) -> str:
        import datetime as dt

        return dt.datetime.fromtimestamp(now, self.tz).strftime("%H:%M:%S")

    def frame(self, now: float) -> VideoFrame:
        second = int(now)
        if second != self._second or self._frame is None:
            x, y, w, h = self.clock_box
            luma = self.base.copy()
            luma[y : y + h, x : x + w] = _text_luma([self.clock_text(now)], max(8, h * 3 // 5), w, h)
            self._frame, self._second = _frame(luma, chroma=self.chroma), second
        return self._frame
