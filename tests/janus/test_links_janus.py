"""The venues' links under Janus, read from its Admin API: a lossy uplink shows in the
operator's state and guards the take, as under the embedded SFU."""

from __future__ import annotations

from tests.support.janus_node import join
from tests.support.live import Live


async def test_uplink_loss_shows_in_link_stats_and_guards_the_take(janus_live: Live) -> None:
    live = janus_live
    await join(live, ["main", "nanhu"])
    live.start_agent("pinghu", loss_pct=25)
    await join(live, ["pinghu"])
    state = await live.wait_for_state(  # the round trip once Janus had a receiver report on the downlink
        lambda s: s["venues"]["pinghu"]["link"].get("loss_pct", 0) > 5 and "rtt_ms" in s["venues"]["nanhu"]["link"],
        15, "pinghu's loss in its link stats, nanhu's round trip")
    link, clean = state["venues"]["pinghu"]["link"], state["venues"]["nanhu"]["link"]
    assert link["quality"] == "poor" and link["packets_lost"] > 0
    assert clean["quality"] == "good" and clean["loss_pct"] < 2 and clean["packets_received"] > 0
    assert clean["bitrate_in_kbps"] > 0 and clean["bitrate_out_kbps"] > 0 and clean["rtt_ms"] >= 1
    assert "fps_in" not in clean  # Janus counts no frames
    refused = await live.command({"type": "take", "venue": "pinghu"}, expect=409)
    assert refused.error.startswith("cannot take venue 'pinghu': its link is poor (loss ")
    assert refused.code == "link_poor_needs_confirm" and refused.params["venue"] == "pinghu"
    taken = await live.command({"type": "take", "venue": "pinghu", "confirm": True})
    assert taken.events[0].type == "venue_took_air"
