"""Checks of a clause's value against its field's rule, and the messages when it fails.

Each function takes the token of the value (so errors carry its position and text) and
either returns the checked value, returns the :class:`FilterError` to raise, or raises it.
"""

from __future__ import annotations

import math

from assay.search.ast import Op
from assay.search.errors import FilterError
from assay.search.fields import Ident, Rule, describe_ops
from assay.search.lexer import Token
from assay.search.regex import pattern_problem

__all__ = [
    "bad_value",
    "check_choice",
    "check_number",
    "check_prompt",
    "check_regex",
    "describe_token",
    "numeric_expected",
    "string_expected",
]

_INT64 = 2**63 - 1


def describe_token(tok: Token) -> str:
    """How messages show a token: its text quoted, or "the end of the filter"."""
    return "the end of the filter" if tok.kind == "eof" else repr(tok.text)


def check_number(tok: Token) -> int | float:
    """The value of a number token, which must fit a 64-bit integer or be a finite float."""
    value = tok.value
    assert isinstance(value, (int, float))
    if (isinstance(value, int) and abs(value) > _INT64) or not math.isfinite(value):
        raise FilterError(f"Number out of range at position {tok.pos}: {tok.text}.",
                          position=tok.pos, fragment=tok.text)
    return value


def check_choice(ident: Ident, rule: Rule, value: str, tok: Token) -> None:
    """Reject a value outside the field's choices (trace and span status)."""
    if rule.choices and value not in rule.choices:
        raise FilterError(
            f"Invalid {rule.choices_label} {value!r} for {ident.text!r} at position {tok.pos}. "
            f"Valid values are {', '.join(rule.choices)} (case-sensitive).", position=tok.pos,
            fragment=tok.text)


def check_regex(tok: Token) -> None:
    """Reject an RLIKE pattern outside the syntax both databases read alike (see
    :mod:`assay.search.regex`): malformed, too long, or using what only one of them has."""
    assert isinstance(tok.value, str)
    found = pattern_problem(tok.value)
    if found is not None:
        problem, offset = found
        shown = tok.text if len(tok.text) <= 80 else tok.text[:80] + "…"
        raise FilterError(
            f"Invalid regular expression {shown} at position {tok.pos}: {problem} (at "
            f"character {offset} of the pattern). RLIKE takes the common syntax of RE2 and "
            "PostgreSQL: no back-references, look-around or \\b.",
            position=tok.pos, fragment=tok.text)


def check_prompt(tok: Token) -> None:
    """Reject a ``trace.prompt`` value that is not ``name/version``."""
    assert isinstance(tok.value, str)
    name, slash, version = tok.value.rpartition("/")
    if not (slash and name and version):
        raise FilterError(
            f"Invalid prompt {tok.text} at position {tok.pos}: expected 'name/version', e.g. "
            "'my-prompt/3'.", position=tok.pos, fragment=tok.text)


def numeric_expected(ident: Ident, op: Op, rule: Rule, tok: Token) -> FilterError:
    """The error for a quoted value where an unquoted number belongs."""
    if rule.kind == "assessment":
        return FilterError(
            f"Expected a numeric value for {ident.text!r} with comparator {op.value!r} at "
            f"position {tok.pos}. Got the quoted value {tok.text}; numbers are unquoted.",
            position=tok.pos, fragment=tok.text)
    return FilterError(
        f"{ident.text!r} is numeric (milliseconds): compare it with an unquoted number, not "
        f"the string {tok.text} at position {tok.pos}.", position=tok.pos, fragment=tok.text)


def string_expected(ident: Ident, op: Op, rule: Rule, tok: Token) -> FilterError:
    """The error for a number where a quoted string belongs."""
    if rule.number_ops:  # assessments: numbers only with < <= > >=
        hint = (f"With {op.value!r} the value is compared as text, so quote it: '{tok.text}'. "
                f"Unquoted numbers work with {describe_ops(rule.number_ops)}.")
    else:
        hint = f"Quote it: '{tok.text}'."
    return FilterError(
        f"{rule.kind.capitalize()} {ident.text!r} takes a quoted string with {op.value!r}, "
        f"but got the number {tok.text} at position {tok.pos}. {hint}",
        position=tok.pos, fragment=tok.text)


def bad_value(ident: Ident, op: Op, rule: Rule, tok: Token) -> FilterError:
    """The error for a token that is no value at all (a bare word, a backtick, …)."""
    if tok.kind == "word":
        if tok.value == "NULL":
            return FilterError(
                f"Compare with NULL using IS NULL or IS NOT NULL, not {op.value!r} "
                f"(position {tok.pos}).", position=tok.pos, fragment=tok.text)
        if op in rule.number_ops:
            return FilterError(
                f"Expected a number for {ident.text!r} at position {tok.pos}, found "
                f"{tok.text!r}.", position=tok.pos, fragment=tok.text)
        return FilterError(
            f"Value {tok.text!r} at position {tok.pos} is not quoted. Put string values in "
            f"single or double quotes, e.g. '{tok.text}'.", position=tok.pos,
            fragment=tok.text)
    if tok.kind == "backtick":
        return FilterError(
            f"Backticks are for names, not values (position {tok.pos}). Quote values with "
            f"' or \", e.g. '{tok.value}'.", position=tok.pos, fragment=tok.text)
    return FilterError(f"Expected a value after {op.value!r} at position {tok.pos}, found "
                       f"{describe_token(tok)}.", position=tok.pos, fragment=tok.text)
