"""What every store does for expert review: runs, label schemas, labeling sessions and review
queues.

:class:`~assay.store.base.Store` inherits these; they are kept here so the store's own
interface stays about traces and assessments. Both stores implement every method, with the
same results and errors: the SQL store in one transaction each (``sql/runs.py``,
``sql/label_schemas.py``, ``sql/labeling.py``), the REST store through
``/api/v1/label-schemas``, ``/api/v1/runs``, ``/api/v1/labeling-sessions`` and
``/api/v1/review-queues``. A review queue is a labeling session (``sql/review_queues.py``).
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from typing import Any

from assay.entities import Assessment, Trace
from assay.entities.label_schema import LabelInput, LabelSchema
from assay.entities.labeling import (
    GoldLabel,
    LabelingSessionInfo,
    RoutingRule,
    SessionProgress,
)
from assay.entities.review_queue import ReviewQueue, ReviewQueueItem
from assay.entities.run import Run, RunData, RunInfo, RunStatus
from assay.paging import PagedList

__all__ = ["Labeling"]


class Labeling(abc.ABC):
    """Runs, label schemas and labeling sessions (see the module docstring)."""

    # -- runs ------------------------------------------------------------------------------
    @abc.abstractmethod
    def get_run(self, run_id: str) -> Run:
        """The run with this id; NotFoundError otherwise."""

    @abc.abstractmethod
    def create_run(self, info: RunInfo, data: RunData | None = None) -> Run:
        """Store a new run in ``info.experiment_id`` (an evaluation's, say) and return it.
        Storing the same run again returns it (a retry is harmless)."""

    @abc.abstractmethod
    def update_run(self, run_id: str, *, status: RunStatus | None = None,
                   end_time: int | None = None, metrics: Mapping[str, float] | None = None,
                   params: Mapping[str, str] | None = None,
                   tags: Mapping[str, str] | None = None) -> Run:
        """Set the status and end time given, and add metrics, params and tags (a key given
        again is replaced)."""

    @abc.abstractmethod
    def link_run_traces(self, run_id: str, trace_ids: Sequence[str]) -> list[str]:
        """Link traces of the run's experiment to it (at most 10,000 a call; idempotent)
        and return the ids newly linked. All or nothing."""

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
        """Change the given fields (the type cannot change). An edit that would leave
        answers invalid (current answers and adjudications of the schema's name in its
        experiment), or renames a schema answers or sessions use, is refused with an
        InvalidParameterError naming the field, the schema and how many answers."""

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
                                comment: str | None = None, *,
                                comments: Mapping[str, str | None] | None = None,
                                ) -> list[Assessment]:
        """Write a reviewer's answers ({schema name: value}, each checked against its
        schema) as HUMAN assessments linked to the session's run, and mark the item
        completed by them; answering again overrides. All or nothing.

        Each answer's rationale is its own comment in ``comments`` ({schema name:
        comment}, only names answered), else ``comment`` (one for every answer)."""

    @abc.abstractmethod
    def skip_labeling_item(self, run_id: str, trace_id: str, reviewer: str) -> None:
        """``reviewer`` passes on an item (not one they completed)."""

    @abc.abstractmethod
    def get_labeling_progress(self, run_id: str) -> SessionProgress:
        """Items in all and done, reviews given, and each reviewer's counts."""

    @abc.abstractmethod
    def get_labeling_answers(self, run_id: str) -> dict[str, dict[str, dict[str, Any]]]:
        """The reviewers' current answers: schema name → trace id → reviewer → value."""

    def get_labeling_answers_version(self, run_id: str) -> int | None:
        """A number that changes with every write that can change the session's answers,
        adjudications or items (with its progress's counts, which changes with the rest), so
        that what is computed from all the answers can be kept until it moves; None when
        the store does not keep one (then nothing may be kept)."""
        return None

    # -- gold labels -----------------------------------------------------------------------
    @abc.abstractmethod
    def adjudicate_labeling_item(self, run_id: str, trace_id: str, schema_name: str,
                                 value: Any, adjudicator: str | None = None
                                 ) -> GoldLabel | None:
        """Set the final value of an item for one of the session's questions, checked
        against its schema (adjudicating again replaces it); ``value=None`` clears the
        adjudication. Returns the item's gold label for that question afterwards (None:
        none). NotFoundError for a trace that is not an item; InvalidParameterError for a
        question the session does not ask or a value its schema refuses."""

    @abc.abstractmethod
    def get_labeling_gold(self, run_id: str) -> dict[str, dict[str, GoldLabel]]:
        """A session's gold labels: schema name → trace id → gold label (only the items
        that have one)."""

    @abc.abstractmethod
    def get_gold_labels(self, trace_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The gold labels of traces (at most 10,000 ids a call): trace id → schema name →
        value. For a trace in several sessions each name's value comes from the newest
        session (created last) that has one. Traces without any are left out."""

    # -- routing rules ---------------------------------------------------------------------
    @abc.abstractmethod
    def create_routing_rule(self, run_id: str, filter_string: str, sample_rate: float = 1.0,
                            created_by: str | None = None) -> RoutingRule:
        """Add a routing rule to a session: from now on, traces of its experiment that match
        ``filter_string`` when they, their assessments or their tags are written are added
        to the session, each once (a ``sample_rate`` share of them, chosen by a hash of rule
        and trace). A filter that does not compile is refused with its FilterError."""

    @abc.abstractmethod
    def list_routing_rules(self, run_id: str) -> list[RoutingRule]:
        """A session's routing rules, oldest first, with their hit counts."""

    @abc.abstractmethod
    def delete_routing_rule(self, run_id: str, rule_id: str) -> None:
        """Delete a routing rule; the traces it routed stay in the session. NotFoundError
        if the session has no such rule."""

    # -- a trace's sessions ----------------------------------------------------------------
    @abc.abstractmethod
    def list_trace_labeling_sessions(self, trace_ids: Sequence[str]) -> dict[str, list[str]]:
        """The labeling sessions that hold these traces as items (at most 10,000 ids a
        call): trace id → the sessions' run ids, the newest session first. Traces in no
        session are left out."""

    # -- review queues (MLflow's mlflow.genai.review_queues) -------------------------------
    @abc.abstractmethod
    def create_review_queue(self, experiment_id: str, *, name: str, queue_type: str,
                            users: Sequence[str] | None = None,
                            schema_ids: Sequence[str] | None = None,
                            created_by: str | None = None) -> ReviewQueue:
        """Create a queue (a labeling session with one reviewer per item). A ``user`` queue
        is named after its one user and names no schemas; a ``custom`` queue may not be
        named ``default`` and its schemas must be in the experiment. AlreadyExistsError when
        the experiment has a queue of that name in any case."""

    @abc.abstractmethod
    def get_or_create_user_queue(self, experiment_id: str, *, user: str) -> ReviewQueue:
        """The user's own queue in the experiment, created if it has none."""

    @abc.abstractmethod
    def get_review_queue(self, queue_id: str) -> ReviewQueue:
        """The queue with this id (``rq-…``); NotFoundError otherwise."""

    @abc.abstractmethod
    def get_review_queue_by_name(self, experiment_id: str, name: str) -> ReviewQueue:
        """The experiment's queue of this name, in any case; NotFoundError otherwise."""

    @abc.abstractmethod
    def list_review_queues(self, experiment_id: str, *, user: str | None = None,
                           item_id: str | None = None, max_results: int = 100,
                           page_token: str | None = None) -> PagedList[ReviewQueue]:
        """The experiment's queues, newest first, a page at a time (at most 1,000); with
        ``user``, those assigned to them; with ``item_id``, those holding that trace."""

    @abc.abstractmethod
    def update_review_queue(self, queue_id: str, *, name: str | None = None,
                            new_owner: str | None = None, users: Sequence[str] | None = None,
                            schema_ids: Sequence[str] | None = None) -> ReviewQueue:
        """Change a custom queue's name, owner, users or questions (None leaves one as it
        is; an empty list clears it). A user queue is fixed; a queue's questions are
        locked once it has items."""

    @abc.abstractmethod
    def delete_review_queue(self, queue_id: str) -> None:
        """Delete a queue and its session; nothing happens for a queue that does not
        exist. The answers stay on the traces."""

    @abc.abstractmethod
    def add_items_to_review_queue(self, queue_id: str,
                                  item_ids: Sequence[str]) -> list[ReviewQueueItem]:
        """Add traces of the queue's experiment as pending items (one already there keeps
        its status) and return every item asked for, in the order asked. All or
        nothing."""

    @abc.abstractmethod
    def remove_items_from_review_queue(self, queue_id: str, item_ids: Sequence[str]) -> None:
        """Remove items; traces that are not items are ignored."""

    @abc.abstractmethod
    def list_review_queue_items(self, queue_id: str, *, status: str | None = None,
                                max_results: int = 100,
                                page_token: str | None = None) -> PagedList[ReviewQueueItem]:
        """A queue's items, the last added first, a page at a time (at most 1,000); with
        ``status``, only those in it."""

    @abc.abstractmethod
    def set_review_queue_item_status(self, queue_id: str, *, item_id: str, status: str,
                                     completed_by: str | None = None) -> ReviewQueueItem:
        """Set an item's status: ``complete`` or ``declined`` by ``completed_by``
        (required), or ``pending`` again (``completed_by`` refused). Setting the status an
        item has changes nothing."""
