"""The search and analytics SDK: ``assay.search_traces`` (DataFrame or list),
``AssayClient.search_traces`` with filters and cursors, ``get_feedback_summary``, and the
seeds' query snippets with ``mlflow`` replaced by ``assay``."""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime, timedelta

import pytest

import assay
from assay import _runtime
from assay.client import AssayClient, MlflowClient
from assay.dataframe import DATAFRAME_COLUMNS
from assay.entities import AssessmentSource, Trace
from assay.errors import InvalidParameterError, NotFoundError
from assay.search import FilterError
from factories import make_trace


@assay.trace
def my_chatbot(question: str) -> str:
    assay.update_current_trace(client_request_id=f"req-{question}",
                               metadata={"mlflow.trace.user": "user-jane-doe-12345",
                                         "mlflow.trace.session": "session-123"})
    return answer(question)


@assay.trace(span_type="LLM")
def answer(question: str) -> str:
    return f"An answer to {question}"


def _chat(n: int, experiment: str = "/Shared/production-app") -> list[str]:
    assay.set_experiment(experiment)
    ids = []
    for i in range(n):
        my_chatbot(f"q{i}")
        trace_id = assay.get_last_active_trace_id()
        assert trace_id is not None
        ids.append(trace_id)
    return ids


def test_search_traces_returns_mlflows_dataframe(rt: _runtime.Runtime) -> None:
    pandas = pytest.importorskip("pandas")
    [first, second] = _chat(2)
    assay.log_feedback(trace_id=first, name="user_feedback", value=True,
                       source=AssessmentSource("HUMAN", "u1"))
    df = assay.search_traces()
    assert isinstance(df, pandas.DataFrame)  # the default where pandas is installed
    assert tuple(df.columns) == DATAFRAME_COLUMNS
    assert sorted(df["trace_id"]) == sorted([first, second])
    row = df[df["trace_id"] == first].iloc[0]
    assert row["client_request_id"] == "req-q0"
    assert row["state"] == "OK"
    assert int(row["request_time"]) > 0 and row["execution_duration"] >= 0
    assert row["request"] == {"question": "q0"}
    assert row["response"] == "An answer to q0"
    assert row["trace_metadata"]["mlflow.trace.user"] == "user-jane-doe-12345"
    assert [s["name"] for s in row["spans"]] == ["my_chatbot", "answer"]
    assert [a["assessment_name"] for a in row["assessments"]] == ["user_feedback"]
    assert Trace.from_json(row["trace"]).info.trace_id == first
    headers = assay.search_traces(include_spans=False, filter_string="trace.status = 'OK'")
    assert isinstance(headers, pandas.DataFrame)
    assert [list(s) for s in headers["spans"]] == [[], []]


def test_search_traces_as_a_list_with_filter_order_and_limit(rt: _runtime.Runtime) -> None:
    ids = _chat(3)
    found = assay.search_traces(return_type="list", order_by=["client_request_id DESC"],
                                max_results=2)
    assert [t.info.trace_id for t in found] == [ids[2], ids[1]]
    found = assay.search_traces(return_type="list",
                                filter_string="attributes.client_request_id = 'req-q1'")
    assert [t.info.trace_id for t in found] == [ids[1]]
    experiment = assay.get_experiment_by_name("/Shared/production-app")
    assert experiment is not None
    assert len(assay.search_traces(return_type="list",
                                   locations=[experiment.experiment_id])) == 3
    assert len(assay.search_traces(return_type="list", experiment_ids=["0"])) == 0


def test_max_results_none_reads_every_page(rt: _runtime.Runtime) -> None:
    rt.store().log_traces([make_trace(request_time=i, num_spans=1) for i in range(1205)])
    found = assay.search_traces(experiment_ids=["0"], return_type="list",
                                include_spans=False)
    assert len(found) == 1205
    assert len({t.info.trace_id for t in found}) == 1205


