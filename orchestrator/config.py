"""Reading a conference file: a loader whose errors point at FILE:LINE:COL.

The models live in `orchestrator.conference` (re-exported here for the adapters).

Loading happens in passes, each reporting every error it finds:

0. the file: a regular file of at most MAX_FILE_BYTES, in UTF-8 (or UTF-16/32 as YAML
   detects it), with no character YAML refuses;
1. YAML syntax (ruamel.yaml keeps the line and column of every node), within limits
   that hold before anything is expanded: nesting depth, and the number of values once
   every alias is counted in full (a "billion laughs" file is refused at its alias);
2. structure: every key is text, then pydantic validates keys and value types field by
   field (free text by `orchestrator.text`'s rule);
3. meaning: cross references (venues, awards), uniqueness, one main venue, kinds.

A later pass runs only when the earlier ones found nothing, so every message is about
something that is really there. When a file fails, typing mistakes of Chinese input
methods (a full-width colon after a key, ideographic spaces as indentation, full-width
quotes or brackets where YAML needs ASCII ones) are pointed at as well.
"""

from __future__ import annotations

import bisect
import codecs
import os
import re
import stat
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.composer import Composer, MaxDepthExceededError
from ruamel.yaml.constructor import RoundTripConstructor
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import AliasEvent
from ruamel.yaml.nodes import MappingNode, SequenceNode

from .conference import (
    ALL_BRANCHES,
    MUST_NOT_BE_EMPTY,
    NOT_ONE_OF,
    PAGE_EVERY_RANGE_S,
    POLLING_DWELL_RANGE_S,
    Award,
    Conference,
    ConferenceInfo,
    PollingTarget,
    Recipient,
    ReturnMode,
    RollCallMode,
    Segment,
    SegmentKind,
    Venue,
    VenueKind,
    VenueRole,
    format_duration,
    parse_duration,
)
from .hints import closest, suggestion
from .i18n import N_, SOURCE_LANGUAGE, Language, Phrase, either, normalise, phrase, said, translate
from .text import describe_char, shown

__all__ = [
    "ALL_BRANCHES", "Award", "Conference", "ConferenceInfo", "ConfigError", "ConfigIssue", "Recipient",
    "Segment", "SegmentKind", "Venue", "VenueKind", "VenueRole", "display_path", "format_duration",
    "load_conference", "parse_conference", "parse_duration",
]

# Limits of the file itself (the models' limits are in orchestrator.conference).
MAX_FILE_BYTES = 1024 * 1024
MAX_DEPTH = 10  # nesting of mappings and lists; a conference file needs 5
MAX_VALUES = 100_000  # keys, items and values in all, each use of an alias counted in full
MAX_ALIASES = 1000
MAX_NUMBER_CHARS = 100  # an integer literal (Python refuses to convert very long ones)
MAX_ERRORS_SHOWN = 50
MAX_HINTS = 20  # did-you-mean suggestions computed per file (each compares with every id)
YAML_SYNTAX = N_("YAML syntax error: {problem}")  # the problem in YAML's own (English) words, or ours


# --------------------------------------------------------------------------- errors


Loc = tuple[str | int, ...]


def format_loc(loc: Sequence[str | int]) -> str:
    """('agenda', 7, 'venue') -> 'agenda[7].venue'."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


@dataclass(frozen=True)
class ConfigIssue:
    """One problem of a file, where it is: `said` in any language, `message` in English."""

    file: str
    line: int  # 1-based
    col: int  # 1-based
    loc: Loc
    said: Phrase = field(repr=False)
    message: str = field(init=False)  # in English

    def __post_init__(self) -> None:
        object.__setattr__(self, "message", self.said.say())

    def render(self, lang: Language = SOURCE_LANGUAGE) -> str:
        """'FILE:LINE:COL: where: what', the what in `lang` (names, ids and values as the file has them)."""
        where = f"{shown(format_loc(self.loc))}: " if self.loc else ""
        return f"{self.file}:{self.line}:{self.col}: {where}{self.said.say(lang)}"

    def __str__(self) -> str:
        return self.render()


class ConfigError(Exception):
    """A conference file that cannot be used; `issues` lists every problem found.

    `language` is the one the file asks for (`conference: language:`), when that much of
    it could be read: the language its errors are best shown in.
    """

    def __init__(self, issues: list[ConfigIssue], language: Language | None = None):
        self.issues = issues
        self.language = language
        super().__init__("\n".join(self.lines()))

    def lines(self, limit: int = MAX_ERRORS_SHOWN, lang: Language = SOURCE_LANGUAGE) -> list[str]:
        """One line per issue in `lang`, the first `limit` of them, then how many more there are."""
        lines = [i.render(lang) for i in self.issues[:limit]]
        if len(self.issues) > limit:
            lines.append(translate(lang, N_("... and {n} more"), n=len(self.issues) - limit))
        return lines


def display_path(path: str | Path) -> str:
    """A file name as it can be printed (bytes that are not UTF-8 shown as escapes)."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


