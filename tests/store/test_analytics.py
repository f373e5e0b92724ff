"""Feedback analytics in the store, on SQLite and PostgreSQL: the summary equals what the
seeds' analysis loops compute, counts only valid feedback, groups and buckets, and costs a
fixed number of statements however many traces there are."""

from __future__ import annotations

import math
from typing import Any

import pytest
import sqlalchemy as sa

from assay.entities import AssessmentSource, Expectation, Feedback
from assay.entities.analytics import FeedbackSummary, wilson_interval
from assay.errors import InvalidParameterError
from assay.search import FilterError
from assay.store.sql import SqlStore
from factories import BASE_TIME_MS, make_trace

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS


# -- the seeds' analysis, ported (seed 000: analyze_user_feedback and analyze_ratings) ------
# The loops are the seeds' own, with the MLflow client replaced by the store; only the
# fetching changed (`client.get_trace(...)` -> `store.get_trace(...)`).

def analyze_user_feedback(store: SqlStore, traces: list[Any]) -> dict[str, Any]:
    total_traces = len(traces)
    traces_with_feedback = 0
    positive_count = 0
    negative_count = 0
    for trace in traces:
        trace_detail = store.get_trace(trace.info.trace_id)
        if trace_detail.data.assessments:
            traces_with_feedback += 1
            for assessment in trace_detail.data.assessments:
                if assessment.name == "user_feedback":
                    if assessment.value:
                        positive_count += 1
                    else:
                        negative_count += 1
    if traces_with_feedback > 0:
        feedback_rate = (traces_with_feedback / total_traces) * 100
        positive_rate = (positive_count / traces_with_feedback) * 100
    else:
        feedback_rate = 0
        positive_rate = 0
    return {
        "total_traces": total_traces,
        "traces_with_feedback": traces_with_feedback,
        "feedback_rate": feedback_rate,
        "positive_rate": positive_rate,
        "positive_count": positive_count,
        "negative_count": negative_count,
    }


def analyze_ratings(store: SqlStore, traces: list[Any]) -> dict[str, float]:
    ratings_by_dimension: dict[str, list[Any]] = {}
    for trace in traces:
        trace_detail = store.get_trace(trace.info.trace_id)
        if trace_detail.data.assessments:
            for assessment in trace_detail.data.assessments:
                if assessment.name.startswith("user_") and assessment.name != "user_feedback":
                    dimension = assessment.name.replace("user_", "")
                    if dimension not in ratings_by_dimension:
                        ratings_by_dimension[dimension] = []
                    ratings_by_dimension[dimension].append(assessment.value)
    average_ratings = {}
    for dimension, scores in ratings_by_dimension.items():
        if scores:
            average_ratings[dimension] = sum(scores) / len(scores)
    return average_ratings


def as_seed_results(summary: FeedbackSummary) -> dict[str, Any]:
    """What analyze_user_feedback returns, from a summary (the seed divides the positives
    by the traces with feedback, not by the votes)."""
    overall = summary.overall
    feedback = overall.assessments.get("user_feedback")
    positive = feedback.boolean.positive if feedback and feedback.boolean else 0
    negative = feedback.boolean.negative if feedback and feedback.boolean else 0
    with_feedback = overall.num_traces_with_feedback
    return {
        "total_traces": overall.num_traces,
        "traces_with_feedback": with_feedback,
        "feedback_rate": 100 * (overall.feedback_rate or 0) if with_feedback else 0,
        "positive_rate": 100 * positive / with_feedback if with_feedback else 0,
        "positive_count": positive,
        "negative_count": negative,
    }


def as_seed_ratings(summary: FeedbackSummary) -> dict[str, float]:
    return {name.replace("user_", ""): a.numeric.mean
            for name, a in summary.overall.assessments.items()
            if name.startswith("user_") and name != "user_feedback" and a.numeric}


def _seed_like_data(store: SqlStore) -> None:
    """A day of chat traces: thumbs from users, star and accuracy ratings, a session-level
    thumb, traces without feedback, and an older trace outside the last 24 hours."""
    traces = []
    for i in range(30):
        traces.append(make_trace(
            request_time=BASE_TIME_MS + i * HOUR_MS // 2,
            metadata={"mlflow.trace.user": f"user-{i % 4}",
                      "mlflow.trace.session": f"session-{i // 3}"},
            tags={"env": "prod" if i % 2 else "staging"}))
    store.log_traces(traces)
    human = AssessmentSource("HUMAN", "user-1")
    for i, trace in enumerate(traces):
        trace_id = trace.info.trace_id
        if i % 3 == 0:
            store.log_assessment(Feedback("user_feedback", i % 2 == 0, trace_id=trace_id,
                                          source=human, rationale="ok"))
        if i % 4 == 0:
            store.log_assessment(Feedback("user_accuracy", (i % 5) / 4, trace_id=trace_id))
        if i % 5 == 0:
            store.log_assessment(Feedback("user_helpfulness", 1 + i % 5, trace_id=trace_id))
    # a thumb on a whole conversation: the seed sees it on each of the session's traces
    store.log_assessment(Feedback("user_feedback", False, trace_id=traces[4].info.trace_id,
                                  metadata={"mlflow.trace.session": "session-1"}))


