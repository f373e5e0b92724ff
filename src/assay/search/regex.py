"""RLIKE's regular expressions: the syntax both databases read alike, checked and compiled.

SQLite has no regular expressions of its own; the store gives it RE2 (``google-re2``),
which matches in time linear in the text, whatever the pattern, so no pattern can stall a
search. PostgreSQL uses its own (POSIX "advanced") regular expressions. A pattern means the
same on both when it keeps to their common ground, which is what RLIKE accepts:

* literal characters, ``.`` (any character, newline included), ``^`` and ``$`` (start
  and end of the value), ``|`` and groups ``( )`` / ``(?: )``;
* bracket expressions ``[abc]``, ``[^a-z]``, POSIX classes ``[[:alpha:]]``;
* quantifiers ``* + ?`` and bounds ``{m}``, ``{m,}``, ``{m,n}`` with m, n up to 255 (lazy
  forms such as ``*?`` are accepted; RLIKE only asks whether there is a match, so
  laziness changes nothing);
* the escapes ``\\d \\D \\s \\S \\w \\W`` (ASCII digits, whitespace and word characters on
  SQLite; PostgreSQL also counts the letters and digits of other scripts that its locale
  knows), ``\\n \\t \\r \\f \\v``, and a backslash before any punctuation character;
* ``(?i)`` at the very start: ignore case.

Anything else is refused with a :class:`~assay.search.errors.FilterError` rather than left
to mean different things: back-references, look-ahead and look-behind (RE2 cannot run
them in linear time), word boundaries (``\\b`` is a backspace to PostgreSQL), other
escapes and ``(?`` groups, and patterns longer than :data:`MAX_REGEX_CHARS`.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import re2  # type: ignore[import-untyped]  # google-re2 ships no type information

__all__ = ["MAX_REGEX_CHARS", "pattern_problem", "regex_search"]

#: The longest RLIKE pattern, in characters: hand-written patterns are far shorter, and
#: compiling is linear in the pattern's length (with bounds, in its expanded length).
MAX_REGEX_CHARS = 1_000
#: The largest bound ``{m,n}``: PostgreSQL refuses more than 255 (RE2 allows 1,000).
MAX_REGEX_REPEAT = 255

_ESCAPES = frozenset("dDsSwWntrfv")
# A bound: "{" digits, optionally "," and digits, "}". PostgreSQL reads "{" followed by a
# digit as the start of one, and refuses it if it is malformed; RE2 would read it as text.
_BOUND = re.compile(r"\{([0-9]+)(,([0-9]*))?\}")


def pattern_problem(pattern: str) -> tuple[str, int] | None:
    """What keeps ``pattern`` out of RLIKE's common ground (see the module docstring) and
    the 0-based offset in the pattern where it is, or None if the pattern is accepted."""
    if len(pattern) > MAX_REGEX_CHARS:
        return f"longer than {MAX_REGEX_CHARS:,} characters", MAX_REGEX_CHARS
    i = 4 if pattern.startswith("(?i)") else 0
    n = len(pattern)
    in_brackets = False
    while i < n:
        char = pattern[i]
        if char == "\\":
            if i + 1 >= n:
                return "a backslash at the end", i
            nxt = pattern[i + 1]
            if nxt.isalnum():
                if nxt not in _ESCAPES:
                    return _escape_problem(nxt), i
            elif not nxt.isascii() or nxt.isspace():
                return f"the escape \\{nxt!s} (escape only ASCII punctuation)", i
            i += 2
            continue
        if in_brackets:
            if char == "[" and pattern.startswith(("[:", "[.", "[="), i):
                end = pattern.find(pattern[i + 1] + "]", i + 2)
                if pattern[i + 1] != ":" or end < 0:
                    return "a collating element or equivalence class (use [:class:] only)", i
                i = end + 2
                continue
            if char == "]":
                in_brackets = False
            i += 1
            continue
        if char == "[":
            in_brackets = True
            # A "]" right after "[" or "[^" is a literal member, not the end.
            i += 2 if pattern.startswith("[^", i) else 1
            if i < n and pattern[i] == "]":
                i += 1
            continue
        if char == "(" and pattern.startswith("(?", i) and not pattern.startswith("(?:", i):
            return ("a (? group other than (?: (back-references, look-around, named groups "
                    "and flags are not supported; (?i) only at the start)"), i
        if char == "{" and i + 1 < n and pattern[i + 1].isdigit():
            bound = _BOUND.match(pattern, i)
            if bound is None:
                return "a malformed bound {m,n}", i
            numbers = [int(g) for g in (bound.group(1), bound.group(3)) if g]
            if any(number > MAX_REGEX_REPEAT for number in numbers):
                return f"a bound over {MAX_REGEX_REPEAT}", i
            i = bound.end()
            continue
        i += 1
    try:
        _compiled(pattern)
    except re2.error as exc:
        return _re2_message(exc), 0
    return None


def regex_search(pattern: str, value: str) -> bool:
    """Whether ``value`` contains a match of ``pattern`` (RE2, linear time; ``.`` matches a
    newline as on PostgreSQL). A pattern RE2 cannot compile matches nothing."""
    try:
        compiled = _compiled(pattern)
    except re2.error:
        return False
    return compiled.search(value) is not None


@functools.lru_cache(maxsize=256)
def _compiled(pattern: str) -> Any:  # re2's compiled pattern, which has no type information
    # Bounded: a search compiles its few patterns once and each row reuses them.
    return re2.compile(pattern, _OPTIONS)


def _options() -> object:
    options = re2.Options()
    options.dot_nl = True  # PostgreSQL's "." matches a newline too
    options.never_capture = True  # only "is there a match" is asked
    options.log_errors = False  # a refused pattern is reported to the caller, not logged
    return options


_OPTIONS = _options()


def _escape_problem(char: str) -> str:
    if char.isdigit():
        return f"the escape \\{char} (back-references and octal escapes are not supported)"
    if char in "bByYmM":
        return (f"the escape \\{char} (word boundaries differ between databases; use "
                "(^|[^[:alnum:]_]) and ([^[:alnum:]_]|$) instead)")
    return f"the escape \\{char} (not supported: see the RLIKE syntax)"


def _re2_message(exc: Exception) -> str:
    text = exc.args[0] if exc.args else str(exc)
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return str(text)
