"""Labeling sessions: send traces to domain experts, several reviewers per item if wanted,
and read back their answers, progress and agreement (MLflow's ``mlflow.genai.labeling``,
self-hosted).

::

    session = create_labeling_session(
        name="quickstart_review", label_schemas=["response_accuracy", "expected_response"],
        assigned_users=["ana@example.com", "ben@example.com"], reviewers_per_item=2)
    session.add_traces(assay.search_traces(filter_string="feedback.user_feedback = 'false'"))
    print(session.url)  # the review app's page for this session

A session is a run (``session.mlflow_run_id``): ``assay.search_traces(run_id=...)`` returns
its traces. Reviewers' answers are HUMAN assessments on the traces, with the reviewer as
source id, linked to that run.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from assay import _runtime
from assay.entities import Assessment, Trace
from assay.entities.label_schema import InputNumeric, InputText, InputTextList, LabelInput
from assay.entities.labeling import (
    GoldLabel,
    LabelingSessionInfo,
    RoutingRule,
    SessionProgress,
)
from assay.entities.run import new_run_id
from assay.errors import InvalidParameterError
from assay.ids import is_trace_id
from assay.stats.agreement import (
    Agreement,
    Disagreement,
    Level,
    compute_agreement,
    list_disagreements,
)
from assay.store.base import Store
from assay.store.uri import is_server_uri

if TYPE_CHECKING:
    import pandas

    from assay.genai.datasets import EvaluationDataset

__all__ = [
    "LabelingSession",
    "agreement_by_schema",
    "create_labeling_session",
    "delete_labeling_session",
    "disagreements_by_schema",
    "get_gold_labels",
    "get_labeling_session",
    "get_labeling_sessions",
    "level_of",
]

#: Where ``assay server`` listens by default: a local store's sessions are reviewed there.
LOCAL_SERVER_URL = "http://127.0.0.1:5000"
#: Traces sent to the store per call when adding many.
_BATCH = 5_000


class LabelingSession:
    """A labeling session: its settings, and what reviewers and owners do with it.

    Properties follow MLflow's (``name``, ``assigned_users``, ``label_schemas``,
    ``labeling_session_id``, ``mlflow_run_id``, ``experiment_id``, ``url``), plus
    ``reviewers_per_item`` and ``instructions``.
    """

    def __init__(self, info: LabelingSessionInfo) -> None:
        self._info = info

    def __repr__(self) -> str:
        return (f"LabelingSession(name={self.name!r}, run_id={self.run_id!r}, "
                f"label_schemas={list(self.label_schemas)!r})")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LabelingSession) and other._info == self._info

    def __hash__(self) -> int:
        return hash(self._info)

    # -- what the session is ---------------------------------------------------------------
    @property
    def name(self) -> str:
        return self._info.name

    @property
    def assigned_users(self) -> list[str]:
        return list(self._info.assigned_users)

    @property
    def label_schemas(self) -> list[str]:
        return list(self._info.label_schemas)

    @property
    def run_id(self) -> str:
        return self._info.run_id

    @property
    def mlflow_run_id(self) -> str:
        """The session's run (MLflow's name): ``search_traces(run_id=...)`` finds its
        traces."""
        return self._info.run_id

    @property
    def labeling_session_id(self) -> str:
        return self._info.run_id

    @property
    def experiment_id(self) -> str:
        return self._info.experiment_id

    @property
    def reviewers_per_item(self) -> int:
        return self._info.reviewers_per_item

    @property
    def instructions(self) -> str | None:
        return self._info.instructions

    @property
    def url(self) -> str:
        """The review app's page for this session: on the Assay server the SDK talks to, or,
        with a local store, where ``assay server`` serves that store by default."""
        uri = _runtime.runtime().tracking_uri
        base = uri.rstrip("/") if is_server_uri(uri) else LOCAL_SERVER_URL
        return f"{base}/review/{self.run_id}"

    # -- what an owner does ----------------------------------------------------------------
    def add_traces(self, traces: Any) -> LabelingSession:
        """Add traces to the session (idempotent): a ``search_traces`` DataFrame, Trace
        objects, trace ids, or a filter string run on the session's experiment. Every trace
        must be in the session's experiment. Returns the session."""
        store = _runtime.runtime().readable_store()
        ids = _trace_ids(store, self.experiment_id, traces)
        for start in range(0, len(ids), _BATCH):
            store.add_labeling_items(self.run_id, ids[start:start + _BATCH])
        return self

    def add_dataset(self, dataset_name: str,
                    record_ids: Sequence[str] | None = None) -> LabelingSession:
        """Add the records of the dataset ``dataset_name`` (all, or those of
        ``record_ids``) to the session (idempotent). A record made from a trace of the
        session's experiment brings that trace; any other gets a trace of its own, made
        once: one span with the record's inputs and outputs, and its expectations, which
        reviewers see beside the questions. Returns the session."""
        from assay.genai.datasets import dataset_traces

        ids = dataset_traces(self.experiment_id, dataset_name, record_ids)
        store = _runtime.runtime().readable_store()
        for start in range(0, len(ids), _BATCH):
            store.add_labeling_items(self.run_id, ids[start:start + _BATCH])
        return self

    def remove_traces(self, traces: Any) -> LabelingSession:
        """Remove traces (same forms as :meth:`add_traces`); answers already given stay on
        the traces."""
        store = _runtime.runtime().store()
        ids = _trace_ids(store, self.experiment_id, traces)
        for start in range(0, len(ids), _BATCH):
            store.remove_labeling_items(self.run_id, ids[start:start + _BATCH])
        return self

    def set_assigned_users(self, assigned_users: Sequence[str]) -> LabelingSession:
        """Replace who reviews (an empty list: anyone may). Returns the updated session."""
        info = _runtime.runtime().store().set_labeling_reviewers(self.run_id,
                                                                 list(assigned_users))
        self._info = info
        return self

    def progress(self) -> SessionProgress:
        """Items in all and done, reviews given, and each reviewer's counts."""
        return _runtime.runtime().store().get_labeling_progress(self.run_id)

    def answers(self) -> dict[str, dict[str, dict[str, Any]]]:
        """The reviewers' current answers: schema name → trace id → reviewer → value."""
        return _runtime.runtime().store().get_labeling_answers(self.run_id)

    def agreement(self) -> dict[str, Agreement]:
        """How far the reviewers agree, per question (keyed by schema name): ``n_items``
        (items with two answers or more), ``percent_agreement``, ``cohen_kappa`` (exactly
        two reviewers), ``fleiss_kappa``, ``krippendorff_alpha`` (nominal for categorical
        and pass/fail, interval for numeric), and for pass/fail ``positive_agreement`` and
        ``negative_agreement``. Text questions are counted, not measured
        (``excluded_reason`` says so)."""
        return agreement_by_schema(self.answers(), self._levels())

    def disagreements(self) -> dict[str, list[Disagreement[str, str]]]:
        """Per question, the items whose reviewers answered differently, with each answer
        (text questions included) and, once an adjudicator settled one, the value they set
        (``adjudicated``; None until then)."""
        store = _runtime.runtime().store()
        return disagreements_by_schema(store.get_labeling_answers(self.run_id),
                                       store.get_labeling_gold(self.run_id))

    # -- gold labels -----------------------------------------------------------------------
    def adjudicate(self, trace_id: str, schema_name: str, value: Any, *,
                   adjudicator: str | None = None) -> GoldLabel | None:
        """Set the final value of an item for one question: it becomes the item's gold
        label whatever the reviewers answered. ``value`` is checked against the schema;
        adjudicating again replaces it, and ``value=None`` clears the adjudication (the gold
        label is then the reviewers' agreed answer again, if any). ``adjudicator``: who
        decided (on a server, default: the caller). Returns the item's gold label for that
        question afterwards, or None when it has none.

        Raises:
            NotFoundError: the trace is not an item of the session (or the session is gone).
            InvalidParameterError: the session does not ask ``schema_name``, or its schema
                refuses ``value``.
        """
        return _runtime.runtime().store().adjudicate_labeling_item(
            self.run_id, trace_id, schema_name, value, adjudicator)

    def gold_labels(self) -> dict[str, dict[str, Any]]:
        """The session's gold labels: schema name → trace id → value. An item's gold label
        for a question is the adjudicated value, else the answer every reviewer gave once
        ``reviewers_per_item`` of them completed it (the single answer, with one reviewer
        per item); items without one are left out."""
        found = _runtime.runtime().store().get_labeling_gold(self.run_id)
        return {name: {trace_id: label.value for trace_id, label in by_item.items()}
                for name, by_item in found.items()}

    def _levels(self) -> dict[str, Level]:
        store = _runtime.runtime().store()
        return {name: level_of(store.get_label_schema(experiment_id=self.experiment_id,
                                                      name=name).input)
                for name in self.label_schemas}

    # -- routing rules ---------------------------------------------------------------------
    def add_routing_rule(self, filter_string: str, sample_rate: float = 1.0) -> RoutingRule:
        """Route traces into this session as they arrive: from now on, a trace of the
        session's experiment that matches ``filter_string`` (the language of
        ``search_traces``) when it, an assessment on it or one of its tags is written is
        added to the session, at most once per rule (one removed by hand is not added
        again by the same rule). With ``sample_rate`` below 1, only that share of the
        matching traces, chosen by a hash of rule and trace, so the same ones every time.
        Examples: ``"feedback.user_feedback = 'false'"``, or ``"tags.env = 'production'"``
        with ``sample_rate=0.2``. A filter that does not parse is refused with its error."""
        return _runtime.runtime().store().create_routing_rule(self.run_id, filter_string,
                                                              sample_rate)

    def routing_rules(self) -> list[RoutingRule]:
        """The session's routing rules, oldest first, each with its ``hit_count`` (traces
        it routed)."""
        return _runtime.runtime().store().list_routing_rules(self.run_id)

    def delete_routing_rule(self, rule_id: str | RoutingRule) -> None:
        """Delete a routing rule (or the rule with this id); the traces it routed stay."""
        rule = rule_id.rule_id if isinstance(rule_id, RoutingRule) else rule_id
        _runtime.runtime().store().delete_routing_rule(self.run_id, rule)

    # -- what a reviewer does --------------------------------------------------------------
    def next_item(self, reviewer: str) -> str | None:
        """Claim the next item for ``reviewer`` and return its trace id (the item they
        already hold, if any); None when nothing is left for them. An item is never handed
        to more reviewers than ``reviewers_per_item``; an abandoned claim expires."""
        return _runtime.runtime().store().next_labeling_item(self.run_id, reviewer)

    def submit(self, trace_id: str, reviewer: str, answers: Mapping[str, Any],
               comment: str | None = None, *,
               comments: Mapping[str, str | None] | None = None) -> list[Assessment]:
        """Record ``reviewer``'s answers to an item ({schema name: value}), each checked
        against its schema, as HUMAN assessments on the trace; answering again overrides
        their earlier answer. Returns the assessments written.

        Each answer's rationale is its comment in ``comments`` ({schema name: comment},
        e.g. why an answer is "Inaccurate"), else ``comment``, one for every answer."""
        return _runtime.runtime().store().submit_labeling_answers(
            self.run_id, trace_id, reviewer, dict(answers) if isinstance(answers, Mapping)
            else answers, comment, comments=comments)

    def skip(self, trace_id: str, reviewer: str) -> None:
        """``reviewer`` passes on an item; it goes to someone else."""
        _runtime.runtime().store().skip_labeling_item(self.run_id, trace_id, reviewer)

    # -- building a dataset ----------------------------------------------------------------
    def sync(self, to_dataset: str) -> EvaluationDataset:
        """Add the session's items to the dataset named ``to_dataset`` (created in the
        session's experiment when missing), each with the reviewers' expectations: per
        question, the value every reviewer gave, else the latest answer. An item already in
        the dataset is merged. Returns the dataset, at its new version."""
        from assay.genai.datasets import sync_labeling_session

        return sync_labeling_session(self.run_id, self.experiment_id, self.label_schemas,
                                     to_dataset)


