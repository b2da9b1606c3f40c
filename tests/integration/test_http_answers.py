"""The API answers JSON with a code, always: unknown paths, wrong methods, big bodies,
strict command fields, refusals with their code and parameters; and the bearer scheme
is read in any case."""

from __future__ import annotations

import io
import json

import pytest

from orchestrator.core import CommandRejected
from orchestrator.core import commands as c
from orchestrator.operator_client import OperatorClient
from orchestrator.protocol import CommandResult, ErrorMessage, RaiseHand
from orchestrator.web.app import CONSOLE, RUNTIME
from tests.support.live import OPERATOR_TOKEN, wait_for

MIB = 1024 * 1024


async def json_error(response) -> dict:
    assert response.content_type == "application/json", (response.status, await response.text())
    body = await response.json()
    assert set(body) <= {"error", "code", "params"} and body["error"] and body["code"], body
    return body


@pytest.mark.parametrize("path", ["/api/nope", "/api", "/ws/nope", "/healthz/deeper"])
async def test_unknown_api_paths_answer_a_json_404(live, path):
    async with live.http.get(live.base_url + path, headers=live.auth) as r:
        assert r.status == 404
        body = await json_error(r)
    assert body == {"error": f"there is nothing at {path}", "code": "not_found", "params": {"path": path}}


@pytest.mark.parametrize(("method", "path", "allowed"), [
    ("DELETE", "/api/state", "GET, HEAD"), ("POST", "/healthz", "GET, HEAD"), ("PUT", "/api/commands", "POST"),
    ("POST", "/ws/venue", "GET, HEAD"),
])
async def test_a_wrong_method_answers_a_json_405_with_allow(live, method, path, allowed):
    async with live.http.request(method, live.base_url + path, headers=live.auth) as r:
        assert r.status == 405
        assert r.headers["Allow"] == allowed.replace(" ", "")
        body = await json_error(r)
    assert body["code"] == "method_not_allowed" and body["params"] == {"method": method, "allowed": allowed}


async def test_pages_keep_their_html_answers(live):
    async with live.http.get(live.base_url + "/no-such-page") as r:
        assert r.status == 404 and r.content_type == "text/plain"


async def test_a_body_over_a_mebibyte_without_a_token_is_refused_before_it_is_read(live):
    async with live.http.post(live.base_url + "/api/commands", data=io.BytesIO(b"x" * (10 * MIB))) as r:
        assert r.status == 401
        assert (await json_error(r))["code"] == "unauthorised"


async def test_a_body_over_a_mebibyte_gets_a_json_413(live):
    async with live.http.post(live.base_url + "/api/commands", data=io.BytesIO(b"x" * (2 * MIB)), headers=live.auth) as r:
        assert r.status == 413
        body = await json_error(r)
    assert body["code"] == "too_large" and body["params"] == {"size": 2 * MIB, "limit": 64 * 1024}

    async def chunks():  # no Content-Length: the app's hard cap stops the reading
        for _ in range(4):
            yield b"x" * (MIB // 2)

    async with live.http.post(live.base_url + "/api/commands", data=chunks(), headers=live.auth) as r:
        assert r.status == 413
        body = await json_error(r)
    assert body == {"error": f"the body is larger than the limit of {MIB} bytes", "code": "too_large",
                    "params": {"limit": MIB}}


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "Bearer"])
async def test_the_bearer_scheme_is_read_in_any_case(live, scheme):
    async with live.http.get(live.base_url + "/api/state", headers={"Authorization": f"{scheme} {OPERATOR_TOKEN}"}) as r:
        assert r.status == 200, await r.text()
    assert live.server_app[CONSOLE].failures == {}, "the right token in another case is no failed attempt"


async def test_confirm_must_be_a_json_true(live):
    """Strict command fields: "yes" or 1 is not true (a lax parser would put the venue on air)."""
    for confirm in ("yes", 1, "true"):
        answer = await live.command({"type": "take", "venue": "main", "confirm": confirm}, expect=422)
        assert answer.error == "'take.confirm': input should be a valid boolean", answer
        assert (answer.code, answer.params) == ("bad_message", {"field": "take.confirm"})
    socket = await live.operator.socket()
    await socket.command({"type": "grant_floor", "venue": "main", "confirm": "yes"}, ref="strict")
    while not isinstance(result := await socket.receive(5), CommandResult):
        pass
    assert (result.status, result.ref, result.code) == (422, "strict", "bad_message")
    assert result.error == "'grant_floor.confirm': input should be a valid boolean"
    await socket.close()


async def test_a_caption_with_an_invisible_character_names_it_exactly(live):
    answer = await live.command({"type": "set_caption", "text": "Anthem\u200b"}, expect=422)
    assert "U+200B ZERO WIDTH SPACE" in (answer.error or ""), answer
    assert answer.error and answer.error.startswith("'set_caption.text': "), answer


async def test_a_refusal_reaches_every_client_with_its_code_and_params(live, monkeypatch):
    """The core's code and parameters travel beside the sentence: HTTP 409, the operator
    socket's command_result, the venue socket's error."""
    host = live.server_app[RUNTIME]
    decide = host.execute
    why = "cannot take venue 'pinghu': its link is poor (loss 20.0%, round trip 1 ms); confirm to put it on air anyway"
    params = {"venue": "pinghu", "loss_pct": 20.0, "rtt_ms": 1}

    def execute(command, command_id=None):
        if isinstance(command, c.Take) and not command.confirm:
            raise CommandRejected("link_poor_needs_confirm", params, action="take", action_params={"venue": "pinghu"})
        if isinstance(command, c.RaiseHand):
            raise CommandRejected("session_not_started", action="raise_hand", action_params={"venue": "pinghu"})
        return decide(command, command_id)

    monkeypatch.setattr(host, "execute", execute)
    async with live.http.post(live.base_url + "/api/commands", json={"type": "take", "venue": "pinghu"},
                              headers=live.auth) as r:
        assert r.status == 409
        assert await r.json() == {"error": why, "code": "link_poor_needs_confirm", "params": params}
    answer = await OperatorClient(live.http, live.base_url, OPERATOR_TOKEN).command(c.Take(venue="pinghu"))
    assert (answer.status, answer.code, answer.params, answer.error) == (409, "link_poor_needs_confirm", params, why)

    socket = await live.operator.socket()
    await socket.command(c.Take(venue="pinghu"), ref=7)
    while not isinstance(result := await socket.receive(5), CommandResult):
        pass
    assert result.model_dump(mode="json") == {"type": "command_result", "status": 409, "ref": 7, "error": why,
                                              "code": "link_poor_needs_confirm", "params": params}
    await socket.close()

    await live.join(["pinghu"])
    agent = live.agents["pinghu"]
    await agent.agent.send(RaiseHand())
    await wait_for(lambda: agent.events("error"), 5, "the venue's error")
    assert agent.events("error")[-1]["code"] == "session_not_started"
    assert ErrorMessage(code="session_not_started", message="x").model_dump(mode="json") == {
        "type": "error", "code": "session_not_started", "message": "x"}, "no params: none sent"


async def test_health_is_json(live):
    async with live.http.get(live.base_url + "/healthz") as r:
        assert r.status == 200
        assert json.loads(await r.text()) == {"ok": True, "phase": "scheduled"}
