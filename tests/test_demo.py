"""assay demo's recording: the same for a seed, through the example chat app, and varied
enough that every page of the web UI has something to show."""

from __future__ import annotations

import json
import re
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import assay
from assay.demo import USERS
from assay.entities import Trace
from runtimes import default_runtime


def _demo_traces(uri: str) -> list[Trace]:
    with default_runtime(uri):
        return list(assay.AssayClient().search_traces(
            experiment_names=["assay-demo/rag-chatbot"], max_results=1000))


def _what_the_seed_decides(traces: list[Trace]) -> list[tuple[object, ...]]:
    """Everything about the demo's traces but ids: who asked what, through which
    deployment, what people said about it, and how long each span took."""
    return sorted(
        (t.info.client_request_id, t.info.user_id, t.info.session_id,
         t.info.trace_metadata.get("app_version"), t.info.trace_metadata.get("environment"),
         t.info.request_preview, t.info.response_preview, str(t.info.state),
         t.info.execution_duration,
         [(s.name, s.end_time_ns - s.start_time_ns if s.end_time_ns else None)
          for s in t.data.spans],
         sorted((a.name, json.dumps(a.value), a.rationale, a.source.source_id, a.valid)
                for a in t.info.assessments if a.trace_id == t.info.trace_id))
        for t in traces)


