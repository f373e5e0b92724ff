"""The Store interface every backend implements (the SQL store now, the REST store later).

Everything above the store (the SDK, the server, the UI) calls these methods and never
writes SQL. Methods named ``get_*`` raise :class:`~assay.errors.NotFoundError`, ``find_*``
return ``None``, ``search_*`` return a :class:`~assay.paging.PagedList`.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence

from assay.entities import Experiment, Trace, TraceInfo
from assay.paging import PagedList

__all__ = ["Store"]


class Store(abc.ABC):
    """Where experiments, traces and spans are kept."""

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
        """The trace with this id; NotFoundError otherwise."""

    @abc.abstractmethod
    def get_trace_info(self, trace_id: str) -> TraceInfo:
        """The header of the trace with this id; NotFoundError otherwise."""

    @abc.abstractmethod
    def search_traces(self, experiment_ids: Sequence[str], max_results: int = 100,
                      page_token: str | None = None,
                      include_spans: bool = True) -> PagedList[Trace]:
        """Traces of these experiments, newest first, a page at a time (keyset cursor)."""

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

    # -- lifecycle -----------------------------------------------------------------------
    @abc.abstractmethod
    def close(self) -> None:
        """Release connections. The store is not usable afterwards."""
