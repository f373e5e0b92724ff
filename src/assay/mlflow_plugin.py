"""Labeling sessions through the stock ``mlflow`` package, against an Assay server.

MLflow finds the store behind ``mlflow.genai.labeling`` (``create_labeling_session``,
``LabelingSession.add_traces``, ...) by the scheme of the tracking URI, in the entry-point
group ``mlflow.labeling_store``; it registers only ``databricks`` itself, so against any
other server these calls fail. Assay declares :func:`labeling_store` there for ``http`` and
``https`` (``pip install 'assay[mlflow]'``), so with ``MLFLOW_TRACKING_URI`` pointing at an
Assay server they create and fill Assay's labeling sessions, which reviewers answer in
Assay's review app (the session's ``url``).

Nothing here imports mlflow until mlflow calls it. The store talks to the server with
Assay's own REST store (``/api/v1``), authenticated with mlflow's credentials
(``MLFLOW_TRACKING_TOKEN``, or the password of ``MLFLOW_TRACKING_USERNAME``/``PASSWORD``,
which Assay reads as an API key). Errors become ``MlflowException`` with Assay's error code.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["labeling_store"]


def labeling_store(tracking_uri: str | None = None) -> Any:
    """The entry point (``mlflow.labeling_store``): a labeling store for the Assay server at
    ``tracking_uri``, an instance of mlflow's ``AbstractLabelingStore``."""
    if tracking_uri is None:
        tracking_uri = importlib.import_module("mlflow").get_tracking_uri()
    return _store_class()(tracking_uri=tracking_uri)


@functools.cache
def _store_class() -> type:
    """mlflow's ``AbstractLabelingStore`` with Assay's implementation, built on first use
    (so that importing this module needs no mlflow)."""
    stores = importlib.import_module("mlflow.genai.labeling.stores")
    return type("AssayLabelingStore", (_AssayLabelingStore, stores.AbstractLabelingStore), {})


@contextmanager
def _as_mlflow_errors() -> Iterator[None]:
    from assay.errors import AssayError

    try:
        yield
    except AssayError as error:
        exception = importlib.import_module("mlflow.exceptions").MlflowException
        codes = importlib.import_module("mlflow.protos.databricks_pb2").ErrorCode
        # MlflowException takes the code's number; an unknown name would read as internal.
        try:
            code = codes.Value(error.error_code)
        except ValueError:
            code = codes.Value("INTERNAL_ERROR")
        raise exception(str(error), error_code=code) from error


