"""MLflow's evaluation dataset routes (``/api/3.0/mlflow/datasets/...``): what
``mlflow.genai.datasets`` and ``EvaluationDataset.merge_records`` call against a tracking
server, over Assay's datasets (the same store operations and record checks as
``/api/v1/datasets``).

MLflow sends and answers some fields as JSON text inside the JSON (a dataset's ``tags``,
the ``records`` of an upsert and of a page); they are decoded and encoded here. A dataset's
``digest`` is its id and version (Assay versions a dataset at each change); ``profile``
holds its number of records.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import Body, Query
from pydantic import Field

from assay.entities.dataset import DatasetInfo, DatasetRecord, inputs_digest
from assay.errors import InvalidParameterError
from assay.server.deps import CurrentUserDep, StoreDep
from assay.server.mlflow_compat.protocol import MlflowRequest, page_json
from assay.server.permissions import Action, needs
from assay.server.route_tables import RouteTable

__all__ = ["dataset_json", "record_json", "v3"]

v3 = RouteTable(prefix="/datasets")

#: The largest page of records or datasets (Assay's store pages 1,000 datasets and 10,000
#: records at most).
MAX_DATASETS_PAGE, MAX_RECORDS_PAGE = 1000, 10_000


class CreateDataset(MlflowRequest):
    name: str = Field(min_length=1)
    experiment_ids: list[str] = Field(default_factory=list, max_length=100)
    tags: str | None = Field(default=None, description="JSON text: an object of strings")


class SearchDatasets(MlflowRequest):
    experiment_ids: list[str] = Field(default_factory=list, max_length=100)
    filter_string: str | None = None
    max_results: int = Field(default=1000, ge=1, le=50_000)
    order_by: list[str] = Field(default_factory=list, max_length=20)
    page_token: str | None = None


class UpsertRecords(MlflowRequest):
    records: str = Field(min_length=2, description="JSON text: a list of records")


class DeleteRecords(MlflowRequest):
    dataset_record_ids: list[str] = Field(min_length=1, max_length=10_000)


def dataset_json(info: DatasetInfo) -> dict[str, Any]:
    """A dataset as MLflow's ``Dataset`` message."""
    return {"dataset_id": info.dataset_id, "name": info.name,
            "tags": json.dumps(dict(info.tags)),
            "digest": f"{info.dataset_id}@{info.version}",
            "profile": json.dumps({"num_records": info.num_records}),
            "created_time": info.created_time, "last_update_time": info.last_update_time,
            "created_by": info.created_by, "last_updated_by": info.last_updated_by,
            "experiment_ids": list(info.experiment_ids)}


def record_json(record: DatasetRecord) -> dict[str, Any]:
    """A record as the client's ``DatasetRecord.from_dict`` reads it."""
    d = record.to_dict()
    d["dataset_record_id"] = d.pop("record_id")
    d["source_type"] = record.source_type
    d["source_id"] = None
    if record.source is not None:
        data = record.source.get("source_data") or {}
        d["source_id"] = data.get("trace_id") if isinstance(data, dict) else None
    return d


def _json_text(field: str, text: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        raise InvalidParameterError(f"Invalid {field}: expected JSON text") from None


def _tags(text: str | None) -> dict[str, str] | None:
    if not text:
        return None
    tags = _json_text("tags", text)
    if not isinstance(tags, dict):
        raise InvalidParameterError("Invalid tags: expected a JSON object of strings")
    return tags


def _user(user: Any) -> str | None:
    return None if user is None else str(user.username)


@v3.post("/create", openapi_extra=needs(Action.WRITE))
def create_dataset(body: CreateDataset, store: StoreDep,
                   user: CurrentUserDep) -> dict[str, Any]:
    info = store.create_dataset(body.name, body.experiment_ids, _tags(body.tags),
                                created_by=_user(user))
    return {"dataset": dataset_json(info)}


@v3.post("/search", openapi_extra=needs(Action.READ))
def search_datasets(body: SearchDatasets, store: StoreDep) -> dict[str, Any]:
    page = store.search_datasets(body.experiment_ids or None, body.filter_string or None,
                                 min(body.max_results, MAX_DATASETS_PAGE),
                                 body.order_by or None, body.page_token or None)
    return page_json("datasets", [dataset_json(d) for d in page], page.token)


@v3.get("/{dataset_id}", openapi_extra=needs(Action.READ))
def get_dataset(dataset_id: str, store: StoreDep) -> dict[str, Any]:
    return {"dataset": dataset_json(store.get_dataset(dataset_id=dataset_id))}


@v3.delete("/{dataset_id}", openapi_extra=needs(Action.WRITE))
def delete_dataset(dataset_id: str, store: StoreDep) -> dict[str, Any]:
    store.delete_dataset(dataset_id)
    return {}


@v3.get("/{dataset_id}/experiment-ids", openapi_extra=needs(Action.READ))
def get_dataset_experiment_ids(dataset_id: str, store: StoreDep) -> dict[str, Any]:
    return {"experiment_ids": list(store.get_dataset(dataset_id=dataset_id).experiment_ids)}


@v3.post("/{dataset_id}/records", openapi_extra=needs(Action.WRITE))
def upsert_records(dataset_id: str, body: UpsertRecords, store: StoreDep,
                   user: CurrentUserDep) -> dict[str, Any]:
    """Merge records by their inputs (checked as every store checks them); how many were
    new and how many merged into records already there."""
    records = _json_text("records", body.records)
    before = store.get_dataset(dataset_id=dataset_id).num_records
    after = store.merge_dataset_records(dataset_id, records, updated_by=_user(user))
    inserted = after.num_records - before
    # The records were checked by the merge: each is an object with a dict of inputs.
    distinct = len({inputs_digest(record["inputs"]) for record in records})
    return {"inserted_count": inserted, "updated_count": max(distinct - inserted, 0)}


@v3.get("/{dataset_id}/records", openapi_extra=needs(Action.READ))
def get_records(dataset_id: str, store: StoreDep,
                max_results: Annotated[int, Query(ge=1, le=50_000)] = 1000,
                page_token: Annotated[str | None, Query(max_length=4096)] = None,
                ) -> dict[str, Any]:
    """A page of the latest version's records, oldest first, as JSON text."""
    page = store.list_dataset_records(dataset_id, None, min(max_results, MAX_RECORDS_PAGE),
                                      page_token or None)
    return page_json("records", json.dumps([record_json(r) for r in page]), page.token)


@v3.delete("/{dataset_id}/records", openapi_extra=needs(Action.WRITE))
def delete_records(dataset_id: str, store: StoreDep, user: CurrentUserDep,
                   body: Annotated[DeleteRecords, Body()]) -> dict[str, Any]:
    before = store.get_dataset(dataset_id=dataset_id).num_records
    after = store.delete_dataset_records(dataset_id, body.dataset_record_ids,
                                         updated_by=_user(user))
    return {"deleted_count": before - after.num_records}
