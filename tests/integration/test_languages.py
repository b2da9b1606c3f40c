"""The server speaks the reader's language: the Chinese sample conference over HTTP, the
operator socket, the venue socket, the pages' catalogue, the sign-in page and the CSV."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from orchestrator.config import load_conference
from orchestrator.protocol import CommandResult, Welcome, parse
from orchestrator.protocol import to_venue_adapter as venue_messages
from tests.support.live import OPERATOR_TOKEN, running_live

ZH_SAMPLE = Path(__file__).resolve().parents[2] / "config" / "jiaxing-2025-six-initiatives.zh.yaml"
NOT_CONNECTED_ZH = "无法切换会场“海盐县”上屏：该会场未接入"
NOT_CONNECTED_EN = "cannot take venue 'haiyan': it is not connected"


@pytest.fixture
async def zh_live(tmp_path):
    async with running_live(load_conference(ZH_SAMPLE), tmp_path) as live:
        yield live


async def post_take(live, query: str = "", cookies: dict | None = None) -> dict:
    async with live.http.post(f"{live.base_url}/api/commands{query}", json={"type": "take", "venue": "haiyan"},
                              headers={**live.auth, **({"Cookie": f"lang={cookies['lang']}"} if cookies else {})}) as r:
        assert r.status == 409
        return await r.json()


async def test_refusals_are_in_the_conference_language_unless_the_reader_chose_another(zh_live):
    await zh_live.command({"type": "start_session"})
    body = await post_take(zh_live)
    assert body == {"error": NOT_CONNECTED_ZH, "code": "not_connected", "params": {"venue": "haiyan"}}
    assert (await post_take(zh_live, "?lang=en"))["error"] == NOT_CONNECTED_EN
    assert (await post_take(zh_live, cookies={"lang": "en"}))["error"] == NOT_CONNECTED_EN
    assert (await post_take(zh_live, "?lang=zh-CN", cookies={"lang": "en"}))["error"] == NOT_CONNECTED_ZH, \
        "?lang= comes before the cookie"
    assert (await post_take(zh_live, "?lang=fr"))["error"] == NOT_CONNECTED_ZH, "an unsupported choice is ignored"


async def test_the_operator_socket_answers_in_the_language_it_was_opened_with(zh_live):
    await zh_live.command({"type": "start_session"})
    for query, said in (("", NOT_CONNECTED_ZH), ("?lang=en", NOT_CONNECTED_EN)):
        url = f"{zh_live.base_url.replace('http', 'ws', 1)}/ws/operator{query}"
        async with zh_live.http.ws_connect(url, headers=zh_live.auth) as ws:
            await ws.receive_json(timeout=5)  # the state
            await ws.send_json({"type": "command", "ref": 1, "command": {"type": "take", "venue": "haiyan"}})
            while (message := await ws.receive_json(timeout=5))["type"] != "command_result":
                pass
        result = CommandResult.model_validate(message)
        assert (result.status, result.code, result.params, result.error) == (409, "not_connected", {"venue": "haiyan"},
                                                                             said)


async def test_the_catalogue_needs_no_sign_in_and_follows_the_same_rule(zh_live):
    async with zh_live.http.get(zh_live.base_url + "/i18n/catalogue.json") as r:
        assert r.status == 200
        body = await r.json()
    assert (body["language"], body["languages"]) == ("zh-CN", ["zh-CN", "en"])
    assert body["names"] == {"zh-CN": "中文", "en": "English"}
    assert body["messages"]["Raise hand"] == "举手" and body["messages"]["Roll call"] == "点名"
    async with zh_live.http.get(zh_live.base_url + "/i18n/catalogue.json?lang=en") as r:
        assert await r.json() == {"language": "en", "languages": ["zh-CN", "en"], "names": body["names"],
                                  "messages": {}}


async def test_the_sign_in_page_refuses_a_wrong_token_in_the_reader_language(zh_live):
    origin = {"Origin": zh_live.base_url}
    async with zh_live.http.post(zh_live.base_url + "/console/login", data={"token": "wrong"}, headers=origin) as r:
        page = await r.text()
    assert "操作员口令不正确。" in page and 'src="/static/login.js"' in page
    async with zh_live.http.get(zh_live.base_url + "/console?error=<script>alert(1)</script>") as r:
        assert "<script>alert" not in await r.text(), "only the page's own refusals are shown"


async def test_a_venue_learns_the_conference_time_zone_and_language(zh_live):
    url = f"{zh_live.base_url.replace('http', 'ws', 1)}/ws/venue"
    token = zh_live.tokens.issue("pinghu")
    async with zh_live.http.ws_connect(url) as ws:
        await ws.send_json({"type": "hello", "token": token})
        welcome = parse(venue_messages, await ws.receive_str(timeout=5))
    assert isinstance(welcome, Welcome)
    assert (welcome.venue.name, welcome.conference.timezone, welcome.conference.language) == (
        "平湖市", "Asia/Shanghai", "zh-CN")
    async with zh_live.http.ws_connect(url + "?lang=zh-CN") as ws:
        await ws.send_json({"type": "hello", "token": "forged"})
        refused = await ws.receive_json(timeout=5)
    assert (refused["code"], refused["message"]) == ("refused", "此链接无效（Not enough segments）")


async def test_the_roll_call_csv_starts_with_a_byte_order_mark_and_keeps_chinese_names(zh_live):
    await zh_live.join(["main", "pinghu"])
    await zh_live.command({"type": "start_session"})
    await zh_live.command({"type": "goto_segment", "segment": "roll-call"})
    await zh_live.command({"type": "start_roll_call"})
    await zh_live.command({"type": "finish_roll_call"})
    async with zh_live.http.get(zh_live.base_url + "/api/roll-call.csv?segment=roll-call", headers=zh_live.auth) as r:
        assert r.content_type == "text/csv"
        body = await r.read()
    assert body.startswith(b"\xef\xbb\xbf"), "Excel reads a CSV as UTF-8 when it starts with the byte-order mark"
    header, *rows = csv.reader(io.StringIO(body.decode("utf-8-sig")))
    assert header[:4] == ["segment", "venue", "name", "status"], "the header stays a machine format"
    by_venue = {row[1]: dict(zip(header, row)) for row in rows}
    assert by_venue["port-area"]["name"] == "浙江乍浦经济开发区（嘉兴港区）"
    assert by_venue["haiyan"]["note"] == "点名时未接入"
    async with zh_live.http.get(zh_live.base_url + "/api/roll-call.csv?segment=roll-call&lang=en",
                                headers=zh_live.auth) as r:
        english = (await r.read()).decode("utf-8-sig")
    assert "not connected when called" in english and "浙江乍浦经济开发区（嘉兴港区）" in english
    assert OPERATOR_TOKEN not in english
