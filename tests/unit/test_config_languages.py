"""The errors of a conference file in the reader's language: the same FILE:LINE:COL and the
same place in the file, the sentence in Chinese or English; and `validate`'s choice of language."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from orchestrator.cli import main
from orchestrator.config import ConfigError, ConfigIssue, load_conference, parse_conference

# A small meeting in Chinese; each case below breaks one line of it.
ZH_FILE = """\
conference:
  id: spring-meeting
  title: "全市动员部署大会"
  date: 2025-02-05
  start: "14:30"
  timezone: Asia/Shanghai
  language: zh-CN
venues:
  - {id: main, name: "嘉兴大剧院", role: main}
  - {id: pinghu, name: "平湖市", role: branch, kind: county_city}
  - {id: haiyan, name: "海盐县", role: branch, kind: county}
agenda:
  - {id: opening, kind: presiding, title: "主持人宣布开会", planned: 2m}
  - {id: speech, kind: speech, title: "平湖市发言", venue: pinghu, planned: 5m}
"""

SPEECH = '  - {id: speech, kind: speech, title: "平湖市发言", venue: pinghu, planned: 5m}\n'

# (what is broken, the file, the English line and the Chinese line after FILE:)
CASES = [
    ("an unknown key, and a venue's Chinese name where its id belongs",
     ZH_FILE.replace(SPEECH, '  - {id: speech, kind: speech, title: "平湖市发言", venue: 平湖市, planned: 5m, '
                             'speeker: x}\n'),
     ["14:55: agenda[1].venue: '平湖市' is not a valid id (U+5E73 CJK UNIFIED IDEOGRAPH-5E73 at character 1): "
      "use lowercase letters, digits and single hyphens (did you mean 'pinghu', the id of 平湖市?)",
      "14:73: agenda[1]: unknown key 'speeker' (did you mean 'speaker'?)"],
     ["14:55: agenda[1].venue: “平湖市”不是有效标识（第 1 个字符为 U+5E73 CJK UNIFIED IDEOGRAPH-5E73）："
      "只能使用小写字母、数字和单个连字符（是否指平湖市的标识“pinghu”？）",
      "14:73: agenda[1]: 未知键名“speeker”（是否指“speaker”？）"]),
    ("a duration that is not one",
     ZH_FILE.replace("planned: 5m}", "planned: 5分钟}"),
     ["14:72: agenda[1].planned: '5分钟' is not a duration: write it like 90s, 5m or 1h30m"],
     ["14:72: agenda[1].planned: “5分钟”不是有效时长：请按 90s、5m 或 1h30m 的格式填写"]),
    ("an invisible character in a title",
     ZH_FILE.replace('"平湖市发言"', '"平湖市\\u200b发言"'),
     ["14:39: agenda[1].title: character 4 is U+200B ZERO WIDTH SPACE, an invisible formatting character: "
      "not allowed in text"],
     ["14:39: agenda[1].title: 第 4 个字符是 U+200B ZERO WIDTH SPACE，属于不可见的格式字符：文本中不允许出现"]),
    ("a control character in the file itself",
     ZH_FILE.replace('"全市动员部署大会"', '"全市动员\x07部署大会"'),
     ["3:15: U+0007 BELL: this character cannot be in a YAML file; delete it (or save the file as plain UTF-8 text)"],
     ["3:15: U+0007 BELL：YAML 文件中不能出现此字符；请删除（或将文件另存为纯 UTF-8 文本）"]),
    ("a duplicate id",
     ZH_FILE.replace("{id: haiyan, name:", "{id: pinghu, name:"),
     ["11:10: venues[2].id: duplicate venue id 'pinghu' (first at venues[1])"],
     ["11:10: venues[2].id: 会场标识“pinghu”重复（首次出现在 venues[1]）"]),
    ("a value of the wrong type",
     ZH_FILE.replace('title: "平湖市发言"', "title: [平湖, 发言]"),
     ["14:39: agenda[1].title: expected text, found list '['平湖', '发言']'"],
     ["14:39: agenda[1].title: 应为文本，实际是 list 类型的“['平湖', '发言']”"]),
    ("a value that is not one of the choices",
     ZH_FILE.replace("role: branch, kind: county}", "role: branch, kind: 县}"),
     ["11:51: venues[2].kind: '县' is not one of 'county', 'county_city', 'district', 'development_zone', "
      "'port_area', 'department' or 'other'"],
     ["11:51: venues[2].kind: “县”不是可选值，应为 'county', 'county_city', 'district', 'development_zone', "
      "'port_area', 'department' 或 'other'"]),
    ("a full-width colon typed by a Chinese input method",
     ZH_FILE.replace("  timezone: Asia", "  timezone： Asia"),
     ["6:11: U+FF1A FULLWIDTH COLON after a key: type an ASCII colon and a space, ': '"],
     ["6:11: U+FF1A FULLWIDTH COLON 位于键名之后：请输入英文冒号加空格“: ”"]),
]


def issues(text: str) -> list[ConfigIssue]:
    with pytest.raises(ConfigError) as caught:
        parse_conference(text, "c.yaml")
    return caught.value.issues


@pytest.mark.parametrize(("text", "english", "chinese"), [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_each_error_is_said_in_chinese_at_the_same_place(text, english, chinese):
    found = issues(text)
    assert [i.render("en") for i in found] == [f"c.yaml:{line}" for line in english]
    assert [str(i) for i in found] == [f"c.yaml:{line}" for line in english], "English unless asked"
    assert all(str(i).endswith(f": {i.message}") for i in found)
    assert [i.render("zh-CN") for i in found] == [f"c.yaml:{line}" for line in chinese]


def test_the_error_knows_the_language_the_file_asks_for():
    for case in CASES:
        with pytest.raises(ConfigError) as caught:
            parse_conference(case[1], "c.yaml")
        assert caught.value.language == "zh-CN", case[0]
    english = ZH_FILE.replace("language: zh-CN", "language: en").replace("planned: 5m}", "planned: 5x}")
    with pytest.raises(ConfigError) as caught:
        parse_conference(english)
    assert caught.value.language == "en"
    unsaid = ZH_FILE.replace("  language: zh-CN\n", "").replace("planned: 5m}", "planned: 5x}")
    with pytest.raises(ConfigError) as caught:
        parse_conference(unsaid)
    assert caught.value.language is None
    broken_yaml = ZH_FILE.replace("  language: zh-CN", "  language: 'zh-CN'").replace("{id: main,", "{id: main")
    with pytest.raises(ConfigError) as caught:
        parse_conference(broken_yaml)
    assert caught.value.language == "zh-CN", "read from its line when the file is not YAML"
    assert caught.value.lines(lang="zh-CN")[0].startswith("<conference>:9:"), caught.value.lines()
    assert "YAML 语法错误：" in caught.value.lines(lang="zh-CN")[0]


def test_what_is_not_yet_translated_says_pydantic_s_words():
    from orchestrator.config import _value_message

    said = _value_message({"type": "some_new_type", "loc": ("x",), "msg": "Input should be odd", "input": 2})
    assert said.say("zh-CN") == said.say("en") == "input should be odd"


def test_the_count_of_errors_not_shown_is_in_the_reader_s_language():
    many = ZH_FILE.replace("  - {id: opening,", "".join(f"  - {{id: s{i}, kind: x}}\n" for i in range(60))
                           + "  - {id: opening,")
    with pytest.raises(ConfigError) as caught:
        parse_conference(many, "c.yaml")
    assert caught.value.lines(limit=3)[-1].startswith("... and ") and caught.value.lines(limit=3)[-1].endswith(" more")
    assert caught.value.lines(limit=3, lang="zh-CN")[-1] == f"……另有 {len(caught.value.issues) - 3} 处问题"


def test_an_unreadable_file_is_said_in_the_language_asked_for(tmp_path):
    folder = tmp_path / "conference.yaml"
    folder.mkdir()
    with pytest.raises(ConfigError) as caught:
        load_conference(folder)
    assert caught.value.lines(lang="zh-CN") == [f"{folder}:1:1: 无法读取文件：这是目录，不是会议文件"]
    gbk = tmp_path / "gbk.yaml"
    gbk.write_bytes(ZH_FILE.encode("gb18030"))
    with pytest.raises(ConfigError) as caught:
        load_conference(gbk)
    assert caught.value.language == "zh-CN", "read from the part that could be decoded"
    [line] = caught.value.lines(lang="zh-CN")
    assert line.startswith(f"{gbk}:3:") and "文件不是 UTF-8 编码：此处的字节 " in line
    assert "（看起来是中文 Windows 使用的 GBK/GB18030 编码）；请将文件另存为 UTF-8" in line


# ---------------------------------------------------------------- the command line


def validate(*args: str) -> tuple[int, str, str]:
    said = CliRunner().invoke(main, ["validate", *args])
    return said.exit_code, said.stdout, said.stderr


def test_validate_speaks_the_file_s_language_unless_told(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(CASES[1][1], encoding="utf-8")
    code, out, err = validate(str(path))
    assert (code, out) == (1, "")
    assert err.splitlines() == [f"{path}:{CASES[1][3][0]}"]
    code, out, err = validate("--lang", "en", str(path))
    assert err.splitlines() == [f"{path}:{CASES[1][2][0]}"]

    english = tmp_path / "english.yaml"
    english.write_text(CASES[1][1].replace("language: zh-CN", "language: en"), encoding="utf-8")
    assert validate(str(english))[2].splitlines() == [f"{english}:{CASES[1][2][0]}"]
    assert validate("--lang", "zh-CN", str(english))[2].splitlines() == [f"{english}:{CASES[1][3][0]}"]


def test_validate_says_each_file_in_its_own_language(tmp_path):
    zh, en = tmp_path / "zh.yaml", tmp_path / "en.yaml"
    zh.write_text(CASES[4][1], encoding="utf-8")
    en.write_text(CASES[4][1].replace("  language: zh-CN\n", "  # no language: English\n"), encoding="utf-8")
    code, _, err = validate(str(zh), str(en))
    assert code == 1
    assert err.splitlines() == [f"{zh}:{CASES[4][3][0]}", f"{en}:{CASES[4][2][0]}"]


def test_every_command_that_loads_a_file_says_its_errors_in_the_language_asked_for(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(CASES[4][1].replace("language: zh-CN", "language: en"), encoding="utf-8")
    for command, status in (("links", 1), ("archive", 1), ("minutes", 1), ("rehearse", 2), ("serve", 1)):
        args = [command, str(path), "--lang", "zh-CN"] + (["--base-url", "https://x.example"] if command == "links" else [])
        said = CliRunner().invoke(main, args)
        assert (said.exit_code, said.stderr.splitlines()) == (status, [f"{path}:{CASES[4][3][0]}"]), command
