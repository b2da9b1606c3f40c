"""Bad input on the venue socket and the operator API: a clear error each time, and the
other venues keep receiving the program."""

from __future__ import annotations

import json
import time

import aiohttp
import jwt
import pytest

from orchestrator.media.plane import VenuePeer
from tests.support.live import SECRET, embedded_media, start_live, wait_for

VALID_OFFER_TIMEOUT = 5


@pytest.fixture
async def live(sample_conf, tmp_path):
    live, server = await start_live(sample_conf, tmp_path)
    await live.join(["main", "pinghu"])
    await live.command({"type": "take", "venue": "pinghu"})
    await wait_for(lambda: live.agents["main"].agent.stats.seen == "pinghu", 3, "the program at main")
    try:
        yield live
        # the session kept working for the others, whatever happened in the test
        watcher = live.agents["pinghu" if (await live.state())["on_air"] == "main" else "main"].agent
        frames = watcher.stats.program_frames
        await wait_for(lambda: watcher.stats.program_frames > frames + 5, 3, "the program still flowing")
    finally:
        await live.stop_agents()
        await live.http.close()
        await server.close()


async def venue_socket(live):
    return await live.http.ws_connect(live.base_url.replace("http", "ws") + "/ws/venue")


async def hello(live, venue="nanhu"):
    ws = await venue_socket(live)
    await ws.send_json({"type": "hello", "token": live.tokens.issue(venue)})
    welcome = await ws.receive_json(timeout=5)
    assert welcome["type"] == "welcome", welcome
    state = await ws.receive_json(timeout=5)
    assert state["type"] == "state"
    return ws


async def next_error(ws) -> dict:
    while True:
        msg = await ws.receive(timeout=5)
        assert msg.type == aiohttp.WSMsgType.TEXT, (msg.type, msg.data)
        data = json.loads(msg.data)
        if data["type"] == "error":
            return data


async def refused(live, first_message) -> tuple[dict, int]:
    ws = await venue_socket(live)
    if isinstance(first_message, (bytes, str)):
        await (ws.send_bytes(first_message) if isinstance(first_message, bytes) else ws.send_str(first_message))
    else:
        await ws.send_json(first_message)
    error = json.loads((await ws.receive(timeout=5)).data)
    closing = await ws.receive(timeout=5)
    assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    await ws.close()
    return error, ws.close_code


def forged(claims: dict, key: bytes = SECRET, algorithm: str = "HS256") -> str:
    return jwt.encode(claims, key, algorithm=algorithm)


def claims(**overrides) -> dict:
    now = int(time.time())
    return {"iss": "orchestrator", "aud": "jiaxing-2025-six-initiatives", "sub": "nanhu", "iat": now, "exp": now + 60, **overrides}


@pytest.mark.parametrize(
    "token,message",
    [
        (lambda: forged(claims(), key=b"another-key-" * 8), "this link was not issued by this server"),
        (lambda: forged(claims(exp=int(time.time()) - 10)), "this link has expired; ask the operator for a new one"),
        (lambda: forged(claims(aud="another-meeting")), "this link is for another conference"),
        (lambda: forged(claims(sub="shanghai")), "this link is for venue 'shanghai', which is not in this conference"),
        (lambda: forged(claims(), algorithm="HS512"), "this link is not signed the way this server signs links"),
        (lambda: jwt.encode(claims(), None, algorithm="none"), "this link is not signed the way this server signs links"),
        (lambda: "not-a-token", "this link is not valid (Not enough segments)"),
        (lambda: "", "this link has no valid token"),
    ],
    ids=["wrong-key", "expired", "wrong-conference", "wrong-venue", "other-algorithm", "none-algorithm", "garbage", "empty"],
)
async def test_bad_tokens_are_refused_with_a_readable_message(live, token, message):
    error, code = await refused(live, {"type": "hello", "token": token()})
    assert error == {"type": "error", "code": "refused", "message": message}
    assert code == 4001


async def test_a_token_used_for_another_venue_is_refused(live):
    error, _ = await refused(live, {"type": "hello", "token": live.tokens.issue("nanhu"), "venue": "haiyan"})
    assert error["message"] == "this link is for venue 'nanhu', not 'haiyan'"


