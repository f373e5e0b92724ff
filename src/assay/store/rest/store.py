"""The REST store: the Store interface over an Assay server's HTTP API.

With ``set_tracking_uri("http://host:port")`` every SDK operation goes through this store:
traces as batched, gzip-compressed OTLP (``POST /v1/traces``, see :mod:`.otlp`), everything
else through ``/api/v1``. It behaves as the SQL store does — same results, same errors (the
server sends them back as ``{error_code, message}`` and :mod:`._http` raises the matching
exception) — so the SDK above it cannot tell the difference. One exception: a batch of
traces with a span the server cannot store is not refused whole; the server stores the other
traces (OTLP's partial success) and ``log_traces`` raises InvalidParameterError naming the
rejected spans.

``ASSAY_API_KEY`` is sent as a bearer token when the server runs with ``--auth``.

Arguments are checked here, with the checks the SQL store applies (:mod:`assay.store.checks`),
before any request: a bad one gets the same error as on a local database, without a round
trip. Nothing here imports SQLAlchemy.
"""

from __future__ import annotations

import gzip
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from assay.entities import Assessment, Experiment, Session, Trace, TraceInfo
from assay.entities._checks import check_key
from assay.entities.analytics import FeedbackSummary
from assay.entities.dataset import (
    DatasetInfo,
    DatasetRecord,
    check_dataset_experiment_ids,
    check_dataset_id,
    check_dataset_name,
    check_dataset_tags,
    check_new_records,
    check_record_ids,
    check_version,
)
from assay.entities.label_schema import LabelInput, LabelSchema, input_to_dict
from assay.entities.labeling import (
    GoldLabel,
    LabelingSessionInfo,
    RoutingRule,
    SessionProgress,
    check_sample_rate,
)
from assay.entities.review_queue import (
    ReviewQueue,
    ReviewQueueItem,
    ReviewQueueType,
    ReviewStatus,
    check_queue_name,
    check_queue_users,
    check_schema_ids,
    normalize_user,
    run_id_of,
)
from assay.entities.run import Run, RunData, RunInfo, RunStatus
from assay.errors import InvalidParameterError, NotFoundError
from assay.paging import PagedList
from assay.settings import ASSAY_API_KEY, api_key_from_env, http_retry_seconds_from_env
from assay.store.base import Store
from assay.store.checks import (
    check_answer_comments,
    check_delete_arguments,
    check_experiment_name,
    check_experiment_tags,
    check_feedback_names,
    check_max_results,
    check_run_pairs,
    check_run_update,
    check_tag_key,
    check_time_bucket,
    experiment_keys,
    parse_experiment_id,
)
from assay.store.rest._http import RestClient
from assay.store.rest.otlp import encode_traces
from assay.store.trace_rows import trace_rows
from assay.store.uri import mask_uri

__all__ = ["ASSAY_API_KEY", "RestStore"]

#: The server's largest page; longer pages are fetched in several requests.
_SERVER_PAGE = 1000
#: Most spans sent in one request (the server's default limit is 10,000).
_SPANS_PER_REQUEST = 5_000