def _record(tmp_path: Path, conversations: int) -> tuple[str, list[Trace]]:
    uri = f"sqlite:///{tmp_path}/demo.db"
    out = subprocess.run([sys.executable, "-m", "assay.cli", "demo", "--tracking-uri", uri,
                          "--conversations", str(conversations), "--no-serve", "--reset"],
                         capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "Recorded" in out.stdout and "assay.get_trace('tr-" in out.stdout
    return uri, _demo_traces(uri)


def test_demo_drives_the_chat_app_and_is_the_same_for_a_seed(tmp_path: Path) -> None:
    # The second run rebuilds the demo instead of doubling it.
    _, first = _record(tmp_path, 30)
    _, traces = _record(tmp_path, 30)
    assert _what_the_seed_decides(first) == _what_the_seed_decides(traces)

    assert 30 <= len(traces) <= 360
    assert {t.info.session_id for t in traces} == {f"session-{i:03d}" for i in range(1, 31)}
    # The app's headers: X-Request-ID, X-Session-ID and X-User-ID became the trace's ids.
    for t in traces:
        assert t.info.client_request_id is not None and t.info.session_id is not None
        ids = re.fullmatch(r"req-(\d{3})-(\d+)", t.info.client_request_id)
        assert ids is not None, t.info.client_request_id
        number, turn = ids.groups()
        assert t.info.session_id == f"session-{number}" and 1 <= int(turn) <= 12
        assert t.info.user_id in USERS
    # The app's spans: plain and streamed answers, each retrieving, then the offline model;
    # and the support agent's turns, which plan, call tools and search the documents.
    rag = [t for t in traces if t.data.spans[0].name in ("chat", "chat_stream")]
    assert {tuple(s.name for s in t.data.spans) for t in rag} == {
        ("chat", "retrieve_documents", "offline_responder"),
        ("chat_stream", "retrieve_documents", "offline_responder")}
    assert all([s.span_type for s in t.data.spans] == ["CHAIN", "RETRIEVER", "CHAT_MODEL"]
               for t in rag)
    agent = [t for t in traces if t.data.spans[0].name == "support_agent"]
    assert agent and len(rag) + len(agent) == len(traces)
    assert all(t.info.token_usage for t in traces if str(t.info.state) == "OK")
    # Each deployment of the app put its version and environment on its traces.
    assert {t.info.trace_metadata["app_version"] for t in traces} == {"v1.4.2", "v1.5.0"}
    assert {t.info.trace_metadata["environment"] for t in traces} <= {"production", "staging"}
    # Spread over the last two weeks, the newer version only in the last six days.
    now_ms = time.time() * 1000
    ages = [(now_ms - t.info.request_time) / 86_400_000 for t in traces]
    assert min(ages) >= 0 and max(ages) <= 14.1 and max(ages) > 3
    assert all(age < 6.01 for t, age in zip(traces, ages, strict=True)
               if t.info.trace_metadata["app_version"] == "v1.5.0")
    for t in traces:  # every span moved with its trace, inside it, and inside its parent
        root = t.data.spans[0]
        assert root.start_time_ns // 10**6 == t.info.request_time
        assert root.end_time_ns is not None
        assert t.info.execution_duration == (root.end_time_ns - root.start_time_ns) // 10**6
        by_id = {s.span_id: s for s in t.data.spans}
        for s in t.data.spans:
            assert s.end_time_ns is not None and s.start_time_ns <= s.end_time_ns
            parent = by_id.get(s.parent_id or "")
            if parent is not None:
                assert parent.end_time_ns is not None
                assert parent.start_time_ns <= s.start_time_ns <= s.end_time_ns \
                    <= parent.end_time_ns
            assert all(s.start_time_ns <= e.timestamp_ns <= s.end_time_ns for e in s.events)
    # The feedback the app's endpoints record, by the asking user; the developer's by SDK.
    by_name: dict[str, set[str | None]] = {}
    for t in traces:
        for a in t.info.assessments:
            by_name.setdefault(a.name, set()).add(a.source.source_id)
    assert {"user_feedback", "response_is_correct", "user_accuracy", "user_helpfulness",
            "user_relevance", "issue_category", "conversation_rating", "accuracy_score",
            "expected_response"} <= set(by_name)
    for name in ("user_feedback", "response_is_correct", "user_accuracy", "conversation_rating"):
        assert by_name[name] <= set(USERS), name
    assert by_name["expected_response"] == {"dev-alice"}


def test_demo_data_is_varied(tmp_path: Path) -> None:
    _, traces = _record(tmp_path, 60)
    ok = [t for t in traces if str(t.info.state) == "OK"]
    failed = [t for t in traces if str(t.info.state) == "ERROR"]
    # Answers that fit their questions: many distinct questions, nearly as many distinct
    # answers (follow-ups on one topic share the passage they are answered from).
    questions = {t.info.request_preview for t in ok}
    answers = {t.info.response_preview for t in ok}
    assert len(questions) >= 20 and len(answers) >= 0.75 * len(questions)
    # Multi-step agent turns with tens of spans: tools, a retriever, a reranker, models.
    large = [t for t in traces if len(t.data.spans) >= 20]
    assert large
    kinds = Counter(s.span_type for s in large[0].data.spans)
    assert kinds["AGENT"] == 1 and kinds["TOOL"] >= 2 and kinds["CHAT_MODEL"] >= 3
    tools = {s.name for t in traces for s in t.data.spans if s.span_type == "TOOL"}
    assert {"search_docs", "get_user_plan", "calculator", "get_usage_stats"} <= tools
    retrieved = [s for t in large for s in t.data.spans if s.span_type == "RETRIEVER"]
    assert retrieved and all(d["metadata"]["doc_uri"] for d in retrieved[0].outputs)
    assert any(s.span_type == "RERANKER" for t in large for s in t.data.spans)
    # Some failures (a few percent), with the exception on the failed span; some turns
    # where a tool failed and the agent recovered.
    assert 0.01 <= len(failed) / len(traces) <= 0.1, (len(failed), len(traces))
    for t in failed:
        errors = [s for s in t.data.spans if str(s.status.status_code) == "ERROR"]
        assert any(e.name == "exception" for s in errors for e in s.events), t.info.trace_id
    assert any(any(str(s.status.status_code) == "ERROR" for s in t.data.spans) for t in ok)
    # A realistic latency spread: turns of about a second to a few, with a long tail.
    durations = sorted(t.info.execution_duration or 0 for t in traces)
    assert 800 <= statistics.median(durations) <= 4000
    p95 = durations[int(len(durations) * 0.95)]
    assert 3000 <= p95 <= 12_000
    models = sorted(s.end_time_ns - s.start_time_ns for t in ok for s in t.data.spans
                    if s.span_type == "CHAT_MODEL" and s.end_time_ns is not None)
    assert models[0] >= 0.4e9 and models[-1] <= 7e9
    # Long conversations.
    turns = Counter(t.info.session_id for t in traces)
    assert any(n >= 6 for n in turns.values())
