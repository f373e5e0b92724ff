"""The traces table's view state: read from a query string, written back as short URLs,
turned into filters and orders; templating filters; form values; span trees."""

from __future__ import annotations

import json

import pytest

from assay.entities import Span, SpanType
from assay.entities.overview import AssessmentName, SpanOutline
from assay.errors import InvalidParameterError
from assay.search import parse_filter
from assay.server.ui.assessment_forms import data_type_of, parse_value, value_text
from assay.server.ui.span_views import chat_messages, span_tree
from assay.server.ui.templating import (
    format_duration,
    format_number,
    format_relative,
    format_time,
    pretty_json,
)
from assay.server.ui.trace_view import (
    BASE_COLUMNS,
    TraceView,
    assessment_columns,
    check_sort,
    parse_view,
    thumbs_name,
)
from factories import make_span, new_trace_id


def _outlines(spans: list[Span]) -> list[SpanOutline]:
    return [SpanOutline(s.span_id, s.parent_id, s.name, s.span_type,
                        s.status.status_code.value, s.start_time_ns, s.end_time_ns)
            for s in spans]


def test_view_round_trips_through_its_url() -> None:
    view = TraceView("7", filter="feedback.stars < 3", user="o'brien", feedback="down",
                     thumbs="correct", range="7d", sort="duration", descending=False,
                     columns=("user", "feedback:stars"), page_size=100, page="abc")
    url = view.url(page="abc")
    path, _, query = url.partition("?")
    assert path == "/experiments/7"
    from urllib.parse import parse_qs
    params = parse_qs(query)
    again = parse_view("7", {k: v[-1] for k, v in params.items()}, params["col"])
    assert again == view
    # Changing anything but the page goes back to the first page.
    assert "page=" not in view.url(user="bob")
    assert TraceView("7").url() == "/experiments/7"


def test_sort_links_flip_the_sorted_column() -> None:
    view = TraceView("1", sort="user", descending=False)
    assert view.sort_url("user") == "/experiments/1?sort=user&dir=desc"
    assert view.sort_url("time") == "/experiments/1"
    assert view.sort_url("feedback:stars") == "/experiments/1?sort=feedback%3Astars&dir=desc"
    columns = {c.key: c for c in (*BASE_COLUMNS, *assessment_columns(
        [AssessmentName("feedback", "my stars"), AssessmentName("expectation", "facts")]))}
    assert TraceView("1", sort="feedback:my stars").order_by(columns) == [
        "feedback.`my stars` DESC"]
    assert TraceView("1", sort="trace", descending=False).order_by(columns) == [
        "trace_id ASC"]
    checked = check_sort(TraceView("1", sort="expectation:facts"), columns)
    assert (checked.sort, checked.errors) == (
        "time", ("Cannot sort by 'expectation:facts'; sorted by time instead",))


def test_quick_filters_are_filter_language_that_parses() -> None:
    view = TraceView("1", user="a'b", session="s 1", feedback="down", thumbs="odd name")
    text = view.quick_filter(["thumbs", "odd name"], "trace.timestamp_ms >= 5")
    assert text == ("trace.user_id = 'a''b' AND trace.session_id = 's 1' AND "
                    "feedback.`odd name` = 'false' AND trace.timestamp_ms >= 5")
    parse_filter(text)
    # The thumbs filters look at one name: the one asked for, else user_feedback, else the
    # first; never every yes/no feedback at once.
    names = ["correct", "user_feedback"]
    assert TraceView("1", feedback="up").quick_filter(names, None) == \
        "feedback.user_feedback = 'true'"
    assert TraceView("1", feedback="up", thumbs="correct").quick_filter(names, None) == \
        "feedback.correct = 'true'"
    assert TraceView("1", feedback="down", thumbs="gone").quick_filter(["a", "b"], None) == \
        "feedback.a = 'false'"
    assert thumbs_name("", []) is None
    # "on" only goes into URLs with a thumbs filter.
    assert TraceView("1", feedback="any", thumbs="correct").url() == "/experiments/1?feedback=any"
    assert TraceView("1", feedback="none").quick_filter(["t"], None) == \
        "NOT feedback.t IS NOT NULL"
    # No feedback names: "with feedback" matches nothing, "without" everything.
    assert TraceView("1", feedback="any").matches_nothing([])
    assert not TraceView("1", feedback="none").matches_nothing([])
    assert TraceView("1", feedback="none").quick_filter([], None) is None
    assert not TraceView("1", feedback="any").matches_nothing(["t"])


def test_parse_view_resets_what_makes_no_sense() -> None:
    view = parse_view("1", {"n": "abc", "feedback": "x", "dir": "up", "filter": "a" * 5000},
                      [])
    assert (view.page_size, view.feedback, view.descending, view.filter) == (50, "", True, "")
    assert len(view.errors) == 4


