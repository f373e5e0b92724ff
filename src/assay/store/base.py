"""The Store interface every backend implements (the SQL store now, the REST store later).

Everything above the store (the SDK, the server, the UI) calls these methods and never
writes SQL. Methods named ``get_*`` raise :class:`~assay.errors.NotFoundError`, ``find_*``
return ``None``, ``search_*`` return a :class:`~assay.paging.PagedList`.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence

from assay.entities import Assessment, Experiment, Session, Trace, TraceInfo
from assay.entities.analytics import FeedbackSummary
from assay.paging import PagedList

__all__ = ["Store"]


class Store(abc.ABC):
    """Where experiments, traces, spans and assessments are kept."""

    #: The tracking URI this store was opened with (passwords masked).
    uri: str

    # -- experiments ---------------------------------------------------------------------
    @abc.abstractmethod
    def create_experiment(self, name: str, tags: Mapping[str, str] | None = None) -> str:
        """Create an experiment and return its id; AlreadyExistsError if the name is taken."""

    @abc.abstractmethod
    def get_experiment(self, experiment_id: str) -> Experiment:
        """The experiment with this id; NotFoundError otherwise."""

    @abc.abstractmethod
    def find_experiment_by_name(self, name: str) -> Experiment | None:
        """The experiment with this exact name, or None."""

    @abc.abstractmethod
    def search_experiments(self, max_results: int = 1000,
                           page_token: str | None = None) -> PagedList[Experiment]:
        """Experiments, newest first, a page at a time."""

    # -- traces --------------------------------------------------------------------------
    @abc.abstractmethod
    def log_traces(self, traces: Sequence[Trace]) -> None:
        """Write whole traces (info, tags, metadata, spans) in one transaction.

        Idempotent: writing a trace again updates its info and upserts its spans, so a span
        written twice is stored once.
        """

    @abc.abstractmethod
    def get_trace(self, trace_id: str, include_spans: bool = True) -> Trace:
        """The trace with this id, with its assessments; NotFoundError otherwise.

        ``info.assessments`` lists every assessment of the trace (overridden ones too, with
        ``valid=False``), then the session-level assessments of its session.
        """

    @abc.abstractmethod
    def get_trace_info(self, trace_id: str) -> TraceInfo:
        """The header of the trace with this id; NotFoundError otherwise."""

    @abc.abstractmethod
    def search_traces(self, experiment_ids: Sequence[str], max_results: int = 100,
                      page_token: str | None = None, include_spans: bool = True,
                      filter_string: str | None = None, order_by: Sequence[str] | None = None,
                      run_id: str | None = None,
                      model_id: str | None = None) -> PagedList[Trace]:
        """Traces of these experiments that match the filter, a page at a time.

        The order is ``order_by`` (default newest first) with the tie-breakers
        ``timestamp_ms DESC, request_id ASC``; ``.token`` is a keyset cursor for the next
        page, valid for the same arguments. FilterError for a bad filter or order.
        """

    @abc.abstractmethod
    def get_feedback_summary(self, experiment_ids: Sequence[str],
                             filter_string: str | None = None,
                             names: Sequence[str] | None = None, group_by: str | None = None,
                             time_bucket: str | None = None) -> FeedbackSummary:
        """Feedback over the traces of the experiments that match the filter, computed in
        the store: overall, and per group and/or time bucket."""

    @abc.abstractmethod
    def delete_traces(self, experiment_id: str, max_timestamp_millis: int | None = None,
                      max_traces: int | None = None,
                      trace_ids: Sequence[str] | None = None) -> int:
        """Delete traces (with their spans, tags, metadata) and return how many went."""

    @abc.abstractmethod
    def set_trace_tag(self, trace_id: str, key: str, value: str) -> None:
        """Set a (mutable) tag on a logged trace; NotFoundError for an unknown trace."""

    @abc.abstractmethod
    def delete_trace_tag(self, trace_id: str, key: str) -> None:
        """Remove a tag from a logged trace; NotFoundError for an unknown trace or key."""

    # -- sessions ------------------------------------------------------------------------
    @abc.abstractmethod
    def search_sessions(self, experiment_ids: Sequence[str], max_results: int = 100,
                        page_token: str | None = None, include_spans: bool = True,
                        run_id: str | None = None,
                        model_id: str | None = None) -> PagedList[Session]:
        """Sessions (traces grouped by session id), the most recently active first; each
        session's traces oldest first. ``run_id``/``model_id`` keep the sessions with a trace
        of that run or model."""

    @abc.abstractmethod
    def find_session_trace_id(self, session_id: str) -> str | None:
        """The first trace of a session, which anchors its session-level assessments."""

    # -- assessments ---------------------------------------------------------------------
    @abc.abstractmethod
    def log_assessment(self, assessment: Assessment) -> Assessment:
        """Store a new assessment on ``assessment.trace_id``; return it with its id.

        ``overrides`` makes the superseded assessment invalid in the same transaction; an
        ``idempotency_key`` used before on the trace returns the earlier assessment instead.
        NotFoundError for an unknown trace (or overridden assessment); InvalidParameterError
        for a span that is not in the trace.
        """

    @abc.abstractmethod
    def get_assessment(self, trace_id: str, assessment_id: str) -> Assessment:
        """The assessment with this id on this trace (or its session); NotFoundError otherwise."""

    @abc.abstractmethod
    def update_assessment(self, trace_id: str, assessment_id: str,
                          assessment: Assessment) -> Assessment:
        """Update in place: name, value, rationale (None keeps it); metadata is merged."""

    @abc.abstractmethod
    def delete_assessment(self, trace_id: str, assessment_id: str) -> None:
        """Delete an assessment (a missing one is fine); what it overrode is valid again."""

    # -- lifecycle -----------------------------------------------------------------------
    @abc.abstractmethod
    def close(self) -> None:
        """Release connections. The store is not usable afterwards."""