def _mlflow_errors(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        with _as_mlflow_errors():
            return method(*args, **kwargs)
    return wrapped


class _AssayLabelingStore:
    """What mlflow's labeling functions call, over an Assay server's labeling sessions."""

    def __init__(self, tracking_uri: str | None = None) -> None:
        from assay.store.rest import RestStore

        if tracking_uri is None:
            raise ValueError("tracking_uri is required")
        self._uri = tracking_uri.rstrip("/")
        self._store = RestStore(self._uri, api_key=_api_key(self._uri))

    # -- sessions --------------------------------------------------------------------------
    @_mlflow_errors
    def create_labeling_session(self, name: str, *, assigned_users: list[str] | None = None,
                                agent: str | None = None,
                                label_schemas: list[str] | None = None,
                                enable_multi_turn_chat: bool = False,
                                custom_inputs: dict[str, Any] | None = None,
                                experiment_id: str | None = None) -> Any:
        from assay.entities.labeling import LabelingSessionInfo
        from assay.entities.run import new_run_id
        from assay.errors import InvalidParameterError

        if agent is not None or enable_multi_turn_chat or custom_inputs:
            raise InvalidParameterError(
                "agent, enable_multi_turn_chat and custom_inputs (live chat with a deployed "
                "agent) are not supported by Assay; leave them unset")
        if experiment_id is None:
            fluent = importlib.import_module("mlflow.tracking.fluent")
            experiment_id = fluent._get_experiment_id()
        info = LabelingSessionInfo(
            run_id=new_run_id(), experiment_id=str(experiment_id), name=name,
            label_schemas=tuple(label_schemas or ()),
            assigned_users=tuple(assigned_users or ()))
        return self._session(self._store.create_labeling_session(info))

    @_mlflow_errors
    def get_labeling_session(self, run_id: str) -> Any:
        return self._session(self._store.get_labeling_session(run_id))

    @_mlflow_errors
    def get_labeling_sessions(self, experiment_id: str | None = None) -> list[Any]:
        if experiment_id is None:
            experiment_id = importlib.import_module("mlflow.tracking.fluent")._get_experiment_id()
        return [self._session(info)
                for info in self._store.list_labeling_sessions([str(experiment_id)])]

    @_mlflow_errors
    def delete_labeling_session(self, labeling_session: Any) -> None:
        self._store.delete_labeling_session(labeling_session.mlflow_run_id)

    @_mlflow_errors
    def add_traces_to_session(self, labeling_session: Any, traces: list[Any]) -> Any:
        run_id = labeling_session.mlflow_run_id
        self._store.add_labeling_items(run_id, [trace.info.trace_id for trace in traces])
        return self._session(self._store.get_labeling_session(run_id))

    @_mlflow_errors
    def set_session_assigned_users(self, labeling_session: Any,
                                   assigned_users: list[str]) -> Any:
        return self._session(self._store.set_labeling_reviewers(
            labeling_session.mlflow_run_id, assigned_users))

    @_mlflow_errors
    def add_dataset_to_session(self, labeling_session: Any, dataset_name: str,
                               record_ids: list[str] | None = None) -> Any:
        from assay.errors import InvalidParameterError

        raise InvalidParameterError(
            "Adding a dataset to a labeling session is not supported through mlflow; use "
            "assay.genai.labeling.get_labeling_session(run_id).add_dataset(name) with the "
            "tracking URI pointed at this server")

    @_mlflow_errors
    def sync_session_expectations(self, labeling_session: Any, dataset: str) -> None:
        from assay.errors import InvalidParameterError

        raise InvalidParameterError(
            "Syncing a labeling session to a dataset through mlflow is not supported; use "
            "assay.genai.labeling.get_labeling_session(run_id).sync(dataset) with the "
            "tracking URI pointed at this server")

    # -- label schemas (mlflow calls these only for Databricks; answered all the same) -----
    @_mlflow_errors
    def get_label_schema(self, name: str) -> Any:
        schema = self._store.get_label_schema(experiment_id=_active_experiment(), name=name)
        return _mlflow_schema(schema)

    @_mlflow_errors
    def create_label_schema(self, name: str, *, type: str, title: str, input: Any,
                            instruction: str | None = None, enable_comment: bool = False,
                            overwrite: bool = False) -> Any:
        from assay.entities.label_schema import LabelSchema, LabelSchemaType, input_from_dict

        protos = importlib.import_module("mlflow.genai.label_schemas.label_schemas")
        json_format = importlib.import_module("google.protobuf.json_format")
        given = json_format.MessageToDict(protos._input_to_proto(input),
                                          preserving_proto_field_name=True)
        schema = LabelSchema(name=name, type=LabelSchemaType.parse(type),
                             input=input_from_dict(given), title=title or None,
                             instruction=instruction, enable_comment=enable_comment,
                             experiment_id=_active_experiment())
        return _mlflow_schema(self._store.create_label_schema(schema, overwrite=overwrite))

    @_mlflow_errors
    def delete_label_schema(self, name: str) -> None:
        schema = self._store.get_label_schema(experiment_id=_active_experiment(), name=name)
        self._store.delete_label_schema(schema.schema_id)

    # -- mlflow's entities -----------------------------------------------------------------
    def _session(self, info: Any) -> Any:
        labeling = importlib.import_module("mlflow.genai.labeling.labeling")
        return labeling.LabelingSession(
            name=info.name, assigned_users=list(info.assigned_users), agent=None,
            label_schemas=list(info.label_schemas), labeling_session_id=info.run_id,
            mlflow_run_id=info.run_id, review_app_id=f"assay-{info.experiment_id}",
            experiment_id=info.experiment_id, url=f"{self._uri}/review/{info.run_id}",
            enable_multi_turn_chat=False, custom_inputs=None)


def _active_experiment() -> str:
    return str(importlib.import_module("mlflow.tracking.fluent")._get_experiment_id())


def _mlflow_schema(schema: Any) -> Any:
    """An Assay label schema as mlflow's ``LabelSchema`` (through its REST message, as the
    client reads one from a server)."""
    protos = importlib.import_module("mlflow.protos.label_schemas_pb2")
    entities = importlib.import_module("mlflow.genai.label_schemas.label_schemas")
    json_format = importlib.import_module("google.protobuf.json_format")
    d = schema.to_dict()
    d["type"] = schema.type.value.upper()
    d["is_default"] = False
    message = json_format.ParseDict(d, protos.LabelSchema(), ignore_unknown_fields=True)
    return entities.LabelSchema.from_proto(message)


def _api_key(uri: str) -> str | None:
    """The API key mlflow's credentials give: the token, else the password (Assay reads a
    basic password as an API key)."""
    utils = importlib.import_module("mlflow.utils.credentials")
    creds = utils.get_default_host_creds(uri)
    token = getattr(creds, "token", None) or getattr(creds, "password", None)
    return str(token) if token else None
