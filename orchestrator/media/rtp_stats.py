"""RTP statistics read from aiortc, and link figures made of them.

Both ends read them: the server measures each venue's uplink (`LinkMeter`, behind the
link quality the session decides on), and the benchmark's venues count what they lost
of the program.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from aiortc import RTCRtpReceiver, RTCRtpSender

from .aiortc_tap import media_stream_counts
from .plane import LinkStats


@dataclass(frozen=True)
class InboundCounts:
    """Packets received and lost on some receivers since they started (cumulative)."""

    received: int = 0
    lost: int = 0


def inbound_rtp(receivers: Iterable[RTCRtpReceiver]) -> InboundCounts:
    """Sum the receivers' media streams' counts, retransmissions left out (a negative lost
    count, which RTCP allows for duplicated packets, counts as none)."""
    received = lost = 0
    for receiver in receivers:
        for stream_received, stream_lost in media_stream_counts(receiver):
            received += stream_received
            lost += max(stream_lost, 0)
    return InboundCounts(received, lost)


async def round_trip_ms(senders: Iterable[RTCRtpSender]) -> float | None:
    """The longest round trip the remote ends reported for these senders (None: no report).
    aiortc derives it from wall-clock times, so it can be wrong, even negative."""
    rtts = [
        stat.roundTripTime * 1000
        for sender in senders
        for stat in (await sender.getStats()).values()
        if stat.type == "remote-inbound-rtp" and stat.roundTripTime is not None
    ]
    return max(rtts) if rtts else None


@dataclass
class LinkMeter:
    """One venue's counters at the last sample, so the next sample gives rates."""

    at: float
    bytes_in: int = 0
    bytes_out: int = 0
    frames_in: int = 0
    inbound: InboundCounts = InboundCounts()

    def sample(
        self, now: float, *, bytes_in: int, bytes_out: int, frames_in: int, inbound: InboundCounts, rtt_ms: float | None
    ) -> LinkStats:
        """The link since the last sample, from cumulative counters; remembers them for the next."""
        dt = max(now - self.at, 1e-3)
        d_received = inbound.received - self.inbound.received
        d_lost = inbound.lost - self.inbound.lost
        expected = d_received + d_lost
        link = LinkStats(
            bitrate_in_kbps=round((bytes_in - self.bytes_in) * 8 / dt / 1000, 1),
            bitrate_out_kbps=round((bytes_out - self.bytes_out) * 8 / dt / 1000, 1),
            loss_pct=round(100 * d_lost / expected, 2) if expected > 0 else 0.0,
            rtt_ms=round(rtt_ms, 1) if rtt_ms is not None else None,
            fps_in=round((frames_in - self.frames_in) / dt, 1),
            packets_received=inbound.received,
            packets_lost=inbound.lost,
        )
        self.at, self.bytes_in, self.bytes_out, self.frames_in, self.inbound = now, bytes_in, bytes_out, frames_in, inbound
        return link
