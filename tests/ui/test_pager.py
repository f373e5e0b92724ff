"""The traces table's pager without a server: which page links it offers, when Prev and
Last exist, and how a capped count or a deep page limits the jumps."""

from __future__ import annotations

from assay.entities.overview import TraceCount
from assay.server.ui.pager import jump_offset, last_page, pager
from assay.server.ui.trace_view import TraceView
from assay.store.checks import MAX_TRACE_OFFSET


def _numbers(links: list[dict[str, object] | None]) -> list[object]:
    return [link and link["number"] for link in links]


def test_jumps_reach_the_first_ten_thousand_traces() -> None:
    assert jump_offset(1, 50) == 0
    assert jump_offset(201, 50) == MAX_TRACE_OFFSET
    assert jump_offset(202, 50) is None
    assert last_page(TraceCount(0, False), 50) == 1
    assert last_page(TraceCount(101, False), 50) == 3
    assert last_page(TraceCount(10_000, True), 50) is None
    assert last_page(None, 50) is None


def test_a_capped_count_has_no_last_page_and_links_up_to_the_reach() -> None:
    view = TraceView("7")
    first = pager(view, 1, 50, TraceCount(10_000, True), "tok")
    assert (first.count, first.capped, first.last_page, first.last_url) == (
        10_000, True, None, None)
    assert _numbers(first.links) == [1, 2, 3, None]
    assert first.next_url == "/experiments/7?p=2&page=tok"
    near_end = pager(view, 200, 50, TraceCount(10_000, True), "tok")
    assert _numbers(near_end.links) == [1, None, 198, 199, 200, 201, None]
    assert near_end.prev_url == "/experiments/7?p=199"
    # Reached by Next beyond the jumps' reach: the page keeps its number, no Prev.
    deep = pager(view, 250, 50, TraceCount(10_000, True), "tok")
    assert _numbers(deep.links) == [1, None, 250, None]
    assert deep.prev_url is None and deep.first_url == "/experiments/7"
    assert (deep.first_row, deep.last_row) == (12_451, 12_500)


def test_an_exact_count_links_the_last_page() -> None:
    view = TraceView("7", page_size=25, user="ann")
    middle = pager(view, 6, 25, TraceCount(400, False), "tok")
    assert _numbers(middle.links) == [1, None, 4, 5, 6, 7, 8, None, 16]
    assert middle.last_url == "/experiments/7?user=ann&n=25&p=16"
    assert middle.prev_url == "/experiments/7?user=ann&n=25&p=5"
    last = pager(view, 16, 25, TraceCount(400, False), None)
    assert (last.first_row, last.last_row, last.next_url, last.last_url) == (
        376, 400, None, None)
    two = pager(view, 2, 25, TraceCount(30, False), None)
    assert _numbers(two.links) == [1, 2] and two.prev_url == "/experiments/7?user=ann&n=25"


def test_an_unknown_number_shows_first_and_next_only() -> None:
    view = TraceView("7", page="cursor")
    found = pager(view, None, 50, TraceCount(120, False), "tok")
    assert found.links == [] and found.prev_url is None and found.first_row is None
    assert found.first_url == "/experiments/7"
    assert found.next_url == "/experiments/7?page=tok"
