"""AssayClient: every operation on experiments, traces and assessments as methods
(MLflow's MlflowClient).

A client made without a tracking URI uses the process's default store (the one
``assay.set_tracking_uri`` and ``ASSAY_TRACKING_URI`` choose) and sees the traces this
process has finished but not yet written, so what was just traced can be read, and given
feedback, at once. An assessment of a trace that is still running is kept with the trace
and written with it.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, TypeVar

from assay import _runtime
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
from assay.entities.run import Run, check_run_view_type
from assay.errors import InvalidParameterError, NotFoundError
from assay.paging import PagedList
from assay.rules import overriding_feedback, session_target
from assay.store import Store, open_store
from assay.tracing import running_assessments as running
from assay.tracing.live_span import NO_OP_TRACE_ID
from assay.tracing.tracer import InMemoryTrace

__all__ = ["AssayClient", "MlflowClient"]

T = TypeVar("T")


class AssayClient:
    """Operations on experiments, traces, sessions and assessments.

    Args:
        tracking_uri: the store to use; default: the process's tracking URI.
    """

    def __init__(self, tracking_uri: str | None = None) -> None:
        self._tracking_uri = tracking_uri
        self._store: Store | None = None
        self._lock = threading.Lock()

    @property
    def tracking_uri(self) -> str:
        return self._tracking_uri or _runtime.runtime().tracking_uri

    def _get_store(self) -> Store:
        """The store, after writing whatever this process has queued for it."""
        rt = _runtime.runtime()
        if self._tracking_uri is None or self._tracking_uri == rt.tracking_uri:
            return rt.readable_store()
        if rt.exporter.pending():
            rt.flush(rt.settings.export_exit_timeout)
        with self._lock:
            if self._store is None:
                self._store = open_store(self._tracking_uri)
            return self._store

    def _uses_runtime_store(self) -> bool:
        return self._tracking_uri is None or self._tracking_uri == _runtime.runtime().tracking_uri

    def _store_for_trace(self, trace_id: str) -> Store:
        """The store, once the trace is in it if this process has it queued for writing.

        Only that trace is waited for: a write about one trace does not wait for the whole
        export queue.
        """
        if not self._uses_runtime_store():
            return self._get_store()
        rt = _runtime.runtime()
        if rt.exporter.is_pending(trace_id):
            rt.flush(rt.settings.export_exit_timeout)
        return rt.store()

    def _on_running_trace(self, trace_id: str,
                          change: Callable[[InMemoryTrace], T]) -> T | None:
        """``change`` applied to the trace if it is running in this process, else None."""
        if not self._uses_runtime_store():
            return None
        return _runtime.runtime().tracer.with_active_trace(trace_id, change)

    # -- experiments -----------------------------------------------------------------------
    def create_experiment(self, name: str, tags: Mapping[str, str] | None = None) -> str:
        """Create an experiment; returns its id. Names are unique and may contain slashes."""
        return self._get_store().create_experiment(name, tags)

    def get_experiment(self, experiment_id: str) -> Experiment:
        """The experiment with this id; NotFoundError otherwise."""
        return self._get_store().get_experiment(str(experiment_id))

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        """The experiment with this name, or None."""
        return self._get_store().find_experiment_by_name(name)

    def search_experiments(self, max_results: int = 1000,
                           page_token: str | None = None) -> PagedList[Experiment]:
        """Experiments, newest first; ``.token`` gives the next page."""
        return self._get_store().search_experiments(max_results, page_token)

    # -- traces ----------------------------------------------------------------------------
    def get_trace(self, trace_id: str, include_spans: bool = True) -> Trace:
        """The trace with this id; NotFoundError otherwise."""
        return self._get_store().get_trace(trace_id, include_spans)

    def search_traces(self, experiment_ids: Sequence[str] | None = None,
                      filter_string: str | None = None, max_results: int = 100,
                      order_by: Sequence[str] | None = None, page_token: str | None = None,
                      run_id: str | None = None, include_spans: bool = True,
                      model_id: str | None = None, locations: Sequence[str] | None = None,
                      flush: bool = False,
                      experiment_names: Sequence[str] | None = None) -> PagedList[Trace]:
        """One page of the traces that match a filter; ``.token`` is the next page's cursor.

        Args:
            experiment_ids: where to search (``locations`` is MLflow's other name for it,
                ``experiment_names`` picks them by name); default: the active experiment.
            filter_string: MLflow's filter language plus OR, parentheses and NOT, e.g.
                ``"trace.timestamp_ms > 1700000000000 AND feedback.user_feedback = 'false'"``.
            max_results: the page size.
            order_by: e.g. ``["execution_time_ms DESC"]``; also ``tags.<k>``, ``metadata.<k>``
                and ``feedback.<name>``. NULLs sort last. Default: newest first.
            page_token: the ``.token`` of the previous page of the same search.
            run_id: only traces of this run (metadata ``mlflow.sourceRun``).
            include_spans: False loads the headers only, which is faster.
            model_id: only traces of this model (metadata ``mlflow.modelId``).
            flush: accepted for MLflow compatibility; what this process traced is always
                written before a search.

        Raises:
            FilterError: a filter or order_by entry Assay cannot take; the message names
                what and where.
        """
        store = self._get_store()
        ids = self._experiment_ids(store, experiment_ids or locations, experiment_names)
        if not isinstance(max_results, int) or isinstance(max_results, bool) \
                or max_results < 1:
            raise InvalidParameterError(
                f"max_results must be a positive integer, got {max_results!r}")
        return store.search_traces(ids, max_results, page_token, include_spans,
                                   filter_string=filter_string, order_by=order_by,
                                   run_id=run_id, model_id=model_id)

    # -- runs ------------------------------------------------------------------------------
    def search_runs(self, experiment_ids: Sequence[str] | None = None,
                    filter_string: str = "", run_view_type: int | str | None = None,
                    max_results: int = 1000, order_by: Sequence[str] | None = None,
                    page_token: str | None = None) -> PagedList[Run]:
        """One page of the runs (labeling sessions and evaluations) that match a filter;
        ``.token`` is the next page's cursor.

        Args:
            experiment_ids: where to search; default: the active experiment.
            filter_string: MLflow's runs filter, clauses joined with AND, e.g.
                ``"metrics.accuracy > 0.9 AND attributes.kind = 'labeling'"`` (see
                :mod:`assay.search.runs`).
            run_view_type: MLflow's ViewType: ACTIVE_ONLY (1) or ALL (3); Assay deletes
                runs rather than marking them, so every run is active.
            max_results: the page size.
            order_by: e.g. ``["metrics.accuracy DESC"]``; NULLs (runs without the metric)
                sort last. Default: newest first.
            page_token: the ``.token`` of the previous page of the same search.

        Raises:
            FilterError: a filter or order_by entry Assay cannot take; the message names
                what and where.
        """
        check_run_view_type(run_view_type)
        store = self._get_store()
        ids = self._experiment_ids(store, experiment_ids, None)
        return store.search_runs(ids, max_results, page_token, filter_string or None,
                                 order_by)

    def get_feedback_summary(self, experiment_ids: Sequence[str] | None = None,
                             filter_string: str | None = None,
                             names: Sequence[str] | None = None, group_by: str | None = None,
                             time_bucket: Literal["hour", "day", "week"] | None = None,
                             experiment_names: Sequence[str] | None = None) -> FeedbackSummary:
        """Feedback over the traces a filter selects, computed by the store in a few queries.

        The result counts the traces, the traces with feedback and the feedback rate, and
        summarises each feedback name: true/false counts and the positive rate, numbers'
        mean/min/max and histogram, the count of each string value; rates have 95% Wilson
        intervals. Only valid feedback counts; a session-level feedback counts for every
        trace of its session.

        Args:
            experiment_ids: the experiments (default: the active one), or
                ``experiment_names``.
            filter_string: which traces, in the language of :meth:`search_traces`.
            names: the feedback names to summarise (default: all).
            group_by: ``"user"``, ``"session"``, ``"tags.<key>"``, ``"metadata.<key>"`` or a
                trace attribute such as ``"name"``.
            time_bucket: ``"hour"``, ``"day"`` or ``"week"`` (UTC; weeks start on Monday).
        """
        store = self._get_store()
        ids = self._experiment_ids(store, experiment_ids, experiment_names)
        return store.get_feedback_summary(ids, filter_string, names, group_by, time_bucket)

    @staticmethod
    def _experiment_ids(store: Store, experiment_ids: Sequence[str] | None,
                        experiment_names: Sequence[str] | None) -> list[str]:
        if isinstance(experiment_ids, str) or isinstance(experiment_names, str):
            raise InvalidParameterError(
                "experiment_ids and experiment_names take lists, e.g. ['1'], not one string")
        ids = [str(i) for i in experiment_ids or ()]
        for name in experiment_names or ():
            experiment = store.find_experiment_by_name(name)
            if experiment is None:
                raise NotFoundError(f"Experiment with name {name!r} not found")
            ids.append(experiment.experiment_id)
        return ids or [_runtime.runtime().active_experiment_id()]

    def delete_traces(self, experiment_id: str, max_timestamp_millis: int | None = None,
                      max_traces: int | None = None,
                      trace_ids: Sequence[str] | None = None) -> int:
        """Delete traces older than a time, or by id; returns how many were deleted."""
        return self._get_store().delete_traces(str(experiment_id), max_timestamp_millis,
                                               max_traces, trace_ids)

    def set_trace_tag(self, trace_id: str, key: str, value: str) -> None:
        """Set a tag on a trace (running in this process, or written)."""
        from assay.tracing.current_trace import set_trace_tag

        if self._tracking_uri is None:
            set_trace_tag(trace_id, key, value)
        else:
            self._get_store().set_trace_tag(trace_id, key, value)

    def delete_trace_tag(self, trace_id: str, key: str) -> None:
        """Remove a tag from a trace."""
        from assay.tracing.current_trace import delete_trace_tag

        if self._tracking_uri is None:
            delete_trace_tag(trace_id, key)
        else:
            self._get_store().delete_trace_tag(trace_id, key)

    # -- sessions --------------------------------------------------------------------------
    def search_sessions(self, experiment_ids: Sequence[str] | None = None,
                        max_results: int = 100, page_token: str | None = None,
                        include_spans: bool = True, run_id: str | None = None,
                        model_id: str | None = None,
                        locations: Sequence[str] | None = None) -> PagedList[Session]:
        """Sessions (traces sharing metadata ``mlflow.trace.session``), newest first.

        A session is ordered by its most recent trace; its traces run oldest first (the
        turns of the conversation), each with its assessments, session-level ones included.
        ``locations`` is MLflow's name for ``experiment_ids``; the default is the active
        experiment. ``.token`` gives the next page.
        """
        ids = [str(i) for i in (experiment_ids or locations or ())]
        if not ids:
            ids = [_runtime.runtime().active_experiment_id()]
        return self._get_store().search_sessions(ids, max_results, page_token, include_spans,
                                                 run_id, model_id)

    # -- assessments -----------------------------------------------------------------------
    def log_assessment(self, trace_id: str, assessment: Assessment) -> Assessment:
        """Attach an assessment (a Feedback or an Expectation) to a trace; returns it stored.

        Right after a traced call there is no need to flush: the trace is written first. If
        the trace is still running, the assessment is kept with it and written with it. For
        a span that was not recorded (tracing off or sampled out) nothing is logged.

        Raises:
            NotFoundError: no trace with this id (or no assessment it ``overrides``).
            InvalidParameterError: the span is not in the trace, and other bad input.
        """
        if not isinstance(assessment, Assessment):
            raise InvalidParameterError(
                f"Invalid assessment: expected a Feedback or an Expectation, got "
                f"{type(assessment).__name__}")
        assessment = dataclasses.replace(assessment, trace_id=trace_id)
        if trace_id == NO_OP_TRACE_ID:
            return assessment
        kept = self._on_running_trace(
            trace_id, lambda trace: running.add_assessment(trace, assessment))
        if kept is not None:
            return kept
        return self._store_for_trace(trace_id).log_assessment(assessment)

    def log_feedback(self, *, trace_id: str | None = None, name: str = DEFAULT_FEEDBACK_NAME,
                     value: Any = None,
                     source: AssessmentSource | AssessmentSourceType | str | None = None,
                     error: BaseException | AssessmentError | str | None = None,
                     rationale: str | None = None, metadata: Mapping[str, Any] | None = None,
                     span_id: str | None = None, session_id: str | None = None,
                     idempotency_key: str | None = None) -> Feedback:
        """Log a Feedback on a trace (or one of its spans), or on a whole session.

        Args:
            trace_id: the trace; may be left out when ``session_id`` is given.
            name: what is judged (default "feedback").
            value: bool, int, float, str, or a list or dict of those.
            source: who gave it; default CODE (MLflow's default). Pass
                ``AssessmentSource(source_type="HUMAN", source_id=user_id)`` for end users.
            error: an Exception or AssessmentError, instead of a value.
            rationale: why (at most 10,000 characters).
            metadata: string keys and values.
            span_id: the span it is about (it must belong to the trace).
            session_id: feedback on a whole conversation. It is stored on the session's first
                trace (or on ``trace_id``, which must be part of the session) with the
                metadata ``mlflow.trace.session``, and listed with every trace of the session.
            idempotency_key: a retried call with the same key stores nothing more and
                returns the assessment of the first call.
        """
        trace_id, metadata = self._target(trace_id, session_id, metadata)
        feedback = Feedback(name=name, value=value, error=error, source=source,
                            trace_id=trace_id, metadata=metadata, span_id=span_id,
                            rationale=rationale, idempotency_key=idempotency_key)
        logged = self.log_assessment(trace_id, feedback)
        assert isinstance(logged, Feedback)
        return logged

    def log_expectation(self, *, trace_id: str | None = None, name: str, value: Any,
                        source: AssessmentSource | AssessmentSourceType | str | None = None,
                        metadata: Mapping[str, Any] | None = None, span_id: str | None = None,
                        session_id: str | None = None,
                        idempotency_key: str | None = None) -> Expectation:
        """Log an Expectation (ground truth, e.g. the right answer); as :meth:`log_feedback`.

        The value is required (any JSON value); the source defaults to HUMAN.
        """
        trace_id, metadata = self._target(trace_id, session_id, metadata)
        expectation = Expectation(name=name, value=value, source=source, trace_id=trace_id,
                                  metadata=metadata, span_id=span_id,
                                  idempotency_key=idempotency_key)
        logged = self.log_assessment(trace_id, expectation)
        assert isinstance(logged, Expectation)
        return logged

    def get_assessment(self, trace_id: str, assessment_id: str) -> Assessment:
        """The assessment with this id on this trace; NotFoundError naming the id otherwise."""
        found = self._on_running_trace(
            trace_id, lambda trace: running.get_assessment(trace, assessment_id))
        if found is not None:
            return found
        return self._store_for_trace(trace_id).get_assessment(trace_id, assessment_id)

    def update_assessment(self, trace_id: str, assessment_id: str,
                          assessment: Assessment) -> Assessment:
        """Change an assessment in place: its name, value (and error), rationale, metadata.

        Metadata is merged (new keys win); a rationale of None keeps the old one. The source,
        span, creation time and history stay. A Feedback cannot become an Expectation or the
        reverse (InvalidParameterError).
        """
        if not isinstance(assessment, Assessment):
            raise InvalidParameterError(
                f"Invalid assessment: expected a Feedback or an Expectation, got "
                f"{type(assessment).__name__}")
        if trace_id == NO_OP_TRACE_ID:
            return assessment
        updated = self._on_running_trace(
            trace_id, lambda trace: running.update_assessment(trace, assessment_id, assessment))
        if updated is not None:
            return updated
        return self._store_for_trace(trace_id).update_assessment(trace_id, assessment_id,
                                                                 assessment)

    def override_feedback(self, *, trace_id: str, assessment_id: str, value: Any,
                          rationale: str | None = None,
                          source: AssessmentSource | AssessmentSourceType | str | None = None,
                          metadata: Mapping[str, Any] | None = None) -> Feedback:
        """Supersede a feedback with a corrected one; the old one stays, with ``valid=False``.

        The new Feedback keeps the old one's name and span, and its source defaults to HUMAN
        (a person correcting a judge; MLflow defaults to CODE). Overriding a feedback that
        was already overridden supersedes the newest of its chain: only one stays valid.
        """
        if trace_id == NO_OP_TRACE_ID:
            return Feedback(value=value, rationale=rationale, source=source or "HUMAN",
                            metadata=metadata, trace_id=trace_id)
        old = self.get_assessment(trace_id, assessment_id)
        feedback = overriding_feedback(old, value, rationale, source, metadata, trace_id)
        logged = self.log_assessment(old.trace_id or trace_id, feedback)
        assert isinstance(logged, Feedback)
        return logged

    def delete_assessment(self, trace_id: str, assessment_id: str) -> None:
        """Delete an assessment; deleting one that does not exist is fine.

        If it had overridden another, that one is valid again.
        """
        if trace_id == NO_OP_TRACE_ID:
            return
        if self._on_running_trace(
                trace_id, lambda trace: running.delete_assessment(trace, assessment_id)):
            return
        self._store_for_trace(trace_id).delete_assessment(trace_id, assessment_id)

    # -- feedback tokens -------------------------------------------------------------------
    def create_feedback_token(self, trace_id: str, *, names: Sequence[str] | None = None,
                              end_user_id: str | None = None,
                              expires_in: float = 3600) -> str:
        """A signed token that lets an end user's browser vote on one trace, without a key.

        Give it to the page that shows the answer; the page posts each vote as
        ``{"token", "name", "value", "rationale"}`` to the server's ``POST
        /api/v1/feedback``. The trace may still be running or queued for writing: a vote
        that comes before the trace is kept until it arrives.

        Args:
            trace_id: the trace the votes are about.
            names: the feedback names allowed, e.g. ``["thumbs", "comment"]``; None: any.
            end_user_id: who votes, as the app knows them; their second vote on a name
                replaces the first (history kept). None: the token stands for one
                anonymous user.
            expires_in: seconds until the token expires (at most 30 days).

        Raises:
            InvalidParameterError: a trace id not of the form ``tr-`` and 32 hex digits, or
                an argument out of range.
        """
        # No flush: the trace need not be written for its token.
        store = (_runtime.runtime().store() if self._uses_runtime_store()
                 else self._get_store())
        return store.create_feedback_token(trace_id, names, end_user_id, expires_in)

    def _target(self, trace_id: str | None, session_id: str | None,
                metadata: Mapping[str, Any] | None) -> tuple[str, Mapping[str, Any] | None]:
        """The trace an assessment goes on, and its metadata, for a trace or a session."""
        # Looked up only for a session without a trace id; the store is read after what
        # is queued is written (the session's newest turns).
        return session_target(trace_id, session_id, metadata,
                              lambda session: self._get_store().find_session_trace_id(session))


#: MLflow's name for the client, so ``from assay.client import MlflowClient`` works.
MlflowClient = AssayClient
