"""What every store does for expert review: runs, label schemas and labeling sessions.

:class:`~assay.store.base.Store` inherits these; they are kept here so the store's own
interface stays about traces and assessments. Both stores implement every method, with the
same results and errors: the SQL store in one transaction each (``sql/runs.py``,
``sql/label_schemas.py``, ``sql/labeling.py``), the REST store through
``/api/v1/label-schemas``, ``/api/v1/runs`` and ``/api/v1/labeling-sessions``.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from typing import Any

from assay.entities import Assessment, Trace
from assay.entities.label_schema import LabelInput, LabelSchema
from assay.entities.labeling import LabelingSessionInfo, SessionProgress
from assay.entities.run import Run
from assay.paging import PagedList

__all__ = ["Labeling"]


class Labeling(abc.ABC):
    """Runs, label schemas and labeling sessions (see the module docstring)."""

    # -- runs ------------------------------------------------------------------------------
    @abc.abstractmethod
    def get_run(self, run_id: str) -> Run:
        """The run with this id; NotFoundError otherwise."""

    @abc.abstractmethod
    def search_runs(self, experiment_ids: Sequence[str], max_results: int = 1000,
                    page_token: str | None = None, filter_string: str | None = None,
                    order_by: Sequence[str] | None = None) -> PagedList[Run]:
        """Runs (labeling sessions and evaluations) of these experiments that match a
        filter in MLflow's runs grammar (:mod:`assay.search.runs`), a page at a time.

        The order is ``order_by`` (default newest first) then ``start_time DESC, run_id
        ASC``; ``.token`` is the next page's cursor, valid for the same arguments.
        FilterError for a bad filter or order.
        """

    # -- label schemas ---------------------------------------------------------------------
    @abc.abstractmethod
    def create_label_schema(self, schema: LabelSchema, *, overwrite: bool = False,
                            created_by: str | None = None) -> LabelSchema:
        """Store a schema in ``schema.experiment_id`` and return it with its id and times.
        A schema of the same name there is replaced with ``overwrite`` (keeping its id),
        else AlreadyExistsError naming it."""

    @abc.abstractmethod
    def get_label_schema(self, *, schema_id: str | None = None,
                         experiment_id: str | None = None,
                         name: str | None = None) -> LabelSchema:
        """The schema with this id, or with this name in this experiment; NotFoundError
        naming it otherwise."""

    @abc.abstractmethod
    def list_label_schemas(self, experiment_id: str, max_results: int = 100,
                           page_token: str | None = None) -> PagedList[LabelSchema]:
        """The experiment's schemas, oldest first, a page at a time."""

    @abc.abstractmethod
    def update_label_schema(self, schema_id: str, *, name: str | None = None,
                            title: str | None = None, instruction: str | None = None,
                            enable_comment: bool | None = None,
                            input: LabelInput | None = None) -> LabelSchema:
        """Change the given fields; the type and the input's kind cannot change."""

    @abc.abstractmethod
    def delete_label_schema(self, schema_id: str) -> None:
        """Delete a schema; the answers it collected stay on their traces."""

    # -- labeling sessions -----------------------------------------------------------------
    @abc.abstractmethod
    def create_labeling_session(self, info: LabelingSessionInfo) -> LabelingSessionInfo:
        """Store a session and its run (``info.run_id``); every schema it names must exist
        in its experiment."""

    @abc.abstractmethod
    def get_labeling_session(self, run_id: str) -> LabelingSessionInfo:
        """The session whose run has this id; NotFoundError otherwise."""

    @abc.abstractmethod
    def list_labeling_sessions(self, experiment_ids: Sequence[str],
                               reviewer: str | None = None) -> list[LabelingSessionInfo]:
        """The experiments' sessions, newest first; with ``reviewer``, those open to them."""

    @abc.abstractmethod
    def delete_labeling_session(self, run_id: str) -> None:
        """Delete a session, its run and its reviewers' states; answers stay on the traces."""

    @abc.abstractmethod
    def set_labeling_reviewers(self, run_id: str,
                               users: Sequence[str]) -> LabelingSessionInfo:
        """Replace who is assigned (empty: anyone may review)."""

    @abc.abstractmethod
    def add_labeling_items(self, run_id: str, trace_ids: Sequence[str]) -> list[str]:
        """Add traces (at most 10,000 a call; each in the session's experiment) and return
        the ids newly added. All or nothing."""

    @abc.abstractmethod
    def remove_labeling_items(self, run_id: str, trace_ids: Sequence[str]) -> list[str]:
        """Remove traces and return the ids that were items; answers stay on the traces."""

    @abc.abstractmethod
    def get_labeling_item(self, run_id: str, trace_id: str) -> Trace:
        """An item's trace, with spans and assessments; NotFoundError if the trace is not
        an item of the session."""

    @abc.abstractmethod
    def next_labeling_item(self, run_id: str, reviewer: str) -> str | None:
        """Claim ``reviewer``'s next item and return its trace id (the one they hold, else
        the oldest still needing reviewers); None when none is left for them.
        PermissionDeniedError for a reviewer not assigned."""

    @abc.abstractmethod
    def submit_labeling_answers(self, run_id: str, trace_id: str, reviewer: str,
                                answers: Mapping[str, Any],
                                comment: str | None = None) -> list[Assessment]:
        """Write a reviewer's answers ({schema name: value}, each checked against its
        schema) as HUMAN assessments linked to the session's run, and mark the item
        completed by them; answering again overrides. All or nothing."""

    @abc.abstractmethod
    def skip_labeling_item(self, run_id: str, trace_id: str, reviewer: str) -> None:
        """``reviewer`` passes on an item (not one they completed)."""

    @abc.abstractmethod
    def get_labeling_progress(self, run_id: str) -> SessionProgress:
        """Items in all and done, reviews given, and each reviewer's counts."""

    @abc.abstractmethod
    def get_labeling_answers(self, run_id: str) -> dict[str, dict[str, dict[str, Any]]]:
        """The reviewers' current answers: schema name → trace id → reviewer → value."""