@pytest.mark.parametrize(
    "first,message",
    [
        ("{not json", "not valid JSON: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"),
        ("[1, 2]", "expected a JSON object, got list"),
        ({"type": "offer", "sdp": "v=0"}, "the first message must be 'hello', not 'offer'"),
        ({"type": "hello"}, "'hello.token' is missing"),
        ({"type": "greetings", "token": "x"}, "unknown message type 'greetings'"),
        (b"\x00\x01binary", "messages must be JSON text frames"),
    ],
    ids=["malformed", "not-object", "offer-first", "no-token", "unknown-type", "binary"],
)
async def test_bad_first_messages(live, first, message):
    error, code = await refused(live, first)
    assert error["code"] == "bad_message"
    assert error["message"].startswith(message), error
    assert code == 4001


async def test_bad_messages_after_hello_get_errors_and_the_socket_stays(live):
    ws = await hello(live)
    await ws.send_str("{oops")
    assert (await next_error(ws))["message"].startswith("not valid JSON")
    await ws.send_json({"type": "dance"})
    assert (await next_error(ws))["message"].startswith("unknown message type 'dance'")
    await ws.send_json({"type": "raise_hand", "extra": 1})
    assert (await next_error(ws))["message"] == "'raise_hand.extra' is not expected here"
    await ws.send_json({"type": "roll_call_answer", "picture_ok": True, "sound_ok": True})
    rejected = await next_error(ws)
    assert rejected == {
        "type": "error", "code": "rejected",
        "message": "cannot record the roll-call answer of 'nanhu': the session has not started",
    }
    await ws.send_json({"type": "heartbeat"})
    assert (await ws.receive_json(timeout=5))["type"] == "heartbeat", "still served"
    await ws.close()


async def test_oversized_frames_are_cut_off(live):
    ws = await hello(live)
    await ws.send_str(json.dumps({"type": "offer", "sdp": "x" * (70 * 1024)}))
    msg = await ws.receive(timeout=5)
    while msg.type == aiohttp.WSMsgType.TEXT:
        msg = await ws.receive(timeout=5)
    assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    assert ws.close_code == aiohttp.WSCloseCode.MESSAGE_TOO_BIG
    await ws.close()


def offer_from_agent_like(m_lines: list[tuple[str, str]], candidates: int = 1) -> str:
    """An SDP offer shaped like a venue's, with the given (kind, direction) sections."""
    session = ["v=0", "o=- 1 1 IN IP4 127.0.0.1", "s=-", "t=0 0", "a=group:BUNDLE " + " ".join(str(i) for i in range(len(m_lines)))]
    media = []
    for i, (kind, direction) in enumerate(m_lines):
        codec = "96 VP8/90000" if kind == "video" else "111 opus/48000/2"
        media += [
            f"m={kind} 9 UDP/TLS/RTP/SAVPF {codec.split()[0]}",
            "c=IN IP4 0.0.0.0",
            f"a={direction}",
            f"a=mid:{i}",
            f"a=rtpmap:{codec}",
            "a=rtcp-mux",
            "a=ice-ufrag:abcd",
            "a=ice-pwd:abcdefghijklmnopqrstuvwx",
            "a=fingerprint:sha-256 " + ":".join(["AB"] * 32),
            "a=setup:actpass",
        ]
        media += [f"a=candidate:{n} 1 udp 2130706431 127.0.0.1 {40000 + n} typ host" for n in range(candidates)]
    return "\r\n".join(session + media) + "\r\n"


