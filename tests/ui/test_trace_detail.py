"""The trace page, ``/traces/{id}``, on SQLite and PostgreSQL: header, span tree and
timeline, the selected span (chat messages, exceptions), spans loaded alone, the assessments
panel, and the 404 page."""

from __future__ import annotations

from typing import Any

from assay.entities import Feedback, SpanEvent, SpanStatus, SpanStatusCode, SpanType, TraceState
from factories import BASE_TIME_MS, make_span, make_trace, new_trace_id
from server.live import Served
from ui.chatbot import seed_chatbot


def _json(ui: Served, path: str, status: int = 200) -> Any:
    response = ui.http.get(path)
    assert response.status_code == status, response.text
    return response.json()


def test_trace_page_shows_header_spans_and_assessments(ui_server: Served) -> None:
    bot = seed_chatbot(ui_server.store)
    trace_id = bot.trace_ids[1]
    body = _json(ui_server, f"/traces/{trace_id}.json")
    trace = body["trace"]
    assert (trace["user_id"], trace["session_id"], trace["duration_ms"]) == (
        "alice", "s-alice", 1200)
    assert trace["session_url"] == f"/experiments/{bot.experiment_id}/sessions/s-alice"
    assert trace["user_url"] == f"/experiments/{bot.experiment_id}?user=alice"
    assert [(s["name"], s["depth"]) for s in body["spans"]] == [
        ("rag_chatbot", 0), ("retrieve_docs", 1), ("chat.completions", 1)]
    root = body["spans"][0]
    assert (root["left"], root["width"], root["num_descendants"]) == (0, 100, 2)
    llm = body["spans"][2]
    assert 8 < llm["left"] < 9 and 87 < llm["width"] < 88
    selected = body["selected_span"]
    assert selected["name"] == "rag_chatbot"
    assert selected["inputs_chat"] == [{"role": "user", "content": "Does it trace LLM apps?"}]
    [vote] = body["assessments"]["feedback"]
    assert (vote["name"], vote["value"], vote["source_id"], vote["rationale"]) == (
        "user_feedback", False, "alice", "It did not say how")
    assert vote["history"] == []
    assert body["assessments"]["expectation"] == []
    assert body["assessment_names"] == ["user_feedback"]

    html = ui_server.http.get(f"/traces/{trace_id}").text
    assert f'<a href="/experiments/{bot.experiment_id}">rag-chatbot</a>' in html
    assert 'data-assessment-name="user_feedback"' in html
    assert '<datalist id="assessment-names"><option value="user_feedback"></datalist>' in html
    assert html.count('class="span-row') == 3
    assert 'class="msg msg-user"' in html
    assert 'name="csrf_token" value="' in html
    # Every form control has a label.
    for control in ("add-name", "add-type", "add-value", "add-rationale", "add-target",
                    "add-source"):
        assert f'<label for="{control}"' in html


