"""``order_by`` entries: ``"<field> [ASC|DESC]"`` parsed into :class:`OrderKey` values.

Fields are trace attributes (``timestamp_ms``/``timestamp``, ``execution_time_ms``/
``execution_time``, ``end_time_ms``/``end_time``, ``status``, ``request_id``/``trace_id``,
``experiment_id``, ``name``, ``run_id``, ``client_request_id``, ``session_id``, ``user_id``,
with or without a ``trace.``/``attributes.`` prefix), ``tags.<key>``, ``metadata.<key>``
(reserved session, user and name keys use their columns) and, as an Assay extension,
``feedback.<name>`` (the numeric value of the trace's valid feedback of that name).
ASC and DESC are case-insensitive; ASC is the default. NULLs sort last in both directions.

The default order and the tie-breakers that make keyset paging stable come from
:func:`with_tie_breakers`: ``timestamp_ms DESC`` then ``trace_id ASC``.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from assay.search.ast import AssessmentField, MetadataField, TagField, TraceField
from assay.search.errors import FilterError
from assay.search.fields import resolve_order_field
from assay.search.parser import TokenReader

__all__ = ["DEFAULT_ORDER_BY", "OrderKey", "parse_order_by", "with_tie_breakers"]


@dataclass(frozen=True, slots=True)
class OrderKey:
    """One sort key: a resolved field and its direction (NULLs always sort last)."""

    field: TraceField | TagField | MetadataField | AssessmentField
    ascending: bool = True


DEFAULT_ORDER_BY: tuple[OrderKey, ...] = (
    OrderKey(TraceField("timestamp_ms"), ascending=False),
    OrderKey(TraceField("trace_id"), ascending=True),
)
"""MLflow's default order, which is also the tie-breaker appended to any other order."""


def parse_order_by(items: Sequence[str] | None) -> list[OrderKey]:
    """Parse ``order_by`` entries; ``None`` or an empty list gives ``[]``.

    Raises:
        FilterError: an entry that is not a string, is empty, names an unknown or unorderable
            field, has something other than ASC/DESC after the field, or repeats a field
            (aliases count: ``timestamp`` repeats ``timestamp_ms``).
    """
    return parse_order_items(items, _parse_item, "timestamp_ms DESC")


class _Keyed(Protocol):
    @property
    def field(self) -> Hashable: ...


K = TypeVar("K", bound=_Keyed)


def parse_order_items(items: Sequence[str] | None, parse_item: Callable[[object, int], K],
                      example: str) -> list[K]:
    """Each ``order_by`` entry parsed by ``parse_item(item, index)``, refusing a plain string
    and a field ordered twice (what the traces', runs' and other orders share)."""
    if items is None:
        return []
    if isinstance(items, str):
        raise FilterError(f"order_by must be a list of strings, e.g. [{example!r}], "
                          f"not the string {items!r}.")
    keys: list[K] = []
    seen: dict[Hashable, str] = {}
    for index, item in enumerate(items):
        key = parse_item(item, index)
        if key.field in seen:
            raise FilterError(
                f"`order_by` contains duplicate fields: {item!r} (entry {index}) orders by the "
                f"same field as {seen[key.field]!r}.", fragment=str(item))
        seen[key.field] = str(item)
        keys.append(key)
    return keys


def with_tie_breakers(keys: Sequence[OrderKey]) -> list[OrderKey]:
    """``keys`` followed by ``timestamp_ms DESC`` and ``trace_id ASC`` where not already there.

    With no keys this is the default order. Ending in the unique ``trace_id`` makes the order
    total, which keyset (cursor) paging needs.
    """
    out = list(keys)
    fields = {k.field for k in out}
    out.extend(k for k in DEFAULT_ORDER_BY if k.field not in fields)
    return out


def _parse_item(item: object, index: int) -> OrderKey:
    if not isinstance(item, str):
        raise FilterError(f"order_by entry {index} must be a string, not "
                          f"{type(item).__name__}.")
    try:
        reader = TokenReader(item)
        tok = reader.peek()
        if tok.kind == "eof":
            raise FilterError("Empty order_by entry: expected a field such as "
                              "'timestamp_ms DESC'.", position=0, fragment=item)
        field = resolve_order_field(reader.identifier())
        ascending = True
        tok = reader.next()
        if tok.kind == "word" and tok.text.upper() in ("ASC", "DESC"):
            ascending = tok.text.upper() == "ASC"
            tok = reader.next()
        if tok.kind != "eof":
            raise reader.unexpected(tok, "ASC, DESC or the end of the entry")
    except FilterError as e:
        raise FilterError(f"Invalid order_by entry {item!r}: {e.message}",
                          position=e.position, fragment=e.fragment) from None
    return OrderKey(field, ascending)
