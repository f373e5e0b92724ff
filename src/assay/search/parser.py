"""The filter parser: a filter string in, a validated :mod:`~assay.search.ast` tree out.

Grammar (keywords case-insensitive; entity names and keys case-sensitive)::

    filter     := or_expr EOF
    or_expr    := and_expr ( OR and_expr )*                    -- extension
    and_expr   := unary ( AND unary )*
    unary      := NOT unary | primary                          -- extension
    primary    := '(' or_expr ')' | clause                     -- parentheses: extension
    clause     := ident op value
                | ident IS [NOT] NULL
                | ident [NOT] IN '(' string ( ',' string )* ')'
    ident      := segment ( '.' segment )*                     -- the first of several is
    segment    := word | `backticked`                          -- the entity; the rest,
                | 'quoted' | "quoted" | number (after a dot)   -- joined by dots, the key
    op         := = | != | < | <= | > | >= | LIKE | ILIKE | RLIKE
    value      := 'string' | "string" | number

NOT binds tighter than AND, and AND tighter than OR. Each clause is checked against its
field's :class:`~assay.search.fields.Rule` as soon as it is read, so the first error in the
string is the one reported, with its position.
"""

from __future__ import annotations

from collections.abc import Mapping

from assay.search.ast import (
    Comparison,
    Expr,
    Field,
    Op,
    SpanField,
    SpanGroup,
    TraceField,
    Value,
    make_and,
    make_not,
    make_or,
)
from assay.search.errors import FilterError
from assay.search.fields import Ident, Rule, describe_ops, resolve_filter_field, rule_for
from assay.search.lexer import KEYWORDS, Token, tokenize
from assay.search.values import (
    bad_value,
    check_choice,
    check_number,
    check_prompt,
    check_regex,
    describe_token,
    numeric_expected,
    string_expected,
)

__all__ = ["MAX_CLAUSES", "MAX_DEPTH", "MAX_IN_VALUES", "MAX_VALUES", "TokenReader",
           "parse_filter"]

MAX_DEPTH = 32
"""How deeply parentheses and NOTs may nest (deeper filters are rejected, not recursed into)."""
MAX_CLAUSES = 200
"""The most clauses one filter may hold. Each becomes a few SQL terms, and SQLite refuses an
expression nested more than 1,000 deep (an AND chain nests one level per term); 200 leaves
room for the terms each clause adds, and PostgreSQL plans that many in well under a second."""
MAX_IN_VALUES = 1_000
"""The most values one IN or NOT IN list may hold."""
MAX_VALUES = 2_000
"""The most values in one filter, IN lists included: each is a bound parameter (some are
bound twice), and SQLite takes at most 32,766 in one statement."""

_WORD_OPS = {"LIKE": Op.LIKE, "ILIKE": Op.ILIKE, "RLIKE": Op.RLIKE, "IN": Op.IN}
_SYMBOL_OPS = {"=": Op.EQ, "!=": Op.NE, "<": Op.LT, "<=": Op.LE, ">": Op.GT, ">=": Op.GE}
_EXAMPLE = "e.g. trace.status = 'OK'"
_PROMPT = TraceField("prompt")
_KEY_KINDS = frozenset({"word", "backtick", "string"})


def parse_filter(text: str | None) -> Expr | None:
    """Parse and validate a filter string; ``None`` or a blank string gives ``None``.

    Raises:
        FilterError: the string is not a valid filter; the message says what is wrong and at
            which 0-based character position.
    """
    if text is None:
        return None
    if not isinstance(text, str):
        raise FilterError(f"filter_string must be a string, not {type(text).__name__}")
    if not text or text.isspace():
        return None
    return _Parser(text).parse()


