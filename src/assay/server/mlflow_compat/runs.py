"""MLflow's run routes (``/api/2.0/mlflow/runs/...``) over Assay's runs: create, get,
update, search, delete and restore, logging metrics, params and tags (one at a time or in a
batch), a metric's history, its inputs (accepted, not kept); and linking traces to a run.

An MLflow run becomes an Assay run of kind *evaluation* (the kind that records metrics and
params). Assay keeps a metric's latest value, not its history: a metric logged again at
another step replaces it, and reads (the run, the metric's history) answer it with step 0.
Assay deletes runs outright rather than marking them deleted: deleting a labeling session's
run deletes the session; an evaluation's run is kept with its results (the request is
refused, saying so), and there is never a deleted run to restore.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query
from pydantic import Field

from assay.entities._time import now_ms
from assay.entities.run import (
    Run,
    RunData,
    RunInfo,
    RunKind,
    RunStatus,
    check_run_view_type,
    new_run_id,
)
from assay.errors import InvalidParameterError
from assay.server.deps import StoreDep
from assay.server.mlflow_compat.protocol import MlflowRequest, page_json
from assay.server.permissions import Action, needs
from assay.server.route_tables import RouteTable

__all__ = ["v2"]

v2 = RouteTable()

#: MLflow's tag of a run's name.
RUN_NAME_TAG = "mlflow.runName"
#: The most metrics, params and tags one batch takes (MLflow's limits).
MAX_BATCH_METRICS, MAX_BATCH_PARAMS, MAX_BATCH_TAGS = 1000, 100, 100
#: The largest page of a run search: MLflow allows 50,000, Assay's store pages 1,000.
MAX_SEARCH_RESULTS = 50_000
_STORE_PAGE = 1000


class _Pair(MlflowRequest):
    key: str = Field(min_length=1)
    value: str = ""


class _Metric(MlflowRequest):
    key: str = Field(min_length=1)
    value: float
    timestamp: int | None = None
    step: int | None = None


class CreateRun(MlflowRequest):
    experiment_id: str = Field(min_length=1)
    user_id: str | None = None
    run_name: str | None = None
    start_time: int | None = None
    tags: list[_Pair] = Field(default_factory=list)


class UpdateRun(MlflowRequest):
    run_id: str | None = None
    run_uuid: str | None = None
    status: str | None = None
    end_time: int | None = None
    run_name: str | None = None


class LogBatch(MlflowRequest):
    run_id: str = Field(min_length=1)
    metrics: list[_Metric] = Field(default_factory=list, max_length=MAX_BATCH_METRICS)
    params: list[_Pair] = Field(default_factory=list, max_length=MAX_BATCH_PARAMS)
    tags: list[_Pair] = Field(default_factory=list, max_length=MAX_BATCH_TAGS)


class LogMetric(_Metric):
    run_id: str = Field(min_length=1)


class LogPair(_Pair):
    run_id: str = Field(min_length=1)


class RunId(MlflowRequest):
    run_id: str | None = None
    run_uuid: str | None = None


class SearchRuns(MlflowRequest):
    experiment_ids: list[str] = Field(min_length=1, max_length=100)
    filter: str | None = None
    run_view_type: str | int | None = None
    max_results: int = Field(default=1000, ge=1, le=MAX_SEARCH_RESULTS)
    order_by: list[str] = Field(default_factory=list, max_length=20)
    page_token: str | None = None


class _Dataset(MlflowRequest):
    name: str = Field(min_length=1, max_length=500)
    digest: str = Field(min_length=1, max_length=500)


class _DatasetInput(MlflowRequest):
    dataset: _Dataset


class _ModelInput(MlflowRequest):
    model_id: str = Field(min_length=1)


class LogInputs(MlflowRequest):
    run_id: str = Field(min_length=1)
    datasets: list[_DatasetInput] = Field(default_factory=list, max_length=MAX_BATCH_PARAMS)
    models: list[_ModelInput] = Field(default_factory=list, max_length=MAX_BATCH_PARAMS)


class LinkTraces(MlflowRequest):
    run_id: str = Field(min_length=1)
    trace_ids: list[str] = Field(min_length=1, max_length=100)


def run_json(run: Run) -> dict[str, Any]:
    """A run as MLflow's ``Run`` message."""
    info = run.info.to_dict()
    info["artifact_uri"] = ""
    data = run.data.to_dict()
    for metric in data["metrics"]:
        metric.update(timestamp=run.info.start_time, step=0)
    return {"info": info, "data": data, "inputs": {}}


@v2.post("/runs/create", openapi_extra=needs(Action.WRITE))
def create_run(body: CreateRun, store: StoreDep) -> dict[str, Any]:
    tags = {tag.key: tag.value for tag in body.tags}
    run_id = new_run_id()
    name = body.run_name or tags.get(RUN_NAME_TAG) or f"run-{run_id[:8]}"
    tags[RUN_NAME_TAG] = name
    store.get_experiment(body.experiment_id)  # 404 naming it, before anything is stored
    info = RunInfo(run_id=run_id, experiment_id=body.experiment_id, run_name=name,
                   kind=RunKind.EVALUATION, start_time=body.start_time or now_ms(),
                   user_id=body.user_id)
    return {"run": run_json(store.create_run(info, RunData(tags=tags)))}


