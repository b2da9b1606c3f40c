"""Text for tests of the text rule: what it must refuse, what it must keep, written apart from it."""

from __future__ import annotations

import unicodedata

from hypothesis import strategies as st


def refused_by_the_rule(ch: str) -> bool:
    """The text rule, written again here as the oracle."""
    code = ord(ch)
    return (unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Zl", "Zp")
            or 0xFDD0 <= code <= 0xFDEF or code & 0xFFFE == 0xFFFE)


BAD_CHARS = (
    st.characters(categories=["Cc", "Cf", "Cs", "Zl", "Zp"])
    | st.sampled_from(["\x00", "\x07", "\n", "\r", "\t", "\x1b", "\x7f", "\x85", "\u200b", "\u200c", "\u200d", "\u2060",
                       "\ufeff", "\u00ad", "\u202a", "\u202d", "\u202e", "\u2066", "\u2069", "\u061c", "\u2028",
                       "\u2029", "\ud800", "\udbff", "\udc00", "\udfff", "\ufdd0", "\ufffe", "\U0001fffe",
                       "\U000e0001"])
)
GOOD_CHARS = st.characters(codec="utf-8").filter(lambda ch: not refused_by_the_rule(ch) and ch not in " \u3000")

REAL_NAMES = ["浙江乍浦经济开发区（嘉兴港区）", "嘉兴市南湖区、秀洲区", "《关于深入实施“六大行动”的决定》",
              "嘉兴经济技术开发区：先进集体", "王　伟（嘉兴市人民政府）", "‘八八战略’二十周年", "第１号令", "𠮷野家（示例）"]
