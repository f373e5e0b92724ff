"""The experiments page, ``/``, on SQLite and PostgreSQL: counts, feedback rates, order,
the JSON form, and the empty state."""

from __future__ import annotations

from server.live import Served
from ui.chatbot import seed_chatbot


def test_experiments_page_lists_counts_and_feedback_rate(ui_server: Served) -> None:
    bot = seed_chatbot(ui_server.store)
    empty = ui_server.store.create_experiment("empty-app")

    body = ui_server.http.get("/.json").json()
    rows = {e["experiment_id"]: e for e in body["experiments"]}
    assert rows[bot.experiment_id] | {"creation_time_ms": 0} == {
        "experiment_id": bot.experiment_id, "name": "rag-chatbot",
        "url": f"/experiments/{bot.experiment_id}", "creation_time_ms": 0,
        "num_traces": 5, "last_trace_time_ms": rows[bot.experiment_id]["last_trace_time_ms"],
        "num_traces_with_feedback": 4, "feedback_rate": 0.8}
    assert rows[empty]["num_traces"] == 0
    assert rows[empty]["feedback_rate"] is None
    # The experiment with traces comes first, then the empty ones.
    assert body["experiments"][0]["experiment_id"] == bot.experiment_id
    assert body["num_traces"] == 5

    page = ui_server.http.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    html = page.text
    assert f'href="/experiments/{bot.experiment_id}"' in html
    assert "rag-chatbot" in html and "empty-app" in html
    assert "80.0%" in html
    assert 'title="4 of 5 traces have feedback"' in html


def test_experiments_page_without_traces_says_how_to_send_some(ui_server: Served) -> None:
    html = ui_server.http.get("/").text
    assert "No traces yet" in html
    assert f'assay.set_tracking_uri("{ui_server.url}")' in html
    assert "assay demo" in html


def test_html_routes_leave_the_api_alone(ui_server: Served) -> None:
    assert ui_server.http.get("/health").json() == {"status": "ok"}
    assert ui_server.http.get("/api/v1/experiments/0").status_code == 200
    css = ui_server.http.get("/static/assay.css")
    assert css.status_code == 200 and "text/css" in css.headers["content-type"]
    missing = ui_server.http.get("/no-such-page")
    assert missing.status_code == 404
    assert "<h1>Not found</h1>" in missing.text
    # An API client (no text/html) gets the API's JSON error.
    api = ui_server.http.get("/no-such-page", headers={"Accept": "application/json"})
    assert api.json()["error_code"] == "ENDPOINT_NOT_FOUND"
