"""MLflow's label schema routes (``/api/3.0/mlflow/label-schemas/...``, MLflow OSS 3.14+):
what ``mlflow.genai.label_schemas`` calls against a tracking server, over Assay's label
schemas (the same store operations and checks as ``/api/v1/label-schemas``).

A schema's JSON is Assay's with MLflow's enum for the type (``FEEDBACK``) and
``is_default`` (always false: Assay makes no default schema per experiment).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Body, Query
from pydantic import Field, JsonValue

from assay.entities.label_schema import LabelSchema, LabelSchemaType, input_from_dict
from assay.errors import InvalidParameterError
from assay.server.deps import CurrentUserDep, StoreDep
from assay.server.mlflow_compat.protocol import MlflowRequest, page_json
from assay.server.permissions import Action, needs
from assay.server.route_tables import RouteTable

__all__ = ["label_schema_json", "v3"]

v3 = RouteTable(prefix="/label-schemas")

#: The largest page of a list (Assay's store pages 1,000 at most).
MAX_LIST_RESULTS = 1000


class CreateLabelSchema(MlflowRequest):
    experiment_id: str = Field(min_length=1, max_length=32)
    name: str = Field(min_length=1, max_length=250)
    type: str = Field(min_length=1, max_length=40)
    input: dict[str, JsonValue]
    instruction: str | None = Field(default=None, max_length=1000)
    enable_comment: bool = False


class UpdateLabelSchema(MlflowRequest):
    schema_id: str = Field(min_length=1, max_length=100)
    name: str | None = Field(default=None, min_length=1, max_length=250)
    instruction: str | None = Field(default=None, max_length=1000)
    enable_comment: bool | None = None
    input: dict[str, JsonValue] | None = None


class SchemaId(MlflowRequest):
    schema_id: str | None = Field(default=None, min_length=1, max_length=100)


def label_schema_json(schema: LabelSchema) -> dict[str, Any]:
    """A schema as MLflow's ``LabelSchema`` message."""
    d = schema.to_dict()
    d["type"] = schema.type.value.upper()
    d["is_default"] = False
    return d


def _type(value: str) -> LabelSchemaType:
    if value == "LABEL_SCHEMA_TYPE_UNSPECIFIED":
        raise InvalidParameterError("Missing type: expected FEEDBACK or EXPECTATION")
    return LabelSchemaType.parse(value)


@v3.post("/create", openapi_extra=needs(Action.WRITE))
def create_label_schema(body: CreateLabelSchema, store: StoreDep,
                        user: CurrentUserDep) -> dict[str, Any]:
    schema = LabelSchema(name=body.name, type=_type(body.type),
                         input=input_from_dict(body.input), instruction=body.instruction,
                         enable_comment=body.enable_comment, experiment_id=body.experiment_id)
    created = store.create_label_schema(
        schema, created_by=None if user is None else user.username)
    return {"label_schema": label_schema_json(created)}


@v3.get("/get", openapi_extra=needs(Action.READ))
def get_label_schema(
        store: StoreDep,
        schema_id: Annotated[str, Query(min_length=1, max_length=100)]) -> dict[str, Any]:
    return {"label_schema": label_schema_json(store.get_label_schema(schema_id=schema_id))}


@v3.get("/get-by-name", openapi_extra=needs(Action.READ))
def get_label_schema_by_name(
        store: StoreDep, experiment_id: Annotated[str, Query(min_length=1, max_length=32)],
        name: Annotated[str, Query(min_length=1, max_length=250)]) -> dict[str, Any]:
    schema = store.get_label_schema(experiment_id=experiment_id, name=name)
    return {"label_schema": label_schema_json(schema)}


@v3.get("/list", openapi_extra=needs(Action.READ))
def list_label_schemas(
        store: StoreDep, experiment_id: Annotated[str, Query(min_length=1, max_length=32)],
        max_results: Annotated[int, Query(ge=1, le=50_000)] = 100,
        page_token: Annotated[str | None, Query(max_length=1000)] = None) -> dict[str, Any]:
    """The experiment's schemas, oldest first, a page at a time."""
    page = store.list_label_schemas(experiment_id, min(max_results, MAX_LIST_RESULTS),
                                    page_token or None)
    return page_json("label_schemas", [label_schema_json(s) for s in page], page.token)


@v3.patch("/update", openapi_extra=needs(Action.WRITE))
def update_label_schema(body: UpdateLabelSchema, store: StoreDep) -> dict[str, Any]:
    """A sparse update, checked as Assay's own: a change that would leave answers outside
    the schema is refused."""
    updated = store.update_label_schema(
        body.schema_id, name=body.name, instruction=body.instruction,
        enable_comment=body.enable_comment,
        input=None if body.input is None else input_from_dict(body.input))
    return {"label_schema": label_schema_json(updated)}


@v3.delete("/delete", openapi_extra=needs(Action.WRITE))
def delete_label_schema(
        store: StoreDep, body: Annotated[SchemaId | None, Body()] = None,
        schema_id: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
) -> dict[str, Any]:
    """Delete a schema (named in the JSON body, as the client sends it, or the query); the
    answers it collected stay on their traces."""
    found = (body.schema_id if body is not None else None) or schema_id
    if not found:
        raise InvalidParameterError("Missing schema_id: name the label schema to delete")
    store.delete_label_schema(found)
    return {}
