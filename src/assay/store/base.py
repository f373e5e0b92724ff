"""The Store interface every backend implements: the SQL store and the REST store.

Everything above the store (the SDK, the server, the UI) calls these methods and never
writes SQL. Methods named ``get_*`` raise :class:`~assay.errors.NotFoundError`, ``find_*``
return ``None``, ``search_*`` return a :class:`~assay.paging.PagedList`. What only a
server's store does (pending assessments, signing keys, accounts) is not here but in
:mod:`assay.store.capabilities`.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence

from assay.entities import Assessment, Experiment, Session, Span, Trace, TraceInfo
from assay.entities.analytics import FeedbackSummary
from assay.entities.overview import (
    AssessmentName,
    ExperimentStats,
    RecentIds,
    SpanOutline,
    TraceCount,
)
from assay.errors import NotFoundError
from assay.paging import PagedList
from assay.store.checks import (
    RECENT_TRACES_SCANNED,
    check_max_count,
    check_max_results,
    check_trace_offset,
    experiment_keys,
    parse_experiment_id,
)
from assay.store.datasets import Datasets
from assay.store.labeling import Labeling

__all__ = ["Store"]


class Store(Labeling, Datasets, abc.ABC):
    """Where experiments, traces, spans and assessments are kept (and, from
    :class:`~assay.store.labeling.Labeling`, runs, label schemas and labeling sessions; from
    :class:`~assay.store.datasets.Datasets`, evaluation datasets)."""

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

    def find_traces(self, trace_ids: Sequence[str]) -> dict[str, Trace]:
        """The stored traces among ``trace_ids`` (with spans and assessments), by id; ids
        that name no trace are left out. Not abstract: this default asks for each in turn;
        the SQL store reads them all in one transaction (OTLP ingestion asks for every
        trace of a request)."""
        found: dict[str, Trace] = {}
        for trace_id in dict.fromkeys(trace_ids):
            try:
                found[trace_id] = self.get_trace(trace_id)
            except NotFoundError:
                continue
        return found

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

    # -- overviews (what the web UI shows at a glance) -----------------------------------
    # Not abstract: these defaults answer correctly through the methods above; the SQL
    # store answers each in one or two indexed queries.
    def get_experiment_stats(self,
                             experiment_ids: Sequence[str]) -> dict[str, ExperimentStats]:
        """Trace count, newest trace time and traces with feedback of each experiment, by
        id (an id naming no experiment gets zeros)."""
        found: dict[str, ExperimentStats] = {}
        for experiment_id in experiment_ids:
            try:
                newest = self.search_traces([experiment_id], max_results=1,
                                            include_spans=False)
                overall = self.get_feedback_summary([experiment_id]).overall
            except NotFoundError:
                newest, overall = PagedList([], None), None
            found[experiment_id] = ExperimentStats(
                experiment_id=experiment_id,
                num_traces=overall.num_traces if overall else 0,
                last_trace_time_ms=newest[0].info.request_time if newest else None,
                num_traces_with_feedback=overall.num_traces_with_feedback if overall else 0)
        return found

    def list_assessment_names(self, experiment_id: str,
                              max_results: int = 100) -> list[AssessmentName]:
        """The names of the valid assessments of an experiment, in name order, each with
        its kind (at most ``max_results``). This default reads the newest 1,000 traces."""
        seen: set[AssessmentName] = set()
        traces = self.search_traces([experiment_id], max_results=1000, include_spans=False)
        for trace in traces:
            seen.update(AssessmentName(a.kind, a.name)
                        for a in trace.info.assessments if a.valid)
        by_name: dict[str, AssessmentName] = {}
        for name in sorted(seen):
            by_name.setdefault(name.name, name)
        return sorted(by_name.values(), key=lambda n: n.name)[:max_results]

    def get_span(self, trace_id: str, span_id: str) -> Span:
        """One span of a trace; NotFoundError for an unknown trace or span."""
        for span in self.get_trace(trace_id).data.spans:
            if span.span_id == span_id:
                return span
        raise NotFoundError(f"Span {span_id!r} not found in trace {trace_id!r}")

    def list_span_outlines(self, trace_id: str) -> list[SpanOutline]:
        """The spans of a trace without their payloads (empty for an unknown trace)."""
        try:
            found = self.get_trace(trace_id).data.spans
        except NotFoundError:
            return []
        return [SpanOutline(s.span_id, s.parent_id, s.name, s.span_type,
                            s.status.status_code.value, s.start_time_ns, s.end_time_ns)
                for s in found]

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

    # -- feedback tokens ------------------------------------------------------------------
    @abc.abstractmethod
    def create_feedback_token(self, trace_id: str, names: Sequence[str] | None = None,
                              end_user_id: str | None = None, expires_in: float = 3600) -> str:
        """A signed token that lets an end user's browser give feedback on one trace.

        ``names`` limits the feedback names it allows (None: any); a second vote of the same
        ``end_user_id`` (or, without one, of the same token) replaces the first; it expires
        after ``expires_in`` seconds (at most 30 days). The trace need not be stored yet.
        InvalidParameterError for an argument out of range.
        """

    # -- lifecycle -----------------------------------------------------------------------
    @abc.abstractmethod
    def close(self) -> None:
        """Release connections. The store is not usable afterwards."""

    # -- the traces page: counts, page jumps, recent values ------------------------------
    # Not abstract: these defaults answer through search_traces (reading the traces
    # themselves); the SQL store answers each in one bounded statement.
    def count_traces(self, experiment_ids: Sequence[str], filter_string: str | None = None,
                     max_count: int = 10_000) -> TraceCount:
        """How many traces of the experiments match the filter (as ``search_traces`` reads
        it), counted up to ``max_count`` (1 to 100,000): beyond it, ``capped`` is true and
        ``count`` is ``max_count``. FilterError for a bad filter."""
        experiment_keys(experiment_ids)
        check_max_count(max_count)
        found = self.search_traces(experiment_ids, max_results=max_count + 1,
                                   include_spans=False, filter_string=filter_string)
        return TraceCount(min(len(found), max_count), len(found) > max_count)

    def find_trace_page_token(self, experiment_ids: Sequence[str], offset: int,
                              filter_string: str | None = None,
                              order_by: Sequence[str] | None = None) -> str | None:
        """The ``page_token`` of ``search_traces`` (same experiments, filter and order)
        whose page starts after the first ``offset`` matching traces (1 to 10,000): a jump
        to a page by its number. None when no trace comes after them. FilterError for a bad
        filter or order."""
        experiment_keys(experiment_ids)
        check_trace_offset(offset)
        found = self.search_traces(experiment_ids, max_results=offset, include_spans=False,
                                   filter_string=filter_string, order_by=order_by)
        return found.token if len(found) == offset else None

    def list_recent_ids(self, experiment_id: str, max_results: int = 200) -> RecentIds:
        """The distinct user ids and session ids of the newest 1,000 traces of an
        experiment, the most recently seen first (at most ``max_results`` of each): what
        the filters of the traces page suggest. Empty for an unknown experiment."""
        check_max_results(max_results)
        users: dict[str, None] = {}
        sessions: dict[str, None] = {}
        if parse_experiment_id(experiment_id) is not None:
            try:
                found = self.search_traces([experiment_id], max_results=RECENT_TRACES_SCANNED,
                                           include_spans=False)
            except NotFoundError:
                found = PagedList([], None)
            for trace in found:
                if trace.info.user_id:
                    users.setdefault(trace.info.user_id)
                if trace.info.session_id:
                    sessions.setdefault(trace.info.session_id)
        return RecentIds(list(users)[:max_results], list(sessions)[:max_results])
