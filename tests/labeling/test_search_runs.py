"""Searching runs (MLflow's ``search_runs``) through the Store and ``assay.search_runs``, on
SQLite, PostgreSQL and an Assay server over HTTP: the same runs, order, pages and errors on
all three."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import assay
from assay import _runtime
from assay.entities.labeling import LabelingSessionInfo
from assay.entities.run import Run, RunData, RunInfo, RunKind, RunStatus, new_run_id
from assay.errors import InvalidParameterError
from assay.settings import Settings
from assay.store.base import Store
from assay.store.sql.engine import create_engine
from assay.store.sql.runs import create_run
from conftest import Backend

T0 = 1_735_689_600_000


def stored_runs(backend: Backend, runs: list[Run]) -> None:
    """Write evaluation runs straight into the backend's database (the store has no public
    way to create one yet: evaluations will), with the SQL store's own function."""
    engine, _ = create_engine(backend.database_uri)
    try:
        with engine.begin() as conn:
            for run in runs:
                create_run(conn, run.info, run.data)
    finally:
        engine.dispose()


def evaluation(name: str, minute: int, *, metrics: dict[str, float] | None = None,
               params: dict[str, str] | None = None, tags: dict[str, str] | None = None,
               status: RunStatus = RunStatus.FINISHED, experiment_id: str = "0",
               end: bool = True) -> Run:
    start = T0 + minute * 60_000
    return Run(RunInfo(run_id=new_run_id(), experiment_id=experiment_id, run_name=name,
                       kind=RunKind.EVALUATION, status=status, start_time=start,
                       end_time=start + 1000 if end else None, user_id="ana"),
               RunData(metrics=metrics or {}, params=params or {}, tags=tags or {}))


@pytest.fixture
def runs(backend: Backend, store: Store) -> list[Run]:
    """Four evaluations in experiment 0 (one unfinished) and a labeling session, newest
    last."""
    made = [
        evaluation("baseline", 1, metrics={"accuracy": 0.7, "latency": 1.5},
                   params={"model": "small", "prompt": "v1"}, tags={"team": "search"}),
        evaluation("bigger-model", 2, metrics={"accuracy": 0.9},
                   params={"model": "large", "prompt": "v1"}, tags={"team": "search"}),
        evaluation("new prompt", 3, metrics={"accuracy": 0.8, "latency": 0.5},
                   params={"model": "small", "prompt": "v2"}),
        evaluation("in flight", 4, status=RunStatus.RUNNING, end=False,
                   params={"model": "Large"}),
    ]
    stored_runs(backend, made)
    session = store.create_labeling_session(LabelingSessionInfo(
        run_id=new_run_id(), experiment_id="0", name="expert review", label_schemas=(),
        created_at=T0 + 5 * 60_000))
    return [*made, store.get_run(session.run_id)]


def names(found: list[Run]) -> list[str]:
    return [run.info.run_name for run in found]


def test_runs_are_newest_first_and_a_labeling_session_is_a_run(store: Store,
                                                               runs: list[Run]) -> None:
    found = store.search_runs(["0"])
    assert names(found) == ["expert review", "in flight", "new prompt", "bigger-model",
                            "baseline"]
    assert found.token is None
    assert found[1:] == sorted(runs[:4], key=lambda r: -r.info.start_time)
    assert names(store.search_runs(["0"], filter_string="attributes.kind = 'labeling'")) \
        == ["expert review"]
    assert names(store.search_runs(["0"], filter_string="kind = 'evaluation'"))[0] \
        == "in flight"


