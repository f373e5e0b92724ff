"""Evaluation datasets: create, find, search and delete datasets; merge, list and delete
their records. Every change of the records makes a new version, which can be read later
with ``version=``.

Reading is ``read``; creating, changing and deleting is ``write``. Who made a change is the
signed-in caller (none without auth).
"""

from __future__ import annotations

from typing import Any

from fastapi import Query
from pydantic import BaseModel, Field, JsonValue

from assay.entities.dataset import (
    MAX_DATASET_NAME_CHARS,
    MAX_DATASET_TAGS,
    MAX_RECORDS_PER_CHANGE,
)
from assay.server.api.common import EmptyResponse, JsonInt, RequestModel
from assay.server.deps import CurrentUserDep, StoreDep
from assay.server.errors import CONFLICT_RESPONSE, ERROR_RESPONSES
from assay.server.permissions import Action, needs
from assay.server.route_tables import RouteTable

__all__ = ["router"]

router = RouteTable(tags=["datasets"], responses=ERROR_RESPONSES)

_DATASET = ("dataset_id, name, experiment_ids, tags, version (0: no change yet), "
            "num_records, created_time, last_update_time, created_by, last_updated_by")
_RECORD = ("inputs (a non-empty object, required), outputs (any JSON), expectations "
           "(name → value), tags (str → str), source ({source_type: TRACE|HUMAN|CODE|"
           "DOCUMENT, source_data: {...}})")
_VERSION = Query(default=None, ge=0, le=2**31 - 1,
                 description="A version (default the latest)")


class CreateDatasetRequest(RequestModel):
    name: str = Field(min_length=1, max_length=MAX_DATASET_NAME_CHARS,
                      description="Unique among datasets")
    experiment_ids: list[str] = Field(min_length=1, max_length=MAX_DATASET_TAGS)
    tags: dict[str, str] = Field(default_factory=dict, max_length=MAX_DATASET_TAGS)


class SearchDatasetsRequest(RequestModel):
    experiment_ids: list[str] | None = Field(default=None, max_length=1000,
                                             description="Only datasets in any of these")
    filter_string: str | None = Field(default=None, max_length=65_536, description=(
        "Comparisons joined by AND on name, dataset_id, created_by, last_updated_by, "
        "tags.<key> (= != LIKE ILIKE) and created_time, last_update_time (ms)"))
    max_results: JsonInt = Field(default=1000, ge=1, le=10_000)
    order_by: list[str] | None = Field(default=None, max_length=1, description=(
        "One of name, created_time, last_update_time, then ASC or DESC (default "
        "created_time DESC)"))
    page_token: str | None = Field(default=None, max_length=4096)


class MergeRecordsRequest(RequestModel):
    records: list[dict[str, JsonValue]] = Field(max_length=MAX_RECORDS_PER_CHANGE,
                                                description=_RECORD)


class DeleteRecordsRequest(RequestModel):
    record_ids: list[str] = Field(max_length=MAX_RECORDS_PER_CHANGE)


class DatasetResponse(BaseModel):
    dataset: dict[str, Any] = Field(description=_DATASET)


class DatasetsResponse(BaseModel):
    datasets: list[dict[str, Any]]
    next_page_token: str | None = None


class RecordsResponse(BaseModel):
    records: list[dict[str, Any]] = Field(description=(
        "record_id, dataset_id, inputs, outputs, expectations, tags, source, created_time, "
        "last_update_time, created_by, last_updated_by"))
    next_page_token: str | None = None


@router.post("/datasets", response_model=DatasetResponse, openapi_extra=needs(Action.WRITE),
             responses={409: CONFLICT_RESPONSE})
def create_dataset(body: CreateDatasetRequest, store: StoreDep,
                   user: CurrentUserDep) -> DatasetResponse:
    """Create an empty dataset (version 0)."""
    info = store.create_dataset(body.name, body.experiment_ids, body.tags,
                                created_by=None if user is None else user.username)
    return DatasetResponse(dataset=info.to_dict())


@router.post("/datasets/search", response_model=DatasetsResponse,
             openapi_extra=needs(Action.READ))
def search_datasets(body: SearchDatasetsRequest, store: StoreDep) -> DatasetsResponse:
    """Datasets matching a filter, at their latest version, a page at a time."""
    page = store.search_datasets(body.experiment_ids, body.filter_string, body.max_results,
                                 body.order_by, body.page_token)
    return DatasetsResponse(datasets=[d.to_dict() for d in page], next_page_token=page.token)


@router.get("/datasets/get-by-name", response_model=DatasetResponse,
            openapi_extra=needs(Action.READ))
def get_dataset_by_name(store: StoreDep,
                        name: str = Query(min_length=1, max_length=MAX_DATASET_NAME_CHARS),
                        version: int | None = _VERSION) -> DatasetResponse:
    """The dataset of this name."""
    return DatasetResponse(dataset=store.get_dataset(name=name, version=version).to_dict())


@router.get("/datasets/{dataset_id}", response_model=DatasetResponse,
            openapi_extra=needs(Action.READ))
def get_dataset(dataset_id: str, store: StoreDep,
                version: int | None = _VERSION) -> DatasetResponse:
    """The dataset with this id."""
    return DatasetResponse(dataset=store.get_dataset(dataset_id=dataset_id,
                                                     version=version).to_dict())


@router.delete("/datasets/{dataset_id}", response_model=EmptyResponse,
               openapi_extra=needs(Action.WRITE))
def delete_dataset(dataset_id: str, store: StoreDep) -> EmptyResponse:
    """Delete a dataset with every version of its records."""
    store.delete_dataset(dataset_id)
    return EmptyResponse()


@router.post("/datasets/{dataset_id}/records", response_model=DatasetResponse,
             openapi_extra=needs(Action.WRITE))
def merge_dataset_records(dataset_id: str, body: MergeRecordsRequest, store: StoreDep,
                          user: CurrentUserDep) -> DatasetResponse:
    """Upsert records by their inputs; a new version when anything changed. All or
    nothing."""
    info = store.merge_dataset_records(dataset_id, body.records,
                                       updated_by=None if user is None else user.username)
    return DatasetResponse(dataset=info.to_dict())


@router.post("/datasets/{dataset_id}/records/delete", response_model=DatasetResponse,
             openapi_extra=needs(Action.WRITE))
def delete_dataset_records(dataset_id: str, body: DeleteRecordsRequest, store: StoreDep,
                           user: CurrentUserDep) -> DatasetResponse:
    """Remove records in a new version (older versions keep them)."""
    info = store.delete_dataset_records(dataset_id, body.record_ids,
                                        updated_by=None if user is None else user.username)
    return DatasetResponse(dataset=info.to_dict())


@router.get("/datasets/{dataset_id}/records", response_model=RecordsResponse,
            openapi_extra=needs(Action.READ))
def list_dataset_records(dataset_id: str, store: StoreDep, version: int | None = _VERSION,
                         max_results: int = Query(default=1000, ge=1, le=10_000),
                         page_token: str | None = Query(default=None, max_length=4096),
                         ) -> RecordsResponse:
    """The records of a version, in the order they were first added."""
    page = store.list_dataset_records(dataset_id, version, max_results, page_token)
    return RecordsResponse(records=[r.to_dict() for r in page], next_page_token=page.token)
