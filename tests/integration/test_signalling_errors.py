"""Bad input on the venue socket and the operator API: a clear error each time, and the
other venues keep receiving the program."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time

import aiohttp
import jwt
import pytest

from orchestrator.media.plane import OfferRejected, VenuePeer
from orchestrator.media.sfu import check_offer
from orchestrator.web.app import VENUES
from tests.support.live import SECRET, embedded_media, start_live, wait_for
from venues.agent import EXIT_REPLACED

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


def lone_surrogate_header() -> str:
    """A token whose header names a critical extension that is a lone surrogate (PyJWT quotes it)."""
    def part(text: str) -> str:
        return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()

    return part('{"alg": "HS256", "typ": "JWT", "crit": ["\\ud800"]}') + "." + part(json.dumps(claims())) + "."


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
        (lambda: lone_surrogate_header(), "this link is not valid (Unsupported critical extension: \\ud800)"),
    ],
    ids=["wrong-key", "expired", "wrong-conference", "wrong-venue", "other-algorithm", "none-algorithm", "garbage", "empty",
         "surrogate-in-header"],
)
async def test_bad_tokens_are_refused_with_a_readable_message(live, token, message):
    error, code = await refused(live, {"type": "hello", "token": token()})
    assert error == {"type": "error", "code": "refused", "message": message}
    error["message"].encode("utf-8")  # valid Unicode: no lone surrogate
    assert code == 4001


async def test_a_token_used_for_another_venue_is_refused(live):
    error, _ = await refused(live, {"type": "hello", "token": live.tokens.issue("nanhu"), "venue": "haiyan"})
    assert error["message"] == "this link is for venue 'nanhu', not 'haiyan'"


@pytest.mark.parametrize(
    "first,error_code,message",
    [
        ("{not json", "bad_json", "not valid JSON: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"),
        ("[1, 2]", "bad_message", "expected a JSON object, got list"),
        ({"type": "offer", "sdp": "v=0"}, "bad_message", "the first message must be 'hello', not 'offer'"),
        ({"type": "hello"}, "bad_message", "'hello.token' is missing"),
        ({"type": "greetings", "token": "x"}, "unknown_type", "unknown message type 'greetings'"),
        (b"\x00\x01binary", "bad_json", "messages must be JSON text frames"),
    ],
    ids=["malformed", "not-object", "offer-first", "no-token", "unknown-type", "binary"],
)
async def test_bad_first_messages(live, first, error_code, message):
    error, code = await refused(live, first)
    assert error["code"] == error_code, error
    assert error["message"].startswith(message), error
    assert code == 4001


async def test_bad_messages_after_hello_get_errors_and_the_socket_stays(live):
    ws = await hello(live)
    await ws.send_str("{oops")
    error = await next_error(ws)
    assert error["message"].startswith("not valid JSON") and error["code"] == "bad_json"
    await ws.send_json({"type": "dance"})
    error = await next_error(ws)
    assert error["message"].startswith("unknown message type 'dance'")
    assert (error["code"], error["params"]) == ("unknown_type", {"type": "dance"})
    await ws.send_json({"type": "raise_hand", "extra": 1})
    error = await next_error(ws)
    assert error == {"type": "error", "code": "bad_message", "message": "'raise_hand.extra' is not expected here",
                     "params": {"field": "raise_hand.extra"}}
    await ws.send_json({"type": "roll_call_answer", "picture_ok": "yes", "sound_ok": 1})
    error = await next_error(ws)
    assert error["code"] == "bad_message", "strict: 'yes' and 1 are not true"
    assert error["message"] == ("'roll_call_answer.picture_ok': input should be a valid boolean; "
                                "'roll_call_answer.sound_ok': input should be a valid boolean")
    await ws.send_json({"type": "roll_call_answer", "picture_ok": True, "sound_ok": True})
    rejected = await next_error(ws)
    assert rejected == {
        "type": "error", "code": "session_not_started", "params": {"phase": "scheduled"},
        "message": "cannot record the roll-call answer of 'nanhu': the session has not started",
    }
    await ws.send_json({"type": "heartbeat"})
    assert (await ws.receive_json(timeout=5))["type"] == "heartbeat", "still served"
    await ws.close()


async def test_bad_messages_are_explained_in_the_reader_s_language(live):
    """`?lang=zh-CN` on the socket or the request: the sentence in Chinese, the code and params as ever."""
    ws = await live.http.ws_connect(live.base_url.replace("http", "ws") + "/ws/venue?lang=zh-CN")
    await ws.send_json({"type": "offer", "sdp": "v=0"})
    error = json.loads((await ws.receive(timeout=5)).data)
    assert error == {"type": "error", "code": "bad_message", "message": "第一条消息必须是“hello”，而不是“offer”",
                     "params": {"type": "offer"}}
    await ws.close()

    ws = await live.http.ws_connect(live.base_url.replace("http", "ws") + "/ws/venue?lang=zh-CN")
    await ws.send_json({"type": "hello", "token": live.tokens.issue("nanhu")})
    assert (await ws.receive_json(timeout=5))["type"] == "welcome"
    await ws.send_str("{oops")
    error = await next_error(ws)
    assert error["message"].startswith("不是有效的 JSON：") and error["code"] == "bad_json"
    await ws.send_json({"type": "raise_hand", "extra": 1})
    error = await next_error(ws)
    assert (error["message"], error["params"]) == ("此处不应有“raise_hand.extra”", {"field": "raise_hand.extra"})
    await ws.send_json({"type": "roll_call_answer", "picture_ok": "yes", "sound_ok": 1})
    error = await next_error(ws)
    assert error["message"] == ("“roll_call_answer.picture_ok”：input should be a valid boolean；"
                                "“roll_call_answer.sound_ok”：input should be a valid boolean"), \
        "pydantic's own checks keep their words; the sentence around them is translated"
    await ws.send_bytes(b"\x00binary")
    assert (await next_error(ws))["message"] == "消息必须是 JSON 文本帧"
    await ws.send_json({"type": "offer", "sdp": "   "})
    assert await next_error(ws) == {"type": "error", "code": "bad_offer", "message": "offer 为空"}
    await ws.send_json({"type": "offer", "sdp": "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"})
    assert (await next_error(ws))["message"] == "offer 中没有媒体段"
    await ws.close()

    for body, said in ((b'"take"', "应为 JSON 对象，收到的是 str"),
                       (b'{"type": "set_caption", "text": "x\\u200by"}',
                        "“set_caption.text”：第 2 个字符是 U+200B ZERO WIDTH SPACE，属于不可见的格式字符：文本中不允许出现"),
                       (b'{"type": "take", "venue": "main", "id": 5}', "“id”必须是 1 到 100 个字符的字符串")):
        async with live.http.post(live.base_url + "/api/commands?lang=zh-CN", data=body, headers=live.auth) as r:
            assert r.status == 422
            assert (await r.json())["error"] == said, body


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


async def test_a_page_opened_on_the_link_of_a_running_agent_keeps_the_venue(live):
    """A second connection replaces the first; the agent it replaced stops rather than
    take the venue back (which would replace the page in turn, for ever)."""
    agent = live.agents["pinghu"]
    page = await hello(live, "pinghu")  # what the venue page does first
    assert await asyncio.wait_for(agent.task, 5) == EXIT_REPLACED
    assert [e["message"] for e in agent.events("replaced")] == ["this venue connected again from elsewhere"]
    assert not agent.agent.connected.is_set()
    # the page keeps the venue: for longer than the agent's first backoffs, nothing replaces it
    hub = live.server_app[VENUES]
    page_connection = hub.connections["pinghu"]
    seen = []
    with contextlib.suppress(asyncio.TimeoutError):
        while True:
            seen.append((await page.receive_json(timeout=3))["type"])
    assert "replaced" not in seen and not page.closed
    assert hub.connections["pinghu"] is page_connection
    await page.send_json({"type": "heartbeat"})
    assert (await page.receive_json(timeout=5))["type"] == "heartbeat", "still served"
    assert len(agent.events("joined")) == 1 and not agent.events("reconnected")
    await page.close()
    del live.agents["pinghu"]
    await live.join(["pinghu"])  # a venue nobody holds is taken by the next agent


async def test_venue_tokens_cannot_run_operator_commands(live):
    token = live.tokens.issue("pinghu")
    for method, path in [("POST", "/api/commands"), ("GET", "/api/state"), ("GET", "/api/links"), ("GET", "/ws/operator")]:
        async with live.http.request(
            method, live.base_url + path, headers={"Authorization": f"Bearer {token}"}, json={"type": "take", "venue": "pinghu"}
        ) as r:
            assert r.status == 401, path
            body = await r.json()
            assert "operator authorisation required" in body["error"] and body["code"] == "unauthorised"
    async with live.http.post(live.base_url + "/api/commands", json={"type": "next_segment"}) as r:
        assert r.status == 401


@pytest.mark.parametrize(
    "body,status,code,message",
    [
        (b"{", 422, "bad_json", "not valid JSON"),
        (b'"take"', 422, "bad_message", "expected a JSON object, got str"),
        (b'{"type": "take"}', 422, "bad_message", "'take.venue' is missing"),
        (b'{"type": "take", "venue": "main", "confirm": "yes"}', 422, "bad_message",
         "'take.confirm': input should be a valid boolean"),
        (b'{"type": "raise_hand", "venue": "pinghu"}', 422, "unknown_type", "unknown message type 'raise_hand'"),
        (b'{"type": "join_venue", "venue": "haiyan"}', 422, "unknown_type", "unknown message type 'join_venue'"),
        (b'{"type": "take", "venue": "haiyan"}', 409, "not_connected", "cannot take venue 'haiyan': it is not connected"),
        (b'{"type": "next_segment"}', 409, "session_not_started",
         "cannot go to the next segment: the session has not started"),
        (b'{"type": "take", "venue": "main", "id": 5}', 422, "bad_message", "'id' must be a string of 1 to 100 characters"),
        (b"x" * (70 * 1024), 413, "too_large", "the body is 71680 bytes; the limit is 65536"),
    ],
    ids=["malformed", "not-object", "missing-field", "not-strictly-true", "venue-command", "system-command", "rejected",
         "wrong-phase", "bad-id", "too-big"],
)
async def test_operator_api_errors(live, body, status, code, message):
    """Every error is JSON with the sentence and a code (409: the core's code for the refusal)."""
    async with live.http.post(live.base_url + "/api/commands", data=body, headers=live.auth) as r:
        assert r.status == status
        answer = await r.json()
    assert answer["error"].startswith(message), answer
    assert answer["code"] == code, answer
    assert set(answer) <= {"error", "code", "params"}


async def test_a_repeated_command_id_is_applied_once(live):
    first = await live.command({"type": "take", "venue": "main", "id": "cmd-1"})
    again = await live.command({"type": "take", "venue": "main", "id": "cmd-1"})
    assert first.events[0].type == "venue_took_air"
    assert again.events == []
    assert (await live.state())["on_air"] == "main"


MAIN_WITH_WALL = [("video", "sendrecv"), ("audio", "sendrecv"), ("audio", "recvonly")] + [("video", "recvonly")] * 16


def test_only_the_main_venues_offer_may_have_wall_slots():
    """The main venue's page offers 16 receive-only video sections for its wall, each with the
    candidates a browser repeats in every bundled section; a branch venue's offer has none."""
    offer = offer_from_agent_like(MAIN_WITH_WALL, candidates=2)
    assert len(check_offer(offer, wall=True).media) == 19
    with pytest.raises(OfferRejected, match=r"^the offer has 19 media sections; at most 3 are allowed"):
        check_offer(offer)
    one_slot = offer_from_agent_like([("video", "sendrecv"), ("audio", "sendrecv"), ("video", "recvonly")])
    with pytest.raises(OfferRejected, match=r"^only the main venue's offer has wall slots"):
        check_offer(one_slot)
    too_many = offer_from_agent_like(MAIN_WITH_WALL + [("video", "recvonly")])
    with pytest.raises(OfferRejected, match=r"^the offer has 20 media sections; at most 19 are allowed"):
        check_offer(too_many, wall=True)
    with pytest.raises(OfferRejected, match=r"^the offer has 380 ICE candidates; at most 254 are allowed"):
        check_offer(offer_from_agent_like(MAIN_WITH_WALL, candidates=20), wall=True)


async def test_an_oversized_operator_message_closes_that_socket_only(live):
    """A message past the operator socket's limit: aiohttp closes that socket (1009, before any
    answer could be sent); the console reconnects and the session is untouched. A body past the
    API's limit: 413, in the reader's language."""
    url = live.base_url.replace("http", "ws") + "/ws/operator?lang=zh-CN"
    ws = await live.http.ws_connect(url, headers=live.auth)
    assert (await ws.receive_json(timeout=5))["type"] == "state"
    await ws.send_str(json.dumps({"type": "command", "ref": "r1", "command": {"type": "set_caption", "text": "x" * 80_000}}))
    msg = await ws.receive(timeout=5)
    while msg.type == aiohttp.WSMsgType.TEXT:
        assert json.loads(msg.data)["type"] == "state", msg.data
        msg = await ws.receive(timeout=5)
    assert ws.close_code == aiohttp.WSCloseCode.MESSAGE_TOO_BIG
    again = await live.http.ws_connect(url, headers=live.auth)
    assert (await again.receive_json(timeout=5))["type"] == "state"
    await again.send_str(json.dumps({"type": "command", "ref": "r2", "command": {"type": "take", "venue": "main"}}))
    while (answer := await again.receive_json(timeout=5))["type"] != "command_result":
        pass
    assert (answer["ref"], answer["status"]) == ("r2", 200), answer
    await again.close()
    async with live.http.post(live.base_url + "/api/commands?lang=zh-CN", data=b"x" * (70 * 1024), headers=live.auth) as r:
        assert r.status == 413
        assert (await r.json())["error"] == "请求体为 71680 字节，上限为 65536"