@pytest.mark.parametrize(("filter_string", "expected"), [
    ("metrics.accuracy > 0.75", ["new prompt", "bigger-model"]),
    ("metrics.accuracy >= 0.8 AND metrics.latency < 1", ["new prompt"]),
    ("metrics.accuracy != 0.9", ["new prompt", "baseline"]),  # no metric: no match
    ("metrics.accuracy = 0.7", ["baseline"]),
    ("params.model = 'small'", ["new prompt", "baseline"]),
    ("params.model != 'small'", ["in flight", "bigger-model"]),
    ("params.model LIKE 'L%'", ["in flight"]),
    ("params.model ILIKE 'l%'", ["in flight", "bigger-model"]),
    ("params.prompt = 'v1' AND params.model = 'large'", ["bigger-model"]),
    ("tags.team = 'search'", ["bigger-model", "baseline"]),
    ("tags.team != 'search'", []),
    ("attributes.status = 'FINISHED'", ["new prompt", "bigger-model", "baseline"]),
    ("status != 'FINISHED' AND kind = 'evaluation'", ["in flight"]),
    ("attributes.status IN ('RUNNING', 'KILLED')", ["expert review", "in flight"]),
    ("attributes.run_name = 'new prompt'", ["new prompt"]),
    ("run_name LIKE '%model%'", ["bigger-model"]),
    ("name ILIKE 'BASE%'", ["baseline"]),
    ("tags.`mlflow.runName` = 'baseline'", ["baseline"]),
    ("attributes.run_name NOT IN ('baseline', 'in flight', 'expert review')",
     ["new prompt", "bigger-model"]),
    (f"attributes.start_time > {T0 + 3 * 60_000}", ["expert review", "in flight"]),
    (f"attributes.created <= {T0 + 60_000}", ["baseline"]),
    (f"attributes.end_time >= {T0 + 2 * 60_000}", ["new prompt", "bigger-model"]),
    ("attributes.user_id = 'ana'", ["in flight", "new prompt", "bigger-model", "baseline"]),
    ("metrics.nothing > 0", []),
    ("params.`it's` = 'x'", []),
    ('tags.`a"b\\c` = \'x\'', []),
    ("params.`a\\b` = 'x' AND tags.`\u00e9t\u00e9` = 'x'", []),
    ("", ["expert review", "in flight", "new prompt", "bigger-model", "baseline"]),
])
def test_filters_mean_what_mlflow_means(store: Store, runs: list[Run], filter_string: str,
                                        expected: list[str]) -> None:
    assert names(store.search_runs(["0"], filter_string=filter_string)) == expected


@pytest.mark.parametrize(("order_by", "expected"), [
    (["metrics.accuracy DESC"],
     ["bigger-model", "new prompt", "baseline", "expert review", "in flight"]),
    (["metrics.latency"], ["new prompt", "baseline", "expert review", "in flight",
                           "bigger-model"]),
    (["attributes.start_time"], ["baseline", "bigger-model", "new prompt", "in flight",
                                 "expert review"]),
    (["params.prompt DESC", "run_name"], ["new prompt", "baseline", "bigger-model",
                                          "expert review", "in flight"]),
    (["end_time DESC"], ["new prompt", "bigger-model", "baseline", "expert review",
                         "in flight"]),
])
def test_order_by_puts_runs_without_the_key_last(store: Store, runs: list[Run],
                                                 order_by: list[str],
                                                 expected: list[str]) -> None:
    assert names(store.search_runs(["0"], order_by=order_by)) == expected


@pytest.mark.parametrize("order_by", [None, ["metrics.accuracy DESC"], ["params.model"],
                                      ["end_time"]])
def test_pages_cover_every_run_once(store: Store, runs: list[Run],
                                    order_by: list[str] | None) -> None:
    whole = store.search_runs(["0"], order_by=order_by)
    paged: list[Run] = []
    token = None
    while True:
        page = store.search_runs(["0"], max_results=2, page_token=token, order_by=order_by)
        paged.extend(page)
        token = page.token
        if token is None:
            break
    assert paged == list(whole) and len(paged) == 5


def test_a_token_is_only_good_for_its_own_search(store: Store, runs: list[Run]) -> None:
    token = store.search_runs(["0"], max_results=1).token
    assert token is not None
    with pytest.raises(InvalidParameterError, match="page_token"):
        store.search_runs(["0"], max_results=1, page_token=token,
                          filter_string="kind = 'evaluation'")
    with pytest.raises(InvalidParameterError, match="page_token"):
        store.search_runs(["0"], page_token="not-a-token")
    with pytest.raises(InvalidParameterError, match="page_token"):
        store.search_traces(["0"], page_token=token)


def test_experiments_are_kept_apart(backend: Backend, store: Store,
                                    runs: list[Run]) -> None:
    other = store.create_experiment("other")
    stored_runs(backend, [evaluation("elsewhere", 9, experiment_id=other)])
    assert names(store.search_runs([other])) == ["elsewhere"]
    assert len(store.search_runs(["0", other])) == 6
    assert list(store.search_runs(["424242"])) == []


@pytest.mark.parametrize(("filter_string", "named"), [
    ("metrics.accuracy > 'high'", "'high'"),
    ("params.model > 1", "'>'"),
    ("params.model = 1", "1"),
    ("attributes.status = 'DONE'", "'DONE'"),
    ("attributes.kind = 'training'", "'training'"),
    ("kind = 'labeling' OR kind = 'evaluation'", "OR"),
    ("(kind = 'labeling')", "'('"),
    ("NOT kind = 'labeling'", "'NOT'"),
    ("metrics.a = 1; DROP TABLE runs", "';'"),
    ("attributes.experiment_id = '0'", "'experiment_id'"),
    ("datasets.name = 'x'", "'datasets'"),
    ("params.model = 'x' AND", "end of the filter"),
    ("params.model == 'x'", "'=='"),
    ("attributes.start_time > 1.5", "1.5"),
    ("attributes.start_time > 99999999999999999999", "99999999999999999999"),
    ("params.model = 'x\x00'", "NUL"),
    ("params.model = unquoted", "'unquoted'"),
    ("run_id IN ()", "Empty IN list"),
    ("params.model RLIKE 'x'", "'RLIKE'"),
    ("tags.t IS NULL", "'IS'"),
    ("x" * 70_000, "too long"),
    (" AND ".join(["metrics.a > 0"] * 201), "too many clauses"),
    ("run_id IN (" + ", ".join(["'x'"] * 1001) + ")", "too many values"),
])
def test_hostile_filters_are_refused_naming_the_part(store: Store, runs: list[Run],
                                                     filter_string: str, named: str) -> None:
    with pytest.raises(InvalidParameterError) as caught:
        store.search_runs(["0"], filter_string=filter_string)
    assert named in str(caught.value)


