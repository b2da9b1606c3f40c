"""The catalogues and the rendering of what the session says, in zh-CN and en."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg

from orchestrator import sentences
from orchestrator.core import CommandRejected, Session
from orchestrator.core import commands as c
from orchestrator.core.decide import DECIDERS
from orchestrator.i18n import duration, fill, messages, negotiate, normalise, ntranslate, translate

ROOT = Path(__file__).resolve().parents[2]
PLACEHOLDER = re.compile(r"\{(\w+)\}")


def used_msgids() -> dict[str, str]:
    """Every msgid the code and the pages use, as `babel.cfg` extracts them: {msgid: where}
    (a counted phrase by its singular: the translation has one form)."""
    with (ROOT / "babel.cfg").open() as f:
        method_map, options_map = parse_mapping_cfg(f)
    found = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(str(ROOT), method_map, options_map):
        msgid = message[0] if isinstance(message, tuple) else message
        if msgid:
            found.setdefault(msgid, f"{filename}:{lineno}")
    return found


def test_every_msgid_of_the_code_and_the_pages_has_a_chinese_translation():
    used = used_msgids()
    assert {"cannot {action}: {why}", "Raise hand", "YOU ARE ON AIR", "{n} segment"} <= set(used), \
        "the extraction covers the Python code, the scripts and the pages' data-i18n attributes"
    zh = messages("zh-CN")
    missing = [f"{where}: {msgid!r}" for msgid, where in sorted(used.items()) if msgid not in zh]
    assert not missing, "msgids without a zh-CN translation (see babel.cfg for the commands):\n" + "\n".join(missing)


def test_each_translation_fills_the_same_placeholders_as_its_msgid():
    wrong = {msgid: text for msgid, text in messages("zh-CN").items()
             if set(PLACEHOLDER.findall(msgid)) != set(PLACEHOLDER.findall(text))}
    assert not wrong


def test_rendering_fills_placeholders_and_falls_back_to_english():
    assert translate("zh-CN", "On air: {venue}", venue="平湖市") == "正在上屏：平湖市"
    assert translate("en", "On air: {venue}", venue="Pinghu City") == "On air: Pinghu City"
    assert translate("zh-CN", "a sentence no catalogue holds {x}", x=1) == "a sentence no catalogue holds 1"
    assert fill("{a} and {b}", {"a": 1}) == "1 and {b}", "an unknown placeholder is left as it is"
    assert (ntranslate("en", "{n} segment", "{n} segments", 1), ntranslate("en", "{n} segment", "{n} segments", 3)) \
        == ("1 segment", "3 segments")
    assert ntranslate("zh-CN", "{n} segment", "{n} segments", 3) == "3 个议程"
    assert (duration("en", 5400), duration("zh-CN", 5400), duration("zh-CN", 0)) == ("1h30m", "1小时30分", "0秒")


@pytest.mark.parametrize(("asked", "language"), [
    ("zh", "zh-CN"), ("zh_CN", "zh-CN"), ("zh-Hans-CN", "zh-CN"), ("ZH-cn", "zh-CN"), ("en", "en"), ("en-GB", "en"),
    ("fr", None), ("", None), (None, None),
])
def test_language_tags_are_normalised(asked, language):
    assert normalise(asked) == language


def test_negotiation_takes_the_first_supported_choice_else_the_default():
    assert negotiate("fr", "zh", default="en") == "zh-CN"
    assert negotiate(None, None, default="zh-CN") == "zh-CN"
    assert negotiate("en", default="zh-CN") == "en"


def refused(session: Session, command, now: float = 1.0) -> CommandRejected:
    with pytest.raises(CommandRejected) as caught:
        session.handle(command, now)
    return caught.value


def test_the_core_refuses_in_codes_and_the_sentence_is_rendered_in_each_language(sample_conf):
    session = Session(sample_conf)
    session.handle(c.StartSession(), 0.0)
    exc = refused(session, c.Take(venue="haiyan"))
    assert (exc.code, exc.params, exc.action, exc.action_params) == (
        "not_connected", {"venue": "haiyan"}, "take", {"venue": "haiyan"})
    assert str(exc) == sentences.refusal("en", exc) == "cannot take venue 'haiyan': it is not connected"
    assert sentences.refusal("zh-CN", exc) == "无法切换会场“haiyan”上屏：该会场未接入"
    assert sentences.refusal("zh-CN", exc, sample_conf) == "无法切换会场“Haiyan County”上屏：该会场未接入", \
        "translated, a refusal names the venue as the file does"
    assert sentences.refusal("en", exc, sample_conf) == str(exc), "in English, the ids as typed"

    typo = refused(session, c.Take(venue="haiyn"))
    assert sentences.refusal("zh-CN", typo, sample_conf) == "无法切换会场“haiyn”上屏：本次会议没有会场“haiyn”（是否指“haiyan”？）"
    assert sentences.refusal("zh-CN", refused(session, c.StartSession())) == "无法开始会议：会议已在进行"


def test_words_inside_refusals_are_translated_too(sample_conf):
    session = Session(sample_conf)
    session.handle(c.StartSession(), 0.0)
    session.handle(c.StartPolling(target="main_return", dwell_s=10), 1.0)
    exc = refused(session, c.StartPolling(target="program", dwell_s=10))
    assert str(exc) == ("cannot start polling on the program: polling on the main venue's return is already running;"
                        " stop it first")
    assert sentences.refusal("zh-CN", exc) == "无法开始主画面轮询：主会场回传的轮询已在进行；请先停止"


def test_a_poor_link_refusal_formats_its_figures():
    exc = CommandRejected("link_poor_needs_confirm", {"venue": "pinghu", "loss_pct": 12.345, "rtt_ms": 640.4},
                          action="take", action_params={"venue": "pinghu"})
    assert str(exc) == ("cannot take venue 'pinghu': its link is poor (loss 12.3%, round trip 640 ms); "
                        "confirm to put it on air anyway")
    assert "丢包 12.3%，往返 640 毫秒" in sentences.refusal("zh-CN", exc)


def refusal_codes() -> set[str]:
    """The codes the core refuses with (every `reject("code", ...)` and the wrong-phase table)."""
    codes = set()
    for name in ("decide.py", "session.py"):
        tree = ast.parse((ROOT / "orchestrator" / "core" / name).read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "reject" and node.args:
                if isinstance(node.args[0], ast.Constant):
                    codes.add(node.args[0].value)
    from orchestrator.core.decide import WRONG_PHASE

    return codes | set(WRONG_PHASE.values())


def test_every_refusal_code_and_every_command_has_a_sentence():
    codes = refusal_codes()
    assert len(codes) > 40
    assert codes <= set(sentences.REFUSALS), codes - set(sentences.REFUSALS)
    kinds = {kind.model_fields["type"].default for kind in DECIDERS}
    assert kinds == set(sentences.ACTIONS)


def test_every_note_the_core_writes_has_a_sentence():
    source = (ROOT / "orchestrator" / "core" / "decide.py").read_text()
    written = set(re.findall(r'note="(\w+)"', source)) | set(re.findall(r'\("(?:absent|no_answer)", "(\w+)"\)', source))
    assert {"skipped", "no_answer_in_time", "not_connected_when_called", "no_answer_by_segment_end"} <= written
    assert written <= set(sentences.NOTES), written - set(sentences.NOTES)


def test_notes_and_fallbacks_render_from_codes_and_old_logs_keep_their_sentences():
    assert sentences.note("en", "no_answer_in_time", {"within_s": 20}) == "no answer within 20s"
    assert sentences.note("zh-CN", "no_answer_in_time", {"within_s": 20}) == "20秒内未应答"
    assert sentences.note("zh-CN", "not called before the segment ended") == "not called before the segment ended", \
        "a note an older log wrote in English is shown as it was"
    params = {"venue": "pinghu", "left": "heartbeat lost"}
    assert sentences.fallback("en", "venue_disconnected", params) == "'pinghu' disconnected (heartbeat lost)"
    assert sentences.fallback("zh-CN", "venue_disconnected", params) == "“pinghu”已断开（心跳丢失）"
    assert sentences.fallback("zh-CN", "'pinghu' disconnected (heartbeat lost)") == "'pinghu' disconnected (heartbeat lost)"
    assert sentences.leave_reason("zh-CN", "did not come back after a server restart") == "服务器重启后未重新接入"


CONFIG = ROOT / "config"


def test_the_chinese_sample_is_the_english_one_with_chinese_names():
    from orchestrator.config import load_conference

    en = load_conference(CONFIG / "jiaxing-2025-six-initiatives.yaml")
    zh = load_conference(CONFIG / "jiaxing-2025-six-initiatives.zh.yaml")
    assert (en.conference.language, zh.conference.language) == ("en", "zh-CN")

    def shape(conf):
        return ([(v.id, v.role, v.kind) for v in conf.venues],
                [(a.id, [r.venue for r in a.recipients]) for a in conf.awards],
                [s.model_dump(exclude={"title", "speaker"}) for s in conf.agenda],
                conf.conference.model_dump(exclude={"title", "language"}))

    assert shape(zh) == shape(en)
    names = {v.id: v.name for v in zh.venues}
    assert names["main"] == "嘉兴大剧院" and names["port-area"] == "浙江乍浦经济开发区（嘉兴港区）"
    assert set(names.values()) >= {"南湖区", "秀洲区", "嘉善县", "海盐县", "海宁市", "平湖市", "桐乡市", "嘉兴经济技术开发区"}
    assert zh.segment_by_id["mobilisation-speech"].speaker == "市委书记 陈伟"


def test_validate_speaks_the_conference_language_unless_told(tmp_path):
    from click.testing import CliRunner

    from orchestrator.cli import main

    zh = str(CONFIG / "jiaxing-2025-six-initiatives.zh.yaml")
    said = CliRunner().invoke(main, ["validate", zh])
    assert said.exit_code == 0, said.output
    assert said.output.splitlines()[0].endswith("：有效")
    assert "会场         10 个：主会场“main”（嘉兴大剧院）；9 个分会场：区 2 个" in said.output
    assert "议程         13 个议程，计划 1小时46分" in said.output
    english = CliRunner().invoke(main, ["validate", "--lang", "en", zh])
    assert "  agenda       13 segments, 1h46m planned" in english.output


def test_did_you_mean_finds_a_venue_named_in_chinese_where_its_id_belongs(tmp_path):
    from orchestrator.config import ConfigError, load_conference

    text = (CONFIG / "jiaxing-2025-six-initiatives.zh.yaml").read_text(encoding="utf-8")
    for wrong, hint in (("平湖市", "(did you mean 'pinghu', the id of 平湖市?)"),
                        ("平湖", "(did you mean 'pinghu', the id of 平湖市?)"),
                        ("pinhgu", "(did you mean 'pinghu'?)")):
        path = tmp_path / "typo.yaml"
        path.write_text(text.replace("    venue: pinghu\n", f"    venue: {wrong}\n", 1), encoding="utf-8")
        with pytest.raises(ConfigError) as caught:
            load_conference(path)
        [line] = caught.value.lines()
        assert line.startswith(f"{path}:89:12: agenda[4].venue: ") and line.endswith(hint), line
