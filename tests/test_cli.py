"""The assay command: demo and version."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import assay
from assay import _runtime
from assay.cli import main
from assay.demo import USERS
from assay.entities import Trace
from assay.settings import Settings


def test_version(capsys: object) -> None:
    assert main(["version"]) == 0
    assert assay.__version__ in capsys.readouterr().out  # type: ignore[attr-defined]


def _demo_traces(uri: str) -> list[Trace]:
    rt = _runtime.reset(Settings(tracking_uri=uri))
    try:
        return list(assay.AssayClient().search_traces(
            experiment_names=["assay-demo/rag-chatbot"], max_results=500))
    finally:
        _runtime.reset(Settings(tracking_uri="sqlite:///:memory:"))
        rt.close()


def _what_the_seed_decides(traces: list[Trace]) -> list[tuple[object, ...]]:
    """Everything about the demo's traces but ids and the clock: who asked what, through
    which deployment, and what people said about it."""
    return sorted(
        (t.info.client_request_id, t.info.user_id, t.info.session_id,
         t.info.trace_metadata.get("app_version"), t.info.trace_metadata.get("environment"),
         t.info.request_preview, t.info.response_preview, [s.name for s in t.data.spans],
         sorted((a.name, json.dumps(a.value), a.rationale, a.source.source_id, a.valid)
                for a in t.info.assessments if a.trace_id == t.info.trace_id))
        for t in traces)


def test_demo_drives_the_chat_app_and_is_the_same_for_a_seed(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path}/demo.db"
    seen = []
    for again in ([], ["--reset"]):  # the second run rebuilds the demo, not doubling it
        out = subprocess.run([sys.executable, "-m", "assay.cli", "demo", "--tracking-uri", uri,
                              "--conversations", "30", "--no-serve", *again],
                             capture_output=True, text=True, timeout=120, cwd=tmp_path)
        assert out.returncode == 0, out.stderr
        assert "Recorded" in out.stdout and "assay.get_trace('tr-" in out.stdout
        seen.append(_demo_traces(uri))
    first, traces = seen
    assert _what_the_seed_decides(first) == _what_the_seed_decides(traces)

    assert 30 <= len(traces) <= 90
    assert {t.info.session_id for t in traces} == {f"session-{i:03d}" for i in range(1, 31)}
    # The app's headers: X-Request-ID, X-Session-ID and X-User-ID became the trace's ids.
    for t in traces:
        assert t.info.client_request_id is not None and t.info.session_id is not None
        ids = re.fullmatch(r"req-(\d{3})-(\d)", t.info.client_request_id)
        assert ids is not None, t.info.client_request_id
        number, turn = ids.groups()
        assert t.info.session_id == f"session-{number}" and 1 <= int(turn) <= 3
        assert t.info.user_id in USERS
    # The app's spans: plain and streamed answers, each retrieving, then the offline model.
    shapes = {tuple(s.name for s in t.data.spans) for t in traces}
    assert shapes == {("chat", "retrieve_documents", "offline_responder"),
                      ("chat_stream", "retrieve_documents", "offline_responder")}
    assert all([s.span_type for s in t.data.spans] == ["CHAIN", "RETRIEVER", "CHAT_MODEL"]
               for t in traces)
    assert all(t.info.token_usage for t in traces)
    # Each deployment of the app put its version and environment on its traces.
    assert {t.info.trace_metadata["app_version"] for t in traces} == {"v1.4.2", "v1.5.0"}
    assert {t.info.trace_metadata["environment"] for t in traces} <= {"production", "staging"}
    # Spread over the last two weeks, the newer version only in the last six days.
    now_ms = time.time() * 1000
    ages = [(now_ms - t.info.request_time) / 86_400_000 for t in traces]
    assert min(ages) >= 0 and max(ages) <= 14.1 and max(ages) > 3
    assert all(age < 6.01 for t, age in zip(traces, ages, strict=True)
               if t.info.trace_metadata["app_version"] == "v1.5.0")
    for t in traces:  # every span moved with its trace
        assert all(t.info.request_time * 10**6 <= s.start_time_ns
                   <= s.end_time_ns <= (t.info.request_time + 1000) * 10**6
                   for s in t.data.spans if s.end_time_ns is not None)
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


def test_demo_reports_a_bad_tracking_uri(capsys: object) -> None:
    assert main(["demo", "--tracking-uri", "mysql://x"]) == 2
    assert "mysql://x" in capsys.readouterr().err  # type: ignore[attr-defined]


def test_demo_refuses_no_conversations(capsys: object) -> None:
    assert main(["demo", "--tracking-uri", "sqlite:///:memory:", "--conversations", "0",
                 "--no-serve"]) == 2
    assert "--conversations" in capsys.readouterr().err  # type: ignore[attr-defined]
