"""The tokenizer of the filter language: text in, a list of positioned tokens out.

Token kinds:

* ``word``: a bare word (``trace``, ``status``, ``AND``, ``like``); ``value`` is the word in
  upper case, since keywords are words the parser recognises case-insensitively.
* ``backtick``: a backticked name, ``value`` without the backticks (a doubled backtick stands
  for one).
* ``string``: a single- or double-quoted string, ``value`` unescaped. Inside quotes a
  backslash escapes a quote character (either kind) or another backslash, and a doubled quote
  character stands for one; any other backslash is kept as written, so LIKE escapes such as
  ``\\%`` reach the compiler intact.
* ``number``: an unquoted integer or float, optionally negative (``-5``, ``0.25``, ``1e3``);
  ``value`` is an ``int`` or a ``float``.
* ``op``: ``= != < <= > >=`` (and ``==`` / ``<>``, which the parser rejects with a hint).
* ``(``, ``)``, ``,``, ``.``, and ``eof`` at the end.

A ``;`` outside quotes is an error here: the language has one statement.
"""

from __future__ import annotations

import re
from typing import Literal, NamedTuple, NoReturn, TypeAlias

from assay.search.errors import FilterError

__all__ = ["KEYWORDS", "MAX_FILTER_CHARS", "Token", "TokenKind", "tokenize"]

TokenKind: TypeAlias = Literal[
    "word", "backtick", "string", "number", "op", "(", ")", ",", ".", "eof",
]


class Token(NamedTuple):
    """One token: its kind, its text as written, its offset, and its decoded value."""

    kind: TokenKind
    text: str
    pos: int
    value: str | int | float | None = None


#: The longest filter string, in characters. Hand-written filters are a few hundred
#: characters; generated ones (a list of a thousand trace ids) fit in a few tens of
#: thousands. 64 KiB also keeps a filter within what a URL query string can carry.
MAX_FILTER_CHARS = 65_536
#: The keywords of the language (a ``word`` token's value): a name spelled like one is
#: written in backticks.
KEYWORDS = frozenset({"AND", "OR", "NOT", "IN", "IS", "NULL", "LIKE", "ILIKE", "RLIKE"})

# One alternation, scanned with finditer so the loop over characters runs in C. Leading
# whitespace is part of each match; ``bad`` catches any character that starts no token.
#
# Quoted strings and backticked names are "unrolled loops" with possessive quantifiers: a
# run of ordinary characters is one step, and an escape or a doubled quote starts the next.
# Written as a repeated group of one character each, ``(?:[^']|'')*``, the regular
# expression engine keeps a backtracking entry per character, about 200 bytes each: a
# 10 MB string then took 2 GB. Possessive steps keep nothing to backtrack into.
_TOKEN = re.compile(
    r"""
    \s*(?:
      (?P<number>-?[0-9]+(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?(?!\w))
    | (?P<word>\w+)
    | (?P<string>'[^'\\]*+(?:(?:\\.|'')[^'\\]*+)*+'|"[^"\\]*+(?:(?:\\.|"")[^"\\]*+)*+")
    | (?P<backtick>`[^`]*+(?:``[^`]*+)*+`)
    | (?P<op>!=|<>|==|<=|>=|=|<|>)
    | (?P<punct>[(),.])
    | (?P<bad>\S)
    )
    """,
    re.VERBOSE | re.DOTALL,
)

_NUMBER, _WORD, _STRING, _BACKTICK, _OP, _PUNCT = (
    _TOKEN.groupindex[name] for name in ("number", "word", "string", "backtick", "op", "punct"))

# Inside quotes: \' \" \\ and a doubled quote of the enclosing kind decode to one character.
_SINGLE_ESCAPES = re.compile(r"""\\(['"\\])|''""")
_DOUBLE_ESCAPES = re.compile(r"""\\(['"\\])|\"\"""")


def _unescape_single(m: re.Match[str]) -> str:
    return m.group(1) or "'"


def _unescape_double(m: re.Match[str]) -> str:
    return m.group(1) or '"'


