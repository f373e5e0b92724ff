"""Experiments: create, get (by id or name), list."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query
from pydantic import BaseModel, Field

from assay.entities import Experiment
from assay.errors import NotFoundError
from assay.server.api.common import RequestModel
from assay.server.deps import StoreDep
from assay.server.errors import ERROR_RESPONSES
from assay.server.permissions import Action, needs
from assay.server.route_tables import RouteTable

__all__ = ["router"]

router = RouteTable(prefix="/experiments", tags=["experiments"], responses=ERROR_RESPONSES)


class ExperimentTag(BaseModel):
    key: str = Field(description="The tag's key")
    value: str = Field(description="The tag's value")


class ExperimentModel(BaseModel):
    """An experiment, in MLflow's JSON form."""

    experiment_id: str = Field(description="The experiment's id; '0' is 'Default'")
    name: str = Field(description="The unique name (may contain slashes)")
    artifact_location: str = Field(description="Unused; kept for MLflow compatibility")
    lifecycle_stage: str = Field(description="'active'")
    creation_time: int = Field(description="Milliseconds since the epoch")
    last_update_time: int = Field(description="Milliseconds since the epoch")
    tags: list[ExperimentTag] = Field(description="The experiment's tags")


def _model(experiment: Experiment) -> ExperimentModel:
    data: dict[str, Any] = experiment.to_dict()
    return ExperimentModel.model_validate(data)


class CreateExperimentRequest(RequestModel):
    name: str = Field(min_length=1, pattern=r"\S",
                      description="A unique name, e.g. '/Shared/my-app'")
    tags: dict[str, str] = Field(default_factory=dict, description="Tags of the experiment")


class CreateExperimentResponse(BaseModel):
    experiment_id: str = Field(description="The new experiment's id")


class ExperimentResponse(BaseModel):
    experiment: ExperimentModel = Field(description="The experiment")


class SearchExperimentsResponse(BaseModel):
    experiments: list[ExperimentModel] = Field(description="One page, newest first")
    next_page_token: str | None = Field(description="The cursor of the next page, if any")


@router.post("", response_model=CreateExperimentResponse,
             responses={409: ERROR_RESPONSES[400] | {"description": "The name is taken"}},
             openapi_extra=needs(Action.WRITE))
def create_experiment(body: CreateExperimentRequest,
                      store: StoreDep) -> CreateExperimentResponse:
    """Create an experiment; 409 if the name is taken."""
    return CreateExperimentResponse(experiment_id=store.create_experiment(body.name, body.tags))


@router.get("", response_model=SearchExperimentsResponse, openapi_extra=needs(Action.READ))
def search_experiments(
    store: StoreDep,
    max_results: Annotated[int, Query(ge=1, le=1000, description="The page size")] = 1000,
    page_token: Annotated[str | None, Query(json_schema_extra={"minLength": 1},
                                            description="The previous page's cursor")] = None,
) -> SearchExperimentsResponse:
    """List experiments, newest first, a page at a time."""
    page = store.search_experiments(max_results, page_token)
    return SearchExperimentsResponse(experiments=[_model(e) for e in page],
                                     next_page_token=page.token)


@router.get("/get-by-name", response_model=ExperimentResponse, openapi_extra=needs(Action.READ))
def get_experiment_by_name(
    store: StoreDep,
    experiment_name: Annotated[str, Query(min_length=1, description="The exact name")],
) -> ExperimentResponse:
    """The experiment with this exact name; 404 if there is none."""
    experiment = store.find_experiment_by_name(experiment_name)
    if experiment is None:
        raise NotFoundError(f"Experiment with name {experiment_name!r} not found")
    return ExperimentResponse(experiment=_model(experiment))


@router.get("/{experiment_id}", response_model=ExperimentResponse, openapi_extra=needs(Action.READ))
def get_experiment(experiment_id: str, store: StoreDep) -> ExperimentResponse:
    """The experiment with this id; 404 if there is none."""
    return ExperimentResponse(experiment=_model(store.get_experiment(experiment_id)))