def create_labeling_session(name: str, *, assigned_users: Sequence[str] | None = None,
                            label_schemas: Sequence[str] | None = None,
                            reviewers_per_item: int = 1, instructions: str | None = None,
                            agent: str | None = None, enable_multi_turn_chat: bool = False,
                            custom_inputs: Mapping[str, Any] | None = None,
                            experiment_id: str | None = None) -> LabelingSession:
    """Create a labeling session in the active experiment (or ``experiment_id``).

    Args:
        name: shown to reviewers.
        assigned_users: who reviews (names or e-mails); None or empty: anyone may.
        label_schemas: the names of the questions, in the order they are asked; each must
            exist in the experiment (see ``create_label_schema``).
        reviewers_per_item: how many reviewers answer each item (at most the number
            assigned).
        instructions: shown to reviewers at the top of the session.
        agent, enable_multi_turn_chat, custom_inputs: MLflow parameters for Databricks'
            live chat; Assay accepts only their defaults.
    """
    if agent is not None or enable_multi_turn_chat or custom_inputs:
        raise InvalidParameterError(
            "agent, enable_multi_turn_chat and custom_inputs (live chat with a deployed "
            "agent) are not supported by Assay; leave them unset")
    rt = _runtime.runtime()
    info = LabelingSessionInfo(
        run_id=new_run_id(),
        experiment_id=str(experiment_id) if experiment_id is not None
        else rt.active_experiment_id(),
        name=name, label_schemas=tuple(label_schemas or ()),
        assigned_users=tuple(assigned_users or ()), reviewers_per_item=reviewers_per_item,
        instructions=instructions)
    return LabelingSession(rt.store().create_labeling_session(info))


