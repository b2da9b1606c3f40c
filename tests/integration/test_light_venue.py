"""A light venue (pre-packetized media out, the program counted from its packets) against the real
embedded server on loopback, beside full venue agents that decode.

The main venue is a full agent whose camera counts the frames and keyframes it sends. The light
venue receives them through the server and must count as many frames and keyframes; when it is
taken, the full agents must decode its mark (its packets are well formed VP8 the server forwards),
soon after the take (it answers the server's keyframe request by jumping to its loop's keyframe),
and its microphone must go out only while it is not muted.
"""

from __future__ import annotations

import asyncio
import io
import time

from orchestrator.media.codec import AUDIO_CLOCK, VIDEO_CLOCK, is_vp8_keyframe
from orchestrator.media.rtp_stats import inbound_rtp
from tests.support.live import AgentHandle, wait_for
from venues.agent import LoopedTrack, Media, synthetic_media
from venues.light import AUDIO_FPS, LightVenueAgent, Pacers
from venues.synthetic import MarkedVideo, ToneAudio

FPS = 15  # synthetic_media's
LONG_LOOP_S = 20  # the light venue's loop: its own keyframe comes this seldom


class CountingTrack(LoopedTrack):
    """A looped camera that counts the frames and keyframes it hands to its sender."""

    def __init__(self, frames: list[bytes], fps: float):
        super().__init__("video", frames, fps, VIDEO_CLOCK)
        self.keyframes_sent = 0

    async def recv(self):
        packet = await super().recv()
        self.keyframes_sent += is_vp8_keyframe(bytes(packet))
        return packet


def counting_media(cameras: list[CountingTrack]):
    def factory(index: int) -> Media:
        media = synthetic_media(index)

        def tracks():
            video, audio = media.tracks()
            assert isinstance(video, LoopedTrack)
            camera = CountingTrack(video.frames, FPS)
            cameras.append(camera)
            return camera, audio

        return Media(tracks, media.check, preencoded=True)

    return factory


def long_loop(index: int) -> Media:
    """Pre-encoded media whose loop has one keyframe in LONG_LOOP_S."""
    video, audio = MarkedVideo(index, fps=FPS, loop_frames=LONG_LOOP_S * FPS), ToneAudio(index)

    def tracks():
        return (LoopedTrack("video", video.frames, FPS, VIDEO_CLOCK),
                LoopedTrack("audio", audio.frames, AUDIO_FPS, AUDIO_CLOCK))

    return Media(tracks, lambda: (True, True), preencoded=True)


def sent(cameras: list[CountingTrack]) -> tuple[int, int]:
    return sum(c.sent for c in cameras), sum(c.keyframes_sent for c in cameras)


async def test_a_light_venue_sends_a_decodable_picture_and_counts_the_program(live):
    cameras: list[CountingTrack] = []
    main = live.start_agent("main", media_factory=counting_media(cameras))
    pacers = Pacers.make(FPS)
    log = io.StringIO()
    light = LightVenueAgent(live.link("pinghu"), long_loop, log_file=log, pacers=pacers)
    live.agents["pinghu"] = AgentHandle("pinghu", light, log, asyncio.ensure_future(light.run()))
    live.start_agent("nanhu", decode_all=False)
    try:
        await live.join(["main", "pinghu", "nanhu"], timeout=20)
        stats = light.stats
        await wait_for(lambda: stats.program_frames > FPS, 10, "the program at the light venue")
        assert {"joined", "program_started"} <= {e["event"] for e in live.agents["pinghu"].events()}

        # the main venue is on air: the light venue counts what its camera sent, frame for frame
        await asyncio.sleep(0.5)
        frames0, keyframes0, sent0 = stats.program_frames, stats.program_keyframes, sent(cameras)
        await asyncio.sleep(4.5)  # more than two laps of the 2-second loop: at least two keyframes
        frames1, keyframes1, sent1 = stats.program_frames, stats.program_keyframes, sent(cameras)
        sent_frames, sent_keyframes = sent1[0] - sent0[0], sent1[1] - sent0[1]
        assert sent_keyframes >= 2
        assert abs((frames1 - frames0) - sent_frames) <= 2, (frames1 - frames0, sent_frames)
        assert abs((keyframes1 - keyframes0) - sent_keyframes) <= 1, (keyframes1 - keyframes0, sent_keyframes)
        # every packet counted, and aiortc's statistics (its receiver reports, NACKs) kept for the same packets
        (lost, received) = light.program_loss()
        receiver_stats = inbound_rtp(t.receiver for t in light.pc.getTransceivers()[:1])
        assert lost == 0 and received > 5 * FPS, (lost, received)
        assert abs(receiver_stats.received - received) <= 3, (receiver_stats, received)
        per_second = [stats.frames_per_second.get(s, 0) for s in range(int(time.time()) - 4, int(time.time()) - 1)]
        assert all(FPS - 2 <= n <= FPS + 2 for n in per_second), per_second

        # muted until taken: its microphone sends nothing
        assert light.view is not None and light.view.muted
        microphone = light._senders[1]
        assert microphone.paused and microphone.sent == 0

        taken = time.time()
        await live.command({"type": "take", "venue": "pinghu", "confirm": True})
        for receiver in ("main", "nanhu"):
            await wait_for(lambda r=receiver: any(e["venue"] == "pinghu" and e["ts"] >= taken
                                                   for e in live.agents[r].events("on_air_seen")),
                           10, f"{receiver} to decode the light venue's mark")
        seen = next(e["ts"] for e in live.agents["main"].events("on_air_seen") if e["venue"] == "pinghu")
        # the loop's own keyframe comes every LONG_LOOP_S: sooner means the server's keyframe request was answered
        assert light.keyframe_requests >= 1
        assert seen - taken < 1.0, seen - taken
        assert not main.agent.stats.broken_frames and not main.agent.stats.frames_awaiting_keyframe

        # on air and unmuted: its microphone is heard at the main venue
        await wait_for(lambda: light.view is not None and not light.view.muted, 5, "the light venue to be unmuted")
        heard = main.agent.stats.audio_frames
        await wait_for(lambda: microphone.sent > 20 and main.agent.stats.audio_frames > heard + 20, 5,
                       "the light venue's microphone at the main venue")
        assert sum(sender.sent for sender in light.video_senders) > 5 * FPS
    finally:
        await live.stop_agents()
        pacers.close()