def test_summary_equals_the_seeds_analysis(store: SqlStore) -> None:
    _seed_like_data(store)
    traces = list(store.search_traces(["0"], max_results=1000))
    summary = store.get_feedback_summary(["0"])
    assert as_seed_results(summary) == pytest.approx(analyze_user_feedback(store, traces))
    assert as_seed_ratings(summary) == pytest.approx(analyze_ratings(store, traces))
    # the seeds' get_recent_traces: a time filter, then the same analysis
    cutoff = BASE_TIME_MS + 5 * HOUR_MS
    filter_string = f"trace.timestamp_ms > {cutoff}"
    recent = list(store.search_traces(["0"], max_results=1000, filter_string=filter_string))
    summary = store.get_feedback_summary(["0"], filter_string=filter_string)
    assert summary.overall.num_traces == len(recent) < len(traces)
    assert as_seed_results(summary) == pytest.approx(analyze_user_feedback(store, recent))
    assert as_seed_ratings(summary) == pytest.approx(analyze_ratings(store, recent))


def test_each_group_equals_the_seeds_analysis_of_its_traces(store: SqlStore) -> None:
    _seed_like_data(store)
    summary = store.get_feedback_summary(["0"], group_by="user")
    assert [g.group for g in summary.groups] == [f"user-{i}" for i in range(4)]
    for group in summary.groups:
        traces = list(store.search_traces(
            ["0"], max_results=1000, filter_string=f"trace.user_id = '{group.group}'"))
        seed = analyze_user_feedback(store, traces)
        as_summary = FeedbackSummary(("0",), None, None, None, group)
        assert as_seed_results(as_summary) == pytest.approx(seed)
        assert as_seed_ratings(as_summary) == pytest.approx(analyze_ratings(store, traces))
    assert sum(g.num_traces for g in summary.groups) == summary.overall.num_traces == 30


def test_only_valid_feedback_counts(store: SqlStore) -> None:
    trace = make_trace()
    store.log_traces([trace, make_trace()])
    first = store.log_assessment(Feedback("user_feedback", True, trace_id=trace.info.trace_id))
    store.log_assessment(Feedback("user_feedback", False, trace_id=trace.info.trace_id,
                                  overrides=first.assessment_id))
    store.log_assessment(Expectation("answer", "42", trace_id=trace.info.trace_id))
    overall = store.get_feedback_summary(["0"]).overall
    feedback = overall.assessments["user_feedback"]
    assert feedback.count == 1
    assert feedback.boolean is not None
    assert (feedback.boolean.positive, feedback.boolean.negative) == (0, 1)
    assert set(overall.assessments) == {"user_feedback"}  # expectations are not feedback
    assert (overall.num_traces, overall.num_traces_with_feedback) == (2, 1)
    assert overall.feedback_rate == 0.5


def test_value_kinds_histograms_and_categories(store: SqlStore) -> None:
    traces = [make_trace() for _ in range(12)]
    store.log_traces(traces)
    values: list[Any] = [1, 2, 2, 5, 0.5, 0.25, "good", "bad", "good", ["x"], True, None]
    for trace, value in zip(traces, values, strict=True):
        error = "judge failed" if value is None else None
        store.log_assessment(Feedback("mixed", value, error=error,
                                      trace_id=trace.info.trace_id))
    for trace, star_value in zip(traces, [1, 3, 3, 5], strict=False):
        store.log_assessment(Feedback("stars", star_value, trace_id=trace.info.trace_id))
    for trace, score_value in zip(traces, [0.0, 0.5, 1.0], strict=False):
        store.log_assessment(Feedback("score", score_value, trace_id=trace.info.trace_id))
    summary = store.get_feedback_summary(["0"]).overall.assessments
    mixed = summary["mixed"]
    assert (mixed.count, mixed.num_errors) == (12, 1)
    assert mixed.value_type == "mixed"
    assert mixed.boolean is not None and mixed.boolean.positive == 1
    assert mixed.numeric is not None
    assert (mixed.numeric.count, mixed.numeric.min, mixed.numeric.max) == (6, 0.25, 5.0)
    assert mixed.numeric.mean == pytest.approx((1 + 2 + 2 + 5 + 0.5 + 0.25) / 6)
    assert sum(b.count for b in mixed.numeric.histogram) == 6
    assert dict(mixed.categories) == {"good": 2, "bad": 1}
    assert mixed.num_other == 1  # the list
    stars = summary["stars"]
    assert stars.value_type == "numeric" and stars.numeric is not None
    assert [(b.low, b.count) for b in stars.numeric.histogram] == [
        (1.0, 1), (2.0, 0), (3.0, 2), (4.0, 0), (5.0, 1)]
    # Few distinct fractional values: a bin per value, no empty bins between them.
    score = summary["score"]
    assert score.numeric is not None
    assert [(b.low, b.high, b.count) for b in score.numeric.histogram] == [
        (0.0, 0.0, 1), (0.5, 0.5, 1), (1.0, 1.0, 1)]


