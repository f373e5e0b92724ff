"""update_current_trace, tags, automatic metadata, previews and token usage."""

from __future__ import annotations

import logging
import subprocess
import sys
import types
from pathlib import Path

import pytest

import assay
from assay import _runtime
from assay.entities import TraceState
from assay.errors import InvalidParameterError, NotFoundError
from assay.tracing import source
from assay.tracing.assembly import PREVIEW_MAX_CHARS
from assay.tracing.source import source_metadata
from runtimes import read_trace


def test_update_current_trace_sets_every_field(rt: _runtime.Runtime) -> None:
    @assay.trace
    def chat(question: str) -> str:
        assay.update_current_trace(
            tags={"team": "search"},
            metadata={"mlflow.trace.session": "session-1", "mlflow.trace.user": "user-jane",
                      "environment": "production"},
            client_request_id="req-abc-123",
            request_preview="custom request",
            state="ERROR",
            request_message="hi",  # extra keywords are metadata
            stream_start_time=12.5,
        )
        return "answer"

    with pytest.warns(UserWarning, match="stream_start_time"):
        chat("What is MLflow?")
    info = read_trace(assay.get_last_active_trace_id()).info
    assert info.client_request_id == "req-abc-123"
    assert info.tags["team"] == "search"
    assert info.trace_metadata["environment"] == "production"
    assert info.trace_metadata["request_message"] == "hi"
    assert info.trace_metadata["stream_start_time"] == "12.5"
    assert info.session_id == "session-1"
    assert info.user_id == "user-jane"
    assert info.request_preview == "custom request"
    assert info.response_preview == "answer"
    assert info.state is TraceState.ERROR


def test_session_id_and_user_keywords(rt: _runtime.Runtime) -> None:
    with assay.start_span("s") as span:
        assay.update_current_trace(session_id="s-9", user="bob", model_id="m-1")
    info = read_trace(span.trace_id).info
    assert (info.session_id, info.user_id) == ("s-9", "bob")
    assert info.trace_metadata["mlflow.modelId"] == "m-1"


@pytest.mark.parametrize("kwargs, field", [
    ({"state": "DONE"}, "state"),
    ({"state": "IN_PROGRESS"}, "state"),
    ({"request_preview": 12}, "request_preview"),
    ({"response_preview": ["x"]}, "response_preview"),
])
def test_update_current_trace_rejects_bad_values(rt: _runtime.Runtime,
                                                 kwargs: dict[str, object],
                                                 field: str) -> None:
    with assay.start_span("s"), pytest.raises(InvalidParameterError, match=field):
        assay.update_current_trace(**kwargs)  # type: ignore[arg-type]


def test_non_string_tag_values_are_stringified_with_a_warning(rt: _runtime.Runtime) -> None:
    with assay.start_span("s") as span, pytest.warns(UserWarning) as warned:
        assay.update_current_trace(tags={"n": 5}, metadata={"flag": True})
    messages = sorted(str(w.message) for w in warned)
    assert "'flag' has a bool value" in messages[0]
    assert "'n' has a int value" in messages[1]
    info = read_trace(span.trace_id).info
    assert info.tags["n"] == "5"
    assert info.trace_metadata["flag"] == "True"


def test_update_without_a_trace_warns_and_does_nothing(
        rt: _runtime.Runtime, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="assay"):
        assay.update_current_trace(tags={"a": "b"})
    assert "no trace being recorded" in caplog.text


def test_trace_tags_on_running_and_logged_traces(rt: _runtime.Runtime) -> None:
    with assay.start_span("s") as span:
        assay.set_trace_tag(span.trace_id, "stage", "draft")
        assay.set_trace_tag(span.trace_id, "gone", "soon")
        assay.delete_trace_tag(span.trace_id, "gone")
    trace_id = span.trace_id
    assert read_trace(trace_id).info.tags["stage"] == "draft"
    assert "gone" not in read_trace(trace_id).info.tags
    assay.set_trace_tag(trace_id, "stage", "final")
    assay.set_trace_tag(trace_id, "long", "x" * 5000)
    tags = read_trace(trace_id).info.tags
    assert tags["stage"] == "final"
    assert len(tags["long"]) == 4096 and tags["long"].endswith("...")
    assay.delete_trace_tag(trace_id, "stage")
    assert "stage" not in read_trace(trace_id).info.tags
    with pytest.raises(NotFoundError, match="tr-0000"):
        assay.set_trace_tag("tr-" + "0" * 32, "a", "b")


