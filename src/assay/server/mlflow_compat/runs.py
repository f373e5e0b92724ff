"""MLflow's run routes (``/api/2.0/mlflow/runs/...``) over Assay's runs: create, get,
update, and logging metrics, params and tags (one at a time or in a batch); and linking
traces to a run.

An MLflow run becomes an Assay run of kind *evaluation* (the kind that records metrics and
params). Assay keeps a metric's latest value, not its history: a metric logged again at
another step replaces it, and reads answer it with step 0.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from assay.entities._time import now_ms
from assay.entities.run import Run, RunData, RunInfo, RunKind, RunStatus, new_run_id
from assay.errors import InvalidParameterError
from assay.server.deps import StoreDep
from assay.server.permissions import Action, needs

__all__ = ["v2"]

v2 = APIRouter()

#: MLflow's tag of a run's name.
RUN_NAME_TAG = "mlflow.runName"
#: The most metrics, params and tags one batch takes (MLflow's limits).
MAX_BATCH_METRICS, MAX_BATCH_PARAMS, MAX_BATCH_TAGS = 1000, 100, 100


class _Request(BaseModel):
    # MLflow's clients send whole messages; fields Assay does not use are ignored.
    model_config = ConfigDict(extra="ignore")


class _Pair(_Request):
    key: str = Field(min_length=1)
    value: str = ""


class _Metric(_Request):
    key: str = Field(min_length=1)
    value: float
    timestamp: int | None = None
    step: int | None = None


class CreateRun(_Request):
    experiment_id: str = Field(min_length=1)
    user_id: str | None = None
    run_name: str | None = None
    start_time: int | None = None
    tags: list[_Pair] = Field(default_factory=list)


class UpdateRun(_Request):
    run_id: str | None = None
    run_uuid: str | None = None
    status: str | None = None
    end_time: int | None = None
    run_name: str | None = None


class LogBatch(_Request):
    run_id: str = Field(min_length=1)
    metrics: list[_Metric] = Field(default_factory=list, max_length=MAX_BATCH_METRICS)
    params: list[_Pair] = Field(default_factory=list, max_length=MAX_BATCH_PARAMS)
    tags: list[_Pair] = Field(default_factory=list, max_length=MAX_BATCH_TAGS)


class LogMetric(_Metric):
    run_id: str = Field(min_length=1)


class LogPair(_Pair):
    run_id: str = Field(min_length=1)


class LinkTraces(_Request):
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


@v2.post("/traces/link-to-run", openapi_extra=needs(Action.WRITE))
def link_traces_to_run(body: LinkTraces, store: StoreDep) -> dict[str, Any]:
    store.link_run_traces(body.run_id, body.trace_ids)
    return {}


def _run_id(run_id: str | None, run_uuid: str | None) -> str:
    found = run_id or run_uuid
    if not found:
        raise InvalidParameterError("Missing run_id: name the run")
    return found