class _Positions:
    """Find the line and column of a path in the ruamel tree (0-based internally)."""

    def __init__(self, root: Any):
        self.root = root

    def find(self, loc: Loc, *, key: bool = False) -> tuple[int, int]:
        node = self.root
        pos = (getattr(getattr(node, "lc", None), "line", 0) or 0, getattr(getattr(node, "lc", None), "col", 0) or 0)
        for i, part in enumerate(loc):
            last = i == len(loc) - 1
            if isinstance(node, CommentedMap) and part in node:
                holder = _holder(node, part)
                if holder is not None:
                    pos = holder.lc.key(part) if (key and last) else holder.lc.value(part)
                node = node[part]
            elif isinstance(node, CommentedSeq) and isinstance(part, int) and 0 <= part < len(node):
                pos = node.lc.item(part)
                node = node[part]
            else:
                break
        return pos


def _holder(mapping: CommentedMap, key: Any) -> CommentedMap | None:
    """The mapping whose text has `key`: this one, or one merged into it with `<<:`."""
    if key in (mapping.lc.data or ()):
        return mapping
    for merged in getattr(mapping, "merge", ()):
        merged = merged[1] if isinstance(merged, tuple) else merged
        holder = _holder(merged, key) if isinstance(merged, CommentedMap) else None
        if holder is not None:
            return holder
    return None


class _Lines:
    """Character index -> (line, column), 0-based, counting line breaks as YAML does."""

    _BREAK = re.compile(r"\r\n|[\n\r\x85\u2028\u2029]")

    def __init__(self, text: str):
        self.starts = [0] + [m.end() for m in self._BREAK.finditer(text)]

    def at(self, index: int) -> tuple[int, int]:
        line = bisect.bisect_right(self.starts, index) - 1
        return line, index - self.starts[line]


# --------------------------------------------------------------------------- reading the file


_KINDS = ((stat.S_ISDIR, N_("a directory")), (stat.S_ISFIFO, N_("a named pipe (FIFO)")),
          (stat.S_ISCHR, N_("a character device")), (stat.S_ISBLK, N_("a block device")), (stat.S_ISSOCK, N_("a socket")))
CANNOT_READ = N_("cannot read the file: {reason}")
TOO_LARGE = N_("the file is too large: more than {limit} bytes (the limit)")