def test_automatic_metadata(rt: _runtime.Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    main = types.ModuleType("__main__")
    main.__file__ = "/srv/app/serve.py"
    monkeypatch.setitem(sys.modules, "__main__", main)  # as if run as `python serve.py`
    source.source_metadata.cache_clear()
    try:
        with assay.start_span("s") as span:
            pass
        meta = read_trace(span.trace_id).info.trace_metadata
    finally:
        source.source_metadata.cache_clear()
    assert meta["assay.version"] == assay.__version__
    assert meta["mlflow.source.type"] == "LOCAL"
    assert meta["mlflow.trace_schema.version"] == "3"
    assert meta["mlflow.user"]
    assert meta["mlflow.source.name"] == "serve.py"


def test_git_metadata_inside_a_repository(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()

    def run(*args: str) -> None:
        subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)

    run("init", "-q", "-b", "feature-x")
    run("remote", "add", "origin", "https://token:secret@example.com/team/app.git")
    (repo / "f.txt").write_text("x")
    run("add", ".")
    run("-c", "user.email=a@b.c", "-c", "user.name=A", "commit", "-q", "-m", "init")
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, check=True,
                            capture_output=True, text=True).stdout.strip()
    (repo / "sub").mkdir()
    monkeypatch.chdir(repo / "sub")
    source_metadata.cache_clear()
    try:
        meta = source_metadata()
    finally:
        source_metadata.cache_clear()
    assert meta["mlflow.source.git.commit"] == commit
    assert meta["mlflow.source.git.branch"] == "feature-x"
    assert meta["mlflow.source.git.repoURL"] == "https://example.com/team/app.git"


def test_chat_aware_previews(rt: _runtime.Runtime) -> None:
    @assay.trace
    def chat(messages: list[dict[str, str]]) -> dict[str, object]:
        return {"choices": [{"message": {"role": "assistant", "content": "Paris."}}]}

    chat([{"role": "system", "content": "Be brief."},
          {"role": "user", "content": "Capital of France?"}])
    info = read_trace(assay.get_last_active_trace_id()).info
    assert info.request_preview == "Capital of France?"
    assert info.response_preview == "Paris."


def test_previews_of_plain_values_and_truncation(rt: _runtime.Runtime) -> None:
    @assay.trace
    def f(a: int, b: str) -> dict[str, str]:
        return {"text": b}

    big = "é" * (PREVIEW_MAX_CHARS * 3)
    f(1, big)
    trace = read_trace(assay.get_last_active_trace_id())
    assert trace.info.request_preview is not None
    assert trace.info.request_preview.startswith('{"a":1,"b":"éé')
    assert len(trace.info.request_preview) == PREVIEW_MAX_CHARS + 3
    assert trace.info.request_preview.endswith("...")
    # the span itself keeps everything
    assert trace.data.spans[0].inputs == {"a": 1, "b": big}


def test_token_usage_is_summed_over_llm_spans(rt: _runtime.Runtime) -> None:
    usage = {"input_tokens": 10, "output_tokens": 5, "total_tokens": 15}
    with assay.start_span("agent") as root:
        for _ in range(2):
            with assay.start_span("llm", span_type="LLM") as llm:
                llm.set_attribute("mlflow.chat.tokenUsage", usage)
                # a nested call inside a span that already reports usage is not counted
                with assay.start_span("inner", span_type="LLM") as inner:
                    inner.set_attribute("mlflow.chat.tokenUsage", usage)
    info = read_trace(root.trace_id).info
    assert info.token_usage == {"input_tokens": 20, "output_tokens": 10, "total_tokens": 30}