@pytest.mark.parametrize(
    "sdp,message",
    [
        ("", "the offer is empty"),
        ("hello world", "the offer has no media sections"),
        ("v=0\r\nm=video notaport\r\n", "the offer is not valid SDP"),
        (offer_from_agent_like([("audio", "sendrecv")]),
         "the offer needs exactly one video section that sends and receives"),
        (offer_from_agent_like([("video", "sendrecv")]), "the offer needs one audio section that sends and receives"),
        (offer_from_agent_like([("video", "sendrecv"), ("audio", "sendrecv"), ("audio", "sendrecv"), ("video", "recvonly")]),
         "the offer has 4 media sections; at most 3 are allowed"),
        (offer_from_agent_like([("video", "sendrecv"), ("audio", "sendrecv")], candidates=30),
         "the offer has 60 ICE candidates; at most 40 are allowed"),
        (offer_from_agent_like([("video", "sendrecv"), ("audio", "sendrecv")]).replace("VP8", "H264"),
         "media section 0 (video) does not offer VP8"),
        (offer_from_agent_like([("video", "sendrecv"), ("audio", "sendrecv")]).replace("a=ice-pwd:abcdefghijklmnopqrstuvwx\r\n", ""),
         "media section 0 has no ICE credentials"),
        (offer_from_agent_like([("video", "sendrecv"), ("audio", "sendrecv")]).replace("a=rtcp-mux\r\n", ""),
         "the offer could not be answered (ValueError: RTCP mux is not enabled)"),
    ],
    ids=["empty", "no-media", "unparsable", "no-video", "no-audio", "too-many-m-lines", "too-many-candidates",
         "no-vp8", "no-ice-credentials", "aiortc-rejects"],
)
async def test_bad_offers_get_a_reason_and_leave_nothing_behind(live, sdp, message):
    ws = await hello(live)
    await ws.send_json({"type": "offer", "sdp": sdp})
    error = await next_error(ws)
    assert error["code"] == "bad_offer"
    assert error["message"].startswith(message), error["message"]
    media = embedded_media(live.server_app)
    assert VenuePeer("nanhu") not in media.peer_ids, "a refused offer leaves no peer connection"
    assert media.router.outputs(VenuePeer("nanhu")) == []
    await ws.close()


async def test_a_second_connection_replaces_the_first(live):
    agent = live.agents["pinghu"]
    intruder = await hello(live, "pinghu")
    await wait_for(lambda: agent.events("replaced"), 3, "the agent to be told it was replaced")
    # the agent rejoins by itself, which in turn replaces this connection
    messages = []
    async for msg in intruder:
        messages.append(json.loads(msg.data))
        if messages[-1]["type"] == "replaced":
            break
    assert messages[-1] == {"type": "replaced", "message": "this venue connected again from elsewhere"}
    await wait_for(lambda: agent.events("reconnected"), 10, "the agent to rejoin")
    await intruder.close()


async def test_venue_tokens_cannot_run_operator_commands(live):
    token = live.tokens.issue("pinghu")
    for method, path in [("POST", "/api/commands"), ("GET", "/api/state"), ("GET", "/api/links"), ("GET", "/ws/operator")]:
        async with live.http.request(
            method, live.base_url + path, headers={"Authorization": f"Bearer {token}"}, json={"type": "take", "venue": "pinghu"}
        ) as r:
            assert r.status == 401, path
            assert "operator authorisation required" in (await r.json())["error"]
    async with live.http.post(live.base_url + "/api/commands", json={"type": "next_segment"}) as r:
        assert r.status == 401


@pytest.mark.parametrize(
    "body,status,message",
    [
        (b"{", 422, "not valid JSON"),
        (b'"take"', 422, "expected a JSON object, got str"),
        (b'{"type": "take"}', 422, "'take.venue' is missing"),
        (b'{"type": "raise_hand", "venue": "pinghu"}', 422, "unknown message type 'raise_hand'"),
        (b'{"type": "join_venue", "venue": "haiyan"}', 422, "unknown message type 'join_venue'"),
        (b'{"type": "take", "venue": "haiyan"}', 409, "cannot take venue 'haiyan': it is not connected"),
        (b'{"type": "next_segment"}', 409, "cannot go to the next segment: the session has not started"),
        (b'{"type": "take", "venue": "main", "id": 5}', 422, "'id' must be a string of 1 to 100 characters"),
        (b"x" * (70 * 1024), 413, ""),
    ],
    ids=["malformed", "not-object", "missing-field", "venue-command", "system-command", "rejected", "wrong-phase",
         "bad-id", "too-big"],
)
async def test_operator_api_errors(live, body, status, message):
    async with live.http.post(live.base_url + "/api/commands", data=body, headers=live.auth) as r:
        assert r.status == status
        if message:
            assert (await r.json())["error"].startswith(message)


async def test_a_repeated_command_id_is_applied_once(live):
    first = await live.command({"type": "take", "venue": "main", "id": "cmd-1"})
    again = await live.command({"type": "take", "venue": "main", "id": "cmd-1"})
    assert [e["type"] for e in first["events"]][0] == "venue_took_air"
    assert again["events"] == []
    assert (await live.state())["on_air"] == "main"