def _read_bytes(path: Path, fail: Callable[[Phrase], NoReturn]) -> bytes:
    """The file's bytes: a regular file of at most MAX_FILE_BYTES, checked before reading."""
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        fail(phrase(CANNOT_READ, reason=exc.strerror or str(exc)))
    except ValueError as exc:  # a NUL in the name
        fail(phrase(CANNOT_READ, reason=str(exc)))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = next((name for test, name in _KINDS if test(info.st_mode)), N_("not a regular file"))
            fail(phrase(N_("cannot read the file: it is {kind}, not a conference file"), kind=phrase(kind)))
        if info.st_size > MAX_FILE_BYTES:
            fail(phrase(N_("the file is too large: {size} bytes (the limit is {limit})"),
                        size=f"{info.st_size:,}", limit=f"{MAX_FILE_BYTES:,}"))
        chunks, size = [], 0
        while size <= MAX_FILE_BYTES:
            chunk = os.read(fd, MAX_FILE_BYTES + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        fail(phrase(CANNOT_READ, reason=exc.strerror or str(exc)))
    finally:
        os.close(fd)
    if size > MAX_FILE_BYTES:
        fail(phrase(TOO_LARGE, limit=f"{MAX_FILE_BYTES:,}"))
    return b"".join(chunks)


_BOMS = ((codecs.BOM_UTF32_BE, "utf-32-be"), (codecs.BOM_UTF32_LE, "utf-32-le"), (codecs.BOM_UTF8, "utf-8"),
         (codecs.BOM_UTF16_BE, "utf-16-be"), (codecs.BOM_UTF16_LE, "utf-16-le"))


def _encoding(data: bytes) -> tuple[str, int]:
    """(codec, length of the byte-order mark): YAML's rule, a BOM or the NULs around the first ASCII character."""
    for bom, codec in _BOMS:
        if data.startswith(bom):
            return codec, len(bom)
    head = data[:8]
    if len(head) == 8 and head[0:3] == head[4:7] == b"\0\0\0" and head[3] and head[7]:
        return "utf-32-be", 0
    if len(head) == 8 and head[1:4] == head[5:8] == b"\0\0\0" and head[0] and head[4]:
        return "utf-32-le", 0
    if len(head) >= 4 and head[0] == head[2] == 0 and head[1] and head[3]:
        return "utf-16-be", 0
    if len(head) >= 4 and head[1] == head[3] == 0 and head[0] and head[2]:
        return "utf-16-le", 0
    return "utf-8", 0


def _decode(data: bytes, issue) -> str:
    codec, skip = _encoding(data)
    try:
        return data[skip:].decode(codec)
    except UnicodeDecodeError as exc:
        before = data[skip:skip + exc.start].decode(codec, "replace")
        line, col = _Lines(before).at(len(before))
        bad = exc.object[exc.start:exc.end][:4]
        bad_bytes = phrase(N_("byte {bytes}") if len(bad) == 1 else N_("bytes {bytes}"),
                           bytes=" ".join(f"0x{b:02x}" for b in bad))
        if codec == "utf-8":
            message = phrase(N_("the file is not UTF-8: {bad} here cannot be read as UTF-8{gbk}; save the file as UTF-8"),
                             bad=bad_bytes, gbk=_looks_like_gbk(data))
        else:
            message = phrase(N_("the file is {encoding} (by its start), but {bad} here cannot be read as {encoding}; "
                                "save the file as UTF-8"), encoding=codec.upper(), bad=bad_bytes)
        raise ConfigError([issue(line, col, (), message)],
                          _declared_language(data[skip:].decode(codec, "replace"))) from None


def _looks_like_gbk(data: bytes) -> Phrase | str:
    """A hint when the bytes read as Chinese text in GB18030 (the encoding of Chinese Windows)."""
    try:
        text = data.decode("gb18030")
    except UnicodeDecodeError:
        return ""
    chinese = any("\u4e00" <= ch <= "\u9fff" for ch in text)
    controls = any(unicodedata.category(ch) == "Cc" and ch not in "\t\n\r" for ch in text)
    return phrase(N_(" (it looks like GBK/GB18030, the encoding of Chinese Windows)")) if chinese and not controls else ""


# `language: zh-CN` on a line of its own (a full-width colon too): what a file that cannot be
# read as YAML asks for. A file that can be read is asked with its `conference` mapping.
_LANGUAGE_LINE = re.compile(r"^[ \t\u3000]+language[ \t\u3000]*[:：][ \t\u3000]*[\"'“‘]?([A-Za-z_-]{2,20})", re.MULTILINE)


def _declared_language(text: str, data: Any = None) -> Language | None:
    """The language the file asks for, as far as it can be read: its `conference: language:`."""
    if isinstance(data, dict):
        info = data.get("conference")
        value = info.get("language") if isinstance(info, dict) else None
        return normalise(value) if isinstance(value, str) and len(value) <= 20 else None
    found = _LANGUAGE_LINE.search(text)
    return normalise(found.group(1)) if found else None


# YAML 1.2's printable characters; anything else may not appear in a YAML file at all.
_NOT_YAML = re.compile("[^\t\n\r\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _unprintable(text: str, lines: _Lines, issue) -> list[ConfigIssue]:
    found = []
    for match in _NOT_YAML.finditer(text):
        found.append(issue(*lines.at(match.start()), (),
                           phrase(N_("{char}: this character cannot be in a YAML file; "
                                     "delete it (or save the file as plain UTF-8 text)"), char=describe_char(match.group()))))
    return found


# --------------------------------------------------------------------------- YAML within limits


class _TooMuch(MarkedYAMLError):
    """A limit of the file was exceeded at this mark; `said` says which."""

    def __init__(self, said: Phrase, mark: Any):
        super().__init__(None, None, said.say(), mark)
        self.said = said


class _Composer(Composer):
    """A composer that counts what aliases would expand to, before anything is expanded.

    ruamel keeps an alias as a second reference to its anchor's node; the loader's own
    conversion and pydantic would then walk it once per use. Every composed node counts
    one, every alias the full size of its node (computed once per node), and the file
    is refused at the node or alias that passes MAX_VALUES, or at alias number
    MAX_ALIASES + 1. An alias inside its own anchor (a recursive structure), or one that
    nests deeper than MAX_DEPTH where it is used, is refused too.
    """

    def __init__(self, loader: Any = None):
        super().__init__(loader)
        self.warn_double_anchors = False
        self.values = self.aliases = 0
        self.sizes: dict[int, int] = {}  # id(node) -> values it stands for, for finished nodes
        self.depths: dict[int, int] = {}  # id(node) -> levels of nesting it stands for

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.parser.peek_event()
        if isinstance(event, AliasEvent):
            node = self.anchors.get(event.anchor)
            self.aliases += 1
            if self.aliases > MAX_ALIASES:
                raise _TooMuch(phrase(N_("too many aliases: more than {limit} (the limit)"), limit=f"{MAX_ALIASES:,}"),
                               event.start_mark)
            if node is not None:
                if id(node) not in self.sizes:
                    raise _TooMuch(phrase(N_("the alias *{alias} is inside its own anchor "
                                             "(a structure that contains itself)"), alias=shown(event.anchor)),
                                   event.start_mark)
                if self.depth + self.depths[id(node)] > MAX_DEPTH:
                    raise _TooMuch(phrase(N_("nested too deeply: the alias *{alias} makes more than "
                                             "{limit} levels of mappings and lists (the limit)"),
                                          alias=shown(event.anchor), limit=MAX_DEPTH), event.start_mark)
                self._count(self.sizes[id(node)], event.start_mark, alias=shown(event.anchor))
            return super().compose_node(parent, index)
        self._count(1, event.start_mark)
        node = super().compose_node(parent, index)
        if isinstance(node, SequenceNode):
            children = node.value
        elif isinstance(node, MappingNode):
            children = [n for pair in node.value for n in pair]
        else:
            children = []
        self.sizes[id(node)] = 1 + sum(self.sizes.get(id(c), 1) for c in children)
        self.depths[id(node)] = 1 + max((self.depths.get(id(c), 1) for c in children), default=0)
        return node

    def _count(self, values: int, mark: Any, alias: str | None = None) -> None:
        self.values += values
        if self.values > MAX_VALUES:
            limit = f"{MAX_VALUES:,}"
            raise _TooMuch(phrase(N_("too many values: the alias *{alias} repeats {values} values, which makes more "
                                     "than {limit} in all (the limit)"), alias=alias, values=f"{values:,}", limit=limit)
                           if alias else
                           phrase(N_("too many values: the file has more than {limit} in all (the limit)"), limit=limit),
                           mark)


class _Constructor(RoundTripConstructor):
    """Round-trip constructor that leaves timestamps as text (validated by the models)."""

    def construct_yaml_int(self, node: Any) -> Any:
        if len(node.value) > MAX_NUMBER_CHARS:
            raise _TooMuch(phrase(YAML_SYNTAX, problem=phrase(N_("a number of more than {limit} digits"),
                                                              limit=MAX_NUMBER_CHARS)), node.start_mark)
        return super().construct_yaml_int(node)


_Constructor.add_constructor("tag:yaml.org,2002:timestamp", _Constructor.construct_yaml_str)
_Constructor.add_constructor("tag:yaml.org,2002:int", _Constructor.construct_yaml_int)


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.Constructor = _Constructor
    yaml.Composer = _Composer
    yaml.allow_duplicate_keys = False
    yaml.max_depth = MAX_DEPTH
    return yaml


# --------------------------------------------------------------------------- loading


def load_conference(path: str | Path) -> Conference:
    """Read and validate a conference file. Raises ConfigError listing every problem."""
    name = display_path(path)

    def fail(message: Phrase) -> NoReturn:
        raise ConfigError([ConfigIssue(name, 1, 1, (), message)])

    data = _read_bytes(Path(path), fail)
    return parse_conference(_decode(data, lambda line, col, loc, msg: ConfigIssue(name, line + 1, col + 1, loc, msg)),
                            name)


def parse_conference(text: str, filename: str = "<conference>") -> Conference:
    def issue(line: int, col: int, loc: Loc, message: Phrase) -> ConfigIssue:
        return ConfigIssue(filename, line + 1, col + 1, loc, message)

    if len(text) > MAX_FILE_BYTES:
        raise ConfigError([issue(0, 0, (), phrase(TOO_LARGE, limit=f"{MAX_FILE_BYTES:,}"))])
    lines = _Lines(text)
    language = _declared_language(text)  # until the file is read as YAML
    unprintable = _unprintable(text, lines, issue)
    if unprintable:
        raise ConfigError(unprintable, language)

    try:
        data = _yaml().load(text)
    except MaxDepthExceededError as exc:
        raise ConfigError([issue(exc.problem_mark.line, exc.problem_mark.column, (),
                                 phrase(N_("nested too deeply: more than {limit} levels of mappings and lists "
                                           "(the limit)"), limit=MAX_DEPTH))], language) from None
    except _TooMuch as exc:
        raise ConfigError([issue(exc.problem_mark.line, exc.problem_mark.column, (), exc.said)], language) from None
    except MarkedYAMLError as exc:
        raise ConfigError(_syntax_issues(exc, text, lines, issue), language) from None
    except YAMLError as exc:  # pragma: no cover - every YAML error of a str stream has a mark
        raise ConfigError([issue(0, 0, (), phrase(YAML_SYNTAX, problem=shown(str(exc))))], language) from None

    if data is None:
        raise ConfigError([issue(0, 0, (), phrase(N_("the file is empty: expected a conference "
                                                     "(conference, venues, agenda)")))], language)
    if not isinstance(data, CommentedMap):
        kind = phrase(N_("a list")) if isinstance(data, list) else phrase(N_("a {type}"), type=type(data).__name__)
        raise ConfigError(
            [issue(0, 0, (), phrase(N_("expected a mapping with keys conference, venues, agenda; found {kind}"),
                                    kind=kind))]
            + _typing_slips(text, lines, issue), language
        )
    language = _declared_language(text, data)

    key_issues: list[ConfigIssue] = []
    plain = _plain(data, (), key_issues, issue)
    if key_issues:
        raise ConfigError(_in_file_order(key_issues + _typing_slips(text, lines, issue)), language)

    positions = _Positions(data)
    try:
        conf = Conference.model_validate(plain)
    except ValidationError as exc:
        raise ConfigError(_in_file_order(_structural_issues(exc, positions, issue, _venue_names(plain))
                                         + _typing_slips(text, lines, issue)), language) from None

    problems = [issue(*positions.find(loc), loc, message) for loc, message in _semantic_problems(conf)]
    if problems:
        raise ConfigError(_in_file_order(problems), language)
    cut_short = _broken_quotes(text, lines, issue)  # YAML took them for text and cut the value short
    if cut_short:
        raise ConfigError(cut_short, language)
    return conf


def _in_file_order(issues: list[ConfigIssue]) -> list[ConfigIssue]:
    return sorted(issues, key=lambda i: (i.line, i.col))


def _syntax_issues(exc: MarkedYAMLError, text: str, lines: _Lines, issue) -> list[ConfigIssue]:
    """YAML's own message, unless a typing slip on the lines it is about explains it better."""
    mark = exc.problem_mark or exc.context_mark
    line, col = (mark.line, mark.column) if mark else (0, 0)
    first = exc.context_mark.line if exc.context_mark else max(line - 1, 0)
    slips = [i for i in _typing_slips(text, lines, issue) if first + 1 <= i.line <= line + 1]
    if slips:
        return slips
    problem: Phrase | str = shown(exc.problem or exc.context, 200) if exc.problem or exc.context else \
        phrase(N_("invalid YAML"))
    if "duplicate key" in (exc.problem or ""):
        problem = phrase(N_("duplicate key: {key}"), key=shown(exc.problem.split("duplicate key")[-1].strip(), 194))
    return [issue(line, col, (), phrase(YAML_SYNTAX, problem=problem))]


def _plain(node: Any, loc: Loc, issues: list[ConfigIssue], issue) -> Any:
    """The ruamel tree as dicts and lists; a key that is not text is an issue at the key."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if not isinstance(key, str):
                holder = _holder(node, key) if isinstance(node, CommentedMap) else None
                line, col = holder.lc.key(key) if holder is not None else _Positions(node).find(())
                found = phrase(N_("nothing (null)")) if key is None else \
                    phrase(N_("{kind} {value}"), kind=_a(key), value=shown(_as_data(key)))
                issues.append(issue(line, col, loc, phrase(N_("a key must be text, not {found}"), found=found)))
                continue
            out[key] = _plain(value, (*loc, key), issues, issue)
        return out
    if isinstance(node, list):
        return [_plain(v, (*loc, i), issues, issue) for i, v in enumerate(node)]
    return node


def _a(value: Any) -> Phrase:
    if isinstance(value, (list, tuple)):
        return phrase(N_("a list"))
    if isinstance(value, dict):
        return phrase(N_("a mapping"))
    name = type(value).__name__
    return phrase(N_("an {type}") if name[0] in "aeiou" else N_("a {type}"), type=name)


def _as_data(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _as_data(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_as_data(v) for v in value]
    return value


# --------------------------------------------------------------------------- typing slips

# The keys a conference file has: a slip right after one of them is certainly not text.
_KEYS = sorted({name for model in (Conference, ConferenceInfo, Venue, Award, Recipient, Segment)
                for name in model.model_fields}, key=len, reverse=True)
_KEY = "(?:" + "|".join(_KEYS) + ")"
_AT_KEY = r"(?:^[ \t\u3000]*(?:-[ \t]+)?|[{,][ \t\u3000]*)"  # where a key starts: a line, a list item, a flow entry
_ASCII_FOR = {"“": '"', "”": '"', "＂": '"', "‘": "'", "’": "'", "＇": "'", "、": ",", "【": "[", "】": "]",
              "〔": "[", "〕": "]", "—": "-", "–": "-"}
_SLIPS = [
    (re.compile(r"^[ \t]*([\u3000\u00a0\u2000-\u200a\u202f\u205f])", re.MULTILINE),
     N_("in the indentation: indent with ordinary spaces")),
    (re.compile(r"^ *(\t)", re.MULTILINE), N_("in the indentation: YAML indents with spaces only")),
    (re.compile(_AT_KEY + _KEY + r"[ \t\u3000]*(：|︰|﹕)", re.MULTILINE),
     N_("after a key: type an ASCII colon and a space, ': '")),
    (re.compile(_AT_KEY + _KEY + r"(:)(?=[^\s])", re.MULTILINE), N_("right after a key needs a space after it: 'key: value'")),
    (re.compile(r"(，|、|﹐)[ \t\u3000]*" + _KEY + r"[ \t\u3000]*[:：]", re.MULTILINE),
     N_("between entries: separate them with an ASCII comma, ','")),
    (re.compile(_KEY + r"[ \t\u3000]*[:：][ \t\u3000]*([［｛【〔])", re.MULTILINE),
     N_("opens a list or mapping: YAML needs ASCII brackets, [a, b] or {key: value}")),
    (re.compile(r"^[ \t\u3000]*(－|—|–)[ \t\u3000]", re.MULTILINE), N_("starts a list item: type an ASCII hyphen, '-'")),
]
_OPEN_QUOTE = re.compile(_KEY + r"[ \t\u3000]*[:：][ \t\u3000]*([“‘＂＇「『])(.*)$", re.MULTILINE)
_CLOSE_QUOTE = {"“": "”", "‘": "’", "＂": "＂", "＇": "＇", "「": "」", "『": "』"}


def _typing_slips(text: str, lines: _Lines, issue) -> list[ConfigIssue]:
    """Characters an input method typed where YAML needs ASCII: each named, with what to type."""
    found: dict[tuple[int, int], ConfigIssue] = {}
    for pattern, why in _SLIPS:
        for match in pattern.finditer(text):
            ch = match.group(1)
            instead = _ascii_for(ch)
            hint = phrase(N_(" ('{ascii}')"), ascii=instead) if instead and instead not in why else ""
            where = lines.at(match.start(1))
            found.setdefault(where, issue(*where, (), phrase(N_("{char} {why}{hint}"), char=describe_char(ch),
                                                             why=phrase(why), hint=hint)
                                          if ch != ":" else phrase(N_("':' {why}"), why=phrase(why))))
    for slip in _broken_quotes(text, lines, issue):
        found.setdefault((slip.line - 1, slip.col - 1), slip)
    return _in_file_order(list(found.values()))


def _broken_quotes(text: str, lines: _Lines, issue) -> list[ConfigIssue]:
    """Values opened with a full-width quote that YAML cut short: a ': ' or ' #' (or in a flow
    collection ',' or a closing bracket) comes before the closing quote."""
    found = []
    for match in _OPEN_QUOTE.finditer(text):
        quote, rest = match.group(1), match.group(2)
        inside = rest.split(_CLOSE_QUOTE[quote], 1)[0]
        line_start = lines.starts[lines.at(match.start())[0]]
        in_flow = "{" in text[line_start:match.start()] or "[" in text[line_start:match.start()]
        breakers = (": ", " #") + ((",", "}", "]") if in_flow else ())
        if any(b in inside for b in breakers):
            found.append(issue(*lines.at(match.start(1)), (), phrase(
                N_("{char} opens this value, but YAML quotes are ASCII: put the value in \"...\" "
                   "(full-width quotes may stay inside)"), char=describe_char(quote))))
    return found


def _ascii_for(ch: str) -> str | None:
    if ch in _ASCII_FOR:
        return _ASCII_FOR[ch]
    folded = unicodedata.normalize("NFKC", ch)
    return folded if folded.isascii() and folded.strip() else None


# --------------------------------------------------------------------------- structure


def _model_at(loc: Loc) -> type[BaseModel] | None:
    """The model class that owns the mapping at `loc` (for did-you-mean on unknown keys)."""
    model: type[BaseModel] | None = Conference
    for part in loc:
        if model is None or isinstance(part, int):
            continue
        field = model.model_fields.get(str(part))
        if field is None:
            return None
        ann = field.annotation
        args = getattr(ann, "__args__", ())
        candidates = [ann, *args, *(a for arg in args for a in getattr(arg, "__args__", ()))]
        model = next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)
    return model


def _venue_names(plain: dict) -> dict[str, str]:
    """{name: id} of the file's venues, as written (for a reference that names a venue rather than its id)."""
    venues = plain.get("venues")
    if not isinstance(venues, list):
        return {}
    return {v["name"]: v["id"] for v in venues
            if isinstance(v, dict) and isinstance(v.get("name"), str) and isinstance(v.get("id"), str)}


def _name_for_id(value: object, loc: Loc, names: dict[str, str]) -> Phrase | str:
    """' (did you mean 'pinghu', the id of 平湖市?)' when an id field holds (nearly) a venue's name."""
    if not isinstance(value, str) or not names or len(value) > 200 or (len(loc) == 3 and loc[0] == "venues"):
        return ""
    name = closest(value, names)
    return phrase(N_(" (did you mean '{suggestion}', the id of {name}?)"), suggestion=names[name], name=name) \
        if name else ""


def _structural_issues(exc: ValidationError, positions: _Positions, issue,
                       venue_names: dict[str, str] | None = None) -> list[ConfigIssue]:
    found: dict[tuple, ConfigIssue] = {}
    for err in exc.errors(include_url=False):
        loc: Loc = tuple(err["loc"])
        kind = err["type"]
        if kind == "missing":
            parent, name = loc[:-1], loc[-1]
            message = phrase(N_("missing required key '{key}'"), key=str(name))
            line, col = positions.find(parent)
            loc = parent
        elif kind == "extra_forbidden":
            parent, name = loc[:-1], loc[-1]
            model = _model_at(parent)
            hint = suggestion(str(name), model.model_fields) if model and len(str(name)) <= 100 else ""
            message = phrase(N_("unknown key '{key}'{hint}"), key=shown(name), hint=hint)
            line, col = positions.find(loc, key=True)
            loc = parent
        elif kind == "literal_error" and isinstance(err.get("input"), list):
            continue  # `venues: [ids]` failed as a list: the list's own errors say why
        else:
            # Unions (e.g. `venues: all-branches | [ids]`) report one error per branch,
            # with the branch name inside the loc; strip those and keep one message.
            loc = tuple(p for p in loc if not (isinstance(p, str) and ("[" in p or p.startswith("literal"))))
            message = _value_message(err)
            if kind == "slug":
                hint = _name_for_id(err.get("input"), loc, venue_names or {})
                message = phrase("{sentence}{hint}", sentence=message, hint=hint) if hint else message
            line, col = positions.find(loc)
        key = (loc, message.say()) if kind in ("missing", "extra_forbidden") else (loc,)
        found.setdefault(key, issue(line, col, loc, message))
    return list(found.values())


_EXPECTED = {"string_type": N_("text"), "list_type": N_("a list")}  # any other type error expects a mapping


def _value_message(err: ErrorDetails) -> Phrase:
    """What is wrong with a value: the models' own errors say it themselves; pydantic's
    errors by their type, or in pydantic's (English) words for a type not listed here."""
    own = said(err)
    if own is not None:
        return own
    kind, value = err["type"], err.get("input")
    if kind == "enum":
        expected = str(err.get("ctx", {}).get("expected", ""))
        return phrase(NOT_ONE_OF, value=shown(value), expected=either(re.findall(r"'([^']*)'", expected)))
    if kind == "literal_error" or (kind == "list_type" and isinstance(value, str)):
        return phrase(N_("'{value}' is not valid here: expected 'all-branches' or a list of venue ids"), value=shown(value))
    if kind == "too_short":
        return phrase(MUST_NOT_BE_EMPTY)
    if kind == "too_long":
        ctx = err.get("ctx", {})
        return phrase(N_("too many entries: {n} (the limit is {limit})"), n=ctx.get("actual_length"),
                      limit=ctx.get("max_length"))
    if kind in ("string_type", "list_type", "model_type", "dict_type", "model_attributes_type"):
        return phrase(N_("expected {expected}, found {type} '{value}'"),
                      expected=phrase(_EXPECTED.get(kind, N_("a mapping"))), type=type(value).__name__, value=shown(value))
    return phrase("{message}", message=err["msg"][0].lower() + err["msg"][1:])


# --------------------------------------------------------------------------- meaning


def _semantic_problems(conf: Conference) -> Iterable[tuple[Loc, Phrase]]:
    yield from _duplicates(("venues",), [v.id for v in conf.venues], "venue")
    yield from _duplicates(("awards",), [a.id for a in conf.awards], "award")
    yield from _duplicates(("agenda",), [s.id for s in conf.agenda], "segment")

    mains = [i for i, v in enumerate(conf.venues) if v.role is VenueRole.MAIN]
    if not mains:
        yield ("venues",), phrase(N_("no venue has role: main (exactly one is needed)"))
    for i in mains[1:]:
        first = conf.venues[mains[0]].id
        yield ("venues", i, "role"), phrase(N_("a second main venue: '{venue}' is already the main venue"), venue=first)
    main_id = conf.venues[mains[0]].id if mains else None

    refs = _References(conf)
    for a, award in enumerate(conf.awards):
        listed: dict[tuple[str, str | None], int] = {}
        for r, recipient in enumerate(award.recipients):
            entry: Loc = ("awards", a, "recipients", r)
            if recipient.venue is not None and recipient.venue not in refs.venues:
                yield (*entry, "venue"), refs.unknown("venue", recipient.venue)
            listed_at = listed.setdefault((recipient.name, recipient.venue), r)
            if listed_at != r:
                at = phrase(N_(" at '{venue}'"), venue=recipient.venue) if recipient.venue else ""
                yield (*entry, "name"), phrase(N_("'{name}'{at} is listed twice in this award (first at {first})"),
                                               name=recipient.name, at=at,
                                               first=format_loc(("awards", a, "recipients", listed_at)))

    for s, seg in enumerate(conf.agenda):
        here: Loc = ("agenda", s)
        if seg.venue is not None and seg.venue not in refs.venues:
            yield (*here, "venue"), refs.unknown("venue", seg.venue)
        if seg.venues is not None:
            if seg.kind is not SegmentKind.ROLL_CALL:
                yield (*here, "venues"), phrase(N_("only a roll_call segment lists venues (this one is {kind})"),
                                                kind=seg.kind.value)
            elif isinstance(seg.venues, list):
                if not seg.venues:
                    yield (*here, "venues"), phrase(N_("a roll call needs at least one venue"))
                yield from _duplicates((*here, "venues"), seg.venues, "venue", indexed=True)
                for v, ref in enumerate(seg.venues):
                    if ref == main_id:
                        yield (*here, "venues", v), phrase(N_("the roll call is of branch venues; '{venue}' is the main venue"),
                                                           venue=ref)
                    elif ref not in refs.venues:
                        yield (*here, "venues", v), refs.unknown("venue", ref)
        if seg.kind.is_award:
            if not seg.awards:
                yield (*here,), phrase(N_("an award segment ({kind}) needs 'awards': a list of award ids"),
                                       kind=seg.kind.value)
        elif seg.awards is not None:
            yield (*here, "awards"), phrase(N_("only award segments list awards (this one is {kind})"), kind=seg.kind.value)
        for a, ref in enumerate(seg.awards or []):
            if ref not in refs.awards:
                yield (*here, "awards", a), refs.unknown("award", ref)
        if seg.awards:
            yield from _duplicates((*here, "awards"), seg.awards, "award", indexed=True)
        yield from _control_room_problems(here, seg, refs, main_id, has_branches=bool(conf.branch_ids))


_UNKNOWN = {"venue": N_("unknown venue '{id}'{hint}"), "award": N_("unknown award '{id}'{hint}")}


class _References:
    """The ids a file defines, for its cross references: looked up in sets; a did-you-mean
    hint (which compares with every id) for the first MAX_HINTS unknown ones only."""

    def __init__(self, conf: Conference):
        self.ids = {"venue": [v.id for v in conf.venues], "award": [a.id for a in conf.awards]}
        self.venues, self.awards = set(self.ids["venue"]), set(self.ids["award"])
        self.hints = MAX_HINTS

    def unknown(self, what: str, ref: str) -> Phrase:
        self.hints -= 1
        return phrase(_UNKNOWN[what], id=ref, hint=suggestion(ref, self.ids[what]) if self.hints >= 0 else "")


def _control_room_problems(
    here: Loc, seg: Segment, refs: _References, main_id: str | None, has_branches: bool
) -> Iterable[tuple[Loc, Phrase]]:
    """Roll-call mode, site polling and the main venue's return on one agenda item."""
    is_roll_call = seg.kind is SegmentKind.ROLL_CALL
    for key in ("mode", "per_venue"):
        if getattr(seg, key) is not None and not is_roll_call:
            yield (*here, key), phrase(N_("only a roll_call segment takes '{key}' (this one is {kind})"),
                                       key=key, kind=seg.kind.value)

    def branch_list(loc: Loc, venues: list[str]) -> Iterable[tuple[Loc, Phrase]]:
        yield from _duplicates(loc, venues, "venue", indexed=True)
        for v, ref in enumerate(venues):
            if ref == main_id:
                yield (*loc, v), phrase(N_("only branch venues are listed here; '{venue}' is the main venue"), venue=ref)
            elif ref not in refs.venues:
                yield (*loc, v), refs.unknown("venue", ref)
        if not venues:
            yield loc, phrase(N_("list at least one venue (or write all-branches)"))

    def within(loc: Loc, seconds: int, bounds: tuple[int, int], what: Phrase | str) -> Iterable[tuple[Loc, Phrase]]:
        low, high = bounds
        if not low <= seconds <= high:
            yield loc, phrase(N_("{what} must be between {low} and {high} (found {found})"), what=what,
                              low=format_duration(low), high=format_duration(high), found=format_duration(seconds))

    if seg.polling is not None:
        at = (*here, "polling")
        yield from within((*at, "dwell"), seg.polling.dwell, POLLING_DWELL_RANGE_S, phrase(N_("the polling dwell")))
        if isinstance(seg.polling.venues, list):
            yield from branch_list((*at, "venues"), seg.polling.venues)
        elif not has_branches:
            yield at, phrase(N_("there are no branch venues to poll (this conference has none)"))
        if (seg.polling.target is PollingTarget.PROGRAM and is_roll_call
                and seg.roll_call_mode is RollCallMode.CALLED):
            yield (*at, "target"), phrase(N_("a called roll call puts each venue on air in turn, so it cannot poll the "
                                             "program; poll the main-return or use mode: check"))

    ret = seg.main_return
    if ret is not None:
        at = (*here, "main_return")
        allowed = {ReturnMode.PROGRAM: set(), ReturnMode.SINGLE: {"venue"},
                   ReturnMode.WALL: {"layout", "venues", "page_every"}}[ret.mode]
        for key in ("venue", "layout", "venues", "page_every"):
            if getattr(ret, key) is not None and key not in allowed:
                yield (*at, key), phrase(N_("'{key}' does not go with mode: {mode}"), key=key, mode=ret.mode.value)
        if ret.mode is ReturnMode.SINGLE:
            if ret.venue is None:
                yield at, phrase(N_("mode: single needs 'venue': the branch venue the main venue sees"))
            elif ret.venue == main_id:
                yield (*at, "venue"), phrase(N_("the main venue's return shows a branch venue; '{venue}' is the main venue"),
                                             venue=ret.venue)
            elif ret.venue not in refs.venues:
                yield (*at, "venue"), refs.unknown("venue", ret.venue)
        if ret.mode is ReturnMode.WALL:
            if ret.layout is None:
                yield at, phrase(N_("mode: wall needs 'layout': 2x2, 3x3 or 4x4"))
            if isinstance(ret.venues, list):
                yield from branch_list((*at, "venues"), ret.venues)
            if ret.page_every is not None:
                yield from within((*at, "page_every"), ret.page_every, PAGE_EVERY_RANGE_S, phrase(N_("page_every")))


_DUPLICATE = {"venue": N_("duplicate venue id '{id}' (first at {first})"),
              "award": N_("duplicate award id '{id}' (first at {first})"),
              "segment": N_("duplicate segment id '{id}' (first at {first})")}


def _duplicates(loc: Loc, ids: list[str], what: str, indexed: bool = False) -> Iterable[tuple[Loc, Phrase]]:
    first: dict[str, int] = {}
    for i, ident in enumerate(ids):
        if ident in first:
            where = (*loc, i) if indexed else (*loc, i, "id")
            yield where, phrase(_DUPLICATE[what], id=ident, first=format_loc((*loc, first[ident])))
        else:
            first[ident] = i
