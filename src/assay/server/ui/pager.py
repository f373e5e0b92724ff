"""The pager of the traces table: "51-100 of 12,345", Prev and Next, and a few page links.

Pages are read with keyset cursors (Next carries the cursor of the page after this one).
A page link without a cursor is a *jump*: the store finds the cursor of that page by
skipping the traces before it, which is bounded (:data:`~assay.store.checks.MAX_TRACE_OFFSET`
traces, the same as the count's cap). So a page is linked by its number only when it starts
within the first 10,000 traces; further pages are reached with Next, and "Last" is shown only
when the count is exact (then the last page starts within the cap too). Prev is a jump to the
page before, so deep pages reached by Next have no Prev (the browser's Back still works).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from assay.entities.overview import TraceCount
from assay.server.ui.trace_view import TraceView
from assay.store.checks import MAX_TRACE_OFFSET

__all__ = ["COUNT_CAP", "WINDOW", "Pager", "jump_offset", "last_page", "pager"]

#: The most traces the page counts: beyond, it shows "10,000+".
COUNT_CAP = MAX_TRACE_OFFSET
#: Page links shown on each side of the current page.
WINDOW = 2


@dataclass(frozen=True)
class Pager:
    """What the pager shows (all URLs are views of the same search).

    Attributes:
        number: this page's number (None: not known, a cursor from an older link).
        first_row, last_row: the rows of this page, counted from 1 (None with no number).
        count: the matching traces (None: not counted); ``capped`` when more match.
        last_page: the number of the last page when the count is exact.
        links: page numbers and their URLs, in order; None between two of them is a gap.
    """

    number: int | None
    first_row: int | None
    last_row: int | None
    count: int | None
    capped: bool
    last_page: int | None
    prev_url: str | None
    next_url: str | None
    first_url: str | None
    last_url: str | None
    links: list[dict[str, Any] | None]


def jump_offset(number: int, page_size: int) -> int | None:
    """The traces before page ``number``, if a jump may skip them (None: too deep)."""
    offset = (number - 1) * page_size
    return offset if offset <= MAX_TRACE_OFFSET else None


def last_page(count: TraceCount | None, page_size: int) -> int | None:
    """The number of the last page, when the count is exact (1 with no trace)."""
    if count is None or count.capped:
        return None
    return max(1, -(-count.count // page_size))


def pager(view: TraceView, number: int | None, shown: int, count: TraceCount | None,
          next_token: str | None) -> Pager:
    """The pager of page ``number`` of ``view``, which shows ``shown`` traces."""
    size = view.page_size
    last = last_page(count, size)
    reachable = MAX_TRACE_OFFSET // size + 1  # the deepest page a jump reaches
    if last is not None:
        reachable = min(reachable, last)
    elif count is None and number is not None:  # not counted: only the next page is known
        reachable = min(reachable, number + 1 if next_token else number)

    def url(n: int) -> str:
        return view.url(number=n) if n > 1 else view.url()

    next_url = view.url(page=next_token, number=number + 1 if number else 0) \
        if next_token else None
    if number is None:
        return Pager(None, None, None, count.count if count else None,
                     bool(count and count.capped), last, None, next_url,
                     view.url() if view.page else None, None, [])
    links: list[dict[str, Any] | None] = []
    wanted = sorted({1, *range(number - WINDOW, number + WINDOW + 1), *([last] if last else [])})
    for n in wanted:
        if n < 1 or (n > reachable and n != number):
            continue
        if links and links[-1] is not None and n > links[-1]["number"] + 1:
            links.append(None)
        links.append({"number": n, "url": url(n), "current": n == number})
    if last is None and next_url:
        links.append(None)  # more pages than the links show
    first_row = (number - 1) * size + 1 if shown else None
    return Pager(
        number=number, first_row=first_row,
        last_row=first_row + shown - 1 if first_row is not None else None,
        count=count.count if count else None, capped=bool(count and count.capped),
        last_page=last,
        prev_url=url(number - 1) if 1 < number <= reachable + 1 else None,
        next_url=next_url,
        first_url=url(1) if number > 1 else None,
        last_url=url(last) if last and number < last else None,
        links=links)
