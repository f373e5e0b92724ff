"""MLflow's experiment routes (``/api/2.0/mlflow/experiments/...``): what
``mlflow.set_experiment`` calls (get-by-name, create, get) and search."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query
from pydantic import Field

from assay.errors import InvalidParameterError, NotFoundError
from assay.server.deps import StoreDep
from assay.server.mlflow_compat.protocol import MlflowRequest, experiment_json, page_json
from assay.server.permissions import Action, needs
from assay.server.route_tables import RouteTable

__all__ = ["v2"]

v2 = RouteTable(prefix="/experiments")


class _Tag(MlflowRequest):
    key: str = Field(min_length=1)
    value: str = ""


class CreateExperiment(MlflowRequest):
    name: str = Field(min_length=1, pattern=r"\S")
    artifact_location: str | None = None
    tags: list[_Tag] = Field(default_factory=list)


class SearchExperiments(MlflowRequest):
    max_results: int = Field(default=1000, ge=1, le=50_000)
    page_token: str | None = None
    filter: str | None = None
    order_by: list[str] = Field(default_factory=list)
    view_type: str | None = None


@v2.get("/get-by-name", openapi_extra=needs(Action.READ))
def get_experiment_by_name(
        store: StoreDep,
        experiment_name: Annotated[str, Query(min_length=1)]) -> dict[str, Any]:
    experiment = store.find_experiment_by_name(experiment_name)
    if experiment is None:
        raise NotFoundError(f"Could not find experiment with name '{experiment_name}'")
    return {"experiment": experiment_json(experiment)}


@v2.post("/create", openapi_extra=needs(Action.WRITE))
def create_experiment(body: CreateExperiment, store: StoreDep) -> dict[str, Any]:
    tags = {tag.key: tag.value for tag in body.tags}
    return {"experiment_id": store.create_experiment(body.name, tags)}


@v2.get("/get", openapi_extra=needs(Action.READ))
def get_experiment(store: StoreDep,
                   experiment_id: Annotated[str, Query(min_length=1)]) -> dict[str, Any]:
    return {"experiment": experiment_json(store.get_experiment(experiment_id))}


def _search(body: SearchExperiments, store: StoreDep) -> dict[str, Any]:
    if body.filter or body.order_by:
        raise InvalidParameterError(
            "Invalid filter/order_by: searching experiments takes neither yet on this "
            "server; page through them all (newest first) instead")
    # MLflow allows pages of up to 50,000; Assay's store pages 1,000 at most.
    page = store.search_experiments(min(body.max_results, 1000), body.page_token or None)
    return page_json("experiments", [experiment_json(e) for e in page], page.token)


@v2.post("/search", openapi_extra=needs(Action.READ))
def search_experiments(body: SearchExperiments, store: StoreDep) -> dict[str, Any]:
    return _search(body, store)


@v2.get("/search", openapi_extra=needs(Action.READ))
def search_experiments_get(
        store: StoreDep,
        max_results: Annotated[int, Query(ge=1, le=50_000)] = 1000,
        page_token: str | None = None, filter: str | None = None,
        order_by: Annotated[list[str] | None, Query()] = None) -> dict[str, Any]:
    return _search(SearchExperiments(max_results=max_results, page_token=page_token,
                                     filter=filter, order_by=order_by or []), store)