def test_many_distinct_fractions_get_equal_bins_over_their_range(store: SqlStore) -> None:
    traces = [make_trace() for _ in range(20)]
    store.log_traces(traces)
    for i, trace in enumerate(traces):  # 20 distinct values from 0.0 to 0.95
        store.log_assessment(Feedback("score", i / 20, trace_id=trace.info.trace_id))
    by_day = store.get_feedback_summary(["0"], time_bucket="day")
    histogram = by_day.overall.assessments["score"].numeric.histogram  # type: ignore[union-attr]
    assert [b.count for b in histogram] == [2] * 10
    assert histogram[0].low == 0.0 and histogram[-1].high == pytest.approx(0.95)
    # The groups' bins are the overall ones, so that they add up.
    [day] = by_day.groups
    assert [b.count for b in day.assessments["score"].numeric.histogram] == [2] * 10  # type: ignore[union-attr]


def test_wilson_interval() -> None:
    interval = wilson_interval(3, 10)
    assert interval is not None
    assert (interval.low, interval.high) == pytest.approx((0.1078, 0.6032), abs=1e-4)
    assert wilson_interval(0, 0) is None
    edge = wilson_interval(10, 10)
    assert edge is not None and edge.high == pytest.approx(1.0) and 0.69 < edge.low < 0.73


def test_rates_come_with_intervals(store: SqlStore) -> None:
    traces = [make_trace() for _ in range(10)]
    store.log_traces(traces)
    for trace in traces[:3]:
        store.log_assessment(Feedback("thumbs", True, trace_id=trace.info.trace_id))
    overall = store.get_feedback_summary(["0"], names=["thumbs"]).overall
    assert overall.feedback_rate == pytest.approx(0.3)
    assert overall.feedback_rate_interval == wilson_interval(3, 10)
    thumbs = overall.assessments["thumbs"].boolean
    assert thumbs is not None and thumbs.positive_rate == 1.0
    assert thumbs.positive_rate_interval == wilson_interval(3, 3)


def test_time_buckets_are_utc_hours_days_and_monday_weeks(store: SqlStore) -> None:
    sunday = 1_736_035_200_000 + 23 * HOUR_MS  # 2025-01-05 23:00 UTC, a Sunday
    monday = 1_736_121_600_000  # 2025-01-06 00:00 UTC
    traces = [make_trace(request_time=t) for t in (sunday, sunday + 30 * 60_000, monday,
                                                   monday + 3 * DAY_MS)]
    store.log_traces(traces)
    store.log_assessment(Feedback("thumbs", True, trace_id=traces[2].info.trace_id))

    def buckets(size: str) -> list[tuple[int | None, int, int]]:
        summary = store.get_feedback_summary(["0"], time_bucket=size)
        return [(g.bucket_start_ms, g.num_traces, g.num_traces_with_feedback)
                for g in summary.groups]

    assert buckets("hour") == [(sunday, 2, 0), (monday, 1, 1), (monday + 3 * DAY_MS, 1, 0)]
    assert buckets("day") == [(sunday - 23 * HOUR_MS, 2, 0), (monday, 1, 1),
                              (monday + 3 * DAY_MS, 1, 0)]
    assert buckets("week") == [(monday - 7 * DAY_MS, 2, 0), (monday, 2, 1)]


def test_grouping_by_session_tag_metadata_and_bucket(store: SqlStore) -> None:
    _seed_like_data(store)
    by_tag = store.get_feedback_summary(["0"], group_by="tags.env")
    assert [(g.group, g.num_traces) for g in by_tag.groups] == [("prod", 15), ("staging", 15)]
    by_session = store.get_feedback_summary(["0"], group_by="session")
    session_1 = next(g for g in by_session.groups if g.group == "session-1")
    assert session_1.num_traces_with_feedback == 3  # the session-level thumb
    by_meta = store.get_feedback_summary(["0"], group_by="metadata.`mlflow.trace.user`",
                                         time_bucket="hour")
    assert sum(g.num_traces for g in by_meta.groups) == 30
    assert all(g.group is not None and g.bucket_start_ms is not None for g in by_meta.groups)
    missing = store.get_feedback_summary(["0"], group_by="tags.nope")
    assert [(g.group, g.num_traces) for g in missing.groups] == [(None, 30)]
    assert missing.overall.assessments == by_tag.overall.assessments


