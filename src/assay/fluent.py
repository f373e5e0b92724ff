"""The module-level API for experiments, stored traces, sessions and assessments
(``assay.set_experiment``, ``assay.log_feedback`` …)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from assay import _runtime
from assay.client import AssayClient
from assay.entities import (
    Assessment,
    AssessmentError,
    AssessmentSource,
    AssessmentSourceType,
    Expectation,
    Experiment,
    Feedback,
    Session,
    Trace,
)
from assay.entities.analytics import FeedbackSummary
from assay.entities.assessment import DEFAULT_FEEDBACK_NAME
from assay.entities.run import Run
from assay.errors import InvalidParameterError, NotFoundError
from assay.paging import PagedList
from assay.store.uri import validate_uri

__all__ = [
    "create_experiment",
    "create_feedback_token",
    "delete_assessment",
    "delete_traces",
    "flush_trace_async_logging",
    "get_assessment",
    "get_experiment",
    "get_experiment_by_name",
    "get_feedback_summary",
    "get_run",
    "get_trace",
    "get_tracking_uri",
    "log_assessment",
    "log_expectation",
    "log_feedback",
    "override_feedback",
    "search_experiments",
    "search_runs",
    "search_sessions",
    "search_traces",
    "set_experiment",
    "set_tracking_uri",
    "update_assessment",
]

if TYPE_CHECKING:
    import pandas

_log = logging.getLogger("assay")

#: Traces per store call when ``search_traces`` reads many (keyset pages cost the same).
_SEARCH_PAGE_SIZE = 1000


def set_tracking_uri(uri: str) -> None:
    """Send traces to ``uri``: ``sqlite:///file.db`` or ``postgresql://…``.

    Traces this process finished for the previous URI are written there first.
    """
    _runtime.runtime().set_tracking_uri(validate_uri(uri))


def get_tracking_uri() -> str:
    """The tracking URI in use (default ``sqlite:///assay.db`` in the working directory)."""
    return _runtime.runtime().tracking_uri


def set_experiment(experiment_name: str | None = None,
                   experiment_id: str | None = None) -> Experiment:
    """Make an experiment the active one; by name, it is created on first use."""
    return _runtime.runtime().set_experiment(experiment_name, experiment_id)


def create_experiment(name: str, tags: Mapping[str, str] | None = None) -> str:
    """Create an experiment and return its id."""
    return AssayClient().create_experiment(name, tags)


def get_experiment(experiment_id: str) -> Experiment:
    """The experiment with this id; NotFoundError otherwise."""
    return AssayClient().get_experiment(experiment_id)


def get_experiment_by_name(name: str) -> Experiment | None:
    """The experiment with this name, or None."""
    return AssayClient().get_experiment_by_name(name)


def get_run(run_id: str) -> Run:
    """The run with this id (a labeling session or an evaluation); NotFoundError otherwise."""
    return _runtime.runtime().store().get_run(run_id)


def search_experiments(max_results: int = 1000,
                       page_token: str | None = None) -> PagedList[Experiment]:
    """Experiments, newest first."""
    return AssayClient().search_experiments(max_results, page_token)


def get_trace(trace_id: str, silent: bool = False, flush: bool = False) -> Trace | None:
    """The trace with this id, or None (with a warning unless ``silent``).

    A trace this process finished is readable at once; ``flush`` is accepted for MLflow
    compatibility and is never needed.
    """
    try:
        return AssayClient().get_trace(trace_id)
    except NotFoundError:
        if not silent:
            _log.warning("Trace with ID %r not found", trace_id)
        return None


def delete_traces(experiment_id: str, max_timestamp_millis: int | None = None,
                  max_traces: int | None = None,
                  trace_ids: Sequence[str] | None = None) -> int:
    """Delete traces older than a time, or by id; returns how many were deleted."""
    return AssayClient().delete_traces(experiment_id, max_timestamp_millis, max_traces,
                                       trace_ids)


def flush_trace_async_logging(terminate: bool = False) -> None:
    """Wait until every finished trace is written (and stop the exporter if ``terminate``)."""
    rt = _runtime.runtime()
    if terminate:
        rt.exporter.shutdown(rt.settings.export_exit_timeout)
    else:
        rt.flush(rt.settings.export_exit_timeout)


def search_sessions(max_results: int = 100, run_id: str | None = None,
                    model_id: str | None = None, include_spans: bool = True,
                    locations: Sequence[str] | None = None,
                    page_token: str | None = None) -> PagedList[Session]:
    """Sessions of the active experiment (or of ``locations``, a list of experiment ids).

    Traces grouped by their session id (metadata ``mlflow.trace.session``), the most
    recently active session first, its traces oldest first. Each Session has ``.id`` and
    is iterable (``len``, ``[i]``); ``.token`` of the list gives the next page.
    """
    return AssayClient().search_sessions(max_results=max_results, page_token=page_token,
                                         include_spans=include_spans, run_id=run_id,
                                         model_id=model_id, locations=locations)


def search_traces(experiment_ids: Sequence[str] | None = None,
                  filter_string: str | None = None, max_results: int | None = None,
                  order_by: Sequence[str] | None = None, extract_fields: None = None,
                  run_id: str | None = None,
                  return_type: Literal["pandas", "list"] | None = None,
                  model_id: str | None = None, sql_warehouse_id: None = None,
                  include_spans: bool = True, locations: Sequence[str] | None = None,
                  flush: bool = False) -> pandas.DataFrame | list[Trace]:
    """The traces that match a filter, as a DataFrame (MLflow's columns) or a list.

    Args:
        experiment_ids: where to search; ``locations`` is MLflow's newer name for it.
            Default: the active experiment.
        filter_string: see :meth:`AssayClient.search_traces`.
        max_results: at most this many traces; None (the default) means all of them.
        order_by: e.g. ``["timestamp_ms DESC"]`` (the default), ``["feedback.rating DESC"]``.
        run_id: only traces of this run (metadata ``mlflow.sourceRun``).
        return_type: ``"pandas"`` (the default when pandas is installed) or ``"list"``.
        model_id: only traces of this model (metadata ``mlflow.modelId``).
        include_spans: False skips loading spans (the ``spans`` column is then empty).
        extract_fields, sql_warehouse_id: MLflow parameters Assay does not support; only
            None is accepted.
        flush: accepted for MLflow compatibility; never needed.

    The DataFrame's columns are ``trace_id, trace, client_request_id, state, request_time,
    execution_duration, request, response, trace_metadata, tags, spans, assessments``.
    """
    from assay import dataframe

    if extract_fields is not None or sql_warehouse_id is not None:
        raise InvalidParameterError(
            "extract_fields and sql_warehouse_id are not supported by Assay; leave them None")
    if return_type is None:
        return_type = "pandas" if dataframe.has_pandas() else "list"
    if return_type not in ("pandas", "list"):
        raise InvalidParameterError(
            f"Invalid return_type {return_type!r}: expected 'pandas' or 'list'")
    if max_results is not None and (not isinstance(max_results, int)
                                    or isinstance(max_results, bool) or max_results < 1):
        raise InvalidParameterError(
            f"Invalid max_results {max_results!r}: expected a positive integer or None (all)")
    client = AssayClient()
    found: list[Trace] = []
    token: str | None = None
    while max_results is None or len(found) < max_results:
        page_size = _SEARCH_PAGE_SIZE if max_results is None else min(
            _SEARCH_PAGE_SIZE, max_results - len(found))
        page = client.search_traces(experiment_ids or locations, filter_string, page_size,
                                    order_by, token, run_id, include_spans, model_id)
        found.extend(page)
        token = page.token
        if token is None:
            break
    if return_type == "pandas":
        return dataframe.traces_to_dataframe(found)
    return found


def search_runs(experiment_ids: Sequence[str] | None = None, filter_string: str = "",
                run_view_type: int | str | None = None, max_results: int = 100_000,
                order_by: Sequence[str] | None = None,
                output_format: Literal["pandas", "list"] = "pandas",
                search_all_experiments: bool = False,
                experiment_names: Sequence[str] | None = None) -> pandas.DataFrame | list[Run]:
    """The runs (labeling sessions and evaluations) that match a filter, as MLflow's
    ``search_runs``: a DataFrame by default, or a list of Run with ``output_format="list"``.

    Args:
        experiment_ids: where to search (``experiment_names`` picks them by name); default:
            the active experiment, or every experiment with ``search_all_experiments``.
        filter_string: MLflow's runs filter, clauses joined with AND: ``metrics.<k> > 0.5``,
            ``params.<k> = 'v'``, ``tags.<k> LIKE 'v%'``, ``attributes.status = 'FINISHED'``,
            ``attributes.run_name`` (or ``run_name``, ``name``), ``attributes.start_time >
            <ms>``, and Assay's ``attributes.kind = 'labeling'`` or ``'evaluation'``.
        run_view_type: ACTIVE_ONLY (1) or ALL (3); every stored run is active.
        max_results: at most this many runs.
        order_by: e.g. ``["metrics.accuracy DESC"]``; default newest first.
        output_format: ``"pandas"`` or ``"list"``.

    The DataFrame has ``run_id, experiment_id, status, start_time, end_time`` (UTC
    datetimes), Assay's ``run_name`` and ``kind``, then a column ``metrics.<k>``,
    ``params.<k>`` and ``tags.<k>`` for each key any run has (``tags.mlflow.runName`` and
    ``tags.mlflow.user`` as MLflow writes them).
    """
    from assay import dataframe

    if output_format not in ("pandas", "list"):
        raise InvalidParameterError(
            f"Invalid output_format {output_format!r}: expected 'pandas' or 'list'")
    if not isinstance(max_results, int) or isinstance(max_results, bool) or max_results < 1:
        raise InvalidParameterError(
            f"Invalid max_results {max_results!r}: expected a positive integer")
    client = AssayClient()
    ids = list(experiment_ids or ())
    for name in experiment_names or ():
        experiment = client.get_experiment_by_name(name)
        if experiment is None:
            raise NotFoundError(f"Experiment with name {name!r} not found")
        ids.append(experiment.experiment_id)
    if not ids and search_all_experiments:
        ids = [e.experiment_id for e in _all_experiments(client)]
        if not ids:
            return dataframe.runs_to_dataframe([]) if output_format == "pandas" else []
    found: list[Run] = []
    token: str | None = None
    while len(found) < max_results:
        page = client.search_runs(ids or None, filter_string, run_view_type,
                                  min(_SEARCH_PAGE_SIZE, max_results - len(found)), order_by,
                                  token)
        found.extend(page)
        token = page.token
        if token is None:
            break
    if output_format == "pandas":
        return dataframe.runs_to_dataframe(found)
    return found


def _all_experiments(client: AssayClient) -> list[Experiment]:
    found: list[Experiment] = []
    token: str | None = None
    while True:
        page = client.search_experiments(page_token=token)
        found.extend(page)
        token = page.token
        if token is None:
            return found


def get_feedback_summary(experiment_ids: Sequence[str] | None = None,
                         filter_string: str | None = None, names: Sequence[str] | None = None,
                         group_by: str | None = None,
                         time_bucket: Literal["hour", "day", "week"] | None = None,
                         ) -> FeedbackSummary:
    """Feedback over the traces a filter selects (see
    :meth:`AssayClient.get_feedback_summary`), in the active experiment by default."""
    return AssayClient().get_feedback_summary(experiment_ids, filter_string, names, group_by,
                                              time_bucket)


# -- assessments ---------------------------------------------------------------------------

def log_feedback(*, trace_id: str | None = None, name: str = DEFAULT_FEEDBACK_NAME,
                 value: Any = None,
                 source: AssessmentSource | AssessmentSourceType | str | None = None,
                 error: BaseException | AssessmentError | str | None = None,
                 rationale: str | None = None, metadata: Mapping[str, Any] | None = None,
                 span_id: str | None = None, session_id: str | None = None,
                 idempotency_key: str | None = None) -> Feedback:
    """Log feedback on a trace, a span or a session (see :meth:`AssayClient.log_feedback`).

    Works right after the traced call, with no flush; inside the trace's own function the
    feedback is kept with the trace and written with it.
    """
    return AssayClient().log_feedback(
        trace_id=trace_id, name=name, value=value, source=source, error=error,
        rationale=rationale, metadata=metadata, span_id=span_id, session_id=session_id,
        idempotency_key=idempotency_key)


def log_expectation(*, trace_id: str | None = None, name: str, value: Any,
                    source: AssessmentSource | AssessmentSourceType | str | None = None,
                    metadata: Mapping[str, Any] | None = None, span_id: str | None = None,
                    session_id: str | None = None,
                    idempotency_key: str | None = None) -> Expectation:
    """Log an expectation (ground truth) on a trace, a span or a session."""
    return AssayClient().log_expectation(
        trace_id=trace_id, name=name, value=value, source=source, metadata=metadata,
        span_id=span_id, session_id=session_id, idempotency_key=idempotency_key)


def log_assessment(trace_id: str, assessment: Assessment) -> Assessment:
    """Attach a Feedback or Expectation object to a trace; returns it as stored."""
    return AssayClient().log_assessment(trace_id, assessment)


def get_assessment(trace_id: str, assessment_id: str) -> Assessment:
    """The assessment with this id on this trace; NotFoundError otherwise."""
    return AssayClient().get_assessment(trace_id, assessment_id)


def update_assessment(trace_id: str, assessment_id: str,
                      assessment: Assessment) -> Assessment:
    """Update an assessment in place (value, name, rationale; metadata merged)."""
    return AssayClient().update_assessment(trace_id, assessment_id, assessment)


def override_feedback(*, trace_id: str, assessment_id: str, value: Any,
                      rationale: str | None = None,
                      source: AssessmentSource | AssessmentSourceType | str | None = None,
                      metadata: Mapping[str, Any] | None = None) -> Feedback:
    """Supersede a feedback with a new one (source default HUMAN); the old one is kept,
    invalid."""
    return AssayClient().override_feedback(trace_id=trace_id, assessment_id=assessment_id,
                                           value=value, rationale=rationale, source=source,
                                           metadata=metadata)


def delete_assessment(trace_id: str, assessment_id: str) -> None:
    """Delete an assessment (idempotent); the one it overrode becomes valid again."""
    AssayClient().delete_assessment(trace_id, assessment_id)


def create_feedback_token(trace_id: str, *, names: Sequence[str] | None = None,
                          end_user_id: str | None = None, expires_in: float = 3600) -> str:
    """A signed token for an end user's browser to vote on one trace at the server's
    ``POST /api/v1/feedback`` (see :meth:`AssayClient.create_feedback_token`)."""
    return AssayClient().create_feedback_token(trace_id, names=names,
                                               end_user_id=end_user_id,
                                               expires_in=expires_in)