class TokenReader:
    """A cursor over the tokens of one string, with the identifier rule shared with order_by."""

    __slots__ = ("i", "num_values", "text", "tokens")

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0
        self.num_values = 0

    def count_value(self, tok: Token) -> None:
        """Count one more value (a clause's, or an IN list item), within :data:`MAX_VALUES`."""
        self.num_values += 1
        if self.num_values > MAX_VALUES:
            raise FilterError(
                f"The filter has too many values: the one at position {tok.pos} is past the "
                f"limit of {MAX_VALUES:,} (clauses and IN list items together).",
                position=tok.pos, fragment=tok.text)

    def read_comparator(self, ident: Ident, word_ops: Mapping[str, Op], *,
                        null_tests: bool, hint: str) -> Op:
        """The comparator after ``ident``: a symbol, one of ``word_ops``, ``NOT IN``, and
        with ``null_tests`` ``IS [NOT] NULL``; ``hint`` ends the error for anything else."""
        tok = self.next()
        if tok.kind == "op":
            op = _SYMBOL_OPS.get(tok.text)
            if op is None:
                better = "=" if tok.text == "==" else "!="
                raise FilterError(f"Invalid comparator {tok.text!r} at position {tok.pos}. "
                                  f"Use {better!r}.", position=tok.pos, fragment=tok.text)
            return op
        word = tok.value if tok.kind == "word" and isinstance(tok.value, str) else ""
        known = word_ops.get(word)
        if known is not None:
            return known
        if word == "NOT":
            after = self.next()
            if after.kind == "word" and after.value == "IN":
                return Op.NOT_IN
            if after.kind == "word" and after.value in ("LIKE", "ILIKE", "RLIKE"):
                raise FilterError(
                    f"'NOT {after.value}' is not supported (position {tok.pos}); write "
                    f"NOT {ident.text} {after.value} … instead.",
                    position=tok.pos, fragment=self.text[tok.pos:after.pos + len(after.text)])
            raise self.unexpected(after, "IN after NOT")
        if word == "IS" and null_tests:
            after = self.next()
            negated = after.kind == "word" and after.value == "NOT"
            if negated:
                after = self.next()
            if after.kind != "word" or after.value != "NULL":
                raise self.unexpected(after, "NULL after IS" + (" NOT" if negated else ""))
            return Op.IS_NOT_NULL if negated else Op.IS_NULL
        raise FilterError(
            f"Expected a comparator after {ident.text!r} at position {tok.pos}, found "
            f"{describe_token(tok)}. {hint}", position=tok.pos, fragment=tok.text)

    def peek(self) -> Token:
        return self.tokens[self.i]

    def next(self) -> Token:
        tok = self.tokens[self.i]
        if tok.kind != "eof":
            self.i += 1
        return tok

    def end_of_previous(self) -> int:
        """The offset just after the last token consumed."""
        tok = self.tokens[self.i - 1] if self.i else self.tokens[0]
        return tok.pos + len(tok.text)

    def is_keyword(self, word: str) -> bool:
        tok = self.tokens[self.i]
        return tok.kind == "word" and tok.value == word

    def identifier(self) -> Ident:
        """Read ``segment ('.' segment)*`` starting at a word or backtick token."""
        tokens = self.tokens
        start = i = self.i
        first = tokens[i]
        if first.kind != "word" and first.kind != "backtick":
            raise self.unexpected(first, "a field name such as trace.status or tags.`my key`")
        i += 1
        if tokens[i].kind != ".":  # a bare attribute key
            self.i = i
            return Ident(None, _segment_text(first), first.text, first.pos, first.pos)
        names: list[str] = []
        while tokens[i].kind == ".":
            seg = tokens[i + 1]  # the eof token always follows a dot
            if not (seg.kind in _KEY_KINDS or (seg.kind == "number" and seg.text[0] != "-")):
                raise FilterError(
                    f"Expected a name after '.' at position {seg.pos}, found "
                    f"{describe_token(seg)}. Put names with special characters in backticks.",
                    position=seg.pos, fragment=seg.text)
            names.append(_segment_text(seg))
            i += 2
        self.i = i
        last = tokens[i - 1]
        text = self.text[first.pos:last.pos + len(last.text)]
        key = names[0] if len(names) == 1 else ".".join(names)
        return Ident(_segment_text(first), key, text, first.pos, tokens[start + 2].pos)

    def unexpected(self, tok: Token, expected: str) -> FilterError:
        found = describe_token(tok)
        return FilterError(f"Expected {expected} at position {tok.pos}, found {found}.",
                           position=tok.pos, fragment=tok.text)