def get_labeling_sessions(experiment_id: str | None = None) -> list[LabelingSession]:
    """The sessions of the active experiment (or ``experiment_id``), newest first."""
    rt = _runtime.runtime()
    experiment = str(experiment_id) if experiment_id is not None else rt.active_experiment_id()
    return [LabelingSession(info)
            for info in rt.store().list_labeling_sessions([experiment])]


def get_labeling_session(run_id: str) -> LabelingSession:
    """The session whose run has this id; NotFoundError otherwise."""
    return LabelingSession(_runtime.runtime().store().get_labeling_session(run_id))


def delete_labeling_session(session: LabelingSession | str) -> None:
    """Delete a session (or the session with this run id); the answers stay on the traces."""
    run_id = session.run_id if isinstance(session, LabelingSession) else session
    _runtime.runtime().store().delete_labeling_session(run_id)


def get_gold_labels(trace_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The gold labels of traces, as evaluation reads them for expectations: trace id →
    schema name → value. A trace reviewed in several sessions takes each name's value from
    the newest session (the one created last) that has a gold label for it; traces without
    any are left out. At most 10,000 ids a call."""
    return _runtime.runtime().store().get_gold_labels(list(trace_ids))


def level_of(label_input: LabelInput) -> Level:
    """The level at which a schema's answers are compared: interval for numbers, text for
    free text (counted, not measured), nominal for the rest."""
    return ("interval" if isinstance(label_input, InputNumeric) else
            "text" if isinstance(label_input, (InputText, InputTextList)) else "nominal")


def agreement_by_schema(answers: Mapping[str, Mapping[str, Mapping[str, Any]]],
                        levels: Mapping[str, Level]) -> dict[str, Agreement]:
    """The agreement per question of a session's answers (schema name → trace id → reviewer
    → value, as ``get_labeling_answers`` returns them) at each question's level (nominal
    when ``levels`` does not name it). What :meth:`LabelingSession.agreement` returns; the
    web UI's session page shows the same figures."""
    return {name: compute_agreement(_hashable(by_item), levels.get(name, "nominal"))
            for name, by_item in answers.items()}