def decode_string(literal: str) -> str:
    """The value of a quoted string literal, quotes included in ``literal``."""
    body = literal[1:-1]
    if "\\" not in body and literal[0] * 2 not in body:
        return body
    if literal[0] == "'":
        return _SINGLE_ESCAPES.sub(_unescape_single, body)
    return _DOUBLE_ESCAPES.sub(_unescape_double, body)


def tokenize(text: str) -> list[Token]:
    """Split ``text`` into tokens, ending with an ``eof`` token at ``len(text)``.

    A ``word`` token's ``value`` is its text in upper case, for keyword checks.

    Raises:
        FilterError: an unterminated string or backtick, a ``;``, a NUL character or a lone
            surrogate, a character that starts no token, or a text longer than
            :data:`MAX_FILTER_CHARS`.
    """
    if len(text) > MAX_FILTER_CHARS:
        raise FilterError(
            f"The filter is too long: {len(text):,} characters, over the limit of "
            f"{MAX_FILTER_CHARS:,}. Split the search, or select fewer values per IN list.",
            position=MAX_FILTER_CHARS, fragment=None)
    if "\x00" in text:
        pos = text.index("\x00")
        raise FilterError(f"NUL character (\\x00) at position {pos}: databases cannot store it.",
                          position=pos, fragment="\x00")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise FilterError(f"Invalid character {text[e.start]!r} at position {e.start}: not "
                          "valid Unicode text (a lone surrogate).", position=e.start,
                          fragment=text[e.start]) from None
    tokens: list[Token] = []
    append = tokens.append
    new = tuple.__new__  # Token(...) runs Python code; this does not
    for m in _TOKEN.finditer(text):
        group = m.lastindex  # numbered groups are faster than named ones here
        raw = m.group(group)  # type: ignore[arg-type]  # every branch is a group: never None
        pos = m.start(group)  # type: ignore[arg-type]
        if group == _WORD:
            append(new(Token, ("word", raw, pos, raw.upper())))
        elif group == _PUNCT:
            append(new(Token, (raw, raw, pos, None)))
        elif group == _STRING:
            append(new(Token, ("string", raw, pos, decode_string(raw))))
        elif group == _OP:
            append(new(Token, ("op", raw, pos, raw)))
        elif group == _NUMBER:
            number: int | float = (float(raw) if "." in raw or "e" in raw or "E" in raw
                                   else int(raw))
            append(new(Token, ("number", raw, pos, number)))
        elif group == _BACKTICK:
            if len(raw) == 2:
                raise FilterError(f"Empty backticked name at position {pos}.",
                                  position=pos, fragment="``")
            append(new(Token, ("backtick", raw, pos, raw[1:-1].replace("``", "`"))))
        else:
            _fail_at(text, pos)
    append(Token("eof", "", len(text)))
    return tokens


def _fail_at(text: str, pos: int) -> NoReturn:
    char = text[pos]
    if char == ";":
        raise FilterError(
            f"Multiple statements are not allowed: found ';' at position {pos}. "
            "A filter is one expression; join clauses with AND or OR.",
            position=pos, fragment=";")
    if char in "'\"":
        raise FilterError(
            f"Unterminated string starting at position {pos}: {_excerpt(text, pos)}. "
            f"Close it with {char}, and write a {char} inside it as \\{char} or {char * 2}.",
            position=pos, fragment=text[pos:])
    if char == "`":
        if text.startswith("``", pos):
            raise FilterError(f"Empty backticked name at position {pos}.",
                              position=pos, fragment="``")
        raise FilterError(
            f"Unterminated backtick starting at position {pos}: {_excerpt(text, pos)}. "
            "Close the name with `.",
            position=pos, fragment=text[pos:])
    raise FilterError(
        f"Unexpected character {char!r} at position {pos}. Names with special characters "
        "need backticks (tags.`my-key`) and string values need quotes ('value').",
        position=pos, fragment=char)


def _excerpt(text: str, pos: int, width: int = 30) -> str:
    piece = text[pos:pos + width]
    return repr(piece + "…" if len(text) - pos > width else piece)