@v2.get("/runs/get", openapi_extra=needs(Action.READ))
def get_run(store: StoreDep, run_id: Annotated[str | None, Query()] = None,
            run_uuid: Annotated[str | None, Query()] = None) -> dict[str, Any]:
    return {"run": run_json(store.get_run(_run_id(run_id, run_uuid)))}


@v2.post("/runs/update", openapi_extra=needs(Action.WRITE))
def update_run(body: UpdateRun, store: StoreDep) -> dict[str, Any]:
    run_id = _run_id(body.run_id, body.run_uuid)
    status = RunStatus.parse(body.status) if body.status else None
    tags = {RUN_NAME_TAG: body.run_name} if body.run_name else None
    run = store.update_run(run_id, status=status, end_time=body.end_time, tags=tags)
    return {"run_info": run_json(run)["info"]}


@v2.post("/runs/log-batch", openapi_extra=needs(Action.WRITE))
def log_batch(body: LogBatch, store: StoreDep) -> dict[str, Any]:
    store.update_run(body.run_id, metrics={m.key: m.value for m in body.metrics} or None,
                     params={p.key: p.value for p in body.params} or None,
                     tags={t.key: t.value for t in body.tags} or None)
    return {}


@v2.post("/runs/log-metric", openapi_extra=needs(Action.WRITE))
def log_metric(body: LogMetric, store: StoreDep) -> dict[str, Any]:
    store.update_run(body.run_id, metrics={body.key: body.value})
    return {}


@v2.post("/runs/log-parameter", openapi_extra=needs(Action.WRITE))
def log_param(body: LogPair, store: StoreDep) -> dict[str, Any]:
    store.update_run(body.run_id, params={body.key: body.value})
    return {}


@v2.post("/runs/set-tag", openapi_extra=needs(Action.WRITE))
def set_tag(body: LogPair, store: StoreDep) -> dict[str, Any]:
    store.update_run(body.run_id, tags={body.key: body.value})
    return {}


@v2.post("/runs/search", openapi_extra=needs(Action.READ))
def search_runs(body: SearchRuns, store: StoreDep) -> dict[str, Any]:
    """A page of runs of these experiments matching a filter in MLflow's runs grammar
    (``metrics.accuracy > 0.8 and tags.stage = 'test'``), in ``order_by``'s order."""
    check_run_view_type(body.run_view_type)
    page = store.search_runs(body.experiment_ids, min(body.max_results, _STORE_PAGE),
                             body.page_token or None, body.filter or None,
                             body.order_by or None)
    return page_json("runs", [run_json(run) for run in page], page.token)


@v2.post("/runs/delete", openapi_extra=needs(Action.WRITE))
def delete_run(body: RunId, store: StoreDep) -> dict[str, Any]:
    """Delete a labeling session's run (and the session; its answers stay on the traces).
    An evaluation's run is kept: Assay has no deleted state to move it to."""
    run = store.get_run(_run_id(body.run_id, body.run_uuid))
    if run.info.kind is not RunKind.LABELING:
        raise InvalidParameterError(
            f"Invalid run_id {run.info.run_id!r}: it is an evaluation's run, which Assay "
            "keeps with its results (only a labeling session's run can be deleted)")
    store.delete_labeling_session(run.info.run_id)
    return {}


@v2.post("/runs/restore", openapi_extra=needs(Action.WRITE))
def restore_run(body: RunId, store: StoreDep) -> dict[str, Any]:
    """Refused as MLflow refuses a run that is not deleted: Assay deletes runs outright,
    so a run it still has was never deleted (and one it deleted is gone)."""
    run = store.get_run(_run_id(body.run_id, body.run_uuid))
    raise InvalidParameterError(
        f"Invalid run_id {run.info.run_id!r}: the run must be in the 'deleted' state to be "
        "restored, and it is active (Assay deletes runs outright, never marks them)")


@v2.post("/runs/log-inputs", openapi_extra=needs(Action.WRITE))
def log_inputs(body: LogInputs, store: StoreDep) -> dict[str, Any]:
    """Accepted and checked (the run must exist, each dataset have a name and a digest), but
    not kept: Assay records no dataset or model inputs of a run (``mlflow.genai.evaluate``
    logs its data this way, then goes on)."""
    store.get_run(body.run_id)
    return {}


@v2.get("/metrics/get-history", openapi_extra=needs(Action.READ))
def get_metric_history(
        store: StoreDep, metric_key: Annotated[str, Query(min_length=1, max_length=250)],
        run_id: Annotated[str | None, Query()] = None,
        run_uuid: Annotated[str | None, Query()] = None,
        max_results: Annotated[int | None, Query(ge=1)] = None,
        page_token: Annotated[str | None, Query()] = None) -> dict[str, Any]:
    """A metric's history: Assay keeps its latest value, so at most one entry (step 0)."""
    run = store.get_run(_run_id(run_id, run_uuid))
    metrics = [m for m in run_json(run)["data"]["metrics"] if m["key"] == metric_key]
    return {"metrics": metrics}


@v2.post("/traces/link-to-run", openapi_extra=needs(Action.WRITE))
def link_traces_to_run(body: LinkTraces, store: StoreDep) -> dict[str, Any]:
    store.link_run_traces(body.run_id, body.trace_ids)
    return {}


def _run_id(run_id: str | None, run_uuid: str | None) -> str:
    found = run_id or run_uuid
    if not found:
        raise InvalidParameterError("Missing run_id: name the run")
    return found