@pytest.mark.parametrize(("data_type", "text", "value"), [
    ("boolean", "Yes", True), ("boolean", " false ", False), ("number", "4", 4),
    ("number", "0.75", 0.75), ("string", "  keep spaces ", "  keep spaces "),
    ("json", '{"a": [1, 2]}', {"a": [1, 2]}), ("json", '"text"', "text"),
])
def test_form_values_parse_by_data_type(data_type: str, text: str, value: object) -> None:
    parsed = parse_value(data_type, text)
    assert parsed == value and type(parsed) is type(value)
    assert parse_value(data_type_of(parsed), value_text(parsed)) == parsed


@pytest.mark.parametrize(("data_type", "text"), [
    ("number", "nan"), ("number", "inf"), ("boolean", ""), ("string", "   "),
    ("json", "{"), ("date", "x")])
def test_bad_form_values_name_the_problem(data_type: str, text: str) -> None:
    with pytest.raises(InvalidParameterError, match="Invalid"):
        parse_value(data_type, text)


def test_templating_filters() -> None:
    assert format_time(1_735_689_600_000) == "2025-01-01 00:00:00 UTC"
    now = 1_735_689_600_000
    assert format_relative(now - 10_000, now) == "just now"
    assert format_relative(now - 5 * 60_000, now) == "5 min ago"
    assert format_relative(now - 3 * 3_600_000, now) == "3 h ago"
    assert format_relative(now - 86_400_000, now) == "1 day ago"
    assert format_relative(now - 90 * 86_400_000, now) == "2024-10-03"
    assert [format_duration(ms) for ms in (0.5, 850, 1240, 12_500, 125_000, 4_000_000)] == [
        "0.50 ms", "850 ms", "1.24 s", "12.5 s", "2 min 05 s", "1 h 06 min"]
    assert [format_number(n) for n in (1234567, 2.5, 3.0, 0.125)] == [
        "1,234,567", "2.5", "3", "0.12"]
    assert json.loads(pretty_json('{"a": 1}')) == {"a": 1}
    assert pretty_json("not json") == "not json"


def test_chat_messages_are_found_in_the_usual_shapes() -> None:
    messages = [{"role": "user", "content": "hi"}]
    assert chat_messages(messages) == messages
    assert chat_messages({"messages": messages, "model": "m"}) == messages
    assert chat_messages({"choices": [{"message": {"role": "assistant", "content": "yo"}}]}) \
        == [{"role": "assistant", "content": "yo"}]
    parts = {"role": "user", "content": [{"type": "text", "text": "look"},
                                         {"type": "image_url"}]}
    assert chat_messages([parts]) == [{"role": "user", "content": "look\n[image_url]"}]
    assert chat_messages({"question": "q"}) is None
    assert chat_messages([{"role": "user"}, "text"]) is None
    assert chat_messages([]) is None


def test_span_tree_is_depth_first_with_orphans_as_roots_and_deep_chains() -> None:
    trace_id = new_trace_id()
    t0 = 10**18
    root = make_span(trace_id, name="root", start_time_ns=t0, end_time_ns=t0 + 100)
    late = make_span(trace_id, parent_id=root.span_id, name="late", start_time_ns=t0 + 50,
                     end_time_ns=t0 + 60)
    early = make_span(trace_id, parent_id=root.span_id, name="early", start_time_ns=t0 + 10,
                      end_time_ns=t0 + 20, span_type=SpanType.TOOL)
    inner = make_span(trace_id, parent_id=early.span_id, name="inner",
                      start_time_ns=t0 + 11, end_time_ns=None)
    orphan = make_span(trace_id, parent_id="ffffffffffffffff", name="orphan",
                       start_time_ns=t0 + 70, end_time_ns=t0 + 80)
    rows = span_tree(_outlines([late, inner, orphan, early, root]))
    assert [(r["name"], r["depth"], r["num_descendants"]) for r in rows] == [
        ("root", 0, 3), ("early", 1, 1), ("inner", 2, 0), ("late", 1, 0), ("orphan", 0, 0)]
    assert rows[1]["left"] == 10.0 and rows[1]["width"] == 10.0
    assert rows[2]["duration_ms"] is None and rows[2]["width"] == 0.25
    assert rows[4]["parent_id"] is None

    chain = [make_span(trace_id, name="s0", start_time_ns=t0, end_time_ns=t0 + 5000)]
    for i in range(1, 3000):
        chain.append(make_span(trace_id, parent_id=chain[-1].span_id, name=f"s{i}",
                               start_time_ns=t0 + i, end_time_ns=t0 + i + 1))
    deep = span_tree(_outlines(chain))
    assert deep[-1]["depth"] == 2999
    assert deep[0]["num_descendants"] == 2999