@pytest.mark.parametrize(("kwargs", "error"), [
    ({"group_by": "feedback.x"}, FilterError),
    ({"group_by": "span.name"}, FilterError),
    ({"group_by": "timestamp_ms"}, FilterError),
    ({"group_by": "user DESC"}, FilterError),
    ({"time_bucket": "month"}, InvalidParameterError),
    ({"names": "user_feedback"}, InvalidParameterError),
    ({"filter_string": "tags.x = y"}, FilterError),
])
def test_bad_arguments(store: SqlStore, kwargs: dict[str, Any], error: type) -> None:
    with pytest.raises(error):
        store.get_feedback_summary(["0"], **kwargs)


def test_empty_and_unknown_experiments(store: SqlStore) -> None:
    for ids in (["0"], ["424242"]):
        summary = store.get_feedback_summary(ids, time_bucket="day")
        assert (summary.overall.num_traces, summary.overall.feedback_rate) == (0, None)
        assert summary.groups == () and summary.overall.assessments == {}
    assert summary.to_dict()["overall"]["feedback_rate_interval"] is None


class _Statements:
    """Counts the statements of every engine but those of the pending-feedback sweep, which
    the REST backend's server in this process (started by an earlier test of this worker)
    runs every minute: its transactions and statements are not the summary's."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, _conn: object, _cursor: object, statement: str, *_: object) -> None:
        if not statement.startswith("BEGIN") and "pending_assessments" not in statement:
            self.count += 1


@pytest.mark.parametrize("kwargs", [{}, {"time_bucket": "day"}, {"group_by": "user"}])
def test_statements_do_not_grow_with_the_traces(store: SqlStore,
                                                kwargs: dict[str, Any]) -> None:
    def statements() -> int:
        counter = _Statements()
        sa.event.listen(sa.Engine, "before_cursor_execute", counter)
        try:
            store.get_feedback_summary(["0"], **kwargs)
        finally:
            sa.event.remove(sa.Engine, "before_cursor_execute", counter)
        return counter.count

    def add(n: int) -> None:
        batch = [make_trace(request_time=BASE_TIME_MS + i * HOUR_MS,
                            metadata={"mlflow.trace.user": f"u{i % 3}"}) for i in range(n)]
        store.log_traces(batch)
        for trace in batch:
            store.log_assessment(Feedback("score", 0.5, trace_id=trace.info.trace_id))

    add(5)
    few = statements()
    add(100)
    assert statements() == few
    assert not math.isnan(store.get_feedback_summary(["0"]).overall.assessments["score"]
                          .numeric.mean)  # type: ignore[union-attr]


def test_string_values_keep_the_50_most_frequent(store: SqlStore) -> None:
    traces = [make_trace(request_time=BASE_TIME_MS + i) for i in range(62)]
    store.log_traces(traces)
    for i, trace in enumerate(traces):
        value = "common" if i < 3 else f"comment {i:02d}"  # 1 frequent + 59 one-offs
        store.log_assessment(Feedback("comment", value, trace_id=trace.info.trace_id))
    for kwargs in ({}, {"time_bucket": "day"}):
        comment = store.get_feedback_summary(["0"], **kwargs).overall.assessments["comment"]
        assert len(comment.categories) == 50
        assert next(iter(comment.categories.items())) == ("common", 3)
        assert comment.num_other == 62 - 3 - 49
        assert comment.value_type == "categorical"


def test_both_join_orders_give_the_same_summary(store: SqlStore,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from assay.store.sql import analytics

    _seed_like_data(store)
    cases = [{"filter_string": f"trace.timestamp_ms > {BASE_TIME_MS + 5 * HOUR_MS}"},
             {"filter_string": "tags.env = 'prod'", "group_by": "session"},
             {"filter_string": "trace.status = 'OK'", "time_bucket": "hour"}]
    traces_first = [store.get_feedback_summary(["0"], **kwargs) for kwargs in cases]
    monkeypatch.setattr(analytics, "_TRACES_FIRST_MAX", 0)
    feedback_first = [store.get_feedback_summary(["0"], **kwargs) for kwargs in cases]
    assert traces_first == feedback_first
    assert traces_first[1].overall.num_traces == 15