@pytest.mark.parametrize(("order_by", "named"), [
    (["metrics.accuracy SIDEWAYS"], "'SIDEWAYS'"),
    (["metrics.accuracy", "metrics.accuracy DESC"], "duplicate"),
    (["nope"], "'nope'"),
    (["params.`x"], "Unterminated backtick"),
])
def test_bad_order_by_is_refused(store: Store, runs: list[Run], order_by: list[str],
                                 named: str) -> None:
    with pytest.raises(InvalidParameterError, match=named):
        store.search_runs(["0"], order_by=order_by)


@pytest.mark.parametrize("experiment_ids", [[], "0"])
def test_experiment_ids_must_be_a_list(store: Store, experiment_ids: list[str]) -> None:
    with pytest.raises(InvalidParameterError, match="experiment_ids"):
        store.search_runs(experiment_ids)


# -- assay.search_runs -----------------------------------------------------------------------

@pytest.fixture
def rt(backend: Backend) -> Iterator[_runtime.Runtime]:
    runtime = _runtime.reset(Settings(tracking_uri=backend.tracking_uri))
    yield runtime
    _runtime.reset(Settings(tracking_uri="sqlite:///:memory:"))
    runtime.close()


def test_search_runs_gives_mlflow_columns(rt: _runtime.Runtime, runs: list[Run]) -> None:
    import pandas

    frame = assay.search_runs(filter_string="kind = 'evaluation'",
                              order_by=["metrics.accuracy DESC"])
    assert isinstance(frame, pandas.DataFrame)
    assert list(frame.columns) == [
        "run_id", "experiment_id", "status", "start_time", "end_time", "run_name", "kind",
        "metrics.accuracy", "metrics.latency", "params.model", "params.prompt",
        "tags.mlflow.runName", "tags.mlflow.user", "tags.team"]
    assert list(frame["tags.mlflow.runName"]) == ["bigger-model", "new prompt", "baseline",
                                                  "in flight"]
    assert frame["metrics.accuracy"].tolist()[:3] == [0.9, 0.8, 0.7]
    assert pandas.isna(frame["metrics.accuracy"].iloc[3])
    assert frame["start_time"].iloc[2] == pandas.Timestamp(T0 + 60_000, unit="ms", tz="UTC")
    assert pandas.isna(frame["end_time"].iloc[3])
    assert frame["status"].tolist() == ["FINISHED", "FINISHED", "FINISHED", "RUNNING"]


def test_search_runs_as_a_list_and_bounded(rt: _runtime.Runtime, runs: list[Run]) -> None:
    found = assay.search_runs(output_format="list", max_results=2)
    assert isinstance(found, list) and names(found) == ["expert review", "in flight"]
    empty = assay.search_runs(filter_string="metrics.accuracy > 2")
    assert not isinstance(empty, list)
    assert list(empty.columns)[:5] == ["run_id", "experiment_id", "status", "start_time",
                                       "end_time"]
    assert len(empty) == 0


def test_search_runs_finds_experiments_by_name_and_all(rt: _runtime.Runtime, backend: Backend,
                                                       runs: list[Run]) -> None:
    other = assay.create_experiment("other")
    stored_runs(backend, [evaluation("elsewhere", 9, experiment_id=other)])
    by_name = assay.search_runs(experiment_names=["other"], output_format="list")
    assert names(by_name) == ["elsewhere"]
    everywhere = assay.search_runs(search_all_experiments=True, output_format="list")
    assert len(everywhere) == 6


@pytest.mark.parametrize(("kwargs", "named"), [
    ({"output_format": "json"}, "output_format"),
    ({"max_results": 0}, "max_results"),
    ({"run_view_type": 2}, "run_view_type"),
    ({"filter_string": "metrics.a > 'x'"}, "'x'"),
])
def test_search_runs_refuses_bad_arguments(rt: _runtime.Runtime, kwargs: dict[str, object],
                                           named: str) -> None:
    with pytest.raises(InvalidParameterError, match=named):
        assay.search_runs(**kwargs)  # type: ignore[arg-type]