class RestStore(Store):
    """A :class:`~assay.store.base.Store` served by an Assay server at ``uri``.

    Args:
        uri: ``http://host:port`` or ``https://host:port`` (a path prefix is kept).
        api_key: the bearer token; default ``ASSAY_API_KEY``.
        retry_seconds: how long a request that fails for want of a server keeps being
            retried (default ``ASSAY_HTTP_RETRY_SECONDS`` or 30).
    """

    def __init__(self, uri: str, api_key: str | None = None,
                 retry_seconds: float | None = None) -> None:
        self.uri = mask_uri(uri)
        if retry_seconds is None:
            retry_seconds = http_retry_seconds_from_env()
        self._http = RestClient(uri, api_key or api_key_from_env(), retry_seconds=retry_seconds)

    def __repr__(self) -> str:
        return f"RestStore({self.uri!r})"

    @property
    def unavailable_since(self) -> float | None:
        """When requests began failing for want of the server (seconds since the epoch),
        while they still do (they are retried meanwhile); None while it answers."""
        return self._http.outage.since

    @property
    def num_retries(self) -> int:
        """Requests sent again, in all, because the server was unavailable."""
        return self._http.outage.retries

    # -- experiments ---------------------------------------------------------------------
    def create_experiment(self, name: str, tags: Mapping[str, str] | None = None) -> str:
        check_experiment_name(name)
        tags = check_experiment_tags(tags)
        body = self._http.call("POST", "/api/v1/experiments",
                               json={"name": name, "tags": dict(tags or {})})
        return str(body["experiment_id"])

    def get_experiment(self, experiment_id: str) -> Experiment:
        check_key("experiment_id", experiment_id)
        if parse_experiment_id(experiment_id) is None:  # not an id the server could have
            raise NotFoundError(f"Experiment with ID {experiment_id!r} not found")
        body = self._http.call("GET", f"/api/v1/experiments/{_segment(experiment_id)}")
        return Experiment.from_dict(body["experiment"])

    def find_experiment_by_name(self, name: str) -> Experiment | None:
        if not isinstance(name, str):
            raise InvalidParameterError(
                f"Invalid experiment name {name!r}: expected a string, got "
                f"{type(name).__name__}")
        try:
            body = self._http.call("GET", "/api/v1/experiments/get-by-name",
                                   params={"experiment_name": name})
        except NotFoundError:
            return None
        return Experiment.from_dict(body["experiment"])

    def search_experiments(self, max_results: int = 1000,
                           page_token: str | None = None) -> PagedList[Experiment]:
        def fetch(size: int, token: str | None) -> tuple[list[Experiment], str | None]:
            params: dict[str, Any] = {"max_results": size}
            if token is not None:
                params["page_token"] = token
            body = self._http.call("GET", "/api/v1/experiments", params=params)
            return ([Experiment.from_dict(e) for e in body["experiments"]],
                    body.get("next_page_token"))

        check_max_results(max_results)
        return _pages(fetch, max_results, page_token)

    # -- traces --------------------------------------------------------------------------
    def log_traces(self, traces: Sequence[Trace]) -> None:
        if isinstance(traces, Trace) or not all(isinstance(t, Trace) for t in traces):
            raise InvalidParameterError("log_traces takes a list of Trace objects")
        chunk: list[Trace] = []
        spans = 0
        for trace in traces:
            if chunk and spans + len(trace.data.spans) > _SPANS_PER_REQUEST:
                self._send_traces(chunk)
                chunk, spans = [], 0
            chunk.append(trace)
            spans += len(trace.data.spans)
        if chunk:
            self._send_traces(chunk)

    def _send_traces(self, traces: Sequence[Trace]) -> None:
        try:
            encoded = encode_traces(traces)
        except (ValueError, TypeError, OverflowError, AttributeError) as exc:
            # Something no server could take (ids that are not hex, times that are not
            # numbers): the checks of the rows a SQL store would write name it.
            trace_rows(traces)
            raise InvalidParameterError(f"Cannot store the traces: {exc}") from None
        body = gzip.compress(encoded, compresslevel=1)
        # Spans are upserted, so sending a batch again after a lost answer is harmless.
        answer = self._http.call("POST", "/v1/traces", content=body, idempotent=True,
                                 headers={"Content-Type": "application/x-protobuf",
                                          "Content-Encoding": "gzip"})
        if answer:
            # The server stored the traces it could and rejected some spans (OTLP's partial
            # success): say which, as a local store would refuse them.
            response = ExportTraceServiceResponse()
            response.ParseFromString(answer)
            if response.partial_success.rejected_spans:
                raise InvalidParameterError(
                    f"Cannot store the traces: {response.partial_success.error_message}")

    def get_trace(self, trace_id: str, include_spans: bool = True) -> Trace:
        body = self._http.call("GET", f"/api/v1/traces/{_segment(trace_id)}",
                               params={"include_spans": _bool(include_spans)})
        return Trace.from_dict(body["trace"])

    def get_trace_info(self, trace_id: str) -> TraceInfo:
        return self.get_trace(trace_id, include_spans=False).info

    def search_traces(self, experiment_ids: Sequence[str], max_results: int = 100,
                      page_token: str | None = None, include_spans: bool = True,
                      filter_string: str | None = None, order_by: Sequence[str] | None = None,
                      run_id: str | None = None,
                      model_id: str | None = None) -> PagedList[Trace]:
        def fetch(size: int, token: str | None) -> tuple[list[Trace], str | None]:
            body = self._http.call("POST", "/api/v1/traces/search", idempotent=True, json={
                "experiment_ids": [str(e) for e in experiment_ids], "max_results": size,
                "page_token": token, "include_spans": include_spans,
                "filter_string": filter_string,
                "order_by": list(order_by) if order_by is not None else None,
                "run_id": run_id, "model_id": model_id})
            return [Trace.from_dict(t) for t in body["traces"]], body.get("next_page_token")

        experiment_keys(experiment_ids)
        check_max_results(max_results)
        return _pages(fetch, max_results, page_token)

    def get_feedback_summary(self, experiment_ids: Sequence[str],
                             filter_string: str | None = None,
                             names: Sequence[str] | None = None, group_by: str | None = None,
                             time_bucket: str | None = None) -> FeedbackSummary:
        experiment_keys(experiment_ids)
        check_feedback_names(names)
        check_time_bucket(time_bucket)
        body = self._http.call("POST", "/api/v1/analytics/feedback-summary", idempotent=True,
                               json={"experiment_ids": [str(e) for e in experiment_ids],
                                     "filter_string": filter_string,
                                     "names": list(names) if names is not None else None,
                                     "group_by": group_by, "time_bucket": time_bucket})
        return FeedbackSummary.from_dict(body["summary"])

    def delete_traces(self, experiment_id: str, max_timestamp_millis: int | None = None,
                      max_traces: int | None = None,
                      trace_ids: Sequence[str] | None = None) -> int:
        check_delete_arguments(max_timestamp_millis, max_traces, trace_ids)
        body = self._http.call("POST", "/api/v1/traces/delete", idempotent=True, json={
            "experiment_id": str(experiment_id), "max_timestamp_millis": max_timestamp_millis,
            "max_traces": max_traces,
            "trace_ids": list(trace_ids) if trace_ids is not None else None})
        return int(body["traces_deleted"])

    def set_trace_tag(self, trace_id: str, key: str, value: str) -> None:
        check_tag_key(key, trace_id)
        if not isinstance(value, str):
            raise InvalidParameterError(
                f"Invalid value for tag {key!r} on trace {trace_id!r}: expected a string, got "
                f"{type(value).__name__}")
        self._http.call("PATCH", f"/api/v1/traces/{_segment(trace_id)}/tags", idempotent=True,
                        json={"key": key, "value": value})

    def delete_trace_tag(self, trace_id: str, key: str) -> None:
        self._http.call("DELETE",
                        f"/api/v1/traces/{_segment(trace_id)}/tags/{quote(key, safe='')}")

    # -- sessions ------------------------------------------------------------------------
    def search_sessions(self, experiment_ids: Sequence[str], max_results: int = 100,
                        page_token: str | None = None, include_spans: bool = True,
                        run_id: str | None = None,
                        model_id: str | None = None) -> PagedList[Session]:
        def fetch(size: int, token: str | None) -> tuple[list[Session], str | None]:
            body = self._http.call("POST", "/api/v1/sessions/search", idempotent=True, json={
                "experiment_ids": [str(e) for e in experiment_ids], "max_results": size,
                "page_token": token, "include_spans": include_spans, "run_id": run_id,
                "model_id": model_id})
            sessions = [Session(s["session_id"], [Trace.from_dict(t) for t in s["traces"]])
                        for s in body["sessions"]]
            return sessions, body.get("next_page_token")

        experiment_keys(experiment_ids)
        check_max_results(max_results)
        return _pages(fetch, max_results, page_token)

    def find_session_trace_id(self, session_id: str) -> str | None:
        body = self._http.call("GET", "/api/v1/sessions/first-trace",
                               params={"session_id": session_id})
        trace_id = body.get("trace_id")
        return None if trace_id is None else str(trace_id)

    # -- assessments ---------------------------------------------------------------------
    def log_assessment(self, assessment: Assessment) -> Assessment:
        # Not sent again after a lost answer unless it has an idempotency key: it might be
        # stored twice otherwise.
        body = self._http.call(
            "POST", f"/api/v1/traces/{_segment(assessment.trace_id or '')}/assessments",
            json={"assessment": assessment.to_dictionary()},
            idempotent=assessment.idempotency_key is not None)
        return Assessment.from_dictionary(body["assessment"])

    def get_assessment(self, trace_id: str, assessment_id: str) -> Assessment:
        body = self._http.call("GET", f"/api/v1/traces/{_segment(trace_id)}/assessments/"
                                      f"{_segment(assessment_id)}")
        return Assessment.from_dictionary(body["assessment"])

    def update_assessment(self, trace_id: str, assessment_id: str,
                          assessment: Assessment) -> Assessment:
        body = self._http.call("PUT", f"/api/v1/traces/{_segment(trace_id)}/assessments/"
                                      f"{_segment(assessment_id)}",
                               json={"assessment": assessment.to_dictionary()})
        return Assessment.from_dictionary(body["assessment"])

    def delete_assessment(self, trace_id: str, assessment_id: str) -> None:
        self._http.call("DELETE", f"/api/v1/traces/{_segment(trace_id)}/assessments/"
                                  f"{_segment(assessment_id)}")

    # -- feedback tokens -----------------------------------------------------------------
    def create_feedback_token(self, trace_id: str, names: Sequence[str] | None = None,
                              end_user_id: str | None = None, expires_in: float = 3600) -> str:
        # Signed by the server, with its key: the client never holds it.
        body = self._http.call(
            "POST", f"/api/v1/traces/{_segment(trace_id)}/feedback-tokens", idempotent=True,
            json={"names": list(names) if isinstance(names, list | tuple) else names,
                  "end_user_id": end_user_id, "expires_in": expires_in})
        return str(body["token"])

    # -- runs, label schemas, labeling sessions ---------------------------------------------
    def get_run(self, run_id: str) -> Run:
        body = self._http.call("GET", f"/api/v1/runs/{_segment(run_id)}")
        return Run.from_dict(body["run"])

    def create_run(self, info: RunInfo, data: RunData | None = None) -> Run:
        # The run's id is given, and storing the same run again returns it: safe to retry.
        data = data or RunData()
        body = self._http.call("POST", "/api/v1/runs", idempotent=True, json={
            "run_id": info.run_id, "experiment_id": info.experiment_id,
            "run_name": info.run_name, "kind": info.kind.value, "status": info.status.value,
            "start_time": info.start_time or None, "end_time": info.end_time,
            "metrics": check_run_pairs("metrics", data.metrics, float),
            "params": check_run_pairs("params", data.params, str),
            "tags": check_run_pairs("tags", data.tags, str)})
        return Run.from_dict(body["run"])

    def update_run(self, run_id: str, *, status: RunStatus | None = None,
                   end_time: int | None = None, metrics: Mapping[str, float] | None = None,
                   params: Mapping[str, str] | None = None,
                   tags: Mapping[str, str] | None = None) -> Run:
        checked = check_run_update(status, end_time, metrics, params, tags)
        changes = {key: value for key, value in (
            ("status", None if checked.status is None else checked.status.value),
            ("end_time", checked.end_time), ("metrics", checked.metrics),
            ("params", checked.params), ("tags", checked.tags)) if value is not None}
        body = self._http.call("PATCH", f"/api/v1/runs/{_segment(run_id)}", json=changes,
                               idempotent=True)
        return Run.from_dict(body["run"])

    def link_run_traces(self, run_id: str, trace_ids: Sequence[str]) -> list[str]:
        body = self._http.call("POST", f"/api/v1/runs/{_segment(run_id)}/traces",
                               idempotent=True, json={"trace_ids": list(trace_ids)})
        return list(body["linked"])

    def search_runs(self, experiment_ids: Sequence[str], max_results: int = 1000,
                    page_token: str | None = None, filter_string: str | None = None,
                    order_by: Sequence[str] | None = None) -> PagedList[Run]:
        def fetch(size: int, token: str | None) -> tuple[list[Run], str | None]:
            body = self._http.call("POST", "/api/v1/runs/search", idempotent=True, json={
                "experiment_ids": [str(e) for e in experiment_ids], "max_results": size,
                "page_token": token, "filter_string": filter_string,
                "order_by": list(order_by) if order_by is not None else None})
            return [Run.from_dict(r) for r in body["runs"]], body.get("next_page_token")

        experiment_keys(experiment_ids)
        check_max_results(max_results)
        return _pages(fetch, max_results, page_token)

    def create_label_schema(self, schema: LabelSchema, *, overwrite: bool = False,
                            created_by: str | None = None) -> LabelSchema:
        # created_by is the caller as the server knows them.
        body = self._http.call("POST", "/api/v1/label-schemas", json={
            "experiment_id": schema.experiment_id, "name": schema.name,
            "type": schema.type.value, "input": input_to_dict(schema.input),
            "title": schema.title, "instruction": schema.instruction,
            "enable_comment": schema.enable_comment, "overwrite": overwrite})
        return LabelSchema.from_dict(body["label_schema"])

    def get_label_schema(self, *, schema_id: str | None = None,
                         experiment_id: str | None = None,
                         name: str | None = None) -> LabelSchema:
        if schema_id is not None:
            body = self._http.call("GET", f"/api/v1/label-schemas/{_segment(schema_id)}")
            return LabelSchema.from_dict(body["label_schema"])
        if experiment_id is None or name is None:
            raise InvalidParameterError(
                "Invalid label schema lookup: give schema_id, or experiment_id and name")
        body = self._http.call(
            "GET", f"/api/v1/experiments/{_segment(experiment_id)}/label-schemas",
            params={"name": name})
        return LabelSchema.from_dict(body["label_schemas"][0])

    def list_label_schemas(self, experiment_id: str, max_results: int = 100,
                           page_token: str | None = None) -> PagedList[LabelSchema]:
        def fetch(size: int, token: str | None) -> tuple[list[LabelSchema], str | None]:
            params: dict[str, Any] = {"max_results": size}
            if token is not None:
                params["page_token"] = token
            body = self._http.call(
                "GET", f"/api/v1/experiments/{_segment(experiment_id)}/label-schemas",
                params=params)
            return ([LabelSchema.from_dict(s) for s in body["label_schemas"]],
                    body.get("next_page_token"))

        check_max_results(max_results)
        return _pages(fetch, max_results, page_token)

    def update_label_schema(self, schema_id: str, *, name: str | None = None,
                            title: str | None = None, instruction: str | None = None,
                            enable_comment: bool | None = None,
                            input: LabelInput | None = None) -> LabelSchema:
        changes = {key: value for key, value in (
            ("name", name), ("title", title), ("instruction", instruction),
            ("enable_comment", enable_comment),
            ("input", None if input is None else input_to_dict(input))) if value is not None}
        body = self._http.call("PATCH", f"/api/v1/label-schemas/{_segment(schema_id)}",
                               json=changes, idempotent=True)
        return LabelSchema.from_dict(body["label_schema"])

    def delete_label_schema(self, schema_id: str) -> None:
        self._http.call("DELETE", f"/api/v1/label-schemas/{_segment(schema_id)}")

    def create_labeling_session(self, info: LabelingSessionInfo) -> LabelingSessionInfo:
        # The server gives the run its id; one lost answer must not create two sessions.
        body = self._http.call("POST", "/api/v1/labeling-sessions", idempotent=False, json={
            "experiment_id": info.experiment_id, "name": info.name,
            "label_schemas": list(info.label_schemas),
            "assigned_users": list(info.assigned_users),
            "reviewers_per_item": info.reviewers_per_item, "instructions": info.instructions})
        return LabelingSessionInfo.from_dict(body["labeling_session"])

    def get_labeling_session(self, run_id: str) -> LabelingSessionInfo:
        body = self._http.call("GET", f"/api/v1/labeling-sessions/{_segment(run_id)}")
        return LabelingSessionInfo.from_dict(body["labeling_session"])

    def list_labeling_sessions(self, experiment_ids: Sequence[str],
                               reviewer: str | None = None) -> list[LabelingSessionInfo]:
        found: list[LabelingSessionInfo] = []
        params = {} if reviewer is None else {"reviewer": reviewer}
        for experiment_id in dict.fromkeys(experiment_ids):
            try:
                body = self._http.call(
                    "GET", f"/api/v1/experiments/{_segment(experiment_id)}/labeling-sessions",
                    params=params)
            except NotFoundError:
                continue
            found.extend(LabelingSessionInfo.from_dict(s) for s in body["labeling_sessions"])
        found.sort(key=lambda info: info.created_at, reverse=True)
        return found

    def delete_labeling_session(self, run_id: str) -> None:
        self._http.call("DELETE", f"/api/v1/labeling-sessions/{_segment(run_id)}")

    def set_labeling_reviewers(self, run_id: str,
                               users: Sequence[str]) -> LabelingSessionInfo:
        body = self._http.call("PUT", f"/api/v1/labeling-sessions/{_segment(run_id)}/reviewers",
                               json={"assigned_users": list(users)})
        return LabelingSessionInfo.from_dict(body["labeling_session"])

    def add_labeling_items(self, run_id: str, trace_ids: Sequence[str]) -> list[str]:
        body = self._http.call("POST", f"/api/v1/labeling-sessions/{_segment(run_id)}/items",
                               json={"trace_ids": list(trace_ids)}, idempotent=True)
        return [str(trace_id) for trace_id in body["trace_ids"]]

    def remove_labeling_items(self, run_id: str, trace_ids: Sequence[str]) -> list[str]:
        body = self._http.call(
            "POST", f"/api/v1/labeling-sessions/{_segment(run_id)}/items/remove",
            json={"trace_ids": list(trace_ids)}, idempotent=True)
        return [str(trace_id) for trace_id in body["trace_ids"]]

    def get_labeling_item(self, run_id: str, trace_id: str) -> Trace:
        body = self._http.call("GET", f"/api/v1/labeling-sessions/{_segment(run_id)}/items/"
                                      f"{_segment(trace_id)}")
        return Trace.from_dict(body["trace"])

    def next_labeling_item(self, run_id: str, reviewer: str) -> str | None:
        # Idempotent: asking again returns the item the reviewer already holds.
        body = self._http.call("POST", f"/api/v1/labeling-sessions/{_segment(run_id)}/next",
                               json={"reviewer": reviewer}, idempotent=True)
        trace_id = body.get("trace_id")
        return None if trace_id is None else str(trace_id)

    def submit_labeling_answers(self, run_id: str, trace_id: str, reviewer: str,
                                answers: Mapping[str, Any],
                                comment: str | None = None, *,
                                comments: Mapping[str, str | None] | None = None,
                                ) -> list[Assessment]:
        payload: dict[str, Any] = {"reviewer": reviewer, "answers": answers,
                                   "comment": comment}
        if comments is not None:
            if isinstance(answers, Mapping):
                check_answer_comments(answers, comment, comments)
            payload["comments"] = dict(comments) if isinstance(comments, Mapping) \
                else comments
        body = self._http.call(
            "POST", f"/api/v1/labeling-sessions/{_segment(run_id)}/items/"
                    f"{_segment(trace_id)}/answers", json=payload)
        return [Assessment.from_dictionary(a) for a in body["assessments"]]

    def skip_labeling_item(self, run_id: str, trace_id: str, reviewer: str) -> None:
        self._http.call("POST", f"/api/v1/labeling-sessions/{_segment(run_id)}/items/"
                                f"{_segment(trace_id)}/skip",
                        json={"reviewer": reviewer}, idempotent=True)

    def get_labeling_progress(self, run_id: str) -> SessionProgress:
        body = self._http.call("GET",
                               f"/api/v1/labeling-sessions/{_segment(run_id)}/progress")
        return SessionProgress.from_dict(body["progress"])

    def get_labeling_answers(self, run_id: str) -> dict[str, dict[str, dict[str, Any]]]:
        body = self._http.call("GET", f"/api/v1/labeling-sessions/{_segment(run_id)}/answers")
        answers: dict[str, dict[str, dict[str, Any]]] = body["answers"]
        return answers

    def adjudicate_labeling_item(self, run_id: str, trace_id: str, schema_name: str,
                                 value: Any, adjudicator: str | None = None
                                 ) -> GoldLabel | None:
        # Idempotent: setting the same value again leaves the same state.
        body = self._http.call(
            "PUT", f"/api/v1/labeling-sessions/{_segment(run_id)}/items/"
                   f"{_segment(trace_id)}/adjudication",
            json={"schema_name": schema_name, "value": value, "adjudicator": adjudicator},
            idempotent=True)
        label = body.get("gold_label")
        return None if label is None else _gold_label(label)

    def get_labeling_gold(self, run_id: str) -> dict[str, dict[str, GoldLabel]]:
        body = self._http.call("GET", f"/api/v1/labeling-sessions/{_segment(run_id)}/gold")
        return {name: {trace_id: _gold_label(label) for trace_id, label in by_item.items()}
                for name, by_item in body["gold_labels"].items()}

    def get_gold_labels(self, trace_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        body = self._http.call("POST", "/api/v1/gold-labels/query",
                               json={"trace_ids": list(trace_ids)}, idempotent=True)
        found: dict[str, dict[str, Any]] = body["gold_labels"]
        return found

    def create_routing_rule(self, run_id: str, filter_string: str, sample_rate: float = 1.0,
                            created_by: str | None = None) -> RoutingRule:
        # The server names the creator (the caller); created_by is for local stores. A NaN
        # cannot travel as JSON, so the rate is checked here first.
        body = self._http.call(
            "POST", f"/api/v1/labeling-sessions/{_segment(run_id)}/routing-rules",
            json={"filter_string": filter_string, "sample_rate": check_sample_rate(sample_rate)},
            idempotent=False)
        return RoutingRule.from_dict(body["routing_rule"])

    def list_routing_rules(self, run_id: str) -> list[RoutingRule]:
        body = self._http.call("GET",
                               f"/api/v1/labeling-sessions/{_segment(run_id)}/routing-rules")
        return [RoutingRule.from_dict(rule) for rule in body["routing_rules"]]

    def delete_routing_rule(self, run_id: str, rule_id: str) -> None:
        self._http.call("DELETE", f"/api/v1/labeling-sessions/{_segment(run_id)}/"
                                  f"routing-rules/{_segment(rule_id)}")

    # -- evaluation datasets ---------------------------------------------------------------
    def create_dataset(self, name: str, experiment_ids: Sequence[str],
                       tags: Mapping[str, str] | None = None,
                       created_by: str | None = None) -> DatasetInfo:
        # created_by is the caller as the server knows them.
        check_dataset_name(name)
        body = self._http.call("POST", "/api/v1/datasets", json={
            "name": name, "experiment_ids": check_dataset_experiment_ids(experiment_ids),
            "tags": check_dataset_tags(tags)})
        return DatasetInfo.from_dict(body["dataset"])

    def get_dataset(self, *, dataset_id: str | None = None, name: str | None = None,
                    version: int | None = None) -> DatasetInfo:
        if (dataset_id is None) == (name is None):
            raise InvalidParameterError("Pass exactly one of dataset_id and name")
        params: dict[str, Any] = {}
        if check_version(version) is not None:
            params["version"] = version
        if dataset_id is not None:
            check_dataset_id(dataset_id)
            body = self._http.call("GET", f"/api/v1/datasets/{_segment(dataset_id)}",
                                   params=params)
        else:
            check_dataset_name(name)
            body = self._http.call("GET", "/api/v1/datasets/get-by-name",
                                   params={**params, "name": name})
        return DatasetInfo.from_dict(body["dataset"])

    def search_datasets(self, experiment_ids: Sequence[str] | None = None,
                        filter_string: str | None = None, max_results: int = 1000,
                        order_by: Sequence[str] | None = None,
                        page_token: str | None = None) -> PagedList[DatasetInfo]:
        def fetch(size: int, token: str | None) -> tuple[list[DatasetInfo], str | None]:
            body = self._http.call("POST", "/api/v1/datasets/search", idempotent=True, json={
                "experiment_ids": None if experiment_ids is None
                else [str(e) for e in experiment_ids],
                "filter_string": filter_string, "max_results": size,
                "order_by": None if order_by is None else list(order_by),
                "page_token": token})
            return ([DatasetInfo.from_dict(d) for d in body["datasets"]],
                    body.get("next_page_token"))

        if experiment_ids is not None:
            experiment_keys(experiment_ids)
        check_max_results(max_results)
        return _pages(fetch, max_results, page_token)

    def delete_dataset(self, dataset_id: str) -> None:
        check_dataset_id(dataset_id)
        self._http.call("DELETE", f"/api/v1/datasets/{_segment(dataset_id)}")

    def merge_dataset_records(self, dataset_id: str, records: Sequence[Mapping[str, Any]],
                              updated_by: str | None = None) -> DatasetInfo:
        check_dataset_id(dataset_id)
        checked = check_new_records(records)
        # A merge sent again changes nothing more (no second version): safe to retry.
        body = self._http.call("POST", f"/api/v1/datasets/{_segment(dataset_id)}/records",
                               idempotent=True,
                               json={"records": [r.to_dict() for r in checked]})
        return DatasetInfo.from_dict(body["dataset"])

    def delete_dataset_records(self, dataset_id: str, record_ids: Sequence[str],
                               updated_by: str | None = None) -> DatasetInfo:
        check_dataset_id(dataset_id)
        body = self._http.call(
            "POST", f"/api/v1/datasets/{_segment(dataset_id)}/records/delete",
            idempotent=True, json={"record_ids": check_record_ids(record_ids)})
        return DatasetInfo.from_dict(body["dataset"])

    def list_dataset_records(self, dataset_id: str, version: int | None = None,
                             max_results: int = 1000,
                             page_token: str | None = None) -> PagedList[DatasetRecord]:
        def fetch(size: int, token: str | None) -> tuple[list[DatasetRecord], str | None]:
            params: dict[str, Any] = {"max_results": size}
            if version is not None:
                params["version"] = version
            if token is not None:
                params["page_token"] = token
            body = self._http.call("GET", f"/api/v1/datasets/{_segment(dataset_id)}/records",
                                   params=params)
            return ([DatasetRecord.from_dict(r) for r in body["records"]],
                    body.get("next_page_token"))

        check_dataset_id(dataset_id)
        check_version(version)
        check_max_results(max_results)
        return _pages(fetch, max_results, page_token)

    # -- review queues -------------------------------------------------------------------
    def create_review_queue(self, experiment_id: str, *, name: str, queue_type: str,
                            users: Sequence[str] | None = None,
                            schema_ids: Sequence[str] | None = None,
                            created_by: str | None = None) -> ReviewQueue:
        kind = ReviewQueueType.parse(queue_type, "queue_type")
        body = self._http.call("POST", "/api/v1/review-queues", idempotent=False, json={
            "experiment_id": str(experiment_id), "name": check_queue_name(name, kind),
            "queue_type": kind.value, "users": list(check_queue_users(users)),
            "schema_ids": list(check_schema_ids(schema_ids))})
        return ReviewQueue.from_dict(body["review_queue"])

    def get_or_create_user_queue(self, experiment_id: str, *, user: str) -> ReviewQueue:
        body = self._http.call("POST", "/api/v1/review-queues/user-queue", idempotent=True,
                               json={"experiment_id": str(experiment_id),
                                     "user": normalize_user(user)})
        return ReviewQueue.from_dict(body["review_queue"])

    def get_review_queue(self, queue_id: str) -> ReviewQueue:
        run_id_of(queue_id)
        body = self._http.call("GET", f"/api/v1/review-queues/{_segment(queue_id)}")
        return ReviewQueue.from_dict(body["review_queue"])

    def get_review_queue_by_name(self, experiment_id: str, name: str) -> ReviewQueue:
        if not isinstance(name, str) or not name.strip():
            raise InvalidParameterError(f"Invalid name {name!r}: expected a queue's name")
        body = self._http.call(
            "GET", f"/api/v1/experiments/{_segment(experiment_id)}/review-queues",
            params={"name": name})
        return ReviewQueue.from_dict(body["review_queues"][0])

    def list_review_queues(self, experiment_id: str, *, user: str | None = None,
                           item_id: str | None = None, max_results: int = 100,
                           page_token: str | None = None) -> PagedList[ReviewQueue]:
        params: dict[str, Any] = {"max_results": max_results}
        for key, value in (("user", user), ("item_id", item_id), ("page_token", page_token)):
            if value is not None:
                params[key] = value
        body = self._http.call(
            "GET", f"/api/v1/experiments/{_segment(experiment_id)}/review-queues",
            params=params)
        return PagedList([ReviewQueue.from_dict(q) for q in body["review_queues"]],
                         body.get("next_page_token"))

    def update_review_queue(self, queue_id: str, *, name: str | None = None,
                            new_owner: str | None = None, users: Sequence[str] | None = None,
                            schema_ids: Sequence[str] | None = None) -> ReviewQueue:
        run_id_of(queue_id)
        changes: dict[str, Any] = {}
        if name is not None:
            changes["name"] = check_queue_name(name, ReviewQueueType.CUSTOM)
        if new_owner is not None:
            changes["new_owner"] = new_owner
        if users is not None:
            changes["users"] = list(check_queue_users(users))
        if schema_ids is not None:
            changes["schema_ids"] = list(check_schema_ids(schema_ids))
        body = self._http.call("PATCH", f"/api/v1/review-queues/{_segment(queue_id)}",
                               json=changes, idempotent=True)
        return ReviewQueue.from_dict(body["review_queue"])

    def delete_review_queue(self, queue_id: str) -> None:
        run_id_of(queue_id)
        self._http.call("DELETE", f"/api/v1/review-queues/{_segment(queue_id)}")

    def add_items_to_review_queue(self, queue_id: str,
                                  item_ids: Sequence[str]) -> list[ReviewQueueItem]:
        run_id_of(queue_id)
        body = self._http.call("POST", f"/api/v1/review-queues/{_segment(queue_id)}/items",
                               json={"item_ids": _item_ids(item_ids)}, idempotent=True)
        return [ReviewQueueItem.from_dict(item) for item in body["items"]]

    def remove_items_from_review_queue(self, queue_id: str, item_ids: Sequence[str]) -> None:
        run_id_of(queue_id)
        self._http.call("POST", f"/api/v1/review-queues/{_segment(queue_id)}/items/remove",
                        json={"item_ids": _item_ids(item_ids)}, idempotent=True)

    def list_review_queue_items(self, queue_id: str, *, status: str | None = None,
                                max_results: int = 100,
                                page_token: str | None = None) -> PagedList[ReviewQueueItem]:
        run_id_of(queue_id)
        params: dict[str, Any] = {"max_results": max_results}
        if status is not None:
            params["status"] = ReviewStatus.parse(status, "status").value
        if page_token is not None:
            params["page_token"] = page_token
        body = self._http.call("GET", f"/api/v1/review-queues/{_segment(queue_id)}/items",
                               params=params)
        return PagedList([ReviewQueueItem.from_dict(item) for item in body["items"]],
                         body.get("next_page_token"))

    def set_review_queue_item_status(self, queue_id: str, *, item_id: str, status: str,
                                     completed_by: str | None = None) -> ReviewQueueItem:
        run_id_of(queue_id)
        parsed = ReviewStatus.parse(status, "status")
        if not isinstance(item_id, str) or not item_id.strip():
            raise InvalidParameterError(f"Invalid item_id {item_id!r}: expected a trace id")
        body = self._http.call(
            "PUT", f"/api/v1/review-queues/{_segment(queue_id)}/items/"
                   f"{_segment(item_id.strip())}/status",
            json={"status": parsed.value, "completed_by": completed_by})
        return ReviewQueueItem.from_dict(body["item"])

    # -- lifecycle -----------------------------------------------------------------------
    def list_trace_labeling_sessions(self, trace_ids: Sequence[str]) -> dict[str, list[str]]:
        body = self._http.call("POST", "/api/v1/trace-labeling-sessions/query",
                               json={"trace_ids": list(trace_ids)}, idempotent=True)
        found: dict[str, list[str]] = body["sessions"]
        return found

    def close(self) -> None:
        self._http.close()


def _pages(fetch: Any, max_results: int, page_token: str | None) -> PagedList[Any]:
    """Up to ``max_results`` items from ``fetch(size, token)``, a server page at a time."""
    items: list[Any] = []
    token = page_token
    while True:
        size = min(_SERVER_PAGE, max_results - len(items))
        page, token = fetch(size, token)
        items.extend(page)
        if not token or len(items) >= max_results:
            return PagedList(items, token)


def _gold_label(d: Mapping[str, Any]) -> GoldLabel:
    return GoldLabel(d["value"], adjudicated=bool(d["adjudicated"]))


def _item_ids(item_ids: Sequence[str]) -> list[str]:
    """Trace ids to send as items: a list (not one id given as a str)."""
    if isinstance(item_ids, str) or not isinstance(item_ids, Sequence) or not item_ids:
        raise InvalidParameterError("Invalid item_ids: expected a non-empty list of trace ids")
    return list(item_ids)


def _segment(value: str) -> str:
    """An id as one URL path segment."""
    return quote(str(value), safe="")


def _bool(value: bool) -> str:
    return "true" if value else "false"