class _Parser(TokenReader):
    __slots__ = ("depth", "num_clauses")

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.depth = 0
        self.num_clauses = 0

    def parse(self) -> Expr:
        expr = self.or_expr()
        tok = self.peek()
        if tok.kind == ")":
            raise FilterError(f"Unmatched ')' at position {tok.pos}.", position=tok.pos,
                              fragment=")")
        if tok.kind != "eof":
            raise self.unexpected(tok, "AND, OR or the end of the filter")
        return expr

    def or_expr(self) -> Expr:
        items = [self.and_expr()]
        tokens = self.tokens
        while tokens[self.i].value == "OR" and tokens[self.i].kind == "word":
            self.i += 1
            items.append(self.and_expr())
        return items[0] if len(items) == 1 else make_or(items)

    def and_expr(self) -> Expr:
        items = [self.unary()]
        tokens = self.tokens
        while tokens[self.i].value == "AND" and tokens[self.i].kind == "word":
            self.i += 1
            items.append(self.unary())
        return make_and(items)

    def unary(self) -> Expr:
        if self.is_keyword("NOT") and self.tokens[self.i + 1].kind != ".":
            self.enter(self.next())
            item = self.unary()
            self.depth -= 1
            return make_not(item)
        return self.primary()

    def primary(self) -> Expr:
        tok = self.peek()
        if tok.kind == "(":
            self.enter(self.next())
            expr = self.or_expr()
            close = self.next()
            if close.kind != ")":
                raise FilterError(
                    f"Missing ')' for the '(' at position {tok.pos}: found "
                    f"{describe_token(close)} at position {close.pos}.",
                    position=close.pos, fragment=close.text)
            self.depth -= 1
            return expr
        if tok.kind == "word" and tok.value in KEYWORDS \
                and self.tokens[self.i + 1].kind != ".":
            raise self.unexpected(tok, f"a clause ({_EXAMPLE})")
        if tok.kind not in ("word", "backtick"):
            raise self.unexpected(tok, f"a clause ({_EXAMPLE})")
        return self.clause()

    def enter(self, tok: Token) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise FilterError(
                f"The filter nests too deeply at position {tok.pos} (more than {MAX_DEPTH} "
                "levels of parentheses and NOT).", position=tok.pos, fragment=tok.text)

    def clause(self) -> Expr:
        start = self.peek()
        self.num_clauses += 1
        if self.num_clauses > MAX_CLAUSES:
            raise FilterError(
                f"The filter has too many clauses: the one at position {start.pos} is past the "
                f"limit of {MAX_CLAUSES}. Use IN ('a', 'b', ...) for alternatives of one field, "
                "or split the search.", position=start.pos, fragment=start.text)
        self.count_value(start)
        ident = self.identifier()
        field = resolve_filter_field(ident)
        rule = rule_for(field)
        op_tok = self.tokens[self.i]
        op = self.operator(ident)
        if op not in rule.ops:
            allowed = describe_ops(rule.ops)
            raise FilterError(
                f"Invalid comparator {op.value!r} for {rule.kind} {ident.text!r} at position "
                f"{op_tok.pos}. Allowed comparators: {allowed}.",
                position=op_tok.pos, fragment=self.text[op_tok.pos:self.end_of_previous()])
        value = self.value(ident, field, op, rule)
        last = self.tokens[self.i - 1]
        text = self.text[ident.pos:last.pos + len(last.text)]
        comparison = Comparison(field, op, value, ident.pos, text)
        return SpanGroup((comparison,)) if isinstance(field, SpanField) else comparison

    def operator(self, ident: Ident) -> Op:
        return self.read_comparator(
            ident, _WORD_OPS, null_tests=True,
            hint=f"Comparators: {describe_ops(frozenset(Op))}. Names with special characters "
                 "need backticks.")

    def value(self, ident: Ident, field: Field, op: Op, rule: Rule) -> Value:
        if op is Op.IS_NULL or op is Op.IS_NOT_NULL:
            return None
        tok = self.tokens[self.i]
        if tok.kind == "eof":
            raise FilterError(f"Missing value after {op.value!r} at position {tok.pos}.",
                              position=tok.pos, fragment="")
        self.i += 1
        if op is Op.IN or op is Op.NOT_IN:
            return self.value_list(ident, op, rule, tok)
        if tok.kind == "string":
            assert isinstance(tok.value, str)
            if op in rule.number_ops:
                raise numeric_expected(ident, op, rule, tok)
            if op is Op.EQ or op is Op.NE:
                check_choice(ident, rule, tok.value, tok)
            if field == _PROMPT:
                check_prompt(tok)
            elif op is Op.RLIKE:
                check_regex(tok)
            return tok.value
        if tok.kind == "number":
            if op not in rule.number_ops:
                raise string_expected(ident, op, rule, tok)
            return check_number(tok)
        if tok.kind == "(":
            raise FilterError(
                f"A list of values at position {tok.pos} needs IN or NOT IN, not "
                f"{op.value!r}.", position=tok.pos, fragment="(")
        raise bad_value(ident, op, rule, tok)

    def value_list(self, ident: Ident, op: Op, rule: Rule, tok: Token) -> tuple[str, ...]:
        if tok.kind != "(":
            raise FilterError(
                f"{op.value} at position {tok.pos} needs a parenthesized list of quoted "
                f"strings, e.g. {op.value} ('a', 'b'); found {describe_token(tok)}.",
                position=tok.pos, fragment=tok.text)
        if self.peek().kind == ")":
            close = self.next()
            raise FilterError(
                f"Empty {op.value} list at position {tok.pos}: give at least one quoted value.",
                position=tok.pos, fragment=self.text[tok.pos:close.pos + 1])
        values: list[str] = []
        while True:
            item = self.next()
            if item.kind != "string":
                if item.kind == "number":
                    raise FilterError(
                        f"{op.value} lists take quoted strings: write '{item.text}' instead of "
                        f"{item.text} at position {item.pos}.",
                        position=item.pos, fragment=item.text)
                raise bad_value(ident, op, rule, item)
            assert isinstance(item.value, str)
            check_choice(ident, rule, item.value, item)
            if len(values) >= MAX_IN_VALUES:
                raise FilterError(
                    f"The {op.value} list at position {tok.pos} has too many values: more "
                    f"than {MAX_IN_VALUES:,}.", position=item.pos, fragment=item.text)
            if values:
                self.count_value(item)
            values.append(item.value)
            sep = self.next()
            if sep.kind == ")":
                return tuple(values)
            if sep.kind != ",":
                raise self.unexpected(sep, f"',' or ')' in the {op.value} list")


def _segment_text(tok: Token) -> str:
    if tok.kind in ("backtick", "string"):
        assert isinstance(tok.value, str)
        return tok.value
    return tok.text