def test_without_pandas_the_default_is_a_list_and_pandas_says_how_to_install(
        rt: _runtime.Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    _chat(1)
    monkeypatch.setitem(sys.modules, "pandas", None)
    assert isinstance(assay.search_traces(), list)
    with pytest.raises(ImportError, match=r"pip install 'assay\[pandas\]'"):
        assay.search_traces(return_type="pandas")


@pytest.mark.parametrize("kwargs", [{"return_type": "polars"}, {"max_results": 0},
                                    {"extract_fields": ["x"]}])
def test_search_traces_rejects_bad_arguments(rt: _runtime.Runtime,
                                             kwargs: dict[str, object]) -> None:
    with pytest.raises(InvalidParameterError):
        assay.search_traces(**kwargs)  # type: ignore[arg-type]


def test_client_search_pages_with_a_token(rt: _runtime.Runtime) -> None:
    ids = _chat(5)
    client = MlflowClient()
    seen: list[str] = []
    token = None
    while True:
        page = client.search_traces(experiment_names=["/Shared/production-app"],
                                    max_results=2, page_token=token,
                                    order_by=["execution_time_ms DESC"])
        seen += [t.info.trace_id for t in page]
        token = page.token
        if token is None:
            break
    assert sorted(seen) == sorted(ids)
    with pytest.raises(NotFoundError, match="nope"):
        client.search_traces(experiment_names=["nope"])
    with pytest.raises(FilterError, match="position 15"):
        client.search_traces(filter_string="trace.status = OK")


def test_seed_000_get_recent_traces_and_analysis(rt: _runtime.Runtime) -> None:
    ids = _chat(4, "/Shared/production-genai-app")
    assay.log_feedback(trace_id=ids[0], name="user_feedback", value=False,
                       source=AssessmentSource("HUMAN", "user-1"))
    assay.log_feedback(trace_id=ids[1], name="user_feedback", value=True)
    assay.log_feedback(trace_id=ids[1], name="user_accuracy", value=0.8)

    # seed 000, as printed, with MlflowClient from assay
    def get_recent_traces(experiment_name: str, hours: int = 24) -> list[Trace]:
        client = MlflowClient()
        cutoff_time = datetime.now() - timedelta(hours=hours)
        cutoff_timestamp_ms = int(cutoff_time.timestamp() * 1000)
        traces = client.search_traces(
            experiment_names=[experiment_name],
            filter_string=f"trace.timestamp_ms > {cutoff_timestamp_ms}"
        )
        return traces

    traces = get_recent_traces("/Shared/production-genai-app", hours=24)
    assert len(traces) == 4
    experiment = assay.get_experiment_by_name("/Shared/production-genai-app")
    assert experiment is not None
    cutoff = int((time.time() - 24 * 3600) * 1000)
    summary = AssayClient().get_feedback_summary(
        experiment_ids=[experiment.experiment_id],
        filter_string=f"trace.timestamp_ms > {cutoff}")
    overall = summary.overall
    assert (overall.num_traces, overall.num_traces_with_feedback) == (4, 2)
    thumbs = overall.assessments["user_feedback"].boolean
    assert thumbs is not None and (thumbs.positive, thumbs.negative) == (1, 1)
    numeric = overall.assessments["user_accuracy"].numeric
    assert numeric is not None and numeric.mean == 0.8
    by_module = assay.get_feedback_summary(names=["user_feedback"], time_bucket="day")
    assert by_module.overall.num_traces_with_feedback == 2
    assert sum(g.num_traces for g in by_module.groups) == 4
    assert json.dumps(by_module.to_dict())  # plain data


def test_seed_002_user_and_session_queries(rt: _runtime.Runtime) -> None:
    ids = _chat(2)
    assay.set_experiment("/Shared/other")
    my_chatbot("elsewhere")
    client = MlflowClient()
    experiment = client.get_experiment_by_name("/Shared/production-app")
    assert experiment is not None
    # Query traces by user
    user_traces = client.search_traces(
        experiment_ids=[experiment.experiment_id],
        filter_string="tags.`mlflow.trace.user` = 'user-jane-doe-12345'",
        max_results=100
    )
    # Query traces by session
    session_traces = client.search_traces(
        experiment_ids=[experiment.experiment_id],
        filter_string="tags.`mlflow.trace.session` = 'session-123'",
        max_results=100
    )
    assert sorted(t.info.trace_id for t in user_traces) == sorted(ids)
    assert sorted(t.info.trace_id for t in session_traces) == sorted(ids)
    # seed 002's feedback endpoint: find the trace by its client request id
    traces = client.search_traces(
        experiment_ids=[experiment.experiment_id],
        filter_string="attributes.client_request_id = 'req-q1'",
        max_results=1
    )
    assert [t.info.trace_id for t in traces] == [ids[1]]


def test_run_id_selects_the_runs_traces(rt: _runtime.Runtime) -> None:
    rt.store().log_traces([make_trace(metadata={"mlflow.sourceRun": "run-1"}),
                           make_trace(metadata={"mlflow.sourceRun": "run-2"}), make_trace()])
    found = assay.search_traces(experiment_ids=["0"], run_id="run-1", return_type="list")
    assert [t.info.trace_metadata["mlflow.sourceRun"] for t in found] == ["run-1"]