def disagreements_by_schema(answers: Mapping[str, Mapping[str, Mapping[str, Any]]],
                            gold: Mapping[str, Mapping[str, GoldLabel]]
                            ) -> dict[str, list[Disagreement[str, str]]]:
    """Per question, the items whose reviewers answered differently, each with its
    adjudicated value when an adjudicator set one (what
    :meth:`LabelingSession.disagreements` returns)."""
    found: dict[str, list[Disagreement[str, str]]] = {}
    for name, by_item in answers.items():
        settled = gold.get(name, {})
        found[name] = [
            d._replace(adjudicated=settled[d.item_id].value)
            if d.item_id in settled and settled[d.item_id].adjudicated else d
            for d in list_disagreements(_hashable(by_item))]
    return found


def _hashable(by_item: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Hashable]]:
    # A multi-select answer (a list) is one category: its set of options.
    return {item: {reviewer: frozenset(value) if isinstance(value, list) else value
                   for reviewer, value in answers.items()}
            for item, answers in by_item.items()}


def _trace_ids(store: Store, experiment_id: str, traces: Any) -> list[str]:
    """Trace ids from what add_traces accepts (see there)."""
    if traces is None:
        raise InvalidParameterError(
            "Invalid traces: None; pass a search_traces DataFrame, Traces, trace ids or a "
            "filter string")
    if isinstance(traces, str):
        if is_trace_id(traces):
            return [traces]
        return _ids_of_filter(store, experiment_id, traces)
    if isinstance(traces, Trace):
        return [traces.info.trace_id]
    if _is_dataframe(traces):
        return _ids_of_dataframe(traces)
    if isinstance(traces, Iterable) and not isinstance(traces, (bytes, Mapping)):
        ids: list[str] = []
        for item in traces:
            if isinstance(item, Trace):
                ids.append(item.info.trace_id)
            elif isinstance(item, str):
                ids.append(item)
            else:
                raise InvalidParameterError(
                    f"Invalid traces item {item!r}: expected a Trace or a trace id")
        return list(dict.fromkeys(ids))
    raise InvalidParameterError(
        f"Invalid traces: a {type(traces).__name__}; pass a search_traces DataFrame, Traces, "
        "trace ids or a filter string")


def _ids_of_filter(store: Store, experiment_id: str, filter_string: str) -> list[str]:
    ids: list[str] = []
    token: str | None = None
    while True:
        page = store.search_traces([experiment_id], max_results=1000, page_token=token,
                                   include_spans=False, filter_string=filter_string)
        ids.extend(trace.info.trace_id for trace in page)
        token = page.token
        if token is None:
            return ids


def _is_dataframe(value: object) -> bool:
    return type(value).__name__ == "DataFrame" and hasattr(value, "columns")


def _ids_of_dataframe(frame: pandas.DataFrame) -> list[str]:
    if "trace_id" in frame.columns:
        return list(dict.fromkeys(str(value) for value in frame["trace_id"]))
    if "trace" in frame.columns:
        ids = []
        for value in frame["trace"]:
            if isinstance(value, Trace):
                ids.append(value.info.trace_id)
            else:
                raise InvalidParameterError(
                    f"Invalid traces: the 'trace' column holds a {type(value).__name__}, "
                    "not a Trace")
        return list(dict.fromkeys(ids))
    raise InvalidParameterError(
        "Invalid traces: the DataFrame has neither a 'trace_id' nor a 'trace' column (pass "
        "what search_traces returns)")