def test_selecting_a_span_and_loading_it_alone(ui_server: Served) -> None:
    bot = seed_chatbot(ui_server.store)
    trace_id = bot.trace_ids[0]
    spans = _json(ui_server, f"/traces/{trace_id}.json")["spans"]
    llm_id = spans[2]["span_id"]
    body = _json(ui_server, f"/traces/{trace_id}.json?span={llm_id}")
    assert body["selected_span"]["name"] == "chat.completions"
    assert body["selected_span"]["outputs_chat"] == [
        {"role": "assistant", "content": "MLflow is an open-source platform for the ML lifecycle."}]
    assert body["selected_span"]["attributes"] == {"mlflow.llm.model": "gpt-4o-mini"}

    alone = _json(ui_server, f"/traces/{trace_id}/spans/{llm_id}.json")
    assert alone["span"]["inputs_chat"][0] == {"role": "system",
                                               "content": "Answer from the docs."}
    fragment = ui_server.http.get(f"/traces/{trace_id}/spans/{llm_id}?fragment=1")
    assert fragment.status_code == 200
    assert fragment.text.lstrip().startswith("<div class=\"span-detail\"")
    assert "<html" not in fragment.text
    page = ui_server.http.get(f"/traces/{trace_id}/spans/{llm_id}", follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"] == f"/traces/{trace_id}?span={llm_id}"

    missing = ui_server.http.get(f"/traces/{trace_id}/spans/0123456789abcdef.json")
    assert missing.status_code == 404
    assert "Span '0123456789abcdef' not found" in missing.json()["message"]
    notice = _json(ui_server, f"/traces/{trace_id}.json?span=nope")
    assert notice["notices"] == ["Span 'nope' is not in this trace; showing its root span"]
    assert notice["selected_span"]["name"] == "rag_chatbot"


def test_errors_and_exceptions_are_shown(ui_server: Served) -> None:
    trace_id = new_trace_id()
    start = BASE_TIME_MS * 1_000_000
    root = make_span(trace_id, name="agent", span_type=SpanType.AGENT, start_time_ns=start,
                     end_time_ns=start + 10**9,
                     status=SpanStatus(SpanStatusCode.ERROR, "TimeoutError: no answer"),
                     events=[SpanEvent("exception", start + 5 * 10**8, {
                         "exception.type": "TimeoutError",
                         "exception.message": "The model did not answer within 30 s",
                         "exception.stacktrace": "Traceback (most recent call last): ..."}),
                             SpanEvent("retry", start + 10**8, {"attempt": 2})])
    ui_server.store.log_traces([make_trace(trace_id=trace_id, spans=[root],
                                           state=TraceState.ERROR)])
    body = _json(ui_server, f"/traces/{trace_id}.json")
    span = body["selected_span"]
    assert span["exceptions"] == [{"type": "TimeoutError",
                                   "message": "The model did not answer within 30 s",
                                   "stacktrace": "Traceback (most recent call last): ..."}]
    assert [e["name"] for e in span["events"]] == ["retry"]
    html = ui_server.http.get(f"/traces/{trace_id}").text
    assert "<strong>TimeoutError</strong>: The model did not answer within 30 s" in html
    assert 'class="span-row selected is-error"' in html
    assert "No response: the trace ended with an error." in html


def test_a_streamed_span_reads_as_one_text_with_its_raw_chunks_behind_a_toggle(
        ui_server: Served) -> None:
    import json

    trace_id = new_trace_id()
    start = BASE_TIME_MS * 1_000_000

    def chunk(i: int, value: object) -> SpanEvent:
        return SpanEvent(f"mlflow.chunk.item.{i}", start + i * 1_000_000,
                         {"mlflow.chunk.value": json.dumps(value)})

    # What streams look like: the SDK's own generator events, an app's token events, and
    # OpenAI chat chunks (the last one with usage and no text).
    events = [chunk(0, {"type": "start", "trace_id": trace_id}),
              chunk(1, {"type": "token", "content": "Traces "}),
              chunk(2, "are "),
              chunk(3, {"choices": [{"index": 0, "delta": {"content": "stored \"whole\"."}}]}),
              chunk(4, {"choices": [], "usage": {"total_tokens": 12}}),
              SpanEvent("retry", start, {"attempt": 2})]
    root = make_span(trace_id, name="chat_stream", start_time_ns=start,
                     end_time_ns=start + 10**7, events=events)
    ui_server.store.log_traces([make_trace(trace_id=trace_id, spans=[root])])
    span = _json(ui_server, f"/traces/{trace_id}.json")["selected_span"]
    stream = span["stream"]
    assert (stream["count"], stream["with_text"], stream["duration_ms"]) == (5, 3, 4.0)
    assert stream["text"] == 'Traces are stored "whole".'
    assert stream["chunks"][1] == '{"type":"token","content":"Traces "}'
    assert stream["chunks"][2] == "are "
    # The chunks are no longer listed one by one among the events.
    assert [e["name"] for e in span["events"]] == ["retry"]
    html = ui_server.http.get(f"/traces/{trace_id}").text
    assert "Stream <span class=\"muted small\">(5 chunks over 4 ms)</span>" in html
    assert '<div class="text-block stream-text">Traces are stored &#34;whole&#34;.</div>' in html
    assert "<summary>Raw chunks</summary>" in html
    assert "mlflow.chunk.item.1" not in html


def test_a_failure_deep_in_an_ok_trace_stands_out(ui_server: Served) -> None:
    trace_id = new_trace_id()
    start = BASE_TIME_MS * 1_000_000
    root = make_span(trace_id, name="agent", start_time_ns=start, end_time_ns=start + 10**9)
    tool = make_span(trace_id, name="search_tool", parent_id=root.span_id,
                     start_time_ns=start + 10**8, end_time_ns=start + 5 * 10**8)
    call = make_span(trace_id, name="http_get", parent_id=tool.span_id,
                     start_time_ns=start + 2 * 10**8, end_time_ns=start + 3 * 10**8,
                     status=SpanStatus(SpanStatusCode.ERROR, "ConnectionError: refused"),
                     events=[SpanEvent("exception", start + 3 * 10**8, {
                         "exception.type": "ConnectionError",
                         "exception.message": "refused"})])
    other = make_span(trace_id, name="answer", parent_id=root.span_id,
                      start_time_ns=start + 6 * 10**8, end_time_ns=start + 9 * 10**8)
    ui_server.store.log_traces([make_trace(trace_id=trace_id, spans=[root, tool, call, other])])
    body = _json(ui_server, f"/traces/{trace_id}.json")
    assert body["error_span_ids"] == [call.span_id]
    assert [(s["name"], s["errors_below"]) for s in body["spans"]] == [
        ("agent", 1), ("search_tool", 1), ("http_get", 0), ("answer", 0)]
    html = ui_server.http.get(f"/traces/{trace_id}").text
    # The head says a span failed although the trace is OK, and links to it.
    assert (f'href="?span={call.span_id}#span-panel" data-select-span="{call.span_id}"'
            in html)
    assert "1 span failed · show it" in html
    assert html.count(' has-error-below"') == 2
    assert html.count('class="span-row is-error"') == 1
    # The failed span's message is said once: with its exception.
    page = ui_server.http.get(f"/traces/{trace_id}?span={call.span_id}").text
    assert "<strong>ConnectionError</strong>: refused" in page
    assert '<p class="error-text">ConnectionError: refused</p>' not in page
    assert page.count("refused<") == 1  # as text; the Error chip's tooltip holds it too


def test_the_head_and_the_cards_say_each_thing_once(ui_server: Served) -> None:
    from assay.entities import Expectation

    trace_id = new_trace_id()
    start = BASE_TIME_MS * 1_000_000
    root = make_span(trace_id, name="answer", start_time_ns=start,
                     end_time_ns=start + 1_600_000)  # 1.6 ms; the trace keeps whole ms
    ui_server.store.log_traces([make_trace(trace_id=trace_id, spans=[root],
                                           execution_duration=1)])
    answer = "Assay keeps every trace in a SQLite file, or in PostgreSQL for teams."
    ui_server.store.log_assessment(Expectation(name="expected_response", value=answer,
                                               trace_id=trace_id))
    ui_server.store.log_assessment(Expectation(name="facts", value=["a", "b"],
                                               trace_id=trace_id))
    body = _json(ui_server, f"/traces/{trace_id}.json")
    assert body["trace"]["duration_ms"] == 1.6 == body["spans"][0]["duration_ms"]
    html = ui_server.http.get(f"/traces/{trace_id}").text
    assert html.count(f">{answer}<") == 1  # in its card's text, not in its head too
    assert '<pre class="json a-full">' in html  # the list as JSON under its head...
    assert '<code class="val-json"' not in html  # ...and not in the head too
    assert '<dd class="num">2 ms</dd>' in html


def test_override_history_is_grouped_under_the_current_value(ui_server: Served) -> None:
    bot = seed_chatbot(ui_server.store)
    trace_id = bot.trace_ids[0]
    first = ui_server.store.log_assessment(Feedback(name="correct", value=False,
                                                    trace_id=trace_id, rationale="first"))
    second = ui_server.store.log_assessment(Feedback(
        name="correct", value=True, trace_id=trace_id, overrides=first.assessment_id,
        rationale="second"))
    ui_server.store.log_assessment(Feedback(
        name="correct", value=False, trace_id=trace_id, overrides=second.assessment_id,
        rationale="third"))
    groups = _json(ui_server, f"/traces/{trace_id}.json")["assessments"]
    [current] = [a for a in groups["feedback"] if a["name"] == "correct"]
    assert (current["rationale"], current["valid"]) == ("third", True)
    assert [(h["rationale"], h["valid"]) for h in current["history"]] == [
        ("second", False), ("first", False)]
    html = ui_server.http.get(f"/traces/{trace_id}").text
    assert "History: overrode 2 earlier values" in html


def test_big_trace_folds_and_stays_small(ui_server: Served) -> None:
    trace_id = new_trace_id()
    start = BASE_TIME_MS * 1_000_000
    root = make_span(trace_id, name="root", start_time_ns=start, end_time_ns=start + 10**9)
    spans = [root]
    for i in range(40):
        parent = make_span(trace_id, parent_id=root.span_id, name=f"step-{i}",
                           start_time_ns=start + i, end_time_ns=start + i + 10**6)
        spans.append(parent)
        spans += [make_span(trace_id, parent_id=parent.span_id, name=f"call-{i}-{j}",
                            start_time_ns=start + i + j, end_time_ns=start + i + j + 10,
                            inputs={"payload": "x" * 2000})
                  for j in range(5)]
    ui_server.store.log_traces([make_trace(trace_id=trace_id, spans=spans)])
    html = ui_server.http.get(f"/traces/{trace_id}").text
    assert html.count('class="span-row') == 241
    assert 'data-fold="2"' in html
    # Only the selected span's payloads are in the page.
    assert html.count("x" * 2000) == 0


def test_unknown_trace_is_a_404_page(ui_server: Served) -> None:
    page = ui_server.http.get("/traces/tr-0123")
    assert page.status_code == 404
    assert "Trace with ID &#39;tr-0123&#39; not found" in page.text
    assert 'href="/"' in page.text
    assert _json(ui_server, "/traces/tr-0123.json", 404)["error_code"] == \
        "RESOURCE_DOES_NOT_EXIST"
