"""The feedback dashboard over HTTP, on SQLite and PostgreSQL: its figures (JSON), its page
(HTML with SVG charts), time ranges, segments, the worst-rated traces, and its errors."""

from __future__ import annotations

import re
from typing import Any

import pytest

from assay.entities import Feedback
from assay.entities.analytics import wilson_interval
from factories import BASE_TIME_MS, make_trace
from server.live import Served
from ui.analytics_data import seed_dashboard


def dashboard_json(served: Served, eid: str, **params: str) -> dict[str, Any]:
    response = served.http.get(f"/experiments/{eid}/dashboard.json", params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    return body


def test_dashboard_figures(ui_server: Served) -> None:
    eid, _ = seed_dashboard(ui_server)
    body = dashboard_json(ui_server, eid)
    assert body["experiment"] == {"experiment_id": eid, "name": "shop-bot"}
    totals = body["totals"]
    assert totals["num_traces"] == 12
    assert totals["num_traces_with_feedback"] == 10
    assert totals["feedback_rate"] == pytest.approx(10 / 12)
    assert (totals["positive"], totals["negative"]) == (5, 5)
    assert totals["positive_rate"] == pytest.approx(0.5)
    # 5 of 10: the 95% Wilson interval is 0.2366 to 0.7634.
    assert totals["positive_rate_interval"]["low"] == pytest.approx(0.2366, abs=1e-4)
    assert totals["positive_rate_interval"]["high"] == pytest.approx(0.7634, abs=1e-4)
    assert body["rate_name"] == "thumbs"
    [stars] = body["ratings"]
    assert (stars["name"], stars["count"], stars["mean"]) == ("stars", 4, pytest.approx(3.0))
    assert stars["scale"] == 5
    assert [(b["label"], b["count"]) for b in stars["histogram"]] == [
        ("1", 1), ("2", 1), ("3", 0), ("4", 1), ("5", 1)]
    [issue] = body["categories"]
    assert [(v["value"], v["count"]) for v in issue["values"]] == [("wrong", 2), ("slow", 1)]
    # The data spans Monday to Wednesday: three day buckets, the empty Tuesday included.
    assert body["axis"]["bucket"] == "day" and body["axis"]["count"] == 3
    assert [(r["num_traces"], r["positive"], r["negative"]) for r in body["timeline"]] == [
        (4, 3, 1), (0, 0, 0), (8, 2, 4)]
    assert body["timeline"][1]["feedback_rate"] is None


def test_dashboard_segments(ui_server: Served) -> None:
    eid, _ = seed_dashboard(ui_server)
    by_user = dashboard_json(ui_server, eid)
    rows = {r["value"]: r for r in by_user["segments"]["rows"]}
    assert [r["value"] for r in by_user["segments"]["rows"]] == ["u1", "u2", None]
    assert (rows["u1"]["num_traces"], rows["u1"]["positive"], rows["u1"]["negative"]) == (6, 4, 2)
    assert rows["u2"]["positive_rate"] == pytest.approx(0.25)
    assert rows[None]["feedback_rate"] == 0.0
    assert rows["u1"]["means"]["stars"] == {"mean": pytest.approx(10 / 3), "count": 3}
    assert rows["u1"]["href"] == f"/experiments/{eid}?user=u1"
    assert "trace.user_id+IS+NULL" in rows[None]["href"]
    versions = dashboard_json(ui_server, eid, segment="app_version")
    assert versions["segment"]["group_by"] == "metadata.app_version"
    assert {r["value"]: r["num_traces"] for r in versions["segments"]["rows"]} == {
        "v1": 6, "v2": 6}
    env = dashboard_json(ui_server, eid, segment="environment")
    assert {r["value"]: r["positive"] for r in env["segments"]["rows"]} == {
        "prod": 4, "staging": 1}
    custom = dashboard_json(ui_server, eid, segment="metadata.environment")
    assert custom["segment"]["label"] == "environment"
    assert len(custom["segments"]["rows"]) == 2


def test_app_version_from_tags_when_no_trace_has_the_metadata(ui_server: Served) -> None:
    store = ui_server.store
    eid = store.create_experiment("tagged")
    store.log_traces([make_trace(experiment_id=eid, tags={"app_version": v})
                      for v in ("2.0", "2.0", "2.1")])
    body = dashboard_json(ui_server, eid, segment="app_version")
    assert body["segment"]["group_by"] == "tags.app_version"
    assert {r["value"]: r["num_traces"] for r in body["segments"]["rows"]} == {
        "2.0": 2, "2.1": 1}


def test_worst_rated_traces_come_lowest_first(ui_server: Served) -> None:
    eid, ids = seed_dashboard(ui_server)
    worst = dashboard_json(ui_server, eid)["worst"]
    assert worst["by"] == "thumbs" and worst["choices"] == ["thumbs", "stars"]
    assert worst["kind"] == "boolean"
    # The thumbs down, the latest first.
    assert [t["trace_id"] for t in worst["traces"]] == [ids[i] for i in (9, 7, 6, 5, 3)]
    oldest = worst["traces"][-1]
    assert oldest["score"] is False and oldest["href"] == f"/traces/{ids[3]}"
    assert {c["name"]: c["value"] for c in oldest["feedback"]} == {
        "thumbs": False, "stars": 1, "issue": "wrong"}
    # Numbers: the lowest first (here one trace per star value).
    by_stars = dashboard_json(ui_server, eid, worst_by="stars")["worst"]
    assert by_stars["kind"] == "numeric"
    assert [t["trace_id"] for t in by_stars["traces"]] == [ids[i] for i in (3, 6, 1, 0)]
    assert [t["score"] for t in by_stars["traces"]] == [1, 2, 4, 5]


def test_worst_by_numbers_takes_the_lowest_values_first(ui_server: Served) -> None:
    store = ui_server.store
    eid = store.create_experiment("scores")
    scores = [0.9, 0.15, 0.5, 0.1, 0.7, 0.1, 0.3, 0.95, 0.2, 0.6, 0.1, 0.8, 0.4, 1.0]
    traces = [make_trace(experiment_id=eid, request_time=BASE_TIME_MS + i * 1000)
              for i in range(len(scores))]
    store.log_traces(traces)
    for trace, score in zip(traces, scores, strict=True):
        store.log_assessment(Feedback(name="score", value=score,
                                      trace_id=trace.info.trace_id))
    worst = dashboard_json(ui_server, eid)["worst"]
    assert worst["by"] == "score" and worst["kind"] == "numeric"
    got = [(t["score"], t["time_ms"] - BASE_TIME_MS) for t in worst["traces"]]
    # The ten lowest: the three 0.1s the latest first, then 0.15, 0.2, 0.3, ...
    assert got == [(0.1, 10_000), (0.1, 5000), (0.1, 3000), (0.15, 1000), (0.2, 8000),
                   (0.3, 6000), (0.4, 12_000), (0.5, 2000), (0.6, 9000), (0.7, 4000)]


def test_time_range_selects_the_traces(ui_server: Served) -> None:
    eid, _ = seed_dashboard(ui_server)
    body = dashboard_json(ui_server, eid, **{"from": "2025-01-08", "to": "2025-01-08"})
    assert body["range"]["preset"] == "custom"
    assert body["totals"]["num_traces"] == 8
    assert (body["totals"]["positive"], body["totals"]["negative"]) == (2, 4)
    hourly = dashboard_json(ui_server, eid, **{"from": "2025-01-08", "bucket": "hour"})
    # From midnight (the range's start) to the last trace at 10:11: eleven hours.
    assert hourly["axis"]["bucket"] == "hour" and hourly["axis"]["count"] == 11
    # The seeded traces are years old: the last 24 hours hold none of them.
    recent = dashboard_json(ui_server, eid, range="24h")
    assert recent["totals"]["num_traces"] == 0 and recent["has_traces"] is True


def test_dashboard_page(ui_server: Served) -> None:
    eid, ids = seed_dashboard(ui_server)
    response = ui_server.http.get(f"/experiments/{eid}/dashboard")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert "<h1>shop-bot</h1>" in html
    assert 'aria-current="page" class="active">Dashboard</a>' in html
    assert html.count("<svg") >= 6  # volume, rates, thumbs, ratings (2), issue, segments
    assert 'role="img"' in html
    assert "83%" in html and "10 of 12 traces" in html  # the feedback rate
    assert "95% CI 24%\u201376%" in html  # the positive rate's interval
    assert f'href="/traces/{ids[3]}"' in html
    assert f'href="/experiments/{eid}?user=u1"' in html
    assert 'href="/static/dashboard.css"' in html
    for label in ("Trace volume", "Feedback rate", "Ratings", "Categories", "By user",
                  "Worst-rated traces"):
        assert label in html


def test_dashboard_empty_states(ui_server: Served) -> None:
    eid = ui_server.store.create_experiment("empty")
    body = dashboard_json(ui_server, eid)
    assert body["totals"]["num_traces"] == 0 and body["has_traces"] is False
    # Parameters are checked even when there is nothing to show.
    bad = ui_server.http.get(f"/experiments/{eid}/dashboard.json?bucket=month")
    assert bad.status_code == 400 and "Invalid bucket" in bad.json()["message"]
    html = ui_server.http.get(f"/experiments/{eid}/dashboard").text
    assert "No traces yet" in html and "assay demo" in html
    seeded, _ = seed_dashboard(ui_server)
    html = ui_server.http.get(f"/experiments/{seeded}/dashboard?range=24h").text
    assert "No traces in this range" in html and "Show all time" in html


@pytest.mark.parametrize(("query", "named"), [
    ("range=week", "range"),
    ("from=soon", "from"),
    ("segment=planet", "segment"),
    ("segment=tags.", "segment"),
    ("bucket=month", "bucket"),
])
def test_bad_parameters_are_400_naming_them(ui_server: Served, query: str, named: str) -> None:
    eid, _ = seed_dashboard(ui_server)
    response = ui_server.http.get(f"/experiments/{eid}/dashboard.json?{query}")
    assert response.status_code == 400, response.text
    assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert f"Invalid {named}" in response.json()["message"]
    page = ui_server.http.get(f"/experiments/{eid}/dashboard?{query}")
    assert page.status_code == 400
    assert page.headers["content-type"].startswith("text/html")
    assert f"Invalid {named}" in page.text


def test_feedback_names_missing_from_the_range_fall_back_with_a_notice(
        ui_server: Served) -> None:
    eid, _ = seed_dashboard(ui_server)
    body = dashboard_json(ui_server, eid, rate="stars", worst_by="issue")
    assert body["rate_name"] == "thumbs" and body["worst"]["by"] == "thumbs"
    assert body["notices"] == [
        "No true/false feedback named 'stars' in this range; showing 'thumbs' instead.",
        "No true/false or numeric feedback named 'issue' in this range; showing 'thumbs' "
        "instead."]
    html = ui_server.http.get(f"/experiments/{eid}/dashboard?worst_by=stars&rate=nope").text
    assert "No true/false feedback named &#39;nope&#39; in this range" in html
    assert "Worst-rated traces by <code class=\"id\">stars</code>" in html


def test_unknown_experiment_is_a_404_page(ui_server: Served) -> None:
    page = ui_server.http.get("/experiments/424242/dashboard")
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert "424242" in page.text
    data = ui_server.http.get("/experiments/424242/dashboard.json")
    assert data.status_code == 404
    assert data.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"


def test_ratings_are_drawn_each_on_its_own_scale(ui_server: Served) -> None:
    from assay.entities import Feedback

    eid, ids = seed_dashboard(ui_server)
    for trace_id, score in zip(ids, (0.2, 0.9), strict=False):
        ui_server.store.log_assessment(Feedback(name="judge_score", value=score,
                                                trace_id=trace_id))
    html = ui_server.http.get(f"/experiments/{eid}/dashboard").text
    # A 0-1 score and a 1-5 rating each fill their own bar: 0.55 of 1 is as long as 2.75
    # of 5, and each note says the scale.
    widths = {name: float(width) for name, width in re.findall(
        r"<title>(judge_score|stars): [^<]*</title>.*?<rect [^>]*?/><rect x=\"[0-9.]+\" "
        r"y=\"[0-9.]+\" width=\"([0-9.]+)\"", html, flags=re.S)}
    assert widths["judge_score"] / widths["stars"] == pytest.approx((0.55 / 1) / (3.0 / 5),
                                                                    rel=0.02)
    assert "of 1 · n = 2" in html and "of 5 · n = 4" in html


@pytest.mark.parametrize("low, high, scale", [(0.0, 1.0, 1), (0.2, 0.8, 1), (1, 5, 5),
                                              (1, 4, 5), (0, 7, 10), (3, 80, 100),
                                              (1, 250, 250), (-1, 1, 1)])
def test_rating_scale(low: float, high: float, scale: float) -> None:
    from assay.server.ui.dashboard import rating_scale

    assert rating_scale(low, high) == scale


def test_wilson_interval_known_values() -> None:
    """The intervals the dashboard shows, against published values."""
    for successes, trials, low, high in [(5, 10, 0.2366, 0.7634), (0, 10, 0.0, 0.2775),
                                         (10, 10, 0.7225, 1.0)]:
        interval = wilson_interval(successes, trials)
        assert interval is not None
        assert interval.low == pytest.approx(low, abs=1e-4)
        assert interval.high == pytest.approx(high, abs=1e-4)
